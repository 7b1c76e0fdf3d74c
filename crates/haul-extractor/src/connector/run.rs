//! The connector's run: the scheduler across partitions (resume, turns for
//! request slots, discovered children, stop, failure policy). Each partition
//! is walked by [`super::partition_walk`].

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use haul_core::{Checkpoint, Position};
use haul_sink::{PartitionState, Sink};
use tokio::sync::{Notify, Semaphore};

use super::Connector;
use super::partition_walk::{Ended, Job, Shared, run_partition};
use super::summary::{
    ConnectorError, ConnectorSummary, FailedPartition, PartitionOutcome, PartitionSummary,
};
use crate::{Partition, Partitions};

/// Where connectors keep their run markers (one partition per connector).
pub(crate) const RUN_STATE: &str = "_haul_connector";
fn marker(connector: &str, running: bool) -> PartitionState {
    let mut checkpoint = Checkpoint::start(RUN_STATE);
    if !running {
        checkpoint.position = Position::Done;
    }
    PartitionState {
        stream: RUN_STATE.to_owned(),
        partition: connector.to_owned(),
        values: BTreeMap::new(),
        checkpoint,
    }
}

impl Connector {
    /// Runs every selected stream into `sink` (which must store partitions:
    /// `SqliteSink`, `JsonLinesSink` or `MemorySink`) and returns the summary.
    ///
    /// A run after an interrupted one (stopped, killed, or failed fast)
    /// resumes it: finished partitions are not fetched again and unfinished
    /// ones continue from their page checkpoints. Otherwise every partition
    /// starts a new pass (incremental streams from their own watermarks).
    pub async fn run(&self, sink: &dyn Sink) -> Result<ConnectorSummary, ConnectorError> {
        self.run_until(sink, std::future::pending::<()>()).await
    }

    /// Like [`run`](Self::run), but stops cleanly once `stop` completes:
    /// each partition finishes its page in flight and commits, and
    /// [`ConnectorError::Interrupted`] says how many can resume.
    pub async fn run_until(
        &self,
        sink: &dyn Sink,
        stop: impl Future<Output = ()> + Send,
    ) -> Result<ConnectorSummary, ConnectorError> {
        let c = &*self.inner;
        let started = c.clock.now();
        let selected: Vec<usize> = (0..c.streams.len())
            .filter(|i| self.selected.as_ref().is_none_or(|s| s.contains(i)))
            .collect();
        let resumed = sink
            .partitions(RUN_STATE)
            .await?
            .iter()
            .any(|m| m.partition == c.name && !m.checkpoint.is_done());
        sink.write_state(&[marker(&c.name, true)]).await?;
        let mut children = vec![Vec::new(); c.streams.len()];
        for &i in &selected {
            if let Some(p) = c.streams[i].parent {
                children[p].push(i);
            }
        }
        let shared = Shared {
            connector: c,
            sink,
            permits: Arc::new(Semaphore::new(c.max_in_flight)),
            stop: AtomicBool::new(false),
            discovered: Mutex::default(),
            found: Notify::new(),
            seen: Mutex::default(),
            children,
            worker: false,
            fenced: AtomicU64::new(0),
        };
        let mut summary = ConnectorSummary {
            connector: c.name.clone(),
            resumed,
            ..ConnectorSummary::default()
        };
        let now = i64::try_from(
            c.clock
                .wall()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        )
        .unwrap_or(i64::MAX);
        let mut queue: VecDeque<Job> = VecDeque::new();
        for &i in &selected {
            let stream = &c.streams[i];
            match &stream.partitions {
                Partitions::Parent(_) => {
                    // Children registered by earlier runs: unfinished ones go on.
                    for state in sink.partitions(&stream.name).await? {
                        if state.checkpoint.is_done() {
                            // A new pass re-registers the children its records define.
                            if resumed {
                                summary.already_finished(&stream.name);
                            }
                        } else if shared.first_sighting(i, &state.partition) {
                            queue.push_back(Job::local(
                                i,
                                Partition::from_stored(state.partition, state.values),
                            ));
                        }
                    }
                }
                source => {
                    for partition in roots(source, now) {
                        let stored = sink.open_partition(&stream.name, partition.key()).await?;
                        if resumed && stored.is_some_and(|cp| cp.is_done()) {
                            summary.already_finished(&stream.name);
                        } else if shared.first_sighting(i, partition.key()) {
                            queue.push_back(Job::local(i, partition));
                        }
                    }
                }
            }
        }
        tracing::info!(connector = %c.name, resumed, partitions = queue.len(),
            already_finished = summary.partitions_already_finished, "connector run starting");

        let mut failed: Vec<FailedPartition> = Vec::new();
        let mut running = FuturesUnordered::new();
        let mut stop = std::pin::pin!(stop);
        let mut stop_seen = false;
        loop {
            queue.extend(
                shared
                    .discovered
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .drain(..),
            );
            while running.len() < c.max_active && !shared.stop.load(Ordering::Relaxed) {
                let Some(job) = queue.pop_front() else { break };
                running.push(run_partition(&shared, job));
            }
            if running.is_empty() {
                break;
            }
            tokio::select! {
                Some((job, run, ended)) = running.next() => {
                    let stream = c.streams[job.stream].name.clone();
                    let outcome = match ended {
                        Ended::Finished => PartitionOutcome::Finished,
                        Ended::Skipped(status) => PartitionOutcome::Skipped { status },
                        Ended::Interrupted => PartitionOutcome::Interrupted,
                        // Only in worker mode, which a plain run is not.
                        Ended::AlreadyFinished | Ended::Lost => PartitionOutcome::Interrupted,
                        Ended::Failed(error) => {
                            tracing::warn!(connector = %c.name, stream = %stream,
                                partition = %job.partition.key(), error = %error, "partition failed");
                            if c.fail_fast {
                                shared.halt();
                            }
                            let text = error.to_string();
                            failed.push(FailedPartition {
                                stream: stream.clone(),
                                partition: job.partition.key().to_owned(),
                                error,
                            });
                            PartitionOutcome::Failed { error: text }
                        }
                    };
                    summary.add(PartitionSummary {
                        stream,
                        partition: job.partition.key().to_owned(),
                        outcome,
                        run,
                    });
                }
                () = &mut stop, if !stop_seen => {
                    tracing::warn!(connector = %c.name, "stop requested: partitions commit and stop");
                    stop_seen = true;
                    shared.halt();
                }
                () = shared.found.notified() => {}
            }
        }
        summary.elapsed = c.clock.now().saturating_sub(started);
        let stopped = shared.stop.load(Ordering::Relaxed);
        if !stopped {
            sink.write_state(&[marker(&c.name, false)]).await?;
        }
        tracing::info!(summary = %summary, "connector run ended");
        if !failed.is_empty() {
            return Err(ConnectorError::Failed {
                failed,
                summary: Box::new(summary),
            });
        }
        if stopped {
            let interrupted = summary
                .partitions
                .iter()
                .filter(|p| p.outcome == PartitionOutcome::Interrupted)
                .count();
            return Err(ConnectorError::Interrupted {
                resumable: interrupted + queue.len(),
                summary: Box::new(summary),
            });
        }
        Ok(summary)
    }
}

/// The partitions of a stream that has no parent.
pub(super) fn roots(source: &Partitions, now: i64) -> Vec<Partition> {
    match source {
        Partitions::List(list) => list.clone(),
        Partitions::Windows(w) => w.windows(now),
        _ => vec![Partition::single()],
    }
}
