//! What the real-engine tests share: unique names for one run, the part of
//! `infra.toml` every test stack starts with, running the `orchestrator`
//! binary, cleanup, and predictions through the published port.
//!
//! Each test file compiles its own copy of this module and uses part of
//! it, hence the `dead_code` allowance.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use orchestrator::engine::Engine;

pub const BINARY: &str = env!("CARGO_BIN_EXE_orchestrator");

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the crate is inside the workspace")
        .to_path_buf()
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind an ephemeral port")
        .local_addr()
        .unwrap()
        .port()
}

/// Names that no other stack on the machine uses: every one carries the
/// test's prefix and the process ID.
pub struct Names {
    pub project: String,
    pub etl_tag: String,
    pub api_tag: String,
    pub etl: String,
    pub api: String,
    pub volume: String,
    pub network: String,
    pub port: u16,
}

impl Names {
    pub fn new(prefix: &str) -> Self {
        let id = format!("{prefix}{}", std::process::id());
        Self {
            project: id.clone(),
            etl_tag: format!("orchestrator-{prefix}-etl:{id}"),
            api_tag: format!("orchestrator-{prefix}-api:{id}"),
            etl: format!("{id}-etl"),
            api: format!("{id}-api"),
            volume: format!("{id}-model-store"),
            network: format!("{id}-backend"),
            port: free_port(),
        }
    }
}

/// Renders the start of `infra.toml` with `names` and every path absolute,
/// since the stack file lives in a temporary directory: the project, the
/// build step, both images, the volume and the network. The build step pins
/// CARGO_TARGET_DIR to the workspace `target/`, where the Dockerfiles look
/// for the static binaries, whatever target directory the test runs with.
pub fn stack_header(names: &Names) -> String {
    let root = workspace_root();
    let root = root.display();
    format!(
        r#"
[project]
name = "{project}"

[build_steps.binaries]
command = ["cargo", "build", "--release", "--locked", "--target", "x86_64-unknown-linux-gnu", "-p", "etl", "-p", "api"]
env = {{ RUSTFLAGS = "-C target-feature=+crt-static", CARGO_TARGET_DIR = "{root}/target" }}
workdir = "{root}"
inputs = ["Cargo.toml", "Cargo.lock", "model-artifact/**", "etl/**", "api/**"]
outputs = ["{root}/target/x86_64-unknown-linux-gnu/release/etl", "{root}/target/x86_64-unknown-linux-gnu/release/api"]

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
"#,
        project = names.project,
        etl_tag = names.etl_tag,
        api_tag = names.api_tag,
        volume = names.volume,
        network = names.network,
    )
}

/// Renders the one-shot ETL container of `infra.toml`, with its run
/// `timeout`, its split `seed`, and `extra_env` appended to its `env`
/// table (`, ETL_INPUT = "…"`, say).
pub fn etl_container(names: &Names, timeout: &str, seed: &str, extra_env: &str) -> String {
    format!(
        r#"
[containers.{etl}]
image = "etl"
run = "once"
timeout = "{timeout}"
outputs = ["/data/model.json"]
env = {{ ETL_OUTPUT_DIR = "/data", ETL_MIN_ACCURACY = "0.9", ETL_SEED = "{seed}"{extra_env} }}
mounts = [{{ volume = "model_store", target = "/data" }}]
networks = ["backend"]
resources = {{ memory = "512MiB", pids = 64 }}
"#,
        etl = names.etl,
    )
}

/// Renders the API service of `infra.toml`, published on 127.0.0.1 at
/// `host_port`, whose health check runs every `health_interval` and first
/// after the same start period.
pub fn api_container(names: &Names, host_port: u16, health_interval: &str) -> String {
    format!(
        r#"
[containers.{api}]
image = "api"
run = "service"
depends_on = ["{etl}"]
env = {{ API_ADDR = "0.0.0.0:8000", API_MODEL_PATH = "/data/model.json", RUST_LOG = "info" }}
mounts = [{{ volume = "model_store", target = "/data", read_only = true }}]
networks = ["backend"]
ports = [{{ host = {host_port}, container = 8000, host_ip = "127.0.0.1" }}]
restart = "unless-stopped"
healthcheck = {{ command = ["/api", "healthcheck"], interval = "{health_interval}", timeout = "2s", retries = 3, start_period = "{health_interval}" }}
resources = {{ memory = "128MiB", pids = 64, cpus = 1.0 }}
"#,
        api = names.api,
        etl = names.etl,
    )
}

/// Runs `orchestrator -f FILE ARGS...` and returns its output.
pub fn orchestrator(file: &Path, args: &[&str]) -> Output {
    Command::new(BINARY)
        .arg("-f")
        .arg(file)
        .args(args)
        .output()
        .expect("the orchestrator binary runs")
}

/// Exit code, stdout and stderr of a run, for assertion messages.
pub fn text(output: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Runs `orchestrator -f FILE ARGS...`, requires success and returns
/// [`text`] of the run.
pub fn run_ok(file: &Path, args: &[&str]) -> String {
    let output = orchestrator(file, args);
    assert!(
        output.status.success(),
        "`orchestrator {}`: {}",
        args.join(" "),
        text(&output)
    );
    text(&output)
}

/// Removes everything the stack created, even when an assertion failed.
pub struct Cleanup {
    pub file: PathBuf,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let output = orchestrator(
            &self.file,
            &["-q", "down", "--volumes", "--images", "--timeout", "2"],
        );
        if !output.status.success() {
            eprintln!("cleanup failed: {}", text(&output));
        }
    }
}

/// Sends `POST /predict` for the iris measurements `features` and returns
/// the HTTP status and body.
pub fn predict(port: u16, features: [f64; 4]) -> (u16, String) {
    let body = format!(
        r#"{{"sepal length (cm)": {}, "sepal width (cm)": {}, "petal length (cm)": {}, "petal width (cm)": {}}}"#,
        features[0], features[1], features[2], features[3]
    );
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "POST /predict HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    let body = response
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_string();
    (status, body)
}

/// Sends `POST /predict`, requires a 200 and returns the `prediction` field.
pub fn prediction(port: u16, features: [f64; 4]) -> i64 {
    let (status, body) = predict(port, features);
    assert_eq!(status, 200, "POST /predict {features:?}: {body}");
    let value: serde_json::Value = serde_json::from_str(&body).unwrap();
    value["prediction"]
        .as_i64()
        .unwrap_or_else(|| panic!("no prediction in {body}"))
}

/// Connects to the engine, or returns `None` (skip) outside CI. With
/// `CI=true` an unreachable engine fails the test.
pub fn engine_or_skip(runtime: &tokio::runtime::Runtime) -> Option<Engine> {
    match runtime.block_on(Engine::connect()) {
        Ok(engine) => Some(engine),
        Err(error) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("CI=true and the Docker Engine is unreachable: {error}")
        }
        Err(error) => {
            eprintln!("skipped: the Docker Engine is unreachable ({error})");
            None
        }
    }
}
