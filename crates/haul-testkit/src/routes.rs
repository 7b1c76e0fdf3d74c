//! Request routing: probes go straight to their handler; data requests pass
//! the rate limit and fault injection around their pagination style.

use std::time::SystemTime;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response};
use http_body_util::{BodyExt, Limited};

use crate::body::{Body, BoxError, InjectedReset};
use crate::endpoints::{self, Call, DataPage};
use crate::inject;
use crate::reply::ApiError;
use crate::server::State;
use crate::stats::Counters;

/// The largest GraphQL request body read.
const MAX_REQUEST_BODY: usize = 1 << 20;

/// The pagination styles, one endpoint each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    Cursor,
    LastRecord,
    HeaderCursor,
    NextUrl,
    Link,
    Offset,
    PageNumber,
    Graphql,
}

/// Answers one request; an `Err` closes the connection without a response.
pub(crate) async fn handle<B>(
    req: Request<B>,
    state: &State,
) -> Result<Response<Body>, InjectedReset>
where
    B: hyper::body::Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    Counters::bump(&state.counters.requests, 1);
    let (parts, body) = req.into_parts();
    let query = parts.uri.query();
    let path = parts.uri.path();
    let style = match (&parts.method, path) {
        (&Method::GET, "/items") => Style::Cursor,
        (&Method::GET, "/last-record") => Style::LastRecord,
        (&Method::GET, "/header-cursor") => Style::HeaderCursor,
        (&Method::GET, "/next-url") => Style::NextUrl,
        (&Method::GET, "/link") => Style::Link,
        (&Method::GET, "/offset") => Style::Offset,
        (&Method::GET, "/page") => Style::PageNumber,
        (&Method::POST, "/graphql") => Style::Graphql,
        (&Method::GET, "/bytes") => return Ok(probe(endpoints::probes::bytes(query), state)),
        (&Method::GET, "/slow") => return Ok(probe(endpoints::probes::slow(query).await, state)),
        (method, path) => {
            let err = ApiError::not_found(format!("no route for {method} {path}"));
            return Ok(err.into_response(&state.counters));
        }
    };
    let body = if style == Style::Graphql {
        match Limited::new(body, MAX_REQUEST_BODY).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(err) => {
                let err =
                    ApiError::bad_request("invalid_request", format!("unreadable body: {err}"));
                return Ok(err.into_response(&state.counters));
            }
        }
    } else {
        Bytes::new()
    };
    let call = Call { state, path, query };
    let result = data(style, &call, &body).await;
    if let Ok(response) = &result {
        tracing::debug!(
            method = %parts.method,
            uri = %parts.uri,
            status = response.status().as_u16(),
            "fake api request"
        );
    }
    result
}

fn probe(result: Result<Response<Body>, ApiError>, state: &State) -> Response<Body> {
    result.unwrap_or_else(|err| err.into_response(&state.counters))
}

/// A data request: rate limit, then fault, then the page.
async fn data(style: Style, call: &Call<'_>, body: &[u8]) -> Result<Response<Body>, InjectedReset> {
    let state = call.state;
    let n = Counters::bump(&state.counters.data_requests, 1);
    let mut limit_headers = HeaderMap::new();
    if let Some(window) = &state.rate_limit {
        let admission = window.admit(tokio::time::Instant::now());
        window.headers(admission, SystemTime::now(), &mut limit_headers);
        if !admission.allowed {
            let mut response = inject::over_limit(admission.reset_in, &state.counters);
            response.headers_mut().extend(limit_headers);
            return Ok(response);
        }
    }
    let mut response = inject::apply(state, n, || render(style, call, body)).await?;
    response.headers_mut().extend(limit_headers);
    Ok(response)
}

fn render(style: Style, call: &Call<'_>, body: &[u8]) -> Result<DataPage, ApiError> {
    match style {
        Style::Cursor => endpoints::items::serve(call),
        Style::LastRecord => endpoints::last_record::serve(call),
        Style::HeaderCursor => endpoints::header_cursor::serve(call),
        Style::NextUrl => endpoints::next_url::serve(call),
        Style::Link => endpoints::link::serve(call),
        Style::Offset => endpoints::offset::serve(call),
        Style::PageNumber => endpoints::page_number::serve(call),
        Style::Graphql => endpoints::graphql::serve(call, body),
    }
}
