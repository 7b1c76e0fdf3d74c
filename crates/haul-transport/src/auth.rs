//! Authentication: the [`Auth`] trait, its defaults, and [`AuthTransport`],
//! which attaches credentials per request — only to the configured origin.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use haul_core::{Clock, MaskedUrl, Request, Response, Secret, SystemClock, TransportError};
use http::{HeaderName, HeaderValue, StatusCode};
use tokio::sync::Mutex;
use url::{Origin, Url};

use crate::Transport;

/// Attaches credentials to a request. Implementations never log the secret.
#[async_trait]
pub trait Auth: Send + Sync {
    /// Adds credentials to `request`, which is bound for the configured origin.
    async fn apply(&self, request: &mut Request) -> Result<(), TransportError>;

    /// The server answered 401: drop any cached credential. Returns whether a
    /// fresh credential could help (then the request is retried once).
    async fn invalidate(&self) -> bool {
        false
    }

    /// Query parameter names this auth adds (they are stripped from stored
    /// checkpoints and re-added on resume).
    fn query_params(&self) -> Vec<String> {
        Vec::new()
    }
}

macro_rules! forward_auth {
    ($($ty:ty),*) => {$(
        #[async_trait]
        impl<A: Auth + ?Sized> Auth for $ty {
            async fn apply(&self, request: &mut Request) -> Result<(), TransportError> {
                (**self).apply(request).await
            }
            async fn invalidate(&self) -> bool { (**self).invalidate().await }
            fn query_params(&self) -> Vec<String> { (**self).query_params() }
        }
    )*};
}
forward_auth!(&A, Box<A>, Arc<A>);

fn sensitive(value: &str, url: &Url) -> Result<HeaderValue, TransportError> {
    let mut v = HeaderValue::from_str(value).map_err(|_| TransportError::Auth {
        url: MaskedUrl::new(url),
        reason: "the credential is not a valid header value".into(),
    })?;
    v.set_sensitive(true);
    Ok(v)
}

/// `Authorization: Bearer <token>`.
#[derive(Debug, Clone)]
pub struct Bearer(pub Secret);

#[async_trait]
impl Auth for Bearer {
    async fn apply(&self, request: &mut Request) -> Result<(), TransportError> {
        let value = sensitive(&format!("Bearer {}", self.0.expose()), &request.url)?;
        request.headers.insert(http::header::AUTHORIZATION, value);
        Ok(())
    }
}

/// HTTP Basic authentication.
#[derive(Debug, Clone)]
pub struct Basic {
    /// User name.
    pub user: String,
    /// Password.
    pub password: Secret,
}

#[async_trait]
impl Auth for Basic {
    async fn apply(&self, request: &mut Request) -> Result<(), TransportError> {
        let raw = format!("{}:{}", self.user, self.password.expose());
        let value = sensitive(&format!("Basic {}", base64(raw.as_bytes())), &request.url)?;
        request.headers.insert(http::header::AUTHORIZATION, value);
        Ok(())
    }
}

/// An API key in a header or a query parameter.
#[derive(Debug, Clone)]
pub enum ApiKey {
    /// Sent as header `name`.
    Header {
        /// Header name, e.g. `x-api-key`.
        name: HeaderName,
        /// The key.
        key: Secret,
    },
    /// Sent as query parameter `name`.
    Query {
        /// Parameter name, e.g. `api_key`.
        name: String,
        /// The key.
        key: Secret,
    },
}

impl ApiKey {
    /// A key sent in header `name`.
    pub fn header(name: HeaderName, key: Secret) -> Self {
        Self::Header { name, key }
    }

    /// A key sent as query parameter `name`.
    pub fn query(name: impl Into<String>, key: Secret) -> Self {
        Self::Query {
            name: name.into(),
            key,
        }
    }
}

#[async_trait]
impl Auth for ApiKey {
    async fn apply(&self, request: &mut Request) -> Result<(), TransportError> {
        match self {
            Self::Header { name, key } => {
                let value = sensitive(key.expose(), &request.url)?;
                request.headers.insert(name.clone(), value);
            }
            Self::Query { name, key } => {
                request.set_query(name, key.expose());
                if !request.secret_params.contains(name) {
                    request.secret_params.push(name.clone());
                }
            }
        }
        Ok(())
    }

    fn query_params(&self) -> Vec<String> {
        match self {
            Self::Header { .. } => Vec::new(),
            Self::Query { name, .. } => vec![name.clone()],
        }
    }
}

/// OAuth 2.0 client credentials (RFC 6749 §4.4): the token is fetched on first
/// use, refreshed `skew` before it expires, and refreshed once when the API
/// answers 401.
pub struct OAuth2ClientCredentials {
    token_url: Url,
    client_id: String,
    client_secret: Secret,
    scope: Option<String>,
    skew: Duration,
    transport: Arc<dyn Transport>,
    clock: Arc<dyn Clock>,
    token: Mutex<Option<(Secret, Duration)>>,
    insecure_allowed: bool,
}

impl std::fmt::Debug for OAuth2ClientCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuth2ClientCredentials")
            .field("token_url", &MaskedUrl::new(&self.token_url))
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

impl OAuth2ClientCredentials {
    /// Fetches tokens from `token_url` through `transport` (which should not
    /// itself be an [`AuthTransport`]).
    pub fn new(
        token_url: Url,
        client_id: impl Into<String>,
        client_secret: Secret,
        transport: Arc<dyn Transport>,
    ) -> Self {
        Self {
            token_url,
            client_id: client_id.into(),
            client_secret,
            scope: None,
            skew: Duration::from_secs(30),
            transport,
            clock: Arc::new(SystemClock::new()),
            token: Mutex::new(None),
            insecure_allowed: false,
        }
    }

    /// Requests this scope.
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = Some(scope.into());
        self
    }

    /// Refreshes this long before the token expires (default 30 s).
    pub fn skew(mut self, skew: Duration) -> Self {
        self.skew = skew;
        self
    }

    /// The clock expiry is measured on.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Allows a plain `http` token URL that is not loopback (the client
    /// secret then travels unencrypted; a warning is logged).
    pub fn allow_insecure_http(mut self, allow: bool) -> Self {
        self.insecure_allowed = allow;
        self
    }

    async fn fetch(&self) -> Result<(Secret, Duration), TransportError> {
        let fail = |reason: String| TransportError::Auth {
            url: MaskedUrl::new(&self.token_url),
            reason,
        };
        if self.token_url.scheme() != "https" && !is_loopback(&self.token_url) {
            if !self.insecure_allowed {
                return Err(fail(
                    "the client secret is only sent to an https (or loopback) token URL; \
                     set allow_insecure_http(true) to override"
                        .into(),
                ));
            }
            tracing::warn!(url = %MaskedUrl::new(&self.token_url), "sending the OAuth2 client secret over plain http");
        }
        let body = {
            let mut form = url::form_urlencoded::Serializer::new(String::new());
            form.append_pair("grant_type", "client_credentials");
            form.append_pair("client_id", &self.client_id);
            form.append_pair("client_secret", self.client_secret.expose());
            if let Some(scope) = &self.scope {
                form.append_pair("scope", scope);
            }
            form.finish()
        };
        let mut req = Request::new(http::Method::POST, self.token_url.clone());
        req.headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        req.body = Some(body.into());
        tracing::debug!(url = %req.masked_url(), "fetching an OAuth2 access token");
        let resp: Response = self
            .transport
            .send(&req)
            .await
            .map_err(|e| fail(format!("token request failed: {e}")))?;
        if !resp.status.is_success() {
            return Err(fail(format!(
                "token endpoint answered HTTP {}; body starts: {}",
                resp.status,
                redact_token_body(&resp)
            )));
        }
        let text = std::str::from_utf8(&resp.body)
            .map_err(|_| fail("token response is not UTF-8".into()))?;
        let token = haul_core::json::scalar_at(text, "/access_token")
            .ok()
            .flatten()
            .ok_or_else(|| fail("token response has no access_token".into()))?;
        let expires_in = haul_core::json::u64_at(text, "/expires_in")
            .ok()
            .flatten()
            .unwrap_or(3600);
        let expires_at = self.clock.now() + Duration::from_secs(expires_in);
        tracing::info!(expires_in, "obtained an OAuth2 access token");
        Ok((Secret::new(token), expires_at))
    }
}

/// A token response body is itself a secret; show only its shape.
fn redact_token_body(resp: &Response) -> String {
    if resp.body.windows(b"token".len()).any(|w| w == b"token") {
        "<redacted: the body mentions a token>".into()
    } else {
        resp.preview()
    }
}

#[async_trait]
impl Auth for OAuth2ClientCredentials {
    async fn apply(&self, request: &mut Request) -> Result<(), TransportError> {
        let mut cached = self.token.lock().await;
        let fresh = match cached.as_ref() {
            Some((_, expires_at)) => self.clock.now() + self.skew < *expires_at,
            None => false,
        };
        if !fresh {
            *cached = Some(self.fetch().await?);
        }
        let Some((token, _)) = cached.as_ref() else {
            return Err(TransportError::Auth {
                url: request.masked_url(),
                reason: "no token available".into(),
            });
        };
        let value = sensitive(&format!("Bearer {}", token.expose()), &request.url)?;
        request.headers.insert(http::header::AUTHORIZATION, value);
        Ok(())
    }

    async fn invalidate(&self) -> bool {
        *self.token.lock().await = None;
        true
    }
}

/// Wraps a transport and attaches credentials per request, only when the
/// request goes to the configured origin (scheme, host, port). A next link,
/// a redirect target or a relative URL resolving elsewhere gets none.
///
/// `https` is required for the origin unless it is a loopback address or
/// [`AuthTransport::allow_insecure_http`] is set (which logs a warning once).
/// On a 401 from the origin, a refreshable credential (OAuth2) is refreshed
/// once and the request retried once — never a loop.
///
/// ```
/// use haul_transport::{AuthTransport, Bearer, ReqwestTransport};
/// use haul_core::Secret;
/// let api = url::Url::parse("https://api.example.com/v1/items")?;
/// let transport = AuthTransport::new(ReqwestTransport::new()?, Bearer(Secret::new("t0k3n")), &api)?;
/// assert!(format!("{transport:?}").contains("api.example.com"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct AuthTransport<T> {
    inner: T,
    auth: Arc<dyn Auth>,
    origin: Origin,
    origin_text: String,
    insecure_allowed: bool,
    warned: AtomicBool,
}

impl<T> std::fmt::Debug for AuthTransport<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthTransport")
            .field("origin", &self.origin_text)
            .field("insecure_allowed", &self.insecure_allowed)
            .finish_non_exhaustive()
    }
}

impl<T: Transport> AuthTransport<T> {
    /// Credentials from `auth` go to the origin of `base` only.
    pub fn new(inner: T, auth: impl Auth + 'static, base: &Url) -> Result<Self, TransportError> {
        Ok(Self {
            inner,
            auth: Arc::new(auth),
            origin: base.origin(),
            origin_text: base.origin().ascii_serialization(),
            insecure_allowed: false,
            warned: AtomicBool::new(false),
        })
    }

    /// Allows sending credentials over plain `http` to a non-loopback origin.
    pub fn allow_insecure_http(mut self, allow: bool) -> Self {
        self.insecure_allowed = allow;
        self
    }

    fn check_scheme(&self, url: &Url) -> Result<(), TransportError> {
        if url.scheme() == "https" {
            return Ok(());
        }
        if is_loopback(url) {
            return Ok(());
        }
        if self.insecure_allowed {
            if !self.warned.swap(true, Ordering::Relaxed) {
                tracing::warn!(origin = %self.origin_text, "sending credentials over plain http (allow_insecure_http)");
            }
            return Ok(());
        }
        Err(TransportError::Auth {
            url: MaskedUrl::new(url),
            reason: "credentials are only sent over https (or to loopback); \
                     set allow_insecure_http(true) to override"
                .into(),
        })
    }
}

#[async_trait]
impl<T: Transport> Transport for AuthTransport<T> {
    async fn send(&self, request: &Request) -> Result<Response, TransportError> {
        if request.url.origin() != self.origin {
            tracing::debug!(url = %request.masked_url(), origin = %self.origin_text,
                "request leaves the configured origin: sending it without credentials");
            return self.inner.send(request).await;
        }
        self.check_scheme(&request.url)?;
        let mut authed = request.clone();
        self.auth.apply(&mut authed).await?;
        let mut response = self.inner.send(&authed).await?;
        if response.status == StatusCode::UNAUTHORIZED && self.auth.invalidate().await {
            tracing::info!(url = %request.masked_url(), "HTTP 401: refreshing credentials and retrying once");
            let mut again = request.clone();
            self.auth.apply(&mut again).await?;
            response = self.inner.send(&again).await?;
        }
        // The answering URL carries any query credential we added: remove it
        // so nothing downstream (errors, checkpoints) can render it.
        strip_query(&mut response.url, &self.auth.query_params());
        Ok(response)
    }
}

/// Removes the query parameters named in `names` from `url`.
fn strip_query(url: &mut Url, names: &[String]) {
    if names.is_empty()
        || !url
            .query_pairs()
            .any(|(k, _)| names.iter().any(|n| *n == k))
    {
        return;
    }
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| !names.iter().any(|n| n == k))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if kept.is_empty() {
        url.set_query(None);
    } else {
        url.query_pairs_mut().clear().extend_pairs(kept);
    }
}

/// Whether `url` points at this machine (credentials may travel over plain http there).
fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// Standard base64 (RFC 4648) for Basic credentials; small enough not to need a crate.
fn base64(input: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(TABLE[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
    }
}
