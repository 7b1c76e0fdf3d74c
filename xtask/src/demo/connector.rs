//! `cargo xtask demo --connector`: a three-level connector (organisations →
//! repositories → events) plus a windowed backfill of an audit log, against
//! the testkit's parent/child API, into SQLite, verified table by table.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use haul::extractor::Step;
use haul::{
    Connector, ConnectorBuilder, ConnectorError, ConnectorSummary, ExponentialBackoff,
    LinkHeaderPaginator, Observer, ParentLink, Partition, Partitions, RequestTemplate, Sink,
    SqliteSink, StreamConfig, StreamDef, TimeFormat, TimeWindows,
};
use haul_testkit::{FakeApi, Faults, OrgTree, RunningServer, TreeShape};
use serde::Serialize;

use super::progress::StreamsProgress;
use super::{Options, shutdown_signal};

/// The connector's name: it keys the run marker that makes a rerun resume.
pub(crate) const NAME: &str = "demo";
/// The streams, parents first.
pub(crate) const STREAMS: [&str; 4] = ["orgs", "repos", "events", "audit"];

/// The connector against `base` (the server's root URL, ending in `/`):
/// orgs → repos (per org) → events (per repo), and the audit log in monthly
/// windows over 2026. The deleted repository's events answer 404 and, with
/// no response rule for it, fail that one partition.
pub(crate) fn connector(
    base: &str,
    page_size: u64,
    max_in_flight: usize,
    faults: bool,
    observer: Arc<StreamsProgress>,
) -> Result<Connector, String> {
    builder(base, page_size, max_in_flight, faults, observer)?
        .build()
        .map_err(|e| e.to_string())
}

/// The connector of [`connector`], not built yet (the workers demo adds
/// its shared budget).
pub(crate) fn builder(
    base: &str,
    page_size: u64,
    max_in_flight: usize,
    faults: bool,
    observer: Arc<dyn Observer>,
) -> Result<ConnectorBuilder, String> {
    let paginator = || LinkHeaderPaginator::new().page_size("per_page", page_size);
    let windows = TimeWindows::new(
        "2026-01-01T00:00:00Z",
        Step::Months(1),
        TimeFormat::EpochSeconds,
    )
    .and_then(|w| w.end("2027-01-01T00:00:00Z"))
    .map_err(|e| e.to_string())?;
    let mut builder = Connector::builder(NAME)
        .max_in_flight(max_in_flight)
        .observer(observer)
        .stream(
            StreamDef::new(
                "orgs",
                RequestTemplate::get(format!("{base}orgs")),
                paginator(),
            )
            .batch_size(1),
        )
        .stream(
            StreamDef::new(
                "repos",
                RequestTemplate::get(format!("{base}orgs/{{org}}/repos")),
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
                RequestTemplate::get(format!("{base}orgs/{{org}}/repos/{{repo}}/events")),
                paginator(),
            )
            .partitions(Partitions::Parent(
                ParentLink::new("repos").field("repo", "/name"),
            ))
            .batch_size(1),
        )
        .stream(
            StreamDef::new(
                "audit",
                RequestTemplate::get(format!("{base}audit-log"))
                    .query("since", "{start}")
                    .query("until", "{end}"),
                paginator(),
            )
            .partitions(Partitions::Windows(windows))
            .batch_size(1),
        );
    if faults {
        builder = builder.retry(
            ExponentialBackoff::default()
                .base(Duration::from_millis(50))
                .max_attempts(8),
        );
    }
    Ok(builder)
}

/// `(partition key, record JSON)` pairs of one stream.
type Tagged = Vec<(String, String)>;

/// Every stream's expected records, each with the key of the partition
/// that must deliver it, derived from the tree (not from the run).
pub(crate) fn expected(tree: &OrgTree) -> Result<BTreeMap<&'static str, Tagged>, String> {
    let single = Partition::single().key().to_owned();
    let mut out: BTreeMap<&'static str, Tagged> = BTreeMap::new();
    for org in tree.orgs() {
        out.entry("orgs")
            .or_default()
            .push((single.clone(), org.record().to_owned()));
        let org_key = Partition::new([("org", org.login())]).key().to_owned();
        for repo in org.repos() {
            out.entry("repos")
                .or_default()
                .push((org_key.clone(), repo.record().to_owned()));
            let repo_key = Partition::new([("org", org.login()), ("repo", repo.name())])
                .key()
                .to_owned();
            for event in repo.events() {
                out.entry("events")
                    .or_default()
                    .push((repo_key.clone(), event.clone()));
            }
        }
    }
    for window in audit_windows()? {
        let bound = |name| {
            window
                .get(name)
                .and_then(|v| v.parse::<u64>().ok())
                .ok_or_else(|| format!("window {} has no {name}", window.key()))
        };
        for record in tree.audit_between(bound("start")?, bound("end")?) {
            out.entry("audit")
                .or_default()
                .push((window.key().to_owned(), record.clone()));
        }
    }
    for stream in STREAMS {
        out.entry(stream).or_default();
    }
    Ok(out)
}

pub(crate) fn audit_windows() -> Result<Vec<Partition>, String> {
    Ok(TimeWindows::new(
        "2026-01-01T00:00:00Z",
        Step::Months(1),
        TimeFormat::EpochSeconds,
    )
    .and_then(|w| w.end("2027-01-01T00:00:00Z"))
    .map_err(|e| e.to_string())?
    .windows(0))
}

/// The partitions the tree defines per stream.
pub(crate) fn expected_partitions(tree: &OrgTree) -> BTreeMap<&'static str, u64> {
    let repos: usize = tree.orgs().iter().map(|o| o.repos().len()).sum();
    BTreeMap::from([
        ("orgs", 1),
        ("repos", tree.orgs().len() as u64),
        ("events", repos as u64),
        ("audit", 12),
    ])
}

/// The partitions that must fail: the deleted repository's events.
pub(crate) fn expected_failures(tree: &OrgTree) -> Vec<(String, String)> {
    tree.orgs()
        .iter()
        .flat_map(|org| {
            org.repos().iter().filter(|r| r.is_deleted()).map(|repo| {
                (
                    "events".to_owned(),
                    Partition::new([("org", org.login()), ("repo", repo.name())])
                        .key()
                        .to_owned(),
                )
            })
        })
        .collect()
}

/// Compares a stream's stored `(partition, record)` pairs with the
/// expected ones: every record exactly once, byte for byte, tagged with
/// its partition. Returns the problems found.
pub(crate) fn verify_tagged(
    stream: &str,
    stored: &[(String, String)],
    expected: &[(String, String)],
) -> Vec<String> {
    let mut problems = Vec::new();
    let id_of = |text: &str| haul::core::json::scalar_at(text, "/id").ok().flatten();
    let mut want: HashMap<String, (&str, &str)> = HashMap::with_capacity(expected.len());
    for (partition, record) in expected {
        match id_of(record) {
            Some(id) => {
                want.insert(id, (partition, record));
            }
            None => problems.push(format!("{stream}: an expected record has no id")),
        }
    }
    let mut seen: HashMap<String, u32> = HashMap::with_capacity(stored.len());
    for (partition, record) in stored {
        let Some(id) = id_of(record) else {
            problems.push(format!("{stream}: a stored record has no id"));
            continue;
        };
        match want.get(&id) {
            Some((p, r)) if *r != record.as_str() => {
                problems.push(format!(
                    "{stream}: record {id} differs from the API's (partition {p})"
                ));
            }
            Some((p, _)) if *p != partition.as_str() => problems.push(format!(
                "{stream}: record {id} is tagged {partition:?}, expected {p:?}"
            )),
            Some(_) => {}
            None => problems.push(format!("{stream}: record {id} is not in the API's data")),
        }
        *seen.entry(id).or_default() += 1;
    }
    for (id, n) in &seen {
        if *n > 1 {
            problems.push(format!("{stream}: record {id} is stored {n} times"));
        }
    }
    let missing = want.keys().filter(|id| !seen.contains_key(*id)).count();
    if missing > 0 {
        problems.push(format!("{stream}: {missing} records are missing"));
    }
    problems.sort();
    problems
}

#[derive(Debug, Serialize)]
struct StreamReport {
    /// Partitions run this time.
    partitions: u64,
    partitions_expected: u64,
    finished: u64,
    failed: u64,
    /// Partitions not run because an earlier, interrupted run finished them.
    already_finished: u64,
    records: u64,
    pages: u64,
    requests: u64,
    stored_records: usize,
    expected_records: usize,
    verified: bool,
}

#[derive(Debug, Serialize)]
struct FailureReport {
    stream: String,
    partition: String,
    error: String,
    expected: bool,
}

#[derive(Debug, Serialize)]
struct Report {
    verified: bool,
    connector: &'static str,
    resumed: bool,
    streams: BTreeMap<String, StreamReport>,
    /// Partitions run this time (all streams).
    partitions: u64,
    partitions_expected: u64,
    partitions_finished: u64,
    /// Partitions that failed, each with its error (the deleted
    /// repository's 404 is expected and does not fail verification).
    partitions_failed: Vec<FailureReport>,
    /// Partitions not fetched because an earlier, interrupted run finished them.
    partitions_skipped: u64,
    /// Partitions a response rule skipped (none: the demo has no such rule).
    partitions_skipped_by_rule: u64,
    records: u64,
    pages: u64,
    /// Requests the connector sent this time (retries included).
    requests: u64,
    /// Requests the fake API received this time.
    server_requests: u64,
    server_faults_injected: u64,
    elapsed_ms: u64,
    max_in_flight: usize,
    page_size: u64,
    seed: u64,
    output: String,
    problems: Vec<String>,
}

/// Runs the connector demo.
pub(crate) async fn demo(options: &Options) -> Result<ExitCode, String> {
    let tree = OrgTree::generate(options.seed, &TreeShape::default());
    let expected = expected(&tree)?;
    let partitions = expected_partitions(&tree);
    let page_size = options.connector_page_size();
    let max_in_flight = options.connector_in_flight();
    eprintln!(
        "haul demo --connector: {} orgs, {} repos, {} events, {} audit entries (seed {}); {page_size} per page, {max_in_flight} requests in flight",
        tree.orgs().len(),
        expected["repos"].len(),
        expected["events"].len(),
        tree.audit_log().len(),
        options.seed,
    );
    std::fs::create_dir_all(&options.out)
        .map_err(|e| format!("cannot create {}: {e}", options.out.display()))?;
    let db = options.out.join("haul.db");
    let resuming = interrupted(&db).await?;
    if resuming {
        eprintln!(
            "an interrupted connector run left state in {}: resuming",
            db.display()
        );
    } else {
        for file in ["haul.db", "haul.db-wal", "haul.db-shm"] {
            let path = options.out.join(file);
            if path.exists() {
                std::fs::remove_file(&path)
                    .map_err(|e| format!("cannot remove {}: {e}", path.display()))?;
            }
        }
    }
    let sink = open_sink(&db)?;
    // A resumed partition's checkpoint holds absolute next-page URLs: serve
    // the same (deterministic) data on the same port.
    let port_file = options.out.join("server.port");
    let port = match resuming {
        true => std::fs::read_to_string(&port_file)
            .ok()
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or(0),
        false => 0,
    };
    let server = start_server(&tree, options.faults, options.seed, port).await?;
    std::fs::write(&port_file, server.addr().port().to_string())
        .map_err(|e| format!("cannot write {}: {e}", port_file.display()))?;
    eprintln!("fake API listening on {}", server.url("/"));

    let bars: Vec<(&str, u64, u64)> = STREAMS
        .iter()
        .map(|s| (*s, expected[s].len() as u64, partitions[s]))
        .collect();
    let progress = StreamsProgress::new(&bars, options.kill_after_pages);
    let connector = connector(
        server.url("/").as_str(),
        page_size,
        max_in_flight,
        options.faults,
        Arc::clone(&progress),
    )?;
    let result = connector.run_until(&sink, shutdown_signal()).await;
    progress.finish();
    let (summary, failed) = match result {
        Ok(summary) => (summary, Vec::new()),
        Err(ConnectorError::Failed { failed, summary }) => {
            let failed = failed
                .into_iter()
                .map(|f| (f.stream, f.partition, f.error.to_string()))
                .collect();
            (*summary, failed)
        }
        Err(ConnectorError::Interrupted { resumable, summary }) => {
            println!("{summary}");
            println!(
                "interrupted: {resumable} partitions can resume from {}; run the same command again",
                db.display()
            );
            return Ok(ExitCode::from(130));
        }
        Err(e) => return Err(format!("connector run failed: {e}")),
    };
    println!("{summary}");
    print_streams(&summary);
    let must_fail = expected_failures(&tree);
    let mut problems = Vec::new();
    let mut failures = Vec::new();
    for (stream, partition, error) in failed {
        let is_expected = must_fail
            .iter()
            .any(|(s, p)| *s == stream && *p == partition);
        println!(
            "partition {stream}[{partition}] failed{}: {error}",
            if is_expected {
                " (expected: the repository was deleted after it was listed)"
            } else {
                ""
            }
        );
        if !is_expected {
            problems.push(format!(
                "{stream}[{partition}] failed unexpectedly: {error}"
            ));
        }
        failures.push(FailureReport {
            stream,
            partition,
            error,
            expected: is_expected,
        });
    }

    let mut streams = BTreeMap::new();
    for stream in STREAMS {
        let stored = sink
            .tagged_records(stream)
            .await
            .map_err(|e| format!("cannot read table {stream}: {e}"))?;
        let found = verify_tagged(stream, &stored, &expected[stream]);
        let totals = summary.streams.get(stream).cloned().unwrap_or_default();
        streams.insert(
            stream.to_owned(),
            StreamReport {
                partitions: totals.partitions,
                partitions_expected: partitions[stream],
                finished: totals.finished,
                failed: totals.failed,
                already_finished: totals.already_finished,
                records: totals.records,
                pages: totals.pages,
                requests: totals.requests,
                stored_records: stored.len(),
                expected_records: expected[stream].len(),
                verified: found.is_empty(),
            },
        );
        problems.extend(found);
    }
    let verified = problems.is_empty();
    if verified {
        println!(
            "verified: {} holds every record of every stream exactly once, byte for byte, tagged with its partition ({})",
            db.display(),
            STREAMS
                .iter()
                .map(|s| format!("{s}: {}", expected[s].len()))
                .collect::<Vec<_>>()
                .join(", ")
        );
    } else {
        println!("VERIFICATION FAILED ({} problems):", problems.len());
        for p in problems.iter().take(20) {
            println!("  {p}");
        }
    }
    if let Some(path) = &options.report {
        let stats = server.stats();
        let report = Report {
            verified,
            connector: NAME,
            resumed: summary.resumed,
            streams,
            partitions: summary.partitions.len() as u64,
            partitions_expected: partitions.values().sum(),
            partitions_finished: summary.streams.values().map(|s| s.finished).sum(),
            partitions_failed: failures,
            partitions_skipped: summary.partitions_already_finished,
            partitions_skipped_by_rule: summary.partitions_skipped,
            records: summary.records,
            pages: summary.pages,
            requests: summary.requests,
            server_requests: stats.requests,
            server_faults_injected: stats.faults_injected(),
            elapsed_ms: u64::try_from(summary.elapsed.as_millis()).unwrap_or(u64::MAX),
            max_in_flight,
            page_size,
            seed: options.seed,
            output: db.display().to_string(),
            problems: problems.into_iter().take(100).collect(),
        };
        let json = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
        std::fs::write(path, json + "\n")
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        println!("report written to {}", path.display());
    }
    server.shutdown().await;
    Ok(if verified {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Whether `db` holds an unfinished run of this connector.
async fn interrupted(db: &Path) -> Result<bool, String> {
    if !db.exists() {
        return Ok(false);
    }
    let sink = open_sink(db)?;
    let markers = sink
        .partitions("_haul_connector")
        .await
        .map_err(|e| format!("cannot read {}: {e}", db.display()))?;
    let unfinished = markers
        .iter()
        .any(|m| m.partition == NAME && !m.checkpoint.is_done());
    let _ = sink.close().await;
    Ok(unfinished)
}

pub(crate) fn open_sink(db: &Path) -> Result<SqliteSink, String> {
    let mut sink =
        SqliteSink::open(db).map_err(|e| format!("cannot open {}: {e}", db.display()))?;
    for stream in STREAMS {
        sink = sink.stream(StreamConfig::new(stream).primary_key(["/id"]));
    }
    Ok(sink)
}

async fn start_server(
    tree: &OrgTree,
    faults: bool,
    seed: u64,
    port: u16,
) -> Result<RunningServer, String> {
    let mut builder = FakeApi::builder()
        .port(port)
        .org_tree(tree.clone())
        .default_page_size(30)
        .max_page_size(1000);
    if faults {
        builder = builder.faults(Faults::realistic(seed));
    }
    builder
        .build()
        .start()
        .await
        .map_err(|e| format!("cannot start the fake API (port {port}): {e}"))
}

fn print_streams(summary: &ConnectorSummary) {
    for (name, s) in &summary.streams {
        println!(
            "  {name:>6}: {} partitions ({} finished, {} failed, {} already finished), {} records in {} pages, {} requests",
            s.partitions, s.finished, s.failed, s.already_finished, s.records, s.pages, s.requests
        );
    }
}
