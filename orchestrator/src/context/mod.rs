//! Build contexts: the files sent to the engine for one image, as a tar
//! stream, and the content hash that decides whether the image is rebuilt.
//!
//! The walk honours the image's ignore file with Docker's `.dockerignore`
//! rules (see [`ignore`]). Two rules come on top, as the Docker CLI does:
//! the Dockerfile and the ignore file are always sent. One rule is ours:
//! `target/` at the context root is excluded before the ignore file is read,
//! so a Cargo build directory is never sent whole; a `!` line can still
//! re-include single files from it, such as the static binaries.
//!
//! The hash covers each entry's path, type, executable bit and content (not
//! its modification time), the Dockerfile and the build arguments, so
//! touching a file without changing it does not rebuild.

pub mod ignore;

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::spec::ImageSpec;
use ignore::IgnoreRules;

/// Pattern applied before the ignore file's own lines.
const IMPLICIT_EXCLUDES: &str = "target\n";

#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    #[error("build context {path} does not exist; create it or fix `context` of image `{image}`")]
    MissingContext { image: String, path: PathBuf },
    #[error(
        "Dockerfile {path} of image `{image}` does not exist; fix `dockerfile` in the stack file"
    )]
    MissingDockerfile { image: String, path: PathBuf },
    #[error("failed to read {path} in the build context")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("failed to write the build context archive")]
    Archive(#[source] io::Error),
}

/// One file system entry of a context, relative to its root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// `/`-separated path relative to the context root.
    pub path: String,
    pub kind: EntryKind,
    /// Unix permission bits.
    pub mode: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    Directory,
    File { size: u64 },
    Symlink { target: PathBuf },
}

/// The entries of one image's build context, sorted by path.
#[derive(Debug, Clone)]
pub struct BuildContext {
    pub root: PathBuf,
    pub dockerfile: String,
    pub entries: Vec<Entry>,
    build_args: BTreeMap<String, String>,
}

impl BuildContext {
    /// Walks the context directory of `image`, leaving out ignored paths.
    pub fn collect(image: &ImageSpec) -> Result<Self, ContextError> {
        let root = image.context.clone();
        if !root.is_dir() {
            return Err(ContextError::MissingContext {
                image: image.key.clone(),
                path: root,
            });
        }
        let dockerfile_path = root.join(&image.dockerfile);
        if !dockerfile_path.is_file() {
            return Err(ContextError::MissingDockerfile {
                image: image.key.clone(),
                path: dockerfile_path,
            });
        }

        let ignore_path = match &image.ignore_file {
            Some(path) => Some(path.clone()),
            None => Some(root.join(".dockerignore")).filter(|p| p.is_file()),
        };
        let mut rules_text = IMPLICIT_EXCLUDES.to_string();
        if let Some(path) = &ignore_path {
            rules_text += &read_to_string(path)?;
        }
        let rules = IgnoreRules::parse(&rules_text);

        let mut always = vec![image.dockerfile.clone()];
        if let Some(relative) = ignore_path.as_deref().and_then(|p| relative_path(&root, p)) {
            always.push(relative);
        }

        let mut entries = walk_filtered(&root, &rules)?;
        for path in always {
            if !entries.iter().any(|e| e.path == path) {
                entries.push(entry_for(&root, &path)?);
            }
        }
        entries.sort_by(|a, b| a.path.cmp(&b.path));

        Ok(Self {
            root,
            dockerfile: image.dockerfile.clone(),
            entries,
            build_args: image.build_args.clone(),
        })
    }

    /// Computes the SHA-256 (hex) of the context content, the Dockerfile and
    /// the build arguments.
    pub fn content_hash(&self) -> Result<String, ContextError> {
        let mut hasher = Sha256::new();
        hasher.update(b"dockerfile\0");
        hasher.update(self.dockerfile.as_bytes());
        for (key, value) in &self.build_args {
            hasher.update(format!("\0arg\0{key}={value}").as_bytes());
        }
        for entry in &self.entries {
            hasher.update(b"\0entry\0");
            hasher.update(entry.path.as_bytes());
            let executable = entry.mode & 0o111 != 0;
            match &entry.kind {
                EntryKind::Directory => hasher.update(b"\0dir"),
                EntryKind::Symlink { target } => {
                    hasher.update(b"\0symlink\0");
                    hasher.update(target.as_os_str().as_encoded_bytes());
                }
                EntryKind::File { size } => {
                    hasher.update(format!("\0file\0{size}\0{executable}\0").as_bytes());
                    let path = self.root.join(&entry.path);
                    let mut file =
                        fs::File::open(&path).map_err(|source| read_error(&path, source))?;
                    io::copy(&mut file, &mut hasher).map_err(|source| read_error(&path, source))?;
                }
            }
        }
        Ok(hex::encode(hasher.finalize()))
    }

    /// Total size in bytes of the regular files in the context.
    pub fn total_size(&self) -> u64 {
        self.entries
            .iter()
            .map(|e| match e.kind {
                EntryKind::File { size } => size,
                _ => 0,
            })
            .sum()
    }

    /// Writes the context as an uncompressed tar archive. Entries are owned
    /// by 0:0 with a fixed modification time, as the Docker CLI sends them.
    pub fn to_tar(&self) -> Result<Vec<u8>, ContextError> {
        let mut builder = tar::Builder::new(Vec::with_capacity(self.total_size() as usize + 4096));
        builder.follow_symlinks(false);
        for entry in &self.entries {
            let mut header = tar::Header::new_gnu();
            header.set_mode(entry.mode);
            header.set_uid(0);
            header.set_gid(0);
            header.set_mtime(0);
            match &entry.kind {
                EntryKind::Directory => {
                    header.set_entry_type(tar::EntryType::Directory);
                    header.set_size(0);
                    builder
                        .append_data(&mut header, format!("{}/", entry.path), io::empty())
                        .map_err(ContextError::Archive)?;
                }
                EntryKind::Symlink { target } => {
                    header.set_entry_type(tar::EntryType::Symlink);
                    header.set_size(0);
                    builder
                        .append_link(&mut header, &entry.path, target)
                        .map_err(ContextError::Archive)?;
                }
                EntryKind::File { size } => {
                    let path = self.root.join(&entry.path);
                    let file = fs::File::open(&path).map_err(|source| read_error(&path, source))?;
                    header.set_entry_type(tar::EntryType::Regular);
                    header.set_size(*size);
                    builder
                        .append_data(&mut header, &entry.path, file)
                        .map_err(ContextError::Archive)?;
                }
            }
        }
        builder.into_inner().map_err(ContextError::Archive)
    }
}

/// Lists the entries below `root` that `rules` do not exclude, sorted by
/// path. An excluded directory is only entered when a `!` line may
/// re-include something in it.
pub fn walk_filtered(root: &Path, rules: &IgnoreRules) -> Result<Vec<Entry>, ContextError> {
    let mut entries = Vec::new();
    walk(root, "", rules, &mut entries)?;
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(entries)
}

fn walk(
    root: &Path,
    relative: &str,
    rules: &IgnoreRules,
    entries: &mut Vec<Entry>,
) -> Result<(), ContextError> {
    let dir = root.join(relative);
    let listing = fs::read_dir(&dir).map_err(|source| read_error(&dir, source))?;
    let mut names = Vec::new();
    for item in listing {
        let item = item.map_err(|source| read_error(&dir, source))?;
        names.push(item.file_name().to_string_lossy().into_owned());
    }
    names.sort();

    for name in names {
        let path = if relative.is_empty() {
            name
        } else {
            format!("{relative}/{name}")
        };
        let excluded = rules.is_excluded(&path);
        let entry = entry_for(root, &path)?;
        if entry.kind == EntryKind::Directory {
            if excluded && !rules.may_include_below(&path) {
                continue;
            }
            if !excluded {
                entries.push(entry);
            }
            walk(root, &path, rules, entries)?;
        } else if !excluded {
            entries.push(entry);
        }
    }
    Ok(())
}

fn entry_for(root: &Path, relative: &str) -> Result<Entry, ContextError> {
    let path = root.join(relative);
    let metadata = fs::symlink_metadata(&path).map_err(|source| read_error(&path, source))?;
    let kind = if metadata.is_dir() {
        EntryKind::Directory
    } else if metadata.file_type().is_symlink() {
        let target = fs::read_link(&path).map_err(|source| read_error(&path, source))?;
        EntryKind::Symlink { target }
    } else {
        EntryKind::File {
            size: metadata.len(),
        }
    };
    Ok(Entry {
        path: relative.to_string(),
        kind,
        mode: metadata.permissions().mode() & 0o7777,
    })
}

fn relative_path(root: &Path, path: &Path) -> Option<String> {
    let relative = path.strip_prefix(root).ok()?;
    let parts: Vec<String> = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    Some(parts.join("/"))
}

fn read_to_string(path: &Path) -> Result<String, ContextError> {
    fs::read_to_string(path).map_err(|source| read_error(path, source))
}

fn read_error(path: &Path, source: io::Error) -> ContextError {
    ContextError::Read {
        path: path.to_path_buf(),
        source,
    }
}
