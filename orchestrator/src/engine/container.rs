//! Containers: the create body built from the stack file, inspect, create,
//! start, wait for exit or health, logs, stop and remove.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use bollard::container::LogOutput;
use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, EndpointSettings, HealthConfig, HostConfig,
    Mount as EngineMount, MountType, NetworkConnectRequest, NetworkingConfig,
    PortBinding as EnginePortBinding, RestartPolicy as EngineRestartPolicy, RestartPolicyNameEnum,
};
use bollard::query_parameters::{
    ContainerArchiveInfoOptionsBuilder, CreateContainerOptionsBuilder, KillContainerOptionsBuilder,
    ListContainersOptionsBuilder, LogsOptionsBuilder, RemoveContainerOptionsBuilder,
    StopContainerOptionsBuilder, WaitContainerOptionsBuilder,
};
use futures_util::{Stream, StreamExt};

use super::{absent_as_none, Engine, EngineError, Outcome};
use crate::spec::{ContainerKind, ContainerSpec, Protocol, RestartPolicy, Stack};

const KIND: &str = "container";

/// Builds the Engine API create body for `spec`.
///
/// `image` is the reference to run (tag or ID). Only the first network goes
/// into the body, because Engine API versions before 1.44 accept a single
/// endpoint at create time; [`connect_extra_networks`] attaches the others.
pub fn create_body(
    stack: &Stack,
    spec: &ContainerSpec,
    image: &str,
    labels: &BTreeMap<String, String>,
) -> ContainerCreateBody {
    let env: Vec<String> = spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let exposed_ports: Vec<String> = spec.ports.iter().map(port_key).collect();
    let mut port_bindings: HashMap<String, Option<Vec<EnginePortBinding>>> = HashMap::new();
    for port in &spec.ports {
        let binding = EnginePortBinding {
            host_ip: Some(port.host_ip.to_string()),
            host_port: Some(port.host_port.to_string()),
        };
        port_bindings
            .entry(port_key(port))
            .or_insert_with(|| Some(Vec::new()));
        if let Some(Some(list)) = port_bindings.get_mut(&port_key(port)) {
            list.push(binding);
        }
    }

    let mounts: Vec<EngineMount> = spec
        .mounts
        .iter()
        .map(|mount| EngineMount {
            target: Some(mount.target.clone()),
            source: Some(volume_name(stack, &mount.volume)),
            typ: Some(MountType::VOLUME),
            read_only: Some(mount.read_only),
            ..Default::default()
        })
        .collect();

    let (healthcheck, restart) = match &spec.kind {
        ContainerKind::OneShot { .. } => (None, RestartPolicy::No),
        ContainerKind::Service {
            healthcheck,
            restart,
        } => {
            let config = healthcheck.as_ref().map(|check| HealthConfig {
                test: Some([vec!["CMD".to_string()], check.command.clone()].concat()),
                interval: Some(nanos(check.interval)),
                timeout: Some(nanos(check.timeout)),
                retries: Some(i64::from(check.retries)),
                start_period: Some(nanos(check.start_period)),
                start_interval: None,
            });
            (config, *restart)
        }
    };

    let first_network = spec.networks.first().map(|key| network_name(stack, key));
    let networking_config = first_network.as_ref().map(|name| NetworkingConfig {
        endpoints_config: Some(HashMap::from([(name.clone(), endpoint(spec))])),
    });

    let security = &spec.security;
    let host_config = HostConfig {
        mounts: Some(mounts),
        port_bindings: Some(port_bindings),
        restart_policy: Some(restart_policy(restart)),
        network_mode: first_network.clone(),
        readonly_rootfs: Some(security.read_only_rootfs),
        cap_drop: security
            .drop_all_capabilities
            .then(|| vec!["ALL".to_string()]),
        security_opt: security
            .no_new_privileges
            .then(|| vec!["no-new-privileges:true".to_string()]),
        memory: spec.resources.memory_bytes,
        pids_limit: spec.resources.pids_limit,
        nano_cpus: spec.resources.nano_cpus,
        ..Default::default()
    };

    ContainerCreateBody {
        image: Some(image.to_string()),
        cmd: spec.command.clone(),
        env: Some(env),
        user: security.user.clone(),
        labels: Some(labels.clone().into_iter().collect()),
        exposed_ports: Some(exposed_ports),
        healthcheck,
        host_config: Some(host_config),
        networking_config,
        ..Default::default()
    }
}

fn endpoint(spec: &ContainerSpec) -> EndpointSettings {
    EndpointSettings {
        aliases: Some(vec![spec.name.clone()]),
        ..Default::default()
    }
}

/// Formats the Engine API's port key, e.g. `8000/tcp`.
pub fn port_key(port: &crate::spec::PortBinding) -> String {
    let protocol = match port.protocol {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
    };
    format!("{}/{protocol}", port.container_port)
}

fn restart_policy(policy: RestartPolicy) -> EngineRestartPolicy {
    let (name, retries) = match policy {
        RestartPolicy::No => (RestartPolicyNameEnum::NO, None),
        RestartPolicy::Always => (RestartPolicyNameEnum::ALWAYS, None),
        RestartPolicy::UnlessStopped => (RestartPolicyNameEnum::UNLESS_STOPPED, None),
        RestartPolicy::OnFailure { max_retries } => (
            RestartPolicyNameEnum::ON_FAILURE,
            Some(i64::from(max_retries)),
        ),
    };
    EngineRestartPolicy {
        name: Some(name),
        maximum_retry_count: retries,
    }
}

fn nanos(duration: Duration) -> i64 {
    i64::try_from(duration.as_nanos()).unwrap_or(i64::MAX)
}

fn volume_name(stack: &Stack, key: &str) -> String {
    stack
        .volumes
        .get(key)
        .map_or_else(|| key.to_string(), |v| v.name.clone())
}

fn network_name(stack: &Stack, key: &str) -> String {
    stack
        .networks
        .get(key)
        .map_or_else(|| key.to_string(), |n| n.name.clone())
}

/// Inspects the container `name`; `None` when it does not exist.
pub async fn inspect(
    engine: &Engine,
    name: &str,
) -> Result<Option<ContainerInspectResponse>, EngineError> {
    absent_as_none(engine.docker.inspect_container(name, None).await)
        .map_err(EngineError::api("inspect", KIND, name))
}

/// Lists the names (without the leading `/`) of all containers, running or
/// not, that carry `label` (`key=value`).
pub async fn list_labelled(engine: &Engine, label: &str) -> Result<Vec<String>, EngineError> {
    let filters = HashMap::from([("label".to_string(), vec![label.to_string()])]);
    let options = ListContainersOptionsBuilder::default()
        .all(true)
        .filters(&filters)
        .build();
    let containers = engine
        .docker
        .list_containers(Some(options))
        .await
        .map_err(EngineError::api("list", KIND, label))?;
    let names = containers
        .into_iter()
        .filter_map(|c| c.names.and_then(|names| names.into_iter().next()))
        .map(|name| name.trim_start_matches('/').to_string())
        .collect();
    Ok(names)
}

/// Creates the container `spec.name` and attaches its extra networks.
pub async fn create(
    engine: &Engine,
    stack: &Stack,
    spec: &ContainerSpec,
    body: ContainerCreateBody,
) -> Result<String, EngineError> {
    let options = CreateContainerOptionsBuilder::default()
        .name(&spec.name)
        .build();
    let response = engine
        .docker
        .create_container(Some(options), body)
        .await
        .map_err(EngineError::api("create", KIND, &spec.name))?;
    connect_extra_networks(engine, stack, spec).await?;
    Ok(response.id)
}

/// Attaches every network of `spec` after the first one.
pub async fn connect_extra_networks(
    engine: &Engine,
    stack: &Stack,
    spec: &ContainerSpec,
) -> Result<(), EngineError> {
    for key in spec.networks.iter().skip(1) {
        let network = network_name(stack, key);
        let request = NetworkConnectRequest {
            container: spec.name.clone(),
            endpoint_config: Some(endpoint(spec)),
        };
        engine
            .docker
            .connect_network(&network, request)
            .await
            .map_err(EngineError::api("connect to network", KIND, &spec.name))?;
    }
    Ok(())
}

/// Starts the container `name`. The error keeps the engine's message, which
/// names a host port that is already in use.
pub async fn start(engine: &Engine, name: &str) -> Result<(), bollard::errors::Error> {
    engine.docker.start_container(name, None).await
}

/// Stops the container `name`, killing it after `grace`; absence and an
/// already stopped container count as done.
pub async fn stop(engine: &Engine, name: &str, grace: Duration) -> Result<(), EngineError> {
    let seconds = i32::try_from(grace.as_secs()).unwrap_or(i32::MAX);
    let options = StopContainerOptionsBuilder::default().t(seconds).build();
    match engine.docker.stop_container(name, Some(options)).await {
        Ok(()) => Ok(()),
        // 304: already stopped.
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 304 | 404,
            ..
        }) => Ok(()),
        Err(source) => Err(EngineError::Api {
            operation: "stop",
            kind: KIND,
            name: name.into(),
            source,
        }),
    }
}

/// Sends SIGKILL to the container `name`; a container that is not running
/// counts as done.
pub async fn kill(engine: &Engine, name: &str) -> Result<(), EngineError> {
    let options = KillContainerOptionsBuilder::default()
        .signal("SIGKILL")
        .build();
    match engine.docker.kill_container(name, Some(options)).await {
        Ok(()) => Ok(()),
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404 | 409,
            ..
        }) => Ok(()),
        Err(source) => Err(EngineError::Api {
            operation: "kill",
            kind: KIND,
            name: name.into(),
            source,
        }),
    }
}

/// Removes the container `name`, running or not, keeping its volumes;
/// absence counts as done.
pub async fn remove(engine: &Engine, name: &str) -> Result<Outcome, EngineError> {
    let options = RemoveContainerOptionsBuilder::default()
        .force(true)
        .v(false)
        .build();
    match absent_as_none(engine.docker.remove_container(name, Some(options)).await) {
        Ok(Some(())) => Ok(Outcome::Removed),
        Ok(None) => Ok(Outcome::Absent),
        Err(source) => Err(EngineError::Api {
            operation: "remove",
            kind: KIND,
            name: name.into(),
            source,
        }),
    }
}

/// Waits until the container `name` is not running, or `timeout` passes.
/// Returns `false` on timeout. The final state is read afterwards with
/// [`inspect`], so a container that exited before this call still counts.
pub async fn wait_stopped(
    engine: &Engine,
    name: &str,
    timeout: Duration,
) -> Result<bool, EngineError> {
    let options = WaitContainerOptionsBuilder::default()
        .condition("not-running")
        .build();
    let mut stream = engine.docker.wait_container(name, Some(options));
    match tokio::time::timeout(timeout, stream.next()).await {
        Err(_elapsed) => Ok(false),
        // A non-zero exit arrives as an error; the exit code is read by inspect.
        Ok(Some(Ok(_)))
        | Ok(Some(Err(bollard::errors::Error::DockerContainerWaitError { .. }))) => Ok(true),
        Ok(None) => Ok(true),
        Ok(Some(Err(source))) => Err(EngineError::Api {
            operation: "wait for",
            kind: KIND,
            name: name.into(),
            source,
        }),
    }
}

/// Returns the last `count` lines of the container's stdout and stderr.
pub async fn log_tail(
    engine: &Engine,
    name: &str,
    count: usize,
) -> Result<Vec<String>, EngineError> {
    let options = LogsOptionsBuilder::default()
        .stdout(true)
        .stderr(true)
        .tail(&count.to_string())
        .build();
    let mut stream = engine.docker.logs(name, Some(options));
    let mut lines = Vec::new();
    while let Some(item) = stream.next().await {
        let output = item.map_err(EngineError::api("read logs of", KIND, name))?;
        lines.extend(output_lines(&output));
    }
    let skip = lines.len().saturating_sub(count);
    Ok(lines.split_off(skip))
}

/// Streams the container's log lines, from its start, until it stops
/// (`follow`) or up to now.
pub fn log_lines(
    engine: &Engine,
    name: &str,
    follow: bool,
    tail: Option<usize>,
) -> impl Stream<Item = Result<String, EngineError>> + use<> {
    let tail = tail.map_or_else(|| "all".to_string(), |n| n.to_string());
    let options = LogsOptionsBuilder::default()
        .stdout(true)
        .stderr(true)
        .follow(follow)
        .tail(&tail)
        .build();
    let name = name.to_string();
    engine
        .docker
        .logs(&name, Some(options))
        .map(move |item| match item {
            Ok(output) => Ok(output_lines(&output)),
            Err(source) => Err(EngineError::Api {
                operation: "read logs of",
                kind: KIND,
                name: name.clone(),
                source,
            }),
        })
        .flat_map(|item| {
            let items: Vec<Result<String, EngineError>> = match item {
                Ok(lines) => lines.into_iter().map(Ok).collect(),
                Err(error) => vec![Err(error)],
            };
            futures_util::stream::iter(items)
        })
}

fn output_lines(output: &LogOutput) -> Vec<String> {
    let bytes = output.clone().into_bytes();
    String::from_utf8_lossy(&bytes)
        .lines()
        .map(|line| line.trim_end().to_string())
        .collect()
}

/// Tells whether `path` exists in the file system of the container `name`
/// (including its mounted volumes); works on stopped containers.
pub async fn path_exists(engine: &Engine, name: &str, path: &str) -> Result<bool, EngineError> {
    let options = ContainerArchiveInfoOptionsBuilder::default()
        .path(path)
        .build();
    match absent_as_none(
        engine
            .docker
            .get_container_archive_info(name, Some(options))
            .await,
    ) {
        Ok(found) => Ok(found.is_some()),
        Err(source) => Err(EngineError::Api {
            operation: "look up a path in",
            kind: KIND,
            name: name.into(),
            source,
        }),
    }
}

/// Returns the declared outputs of the one-shot container `spec` that are
/// not in its volumes. The check goes through a container created from
/// `image` with the same volumes mounted read-only, never started, and
/// removed afterwards. It carries the project label, so a probe left behind
/// by a crash is removed as undeclared by the next `up` or `down`.
pub async fn missing_outputs_in_volumes(
    engine: &Engine,
    stack: &Stack,
    spec: &ContainerSpec,
    image: &str,
) -> Result<Vec<String>, EngineError> {
    let ContainerKind::OneShot { outputs, .. } = &spec.kind else {
        return Ok(Vec::new());
    };
    let mounts: Vec<EngineMount> = spec
        .mounts
        .iter()
        .map(|mount| EngineMount {
            target: Some(mount.target.clone()),
            source: Some(volume_name(stack, &mount.volume)),
            typ: Some(MountType::VOLUME),
            read_only: Some(true),
            ..Default::default()
        })
        .collect();
    let labels = HashMap::from([(crate::labels::PROJECT.to_string(), stack.project.clone())]);
    let body = ContainerCreateBody {
        image: Some(image.to_string()),
        labels: Some(labels),
        network_disabled: Some(true),
        host_config: Some(HostConfig {
            mounts: Some(mounts),
            network_mode: Some("none".to_string()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let probe_name = format!("{}-outputs-probe", spec.name);
    let created = engine
        .docker
        .create_container(
            None::<bollard::query_parameters::CreateContainerOptions>,
            body,
        )
        .await
        .map_err(EngineError::api("create", KIND, &probe_name))?;
    let mut missing = Vec::new();
    let mut result = Ok(());
    for path in outputs {
        match path_exists(engine, &created.id, path).await {
            Ok(true) => {}
            Ok(false) => missing.push(path.clone()),
            Err(error) => {
                result = Err(error);
                break;
            }
        }
    }
    let removed = remove(engine, &created.id).await;
    result?;
    removed?;
    Ok(missing)
}

/// Runs `command` in the running container `name` as its user and returns
/// the exit code, or `None` if it did not finish within `timeout`.
pub async fn exec(
    engine: &Engine,
    name: &str,
    command: &[String],
    timeout: Duration,
) -> Result<Option<i64>, EngineError> {
    let api = |operation| EngineError::api(operation, KIND, name);
    let config = bollard::exec::CreateExecOptions {
        cmd: Some(command.to_vec()),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        ..Default::default()
    };
    let created = engine
        .docker
        .create_exec(name, config)
        .await
        .map_err(api("create an exec in"))?;
    let run = async {
        let started = engine.docker.start_exec(&created.id, None).await?;
        if let bollard::exec::StartExecResults::Attached { mut output, .. } = started {
            while output.next().await.is_some() {}
        }
        engine.docker.inspect_exec(&created.id).await
    };
    match tokio::time::timeout(timeout, run).await {
        Err(_elapsed) => Ok(None),
        Ok(result) => Ok(result.map_err(api("run an exec in"))?.exit_code),
    }
}
