//! Errors of loading an artifact and of predicting with one.

use std::path::PathBuf;

/// Failure to load an artifact. Each defect has its own variant so that
/// callers (the API's readiness check, tests) can tell them apart.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    #[error("failed to read model file {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("model file is truncated: the JSON ends early, so it was probably copied or written only in part")]
    Truncated {
        #[source]
        source: serde_json::Error,
    },

    #[error("model file is not a valid model artifact")]
    Malformed {
        #[source]
        source: serde_json::Error,
    },

    #[error("model format version {} is not supported: this build reads version {supported}; retrain the model with a matching etl", display_version(.found))]
    UnsupportedVersion { found: Option<u64>, supported: u32 },

    #[error("model shape is inconsistent: {field} has {found} entries, expected {expected}")]
    Shape {
        field: String,
        expected: usize,
        found: usize,
    },

    #[error("model value {field} is {value}, but every weight, intercept and scaler value must be finite")]
    NonFinite { field: String, value: f64 },

    #[error("model scaler value {field} is {value}, but a scale must be greater than zero")]
    InvalidScale { field: String, value: f64 },

    #[error("model labels are invalid: {reason}")]
    Labels { reason: String },
}

fn display_version(found: &Option<u64>) -> String {
    match found {
        Some(version) => version.to_string(),
        None => "(missing)".to_owned(),
    }
}

/// Failure to score a feature vector.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PredictError {
    #[error("expected {expected} feature values, got {found}")]
    FeatureCount { expected: usize, found: usize },

    #[error("feature {name} is {value}, but feature values must be finite")]
    NonFinite { name: String, value: f64 },

    #[error("feature values are too large to score: a class score overflowed; send values within the range of the training data")]
    OutOfRange,
}
