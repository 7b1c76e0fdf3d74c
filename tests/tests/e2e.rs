//! End-to-end tests: the full default stack (reqwest transport, cursor
//! paginator, exponential backoff, sinks) against the testkit's `FakeApi` over
//! loopback, plus retry timing with a mocked transport and a manual clock.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use haul::core::http::StatusCode;
use haul::core::{Checkpoint, ManualClock, Position, Record, Request, Response, TransportError};
use haul::retry::{Classification, GiveUp, RetryContext, RetryDecision};
use haul::sink::Batch;
use haul::{
    CursorPaginator, ExponentialBackoff, ExtractError, Extractor, ExtractorBuilder, JsonLinesSink,
    MemorySink, PaginateError, RetryPolicy, Secret, Sink, SinkError, Transport,
};
use haul_testkit::{Dataset, FakeApi, RunningServer};

mod support;
use support::{API, ONE_PAGE, Scripted, cursor_paginator, response, texts};

const STREAM: &str = "items";
const PAGE: usize = 100;

// ---------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------

async fn serve(dataset: &Dataset) -> RunningServer {
    FakeApi::builder()
        .dataset(dataset.clone())
        .build()
        .start()
        .await
        .expect("fake api starts")
}

fn paginator() -> CursorPaginator {
    cursor_paginator(PAGE)
}

/// The full default stack pointed at `/items` of `server`.
fn builder(server: &RunningServer) -> ExtractorBuilder {
    Extractor::builder()
        .url(server.url("/items").as_str())
        .paginator(paginator())
        .stream(STREAM)
}

/// Pages a conforming cursor API needs for `len` records (an empty dataset is one empty page).
fn pages_for(len: usize) -> u64 {
    len.div_ceil(PAGE).max(1) as u64
}

/// What a JSON Lines file holding `records` once, in order, must contain.
fn jsonl_of(records: &[String]) -> String {
    records.iter().map(|r| format!("{r}\n")).collect()
}

fn ids(records: &[Record]) -> Vec<u64> {
    records
        .iter()
        .map(|r| r.field("/id").unwrap().unwrap().parse().unwrap())
        .collect()
}

// ---------------------------------------------------------------------------
// 1. full runs into JSON Lines: byte-identical, exactly once, in order
// ---------------------------------------------------------------------------

async fn run_into_jsonl(len: usize) {
    let dataset = Dataset::generate(42, len);
    let server = serve(&dataset).await;
    let dir = tempfile::tempdir().unwrap();
    let sink = JsonLinesSink::new(dir.path());

    let summary = builder(&server).build().unwrap().run(&sink).await.unwrap();

    let pages = pages_for(len);
    assert_eq!(summary.stream, STREAM);
    assert_eq!(summary.records, len as u64, "records ({len})");
    assert_eq!(summary.pages, pages, "pages ({len})");
    assert_eq!(summary.requests, pages, "one request per page ({len})");
    assert_eq!(summary.retries, 0);
    assert_eq!(summary.throttle_wait, Duration::ZERO);
    assert_eq!(summary.resumed_after_page, 0);
    assert!(summary.finished);
    let record_bytes: usize = dataset.records().iter().map(String::len).sum();
    assert!(summary.bytes >= record_bytes as u64);

    let stats = server.stats();
    assert_eq!(stats.requests, pages, "server requests ({len})");
    assert_eq!(stats.pages_served, pages);
    assert_eq!(stats.items_served, len as u64);
    assert_eq!(stats.bad_requests + stats.not_found, 0);
    // One pooled keep-alive connection serves the whole sequential run.
    assert_eq!(stats.connections, 1, "connections ({len})");

    let written = std::fs::read_to_string(sink.data_path(STREAM)).unwrap();
    // Byte-identical to the dataset, one record per line, each once, in order.
    assert!(
        written == jsonl_of(dataset.records()),
        "{len} records: the JSON Lines file differs from the dataset"
    );
    let lines: Vec<&str> = written.lines().collect();
    assert_eq!(lines.len(), len);
    for (i, line) in lines.iter().enumerate() {
        let id = haul::core::json::scalar_at(line, "/id").unwrap().unwrap();
        assert_eq!(id, (i + 1).to_string());
    }

    // The committed checkpoint says the pass is over, with the right counts.
    let reopened = JsonLinesSink::new(dir.path());
    let checkpoint = reopened.open(STREAM).await.unwrap().unwrap();
    assert_eq!(checkpoint.position, Position::Done);
    assert_eq!((checkpoint.pages, checkpoint.records), (pages, len as u64));
}

#[tokio::test]
async fn empty_dataset_is_one_empty_page() {
    run_into_jsonl(0).await;
}

#[tokio::test]
async fn exactly_one_full_page() {
    run_into_jsonl(100).await;
}

#[tokio::test]
async fn partial_last_page() {
    run_into_jsonl(250).await;
}

#[tokio::test]
async fn many_pages_and_several_batches() {
    // 24 pages; the default batch of 1,000 records commits three times.
    run_into_jsonl(2_345).await;
}

// ---------------------------------------------------------------------------
// 2. pages() and records() streams: same records, lazily
// ---------------------------------------------------------------------------

#[tokio::test]
async fn pages_stream_is_lazy_and_complete() {
    let dataset = Dataset::generate(7, 250);
    let server = serve(&dataset).await;
    let extractor = builder(&server).build().unwrap();

    let stream = extractor.pages();
    tokio::task::yield_now().await;
    assert_eq!(server.stats().requests, 0, "nothing is sent before polling");

    let pages: Vec<_> = stream.collect().await;
    let pages: Vec<_> = pages.into_iter().map(Result::unwrap).collect();
    assert_eq!(
        pages.iter().map(|p| p.number).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert_eq!(
        pages.iter().map(|p| p.records.len()).collect::<Vec<_>>(),
        [100, 100, 50]
    );
    assert!(pages.iter().all(|p| p.status == StatusCode::OK));
    let records: Vec<Record> = pages.into_iter().flat_map(|p| p.records).collect();
    assert_eq!(texts(&records), dataset.records());
    assert_eq!(server.stats().requests, 3);
}

#[tokio::test]
async fn records_stream_is_lazy_and_complete() {
    let dataset = Dataset::generate(8, 250);
    let server = serve(&dataset).await;
    let extractor = builder(&server).build().unwrap();

    let stream = extractor.records();
    tokio::task::yield_now().await;
    assert_eq!(server.stats().requests, 0, "nothing is sent before polling");

    let records: Vec<Record> = stream.map(Result::unwrap).collect().await;
    assert_eq!(texts(&records), dataset.records());
    assert_eq!(server.stats().requests, 3);
}

#[tokio::test]
async fn records_stream_fetches_only_the_pages_it_needs() {
    let dataset = Dataset::generate(9, 1_000);
    let server = serve(&dataset).await;
    let extractor = builder(&server).build().unwrap();

    let first: Vec<Record> = extractor
        .records()
        .take(150)
        .map(Result::unwrap)
        .collect()
        .await;
    assert_eq!(texts(&first), &dataset.records()[..150]);
    // 150 records need pages 1 and 2, not the other 8.
    assert_eq!(server.stats().requests, 2);
}

// ---------------------------------------------------------------------------
// 3. a second run after a finished one starts a new pass
// ---------------------------------------------------------------------------

#[tokio::test]
async fn second_run_into_jsonl_appends_a_new_pass() {
    let dataset = Dataset::generate(11, 250);
    let server = serve(&dataset).await;
    let dir = tempfile::tempdir().unwrap();
    let sink = JsonLinesSink::new(dir.path());
    let extractor = builder(&server).build().unwrap();

    let first = extractor.run(&sink).await.unwrap();
    let second = extractor.run(&sink).await.unwrap();

    for summary in [&first, &second] {
        assert_eq!((summary.records, summary.pages), (250, 3));
        assert_eq!(summary.resumed_after_page, 0, "a fresh pass, not a resume");
        assert!(summary.finished);
    }
    assert_eq!(server.stats().requests, 6);
    // Current behavior: JsonLinesSink is append-only and has no primary key,
    // so a second full pass appends the dataset again (dedupe downstream or
    // use a keyed sink).
    let twice = jsonl_of(dataset.records()).repeat(2);
    let written = std::fs::read_to_string(sink.data_path(STREAM)).unwrap();
    assert!(written == twice, "expected the dataset appended twice");
}

#[tokio::test]
async fn second_run_into_keyed_memory_sink_stays_exact() {
    let dataset = Dataset::generate(12, 250);
    let server = serve(&dataset).await;
    let sink = MemorySink::with_primary_key("/id");
    let extractor = builder(&server).build().unwrap();

    extractor.run(&sink).await.unwrap();
    let second = extractor.run(&sink).await.unwrap();

    assert_eq!(
        (second.records, second.pages, second.resumed_after_page),
        (250, 3, 0)
    );
    assert_eq!(server.stats().requests, 6);
    let records = sink.records(STREAM);
    assert_eq!(
        texts(&records),
        dataset.records(),
        "upserted, not duplicated"
    );
    let checkpoint = sink.checkpoint(STREAM).unwrap();
    assert_eq!(checkpoint.position, Position::Done);
    assert_eq!((checkpoint.pages, checkpoint.records), (3, 250));
}

// ---------------------------------------------------------------------------
// 4. failure commits what was fetched; a new run resumes from there
// ---------------------------------------------------------------------------

fn next_url(checkpoint: &Checkpoint) -> &str {
    match &checkpoint.position {
        Position::Next(saved) => &saved.url,
        other => panic!("expected a Next position, got {other:?}"),
    }
}

/// Resume after `MaxPagesExceeded` with the given batch size; the sink appends
/// (no primary key), so any replayed page would show up as a duplicate.
async fn resume_after_max_pages(batch: usize) {
    let dataset = Dataset::generate(21, 1_000);
    let server = serve(&dataset).await;
    let sink = MemorySink::new();

    let limited = builder(&server)
        .batch_size(batch)
        .max_pages(Some(3))
        .build()
        .unwrap();
    let err = limited.run(&sink).await.unwrap_err();
    match &err {
        ExtractError::Paginate(PaginateError::MaxPagesExceeded { max, next }) => {
            assert_eq!(*max, 3);
            assert!(next.as_str().contains("cursor=c_12c"), "{next}");
        }
        other => panic!("expected MaxPagesExceeded, got {other:?}"),
    }
    // The guard refuses page 4 before sending it.
    assert_eq!(server.stats().requests, 3);
    // The three fetched pages are committed with a checkpoint that points at page 4.
    assert_eq!(ids(&sink.records(STREAM)), (1..=300).collect::<Vec<_>>());
    let checkpoint = sink.checkpoint(STREAM).unwrap();
    assert_eq!((checkpoint.pages, checkpoint.records), (3, 300));
    assert!(
        next_url(&checkpoint).contains("cursor=c_12c"),
        "{checkpoint:?}"
    );

    let unlimited = builder(&server)
        .batch_size(batch)
        .max_pages(None)
        .build()
        .unwrap();
    let summary = unlimited.run(&sink).await.unwrap();
    assert_eq!(summary.resumed_after_page, 3);
    assert_eq!((summary.pages, summary.records), (7, 700));
    assert_eq!(server.stats().requests, 3 + 7, "only the remaining pages");
    let records = sink.records(STREAM);
    assert_eq!(
        texts(&records),
        dataset.records(),
        "every record exactly once"
    );
    let checkpoint = sink.checkpoint(STREAM).unwrap();
    assert_eq!(checkpoint.position, Position::Done);
    assert_eq!((checkpoint.pages, checkpoint.records), (10, 1_000));
}

#[tokio::test]
async fn resume_after_max_pages_with_a_commit_per_page() {
    resume_after_max_pages(PAGE).await;
}

#[tokio::test]
async fn resume_after_max_pages_with_pages_still_buffered() {
    // The default batch (1,000 records) still holds the 3 pages when the guard
    // fires, so they are committed by the failure path.
    resume_after_max_pages(1_000).await;
}

/// A sink that refuses its `fail_at`-th write (1-based) and forwards the others.
struct FailingSink<'a> {
    inner: &'a MemorySink,
    writes: AtomicUsize,
    fail_at: usize,
}

#[async_trait]
impl Sink for FailingSink<'_> {
    async fn open(&self, stream: &str) -> Result<Option<Checkpoint>, SinkError> {
        self.inner.open(stream).await
    }
    async fn write(&self, batch: Batch<'_>) -> Result<(), SinkError> {
        if self.writes.fetch_add(1, Ordering::SeqCst) + 1 == self.fail_at {
            return Err(SinkError::Usage("injected write failure".into()));
        }
        self.inner.write(batch).await
    }
    async fn watermark(&self, stream: &str, pointer: &str) -> Result<Option<String>, SinkError> {
        self.inner.watermark(stream, pointer).await
    }
}

#[tokio::test]
async fn resume_after_a_sink_failure() {
    let dataset = Dataset::generate(22, 1_000);
    let server = serve(&dataset).await;
    let memory = MemorySink::new();
    let failing = FailingSink {
        inner: &memory,
        writes: AtomicUsize::new(0),
        fail_at: 4,
    };
    let extractor = builder(&server).batch_size(PAGE).build().unwrap();

    let err = extractor.run(&failing).await.unwrap_err();
    assert!(
        matches!(&err, ExtractError::Sink(SinkError::Usage(m)) if m.contains("injected")),
        "{err:?}"
    );
    assert_eq!(
        server.stats().requests,
        4,
        "the run stops at the failed write"
    );
    assert_eq!(ids(&memory.records(STREAM)), (1..=300).collect::<Vec<_>>());
    let checkpoint = memory.checkpoint(STREAM).unwrap();
    assert_eq!((checkpoint.pages, checkpoint.records), (3, 300));
    assert!(next_url(&checkpoint).contains("cursor=c_12c"));

    // Page 4 was fetched but never committed: the next run fetches it again.
    let summary = builder(&server)
        .batch_size(PAGE)
        .build()
        .unwrap()
        .run(&memory)
        .await
        .unwrap();
    assert_eq!(summary.resumed_after_page, 3);
    assert_eq!((summary.pages, summary.records), (7, 700));
    assert_eq!(server.stats().requests, 4 + 7);
    assert_eq!(texts(&memory.records(STREAM)), dataset.records());
}

// ---------------------------------------------------------------------------
// 5. a 404 fails fast with a typed, masked error
// ---------------------------------------------------------------------------

#[tokio::test]
async fn not_found_fails_fast_with_a_masked_url() {
    let server = serve(&Dataset::generate(1, 10)).await;
    let sink = MemorySink::new();
    let extractor = Extractor::builder()
        .url(server.url("/nope?api_key=hunter2").as_str())
        .paginator(paginator())
        .stream(STREAM)
        .build()
        .unwrap();

    let err = extractor.run(&sink).await.unwrap_err();
    let message = err.to_string();
    match &err {
        ExtractError::Http {
            status,
            url,
            preview,
            attempts,
            gave_up,
        } => {
            assert_eq!(*status, StatusCode::NOT_FOUND);
            assert_eq!(*attempts, 1);
            assert_eq!(*gave_up, GiveUp::NotRetryable);
            assert!(url.as_str().contains("api_key=***"), "{url}");
            assert!(url.as_str().contains("/nope"), "{url}");
            assert!(preview.contains("not_found"), "{preview}");
        }
        other => panic!("expected an HTTP error, got {other:?}"),
    }
    assert!(message.contains("404"), "{message}");
    assert!(message.contains("api_key=***"), "{message}");
    assert!(!message.contains("hunter2"), "{message}");
    assert!(!format!("{err:?}").contains("hunter2"));
    let stats = server.stats();
    assert_eq!((stats.requests, stats.not_found), (1, 1), "no retry");
    assert_eq!(sink.checkpoint(STREAM), None, "nothing to commit");
}

// ---------------------------------------------------------------------------
// 6. retry timing with a mocked transport and a manual clock
// ---------------------------------------------------------------------------

mockall::mock! {
    Api {}
    #[async_trait]
    impl Transport for Api {
        async fn send(&self, request: &Request) -> Result<Response, TransportError>;
    }
}

/// The scripted API answering (status, Retry-After, body) in order, once each.
fn scripted(
    clock: &ManualClock,
    script: &[(u16, Option<&'static str>, &'static str)],
) -> Arc<Scripted> {
    let responses = script
        .iter()
        .map(|&(status, retry_after, body)| {
            let headers: Vec<(&'static str, String)> = retry_after
                .map(|secs| ("retry-after", secs.to_owned()))
                .into_iter()
                .collect();
            response(status, body, &headers)
        })
        .collect();
    Scripted::new(clock, responses)
}

fn mocked(api: impl Transport + 'static, clock: &ManualClock, seed: u64) -> Extractor {
    Extractor::builder()
        .url(API)
        .paginator(paginator())
        .transport(api)
        .retry(ExponentialBackoff::default().seed(seed))
        .clock(clock.clone())
        .sleeper(clock.clone())
        .stream(STREAM)
        .build()
        .unwrap()
}

/// The delays an identically seeded policy picks for the first `n` retries of a 503.
fn reference_delays(seed: u64, n: u32) -> Vec<Duration> {
    let policy = ExponentialBackoff::default().seed(seed);
    let request = Request::get(API.parse().unwrap());
    let class = Classification::ServerError {
        status: StatusCode::SERVICE_UNAVAILABLE,
        retry_after: None,
    };
    (1..=n)
        .map(|attempt| {
            match policy.decide(&RetryContext {
                attempt,
                elapsed: Duration::ZERO,
                request: &request,
                classification: &class,
            }) {
                RetryDecision::RetryAfter(d) => d,
                other => panic!("expected a retry, got {other:?}"),
            }
        })
        .collect()
}

#[tokio::test]
async fn server_errors_are_retried_with_capped_jittered_backoff() {
    let clock = ManualClock::new();
    let api = scripted(
        &clock,
        &[(503, None, ""), (503, None, ""), (200, None, ONE_PAGE)],
    );
    let sink = MemorySink::new();

    let summary = mocked(api.clone(), &clock, 1).run(&sink).await.unwrap();

    assert_eq!(summary.requests, 3);
    assert_eq!(summary.retries, 2);
    assert_eq!((summary.pages, summary.records), (1, 1));
    assert_eq!(
        summary.throttle_wait,
        Duration::ZERO,
        "a 503 without Retry-After is not throttling"
    );
    let sleeps = clock.sleeps();
    assert_eq!(sleeps.len(), 2);
    let policy = ExponentialBackoff::default();
    assert_eq!(policy.ceiling(1), Duration::from_secs(1));
    assert_eq!(policy.ceiling(2), Duration::from_secs(2));
    assert!(sleeps[0] <= policy.ceiling(1), "{sleeps:?}");
    assert!(sleeps[1] <= policy.ceiling(2), "{sleeps:?}");
    assert_eq!(clock.slept(), sleeps[0] + sleeps[1]);
    // The seed makes the jitter reproducible.
    assert_eq!(sleeps, reference_delays(1, 2));
    assert_eq!(texts(&sink.records(STREAM)), [r#"{"id":1}"#]);
}

#[tokio::test]
async fn retry_after_is_honored_exactly() {
    let clock = ManualClock::new();
    let api = scripted(&clock, &[(429, Some("7"), ""), (200, None, ONE_PAGE)]);
    let sink = MemorySink::new();

    let summary = mocked(api.clone(), &clock, 1).run(&sink).await.unwrap();

    assert_eq!((summary.requests, summary.retries), (2, 1));
    assert_eq!(clock.sleeps(), [Duration::from_secs(7)]);
    assert_eq!(clock.slept(), Duration::from_secs(7));
    assert_eq!(summary.throttle_wait, Duration::from_secs(7));
    assert_eq!(summary.records, 1);
}

#[tokio::test]
async fn not_found_is_not_retried() {
    let clock = ManualClock::new();
    // A second send would run past the script and fail the test.
    let api = scripted(&clock, &[(404, None, r#"{"error":"not_found"}"#)]);
    let sink = MemorySink::new();

    let err = mocked(api.clone(), &clock, 1).run(&sink).await.unwrap_err();

    match err {
        ExtractError::Http {
            status,
            attempts,
            gave_up,
            ..
        } => {
            assert_eq!(status, StatusCode::NOT_FOUND);
            assert_eq!(attempts, 1);
            assert_eq!(gave_up, GiveUp::NotRetryable);
        }
        other => panic!("expected an HTTP error, got {other:?}"),
    }
    assert_eq!(clock.slept(), Duration::ZERO);
    assert!(clock.sleeps().is_empty());
}

#[tokio::test]
async fn persistent_server_errors_give_up_after_the_attempt_cap() {
    let clock = ManualClock::new();
    let calls = std::sync::Arc::new(AtomicUsize::new(0));
    let mut api = MockApi::new();
    let counter = calls.clone();
    api.expect_send().returning(move |req: &Request| {
        counter.fetch_add(1, Ordering::SeqCst);
        Ok(Response::new(
            StatusCode::BAD_GATEWAY,
            req.url.clone(),
            "down",
        ))
    });

    let err = mocked(api, &clock, 3)
        .run(&MemorySink::new())
        .await
        .unwrap_err();

    match err {
        ExtractError::Http {
            status,
            attempts,
            gave_up,
            ..
        } => {
            assert_eq!(status, StatusCode::BAD_GATEWAY);
            assert_eq!(attempts, 5);
            assert_eq!(gave_up, GiveUp::AttemptsExhausted { attempts: 5 });
        }
        other => panic!("expected an HTTP error, got {other:?}"),
    }
    assert_eq!(calls.load(Ordering::SeqCst), 5);
    let sleeps = clock.sleeps();
    assert_eq!(sleeps.len(), 4);
    let policy = ExponentialBackoff::default();
    for (i, delay) in sleeps.iter().enumerate() {
        assert!(*delay <= policy.ceiling(i as u32 + 1), "{sleeps:?}");
    }
}

// ---------------------------------------------------------------------------
// 7. secrets never print
// ---------------------------------------------------------------------------

#[test]
fn secrets_never_print() {
    let secret = Secret::new("hunter2");
    let printed = format!("{:?} {}", secret, Secret::new("hunter2"));
    assert!(!printed.contains("hunter2"), "{printed}");
    assert_eq!(secret.expose(), "hunter2");
}
