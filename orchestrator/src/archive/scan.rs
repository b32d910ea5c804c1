//! One pass over a tar stream: checks the tar structure and every entry
//! name, hashes the whole stream and each regular file, and keeps the small
//! files (JSON metadata) in memory for the layout checks that follow.
//!
//! A single pass matters because image archives are large: the file is read
//! once for the sidecar checksum, the tar structure and every blob digest.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Read};
use std::sync::mpsc;
use std::thread;

use sha2::{Digest, Sha256};
use tar::EntryType;

use super::entry_path::{normalize_entry, resolve_hardlink, resolve_symlink};
use super::{ambiguity, ArchiveError};

/// Files up to this size are kept in memory so manifests and configs can be
/// parsed after the pass; larger files are only hashed.
pub const METADATA_LIMIT: u64 = 1 << 20;
/// Cap on the bytes kept in memory across all files of one archive, so a
/// crafted archive of many small files cannot exhaust memory.
const METADATA_TOTAL_LIMIT: u64 = 64 << 20;
/// Bound on link-to-link hops when resolving a path.
const MAX_LINK_HOPS: usize = 16;
const BLOCK: u64 = 512;

/// A regular file of the archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    pub size: u64,
    /// Lowercase hex SHA-256 of the content.
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    File(FileInfo),
    Directory,
    /// Symbolic or hard link, with its target resolved to an archive path.
    Link {
        target: String,
    },
}

/// Everything the pass learnt about an archive.
#[derive(Debug, Default)]
pub struct Scan {
    /// Entries by normalized path (`a/b/c`, no `./`, no trailing slash).
    pub entries: BTreeMap<String, EntryKind>,
    /// Content of the regular files up to [`METADATA_LIMIT`] bytes.
    metadata: HashMap<String, Vec<u8>>,
    /// Lowercase hex SHA-256 of the whole archive stream.
    pub sha256: String,
    /// Length of the whole archive stream in bytes.
    pub size: u64,
}

impl Scan {
    /// Follows links from `path` to a regular file and returns its final
    /// path and details.
    pub fn resolve_file<'a>(
        &'a self,
        path: &'a str,
        referenced_by: &str,
    ) -> Result<(&'a str, &'a FileInfo), ArchiveError> {
        let mut current = path;
        for _ in 0..MAX_LINK_HOPS {
            match self.entries.get(current) {
                Some(EntryKind::File(info)) => return Ok((current, info)),
                Some(EntryKind::Link { target }) => current = target,
                Some(EntryKind::Directory) => {
                    return Err(ArchiveError::InvalidMetadata {
                        entry: path.to_owned(),
                        reason: format!(
                            "{referenced_by} names it as a file, but it is a directory"
                        ),
                    })
                }
                None => {
                    return Err(ArchiveError::MissingEntry {
                        referenced_by: referenced_by.to_owned(),
                        entry: path.to_owned(),
                    })
                }
            }
        }
        Err(ArchiveError::UnsafeLink {
            entry: path.to_owned(),
            target: current.to_owned(),
            reason: "too many levels of links",
        })
    }

    /// Returns the content of a small file, following links.
    pub fn file_bytes(&self, path: &str, referenced_by: &str) -> Result<&[u8], ArchiveError> {
        let (resolved, info) = self.resolve_file(path, referenced_by)?;
        self.metadata
            .get(resolved)
            .map(Vec::as_slice)
            .ok_or_else(|| ArchiveError::MetadataTooLarge {
                entry: path.to_owned(),
                size: info.size,
                limit: METADATA_LIMIT,
            })
    }
}

/// Reads a whole tar stream and checks its structure and entry names.
pub fn scan(reader: impl Read) -> Result<Scan, ArchiveError> {
    let mut archive = tar::Archive::new(HashingReader::new(reader));
    let mut scan = Scan::default();
    let mut kept_bytes = 0u64;
    let mut end_of_last_entry = 0u64;
    let mut buffer = vec![0u8; 64 * 1024];

    let entries = archive.entries().map_err(|source| malformed(0, source))?;
    for item in entries {
        let mut entry = item.map_err(|source| malformed(end_of_last_entry, source))?;
        let size = entry.size();
        end_of_last_entry = entry.raw_file_position() + size.div_ceil(BLOCK) * BLOCK;

        let path = normalize_entry(&entry.path_bytes())?;
        if entry.header().entry_type() != EntryType::XGlobalHeader {
            ambiguity::check(&mut entry, &path)?;
        }
        let kind = match entry.header().entry_type() {
            EntryType::Regular | EntryType::Continuous => {
                let keep = size <= METADATA_LIMIT && kept_bytes + size <= METADATA_TOTAL_LIMIT;
                let (info, content) = read_file(&mut entry, &path, size, keep, &mut buffer)?;
                if let Some(content) = content {
                    kept_bytes += info.size;
                    scan.metadata.insert(path.clone(), content);
                }
                EntryKind::File(info)
            }
            EntryType::Directory => EntryKind::Directory,
            EntryType::Symlink => EntryKind::Link {
                target: resolve_symlink(&path, &link_bytes(&entry))?,
            },
            EntryType::Link => EntryKind::Link {
                target: hardlink_target(&scan, &path, &link_bytes(&entry))?,
            },
            // A pax global header carries defaults for later entries, not a file.
            EntryType::XGlobalHeader => continue,
            other => {
                return Err(ArchiveError::UnsupportedEntry {
                    entry: path,
                    kind: format!("{other:?}"),
                })
            }
        };
        insert_entry(&mut scan.entries, path, kind)?;
    }

    let mut reader = archive.into_inner();
    check_end_of_archive(&mut reader, end_of_last_entry)?;
    scan.size = reader.count;
    scan.sha256 = reader.finish()?;
    Ok(scan)
}

/// Hashes a regular file's content, and returns it too when `keep` is set.
/// Fails when the stream ends before the size the header declares.
fn read_file(
    entry: &mut impl Read,
    path: &str,
    declared: u64,
    keep: bool,
    buffer: &mut [u8],
) -> Result<(FileInfo, Option<Vec<u8>>), ArchiveError> {
    let mut hasher = Sha256::new();
    let mut kept = keep.then(Vec::new);
    let mut actual = 0u64;
    loop {
        let read = match entry.read(buffer) {
            Ok(0) => break,
            Ok(read) => read,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(source) => return Err(malformed(actual, source)),
        };
        hasher.update(&buffer[..read]);
        if let Some(kept) = kept.as_mut() {
            kept.extend_from_slice(&buffer[..read]);
        }
        actual += read as u64;
    }

    if actual != declared {
        return Err(ArchiveError::TruncatedEntry {
            entry: path.to_owned(),
            expected: declared,
            actual,
        });
    }
    let info = FileInfo {
        size: actual,
        sha256: hex::encode(hasher.finalize()),
    };
    Ok((info, kept))
}

fn link_bytes<R: Read>(entry: &tar::Entry<'_, R>) -> Vec<u8> {
    entry
        .link_name_bytes()
        .map(|bytes| bytes.into_owned())
        .unwrap_or_default()
}

/// A hard link must name a file that an earlier entry created.
fn hardlink_target(scan: &Scan, path: &str, raw: &[u8]) -> Result<String, ArchiveError> {
    let target = resolve_hardlink(path, raw)?;
    if !scan.entries.contains_key(&target) {
        return Err(ArchiveError::UnsafeLink {
            entry: path.to_owned(),
            target,
            reason: "a hard link must point to an earlier entry of the archive",
        });
    }
    Ok(target)
}

/// Adds an entry, rejecting duplicates and paths that pass through a file
/// or a link (the one way a lexically clean path can still escape).
fn insert_entry(
    entries: &mut BTreeMap<String, EntryKind>,
    path: String,
    kind: EntryKind,
) -> Result<(), ArchiveError> {
    let mut prefix_end = 0;
    while let Some(slash) = path[prefix_end..].find('/') {
        let prefix = &path[..prefix_end + slash];
        if let Some(parent) = entries.get(prefix) {
            if *parent != EntryKind::Directory {
                return Err(ArchiveError::UnsafePath {
                    entry: path.clone(),
                    reason: "a parent of this entry is a file or a link",
                });
            }
        }
        prefix_end += slash + 1;
    }

    if kind != EntryKind::Directory {
        let children_start = format!("{path}/");
        if entries
            .range(children_start.clone()..)
            .next()
            .is_some_and(|(key, _)| key.starts_with(&children_start))
        {
            return Err(ArchiveError::UnsafePath {
                entry: path,
                reason: "an earlier entry uses this path as a directory",
            });
        }
    }

    match entries.get(&path) {
        Some(EntryKind::Directory) if kind == EntryKind::Directory => Ok(()),
        Some(_) => Err(ArchiveError::DuplicateEntry { entry: path }),
        None => {
            entries.insert(path, kind);
            Ok(())
        }
    }
}

/// Requires the end-of-archive marker (at least two zero blocks) after the
/// last entry and nothing but zero padding after it. Without this check an
/// archive cut exactly between two entries would read as complete.
fn check_end_of_archive<R: Read>(
    reader: &mut HashingReader<R>,
    end_of_last_entry: u64,
) -> Result<(), ArchiveError> {
    // The tar reader stops right after the first zero block, or at the end
    // of the stream when the marker is missing.
    if reader.count < end_of_last_entry + BLOCK {
        return Err(ArchiveError::MissingEndMarker {
            offset: end_of_last_entry,
        });
    }

    let mut buffer = [0u8; 4096];
    let mut padding = 0u64;
    loop {
        let read = match reader.read(&mut buffer) {
            Ok(0) => break,
            Ok(read) => read,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(source) => return Err(malformed(reader.count, source)),
        };
        if let Some(position) = buffer[..read].iter().position(|byte| *byte != 0) {
            return Err(ArchiveError::TrailingData {
                offset: reader.count - read as u64 + position as u64,
            });
        }
        padding += read as u64;
    }

    if padding < BLOCK {
        return Err(ArchiveError::MissingEndMarker {
            offset: end_of_last_entry,
        });
    }
    Ok(())
}

fn malformed(offset: u64, source: io::Error) -> ArchiveError {
    ArchiveError::MalformedTar { offset, source }
}

/// Bytes handed to the hashing thread at a time.
const HASH_BATCH: usize = 256 * 1024;

/// Passes bytes through while counting them, and hashes them on a second
/// thread, so that the whole-file digest and the per-entry digests of the
/// scan are computed in parallel.
struct HashingReader<R> {
    inner: R,
    count: u64,
    pending: Vec<u8>,
    hasher: StreamHasher,
}

enum StreamHasher {
    Thread {
        sender: mpsc::SyncSender<Vec<u8>>,
        handle: thread::JoinHandle<String>,
    },
    /// Used when no thread could be started.
    Inline(Sha256),
}

impl<R> HashingReader<R> {
    fn new(inner: R) -> Self {
        let (sender, receiver) = mpsc::sync_channel::<Vec<u8>>(8);
        let spawned = thread::Builder::new()
            .name("archive-sha256".to_owned())
            .spawn(move || {
                let mut hasher = Sha256::new();
                for batch in receiver {
                    hasher.update(&batch);
                }
                hex::encode(hasher.finalize())
            });
        let hasher = match spawned {
            Ok(handle) => StreamHasher::Thread { sender, handle },
            Err(_) => StreamHasher::Inline(Sha256::new()),
        };
        Self {
            inner,
            count: 0,
            pending: Vec::with_capacity(HASH_BATCH),
            hasher,
        }
    }

    fn flush_pending(&mut self) {
        let batch = std::mem::replace(&mut self.pending, Vec::with_capacity(HASH_BATCH));
        match &mut self.hasher {
            StreamHasher::Thread { sender, .. } => {
                // The receiver lives until `finish` joins the thread.
                let _ = sender.send(batch);
            }
            StreamHasher::Inline(hasher) => hasher.update(&batch),
        }
    }

    /// Returns the lowercase hex SHA-256 of every byte read.
    fn finish(mut self) -> Result<String, ArchiveError> {
        self.flush_pending();
        match self.hasher {
            StreamHasher::Thread { sender, handle } => {
                drop(sender);
                handle.join().map_err(|_| {
                    malformed(self.count, io::Error::other("the hashing thread panicked"))
                })
            }
            StreamHasher::Inline(hasher) => Ok(hex::encode(hasher.finalize())),
        }
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        let read = self.inner.read(buffer)?;
        self.pending.extend_from_slice(&buffer[..read]);
        if self.pending.len() >= HASH_BATCH {
            self.flush_pending();
        }
        self.count += read as u64;
        Ok(read)
    }
}
