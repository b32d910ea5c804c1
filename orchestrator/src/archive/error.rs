//! Verification failures of an archive, each naming the entry or digest.

use std::io;
use std::path::PathBuf;

/// Reason an archive failed verification. Every variant names the file,
/// entry or digest at fault so that the user can tell a corrupt copy from a
/// crafted one.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("failed to read archive {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("verification of {path} was cancelled before the end of the file")]
    Cancelled { path: PathBuf },

    #[error("invalid checksum file {path}: {reason}; regenerate it with `sha256sum ARCHIVE > ARCHIVE.sha256` or delete it")]
    InvalidSidecar { path: PathBuf, reason: String },

    #[error("checksum mismatch for {path}: the .sha256 file expects {expected}, the archive hashes to {actual}; copy the archive again")]
    ChecksumMismatch {
        path: PathBuf,
        expected: String,
        actual: String,
    },

    #[error("malformed tar archive near byte {offset}; the archive is corrupt or not a tar file")]
    MalformedTar {
        offset: u64,
        #[source]
        source: io::Error,
    },

    #[error("truncated archive: entry {entry} declares {expected} bytes but only {actual} are present; copy the archive again")]
    TruncatedEntry {
        entry: String,
        expected: u64,
        actual: u64,
    },

    #[error("truncated archive: it ends without the end-of-archive marker after byte {offset}; copy the archive again")]
    MissingEndMarker { offset: u64 },

    #[error("archive has data after its end-of-archive marker at byte {offset}")]
    TrailingData { offset: u64 },

    #[error("unsafe entry path {entry:?}: {reason}")]
    UnsafePath { entry: String, reason: &'static str },

    #[error("unsafe link {entry:?} -> {target:?}: {reason}")]
    UnsafeLink {
        entry: String,
        target: String,
        reason: &'static str,
    },

    #[error("entry {entry:?} has unsupported type {kind}; only files, directories and links are allowed")]
    UnsupportedEntry { entry: String, kind: String },

    #[error("entry {entry:?} has an ambiguous tar header: {reason}; tar readers disagree on what it contains, so the engine could load files that were not verified")]
    AmbiguousEntry { entry: String, reason: &'static str },

    #[error("entry {entry:?} appears more than once")]
    DuplicateEntry { entry: String },

    #[error("{referenced_by} names {entry:?}, which is missing from the archive")]
    MissingEntry {
        referenced_by: String,
        entry: String,
    },

    #[error("digest mismatch for {entry}: expected sha256:{expected}, content hashes to sha256:{actual}")]
    DigestMismatch {
        entry: String,
        expected: String,
        actual: String,
    },

    #[error("size mismatch for {entry}: {referenced_by} declares {expected} bytes, the entry has {actual}")]
    SizeMismatch {
        entry: String,
        referenced_by: String,
        expected: u64,
        actual: u64,
    },

    #[error("invalid digest {digest:?} in {referenced_by}: expected `sha256:` and 64 lowercase hex digits")]
    InvalidDigest {
        digest: String,
        referenced_by: String,
    },

    #[error("invalid JSON in {entry}")]
    InvalidJson {
        entry: String,
        #[source]
        source: serde_json::Error,
    },

    #[error("invalid {entry}: {reason}")]
    InvalidMetadata { entry: String, reason: String },

    #[error("metadata file {entry} is {size} bytes, more than the {limit} bytes this tool reads")]
    MetadataTooLarge {
        entry: String,
        size: u64,
        limit: u64,
    },

    #[error("archive is neither an image archive (manifest.json or index.json at its root) nor a volume archive (model.json at its root)")]
    UnknownLayout,

    #[error("volume archive holds an invalid model.json")]
    InvalidModel {
        #[source]
        source: model_artifact::ArtifactError,
    },
}
