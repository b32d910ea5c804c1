//! `status [--format json]`: each resource of the stack, its state, health
//! and published ports.

use serde::Serialize;

use super::{load_stack, Global};
use crate::engine::{container, observe, Engine};
use crate::plan::project_label;
use crate::spec::Stack;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
}

#[derive(Debug, Clone, clap::Args)]
pub struct StatusArgs {
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
}

/// One row of the status output.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Row {
    pub kind: &'static str,
    pub name: String,
    /// `missing`, `present`, or a container state such as `running`.
    pub state: String,
    pub health: Option<String>,
    pub exit_code: Option<i64>,
    /// Published ports as `host_ip:host_port->container_port/protocol`.
    pub ports: Vec<String>,
    /// `false` when the resource exists but lacks the project label.
    pub owned: bool,
}

pub async fn run(global: &Global, args: &StatusArgs) -> anyhow::Result<()> {
    let stack = load_stack(&global.file)?;
    let engine = Engine::connect().await?;
    let rows = collect(&engine, &stack).await?;
    match args.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&rows)?),
        Format::Table => print_table(&rows),
    }
    Ok(())
}

/// Builds the status rows of every declared or labelled resource.
pub async fn collect(engine: &Engine, stack: &Stack) -> anyhow::Result<Vec<Row>> {
    let observed = observe::observe(engine, stack).await?;
    let owned = |labels| project_label(labels) == Some(stack.project.as_str());
    let mut rows = Vec::new();

    for image in stack.images.values() {
        let found = observed.images.get(&image.tag);
        rows.push(presence_row(
            "image",
            &image.tag,
            found.map(|i| owned(&i.labels)),
        ));
    }
    for (tag, image) in &observed.images {
        if !stack.images.values().any(|i| &i.tag == tag) {
            rows.push(presence_row("image", tag, Some(owned(&image.labels))));
        }
    }
    for volume in stack.volumes.values() {
        let found = observed.volumes.get(&volume.name);
        rows.push(presence_row(
            "volume",
            &volume.name,
            found.map(|v| owned(&v.labels)),
        ));
    }
    for network in stack.networks.values() {
        let found = observed.networks.get(&network.name);
        rows.push(presence_row(
            "network",
            &network.name,
            found.map(|n| owned(&n.labels)),
        ));
    }

    let mut names: Vec<String> = stack.containers.iter().map(|c| c.name.clone()).collect();
    names.extend(
        observed
            .containers
            .keys()
            .filter(|n| !names.contains(n))
            .cloned()
            .collect::<Vec<_>>(),
    );
    for name in names {
        let Some(found) = observed.containers.get(&name) else {
            rows.push(presence_row("container", &name, None));
            continue;
        };
        let ports = match container::inspect(engine, &name).await? {
            Some(details) => published_ports(&details),
            None => Vec::new(),
        };
        rows.push(Row {
            kind: "container",
            name,
            state: found.state.to_string(),
            health: found.health.map(|h| h.to_string()),
            exit_code: found.exit_code,
            ports,
            owned: owned(&found.labels),
        });
    }
    Ok(rows)
}

fn presence_row(kind: &'static str, name: &str, owned: Option<bool>) -> Row {
    Row {
        kind,
        name: name.to_string(),
        state: if owned.is_some() {
            "present"
        } else {
            "missing"
        }
        .to_string(),
        health: None,
        exit_code: None,
        ports: Vec::new(),
        owned: owned.unwrap_or(false),
    }
}

fn published_ports(details: &bollard::models::ContainerInspectResponse) -> Vec<String> {
    let bindings = details
        .host_config
        .as_ref()
        .and_then(|h| h.port_bindings.clone())
        .unwrap_or_default();
    let mut ports: Vec<String> = bindings
        .into_iter()
        .flat_map(|(container_port, hosts)| {
            hosts.unwrap_or_default().into_iter().map(move |host| {
                let ip = host.host_ip.unwrap_or_default();
                let ip = if ip.is_empty() {
                    "0.0.0.0".to_string()
                } else {
                    ip
                };
                format!(
                    "{ip}:{}->{container_port}",
                    host.host_port.unwrap_or_default()
                )
            })
        })
        .collect();
    ports.sort();
    ports
}

fn print_table(rows: &[Row]) {
    println!(
        "{:<10} {:<24} {:<10} {:<10} PORTS",
        "KIND", "NAME", "STATE", "HEALTH"
    );
    for row in rows {
        let mut state = row.state.clone();
        if let Some(code) = row.exit_code {
            state = format!("{state} ({code})");
        }
        if row.state != "missing" && !row.owned {
            state.push_str(" [not owned]");
        }
        println!(
            "{:<10} {:<24} {:<10} {:<10} {}",
            row.kind,
            row.name,
            state,
            row.health.as_deref().unwrap_or("-"),
            row.ports.join(", ")
        );
    }
}
