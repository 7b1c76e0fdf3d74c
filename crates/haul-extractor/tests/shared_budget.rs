//! The shared budget wired into the retry loop, against a mock
//! [`SharedBudget`] (no Redis) and a scripted API under paused time: one
//! slot per attempt after the local permit, throttles passed on as
//! penalties with the pause the retry policy and limiter learned, and a
//! refused slot a typed error with nothing sent and nothing lost.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use haul_core::{Request, Response, TransportError};
use haul_extractor::{ErrorKind, ExtractError, Extractor};
use haul_paginate::CursorPaginator;
use haul_ratelimit::{HeaderAdaptive, MaxInFlight, SharedBudget, SharedBudgetError};
use haul_sink::MemorySink;
use haul_transport::Transport;

mockall::mock! {
    Budget {}
    #[async_trait]
    impl SharedBudget for Budget {
        async fn acquire(&self, cost: u32) -> Result<(), SharedBudgetError>;
        async fn penalize(&self, pause: Duration);
    }
}

impl std::fmt::Debug for MockBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MockBudget")
    }
}

/// One scripted answer: status, headers, body.
type Answer = (u16, Vec<(&'static str, &'static str)>, &'static str);

/// Answers the script in order (a request past it panics) and counts sends.
struct Scripted {
    script: Mutex<Vec<Answer>>,
    sent: Arc<AtomicUsize>,
}

impl Scripted {
    fn new(mut script: Vec<Answer>) -> Self {
        script.reverse();
        Self {
            script: Mutex::new(script),
            sent: Arc::default(),
        }
    }
}

#[async_trait]
impl Transport for Scripted {
    async fn send(&self, request: &Request) -> Result<Response, TransportError> {
        self.sent.fetch_add(1, Ordering::SeqCst);
        let (status, headers, body) = self.script.lock().unwrap().pop().expect("script ended");
        let mut response = Response::new(
            http::StatusCode::from_u16(status).unwrap(),
            request.url.clone(),
            body,
        );
        for (name, value) in headers {
            response = response.with_header(name, value);
        }
        Ok(response)
    }
}

const FIRST: &str = r#"{"data":[{"id":1},{"id":2}],"next":"2"}"#;
const LAST: &str = r#"{"data":[{"id":3}],"next":null}"#;

fn builder(transport: Scripted) -> haul_extractor::ExtractorBuilder {
    Extractor::builder()
        .url("https://api.example.com/items?api_key=s3cret")
        .paginator(CursorPaginator::new("/next", "cursor").records_at("/data"))
        .transport(transport)
        .stream("items")
        .batch_size(1)
}

fn ids(sink: &MemorySink) -> Vec<String> {
    sink.records("items")
        .iter()
        .map(|r| r.as_str().to_owned())
        .collect()
}

/// Expects one `acquire(1)` per attempt, each before the attempt's send:
/// the requests sent when each slot was asked for.
fn slot_per_attempt(budget: &mut MockBudget, sent: &Arc<AtomicUsize>) -> Arc<Mutex<Vec<usize>>> {
    let asked = Arc::new(Mutex::new(Vec::new()));
    let (log, sent) = (Arc::clone(&asked), Arc::clone(sent));
    budget
        .expect_acquire()
        .withf(|cost| *cost == 1)
        .returning(move |_| {
            log.lock().unwrap().push(sent.load(Ordering::SeqCst));
            Ok(())
        });
    asked
}

#[tokio::test(start_paused = true)]
async fn a_slot_per_attempt_and_a_429_penalizes_with_its_retry_after() {
    let api = Scripted::new(vec![
        (200, vec![], FIRST),
        (429, vec![("retry-after", "7")], "{}"),
        (200, vec![], LAST),
    ]);
    let sent = Arc::clone(&api.sent);
    let mut budget = MockBudget::new();
    let asked = slot_per_attempt(&mut budget, &sent);
    budget
        .expect_penalize()
        .withf(|pause| *pause == Duration::from_secs(7))
        .times(1)
        .return_const(());
    let sink = MemorySink::new();
    let started = tokio::time::Instant::now();
    let summary = builder(api)
        .shared_budget(Arc::new(budget))
        .build()
        .unwrap()
        .run(&sink)
        .await
        .unwrap();
    // Three attempts (the retry included), each with its own slot, asked
    // for before its request was sent.
    assert_eq!(sent.load(Ordering::SeqCst), 3);
    assert_eq!(*asked.lock().unwrap(), vec![0, 1, 2]);
    assert_eq!(summary.retries, 1);
    assert_eq!(ids(&sink).len(), 3);
    assert!(started.elapsed() >= Duration::from_secs(7));
}

#[tokio::test(start_paused = true)]
async fn githubs_403_and_a_spent_success_penalize_until_the_reset() {
    let api = Scripted::new(vec![
        // A success that spends the budget: every worker waits for the reset.
        (
            200,
            vec![
                ("x-ratelimit-limit", "10"),
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset", "3"),
            ],
            FIRST,
        ),
        // GitHub's primary limit: 403 with Remaining: 0 and no Retry-After.
        (
            403,
            vec![
                ("x-ratelimit-limit", "10"),
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset", "5"),
            ],
            "{}",
        ),
        (200, vec![], LAST),
    ]);
    let sent = Arc::clone(&api.sent);
    let mut budget = MockBudget::new();
    let asked = slot_per_attempt(&mut budget, &sent);
    let pauses = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&pauses);
    budget
        .expect_penalize()
        .returning(move |pause| log.lock().unwrap().push(pause));
    let sink = MemorySink::new();
    builder(api)
        // No margin, so the limiter's bound of each reset is the header's.
        .rate_limiter(HeaderAdaptive::new().reset_margin(Duration::ZERO))
        .shared_budget(Arc::new(budget))
        .build()
        .unwrap()
        .run(&sink)
        .await
        .unwrap();
    assert_eq!(
        *pauses.lock().unwrap(),
        vec![Duration::from_secs(3), Duration::from_secs(5)]
    );
    assert_eq!(*asked.lock().unwrap(), vec![0, 1, 2]);
    assert_eq!(ids(&sink).len(), 3);
}

#[tokio::test(start_paused = true)]
async fn responses_that_say_nothing_never_penalize() {
    let script = || {
        vec![
            (
                200,
                vec![("x-ratelimit-remaining", "5"), ("x-ratelimit-reset", "3")],
                FIRST,
            ),
            (503, vec![], "{}"),
            (200, vec![], LAST),
        ]
    };
    let api = Scripted::new(script());
    let sent = Arc::clone(&api.sent);
    let mut budget = MockBudget::new();
    let asked = slot_per_attempt(&mut budget, &sent);
    budget.expect_penalize().never();
    let with = MemorySink::new();
    builder(api)
        .shared_budget(Arc::new(budget))
        .build()
        .unwrap()
        .run(&with)
        .await
        .unwrap();
    assert_eq!(*asked.lock().unwrap(), vec![0, 1, 2]);
    // Without a budget the run is the same: same requests, same records.
    let api = Scripted::new(script());
    let sent_without = Arc::clone(&api.sent);
    let without = MemorySink::new();
    builder(api).build().unwrap().run(&without).await.unwrap();
    assert_eq!(sent_without.load(Ordering::SeqCst), 3);
    assert_eq!(ids(&with), ids(&without));
}

#[tokio::test(start_paused = true)]
async fn a_refused_slot_is_a_typed_error_nothing_is_sent_and_nothing_lost() {
    let api = Scripted::new(vec![(200, vec![], FIRST)]);
    let sent = Arc::clone(&api.sent);
    let mut budget = MockBudget::new();
    let mut calls = 0;
    budget.expect_acquire().times(2).returning(move |_| {
        calls += 1;
        if calls == 1 {
            Ok(())
        } else {
            Err(SharedBudgetError::Unavailable {
                budget: "github".into(),
                source: "connection refused".into(),
            })
        }
    });
    budget.expect_penalize().never();
    // A concurrency cap shows whether the unused local permit leaks.
    let cap = Arc::new(MaxInFlight::new(1));
    let sink = MemorySink::new();
    let error = builder(api)
        .rate_limiter(Arc::clone(&cap))
        .shared_budget(Arc::new(budget))
        .build()
        .unwrap()
        .run(&sink)
        .await
        .unwrap_err();
    let ExtractError::SharedBudget { url, source } = &error else {
        panic!("not a shared-budget error: {error:?}");
    };
    assert!(source.is_unavailable());
    assert_eq!(source.budget(), "github");
    let text = error.to_string();
    assert!(!text.contains("s3cret"), "{text}");
    assert!(url.to_string().contains("cursor=2"), "{url}");
    assert!(text.contains("connection refused"), "{text}");
    assert_eq!(error.kind(), ErrorKind::SharedBudget);
    // The second page was never sent; the first is committed.
    assert_eq!(sent.load(Ordering::SeqCst), 1);
    assert_eq!(ids(&sink).len(), 2);
    assert!(sink.checkpoint("items").is_some());
    assert_eq!(
        cap.in_flight(),
        0,
        "the refused attempt's local permit leaked"
    );
}

/// A budget whose slots never come.
#[derive(Debug)]
struct Never;

#[async_trait]
impl SharedBudget for Never {
    async fn acquire(&self, _cost: u32) -> Result<(), SharedBudgetError> {
        std::future::pending().await
    }
    async fn penalize(&self, _pause: Duration) {}
}

#[tokio::test(start_paused = true)]
async fn a_run_dropped_while_waiting_for_a_slot_hands_the_local_permit_back() {
    let api = Scripted::new(vec![]);
    let sent = Arc::clone(&api.sent);
    let cap = Arc::new(MaxInFlight::new(1));
    let extractor = builder(api)
        .rate_limiter(Arc::clone(&cap))
        .shared_budget(Arc::new(Never))
        .build()
        .unwrap();
    let sink = MemorySink::new();
    let run = tokio::time::timeout(Duration::from_secs(60), extractor.run(&sink)).await;
    assert!(run.is_err(), "the run cannot finish without a slot");
    assert_eq!(sent.load(Ordering::SeqCst), 0);
    assert_eq!(
        cap.in_flight(),
        0,
        "the dropped attempt's local permit leaked"
    );
}
