//! Every way a training run or an install can fail, and the exit code each
//! failure maps to.

use std::path::PathBuf;

use model_artifact::ArtifactError;

/// Exit code of a run that published its model.
pub const EXIT_PUBLISHED: i32 = 0;
/// Exit code of any failure not listed below (I/O, solver, internal).
pub const EXIT_FAILURE: i32 = 1;
/// Exit code of invalid input data or configuration.
pub const EXIT_INVALID_INPUT: i32 = 2;
/// Exit code of a model below the minimum accuracy; nothing was published.
pub const EXIT_QUALITY_GATE: i32 = 3;

/// A failed training run or install.
#[derive(Debug, thiserror::Error)]
pub enum EtlError {
    #[error("invalid {name}: {value}; expected {expected}")]
    InvalidConfig {
        name: &'static str,
        value: String,
        expected: &'static str,
    },

    #[error("failed to open input CSV {path}; pass an existing file with --input (or ETL_INPUT), or leave both unset to use the bundled iris data")]
    OpenInput {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("failed to read the input CSV")]
    ReadInput {
        #[source]
        source: std::io::Error,
    },

    #[error("failed to read the input CSV{}", display_line(.line))]
    Csv {
        line: Option<u64>,
        #[source]
        source: csv::Error,
    },

    #[error("input CSV has no column {column:?}; columns found: {found:?}")]
    MissingColumn { column: String, found: Vec<String> },

    #[error(
        "class {class} ({name}) has no rows after cleaning; the input must contain every class"
    )]
    ClassWithoutRows { class: usize, name: &'static str },

    #[error("too few rows left after cleaning: class {class} ({name}) has {found}, and a stratified train/test split needs at least {min}")]
    TooFewRowsInClass {
        class: usize,
        name: &'static str,
        found: usize,
        min: usize,
    },

    #[error("too few rows left after cleaning: {found}, at least {min} are needed")]
    TooFewRows { found: usize, min: usize },

    #[error("logistic regression training failed")]
    Fit {
        #[source]
        source: linfa_logistic::error::Error,
    },

    #[error("the trained model has no weights for class {class}")]
    MissingClassWeights { class: usize },

    #[error("the trained model is not a valid artifact")]
    Artifact {
        #[source]
        source: ArtifactError,
    },

    #[error("failed to predict test row {row} with the trained model")]
    Predict {
        row: usize,
        #[source]
        source: model_artifact::PredictError,
    },

    #[error("held-out accuracy {accuracy:.4} is below the minimum {min_accuracy}; nothing was published and the previous model stays")]
    QualityGate { accuracy: f64, min_accuracy: f64 },

    #[error("invalid model to install at {path}; export the model volume again")]
    InvalidArtifact {
        path: PathBuf,
        #[source]
        source: ArtifactError,
    },

    #[error("invalid metrics file to install at {path}; export the model volume again")]
    InvalidMetrics {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },

    #[error(
        "install source and output directory are the same directory {path}; pass another --from"
    )]
    SameDirectory { path: PathBuf },

    #[error("install source {from} and output directory {output} contain one another, so publishing or --remove-source would overwrite or delete the source; pass a --from outside the output directory")]
    NestedDirectories { from: PathBuf, output: PathBuf },

    #[error("output path {path} exists and is not a directory; pass a directory (or a path that does not exist yet) with --output-dir (or ETL_OUTPUT_DIR)")]
    OutputNotDirectory { path: PathBuf },

    #[error("input path {path} is a directory; pass a CSV file with --input (or ETL_INPUT)")]
    InputIsDirectory { path: PathBuf },

    #[error("failed to remove the stale temporary file {path}")]
    RemoveTemporary {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("failed to publish {path}")]
    Publish {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("failed to remove the install source {path}")]
    RemoveSource {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl EtlError {
    /// Returns the process exit code for this failure, as `etl --help` documents.
    pub fn exit_code(&self) -> i32 {
        match self {
            EtlError::InvalidConfig { .. }
            | EtlError::OpenInput { .. }
            | EtlError::MissingColumn { .. }
            | EtlError::ClassWithoutRows { .. }
            | EtlError::TooFewRowsInClass { .. }
            | EtlError::TooFewRows { .. }
            | EtlError::InvalidArtifact { .. }
            | EtlError::InvalidMetrics { .. }
            | EtlError::SameDirectory { .. }
            | EtlError::NestedDirectories { .. }
            | EtlError::OutputNotDirectory { .. }
            | EtlError::InputIsDirectory { .. } => EXIT_INVALID_INPUT,
            // An I/O error is not invalid input; the others are malformed CSV.
            EtlError::Csv { source, .. } if source.is_io_error() => EXIT_FAILURE,
            EtlError::Csv { .. } => EXIT_INVALID_INPUT,
            EtlError::QualityGate { .. } => EXIT_QUALITY_GATE,
            EtlError::ReadInput { .. }
            | EtlError::Fit { .. }
            | EtlError::MissingClassWeights { .. }
            | EtlError::Artifact { .. }
            | EtlError::Predict { .. }
            | EtlError::Publish { .. }
            | EtlError::RemoveSource { .. }
            | EtlError::RemoveTemporary { .. } => EXIT_FAILURE,
        }
    }
}

fn display_line(line: &Option<u64>) -> String {
    match line {
        Some(line) => format!(" at line {line}"),
        None => String::new(),
    }
}
