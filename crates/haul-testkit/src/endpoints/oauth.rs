//! `POST /oauth/token`: OAuth2 client credentials (RFC 6749 §4.4).

use http::{HeaderMap, HeaderValue, Response, StatusCode, header};
use url::form_urlencoded;

use crate::auth::{TokenStore, base64_decode};
use crate::body::Body;
use crate::reply;
use crate::stats::Counters;

/// Answers a token request: the form body carries
/// `grant_type=client_credentials` and the client's id and secret (or they
/// come as HTTP Basic). Success is `{"access_token":"…","token_type":
/// "Bearer","expires_in":N}`; errors are RFC 6749 §5.2 bodies
/// (`invalid_request`, `unsupported_grant_type` as 400, `invalid_client` as 401).
pub(crate) fn token(
    store: &TokenStore,
    headers: &HeaderMap,
    body: &[u8],
    counters: &Counters,
) -> Response<Body> {
    let field = |name: &str| {
        form_urlencoded::parse(body)
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
    };
    match field("grant_type").as_deref() {
        Some("client_credentials") => {}
        None => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "grant_type is missing",
                counters,
            );
        }
        Some(_) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "only client_credentials is supported",
                counters,
            );
        }
    }
    let (id, secret) = match basic_credentials(headers) {
        Some(pair) => (Some(pair.0), Some(pair.1)),
        None => (field("client_id"), field("client_secret")),
    };
    let client = &store.client;
    if id.as_deref() != Some(client.client_id())
        || secret.as_deref() != Some(client.client_secret())
    {
        let mut response = refuse(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "unknown client or wrong secret",
            counters,
        );
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"haul-testkit\""),
        );
        return response;
    }
    let token = store.issue(tokio::time::Instant::now());
    Counters::bump(&counters.tokens_issued, 1);
    let body = serde_json::json!({
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": client.token_lifetime().as_secs(),
    });
    let mut response = reply::json(StatusCode::OK, body.to_string());
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `Authorization: Basic <base64(id:secret)>`, if present and well formed.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(base64_decode(encoded.trim())?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((id.to_owned(), secret.to_owned()))
}

fn refuse(
    status: StatusCode,
    error: &'static str,
    description: &str,
    counters: &Counters,
) -> Response<Body> {
    Counters::bump(&counters.token_errors, 1);
    let body = serde_json::json!({ "error": error, "error_description": description });
    let mut response = reply::json(status, body.to_string());
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
