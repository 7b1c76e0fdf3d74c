//! [`Request`] and [`Response`]: thin wrappers over the `http` crate's types.

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use url::Url;

use crate::redact::{MASK, MaskedUrl, is_sensitive_header};

/// One HTTP request haul is about to send.
///
/// `Debug` masks the URL and every credential header, so a request can be
/// logged as it is.
///
/// ```
/// use haul_core::Request;
/// let req = Request::get(url::Url::parse("https://api.example.com/items")?)
///     .with_query("limit", "100")
///     .with_query("limit", "50");
/// assert_eq!(req.url.as_str(), "https://api.example.com/items?limit=50");
/// assert!(req.is_idempotent());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Request {
    /// HTTP method.
    pub method: Method,
    /// Absolute URL including the query string.
    pub url: Url,
    /// Headers sent with this request (credentials are attached by the transport layer).
    pub headers: HeaderMap,
    /// Optional body (for POST-based APIs such as GraphQL).
    pub body: Option<Bytes>,
    /// Retry this request even when its method is not idempotent (a GraphQL query over POST).
    pub retry_non_idempotent: bool,
    /// Query parameters of this request that carry credentials beyond the
    /// default sensitive list (masked wherever the request is rendered).
    pub secret_params: Vec<String>,
}

impl Request {
    /// A request with the given method and URL, no headers and no body.
    pub fn new(method: Method, url: Url) -> Self {
        Self {
            method,
            url,
            headers: HeaderMap::new(),
            body: None,
            retry_non_idempotent: false,
            secret_params: Vec::new(),
        }
    }

    /// A `GET` request.
    pub fn get(url: Url) -> Self {
        Self::new(Method::GET, url)
    }

    /// A `POST` request with a JSON body.
    pub fn post_json(url: Url, body: impl Into<Bytes>) -> Self {
        let mut req = Self::new(Method::POST, url);
        req.headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        req.body = Some(body.into());
        req
    }

    /// Sets query parameter `name` to `value`, replacing every earlier value of it.
    pub fn with_query(mut self, name: &str, value: &str) -> Self {
        self.set_query(name, value);
        self
    }

    /// Sets query parameter `name` to `value` in place, replacing earlier values.
    pub fn set_query(&mut self, name: &str, value: &str) {
        let kept: Vec<(String, String)> = self
            .url
            .query_pairs()
            .filter(|(k, _)| k != name)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let mut pairs = self.url.query_pairs_mut();
        pairs.clear();
        for (k, v) in &kept {
            pairs.append_pair(k, v);
        }
        pairs.append_pair(name, value);
    }

    /// Removes query parameter `name` (every occurrence).
    pub fn remove_query(&mut self, name: &str) {
        let kept: Vec<(String, String)> = self
            .url
            .query_pairs()
            .filter(|(k, _)| k != name)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        if kept.is_empty() {
            self.url.set_query(None);
        } else {
            let mut pairs = self.url.query_pairs_mut();
            pairs.clear();
            for (k, v) in &kept {
                pairs.append_pair(k, v);
            }
        }
    }

    /// The value of query parameter `name`, if present.
    pub fn query(&self, name: &str) -> Option<String> {
        self.url
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }

    /// Adds a header, replacing earlier values.
    pub fn with_header(mut self, name: http::HeaderName, value: HeaderValue) -> Self {
        self.headers.insert(name, value);
        self
    }

    /// Whether the method is idempotent per RFC 9110 §9.2.2 (or the caller opted in to retries).
    pub fn is_idempotent(&self) -> bool {
        self.retry_non_idempotent
            || matches!(
                self.method,
                Method::GET
                    | Method::HEAD
                    | Method::OPTIONS
                    | Method::PUT
                    | Method::DELETE
                    | Method::TRACE
            )
    }

    /// The URL with credentials masked, for logs and errors.
    pub fn masked_url(&self) -> MaskedUrl {
        MaskedUrl::with_extra(&self.url, &self.secret_params)
    }

    /// Whether query parameter `name` carries credentials (the default list,
    /// or one of [`Request::secret_params`]).
    pub fn is_secret_param(&self, name: &str) -> bool {
        crate::redact::is_sensitive_param(name) || self.secret_params.iter().any(|p| p == name)
    }
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("method", &self.method)
            .field("url", &self.masked_url())
            .field("headers", &MaskedHeaders(&self.headers))
            .field("body_len", &self.body.as_ref().map(Bytes::len))
            .field("retry_non_idempotent", &self.retry_non_idempotent)
            .finish()
    }
}

/// `Debug` view of a header map with credential headers masked.
pub struct MaskedHeaders<'a>(pub &'a HeaderMap);

impl fmt::Debug for MaskedHeaders<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        for (name, value) in self.0 {
            if is_sensitive_header(name) || value.is_sensitive() {
                map.entry(&name.as_str(), &MASK);
            } else {
                map.entry(&name.as_str(), &value.to_str().unwrap_or("<binary>"));
            }
        }
        map.finish()
    }
}

/// One HTTP response, fully read (within the transport's size limit).
#[derive(Clone)]
pub struct Response {
    /// Status code.
    pub status: StatusCode,
    /// Response headers.
    pub headers: HeaderMap,
    /// The body, decompressed.
    pub body: Bytes,
    /// The URL that answered (after redirects).
    pub url: Url,
    /// Time from sending the request to the last body byte.
    pub elapsed: Duration,
}

impl Response {
    /// A response with the given status and body, no headers, for tests and fakes.
    pub fn new(status: StatusCode, url: Url, body: impl Into<Bytes>) -> Self {
        Self {
            status,
            headers: HeaderMap::new(),
            body: body.into(),
            url,
            elapsed: Duration::ZERO,
        }
    }

    /// Adds a header (builder style, for tests and fakes).
    pub fn with_header(mut self, name: &'static str, value: &str) -> Self {
        if let Ok(v) = HeaderValue::from_str(value) {
            self.headers.append(name, v);
        }
        self
    }

    /// The first value of header `name` as text, if present and valid UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// At most 500 bytes of the body, for error messages.
    pub fn preview(&self) -> String {
        crate::body_preview(&self.body)
    }

    /// The URL with credentials masked.
    pub fn masked_url(&self) -> MaskedUrl {
        MaskedUrl::new(&self.url)
    }
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("url", &self.masked_url())
            .field("headers", &MaskedHeaders(&self.headers))
            .field("body_len", &self.body.len())
            .field("elapsed", &self.elapsed)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_masks_credentials() {
        let req = Request::get(Url::parse("https://h.example/x?api_key=k3y").unwrap()).with_header(
            http::header::AUTHORIZATION,
            HeaderValue::from_static("Bearer s3cr3t"),
        );
        let dbg = format!("{req:?}");
        assert!(!dbg.contains("s3cr3t"), "{dbg}");
        assert!(!dbg.contains("k3y"), "{dbg}");
    }

    #[test]
    fn query_set_and_remove() {
        let mut req = Request::get(Url::parse("https://h.example/x?a=1&b=2").unwrap());
        req.set_query("a", "3");
        assert_eq!(req.query("a").as_deref(), Some("3"));
        req.remove_query("a");
        req.remove_query("b");
        assert_eq!(req.url.as_str(), "https://h.example/x");
    }
}
