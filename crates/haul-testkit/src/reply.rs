//! Building responses: JSON bodies and the API's error shape.

use http::{HeaderValue, Response, StatusCode, header};

use crate::body::{self, Body};
use crate::stats::Counters;

/// A response with a JSON body.
pub(crate) fn json(status: StatusCode, body: impl Into<bytes::Bytes>) -> Response<Body> {
    with_type(status, body, "application/json")
}

/// A response with a body of the given content type.
pub(crate) fn with_type(
    status: StatusCode,
    body: impl Into<bytes::Bytes>,
    content_type: &'static str,
) -> Response<Body> {
    let mut response = Response::new(body::full(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// An error answered as `{"error":"<code>","message":"<text>"}`.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) code: &'static str,
    pub(crate) message: String,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    pub(crate) fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub(crate) fn not_found(message: String) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// The response, counting `fail_at` pages, 400s and 404s.
    pub(crate) fn into_response(self, counters: &Counters) -> Response<Body> {
        match self.status {
            _ if self.code == crate::endpoints::FAILED_PAGE => {
                Counters::bump(&counters.failed_pages, 1);
            }
            StatusCode::NOT_FOUND => {
                Counters::bump(&counters.not_found, 1);
            }
            StatusCode::BAD_REQUEST => {
                Counters::bump(&counters.bad_requests, 1);
            }
            _ => {}
        }
        let body = serde_json::json!({ "error": self.code, "message": self.message });
        json(self.status, body.to_string())
    }
}
