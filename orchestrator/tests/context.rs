//! Build contexts against a real directory tree: which files are sent, what
//! the tar holds, and when the content hash changes.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use orchestrator::context::BuildContext;
use orchestrator::spec::ImageSpec;

fn write(root: &Path, path: &str, content: &str) {
    let path = root.join(path);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, content).unwrap();
}

/// Creates a context shaped like this repository: the Dockerfile and ignore file in
/// `etl/`, sources beside them and a Cargo `target/` with the binary.
fn sample_tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(
        root,
        "etl/Dockerfile",
        "FROM scratch\nCOPY target/release/etl /etl\n",
    );
    write(
        root,
        "etl/Dockerfile.dockerignore",
        "*\n!target/release/etl\n",
    );
    write(root, "etl/src/main.rs", "fn main() {}\n");
    write(root, "target/release/etl", "binary");
    write(root, "target/release/api", "other binary");
    write(root, "target/debug/big", "debug build");
    write(root, "README.md", "readme");
    dir
}

fn image(root: &Path, ignore_file: Option<&str>) -> ImageSpec {
    ImageSpec {
        key: "etl".into(),
        tag: "etl_app:latest".into(),
        context: root.to_path_buf(),
        dockerfile: "etl/Dockerfile".into(),
        ignore_file: ignore_file.map(|f| root.join(f)),
        build_args: BTreeMap::new(),
        after_steps: Vec::new(),
    }
}

fn file_paths(context: &BuildContext) -> Vec<String> {
    context
        .entries
        .iter()
        .filter(|e| matches!(e.kind, orchestrator::context::EntryKind::File { .. }))
        .map(|e| e.path.clone())
        .collect()
}

#[test]
fn ignore_file_selects_files() {
    let dir = sample_tree();
    let context =
        BuildContext::collect(&image(dir.path(), Some("etl/Dockerfile.dockerignore"))).unwrap();
    assert_eq!(
        file_paths(&context),
        [
            "etl/Dockerfile",
            "etl/Dockerfile.dockerignore",
            "target/release/etl"
        ]
    );
}

#[test]
fn target_never_sent_without_exception() {
    let dir = sample_tree();
    // No ignore file at all: everything but `target/` is sent.
    let context = BuildContext::collect(&image(dir.path(), None)).unwrap();
    let files = file_paths(&context);
    assert!(files.contains(&"README.md".to_string()));
    assert!(files.contains(&"etl/src/main.rs".to_string()));
    assert!(files.iter().all(|f| !f.starts_with("target/")), "{files:?}");
}

#[test]
fn default_dockerignore_is_read() {
    let dir = sample_tree();
    write(dir.path(), ".dockerignore", "README.md\netl/src\n");
    let context = BuildContext::collect(&image(dir.path(), None)).unwrap();
    let files = file_paths(&context);
    assert!(!files.contains(&"README.md".to_string()));
    assert!(!files.contains(&"etl/src/main.rs".to_string()));
    assert!(files.contains(&".dockerignore".to_string()));
    assert!(files.contains(&"etl/Dockerfile".to_string()));
}

#[test]
fn tar_holds_the_selected_files() {
    let dir = sample_tree();
    let context =
        BuildContext::collect(&image(dir.path(), Some("etl/Dockerfile.dockerignore"))).unwrap();
    let bytes = context.to_tar().unwrap();
    let mut archive = tar::Archive::new(bytes.as_slice());
    let mut found = BTreeMap::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        assert_eq!(entry.header().uid().unwrap(), 0, "{path}");
        let mut content = String::new();
        std::io::Read::read_to_string(&mut entry, &mut content).unwrap();
        found.insert(path, content);
    }
    assert_eq!(
        found.get("target/release/etl").map(String::as_str),
        Some("binary")
    );
    assert!(found.contains_key("etl/Dockerfile"));
    assert!(!found.contains_key("target/release/api"));
    assert!(!found.keys().any(|p| p.starts_with("target/debug")));
}

#[test]
fn hash_follows_content_not_mtime() {
    let dir = sample_tree();
    let spec = image(dir.path(), Some("etl/Dockerfile.dockerignore"));
    let first = BuildContext::collect(&spec)
        .unwrap()
        .content_hash()
        .unwrap();

    // Rewriting the same bytes changes the modification time only.
    write(dir.path(), "target/release/etl", "binary");
    assert_eq!(
        BuildContext::collect(&spec)
            .unwrap()
            .content_hash()
            .unwrap(),
        first
    );

    // Ignored files do not count.
    write(dir.path(), "etl/src/main.rs", "fn main() { println!(); }\n");
    write(dir.path(), "target/release/api", "changed");
    assert_eq!(
        BuildContext::collect(&spec)
            .unwrap()
            .content_hash()
            .unwrap(),
        first
    );

    write(dir.path(), "target/release/etl", "binary v2");
    let changed = BuildContext::collect(&spec)
        .unwrap()
        .content_hash()
        .unwrap();
    assert_ne!(changed, first);

    write(
        dir.path(),
        "etl/Dockerfile",
        "FROM scratch\nCOPY target/release/etl /bin/etl\n",
    );
    assert_ne!(
        BuildContext::collect(&spec)
            .unwrap()
            .content_hash()
            .unwrap(),
        changed
    );
}

#[test]
fn build_args_change_hash() {
    let dir = sample_tree();
    let mut spec = image(dir.path(), Some("etl/Dockerfile.dockerignore"));
    let first = BuildContext::collect(&spec)
        .unwrap()
        .content_hash()
        .unwrap();
    spec.build_args
        .insert("BIN_DIR".into(), "target/other".into());
    assert_ne!(
        BuildContext::collect(&spec)
            .unwrap()
            .content_hash()
            .unwrap(),
        first
    );
}

#[test]
fn missing_context_is_reported() {
    let dir = sample_tree();
    let spec = image(&dir.path().join("nowhere"), None);
    let error = BuildContext::collect(&spec).unwrap_err();
    assert!(
        matches!(
            error,
            orchestrator::context::ContextError::MissingContext { .. }
        ),
        "{error}"
    );

    fs::remove_file(dir.path().join("etl/Dockerfile")).unwrap();
    let error = BuildContext::collect(&image(dir.path(), None)).unwrap_err();
    assert!(
        matches!(
            error,
            orchestrator::context::ContextError::MissingDockerfile { .. }
        ),
        "{error}"
    );
}

#[test]
fn repository_contexts_send_only_binaries() {
    // The real etl and api contexts of infra.toml: the repository root with
    // each image's ignore file.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    for (key, binary) in [("etl", "etl"), ("api", "api")] {
        let spec = ImageSpec {
            key: key.into(),
            tag: format!("{key}:test"),
            context: root.to_path_buf(),
            dockerfile: format!("{key}/Dockerfile"),
            ignore_file: Some(root.join(format!("{key}/Dockerfile.dockerignore"))),
            build_args: BTreeMap::new(),
            after_steps: Vec::new(),
        };
        let context = BuildContext::collect(&spec).unwrap();
        for path in file_paths(&context) {
            let allowed = path == format!("{key}/Dockerfile")
                || path == format!("{key}/Dockerfile.dockerignore")
                || path == "etl/data-mountpoint.tar"
                || path == format!("target/x86_64-unknown-linux-gnu/release/{binary}");
            assert!(allowed, "{key} context sends {path}");
        }
    }
}

#[test]
fn mountpoint_archive_is_one_directory() {
    // etl/Dockerfile ADDs this archive so that /data is owned by the
    // runtime user 10001:10001.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let bytes = fs::read(root.join("etl/data-mountpoint.tar")).unwrap();
    let mut archive = tar::Archive::new(bytes.as_slice());
    let entries: Vec<_> = archive
        .entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let header = e.header().clone();
            (e.path().unwrap().to_string_lossy().into_owned(), header)
        })
        .collect();
    assert_eq!(entries.len(), 1);
    let (path, header) = &entries[0];
    assert_eq!(path, "data/");
    assert!(header.entry_type().is_dir());
    assert_eq!(header.uid().unwrap(), 10001);
    assert_eq!(header.gid().unwrap(), 10001);
    assert_eq!(header.mode().unwrap(), 0o755);
}
