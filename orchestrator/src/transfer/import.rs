//! Import of one archive: verify the whole file, then send it on. Nothing
//! reaches the engine unless every check of [`crate::archive`] passed.

use std::fs::File;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::{
    load_images, restore_volume, LoadedTag, Meter, ModelStore, RestoredVolume, TransferError,
};
use crate::archive::{self, Contents, VerifiedArchive};
use crate::engine::Engine;
use crate::progress::Mode;

/// Outcome of importing one archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Imported {
    Images {
        archive: VerifiedArchive,
        loaded: Vec<LoadedTag>,
    },
    Volume {
        archive: VerifiedArchive,
        restored: RestoredVolume,
    },
}

/// Verifies the archive at `path`, then loads its images or restores the
/// model volume of `store`. A volume archive needs `store`.
pub async fn import_archive(
    engine: &Engine,
    path: &Path,
    store: Option<&ModelStore>,
    mode: Mode,
) -> Result<Imported, TransferError> {
    let (archive, file) = verify_archive(path, mode).await?;
    import_verified(engine, path, archive, file, store, mode).await
}

/// Sends an archive that [`verify_archive`] accepted to the engine.
pub async fn import_verified(
    engine: &Engine,
    path: &Path,
    archive: VerifiedArchive,
    file: File,
    store: Option<&ModelStore>,
    mode: Mode,
) -> Result<Imported, TransferError> {
    let label = format!("load {}", path.display());
    let meter = Meter::start(mode, &label, Some(archive.size));
    let result = match &archive.contents {
        Contents::Images(images) => {
            load_images(engine, path, file, images, &meter)
                .await
                .map(|loaded| Imported::Images {
                    archive: archive.clone(),
                    loaded,
                })
        }
        Contents::Volume(contents) => match store {
            Some(store) => restore_volume(engine, store, path, file, contents, &meter)
                .await
                .map(|restored| Imported::Volume {
                    archive: archive.clone(),
                    restored,
                }),
            None => Err(TransferError::NoModelStore),
        },
    };
    match &result {
        Ok(_) => meter.finish("loaded"),
        Err(_) => meter.fail(),
    }
    result
}

/// Verifies the archive at `path` and its sidecar, on a blocking thread
/// because it reads and hashes the whole file. Returns the open file,
/// rewound, so the bytes sent on are the bytes verified. Dropping the
/// returned future (another step failed, Ctrl-C) stops the pass at its
/// next read.
pub async fn verify_archive(
    path: &Path,
    mode: Mode,
) -> Result<(VerifiedArchive, std::fs::File), TransferError> {
    let meter = Meter::start(mode, &format!("verify {}", path.display()), None);
    let owned = path.to_owned();
    let cancel = CancelOnDrop::default();
    let cancelled = Arc::clone(&cancel.0);
    let result =
        tokio::task::spawn_blocking(move || archive::verify_file_unless(&owned, &cancelled))
            .await
            .map_err(|error| TransferError::Read {
                path: path.to_owned(),
                source: std::io::Error::other(error),
            })?;
    match result {
        Ok((archive, file)) => {
            meter.advance(archive.size);
            meter.finish("verified");
            Ok((archive, file))
        }
        Err(source) => {
            meter.fail();
            Err(TransferError::Verify {
                path: path.to_owned(),
                source,
            })
        }
    }
}

/// Sets its flag when dropped, which stops a verification whose result is
/// no longer awaited.
#[derive(Default)]
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}
