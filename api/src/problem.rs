//! JSON error responses. Every error body has a `detail` member, as FastAPI
//! writes it: a message string, or for 422 a list of field errors.

use serde::Serialize;
use warp::http::StatusCode;
use warp::reply::{Reply, Response};

use crate::config::MAX_FIELD_ERRORS;
use crate::model_slot::{Unavailable, UnavailableReason};
use crate::request::{FieldError, Location};

#[derive(Serialize)]
struct MessageBody<'a> {
    detail: &'a str,
}

#[derive(Serialize)]
struct FieldErrorsBody<'a> {
    detail: &'a [FieldError],
}

#[derive(Serialize)]
struct UnavailableBody<'a> {
    status: &'static str,
    reason: UnavailableReason,
    detail: &'a str,
}

/// A response with `status` and the body `{"detail": message}`.
pub fn message(status: StatusCode, message: &str) -> Response {
    json(status, &MessageBody { detail: message })
}

/// A 422 response listing the invalid fields: the first
/// [`MAX_FIELD_ERRORS`], then one entry of type `too_many_errors` that
/// counts the rest, so that a body of 60,000 unknown keys gets a short response.
pub fn field_errors(errors: &[FieldError]) -> Response {
    if errors.len() <= MAX_FIELD_ERRORS {
        return json(
            StatusCode::UNPROCESSABLE_ENTITY,
            &FieldErrorsBody { detail: errors },
        );
    }
    let omitted = errors.len() - MAX_FIELD_ERRORS;
    let mut detail = errors[..MAX_FIELD_ERRORS].to_vec();
    detail.push(FieldError {
        loc: vec![Location::Key("body".to_owned())],
        msg: format!(
            "{omitted} more problems are not listed; fix the ones above and send the request again"
        ),
        kind: "too_many_errors",
    });
    json(
        StatusCode::UNPROCESSABLE_ENTITY,
        &FieldErrorsBody { detail: &detail },
    )
}

/// A 503 response saying why no model is serving.
pub fn unavailable(unavailable: &Unavailable) -> Response {
    let body = UnavailableBody {
        status: "unavailable",
        reason: unavailable.reason,
        detail: &unavailable.message,
    };
    json(StatusCode::SERVICE_UNAVAILABLE, &body)
}

/// Serializes `body` as a JSON response with `status`.
pub fn json<T: Serialize>(status: StatusCode, body: &T) -> Response {
    warp::reply::with_status(warp::reply::json(body), status).into_response()
}
