//! Reference predictions of a model trained by `etl` on the bundled iris
//! data, served through the in-process routes.

mod common;

use std::sync::Arc;

use api::metrics::Metrics;
use api::model_slot::ModelSlot;
use api::{AppState, Limits};
use model_artifact::Model;
use serde_json::{json, Value};
use warp::http::StatusCode;

/// Rows 1, 52 and 101 of the iris data set (scikit-learn's `load_iris()`,
/// the source of etl's bundled CSV), one per class: setosa (0), versicolor
/// (1) and virginica (2). scikit-learn's StandardScaler + LogisticRegression
/// predicts the same classes for them.
const REFERENCE_ROWS: [([f64; 4], u64, &str); 3] = [
    ([5.1, 3.5, 1.4, 0.2], 0, "setosa"),
    ([6.4, 3.2, 4.5, 1.5], 1, "versicolor"),
    ([6.3, 3.3, 6.0, 2.5], 2, "virginica"),
];

fn trained_state() -> AppState {
    let model = Model::from_artifact(common::trained_artifact()).unwrap();
    AppState {
        slot: Arc::new(ModelSlot::ready(model)),
        metrics: Arc::new(Metrics::new()),
        limits: Limits::default(),
    }
}

fn body_for(values: [f64; 4]) -> Value {
    let mut object = serde_json::Map::new();
    for (name, value) in common::FEATURES.iter().zip(values) {
        object.insert(name.to_string(), json!(value));
    }
    Value::Object(object)
}

async fn post(state: &AppState, body: &Value) -> (StatusCode, Value) {
    let response = warp::test::request()
        .method("POST")
        .path("/predict")
        .json(body)
        .reply(&api::routes(state.clone()))
        .await;
    let parsed = serde_json::from_slice(response.body()).unwrap();
    (response.status(), parsed)
}

#[tokio::test]
async fn reference_rows_predict_their_class() {
    let state = trained_state();
    for (values, class, label) in REFERENCE_ROWS {
        let (status, body) = post(&state, &body_for(values)).await;
        assert_eq!(status, StatusCode::OK, "row {values:?}");
        assert_eq!(body["prediction"], class, "row {values:?}");
        assert_eq!(body["label"], label, "row {values:?}");
        let probabilities: Vec<f64> =
            serde_json::from_value(body["probabilities"].clone()).unwrap();
        let best = probabilities[class as usize];
        assert!(
            best > 0.5,
            "row {values:?}: probability {best} of class {class}"
        );
    }
}

#[tokio::test]
async fn reference_batch_keeps_order() {
    let state = trained_state();
    // Reversed and repeated, so that an order bug cannot pass by chance.
    let order = [2, 0, 1, 1, 0, 2];
    let batch = Value::Array(
        order
            .iter()
            .map(|&index| body_for(REFERENCE_ROWS[index].0))
            .collect(),
    );

    let (status, body) = post(&state, &batch).await;

    assert_eq!(status, StatusCode::OK);
    let classes: Vec<u64> = body["predictions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|prediction| prediction["prediction"].as_u64().unwrap())
        .collect();
    let expected: Vec<u64> = order.iter().map(|&index| REFERENCE_ROWS[index].1).collect();
    assert_eq!(classes, expected);
}
