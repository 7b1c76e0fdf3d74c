//! # haul
//!
//! Extract data from HTTP APIs into data pipelines robustly and fast: every
//! record arrives exactly once, failures are retried or reported clearly, the
//! API's limits are respected, memory stays flat, and a run that dies half-way
//! resumes where it stopped.
//!
//! This is the facade crate: it re-exports haul's layered crates so an
//! embedder depends on one crate. Each concern is a trait with a default
//! implementation, and any of them can be swapped for your own:
//!
//! | concern | trait | defaults | crate |
//! |---|---|---|---|
//! | sending requests | [`Transport`] | [`ReqwestTransport`] | [`transport`] |
//! | walking pages | [`Paginator`] | [`CursorPaginator`], [`LastRecordCursor`], [`HeaderCursor`], [`NextUrlPaginator`], [`LinkHeaderPaginator`], [`OffsetPaginator`], [`PageNumberPaginator`], [`SinglePage`], [`AutoPaginator`] | [`paginate`] |
//! | retrying | [`RetryPolicy`], [`Classifier`] | [`ExponentialBackoff`], [`HttpClassifier`] | [`retry`] |
//! | pacing | [`RateLimiter`] | [`Unlimited`], [`FixedRate`], [`HeaderAdaptive`], [`AdaptiveRate`], [`MaxInFlight`] | [`ratelimit`] |
//! | storing | [`Sink`] | [`SqliteSink`], [`JsonLinesSink`], [`MemorySink`] | [`sink`] |
//!
//! ```
//! use haul::{CursorPaginator, Extractor, JsonLinesSink};
//! # use haul_testkit::{Dataset, FakeApi};
//!
//! # tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(async {
//! # let server = FakeApi::builder().dataset(Dataset::generate(1, 1_000)).build().start().await?;
//! # let url = server.url("/items").to_string();
//! let extractor = Extractor::builder()
//!     .url(url)
//!     .paginator(
//!         CursorPaginator::new("/next_cursor", "cursor")
//!             .records_at("/data")
//!             .page_size("limit", 100),
//!     )
//!     .stream("items")
//!     .build()?;
//! let out = tempfile::tempdir()?;
//! let summary = extractor.run(&JsonLinesSink::new(out.path())).await?;
//! assert_eq!(summary.records, 1_000);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod presets;

pub use haul_core as core;
pub use haul_extractor as extractor;
pub use haul_paginate as paginate;
/// PostgreSQL: `PostgresSink`, fenced partition `Leases` and the workers' `PostgresWorkQueue` (feature `postgres`; see docs/scale-out.md).
#[cfg(feature = "postgres")]
pub use haul_postgres as postgres;
pub use haul_ratelimit as ratelimit;
/// Redis: `RedisBudget`, one rate budget shared by many workers (feature
/// `redis`; pass it to [`ExtractorBuilder::shared_budget`]; see docs/scale-out.md).
#[cfg(feature = "redis")]
pub use haul_redis as redis;
pub use haul_retry as retry;
pub use haul_sink as sink;
pub use haul_transport as transport;

pub use haul_core::{
    Checkpoint, Clock, MaskedUrl, Page, Position, Record, Request, Response, Secret, Sleeper,
};
pub use haul_extractor::PassEnd;
pub use haul_extractor::{
    BoundFormat, BoundPlacement, BuildError, ErrorKind, Event, ExtractError, Extractor,
    ExtractorBuilder, HumanDuration, Incremental, IncrementalError, Observer, RunSummary,
    TimeFormat,
};
pub use haul_extractor::{
    Connector, ConnectorBuilder, ConnectorError, ConnectorSummary, ParentLink, Partition,
    Partitions, RequestTemplate, ResponseRule, RuleAction, StreamDef, TimeWindows, WorkerOptions,
    WorkerSummary,
};
pub use haul_paginate::{
    AutoPaginator, CursorPaginator, Guard, HeaderCursor, LastRecordCursor, LinkHeaderPaginator,
    NextUrlPaginator, OffsetPaginator, PageNumberPaginator, PaginateError, Paginator,
    RecordSelector, SinglePage,
};
pub use haul_ratelimit::{
    AdaptiveConcurrency, AdaptiveRate, AllOf, FixedRate, HeaderAdaptive, HeaderFamily, MaxInFlight,
    Permit, RateLimiter, Reservation, SharedBudget, SharedBudgetError, Unlimited, VendorHeaders,
};
pub use haul_retry::{Classifier, ExponentialBackoff, HttpClassifier, RetryBudget, RetryPolicy};
pub use haul_sink::{
    CountingSink, JsonLinesSink, MemorySink, NullSink, Sink, SinkError, SqliteSink, StreamConfig,
    WorkQueue,
};
pub use haul_transport::{
    ApiKey, Auth, AuthTransport, Basic, Bearer, OAuth2ClientCredentials, ReqwestTransport,
    Transport,
};

/// The README's examples, compiled as doc tests so they cannot rot.
#[doc = include_str!("../../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
