//! Trust, mutual TLS and HTTP/2 against real rustls servers on loopback,
//! with certificates generated in the test ([`TestPki`]).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use haul_core::{CertificateCheck, Request, Secret, TransportError, TransportErrorKind};
use haul_testkit::{Dataset, FakeApi, RunningServer, ServerTls, TestPki};
use haul_transport::{BuildError, ClientIdentity, ReqwestTransport, Transport};

const NAMES: &[&str] = &["127.0.0.1", "localhost"];

async fn tls_server(tls: ServerTls) -> RunningServer {
    FakeApi::builder()
        .dataset(Dataset::generate(7, 30))
        .tls(tls)
        .build()
        .start()
        .await
        .unwrap()
}

fn trusting(pki: &TestPki) -> ReqwestTransport {
    ReqwestTransport::builder()
        .add_root_certificates_pem(pki.ca_pem())
        .build()
        .unwrap()
}

async fn get(
    transport: &ReqwestTransport,
    server: &RunningServer,
) -> Result<haul_core::Response, TransportError> {
    transport
        .send(&Request::get(server.url("/items?limit=5")))
        .await
}

fn certificate_check(
    result: Result<haul_core::Response, TransportError>,
) -> (String, CertificateCheck, TransportError) {
    match result {
        Err(TransportError::Certificate {
            ref host, check, ..
        }) => {
            let host = host.clone();
            (host, check, result.unwrap_err())
        }
        other => panic!("expected a certificate error, got {other:?}"),
    }
}

#[tokio::test]
async fn private_ca_is_refused_by_default_and_trusted_once_added() {
    let pki = TestPki::generate().unwrap();
    let server = tls_server(ServerTls::new(pki.server(NAMES).unwrap())).await;
    assert_eq!(server.url("/").scheme(), "https");

    let (host, check, err) =
        certificate_check(get(&ReqwestTransport::new().unwrap(), &server).await);
    assert_eq!(host, "127.0.0.1");
    assert_eq!(check, CertificateCheck::UnknownIssuer);
    // A certificate failure is a TLS failure: never transient.
    assert_eq!(err.kind(), TransportErrorKind::Tls);
    let text = err.to_string();
    assert!(
        text.contains("127.0.0.1") && text.contains("unknown issuer"),
        "{text}"
    );

    let response = get(&trusting(&pki), &server).await.unwrap();
    assert!(response.status.is_success());
    assert!(response.body.starts_with(b"{\"data\":["));

    // Only the added roots: the private CA alone is enough here.
    let only = ReqwestTransport::builder()
        .add_root_certificates_pem(pki.ca_pem())
        .platform_roots(false)
        .build()
        .unwrap();
    assert!(get(&only, &server).await.unwrap().status.is_success());
}

#[tokio::test]
async fn roots_are_read_from_a_pem_file() {
    let pki = TestPki::generate().unwrap();
    let server = tls_server(ServerTls::new(pki.server(NAMES).unwrap())).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ca.pem");
    std::fs::write(&path, pki.ca_pem()).unwrap();
    let transport = ReqwestTransport::builder()
        .add_root_certificates_pem_file(&path)
        .build()
        .unwrap();
    assert!(get(&transport, &server).await.unwrap().status.is_success());

    let missing = ReqwestTransport::builder()
        .add_root_certificates_pem_file(dir.path().join("nope.pem"))
        .build();
    assert!(
        matches!(missing, Err(BuildError::ReadFile { .. })),
        "{missing:?}"
    );
    let garbage = ReqwestTransport::builder()
        .add_root_certificates_pem("not a certificate")
        .build();
    assert!(
        matches!(garbage, Err(BuildError::Certificate { .. })),
        "{garbage:?}"
    );
    let nothing = ReqwestTransport::builder().platform_roots(false).build();
    assert!(
        matches!(nothing, Err(BuildError::Certificate { .. })),
        "{nothing:?}"
    );
}

#[tokio::test]
async fn another_cas_certificate_is_an_unknown_issuer_even_with_a_ca_added() {
    let ours = TestPki::generate().unwrap();
    let theirs = TestPki::generate().unwrap();
    let server = tls_server(ServerTls::new(theirs.server(NAMES).unwrap())).await;
    let (_, check, _) = certificate_check(get(&trusting(&ours), &server).await);
    assert_eq!(check, CertificateCheck::UnknownIssuer);
}

#[tokio::test]
async fn expired_certificate_has_its_own_error() {
    let pki = TestPki::generate().unwrap();
    let server = tls_server(ServerTls::new(pki.expired_server(NAMES).unwrap())).await;
    let (host, check, err) = certificate_check(get(&trusting(&pki), &server).await);
    assert_eq!(host, "127.0.0.1");
    assert_eq!(check, CertificateCheck::Expired, "{err}");
    assert!(err.to_string().contains("expired"), "{err}");
}

#[tokio::test]
async fn wrong_name_certificate_has_its_own_error() {
    let pki = TestPki::generate().unwrap();
    let server = tls_server(ServerTls::new(pki.server(&["api.other.example"]).unwrap())).await;
    let (host, check, err) = certificate_check(get(&trusting(&pki), &server).await);
    assert_eq!(host, "127.0.0.1");
    assert_eq!(check, CertificateCheck::NameMismatch, "{err}");
    assert!(err.to_string().contains("name mismatch"), "{err}");
}

#[tokio::test]
async fn mutual_tls_refuses_a_client_without_identity_and_serves_one_with_it() {
    let pki = TestPki::generate().unwrap();
    let tls = ServerTls::new(pki.server(NAMES).unwrap()).require_client_cert(pki.ca_pem());
    let server = tls_server(tls).await;

    let anonymous = get(&trusting(&pki), &server).await;
    let err = anonymous.expect_err("a client without a certificate must be refused");
    assert_eq!(err.kind(), TransportErrorKind::Tls, "{err}");
    assert_eq!(
        server.stats().requests,
        0,
        "no request may be served without a client certificate"
    );

    let client = pki.client("haul-connector").unwrap();
    let identity =
        ClientIdentity::from_pem(client.cert_pem.clone(), Secret::new(client.key_pem.clone()));
    let debug = format!("{identity:?}");
    assert!(
        !debug.contains(&client.key_pem) && !debug.contains("PRIVATE KEY"),
        "{debug}"
    );
    let transport = ReqwestTransport::builder()
        .add_root_certificates_pem(pki.ca_pem())
        .client_identity(identity)
        .build()
        .unwrap();
    assert!(!format!("{transport:?}").contains("PRIVATE KEY"));
    assert!(get(&transport, &server).await.unwrap().status.is_success());

    // From files, as deployed.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("client.crt"), &client.cert_pem).unwrap();
    std::fs::write(dir.path().join("client.key"), &client.key_pem).unwrap();
    let from_files = ReqwestTransport::builder()
        .add_root_certificates_pem(pki.ca_pem())
        .client_identity(ClientIdentity::from_pem_files(
            dir.path().join("client.crt"),
            dir.path().join("client.key"),
        ))
        .build()
        .unwrap();
    assert!(get(&from_files, &server).await.unwrap().status.is_success());

    // A certificate from another CA is refused as well.
    let stranger = TestPki::generate().unwrap().client("stranger").unwrap();
    let refused = ReqwestTransport::builder()
        .add_root_certificates_pem(pki.ca_pem())
        .client_identity(ClientIdentity::from_pem(
            stranger.cert_pem,
            Secret::new(stranger.key_pem),
        ))
        .build()
        .unwrap();
    let err = get(&refused, &server)
        .await
        .expect_err("a stranger's certificate must be refused");
    assert_eq!(err.kind(), TransportErrorKind::Tls, "{err}");
}

// ------------------------------------------------------------------ HTTP/2

/// Pages held until `N` requests are in flight at once, over HTTP/2 on
/// rustls: the server counts connections and the HTTP versions it saw.
struct BarrierServer {
    addr: std::net::SocketAddr,
    connections: Arc<AtomicUsize>,
    versions: Arc<std::sync::Mutex<Vec<http::Version>>>,
}

async fn barrier_server(tls: &ServerTls, n: usize) -> BarrierServer {
    use hyper::service::service_fn;
    use hyper_util::rt::{TokioExecutor, TokioIo};

    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls.server_config().unwrap()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let versions = Arc::new(std::sync::Mutex::new(Vec::new()));
    let barrier = Arc::new(tokio::sync::Barrier::new(n));
    let (conns, seen) = (Arc::clone(&connections), Arc::clone(&versions));
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            conns.fetch_add(1, Ordering::SeqCst);
            let (acceptor, seen, barrier) =
                (acceptor.clone(), Arc::clone(&seen), Arc::clone(&barrier));
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(stream).await else {
                    return;
                };
                let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let (seen, barrier) = (Arc::clone(&seen), Arc::clone(&barrier));
                    async move {
                        seen.lock().unwrap().push(req.version());
                        // The warm-up request goes alone; pages wait for each other.
                        if req.uri().path() == "/page" {
                            barrier.wait().await;
                        }
                        let body =
                            format!("{{\"page\":\"{}\"}}", req.uri().query().unwrap_or_default());
                        Ok::<_, Infallible>(hyper::Response::new(http_body_util::Full::new(
                            bytes::Bytes::from(body),
                        )))
                    }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    BarrierServer {
        addr,
        connections,
        versions,
    }
}

#[tokio::test]
async fn http2_multiplexes_concurrent_pages_over_one_connection() {
    const PAGES: usize = 6;
    let pki = TestPki::generate().unwrap();
    let server = barrier_server(&ServerTls::new(pki.server(NAMES).unwrap()), PAGES).await;
    let transport = trusting(&pki);
    let url = |path: &str| {
        format!("https://127.0.0.1:{}{path}", server.addr.port())
            .parse()
            .unwrap()
    };

    // One request first, so the connection (and its protocol) is known to the pool.
    transport
        .send(&Request::get(url("/warm-up")))
        .await
        .unwrap();
    // Every page waits at the server until all PAGES are in flight: they can
    // only all complete if they are carried concurrently.
    let sends = (0..PAGES).map(|i| {
        let transport = transport.clone();
        let request = Request::get(url(&format!("/page?n={i}")));
        async move { transport.send(&request).await }
    });
    let pages = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        futures::future::join_all(sends),
    )
    .await
    .expect("pages were not carried concurrently");
    for (i, page) in pages.into_iter().enumerate() {
        let page = page.unwrap();
        assert_eq!(page.body, format!("{{\"page\":\"n={i}\"}}").as_bytes());
    }
    assert_eq!(
        server.connections.load(Ordering::SeqCst),
        1,
        "one connection carried every page"
    );
    let versions = server.versions.lock().unwrap().clone();
    assert_eq!(versions.len(), PAGES + 1);
    assert!(
        versions.iter().all(|v| *v == http::Version::HTTP_2),
        "{versions:?}"
    );
}

#[tokio::test]
async fn http1_only_does_not_negotiate_http2() {
    let pki = TestPki::generate().unwrap();
    let server = barrier_server(&ServerTls::new(pki.server(NAMES).unwrap()), 1).await;
    let transport = ReqwestTransport::builder()
        .add_root_certificates_pem(pki.ca_pem())
        .http1_only(true)
        .build()
        .unwrap();
    let url = format!("https://127.0.0.1:{}/page", server.addr.port())
        .parse()
        .unwrap();
    transport.send(&Request::get(url)).await.unwrap();
    assert_eq!(
        *server.versions.lock().unwrap(),
        vec![http::Version::HTTP_11]
    );
}
