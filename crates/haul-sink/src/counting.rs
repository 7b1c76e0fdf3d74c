//! [`NullSink`] and [`CountingSink`]: sinks that keep no records, for dry runs
//! and benchmarks.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use async_trait::async_trait;
use haul_core::Checkpoint;

use crate::{Batch, Sink, SinkError};

/// Discards every batch: no records, no checkpoint (every run is a fresh
/// full pass), no watermark (an incremental run is a full pass too). For
/// measuring an extraction alone, or checking that a configuration walks.
///
/// ```
/// use haul_sink::{Batch, NullSink, Sink};
/// use haul_core::{Checkpoint, Record};
/// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
/// let sink = NullSink;
/// let recs = vec![Record::from_json(r#"{"id":1}"#)?];
/// sink.write(Batch { stream: "items", records: &recs, checkpoint: &Checkpoint::start("items") }).await?;
/// assert_eq!(sink.open("items").await?, None);
/// assert_eq!(sink.watermark("items", "/id").await?, None);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct NullSink;

#[async_trait]
impl Sink for NullSink {
    async fn open(&self, _stream: &str) -> Result<Option<Checkpoint>, SinkError> {
        Ok(None)
    }

    async fn write(&self, _batch: Batch<'_>) -> Result<(), SinkError> {
        Ok(())
    }

    async fn watermark(&self, _stream: &str, _pointer: &str) -> Result<Option<String>, SinkError> {
        Ok(None)
    }
}

/// Counts records, batches and record bytes, keeps no records, and keeps
/// each stream's last checkpoint in memory: a run stopped half-way resumes
/// from it within the same process, as with a real sink. A dry run that
/// reports what a real run would write.
///
/// No watermark: an incremental run against it is a full pass.
///
/// ```
/// use haul_sink::{Batch, CountingSink, Sink};
/// use haul_core::{Checkpoint, Record};
/// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
/// let sink = CountingSink::new();
/// let recs = vec![Record::from_json(r#"{"id":1}"#)?, Record::from_json(r#"{"id":2}"#)?];
/// let mut cp = Checkpoint::start("items");
/// cp.pages = 1;
/// sink.write(Batch { stream: "items", records: &recs, checkpoint: &cp }).await?;
/// assert_eq!((sink.records(), sink.batches(), sink.bytes()), (2, 1, 16));
/// assert_eq!(sink.open("items").await?, Some(cp.clone()));
/// assert_eq!(sink.checkpoint("items"), Some(cp));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Default)]
pub struct CountingSink {
    records: AtomicU64,
    batches: AtomicU64,
    bytes: AtomicU64,
    checkpoints: Mutex<HashMap<String, Checkpoint>>,
}

impl CountingSink {
    /// An empty counter.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records written so far, over all streams.
    pub fn records(&self) -> u64 {
        self.records.load(Ordering::Relaxed)
    }

    /// Batches written so far (empty ones included: a final commit of the
    /// checkpoint alone is a batch).
    pub fn batches(&self) -> u64 {
        self.batches.load(Ordering::Relaxed)
    }

    /// Bytes of record JSON written so far.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// The last checkpoint written for `stream`.
    pub fn checkpoint(&self, stream: &str) -> Option<Checkpoint> {
        self.checkpoints().get(stream).cloned()
    }

    fn checkpoints(&self) -> std::sync::MutexGuard<'_, HashMap<String, Checkpoint>> {
        // A map of plain values, replaced entry by entry: a panic elsewhere
        // cannot leave it half-written.
        self.checkpoints
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl Sink for CountingSink {
    async fn open(&self, stream: &str) -> Result<Option<Checkpoint>, SinkError> {
        Ok(self.checkpoint(stream))
    }

    async fn write(&self, batch: Batch<'_>) -> Result<(), SinkError> {
        let bytes: usize = batch.records.iter().map(haul_core::Record::len).sum();
        self.checkpoints()
            .insert(batch.stream.to_owned(), batch.checkpoint.clone());
        self.records
            .fetch_add(batch.records.len() as u64, Ordering::Relaxed);
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
        Ok(())
    }

    async fn watermark(&self, _stream: &str, _pointer: &str) -> Result<Option<String>, SinkError> {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use haul_core::{Position, Record};

    fn records(n: u64) -> Vec<Record> {
        (0..n)
            .map(|i| Record::from_json(&format!(r#"{{"id":{i}}}"#)).unwrap())
            .collect()
    }

    #[tokio::test]
    async fn counts_every_stream_and_keeps_each_last_checkpoint() {
        let sink = CountingSink::new();
        let mut a = Checkpoint::start("a");
        let b = Checkpoint::start("b");
        for (stream, n) in [("a", 3), ("b", 2), ("a", 0)] {
            let cp = if stream == "a" {
                a.pages += 1;
                a.records += n;
                a.clone()
            } else {
                b.clone()
            };
            sink.write(Batch {
                stream,
                records: &records(n),
                checkpoint: &cp,
            })
            .await
            .unwrap();
        }
        assert_eq!((sink.records(), sink.batches()), (5, 3));
        assert_eq!(sink.bytes(), 5 * r#"{"id":0}"#.len() as u64);
        assert_eq!(sink.open("a").await.unwrap(), Some(a.clone()));
        assert_eq!(sink.checkpoint("b"), Some(b));
        assert_eq!(sink.open("c").await.unwrap(), None);
        assert_eq!(sink.watermark("a", "/id").await.unwrap(), None);
        a.position = Position::Done;
        sink.write(Batch {
            stream: "a",
            records: &[],
            checkpoint: &a,
        })
        .await
        .unwrap();
        assert!(sink.open("a").await.unwrap().unwrap().is_done());
    }

    #[tokio::test]
    async fn the_null_sink_forgets() {
        let sink = NullSink;
        let cp = Checkpoint::start("a");
        sink.write(Batch {
            stream: "a",
            records: &records(4),
            checkpoint: &cp,
        })
        .await
        .unwrap();
        assert_eq!(sink.open("a").await.unwrap(), None);
        assert_eq!(sink.watermark("a", "/id").await.unwrap(), None);
        sink.close().await.unwrap();
    }
}
