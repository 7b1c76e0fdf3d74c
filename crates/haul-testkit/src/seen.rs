//! What requests carried: credentials found in headers, the query or a
//! token request's body, kept for "trap server" assertions.

use std::sync::{Mutex, PoisonError};

use http::{HeaderMap, Method};
use url::form_urlencoded;

/// Where a request carried a credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CredentialPlace {
    /// A request header.
    Header,
    /// A query parameter.
    Query,
    /// A form field of a request body (read for `POST /oauth/token` only).
    Body,
}

/// One credential a request carried, verbatim.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SeenCredential {
    /// Where it was.
    pub place: CredentialPlace,
    /// The header name (lowercase), query parameter or form field.
    pub name: String,
    /// The raw value (a header that is not UTF-8 is decoded lossily).
    pub value: String,
}

/// A request as the server received it: see
/// [`RunningServer::seen_credentials`](crate::RunningServer::seen_credentials)
/// and [`RunningServer::seen_requests`](crate::RunningServer::seen_requests).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SeenRequest {
    /// The method, e.g. `GET`.
    pub method: String,
    /// The path.
    pub path: String,
    /// The raw query string, if any.
    pub query: Option<String>,
    /// Every header, names lowercase, values verbatim (lossy UTF-8).
    pub headers: Vec<(String, String)>,
    /// The credentials among them (and in the query or a token request's
    /// body); empty for an anonymous request.
    pub credentials: Vec<SeenCredential>,
    /// When the server received it, on tokio's clock (paused time included),
    /// so rate tests can count requests per window on the server's side.
    pub received: tokio::time::Instant,
}

impl SeenRequest {
    /// Whether the request carried anything that looks like a credential.
    pub fn carries_credentials(&self) -> bool {
        !self.credentials.is_empty()
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// Whether `secret` occurs anywhere in the request line or headers (or
    /// in a recorded credential).
    pub fn contains(&self, secret: &str) -> bool {
        !secret.is_empty()
            && (self.path.contains(secret)
                || self.query.as_deref().is_some_and(|q| {
                    q.contains(secret)
                        || form_urlencoded::parse(q.as_bytes()).any(|(_, v)| v.contains(secret))
                })
                || self.headers.iter().any(|(_, v)| v.contains(secret))
                || self.credentials.iter().any(|c| c.value.contains(secret)))
    }
}

/// Query parameters and form fields that carry credentials (compared
/// case-insensitively), besides names ending in `key` and the configured one.
const SECRET_PARAMS: &[&str] = &[
    "api_key",
    "apikey",
    "key",
    "token",
    "access_token",
    "refresh_token",
    "id_token",
    "client_secret",
    "password",
    "passwd",
    "secret",
    "signature",
    "sig",
    "code",
    "auth",
    "session",
];

/// Header names that carry credentials, besides names containing one of
/// [`SECRET_HEADER_PARTS`] and the configured API-key header.
const SECRET_HEADERS: &[&str] = &["authorization", "proxy-authorization", "cookie"];

/// Substrings of header names that mark a credential (`x-api-key`,
/// `x-auth-token`, `x-session-id`, …).
const SECRET_HEADER_PARTS: &[&str] = &[
    "key",
    "token",
    "secret",
    "auth",
    "session",
    "password",
    "signature",
];

fn secret_param(name: &str, extra: Option<&str>) -> bool {
    let lower = name.to_ascii_lowercase();
    SECRET_PARAMS.contains(&lower.as_str())
        || lower.ends_with("_key")
        || lower.ends_with("-key")
        || extra.is_some_and(|extra| extra.eq_ignore_ascii_case(name))
}

fn secret_header(name: &str, extra: Option<&str>) -> bool {
    SECRET_HEADERS.contains(&name)
        || SECRET_HEADER_PARTS.iter().any(|part| name.contains(part))
        || extra.is_some_and(|extra| extra.eq_ignore_ascii_case(name))
}

/// The request log of one server.
#[derive(Debug, Default)]
pub(crate) struct RequestLog {
    /// Whether to keep anonymous requests too.
    pub(crate) record_all: bool,
    /// An API-key header name to treat as a credential.
    pub(crate) key_header: Option<String>,
    /// An API-key query parameter to treat as a credential.
    pub(crate) key_param: Option<String>,
    requests: Mutex<Vec<SeenRequest>>,
}

impl RequestLog {
    pub(crate) fn new(
        record_all: bool,
        key_header: Option<String>,
        key_param: Option<String>,
    ) -> Self {
        RequestLog {
            record_all,
            key_header,
            key_param,
            requests: Mutex::default(),
        }
    }

    /// Notes a request; `form` is a token request's body.
    pub(crate) fn note(
        &self,
        method: &Method,
        path: &str,
        query: Option<&str>,
        headers: &HeaderMap,
        form: Option<&[u8]>,
    ) {
        let key_header = self.key_header.as_deref();
        let key_param = self.key_param.as_deref();
        let mut credentials = Vec::new();
        let text =
            |value: &http::HeaderValue| String::from_utf8_lossy(value.as_bytes()).into_owned();
        for (name, value) in headers {
            if secret_header(name.as_str(), key_header) {
                credentials.push(SeenCredential {
                    place: CredentialPlace::Header,
                    name: name.as_str().to_owned(),
                    value: text(value),
                });
            }
        }
        let fields = |place, raw: &[u8], credentials: &mut Vec<SeenCredential>| {
            for (name, value) in form_urlencoded::parse(raw) {
                if secret_param(&name, key_param) {
                    credentials.push(SeenCredential {
                        place,
                        name: name.into_owned(),
                        value: value.into_owned(),
                    });
                }
            }
        };
        if let Some(query) = query {
            fields(CredentialPlace::Query, query.as_bytes(), &mut credentials);
        }
        if let Some(form) = form {
            fields(CredentialPlace::Body, form, &mut credentials);
        }
        if credentials.is_empty() && !self.record_all {
            return;
        }
        let request = SeenRequest {
            method: method.as_str().to_owned(),
            path: path.to_owned(),
            query: query.map(str::to_owned),
            headers: headers
                .iter()
                .map(|(name, value)| (name.as_str().to_owned(), text(value)))
                .collect(),
            credentials,
            received: tokio::time::Instant::now(),
        };
        self.requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(request);
    }

    pub(crate) fn requests(&self) -> Vec<SeenRequest> {
        self.requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognizes_credentials_but_not_pagination_tokens() {
        for name in ["api_key", "API_KEY", "access_token", "stripe_key", "sig"] {
            assert!(secret_param(name, None), "{name}");
        }
        for name in ["skiptoken", "cursor", "page", "limit", "starting_after"] {
            assert!(!secret_param(name, None), "{name}");
        }
        assert!(secret_param("x", Some("X")));
        for name in ["authorization", "cookie", "x-api-key", "x-auth-token"] {
            assert!(secret_header(name, None), "{name}");
        }
        for name in [
            "host",
            "accept",
            "user-agent",
            "content-type",
            "accept-encoding",
        ] {
            assert!(!secret_header(name, None), "{name}");
        }
    }

    #[test]
    fn keeps_credentials_and_optionally_everything() {
        let mut headers = HeaderMap::new();
        headers.insert("x-api-key", http::HeaderValue::from_static("k1"));
        let log = RequestLog::default();
        log.note(
            &Method::GET,
            "/items",
            Some("limit=2"),
            &HeaderMap::new(),
            None,
        );
        log.note(&Method::GET, "/items", Some("api_key=q1"), &headers, None);
        log.note(
            &Method::POST,
            "/oauth/token",
            None,
            &HeaderMap::new(),
            Some(b"client_secret=s1"),
        );
        let seen = log.requests();
        assert_eq!(seen.len(), 2);
        let values: Vec<&str> = seen
            .iter()
            .flat_map(|r| &r.credentials)
            .map(|c| c.value.as_str())
            .collect();
        assert_eq!(values, ["k1", "q1", "s1"]);
        assert!(seen[0].contains("q1") && seen[0].contains("k1") && !seen[0].contains("s1"));
        assert_eq!(seen[0].header("X-API-KEY"), Some("k1"));

        let all = RequestLog {
            record_all: true,
            ..RequestLog::default()
        };
        all.note(&Method::GET, "/items", None, &HeaderMap::new(), None);
        assert!(!all.requests()[0].carries_credentials());
    }
}
