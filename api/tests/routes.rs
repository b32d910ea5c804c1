//! In-process tests of every route and status through `warp::test`.

mod common;

use std::sync::Arc;

use api::metrics::Metrics;
use api::model_slot::{ModelSlot, Unavailable};
use api::{AppState, Limits, UnavailableReason};
use bytes::Bytes;
use serde_json::{json, Value};
use warp::http::{HeaderValue, StatusCode};

fn state_with(slot: ModelSlot, limits: Limits) -> AppState {
    AppState {
        slot: Arc::new(slot),
        metrics: Arc::new(Metrics::new()),
        limits,
    }
}

fn ready_state() -> AppState {
    state_with(
        ModelSlot::ready(common::handmade_model()),
        Limits::default(),
    )
}

fn missing_state() -> AppState {
    let missing = api::model_slot::load(std::path::Path::new("/nonexistent/model.json"))
        .expect_err("the path does not exist");
    state_with(ModelSlot::unavailable(missing), Limits::default())
}

async fn post(state: &AppState, body: impl AsRef<[u8]>) -> (StatusCode, Value) {
    let response = warp::test::request()
        .method("POST")
        .path("/predict")
        .header("content-type", "application/json")
        .body(body)
        .reply(&api::routes(state.clone()))
        .await;
    (response.status(), json_body(response.body()))
}

async fn get(state: &AppState, path: &str) -> warp::http::Response<Bytes> {
    warp::test::request()
        .method("GET")
        .path(path)
        .reply(&api::routes(state.clone()))
        .await
}

fn json_body(body: &Bytes) -> Value {
    serde_json::from_slice(body).unwrap_or_else(|error| {
        panic!(
            "body is not JSON ({error}): {}",
            String::from_utf8_lossy(body)
        )
    })
}

fn gunzip(bytes: &[u8]) -> String {
    let mut text = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(bytes), &mut text).unwrap();
    text
}

fn row(values: [f64; 4]) -> Value {
    let mut object = serde_json::Map::new();
    for (name, value) in common::FEATURES.iter().zip(values) {
        object.insert(name.to_string(), json!(value));
    }
    Value::Object(object)
}

/// Returns the `(loc, type)` pairs of a 422 body.
fn field_errors(body: &Value) -> Vec<(Value, String)> {
    body["detail"]
        .as_array()
        .expect("a 422 body has a detail list")
        .iter()
        .map(|error| {
            (
                error["loc"].clone(),
                error["type"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn reference_body_predicts_setosa() {
    let state = ready_state();
    let version = state.slot.model().unwrap().version().to_owned();

    let (status, body) = post(&state, common::REFERENCE_BODY).await;

    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["prediction"], 0);
    assert_eq!(body["label"], "setosa");
    assert_eq!(body["model_version"], version.as_str());
    let probabilities: Vec<f64> = serde_json::from_value(body["probabilities"].clone()).unwrap();
    assert_eq!(probabilities.len(), 3);
    assert!((probabilities.iter().sum::<f64>() - 1.0).abs() < 1e-12);
}

#[tokio::test]
async fn version_header_names_the_model() {
    let state = ready_state();
    let response = warp::test::request()
        .method("POST")
        .path("/predict")
        .body(common::REFERENCE_BODY)
        .reply(&api::routes(state.clone()))
        .await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "a missing content type is accepted"
    );
    let header = response.headers()["x-model-version"].to_str().unwrap();
    assert_eq!(header, state.slot.model().unwrap().version());
}

#[tokio::test]
async fn key_order_does_not_matter() {
    let state = ready_state();
    let (_, forward) = post(&state, common::REFERENCE_BODY).await;
    let reversed = r#"{"petal width (cm)": 0.2, "petal length (cm)": 1.4, "sepal width (cm)": 3.5, "sepal length (cm)": 5.1}"#;
    let shuffled = r#"{"petal length (cm)": 1.4, "sepal length (cm)": 5.1, "petal width (cm)": 0.2, "sepal width (cm)": 3.5}"#;

    for body in [reversed, shuffled] {
        let (status, response) = post(&state, body).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(response, forward, "body {body}");
    }
}

#[tokio::test]
async fn batch_keeps_request_order() {
    let state = ready_state();
    let rows = [
        [6.3, 3.3, 6.0, 2.5],
        [5.1, 3.5, 1.4, 0.2],
        [7.7, 2.6, 6.9, 2.3],
        [4.9, 3.0, 1.4, 0.2],
    ];
    let batch = Value::Array(rows.iter().map(|values| row(*values)).collect());

    let (status, body) = post(&state, batch.to_string()).await;

    assert_eq!(status, StatusCode::OK);
    let predictions = body["predictions"].as_array().unwrap();
    assert_eq!(predictions.len(), rows.len());
    for (values, prediction) in rows.iter().zip(predictions) {
        let (_, single) = post(&state, row(*values).to_string()).await;
        assert_eq!(prediction["prediction"], single["prediction"]);
        assert_eq!(prediction["probabilities"], single["probabilities"]);
    }
    let classes: Vec<u64> = predictions
        .iter()
        .map(|prediction| prediction["prediction"].as_u64().unwrap())
        .collect();
    assert_eq!(classes, [2, 0, 2, 0]);
    assert_eq!(body["model_version"], state.slot.model().unwrap().version());
}

#[tokio::test]
async fn batch_above_maximum_is_422() {
    let limits = Limits {
        max_batch: 2,
        ..Limits::default()
    };
    let state = state_with(ModelSlot::ready(common::handmade_model()), limits);
    let reference: Value = serde_json::from_str(common::REFERENCE_BODY).unwrap();
    let batch = json!([reference, reference, reference]);

    let (status, body) = post(&state, batch.to_string()).await;

    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        field_errors(&body),
        [(json!(["body"]), "too_long".to_owned())]
    );
}

#[tokio::test]
async fn every_invalid_field_is_named() {
    let state = ready_state();
    let body = r#"{"sepal length (cm)": null, "sepal width (cm)": "3.5", "petal length (cm)": true, "colour": 1}"#;

    let (status, response) = post(&state, body).await;

    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let errors = field_errors(&response);
    assert_eq!(
        errors,
        [
            (
                json!(["body", "sepal length (cm)"]),
                "float_type".to_owned()
            ),
            (json!(["body", "sepal width (cm)"]), "float_type".to_owned()),
            (
                json!(["body", "petal length (cm)"]),
                "float_type".to_owned()
            ),
            (json!(["body", "colour"]), "extra_forbidden".to_owned()),
            (json!(["body", "petal width (cm)"]), "missing".to_owned()),
        ]
    );
    let messages: Vec<&str> = response["detail"]
        .as_array()
        .unwrap()
        .iter()
        .map(|error| error["msg"].as_str().unwrap())
        .collect();
    assert!(messages[0].contains("found null"), "{}", messages[0]);
    assert!(messages[1].contains("numeric strings"), "{}", messages[1]);
    assert!(messages[2].contains("found a boolean"), "{}", messages[2]);
}

#[tokio::test]
async fn non_numbers_each_get_422() {
    let state = ready_state();
    let cases = [
        ("null", "float_type"),
        ("\"5.1\"", "float_type"),
        ("false", "float_type"),
        ("[5.1]", "float_type"),
        ("{\"value\": 5.1}", "float_type"),
        ("NaN", "finite_number"),
        ("Infinity", "finite_number"),
        ("-Infinity", "finite_number"),
        ("1e400", "finite_number"),
        ("-1.8e308", "finite_number"),
    ];
    for (value, kind) in cases {
        let body = format!(
            r#"{{"sepal length (cm)": {value}, "sepal width (cm)": 3.5, "petal length (cm)": 1.4, "petal width (cm)": 0.2}}"#
        );
        let (status, response) = post(&state, &body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "value {value}");
        assert_eq!(
            field_errors(&response),
            [(json!(["body", "sepal length (cm)"]), kind.to_owned())],
            "value {value}"
        );
    }
}

#[tokio::test]
async fn huge_finite_values_are_422_not_500() {
    let state = ready_state();
    let body = row([1.7e308, -1.7e308, 1.7e308, 1.7e308]).to_string();
    let (status, response) = post(&state, body).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    // Each term overflows on its own: 1.7e308 times the fixture's weights
    // (1.0, 1.0, 2.5, 3.0) divided by its scales (0.83, 0.44, 1.76, 0.76).
    let expected: Vec<(Value, String)> = common::FEATURES
        .iter()
        .map(|name| (json!(["body", name]), "out_of_range".to_owned()))
        .collect();
    assert_eq!(field_errors(&response), expected);
}

#[tokio::test]
async fn overflow_names_the_field_that_caused_it() {
    let state = ready_state();
    // In the fixture, 1e308 in sepal width gives the term 1.0 * 1e308 / 0.44,
    // which overflows to infinity. The other values are the reference example.
    let body = row([5.1, 1e308, 1.4, 0.2]).to_string();
    let (status, response) = post(&state, body).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        field_errors(&response),
        [(
            json!(["body", "sepal width (cm)"]),
            "out_of_range".to_owned()
        )]
    );
    let message = response["detail"][0]["msg"].as_str().unwrap();
    // Scientific notation, not the 309 digits of 1e308 written out.
    assert!(message.starts_with("1e308 is too far outside"), "{message}");

    // In a batch the row index comes before the field name.
    let batch = json!([row([5.1, 3.5, 1.4, 0.2]), row([5.1, 1e308, 1.4, 0.2])]);
    let (status, response) = post(&state, batch.to_string()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        field_errors(&response),
        [(
            json!(["body", 1, "sepal width (cm)"]),
            "out_of_range".to_owned()
        )]
    );
}

#[tokio::test]
async fn detail_list_is_capped() {
    let state = ready_state();
    // The reference example plus 60,000 unknown keys: 60,000 problems.
    let mut object = row([5.1, 3.5, 1.4, 0.2]);
    for index in 0..60_000 {
        object[format!("k{index}")] = json!(1);
    }
    let body = object.to_string();
    assert!(body.len() < 1024 * 1024, "{}", body.len());

    let response = warp::test::request()
        .method("POST")
        .path("/predict")
        .body(body)
        .reply(&api::routes(state.clone()))
        .await;

    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        response.body().len() < 8 * 1024,
        "{}",
        response.body().len()
    );
    let response = json_body(response.body());
    let detail = response["detail"].as_array().unwrap();
    assert_eq!(detail.len(), api::config::MAX_FIELD_ERRORS + 1);
    assert!(detail[..20]
        .iter()
        .all(|error| error["type"] == "extra_forbidden"));
    assert_eq!(detail[20]["type"], "too_many_errors");
    assert_eq!(detail[20]["loc"], json!(["body"]));
    let message = detail[20]["msg"].as_str().unwrap();
    assert!(message.starts_with("59980 more problems"), "{message}");
}

#[tokio::test]
async fn head_is_answered_like_get() {
    let state = ready_state();
    for path in ["/", "/livez", "/metrics", "/openapi.json", "/docs/"] {
        let response = warp::test::request()
            .method("HEAD")
            .path(path)
            .reply(&api::routes(state.clone()))
            .await;
        assert_eq!(response.status(), StatusCode::OK, "HEAD {path}");
    }
    let response = warp::test::request()
        .method("HEAD")
        .path("/predict")
        .reply(&api::routes(state.clone()))
        .await;
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn trailing_slash_is_counted_under_its_route() {
    let state = ready_state();
    let response = warp::test::request()
        .method("POST")
        .path("/predict/")
        .body(common::REFERENCE_BODY)
        .reply(&api::routes(state.clone()))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(get(&state, "/livez/").await.status(), StatusCode::OK);
    assert_eq!(get(&state, "/nope/").await.status(), StatusCode::NOT_FOUND);

    let text = String::from_utf8(get(&state, "/metrics").await.body().to_vec()).unwrap();
    assert!(
        text.contains(r#"http_requests_total{method="POST",route="/predict",status="200"} 1"#),
        "{text}"
    );
    assert!(text.contains(r#"http_requests_total{method="GET",route="/livez",status="200"} 1"#));
    assert!(text.contains(r#"http_requests_total{method="GET",route="unmatched",status="404"} 1"#));
    assert!(
        !text.contains(r#"route="unmatched",status="200""#),
        "{text}"
    );
}

#[tokio::test]
async fn integers_are_accepted_as_numbers() {
    let state = ready_state();
    let (status, body) = post(
        &state,
        row([5.0, 3.0, 1.0, 0.0]).to_string().replace(".0", ""),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["prediction"], 0);
}

#[tokio::test]
async fn malformed_json_is_400() {
    let state = ready_state();
    for body in [r#"{"sepal length (cm)": 5.1,"#, "not json", "{'a': 1}", ""] {
        let (status, response) = post(&state, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "body {body:?}");
        assert!(response["detail"]
            .as_str()
            .unwrap()
            .starts_with("the request body is not valid JSON"));
    }
}

#[tokio::test]
async fn json_scalar_body_is_422() {
    let state = ready_state();
    let (status, response) = post(&state, "5.1").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        field_errors(&response),
        [(json!(["body"]), "model_attributes_type".to_owned())]
    );
}

#[tokio::test]
async fn non_json_content_type_is_415() {
    let state = ready_state();
    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ] {
        let response = warp::test::request()
            .method("POST")
            .path("/predict")
            .header("content-type", content_type)
            .body(common::REFERENCE_BODY)
            .reply(&api::routes(state.clone()))
            .await;
        assert_eq!(
            response.status(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{content_type}"
        );
        assert!(json_body(response.body())["detail"].is_string());
    }
}

#[tokio::test]
async fn non_ascii_content_type_is_415() {
    let state = ready_state();
    let value = HeaderValue::from_bytes(b"application/json\xe9").unwrap();
    let response = warp::test::request()
        .method("POST")
        .path("/predict")
        .header("content-type", value)
        .body(common::REFERENCE_BODY)
        .reply(&api::routes(state))
        .await;
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let detail = json_body(response.body())["detail"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        detail.contains("Content-Type: application/json"),
        "{detail}"
    );
}

#[tokio::test]
async fn compressed_body_is_415() {
    let state = ready_state();
    for encoding in ["gzip", "br", "identity, deflate"] {
        let response = warp::test::request()
            .method("POST")
            .path("/predict")
            .header("content-type", "application/json")
            .header("content-encoding", encoding)
            .body(common::REFERENCE_BODY)
            .reply(&api::routes(state.clone()))
            .await;
        assert_eq!(
            response.status(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{encoding}"
        );
        assert_eq!(response.headers()["accept-encoding"], "identity");
        let detail = json_body(response.body())["detail"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(detail.contains("Content-Encoding"), "{detail}");
    }

    // `identity` is the body as sent, so it is read as usual.
    let response = warp::test::request()
        .method("POST")
        .path("/predict")
        .header("content-type", "application/json")
        .header("content-encoding", "identity")
        .body(common::REFERENCE_BODY)
        .reply(&api::routes(state))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn body_above_limit_is_413() {
    let limits = Limits {
        max_body_bytes: 64,
        ..Limits::default()
    };
    let state = state_with(ModelSlot::ready(common::handmade_model()), limits);
    let (status, body) = post(&state, common::REFERENCE_BODY).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(body["detail"].as_str().unwrap().contains("64 bytes"));
}

#[tokio::test]
async fn default_limit_is_one_mebibyte() {
    let state = ready_state();
    let padding = " ".repeat(1024 * 1024);
    let (status, _) = post(&state, format!("{}{padding}", common::REFERENCE_BODY)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let just_under = format!(
        "{}{}",
        common::REFERENCE_BODY,
        " ".repeat(1024 * 1024 - common::REFERENCE_BODY.len())
    );
    let (status, _) = post(&state, just_under).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn unknown_route_is_404() {
    let state = ready_state();
    for path in ["/nope", "/predict/extra", "/docs/missing.js"] {
        let response = get(&state, path).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        assert!(json_body(response.body())["detail"].is_string());
    }
}

#[tokio::test]
async fn wrong_method_is_405() {
    let state = ready_state();
    let response = get(&state, "/predict").await;
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert!(json_body(response.body())["detail"].is_string());

    let response = warp::test::request()
        .method("DELETE")
        .path("/")
        .reply(&api::routes(state.clone()))
        .await;
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn readiness_reports_the_model() {
    let state = ready_state();
    let response = get(&state, "/").await;
    assert_eq!(response.status(), StatusCode::OK);
    let body = json_body(response.body());
    assert_eq!(body["status"], "ready");
    assert_eq!(body["model_version"], state.slot.model().unwrap().version());
    assert_eq!(body["trained_at"], "2026-01-01T00:00:00Z");
    assert_eq!(body["metrics"]["accuracy"], 0.9);
    assert_eq!(
        body["classes"],
        json!(["setosa", "versicolor", "virginica"])
    );
}

#[tokio::test]
async fn without_model_every_use_is_503() {
    let state = missing_state();

    let response = get(&state, "/").await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body = json_body(response.body());
    assert_eq!(body["reason"], "missing");
    assert!(body["detail"]
        .as_str()
        .unwrap()
        .contains("/nonexistent/model.json"));

    let (status, body) = post(&state, common::REFERENCE_BODY).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["reason"], "missing");

    let response = get(&state, "/livez").await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "liveness does not need a model"
    );
}

#[tokio::test]
async fn invalid_and_incompatible_files_are_503() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.json");
    let cases: [(&[u8], UnavailableReason); 3] = [
        (
            br#"{"format_version": 1, "feature_names": ["#,
            UnavailableReason::Invalid,
        ),
        (b"not json", UnavailableReason::Invalid),
        (
            br#"{"format_version": 99}"#,
            UnavailableReason::Incompatible,
        ),
    ];
    for (content, reason) in cases {
        std::fs::write(&path, content).unwrap();
        let unavailable: Unavailable = api::model_slot::load(&path).unwrap_err();
        assert_eq!(unavailable.reason, reason);
        let state = state_with(ModelSlot::unavailable(unavailable), Limits::default());

        let response = get(&state, "/").await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body = json_body(response.body());
        assert_eq!(body["reason"], serde_json::to_value(reason).unwrap());
        assert!(
            !body["detail"].as_str().unwrap().contains("line 1"),
            "no parser internals"
        );
    }
}

#[tokio::test]
async fn metrics_count_requests_and_version() {
    let state = ready_state();
    state
        .metrics
        .set_model(state.slot.model().as_deref().map(|model| model.version()));
    post(&state, common::REFERENCE_BODY).await;
    post(&state, "{}").await;

    let response = get(&state, "/metrics").await;

    assert_eq!(response.status(), StatusCode::OK);
    let text = String::from_utf8(response.body().to_vec()).unwrap();
    assert!(
        text.contains(r#"http_requests_total{method="POST",route="/predict",status="200"} 1"#),
        "{text}"
    );
    assert!(text.contains(r#"http_requests_total{method="POST",route="/predict",status="422"} 1"#));
    assert!(text.contains(r#"http_request_duration_seconds_bucket{route="/predict",le="+Inf"} 2"#));
    let version = state.slot.model().unwrap().version().to_owned();
    assert!(text.contains(&format!(r#"model_info{{version="{version}"}} 1"#)));
}

#[tokio::test]
async fn openapi_document_describes_predict() {
    let state = ready_state();
    let response = get(&state, "/openapi.json").await;
    assert_eq!(response.status(), StatusCode::OK);
    let document = json_body(response.body());
    assert!(document["openapi"].as_str().unwrap().starts_with("3."));
    let predict = &document["paths"]["/predict"]["post"];
    for status in ["200", "400", "408", "413", "415", "422", "503"] {
        assert!(
            predict["responses"][status].is_object(),
            "response {status} is documented"
        );
    }
    // Every `type` that a 422 response can carry (the values assigned to
    // `FieldError::kind` in src/request.rs, src/predict.rs and
    // src/problem.rs) is explained in the schema of a field error.
    let field_error = document["components"]["schemas"]["FieldErrorDoc"]["description"]
        .as_str()
        .unwrap();
    for kind in [
        "missing",
        "extra_forbidden",
        "duplicate",
        "float_type",
        "finite_number",
        "out_of_range",
        "value_error",
        "model_attributes_type",
        "list_type",
        "json_invalid",
        "too_short",
        "too_long",
        "too_many_errors",
    ] {
        assert!(
            field_error.contains(&format!("`{kind}`")),
            "error type {kind} is documented"
        );
    }
    for path in [
        "/",
        "/livez",
        "/predict",
        "/metrics",
        "/openapi.json",
        "/docs/",
    ] {
        assert!(
            document["paths"][path].is_object(),
            "path {path} is documented"
        );
    }
    let features = &document["components"]["schemas"]["IrisFeatures"]["properties"];
    for name in common::FEATURES {
        assert!(features[name].is_object(), "feature {name} is documented");
    }
}

/// Returns the explanation in parentheses that follows `` `kind` `` in the
/// description of a field error.
fn type_description<'a>(description: &'a str, kind: &str) -> &'a str {
    let marker = format!("`{kind}` (");
    let start = description.find(&marker).expect("the type is documented") + marker.len();
    let length = description[start..]
        .find(')')
        .expect("the explanation ends");
    &description[start..start + length]
}

#[tokio::test]
async fn error_types_match_their_descriptions() {
    let state = ready_state();
    let response = get(&state, "/openapi.json").await;
    let document = json_body(response.body());
    let description = document["components"]["schemas"]["FieldErrorDoc"]["description"]
        .as_str()
        .unwrap()
        .replace('\n', " ");
    // A body, the location and type of its first error, and a phrase that
    // the explanation of that type contains.
    let cases = [
        ("7", json!(["body"]), "model_attributes_type", "the body"),
        (
            "[7]",
            json!(["body", 0]),
            "model_attributes_type",
            "batch item",
        ),
        (
            r#"{"\ud800": 1}"#,
            json!(["body"]),
            "json_invalid",
            "surrogate",
        ),
        (
            r#"[{"\ud800": 1}]"#,
            json!(["body", 0]),
            "json_invalid",
            "surrogate",
        ),
    ];
    for (body, loc, kind, phrase) in cases {
        let (status, errors) = post(&state, body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(errors["detail"][0]["loc"], loc, "{body}");
        assert_eq!(errors["detail"][0]["type"], kind, "{body}");
        let explanation = type_description(&description, kind);
        assert!(explanation.contains(phrase), "{kind}: {explanation}");
        if kind == "json_invalid" {
            // The message gives the parser's reason, not only that it failed.
            let message = errors["detail"][0]["msg"].as_str().unwrap();
            assert!(message.contains("not valid Unicode"), "{message}");
        }
    }
}

#[tokio::test]
async fn docs_page_is_served_locally() {
    let state = ready_state();
    let redirect = get(&state, "/docs").await;
    assert_eq!(redirect.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(redirect.headers()["location"], "/docs/");

    let page = get(&state, "/docs/").await;
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(page.headers()["content-encoding"], "gzip");
    let html = gunzip(page.body());
    assert!(html.contains("swagger-ui"), "{html}");
    assert!(
        !html.contains("https://"),
        "the page loads nothing from the internet"
    );

    let initializer = get(&state, "/docs/swagger-initializer.js").await;
    assert_eq!(initializer.status(), StatusCode::OK);
    let script = String::from_utf8(initializer.body().to_vec()).unwrap();
    assert!(script.contains("/openapi.json"));

    let bundle = get(&state, "/docs/swagger-ui-bundle.js").await;
    assert_eq!(bundle.status(), StatusCode::OK);
    assert_eq!(bundle.headers()["content-encoding"], "gzip");
    assert!(bundle.body().starts_with(&[0x1f, 0x8b]), "a gzip stream");
    assert!(bundle.body().len() > 100_000);
}

#[tokio::test]
async fn no_route_answers_500_to_client_input() {
    let state = ready_state();
    let filter = api::routes(state.clone());
    let bodies: [&[u8]; 6] = [b"\xff\xfe", b"[[[[[[", b"{\"a\":", b"[]", b"{}", b"[null]"];
    for body in bodies {
        let response = warp::test::request()
            .method("POST")
            .path("/predict")
            .body(body)
            .reply(&filter)
            .await;
        assert!(
            response.status().is_client_error(),
            "{body:?} -> {}",
            response.status()
        );
    }
}
