//! Runs that overlap or end early: the project lock that serializes `up`,
//! `down` and `import`, duplicate networks left by two runs at once, build
//! steps ended with their whole process group, and the `logs` messages.
//!
//! Docker tests use names unique to this run and remove what they create.
//! With `CI=true` they fail when Docker is unreachable; elsewhere they are
//! skipped with a message.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bollard::models::NetworkCreateRequest;
use bollard::query_parameters::ListNetworksOptionsBuilder;
use orchestrator::engine::{network, Engine};
use orchestrator::progress::{Mode, Progress};
use orchestrator::{build_step, labels, project_lock, spec};

const BINARY: &str = env!("CARGO_BIN_EXE_orchestrator");

/// Writes a stack file of project `project` into `dir`: one slow build step
/// that records its pid (its process group id, as it leads the group) in
/// `pgid` and the pid of a background child in `child`,
/// one image, one network, one container.
fn write_stack(dir: &Path, project: &str) -> PathBuf {
    let pgid_file = dir.join("pgid");
    let child_file = dir.join("child");
    let stack = format!(
        r#"
[project]
name = "{project}"

[build_steps.slow]
command = ["sh", "-c", "echo $$ > '{pgid}'; sleep 60 & echo $! > '{child}'; sleep 60; wait"]
inputs = []
outputs = []

[images.app]
tag = "{project}-app:latest"
context = "."
after_steps = ["slow"]

[networks.backend]
name = "{project}-backend"
driver = "bridge"

[containers.{project}-one]
image = "app"
run = "once"
networks = ["backend"]
"#,
        pgid = pgid_file.display(),
        child = child_file.display()
    );
    fs::write(dir.join("Dockerfile"), "FROM scratch\n").unwrap();
    let file = dir.join("infra.toml");
    fs::write(&file, stack).unwrap();
    file
}

fn unique_project(test: &str) -> String {
    format!("lock{test}{}", std::process::id())
}

/// Connects to the engine, or returns `None` (skip) outside CI.
fn engine_or_skip(runtime: &tokio::runtime::Runtime) -> Option<Engine> {
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

/// Pids of the processes of group `pgid` that are not zombies, from /proc.
fn live_members(pgid: i32) -> Vec<u32> {
    let mut pids = Vec::new();
    for entry in fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
            continue;
        };
        let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let rest = stat.rsplit_once(')').unwrap().1;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields[2].parse::<i32>().ok() == Some(pgid) && fields[0] != "Z" {
            pids.push(pid);
        }
    }
    pids
}

/// Whether process `pid` exists and is not a zombie.
fn alive(pid: &str) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| stat.rsplit_once(')').unwrap().1.split_whitespace().next() != Some("Z"))
        .unwrap_or(false)
}

fn wait_for_file(path: &Path, bound: Duration) -> String {
    let started = Instant::now();
    loop {
        if let Ok(text) = fs::read_to_string(path) {
            if text.ends_with('\n') {
                return text.trim().to_string();
            }
        }
        assert!(
            started.elapsed() < bound,
            "{} not written within {bound:?}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn networks_named(runtime: &tokio::runtime::Runtime, engine: &Engine, name: &str) -> Vec<String> {
    let filters = HashMap::from([("name".to_string(), vec![name.to_string()])]);
    let options = ListNetworksOptionsBuilder::default()
        .filters(&filters)
        .build();
    let found = runtime
        .block_on(engine.docker.list_networks(Some(options)))
        .unwrap();
    found
        .into_iter()
        .filter(|n| n.name.as_deref() == Some(name))
        .filter_map(|n| n.id)
        .collect()
}

/// Creates a network the way a racing `up` does: no duplicate check.
fn create_labelled_network(
    runtime: &tokio::runtime::Runtime,
    engine: &Engine,
    name: &str,
    project: &str,
) {
    let request = NetworkCreateRequest {
        name: name.to_string(),
        driver: Some("bridge".to_string()),
        labels: Some(HashMap::from([(
            labels::PROJECT.to_string(),
            project.to_string(),
        )])),
        ..Default::default()
    };
    runtime
        .block_on(engine.docker.create_network(request))
        .unwrap();
}

#[test]
fn logs_unknown_name_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let project = unique_project("logs");
    let file = write_stack(dir.path(), &project);
    let output = Command::new(BINARY)
        .arg("-f")
        .arg(&file)
        .args(["logs", "nosuch"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        stderr.trim(),
        format!(
            "error: no container `nosuch` in the stack file; the stack declares: {project}-one"
        )
    );
}

#[test]
fn dropped_step_kills_process_group() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_stack(dir.path(), &unique_project("drop"));
    let stack = spec::load(&file).unwrap();
    let step = &stack.build_steps[0];
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let lines = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&lines);

    // The step runs 60 s; the timeout drops its future after 1 s, as Ctrl-C
    // or a failure elsewhere in `up` does.
    let result = runtime.block_on(async {
        let run = build_step::run(&stack, step, "hash", move |line| {
            seen.lock().unwrap().push(line.to_string())
        });
        tokio::time::timeout(Duration::from_secs(1), run).await
    });
    assert!(result.is_err(), "the step ended early: {result:?}");
    let pgid: i32 = wait_for_file(&dir.path().join("pgid"), Duration::from_secs(5))
        .parse()
        .unwrap();

    let started = Instant::now();
    while !live_members(pgid).is_empty() && started.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(live_members(pgid), Vec::<u32>::new());
    let child = wait_for_file(&dir.path().join("child"), Duration::from_secs(1));
    assert!(!alive(&child), "background child {child} survived");
    assert!(lines.lock().unwrap().is_empty());
}

#[test]
fn sigint_during_step_kills_group() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let Some(_engine) = engine_or_skip(&runtime) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let file = write_stack(dir.path(), &unique_project("sigint"));
    let mut up = Command::new(BINARY)
        .arg("-f")
        .arg(&file)
        .arg("up")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pgid: i32 = wait_for_file(&dir.path().join("pgid"), Duration::from_secs(60))
        .parse()
        .unwrap();
    let child = wait_for_file(&dir.path().join("child"), Duration::from_secs(5));
    assert!(alive(&child));

    let pid = i32::try_from(up.id()).unwrap();
    // SAFETY: kill(2) on the child this test started.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    let started = Instant::now();
    let status = loop {
        if let Some(status) = up.try_wait().unwrap() {
            break status;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "up still runs");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(130));
    assert_eq!(live_members(pgid), Vec::<u32>::new());
    let child = wait_for_file(&dir.path().join("child"), Duration::from_secs(1));
    assert!(!alive(&child), "background child {child} survived");
}

#[test]
fn second_run_waits_for_lock() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let Some(_engine) = engine_or_skip(&runtime) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let project = unique_project("wait");
    let file = write_stack(dir.path(), &project);
    let stack = spec::load(&file).unwrap();
    let held = runtime
        .block_on(project_lock::acquire(&stack, &Progress::new(Mode::Quiet)))
        .unwrap();
    assert_eq!(
        project_lock::lock_path(&stack),
        dir.path()
            .join("target/.orchestrator")
            .join(&project)
            .join("lock")
    );

    let mut down = Command::new(BINARY)
        .arg("-f")
        .arg(&file)
        .arg("down")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        down.try_wait().unwrap().is_none(),
        "down ran while the lock was held"
    );
    let waited = Instant::now();
    drop(held);
    let output = down.wait_with_output().unwrap();
    assert!(waited.elapsed() < Duration::from_secs(30));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "waiting for another orchestrator run on project {project} to finish"
        )),
        "{stderr}"
    );
}

#[test]
fn duplicate_networks_converge_to_one() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let Some(engine) = engine_or_skip(&runtime) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let project = unique_project("dup");
    let file = write_stack(dir.path(), &project);
    let name = format!("{project}-backend");
    create_labelled_network(&runtime, &engine, &name, &project);
    create_labelled_network(&runtime, &engine, &name, &project);
    let mut ids = networks_named(&runtime, &engine, &name);
    assert_eq!(ids.len(), 2, "the engine accepts a duplicate name");
    ids.sort();

    // Inspect keeps the smallest id and removes the other.
    let found = runtime.block_on(network::inspect(&engine, &name)).unwrap();
    assert_eq!(found.and_then(|n| n.id).as_deref(), Some(ids[0].as_str()));
    assert_eq!(
        networks_named(&runtime, &engine, &name),
        vec![ids[0].clone()]
    );

    // `down` removes every duplicate, by id.
    create_labelled_network(&runtime, &engine, &name, &project);
    assert_eq!(networks_named(&runtime, &engine, &name).len(), 2);
    let output = Command::new(BINARY)
        .arg("-f")
        .arg(&file)
        .arg("down")
        .output()
        .unwrap();
    let remaining = networks_named(&runtime, &engine, &name);
    for id in &remaining {
        let _ = runtime.block_on(network::remove(&engine, id));
    }
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(remaining, Vec::<String>::new());
}

#[test]
fn other_project_duplicates_left_alone() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let Some(engine) = engine_or_skip(&runtime) else {
        return;
    };
    let project = unique_project("mixed");
    let name = format!("{project}-backend");
    create_labelled_network(&runtime, &engine, &name, &project);
    create_labelled_network(&runtime, &engine, &name, &format!("{project}-other"));

    let result = runtime.block_on(network::inspect(&engine, &name));
    let remaining = networks_named(&runtime, &engine, &name);
    for id in &remaining {
        let _ = runtime.block_on(network::remove(&engine, id));
    }
    let error = result.unwrap_err().to_string();
    assert!(
        error.starts_with(&format!(
            "2 networks are named `{name}` and not all carry one project's label"
        )),
        "{error}"
    );
    assert_eq!(remaining.len(), 2, "neither network was removed");
}
