//! `GET /redirect?to=<url>[&status=302]`: a redirect anywhere.

use http::{HeaderValue, Response, StatusCode, header};

use crate::body::Body;
use crate::params;
use crate::reply::{self, ApiError};

/// Answers `status` (301, 302, 303, 307 or 308; default 302) with
/// `Location: <to>`, verbatim.
pub(crate) fn redirect(query: Option<&str>) -> Result<Response<Body>, ApiError> {
    let to = params::param(query, "to")
        .ok_or_else(|| ApiError::bad_request("invalid_parameter", "missing parameter \"to\""))?;
    let status = match params::optional_u64(query, "status")? {
        None => StatusCode::FOUND,
        Some(code @ (301 | 302 | 303 | 307 | 308)) => u16::try_from(code)
            .ok()
            .and_then(|code| StatusCode::from_u16(code).ok())
            .unwrap_or(StatusCode::FOUND),
        Some(other) => {
            return Err(ApiError::bad_request(
                "invalid_parameter",
                format!("status must be 301, 302, 303, 307 or 308, got {other}"),
            ));
        }
    };
    let location = HeaderValue::from_str(&to).map_err(|_| {
        ApiError::bad_request("invalid_parameter", "to is not a valid header value")
    })?;
    let mut response = reply::json(status, "{}");
    response.headers_mut().insert(header::LOCATION, location);
    Ok(response)
}
