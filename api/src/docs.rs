//! The OpenAPI 3 document (`GET /openapi.json`) and Swagger UI (`GET /docs`).
//!
//! The Swagger UI files are compiled into the binary (utoipa-swagger-ui's
//! `vendored` feature), so the page works with no internet access. They are
//! stored gzip-compressed (its `gzip` feature), which keeps about 3 MB out
//! of the binary, and are sent with `Content-Encoding: gzip` whatever the
//! request's `Accept-Encoding`, which every browser supports.

use std::sync::{Arc, LazyLock};

use serde::Serialize;
use utoipa::{OpenApi, ToSchema};
use warp::http::{header, HeaderValue, StatusCode, Uri};
use warp::reply::{Reply, Response};
use warp::Filter;

use crate::predict::{BatchResponse, PredictionBody, SingleResponse};
use crate::problem;
use crate::routes::{MetricsSummary, ReadyBody};

/// One iris flower, keyed by the feature names the model was trained on.
/// Every value must be a JSON number; numeric strings are rejected.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"sepal length (cm)": 5.1, "sepal width (cm)": 3.5, "petal length (cm)": 1.4, "petal width (cm)": 0.2}))]
#[allow(dead_code)]
struct IrisFeatures {
    #[serde(rename = "sepal length (cm)")]
    sepal_length: f64,
    #[serde(rename = "sepal width (cm)")]
    sepal_width: f64,
    #[serde(rename = "petal length (cm)")]
    petal_length: f64,
    #[serde(rename = "petal width (cm)")]
    petal_width: f64,
}

/// One object, or a batch: an array of 1 to the maximum batch size of
/// objects (1000 unless `--max-batch` sets another).
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum PredictRequest {
    Single(IrisFeatures),
    Batch(Vec<IrisFeatures>),
}

/// The response to a single object or to a batch.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum PredictResponse<'a> {
    Single(SingleResponse<'a>),
    Batch(BatchResponse<'a>),
}

/// An error with a message.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
struct ErrorBody {
    detail: String,
}

/// One invalid field: its path in the body, the reason and an error type.
///
/// Types: `missing` (a feature is absent), `extra_forbidden` (an unknown
/// key), `duplicate` (a key appears twice), `float_type` (not a JSON
/// number: a string, a boolean, null, an array or an object),
/// `finite_number` (NaN, an infinity, or a number beyond the `f64` range),
/// `out_of_range` (a finite value so far outside the training data that a
/// class score overflows), `value_error` (a score overflow not traced to one
/// field), `model_attributes_type` (the body is neither an object nor an
/// array, or a batch item is not an object), `list_type` (a batch that
/// cannot be read as an array, which valid JSON does not cause),
/// `json_invalid` (an object whose keys cannot be read, such as a key with
/// an unpaired UTF-16 surrogate escape like `\ud800`), `too_short` (an empty
/// batch), `too_long` (a batch above the maximum size), and last, when more
/// than 20 errors were found, one `too_many_errors` entry that counts the
/// ones left out.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
struct FieldErrorDoc {
    #[schema(example = json!(["body", "sepal length (cm)"]))]
    loc: Vec<serde_json::Value>,
    #[schema(example = "field required")]
    msg: String,
    #[serde(rename = "type")]
    #[schema(example = "missing")]
    kind: String,
}

/// Every invalid field of the request.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
struct ValidationErrorBody {
    detail: Vec<FieldErrorDoc>,
}

/// No valid model is loaded. `reason` is `missing`, `invalid` or
/// `incompatible`.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
struct UnavailableBody {
    #[schema(example = "unavailable")]
    status: String,
    #[schema(example = "missing")]
    reason: String,
    detail: String,
}

/// Readiness: the loaded model's summary, or why there is none.
#[utoipa::path(get, path = "/", responses(
    (status = 200, description = "A valid model is loaded", body = ReadyBody),
    (status = 503, description = "No valid model is loaded", body = UnavailableBody),
))]
#[allow(dead_code)]
fn readiness() {}

/// Liveness: the process is up, whatever the model's state.
#[utoipa::path(get, path = "/livez", responses((status = 200, description = "The process is up")))]
#[allow(dead_code)]
fn liveness() {}

/// Predicts the iris class of one object or of a batch (a JSON array).
///
/// Keys are matched by name, in any order. The body may be at most 1 MiB
/// unless `--max-body-bytes` sets another limit. The response carries the
/// model version in `model_version` and in the `x-model-version` header.
#[utoipa::path(post, path = "/predict",
    request_body(content = PredictRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Predictions, in request order for a batch", body = PredictResponse),
        (status = 400, description = "The body is not valid JSON, or the connection failed while it was read", body = ErrorBody),
        (status = 408, description = "The body did not arrive within the read timeout (30 s unless `--body-timeout-ms` sets another); the connection is closed", body = ErrorBody),
        (status = 413, description = "The body is larger than the limit", body = ErrorBody),
        (status = 415, description = "The content type is not JSON, or the body is compressed (Content-Encoding other than identity)", body = ErrorBody),
        (status = 422, description = "Missing, unknown or invalid fields, each named", body = ValidationErrorBody),
        (status = 503, description = "No valid model is loaded", body = UnavailableBody),
    ))]
#[allow(dead_code)]
fn predict() {}

/// Prometheus metrics: requests by route and status, latency, model version.
#[utoipa::path(get, path = "/metrics", responses(
    (status = 200, description = "Prometheus text format", content_type = "text/plain")
))]
#[allow(dead_code)]
fn metrics() {}

/// This OpenAPI document.
#[utoipa::path(get, path = "/openapi.json", responses(
    (status = 200, description = "The OpenAPI 3.1 document of this service", content_type = "application/json")
))]
#[allow(dead_code)]
fn openapi_document() {}

/// Swagger UI for this document, served from files compiled into the
/// binary. `/docs` redirects to `/docs/`.
#[utoipa::path(get, path = "/docs/", responses(
    (status = 200, description = "The Swagger UI page", content_type = "text/html")
))]
#[allow(dead_code)]
fn docs_page() {}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Iris prediction API",
        description = "Serves predictions of the iris classifier that etl publishes."
    ),
    paths(readiness, liveness, predict, metrics, openapi_document, docs_page),
    components(schemas(
        IrisFeatures,
        PredictRequest,
        PredictResponse,
        PredictionBody,
        SingleResponse,
        BatchResponse,
        ReadyBody,
        MetricsSummary,
        ErrorBody,
        FieldErrorDoc,
        ValidationErrorBody,
        UnavailableBody
    ))
)]
struct ApiDoc;

/// The OpenAPI document, serialized once.
static OPENAPI_JSON: LazyLock<String> = LazyLock::new(|| {
    ApiDoc::openapi()
        .to_pretty_json()
        .expect("the OpenAPI document serializes")
});

static SWAGGER_CONFIG: LazyLock<Arc<utoipa_swagger_ui::Config<'static>>> =
    LazyLock::new(|| Arc::new(utoipa_swagger_ui::Config::new(["/openapi.json"])));

/// Returns the OpenAPI document as JSON text.
pub fn openapi_json() -> &'static str {
    &OPENAPI_JSON
}

/// `GET /openapi.json`, `GET /docs` (redirects to `/docs/`) and the
/// Swagger UI files under `/docs/`.
pub fn routes() -> impl Filter<Extract = (Response,), Error = warp::Rejection> + Clone {
    let openapi = warp::path!("openapi.json")
        .and(crate::routes::get_or_head())
        .map(|| {
            let mut response = Response::new(openapi_json().into());
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            response
        });
    // Swagger UI loads its files by relative paths, so the page must be
    // served at `/docs/` with the trailing slash. warp's path segments
    // ignore a trailing slash, so only the full path distinguishes them.
    let files = warp::path("docs")
        .and(warp::path::tail())
        .and(warp::path::full())
        .and(crate::routes::get_or_head())
        .map(|tail: warp::path::Tail, full: warp::path::FullPath| {
            if full.as_str() == "/docs" {
                warp::redirect::permanent(Uri::from_static("/docs/")).into_response()
            } else {
                swagger_file(tail.as_str())
            }
        });
    openapi.or(files).unify()
}

fn swagger_file(tail: &str) -> Response {
    match utoipa_swagger_ui::serve(tail, Arc::clone(&SWAGGER_CONFIG)) {
        Ok(Some(file)) => {
            let mut response = Response::new(file.bytes.into_owned().into());
            if let Ok(value) = HeaderValue::from_str(&file.content_type) {
                response.headers_mut().insert(header::CONTENT_TYPE, value);
            }
            if file.gzpipped {
                response
                    .headers_mut()
                    .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            }
            response
        }
        Ok(None) => problem::message(StatusCode::NOT_FOUND, "no such documentation file"),
        Err(error) => {
            tracing::error!(%error, file = tail, "failed to render a Swagger UI file");
            problem::message(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the documentation page failed to render",
            )
        }
    }
}
