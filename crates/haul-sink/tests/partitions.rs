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

enum Kind {
    Memory,
    Sqlite,
}

fn sink(kind: &Kind) -> Box<dyn Sink> {
    match kind {
        Kind::Memory => Box::new(MemorySink::with_primary_key("/id")),
        Kind::Sqlite => Box::new(SqliteSink::open_in_memory().unwrap()),
    }
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
    let mem = MemorySink::with_primary_key("/id");
    let sql = SqliteSink::open_in_memory().unwrap();
    let sink: &dyn Sink = match kind {
        Kind::Memory => &mem,
        Kind::Sqlite => &sql,
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
        if replay {
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
        runtime().block_on(run_plan(Kind::Memory, &parts, page, &order));
        runtime().block_on(run_plan(Kind::Sqlite, &parts, page, &order));
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
    for kind in [Kind::Memory, Kind::Sqlite] {
        let sink = sink(&kind);
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
        // A batch that fails (a record without its key) registers nothing.
        let bad = [Record::from_json(r#"{"no_id":1}"#).unwrap()];
        let err = write(&*sink, "orgs", SINGLE_PARTITION, &bad, &done, &[child("c")])
            .await
            .unwrap_err();
        assert!(matches!(err, SinkError::MissingKey { .. }), "{err}");
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
    let dir = tempfile::tempdir().unwrap();
    let sink = JsonLinesSink::new(dir.path());
    assert_eq!(
        sink.open_partition("items", SINGLE_PARTITION)
            .await
            .unwrap(),
        None
    );
    let err = sink.open_partition("items", "org=a").await.unwrap_err();
    assert!(matches!(err, SinkError::Unsupported(_)), "{err}");
}
