use std::collections::BTreeMap;

use super::*;

/// A two-feature, two-class artifact whose scores are easy to work out by
/// hand: with mean 1 and scale 2 on both features, input `[1, 1]` scales to
/// `[0, 0]`, so the scores are the intercepts `[0, ln 3]` and the softmax is
/// `[1/4, 3/4]`.
fn sample() -> ModelArtifact {
    ModelArtifact {
        format_version: FORMAT_VERSION,
        feature_names: vec!["a".into(), "b".into()],
        classes: vec![
            ClassLabel {
                index: 0,
                name: "first".into(),
            },
            ClassLabel {
                index: 1,
                name: "second".into(),
            },
        ],
        scaler: Scaler {
            mean: vec![1.0, 1.0],
            scale: vec![2.0, 2.0],
        },
        weights: vec![vec![1.0, 0.0], vec![0.0, 1.0]],
        intercepts: vec![0.0, 3f64.ln()],
        metrics: Metrics {
            accuracy: 0.9,
            per_class: vec![
                ClassMetrics {
                    class: 0,
                    precision: 1.0,
                    recall: 0.8,
                    f1: 8.0 / 9.0,
                    support: 5,
                },
                ClassMetrics {
                    class: 1,
                    precision: 5.0 / 6.0,
                    recall: 1.0,
                    f1: 10.0 / 11.0,
                    support: 5,
                },
            ],
            confusion_matrix: vec![vec![4, 1], vec![0, 5]],
        },
        rows: RowCounts {
            read: 12,
            dropped: DroppedRows {
                duplicate: 2,
                ..DroppedRows::default()
            },
            train: 0,
            test: 10,
        },
        training: TrainingInfo {
            input_sha256: "0".repeat(64),
            trained_at: "2026-01-01T00:00:00Z".into(),
            program_version: "etl 0.1.0".into(),
            parameters: BTreeMap::from([("seed".into(), serde_json::json!(42))]),
        },
    }
}

fn json_with(edit: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
    let mut value = serde_json::to_value(sample()).unwrap();
    edit(&mut value);
    serde_json::to_vec(&value).unwrap()
}

#[test]
fn round_trip_is_bit_exact() {
    let mut artifact = sample();
    // Values whose shortest decimal form needs all 17 digits.
    artifact.weights[0][0] = 0.1 + 0.2;
    artifact.scaler.mean[1] = std::f64::consts::PI / 3.0;
    artifact.intercepts[0] = -1.0e-300;

    let bytes = artifact.to_json_bytes();
    let model = Model::from_bytes(&bytes).unwrap();

    assert_eq!(model.artifact(), &artifact);
    assert_eq!(
        model.artifact().weights[0][0].to_bits(),
        (0.1f64 + 0.2).to_bits()
    );
    assert_eq!(model.artifact().to_json_bytes(), bytes);
}

#[test]
fn version_is_content_digest_prefix() {
    let bytes = sample().to_json_bytes();
    let model = Model::from_bytes(&bytes).unwrap();
    let digest = hex::encode(Sha256::digest(&bytes));

    assert_eq!(model.version(), &digest[..12]);
    assert_eq!(
        Model::from_artifact(sample()).unwrap().version(),
        model.version()
    );
}

#[test]
fn load_rejects_other_version() {
    let bytes = json_with(|v| v["format_version"] = 2.into());
    let error = Model::from_bytes(&bytes).unwrap_err();
    assert!(
        matches!(
            error,
            ArtifactError::UnsupportedVersion {
                found: Some(2),
                supported: 1
            }
        ),
        "{error:?}"
    );

    let bytes = json_with(|v| {
        v.as_object_mut().unwrap().remove("format_version");
    });
    let error = Model::from_bytes(&bytes).unwrap_err();
    assert!(
        matches!(error, ArtifactError::UnsupportedVersion { found: None, .. }),
        "{error:?}"
    );
}

#[test]
fn load_rejects_wrong_shapes() {
    let cases: [(&str, fn(&mut serde_json::Value)); 4] = [
        ("weights[1]", |v| v["weights"][1] = serde_json::json!([0.0])),
        ("intercepts", |v| {
            v["intercepts"] = serde_json::json!([0.0, 0.0, 0.0])
        }),
        ("scaler.mean", |v| {
            v["scaler"]["mean"] = serde_json::json!([0.0])
        }),
        ("metrics.confusion_matrix", |v| {
            v["metrics"]["confusion_matrix"] = serde_json::json!([[1, 0]])
        }),
    ];
    for (field, edit) in cases {
        let error = Model::from_bytes(&json_with(edit)).unwrap_err();
        match error {
            ArtifactError::Shape { field: found, .. } => assert_eq!(found, field),
            other => panic!("{field}: expected a shape error, got {other:?}"),
        }
    }
}

#[test]
fn load_rejects_nan_weight() {
    // JSON has no NaN literal; an artifact in memory can still hold one.
    let mut artifact = sample();
    artifact.weights[1][0] = f64::NAN;
    let error = validate::check(&artifact).unwrap_err();
    match error {
        ArtifactError::NonFinite { field, value } => {
            assert_eq!(field, "weights[1][0]");
            assert!(value.is_nan());
        }
        other => panic!("expected a non-finite error, got {other:?}"),
    }

    // serde_json writes NaN as null, which then fails to parse as a number.
    let error = Model::from_bytes(&json_with(|v| v["weights"][1][0] = serde_json::Value::Null))
        .unwrap_err();
    assert!(
        matches!(error, ArtifactError::Malformed { .. }),
        "{error:?}"
    );
}

#[test]
fn load_rejects_zero_scale() {
    let error =
        Model::from_bytes(&json_with(|v| v["scaler"]["scale"][1] = 0.0.into())).unwrap_err();
    assert!(
        matches!(error, ArtifactError::InvalidScale { ref field, .. } if field == "scaler.scale[1]"),
        "{error:?}"
    );
}

#[test]
fn load_rejects_truncated_file() {
    let bytes = sample().to_json_bytes();
    for cut in [1, bytes.len() / 2, bytes.len() - 3] {
        let error = Model::from_bytes(&bytes[..cut]).unwrap_err();
        assert!(
            matches!(error, ArtifactError::Truncated { .. }),
            "cut at {cut}: {error:?}"
        );
    }
    let error = Model::from_bytes(b"").unwrap_err();
    assert!(
        matches!(error, ArtifactError::Truncated { .. }),
        "{error:?}"
    );
}

#[test]
fn load_rejects_malformed_and_unknown_fields() {
    let error = Model::from_bytes(b"{\"format_version\": 1} trailing").unwrap_err();
    assert!(
        matches!(error, ArtifactError::Malformed { .. }),
        "{error:?}"
    );

    let error = Model::from_bytes(&json_with(|v| v["extra"] = 1.into())).unwrap_err();
    assert!(
        matches!(error, ArtifactError::Malformed { .. }),
        "{error:?}"
    );
}

#[test]
fn load_rejects_bad_labels() {
    let error = Model::from_bytes(&json_with(|v| v["classes"][1]["index"] = 5.into())).unwrap_err();
    assert!(matches!(error, ArtifactError::Labels { .. }), "{error:?}");

    let error = Model::from_bytes(&json_with(|v| v["feature_names"][1] = "a".into())).unwrap_err();
    assert!(matches!(error, ArtifactError::Labels { .. }), "{error:?}");
}

#[test]
fn load_reports_missing_file() {
    let error = Model::load(Path::new("/nonexistent/model.json")).unwrap_err();
    assert!(matches!(error, ArtifactError::Read { .. }), "{error:?}");
}

#[test]
fn predict_matches_hand_computed_softmax() {
    let model = Model::from_artifact(sample()).unwrap();

    let prediction = model.predict(&[1.0, 1.0]).unwrap();
    assert_eq!(prediction.class_index, 1);
    assert!((prediction.probabilities[0] - 0.25).abs() < 1e-15);
    assert!((prediction.probabilities[1] - 0.75).abs() < 1e-15);

    // [5, 1] scales to [2, 0]: scores [2, ln 3], so class 0 wins with
    // probability e^2 / (e^2 + 3).
    let prediction = model.predict(&[5.0, 1.0]).unwrap();
    let expected = 2f64.exp() / (2f64.exp() + 3.0);
    assert_eq!(prediction.class_index, 0);
    assert!((prediction.probabilities[0] - expected).abs() < 1e-15);
}

#[test]
fn predict_rejects_bad_vectors() {
    let model = Model::from_artifact(sample()).unwrap();

    assert_eq!(
        model.predict(&[1.0]).unwrap_err(),
        PredictError::FeatureCount {
            expected: 2,
            found: 1
        }
    );
    match model.predict(&[1.0, f64::INFINITY]).unwrap_err() {
        PredictError::NonFinite { name, .. } => assert_eq!(name, "b"),
        other => panic!("expected a non-finite error, got {other:?}"),
    }

    // A weight of 4 on a value scaled to f64::MAX / 2 overflows the score.
    let mut artifact = sample();
    artifact.weights[0][0] = 4.0;
    let model = Model::from_artifact(artifact).unwrap();
    assert_eq!(
        model.predict(&[f64::MAX, 1.0]).unwrap_err(),
        PredictError::OutOfRange
    );
}

#[test]
fn feature_and_class_lookup() {
    let model = Model::from_artifact(sample()).unwrap();
    assert_eq!(model.feature_index("b"), Some(1));
    assert_eq!(model.feature_index("c"), None);
    assert_eq!(model.class_name(1), Some("second"));
    assert_eq!(model.class_name(2), None);
}
