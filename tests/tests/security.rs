//! Security end to end: credentials never leave their origin, never reach a
//! log line, an error, a report or a checkpoint; OAuth2 refreshes before
//! expiry and exactly once on a 401; `https` is required for credentials;
//! and every limit against a hostile server ends in its typed error.
//!
//! - **Trap server.** A second `FakeApi` on another loopback port receives
//!   the main server's next links (`link_base`) and a redirect; it must see
//!   no credential of any kind, while the main server sees them on every
//!   request (it answers 401 otherwise).
//! - **Log capture.** Runs at `trace` level with a `tracing-subscriber` fmt
//!   layer writing into a buffer, set as the default for the client's
//!   thread only: the fake servers run on their own runtime, on other
//!   threads, so their request logs (which print raw URLs) are not mixed in.
//! - **Limits.** Raw TCP servers send exactly the hostile bytes: a gzip
//!   bomb, a body dribbled one byte per second (on tokio's paused clock),
//!   too many or too large headers, a redirect loop.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::future::Future;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Duration;

use async_trait::async_trait;
use haul::core::http::{HeaderName, HeaderValue, StatusCode};
use haul::core::url::{Url, form_urlencoded};
use haul::core::{Position, Request, Response, Secret, TimeoutPhase, TransportError};
use haul::extractor::Event;
use haul::paginate::PaginateError;
use haul::retry::NoRetry;
use haul::transport::{
    ApiKey, Basic, Bearer, OAuth2ClientCredentials, ReqwestTransport, Transport,
};
use haul::{
    CursorPaginator, ExtractError, Extractor, ExtractorBuilder, FixedRate, JsonLinesSink,
    LinkHeaderPaginator, MemorySink, NextUrlPaginator, Observer, Paginator, RunSummary,
};
use haul_testkit::{AuthRequirement, Dataset, FakeApi, OAuthClient, RunningServer};

mod support;
use support::{fixed_server, head, raw_server, read_head};
use tokio::io::AsyncWriteExt;
use tracing_subscriber::fmt::MakeWriter;

const STREAM: &str = "items";
const PAGE: usize = 10;
/// Three pages of [`PAGE`].
const RECORDS: usize = 25;

const BEARER: &str = "bearer-SECRET-7c1e4b0d";
const HEADER_KEY: &str = "hdrkey-SECRET-52af90c1";
const QUERY_KEY: &str = "qrykey-SECRET-e03d17a8";
const BASIC_USER: &str = "haul-user";
const BASIC_PASSWORD: &str = "basicpw-SECRET-9b2c44f0";
const CLIENT_ID: &str = "haul-client";
const CLIENT_SECRET: &str = "client-SECRET-a4f8d2e6";

// ---------------------------------------------------------------------------
// credentials
// ---------------------------------------------------------------------------

/// The authentication kinds haul ships.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Bearer,
    ApiKeyHeader,
    ApiKeyQuery,
    Basic,
    OAuth2,
}

const KINDS: [Kind; 5] = [
    Kind::Bearer,
    Kind::ApiKeyHeader,
    Kind::ApiKeyQuery,
    Kind::Basic,
    Kind::OAuth2,
];

impl Kind {
    /// What the main server demands.
    fn requirement(self) -> AuthRequirement {
        match self {
            Kind::Bearer => AuthRequirement::Bearer(BEARER.into()),
            Kind::ApiKeyHeader => AuthRequirement::ApiKeyHeader {
                name: "x-api-key".into(),
                value: HEADER_KEY.into(),
            },
            Kind::ApiKeyQuery => AuthRequirement::ApiKeyQuery {
                name: "api_key".into(),
                value: QUERY_KEY.into(),
            },
            Kind::Basic => AuthRequirement::Basic {
                user: BASIC_USER.into(),
                password: BASIC_PASSWORD.into(),
            },
            Kind::OAuth2 => AuthRequirement::OAuth2,
        }
    }

    /// Configures the matching haul credentials (OAuth2 tokens come from
    /// `token_server`'s `POST /oauth/token`).
    fn apply(self, builder: ExtractorBuilder, token_server: &RunningServer) -> ExtractorBuilder {
        match self {
            Kind::Bearer => builder.auth(Bearer(Secret::new(BEARER))),
            Kind::ApiKeyHeader => builder.auth(ApiKey::header(
                HeaderName::from_static("x-api-key"),
                Secret::new(HEADER_KEY),
            )),
            Kind::ApiKeyQuery => builder.auth(ApiKey::query("api_key", Secret::new(QUERY_KEY))),
            Kind::Basic => builder.auth(Basic {
                user: BASIC_USER.into(),
                password: Secret::new(BASIC_PASSWORD),
            }),
            Kind::OAuth2 => builder.auth(oauth(token_server, CLIENT_SECRET)),
        }
    }

    /// Every form of this kind's secret that must not leak, including the
    /// Basic header's encoding and every token `token_server` issued so far.
    fn secrets(self, token_server: &RunningServer) -> Vec<String> {
        match self {
            Kind::Bearer => vec![BEARER.into()],
            Kind::ApiKeyHeader => vec![HEADER_KEY.into()],
            Kind::ApiKeyQuery => vec![QUERY_KEY.into()],
            Kind::Basic => vec![
                BASIC_PASSWORD.into(),
                base64(format!("{BASIC_USER}:{BASIC_PASSWORD}").as_bytes()),
            ],
            Kind::OAuth2 => {
                let mut all = vec![CLIENT_SECRET.to_owned()];
                all.extend(token_server.issued_tokens());
                all
            }
        }
    }
}

fn oauth(token_server: &RunningServer, client_secret: &str) -> OAuth2ClientCredentials {
    OAuth2ClientCredentials::new(
        token_server.url("/oauth/token"),
        CLIENT_ID,
        Secret::new(client_secret),
        Arc::new(ReqwestTransport::new().unwrap()),
    )
}

/// Standard base64, for the expected `Authorization: Basic` value.
fn base64(input: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            out.push(if i <= chunk.len() {
                char::from(TABLE[((n >> (18 - 6 * i)) & 63) as usize])
            } else {
                '='
            });
        }
    }
    out
}

/// `secret` as a log line, an error or a file could show it: verbatim,
/// base64 (padded and not, standard and URL-safe) and percent-encoded.
fn encodings(secret: &str) -> Vec<String> {
    let b64 = base64(secret.as_bytes());
    let unpadded = b64.trim_end_matches('=').to_owned();
    let url_safe = unpadded.replace('+', "-").replace('/', "_");
    let percent: String = form_urlencoded::byte_serialize(secret.as_bytes()).collect();
    let mut all = vec![secret.to_owned(), b64, unpadded, url_safe, percent];
    all.sort();
    all.dedup();
    all
}

fn assert_no_secret(what: &str, text: &str, secrets: &[String]) {
    for secret in secrets {
        assert!(
            !text.contains(secret.as_str()),
            "{what} contains the secret {secret:?}:\n{text}"
        );
    }
}

// ---------------------------------------------------------------------------
// servers
// ---------------------------------------------------------------------------

fn dataset() -> Dataset {
    Dataset::generate(11, RECORDS)
}

/// A fake API recording every request; `kind` makes its data endpoints
/// demand credentials, `link_base` points its absolute next links elsewhere.
async fn api(kind: Option<Kind>, link_base: Option<Url>) -> RunningServer {
    let mut builder = FakeApi::builder()
        .dataset(dataset())
        .default_page_size(PAGE)
        .record_requests(true)
        .oauth_client(OAuthClient::new(CLIENT_ID, CLIENT_SECRET));
    if let Some(kind) = kind {
        builder = builder.require_auth(kind.requirement());
    }
    if let Some(base) = link_base {
        builder = builder.link_base(base);
    }
    builder.build().start().await.unwrap()
}

/// `scheme://host:port` as `PaginateError::CrossOrigin` names it.
fn origin(server: &RunningServer) -> String {
    format!("http://127.0.0.1:{}", server.addr().port())
}

/// The trap saw requests, and none carried or contained a credential.
fn assert_trap_clean(trap: &RunningServer, secrets: &[String], context: &str) {
    let seen = trap.seen_requests();
    for request in &seen {
        assert!(
            !request.carries_credentials(),
            "{context}: the trap received credentials: {request:?}"
        );
        for secret in secrets {
            assert!(
                !request.contains(secret),
                "{context}: the trap received the secret {secret:?}: {request:?}"
            );
        }
        assert!(request.header("authorization").is_none(), "{context}");
        assert!(request.header("x-api-key").is_none(), "{context}");
        let query = request.query.as_deref().unwrap_or_default();
        assert!(
            form_urlencoded::parse(query.as_bytes()).all(|(k, _)| k != "api_key"),
            "{context}: {query}"
        );
    }
    assert!(trap.seen_credentials().is_empty(), "{context}");
}

// ---------------------------------------------------------------------------
// pagination styles that follow links
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    /// `@odata.nextLink`: an absolute URL (on the link base).
    NextUrl,
    /// A GitHub `Link` header: absolute URLs (on the link base).
    Link,
    /// `@odata.nextLink` as a path: resolves to the main server.
    RelativeNextUrl,
}

impl Style {
    fn path(self) -> &'static str {
        match self {
            Style::NextUrl => "/next-url?limit=10",
            Style::Link => "/link?per_page=10",
            Style::RelativeNextUrl => "/next-url?limit=10&relative=1",
        }
    }

    fn paginator(self) -> Box<dyn Paginator> {
        match self {
            Style::NextUrl | Style::RelativeNextUrl => {
                Box::new(NextUrlPaginator::new("/@odata.nextLink").records_at("/value"))
            }
            Style::Link => Box::new(LinkHeaderPaginator::new()),
        }
    }
}

fn extractor(
    kind: Kind,
    main: &RunningServer,
    path: &str,
    paginator: impl Paginator + 'static,
    allow_cross_origin: bool,
) -> Extractor {
    let builder = Extractor::builder()
        .url(main.url(path).as_str())
        .paginator(paginator)
        .allow_cross_origin(allow_cross_origin)
        .retry(NoRetry)
        .stream(STREAM);
    kind.apply(builder, main).build().unwrap()
}

// ---------------------------------------------------------------------------
// 1. the trap server
// ---------------------------------------------------------------------------

/// Next links to another origin are followed (when allowed) without any
/// credential; a relative next link keeps them; refused links name both
/// origins; a redirect to the trap is not followed at all.
async fn trap_server_gets_nothing(kind: Kind) {
    for style in [Style::NextUrl, Style::Link] {
        let context = format!("{kind:?} / {style:?} / cross-origin allowed");
        let trap = api(None, None).await;
        let main = api(Some(kind), Some(trap.url("/"))).await;
        let sink = MemorySink::new();
        let summary = extractor(kind, &main, style.path(), style.paginator(), true)
            .run(&sink)
            .await
            .unwrap_or_else(|e| panic!("{context}: {e}"));
        // Page 1 from the main server, pages 2 and 3 from the trap.
        assert_eq!(summary.records, RECORDS as u64, "{context}");
        assert_eq!(sink.records(STREAM).len(), RECORDS, "{context}");
        assert_eq!(main.stats().pages_served, 1, "{context}");
        assert_eq!(
            main.stats().unauthorized,
            0,
            "{context}: main got credentials"
        );
        assert_eq!(trap.stats().pages_served, 2, "{context}");
        let secrets = kind.secrets(&main);
        assert!(
            main.seen_credentials()
                .iter()
                .any(|r| secrets.iter().any(|s| r.contains(s))),
            "{context}: the main server saw no secret: {:?}",
            main.seen_requests()
        );
        assert_eq!(trap.seen_requests().len(), 2, "{context}");
        assert_trap_clean(&trap, &secrets, &context);

        // The default refuses the link, naming both origins, before sending it.
        let context = format!("{kind:?} / {style:?} / cross-origin refused");
        let trap = api(None, None).await;
        let main = api(Some(kind), Some(trap.url("/"))).await;
        let sink = MemorySink::new();
        let err = extractor(kind, &main, style.path(), style.paginator(), false)
            .run(&sink)
            .await
            .unwrap_err();
        match &err {
            ExtractError::Paginate(PaginateError::CrossOrigin { from, to }) => {
                assert_eq!(from, &origin(&main), "{context}");
                assert_eq!(to, &origin(&trap), "{context}");
                assert!(err.to_string().contains(from.as_str()), "{err}");
                assert!(err.to_string().contains(to.as_str()), "{err}");
            }
            other => panic!("{context}: expected CrossOrigin, got {other:?}"),
        }
        assert_eq!(
            sink.records(STREAM).len(),
            PAGE,
            "{context}: page 1 is kept"
        );
        assert_eq!(trap.stats().requests, 0, "{context}");
    }

    // A relative next link resolves to the main server: credentials on every page.
    let context = format!("{kind:?} / relative next URL");
    let trap = api(None, None).await;
    let main = api(Some(kind), Some(trap.url("/"))).await;
    let style = Style::RelativeNextUrl;
    let summary = extractor(kind, &main, style.path(), style.paginator(), true)
        .run(&MemorySink::new())
        .await
        .unwrap_or_else(|e| panic!("{context}: {e}"));
    assert_eq!(summary.records, RECORDS as u64, "{context}");
    assert_eq!(main.stats().pages_served, 3, "{context}");
    assert_eq!(main.stats().unauthorized, 0, "{context}");
    let secrets = kind.secrets(&main);
    let authed_pages = main
        .seen_credentials()
        .iter()
        .filter(|r| r.path == "/next-url" && secrets.iter().any(|s| r.contains(s)))
        .count();
    assert_eq!(authed_pages, 3, "{context}: {:?}", main.seen_requests());
    assert_eq!(trap.stats().requests, 0, "{context}");

    // A redirect to the trap: the transport returns the 3xx instead of
    // following it to another origin, so the trap sees nothing at all.
    let context = format!("{kind:?} / redirect");
    let trap = api(None, None).await;
    let main = api(Some(kind), Some(trap.url("/"))).await;
    let to: String =
        form_urlencoded::byte_serialize(trap.url("/items?limit=10").as_str().as_bytes()).collect();
    let err = extractor(
        kind,
        &main,
        &format!("/redirect?to={to}"),
        CursorPaginator::new("/next_cursor", "cursor").records_at("/data"),
        true,
    )
    .run(&MemorySink::new())
    .await
    .unwrap_err();
    assert!(
        matches!(&err, ExtractError::Http { status, attempts: 1, .. } if *status == StatusCode::FOUND),
        "{context}: {err:?}"
    );
    assert_eq!(main.stats().redirects, 1, "{context}");
    assert_eq!(trap.stats().requests, 0, "{context}");
    assert_trap_clean(&trap, &kind.secrets(&main), &context);
}

#[tokio::test]
async fn trap_server_gets_no_bearer_token() {
    trap_server_gets_nothing(Kind::Bearer).await;
}

#[tokio::test]
async fn trap_server_gets_no_api_key_header() {
    trap_server_gets_nothing(Kind::ApiKeyHeader).await;
}

#[tokio::test]
async fn trap_server_gets_no_api_key_query_parameter() {
    trap_server_gets_nothing(Kind::ApiKeyQuery).await;
}

#[tokio::test]
async fn trap_server_gets_no_basic_credentials() {
    trap_server_gets_nothing(Kind::Basic).await;
}

#[tokio::test]
async fn trap_server_gets_no_oauth2_token() {
    trap_server_gets_nothing(Kind::OAuth2).await;
}

/// Credentials put straight into the request template (a header, instead of
/// `.auth(..)`) are copied into every next request: with cross-origin links
/// allowed, they reach the trap.
#[tokio::test]
async fn credentials_in_the_request_template_do_not_follow_cross_origin_links() {
    let trap = api(None, None).await;
    let main = api(Some(Kind::Bearer), Some(trap.url("/"))).await;
    let request = Request::get(main.url(Style::NextUrl.path())).with_header(
        haul::core::http::header::AUTHORIZATION,
        HeaderValue::from_str(&format!("Bearer {BEARER}")).unwrap(),
    );
    Extractor::builder()
        .request(request)
        .paginator(Style::NextUrl.paginator())
        .allow_cross_origin(true)
        .retry(NoRetry)
        .build()
        .unwrap()
        .run(&MemorySink::new())
        .await
        .unwrap();
    assert_eq!(trap.stats().pages_served, 2);
    assert_trap_clean(&trap, &Kind::Bearer.secrets(&main), "template header");
}

// ---------------------------------------------------------------------------
// 2. log capture
// ---------------------------------------------------------------------------

/// A `MakeWriter` appending everything into one shared buffer.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Capture {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Capture {
    type Writer = Capture;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// Runs `fut` on a fresh current-thread runtime with a `trace`-level fmt
/// subscriber as this thread's default; returns its output and the log.
fn capture<T>(fut: impl Future<Output = T>) -> (T, String) {
    let buffer = Capture::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(buffer.clone())
        .finish();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let out = tracing::subscriber::with_default(subscriber, || runtime.block_on(fut));
    drop(runtime);
    (out, buffer.text())
}

/// A runtime of its own for the fake servers, so their logs stay out of the capture.
fn server_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

/// Records every event's `Debug`, and flips `committed` after the first batch.
#[derive(Clone, Default)]
struct Recorder {
    events: Arc<Mutex<Vec<String>>>,
    committed: Arc<AtomicBool>,
}

impl Observer for Recorder {
    fn on_event(&self, event: &Event<'_>) {
        self.events.lock().unwrap().push(format!("{event:?}"));
        if matches!(event, Event::BatchCommitted { .. }) {
            self.committed.store(true, Ordering::SeqCst);
        }
    }
}

/// Every file under `dir`, as text.
fn files_text(dir: &Path) -> String {
    let mut out = String::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.push_str(&files_text(&path));
        } else {
            out.push_str(&String::from_utf8_lossy(&std::fs::read(&path).unwrap()));
        }
    }
    out
}

/// Everything a run leaves behind that a human or a file could see.
#[derive(Default)]
struct Traces(Vec<(String, String)>);

impl Traces {
    fn add(&mut self, what: impl Into<String>, text: impl Into<String>) {
        self.0.push((what.into(), text.into()));
    }

    fn summary(&mut self, what: &str, summary: &RunSummary) {
        self.add(format!("{what}: summary Display"), summary.to_string());
        self.add(format!("{what}: summary Debug"), format!("{summary:?}"));
        self.add(
            format!("{what}: summary JSON"),
            serde_json::to_string(summary).unwrap(),
        );
    }

    fn error(&mut self, what: &str, error: &ExtractError) {
        self.add(format!("{what}: error Display"), error.to_string());
        self.add(format!("{what}: error Debug"), format!("{error:?}"));
        let mut source = std::error::Error::source(error);
        while let Some(inner) = source {
            self.add(format!("{what}: error source"), inner.to_string());
            source = inner.source();
        }
    }
}

/// One success, one 404, one 401 with a wrong credential and one failure
/// mid-run (a checkpoint at page 2) per kind, plus transport failures with
/// the key in the query (connection refused, request deadline), and a run
/// interrupted and resumed with the key in the configured URL: no secret
/// reaches the trace-level log, an error (`Display`, `Debug`, sources), an
/// event, a run summary (`Display`, `Debug`, JSON), or the sink's files.
#[test]
fn secrets_never_reach_logs_errors_reports_or_checkpoints() {
    const URL_KEY: &str = "urlkey-SECRET-3e9f1a";
    const WRONG_BEARER: &str = "wrong-SECRET-61c2d7";
    let servers = server_runtime();
    let bearer = servers.block_on(api(Some(Kind::Bearer), None));
    let header = servers.block_on(api(Some(Kind::ApiKeyHeader), None));
    let query = servers.block_on(api(Some(Kind::ApiKeyQuery), None));
    let basic = servers.block_on(api(Some(Kind::Basic), None));
    let oauth2 = servers.block_on(api(Some(Kind::OAuth2), None));
    let url_key = servers.block_on(
        FakeApi::builder()
            .dataset(dataset())
            .default_page_size(PAGE)
            .require_auth(AuthRequirement::ApiKeyQuery {
                name: "api_key".into(),
                value: URL_KEY.into(),
            })
            .build()
            .start(),
    );
    let url_key = url_key.unwrap();
    // A port with nothing listening (bound, then released).
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let dirs: Vec<tempfile::TempDir> = (0..8).map(|_| tempfile::tempdir().unwrap()).collect();
    let recorder = Recorder::default();

    let (traces, log) = capture(async {
        let mut traces = Traces::default();
        for (kind, server, dir) in [
            (Kind::Bearer, &bearer, &dirs[0]),
            (Kind::ApiKeyHeader, &header, &dirs[1]),
            (Kind::ApiKeyQuery, &query, &dirs[2]),
            (Kind::Basic, &basic, &dirs[3]),
            (Kind::OAuth2, &oauth2, &dirs[4]),
        ] {
            let name = format!("{kind:?}");
            let build = |path: &str| {
                kind.apply(
                    Extractor::builder()
                        .url(server.url(path).as_str())
                        .paginator(
                            CursorPaginator::new("/next_cursor", "cursor").records_at("/data"),
                        )
                        .retry(NoRetry)
                        .observer(recorder.clone())
                        .batch_size(PAGE)
                        .stream(STREAM),
                    server,
                )
                .build()
                .unwrap()
            };
            let extractor = build("/items?limit=10");
            traces.add(format!("{name}: extractor Debug"), format!("{extractor:?}"));
            let summary = extractor
                .run(&JsonLinesSink::new(dir.path()))
                .await
                .unwrap();
            assert_eq!(summary.records, RECORDS as u64, "{name}");
            traces.summary(&name, &summary);

            let err = build("/nope").run(&MemorySink::new()).await.unwrap_err();
            assert!(
                matches!(&err, ExtractError::Http { status, .. } if *status == StatusCode::NOT_FOUND),
                "{err:?}"
            );
            traces.error(&format!("{name} 404"), &err);

            // Fails at page 2 after page 1 was committed: a stored next request.
            let sink = MemorySink::new();
            let err = build("/items?limit=10&fail_at=2&fail_status=400")
                .run(&sink)
                .await
                .unwrap_err();
            assert!(
                matches!(&err, ExtractError::Http { status, .. } if *status == StatusCode::BAD_REQUEST),
                "{err:?}"
            );
            traces.error(&format!("{name} fail_at"), &err);
            let checkpoint = sink.checkpoint(STREAM).unwrap();
            assert!(
                matches!(checkpoint.position, Position::Next(_)),
                "{checkpoint:?}"
            );
            traces.add(
                format!("{name}: checkpoint"),
                serde_json::to_string(&checkpoint).unwrap(),
            );
        }

        // Wrong credentials: the server refuses what haul sent, and the
        // refused value must not be echoed anywhere either.
        let err = Extractor::builder()
            .url(bearer.url("/items").as_str())
            .paginator(CursorPaginator::new("/next_cursor", "cursor").records_at("/data"))
            .auth(Bearer(Secret::new(WRONG_BEARER)))
            .build()
            .unwrap()
            .run(&MemorySink::new())
            .await
            .unwrap_err();
        assert!(
            matches!(&err, ExtractError::Http { status, attempts: 1, .. } if *status == StatusCode::UNAUTHORIZED),
            "{err:?}"
        );
        traces.error("wrong bearer", &err);

        // OAuth2 with a wrong client secret: the token endpoint refuses.
        let err = Extractor::builder()
            .url(oauth2.url("/items").as_str())
            .paginator(CursorPaginator::new("/next_cursor", "cursor").records_at("/data"))
            .auth(oauth(&oauth2, WRONG_BEARER))
            .build()
            .unwrap()
            .run(&MemorySink::new())
            .await
            .unwrap_err();
        assert!(
            matches!(
                &err,
                ExtractError::Transport {
                    source: TransportError::Auth { .. },
                    ..
                }
            ),
            "{err:?}"
        );
        traces.error("wrong client secret", &err);

        // Transport failures with the key in the query.
        let refused = Extractor::builder()
            .url(format!("http://{closed}/items"))
            .paginator(CursorPaginator::new("/next_cursor", "cursor"))
            .auth(ApiKey::query("api_key", Secret::new(QUERY_KEY)))
            .retry(NoRetry)
            .build()
            .unwrap()
            .run(&MemorySink::new())
            .await
            .unwrap_err();
        assert!(
            matches!(
                &refused,
                ExtractError::Transport {
                    source: TransportError::Connect { .. },
                    ..
                }
            ),
            "{refused:?}"
        );
        traces.error("connection refused", &refused);
        let slow = Extractor::builder()
            .url(query.url("/slow?ms=5000").as_str())
            .paginator(CursorPaginator::new("/next_cursor", "cursor"))
            .transport(
                ReqwestTransport::builder()
                    .request_timeout(Duration::from_millis(200))
                    .build()
                    .unwrap(),
            )
            .auth(ApiKey::query("api_key", Secret::new(QUERY_KEY)))
            .retry(NoRetry)
            .build()
            .unwrap()
            .run(&MemorySink::new())
            .await
            .unwrap_err();
        assert!(
            matches!(
                &slow,
                ExtractError::Transport {
                    source: TransportError::Timeout {
                        phase: TimeoutPhase::Total(_),
                        ..
                    },
                    ..
                }
            ),
            "{slow:?}"
        );
        traces.error("request deadline", &slow);

        // The key in the configured URL itself: stopped once the first batch committed, the
        // stored next request has no key, and resuming re-adds it.
        let build = |observer: Recorder| {
            Extractor::builder()
                .url(
                    url_key
                        .url(&format!("/items?limit=10&api_key={URL_KEY}"))
                        .as_str(),
                )
                .paginator(CursorPaginator::new("/next_cursor", "cursor").records_at("/data"))
                .retry(NoRetry)
                .observer(observer)
                .batch_size(PAGE)
                .stream(STREAM)
                .build()
                .unwrap()
        };
        let stopper = Recorder::default();
        let committed = stopper.committed.clone();
        let sink = JsonLinesSink::new(dirs[5].path());
        let stop = std::future::poll_fn(move |_| {
            if committed.load(Ordering::SeqCst) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        });
        let err = build(stopper.clone())
            .run_until(&sink, stop)
            .await
            .unwrap_err();
        // The first batch commits while page 2 is fetched: the stop finds
        // page 2 in flight and finishes it.
        let stopped_after = match &err {
            ExtractError::Interrupted { pages, .. } => *pages,
            other => panic!("{other:?}"),
        };
        assert!((1..=2).contains(&stopped_after), "{err:?}");
        traces.error("interrupted", &err);
        if let ExtractError::Interrupted { summary, .. } = &err {
            traces.summary("interrupted", summary);
        }
        traces.add("interrupted: checkpoint files", files_text(dirs[5].path()));
        assert!(
            files_text(dirs[5].path()).contains("limit=10"),
            "a next request is stored"
        );
        let resumed = build(recorder.clone()).run(&sink).await.unwrap();
        assert_eq!(resumed.resumed_after_page, stopped_after);
        assert_eq!(
            resumed.records,
            RECORDS as u64 - stopped_after * PAGE as u64
        );
        traces.summary("resumed", &resumed);
        traces.add("stopper events", stopper.events.lock().unwrap().join("\n"));
        traces
    });

    let mut secrets: Vec<String> = [URL_KEY, WRONG_BEARER].map(str::to_owned).to_vec();
    for (kind, server) in [
        (Kind::Bearer, &bearer),
        (Kind::ApiKeyHeader, &header),
        (Kind::ApiKeyQuery, &query),
        (Kind::Basic, &basic),
        (Kind::OAuth2, &oauth2),
    ] {
        // The kind's server saw its credential: the runs above really sent it.
        let sent = kind.secrets(server);
        assert!(
            server
                .seen_credentials()
                .iter()
                .any(|seen| sent.iter().any(|secret| seen.contains(secret))),
            "{kind:?}: the server saw the credential"
        );
        secrets.extend(sent);
    }
    assert!(
        oauth2.issued_tokens().len() >= 3,
        "OAuth2 runs fetched tokens"
    );
    let secrets: Vec<String> = secrets.iter().flat_map(|s| encodings(s)).collect();

    // The capture worked: haul's own lines and the HTTP stack's are there.
    assert!(
        log.contains("sending request"),
        "haul's debug lines are captured:\n{log}"
    );
    assert!(log.contains("obtained an OAuth2 access token"), "{log}");
    assert!(log.contains("TRACE"), "trace-level lines are captured");
    assert!(
        log.contains("api_key=***"),
        "the masked key is what the log shows"
    );
    assert_no_secret("the trace-level log", &log, &secrets);
    for (what, text) in &traces.0 {
        assert_no_secret(what, text, &secrets);
    }
    assert_no_secret(
        "events",
        &recorder.events.lock().unwrap().join("\n"),
        &secrets,
    );
    for (i, dir) in dirs.iter().enumerate() {
        assert_no_secret(
            &format!("sink files {i}"),
            &files_text(dir.path()),
            &secrets,
        );
    }
    drop((bearer, header, query, basic, oauth2, url_key));
}

/// An API key in the query under a name outside the default sensitive list
/// (OpenWeatherMap's `appid`, say) must be masked as well: `ApiKey::query`
/// knows the name is a credential.
#[test]
fn api_key_query_names_outside_the_default_list_are_masked_too() {
    const APPID: &str = "appid-SECRET-0f5e2b";
    let servers = server_runtime();
    let server = servers
        .block_on(
            FakeApi::builder()
                .dataset(dataset())
                .default_page_size(PAGE)
                .require_auth(AuthRequirement::ApiKeyQuery {
                    name: "appid".into(),
                    value: APPID.into(),
                })
                .build()
                .start(),
        )
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ((summary, err), log) = capture(async {
        let build = |path: &str| {
            Extractor::builder()
                .url(server.url(path).as_str())
                .paginator(CursorPaginator::new("/next_cursor", "cursor").records_at("/data"))
                .auth(ApiKey::query("appid", Secret::new(APPID)))
                .retry(NoRetry)
                .build()
                .unwrap()
        };
        let summary = build("/items?limit=10")
            .run(&JsonLinesSink::new(dir.path()))
            .await
            .unwrap();
        let err = build("/nope").run(&MemorySink::new()).await.unwrap_err();
        (summary, err)
    });
    let secrets = [APPID.to_owned()];
    assert_eq!(summary.records, RECORDS as u64);
    assert_no_secret(
        "summary",
        &serde_json::to_string(&summary).unwrap(),
        &secrets,
    );
    assert_no_secret("sink files", &files_text(dir.path()), &secrets);
    assert_no_secret("error", &format!("{err} {err:?}"), &secrets);
    assert_no_secret("the trace-level log", &log, &secrets);
}

// ---------------------------------------------------------------------------
// 3. OAuth2 against the testkit's token endpoint
// ---------------------------------------------------------------------------

/// `RECORDS` records in pages of one: many requests.
async fn oauth_api(lifetime: Duration, records: usize) -> RunningServer {
    FakeApi::builder()
        .dataset(Dataset::generate(5, records))
        .default_page_size(1)
        .require_auth(AuthRequirement::OAuth2)
        .oauth_client(OAuthClient::new(CLIENT_ID, CLIENT_SECRET).expires_in(lifetime))
        .build()
        .start()
        .await
        .unwrap()
}

fn cursor_pages() -> CursorPaginator {
    CursorPaginator::new("/next_cursor", "cursor").records_at("/data")
}

#[tokio::test]
async fn oauth2_fetches_one_token_for_many_pages() {
    let server = oauth_api(Duration::from_secs(3600), 20).await;
    let summary = Extractor::builder()
        .url(server.url("/items").as_str())
        .paginator(cursor_pages())
        .auth(oauth(&server, CLIENT_SECRET))
        .build()
        .unwrap()
        .run(&MemorySink::new())
        .await
        .unwrap();
    assert_eq!(summary.pages, 20, "20 records in pages of one");
    let stats = server.stats();
    assert_eq!(stats.tokens_issued, 1);
    assert_eq!(stats.unauthorized, 0);
    assert_eq!(stats.token_errors, 0);
}

/// Pages 20 s apart (a paced limiter on tokio's paused clock), tokens valid
/// 65 s, refreshed 10 s early: new tokens at 0 s, 60 s, 120 s and 180 s, each
/// before the old one expired (no 401 ever). Without the skew the refreshes
/// would come at 80 s and 160 s, after expiry.
#[tokio::test(start_paused = true)]
async fn oauth2_refreshes_before_expiry_with_the_skew() {
    let server = oauth_api(Duration::from_secs(65), 10).await;
    let started = tokio::time::Instant::now();
    let summary = Extractor::builder()
        .url(server.url("/items").as_str())
        .paginator(cursor_pages())
        .rate_limiter(FixedRate::new(1, Duration::from_secs(20)))
        .auth(oauth(&server, CLIENT_SECRET).skew(Duration::from_secs(10)))
        .build()
        .unwrap()
        .run(&MemorySink::new())
        .await
        .unwrap();
    // 10 requests, at 0, 20, …, 180 s.
    assert_eq!(summary.requests, 10);
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(180) && took < Duration::from_secs(181),
        "{took:?}"
    );
    let stats = server.stats();
    assert_eq!(stats.unauthorized, 0, "every refresh came before expiry");
    assert_eq!(stats.tokens_issued, 4, "tokens at 0, 60, 120 and 180 s");
}

/// A token the server revokes mid-run: one 401, one refresh, the same
/// request retried once, and the run goes on.
#[tokio::test]
async fn oauth2_refreshes_once_on_a_401_and_continues() {
    use futures::StreamExt;
    let server = oauth_api(Duration::from_secs(3600), 5).await;
    let extractor = Extractor::builder()
        .url(server.url("/items").as_str())
        .paginator(cursor_pages())
        .auth(oauth(&server, CLIENT_SECRET))
        .retry(NoRetry)
        .build()
        .unwrap();
    let mut pages = Box::pin(extractor.pages());
    let first = pages.next().await.unwrap().unwrap();
    assert_eq!(first.records.len(), 1);
    assert_eq!(server.revoke_tokens(), 1);
    let mut records = first.records.len();
    while let Some(page) = pages.next().await {
        records += page.unwrap().records.len();
    }
    assert_eq!(records, 5);
    let stats = server.stats();
    assert_eq!(stats.unauthorized, 1, "the revoked token was refused once");
    assert_eq!(stats.tokens_issued, 2, "one refresh");
}

/// A server that refuses every token the client can get (they come from
/// another server's token endpoint): one refresh, then the second 401 is a
/// typed error — no refresh loop.
#[tokio::test]
async fn oauth2_second_401_is_a_typed_error_without_a_refresh_loop() {
    let issuer = oauth_api(Duration::from_secs(3600), 5).await;
    let server = oauth_api(Duration::from_secs(3600), 5).await;
    let err = Extractor::builder()
        .url(server.url("/items").as_str())
        .paginator(cursor_pages())
        .auth(oauth(&issuer, CLIENT_SECRET))
        .build()
        .unwrap()
        .run(&MemorySink::new())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ExtractError::Http { status, attempts: 1, .. } if *status == StatusCode::UNAUTHORIZED),
        "{err:?}"
    );
    assert_eq!(
        issuer.stats().tokens_issued,
        2,
        "the first token and one refresh"
    );
    assert_eq!(
        server.stats().unauthorized,
        2,
        "the request and its one retry"
    );
    assert_no_secret("error", &format!("{err} {err:?}"), &issuer.issued_tokens());
}

/// A client secret the token endpoint refuses: a typed auth error, one token
/// request, no data request.
#[tokio::test]
async fn oauth2_refused_client_is_a_typed_auth_error() {
    let server = oauth_api(Duration::from_secs(3600), 5).await;
    let err = Extractor::builder()
        .url(server.url("/items").as_str())
        .paginator(cursor_pages())
        .auth(oauth(&server, "not-the-SECRET"))
        .build()
        .unwrap()
        .run(&MemorySink::new())
        .await
        .unwrap_err();
    match &err {
        ExtractError::Transport {
            source: TransportError::Auth { url, reason },
            attempts: 1,
            ..
        } => {
            assert!(url.as_str().ends_with("/oauth/token"), "{url}");
            assert!(reason.contains("401"), "{reason}");
        }
        other => panic!("expected an auth error, got {other:?}"),
    }
    let stats = server.stats();
    assert_eq!((stats.token_errors, stats.tokens_issued), (1, 0));
    assert_eq!(stats.data_requests, 0);
    assert_no_secret(
        "error",
        &format!("{err} {err:?}"),
        &["not-the-SECRET".to_owned()],
    );
}

// ---------------------------------------------------------------------------
// 4. https is required for credentials
// ---------------------------------------------------------------------------

/// A transport that records what it is asked to send and answers pages of
/// `[1]` chained by `Link` headers (three pages).
#[derive(Debug, Clone, Default)]
struct FakeTransport {
    sent: Arc<Mutex<Vec<Request>>>,
}

impl FakeTransport {
    fn sent(&self) -> Vec<Request> {
        self.sent.lock().unwrap().clone()
    }
}

#[async_trait]
impl Transport for FakeTransport {
    async fn send(&self, request: &Request) -> Result<Response, TransportError> {
        let n = {
            let mut sent = self.sent.lock().unwrap();
            sent.push(request.clone());
            sent.len()
        };
        let mut response = Response::new(StatusCode::OK, request.url.clone(), "[1]");
        if n < 3 {
            let mut next = request.url.clone();
            next.set_query(Some(&format!("page={}", n + 1)));
            response = response.with_header("link", &format!("<{next}>; rel=\"next\""));
        }
        Ok(response)
    }
}

/// `transport` also serves OAuth2's token requests, so "nothing sent" covers both.
fn insecure_run(kind: Kind, url: &str, transport: FakeTransport, allow: bool) -> Extractor {
    let token = transport.clone();
    let builder = Extractor::builder()
        .url(url)
        .paginator(LinkHeaderPaginator::new())
        .transport(transport)
        .allow_insecure_http(allow)
        .retry(NoRetry);
    match kind {
        Kind::OAuth2 => builder
            .auth(OAuth2ClientCredentials::new(
                "http://example.invalid/oauth/token".parse().unwrap(),
                CLIENT_ID,
                Secret::new(CLIENT_SECRET),
                Arc::new(token),
            ))
            .build()
            .unwrap(),
        Kind::Bearer => builder.auth(Bearer(Secret::new(BEARER))).build().unwrap(),
        Kind::ApiKeyHeader => builder
            .auth(ApiKey::header(
                HeaderName::from_static("x-api-key"),
                Secret::new(HEADER_KEY),
            ))
            .build()
            .unwrap(),
        Kind::ApiKeyQuery => builder
            .auth(ApiKey::query("api_key", Secret::new(QUERY_KEY)))
            .build()
            .unwrap(),
        Kind::Basic => builder
            .auth(Basic {
                user: BASIC_USER.into(),
                password: Secret::new(BASIC_PASSWORD),
            })
            .build()
            .unwrap(),
    }
}

#[tokio::test]
async fn credentials_to_a_plain_http_origin_fail_before_any_connection() {
    for kind in KINDS {
        let transport = FakeTransport::default();
        let err = insecure_run(
            kind,
            "http://example.invalid/items",
            transport.clone(),
            false,
        )
        .run(&MemorySink::new())
        .await
        .unwrap_err();
        match &err {
            ExtractError::Transport {
                source: TransportError::Auth { url, reason },
                attempts: 1,
                ..
            } => {
                assert_eq!(url.as_str(), "http://example.invalid/items", "{kind:?}");
                assert!(reason.contains("https"), "{kind:?}: {reason}");
            }
            other => panic!("{kind:?}: expected an auth error, got {other:?}"),
        }
        assert!(transport.sent().is_empty(), "{kind:?}: nothing was sent");
        assert_no_secret(
            &format!("{kind:?}"),
            &format!("{err} {err:?}"),
            &[
                BEARER.into(),
                HEADER_KEY.into(),
                QUERY_KEY.into(),
                BASIC_PASSWORD.into(),
                CLIENT_SECRET.into(),
            ],
        );
    }
}

#[test]
fn allow_insecure_http_lifts_the_https_requirement_and_warns_once() {
    let transport = FakeTransport::default();
    let (summary, log) = capture(
        insecure_run(
            Kind::Bearer,
            "http://example.invalid/items",
            transport.clone(),
            true,
        )
        .run(&MemorySink::new()),
    );
    let summary = summary.unwrap();
    assert_eq!(summary.pages, 3);
    let sent = transport.sent();
    assert_eq!(sent.len(), 3);
    for request in &sent {
        let auth = request.headers.get("authorization").unwrap();
        assert_eq!(auth.to_str().unwrap(), format!("Bearer {BEARER}"));
        assert!(auth.is_sensitive());
    }
    assert_eq!(
        log.matches("sending credentials over plain http").count(),
        1,
        "one warning per transport:\n{log}"
    );
    assert_no_secret("log", &log, &[BEARER.into()]);
}

/// The OAuth2 client secret is a credential too: a token endpoint on plain
/// `http` (not loopback) must be refused like the API origin is.
#[tokio::test]
async fn oauth2_client_secret_is_not_sent_to_a_plain_http_token_url() {
    let api = FakeTransport::default();
    let token = FakeTransport::default();
    let err = Extractor::builder()
        .url("https://api.example.com/items")
        .paginator(LinkHeaderPaginator::new())
        .transport(api.clone())
        .auth(OAuth2ClientCredentials::new(
            "http://auth.example.com/oauth/token".parse().unwrap(),
            CLIENT_ID,
            Secret::new(CLIENT_SECRET),
            Arc::new(token.clone()),
        ))
        .retry(NoRetry)
        .build()
        .unwrap()
        .run(&MemorySink::new())
        .await
        .unwrap_err();
    match &err {
        ExtractError::Transport {
            source: TransportError::Auth { url, reason },
            attempts: 1,
            ..
        } => {
            assert_eq!(url.as_str(), "http://auth.example.com/oauth/token");
            assert!(reason.contains("https"), "{reason}");
        }
        other => panic!("expected an auth error naming the token URL, got {other:?}"),
    }
    assert!(
        token.sent().is_empty(),
        "the client secret went over plain http: {:?}",
        token.sent()
    );
    assert!(
        api.sent().is_empty(),
        "the API was called without a token: {:?}",
        api.sent()
    );
    assert_no_secret(
        "the error",
        &format!("{err} {err:?}"),
        &[CLIENT_SECRET.into()],
    );
}

#[tokio::test]
async fn loopback_and_https_origins_need_no_opt_in() {
    for url in [
        "http://127.0.0.1:9/items",
        "http://localhost:9/items",
        "http://[::1]:9/items",
        "https://api.example.com/items",
    ] {
        let transport = FakeTransport::default();
        insecure_run(Kind::Bearer, url, transport.clone(), false)
            .run(&MemorySink::new())
            .await
            .unwrap_or_else(|e| panic!("{url}: {e}"));
        assert_eq!(transport.sent().len(), 3, "{url}");
        assert!(
            transport.sent()[0].headers.contains_key("authorization"),
            "{url}"
        );
    }
}

// ---------------------------------------------------------------------------
// 5. limits against hostile servers
// ---------------------------------------------------------------------------

fn limited(addr: SocketAddr, transport: ReqwestTransport) -> Extractor {
    Extractor::builder()
        .url(format!("http://{addr}/items"))
        .paginator(LinkHeaderPaginator::new())
        .transport(transport)
        .retry(NoRetry)
        .build()
        .unwrap()
}

fn transport_error(err: ExtractError) -> TransportError {
    match err {
        ExtractError::Transport {
            source,
            attempts: 1,
            ..
        } => source,
        other => panic!("expected one failed attempt, got {other:?}"),
    }
}

#[tokio::test]
async fn gzip_bomb_stops_at_the_body_limit() {
    const LIMIT: u64 = 1 << 20;
    const INFLATED: usize = 16 << 20;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let block = vec![b' '; 1 << 20];
    for _ in 0..INFLATED / block.len() {
        encoder.write_all(&block).unwrap();
    }
    let bomb = encoder.finish().unwrap();
    assert!(
        bomb.len() < 64 << 10,
        "a bomb: {} bytes inflate to 16 MiB",
        bomb.len()
    );
    let mut response = head(
        "200 OK",
        &[
            ("content-type", "application/json".into()),
            ("content-encoding", "gzip".into()),
            ("content-length", bomb.len().to_string()),
        ],
    );
    response.extend_from_slice(&bomb);
    let hits = Arc::new(AtomicUsize::new(0));
    let addr = fixed_server(response, hits.clone()).await;
    let transport = ReqwestTransport::builder()
        .max_body_bytes(LIMIT)
        .build()
        .unwrap();
    let err = transport_error(
        limited(addr, transport)
            .run(&MemorySink::new())
            .await
            .unwrap_err(),
    );
    assert!(
        matches!(&err, TransportError::BodyTooLarge { limit: LIMIT, url } if url.as_str().ends_with("/items")),
        "{err:?}"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

/// One byte per second never trips the read timeout; the per-request
/// deadline ends it (on tokio's paused clock: no real waiting).
#[tokio::test(start_paused = true)]
async fn a_body_dribbled_one_byte_per_second_hits_the_request_deadline() {
    let addr = raw_server(|mut stream| async move {
        if !read_head(&mut stream).await {
            return;
        }
        let head = head("200 OK", &[("content-length", "1000".into())]);
        if stream.write_all(&head).await.is_err() {
            return;
        }
        for _ in 0..1000 {
            if stream.write_all(b" ").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    })
    .await;
    let deadline = Duration::from_secs(5);
    let transport = ReqwestTransport::builder()
        .read_timeout(Duration::from_secs(2))
        .request_timeout(deadline)
        .build()
        .unwrap();
    let started = tokio::time::Instant::now();
    let err = transport_error(
        limited(addr, transport)
            .run(&MemorySink::new())
            .await
            .unwrap_err(),
    );
    assert!(
        matches!(err, TransportError::Timeout { phase: TimeoutPhase::Total(d), .. } if d == deadline),
        "{err:?}"
    );
    let took = started.elapsed();
    assert!(
        took >= deadline && took < deadline + Duration::from_secs(1),
        "{took:?}"
    );
}

/// A server that sends the head and a few bytes, then nothing: the read
/// timeout ends it (paused clock).
#[tokio::test(start_paused = true)]
async fn a_stalled_body_hits_the_read_timeout() {
    let addr = raw_server(|mut stream| async move {
        if !read_head(&mut stream).await {
            return;
        }
        let mut out = head("200 OK", &[("content-length", "1000".into())]);
        out.extend_from_slice(b"[1,2,3");
        if stream.write_all(&out).await.is_err() {
            return;
        }
        tokio::time::sleep(Duration::from_secs(3600)).await;
    })
    .await;
    let timeout = Duration::from_secs(2);
    let transport = ReqwestTransport::builder()
        .read_timeout(timeout)
        .build()
        .unwrap();
    let started = tokio::time::Instant::now();
    let err = transport_error(
        limited(addr, transport)
            .run(&MemorySink::new())
            .await
            .unwrap_err(),
    );
    assert!(
        matches!(err, TransportError::Timeout { phase: TimeoutPhase::Read(d), .. } if d == timeout),
        "{err:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn too_many_response_headers_are_an_invalid_response() {
    let mut headers: Vec<(&str, String)> = (0..1000).map(|_| ("x-junk", "v".to_owned())).collect();
    headers.push(("content-length", "2".into()));
    let mut response = head("200 OK", &headers);
    response.extend_from_slice(b"[]");
    let addr = fixed_server(response, Arc::new(AtomicUsize::new(0))).await;
    let err = transport_error(
        limited(addr, ReqwestTransport::new().unwrap())
            .run(&MemorySink::new())
            .await
            .unwrap_err(),
    );
    assert!(
        matches!(err, TransportError::InvalidResponse { .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_huge_response_header_is_an_invalid_response() {
    let response = head(
        "200 OK",
        &[
            ("x-junk", "v".repeat(1 << 20)),
            ("content-length", "2".into()),
        ],
    );
    let addr = fixed_server(response, Arc::new(AtomicUsize::new(0))).await;
    let err = transport_error(
        limited(addr, ReqwestTransport::new().unwrap())
            .run(&MemorySink::new())
            .await
            .unwrap_err(),
    );
    assert!(
        matches!(err, TransportError::InvalidResponse { .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_redirect_loop_is_an_invalid_response_after_the_limit() {
    let hits = Arc::new(AtomicUsize::new(0));
    let response = head(
        "302 Found",
        &[
            ("location", "/items".into()),
            ("content-length", "0".into()),
        ],
    );
    let addr = fixed_server(response, hits.clone()).await;
    let err = transport_error(
        limited(
            addr,
            ReqwestTransport::builder()
                .max_redirects(5)
                .build()
                .unwrap(),
        )
        .run(&MemorySink::new())
        .await
        .unwrap_err(),
    );
    assert!(
        matches!(&err, TransportError::InvalidResponse { reason, .. } if reason.contains("redirect")),
        "{err:?}"
    );
    assert_eq!(
        hits.load(Ordering::SeqCst),
        6,
        "the request and five redirects"
    );
}

#[tokio::test]
async fn too_many_records_on_a_page_is_a_typed_error() {
    let server = FakeApi::builder()
        .dataset(Dataset::generate(3, 150))
        .build()
        .start()
        .await
        .unwrap();
    let sink = MemorySink::new();
    let err = Extractor::builder()
        .url(server.url("/items?limit=100").as_str())
        .paginator(cursor_pages())
        .max_records_per_page(50)
        .build()
        .unwrap()
        .run(&sink)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ExtractError::TooManyRecords { count: 100, max: 50, url } if url.as_str().contains("/items")),
        "{err:?}"
    );
    assert!(sink.records("default").is_empty());
}

/// A server announcing a rate-limit reset decades away must not park the
/// run for decades: the wait should be capped like `Retry-After` is.
#[tokio::test(start_paused = true)]
async fn a_far_rate_limit_reset_does_not_stall_the_run() {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let addr = raw_server(move |mut stream| {
        let hits = counter.clone();
        async move {
            while read_head(&mut stream).await {
                let n = hits.fetch_add(1, Ordering::SeqCst);
                let mut headers = vec![
                    ("content-length", "3".to_owned()),
                    ("x-ratelimit-limit", "100".to_owned()),
                    ("x-ratelimit-remaining", "0".to_owned()),
                    ("x-ratelimit-reset", "999999999".to_owned()),
                ];
                if n == 0 {
                    headers.push(("link", "</items?page=2>; rel=\"next\"".to_owned()));
                }
                let mut out = head("200 OK", &headers);
                out.extend_from_slice(b"[1]");
                if stream.write_all(&out).await.is_err() {
                    return;
                }
            }
        }
    })
    .await;
    let started = tokio::time::Instant::now();
    let sink = MemorySink::new();
    let result = Extractor::builder()
        .url(format!("http://{addr}/items"))
        .paginator(LinkHeaderPaginator::new())
        .rate_limiter(haul::HeaderAdaptive::new())
        .retry(NoRetry)
        .stream("items")
        .build()
        .unwrap()
        .run(&sink)
        .await;
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(3600),
        "the run waited {took:?} for the server's reset ({result:?})"
    );
    // It fails clearly, naming the wait, and keeps the page it fetched.
    assert!(
        matches!(&result, Err(ExtractError::ThrottledTooLong { wait, .. }) if *wait > Duration::from_secs(300)),
        "{result:?}"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 1, "page 2 was never requested");
    let kept: Vec<String> = sink
        .records("items")
        .iter()
        .map(|r| r.as_str().to_owned())
        .collect();
    assert_eq!(kept, ["1"], "page 1's record is written");
    let checkpoint = sink.checkpoint("items").expect("page 1 is committed");
    assert_eq!((checkpoint.pages, checkpoint.records), (1, 1));
    match &checkpoint.position {
        Position::Next(next) => assert!(next.url.ends_with("/items?page=2"), "{}", next.url),
        other => panic!("the resume point is page 2, got {other:?}"),
    }
}
