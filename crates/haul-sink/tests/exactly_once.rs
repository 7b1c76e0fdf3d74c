//! Property: whatever the batches and wherever a crash strikes — a child
//! process `SIGKILL`ed while it writes a batch (a torn or uncommitted tail,
//! or a commit that landed just before the kill), or a commit the caller
//! never saw acknowledged — a run that reopens the sink and resumes from the
//! checkpoint `open` returns ends with every record exactly once. Every sink
//! mode must also absorb a blind replay of the batch it last committed.
//!
//! The child is this test binary itself, re-run on [`crash_child`] with the
//! batch to write in its environment (as the end-to-end durability tests
//! kill `haul-crash-child`).

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use haul_core::{Checkpoint, Record};
use haul_sink::{Batch, JsonLinesSink, Sink, SqliteSink, StreamConfig};
use proptest::prelude::*;

const STREAM: &str = "items";

/// What happens right after batch `i` is handed to the sink.
#[derive(Debug, Clone, Copy)]
enum Crash {
    /// Nothing: the write is acknowledged.
    None,
    /// A child process writing the batch is killed mid-write: part of the
    /// batch may reach the disk uncommitted (or the commit lands just before).
    Killed,
    /// The process dies after the commit, before the caller saw it.
    AfterCommit,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Jsonl,
    SqliteKeyed,
    SqliteAppend,
}

/// Batches of records; each record has a unique `id` unless it updates an earlier one.
fn batches() -> impl Strategy<Value = Vec<(Vec<u32>, Crash)>> {
    let crash = prop_oneof![
        2 => Just(Crash::None),
        1 => Just(Crash::Killed),
        1 => Just(Crash::AfterCommit),
    ];
    // Each batch: a count of new records and picks of earlier ids to update.
    prop::collection::vec(
        (0usize..12, prop::collection::vec(any::<u32>(), 0..3), crash),
        1..10,
    )
    .prop_map(|spec| {
        let mut next = 0u32;
        spec.into_iter()
            .map(|(fresh, updates, crash)| {
                let mut ids: Vec<u32> = updates
                    .into_iter()
                    .filter(|_| next > 0)
                    .map(|u| u % next.max(1))
                    .collect();
                ids.extend(next..next + fresh as u32);
                next += fresh as u32;
                (ids, crash)
            })
            .collect()
    })
}

fn record(id: u32, batch: usize) -> Record {
    Record::from_json(&format!(r#"{{"id":{id},"batch":{batch},"pad":"x y"}}"#)).unwrap()
}

fn checkpoint(pages: usize) -> Checkpoint {
    Checkpoint {
        pages: pages as u64,
        ..Checkpoint::start(STREAM)
    }
}

fn new_sink(kind: Kind, dir: &Path) -> Box<dyn Sink> {
    match kind {
        Kind::Jsonl => Box::new(JsonLinesSink::new(dir).fsync(false)),
        Kind::SqliteKeyed => Box::new(
            SqliteSink::open(dir.join("haul.db"))
                .unwrap()
                .stream(StreamConfig::new(STREAM).primary_key(["/id"])),
        ),
        Kind::SqliteAppend => Box::new(
            SqliteSink::open(dir.join("haul.db"))
                .unwrap()
                .stream(StreamConfig::new(STREAM).append_only()),
        ),
    }
}

const CHILD_ENV: &str = "HAUL_SINK_CRASH_CHILD";
const WRITING: &str = "haul-sink-child: writing";

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Jsonl => "jsonl",
            Kind::SqliteKeyed => "sqlite-keyed",
            Kind::SqliteAppend => "sqlite-append",
        }
    }

    fn parse(name: &str) -> Kind {
        match name {
            "jsonl" => Kind::Jsonl,
            "sqlite-keyed" => Kind::SqliteKeyed,
            "sqlite-append" => Kind::SqliteAppend,
            other => panic!("unknown kind {other:?}"),
        }
    }
}

/// The child side: when [`CHILD_ENV`] is set, opens the sink, announces the
/// write, writes batch `HAUL_SINK_BATCH` (ids in the file `HAUL_SINK_IDS`) with its
/// checkpoint, then waits on stdin to be killed. A plain test run skips it.
#[test]
fn crash_child() {
    let Ok(kind) = std::env::var(CHILD_ENV) else {
        return;
    };
    let var = |name: &str| std::env::var(name).unwrap();
    let kind = Kind::parse(&kind);
    let dir = std::path::PathBuf::from(var("HAUL_SINK_DIR"));
    let batch: usize = var("HAUL_SINK_BATCH").parse().unwrap();
    let ids = std::fs::read_to_string(var("HAUL_SINK_IDS")).unwrap();
    let records: Vec<Record> = ids
        .split(',')
        .filter(|id| !id.is_empty())
        .map(|id| record(id.parse().unwrap(), batch))
        .collect();
    runtime().block_on(async {
        // JSON Lines with fsync, as by default: the sync after the append
        // is the window in which the parent's kill lands mid-write.
        let sink = match kind {
            Kind::Jsonl => Box::new(JsonLinesSink::new(&dir)),
            _ => new_sink(kind, &dir),
        };
        sink.open(STREAM).await.unwrap();
        let cp = checkpoint(batch + 1);
        println!("{WRITING}");
        sink.write(Batch {
            stream: STREAM,
            records: &records,
            checkpoint: &cp,
        })
        .await
        .unwrap();
        println!("haul-sink-child: committed");
    });
    // Stay alive until the parent's SIGKILL (or its end of stdin).
    let mut line = String::new();
    let _ = std::io::stdin().lock().read_line(&mut line);
}

/// JSON Lines: the data file's bytes past the committed offset.
fn jsonl_tail(dir: &Path) -> u64 {
    let offset = std::fs::read(dir.join(format!("{STREAM}.state.json"))).map_or(0, |bytes| {
        serde_json::from_slice::<serde_json::Value>(&bytes).unwrap()["offset"]
            .as_u64()
            .unwrap()
    });
    let len = std::fs::metadata(dir.join(format!("{STREAM}.jsonl"))).map_or(0, |m| m.len());
    len.saturating_sub(offset)
}

/// Runs [`crash_child`] in a child process writing batch `batch` of
/// `records` into `dir`, and `SIGKILL`s it mid-write: for JSON Lines once
/// the batch's bytes are in the data file (or its commit is over), for
/// SQLite as soon as it announces the write. Returns the JSON Lines bytes
/// left past the committed offset.
fn kill_mid_write(kind: Kind, dir: &Path, batch: usize, records: &[Record]) -> u64 {
    let ids: Vec<String> = records
        .iter()
        .map(|r| r.field("/id").unwrap().unwrap())
        .collect();
    // In a file: 50,000 ids overflow an environment variable.
    let mut ids_file = tempfile::NamedTempFile::new().unwrap();
    ids_file.write_all(ids.join(",").as_bytes()).unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "exactly_once::crash_child", "--nocapture"])
        .args(["--test-threads", "1"])
        .env(CHILD_ENV, kind.name())
        .env("HAUL_SINK_DIR", dir)
        .env("HAUL_SINK_BATCH", batch.to_string())
        .env("HAUL_SINK_IDS", ids_file.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "the child ended before writing"
        );
        // The harness may have printed `test … ... ` on the same line.
        if line.trim_end().ends_with(WRITING) {
            break;
        }
    }
    if kind == Kind::Jsonl {
        let committed = |dir: &Path| std::fs::read(dir.join(format!("{STREAM}.state.json"))).ok();
        let before = committed(dir);
        // A write that changes nothing (a replayed batch the sink skips)
        // leaves neither a tail nor a new commit: the child then waits on
        // stdin, so the wait is bounded and the kill lands after the write.
        let give_up = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while jsonl_tail(dir) == 0
            && committed(dir) == before
            && std::time::Instant::now() < give_up
        {
            if child.try_wait().unwrap().is_some() {
                panic!("the child ended while writing");
            }
            std::thread::yield_now();
        }
    }
    // `Child::kill` is SIGKILL on Unix: no destructor, no flush.
    child.kill().unwrap();
    assert!(!child.wait().unwrap().success());
    if kind == Kind::Jsonl {
        jsonl_tail(dir)
    } else {
        0
    }
}

async fn stored(kind: Kind, dir: &Path) -> Vec<String> {
    match kind {
        Kind::Jsonl => std::fs::read_to_string(dir.join(format!("{STREAM}.jsonl")))
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect(),
        Kind::SqliteKeyed | Kind::SqliteAppend => SqliteSink::open(dir.join("haul.db"))
            .unwrap()
            .records(STREAM)
            .await
            .unwrap(),
    }
}

/// What the destination must hold: every record sent once, in order; for a
/// keyed stream, one row per id holding its last version, at its first position.
fn expected(kind: Kind, batches: &[Vec<Record>]) -> Vec<String> {
    let all = batches.iter().flatten().map(|r| r.as_str().to_owned());
    if kind != Kind::SqliteKeyed {
        return all.collect();
    }
    let mut rows: Vec<(String, String)> = Vec::new();
    for text in all {
        let id = haul_core::json::scalar_at(&text, "/id").unwrap().unwrap();
        match rows.iter_mut().find(|(k, _)| *k == id) {
            Some(row) => row.1 = text,
            None => rows.push((id, text)),
        }
    }
    rows.into_iter().map(|(_, text)| text).collect()
}

async fn run(kind: Kind, plan: &[(Vec<u32>, Crash)]) {
    let dir = tempfile::tempdir().unwrap();
    let batches: Vec<Vec<Record>> = plan
        .iter()
        .enumerate()
        .map(|(b, (ids, _))| ids.iter().map(|&id| record(id, b)).collect())
        .collect();
    let mut crashed = vec![false; plan.len()];
    let mut sink = new_sink(kind, dir.path());
    let mut next = sink
        .open(STREAM)
        .await
        .unwrap()
        .map_or(0, |c| c.pages as usize);
    while next < batches.len() {
        let cp = checkpoint(next + 1);
        let batch = Batch {
            stream: STREAM,
            records: &batches[next],
            checkpoint: &cp,
        };
        let crash = if crashed[next] {
            Crash::None
        } else {
            plan[next].1
        };
        crashed[next] = true;
        if matches!(crash, Crash::None) {
            sink.write(batch).await.unwrap();
            next += 1;
            continue;
        }
        if matches!(crash, Crash::AfterCommit) {
            sink.write(batch).await.unwrap();
        }
        drop(sink);
        if matches!(crash, Crash::Killed) {
            let (d, records) = (dir.path().to_owned(), batches[next].clone());
            let at = next;
            tokio::task::spawn_blocking(move || kill_mid_write(kind, &d, at, &records))
                .await
                .unwrap();
        }
        // Restart: reopen and resume from the committed checkpoint.
        sink = new_sink(kind, dir.path());
        let resumed = sink
            .open(STREAM)
            .await
            .unwrap()
            .map_or(0, |c| c.pages as usize);
        match crash {
            Crash::AfterCommit => assert_eq!(resumed, next + 1),
            // The kill may land just after the commit.
            _ => assert!(resumed == next || resumed == next + 1, "{resumed}"),
        }
        if resumed == next + 1 {
            // A careless caller replays the committed batch anyway: every
            // mode must see that it holds it already.
            sink.write(batch).await.unwrap();
        }
        next = resumed;
    }
    sink.close().await.unwrap();
    drop(sink);
    assert_eq!(stored(kind, dir.path()).await, expected(kind, &batches));
    let reopened = new_sink(kind, dir.path());
    assert_eq!(
        reopened.open(STREAM).await.unwrap(),
        Some(checkpoint(batches.len()))
    );
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

/// The kill really lands mid-write: a large JSON Lines batch leaves bytes
/// past the committed offset, which the next open cuts.
#[test]
fn a_child_killed_mid_write_leaves_a_torn_tail_that_open_drops() {
    let dir = tempfile::tempdir().unwrap();
    let records: Vec<Record> = (0..50_000).map(|id| record(id, 0)).collect();
    let tail = kill_mid_write(Kind::Jsonl, dir.path(), 0, &records);
    assert!(tail > 0, "the kill landed before or after the write");
    runtime().block_on(async {
        let sink = new_sink(Kind::Jsonl, dir.path());
        assert_eq!(sink.open(STREAM).await.unwrap(), None);
    });
    assert_eq!(jsonl_tail(dir.path()), 0);
    assert_eq!(
        std::fs::metadata(dir.path().join(format!("{STREAM}.jsonl")))
            .unwrap()
            .len(),
        0
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn every_record_lands_exactly_once_in_jsonl(plan in batches()) {
        runtime().block_on(run(Kind::Jsonl, &plan));
    }

    #[test]
    fn every_record_lands_exactly_once_in_keyed_sqlite(plan in batches()) {
        runtime().block_on(run(Kind::SqliteKeyed, &plan));
    }

    #[test]
    fn every_record_lands_exactly_once_in_append_only_sqlite(plan in batches()) {
        runtime().block_on(run(Kind::SqliteAppend, &plan));
    }
}
