//! [`HeaderAdaptive`]: a limiter that learns the server's budget from its headers.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use haul_core::Response;

use crate::{Permit, RateLimiter};

/// Values above this are epoch seconds, below it delta seconds (2001-09-09 as epoch).
const EPOCH_THRESHOLD: u64 = 1_000_000_000;

/// Learns the rate-limit budget from every response and paces to it:
///
/// - `X-RateLimit-Limit` / `-Remaining` / `-Reset` (Reset as epoch seconds or
///   delta seconds: values above 10⁹ are epochs), the older IETF draft's
///   `RateLimit-Limit` / `-Remaining` / `-Reset`, and the newer
///   `RateLimit-Policy: "p";q=100;w=60` with `RateLimit: "p";r=50;t=30`;
/// - `Retry-After` on 429 and 503 (seconds or HTTP-date).
///
/// When the remaining budget reaches zero, nothing is granted before the reset.
/// When it runs low (at or below the low-water mark, default 10 % of the limit),
/// the remaining requests are spread evenly over the rest of the window rather
/// than spent in a burst. Grants are counted against the remaining budget as
/// they happen, so concurrent streams sharing one limiter cannot overspend it
/// while their responses are still in flight. The budget left is recomputed
/// at every response as the limit less the highest count the window's
/// responses gave less every request still in flight: a request in flight
/// when a higher count came back is held against the budget only until its
/// own answer shows the server had already counted it (taking the lowest
/// estimate ever seen instead would hold those requests against the budget
/// twice, and leave part of every window unused).
///
/// Servers round the reset up to whole seconds (a 1 s window always says
/// "1"), so one response only bounds it: the window ends at or before the
/// response's arrival plus its reset. The limiter keeps the tightest bound
/// any response of the current window gave — in practice the first, sent
/// just after the window opened — and waits for that, plus a
/// [`reset_margin`](Self::reset_margin), rather than for the last response's
/// reset (up to a whole window late). Responses to requests sent before the
/// current window was opened speak of an earlier one and do not tighten it.
/// An epoch reset is rounded in wall-clock seconds, the same for every
/// response of a window; the response to the request that opened the window
/// (`Remaining` one below the limit) bounds it by the window's length, learned
/// as the shortest reset such responses announced.
///
/// ```
/// use haul_ratelimit::{HeaderAdaptive, Permit, RateLimiter};
/// use haul_core::Response;
/// use std::time::{Duration, SystemTime};
///
/// let limiter = HeaderAdaptive::new().reset_margin(Duration::ZERO);
/// let resp = Response::new(http::StatusCode::OK, "https://api.example.com/".parse()?, "")
///     .with_header("x-ratelimit-limit", "60")
///     .with_header("x-ratelimit-remaining", "0")
///     .with_header("x-ratelimit-reset", "30");
/// limiter.observe(&resp, Duration::ZERO, SystemTime::now());
/// assert_eq!(limiter.try_acquire(Duration::from_secs(10)), Permit::Wait(Duration::from_secs(20)));
/// assert_eq!(limiter.try_acquire(Duration::from_secs(30)), Permit::Granted);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct HeaderAdaptive {
    low_water: f64,
    /// A fixed margin, or `None`: 1 % of the window, within [1 ms, 100 ms].
    margin: Option<Duration>,
    state: Mutex<State>,
}

/// How far a reset the server rounds to whole seconds may lie past the true one.
const ROUNDING: Duration = Duration::from_secs(1);

/// Allowance for the time a response spends on its way back.
const SLACK: Duration = Duration::from_millis(500);

#[derive(Debug, Default)]
struct State {
    limit: Option<u64>,
    /// Budget left in the current window (decremented on every grant).
    remaining: Option<u64>,
    /// Monotonic time at or before which the window resets: the tightest
    /// bound the responses of the current window gave.
    reset_at: Option<Duration>,
    /// When the limiter last moved past a reset into a new window: a
    /// response to a request sent before then speaks of an earlier window.
    opened_at: Option<Duration>,
    /// The longest reset seen: about the window's length (for the margin).
    window: Option<Duration>,
    /// The shortest reset announced to a request that opened a window (the
    /// server counted it first): at least the window's length, and close to
    /// it once windows have opened at several phases of the wall clock.
    length: Option<Duration>,
    /// Requests in flight when the current window was opened, counted down
    /// by completions: while it is not zero, a completing request may be
    /// one sent before the opening.
    stale_in_flight: u64,
    /// The request completed last was among those counted down.
    released_stale: bool,
    /// A response said its request opened the window tracked, and gave its bound.
    anchored: bool,
    /// No grants before this (Retry-After, or an exhausted budget).
    blocked_until: Option<Duration>,
    /// Earliest next grant when spreading a low budget.
    next_spread: Option<Duration>,
    /// Granted permits whose requests have not completed: a response's
    /// `Remaining` may not count them yet.
    in_flight: u64,
    /// The highest count (`limit - Remaining`) a response of the window
    /// tracked gave. The server counts requests as they arrive, so a
    /// response counting no more than this was already in it: the budget
    /// left is at most `limit - counted - in_flight`, recomputed at every
    /// response, so a request that was in flight when a higher count came
    /// back is no longer held against the budget once its own answer shows
    /// the server had counted it.
    counted: u64,
    /// Requests completed since the window tracked opened whose response
    /// was not observed (a transport error): the server may have counted
    /// them without any response saying so.
    unobserved: u64,
}

/// What one response said about the budget.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitHeaders {
    /// Requests allowed per window.
    pub limit: Option<u64>,
    /// Requests left in this window.
    pub remaining: Option<u64>,
    /// Time until the window resets.
    pub reset_in: Option<Duration>,
    /// `Retry-After` on a 429/503.
    pub retry_after: Option<Duration>,
}

impl RateLimitHeaders {
    /// Parses the rate-limit headers of `response`; `wall` resolves epoch resets and HTTP-dates.
    pub fn parse(response: &Response, wall: SystemTime) -> Self {
        let num = |name: &str| {
            response
                .header(name)
                .and_then(|v| v.trim().parse::<f64>().ok())
                .filter(|v| v.is_finite() && *v >= 0.0)
        };
        let mut out = Self {
            limit: num("x-ratelimit-limit")
                .or_else(|| num("ratelimit-limit"))
                .map(|v| v as u64),
            remaining: num("x-ratelimit-remaining")
                .or_else(|| num("ratelimit-remaining"))
                .map(|v| v as u64),
            reset_in: None,
            retry_after: None,
        };
        if let Some(reset) = num("x-ratelimit-reset") {
            out.reset_in = Some(reset_delta(reset, wall));
        } else if let Some(reset) = num("ratelimit-reset") {
            out.reset_in = Some(reset_delta(reset, wall));
        }
        if let Some(policy) = response.header("ratelimit-policy")
            && let Some(q) = structured_param(policy, "q")
        {
            out.limit = out.limit.or(Some(q));
        }
        if let Some(current) = response.header("ratelimit") {
            if let Some(r) = structured_param(current, "r") {
                out.remaining = Some(r);
            }
            if let Some(t) = structured_param(current, "t") {
                out.reset_in = Some(Duration::from_secs(t.min(1_000_000_000)));
            }
        }
        if matches!(response.status.as_u16(), 429 | 503) {
            out.retry_after = response
                .header("retry-after")
                .and_then(|v| parse_retry_after(v, wall));
        }
        out
    }
}

fn reset_delta(value: f64, wall: SystemTime) -> Duration {
    if value > EPOCH_THRESHOLD as f64 {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs_f64(value.min(1e12));
        at.duration_since(wall).unwrap_or(Duration::ZERO)
    } else {
        Duration::from_secs_f64(value.min(1e9))
    }
}

/// Reads integer parameter `key` of the first item of an RFC 8941 list such as
/// `"default";r=50;t=30`.
fn structured_param(value: &str, key: &str) -> Option<u64> {
    let first = value.split(',').next()?;
    first.split(';').skip(1).find_map(|param| {
        let (k, v) = param.split_once('=')?;
        (k.trim().eq_ignore_ascii_case(key))
            .then(|| v.trim().trim_matches('"').parse::<u64>().ok())
            .flatten()
    })
}

fn parse_retry_after(value: &str, wall: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs.min(1_000_000_000)));
    }
    // Seconds with a fraction (Shopify's `2.0`), rounded up to the millisecond.
    if let Some((whole, fraction)) = value.split_once('.')
        && !whole.is_empty()
        && !fraction.is_empty()
        && whole
            .bytes()
            .chain(fraction.bytes())
            .all(|b| b.is_ascii_digit())
        && let Ok(secs) = value.parse::<f64>()
    {
        let millis = (secs.min(1e9) * 1000.0).ceil();
        return Some(Duration::from_millis(millis as u64));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(wall).unwrap_or(Duration::ZERO))
}

impl HeaderAdaptive {
    /// A limiter that knows nothing yet (it grants until the server says otherwise).
    pub fn new() -> Self {
        Self {
            low_water: 0.1,
            margin: None,
            state: Mutex::default(),
        }
    }

    /// Start spreading requests when the remaining budget is at or below this
    /// fraction of the limit (default 0.1).
    pub fn low_water(mut self, fraction: f64) -> Self {
        self.low_water = fraction.clamp(0.0, 1.0);
        self
    }

    /// Extra wait after a reset, against clock skew and a response's time
    /// on the way (default: 1 % of the window, at least 1 ms and at most
    /// 100 ms; 100 ms while the window is unknown). Second rounding needs no
    /// margin: the limiter keeps the tightest bound of the reset.
    pub fn reset_margin(mut self, margin: Duration) -> Self {
        self.margin = Some(margin);
        self
    }

    fn margin(&self, s: &State) -> Duration {
        self.margin.unwrap_or_else(|| {
            s.window.map_or(Duration::from_millis(100), |w| {
                (w / 100).clamp(Duration::from_millis(1), Duration::from_millis(100))
            })
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // Plain numbers behind the lock; never left half-updated.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Default for HeaderAdaptive {
    fn default() -> Self {
        Self::new()
    }
}

impl RateLimiter for HeaderAdaptive {
    fn try_acquire(&self, now: Duration) -> Permit {
        let mut s = self.state();
        if let Some(until) = s.blocked_until {
            if now < until {
                return Permit::Wait(until - now);
            }
            s.blocked_until = None;
        }
        let margin = self.margin(&s);
        if let Some(reset_at) = s.reset_at
            && now >= reset_at + margin
        {
            // A new window: the next response says the budget; until then
            // it is at most the limit.
            tracing::debug!(now = ?now, reset_at = ?reset_at, length = ?s.length, left = ?s.remaining,
                in_flight = s.in_flight, "header-adaptive: the window reset; a new one opens");
            // Requests still in flight may land in the new window.
            s.remaining = s.limit.map(|l| l.saturating_sub(s.in_flight));
            s.counted = 0;
            s.unobserved = 0;
            s.reset_at = None;
            s.next_spread = None;
            s.opened_at = Some(now);
            s.stale_in_flight = s.in_flight;
            s.anchored = false;
        }
        if let Some(at) = s.next_spread
            && now < at
        {
            return Permit::Wait(at - now);
        }
        match s.remaining {
            Some(0) => {
                let until = match s.reset_at {
                    // Not kept in `blocked_until`: a later response of this
                    // window may still tighten the bound.
                    Some(reset_at) => return Permit::Wait(reset_at + margin - now),
                    None => {
                        // No reset announced (Zendesk, Salesforce) and no
                        // response on its way to say more: wait a second,
                        // then let one request learn the budget again
                        // rather than block forever.
                        if s.in_flight == 0 {
                            s.remaining = None;
                        }
                        now + Duration::from_secs(1)
                    }
                };
                s.blocked_until = Some(until);
                Permit::Wait(until.saturating_sub(now).max(Duration::from_millis(1)))
            }
            Some(left) => {
                s.remaining = Some(left - 1);
                s.in_flight += 1;
                let low = s
                    .limit
                    .map_or(0.0, |l| (l as f64 * self.low_water).max(1.0));
                if (left as f64) <= low
                    && let Some(reset_at) = s.reset_at
                {
                    let rest = (reset_at + margin).saturating_sub(now);
                    s.next_spread =
                        Some(now + rest / u32::try_from(left).unwrap_or(u32::MAX).max(1));
                }
                Permit::Granted
            }
            None => {
                s.in_flight += 1;
                Permit::Granted
            }
        }
    }

    fn observe(&self, response: &Response, now: Duration, wall: SystemTime) {
        let h = RateLimitHeaders::parse(response, wall);
        let mut s = self.state();
        // The extractor releases a request's permit just before observing its response.
        let released_stale = std::mem::take(&mut s.released_stale);
        s.unobserved = s.unobserved.saturating_sub(1);
        if let Some(limit) = h.limit {
            s.limit = Some(limit);
        }
        // Requests still in flight may not be in the server's count yet.
        let remaining = h.remaining.map(|r| r.saturating_sub(s.in_flight));
        let counted = s
            .limit
            .zip(h.remaining)
            .map(|(limit, left)| limit.saturating_sub(left));
        let sent_at = now.saturating_sub(response.elapsed);
        if let Some(reset_in) = h.reset_in {
            s.window = Some(s.window.map_or(reset_in, |w| w.max(reset_in)));
            let bound = now + reset_in;
            // Sent before the opening, by the transport's clock; checked
            // only while requests of the old window may still complete.
            let sent_before_opening =
                released_stale && s.opened_at.is_some_and(|opened| sent_at < opened);
            let earlier_window =
                sent_before_opening || s.reset_at.is_some_and(|old| bound + ROUNDING + SLACK < old);
            if earlier_window {
                tracing::trace!(now = ?now, sent_at = ?sent_at, header_remaining = ?h.remaining, reset_in = ?reset_in,
                    "header-adaptive: observed a response of an earlier window");
                // A late response from an earlier window (sent before this
                // one was opened, or a reset earlier than rounding explains):
                // its count says nothing about the current window, but an
                // exhausted budget is still honored until its reset.
                if h.remaining == Some(0) {
                    let until = bound + self.margin(&s);
                    s.blocked_until = Some(s.blocked_until.map_or(until, |b| b.max(until)));
                }
            } else {
                // The request that opened the server's window (its count is
                // 1) ends it exactly one window length later, and the window
                // length is at most the shortest reset such a response gave:
                // a bound that epoch resets, rounded to whole seconds of the
                // wall clock, cannot give.
                let opened_it = s.limit.is_some_and(|l| l > 0 && h.remaining == Some(l - 1));
                let bound = if opened_it {
                    let length = s.length.map_or(reset_in, |l| l.min(reset_in));
                    s.length = Some(length);
                    bound.min(now + length)
                } else {
                    bound
                };
                // Moved: even rounded down, this reset lies at or past the
                // bound kept (the two cannot be the same window's).
                let earliest = (sent_at + reset_in).saturating_sub(ROUNDING);
                let moved = s.reset_at.is_none_or(|old| earliest >= old);
                if moved {
                    // The first response of a window, or a reset later than
                    // rounding explains (the server moved its window): take
                    // its bound and count.
                    s.reset_at = Some(bound);
                    if let Some(remaining) = remaining {
                        s.remaining = Some(remaining);
                        s.counted = counted.unwrap_or(0);
                        s.unobserved = 0;
                    }
                } else {
                    // The same window, or one that rolled over unseen. The
                    // opener's bound is the window's (when another opener
                    // came first, the server's window rolled over before the
                    // bound kept, which was the old window's); else keep the
                    // tightest bound, unless an opener already gave it. The
                    // count is the lower (responses arrive out of order),
                    // except after a second opener.
                    let rolled = opened_it && s.anchored;
                    if opened_it {
                        s.reset_at = Some(bound);
                        s.next_spread = None;
                    } else if !s.anchored {
                        s.reset_at = s.reset_at.map(|old| old.min(bound));
                    }
                    if let Some(remaining) = remaining {
                        // A second opener: the server counts a new window,
                        // whose count replaces the old one's. Otherwise the
                        // highest count of the window, less every request
                        // still in flight (each may or may not be in it).
                        s.remaining = Some(match (s.remaining, counted, s.limit) {
                            (Some(_), Some(c), Some(limit)) if !rolled => {
                                s.counted = s.counted.max(c);
                                limit
                                    .saturating_sub(s.counted)
                                    .saturating_sub(s.in_flight + s.unobserved)
                            }
                            (Some(local), _, _) if !rolled => local.min(remaining),
                            _ => {
                                s.counted = counted.unwrap_or(0);
                                s.unobserved = 0;
                                remaining
                            }
                        });
                    }
                }
                s.anchored = opened_it || (s.anchored && !moved);
                tracing::trace!(now = ?now, sent_at = ?sent_at, header_remaining = ?h.remaining, reset_in = ?reset_in,
                    opened_it, moved, remaining = ?s.remaining, reset_at = ?s.reset_at, in_flight = s.in_flight,
                    "header-adaptive: observed");
            }
        } else if let Some(remaining) = remaining {
            s.remaining = Some(s.remaining.map_or(remaining, |l| l.min(remaining)));
        }
        if let Some(wait) = h.retry_after {
            let until = now + wait;
            s.blocked_until = Some(s.blocked_until.map_or(until, |b| b.max(until)));
        }
    }

    fn cancel(&self, _now: Duration) {
        let mut s = self.state();
        if let Some(left) = s.remaining.as_mut() {
            *left += 1;
        }
        s.in_flight = s.in_flight.saturating_sub(1);
    }

    fn release(&self) {
        let mut s = self.state();
        s.in_flight = s.in_flight.saturating_sub(1);
        s.unobserved += 1;
        s.released_stale = s.stale_in_flight > 0;
        s.stale_in_flight = s.stale_in_flight.saturating_sub(1);
    }

    fn server_pause(&self, now: Duration) -> Option<Duration> {
        let s = self.state();
        // The budget is spent until the reset (the tightest bound kept,
        // plus the margin), exactly as `try_acquire` waits for it.
        let exhausted = match (s.remaining, s.reset_at) {
            (Some(0), Some(reset_at)) => Some(reset_at + self.margin(&s)),
            _ => None,
        };
        s.blocked_until
            .max(exhausted)
            .filter(|until| *until > now)
            .map(|until| until - now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(headers: &[(&'static str, &str)]) -> Response {
        let mut r = Response::new(
            http::StatusCode::OK,
            "https://api.example.com/".parse().unwrap(),
            "",
        );
        for (k, v) in headers {
            r = r.with_header(k, v);
        }
        r
    }

    #[test]
    fn the_server_pause_is_the_wait_try_acquire_honours() {
        let limiter = HeaderAdaptive::new().reset_margin(Duration::from_millis(5));
        assert_eq!(limiter.server_pause(Duration::ZERO), None);
        // The first response of a window bounds its reset tightly (0.4 s);
        // the last one, rounded up, says a whole second.
        assert_eq!(limiter.try_acquire(Duration::ZERO), Permit::Granted);
        limiter.release();
        let first = [
            ("x-ratelimit-limit", "2"),
            ("x-ratelimit-remaining", "1"),
            ("x-ratelimit-reset", "0.4"),
        ];
        limiter.observe(&resp(&first), Duration::ZERO, SystemTime::now());
        assert_eq!(
            limiter.try_acquire(Duration::from_millis(100)),
            Permit::Granted
        );
        limiter.release();
        let last = [
            ("x-ratelimit-limit", "2"),
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", "1"),
        ];
        let now = Duration::from_millis(100);
        limiter.observe(&resp(&last), now, SystemTime::now());
        let pause = limiter.server_pause(now);
        assert_eq!(pause, Some(Duration::from_millis(305)));
        assert_eq!(
            limiter.try_acquire(now),
            Permit::Wait(Duration::from_millis(305))
        );
        // Taking nothing: asking again says the same, and past the reset nothing.
        assert_eq!(limiter.server_pause(now), pause);
        assert_eq!(limiter.server_pause(Duration::from_millis(405)), None);
        // A Retry-After blocks as long as it says.
        let mut throttled = resp(&[("retry-after", "3")]);
        throttled.status = http::StatusCode::TOO_MANY_REQUESTS;
        limiter.observe(&throttled, Duration::from_secs(1), SystemTime::now());
        assert_eq!(
            limiter.server_pause(Duration::from_secs(1)),
            Some(Duration::from_secs(3))
        );
    }

    #[test]
    fn an_exhausted_budget_without_a_reset_is_probed_after_a_second() {
        let limiter = HeaderAdaptive::new();
        assert_eq!(limiter.try_acquire(Duration::ZERO), Permit::Granted);
        limiter.observe(
            &resp(&[("x-ratelimit-remaining", "0")]),
            Duration::ZERO,
            SystemTime::now(),
        );
        limiter.release();
        assert_eq!(
            limiter.try_acquire(Duration::ZERO),
            Permit::Wait(Duration::from_secs(1))
        );
        // Not forever: after the wait, one request may learn the budget.
        assert_eq!(limiter.try_acquire(Duration::from_secs(1)), Permit::Granted);
    }

    #[test]
    fn a_fractional_retry_after_is_honoured_in_full() {
        let mut r = resp(&[("retry-after", "2.0")]);
        r.status = http::StatusCode::TOO_MANY_REQUESTS;
        let h = RateLimitHeaders::parse(&r, SystemTime::now());
        assert_eq!(h.retry_after, Some(Duration::from_secs(2)));
        let mut r = resp(&[("retry-after", "0.25")]);
        r.status = http::StatusCode::TOO_MANY_REQUESTS;
        let h = RateLimitHeaders::parse(&r, SystemTime::now());
        assert_eq!(h.retry_after, Some(Duration::from_millis(250)));
    }

    #[test]
    fn epoch_and_delta_resets_are_told_apart() {
        let wall = SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600);
        let epoch = resp(&[("x-ratelimit-reset", "1767225660")]);
        assert_eq!(
            RateLimitHeaders::parse(&epoch, wall).reset_in,
            Some(Duration::from_secs(60))
        );
        let delta = resp(&[("x-ratelimit-reset", "60")]);
        assert_eq!(
            RateLimitHeaders::parse(&delta, wall).reset_in,
            Some(Duration::from_secs(60))
        );
    }

    #[test]
    fn ietf_structured_headers() {
        let r = resp(&[
            ("ratelimit-policy", "\"default\";q=100;w=60"),
            ("ratelimit", "\"default\";r=50;t=30"),
        ]);
        let h = RateLimitHeaders::parse(&r, SystemTime::now());
        assert_eq!(h.limit, Some(100));
        assert_eq!(h.remaining, Some(50));
        assert_eq!(h.reset_in, Some(Duration::from_secs(30)));
    }

    #[test]
    fn a_request_the_server_already_counted_is_not_held_against_the_budget_twice() {
        let limiter = HeaderAdaptive::new().low_water(0.0);
        let t = Duration::ZERO;
        for _ in 0..3 {
            assert_eq!(limiter.try_acquire(t), Permit::Granted);
        }
        // The three arrived in the reverse order of their answers: the first
        // answer counts all three (7 left of 10), then 2, then 1.
        let answer = |left: &str| {
            limiter.release();
            limiter.observe(
                &resp(&[
                    ("x-ratelimit-limit", "10"),
                    ("x-ratelimit-remaining", left),
                    ("x-ratelimit-reset", "1"),
                ]),
                t,
                SystemTime::now(),
            );
        };
        answer("7");
        answer("8");
        answer("9");
        // 7 left, not 5 (7 less the two still in flight at the first answer).
        for _ in 0..7 {
            assert_eq!(limiter.try_acquire(t), Permit::Granted);
        }
        assert!(matches!(limiter.try_acquire(t), Permit::Wait(_)));
    }

    #[test]
    fn a_low_budget_is_spread_over_the_window() {
        let limiter = HeaderAdaptive::new().reset_margin(Duration::ZERO);
        limiter.observe(
            &resp(&[
                ("x-ratelimit-limit", "100"),
                ("x-ratelimit-remaining", "4"),
                ("x-ratelimit-reset", "8"),
            ]),
            Duration::ZERO,
            SystemTime::now(),
        );
        assert_eq!(limiter.try_acquire(Duration::ZERO), Permit::Granted);
        // 4 left over 8 s: the next request waits 2 s instead of going at once.
        assert_eq!(
            limiter.try_acquire(Duration::ZERO),
            Permit::Wait(Duration::from_secs(2))
        );
    }
}
