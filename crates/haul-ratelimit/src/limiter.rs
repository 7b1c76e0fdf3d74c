//! The [`RateLimiter`] trait.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use haul_core::Response;

/// The answer to a permit request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum Permit {
    /// Send now (the permit has been taken).
    Granted,
    /// Nothing taken; ask again after this long.
    Wait(Duration),
}

/// Paces requests. Synchronous and I/O-free: the caller passes the time (from
/// its injected clock) and sleeps on [`Permit::Wait`] itself, then asks again.
///
/// One limiter may be shared (`Arc`) by many concurrent streams so that
/// several endpoints of one API draw on one budget.
///
/// Laws (property-tested): over any window the number of granted permits
/// never exceeds the quota plus burst; when the server says `Remaining: 0`
/// until a reset, nothing is granted before that reset.
pub trait RateLimiter: Send + Sync {
    /// Takes a permit at monotonic time `now`, or says how long to wait.
    fn try_acquire(&self, now: Duration) -> Permit;

    /// Learns from a response's headers (default: ignores them).
    fn observe(&self, response: &Response, now: Duration, wall: SystemTime) {
        let _ = (response, now, wall);
    }

    /// Says the classifier judged `response` a throttling response (429, 503
    /// with `Retry-After`, GitHub's 403 with `Remaining: 0`, or whatever a
    /// custom classifier calls throttling). Called after
    /// [`observe`](Self::observe) for the same response. Default: ignores it.
    fn throttled(&self, response: &Response, now: Duration, wall: SystemTime) {
        let _ = (response, now, wall);
    }

    /// Gives back a permit granted at `now` that will not be used (a composed
    /// limiter granted it, but a later limiter in the chain said wait).
    fn cancel(&self, now: Duration) {
        let _ = now;
    }

    /// Says a request sent under a granted permit has completed (successfully
    /// or not). Called exactly once per used permit; concurrency limits need it.
    fn release(&self) {}
}

macro_rules! forward_limiter {
    ($($ty:ty),*) => {$(
        impl<L: RateLimiter + ?Sized> RateLimiter for $ty {
            fn try_acquire(&self, now: Duration) -> Permit { (**self).try_acquire(now) }
            fn observe(&self, response: &Response, now: Duration, wall: SystemTime) {
                (**self).observe(response, now, wall)
            }
            fn throttled(&self, response: &Response, now: Duration, wall: SystemTime) {
                (**self).throttled(response, now, wall)
            }
            fn cancel(&self, now: Duration) { (**self).cancel(now) }
            fn release(&self) { (**self).release() }
        }
    )*};
}
forward_limiter!(&L, Box<L>, Arc<L>);

/// Grants every request at once.
#[derive(Debug, Clone, Copy, Default)]
pub struct Unlimited;

impl RateLimiter for Unlimited {
    fn try_acquire(&self, _now: Duration) -> Permit {
        Permit::Granted
    }
}
