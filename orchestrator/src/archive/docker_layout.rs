//! The layout `docker save` writes: `manifest.json` at the root lists, per
//! image, its config file and its layer tars. Engine 20.10 names the config
//! `<sha256 of config>.json` and each layer `<v1 id>/layer.tar`; Engine 25
//! and later point the same `manifest.json` into `blobs/sha256/`.
//!
//! Layers are checked against the config's `rootfs.diff_ids`, the SHA-256
//! of each uncompressed layer tar, because that is how the engine itself
//! identifies them. The config is checked against the image ID in its name.

use serde::Deserialize;

use super::entry_path::normalize_entry;
use super::scan::Scan;
use super::{parse_digest, ArchiveError, ArchivedImage};

pub const MANIFEST: &str = "manifest.json";

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ManifestItem {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

#[derive(Deserialize)]
struct ImageConfig {
    rootfs: RootFs,
}

#[derive(Deserialize)]
struct RootFs {
    diff_ids: Vec<String>,
}

/// Checks every image `manifest.json` lists and returns them.
pub fn verify(scan: &Scan) -> Result<Vec<ArchivedImage>, ArchiveError> {
    let bytes = scan.file_bytes(MANIFEST, "the image archive")?;
    let items: Vec<ManifestItem> =
        serde_json::from_slice(bytes).map_err(|source| ArchiveError::InvalidJson {
            entry: MANIFEST.to_owned(),
            source,
        })?;
    if items.is_empty() {
        return Err(ArchiveError::InvalidMetadata {
            entry: MANIFEST.to_owned(),
            reason: "it lists no image".to_owned(),
        });
    }

    items
        .iter()
        .enumerate()
        .map(|(index, item)| verify_image(scan, index, item))
        .collect()
}

fn verify_image(
    scan: &Scan,
    index: usize,
    item: &ManifestItem,
) -> Result<ArchivedImage, ArchiveError> {
    let referenced_by = format!("{MANIFEST} image {index}");
    let config_path = normalize_entry(item.config.as_bytes())?;
    let (_, config_info) = scan.resolve_file(&config_path, &referenced_by)?;
    let config_bytes = scan.file_bytes(&config_path, &referenced_by)?;
    let config: ImageConfig =
        serde_json::from_slice(config_bytes).map_err(|source| ArchiveError::InvalidJson {
            entry: config_path.clone(),
            source,
        })?;

    let diff_ids = &config.rootfs.diff_ids;
    if diff_ids.len() != item.layers.len() {
        return Err(ArchiveError::InvalidMetadata {
            entry: config_path,
            reason: format!(
                "its rootfs declares {} layer digests but {referenced_by} lists {} layer files",
                diff_ids.len(),
                item.layers.len()
            ),
        });
    }
    for (layer, diff_id) in item.layers.iter().zip(diff_ids) {
        let expected = parse_digest(diff_id, &config_path)?;
        let layer_path = normalize_entry(layer.as_bytes())?;
        let (resolved, info) = scan.resolve_file(&layer_path, &referenced_by)?;
        if info.sha256 != expected {
            return Err(ArchiveError::DigestMismatch {
                entry: resolved.to_owned(),
                expected: expected.to_owned(),
                actual: info.sha256.clone(),
            });
        }
    }

    let tags = item.repo_tags.clone().unwrap_or_default();
    for tag in &tags {
        check_tag(tag)?;
    }
    Ok(ArchivedImage {
        id: format!("sha256:{}", config_info.sha256),
        tags,
    })
}

/// Rejects tags that cannot be image references, so that what import
/// reports and compares is what the engine will store.
pub fn check_tag(tag: &str) -> Result<(), ArchiveError> {
    let valid = !tag.is_empty()
        && tag.len() <= 255
        && tag
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b"._-/:@".contains(&byte));
    if valid {
        Ok(())
    } else {
        Err(ArchiveError::InvalidMetadata {
            entry: MANIFEST.to_owned(),
            reason: format!("{tag:?} is not a valid image reference"),
        })
    }
}
