//! The server-side rate limit: a fixed window counted on tokio's clock, and
//! the headers that advertise it.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, HeaderName, HeaderValue};
use tokio::time::Instant;

/// A server-side limit of `limit` data requests per fixed `window`,
/// GitHub-style: a window opens with the first request after the previous
/// one closed.
///
/// Every data response (pages, errors and injected faults alike) carries
/// `X-RateLimit-Limit`, `X-RateLimit-Remaining` (after this request) and
/// `X-RateLimit-Reset` (when the window closes, rounded up to whole seconds,
/// so never early). A request beyond the limit is answered `429` with
/// `Retry-After` (delta-seconds, rounded up) and counted in
/// [`Stats::over_limit_429`](crate::Stats::over_limit_429). Every data
/// request counts, including those answered with an injected fault.
///
/// ```
/// use std::time::Duration;
/// use haul_testkit::{RateLimit, ResetStyle};
///
/// let limit = RateLimit::new(20, Duration::from_secs(1))
///     .reset_style(ResetStyle::DeltaSeconds)
///     .with_ietf_headers();
/// assert_eq!(limit.limit, 20);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests allowed per window.
    pub limit: u32,
    /// The window length (tokio time, so `tokio::time::pause()` drives it).
    pub window: Duration,
    /// How `X-RateLimit-Reset` is written.
    pub reset: ResetStyle,
    /// Also send the IETF draft headers
    /// `RateLimit-Policy: "default";q=<limit>;w=<window s>` and
    /// `RateLimit: "default";r=<remaining>;t=<reset s>`.
    pub ietf_headers: bool,
}

impl Default for RateLimit {
    /// 100 requests per second, epoch-seconds reset, no IETF headers.
    fn default() -> Self {
        RateLimit::new(100, Duration::from_secs(1))
    }
}

impl RateLimit {
    /// `limit` requests per `window`, with `X-RateLimit-Reset` in epoch
    /// seconds and no IETF headers.
    pub fn new(limit: u32, window: Duration) -> Self {
        RateLimit {
            limit,
            window,
            reset: ResetStyle::EpochSeconds,
            ietf_headers: false,
        }
    }

    /// Chooses how `X-RateLimit-Reset` is written.
    #[must_use]
    pub fn reset_style(mut self, reset: ResetStyle) -> Self {
        self.reset = reset;
        self
    }

    /// Also sends the IETF `RateLimit-Policy` and `RateLimit` headers.
    #[must_use]
    pub fn with_ietf_headers(mut self) -> Self {
        self.ietf_headers = true;
        self
    }
}

/// How `X-RateLimit-Reset` says when the window closes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ResetStyle {
    /// Unix epoch seconds (GitHub and many others).
    #[default]
    EpochSeconds,
    /// Seconds from now.
    DeltaSeconds,
    /// Seconds from now with millisecond precision (`0.437`, rounded up to
    /// the millisecond, so never early), as APIs with fractional resets send
    /// them (Discord's `X-RateLimit-Reset-After`). Reads as delta seconds.
    DeltaMillis,
}

/// The verdict on one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Admission {
    pub(crate) allowed: bool,
    pub(crate) remaining: u32,
    /// Time until the current window closes.
    pub(crate) reset_in: Duration,
}

/// The live window of a [`RateLimit`].
#[derive(Debug)]
pub(crate) struct RateWindow {
    config: RateLimit,
    state: Mutex<Option<(Instant, u32)>>,
}

impl RateWindow {
    pub(crate) fn new(config: RateLimit) -> Self {
        RateWindow {
            config,
            state: Mutex::new(None),
        }
    }

    /// The configured limit.
    pub(crate) fn config(&self) -> &RateLimit {
        &self.config
    }

    /// Counts one request arriving at `now`.
    pub(crate) fn admit(&self, now: Instant) -> Admission {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        // A window too long for `Instant` never closes.
        let end = |start: Instant| start.checked_add(self.config.window);
        let (start, count) = match *state {
            Some((start, count)) if end(start).is_none_or(|end| now < end) => (start, count),
            _ => (now, 0),
        };
        let count = count.saturating_add(1);
        *state = Some((start, count));
        Admission {
            allowed: count <= self.config.limit,
            remaining: self.config.limit.saturating_sub(count),
            reset_in: end(start)
                .map_or(self.config.window, |end| end.saturating_duration_since(now)),
        }
    }

    /// The advertising headers for `admission`, with `wall` as the current
    /// time for the epoch form.
    pub(crate) fn headers(&self, admission: Admission, wall: SystemTime, headers: &mut HeaderMap) {
        let reset_secs = ceil_secs(admission.reset_in);
        let reset = match self.config.reset {
            ResetStyle::DeltaMillis => {
                let millis = admission.reset_in.as_nanos().div_ceil(1_000_000);
                format!("{}.{:03}", millis / 1000, millis % 1000)
            }
            ResetStyle::DeltaSeconds => reset_secs.to_string(),
            ResetStyle::EpochSeconds => wall
                .checked_add(admission.reset_in)
                .and_then(|at| at.duration_since(UNIX_EPOCH).ok())
                .map_or(u64::MAX, ceil_secs)
                .to_string(),
        };
        let mut put = |name: &'static str, value: String| {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(HeaderName::from_static(name), value);
            }
        };
        put("x-ratelimit-limit", self.config.limit.to_string());
        put("x-ratelimit-remaining", admission.remaining.to_string());
        put("x-ratelimit-reset", reset);
        if self.config.ietf_headers {
            put(
                "ratelimit-policy",
                format!(
                    "\"default\";q={};w={}",
                    self.config.limit,
                    ceil_secs(self.config.window).max(1)
                ),
            );
            put(
                "ratelimit",
                format!("\"default\";r={};t={reset_secs}", admission.remaining),
            );
        }
    }
}

/// Whole seconds, rounded up.
pub(crate) fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn header<'h>(headers: &'h HeaderMap, name: &str) -> &'h str {
        headers[name].to_str().unwrap()
    }

    #[test]
    fn a_millisecond_reset_is_rounded_up_to_the_millisecond() {
        let limit = RateLimit::new(2, Duration::from_secs(1)).reset_style(ResetStyle::DeltaMillis);
        let window = RateWindow::new(limit);
        let t0 = Instant::now();
        window.admit(t0);
        let b = window.admit(t0 + Duration::from_micros(562_500));
        let mut headers = HeaderMap::new();
        window.headers(b, SystemTime::now(), &mut headers);
        assert_eq!(header(&headers, "x-ratelimit-reset"), "0.438");
        assert_eq!(header(&headers, "x-ratelimit-remaining"), "0");
    }

    #[test]
    fn counts_a_fixed_window_from_its_first_request() {
        let window = RateWindow::new(RateLimit::new(2, Duration::from_secs(10)));
        let t0 = Instant::now();
        let a = window.admit(t0);
        assert_eq!((a.allowed, a.remaining), (true, 1));
        assert_eq!(a.reset_in, Duration::from_secs(10));
        let b = window.admit(t0 + Duration::from_secs(3));
        assert_eq!((b.allowed, b.remaining), (true, 0));
        assert_eq!(b.reset_in, Duration::from_secs(7));
        let c = window.admit(t0 + Duration::from_millis(9_999));
        assert_eq!((c.allowed, c.remaining), (false, 0));
        assert_eq!(c.reset_in, Duration::from_millis(1));
        // The next window opens with the next request, not at a fixed phase.
        let d = window.admit(t0 + Duration::from_secs(25));
        assert_eq!((d.allowed, d.remaining), (true, 1));
        assert_eq!(d.reset_in, Duration::from_secs(10));
    }

    #[test]
    fn zero_limit_refuses_everything() {
        let window = RateWindow::new(RateLimit::new(0, Duration::from_secs(1)));
        assert!(!window.admit(Instant::now()).allowed);
    }

    #[test]
    fn headers_round_reset_up() {
        let config = RateLimit::new(5, Duration::from_millis(1500)).with_ietf_headers();
        let admission = Admission {
            allowed: true,
            remaining: 3,
            reset_in: Duration::from_millis(1200),
        };
        let wall = UNIX_EPOCH + Duration::from_millis(1_000_000_900);
        let mut headers = HeaderMap::new();
        RateWindow::new(config).headers(admission, wall, &mut headers);
        assert_eq!(header(&headers, "x-ratelimit-limit"), "5");
        assert_eq!(header(&headers, "x-ratelimit-remaining"), "3");
        // 1_000_000.9 s + 1.2 s = 1_000_002.1 s, rounded up.
        assert_eq!(header(&headers, "x-ratelimit-reset"), "1000003");
        assert_eq!(header(&headers, "ratelimit-policy"), "\"default\";q=5;w=2");
        assert_eq!(header(&headers, "ratelimit"), "\"default\";r=3;t=2");

        let config = config.reset_style(ResetStyle::DeltaSeconds);
        let mut headers = HeaderMap::new();
        RateWindow::new(config).headers(admission, wall, &mut headers);
        assert_eq!(header(&headers, "x-ratelimit-reset"), "2");
        assert!(RateLimit::default().limit > 0);
    }
}
