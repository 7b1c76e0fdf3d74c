//! The laws every table-backed [`Sink`] keeps, as checks a sink's own tests
//! run against a real destination (feature `testing`).
//!
//! A sink crate implements [`Destination`] for its storage and calls
//! [`check_all`] from a test; each law uses its own stream names, so one
//! destination serves them all. A broken law panics with what went wrong.
//! Records are compared as JSON values (a sink may store them normalised,
//! as PostgreSQL's `jsonb` does), and keyed streams as sets of rows.
//!
//! ```
//! # #[cfg(feature = "sqlite")]
//! # {
//! use haul_sink::laws::{Destination, check_all};
//! use haul_sink::{Sink, SqliteSink, StreamConfig};
//!
//! struct Sqlite(std::path::PathBuf);
//!
//! #[async_trait::async_trait]
//! impl Destination for Sqlite {
//!     async fn sink(&self, streams: &[StreamConfig]) -> Box<dyn Sink> {
//!         let sink = streams.iter().cloned().fold(SqliteSink::open(&self.0).unwrap(), SqliteSink::stream);
//!         Box::new(sink)
//!     }
//!     async fn tagged_records(&self, stream: &str) -> Vec<(String, String)> {
//!         SqliteSink::open(&self.0).unwrap().tagged_records(stream).await.unwrap()
//!     }
//! }
//! # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
//! let dir = tempfile::tempdir()?;
//! check_all(&Sqlite(dir.path().join("laws.db"))).await;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Display;

use async_trait::async_trait;
use haul_core::{Checkpoint, Position, Record, SavedRequest};

use crate::{
    Batch, PartitionBatch, PartitionState, SINGLE_PARTITION, Sink, SinkError, StreamConfig,
};

/// A destination the laws can open handles on and read back.
#[async_trait]
pub trait Destination: Send + Sync {
    /// A new handle on the destination — as a restarted process would open
    /// it — with these stream configurations. Handles share what is stored.
    async fn sink(&self, streams: &[StreamConfig]) -> Box<dyn Sink>;

    /// Every record of `stream` with its partition key, in the order the
    /// sink keeps them (first insertion), as stored JSON text.
    async fn tagged_records(&self, stream: &str) -> Vec<(String, String)>;
}

/// Runs every law against `dest`, panicking at the first one broken.
pub async fn check_all(dest: &dyn Destination) {
    checkpoints_round_trip_across_handles(dest).await;
    keyed_replays_upsert(dest).await;
    composite_keys_distinguish_rows_by_every_part(dest).await;
    a_batch_missing_a_key_writes_nothing(dest).await;
    watermarks_compare_numbers_numerically_and_text_as_text(dest).await;
    append_only_mid_pass_replay_is_not_duplicated(dest).await;
    registered_partitions_commit_with_the_batch_or_not_at_all(dest).await;
    for seed in 1..=12 {
        every_record_of_every_partition_arrives_once(dest, seed).await;
    }
    unsafe_names_are_refused(dest).await;
}

fn ok<T, E: Display>(result: Result<T, E>, what: &str) -> T {
    result.unwrap_or_else(|e| panic!("{what}: {e}"))
}

fn rec(json: &str) -> Record {
    ok(Record::from_json(json), "a law's record")
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

/// JSON text in one canonical form: object keys sorted, no whitespace.
fn canonical(json: &str) -> String {
    fn sort(v: serde_json::Value) -> serde_json::Value {
        match v {
            serde_json::Value::Object(map) => {
                let sorted: BTreeMap<String, serde_json::Value> =
                    map.into_iter().map(|(k, v)| (k, sort(v))).collect();
                serde_json::Value::Object(sorted.into_iter().collect())
            }
            serde_json::Value::Array(items) => {
                serde_json::Value::Array(items.into_iter().map(sort).collect())
            }
            other => other,
        }
    }
    let value: serde_json::Value = ok(serde_json::from_str(json), "a stored record");
    sort(value).to_string()
}

async fn stored(dest: &dyn Destination, stream: &str) -> Vec<String> {
    dest.tagged_records(stream)
        .await
        .into_iter()
        .map(|(_, json)| canonical(&json))
        .collect()
}

async fn stored_set(dest: &dyn Destination, stream: &str) -> BTreeSet<String> {
    stored(dest, stream).await.into_iter().collect()
}

fn set(records: &[&str]) -> BTreeSet<String> {
    records.iter().map(|r| canonical(r)).collect()
}

async fn write(
    sink: &dyn Sink,
    records: &[Record],
    checkpoint: &Checkpoint,
) -> Result<(), SinkError> {
    sink.write(Batch {
        stream: &checkpoint.stream,
        records,
        checkpoint,
    })
    .await
}

/// `open` returns the last committed checkpoint, every field intact, from
/// any later handle; a stream never written has none.
pub async fn checkpoints_round_trip_across_handles(dest: &dyn Destination) {
    let stream = "law_checkpoint";
    let rich = Checkpoint {
        stream: stream.into(),
        position: Position::Next(SavedRequest {
            method: "POST".into(),
            url: "https://api.example.com/items?cursor=c%202&limit=100".into(),
            body: Some(r#"{"query":"{ items }"}"#.into()),
            retry_non_idempotent: true,
        }),
        pages: 7,
        records: 700,
        lower_bound: Some("2026-01-01T00:00:00Z".into()),
        paginator: serde_json::json!({"offset": 700, "seen": ["a", "b"]}),
    };
    {
        let sink = dest.sink(&[]).await;
        assert_eq!(ok(sink.open(stream).await, "open"), None);
        for page in 1..=3 {
            let records = [rec(&format!(r#"{{"id":{page}}}"#))];
            ok(
                write(&*sink, &records, &cp(stream, page, false)).await,
                "write",
            );
        }
        ok(write(&*sink, &[rec(r#"{"id":4}"#)], &rich).await, "write");
        // Dropped without close, like a killed process.
    }
    let sink = dest.sink(&[]).await;
    assert_eq!(ok(sink.open(stream).await, "reopen"), Some(rich));
    assert_eq!(stored(dest, stream).await.len(), 4);
    assert_eq!(ok(sink.open("law_never_written").await, "open"), None);
    ok(sink.close().await, "close");
}

/// A keyed stream holds one row per key, with its last version, however
/// often a batch is replayed.
pub async fn keyed_replays_upsert(dest: &dyn Destination) {
    let stream = "law_keyed";
    let sink = dest.sink(&[StreamConfig::new(stream)]).await;
    ok(sink.open(stream).await, "open");
    let first = [rec(r#"{"id":2,"v":"a"}"#), rec(r#"{"id":1,"v":"a"}"#)];
    ok(write(&*sink, &first, &cp(stream, 1, false)).await, "write");
    ok(write(&*sink, &first, &cp(stream, 1, false)).await, "replay");
    // Within one batch too, the last version of a key wins.
    let second = [
        rec(r#"{"id":1,"v":"b"}"#),
        rec(r#"{"id":3,"v":"a"}"#),
        rec(r#"{"id":3,"v":"b"}"#),
    ];
    ok(write(&*sink, &second, &cp(stream, 2, true)).await, "write");
    ok(write(&*sink, &second, &cp(stream, 2, true)).await, "replay");
    assert_eq!(
        stored_set(dest, stream).await,
        set(&[
            r#"{"id":2,"v":"a"}"#,
            r#"{"id":1,"v":"b"}"#,
            r#"{"id":3,"v":"b"}"#
        ])
    );
    assert_eq!(stored(dest, stream).await.len(), 3);
    assert_eq!(
        ok(sink.open(stream).await, "open"),
        Some(cp(stream, 2, true))
    );
}

/// A composite key tells rows apart by every part.
pub async fn composite_keys_distinguish_rows_by_every_part(dest: &dyn Destination) {
    let stream = "law_orders";
    let config = StreamConfig::new(stream).primary_key(["/shop", "/order/id"]);
    let sink = dest.sink(&[config]).await;
    ok(sink.open(stream).await, "open");
    let batch = [
        rec(r#"{"shop":"a","order":{"id":1},"v":1}"#),
        rec(r#"{"shop":"b","order":{"id":1},"v":1}"#),
        rec(r#"{"shop":"a","order":{"id":2},"v":1}"#),
        rec(r#"{"shop":"a","order":{"id":1},"v":2}"#),
    ];
    ok(write(&*sink, &batch, &cp(stream, 1, true)).await, "write");
    assert_eq!(
        stored_set(dest, stream).await,
        set(&[
            r#"{"shop":"a","order":{"id":1},"v":2}"#,
            r#"{"shop":"b","order":{"id":1},"v":1}"#,
            r#"{"shop":"a","order":{"id":2},"v":1}"#,
        ])
    );
}

/// A record lacking its key fails the whole batch with
/// [`SinkError::MissingKey`]: no record of it and not its checkpoint.
pub async fn a_batch_missing_a_key_writes_nothing(dest: &dyn Destination) {
    let stream = "law_missing_key";
    let sink = dest.sink(&[]).await;
    ok(sink.open(stream).await, "open");
    let good = [rec(r#"{"id":1}"#), rec(r#"{"id":2}"#)];
    ok(write(&*sink, &good, &cp(stream, 1, false)).await, "write");
    let bad = [rec(r#"{"id":3}"#), rec(r#"{"no_id":true}"#)];
    let err = write(&*sink, &bad, &cp(stream, 2, false)).await;
    assert!(
        matches!(err, Err(SinkError::MissingKey { .. })),
        "a keyless record must fail the batch, got {err:?}"
    );
    assert_eq!(
        stored_set(dest, stream).await,
        set(&[r#"{"id":1}"#, r#"{"id":2}"#])
    );
    assert_eq!(
        ok(sink.open(stream).await, "open"),
        Some(cp(stream, 1, false))
    );
}

/// The watermark is the maximum of a field: numbers numerically, RFC 3339
/// text as text, per stream and per partition, with or without a
/// configured watermark column; `None` for an empty stream or a missing field.
pub async fn watermarks_compare_numbers_numerically_and_text_as_text(dest: &dyn Destination) {
    for (stream, config) in [
        (
            "law_wm_indexed",
            StreamConfig::new("law_wm_indexed").watermark("/n"),
        ),
        ("law_wm_scanned", StreamConfig::new("law_wm_scanned")),
    ] {
        let sink = dest.sink(&[config]).await;
        ok(sink.open(stream).await, "open");
        assert_eq!(ok(sink.watermark(stream, "/n").await, "watermark"), None);
        let batch: Vec<Record> = [9, 10, 2]
            .iter()
            .map(|n| {
                rec(&format!(
                    r#"{{"id":{n},"n":{n},"t":"2026-01-{n:02}T00:00:00Z"}}"#
                ))
            })
            .collect();
        ok(
            sink.write_partition(PartitionBatch {
                stream,
                partition: "p=1",
                values: &BTreeMap::new(),
                records: &batch,
                checkpoint: &cp(stream, 1, false),
                register: &[],
            })
            .await,
            "write",
        );
        let other = [rec(r#"{"id":100,"n":100,"t":"2025-12-31T00:00:00Z"}"#)];
        ok(write(&*sink, &other, &cp(stream, 1, false)).await, "write");
        let wm = |pointer: &'static str| sink.watermark(stream, pointer);
        assert_eq!(
            ok(wm("/n").await, "watermark").as_deref(),
            Some("100"),
            "{stream}"
        );
        assert_eq!(
            ok(wm("/t").await, "watermark").as_deref(),
            Some("2026-01-10T00:00:00Z"),
            "{stream}"
        );
        assert_eq!(ok(wm("/missing").await, "watermark"), None, "{stream}");
        assert_eq!(
            ok(
                sink.partition_watermark(stream, "p=1", "/n").await,
                "watermark"
            )
            .as_deref(),
            Some("10"),
            "{stream}"
        );
        assert_eq!(
            ok(
                sink.partition_watermark(stream, "p=2", "/n").await,
                "watermark"
            ),
            None,
            "{stream}"
        );
    }
}

/// An append-only stream keeps every record in order, and a batch that did
/// commit mid-pass, replayed, is not written twice.
pub async fn append_only_mid_pass_replay_is_not_duplicated(dest: &dyn Destination) {
    let stream = "law_append";
    let sink = dest.sink(&[StreamConfig::new(stream).append_only()]).await;
    ok(sink.open(stream).await, "open");
    let first = [rec(r#"{"e":1}"#), rec(r#"{"e":1}"#), rec(r#"{"e":2}"#)];
    ok(write(&*sink, &first, &cp(stream, 1, false)).await, "write");
    ok(write(&*sink, &first, &cp(stream, 1, false)).await, "replay");
    let second = [rec(r#"{"e":3}"#)];
    ok(write(&*sink, &second, &cp(stream, 2, true)).await, "write");
    let expected: Vec<String> = [r#"{"e":1}"#, r#"{"e":1}"#, r#"{"e":2}"#, r#"{"e":3}"#]
        .iter()
        .map(|r| canonical(r))
        .collect();
    assert_eq!(stored(dest, stream).await, expected);
    assert_eq!(
        ok(sink.open(stream).await, "open"),
        Some(cp(stream, 2, true))
    );
}

fn values(key: &str) -> BTreeMap<String, String> {
    BTreeMap::from([("org".to_owned(), key.to_owned())])
}

async fn write_part(
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

fn part_record(partition: &str, i: usize) -> Record {
    rec(&format!(
        r#"{{"id":"{partition}-{i}","n":{i},"t":"2026-01-{:02}T00:00:00Z"}}"#,
        i % 28 + 1
    ))
}

/// Partitions a parent's batch registers commit with it, or not at all;
/// state alone (a run marker) needs no table.
pub async fn registered_partitions_commit_with_the_batch_or_not_at_all(dest: &dyn Destination) {
    let sink = dest.sink(&[]).await;
    let (parent, children) = ("law_orgs", "law_repos");
    ok(sink.open_partition(parent, SINGLE_PARTITION).await, "open");
    let child = |org: &str| PartitionState {
        stream: children.into(),
        partition: format!("org={org}"),
        values: values(org),
        checkpoint: Checkpoint::start(children),
    };
    let parents = [part_record("o", 1), part_record("o", 2)];
    let next = cp(parent, 1, false);
    let both = [child("a"), child("b")];
    ok(
        write_part(&*sink, parent, SINGLE_PARTITION, &parents, &next, &both).await,
        "write",
    );
    assert_eq!(
        ok(sink.partitions(children).await, "partitions"),
        both.to_vec()
    );
    let bad = [rec(r#"{"no_id":1}"#)];
    let err = write_part(&*sink, parent, SINGLE_PARTITION, &bad, &next, &[child("c")]).await;
    assert!(matches!(err, Err(SinkError::MissingKey { .. })), "{err:?}");
    assert_eq!(ok(sink.partitions(children).await, "partitions").len(), 2);
    let marker = PartitionState {
        stream: "law_connector".into(),
        partition: "run".into(),
        values: BTreeMap::new(),
        checkpoint: cp("law_connector", 0, true),
    };
    ok(
        sink.write_state(std::slice::from_ref(&marker)).await,
        "write_state",
    );
    assert_eq!(
        ok(sink.partitions("law_connector").await, "partitions"),
        vec![marker]
    );
}

/// A small deterministic generator, so the plans need no property-test crate.
struct Plan(u64);

impl Plan {
    fn next(&mut self, below: usize) -> usize {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % below.max(1)
    }
}

/// Pages of several partitions, interleaved in a seed-determined order
/// with some batches replayed: every record of every partition arrives
/// once, tagged with its partition, and each partition keeps its own
/// checkpoint, values and watermark.
pub async fn every_record_of_every_partition_arrives_once(dest: &dyn Destination, seed: u64) {
    let stream = format!("law_parts_{seed}");
    let stream = stream.as_str();
    let mut plan = Plan(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let page = 1 + plan.next(6);
    let parts: BTreeMap<String, usize> = (0..1 + plan.next(5))
        .map(|i| (format!("p{i}.k={}", plan.next(100)), plan.next(30)))
        .collect();
    let sink = dest.sink(&[]).await;
    let mut queues: Vec<(String, Vec<Vec<Record>>)> = parts
        .iter()
        .map(|(key, &n)| {
            let recs: Vec<Record> = (0..n).map(|i| part_record(key, i)).collect();
            (
                key.clone(),
                recs.chunks(page).map(<[Record]>::to_vec).collect(),
            )
        })
        .collect();
    for (key, _) in &queues {
        assert_eq!(ok(sink.open_partition(stream, key).await, "open"), None);
    }
    let mut written: BTreeMap<String, u64> = BTreeMap::new();
    while queues.iter().any(|(_, q)| !q.is_empty()) {
        let live: Vec<usize> = (0..queues.len())
            .filter(|&i| !queues[i].1.is_empty())
            .collect();
        let pick = live[plan.next(live.len())];
        let replay = plan.next(5) == 0;
        let (key, pages) = &mut queues[pick];
        let batch = pages.remove(0);
        let n = written.entry(key.clone()).or_default();
        *n += 1;
        let checkpoint = cp(stream, *n, pages.is_empty());
        ok(
            write_part(&*sink, stream, key, &batch, &checkpoint, &[]).await,
            "write",
        );
        if replay {
            ok(
                write_part(&*sink, stream, key, &batch, &checkpoint, &[]).await,
                "replay",
            );
        }
    }
    let mut got: Vec<(String, String)> = dest
        .tagged_records(stream)
        .await
        .into_iter()
        .map(|(p, json)| (p, canonical(&json)))
        .collect();
    let mut expected: Vec<(String, String)> = parts
        .iter()
        .flat_map(|(key, &n)| {
            (0..n).map(move |i| (key.clone(), canonical(part_record(key, i).as_str())))
        })
        .collect();
    got.sort();
    expected.sort();
    assert_eq!(got, expected, "seed {seed}");
    let listed = ok(sink.partitions(stream).await, "partitions");
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
            ok(sink.open_partition(stream, &state.partition).await, "open"),
            Some(state.checkpoint.clone())
        );
        let max = ok(
            sink.partition_watermark(stream, &state.partition, "/n")
                .await,
            "watermark",
        );
        assert_eq!(max, Some((n - 1).to_string()), "{}", state.partition);
    }
    assert_eq!(
        ok(sink.open_partition(stream, SINGLE_PARTITION).await, "open"),
        None
    );
}

/// Stream names and partition keys that could escape a table or a path are
/// refused with [`SinkError::Usage`] before anything is written.
pub async fn unsafe_names_are_refused(dest: &dyn Destination) {
    let sink = dest.sink(&[]).await;
    for stream in ["../etc", "", "a b", "x\"y", "_haul_state"] {
        let err = sink.open(stream).await;
        assert!(
            matches!(err, Err(SinkError::Usage(_))),
            "{stream:?}: {err:?}"
        );
    }
    let err = sink.open_partition("law_names", "../x").await;
    assert!(matches!(err, Err(SinkError::Usage(_))), "{err:?}");
}
