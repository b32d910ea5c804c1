//! Snapshot of the existing resources: the engine's, and the build-step
//! stamps on disk. The engine layer fills it before planning.
//!
//! The planner reads only this snapshot, so it stays pure and every case it
//! handles can be written as a literal in a test.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::labels;

/// Everything the planner needs to know about existing resources.
///
/// The engine layer fills each map with the resources labelled with the
/// project (see [`labels::PROJECT`]) **and** with any resource whose name the
/// stack file declares, labelled or not. The second set lets the planner
/// report a name taken by a resource of another owner instead of failing
/// later in a create call.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observed {
    /// Images by tag (`etl_app:latest`). An image with several tags appears
    /// once per tag.
    pub images: BTreeMap<String, ObservedImage>,
    /// Volumes by engine-side name.
    pub volumes: BTreeMap<String, ObservedVolume>,
    /// Networks by engine-side name.
    pub networks: BTreeMap<String, ObservedNetwork>,
    /// Containers by name, without Docker's leading `/`.
    pub containers: BTreeMap<String, ObservedContainer>,
    /// Host build steps by name, from their stamp files.
    pub build_steps: BTreeMap<String, ObservedBuildStep>,
    /// For each declared one-shot container that does not exist, the
    /// declared outputs missing from its volumes, checked through a
    /// container created (never started) from its image with its volumes
    /// mounted. No entry when they could not be checked: the image or a
    /// volume does not exist, or the container declares no outputs.
    pub absent_one_shot_missing_outputs: BTreeMap<String, Vec<String>>,
    /// Record of the last successful run of each one-shot container, by
    /// name, from the files on the host beside the build-step stamps.
    pub one_shot_runs: BTreeMap<String, OneShotRun>,
}

/// Record of the image and configuration of a one-shot container's last
/// run that exited 0.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OneShotRun {
    /// Value of the fingerprint label the container had.
    pub fingerprint: String,
    /// ID of the image it ran, `sha256:<hex>`.
    pub image_id: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ObservedImage {
    /// Image ID, `sha256:<hex>`.
    pub id: String,
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ObservedVolume {
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ObservedNetwork {
    pub id: String,
    /// Engine driver name, e.g. `bridge`.
    pub driver: String,
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ObservedContainer {
    pub id: String,
    /// ID of the image the container was created from, `sha256:<hex>`.
    pub image_id: String,
    pub labels: BTreeMap<String, String>,
    pub state: ContainerState,
    /// Exit code of the last run; `None` while the container never exited.
    pub exit_code: Option<i64>,
    /// `None` when the container has no healthcheck.
    pub health: Option<HealthStatus>,
    /// For a one-shot container: the declared outputs (paths inside the
    /// container) that were not found in its mounted volume. Empty when all
    /// exist, and for service containers.
    pub missing_outputs: Vec<String>,
}

/// Container status as the Engine API reports it in `State.Status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerState {
    Created,
    Running,
    Paused,
    Restarting,
    Removing,
    Exited,
    Dead,
    /// Reported by daemons newer than Engine API 1.41 while a stop runs.
    Stopping,
}

impl ContainerState {
    /// Parses the Engine API's `State.Status` string. Returns `None` for a
    /// value the API does not document, such as the empty string.
    pub fn from_engine(status: &str) -> Option<Self> {
        match status {
            "created" => Some(Self::Created),
            "running" => Some(Self::Running),
            "paused" => Some(Self::Paused),
            "restarting" => Some(Self::Restarting),
            "removing" => Some(Self::Removing),
            "exited" => Some(Self::Exited),
            "dead" => Some(Self::Dead),
            "stopping" => Some(Self::Stopping),
            _ => None,
        }
    }

    /// Returns the Engine API's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Running => "running",
            Self::Paused => "paused",
            Self::Restarting => "restarting",
            Self::Removing => "removing",
            Self::Exited => "exited",
            Self::Dead => "dead",
            Self::Stopping => "stopping",
        }
    }
}

impl std::fmt::Display for ContainerState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Healthcheck status as the Engine API reports it in `State.Health.Status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthStatus {
    Starting,
    Healthy,
    Unhealthy,
}

impl HealthStatus {
    /// Parses `State.Health.Status`; `None` for `none`, an empty string or an
    /// undocumented value, which all mean no healthcheck result.
    pub fn from_engine(status: &str) -> Option<Self> {
        match status {
            "starting" => Some(Self::Starting),
            "healthy" => Some(Self::Healthy),
            "unhealthy" => Some(Self::Unhealthy),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Starting => "starting",
            Self::Healthy => "healthy",
            Self::Unhealthy => "unhealthy",
        }
    }
}

impl std::fmt::Display for HealthStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Record of a host build step's last successful run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ObservedBuildStep {
    /// Inputs hash written after the last successful run; `None` when the
    /// step never succeeded (no stamp file).
    pub recorded_inputs_hash: Option<String>,
    /// Declared outputs that do not exist on disk.
    pub missing_outputs: Vec<PathBuf>,
}

/// Returns the value of the project label, if any.
pub fn project_label(labels: &BTreeMap<String, String>) -> Option<&str> {
    labels.get(labels::PROJECT).map(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_state_round_trips() {
        // The values of `ContainerStateStatusEnum` in bollard-stubs 1.53
        // (models.rs), which mirrors the Engine API's `State.Status`.
        for status in [
            "created",
            "running",
            "paused",
            "restarting",
            "removing",
            "exited",
            "dead",
            "stopping",
        ] {
            let state = ContainerState::from_engine(status).expect(status);
            assert_eq!(state.as_str(), status);
        }
        assert_eq!(ContainerState::from_engine(""), None);
    }

    #[test]
    fn health_status_none_is_absent() {
        assert_eq!(HealthStatus::from_engine("none"), None);
        assert_eq!(
            HealthStatus::from_engine("healthy"),
            Some(HealthStatus::Healthy)
        );
        assert_eq!(
            HealthStatus::from_engine("unhealthy"),
            Some(HealthStatus::Unhealthy)
        );
        assert_eq!(
            HealthStatus::from_engine("starting"),
            Some(HealthStatus::Starting)
        );
    }
}
