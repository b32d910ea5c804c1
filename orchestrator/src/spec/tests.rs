//! Parsing and validation of whole stack files. Line and column numbers in
//! the assertions are counted by hand in the texts they follow (1-based).

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;

/// A valid stack that each error test alters on one line.
const BASE: &str = r#"[project]
name = "demo"

[images.app]
tag = "app:latest"
context = "."

[volumes.store]

[networks.net]

[containers.job]
image = "app"
run = "once"
mounts = [{ volume = "store", target = "/data" }]

[containers.web]
image = "app"
run = "service"
depends_on = ["job"]
ports = [{ host = 8080, container = 8000 }]
"#;

const STACK_PATH: &str = "/srv/stack/infra.toml";

fn replace(old: &str, new: &str) -> String {
    assert!(BASE.contains(old), "BASE does not contain {old:?}");
    BASE.replacen(old, new, 1)
}

/// Returns `(line, column, message)` of every diagnostic of `text`.
fn diagnostics(text: &str) -> Vec<(usize, usize, String)> {
    let error = parse(text, Path::new(STACK_PATH)).expect_err("the stack must be invalid");
    error
        .diagnostics()
        .iter()
        .map(|diagnostic| {
            (
                diagnostic.line,
                diagnostic.column,
                diagnostic.message.clone(),
            )
        })
        .collect()
}

/// Asserts that `text` has exactly one problem, at `line:column`, whose
/// message contains `fragment`.
fn assert_single_error(text: &str, line: usize, column: usize, fragment: &str) {
    let found = diagnostics(text);
    assert_eq!(found.len(), 1, "expected one diagnostic, got {found:?}");
    let (found_line, found_column, message) = &found[0];
    assert_eq!(
        (*found_line, *found_column),
        (line, column),
        "position of {message:?}"
    );
    assert!(
        message.contains(fragment),
        "{message:?} does not contain {fragment:?}"
    );
}

fn repository_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

#[test]
fn base_stack_is_valid() {
    let stack = parse(BASE, Path::new(STACK_PATH)).unwrap();
    assert_eq!(stack.project, "demo");
    assert_eq!(stack.volumes["store"].name, "demo-store");
    assert_eq!(stack.networks["net"].name, "demo-net");
    assert_eq!(stack.networks["net"].driver, "bridge");
}

#[test]
fn repository_stack_file_parses() {
    let root = repository_root();
    let text = std::fs::read_to_string(root.join("infra.toml")).unwrap();
    let stack = parse(&text, &root.join("infra.toml")).unwrap();

    assert_eq!(stack.file, root.join("infra.toml"));
    assert_eq!(stack.project, "mlops");

    assert_eq!(stack.build_steps.len(), 1);
    let binaries = &stack.build_steps[0];
    assert_eq!(binaries.name, "binaries");
    assert_eq!(binaries.command[0], "cargo");
    assert_eq!(binaries.env["RUSTFLAGS"], "-C target-feature=+crt-static");
    assert_eq!(binaries.workdir, root);
    assert_eq!(
        binaries.inputs,
        [
            "Cargo.toml",
            "Cargo.lock",
            "model-artifact/**",
            "etl/**",
            "api/**"
        ]
    );
    assert_eq!(
        binaries.outputs,
        [
            root.join("target/x86_64-unknown-linux-gnu/release/etl"),
            root.join("target/x86_64-unknown-linux-gnu/release/api")
        ]
    );

    let etl = &stack.images["etl"];
    assert_eq!(etl.tag, "etl_app:latest");
    assert_eq!(etl.context, root);
    assert_eq!(etl.dockerfile, "etl/Dockerfile");
    assert_eq!(
        etl.ignore_file,
        Some(root.join("etl/Dockerfile.dockerignore"))
    );
    assert_eq!(etl.after_steps, ["binaries"]);
    assert_eq!(stack.images["api"].tag, "ml_app:latest");

    assert_eq!(stack.volumes["model_store"].name, "mlops-model-store");
    assert_eq!(stack.networks["backend"].name, "mlops-backend");

    let names: Vec<&str> = stack.containers.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["etl-pipeline", "ml-api"]);

    let job = &stack.containers[0];
    assert_eq!(
        job.kind,
        ContainerKind::OneShot {
            timeout: Duration::from_secs(600),
            outputs: vec!["/data/model.json".to_string()],
        }
    );
    assert_eq!(job.env["ETL_SEED"], "42");
    assert_eq!(
        job.mounts,
        [Mount {
            volume: "model_store".into(),
            target: "/data".into(),
            read_only: false
        }]
    );
    assert_eq!(job.resources.memory_bytes, Some(512 * 1024 * 1024));
    assert_eq!(job.resources.pids_limit, Some(64));
    assert_eq!(job.resources.nano_cpus, None);

    let api = &stack.containers[1];
    assert_eq!(api.depends_on, ["etl-pipeline"]);
    assert!(api.mounts[0].read_only);
    assert_eq!(
        api.ports,
        [PortBinding {
            host_ip: IpAddr::from([127, 0, 0, 1]),
            host_port: 8080,
            container_port: 8000,
            protocol: Protocol::Tcp,
        }]
    );
    let ContainerKind::Service {
        healthcheck: Some(healthcheck),
        restart,
    } = &api.kind
    else {
        panic!(
            "ml-api must be a service with a healthcheck: {:?}",
            api.kind
        );
    };
    assert_eq!(*restart, RestartPolicy::UnlessStopped);
    assert_eq!(healthcheck.command, ["/api", "healthcheck"]);
    assert_eq!(healthcheck.interval, Duration::from_secs(2));
    assert_eq!(healthcheck.timeout, Duration::from_secs(2));
    assert_eq!(healthcheck.retries, 3);
    assert_eq!(healthcheck.start_period, Duration::from_secs(2));
    assert_eq!(api.resources.memory_bytes, Some(128 * 1024 * 1024));
    assert_eq!(api.resources.nano_cpus, Some(1_000_000_000));

    for container in &stack.containers {
        assert_eq!(container.security.user.as_deref(), Some("10001:10001"));
        assert!(container.security.read_only_rootfs);
        assert!(container.security.drop_all_capabilities);
        assert!(container.security.no_new_privileges);
    }
}

#[test]
fn repository_stack_file_loads() {
    let stack = load(&repository_root().join("infra.toml")).unwrap();
    assert_eq!(stack.containers.len(), 2);
}

#[test]
fn hardening_and_limits_default_on() {
    let stack = parse(BASE, Path::new(STACK_PATH)).unwrap();
    let job = &stack.containers[0];
    assert_eq!(
        job.security,
        Security {
            user: Some(DEFAULT_USER.to_string()),
            read_only_rootfs: true,
            drop_all_capabilities: true,
            no_new_privileges: true,
        }
    );
    assert_eq!(job.resources.memory_bytes, Some(DEFAULT_MEMORY_BYTES));
    assert_eq!(job.resources.pids_limit, Some(DEFAULT_PIDS_LIMIT));
    assert_eq!(
        job.kind,
        ContainerKind::OneShot {
            timeout: DEFAULT_ONE_SHOT_TIMEOUT,
            outputs: vec![]
        }
    );

    let web = &stack.containers[1];
    assert_eq!(
        web.kind,
        ContainerKind::Service {
            healthcheck: None,
            restart: RestartPolicy::UnlessStopped
        }
    );
}

#[test]
fn hardening_switches_off() {
    let text = format!(
        "{BASE}resources = {{ memory = \"unlimited\", pids = \"unlimited\" }}\n\
         security = {{ user = false, read_only_rootfs = false, drop_all_capabilities = false, no_new_privileges = false }}\n"
    );
    let stack = parse(&text, Path::new(STACK_PATH)).unwrap();
    let web = &stack.containers[1];
    assert_eq!(
        web.security,
        Security {
            user: None,
            read_only_rootfs: false,
            drop_all_capabilities: false,
            no_new_privileges: false
        }
    );
    assert_eq!(web.resources.memory_bytes, None);
    assert_eq!(web.resources.pids_limit, None);
}

#[test]
fn containers_ordered_by_dependency() {
    // `web` comes first in the file but depends on `job`.
    let text = r#"[project]
name = "demo"
[images.app]
tag = "app:latest"
context = "."
[containers.web]
image = "app"
run = "service"
depends_on = ["job"]
[containers.job]
image = "app"
run = "once"
"#;
    let stack = parse(text, Path::new(STACK_PATH)).unwrap();
    let names: Vec<&str> = stack.containers.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["job", "web"]);
}

#[test]
fn relative_paths_use_file_directory() {
    let text = replace(
        "context = \".\"",
        "context = \"../ctx\"\nignore_file = \"ignore/app\"",
    );
    let stack = parse(&text, Path::new("/srv/stack/infra.toml")).unwrap();
    assert_eq!(stack.images["app"].context, PathBuf::from("/srv/ctx"));
    assert_eq!(
        stack.images["app"].ignore_file,
        Some(PathBuf::from("/srv/stack/ignore/app"))
    );

    // A relative stack file path resolves against the working directory
    // once, and the paths inside it against the file's directory.
    let stack = parse(BASE, Path::new("nested/infra.toml")).unwrap();
    let expected = std::env::current_dir().unwrap().join("nested");
    assert_eq!(stack.images["app"].context, expected);
    assert_eq!(stack.file, expected.join("infra.toml"));
}

#[test]
fn syntax_error_located() {
    // The parser reports the unterminated string where the line ends.
    assert_single_error(
        &replace("name = \"demo\"", "name = \"demo"),
        2,
        13,
        "invalid basic string",
    );
}

#[test]
fn unknown_key_rejected() {
    let text = replace(
        "run = \"service\"",
        "run = \"service\"\nrestart_policy = \"always\"",
    );
    assert_single_error(&text, 20, 1, "unknown field `restart_policy`");
}

#[test]
fn wrong_type_rejected() {
    assert_single_error(
        &replace("name = \"demo\"", "name = 5"),
        2,
        8,
        "invalid type",
    );
}

#[test]
fn missing_key_rejected() {
    let found = diagnostics(&replace("tag = \"app:latest\"\n", ""));
    assert_eq!(found.len(), 1);
    assert!(found[0].2.contains("missing field `tag`"), "{found:?}");
}

#[test]
fn undefined_image_rejected() {
    assert_single_error(
        &replace(
            "image = \"app\"\nrun = \"once\"",
            "image = \"ap\"\nrun = \"once\"",
        ),
        13,
        9,
        "undefined image `ap`",
    );
}

#[test]
fn undefined_volume_rejected() {
    assert_single_error(
        &replace("volume = \"store\"", "volume = \"stor\""),
        15,
        22,
        "undefined volume `stor`",
    );
}

#[test]
fn undefined_network_rejected() {
    let text = replace("run = \"once\"", "run = \"once\"\nnetworks = [\"nett\"]");
    assert_single_error(&text, 15, 13, "undefined network `nett`");
}

#[test]
fn undefined_build_step_rejected() {
    let text = replace(
        "context = \".\"",
        "context = \".\"\nafter_steps = [\"compile\"]",
    );
    assert_single_error(&text, 7, 16, "undefined build step `compile`");
}

#[test]
fn path_like_step_name_rejected() {
    let text = replace(
        "[volumes.store]\n",
        "[build_steps.\"../x\"]\ncommand = [\"true\"]\n[volumes.store]\n",
    );
    assert_single_error(&text, 8, 14, "invalid build step name `../x`");
}

#[test]
fn undefined_dependency_rejected() {
    assert_single_error(
        &replace("depends_on = [\"job\"]", "depends_on = [\"jobs\"]"),
        20,
        15,
        "undefined container `jobs`",
    );
}

#[test]
fn dependency_on_service_rejected() {
    let text = replace("run = \"once\"", "run = \"service\"");
    assert_single_error(&text, 20, 15, "not a one-shot container");
}

#[test]
fn dependency_cycle_rejected() {
    let text = r#"[project]
name = "demo"
[images.app]
tag = "app:latest"
context = "."
[containers.first]
image = "app"
run = "once"
depends_on = ["second"]
[containers.second]
image = "app"
run = "once"
depends_on = ["first"]
"#;
    assert_single_error(text, 13, 15, "dependency cycle: first -> second -> first");
}

#[test]
fn self_dependency_rejected() {
    let text = replace("run = \"once\"", "run = \"once\"\ndepends_on = [\"job\"]");
    assert_single_error(&text, 15, 15, "depends on itself");
}

#[test]
fn duplicate_volume_name_rejected() {
    let text = replace(
        "[volumes.store]\n",
        "[volumes.store]\nname = \"shared\"\n[volumes.other]\nname = \"shared\"\n",
    );
    assert_single_error(
        &text,
        11,
        8,
        "volume name `shared` is already used by `volumes.store`",
    );
}

#[test]
fn duplicate_image_tag_rejected() {
    let text = replace(
        "[volumes.store]\n",
        "[images.copy]\ntag = \"app:latest\"\ncontext = \".\"\n[volumes.store]\n",
    );
    assert_single_error(
        &text,
        9,
        7,
        "image tag `app:latest` is already used by `images.app`",
    );
}

#[test]
fn duplicate_host_port_rejected() {
    let text = replace(
        "run = \"once\"",
        "run = \"once\"\nports = [{ host = 8080, container = 9000 }]",
    );
    // The second binding in file order is reported: the one of `web`, line 22.
    assert_single_error(
        &text,
        22,
        19,
        "host port 127.0.0.1:8080 is already published by container `job`",
    );
}

#[test]
fn host_port_on_any_address_clashes() {
    let text = replace(
        "run = \"once\"",
        "run = \"once\"\nports = [{ host = 8080, container = 9000, host_ip = \"0.0.0.0\" }]",
    );
    assert_single_error(&text, 22, 19, "already published");
}

#[test]
fn same_port_other_protocol_allowed() {
    let text = replace(
        "run = \"once\"",
        "run = \"once\"\nports = [{ host = 8080, container = 9000, protocol = \"udp\" }]",
    );
    assert!(parse(&text, Path::new(STACK_PATH)).is_ok());
}

#[test]
fn invalid_image_tag_rejected() {
    assert_single_error(
        &replace("tag = \"app:latest\"", "tag = \"App:latest\""),
        5,
        7,
        "invalid image tag `App:latest`",
    );
}

#[test]
fn out_of_range_ports_rejected() {
    let found = diagnostics(&replace(
        "host = 8080, container = 8000",
        "host = 70000, container = 0",
    ));
    let positions: Vec<(usize, usize)> = found
        .iter()
        .map(|(line, column, _)| (*line, *column))
        .collect();
    assert_eq!(positions, [(21, 19), (21, 38)]);
    assert!(found[0].2.contains("port 70000"));
    assert!(found[1].2.contains("port 0"));
}

#[test]
fn invalid_duration_rejected() {
    let text = replace("run = \"once\"", "run = \"once\"\ntimeout = \"10x\"");
    assert_single_error(&text, 15, 11, "invalid duration `10x`");
}

#[test]
fn zero_timeout_rejected() {
    let text = replace("run = \"once\"", "run = \"once\"\ntimeout = \"0s\"");
    assert_single_error(&text, 15, 11, "longer than zero");
}

#[test]
fn invalid_size_rejected() {
    let text = replace(
        "run = \"once\"",
        "run = \"once\"\nresources = { memory = \"12 parsecs\" }",
    );
    assert_single_error(&text, 15, 24, "invalid size `12 parsecs`");
}

#[test]
fn memory_below_engine_minimum_rejected() {
    let text = replace(
        "run = \"once\"",
        "run = \"once\"\nresources = { memory = \"4MiB\" }",
    );
    assert_single_error(&text, 15, 24, "below the engine's minimum");
}

#[test]
fn relative_mount_target_rejected() {
    assert_single_error(
        &replace("target = \"/data\"", "target = \"data\""),
        15,
        40,
        "not an absolute path",
    );
}

#[test]
fn empty_command_rejected() {
    let text = replace("run = \"once\"", "run = \"once\"\ncommand = []");
    assert_single_error(&text, 15, 11, "`containers.job.command` is empty");
}

#[test]
fn empty_healthcheck_command_rejected() {
    let text = format!("{BASE}healthcheck = {{ command = [\"\"] }}\n");
    assert_single_error(
        &text,
        22,
        27,
        "`containers.web.healthcheck.command` is empty",
    );
}

#[test]
fn service_keys_on_one_shot_rejected() {
    let text = replace("run = \"once\"", "run = \"once\"\nrestart = \"always\"");
    assert_single_error(
        &text,
        15,
        11,
        "does not apply to a container with run = \"once\"",
    );
}

#[test]
fn invalid_run_rejected() {
    assert_single_error(
        &replace("run = \"once\"", "run = \"twice\""),
        14,
        7,
        "invalid `containers.job.run`",
    );
}

#[test]
fn output_outside_mount_rejected() {
    let text = replace(
        "run = \"once\"",
        "run = \"once\"\noutputs = [\"/tmp/model.json\"]",
    );
    assert_single_error(&text, 15, 12, "not a file under a mounted volume");
}

#[test]
fn invalid_host_ip_rejected() {
    let text = replace(
        "container = 8000 }",
        "container = 8000, host_ip = \"localhost\" }",
    );
    assert_single_error(&text, 21, 53, "invalid host_ip `localhost`");
}

#[test]
fn invalid_engine_name_rejected() {
    let text = replace(
        "[volumes.store]\n",
        "[volumes.store]\nname = \"my store\"\n",
    );
    assert_single_error(&text, 9, 8, "invalid volume name");
}

#[test]
fn escaping_dockerfile_rejected() {
    let text = replace(
        "context = \".\"",
        "context = \".\"\ndockerfile = \"../Dockerfile\"",
    );
    assert_single_error(&text, 7, 14, "not a path inside the build context");
}

#[test]
fn all_semantic_errors_reported_together() {
    let text = replace("tag = \"app:latest\"", "tag = \"App:latest\"")
        .replacen("volume = \"store\"", "volume = \"stor\"", 1)
        .replacen("host = 8080", "host = 70000", 1);
    let positions: Vec<(usize, usize)> = diagnostics(&text)
        .iter()
        .map(|(line, column, _)| (*line, *column))
        .collect();
    assert_eq!(positions, [(5, 7), (15, 22), (21, 19)]);
}

#[test]
fn error_message_names_file_and_position() {
    let error = parse(
        &replace(
            "image = \"app\"\nrun = \"once\"",
            "image = \"ap\"\nrun = \"once\"",
        ),
        Path::new(STACK_PATH),
    )
    .unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains(
            "/srv/stack/infra.toml:13:9: `containers.job.image` names the undefined image `ap`"
        ),
        "{message}"
    );
    assert!(
        message.contains("help: use the key of an [images.<key>] table (defined: app)"),
        "{message}"
    );
}

#[test]
fn load_accepts_missing_context() {
    // A machine that imported its images has the stack file but no sources.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("infra.toml");
    std::fs::write(&path, replace("context = \".\"", "context = \"missing\"")).unwrap();

    let stack = load(&path).unwrap();
    assert_eq!(stack.images["app"].context, dir.path().join("missing"));
}

#[test]
fn load_reports_unreadable_file() {
    let error = load(Path::new("/nonexistent/infra.toml")).unwrap_err();
    assert!(matches!(error, SpecError::Read { .. }));
    assert!(error.to_string().contains("/nonexistent/infra.toml"));
}

#[test]
fn ipv6_host_port_clash_uses_brackets() {
    let text = replace(
        "run = \"once\"",
        "run = \"once\"\nports = [{ host = 8080, container = 9000, host_ip = \"::\" }]",
    );
    let found = diagnostics(&text);
    assert_eq!(found.len(), 1, "expected one diagnostic, got {found:?}");
    assert!(found[0].2.contains("([::]:8080)"), "{:?}", found[0].2);
}

#[test]
fn load_locates_invalid_utf8() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("infra.toml");
    std::fs::write(&path, b"[project]\nname = \"a\xffb\"\n").unwrap();

    let error = load(&path).unwrap_err();
    let diagnostics = error.diagnostics();
    assert_eq!(diagnostics.len(), 1, "{error}");
    assert_eq!((diagnostics[0].line, diagnostics[0].column), (2, 10));
    assert!(diagnostics[0].message.contains("not UTF-8"), "{error}");
}
