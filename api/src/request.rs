//! Parsing and validation of `POST /predict` bodies into feature vectors.
//!
//! A body is one JSON object keyed by the model's feature names, or a JSON
//! array of such objects (a batch). Keys are matched by name, so their order
//! never matters. Every feature value must be a JSON number that fits in an
//! `f64`: numeric strings such as `"5.1"` are rejected, because silently
//! converting them would hide a client bug.
//!
//! Values are first read as raw JSON text ([`RawValue`]) and converted here,
//! so that a number beyond the `f64` range or a `NaN`/`Infinity` literal is
//! reported as an invalid field instead of failing the whole parse. All field
//! errors of a request are collected and reported together.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// Feature vectors in the model's feature order.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    /// A single JSON object.
    Single(Vec<f64>),
    /// A JSON array of objects, in request order.
    Batch(Vec<Vec<f64>>),
}

/// Error of turning a body into feature vectors.
#[derive(Debug, Clone, PartialEq)]
pub enum RequestError {
    /// The body is not JSON; the message comes from the JSON parser and
    /// gives the position of the first syntax error.
    Malformed(String),
    /// The body is JSON, but some fields are missing or invalid.
    Invalid(Vec<FieldError>),
}

/// One invalid part of a request, in the shape FastAPI uses for its `detail`
/// list: `loc` is the path to the value, `msg` the reason, `type` a stable
/// machine-readable code.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldError {
    pub loc: Vec<Location>,
    pub msg: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
}

/// One step of a [`FieldError::loc`] path: a key or an array index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Location {
    Key(String),
    Index(usize),
}

/// Sentinel strings that [`quote_non_finite_literals`] puts in place of the
/// `NaN`, `Infinity` and `-Infinity` literals that some JSON writers emit
/// (Python's `json.dumps`, for one). A JSON string cannot start with a raw
/// NUL byte, so only the escaped form `\u0000` can appear in a body.
const NON_FINITE_SENTINELS: [(&str, &str); 3] = [
    ("NaN", "\"\\u0000NaN\""),
    ("-Infinity", "\"\\u0000-Infinity\""),
    ("Infinity", "\"\\u0000Infinity\""),
];

/// Parses `body` into feature vectors ordered as `feature_names`.
///
/// A batch may hold at most `max_batch` rows.
pub fn parse(
    body: &[u8],
    feature_names: &[String],
    max_batch: usize,
) -> Result<Payload, RequestError> {
    // Fast path for the usual request, a single object: one parse pass.
    if body.trim_ascii_start().first() == Some(&b'{') {
        if let Ok(Entries(entries)) = serde_json::from_slice::<Entries>(body) {
            let mut errors = Vec::new();
            return match row_from_entries(entries, &[], feature_names, &mut errors) {
                Some(row) => Ok(Payload::Single(row)),
                None => Err(RequestError::Invalid(errors)),
            };
        }
    }
    match serde_json::from_slice::<&RawValue>(body) {
        Ok(raw) => parse_document(raw, feature_names, max_batch),
        Err(error) => {
            // Retry with non-finite literals quoted, so that they can be
            // reported by field name; any other syntax error stays a 400.
            let Some(quoted) = quote_non_finite_literals(body) else {
                return Err(RequestError::Malformed(error.to_string()));
            };
            match serde_json::from_slice::<&RawValue>(&quoted) {
                Ok(raw) => parse_document(raw, feature_names, max_batch),
                Err(_) => Err(RequestError::Malformed(error.to_string())),
            }
        }
    }
}

fn parse_document(
    raw: &RawValue,
    feature_names: &[String],
    max_batch: usize,
) -> Result<Payload, RequestError> {
    let mut errors = Vec::new();
    let payload = match raw.get().as_bytes().first() {
        Some(b'{') => parse_row(raw, &[], feature_names, &mut errors).map(Payload::Single),
        Some(b'[') => parse_batch(raw, feature_names, max_batch, &mut errors).map(Payload::Batch),
        _ => {
            errors.push(FieldError {
                loc: vec![Location::Key("body".to_owned())],
                msg: format!(
                    "expected a JSON object keyed by feature names, or an array of at most {max_batch} such objects, found {}",
                    describe_kind(raw.get())
                ),
                kind: "model_attributes_type",
            });
            None
        }
    };
    match payload {
        Some(payload) if errors.is_empty() => Ok(payload),
        _ => Err(RequestError::Invalid(errors)),
    }
}

fn parse_batch(
    raw: &RawValue,
    feature_names: &[String],
    max_batch: usize,
    errors: &mut Vec<FieldError>,
) -> Option<Vec<Vec<f64>>> {
    let body_loc = || vec![Location::Key("body".to_owned())];
    let Ok(items) = serde_json::from_str::<Vec<&RawValue>>(raw.get()) else {
        // The document already parsed as JSON, so an array of raw values
        // always parses too; this arm only guards against a parser change.
        errors.push(FieldError {
            loc: body_loc(),
            msg: "the batch is not a valid JSON array".to_owned(),
            kind: "list_type",
        });
        return None;
    };
    if items.is_empty() {
        errors.push(FieldError {
            loc: body_loc(),
            msg: "the batch is empty; send at least one object".to_owned(),
            kind: "too_short",
        });
        return None;
    }
    if items.len() > max_batch {
        errors.push(FieldError {
            loc: body_loc(),
            msg: format!(
                "the batch has {} objects, but the maximum is {max_batch}; split it into smaller requests",
                items.len()
            ),
            kind: "too_long",
        });
        return None;
    }

    let mut rows = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let prefix = [Location::Index(index)];
        if item.get().starts_with('{') {
            if let Some(row) = parse_row(item, &prefix, feature_names, errors) {
                rows.push(row);
            }
        } else {
            errors.push(FieldError {
                loc: location(&prefix, None),
                msg: format!(
                    "expected a JSON object keyed by feature names, found {}",
                    describe_kind(item.get())
                ),
                kind: "model_attributes_type",
            });
        }
    }
    (rows.len() == items.len()).then_some(rows)
}

/// Converts one JSON object into a feature vector, or records why not.
fn parse_row(
    raw: &RawValue,
    prefix: &[Location],
    feature_names: &[String],
    errors: &mut Vec<FieldError>,
) -> Option<Vec<f64>> {
    let entries = match serde_json::from_str::<Entries>(raw.get()) {
        Ok(Entries(entries)) => entries,
        Err(error) => {
            // The whole body parsed as JSON text and values stay raw, so
            // what fails here is the decoding of a key's escapes.
            errors.push(FieldError {
                loc: location(prefix, None),
                msg: format!(
                    "a key has an escape sequence that is not valid Unicode, such as an unpaired surrogate like \\ud800 ({error}); send keys as plain UTF-8"
                ),
                kind: "json_invalid",
            });
            return None;
        }
    };
    row_from_entries(entries, prefix, feature_names, errors)
}

/// Converts the entries of one JSON object into a feature vector, or
/// records why not.
fn row_from_entries(
    entries: Vec<(Cow<'_, str>, &RawValue)>,
    prefix: &[Location],
    feature_names: &[String],
    errors: &mut Vec<FieldError>,
) -> Option<Vec<f64>> {
    let errors_before = errors.len();
    let mut values: Vec<Option<f64>> = vec![None; feature_names.len()];
    for (key, value) in entries {
        let Some(slot) = feature_names.iter().position(|name| **name == *key) else {
            errors.push(FieldError {
                loc: location(prefix, Some(&key)),
                msg: format!(
                    "unknown field; the expected fields are {}",
                    quoted_list(feature_names)
                ),
                kind: "extra_forbidden",
            });
            continue;
        };
        if values[slot].is_some() {
            errors.push(FieldError {
                loc: location(prefix, Some(&key)),
                msg: "the field appears more than once".to_owned(),
                kind: "duplicate",
            });
            continue;
        }
        match parse_number(value.get()) {
            Ok(number) => values[slot] = Some(number),
            Err((kind, msg)) => {
                // Mark the slot as seen so the field is not also reported missing.
                values[slot] = Some(f64::NAN);
                errors.push(FieldError {
                    loc: location(prefix, Some(&key)),
                    msg,
                    kind,
                });
            }
        }
    }
    for (name, value) in feature_names.iter().zip(&values) {
        if value.is_none() {
            errors.push(FieldError {
                loc: location(prefix, Some(name)),
                msg: "field required".to_owned(),
                kind: "missing",
            });
        }
    }
    if errors.len() > errors_before {
        return None;
    }
    values.into_iter().collect()
}

/// Converts the raw JSON text of one value into a finite `f64`, or returns
/// the error type and message that describe why it is not one.
fn parse_number(text: &str) -> Result<f64, (&'static str, String)> {
    if let Some((literal, _)) = NON_FINITE_SENTINELS
        .iter()
        .find(|(_, sentinel)| *sentinel == text)
    {
        return Err((
            "finite_number",
            format!("{literal} is not a finite number; send a finite JSON number"),
        ));
    }
    match text.as_bytes().first() {
        Some(b'-' | b'0'..=b'9') => {}
        _ => {
            let kind = describe_kind(text);
            let mut msg = format!("expected a JSON number, found {kind}");
            if kind == "a string" {
                msg.push_str("; numeric strings such as \"5.1\" are not accepted");
            }
            return Err(("float_type", msg));
        }
    }
    match text.parse::<f64>() {
        Ok(number) if number.is_finite() => Ok(number),
        _ => Err((
            "finite_number",
            format!("{text} is out of the range of a 64-bit float (about ±1.8e308)"),
        )),
    }
}

/// Names the JSON type of a raw value for messages: "a string", "null", ….
fn describe_kind(text: &str) -> &'static str {
    match text.as_bytes().first() {
        Some(b'"') => "a string",
        Some(b'n') => "null",
        Some(b't' | b'f') => "a boolean",
        Some(b'[') => "an array",
        Some(b'{') => "an object",
        _ => "a number",
    }
}

fn location(prefix: &[Location], key: Option<&str>) -> Vec<Location> {
    let mut loc = Vec::with_capacity(prefix.len() + 2);
    loc.push(Location::Key("body".to_owned()));
    loc.extend_from_slice(prefix);
    if let Some(key) = key {
        loc.push(Location::Key(key.to_owned()));
    }
    loc
}

fn quoted_list(names: &[String]) -> String {
    let quoted: Vec<String> = names.iter().map(|name| format!("{name:?}")).collect();
    quoted.join(", ")
}

/// Replaces the `NaN`, `Infinity` and `-Infinity` literals outside JSON
/// strings by sentinel strings. Returns `None` when the body has none.
fn quote_non_finite_literals(body: &[u8]) -> Option<Vec<u8>> {
    let mut output = Vec::with_capacity(body.len() + 16);
    let mut replaced = false;
    let mut in_string = false;
    let mut escaped = false;
    let mut position = 0;
    while position < body.len() {
        let byte = body[position];
        if in_string {
            match (escaped, byte) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
        } else if byte == b'"' {
            in_string = true;
        } else if let Some((literal, sentinel)) = NON_FINITE_SENTINELS
            .iter()
            .find(|(literal, _)| body[position..].starts_with(literal.as_bytes()))
        {
            output.extend_from_slice(sentinel.as_bytes());
            position += literal.len();
            replaced = true;
            continue;
        }
        output.push(byte);
        position += 1;
    }
    replaced.then_some(output)
}

/// The entries of a JSON object in body order, duplicates kept, so that a
/// repeated key can be reported instead of silently overwritten.
/// Keys without escape sequences are borrowed from the body.
struct Entries<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'de: 'a, 'a> Deserialize<'de> for Entries<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(EntriesVisitor(std::marker::PhantomData))
    }
}

struct EntriesVisitor<'a>(std::marker::PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for EntriesVisitor<'a> {
    type Value = Entries<'a>;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a JSON object")
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
        let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(4));
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            let value = map.next_value::<&'de RawValue>()?;
            entries.push((key, value));
        }
        Ok(Entries(entries))
    }
}

/// An object key, borrowed when the JSON text has no escape sequence in it.
struct Key<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Key<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(KeyVisitor(std::marker::PhantomData))
    }
}

struct KeyVisitor<'a>(std::marker::PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for KeyVisitor<'a> {
    type Value = Key<'a>;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a string key")
    }

    fn visit_borrowed_str<E>(self, value: &'de str) -> Result<Self::Value, E> {
        Ok(Key(Cow::Borrowed(value)))
    }

    fn visit_str<E>(self, value: &str) -> Result<Self::Value, E> {
        Ok(Key(Cow::Owned(value.to_owned())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<String> {
        ["a", "b"].iter().map(|name| name.to_string()).collect()
    }

    fn invalid(body: &str) -> Vec<FieldError> {
        match parse(body.as_bytes(), &names(), 3) {
            Err(RequestError::Invalid(errors)) => errors,
            other => panic!("expected field errors for {body}, got {other:?}"),
        }
    }

    #[test]
    fn single_object_in_feature_order() {
        let payload = parse(br#"{"b": 2, "a": -1.5e0}"#, &names(), 3).unwrap();
        assert_eq!(payload, Payload::Single(vec![-1.5, 2.0]));
    }

    #[test]
    fn batch_keeps_request_order() {
        let payload = parse(br#"[{"a":1,"b":2},{"b":4,"a":3}]"#, &names(), 3).unwrap();
        assert_eq!(
            payload,
            Payload::Batch(vec![vec![1.0, 2.0], vec![3.0, 4.0]])
        );
    }

    #[test]
    fn every_bad_field_is_named() {
        let errors = invalid(r#"{"a": "5.1", "c": 1}"#);
        let kinds: Vec<_> = errors.iter().map(|error| error.kind).collect();
        assert_eq!(kinds, ["float_type", "extra_forbidden", "missing"]);
        assert_eq!(errors[0].loc, location(&[], Some("a")));
        assert_eq!(errors[1].loc, location(&[], Some("c")));
        assert_eq!(errors[2].loc, location(&[], Some("b")));
    }

    #[test]
    fn non_finite_literals_are_field_errors() {
        let errors = invalid(r#"{"a": NaN, "b": -Infinity}"#);
        assert_eq!(errors.len(), 2);
        assert!(errors[0].msg.starts_with("NaN is not a finite number"));
        assert!(errors[1]
            .msg
            .starts_with("-Infinity is not a finite number"));
    }

    #[test]
    fn literal_inside_string_is_not_rewritten() {
        assert_eq!(quote_non_finite_literals(br#"{"NaN": "x Infinity"}"#), None);
        let errors = invalid(r#"{"a": "NaN", "b": 1}"#);
        assert_eq!(errors[0].kind, "float_type");
    }

    #[test]
    fn number_beyond_f64_is_rejected() {
        let errors = invalid(r#"{"a": 1e400, "b": -2e308}"#);
        assert_eq!(errors.len(), 2);
        assert!(errors.iter().all(|error| error.kind == "finite_number"));
    }

    #[test]
    fn escaped_key_matches_its_name() {
        let payload = parse(br#"{"\u0061": 1, "b": 2}"#, &names(), 3).unwrap();
        assert_eq!(payload, Payload::Single(vec![1.0, 2.0]));
    }

    #[test]
    fn duplicate_key_is_rejected() {
        let errors = invalid(r#"{"a": 1, "a": 2, "b": 3}"#);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].kind, "duplicate");
    }

    #[test]
    fn batch_limits() {
        assert_eq!(invalid("[]")[0].kind, "too_short");
        let four = r#"[{"a":1,"b":1},{"a":1,"b":1},{"a":1,"b":1},{"a":1,"b":1}]"#;
        assert_eq!(invalid(four)[0].kind, "too_long");
    }

    #[test]
    fn batch_errors_carry_the_index() {
        let errors = invalid(r#"[{"a":1,"b":2}, 7, {"a":null,"b":2}]"#);
        assert_eq!(errors.len(), 2);
        assert_eq!(errors[0].loc, location(&[Location::Index(1)], None));
        assert_eq!(errors[1].loc, location(&[Location::Index(2)], Some("a")));
    }

    #[test]
    fn syntax_error_is_malformed() {
        let result = parse(br#"{"a": 1,"#, &names(), 3);
        assert!(matches!(result, Err(RequestError::Malformed(_))));
    }
}
