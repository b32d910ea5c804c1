//! The snapshot of the engine that the planner compares with the stack file.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use bollard::models::ContainerInspectResponse;

use super::{container, image, network, volume, Engine, EngineError};
use crate::labels;
use crate::plan::{
    ContainerState, HealthStatus, Observed, ObservedContainer, ObservedImage, ObservedNetwork,
    ObservedVolume,
};
use crate::spec::{ContainerKind, Stack};

/// Fills [`Observed`] with the resources labelled with the stack's project
/// and the resources whose names the stack declares. Build steps are left
/// empty: they live on the host, not in the engine.
pub async fn observe(engine: &Engine, stack: &Stack) -> Result<Observed, EngineError> {
    let label = labels::project_filter(&stack.project);
    let mut observed = Observed::default();

    let mut tags: BTreeSet<String> = stack.images.values().map(|i| i.tag.clone()).collect();
    tags.extend(image::list_labelled(engine, &label).await?);
    for tag in tags {
        if let Some(found) = image::inspect(engine, &tag).await? {
            let observed_image = ObservedImage {
                id: found.id.unwrap_or_default(),
                labels: sorted(found.config.and_then(|c| c.labels)),
            };
            observed.images.insert(tag, observed_image);
        }
    }

    let mut volumes: BTreeSet<String> = stack.volumes.values().map(|v| v.name.clone()).collect();
    volumes.extend(
        volume::list_labelled(engine, &label)
            .await?
            .into_iter()
            .map(|v| v.name),
    );
    for name in volumes {
        if let Some(found) = volume::inspect(engine, &name).await? {
            let labels = found.labels.into_iter().collect();
            observed.volumes.insert(name, ObservedVolume { labels });
        }
    }

    let mut networks: BTreeSet<String> = stack.networks.values().map(|n| n.name.clone()).collect();
    networks.extend(network::list_labelled(engine, &label).await?);
    for name in networks {
        if let Some(found) = network::inspect(engine, &name).await? {
            let observed_network = ObservedNetwork {
                id: found.id.unwrap_or_default(),
                driver: found.driver.unwrap_or_default(),
                labels: sorted(found.labels),
            };
            observed.networks.insert(name, observed_network);
        }
    }

    let mut containers: BTreeSet<String> =
        stack.containers.iter().map(|c| c.name.clone()).collect();
    containers.extend(container::list_labelled(engine, &label).await?);
    for name in containers {
        if let Some(found) = container::inspect(engine, &name).await? {
            let outputs = declared_outputs(stack, &name);
            let observed_container = observe_container(engine, &name, found, outputs).await?;
            observed.containers.insert(name, observed_container);
        }
    }

    for spec in &stack.containers {
        let ContainerKind::OneShot { outputs, .. } = &spec.kind else {
            continue;
        };
        if outputs.is_empty() || observed.containers.contains_key(&spec.name) {
            continue;
        }
        let Some(tag) = stack.images.get(&spec.image).map(|i| &i.tag) else {
            continue;
        };
        let volumes_exist = spec.mounts.iter().all(|mount| {
            stack
                .volumes
                .get(&mount.volume)
                .is_some_and(|v| observed.volumes.contains_key(&v.name))
        });
        if !observed.images.contains_key(tag) || !volumes_exist {
            continue;
        }
        let missing = container::missing_outputs_in_volumes(engine, stack, spec, tag).await?;
        observed
            .absent_one_shot_missing_outputs
            .insert(spec.name.clone(), missing);
    }
    Ok(observed)
}

fn declared_outputs<'a>(stack: &'a Stack, name: &str) -> &'a [String] {
    let spec = stack.containers.iter().find(|c| c.name == name);
    match spec.map(|c| &c.kind) {
        Some(ContainerKind::OneShot { outputs, .. }) => outputs,
        _ => &[],
    }
}

/// Converts an inspect response; for an exited one-shot container, also
/// looks up each declared output in its mounted volumes.
pub async fn observe_container(
    engine: &Engine,
    name: &str,
    found: ContainerInspectResponse,
    outputs: &[String],
) -> Result<ObservedContainer, EngineError> {
    let state = found.state.unwrap_or_default();
    let status = state.status.map(|s| s.to_string()).unwrap_or_default();
    let container_state = ContainerState::from_engine(&status).unwrap_or(ContainerState::Dead);
    let exit_code = match container_state {
        ContainerState::Exited | ContainerState::Dead => state.exit_code,
        _ => None,
    };
    let health = state
        .health
        .and_then(|h| h.status)
        .and_then(|s| HealthStatus::from_engine(s.as_ref()));

    let mut missing_outputs = Vec::new();
    if container_state == ContainerState::Exited {
        for path in outputs {
            if !container::path_exists(engine, name, path).await? {
                missing_outputs.push(path.clone());
            }
        }
    }

    Ok(ObservedContainer {
        id: found.id.unwrap_or_default(),
        image_id: found.image.unwrap_or_default(),
        labels: sorted(found.config.and_then(|c| c.labels)),
        state: container_state,
        exit_code,
        health,
        missing_outputs,
    })
}

fn sorted(labels: Option<HashMap<String, String>>) -> BTreeMap<String, String> {
    labels.unwrap_or_default().into_iter().collect()
}
