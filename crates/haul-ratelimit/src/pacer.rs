//! [`FixedRate`]: N requests per period with a burst (GCRA).

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use crate::{Permit, RateLimiter};

/// Paces requests to `quota` per `period`, allowing `burst` at once, with the
/// generic cell rate algorithm (GCRA): exact, O(1), one timestamp of state.
///
/// ```
/// use haul_ratelimit::{FixedRate, Permit, RateLimiter};
/// use std::time::Duration;
/// let pacer = FixedRate::new(10, Duration::from_secs(1)).burst(2);
/// let t0 = Duration::ZERO;
/// assert_eq!(pacer.try_acquire(t0), Permit::Granted);
/// assert_eq!(pacer.try_acquire(t0), Permit::Granted);
/// assert_eq!(pacer.try_acquire(t0), Permit::Wait(Duration::from_millis(100)));
/// assert_eq!(pacer.try_acquire(Duration::from_millis(100)), Permit::Granted);
/// ```
#[derive(Debug)]
pub struct FixedRate {
    interval: Duration,
    tolerance: Duration,
    burst: u32,
    /// Theoretical arrival time of the next request.
    tat: Mutex<Option<Duration>>,
}

impl FixedRate {
    /// `quota` requests per `period` (a quota of 0 is treated as 1), burst 1.
    pub fn new(quota: u32, period: Duration) -> Self {
        let interval = period / quota.max(1);
        Self {
            interval,
            tolerance: Duration::ZERO,
            burst: 1,
            tat: Mutex::new(None),
        }
    }

    /// `n` requests per second.
    pub fn per_second(n: u32) -> Self {
        Self::new(n, Duration::from_secs(1))
    }

    /// Allows up to `burst` requests back to back (at least 1).
    pub fn burst(mut self, burst: u32) -> Self {
        self.burst = burst.max(1);
        self.tolerance = self.interval.saturating_mul(self.burst - 1);
        self
    }

    /// The spacing between requests at the sustained rate.
    pub fn interval(&self) -> Duration {
        self.interval
    }
}

impl RateLimiter for FixedRate {
    fn try_acquire(&self, now: Duration) -> Permit {
        let mut tat = self.tat.lock().unwrap_or_else(PoisonError::into_inner);
        let arrival = tat.map_or(now, |t| t.max(now));
        let ahead = arrival - now;
        if ahead > self.tolerance {
            return Permit::Wait(ahead - self.tolerance);
        }
        *tat = Some(arrival + self.interval);
        Permit::Granted
    }

    fn cancel(&self, _now: Duration) {
        let mut tat = self.tat.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(t) = tat.as_mut() {
            *t = t.saturating_sub(self.interval);
        }
    }
}
