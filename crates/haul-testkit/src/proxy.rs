//! [`ForwardProxy`]: a small HTTP forward proxy on loopback that records
//! what it was asked, for tests of proxy support.
//!
//! It tunnels `CONNECT host:port` (how clients reach `https` targets) and
//! forwards absolute-form requests (`GET http://host/path`, how clients
//! reach `http` targets, one request per connection). Optionally it requires
//! Basic `Proxy-Authorization` and answers `407` without it. Every request
//! head it receives is kept verbatim in [`ForwardProxy::seen`]: for a tunnel
//! that is only the `CONNECT` head, since the rest is TLS it cannot read.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use url::Url;

use crate::auth::base64;

/// Largest request head the proxy reads.
const MAX_HEAD: usize = 64 * 1024;

/// One request head the proxy received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxiedRequest {
    /// `CONNECT`, `GET`, …
    pub method: String,
    /// `host:port` for `CONNECT`, the absolute URL otherwise.
    pub target: String,
    /// The header lines, in order, names as sent.
    pub headers: Vec<(String, String)>,
    /// The whole head as received (request line and headers).
    pub raw_head: String,
}

impl ProxiedRequest {
    /// The value of header `name` (case-insensitive), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Default)]
struct Shared {
    seen: Mutex<Vec<ProxiedRequest>>,
    /// The `Proxy-Authorization` value required, if any.
    required: Option<String>,
}

/// A running forward proxy on `127.0.0.1`; dropping it stops it.
#[derive(Debug)]
pub struct ForwardProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl ForwardProxy {
    /// Starts a proxy that lets everyone through.
    pub async fn start() -> std::io::Result<Self> {
        Self::launch(None).await
    }

    /// Starts a proxy that requires Basic `Proxy-Authorization` with these
    /// credentials (`407 Proxy Authentication Required` otherwise).
    pub async fn start_with_credentials(user: &str, password: &str) -> std::io::Result<Self> {
        let token = base64(format!("{user}:{password}").as_bytes());
        Self::launch(Some(format!("Basic {token}"))).await
    }

    async fn launch(required: Option<String>) -> std::io::Result<Self> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            seen: Mutex::default(),
            required,
        });
        let for_loop = Arc::clone(&shared);
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok((stream, _)) => {
                            connections.spawn(handle(stream, Arc::clone(&for_loop)));
                        }
                        Err(err) => {
                            tracing::warn!(%err, "proxy accept failed");
                            return;
                        }
                    },
                    Some(_) = connections.join_next(), if !connections.is_empty() => {}
                }
            }
        });
        Ok(Self { addr, shared, task })
    }

    /// The proxy's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>`, the proxy URL to configure a client with.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request head received, in arrival order.
    pub fn seen(&self) -> Vec<ProxiedRequest> {
        self.shared
            .seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Drop for ForwardProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn handle(mut client: TcpStream, shared: Arc<Shared>) {
    let Some((request, rest)) = read_head(&mut client).await else {
        return;
    };
    shared
        .seen
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(request.clone());
    if let Some(required) = &shared.required
        && request.header("proxy-authorization") != Some(required.as_str())
    {
        let _ = client
            .write_all(
                b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"haul\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            )
            .await;
        return;
    }
    let (authority, upstream_head) = if request.method.eq_ignore_ascii_case("CONNECT") {
        (request.target.clone(), None)
    } else {
        let Ok(url) = Url::parse(&request.target) else {
            let _ = client
                .write_all(
                    b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                )
                .await;
            return;
        };
        let authority = format!(
            "{}:{}",
            url.host_str().unwrap_or_default(),
            url.port_or_known_default().unwrap_or(80)
        );
        (authority, Some(forward_head(&request)))
    };
    let Ok(mut upstream) = TcpStream::connect(&authority).await else {
        let _ = client
            .write_all(
                b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            )
            .await;
        return;
    };
    match upstream_head {
        None => {
            if client
                .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
                .await
                .is_err()
            {
                return;
            }
        }
        Some(head) => {
            if upstream.write_all(head.as_bytes()).await.is_err() {
                return;
            }
        }
    }
    if !rest.is_empty() && upstream.write_all(&rest).await.is_err() {
        return;
    }
    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
}

/// The head sent upstream for a forwarded request: as received, but
/// without the proxy's own headers and with `Connection: close`, so each
/// forwarded request is seen (and recorded) on its own connection.
fn forward_head(request: &ProxiedRequest) -> String {
    let mut head = format!("{} {} HTTP/1.1\r\n", request.method, request.target);
    for (name, value) in &request.headers {
        let lower = name.to_ascii_lowercase();
        if lower == "connection" || lower == "proxy-authorization" || lower == "proxy-connection" {
            continue;
        }
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("Connection: close\r\n\r\n");
    head
}

/// Reads one request head; returns it and the bytes read past it.
async fn read_head(stream: &mut TcpStream) -> Option<(ProxiedRequest, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let end = loop {
        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos + 4;
        }
        if buf.len() > MAX_HEAD {
            return None;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let raw_head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let mut lines = raw_head.split("\r\n");
    let mut request_line = lines.next()?.split(' ');
    let method = request_line.next()?.to_owned();
    let target = request_line.next()?.to_owned();
    let headers = lines
        .filter_map(|line| {
            let (k, v) = line.split_once(':')?;
            Some((k.trim().to_owned(), v.trim().to_owned()))
        })
        .collect();
    Some((
        ProxiedRequest {
            method,
            target,
            headers,
            raw_head,
        },
        buf[end..].to_vec(),
    ))
}
