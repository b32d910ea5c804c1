//! Networks: inspect, ensure, remove.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use bollard::models::{Network, NetworkCreateRequest, NetworkInspect};
use bollard::query_parameters::ListNetworksOptionsBuilder;

use super::{absent_as_none, Engine, EngineError, Outcome};
use crate::labels;

const KIND: &str = "network";

/// Inspects the network `name`; `None` when it does not exist.
///
/// Docker allows several networks of one name (two runs that created it at
/// once), and then rejects inspecting or removing it by name. When every
/// network of that name carries the same project label, the one with the
/// smallest id is kept and the others are removed, so the stack converges.
/// Two runs doing this at once keep the same one. Otherwise the error lists
/// the network ids for the user to remove by hand.
pub async fn inspect(engine: &Engine, name: &str) -> Result<Option<NetworkInspect>, EngineError> {
    let error = match absent_as_none(engine.docker.inspect_network(name, None).await) {
        Ok(found) => return Ok(found),
        Err(error) => error,
    };
    let mut same_name = list_named(engine, name).await?;
    if same_name.len() < 2 {
        return Err(EngineError::api("inspect", KIND, name)(error));
    }
    let projects: BTreeSet<Option<&String>> = same_name
        .iter()
        .map(|n| n.labels.as_ref().and_then(|l| l.get(labels::PROJECT)))
        .collect();
    if projects.len() != 1 || projects.contains(&None) {
        return Err(EngineError::Ambiguous {
            kind: KIND,
            name: name.to_string(),
            ids: same_name.into_iter().filter_map(|n| n.id).collect(),
        });
    }
    same_name.sort_by(|a, b| a.id.cmp(&b.id));
    let kept = same_name.remove(0).id.unwrap_or_default();
    for duplicate in same_name.into_iter().filter_map(|n| n.id) {
        tracing::warn!("removing network {duplicate}, a duplicate of `{name}` ({kept})");
        remove(engine, &duplicate).await?;
    }
    absent_as_none(engine.docker.inspect_network(&kept, None).await)
        .map_err(EngineError::api("inspect", KIND, name))
}

/// Lists the networks whose name is exactly `name`.
async fn list_named(engine: &Engine, name: &str) -> Result<Vec<Network>, EngineError> {
    // The engine's `name` filter matches substrings; keep exact matches.
    let filters = HashMap::from([("name".to_string(), vec![name.to_string()])]);
    let options = ListNetworksOptionsBuilder::default()
        .filters(&filters)
        .build();
    let networks = engine
        .docker
        .list_networks(Some(options))
        .await
        .map_err(EngineError::api("list", KIND, name))?;
    Ok(networks
        .into_iter()
        .filter(|n| n.name.as_deref() == Some(name))
        .collect())
}

/// Lists the names of the networks that carry `label` (`key=value`), each
/// name once even when several networks share it.
pub async fn list_labelled(engine: &Engine, label: &str) -> Result<Vec<String>, EngineError> {
    let mut names: Vec<String> = list_labelled_ids(engine, label)
        .await?
        .into_iter()
        .map(|(_, name)| name)
        .collect();
    names.sort();
    names.dedup();
    Ok(names)
}

/// Lists `(id, name)` of every network that carries `label` (`key=value`),
/// duplicates of a name included, for `down` to remove each by id.
pub async fn list_labelled_ids(
    engine: &Engine,
    label: &str,
) -> Result<Vec<(String, String)>, EngineError> {
    let filters = HashMap::from([("label".to_string(), vec![label.to_string()])]);
    let options = ListNetworksOptionsBuilder::default()
        .filters(&filters)
        .build();
    let networks = engine
        .docker
        .list_networks(Some(options))
        .await
        .map_err(EngineError::api("list", KIND, label))?;
    Ok(networks
        .into_iter()
        .filter_map(|n| Some((n.id?, n.name?)))
        .collect())
}

/// Creates the network `name` with `driver` and `labels` unless it exists.
pub async fn ensure(
    engine: &Engine,
    name: &str,
    driver: &str,
    labels: &BTreeMap<String, String>,
) -> Result<Outcome, EngineError> {
    if inspect(engine, name).await?.is_some() {
        return Ok(Outcome::Unchanged);
    }
    let request = NetworkCreateRequest {
        name: name.to_string(),
        driver: Some(driver.to_string()),
        labels: Some(labels.clone().into_iter().collect()),
        ..Default::default()
    };
    engine
        .docker
        .create_network(request)
        .await
        .map_err(EngineError::api("create", KIND, name))?;
    Ok(Outcome::Created)
}

/// Removes the network `name` (a name or an id); absence counts as done.
pub async fn remove(engine: &Engine, name: &str) -> Result<Outcome, EngineError> {
    match absent_as_none(engine.docker.remove_network(name).await) {
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
