//! A sink bound to a lease writes nothing once the lease is lost.

use std::collections::BTreeMap;
use std::time::Duration;

use haul_core::{Checkpoint, Position, Record};
use haul_postgres::PostgresSink;
use haul_sink::{PartitionBatch, Sink, SinkError};

use crate::common::TestDb;

fn page(from: u32, to: u32, by: &str) -> Vec<Record> {
    (from..to)
        .map(|i| Record::from_json(&format!(r#"{{"id":{i},"by":"{by}"}}"#)).unwrap())
        .collect()
}

fn cp(pages: u64, done: bool) -> Checkpoint {
    Checkpoint {
        pages,
        position: if done {
            Position::Done
        } else {
            Position::Start
        },
        ..Checkpoint::start("repos")
    }
}

async fn write(
    sink: &PostgresSink,
    partition: &str,
    records: &[Record],
    checkpoint: &Checkpoint,
) -> Result<(), SinkError> {
    sink.write_partition(PartitionBatch {
        stream: "repos",
        partition,
        values: &BTreeMap::new(),
        records,
        checkpoint,
        register: &[],
    })
    .await
}

/// A worker stalls past its lease; another claims the partition (epoch 2)
/// and finishes it. The zombie wakes and commits: it is fenced, and the
/// table and checkpoint are exactly the new holder's.
#[tokio::test]
async fn a_zombie_commit_is_fenced_and_writes_nothing() {
    let Some(db) = TestDb::new().await else {
        return;
    };
    let a = db.leases("a").await.ttl(Duration::from_millis(300));
    let b = db.leases("b").await;
    a.register("repos", &[("org=x".into(), BTreeMap::new())])
        .await
        .unwrap();
    let sink = db.sink().await;
    let lease_a = a.claim(Some("repos")).await.unwrap().unwrap();
    let zombie = sink.fenced(&lease_a);
    assert_eq!(zombie.open_partition("repos", "org=x").await.unwrap(), None);
    write(&zombie, "org=x", &page(0, 10, "a"), &cp(1, false))
        .await
        .unwrap();

    // `a` stalls past its TTL (a GC pause, SIGSTOP, a lost network).
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Expired but not yet reclaimed: already fenced.
    let err = write(&zombie, "org=x", &page(10, 20, "a"), &cp(2, false))
        .await
        .unwrap_err();
    assert!(matches!(err, SinkError::Fenced(_)), "{err}");

    let lease_b = b.claim(Some("repos")).await.unwrap().unwrap();
    assert_eq!(lease_b.epoch, 2);
    let holder = sink.fenced(&lease_b);
    assert_eq!(
        holder.open_partition("repos", "org=x").await.unwrap(),
        Some(cp(1, false))
    );
    write(&holder, "org=x", &page(10, 20, "b"), &cp(2, true))
        .await
        .unwrap();
    b.complete(&lease_b).await.unwrap();
    let table = format!("\"{}\".repos", db.schema);
    let before = xmins(&db, &table).await;

    // The zombie wakes and tries again, with records that would change rows.
    let err = write(&zombie, "org=x", &page(0, 30, "zombie"), &cp(3, true))
        .await
        .unwrap_err();
    assert!(matches!(err, SinkError::Fenced(_)), "{err}");
    assert!(err.to_string().contains("epoch 1"), "{err}");
    let err = zombie.write_state(&[]).await.unwrap_err();
    assert!(matches!(err, SinkError::Fenced(_)), "{err}");

    assert_eq!(
        xmins(&db, &table).await,
        before,
        "the zombie's commit touched rows"
    );
    assert_eq!(sink.count("repos").await.unwrap(), 20);
    assert!(
        !sink
            .records("repos")
            .await
            .unwrap()
            .iter()
            .any(|r| r.contains("zombie"))
    );
    assert_eq!(
        sink.checkpoint("repos", "org=x").await.unwrap(),
        Some(cp(2, true))
    );
}

async fn xmins(db: &TestDb, table: &str) -> Vec<String> {
    let sql = format!("SELECT xmin::text FROM {table} ORDER BY _seq");
    let rows = db.admin.query(&sql, &[]).await.unwrap();
    rows.iter().map(|r| r.get(0)).collect()
}
