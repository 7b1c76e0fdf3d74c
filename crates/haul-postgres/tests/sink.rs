//! `PostgresSink` beyond the shared laws: replays, dropped connections.

use std::time::Duration;

use haul_core::{Checkpoint, Record};
use haul_sink::{Batch, Sink, SinkError, StreamConfig};

use crate::common::TestDb;

fn records(ids: std::ops::Range<u32>, version: u32) -> Vec<Record> {
    ids.map(|i| {
        Record::from_json(&format!(
            r#"{{"id":{i},"v":{version},"updated_at":"2026-01-{:02}T00:00:00Z","name":"Zoë \"{i}\"\n"}}"#,
            i % 28 + 1
        ))
        .unwrap()
    })
    .collect()
}

fn cp(pages: u64) -> Checkpoint {
    Checkpoint {
        pages,
        ..Checkpoint::start("items")
    }
}

async fn write(
    sink: &dyn Sink,
    records: &[Record],
    checkpoint: &Checkpoint,
) -> Result<(), SinkError> {
    sink.write(Batch {
        stream: "items",
        records,
        checkpoint,
    })
    .await
}

/// Row versions (`xmin`) of the stream table, by id.
async fn versions(db: &TestDb) -> Vec<(String, String)> {
    let sql = format!(
        "SELECT id, xmin::text FROM \"{}\".items ORDER BY id",
        db.schema
    );
    let rows = db.admin.query(&sql, &[]).await.unwrap();
    rows.iter().map(|r| (r.get(0), r.get(1))).collect()
}

#[tokio::test]
async fn replaying_every_batch_changes_nothing_and_rewrites_no_row() {
    let Some(db) = TestDb::new().await else {
        return;
    };
    let sink = db
        .sink()
        .await
        .stream(StreamConfig::new("items").watermark("/updated_at"));
    sink.open("items").await.unwrap();
    let batches = [
        records(0..500, 1),
        records(250..900, 2),
        records(900..1000, 1),
    ];
    for (i, batch) in batches.iter().enumerate() {
        write(&sink, batch, &cp(i as u64 + 1)).await.unwrap();
    }
    let before = versions(&db).await;
    assert_eq!(before.len(), 1000);
    // A restarted process replays everything from the start.
    let again = db
        .sink()
        .await
        .stream(StreamConfig::new("items").watermark("/updated_at"));
    again.open("items").await.unwrap();
    for (i, batch) in batches.iter().enumerate() {
        write(&again, batch, &cp(i as u64 + 1)).await.unwrap();
    }
    assert_eq!(again.count("items").await.unwrap(), 1000);
    // `WHERE … IS DISTINCT FROM excluded`: an identical row is not rewritten.
    // (Rows 250..500 are rewritten twice: the replayed first batch turns
    // them back to version 1, the second batch to version 2 again.)
    let after = versions(&db).await;
    let rewritten: Vec<&String> = before
        .iter()
        .zip(&after)
        .filter(|(b, a)| b != a)
        .map(|(b, _)| &b.0)
        .collect();
    assert_eq!(rewritten.len(), 250);
    assert!(
        rewritten
            .iter()
            .all(|id| (250..500).contains(&id.parse::<u32>().unwrap()))
    );
    assert_eq!(again.open("items").await.unwrap(), Some(cp(3)));
    assert_eq!(
        again
            .watermark("items", "/updated_at")
            .await
            .unwrap()
            .as_deref(),
        Some("2026-01-28T00:00:00Z")
    );
    // Stored values survive the round trip (escapes, non-ASCII).
    let stored: serde_json::Value =
        serde_json::from_str(&again.records("items").await.unwrap()[260]).unwrap();
    let sent: serde_json::Value = serde_json::from_str(batches[1][10].as_str()).unwrap();
    assert_eq!(stored, sent);
}

/// `pg_terminate_backend` while a batch is merged but not committed: the
/// batch is rolled back (checkpoint and rows unchanged), the sink reconnects,
/// and replaying the batch — twice — leaves each record once.
#[tokio::test]
async fn a_connection_killed_mid_batch_changes_nothing_and_the_replay_is_idempotent() {
    let Some(db) = TestDb::new().await else {
        return;
    };
    let app = db.schema.clone();
    let sink = db.named_sink(&app).await;
    sink.open("items").await.unwrap();
    let first = records(0..1000, 1);
    write(&sink, &first, &cp(1)).await.unwrap();

    // Hold a lock the batch's checkpoint upsert needs: the batch then waits
    // after its COPY and merge, before its commit — mid-batch, for sure.
    let mut blocker = crate::common::admin().await.unwrap();
    let lock = blocker.transaction().await.unwrap();
    lock.batch_execute(&format!(
        "LOCK TABLE \"{}\"._haul_partitions IN EXCLUSIVE MODE",
        db.schema
    ))
    .await
    .unwrap();

    let second = records(500..3000, 2);
    let writer = {
        let (sink, second) = (sink.clone(), second.clone());
        tokio::spawn(async move { write(&sink, &second, &cp(2)).await })
    };
    let pid: i32 = loop {
        let row = db
            .admin
            .query_opt(
                "SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'",
                &[&app],
            )
            .await
            .unwrap();
        if let Some(row) = row {
            break row.get(0);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let killed: bool = db
        .admin
        .query_one("SELECT pg_terminate_backend($1)", &[&pid])
        .await
        .unwrap()
        .get(0);
    assert!(killed);
    let err = writer.await.unwrap().unwrap_err();
    assert!(matches!(err, SinkError::Database { .. }), "{err}");
    lock.rollback().await.unwrap();

    let fresh = db.sink().await;
    assert_eq!(fresh.checkpoint("items", "").await.unwrap(), Some(cp(1)));
    assert_eq!(fresh.count("items").await.unwrap(), 1000);

    // The same sink reconnects; the replay commits once, and again changes nothing.
    write(&sink, &second, &cp(2)).await.unwrap();
    write(&sink, &second, &cp(2)).await.unwrap();
    assert_eq!(fresh.count("items").await.unwrap(), 3000);
    assert_eq!(fresh.checkpoint("items", "").await.unwrap(), Some(cp(2)));
    let stored = fresh.records("items").await.unwrap();
    let v2 = stored.iter().filter(|r| r.contains("\"v\": 2")).count();
    assert_eq!(v2, 2500);
}

#[tokio::test]
async fn a_changed_layout_and_bad_names_are_refused() {
    let Some(db) = TestDb::new().await else {
        return;
    };
    db.sink().await.open("items").await.unwrap();
    let changed = db
        .sink()
        .await
        .stream(StreamConfig::new("items").primary_key(["/key"]));
    let err = changed.open("items").await.unwrap_err();
    assert!(matches!(err, SinkError::Usage(_)), "{err}");
    for stream in ["pg_class", "_haul_partitions", &"s".repeat(64)] {
        let err = db.sink().await.open(stream).await.unwrap_err();
        assert!(matches!(err, SinkError::Usage(_)), "{stream}: {err}");
    }
    let err = haul_postgres::PostgresSink::connect(crate::common::config(), "bad-schema")
        .await
        .unwrap_err();
    assert!(matches!(err, SinkError::Usage(_)), "{err}");
}
