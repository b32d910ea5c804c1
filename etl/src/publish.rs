//! Atomic publishing of the model files, and the install of an exported
//! model.
//!
//! A file is written to a temporary file in the destination directory,
//! flushed to disk, renamed over the destination and the directory is
//! flushed too. A reader therefore sees the old file or the new one, never
//! a partial one, and a crash leaves at worst a stray temporary file, not
//! a damaged model.

use std::fs::{self, File};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use model_artifact::{ArtifactError, Metrics, Model, ModelArtifact, RowCounts};
use serde::{Deserialize, Serialize};
use tracing::info;

use crate::EtlError;

/// File name of the model artifact in the output directory.
pub const MODEL_FILE: &str = "model.json";
/// File name of the evaluation report in the output directory.
pub const METRICS_FILE: &str = "metrics.json";

/// Published files are readable by every user, so that an API running
/// under another uid can read them.
const FILE_MODE: u32 = 0o644;

/// Contents of `metrics.json`: the evaluation of one model version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricsReport {
    /// [`Model::version`] of the `model.json` these metrics belong to.
    pub model_version: String,
    pub metrics: Metrics,
    pub rows: RowCounts,
}

/// Paths and version of a published model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    pub model_path: PathBuf,
    pub metrics_path: Option<PathBuf>,
    pub model_version: String,
}

/// Publishes `model.json` and its `metrics.json` into `dir`, creating
/// `dir` if needed.
///
/// Both files are replaced or neither is: see [`publish_pair`].
pub fn publish_model(dir: &Path, artifact: &ModelArtifact) -> Result<Published, EtlError> {
    let model_bytes = artifact.to_json_bytes();
    let model = Model::from_bytes(&model_bytes).map_err(|source| EtlError::Artifact { source })?;
    let report = MetricsReport {
        model_version: model.version().to_owned(),
        metrics: artifact.metrics.clone(),
        rows: artifact.rows.clone(),
    };
    let mut metrics_bytes =
        serde_json::to_vec_pretty(&report).expect("a report contains only strings and numbers");
    metrics_bytes.push(b'\n');

    create_dir(dir)?;
    let (model_path, metrics_path) = publish_pair(dir, &model_bytes, Some(&metrics_bytes))?;
    Ok(Published {
        model_path,
        metrics_path,
        model_version: model.version().to_owned(),
    })
}

/// Validates `from/model.json` (and `from/metrics.json` when present) and
/// publishes both unchanged into `dir`; with `remove_source`, removes
/// `from` afterwards.
///
/// Without `from/metrics.json`, an existing `dir/metrics.json` is removed,
/// because it describes the model being replaced. Nothing is published
/// unless every file to install is valid, and `from` and `dir` must not be
/// the same directory or contain one another. Staging directories that
/// earlier restores left in `dir` are removed first, whatever the outcome.
pub fn install_model(from: &Path, dir: &Path, remove_source: bool) -> Result<Published, EtlError> {
    let dir_existed = dir.exists();
    create_dir(dir)?;
    if let Some(error) = overlapping_directories(from, dir) {
        if !dir_existed {
            // Best effort: the directory was created by this call and is empty.
            let _ = fs::remove_dir(dir);
        }
        return Err(error);
    }
    remove_stale_temporaries(dir)?;
    crate::install_staging::remove_stale_staging(dir);

    let model_source = from.join(MODEL_FILE);
    let invalid = |source| EtlError::InvalidArtifact {
        path: model_source.clone(),
        source,
    };
    let model_bytes = fs::read(&model_source).map_err(|source| {
        invalid(ArtifactError::Read {
            path: model_source.clone(),
            source,
        })
    })?;
    let model = Model::from_bytes(&model_bytes).map_err(invalid)?;
    let metrics_bytes = read_metrics(&from.join(METRICS_FILE))?;

    let (model_path, metrics_path) = publish_pair(dir, &model_bytes, metrics_bytes.as_deref())?;
    info!(version = %model.version(), path = %model_path.display(), "installed model");

    if remove_source {
        fs::remove_dir_all(from).map_err(|source| EtlError::RemoveSource {
            path: from.to_owned(),
            source,
        })?;
        info!(path = %from.display(), "removed install source");
    }
    Ok(Published {
        model_path,
        metrics_path,
        model_version: model.version().to_owned(),
    })
}

/// Reads and checks a metrics file to install; `None` when there is none.
fn read_metrics(path: &Path) -> Result<Option<Vec<u8>>, EtlError> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(EtlError::ReadInput { source }),
    };
    serde_json::from_slice::<MetricsReport>(&bytes).map_err(|source| EtlError::InvalidMetrics {
        path: path.to_owned(),
        source,
    })?;
    Ok(Some(bytes))
}

/// Returns the error for an install whose source and output directories
/// are the same directory or one contains the other. The paths are
/// compared after resolving symbolic links and `..`. Returns `None` when
/// the directories are apart or either does not exist.
fn overlapping_directories(from: &Path, dir: &Path) -> Option<EtlError> {
    let (Ok(from), Ok(dir)) = (fs::canonicalize(from), fs::canonicalize(dir)) else {
        return None;
    };
    if from == dir {
        Some(EtlError::SameDirectory { path: dir })
    } else if from.starts_with(&dir) || dir.starts_with(&from) {
        Some(EtlError::NestedDirectories { from, output: dir })
    } else {
        None
    }
}

/// Checks that `dir` is a directory or does not exist yet, so that a bad
/// output directory fails before any training.
pub fn check_output_dir(dir: &Path) -> Result<(), EtlError> {
    match fs::metadata(dir) {
        Ok(metadata) if !metadata.is_dir() => Err(EtlError::OutputNotDirectory {
            path: dir.to_owned(),
        }),
        _ => Ok(()),
    }
}

fn create_dir(dir: &Path) -> Result<(), EtlError> {
    check_output_dir(dir)?;
    fs::create_dir_all(dir).map_err(|source| EtlError::Publish {
        path: dir.to_owned(),
        source,
    })
}

/// Holds an exclusive `flock` on a directory until dropped.
///
/// Every publish and every removal of stale temporary files takes it, so
/// that one run never removes the temporary files of another run that is
/// publishing into the same directory. The kernel releases it when the
/// process dies.
struct DirectoryLock {
    _directory: File,
}

impl DirectoryLock {
    fn acquire(dir: &Path) -> Result<DirectoryLock, EtlError> {
        use std::os::fd::AsRawFd;
        let failed = |source| EtlError::Publish {
            path: dir.to_owned(),
            source,
        };
        let directory = File::open(dir).map_err(failed)?;
        loop {
            // SAFETY: flock is called on a file descriptor owned by `directory`,
            // which outlives the call.
            if unsafe { libc::flock(directory.as_raw_fd(), libc::LOCK_EX) } == 0 {
                return Ok(DirectoryLock {
                    _directory: directory,
                });
            }
            let error = std::io::Error::last_os_error();
            if error.kind() != std::io::ErrorKind::Interrupted {
                return Err(failed(error));
            }
        }
    }
}

/// Holds SIGTERM and SIGINT back from the calling thread until dropped.
///
/// Temporary files exist only while one is held, and a signal that arrives
/// meanwhile takes effect when it is dropped, after the temporary files
/// were renamed or removed. So a run stopped by `docker stop` or Ctrl-C
/// leaves none behind; SIGKILL still can, and the next run removes those
/// (see [`remove_stale_temporaries`]). This process publishes from its main
/// thread and starts no other thread that could take the signal instead.
struct DeferTermination {
    previous: libc::sigset_t,
}

impl DeferTermination {
    fn new() -> DeferTermination {
        // SAFETY: both sets are initialised by sigemptyset/pthread_sigmask
        // before use, and the pointers are to live locals.
        unsafe {
            let mut deferred: libc::sigset_t = std::mem::zeroed();
            let mut previous: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut deferred);
            libc::sigaddset(&mut deferred, libc::SIGTERM);
            libc::sigaddset(&mut deferred, libc::SIGINT);
            libc::pthread_sigmask(libc::SIG_BLOCK, &deferred, &mut previous);
            DeferTermination { previous }
        }
    }
}

impl Drop for DeferTermination {
    fn drop(&mut self) {
        // SAFETY: restores the mask saved by `new`; a pending SIGTERM or
        // SIGINT is delivered here.
        unsafe {
            libc::pthread_sigmask(libc::SIG_SETMASK, &self.previous, std::ptr::null_mut());
        }
    }
}

/// Number of random characters in a temporary file name (tempfile's default).
const TEMPORARY_RANDOM_LEN: usize = 6;
const TEMPORARY_SUFFIX: &str = ".tmp";

/// Prefix of the temporary files that replace `name`; with
/// [`temporary_builder`] their names are
/// `.<name>.<6 random letters or digits>.tmp`.
fn temporary_prefix(name: &str) -> String {
    format!(".{name}.")
}

fn temporary_builder(prefix: &str) -> tempfile::Builder<'_, 'static> {
    let mut builder = tempfile::Builder::new();
    builder
        .prefix(prefix)
        .suffix(TEMPORARY_SUFFIX)
        .rand_bytes(TEMPORARY_RANDOM_LEN);
    builder
}

/// Returns whether `file_name` is a temporary file this program creates for one of
/// the published files.
fn is_own_temporary(file_name: &str) -> bool {
    [MODEL_FILE, METRICS_FILE].iter().any(|name| {
        file_name
            .strip_prefix('.')
            .and_then(|rest| rest.strip_prefix(name))
            .and_then(|rest| rest.strip_prefix('.'))
            .and_then(|rest| rest.strip_suffix(TEMPORARY_SUFFIX))
            .is_some_and(|random| {
                random.len() == TEMPORARY_RANDOM_LEN
                    && random.bytes().all(|byte| byte.is_ascii_alphanumeric())
            })
    })
}

/// Removes the temporary files a killed run of this program left in `dir`
/// (only names of the form `.model.json.XXXXXX.tmp` and
/// `.metrics.json.XXXXXX.tmp`). Does nothing when `dir` does not exist.
pub fn remove_stale_temporaries(dir: &Path) -> Result<(), EtlError> {
    if !dir.is_dir() {
        return Ok(());
    }
    let _lock = DirectoryLock::acquire(dir)?;
    let failed = |path: &Path, source| EtlError::RemoveTemporary {
        path: path.to_owned(),
        source,
    };
    for entry in fs::read_dir(dir).map_err(|source| failed(dir, source))? {
        let entry = entry.map_err(|source| failed(dir, source))?;
        let file_name = entry.file_name();
        let Some(file_name) = file_name.to_str() else {
            continue;
        };
        let is_file = entry.file_type().is_ok_and(|kind| kind.is_file());
        if is_file && is_own_temporary(file_name) {
            let path = entry.path();
            match fs::remove_file(&path) {
                Ok(()) => info!(path = %path.display(), "removed stale temporary file"),
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => return Err(failed(&path, source)),
            }
        }
    }
    Ok(())
}

/// Writes `bytes` to a new temporary file for `dir/name`, flushed to disk.
/// The file is removed when the returned value is dropped unpersisted.
fn write_temporary(
    dir: &Path,
    name: &str,
    bytes: &[u8],
) -> Result<tempfile::NamedTempFile, EtlError> {
    let failed = |source: std::io::Error| EtlError::Publish {
        path: dir.join(name),
        source,
    };
    let prefix = temporary_prefix(name);
    let mut temporary = temporary_builder(&prefix)
        .tempfile_in(dir)
        .map_err(failed)?;
    temporary.write_all(bytes).map_err(failed)?;
    temporary
        .as_file()
        .set_permissions(fs::Permissions::from_mode(FILE_MODE))
        .map_err(failed)?;
    temporary.as_file().sync_all().map_err(failed)?;
    Ok(temporary)
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir).and_then(|directory| directory.sync_all())
}

/// Publishes `model.json` and `metrics.json` into `dir` together: after it
/// returns, both files are the new ones, or both are the ones that were
/// there before. `metrics_bytes` of `None` removes `metrics.json`, so that
/// no stale metrics stay beside a new model.
///
/// Both temporary files are written and flushed first. The old
/// `metrics.json` stays reachable under a temporary name (a hard link).
/// Then the new `metrics.json` is renamed into place, and then
/// `model.json`. If that last rename fails, the old `metrics.json` is put
/// back. Between the two renames, or after a SIGKILL there, the metrics
/// are already the new ones, so a reader that needs the pair to match
/// checks `metrics.json`'s `model_version` against `model.json`.
pub fn publish_pair(
    dir: &Path,
    model_bytes: &[u8],
    metrics_bytes: Option<&[u8]>,
) -> Result<(PathBuf, Option<PathBuf>), EtlError> {
    let _lock = DirectoryLock::acquire(dir)?;
    let _signals = DeferTermination::new();
    let model_path = dir.join(MODEL_FILE);
    let metrics_path = dir.join(METRICS_FILE);
    let model_failed = |source: std::io::Error| EtlError::Publish {
        path: model_path.clone(),
        source,
    };
    let metrics_failed = |source: std::io::Error| EtlError::Publish {
        path: metrics_path.clone(),
        source,
    };

    let model_temporary = write_temporary(dir, MODEL_FILE, model_bytes)?;
    let metrics_temporary = match metrics_bytes {
        Some(bytes) => Some(write_temporary(dir, METRICS_FILE, bytes)?),
        None => None,
    };

    // Keep the old metrics under a temporary name to put them back if the
    // model cannot be published. Dropping `old_metrics` removes that name.
    let old_metrics = match fs::symlink_metadata(&metrics_path) {
        Ok(_) => Some(
            temporary_builder(&temporary_prefix(METRICS_FILE))
                .make_in(dir, |backup| fs::hard_link(&metrics_path, backup))
                .map_err(metrics_failed)?,
        ),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
        Err(source) => return Err(metrics_failed(source)),
    };

    match metrics_temporary {
        Some(temporary) => {
            temporary
                .persist(&metrics_path)
                .map_err(|error| metrics_failed(error.error))?;
        }
        None if old_metrics.is_some() => {
            fs::remove_file(&metrics_path).map_err(metrics_failed)?;
        }
        None => {}
    }

    if let Err(error) = model_temporary.persist(&model_path) {
        restore_metrics(&metrics_path, old_metrics);
        let _ = sync_dir(dir);
        return Err(model_failed(error.error));
    }
    drop(old_metrics);
    sync_dir(dir).map_err(model_failed)?;
    Ok((model_path, metrics_bytes.map(|_| metrics_path.clone())))
}

/// Puts the old `metrics.json` back after a failed publish, or removes the
/// new one when there was none before. Best effort: the publish already
/// failed, and its error is the one reported.
fn restore_metrics(metrics_path: &Path, old_metrics: Option<tempfile::NamedTempFile<()>>) {
    match old_metrics {
        Some(backup) => {
            if let Err(error) = backup.persist(metrics_path) {
                tracing::warn!(path = %metrics_path.display(), error = %error.error, "failed to restore the previous metrics file");
            }
        }
        None => match fs::remove_file(metrics_path) {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => {
                tracing::warn!(path = %metrics_path.display(), %error, "failed to remove the new metrics file");
            }
        },
    }
}

/// Atomically replaces `dir/name` with `bytes` and returns its path.
///
/// The temporary file is removed again if any step fails.
pub fn publish_file(dir: &Path, name: &str, bytes: &[u8]) -> Result<PathBuf, EtlError> {
    let path = dir.join(name);
    let _signals = DeferTermination::new();
    let temporary = write_temporary(dir, name, bytes)?;
    let failed = |source: std::io::Error| EtlError::Publish {
        path: path.clone(),
        source,
    };
    temporary
        .persist(&path)
        .map_err(|error| failed(error.error))?;
    sync_dir(dir).map_err(failed)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn publish_replaces_existing_file() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("model.json"), b"old").unwrap();
        let path = publish_file(dir.path(), "model.json", b"new").unwrap();
        assert_eq!(path, dir.path().join("model.json"));
        assert_eq!(fs::read(&path).unwrap(), b"new");
        assert_eq!(names(dir.path()), ["model.json"]);
    }

    /// Returns whether SIGTERM and SIGINT are blocked in the calling thread.
    fn termination_blocked() -> (bool, bool) {
        // SAFETY: queries the mask into a zeroed local.
        unsafe {
            let mut current: libc::sigset_t = std::mem::zeroed();
            libc::pthread_sigmask(libc::SIG_BLOCK, std::ptr::null(), &mut current);
            (
                libc::sigismember(&current, libc::SIGTERM) == 1,
                libc::sigismember(&current, libc::SIGINT) == 1,
            )
        }
    }

    #[test]
    fn termination_is_deferred_while_publishing() {
        assert_eq!(termination_blocked(), (false, false));
        {
            let _signals = DeferTermination::new();
            assert_eq!(termination_blocked(), (true, true));
        }
        assert_eq!(termination_blocked(), (false, false));
    }

    #[test]
    fn own_temporary_names() {
        for name in [".model.json.a1B2c3.tmp", ".metrics.json.000000.tmp"] {
            assert!(is_own_temporary(name), "{name}");
        }
        for name in [
            "model.json",
            ".model.json.tmp",
            ".model.json.a1B2c.tmp",
            ".model.json.a1B2c34.tmp",
            ".model.json.a-B2c3.tmp",
            ".model.json.a1B2c3.tmp.bak",
            ".other.json.a1B2c3.tmp",
            "model.json.a1B2c3.tmp",
        ] {
            assert!(!is_own_temporary(name), "{name}");
        }
    }

    #[test]
    fn failed_rename_removes_temporary_file() {
        // Renaming a file over a directory fails after the temporary file
        // was written and flushed.
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("model.json")).unwrap();
        let error = publish_file(dir.path(), "model.json", b"new").unwrap_err();
        assert!(matches!(error, EtlError::Publish { .. }), "{error:?}");
        assert_eq!(names(dir.path()), ["model.json"]);
        assert!(dir.path().join("model.json").is_dir());
    }
}
