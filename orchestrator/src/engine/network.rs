//! Networks: inspect, ensure, remove.

use std::collections::{BTreeMap, HashMap};

use bollard::models::{NetworkCreateRequest, NetworkInspect};
use bollard::query_parameters::ListNetworksOptionsBuilder;

use super::{absent_as_none, Engine, EngineError, Outcome};

const KIND: &str = "network";

/// Inspects the network `name`; `None` when it does not exist.
pub async fn inspect(engine: &Engine, name: &str) -> Result<Option<NetworkInspect>, EngineError> {
    absent_as_none(engine.docker.inspect_network(name, None).await)
        .map_err(EngineError::api("inspect", KIND, name))
}

/// Lists the names of the networks that carry `label` (`key=value`).
pub async fn list_labelled(engine: &Engine, label: &str) -> Result<Vec<String>, EngineError> {
    let filters = HashMap::from([("label".to_string(), vec![label.to_string()])]);
    let options = ListNetworksOptionsBuilder::default()
        .filters(&filters)
        .build();
    let networks = engine
        .docker
        .list_networks(Some(options))
        .await
        .map_err(EngineError::api("list", KIND, label))?;
    Ok(networks.into_iter().filter_map(|n| n.name).collect())
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

/// Removes the network `name`; absence counts as done.
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
