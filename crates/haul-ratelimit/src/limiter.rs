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

/// The answer to [`RateLimiter::reserve`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum Reservation {
    /// A permit is taken for monotonic time `at` (now or later): sleep until
    /// then and send, or hand it back with [`RateLimiter::cancel`]`(at)`.
    At(Duration),
    /// Nothing taken (the limiter cannot promise a time yet: a budget that
    /// only the next response will tell); ask again after this long.
    Wait(Duration),
}

/// Paces requests. Synchronous and I/O-free: the caller passes the time (from
/// its injected clock) and sleeps itself.
///
/// Two ways to ask:
///
/// - [`reserve`](Self::reserve) (what the extractor uses): the limiter takes
///   the earliest permit it can promise at once and says when it may be
///   used, [`Reservation::At`]; the caller sleeps until then and sends. A
///   caller that wakes late keeps its place: the schedule advanced when the
///   permit was reserved, not when it is used. A reservation that will not be
///   used (the caller's future was dropped while it slept) is handed back
///   with [`cancel`](Self::cancel)`(at)`.
/// - [`try_acquire`](Self::try_acquire): take a permit now, or be told how
///   long to wait before asking again (nothing is held meanwhile).
///
/// One limiter may be shared (`Arc`) by many concurrent streams so that
/// several endpoints of one API draw on one budget.
///
/// Laws (property-tested): over any window the number of permits granted or
/// reserved for that window never exceeds the quota plus burst; when the
/// server says `Remaining: 0` until a reset, nothing is granted before that
/// reset.
pub trait RateLimiter: Send + Sync {
    /// Takes a permit at monotonic time `now`, or says how long to wait.
    fn try_acquire(&self, now: Duration) -> Permit;

    /// Takes the earliest permit the limiter can promise at `now` and says
    /// when it may be used. Default: [`try_acquire`](Self::try_acquire)
    /// (a permit for `now`, or nothing and a wait); pacing limiters override
    /// it to hand out future slots.
    fn reserve(&self, now: Duration) -> Reservation {
        match self.try_acquire(now) {
            Permit::Granted => Reservation::At(now),
            Permit::Wait(wait) => Reservation::Wait(wait),
        }
    }

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

    /// Gives back a permit that will not be used: one granted at `at` (a
    /// composed limiter granted it, but a later limiter in the chain said
    /// wait), or one reserved for `at`. A limiter hands it back where it
    /// can (the next caller may take that time); it never has to.
    fn cancel(&self, at: Duration) {
        let _ = at;
    }

    /// Says a request sent under a granted permit has completed (successfully
    /// or not). Called exactly once per used permit; concurrency limits need it.
    fn release(&self) {}

    /// How long from `now` the limiter will grant nothing because a server
    /// said so — a `Retry-After`, or `Remaining: 0` until a reset (the
    /// tightest bound of the reset it learned) — or `None`. Takes no permit.
    /// The extractor passes it on to a [`SharedBudget`](crate::SharedBudget)
    /// as the penalty, so every worker pauses as long as this one will.
    /// Default: `None` (a limiter that does not read the server's headers).
    fn server_pause(&self, now: Duration) -> Option<Duration> {
        let _ = now;
        None
    }
}

macro_rules! forward_limiter {
    ($($ty:ty),*) => {$(
        impl<L: RateLimiter + ?Sized> RateLimiter for $ty {
            fn try_acquire(&self, now: Duration) -> Permit { (**self).try_acquire(now) }
            fn reserve(&self, now: Duration) -> Reservation { (**self).reserve(now) }
            fn observe(&self, response: &Response, now: Duration, wall: SystemTime) {
                (**self).observe(response, now, wall)
            }
            fn throttled(&self, response: &Response, now: Duration, wall: SystemTime) {
                (**self).throttled(response, now, wall)
            }
            fn cancel(&self, at: Duration) { (**self).cancel(at) }
            fn release(&self) { (**self).release() }
            fn server_pause(&self, now: Duration) -> Option<Duration> { (**self).server_pause(now) }
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
