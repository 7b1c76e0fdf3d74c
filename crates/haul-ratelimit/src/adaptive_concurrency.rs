//! [`AdaptiveConcurrency`]: an in-flight limit that finds the server's knee (AIMD).

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use haul_core::Response;

use crate::{Permit, RateLimiter};

/// How often the latency baseline is re-learned from recent responses.
const RELEARN: Duration = Duration::from_secs(30);

/// A cap on requests in flight that adapts, in the spirit of Vector's adaptive
/// request concurrency: it grows by one per round trip while latency holds
/// (additive increase) and halves on throttling (429, 503) or a latency jump
/// (multiplicative decrease), staying within `[min, max]`. Latency is compared
/// with the lowest latency seen (re-learned every 30 s).
///
/// Compose it with a pacing or header-adaptive limiter ([`AllOf`](crate::AllOf))
/// so the rate limit still bounds it. Decisions are synchronous and use only
/// the response's status and measured latency, so scenarios are
/// reproducible under a fake clock.
///
/// ```
/// use haul_ratelimit::{AdaptiveConcurrency, Permit, RateLimiter};
/// use haul_core::Response;
/// use std::time::{Duration, SystemTime};
/// let limiter = AdaptiveConcurrency::new(1, 32);
/// assert_eq!(limiter.limit(), 1);
/// let ok = |ms| {
///     let mut r = Response::new(http::StatusCode::OK, "https://api.example.com/".parse().unwrap(), "");
///     r.elapsed = Duration::from_millis(ms);
///     r
/// };
/// for _ in 0..10 {
///     assert_eq!(limiter.try_acquire(Duration::ZERO), Permit::Granted);
///     limiter.release();
///     limiter.observe(&ok(20), Duration::ZERO, SystemTime::now());
/// }
/// assert!(limiter.limit() > 1);
/// ```
#[derive(Debug)]
pub struct AdaptiveConcurrency {
    min: usize,
    max: usize,
    jump: f64,
    poll: Duration,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    limit: f64,
    in_flight: usize,
    /// Latency when uncongested: the minimum seen, re-learned every
    /// [`RELEARN`] so a lasting change of the server is picked up.
    baseline: Option<Duration>,
    /// Minimum latency of the current re-learning period, and when it began.
    period_min: Option<Duration>,
    period_start: Duration,
    /// When the limit last decreased: responses to requests sent before then
    /// reflect the old limit and do not decrease it again.
    last_decrease: Option<Duration>,
}

impl AdaptiveConcurrency {
    /// Starts at `min` requests in flight and never exceeds `max`.
    pub fn new(min: usize, max: usize) -> Self {
        let min = min.max(1);
        Self {
            min,
            max: max.max(min),
            jump: 2.0,
            poll: Duration::from_millis(1),
            state: Mutex::new(State {
                limit: min as f64,
                in_flight: 0,
                baseline: None,
                period_min: None,
                period_start: Duration::ZERO,
                last_decrease: None,
            }),
        }
    }

    /// Treat latency above `factor` × the baseline as congestion (default 2.0).
    pub fn latency_jump(mut self, factor: f64) -> Self {
        self.jump = factor.max(1.1);
        self
    }

    /// The current in-flight limit.
    pub fn limit(&self) -> usize {
        self.state().limit.floor() as usize
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // Plain numbers behind the lock; never left half-updated.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl RateLimiter for AdaptiveConcurrency {
    fn try_acquire(&self, _now: Duration) -> Permit {
        let mut s = self.state();
        if s.in_flight < (s.limit.floor() as usize).max(self.min) {
            s.in_flight += 1;
            Permit::Granted
        } else {
            Permit::Wait(self.poll)
        }
    }

    fn observe(&self, response: &Response, now: Duration, _wall: SystemTime) {
        let mut s = self.state();
        let rtt = response.elapsed;
        let throttled = matches!(response.status.as_u16(), 429 | 503);
        let baseline = *s.baseline.get_or_insert(rtt);
        let congested = throttled || rtt.as_secs_f64() > baseline.as_secs_f64() * self.jump;
        let sent_at = now.saturating_sub(rtt);
        if congested {
            if s.last_decrease.is_none_or(|at| sent_at >= at) {
                let before = s.limit;
                s.limit = (s.limit / 2.0).max(self.min as f64);
                s.last_decrease = Some(now);
                tracing::debug!(from = before, to = s.limit, throttled, rtt = ?rtt, "adaptive concurrency: backing off");
            }
        } else {
            s.limit = (s.limit + 1.0 / s.limit.max(1.0)).min(self.max as f64);
        }
        if !throttled {
            // The baseline is a minimum, not an average: an average would creep
            // up with the queueing it is meant to detect.
            s.baseline = Some(baseline.min(rtt));
            s.period_min = Some(s.period_min.map_or(rtt, |m| m.min(rtt)));
        }
        if now.saturating_sub(s.period_start) >= RELEARN {
            if let Some(min) = s.period_min.take() {
                s.baseline = Some(min);
            }
            s.period_start = now;
        }
    }

    fn cancel(&self, _now: Duration) {
        self.release();
    }

    fn release(&self) {
        let mut s = self.state();
        s.in_flight = s.in_flight.saturating_sub(1);
    }
}
