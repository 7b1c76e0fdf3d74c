//! Applying a fault decision to one data request.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::BodyExt;

use crate::body::{Body, CutBody, InjectedReset};
use crate::endpoints::DataPage;
use crate::faults::{FaultKind, RetryAfterStyle};
use crate::ratelimit::ceil_secs;
use crate::reply::{self, ApiError};
use crate::server::State;
use crate::stats::Counters;

/// Ten years: the longest `Retry-After` HTTP-date written.
const MAX_HTTP_DATE_DELAY: u64 = 10 * 365 * 86_400;

const BAD_GATEWAY_HTML: &str = "<!DOCTYPE html>\n<html>\n<head><title>502 Bad Gateway</title></head>\n\
<body>\n<center><h1>502 Bad Gateway</h1></center>\n<hr><center>nginx</center>\n</body>\n</html>\n";

/// Answers data request `n`: with its fault if one is drawn, else with the
/// page `render` builds. `render` is pure, so a faulted request leaves no
/// trace a retry could see.
pub(crate) async fn apply(
    state: &State,
    n: u64,
    render: impl FnOnce() -> Result<DataPage, ApiError>,
) -> Result<Response<Body>, InjectedReset> {
    let counters = &state.counters;
    let Some(faults) = &state.faults else {
        return Ok(serve(render(), counters));
    };
    let (fault, mut rng) = faults.draw(n);
    let Some(fault) = fault else {
        return Ok(serve(render(), counters));
    };
    tracing::debug!(n, ?fault, "fake api injects a fault");
    let error =
        |status, code, message: &str| ApiError::new(status, code, message).into_response(counters);
    let response = match fault {
        FaultKind::Status503 => {
            Counters::bump(&counters.injected_503, 1);
            let mut response = error(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "injected: service unavailable",
            );
            if faults.retry_after_on_503 {
                set_retry_after(&mut response, faults.retry_after);
            }
            response
        }
        FaultKind::Status500 => {
            Counters::bump(&counters.injected_500, 1);
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "injected: internal server error",
            )
        }
        FaultKind::Status502Html => {
            Counters::bump(&counters.injected_502, 1);
            reply::with_type(StatusCode::BAD_GATEWAY, BAD_GATEWAY_HTML, "text/html")
        }
        FaultKind::Status429 => {
            Counters::bump(&counters.injected_429, 1);
            let mut response = error(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "injected: too many requests",
            );
            set_retry_after(&mut response, faults.retry_after);
            response
        }
        FaultKind::ResetBeforeResponse => {
            Counters::bump(&counters.resets_before_response, 1);
            return Err(InjectedReset);
        }
        FaultKind::Slow => {
            Counters::bump(&counters.slow_responses, 1);
            tokio::time::sleep(faults.slow_delay).await;
            serve(render(), counters)
        }
        FaultKind::ResetMidBody | FaultKind::TruncatedJson => match render() {
            // A request the endpoint rejects is answered as usual.
            Err(err) => err.into_response(counters),
            Ok(page) => {
                let full = Bytes::from(page.body);
                // Somewhere strictly inside the body: any proper prefix of
                // an object or array is invalid JSON.
                let cut = if full.len() >= 2 {
                    1 + rng.below(full.len() as u64 - 1) as usize
                } else {
                    0
                };
                let mut response = if fault == FaultKind::TruncatedJson {
                    Counters::bump(&counters.truncated_bodies, 1);
                    reply::json(StatusCode::OK, full.slice(..cut))
                } else {
                    Counters::bump(&counters.resets_mid_body, 1);
                    let mut response = Response::new(CutBody::new(full, cut).boxed());
                    response.headers_mut().insert(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("application/json"),
                    );
                    response
                };
                response.headers_mut().extend(page.headers);
                response
            }
        },
    };
    Ok(response)
}

/// The page, counted, or the endpoint's error.
fn serve(result: Result<DataPage, ApiError>, counters: &Counters) -> Response<Body> {
    match result {
        Ok(page) => {
            Counters::bump(&counters.pages_served, 1);
            Counters::bump(&counters.items_served, page.records as u64);
            page.into_response()
        }
        Err(err) => err.into_response(counters),
    }
}

/// The `429` for a client over the advertised limit.
pub(crate) fn over_limit(reset_in: Duration, counters: &Counters) -> Response<Body> {
    Counters::bump(&counters.over_limit_429, 1);
    let mut response = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        "rate limit exceeded",
    )
    .into_response(counters);
    set_retry_after(
        &mut response,
        RetryAfterStyle::Seconds(ceil_secs(reset_in).max(1)),
    );
    response
}

fn set_retry_after(response: &mut Response<Body>, style: RetryAfterStyle) {
    let value = match style {
        RetryAfterStyle::Seconds(secs) => secs.to_string(),
        RetryAfterStyle::HttpDate(secs) => {
            // Whole seconds, rounded up: an HTTP-date never asks for less
            // than `secs`. Capped, as HTTP-dates end with the year 9999.
            let secs = secs.min(MAX_HTTP_DATE_DELAY);
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, ceil_secs);
            let at = UNIX_EPOCH
                .checked_add(Duration::from_secs(now.saturating_add(secs)))
                .unwrap_or(UNIX_EPOCH);
            httpdate::fmt_http_date(at)
        }
    };
    if let Ok(value) = HeaderValue::from_str(&value) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
}
