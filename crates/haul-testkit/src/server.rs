//! The fake API server: a builder, and a handle to the running server.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;
use url::Url;

use crate::auth::{AuthRequirement, OAuthClient, TokenStore};
use crate::dataset::{Dataset, Mutation};
use crate::faults::Faults;
use crate::live::LiveData;
use crate::ratelimit::{RateLimit, RateWindow};
use crate::routes;
use crate::seen::{RequestLog, SeenRequest};
use crate::stats::{Counters, Stats};
use crate::throttle::{Throttle, ThrottleHandle, ThrottleWindow};
use crate::tls::ServerTls;
use crate::tree::OrgTree;

/// How long [`RunningServer::shutdown`] lets in-flight requests finish
/// before cutting their connections.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// What every connection task shares.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) data: LiveData,
    /// The parent/child API's data (empty unless configured).
    pub(crate) tree: OrgTree,
    pub(crate) default_page_size: usize,
    pub(crate) max_page_size: usize,
    /// Where absolute links point: `http://127.0.0.1:<port>/`, or the
    /// configured link base.
    pub(crate) link_base: Url,
    pub(crate) faults: Option<Faults>,
    pub(crate) rate_limit: Option<RateWindow>,
    pub(crate) throttle: Option<Arc<ThrottleWindow>>,
    pub(crate) auth: Option<AuthRequirement>,
    pub(crate) tokens: TokenStore,
    pub(crate) log: RequestLog,
    pub(crate) counters: Counters,
    /// `(path, page)` of the `once` holes already served.
    pub(crate) holes_served: std::sync::Mutex<std::collections::HashSet<(String, usize)>>,
}

/// A deterministic fake HTTP API, configured and ready to [`start`](FakeApi::start).
///
/// It serves one [`Dataset`] in every pagination style real APIs use; see
/// the [crate docs](crate#endpoints) for the endpoints. Page sizes default
/// to [`default_page_size`](FakeApiBuilder::default_page_size) and are
/// clamped to [`max_page_size`](FakeApiBuilder::max_page_size). Optional
/// [`Faults`] and a [`RateLimit`] apply to the pagination endpoints only.
#[derive(Debug)]
pub struct FakeApi {
    config: FakeApiBuilder,
}

impl FakeApi {
    /// A builder with an empty dataset, a default page size of 100, a
    /// maximum page size of 1000, no faults and no rate limit.
    pub fn builder() -> FakeApiBuilder {
        FakeApiBuilder {
            dataset: Dataset::default(),
            org_tree: OrgTree::default(),
            default_page_size: 100,
            max_page_size: 1000,
            faults: None,
            rate_limit: None,
            throttle: None,
            auth: None,
            oauth_client: OAuthClient::default(),
            link_base: None,
            record_requests: false,
            port: 0,
            tls: None,
        }
    }

    /// Binds `127.0.0.1` (an ephemeral port unless [`FakeApiBuilder::port`]
    /// says otherwise) and serves on the current tokio runtime, one task
    /// per connection, with HTTP/1.1 keep-alive.
    ///
    /// # Panics
    ///
    /// Panics if called outside a tokio runtime.
    pub async fn start(self) -> std::io::Result<RunningServer> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, self.config.port)).await?;
        let addr = listener.local_addr()?;
        let config = self.config;
        let acceptor = config.tls.as_ref().map(ServerTls::acceptor).transpose()?;
        let scheme = if acceptor.is_some() { "https" } else { "http" };
        let base = Url::parse(&format!("{scheme}://{addr}/"))
            .map_err(|err| std::io::Error::other(format!("bad server url: {err}")))?;
        let link_base = config.link_base.clone().unwrap_or_else(|| base.clone());
        let auth = config.auth.as_ref();
        let log = RequestLog::new(
            config.record_requests,
            auth.and_then(AuthRequirement::header_name)
                .map(str::to_owned),
            auth.and_then(AuthRequirement::query_param)
                .map(str::to_owned),
        );
        let state = Arc::new(State {
            data: LiveData::new(config.dataset),
            tree: config.org_tree,
            default_page_size: config.default_page_size,
            max_page_size: config.max_page_size,
            link_base,
            faults: config.faults,
            rate_limit: config.rate_limit.map(RateWindow::new),
            throttle: config.throttle.map(|t| Arc::new(ThrottleWindow::new(t))),
            auth: config.auth,
            tokens: TokenStore::new(config.oauth_client),
            log,
            counters: Counters::default(),
            holes_served: std::sync::Mutex::default(),
        });
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(accept_loop(listener, acceptor, Arc::clone(&state), stopped));
        tracing::debug!(%addr, "fake api listening");
        Ok(RunningServer {
            addr,
            base,
            state,
            stop,
            task: Some(task),
        })
    }
}

/// Configures a [`FakeApi`].
#[derive(Debug)]
#[must_use]
pub struct FakeApiBuilder {
    dataset: Dataset,
    org_tree: OrgTree,
    default_page_size: usize,
    max_page_size: usize,
    faults: Option<Faults>,
    rate_limit: Option<RateLimit>,
    throttle: Option<Throttle>,
    auth: Option<AuthRequirement>,
    oauth_client: OAuthClient,
    link_base: Option<Url>,
    record_requests: bool,
    port: u16,
    tls: Option<ServerTls>,
}

impl FakeApiBuilder {
    /// Listens on this loopback port instead of an ephemeral one (so a
    /// resumed run finds the server where its checkpoint says).
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// The records every pagination endpoint serves.
    pub fn dataset(mut self, dataset: Dataset) -> Self {
        self.dataset = dataset;
        self
    }

    /// Serves this parent/child API too: `/orgs`, `/orgs/{org}/repos`,
    /// `/orgs/{org}/repos/{repo}/events` and `/audit-log` (see the
    /// [crate docs](crate#a-parentchild-api)).
    pub fn org_tree(mut self, tree: OrgTree) -> Self {
        self.org_tree = tree;
        self
    }

    /// The page size when a request has no `limit` (at least 1).
    pub fn default_page_size(mut self, size: usize) -> Self {
        self.default_page_size = size.max(1);
        self
    }

    /// The largest page served; larger `limit`s are clamped (at least 1).
    pub fn max_page_size(mut self, size: usize) -> Self {
        self.max_page_size = size.max(1);
        self
    }

    /// Injects seeded, reproducible faults into data requests.
    pub fn faults(mut self, faults: Faults) -> Self {
        self.faults = Some(faults);
        self
    }

    /// Limits data requests per window and advertises the limit in headers.
    pub fn rate_limit(mut self, rate_limit: RateLimit) -> Self {
        self.rate_limit = Some(rate_limit);
        self
    }

    /// Throttles data requests with a sliding window that advertises
    /// nothing (see [`Throttle`]); checked before the advertised rate limit.
    pub fn throttle(mut self, throttle: Throttle) -> Self {
        self.throttle = Some(throttle);
        self
    }

    /// Makes every pagination endpoint answer `401` to requests without
    /// these credentials (see [`AuthRequirement`]); checked before the rate
    /// limit and faults, and not counted as a data request.
    pub fn require_auth(mut self, requirement: AuthRequirement) -> Self {
        self.auth = Some(requirement);
        self
    }

    /// The client `POST /oauth/token` accepts and its token lifetime
    /// (default: [`OAuthClient::default`]).
    pub fn oauth_client(mut self, client: OAuthClient) -> Self {
        self.oauth_client = client;
        self
    }

    /// Makes the absolute links this server generates (`/next-url`'s
    /// `@odata.nextLink`, `/link`'s `Link` header) point to `base`'s scheme,
    /// host and port instead of this server's, keeping path and query: a
    /// next link to another origin, such as a trap server.
    pub fn link_base(mut self, base: Url) -> Self {
        self.link_base = Some(base);
        self
    }

    /// Keeps every request in [`RunningServer::seen_requests`], not only
    /// those carrying credentials.
    pub fn record_requests(mut self, all: bool) -> Self {
        self.record_requests = all;
        self
    }

    /// Serves HTTPS (rustls) with these settings instead of plain HTTP:
    /// [`RunningServer::url`] then gives `https://127.0.0.1:<port>/…` URLs,
    /// and HTTP/2 is served when the client picks it (ALPN).
    pub fn tls(mut self, tls: ServerTls) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Finishes the configuration; the default page size is clamped to the
    /// maximum.
    pub fn build(mut self) -> FakeApi {
        self.default_page_size = self.default_page_size.min(self.max_page_size);
        FakeApi { config: self }
    }
}

/// A started [`FakeApi`]. Dropping it stops the server abruptly;
/// [`shutdown`](RunningServer::shutdown) stops it gracefully.
#[derive(Debug)]
pub struct RunningServer {
    addr: SocketAddr,
    base: Url,
    state: Arc<State>,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl RunningServer {
    /// The bound address (`127.0.0.1:<port>`).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// An absolute URL on this server, e.g. `server.url("/items?limit=10")`.
    pub fn url(&self, path_and_query: &str) -> Url {
        let (rest, fragment) = match path_and_query.split_once('#') {
            Some((rest, fragment)) => (rest, Some(fragment)),
            None => (path_and_query, None),
        };
        let (path, query) = match rest.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (rest, None),
        };
        let mut url = self.base.clone();
        url.set_path(path);
        url.set_query(query);
        url.set_fragment(fragment);
        url
    }

    /// The parent/child API's data ([`FakeApiBuilder::org_tree`]).
    pub fn org_tree(&self) -> &OrgTree {
        &self.state.tree
    }

    /// A snapshot of the request counters.
    pub fn stats(&self) -> Stats {
        self.state.counters.snapshot()
    }

    /// The [`Throttle`]'s controls and counters, if one is configured.
    pub fn throttle(&self) -> Option<ThrottleHandle> {
        self.state.throttle.clone().map(ThrottleHandle)
    }

    /// The data served now: the configured [`Dataset`], or its latest
    /// [`mutate`](Self::mutate)d version.
    pub fn dataset(&self) -> Dataset {
        self.state.data.current().dataset.clone()
    }

    /// The records served now, in id order (a copy of
    /// [`dataset`](Self::dataset)`().records()`).
    pub fn current_records(&self) -> Vec<String> {
        self.state.data.current().dataset.records().to_vec()
    }

    /// Changes the data between two runs, as [`Dataset::mutated`] describes:
    /// about `update_fraction` of the records get new content and a later
    /// `updated_at`, and `add_count` records are appended. Requests already
    /// in flight finish on the previous version; cursors handed out before
    /// stay valid offsets into the new one.
    pub fn mutate(&self, seed: u64, update_fraction: f64, add_count: usize) -> Mutation {
        self.state
            .data
            .update(|current| current.mutated(seed, update_fraction, add_count))
    }

    /// Replaces the data served from now on.
    pub fn replace_dataset(&self, dataset: Dataset) {
        self.state.data.update(|_| (dataset, ()));
    }

    /// The requests that carried credentials (an `Authorization`,
    /// `Proxy-Authorization` or `Cookie` header, a header named like a key
    /// or token, a query parameter named like one, the configured API key,
    /// or a token request's client secret), in arrival order, with the raw
    /// values: a trap server should have none.
    pub fn seen_credentials(&self) -> Vec<SeenRequest> {
        self.state
            .log
            .requests()
            .into_iter()
            .filter(SeenRequest::carries_credentials)
            .collect()
    }

    /// Every request recorded: all of them with
    /// [`record_requests(true)`](FakeApiBuilder::record_requests), else
    /// those carrying credentials.
    pub fn seen_requests(&self) -> Vec<SeenRequest> {
        self.state.log.requests()
    }

    /// Every access token `POST /oauth/token` issued, in order.
    pub fn issued_tokens(&self) -> Vec<String> {
        self.state.tokens.issued()
    }

    /// Revokes every issued token, so the next request with one gets a
    /// `401` (forcing a client to refresh); returns how many had not expired.
    pub fn revoke_tokens(&self) -> usize {
        self.state.tokens.revoke_all(tokio::time::Instant::now())
    }

    /// Stops accepting connections, lets in-flight requests finish (for up
    /// to 5 seconds), closes idle keep-alive connections and waits for all
    /// of it.
    pub async fn shutdown(mut self) {
        // Ignored error: the accept loop already ended and dropped its receiver.
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take()
            && let Err(err) = task.await
        {
            tracing::warn!(%err, "fake api accept loop failed");
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            // The connection tasks live in the loop's JoinSet and go with it.
            task.abort();
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: Option<TlsAcceptor>,
    state: Arc<State>,
    mut stopped: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    // `stopped` is borrowed by `wait_for` inside the select; hand out clones of this one.
    let for_connections = stopped.clone();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    Counters::bump(&state.counters.connections, 1);
                    tracing::trace!(%peer, "fake api connection");
                    connections.spawn(serve(stream, acceptor.clone(), Arc::clone(&state), for_connections.clone()));
                }
                Err(err) => {
                    // Usually fd exhaustion; back off instead of spinning.
                    tracing::warn!(%err, "fake api accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            () = stop_requested(&mut stopped) => break,
        }
    }
    drop(listener);
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!("fake api connections outlived the shutdown grace period; aborting them");
    }
}

async fn serve(
    stream: TcpStream,
    acceptor: Option<TlsAcceptor>,
    state: Arc<State>,
    stopped: watch::Receiver<bool>,
) {
    if let Err(err) = stream.set_nodelay(true) {
        tracing::debug!(%err, "set_nodelay failed");
    }
    let Some(acceptor) = acceptor else {
        return serve_http(stream, false, state, stopped).await;
    };
    match acceptor.accept(stream).await {
        Ok(tls) => {
            let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
            serve_http(tls, h2, state, stopped).await;
        }
        // A client that refused our certificate, or that we refused.
        Err(err) => tracing::debug!(%err, "fake api TLS handshake failed"),
    }
}

/// Serves HTTP/1.1 with keep-alive, or HTTP/2 when `h2` (negotiated by ALPN).
async fn serve_http<I>(io: I, h2: bool, state: Arc<State>, mut stopped: watch::Receiver<bool>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |req| {
        let state = Arc::clone(&state);
        // An error makes hyper close the connection without a response.
        async move { routes::handle(req, &state).await }
    });
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().keep_alive(true);
    let builder = if h2 {
        builder.http2_only()
    } else {
        builder.http1_only()
    };
    let conn = builder.serve_connection(TokioIo::new(io), service);
    let mut conn = std::pin::pin!(conn);
    tokio::select! {
        result = conn.as_mut() => {
            if let Err(err) = result {
                tracing::debug!(%err, "fake api connection error");
            }
            return;
        }
        () = stop_requested(&mut stopped) => {}
    }
    conn.as_mut().graceful_shutdown();
    if let Err(err) = conn.await {
        tracing::debug!(%err, "fake api connection error during shutdown");
    }
}

/// Resolves once shutdown is requested, or the server handle is gone.
async fn stop_requested(stopped: &mut watch::Receiver<bool>) {
    // An error means the sender was dropped: stop as well. The returned guard
    // holds a lock, so drop it here rather than across an await.
    let _ = stopped.wait_for(|stop| *stop).await;
}
