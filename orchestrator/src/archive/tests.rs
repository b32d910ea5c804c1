//! Verification of well-formed archives and of corrupt and crafted ones.
//! Archives are built in memory with the `tar` crate; hostile entry names
//! that its builder refuses are written into raw header bytes.

use std::collections::BTreeMap;
use std::io::Cursor;
use std::path::Path;

use sha2::{Digest, Sha256};

use super::*;

/// `docker save xfer-explore:1` on Engine 20.10.24 of an image built from
/// `FROM scratch` + `COPY a.txt /a.txt` (a.txt = "hello\n"). The image ID
/// and diff ID below are the ones `docker build` and the config reported.
const REAL_SAVE: &[u8] = include_bytes!("testdata/docker-save-engine-20.10.tar");
const REAL_IMAGE_ID: &str =
    "sha256:e2e0e26d5b1bb5932b95cf39149c6da617403f918cf2b0d56c54bfa06f3a0c93";

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn verify_bytes(bytes: &[u8]) -> Result<VerifiedArchive, ArchiveError> {
    verify_reader(Cursor::new(bytes), None, Path::new("test.tar"))
}

/// One tar entry to build.
enum Item<'a> {
    File(&'a str, Vec<u8>),
    Dir(&'a str),
    Symlink(&'a str, &'a str),
    Hardlink(&'a str, &'a str),
    /// Raw name bytes written straight into the header, bypassing the
    /// builder's own path checks.
    RawFile(&'a [u8], Vec<u8>),
    Fifo(&'a str),
}

fn build(items: &[Item<'_>]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for item in items {
        let mut header = tar::Header::new_gnu();
        header.set_mode(0o644);
        header.set_mtime(0);
        match item {
            Item::File(path, data) => {
                header.set_size(data.len() as u64);
                header.set_entry_type(tar::EntryType::Regular);
                builder
                    .append_data(&mut header, path, data.as_slice())
                    .unwrap();
            }
            Item::Dir(path) => {
                header.set_size(0);
                header.set_entry_type(tar::EntryType::Directory);
                builder.append_data(&mut header, path, &[][..]).unwrap();
            }
            Item::Symlink(path, target) | Item::Hardlink(path, target) => {
                let kind = match item {
                    Item::Symlink(..) => tar::EntryType::Symlink,
                    _ => tar::EntryType::Link,
                };
                header.set_size(0);
                header.set_entry_type(kind);
                write_raw_name(&mut header.as_old_mut().linkname, target.as_bytes());
                builder.append_data(&mut header, path, &[][..]).unwrap();
            }
            Item::RawFile(name, data) => {
                header.set_size(data.len() as u64);
                header.set_entry_type(tar::EntryType::Regular);
                write_raw_name(&mut header.as_old_mut().name, name);
                header.set_cksum();
                builder.append(&header, data.as_slice()).unwrap();
            }
            Item::Fifo(path) => {
                header.set_size(0);
                header.set_entry_type(tar::EntryType::Fifo);
                builder.append_data(&mut header, path, &[][..]).unwrap();
            }
        }
    }
    builder.into_inner().unwrap()
}

fn write_raw_name(field: &mut [u8; 100], name: &[u8]) {
    field.fill(0);
    field[..name.len()].copy_from_slice(name);
}

/// Builds a layer tar of one file, as the engine would store it.
fn layer(content: &[u8]) -> Vec<u8> {
    build(&[Item::File("a.txt", content.to_vec())])
}

fn config_for(layers: &[&[u8]]) -> Vec<u8> {
    let diff_ids: Vec<String> = layers
        .iter()
        .map(|layer| format!("sha256:{}", sha256_hex(layer)))
        .collect();
    serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "rootfs": { "type": "layers", "diff_ids": diff_ids },
    }))
    .unwrap()
}

/// An archive in the `docker save` layout of Engine 20.10 with one image
/// of one layer, tagged `app:1`.
struct LegacyArchive {
    layer: Vec<u8>,
    config: Vec<u8>,
    manifest: Vec<u8>,
}

impl LegacyArchive {
    fn new() -> Self {
        let layer = layer(b"hello\n");
        let config = config_for(&[&layer]);
        let manifest = serde_json::to_vec(&serde_json::json!([{
            "Config": format!("{}.json", sha256_hex(&config)),
            "RepoTags": ["app:1"],
            "Layers": ["1111/layer.tar"],
        }]))
        .unwrap();
        Self {
            layer,
            config,
            manifest,
        }
    }

    fn config_name(&self) -> String {
        format!("{}.json", sha256_hex(&self.config))
    }

    fn bytes(&self) -> Vec<u8> {
        build(&[
            Item::File(&self.config_name(), self.config.clone()),
            Item::Dir("1111/"),
            Item::File("1111/VERSION", b"1.0".to_vec()),
            Item::File("1111/layer.tar", self.layer.clone()),
            Item::File("manifest.json", self.manifest.clone()),
        ])
    }

    fn image_id(&self) -> String {
        format!("sha256:{}", sha256_hex(&self.config))
    }
}

/// Builds an archive in the OCI image layout with one image of one layer.
fn oci_archive() -> (Vec<u8>, String) {
    let layer = layer(b"hello\n");
    let config = config_for(&[&layer]);
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": format!("sha256:{}", sha256_hex(&config)),
            "size": config.len(),
        },
        "layers": [{
            "mediaType": "application/vnd.oci.image.layer.v1.tar",
            "digest": format!("sha256:{}", sha256_hex(&layer)),
            "size": layer.len(),
        }],
    }))
    .unwrap();
    let manifest_digest = format!("sha256:{}", sha256_hex(&manifest));
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest_digest,
            "size": manifest.len(),
            "annotations": { "io.containerd.image.name": "docker.io/library/app:1" },
        }],
    }))
    .unwrap();

    let blob = |bytes: &[u8]| format!("blobs/sha256/{}", sha256_hex(bytes));
    let archive = build(&[
        Item::File("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec()),
        Item::File(&blob(&config), config.clone()),
        Item::File(&blob(&layer), layer.clone()),
        Item::File(&blob(&manifest), manifest.clone()),
        Item::File("index.json", index),
    ]);
    (archive, manifest_digest)
}

fn images(verified: VerifiedArchive) -> Vec<ArchivedImage> {
    match verified.contents {
        Contents::Images(images) => images,
        other => panic!("expected images, got {other:?}"),
    }
}

/// Offset of `needle` in `haystack`, for flipping a byte inside one entry.
fn find(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
        .expect("needle is in the archive")
}

#[test]
fn real_docker_save_verifies() {
    let verified = verify_bytes(REAL_SAVE).unwrap();
    // `sha256sum` of the fixture file.
    assert_eq!(
        verified.sha256,
        "d979db732343043aea2fd1190750e3a2f327eee42fe7a64b2047e4defc7b0e44"
    );
    assert_eq!(verified.size, REAL_SAVE.len() as u64);
    assert!(!verified.sidecar_checked);
    let images = images(verified);
    assert_eq!(images.len(), 1);
    assert_eq!(images[0].id, REAL_IMAGE_ID);
    assert_eq!(images[0].tags, ["xfer-explore:1"]);
}

#[test]
fn real_docker_save_every_flip_fails_with_sidecar() {
    let expected = sha256_hex(REAL_SAVE);
    let mut copy = REAL_SAVE.to_vec();
    // Every byte position: any change must fail, with no panic, once the
    // sidecar's digest is known. A step of 1 keeps the test exhaustive.
    for position in 0..copy.len() {
        copy[position] ^= 0x01;
        let result = verify_reader(Cursor::new(&copy), Some(&expected), Path::new("x.tar"));
        assert!(result.is_err(), "flip at byte {position} was accepted");
        copy[position] ^= 0x01;
    }
}

#[test]
fn real_docker_save_every_truncation_fails() {
    for length in (0..REAL_SAVE.len()).step_by(97).chain([
        REAL_SAVE.len() - 1,
        REAL_SAVE.len() - 512,
        REAL_SAVE.len() - 1024,
    ]) {
        let result = verify_bytes(&REAL_SAVE[..length]);
        assert!(
            result.is_err(),
            "archive cut at {length} bytes was accepted"
        );
    }
}

#[test]
fn legacy_layout_verifies() {
    let archive = LegacyArchive::new();
    let images = images(verify_bytes(&archive.bytes()).unwrap());
    assert_eq!(
        images,
        [ArchivedImage {
            id: archive.image_id(),
            tags: vec!["app:1".to_owned()],
        }]
    );
}

#[test]
fn legacy_flipped_layer_byte_fails() {
    let archive = LegacyArchive::new();
    let mut bytes = archive.bytes();
    let position = find(&bytes, b"hello\n");
    bytes[position] = b'j';
    match verify_bytes(&bytes) {
        Err(ArchiveError::DigestMismatch {
            entry, expected, ..
        }) => {
            assert_eq!(entry, "1111/layer.tar");
            assert_eq!(expected, sha256_hex(&archive.layer));
        }
        other => panic!("expected a layer digest mismatch, got {other:?}"),
    }
}

#[test]
fn legacy_flipped_config_byte_fails() {
    let archive = LegacyArchive::new();
    let mut bytes = archive.bytes();
    let position = find(&bytes, b"amd64");
    bytes[position] = b'A';
    match verify_bytes(&bytes) {
        Err(ArchiveError::DigestMismatch { entry, .. }) => {
            assert_eq!(entry, archive.config_name());
        }
        other => panic!("expected a config digest mismatch, got {other:?}"),
    }
}

#[test]
fn legacy_missing_layer_fails() {
    let archive = LegacyArchive::new();
    let bytes = build(&[
        Item::File(&archive.config_name(), archive.config.clone()),
        Item::File("manifest.json", archive.manifest.clone()),
    ]);
    match verify_bytes(&bytes) {
        Err(ArchiveError::MissingEntry {
            entry,
            referenced_by,
        }) => {
            assert_eq!(entry, "1111/layer.tar");
            assert_eq!(referenced_by, "manifest.json image 0");
        }
        other => panic!("expected a missing layer, got {other:?}"),
    }
}

#[test]
fn legacy_manifest_escape_fails() {
    let archive = LegacyArchive::new();
    let manifest = serde_json::to_vec(&serde_json::json!([{
        "Config": archive.config_name(),
        "RepoTags": ["app:1"],
        "Layers": ["../../etc/layer.tar"],
    }]))
    .unwrap();
    let bytes = build(&[
        Item::File(&archive.config_name(), archive.config.clone()),
        Item::File("manifest.json", manifest),
    ]);
    assert!(matches!(
        verify_bytes(&bytes),
        Err(ArchiveError::UnsafePath { .. })
    ));
}

#[test]
fn legacy_layer_count_mismatch_fails() {
    let archive = LegacyArchive::new();
    let manifest = serde_json::to_vec(&serde_json::json!([{
        "Config": archive.config_name(),
        "RepoTags": ["app:1"],
        "Layers": ["1111/layer.tar", "1111/layer.tar"],
    }]))
    .unwrap();
    let bytes = build(&[
        Item::File(&archive.config_name(), archive.config.clone()),
        Item::File("1111/layer.tar", archive.layer.clone()),
        Item::File("manifest.json", manifest),
    ]);
    assert!(matches!(
        verify_bytes(&bytes),
        Err(ArchiveError::InvalidMetadata { .. })
    ));
}

#[test]
fn legacy_invalid_tag_fails() {
    let archive = LegacyArchive::new();
    let manifest = serde_json::to_vec(&serde_json::json!([{
        "Config": archive.config_name(),
        "RepoTags": ["app:1\nother"],
        "Layers": ["1111/layer.tar"],
    }]))
    .unwrap();
    let bytes = build(&[
        Item::File(&archive.config_name(), archive.config.clone()),
        Item::File("1111/layer.tar", archive.layer.clone()),
        Item::File("manifest.json", manifest),
    ]);
    assert!(matches!(
        verify_bytes(&bytes),
        Err(ArchiveError::InvalidMetadata { .. })
    ));
}

#[test]
fn shared_layer_symlink_verifies() {
    // Engine 20.10 writes a layer that two images share once, and a
    // relative symbolic link to it from the second image's directory.
    let archive = LegacyArchive::new();
    let manifest = serde_json::to_vec(&serde_json::json!([
        { "Config": archive.config_name(), "RepoTags": ["app:1"], "Layers": ["1111/layer.tar"] },
        { "Config": archive.config_name(), "RepoTags": ["app:2"], "Layers": ["2222/layer.tar"] },
    ]))
    .unwrap();
    let bytes = build(&[
        Item::File(&archive.config_name(), archive.config.clone()),
        Item::Dir("1111/"),
        Item::File("1111/layer.tar", archive.layer.clone()),
        Item::Dir("2222/"),
        Item::Symlink("2222/layer.tar", "../1111/layer.tar"),
        Item::File("manifest.json", manifest),
    ]);
    let images = images(verify_bytes(&bytes).unwrap());
    assert_eq!(images.len(), 2);
    assert_eq!(images[1].tags, ["app:2"]);
}

#[test]
fn oci_layout_verifies() {
    let (bytes, manifest_digest) = oci_archive();
    let images = images(verify_bytes(&bytes).unwrap());
    assert_eq!(
        images,
        [ArchivedImage {
            id: manifest_digest,
            tags: vec!["docker.io/library/app:1".to_owned()],
        }]
    );
}

#[test]
fn oci_flipped_blob_byte_fails() {
    let (mut bytes, _) = oci_archive();
    let position = find(&bytes, b"hello\n");
    bytes[position] = b'j';
    assert!(matches!(
        verify_bytes(&bytes),
        Err(ArchiveError::DigestMismatch { entry, .. }) if entry.starts_with("blobs/sha256/")
    ));
}

#[test]
fn oci_missing_blob_fails() {
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": format!("sha256:{}", "a".repeat(64)),
            "size": 10,
        }],
    }))
    .unwrap();
    let bytes = build(&[Item::File("index.json", index)]);
    match verify_bytes(&bytes) {
        Err(ArchiveError::MissingEntry {
            entry,
            referenced_by,
        }) => {
            assert_eq!(entry, format!("blobs/sha256/{}", "a".repeat(64)));
            assert_eq!(referenced_by, "index.json");
        }
        other => panic!("expected a missing blob, got {other:?}"),
    }
}

#[test]
fn oci_size_mismatch_fails() {
    let blob = b"{}".to_vec();
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": format!("sha256:{}", sha256_hex(&blob)),
            "size": 3,
        }],
    }))
    .unwrap();
    let bytes = build(&[
        Item::File(&format!("blobs/sha256/{}", sha256_hex(&blob)), blob),
        Item::File("index.json", index),
    ]);
    assert!(matches!(
        verify_bytes(&bytes),
        Err(ArchiveError::SizeMismatch {
            expected: 3,
            actual: 2,
            ..
        })
    ));
}

#[test]
fn oci_invalid_digest_fails() {
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{ "digest": "sha256:../../etc/passwd", "size": 1 }],
    }))
    .unwrap();
    let bytes = build(&[Item::File("index.json", index)]);
    assert!(matches!(
        verify_bytes(&bytes),
        Err(ArchiveError::InvalidDigest { .. })
    ));
}

#[test]
fn unreferenced_blob_is_still_checked() {
    let (mut bytes, _) = oci_archive();
    let name = format!("blobs/sha256/{}", "b".repeat(64));
    let extra = build(&[Item::File(&name, b"not what the name says".to_vec())]);
    // Splice the extra entry in before the end-of-archive marker.
    bytes.truncate(bytes.len() - 1024);
    bytes.extend_from_slice(&extra);
    assert!(matches!(
        verify_bytes(&bytes),
        Err(ArchiveError::DigestMismatch { entry, .. }) if entry == name
    ));
}

#[test]
fn unknown_blob_algorithm_fails() {
    let (mut bytes, _) = oci_archive();
    let extra = build(&[Item::File("blobs/md5/abc", b"x".to_vec())]);
    bytes.truncate(bytes.len() - 1024);
    bytes.extend_from_slice(&extra);
    assert!(matches!(
        verify_bytes(&bytes),
        Err(ArchiveError::InvalidDigest { .. })
    ));
}

#[test]
fn hostile_entry_names_fail() {
    let cases: &[&[u8]] = &[
        b"../evil",
        b"a/../../evil",
        b"/etc/passwd",
        b"./../evil",
        b"..",
        b"\xff/evil",
    ];
    for name in cases {
        let bytes = build(&[
            Item::RawFile(name, b"x".to_vec()),
            Item::File("manifest.json", b"[]".to_vec()),
        ]);
        let result = verify_bytes(&bytes);
        assert!(
            matches!(result, Err(ArchiveError::UnsafePath { .. })),
            "{:?}: {result:?}",
            String::from_utf8_lossy(name)
        );
    }
}

#[test]
fn escaping_links_fail() {
    let cases = [
        Item::Symlink("up", ".."),
        Item::Symlink("a/b", "../../etc"),
        Item::Symlink("abs", "/etc/passwd"),
        Item::Hardlink("hard", "../etc/passwd"),
        Item::Hardlink("hard", "/etc/passwd"),
        Item::Hardlink("hard", "not-yet-written"),
    ];
    for case in cases {
        let bytes = build(&[case, Item::File("manifest.json", b"[]".to_vec())]);
        let result = verify_bytes(&bytes);
        assert!(
            matches!(result, Err(ArchiveError::UnsafeLink { .. })),
            "{result:?}"
        );
    }
}

#[test]
fn entry_through_link_fails() {
    // `dot -> .` then `dot/x` would let later names resolve differently
    // from how they read.
    let bytes = build(&[
        Item::Symlink("dot", "."),
        Item::File("dot/x", b"x".to_vec()),
        Item::File("manifest.json", b"[]".to_vec()),
    ]);
    assert!(matches!(
        verify_bytes(&bytes),
        Err(ArchiveError::UnsafePath { entry, .. }) if entry == "dot/x"
    ));
}

#[test]
fn link_over_directory_fails() {
    let bytes = build(&[
        Item::File("d/x", b"x".to_vec()),
        Item::Symlink("d", "elsewhere"),
    ]);
    assert!(matches!(
        verify_bytes(&bytes),
        Err(ArchiveError::UnsafePath { entry, .. }) if entry == "d"
    ));
}

#[test]
fn link_loop_fails() {
    let bytes = build(&[
        Item::Symlink("a", "b"),
        Item::Symlink("b", "a"),
        Item::File(
            "manifest.json",
            br#"[{"Config":"a","RepoTags":[],"Layers":[]}]"#.to_vec(),
        ),
    ]);
    assert!(matches!(
        verify_bytes(&bytes),
        Err(ArchiveError::UnsafeLink {
            reason: "too many levels of links",
            ..
        })
    ));
}

#[test]
fn duplicate_entry_fails() {
    let bytes = build(&[
        Item::File("manifest.json", b"[]".to_vec()),
        Item::File("manifest.json", b"[]".to_vec()),
    ]);
    assert!(matches!(
        verify_bytes(&bytes),
        Err(ArchiveError::DuplicateEntry { entry }) if entry == "manifest.json"
    ));
}

#[test]
fn device_entry_fails() {
    let bytes = build(&[
        Item::Fifo("pipe"),
        Item::File("manifest.json", b"[]".to_vec()),
    ]);
    assert!(matches!(
        verify_bytes(&bytes),
        Err(ArchiveError::UnsupportedEntry { entry, .. }) if entry == "pipe"
    ));
}

#[test]
fn missing_end_marker_fails() {
    let bytes = LegacyArchive::new().bytes();
    // Cut exactly after the last entry: every entry is complete.
    let cut = &bytes[..bytes.len() - 1024];
    assert!(matches!(
        verify_bytes(cut),
        Err(ArchiveError::MissingEndMarker { .. })
    ));
    let half_marker = &bytes[..bytes.len() - 512];
    assert!(matches!(
        verify_bytes(half_marker),
        Err(ArchiveError::MissingEndMarker { .. })
    ));
}

#[test]
fn truncated_entry_fails() {
    let archive = LegacyArchive::new();
    let bytes = archive.bytes();
    let position = find(&bytes, &archive.manifest);
    let cut = &bytes[..position + 10];
    assert!(matches!(
        verify_bytes(cut),
        Err(ArchiveError::TruncatedEntry { entry, actual: 10, .. }) if entry == "manifest.json"
    ));
}

#[test]
fn trailing_data_fails() {
    let mut bytes = LegacyArchive::new().bytes();
    bytes.extend_from_slice(&[0; 4096]);
    assert!(verify_bytes(&bytes).is_ok(), "zero padding is allowed");
    bytes.push(1);
    assert!(matches!(
        verify_bytes(&bytes),
        Err(ArchiveError::TrailingData { .. })
    ));
}

#[test]
fn non_tar_input_fails() {
    let inputs: [&[u8]; 3] = [b"", b"{\"not\": \"a tar\"}", &[0x5a; 2048]];
    for input in inputs {
        assert!(verify_bytes(input).is_err(), "{input:?}");
    }
}

#[test]
fn unknown_layout_fails() {
    let bytes = build(&[Item::File("readme.txt", b"x".to_vec())]);
    assert!(matches!(
        verify_bytes(&bytes),
        Err(ArchiveError::UnknownLayout)
    ));
}

#[test]
fn pseudo_random_flips_never_panic() {
    // A fixed linear congruential sequence (constants from Numerical
    // Recipes) so failures reproduce.
    let original = LegacyArchive::new().bytes();
    let mut state: u64 = 42;
    for _ in 0..2000 {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let position = (state >> 33) as usize % original.len();
        let mut copy = original.clone();
        copy[position] = (state >> 16) as u8;
        let _ = verify_bytes(&copy);
    }
}

fn model_json() -> Vec<u8> {
    use model_artifact::*;
    let artifact = ModelArtifact {
        format_version: FORMAT_VERSION,
        feature_names: vec!["a".into(), "b".into()],
        classes: vec![
            ClassLabel {
                index: 0,
                name: "first".into(),
            },
            ClassLabel {
                index: 1,
                name: "second".into(),
            },
        ],
        scaler: Scaler {
            mean: vec![1.0, 1.0],
            scale: vec![2.0, 2.0],
        },
        weights: vec![vec![1.0, 0.0], vec![0.0, 1.0]],
        intercepts: vec![0.0, 0.5],
        metrics: Metrics {
            accuracy: 1.0,
            per_class: vec![
                ClassMetrics {
                    class: 0,
                    precision: 1.0,
                    recall: 1.0,
                    f1: 1.0,
                    support: 1,
                },
                ClassMetrics {
                    class: 1,
                    precision: 1.0,
                    recall: 1.0,
                    f1: 1.0,
                    support: 1,
                },
            ],
            confusion_matrix: vec![vec![1, 0], vec![0, 1]],
        },
        rows: RowCounts {
            read: 2,
            dropped: DroppedRows::default(),
            train: 0,
            test: 2,
        },
        training: TrainingInfo {
            input_sha256: "0".repeat(64),
            trained_at: "2026-01-01T00:00:00Z".into(),
            program_version: "etl 0.1.0".into(),
            parameters: BTreeMap::new(),
        },
    };
    let bytes = artifact.to_json_bytes();
    Model::from_bytes(&bytes).expect("the sample model is valid");
    bytes
}

#[test]
fn volume_archive_verifies() {
    let model = model_json();
    let bytes = build(&[
        Item::File("model.json", model.clone()),
        Item::File("metrics.json", b"{\"accuracy\": 1.0}".to_vec()),
    ]);
    let verified = verify_bytes(&bytes).unwrap();
    let Contents::Volume(volume) = verified.contents else {
        panic!("expected a volume archive");
    };
    assert_eq!(volume.files, ["metrics.json", "model.json"]);
    // Model::version() is the first 12 hex digits of the file's SHA-256.
    assert_eq!(volume.model_version, sha256_hex(&model)[..12]);
}

#[test]
fn volume_archive_invalid_model_fails() {
    let bytes = build(&[Item::File("model.json", b"{\"weights\": []}".to_vec())]);
    assert!(matches!(
        verify_bytes(&bytes),
        Err(ArchiveError::InvalidModel { .. })
    ));
}

#[test]
fn volume_archive_link_fails() {
    let bytes = build(&[
        Item::File("model.json", model_json()),
        Item::Symlink("current", "model.json"),
    ]);
    assert!(matches!(
        verify_bytes(&bytes),
        Err(ArchiveError::UnsafeLink { .. })
    ));
}

#[test]
fn sidecar_mismatch_fails() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stack.tar");
    std::fs::write(&path, REAL_SAVE).unwrap();

    let good = sidecar::format_line(&sha256_hex(REAL_SAVE), "stack.tar");
    std::fs::write(sidecar::sidecar_path(&path), good).unwrap();
    let (verified, _) = verify_file(&path).unwrap();
    assert!(verified.sidecar_checked);

    let bad = sidecar::format_line(&"0".repeat(64), "stack.tar");
    std::fs::write(sidecar::sidecar_path(&path), bad).unwrap();
    match verify_file(&path) {
        Err(ArchiveError::ChecksumMismatch {
            expected, actual, ..
        }) => {
            assert_eq!(expected, "0".repeat(64));
            assert_eq!(actual, sha256_hex(REAL_SAVE));
        }
        other => panic!("expected a checksum mismatch, got {other:?}"),
    }
}

#[test]
fn verify_file_rewinds() {
    use std::io::Read;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stack.tar");
    std::fs::write(&path, REAL_SAVE).unwrap();
    let (_, mut file) = verify_file(&path).unwrap();
    let mut content = Vec::new();
    file.read_to_end(&mut content).unwrap();
    assert_eq!(content, REAL_SAVE);
}

#[test]
fn cancelled_verification_reports_cancelled() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stack.tar");
    std::fs::write(&path, REAL_SAVE).unwrap();

    let cancelled = std::sync::atomic::AtomicBool::new(true);
    match verify_file_unless(&path, &cancelled) {
        Err(ArchiveError::Cancelled { path: reported }) => assert_eq!(reported, path),
        other => panic!("expected a cancelled verification, got {other:?}"),
    }
    let not_cancelled = std::sync::atomic::AtomicBool::new(false);
    let (verified, _) = verify_file_unless(&path, &not_cancelled).unwrap();
    assert_eq!(images(verified)[0].id, REAL_IMAGE_ID);
}

/// Written by `skopeo copy docker-daemon:transfer-oci-fixture:1
/// oci-archive:skopeo-oci-archive.tar:transfer-oci-fixture:1` (skopeo 1.9.3
/// from Debian 12) from an image built on Engine 20.10.24 out of
/// `FROM scratch` and `COPY hello.txt /hello.txt`, where hello.txt contains
/// "hello from an OCI layout\n". The manifest digest below is the one
/// skopeo wrote with `--digestfile`.
const REAL_OCI: &[u8] = include_bytes!("testdata/skopeo-oci-archive.tar");
const REAL_OCI_MANIFEST: &str =
    "sha256:8971a668324596996a1269c565f30d7a4db5c68a32591c3c766a615c93e015f1";

/// The blobs of [`REAL_OCI`]: its gzip layer, manifest and config.
const REAL_OCI_BLOBS: [&str; 3] = [
    "49ab2f9e045a653e5a15c4fe8170e8f98d2deb3bc0d6c084d076b5f59b4bd104",
    "8971a668324596996a1269c565f30d7a4db5c68a32591c3c766a615c93e015f1",
    "ac48e052c58316665a276c64179dc6f9dc931061f1b2163a378a3743d859fd97",
];

/// Offset and size of the content of `entry` in the tar `bytes`.
fn entry_content(bytes: &[u8], entry: &str) -> (usize, usize) {
    let mut archive = tar::Archive::new(bytes);
    let found = archive
        .entries()
        .unwrap()
        .map(Result::unwrap)
        .find(|item| item.path().unwrap() == Path::new(entry))
        .unwrap_or_else(|| panic!("{entry} is in the archive"));
    (found.raw_file_position() as usize, found.size() as usize)
}

#[test]
fn real_oci_archive_verifies() {
    let verified = verify_bytes(REAL_OCI).unwrap();
    // `sha256sum` of the fixture file.
    assert_eq!(
        verified.sha256,
        "8d54c616c59667fb20202d6e1153081cf11dafbefcb528c49889d844b8b03ee6"
    );
    assert_eq!(verified.size, REAL_OCI.len() as u64);
    assert_eq!(
        images(verified),
        [ArchivedImage {
            id: REAL_OCI_MANIFEST.to_owned(),
            tags: vec!["transfer-oci-fixture:1".to_owned()],
        }]
    );
}

#[test]
fn real_oci_flipped_blob_byte_fails() {
    for blob in REAL_OCI_BLOBS {
        let entry = format!("blobs/sha256/{blob}");
        let (offset, size) = entry_content(REAL_OCI, &entry);
        let mut copy = REAL_OCI.to_vec();
        copy[offset + size / 2] ^= 0x01;
        match verify_bytes(&copy) {
            Err(ArchiveError::DigestMismatch {
                entry: reported,
                expected,
                ..
            }) => {
                assert_eq!(reported, entry);
                assert_eq!(expected, blob);
            }
            other => panic!("flip in {entry}: expected a digest mismatch, got {other:?}"),
        }
    }
}

/// Entries that a reader which disagrees on the preceding header would
/// extract: a manifest that also loads a second, never verified image.
fn hidden_entries() -> Vec<u8> {
    let manifest = serde_json::to_vec(&serde_json::json!([{
        "Config": "2222.json",
        "RepoTags": ["hidden:1"],
        "Layers": [],
    }]))
    .unwrap();
    let mut bytes = build(&[
        Item::File("manifest.json", manifest),
        Item::File("2222.json", b"{}".to_vec()),
    ]);
    bytes.truncate(bytes.len() - 1024);
    bytes
}

/// Builds a ustar header of `kind` with a raw name and a declared size.
fn raw_header(name: &[u8], kind: tar::EntryType, size: u64) -> tar::Header {
    let mut header = tar::Header::new_ustar();
    write_raw_name(&mut header.as_old_mut().name, name);
    header.set_entry_type(kind);
    header.set_mode(0o755);
    header.set_mtime(0);
    header.set_size(size);
    header.set_cksum();
    header
}

/// Builds a verifiable image archive followed by `header`, `data` padded
/// to a block, and the end-of-archive marker.
fn legacy_then(header: &tar::Header, data: &[u8]) -> Vec<u8> {
    let mut bytes = LegacyArchive::new().bytes();
    bytes.truncate(bytes.len() - 1024);
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(data);
    bytes.resize(bytes.len().next_multiple_of(512) + 1024, 0);
    bytes
}

/// Builds a pax extended header with `records`, followed by a file.
fn pax_then_file(records: &[(&str, &str)], name: &str, data: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    for (key, value) in records {
        let record = format!(" {key}={value}\n");
        // The length prefix counts its own digits.
        let mut length = record.len() + 1;
        while format!("{length}{record}").len() != length {
            length += 1;
        }
        body.extend_from_slice(format!("{length}{record}").as_bytes());
    }
    let mut bytes = raw_header(b"PaxHeader", tar::EntryType::XHeader, body.len() as u64)
        .as_bytes()
        .to_vec();
    bytes.extend_from_slice(&body);
    bytes.resize(bytes.len().next_multiple_of(512), 0);
    let file = raw_header(name.as_bytes(), tar::EntryType::Regular, data.len() as u64);
    bytes.extend_from_slice(file.as_bytes());
    bytes.extend_from_slice(data);
    bytes.resize(bytes.len().next_multiple_of(512), 0);
    bytes
}

fn assert_ambiguous(bytes: &[u8], expected_entry: &str) {
    match verify_bytes(bytes) {
        Err(ArchiveError::AmbiguousEntry { entry, .. }) => assert_eq!(entry, expected_entry),
        other => panic!("expected an ambiguous entry {expected_entry:?}, got {other:?}"),
    }
}

#[test]
fn header_only_entries_with_content_fail() {
    // Go's archive/tar, which the engine loads with, reads no data after
    // these headers, so it would extract the hidden manifest.
    let hidden = hidden_entries();
    for kind in [
        tar::EntryType::Directory,
        tar::EntryType::Symlink,
        tar::EntryType::Link,
    ] {
        let mut header = raw_header(b"pad", kind, hidden.len() as u64);
        header.set_link_name("manifest.json").unwrap();
        header.set_cksum();
        assert_ambiguous(&legacy_then(&header, &hidden), "pad");
    }
}

#[test]
fn old_style_file_named_as_directory_fails() {
    let hidden = hidden_entries();
    let mut header = raw_header(b"pad/", tar::EntryType::Regular, hidden.len() as u64);
    header.as_old_mut().linkflag = [0];
    header.set_cksum();
    assert_ambiguous(&legacy_then(&header, &hidden), "pad");
}

#[test]
fn nul_in_long_name_fails() {
    // Go cuts a GNU long name at its first NUL: `manifest.json` here.
    let name = b"manifest.json\0hidden";
    let mut long = tar::Header::new_gnu();
    long.as_old_mut().name[..13].copy_from_slice(b"././@LongLink");
    long.set_entry_type(tar::EntryType::GNULongName);
    long.set_size(name.len() as u64);
    long.set_mtime(0);
    long.set_cksum();
    let mut data = name.to_vec();
    data.resize(512, 0);
    let mut file = tar::Header::new_gnu();
    file.set_path("short").unwrap();
    file.set_size(2);
    file.set_mtime(0);
    file.set_cksum();
    data.extend_from_slice(file.as_bytes());
    data.extend_from_slice(b"[]");
    assert_ambiguous(&legacy_then(&long, &data), "manifest.json\0hidden");
}

#[test]
fn duplicate_pax_key_fails() {
    // The tar crate takes the first `path`, Go the last.
    let tail = pax_then_file(
        &[("path", "decoy.json"), ("path", "manifest.json")],
        "decoy",
        b"[]",
    );
    let mut bytes = LegacyArchive::new().bytes();
    bytes.truncate(bytes.len() - 1024);
    bytes.extend_from_slice(&tail);
    bytes.extend_from_slice(&[0; 1024]);
    assert_ambiguous(&bytes, "decoy.json");
}

#[test]
fn gnu_sparse_pax_records_fail() {
    // Go renames the entry to `GNU.sparse.name`; the tar crate does not.
    let tail = pax_then_file(
        &[
            ("GNU.sparse.major", "0"),
            ("GNU.sparse.minor", "1"),
            ("GNU.sparse.name", "manifest.json"),
            ("GNU.sparse.size", "2"),
            ("GNU.sparse.numblocks", "1"),
            ("GNU.sparse.map", "0,2"),
        ],
        "decoy",
        b"[]",
    );
    let mut bytes = LegacyArchive::new().bytes();
    bytes.truncate(bytes.len() - 1024);
    bytes.extend_from_slice(&tail);
    bytes.extend_from_slice(&[0; 1024]);
    assert_ambiguous(&bytes, "decoy");
}

#[test]
fn ustar_prefix_read_differently_fails() {
    // Go joins the prefix (`blobs/sha256/x` here) whatever the version
    // field contains, and reads a shorter prefix from star headers.
    // The tar crate applies the prefix of version `00` headers only.
    for (version, trailer, seen_as) in [(*b"xx", [0u8; 4], "x"), (*b"00", *b"tar\0", "blobs/x")] {
        let mut header = raw_header(b"x", tar::EntryType::Regular, 2);
        let bytes = header.as_mut_bytes();
        bytes[345..351].copy_from_slice(b"blobs/");
        bytes[263..265].copy_from_slice(&version);
        bytes[508..512].copy_from_slice(&trailer);
        header.set_cksum();
        assert_ambiguous(&legacy_then(&header, b"[]"), seen_as);
    }
}
