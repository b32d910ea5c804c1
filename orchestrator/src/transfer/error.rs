//! Failures of export and import, each naming the file, image or volume.

use std::path::PathBuf;

use crate::archive::ArchiveError;
use crate::engine::EngineError;

#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    #[error(transparent)]
    Engine(#[from] EngineError),

    #[error("image `{tag}` not found in the engine; build it with `orchestrator up` or load it with `orchestrator import`")]
    ImageMissing { tag: String },

    #[error("{path} is a directory; pass a file path such as {}", .path.join("stack.tar").display())]
    TargetIsDirectory { path: PathBuf },

    #[error("directory {dir} does not exist; create it or pass a path in an existing directory")]
    MissingDirectory { dir: PathBuf },

    #[error("cannot create a file in {dir}; choose a writable directory")]
    CreateTemporary {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("failed to write {path} (disk full or I/O error); no file was left at that path")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("the engine failed to save {tags}; no file was left at {path}")]
    Save {
        tags: String,
        path: PathBuf,
        #[source]
        source: bollard::errors::Error,
    },

    #[error("verification of {path} failed; nothing was sent to the engine")]
    Verify {
        path: PathBuf,
        #[source]
        source: ArchiveError,
    },

    #[error("the engine failed to load {path}")]
    Load {
        path: PathBuf,
        #[source]
        source: bollard::errors::Error,
    },

    #[error("after loading, `{tag}` points at {actual}, not at {expected} from the archive")]
    LoadMismatch {
        tag: String,
        expected: String,
        actual: String,
    },

    #[error("{path} is an image archive, but a volume archive was expected")]
    NotAVolumeArchive { path: PathBuf },

    #[error("no model volume in the stack file: no one-shot container has an output under a mounted volume")]
    NoModelStore,

    #[error("volume `{name}` not found; create it and train a model with `orchestrator up` first")]
    VolumeMissing { name: String },

    #[error("volume `{name}` holds no model: {source}")]
    VolumeWithoutModel {
        name: String,
        #[source]
        source: ArchiveError,
    },

    #[error("failed to read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("model install in volume `{volume}` exited with code {code}; the volume's previous model is unchanged{}", format_log(.log))]
    InstallFailed {
        volume: String,
        code: i64,
        log: Vec<String>,
    },
}

fn format_log(log: &[String]) -> String {
    let mut text = String::new();
    if !log.is_empty() {
        text.push_str("\nlast log lines:");
        for line in log {
            text.push_str("\n  ");
            text.push_str(line);
        }
    }
    text
}
