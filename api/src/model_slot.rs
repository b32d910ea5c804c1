//! The model being served, swapped atomically when a new file is accepted.
//!
//! Requests take a snapshot ([`ModelSlot::snapshot`]) and keep using it to
//! the end, so a reload never changes the model under a request in flight.
//! A rejected replacement never clears a model that is already serving.

use std::path::Path;
use std::sync::Arc;

use arc_swap::ArcSwap;
use model_artifact::{ArtifactError, Model};
use serde::Serialize;
use warp::http::HeaderValue;

/// A validated model with the values that responses repeat.
#[derive(Debug)]
pub struct LoadedModel {
    pub model: Model,
    /// [`Model::version`] as a header value, built once.
    pub version_header: HeaderValue,
}

impl LoadedModel {
    pub fn new(model: Model) -> Self {
        let version_header = HeaderValue::from_str(model.version())
            .expect("a model version is 12 lowercase hex digits");
        LoadedModel {
            model,
            version_header,
        }
    }

    pub fn version(&self) -> &str {
        self.model.version()
    }
}

/// Why no model is serving, as `GET /` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UnavailableReason {
    /// The model file does not exist yet.
    Missing,
    /// The file exists but cannot be read, or is truncated or malformed.
    Invalid,
    /// The file is a model of a format version this build does not read.
    Incompatible,
}

/// The reason and a client-safe message for the missing model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unavailable {
    pub reason: UnavailableReason,
    pub message: String,
}

impl Unavailable {
    /// Classifies a load failure. The message is the error's own text
    /// without its source chain, which names the file and the defect but no
    /// parser internals.
    pub fn from_error(path: &Path, error: &ArtifactError) -> Self {
        match error {
            ArtifactError::Read { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                Unavailable {
                    reason: UnavailableReason::Missing,
                    message: format!(
                        "model file {} does not exist yet; run the etl job to publish one",
                        path.display()
                    ),
                }
            }
            ArtifactError::Read { source, .. } => Unavailable {
                reason: UnavailableReason::Invalid,
                message: format!("failed to read model file {}: {source}", path.display()),
            },
            ArtifactError::UnsupportedVersion { .. } => Unavailable {
                reason: UnavailableReason::Incompatible,
                message: error.to_string(),
            },
            _ => Unavailable {
                reason: UnavailableReason::Invalid,
                message: error.to_string(),
            },
        }
    }
}

/// State of the service at one moment: a model, or the reason it has none.
#[derive(Debug, Clone)]
pub enum Serving {
    Ready(Arc<LoadedModel>),
    Unavailable(Unavailable),
}

/// What [`ModelSlot::offer`] did with a load result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Offer {
    /// The model was installed; `previous` is the version it replaced.
    Installed { previous: Option<String> },
    /// The model has the same version as the one serving; nothing changed.
    Unchanged,
    /// The load failed and a model keeps serving.
    KeptPrevious { serving: String },
    /// The load failed and no model is serving.
    StillUnavailable,
}

/// The current [`Serving`] state behind an atomic pointer swap.
#[derive(Debug)]
pub struct ModelSlot {
    current: ArcSwap<Serving>,
}

impl ModelSlot {
    /// Creates a slot that serves `model`.
    pub fn ready(model: Model) -> Self {
        ModelSlot {
            current: ArcSwap::from_pointee(Serving::Ready(Arc::new(LoadedModel::new(model)))),
        }
    }

    /// Creates a slot with no model, for `reason`.
    pub fn unavailable(unavailable: Unavailable) -> Self {
        ModelSlot {
            current: ArcSwap::from_pointee(Serving::Unavailable(unavailable)),
        }
    }

    /// Returns the state at this moment; later swaps do not change it.
    pub fn snapshot(&self) -> Arc<Serving> {
        self.current.load_full()
    }

    /// Returns the serving model, if any.
    pub fn model(&self) -> Option<Arc<LoadedModel>> {
        match &**self.current.load() {
            Serving::Ready(model) => Some(Arc::clone(model)),
            Serving::Unavailable(_) => None,
        }
    }

    /// Installs a successfully loaded model, or records a failed load
    /// without dropping a model that is serving.
    pub fn offer(&self, loaded: Result<Model, Unavailable>) -> Offer {
        let previous = self.model();
        match (loaded, previous) {
            (Ok(model), Some(previous)) if previous.version() == model.version() => {
                Offer::Unchanged
            }
            (Ok(model), previous) => {
                let loaded = LoadedModel::new(model);
                self.current
                    .store(Arc::new(Serving::Ready(Arc::new(loaded))));
                Offer::Installed {
                    previous: previous.map(|model| model.version().to_owned()),
                }
            }
            (Err(_), Some(previous)) => Offer::KeptPrevious {
                serving: previous.version().to_owned(),
            },
            (Err(unavailable), None) => {
                self.current
                    .store(Arc::new(Serving::Unavailable(unavailable)));
                Offer::StillUnavailable
            }
        }
    }
}

/// Reads and validates the model file at `path`.
pub fn load(path: &Path) -> Result<Model, Unavailable> {
    Model::load(path).map_err(|error| Unavailable::from_error(path, &error))
}
