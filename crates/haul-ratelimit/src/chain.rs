//! [`AllOf`]: several limiters composed; a request needs a permit from each.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use haul_core::Response;

use crate::{Permit, RateLimiter};

/// Composes limiters (pacing + header-adaptive + concurrency, say): a permit is
/// granted only when every limiter grants one. When a later limiter says wait,
/// the permits already taken from earlier ones are given back, so composition
/// never consumes budget it does not use.
///
/// ```
/// use haul_ratelimit::{AllOf, FixedRate, MaxInFlight, Permit, RateLimiter};
/// use std::time::Duration;
/// let limiter = AllOf::new()
///     .with(FixedRate::per_second(100).burst(10))
///     .with(MaxInFlight::new(1));
/// assert_eq!(limiter.try_acquire(Duration::ZERO), Permit::Granted);
/// // The concurrency cap refuses; the pacer's permit is handed back.
/// assert!(matches!(limiter.try_acquire(Duration::ZERO), Permit::Wait(_)));
/// limiter.release();
/// assert_eq!(limiter.try_acquire(Duration::ZERO), Permit::Granted);
/// ```
#[derive(Clone, Default)]
pub struct AllOf {
    limiters: Vec<Arc<dyn RateLimiter>>,
}

impl std::fmt::Debug for AllOf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AllOf")
            .field("limiters", &self.limiters.len())
            .finish()
    }
}

impl AllOf {
    /// An empty composition (grants everything).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a limiter (pass an `Arc` to share one with other compositions).
    pub fn with(mut self, limiter: impl RateLimiter + 'static) -> Self {
        self.limiters.push(Arc::new(limiter));
        self
    }
}

impl RateLimiter for AllOf {
    fn try_acquire(&self, now: Duration) -> Permit {
        for (i, limiter) in self.limiters.iter().enumerate() {
            if let Permit::Wait(wait) = limiter.try_acquire(now) {
                for earlier in &self.limiters[..i] {
                    earlier.cancel(now);
                }
                return Permit::Wait(wait);
            }
        }
        Permit::Granted
    }

    fn observe(&self, response: &Response, now: Duration, wall: SystemTime) {
        for limiter in &self.limiters {
            limiter.observe(response, now, wall);
        }
    }

    fn throttled(&self, response: &Response, now: Duration, wall: SystemTime) {
        for limiter in &self.limiters {
            limiter.throttled(response, now, wall);
        }
    }

    fn cancel(&self, now: Duration) {
        for limiter in &self.limiters {
            limiter.cancel(now);
        }
    }

    fn release(&self) {
        for limiter in &self.limiters {
            limiter.release();
        }
    }
}
