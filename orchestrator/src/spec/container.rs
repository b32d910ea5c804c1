//! Conversion of one `[containers.<name>]` table, with the hardening and
//! resource defaults every container gets.

use std::net::IpAddr;
use std::ops::Range;
use std::time::Duration;

use toml::Spanned;

use super::convert::{defined_keys, service_names, Converter, PublishedPort};
use super::model::*;
use super::names::check_engine_name;
use super::raw::*;
use super::units::{parse_duration, parse_size};

/// Run time allowed to a one-shot container without `timeout`.
pub const DEFAULT_ONE_SHOT_TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// User of every container without `security.user`: the non-root uid:gid
/// the project's images own their files as.
pub const DEFAULT_USER: &str = "10001:10001";
/// Memory limit of a container without `resources.memory`: 256 MiB.
pub const DEFAULT_MEMORY_BYTES: i64 = 256 * 1024 * 1024;
/// Process limit of a container without `resources.pids`.
pub const DEFAULT_PIDS_LIMIT: i64 = 128;
/// Smallest memory limit the engine accepts (Docker 20.10 rejects less than
/// 6 MB with "Minimum memory limit allowed is 6MB").
const MIN_MEMORY_BYTES: u64 = 6 * 1024 * 1024;
/// Docker's defaults for a healthcheck key left out, as the Dockerfile
/// `HEALTHCHECK` reference lists them: 30 s interval and timeout, 3 retries.
const DEFAULT_HEALTH_INTERVAL: Duration = Duration::from_secs(30);
const DEFAULT_HEALTH_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_HEALTH_RETRIES: u32 = 3;

pub(crate) fn convert_container(
    raw: &RawStack,
    name: &Text,
    container: &Spanned<RawContainer>,
    converter: &mut Converter<'_>,
) -> ContainerSpec {
    let container = container.get_ref();
    let prefix = format!("containers.{}", name.get_ref());

    if let Err(reason) = check_engine_name(name.get_ref()) {
        converter.error(
            name.span(),
            format!("invalid container name: {reason}"),
            format!("rename [{prefix}]"),
        );
    }
    if !raw.images.contains_key(&container.image) {
        converter.error(
            container.image.span(),
            format!(
                "`{prefix}.image` names the undefined image `{}`",
                container.image.get_ref()
            ),
            format!(
                "use the key of an [images.<key>] table ({})",
                defined_keys(&raw.images)
            ),
        );
    }

    let kind = convert_kind(container, &prefix, converter);
    let depends_on = convert_depends_on(raw, name, container, &prefix, converter);
    let command = container
        .command
        .as_ref()
        .map(|command| converter.convert_command(command, &format!("{prefix}.command")));
    converter.check_variable_names(&container.env, &format!("{prefix}.env"));
    let mounts = convert_mounts(raw, container, &prefix, converter);
    let networks = convert_networks(raw, container, &prefix, converter);
    let ports = convert_ports(name.get_ref(), container, &prefix, converter);

    if let ContainerKind::OneShot { outputs, .. } = &kind {
        check_outputs_are_mounted(container, outputs, &mounts, &prefix, converter);
    }

    ContainerSpec {
        name: name.get_ref().clone(),
        image: container.image.get_ref().clone(),
        kind,
        depends_on,
        command,
        env: container
            .env
            .iter()
            .map(|(k, v)| (k.get_ref().clone(), v.clone()))
            .collect(),
        mounts,
        networks,
        ports,
        security: convert_security(container, &prefix, converter),
        resources: convert_resources(container, &prefix, converter),
    }
}

fn convert_kind(
    container: &RawContainer,
    prefix: &str,
    converter: &mut Converter<'_>,
) -> ContainerKind {
    match container.run.get_ref().as_str() {
        "once" => {
            reject_key(
                container.restart.as_ref().map(Spanned::span),
                "restart",
                "once",
                prefix,
                converter,
            );
            reject_key(
                container.healthcheck.as_ref().map(Spanned::span),
                "healthcheck",
                "once",
                prefix,
                converter,
            );
            let timeout = match &container.timeout {
                Some(text) => positive_duration(text, &format!("{prefix}.timeout"), converter),
                None => DEFAULT_ONE_SHOT_TIMEOUT,
            };
            let outputs = container.outputs.as_ref().map_or_else(Vec::new, |outputs| {
                outputs
                    .get_ref()
                    .iter()
                    .map(|output| output.get_ref().clone())
                    .collect()
            });
            ContainerKind::OneShot { timeout, outputs }
        }
        "service" => {
            reject_key(
                container.timeout.as_ref().map(Spanned::span),
                "timeout",
                "service",
                prefix,
                converter,
            );
            reject_key(
                container.outputs.as_ref().map(Spanned::span),
                "outputs",
                "service",
                prefix,
                converter,
            );
            let healthcheck = container
                .healthcheck
                .as_ref()
                .map(|healthcheck| convert_healthcheck(healthcheck.get_ref(), prefix, converter));
            let restart = match &container.restart {
                Some(restart) => convert_restart(restart, prefix, converter),
                None => RestartPolicy::UnlessStopped,
            };
            ContainerKind::Service {
                healthcheck,
                restart,
            }
        }
        other => {
            converter.error(
                container.run.span(),
                format!("invalid `{prefix}.run` = \"{other}\""),
                "use \"once\" for a job that runs to completion or \"service\" for a long-running container",
            );
            ContainerKind::Service {
                healthcheck: None,
                restart: RestartPolicy::No,
            }
        }
    }
}

fn reject_key(
    span: Option<Range<usize>>,
    key: &str,
    run: &str,
    prefix: &str,
    converter: &mut Converter<'_>,
) {
    if let Some(span) = span {
        converter.error(
            span,
            format!("`{prefix}.{key}` does not apply to a container with run = \"{run}\""),
            format!("remove `{key}` or change `run`"),
        );
    }
}

fn positive_duration(text: &Text, key: &str, converter: &mut Converter<'_>) -> Duration {
    match parse_duration(text.get_ref()) {
        Ok(duration) if !duration.is_zero() => duration,
        Ok(_) => {
            converter.error(
                text.span(),
                format!("`{key}` must be longer than zero"),
                "use e.g. \"10m\" or \"30s\"",
            );
            Duration::ZERO
        }
        Err(reason) => {
            converter.error(
                text.span(),
                format!("invalid duration `{}` in `{key}`: {reason}", text.get_ref()),
                "write an integer with a unit ms, s, m or h, e.g. \"10m\", \"2s\" or \"1m30s\"",
            );
            Duration::ZERO
        }
    }
}

fn convert_healthcheck(
    healthcheck: &RawHealthcheck,
    prefix: &str,
    converter: &mut Converter<'_>,
) -> Healthcheck {
    let key = format!("{prefix}.healthcheck");
    let command = converter.convert_command(&healthcheck.command, &format!("{key}.command"));
    let duration_or = |converter: &mut Converter<'_>,
                       text: &Option<Text>,
                       name: &str,
                       default: Duration| match text {
        Some(text) => positive_duration(text, &format!("{key}.{name}"), converter),
        None => default,
    };
    let interval = duration_or(
        converter,
        &healthcheck.interval,
        "interval",
        DEFAULT_HEALTH_INTERVAL,
    );
    let timeout = duration_or(
        converter,
        &healthcheck.timeout,
        "timeout",
        DEFAULT_HEALTH_TIMEOUT,
    );

    // Zero is Docker's own default for the start period, so it is allowed here.
    let start_period = match &healthcheck.start_period {
        Some(text) => match parse_duration(text.get_ref()) {
            Ok(duration) => duration,
            Err(reason) => {
                converter.error(
                    text.span(),
                    format!(
                        "invalid duration `{}` in `{key}.start_period`: {reason}",
                        text.get_ref()
                    ),
                    "write an integer with a unit ms, s, m or h, e.g. \"5s\"",
                );
                Duration::ZERO
            }
        },
        None => Duration::ZERO,
    };

    let retries = match &healthcheck.retries {
        Some(retries) => match u32::try_from(*retries.get_ref()) {
            Ok(value) if value >= 1 => value,
            _ => {
                converter.error(
                    retries.span(),
                    format!("`{key}.retries` = {} is out of range", retries.get_ref()),
                    "use a number of consecutive failures from 1 to 4294967295, e.g. 3",
                );
                DEFAULT_HEALTH_RETRIES
            }
        },
        None => DEFAULT_HEALTH_RETRIES,
    };

    Healthcheck {
        command,
        interval,
        timeout,
        retries,
        start_period,
    }
}

fn convert_restart(restart: &Text, prefix: &str, converter: &mut Converter<'_>) -> RestartPolicy {
    let text = restart.get_ref().as_str();
    let policy = match text {
        "no" => Some(RestartPolicy::No),
        "always" => Some(RestartPolicy::Always),
        "unless-stopped" => Some(RestartPolicy::UnlessStopped),
        "on-failure" => Some(RestartPolicy::OnFailure { max_retries: 0 }),
        _ => text
            .strip_prefix("on-failure:")
            .and_then(|count| count.parse().ok())
            .map(|max_retries| RestartPolicy::OnFailure { max_retries }),
    };
    policy.unwrap_or_else(|| {
        converter.error(
            restart.span(),
            format!("invalid `{prefix}.restart` = \"{text}\""),
            "use \"no\", \"always\", \"unless-stopped\", \"on-failure\" or \"on-failure:<max retries>\"",
        );
        RestartPolicy::No
    })
}

fn convert_depends_on(
    raw: &RawStack,
    name: &Text,
    container: &RawContainer,
    prefix: &str,
    converter: &mut Converter<'_>,
) -> Vec<String> {
    let services = service_names(raw);
    let mut depends_on = Vec::new();
    for dependency in &container.depends_on {
        let dependency_name = dependency.get_ref();
        if dependency_name == name.get_ref() {
            converter.error(
                dependency.span(),
                format!("container `{dependency_name}` depends on itself"),
                format!("remove `{dependency_name}` from `{prefix}.depends_on`"),
            );
        } else if !raw.containers.contains_key(dependency) {
            converter.error(
                dependency.span(),
                format!("`{prefix}.depends_on` names the undefined container `{dependency_name}`"),
                format!(
                    "use the name of a [containers.<name>] table ({})",
                    defined_keys(&raw.containers)
                ),
            );
        } else if services.contains(dependency_name) {
            converter.error(
                dependency.span(),
                format!("`{prefix}.depends_on` names `{dependency_name}`, which is not a one-shot container"),
                format!("depend only on containers with run = \"once\", or set run = \"once\" on `{dependency_name}`"),
            );
        } else if depends_on.contains(dependency_name) {
            converter.error(
                dependency.span(),
                format!("`{dependency_name}` appears twice in `{prefix}.depends_on`"),
                "remove the repeated name",
            );
        }
        depends_on.push(dependency_name.clone());
    }
    depends_on
}

fn convert_mounts(
    raw: &RawStack,
    container: &RawContainer,
    prefix: &str,
    converter: &mut Converter<'_>,
) -> Vec<Mount> {
    let mut mounts: Vec<Mount> = Vec::new();
    for mount in &container.mounts {
        let mount = mount.get_ref();
        let target = mount.target.get_ref();

        if !raw.volumes.contains_key(&mount.volume) {
            converter.error(
                mount.volume.span(),
                format!(
                    "`{prefix}.mounts` names the undefined volume `{}`",
                    mount.volume.get_ref()
                ),
                format!(
                    "use the key of a [volumes.<key>] table ({})",
                    defined_keys(&raw.volumes)
                ),
            );
        }
        if !target.starts_with('/') {
            converter.error(
                mount.target.span(),
                format!("mount target `{target}` in `{prefix}.mounts` is not an absolute path"),
                "write the path inside the container from the root, e.g. \"/data\"",
            );
        } else if target == "/" {
            converter.error(
                mount.target.span(),
                format!("mount target `/` in `{prefix}.mounts` would hide the whole image"),
                "mount the volume on a directory, e.g. \"/data\"",
            );
        }
        let target = trim_trailing_slash(target);
        if mounts.iter().any(|existing| existing.target == target) {
            converter.error(
                mount.target.span(),
                format!("mount target `{target}` appears twice in `{prefix}.mounts`"),
                "mount each path once",
            );
        }

        mounts.push(Mount {
            volume: mount.volume.get_ref().clone(),
            target,
            read_only: mount.read_only,
        });
    }
    mounts
}

fn trim_trailing_slash(path: &str) -> String {
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        path.to_string()
    } else {
        trimmed.to_string()
    }
}

/// Checks that each declared output is an absolute path under a mount, since
/// the engine looks for it in the volume after the container exits.
fn check_outputs_are_mounted(
    container: &RawContainer,
    outputs: &[String],
    mounts: &[Mount],
    prefix: &str,
    converter: &mut Converter<'_>,
) {
    let Some(raw_outputs) = &container.outputs else {
        return;
    };
    for (output, raw_output) in outputs.iter().zip(raw_outputs.get_ref()) {
        let under_mount = mounts.iter().any(|mount| {
            output
                .strip_prefix(mount.target.as_str())
                .is_some_and(|rest| rest.starts_with('/') && rest.len() > 1)
        });
        if !under_mount {
            converter.error(
                raw_output.span(),
                format!("output `{output}` in `{prefix}.outputs` is not a file under a mounted volume"),
                "list an absolute path below one of the container's mount targets, e.g. \"/data/model.json\"",
            );
        }
    }
}

fn convert_networks(
    raw: &RawStack,
    container: &RawContainer,
    prefix: &str,
    converter: &mut Converter<'_>,
) -> Vec<String> {
    let mut networks: Vec<String> = Vec::new();
    for network in &container.networks {
        if !raw.networks.contains_key(network) {
            converter.error(
                network.span(),
                format!(
                    "`{prefix}.networks` names the undefined network `{}`",
                    network.get_ref()
                ),
                format!(
                    "use the key of a [networks.<key>] table ({})",
                    defined_keys(&raw.networks)
                ),
            );
        } else if networks.contains(network.get_ref()) {
            converter.error(
                network.span(),
                format!(
                    "network `{}` appears twice in `{prefix}.networks`",
                    network.get_ref()
                ),
                "list each network once",
            );
        }
        networks.push(network.get_ref().clone());
    }
    networks
}

fn convert_ports(
    name: &str,
    container: &RawContainer,
    prefix: &str,
    converter: &mut Converter<'_>,
) -> Vec<PortBinding> {
    let mut ports = Vec::new();
    for port in &container.ports {
        let port = port.get_ref();
        let host_port = port_number(&port.host, &format!("{prefix}.ports.host"), converter);
        let container_port = port_number(
            &port.container,
            &format!("{prefix}.ports.container"),
            converter,
        );

        let host_ip = match &port.host_ip {
            Some(text) => text.get_ref().parse::<IpAddr>().map_err(|_| {
                converter.error(
                    text.span(),
                    format!("invalid host_ip `{}` in `{prefix}.ports`", text.get_ref()),
                    "write an IPv4 or IPv6 address, e.g. \"127.0.0.1\" (loopback only) or \"0.0.0.0\" (every interface)",
                );
            }),
            None => Ok(IpAddr::from([127, 0, 0, 1])),
        };
        let protocol = match port
            .protocol
            .as_ref()
            .map(|text| (text, text.get_ref().as_str()))
        {
            None | Some((_, "tcp")) => Ok(Protocol::Tcp),
            Some((_, "udp")) => Ok(Protocol::Udp),
            Some((text, other)) => {
                converter.error(
                    text.span(),
                    format!("invalid protocol `{other}` in `{prefix}.ports`"),
                    "use \"tcp\" or \"udp\"",
                );
                Err(())
            }
        };

        if let (Some(host_port), Some(container_port), Ok(host_ip), Ok(protocol)) =
            (host_port, container_port, host_ip, protocol)
        {
            let binding = PortBinding {
                host_ip,
                host_port,
                container_port,
                protocol,
            };
            converter.published_ports.push(PublishedPort {
                binding,
                container: name.to_string(),
                span: port.host.span(),
            });
            ports.push(binding);
        }
    }
    ports
}

fn port_number(value: &Spanned<i64>, key: &str, converter: &mut Converter<'_>) -> Option<u16> {
    match u16::try_from(*value.get_ref()) {
        Ok(port) if port != 0 => Some(port),
        _ => {
            converter.error(
                value.span(),
                format!("port {} in `{key}` is out of range", value.get_ref()),
                "use a port from 1 to 65535",
            );
            None
        }
    }
}

fn convert_security(
    container: &RawContainer,
    prefix: &str,
    converter: &mut Converter<'_>,
) -> Security {
    let mut security = Security {
        user: Some(DEFAULT_USER.to_string()),
        read_only_rootfs: true,
        drop_all_capabilities: true,
        no_new_privileges: true,
    };
    let Some(raw) = &container.security else {
        return security;
    };
    let raw = raw.get_ref();
    let key = format!("{prefix}.security.user");

    if let Some(user) = &raw.user {
        match user.get_ref() {
            toml::Value::Boolean(false) => security.user = None,
            toml::Value::String(text) if is_valid_user(text) => security.user = Some(text.clone()),
            other => converter.error(
                user.span(),
                format!("invalid `{key}` = {other}"),
                "write \"uid[:gid]\" or \"name[:group]\", e.g. \"10001:10001\", or false to keep the image's USER",
            ),
        }
    }
    security.read_only_rootfs = raw.read_only_rootfs.unwrap_or(true);
    security.drop_all_capabilities = raw.drop_all_capabilities.unwrap_or(true);
    security.no_new_privileges = raw.no_new_privileges.unwrap_or(true);
    security
}

fn is_valid_user(text: &str) -> bool {
    let is_valid_part = |part: &str| {
        !part.is_empty()
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    };
    match text.split_once(':') {
        Some((user, group)) => is_valid_part(user) && is_valid_part(group),
        None => is_valid_part(text),
    }
}

fn convert_resources(
    container: &RawContainer,
    prefix: &str,
    converter: &mut Converter<'_>,
) -> Resources {
    let mut resources = Resources {
        memory_bytes: Some(DEFAULT_MEMORY_BYTES),
        pids_limit: Some(DEFAULT_PIDS_LIMIT),
        nano_cpus: None,
    };
    let Some(raw) = &container.resources else {
        return resources;
    };
    let raw = raw.get_ref();
    let key = format!("{prefix}.resources");

    if let Some(memory) = &raw.memory {
        resources.memory_bytes = convert_memory(memory, &key, converter);
    }
    if let Some(pids) = &raw.pids {
        resources.pids_limit = match pids.get_ref() {
            toml::Value::String(text) if text == "unlimited" => None,
            toml::Value::Integer(count) if *count >= 1 => Some(*count),
            other => {
                converter.error(
                    pids.span(),
                    format!("invalid `{key}.pids` = {other}"),
                    "write a positive number of processes, e.g. 64, or \"unlimited\"",
                );
                None
            }
        };
    }
    if let Some(cpus) = &raw.cpus {
        let value = *cpus.get_ref();
        // The engine's smallest CPU quota is 0.01 CPU (10^7 NanoCpus). The
        // upper bound only keeps `NanoCpus` within an i64.
        if value.is_finite() && (0.01..=1e9).contains(&value) {
            resources.nano_cpus = Some((value * 1e9).round() as i64);
        } else {
            converter.error(
                cpus.span(),
                format!("`{key}.cpus` = {value} is out of range"),
                "write a number of CPUs of at least 0.01, e.g. 1.0 or 0.5",
            );
        }
    }
    resources
}

fn convert_memory(memory: &Text, key: &str, converter: &mut Converter<'_>) -> Option<i64> {
    let text = memory.get_ref();
    if text == "unlimited" {
        return None;
    }
    match parse_size(text) {
        Ok(bytes) if bytes >= MIN_MEMORY_BYTES && i64::try_from(bytes).is_ok() => {
            i64::try_from(bytes).ok()
        }
        Ok(bytes) if bytes >= MIN_MEMORY_BYTES => {
            converter.error(
                memory.span(),
                format!("`{key}.memory` = \"{text}\" is too large"),
                "write a smaller size, or \"unlimited\"",
            );
            None
        }
        Ok(_) => {
            converter.error(
                memory.span(),
                format!("`{key}.memory` = \"{text}\" is below the engine's minimum of 6 MiB"),
                "raise the limit, e.g. \"128MiB\"",
            );
            None
        }
        Err(reason) => {
            converter.error(
                memory.span(),
                format!("invalid size `{text}` in `{key}.memory`: {reason}"),
                "write an integer with a unit, e.g. \"512MiB\", \"128m\" or \"1g\", or \"unlimited\"",
            );
            None
        }
    }
}
