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

/// Publishes `metrics.json` and then `model.json` into `dir`, creating
/// `dir` if needed.
///
/// The metrics go first, so that once a new `model.json` is visible its
/// metrics are too.
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
    let metrics_path = publish_file(dir, METRICS_FILE, &metrics_bytes)?;
    let model_path = publish_file(dir, MODEL_FILE, &model_bytes)?;
    Ok(Published {
        model_path,
        metrics_path: Some(metrics_path),
        model_version: model.version().to_owned(),
    })
}

/// Validates `from/model.json` (and `from/metrics.json` when present) and
/// publishes both unchanged into `dir`; with `remove_source`, removes
/// `from` afterwards.
///
/// Nothing is published unless every file to install is valid.
pub fn install_model(from: &Path, dir: &Path, remove_source: bool) -> Result<Published, EtlError> {
    create_dir(dir)?;
    if same_directory(from, dir) {
        return Err(EtlError::SameDirectory {
            path: dir.to_owned(),
        });
    }

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

    let metrics_path = match metrics_bytes {
        Some(bytes) => Some(publish_file(dir, METRICS_FILE, &bytes)?),
        None => None,
    };
    let model_path = publish_file(dir, MODEL_FILE, &model_bytes)?;
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

fn same_directory(a: &Path, b: &Path) -> bool {
    match (fs::canonicalize(a), fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

fn create_dir(dir: &Path) -> Result<(), EtlError> {
    fs::create_dir_all(dir).map_err(|source| EtlError::Publish {
        path: dir.to_owned(),
        source,
    })
}

/// Atomically replaces `dir/name` with `bytes` and returns its path.
///
/// The temporary file is removed again if any step fails.
pub fn publish_file(dir: &Path, name: &str, bytes: &[u8]) -> Result<PathBuf, EtlError> {
    let path = dir.join(name);
    let failed = |source: std::io::Error| EtlError::Publish {
        path: path.clone(),
        source,
    };

    let mut temporary = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(failed)?;
    temporary.write_all(bytes).map_err(failed)?;
    temporary
        .as_file()
        .set_permissions(fs::Permissions::from_mode(FILE_MODE))
        .map_err(failed)?;
    temporary.as_file().sync_all().map_err(failed)?;
    temporary
        .persist(&path)
        .map_err(|error| failed(error.error))?;
    File::open(dir)
        .and_then(|directory| directory.sync_all())
        .map_err(failed)?;
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
