//! [`Leases`]: partitions claimed by workers, fenced by epoch.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use haul_sink::{Lease, QueueOutlook};
use tokio::task::JoinHandle;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Config};

use crate::conn::{self, ConnError, Connection};
use crate::names::{check_schema, quote};
use crate::sink::{Fence, PostgresSink, setup};

/// A lease failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LeaseError {
    /// The lease is no longer this worker's: it expired, or another worker
    /// claimed the partition since (at a higher epoch).
    #[error(
        "lease on partition {partition:?} of stream {stream:?} at epoch {epoch} is lost \
         (it expired, or another worker holds the partition)"
    )]
    Lost {
        /// The stream.
        stream: String,
        /// The partition key.
        partition: String,
        /// The epoch the lease was claimed at.
        epoch: i64,
    },
    /// PostgreSQL failed.
    #[error("{action} in postgresql schema {schema}: {source}")]
    Database {
        /// What was being done.
        action: &'static str,
        /// The schema.
        schema: String,
        /// PostgreSQL's error.
        #[source]
        source: tokio_postgres::Error,
    },
    /// A stored partition row cannot be read (its values are not a JSON object of strings).
    #[error("corrupt partition row in postgresql schema {schema}: {reason}")]
    Corrupt {
        /// The schema.
        schema: String,
        /// What was wrong.
        reason: String,
    },
    /// A bad argument (a schema name, a partition key) or use after the connection closed.
    #[error("lease misuse: {0}")]
    Usage(String),
}

/// Where a partition stands in the work queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LeaseState {
    /// Registered, not claimed (or released).
    Pending,
    /// Claimed by a worker (whose lease may have expired).
    Leased,
    /// Finished.
    Done,
    /// Failed; claimed again while its attempts are below the limit.
    Failed,
}

impl LeaseState {
    fn parse(text: &str) -> Self {
        match text {
            "leased" => Self::Leased,
            "done" => Self::Done,
            "failed" => Self::Failed,
            _ => Self::Pending,
        }
    }
}

/// One partition's row in the work queue, as [`Leases::status`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionLease {
    /// The partition key.
    pub partition: String,
    /// Its state.
    pub state: LeaseState,
    /// The worker that claimed it last, if any.
    pub owner: Option<String>,
    /// The epoch of the last claim (0: never claimed).
    pub epoch: i64,
    /// How many times it was claimed.
    pub attempts: u32,
    /// The error it last failed with, kept across retries.
    pub last_error: Option<String>,
    /// Whether it is leased and the lease expired (by the database clock).
    pub expired: bool,
}

/// Partitions as units of work shared by many workers through PostgreSQL,
/// with no coordinator: each worker registers the partitions it knows of
/// (idempotently), claims one at a time, renews its lease while it works,
/// and completes or fails it.
///
/// - **Claim**: `SELECT … FOR UPDATE SKIP LOCKED` picks a claimable row —
///   pending, leased with an expired lease, or failed with fewer attempts
///   than [`max_attempts`](Self::max_attempts) — and the `UPDATE` re-checks
///   that predicate, so two workers never hold one partition. A claim
///   increments the epoch and the attempts and sets the expiry from the
///   database clock (`now()`), so worker clocks do not matter.
/// - **Fencing**: [`PostgresSink::fenced`] binds a sink to a lease; every
///   batch it commits checks (owner, epoch, unexpired) in the same
///   transaction, so a worker that stalled past its lease writes nothing.
/// - **Heartbeat**: [`heartbeat`](Self::heartbeat) renews every TTL/3.
/// - **Failure**: [`fail`](Self::fail) keeps the error; the partition is
///   claimed again until it has been attempted `max_attempts` times.
///
/// The lease rows share `_haul_partitions` with the sink's checkpoints, so a
/// partition's progress and its lease live in one row.
///
/// ```no_run
/// use std::sync::Arc;
/// use haul_postgres::{Leases, PostgresSink};
/// use haul_sink::Sink;
/// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
/// let config: haul_postgres::tokio_postgres::Config = "host=127.0.0.1 user=postgres dbname=test".parse()?;
/// let leases = Arc::new(Leases::connect(config.clone(), "haul", "worker-1").await?);
/// leases.register("repos", &[("org=a".into(), Default::default())]).await?;
/// let sink = PostgresSink::connect(config, "haul").await?;
/// while let Some(lease) = leases.claim(Some("repos")).await? {
///     let _beat = leases.heartbeat(&lease);
///     let fenced = sink.fenced(&lease);
///     let resume_from = fenced.open_partition(&lease.stream, &lease.partition).await?;
///     // … fetch pages from `resume_from`, `fenced.write_partition(…)` each batch …
///     # let _ = resume_from;
///     leases.complete(&lease).await?;
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Leases {
    schema: String,
    owner: String,
    ttl: Duration,
    max_attempts: u32,
    conn: Connection,
}

impl Leases {
    /// Connects (without TLS) as worker `owner` and creates `schema` and
    /// haul's tables in it if missing. TTL 30 s, 3 attempts.
    pub async fn connect(
        config: Config,
        schema: &str,
        owner: impl Into<String>,
    ) -> Result<Self, LeaseError> {
        check_schema(schema).map_err(LeaseError::Usage)?;
        let mut client = conn::open(&config)
            .await
            .map_err(db("connecting", schema))?;
        setup(&mut client, schema)
            .await
            .map_err(db("creating haul's tables", schema))?;
        Ok(Self::with(
            schema,
            owner.into(),
            Connection::from_config(config, client),
        ))
    }

    /// Uses a client the caller connected; it is not reopened if it drops.
    pub async fn from_client(
        mut client: Client,
        schema: &str,
        owner: impl Into<String>,
    ) -> Result<Self, LeaseError> {
        check_schema(schema).map_err(LeaseError::Usage)?;
        setup(&mut client, schema)
            .await
            .map_err(db("creating haul's tables", schema))?;
        Ok(Self::with(
            schema,
            owner.into(),
            Connection::from_client(client),
        ))
    }

    fn with(schema: &str, owner: String, conn: Connection) -> Self {
        Self {
            schema: schema.to_owned(),
            owner,
            ttl: Duration::from_secs(30),
            max_attempts: 3,
            conn,
        }
    }

    /// How long a claim or a renewal holds the partition (at least 1 ms).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl.max(Duration::from_millis(1));
        self
    }

    /// How many claims a failing partition gets before it stays failed.
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts;
        self
    }

    /// How long a claim or a renewal holds a partition.
    pub fn lease_ttl(&self) -> Duration {
        self.ttl
    }

    /// The worker name leases are claimed under.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    fn table(&self) -> String {
        format!("{}._haul_partitions", quote(&self.schema))
    }

    async fn client(&self) -> Result<tokio::sync::MappedMutexGuard<'_, conn::Conn>, LeaseError> {
        self.conn.get().await.map_err(|e| match e {
            ConnError::Connect(source) => LeaseError::Database {
                action: "connecting",
                schema: self.schema.clone(),
                source,
            },
            ConnError::Closed(why) => LeaseError::Usage(why.to_owned()),
        })
    }

    /// Registers partitions of `stream` (key and values) as pending work;
    /// ones already known keep their state and progress. Returns how many
    /// were new.
    pub async fn register(
        &self,
        stream: &str,
        partitions: &[(String, BTreeMap<String, String>)],
    ) -> Result<u64, LeaseError> {
        let mut rows = Vec::with_capacity(partitions.len());
        for (key, values) in partitions {
            haul_sink::check_partition_key(key).map_err(|e| LeaseError::Usage(e.to_string()))?;
            let values =
                serde_json::to_string(values).map_err(|e| LeaseError::Usage(e.to_string()))?;
            rows.push((key, values));
        }
        let mut conn = self.client().await?;
        let tx = conn
            .client
            .transaction()
            .await
            .map_err(db("starting a transaction", &self.schema))?;
        let stmt = tx
            .prepare(&format!(
                "INSERT INTO {} (stream, partition, vals) VALUES ($1, $2, $3) \
                 ON CONFLICT (stream, partition) DO NOTHING",
                self.table()
            ))
            .await
            .map_err(db("preparing a registration", &self.schema))?;
        let mut new = 0;
        for (key, values) in &rows {
            new += tx
                .execute(&stmt, &[&stream, key, values])
                .await
                .map_err(db("registering a partition", &self.schema))?;
        }
        tx.commit()
            .await
            .map_err(db("committing registrations", &self.schema))?;
        Ok(new)
    }

    /// Claims one claimable partition (of `stream`, or of any stream): a
    /// pending one, one whose lease expired, or a failed one with attempts
    /// left. `None` when there is none right now.
    ///
    /// The claim increments the epoch. It counts as an attempt unless it
    /// takes over an expired lease: a killed or stalled worker is not the
    /// partition's fault, so an expired lease is reclaimable whatever its
    /// attempts, and its attempts stay as they were
    /// ([`Lease::reclaimed`] says which).
    pub async fn claim(&self, stream: Option<&str>) -> Result<Option<Lease>, LeaseError> {
        match stream {
            Some(stream) => self.claim_of(Some(&[stream])).await,
            None => self.claim_of(None).await,
        }
    }

    /// Claims one claimable partition of one of `streams` (as [`claim`](Self::claim)).
    pub async fn claim_any(&self, streams: &[&str]) -> Result<Option<Lease>, LeaseError> {
        self.claim_of(Some(streams)).await
    }

    async fn claim_of(&self, streams: Option<&[&str]>) -> Result<Option<Lease>, LeaseError> {
        let table = self.table();
        let candidate = claimable("");
        let sql = format!(
            "WITH candidate AS ( \
                 SELECT stream, partition, state FROM {table} \
                 WHERE ($1::text[] IS NULL OR stream = ANY($1)) AND {candidate} \
                 ORDER BY stream COLLATE \"C\", partition COLLATE \"C\" \
                 LIMIT 1 FOR UPDATE SKIP LOCKED) \
             UPDATE {table} p SET state = 'leased', owner = $2, epoch = p.epoch + 1, \
                 lease_expires = now() + $3::float8 * interval '1 second', \
                 attempts = p.attempts + CASE WHEN p.state = 'leased' THEN 0 ELSE 1 END, \
                 updated_at = now() \
             FROM candidate c \
             WHERE p.stream = c.stream AND p.partition = c.partition AND {} \
             RETURNING p.stream, p.partition, p.vals, p.epoch, p.attempts, c.state = 'leased'",
            claimable("p.")
        );
        let max = i32::try_from(self.max_attempts).unwrap_or(i32::MAX);
        let streams: Option<Vec<&str>> = streams.map(<[&str]>::to_vec);
        let mut conn = self.client().await?;
        let result = conn
            .client
            .query_opt(
                &sql,
                &[&streams, &self.owner, &self.ttl.as_secs_f64(), &max],
            )
            .await;
        let row = conn
            .note(result, |_| true)
            .map_err(db("claiming a partition", &self.schema))?;
        drop(conn);
        let Some(row) = row else {
            return Ok(None);
        };
        let values: String = row.get(2);
        let attempts: i32 = row.get(4);
        let lease = Lease {
            stream: row.get(0),
            partition: row.get(1),
            values: serde_json::from_str(&values).map_err(|e| LeaseError::Corrupt {
                schema: self.schema.clone(),
                reason: format!("values of a claimed partition: {e}"),
            })?,
            owner: self.owner.clone(),
            epoch: row.get(3),
            attempts: attempts.unsigned_abs(),
            reclaimed: row.get(5),
        };
        if lease.reclaimed {
            tracing::warn!(
                stream = %lease.stream, partition = %lease.partition, owner = %lease.owner,
                epoch = lease.epoch, "reclaimed a partition whose lease expired"
            );
        } else {
            tracing::info!(
                stream = %lease.stream, partition = %lease.partition, owner = %lease.owner,
                epoch = lease.epoch, attempts = lease.attempts, "claimed partition"
            );
        }
        Ok(Some(lease))
    }

    /// How much work is left for `streams` (all streams when `None`):
    /// claimable partitions, and partitions leased and unexpired.
    pub async fn outlook(&self, streams: Option<&[&str]>) -> Result<QueueOutlook, LeaseError> {
        let sql = format!(
            "SELECT count(*) FILTER (WHERE {}), \
                 count(*) FILTER (WHERE state = 'leased' AND lease_expires > now()) \
             FROM {} WHERE ($1::text[] IS NULL OR stream = ANY($1))",
            claimable("").replace("$4::int", "$2::int"),
            self.table()
        );
        let max = i32::try_from(self.max_attempts).unwrap_or(i32::MAX);
        let streams: Option<Vec<&str>> = streams.map(<[&str]>::to_vec);
        let mut conn = self.client().await?;
        let result = conn.client.query_one(&sql, &[&streams, &max]).await;
        let row = conn
            .note(result, |_| true)
            .map_err(db("reading the work left", &self.schema))?;
        let (claimable, leased): (i64, i64) = (row.get(0), row.get(1));
        Ok(QueueOutlook {
            claimable: claimable.unsigned_abs(),
            leased: leased.unsigned_abs(),
        })
    }

    /// Runs `set` (which may use `extra` as `$5`) on the lease's row if it
    /// is still held (owner, epoch, unexpired); [`LeaseError::Lost`] otherwise.
    async fn fenced_update(
        &self,
        lease: &Lease,
        set: &str,
        action: &'static str,
        extra: Option<&str>,
    ) -> Result<(), LeaseError> {
        let sql = format!(
            "UPDATE {} SET {set}, updated_at = now() \
             WHERE stream = $1 AND partition = $2 AND owner = $3 AND epoch = $4 \
             AND state = 'leased' AND lease_expires > now()",
            self.table()
        );
        let mut params: Vec<&(dyn ToSql + Sync)> =
            vec![&lease.stream, &lease.partition, &lease.owner, &lease.epoch];
        if let Some(extra) = &extra {
            params.push(extra);
        }
        let mut conn = self.client().await?;
        let result = conn.client.execute(&sql, &params).await;
        let n = conn
            .note(result, |_| true)
            .map_err(db(action, &self.schema))?;
        if n == 1 {
            Ok(())
        } else {
            Err(LeaseError::Lost {
                stream: lease.stream.clone(),
                partition: lease.partition.clone(),
                epoch: lease.epoch,
            })
        }
    }

    /// Extends the lease by the TTL from now (database clock). Fails with
    /// [`LeaseError::Lost`] if it already expired or was claimed by another.
    pub async fn renew(&self, lease: &Lease) -> Result<(), LeaseError> {
        let set = format!(
            "lease_expires = now() + {} * interval '1 second'",
            self.ttl.as_secs_f64()
        );
        self.fenced_update(lease, &set, "renewing a lease", None)
            .await
    }

    /// Marks the partition done.
    pub async fn complete(&self, lease: &Lease) -> Result<(), LeaseError> {
        self.fenced_update(
            lease,
            "state = 'done', lease_expires = NULL, last_error = NULL",
            "completing a partition",
            None,
        )
        .await?;
        tracing::info!(stream = %lease.stream, partition = %lease.partition, epoch = lease.epoch, "partition done");
        Ok(())
    }

    /// Marks the partition failed with `error` (kept until it succeeds); it
    /// is claimed again while its attempts are below the limit.
    pub async fn fail(&self, lease: &Lease, error: &str) -> Result<(), LeaseError> {
        self.fenced_update(
            lease,
            "state = 'failed', lease_expires = NULL, last_error = $5",
            "failing a partition",
            Some(error),
        )
        .await?;
        tracing::warn!(stream = %lease.stream, partition = %lease.partition, epoch = lease.epoch, error, "partition failed");
        Ok(())
    }

    /// Hands the partition back unfinished: pending again, claimable at
    /// once by any worker, and this claim does not count as an attempt.
    pub async fn release(&self, lease: &Lease) -> Result<(), LeaseError> {
        let set = if lease.reclaimed {
            "state = 'pending', lease_expires = NULL"
        } else {
            "state = 'pending', lease_expires = NULL, attempts = greatest(attempts - 1, 0)"
        };
        self.fenced_update(lease, set, "releasing a partition", None)
            .await?;
        tracing::info!(stream = %lease.stream, partition = %lease.partition, epoch = lease.epoch, "partition released");
        Ok(())
    }

    /// Every registered partition of `stream`, in key order.
    pub async fn status(&self, stream: &str) -> Result<Vec<PartitionLease>, LeaseError> {
        let sql = format!(
            "SELECT partition, state, owner, epoch, attempts, last_error, \
                 coalesce(state = 'leased' AND lease_expires <= now(), false) \
             FROM {} WHERE stream = $1 ORDER BY partition COLLATE \"C\"",
            self.table()
        );
        let conn = self.client().await?;
        let rows = conn
            .client
            .query(&sql, &[&stream])
            .await
            .map_err(db("reading partition states", &self.schema))?;
        Ok(rows
            .iter()
            .map(|row| {
                let attempts: i32 = row.get(4);
                PartitionLease {
                    partition: row.get(0),
                    state: LeaseState::parse(row.get(1)),
                    owner: row.get(2),
                    epoch: row.get(3),
                    attempts: attempts.unsigned_abs(),
                    last_error: row.get(5),
                    expired: row.get(6),
                }
            })
            .collect())
    }

    /// Renews `lease` every TTL/3 on a background task until the returned
    /// [`Heartbeat`] is dropped or the lease is lost (then
    /// [`Heartbeat::is_lost`] turns true). A failed renewal other than a
    /// lost lease is logged and retried at the next beat: if renewals keep
    /// failing, the lease expires and the fence stops the worker's writes.
    pub fn heartbeat(self: &Arc<Self>, lease: &Lease) -> Heartbeat {
        let lost = Arc::new(AtomicBool::new(false));
        let (leases, lease, flag) = (Arc::clone(self), lease.clone(), Arc::clone(&lost));
        let period = (self.ttl / 3).max(Duration::from_millis(1));
        let task = tokio::spawn(async move {
            let mut beat = tokio::time::interval(period);
            beat.tick().await;
            loop {
                beat.tick().await;
                match leases.renew(&lease).await {
                    Ok(()) => {}
                    Err(LeaseError::Lost { .. }) => {
                        tracing::warn!(stream = %lease.stream, partition = %lease.partition, epoch = lease.epoch, "lease lost");
                        flag.store(true, Ordering::SeqCst);
                        break;
                    }
                    Err(error) => tracing::warn!(%error, "renewing a lease failed; retrying"),
                }
            }
        });
        Heartbeat { task, lost }
    }
}

/// Renews a lease in the background; stops when dropped.
#[derive(Debug)]
pub struct Heartbeat {
    task: JoinHandle<()>,
    lost: Arc<AtomicBool>,
}

impl Heartbeat {
    /// Whether a renewal found the lease lost (the worker should stop).
    pub fn is_lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl PostgresSink {
    /// A handle on the same connection and tables whose every commit checks,
    /// in the same transaction, that `lease` is still held — same owner,
    /// same epoch, unexpired by the database clock — and otherwise rolls
    /// the batch back and fails with [`SinkError::Fenced`](haul_sink::SinkError::Fenced).
    pub fn fenced(&self, lease: &Lease) -> PostgresSink {
        self.with_fence(Fence {
            stream: lease.stream.clone(),
            partition: lease.partition.clone(),
            owner: lease.owner.clone(),
            epoch: lease.epoch,
            stall_limit: None,
        })
    }

    /// As [`fenced`](Self::fenced), and the server aborts a batch
    /// transaction left idle between statements longer than `ttl` (`SET
    /// LOCAL idle_in_transaction_session_timeout`). The lease check runs
    /// last in each batch, and its row lock keeps claimers off the
    /// partition until COMMIT; a writer stalled right there (SIGSTOP, a
    /// long pause) would keep them off for as long as it stalls. With
    /// this, its transaction ends one TTL into the stall, the batch is
    /// rolled back, and the writer's next commit is fenced.
    pub fn fenced_for(&self, lease: &Lease, ttl: Duration) -> PostgresSink {
        self.with_fence(Fence {
            stream: lease.stream.clone(),
            partition: lease.partition.clone(),
            owner: lease.owner.clone(),
            epoch: lease.epoch,
            stall_limit: Some(ttl),
        })
    }
}

/// The claimable predicate over columns prefixed by `p` (`$4` is the attempts limit).
fn claimable(p: &str) -> String {
    format!(
        "({p}state = 'pending' \
         OR ({p}state = 'leased' AND {p}lease_expires <= now()) \
         OR ({p}state = 'failed' AND {p}attempts < $4::int))"
    )
}

fn db(action: &'static str, schema: &str) -> impl FnOnce(tokio_postgres::Error) -> LeaseError {
    let schema = schema.to_owned();
    move |source| LeaseError::Database {
        action,
        schema,
        source,
    }
}
