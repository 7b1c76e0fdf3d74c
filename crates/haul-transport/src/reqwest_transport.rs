//! [`ReqwestTransport`]: haul's default [`Transport`], built on one pooled
//! `reqwest::Client` (rustls, gzip/deflate/brotli, HTTP/1.1 and HTTP/2).

use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use haul_core::{MaskedUrl, Request, Response, TimeoutPhase, TransportError};
use http::HeaderValue;

use crate::Transport;
use crate::proxy::ProxyConfig;
use crate::sign::{Signer, SigningRequest};
use crate::tls::{ClientIdentity, PemSource};

/// Why a [`ReqwestTransport`] could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// A timeout was set to zero, which would fail every request.
    #[error("the {name} must be greater than zero")]
    ZeroTimeout {
        /// Which timeout (`"connect timeout"`, `"read timeout"`, `"request timeout"`).
        name: &'static str,
    },
    /// The user agent is not a valid HTTP header value.
    #[error("invalid user agent {value:?}: not a valid header value")]
    InvalidUserAgent {
        /// The rejected value.
        value: String,
    },
    /// A PEM file could not be read.
    #[error("could not read {path}: {source}")]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A root certificate bundle could not be parsed.
    #[error("invalid root certificate PEM from {origin}: {reason}")]
    Certificate {
        /// Where the PEM came from (a path, or `<memory>`).
        origin: String,
        /// What was wrong.
        reason: String,
    },
    /// The client identity (mutual TLS) could not be parsed. Never contains key material.
    #[error("invalid client identity from {origin}: {reason}")]
    Identity {
        /// Where the certificate chain came from (a path, or `<memory>`).
        origin: String,
        /// What was wrong.
        reason: String,
    },
    /// A proxy URL is not usable.
    #[error("invalid proxy {proxy}: {reason}")]
    Proxy {
        /// The proxy URL, masked.
        proxy: MaskedUrl,
        /// What was wrong.
        reason: String,
    },
    /// The underlying HTTP client could not be created (for example, the TLS
    /// backend failed to initialize).
    #[error("could not create the HTTP client: {0}")]
    Client(#[source] reqwest::Error),
}

/// Configures and builds a [`ReqwestTransport`]. Obtained from [`ReqwestTransport::builder`].
///
/// Every setting has a default suited to extracting from a remote API:
///
/// | setting | default |
/// | --- | --- |
/// | [`connect_timeout`](Self::connect_timeout) | 5 s |
/// | [`read_timeout`](Self::read_timeout) | 30 s |
/// | [`request_timeout`](Self::request_timeout) | 5 min |
/// | [`max_body_bytes`](Self::max_body_bytes) | 64 MiB |
/// | [`user_agent`](Self::user_agent) | `haul/<version>` |
/// | [`pool_idle_timeout`](Self::pool_idle_timeout) | 10 s |
/// | [`pool_max_idle_per_host`](Self::pool_max_idle_per_host) | unlimited |
/// | [`max_redirects`](Self::max_redirects) | 5 (same origin only) |
/// | [`max_headers`](Self::max_headers) | 100 (HTTP/1; hyper also caps the head at ~400 KiB) |
/// | [`max_header_list_bytes`](Self::max_header_list_bytes) | 64 KiB (HTTP/2) |
/// | [`add_root_certificates_pem`](Self::add_root_certificates_pem) | none: the platform's roots only |
/// | [`platform_roots`](Self::platform_roots) | `true` |
/// | [`client_identity`](Self::client_identity) | none |
/// | [`proxy`](Self::proxy) | none explicit; `HTTPS_PROXY`/`HTTP_PROXY`/`ALL_PROXY`/`NO_PROXY` honoured ([`proxy_from_env`](Self::proxy_from_env)) |
/// | [`signer`](Self::signer) | none |
/// | [`http1_only`](Self::http1_only) | `false`: HTTP/2 when the server offers it (ALPN) |
#[derive(Clone)]
#[must_use]
pub struct ReqwestTransportBuilder {
    connect_timeout: Duration,
    read_timeout: Duration,
    request_timeout: Option<Duration>,
    max_body_bytes: u64,
    user_agent: String,
    pool_idle_timeout: Option<Duration>,
    pool_max_idle_per_host: usize,
    max_redirects: usize,
    max_headers: usize,
    max_header_list_bytes: u32,
    extra_roots: Vec<PemSource>,
    platform_roots: bool,
    identity: Option<ClientIdentity>,
    proxies: Vec<ProxyConfig>,
    proxy_from_env: bool,
    signer: Option<Arc<dyn Signer>>,
    http1_only: bool,
}

impl fmt::Debug for ReqwestTransportBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReqwestTransportBuilder")
            .field("connect_timeout", &self.connect_timeout)
            .field("read_timeout", &self.read_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("user_agent", &self.user_agent)
            .field("pool_idle_timeout", &self.pool_idle_timeout)
            .field("pool_max_idle_per_host", &self.pool_max_idle_per_host)
            .field("max_redirects", &self.max_redirects)
            .field("max_headers", &self.max_headers)
            .field("max_header_list_bytes", &self.max_header_list_bytes)
            .field("extra_roots", &self.extra_roots)
            .field("platform_roots", &self.platform_roots)
            .field("identity", &self.identity)
            .field("proxies", &self.proxies)
            .field("proxy_from_env", &self.proxy_from_env)
            .field("signer", &self.signer)
            .field("http1_only", &self.http1_only)
            .finish()
    }
}

impl Default for ReqwestTransportBuilder {
    fn default() -> Self {
        Self {
            connect_timeout: Self::DEFAULT_CONNECT_TIMEOUT,
            read_timeout: Self::DEFAULT_READ_TIMEOUT,
            request_timeout: Some(Self::DEFAULT_REQUEST_TIMEOUT),
            max_body_bytes: Self::DEFAULT_MAX_BODY_BYTES,
            user_agent: default_user_agent(),
            pool_idle_timeout: Some(Self::DEFAULT_POOL_IDLE_TIMEOUT),
            pool_max_idle_per_host: usize::MAX,
            max_redirects: Self::DEFAULT_MAX_REDIRECTS,
            max_headers: Self::DEFAULT_MAX_HEADERS,
            max_header_list_bytes: Self::DEFAULT_MAX_HEADER_LIST_BYTES,
            extra_roots: Vec::new(),
            platform_roots: true,
            identity: None,
            proxies: Vec::new(),
            proxy_from_env: true,
            signer: None,
            http1_only: false,
        }
    }
}

/// `haul/<version of this crate>`.
fn default_user_agent() -> String {
    format!("haul/{}", env!("CARGO_PKG_VERSION"))
}

impl ReqwestTransportBuilder {
    /// Default time allowed to establish a TCP (and TLS) connection.
    pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
    /// Default time allowed between two reads (and until the response head arrives).
    pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(30);
    /// Default deadline for one whole request, from sending to the last body byte.
    pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(300);
    /// Default maximum size of a (decompressed) response body: 64 MiB.
    pub const DEFAULT_MAX_BODY_BYTES: u64 = 64 << 20;
    /// Default time an idle pooled connection is kept before it is closed.
    pub const DEFAULT_POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(10);
    /// Default maximum number of same-origin redirects followed for one request.
    pub const DEFAULT_MAX_REDIRECTS: usize = 5;
    /// Default maximum number of response headers (HTTP/1).
    pub const DEFAULT_MAX_HEADERS: usize = 100;
    /// Default maximum size of the response header list (HTTP/2).
    pub const DEFAULT_MAX_HEADER_LIST_BYTES: u32 = 64 * 1024;

    /// Time allowed to establish the TCP connection and TLS session (default 5 s).
    ///
    /// When it fires, [`Transport::send`] fails with
    /// [`TransportError::Timeout`] and [`TimeoutPhase::Connect`].
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Time allowed for each read (default 30 s): waiting for the response head
    /// after the request starts, and then between two body reads. It resets
    /// after every successful read, so a slow but steady download never trips it.
    ///
    /// When it fires, [`Transport::send`] fails with
    /// [`TransportError::Timeout`] and [`TimeoutPhase::Read`].
    pub fn read_timeout(mut self, timeout: Duration) -> Self {
        self.read_timeout = timeout;
        self
    }

    /// Deadline for one whole request, from sending it to the last body byte
    /// (default 5 min, long enough for a 64 MiB page over a slow link, short
    /// enough that a server trickling bytes cannot stall a run forever).
    ///
    /// When it fires, [`Transport::send`] fails with
    /// [`TransportError::Timeout`] and [`TimeoutPhase::Total`].
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = Some(timeout);
        self
    }

    /// Removes the whole-request deadline; the connect and read timeouts still apply.
    pub fn no_request_timeout(mut self) -> Self {
        self.request_timeout = None;
        self
    }

    /// Largest response body accepted, counted in decompressed bytes while
    /// reading (default 64 MiB). A larger body fails with
    /// [`TransportError::BodyTooLarge`] as soon as the limit is crossed (or at
    /// once, when the announced `Content-Length` already exceeds it), so memory
    /// stays bounded whatever the server sends.
    pub fn max_body_bytes(mut self, limit: u64) -> Self {
        self.max_body_bytes = limit;
        self
    }

    /// The `User-Agent` header sent with every request (default `haul/<version>`).
    /// A request that sets its own `User-Agent` header keeps it.
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// How long an idle pooled connection is kept for reuse (default 10 s).
    ///
    /// The default is shorter than the ~15 s idle cutoff of common load
    /// balancers, so a connection the server side already dropped is rarely
    /// picked from the pool.
    pub fn pool_idle_timeout(mut self, timeout: Duration) -> Self {
        self.pool_idle_timeout = Some(timeout);
        self
    }

    /// Keeps idle connections until the server closes them.
    pub fn no_pool_idle_timeout(mut self) -> Self {
        self.pool_idle_timeout = None;
        self
    }

    /// Maximum number of idle connections kept per host (default unlimited).
    /// `0` disables connection reuse.
    pub fn pool_max_idle_per_host(mut self, max: usize) -> Self {
        self.pool_max_idle_per_host = max;
        self
    }

    /// Maximum number of redirects followed for one request (default 5; with
    /// `0`, every 3xx response is returned as it is).
    ///
    /// Only redirects to the same origin (scheme, host and port) are followed,
    /// so request headers, which may carry credentials, never reach another
    /// host. A redirect to another origin is returned as the 3xx response
    /// itself, for the caller to judge. More than `max` redirects fail with
    /// [`TransportError::InvalidResponse`].
    pub fn max_redirects(mut self, max: usize) -> Self {
        self.max_redirects = max;
        self
    }

    /// At most this many response headers on HTTP/1 (more fail with
    /// [`TransportError::InvalidResponse`]).
    pub fn max_headers(mut self, max: usize) -> Self {
        self.max_headers = max.max(1);
        self
    }

    /// At most this many bytes of response headers on HTTP/2.
    pub fn max_header_list_bytes(mut self, max: u32) -> Self {
        self.max_header_list_bytes = max.max(1024);
        self
    }

    /// Trusts the certificates of this PEM bundle as roots, in addition to
    /// the platform's (or instead of them, with
    /// [`platform_roots(false)`](Self::platform_roots)): a private CA.
    pub fn add_root_certificates_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.extra_roots.push(PemSource::Bytes(pem.into()));
        self
    }

    /// Trusts the certificates of this PEM file as roots (read by
    /// [`build`](Self::build)); see [`add_root_certificates_pem`](Self::add_root_certificates_pem).
    pub fn add_root_certificates_pem_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.extra_roots.push(PemSource::File(path.into()));
        self
    }

    /// Whether the platform's trusted roots are used (default `true`). With
    /// `false`, only the roots added with
    /// [`add_root_certificates_pem`](Self::add_root_certificates_pem) are
    /// trusted (and [`build`](Self::build) fails when none were).
    pub fn platform_roots(mut self, enabled: bool) -> Self {
        self.platform_roots = enabled;
        self
    }

    /// Presents this client certificate to servers that ask for one (mutual TLS).
    pub fn client_identity(mut self, identity: ClientIdentity) -> Self {
        self.identity = Some(identity);
        self
    }

    /// Sends requests through this proxy (except to its
    /// [`no_proxy`](ProxyConfig::no_proxy) hosts). Several proxies are tried
    /// in the order given, the first that applies wins. An explicit proxy
    /// turns off the proxy environment variables.
    pub fn proxy(mut self, proxy: ProxyConfig) -> Self {
        self.proxies.push(proxy);
        self
    }

    /// Whether `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY` and `NO_PROXY` (or
    /// their lowercase forms) are honoured when no explicit
    /// [`proxy`](Self::proxy) is set (default `true`, as curl and most HTTP
    /// clients do, so a connector works behind a corporate egress proxy
    /// without code changes). `false` connects directly whatever the
    /// environment says.
    pub fn proxy_from_env(mut self, enabled: bool) -> Self {
        self.proxy_from_env = enabled;
        self
    }

    /// Signs every request with `signer`, once per attempt, after every
    /// other header is set (see [`Signer`]).
    pub fn signer(mut self, signer: impl Signer + 'static) -> Self {
        self.signer = Some(Arc::new(signer));
        self
    }

    /// Speaks only HTTP/1.1 (default `false`: HTTP/2 is used when the
    /// server offers it during the TLS handshake, ALPN, and then concurrent
    /// requests to one host share one connection).
    pub fn http1_only(mut self, enabled: bool) -> Self {
        self.http1_only = enabled;
        self
    }

    /// Applies the TLS, proxy and protocol settings to the reqwest builder.
    fn apply_enterprise(
        &self,
        mut client: reqwest::ClientBuilder,
    ) -> Result<reqwest::ClientBuilder, BuildError> {
        let mut roots = Vec::new();
        for source in &self.extra_roots {
            roots.extend(crate::tls::root_certificates(source)?);
        }
        if self.platform_roots {
            if !roots.is_empty() {
                client = client.tls_certs_merge(roots);
            }
        } else {
            if roots.is_empty() {
                return Err(BuildError::Certificate {
                    origin: "<none>".to_owned(),
                    reason: "platform roots are off and no root certificate was added".to_owned(),
                });
            }
            client = client.tls_certs_only(roots);
        }
        if let Some(identity) = &self.identity {
            client = client.identity(identity.to_reqwest()?);
        }
        if self.proxies.is_empty() {
            if !self.proxy_from_env {
                client = client.no_proxy();
            }
        } else {
            for proxy in &self.proxies {
                tracing::debug!(proxy = %proxy.masked_url(), no_proxy = ?proxy.no_proxy_hosts(), "using proxy");
                client = client.proxy(proxy.to_reqwest()?);
            }
        }
        if self.http1_only {
            client = client.http1_only();
        }
        Ok(client)
    }

    /// Builds the transport and its connection pool.
    pub fn build(self) -> Result<ReqwestTransport, BuildError> {
        for (name, value) in [
            ("connect timeout", Some(self.connect_timeout)),
            ("read timeout", Some(self.read_timeout)),
            ("request timeout", self.request_timeout),
        ] {
            if value == Some(Duration::ZERO) {
                return Err(BuildError::ZeroTimeout { name });
            }
        }
        let user_agent =
            HeaderValue::from_str(&self.user_agent).map_err(|_| BuildError::InvalidUserAgent {
                value: self.user_agent.clone(),
            })?;
        let max_redirects = self.max_redirects;
        let client = reqwest::Client::builder()
            .user_agent(user_agent.clone())
            .connect_timeout(self.connect_timeout)
            .read_timeout(self.read_timeout)
            .pool_idle_timeout(self.pool_idle_timeout)
            .pool_max_idle_per_host(self.pool_max_idle_per_host)
            // The Referer of a redirect would copy the previous URL, query
            // string (and any API key in it) included, to the next hop.
            .referer(false)
            // Bounds on what a hostile server can make us buffer before the
            // body: header count on HTTP/1 (hyper also caps the whole head at
            // ~400 KiB) and the header list size on HTTP/2.
            .http1_max_headers(self.max_headers)
            .http2_max_header_list_size(self.max_header_list_bytes)
            .redirect(reqwest::redirect::Policy::custom(move |attempt| {
                redirect_action(attempt, max_redirects)
            }));
        let client = self
            .apply_enterprise(client)?
            .build()
            .map_err(BuildError::Client)?;
        Ok(ReqwestTransport {
            client,
            connect_timeout: self.connect_timeout,
            read_timeout: self.read_timeout,
            request_timeout: self.request_timeout,
            max_body_bytes: self.max_body_bytes,
            signer: self.signer,
            user_agent,
            proxy_secrets: self
                .proxies
                .iter()
                .flat_map(ProxyConfig::secret_texts)
                .collect::<Vec<_>>()
                .into(),
        })
    }
}

/// More redirects than allowed.
#[derive(Debug)]
struct TooManyRedirects(usize);

impl fmt::Display for TooManyRedirects {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "more than {} redirects", self.0)
    }
}

impl StdError for TooManyRedirects {}

fn redirect_action(
    attempt: reqwest::redirect::Attempt<'_>,
    max: usize,
) -> reqwest::redirect::Action {
    let same_origin = attempt
        .previous()
        .last()
        .is_some_and(|prev| prev.origin() == attempt.url().origin());
    if max == 0 || !same_origin {
        tracing::debug!(
            to = %MaskedUrl::new(attempt.url()),
            same_origin,
            "not following redirect"
        );
        attempt.stop()
    } else if attempt.previous().len() > max {
        attempt.error(TooManyRedirects(max))
    } else {
        attempt.follow()
    }
}

/// haul's default [`Transport`]: one pooled `reqwest::Client` (rustls, HTTP/1.1
/// and HTTP/2, transparent gzip/deflate/brotli decompression) with connect,
/// read and whole-request timeouts and a body-size limit.
///
/// Build it once per run and share it: cloning is cheap and clones share the
/// connection pool.
///
/// ```no_run
/// use haul_transport::{ReqwestTransport, Transport};
/// use haul_core::Request;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let transport = ReqwestTransport::new()?;
/// let response = transport.send(&Request::get("https://api.example.com/items".parse()?)).await?;
/// assert!(response.status.is_success());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ReqwestTransport {
    client: reqwest::Client,
    connect_timeout: Duration,
    read_timeout: Duration,
    request_timeout: Option<Duration>,
    max_body_bytes: u64,
    signer: Option<Arc<dyn Signer>>,
    user_agent: HeaderValue,
    /// Proxy passwords (as typed and percent-encoded), scrubbed from error text.
    proxy_secrets: Arc<[String]>,
}

impl fmt::Debug for ReqwestTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReqwestTransport")
            .field("connect_timeout", &self.connect_timeout)
            .field("read_timeout", &self.read_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("signer", &self.signer)
            .finish_non_exhaustive()
    }
}

impl ReqwestTransport {
    /// A builder with the default settings (see [`ReqwestTransportBuilder`]).
    pub fn builder() -> ReqwestTransportBuilder {
        ReqwestTransportBuilder::default()
    }

    /// A transport with the default settings.
    pub fn new() -> Result<Self, BuildError> {
        Self::builder().build()
    }

    /// The largest response body accepted, in decompressed bytes.
    pub fn max_body_bytes(&self) -> u64 {
        self.max_body_bytes
    }

    /// The whole-request deadline, if any.
    pub fn request_timeout(&self) -> Option<Duration> {
        self.request_timeout
    }

    /// Sends the request and reads the whole body, without the total deadline.
    async fn exchange(
        &self,
        request: &Request,
        url: &MaskedUrl,
        started: Instant,
    ) -> Result<Response, TransportError> {
        let mut headers = request.headers.clone();
        if let Some(signer) = &self.signer {
            // The signer sees the User-Agent the client would add after it.
            if !headers.contains_key(http::header::USER_AGENT) {
                headers.insert(http::header::USER_AGENT, self.user_agent.clone());
            }
            let body = request.body.as_deref().unwrap_or_default();
            let mut signing =
                SigningRequest::new(&request.method, &request.url, &mut headers, body);
            signer
                .sign(&mut signing)
                .map_err(|err| TransportError::Auth {
                    url: url.clone(),
                    reason: format!("could not sign the request: {err}"),
                })?;
        }
        let mut builder = self
            .client
            .request(request.method.clone(), request.url.clone())
            .headers(headers);
        if let Some(body) = &request.body {
            builder = builder.body(body.clone());
        }
        let mut response = builder
            .send()
            .await
            .map_err(|e| self.map_error(e, Stage::Send, request, url))?;

        let status = response.status();
        let final_url = response.url().clone();
        // Decompressed responses report no length, so this only trusts an
        // uncompressed body's announced size.
        let announced = response.content_length();
        if announced.is_some_and(|len| len > self.max_body_bytes) {
            return Err(self.too_large(url));
        }
        let headers = std::mem::take(response.headers_mut());

        let mut body = BodyBuffer::new(announced);
        let mut total: u64 = 0;
        loop {
            let chunk = response
                .chunk()
                .await
                .map_err(|e| self.map_error(e, Stage::Body, request, url))?;
            let Some(chunk) = chunk else { break };
            total = total.saturating_add(chunk.len() as u64);
            if total > self.max_body_bytes {
                return Err(self.too_large(url));
            }
            body.push(chunk);
        }

        Ok(Response {
            status,
            headers,
            body: body.finish(),
            url: final_url,
            elapsed: started.elapsed(),
        })
    }

    fn too_large(&self, url: &MaskedUrl) -> TransportError {
        TransportError::BodyTooLarge {
            url: url.clone(),
            limit: self.max_body_bytes,
        }
    }

    fn map_error(
        &self,
        err: reqwest::Error,
        stage: Stage,
        request: &Request,
        url: &MaskedUrl,
    ) -> TransportError {
        // reqwest's own message names the raw URL: drop it before rendering.
        let err = err.without_url();
        let facts = Facts {
            timeout: err.is_timeout(),
            connect: err.is_connect(),
            builder: err.is_builder(),
            redirect: err.is_redirect(),
        };
        let class = classify(facts, stage, &err);
        let mut reason = scrub(&describe(&err), request);
        for secret in self.proxy_secrets.iter() {
            reason = reason.replace(secret.as_str(), haul_core::redact::MASK);
        }
        let url = url.clone();
        // A proxy answering 407 to CONNECT: its credentials are missing or
        // wrong, which no retry fixes.
        if reason.contains("proxy authorization required") {
            return TransportError::Auth {
                url,
                reason: format!(
                    "the proxy refused the request (407 Proxy Authentication Required): {reason}"
                ),
            };
        }
        if class == Class::Tls
            && let Some(check) = crate::tls::certificate_failure(&err)
        {
            return TransportError::Certificate {
                url,
                host: request.url.host_str().unwrap_or_default().to_owned(),
                check,
                reason,
            };
        }
        match class {
            Class::ConnectTimeout => TransportError::Timeout {
                url,
                phase: TimeoutPhase::Connect(self.connect_timeout),
            },
            Class::ReadTimeout => TransportError::Timeout {
                url,
                phase: TimeoutPhase::Read(self.read_timeout),
            },
            Class::Connect => TransportError::Connect { url, reason },
            Class::Tls => TransportError::Tls { url, reason },
            Class::Reset => TransportError::Reset { url, reason },
            Class::Truncated => TransportError::Truncated { url, reason },
            Class::Invalid => TransportError::InvalidResponse { url, reason },
        }
    }
}

#[async_trait]
impl Transport for ReqwestTransport {
    async fn send(&self, request: &Request) -> Result<Response, TransportError> {
        let url = request.masked_url();
        tracing::debug!(method = %request.method, url = %url, "sending request");
        let started = Instant::now();
        let exchange = self.exchange(request, &url, started);
        let result = match self.request_timeout {
            Some(limit) => tokio::time::timeout(limit, exchange)
                .await
                .unwrap_or_else(|_elapsed| {
                    Err(TransportError::Timeout {
                        url: url.clone(),
                        phase: TimeoutPhase::Total(limit),
                    })
                }),
            None => exchange.await,
        };
        match &result {
            Ok(response) => tracing::debug!(
                method = %request.method,
                url = %url,
                status = response.status.as_u16(),
                bytes = response.body.len(),
                elapsed_ms = response.elapsed.as_millis() as u64,
                "response received"
            ),
            Err(error) => tracing::debug!(
                method = %request.method,
                url = %url,
                elapsed_ms = started.elapsed().as_millis() as u64,
                %error,
                "request failed"
            ),
        }
        result
    }
}

/// Collects body chunks, copying only when there is more than one.
enum BodyBuffer {
    Empty { capacity: usize },
    One(Bytes, usize),
    Many(BytesMut),
}

impl BodyBuffer {
    fn new(announced: Option<u64>) -> Self {
        // `announced` is already known to be within the limit when present.
        let capacity = announced
            .and_then(|len| usize::try_from(len).ok())
            .unwrap_or(0);
        Self::Empty { capacity }
    }

    fn push(&mut self, chunk: Bytes) {
        if chunk.is_empty() {
            return;
        }
        *self = match std::mem::replace(self, Self::Empty { capacity: 0 }) {
            Self::Empty { capacity } => Self::One(chunk, capacity),
            Self::One(first, capacity) => {
                let mut buf = BytesMut::with_capacity(capacity.max(first.len() + chunk.len()));
                buf.extend_from_slice(&first);
                buf.extend_from_slice(&chunk);
                Self::Many(buf)
            }
            Self::Many(mut buf) => {
                buf.extend_from_slice(&chunk);
                Self::Many(buf)
            }
        };
    }

    fn finish(self) -> Bytes {
        match self {
            Self::Empty { .. } => Bytes::new(),
            Self::One(bytes, _) => bytes,
            Self::Many(buf) => buf.freeze(),
        }
    }
}

/// Where in the exchange an error happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Connecting, sending the request, or reading the response head.
    Send,
    /// Reading the response body.
    Body,
}

/// What reqwest itself says about an error.
#[derive(Debug, Clone, Copy, Default)]
struct Facts {
    timeout: bool,
    connect: bool,
    builder: bool,
    redirect: bool,
}

/// The [`TransportError`] variant an error maps to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    ConnectTimeout,
    ReadTimeout,
    Connect,
    Tls,
    Reset,
    Truncated,
    Invalid,
}

/// What the source chain of an error reveals.
#[derive(Debug, Clone, Copy, Default)]
struct Signals {
    timeout: bool,
    tls: bool,
    /// A fatal TLS alert or a refused certificate: a rustls error, or its
    /// text (tokio-rustls hands some of them over as plain messages).
    tls_fatal: bool,
    reset: bool,
    eof: bool,
    parse: bool,
    invalid_data: bool,
}

/// Text fragments of rustls / certificate failures (rustls errors reach us as
/// the payload of an `io::Error`, so their text is what is reliably visible).
const TLS_MARKERS: &[&str] = &[
    "rustls",
    "tls",
    "certificate",
    "handshake",
    "fatal alert",
    "corrupt message",
    "peer is incompatible",
    "peer misbehaved",
    "invalid dns name",
];

/// Text fragments of rustls failures that no retry can fix (a fatal alert
/// from the peer, a refused certificate), even when they arrive as a
/// "connection error" after the handshake.
const TLS_FATAL_MARKERS: &[&str] = &["received fatal alert", "invalid peer certificate"];

/// Text fragments of a connection torn down under us.
const RESET_MARKERS: &[&str] = &[
    "connection reset",
    "connection aborted",
    "broken pipe",
    "stream error",
    "connection error",
    "go away",
    "goaway",
];

/// Text fragments of a message that ended early.
const EOF_MARKERS: &[&str] = &[
    "unexpected eof",
    "end of file before message length reached",
    "connection closed before message completed",
    "incomplete",
];

fn contains_any(text: &str, markers: &[&str]) -> bool {
    markers.iter().any(|m| text.contains(m))
}

/// Walks the `source()` chain of `err` (including the payloads of `io::Error`s,
/// which `io::Error::source` skips) and collects what it reveals.
fn signals(err: &(dyn StdError + 'static)) -> Signals {
    let mut s = Signals::default();
    let mut next = Some(err);
    while let Some(e) = next {
        inspect(e, &mut s);
        if let Some(io) = e.downcast_ref::<io::Error>()
            && let Some(inner) = io.get_ref()
        {
            inspect(inner, &mut s);
        }
        next = e.source();
    }
    s
}

fn inspect(e: &(dyn StdError + 'static), s: &mut Signals) {
    if let Some(io) = e.downcast_ref::<io::Error>() {
        match io.kind() {
            io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::NotConnected => s.reset = true,
            io::ErrorKind::UnexpectedEof => s.eof = true,
            io::ErrorKind::TimedOut => s.timeout = true,
            io::ErrorKind::InvalidData => s.invalid_data = true,
            _ => {}
        }
    }
    if let Some(h) = e.downcast_ref::<hyper::Error>() {
        if h.is_incomplete_message() {
            s.eof = true;
        }
        if h.is_parse() || h.is_parse_status() || h.is_parse_too_large() {
            s.parse = true;
        }
        if h.is_canceled() || h.is_closed() || h.is_body_write_aborted() {
            s.reset = true;
        }
        if h.is_timeout() {
            s.timeout = true;
        }
    }
    let text = e.to_string().to_ascii_lowercase();
    s.tls_fatal |= e.is::<rustls::Error>() || contains_any(&text, TLS_FATAL_MARKERS);
    s.tls |= contains_any(&text, TLS_MARKERS);
    s.reset |= contains_any(&text, RESET_MARKERS);
    s.eof |= contains_any(&text, EOF_MARKERS);
}

/// Maps an error to the [`TransportError`] variant it stands for.
///
/// Rules, first match wins:
/// 1. a timeout during connect → `Timeout{Connect}`; any other timeout → `Timeout{Read}`
///    (the whole-request deadline is enforced outside reqwest and never gets here);
/// 2. a connect failure → `Tls` when the chain shows a TLS / certificate
///    failure, else `Connect` (DNS, refused, unreachable);
/// 3. a request that could not be built (bad scheme, bad header) → `InvalidResponse`;
///    a rustls error in the chain (a fatal alert, a refused certificate) → `Tls`;
/// 4. a connection reset / aborted / broken pipe → `Reset`;
/// 5. an early end of the message → `Truncated` while reading the body, `Reset`
///    before the response head was complete;
/// 6. a TLS failure after connecting → `Tls`;
/// 7. unparsable HTTP, undecodable content (bad gzip), too many redirects → `InvalidResponse`;
/// 8. anything else that broke the exchange after connecting → `Reset`.
fn classify(facts: Facts, stage: Stage, err: &(dyn StdError + 'static)) -> Class {
    let s = signals(err);
    if facts.timeout || s.timeout {
        return if facts.connect {
            Class::ConnectTimeout
        } else {
            Class::ReadTimeout
        };
    }
    if facts.connect {
        return if s.tls { Class::Tls } else { Class::Connect };
    }
    if facts.builder {
        return Class::Invalid;
    }
    // A TLS alert after the handshake (a server refusing our client
    // certificate under TLS 1.3) reaches us as a "connection error" but
    // retrying cannot help.
    if s.tls_fatal {
        return Class::Tls;
    }
    // Before TLS: rustls reports a peer that closed without `close_notify`
    // as an early EOF whose text mentions TLS, and that is a cut connection.
    if s.reset {
        return Class::Reset;
    }
    if s.eof {
        return match stage {
            Stage::Body => Class::Truncated,
            Stage::Send => Class::Reset,
        };
    }
    if s.tls {
        return Class::Tls;
    }
    if s.parse || s.invalid_data || facts.redirect {
        return Class::Invalid;
    }
    Class::Reset
}

/// The messages of an error and its sources, joined with `": "`.
///
/// reqwest's own layers only name their kind ("error sending request",
/// "error decoding response body" for any body failure), which is misleading
/// next to the variant, so they are left out when something more specific follows.
fn describe(err: &(dyn StdError + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(err);
    while let Some(e) = next {
        next = e.source();
        if next.is_some() && e.is::<reqwest::Error>() {
            continue;
        }
        let text = e.to_string();
        // Wrappers often repeat their source's message; keep it once.
        if !text.is_empty() && !parts.last().is_some_and(|last| last.contains(&text)) {
            parts.push(text);
        }
    }
    parts.join(": ")
}

/// Replaces the raw URL and any sensitive query value of `request` in `text`.
fn scrub(text: &str, request: &Request) -> String {
    let mut out = text.replace(request.url.as_str(), request.masked_url().as_str());
    for (name, value) in request.url.query_pairs() {
        if request.is_secret_param(&name) && value.len() >= 3 {
            out = out.replace(value.as_ref(), haul_core::redact::MASK);
        }
    }
    if let Some(password) = request.url.password()
        && password.len() >= 3
    {
        out = out.replace(password, haul_core::redact::MASK);
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    /// An error with a message and an optional source, to build chains.
    #[derive(Debug)]
    struct Chain(&'static str, Option<Box<dyn StdError + Send + Sync>>);

    impl fmt::Display for Chain {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
    }

    impl StdError for Chain {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            self.1.as_deref().map(|e| e as _)
        }
    }

    fn wrap(msg: &'static str, inner: impl StdError + Send + Sync + 'static) -> Chain {
        Chain(msg, Some(Box::new(inner)))
    }

    fn io(kind: io::ErrorKind, msg: &'static str) -> io::Error {
        io::Error::new(kind, msg)
    }

    fn body(err: &(dyn StdError + 'static)) -> Class {
        classify(Facts::default(), Stage::Body, err)
    }

    fn send(err: &(dyn StdError + 'static)) -> Class {
        classify(Facts::default(), Stage::Send, err)
    }

    #[test]
    fn timeouts_split_by_connect() {
        let e = Chain("operation timed out", None);
        let connect = Facts {
            timeout: true,
            connect: true,
            ..Facts::default()
        };
        let read = Facts {
            timeout: true,
            ..Facts::default()
        };
        assert_eq!(classify(connect, Stage::Send, &e), Class::ConnectTimeout);
        assert_eq!(classify(read, Stage::Send, &e), Class::ReadTimeout);
        assert_eq!(classify(read, Stage::Body, &e), Class::ReadTimeout);
        // An io TimedOut deep in the chain counts even if reqwest missed it.
        let deep = wrap("body error", io(io::ErrorKind::TimedOut, "timed out"));
        assert_eq!(body(&deep), Class::ReadTimeout);
    }

    #[test]
    fn tls_wins_over_connect() {
        let e = wrap(
            "client error (Connect)",
            io(
                io::ErrorKind::InvalidData,
                "invalid peer certificate: UnknownIssuer",
            ),
        );
        let connect = Facts {
            connect: true,
            ..Facts::default()
        };
        assert_eq!(classify(connect, Stage::Send, &e), Class::Tls);
        let refused = wrap(
            "client error (Connect)",
            io(io::ErrorKind::ConnectionRefused, "connection refused"),
        );
        assert_eq!(classify(connect, Stage::Send, &refused), Class::Connect);
    }

    #[test]
    fn rustls_alerts_after_connecting_are_tls_not_resets() {
        // As hyper reports a server refusing our client certificate (TLS 1.3).
        let e = wrap(
            "connection error",
            io::Error::new(
                io::ErrorKind::InvalidData,
                rustls::Error::AlertReceived(rustls::AlertDescription::CertificateRequired),
            ),
        );
        assert_eq!(send(&e), Class::Tls);
        assert_eq!(body(&e), Class::Tls);
        // The same, as tokio-rustls actually delivers it: a message only.
        let text = wrap(
            "connection error",
            io(
                io::ErrorKind::InvalidData,
                "received fatal alert: CertificateRequired",
            ),
        );
        assert_eq!(send(&text), Class::Tls);
    }

    #[test]
    fn resets_and_truncations() {
        let reset = wrap(
            "error reading a body from connection",
            io(io::ErrorKind::ConnectionReset, "peer reset"),
        );
        assert_eq!(body(&reset), Class::Reset);
        assert_eq!(send(&reset), Class::Reset);
        let pipe = io(io::ErrorKind::BrokenPipe, "pipe");
        assert_eq!(send(&pipe), Class::Reset);

        let eof = wrap(
            "error reading a body from connection",
            io(
                io::ErrorKind::UnexpectedEof,
                "end of file before message length reached",
            ),
        );
        assert_eq!(body(&eof), Class::Truncated);
        // Before the head is complete, an early close is a broken connection.
        assert_eq!(send(&eof), Class::Reset);
        let text_only = Chain("connection closed before message completed", None);
        assert_eq!(body(&text_only), Class::Truncated);
    }

    #[test]
    fn invalid_content_and_builder_errors() {
        let gzip = wrap(
            "error decoding response body",
            io(io::ErrorKind::InvalidData, "invalid gzip header"),
        );
        assert_eq!(body(&gzip), Class::Invalid);
        let builder = Facts {
            builder: true,
            ..Facts::default()
        };
        assert_eq!(
            classify(
                builder,
                Stage::Send,
                &Chain("URL scheme is not allowed", None)
            ),
            Class::Invalid
        );
        let redirect = Facts {
            redirect: true,
            ..Facts::default()
        };
        assert_eq!(
            classify(
                redirect,
                Stage::Send,
                &Chain("more than 10 redirects", None)
            ),
            Class::Invalid
        );
        // Unknown failures after connecting are treated as a broken connection.
        assert_eq!(send(&Chain("something odd", None)), Class::Reset);
    }

    #[test]
    fn io_payload_is_inspected() {
        // `io::Error::source` skips its payload; the walk must not.
        let payload = Chain(
            "opaque",
            Some(Box::new(Chain(
                "received fatal alert: BadCertificate",
                None,
            ))),
        );
        let e = io::Error::other(payload);
        assert_eq!(send(&e), Class::Tls);
    }

    #[test]
    fn describe_joins_and_dedupes() {
        let e = wrap(
            "error sending request",
            wrap(
                "tcp connect error: refused",
                io(io::ErrorKind::Other, "refused"),
            ),
        );
        assert_eq!(
            describe(&e),
            "error sending request: tcp connect error: refused"
        );
    }

    #[test]
    fn scrub_removes_secrets() {
        let req = Request::get(
            url::Url::parse("https://u:hunter2@h.example/p?api_key=SECRET&page=2").unwrap(),
        );
        let text = format!("failed for {} with SECRET and hunter2", req.url);
        let out = scrub(&text, &req);
        assert!(!out.contains("SECRET"), "{out}");
        assert!(!out.contains("hunter2"), "{out}");
        assert!(out.contains("page=2"), "{out}");
    }

    #[test]
    fn body_buffer_avoids_copies_for_one_chunk() {
        let mut b = BodyBuffer::new(Some(10));
        let chunk = Bytes::from_static(b"hello");
        b.push(chunk.clone());
        let out = b.finish();
        assert_eq!(out.as_ptr(), chunk.as_ptr());
        let mut b = BodyBuffer::new(None);
        b.push(Bytes::from_static(b"ab"));
        b.push(Bytes::new());
        b.push(Bytes::from_static(b"cd"));
        b.push(Bytes::from_static(b"e"));
        assert_eq!(&b.finish()[..], b"abcde");
    }

    #[test]
    fn builder_rejects_bad_settings() {
        let zero = ReqwestTransport::builder()
            .read_timeout(Duration::ZERO)
            .build();
        assert!(matches!(
            zero,
            Err(BuildError::ZeroTimeout {
                name: "read timeout"
            })
        ));
        let ua = ReqwestTransport::builder().user_agent("bad\nagent").build();
        assert!(matches!(ua, Err(BuildError::InvalidUserAgent { .. })));
    }

    #[test]
    fn default_user_agent_names_the_version() {
        assert_eq!(default_user_agent(), "haul/0.1.0");
    }
}
