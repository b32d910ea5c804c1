//! The OCI image layout newer engines write: `index.json` at the root lists
//! descriptors (media type, digest, size) of manifests stored as
//! `blobs/sha256/<hex>`, and each manifest lists descriptors of its config
//! and layers. Every descriptor must name a blob of the archive with the
//! declared size; the blob's digest is checked against its name for all
//! blobs in [`super::check_content_addresses`].

use std::collections::BTreeMap;

use serde::Deserialize;

use super::scan::Scan;
use super::{parse_digest, ArchiveError, ArchivedImage};

pub const INDEX: &str = "index.json";
/// Bound on index-in-index nesting, against crafted reference cycles.
const MAX_DEPTH: usize = 8;

#[derive(Deserialize)]
struct Descriptor {
    #[serde(rename = "mediaType", default)]
    media_type: Option<String>,
    digest: String,
    size: u64,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

/// An image index or an image manifest. When the descriptor has no media
/// type, the fields present distinguish the two.
#[derive(Deserialize)]
struct Document {
    #[serde(default)]
    manifests: Option<Vec<Descriptor>>,
    #[serde(default)]
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Option<Vec<Descriptor>>,
}

/// Checks everything `index.json` references, recursively, and returns the
/// images it names.
pub fn verify(scan: &Scan) -> Result<Vec<ArchivedImage>, ArchiveError> {
    let index = parse_document(scan, INDEX, "the image archive")?;
    let Some(manifests) = index.manifests else {
        return Err(ArchiveError::InvalidMetadata {
            entry: INDEX.to_owned(),
            reason: "it has no `manifests` list".to_owned(),
        });
    };

    let mut images = Vec::new();
    for descriptor in &manifests {
        verify_descriptor(scan, descriptor, INDEX, 0)?;
        let tags = image_name(&descriptor.annotations).into_iter().collect();
        images.push(ArchivedImage {
            id: descriptor.digest.clone(),
            tags,
        });
    }
    Ok(images)
}

fn verify_descriptor(
    scan: &Scan,
    descriptor: &Descriptor,
    referenced_by: &str,
    depth: usize,
) -> Result<(), ArchiveError> {
    if depth > MAX_DEPTH {
        return Err(ArchiveError::InvalidMetadata {
            entry: referenced_by.to_owned(),
            reason: format!("manifests nest more than {MAX_DEPTH} levels deep"),
        });
    }
    let hex = parse_digest(&descriptor.digest, referenced_by)?;
    // NOTE: every referenced blob must be present, including manifests of
    // other platforms in a multi-platform index. An engine that saves only
    // its own platform's manifest from such an index (an assumption, not
    // tested here: Engine 20.10 writes no OCI layout) fails this check.
    let path = format!("blobs/sha256/{hex}");
    let (_, info) = scan.resolve_file(&path, referenced_by)?;
    if info.size != descriptor.size {
        return Err(ArchiveError::SizeMismatch {
            entry: path.clone(),
            referenced_by: referenced_by.to_owned(),
            expected: descriptor.size,
            actual: info.size,
        });
    }

    // Entries of `index.json` written without a media type are manifests.
    let media_type = descriptor.media_type.as_deref().unwrap_or("");
    if !(is_document(media_type) || (media_type.is_empty() && depth == 0)) {
        return Ok(());
    }
    let document = parse_document(scan, &path, referenced_by)?;
    let children = document
        .manifests
        .iter()
        .flatten()
        .chain(document.config.iter())
        .chain(document.layers.iter().flatten());
    for child in children {
        verify_descriptor(scan, child, &path, depth + 1)?;
    }
    Ok(())
}

/// Media types of JSON documents that reference further blobs.
fn is_document(media_type: &str) -> bool {
    matches!(
        media_type,
        "application/vnd.oci.image.index.v1+json"
            | "application/vnd.oci.image.manifest.v1+json"
            | "application/vnd.docker.distribution.manifest.list.v2+json"
            | "application/vnd.docker.distribution.manifest.v2+json"
    )
}

fn parse_document(scan: &Scan, path: &str, referenced_by: &str) -> Result<Document, ArchiveError> {
    let bytes = scan.file_bytes(path, referenced_by)?;
    serde_json::from_slice(bytes).map_err(|source| ArchiveError::InvalidJson {
        entry: path.to_owned(),
        source,
    })
}

/// Returns the full image name an index entry carries, if any. containerd
/// writes the full reference, while the OCI `ref.name` annotation is often
/// a bare tag, which names no image on its own.
fn image_name(annotations: &BTreeMap<String, String>) -> Option<String> {
    annotations
        .get("io.containerd.image.name")
        .or_else(|| {
            annotations
                .get("org.opencontainers.image.ref.name")
                .filter(|name| name.contains(':') || name.contains('/'))
        })
        .cloned()
}
