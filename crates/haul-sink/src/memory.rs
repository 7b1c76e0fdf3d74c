//! [`MemorySink`]: an in-memory sink for tests, with the same commit semantics.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, PoisonError};

use async_trait::async_trait;
use haul_core::{Checkpoint, Record};

use crate::sink::check_partition_key;
use crate::{
    Batch, PartitionBatch, PartitionState, SINGLE_PARTITION, Sink, SinkError, max_watermark,
};

#[derive(Debug, Default)]
struct StreamData {
    /// Each record with the key of the partition it came from.
    records: Vec<(String, Record)>,
    /// Position of each key in `records`, when a primary key is configured.
    index: HashMap<String, usize>,
    /// The checkpoint of the single partition.
    checkpoint: Option<Checkpoint>,
    /// The states of named partitions.
    partitions: BTreeMap<String, PartitionState>,
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

    /// A copy of the committed records of `stream` (of every partition).
    pub fn records(&self, stream: &str) -> Vec<Record> {
        self.streams()
            .get(stream)
            .map(|s| s.records.iter().map(|(_, r)| r.clone()).collect())
            .unwrap_or_default()
    }

    /// A copy of the committed records of `stream`, each with its partition key.
    pub fn tagged_records(&self, stream: &str) -> Vec<(String, Record)> {
        self.streams()
            .get(stream)
            .map(|s| s.records.clone())
            .unwrap_or_default()
    }

    /// The committed checkpoint of one named partition of `stream`.
    pub fn partition_checkpoint(&self, stream: &str, partition: &str) -> Option<Checkpoint> {
        if partition == SINGLE_PARTITION {
            return self.checkpoint(stream);
        }
        self.streams()
            .get(stream)
            .and_then(|s| s.partitions.get(partition))
            .map(|p| p.checkpoint.clone())
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
        self.write_partition(PartitionBatch::single(batch)).await
    }

    async fn open_partition(
        &self,
        stream: &str,
        partition: &str,
    ) -> Result<Option<Checkpoint>, SinkError> {
        check_partition_key(partition)?;
        let mut streams = self.streams();
        let data = streams.entry(stream.to_owned()).or_default();
        Ok(if partition == SINGLE_PARTITION {
            data.checkpoint.clone()
        } else {
            data.partitions.get(partition).map(|p| p.checkpoint.clone())
        })
    }

    async fn write_partition(&self, batch: PartitionBatch<'_>) -> Result<(), SinkError> {
        check_partition_key(batch.partition)?;
        for state in batch.register {
            check_partition_key(&state.partition)?;
        }
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
        let n = batch.records.len();
        if keys.is_none()
            && batch.partition == SINGLE_PARTITION
            && !batch.checkpoint.is_done()
            && data.checkpoint.as_ref() == Some(batch.checkpoint)
            && data.records.len() >= n
            && data.records[data.records.len() - n..]
                .iter()
                .map(|(_, r)| r)
                .eq(batch.records.iter())
        {
            // Appending: a replay of the batch committed last mid-pass adds
            // nothing (keyed streams upsert, so a replay is harmless there;
            // a final batch is always written, as a new pass may end alike).
            return Ok(());
        }
        let tagged = |r: &Record| (batch.partition.to_owned(), r.clone());
        match keys {
            None => data.records.extend(batch.records.iter().map(tagged)),
            Some(keys) => {
                for (key, record) in keys.into_iter().zip(batch.records) {
                    match data.index.get(&key) {
                        Some(&at) => data.records[at] = tagged(record),
                        None => {
                            data.index.insert(key, data.records.len());
                            data.records.push(tagged(record));
                        }
                    }
                }
            }
        }
        if batch.partition == SINGLE_PARTITION {
            data.checkpoint = Some(batch.checkpoint.clone());
        } else {
            data.partitions.insert(
                batch.partition.to_owned(),
                PartitionState {
                    stream: batch.stream.to_owned(),
                    partition: batch.partition.to_owned(),
                    values: batch.values.clone(),
                    checkpoint: batch.checkpoint.clone(),
                },
            );
        }
        for state in batch.register {
            store_state(&mut streams, state);
        }
        Ok(())
    }

    async fn partition_watermark(
        &self,
        stream: &str,
        partition: &str,
        pointer: &str,
    ) -> Result<Option<String>, SinkError> {
        let streams = self.streams();
        let mut max = None;
        for (_, record) in streams
            .get(stream)
            .map(|s| s.records.as_slice())
            .unwrap_or(&[])
            .iter()
            .filter(|(p, _)| p == partition)
        {
            if let Ok(Some(v)) = record.field(pointer) {
                max = max_watermark(max, v);
            }
        }
        Ok(max)
    }

    async fn partitions(&self, stream: &str) -> Result<Vec<PartitionState>, SinkError> {
        Ok(self
            .streams()
            .get(stream)
            .map(|s| s.partitions.values().cloned().collect())
            .unwrap_or_default())
    }

    async fn write_state(&self, states: &[PartitionState]) -> Result<(), SinkError> {
        for state in states {
            check_partition_key(&state.partition)?;
        }
        let mut streams = self.streams();
        for state in states {
            store_state(&mut streams, state);
        }
        Ok(())
    }

    async fn watermark(&self, stream: &str, pointer: &str) -> Result<Option<String>, SinkError> {
        let streams = self.streams();
        let mut max = None;
        for (_, record) in streams
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

fn store_state(streams: &mut HashMap<String, StreamData>, state: &PartitionState) {
    let data = streams.entry(state.stream.clone()).or_default();
    if state.partition == SINGLE_PARTITION {
        data.checkpoint = Some(state.checkpoint.clone());
    } else {
        data.partitions
            .insert(state.partition.clone(), state.clone());
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
