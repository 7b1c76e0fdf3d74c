//! Sink commit semantics.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;

use haul_core::{Checkpoint, Record};
use haul_sink::{Batch, JsonLinesSink, MemorySink, Sink, SinkError};

fn recs(ids: std::ops::Range<u32>) -> Vec<Record> {
    ids.map(|i| {
        Record::from_json(&format!(r#"{{"id":{i},"t":"2026-01-{:02}"}}"#, i % 28 + 1)).unwrap()
    })
    .collect()
}

fn cp(pages: u64) -> Checkpoint {
    Checkpoint {
        pages,
        ..Checkpoint::start("items")
    }
}

#[tokio::test]
async fn jsonl_drops_an_uncommitted_tail_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let sink = JsonLinesSink::new(dir.path());
    sink.open("items").await.unwrap();
    let batch = recs(0..3);
    sink.write(Batch {
        stream: "items",
        records: &batch,
        checkpoint: &cp(1),
    })
    .await
    .unwrap();
    // A crash after appending the next batch but before its checkpoint: a torn tail.
    let path = sink.data_path("items");
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    f.write_all(b"{\"id\":3}\n{\"id\":4,\"t\":\"20").unwrap();
    drop(f);

    let reopened = JsonLinesSink::new(dir.path());
    assert_eq!(reopened.open("items").await.unwrap(), Some(cp(1)));
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().count(), 3);
    // Replaying the lost batch now yields each record exactly once.
    let replay = recs(3..5);
    reopened
        .write(Batch {
            stream: "items",
            records: &replay,
            checkpoint: &cp(2),
        })
        .await
        .unwrap();
    let ids: Vec<String> = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(|l| haul_core::json::scalar_at(l, "/id").unwrap().unwrap())
        .collect();
    assert_eq!(ids, ["0", "1", "2", "3", "4"]);
}

#[tokio::test]
async fn jsonl_keeps_one_record_per_line_for_pretty_printed_records() {
    let dir = tempfile::tempdir().unwrap();
    let sink = JsonLinesSink::new(dir.path()).fsync(false);
    sink.open("items").await.unwrap();
    let pretty = vec![Record::from_json("{\n  \"id\": 1,\n  \"s\": \"a\\nb\"\n}").unwrap()];
    sink.write(Batch {
        stream: "items",
        records: &pretty,
        checkpoint: &cp(1),
    })
    .await
    .unwrap();
    let text = std::fs::read_to_string(sink.data_path("items")).unwrap();
    assert_eq!(text.lines().count(), 1);
    let v: serde_json::Value = serde_json::from_str(text.trim_end()).unwrap();
    assert_eq!(v["s"], "a\nb");
}

#[tokio::test]
async fn jsonl_rejects_writes_before_open_and_bad_stream_names() {
    let dir = tempfile::tempdir().unwrap();
    let sink = JsonLinesSink::new(dir.path());
    let err = sink
        .write(Batch {
            stream: "items",
            records: &[],
            checkpoint: &cp(0),
        })
        .await
        .unwrap_err();
    assert!(matches!(err, SinkError::Usage(_)));
    assert!(matches!(
        sink.open("../etc").await,
        Err(SinkError::Usage(_))
    ));
}

#[tokio::test]
async fn jsonl_watermark_is_the_max_of_committed_records() {
    let dir = tempfile::tempdir().unwrap();
    let sink = JsonLinesSink::new(dir.path()).fsync(false);
    sink.open("items").await.unwrap();
    sink.write(Batch {
        stream: "items",
        records: &recs(0..40),
        checkpoint: &cp(1),
    })
    .await
    .unwrap();
    assert_eq!(
        sink.watermark("items", "/id").await.unwrap().as_deref(),
        Some("39")
    );
    assert_eq!(
        sink.watermark("items", "/t").await.unwrap().as_deref(),
        Some("2026-01-28")
    );
    assert_eq!(sink.watermark("items", "/missing").await.unwrap(), None);
}

#[tokio::test]
async fn memory_sink_upserts_by_key_and_rejects_keyless_records_atomically() {
    let sink = MemorySink::with_primary_key("/id");
    sink.open("items").await.unwrap();
    sink.write(Batch {
        stream: "items",
        records: &recs(0..5),
        checkpoint: &cp(1),
    })
    .await
    .unwrap();
    let mut bad = recs(5..7);
    bad.push(Record::from_json(r#"{"no_id":true}"#).unwrap());
    let err = sink
        .write(Batch {
            stream: "items",
            records: &bad,
            checkpoint: &cp(2),
        })
        .await
        .unwrap_err();
    assert!(matches!(err, SinkError::MissingKey { .. }));
    assert_eq!(sink.records("items").len(), 5);
    assert_eq!(sink.checkpoint("items"), Some(cp(1)));
}

#[cfg(feature = "sqlite")]
mod exactly_once;
#[cfg(feature = "sqlite")]
mod laws;
#[cfg(feature = "sqlite")]
mod partitions;
#[cfg(feature = "sqlite")]
mod sqlite;
