//! Property: whatever the batches and wherever a crash strikes — before a
//! commit (a torn or uncommitted tail) or after it but before the caller saw
//! the acknowledgement — a run that reopens the sink and resumes from the
//! checkpoint `open` returns ends with every record exactly once. Keyed SQLite
//! streams must also absorb a blind replay of the last committed batch.

use std::io::Write;
use std::path::Path;

use haul_core::{Checkpoint, Record};
use haul_sink::{Batch, JsonLinesSink, Sink, SqliteSink, StreamConfig};
use proptest::prelude::*;

const STREAM: &str = "items";

/// What happens right after batch `i` is handed to the sink.
#[derive(Debug, Clone, Copy)]
enum Crash {
    /// Nothing: the write is acknowledged.
    None,
    /// The process dies mid-write: part of the batch reaches the disk uncommitted.
    BeforeCommit,
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
        1 => Just(Crash::BeforeCommit),
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

/// Leaves what a process killed mid-write leaves: for JSON Lines, the first
/// records and a torn line past the committed offset; for SQLite, rows
/// inserted in a transaction that never commits.
fn torn_write(kind: Kind, dir: &Path, records: &[Record]) {
    let half = &records[..records.len() / 2];
    match kind {
        Kind::Jsonl => {
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(dir.join(format!("{STREAM}.jsonl")))
                .unwrap();
            for r in half {
                writeln!(f, "{}", r.as_str()).unwrap();
            }
            f.write_all(br#"{"id":99999,"tor"#).unwrap();
        }
        Kind::SqliteKeyed | Kind::SqliteAppend => {
            let mut conn = rusqlite::Connection::open(dir.join("haul.db")).unwrap();
            let tx = conn.transaction().unwrap();
            for r in half {
                if kind == Kind::SqliteKeyed {
                    let id = r.field("/id").unwrap().unwrap();
                    tx.execute(
                        "INSERT OR REPLACE INTO items (id, _record) VALUES (?1, ?2)",
                        (id, r.as_str()),
                    )
                    .unwrap();
                } else {
                    tx.execute("INSERT INTO items (_record) VALUES (?1)", [r.as_str()])
                        .unwrap();
                }
            }
            drop(tx); // never committed
        }
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
        let committed = matches!(crash, Crash::AfterCommit);
        if committed {
            sink.write(batch).await.unwrap();
        }
        drop(sink);
        if !committed {
            torn_write(kind, dir.path(), &batches[next]);
        }
        // Restart: reopen and resume from the committed checkpoint.
        sink = new_sink(kind, dir.path());
        let resumed = sink
            .open(STREAM)
            .await
            .unwrap()
            .map_or(0, |c| c.pages as usize);
        assert_eq!(resumed, if committed { next + 1 } else { next });
        if committed && kind == Kind::SqliteKeyed {
            // A careless caller replays the committed batch anyway.
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
