//! The [`Sink`] trait.

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
