//! Image export and import against the real Docker Engine, with small
//! `FROM scratch` images built for each test under unique tags and removed
//! afterwards. With `CI=true` the tests fail when the engine is unreachable;
//! elsewhere they are skipped with a message.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};

use bollard::query_parameters::{ListImagesOptionsBuilder, RemoveImageOptionsBuilder};
use orchestrator::archive::{self, sidecar, Contents};
use orchestrator::engine::image::{self, BuildRequest};
use orchestrator::engine::Engine;
use orchestrator::progress::Mode;
use orchestrator::transfer::{self, Imported, Meter, TransferError};
use sha2::{Digest, Sha256};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Connects to the engine, or returns `None` to skip outside CI.
async fn engine() -> Option<Engine> {
    match Engine::connect().await {
        Ok(engine) => Some(engine),
        Err(error) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("CI=true and the Docker Engine is unreachable: {error}")
        }
        Err(error) => {
            eprintln!("skipped: Docker Engine unreachable: {error}");
            None
        }
    }
}

/// Image tags created by one test, removed when it ends, even on failure.
struct Images {
    tags: Vec<String>,
}

impl Drop for Images {
    fn drop(&mut self) {
        let tags = std::mem::take(&mut self.tags);
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Runtime::new().expect("runtime for cleanup");
            runtime.block_on(async {
                let Ok(engine) = Engine::connect().await else {
                    return;
                };
                for tag in tags {
                    let options = RemoveImageOptionsBuilder::default().force(true).build();
                    let _ = engine.docker.remove_image(&tag, Some(options), None).await;
                }
            });
        })
        .join()
        .expect("cleanup thread");
    }
}

fn unique_tag() -> String {
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!(
        "orchestrator-transfer-test-{}-{count}:1",
        std::process::id()
    )
}

/// Builds a `FROM scratch` image holding one file with `payload` and
/// returns its image ID. The file also contains the tag, so no build reuses
/// the cached layer of another test, which that test may remove mid-build.
async fn build_image(engine: &Engine, tag: &str, payload: &str) -> String {
    let payload = format!("{payload}{tag}\n");
    let mut context = tar::Builder::new(Vec::new());
    for (name, content) in [
        (
            "Dockerfile",
            "FROM scratch\nCOPY payload.txt /payload.txt\n".as_bytes(),
        ),
        ("payload.txt", payload.as_bytes()),
    ] {
        let mut header = tar::Header::new_gnu();
        header.set_size(content.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        context.append_data(&mut header, name, content).unwrap();
    }
    let request = BuildRequest {
        tag: tag.to_owned(),
        dockerfile: "Dockerfile".to_owned(),
        build_args: Default::default(),
        labels: Default::default(),
        context_tar: context.into_inner().unwrap(),
    };
    image::build(engine, request, |_| {})
        .await
        .expect("test image builds")
}

async fn remove_image(engine: &Engine, tag: &str) {
    let options = RemoveImageOptionsBuilder::default().force(true).build();
    engine
        .docker
        .remove_image(tag, Some(options), None)
        .await
        .expect("test image removed");
}

/// Lists the images in the engine, untagged ones included, that a load of
/// the archive would add or retag: those with its image ID or its tag.
/// Other tests and builds on the machine change the rest of the list at
/// any time, so only these entries can be compared.
async fn image_list(engine: &Engine, id: &str, tag: &str) -> BTreeSet<(String, Vec<String>)> {
    let options = ListImagesOptionsBuilder::default().all(true).build();
    let images = engine.docker.list_images(Some(options)).await.unwrap();
    images
        .into_iter()
        .filter(|summary| summary.id == id || summary.repo_tags.iter().any(|found| found == tag))
        .map(|summary| (summary.id, summary.repo_tags))
        .collect()
}

async fn export(
    engine: &Engine,
    tags: &[String],
    path: &Path,
) -> Result<transfer::WrittenArchive, TransferError> {
    let meter = Meter::start(Mode::Quiet, "export", None);
    transfer::export_images(engine, tags, path, &meter).await
}

fn sha256_file(path: &Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(path).unwrap()))
}

#[tokio::test]
async fn export_import_round_trip() {
    let Some(engine) = engine().await else { return };
    let tag = unique_tag();
    let _cleanup = Images {
        tags: vec![tag.clone()],
    };
    let id = build_image(&engine, &tag, "round trip payload\n").await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stack.tar");

    let written = export(&engine, std::slice::from_ref(&tag), &path)
        .await
        .unwrap();
    assert_eq!(written.path, path);
    assert_eq!(written.sha256, sha256_file(&path));
    assert_eq!(written.bytes, std::fs::metadata(&path).unwrap().len());
    let sidecar_text = std::fs::read_to_string(sidecar::sidecar_path(&path)).unwrap();
    assert_eq!(sidecar_text, format!("{}  stack.tar\n", written.sha256));
    let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(files.len(), 2, "only the archive and its sidecar");

    let (verified, _) = archive::verify_file(&path).unwrap();
    let Contents::Images(images) = verified.contents else {
        panic!("image archive expected")
    };
    assert_eq!(images.len(), 1);
    assert_eq!(
        images[0].tags,
        std::slice::from_ref(&tag),
        "only the requested tag is in the archive"
    );
    assert_eq!(images[0].id, id);

    remove_image(&engine, &tag).await;
    let imported = transfer::import_archive(&engine, &path, None, Mode::Quiet)
        .await
        .unwrap();
    let Imported::Images { loaded, archive } = imported else {
        panic!("images expected")
    };
    assert!(archive.sidecar_checked);
    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded[0].tag, tag);
    assert_eq!(loaded[0].id, id);
    assert_eq!(loaded[0].previous, None);

    let again = transfer::import_archive(&engine, &path, None, Mode::Quiet)
        .await
        .unwrap();
    let Imported::Images { loaded, .. } = again else {
        panic!("images expected")
    };
    assert_eq!(loaded[0].previous.as_deref(), Some(id.as_str()));
}

#[tokio::test]
async fn import_reports_moved_tag() {
    let Some(engine) = engine().await else { return };
    let tag = unique_tag();
    let _cleanup = Images {
        tags: vec![tag.clone()],
    };
    let old_id = build_image(&engine, &tag, "first version\n").await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.tar");
    export(&engine, std::slice::from_ref(&tag), &path)
        .await
        .unwrap();

    let new_id = build_image(&engine, &tag, "second version\n").await;
    assert_ne!(old_id, new_id);
    let imported = transfer::import_archive(&engine, &path, None, Mode::Quiet)
        .await
        .unwrap();
    let Imported::Images { loaded, .. } = imported else {
        panic!("images expected")
    };
    assert_eq!(loaded[0].id, old_id);
    assert_eq!(loaded[0].previous.as_deref(), Some(new_id.as_str()));
    // The image the tag left stays in the engine, untagged.
    let _ = engine
        .docker
        .remove_image(
            &new_id,
            None::<bollard::query_parameters::RemoveImageOptions>,
            None,
        )
        .await;
}

/// Writes a copy of `source` with `edit` applied, and no sidecar unless
/// `edit` writes one.
fn corrupt_copy(
    source: &Path,
    dir: &Path,
    name: &str,
    edit: impl FnOnce(&mut Vec<u8>, &Path),
) -> std::path::PathBuf {
    let target = dir.join(name);
    let mut bytes = std::fs::read(source).unwrap();
    edit(&mut bytes, &target);
    std::fs::write(&target, bytes).unwrap();
    target
}

fn find(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
        .expect("needle is in the archive")
}

/// Appends an entry named `../escaped` before the end-of-archive marker.
fn append_escaping_entry(bytes: &mut Vec<u8>) {
    let end = bytes.len() - 1024;
    bytes.truncate(end);
    let mut header = tar::Header::new_gnu();
    header.set_size(1);
    header.set_mode(0o644);
    header.set_entry_type(tar::EntryType::Regular);
    let name = b"../escaped";
    header.as_old_mut().name[..name.len()].copy_from_slice(name);
    header.set_cksum();
    bytes.extend_from_slice(header.as_bytes());
    let mut block = [0u8; 512];
    block[0] = b'x';
    bytes.extend_from_slice(&block);
    bytes.extend_from_slice(&[0u8; 1024]);
}

#[tokio::test]
async fn corrupt_archives_change_nothing() {
    let Some(engine) = engine().await else { return };
    let tag = unique_tag();
    let _cleanup = Images {
        tags: vec![tag.clone()],
    };
    let payload = format!("payload of {tag}\n");
    let id = build_image(&engine, &tag, &payload).await;
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.tar");
    let written = export(&engine, std::slice::from_ref(&tag), &good)
        .await
        .unwrap();
    remove_image(&engine, &tag).await;

    let cases = [
        corrupt_copy(&good, dir.path(), "sidecar-mismatch.tar", |_, target| {
            let wrong = written.sha256.replace(
                &written.sha256[..1],
                if written.sha256.starts_with('0') {
                    "1"
                } else {
                    "0"
                },
            );
            std::fs::write(
                sidecar::sidecar_path(target),
                sidecar::format_line(&wrong, "sidecar-mismatch.tar"),
            )
            .unwrap();
        }),
        corrupt_copy(&good, dir.path(), "truncated.tar", |bytes, _| {
            bytes.truncate(bytes.len() / 2)
        }),
        corrupt_copy(&good, dir.path(), "flipped-layer-byte.tar", |bytes, _| {
            let position = find(bytes, payload.as_bytes());
            bytes[position] ^= 0x20;
        }),
        corrupt_copy(&good, dir.path(), "dot-dot-entry.tar", |bytes, _| {
            append_escaping_entry(bytes)
        }),
    ];

    let before = image_list(&engine, &id, &tag).await;
    assert!(before.is_empty(), "the image was removed: {before:?}");
    for path in &cases {
        let result = transfer::import_archive(&engine, path, None, Mode::Quiet).await;
        assert!(
            matches!(result, Err(TransferError::Verify { .. })),
            "{}: expected a verification failure, got {result:?}",
            path.display()
        );
        assert_eq!(
            image_list(&engine, &id, &tag).await,
            before,
            "{} changed the image list",
            path.display()
        );
    }
    assert!(image::inspect(&engine, &tag).await.unwrap().is_none());

    // The intact archive does change the list, so the checks above can fail.
    transfer::import_archive(&engine, &good, None, Mode::Quiet)
        .await
        .unwrap();
    let after = image_list(&engine, &id, &tag).await;
    assert_eq!(after, BTreeSet::from([(id.clone(), vec![tag.clone()])]));
}

#[tokio::test]
async fn export_unwritable_directory_fails() {
    let Some(engine) = engine().await else { return };
    let tag = unique_tag();
    let _cleanup = Images {
        tags: vec![tag.clone()],
    };
    build_image(&engine, &tag, "unwritable\n").await;

    // Root ignores permission bits, so an immutable directory (chattr +i)
    // stands for an unwritable one where the file system supports it, and
    // procfs, where no file can be created, elsewhere.
    let dir = tempfile::tempdir().unwrap();
    let immutable = std::process::Command::new("chattr")
        .arg("+i")
        .arg(dir.path())
        .status()
        .is_ok_and(|status| status.success());
    let target_dir = if immutable {
        dir.path().to_owned()
    } else {
        "/proc/1".into()
    };
    let path = target_dir.join("stack.tar");

    let result = export(&engine, std::slice::from_ref(&tag), &path).await;
    if immutable {
        let _ = std::process::Command::new("chattr")
            .arg("-i")
            .arg(dir.path())
            .status();
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "no partial file"
        );
    }
    assert!(
        matches!(result, Err(TransferError::CreateTemporary { .. })),
        "{result:?}"
    );
    assert!(!path.exists());
}

#[tokio::test]
async fn export_missing_image_fails() {
    let Some(engine) = engine().await else { return };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stack.tar");
    let tag = unique_tag();
    let result = export(&engine, std::slice::from_ref(&tag), &path).await;
    assert!(
        matches!(&result, Err(TransferError::ImageMissing { tag: missing }) if *missing == tag),
        "{result:?}"
    );
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}
