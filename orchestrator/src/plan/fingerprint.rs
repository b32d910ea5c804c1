//! The container fingerprint: a hash of everything in the stack file that
//! defines a container.
//!
//! The engine stores it in the [`CONTAINER_FINGERPRINT`] label when it
//! creates the container, and drift is a label that differs from the
//! fingerprint of the current file. Comparing the file with itself, rather
//! than with what `docker inspect` returns, is what keeps image defaults
//! (user, working directory, environment) and the engine's port notation
//! from reading as drift. The image is compared separately, by ID, because
//! its ID is only known after a build.
//!
//! [`CONTAINER_FINGERPRINT`]: crate::labels::CONTAINER_FINGERPRINT

use std::collections::BTreeMap;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::spec::{ContainerKind, ContainerSpec, Protocol, RestartPolicy, Stack};

/// Version of the canonical form. Changing the form changes every
/// fingerprint, so containers created by an older orchestrator are
/// recreated once instead of being compared field by field.
const SCHEME: &str = "1";

/// Returns the hex SHA-256 of the canonical form of `container`: image tag,
/// run mode, command, environment, mounts (with engine volume names),
/// networks (engine names), ports, security, resources, healthcheck and
/// restart policy.
///
/// Lists whose order the engine ignores (mounts, networks, ports) are sorted
/// first, so reordering them in the file changes nothing. The one-shot
/// `timeout` and `outputs` are left out: only the orchestrator reads them.
pub fn fingerprint(stack: &Stack, container: &ContainerSpec) -> String {
    let canonical = canonical_form(stack, container);
    let text = serde_json::to_string(&canonical)
        .expect("the canonical form contains only strings, numbers and lists");
    hex::encode(Sha256::digest(text.as_bytes()))
}

#[derive(Serialize)]
struct Canonical<'a> {
    scheme: &'static str,
    image: &'a str,
    run: &'static str,
    command: Option<&'a [String]>,
    env: &'a BTreeMap<String, String>,
    mounts: Vec<(String, &'a str, bool)>,
    networks: Vec<String>,
    ports: Vec<(String, u16, u16, &'static str)>,
    user: Option<&'a str>,
    read_only_rootfs: bool,
    drop_all_capabilities: bool,
    no_new_privileges: bool,
    memory_bytes: Option<i64>,
    pids_limit: Option<i64>,
    nano_cpus: Option<i64>,
    healthcheck: Option<CanonicalHealthcheck<'a>>,
    restart: Option<String>,
}

#[derive(Serialize)]
struct CanonicalHealthcheck<'a> {
    command: &'a [String],
    interval_nanos: u128,
    timeout_nanos: u128,
    retries: u32,
    start_period_nanos: u128,
}

fn canonical_form<'a>(stack: &'a Stack, container: &'a ContainerSpec) -> Canonical<'a> {
    // A key the stack does not define cannot reach here from a validated
    // stack; it falls back to the key itself rather than panicking.
    let image = stack
        .images
        .get(&container.image)
        .map_or(container.image.as_str(), |image| image.tag.as_str());

    let mut mounts: Vec<(String, &str, bool)> = container
        .mounts
        .iter()
        .map(|mount| {
            (
                volume_name(stack, &mount.volume),
                mount.target.as_str(),
                mount.read_only,
            )
        })
        .collect();
    mounts.sort();

    let mut networks: Vec<String> = container
        .networks
        .iter()
        .map(|key| {
            stack
                .networks
                .get(key)
                .map_or_else(|| key.clone(), |network| network.name.clone())
        })
        .collect();
    networks.sort();

    let mut ports: Vec<(String, u16, u16, &str)> = container
        .ports
        .iter()
        .map(|port| {
            let protocol = match port.protocol {
                Protocol::Tcp => "tcp",
                Protocol::Udp => "udp",
            };
            (
                port.host_ip.to_string(),
                port.host_port,
                port.container_port,
                protocol,
            )
        })
        .collect();
    ports.sort();

    let (run, healthcheck, restart) = match &container.kind {
        ContainerKind::OneShot { .. } => ("once", None, None),
        ContainerKind::Service {
            healthcheck,
            restart,
        } => {
            let healthcheck = healthcheck.as_ref().map(|check| CanonicalHealthcheck {
                command: &check.command,
                interval_nanos: check.interval.as_nanos(),
                timeout_nanos: check.timeout.as_nanos(),
                retries: check.retries,
                start_period_nanos: check.start_period.as_nanos(),
            });
            ("service", healthcheck, Some(restart_text(*restart)))
        }
    };

    Canonical {
        scheme: SCHEME,
        image,
        run,
        command: container.command.as_deref(),
        env: &container.env,
        mounts,
        networks,
        ports,
        user: container.security.user.as_deref(),
        read_only_rootfs: container.security.read_only_rootfs,
        drop_all_capabilities: container.security.drop_all_capabilities,
        no_new_privileges: container.security.no_new_privileges,
        memory_bytes: container.resources.memory_bytes,
        pids_limit: container.resources.pids_limit,
        nano_cpus: container.resources.nano_cpus,
        healthcheck,
        restart,
    }
}

fn volume_name(stack: &Stack, key: &str) -> String {
    stack
        .volumes
        .get(key)
        .map_or_else(|| key.to_string(), |volume| volume.name.clone())
}

fn restart_text(policy: RestartPolicy) -> String {
    match policy {
        RestartPolicy::No => "no".to_string(),
        RestartPolicy::OnFailure { max_retries } => format!("on-failure:{max_retries}"),
        RestartPolicy::UnlessStopped => "unless-stopped".to_string(),
        RestartPolicy::Always => "always".to_string(),
    }
}
