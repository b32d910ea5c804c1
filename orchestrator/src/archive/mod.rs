//! Verification of image and volume archives before any byte reaches the
//! engine: the sidecar checksum, a well-formed tar with its end marker,
//! headers that the engine's tar reader reads the same way, safe entry
//! names and links, every file the manifests name, and every
//! content-addressed digest.
//!
//! Pure code over `Read`, so every hostile case is a unit test. The whole
//! file is read once; import then streams the same open file to the engine.

mod ambiguity;
mod docker_layout;
mod entry_path;
mod error;
mod oci_layout;
mod scan;
pub mod sidecar;
mod volume;

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

pub use error::ArchiveError;
pub use scan::METADATA_LIMIT;
use scan::{EntryKind, Scan};

/// An archive that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedArchive {
    /// Lowercase hex SHA-256 of the whole file.
    pub sha256: String,
    pub size: u64,
    /// Whether a `.sha256` sidecar was present and matched.
    pub sidecar_checked: bool,
    pub contents: Contents,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Contents {
    Images(Vec<ArchivedImage>),
    Volume(ArchivedVolume),
}

/// One image of an image archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchivedImage {
    /// `sha256:<hex>` image ID: the config digest (`docker save` layout) or
    /// the manifest digest (OCI layout without `manifest.json`).
    pub id: String,
    /// References the archive tags the image with, e.g. `etl_app:latest`.
    pub tags: Vec<String>,
}

/// The contents of a model volume archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchivedVolume {
    /// Paths of the regular files, relative to the volume root.
    pub files: Vec<String>,
    /// Version of the archived model (12 hex digits of its SHA-256).
    pub model_version: String,
}

/// Verifies the archive at `path` (and its sidecar when present), then
/// returns the open file rewound to its start, so the bytes sent on are
/// the bytes verified.
pub fn verify_file(path: &Path) -> Result<(VerifiedArchive, File), ArchiveError> {
    verify_file_unless(path, &AtomicBool::new(false))
}

/// Verifies like [`verify_file`], but stops within one buffer of reading
/// once `cancelled` is set, so that a caller that gave up on the result
/// does not wait for the rest of a large file to be hashed.
pub fn verify_file_unless(
    path: &Path,
    cancelled: &AtomicBool,
) -> Result<(VerifiedArchive, File), ArchiveError> {
    let read_error = |source| ArchiveError::Read {
        path: path.to_owned(),
        source,
    };
    let expected = read_sidecar(path)?;
    let mut file = File::open(path).map_err(read_error)?;

    let reader = Cancellable {
        inner: &mut file,
        cancelled,
    };
    let verified = verify_reader(
        BufReader::with_capacity(256 * 1024, reader),
        expected.as_deref(),
        path,
    );
    if cancelled.load(Ordering::Relaxed) {
        return Err(ArchiveError::Cancelled {
            path: path.to_owned(),
        });
    }
    let verified = verified?;
    file.seek(SeekFrom::Start(0)).map_err(read_error)?;
    Ok((verified, file))
}

/// A reader that fails every read once `cancelled` is set.
struct Cancellable<'a, R> {
    inner: R,
    cancelled: &'a AtomicBool,
}

impl<R: Read> Read for Cancellable<'_, R> {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        if self.cancelled.load(Ordering::Relaxed) {
            return Err(std::io::Error::other("verification cancelled"));
        }
        self.inner.read(buffer)
    }
}

/// Verifies an archive stream; `expected_sha256` is the sidecar's digest.
/// `path` only names the archive in errors.
pub fn verify_reader(
    reader: impl Read,
    expected_sha256: Option<&str>,
    path: &Path,
) -> Result<VerifiedArchive, ArchiveError> {
    let scan = scan::scan(reader)?;
    if let Some(expected) = expected_sha256 {
        if expected != scan.sha256 {
            return Err(ArchiveError::ChecksumMismatch {
                path: path.to_owned(),
                expected: expected.to_owned(),
                actual: scan.sha256,
            });
        }
    }

    let contents = classify(&scan)?;
    Ok(VerifiedArchive {
        sha256: scan.sha256,
        size: scan.size,
        sidecar_checked: expected_sha256.is_some(),
        contents,
    })
}

fn classify(scan: &Scan) -> Result<Contents, ArchiveError> {
    let has = |name| scan.entries.contains_key(name);
    if has(docker_layout::MANIFEST) || has(oci_layout::INDEX) {
        check_content_addresses(scan)?;
        let oci_images = if has(oci_layout::INDEX) {
            oci_layout::verify(scan)?
        } else {
            Vec::new()
        };
        if has(docker_layout::MANIFEST) {
            return Ok(Contents::Images(docker_layout::verify(scan)?));
        }
        return Ok(Contents::Images(oci_images));
    }
    if has(volume::MODEL) {
        return Ok(Contents::Volume(volume::verify(scan)?));
    }
    Err(ArchiveError::UnknownLayout)
}

/// Checks every file that is named after its own digest: root-level
/// `<hex>.json` image configs of the `docker save` layout and every blob
/// under `blobs/`, referenced or not.
fn check_content_addresses(scan: &Scan) -> Result<(), ArchiveError> {
    for (path, kind) in &scan.entries {
        let expected = if let Some(rest) = path.strip_prefix("blobs/") {
            if *kind == EntryKind::Directory {
                continue;
            }
            blob_name_digest(path, rest)?
        } else if let Some(stem) = path.strip_suffix(".json") {
            if !is_sha256_hex(stem) {
                continue;
            }
            stem
        } else {
            continue;
        };

        let (_, info) = scan.resolve_file(path, "its own name")?;
        if info.sha256 != expected {
            return Err(ArchiveError::DigestMismatch {
                entry: path.clone(),
                expected: expected.to_owned(),
                actual: info.sha256.clone(),
            });
        }
    }
    Ok(())
}

/// Reads the digest a blob path (`blobs/<algorithm>/<hex>`) names.
fn blob_name_digest<'a>(path: &str, rest: &'a str) -> Result<&'a str, ArchiveError> {
    match rest.split_once('/') {
        Some(("sha256", hex)) if is_sha256_hex(hex) => Ok(hex),
        _ => Err(ArchiveError::InvalidDigest {
            digest: path.to_owned(),
            referenced_by: "the blob's path".to_owned(),
        }),
    }
}

/// Returns the hex part of a `sha256:<hex>` digest.
fn parse_digest<'a>(digest: &'a str, referenced_by: &str) -> Result<&'a str, ArchiveError> {
    match digest.strip_prefix("sha256:") {
        Some(hex) if is_sha256_hex(hex) => Ok(hex),
        _ => Err(ArchiveError::InvalidDigest {
            digest: digest.to_owned(),
            referenced_by: referenced_by.to_owned(),
        }),
    }
}

fn is_sha256_hex(text: &str) -> bool {
    text.len() == 64
        && text
            .bytes()
            .all(|byte| matches!(byte, b'0'..=b'9' | b'a'..=b'f'))
}

/// Reads the expected digest from `PATH.sha256`, if that file exists.
fn read_sidecar(path: &Path) -> Result<Option<String>, ArchiveError> {
    let sidecar = sidecar::sidecar_path(path);
    let text = match std::fs::read_to_string(&sidecar) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(ArchiveError::Read {
                path: sidecar,
                source,
            })
        }
    };
    let file_name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    sidecar::parse(&text, &file_name)
        .map(Some)
        .map_err(|reason| ArchiveError::InvalidSidecar {
            path: sidecar,
            reason,
        })
}

#[cfg(test)]
mod tests;
