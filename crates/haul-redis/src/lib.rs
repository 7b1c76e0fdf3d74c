//! One rate budget shared by many haul workers, kept in Redis.
//!
//! Each worker paces itself against its own idea of an API's quota, so N
//! workers send N times the allowed rate. A [`RedisBudget`] keeps the quota's
//! schedule in Redis instead: the generic cell rate algorithm (GCRA, the law
//! of the local [`FixedRate`](haul_ratelimit::FixedRate)) with the
//! theoretical arrival time stored under one key per budget, updated by one
//! Lua script per call, with Redis `TIME` as the only clock (integer
//! microseconds), so workers on machines with skewed clocks share one
//! schedule.
//!
//! - **Reservations.** [`RedisBudget::reserve`] takes the earliest slot at
//!   once when it is no further away than the budget's maximum wait and
//!   says how long to sleep until it ([`Reserved::Granted`]); otherwise it
//!   takes nothing and says how long the wait is ([`Reserved::TooLong`]).
//!   [`RedisBudget::acquire`] does the sleeping. A request may cost more
//!   than one unit (weighted cost), never more than the burst.
//! - **Penalty.** A 429, a `Retry-After` or `Remaining: 0` seen by any worker
//!   is passed to [`RedisBudget::penalize`]: the shared arrival time moves
//!   past the reset, so every worker pauses, not just the one that was told.
//! - **Keys.** A budget named `github` lives at `haul:budget:github` (the
//!   prefix is configurable, [`BudgetConfig::prefix`]); the key expires a
//!   second after its schedule has caught up with the present, so idle
//!   budgets leave nothing behind.
//! - **Outages.** When Redis is unreachable, the user's [`OutagePolicy`]
//!   holds: wait for Redis (the default, retrying with backoff), fall back to
//!   a local pacer at a declared fraction of the quota, or fail with
//!   [`BudgetError::Unavailable`].
//!
//! - **The extractor.** A `RedisBudget` is a
//!   [`SharedBudget`](haul_ratelimit::SharedBudget): pass it (in an `Arc`)
//!   to `ExtractorBuilder::shared_budget` or `ConnectorBuilder::shared_budget`
//!   (the `haul` facade's `redis` feature). Each attempt then takes the
//!   local limiter's permit and one slot here, and every throttle the
//!   extractor sees is passed on as a penalty. haul-ratelimit's
//!   `RateLimiter` stays synchronous and I/O-free: the budget is the async
//!   contract next to it, not one of its implementations.
//!
//! ```
//! use haul_redis::{BudgetConfig, BudgetError, OutagePolicy, RedisBudget};
//! use std::time::Duration;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), BudgetError> {
//! let config = BudgetConfig::new("github", 100, Duration::from_secs(1)).burst(10);
//! assert_eq!(config.key(), "haul:budget:github");
//! # let config = config.prefix(format!("haul:doctest:{}:", std::process::id()));
//! // Waiting for Redis is the default; this example fails fast instead.
//! let config = config.outage(OutagePolicy::Fail);
//! let budget = RedisBudget::connect("redis://127.0.0.1:6379", config).await?;
//! match budget.acquire(1).await {
//!     Err(BudgetError::Unavailable { .. }) => return Ok(()), // no Redis here: skip
//!     grant => grant?, // slept until this worker's slot
//! };
//! // … send the request; on a 429 with `Retry-After: 1`:
//! budget.penalize(Duration::from_secs(1)).await?; // every worker pauses 1 s
//! # Ok(())
//! # }
//! ```
//!
//! Handed to the extractor as a [`SharedBudget`](haul_ratelimit::SharedBudget):
//!
//! ```no_run
//! use std::sync::Arc;
//! use std::time::Duration;
//! use haul_ratelimit::SharedBudget;
//! use haul_redis::{BudgetConfig, RedisBudget};
//!
//! # async fn worker() -> Result<(), Box<dyn std::error::Error>> {
//! // Every worker opens the same budget: 5,000 requests an hour, bursts of 10.
//! let config = BudgetConfig::new("github", 5_000, Duration::from_secs(3600)).burst(10);
//! let budget: Arc<dyn SharedBudget> =
//!     Arc::new(RedisBudget::connect("redis://redis.internal:6379", config).await?);
//! // … `Extractor::builder().shared_budget(Arc::clone(&budget))` in each stream.
//! budget.acquire(1).await?; // what the extractor does before each attempt
//! # Ok(())
//! # }
//! ```
//!
//! The crate's `shared_budget` example runs two workers on one budget.

mod budget;
mod scripts;

pub use budget::{
    BudgetConfig, BudgetError, DEFAULT_PREFIX, Grant, OutagePolicy, RedisBudget, Reserved,
};
