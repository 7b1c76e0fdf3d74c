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
//! The budget is an async handle of its own: haul-ratelimit's `RateLimiter`
//! trait is synchronous and I/O-free, so a budget that must ask a server is
//! not one of its implementations.
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
//! The crate's `shared_budget` example runs two workers on one budget.

mod budget;
mod scripts;

pub use budget::{
    BudgetConfig, BudgetError, DEFAULT_PREFIX, Grant, OutagePolicy, RedisBudget, Reserved,
};
