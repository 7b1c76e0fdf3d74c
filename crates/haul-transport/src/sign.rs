//! Request signing: the [`Signer`] hook of the [`ReqwestTransport`](crate::ReqwestTransport)
//! and a ready HMAC-SHA256 implementation, [`HmacSha256Signer`].

use std::fmt;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use haul_core::{Clock, Secret, SystemClock};
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use url::Url;

/// The request as it is about to be sent, handed to a [`Signer`].
///
/// The headers are final: the request's own headers, those added by the
/// layers around the transport (authentication included) and the
/// transport's `User-Agent`. Only what the HTTP stack adds on the wire
/// (`Host`, `Content-Length`, `Accept-Encoding`) is missing; the host is
/// [`url`](Self::url)'s.
#[derive(Debug)]
pub struct SigningRequest<'a> {
    method: &'a Method,
    url: &'a Url,
    headers: &'a mut HeaderMap,
    body: &'a [u8],
}

impl<'a> SigningRequest<'a> {
    /// A request to sign (public so signers can be unit-tested on their own).
    pub fn new(
        method: &'a Method,
        url: &'a Url,
        headers: &'a mut HeaderMap,
        body: &'a [u8],
    ) -> Self {
        Self {
            method,
            url,
            headers,
            body,
        }
    }

    /// The method.
    pub fn method(&self) -> &Method {
        self.method
    }

    /// The URL, query string included.
    pub fn url(&self) -> &Url {
        self.url
    }

    /// The headers that will be sent.
    pub fn headers(&self) -> &HeaderMap {
        self.headers
    }

    /// The headers, to add the signature to.
    pub fn headers_mut(&mut self) -> &mut HeaderMap {
        self.headers
    }

    /// The body bytes (empty when the request has none).
    pub fn body(&self) -> &[u8] {
        self.body
    }
}

/// Why a request could not be signed. The transport reports it as
/// [`TransportError::Auth`](haul_core::TransportError::Auth), which is not retried.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SignError(pub String);

/// Signs each request just before it is sent.
///
/// The [`ReqwestTransport`](crate::ReqwestTransport) calls it once per
/// [`send`](crate::Transport::send), that is once per attempt: a retried
/// request is signed again (with a fresh timestamp), never replayed with a
/// stale signature. It runs after every other header is set, so it may sign
/// any of them. Keep it fast and free of I/O: it runs on every request.
///
/// Redirects the transport follows (same origin only) keep the headers of
/// the signed request; a signing API that redirects needs
/// [`max_redirects(0)`](crate::ReqwestTransportBuilder::max_redirects).
pub trait Signer: Send + Sync + fmt::Debug {
    /// Adds the signature (headers) to `request`.
    fn sign(&self, request: &mut SigningRequest<'_>) -> Result<(), SignError>;
}

impl<S: Signer + ?Sized> Signer for Arc<S> {
    fn sign(&self, request: &mut SigningRequest<'_>) -> Result<(), SignError> {
        (**self).sign(request)
    }
}

/// HMAC-SHA256 over a canonical string, the scheme of many payment, exchange
/// and partner APIs.
///
/// For each attempt it sets the timestamp header (default
/// `X-Haul-Timestamp`, Unix seconds) and the signature header (default
/// `X-Haul-Signature`, lowercase hex), plus the key id header
/// (`X-Haul-Key-Id`) when a key id is set. The signed string is these lines
/// joined by `\n`:
///
/// ```text
/// <METHOD>
/// <host>[:<port>]            (the port only when the URL names one)
/// <path>[?<query>]           (exactly as sent)
/// <timestamp>
/// <name>:<value>             (one line per signed header, in the order given, lowercase name,
///                             empty value when absent)
/// <lowercase hex SHA-256 of the body>
/// ```
///
/// ```
/// use haul_transport::{HmacSha256Signer, Signer, SigningRequest};
/// let signer = HmacSha256Signer::new("s3cr3t")
///     .key_id("key-1")
///     .sign_header(http::header::CONTENT_TYPE);
/// let url = "https://api.example.com/v1/orders?page=2".parse()?;
/// let mut headers = http::HeaderMap::new();
/// signer.sign(&mut SigningRequest::new(&http::Method::GET, &url, &mut headers, b""))?;
/// assert!(headers.contains_key("x-haul-signature"));
/// assert_eq!(headers["x-haul-key-id"], "key-1");
/// assert!(!format!("{signer:?}").contains("s3cr3t"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct HmacSha256Signer {
    secret: Secret,
    key_id: Option<String>,
    signed_headers: Vec<HeaderName>,
    timestamp_header: HeaderName,
    signature_header: HeaderName,
    key_id_header: HeaderName,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for HmacSha256Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HmacSha256Signer")
            .field("secret", &self.secret)
            .field("key_id", &self.key_id)
            .field("signed_headers", &self.signed_headers)
            .field("timestamp_header", &self.timestamp_header)
            .field("signature_header", &self.signature_header)
            .finish_non_exhaustive()
    }
}

impl HmacSha256Signer {
    /// A signer with the shared secret (its UTF-8 bytes are the HMAC key).
    pub fn new(secret: impl Into<Secret>) -> Self {
        Self {
            secret: secret.into(),
            key_id: None,
            signed_headers: Vec::new(),
            timestamp_header: HeaderName::from_static("x-haul-timestamp"),
            signature_header: HeaderName::from_static("x-haul-signature"),
            key_id_header: HeaderName::from_static("x-haul-key-id"),
            clock: Arc::new(SystemClock::new()),
        }
    }

    /// Sends this key id in the key id header (default `X-Haul-Key-Id`).
    #[must_use]
    pub fn key_id(mut self, key_id: impl Into<String>) -> Self {
        self.key_id = Some(key_id.into());
        self
    }

    /// Also signs this header (a line `<name>:<value>` in the signed string).
    #[must_use]
    pub fn sign_header(mut self, name: HeaderName) -> Self {
        self.signed_headers.push(name);
        self
    }

    /// The header carrying the timestamp (default `X-Haul-Timestamp`).
    #[must_use]
    pub fn timestamp_header(mut self, name: HeaderName) -> Self {
        self.timestamp_header = name;
        self
    }

    /// The header carrying the signature (default `X-Haul-Signature`).
    #[must_use]
    pub fn signature_header(mut self, name: HeaderName) -> Self {
        self.signature_header = name;
        self
    }

    /// The header carrying the key id (default `X-Haul-Key-Id`).
    #[must_use]
    pub fn key_id_header(mut self, name: HeaderName) -> Self {
        self.key_id_header = name;
        self
    }

    /// Reads the time from this clock (default: the system clock).
    #[must_use]
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The string signed for `request` at `timestamp` (Unix seconds).
    pub fn canonical_string(&self, request: &SigningRequest<'_>, timestamp: u64) -> String {
        let url = request.url();
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = writeln!(out, "{}", request.method());
        let host = url.host_str().unwrap_or_default();
        match url.port() {
            Some(port) => {
                let _ = writeln!(out, "{host}:{port}");
            }
            None => {
                let _ = writeln!(out, "{host}");
            }
        }
        out.push_str(url.path());
        if let Some(query) = url.query() {
            out.push('?');
            out.push_str(query);
        }
        out.push('\n');
        let _ = writeln!(out, "{timestamp}");
        for name in &self.signed_headers {
            let value = request
                .headers()
                .get(name)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .unwrap_or_default();
            let _ = writeln!(out, "{}:{}", name.as_str(), value.trim());
        }
        out.push_str(&hex(aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA256,
            request.body(),
        )
        .as_ref()));
        out
    }
}

impl Signer for HmacSha256Signer {
    fn sign(&self, request: &mut SigningRequest<'_>) -> Result<(), SignError> {
        let timestamp = self
            .clock
            .wall()
            .duration_since(UNIX_EPOCH)
            .map_err(|_| SignError("the clock is before 1970".to_owned()))?
            .as_secs();
        let canonical = self.canonical_string(request, timestamp);
        let key = aws_lc_rs::hmac::Key::new(
            aws_lc_rs::hmac::HMAC_SHA256,
            self.secret.expose().as_bytes(),
        );
        let signature = hex(aws_lc_rs::hmac::sign(&key, canonical.as_bytes()).as_ref());
        let headers = request.headers_mut();
        headers.insert(self.timestamp_header.clone(), HeaderValue::from(timestamp));
        // Lowercase hex is always a valid header value.
        let signature = HeaderValue::from_str(&signature)
            .map_err(|_| SignError("signature is not a header value".to_owned()))?;
        headers.insert(self.signature_header.clone(), signature);
        if let Some(key_id) = &self.key_id {
            let value = HeaderValue::from_str(key_id)
                .map_err(|_| SignError(format!("key id {key_id:?} is not a valid header value")))?;
            headers.insert(self.key_id_header.clone(), value);
        }
        Ok(())
    }
}

/// Lowercase hex.
fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::time::{Duration, SystemTime};

    use haul_core::ManualClock;

    use super::*;

    #[test]
    fn canonical_string_lists_every_signed_part() {
        let clock = ManualClock::new();
        let signer = HmacSha256Signer::new("k")
            .sign_header(http::header::CONTENT_TYPE)
            .sign_header(HeaderName::from_static("x-absent"))
            .clock(Arc::new(clock));
        let url: Url = "https://api.example.com:8443/v1/orders?page=2&b=1"
            .parse()
            .unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        let request = SigningRequest::new(&Method::POST, &url, &mut headers, b"{}");
        assert_eq!(
            signer.canonical_string(&request, 1_700_000_000),
            "POST\napi.example.com:8443\n/v1/orders?page=2&b=1\n1700000000\ncontent-type:application/json\nx-absent:\n\
             44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
    }

    #[test]
    fn rfc4231_hmac_vector() {
        // RFC 4231 test case 2.
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, b"Jefe");
        let tag = aws_lc_rs::hmac::sign(&key, b"what do ya want for nothing?");
        assert_eq!(
            hex(tag.as_ref()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn each_signature_uses_the_clock_now() {
        let clock = ManualClock::new();
        let signer = HmacSha256Signer::new("k").clock(Arc::new(clock.clone()));
        let url: Url = "https://h.example/p".parse().unwrap();
        let mut first = HeaderMap::new();
        signer
            .sign(&mut SigningRequest::new(
                &Method::GET,
                &url,
                &mut first,
                b"",
            ))
            .unwrap();
        clock.advance(Duration::from_secs(2));
        let mut second = HeaderMap::new();
        signer
            .sign(&mut SigningRequest::new(
                &Method::GET,
                &url,
                &mut second,
                b"",
            ))
            .unwrap();
        let ts = |h: &HeaderMap| {
            h["x-haul-timestamp"]
                .to_str()
                .unwrap()
                .parse::<u64>()
                .unwrap()
        };
        assert_eq!(ts(&second), ts(&first) + 2);
        assert_ne!(first["x-haul-signature"], second["x-haul-signature"]);
        let _ = SystemTime::now();
    }
}
