//! Concurrent pages and streams: ordered delivery, checkpoints that never run
//! ahead of the sink, and a rate limiter shared by several streams.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use haul::core::{Position, Request, Response, TransportError};
use haul::extractor::{Event, Observer};
use haul::{
    ExtractError, Extractor, FixedRate, MemorySink, OffsetPaginator, ReqwestTransport, Sink,
    Transport,
};
use haul_testkit::{Dataset, FakeApi, Faults, RunningServer};

async fn slow_server(dataset: &Dataset, p_slow: f64, delay_ms: u64) -> RunningServer {
    FakeApi::builder()
        .dataset(dataset.clone())
        .faults(Faults {
            seed: 7,
            p_slow,
            slow_delay: Duration::from_millis(delay_ms),
            ..Faults::default()
        })
        .build()
        .start()
        .await
        .unwrap()
}

fn offset_pager(page_size: u64) -> OffsetPaginator {
    OffsetPaginator::new("offset")
        .limit("limit", page_size)
        .total_at("/total")
        .records_at("/results")
}

/// Tracks how many requests are in flight at once.
#[derive(Default)]
struct InFlight {
    now: AtomicI64,
    max: AtomicI64,
}

impl Observer for InFlight {
    fn on_event(&self, event: &Event<'_>) {
        match event {
            Event::RequestSent { .. } => {
                let n = self.now.fetch_add(1, Ordering::SeqCst) + 1;
                self.max.fetch_max(n, Ordering::SeqCst);
            }
            Event::Response { .. } => {
                self.now.fetch_sub(1, Ordering::SeqCst);
            }
            _ => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_pages_arrive_in_page_order() {
    let dataset = Dataset::generate(3, 3_000);
    // A third of the pages are slow, so responses complete out of order.
    let server = slow_server(&dataset, 0.3, 30).await;
    let in_flight = Arc::new(InFlight::default());
    let extractor = Extractor::builder()
        .url(server.url("/offset").to_string())
        .paginator(offset_pager(50))
        .concurrency(8)
        .observer(in_flight.clone())
        .build()
        .unwrap();
    let pages: Vec<_> = extractor.pages().collect().await;
    let numbers: Vec<u64> = pages.iter().map(|p| p.as_ref().unwrap().number).collect();
    assert_eq!(numbers, (1..=60).collect::<Vec<_>>());
    let records: Vec<String> = pages
        .into_iter()
        .flat_map(|p| p.unwrap().records)
        .map(|r| r.as_str().to_owned())
        .collect();
    assert_eq!(records, dataset.records());
    assert_eq!(
        server.stats().requests,
        60,
        "no page fetched twice, none extra"
    );
    assert!(
        in_flight.max.load(Ordering::SeqCst) > 1,
        "pages were not fetched concurrently"
    );
    assert!(
        in_flight.max.load(Ordering::SeqCst) <= 8,
        "more than K in flight"
    );
}

/// Holds the request for one offset back for a second, and counts the
/// requests sent meanwhile.
struct SlowAt {
    inner: ReqwestTransport,
    offset: &'static str,
    pending: std::sync::atomic::AtomicBool,
    sent_behind: Arc<AtomicI64>,
}

#[async_trait]
impl Transport for SlowAt {
    async fn send(&self, request: &Request) -> Result<Response, TransportError> {
        if request.query("offset").as_deref() == Some(self.offset) {
            self.pending.store(true, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_secs(1)).await;
            self.pending.store(false, Ordering::SeqCst);
        } else if self.pending.load(Ordering::SeqCst) {
            self.sent_behind.fetch_add(1, Ordering::SeqCst);
        }
        self.inner.send(request).await
    }
}

/// One page answers a second late: the requests after it keep the other
/// slots busy (their pages wait, in order, behind it) until the reorder
/// buffer holds `k` answered pages beyond the `k` in flight — not just until
/// the `k - 1` requests sent with it are answered.
#[tokio::test(start_paused = true)]
async fn a_slow_page_does_not_idle_the_other_slots() {
    let dataset = Dataset::generate(5, 2_000);
    let server = slow_server(&dataset, 0.0, 0).await;
    let sent_behind = Arc::new(AtomicI64::new(0));
    let k = 4;
    let extractor = Extractor::builder()
        .url(server.url("/offset").to_string())
        .paginator(offset_pager(50))
        .concurrency(k)
        .transport(SlowAt {
            inner: ReqwestTransport::new().unwrap(),
            offset: "50",
            pending: false.into(),
            sent_behind: Arc::clone(&sent_behind),
        })
        .build()
        .unwrap();
    let pages: Vec<_> = extractor.pages().collect().await;
    let numbers: Vec<u64> = pages.iter().map(|p| p.as_ref().unwrap().number).collect();
    assert_eq!(numbers, (1..=40).collect::<Vec<_>>());
    assert_eq!(server.stats().requests, 40);
    // The slow page (2) and the 2k - 1 pages after it are listed: the
    // requests for pages 3 to 2k + 1 went out while page 2 was held back.
    assert_eq!(sent_behind.load(Ordering::SeqCst), 2 * k as i64 - 1);
}

/// Fails the request for one offset with a 400 (not retryable).
struct FailAt {
    inner: ReqwestTransport,
    offset: &'static str,
    armed: bool,
}

#[async_trait]
impl Transport for FailAt {
    async fn send(&self, request: &Request) -> Result<Response, TransportError> {
        if self.armed && request.query("offset").as_deref() == Some(self.offset) {
            return Ok(Response::new(
                http::StatusCode::BAD_REQUEST,
                request.url.clone(),
                r#"{"error":"nope"}"#,
            ));
        }
        self.inner.send(request).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpoint_never_covers_a_page_that_is_not_written() {
    let dataset = Dataset::generate(4, 2_000);
    let server = slow_server(&dataset, 0.3, 20).await;
    let sink = MemorySink::new(); // appending: a replayed page would show up twice
    let build = |armed| {
        Extractor::builder()
            .url(server.url("/offset").to_string())
            .paginator(offset_pager(50))
            .concurrency(8)
            .batch_size(1)
            .transport(FailAt {
                inner: ReqwestTransport::new().unwrap(),
                offset: "1000",
                armed,
            })
            .stream("items")
            .build()
            .unwrap()
    };
    let err = build(true).run(&sink).await.unwrap_err();
    assert!(
        matches!(&err, ExtractError::Http { status, .. } if status.as_u16() == 400),
        "{err}"
    );
    // Pages 1..=20 (offsets 0..950) are committed, nothing after the failed page 21.
    let cp = sink.checkpoint("items").unwrap();
    assert_eq!((cp.pages, cp.records), (20, 1_000));
    match &cp.position {
        Position::Next(saved) => assert!(saved.url.contains("offset=1000"), "{}", saved.url),
        other => panic!("expected the failed page as the resume point, got {other:?}"),
    }
    let committed: Vec<String> = sink
        .records("items")
        .iter()
        .map(|r| r.as_str().to_owned())
        .collect();
    assert_eq!(committed, dataset.records()[..1_000]);

    let summary = build(false).run(&sink).await.unwrap();
    assert_eq!(summary.resumed_after_page, 20);
    let all: Vec<String> = sink
        .records("items")
        .iter()
        .map(|r| r.as_str().to_owned())
        .collect();
    assert_eq!(
        all,
        dataset.records(),
        "every record exactly once, in order"
    );
}

/// Four streams share one 40/s limiter (burst 4) against a server that
/// timestamps every request it receives: no one-second window, anywhere in
/// the run, holds more than the quota plus the burst. Paused tokio time: the
/// server's clock and the limiter's are the same clock, and no real second
/// passes.
#[tokio::test(start_paused = true)]
async fn streams_sharing_one_limiter_stay_within_its_quota() {
    let dataset = Dataset::generate(5, 400);
    let server = FakeApi::builder()
        .dataset(dataset.clone())
        .record_requests(true)
        .build()
        .start()
        .await
        .unwrap();
    let limiter = Arc::new(FixedRate::new(40, Duration::from_secs(1)).burst(4));
    let transport = Arc::new(ReqwestTransport::new().unwrap());
    let extractors: Vec<Extractor> = (0..4)
        .map(|i| {
            Extractor::builder()
                .url(server.url("/offset").to_string())
                .paginator(offset_pager(20))
                .transport(transport.clone())
                .rate_limiter(limiter.clone())
                .stream(format!("part{i}"))
                .build()
                .unwrap()
        })
        .collect();
    let sink = MemorySink::with_primary_key("/id");
    let results = Extractor::run_all(&extractors, &sink).await;
    for (i, r) in results.iter().enumerate() {
        assert_eq!(r.as_ref().unwrap().records, 400, "stream {i}");
        assert_eq!(sink.records(&format!("part{i}")).len(), 400);
        assert!(
            sink.open(&format!("part{i}"))
                .await
                .unwrap()
                .unwrap()
                .is_done()
        );
    }
    // 4 streams × 20 pages = 80 requests, as the server received them.
    let mut received: Vec<tokio::time::Instant> = server
        .seen_requests()
        .iter()
        .filter(|r| r.path == "/offset")
        .map(|r| r.received)
        .collect();
    received.sort();
    assert_eq!(received.len(), 80);
    // Every one-second window [t, t + 1 s) starting at a request: at most
    // 40 + the burst of 4.
    let busiest = received
        .iter()
        .map(|&t| {
            received
                .iter()
                .filter(|&&u| u >= t && u < t + Duration::from_secs(1))
                .count()
        })
        .max()
        .unwrap();
    assert!(
        busiest <= 44,
        "{busiest} requests reached the server within one second (quota 40/s + burst 4)"
    );
    // The limiter, not the streams, set the pace: the run took as long as
    // the quota requires, and it ran at the quota.
    let span = *received.last().unwrap() - received[0];
    assert!(span >= Duration::from_millis(1_900), "{span:?}");
    assert!(busiest >= 40, "the run never reached the quota: {busiest}");
}

mod adaptive_concurrency {
    //! Scenario tests for AIMD concurrency against a simulated server with a
    //! latency knee and a rate cap, under paused tokio time (no sockets).

    use std::sync::Arc;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use async_trait::async_trait;
    use haul::core::{Request, Response, TransportError};
    use haul::extractor::{Event, Observer};
    use haul::ratelimit::AdaptiveConcurrency;
    use haul::{ExponentialBackoff, Extractor, MemorySink, OffsetPaginator, Transport};

    const TOTAL: u64 = 20_000;
    const PAGE: u64 = 10;

    /// Latency grows linearly past `knee` requests in flight; more than
    /// `cap` requests in one second are answered 429.
    struct KneeServer {
        knee: usize,
        base: Duration,
        cap: u64,
        in_flight: AtomicUsize,
        window: Mutex<(tokio::time::Instant, u64)>,
        /// When each response went out, and whether it was a 429.
        answered: Mutex<Vec<(tokio::time::Instant, bool)>>,
    }

    impl KneeServer {
        fn new(knee: usize, cap: u64) -> Self {
            Self {
                knee,
                base: Duration::from_millis(20),
                cap,
                in_flight: AtomicUsize::new(0),
                window: Mutex::new((tokio::time::Instant::now(), 0)),
                answered: Mutex::new(Vec::new()),
            }
        }
    }

    #[async_trait]
    impl Transport for KneeServer {
        async fn send(&self, request: &Request) -> Result<Response, TransportError> {
            let n = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            let latency = self.base.mul_f64((n as f64 / self.knee as f64).max(1.0));
            let over = {
                let mut w = self.window.lock().unwrap();
                let now = tokio::time::Instant::now();
                if now.duration_since(w.0) >= Duration::from_secs(1) {
                    *w = (now, 0);
                }
                w.1 += 1;
                w.1 > self.cap
            };
            tokio::time::sleep(latency).await;
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            self.answered
                .lock()
                .unwrap()
                .push((tokio::time::Instant::now(), over));
            let mut response = if over {
                Response::new(http::StatusCode::TOO_MANY_REQUESTS, request.url.clone(), "")
            } else {
                let offset: u64 = request
                    .query("offset")
                    .and_then(|o| o.parse().ok())
                    .unwrap_or(0);
                let end = (offset + PAGE).min(TOTAL);
                let items: Vec<String> = (offset..end).map(|i| format!("{{\"id\":{i}}}")).collect();
                Response::new(
                    http::StatusCode::OK,
                    request.url.clone(),
                    format!("{{\"results\":[{}],\"total\":{TOTAL}}}", items.join(",")),
                )
            };
            response.elapsed = latency;
            Ok(response)
        }
    }

    /// Samples the limit, and the time, after every page.
    struct Sampler(
        Arc<AdaptiveConcurrency>,
        Mutex<Vec<(tokio::time::Instant, usize)>>,
    );

    impl Observer for Sampler {
        fn on_event(&self, event: &Event<'_>) {
            if let Event::PageFetched { .. } = event {
                self.1
                    .lock()
                    .unwrap()
                    .push((tokio::time::Instant::now(), self.0.limit()));
            }
        }
    }

    /// The settled part of a run: from the end of its first quarter of pages.
    struct Settled {
        /// The limit after each page.
        limits: Vec<usize>,
        /// The median of `limits`.
        median: f64,
        /// Responses, and 429s among them.
        requests: usize,
        throttled: usize,
        /// Successful responses per second.
        throughput: f64,
    }

    async fn scenario(server: Arc<KneeServer>) -> Settled {
        let limiter = Arc::new(AdaptiveConcurrency::new(1, 64));
        let sampler = Arc::new(Sampler(limiter.clone(), Mutex::new(Vec::new())));
        let extractor = Extractor::builder()
            .url("http://knee.test/items")
            .paginator(
                OffsetPaginator::new("offset")
                    .limit("limit", PAGE)
                    .total_at("/total")
                    .records_at("/results"),
            )
            .transport(server.clone())
            .rate_limiter(limiter)
            .retry(
                ExponentialBackoff::default()
                    .seed(3)
                    .base(Duration::from_millis(10))
                    .cap(Duration::from_millis(200))
                    .max_attempts(20)
                    .budget(None),
            )
            .concurrency(64)
            .observer(sampler.clone())
            .build()
            .unwrap();
        let sink = MemorySink::with_primary_key("/id");
        let summary = extractor.run(&sink).await.unwrap();
        assert_eq!(summary.records, TOTAL);
        assert_eq!(sink.records("default").len() as u64, TOTAL);
        let samples = sampler.1.lock().unwrap().clone();
        let (from, _) = samples[samples.len() / 4];
        let mut limits: Vec<usize> = samples[samples.len() / 4..]
            .iter()
            .map(|(_, l)| *l)
            .collect();
        let answered: Vec<(tokio::time::Instant, bool)> = server
            .answered
            .lock()
            .unwrap()
            .iter()
            .copied()
            .filter(|(at, _)| *at > from)
            .collect();
        let end = answered.iter().map(|(at, _)| *at).max().unwrap();
        let throttled = answered.iter().filter(|(_, over)| *over).count();
        let throughput =
            (answered.len() - throttled) as f64 / end.duration_since(from).as_secs_f64();
        let settled = limits.clone();
        limits.sort_unstable();
        let mid = limits.len() / 2;
        let median = if limits.len().is_multiple_of(2) {
            (limits[mid - 1] + limits[mid]) as f64 / 2.0
        } else {
            limits[mid] as f64
        };
        Settled {
            limits: settled,
            median,
            requests: answered.len(),
            throttled,
            throughput,
        }
    }

    /// The limit's median is within 0.7–1.3 × `ideal`.
    fn assert_near(settled: &Settled, ideal: f64) {
        let m = settled.median;
        assert!(
            (0.7 * ideal..=1.3 * ideal).contains(&m),
            "median settled limit {m}, ideal {ideal}: {:?}",
            settled.limits
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_limit_settles_around_the_latency_knee() {
        // Latency grows past 16 in flight: after warm-up (the first quarter
        // of the pages), the median limit is within 0.7–1.3 × the knee.
        let server = Arc::new(KneeServer::new(16, 1_000_000));
        let settled = scenario(server).await;
        assert_near(&settled, 16.0);
        assert_eq!(settled.throttled, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn throttling_settles_the_limit_at_a_rate_cap() {
        // Latency never rises (knee 64), but more than 300 requests in a
        // second are refused: at 20 ms, 6 in flight is the cap. Once settled
        // the limit is within 0.7–1.3 × 6, under 2 % of requests are
        // refused, and the throughput is at least 0.85 × the cap.
        let server = Arc::new(KneeServer::new(64, 300));
        let settled = scenario(server.clone()).await;
        assert_near(&settled, 6.0);
        let share = settled.throttled as f64 / settled.requests as f64;
        assert!(
            share < 0.02,
            "{} of {} settled requests were refused",
            settled.throttled,
            settled.requests
        );
        assert!(
            settled.throughput >= 0.85 * 300.0,
            "{:.1} requests/s against a cap of 300/s",
            settled.throughput
        );
        // The scenario did throttle: the first ramp ran into the cap.
        assert!(
            server
                .answered
                .lock()
                .unwrap()
                .iter()
                .any(|(_, over)| *over),
            "the scenario must actually throttle"
        );
    }
}
