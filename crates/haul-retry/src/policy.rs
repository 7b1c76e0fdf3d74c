//! The [`RetryPolicy`] trait and [`ExponentialBackoff`], haul's default.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use haul_core::{Request, TransportErrorKind};

use crate::budget::RetryBudget;
use crate::classify::Classification;
use crate::rng::{SplitMix64, entropy_seed};

/// What the policy knows when it decides.
#[derive(Debug, Clone, Copy)]
pub struct RetryContext<'a> {
    /// Attempts made so far for this request (1 after the first failure).
    pub attempt: u32,
    /// Time since the first attempt started.
    pub elapsed: Duration,
    /// The request (for idempotency).
    pub request: &'a Request,
    /// What went wrong.
    pub classification: &'a Classification,
}

/// The decision for one failed attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetryDecision {
    /// Try again after this delay.
    RetryAfter(Duration),
    /// Stop and surface the failure.
    GiveUp(GiveUp),
}

/// Why a policy stopped retrying.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GiveUp {
    /// The outcome cannot be fixed by retrying (e.g. 404).
    #[error("the failure is not retryable")]
    NotRetryable,
    /// The request's method is not idempotent and it did not opt in.
    #[error("the request is not idempotent and did not opt in to retries")]
    NotIdempotent,
    /// The attempt cap was reached.
    #[error("gave up after {attempts} attempts")]
    AttemptsExhausted {
        /// Attempts made.
        attempts: u32,
    },
    /// The next wait would pass the total-time cap.
    #[error("gave up after {elapsed:?}: the next wait would exceed the {max:?} retry time limit")]
    TimeExhausted {
        /// Time spent so far.
        elapsed: Duration,
        /// The cap.
        max: Duration,
    },
    /// The server asked to wait longer than the configured cap.
    #[error("the server asked to retry after {asked:?}, longer than the {cap:?} cap")]
    RetryAfterTooLong {
        /// What the server asked for.
        asked: Duration,
        /// The configured cap.
        cap: Duration,
    },
    /// The shared retry budget is empty.
    #[error("the shared retry budget is exhausted (too many failures across the run)")]
    BudgetExhausted,
}

/// Decides whether and when to retry. Synchronous, no I/O, no sleeping: the
/// extractor sleeps the returned delay through its injected sleeper.
///
/// Laws (property-tested): delays never exceed the cap; attempts and total
/// time are bounded; `Retry-After` is honored up to a cap; non-idempotent
/// requests are not retried unless they opt in.
pub trait RetryPolicy: Send + Sync {
    /// Decides after a failed attempt.
    fn decide(&self, ctx: &RetryContext<'_>) -> RetryDecision;

    /// Called after a success, `attempts` being the attempts it took (for budgets).
    fn on_success(&self, attempts: u32) {
        let _ = attempts;
    }
}

macro_rules! forward_policy {
    ($($ty:ty),*) => {$(
        impl<P: RetryPolicy + ?Sized> RetryPolicy for $ty {
            fn decide(&self, ctx: &RetryContext<'_>) -> RetryDecision { (**self).decide(ctx) }
            fn on_success(&self, attempts: u32) { (**self).on_success(attempts) }
        }
    )*};
}
forward_policy!(&P, Box<P>, Arc<P>);

/// Never retries.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoRetry;

impl RetryPolicy for NoRetry {
    fn decide(&self, ctx: &RetryContext<'_>) -> RetryDecision {
        RetryDecision::GiveUp(if ctx.classification.is_retryable() {
            GiveUp::AttemptsExhausted {
                attempts: ctx.attempt,
            }
        } else {
            GiveUp::NotRetryable
        })
    }
}

/// Exponential backoff with full jitter, honoring `Retry-After`, bounded in
/// attempts and total time, drawing on a shared [`RetryBudget`].
///
/// The n-th retry waits a uniform random time in `[0, min(cap, base · 2ⁿ⁻¹)]`
/// ("full jitter", which spreads synchronized clients best), unless the server
/// said how long to wait: then exactly that, if it is within `max_retry_after`.
///
/// ```
/// use haul_retry::{Classification, ExponentialBackoff, RetryContext, RetryDecision, RetryPolicy};
/// use std::time::Duration;
/// let policy = ExponentialBackoff::default().seed(7);
/// let req = haul_core::Request::get("https://h.example/".parse()?);
/// let class = Classification::ServerError { status: http::StatusCode::BAD_GATEWAY, retry_after: None };
/// let ctx = RetryContext { attempt: 3, elapsed: Duration::from_secs(2), request: &req, classification: &class };
/// match policy.decide(&ctx) {
///     RetryDecision::RetryAfter(d) => assert!(d <= Duration::from_secs(4)),
///     other => panic!("{other:?}"),
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct ExponentialBackoff {
    base: Duration,
    cap: Duration,
    max_attempts: u32,
    max_elapsed: Duration,
    max_retry_after: Duration,
    budget: Option<Arc<RetryBudget>>,
    rng: Arc<Mutex<SplitMix64>>,
}

impl Default for ExponentialBackoff {
    /// Base 1 s, cap 60 s, 5 attempts, 5 minutes in total, `Retry-After` honored up to 5 minutes,
    /// a default [`RetryBudget`].
    fn default() -> Self {
        Self {
            base: Duration::from_secs(1),
            cap: Duration::from_secs(60),
            max_attempts: 5,
            max_elapsed: Duration::from_secs(300),
            max_retry_after: Duration::from_secs(300),
            budget: Some(Arc::new(RetryBudget::default())),
            rng: Arc::new(Mutex::new(SplitMix64::new(entropy_seed()))),
        }
    }
}

impl ExponentialBackoff {
    /// The first retry's maximum delay.
    pub fn base(mut self, base: Duration) -> Self {
        self.base = base;
        self
    }
    /// The largest delay between two attempts.
    pub fn cap(mut self, cap: Duration) -> Self {
        self.cap = cap;
        self
    }
    /// Total attempts allowed, the first included (at least 1).
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n.max(1);
        self
    }
    /// Total time across attempts and waits.
    pub fn max_elapsed(mut self, d: Duration) -> Self {
        self.max_elapsed = d;
        self
    }
    /// The longest `Retry-After` honored; a longer request is a [`GiveUp::RetryAfterTooLong`].
    pub fn max_retry_after(mut self, d: Duration) -> Self {
        self.max_retry_after = d;
        self
    }
    /// Shares this retry budget (pass the same `Arc` to every stream's policy), or `None` for no budget.
    pub fn budget(mut self, budget: Option<Arc<RetryBudget>>) -> Self {
        self.budget = budget;
        self
    }
    /// Seeds the jitter generator (reproducible delays for tests).
    pub fn seed(mut self, seed: u64) -> Self {
        self.rng = Arc::new(Mutex::new(SplitMix64::new(seed)));
        self
    }

    /// The upper bound of the jittered delay before retry number `retry` (1-based).
    pub fn ceiling(&self, retry: u32) -> Duration {
        let factor = 1u32
            .checked_shl(retry.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.cap)
    }
}

impl RetryPolicy for ExponentialBackoff {
    fn decide(&self, ctx: &RetryContext<'_>) -> RetryDecision {
        let class = ctx.classification;
        if !class.is_retryable() {
            return RetryDecision::GiveUp(GiveUp::NotRetryable);
        }
        if !ctx.request.is_idempotent() {
            return RetryDecision::GiveUp(GiveUp::NotIdempotent);
        }
        if ctx.attempt >= self.max_attempts {
            return RetryDecision::GiveUp(GiveUp::AttemptsExhausted {
                attempts: ctx.attempt,
            });
        }
        let delay = match class.retry_after() {
            Some(asked) if asked > self.max_retry_after => {
                return RetryDecision::GiveUp(GiveUp::RetryAfterTooLong {
                    asked,
                    cap: self.max_retry_after,
                });
            }
            Some(asked) => asked,
            None => {
                let ceiling = self.ceiling(ctx.attempt);
                let unit = self
                    .rng
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .unit();
                ceiling.mul_f64(unit).min(ceiling)
            }
        };
        if ctx.elapsed.saturating_add(delay) > self.max_elapsed {
            return RetryDecision::GiveUp(GiveUp::TimeExhausted {
                elapsed: ctx.elapsed,
                max: self.max_elapsed,
            });
        }
        if let Some(budget) = &self.budget {
            let after_timeout = matches!(
                class,
                Classification::Transient(TransportErrorKind::Timeout)
            );
            if !budget.withdraw(after_timeout) {
                return RetryDecision::GiveUp(GiveUp::BudgetExhausted);
            }
        }
        RetryDecision::RetryAfter(delay)
    }

    fn on_success(&self, attempts: u32) {
        if attempts <= 1
            && let Some(budget) = &self.budget
        {
            budget.deposit();
        }
    }
}
