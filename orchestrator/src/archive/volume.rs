//! The model volume's archive: the volume's files with paths relative to
//! the volume root, `model.json` among them. It holds only regular files
//! and directories, so restoring it can never create a link that leads
//! outside the volume, and its model is validated before it is restored.

use super::scan::{EntryKind, Scan};
use super::{ArchiveError, ArchivedVolume};

pub const MODEL: &str = "model.json";
const METRICS: &str = "metrics.json";

/// Checks a volume archive and returns its files.
pub fn verify(scan: &Scan) -> Result<ArchivedVolume, ArchiveError> {
    let mut files = Vec::new();
    for (path, kind) in &scan.entries {
        match kind {
            EntryKind::File(_) => files.push(path.clone()),
            EntryKind::Directory => {}
            EntryKind::Link { target } => {
                return Err(ArchiveError::UnsafeLink {
                    entry: path.clone(),
                    target: target.clone(),
                    reason: "a volume archive may hold only files and directories",
                })
            }
        }
    }

    let model_bytes = scan.file_bytes(MODEL, "the volume archive")?;
    let model = model_artifact::Model::from_bytes(model_bytes)
        .map_err(|source| ArchiveError::InvalidModel { source })?;
    if scan.entries.contains_key(METRICS) {
        let metrics = scan.file_bytes(METRICS, "the volume archive")?;
        serde_json::from_slice::<serde_json::Value>(metrics).map_err(|source| {
            ArchiveError::InvalidJson {
                entry: METRICS.to_owned(),
                source,
            }
        })?;
    }

    Ok(ArchivedVolume {
        files,
        model_version: model.version().to_owned(),
    })
}
