//! Worker processes on one PostgreSQL work queue, killed and stalled: the
//! connector demo's connector (`haul-worker-child`, every stream
//! append-only, so a record written twice would be stored twice) against
//! the testkit's parent/child API, each test in a schema of its own.
//!
//! - A worker `SIGKILL`ed while it holds leases: its partitions stay its
//!   own until their leases expire (the other worker polls meanwhile), are
//!   then reclaimed at epoch + 1, and the destination holds every record
//!   exactly once.
//! - A worker `SIGSTOP`ped past its lease while another finishes its
//!   partitions, then `SIGCONT`ed: it tries to commit, is fenced (it says
//!   so in its summary), and the destination does not change by one row.
//!
//! Signals go through the `kill` command (haul forbids `unsafe`, so no
//! `libc::kill`); `Child::kill` is `SIGKILL`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use haul::Partition;
use haul::extractor::Step;
use haul::postgres::tokio_postgres::{Client, NoTls};
use haul::{TimeFormat, TimeWindows};
use haul_testkit::{FakeApi, OrgTree, RunningServer, TreeShape, services};
use serde_json::Value;

const CHILD: &str = env!("CARGO_BIN_EXE_haul-worker-child");

fn postgres() -> String {
    std::env::var("HAUL_POSTGRES")
        .unwrap_or_else(|_| "host=127.0.0.1 port=5432 user=postgres dbname=test".to_owned())
}

/// A schema of the test's own on the PostgreSQL under test, dropped at the end.
struct Db {
    client: Client,
    schema: String,
}

impl Db {
    async fn new() -> Option<Self> {
        let mut config: haul::postgres::tokio_postgres::Config = postgres().parse().unwrap();
        config.connect_timeout(Duration::from_secs(5));
        match config.connect(NoTls).await {
            Ok((client, connection)) => {
                tokio::spawn(connection);
                Some(Self {
                    client,
                    schema: services::unique_name("haul_workers"),
                })
            }
            Err(e) => {
                services::unavailable("PostgreSQL", e);
                None
            }
        }
    }

    /// `(partition, record)` pairs of a stream, sorted, each record parsed
    /// (`jsonb` does not keep the API's bytes, only its value).
    async fn tagged(&self, stream: &str) -> Vec<(String, Value)> {
        let sql = format!(
            "SELECT _partition, _record::text FROM \"{}\".\"{stream}\"",
            self.schema
        );
        let Ok(rows) = self.client.query(&sql, &[]).await else {
            return Vec::new();
        };
        let mut out: Vec<(String, Value)> = rows
            .iter()
            .map(|r| {
                let text: String = r.get(1);
                (r.get(0), serde_json::from_str(&text).unwrap())
            })
            .collect();
        out.sort_by(|a, b| (&a.0, a.1.to_string()).cmp(&(&b.0, b.1.to_string())));
        out
    }

    /// Rows and the highest `_seq` of every stream: a write of any kind moves one.
    async fn footprint(&self) -> BTreeMap<&'static str, (i64, i64)> {
        let mut out = BTreeMap::new();
        for stream in haul_e2e::DEMO_STREAMS {
            let sql = format!(
                "SELECT count(*), coalesce(max(_seq), 0) FROM \"{}\".\"{stream}\"",
                self.schema
            );
            let row = self.client.query_one(&sql, &[]).await.unwrap();
            out.insert(stream, (row.get(0), row.get(1)));
        }
        out
    }

    /// Every partition row: (stream, partition) → (state, owner, epoch, checkpoint).
    async fn partitions(&self) -> BTreeMap<(String, String), Lease> {
        let sql = format!(
            "SELECT stream, partition, state, coalesce(owner, ''), epoch, coalesce(checkpoint, ''), \
                 coalesce(lease_expires <= now(), false) \
             FROM \"{}\"._haul_partitions",
            self.schema
        );
        let rows = self.client.query(&sql, &[]).await.unwrap();
        rows.iter()
            .map(|r| {
                (
                    (r.get(0), r.get(1)),
                    Lease {
                        state: r.get(2),
                        owner: r.get(3),
                        epoch: r.get(4),
                        checkpoint: r.get(5),
                        expired: r.get(6),
                    },
                )
            })
            .collect()
    }

    /// The partitions leased by `owner`.
    async fn leased_by(&self, owner: &str) -> BTreeMap<(String, String), Lease> {
        self.partitions()
            .await
            .into_iter()
            .filter(|(_, l)| l.state == "leased" && l.owner == owner)
            .collect()
    }

    async fn drop_schema(&self) {
        let sql = format!("DROP SCHEMA IF EXISTS \"{}\" CASCADE", self.schema);
        self.client.batch_execute(&sql).await.unwrap();
    }
}

#[derive(Debug, Clone, PartialEq)]
struct Lease {
    state: String,
    owner: String,
    epoch: i64,
    checkpoint: String,
    expired: bool,
}

fn tree() -> OrgTree {
    OrgTree::generate(21, &TreeShape::new([1, 2, 5, 12], 120).audit_entries(300))
}

async fn serve(tree: &OrgTree) -> RunningServer {
    FakeApi::builder()
        .org_tree(tree.clone())
        .build()
        .start()
        .await
        .unwrap()
}

/// A worker process; killed if still running when dropped.
struct Worker {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Worker {
    fn spawn(url: &str, db: &Db, owner: &str, extra: &[&str]) -> Self {
        let mut child = Command::new(CHILD)
            .args([url, &postgres(), &db.schema, owner])
            .args(["--ttl-ms", "2000", "--poll-ms", "50", "--page-size", "10"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let out = BufReader::new(child.stdout.take().unwrap());
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in out.lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self { child, lines }
    }

    fn pid(&self) -> String {
        self.child.id().to_string()
    }

    /// Waits for `page k`.
    fn wait_for_page(&self, k: u64) {
        let target = format!("page {k}");
        loop {
            let line = self
                .lines
                .recv_timeout(Duration::from_secs(30))
                .unwrap_or_else(|e| panic!("the worker never printed {target:?}: {e}"));
            if line == target {
                return;
            }
            assert!(!line.starts_with("done "), "it ended first: {line}");
        }
    }

    /// Waits for the end and returns its summary.
    fn finish(mut self) -> Value {
        let mut last = None;
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(60)) {
            if let Some(json) = line.strip_prefix("done ") {
                last = Some(serde_json::from_str(json).unwrap());
            }
        }
        let status = self.child.wait().unwrap();
        assert!(status.success(), "the worker failed: {status}");
        last.expect("the worker printed no summary")
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.pid()])
            .status()
            .unwrap();
        assert!(status.success(), "kill {signal} failed");
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        // Never leave a worker behind (stopped ones cannot die of SIGKILL
        // any slower).
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

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

/// Every stream's `(partition, record)` pairs the tree defines, sorted.
fn expected(tree: &OrgTree) -> BTreeMap<&'static str, Vec<(String, Value)>> {
    let parse = |text: &str| serde_json::from_str::<Value>(text).unwrap();
    let mut out: BTreeMap<&'static str, Vec<(String, Value)>> = BTreeMap::new();
    for org in tree.orgs() {
        out.entry("orgs")
            .or_default()
            .push((String::new(), parse(org.record())));
        let org_key = Partition::new([("org", org.login())]).key().to_owned();
        for repo in org.repos() {
            out.entry("repos")
                .or_default()
                .push((org_key.clone(), parse(repo.record())));
            let key = Partition::new([("org", org.login()), ("repo", repo.name())])
                .key()
                .to_owned();
            for event in repo.events() {
                out.entry("events")
                    .or_default()
                    .push((key.clone(), parse(event)));
            }
        }
    }
    for window in windows() {
        let bound = |name| window.get(name).unwrap().parse::<u64>().unwrap();
        for record in tree.audit_between(bound("start"), bound("end")) {
            out.entry("audit")
                .or_default()
                .push((window.key().to_owned(), parse(record)));
        }
    }
    for records in out.values_mut() {
        records.sort_by(|a, b| (&a.0, a.1.to_string()).cmp(&(&b.0, b.1.to_string())));
    }
    out
}

/// Every record of the tree stored exactly once, with its partition.
async fn assert_exactly_once(db: &Db, tree: &OrgTree) {
    for (stream, want) in expected(tree) {
        let stored = db.tagged(stream).await;
        assert_eq!(stored.len(), want.len(), "{stream}: row count");
        assert!(
            stored == want,
            "{stream}: records or their partitions differ"
        );
    }
}

/// A worker's summary without its per-partition list, for the log.
fn brief(summary: &Value) -> Value {
    let mut brief = summary.clone();
    if let Some(run) = brief.get_mut("run").and_then(Value::as_object_mut) {
        run.remove("partitions");
        run.remove("streams");
    }
    brief
}

fn count(summary: &Value, field: &str) -> u64 {
    summary[field]
        .as_u64()
        .unwrap_or_else(|| panic!("no {field} in {summary}"))
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_workers_partitions_are_reclaimed_after_expiry_at_the_next_epoch() {
    let Some(db) = Db::new().await else {
        return;
    };
    let tree = tree();
    let server = serve(&tree).await;
    let url = server.url("/").to_string();

    // Worker a, paced so that it is mid-way when killed.
    let a = Worker::spawn(&url, &db, "a", &["--rate", "40"]);
    let a = blocking(move || {
        a.wait_for_page(25);
        a
    })
    .await;
    let mut a = a;
    a.child.kill().unwrap();
    a.child.wait().unwrap();
    let held = db.leased_by("a").await;
    assert!(!held.is_empty(), "the killed worker held no lease");
    eprintln!("killed worker a holding {} leases", held.len());

    // Worker b runs everything else, and waits for a's leases to expire.
    let b = Worker::spawn(&url, &db, "b", &[]);
    // Before each lease expires (database clock), it is still a's, at its epoch.
    let mut checked_before_expiry = 0;
    loop {
        let now = db.partitions().await;
        let mut unexpired = 0;
        for (key, lease) in &held {
            let current = &now[key];
            if !current.expired && current.owner == "a" {
                assert_eq!(current.epoch, lease.epoch, "{key:?}");
                unexpired += 1;
            } else {
                // Expired, or already taken over: never by a claim before expiry.
                assert!(
                    current.owner != "a" || current.expired,
                    "{key:?}: {current:?}"
                );
            }
        }
        if unexpired == 0 {
            break;
        }
        checked_before_expiry += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        checked_before_expiry >= 3,
        "the leases expired before b could have claimed them"
    );
    let summary = blocking(move || b.finish()).await;
    eprintln!("worker b: {}", brief(&summary));
    assert!(count(&summary, "reclaimed") >= 1, "{}", brief(&summary));
    assert_eq!(count(&summary, "commits_fenced"), 0, "{}", brief(&summary));

    let after = db.partitions().await;
    for (key, lease) in &held {
        let now = &after[key];
        assert_eq!(now.owner, "b", "{key:?}");
        match now.state.as_str() {
            "done" => assert_eq!(now.epoch, lease.epoch + 1, "{key:?} reclaimed once"),
            // The deleted repository's partition: reclaimed, then retried.
            "failed" => assert!(now.epoch > lease.epoch, "{key:?}: {now:?}"),
            _ => panic!("{key:?} is not settled: {now:?}"),
        }
    }
    // The deleted repository's partition failed (404), every other is done.
    let failed: Vec<_> = after.iter().filter(|(_, l)| l.state == "failed").collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(
        after
            .values()
            .all(|l| l.state == "done" || l.state == "failed")
    );
    assert_exactly_once(&db, &tree).await;
    eprintln!(
        "SIGKILL: {} leases held at the kill, all reclaimed by b at epoch + 1 after {} checks before expiry; every record once",
        held.len(),
        checked_before_expiry
    );
    server.shutdown().await;
    db.drop_schema().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_worker_woken_after_another_finished_its_partitions_is_fenced() {
    let Some(db) = Db::new().await else {
        return;
    };
    let tree = tree();
    let server = serve(&tree).await;
    let url = server.url("/").to_string();

    let z = Worker::spawn(&url, &db, "z", &["--rate", "40"]);
    let z = blocking(move || {
        z.wait_for_page(25);
        z
    })
    .await;
    z.signal("-STOP");
    let held = db.leased_by("z").await;
    assert!(!held.is_empty(), "the stalled worker held no lease");
    // Past its leases (database clock).
    while db
        .partitions()
        .await
        .iter()
        .any(|(k, l)| held.contains_key(k) && !l.expired)
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let w = Worker::spawn(&url, &db, "w", &[]);
    let summary_w = blocking(move || w.finish()).await;
    assert!(count(&summary_w, "reclaimed") >= 1, "{}", brief(&summary_w));
    let finished = db.partitions().await;
    for key in held.keys() {
        assert_eq!(finished[key].owner, "w", "{key:?}");
    }
    let before = db.footprint().await;
    assert_exactly_once(&db, &tree).await;

    // The zombie wakes up with pages in hand and leases it believes it holds.
    let started = Instant::now();
    z.signal("-CONT");
    let summary_z = blocking(move || z.finish()).await;
    eprintln!(
        "zombie z after SIGCONT ({:?}): {}",
        started.elapsed(),
        brief(&summary_z)
    );
    assert!(
        count(&summary_z, "commits_fenced") >= 1,
        "{}",
        brief(&summary_z)
    );
    assert!(count(&summary_z, "lost") >= 1, "{}", brief(&summary_z));
    // Not one row written, not one checkpoint moved.
    assert_eq!(db.footprint().await, before);
    assert_eq!(db.partitions().await, finished);
    assert_exactly_once(&db, &tree).await;
    eprintln!(
        "SIGSTOP: z held {} leases; after SIGCONT it tried {} commits, all fenced ({} partitions lost); rows unchanged: {before:?}",
        held.len(),
        count(&summary_z, "commits_fenced"),
        count(&summary_z, "lost")
    );
    server.shutdown().await;
    db.drop_schema().await;
}
