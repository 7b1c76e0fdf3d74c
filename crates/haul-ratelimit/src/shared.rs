//! [`SharedBudget`]: one rate budget shared by many processes.

use std::error::Error as StdError;
use std::time::Duration;

/// A rate budget shared by every process (every worker) that sends
/// requests to one API, such as `haul_redis::RedisBudget`, which keeps it in
/// Redis.
///
/// Unlike a [`RateLimiter`](crate::RateLimiter), which is synchronous,
/// I/O-free and local to one process, a shared budget asks a server, so its
/// calls are async and may fail. The extractor uses both: for each attempt
/// (retries included) it takes the local limiter's permit, then one slot of
/// the shared budget ([`acquire`](Self::acquire)), then sends. A throttle
/// this process sees — a 429 or GitHub's 403 with `X-RateLimit-Remaining:
/// 0`, a `Retry-After`, or `Remaining: 0` with a reset on a success — is
/// passed on with [`penalize`](Self::penalize), so every process pauses, not
/// just the one that was told.
///
/// Contract:
///
/// - [`acquire`](Self::acquire) returns when a request of `cost` units may be
///   sent by this process; over any window the slots handed out to all
///   processes together stay within the budget's quota (plus its burst).
/// - After [`penalize`](Self::penalize)`(pause)` returns, no process gets a
///   slot before `pause` has passed (slots granted before the penalty may
///   still be used: a reservation is a promise).
/// - A budget is cheap to share: one handle (in an `Arc`) serves every
///   stream and partition of a process.
///
/// ```
/// use haul_ratelimit::{SharedBudget, SharedBudgetError};
/// use std::time::Duration;
///
/// /// A budget that never makes anyone wait, and logs penalties.
/// #[derive(Debug)]
/// struct Generous;
///
/// #[async_trait::async_trait]
/// impl SharedBudget for Generous {
///     async fn acquire(&self, _cost: u32) -> Result<(), SharedBudgetError> {
///         Ok(())
///     }
///     async fn penalize(&self, pause: Duration) {
///         eprintln!("every worker would pause {pause:?}");
///     }
/// }
/// ```
#[async_trait::async_trait]
pub trait SharedBudget: Send + Sync + std::fmt::Debug {
    /// Waits until a request of `cost` may be sent by any process sharing
    /// the budget. An error means no slot was taken and the request must not
    /// be sent.
    async fn acquire(&self, cost: u32) -> Result<(), SharedBudgetError>;

    /// A throttle signal (429/403 throttle, Retry-After, Remaining: 0 with a
    /// reset) seen here: no process gets a slot for `pause`. Never fails:
    /// a penalty that cannot be shared (the budget's server is unreachable)
    /// is logged and dropped by the implementation.
    async fn penalize(&self, pause: Duration);
}

/// Why a [`SharedBudget`] granted no slot.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SharedBudgetError {
    /// The budget's server is unreachable and its outage policy is to fail.
    #[error("the shared budget {budget} is unreachable: {source}")]
    Unavailable {
        /// The budget's name.
        budget: String,
        /// What the connection said.
        #[source]
        source: Box<dyn StdError + Send + Sync>,
    },
    /// The request cannot ever be granted, or the budget's server answered
    /// with an error (a cost above the burst, a script error).
    #[error("the shared budget {budget} refused the request: {source}")]
    Refused {
        /// The budget's name.
        budget: String,
        /// Why.
        #[source]
        source: Box<dyn StdError + Send + Sync>,
    },
}

impl SharedBudgetError {
    /// The budget's name.
    pub fn budget(&self) -> &str {
        match self {
            Self::Unavailable { budget, .. } | Self::Refused { budget, .. } => budget,
        }
    }

    /// Whether the budget's server was unreachable (a later run may succeed).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable { .. })
    }
}
