//! Hot reload: polls the model file and offers each changed file to the
//! [`ModelSlot`].
//!
//! Polling the file's metadata works wherever the file lives, including a
//! Docker volume written from another container, where inotify events of
//! the writer do not always reach the reader. `etl` publishes by writing a
//! temporary file and renaming it over the old one, which changes the inode,
//! so a replacement is seen on the next poll. A file written in place is
//! seen too (its size or modification time changes), and a partial read of
//! it is rejected by validation and read again once it changes again.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::metrics::Metrics;
use crate::model_slot::{self, ModelSlot, Offer};

/// Default interval between two checks of the model file.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_millis(250);

/// Identity of one version of the file: device, inode, size and
/// modification time in nanoseconds. `None` when the file does not exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint {
    device: u64,
    inode: u64,
    size: u64,
    modified_ns: i128,
}

/// Returns the fingerprint of the file at `path`, or `None` when it cannot
/// be read (missing, or a directory on the way is unreadable).
pub fn fingerprint(path: &Path) -> Option<Fingerprint> {
    let metadata = std::fs::metadata(path).ok()?;
    Some(Fingerprint {
        device: metadata.dev(),
        inode: metadata.ino(),
        size: metadata.size(),
        modified_ns: i128::from(metadata.mtime()) * 1_000_000_000
            + i128::from(metadata.mtime_nsec()),
    })
}

/// Loads the file at `path` into `slot`, logs the outcome and records it in
/// `metrics`.
pub fn load_into(slot: &ModelSlot, path: &Path, metrics: &Metrics) {
    let loaded = model_slot::load(path);
    let failure = loaded.as_ref().err().cloned();
    let new_version = loaded.as_ref().ok().map(|model| model.version().to_owned());

    match (slot.offer(loaded), failure) {
        (Offer::Installed { previous }, _) => {
            let version = new_version.unwrap_or_default();
            tracing::info!(path = %path.display(), %version, previous = previous.as_deref(), "model loaded");
            metrics.record_reload("installed");
        }
        (Offer::Unchanged, _) => {
            tracing::debug!(path = %path.display(), "model file changed but its content did not");
        }
        (Offer::KeptPrevious { serving }, Some(failure)) => {
            tracing::warn!(
                path = %path.display(),
                reason = ?failure.reason,
                error = %failure.message,
                serving = %serving,
                "model replacement rejected; the previous model keeps serving"
            );
            metrics.record_reload("rejected");
        }
        (Offer::StillUnavailable, Some(failure)) => {
            tracing::warn!(
                path = %path.display(),
                reason = ?failure.reason,
                error = %failure.message,
                "model rejected; answering 503 until a valid model is published"
            );
            metrics.record_reload("rejected");
        }
        (_, None) => {}
    }
    metrics.set_model(slot.model().as_deref().map(|model| model.version()));
}

/// Checks the file every `interval` and reloads it whenever its
/// fingerprint differs from the last one seen, starting from `last`, the
/// fingerprint taken before the slot's current content was loaded. Runs
/// until the task is dropped.
pub async fn watch(
    slot: Arc<ModelSlot>,
    path: PathBuf,
    interval: Duration,
    metrics: Arc<Metrics>,
    mut last: Option<Fingerprint>,
) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let current = fingerprint(&path);
        if current == last {
            continue;
        }
        last = current;
        if current.is_none() {
            log_removed(&slot, &path);
            continue;
        }
        let slot = Arc::clone(&slot);
        let path = path.clone();
        let metrics = Arc::clone(&metrics);
        // Reading and hashing the file is blocking work; keep it off the
        // threads that serve requests.
        let outcome = tokio::task::spawn_blocking(move || load_into(&slot, &path, &metrics)).await;
        if let Err(error) = outcome {
            tracing::error!(%error, "model reload task failed; the next change is tried again");
        }
    }
}

fn log_removed(slot: &ModelSlot, path: &Path) {
    match slot.model() {
        Some(model) => tracing::warn!(
            path = %path.display(),
            serving = %model.version(),
            "model file disappeared; the loaded model keeps serving"
        ),
        None => tracing::debug!(path = %path.display(), "model file still missing"),
    }
}
