//! Hot reload against real files: the watcher task polls a temporary
//! directory while requests go through the in-process routes.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use api::metrics::Metrics;
use api::model_slot::{ModelSlot, Unavailable};
use api::{reload, AppState, Limits, UnavailableReason};
use serde_json::Value;
use warp::http::StatusCode;

const POLL: Duration = Duration::from_millis(50);

/// The bound on how long a replacement may take to be served.
const RELOAD_BOUND: Duration = Duration::from_secs(2);

/// Writes `bytes` to a temporary file beside `path` and renames it over
/// `path`, as etl publishes a model.
fn publish(path: &Path, bytes: &[u8]) {
    let temporary = path.with_extension("json.tmp");
    std::fs::write(&temporary, bytes).unwrap();
    std::fs::rename(&temporary, path).unwrap();
}

/// Starts a service state with a watcher on `path`, loading it first as
/// `server::run` does.
fn watched_state(path: &Path) -> (AppState, tokio::task::JoinHandle<()>) {
    let metrics = Arc::new(Metrics::new());
    let slot = Arc::new(ModelSlot::unavailable(Unavailable {
        reason: UnavailableReason::Missing,
        message: "not loaded yet".to_owned(),
    }));
    let fingerprint = reload::fingerprint(path);
    reload::load_into(&slot, path, &metrics);
    let watcher = tokio::spawn(reload::watch(
        Arc::clone(&slot),
        path.to_owned(),
        POLL,
        Arc::clone(&metrics),
        fingerprint,
    ));
    let state = AppState {
        slot,
        metrics,
        limits: Limits::default(),
    };
    (state, watcher)
}

async fn readiness(state: &AppState) -> (StatusCode, Value) {
    let response = warp::test::request()
        .method("GET")
        .path("/")
        .reply(&api::routes(state.clone()))
        .await;
    let body = serde_json::from_slice(response.body()).unwrap();
    (response.status(), body)
}

/// Polls `GET /` until `done` holds or the reload bound passes; returns the
/// time it took.
async fn wait_for(state: &AppState, done: impl Fn(StatusCode, &Value) -> bool) -> Duration {
    let start = Instant::now();
    while start.elapsed() < RELOAD_BOUND {
        let (status, body) = readiness(state).await;
        if done(status, &body) {
            return start.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (status, body) = readiness(state).await;
    panic!("not reached within {RELOAD_BOUND:?}: last GET / was {status} {body}");
}

fn version_of(bytes: &[u8]) -> String {
    model_artifact::Model::from_bytes(bytes)
        .unwrap()
        .version()
        .to_owned()
}

#[tokio::test]
async fn valid_replacement_is_served() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.json");
    let first = common::handmade_artifact(0.0).to_json_bytes();
    let second = common::handmade_artifact(0.5).to_json_bytes();
    publish(&path, &first);
    let (state, watcher) = watched_state(&path);
    let (status, body) = readiness(&state).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["model_version"], version_of(&first).as_str());

    publish(&path, &second);
    let expected = version_of(&second);
    wait_for(&state, |status, body| {
        status == StatusCode::OK && body["model_version"] == expected.as_str()
    })
    .await;

    let metrics = String::from_utf8(state.metrics.render()).unwrap();
    assert!(
        metrics.contains(&format!(r#"model_info{{version="{expected}"}} 1"#)),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"model_reloads_total{outcome="installed"} 2"#),
        "{metrics}"
    );
    watcher.abort();
}

#[tokio::test]
async fn invalid_replacement_keeps_previous_model() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.json");
    let good = common::handmade_artifact(0.0).to_json_bytes();
    publish(&path, &good);
    let (state, watcher) = watched_state(&path);
    let serving = version_of(&good);

    let truncated = &good[..good.len() / 2];
    let replacements: [&[u8]; 3] = [truncated, b"{}", br#"{"format_version": 2}"#];
    for (count, replacement) in replacements.iter().enumerate() {
        publish(&path, replacement);
        let expected = format!(r#"model_reloads_total{{outcome="rejected"}} {}"#, count + 1);
        let start = Instant::now();
        while !String::from_utf8(state.metrics.render())
            .unwrap()
            .contains(&expected)
        {
            assert!(
                start.elapsed() < RELOAD_BOUND,
                "replacement {count} was not checked"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let (status, body) = readiness(&state).await;
        assert_eq!(status, StatusCode::OK, "replacement {count}");
        assert_eq!(
            body["model_version"],
            serving.as_str(),
            "replacement {count}"
        );
    }

    std::fs::remove_file(&path).unwrap();
    tokio::time::sleep(POLL * 4).await;
    let (status, body) = readiness(&state).await;
    assert_eq!(status, StatusCode::OK, "a removed file keeps the model");
    assert_eq!(body["model_version"], serving.as_str());
    watcher.abort();
}

#[tokio::test]
async fn start_without_model_then_pick_it_up() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.json");
    let (state, watcher) = watched_state(&path);
    let (status, body) = readiness(&state).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["reason"], "missing");

    publish(&path, b"{\"format_version\": 1");
    wait_for(&state, |status, body| {
        status == StatusCode::SERVICE_UNAVAILABLE && body["reason"] == "invalid"
    })
    .await;

    let model = common::handmade_artifact(0.0).to_json_bytes();
    publish(&path, &model);
    let expected = version_of(&model);
    let took = wait_for(&state, |status, body| {
        status == StatusCode::OK && body["model_version"] == expected.as_str()
    })
    .await;
    assert!(took < RELOAD_BOUND);
    watcher.abort();
}

#[tokio::test]
async fn in_place_write_is_picked_up() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.json");
    publish(&path, &common::handmade_artifact(0.0).to_json_bytes());
    let (state, watcher) = watched_state(&path);

    let second = common::handmade_artifact(0.25).to_json_bytes();
    std::fs::write(&path, &second).unwrap();
    let expected = version_of(&second);
    wait_for(&state, |status, body| {
        status == StatusCode::OK && body["model_version"] == expected.as_str()
    })
    .await;
    watcher.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_in_flight_never_fail_during_reloads() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.json");
    let versions = [
        common::handmade_artifact(0.0),
        common::handmade_artifact(0.5),
    ]
    .map(|artifact| artifact.to_json_bytes());
    publish(&path, &versions[0]);
    let (state, watcher) = watched_state(&path);
    let known: Vec<String> = versions.iter().map(|bytes| version_of(bytes)).collect();

    let publisher = {
        let path = path.clone();
        tokio::task::spawn_blocking(move || {
            for round in 0..20 {
                publish(&path, &versions[round % 2]);
                std::thread::sleep(POLL);
                publish(&path, b"{\"truncated");
                std::thread::sleep(POLL);
            }
        })
    };
    let routes = api::routes(state.clone());
    let mut seen = std::collections::HashSet::new();
    while !publisher.is_finished() {
        let response = warp::test::request()
            .method("POST")
            .path("/predict")
            .body(common::REFERENCE_BODY)
            .reply(&routes)
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = serde_json::from_slice(response.body()).unwrap();
        let version = body["model_version"].as_str().unwrap().to_owned();
        assert!(known.contains(&version), "unknown version {version}");
        seen.insert(version);
    }
    publisher.await.unwrap();
    assert_eq!(seen.len(), 2, "both versions served during the test");
    watcher.abort();
}
