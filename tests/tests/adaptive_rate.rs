//! `AdaptiveRate` end to end: the full stack (reqwest transport, cursor
//! paginator, exponential backoff, `HeaderAdaptive` + `AdaptiveRate`)
//! against the testkit's header-less `Throttle` — a sliding one-second
//! window that advertises nothing and answers `429` with `Retry-After` in
//! whole seconds, as Django REST framework's `AnonRateThrottle` does — with
//! 20 ms to answer each request it lets through.
//!
//! Everything runs on tokio's paused clock (see `resilience.rs`), so the
//! elapsed times below are the server's and the client's shared virtual time:
//! a run paced to 20 requests per second takes milliseconds of real time.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use haul::core::http::StatusCode;
use haul::core::{Request, Response, TransportError};
use haul::extractor::Event;
use haul::{
    AdaptiveRate, AllOf, CursorPaginator, ExponentialBackoff, Extractor, ExtractorBuilder,
    HeaderAdaptive, MemorySink, Observer, Permit, RateLimiter, RunSummary, Transport, Unlimited,
};
use haul_testkit::{Dataset, FakeApi, RunningServer, Throttle, ThrottleHandle};

/// Small pages, so a few thousand records make hundreds of requests.
const PAGE: usize = 10;
const LATENCY: Duration = Duration::from_millis(20);

async fn serve(dataset: &Dataset, throttle: Throttle) -> RunningServer {
    FakeApi::builder()
        .dataset(dataset.clone())
        .throttle(throttle)
        .build()
        .start()
        .await
        .expect("fake api starts")
}

fn builder(server: &RunningServer, stream: &str) -> ExtractorBuilder {
    Extractor::builder()
        .url(server.url("/items").as_str())
        .paginator(
            CursorPaginator::new("/next_cursor", "cursor")
                .records_at("/data")
                .page_size("limit", PAGE as u64),
        )
        .retry(ExponentialBackoff::default().seed(7))
        .stream(stream)
}

/// `HeaderAdaptive` + `AdaptiveRate`, sharing one `AdaptiveRate` the test can read.
fn adaptive(rate: &Arc<AdaptiveRate>) -> AllOf {
    AllOf::new()
        .with(HeaderAdaptive::new())
        .with(Arc::clone(rate))
}

/// Every record of `dataset` arrived exactly once, in order.
fn assert_exactly_once(sink: &MemorySink, stream: &str, dataset: &Dataset) {
    let records = sink.records(stream);
    assert_eq!(records.len(), dataset.len(), "record count of {stream}");
    assert!(
        records
            .iter()
            .map(|r| r.as_str())
            .eq(dataset.records().iter().map(String::as_str)),
        "{stream}: the records differ from the dataset (missing, duplicated or reordered)"
    );
}

struct Outcome {
    summary: RunSummary,
    server_429s: u64,
}

/// One sequential extraction of `dataset` through `limiter` from a fresh
/// throttled server, verified.
async fn extract(
    dataset: &Dataset,
    throttle: Throttle,
    limiter: impl RateLimiter + 'static,
) -> Outcome {
    let server = serve(dataset, throttle).await;
    let extractor = builder(&server, "items")
        .rate_limiter(limiter)
        .build()
        .unwrap();
    let sink = MemorySink::new();
    let summary = extractor.run(&sink).await.expect("the run completes");
    assert_exactly_once(&sink, "items", dataset);
    let stats = server.stats();
    assert_eq!(summary.requests, stats.data_requests);
    assert_eq!(
        summary.retries, stats.throttle_429,
        "every retry was a throttle"
    );
    Outcome {
        summary,
        server_429s: stats.throttle_429,
    }
}

#[tokio::test(start_paused = true)]
async fn learns_a_header_less_limit_of_20_per_second() {
    const PAGES: usize = 500;
    const RATE: u32 = 20;
    let dataset = Dataset::generate(31, PAGES * PAGE - 3);
    let throttle = Throttle::per_second(RATE).latency(LATENCY);
    let ideal = Duration::from_secs_f64(PAGES as f64 / f64::from(RATE));

    let unlimited = extract(&dataset, throttle, Unlimited).await;
    let header_adaptive = extract(&dataset, throttle, HeaderAdaptive::new()).await;
    let rate = Arc::new(AdaptiveRate::new());
    let learned = extract(&dataset, throttle, adaptive(&rate)).await;

    let state = rate.state();
    println!("{PAGES} pages against a header-less sliding window of {RATE}/s, ideal {ideal:.1?}:");
    for (name, o) in [
        ("Unlimited (no limiter)", &unlimited),
        ("HeaderAdaptive", &header_adaptive),
        ("HeaderAdaptive + AdaptiveRate", &learned),
    ] {
        println!(
            "  {name:<34} {:>7.2?} ({:.3}× ideal), {:>3} × 429, {} requests",
            o.summary.elapsed,
            o.summary.elapsed.as_secs_f64() / ideal.as_secs_f64(),
            o.server_429s,
            o.summary.requests,
        );
    }
    println!("  AdaptiveRate's final state: {state:?}");

    assert!(learned.server_429s <= 5, "{} × 429", learned.server_429s);
    assert!(
        learned.summary.elapsed <= ideal.mul_f64(1.15),
        "{:?} > 1.15 × {ideal:?}",
        learned.summary.elapsed
    );
    for today in [&unlimited, &header_adaptive] {
        assert!(learned.summary.elapsed <= today.summary.elapsed);
        assert!(learned.server_429s <= today.server_429s);
    }
    assert_eq!(state.throttles, learned.server_429s);
    // It learned the limit: the rate the server last accepted was 20/s.
    let cut = state.last_cut.expect("it was throttled at least once");
    assert!((cut.accepted - f64::from(RATE)).abs() < 1e-9, "{cut:?}");
}

/// Lowers the server's limit once `at` pages have been fetched, noting how
/// many 429s the server had sent by then.
struct StepDown {
    handle: ThrottleHandle,
    at: u64,
    to: u32,
    refused_before: Mutex<Option<u64>>,
}

impl Observer for StepDown {
    fn on_event(&self, event: &Event<'_>) {
        if let Event::PageFetched { number, .. } = event
            && *number == self.at
        {
            *self.refused_before.lock().unwrap() = Some(self.handle.refused());
            self.handle.set_limit(self.to);
        }
    }
}

#[tokio::test(start_paused = true)]
async fn settles_under_a_limit_lowered_from_40_to_10_per_second() {
    const PAGES: usize = 400;
    const HALF: u64 = 200;
    let dataset = Dataset::generate(32, PAGES * PAGE - 5);
    let server = serve(&dataset, Throttle::per_second(40).latency(LATENCY)).await;
    let handle = server.throttle().unwrap();
    let step = Arc::new(StepDown {
        handle: handle.clone(),
        at: HALF,
        to: 10,
        refused_before: Mutex::new(None),
    });
    let rate = Arc::new(AdaptiveRate::new());
    let extractor = builder(&server, "items")
        .rate_limiter(adaptive(&rate))
        .observer(step.clone())
        .build()
        .unwrap();
    let sink = MemorySink::new();
    let summary = extractor.run(&sink).await.unwrap();

    assert_exactly_once(&sink, "items", &dataset);
    let before = step
        .refused_before
        .lock()
        .unwrap()
        .expect("the limit was lowered");
    let after = handle.refused() - before;
    let state = rate.state();
    println!(
        "40/s then 10/s after {HALF} pages: {:.2?}, {before} × 429 before the step, {after} after; \
         final state {state:?}",
        summary.elapsed
    );
    assert!(after <= 10, "{after} throttling responses after the step");
    // Settled: the rate it last learned is the new limit, and it paces there.
    let cut = state.last_cut.unwrap();
    assert!(cut.accepted <= 10.0 + 1e-9, "{cut:?}");
    // 200 pages at 40/s and 200 at 10/s: 25 s when paced ideally.
    let ideal = Duration::from_secs(25);
    assert!(
        summary.elapsed <= ideal.mul_f64(1.15),
        "{:?}",
        summary.elapsed
    );
}

#[tokio::test(start_paused = true)]
async fn one_adaptive_rate_shared_by_three_streams_learns_their_common_limit() {
    const PAGES: usize = 150;
    const STREAMS: [&str; 3] = ["a", "b", "c"];
    let dataset = Dataset::generate(33, PAGES * PAGE - 1);
    let server = serve(&dataset, Throttle::per_second(20).latency(LATENCY)).await;
    let rate = Arc::new(AdaptiveRate::new());
    let limiter = Arc::new(adaptive(&rate));
    let extractors: Vec<Extractor> = STREAMS
        .iter()
        .map(|name| {
            builder(&server, name)
                .rate_limiter(Arc::clone(&limiter))
                .build()
                .unwrap()
        })
        .collect();
    let sinks: Vec<MemorySink> = STREAMS.iter().map(|_| MemorySink::new()).collect();
    let summaries =
        futures::future::join_all(extractors.iter().zip(&sinks).map(|(e, s)| e.run(s))).await;

    let elapsed = summaries
        .into_iter()
        .map(|s| s.unwrap().elapsed)
        .max()
        .unwrap();
    for (name, sink) in STREAMS.iter().zip(&sinks) {
        assert_exactly_once(sink, name, &dataset);
    }
    let stats = server.stats();
    let ideal = Duration::from_secs_f64((PAGES * STREAMS.len()) as f64 / 20.0);
    println!(
        "3 streams × {PAGES} pages sharing one AdaptiveRate at 20/s: {elapsed:.2?} (ideal {ideal:?}), \
         {} × 429; {:?}",
        stats.throttle_429,
        rate.state()
    );
    assert!(stats.throttle_429 <= 8, "{} × 429", stats.throttle_429);
    assert!(elapsed <= ideal.mul_f64(1.15), "{elapsed:?}");
}

/// Answers from a script, then the last page.
struct Scripted {
    script: Mutex<Vec<Response>>,
}

#[async_trait::async_trait]
impl Transport for Scripted {
    async fn send(&self, request: &Request) -> Result<Response, TransportError> {
        let next = self.script.lock().unwrap().pop();
        let mut response = next.unwrap_or_else(|| {
            Response::new(
                StatusCode::OK,
                request.url.clone(),
                r#"{"data":[{"id":1}],"next_cursor":null}"#,
            )
        });
        response.url = request.url.clone();
        Ok(response)
    }
}

/// Remembers the statuses it was told were throttling.
#[derive(Default)]
struct Recording {
    throttled: Mutex<Vec<u16>>,
}

impl RateLimiter for Recording {
    fn try_acquire(&self, _now: Duration) -> Permit {
        Permit::Granted
    }

    fn throttled(&self, response: &Response, _now: Duration, _wall: SystemTime) {
        self.throttled
            .lock()
            .unwrap()
            .push(response.status.as_u16());
    }
}

#[tokio::test(start_paused = true)]
async fn the_classifiers_throttling_verdict_reaches_the_limiter() {
    let url: haul::core::url::Url = "https://api.example.com/items".parse().unwrap();
    let status = |code| StatusCode::from_u16(code).unwrap();
    let mut script = vec![
        Response::new(status(429), url.clone(), "").with_header("retry-after", "1"),
        Response::new(status(503), url.clone(), "").with_header("retry-after", "1"),
        // GitHub's primary limit: a 403 whose headers say the budget is spent.
        Response::new(status(403), url.clone(), "").with_header("x-ratelimit-remaining", "0"),
        // A server error is retried but is no throttle.
        Response::new(status(500), url.clone(), ""),
    ];
    script.reverse();
    let limiter = Arc::new(Recording::default());
    let extractor = Extractor::builder()
        .url("https://api.example.com/items")
        .paginator(CursorPaginator::new("/next_cursor", "cursor").records_at("/data"))
        .transport(Scripted {
            script: Mutex::new(script),
        })
        .retry(ExponentialBackoff::default().seed(7))
        .rate_limiter(Arc::clone(&limiter))
        .build()
        .unwrap();
    let summary = extractor.run(&MemorySink::new()).await.unwrap();
    assert_eq!(summary.retries, 4);
    assert_eq!(*limiter.throttled.lock().unwrap(), [429, 503, 403]);
}
