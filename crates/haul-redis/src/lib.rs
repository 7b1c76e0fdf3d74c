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
//! ```no_run
//! # // Runs as `cargo run -p haul-redis --example shared_budget` (skips without Redis).
//! use haul_redis::{BudgetConfig, OutagePolicy, RedisBudget};
//! use std::time::Duration;
//!
//! # async fn run() -> Result<(), haul_redis::BudgetError> {
//! let config = BudgetConfig::new("github", 100, Duration::from_secs(1))
//!     .burst(10)
//!     .max_wait(Duration::from_secs(5))
//!     .outage(OutagePolicy::Fallback { fraction: 0.25 });
//! let budget = RedisBudget::connect("redis://127.0.0.1:6379", config).await?;
//! assert_eq!(budget.key(), "haul:budget:github");
//! budget.acquire(1).await?; // sleeps until this worker's slot
//! // … send the request; on a 429 with `Retry-After: 2`:
//! budget.penalize(Duration::from_secs(2)).await?; // every worker pauses 2 s
//! # Ok(())
//! # }
//! ```
//!
//! The runnable version is the crate's `shared_budget` example.

mod budget;
mod scripts;

pub use budget::{
    BudgetConfig, BudgetError, DEFAULT_PREFIX, Grant, OutagePolicy, RedisBudget, Reserved,
};
