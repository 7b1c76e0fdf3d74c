//! [`AllOf`]: several limiters composed; a request needs a permit from each.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use haul_core::Response;

use crate::{Permit, RateLimiter, Reservation};

/// Composes limiters (pacing + header-adaptive + concurrency, say): a permit is
/// granted only when every limiter grants one. When a later limiter says wait,
/// the permits already taken from earlier ones are given back, so composition
/// never consumes budget it does not use.
///
/// [`reserve`](RateLimiter::reserve) asks every member at the same time and
/// answers the latest of their slots: members that grant at once (header
/// budgets, concurrency caps) have their permit used at that slot, and one
/// member handing out future slots (a [`FixedRate`](crate::FixedRate)) keeps
/// its reservation. If two members hand out different future slots, or one
/// says wait, every reservation is handed back and the caller waits for the
/// latest instead.
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

    fn reserve(&self, now: Duration) -> Reservation {
        // The members' slots, kept to hand them back exactly; on the stack
        // for any composition of a sensible size.
        let mut stack = [Duration::ZERO; 8];
        let mut heap = Vec::new();
        let slots: &mut [Duration] = if self.limiters.len() <= stack.len() {
            &mut stack[..self.limiters.len()]
        } else {
            heap.resize(self.limiters.len(), Duration::ZERO);
            &mut heap
        };
        let mut latest = now;
        let mut conflict = false;
        for (i, limiter) in self.limiters.iter().enumerate() {
            match limiter.reserve(now) {
                Reservation::At(at) => {
                    conflict |= at > now && latest > now && at != latest;
                    latest = latest.max(at);
                    slots[i] = at;
                }
                Reservation::Wait(wait) => {
                    for (earlier, at) in self.limiters[..i].iter().zip(slots.iter()) {
                        earlier.cancel(*at);
                    }
                    return Reservation::Wait(wait);
                }
            }
        }
        if conflict {
            // Two members promised different future slots: using the earlier
            // one late could crowd the slots after it. Wait for the latest.
            for (limiter, at) in self.limiters.iter().zip(slots.iter()) {
                limiter.cancel(*at);
            }
            return Reservation::Wait(latest - now);
        }
        Reservation::At(latest)
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

    fn cancel(&self, at: Duration) {
        for limiter in &self.limiters {
            limiter.cancel(at);
        }
    }

    fn release(&self) {
        for limiter in &self.limiters {
            limiter.release();
        }
    }

    fn server_pause(&self, now: Duration) -> Option<Duration> {
        self.limiters
            .iter()
            .filter_map(|limiter| limiter.server_pause(now))
            .max()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FixedRate, MaxInFlight};

    #[test]
    fn a_member_saying_wait_gets_the_other_reservations_handed_back() {
        let ms = Duration::from_millis;
        let pacer = Arc::new(FixedRate::per_second(10).lateness_allowance(Duration::ZERO));
        let limiter = AllOf::new()
            .with(Arc::clone(&pacer))
            .with(MaxInFlight::new(1));
        assert_eq!(limiter.reserve(ms(0)), Reservation::At(ms(0)));
        // The cap is full: the pacer's slot at 100 ms is handed back...
        assert!(matches!(limiter.reserve(ms(0)), Reservation::Wait(_)));
        limiter.release();
        // ...so the next caller gets it.
        assert_eq!(limiter.reserve(ms(0)), Reservation::At(ms(100)));
    }

    #[test]
    fn two_members_with_different_future_slots_make_the_caller_wait() {
        let ms = Duration::from_millis;
        let fast = Arc::new(FixedRate::per_second(10).lateness_allowance(Duration::ZERO));
        let slow = Arc::new(FixedRate::per_second(4).lateness_allowance(Duration::ZERO));
        let limiter = AllOf::new().with(Arc::clone(&fast)).with(Arc::clone(&slow));
        assert_eq!(limiter.reserve(ms(0)), Reservation::At(ms(0)));
        // 100 ms from one, 250 ms from the other: both handed back.
        assert_eq!(limiter.reserve(ms(0)), Reservation::Wait(ms(250)));
        assert_eq!(fast.reserve(ms(0)), Reservation::At(ms(100)));
        assert_eq!(slow.reserve(ms(0)), Reservation::At(ms(250)));
    }
}
