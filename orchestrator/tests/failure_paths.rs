//! Paths of `up` that only show with a real Docker Engine, driven through
//! the `orchestrator` binary on a stack with its own project, names, image
//! tags and free host port:
//!
//! - after `down`, an unchanged `up` keeps the model in the volume and does
//!   not run the ETL; a changed ETL setting runs it again;
//! - a one-shot container that outlives its timeout is killed, exit code 5;
//! - a service whose healthcheck fails makes `up` fail promptly with the
//!   last probe output, exit code 4;
//! - SIGINT (Ctrl-C) during `up` stops it promptly with exit code 130, and
//!   the next `up` converges.
//!
//! With `CI=true` the test fails when Docker is unreachable; elsewhere it is
//! skipped with a message.

mod common;

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{
    api_container, engine_or_skip, etl_container, orchestrator, prediction, run_ok, stack_header,
    text, Cleanup, Names, BINARY,
};
use orchestrator::engine::{container, Engine};

/// Name of the container [`Extra`] adds to the base stack.
fn extra_name(names: &Names) -> String {
    format!("{}-extra", names.project)
}

/// A container added to the base stack under the name [`extra_name`].
enum Extra {
    None,
    /// A one-shot container running the api image, which serves until it
    /// is stopped and so never finishes, with this timeout.
    EndlessJob(&'static str),
    /// A service whose healthcheck probes a port nothing listens on.
    FailingHealthcheck,
}

/// Writes the stack of `infra.toml` with this run's names, the ETL seed
/// `seed` and the container `extra`.
fn stack_file(names: &Names, seed: u32, extra: Extra) -> String {
    let extra = match extra {
        Extra::None => String::new(),
        Extra::EndlessJob(timeout) => format!(
            r#"
[containers.{name}]
image = "api"
run = "once"
timeout = "{timeout}"
depends_on = ["{etl}"]
env = {{ API_ADDR = "0.0.0.0:8000", API_MODEL_PATH = "/data/model.json" }}
mounts = [{{ volume = "model_store", target = "/data", read_only = true }}]
"#,
            name = extra_name(names),
            etl = names.etl,
        ),
        Extra::FailingHealthcheck => format!(
            r#"
[containers.{name}]
image = "api"
run = "service"
depends_on = ["{etl}"]
env = {{ API_ADDR = "0.0.0.0:8000", API_MODEL_PATH = "/data/model.json" }}
mounts = [{{ volume = "model_store", target = "/data", read_only = true }}]
healthcheck = {{ command = ["/api", "healthcheck", "--addr", "127.0.0.1:1"], interval = "1s", timeout = "1s", retries = 1, start_period = "1s" }}
"#,
            name = extra_name(names),
            etl = names.etl,
        ),
    };
    format!(
        "{}{}{}{extra}",
        stack_header(names),
        etl_container(names, "2m", &seed.to_string(), ""),
        api_container(names, names.port, "1s"),
    )
}

/// Returns the line `plan --no-build` prints for the container `name`. The
/// images stay as built: other work on the same checkout may change the
/// sources between two steps of this test.
fn plan_line(file: &Path, name: &str) -> String {
    let plan = run_ok(file, &["plan", "--no-build"]);
    let label = format!("{name}:");
    plan.lines()
        .find(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            words.get(1) == Some(&"container") && words.get(2) == Some(&label.as_str())
        })
        .unwrap_or_else(|| panic!("no plan line for {name}:\n{plan}"))
        .to_string()
}

fn running(runtime: &tokio::runtime::Runtime, engine: &Engine, name: &str) -> bool {
    runtime
        .block_on(container::inspect(engine, name))
        .unwrap()
        .and_then(|c| c.state)
        .and_then(|s| s.running)
        .unwrap_or(false)
}

fn container_id(runtime: &tokio::runtime::Runtime, engine: &Engine, name: &str) -> Option<String> {
    runtime
        .block_on(container::inspect(engine, name))
        .unwrap()
        .and_then(|c| c.id)
}

fn exists(runtime: &tokio::runtime::Runtime, engine: &Engine, name: &str) -> bool {
    runtime
        .block_on(container::inspect(engine, name))
        .unwrap()
        .is_some()
}

/// Every `up` after the first runs with `--no-build`, so that other work on
/// the same checkout cannot trigger a build between two steps.
#[test]
fn failure_paths_on_real_engine() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let Some(engine) = engine_or_skip(&runtime) else {
        return;
    };
    let names = Names::new("fp");
    let extra = extra_name(&names);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("stack.toml");
    let write = |seed, added| std::fs::write(&file, stack_file(&names, seed, added)).unwrap();
    write(42, Extra::None);
    let _cleanup = Cleanup { file: file.clone() };
    let ran_etl = format!("ran {}", names.etl);

    let up = run_ok(&file, &["up"]);
    assert!(up.contains(&ran_etl), "{up}");
    // Reference class: the first row of the iris data set (Fisher 1936) is
    // setosa (0).
    assert_eq!(prediction(names.port, [5.1, 3.5, 1.4, 0.2]), 0);

    // After `down`, the model stays in the volume and the recorded run
    // matches: the ETL does not run again.
    run_ok(&file, &["down", "--timeout", "2"]);
    let line = plan_line(&file, &names.etl);
    assert!(
        line.starts_with("keep") && line.ends_with("output present in volume, kept"),
        "{line}"
    );
    let up = run_ok(&file, &["up", "--no-build"]);
    assert!(!up.contains(&ran_etl), "the ETL ran again: {up}");
    assert!(!exists(&runtime, &engine, &names.etl));
    assert_eq!(prediction(names.port, [6.3, 3.3, 6.0, 2.5]), 2);

    // A changed ETL setting differs from the recorded run: the ETL runs.
    run_ok(&file, &["down", "--timeout", "2"]);
    write(7, Extra::None);
    let line = plan_line(&file, &names.etl);
    assert!(
        line.starts_with("rerun") && line.ends_with("configuration changed since last run"),
        "{line}"
    );
    let up = run_ok(&file, &["up", "--no-build"]);
    assert!(up.contains(&ran_etl), "{up}");

    // A one-shot container that never finishes is killed after its
    // timeout, and `up` exits 5 naming it.
    write(7, Extra::EndlessJob("3s"));
    let started = Instant::now();
    let output = orchestrator(&file, &["up", "--no-build"]);
    let elapsed = started.elapsed();
    assert_eq!(output.status.code(), Some(5), "{}", text(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("container `{extra}` did not finish within"))
            && stderr.contains("was killed"),
        "{stderr}"
    );
    assert!(elapsed < Duration::from_secs(30), "took {elapsed:?}");
    assert!(!running(&runtime, &engine, &extra), "still running");

    // A service whose healthcheck fails makes `up` fail promptly, exit 4,
    // with the probe's last output.
    write(7, Extra::FailingHealthcheck);
    let started = Instant::now();
    let output = orchestrator(&file, &["up", "--no-build"]);
    let elapsed = started.elapsed();
    assert_eq!(output.status.code(), Some(4), "{}", text(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("container `{extra}` is unhealthy")),
        "{stderr}"
    );
    assert!(stderr.contains("last healthcheck output: "), "{stderr}");
    assert!(elapsed < Duration::from_secs(30), "took {elapsed:?}");

    // SIGINT while `up` waits for an endless job stops it with exit 130.
    // The unhealthy service above still runs under the same name, so the
    // wait is for a running container with another ID.
    write(7, Extra::EndlessJob("10m"));
    let previous = container_id(&runtime, &engine, &extra);
    let mut child = Command::new(BINARY)
        .arg("-f")
        .arg(&file)
        .args(["up", "--no-build"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !running(&runtime, &engine, &extra) || container_id(&runtime, &engine, &extra) == previous
    {
        assert!(Instant::now() < deadline, "the endless job never started");
        std::thread::sleep(Duration::from_millis(100));
    }
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let interrupted = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if interrupted.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            panic!("up did not stop within 10 s of SIGINT");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");

    // The next `up` converges from what was left: the job is no longer
    // declared, so its running container is removed, and the API serves.
    write(7, Extra::None);
    let up = run_ok(&file, &["up", "--no-build"]);
    assert!(!exists(&runtime, &engine, &extra), "{up}");
    assert!(running(&runtime, &engine, &names.api), "{up}");
    assert_eq!(prediction(names.port, [6.4, 3.2, 4.5, 1.5]), 1);
    let output = orchestrator(&file, &["up", "--no-build"]);
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("no changes"),
        "{}",
        text(&output)
    );
}
