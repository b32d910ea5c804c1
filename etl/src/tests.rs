//! Training on the bundled iris data, end to end in memory.

use linfa::prelude::Predict;

use super::*;

fn train_iris(config: &TrainConfig) -> ModelArtifact {
    train(bundled_iris(), config).expect("the bundled iris data trains")
}

#[test]
fn iris_accuracy_reaches_ninety_percent() {
    let artifact = train_iris(&TrainConfig::default());
    assert!(
        artifact.metrics.accuracy >= 0.90,
        "accuracy {}",
        artifact.metrics.accuracy
    );
}

#[test]
fn iris_accuracy_holds_across_seeds() {
    // Guards against a default seed that only happens to split well:
    // scikit-learn 1.9.1 averages 0.957 over 200 stratified 80/20 splits of
    // the same data (StandardScaler + LogisticRegression, default C).
    const SEEDS: u64 = 20;
    let total: f64 = (0..SEEDS)
        .map(|seed| {
            let config = TrainConfig {
                seed,
                ..TrainConfig::default()
            };
            train_iris(&config).metrics.accuracy
        })
        .sum();
    let mean = total / SEEDS as f64;
    assert!(mean >= 0.93, "mean accuracy {mean}");
}

#[test]
fn iris_reference_rows_predict_their_class() {
    // Rows 1, 52 and 101 of the iris data (scikit-learn's load_iris, 1-based),
    // one per class.
    let model = Model::from_artifact(train_iris(&TrainConfig::default())).unwrap();
    let cases = [
        ([5.1, 3.5, 1.4, 0.2], 0),
        ([6.4, 3.2, 4.5, 1.5], 1),
        ([6.3, 3.3, 6.0, 2.5], 2),
    ];
    for (features, expected) in cases {
        let prediction = model.predict(&features).unwrap();
        assert_eq!(prediction.class_index, expected, "{features:?}");
    }
}

#[test]
fn iris_row_counts_and_digest() {
    let artifact = train_iris(&TrainConfig::default());
    // The bundled file has 150 rows, and row 143 repeats row 102
    // (5.8, 2.7, 5.1, 1.9, virginica), so 149 remain: 30 test rows are
    // round(0.2 * 50) from each class except virginica's round(0.2 * 49).
    assert_eq!(artifact.rows.read, 150);
    assert_eq!(artifact.rows.dropped.duplicate, 1);
    assert_eq!(artifact.rows.train, 119);
    assert_eq!(artifact.rows.test, 30);
    let support: Vec<u64> = artifact
        .metrics
        .per_class
        .iter()
        .map(|m| m.support)
        .collect();
    assert_eq!(support, vec![10, 10, 10]);
    // `sha256sum etl/data/iris.csv`
    assert_eq!(
        artifact.training.input_sha256,
        "0ba79ae755c686ee02dfe1d2943772a46ded2433c4fde6dd7ad3b01c41ff5d3d"
    );
    assert_eq!(artifact.training.program_version, PROGRAM_VERSION);
    assert_eq!(artifact.training.parameters["seed"], 42);
}

#[test]
fn same_seed_gives_same_weights() {
    let first = train_iris(&TrainConfig::default());
    let second = train_iris(&TrainConfig::default());
    assert_eq!(first.weights, second.weights);
    assert_eq!(first.intercepts, second.intercepts);
    assert_eq!(first.scaler, second.scaler);
    assert_eq!(first.metrics, second.metrics);

    let other_seed = train_iris(&TrainConfig {
        seed: 7,
        ..TrainConfig::default()
    });
    assert_ne!(first.weights, other_seed.weights);
}

#[test]
fn trained_artifact_round_trips_bit_exactly() {
    let artifact = train_iris(&TrainConfig::default());
    let bytes = artifact.to_json_bytes();
    let model = Model::from_bytes(&bytes).unwrap();
    assert_eq!(model.artifact(), &artifact);
    assert_eq!(model.artifact().to_json_bytes(), bytes);
    for (read, written) in model
        .artifact()
        .weights
        .iter()
        .flatten()
        .zip(artifact.weights.iter().flatten())
    {
        assert_eq!(read.to_bits(), written.to_bits());
    }
}

#[test]
fn artifact_predictions_match_linfa() {
    let config = TrainConfig::default();
    let artifact = train_iris(&config);
    let model = Model::from_artifact(artifact.clone()).unwrap();

    // The same steps as `train`, keeping linfa's fitted model.
    let data = read_csv(bundled_iris()).unwrap();
    let split = split::stratified_split(&data.classes, config.test_fraction, config.seed);
    let scaler = scaler::fit_scaler(&data.features, &split.train);
    let records = scaler::standardize(&data.features, &split.train, &scaler);
    let targets: Array1<usize> = split
        .train
        .iter()
        .map(|&row| usize::from(data.classes[row]))
        .collect();
    let fitted = fit::fit_model(records, targets, &config).unwrap();
    assert_eq!(
        fit::class_weights(&fitted, CLASS_COUNT).unwrap().weights,
        artifact.weights
    );

    let test_records = scaler::standardize(&data.features, &split.test, &scaler);
    let linfa_classes = fitted.predict(&test_records);
    assert_eq!(linfa_classes.len(), 30);
    for (&row, &expected) in split.test.iter().zip(&linfa_classes) {
        let prediction = model.predict(&data.features[row]).unwrap();
        assert_eq!(prediction.class_index, expected, "test row {row}");
    }
}

#[test]
fn config_is_checked_before_data() {
    // An input that is not CSV at all: the invalid setting is reported first.
    let config = TrainConfig {
        l2_penalty: f64::INFINITY,
        ..TrainConfig::default()
    };
    let error = train(&b"\xff\xfe not csv"[..], &config).unwrap_err();
    assert!(
        matches!(
            error,
            EtlError::InvalidConfig {
                name: "L2 penalty",
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(error.exit_code(), EXIT_INVALID_INPUT);
}

#[test]
fn quality_gate_compares_accuracy() {
    let artifact = train_iris(&TrainConfig::default());
    let accuracy = artifact.metrics.accuracy;
    assert!(check_quality(&artifact, accuracy).is_ok());
    let error = check_quality(&artifact, accuracy + 0.01).unwrap_err();
    assert_eq!(error.exit_code(), EXIT_QUALITY_GATE);
}

#[test]
fn metrics_table_lists_every_class() {
    let table = metrics_table(&train_iris(&TrainConfig::default()));
    assert!(
        table.starts_with("accuracy 0.9667 on 30 test rows (119 training rows)\n"),
        "{table}"
    );
    for name in CLASS_NAMES {
        assert_eq!(table.matches(name).count(), 3, "{name} in\n{table}");
    }
}
