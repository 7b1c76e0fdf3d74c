//! [`Plan`]: the configuration of one stream (or of one partition of a
//! connector's stream), fixed before the first request.
//!
//! The roles of a run each have a module, and imports run one way, from the
//! drivers down to the plan:
//!
//! ```text
//! connector (scheduler, partition walk) ─┐
//! builder ──> extractor ─────────────────┼──> walk ──> fetch ──> plan
//!                                        └──> commit ──────────> plan
//! ```
//!
//! `plan` holds configuration; `fetch` sends one request (limiter,
//! transport, classifier, retry); `walk` walks the pages of one pass and
//! says where it is (its checkpoint) but knows no sink; `commit` writes
//! batches with their checkpoints; `extractor` and the connector drive
//! walks and commits.

use std::sync::Arc;

use haul_core::{Clock, Request, Sleeper};
use haul_paginate::Paginator;
use haul_ratelimit::{RateLimiter, SharedBudget};
use haul_retry::{Classifier, RetryPolicy};
use haul_transport::Transport;

use crate::Incremental;
use crate::event::Observer;

/// Everything a pass needs, shared (behind an `Arc`) by the walk and every
/// fetch of it; a connector gives each partition a copy with its own request.
#[derive(Clone)]
pub(crate) struct Plan {
    pub(crate) request: Request,
    pub(crate) paginator: Arc<dyn Paginator>,
    pub(crate) transport: Arc<dyn Transport>,
    pub(crate) retry: Arc<dyn RetryPolicy>,
    pub(crate) classifier: Arc<dyn Classifier>,
    pub(crate) limiter: Arc<dyn RateLimiter>,
    /// A budget shared with other processes: one slot per attempt, after
    /// the local limiter's permit; throttles seen here penalize it.
    pub(crate) shared_budget: Option<Arc<dyn SharedBudget>>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) sleeper: Arc<dyn Sleeper>,
    pub(crate) observer: Arc<dyn Observer>,
    pub(crate) stream: String,
    /// Query parameters that carry credentials: never stored in checkpoints.
    pub(crate) secret_params: Vec<String>,
    pub(crate) batch_records: usize,
    /// Pages in flight at once when the paginator knows the remaining requests.
    pub(crate) concurrency: usize,
    /// Incremental extraction settings.
    pub(crate) incremental: Option<Incremental>,
    /// Follow next links to other origins (never with credentials).
    pub(crate) allow_cross_origin: bool,
    /// The longest single rate-limiter wait before the run fails.
    pub(crate) max_throttle_wait: std::time::Duration,
    /// Sanity limit on records per page.
    pub(crate) max_records_per_page: usize,
    pub(crate) max_pages: Option<u64>,
    /// Consecutive empty pages (with a next page offered) that end a pass.
    pub(crate) max_empty_pages: u32,
    /// A connector's request slots, shared by every partition of a run:
    /// each request holds one while it is sent (with its retries). `None`
    /// for an [`Extractor`](crate::Extractor), whose bound is `concurrency`.
    pub(crate) slots: Option<Arc<tokio::sync::Semaphore>>,
}
