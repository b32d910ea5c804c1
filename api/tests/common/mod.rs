//! Models and bodies shared by the integration tests and the benchmark.
#![allow(dead_code)]

use std::collections::BTreeMap;

use model_artifact::{
    ClassLabel, ClassMetrics, DroppedRows, Metrics, Model, ModelArtifact, RowCounts, Scaler,
    TrainingInfo, FORMAT_VERSION,
};

pub const FEATURES: [&str; 4] = [
    "sepal length (cm)",
    "sepal width (cm)",
    "petal length (cm)",
    "petal width (cm)",
];

/// The reference request body of the service's documentation.
pub const REFERENCE_BODY: &str = r#"{"sepal length (cm)": 5.1, "sepal width (cm)": 3.5, "petal length (cm)": 1.4, "petal width (cm)": 0.2}"#;

/// An iris-shaped artifact built in memory. Its weights are hand-made, not
/// trained: class 0 scores high for short petals, class 2 for long ones,
/// and `intercept_shift` changes the file (and so the version) without
/// changing which class wins on typical rows.
pub fn handmade_artifact(intercept_shift: f64) -> ModelArtifact {
    let classes = ["setosa", "versicolor", "virginica"];
    ModelArtifact {
        format_version: FORMAT_VERSION,
        feature_names: FEATURES.iter().map(|name| name.to_string()).collect(),
        classes: classes
            .iter()
            .enumerate()
            .map(|(index, name)| ClassLabel {
                index,
                name: name.to_string(),
            })
            .collect(),
        scaler: Scaler {
            mean: vec![5.84, 3.06, 3.76, 1.2],
            scale: vec![0.83, 0.44, 1.76, 0.76],
        },
        weights: vec![
            vec![-1.0, 1.0, -2.5, -2.5],
            vec![0.5, -0.5, 0.0, -0.5],
            vec![0.5, -0.5, 2.5, 3.0],
        ],
        intercepts: vec![intercept_shift, 1.0, -1.0],
        metrics: Metrics {
            accuracy: 0.9,
            per_class: (0..3)
                .map(|class| ClassMetrics {
                    class,
                    precision: 0.9,
                    recall: 0.9,
                    f1: 0.9,
                    support: 10,
                })
                .collect(),
            confusion_matrix: vec![vec![9, 1, 0], vec![0, 9, 1], vec![1, 0, 9]],
        },
        rows: RowCounts {
            read: 150,
            dropped: DroppedRows::default(),
            train: 120,
            test: 30,
        },
        training: TrainingInfo {
            input_sha256: "0".repeat(64),
            trained_at: "2026-01-01T00:00:00Z".to_owned(),
            program_version: "test fixture".to_owned(),
            parameters: BTreeMap::new(),
        },
    }
}

pub fn handmade_model() -> Model {
    Model::from_artifact(handmade_artifact(0.0)).expect("the fixture is a valid artifact")
}

/// A model trained by `etl` on its bundled iris data with its default
/// settings, the same model the ETL container publishes.
pub fn trained_artifact() -> ModelArtifact {
    etl::train(etl::bundled_iris(), &etl::TrainConfig::default())
        .expect("etl trains on its bundled iris data")
}
