//! Path resolution for the stack file: relative paths resolve against the
//! directory of the stack file, never the working directory.

use std::path::{Component, Path, PathBuf};

/// Joins `path` to `base` unless it is absolute, then removes `.` and
/// resolves `..` lexically (without reading the file system, so a path that
/// does not exist yet resolves too).
pub fn resolve(base: &Path, path: &str) -> PathBuf {
    normalize(&base.join(path))
}

/// Removes `.` components and resolves `..` lexically.
pub fn normalize(path: &Path) -> PathBuf {
    let mut normalized = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                if !normalized.pop() {
                    normalized.push("..");
                }
            }
            other => normalized.push(other.as_os_str()),
        }
    }
    normalized
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_relative_against_base() {
        let base = Path::new("/repo");
        assert_eq!(resolve(base, "."), PathBuf::from("/repo"));
        assert_eq!(
            resolve(base, "etl/Dockerfile"),
            PathBuf::from("/repo/etl/Dockerfile")
        );
        assert_eq!(resolve(base, "./a/../b"), PathBuf::from("/repo/b"));
        assert_eq!(resolve(base, "../other"), PathBuf::from("/other"));
    }

    #[test]
    fn resolve_keeps_absolute() {
        assert_eq!(
            resolve(Path::new("/repo"), "/srv/x"),
            PathBuf::from("/srv/x")
        );
    }
}
