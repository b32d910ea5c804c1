//! Image save and load through the Engine API (`GET /images/get`,
//! `POST /images/load`), the same endpoints `docker save` and `docker load`
//! use.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use bollard::query_parameters::ImportImageOptionsBuilder;
use futures_util::future::join_all;
use futures_util::{stream, StreamExt};

use super::output_file::OutputFile;
use super::{Meter, TransferError, WrittenArchive};
use crate::archive::ArchivedImage;
use crate::engine::{image, Engine};

/// Size of the chunks read from an archive and sent to the engine.
const CHUNK: usize = 1 << 20;

/// Streams the images `tags` into one archive at `path` and writes its
/// sidecar. Only these tags go in: the engine's save endpoint includes
/// exactly the references it is given.
pub async fn export_images(
    engine: &Engine,
    tags: &[String],
    path: &Path,
    meter: &Meter,
) -> Result<WrittenArchive, TransferError> {
    // The inspections run concurrently: each is a round trip to the engine.
    let found = join_all(tags.iter().map(|tag| image::inspect(engine, tag))).await;
    for (tag, found) in tags.iter().zip(found) {
        if found?.is_none() {
            return Err(TransferError::ImageMissing { tag: tag.clone() });
        }
    }

    let mut output = OutputFile::create(path)?;
    let references: Vec<&str> = tags.iter().map(String::as_str).collect();
    let mut body = engine.docker.export_images(&references);
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|source| TransferError::Save {
            tags: tags.join(", "),
            path: path.to_owned(),
            source,
        })?;
        output.write(&chunk)?;
        meter.advance(chunk.len() as u64);
    }
    output.commit()
}

/// One tag an import loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedTag {
    pub tag: String,
    /// Image ID the tag points at now.
    pub id: String,
    /// Image ID the tag pointed at before, if it existed.
    pub previous: Option<String>,
}

/// Sends a verified image archive to the engine and checks that each tag
/// now points at the image the archive holds. `file` must be the handle the
/// archive was verified through, rewound to its start.
pub async fn load_images(
    engine: &Engine,
    path: &Path,
    file: File,
    images: &[ArchivedImage],
    meter: &Meter,
) -> Result<Vec<LoadedTag>, TransferError> {
    let tags: Vec<(&String, &String)> = images
        .iter()
        .flat_map(|archived| archived.tags.iter().map(move |tag| (tag, &archived.id)))
        .collect();
    let found = join_all(tags.iter().map(|(tag, _)| image::inspect(engine, tag))).await;
    let mut previous = Vec::new();
    for ((tag, expected), found) in tags.into_iter().zip(found) {
        previous.push((
            tag.clone(),
            expected.clone(),
            found?.and_then(|image| image.id),
        ));
    }

    let (sender, receiver) = tokio::sync::mpsc::channel(4);
    let reader = tokio::task::spawn_blocking(move || read_chunks(file, sender));
    let counter = meter.clone();
    let body = stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|chunk| (chunk, receiver))
    })
    .inspect(move |chunk| {
        if let Ok(chunk) = chunk {
            counter.advance(chunk.len() as u64);
        }
    });
    let options = ImportImageOptionsBuilder::new().quiet(true).build();
    let mut progress = engine.docker.import_image_stream(options, body, None);
    let load_error = |source| TransferError::Load {
        path: path.to_owned(),
        source,
    };
    // Every item is read: the engine reports a failed load mid-stream.
    while let Some(item) = progress.next().await {
        item.map_err(load_error)?;
    }
    let sent = reader.await.map_err(|error| TransferError::Read {
        path: path.to_owned(),
        source: std::io::Error::other(error),
    })?;
    sent.map_err(|source| TransferError::Read {
        path: path.to_owned(),
        source,
    })?;

    let found = join_all(
        previous
            .iter()
            .map(|(tag, _, _)| image::inspect(engine, tag)),
    )
    .await;
    let mut loaded = Vec::new();
    for ((tag, expected, previous), found) in previous.into_iter().zip(found) {
        let id = found?.and_then(|image| image.id).unwrap_or_default();
        if expected.starts_with("sha256:") && id != expected {
            return Err(TransferError::LoadMismatch {
                tag,
                expected,
                actual: id,
            });
        }
        loaded.push(LoadedTag { tag, id, previous });
    }
    Ok(loaded)
}

/// Reads `file` in chunks into `sender` and returns the byte count. Stops
/// early, without error, when the receiving side has gone away.
fn read_chunks(
    mut file: File,
    sender: tokio::sync::mpsc::Sender<Result<bytes::Bytes, std::io::Error>>,
) -> std::io::Result<u64> {
    let mut total = 0u64;
    loop {
        let mut buffer = vec![0u8; CHUNK];
        let read = match file.read(&mut buffer) {
            Ok(0) => return Ok(total),
            Ok(read) => read,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(error) => {
                let message = error.to_string();
                let _ = sender.blocking_send(Err(std::io::Error::other(message)));
                return Err(error);
            }
        };
        buffer.truncate(read);
        total += read as u64;
        if sender
            .blocking_send(Ok(bytes::Bytes::from(buffer)))
            .is_err()
        {
            return Ok(total);
        }
    }
}
