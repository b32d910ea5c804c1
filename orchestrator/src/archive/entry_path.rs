//! Rules for entry names and link targets: every path must stay inside the
//! directory the archive is extracted into.
//!
//! Paths are checked lexically, on the bytes of the tar header, so the
//! verdict does not depend on the file system of the machine that checks.
//! Symbolic links are the one case where a lexical check is not enough (a
//! link to `.` makes `link/x/../..` escape while it looks harmless), so the
//! scanner also rejects any entry whose path passes through a link.

use super::ArchiveError;

/// Normalizes a tar entry name to `a/b/c` form: drops `.` components,
/// repeated and trailing slashes. Rejects what could escape the extraction
/// directory or name nothing.
pub fn normalize_entry(raw: &[u8]) -> Result<String, ArchiveError> {
    let text = entry_text(raw)?;
    let unsafe_path = |reason| ArchiveError::UnsafePath {
        entry: text.to_owned(),
        reason,
    };

    if text.starts_with('/') {
        return Err(unsafe_path("absolute paths are not allowed"));
    }
    let mut parts = Vec::new();
    for component in text.split('/') {
        match component {
            "" | "." => {}
            ".." => return Err(unsafe_path("`..` components are not allowed")),
            other => parts.push(other),
        }
    }
    if parts.is_empty() {
        return Err(unsafe_path("the path names no file"));
    }
    Ok(parts.join("/"))
}

/// Resolves a symbolic link's target against the directory that contains
/// the link, returning the archive path it points to, or `""` for the root.
pub fn resolve_symlink(entry: &str, raw_target: &[u8]) -> Result<String, ArchiveError> {
    let target = entry_text(raw_target)?;
    let unsafe_link = |reason| ArchiveError::UnsafeLink {
        entry: entry.to_owned(),
        target: target.to_owned(),
        reason,
    };

    if target.starts_with('/') {
        return Err(unsafe_link("absolute link targets are not allowed"));
    }
    let mut parts: Vec<&str> = entry.split('/').collect();
    parts.pop();
    for component in target.split('/') {
        match component {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(unsafe_link("the target is outside the archive"));
                }
            }
            other => parts.push(other),
        }
    }
    Ok(parts.join("/"))
}

/// Resolves a hard link's target, which tar stores relative to the archive
/// root rather than to the link's directory.
pub fn resolve_hardlink(entry: &str, raw_target: &[u8]) -> Result<String, ArchiveError> {
    normalize_entry(raw_target).map_err(|_| ArchiveError::UnsafeLink {
        entry: entry.to_owned(),
        target: String::from_utf8_lossy(raw_target).into_owned(),
        reason: "hard link targets must be relative paths without `..` inside the archive",
    })
}

fn entry_text(raw: &[u8]) -> Result<&str, ArchiveError> {
    std::str::from_utf8(raw).map_err(|_| ArchiveError::UnsafePath {
        entry: String::from_utf8_lossy(raw).into_owned(),
        reason: "the path is not valid UTF-8",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_accepts_docker_names() {
        assert_eq!(normalize_entry(b"manifest.json").unwrap(), "manifest.json");
        assert_eq!(
            normalize_entry(b"./blobs/sha256/ab").unwrap(),
            "blobs/sha256/ab"
        );
        assert_eq!(normalize_entry(b"abc/").unwrap(), "abc");
        assert_eq!(normalize_entry(b"a//b/./c").unwrap(), "a/b/c");
    }

    #[test]
    fn normalize_rejects_escapes() {
        for raw in [
            &b"/etc/passwd"[..],
            b"../x",
            b"a/../../x",
            b"a/..",
            b"..",
            b".",
            b"./",
            b"",
            b"\xff\xfe",
        ] {
            assert!(
                normalize_entry(raw).is_err(),
                "{:?} should be rejected",
                String::from_utf8_lossy(raw)
            );
        }
    }

    #[test]
    fn symlink_resolves_against_parent() {
        // `docker save` (Engine 20.10) links a layer shared by two images this way.
        assert_eq!(
            resolve_symlink("b/layer.tar", b"../a/layer.tar").unwrap(),
            "a/layer.tar"
        );
        assert_eq!(resolve_symlink("top", b"sub/file").unwrap(), "sub/file");
        assert_eq!(resolve_symlink("a/b", b"..").unwrap(), "");
    }

    #[test]
    fn symlink_rejects_escapes() {
        assert!(resolve_symlink("top", b"..").is_err());
        assert!(resolve_symlink("a/b", b"../../x").is_err());
        assert!(resolve_symlink("a", b"/etc/passwd").is_err());
        assert!(resolve_symlink("a", b"x/../../..").is_err());
    }

    #[test]
    fn hardlink_rejects_escapes() {
        assert_eq!(resolve_hardlink("b", b"./a").unwrap(), "a");
        assert!(resolve_hardlink("b", b"../a").is_err());
        assert!(resolve_hardlink("b", b"/a").is_err());
    }
}
