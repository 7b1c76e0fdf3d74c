//! Incremental runs through the full stack: a watermark in epoch
//! milliseconds, and the bound placed outside a plain query parameter (a
//! header, a SOQL-style template), recorded in the checkpoint and placed
//! again on resume.

use std::time::Duration;

use haul::core::url::form_urlencoded;
use haul::core::{Checkpoint, Position, Record};
use haul::sink::Batch;
use haul::{
    BoundPlacement, CursorPaginator, ExtractError, Extractor, Incremental, MemorySink, Sink,
    TimeFormat,
};
use haul_testkit::{Dataset, FakeApi, RunningServer, SeenRequest};

const STREAM: &str = "items";
const PAGE: u64 = 25;
/// 2026-01-01T00:01:30.123Z in Unix milliseconds.
const WATERMARK_MS: i64 = 1_767_225_690_123;

async fn serve(dataset: &Dataset) -> RunningServer {
    FakeApi::builder()
        .dataset(dataset.clone())
        .record_requests(true)
        .build()
        .start()
        .await
        .expect("fake api starts")
}

fn extractor(server: &RunningServer, incremental: Incremental) -> Extractor {
    Extractor::builder()
        .url(server.url("/items").as_str())
        .paginator(
            CursorPaginator::new("/next_cursor", "cursor")
                .records_at("/data")
                .page_size("limit", PAGE),
        )
        .stream(STREAM)
        .incremental(incremental)
        .batch_size(PAGE as usize)
        .build()
        .expect("valid configuration")
}

/// A destination that already holds one record carrying `watermark` at
/// `field`, after a finished pass.
async fn destination(field: &str, watermark: &str) -> MemorySink {
    let sink = MemorySink::with_primary_key("/id");
    let record = Record::from_json(&format!(r#"{{"id":0,"{field}":{watermark}}}"#)).unwrap();
    let mut done = Checkpoint::start(STREAM);
    done.position = Position::Done;
    sink.write(Batch {
        stream: STREAM,
        records: &[record],
        checkpoint: &done,
    })
    .await
    .unwrap();
    sink
}

fn query_param(request: &SeenRequest, name: &str) -> Option<String> {
    form_urlencoded::parse(request.query.as_deref().unwrap_or_default().as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Records of `dataset` whose `updated_at` is at or after `since` (every
/// timestamp is written `YYYY-MM-DDTHH:MM:SSZ`, so they compare as text).
fn selected_since(dataset: &Dataset, since: &str) -> u64 {
    (0..dataset.len())
        .filter(|&i| dataset.updated_at(i).unwrap() >= since)
        .count() as u64
}

/// Issue 10, failure 3: a watermark in epoch milliseconds gives a bound
/// exactly `lookback` earlier, in milliseconds, sent with every request of
/// the pass and recorded in the checkpoint. (The old code read any number
/// below 1e13 as seconds: a lookback 1,000 times too short.)
#[tokio::test]
async fn a_millisecond_watermark_gives_a_bound_exactly_lookback_earlier_in_milliseconds() {
    let dataset = Dataset::generate(41, 300);
    let server = serve(&dataset).await;
    let sink = destination("updated_ms", &WATERMARK_MS.to_string()).await;
    let lookback = Duration::from_secs(60);
    let incremental = Incremental::new("/updated_ms", "updated_since_ms")
        .format(TimeFormat::EpochMillis)
        .lookback(lookback);
    let summary = extractor(&server, incremental).run(&sink).await.unwrap();

    let bound = (WATERMARK_MS - 60_000).to_string();
    assert_eq!(bound, "1767225630123");
    let seen = server.seen_requests();
    assert!(!seen.is_empty());
    for request in &seen {
        assert_eq!(
            query_param(request, "updated_since_ms").as_deref(),
            Some(bound.as_str()),
            "{:?}",
            request.query
        );
    }
    // The server selected from the bound (rounded down to its seconds).
    let expected = selected_since(&dataset, "2026-01-01T00:00:30Z");
    assert!(expected > 0 && expected < dataset.len() as u64);
    assert_eq!(summary.records, expected);
    assert!(summary.finished);
    let checkpoint = sink.checkpoint(STREAM).unwrap();
    assert_eq!(checkpoint.lower_bound.as_deref(), Some(bound.as_str()));
}

/// A bare number with the default RFC 3339 watermark format is a typed
/// error naming the fix, before any request is sent.
#[tokio::test]
async fn a_numeric_watermark_without_a_unit_is_a_typed_error() {
    let dataset = Dataset::generate(41, 30);
    let server = serve(&dataset).await;
    let sink = destination("updated_ms", &WATERMARK_MS.to_string()).await;
    let error = extractor(&server, Incremental::new("/updated_ms", "updated_since_ms"))
        .run(&sink)
        .await
        .unwrap_err();
    assert!(
        matches!(
            &error,
            ExtractError::Incremental {
                source: haul::IncrementalError::NumberWithoutUnit { .. },
                ..
            }
        ),
        "{error}"
    );
    assert!(
        error.to_string().contains("TimeFormat::EpochMillis"),
        "{error}"
    );
    assert!(server.seen_requests().is_empty());
}

/// The bound in a header: every request of the pass carries it, and a pass
/// stopped half-way resumes with the same bound (the checkpoint keeps no
/// headers, so the recorded bound is placed again).
#[tokio::test]
async fn a_header_bound_survives_a_resume() {
    let dataset = Dataset::generate(43, 300);
    let server = serve(&dataset).await;
    let sink = destination("updated_at", "\"2026-01-01T00:30:00.250+01:00\"").await;
    let incremental = Incremental::placed("/updated_at", BoundPlacement::header("X-Updated-Since"))
        .lookback(Duration::from_secs(90));
    let extractor = extractor(&server, incremental);
    // 2026-01-01T00:30:00.250+01:00 is 2025-12-31T23:30:00.250Z; minus 90 s,
    // rounded down to the second.
    let bound = "2025-12-31T23:28:30Z";

    // Stop after the first page has been committed.
    let stopped = extractor
        .run_until(&sink, async {
            while server.seen_requests().is_empty() {
                tokio::task::yield_now().await;
            }
        })
        .await;
    assert!(
        matches!(stopped, Err(ExtractError::Interrupted { .. })),
        "{stopped:?}"
    );
    let checkpoint = sink.checkpoint(STREAM).unwrap();
    assert_eq!(checkpoint.lower_bound.as_deref(), Some(bound));
    assert!(matches!(checkpoint.position, Position::Next(_)));

    let resumed = extractor.run(&sink).await.unwrap();
    assert!(resumed.resumed_after_page > 0);
    let seen = server.seen_requests();
    assert!(seen.len() >= 2);
    for request in &seen {
        assert_eq!(
            request.header("x-updated-since"),
            Some(bound),
            "{:?}",
            request.query
        );
        // Not a query parameter: the server saw no filter and served everything.
        assert_eq!(query_param(request, "updated_since"), None);
    }
    assert_eq!(sink.records(STREAM).len(), dataset.len() + 1);
}

/// The bound inside a query-language string (Salesforce SOQL): the
/// configured query is the full pass, the template the incremental one.
#[tokio::test]
async fn a_template_puts_the_bound_inside_a_query_string() {
    let dataset = Dataset::generate(47, 60);
    let server = serve(&dataset).await;
    let sink = destination("updated_at", "\"2026-01-01T00:01:30Z\"").await;
    let incremental = Incremental::placed(
        "/updated_at",
        BoundPlacement::query("q")
            .template("SELECT Id FROM Item WHERE SystemModstamp > {bound} ORDER BY SystemModstamp"),
    );
    let extractor = Extractor::builder()
        .url(server.url("/items?q=SELECT+Id+FROM+Item").as_str())
        .paginator(
            CursorPaginator::new("/next_cursor", "cursor")
                .records_at("/data")
                .page_size("limit", PAGE),
        )
        .stream(STREAM)
        .incremental(incremental)
        .build()
        .unwrap();
    extractor.run(&sink).await.unwrap();
    let seen = server.seen_requests();
    assert!(!seen.is_empty());
    for request in &seen {
        assert_eq!(
            query_param(request, "q").as_deref(),
            Some(
                "SELECT Id FROM Item WHERE SystemModstamp > 2026-01-01T00:00:30Z ORDER BY SystemModstamp"
            )
        );
    }
}

/// A placement that cannot work is refused when the extractor is built.
#[test]
fn a_template_without_placeholder_is_refused_at_build() {
    let error = Extractor::builder()
        .url("https://api.example.com/items")
        .paginator(CursorPaginator::new("/next", "cursor"))
        .incremental(Incremental::placed(
            "/t",
            BoundPlacement::query("q").template("no placeholder"),
        ))
        .build()
        .unwrap_err();
    assert!(error.to_string().contains("{bound}"), "{error}");
}
