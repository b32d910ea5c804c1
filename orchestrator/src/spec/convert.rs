//! Conversion of the raw file into the typed [`Stack`]: every value is
//! checked, every reference resolved, and every problem recorded with its
//! span so that one run reports all of them.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::ops::Range;
use std::path::PathBuf;

use toml::Spanned;

use super::container::convert_container;
use super::error::Diagnostics;
use super::model::*;
use super::names::{check_engine_name, check_image_reference, check_project_name};
use super::order::order_containers;
use super::paths::resolve;
use super::raw::*;

/// Names that Docker predefines for its own networks.
const PREDEFINED_NETWORKS: [&str; 3] = ["bridge", "host", "none"];

/// State shared by the conversion of each section.
pub(crate) struct Converter<'text> {
    /// Directory of the stack file, against which relative paths resolve.
    pub dir: PathBuf,
    pub diagnostics: Diagnostics<'text>,
    /// Every valid host port binding, for the duplicate check across containers.
    pub published_ports: Vec<PublishedPort>,
}

pub(crate) struct PublishedPort {
    pub binding: PortBinding,
    pub container: String,
    /// Span of the `host` value.
    pub span: Range<usize>,
}

impl Converter<'_> {
    pub fn error(
        &mut self,
        span: Range<usize>,
        message: impl Into<String>,
        help: impl Into<String>,
    ) {
        self.diagnostics.push(span, message, help);
    }

    /// Checks variable names of an `env` or `build_args` table.
    pub fn check_variable_names(&mut self, table: &BTreeMap<Text, String>, key: &str) {
        for name in table.keys() {
            if name.get_ref().is_empty() || name.get_ref().contains('=') {
                self.error(
                    name.span(),
                    format!("invalid variable name `{}` in `{key}`", name.get_ref()),
                    "use a non-empty name without `=`",
                );
            }
        }
    }

    /// Checks that a command has a program, and returns it as plain strings.
    pub fn convert_command(&mut self, command: &Spanned<Vec<Text>>, key: &str) -> Vec<String> {
        let words: Vec<String> = command
            .get_ref()
            .iter()
            .map(|word| word.get_ref().clone())
            .collect();
        if words.first().is_none_or(|program| program.is_empty()) {
            self.error(
                command.span(),
                format!("`{key}` is empty"),
                "give the program and its arguments as a list, e.g. [\"/api\", \"healthcheck\"]",
            );
        }
        words
    }
}

/// Returns the entries of a table in the order the file declares them.
pub(crate) fn in_file_order<T>(table: &BTreeMap<Text, T>) -> Vec<(&Text, &T)> {
    let mut entries: Vec<_> = table.iter().collect();
    entries.sort_by_key(|(key, _)| key.span().start);
    entries
}

/// Formats the defined keys for a "use one of" hint.
pub(crate) fn defined_keys<T>(table: &BTreeMap<Text, T>) -> String {
    if table.is_empty() {
        return "none is defined".to_string();
    }
    let keys: Vec<&str> = table.keys().map(|key| key.get_ref().as_str()).collect();
    format!("defined: {}", keys.join(", "))
}

/// Converts the whole file. The stack is meaningful only when no diagnostic
/// was recorded.
pub(crate) fn convert_stack(raw: &RawStack, converter: &mut Converter<'_>) -> Stack {
    let project = raw.project.get_ref().name.clone();
    if let Err(reason) = check_project_name(project.get_ref()) {
        converter.error(project.span(), reason, "change `project.name`");
    }
    let project = project.into_inner();

    let build_steps = convert_build_steps(raw, converter);
    let images = convert_images(raw, converter);
    let volumes = convert_volumes(raw, &project, converter);
    let networks = convert_networks(raw, &project, converter);

    let mut containers = Vec::new();
    for (name, container) in in_file_order(&raw.containers) {
        containers.push(convert_container(raw, name, container, converter));
    }
    check_host_ports(converter);
    let containers = order_containers(raw, containers, converter);

    Stack {
        file: PathBuf::new(),
        project,
        build_steps,
        images,
        volumes,
        networks,
        containers,
    }
}

fn convert_build_steps(raw: &RawStack, converter: &mut Converter<'_>) -> Vec<BuildStep> {
    let mut steps = Vec::new();
    for (name, step) in in_file_order(&raw.build_steps) {
        let step = step.get_ref();
        let key = format!("build_steps.{}", name.get_ref());
        check_step_name(name, converter);

        let command = converter.convert_command(&step.command, &format!("{key}.command"));
        converter.check_variable_names(&step.env, &format!("{key}.env"));

        let workdir = match &step.workdir {
            Some(workdir) => resolve(&converter.dir, workdir.get_ref()),
            None => converter.dir.clone(),
        };

        let mut inputs = Vec::new();
        for pattern in &step.inputs {
            check_input_pattern(pattern, &key, converter);
            inputs.push(pattern.get_ref().clone());
        }
        let outputs = step
            .outputs
            .iter()
            .map(|output| resolve(&workdir, output.get_ref()))
            .collect();

        steps.push(BuildStep {
            name: name.get_ref().clone(),
            command,
            env: step
                .env
                .iter()
                .map(|(k, v)| (k.get_ref().clone(), v.clone()))
                .collect(),
            workdir,
            inputs,
            outputs,
        });
    }
    steps
}

/// Checks a build step name. The name becomes the file name of the step's
/// stamp, so it is limited to characters that cannot form a path.
fn check_step_name(name: &Text, converter: &mut Converter<'_>) {
    let text = name.get_ref();
    let valid = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'));
    if !valid {
        converter.error(
            name.span(),
            format!("invalid build step name `{text}`"),
            "use only letters, digits, `_` and `-`, e.g. [build_steps.binaries]",
        );
    }
}

fn check_input_pattern(pattern: &Text, key: &str, converter: &mut Converter<'_>) {
    let text = pattern.get_ref();
    if text.starts_with('/') || text.split('/').any(|part| part == "..") {
        converter.error(
            pattern.span(),
            format!("input pattern `{text}` in `{key}.inputs` leaves the step's workdir"),
            "write patterns relative to the workdir, without `..`",
        );
        return;
    }
    if let Err(error) = globset::Glob::new(text) {
        converter.error(
            pattern.span(),
            format!("invalid glob `{text}` in `{key}.inputs`: {}", error.kind()),
            "fix the pattern, e.g. \"src/**\" or \"Cargo.toml\"",
        );
    }
}

fn convert_images(raw: &RawStack, converter: &mut Converter<'_>) -> BTreeMap<String, ImageSpec> {
    let mut images = BTreeMap::new();
    let mut tags: BTreeMap<String, String> = BTreeMap::new();

    for (key, image) in in_file_order(&raw.images) {
        let image = image.get_ref();
        let prefix = format!("images.{}", key.get_ref());

        let tag = image.tag.get_ref();
        if let Err(reason) = check_image_reference(tag) {
            converter.error(
                image.tag.span(),
                format!("invalid image tag `{tag}`: {reason}"),
                format!("change `{prefix}.tag`, e.g. \"etl_app:latest\""),
            );
        }
        if let Some(first) = tags.insert(tag.clone(), key.get_ref().clone()) {
            converter.error(
                image.tag.span(),
                format!("image tag `{tag}` is already used by `images.{first}`"),
                format!("give `{prefix}.tag` a tag of its own"),
            );
        }

        let context = resolve(&converter.dir, image.context.get_ref());
        let dockerfile = convert_dockerfile(image, &prefix, converter);

        let ignore_file = image
            .ignore_file
            .as_ref()
            .map(|ignore_file| resolve(&converter.dir, ignore_file.get_ref()));

        converter.check_variable_names(&image.build_args, &format!("{prefix}.build_args"));
        for step in &image.after_steps {
            if !raw.build_steps.contains_key(step) {
                converter.error(
                    step.span(),
                    format!(
                        "`{prefix}.after_steps` names the undefined build step `{}`",
                        step.get_ref()
                    ),
                    format!(
                        "define [build_steps.{}] or use a defined step ({})",
                        step.get_ref(),
                        defined_keys(&raw.build_steps)
                    ),
                );
            }
        }

        let spec = ImageSpec {
            key: key.get_ref().clone(),
            tag: tag.clone(),
            context,
            dockerfile,
            ignore_file,
            build_args: image
                .build_args
                .iter()
                .map(|(k, v)| (k.get_ref().clone(), v.clone()))
                .collect(),
            after_steps: image
                .after_steps
                .iter()
                .map(|step| step.get_ref().clone())
                .collect(),
        };
        images.insert(key.get_ref().clone(), spec);
    }
    images
}

/// Checks that the Dockerfile lies inside the context, because the classic
/// builder reads it from the context tar.
fn convert_dockerfile(image: &RawImage, prefix: &str, converter: &mut Converter<'_>) -> String {
    let Some(dockerfile) = &image.dockerfile else {
        return "Dockerfile".to_string();
    };

    let text = dockerfile.get_ref();
    let escapes = text.split('/').any(|part| part == "..");
    if text.is_empty() || text.starts_with('/') || text.contains('\\') || escapes {
        converter.error(
            dockerfile.span(),
            format!("`{prefix}.dockerfile` = \"{text}\" is not a path inside the build context"),
            "write the Dockerfile path relative to `context`, with `/` separators and without `..`",
        );
        return text.clone();
    }
    let parts: Vec<&str> = text
        .split('/')
        .filter(|part| !part.is_empty() && *part != ".")
        .collect();
    parts.join("/")
}

fn convert_volumes(
    raw: &RawStack,
    project: &str,
    converter: &mut Converter<'_>,
) -> BTreeMap<String, VolumeSpec> {
    let mut volumes = BTreeMap::new();
    let mut names: BTreeMap<String, String> = BTreeMap::new();

    for (key, volume) in in_file_order(&raw.volumes) {
        let prefix = format!("volumes.{}", key.get_ref());
        let (name, span) = engine_name(&volume.get_ref().name, project, key);
        check_unique_engine_name(&name, span, &prefix, "volume", &mut names, converter);

        let spec = VolumeSpec {
            key: key.get_ref().clone(),
            name,
        };
        volumes.insert(key.get_ref().clone(), spec);
    }
    volumes
}

fn convert_networks(
    raw: &RawStack,
    project: &str,
    converter: &mut Converter<'_>,
) -> BTreeMap<String, NetworkSpec> {
    let mut networks = BTreeMap::new();
    let mut names: BTreeMap<String, String> = BTreeMap::new();

    for (key, network) in in_file_order(&raw.networks) {
        let network = network.get_ref();
        let prefix = format!("networks.{}", key.get_ref());
        let (name, span) = engine_name(&network.name, project, key);
        check_unique_engine_name(
            &name,
            span.clone(),
            &prefix,
            "network",
            &mut names,
            converter,
        );
        if PREDEFINED_NETWORKS.contains(&name.as_str()) {
            converter.error(
                span,
                format!("network name `{name}` is predefined by Docker"),
                format!("give `{prefix}.name` another name"),
            );
        }

        if let Some(driver) = &network.driver {
            if driver.get_ref() != "bridge" {
                converter.error(
                    driver.span(),
                    format!("unsupported network driver `{}`", driver.get_ref()),
                    format!("set `{prefix}.driver` to \"bridge\" or remove it"),
                );
            }
        }

        let spec = NetworkSpec {
            key: key.get_ref().clone(),
            name,
            driver: "bridge".to_string(),
        };
        networks.insert(key.get_ref().clone(), spec);
    }
    networks
}

/// Returns the declared engine name, or `<project>-<key>` by default, with
/// the span to report problems at.
fn engine_name(declared: &Option<Text>, project: &str, key: &Text) -> (String, Range<usize>) {
    match declared {
        Some(name) => (name.get_ref().clone(), name.span()),
        None => (format!("{project}-{}", key.get_ref()), key.span()),
    }
}

fn check_unique_engine_name(
    name: &str,
    span: Range<usize>,
    prefix: &str,
    kind: &str,
    names: &mut BTreeMap<String, String>,
    converter: &mut Converter<'_>,
) {
    if let Err(reason) = check_engine_name(name) {
        converter.error(
            span.clone(),
            format!("invalid {kind} name: {reason}"),
            format!("change `{prefix}.name`"),
        );
    }
    if let Some(first) = names.insert(name.to_string(), prefix.to_string()) {
        converter.error(
            span,
            format!("{kind} name `{name}` is already used by `{first}`"),
            format!("give `{prefix}` a name of its own"),
        );
    }
}

/// Rejects two bindings of the same host port and protocol on overlapping
/// addresses, because the kernel rejects the second bind.
fn check_host_ports(converter: &mut Converter<'_>) {
    let published = std::mem::take(&mut converter.published_ports);
    for (index, port) in published.iter().enumerate() {
        let binding = port.binding;
        let clash = published[..index].iter().find(|other| {
            other.binding.host_port == binding.host_port
                && other.binding.protocol == binding.protocol
                && addresses_overlap(other.binding.host_ip, binding.host_ip)
        });
        if let Some(other) = clash {
            converter.error(
                port.span.clone(),
                format!(
                    "host port {} is already published by container `{}` ({})",
                    SocketAddr::new(binding.host_ip, binding.host_port),
                    other.container,
                    SocketAddr::new(other.binding.host_ip, other.binding.host_port),
                ),
                format!(
                    "change `host` in `containers.{}.ports` to a free port",
                    port.container
                ),
            );
        }
    }
}

/// Returns true when binding the same port on both addresses fails. `0.0.0.0`
/// covers every IPv4 address, and `::` every address of both families on a
/// dual-stack Linux host.
fn addresses_overlap(first: IpAddr, second: IpAddr) -> bool {
    let covers = |wide: IpAddr, other: IpAddr| {
        wide.is_unspecified() && (wide.is_ipv6() || wide.is_ipv4() == other.is_ipv4())
    };
    first == second || covers(first, second) || covers(second, first)
}

/// Returns the set of container names whose `run` is `"service"`. A
/// container with an invalid `run` is in neither set, so it causes one error
/// only.
pub(crate) fn service_names(raw: &RawStack) -> BTreeSet<String> {
    raw.containers
        .iter()
        .filter(|(_, container)| container.get_ref().run.get_ref() == "service")
        .map(|(name, _)| name.get_ref().clone())
        .collect()
}
