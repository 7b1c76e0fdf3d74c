//! The walk of one partition of a connector's stream: page by page, each
//! page taking a turn for a request slot, committing batches with the
//! partition's checkpoint and handing the children its records define to
//! the scheduler ([`super::run`]).

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use haul_core::{Checkpoint, Position, Record, Request};
use haul_sink::{PartitionState, Sink, SinkError};
use tokio::sync::{Notify, Semaphore};

use super::rules::{self, RuleAction};
use super::{ConnectorInner, Stream};
use crate::commit::{PartitionCommit, commit_partition, committed};
use crate::event::Event;
use crate::plan::Plan;
use crate::walk::Walker;
use crate::{ExtractError, Partition, Partitions, RunSummary};

/// One partition to run.
pub(super) struct Job {
    pub(super) stream: usize,
    pub(super) partition: Partition,
    /// The sink this partition writes through (worker mode: fenced by its
    /// lease); `None`: the run's sink.
    pub(super) sink: Option<Arc<dyn Sink>>,
    /// Set when the partition's lease is lost: it stops before its next page.
    pub(super) lost: Option<Arc<AtomicBool>>,
}

impl Job {
    /// A partition of the run's own queue, written to the run's sink.
    pub(super) fn local(stream: usize, partition: Partition) -> Self {
        Self {
            stream,
            partition,
            sink: None,
            lost: None,
        }
    }

    fn is_lost(&self) -> bool {
        self.lost.as_ref().is_some_and(|l| l.load(Ordering::SeqCst))
    }
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job")
            .field("stream", &self.stream)
            .field("partition", &self.partition)
            .field("leased", &self.lost.is_some())
            .finish_non_exhaustive()
    }
}

/// How a partition's run ended.
pub(super) enum Ended {
    Finished,
    Skipped(u16),
    Failed(ExtractError),
    Interrupted,
    /// Worker mode: the stored checkpoint says the partition is done (its
    /// last holder committed it and lost its lease before completing).
    AlreadyFinished,
    /// Worker mode: the lease was lost (the heartbeat found it gone, or the
    /// fence refused a commit); another worker takes the partition over.
    Lost,
}

/// What every partition of a run shares.
pub(super) struct Shared<'a> {
    pub(super) connector: &'a ConnectorInner,
    pub(super) sink: &'a dyn Sink,
    /// Requests in flight; tokio's semaphore is first-come first-served, so
    /// partitions take turns (round-robin) for the slots.
    pub(super) permits: Arc<Semaphore>,
    pub(super) stop: AtomicBool,
    /// Child partitions whose defining parent records are committed.
    pub(super) discovered: Mutex<VecDeque<Job>>,
    pub(super) found: Notify,
    /// Partitions queued in this run, so a child is registered once.
    pub(super) seen: Mutex<HashSet<(usize, String)>>,
    /// The selected child streams of each stream.
    pub(super) children: Vec<Vec<usize>>,
    /// Worker mode: partitions come from a work queue, each is one pass (a
    /// done checkpoint means finished), and discovered children are left to
    /// the queue instead of this run's queue.
    pub(super) worker: bool,
    /// Commits the fence refused.
    pub(super) fenced: AtomicU64,
}

impl Shared<'_> {
    /// Stops the run: partitions stop before their next page, and requests
    /// still waiting for a slot are not sent (the pages in flight finish).
    pub(super) fn halt(&self) {
        self.stop.store(true, Ordering::Relaxed);
        self.permits.close();
    }

    pub(super) fn first_sighting(&self, stream: usize, key: &str) -> bool {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert((stream, key.to_owned()))
    }
}

/// Runs one partition to its end and labels its summary.
pub(super) async fn run_partition(shared: &Shared<'_>, job: Job) -> (Job, RunSummary, Ended) {
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
    let sink = job.sink.as_deref().unwrap_or(shared.sink);
    let mut inner = (*stream.plan).clone();
    inner.request = request.clone();
    inner.slots = Some(Arc::clone(&shared.permits));
    let inner = Arc::new(inner);
    let stored = match sink.open_partition(&stream.name, key).await {
        Ok(stored) => stored,
        Err(e) => return (RunSummary::default(), Ended::Failed(e.into())),
    };
    let walker = match stored {
        Some(cp) if cp.is_done() && shared.worker => {
            return (RunSummary::default(), Ended::AlreadyFinished);
        }
        Some(cp) if !cp.is_done() => {
            tracing::debug!(stream = %stream.name, partition = %key, after_page = cp.pages, "resuming partition");
            Walker::resume(Arc::clone(&inner), &cp)
        }
        _ => match first_request(shared, sink, stream, key, request).await {
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
        if job.is_lost() {
            break Ended::Lost;
        }
        if shared.stop.load(Ordering::Relaxed) {
            break Ended::Interrupted;
        }
        // Each request of the page (several when the paginator lists the
        // remaining pages and the stream allows concurrency) takes a slot.
        match walker.next_page().await {
            Some(Ok(page)) => {
                let records: Vec<Record> = if job.partition.included().is_empty() {
                    page.records
                } else {
                    page.records
                        .into_iter()
                        .map(|r| job.partition.include_into(r))
                        .collect()
                };
                discover(shared, job, &records, &mut register, &mut found);
                buffer.extend(records);
                if buffer.len() >= inner.batch_records {
                    let cp = walker.checkpoint();
                    match commit(shared, sink, &inner, job, &cp, &buffer, &register).await {
                        Ok(()) => {}
                        Err(SinkError::Fenced(_)) => break Ended::Lost,
                        Err(e) => break Ended::Failed(e.into()),
                    }
                    announce(shared, &inner, &cp, &mut found);
                    buffer.clear();
                    register.clear();
                }
            }
            // A request that was waiting for a slot when the run stopped.
            Some(Err(ExtractError::Interrupted { .. })) => break Ended::Interrupted,
            Some(Err(error)) => break ended_by(stream, error),
            None => break Ended::Finished,
        }
    };
    let mut cp = walker.checkpoint();
    if matches!(ended, Ended::Skipped(_)) {
        cp.position = Position::Done;
    }
    // A lost lease still tries its last commit: the fence refuses it (and
    // counts it), which is what keeps a zombie from writing.
    let ended = match commit(shared, sink, &inner, job, &cp, &buffer, &register).await {
        Ok(()) => {
            announce(shared, &inner, &cp, &mut found);
            ended
        }
        Err(SinkError::Fenced(_)) => Ended::Lost,
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
                values: partition.stored_values(),
                checkpoint: Checkpoint::start(child_stream.name.clone()),
            });
            found.push(Job::local(child, partition));
        }
    }
}

async fn commit(
    shared: &Shared<'_>,
    sink: &dyn Sink,
    plan: &Plan,
    job: &Job,
    checkpoint: &Checkpoint,
    records: &[Record],
    register: &[PartitionState],
) -> Result<(), SinkError> {
    // Included parent fields are stored with the values, so a resumed run
    // still adds them.
    let values = job.partition.stored_values();
    let result = commit_partition(
        plan,
        sink,
        PartitionCommit {
            partition: job.partition.key(),
            values: &values,
            checkpoint,
            records,
            register,
        },
    )
    .await;
    if let Err(SinkError::Fenced(why)) = &result {
        shared.fenced.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(stream = %plan.stream, partition = %job.partition.key(), why = %why,
            "commit refused by the fence: the lease is lost, nothing was written");
    }
    result
}

/// After a commit: report it and hand the children it registered to the scheduler.
fn announce(shared: &Shared<'_>, inner: &Plan, cp: &Checkpoint, found: &mut Vec<Job>) {
    committed(inner, cp);
    if shared.worker {
        // Registered in the work queue by the commit: any worker claims them.
        if !found.is_empty() {
            found.clear();
            shared.found.notify_one();
        }
    } else if !found.is_empty() {
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
    job_sink: &dyn Sink,
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
    let Some(watermark) = job_sink
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
