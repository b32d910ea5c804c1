//! Staging directories that earlier versions of `orchestrator import` put
//! into the model volume, the output directory of `etl install`.
//!
//! Those versions uploaded a restore's files to `.restore-<pid>-<nanos>`
//! in the volume and let the install remove it, so an install that failed,
//! timed out or was killed left the directory behind. Restores now stage
//! outside the volume; each install sweeps what older ones left.

use std::fs;
use std::path::Path;

use tracing::{info, warn};

const PREFIX: &str = ".restore-";
/// Digits of the nanosecond part of a staging name.
const NANOS_DIGITS: usize = 9;

/// Removes the staging directories of earlier restores from `dir`. Only
/// directories named `.restore-<digits>-<9 digits>` are removed. One that
/// cannot be removed is logged and left, because it does not stop an
/// install.
pub fn remove_stale_staging(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let is_dir = entry.file_type().is_ok_and(|kind| kind.is_dir());
        if !is_dir || !file_name.to_str().is_some_and(is_restore_staging) {
            continue;
        }
        let path = entry.path();
        match fs::remove_dir_all(&path) {
            Ok(()) => info!(path = %path.display(), "removed a stale restore staging directory"),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => {
                warn!(path = %path.display(), %error, "failed to remove a stale restore staging directory")
            }
        }
    }
}

/// Tells whether `name` is a staging directory name of `orchestrator import`.
fn is_restore_staging(name: &str) -> bool {
    let all_digits = |text: &str| !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    name.strip_prefix(PREFIX)
        .and_then(|rest| rest.split_once('-'))
        .is_some_and(|(pid, nanos)| {
            all_digits(pid) && nanos.len() == NANOS_DIGITS && all_digits(nanos)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staging_names() {
        // The form earlier orchestrators wrote: process ID, then the
        // sub-second nanoseconds padded to nine digits.
        assert!(is_restore_staging(".restore-4242-000001234"));
        assert!(!is_restore_staging(".restore-4242-1234"));
        assert!(!is_restore_staging(".restore--000001234"));
        assert!(!is_restore_staging(".restore-42a-000001234"));
        assert!(!is_restore_staging("restore-4242-000001234"));
        assert!(!is_restore_staging(".restore-4242-000001234-x"));
        assert!(!is_restore_staging("model.json"));
    }

    #[test]
    fn sweep_removes_only_staging_directories() {
        let dir = tempfile::tempdir().unwrap();
        let stale = dir.path().join(".restore-17-123456789");
        fs::create_dir_all(stale.join("nested")).unwrap();
        fs::write(stale.join("model.json"), "{}").unwrap();
        fs::write(dir.path().join("model.json"), "kept").unwrap();
        fs::write(dir.path().join(".restore-18-123456789"), "a file").unwrap();
        fs::create_dir(dir.path().join(".restore-other")).unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join(".restore-19-123456789"))
            .unwrap();

        remove_stale_staging(dir.path());

        let mut left: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                ".restore-18-123456789",
                ".restore-19-123456789",
                ".restore-other",
                "model.json"
            ]
        );
        assert!(outside.path().exists(), "a link is not followed");
    }

    #[test]
    fn sweep_of_missing_directory_does_nothing() {
        let dir = tempfile::tempdir().unwrap();
        remove_stale_staging(&dir.path().join("absent"));
    }
}
