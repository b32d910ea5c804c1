//! `POST /predict`: the checks of one request, in order (content type, body
//! size, model availability, fields), then scoring and the response.

use bytes::Bytes;
use serde::Serialize;
use utoipa::ToSchema;
use warp::http::{header, HeaderValue, StatusCode};
use warp::reply::Response;

use crate::body::{self, BodyError};
use crate::model_slot::{LoadedModel, Serving};
use crate::problem;
use crate::request::{self, FieldError, Location, Payload, RequestError};
use crate::routes::AppState;

/// Name of the response header that carries the model version.
pub const MODEL_VERSION_HEADER: &str = "x-model-version";

/// The outcome for one feature vector.
#[derive(Debug, Serialize, ToSchema)]
pub struct PredictionBody<'a> {
    /// Index of the most probable class.
    #[schema(example = 0)]
    pub prediction: usize,
    /// Name of that class.
    #[schema(example = "setosa")]
    pub label: &'a str,
    /// Probability of each class, in class-index order.
    pub probabilities: Vec<f64>,
}

/// The response to a single object: the fields of [`PredictionBody`] and
/// the model version. It repeats the fields instead of using
/// `#[serde(flatten)]`, which serializes through a slower map path.
#[derive(Debug, Serialize, ToSchema)]
pub struct SingleResponse<'a> {
    /// Index of the most probable class.
    #[schema(example = 0)]
    pub prediction: usize,
    /// Name of that class.
    #[schema(example = "setosa")]
    pub label: &'a str,
    /// Probability of each class, in class-index order.
    pub probabilities: Vec<f64>,
    /// Version of the model that computed the prediction.
    #[schema(example = "3f2a9c1d04be")]
    pub model_version: &'a str,
}

/// The response to a batch, in request order.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchResponse<'a> {
    pub predictions: Vec<PredictionBody<'a>>,
    /// Version of the model that computed the predictions.
    #[schema(example = "3f2a9c1d04be")]
    pub model_version: &'a str,
}

/// Handles one `POST /predict` request; every outcome is a response.
pub async fn handle<S, B>(
    state: AppState,
    content_type: Option<HeaderValue>,
    content_encoding: Option<HeaderValue>,
    content_length: Option<u64>,
    stream: S,
) -> Result<Response, std::convert::Infallible>
where
    S: futures_util::Stream<Item = Result<B, warp::Error>>,
    B: bytes::Buf,
{
    if !body::is_json_content_type(content_type.as_ref()) {
        return Ok(unsupported_media("content-type"));
    }
    if !body::is_identity_encoding(content_encoding.as_ref()) {
        return Ok(unsupported_media("content-encoding"));
    }
    let limits = &state.limits;
    let body = match body::read_limited(
        stream,
        content_length,
        limits.max_body_bytes,
        limits.body_read_timeout,
    )
    .await
    {
        Ok(body) => body,
        Err(error) => return Ok(body_error(error)),
    };
    let loaded = match &*state.slot.snapshot() {
        Serving::Ready(model) => std::sync::Arc::clone(model),
        Serving::Unavailable(unavailable) => return Ok(problem::unavailable(unavailable)),
    };
    Ok(predict_body(&loaded, &body, state.limits.max_batch))
}

/// Builds the 415 response for a body that the `header` named
/// (`content-type` or `content-encoding`) makes unreadable here.
pub fn unsupported_media(header: &str) -> Response {
    if header == "content-encoding" {
        let mut response = problem::message(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "compressed request bodies are not supported; send the body without Content-Encoding",
        );
        // RFC 9110, section 15.5.16: a 415 caused by a content coding should
        // list the accepted codings in Accept-Encoding.
        response.headers_mut().insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("identity"),
        );
        return response;
    }
    problem::message(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "the request body must be JSON; send Content-Type: application/json",
    )
}

fn body_error(error: BodyError) -> Response {
    match error {
        BodyError::TooLarge { limit } => problem::message(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("the request body is larger than the limit of {limit} bytes; send fewer rows per request"),
        ),
        BodyError::Interrupted => problem::message(
            StatusCode::BAD_REQUEST,
            "the connection failed while the request body was being read",
        ),
        BodyError::TimedOut { timeout } => {
            let mut response = problem::message(
                StatusCode::REQUEST_TIMEOUT,
                &format!(
                    "the request body did not arrive within {} seconds; send the whole body at once",
                    timeout.as_secs_f64()
                ),
            );
            // The rest of the body may still arrive, so the connection cannot
            // carry another request.
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            response
        }
    }
}

/// Parses, validates and scores `body` with `loaded`.
pub fn predict_body(loaded: &LoadedModel, body: &Bytes, max_batch: usize) -> Response {
    let model = &loaded.model;
    let payload = match request::parse(body, model.feature_names(), max_batch) {
        Ok(payload) => payload,
        Err(RequestError::Malformed(reason)) => {
            tracing::debug!(%reason, "rejected a request body that is not JSON");
            return problem::message(
                StatusCode::BAD_REQUEST,
                &format!("the request body is not valid JSON: {reason}"),
            );
        }
        Err(RequestError::Invalid(errors)) => {
            tracing::debug!(
                count = errors.len(),
                "rejected a request with invalid fields"
            );
            return problem::field_errors(&errors);
        }
    };

    let mut response = match payload {
        Payload::Single(features) => match score(loaded, &features, &[]) {
            Ok(result) => {
                let body = SingleResponse {
                    prediction: result.prediction,
                    label: result.label,
                    probabilities: result.probabilities,
                    model_version: loaded.version(),
                };
                problem::json(StatusCode::OK, &body)
            }
            Err(errors) => problem::field_errors(&errors),
        },
        Payload::Batch(rows) => score_batch(loaded, &rows),
    };
    response
        .headers_mut()
        .insert(MODEL_VERSION_HEADER, loaded.version_header.clone());
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn score_batch(loaded: &LoadedModel, rows: &[Vec<f64>]) -> Response {
    let mut predictions = Vec::with_capacity(rows.len());
    let mut errors = Vec::new();
    for (index, features) in rows.iter().enumerate() {
        match score(loaded, features, &[Location::Index(index)]) {
            Ok(result) => predictions.push(result),
            Err(row_errors) => errors.extend(row_errors),
        }
    }
    if !errors.is_empty() {
        return problem::field_errors(&errors);
    }
    let body = BatchResponse {
        predictions,
        model_version: loaded.version(),
    };
    problem::json(StatusCode::OK, &body)
}

/// Scores one validated feature vector. The model rejects only values so
/// large that a class score overflows. That comes from the client's input,
/// so it is reported as 422 on the fields that caused it, as
/// [`overflowing_fields`] finds them.
fn score<'a>(
    loaded: &'a LoadedModel,
    features: &[f64],
    prefix: &[Location],
) -> Result<PredictionBody<'a>, Vec<FieldError>> {
    let model = &loaded.model;
    match model.predict(features) {
        Ok(prediction) => Ok(PredictionBody {
            prediction: prediction.class_index,
            label: model.class_name(prediction.class_index).unwrap_or_default(),
            probabilities: prediction.probabilities,
        }),
        Err(error) => {
            let names = model.feature_names();
            let fields = overflowing_fields(loaded, features);
            if fields.is_empty() {
                let mut loc = vec![Location::Key("body".to_owned())];
                loc.extend_from_slice(prefix);
                return Err(vec![FieldError {
                    loc,
                    msg: error.to_string(),
                    kind: "value_error",
                }]);
            }
            Err(fields
                .into_iter()
                .map(|index| {
                    let mut loc = vec![Location::Key("body".to_owned())];
                    loc.extend_from_slice(prefix);
                    loc.push(Location::Key(names[index].clone()));
                    FieldError {
                        loc,
                        msg: format!(
                            "{:e} is too far outside the training data to score, because its term in a class score overflows; send values within the range of the training data",
                            features[index]
                        ),
                        kind: "out_of_range",
                    }
                })
                .collect())
        }
    }
}

/// Returns the indices of the features whose term in some class score,
/// `weight * (value - mean) / scale`, is not finite or exceeds
/// `f64::MAX / (features + 1)` in magnitude. A score is the intercept plus
/// one such term per feature, so it can overflow only when some term
/// exceeds that bound (for a model whose intercepts stay below it too).
/// When no term does, the one with the largest magnitude is returned, so
/// that an overflow always names a field.
fn overflowing_fields(loaded: &LoadedModel, features: &[f64]) -> Vec<usize> {
    let artifact = loaded.model.artifact();
    let scaler = &artifact.scaler;
    let bound = f64::MAX / (features.len() + 1) as f64;
    let mut largest = vec![0.0_f64; features.len()];
    for weights in &artifact.weights {
        for (index, weight) in weights.iter().enumerate() {
            let term =
                (weight * (features[index] - scaler.mean[index]) / scaler.scale[index]).abs();
            // NaN, from an infinite difference times a zero weight, counts as
            // overflowing.
            largest[index] = if term.is_nan() {
                f64::INFINITY
            } else {
                largest[index].max(term)
            };
        }
    }
    let over: Vec<usize> = (0..features.len())
        .filter(|&index| largest[index] > bound)
        .collect();
    if !over.is_empty() {
        return over;
    }
    (0..features.len())
        .max_by(|&a, &b| largest[a].total_cmp(&largest[b]))
        .into_iter()
        .collect()
}
