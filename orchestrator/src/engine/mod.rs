//! The only layer that talks to the Docker Engine, through bollard.
//!
//! One module per resource kind (image, volume, network, container), each
//! with the same verbs: `inspect` returns `Ok(None)` for a resource that
//! does not exist (HTTP 404 is absence, not an error), `ensure` is
//! idempotent, and `remove` treats absence as done. Each verb returns an
//! [`Outcome`] that progress output and tests read.

pub mod container;
pub mod image;
pub mod network;
pub mod observe;
pub mod volume;

use std::fmt;

use bollard::Docker;

/// Result of one verb on one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Created,
    Unchanged,
    Replaced,
    Removed,
    /// `remove` found nothing to remove.
    Absent,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let word = match self {
            Outcome::Created => "created",
            Outcome::Unchanged => "unchanged",
            Outcome::Replaced => "replaced",
            Outcome::Removed => "removed",
            Outcome::Absent => "absent",
        };
        f.write_str(word)
    }
}

/// Default endpoint of the Docker CLI and of bollard when `DOCKER_HOST` is unset.
pub const DEFAULT_DOCKER_HOST: &str = "unix:///var/run/docker.sock";

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(
        "cannot reach the Docker Engine at {endpoint}; start it (for example \
         `sudo systemctl start docker`) or set DOCKER_HOST to its socket"
    )]
    Unreachable {
        endpoint: String,
        #[source]
        source: bollard::errors::Error,
    },
    #[error("failed to {operation} {kind} `{name}`")]
    Api {
        operation: &'static str,
        kind: &'static str,
        name: String,
        #[source]
        source: bollard::errors::Error,
    },
    #[error(
        "{} {kind}s are named `{name}` and not all carry one project's label; remove the \
         ones this stack does not use with `docker {kind} rm ID` (ids: {})",
        .ids.len(), .ids.join(", ")
    )]
    Ambiguous {
        kind: &'static str,
        name: String,
        ids: Vec<String>,
    },
}

impl EngineError {
    pub(crate) fn api(
        operation: &'static str,
        kind: &'static str,
        name: &str,
    ) -> impl FnOnce(bollard::errors::Error) -> EngineError {
        let name = name.to_string();
        move |source| EngineError::Api {
            operation,
            kind,
            name,
            source,
        }
    }
}

/// A connection to the Docker Engine at a negotiated API version.
#[derive(Debug, Clone)]
pub struct Engine {
    pub docker: Docker,
    /// `DOCKER_HOST` or the default socket, for error messages.
    pub endpoint: String,
}

impl Engine {
    /// Connects to `DOCKER_HOST` (default: the local socket) and negotiates
    /// the API version, because bollard 0.21 speaks API 1.53 by default and
    /// older engines such as 20.10 (API 1.41) reject newer versions.
    pub async fn connect() -> Result<Self, EngineError> {
        let endpoint = std::env::var("DOCKER_HOST").unwrap_or_else(|_| DEFAULT_DOCKER_HOST.into());
        let unreachable = |source| EngineError::Unreachable {
            endpoint: endpoint.clone(),
            source,
        };
        let docker = Docker::connect_with_defaults().map_err(unreachable)?;
        let docker = docker.negotiate_version().await.map_err(unreachable)?;
        Ok(Self { docker, endpoint })
    }
}

/// Tells whether an API error means the resource does not exist.
pub(crate) fn is_not_found(error: &bollard::errors::Error) -> bool {
    matches!(
        error,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

/// Maps a 404 to `Ok(None)` and keeps every other result.
pub(crate) fn absent_as_none<T>(
    result: Result<T, bollard::errors::Error>,
) -> Result<Option<T>, bollard::errors::Error> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(error) if is_not_found(&error) => Ok(None),
        Err(error) => Err(error),
    }
}
