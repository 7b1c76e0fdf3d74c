//! Every preset of `haul::presets` end to end against the testkit's
//! emulation of its API: the whole listing exactly once and in order, the
//! records selected from the API's envelope, the incremental bound in the
//! API's parameter and time format on a second run, and the API's way of
//! throttling honoured.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use haul::presets::{self, PresetExt};
use haul::{Extractor, ExtractorBuilder, MemorySink, RunSummary};
use haul_testkit::{Dataset, Emulation, FakeApi, RateLimit, RunningServer};

/// Server-side page cap: every preset asks for more (100 or 250), so pages
/// hold 50 records (Jira: 37, as Jira may return fewer than asked).
const MAX_PAGE: usize = 50;

/// The first request's path and query for `api`.
fn start(api: Emulation) -> String {
    match api {
        Emulation::Salesforce => format!("{}?q=SELECT+Id,+Name+FROM+Account", api.path()),
        Emulation::Jira => format!("{}?jql=project+%3D+HAUL", api.path()),
        _ => api.path().to_owned(),
    }
}

/// The builder for `api`'s preset against `server`.
fn builder(api: Emulation, server: &RunningServer) -> ExtractorBuilder {
    let builder = Extractor::builder()
        .url(server.url(&start(api)).to_string())
        .stream(api.name());
    match api {
        Emulation::GitHub => builder.preset(presets::github()),
        Emulation::Stripe => builder.preset(presets::stripe()),
        Emulation::HubSpot => builder.preset(presets::hubspot()),
        Emulation::Zendesk => builder.preset(presets::zendesk("tickets")),
        Emulation::Salesforce => {
            builder.preset(presets::salesforce("SELECT Id, Name FROM Account"))
        }
        Emulation::Shopify => builder.preset(presets::shopify("products")),
        Emulation::Jira => builder.preset(presets::jira("project = HAUL")),
        Emulation::OData => builder.preset(presets::odata()),
        other => panic!("no preset for {other:?}"),
    }
}

async fn server(dataset: Dataset, limit: Option<RateLimit>) -> RunningServer {
    let mut builder = FakeApi::builder()
        .dataset(dataset)
        .default_page_size(MAX_PAGE)
        .max_page_size(MAX_PAGE)
        .record_requests(true);
    if let Some(limit) = limit {
        builder = builder.rate_limit(limit);
    }
    builder.build().start().await.unwrap()
}

fn texts(sink: &MemorySink, stream: &str) -> Vec<String> {
    sink.records(stream)
        .iter()
        .map(|r| r.as_str().to_owned())
        .collect()
}

fn rendered(api: Emulation, records: &[String]) -> Vec<String> {
    records.iter().map(|r| api.render(r)).collect()
}

#[tokio::test]
async fn every_preset_reads_its_emulation_once_in_order() {
    let dataset = Dataset::generate(11, 263);
    for api in Emulation::ALL {
        let server = server(dataset.clone(), None).await;
        let sink = MemorySink::new();
        let summary = builder(api, &server).build().unwrap().run(&sink).await;
        let summary = summary.unwrap_or_else(|e| panic!("{api:?}: {e}"));
        let page = if api == Emulation::Jira { 37 } else { MAX_PAGE };
        assert_eq!(summary.records, 263, "{api:?}");
        assert_eq!(summary.pages, 263u64.div_ceil(page as u64), "{api:?}");
        assert_eq!(
            texts(&sink, api.name()),
            rendered(api, dataset.records()),
            "{api:?}: every record once, in order, selected from the envelope"
        );
        let stats = server.stats();
        assert_eq!(
            stats.requests, summary.requests,
            "{api:?}: no stray request"
        );
        server.shutdown().await;
    }
}

/// The value of the incremental bound in the first request of the run
/// that started after `from` requests.
fn bound_sent(server: &RunningServer, from: usize, param: &str) -> Option<String> {
    let requests = server.seen_requests();
    let first = requests.get(from).expect("a first request");
    url::form_urlencoded::parse(first.query.as_deref().unwrap_or_default().as_bytes())
        .find(|(k, _)| k == param)
        .map(|(_, v)| v.into_owned())
}

/// A first run reads everything; the data changes; a second run sends the
/// preset's bound in the API's format and fetches only what changed (plus
/// the lookback overlap), and the destination equals the API's data.
async fn incremental(api: Emulation, param: &str, check: impl Fn(&str) -> bool) {
    let dataset = Dataset::generate(5, 400);
    let server = server(dataset.clone(), None).await;
    let sink = MemorySink::with_primary_key("/id");
    let first = builder(api, &server)
        .build()
        .unwrap()
        .run(&sink)
        .await
        .unwrap();
    assert_eq!(first.records, 400, "{api:?}");
    assert!(
        bound_sent(&server, 0, param).is_none_or(|v| !check(&v)),
        "{api:?}: a first run is full"
    );

    let mutation = server.mutate(6, 0.02, 7);
    let from = server.seen_requests().len();
    let second = builder(api, &server)
        .build()
        .unwrap()
        .run(&sink)
        .await
        .unwrap();
    let bound = bound_sent(&server, from, param).expect("the second run sends a bound");
    assert!(
        check(&bound),
        "{api:?}: bound {bound:?} in the wrong format"
    );
    let changed = (mutation.updated.len() + mutation.added.len()) as u64;
    assert!(
        second.records >= changed && second.records < 400 / 4,
        "{api:?}: the second run read {} records for {changed} changes",
        second.records
    );
    let mut stored = texts(&sink, api.name());
    let mut current = rendered(api, &server.current_records());
    stored.sort();
    current.sort();
    assert_eq!(stored, current, "{api:?}: the destination equals the API");
    server.shutdown().await;
}

fn is_rfc3339_seconds(text: &str) -> bool {
    text.len() == 20 && text.ends_with('Z') && text.as_bytes()[10] == b'T'
}

fn is_epoch_seconds(text: &str) -> bool {
    text.len() == 10 && text.bytes().all(|b| b.is_ascii_digit())
}

#[tokio::test]
async fn github_sends_since_as_rfc3339() {
    incremental(Emulation::GitHub, "since", is_rfc3339_seconds).await;
}

#[tokio::test]
async fn stripe_sends_created_gte_in_epoch_seconds() {
    incremental(Emulation::Stripe, "created[gte]", is_epoch_seconds).await;
}

#[tokio::test]
async fn zendesk_sends_start_time_in_epoch_seconds() {
    incremental(Emulation::Zendesk, "start_time", is_epoch_seconds).await;
}

#[tokio::test]
async fn salesforce_puts_systemmodstamp_inside_the_soql() {
    incremental(Emulation::Salesforce, "q", |q| {
        q.strip_prefix("SELECT Id, Name FROM Account WHERE SystemModstamp >= ")
            .and_then(|rest| rest.strip_suffix(" ORDER BY SystemModstamp"))
            .is_some_and(is_rfc3339_seconds)
    })
    .await;
}

#[tokio::test]
async fn jira_puts_updated_inside_the_jql_in_minutes() {
    incremental(Emulation::Jira, "jql", |jql| {
        jql.strip_prefix("project = HAUL AND updated >= \"")
            .and_then(|rest| rest.strip_suffix('"'))
            .is_some_and(|date| date.len() == 16 && date.as_bytes()[4] == b'/')
    })
    .await;
}

#[tokio::test]
async fn odata_filters_on_last_modified() {
    incremental(Emulation::OData, "$filter", |filter| {
        filter
            .strip_prefix("lastModifiedDateTime ge ")
            .is_some_and(is_rfc3339_seconds)
    })
    .await;
}

#[tokio::test]
async fn shopify_sends_updated_at_min_as_rfc3339() {
    incremental(Emulation::Shopify, "updated_at_min", is_rfc3339_seconds).await;
}

async fn run(api: Emulation, server: &RunningServer, records: u64) -> RunSummary {
    let sink = MemorySink::new();
    let summary = builder(api, server)
        .build()
        .unwrap()
        .run(&sink)
        .await
        .unwrap();
    assert_eq!(summary.records, records, "{api:?}");
    summary
}

/// GitHub answers an exhausted budget with 403 and `X-RateLimit-Remaining:
/// 0`: a run that starts with no budget left (a fresh limiter, as a new
/// process has) gets one 403, waits until the reset, and finishes; a run
/// with budget paces itself and never sees a 403.
#[tokio::test(start_paused = true)]
async fn github_waits_out_a_403_until_the_reset() {
    let window = Duration::from_secs(60);
    let server = server(Dataset::generate(2, 100), Some(RateLimit::new(2, window))).await;
    // Two pages use up the window's budget.
    let first = run(Emulation::GitHub, &server, 100).await;
    assert_eq!((first.requests, server.stats().over_limit_429), (2, 0));

    let started = tokio::time::Instant::now();
    let second = run(Emulation::GitHub, &server, 100).await;
    assert_eq!(server.stats().over_limit_429, 1, "one 403, then a wait");
    assert_eq!(second.requests, 3);
    assert!(
        started.elapsed() >= window - Duration::from_secs(1),
        "waited {:?} for a reset {window:?} away",
        started.elapsed()
    );
    server.shutdown().await;
}

/// Shopify's `429` says `Retry-After: 2.0` (seconds with a fraction), and
/// its bucket header `used/size`: each 429 is waited out in full, so a
/// limit window never sees a second one.
#[tokio::test(start_paused = true)]
async fn shopify_honours_a_fractional_retry_after() {
    let server = server(
        Dataset::generate(3, 500),
        Some(RateLimit::new(3, Duration::from_secs(2))),
    )
    .await;
    let summary = run(Emulation::Shopify, &server, 500).await;
    let windows = summary.pages.div_ceil(3);
    let over = server.stats().over_limit_429;
    assert!(
        over < windows,
        "{over} 429s over {} pages: a Retry-After was cut short",
        summary.pages
    );
    server.shutdown().await;
}

/// The vendor header families pace a run to the advertised budget: no
/// request beyond the limit at HubSpot (`X-HubSpot-RateLimit-*`) and
/// Zendesk (`X-Rate-Limit*`, `Retry-After`).
#[tokio::test(start_paused = true)]
async fn vendor_rate_limit_headers_pace_the_run() {
    for api in [Emulation::HubSpot, Emulation::Zendesk] {
        let server = server(
            Dataset::generate(4, 600),
            Some(RateLimit::new(4, Duration::from_secs(1))),
        )
        .await;
        let summary = run(api, &server, 600).await;
        let over = server.stats().over_limit_429;
        assert!(
            over <= 1,
            "{api:?}: {over} requests over the limit in {} requests",
            summary.requests
        );
        server.shutdown().await;
    }
}

/// Every part of a preset stays overridable.
#[tokio::test]
async fn preset_parts_can_be_overridden() {
    let dataset = Dataset::generate(8, 90);
    let server = server(dataset.clone(), None).await;
    let sink = MemorySink::new();
    let summary = Extractor::builder()
        .url(server.url(Emulation::GitHub.path()).to_string())
        .preset(presets::github().map_paginator(|p| p.page_size("per_page", 30)))
        .stream("github")
        .build()
        .unwrap()
        .run(&sink)
        .await
        .unwrap();
    assert_eq!((summary.records, summary.pages), (90, 3));
    server.shutdown().await;
}
