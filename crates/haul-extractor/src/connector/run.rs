//! The connector's run: the scheduler across partitions and the walk of one
//! partition.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use haul_core::{Checkpoint, Position, Record, Request};
use haul_sink::{PartitionBatch, PartitionState, Sink, SinkError};
use tokio::sync::{Notify, Semaphore};

use super::rules::{self, RuleAction};
use super::summary::{
    ConnectorError, ConnectorSummary, FailedPartition, PartitionOutcome, PartitionSummary,
};
use super::{Connector, ConnectorInner, Stream};
use crate::event::Event;
use crate::walker::Walker;
use crate::{ExtractError, Partition, Partitions, RunSummary};

/// Where connectors keep their run markers (one partition per connector).
pub(crate) const RUN_STATE: &str = "_haul_connector";

/// One partition to run.
#[derive(Debug)]
struct Job {
    stream: usize,
    partition: Partition,
}

/// How a partition's run ended.
enum Ended {
    Finished,
    Skipped(u16),
    Failed(ExtractError),
    Interrupted,
}

/// What every partition of a run shares.
struct Shared<'a> {
    connector: &'a ConnectorInner,
    sink: &'a dyn Sink,
    /// Requests in flight; tokio's semaphore is first-come first-served, so
    /// partitions take turns (round-robin) for the slots.
    permits: Semaphore,
    stop: AtomicBool,
    /// Child partitions whose defining parent records are committed.
    discovered: Mutex<VecDeque<Job>>,
    found: Notify,
    /// Partitions queued in this run, so a child is registered once.
    seen: Mutex<HashSet<(usize, String)>>,
    /// The selected child streams of each stream.
    children: Vec<Vec<usize>>,
}

impl Shared<'_> {
    fn first_sighting(&self, stream: usize, key: &str) -> bool {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert((stream, key.to_owned()))
    }
}

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
    /// `SqliteSink` or `MemorySink`) and returns the summary.
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
            permits: Semaphore::new(c.max_in_flight),
            stop: AtomicBool::new(false),
            discovered: Mutex::default(),
            found: Notify::new(),
            seen: Mutex::default(),
            children,
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
                            queue.push_back(Job {
                                stream: i,
                                partition: Partition::from_stored(state.partition, state.values),
                            });
                        }
                    }
                }
                source => {
                    for partition in roots(source, now) {
                        let stored = sink.open_partition(&stream.name, partition.key()).await?;
                        if resumed && stored.is_some_and(|cp| cp.is_done()) {
                            summary.already_finished(&stream.name);
                        } else if shared.first_sighting(i, partition.key()) {
                            queue.push_back(Job {
                                stream: i,
                                partition,
                            });
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
                        Ended::Failed(error) => {
                            tracing::warn!(connector = %c.name, stream = %stream,
                                partition = %job.partition.key(), error = %error, "partition failed");
                            if c.fail_fast {
                                shared.stop.store(true, Ordering::Relaxed);
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
                    shared.stop.store(true, Ordering::Relaxed);
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
fn roots(source: &Partitions, now: i64) -> Vec<Partition> {
    match source {
        Partitions::List(list) => list.clone(),
        Partitions::Windows(w) => w.windows(now),
        _ => vec![Partition::single()],
    }
}

async fn run_partition(shared: &Shared<'_>, job: Job) -> (Job, RunSummary, Ended) {
    let stream = &shared.connector.streams[job.stream];
    let (mut run, ended) = walk(shared, stream, &job).await;
    run.stream = stream.name.clone();
    run.finished = matches!(ended, Ended::Finished | Ended::Skipped(_));
    (job, run, ended)
}

/// Walks one partition: page by page, each page taking a turn for a
/// request slot, committing batches with the partition's checkpoint and
/// registering the children its records define.
async fn walk(shared: &Shared<'_>, stream: &Stream, job: &Job) -> (RunSummary, Ended) {
    let key = job.partition.key();
    let request = match stream.template.render(job.partition.values()) {
        Ok(r) => r,
        Err(e) => {
            return (
                RunSummary::default(),
                Ended::Failed(ExtractError::Template(e)),
            );
        }
    };
    let mut inner = (**stream.extractor.inner()).clone();
    inner.request = request.clone();
    let inner = Arc::new(inner);
    let stored = match shared.sink.open_partition(&stream.name, key).await {
        Ok(stored) => stored,
        Err(e) => return (RunSummary::default(), Ended::Failed(e.into())),
    };
    let walker = match stored {
        Some(cp) if !cp.is_done() => {
            tracing::debug!(stream = %stream.name, partition = %key, after_page = cp.pages, "resuming partition");
            Walker::resume(Arc::clone(&inner), &cp)
        }
        _ => match first_request(shared, stream, key, request).await {
            Ok((request, bound)) => Ok(Walker::fresh_from(Arc::clone(&inner), request, bound)),
            Err(e) => Err(e),
        },
    };
    let mut walker = match walker {
        Ok(w) => w,
        Err(e) => return (RunSummary::default(), Ended::Failed(e)),
    };
    let resumed_after_page = walker.pages;
    let mut buffer: Vec<Record> = Vec::new();
    let mut register: Vec<PartitionState> = Vec::new();
    let mut found: Vec<Job> = Vec::new();
    let ended = loop {
        if shared.stop.load(Ordering::Relaxed) {
            break Ended::Interrupted;
        }
        let page = match shared.permits.acquire().await {
            Ok(_permit) => walker.next_page().await,
            // The semaphore is never closed.
            Err(_) => break Ended::Interrupted,
        };
        match page {
            Some(Ok(page)) => {
                discover(shared, job, &page.records, &mut register, &mut found);
                buffer.extend(page.records);
                if buffer.len() >= inner.batch_records {
                    let cp = walker.checkpoint();
                    if let Err(e) = commit(shared, stream, job, &cp, &buffer, &register).await {
                        break Ended::Failed(e.into());
                    }
                    announce(shared, &inner, &stream.name, &cp, &mut found);
                    buffer.clear();
                    register.clear();
                }
            }
            Some(Err(error)) => break ended_by(stream, error),
            None => break Ended::Finished,
        }
    };
    let mut cp = walker.checkpoint();
    if matches!(ended, Ended::Skipped(_)) {
        cp.position = Position::Done;
    }
    let ended = match commit(shared, stream, job, &cp, &buffer, &register).await {
        Ok(()) => {
            announce(shared, &inner, &stream.name, &cp, &mut found);
            ended
        }
        Err(commit) => match ended {
            Ended::Failed(original) => Ended::Failed(ExtractError::CommitAfterFailure {
                original: Box::new(original),
                commit,
            }),
            _ => Ended::Failed(commit.into()),
        },
    };
    if matches!(ended, Ended::Finished) {
        inner.observer.on_event(&Event::StreamFinished {
            stream: &stream.name,
        });
    }
    let mut run = std::mem::take(&mut walker.summary);
    run.resumed_after_page = resumed_after_page;
    (run, ended)
}

/// The children the committed records will define, registered in the same
/// transaction as the records.
fn discover(
    shared: &Shared<'_>,
    job: &Job,
    records: &[Record],
    register: &mut Vec<PartitionState>,
    found: &mut Vec<Job>,
) {
    for &child in &shared.children[job.stream] {
        let child_stream = &shared.connector.streams[child];
        let Partitions::Parent(link) = &child_stream.partitions else {
            continue;
        };
        for record in records {
            let Some(partition) = link.child_of(&job.partition, record) else {
                tracing::warn!(stream = %child_stream.name, record = ?record,
                    "a parent record lacks a field its children need; no child partition for it");
                continue;
            };
            if haul_sink::check_partition_key(partition.key()).is_err()
                || !shared.first_sighting(child, partition.key())
            {
                continue;
            }
            register.push(PartitionState {
                stream: child_stream.name.clone(),
                partition: partition.key().to_owned(),
                values: partition.values().clone(),
                checkpoint: Checkpoint::start(child_stream.name.clone()),
            });
            found.push(Job {
                stream: child,
                partition,
            });
        }
    }
}

async fn commit(
    shared: &Shared<'_>,
    stream: &Stream,
    job: &Job,
    checkpoint: &Checkpoint,
    records: &[Record],
    register: &[PartitionState],
) -> Result<(), SinkError> {
    shared
        .sink
        .write_partition(PartitionBatch {
            stream: &stream.name,
            partition: job.partition.key(),
            values: job.partition.values(),
            records,
            checkpoint,
            register,
        })
        .await
}

/// After a commit: report it and hand the children it registered to the scheduler.
fn announce(
    shared: &Shared<'_>,
    inner: &crate::extractor::Inner,
    stream: &str,
    cp: &Checkpoint,
    found: &mut Vec<Job>,
) {
    inner.observer.on_event(&Event::BatchCommitted {
        stream,
        pages: cp.pages,
        records: cp.records,
    });
    if !found.is_empty() {
        shared
            .discovered
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend(found.drain(..));
        shared.found.notify_one();
    }
}

/// Applies the stream's response rules to a failure.
fn ended_by(stream: &Stream, error: ExtractError) -> Ended {
    if let ExtractError::Http {
        status, preview, ..
    } = &error
    {
        // The classifier matched the whole body; the error keeps a preview,
        // so fall back to a rule on the status alone when the preview is cut.
        let action = rules::first_match(&stream.rules, *status, preview.as_bytes()).or_else(|| {
            let mut same = stream.rules.iter().filter(|r| r.status_is(*status));
            let first = same.next()?;
            same.all(|r| r.action() == first.action())
                .then_some(first.action())
        });
        match action {
            Some(RuleAction::SkipPartition) => return Ended::Skipped(status.as_u16()),
            Some(RuleAction::EndOfData) => return Ended::Finished,
            _ => {}
        }
    }
    Ended::Failed(error)
}

/// The first request of a new pass of a partition: narrowed by the
/// partition's own watermark when the stream is incremental.
async fn first_request(
    shared: &Shared<'_>,
    stream: &Stream,
    key: &str,
    mut request: Request,
) -> Result<(Request, Option<String>), ExtractError> {
    let Some(inc) = &stream.incremental else {
        return Ok((request, None));
    };
    if shared.connector.full_refresh {
        return Ok((request, None));
    }
    let Some(watermark) = shared
        .sink
        .partition_watermark(&stream.name, key, &inc.field)
        .await?
    else {
        return Ok((request, None));
    };
    let failed = |source| ExtractError::Incremental {
        stream: stream.name.clone(),
        source,
    };
    let bound = inc.lower_bound(&watermark).map_err(failed)?;
    inc.place(&mut request, &bound).map_err(failed)?;
    Ok((request, Some(bound)))
}
