//! Import of one archive: verify the whole file, then send it on. Nothing
//! reaches the engine unless every check of [`crate::archive`] passed.

use std::path::Path;

use super::{
    load_images, restore_volume, LoadedTag, Meter, ModelStore, RestoredVolume, TransferError,
};
use crate::archive::{self, Contents, VerifiedArchive};
use crate::engine::Engine;
use crate::progress::Mode;

/// What importing one archive did.
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
    let verified = verify(path, mode).await?;
    let (archive, file) = verified;

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
        Contents::Volume(contents) => {
            let store = store.ok_or(TransferError::NoModelStore)?;
            restore_volume(engine, store, path, file, contents, &meter)
                .await
                .map(|restored| Imported::Volume {
                    archive: archive.clone(),
                    restored,
                })
        }
    };
    match &result {
        Ok(_) => meter.finish("loaded"),
        Err(_) => meter.fail(),
    }
    result
}

/// Runs the verification on a blocking thread: it reads and hashes the
/// whole file.
async fn verify(
    path: &Path,
    mode: Mode,
) -> Result<(VerifiedArchive, std::fs::File), TransferError> {
    let meter = Meter::start(mode, &format!("verify {}", path.display()), None);
    let owned = path.to_owned();
    let result = tokio::task::spawn_blocking(move || archive::verify_file(&owned))
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
