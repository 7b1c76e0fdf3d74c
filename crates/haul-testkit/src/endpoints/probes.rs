//! `/bytes` and `/slow`: transport probes outside the dataset.

use std::time::Duration;

use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::BodyExt;

use crate::body::{Body, RepeatBody};
use crate::params;
use crate::reply::{self, ApiError};

/// `GET /bytes?n=N[&chunked=true]`: `N` bytes of `x`, streamed.
pub(crate) fn bytes(query: Option<&str>) -> Result<Response<Body>, ApiError> {
    let len = params::required_u64(query, "n")?;
    let chunked = params::flag(query, "chunked");
    let mut response = Response::new(RepeatBody::new(len, !chunked).boxed());
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    Ok(response)
}

/// `GET /slow?ms=M`: waits `M` ms before answering `{}`.
pub(crate) async fn slow(query: Option<&str>) -> Result<Response<Body>, ApiError> {
    let ms = params::required_u64(query, "ms")?;
    tokio::time::sleep(Duration::from_millis(ms)).await;
    Ok(reply::json(StatusCode::OK, "{}"))
}
