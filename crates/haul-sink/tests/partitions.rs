//! Per-(stream, partition) state: records of every partition share the
//! stream's table, tagged with their partition; checkpoints, values and
//! watermarks are kept per partition; registered partitions commit with
//! the batch that registers them.

use std::collections::{BTreeMap, BTreeSet};

use haul_core::{Checkpoint, Position, Record};
use haul_sink::{
    Batch, JsonLinesSink, MemorySink, PartitionBatch, PartitionState, SINGLE_PARTITION, Sink,
    SinkError, SqliteSink, check_partition_key,
};
use proptest::prelude::*;

fn values(key: &str) -> BTreeMap<String, String> {
    BTreeMap::from([("org".to_owned(), key.to_owned())])
}

fn cp(stream: &str, pages: u64, done: bool) -> Checkpoint {
    Checkpoint {
        pages,
        position: if done {
            Position::Done
        } else {
            Position::Start
        },
        ..Checkpoint::start(stream)
    }
}

fn record(partition: &str, i: usize) -> Record {
    Record::from_json(&format!(
        r#"{{"id":"{partition}-{i}","n":{i},"t":"2026-01-{:02}T00:00:00Z"}}"#,
        i % 28 + 1
    ))
    .unwrap()
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Memory,
    Sqlite,
    /// Appends without a key: exactly-once rests on checkpoints alone.
    Jsonl,
}

const KINDS: [Kind; 3] = [Kind::Memory, Kind::Sqlite, Kind::Jsonl];

fn sink(kind: Kind, dir: &std::path::Path) -> Box<dyn Sink> {
    match kind {
        Kind::Memory => Box::new(MemorySink::with_primary_key("/id")),
        Kind::Sqlite => Box::new(SqliteSink::open_in_memory().unwrap()),
        Kind::Jsonl => Box::new(JsonLinesSink::new(dir).fsync(false)),
    }
}

/// The records of a JSON Lines stream with their partition keys: the key
/// field a named partition's lines start with is taken off again, so each
/// record reads as it was sent.
fn jsonl_tagged(dir: &std::path::Path, stream: &str) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(dir.join(format!("{stream}.jsonl"))).unwrap_or_default();
    text.lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            match v.get(JsonLinesSink::PARTITION_FIELD) {
                None => (String::new(), line.to_owned()),
                Some(key) => {
                    let key = key.as_str().unwrap().to_owned();
                    let prefix = format!("{{\"_partition\":\"{key}\"");
                    let rest = line.strip_prefix(&prefix).unwrap();
                    let rest = rest.strip_prefix(',').unwrap_or(rest);
                    (key, format!("{{{rest}"))
                }
            }
        })
        .collect()
}

async fn write(
    sink: &dyn Sink,
    stream: &str,
    partition: &str,
    records: &[Record],
    checkpoint: &Checkpoint,
    register: &[PartitionState],
) -> Result<(), SinkError> {
    sink.write_partition(PartitionBatch {
        stream,
        partition,
        values: &values(partition),
        records,
        checkpoint,
        register,
    })
    .await
}

/// One plan: partitions (key → number of records) and the page size; pages
/// of different partitions are interleaved in a seed-determined order and
/// some batches are replayed (as after a crash between commit and ack).
fn plans() -> impl Strategy<Value = (BTreeMap<String, usize>, usize, Vec<u8>)> {
    (
        prop::collection::btree_map("[a-z][a-z0-9_.=-]{0,12}", 0usize..30, 1..6),
        1usize..7,
        prop::collection::vec(any::<u8>(), 64),
    )
}

async fn run_plan(kind: Kind, parts: &BTreeMap<String, usize>, page: usize, order: &[u8]) {
    let stream = "events";
    let dir = tempfile::tempdir().unwrap();
    let mem = MemorySink::with_primary_key("/id");
    let sql = SqliteSink::open_in_memory().unwrap();
    let jsonl = JsonLinesSink::new(dir.path()).fsync(false);
    let sink: &dyn Sink = match kind {
        Kind::Memory => &mem,
        Kind::Sqlite => &sql,
        Kind::Jsonl => &jsonl,
    };
    // Pages of each partition, in order.
    let mut queues: Vec<(String, Vec<Vec<Record>>)> = parts
        .iter()
        .map(|(key, &n)| {
            let recs: Vec<Record> = (0..n).map(|i| record(key, i)).collect();
            (
                key.clone(),
                recs.chunks(page).map(<[Record]>::to_vec).collect(),
            )
        })
        .collect();
    for (key, _) in &queues {
        assert_eq!(sink.open_partition(stream, key).await.unwrap(), None);
    }
    let mut written: BTreeMap<String, u64> = BTreeMap::new();
    let mut turn = 0usize;
    while queues.iter().any(|(_, q)| !q.is_empty()) {
        let live: Vec<usize> = (0..queues.len())
            .filter(|&i| !queues[i].1.is_empty())
            .collect();
        let pick = live[usize::from(order[turn % order.len()]) % live.len()];
        let replay = order[(turn * 7 + 3) % order.len()].is_multiple_of(5);
        turn += 1;
        let (key, pages) = &mut queues[pick];
        let batch = pages.remove(0);
        let n = written.entry(key.clone()).or_default();
        *n += 1;
        let checkpoint = cp(stream, *n, pages.is_empty());
        write(sink, stream, key, &batch, &checkpoint, &[])
            .await
            .unwrap();
        // A replay of a pass's final batch cannot be told from a new pass
        // that ends the same way: only keyed sinks absorb it.
        if replay && (kind != Kind::Jsonl || !checkpoint.is_done()) {
            write(sink, stream, key, &batch, &checkpoint, &[])
                .await
                .unwrap();
        }
    }
    let stored: Vec<(String, String)> = match kind {
        Kind::Memory => mem
            .tagged_records(stream)
            .into_iter()
            .map(|(p, r)| (p, r.as_str().to_owned()))
            .collect(),
        Kind::Sqlite => sql.tagged_records(stream).await.unwrap(),
        Kind::Jsonl => jsonl_tagged(dir.path(), stream),
    };
    // Every record of every partition exactly once, tagged with its partition.
    let mut expected: Vec<(String, String)> = parts
        .iter()
        .flat_map(|(key, &n)| {
            (0..n).map(move |i| (key.clone(), record(key, i).as_str().to_owned()))
        })
        .collect();
    let mut got = stored.clone();
    expected.sort();
    got.sort();
    assert_eq!(got, expected);
    // Each partition's own checkpoint, values and watermark.
    let listed = sink.partitions(stream).await.unwrap();
    let nonempty: BTreeSet<&String> = parts
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(k, _)| k)
        .collect();
    assert_eq!(
        listed.iter().map(|s| &s.partition).collect::<BTreeSet<_>>(),
        nonempty
    );
    for state in &listed {
        let n = parts[&state.partition];
        assert_eq!(state.values, values(&state.partition));
        assert!(state.checkpoint.is_done());
        assert_eq!(state.checkpoint.pages, n.div_ceil(page) as u64);
        assert_eq!(
            sink.open_partition(stream, &state.partition).await.unwrap(),
            Some(state.checkpoint.clone())
        );
        let max = sink
            .partition_watermark(stream, &state.partition, "/n")
            .await
            .unwrap();
        assert_eq!(max, Some((n - 1).to_string()), "{}", state.partition);
    }
    // The single partition was never written.
    assert_eq!(
        sink.open_partition(stream, SINGLE_PARTITION).await.unwrap(),
        None
    );
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn every_record_of_every_partition_arrives_once_tagged_with_its_partition(
        (parts, page, order) in plans()
    ) {
        for kind in KINDS {
            runtime().block_on(run_plan(kind, &parts, page, &order));
        }
    }

    #[test]
    fn partition_keys_accept_only_safe_text(key in ".{0,24}") {
        if check_partition_key(&key).is_ok() {
            prop_assert!(!key.contains(['/', '\\', '\'', '"', ' ', ':', '\0']));
            prop_assert!(!key.starts_with('.'));
        }
    }
}

#[tokio::test]
async fn registered_partitions_commit_with_the_batch_or_not_at_all() {
    for kind in KINDS {
        let dir = tempfile::tempdir().unwrap();
        let sink = sink(kind, dir.path());
        sink.open_partition("orgs", SINGLE_PARTITION).await.unwrap();
        let child = |org: &str| PartitionState {
            stream: "repos".into(),
            partition: format!("org={org}"),
            values: values(org),
            checkpoint: Checkpoint::start("repos"),
        };
        let parents = [record("o", 1), record("o", 2)];
        let done = cp("orgs", 1, false);
        write(
            &*sink,
            "orgs",
            SINGLE_PARTITION,
            &parents,
            &done,
            &[child("a"), child("b")],
        )
        .await
        .unwrap();
        let listed = sink.partitions("repos").await.unwrap();
        assert_eq!(listed, vec![child("a"), child("b")]);
        // A batch that fails (a record without its key, or that cannot carry
        // its partition key) registers nothing.
        let (bad, expected_error): (Record, fn(&SinkError) -> bool) = match kind {
            Kind::Jsonl => (Record::from_json("[1]").unwrap(), |e| {
                matches!(e, SinkError::Usage(_))
            }),
            _ => (Record::from_json(r#"{"no_id":1}"#).unwrap(), |e| {
                matches!(e, SinkError::MissingKey { .. })
            }),
        };
        let err = write(&*sink, "orgs", "org=x", &[bad], &done, &[child("c")])
            .await
            .unwrap_err();
        assert!(expected_error(&err), "{kind:?}: {err}");
        assert_eq!(sink.partitions("repos").await.unwrap().len(), 2);
        // State alone (a run marker) needs no table.
        let marker = PartitionState {
            stream: "connector".into(),
            partition: "run".into(),
            values: BTreeMap::new(),
            checkpoint: cp("connector", 0, true),
        };
        sink.write_state(std::slice::from_ref(&marker))
            .await
            .unwrap();
        assert_eq!(sink.partitions("connector").await.unwrap(), vec![marker]);
        // Unsafe keys are refused before anything is written.
        let err = sink.open_partition("repos", "../x").await.unwrap_err();
        assert!(matches!(err, SinkError::Usage(_)), "{err}");
    }
}

#[tokio::test]
async fn an_unpartitioned_stream_keeps_its_state_where_it_was() {
    let sink = SqliteSink::open_in_memory().unwrap();
    sink.open("items").await.unwrap();
    let recs = [record("x", 1)];
    let checkpoint = cp("items", 1, true);
    sink.write(Batch {
        stream: "items",
        records: &recs,
        checkpoint: &checkpoint,
    })
    .await
    .unwrap();
    assert_eq!(
        sink.checkpoint("items").await.unwrap(),
        Some(checkpoint.clone())
    );
    assert_eq!(
        sink.open_partition("items", SINGLE_PARTITION)
            .await
            .unwrap(),
        Some(checkpoint)
    );
    assert!(sink.partitions("items").await.unwrap().is_empty());
    assert_eq!(
        sink.tagged_records("items").await.unwrap(),
        vec![(String::new(), recs[0].as_str().to_owned())]
    );
}

#[tokio::test]
async fn sinks_without_partitions_say_so() {
    let sink = haul_sink::NullSink;
    assert_eq!(
        sink.open_partition("items", SINGLE_PARTITION)
            .await
            .unwrap(),
        None
    );
    let err = sink.open_partition("items", "org=a").await.unwrap_err();
    assert!(matches!(err, SinkError::Unsupported(_)), "{err}");
}

/// A process killed mid-commit leaves the data file with a torn tail, or a
/// registration committed in the registering stream's state file but not
/// yet copied into the registered stream's: a new sink on the same
/// directory cuts the tail and finishes the copy, and every partition
/// resumes from its own checkpoint.
#[tokio::test]
async fn jsonl_partitions_survive_a_torn_tail_and_an_undelivered_registration() {
    let dir = tempfile::tempdir().unwrap();
    let sink = JsonLinesSink::new(dir.path());
    let child = |org: &str| PartitionState {
        stream: "repos".into(),
        partition: format!("org={org}"),
        values: values(org),
        checkpoint: Checkpoint::start("repos"),
    };
    sink.open_partition("orgs", SINGLE_PARTITION).await.unwrap();
    let first = cp("orgs", 1, false);
    write(
        &sink,
        "orgs",
        SINGLE_PARTITION,
        &[record("o", 1)],
        &first,
        &[child("a")],
    )
    .await
    .unwrap();
    sink.open_partition("repos", "org=a").await.unwrap();
    let repos_a = cp("repos", 1, false);
    write(&sink, "repos", "org=a", &[record("a", 1)], &repos_a, &[])
        .await
        .unwrap();
    // The state of `repos` before the next registration reaches it.
    let repos_state = dir.path().join("repos.state.json");
    let before = std::fs::read(&repos_state).unwrap();
    let second = cp("orgs", 2, false);
    write(
        &sink,
        "orgs",
        SINGLE_PARTITION,
        &[record("o", 2)],
        &second,
        &[child("b")],
    )
    .await
    .unwrap();
    drop(sink);
    // The kill: the copy into `repos` never happened, and half a batch of
    // partition `org=a` reached its file uncommitted.
    std::fs::write(&repos_state, before).unwrap();
    let mut data = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.path().join("repos.jsonl"))
        .unwrap();
    std::io::Write::write_all(&mut data, br#"{"_partition":"org=a","id":"a-2","n""#).unwrap();
    drop(data);

    let sink = JsonLinesSink::new(dir.path());
    let listed = sink.partitions("repos").await.unwrap();
    let keys: Vec<&str> = listed.iter().map(|s| s.partition.as_str()).collect();
    assert_eq!(keys, ["org=a", "org=b"]);
    assert_eq!(listed[0].checkpoint, repos_a);
    assert_eq!(listed[1], child("b"));
    assert_eq!(
        sink.open_partition("repos", "org=a").await.unwrap(),
        Some(repos_a)
    );
    assert_eq!(sink.open("orgs").await.unwrap(), Some(second));
    assert_eq!(
        jsonl_tagged(dir.path(), "repos"),
        vec![("org=a".to_owned(), record("a", 1).as_str().to_owned())]
    );
    // The resumed partition goes on where it stopped.
    write(
        &sink,
        "repos",
        "org=a",
        &[record("a", 2)],
        &cp("repos", 2, true),
        &[],
    )
    .await
    .unwrap();
    assert_eq!(
        sink.partition_watermark("repos", "org=a", "/n")
            .await
            .unwrap(),
        Some("2".to_owned())
    );
    assert_eq!(
        sink.partition_watermark("repos", "org=b", "/n")
            .await
            .unwrap(),
        None
    );
}
