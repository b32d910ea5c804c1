//! The whole stack against the real Docker Engine, driven through the
//! `orchestrator` binary: `up` from nothing, predictions through the
//! published port, a no-op second `up`, a failing ETL that leaves the API
//! untouched, a stopped API that the next `up` starts again, a host port in
//! use, `down`, `down --volumes` and `up --no-build` without images.
//!
//! Every name is unique to this run (project, image tags, containers,
//! volume, network, host port), so a stack left running on the machine
//! cannot interfere. With `CI=true` the test fails when Docker is
//! unreachable; elsewhere it is skipped with a message.

mod common;

use std::net::TcpListener;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{
    api_container, engine_or_skip, etl_container, orchestrator, prediction, stack_header, text,
    Cleanup, Names, BINARY,
};
use orchestrator::engine::{container, network, volume, Engine};
use orchestrator::labels;

/// Writes the stack of `infra.toml` with this run's names, an optional ETL
/// input and the API's host port.
fn stack_file(names: &Names, etl_input: Option<&str>, host_port: u16) -> String {
    let etl_input = etl_input
        .map(|path| format!(", ETL_INPUT = \"{path}\""))
        .unwrap_or_default();
    format!(
        "{}{}{}",
        stack_header(names),
        etl_container(names, "2m", "42", &etl_input),
        api_container(names, host_port, "1s"),
    )
}

fn container_id(runtime: &tokio::runtime::Runtime, engine: &Engine, name: &str) -> Option<String> {
    runtime
        .block_on(container::inspect(engine, name))
        .unwrap()
        .and_then(|c| c.id)
}

fn container_running(runtime: &tokio::runtime::Runtime, engine: &Engine, name: &str) -> bool {
    let found = runtime.block_on(container::inspect(engine, name)).unwrap();
    found
        .and_then(|c| c.state)
        .and_then(|s| s.running)
        .unwrap_or(false)
}

#[test]
fn stack_lifecycle_on_real_engine() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let Some(engine) = engine_or_skip(&runtime) else {
        return;
    };
    let names = Names::new("e2e");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("stack.toml");
    std::fs::write(&file, stack_file(&names, None, names.port)).unwrap();
    let _cleanup = Cleanup { file: file.clone() };

    // `up` from nothing: build steps, images, volume, network, ETL, API.
    let output = orchestrator(&file, &["up"]);
    assert!(output.status.success(), "first up: {}", text(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains(&format!("http://127.0.0.1:{}", names.port)),
        "{stdout}"
    );

    // Reference classes: the first, 51st and 101st rows of the iris data set
    // (Fisher 1936, as shipped by scikit-learn) are setosa (0), versicolor (1)
    // and virginica (2).
    assert_eq!(prediction(names.port, [5.1, 3.5, 1.4, 0.2]), 0);
    assert_eq!(prediction(names.port, [6.4, 3.2, 4.5, 1.5]), 1);
    assert_eq!(prediction(names.port, [6.3, 3.3, 6.0, 2.5]), 2);

    // A second `up` changes nothing and reports it within a second.
    let etl_id = container_id(&runtime, &engine, &names.etl).expect("ETL container exists");
    let api_id = container_id(&runtime, &engine, &names.api).expect("API container exists");
    let started = Instant::now();
    let output = orchestrator(&file, &["up"]);
    let elapsed = started.elapsed();
    assert!(output.status.success(), "second up: {}", text(&output));
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("no changes"),
        "{}",
        text(&output)
    );
    assert!(
        elapsed < Duration::from_secs(1),
        "no-op up took {elapsed:?}"
    );
    assert_eq!(
        container_id(&runtime, &engine, &names.etl).as_ref(),
        Some(&etl_id)
    );
    assert_eq!(
        container_id(&runtime, &engine, &names.api).as_ref(),
        Some(&api_id)
    );

    // An ETL that exits non-zero fails `up` with exit code 4 and its last
    // log lines; the API keeps running and serving the previous model.
    std::fs::write(
        &file,
        stack_file(&names, Some("/no/such/input.csv"), names.port),
    )
    .unwrap();
    let output = orchestrator(&file, &["up"]);
    assert_eq!(
        output.status.code(),
        Some(4),
        "failing ETL: {}",
        text(&output)
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("container `{}` exited with code", names.etl)),
        "{stderr}"
    );
    assert!(stderr.contains("last log lines"), "{stderr}");
    assert_eq!(
        container_id(&runtime, &engine, &names.api).as_ref(),
        Some(&api_id)
    );
    assert!(container_running(&runtime, &engine, &names.api));
    assert_eq!(prediction(names.port, [5.1, 3.5, 1.4, 0.2]), 0);

    // Restoring the file converges again: the ETL reruns and succeeds.
    std::fs::write(&file, stack_file(&names, None, names.port)).unwrap();
    let output = orchestrator(&file, &["up"]);
    assert!(
        output.status.success(),
        "up after the failed ETL: {}",
        text(&output)
    );
    assert_eq!(prediction(names.port, [6.3, 3.3, 6.0, 2.5]), 2);

    // A killed API is restarted by the next `up`.
    runtime
        .block_on(container::stop(&engine, &names.api, Duration::from_secs(0)))
        .unwrap();
    assert!(!container_running(&runtime, &engine, &names.api));
    let output = orchestrator(&file, &["up"]);
    assert!(
        output.status.success(),
        "up after killing the API: {}",
        text(&output)
    );
    assert!(container_running(&runtime, &engine, &names.api));
    assert_eq!(prediction(names.port, [6.4, 3.2, 4.5, 1.5]), 1);

    // A host port in use fails with exit code 7 naming the port and the key.
    let blocker = TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = blocker.local_addr().unwrap().port();
    std::fs::write(&file, stack_file(&names, None, taken)).unwrap();
    let output = orchestrator(&file, &["up"]);
    assert_eq!(
        output.status.code(),
        Some(7),
        "port in use: {}",
        text(&output)
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&format!("127.0.0.1:{taken}")), "{stderr}");
    assert!(
        stderr.contains(&format!("[containers.{}]", names.api)),
        "{stderr}"
    );
    drop(blocker);
    std::fs::write(&file, stack_file(&names, None, names.port)).unwrap();
    let output = orchestrator(&file, &["up"]);
    assert!(
        output.status.success(),
        "up after freeing the port: {}",
        text(&output)
    );
    assert_eq!(prediction(names.port, [5.1, 3.5, 1.4, 0.2]), 0);

    // `down` removes containers and network, keeps the volume.
    let label = labels::project_filter(&names.project);
    let output = orchestrator(&file, &["down", "--timeout", "2"]);
    assert!(output.status.success(), "down: {}", text(&output));
    let containers = runtime
        .block_on(container::list_labelled(&engine, &label))
        .unwrap();
    assert!(containers.is_empty(), "containers left: {containers:?}");
    let networks = runtime
        .block_on(network::list_labelled(&engine, &label))
        .unwrap();
    assert!(networks.is_empty(), "networks left: {networks:?}");
    let kept = runtime
        .block_on(volume::inspect(&engine, &names.volume))
        .unwrap();
    assert!(kept.is_some(), "down removed the volume");

    // `down --volumes` removes it too.
    let output = orchestrator(&file, &["down", "--volumes"]);
    assert!(output.status.success(), "down --volumes: {}", text(&output));
    let gone = runtime
        .block_on(volume::inspect(&engine, &names.volume))
        .unwrap();
    assert!(gone.is_none(), "down --volumes kept the volume");

    // Without images, `up --no-build` fails with exit code 8 before creating anything.
    let output = orchestrator(&file, &["down", "--images"]);
    assert!(output.status.success(), "down --images: {}", text(&output));
    let output = orchestrator(&file, &["up", "--no-build"]);
    assert_eq!(
        output.status.code(),
        Some(8),
        "up --no-build without images: {}",
        text(&output)
    );
    assert!(runtime
        .block_on(volume::inspect(&engine, &names.volume))
        .unwrap()
        .is_none());
}

#[test]
fn unreachable_docker_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    let names = Names::new("e2e");
    let file = dir.path().join("stack.toml");
    std::fs::write(&file, stack_file(&names, None, names.port)).unwrap();
    let socket = dir.path().join("no-docker.sock");
    let output = Command::new(BINARY)
        .arg("-f")
        .arg(&file)
        .arg("status")
        .env("DOCKER_HOST", format!("unix://{}", socket.display()))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3), "{}", text(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&socket.display().to_string()), "{stderr}");
    assert!(stderr.contains("DOCKER_HOST"), "{stderr}");
}

#[test]
fn invalid_stack_exits_2_before_docker() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("stack.toml");
    std::fs::write(&file, "[project]\nname = \"x\"\nunknown_key = 1\n").unwrap();
    // An unreachable DOCKER_HOST proves that validation fails before any call.
    let output = Command::new(BINARY)
        .arg("-f")
        .arg(&file)
        .arg("up")
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("stack.toml:3:"), "{stderr}");
}
