//! # haul-extractor
//!
//! The thin composition of haul: an [`Extractor`] built with
//! [`Extractor::builder`] wires a transport, a paginator, a retry policy, a
//! rate limiter and a clock, and either streams pages lazily
//! ([`Extractor::pages`], [`Extractor::records`]) or drives them into a sink
//! in batches with checkpoints ([`Extractor::run`]), returning a
//! [`RunSummary`].
//!
//! ```
//! use haul_extractor::Extractor;
//! use haul_paginate::CursorPaginator;
//! use haul_sink::MemorySink;
//! use haul_testkit::{Dataset, FakeApi};
//!
//! # tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(async {
//! let server = FakeApi::builder().dataset(Dataset::generate(7, 250)).build().start().await?;
//! let extractor = Extractor::builder()
//!     .url(server.url("/items").as_str())
//!     .paginator(CursorPaginator::new("/next_cursor", "cursor").records_at("/data").page_size("limit", 100))
//!     .stream("items")
//!     .build()?;
//! let sink = MemorySink::with_primary_key("/id");
//! let summary = extractor.run(&sink).await?;
//! assert_eq!((summary.records, summary.pages), (250, 3));
//! assert_eq!(sink.records("items").len(), 250);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod builder;
mod commit;
mod connector;
mod error;
mod event;
mod extractor;
mod fetch;
mod incremental;
mod partition;
mod placement;
mod plan;
mod summary;
mod time_format;
mod walk;

pub use builder::{DEFAULT_MAX_PAGES, ExtractorBuilder};
pub use connector::{
    Connector, ConnectorBuilder, ConnectorError, ConnectorSummary, FailedPartition,
    PartitionOutcome, PartitionSummary, ResponseRule, RuleAction, StreamDef, StreamTotals,
    WorkerOptions, WorkerSummary,
};
pub use error::{BuildError, ErrorKind, ExtractError};
pub use event::{Event, NoopObserver, Observer};
pub use extractor::Extractor;
pub use incremental::Incremental;
pub use partition::{
    INCLUDED_PREFIX, ParentLink, Partition, Partitions, RequestTemplate, Step, TemplateError,
    TimeWindows,
};
pub use placement::{BOUND_PLACEHOLDER, BoundPlacement};
pub use summary::{HumanDuration, PassEnd, RunSummary};
pub use time_format::{BoundFormat, IncrementalError, TimeFormat};

/// The connectors guide (`docs/connectors.md`), compiled as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/connectors.md")]
pub struct ConnectorsGuide;
