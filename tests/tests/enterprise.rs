//! Request signing end to end: a server that verifies an HMAC-SHA256
//! signature on every request (with its own implementation of the canonical
//! string), fails the first attempt of every page, and so sees every page
//! signed twice; the extractor's retries are re-signed with a fresh
//! timestamp. A signature over another body is refused. And a refused
//! certificate ends a run after one attempt: it is never retried.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use haul::core::{ManualClock, Request};
use haul::transport::{HmacSha256Signer, ReqwestTransport, SignError, Signer, SigningRequest};
use haul::{CursorPaginator, ExponentialBackoff, Extractor, MemorySink, Transport};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};

const SECRET: &str = "shared-hmac-secret-4b1d";
const PAGES: usize = 4;

/// What the verifying server saw: per request target, the (timestamp,
/// signature) of each attempt, and the requests it refused.
#[derive(Debug, Default)]
struct Seen {
    attempts: HashMap<String, Vec<(u64, String)>>,
    refused: Vec<String>,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The server's own verification: rebuilds the canonical string from what
/// arrived on the wire (method, Host, path and query, timestamp, body).
fn verify(
    method: &str,
    host: &str,
    target: &str,
    headers: &http::HeaderMap,
    body: &[u8],
) -> Result<(u64, String), String> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let timestamp = header("x-haul-timestamp").ok_or("no timestamp")?;
    let signature = header("x-haul-signature").ok_or("no signature")?;
    let body_hash = hex(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, body).as_ref());
    let canonical = format!("{method}\n{host}\n{target}\n{timestamp}\n{body_hash}");
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, SECRET.as_bytes());
    let expected = hex(aws_lc_rs::hmac::sign(&key, canonical.as_bytes()).as_ref());
    if expected != signature {
        return Err(format!("bad signature for {canonical:?}"));
    }
    Ok((timestamp.parse().map_err(|_| "bad timestamp")?, signature))
}

/// A cursor API (`/items?cursor=<n>`, PAGES pages of one record) that
/// verifies every request, answers 401 to a bad signature, and 503 with
/// `Retry-After: 2` to the first attempt of each page.
async fn verifying_server(seen: Arc<Mutex<Seen>>) -> SocketAddr {
    use hyper::service::service_fn;
    use hyper_util::rt::TokioIo;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let seen = Arc::clone(&seen);
            let service = service_fn(move |req: hyper::Request<Incoming>| {
                let seen = Arc::clone(&seen);
                async move {
                    let (parts, body) = req.into_parts();
                    let body = body
                        .collect()
                        .await
                        .map(|b| b.to_bytes())
                        .unwrap_or_default();
                    let host = parts
                        .headers
                        .get("host")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned();
                    let target = parts
                        .uri
                        .path_and_query()
                        .map(|p| p.as_str().to_owned())
                        .unwrap_or_default();
                    let reply = |status: u16, body: String| {
                        let mut resp = hyper::Response::new(Full::new(Bytes::from(body)));
                        *resp.status_mut() = http::StatusCode::from_u16(status).unwrap();
                        resp
                    };
                    let verified =
                        verify(parts.method.as_str(), &host, &target, &parts.headers, &body);
                    let mut seen = seen.lock().unwrap();
                    let (timestamp, signature) = match verified {
                        Ok(ok) => ok,
                        Err(why) => {
                            seen.refused.push(why.clone());
                            return Ok::<_, Infallible>(reply(
                                401,
                                format!("{{\"error\":\"{why}\"}}"),
                            ));
                        }
                    };
                    let attempts = seen.attempts.entry(target.clone()).or_default();
                    attempts.push((timestamp, signature));
                    if attempts.len() == 1 {
                        let mut resp = reply(503, "{\"error\":\"try again\"}".to_owned());
                        resp.headers_mut()
                            .insert("retry-after", http::HeaderValue::from_static("2"));
                        return Ok(resp);
                    }
                    let page: usize = target
                        .rsplit('=')
                        .next()
                        .and_then(|n| n.parse().ok())
                        .unwrap_or(0);
                    let next = if page + 1 < PAGES {
                        format!("\"{}\"", page + 1)
                    } else {
                        "null".to_owned()
                    };
                    Ok(reply(
                        200,
                        format!("{{\"data\":[{{\"id\":{page}}}],\"next_cursor\":{next}}}"),
                    ))
                }
            });
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn every_attempt_is_signed_afresh_and_verified() {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let addr = verifying_server(Arc::clone(&seen)).await;
    // One manual clock drives the retry waits and the signer's timestamps.
    let clock = ManualClock::with_wall(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000));
    let transport = ReqwestTransport::builder()
        .signer(HmacSha256Signer::new(SECRET).clock(Arc::new(clock.clone())))
        .build()
        .unwrap();
    let extractor = Extractor::builder()
        .url(format!("http://{addr}/items?cursor=0"))
        .paginator(CursorPaginator::new("/next_cursor", "cursor").records_at("/data"))
        .transport(transport)
        .retry(ExponentialBackoff::default().seed(3))
        .clock(clock.clone())
        .sleeper(clock.clone())
        .stream("signed")
        .build()
        .unwrap();
    let sink = MemorySink::new();
    extractor.run(&sink).await.unwrap();

    let seen = seen.lock().unwrap();
    assert!(seen.refused.is_empty(), "{:?}", seen.refused);
    assert_eq!(seen.attempts.len(), PAGES, "{:?}", seen.attempts);
    for (target, attempts) in &seen.attempts {
        assert_eq!(
            attempts.len(),
            2,
            "{target}: one refused attempt, one retry"
        );
        let (first, retry) = (&attempts[0], &attempts[1]);
        assert!(
            retry.0 >= first.0 + 2,
            "{target}: the retry carries a fresh timestamp: {attempts:?}"
        );
        assert_ne!(
            first.1, retry.1,
            "{target}: the retry is signed again, not replayed"
        );
    }
}

/// Signs as if the body were different from the one sent: what a body
/// tampered with in transit looks like to the server.
#[derive(Debug)]
struct SignsAnotherBody(HmacSha256Signer);

impl Signer for SignsAnotherBody {
    fn sign(&self, request: &mut SigningRequest<'_>) -> Result<(), SignError> {
        let (method, url) = (request.method().clone(), request.url().clone());
        let mut headers = request.headers().clone();
        self.0.sign(&mut SigningRequest::new(
            &method,
            &url,
            &mut headers,
            b"{\"amount\":1}",
        ))?;
        *request.headers_mut() = headers;
        Ok(())
    }
}

#[tokio::test]
async fn a_tampered_body_fails_verification() {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let addr = verifying_server(Arc::clone(&seen)).await;
    let url: haul::core::url::Url = format!("http://{addr}/orders?cursor=9").parse().unwrap();
    let mut request = Request::get(url);
    request.method = http::Method::POST;
    request.body = Some(Bytes::from_static(b"{\"amount\":1000}"));

    let honest = ReqwestTransport::builder()
        .signer(HmacSha256Signer::new(SECRET))
        .build()
        .unwrap();
    let response = honest.send(&request).await.unwrap();
    assert_eq!(response.status, 503, "verified (then asked to retry)");
    assert!(seen.lock().unwrap().refused.is_empty());

    let tampered = ReqwestTransport::builder()
        .signer(SignsAnotherBody(HmacSha256Signer::new(SECRET)))
        .build()
        .unwrap();
    let response = tampered.send(&request).await.unwrap();
    assert_eq!(response.status, 401);
    assert_eq!(seen.lock().unwrap().refused.len(), 1);
}

#[tokio::test]
async fn a_refused_certificate_is_never_retried() {
    use haul_testkit::{Dataset, FakeApi, ServerTls, TestPki};

    let pki = TestPki::generate().unwrap();
    let server = FakeApi::builder()
        .dataset(Dataset::generate(5, 50))
        .tls(ServerTls::new(pki.server(&["127.0.0.1"]).unwrap()))
        .build()
        .start()
        .await
        .unwrap();
    let clock = ManualClock::new();
    let run = |transport: ReqwestTransport| {
        Extractor::builder()
            .url(server.url("/items").as_str())
            .paginator(CursorPaginator::new("/next_cursor", "cursor").records_at("/data"))
            .transport(transport)
            .retry(ExponentialBackoff::default().seed(1))
            .clock(clock.clone())
            .sleeper(clock.clone())
            .stream("tls")
            .build()
            .unwrap()
    };
    // The platform roots do not know the private CA.
    let err = run(ReqwestTransport::new().unwrap())
        .run(&MemorySink::new())
        .await
        .expect_err("an unknown issuer must fail the run");
    let text = err.to_string();
    assert!(text.contains("unknown issuer"), "{text}");
    assert_eq!(
        server.stats().connections,
        1,
        "one handshake, no retry: {text}"
    );
    assert_eq!(clock.slept(), Duration::ZERO, "no backoff either");

    // With the CA added, the same run completes.
    let trusting = ReqwestTransport::builder()
        .add_root_certificates_pem(pki.ca_pem())
        .build()
        .unwrap();
    let sink = MemorySink::new();
    run(trusting).run(&sink).await.unwrap();
}
