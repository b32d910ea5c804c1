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
    ///
    /// On a Unix socket the version comes from the `Api-Version` header of
    /// `GET /_ping`. bollard's negotiation requests `GET /version` instead,
    /// which took 4 to 6 ms on Engine 20.10 against 0.3 ms for the ping
    /// (curl on the socket), and every command pays it once.
    pub async fn connect() -> Result<Self, EngineError> {
        let endpoint = std::env::var("DOCKER_HOST").unwrap_or_else(|_| DEFAULT_DOCKER_HOST.into());
        let unreachable = |source| EngineError::Unreachable {
            endpoint: endpoint.clone(),
            source,
        };
        if let Some(socket) = endpoint.strip_prefix("unix://") {
            if let Some(server) = ping_api_version(socket).await {
                let default = *bollard::API_DEFAULT_VERSION;
                let version = if server < default { server } else { default };
                let docker = Docker::connect_with_unix(&endpoint, CONNECT_TIMEOUT_SECS, &version)
                    .map_err(unreachable)?;
                return Ok(Self { docker, endpoint });
            }
        }
        // Any other transport, or a failed ping, goes through bollard's own
        // negotiation, whose error reports why the engine is unreachable.
        let docker = Docker::connect_with_defaults().map_err(unreachable)?;
        let docker = docker.negotiate_version().await.map_err(unreachable)?;
        Ok(Self { docker, endpoint })
    }
}

/// Request timeout of the engine connection, bollard's default.
const CONNECT_TIMEOUT_SECS: u64 = 120;

/// Returns the API version that the engine on the Unix socket `path`
/// reports in the `Api-Version` header of `GET /_ping`, or `None` when the
/// response has no such header or the socket cannot be reached.
async fn ping_api_version(path: &str) -> Option<bollard::ClientVersion> {
    use http_body_util::Empty;
    use hyper_util::rt::TokioIo;

    let stream = tokio::net::UnixStream::connect(path).await.ok()?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .ok()?;
    let driver = tokio::spawn(connection);
    let request = hyper::Request::get("/_ping")
        .header(hyper::header::HOST, "docker")
        .body(Empty::<bytes::Bytes>::new())
        .ok()?;
    let response = sender.send_request(request).await;
    driver.abort();
    let header = response
        .ok()?
        .headers()
        .get("api-version")?
        .to_str()
        .ok()?
        .to_owned();
    parse_api_version(&header)
}

/// Parses an API version such as `1.41`.
fn parse_api_version(text: &str) -> Option<bollard::ClientVersion> {
    let (major, minor) = text.trim().split_once('.')?;
    Some(bollard::ClientVersion {
        major_version: major.parse().ok()?,
        minor_version: minor.parse().ok()?,
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    fn numbers(version: &bollard::ClientVersion) -> (usize, usize) {
        (version.major_version, version.minor_version)
    }

    #[test]
    fn api_versions_parse() {
        assert_eq!(
            parse_api_version("1.41").as_ref().map(numbers),
            Some((1, 41))
        );
        assert_eq!(
            parse_api_version(" 1.53\r\n").as_ref().map(numbers),
            Some((1, 53))
        );
        for invalid in ["", "1", "1.x", "v1.41", "1.41.2", "-1.41"] {
            assert!(parse_api_version(invalid).is_none(), "{invalid:?}");
        }
    }

    #[tokio::test]
    async fn ping_of_missing_socket_is_none() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("docker.sock");
        assert!(ping_api_version(socket.to_str().unwrap()).await.is_none());
    }

    /// The version read from the ping is the one bollard's own negotiation
    /// through `GET /version` settles on.
    #[tokio::test]
    async fn ping_negotiates_like_version_endpoint() {
        let engine = match Engine::connect().await {
            Ok(engine) => engine,
            Err(error) if std::env::var_os("CI").is_none() => {
                eprintln!("skipped: the Docker Engine is unreachable ({error})");
                return;
            }
            Err(error) => panic!("the Docker Engine is unreachable in CI: {error}"),
        };
        let negotiated = Docker::connect_with_defaults()
            .unwrap()
            .negotiate_version()
            .await
            .unwrap();
        assert_eq!(
            numbers(&engine.docker.client_version()),
            numbers(&negotiated.client_version())
        );
        assert_eq!(engine.docker.ping().await.unwrap(), "OK");
    }
}
