//! Hardening from a real-API acceptance run (issues 10 and 18), end to end
//! through the full stack against the testkit server:
//!
//! - an API that keeps answering empty pages with a fresh cursor after its
//!   real end is stopped by the empty-pages guard, everything committed;
//! - a `204` (or an empty `200`) that contradicts what the previous page
//!   promised is retried, then a typed error — never a silent truncation;
//! - a server that clamps the page size, with concurrency, ends exactly at
//!   the total (no request past the end, no 404 failing a complete run), and
//!   a checkpoint stored past the end resumes to "done".
//!
//! Runs use `start_paused`: retry backoffs jump on tokio's clock.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};

use haul::core::{Checkpoint, Position, Request, SavedRequest};
use haul::extractor::Event;
use haul::sink::Batch;
use haul::{
    CursorPaginator, ExponentialBackoff, ExtractError, Extractor, HeaderCursor, LastRecordCursor,
    LinkHeaderPaginator, MemorySink, NextUrlPaginator, Observer, OffsetPaginator,
    PageNumberPaginator, PaginateError, Paginator, PassEnd, Record, RunSummary, Sink,
};
use haul_paginate_graphql::{RelayPaginator, graphql_request};
use haul_testkit::{Dataset, FakeApi, RunningServer};

const STREAM: &str = "items";
const PAGE: u64 = 20;

/// A style to run: name, first request, paginator.
type Case = (&'static str, Request, Box<dyn Paginator>);
/// The styles of a family, on a server, with extra query parameters.
type Styles = fn(&RunningServer, &str) -> Vec<Case>;

async fn serve(dataset: &Dataset) -> RunningServer {
    FakeApi::builder()
        .dataset(dataset.clone())
        .build()
        .start()
        .await
        .unwrap()
}

/// Collects the `PassEnded` events of a run.
#[derive(Default)]
struct Ends(Mutex<Vec<PassEnd>>);

impl Observer for Ends {
    fn on_event(&self, event: &Event<'_>) {
        if let Event::PassEnded { end, .. } = event {
            self.0.lock().unwrap().push(*end);
        }
    }
}

/// The cursor, next-link and Link styles, on `server` with `extra` in the query.
fn cursor_styles(server: &RunningServer, extra: &str) -> Vec<Case> {
    let get = |path: &str| Request::get(server.url(&format!("{path}?{extra}")));
    vec![
        (
            "cursor",
            get("/items"),
            Box::new(
                CursorPaginator::new("/next_cursor", "cursor")
                    .records_at("/data")
                    .page_size("limit", PAGE),
            ),
        ),
        (
            "header-cursor",
            get("/header-cursor"),
            Box::new(HeaderCursor::new("X-Next-Cursor", "cursor").page_size("limit", PAGE)),
        ),
        (
            "next-url",
            get("/next-url"),
            Box::new(
                NextUrlPaginator::new("/@odata.nextLink")
                    .records_at("/value")
                    .page_size("limit", PAGE),
            ),
        ),
        (
            "link",
            get("/link"),
            Box::new(LinkHeaderPaginator::new().page_size("per_page", PAGE)),
        ),
        (
            "graphql",
            graphql_request(
                server.url(&format!("/graphql?{extra}")),
                "query($first:Int!,$after:String){items(first:$first,after:$after){nodes{id} pageInfo{hasNextPage endCursor}}}",
                serde_json::json!({ "first": PAGE, "after": null }),
            ),
            Box::new(RelayPaginator::new("/data/items")),
        ),
        (
            "last-record",
            get("/last-record"),
            Box::new(
                LastRecordCursor::new("/id", "starting_after")
                    .has_more_at("/has_more")
                    .records_at("/data")
                    .page_size("limit", PAGE),
            ),
        ),
    ]
}

/// Offset and page-number styles with a total, on `server` with `extra`.
fn total_styles(server: &RunningServer, extra: &str) -> Vec<Case> {
    let get = |path: &str| Request::get(server.url(&format!("{path}{extra}")));
    let page = |base: u64| {
        PageNumberPaginator::new("page")
            .first_page(base)
            .page_size("page_size", PAGE)
            .records_at("/items")
    };
    vec![
        (
            "offset",
            get("/offset?total=all"),
            Box::new(
                OffsetPaginator::new("offset")
                    .limit("limit", PAGE)
                    .records_at("/results")
                    .total_at("/total"),
            ),
        ),
        (
            "page-1-total-pages",
            get("/page?base=1"),
            Box::new(page(1).total_pages_at("/total_pages")),
        ),
        (
            "page-0-count",
            get("/page?base=0&total=count"),
            Box::new(page(0).total_at("/count")),
        ),
    ]
}

fn extractor(request: Request, paginator: Box<dyn Paginator>, k: usize) -> haul::ExtractorBuilder {
    Extractor::builder()
        .request(request)
        .paginator(paginator)
        .concurrency(k)
        .retry(ExponentialBackoff::default().seed(3))
        .stream(STREAM)
}

fn texts(records: &[Record]) -> Vec<&str> {
    records.iter().map(Record::as_str).collect()
}

/// Every record of `dataset` is in the (appending) sink exactly once, in order.
fn assert_exactly_once(sink: &MemorySink, dataset: &Dataset, what: &str) {
    let got = sink.records(STREAM);
    assert_eq!(texts(&got), dataset.records(), "{what}");
}

// ---------------------------------------------------------------------------
// 1. endless fresh-cursor empty pages
// ---------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn endless_empty_pages_with_fresh_cursors_end_within_the_guard_in_every_style() {
    for len in [0usize, 20, 45] {
        let dataset = Dataset::generate(31, len);
        for (name, _, _) in cursor_styles(&serve(&dataset).await, "") {
            // A fresh server per style: its counters are the style's own.
            let server = serve(&dataset).await;
            let (_, request, paginator) = cursor_styles(&server, "endless=1")
                .into_iter()
                .find(|(n, _, _)| *n == name)
                .unwrap();
            let ends = Arc::new(Ends::default());
            let sink = MemorySink::new();
            let summary = extractor(request, paginator, 1)
                .observer(ends.clone())
                .build()
                .unwrap()
                .run(&sink)
                .await
                .unwrap_or_else(|e| panic!("{name}, {len} records: {e}"));
            let what = format!("{name}, {len} records");
            assert_exactly_once(&sink, &dataset, &what);
            assert!(summary.finished, "{what}");
            assert!(sink.checkpoint(STREAM).unwrap().is_done(), "{what}");
            let past_end = server.stats().past_end;
            if name == "last-record" {
                // Stripe-style ends at its first empty page, as before.
                assert_eq!(summary.end, PassEnd::Exhausted, "{what}");
                assert!(past_end <= 1, "{what}: {past_end} requests past the end");
            } else {
                assert_eq!(summary.end, PassEnd::EmptyPages, "{what}");
                assert_eq!(*ends.0.lock().unwrap(), [PassEnd::EmptyPages], "{what}");
                // Three empty pages (the default guard), one of them the
                // first page when the dataset is empty.
                let expected = if len == 0 { 2 } else { 3 };
                assert_eq!(past_end, expected, "{what}: requests past the end");
            }
        }
    }
}

#[tokio::test(start_paused = true)]
async fn the_empty_pages_guard_is_configurable_and_zero_disables_it() {
    let dataset = Dataset::generate(32, 45);
    let server = serve(&dataset).await;
    let (_, request, paginator) = cursor_styles(&server, "endless=1").remove(0);
    let sink = MemorySink::new();
    let summary = extractor(request, paginator, 1)
        .max_empty_pages(1)
        .build()
        .unwrap()
        .run(&sink)
        .await
        .unwrap();
    assert_eq!(summary.end, PassEnd::EmptyPages);
    assert_eq!(server.stats().past_end, 1);
    assert!(
        summary
            .to_string()
            .ends_with("; ended by the empty-pages guard"),
        "{summary}"
    );
    assert_exactly_once(&sink, &dataset, "max_empty_pages(1)");

    // Disabled: only max_pages bounds the pass, loudly.
    let server = serve(&dataset).await;
    let (_, request, paginator) = cursor_styles(&server, "endless=1").remove(0);
    let sink = MemorySink::new();
    let err = extractor(request, paginator, 1)
        .max_empty_pages(0)
        .max_pages(Some(12))
        .build()
        .unwrap()
        .run(&sink)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ExtractError::Paginate(PaginateError::MaxPagesExceeded { max: 12, .. })
        ),
        "{err}"
    );
    assert_exactly_once(&sink, &dataset, "max_empty_pages(0)");
}

// ---------------------------------------------------------------------------
// 2. a 204 / an empty 200 contradicting the previous page
// ---------------------------------------------------------------------------

/// Runs `name` from `styles` against a fresh server with `extra`; returns
/// the run's result, the sink and the server.
async fn run_style(
    dataset: &Dataset,
    styles: Styles,
    name: &str,
    extra: &str,
    k: usize,
) -> (Result<RunSummary, ExtractError>, MemorySink, RunningServer) {
    let server = serve(dataset).await;
    let (_, request, paginator) = styles(&server, extra)
        .into_iter()
        .find(|(n, _, _)| *n == name)
        .unwrap();
    let sink = MemorySink::new();
    let result = extractor(request, paginator, k)
        .batch_size(1)
        .build()
        .unwrap()
        .run(&sink)
        .await;
    (result, sink, server)
}

/// The records of pages before page `k` (1-based).
fn before_page(dataset: &Dataset, k: usize) -> Vec<&str> {
    dataset.records()[..(k - 1) * PAGE as usize]
        .iter()
        .map(String::as_str)
        .collect()
}

fn cursor_names() -> Vec<&'static str> {
    vec![
        "cursor",
        "header-cursor",
        "next-url",
        "link",
        "graphql",
        "last-record",
    ]
}

fn total_names() -> Vec<&'static str> {
    vec!["offset", "page-1-total-pages", "page-0-count"]
}

#[tokio::test(start_paused = true)]
async fn a_mid_listing_204_is_a_typed_error_after_retries_in_every_style() {
    let dataset = Dataset::generate(33, 3 * PAGE as usize + 5);
    let mut cases: Vec<(&str, usize, bool)> =
        cursor_names().into_iter().map(|n| (n, 1, true)).collect();
    for name in total_names() {
        cases.push((name, 1, false));
        cases.push((name, 8, false));
    }
    for (name, k, cursor) in cases {
        let (styles, extra): (Styles, &str) = if cursor {
            (cursor_styles, "no_content_at=2")
        } else {
            (total_styles, "&no_content_at=2")
        };
        let (result, sink, server) = run_style(&dataset, styles, name, extra, k).await;
        let what = format!("{name}, K={k}");
        let err = result.expect_err(&what);
        match &err {
            ExtractError::Contradiction {
                page,
                url,
                promise,
                attempts,
                ..
            } => {
                assert_eq!(*page, 2, "{what}: {err}");
                assert!(*attempts > 1, "{what}: retried first: {err}");
                assert!(!promise.is_empty() && !url.to_string().is_empty(), "{what}");
            }
            // GraphQL answers JSON or nothing: a 204 there is an unreadable
            // body, retried and then a typed error as well.
            ExtractError::Paginate(PaginateError::NotJson { .. }) if name == "graphql" => {}
            other => panic!("{what}: expected a contradiction, got {other}"),
        }
        // Everything before the page is committed, and the checkpoint
        // resumes at it.
        assert_eq!(
            texts(&sink.records(STREAM)),
            before_page(&dataset, 2),
            "{what}"
        );
        let checkpoint = sink.checkpoint(STREAM).unwrap();
        assert!(matches!(checkpoint.position, Position::Next(_)), "{what}");
        assert_eq!(checkpoint.pages, 1, "{what}");
        assert!(server.stats().holes > 1, "{what}: the 204 was retried");
    }
}

#[tokio::test(start_paused = true)]
async fn a_transient_204_or_empty_200_is_retried_and_the_run_completes() {
    let dataset = Dataset::generate(34, 3 * PAGE as usize + 5);
    let mut cases: Vec<(&str, usize, &str)> = cursor_names()
        .into_iter()
        .filter(|n| *n != "graphql")
        .map(|n| (n, 1, "no_content_at=2&once=1"))
        .collect();
    for name in total_names() {
        for k in [1, 8] {
            cases.push((name, k, "&no_content_at=2&once=1"));
            cases.push((name, k, "&empty_at=2&once=1"));
        }
    }
    for (name, k, extra) in cases {
        let styles = if extra.starts_with('&') {
            total_styles
        } else {
            cursor_styles
        };
        let (result, sink, server) = run_style(&dataset, styles, name, extra, k).await;
        let what = format!("{name}, K={k}, {extra}");
        let summary = result.unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_exactly_once(&sink, &dataset, &what);
        assert_eq!(summary.end, PassEnd::Exhausted, "{what}");
        assert!(summary.retries >= 1, "{what}");
        assert_eq!(server.stats().holes, 1, "{what}");
    }
}

#[tokio::test(start_paused = true)]
async fn an_empty_200_contradicting_a_total_is_a_typed_error_unless_short_listings_are_accepted() {
    let dataset = Dataset::generate(35, 3 * PAGE as usize + 5);
    for name in total_names() {
        for k in [1, 8] {
            let (result, sink, _server) =
                run_style(&dataset, total_styles, name, "&empty_at=2", k).await;
            let what = format!("{name}, K={k}");
            let err = result.expect_err(&what);
            assert!(
                matches!(err, ExtractError::Contradiction { page: 2, .. }),
                "{what}: {err}"
            );
            assert_eq!(
                texts(&sink.records(STREAM)),
                before_page(&dataset, 2),
                "{what}"
            );
        }
    }
    // The explicit opt-in: the pass ends at the short listing, as the API says.
    let server = serve(&dataset).await;
    let sink = MemorySink::new();
    let summary = extractor(
        Request::get(server.url("/offset?empty_at=2")),
        Box::new(
            OffsetPaginator::new("offset")
                .limit("limit", PAGE)
                .records_at("/results")
                .total_at("/total")
                .accept_short_listing(true),
        ),
        1,
    )
    .build()
    .unwrap()
    .run(&sink)
    .await
    .unwrap();
    assert_eq!(summary.end, PassEnd::Exhausted);
    assert_eq!(texts(&sink.records(STREAM)), before_page(&dataset, 2));
}

// ---------------------------------------------------------------------------
// 3. clamped page sizes with concurrency (issue 18)
// ---------------------------------------------------------------------------

const CLAMP: usize = 20;

/// The offset and page-number configurations of issue 18 against a server
/// clamping the page size to [`CLAMP`] and answering 404 past the last page.
fn clamped(server: &RunningServer, requested: u64) -> Vec<(String, Request, Box<dyn Paginator>)> {
    let get = |q: &str| Request::get(server.url(q));
    let mut out: Vec<(String, Request, Box<dyn Paginator>)> = vec![(
        "offset".into(),
        get("/offset?past_end=404"),
        Box::new(
            OffsetPaginator::new("offset")
                .limit("limit", requested)
                .records_at("/results")
                .total_at("/total"),
        ),
    )];
    for base in [0u64, 1] {
        let page = || {
            PageNumberPaginator::new("page")
                .first_page(base)
                .page_size("page_size", requested)
                .records_at("/items")
        };
        out.push((
            format!("page-{base}-count"),
            get(&format!("/page?base={base}&total=count&past_end=404")),
            Box::new(page().total_at("/count")),
        ));
        out.push((
            format!("page-{base}-total-pages"),
            get(&format!("/page?base={base}&past_end=404")),
            Box::new(page().total_pages_at("/total_pages")),
        ));
    }
    out
}

#[tokio::test(start_paused = true)]
async fn clamped_page_sizes_with_concurrency_end_exactly_at_the_total() {
    for len in [0usize, 1, 19, 20, 21, 39, 40, 41, 100, 101, 250] {
        let dataset = Dataset::generate(36, len);
        for requested in [10u64, 20, 50, 500] {
            for k in [1usize, 8] {
                for index in 0..5 {
                    let server = FakeApi::builder()
                        .dataset(dataset.clone())
                        .max_page_size(CLAMP)
                        .build()
                        .start()
                        .await
                        .unwrap();
                    let (name, request, paginator) = clamped(&server, requested).remove(index);
                    let what = format!("{name}, {len} records, size {requested}, K={k}");
                    let sink = MemorySink::new();
                    let summary = extractor(request, paginator, k)
                        .build()
                        .unwrap()
                        .run(&sink)
                        .await
                        .unwrap_or_else(|e| panic!("{what}: {e}"));
                    assert_exactly_once(&sink, &dataset, &what);
                    assert_eq!(summary.end, PassEnd::Exhausted, "{what}");
                    let stats = server.stats();
                    assert_eq!(stats.past_end, 0, "{what}: requests past the end");
                    assert_eq!(stats.not_found, 0, "{what}");
                    assert!(sink.checkpoint(STREAM).unwrap().is_done(), "{what}");
                }
            }
        }
    }
}

/// Stores a checkpoint at page `page` of the DRF-style page-number stream,
/// after `records` records, with the paginator state `state`.
async fn store_checkpoint(
    sink: &MemorySink,
    server: &RunningServer,
    page: u64,
    records: &[Record],
    state: serde_json::Value,
) {
    let next = Request::get(server.url(&format!(
        "/page?base=1&total=count&past_end=404&page={page}&page_size=500"
    )));
    let checkpoint = Checkpoint {
        position: Position::Next(SavedRequest::from_request(&next)),
        pages: page - 1,
        records: records.len() as u64,
        paginator: state,
        ..Checkpoint::start(STREAM)
    };
    sink.write(Batch {
        stream: STREAM,
        records,
        checkpoint: &checkpoint,
    })
    .await
    .unwrap();
}

fn drf(server: &RunningServer) -> Extractor {
    Extractor::builder()
        .url(server.url("/page?base=1&total=count&past_end=404").as_str())
        .paginator(
            PageNumberPaginator::new("page")
                .page_size("page_size", 500)
                .total_at("/count")
                .records_at("/items"),
        )
        .concurrency(8)
        .stream(STREAM)
        .build()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_checkpoint_past_the_end_resumes_to_done_and_a_404_inside_the_listing_stays_an_error() {
    let dataset = Dataset::generate(37, 5 * CLAMP);
    let all: Vec<Record> = dataset
        .records()
        .iter()
        .map(|r| Record::from_json(r).unwrap())
        .collect();
    let server = FakeApi::builder()
        .dataset(dataset.clone())
        .max_page_size(CLAMP)
        .build()
        .start()
        .await
        .unwrap();

    // As the old concurrent walk stored it: page 6 of 5, its record count
    // for the total wrong. The 404 there ends the pass: the total is reached.
    let sink = MemorySink::new();
    store_checkpoint(
        &sink,
        &server,
        6,
        &all,
        serde_json::json!({ "total": 100, "records_seen": 40 }),
    )
    .await;
    let summary = drf(&server).run(&sink).await.unwrap();
    assert_eq!(summary.end, PassEnd::PastEnd);
    assert_eq!(summary.records, 0);
    assert!(sink.checkpoint(STREAM).unwrap().is_done());
    assert_exactly_once(&sink, &dataset, "resumed past the end");
    // The next run starts a fresh pass and completes.
    let sink2 = MemorySink::new();
    drf(&server).run(&sink2).await.unwrap();
    assert_exactly_once(&sink2, &dataset, "fresh pass");

    // A consistent state past the end: not even sent.
    let sink = MemorySink::new();
    store_checkpoint(
        &sink,
        &server,
        6,
        &all,
        serde_json::json!({ "total": 100, "records_seen": 100 }),
    )
    .await;
    let before = server.stats().data_requests;
    let summary = drf(&server).run(&sink).await.unwrap();
    assert_eq!(summary.end, PassEnd::PastEnd);
    assert_eq!(server.stats().data_requests, before, "nothing sent");

    // A 404 while the total is not reached stays an error.
    let sink = MemorySink::new();
    store_checkpoint(
        &sink,
        &server,
        7,
        &all[..40],
        serde_json::json!({ "total": 100, "records_seen": 40 }),
    )
    .await;
    let err = drf(&server).run(&sink).await.unwrap_err();
    assert!(
        matches!(err, ExtractError::Http { status, .. } if status.as_u16() == 404),
        "{err}"
    );
}
