//! The route table and the small handlers: readiness, liveness, metrics.
//! Unmatched requests become JSON 404 and 405 responses in [`recover`].

use std::convert::Infallible;
use std::sync::Arc;

use serde::Serialize;
use utoipa::ToSchema;
use warp::http::{header, HeaderValue, StatusCode};
use warp::reply::{Reply, Response};
use warp::{Filter, Rejection};

use crate::config::Limits;
use crate::metrics::Metrics;
use crate::model_slot::{ModelSlot, Serving};
use crate::{docs, predict, problem};

/// Everything a handler needs, cloned into each request.
#[derive(Debug, Clone)]
pub struct AppState {
    pub slot: Arc<ModelSlot>,
    pub metrics: Arc<Metrics>,
    pub limits: Limits,
}

/// Builds every route of the service, with request metrics and JSON
/// errors for unmatched requests.
pub fn routes(state: AppState) -> impl Filter<Extract = (impl Reply,), Error = Infallible> + Clone {
    let with_state = {
        let state = state.clone();
        warp::any().map(move || state.clone())
    };

    let readiness = warp::path::end()
        .and(get_or_head())
        .and(with_state.clone())
        .map(|state: AppState| readiness(&state.slot));
    let liveness = warp::path!("livez")
        .and(get_or_head())
        .map(|| problem::json(StatusCode::OK, &serde_json::json!({"status": "alive"})));
    let predict = warp::path!("predict")
        .and(warp::post())
        .and(with_state.clone())
        .and(warp::header::optional::<HeaderValue>("content-type"))
        .and(warp::header::optional::<HeaderValue>("content-encoding"))
        .and(warp::header::optional::<u64>("content-length"))
        .and(warp::body::stream())
        .and_then(predict::handle);
    let metrics = warp::path!("metrics")
        .and(get_or_head())
        .and(with_state)
        .map(|state: AppState| metrics_response(&state.metrics));

    let observed = Arc::clone(&state.metrics);
    let log = warp::log::custom(move |info| {
        observed.observe_request(
            info.path(),
            info.method().as_str(),
            info.status().as_u16(),
            info.elapsed().as_secs_f64(),
        );
    });

    predict
        .or(readiness)
        .unify()
        .or(liveness)
        .unify()
        .or(metrics)
        .unify()
        .or(docs::routes())
        .unify()
        .recover(recover)
        .unify()
        .with(log)
}

/// Matches GET and HEAD. hyper sends no body in a response to HEAD, so
/// HEAD returns the same status and headers as GET.
pub fn get_or_head() -> impl Filter<Extract = (), Error = Rejection> + Copy {
    warp::get().or(warp::head()).unify()
}

/// Readiness and model summary, as `GET /` returns it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReadyBody<'a> {
    #[schema(example = "ready")]
    pub status: &'static str,
    #[schema(example = "3f2a9c1d04be")]
    pub model_version: &'a str,
    /// When `etl` finished training the model (RFC 3339, UTC).
    pub trained_at: &'a str,
    /// Program that trained the model.
    pub trained_by: &'a str,
    pub features: &'a [String],
    pub classes: Vec<&'a str>,
    pub metrics: MetricsSummary,
}

/// Evaluation of the model on its held-out rows.
#[derive(Debug, Serialize, ToSchema)]
pub struct MetricsSummary {
    pub accuracy: f64,
    /// F1 score of each class, in class-index order.
    pub f1: Vec<f64>,
    /// Number of held-out rows the metrics were computed on.
    pub test_rows: u64,
}

/// `GET /`: 200 with the model summary, or 503 with the reason.
pub fn readiness(slot: &ModelSlot) -> Response {
    let snapshot = slot.snapshot();
    let loaded = match &*snapshot {
        Serving::Ready(loaded) => loaded,
        Serving::Unavailable(unavailable) => return problem::unavailable(unavailable),
    };
    let artifact = loaded.model.artifact();
    let body = ReadyBody {
        status: "ready",
        model_version: loaded.version(),
        trained_at: &artifact.training.trained_at,
        trained_by: &artifact.training.program_version,
        features: &artifact.feature_names,
        classes: artifact
            .classes
            .iter()
            .map(|class| class.name.as_str())
            .collect(),
        metrics: MetricsSummary {
            accuracy: artifact.metrics.accuracy,
            f1: artifact
                .metrics
                .per_class
                .iter()
                .map(|class| class.f1)
                .collect(),
            test_rows: artifact.rows.test,
        },
    };
    let mut response = problem::json(StatusCode::OK, &body);
    response
        .headers_mut()
        .insert(predict::MODEL_VERSION_HEADER, loaded.version_header.clone());
    response
}

fn metrics_response(metrics: &Metrics) -> Response {
    let mut response = Response::new(metrics.render().into());
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

/// Turns warp's rejections into JSON: 405 when the path exists for another
/// method, 404 otherwise. Handlers never reject, so these are the only
/// rejections left.
async fn recover(rejection: Rejection) -> Result<Response, Infallible> {
    let unreadable_header = rejection
        .find::<warp::reject::InvalidHeader>()
        .map(|invalid| invalid.name());
    let response = if let Some(name @ ("content-type" | "content-encoding")) = unreadable_header {
        // warp reads these headers as text, so a value with bytes outside
        // ASCII never reaches the handler's own check.
        predict::unsupported_media(name)
    } else if rejection.find::<warp::reject::MethodNotAllowed>().is_some() {
        problem::message(
            StatusCode::METHOD_NOT_ALLOWED,
            "method not allowed for this route",
        )
    } else if rejection.is_not_found() {
        problem::message(
            StatusCode::NOT_FOUND,
            "no route matches this path; see /docs",
        )
    } else {
        // A header that failed to parse (a non-numeric Content-Length, say).
        tracing::debug!(?rejection, "rejected a request warp could not route");
        problem::message(StatusCode::BAD_REQUEST, "the request could not be read")
    };
    Ok(response.into_response())
}
