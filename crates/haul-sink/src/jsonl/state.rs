//! The state file of one stream (`<dir>/<stream>.state.json`), replaced
//! atomically at each commit.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

use haul_core::Checkpoint;
use serde::{Deserialize, Serialize};

use crate::{PartitionState, SINGLE_PARTITION, SinkError};

/// What one commit of a stream leaves behind. A file written before
/// partitions existed (`offset` and `checkpoint` only) reads unchanged.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub(crate) struct StateFile {
    /// Bytes of the data file that are committed; anything past them is a
    /// torn or uncommitted tail.
    pub(crate) offset: u64,
    /// The single partition's checkpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) checkpoint: Option<Checkpoint>,
    /// Named partitions of this stream, by key.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) partitions: BTreeMap<String, PartitionEntry>,
    /// Commits of this file that carried an outbox (numbering them).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub(crate) seq: u64,
    /// Partition states of other streams registered by commit `seq`, to be
    /// copied into their own files (right after the commit, or on recovery
    /// if the process died in between).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) outbox: Vec<Registered>,
    /// For each stream that registered partitions here, the `seq` of its
    /// last outbox applied.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) applied: BTreeMap<String, u64>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// One named partition's state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct PartitionEntry {
    pub(crate) values: BTreeMap<String, String>,
    pub(crate) checkpoint: Checkpoint,
    /// Where the partition's last batch sits in the data file (`[start,
    /// end)`), so a blind replay of it is recognised.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) last_batch: Option<[u64; 2]>,
}

/// A partition state bound for another stream's file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Registered {
    pub(crate) stream: String,
    pub(crate) partition: String,
    pub(crate) values: BTreeMap<String, String>,
    pub(crate) checkpoint: Checkpoint,
}

impl From<&PartitionState> for Registered {
    fn from(s: &PartitionState) -> Self {
        Self {
            stream: s.stream.clone(),
            partition: s.partition.clone(),
            values: s.values.clone(),
            checkpoint: s.checkpoint.clone(),
        }
    }
}

impl StateFile {
    /// Stores a partition state of this stream (replacing any stored one).
    pub(crate) fn set(
        &mut self,
        partition: &str,
        values: &BTreeMap<String, String>,
        checkpoint: &Checkpoint,
    ) {
        if partition == SINGLE_PARTITION {
            self.checkpoint = Some(checkpoint.clone());
        } else {
            self.partitions.insert(
                partition.to_owned(),
                PartitionEntry {
                    values: values.clone(),
                    checkpoint: checkpoint.clone(),
                    last_batch: None,
                },
            );
        }
    }

    /// The named partitions as the trait lists them.
    pub(crate) fn listed(&self, stream: &str) -> Vec<PartitionState> {
        self.partitions
            .iter()
            .map(|(key, e)| PartitionState {
                stream: stream.to_owned(),
                partition: key.clone(),
                values: e.values.clone(),
                checkpoint: e.checkpoint.clone(),
            })
            .collect()
    }
}

pub(crate) fn io<'a>(
    action: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> SinkError + 'a {
    move |source| SinkError::Io {
        action,
        path: path.to_owned(),
        source,
    }
}

/// Reads a state file; a missing one is an empty stream.
pub(crate) fn load(path: &Path) -> Result<Option<StateFile>, SinkError> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(serde_json::from_slice(&bytes).map_err(|e| {
            SinkError::Corrupt {
                path: path.to_owned(),
                reason: e.to_string(),
            }
        })?)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io("reading", path)(e)),
    }
}

/// Replaces the state file atomically: write a temporary file, `fsync`,
/// rename, `fsync` the directory.
pub(crate) fn store(path: &Path, state: &StateFile, fsync: bool) -> Result<(), SinkError> {
    let bytes = serde_json::to_vec(state).map_err(|e| SinkError::Corrupt {
        path: path.to_owned(),
        reason: e.to_string(),
    })?;
    let tmp = path.with_extension("json.tmp");
    {
        let mut f = File::create(&tmp).map_err(io("creating", &tmp))?;
        f.write_all(&bytes).map_err(io("writing", &tmp))?;
        if fsync {
            f.sync_all().map_err(io("syncing", &tmp))?;
        }
    }
    fs::rename(&tmp, path).map_err(io("replacing", path))?;
    if fsync && let Some(parent) = path.parent() {
        // Make the rename itself durable.
        File::open(parent)
            .and_then(|d| d.sync_all())
            .map_err(io("syncing directory", parent))?;
    }
    Ok(())
}
