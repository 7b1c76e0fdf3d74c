//! A sink that keeps nothing: it counts, so the extraction alone is measured.

use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use haul::sink::Batch;
use haul::{Checkpoint, Sink, SinkError};

/// Counts records and bytes, stores nothing, never has a checkpoint.
#[derive(Debug, Default)]
pub(crate) struct NullSink {
    records: AtomicU64,
    bytes: AtomicU64,
}

impl NullSink {
    /// Records written so far.
    pub(crate) fn records(&self) -> u64 {
        self.records.load(Ordering::Relaxed)
    }
}

#[async_trait]
impl Sink for NullSink {
    async fn open(&self, _stream: &str) -> Result<Option<Checkpoint>, SinkError> {
        Ok(None)
    }

    async fn write(&self, batch: Batch<'_>) -> Result<(), SinkError> {
        let bytes: usize = batch.records.iter().map(haul::Record::len).sum();
        self.records
            .fetch_add(batch.records.len() as u64, Ordering::Relaxed);
        self.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
        Ok(())
    }

    async fn watermark(&self, _stream: &str, _pointer: &str) -> Result<Option<String>, SinkError> {
        Ok(None)
    }
}
