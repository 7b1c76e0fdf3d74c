//! [`SinkError`].

use std::path::PathBuf;

/// A sink failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SinkError {
    /// File system failure.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file concerned.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The database failed (SQLite's own error is the source).
    #[error("{action} in {path}: {source}")]
    Database {
        /// What was being done.
        action: &'static str,
        /// The database file.
        path: PathBuf,
        /// The database's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A stored checkpoint or state file cannot be read.
    #[error("corrupt sink state in {path}: {reason}")]
    Corrupt {
        /// The file concerned.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// A record lacks its primary key.
    #[error("record in stream {stream:?} has no primary key at {pointer}: {preview}")]
    MissingKey {
        /// The stream.
        stream: String,
        /// The key pointer.
        pointer: String,
        /// At most 500 bytes of the record.
        preview: String,
    },
    /// The sink was used after `close` or before `open`.
    #[error("sink misuse: {0}")]
    Usage(String),
    /// The sink cannot do what was asked (partitions on a sink that stores
    /// unpartitioned streams only).
    #[error("not supported by this sink: {0}")]
    Unsupported(String),
    /// The sink writes under a lease (a claim on a partition) that was lost —
    /// it expired, or another worker claimed the partition since: the batch
    /// was rolled back and nothing of it was written. Not retryable.
    #[error("lease lost, batch rolled back: {0}")]
    Fenced(String),
    /// A background task failed.
    #[error("sink worker failed: {0}")]
    Worker(String),
}
