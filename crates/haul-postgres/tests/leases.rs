//! Claims, expiry, heartbeats and retries of partition leases.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use haul_postgres::{LeaseError, LeaseState, Leases};

use crate::common::TestDb;

fn parts(n: usize) -> Vec<(String, BTreeMap<String, String>)> {
    (0..n)
        .map(|i| {
            (
                format!("org={i:03}"),
                BTreeMap::from([("org".to_owned(), i.to_string())]),
            )
        })
        .collect()
}

#[tokio::test]
async fn registering_is_idempotent_and_keeps_progress() {
    let Some(db) = TestDb::new().await else {
        return;
    };
    let leases = db.leases("w1").await;
    assert_eq!(leases.register("repos", &parts(3)).await.unwrap(), 3);
    let lease = leases.claim(Some("repos")).await.unwrap().unwrap();
    assert_eq!(lease.partition, "org=000");
    assert_eq!(lease.values["org"], "0");
    leases.complete(&lease).await.unwrap();
    // A second worker registering the same (and one more) adds only the new one.
    let other = db.leases("w2").await;
    assert_eq!(other.register("repos", &parts(4)).await.unwrap(), 1);
    let status = other.status("repos").await.unwrap();
    assert_eq!(status.len(), 4);
    assert_eq!(status[0].state, LeaseState::Done);
    assert!(status[1..].iter().all(|p| p.state == LeaseState::Pending));
}

/// Four workers, each on its own connection, claim 60 partitions at once:
/// every partition is claimed exactly once, at epoch 1.
#[tokio::test]
async fn concurrent_workers_never_claim_a_partition_twice() {
    let Some(db) = TestDb::new().await else {
        return;
    };
    db.leases("setup")
        .await
        .register("repos", &parts(60))
        .await
        .unwrap();
    let mut workers = Vec::new();
    for w in 0..4 {
        let leases = db.leases(&format!("w{w}")).await;
        workers.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            while let Some(lease) = leases.claim(Some("repos")).await.unwrap() {
                assert_eq!(lease.epoch, 1);
                mine.push(lease.partition.clone());
                tokio::task::yield_now().await;
                leases.complete(&lease).await.unwrap();
            }
            mine
        }));
    }
    let mut all = Vec::new();
    for worker in workers {
        all.extend(worker.await.unwrap());
    }
    let unique: BTreeSet<&String> = all.iter().collect();
    assert_eq!(all.len(), 60, "a partition was claimed twice or missed");
    assert_eq!(unique.len(), 60);
    let status = db.leases("check").await.status("repos").await.unwrap();
    assert!(
        status
            .iter()
            .all(|p| p.state == LeaseState::Done && p.attempts == 1)
    );
}

#[tokio::test]
async fn an_expired_lease_is_reclaimed_at_the_next_epoch_and_the_old_holder_has_lost_it() {
    let Some(db) = TestDb::new().await else {
        return;
    };
    let a = db.leases("a").await.ttl(Duration::from_millis(300));
    let b = db.leases("b").await.ttl(Duration::from_secs(30));
    a.register("repos", &parts(1)).await.unwrap();
    let first = a.claim(Some("repos")).await.unwrap().unwrap();
    assert_eq!((first.epoch, first.attempts), (1, 1));
    // Held and unexpired: nobody else gets it.
    assert_eq!(b.claim(Some("repos")).await.unwrap(), None);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(db.leases("c").await.status("repos").await.unwrap()[0].expired);
    let second = b.claim(Some("repos")).await.unwrap().unwrap();
    assert_eq!(second.partition, first.partition);
    // A takeover of an expired lease is a new epoch but not a new attempt.
    assert_eq!((second.epoch, second.attempts), (2, 1));
    assert!(second.reclaimed && !first.reclaimed);
    assert_eq!(second.owner, "b");
    for result in [a.renew(&first).await, a.complete(&first).await] {
        assert!(
            matches!(result, Err(LeaseError::Lost { epoch: 1, .. })),
            "{result:?}"
        );
    }
    b.complete(&second).await.unwrap();
}

#[tokio::test]
async fn a_heartbeat_keeps_a_lease_past_its_ttl() {
    let Some(db) = TestDb::new().await else {
        return;
    };
    let a = Arc::new(db.leases("a").await.ttl(Duration::from_millis(300)));
    a.register("repos", &parts(1)).await.unwrap();
    let lease = a.claim(Some("repos")).await.unwrap().unwrap();
    let beat = a.heartbeat(&lease);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert!(!beat.is_lost());
    assert_eq!(
        db.leases("b").await.claim(Some("repos")).await.unwrap(),
        None
    );
    a.complete(&lease).await.unwrap();
    // Completed: the next renewal finds the lease gone and says so.
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert!(beat.is_lost());
}

#[tokio::test]
async fn a_failed_partition_is_retried_up_to_the_limit_and_keeps_its_error() {
    let Some(db) = TestDb::new().await else {
        return;
    };
    let w = db.leases("w").await.max_attempts(2);
    w.register("repos", &parts(1)).await.unwrap();
    let first = w.claim(None).await.unwrap().unwrap();
    w.fail(&first, "HTTP 500 from /repos").await.unwrap();
    let status = &w.status("repos").await.unwrap()[0];
    assert_eq!(status.state, LeaseState::Failed);
    assert_eq!(status.last_error.as_deref(), Some("HTTP 500 from /repos"));
    let second = w.claim(None).await.unwrap().unwrap();
    assert_eq!((second.epoch, second.attempts), (2, 2));
    w.fail(&second, "HTTP 502 from /repos").await.unwrap();
    // Out of attempts: it stays failed, with its last error.
    assert_eq!(w.claim(None).await.unwrap(), None);
    let status = &w.status("repos").await.unwrap()[0];
    assert_eq!(status.state, LeaseState::Failed);
    assert_eq!(status.attempts, 2);
    assert_eq!(status.last_error.as_deref(), Some("HTTP 502 from /repos"));
    // A failed lease is not the worker's any more.
    assert!(matches!(
        w.fail(&second, "again").await,
        Err(LeaseError::Lost { .. })
    ));
}

#[tokio::test]
async fn bad_schema_names_and_partition_keys_are_refused() {
    let Some(db) = TestDb::new().await else {
        return;
    };
    let err = Leases::connect(crate::common::config(), "pg_nope", "w")
        .await
        .unwrap_err();
    assert!(matches!(err, LeaseError::Usage(_)), "{err}");
    let bad = vec![("../x".to_owned(), BTreeMap::new())];
    let err = db
        .leases("w")
        .await
        .register("repos", &bad)
        .await
        .unwrap_err();
    assert!(matches!(err, LeaseError::Usage(_)), "{err}");
}

/// Child partitions a parent's batch registers through the sink are work
/// items at once: committed with the parent's records, then claimable.
#[tokio::test]
async fn partitions_registered_by_a_batch_become_claimable_work() {
    use haul_core::{Checkpoint, Record};
    use haul_sink::{PartitionBatch, PartitionState, Sink};

    let Some(db) = TestDb::new().await else {
        return;
    };
    let sink = db.sink().await;
    sink.open("orgs").await.unwrap();
    let child = |org: &str| PartitionState {
        stream: "repos".into(),
        partition: format!("org={org}"),
        values: BTreeMap::from([("org".to_owned(), org.to_owned())]),
        checkpoint: Checkpoint::start("repos"),
    };
    let orgs = [
        Record::from_json(r#"{"id":"a"}"#).unwrap(),
        Record::from_json(r#"{"id":"b"}"#).unwrap(),
    ];
    sink.write_partition(PartitionBatch {
        stream: "orgs",
        partition: "",
        values: &BTreeMap::new(),
        records: &orgs,
        checkpoint: &Checkpoint::start("orgs"),
        register: &[child("a"), child("b")],
    })
    .await
    .unwrap();
    let w = db.leases("w").await;
    // Registering them again (a worker that read the parent too) changes nothing.
    let again = [("org=a".to_owned(), child("a").values)];
    assert_eq!(w.register("repos", &again).await.unwrap(), 0);
    let first = w.claim(Some("repos")).await.unwrap().unwrap();
    assert_eq!(first.partition, "org=a");
    assert_eq!(first.values["org"], "a");
    let second = w.claim(Some("repos")).await.unwrap().unwrap();
    assert_eq!(second.partition, "org=b");
    assert_eq!(w.claim(Some("repos")).await.unwrap(), None);
}

/// A killed worker is not the partition's fault: a lease that expired is
/// reclaimable even when the partition used up its attempts, the takeover
/// does not count as one, and a real failure after it is still judged by
/// the attempts the partition failed.
#[tokio::test]
async fn an_expired_lease_is_reclaimable_at_its_attempts_limit_and_the_takeover_is_not_an_attempt()
{
    let Some(db) = TestDb::new().await else {
        return;
    };
    let ttl = Duration::from_millis(200);
    let a = db.leases("a").await.ttl(ttl).max_attempts(2);
    let b = db.leases("b").await.ttl(ttl).max_attempts(2);
    a.register("repos", &parts(1)).await.unwrap();
    let first = a.claim(None).await.unwrap().unwrap();
    a.fail(&first, "HTTP 500").await.unwrap();
    let second = a.claim(None).await.unwrap().unwrap();
    assert_eq!((second.epoch, second.attempts), (2, 2));
    // Holder killed twice at the limit: each expired lease is taken over.
    let mut holder = second;
    for (epoch, worker) in [(3, &b), (4, &a)] {
        tokio::time::sleep(ttl * 2).await;
        let next = worker.claim(None).await.unwrap().unwrap();
        assert_eq!(
            (next.epoch, next.attempts, next.reclaimed),
            (epoch, 2, true)
        );
        assert!(matches!(
            db.leases("x").await.renew(&holder).await,
            Err(LeaseError::Lost { .. })
        ));
        holder = next;
    }
    // Its second real failure exhausts it, with the error kept.
    a.fail(&holder, "HTTP 502").await.unwrap();
    assert_eq!(b.claim(None).await.unwrap(), None);
    let status = &a.status("repos").await.unwrap()[0];
    assert_eq!((status.state, status.attempts), (LeaseState::Failed, 2));
    assert_eq!(status.last_error.as_deref(), Some("HTTP 502"));
}

/// A released partition (a worker stopping) is claimable at once, and the
/// released claim does not count as an attempt; the outlook counts
/// claimable and leased partitions.
#[tokio::test]
async fn a_released_partition_is_claimable_at_once_and_the_outlook_counts_the_work_left() {
    let Some(db) = TestDb::new().await else {
        return;
    };
    let a = db.leases("a").await.max_attempts(1);
    let b = db.leases("b").await.max_attempts(1);
    a.register("repos", &parts(3)).await.unwrap();
    a.register("other", &parts(1)).await.unwrap();
    let outlook = |streams: &'static [&'static str]| {
        let b = &b;
        async move { b.outlook(Some(streams)).await.unwrap() }
    };
    assert_eq!(
        (
            outlook(&["repos"]).await.claimable,
            outlook(&["repos"]).await.leased
        ),
        (3, 0)
    );
    let first = a.claim_any(&["repos"]).await.unwrap().unwrap();
    let second = a.claim_any(&["repos"]).await.unwrap().unwrap();
    let o = outlook(&["repos"]).await;
    assert_eq!((o.claimable, o.leased), (1, 2));
    let o = outlook(&["repos", "other"]).await;
    assert_eq!((o.claimable, o.leased), (2, 2));
    a.release(&first).await.unwrap();
    let again = b.claim_any(&["repos"]).await.unwrap().unwrap();
    assert_eq!(again.partition, first.partition);
    assert_eq!((again.epoch, again.attempts), (2, 1));
    a.complete(&second).await.unwrap();
    b.complete(&again).await.unwrap();
    let third = b.claim_any(&["repos"]).await.unwrap().unwrap();
    b.fail(&third, "HTTP 500").await.unwrap();
    // Done, or failed with no attempts left: nothing is left of `repos`.
    assert!(outlook(&["repos"]).await.is_drained());
    assert!(!outlook(&["other"]).await.is_drained());
}
