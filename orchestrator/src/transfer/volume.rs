//! Model volume export and restore through short-lived helper containers
//! created from the ETL image, which ships the volume's mount directory and
//! the `/etl install` subcommand.
//!
//! Export reads the volume with the Engine API's `GET archive` endpoint
//! from a created, never started container. Restore creates one install
//! container with the volume mounted, uploads the verified files with
//! `PUT archive` into a staging directory of that container's own
//! filesystem, then starts it: `/etl install --from <staging>` validates
//! the model and publishes it into the volume with a rename. A reader of
//! the volume (the API) therefore reads either the old model or the new
//! one, never a partial file.
//!
//! The staged files never enter the volume, so removing the container
//! removes them, whether the install succeeded, failed, timed out or was
//! killed. `etl install` also removes `.restore-*` staging directories
//! that earlier versions uploaded into the volume and left behind.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bollard::models::{ContainerCreateBody, HostConfig, Mount, MountType};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, DownloadFromContainerOptionsBuilder,
    UploadToContainerOptionsBuilder,
};
use futures_util::StreamExt;

use super::output_file::OutputFile;
use super::{Meter, ModelStore, TransferError, WrittenArchive};
use crate::archive::{self, ArchivedVolume};
use crate::engine::{container, image, volume, Engine, EngineError, Outcome};
use crate::labels;

/// Directory in the install container's own filesystem that receives the
/// staged files. Removing the container removes it.
const STAGING_DIR: &str = "/restore-staging";

/// Bound on the one-shot install; it validates and renames two small files.
const INSTALL_TIMEOUT: Duration = Duration::from_secs(120);

/// Writes the model volume's files to a volume archive at `path`.
pub async fn export_volume(
    engine: &Engine,
    store: &ModelStore,
    path: &Path,
    meter: &Meter,
) -> Result<WrittenArchive, TransferError> {
    require_helper_image(engine, store).await?;
    if volume::inspect(engine, &store.volume).await?.is_none() {
        return Err(TransferError::VolumeMissing {
            name: store.volume.clone(),
        });
    }

    let raw = tempfile::tempfile().map_err(|source| TransferError::CreateTemporary {
        dir: std::env::temp_dir(),
        source,
    })?;
    let name = helper_name(store, "export");
    let helper = HelperGuard::create(engine, store, &name, Helper::Export).await?;
    let downloaded = download_volume(engine, store, &name, raw).await;
    let removed = helper.remove().await;
    let mut raw = downloaded?;
    removed?;

    let repacked = repack_volume(&mut raw, &store.volume)?;
    archive::verify_reader(repacked.as_slice(), None, path).map_err(|source| {
        TransferError::VolumeWithoutModel {
            name: store.volume.clone(),
            source,
        }
    })?;

    let mut output = OutputFile::create(path)?;
    output.write(&repacked)?;
    meter.advance(repacked.len() as u64);
    output.commit()
}

/// Outcome of a volume restore.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoredVolume {
    pub volume: String,
    /// `Created` when the volume did not exist before.
    pub outcome: Outcome,
    pub model_version: String,
}

/// Restores a verified volume archive into the model volume. `file` must
/// be the handle the archive was verified through.
pub async fn restore_volume(
    engine: &Engine,
    store: &ModelStore,
    path: &Path,
    file: File,
    contents: &ArchivedVolume,
    meter: &Meter,
) -> Result<RestoredVolume, TransferError> {
    let owner = require_helper_image(engine, store).await?;
    let staging = STAGING_DIR.trim_start_matches('/');
    let upload = staging_archive(file, path, staging, owner)?;
    let outcome = volume::ensure(engine, &store.volume, &store.volume_labels()).await?;

    let name = helper_name(store, "install");
    let command = vec![
        "install".to_owned(),
        "--from".to_owned(),
        STAGING_DIR.to_owned(),
        "--output-dir".to_owned(),
        store.mount_target.clone(),
    ];
    let helper = HelperGuard::create(engine, store, &name, Helper::Install(command)).await?;
    let installed = async {
        meter.advance(upload_files(engine, &name, upload).await?);
        run_install(engine, store, &name).await
    }
    .await;
    // The staged files go with the container, whatever the install did.
    // The install's own error, when there is one, is the one reported.
    let removed = helper.remove().await;
    installed?;
    removed?;

    Ok(RestoredVolume {
        volume: store.volume.clone(),
        outcome,
        model_version: contents.model_version.clone(),
    })
}

/// Checks that the ETL image is present and returns its `uid:gid` user,
/// which becomes the owner of the staged files, so that the install,
/// running as that user, can read them.
async fn require_helper_image(
    engine: &Engine,
    store: &ModelStore,
) -> Result<(u64, u64), TransferError> {
    let Some(inspect) = image::inspect(engine, &store.image).await? else {
        return Err(TransferError::ImageMissing {
            tag: store.image.clone(),
        });
    };
    let user = inspect
        .config
        .and_then(|config| config.user)
        .unwrap_or_default();
    Ok(parse_owner(&user))
}

/// Parses a numeric `uid[:gid]`. A named or empty user maps to root.
fn parse_owner(user: &str) -> (u64, u64) {
    let mut parts = user.splitn(2, ':');
    let uid = parts.next().and_then(|uid| uid.parse().ok()).unwrap_or(0);
    let gid = parts.next().and_then(|gid| gid.parse().ok()).unwrap_or(uid);
    (uid, gid)
}

fn helper_name(store: &ModelStore, purpose: &str) -> String {
    format!("{}-model-{purpose}-{}", store.project, unique_suffix())
}

fn unique_suffix() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_nanos();
    format!("{}-{nanos:09}", std::process::id())
}

/// Bound on the removal of a helper container whose command was dropped.
const DROP_REMOVE_TIMEOUT: Duration = Duration::from_secs(10);

/// A created helper container, removed when dropped before
/// [`HelperGuard::remove`] ran. Ctrl-C drops the command's future between
/// two engine calls, and the helper, created or already started, would
/// otherwise outlive the command, holding the volume and, for an install,
/// the staged files. The create request runs as its own task, so that a
/// drop while it is in flight waits for it instead of racing it.
struct HelperGuard<'a> {
    engine: &'a Engine,
    name: &'a str,
    pending_create: Option<tokio::task::JoinHandle<Result<(), TransferError>>>,
    armed: bool,
}

impl<'a> HelperGuard<'a> {
    async fn create(
        engine: &'a Engine,
        store: &ModelStore,
        name: &'a str,
        helper: Helper,
    ) -> Result<Self, TransferError> {
        let task = {
            let (engine, store, name) = (engine.clone(), store.clone(), name.to_owned());
            tokio::spawn(async move { create_helper(&engine, &store, &name, helper).await })
        };
        let mut guard = Self {
            engine,
            name,
            pending_create: Some(task),
            armed: true,
        };
        let created = match guard.pending_create.as_mut() {
            Some(task) => task.await,
            None => Ok(Ok(())),
        };
        guard.pending_create = None;
        match created {
            Ok(Ok(())) => Ok(guard),
            Ok(Err(error)) => Err(error),
            Err(error) => Err(TransferError::Engine(EngineError::Api {
                operation: "create",
                kind: "container",
                name: name.to_owned(),
                source: bollard::errors::Error::IOError {
                    err: std::io::Error::other(error),
                },
            })),
        }
    }

    async fn remove(mut self) -> Result<Outcome, EngineError> {
        self.armed = false;
        container::remove(self.engine, self.name).await
    }
}

impl Drop for HelperGuard<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        // Blocking is the one way to finish engine calls in `drop`; it
        // needs the multi-threaded runtime that `main` starts.
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if handle.runtime_flavor() != tokio::runtime::RuntimeFlavor::MultiThread {
            return;
        }
        let pending_create = self.pending_create.take();
        let removal = tokio::time::timeout(DROP_REMOVE_TIMEOUT, async {
            if let Some(task) = pending_create {
                let _ = task.await;
            }
            container::remove(self.engine, self.name).await
        });
        match tokio::task::block_in_place(|| handle.block_on(removal)) {
            Ok(Ok(_)) => {}
            Ok(Err(error)) => {
                tracing::warn!(container = self.name, %error, "failed to remove a helper container; `down` removes it")
            }
            Err(_) => {
                tracing::warn!(
                    container = self.name,
                    "timed out removing a helper container; `down` removes it"
                )
            }
        }
    }
}

/// Purpose of a helper container.
enum Helper {
    /// Reads the volume, mounted read-only. It is never started.
    Export,
    /// Runs this `etl` command with the volume mounted read-write. Its own
    /// filesystem stays writable, because the staged files are uploaded
    /// into it.
    Install(Vec<String>),
}

/// Creates (never starts, unless the caller does) a hardened container of
/// the ETL image with the model volume mounted and no network. It carries
/// the project label, so `down` removes one left behind by a crash.
async fn create_helper(
    engine: &Engine,
    store: &ModelStore,
    name: &str,
    helper: Helper,
) -> Result<(), TransferError> {
    let (read_only, command) = match helper {
        Helper::Export => (true, None),
        Helper::Install(command) => (false, Some(command)),
    };
    let mount = Mount {
        target: Some(store.mount_target.clone()),
        source: Some(store.volume.clone()),
        typ: Some(MountType::VOLUME),
        read_only: Some(read_only),
        ..Default::default()
    };
    let host_config = HostConfig {
        mounts: Some(vec![mount]),
        network_mode: Some("none".to_owned()),
        readonly_rootfs: Some(read_only),
        cap_drop: Some(vec!["ALL".to_owned()]),
        security_opt: Some(vec!["no-new-privileges".to_owned()]),
        ..Default::default()
    };
    let body = ContainerCreateBody {
        image: Some(store.image.clone()),
        cmd: command,
        labels: Some(
            [(labels::PROJECT.to_owned(), store.project.clone())]
                .into_iter()
                .collect(),
        ),
        host_config: Some(host_config),
        ..Default::default()
    };
    let options = CreateContainerOptionsBuilder::default().name(name).build();
    engine
        .docker
        .create_container(Some(options), body)
        .await
        .map_err(EngineError::api("create", "container", name))?;
    Ok(())
}

async fn download_volume(
    engine: &Engine,
    store: &ModelStore,
    name: &str,
    mut raw: File,
) -> Result<File, TransferError> {
    let options = DownloadFromContainerOptionsBuilder::default()
        .path(&store.mount_target)
        .build();
    let mut body = engine.docker.download_from_container(name, Some(options));
    let temp_path = std::env::temp_dir();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(EngineError::api("read files of", "volume", &store.volume))?;
        raw.write_all(&chunk)
            .map_err(|source| TransferError::Write {
                path: temp_path.clone(),
                source,
            })?;
    }
    raw.seek(SeekFrom::Start(0))
        .map_err(|source| TransferError::Read {
            path: temp_path,
            source,
        })?;
    Ok(raw)
}

/// Rewrites the engine's archive of the mount directory (`data/…`) with
/// paths relative to the volume root, keeping files and directories only.
fn repack_volume(raw: &mut File, volume_name: &str) -> Result<Vec<u8>, TransferError> {
    let read_error = |source| TransferError::Read {
        path: format!("archive of volume {volume_name}").into(),
        source,
    };
    let mut source = tar::Archive::new(raw);
    let mut builder = tar::Builder::new(Vec::new());
    for entry in source.entries().map_err(read_error)? {
        let mut entry = entry.map_err(read_error)?;
        let path = entry.path().map_err(read_error)?.into_owned();
        let Ok(relative) = path.strip_prefix(
            path.components()
                .next()
                .map_or(Path::new(""), |first| Path::new(first.as_os_str())),
        ) else {
            continue;
        };
        let kind = entry.header().entry_type();
        if relative.as_os_str().is_empty() || !(kind.is_file() || kind.is_dir()) {
            if !relative.as_os_str().is_empty() {
                tracing::warn!(path = %path.display(), "skipped a link or special file in the model volume");
            }
            continue;
        }
        let mut header = entry.header().clone();
        builder
            .append_data(&mut header, relative, &mut entry)
            .map_err(read_error)?;
    }
    builder.into_inner().map_err(read_error)
}

/// The files of a volume archive that `etl install` reads. Only they are
/// uploaded: verification admits other files, and staging them too would
/// buffer an archive padded with large extra files in memory and in the
/// install container for nothing.
const STAGED_FILES: [&str; 2] = ["model.json", "metrics.json"];

/// Builds the upload: the verified archive's [`STAGED_FILES`] under
/// `staging/`, owned by `owner`.
fn staging_archive(
    file: File,
    path: &Path,
    staging: &str,
    owner: (u64, u64),
) -> Result<Vec<u8>, TransferError> {
    let read_error = |source| TransferError::Read {
        path: path.to_owned(),
        source,
    };
    let mut builder = tar::Builder::new(Vec::new());
    let mut root = tar::Header::new_gnu();
    root.set_entry_type(tar::EntryType::Directory);
    root.set_mode(0o755);
    root.set_size(0);
    root.set_uid(owner.0);
    root.set_gid(owner.1);
    root.set_mtime(0);
    builder
        .append_data(&mut root, staging, std::io::empty())
        .map_err(read_error)?;

    let mut source = tar::Archive::new(file);
    for entry in source.entries().map_err(read_error)? {
        let mut entry = entry.map_err(read_error)?;
        let kind = entry.header().entry_type();
        // Verification admitted only files and directories; anything else
        // here means the file changed since, and is skipped.
        if !kind.is_file() {
            continue;
        }
        let relative: PathBuf = entry
            .path()
            .map_err(read_error)?
            .components()
            .filter(|component| *component != Component::CurDir)
            .collect();
        if !STAGED_FILES.iter().any(|name| relative == Path::new(name)) {
            continue;
        }
        let mut header = entry.header().clone();
        header.set_uid(owner.0);
        header.set_gid(owner.1);
        let mut content = Vec::new();
        entry.read_to_end(&mut content).map_err(read_error)?;
        builder
            .append_data(
                &mut header,
                Path::new(staging).join(relative),
                content.as_slice(),
            )
            .map_err(read_error)?;
    }
    builder.into_inner().map_err(read_error)
}

/// Uploads the staging archive into the root of the container `name`.
async fn upload_files(engine: &Engine, name: &str, upload: Vec<u8>) -> Result<u64, TransferError> {
    let size = upload.len() as u64;
    let options = UploadToContainerOptionsBuilder::default()
        .path("/")
        .no_overwrite_dir_non_dir("true")
        .build();
    engine
        .docker
        .upload_to_container(name, Some(options), bollard::body_full(upload.into()))
        .await
        .map_err(EngineError::api(
            "upload the model files to",
            "container",
            name,
        ))?;
    Ok(size)
}

async fn run_install(engine: &Engine, store: &ModelStore, name: &str) -> Result<(), TransferError> {
    container::start(engine, name)
        .await
        .map_err(EngineError::api("start", "container", name))?;
    let stopped = container::wait_stopped(engine, name, INSTALL_TIMEOUT).await?;
    let code = match container::inspect(engine, name).await? {
        Some(inspect) if stopped => inspect
            .state
            .and_then(|state| state.exit_code)
            .unwrap_or(-1),
        _ => -1,
    };
    if code == 0 {
        return Ok(());
    }
    let log = container::log_tail(engine, name, 20)
        .await
        .unwrap_or_default();
    Err(TransferError::InstallFailed {
        volume: store.volume.clone(),
        code,
        log,
    })
}

#[cfg(test)]
mod tests {
    use sha2::Digest;

    use super::*;

    /// Builds a `docker save` archive of one image, `FROM scratch` with one
    /// empty layer, tagged `tag`.
    fn tiny_image_archive(tag: &str) -> Vec<u8> {
        let append = |builder: &mut tar::Builder<Vec<u8>>, path: &str, data: &[u8]| {
            let mut header = tar::Header::new_ustar();
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            builder.append_data(&mut header, path, data).unwrap();
        };
        let layer = tar::Builder::new(Vec::new()).into_inner().unwrap();
        let diff_id = hex::encode(sha2::Sha256::digest(&layer));
        let config = serde_json::json!({
            "architecture": "amd64",
            "os": "linux",
            "config": { "Cmd": ["/absent"] },
            "rootfs": { "type": "layers", "diff_ids": [format!("sha256:{diff_id}")] },
        })
        .to_string();
        let config_name = format!("{}.json", hex::encode(sha2::Sha256::digest(&config)));
        let manifest = serde_json::json!([{
            "Config": config_name,
            "RepoTags": [tag],
            "Layers": ["layer/layer.tar"],
        }])
        .to_string();
        let mut builder = tar::Builder::new(Vec::new());
        append(&mut builder, &config_name, config.as_bytes());
        append(&mut builder, "layer/layer.tar", &layer);
        append(&mut builder, "manifest.json", manifest.as_bytes());
        builder.into_inner().unwrap()
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn dropped_guard_removes_the_helper() {
        let engine = match Engine::connect().await {
            Ok(engine) => engine,
            Err(error) => {
                eprintln!("skipped: the Docker Engine is unreachable ({error})");
                return;
            }
        };
        let suffix = unique_suffix();
        let tag = format!("orchestrator-unit-helper:{suffix}");
        let options = bollard::query_parameters::ImportImageOptionsBuilder::new()
            .quiet(true)
            .build();
        let body = bollard::body_full(tiny_image_archive(&tag).into());
        let mut progress = engine.docker.import_image(options, body, None);
        while let Some(item) = progress.next().await {
            item.unwrap();
        }
        let store = ModelStore {
            volume: format!("orchestrator-unit-helper-{suffix}"),
            volume_key: "model_store".to_owned(),
            mount_target: "/data".to_owned(),
            image: tag.clone(),
            project: "orchestrator-unit".to_owned(),
        };
        let name = helper_name(&store, "export");

        // Ctrl-C while the create request is in flight: the command's
        // future is polled once, then dropped.
        let mut create = Box::pin(HelperGuard::create(&engine, &store, &name, Helper::Export));
        assert!(futures_util::poll!(create.as_mut()).is_pending());
        drop(create);

        // A create request still in flight would add the container later.
        let mut left = None;
        for _ in 0..20 {
            left = container::inspect(&engine, &name).await.unwrap();
            if left.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        container::remove(&engine, &name).await.unwrap();
        engine
            .docker
            .remove_image(
                &tag,
                None::<bollard::query_parameters::RemoveImageOptions>,
                None,
            )
            .await
            .unwrap();
        let _ = volume::remove(&engine, &store.volume).await;
        assert!(left.is_none(), "the helper container {name} is left");
    }

    #[test]
    fn staging_contains_only_the_installed_files() {
        let mut builder = tar::Builder::new(Vec::new());
        let mut append = |path: &str, kind: tar::EntryType, data: &[u8]| {
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(kind);
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            builder.append_data(&mut header, path, data).unwrap();
        };
        append("./model.json", tar::EntryType::Regular, b"{}");
        append("metrics.json", tar::EntryType::Regular, b"{}");
        append("extra.bin", tar::EntryType::Regular, &[0; 4096]);
        append("sub", tar::EntryType::Directory, b"");
        append("sub/model.json", tar::EntryType::Regular, b"{}");
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(&builder.into_inner().unwrap()).unwrap();
        file.seek(SeekFrom::Start(0)).unwrap();

        let upload = staging_archive(file, Path::new("model.tar"), "staging", (1, 2)).unwrap();

        let mut archive = tar::Archive::new(upload.as_slice());
        let staged: Vec<(String, u64)> = archive
            .entries()
            .unwrap()
            .map(|entry| {
                let entry = entry.unwrap();
                let path = entry.path().unwrap().to_string_lossy().into_owned();
                (path, entry.header().uid().unwrap())
            })
            .collect();
        let expected: Vec<(String, u64)> =
            ["staging", "staging/model.json", "staging/metrics.json"]
                .into_iter()
                .map(|path| (path.to_owned(), 1))
                .collect();
        assert_eq!(staged, expected);
    }

    #[test]
    fn owner_from_image_user() {
        assert_eq!(parse_owner("10001:10001"), (10001, 10001));
        assert_eq!(parse_owner("10001"), (10001, 10001));
        assert_eq!(parse_owner(""), (0, 0));
        assert_eq!(parse_owner("app"), (0, 0));
    }
}
