//! [`MemorySink`]: an in-memory sink for tests, with the same commit semantics.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use async_trait::async_trait;
use haul_core::{Checkpoint, Record};

use crate::{Batch, Sink, SinkError, max_watermark};

#[derive(Debug, Default)]
struct StreamData {
    records: Vec<Record>,
    /// Position of each key in `records`, when a primary key is configured.
    index: HashMap<String, usize>,
    checkpoint: Option<Checkpoint>,
}

/// Keeps records in memory. With a primary key, writes upsert (a replayed
/// batch replaces its records); without one they append.
///
/// ```
/// use haul_sink::{Batch, MemorySink, Sink};
/// use haul_core::{Checkpoint, Record};
/// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
/// let sink = MemorySink::with_primary_key("/id");
/// let recs = vec![Record::from_json(r#"{"id":1}"#)?, Record::from_json(r#"{"id":2}"#)?];
/// let cp = Checkpoint::start("items");
/// sink.write(Batch { stream: "items", records: &recs, checkpoint: &cp }).await?;
/// sink.write(Batch { stream: "items", records: &recs, checkpoint: &cp }).await?; // replay
/// assert_eq!(sink.records("items").len(), 2);
/// assert_eq!(sink.watermark("items", "/id").await?.as_deref(), Some("2"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Default)]
pub struct MemorySink {
    primary_key: Option<String>,
    streams: Mutex<HashMap<String, StreamData>>,
}

impl MemorySink {
    /// An appending sink.
    pub fn new() -> Self {
        Self::default()
    }

    /// An upserting sink keyed by the field at `pointer`.
    pub fn with_primary_key(pointer: impl Into<String>) -> Self {
        Self {
            primary_key: Some(pointer.into()),
            streams: Mutex::default(),
        }
    }

    fn streams(&self) -> std::sync::MutexGuard<'_, HashMap<String, StreamData>> {
        // Plain data behind the lock; a panicking writer cannot corrupt it half-way
        // because every write builds its result before touching the map.
        self.streams.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A copy of the committed records of `stream`.
    pub fn records(&self, stream: &str) -> Vec<Record> {
        self.streams()
            .get(stream)
            .map(|s| s.records.clone())
            .unwrap_or_default()
    }

    /// The committed checkpoint of `stream`.
    pub fn checkpoint(&self, stream: &str) -> Option<Checkpoint> {
        self.streams()
            .get(stream)
            .and_then(|s| s.checkpoint.clone())
    }
}

#[async_trait]
impl Sink for MemorySink {
    async fn open(&self, stream: &str) -> Result<Option<Checkpoint>, SinkError> {
        Ok(self
            .streams()
            .entry(stream.to_owned())
            .or_default()
            .checkpoint
            .clone())
    }

    async fn write(&self, batch: Batch<'_>) -> Result<(), SinkError> {
        // Validate every key first so a bad record leaves nothing half-written.
        let keys = match &self.primary_key {
            None => None,
            Some(ptr) => Some(
                batch
                    .records
                    .iter()
                    .map(|r| key_of(batch.stream, r, ptr))
                    .collect::<Result<Vec<_>, _>>()?,
            ),
        };
        let mut streams = self.streams();
        let data = streams.entry(batch.stream.to_owned()).or_default();
        if keys.is_none()
            && !batch.checkpoint.is_done()
            && data.checkpoint.as_ref() == Some(batch.checkpoint)
            && data.records.ends_with(batch.records)
        {
            // Appending: a replay of the batch committed last mid-pass adds
            // nothing (keyed streams upsert, so a replay is harmless there;
            // a final batch is always written, as a new pass may end alike).
            return Ok(());
        }
        match keys {
            None => data.records.extend_from_slice(batch.records),
            Some(keys) => {
                for (key, record) in keys.into_iter().zip(batch.records) {
                    match data.index.get(&key) {
                        Some(&at) => data.records[at] = record.clone(),
                        None => {
                            data.index.insert(key, data.records.len());
                            data.records.push(record.clone());
                        }
                    }
                }
            }
        }
        data.checkpoint = Some(batch.checkpoint.clone());
        Ok(())
    }

    async fn watermark(&self, stream: &str, pointer: &str) -> Result<Option<String>, SinkError> {
        let streams = self.streams();
        let mut max = None;
        for record in streams
            .get(stream)
            .map(|s| s.records.as_slice())
            .unwrap_or(&[])
        {
            if let Ok(Some(v)) = record.field(pointer) {
                max = max_watermark(max, v);
            }
        }
        Ok(max)
    }
}

pub(crate) fn key_of(stream: &str, record: &Record, pointer: &str) -> Result<String, SinkError> {
    match record.field(pointer) {
        Ok(Some(k)) => Ok(k),
        _ => Err(SinkError::MissingKey {
            stream: stream.to_owned(),
            pointer: pointer.to_owned(),
            preview: haul_core::body_preview(record.as_str().as_bytes()),
        }),
    }
}
