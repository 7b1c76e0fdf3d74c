//! `SqliteSink`: checkpoints, keys, watermarks, names, layout.

use haul_core::{Checkpoint, Position, Record, SavedRequest};
use haul_sink::{Batch, Sink, SinkError, SqliteSink, StreamConfig, Synchronous};

fn rec(json: &str) -> Record {
    Record::from_json(json).unwrap()
}

fn cp(stream: &str, pages: u64) -> Checkpoint {
    Checkpoint {
        pages,
        ..Checkpoint::start(stream)
    }
}

async fn write(
    sink: &SqliteSink,
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

#[tokio::test]
async fn sqlite_checkpoint_round_trips_every_field() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("haul.db");
    let checkpoint = Checkpoint {
        stream: "items".into(),
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
    let sink = SqliteSink::open(&path).unwrap();
    assert_eq!(Sink::open(&sink, "items").await.unwrap(), None);
    write(&sink, &[rec(r#"{"id":1}"#)], &checkpoint)
        .await
        .unwrap();
    assert_eq!(
        sink.checkpoint("items").await.unwrap(),
        Some(checkpoint.clone())
    );
    sink.close().await.unwrap();

    let reopened = SqliteSink::open(&path).unwrap();
    assert_eq!(
        Sink::open(&reopened, "items").await.unwrap(),
        Some(checkpoint)
    );
}

#[tokio::test]
async fn sqlite_open_returns_the_last_committed_checkpoint_after_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/dir/haul.db");
    {
        let sink = SqliteSink::open(&path).unwrap();
        Sink::open(&sink, "items").await.unwrap();
        Sink::open(&sink, "users").await.unwrap();
        for page in 1..=3 {
            let records = [rec(&format!(r#"{{"id":{page}}}"#))];
            write(&sink, &records, &cp("items", page)).await.unwrap();
        }
        write(&sink, &[rec(r#"{"id":"u"}"#)], &cp("users", 9))
            .await
            .unwrap();
        // Dropped without close, like a killed process.
    }
    let sink = SqliteSink::open(&path).unwrap();
    assert_eq!(
        Sink::open(&sink, "items").await.unwrap(),
        Some(cp("items", 3))
    );
    assert_eq!(
        Sink::open(&sink, "users").await.unwrap(),
        Some(cp("users", 9))
    );
    assert_eq!(sink.open("other").await.unwrap(), None);
    assert_eq!(sink.count("items").await.unwrap(), 3);
}

#[tokio::test]
async fn sqlite_replayed_batch_upserts_and_keeps_first_insertion_order() {
    let sink = SqliteSink::open_in_memory().unwrap();
    Sink::open(&sink, "items").await.unwrap();
    let first = [rec(r#"{"id":2,"v":"a"}"#), rec(r#"{"id":1,"v":"a"}"#)];
    write(&sink, &first, &cp("items", 1)).await.unwrap();
    write(&sink, &first, &cp("items", 1)).await.unwrap();
    let second = [rec(r#"{"id":1,"v":"b"}"#), rec(r#"{"id":3,"v":"b"}"#)];
    write(&sink, &second, &cp("items", 2)).await.unwrap();
    assert_eq!(
        sink.records("items").await.unwrap(),
        [
            r#"{"id":2,"v":"a"}"#,
            r#"{"id":1,"v":"b"}"#,
            r#"{"id":3,"v":"b"}"#
        ]
    );
}

#[tokio::test]
async fn sqlite_composite_keys_distinguish_rows_by_every_part() {
    let sink = SqliteSink::open_in_memory()
        .unwrap()
        .stream(StreamConfig::new("orders").primary_key(["/shop", "/order/id"]));
    Sink::open(&sink, "orders").await.unwrap();
    let batch = [
        rec(r#"{"shop":"a","order":{"id":1},"v":1}"#),
        rec(r#"{"shop":"b","order":{"id":1},"v":1}"#),
        rec(r#"{"shop":"a","order":{"id":2},"v":1}"#),
    ];
    write(&sink, &batch, &cp("orders", 1)).await.unwrap();
    let update = [rec(r#"{"shop":"b","order":{"id":1},"v":2}"#)];
    write(&sink, &update, &cp("orders", 2)).await.unwrap();
    assert_eq!(
        sink.records("orders").await.unwrap(),
        [
            r#"{"shop":"a","order":{"id":1},"v":1}"#,
            r#"{"shop":"b","order":{"id":1},"v":2}"#,
            r#"{"shop":"a","order":{"id":2},"v":1}"#,
        ]
    );
}

#[tokio::test]
async fn sqlite_missing_key_rolls_the_whole_batch_back() {
    let sink = SqliteSink::open_in_memory()
        .unwrap()
        .stream(StreamConfig::new("orders").primary_key(["/shop", "/id"]));
    Sink::open(&sink, "orders").await.unwrap();
    write(&sink, &[rec(r#"{"shop":"a","id":1}"#)], &cp("orders", 1))
        .await
        .unwrap();
    let bad = [
        rec(r#"{"shop":"a","id":2}"#),
        rec(r#"{"shop":"a","id":1,"changed":true}"#),
        rec(r#"{"shop":"a","id":null}"#),
    ];
    let err = write(&sink, &bad, &cp("orders", 2)).await.unwrap_err();
    match err {
        SinkError::MissingKey {
            stream,
            pointer,
            preview,
        } => {
            assert_eq!((stream.as_str(), pointer.as_str()), ("orders", "/id"));
            assert_eq!(preview, r#"{"shop":"a","id":null}"#);
        }
        other => panic!("expected MissingKey, got {other:?}"),
    }
    assert_eq!(
        sink.records("orders").await.unwrap(),
        [r#"{"shop":"a","id":1}"#]
    );
    assert_eq!(
        sink.checkpoint("orders").await.unwrap(),
        Some(cp("orders", 1))
    );
    // The sink stays usable after the rollback.
    write(&sink, &bad[..2], &cp("orders", 2)).await.unwrap();
    assert_eq!(sink.count("orders").await.unwrap(), 2);
}

#[tokio::test]
async fn sqlite_watermark_compares_numbers_numerically_and_text_as_text() {
    let sink = SqliteSink::open_in_memory()
        .unwrap()
        .stream(StreamConfig::new("nums").watermark("/seq"))
        .stream(StreamConfig::new("times").watermark("/updated_at"));
    Sink::open(&sink, "nums").await.unwrap();
    Sink::open(&sink, "times").await.unwrap();
    assert_eq!(sink.watermark("nums", "/seq").await.unwrap(), None);
    // As text "9" > "100"; as numbers 100 wins. "1e2" equals 100, 99.5 is below.
    let nums = [
        rec(r#"{"id":1,"seq":9}"#),
        rec(r#"{"id":2,"seq":100}"#),
        rec(r#"{"id":3,"seq":99.5}"#),
        rec(r#"{"id":4,"seq":"42"}"#),
        rec(r#"{"id":5}"#),
    ];
    write(&sink, &nums, &cp("nums", 1)).await.unwrap();
    assert_eq!(
        sink.watermark("nums", "/seq").await.unwrap().as_deref(),
        Some("100")
    );
    // A pointer without a column is scanned and compared the same way.
    assert_eq!(
        sink.watermark("nums", "/id").await.unwrap().as_deref(),
        Some("5")
    );
    assert_eq!(sink.watermark("nums", "/missing").await.unwrap(), None);

    let times = [
        rec(r#"{"id":1,"updated_at":"2026-01-09T00:00:00Z"}"#),
        rec(r#"{"id":2,"updated_at":"2026-01-10T00:00:00Z"}"#),
        rec(r#"{"id":3,"updated_at":"2025-12-31T23:59:59Z"}"#),
    ];
    write(&sink, &times, &cp("times", 1)).await.unwrap();
    assert_eq!(
        sink.watermark("times", "/updated_at")
            .await
            .unwrap()
            .as_deref(),
        Some("2026-01-10T00:00:00Z")
    );
    // An upsert moves the watermark with the record.
    write(
        &sink,
        &[rec(r#"{"id":2,"updated_at":"2026-01-01T00:00:00Z"}"#)],
        &cp("times", 2),
    )
    .await
    .unwrap();
    assert_eq!(
        sink.watermark("times", "/updated_at")
            .await
            .unwrap()
            .as_deref(),
        Some("2026-01-09T00:00:00Z")
    );
    // Streams never opened have no watermark.
    assert_eq!(sink.watermark("unknown", "/seq").await.unwrap(), None);
}

#[tokio::test]
async fn sqlite_rejects_unsafe_reserved_and_colliding_stream_names() {
    let sink = SqliteSink::open_in_memory().unwrap();
    for name in [
        "",
        "../etc",
        "a\"b",
        "items; DROP TABLE x",
        ".hidden",
        "_haul_state",
        "SQLITE_master",
    ] {
        assert!(
            matches!(Sink::open(&sink, name).await, Err(SinkError::Usage(_))),
            "{name:?} accepted"
        );
    }
    Sink::open(&sink, "Items").await.unwrap();
    // SQLite table names ignore case: "items" would share Items' table.
    assert!(matches!(
        Sink::open(&sink, "items").await,
        Err(SinkError::Usage(_))
    ));
    Sink::open(&sink, "my-stream.v2").await.unwrap();
}

#[tokio::test]
async fn sqlite_refuses_a_changed_stream_layout() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("haul.db");
    let sink = SqliteSink::open(&path).unwrap();
    Sink::open(&sink, "items").await.unwrap();
    sink.close().await.unwrap();
    let changed = SqliteSink::open(&path)
        .unwrap()
        .stream(StreamConfig::new("items").primary_key(["/uuid"]));
    let err = Sink::open(&changed, "items").await.unwrap_err();
    assert!(
        matches!(err, SinkError::Usage(ref m) if m.contains("/uuid")),
        "{err}"
    );
}

#[tokio::test]
async fn sqlite_rejects_use_before_open_and_after_close() {
    let sink = SqliteSink::open_in_memory().unwrap();
    let err = write(&sink, &[], &cp("items", 0)).await.unwrap_err();
    assert!(matches!(err, SinkError::Usage(_)));
    Sink::open(&sink, "items").await.unwrap();
    sink.close().await.unwrap();
    let err = write(&sink, &[], &cp("items", 0)).await.unwrap_err();
    assert!(matches!(err, SinkError::Usage(_)));
    assert!(matches!(
        Sink::open(&sink, "items").await,
        Err(SinkError::Usage(_))
    ));
}

#[tokio::test]
async fn sqlite_stores_records_byte_for_byte_in_wal_mode() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("haul.db");
    let sink = SqliteSink::open_with(&path, Synchronous::Full)
        .unwrap()
        .stream(StreamConfig::new("events").append_only());
    Sink::open(&sink, "events").await.unwrap();
    let raw = "{ \"id\" : 1,\n  \"name\": \"Zoë \\u00e9 東京\", \"n\": 1.50 }";
    let records = [rec(raw), rec(raw)];
    write(&sink, &records, &cp("events", 1)).await.unwrap();
    // Append-only: both copies stay.
    assert_eq!(sink.records("events").await.unwrap(), [raw, raw]);

    let probe = rusqlite::Connection::open(&path).unwrap();
    let mode: String = probe
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let stored: String = probe
        .query_row("SELECT _record FROM events LIMIT 1", [], |r| r.get(0))
        .unwrap();
    assert_eq!(stored, raw);
}
