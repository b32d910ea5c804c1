//! Tar headers that two readers can parse differently. The engine reads an
//! image archive with Go's `archive/tar`, this verifier with the `tar`
//! crate. Where the two disagree on an entry's name or on where its data
//! ends, one archive contains two sets of files: the one verified here and
//! the one the engine loads. The second may carry a manifest, config or tag
//! that no check ever saw.
//!
//! The forms below are rejected rather than read one way or the other.
//! `docker save`, skopeo and the `tar` crate's builder write none of them.

use std::collections::HashSet;
use std::io::Read;

use tar::EntryType;

use super::ArchiveError;

/// Offset and value of the ustar magic and version fields in a header.
const MAGIC: std::ops::Range<usize> = 257..263;
const VERSION: std::ops::Range<usize> = 263..265;
/// Offset of the trailer that marks the star variant of ustar.
const STAR_TRAILER: std::ops::Range<usize> = 508..512;

/// Checks one entry's header, its pax records and its final name and link
/// target. `path` names the entry in errors.
pub fn check<R: Read>(entry: &mut tar::Entry<'_, R>, path: &str) -> Result<(), ArchiveError> {
    let ambiguous = |reason| ArchiveError::AmbiguousEntry {
        entry: path.to_owned(),
        reason,
    };
    check_header_format(entry.header().as_bytes()).map_err(ambiguous)?;
    check_pax_records(entry).map_err(ambiguous)?;

    if entry.path_bytes().contains(&0) || entry.link_name_bytes().is_some_and(|l| l.contains(&0)) {
        return Err(ambiguous("its name or link target contains a NUL byte"));
    }
    let kind = entry.header().entry_type();
    if is_header_only(kind) && entry.size() != 0 {
        // Go reads no data after a directory or link header, but the `tar`
        // crate reads `size` bytes, so those bytes can hide entries.
        return Err(ambiguous("a directory or link header declares content"));
    }
    if kind == EntryType::Regular && entry.path_bytes().ends_with(b"/") {
        // Go reads an old-style file header whose name ends in `/` as a
        // directory, without the data the `tar` crate reads.
        return Err(ambiguous("a file header has a name ending in `/`"));
    }
    Ok(())
}

/// Rejects ustar headers whose name prefix the readers apply differently.
/// Go applies the prefix field whatever the version field contains, and
/// reads a shorter prefix from star headers. The `tar` crate applies the
/// prefix only to version `00` and does not recognize star headers.
fn check_header_format(bytes: &[u8; 512]) -> Result<(), &'static str> {
    if bytes[MAGIC] != *b"ustar\0" {
        return Ok(());
    }
    if bytes[VERSION] != *b"00" {
        return Err("its ustar header has a version other than `00`");
    }
    if bytes[STAR_TRAILER] == *b"tar\0" {
        return Err("its header is in the star format");
    }
    Ok(())
}

/// Rejects pax records that the readers apply differently. Of two records
/// with the same key, the `tar` crate uses the first and Go the last. The `tar` crate skips a malformed record, where Go fails. Go
/// also renames and reassembles GNU sparse files from their `GNU.sparse.*`
/// records, which the `tar` crate ignores.
fn check_pax_records<R: Read>(entry: &mut tar::Entry<'_, R>) -> Result<(), &'static str> {
    let Ok(records) = entry.pax_extensions() else {
        return Err("its pax header cannot be read");
    };
    let Some(records) = records else {
        return Ok(());
    };
    let mut keys = HashSet::new();
    for record in records {
        let Ok(record) = record else {
            return Err("its pax header has a malformed record");
        };
        let key = record.key_bytes();
        if key.starts_with(b"GNU.sparse.") {
            return Err("its pax header describes a GNU sparse file");
        }
        if !keys.insert(key.to_vec()) {
            return Err("its pax header has the same key twice");
        }
    }
    Ok(())
}

/// Entry types Go reads as a header alone, with no data after it, among
/// those the scan accepts.
fn is_header_only(kind: EntryType) -> bool {
    matches!(
        kind,
        EntryType::Directory | EntryType::Symlink | EntryType::Link
    )
}
