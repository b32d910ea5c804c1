//! Training of the iris classifier: read a CSV, clean it, split it, fit a
//! multinomial logistic regression on standardized features, evaluate it on
//! the held-out rows and publish the resulting [`ModelArtifact`].
//!
//! [`train`] runs the whole pipeline in memory and returns the artifact;
//! [`publish_model`] writes it where the API reads it. The binary adds the
//! command line, the quality gate and the exit codes.
//!
//! ```no_run
//! let artifact = etl::train(etl::bundled_iris(), &etl::TrainConfig::default())?;
//! assert!(artifact.metrics.accuracy > 0.9);
//! # Ok::<(), etl::EtlError>(())
//! ```

mod config;
mod dataset;
mod error;
mod evaluate;
mod fit;
mod install_staging;
mod iris;
mod publish;
mod report;
mod scaler;
mod split;

use std::io::Read;
use std::time::SystemTime;

use model_artifact::{
    ClassLabel, Metrics, Model, ModelArtifact, RowCounts, TrainingInfo, FORMAT_VERSION,
};
use ndarray::Array1;
use tracing::info;

pub use config::{validate_min_accuracy, TrainConfig};
pub use dataset::{read_csv, CleanData, MIN_ROWS, MIN_ROWS_PER_CLASS};
pub use error::{EtlError, EXIT_FAILURE, EXIT_INVALID_INPUT, EXIT_PUBLISHED, EXIT_QUALITY_GATE};
pub use iris::{bundled_iris, CLASS_NAMES, FEATURE_NAMES, TARGET_COLUMN};
pub use publish::{
    check_output_dir, install_model, publish_file, publish_model, publish_pair,
    remove_stale_temporaries, MetricsReport, Published, METRICS_FILE, MODEL_FILE,
};
pub use report::metrics_table;

use iris::CLASS_COUNT;

/// Name and version of this program, as recorded in the artifact.
pub const PROGRAM_VERSION: &str = concat!("etl ", env!("CARGO_PKG_VERSION"));

/// Trains a model on the CSV read from `input` and returns its artifact,
/// with the held-out metrics filled in. Publishes nothing.
///
/// `config` is validated before any data is read.
pub fn train<R: Read>(input: R, config: &TrainConfig) -> Result<ModelArtifact, EtlError> {
    config.validate()?;
    let data = read_csv(input)?;

    let split = split::stratified_split(&data.classes, config.test_fraction, config.seed);
    info!(
        train = split.train.len(),
        test = split.test.len(),
        seed = config.seed,
        "split rows"
    );
    let scaler = scaler::fit_scaler(&data.features, &split.train);
    let records = scaler::standardize(&data.features, &split.train, &scaler);
    let targets: Array1<usize> = split
        .train
        .iter()
        .map(|&row| usize::from(data.classes[row]))
        .collect();
    let fitted = fit::fit_model(records, targets, config)?;
    let class_weights = fit::class_weights(&fitted, CLASS_COUNT)?;

    let mut artifact = ModelArtifact {
        format_version: FORMAT_VERSION,
        feature_names: FEATURE_NAMES.map(str::to_owned).to_vec(),
        classes: class_labels(),
        scaler,
        weights: class_weights.weights,
        intercepts: class_weights.intercepts,
        metrics: evaluate::metrics_from_confusion(vec![vec![0; CLASS_COUNT]; CLASS_COUNT]),
        rows: RowCounts {
            read: data.rows_read,
            dropped: data.dropped.clone(),
            train: split.train.len() as u64,
            test: split.test.len() as u64,
        },
        training: TrainingInfo {
            input_sha256: data.input_sha256.clone(),
            trained_at: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
            program_version: PROGRAM_VERSION.to_owned(),
            parameters: config.parameters(),
        },
    };
    artifact.metrics = evaluate_artifact(&artifact, &data, &split.test)?;
    info!(
        accuracy = artifact.metrics.accuracy,
        "evaluated on held-out rows"
    );
    Ok(artifact)
}

/// Evaluates the artifact's weights on the test rows with the same
/// [`Model::predict`] the API uses.
fn evaluate_artifact(
    artifact: &ModelArtifact,
    data: &CleanData,
    test_rows: &[usize],
) -> Result<Metrics, EtlError> {
    let model =
        Model::from_artifact(artifact.clone()).map_err(|source| EtlError::Artifact { source })?;
    evaluate::evaluate(
        &model,
        &data.features,
        &data.classes,
        test_rows,
        CLASS_COUNT,
    )
}

fn class_labels() -> Vec<ClassLabel> {
    CLASS_NAMES
        .iter()
        .enumerate()
        .map(|(index, name)| ClassLabel {
            index,
            name: (*name).to_owned(),
        })
        .collect()
}

/// Checks the quality gate: `Err(QualityGate)` when the held-out accuracy
/// is below `min_accuracy`.
pub fn check_quality(artifact: &ModelArtifact, min_accuracy: f64) -> Result<(), EtlError> {
    let accuracy = artifact.metrics.accuracy;
    if accuracy < min_accuracy {
        return Err(EtlError::QualityGate {
            accuracy,
            min_accuracy,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests;
