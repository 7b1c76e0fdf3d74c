//! What the end-to-end tests share: a scripted transport (the API as a
//! list of answers, on a manual clock), scripted responses, the cursor
//! paginator the fake API speaks, and raw TCP servers for hostile-server
//! tests. Each test binary uses part of it.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use haul::core::http::StatusCode;
use haul::core::{Clock, ManualClock, Record, Request, Response, TransportError};
use haul::{CursorPaginator, Transport};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The URL scripted tests extract from (never contacted).
pub const API: &str = "https://api.example.com/items";

/// A last page holding one record, `{"id":1}`.
pub const ONE_PAGE: &str = r#"{"data":[{"id":1}],"next_cursor":null}"#;

/// The fake API's cursor pagination, `page` records per page.
pub fn cursor_paginator(page: usize) -> CursorPaginator {
    CursorPaginator::new("/next_cursor", "cursor")
        .records_at("/data")
        .page_size("limit", page as u64)
}

/// The records' JSON texts.
pub fn texts(records: &[Record]) -> Vec<&str> {
    records.iter().map(Record::as_str).collect()
}

/// A response of the scripted API with `headers`.
pub fn response(status: u16, body: &'static str, headers: &[(&'static str, String)]) -> Response {
    let mut r = Response::new(
        StatusCode::from_u16(status).unwrap(),
        API.parse().unwrap(),
        body,
    );
    for (name, value) in headers {
        r = r.with_header(name, value);
    }
    r
}

/// A scripted API: answers the responses in order, each once (a request
/// past the script panics), recording each request and the clock's
/// monotonic time at its send.
pub struct Scripted {
    clock: ManualClock,
    script: Mutex<Vec<Response>>,
    sent: Mutex<Vec<(Duration, Request)>>,
}

impl Scripted {
    /// The API answering `script` in order, timed on `clock`.
    pub fn new(clock: &ManualClock, script: Vec<Response>) -> Arc<Self> {
        Arc::new(Self {
            clock: clock.clone(),
            script: Mutex::new(script.into_iter().rev().collect()),
            sent: Mutex::new(Vec::new()),
        })
    }

    /// When each request was sent.
    pub fn sent_at(&self) -> Vec<Duration> {
        self.sent
            .lock()
            .unwrap()
            .iter()
            .map(|(at, _)| *at)
            .collect()
    }

    /// The requests sent, in order.
    pub fn requests(&self) -> Vec<Request> {
        self.sent
            .lock()
            .unwrap()
            .iter()
            .map(|(_, r)| r.clone())
            .collect()
    }

    /// Answers of the script not asked for yet.
    pub fn remaining(&self) -> usize {
        self.script.lock().unwrap().len()
    }
}

#[async_trait]
impl Transport for Scripted {
    async fn send(&self, request: &Request) -> Result<Response, TransportError> {
        self.sent
            .lock()
            .unwrap()
            .push((self.clock.now(), request.clone()));
        let mut response = self
            .script
            .lock()
            .unwrap()
            .pop()
            .expect("no request past the script");
        response.url = request.url.clone();
        Ok(response)
    }
}

/// Serves every connection with `handler` until the test ends.
pub async fn raw_server<F, Fut>(handler: F) -> SocketAddr
where
    F: Fn(TcpStream) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let handler = Arc::new(handler);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(handler(stream));
        }
    });
    addr
}

/// Reads one request head; `false` at EOF.
pub async fn read_head(stream: &mut TcpStream) -> bool {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte).await {
            Ok(1) => buf.push(byte[0]),
            _ => return false,
        }
    }
    true
}

/// Answers every request on a connection with `response` (keep-alive),
/// counting requests in `hits`.
pub async fn fixed_server(response: Vec<u8>, hits: Arc<AtomicUsize>) -> SocketAddr {
    let response = Arc::new(response);
    raw_server(move |mut stream| {
        let response = response.clone();
        let hits = hits.clone();
        async move {
            while read_head(&mut stream).await {
                hits.fetch_add(1, Ordering::SeqCst);
                if stream.write_all(&response).await.is_err() {
                    return;
                }
            }
        }
    })
    .await
}

/// A raw HTTP/1.1 response head.
pub fn head(status: &str, headers: &[(&str, String)]) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status}\r\n");
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str("\r\n");
    out.into_bytes()
}
