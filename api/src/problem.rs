//! JSON error responses. Every error body has a `detail` member, as FastAPI
//! writes it: a message string, or for 422 a list of field errors.

use serde::Serialize;
use warp::http::StatusCode;
use warp::reply::{Reply, Response};

use crate::model_slot::{Unavailable, UnavailableReason};
use crate::request::FieldError;

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

/// A 422 response listing every invalid field.
pub fn field_errors(errors: &[FieldError]) -> Response {
    json(
        StatusCode::UNPROCESSABLE_ENTITY,
        &FieldErrorsBody { detail: errors },
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
