//! Kill and resume of a whole connector, end to end: the connector demo's
//! connector (`haul-connector-child`: orgs → repos → events, plus monthly
//! audit-log windows) runs as a child process against the testkit's
//! parent/child API, is killed with `SIGKILL` after N pages, and runs
//! again. The server counts the requests of each partition:
//!
//! - no partition finished by the killed run is fetched by the rerun;
//! - the two runs together send at most the clean run's requests plus the
//!   pages that were in flight or fetched but uncommitted at the kill (at
//!   most one per active partition) plus one more attempt of the deleted
//!   repository's failed partition;
//! - the destination then holds every record once, tagged with its
//!   partition.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use haul::extractor::Step;
use haul::{Partition, Sink, SqliteSink, StreamConfig, TimeFormat, TimeWindows};
use haul_testkit::{FakeApi, OrgTree, RunningServer, SeenRequest, TreeShape};

const CHILD: &str = env!("CARGO_BIN_EXE_haul-connector-child");
const STREAMS: [&str; 4] = ["orgs", "repos", "events", "audit"];
/// Requests in flight in the child; it starts at most twice as many
/// partitions at once, each with at most one uncommitted page.
const IN_FLIGHT: usize = 4;
const MAX_ACTIVE: u64 = 2 * IN_FLIGHT as u64;

fn tree() -> OrgTree {
    OrgTree::generate(9, &TreeShape::new([1, 2, 7, 60], 200).audit_entries(600))
}

async fn serve(tree: &OrgTree) -> RunningServer {
    FakeApi::builder()
        .org_tree(tree.clone())
        .record_requests(true)
        .build()
        .start()
        .await
        .unwrap()
}

struct ChildRun(Child);

impl Drop for ChildRun {
    fn drop(&mut self) {
        // Never leave a child behind when an assertion fails.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(url: &str, db: &Path) -> (ChildRun, impl Iterator<Item = String>) {
    let mut child = Command::new(CHILD)
        .arg(url)
        .arg(db)
        .args(["--in-flight", &IN_FLIGHT.to_string(), "--page-size", "20"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let lines = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map_while(Result::ok);
    (ChildRun(child), lines)
}

/// Runs the child to its end; returns its last line (`done …`).
fn run_to_end(url: &str, db: &Path) -> String {
    let (mut run, lines) = spawn(url, db);
    let last = lines.last().expect("the child printed nothing");
    let status = run.0.wait().unwrap();
    assert!(status.success(), "the child failed: {status}");
    assert!(last.starts_with("done "), "{last:?}");
    last
}

/// Runs the child and `SIGKILL`s it once it reports page `k`.
fn kill_at(url: &str, db: &Path, k: u64) {
    let (mut run, mut lines) = spawn(url, db);
    let target = format!("page {k}");
    assert!(
        lines.any(|line| line == target),
        "the child ended before page {k}"
    );
    // `Child::kill` is SIGKILL on Unix: no destructor, no flush.
    run.0.kill().unwrap();
    let status = run.0.wait().unwrap();
    assert!(!status.success(), "the child was not killed: {status}");
}

fn field(done: &str, name: &str) -> u64 {
    done.split(' ')
        .find_map(|part| part.strip_prefix(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} in {done:?}"))
        .parse()
        .unwrap()
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

fn decode(segment: &str) -> String {
    url::form_urlencoded::parse(format!("x={segment}").as_bytes())
        .next()
        .unwrap()
        .1
        .into_owned()
}

/// The monthly audit windows, as the child makes them.
fn windows() -> Vec<Partition> {
    TimeWindows::new(
        "2026-01-01T00:00:00Z",
        Step::Months(1),
        TimeFormat::EpochSeconds,
    )
    .unwrap()
    .end("2027-01-01T00:00:00Z")
    .unwrap()
    .windows(0)
}

/// The (stream, partition) a request belongs to.
fn partition_of(request: &SeenRequest) -> (String, String) {
    let segments: Vec<String> = request.path.split('/').skip(1).map(decode).collect();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    match segments.as_slice() {
        ["orgs"] => ("orgs".into(), Partition::single().key().into()),
        ["orgs", org, "repos"] => ("repos".into(), Partition::new([("org", *org)]).key().into()),
        ["orgs", org, "repos", repo, "events"] => (
            "events".into(),
            Partition::new([("org", *org), ("repo", *repo)])
                .key()
                .into(),
        ),
        ["audit-log"] => {
            let query = request.query.as_deref().unwrap_or_default();
            let since = url::form_urlencoded::parse(query.as_bytes())
                .find(|(k, _)| k == "since")
                .map(|(_, v)| v.into_owned());
            let window = windows()
                .into_iter()
                .find(|w| w.get("start") == since.as_deref())
                .unwrap_or_else(|| panic!("no window starts at {since:?}"));
            ("audit".into(), window.key().into())
        }
        _ => panic!("unexpected request {}", request.path),
    }
}

fn per_partition(requests: &[SeenRequest]) -> BTreeMap<(String, String), u64> {
    let mut counts = BTreeMap::new();
    for request in requests {
        *counts.entry(partition_of(request)).or_default() += 1;
    }
    counts
}

fn open(db: &Path) -> SqliteSink {
    let mut sink = SqliteSink::open(db).unwrap();
    for stream in STREAMS {
        sink = sink.stream(StreamConfig::new(stream).primary_key(["/id"]));
    }
    sink
}

/// The partitions whose checkpoint says they are finished.
async fn finished(db: &Path) -> BTreeSet<(String, String)> {
    let sink = open(db);
    let mut done = BTreeSet::new();
    for stream in STREAMS {
        if stream == "orgs" {
            if sink
                .checkpoint(stream)
                .await
                .unwrap()
                .is_some_and(|cp| cp.is_done())
            {
                done.insert((stream.to_owned(), String::new()));
            }
            continue;
        }
        for state in sink.partitions(stream).await.unwrap() {
            if state.checkpoint.is_done() {
                done.insert((stream.to_owned(), state.partition));
            }
        }
    }
    sink.close().await.unwrap();
    done
}

/// Every stream's `(partition, record)` pairs the tree defines, sorted.
fn expected(tree: &OrgTree) -> BTreeMap<&'static str, Vec<(String, String)>> {
    let mut out: BTreeMap<&'static str, Vec<(String, String)>> = BTreeMap::new();
    for org in tree.orgs() {
        out.entry("orgs")
            .or_default()
            .push((String::new(), org.record().to_owned()));
        let org_key = Partition::new([("org", org.login())]).key().to_owned();
        for repo in org.repos() {
            out.entry("repos")
                .or_default()
                .push((org_key.clone(), repo.record().to_owned()));
            let key = Partition::new([("org", org.login()), ("repo", repo.name())])
                .key()
                .to_owned();
            for event in repo.events() {
                out.entry("events")
                    .or_default()
                    .push((key.clone(), event.clone()));
            }
        }
    }
    for window in windows() {
        let bound = |name| window.get(name).unwrap().parse::<u64>().unwrap();
        for record in tree.audit_between(bound("start"), bound("end")) {
            out.entry("audit")
                .or_default()
                .push((window.key().to_owned(), record.clone()));
        }
    }
    for records in out.values_mut() {
        records.sort();
    }
    out
}

async fn assert_verifies(db: &Path, tree: &OrgTree) {
    let sink = open(db);
    for (stream, want) in expected(tree) {
        let mut stored = sink.tagged_records(stream).await.unwrap();
        stored.sort();
        assert_eq!(stored.len(), want.len(), "{stream}: record count");
        assert!(
            stored == want,
            "{stream}: records or their partitions differ"
        );
    }
    sink.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_connector_resumes_without_fetching_a_finished_partition_again() {
    let tree = tree();
    let dir = tempfile::tempdir().unwrap();

    // The clean run, for reference.
    let server = serve(&tree).await;
    let (url, db) = (server.url("/").to_string(), dir.path().join("clean.db"));
    let done = blocking(move || run_to_end(&url, &db)).await;
    assert_eq!(field(&done, "failed"), 1, "{done}");
    let clean = server.seen_requests().len() as u64;
    assert_eq!(field(&done, "requests"), clean);
    assert_verifies(&dir.path().join("clean.db"), &tree).await;
    server.shutdown().await;
    let deleted = tree
        .orgs()
        .iter()
        .flat_map(|o| o.repos().iter().map(move |r| (o, r)))
        .find(|(_, r)| r.is_deleted())
        .map(|(o, r)| {
            (
                "events".to_owned(),
                Partition::new([("org", o.login()), ("repo", r.name())])
                    .key()
                    .to_owned(),
            )
        })
        .unwrap();

    for k in [5, 40, 100, 180] {
        assert!(
            k < clean,
            "kill at {k} is past the clean run's {clean} requests"
        );
        let server = serve(&tree).await;
        let url = server.url("/").to_string();
        let db = dir.path().join(format!("killed-{k}.db"));
        {
            let (url, db) = (url.clone(), db.clone());
            blocking(move || kill_at(&url, &db, k)).await;
        }
        let first = server.seen_requests();
        let done_at_kill = finished(&db).await;

        let done = {
            let (url, db) = (url.clone(), db.clone());
            blocking(move || run_to_end(&url, &db)).await
        };
        let all = server.seen_requests();
        let second = per_partition(&all[first.len()..]);
        assert!(done.contains("resumed=true"), "kill at {k}: {done}");
        assert_eq!(
            field(&done, "already_finished"),
            done_at_kill.len() as u64,
            "kill at {k}: {done}"
        );
        for partition in &done_at_kill {
            assert_eq!(
                second.get(partition),
                None,
                "kill at {k}: finished partition {partition:?} was fetched again"
            );
        }
        // What was lost at the kill: at most one page per active partition,
        // and one more attempt of the failed partition if the killed run
        // had already tried it.
        let retried_failure = u64::from(per_partition(&first).contains_key(&deleted));
        let total = all.len() as u64;
        eprintln!(
            "kill at page {k}: {} finished at the kill, {} + {} requests (clean: {clean})",
            done_at_kill.len(),
            first.len(),
            all.len() - first.len()
        );
        assert!(
            total <= clean + MAX_ACTIVE + retried_failure,
            "kill at {k}: {} + {} requests, the clean run needed {clean}",
            first.len(),
            all.len() - first.len()
        );
        assert!(
            total >= clean,
            "kill at {k}: fewer requests than a clean run"
        );
        if k >= 40 {
            assert!(
                !done_at_kill.is_empty(),
                "kill at {k}: nothing finished before it"
            );
        }
        assert_verifies(&db, &tree).await;
        server.shutdown().await;
    }
}
