//! Request routing and the endpoints of the fake API.

use std::borrow::Cow;
use std::time::Duration;

use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::BodyExt;
use url::form_urlencoded;

use crate::body::{self, Body, RepeatBody};
use crate::server::State;
use crate::stats::Counters;

const CURSOR_PREFIX: &str = "c_";

/// Answers one request. The request body is ignored.
pub(crate) async fn handle<B>(req: Request<B>, state: &State) -> Response<Body> {
    Counters::bump(&state.counters.requests, 1);
    // Fault injection goes here: a `Faults` config in `State` will decide,
    // before routing, whether to delay, fail, truncate or throttle this request.
    let query = req.uri().query();
    let response = match (req.method(), req.uri().path()) {
        (&Method::GET, "/items") => items(query, state),
        (&Method::GET, "/bytes") => bytes(query),
        (&Method::GET, "/slow") => slow(query).await,
        (method, path) => Err(ApiError::not_found(format!("no route for {method} {path}"))),
    };
    let response = response.unwrap_or_else(|err| err.into_response(state));
    tracing::debug!(
        method = %req.method(),
        uri = %req.uri(),
        status = response.status().as_u16(),
        "fake api request"
    );
    response
}

/// `GET /items?limit=N&cursor=C`: one page of records.
fn items(query: Option<&str>, state: &State) -> Result<Response<Body>, ApiError> {
    let records = state.dataset.records();
    let limit = match param(query, "limit") {
        None => state.default_page_size,
        Some(raw) => match raw.parse::<usize>() {
            Ok(0) => {
                return Err(ApiError::bad_request(
                    "invalid_limit",
                    "limit must be at least 1",
                ));
            }
            Ok(limit) => limit.min(state.max_page_size),
            Err(_) => {
                return Err(ApiError::bad_request(
                    "invalid_limit",
                    format!("limit must be a positive integer, got {raw:?}"),
                ));
            }
        },
    };
    let start = match param(query, "cursor") {
        None => 0,
        Some(raw) => decode_cursor(&raw, records.len()).ok_or_else(|| {
            ApiError::bad_request("invalid_cursor", format!("unknown cursor {raw:?}"))
        })?,
    };
    let end = start.saturating_add(limit).min(records.len());
    let page = records.get(start..end).unwrap_or_default();
    let next = (end < records.len()).then(|| encode_cursor(end));

    // Concatenate the pre-rendered records: no JSON value per request.
    let size = page.iter().map(|r| r.len() + 1).sum::<usize>() + 64;
    let mut out = String::with_capacity(size);
    out.push_str("{\"data\":[");
    for (i, record) in page.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(record);
    }
    out.push_str("],\"next_cursor\":");
    match next {
        // Cursors are `c_` plus lowercase hex: nothing to escape.
        Some(cursor) => {
            out.push('"');
            out.push_str(&cursor);
            out.push('"');
        }
        None => out.push_str("null"),
    }
    out.push('}');

    Counters::bump(&state.counters.pages_served, 1);
    Counters::bump(&state.counters.items_served, page.len() as u64);
    Ok(json(StatusCode::OK, out))
}

/// `GET /bytes?n=N[&chunked=true]`: `N` bytes of `x`, streamed.
fn bytes(query: Option<&str>) -> Result<Response<Body>, ApiError> {
    let len = required_u64(query, "n")?;
    let chunked = param(query, "chunked").is_some_and(|v| v == "true" || v == "1");
    let mut response = Response::new(RepeatBody::new(len, !chunked).boxed());
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    Ok(response)
}

/// `GET /slow?ms=M`: waits `M` ms before answering `{}`.
async fn slow(query: Option<&str>) -> Result<Response<Body>, ApiError> {
    let ms = required_u64(query, "ms")?;
    tokio::time::sleep(Duration::from_millis(ms)).await;
    Ok(json(StatusCode::OK, "{}"))
}

fn encode_cursor(offset: usize) -> String {
    format!("{CURSOR_PREFIX}{offset:x}")
}

/// Accepts only cursors this server could have issued: an offset strictly
/// inside the dataset, in canonical form.
fn decode_cursor(cursor: &str, len: usize) -> Option<usize> {
    let hex = cursor.strip_prefix(CURSOR_PREFIX)?;
    let offset = usize::from_str_radix(hex, 16).ok()?;
    (offset > 0 && offset < len && encode_cursor(offset) == cursor).then_some(offset)
}

fn param<'q>(query: Option<&'q str>, name: &str) -> Option<Cow<'q, str>> {
    form_urlencoded::parse(query?.as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value)
}

fn required_u64(query: Option<&str>, name: &str) -> Result<u64, ApiError> {
    let raw = param(query, name).ok_or_else(|| {
        ApiError::bad_request("invalid_parameter", format!("missing parameter {name:?}"))
    })?;
    raw.parse().map_err(|_| {
        ApiError::bad_request(
            "invalid_parameter",
            format!("{name} must be a non-negative integer, got {raw:?}"),
        )
    })
}

fn json(status: StatusCode, body: impl Into<bytes::Bytes>) -> Response<Body> {
    let mut response = Response::new(body::full(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// An error answered as `{"error":"<code>","message":"<text>"}`.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            code,
            message: message.into(),
        }
    }

    fn not_found(message: String) -> Self {
        ApiError {
            status: StatusCode::NOT_FOUND,
            code: "not_found",
            message,
        }
    }

    fn into_response(self, state: &State) -> Response<Body> {
        let counter = match self.status {
            StatusCode::NOT_FOUND => &state.counters.not_found,
            _ => &state.counters.bad_requests,
        };
        Counters::bump(counter, 1);
        let body = serde_json::json!({ "error": self.code, "message": self.message });
        json(self.status, body.to_string())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_foreign_values() {
        assert_eq!(encode_cursor(250), "c_fa");
        assert_eq!(decode_cursor("c_fa", 300), Some(250));
        for bad in [
            "", "fa", "250", "c_", "c_FA", "c_0fa", "c_+fa", "c_0", "c_12c", "c_zz",
        ] {
            assert_eq!(decode_cursor(bad, 300), None, "{bad:?}");
        }
    }

    #[test]
    fn params_are_percent_decoded() {
        assert_eq!(
            param(Some("a=1&cursor=c%5Ffa"), "cursor").as_deref(),
            Some("c_fa")
        );
        assert_eq!(param(Some("a=1"), "cursor"), None);
        assert_eq!(param(None, "cursor"), None);
    }
}
