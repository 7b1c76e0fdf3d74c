//! Commits: a batch of records written with the checkpoint that follows
//! them, in one sink transaction, and the event that reports it.

use std::collections::BTreeMap;
use std::future::Future;
use std::task::Poll;

use futures::future::BoxFuture;
use haul_core::{Checkpoint, Record};
use haul_sink::{Batch, PartitionBatch, PartitionState, Sink, SinkError};

use crate::ExtractError;
use crate::event::Event;
use crate::plan::Plan;

/// Writes `records` of the plan's stream with `checkpoint` and reports it.
pub(crate) async fn commit_stream(
    plan: &Plan,
    sink: &dyn Sink,
    checkpoint: &Checkpoint,
    records: &[Record],
) -> Result<(), SinkError> {
    sink.write(Batch {
        stream: &plan.stream,
        records,
        checkpoint,
    })
    .await?;
    committed(plan, checkpoint);
    Ok(())
}

/// A batch of a stream in commit while the walk goes on fetching the next
/// one: at most one at a time, so the sink sees batches (and their
/// checkpoints) strictly in order, each checkpoint only ever with its own
/// records, and a crash loses at most the batch in commit and the one being
/// fetched — never a checkpoint without its records.
///
/// [`alongside`](Self::alongside) drives the commit while it awaits the
/// walk; [`start`](Self::start) waits for the previous commit before handing
/// the sink the next batch (back-pressure); [`finish`](Self::finish) waits
/// for the last one. After a failed commit nothing more is handed on: a
/// later checkpoint would skip the failed batch's records.
#[derive(Default)]
pub(crate) struct CommitAhead<'a> {
    state: Ahead<'a>,
}

#[derive(Default)]
enum Ahead<'a> {
    /// No batch in commit.
    #[default]
    Idle,
    /// A batch in commit; it yields its buffer back, emptied, for reuse.
    Running(BoxFuture<'a, Result<Vec<Record>, SinkError>>),
    /// The batch in commit is done.
    Done(Result<Vec<Record>, SinkError>),
}

impl<'a> CommitAhead<'a> {
    /// Awaits `work` (the walk's next page) while the batch in commit, if
    /// any, goes on. A commit that fails abandons `work` (the run stops at
    /// the failed write; a request in flight is dropped) and returns its error;
    /// otherwise `work` is never cancelled for the commit's sake.
    pub(crate) async fn alongside<F: Future>(&mut self, work: F) -> Result<F::Output, SinkError> {
        let mut work = std::pin::pin!(work);
        std::future::poll_fn(|cx| {
            if let Ahead::Running(commit) = &mut self.state
                && let Poll::Ready(result) = commit.as_mut().poll(cx)
            {
                match result {
                    Ok(records) => self.state = Ahead::Done(Ok(records)),
                    Err(e) => {
                        self.state = Ahead::Idle;
                        return Poll::Ready(Err(e));
                    }
                }
            }
            work.as_mut().poll(cx).map(Ok)
        })
        .await
    }

    /// Waits for the batch in commit, if any; returns its buffer (emptied)
    /// for reuse.
    pub(crate) async fn finish(&mut self) -> Result<Option<Vec<Record>>, SinkError> {
        match std::mem::take(&mut self.state) {
            Ahead::Idle => Ok(None),
            Ahead::Running(commit) => commit.await.map(Some),
            Ahead::Done(result) => result.map(Some),
        }
    }

    /// Waits for the batch in commit, then starts committing `records` of
    /// the plan's stream with `checkpoint` (reported once it lands). Returns
    /// an empty buffer for the next batch (the previous batch's, reused).
    pub(crate) async fn start(
        &mut self,
        plan: &'a Plan,
        sink: &'a dyn Sink,
        checkpoint: Checkpoint,
        records: Vec<Record>,
    ) -> Result<Vec<Record>, SinkError> {
        let capacity = records.capacity();
        let spare = self.finish().await?;
        self.state = Ahead::Running(Box::pin(async move {
            let mut records = records;
            commit_stream(plan, sink, &checkpoint, &records).await?;
            records.clear();
            Ok(records)
        }));
        Ok(spare.unwrap_or_else(|| Vec::with_capacity(capacity)))
    }
}

/// One partition's batch: its records, its checkpoint, and the child
/// partitions those records define (registered in the same transaction).
pub(crate) struct PartitionCommit<'a> {
    pub(crate) partition: &'a str,
    pub(crate) values: &'a BTreeMap<String, String>,
    pub(crate) checkpoint: &'a Checkpoint,
    pub(crate) records: &'a [Record],
    pub(crate) register: &'a [PartitionState],
}

/// Writes one partition's batch of the plan's stream. The caller reports it
/// with [`committed`] once it has handed on what the commit makes visible.
pub(crate) async fn commit_partition(
    plan: &Plan,
    sink: &dyn Sink,
    batch: PartitionCommit<'_>,
) -> Result<(), SinkError> {
    sink.write_partition(PartitionBatch {
        stream: &plan.stream,
        partition: batch.partition,
        values: batch.values,
        records: batch.records,
        checkpoint: batch.checkpoint,
        register: batch.register,
    })
    .await
}

/// Reports a committed batch to the observer.
pub(crate) fn committed(plan: &Plan, checkpoint: &Checkpoint) {
    plan.observer.on_event(&Event::BatchCommitted {
        stream: &plan.stream,
        pages: checkpoint.pages,
        records: checkpoint.records,
    });
}

/// The error of a run that failed and then could not commit what it had
/// fetched: both are kept, the original first.
pub(crate) fn after_failure(original: ExtractError, commit: SinkError) -> ExtractError {
    ExtractError::CommitAfterFailure {
        original: Box::new(original),
        commit,
    }
}
