//! Resilience end to end: the full stack (reqwest transport, cursor
//! paginator, exponential backoff, header-adaptive limiter) against the
//! testkit's `FakeApi` with a server-side rate limit and seeded faults, plus
//! the throttling and give-up paths with a mocked transport and a manual clock.
//!
//! Runs against the real server use `start_paused`: the server's rate-limit
//! window and the extractor's `SystemClock` / `TokioSleeper` all run on
//! tokio's clock, which jumps over every wait while the runtime is idle, so
//! a run paced to 20 requests per second takes milliseconds of real time.
//! Loopback I/O between client and server (both on the test's one thread)
//! is delivered before the runtime parks, so the clock never jumps while a
//! response is on its way; a spurious jump would fire a client timeout and
//! show up as an extra retry, which the exact retry accounting below catches.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use haul::core::http::StatusCode;
use haul::core::{Clock, ManualClock, Request, Response, TransportError};
use haul::extractor::Event;
use haul::ratelimit::{HeaderAdaptive, Permit, RateLimiter};
use haul::retry::{Classification, Classifier, GiveUp, HttpClassifier, Outcome};
use haul::transport::ReqwestTransport;
use haul::{
    CursorPaginator, ExponentialBackoff, ExtractError, Extractor, ExtractorBuilder, MemorySink,
    Observer, RetryBudget, RunSummary, Transport,
};
use haul_testkit::{
    Dataset, FakeApi, FaultKind, Faults, RateLimit, ResetStyle, RetryAfterStyle, RunningServer,
    Stats,
};

mod support;
use support::{API, ONE_PAGE, Scripted, cursor_paginator, response, texts};

const STREAM: &str = "items";
/// Small pages, so a few hundred records make many requests.
const PAGE: usize = 10;

// ---------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------

async fn serve(
    dataset: &Dataset,
    limit: Option<RateLimit>,
    faults: Option<Faults>,
) -> RunningServer {
    let mut builder = FakeApi::builder().dataset(dataset.clone());
    if let Some(limit) = limit {
        builder = builder.rate_limit(limit);
    }
    if let Some(faults) = faults {
        builder = builder.faults(faults);
    }
    builder.build().start().await.expect("fake api starts")
}

fn paginator() -> CursorPaginator {
    cursor_paginator(PAGE)
}

/// The default stack on `/items` of `server`, with a fixed jitter seed.
fn builder(server: &RunningServer) -> ExtractorBuilder {
    Extractor::builder()
        .url(server.url("/items").as_str())
        .paginator(paginator())
        .retry(ExponentialBackoff::default().seed(7))
        .stream(STREAM)
}

/// Every record of `dataset` arrived exactly once, byte for byte and in order
/// (an appending sink: a duplicate would show, not be upserted away).
fn assert_exactly_once(sink: &MemorySink, dataset: &Dataset) {
    let records = sink.records(STREAM);
    assert_eq!(records.len(), dataset.len(), "record count");
    assert!(
        texts(&records) == dataset.records(),
        "the records differ from the dataset (missing, duplicated or reordered)"
    );
}

/// The retries an extractor scheduled, as (attempt that failed, delay, reason).
#[derive(Debug, Default)]
struct Recorder {
    retries: Mutex<Vec<(u32, Duration, String)>>,
}

impl Recorder {
    fn retries(&self) -> Vec<(u32, Duration, String)> {
        self.retries.lock().unwrap().clone()
    }

    /// Retries whose reason satisfies `pick`.
    fn count(&self, pick: impl Fn(&str) -> bool) -> u64 {
        self.retries().iter().filter(|(_, _, r)| pick(r)).count() as u64
    }
}

impl Observer for Recorder {
    fn on_event(&self, event: &Event<'_>) {
        if let Event::RetryScheduled {
            attempt,
            delay,
            reason,
            ..
        } = event
        {
            self.retries
                .lock()
                .unwrap()
                .push((*attempt, *delay, (*reason).to_owned()));
        }
    }
}

/// Runs `extractor` into a fresh appending sink.
async fn run(extractor: &Extractor) -> (RunSummary, MemorySink) {
    let sink = MemorySink::new();
    let summary = extractor.run(&sink).await.expect("the run completes");
    (summary, sink)
}

/// Client and server agree on every request: one data request per send, one
/// served page per fetched page.
fn assert_counts_agree(summary: &RunSummary, stats: &Stats) {
    assert!(summary.finished);
    assert_eq!(
        summary.requests, stats.data_requests,
        "requests sent vs received"
    );
    assert_eq!(summary.pages, stats.pages_served, "pages fetched vs served");
    assert_eq!(
        summary.requests,
        summary.pages + summary.retries,
        "every request is a page or a retry"
    );
}

// ---------------------------------------------------------------------------
// 1. a server limited to 20 requests/s: header-adaptive pacing, zero 429s
// ---------------------------------------------------------------------------

/// Extracts `pages` pages from a server limited to 20 requests per second,
/// pacing with [`HeaderAdaptive`] alone, and checks nothing was refused.
async fn paced_run(
    limit: RateLimit,
    pages: usize,
    transport: impl Transport + 'static,
) -> RunSummary {
    let dataset = Dataset::generate(11, pages * PAGE - 3);
    let server = serve(&dataset, Some(limit), None).await;
    let extractor = builder(&server)
        .transport(transport)
        .rate_limiter(HeaderAdaptive::new())
        .build()
        .unwrap();

    let (summary, sink) = run(&extractor).await;

    assert_exactly_once(&sink, &dataset);
    let stats = server.stats();
    assert_eq!(
        stats.over_limit_429, 0,
        "the server had to refuse requests: {stats:?}"
    );
    assert_eq!(stats.faults_injected(), 0);
    assert_eq!(summary.pages, pages as u64);
    assert_eq!(
        summary.retries, 0,
        "nothing to retry when nothing is refused"
    );
    assert_counts_agree(&summary, &stats);
    // The limiter, not luck, kept the run under the limit: it waited, and
    // (tokio time) the run spanned at least the windows the limit requires.
    assert!(summary.throttle_wait > Duration::ZERO, "{summary}");
    let windows = pages.div_ceil(limit.limit as usize) as u32;
    assert!(summary.elapsed >= limit.window * (windows - 1), "{summary}");
    // Pacing is not stalling: whole-second rounding of the reset and the
    // limiter's margin cost at most about one extra second per window.
    assert!(
        summary.elapsed <= (limit.window + Duration::from_millis(1_300)) * windows,
        "{summary}"
    );
    summary
}

#[tokio::test(start_paused = true)]
async fn header_adaptive_keeps_200_pages_under_an_epoch_reset_limit() {
    let limit = RateLimit::new(20, Duration::from_secs(1));
    assert_eq!(limit.reset, ResetStyle::EpochSeconds);
    paced_run(limit, 200, ReqwestTransport::builder().build().unwrap()).await;
}

#[tokio::test(start_paused = true)]
async fn header_adaptive_keeps_to_a_delta_seconds_reset_limit() {
    let limit = RateLimit::new(20, Duration::from_secs(1)).reset_style(ResetStyle::DeltaSeconds);
    paced_run(limit, 60, ReqwestTransport::builder().build().unwrap()).await;
}

/// Hides the `X-RateLimit-*` headers, so only the IETF ones can pace.
struct IetfOnly {
    inner: ReqwestTransport,
    seen: Mutex<u64>,
}

#[async_trait]
impl Transport for IetfOnly {
    async fn send(&self, request: &Request) -> Result<Response, TransportError> {
        let mut response = self.inner.send(request).await?;
        for name in [
            "x-ratelimit-limit",
            "x-ratelimit-remaining",
            "x-ratelimit-reset",
        ] {
            assert!(
                response.headers.remove(name).is_some(),
                "the server sends {name}"
            );
        }
        assert!(response.headers.contains_key("ratelimit"));
        assert!(response.headers.contains_key("ratelimit-policy"));
        *self.seen.lock().unwrap() += 1;
        Ok(response)
    }
}

#[tokio::test(start_paused = true)]
async fn header_adaptive_keeps_to_a_limit_advertised_only_in_ietf_headers() {
    let limit = RateLimit::new(20, Duration::from_secs(1)).with_ietf_headers();
    let transport = Arc::new(IetfOnly {
        inner: ReqwestTransport::builder().build().unwrap(),
        seen: Mutex::new(0),
    });
    let summary = paced_run(limit, 60, transport.clone()).await;
    assert_eq!(*transport.seen.lock().unwrap(), summary.requests);
}

#[tokio::test(start_paused = true)]
async fn one_header_adaptive_limiter_shared_by_concurrent_streams_keeps_to_the_limit() {
    let dataset = Dataset::generate(12, 300);
    let server = serve(
        &dataset,
        Some(RateLimit::new(20, Duration::from_secs(1))),
        None,
    )
    .await;
    let limiter = Arc::new(HeaderAdaptive::new());
    let extractor = |name: &str| {
        builder(&server)
            .stream(name)
            .rate_limiter(limiter.clone())
            .build()
            .unwrap()
    };
    let (a, b, c) = (extractor("a"), extractor("b"), extractor("c"));
    let (sa, sb, sc) = (MemorySink::new(), MemorySink::new(), MemorySink::new());

    let (ra, rb, rc) = futures::join!(a.run(&sa), b.run(&sb), c.run(&sc));

    let stats = server.stats();
    for (name, result, sink) in [("a", ra, &sa), ("b", rb, &sb), ("c", rc, &sc)] {
        let summary = result.unwrap();
        assert!(summary.finished);
        assert_eq!(summary.pages, 30, "{name}");
        assert_eq!(texts(&sink.records(name)), dataset.records(), "{name}");
    }
    assert_eq!(
        stats.over_limit_429, 0,
        "the shared limiter overspent: {stats:?}"
    );
    assert_eq!(stats.data_requests, 90);
}

// ---------------------------------------------------------------------------
// 2. 10 % of requests faulted: every record exactly once, every retry counted
// ---------------------------------------------------------------------------

const KINDS: [FaultKind; 8] = [
    FaultKind::Status503,
    FaultKind::Status500,
    FaultKind::Status502Html,
    FaultKind::Status429,
    FaultKind::ResetBeforeResponse,
    FaultKind::ResetMidBody,
    FaultKind::TruncatedJson,
    FaultKind::Slow,
];

/// 10 % of data requests faulted, spread over every kind, with the first
/// seed at or after `from` whose first `within` draws hold every kind (the
/// draws are a pure function of seed and arrival number, and a sequential
/// client makes at least `within` requests).
fn ten_percent(retry_after: RetryAfterStyle, from: u64, within: u64) -> Faults {
    let mix = |seed| Faults {
        seed,
        p_503: 0.0125,
        p_500: 0.0125,
        p_502_html: 0.0125,
        p_429: 0.0125,
        p_reset_before_response: 0.0125,
        p_reset_mid_body: 0.0125,
        p_truncated_json: 0.0125,
        p_slow: 0.0125,
        // Far longer than the client's read timeout below.
        slow_delay: Duration::from_secs(30),
        retry_after,
        ..Faults::default()
    };
    let faults = (from..)
        .map(mix)
        .find(|f| {
            let drawn: Vec<_> = (0..within).filter_map(|n| f.fault_for(n)).collect();
            KINDS.iter().all(|kind| drawn.contains(kind))
        })
        .unwrap();
    assert!((faults.total_probability() - 0.10).abs() < 1e-12);
    faults
}

/// A transport whose read timeout the slow fault exceeds.
fn impatient() -> ReqwestTransport {
    ReqwestTransport::builder()
        .read_timeout(Duration::from_secs(2))
        .build()
        .unwrap()
}

/// Runs 200 pages through a server faulting 10 % of requests and checks the
/// records and an exact account of what each fault cost; returns the 429
/// retry delays.
async fn faulted_run(faults: Faults) -> (Vec<Duration>, RunSummary, Stats) {
    let dataset = Dataset::generate(21, 200 * PAGE - 1);
    let server = serve(&dataset, None, Some(faults)).await;
    let recorder = Arc::new(Recorder::default());
    let extractor = builder(&server)
        .transport(impatient())
        .observer(recorder.clone())
        .build()
        .unwrap();

    let (summary, sink) = run(&extractor).await;

    assert_exactly_once(&sink, &dataset);
    let stats = server.stats();
    assert_eq!(summary.pages, 200);
    assert_counts_agree(&summary, &stats);
    // No rate limit is configured here, so there is no over-limit 429 to
    // count: the faulted run under a real limit is
    // `realistic_faults_under_a_rate_limit_complete_without_over_limit_429s`.
    // Each injected fault costs exactly one retry: the summary counts them all.
    assert_eq!(
        summary.retries,
        stats.faults_injected(),
        "{summary}; {stats:?}"
    );
    assert_eq!(recorder.retries().len() as u64, summary.retries);
    // ... and each kind was retried for the right reason.
    let http = |code: &'static str| move |r: &str| r.starts_with(&format!("HTTP {code} "));
    assert_eq!(recorder.count(http("503")), stats.injected_503);
    assert_eq!(recorder.count(http("500")), stats.injected_500);
    assert_eq!(recorder.count(http("502")), stats.injected_502);
    assert_eq!(recorder.count(http("429")), stats.injected_429);
    assert_eq!(
        recorder.count(|r| r.contains("is not valid JSON")),
        stats.truncated_bodies
    );
    assert_eq!(
        recorder.count(|r| r.contains("timed out")),
        stats.slow_responses
    );
    assert_eq!(
        recorder.count(|r| r.contains("was reset") || r.contains("was truncated")),
        stats.resets_before_response + stats.resets_mid_body,
    );
    for counter in [
        stats.injected_503,
        stats.injected_500,
        stats.injected_502,
        stats.injected_429,
        stats.resets_before_response,
        stats.resets_mid_body,
        stats.truncated_bodies,
        stats.slow_responses,
    ] {
        assert!(counter > 0, "every fault kind was exercised: {stats:?}");
    }
    // Only the server's 429s are throttling; their waits are the throttle time.
    let waits: Vec<Duration> = recorder
        .retries()
        .into_iter()
        .filter(|(_, _, r)| http("429")(r))
        .map(|(_, d, _)| d)
        .collect();
    // The throttle time is those waits, plus at most a sub-millisecond
    // residue per 429 from the default limiter: it learns the same
    // `Retry-After`, and an HTTP-date is converted against the real wall
    // clock while this test's monotonic time is paused, so the limiter may
    // ask for the 100 µs floor once the retry's own wait is over.
    let retry_waits = waits.iter().sum::<Duration>();
    let residue = summary.throttle_wait.checked_sub(retry_waits);
    assert!(
        residue.is_some_and(|r| r < Duration::from_millis(1) * (waits.len() as u32).max(1)),
        "throttle wait {:?} vs the 429s' retry waits {retry_waits:?}",
        summary.throttle_wait
    );
    (waits, summary, stats)
}

#[tokio::test(start_paused = true)]
async fn ten_percent_faults_with_retry_after_seconds() {
    let faults = ten_percent(RetryAfterStyle::Seconds(3), 0, 200);
    let (waits, ..) = faulted_run(faults).await;
    // Retry-After in delta-seconds is honored exactly.
    assert!(
        waits.iter().all(|d| *d == Duration::from_secs(3)),
        "{waits:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn ten_percent_faults_with_retry_after_http_date() {
    let faults = ten_percent(RetryAfterStyle::HttpDate(3), 100, 200);
    let (waits, ..) = faulted_run(faults).await;
    // The server writes now + 3 s rounded up to a whole second; the client
    // reads it moments later against its own wall clock.
    assert!(
        waits
            .iter()
            .all(|d| *d > Duration::from_secs(1) && *d <= Duration::from_secs(4)),
        "{waits:?}"
    );
}

/// The demo's situation: a realistic fault mix and an advertised server rate
/// limit at once.
#[tokio::test(start_paused = true)]
async fn realistic_faults_under_a_rate_limit_complete_without_over_limit_429s() {
    let dataset = Dataset::generate(31, 200 * PAGE);
    let faults = (0..)
        .map(Faults::realistic)
        .find(|f| (0..200).any(|n| f.fault_for(n) == Some(FaultKind::Status429)))
        .unwrap();
    let server = serve(
        &dataset,
        Some(RateLimit::new(20, Duration::from_secs(1))),
        Some(faults),
    )
    .await;
    let extractor = builder(&server)
        .rate_limiter(HeaderAdaptive::new())
        .build()
        .unwrap();

    let (summary, sink) = run(&extractor).await;

    assert_exactly_once(&sink, &dataset);
    let stats = server.stats();
    assert_counts_agree(&summary, &stats);
    assert!(stats.injected_429 > 0, "{stats:?}");
    assert_eq!(stats.over_limit_429, 0, "{stats:?}");
    assert!(summary.retries > 0);
    assert_eq!(
        summary.retries,
        stats.faults_injected(),
        "{summary}; {stats:?}"
    );
    assert!(summary.throttle_wait > Duration::ZERO);
}

// ---------------------------------------------------------------------------
// mocked transport helpers
// ---------------------------------------------------------------------------

fn epoch_secs(at: SystemTime) -> u64 {
    at.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs()
}

/// The mocked stack on a manual clock: nothing waits for real.
fn on_clock(transport: Arc<Scripted>, clock: &ManualClock) -> ExtractorBuilder {
    Extractor::builder()
        .url(API)
        .paginator(paginator())
        .transport(transport)
        .retry(ExponentialBackoff::default().seed(3))
        .clock(clock.clone())
        .sleeper(clock.clone())
        .stream(STREAM)
}

// ---------------------------------------------------------------------------
// 3. GitHub-style throttling: 403 with X-RateLimit-Remaining: 0
// ---------------------------------------------------------------------------

#[test]
fn github_403_with_remaining_zero_is_throttling_and_the_limiter_waits_for_the_reset() {
    let clock = ManualClock::new();
    let reset = epoch_secs(clock.wall()) + 60;
    let github = response(
        403,
        r#"{"message":"API rate limit exceeded"}"#,
        &[
            ("x-ratelimit-limit", "60".into()),
            ("x-ratelimit-remaining", "0".into()),
            ("x-ratelimit-reset", reset.to_string()),
        ],
    );
    assert_eq!(
        HttpClassifier.classify(Outcome::Response(&github), clock.wall()),
        Classification::Throttled {
            status: StatusCode::FORBIDDEN,
            retry_after: None
        }
    );
    // A 403 without the exhausted budget is a plain, permanent 403.
    let forbidden = response(403, "", &[("x-ratelimit-remaining", "59".into())]);
    assert_eq!(
        HttpClassifier.classify(Outcome::Response(&forbidden), clock.wall()),
        Classification::Permanent
    );

    let limiter = HeaderAdaptive::new().reset_margin(Duration::ZERO);
    clock.advance(Duration::from_secs(5));
    limiter.observe(&github, clock.now(), clock.wall());
    // Reset 60 s after t = 0, observed at t = 5 s: 55 s to go, nothing before.
    assert_eq!(
        limiter.try_acquire(clock.now()),
        Permit::Wait(Duration::from_secs(55))
    );
    clock.advance(Duration::from_secs(54));
    assert_eq!(
        limiter.try_acquire(clock.now()),
        Permit::Wait(Duration::from_secs(1))
    );
    clock.advance(Duration::from_secs(1));
    assert_eq!(limiter.try_acquire(clock.now()), Permit::Granted);
}

#[tokio::test]
async fn github_403_rate_limit_is_retried_after_the_reset() {
    let clock = ManualClock::new();
    let reset = epoch_secs(clock.wall()) + 60;
    let api = Scripted::new(
        &clock,
        vec![
            response(
                403,
                r#"{"message":"API rate limit exceeded"}"#,
                &[
                    ("x-ratelimit-limit", "60".into()),
                    ("x-ratelimit-remaining", "0".into()),
                    ("x-ratelimit-reset", reset.to_string()),
                ],
            ),
            response(200, ONE_PAGE, &[("x-ratelimit-remaining", "59".into())]),
        ],
    );
    let extractor = on_clock(api.clone(), &clock)
        .rate_limiter(HeaderAdaptive::new())
        .build()
        .unwrap();

    let (summary, sink) = run(&extractor).await;

    assert_eq!(
        (summary.requests, summary.retries, summary.records),
        (2, 1, 1)
    );
    assert_eq!(texts(&sink.records(STREAM)), [r#"{"id":1}"#]);
    let sent = api.sent_at();
    assert_eq!(sent[0], Duration::ZERO);
    // Not a moment before the advertised reset (plus the limiter's margin).
    assert!(sent[1] >= Duration::from_secs(60), "{sent:?}");
    assert!(sent[1] <= Duration::from_secs(61), "{sent:?}");
    // All of the wait was throttling, and all of it on the injected clock.
    assert_eq!(clock.slept(), sent[1]);
    assert_eq!(summary.throttle_wait, clock.slept());
}

// ---------------------------------------------------------------------------
// 4. giving up with a typed error: Retry-After too long, retry budget spent
// ---------------------------------------------------------------------------

async fn too_long(retry_after: String) -> ExtractError {
    let clock = ManualClock::new();
    let api = Scripted::new(
        &clock,
        vec![response(429, "slow down", &[("retry-after", retry_after)])],
    );
    let extractor = on_clock(api.clone(), &clock)
        .rate_limiter(HeaderAdaptive::new())
        .build()
        .unwrap();
    let err = extractor.run(&MemorySink::new()).await.unwrap_err();
    assert_eq!(api.sent_at().len(), 1, "no second attempt");
    assert_eq!(clock.slept(), Duration::ZERO, "no waiting before failing");
    err
}

fn assert_too_long(err: &ExtractError, asked: Duration) {
    match err {
        ExtractError::Http {
            status,
            attempts,
            gave_up,
            preview,
            ..
        } => {
            assert_eq!(*status, StatusCode::TOO_MANY_REQUESTS);
            assert_eq!(*attempts, 1);
            assert_eq!(
                *gave_up,
                GiveUp::RetryAfterTooLong {
                    asked,
                    cap: Duration::from_secs(300)
                }
            );
            assert!(
                preview.contains("slow down") || preview.contains("rate_limited"),
                "{preview}"
            );
        }
        other => panic!("expected an HTTP error, got {other:?}"),
    }
    let message = err.to_string();
    assert!(
        message.contains(&format!("{asked:?}")),
        "the message says how long: {message}"
    );
    assert!(message.contains("300s"), "and the cap: {message}");
}

#[tokio::test]
async fn retry_after_seconds_beyond_the_cap_fails_saying_how_long_was_asked() {
    let err = too_long("3600".into()).await;
    assert_too_long(&err, Duration::from_secs(3600));
}

#[tokio::test]
async fn retry_after_http_date_beyond_the_cap_fails_saying_how_long_was_asked() {
    let at = ManualClock::new().wall() + Duration::from_secs(2 * 3600);
    let err = too_long(httpdate::fmt_http_date(at)).await;
    assert_too_long(&err, Duration::from_secs(7200));
}

#[tokio::test]
async fn a_server_asking_for_ten_minutes_ends_the_stream_at_once() {
    let dataset = Dataset::generate(41, 50);
    let faults = Faults {
        p_429: 1.0,
        retry_after: RetryAfterStyle::Seconds(600),
        ..Faults::default()
    };
    let server = serve(&dataset, None, Some(faults)).await;
    let clock = ManualClock::new();
    let extractor = builder(&server)
        .clock(clock.clone())
        .sleeper(clock.clone())
        .build()
        .unwrap();

    let err = extractor.run(&MemorySink::new()).await.unwrap_err();

    assert_too_long(&err, Duration::from_secs(600));
    assert_eq!(server.stats().data_requests, 1);
    assert_eq!(clock.slept(), Duration::ZERO);
}

#[tokio::test]
async fn streams_sharing_a_retry_budget_stop_hammering_a_failing_api() {
    let dataset = Dataset::generate(42, 50);
    let faults = Faults {
        p_503: 1.0,
        ..Faults::default()
    };
    let server = serve(&dataset, None, Some(faults)).await;
    // Room for two retries in the whole run.
    let budget = Arc::new(RetryBudget::new(10, 5, 10));
    let clock = ManualClock::new();
    let extractor = |path: &str, name: &str| {
        Extractor::builder()
            .url(server.url(path).as_str())
            .paginator(paginator())
            .retry(
                ExponentialBackoff::default()
                    .seed(5)
                    .budget(Some(budget.clone())),
            )
            .clock(clock.clone())
            .sleeper(clock.clone())
            .stream(name)
            .build()
            .unwrap()
    };

    let first = extractor("/items", "first")
        .run(&MemorySink::new())
        .await
        .unwrap_err();
    let second = extractor("/offset", "second")
        .run(&MemorySink::new())
        .await
        .unwrap_err();

    for (err, attempts) in [(&first, 3), (&second, 1)] {
        match err {
            ExtractError::Http {
                status,
                attempts: made,
                gave_up,
                ..
            } => {
                assert_eq!(*status, StatusCode::SERVICE_UNAVAILABLE);
                assert_eq!(*gave_up, GiveUp::BudgetExhausted, "{err}");
                assert_eq!(*made, attempts, "{err}");
            }
            other => panic!("expected an HTTP error, got {other:?}"),
        }
        assert!(err.to_string().contains("budget"), "{err}");
    }
    assert_eq!(budget.available(), 0);
    // Two first attempts and the two retries the budget paid for: without the
    // budget the attempt cap alone would have allowed ten requests.
    assert_eq!(server.stats().data_requests, 4);
    assert_eq!(clock.sleeps().len(), 2);
}

// ---------------------------------------------------------------------------
// 5. non-idempotent requests: not retried unless they opt in
// ---------------------------------------------------------------------------

/// Faults where the first data request is a 503 and the second is clean.
fn first_request_503() -> Faults {
    (0..)
        .map(|seed| Faults {
            seed,
            p_503: 0.5,
            ..Faults::default()
        })
        .find(|f| f.fault_for(0) == Some(FaultKind::Status503) && f.fault_for(1).is_none())
        .unwrap()
}

/// A GraphQL-style query over POST to `/graphql`, cursor in the body.
async fn post_run(opt_in: bool) -> (Result<RunSummary, ExtractError>, MemorySink, Dataset, Stats) {
    let dataset = Dataset::generate(51, 8);
    let server = serve(&dataset, None, Some(first_request_503())).await;
    let mut request = Request::post_json(
        server.url("/graphql"),
        r#"{"query":"{ items { nodes } }","variables":{"first":10,"after":null}}"#,
    );
    request.retry_non_idempotent = opt_in;
    assert_eq!(request.is_idempotent(), opt_in);
    let clock = ManualClock::new();
    let extractor = Extractor::builder()
        .request(request)
        .paginator(
            CursorPaginator::in_body("/data/items/pageInfo/endCursor", "/variables/after")
                .records_at("/data/items/nodes")
                .has_more_at("/data/items/pageInfo/hasNextPage"),
        )
        .retry(ExponentialBackoff::default().seed(9))
        .clock(clock.clone())
        .sleeper(clock.clone())
        .stream(STREAM)
        .build()
        .unwrap();
    let sink = MemorySink::new();
    let result = extractor.run(&sink).await;
    (result, sink, dataset, server.stats())
}

#[tokio::test]
async fn a_post_is_not_retried_by_default() {
    let (result, sink, _, stats) = post_run(false).await;
    match result.unwrap_err() {
        ExtractError::Http {
            status,
            attempts,
            gave_up,
            ..
        } => {
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(attempts, 1);
            assert_eq!(gave_up, GiveUp::NotIdempotent);
        }
        other => panic!("expected an HTTP error, got {other:?}"),
    }
    assert_eq!(stats.data_requests, 1, "sent once");
    assert!(sink.records(STREAM).is_empty());
}

#[tokio::test]
async fn a_post_that_opts_in_is_retried() {
    let (result, sink, dataset, stats) = post_run(true).await;
    let summary = result.unwrap();
    assert_eq!(
        (summary.retries, summary.requests, summary.pages),
        (1, 2, 1)
    );
    assert_eq!(stats.data_requests, 2);
    assert_eq!(stats.injected_503, 1);
    assert_eq!(texts(&sink.records(STREAM)), dataset.records());
}
