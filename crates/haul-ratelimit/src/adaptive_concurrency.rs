//! [`AdaptiveConcurrency`]: an in-flight limit that finds the server's knee (AIMD).

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use haul_core::Response;

use crate::{Permit, RateLimiter};

/// How often the latency baseline is re-learned from recent responses, and
/// how long a ceiling learned from throttling holds.
const RELEARN: Duration = Duration::from_secs(30);

/// Weight of the newest response in the smoothed latency.
const SMOOTHING: f64 = 0.25;

/// The span over which accepted responses are counted (ten buckets).
const ACCEPTED_SPAN: Duration = Duration::from_secs(1);
const BUCKETS: usize = 10;

/// A cap on requests in flight that adapts, in the spirit of Vector's adaptive
/// request concurrency: it grows by one per round trip while latency holds
/// (additive increase) and halves when the smoothed latency rises past the
/// knee (more than 1.3 × the lowest latency seen, re-learned every 30 s),
/// staying within `[min, max]`.
///
/// Throttling (429, 503) is a rate signal, not a latency one: the limit drops
/// to what the server just accepted — the successful responses of the last
/// second times the baseline latency (the bandwidth-delay product), or half
/// when nothing was accepted — and does not grow past that ceiling for 30 s.
/// Halving alone would climb straight back into the server's cap every few
/// round trips; a server that refuses the rest of its window once it is full
/// then answers a burst of 429s each time.
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
    /// Exponentially smoothed latency, compared with the baseline.
    smoothed: Option<f64>,
    /// Successful responses per 100 ms bucket over the last second, and the
    /// index (time / 100 ms) of the newest bucket.
    accepted: [u64; BUCKETS],
    accepted_at: u64,
    /// The limit learned from throttling, and when: no growth past it until
    /// [`RELEARN`] has passed.
    ceiling: Option<(f64, Duration)>,
}

impl State {
    /// Counts a successful response at `now`.
    fn accept(&mut self, now: Duration) {
        self.roll(now);
        self.accepted[(self.accepted_at % BUCKETS as u64) as usize] += 1;
    }

    /// Successful responses over the last [`ACCEPTED_SPAN`] as of `now`.
    fn accepted(&mut self, now: Duration) -> u64 {
        self.roll(now);
        self.accepted.iter().sum()
    }

    /// Moves the bucket window to `now`, emptying the buckets it passes.
    fn roll(&mut self, now: Duration) {
        let width = ACCEPTED_SPAN.as_millis() as u64 / BUCKETS as u64;
        let at = now.as_millis() as u64 / width.max(1);
        if at > self.accepted_at {
            for i in (self.accepted_at + 1..=at).take(BUCKETS) {
                self.accepted[(i % BUCKETS as u64) as usize] = 0;
            }
            self.accepted_at = at;
        }
    }
}

impl AdaptiveConcurrency {
    /// Starts at `min` requests in flight and never exceeds `max`.
    pub fn new(min: usize, max: usize) -> Self {
        let min = min.max(1);
        Self {
            min,
            max: max.max(min),
            jump: 1.3,
            poll: Duration::from_millis(1),
            state: Mutex::new(State {
                limit: min as f64,
                in_flight: 0,
                baseline: None,
                period_min: None,
                period_start: Duration::ZERO,
                last_decrease: None,
                smoothed: None,
                accepted: [0; BUCKETS],
                accepted_at: 0,
                ceiling: None,
            }),
        }
    }

    /// Treat a smoothed latency above `factor` × the baseline as congestion
    /// (default 1.3: a knee shows as soon as requests queue).
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
        let smoothed = if throttled {
            s.smoothed.unwrap_or(rtt.as_secs_f64())
        } else {
            let smoothed = s.smoothed.map_or(rtt.as_secs_f64(), |m| {
                m + SMOOTHING * (rtt.as_secs_f64() - m)
            });
            s.smoothed = Some(smoothed);
            s.accept(now);
            smoothed
        };
        let congested = throttled || smoothed > baseline.as_secs_f64() * self.jump;
        let sent_at = now.saturating_sub(rtt);
        if congested {
            if s.last_decrease.is_none_or(|at| sent_at >= at) {
                let before = s.limit;
                if throttled {
                    // What the server accepted over the last second, in
                    // requests in flight at the baseline latency.
                    let accepted = s.accepted(now) as f64;
                    let bdp = accepted * baseline.as_secs_f64() / ACCEPTED_SPAN.as_secs_f64();
                    // Rounded: a cap of 5.97 in flight is 6, not 5.
                    let to = if accepted > 0.0 {
                        bdp.round().min(s.limit)
                    } else {
                        s.limit / 2.0
                    };
                    s.limit = to.max(self.min as f64);
                    s.ceiling = Some((s.limit, now));
                } else {
                    s.limit = (s.limit / 2.0).max(self.min as f64);
                }
                s.last_decrease = Some(now);
                tracing::debug!(from = before, to = s.limit, throttled, rtt = ?rtt, "adaptive concurrency: backing off");
            }
        } else {
            let ceiling = match s.ceiling {
                Some((at, since)) if now.saturating_sub(since) < RELEARN => at,
                _ => {
                    s.ceiling = None;
                    self.max as f64
                }
            };
            let grown = (s.limit + 1.0 / s.limit.max(1.0)).min(self.max as f64);
            s.limit = grown.min(ceiling.max(s.limit));
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
