//! `ReqwestTransport` against tiny raw-TCP servers written here, so every
//! fault (stall, early close, reset, oversize body, garbage) is exact.
//!
//! Timing assertions are upper bounds far above the configured timeouts, so
//! a slow machine cannot make them fail.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use haul_core::{Request, TimeoutPhase, TransportError};
use haul_transport::{ReqwestTransport, Transport};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// A generous bound for "promptly": far above every timeout used here.
const BOUND: Duration = Duration::from_secs(15);

// ---------------------------------------------------------------- servers

/// Serves every accepted connection with `handler` until the test ends.
async fn serve<F, Fut>(handler: F) -> SocketAddr
where
    F: Fn(TcpStream) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let handler = Arc::new(handler);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(handler(stream));
        }
    });
    addr
}

/// A raw request as the server saw it.
#[derive(Debug)]
struct Seen {
    head: String,
    body: Vec<u8>,
}

impl Seen {
    /// The value of header `name` (case-insensitive), if present.
    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().skip(1).find_map(|line| {
            let (k, v) = line.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_owned())
        })
    }

    fn request_line(&self) -> &str {
        self.head.lines().next().unwrap_or("")
    }
}

/// Reads one request (head and `Content-Length` body); `None` at EOF.
async fn read_request(stream: &mut TcpStream) -> Option<Seen> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte).await {
            Ok(0) | Err(_) => return None,
            Ok(_) => buf.push(byte[0]),
        }
    }
    let head = String::from_utf8_lossy(&buf).into_owned();
    let mut seen = Seen {
        head,
        body: Vec::new(),
    };
    if let Some(len) = seen.header("content-length") {
        let mut body = vec![0u8; len.parse().unwrap()];
        stream.read_exact(&mut body).await.ok()?;
        seen.body = body;
    }
    Some(seen)
}

/// A complete response with a `Content-Length`.
fn response(status: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status}\r\ncontent-length: {}\r\n", body.len());
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    let mut out = out.into_bytes();
    out.extend_from_slice(body);
    out
}

/// A server answering every request on a connection with the same response
/// (keep-alive), reporting each request it sees on the returned channel.
async fn fixed(resp: Vec<u8>) -> (SocketAddr, mpsc::UnboundedReceiver<Seen>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let resp = Arc::new(resp);
    let addr = serve(move |mut stream| {
        let tx = tx.clone();
        let resp = resp.clone();
        async move {
            while let Some(seen) = read_request(&mut stream).await {
                let _ = tx.send(seen);
                if stream.write_all(&resp).await.is_err() {
                    return;
                }
            }
        }
    })
    .await;
    (addr, rx)
}

/// A response head announcing a 1 MB body (and none of it).
const ANNOUNCES_A_MEGABYTE: &str = "HTTP/1.1 200 OK\r\ncontent-length: 1000000\r\n\r\n";

/// A response announcing 1000 bytes of body and sending only the first 10.
const CUT_SHORT: &str = "HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n0123456789";

/// What a [`raw_once`] server does after its raw answer.
#[derive(Debug, Clone, Copy)]
enum Then {
    /// Closes the connection cleanly (FIN).
    Close,
    /// Keeps the connection open and says nothing more.
    Stall,
    /// Aborts the connection with a TCP RST (SO_LINGER 0).
    Reset,
}

/// A server that reads one request per connection, writes `raw` (valid HTTP
/// or not, possibly incomplete) and then does what `then` says.
async fn raw_once(raw: &'static str, then: Then) -> SocketAddr {
    serve(move |mut stream| async move {
        if read_request(&mut stream).await.is_none() {
            return;
        }
        let _ = stream.write_all(raw.as_bytes()).await;
        match then {
            Then::Close => {
                let _ = stream.shutdown().await;
            }
            Then::Stall => tokio::time::sleep(Duration::from_secs(60)).await,
            Then::Reset => {
                let _ = stream.flush().await;
                tokio::time::sleep(Duration::from_millis(100)).await;
                stream.set_zero_linger().unwrap();
                drop(stream);
            }
        }
    })
    .await
}

/// A server that reads a request and never answers.
async fn silent() -> SocketAddr {
    raw_once("", Then::Stall).await
}

/// An address nothing listens on (a port just bound and released).
async fn closed_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    addr
}

fn url(addr: SocketAddr, path: &str) -> url::Url {
    url::Url::parse(&format!("http://{addr}{path}")).unwrap()
}

fn get(addr: SocketAddr, path: &str) -> Request {
    Request::get(url(addr, path))
}

fn transport() -> ReqwestTransport {
    ReqwestTransport::new().unwrap()
}

/// Runs `fut`, failing the test if it takes longer than [`BOUND`].
async fn bounded<T>(fut: impl Future<Output = T>) -> (T, Duration) {
    let started = Instant::now();
    let out = tokio::time::timeout(BOUND, fut)
        .await
        .expect("the transport did not return within the bound");
    (out, started.elapsed())
}

// ---------------------------------------------------------------- gzip by hand

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A valid gzip member holding `data` in "stored" (uncompressed) deflate
/// blocks: a real gzip stream, just not a smaller one.
fn gzip_stored(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    let mut blocks = data.chunks(65_535).peekable();
    if blocks.peek().is_none() {
        out.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
    }
    while let Some(block) = blocks.next() {
        out.push(u8::from(blocks.peek().is_none()));
        let len = u16::try_from(block.len()).unwrap();
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(block);
    }
    out.extend_from_slice(&crc32(data).to_le_bytes());
    out.extend_from_slice(&u32::try_from(data.len()).unwrap().to_le_bytes());
    out
}

// ---------------------------------------------------------------- success

#[tokio::test]
async fn success_returns_status_headers_and_exact_body() {
    let body: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
    let (addr, mut seen) = fixed(response(
        "201 Created",
        &[
            ("x-thing", "one"),
            ("content-type", "application/octet-stream"),
        ],
        &body,
    ))
    .await;
    let resp = transport().send(&get(addr, "/items?page=2")).await.unwrap();
    assert_eq!(resp.status.as_u16(), 201);
    assert_eq!(resp.header("x-thing"), Some("one"));
    assert_eq!(
        resp.header("content-type"),
        Some("application/octet-stream")
    );
    assert_eq!(&resp.body[..], &body[..]);
    assert_eq!(resp.url, url(addr, "/items?page=2"));
    assert!(resp.elapsed > Duration::ZERO);
    let req = seen.recv().await.unwrap();
    assert_eq!(req.request_line(), "GET /items?page=2 HTTP/1.1");
}

#[tokio::test]
async fn empty_body_is_ok() {
    let (addr, _seen) = fixed(response("204 No Content", &[], b"")).await;
    let resp = transport().send(&get(addr, "/")).await.unwrap();
    assert_eq!(resp.status.as_u16(), 204);
    assert!(resp.body.is_empty());
}

#[tokio::test]
async fn post_sends_method_headers_and_body() {
    let (addr, mut seen) = fixed(response("200 OK", &[], b"{}")).await;
    let req = Request::post_json(url(addr, "/graphql"), r#"{"query":"{ items }"}"#).with_header(
        http::HeaderName::from_static("x-custom"),
        http::HeaderValue::from_static("v1"),
    );
    let resp = transport().send(&req).await.unwrap();
    assert_eq!(&resp.body[..], b"{}");
    let got = seen.recv().await.unwrap();
    assert_eq!(got.request_line(), "POST /graphql HTTP/1.1");
    assert_eq!(
        got.header("content-type").as_deref(),
        Some("application/json")
    );
    assert_eq!(got.header("x-custom").as_deref(), Some("v1"));
    assert_eq!(got.body, br#"{"query":"{ items }"}"#);
}

#[tokio::test]
async fn user_agent_is_haul_version() {
    let (addr, mut seen) = fixed(response("200 OK", &[], b"ok")).await;
    transport().send(&get(addr, "/")).await.unwrap();
    let got = seen.recv().await.unwrap();
    assert_eq!(got.header("user-agent").as_deref(), Some("haul/0.1.0"));
    // Compressed responses are asked for.
    let accept = got.header("accept-encoding").unwrap();
    assert!(accept.contains("gzip"), "{accept}");
}

#[tokio::test]
async fn gzip_body_is_transparently_decompressed() {
    let plain: Vec<u8> = br#"{"data":[1,2,3]}"#.repeat(500);
    let gz = gzip_stored(&plain);
    let (addr, _seen) = fixed(response("200 OK", &[("content-encoding", "gzip")], &gz)).await;
    let resp = transport().send(&get(addr, "/")).await.unwrap();
    assert_eq!(&resp.body[..], &plain[..]);
}

#[tokio::test]
async fn connections_are_pooled_and_shared_by_clones() {
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    let resp = Arc::new(response("200 OK", &[], b"ok"));
    let addr = serve(move |mut stream| {
        counter.fetch_add(1, Ordering::SeqCst);
        let resp = resp.clone();
        async move {
            while read_request(&mut stream).await.is_some() {
                if stream.write_all(&resp).await.is_err() {
                    return;
                }
            }
        }
    })
    .await;
    let t = transport();
    let clone = t.clone();
    for i in 0..3 {
        t.send(&get(addr, &format!("/a{i}"))).await.unwrap();
        clone.send(&get(addr, &format!("/b{i}"))).await.unwrap();
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
}

// ---------------------------------------------------------------- redirects

#[tokio::test]
async fn same_origin_redirect_is_followed() {
    let addr = serve(|mut stream| async move {
        while let Some(seen) = read_request(&mut stream).await {
            let out = if seen.request_line().starts_with("GET /old") {
                response("302 Found", &[("location", "/new?page=1")], b"")
            } else {
                response("200 OK", &[], b"moved here")
            };
            if stream.write_all(&out).await.is_err() {
                return;
            }
        }
    })
    .await;
    let resp = transport().send(&get(addr, "/old")).await.unwrap();
    assert_eq!(resp.status.as_u16(), 200);
    assert_eq!(&resp.body[..], b"moved here");
    assert_eq!(resp.url, url(addr, "/new?page=1"));
}

#[tokio::test]
async fn cross_origin_redirect_is_not_followed() {
    let (other, mut other_seen) = fixed(response("200 OK", &[], b"elsewhere")).await;
    let location = format!("http://{other}/steal");
    let (addr, _seen) = fixed(response("302 Found", &[("location", &location)], b"")).await;
    let req = get(addr, "/start").with_header(
        http::header::AUTHORIZATION,
        http::HeaderValue::from_static("Bearer s3cr3t"),
    );
    let resp = transport().send(&req).await.unwrap();
    assert_eq!(resp.status.as_u16(), 302);
    assert_eq!(resp.header("location"), Some(location.as_str()));
    assert!(
        other_seen.try_recv().is_err(),
        "the other origin was contacted"
    );
}

#[tokio::test]
async fn redirect_loop_is_invalid_response() {
    let (addr, _seen) = fixed(response("302 Found", &[("location", "/again")], b"")).await;
    let t = ReqwestTransport::builder()
        .max_redirects(3)
        .build()
        .unwrap();
    let err = t.send(&get(addr, "/again")).await.unwrap_err();
    assert!(
        matches!(err, TransportError::InvalidResponse { .. }),
        "{err:?}"
    );
}

// ---------------------------------------------------------------- size limit

#[tokio::test]
async fn chunked_body_over_limit_is_body_too_large() {
    // 1000 chunks of 1 KiB without Content-Length; limit 10 KiB.
    let addr = serve(|mut stream| async move {
        if read_request(&mut stream).await.is_none() {
            return;
        }
        let head = "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n";
        if stream.write_all(head.as_bytes()).await.is_err() {
            return;
        }
        let chunk = [b'x'; 1024];
        for _ in 0..1000 {
            let mut frame = b"400\r\n".to_vec();
            frame.extend_from_slice(&chunk);
            frame.extend_from_slice(b"\r\n");
            if stream.write_all(&frame).await.is_err() {
                return; // the client hung up, as it should
            }
        }
        let _ = stream.write_all(b"0\r\n\r\n").await;
    })
    .await;
    let t = ReqwestTransport::builder()
        .max_body_bytes(10 * 1024)
        .build()
        .unwrap();
    let (res, _) = bounded(t.send(&get(addr, "/big"))).await;
    match res.unwrap_err() {
        TransportError::BodyTooLarge { limit, .. } => assert_eq!(limit, 10 * 1024),
        other => panic!("expected BodyTooLarge, got {other:?}"),
    }
}

#[tokio::test]
async fn announced_length_over_limit_is_rejected_before_reading() {
    // Announces 1 MB, then sends nothing and keeps the connection open: only
    // an early check on Content-Length can answer before the read timeout.
    let addr = raw_once(ANNOUNCES_A_MEGABYTE, Then::Stall).await;
    let t = ReqwestTransport::builder()
        .max_body_bytes(1000)
        .read_timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let (res, _) = bounded(t.send(&get(addr, "/big"))).await;
    assert!(
        matches!(res, Err(TransportError::BodyTooLarge { limit: 1000, .. })),
        "{res:?}"
    );
}

#[tokio::test]
async fn body_at_the_limit_is_accepted() {
    let body = vec![b'y'; 4096];
    let (addr, _seen) = fixed(response("200 OK", &[], &body)).await;
    let t = ReqwestTransport::builder()
        .max_body_bytes(4096)
        .build()
        .unwrap();
    let resp = t.send(&get(addr, "/")).await.unwrap();
    assert_eq!(resp.body.len(), 4096);
}

#[tokio::test]
async fn limit_counts_decompressed_bytes() {
    // Stored-block gzip is *larger* than its content, so accepting a body at
    // exactly the limit shows the count is of decompressed bytes, and the
    // compressed Content-Length is not held against it.
    let plain = vec![b'z'; 5000];
    let gz = gzip_stored(&plain);
    assert!(gz.len() > plain.len());
    let (addr, _seen) = fixed(response("200 OK", &[("content-encoding", "gzip")], &gz)).await;
    let exact = ReqwestTransport::builder()
        .max_body_bytes(5000)
        .build()
        .unwrap();
    assert_eq!(exact.send(&get(addr, "/")).await.unwrap().body.len(), 5000);
    let under = ReqwestTransport::builder()
        .max_body_bytes(4999)
        .build()
        .unwrap();
    let err = under.send(&get(addr, "/")).await.unwrap_err();
    assert!(
        matches!(err, TransportError::BodyTooLarge { limit: 4999, .. }),
        "{err:?}"
    );
}

// ---------------------------------------------------------------- timeouts

#[tokio::test]
async fn connect_timeout_against_a_full_listen_queue() {
    // A local listener with a backlog of 1 that never accepts: once its
    // queue is full the kernel drops further SYNs, so a new connection
    // hangs in SYN-SENT and only the connect timeout ends it. Loopback
    // only: no traffic leaves the machine.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(1).unwrap();
    let addr = listener.local_addr().unwrap();
    let mut fillers = Vec::new();
    let mut full = false;
    for _ in 0..16 {
        match tokio::time::timeout(Duration::from_millis(300), TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => fillers.push(stream),
            // A kernel set to refuse on overflow (`tcp_abort_on_overflow`).
            Ok(Err(_)) => break,
            Err(_) => {
                full = true;
                break;
            }
        }
    }

    let t = ReqwestTransport::builder()
        .connect_timeout(Duration::from_millis(300))
        .read_timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let (res, _) = bounded(t.send(&get(addr, "/"))).await;
    match res.unwrap_err() {
        TransportError::Timeout {
            phase: TimeoutPhase::Connect(d),
            ..
        } => assert_eq!(d, Duration::from_millis(300)),
        // Only acceptable where the kernel refused instead of dropping SYNs.
        TransportError::Connect { .. } if !full => {}
        other => panic!("expected a connect timeout (queue full: {full}), got {other:?}"),
    }
    drop((fillers, listener));
}

#[tokio::test]
async fn head_response_announcing_a_large_body_is_ok() {
    let (addr, _seen) = fixed(ANNOUNCES_A_MEGABYTE.into()).await;
    let t = ReqwestTransport::builder()
        .max_body_bytes(1000)
        .build()
        .unwrap();
    let req = Request::new(http::Method::HEAD, url(addr, "/"));
    let (res, _) = bounded(t.send(&req)).await;
    let resp = res.unwrap();
    assert_eq!(resp.header("content-length"), Some("1000000"));
    assert!(resp.body.is_empty());
}

#[tokio::test]
async fn refused_connection_is_connect_error() {
    let addr = closed_port().await;
    let (res, _) = bounded(transport().send(&get(addr, "/"))).await;
    assert!(
        matches!(res, Err(TransportError::Connect { .. })),
        "{res:?}"
    );
}

#[tokio::test]
async fn silent_server_is_read_timeout() {
    let addr = silent().await;
    let t = ReqwestTransport::builder()
        .read_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let (res, took) = bounded(t.send(&get(addr, "/"))).await;
    match res.unwrap_err() {
        TransportError::Timeout {
            phase: TimeoutPhase::Read(d),
            ..
        } => assert_eq!(d, Duration::from_millis(300)),
        other => panic!("expected a read timeout, got {other:?}"),
    }
    assert!(took >= Duration::from_millis(300), "{took:?}");
}

#[tokio::test]
async fn stall_mid_body_is_read_timeout() {
    let addr = raw_once(CUT_SHORT, Then::Stall).await;
    let t = ReqwestTransport::builder()
        .read_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let (res, _) = bounded(t.send(&get(addr, "/"))).await;
    assert!(
        matches!(
            res,
            Err(TransportError::Timeout {
                phase: TimeoutPhase::Read(_),
                ..
            })
        ),
        "{res:?}"
    );
}

#[tokio::test]
async fn trickling_server_hits_the_request_deadline() {
    // One byte every 50 ms keeps the read timeout from firing; only the
    // whole-request deadline can end it.
    let addr = serve(|mut stream| async move {
        if read_request(&mut stream).await.is_none() {
            return;
        }
        let head = "HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\n";
        if stream.write_all(head.as_bytes()).await.is_err() {
            return;
        }
        for _ in 0..100_000 {
            if stream.write_all(b"x").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    let t = ReqwestTransport::builder()
        .read_timeout(Duration::from_secs(10))
        .request_timeout(Duration::from_millis(800))
        .build()
        .unwrap();
    let (res, took) = bounded(t.send(&get(addr, "/"))).await;
    assert!(
        matches!(
            res,
            Err(TransportError::Timeout {
                phase: TimeoutPhase::Total(d),
                ..
            }) if d == Duration::from_millis(800)
        ),
        "{res:?}"
    );
    assert!(took >= Duration::from_millis(800), "{took:?}");
}

// ---------------------------------------------------------------- broken bodies

#[tokio::test]
async fn close_mid_body_is_truncated() {
    // Announces 1000 bytes, sends 10, closes cleanly (FIN). hyper reports
    // "end of file before message length reached" (io UnexpectedEof while
    // decoding a length-delimited body), which is a truncation, not a reset.
    let addr = raw_once(CUT_SHORT, Then::Close).await;
    let (res, _) = bounded(transport().send(&get(addr, "/"))).await;
    assert!(
        matches!(res, Err(TransportError::Truncated { .. })),
        "{res:?}"
    );
}

#[tokio::test]
async fn close_mid_chunked_body_is_truncated() {
    let addr = raw_once(
        "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\na\r\n0123456789\r\n",
        Then::Close,
    )
    .await;
    let (res, _) = bounded(transport().send(&get(addr, "/"))).await;
    assert!(
        matches!(res, Err(TransportError::Truncated { .. })),
        "{res:?}"
    );
}

#[tokio::test]
async fn rst_mid_body_is_reset() {
    // Same as above, but the server aborts with a TCP RST (SO_LINGER 0).
    let addr = raw_once(CUT_SHORT, Then::Reset).await;
    let (res, _) = bounded(transport().send(&get(addr, "/"))).await;
    assert!(matches!(res, Err(TransportError::Reset { .. })), "{res:?}");
}

#[tokio::test]
async fn close_before_response_is_reset() {
    let addr = serve(|mut stream| async move {
        let _ = read_request(&mut stream).await;
        drop(stream);
    })
    .await;
    let (res, _) = bounded(transport().send(&get(addr, "/"))).await;
    assert!(matches!(res, Err(TransportError::Reset { .. })), "{res:?}");
}

#[tokio::test]
async fn garbage_response_is_invalid_response() {
    let addr = raw_once("SSH-2.0-OpenSSH_9.6\r\n\r\n", Then::Close).await;
    let (res, _) = bounded(transport().send(&get(addr, "/"))).await;
    assert!(
        matches!(res, Err(TransportError::InvalidResponse { .. })),
        "{res:?}"
    );
}

#[tokio::test]
async fn corrupt_gzip_is_invalid_response() {
    let (addr, _seen) = fixed(response(
        "200 OK",
        &[("content-encoding", "gzip")],
        b"this is not gzip at all",
    ))
    .await;
    let (res, _) = bounded(transport().send(&get(addr, "/"))).await;
    assert!(
        matches!(res, Err(TransportError::InvalidResponse { .. })),
        "{res:?}"
    );
}

#[tokio::test]
async fn tls_to_a_plain_http_server_is_tls_error() {
    // The server answers the ClientHello with plain HTTP.
    let addr = serve(|mut stream| async move {
        let mut buf = [0u8; 512];
        let _ = stream.read(&mut buf).await;
        let _ = stream
            .write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
            .await;
    })
    .await;
    let req = Request::get(url::Url::parse(&format!("https://{addr}/")).unwrap());
    let (res, _) = bounded(transport().send(&req)).await;
    assert!(matches!(res, Err(TransportError::Tls { .. })), "{res:?}");
}

#[tokio::test]
async fn unsupported_scheme_is_invalid_response() {
    let req = Request::get(url::Url::parse("ftp://127.0.0.1/file").unwrap());
    let (res, _) = bounded(transport().send(&req)).await;
    assert!(
        matches!(res, Err(TransportError::InvalidResponse { .. })),
        "{res:?}"
    );
}

// ---------------------------------------------------------------- secrets

#[tokio::test]
async fn errors_name_the_masked_url_only() {
    // A refused connection (reqwest's message would name the raw URL) and a
    // read timeout, both on a URL carrying a secret.
    let closed = closed_port().await;
    let silent = silent().await;
    let t = ReqwestTransport::builder()
        .read_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    for addr in [closed, silent] {
        let req = get(addr, "/items?api_key=SECRET&page=2");
        let (res, _) = bounded(t.send(&req)).await;
        let err = res.unwrap_err();
        let shown = format!("{err} / {err:?}");
        assert!(!shown.contains("SECRET"), "{shown}");
        assert!(
            shown.contains(&format!("http://{addr}/items?api_key=***&page=2")),
            "{shown}"
        );
        assert_eq!(err.url().as_str(), req.masked_url().as_str());
    }
}
