//! Proxies against the testkit's [`ForwardProxy`] on loopback: requests go
//! through it when configured and bypass it for no-proxy hosts; for an
//! `https` target the proxy sees only the `CONNECT` head (never the API's
//! `Authorization`); proxy credentials never reach the logs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::sync::{Arc, Mutex};

use haul_core::{Request, TransportError};
use haul_testkit::{Dataset, FakeApi, ForwardProxy, RunningServer, ServerTls, TestPki};
use haul_transport::{ProxyConfig, ReqwestTransport, Transport};
use http::HeaderValue;

const API_TOKEN: &str = "api-token-7f3a9c";
const PROXY_USER: &str = "egress-bot";
const PROXY_PASSWORD: &str = "proxy-pw-51d0e2";

async fn https_api(pki: &TestPki) -> RunningServer {
    FakeApi::builder()
        .dataset(Dataset::generate(3, 20))
        .tls(ServerTls::new(
            pki.server(&["127.0.0.1", "localhost"]).unwrap(),
        ))
        .build()
        .start()
        .await
        .unwrap()
}

fn with_token(url: url::Url) -> Request {
    let mut request = Request::get(url);
    request.headers.insert(
        http::header::AUTHORIZATION,
        HeaderValue::from_str(&format!("Bearer {API_TOKEN}")).unwrap(),
    );
    request
}

fn proxied(pki: &TestPki, proxy: ProxyConfig) -> ReqwestTransport {
    ReqwestTransport::builder()
        .add_root_certificates_pem(pki.ca_pem())
        .proxy(proxy)
        .build()
        .unwrap()
}

fn credentialed(proxy: &ForwardProxy) -> ProxyConfig {
    let url = proxy
        .url()
        .replace("http://", &format!("http://{PROXY_USER}:{PROXY_PASSWORD}@"));
    ProxyConfig::new(&url).unwrap()
}

#[tokio::test]
async fn https_goes_through_a_connect_tunnel_that_never_sees_the_api_credentials() {
    let pki = TestPki::generate().unwrap();
    let api = https_api(&pki).await;
    let proxy = ForwardProxy::start_with_credentials(PROXY_USER, PROXY_PASSWORD)
        .await
        .unwrap();
    let transport = proxied(&pki, credentialed(&proxy));

    for page in 0..3 {
        let url = api.url(&format!("/items?limit=5&cursor=c_{:x}", page * 5));
        let response = transport.send(&with_token(url)).await.unwrap();
        assert!(response.status.is_success());
    }

    let seen = proxy.seen();
    assert!(!seen.is_empty(), "the requests must go through the proxy");
    for head in &seen {
        assert_eq!(head.method, "CONNECT", "{head:?}");
        assert_eq!(head.target, format!("127.0.0.1:{}", api.addr().port()));
        assert!(
            head.header("proxy-authorization")
                .is_some_and(|v| v.starts_with("Basic "))
        );
        assert!(head.header("authorization").is_none(), "{head:?}");
        assert!(!head.raw_head.contains(API_TOKEN), "{}", head.raw_head);
    }
}

#[tokio::test]
async fn a_proxy_that_wants_credentials_refuses_a_client_without_them() {
    let pki = TestPki::generate().unwrap();
    let api = https_api(&pki).await;
    let proxy = ForwardProxy::start_with_credentials(PROXY_USER, PROXY_PASSWORD)
        .await
        .unwrap();
    let transport = proxied(&pki, ProxyConfig::new(&proxy.url()).unwrap());
    let err = transport
        .send(&with_token(api.url("/items")))
        .await
        .expect_err("a 407 on CONNECT must fail the request");
    // Missing proxy credentials are an authentication failure, not a
    // transient connect error: retrying cannot fix them.
    assert!(matches!(err, TransportError::Auth { .. }), "{err}");
    assert!(err.to_string().contains("407"), "{err}");
    assert_eq!(proxy.seen().len(), 1);
    assert_eq!(api.stats().requests, 0);
}

#[tokio::test]
async fn no_proxy_hosts_bypass_the_proxy() {
    let pki = TestPki::generate().unwrap();
    let api = https_api(&pki).await;
    let proxy = ForwardProxy::start().await.unwrap();
    let transport = proxied(
        &pki,
        ProxyConfig::new(&proxy.url())
            .unwrap()
            .no_proxy(["internal.example", "127.0.0.1"]),
    );
    let response = transport
        .send(&with_token(api.url("/items?limit=3")))
        .await
        .unwrap();
    assert!(response.status.is_success());
    assert!(proxy.seen().is_empty(), "{:?}", proxy.seen());

    // The same transport without the exception goes through it.
    let through = proxied(
        &pki,
        ProxyConfig::new(&proxy.url())
            .unwrap()
            .no_proxy(["internal.example"]),
    );
    through
        .send(&with_token(api.url("/items?limit=3")))
        .await
        .unwrap();
    assert_eq!(proxy.seen().len(), 1);
}

#[tokio::test]
async fn plain_http_targets_are_forwarded() {
    let api = FakeApi::builder()
        .dataset(Dataset::generate(3, 20))
        .build()
        .start()
        .await
        .unwrap();
    let proxy = ForwardProxy::start().await.unwrap();
    let transport = ReqwestTransport::builder()
        .proxy(ProxyConfig::new(&proxy.url()).unwrap())
        .build()
        .unwrap();
    let response = transport
        .send(&Request::get(api.url("/items?limit=4")))
        .await
        .unwrap();
    assert!(response.status.is_success());
    let seen = proxy.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method, "GET");
    assert_eq!(seen[0].target, api.url("/items?limit=4").as_str());
}

#[tokio::test]
async fn proxy_from_env_false_ignores_the_environment() {
    // Reading the environment is process-wide; this only checks that the
    // switch builds a working direct transport.
    let api = FakeApi::builder().build().start().await.unwrap();
    let transport = ReqwestTransport::builder()
        .proxy_from_env(false)
        .build()
        .unwrap();
    assert!(
        transport
            .send(&Request::get(api.url("/items")))
            .await
            .unwrap()
            .status
            .is_success()
    );
}

/// A `MakeWriter` into a shared buffer.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Capture {
    type Writer = Capture;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test]
async fn proxy_credentials_never_reach_the_trace_log() {
    let capture = Capture::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(capture.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let pki = TestPki::generate().unwrap();
    let api = https_api(&pki).await;
    let proxy = ForwardProxy::start_with_credentials(PROXY_USER, PROXY_PASSWORD)
        .await
        .unwrap();
    let config = credentialed(&proxy);
    tracing::debug!(?config, "configured");
    let transport = proxied(&pki, config);
    tracing::debug!(?transport, "built");
    transport
        .send(&with_token(api.url("/items?limit=2")))
        .await
        .unwrap();
    // A failure through the same proxy, rendered in the log.
    let bad = proxied(&pki, ProxyConfig::new(&proxy.url()).unwrap());
    let err = bad.send(&with_token(api.url("/items"))).await.unwrap_err();
    tracing::error!(%err, "failed");

    let log = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(
        log.contains("using proxy"),
        "the proxy is logged (masked): {log}"
    );
    assert!(log.contains(&format!("{PROXY_USER}:***@")), "{log}");
    // The Basic token exactly as it went over the wire to the proxy.
    let basic = proxy.seen()[0]
        .header("proxy-authorization")
        .unwrap()
        .trim_start_matches("Basic ")
        .to_owned();
    for secret in [PROXY_PASSWORD, basic.as_str(), API_TOKEN] {
        assert!(
            !log.contains(secret),
            "{secret} leaked into the log:\n{log}"
        );
    }
}
