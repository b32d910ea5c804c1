//! Image save and load through the Engine API (`GET /images/get`,
//! `POST /images/load`), the same endpoints `docker save` and `docker load`
//! use.

use std::collections::HashSet;
use std::fs::File;
use std::io::Read;
use std::path::Path;

use bollard::models::BuildInfo;
use bollard::query_parameters::ImportImageOptionsBuilder;
use futures_util::future::join_all;
use futures_util::{stream, StreamExt};

use super::output_file::OutputFile;
use super::{Meter, TransferError, WrittenArchive};
use crate::archive::ArchivedImage;
use crate::engine::{image, Engine, EngineError};

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
///
/// Every tag is inspected again after the load, so the report gives the ID
/// the engine assigned. An engine with the containerd image store names an
/// image by a manifest digest, not by the config digest a `docker save`
/// archive uses, so there a tag that the load stream names
/// (`Loaded image: TAG`) is accepted whatever its ID. Everywhere else each
/// tag must point at the archive's image ID.
pub async fn load_images(
    engine: &Engine,
    path: &Path,
    file: File,
    images: &[ArchivedImage],
    meter: &Meter,
) -> Result<Vec<LoadedTag>, TransferError> {
    let expected: Vec<(String, String)> = images
        .iter()
        .flat_map(|archived| {
            archived
                .tags
                .iter()
                .map(|tag| (tag.clone(), archived.id.clone()))
        })
        .collect();
    let previous = current_ids(engine, expected.iter().map(|(tag, _)| tag)).await?;
    let named = send_archive(engine, path, file, meter).await?;

    let found = current_ids(engine, expected.iter().map(|(tag, _)| tag)).await?;
    let mut containerd_store = None;
    let mut loaded = Vec::new();
    for (((tag, expected), previous), found) in expected.into_iter().zip(previous).zip(found) {
        let id = found.unwrap_or_default();
        if expected.starts_with("sha256:") && id != expected {
            // Requested only on a mismatch, so a matching load costs no
            // extra round trip.
            if containerd_store.is_none() {
                containerd_store = Some(uses_containerd_store(engine).await?);
            }
            let renamed = containerd_store == Some(true) && named.contains(&tag) && !id.is_empty();
            if !renamed {
                return Err(TransferError::LoadMismatch {
                    tag,
                    expected,
                    actual: id,
                });
            }
        }
        loaded.push(LoadedTag { tag, id, previous });
    }
    Ok(loaded)
}

/// Returns whether the engine keeps images in the containerd image store,
/// which `docker info` shows as the storage driver status
/// `driver-type: io.containerd.snapshotter.v1`.
// NOTE: checked against the documentation only; Engine 20.10, the one
// available here, has no containerd image store.
async fn uses_containerd_store(engine: &Engine) -> Result<bool, TransferError> {
    let info = engine.docker.info().await.map_err(EngineError::api(
        "inspect",
        "engine",
        &engine.endpoint,
    ))?;
    Ok(info.driver_status.unwrap_or_default().iter().any(|pair| {
        pair.first().map(String::as_str) == Some("driver-type")
            && pair
                .get(1)
                .is_some_and(|value| value.starts_with("io.containerd.snapshotter"))
    }))
}

/// Returns the image IDs that `tags` point at in the engine, in order, with
/// `None` for a tag the engine does not have. The inspections run
/// concurrently.
async fn current_ids(
    engine: &Engine,
    tags: impl Iterator<Item = &String>,
) -> Result<Vec<Option<String>>, TransferError> {
    let found = join_all(tags.map(|tag| image::inspect(engine, tag))).await;
    found
        .into_iter()
        .map(|found| Ok(found?.and_then(|image| image.id)))
        .collect()
}

/// Streams `file` to the engine's load endpoint and returns the
/// references the load stream reports as loaded.
async fn send_archive(
    engine: &Engine,
    path: &Path,
    file: File,
    meter: &Meter,
) -> Result<HashSet<String>, TransferError> {
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
    let mut named = HashSet::new();
    while let Some(item) = progress.next().await {
        if let Some(reference) = loaded_reference(&item.map_err(load_error)?) {
            named.insert(reference);
        }
    }
    let read_error = |source| TransferError::Read {
        path: path.to_owned(),
        source,
    };
    let sent = reader
        .await
        .map_err(|error| read_error(std::io::Error::other(error)))?;
    sent.map_err(read_error)?;
    Ok(named)
}

/// Extracts the reference from a `Loaded image: REF` line of the load
/// stream. Lines for untagged images (`Loaded image ID: …`) name none.
fn loaded_reference(item: &BuildInfo) -> Option<String> {
    let line = item.stream.as_deref()?.trim_end();
    let reference = line.strip_prefix("Loaded image: ")?;
    Some(reference.to_owned())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn line(text: &str) -> BuildInfo {
        BuildInfo {
            stream: Some(text.to_owned()),
            ..Default::default()
        }
    }

    #[test]
    fn load_stream_names_loaded_references() {
        // Lines as Engine 20.10.24 sends them for `POST /images/load?quiet=1`.
        assert_eq!(
            loaded_reference(&line("Loaded image: etl_app:latest\n")).as_deref(),
            Some("etl_app:latest")
        );
        assert_eq!(
            loaded_reference(&line("Loaded image ID: sha256:e2e0e26d5b1b\n")),
            None
        );
        assert_eq!(
            loaded_reference(&line(
                "The image etl_app:latest already exists, renaming the old one with ID \
                 sha256:e2e0e26d5b1b to empty string\n"
            )),
            None
        );
        assert_eq!(loaded_reference(&BuildInfo::default()), None);
    }
}
