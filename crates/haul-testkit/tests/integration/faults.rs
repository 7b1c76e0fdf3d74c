//! Seeded fault injection over real HTTP.

use std::time::Duration;

use haul_testkit::{Dataset, FakeApi, FaultKind, Faults, RetryAfterStyle, RunningServer};
use serde::de::IgnoredAny;

use crate::support::{Style, raw_array, raw_field, walk};

/// What a client saw for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    /// A whole, valid JSON page.
    Page,
    /// A non-200 status.
    Status(u16),
    /// No response at all.
    Reset,
    /// Headers, then a body that broke off.
    CutBody,
    /// A complete 200 response whose body is not JSON.
    InvalidJson,
}

async fn outcome(client: &reqwest::Client, url: reqwest::Url) -> Outcome {
    let response = match client.get(url).send().await {
        Ok(response) => response,
        Err(err) => {
            assert!(!err.is_timeout(), "{err}");
            return Outcome::Reset;
        }
    };
    let status = response.status().as_u16();
    if status != 200 {
        return Outcome::Status(status);
    }
    let announced = response.content_length();
    match response.bytes().await {
        Err(_) => Outcome::CutBody,
        Ok(body) => {
            assert_eq!(announced, Some(body.len() as u64));
            match serde_json::from_slice::<IgnoredAny>(&body) {
                Ok(_) => Outcome::Page,
                Err(_) => Outcome::InvalidJson,
            }
        }
    }
}

fn expected(kind: Option<FaultKind>) -> Outcome {
    match kind {
        None | Some(FaultKind::Slow) => Outcome::Page,
        Some(FaultKind::Status503) => Outcome::Status(503),
        Some(FaultKind::Status500) => Outcome::Status(500),
        Some(FaultKind::Status502Html) => Outcome::Status(502),
        Some(FaultKind::Status429) => Outcome::Status(429),
        Some(FaultKind::ResetBeforeResponse) => Outcome::Reset,
        Some(FaultKind::ResetMidBody) => Outcome::CutBody,
        Some(FaultKind::TruncatedJson) => Outcome::InvalidJson,
        Some(other) => panic!("unexpected fault kind {other:?}"),
    }
}

fn mixed(seed: u64) -> Faults {
    Faults {
        seed,
        p_503: 0.05,
        p_500: 0.05,
        p_502_html: 0.05,
        p_429: 0.05,
        p_reset_before_response: 0.05,
        p_reset_mid_body: 0.05,
        p_truncated_json: 0.05,
        p_slow: 0.05,
        slow_delay: Duration::from_millis(1),
        ..Faults::default()
    }
}

async fn faulty(faults: Faults, len: usize) -> RunningServer {
    FakeApi::builder()
        .dataset(Dataset::generate(8, len))
        .default_page_size(10)
        .faults(faults)
        .build()
        .start()
        .await
        .unwrap()
}

async fn outcomes(server: &RunningServer, n: usize) -> Vec<Outcome> {
    let client = reqwest::Client::new();
    let mut seen = Vec::with_capacity(n);
    for i in 0..n {
        // Different endpoints and pages: the draw depends on the request
        // number only.
        let path = match i % 3 {
            0 => "/items?cursor=c_a",
            1 => "/offset?offset=20",
            _ => "/link?page=2",
        };
        seen.push(outcome(&client, server.url(path)).await);
    }
    seen
}

#[tokio::test]
async fn faults_repeat_exactly_for_a_seed() {
    let faults = mixed(99);
    let first = faulty(faults.clone(), 50).await;
    let a = outcomes(&first, 300).await;
    let second = faulty(faults.clone(), 50).await;
    let b = outcomes(&second, 300).await;
    assert_eq!(a, b);
    let predicted: Vec<Outcome> = (0..300).map(|n| expected(faults.fault_for(n))).collect();
    assert_eq!(a, predicted);
    assert_eq!(first.stats(), second.stats());
    let other = faulty(mixed(100), 50).await;
    assert_ne!(outcomes(&other, 300).await, a);
}

#[tokio::test]
async fn fault_rates_follow_their_probabilities() {
    let server = faulty(mixed(7), 50).await;
    let seen = outcomes(&server, 1000).await;
    let count = |o: Outcome| seen.iter().filter(|s| **s == o).count() as u64;
    let stats = server.stats();
    assert_eq!(stats.data_requests, 1000);
    assert_eq!(stats.injected_503, count(Outcome::Status(503)));
    assert_eq!(stats.injected_500, count(Outcome::Status(500)));
    assert_eq!(stats.injected_502, count(Outcome::Status(502)));
    assert_eq!(stats.injected_429, count(Outcome::Status(429)));
    assert_eq!(stats.resets_before_response, count(Outcome::Reset));
    assert_eq!(stats.resets_mid_body, count(Outcome::CutBody));
    assert_eq!(stats.truncated_bodies, count(Outcome::InvalidJson));
    assert_eq!(stats.over_limit_429, 0);
    assert_eq!(stats.pages_served, count(Outcome::Page));
    for (kind, n) in [
        ("503", stats.injected_503),
        ("500", stats.injected_500),
        ("502", stats.injected_502),
        ("429", stats.injected_429),
        ("reset", stats.resets_before_response),
        ("mid-body", stats.resets_mid_body),
        ("truncated", stats.truncated_bodies),
        ("slow", stats.slow_responses),
    ] {
        // 5 % of 1000 is 50, with a standard deviation near 7.
        assert!((25..=75).contains(&n), "{kind}: {n}");
    }
    assert_eq!(
        stats.faults_injected() + stats.pages_served,
        stats.slow_responses + 1000
    );
}

#[tokio::test]
async fn status_faults_carry_their_bodies_and_retry_after() {
    let cases = [
        (
            Faults {
                p_503: 1.0,
                ..Faults::default()
            },
            503,
            "application/json",
        ),
        (
            Faults {
                p_500: 1.0,
                ..Faults::default()
            },
            500,
            "application/json",
        ),
        (
            Faults {
                p_502_html: 1.0,
                ..Faults::default()
            },
            502,
            "text/html",
        ),
        (
            Faults {
                p_429: 1.0,
                retry_after: RetryAfterStyle::Seconds(7),
                ..Faults::default()
            },
            429,
            "application/json",
        ),
    ];
    for (faults, status, content_type) in cases {
        let server = faulty(faults, 5).await;
        let response = reqwest::get(server.url("/items")).await.unwrap();
        assert_eq!(response.status(), status);
        assert_eq!(response.headers()["content-type"], content_type);
        let retry_after = response.headers().get("retry-after").cloned();
        assert_eq!(retry_after.is_some(), status == 429, "{status}");
        if status == 429 {
            assert_eq!(retry_after.unwrap(), "7");
        }
        let body = response.text().await.unwrap();
        if status == 502 {
            assert!(body.contains("<h1>502 Bad Gateway</h1>"), "{body}");
        } else {
            assert!(raw_field(&body, "error").is_some(), "{body}");
        }
        assert_eq!(server.stats().faults_injected(), 1);
        assert_eq!(server.stats().pages_served, 0);
    }

    let server = faulty(
        Faults {
            p_503: 1.0,
            retry_after_on_503: true,
            retry_after: RetryAfterStyle::HttpDate(120),
            ..Faults::default()
        },
        5,
    )
    .await;
    let response = reqwest::get(server.url("/items")).await.unwrap();
    let date = response.headers()["retry-after"].to_str().unwrap();
    let at = httpdate::parse_http_date(date).unwrap();
    let wait = at.duration_since(std::time::SystemTime::now()).unwrap();
    assert!(
        wait > Duration::from_secs(118) && wait <= Duration::from_secs(121),
        "{wait:?}"
    );
}

#[tokio::test]
async fn resets_and_truncations_break_the_right_layer() {
    let clean = faulty(Faults::default(), 30).await;
    let real = reqwest::get(clean.url("/items?limit=20"))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let client = reqwest::Client::new();

    // Closed before any byte: a transport error, no status.
    let server = faulty(
        Faults {
            p_reset_before_response: 1.0,
            ..Faults::default()
        },
        30,
    )
    .await;
    let err = client
        .get(server.url("/items?limit=20"))
        .send()
        .await
        .unwrap_err();
    assert!(!err.is_status() && !err.is_timeout(), "{err}");
    assert_eq!(server.stats().resets_before_response, 1);

    // Headers announce the whole page, the body breaks off.
    let server = faulty(
        Faults {
            p_reset_mid_body: 1.0,
            ..Faults::default()
        },
        30,
    )
    .await;
    let mut response = client
        .get(server.url("/items?limit=20"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.content_length(), Some(real.len() as u64));
    let mut received = Vec::new();
    let err = loop {
        match response.chunk().await {
            Ok(Some(chunk)) => received.extend_from_slice(&chunk),
            Ok(None) => panic!("the body completed"),
            Err(err) => break err,
        }
    };
    assert!(
        err.is_body() || err.is_decode() || err.is_request(),
        "{err}"
    );
    assert!(received.len() < real.len());
    assert_eq!(received[..], real[..received.len()]);
    assert_eq!(server.stats().resets_mid_body, 1);

    // A complete response whose JSON is cut short.
    let server = faulty(
        Faults {
            p_truncated_json: 1.0,
            ..Faults::default()
        },
        30,
    )
    .await;
    let response = client
        .get(server.url("/items?limit=20"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body = response.bytes().await.unwrap();
    assert!(!body.is_empty() && body.len() < real.len());
    assert_eq!(body[..], real[..body.len()]);
    assert!(serde_json::from_slice::<IgnoredAny>(&body).is_err());
    let stats = server.stats();
    assert_eq!((stats.truncated_bodies, stats.pages_served), (1, 0));
}

#[tokio::test]
async fn a_retried_request_gets_the_real_page() {
    let dataset = Dataset::generate(8, 95);
    let server = FakeApi::builder()
        .dataset(dataset.clone())
        .faults(Faults {
            seed: 3,
            p_slow: 0.0,
            ..mixed(3)
        })
        .build()
        .start()
        .await
        .unwrap();
    let client = reqwest::Client::new();
    let mut records = Vec::new();
    let mut cursor: Option<String> = None;
    let (mut attempts, mut pages) = (0, 0);
    loop {
        let mut url = server.url("/items?limit=10");
        if let Some(c) = &cursor {
            url.query_pairs_mut().append_pair("cursor", c);
        }
        // Retry the same URL until a whole, valid page arrives.
        let text = loop {
            attempts += 1;
            assert!(attempts < 200, "too many attempts");
            let Ok(response) = client.get(url.clone()).send().await else {
                continue;
            };
            if response.status() != 200 {
                continue;
            }
            if let Ok(text) = response.text().await
                && serde_json::from_str::<IgnoredAny>(&text).is_ok()
            {
                break text;
            }
        };
        pages += 1;
        records.extend(raw_array(&raw_field(&text, "data").unwrap()));
        let next = raw_field(&text, "next_cursor").unwrap();
        match serde_json::from_str::<Option<String>>(&next).unwrap() {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(records, dataset.records());
    let stats = server.stats();
    assert_eq!(pages, 10);
    assert_eq!(stats.pages_served, 10);
    assert!(stats.faults_injected() > 0);
    assert_eq!(stats.data_requests, attempts);
}

#[tokio::test(start_paused = true)]
async fn slow_responses_wait_on_tokio_time() {
    let server = faulty(
        Faults {
            p_slow: 1.0,
            slow_delay: Duration::from_secs(30),
            ..Faults::default()
        },
        5,
    )
    .await;
    let started = tokio::time::Instant::now();
    let client = reqwest::Client::new();
    let walked = walk(&server, &client, Style::Items, 2, "").await;
    assert_eq!(walked.sizes(), [2, 2, 1]);
    assert!(started.elapsed() >= Duration::from_secs(90));
    let stats = server.stats();
    assert_eq!((stats.slow_responses, stats.pages_served), (3, 3));
}

#[tokio::test]
async fn probes_are_never_faulted() {
    let server = faulty(
        Faults {
            p_503: 1.0,
            ..Faults::default()
        },
        5,
    )
    .await;
    assert_eq!(
        reqwest::get(server.url("/bytes?n=10"))
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        reqwest::get(server.url("/slow?ms=0"))
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        reqwest::get(server.url("/nope")).await.unwrap().status(),
        404
    );
    let stats = server.stats();
    assert_eq!(
        (stats.requests, stats.data_requests, stats.injected_503),
        (3, 0, 0)
    );
}
