//! The offline second machine, against the real Docker Engine. `up` builds
//! and runs a copy of the stack under its own project, names, tags and free
//! host port. `export` saves its images and model volume, and `down
//! --volumes --images` removes them. Then `import` loads the archives, and
//! `up --no-build` serves the reference predictions without any build and
//! without running the ETL, since the imported volume holds its model.
//!
//! With `CI=true` the test fails when Docker is unreachable; elsewhere it is
//! skipped with a message.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

const BINARY: &str = env!("CARGO_BIN_EXE_orchestrator");

fn repository_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the crate is inside the workspace")
        .to_owned()
}

fn docker_reachable() -> bool {
    let socket = std::env::var("DOCKER_HOST")
        .ok()
        .and_then(|host| host.strip_prefix("unix://").map(str::to_owned))
        .unwrap_or_else(|| "/var/run/docker.sock".to_owned());
    std::os::unix::net::UnixStream::connect(socket).is_ok()
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().unwrap().port()
}

/// Names that no other stack on the machine uses.
struct Names {
    project: String,
    etl_tag: String,
    api_tag: String,
    volume: String,
    network: String,
    etl: String,
    api: String,
    port: u16,
}

impl Names {
    fn new() -> Self {
        let id = std::process::id();
        Self {
            project: format!("transfer-e2e-{id}"),
            etl_tag: format!("transfer-e2e-etl:p{id}"),
            api_tag: format!("transfer-e2e-api:p{id}"),
            volume: format!("transfer-e2e-model-{id}"),
            network: format!("transfer-e2e-net-{id}"),
            etl: format!("transfer-e2e-etl-{id}"),
            api: format!("transfer-e2e-api-{id}"),
            port: free_port(),
        }
    }

    /// Returns the repository's `infra.toml` with every name replaced and every path
    /// made absolute, since the file lives in a temporary directory. The
    /// build step's target directory is pinned to `<root>/target`, where its
    /// `outputs` are, whatever `CARGO_TARGET_DIR` the test itself runs with.
    fn stack_file(&self) -> String {
        let root = repository_root();
        let root = root.display();
        format!(
            r#"
[project]
name = "{project}"

[build_steps.binaries]
command = ["cargo", "build", "--release", "--locked", "--target", "x86_64-unknown-linux-gnu", "-p", "etl", "-p", "api"]
workdir = "{root}"
env = {{ RUSTFLAGS = "-C target-feature=+crt-static", CARGO_TARGET_DIR = "{root}/target" }}
inputs = ["Cargo.toml", "Cargo.lock", "model-artifact/**", "etl/**", "api/**"]
outputs = ["target/x86_64-unknown-linux-gnu/release/etl", "target/x86_64-unknown-linux-gnu/release/api"]

[images.etl]
tag = "{etl_tag}"
context = "{root}"
dockerfile = "etl/Dockerfile"
ignore_file = "{root}/etl/Dockerfile.dockerignore"
after_steps = ["binaries"]

[images.api]
tag = "{api_tag}"
context = "{root}"
dockerfile = "api/Dockerfile"
ignore_file = "{root}/api/Dockerfile.dockerignore"
after_steps = ["binaries"]

[volumes.model_store]
name = "{volume}"

[networks.backend]
name = "{network}"
driver = "bridge"

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
            project = self.project,
            etl_tag = self.etl_tag,
            api_tag = self.api_tag,
            volume = self.volume,
            network = self.network,
            etl = self.etl,
            api = self.api,
            port = self.port,
        )
    }
}

/// Removes everything the stack created, even when the test fails.
struct Cleanup {
    stack_file: PathBuf,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = orchestrator(&self.stack_file, &["down", "--volumes", "--images"]);
    }
}

fn orchestrator(stack_file: &Path, args: &[&str]) -> Output {
    Command::new(BINARY)
        .arg("-f")
        .arg(stack_file)
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("the orchestrator binary runs")
}

fn run_ok(stack_file: &Path, args: &[&str]) -> String {
    let output = orchestrator(stack_file, args);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        output.status.success(),
        "`orchestrator {}` failed with {}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        args.join(" "),
        output.status
    );
    format!("{stdout}{stderr}")
}

/// Sends `POST /predict` and returns the `prediction` field.
fn predict(port: u16, features: [f64; 4]) -> i64 {
    let body = format!(
        r#"{{"sepal length (cm)": {}, "sepal width (cm)": {}, "petal length (cm)": {}, "petal width (cm)": {}}}"#,
        features[0], features[1], features[2], features[3]
    );
    let request = format!(
        "POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to the api");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "response: {response}");
    let json = response.split("\r\n\r\n").nth(1).expect("a response body");
    let value: serde_json::Value = serde_json::from_str(json).expect("a JSON body");
    value["prediction"].as_i64().expect("an integer prediction")
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
    if !docker_reachable() {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "CI=true and the Docker Engine is unreachable"
        );
        eprintln!("skipped: Docker Engine unreachable");
        return;
    }
    let names = Names::new();
    let dir = tempfile::tempdir().unwrap();
    let stack_file = dir.path().join("infra.toml");
    std::fs::write(&stack_file, names.stack_file()).unwrap();
    let _cleanup = Cleanup {
        stack_file: stack_file.clone(),
    };

    run_ok(&stack_file, &["up"]);
    let etl_id = image_id(&names.etl_tag).expect("up built the etl image");
    let api_id = image_id(&names.api_tag).expect("up built the api image");

    let archives = dir.path().join("archives");
    std::fs::create_dir(&archives).unwrap();
    let stack_tar = archives.join("stack.tar");
    let model_tar = archives.join("model.tar");
    run_ok(
        &stack_file,
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

    run_ok(&stack_file, &["down", "--volumes", "--images"]);
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
        &stack_file,
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

    let plan = run_ok(&stack_file, &["plan", "--no-build"]);
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

    let up = run_ok(&stack_file, &["up", "--no-build"]);
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
    assert_eq!(predict(names.port, [5.1, 3.5, 1.4, 0.2]), 0);
    assert_eq!(predict(names.port, [6.4, 3.2, 4.5, 1.5]), 1);
    assert_eq!(predict(names.port, [6.3, 3.3, 6.0, 2.5]), 2);
}
