//! An archive being written: a temporary file in the target directory,
//! hashed as it is written, renamed over the target only when complete,
//! with its `.sha256` sidecar written the same way.
//!
//! Dropping an unfinished `OutputFile` (an error, Ctrl-C) deletes the
//! temporary file, so the target path never contains a partial archive.

use std::io::{BufWriter, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tempfile::NamedTempFile;

use super::TransferError;
use crate::archive::sidecar;

/// A complete archive on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenArchive {
    pub path: PathBuf,
    pub sidecar: PathBuf,
    /// Lowercase hex SHA-256 of the file.
    pub sha256: String,
    pub bytes: u64,
}

pub struct OutputFile {
    target: PathBuf,
    writer: BufWriter<NamedTempFile>,
    hasher: Sha256,
    bytes: u64,
}

impl OutputFile {
    /// Creates the temporary file beside `target`.
    pub fn create(target: &Path) -> Result<Self, TransferError> {
        let dir = parent_dir(target);
        // Checked first, so that the error says what is wrong with the
        // path rather than what failed later (the rename, or the create).
        if target.is_dir() {
            return Err(TransferError::TargetIsDirectory {
                path: target.to_owned(),
            });
        }
        if !dir.exists() {
            return Err(TransferError::MissingDirectory {
                dir: dir.to_owned(),
            });
        }
        let temporary = temporary_in(dir, target)?;
        Ok(Self {
            target: target.to_owned(),
            writer: BufWriter::with_capacity(1 << 20, temporary),
            hasher: Sha256::new(),
            bytes: 0,
        })
    }

    /// Appends `chunk`. The write is synchronous: it goes to the page cache
    /// and is short next to the network read that produced the chunk.
    pub fn write(&mut self, chunk: &[u8]) -> Result<(), TransferError> {
        self.hasher.update(chunk);
        self.bytes += chunk.len() as u64;
        self.writer
            .write_all(chunk)
            .map_err(|source| self.write_error(source))
    }

    /// Flushes the file, renames it over the target and writes the sidecar
    /// beside it.
    ///
    /// The archive is not fsynced, as `docker save -o` does not, which keeps
    /// export as fast as the docker CLI. After a power loss the renamed file
    /// may be truncated, and import then rejects it by its checksum.
    pub fn commit(self) -> Result<WrittenArchive, TransferError> {
        let target = self.target;
        let write_error = |source| TransferError::Write {
            path: target.clone(),
            source,
        };
        let temporary = self
            .writer
            .into_inner()
            .map_err(|error| write_error(error.into_error()))?;
        let sha256 = hex::encode(self.hasher.finalize());

        let sidecar_path = sidecar::sidecar_path(&target);
        let file_name = target
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        // The older sidecar is removed first. If the process is killed between
        // the rename and the new sidecar, the new archive then has no sidecar
        // rather than the old archive's checksum, which import would report
        // as a mismatch.
        match std::fs::remove_file(&sidecar_path) {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(TransferError::Write {
                    path: sidecar_path,
                    source,
                })
            }
        }
        temporary
            .persist(&target)
            .map_err(|error| write_error(error.error))?;
        let line = sidecar::format_line(&sha256, &file_name);
        if let Err(error) = write_small_file(&sidecar_path, line.as_bytes()) {
            // An archive without its sidecar would pass as unchecked.
            let _ = std::fs::remove_file(&target);
            return Err(error);
        }

        Ok(WrittenArchive {
            path: target,
            sidecar: sidecar_path,
            sha256,
            bytes: self.bytes,
        })
    }

    fn write_error(&self, source: std::io::Error) -> TransferError {
        TransferError::Write {
            path: self.target.clone(),
            source,
        }
    }
}

/// Writes a small file through a temporary file and a rename.
fn write_small_file(target: &Path, content: &[u8]) -> Result<(), TransferError> {
    let write_error = |source| TransferError::Write {
        path: target.to_owned(),
        source,
    };
    let mut temporary = temporary_in(parent_dir(target), target)?;
    temporary.write_all(content).map_err(write_error)?;
    temporary.as_file().sync_all().map_err(write_error)?;
    temporary
        .persist(target)
        .map_err(|error| write_error(error.error))?;
    Ok(())
}

fn temporary_in(dir: &Path, target: &Path) -> Result<NamedTempFile, TransferError> {
    let name = target
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    // Archives are ordinary files: 0666 minus the umask, as `docker save -o`
    // creates them, not the 0600 of a temporary file.
    tempfile::Builder::new()
        .permissions(std::fs::Permissions::from_mode(0o666))
        .prefix(&format!(".{name}."))
        .suffix(".partial")
        .tempfile_in(dir)
        .map_err(|source| TransferError::CreateTemporary {
            dir: dir.to_owned(),
            source,
        })
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

/// File name of one image's archive for `export --split`: the repository
/// part of the tag with `/` replaced, e.g. `etl_app:latest` → `etl_app.tar`.
pub fn archive_file_name(tag: &str) -> String {
    let last_colon = tag
        .rfind(':')
        .filter(|index| !tag[index + 1..].contains('/'));
    let repository = last_colon.map_or(tag, |index| &tag[..index]);
    format!("{}.tar", repository.replace('/', "_"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_names_from_tags() {
        assert_eq!(archive_file_name("etl_app:latest"), "etl_app.tar");
        assert_eq!(archive_file_name("ml_app:latest"), "ml_app.tar");
        assert_eq!(archive_file_name("ml_app"), "ml_app.tar");
        assert_eq!(
            archive_file_name("host:5000/team/app:1"),
            "host:5000_team_app.tar"
        );
        assert_eq!(archive_file_name("host:5000/app"), "host:5000_app.tar");
    }

    #[test]
    fn commit_renames_and_writes_sidecar() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("stack.tar");
        let mut output = OutputFile::create(&target).unwrap();
        output.write(b"abc").unwrap();
        let written = output.commit().unwrap();

        assert_eq!(std::fs::read(&target).unwrap(), b"abc");
        // `printf abc | sha256sum`
        let expected = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert_eq!(written.sha256, expected);
        assert_eq!(written.bytes, 3);
        let sidecar = std::fs::read_to_string(dir.path().join("stack.tar.sha256")).unwrap();
        assert_eq!(sidecar, format!("{expected}  stack.tar\n"));
        let leftovers = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(leftovers, 2, "only the archive and its sidecar remain");
    }

    #[test]
    fn dropped_output_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("stack.tar");
        let mut output = OutputFile::create(&target).unwrap();
        output.write(b"partial").unwrap();
        drop(output);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn missing_directory_is_named() {
        let missing = Path::new("/nonexistent-dir-for-test/stack.tar");
        let error = OutputFile::create(missing).err().expect("create fails");
        assert!(matches!(error, TransferError::MissingDirectory { .. }));
        assert_eq!(
            error.to_string(),
            "directory /nonexistent-dir-for-test does not exist; create it or pass a path in \
             an existing directory"
        );
    }

    #[test]
    fn directory_target_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let error = OutputFile::create(dir.path()).err().expect("create fails");
        assert_eq!(
            error.to_string(),
            format!(
                "{} is a directory; pass a file path such as {}/stack.tar",
                dir.path().display(),
                dir.path().display()
            )
        );
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
