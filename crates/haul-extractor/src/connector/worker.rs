//! The connector's worker mode: partitions claimed from a shared
//! [`WorkQueue`] instead of planned by one process, each run under a
//! heartbeat and written through a sink fenced by its lease.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use haul_core::Checkpoint;
use haul_sink::{Batch, Lease, Sink, SinkError, WorkError, WorkQueue};
use serde::Serialize;
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinHandle;

use super::Connector;
use super::partition_walk::{Ended, Job, Shared, run_partition};
use super::run::roots;
use super::summary::{ConnectorError, ConnectorSummary, PartitionOutcome, PartitionSummary};
use crate::{Partition, Partitions, RunSummary};

/// Consecutive failed claims (or outlooks) a worker waits out, one poll
/// interval apart, before it gives up with [`ConnectorError::Queue`].
const MAX_QUEUE_ERRORS: u32 = 20;

/// How a connector runs as a worker ([`Connector::run_worker`]).
#[derive(Debug, Clone)]
#[must_use]
pub struct WorkerOptions {
    keep_polling: bool,
    poll_interval: Duration,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        Self {
            keep_polling: false,
            poll_interval: Duration::from_millis(500),
        }
    }
}

impl WorkerOptions {
    /// Keep polling for work when the queue is drained instead of exiting
    /// (default: exit once nothing is claimable and nothing is leased).
    /// Stop such a worker with [`Connector::run_worker_until`].
    pub fn keep_polling(mut self, on: bool) -> Self {
        self.keep_polling = on;
        self
    }

    /// How often an idle worker, or one with room for more partitions,
    /// asks the queue for work (default 500 ms; at least 1 ms). A worker
    /// also claims at once when one of its own partitions registered children.
    pub fn poll_interval(mut self, every: Duration) -> Self {
        self.poll_interval = every.max(Duration::from_millis(1));
        self
    }
}

/// What one worker did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct WorkerSummary {
    /// The worker's name in the queue.
    pub owner: String,
    /// Root partitions this worker registered that the queue did not know yet.
    pub roots_registered: u64,
    /// Partitions claimed.
    pub claimed: u64,
    /// Claims that took a partition over from a holder whose lease had expired.
    pub reclaimed: u64,
    /// Partitions completed (run to the end, or found already finished).
    pub completed: u64,
    /// Partitions marked failed (retried by the queue while attempts are left).
    pub failed: u64,
    /// Partitions handed back unfinished because the worker was stopped.
    pub released: u64,
    /// Partitions stopped because their lease was lost.
    pub lost: u64,
    /// Commits the fence refused (each wrote nothing).
    pub commits_fenced: u64,
    /// The partitions this worker ran, as a connector run reports them.
    pub run: ConnectorSummary,
}

impl std::fmt::Display for WorkerSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "worker {}: {} claimed ({} reclaimed), {} completed, {} failed, {} released, {} lost, \
             {} commits fenced; {}",
            self.owner,
            self.claimed,
            self.reclaimed,
            self.completed,
            self.failed,
            self.released,
            self.lost,
            self.commits_fenced,
            self.run
        )
    }
}

/// Renews a lease every TTL/3 until dropped; flags the lease lost when a
/// renewal finds it gone.
struct Heartbeat {
    task: JoinHandle<()>,
}

impl Heartbeat {
    fn start(queue: Arc<dyn WorkQueue>, lease: Lease, lost: Arc<AtomicBool>) -> Self {
        let period = (queue.ttl() / 3).max(Duration::from_millis(1));
        let task = tokio::spawn(async move {
            let mut beat = tokio::time::interval(period);
            beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            beat.tick().await;
            loop {
                beat.tick().await;
                match queue.renew(&lease).await {
                    Ok(()) => {}
                    Err(WorkError::Lost { .. }) => {
                        tracing::warn!(stream = %lease.stream, partition = %lease.partition,
                            epoch = lease.epoch, "lease lost: the partition stops");
                        lost.store(true, Ordering::SeqCst);
                        break;
                    }
                    Err(error) => {
                        tracing::warn!(%error, stream = %lease.stream, partition = %lease.partition,
                            "renewing a lease failed; retrying at the next beat");
                    }
                }
            }
        });
        Self { task }
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The run-wide sink of worker mode, which has none: every partition
/// writes through its lease's fenced sink.
struct NoSink;

fn no_sink() -> SinkError {
    SinkError::Usage(
        "worker mode writes each partition through its lease's fenced sink, not a run-wide one"
            .to_owned(),
    )
}

#[async_trait]
impl Sink for NoSink {
    async fn open(&self, _stream: &str) -> Result<Option<Checkpoint>, SinkError> {
        Err(no_sink())
    }
    async fn write(&self, _batch: Batch<'_>) -> Result<(), SinkError> {
        Err(no_sink())
    }
    async fn watermark(&self, _stream: &str, _pointer: &str) -> Result<Option<String>, SinkError> {
        Err(no_sink())
    }
}

impl Connector {
    /// Runs the connector as one worker of many sharing `queue`: registers
    /// the root partitions of the selected streams (idempotently), then
    /// claims partitions of any selected stream — up to
    /// [`max_active_partitions`](super::ConnectorBuilder::max_active_partitions)
    /// at once, sharing [`max_in_flight`](super::ConnectorBuilder::max_in_flight)
    /// request slots — and runs each from its stored checkpoint through
    /// [`WorkQueue::fenced_sink`], renewing its lease every TTL/3.
    ///
    /// - A partition that ends is completed; one that fails is marked failed
    ///   with its error (the queue retries it up to its attempts limit); one
    ///   whose lease is lost stops before its next page (its commits are
    ///   refused by the fence anyway) and is left to its new holder.
    /// - Children a parent partition discovers are registered in the same
    ///   transaction as the parent's records
    ///   ([`PartitionBatch::register`](haul_sink::PartitionBatch::register)),
    ///   so any worker can claim them once that batch commits.
    /// - Each partition runs one pass: a claimed partition whose checkpoint
    ///   is already done (its holder committed and died before completing) is
    ///   completed without a request.
    /// - The worker returns once it runs nothing, nothing is claimable, and
    ///   nothing is leased by another worker (which could still register
    ///   children or expire) — or never, with
    ///   [`WorkerOptions::keep_polling`].
    ///
    /// Failed partitions do not make this an error: they are in the
    /// summary, and in the queue with their errors (so
    /// [`fail_fast`](super::ConnectorBuilder::fail_fast) does not apply:
    /// another worker may retry the partition). Errors are the queue's
    /// (registration, or claims failing 20 times in a row, a poll
    /// interval apart).
    pub async fn run_worker(
        &self,
        queue: Arc<dyn WorkQueue>,
        options: &WorkerOptions,
    ) -> Result<WorkerSummary, ConnectorError> {
        self.run_worker_until(queue, options, std::future::pending::<()>())
            .await
    }

    /// Like [`run_worker`](Self::run_worker), but stops once `stop`
    /// completes: running partitions commit what they fetched and are
    /// released (claimable by any worker at once, the claim not counted as
    /// an attempt), and the summary is returned.
    pub async fn run_worker_until(
        &self,
        queue: Arc<dyn WorkQueue>,
        options: &WorkerOptions,
        stop: impl Future<Output = ()> + Send,
    ) -> Result<WorkerSummary, ConnectorError> {
        let c = &*self.inner;
        let started = c.clock.now();
        let queue_error = |source| ConnectorError::Queue {
            connector: c.name.clone(),
            source,
        };
        let selected: Vec<usize> = (0..c.streams.len())
            .filter(|i| self.selected.as_ref().is_none_or(|s| s.contains(i)))
            .collect();
        let names: Vec<&str> = selected
            .iter()
            .map(|&i| c.streams[i].name.as_str())
            .collect();
        let mut children = vec![Vec::new(); c.streams.len()];
        for &i in &selected {
            if let Some(p) = c.streams[i].parent {
                children[p].push(i);
            }
        }
        let mut summary = WorkerSummary {
            owner: queue.owner().to_owned(),
            run: ConnectorSummary {
                connector: c.name.clone(),
                ..ConnectorSummary::default()
            },
            ..WorkerSummary::default()
        };
        let now = i64::try_from(
            c.clock
                .wall()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        )
        .unwrap_or(i64::MAX);
        for &i in &selected {
            let stream = &c.streams[i];
            if matches!(stream.partitions, Partitions::Parent(_)) {
                continue;
            }
            let partitions: Vec<_> = roots(&stream.partitions, now)
                .into_iter()
                .map(|p| (p.key().to_owned(), p.stored_values()))
                .collect();
            summary.roots_registered += queue
                .register(&stream.name, &partitions)
                .await
                .map_err(queue_error)?;
        }
        tracing::info!(connector = %c.name, owner = %summary.owner,
            roots_registered = summary.roots_registered, "worker starting");

        let no_sink = NoSink;
        let shared = Shared {
            connector: c,
            sink: &no_sink,
            permits: Arc::new(Semaphore::new(c.max_in_flight)),
            stop: AtomicBool::new(false),
            discovered: Mutex::default(),
            found: Notify::new(),
            seen: Mutex::default(),
            children,
            worker: true,
            fenced: AtomicU64::new(0),
        };
        let run_leased = |job: Job, lease: Lease, beat: Heartbeat| {
            let shared = &shared;
            async move {
                let (job, run, ended) = run_partition(shared, job).await;
                drop(beat);
                (job, run, ended, lease)
            }
        };

        let mut running = FuturesUnordered::new();
        let mut stop = std::pin::pin!(stop);
        let mut stopping = false;
        let mut may_claim = true;
        let mut errors = 0u32;
        loop {
            while may_claim && !stopping && running.len() < c.max_active {
                match queue.claim(&names).await {
                    Ok(Some(lease)) => {
                        errors = 0;
                        summary.claimed += 1;
                        summary.reclaimed += u64::from(lease.reclaimed);
                        let Some(stream) = c.streams.iter().position(|s| s.name == lease.stream)
                        else {
                            // Cannot happen: the claim is of the selected streams.
                            continue;
                        };
                        let lost = Arc::new(AtomicBool::new(false));
                        let beat =
                            Heartbeat::start(Arc::clone(&queue), lease.clone(), Arc::clone(&lost));
                        let job = Job {
                            stream,
                            partition: Partition::from_stored(
                                lease.partition.clone(),
                                lease.values.clone(),
                            ),
                            sink: Some(queue.fenced_sink(&lease)),
                            lost: Some(lost),
                        };
                        running.push(run_leased(job, lease, beat));
                    }
                    Ok(None) => may_claim = false,
                    Err(error) => {
                        errors += 1;
                        if errors >= MAX_QUEUE_ERRORS {
                            return Err(queue_error(error));
                        }
                        tracing::warn!(%error, errors, "claiming work failed; retrying");
                        may_claim = false;
                    }
                }
            }
            if running.is_empty() {
                if stopping {
                    break;
                }
                match queue.outlook(&names).await {
                    Ok(outlook) if outlook.is_drained() && !options.keep_polling => break,
                    Ok(outlook) => {
                        errors = 0;
                        tracing::debug!(
                            claimable = outlook.claimable,
                            leased = outlook.leased,
                            "no work claimed; polling"
                        );
                    }
                    Err(error) => {
                        errors += 1;
                        if errors >= MAX_QUEUE_ERRORS {
                            return Err(queue_error(error));
                        }
                        tracing::warn!(%error, errors, "reading the work left failed; retrying");
                    }
                }
            }
            tokio::select! {
                Some((job, run, ended, lease)) = running.next() => {
                    self.ended(&*queue, &mut summary, job, run, ended, &lease).await;
                    may_claim = true;
                }
                () = tokio::time::sleep(options.poll_interval), if running.len() < c.max_active => {
                    may_claim = true;
                }
                () = shared.found.notified() => may_claim = true,
                () = &mut stop, if !stopping => {
                    tracing::warn!(connector = %c.name, owner = %summary.owner,
                        "stop requested: partitions commit and are released");
                    stopping = true;
                    shared.halt();
                }
            }
        }
        summary.commits_fenced = shared.fenced.load(Ordering::Relaxed);
        summary.run.elapsed = c.clock.now().saturating_sub(started);
        tracing::info!(summary = %summary, "worker ended");
        Ok(summary)
    }

    /// Settles one partition's lease by how its run ended.
    async fn ended(
        &self,
        queue: &dyn WorkQueue,
        summary: &mut WorkerSummary,
        job: Job,
        run: RunSummary,
        ended: Ended,
        lease: &Lease,
    ) {
        let stream = self.inner.streams[job.stream].name.clone();
        let settled = match &ended {
            Ended::Finished | Ended::Skipped(_) | Ended::AlreadyFinished => {
                queue.complete(lease).await.map(|()| summary.completed += 1)
            }
            Ended::Failed(error) => queue
                .fail(lease, &error.to_string())
                .await
                .map(|()| summary.failed += 1),
            Ended::Interrupted => queue.release(lease).await.map(|()| summary.released += 1),
            Ended::Lost => Ok(()),
        };
        match settled {
            Ok(()) => {}
            Err(WorkError::Lost { .. }) => summary.lost += 1,
            // The lease expires and its next holder settles the partition
            // from its stored checkpoint.
            Err(error) => tracing::warn!(%error, stream = %stream, partition = %lease.partition,
                "settling a partition's lease failed; it is left to expire"),
        }
        let outcome = match ended {
            Ended::AlreadyFinished => {
                summary.run.already_finished(&stream);
                return;
            }
            Ended::Finished => PartitionOutcome::Finished,
            Ended::Skipped(status) => PartitionOutcome::Skipped { status },
            Ended::Interrupted => PartitionOutcome::Interrupted,
            Ended::Lost => {
                summary.lost += 1;
                PartitionOutcome::Lost
            }
            Ended::Failed(error) => {
                tracing::warn!(connector = %self.inner.name, stream = %stream,
                    partition = %lease.partition, error = %error, "partition failed");
                PartitionOutcome::Failed {
                    error: error.to_string(),
                }
            }
        };
        summary.run.add(PartitionSummary {
            stream,
            partition: lease.partition.clone(),
            outcome,
            run,
        });
    }
}
