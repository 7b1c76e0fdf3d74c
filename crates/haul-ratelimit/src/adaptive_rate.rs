//! [`AdaptiveRate`]: a client-side rate learned from throttling responses (CUBIC).

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use haul_core::Response;

use crate::{Permit, RateLimitHeaders, RateLimiter};

/// The most grant times kept for measuring the sent rate: beyond this many
/// requests per measuring window the measured rate saturates.
const MAX_SAMPLES: usize = 100_000;

/// Paces requests to a rate learned from the server's throttling responses,
/// for APIs that advertise no budget and only answer `429` (with or without
/// `Retry-After`) once the client is already over — in the spirit of the AWS
/// SDKs' adaptive retry mode, with CUBIC congestion control:
///
/// - it starts unlimited (or at the configured [`ceiling`](Self::ceiling))
///   and measures the rate it actually sends: the requests granted in the
///   last [`measure_window`](Self::measure_window) (1 s by default), minus
///   those the server refused;
/// - on a throttling response (the extractor calls
///   [`RateLimiter::throttled`] when its classifier says so: 429, 503 with
///   `Retry-After`, GitHub's 403 with `Remaining: 0`) it cuts the rate to
///   β × the lower of the measured and the current rate (β = 0.7 by default).
///   The measured rate is the last rate the server accepted, `W`;
/// - then the rate grows back along a cubic curve, fast at first and
///   flattening as it nears `W`, which it reaches after
///   `K = ∛(W·(1 − β) / C)` seconds (`C` = [`scale`](Self::scale));
/// - it holds at `W` for [`probe_after`](Self::probe_after) (10 s by default),
///   then probes gently past it along a second, flatter cubic
///   ([`probe_scale`](Self::probe_scale)), so a raised limit is found again.
///
/// Requests are spaced evenly at the current rate (no bursts: a sliding-window
/// server counts a burst against the next second too). The rate never goes
/// below the [`floor`](Self::floor) nor above the ceiling; without a throttle
/// it never decreases.
///
/// Throttling responses whose rate-limit headers explain them (a `Remaining`
/// of 0) are left to [`HeaderAdaptive`](crate::HeaderAdaptive): when the
/// server advertises its budget, the headers win. Compose the two with
/// [`AllOf`](crate::AllOf) (and a concurrency cap if you want one); one
/// `AdaptiveRate` in an `Arc` can be shared by many streams of one API.
/// Responses to requests sent before the last cut do not cut again: they
/// tell of the old rate.
///
/// [`state`](Self::state) exposes the current rate and the last cut, for a
/// progress display or a run report.
///
/// It is not part of the default limiter: against a server that answers the
/// odd `429` for reasons other than the client's pace (1.25 % of requests,
/// no rate limit), each cut measures the second just spent waiting out the
/// `Retry-After` and lands near one request per second — 300 pages took
/// about 54 s instead of 19 s with 20 ms latency. Add it where the server
/// throttles by rate and says nothing.
///
/// ```
/// use haul_ratelimit::{AdaptiveRate, Permit, RateLimiter};
/// use haul_core::Response;
/// use std::time::{Duration, SystemTime};
///
/// let limiter = AdaptiveRate::new();
/// let ms = Duration::from_millis;
/// // Unlimited until the server objects: 21 requests in 200 ms...
/// for i in 0..21 {
///     assert_eq!(limiter.try_acquire(ms(10 * i)), Permit::Granted);
/// }
/// // ...and the 21st is refused.
/// let refused = Response::new(
///     http::StatusCode::TOO_MANY_REQUESTS,
///     "https://api.example.com/".parse()?,
///     "",
/// );
/// limiter.throttled(&refused, ms(200), SystemTime::now());
/// // The server accepted 20 in the last second: the rate is cut to 0.7 × 20.
/// let state = limiter.state();
/// assert!((state.rate.unwrap_or(0.0) - 14.0).abs() < 1e-9);
/// assert!((state.last_cut.map_or(0.0, |c| c.accepted) - 20.0).abs() < 1e-9);
/// assert!(matches!(limiter.try_acquire(ms(201)), Permit::Wait(_)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct AdaptiveRate {
    beta: f64,
    scale: f64,
    probe_scale: f64,
    probe_after: Duration,
    floor: f64,
    ceiling: Option<f64>,
    window: Duration,
    state: Mutex<State>,
}

/// One cut of the rate, after a throttling response.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateCut {
    /// When (the limiter's monotonic time).
    pub at: Duration,
    /// The rate before the cut (requests per second; `None`: unlimited).
    pub from: Option<f64>,
    /// The rate right after the cut.
    pub to: f64,
    /// The rate the server last accepted, which the rate grows back to
    /// (the measured rate, capped by the rate before the cut).
    pub accepted: f64,
}

/// What an [`AdaptiveRate`] has learned so far.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct AdaptiveRateState {
    /// The rate (requests per second) as of the last permit asked for;
    /// `None` while unlimited.
    pub rate: Option<f64>,
    /// The most recent cut.
    pub last_cut: Option<RateCut>,
    /// Throttling responses seen (those the headers explain excluded).
    pub throttles: u64,
    /// Cuts made (a throttle for a request sent before the last cut makes none).
    pub cuts: u64,
}

#[derive(Debug, Default)]
struct State {
    cut: Option<RateCut>,
    /// The last grant, and the one before it (restored by `cancel`).
    last_grant: Option<Duration>,
    prev_grant: Option<Duration>,
    /// Grant times within the measuring window, oldest first.
    sent: VecDeque<Duration>,
    /// Send times of refused requests within the measuring window.
    refused: VecDeque<Duration>,
    /// The rate as of the last `try_acquire`.
    rate: Option<f64>,
    throttles: u64,
    cuts: u64,
}

impl AdaptiveRate {
    /// Unlimited until the first throttle; β 0.7, C 0.4 (as the AWS SDKs),
    /// a hold of 10 s at the last accepted rate before probing past it with
    /// C = 0.1, a floor of 0.5 requests/s, no ceiling, a 1 s measuring window.
    pub fn new() -> Self {
        Self {
            beta: 0.7,
            scale: 0.4,
            probe_scale: 0.1,
            probe_after: Duration::from_secs(10),
            floor: 0.5,
            ceiling: None,
            window: Duration::from_secs(1),
            state: Mutex::default(),
        }
    }

    /// The factor a throttle multiplies the rate by (clamped to 0.1–0.99; default 0.7).
    pub fn beta(mut self, beta: f64) -> Self {
        if beta.is_finite() {
            self.beta = beta.clamp(0.1, 0.99);
        }
        self
    }

    /// How fast the rate grows back to the last accepted rate: `C` in
    /// requests/s per s³ (default 0.4; at least 0.001).
    pub fn scale(mut self, c: f64) -> Self {
        if c.is_finite() {
            self.scale = c.max(0.001);
        }
        self
    }

    /// How fast the rate probes past the last accepted rate once the hold is
    /// over, in requests/s per s³ (default 0.1; at least 0.000 1).
    pub fn probe_scale(mut self, c: f64) -> Self {
        if c.is_finite() {
            self.probe_scale = c.max(0.000_1);
        }
        self
    }

    /// How long the rate holds at the last accepted rate before probing past
    /// it (default 10 s). Every probe costs a throttling response when the
    /// server's limit has not moved, so this sets how often that happens.
    pub fn probe_after(mut self, hold: Duration) -> Self {
        self.probe_after = hold;
        self
    }

    /// The lowest rate, in requests per second (default 0.5; at least 0.001).
    pub fn floor(mut self, rate: f64) -> Self {
        if rate.is_finite() {
            self.floor = rate.max(0.001);
            if let Some(ceiling) = self.ceiling.as_mut() {
                *ceiling = ceiling.max(self.floor);
            }
        }
        self
    }

    /// The highest rate, in requests per second: paced from the first request
    /// (default: none, unlimited until the first throttle).
    pub fn ceiling(mut self, rate: f64) -> Self {
        if !rate.is_nan() {
            self.ceiling = rate.is_finite().then_some(rate.max(self.floor));
        }
        self
    }

    /// The window the sent rate is measured over (default 1 s; at least 1 ms).
    pub fn measure_window(mut self, window: Duration) -> Self {
        self.window = window.max(Duration::from_millis(1));
        self
    }

    /// What the limiter has learned: the current rate and the last cut.
    pub fn state(&self) -> AdaptiveRateState {
        let s = self.lock();
        AdaptiveRateState {
            rate: s.rate,
            last_cut: s.cut,
            throttles: s.throttles,
            cuts: s.cuts,
        }
    }

    /// The rate at `now` (requests per second), `None` while unlimited.
    pub fn rate_at(&self, now: Duration) -> Option<f64> {
        let s = self.lock();
        self.rate(&s, now)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Plain numbers behind the lock; never left half-updated.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The rate at `now`, clamped to `[floor, ceiling]`; `None` is unlimited.
    fn rate(&self, s: &State, now: Duration) -> Option<f64> {
        let Some(cut) = s.cut else {
            return self.ceiling;
        };
        let target = cut.accepted.max(cut.to);
        // The concave part starts at the cut and reaches `target` after k seconds.
        let k = ((target - cut.to) / self.scale).cbrt();
        let dt = now.saturating_sub(cut.at).as_secs_f64();
        let hold = self.probe_after.as_secs_f64();
        let rate = if dt < k {
            target - self.scale * (k - dt).powi(3)
        } else if dt < k + hold {
            target
        } else {
            target + self.probe_scale * (dt - k - hold).powi(3)
        };
        // `rate` is finite and at least `cut.to` >= floor (`target` >= `cut.to`).
        let rate = rate.max(cut.to).max(self.floor);
        Some(self.ceiling.map_or(rate, |c| rate.min(c)))
    }

    /// Drops samples older than the measuring window.
    fn prune(&self, s: &mut State, now: Duration) {
        let Some(start) = now.checked_sub(self.window) else {
            return;
        };
        while s.sent.front().is_some_and(|t| *t <= start) {
            s.sent.pop_front();
        }
        while s.refused.front().is_some_and(|t| *t <= start) {
            s.refused.pop_front();
        }
    }
}

impl Default for AdaptiveRate {
    fn default() -> Self {
        Self::new()
    }
}

/// The spacing between requests at `rate` per second (`None`: no spacing).
fn interval(rate: f64) -> Option<Duration> {
    // A rate beyond a billion per second is as good as unlimited.
    (rate < 1e9)
        .then(|| Duration::try_from_secs_f64(1.0 / rate).ok())
        .flatten()
}

impl RateLimiter for AdaptiveRate {
    fn try_acquire(&self, now: Duration) -> Permit {
        let mut s = self.lock();
        let rate = self.rate(&s, now);
        s.rate = rate;
        if let (Some(rate), Some(last)) = (rate, s.last_grant)
            && let Some(spacing) = interval(rate)
        {
            let next = last.saturating_add(spacing);
            if now < next {
                return Permit::Wait(next - now);
            }
        }
        self.prune(&mut s, now);
        if s.sent.len() < MAX_SAMPLES {
            s.sent.push_back(now);
        }
        s.prev_grant = s.last_grant;
        s.last_grant = Some(now);
        Permit::Granted
    }

    fn throttled(&self, response: &Response, now: Duration, wall: SystemTime) {
        if RateLimitHeaders::parse(response, wall).remaining == Some(0) {
            // The advertised budget is spent: HeaderAdaptive waits for its reset.
            return;
        }
        let mut s = self.lock();
        s.throttles += 1;
        let sent_at = now.saturating_sub(response.elapsed);
        self.prune(&mut s, now);
        if s.refused.len() < MAX_SAMPLES {
            s.refused.push_back(sent_at);
        }
        if s.cut.is_some_and(|cut| sent_at < cut.at) {
            // Sent before the last cut: it tells of the old rate.
            return;
        }
        let refused = s.refused.len().min(s.sent.len());
        let measured = (s.sent.len() - refused) as f64 / self.window.as_secs_f64();
        let from = self.rate(&s, now);
        let accepted = from.map_or(measured, |r| r.min(measured));
        let to = (accepted * self.beta).max(self.floor);
        // A cut lowers the rate (unless it is at the floor already).
        let to = from.map_or(to, |r| to.min(r));
        let cut = RateCut {
            at: now,
            from,
            to,
            accepted: accepted.max(to),
        };
        tracing::info!(
            from = ?from,
            to = cut.to,
            accepted = cut.accepted,
            "adaptive rate: throttled by the server, cutting the rate"
        );
        s.cut = Some(cut);
        s.rate = Some(to);
        s.cuts += 1;
    }

    fn cancel(&self, _now: Duration) {
        let mut s = self.lock();
        if s.last_grant.is_some() {
            s.last_grant = s.prev_grant.take();
            s.sent.pop_back();
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn refused(elapsed: Duration) -> Response {
        let mut r = Response::new(
            http::StatusCode::TOO_MANY_REQUESTS,
            "https://api.example.com/".parse().unwrap(),
            "",
        );
        r.elapsed = elapsed;
        r
    }

    const WALL: SystemTime = SystemTime::UNIX_EPOCH;

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    /// A limiter cut at t = 5 s from an accepted rate of 10/s (as the AWS
    /// SDKs' golden tests start), without a hold before probing.
    fn cut_at_five_from_ten(hold: Duration) -> AdaptiveRate {
        let limiter = AdaptiveRate::new().probe_after(hold);
        // Ten requests in the second before t = 5, plus the refused one.
        for i in 0..11 {
            let _ = limiter.try_acquire(secs(4.05 + 0.09 * f64::from(i)));
        }
        limiter.throttled(&refused(Duration::ZERO), secs(5.0), WALL);
        limiter
    }

    #[test]
    fn the_cut_is_beta_times_the_accepted_rate() {
        let limiter = cut_at_five_from_ten(Duration::ZERO);
        let cut = limiter.state().last_cut.unwrap();
        assert_eq!(cut.from, None);
        assert!((cut.accepted - 10.0).abs() < 1e-9, "{cut:?}");
        assert!((cut.to - 7.0).abs() < 1e-9, "{cut:?}");
    }

    #[test]
    fn growth_follows_the_cubic_curve_back_to_the_accepted_rate() {
        // W = 10, β = 0.7, C = 0.4: K = ∛(10 · 0.3 / 0.4) = ∛7.5 ≈ 1.957 s,
        // the constants of the AWS SDKs' adaptive mode (their golden values
        // at 1 s and 2 s after the throttle are 9.64893600966 and
        // 10.000030849917364, the latter already past K on their curve).
        let limiter = cut_at_five_from_ten(Duration::ZERO);
        let rate = |t: f64| limiter.rate_at(secs(t)).unwrap();
        assert!((rate(5.0) - 7.0).abs() < 1e-9);
        assert!((rate(6.0) - 9.648_936_009_66).abs() < 1e-6, "{}", rate(6.0));
        let k = 7.5f64.cbrt();
        assert!((rate(5.0 + k) - 10.0).abs() < 1e-9);
        // Past K it probes, more gently than it came back (C = 0.1).
        assert!(
            (rate(5.0 + k + 2.0) - 10.8).abs() < 1e-6,
            "{}",
            rate(5.0 + k + 2.0)
        );
    }

    #[test]
    fn it_holds_at_the_accepted_rate_before_probing() {
        let limiter = cut_at_five_from_ten(Duration::from_secs(10));
        let k = 7.5f64.cbrt();
        for t in [k, k + 1.0, k + 5.0, k + 9.999] {
            assert!((limiter.rate_at(secs(5.0 + t)).unwrap() - 10.0).abs() < 1e-9);
        }
        assert!(limiter.rate_at(secs(5.0 + k + 11.0)).unwrap() > 10.0);
    }

    #[test]
    fn requests_are_spaced_evenly_at_the_rate() {
        let limiter = AdaptiveRate::new().ceiling(4.0);
        assert_eq!(limiter.try_acquire(Duration::ZERO), Permit::Granted);
        assert_eq!(
            limiter.try_acquire(Duration::ZERO),
            Permit::Wait(Duration::from_millis(250))
        );
        assert_eq!(
            limiter.try_acquire(Duration::from_millis(250)),
            Permit::Granted
        );
    }

    #[test]
    fn a_response_to_a_request_sent_before_the_cut_does_not_cut_again() {
        let limiter = cut_at_five_from_ten(Duration::ZERO);
        // Sent at 4.9 s, answered at 5.1 s: before the cut at 5 s.
        limiter.throttled(&refused(secs(0.2)), secs(5.1), WALL);
        let state = limiter.state();
        assert_eq!((state.throttles, state.cuts), (2, 1));
        // Sent after the cut: it cuts.
        limiter.throttled(&refused(Duration::ZERO), secs(5.2), WALL);
        assert_eq!(limiter.state().cuts, 2);
    }

    #[test]
    fn a_throttle_the_headers_explain_is_left_to_them() {
        let limiter = AdaptiveRate::new();
        let _ = limiter.try_acquire(Duration::ZERO);
        let exhausted = refused(Duration::ZERO)
            .with_header("x-ratelimit-remaining", "0")
            .with_header("x-ratelimit-reset", "30");
        limiter.throttled(&exhausted, Duration::ZERO, WALL);
        assert_eq!(limiter.state(), AdaptiveRateState::default());
        // A throttle the headers do not explain (a secondary limit) is learned from.
        let secondary = refused(Duration::ZERO).with_header("x-ratelimit-remaining", "4000");
        limiter.throttled(&secondary, Duration::ZERO, WALL);
        assert_eq!(limiter.state().cuts, 1);
    }

    #[test]
    fn cancel_gives_the_slot_back() {
        let limiter = AdaptiveRate::new().ceiling(1.0);
        assert_eq!(limiter.try_acquire(Duration::ZERO), Permit::Granted);
        limiter.cancel(Duration::ZERO);
        assert_eq!(limiter.try_acquire(Duration::ZERO), Permit::Granted);
    }
}
