//! Named volumes: inspect, ensure, remove.

use std::collections::{BTreeMap, HashMap};

use bollard::models::{Volume, VolumeCreateRequest};
use bollard::query_parameters::{ListVolumesOptionsBuilder, RemoveVolumeOptionsBuilder};

use super::{absent_as_none, Engine, EngineError, Outcome};

const KIND: &str = "volume";

/// Inspects the volume `name`; `None` when it does not exist.
pub async fn inspect(engine: &Engine, name: &str) -> Result<Option<Volume>, EngineError> {
    absent_as_none(engine.docker.inspect_volume(name).await)
        .map_err(EngineError::api("inspect", KIND, name))
}

/// Lists the volumes that carry `label` (`key=value`).
pub async fn list_labelled(engine: &Engine, label: &str) -> Result<Vec<Volume>, EngineError> {
    let filters = HashMap::from([("label".to_string(), vec![label.to_string()])]);
    let options = ListVolumesOptionsBuilder::default()
        .filters(&filters)
        .build();
    let response = engine
        .docker
        .list_volumes(Some(options))
        .await
        .map_err(EngineError::api("list", KIND, label))?;
    Ok(response.volumes.unwrap_or_default())
}

/// Creates the volume `name` with `labels` unless it exists.
pub async fn ensure(
    engine: &Engine,
    name: &str,
    labels: &BTreeMap<String, String>,
) -> Result<Outcome, EngineError> {
    if inspect(engine, name).await?.is_some() {
        return Ok(Outcome::Unchanged);
    }
    let request = VolumeCreateRequest {
        name: Some(name.to_string()),
        labels: Some(labels.clone().into_iter().collect()),
        ..Default::default()
    };
    engine
        .docker
        .create_volume(request)
        .await
        .map_err(EngineError::api("create", KIND, name))?;
    Ok(Outcome::Created)
}

/// Removes the volume `name`; absence counts as done.
pub async fn remove(engine: &Engine, name: &str) -> Result<Outcome, EngineError> {
    let options = RemoveVolumeOptionsBuilder::default().build();
    match absent_as_none(engine.docker.remove_volume(name, Some(options)).await) {
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
