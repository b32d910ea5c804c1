//! Reading a request body under a size limit.
//!
//! warp's `content_length_limit` answers 411 to a body sent without a
//! `Content-Length` header (chunked transfer encoding), so the body stream is
//! read here instead: a declared length above the limit is rejected before
//! reading, and an undeclared one is read until it ends or passes the limit.
//! The whole read has a deadline, so a client that declares a length and then
//! stops sending cannot hold the connection open.

use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use warp::http::HeaderValue;

/// Why a body was not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyError {
    /// The body is longer than the limit; reading stopped there.
    TooLarge { limit: usize },
    /// The connection failed while the body was being read.
    Interrupted,
    /// The body did not arrive completely within the timeout.
    TimedOut { timeout: Duration },
}

/// Reads `stream` into one buffer, stopping with [`BodyError::TooLarge`] as
/// soon as more than `limit` bytes arrived or `declared_length` exceeds it,
/// and with [`BodyError::TimedOut`] when the body is not complete after
/// `timeout`.
pub async fn read_limited<S, B>(
    stream: S,
    declared_length: Option<u64>,
    limit: usize,
    timeout: Duration,
) -> Result<Bytes, BodyError>
where
    S: Stream<Item = Result<B, warp::Error>>,
    B: Buf,
{
    if declared_length.is_some_and(|length| length > limit as u64) {
        return Err(BodyError::TooLarge { limit });
    }
    tokio::time::timeout(timeout, read_all(stream, limit))
        .await
        .unwrap_or(Err(BodyError::TimedOut { timeout }))
}

async fn read_all<S, B>(stream: S, limit: usize) -> Result<Bytes, BodyError>
where
    S: Stream<Item = Result<B, warp::Error>>,
    B: Buf,
{
    let mut stream = std::pin::pin!(stream);
    let mut first: Option<Bytes> = None;
    let mut buffer = BytesMut::new();
    while let Some(chunk) = stream.next().await {
        let mut chunk = chunk.map_err(|_| BodyError::Interrupted)?;
        let received = first.as_ref().map_or(0, Bytes::len) + buffer.len() + chunk.remaining();
        if received > limit {
            return Err(BodyError::TooLarge { limit });
        }
        // The usual small body arrives in one chunk: keep it without a copy.
        match first.take() {
            None if buffer.is_empty() => first = Some(chunk.copy_to_bytes(chunk.remaining())),
            taken => {
                if let Some(taken) = taken {
                    buffer.extend_from_slice(&taken);
                }
                while chunk.has_remaining() {
                    let part = chunk.chunk();
                    let length = part.len();
                    buffer.extend_from_slice(part);
                    chunk.advance(length);
                }
            }
        }
    }
    Ok(first.unwrap_or_else(|| buffer.freeze()))
}

/// Returns whether a `Content-Type` header allows a JSON body: absent (as
/// FastAPI also accepts), `application/json`, or `application/<x>+json`,
/// with any parameters.
pub fn is_json_content_type(content_type: Option<&HeaderValue>) -> bool {
    let Some(value) = content_type else {
        return true;
    };
    let Ok(value) = value.to_str() else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or("").trim();
    let Some((kind, subtype)) = essence.split_once('/') else {
        return false;
    };
    kind.eq_ignore_ascii_case("application")
        && (subtype.eq_ignore_ascii_case("json")
            || subtype.len() > 5 && subtype[subtype.len() - 5..].eq_ignore_ascii_case("+json"))
}

/// Returns whether a `Content-Encoding` header leaves the body as sent:
/// absent, empty or `identity`. Compressed bodies are not decoded.
pub fn is_identity_encoding(content_encoding: Option<&HeaderValue>) -> bool {
    let Some(value) = content_encoding else {
        return true;
    };
    value.to_str().is_ok_and(|text| {
        text.split(',')
            .map(str::trim)
            .all(|coding| coding.is_empty() || coding.eq_ignore_ascii_case("identity"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    fn chunks(parts: &[&'static [u8]]) -> impl Stream<Item = Result<Bytes, warp::Error>> {
        let items: Vec<Result<Bytes, warp::Error>> = parts
            .iter()
            .map(|part| Ok(Bytes::from_static(part)))
            .collect();
        futures_util::stream::iter(items)
    }

    #[tokio::test]
    async fn chunks_are_joined_in_order() {
        let body = read_limited(chunks(&[b"ab", b"cd", b"e"]), None, 5, SECOND).await;
        assert_eq!(body, Ok(Bytes::from_static(b"abcde")));
    }

    #[tokio::test]
    async fn undeclared_body_stops_at_limit() {
        let body = read_limited(chunks(&[b"abc", b"def"]), None, 5, SECOND).await;
        assert_eq!(body, Err(BodyError::TooLarge { limit: 5 }));
    }

    #[tokio::test]
    async fn declared_length_is_checked_first() {
        let body = read_limited(chunks(&[b"a"]), Some(6), 5, SECOND).await;
        assert_eq!(body, Err(BodyError::TooLarge { limit: 5 }));
    }

    #[tokio::test]
    async fn stalled_body_times_out() {
        // A client that declares 100 bytes, sends five and then nothing.
        let stalled = chunks(&[br#"{"a""#]).chain(futures_util::stream::pending());
        let timeout = Duration::from_millis(100);
        let started = std::time::Instant::now();
        let body = read_limited(stalled, Some(100), 1024, timeout).await;
        assert_eq!(body, Err(BodyError::TimedOut { timeout }));
        assert!(started.elapsed() < 10 * timeout, "{:?}", started.elapsed());
    }

    #[test]
    fn json_content_types() {
        let accepted = [
            "application/json",
            "Application/JSON; charset=utf-8",
            "application/vnd.api+json",
        ];
        for value in accepted {
            assert!(
                is_json_content_type(Some(&HeaderValue::from_static(value))),
                "{value}"
            );
        }
        for value in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "json",
            "application/+json",
        ] {
            assert!(
                !is_json_content_type(Some(&HeaderValue::from_static(value))),
                "{value}"
            );
        }
        assert!(is_json_content_type(None));
    }

    #[test]
    fn identity_encodings() {
        assert!(is_identity_encoding(None));
        for value in ["identity", "Identity", "", " identity , identity"] {
            assert!(
                is_identity_encoding(Some(&HeaderValue::from_static(value))),
                "{value:?}"
            );
        }
        for value in ["gzip", "br", "identity, gzip", "deflate"] {
            assert!(
                !is_identity_encoding(Some(&HeaderValue::from_static(value))),
                "{value:?}"
            );
        }
    }
}
