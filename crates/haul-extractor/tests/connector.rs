//! The connector: partitions under one budget, parent→child discovery,
//! resume, response rules — against a scripted in-process API under paused time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use haul_core::{Request, Response, TransportError};
use haul_extractor::{
    Connector, ConnectorError, Incremental, ParentLink, Partition, Partitions, RequestTemplate,
    ResponseRule, RuleAction, Step, StreamDef, TimeFormat, TimeWindows,
};
use haul_paginate::CursorPaginator;
use haul_sink::{MemorySink, Sink};
use haul_transport::Transport;

/// One served request: path, cursor, and the paused-clock time it was served.
#[derive(Debug, Clone)]
struct Served {
    path: String,
    #[allow(dead_code)]
    query: String,
    at: tokio::time::Instant,
}

type Route = dyn Fn(&Request) -> (u16, String) + Send + Sync;

/// An API answering each request from a closure after `latency`.
struct Api {
    latency: Duration,
    route: Box<Route>,
    log: Mutex<Vec<Served>>,
    /// Requests that hang forever from this one on (a process killed mid-run).
    hang_after: AtomicUsize,
    /// Requests being served now, and the most ever served at once.
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

impl Api {
    fn new(
        latency: Duration,
        route: impl Fn(&Request) -> (u16, String) + Send + Sync + 'static,
    ) -> Self {
        Self {
            latency,
            route: Box::new(route),
            log: Mutex::default(),
            hang_after: AtomicUsize::new(usize::MAX),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
        }
    }

    fn served(&self) -> Vec<Served> {
        self.log.lock().unwrap().clone()
    }

    fn paths(&self) -> Vec<String> {
        self.served().into_iter().map(|s| s.path).collect()
    }
}

#[async_trait]
impl Transport for Api {
    async fn send(&self, request: &Request) -> Result<Response, TransportError> {
        let n = self.log.lock().unwrap().len();
        if n >= self.hang_after.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(self.latency).await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        self.log.lock().unwrap().push(Served {
            path: request.url.path().to_owned(),
            query: request.url.query().unwrap_or_default().to_owned(),
            at: tokio::time::Instant::now(),
        });
        let (status, body) = (self.route)(request);
        Ok(Response::new(
            http::StatusCode::from_u16(status).unwrap(),
            request.url.clone(),
            body,
        ))
    }
}

/// A cursor page: `records` JSON texts, `next` the next page index if any.
fn page(records: &[String], next: Option<usize>) -> String {
    let next = next.map_or("null".to_owned(), |n| format!("\"{n}\""));
    format!("{{\"data\":[{}],\"next\":{next}}}", records.join(","))
}

fn paginator() -> CursorPaginator {
    CursorPaginator::new("/next", "cursor").records_at("/data")
}

fn cursor(req: &Request) -> usize {
    req.query("cursor")
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// Serves `n` pages of one record each for partition `id`.
fn pages_of(id: &str, n: usize, at: usize) -> String {
    let rec = format!("{{\"id\":\"{id}-{at}\"}}");
    page(&[rec], (at + 1 < n).then_some(at + 1))
}

#[tokio::test(start_paused = true)]
async fn one_huge_partition_does_not_starve_fifty_small_ones() {
    let api = std::sync::Arc::new(Api::new(Duration::from_millis(20), |req| {
        let id = req.url.path().trim_start_matches("/p/").to_owned();
        let n = if id == "big" { 1000 } else { 2 };
        (200, pages_of(&id, n, cursor(req)))
    }));
    let mut parts = vec![Partition::new([("id", "big")])];
    parts.extend((0..50).map(|i| Partition::new([("id", format!("s{i:02}"))])));
    let connector = Connector::builder("fair")
        .transport(std::sync::Arc::clone(&api))
        .max_in_flight(4)
        .stream(
            StreamDef::new(
                "items",
                RequestTemplate::get("http://api.test/p/{id}"),
                paginator(),
            )
            .partitions(Partitions::list(parts))
            .batch_size(1),
        )
        .build()
        .unwrap();
    let sink = MemorySink::with_primary_key("/id");
    let summary = connector.run(&sink).await.unwrap();
    assert_eq!(summary.records, 1000 + 50 * 2);
    assert_eq!(summary.partitions.len(), 51);
    let served = api.served();
    let last_small = served
        .iter()
        .filter(|s| s.path != "/p/big")
        .map(|s| s.at)
        .max()
        .unwrap();
    let big_before = served
        .iter()
        .filter(|s| s.path == "/p/big" && s.at <= last_small)
        .count();
    let big_end = served.iter().map(|s| s.at).max().unwrap();
    // Every small partition is done while the big one has fetched a small
    // fraction of its pages; the big one then runs alone to its end.
    assert!(
        big_before < 100,
        "the big partition fetched {big_before} pages first"
    );
    assert!(big_end - last_small > (big_end - served[0].at) * 8 / 10);
    // Never more than 4 in flight: with 20 ms per request, at most 4 end per 20 ms tick.
    let mut per_tick: HashMap<tokio::time::Instant, usize> = HashMap::new();
    for s in &served {
        *per_tick.entry(s.at).or_default() += 1;
    }
    assert!(
        per_tick.values().all(|&n| n <= 4),
        "{:?}",
        per_tick.values().max()
    );
}

/// Records of a year; some sit exactly on month boundaries.
fn year_of_events() -> Vec<(i64, String)> {
    let jan: i64 = 1_735_689_600; // 2025-01-01T00:00:00Z
    let mut out = Vec::new();
    let windows = TimeWindows::from_epoch(jan, Step::Months(1), TimeFormat::EpochSeconds)
        .unwrap()
        .end_epoch(jan + 365 * 86_400)
        .windows(0);
    for (m, w) in windows.iter().enumerate() {
        let start: i64 = w.get("start").unwrap().parse().unwrap();
        // One on the boundary, a few inside, one a second before the next.
        for (k, t) in [start, start + 1, start + 86_400 * 3, start + 86_400 * 20]
            .into_iter()
            .enumerate()
        {
            out.push((t, format!("{{\"id\":\"m{m}-{k}\",\"t\":{t}}}")));
        }
        let end: i64 = w.get("end").unwrap().parse().unwrap();
        out.push((
            end - 1,
            format!("{{\"id\":\"m{m}-last\",\"t\":{}}}", end - 1),
        ));
    }
    out
}

#[tokio::test(start_paused = true)]
async fn twelve_monthly_windows_get_every_record_once_boundaries_included() {
    let events = year_of_events();
    let served_events = events.clone();
    let api = std::sync::Arc::new(Api::new(Duration::from_millis(20), move |req| {
        // Half-open filter: since <= t < until, two records a page.
        let since: i64 = req.query("since").unwrap().parse().unwrap();
        let until: i64 = req.query("until").unwrap().parse().unwrap();
        let view: Vec<String> = served_events
            .iter()
            .filter(|(t, _)| since <= *t && *t < until)
            .map(|(_, r)| r.clone())
            .collect();
        let at = cursor(req);
        let end = (at + 2).min(view.len());
        (200, page(&view[at..end], (end < view.len()).then_some(end)))
    }));
    let windows = TimeWindows::new(
        "2025-01-01T00:00:00Z",
        Step::Months(1),
        TimeFormat::EpochSeconds,
    )
    .unwrap()
    .end("2026-01-01T00:00:00Z")
    .unwrap()
    .names("since", "until");
    let connector = Connector::builder("backfill")
        .transport(std::sync::Arc::clone(&api))
        .max_in_flight(4)
        .stream(
            StreamDef::new(
                "events",
                RequestTemplate::get("http://api.test/events")
                    .query("since", "{since}")
                    .query("until", "{until}"),
                paginator(),
            )
            .partitions(Partitions::Windows(windows))
            .batch_size(2),
        )
        .build()
        .unwrap();
    // Append-only: a record fetched twice would be stored twice.
    let sink = MemorySink::new();
    let summary = connector.run(&sink).await.unwrap();
    let stored: Vec<(String, String)> = sink
        .tagged_records("events")
        .into_iter()
        .map(|(p, r)| (p, r.as_str().to_owned()))
        .collect();
    assert_eq!(stored.len(), events.len());
    let unique: BTreeSet<&String> = stored.iter().map(|(_, r)| r).collect();
    assert_eq!(unique.len(), events.len());
    // Each window's records are tagged with it, and each has its own checkpoint.
    let states = sink.partitions("events").await.unwrap();
    assert_eq!(states.len(), 12);
    for state in &states {
        assert!(state.checkpoint.is_done());
        let tagged = stored.iter().filter(|(p, _)| *p == state.partition).count();
        assert_eq!(tagged, 5, "{}", state.partition);
        assert_eq!(state.checkpoint.records, 5);
        assert_eq!(state.checkpoint.pages, 3);
    }
    assert_eq!(summary.partitions.len(), 12);
    assert_eq!(summary.requests, 36);
}

/// A three-level API: 4 orgs, each with repos, each repo with events; org
/// `o3`'s repo `r1` answers 404 (deleted between the two requests).
fn three_levels(req: &Request) -> (u16, String) {
    let path = req.url.path();
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let at = cursor(req);
    match parts.as_slice() {
        ["orgs"] => {
            let orgs: Vec<String> = (0..4).map(|o| format!("{{\"login\":\"o{o}\"}}")).collect();
            let end = (at + 2).min(orgs.len());
            (200, page(&orgs[at..end], (end < orgs.len()).then_some(end)))
        }
        ["orgs", org, "repos"] => {
            let n = if *org == "o0" { 30 } else { 3 };
            let repos: Vec<String> = (0..n)
                .map(|r| format!("{{\"id\":\"{org}/r{r}\",\"name\":\"r{r}\"}}"))
                .collect();
            let end = (at + 5).min(repos.len());
            (
                200,
                page(&repos[at..end], (end < repos.len()).then_some(end)),
            )
        }
        ["orgs", "o3", "repos", "r1", "events"] => (404, "{\"message\":\"Not Found\"}".into()),
        ["orgs", org, "repos", repo, "events"] => {
            let n = 3;
            let rec = format!("{{\"id\":\"{org}/{repo}/e{at}\"}}");
            (200, page(&[rec], (at + 1 < n).then_some(at + 1)))
        }
        _ => (404, "{}".into()),
    }
}

fn three_level_connector(api: std::sync::Arc<Api>) -> Connector {
    three_levels_linked(api, ParentLink::new("repos").field("repo", "/name"))
}

/// The three-level connector with `events` linked to `repos` by `events_link`.
fn three_levels_linked(api: std::sync::Arc<Api>, events_link: ParentLink) -> Connector {
    Connector::builder("gh")
        .transport(api)
        .max_in_flight(4)
        .stream(
            StreamDef::new(
                "orgs",
                RequestTemplate::get("http://api.test/orgs"),
                paginator(),
            )
            .batch_size(1),
        )
        .stream(
            StreamDef::new(
                "repos",
                RequestTemplate::get("http://api.test/orgs/{org}/repos"),
                paginator(),
            )
            .partitions(Partitions::Parent(
                ParentLink::new("orgs").field("org", "/login"),
            ))
            .batch_size(1),
        )
        .stream(
            StreamDef::new(
                "events",
                RequestTemplate::get("http://api.test/orgs/{org}/repos/{repo}/events"),
                paginator(),
            )
            .partitions(Partitions::Parent(events_link))
            .rule(ResponseRule::status(404, RuleAction::SkipPartition))
            .batch_size(1),
        )
        .build()
        .unwrap()
}

fn ids(sink: &MemorySink, stream: &str) -> Vec<String> {
    let mut ids: Vec<String> = sink
        .records(stream)
        .iter()
        .map(|r| {
            r.field("/id")
                .unwrap()
                .unwrap_or_else(|| r.field("/login").unwrap().unwrap())
        })
        .collect();
    ids.sort();
    ids
}

#[tokio::test(start_paused = true)]
async fn three_levels_with_a_404_child_skipped_not_fatal() {
    let api = std::sync::Arc::new(Api::new(Duration::from_millis(20), three_levels));
    let sink = MemorySink::new();
    let summary = three_level_connector(api.clone()).run(&sink).await.unwrap();
    assert_eq!(ids(&sink, "orgs").len(), 4);
    assert_eq!(ids(&sink, "repos").len(), 30 + 3 * 3);
    assert_eq!(ids(&sink, "events").len(), (39 - 1) * 3);
    assert_eq!(summary.partitions_skipped, 1);
    assert_eq!(summary.partitions_failed, 0);
    let skipped: Vec<_> = summary
        .partitions
        .iter()
        .filter(|p| {
            matches!(
                p.outcome,
                haul_extractor::PartitionOutcome::Skipped { status: 404 }
            )
        })
        .collect();
    assert_eq!(skipped[0].partition, "org=o3,repo=r1");
    assert_eq!(summary.streams["events"].partitions, 39);
    // Children start while their parent runs: the first event is fetched
    // before the last repos page of o0.
    let served = api.served();
    let first_event = served
        .iter()
        .position(|s| s.path.ends_with("/events"))
        .unwrap();
    let last_o0 = served
        .iter()
        .rposition(|s| s.path == "/orgs/o0/repos")
        .unwrap();
    assert!(
        first_event < last_o0,
        "children waited for the whole parent"
    );
    // A second, clean run starts new passes (nothing is resumed).
    let again = three_level_connector(api.clone()).run(&sink).await.unwrap();
    assert!(!again.resumed);
}

#[tokio::test(start_paused = true)]
async fn a_killed_run_resumes_without_losing_or_refetching_a_partition() {
    // The clean run, for reference.
    let clean_api = std::sync::Arc::new(Api::new(Duration::from_millis(20), three_levels));
    let clean_sink = MemorySink::new();
    three_level_connector(clean_api.clone())
        .run(&clean_sink)
        .await
        .unwrap();
    let clean_requests = clean_api.served().len();

    for kill_after in [3, 17, 40, 80] {
        let api = std::sync::Arc::new(Api::new(Duration::from_millis(20), three_levels));
        api.hang_after.store(kill_after, Ordering::SeqCst);
        let sink = MemorySink::new();
        // kill -9: the run is dropped mid-flight, nothing more is committed.
        let killed = tokio::time::timeout(
            Duration::from_secs(60),
            three_level_connector(api.clone()).run(&sink),
        )
        .await;
        assert!(
            killed.is_err(),
            "the run should hang at request {kill_after}"
        );
        let first_run = api.served().len();
        // Partitions finished before the kill.
        let mut finished: BTreeSet<(String, String)> = BTreeSet::new();
        for stream in ["repos", "events"] {
            for s in sink.partitions(stream).await.unwrap() {
                if s.checkpoint.is_done() {
                    finished.insert((stream.to_owned(), s.partition));
                }
            }
        }
        api.hang_after.store(usize::MAX, Ordering::SeqCst);
        let resumed = three_level_connector(api.clone()).run(&sink).await.unwrap();
        assert!(resumed.resumed);
        // Exactly once, with an append-only sink, across the kill.
        assert_eq!(
            ids(&sink, "orgs"),
            ids(&clean_sink, "orgs"),
            "kill after {kill_after}"
        );
        assert_eq!(
            ids(&sink, "repos"),
            ids(&clean_sink, "repos"),
            "kill after {kill_after}"
        );
        assert_eq!(
            ids(&sink, "events"),
            ids(&clean_sink, "events"),
            "kill after {kill_after}"
        );
        // No finished partition fetched again.
        let second: Vec<Served> = api.served()[first_run..].to_vec();
        for s in &second {
            let parts: Vec<&str> = s.path.trim_start_matches('/').split('/').collect();
            let key = match parts.as_slice() {
                ["orgs", org, "repos"] => Some(("repos", format!("org={org}"))),
                ["orgs", org, "repos", repo, "events"] => {
                    Some(("events", format!("org={org},repo={repo}")))
                }
                _ => None,
            };
            if let Some((stream, key)) = key {
                assert!(
                    !finished.contains(&(stream.to_owned(), key.clone())),
                    "{stream}[{key}] fetched again"
                );
            }
        }
        assert!(resumed.partitions_already_finished as usize >= finished.len());
        // The two runs together send at most the clean run's requests plus
        // the ones in flight at the kill (4).
        assert!(
            api.served().len() <= clean_requests + 4,
            "{} > {} + 4",
            api.served().len(),
            clean_requests
        );
    }
}

#[tokio::test(start_paused = true)]
async fn an_incremental_parent_fetches_children_only_for_changed_records() {
    let orgs: std::sync::Arc<Mutex<BTreeMap<String, i64>>> = std::sync::Arc::new(Mutex::new(
        (0..10).map(|o| (format!("o{o}"), 1_000 + o)).collect(),
    ));
    let data = orgs.clone();
    let api = std::sync::Arc::new(Api::new(Duration::from_millis(5), move |req| {
        let path = req.url.path().to_owned();
        if path == "/orgs" {
            // Strictly after `since` (the API's documented semantics).
            let since: i64 = req
                .query("since")
                .and_then(|s| s.parse().ok())
                .unwrap_or(i64::MIN);
            let recs: Vec<String> = data
                .lock()
                .unwrap()
                .iter()
                .filter(|(_, t)| **t > since)
                .map(|(o, t)| format!("{{\"id\":\"{o}\",\"login\":\"{o}\",\"updated_at\":{t}}}"))
                .collect();
            return (200, page(&recs, None));
        }
        let org = path.split('/').nth(2).unwrap_or_default().to_owned();
        (200, page(&[format!("{{\"id\":\"{org}/r\"}}")], None))
    }));
    let connector = Connector::builder("inc")
        .transport(std::sync::Arc::clone(&api))
        .stream(
            StreamDef::new(
                "orgs",
                RequestTemplate::get("http://api.test/orgs"),
                paginator(),
            )
            .incremental(
                Incremental::new("/updated_at", "since")
                    .lookback(Duration::ZERO)
                    .format(haul_extractor::TimeFormat::EpochSeconds),
            ),
        )
        .stream(
            StreamDef::new(
                "repos",
                RequestTemplate::get("http://api.test/orgs/{org}/repos"),
                paginator(),
            )
            .partitions(Partitions::Parent(
                ParentLink::new("orgs").field("org", "/login"),
            )),
        )
        .build()
        .unwrap();
    let sink = MemorySink::with_primary_key("/id");
    connector.run(&sink).await.unwrap();
    let children = |from: usize| -> BTreeSet<String> {
        api.paths()[from..]
            .iter()
            .filter(|p| p.ends_with("/repos"))
            .cloned()
            .collect()
    };
    assert_eq!(children(0).len(), 10);
    let before = api.served().len();
    for o in ["o2", "o5", "o7"] {
        orgs.lock().unwrap().insert(o.to_owned(), 5_000);
    }
    let second = connector.run(&sink).await.unwrap();
    assert!(!second.resumed);
    assert_eq!(
        children(before),
        BTreeSet::from([
            "/orgs/o2/repos".to_owned(),
            "/orgs/o5/repos".to_owned(),
            "/orgs/o7/repos".to_owned()
        ])
    );
    // A full refresh fetches every child again.
    let before = api.served().len();
    let full = Connector::builder("inc2")
        .transport(std::sync::Arc::clone(&api))
        .full_refresh(true)
        .stream(
            StreamDef::new(
                "orgs",
                RequestTemplate::get("http://api.test/orgs"),
                paginator(),
            )
            .incremental(Incremental::new("/updated_at", "since")),
        )
        .stream(
            StreamDef::new(
                "repos",
                RequestTemplate::get("http://api.test/orgs/{org}/repos"),
                paginator(),
            )
            .partitions(Partitions::Parent(
                ParentLink::new("orgs").field("org", "/login"),
            )),
        )
        .build()
        .unwrap();
    full.run(&sink).await.unwrap();
    assert_eq!(children(before).len(), 10);
}

#[tokio::test(start_paused = true)]
async fn failures_are_recorded_per_partition_and_listed_at_the_end() {
    let api = std::sync::Arc::new(Api::new(Duration::from_millis(5), |req| {
        if req.url.path() == "/p/bad" {
            (403, "{\"message\":\"forbidden\"}".into())
        } else {
            (200, pages_of(req.url.path(), 2, cursor(req)))
        }
    }));
    let build = |fail_fast: bool| {
        Connector::builder("f")
            .transport(std::sync::Arc::clone(&api))
            .max_in_flight(1)
            .max_active_partitions(1)
            .fail_fast(fail_fast)
            .stream(
                StreamDef::new(
                    "items",
                    RequestTemplate::get("http://api.test/p/{id}"),
                    paginator(),
                )
                .partitions(Partitions::list(
                    ["a", "bad", "c"].map(|id| Partition::new([("id", id)])),
                )),
            )
            .build()
            .unwrap()
    };
    let sink = MemorySink::new();
    let err = build(false).run(&sink).await.unwrap_err();
    let (failed, summary) = match err {
        ConnectorError::Failed { failed, summary } => (failed, summary),
        other => panic!("{other}"),
    };
    assert_eq!(failed.len(), 1);
    assert_eq!(
        (failed[0].stream.as_str(), failed[0].partition.as_str()),
        ("items", "id=bad")
    );
    assert!(
        matches!(failed[0].error, haul_extractor::ExtractError::Http { status, .. } if status == 403)
    );
    assert_eq!(summary.records, 4, "the other partitions went on");
    // Fail fast: the partition after the failing one never starts.
    let sink = MemorySink::new();
    let err = build(true).run(&sink).await.unwrap_err();
    let summary = match err {
        ConnectorError::Failed { summary, .. } => summary,
        other => panic!("{other}"),
    };
    assert_eq!(summary.records, 2);
    // A template naming an unknown value is a build error.
    let err = Connector::builder("t")
        .transport(std::sync::Arc::clone(&api))
        .stream(
            StreamDef::new(
                "x",
                RequestTemplate::get("http://api.test/repos/{owner}/{repo}"),
                paginator(),
            )
            .partitions(Partitions::list([Partition::new([("owner", "o")])])),
        )
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("{repo}"), "{err}");
}

/// What every `events` record must look like when `events` includes the
/// repository's `id` and `name`: those two fields first, then the record
/// as the API sent it.
fn assert_includes_its_repo(text: &str) {
    let event: serde_json::Value = serde_json::from_str(text).unwrap();
    let id = event["id"].as_str().unwrap();
    let (org, repo) = {
        let mut parts = id.split('/');
        (parts.next().unwrap(), parts.next().unwrap())
    };
    assert_eq!(event["_parent_repo_id"], format!("{org}/{repo}"), "{text}");
    assert_eq!(event["_parent_repo_name"], repo, "{text}");
    assert!(
        text.starts_with(r#"{"_parent_repo_id":""#) || text.starts_with(r#"{"_partition":"#),
        "{text}"
    );
}

fn including_link() -> ParentLink {
    ParentLink::new("repos")
        .field("repo", "/name")
        .include("repo_id", "/id")
        .include("repo_name", "/name")
}

#[tokio::test(start_paused = true)]
async fn child_records_carry_the_parent_fields_they_include() {
    let api = std::sync::Arc::new(Api::new(Duration::from_millis(20), three_levels));
    let sink = MemorySink::new();
    three_levels_linked(api, including_link())
        .run(&sink)
        .await
        .unwrap();
    let events = sink.tagged_records("events");
    assert_eq!(events.len(), 38 * 3);
    for (partition, record) in &events {
        assert_includes_its_repo(record.as_str());
        // The partition key stays the link's values alone.
        let id = record.field("/id").unwrap().unwrap();
        let mut parts = id.split('/');
        let (org, repo) = (parts.next().unwrap(), parts.next().unwrap());
        assert_eq!(partition, &format!("org={org},repo={repo}"));
    }
    // Parents are untouched.
    assert!(
        sink.records("repos")
            .iter()
            .all(|r| !r.as_str().contains("_parent_"))
    );
}

#[test]
fn included_names_are_checked_when_the_connector_is_built() {
    let build = |link: ParentLink| {
        Connector::builder("c")
            .transport(Api::new(Duration::ZERO, |_| (200, page(&[], None))))
            .stream(StreamDef::new(
                "p",
                RequestTemplate::get("http://api.test/p"),
                paginator(),
            ))
            .stream(
                StreamDef::new(
                    "c",
                    RequestTemplate::get("http://api.test/c/{x}"),
                    paginator(),
                )
                .partitions(Partitions::Parent(link)),
            )
            .build()
    };
    assert!(build(ParentLink::new("p").field("x", "/x").include("id", "/id")).is_ok());
    assert!(
        build(
            ParentLink::new("p")
                .field("x", "/x")
                .include("id", "/id")
                .include("id", "/y")
        )
        .is_err()
    );
    assert!(build(ParentLink::new("p").field("x", "/x").include("", "/id")).is_err());
    assert!(
        build(
            ParentLink::new("p")
                .field("x", "/x")
                .field("_parent_x", "/y")
        )
        .is_err()
    );
}

/// The records of a JSON Lines stream as (partition, record) pairs.
fn jsonl_records(dir: &std::path::Path, stream: &str) -> Vec<(String, serde_json::Value)> {
    std::fs::read_to_string(dir.join(format!("{stream}.jsonl")))
        .unwrap_or_default()
        .lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let key = v["_partition"].as_str().unwrap_or_default().to_owned();
            (key, v)
        })
        .collect()
}

/// JSON Lines end to end: three levels into one file per stream, every
/// record tagged with its partition and carrying its included parent
/// fields; a run killed at any of several points and resumed by a new
/// sink on the same directory (a new process) holds every record exactly
/// once and fetches no finished partition again.
#[tokio::test(start_paused = true)]
async fn a_killed_run_into_json_lines_resumes_exactly_once() {
    let clean_api = std::sync::Arc::new(Api::new(Duration::from_millis(20), three_levels));
    let clean = MemorySink::new();
    three_levels_linked(clean_api, including_link())
        .run(&clean)
        .await
        .unwrap();
    let expected = |stream: &str| -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = clean
            .tagged_records(stream)
            .into_iter()
            .map(|(p, r)| (p, r.as_str().to_owned()))
            .collect();
        v.sort();
        v
    };
    for kill_after in [5, 23, 61] {
        let dir = tempfile::tempdir().unwrap();
        let api = std::sync::Arc::new(Api::new(Duration::from_millis(20), three_levels));
        api.hang_after.store(kill_after, Ordering::SeqCst);
        {
            let sink = haul_sink::JsonLinesSink::new(dir.path()).fsync(false);
            let killed = tokio::time::timeout(
                Duration::from_secs(60),
                three_levels_linked(api.clone(), including_link()).run(&sink),
            )
            .await;
            assert!(
                killed.is_err(),
                "the run should hang at request {kill_after}"
            );
        }
        let first_run = api.served().len();
        let reopened = haul_sink::JsonLinesSink::new(dir.path()).fsync(false);
        let mut finished = BTreeSet::new();
        for stream in ["repos", "events"] {
            for s in reopened.partitions(stream).await.unwrap() {
                if s.checkpoint.is_done() {
                    finished.insert(format!("{stream}[{}]", s.partition));
                }
            }
        }
        api.hang_after.store(usize::MAX, Ordering::SeqCst);
        let resumed = three_levels_linked(api.clone(), including_link())
            .run(&reopened)
            .await
            .unwrap();
        assert!(resumed.resumed);
        for stream in ["orgs", "repos", "events"] {
            let mut got: Vec<(String, String)> = jsonl_records(dir.path(), stream)
                .into_iter()
                .map(|(p, mut v)| {
                    v.as_object_mut().unwrap().remove("_partition");
                    (p, v.to_string())
                })
                .collect();
            got.sort();
            let want: Vec<(String, String)> = expected(stream)
                .into_iter()
                .map(|(p, text)| {
                    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
                    (p, v.to_string())
                })
                .collect();
            let mut want = want;
            want.sort();
            assert_eq!(got, want, "{stream}, kill after {kill_after}");
        }
        for line in std::fs::read_to_string(dir.path().join("events.jsonl"))
            .unwrap()
            .lines()
        {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let key = v["_partition"].as_str().unwrap();
            let rest = line
                .strip_prefix(&format!("{{\"_partition\":\"{key}\","))
                .unwrap_or_else(|| panic!("the partition key comes first: {line}"));
            assert_includes_its_repo(&format!("{{{rest}"));
        }
        for s in &api.served()[first_run..] {
            let parts: Vec<&str> = s.path.trim_start_matches('/').split('/').collect();
            let key = match parts.as_slice() {
                ["orgs", org, "repos"] => format!("repos[org={org}]"),
                ["orgs", org, "repos", repo, "events"] => format!("events[org={org},repo={repo}]"),
                _ => continue,
            };
            assert!(!finished.contains(&key), "{key} fetched again");
        }
    }
}

/// Which sink a property case runs into.
#[derive(Debug, Clone, Copy)]
enum Dest {
    Memory,
    Jsonl,
    Sqlite,
}

/// Runs a connector of `sizes.len()` listed partitions (partition `i`
/// serving `sizes[i]` records, `page` per page) into `dest`, killed after
/// `kill_after` requests when set and then resumed by a fresh sink on the
/// same storage, and returns the stored (partition, id) pairs.
async fn partitions_case(
    dest: Dest,
    sizes: &[usize],
    page_size: usize,
    in_flight: usize,
    batch: usize,
    kill_after: Option<usize>,
) -> Vec<(String, String)> {
    let sizes_by_id: HashMap<String, usize> = sizes
        .iter()
        .enumerate()
        .map(|(i, &n)| (format!("p{i}"), n))
        .collect();
    let api = std::sync::Arc::new(Api::new(Duration::from_millis(5), move |req| {
        let id = req.url.path().trim_start_matches("/p/").to_owned();
        let n = sizes_by_id[&id];
        let at = cursor(req);
        let end = ((at + 1) * page_size).min(n);
        let recs: Vec<String> = (at * page_size..end)
            .map(|i| format!("{{\"id\":\"{id}-{i}\",\"n\":{i}}}"))
            .collect();
        (200, page(&recs, (end < n).then_some(at + 1)))
    }));
    let connector = || {
        Connector::builder("prop")
            .transport(std::sync::Arc::clone(&api))
            .max_in_flight(in_flight)
            .stream(
                StreamDef::new(
                    "items",
                    RequestTemplate::get("http://api.test/p/{id}"),
                    paginator(),
                )
                .partitions(Partitions::list(
                    (0..sizes.len()).map(|i| Partition::new([("id", format!("p{i}"))])),
                ))
                .batch_size(batch),
            )
            .build()
            .unwrap()
    };
    let dir = tempfile::tempdir().unwrap();
    let memory = MemorySink::new();
    let sqlite_path = dir.path().join("haul.db");
    let open = || -> Box<dyn Sink> {
        match dest {
            Dest::Memory => Box::new(&memory),
            Dest::Jsonl => Box::new(haul_sink::JsonLinesSink::new(dir.path()).fsync(false)),
            Dest::Sqlite => Box::new(
                haul_sink::SqliteSink::open(&sqlite_path)
                    .unwrap()
                    .stream(haul_sink::StreamConfig::new("items").append_only()),
            ),
        }
    };
    let mut finished = false;
    if let Some(k) = kill_after {
        api.hang_after.store(k, Ordering::SeqCst);
        let sink = open();
        let killed = tokio::time::timeout(Duration::from_secs(600), connector().run(&*sink)).await;
        api.hang_after.store(usize::MAX, Ordering::SeqCst);
        // Done before the kill point: a rerun would be a new pass.
        finished = killed.is_ok_and(|r| r.is_ok());
    }
    if !finished {
        let sink = open();
        connector().run(&*sink).await.unwrap();
    }
    let mut stored: Vec<(String, String)> = match dest {
        Dest::Memory => memory
            .tagged_records("items")
            .into_iter()
            .map(|(p, r)| (p, r.field("/id").unwrap().unwrap()))
            .collect(),
        Dest::Jsonl => jsonl_records(dir.path(), "items")
            .into_iter()
            .map(|(p, v)| (p, v["id"].as_str().unwrap().to_owned()))
            .collect(),
        Dest::Sqlite => haul_sink::SqliteSink::open(&sqlite_path)
            .unwrap()
            .tagged_records("items")
            .await
            .unwrap()
            .into_iter()
            .map(|(p, text)| {
                let v: serde_json::Value = serde_json::from_str(&text).unwrap();
                (p, v["id"].as_str().unwrap().to_owned())
            })
            .collect(),
    };
    stored.sort();
    stored
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 32, ..Default::default() })]

    /// For random partition sets and sizes, budgets and batch sizes, with
    /// or without a kill and a resume: every record of every partition is
    /// stored exactly once, tagged with its partition, in MemorySink, JSON
    /// Lines and append-only SQLite alike.
    #[test]
    fn every_record_of_every_partition_arrives_once_tagged(
        sizes in proptest::collection::vec(0usize..25, 1..10),
        page_size in 1usize..6,
        in_flight in 1usize..5,
        batch in 1usize..8,
        kill_after in proptest::option::of(0usize..30),
    ) {
        let mut expected: Vec<(String, String)> = sizes
            .iter()
            .enumerate()
            .flat_map(|(i, &n)| (0..n).map(move |r| (format!("id=p{i}"), format!("p{i}-{r}"))))
            .collect();
        expected.sort();
        for dest in [Dest::Memory, Dest::Jsonl, Dest::Sqlite] {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .start_paused(true)
                .build()
                .unwrap();
            let got = rt.block_on(partitions_case(dest, &sizes, page_size, in_flight, batch, kill_after));
            proptest::prop_assert_eq!(&got, &expected, "{:?}", dest);
        }
    }
}

/// Offset pages with a total: `/p/{id}?offset=…&limit=10` over 200 records.
fn offset_pages(req: &Request) -> (u16, String) {
    let id = req.url.path().trim_start_matches("/p/").to_owned();
    let offset: usize = req.query("offset").unwrap().parse().unwrap();
    let recs: Vec<String> = (offset..(offset + 10).min(200))
        .map(|i| format!("{{\"id\":\"{id}-{i:03}\"}}"))
        .collect();
    (
        200,
        format!("{{\"items\":[{}],\"total\":200}}", recs.join(",")),
    )
}

fn offset_connector(api: std::sync::Arc<Api>, concurrency: Option<usize>) -> Connector {
    let mut stream = StreamDef::new(
        "items",
        RequestTemplate::get("http://api.test/p/{id}"),
        haul_paginate::OffsetPaginator::new("offset")
            .limit("limit", 10)
            .total_at("/total")
            .records_at("/items"),
    )
    .partitions(Partitions::list(
        ["a", "b"].map(|id| Partition::new([("id", id)])),
    ))
    .batch_size(30);
    if let Some(k) = concurrency {
        stream = stream.concurrency(k);
    }
    Connector::builder("offsets")
        .transport(api)
        .max_in_flight(5)
        .stream(stream)
        .build()
        .unwrap()
}

/// A paginator that knows the total lets one partition have several pages
/// in flight, each taking a slot of the connector's budget: two partitions
/// allowed 8 each never exceed the global 5, and do reach it; pages still
/// commit in order, every record once. Without `concurrency`, each
/// partition fetches one page at a time.
#[tokio::test(start_paused = true)]
async fn partitions_fetch_known_pages_concurrently_within_the_global_budget() {
    let api = std::sync::Arc::new(Api::new(Duration::from_millis(20), offset_pages));
    let sink = MemorySink::new();
    let summary = offset_connector(api.clone(), Some(8))
        .run(&sink)
        .await
        .unwrap();
    assert_eq!(api.max_in_flight.load(Ordering::SeqCst), 5);
    assert_eq!(summary.records, 400);
    assert_eq!(api.served().len(), 2 * 20);
    for id in ["a", "b"] {
        let got: Vec<String> = sink
            .tagged_records("items")
            .into_iter()
            .filter(|(p, _)| *p == format!("id={id}"))
            .map(|(_, r)| r.field("/id").unwrap().unwrap())
            .collect();
        let want: Vec<String> = (0..200).map(|i| format!("{id}-{i:03}")).collect();
        assert_eq!(got, want, "partition {id} in order, each record once");
        let cp = sink
            .partition_checkpoint("items", &format!("id={id}"))
            .unwrap();
        assert!(cp.is_done());
        assert_eq!((cp.pages, cp.records), (20, 200));
    }

    let sequential = std::sync::Arc::new(Api::new(Duration::from_millis(20), offset_pages));
    offset_connector(sequential.clone(), None)
        .run(&MemorySink::new())
        .await
        .unwrap();
    assert_eq!(sequential.max_in_flight.load(Ordering::SeqCst), 2);
}

/// Graceful stop (Ctrl-C): `run_until` lets the pages in flight finish,
/// sends nothing more (requests waiting for a slot included), commits
/// everything fetched, and says how many partitions can resume; the next
/// run resumes them and fetches no page twice.
#[tokio::test(start_paused = true)]
async fn a_stopped_run_commits_what_it_fetched_and_the_next_run_resumes_it() {
    let route = |req: &Request| {
        let id = req.url.path().trim_start_matches("/p/").to_owned();
        (200, pages_of(&id, 10, cursor(req)))
    };
    let connector = |api: std::sync::Arc<Api>| {
        Connector::builder("stoppable")
            .transport(api)
            .max_in_flight(3)
            .stream(
                StreamDef::new(
                    "items",
                    RequestTemplate::get("http://api.test/p/{id}"),
                    paginator(),
                )
                .partitions(Partitions::list(
                    (0..8).map(|i| Partition::new([("id", format!("p{i}"))])),
                ))
                // Larger than a partition: only the stop commits anything.
                .batch_size(100),
            )
            .build()
            .unwrap()
    };
    let clean = std::sync::Arc::new(Api::new(Duration::from_millis(20), route));
    connector(clean.clone())
        .run(&MemorySink::new())
        .await
        .unwrap();
    let clean_requests = clean.served().len();
    assert_eq!(clean_requests, 80);

    let api = std::sync::Arc::new(Api::new(Duration::from_millis(20), route));
    let sink = MemorySink::new();
    let started = tokio::time::Instant::now();
    let stop_after = Duration::from_millis(110);
    let err = connector(api.clone())
        .run_until(&sink, tokio::time::sleep(stop_after))
        .await
        .unwrap_err();
    let ConnectorError::Interrupted { resumable, summary } = err else {
        panic!("expected Interrupted, got {err}");
    };
    let served = api.served();
    // Requests start on 20 ms boundaries: those in flight at 110 ms end
    // at 120 ms; one sent after the stop would end at 140 ms or later.
    assert!(
        served
            .iter()
            .all(|s| s.at <= started + stop_after + Duration::from_millis(20)),
        "a request was sent after the stop"
    );
    // Everything fetched is committed, each partition at its own page.
    assert_eq!(sink.records("items").len(), served.len());
    assert_eq!(summary.records as usize, served.len());
    let stopped: Vec<_> = summary
        .partitions
        .iter()
        .filter(|p| p.outcome == haul_extractor::PartitionOutcome::Interrupted)
        .collect();
    assert!(!stopped.is_empty());
    // Interrupted partitions plus those never started.
    assert_eq!(resumable, 8);
    for p in &stopped {
        let cp = sink.partition_checkpoint("items", &p.partition).unwrap();
        assert!(!cp.is_done());
        assert_eq!(cp.records, p.run.records);
    }

    let resumed = connector(api.clone()).run(&sink).await.unwrap();
    assert!(resumed.resumed);
    assert_eq!(api.served().len(), clean_requests, "no page fetched twice");
    let mut ids = ids(&sink, "items");
    let len = ids.len();
    ids.dedup();
    assert_eq!((ids.len(), len), (80, 80));
}
