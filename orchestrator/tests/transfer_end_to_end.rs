//! The offline second machine, against the real Docker Engine. `up` builds
//! and runs a copy of the stack under its own project, names, tags and free
//! host port. `export` saves its images and model volume, and `down
//! --volumes --images` removes them. Then `import` loads the archives, and
//! `up --no-build` serves the reference predictions without any build and
//! without running the ETL, since the imported volume holds its model.
//!
//! With `CI=true` the test fails when Docker is unreachable; elsewhere it is
//! skipped with a message.

mod common;

use std::process::Command;

use common::{engine_or_skip, prediction, run_ok, stack_header, Cleanup, Names};

/// Renders the stack of `infra.toml` with this run's names.
fn stack_file(names: &Names) -> String {
    format!(
        r#"{header}
[containers.{etl}]
image = "etl"
run = "once"
timeout = "10m"
outputs = ["/data/model.json"]
env = {{ ETL_OUTPUT_DIR = "/data", ETL_MIN_ACCURACY = "0.9", ETL_SEED = "42" }}
mounts = [{{ volume = "model_store", target = "/data" }}]
networks = ["backend"]
resources = {{ memory = "512MiB", pids = 64 }}

[containers.{api}]
image = "api"
run = "service"
depends_on = ["{etl}"]
env = {{ API_ADDR = "0.0.0.0:8000", API_MODEL_PATH = "/data/model.json", RUST_LOG = "info" }}
mounts = [{{ volume = "model_store", target = "/data", read_only = true }}]
networks = ["backend"]
ports = [{{ host = {port}, container = 8000, host_ip = "127.0.0.1" }}]
restart = "unless-stopped"
healthcheck = {{ command = ["/api", "healthcheck"], interval = "2s", timeout = "2s", retries = 3, start_period = "2s" }}
resources = {{ memory = "128MiB", pids = 64, cpus = 1.0 }}
"#,
        header = stack_header(names),
        etl = names.etl,
        api = names.api,
        port = names.port,
    )
}

fn image_id(tag: &str) -> Option<String> {
    let output = Command::new("docker")
        .args(["image", "inspect", "--format", "{{.Id}}", tag])
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

fn container_exists(name: &str) -> bool {
    Command::new("docker")
        .args(["container", "inspect", "--format", "{{.Id}}", name])
        .output()
        .is_ok_and(|output| output.status.success())
}

#[test]
fn export_import_serves_without_build() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    if engine_or_skip(&runtime).is_none() {
        return;
    }
    let names = Names::new("xfer");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("infra.toml");
    std::fs::write(&file, stack_file(&names)).unwrap();
    let _cleanup = Cleanup { file: file.clone() };

    run_ok(&file, &["up"]);
    let etl_id = image_id(&names.etl_tag).expect("up built the etl image");
    let api_id = image_id(&names.api_tag).expect("up built the api image");

    let archives = dir.path().join("archives");
    std::fs::create_dir(&archives).unwrap();
    let stack_tar = archives.join("stack.tar");
    let model_tar = archives.join("model.tar");
    run_ok(
        &file,
        &[
            "export",
            "--tar",
            stack_tar.to_str().unwrap(),
            "--volumes",
            model_tar.to_str().unwrap(),
        ],
    );
    assert!(archives.join("stack.tar.sha256").exists());
    assert!(archives.join("model.tar.sha256").exists());

    run_ok(&file, &["down", "--volumes", "--images"]);
    assert_eq!(
        image_id(&names.etl_tag),
        None,
        "down --images removed the etl image"
    );
    assert_eq!(
        image_id(&names.api_tag),
        None,
        "down --images removed the api image"
    );

    let imported = run_ok(
        &file,
        &[
            "import",
            stack_tar.to_str().unwrap(),
            model_tar.to_str().unwrap(),
        ],
    );
    assert!(
        imported.contains(&format!("loaded {}", names.etl_tag)),
        "{imported}"
    );
    assert!(
        imported.contains(&format!("loaded {}", names.api_tag)),
        "{imported}"
    );
    assert!(
        imported.contains(&format!("into volume {}", names.volume)),
        "{imported}"
    );
    assert_eq!(image_id(&names.etl_tag).as_deref(), Some(etl_id.as_str()));
    assert_eq!(image_id(&names.api_tag).as_deref(), Some(api_id.as_str()));

    // A second machine has no record of the first one's ETL run: drop it,
    // so that only the model found in the imported volume decides.
    let records = dir.path().join("target/.orchestrator").join(&names.project);
    std::fs::remove_dir_all(&records).expect("up recorded the ETL run");

    let plan = run_ok(&file, &["plan", "--no-build"]);
    let label = format!("{}:", names.etl);
    let etl_line = plan
        .lines()
        .find(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            words.get(1) == Some(&"container") && words.get(2) == Some(&label.as_str())
        })
        .unwrap_or_else(|| panic!("plan has a line for {}:\n{plan}", names.etl));
    assert!(
        etl_line.starts_with("keep") && etl_line.ends_with("output present in volume, kept"),
        "the imported model keeps the ETL from running: {etl_line}"
    );

    let up = run_ok(&file, &["up", "--no-build"]);
    assert!(!up.contains("ran build step"), "no build step ran:\n{up}");
    assert!(!up.contains("built image"), "no image was built:\n{up}");
    assert!(
        !up.contains(&format!("ran {}", names.etl)),
        "the ETL did not run:\n{up}"
    );
    assert!(
        !container_exists(&names.etl),
        "no ETL container was created:\n{up}"
    );

    // Reference predictions: the first, an interior and the last row of the
    // iris data set bundled with the ETL (classes 0, 1 and 2).
    assert_eq!(prediction(names.port, [5.1, 3.5, 1.4, 0.2]), 0);
    assert_eq!(prediction(names.port, [6.4, 3.2, 4.5, 1.5]), 1);
    assert_eq!(prediction(names.port, [6.3, 3.3, 6.0, 2.5]), 2);
}
