//! The trained-model artifact (`model.json`): the one contract between `etl`,
//! which writes it, and `api`, which serves predictions from it.
//!
//! The format is plain JSON so that a person can read a published model and a
//! test can compare it byte for byte. `serde_json` is built with
//! `float_roundtrip`, so every `f64` written is read back bit-identical.
//! A [`Model`] only exists after [`Model::from_bytes`] has checked the format
//! version, every shape and every number, so prediction never has to.

mod error;
mod predict;
mod validate;

use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use error::{ArtifactError, PredictError};
pub use predict::Prediction;

/// The format version this crate writes and the only one it reads.
pub const FORMAT_VERSION: u32 = 1;

/// Number of hex digits of the file's SHA-256 that make up [`Model::version`].
const VERSION_HEX_DIGITS: usize = 12;

/// Everything `model.json` stores, as written by `etl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelArtifact {
    pub format_version: u32,
    /// Feature column names, in the order the weights and the scaler use.
    pub feature_names: Vec<String>,
    /// Class labels; `classes[i].index == i` for every class.
    pub classes: Vec<ClassLabel>,
    pub scaler: Scaler,
    /// Weights of the multinomial logistic regression, `[class][feature]`,
    /// applied to standardized features.
    pub weights: Vec<Vec<f64>>,
    /// Intercept per class.
    pub intercepts: Vec<f64>,
    pub metrics: Metrics,
    pub rows: RowCounts,
    pub training: TrainingInfo,
}

/// A class index and its human-readable name (`0` and `"setosa"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassLabel {
    pub index: usize,
    pub name: String,
}

/// Z-score standardization fitted on the training rows:
/// `scaled = (x - mean) / scale`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scaler {
    pub mean: Vec<f64>,
    /// Standard deviation per feature; a constant feature stores 1.0.
    pub scale: Vec<f64>,
}

/// Evaluation on the held-out rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metrics {
    pub accuracy: f64,
    /// One entry per class, in class-index order.
    pub per_class: Vec<ClassMetrics>,
    /// `confusion_matrix[actual][predicted]` counts of test rows.
    pub confusion_matrix: Vec<Vec<u64>>,
}

/// Precision, recall and F1 of one class; a ratio with a zero denominator is
/// 0.0, as scikit-learn reports it by default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassMetrics {
    pub class: usize,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// Test rows whose actual class is this one.
    pub support: u64,
}

/// Row counts of the training run, from the input file to the split.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RowCounts {
    /// Data rows read from the input, header excluded.
    pub read: u64,
    pub dropped: DroppedRows,
    pub train: u64,
    pub test: u64,
}

/// Rows removed by cleaning, counted by reason. A row counts once, under the
/// first reason that applies in this field order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DroppedRows {
    pub missing_value: u64,
    pub non_numeric: u64,
    pub non_finite: u64,
    pub unknown_label: u64,
    pub duplicate: u64,
}

/// Provenance of the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingInfo {
    /// Lowercase hex SHA-256 of the input CSV file.
    pub input_sha256: String,
    /// RFC 3339 UTC timestamp of the end of training.
    pub trained_at: String,
    /// Name and version of the program that trained the model, e.g. `etl 0.1.0`.
    pub program_version: String,
    /// Hyperparameters and split settings, by name.
    pub parameters: std::collections::BTreeMap<String, serde_json::Value>,
}

/// A validated artifact, ready to predict.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    artifact: ModelArtifact,
    version: String,
}

impl ModelArtifact {
    /// Serializes the artifact as pretty-printed JSON with a trailing newline.
    pub fn to_json_bytes(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec_pretty(self)
            .expect("an artifact contains only strings, integers and finite floats");
        bytes.push(b'\n');
        bytes
    }
}

impl Model {
    /// Parses and validates `model.json` bytes.
    ///
    /// Each kind of defect has its own [`ArtifactError`] variant: a truncated
    /// file, malformed JSON, another format version, inconsistent shapes, a
    /// non-finite number or an invalid label list.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ArtifactError> {
        let artifact = parse(bytes)?;
        validate::check(&artifact)?;
        let digest = hex::encode(Sha256::digest(bytes));
        Ok(Model {
            artifact,
            version: digest[..VERSION_HEX_DIGITS].to_owned(),
        })
    }

    /// Reads and validates the artifact at `path`.
    pub fn load(path: &Path) -> Result<Self, ArtifactError> {
        let bytes = std::fs::read(path).map_err(|source| ArtifactError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_bytes(&bytes)
    }

    /// Validates an artifact built in memory. Its version is the digest of
    /// [`ModelArtifact::to_json_bytes`], the bytes `etl` publishes.
    pub fn from_artifact(artifact: ModelArtifact) -> Result<Self, ArtifactError> {
        Self::from_bytes(&artifact.to_json_bytes())
    }

    pub fn artifact(&self) -> &ModelArtifact {
        &self.artifact
    }

    /// Short content identifier: the first 12 hex digits of the SHA-256 of
    /// the artifact's bytes. Two files with the same version are the same model.
    pub fn version(&self) -> &str {
        &self.version
    }

    pub fn feature_names(&self) -> &[String] {
        &self.artifact.feature_names
    }

    /// Position of a feature in the input vector that [`Model::predict`] takes.
    pub fn feature_index(&self, name: &str) -> Option<usize> {
        self.artifact.feature_names.iter().position(|n| n == name)
    }

    pub fn class_name(&self, index: usize) -> Option<&str> {
        self.artifact.classes.get(index).map(|c| c.name.as_str())
    }
}

fn parse(bytes: &[u8]) -> Result<ModelArtifact, ArtifactError> {
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|source| {
        if source.is_eof() {
            ArtifactError::Truncated { source }
        } else {
            ArtifactError::Malformed { source }
        }
    })?;
    // The version is checked before the full structure, so a file from a
    // newer `etl` reports the version mismatch rather than an unknown field.
    let found = value
        .get("format_version")
        .and_then(serde_json::Value::as_u64);
    if found != Some(u64::from(FORMAT_VERSION)) {
        return Err(ArtifactError::UnsupportedVersion {
            found,
            supported: FORMAT_VERSION,
        });
    }
    serde_json::from_value(value).map_err(|source| ArtifactError::Malformed { source })
}

#[cfg(test)]
mod tests;
