//! [`MaxInFlight`]: a cap on requests in flight.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::{Permit, RateLimiter};

/// Allows at most `n` requests in flight at once, across every stream that
/// shares it. A caller that finds it full is told to ask again shortly.
///
/// ```
/// use haul_ratelimit::{MaxInFlight, Permit, RateLimiter};
/// use std::time::Duration;
/// let cap = MaxInFlight::new(1);
/// assert_eq!(cap.try_acquire(Duration::ZERO), Permit::Granted);
/// assert!(matches!(cap.try_acquire(Duration::ZERO), Permit::Wait(_)));
/// cap.release();
/// assert_eq!(cap.try_acquire(Duration::ZERO), Permit::Granted);
/// ```
#[derive(Debug)]
pub struct MaxInFlight {
    max: usize,
    in_flight: AtomicUsize,
    poll: Duration,
}

impl MaxInFlight {
    /// At most `max` requests in flight (at least 1).
    pub fn new(max: usize) -> Self {
        Self {
            max: max.max(1),
            in_flight: AtomicUsize::new(0),
            poll: Duration::from_millis(2),
        }
    }

    /// How long a caller waits before asking again when the cap is reached (default 2 ms).
    pub fn poll_interval(mut self, poll: Duration) -> Self {
        self.poll = poll.max(Duration::from_micros(100));
        self
    }

    /// Requests currently in flight.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }
}

impl RateLimiter for MaxInFlight {
    fn try_acquire(&self, _now: Duration) -> Permit {
        let taken = self
            .in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max).then_some(n + 1)
            });
        match taken {
            Ok(_) => Permit::Granted,
            Err(_) => Permit::Wait(self.poll),
        }
    }

    fn cancel(&self, _now: Duration) {
        self.release();
    }

    fn release(&self) {
        let _ = self
            .in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
    }
}
