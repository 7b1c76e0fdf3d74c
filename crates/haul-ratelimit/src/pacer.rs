//! [`FixedRate`]: N requests per period with a burst (GCRA), reserving slots.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use crate::{Permit, RateLimiter, Reservation};

/// Cancelled future slots kept for the next callers; beyond this many, a
/// cancelled slot is simply lost (the rate dips, the law holds).
const MAX_HOLES: usize = 64;

/// Paces requests to `quota` per `period`, allowing `burst` at once, with the
/// generic cell rate algorithm (GCRA): exact, O(1), one timestamp of state.
///
/// [`reserve`](RateLimiter::reserve) hands out slots: a caller takes the next
/// slot at once (the theoretical arrival time advances when the slot is
/// reserved, not when it is used) and sleeps until it, so a sleeper that
/// wakes a millisecond late keeps its slot and many streams sharing one
/// limiter use the whole rate. Reserved slots are spaced so that `quota`
/// slots span `period` plus a [`lateness allowance`](Self::lateness_allowance)
/// (1 % of the period, at most 10 ms, by default): sleepers wake late by varying amounts, and
/// without it a strict fixed-window server could see `quota + 1` requests in
/// one of its windows. A cancelled reservation is handed back: the latest one
/// rewinds the schedule, an earlier one becomes a hole the next caller takes.
///
/// ```
/// use haul_ratelimit::{FixedRate, Permit, RateLimiter, Reservation};
/// use std::time::Duration;
/// let ms = Duration::from_millis;
/// let pacer = FixedRate::new(10, Duration::from_secs(1)).burst(2);
/// let t0 = Duration::ZERO;
/// assert_eq!(pacer.try_acquire(t0), Permit::Granted);
/// assert_eq!(pacer.try_acquire(t0), Permit::Granted);
/// assert_eq!(pacer.try_acquire(t0), Permit::Wait(ms(100)));
/// assert_eq!(pacer.try_acquire(ms(100)), Permit::Granted);
///
/// // Reserving: three callers at 200 ms take the next slots at once.
/// let pacer = FixedRate::new(10, Duration::from_secs(1)).lateness_allowance(Duration::ZERO);
/// let slots: Vec<_> = (0..3).map(|_| pacer.reserve(ms(200))).collect();
/// assert_eq!(slots, [Reservation::At(ms(200)), Reservation::At(ms(300)), Reservation::At(ms(400))]);
/// // The caller of the 300 ms slot gives up: the next caller gets its slot.
/// pacer.cancel(ms(300));
/// assert_eq!(pacer.reserve(ms(250)), Reservation::At(ms(300)));
/// ```
#[derive(Debug)]
pub struct FixedRate {
    interval: Duration,
    /// The spacing of reserved slots: `interval` stretched by the lateness allowance.
    reserve_interval: Duration,
    quota: u32,
    tolerance: Duration,
    burst: u32,
    state: Mutex<Schedule>,
}

#[derive(Debug, Default)]
struct Schedule {
    /// Theoretical arrival time of the next request.
    tat: Option<Duration>,
    /// The latest slot granted or reserved, and how far it moved `tat`:
    /// cancelling that slot rewinds `tat` exactly.
    last: Option<(Duration, Duration)>,
    /// Cancelled slots not yet taken again, sorted.
    holes: Vec<Duration>,
}

impl Schedule {
    /// Forgets holes before `now` (a past slot cannot be used late: it would
    /// crowd the slots after it) and takes the earliest one at or after it.
    fn take_hole(&mut self, now: Duration, until: Option<Duration>) -> Option<Duration> {
        let past = self.holes.partition_point(|h| *h < now);
        self.holes.drain(..past);
        let first = *self.holes.first()?;
        if until.is_some_and(|u| first > u) {
            return None;
        }
        self.holes.remove(0);
        Some(first)
    }
}

/// Sleepers wake late by milliseconds whatever the period: 1 % of it, at
/// most 10 ms.
fn default_allowance(period: Duration) -> Duration {
    (period / 100).min(Duration::from_millis(10))
}

impl FixedRate {
    /// `quota` requests per `period` (a quota of 0 is treated as 1), burst 1.
    pub fn new(quota: u32, period: Duration) -> Self {
        let quota = quota.max(1);
        let interval = period / quota;
        Self {
            interval,
            reserve_interval: (period + default_allowance(period)) / quota,
            quota,
            tolerance: Duration::ZERO,
            burst: 1,
            state: Mutex::default(),
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

    /// How late, over one period, the sleepers holding reserved slots may
    /// wake without a strict server seeing more than the quota in one of its
    /// windows: reserved slots are spaced so that `quota` of them span
    /// `period + allowance` (default: 1 % of the period, at most 10 ms: what
    /// a busy runtime's timers and scheduler add). Zero spaces them
    /// exactly at the interval. [`try_acquire`](RateLimiter::try_acquire)
    /// grants at the interval: its caller sends at once.
    pub fn lateness_allowance(mut self, allowance: Duration) -> Self {
        let period = self.interval.saturating_mul(self.quota);
        self.reserve_interval = period.saturating_add(allowance) / self.quota;
        self
    }

    /// The spacing between requests at the sustained rate.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// The spacing between reserved slots at the sustained rate.
    pub fn reserve_interval(&self) -> Duration {
        self.reserve_interval
    }

    fn schedule(&self) -> std::sync::MutexGuard<'_, Schedule> {
        // One timestamp and a short list behind the lock; never left half-updated.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes the slot at `at` (conforming), advancing `tat` by `interval`.
    fn take(&self, s: &mut Schedule, at: Duration, interval: Duration) {
        let before = s.tat.map_or(at, |t| t.max(at));
        let after = before + interval;
        // Rewinding to `after - interval` (not to the old `tat`) is exact when
        // the slot queued behind others and conservative when it did not.
        s.last = Some((at, interval));
        s.tat = Some(after);
    }
}

impl RateLimiter for FixedRate {
    fn try_acquire(&self, now: Duration) -> Permit {
        let mut s = self.schedule();
        if s.take_hole(now, Some(now)).is_some() {
            return Permit::Granted;
        }
        let arrival = s.tat.map_or(now, |t| t.max(now));
        let ahead = arrival - now;
        if ahead > self.tolerance {
            let wait = ahead - self.tolerance;
            let wait = s.holes.first().map_or(wait, |h| wait.min(*h - now));
            return Permit::Wait(wait);
        }
        self.take(&mut s, now, self.interval);
        Permit::Granted
    }

    fn reserve(&self, now: Duration) -> Reservation {
        let mut s = self.schedule();
        let next = s
            .tat
            .map_or(now, |t| t.saturating_sub(self.tolerance).max(now));
        if let Some(hole) = s.take_hole(now, Some(next)) {
            return Reservation::At(hole);
        }
        self.take(&mut s, next, self.reserve_interval);
        Reservation::At(next)
    }

    fn cancel(&self, at: Duration) {
        let mut s = self.schedule();
        match s.last {
            Some((last, interval)) if last == at => {
                if let Some(t) = s.tat.as_mut() {
                    *t = t.saturating_sub(interval);
                }
                s.last = None;
            }
            _ => {
                if s.holes.len() < MAX_HOLES {
                    let i = s.holes.partition_point(|h| *h <= at);
                    s.holes.insert(i, at);
                }
            }
        }
    }
}
