//! Durability end to end, against the testkit's `FakeApi` over loopback:
//!
//! - crash: a child process (`haul-crash-child`) is killed with `SIGKILL`
//!   after a seeded random number of pages and run again; the destination
//!   then holds every record exactly once, byte for byte (SQLite keyed and
//!   append-only, and JSON Lines; sequential cursor children and concurrent
//!   offset children with 8 pages in flight; 12 seeded trials each). At
//!   least one JSON Lines kill must land mid-write, leaving bytes past the
//!   committed offset for the rerun to drop;
//! - resume efficiency: the second run requests only the pages not yet
//!   committed, counted by the server;
//! - incremental: after the server's data changes, an incremental run
//!   fetches only what changed since the watermark minus the lookback, and
//!   the destination equals the server's data;
//! - partial results: a server failing permanently at page k leaves k − 1
//!   pages committed and the typed error surfaced;
//! - graceful stop: `run_until` stops after the page in flight, commits, says
//!   so, and the next run completes the stream exactly once.
//!
//! No test sleeps or asserts on timing: the child is paced through its stdin
//! and retries run on a manual clock.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use haul::core::http::StatusCode;
use haul::core::{Checkpoint, ManualClock, Position};
use haul::extractor::Event;
use haul::retry::GiveUp;
use haul::{
    CursorPaginator, ExponentialBackoff, ExtractError, Extractor, ExtractorBuilder, Incremental,
    JsonLinesSink, MemorySink, Observer, Sink, SqliteSink, StreamConfig,
};
use haul_testkit::{Dataset, FakeApi, RunningServer};
use tokio::sync::Notify;

const STREAM: &str = "items";
const CHILD: &str = env!("CARGO_BIN_EXE_haul-crash-child");

/// Records per page, and records in the crash tests' dataset (40 pages).
const PAGE: u64 = 50;
const RECORDS: u64 = 2000;
const PAGES: u64 = RECORDS / PAGE;
const TRIALS: u64 = 12;

// ---------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------

async fn serve(dataset: &Dataset) -> RunningServer {
    FakeApi::builder()
        .dataset(dataset.clone())
        .record_requests(true)
        .build()
        .start()
        .await
        .expect("fake api starts")
}

fn paginator() -> CursorPaginator {
    CursorPaginator::new("/next_cursor", "cursor")
        .records_at("/data")
        .page_size("limit", PAGE)
}

/// The full default stack on `path_and_query` of `server`.
fn builder(server: &RunningServer, path_and_query: &str) -> ExtractorBuilder {
    Extractor::builder()
        .url(server.url(path_and_query).as_str())
        .paginator(paginator())
        .stream(STREAM)
}

fn sqlite(path: &Path) -> SqliteSink {
    SqliteSink::open(path).unwrap().stream(
        StreamConfig::new(STREAM)
            .primary_key(["/id"])
            .watermark("/updated_at"),
    )
}

/// The crash child's append-only stream: no primary key, so a replayed
/// record is a second row, not a silent upsert.
fn sqlite_append(path: &Path) -> SqliteSink {
    SqliteSink::open(path).unwrap().stream(
        StreamConfig::new(STREAM)
            .append_only()
            .watermark("/updated_at"),
    )
}

/// SplitMix64, for seeded trial parameters.
struct Rng(u64);

impl Rng {
    fn below(&mut self, bound: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) % bound
    }
}

fn id_of(record: &str) -> u64 {
    serde_json::from_str::<serde_json::Value>(record).unwrap()["id"]
        .as_u64()
        .unwrap()
}

/// `got` holds each of `expected` exactly once, byte for byte, in order —
/// with a failure message that names the first difference instead of
/// printing thousands of records.
fn assert_exactly(got: &[String], expected: &[String], context: &str) {
    let mut seen = HashSet::new();
    let duplicates: Vec<u64> = got
        .iter()
        .map(|r| id_of(r))
        .filter(|id| !seen.insert(*id))
        .collect();
    assert!(
        duplicates.is_empty(),
        "{context}: duplicated ids {duplicates:?}"
    );
    let missing: Vec<u64> = expected
        .iter()
        .map(|r| id_of(r))
        .filter(|id| !seen.contains(id))
        .collect();
    assert!(missing.is_empty(), "{context}: missing ids {missing:?}");
    assert_eq!(got.len(), expected.len(), "{context}: record count");
    if let Some(i) = (0..got.len()).find(|&i| got[i] != expected[i]) {
        panic!(
            "{context}: record {i} differs:\n got {}\nwant {}",
            got[i], expected[i]
        );
    }
}

/// A destination, and how to read back what it committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Sqlite,
    SqliteAppend,
    Jsonl,
}

impl Kind {
    fn arg(self) -> &'static str {
        match self {
            Kind::Sqlite => "sqlite",
            Kind::SqliteAppend => "sqlite-append",
            Kind::Jsonl => "jsonl",
        }
    }

    /// The database file or the output directory under `dir`.
    fn out(self, dir: &Path) -> PathBuf {
        match self {
            Kind::Sqlite | Kind::SqliteAppend => dir.join("haul.db"),
            Kind::Jsonl => dir.join("out"),
        }
    }

    fn sink(self, out: &Path) -> Box<dyn Sink> {
        match self {
            Kind::Sqlite => Box::new(sqlite(out)),
            Kind::SqliteAppend => Box::new(sqlite_append(out)),
            Kind::Jsonl => Box::new(JsonLinesSink::new(out)),
        }
    }

    /// The committed records, read without opening the stream (opening a
    /// JSON Lines stream would cut a torn tail, hiding whether the sink does).
    async fn records(self, out: &Path) -> Vec<String> {
        match self {
            Kind::Sqlite => sqlite(out).records(STREAM).await.unwrap(),
            Kind::SqliteAppend => sqlite_append(out).records(STREAM).await.unwrap(),
            Kind::Jsonl => {
                let path = JsonLinesSink::new(out).data_path(STREAM);
                match std::fs::read_to_string(&path) {
                    Ok(text) => text.lines().map(str::to_owned).collect(),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
                    Err(e) => panic!("reading {}: {e}", path.display()),
                }
            }
        }
    }

    /// The committed checkpoint.
    async fn checkpoint(self, out: &Path) -> Option<Checkpoint> {
        match self {
            Kind::Sqlite => sqlite(out).checkpoint(STREAM).await.unwrap(),
            Kind::SqliteAppend => sqlite_append(out).checkpoint(STREAM).await.unwrap(),
            Kind::Jsonl => JsonLinesSink::new(out).open(STREAM).await.unwrap(),
        }
    }
}

/// JSON Lines: the committed byte offset of `out`'s stream (0 before the
/// first commit), read from the state file the sink replaces atomically.
fn committed_offset(out: &Path) -> u64 {
    match std::fs::read(out.join(format!("{STREAM}.state.json"))) {
        Ok(bytes) => serde_json::from_slice::<serde_json::Value>(&bytes).unwrap()["offset"]
            .as_u64()
            .unwrap(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
        Err(e) => panic!("reading the state of {}: {e}", out.display()),
    }
}

/// JSON Lines: the bytes of `out`'s data file past the committed offset.
fn uncommitted_tail(out: &Path) -> u64 {
    let len = std::fs::metadata(JsonLinesSink::new(out).data_path(STREAM)).map_or(0, |m| m.len());
    len.saturating_sub(committed_offset(out))
}

/// JSON Lines: returns once the commit the child just announced is visibly
/// under way — bytes appended past the committed offset (the fsync that
/// follows leaves time to kill it there) — or already over.
fn wait_for_the_write(out: &Path) {
    let before = committed_offset(out);
    while uncommitted_tail(out) == 0 && committed_offset(out) == before {
        std::thread::yield_now();
    }
}

// ---------------------------------------------------------------------------
// the child process
// ---------------------------------------------------------------------------

/// Where the parent kills a paced child, relative to page k.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kill {
    /// While it waits after reporting page k: fetched, not yet committed.
    Paused,
    /// Right after letting it go on from page k: usually before it commits
    /// page k, at the latest before it reports page k + 1.
    Racing,
    /// As soon as it announces the first commit that includes page k (JSON
    /// Lines: once that commit's bytes are in the data file): the kill
    /// usually lands inside the sink's write (a torn JSON Lines tail), at
    /// the latest before it reports the next page.
    MidCommit,
}

impl Kill {
    /// Pages committed when the kill lands, and requests the child sent,
    /// for a kill at page `k` with batches of `batch_pages` pages.
    ///
    /// A full batch commits while the next one is fetched, one batch at a
    /// time: when page `k` is reported, the batch that ended before it may
    /// still be in commit (so the one before that is the last sure to have
    /// landed). A batch's commit is announced only once the previous one has
    /// landed, so a kill on the announcement finds that one committed.
    fn outcomes(self, k: u64, batch_pages: u64) -> (Vec<u64>, Vec<u64>) {
        let before_k = batch_pages * ((k - 1) / batch_pages);
        let in_commit = before_k.saturating_sub(batch_pages);
        let with_k = batch_pages * k.div_ceil(batch_pages);
        match self {
            Kill::Paused => (vec![in_commit, before_k], vec![k]),
            // Let go, it may commit the batch page k completes and send the
            // next request, never more.
            Kill::Racing => (
                vec![in_commit, before_k, batch_pages * (k / batch_pages)],
                vec![k, k + 1],
            ),
            Kill::MidCommit => (vec![before_k, with_k], vec![with_k, with_k + 1]),
        }
    }
}

struct ChildRun {
    child: Child,
    stdout: BufReader<ChildStdout>,
    stdin: Option<ChildStdin>,
}

impl ChildRun {
    fn spawn(
        url: &str,
        kind: Kind,
        out: &Path,
        batch_pages: u64,
        offset: Option<usize>,
        paced: bool,
    ) -> Self {
        let mut command = Command::new(CHILD);
        command
            .arg(url)
            .arg(kind.arg())
            .arg(out)
            .arg(PAGE.to_string())
            .arg("--batch-pages")
            .arg(batch_pages.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some(k) = offset {
            command.arg("--offset").arg(k.to_string());
        }
        if paced {
            command.arg("--paced").stdin(Stdio::piped());
        } else {
            command.stdin(Stdio::null());
        }
        let mut child = command.spawn().expect("the crash child starts");
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let stdin = child.stdin.take();
        ChildRun {
            child,
            stdout,
            stdin,
        }
    }

    fn line(&mut self) -> Option<String> {
        let mut line = String::new();
        match self.stdout.read_line(&mut line).unwrap() {
            0 => None,
            _ => Some(line.trim_end().to_owned()),
        }
    }

    fn go_on(&mut self) {
        let stdin = self.stdin.as_mut().unwrap();
        stdin.write_all(b"go\n").unwrap();
        stdin.flush().unwrap();
    }
}

impl Drop for ChildRun {
    fn drop(&mut self) {
        // Never leave a child behind when an assertion fails.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How a child walks the server: `None` the sequential cursor, `Some(K)`
/// offset pagination with `K` pages in flight.
type Walk = Option<usize>;

/// Runs a paced child and `SIGKILL`s it at page `k` as `kill` says.
fn crash_at(url: &str, kind: Kind, out: &Path, batch_pages: u64, walk: Walk, k: u64, kill: Kill) {
    let mut run = ChildRun::spawn(url, kind, out, batch_pages, walk, true);
    loop {
        let line = run
            .line()
            .unwrap_or_else(|| panic!("the child ended before its kill at page {k}"));
        let (what, n) = line
            .split_once(' ')
            .unwrap_or_else(|| panic!("unexpected child output {line:?}"));
        let n: u64 = n.parse().unwrap();
        let now = match (what, kill) {
            ("page", Kill::Paused) if n == k => true,
            ("page", Kill::Racing) if n == k => {
                run.go_on();
                true
            }
            ("commit", Kill::MidCommit) => n >= k,
            ("page", _) => {
                // The child waits after each page until told to go on.
                run.go_on();
                false
            }
            ("commit", _) => false,
            _ => panic!("unexpected child output {line:?}"),
        };
        if now {
            if kill == Kill::MidCommit && kind == Kind::Jsonl {
                wait_for_the_write(out);
            }
            // `Child::kill` is SIGKILL on Unix: no destructor, no flush.
            run.child.kill().unwrap();
            let status = run.child.wait().unwrap();
            assert!(!status.success(), "the child was not killed: {status}");
            return;
        }
    }
}

/// What a child that ran to the end reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Done {
    resumed_after: u64,
    pages: u64,
    records: u64,
    requests: u64,
}

/// Runs the child to completion, unpaced.
fn run_to_end(url: &str, kind: Kind, out: &Path, batch_pages: u64, walk: Walk) -> Done {
    let mut run = ChildRun::spawn(url, kind, out, batch_pages, walk, false);
    let mut last = None;
    while let Some(line) = run.line() {
        last = Some(line);
    }
    let status = run.child.wait().unwrap();
    assert!(status.success(), "the rerun failed: {status}");
    let last = last.expect("the rerun printed nothing");
    let field = |name: &str| -> u64 {
        last.split(' ')
            .find_map(|part| part.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("no {name} in {last:?}"))
            .parse()
            .unwrap()
    };
    assert!(last.starts_with("done "), "{last:?}");
    Done {
        resumed_after: field("resumed_after"),
        pages: field("pages"),
        records: field("records"),
        requests: field("requests"),
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

// ---------------------------------------------------------------------------
// 1. crash and resume: exactly once, byte for byte
// ---------------------------------------------------------------------------

/// Runs [`TRIALS`] seeded kill-and-rerun trials; returns how many left an
/// uncommitted JSON Lines tail for the rerun to drop.
async fn crash_trials(kind: Kind, seed: u64, walk: Walk) -> u64 {
    let mut tails = 0;
    let dataset = Dataset::generate(seed, RECORDS as usize);
    let server = serve(&dataset).await;
    let url = server.url("/").to_string();
    for trial in 0..TRIALS {
        let mut rng = Rng(seed ^ (trial << 32));
        let batch_pages = 1 + rng.below(3);
        let kill = [Kill::Paused, Kill::Racing, Kill::MidCommit][rng.below(3) as usize];
        // Never let the first run finish: its final commit would mark the
        // stream done and the rerun would be a new pass.
        let last_k = match kill {
            Kill::MidCommit => batch_pages * ((PAGES - 1) / batch_pages),
            _ => PAGES - 1,
        };
        let k = 1 + rng.below(last_k);
        let context = format!(
            "{kind:?} {walk:?} trial {trial}: killed at page {k} of {PAGES} ({kill:?}), batches of {batch_pages} pages"
        );
        let dir = tempfile::tempdir().unwrap();
        let out = kind.out(dir.path());

        let start = server.stats().requests;
        let (u, o) = (url.clone(), out.clone());
        blocking(move || crash_at(&u, kind, &o, batch_pages, walk, k, kill)).await;
        let killed = server.stats().requests;
        let (committed_at_kill, requests_at_kill) = kill.outcomes(k, batch_pages);
        if kind == Kind::Jsonl && uncommitted_tail(&out) > 0 {
            tails += 1;
        }

        let (u, o) = (url.clone(), out.clone());
        let done = blocking(move || run_to_end(&u, kind, &o, batch_pages, walk)).await;
        let rerun = match walk {
            None => {
                let first_run = killed - start;
                assert!(
                    requests_at_kill.contains(&first_run),
                    "{context}: the first run sent {first_run} requests"
                );
                server.stats().requests - killed
            }
            Some(in_flight) => {
                // Requests the killed child had in flight may reach the
                // server late: split the total by what the rerun reports.
                // Beyond the pages handed out, the walker keeps up to K
                // requests in flight and up to K answered pages waiting in
                // its reorder buffer (and it goes on while a batch commits).
                let rerun = done.requests;
                let first_run = server.stats().requests - start - rerun;
                let most =
                    (requests_at_kill.iter().max().unwrap() + 2 * in_flight as u64).min(PAGES);
                assert!(
                    (k..=most).contains(&first_run),
                    "{context}: the first run sent {first_run} requests"
                );
                rerun
            }
        };

        // The rerun continued from the committed checkpoint, and requested
        // only the pages after it.
        let committed = done.resumed_after;
        assert!(
            committed_at_kill.contains(&committed),
            "{context}: resumed after page {committed}"
        );
        assert_eq!(rerun, PAGES - committed, "{context}: rerun requests");
        assert_eq!(
            (done.requests, done.pages, done.records),
            (rerun, rerun, rerun * PAGE),
            "{context}"
        );

        assert_exactly(&kind.records(&out).await, dataset.records(), &context);
        let checkpoint = kind.checkpoint(&out).await.expect("a checkpoint");
        assert!(checkpoint.is_done(), "{context}: {checkpoint:?}");
        assert_eq!(
            (checkpoint.pages, checkpoint.records),
            (PAGES, RECORDS),
            "{context}"
        );
    }
    tails
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_holds_every_record_once_after_sigkill_and_rerun() {
    crash_trials(Kind::Sqlite, 0x5EED_0001, None).await;
}

/// No primary key: a record the rerun replayed would be a second row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn append_only_sqlite_holds_every_record_once_after_sigkill_and_rerun() {
    crash_trials(Kind::SqliteAppend, 0x5EED_0003, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jsonl_holds_every_record_once_after_sigkill_and_rerun() {
    let tails = crash_trials(Kind::Jsonl, 0x5EED_0002, None).await;
    assert!(
        tails > 0,
        "no kill landed mid-write: no trial left bytes past the committed offset"
    );
}

/// Offset pagination with 8 pages in flight: pages arrive out of order but
/// are committed in order, so a kill anywhere still resumes exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_children_hold_every_record_once_after_sigkill_and_rerun() {
    for (kind, seed) in [
        (Kind::Sqlite, 0x5EED_0011),
        (Kind::SqliteAppend, 0x5EED_0013),
        (Kind::Jsonl, 0x5EED_0012),
    ] {
        let tails = crash_trials(kind, seed, Some(8)).await;
        if kind == Kind::Jsonl {
            assert!(
                tails > 0,
                "no concurrent kill landed mid-write: no trial left bytes past the committed offset"
            );
        }
    }
}

// ---------------------------------------------------------------------------
// 2. resume efficiency
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rerun_after_a_kill_requests_only_the_uncommitted_pages() {
    let dataset = Dataset::generate(77, RECORDS as usize);
    let server = serve(&dataset).await;
    let url = server.url("/").to_string();
    let (n, k, batch_pages) = (PAGES, 23, 3);
    for kind in [Kind::Sqlite, Kind::SqliteAppend, Kind::Jsonl] {
        let dir = tempfile::tempdir().unwrap();
        let out = kind.out(dir.path());
        let start = server.stats().requests;
        let (u, o) = (url.clone(), out.clone());
        blocking(move || crash_at(&u, kind, &o, batch_pages, None, k, Kill::Paused)).await;
        let killed = server.stats().requests;
        assert_eq!(killed - start, k, "{kind:?}: the first run's requests");

        // Killed after fetching page 23 in batches of 3: pages 1-21 were
        // committed, or 1-18 while 19-21 were still in commit (a batch
        // commits while the next is fetched); 22 and 23 were fetched but not
        // committed. The rerun fetches exactly the pages not committed:
        // n − k plus the batch being fetched, and the one in commit if any.
        let fetching = (k - 1) % batch_pages + 1;
        assert_eq!(fetching, 2);
        let checkpoint = kind.checkpoint(&out).await.expect("a checkpoint");
        let uncommitted = k - checkpoint.pages;
        assert!(
            [fetching, fetching + batch_pages].contains(&uncommitted),
            "{kind:?}: committed {} pages of {k}",
            checkpoint.pages
        );
        assert!(matches!(checkpoint.position, Position::Next(_)), "{kind:?}");

        let (u, o) = (url.clone(), out.clone());
        let done = blocking(move || run_to_end(&u, kind, &o, batch_pages, None)).await;
        let rerun = server.stats().requests - killed;
        assert_eq!(rerun, n - k + uncommitted, "{kind:?}: the rerun's requests");
        assert!(rerun > n - k && rerun <= n - k + 2 * batch_pages && rerun < n);
        assert_eq!(done.resumed_after, checkpoint.pages);
        assert_exactly(&kind.records(&out).await, dataset.records(), kind.arg());
    }
}

// ---------------------------------------------------------------------------
// 3. incremental runs after the data changed
// ---------------------------------------------------------------------------

#[tokio::test]
async fn an_incremental_run_fetches_only_what_changed_since_the_watermark() {
    let dataset = Dataset::generate(19, 5000);
    let server = serve(&dataset).await;
    let dir = tempfile::tempdir().unwrap();
    let sink = sqlite(&dir.path().join("haul.db"));
    let incremental =
        Incremental::new("/updated_at", "updated_since").lookback(Duration::from_secs(60));
    let extractor = builder(&server, "/items")
        .incremental(incremental.clone())
        .batch_size(10 * PAGE as usize)
        .build()
        .unwrap();

    // A first run into an empty destination is a full pass.
    let full = extractor.run(&sink).await.unwrap();
    let full_pages = 5000 / PAGE;
    assert_eq!((full.pages, full.records), (full_pages, 5000));
    assert_eq!(server.stats().requests, full_pages);
    assert!(server.seen_requests().iter().all(|r| {
        !r.query
            .as_deref()
            .unwrap_or_default()
            .contains("updated_since")
    }));
    assert_exactly(
        &sink.records(STREAM).await.unwrap(),
        dataset.records(),
        "full run",
    );

    // The data changes: 1 % of the records are updated, 120 are added.
    let mutation = server.mutate(23, 0.01, 120);
    assert_eq!((mutation.updated.len(), mutation.added.len()), (50, 120));
    let current = server.dataset();

    let watermark = sink
        .watermark(STREAM, "/updated_at")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(Some(watermark.as_str()), dataset.updated_at(4999));
    let bound = incremental.lower_bound(&watermark).unwrap();
    // What the server holds at or after the bound: the changed records and
    // the few old ones within the lookback (all timestamps share one format,
    // so they compare as text).
    let selected = (0..current.len())
        .filter(|&i| current.updated_at(i).unwrap() >= bound.as_str())
        .count() as u64;
    let changed = (mutation.updated.len() + mutation.added.len()) as u64;
    assert!(selected > changed, "the lookback re-reads some old records");

    let requests_before = server.stats().requests;
    let seen_before = server.seen_requests().len();
    let second = extractor.run(&sink).await.unwrap();
    let requests = server.stats().requests - requests_before;
    assert_eq!(requests, selected.div_ceil(PAGE).max(1));
    assert!(
        requests * 10 < full_pages,
        "{requests} requests: not much less than a full run"
    );
    assert_eq!((second.pages, second.records), (requests, selected));
    assert_eq!(second.resumed_after_page, 0);
    assert_eq!(second.records_without_watermark, 0);
    // Every request of the incremental pass carried the bound.
    let sent = server.seen_requests();
    assert_eq!(sent.len() - seen_before, requests as usize);
    for request in &sent[seen_before..] {
        let query = request.query.as_deref().unwrap();
        let since = haul::core::url::form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == "updated_since")
            .map(|(_, v)| v.into_owned());
        assert_eq!(since.as_deref(), Some(bound.as_str()), "{query}");
    }

    // The destination now equals the server's data, record for record.
    assert_exactly(
        &sink.records(STREAM).await.unwrap(),
        &server.current_records(),
        "after the incremental run",
    );

    // Nothing changed since: the next incremental run reads only the
    // lookback window of the new watermark.
    let before = server.stats().requests;
    let quiet = extractor.run(&sink).await.unwrap();
    assert_eq!(server.stats().requests - before, 1);
    assert!(quiet.records >= 1 && quiet.records < PAGE);
    assert_exactly(
        &sink.records(STREAM).await.unwrap(),
        &server.current_records(),
        "after a quiet incremental run",
    );
}

// ---------------------------------------------------------------------------
// 4. partial results when a page fails permanently
// ---------------------------------------------------------------------------

/// A sink of each kind, with a way to read back what it committed.
enum Dest {
    Memory(MemorySink),
    Disk(Kind, PathBuf, Box<dyn Sink>),
}

impl Dest {
    fn all(dir: &Path) -> Vec<Dest> {
        let mut all = vec![Dest::Memory(MemorySink::with_primary_key("/id"))];
        for kind in [Kind::Sqlite, Kind::Jsonl] {
            let out = kind.out(dir);
            all.push(Dest::Disk(kind, out.clone(), kind.sink(&out)));
        }
        all
    }

    fn sink(&self) -> &dyn Sink {
        match self {
            Dest::Memory(sink) => sink,
            Dest::Disk(_, _, sink) => sink.as_ref(),
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Dest::Memory(_) => "memory",
            Dest::Disk(kind, _, _) => kind.arg(),
        }
    }

    async fn records(&self) -> Vec<String> {
        match self {
            Dest::Memory(sink) => sink
                .records(STREAM)
                .iter()
                .map(|r| r.as_str().to_owned())
                .collect(),
            Dest::Disk(kind, out, _) => kind.records(out).await,
        }
    }

    async fn checkpoint(&self) -> Option<Checkpoint> {
        match self {
            Dest::Memory(sink) => sink.checkpoint(STREAM),
            Dest::Disk(kind, out, _) => kind.checkpoint(out).await,
        }
    }
}

#[tokio::test]
async fn a_permanent_failure_at_page_k_leaves_k_minus_1_pages_committed() {
    let dataset = Dataset::generate(5, 1000);
    let server = serve(&dataset).await;
    let dir = tempfile::tempdir().unwrap();
    let k = 8u64;
    for dest in Dest::all(dir.path()) {
        let name = dest.name();
        // Retries on a manual clock: the backoff is decided, never waited.
        let clock = ManualClock::new();
        let extractor = builder(&server, &format!("/items?fail_at={k}"))
            // Batches of 3 pages: pages 1-6 commit as batches, page 7 only
            // through the partial commit on failure.
            .batch_size(3 * PAGE as usize)
            .retry(
                ExponentialBackoff::default()
                    .base(Duration::from_millis(1))
                    .max_attempts(2),
            )
            .clock(clock.clone())
            .sleeper(clock.clone())
            .build()
            .unwrap();
        let before = server.stats();
        let error = extractor.run(dest.sink()).await.unwrap_err();
        match &error {
            ExtractError::Http {
                status,
                attempts,
                gave_up,
                url,
                ..
            } => {
                assert_eq!(*status, StatusCode::INTERNAL_SERVER_ERROR, "{name}");
                assert_eq!(*attempts, 2, "{name}");
                assert!(
                    matches!(gave_up, GiveUp::AttemptsExhausted { attempts: 2 }),
                    "{name}: {gave_up:?}"
                );
                assert!(url.to_string().contains("fail_at=8"), "{name}: {url}");
            }
            other => panic!("{name}: expected an HTTP error, got {other:?}"),
        }
        assert!(
            clock.slept() > Duration::ZERO,
            "{name}: the retry waited on the manual clock"
        );
        let after = server.stats();
        assert_eq!(after.requests - before.requests, (k - 1) + 2, "{name}");
        assert_eq!(after.failed_pages - before.failed_pages, 2, "{name}");

        let checkpoint = dest.checkpoint().await.expect("a checkpoint");
        assert_eq!(
            (checkpoint.pages, checkpoint.records),
            (k - 1, (k - 1) * PAGE),
            "{name}"
        );
        assert!(matches!(checkpoint.position, Position::Next(_)), "{name}");
        let committed = ((k - 1) * PAGE) as usize;
        assert_exactly(&dest.records().await, &dataset.records()[..committed], name);

        // The next run resumes at page k and fails there again, alone.
        let before = server.stats().requests;
        let again = extractor.run(dest.sink()).await.unwrap_err();
        assert!(
            matches!(again, ExtractError::Http { status, .. } if status == 500),
            "{name}: {again}"
        );
        assert_eq!(server.stats().requests - before, 2, "{name}");
        assert_exactly(&dest.records().await, &dataset.records()[..committed], name);
    }
}

#[tokio::test]
async fn a_non_retryable_failure_is_surfaced_after_one_attempt_with_the_pages_before_it() {
    let dataset = Dataset::generate(6, 500);
    let server = serve(&dataset).await;
    let sink = MemorySink::with_primary_key("/id");
    let clock = ManualClock::new();
    let extractor = builder(&server, "/items?fail_at=4&fail_status=400")
        .batch_size(100 * PAGE as usize)
        .clock(clock.clone())
        .sleeper(clock.clone())
        .build()
        .unwrap();
    let error = extractor.run(&sink).await.unwrap_err();
    assert!(
        matches!(&error, ExtractError::Http { status, attempts: 1, gave_up: GiveUp::NotRetryable, .. } if *status == 400),
        "{error:?}"
    );
    assert_eq!(clock.slept(), Duration::ZERO);
    assert_eq!(server.stats().requests, 4);
    let checkpoint = sink.checkpoint(STREAM).unwrap();
    assert_eq!((checkpoint.pages, checkpoint.records), (3, 3 * PAGE));
    let records: Vec<String> = sink
        .records(STREAM)
        .iter()
        .map(|r| r.as_str().to_owned())
        .collect();
    assert_exactly(
        &records,
        &dataset.records()[..(3 * PAGE) as usize],
        "memory",
    );
}

/// A sink that refuses every write (a full disk, a lost database).
struct BrokenSink;

#[async_trait::async_trait]
impl Sink for BrokenSink {
    async fn open(&self, _stream: &str) -> Result<Option<Checkpoint>, haul::SinkError> {
        Ok(None)
    }
    async fn write(&self, _batch: haul::sink::Batch<'_>) -> Result<(), haul::SinkError> {
        Err(haul::SinkError::Usage("the disk is full".into()))
    }
    async fn watermark(&self, _s: &str, _p: &str) -> Result<Option<String>, haul::SinkError> {
        Ok(None)
    }
}

#[tokio::test]
async fn a_failed_commit_after_a_failure_reports_both_errors() {
    let dataset = Dataset::generate(7, 500);
    let server = serve(&dataset).await;
    let extractor = builder(&server, "/items?fail_at=4&fail_status=400")
        .batch_size(100 * PAGE as usize)
        .build()
        .unwrap();
    let error = extractor.run(&BrokenSink).await.unwrap_err();
    match &error {
        ExtractError::CommitAfterFailure { original, commit } => {
            // The original failure is kept as it was, not replaced by the commit's.
            assert!(
                matches!(original.as_ref(), ExtractError::Http { status, .. } if *status == 400),
                "{original:?}"
            );
            assert!(commit.to_string().contains("the disk is full"), "{commit}");
        }
        other => panic!("expected both errors, got {other:?}"),
    }
    let text = error.to_string();
    assert!(
        text.contains("400") && text.contains("the disk is full"),
        "{text}"
    );
}

// ---------------------------------------------------------------------------
// 5. graceful stop
// ---------------------------------------------------------------------------

/// Fires `stop` once page `at` has been fetched.
struct StopAfter {
    at: u64,
    stop: Arc<Notify>,
}

impl Observer for StopAfter {
    fn on_event(&self, event: &Event<'_>) {
        if let Event::PageFetched { number, .. } = event
            && *number == self.at
        {
            self.stop.notify_one();
        }
    }
}

#[tokio::test]
async fn a_graceful_stop_commits_what_was_fetched_and_the_rerun_completes_once() {
    let dataset = Dataset::generate(8, 1000);
    let n = 1000 / PAGE;
    let server = serve(&dataset).await;
    let dir = tempfile::tempdir().unwrap();
    let stop_after = 5u64;
    for kind in [Kind::Sqlite, Kind::Jsonl] {
        let out = kind.out(dir.path());
        let sink = kind.sink(&out);
        let stop = Arc::new(Notify::new());
        let extractor = builder(&server, "/items")
            // Batches of 3 pages: at the stop, pages 4-5 are not committed yet.
            .batch_size(3 * PAGE as usize)
            .observer(StopAfter {
                at: stop_after,
                stop: Arc::clone(&stop),
            })
            .build()
            .unwrap();
        let start = server.stats().requests;
        let signal = Arc::clone(&stop);
        let error = extractor
            .run_until(sink.as_ref(), async move { signal.notified().await })
            .await
            .unwrap_err();
        let ExtractError::Interrupted { pages, summary } = &error else {
            panic!("{kind:?}: expected Interrupted, got {error:?}");
        };
        let pages = *pages;
        assert!(pages >= stop_after, "{kind:?}: stopped after {pages} pages");
        assert_eq!((summary.pages, summary.finished), (pages, false));
        assert!(error.to_string().contains("resume"), "{error}");
        let stopped = server.stats().requests;
        assert_eq!(
            stopped - start,
            pages,
            "{kind:?}: the page in flight was finished, no more"
        );

        // Everything fetched was committed, the uncommitted batch included.
        let checkpoint = kind.checkpoint(&out).await.expect("a checkpoint");
        assert_eq!(
            (checkpoint.pages, checkpoint.records),
            (pages, pages * PAGE)
        );
        assert!(!checkpoint.is_done());
        let committed = (pages * PAGE) as usize;
        assert_exactly(
            &kind.records(&out).await,
            &dataset.records()[..committed],
            kind.arg(),
        );

        // The rerun (no stop this time) continues and completes exactly once.
        let rerun = builder(&server, "/items")
            .batch_size(3 * PAGE as usize)
            .build()
            .unwrap();
        let summary = rerun.run(sink.as_ref()).await.unwrap();
        assert!(summary.finished);
        assert_eq!(summary.resumed_after_page, pages);
        assert_eq!(server.stats().requests - stopped, n - pages);
        assert_exactly(&kind.records(&out).await, dataset.records(), kind.arg());
        assert!(kind.checkpoint(&out).await.unwrap().is_done());
    }
}
