//! End-to-end tests of the fake API over real HTTP.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod auth;
mod changes;
mod faults;
mod misbehaviour;
mod ratelimit;
mod styles;
mod support;
mod tree;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use haul_testkit::{Dataset, RunningServer};
use serde_json::Value;
use serde_json::value::RawValue;

use support::{json, start};

/// Walks `/items` to the end, returning the raw records of each page.
async fn walk(server: &RunningServer, client: &reqwest::Client) -> Vec<Vec<String>> {
    let mut pages = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = server.url("/items");
        if let Some(c) = &cursor {
            url.query_pairs_mut().append_pair("cursor", c);
        }
        let response = client.get(url).send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "application/json");
        let text = response.text().await.unwrap();
        // Borrow the records as raw JSON to compare them byte for byte.
        let page: HashMap<&str, &RawValue> = serde_json::from_str(&text).unwrap();
        let data: Vec<&RawValue> = serde_json::from_str(page["data"].get()).unwrap();
        pages.push(data.iter().map(|r| r.get().to_owned()).collect());
        let body: Value = serde_json::from_str(&text).unwrap();
        match &body["next_cursor"] {
            Value::Null => break,
            Value::String(next) => {
                assert!(next.starts_with("c_"), "{next}");
                assert!(next.parse::<u64>().is_err());
                cursor = Some(next.clone());
            }
            other => panic!("bad next_cursor {other}"),
        }
        assert!(pages.len() < 100, "pagination does not end");
    }
    pages
}

#[tokio::test]
async fn walks_every_record_once_in_order() {
    let client = reqwest::Client::new();
    for (len, expected_pages) in [
        (0, vec![0]),
        (1, vec![1]),
        (100, vec![100]),
        (250, vec![100, 100, 50]),
    ] {
        let dataset = Dataset::generate(11, len);
        let server = start(dataset.clone(), 100).await;
        let pages = walk(&server, &client).await;
        let sizes: Vec<usize> = pages.iter().map(Vec::len).collect();
        assert_eq!(sizes, expected_pages, "len {len}");
        let records: Vec<String> = pages.into_iter().flatten().collect();
        assert_eq!(records, dataset.records(), "len {len}");
        let ids: Vec<u64> = records
            .iter()
            .map(|r| {
                serde_json::from_str::<Value>(r).unwrap()["id"]
                    .as_u64()
                    .unwrap()
            })
            .collect();
        assert_eq!(ids, dataset.ids().collect::<Vec<_>>());
        let stats = server.stats();
        assert_eq!(stats.pages_served, expected_pages.len() as u64);
        assert_eq!(stats.items_served, len as u64);
        assert_eq!(stats.requests, stats.pages_served);
        // One pooled keep-alive connection serves every page.
        assert_eq!(stats.connections, 1);
        server.shutdown().await;
    }
}

#[tokio::test]
async fn unknown_routes_are_404_json() {
    let server = start(Dataset::default(), 100).await;
    let client = reqwest::Client::new();
    for response in [
        client.get(server.url("/nope")).send().await.unwrap(),
        client.post(server.url("/items")).send().await.unwrap(),
    ] {
        assert_eq!(response.status(), 404);
        let body: Value = json(response).await;
        assert_eq!(body["error"], "not_found");
    }
    assert_eq!(server.stats().not_found, 2);
}

#[test]
fn generation_is_deterministic() {
    let a = Dataset::generate(42, 200);
    assert_eq!(a.records(), Dataset::generate(42, 200).records());
    // A shorter dataset is a prefix of a longer one with the same seed.
    assert_eq!(Dataset::generate(42, 50).records(), &a.records()[..50]);
    let names = |ds: &Dataset| -> Vec<String> {
        ds.records()
            .iter()
            .map(|r| {
                serde_json::from_str::<Value>(r).unwrap()["name"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect()
    };
    assert_ne!(names(&a), names(&Dataset::generate(43, 200)));
}

#[tokio::test]
async fn bytes_streams_exactly_n_bytes() {
    let server = start(Dataset::default(), 100).await;
    for chunked in [false, true] {
        let n = 100_000;
        let mut response = reqwest::get(server.url(&format!("/bytes?n={n}&chunked={chunked}")))
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["content-type"],
            "application/octet-stream"
        );
        let announced = if chunked { None } else { Some(n) };
        assert_eq!(response.content_length(), announced);
        let (mut total, mut chunks) = (0, 0);
        while let Some(chunk) = response.chunk().await.unwrap() {
            assert!(chunk.iter().all(|&b| b == b'x'));
            total += chunk.len() as u64;
            chunks += 1;
        }
        assert_eq!(total, n);
        assert!(chunks > 1, "body arrived in one piece");
    }
    let empty = reqwest::get(server.url("/bytes?n=0")).await.unwrap();
    assert!(empty.bytes().await.unwrap().is_empty());
    assert_eq!(
        reqwest::get(server.url("/bytes")).await.unwrap().status(),
        400
    );
}

#[tokio::test]
async fn slow_delays_the_response() {
    let server = start(Dataset::default(), 100).await;
    let started = Instant::now();
    let response = reqwest::get(server.url("/slow?ms=50")).await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(50));
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "{}");
    assert_eq!(
        reqwest::get(server.url("/slow?ms=x"))
            .await
            .unwrap()
            .status(),
        400
    );
}

#[tokio::test]
async fn shutdown_waits_for_in_flight_requests() {
    let server = start(Dataset::default(), 100).await;
    let url = server.url("/slow?ms=100");
    let request = tokio::spawn(async move { reqwest::get(url).await?.text().await });
    // Let the request reach the server before stopping it.
    while server.stats().requests == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let addr = server.addr();
    server.shutdown().await;
    assert_eq!(request.await.unwrap().unwrap(), "{}");
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn drop_stops_the_server() {
    let server = start(Dataset::default(), 100).await;
    let addr = server.addr();
    drop(server);
    // The abort lands when the runtime next polls the accept task.
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[test]
fn url_keeps_path_query_and_fragment() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let server = start(Dataset::default(), 100).await;
        let url = server.url("/items?limit=5&cursor=c_a#frag");
        assert_eq!(
            url.as_str(),
            format!("http://{}/items?limit=5&cursor=c_a#frag", server.addr())
        );
        assert_eq!(server.url("/items").query(), None);
    });
}
