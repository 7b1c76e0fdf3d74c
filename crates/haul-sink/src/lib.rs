//! # haul-sink
//!
//! The [`Sink`] trait — commit a batch of records and the checkpoint that
//! follows them atomically, answer the last checkpoint on open, and answer a
//! watermark — and haul's sinks:
//!
//! - `SqliteSink` (feature `sqlite`, on by default): the embedded default,
//!   one table per stream upserted by primary key, the checkpoint committed
//!   in the same transaction as the records.
//! - [`JsonLinesSink`]: append-only files with a byte-offset checkpoint
//!   (partitions share a stream's file, each record tagged with its key),
//!   exactly-once without a primary key.
//! - [`MemorySink`]: for tests, with the same semantics.
//! - [`NullSink`] and [`CountingSink`]: keep no records, for dry runs and
//!   benchmarks (the counting one keeps each stream's last checkpoint).
//!
//! And [`WorkQueue`]: partitions as leased units of work for many workers,
//! each written through a sink fenced by its lease (implemented on
//! PostgreSQL by `haul-postgres`, driven by the connector's worker mode).
//!
//! ```
//! use haul_sink::{Batch, MemorySink, Sink};
//! use haul_core::{Checkpoint, Position, Record};
//!
//! # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
//! let sink = MemorySink::new();
//! assert!(sink.open("users").await?.is_none());
//! let records = vec![Record::from_json(r#"{"id":"u1","updated_at":"2026-01-02T00:00:00Z"}"#)?];
//! let mut cp = Checkpoint::start("users");
//! cp.position = Position::Done;
//! sink.write(Batch { stream: "users", records: &records, checkpoint: &cp }).await?;
//! assert!(sink.open("users").await?.is_some_and(|c| c.is_done()));
//! assert_eq!(
//!     sink.watermark("users", "/updated_at").await?.as_deref(),
//!     Some("2026-01-02T00:00:00Z")
//! );
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod counting;
mod error;
mod jsonl;
#[cfg(feature = "testing")]
pub mod laws;
mod memory;
mod sink;
#[cfg(feature = "sqlite")]
mod sqlite;
mod stream_config;
mod stream_name;
mod work;

pub use counting::{CountingSink, NullSink};
pub use error::SinkError;
pub use jsonl::JsonLinesSink;
pub use memory::MemorySink;
pub use sink::{
    Batch, PartitionBatch, PartitionState, SINGLE_PARTITION, Sink, check_partition_key,
    max_watermark,
};
#[cfg(feature = "sqlite")]
pub use sqlite::{SqliteSink, Synchronous};
pub use stream_config::StreamConfig;
pub use stream_name::check as check_stream_name;
pub use work::{Lease, QueueOutlook, WorkError, WorkQueue};
