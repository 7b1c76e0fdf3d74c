//! Commits: a batch of records written with the checkpoint that follows
//! them, in one sink transaction, and the event that reports it.

use std::collections::BTreeMap;

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
