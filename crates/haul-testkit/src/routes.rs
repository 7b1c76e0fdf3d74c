//! Request routing: probes, the token endpoint and the redirect go straight
//! to their handler; data requests pass the auth check, the rate limit and
//! fault injection around their pagination style.

use std::time::SystemTime;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response};
use http_body_util::{BodyExt, Limited};

use crate::auth;
use crate::body::{Body, BoxError, InjectedReset};
use crate::endpoints::presets::Emulation;
use crate::endpoints::tree::TreeRoute;
use crate::endpoints::{self, Call, DataPage};
use crate::inject;
use crate::instant::parse_instant;
use crate::params;
use crate::reply::ApiError;
use crate::server::State;
use crate::stats::Counters;
use crate::throttle::ThrottleWindow;

/// The largest GraphQL or token request body read.
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
    /// A well-known API's emulation.
    Api(Emulation),
    /// The [`OrgTree`](crate::OrgTree)'s endpoints.
    Tree(TreeRoute),
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
    let note = |form: Option<&[u8]>| {
        state
            .log
            .note(&parts.method, path, query, &parts.headers, form);
    };
    let emulated = Emulation::route(&parts.method, path);
    let tree = TreeRoute::resolve(&state.tree, &parts.method, path);
    let style = match (&parts.method, path) {
        _ if let Some(api) = emulated => Style::Api(api),
        _ if let Some(route) = tree => Style::Tree(route),
        (&Method::GET, "/items") => Style::Cursor,
        (&Method::GET, "/last-record") => Style::LastRecord,
        (&Method::GET, "/header-cursor") => Style::HeaderCursor,
        (&Method::GET, "/next-url") => Style::NextUrl,
        (&Method::GET, "/link") => Style::Link,
        (&Method::GET, "/offset") => Style::Offset,
        (&Method::GET, "/page") => Style::PageNumber,
        (&Method::POST, "/graphql") => Style::Graphql,
        (&Method::POST, "/oauth/token") => {
            let form = match read_body(body).await {
                Ok(form) => form,
                Err(err) => {
                    note(None);
                    return Ok(err.into_response(&state.counters));
                }
            };
            note(Some(&form));
            let response =
                endpoints::oauth::token(&state.tokens, &parts.headers, &form, &state.counters);
            return Ok(response);
        }
        (method, path) => {
            note(None);
            let response = match (method, path) {
                (&Method::GET, "/bytes") => probe(endpoints::probes::bytes(query), state),
                (&Method::GET, "/slow") => probe(endpoints::probes::slow(query).await, state),
                (&Method::GET, "/redirect") => {
                    let response = endpoints::redirect::redirect(query);
                    if response.is_ok() {
                        Counters::bump(&state.counters.redirects, 1);
                    }
                    probe(response, state)
                }
                (method, path) => ApiError::not_found(format!("no route for {method} {path}"))
                    .into_response(&state.counters),
            };
            return Ok(response);
        }
    };
    note(None);
    if let Some(requirement) = &state.auth
        && let Some(response) = auth::rejection(
            requirement,
            &state.tokens,
            &parts.headers,
            query,
            &state.counters,
        )
    {
        return Ok(response);
    }
    let reads_body = match style {
        Style::Graphql => true,
        Style::Api(api) => api.reads_body(&parts.method),
        _ => false,
    };
    let body = if reads_body {
        match read_body(body).await {
            Ok(body) => body,
            Err(err) => return Ok(err.into_response(&state.counters)),
        }
    } else {
        Bytes::new()
    };
    let result = data(style, state, path, query, &body).await;
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

async fn read_body<B>(body: B) -> Result<Bytes, ApiError>
where
    B: hyper::body::Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    match Limited::new(body, MAX_REQUEST_BODY).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) => Err(ApiError::bad_request(
            "invalid_request",
            format!("unreadable body: {err}"),
        )),
    }
}

fn probe(result: Result<Response<Body>, ApiError>, state: &State) -> Response<Body> {
    result.unwrap_or_else(|err| err.into_response(&state.counters))
}

/// A data request: rate limit, then fault, then the page.
async fn data(
    style: Style,
    state: &State,
    path: &str,
    query: Option<&str>,
    body: &[u8],
) -> Result<Response<Body>, InjectedReset> {
    let n = Counters::bump(&state.counters.data_requests, 1);
    if let Some(throttle) = &state.throttle {
        if let Err(retry_after) = throttle.admit(tokio::time::Instant::now()) {
            return Ok(ThrottleWindow::refusal(retry_after, &state.counters));
        }
        if !throttle.latency().is_zero() {
            tokio::time::sleep(throttle.latency()).await;
        }
    }
    let mut limit_headers = HeaderMap::new();
    if let Some(window) = &state.rate_limit {
        let admission = window.admit(tokio::time::Instant::now());
        match style {
            Style::Api(api) => {
                api.limit_headers(
                    window.config(),
                    admission,
                    SystemTime::now(),
                    &mut limit_headers,
                );
            }
            _ => window.headers(admission, SystemTime::now(), &mut limit_headers),
        }
        if !admission.allowed {
            let mut response = match style {
                Style::Api(api) => api.over_limit(admission.reset_in, &state.counters),
                _ => inject::over_limit(admission.reset_in, &state.counters),
            };
            response.headers_mut().extend(limit_headers);
            return Ok(response);
        }
    }
    // One version of the data for the whole request, whatever changes meanwhile.
    let version = state.data.current();
    let since = match style {
        Style::Api(api) => api.since(path, query, body),
        // The tree filters by its own parameters.
        Style::Tree(_) => Ok(None),
        _ => match (
            params::param(query, "updated_since"),
            params::param(query, "updated_since_ms"),
        ) {
            (None, None) => Ok(None),
            (Some(raw), _) => parse_instant(&raw).map(Some).ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_parameter",
                    format!("updated_since must be RFC 3339 or Unix seconds, got {raw:?}"),
                )
            }),
            // Whole Unix milliseconds, rounded down to the second the data keeps.
            (None, Some(raw)) => match raw.parse::<u64>() {
                Ok(millis) if raw.bytes().all(|b| b.is_ascii_digit()) => Ok(Some(millis / 1000)),
                _ => Err(ApiError::bad_request(
                    "invalid_parameter",
                    format!("updated_since_ms must be Unix milliseconds, got {raw:?}"),
                )),
            },
        },
    };
    let view = since.map(|since| since.map(|since| version.since(since)));
    let render = || {
        let view = view?;
        let call = Call {
            state,
            path,
            query,
            records: view
                .as_ref()
                .map_or(version.dataset.records(), |view| &view.records),
            indices: view.as_ref().map(|view| view.indices.as_slice()),
        };
        render(style, &call, body)
    };
    let mut response = inject::apply(state, n, render).await?;
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
        Style::Api(api) => api.serve(call, body),
        Style::Tree(route) => endpoints::tree::serve(route, &call.state.tree, call),
    }
}
