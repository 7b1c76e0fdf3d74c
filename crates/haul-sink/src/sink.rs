//! The [`Sink`] trait.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use haul_core::{Checkpoint, Record};

use crate::SinkError;

/// Records of one or more complete pages and the checkpoint that follows them.
#[derive(Debug, Clone, Copy)]
pub struct Batch<'a> {
    /// The stream the records belong to.
    pub stream: &'a str,
    /// The records, in page order.
    pub records: &'a [Record],
    /// Where the stream stands once these records are committed.
    pub checkpoint: &'a Checkpoint,
}

/// The key of a stream's only partition: a stream that is not partitioned
/// keeps its state exactly where it did before partitions existed.
pub const SINGLE_PARTITION: &str = "";

/// Where one partition of a stream stands: its key, the values that fill its
/// requests, and its checkpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct PartitionState {
    /// The stream.
    pub stream: String,
    /// The partition key (see [`check_partition_key`]).
    pub partition: String,
    /// The values the partition's requests are filled with (kept so a resumed
    /// run can rebuild a partition it has not started yet).
    pub values: BTreeMap<String, String>,
    /// Where the partition stands.
    pub checkpoint: Checkpoint,
}

/// Records of complete pages of one partition, the checkpoint that follows
/// them, and partitions to record in the same transaction (the children a
/// parent's records define), so that a crash can lose neither.
#[derive(Debug, Clone, Copy)]
pub struct PartitionBatch<'a> {
    /// The stream the records belong to.
    pub stream: &'a str,
    /// The partition they belong to ([`SINGLE_PARTITION`] for an unpartitioned stream).
    pub partition: &'a str,
    /// The partition's values, stored with its checkpoint.
    pub values: &'a BTreeMap<String, String>,
    /// The records, in page order.
    pub records: &'a [Record],
    /// Where the partition stands once these records are committed.
    pub checkpoint: &'a Checkpoint,
    /// Partition states written in the same transaction (replacing any stored
    /// state of the same stream and partition).
    pub register: &'a [PartitionState],
}

impl<'a> PartitionBatch<'a> {
    /// The batch of an unpartitioned stream.
    pub fn single(batch: Batch<'a>) -> Self {
        static NO_VALUES: BTreeMap<String, String> = BTreeMap::new();
        Self {
            stream: batch.stream,
            partition: SINGLE_PARTITION,
            values: &NO_VALUES,
            records: batch.records,
            checkpoint: batch.checkpoint,
            register: &[],
        }
    }
}

/// Accepts the empty key (the single partition) and 1–200 bytes of ASCII
/// letters, digits and `_ - . = , % +`: safe in a file name, a URL and a SQL
/// string, and never a path (`.` alone or leading is refused).
pub fn check_partition_key(key: &str) -> Result<(), SinkError> {
    let ok = key.is_empty()
        || (key.len() <= 200
            && !key.starts_with('.')
            && key.bytes().all(|b| {
                b.is_ascii_alphanumeric()
                    || matches!(b, b'_' | b'-' | b'.' | b'=' | b',' | b'%' | b'+')
            }));
    if ok {
        Ok(())
    } else {
        Err(SinkError::Usage(format!(
            "partition key {key:?} must be at most 200 ASCII letters, digits or '_-.=,%+', not starting with '.'"
        )))
    }
}

fn unsupported(what: &str) -> SinkError {
    SinkError::Unsupported(format!(
        "{what}: this sink stores only unpartitioned streams (SqliteSink, JsonLinesSink and MemorySink store partitions)"
    ))
}

/// A destination for records: commits each batch together with its
/// checkpoint, atomically, and tells where a stream stands.
///
/// Laws: after `write(batch)` returns, both the records and the checkpoint are
/// durable, or neither is; replaying a batch after a crash never duplicates:
/// a batch that never committed is cut back at `open` (or upserted by primary
/// key), and a batch that did commit mid-pass — the stream already ends with
/// its records under its checkpoint — is not written twice, whatever the mode
/// (a pass's final batch is written again: it cannot be told from a new pass
/// ending the same way).
#[async_trait]
pub trait Sink: Send + Sync {
    /// Prepares `stream` and returns its last committed checkpoint, if any.
    /// Anything written after that checkpoint (a torn tail) is discarded here.
    async fn open(&self, stream: &str) -> Result<Option<Checkpoint>, SinkError>;

    /// Commits `batch.records` and `batch.checkpoint` atomically.
    async fn write(&self, batch: Batch<'_>) -> Result<(), SinkError>;

    /// The maximum of record field `pointer` in `stream`, as text (numbers
    /// compare numerically, other values as text), or `None` when the stream is empty.
    async fn watermark(&self, stream: &str, pointer: &str) -> Result<Option<String>, SinkError>;

    /// Flushes and releases resources. Writing after `close` is an error.
    async fn close(&self) -> Result<(), SinkError> {
        Ok(())
    }

    /// Prepares `stream` and returns the last committed checkpoint of one of
    /// its partitions. The default serves [`SINGLE_PARTITION`] through
    /// [`open`](Self::open) and refuses any other with [`SinkError::Unsupported`].
    async fn open_partition(
        &self,
        stream: &str,
        partition: &str,
    ) -> Result<Option<Checkpoint>, SinkError> {
        if partition == SINGLE_PARTITION {
            self.open(stream).await
        } else {
            Err(unsupported("open_partition"))
        }
    }

    /// Commits the records of one partition, its checkpoint and
    /// `batch.register` atomically. Records of every partition of a stream
    /// share one table or file, each tagged with its partition key. The
    /// default serves a [`SINGLE_PARTITION`] batch registering nothing
    /// through [`write`](Self::write).
    async fn write_partition(&self, batch: PartitionBatch<'_>) -> Result<(), SinkError> {
        if batch.partition == SINGLE_PARTITION && batch.register.is_empty() {
            self.write(Batch {
                stream: batch.stream,
                records: batch.records,
                checkpoint: batch.checkpoint,
            })
            .await
        } else {
            Err(unsupported("write_partition"))
        }
    }

    /// The maximum of `pointer` over the records of one partition (as
    /// [`watermark`](Self::watermark) over the whole stream).
    async fn partition_watermark(
        &self,
        stream: &str,
        partition: &str,
        pointer: &str,
    ) -> Result<Option<String>, SinkError> {
        if partition == SINGLE_PARTITION {
            self.watermark(stream, pointer).await
        } else {
            Err(unsupported("partition_watermark"))
        }
    }

    /// Every named partition of `stream` with a stored state, in key order
    /// (the single partition is not listed; [`open`](Self::open) answers it).
    async fn partitions(&self, stream: &str) -> Result<Vec<PartitionState>, SinkError> {
        let _ = stream;
        Err(unsupported("partitions"))
    }

    /// Stores partition states without records, atomically (bookkeeping such
    /// as a connector's run marker). The stream need not be opened.
    async fn write_state(&self, states: &[PartitionState]) -> Result<(), SinkError> {
        let _ = states;
        Err(unsupported("write_state"))
    }
}

macro_rules! forward_sink {
    ($($ty:ty),*) => {$(
        #[async_trait]
        impl<S: Sink + ?Sized> Sink for $ty {
            async fn open(&self, stream: &str) -> Result<Option<Checkpoint>, SinkError> {
                (**self).open(stream).await
            }
            async fn write(&self, batch: Batch<'_>) -> Result<(), SinkError> {
                (**self).write(batch).await
            }
            async fn watermark(&self, stream: &str, pointer: &str) -> Result<Option<String>, SinkError> {
                (**self).watermark(stream, pointer).await
            }
            async fn close(&self) -> Result<(), SinkError> {
                (**self).close().await
            }
            async fn open_partition(&self, stream: &str, partition: &str) -> Result<Option<Checkpoint>, SinkError> {
                (**self).open_partition(stream, partition).await
            }
            async fn write_partition(&self, batch: PartitionBatch<'_>) -> Result<(), SinkError> {
                (**self).write_partition(batch).await
            }
            async fn partition_watermark(&self, stream: &str, partition: &str, pointer: &str) -> Result<Option<String>, SinkError> {
                (**self).partition_watermark(stream, partition, pointer).await
            }
            async fn partitions(&self, stream: &str) -> Result<Vec<PartitionState>, SinkError> {
                (**self).partitions(stream).await
            }
            async fn write_state(&self, states: &[PartitionState]) -> Result<(), SinkError> {
                (**self).write_state(states).await
            }
        }
    )*};
}
forward_sink!(&S, Box<S>, Arc<S>);

/// Keeps the larger of two watermark candidates: numerically when both are
/// numbers, as text otherwise (RFC 3339 timestamps in one format sort as text).
pub fn max_watermark(current: Option<String>, candidate: String) -> Option<String> {
    match current {
        None => Some(candidate),
        Some(cur) => {
            let bigger = match (cur.parse::<f64>(), candidate.parse::<f64>()) {
                (Ok(a), Ok(b)) => b > a,
                _ => candidate > cur,
            };
            Some(if bigger { candidate } else { cur })
        }
    }
}
