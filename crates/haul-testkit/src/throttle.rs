//! A server-side throttle that advertises nothing: a sliding window, as
//! Django REST framework's `AnonRateThrottle` keeps one.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use http::{HeaderValue, Response, StatusCode};
use tokio::time::Instant;

use crate::body::Body;
use crate::ratelimit::ceil_secs;
use crate::reply;
use crate::stats::Counters;

/// At most `limit` data requests in any sliding `window`, and nothing said
/// about it until the client is over: no `X-RateLimit-*` or `RateLimit`
/// headers, only a `429` with `Retry-After` in whole seconds (rounded up,
/// at least 1) and a body like Django REST framework's,
/// `{"detail":"Request was throttled. Expected available in 1 second."}`.
///
/// As in DRF, a refused request does not count against the window, and the
/// throttle is checked before anything else of a data request (the
/// advertised [`RateLimit`](crate::RateLimit) and faults see only the
/// requests it lets through). After a lowered limit
/// ([`ThrottleHandle::set_limit`]) `Retry-After` says when the window has
/// room again (DRF would send none then). Refusals are counted in
/// [`Stats::throttle_429`](crate::Stats::throttle_429) and by the
/// [`ThrottleHandle`].
///
/// `latency` is how long the server takes to answer a request it lets
/// through (the view behind the throttle; a refusal is immediate), so that
/// a burst takes time as it does against a real service. It runs on tokio's
/// clock, like the window.
///
/// ```
/// use std::time::Duration;
/// use haul_testkit::Throttle;
///
/// let throttle = Throttle::per_second(20).latency(Duration::from_millis(20));
/// assert_eq!((throttle.limit, throttle.window), (20, Duration::from_secs(1)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttle {
    /// Requests allowed in any window.
    pub limit: u32,
    /// The sliding window (tokio time).
    pub window: Duration,
    /// Time to answer a request let through.
    pub latency: Duration,
}

impl Throttle {
    /// `limit` requests in any sliding `window`, answered at once.
    pub fn new(limit: u32, window: Duration) -> Self {
        Throttle {
            limit,
            window,
            latency: Duration::ZERO,
        }
    }

    /// `limit` requests in any sliding second (DRF's `"20/second"`).
    pub fn per_second(limit: u32) -> Self {
        Throttle::new(limit, Duration::from_secs(1))
    }

    /// Answers each request let through after `latency`.
    #[must_use]
    pub fn latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }
}

/// The live window of a [`Throttle`].
#[derive(Debug)]
pub(crate) struct ThrottleWindow {
    window: Duration,
    latency: Duration,
    state: Mutex<WindowState>,
    admitted: AtomicU64,
    refused: AtomicU64,
}

#[derive(Debug)]
struct WindowState {
    limit: u32,
    /// Arrival times of the requests let through within the window, oldest first.
    history: VecDeque<Instant>,
}

impl ThrottleWindow {
    pub(crate) fn new(config: Throttle) -> Self {
        ThrottleWindow {
            window: config.window,
            latency: config.latency,
            state: Mutex::new(WindowState {
                limit: config.limit,
                history: VecDeque::new(),
            }),
            admitted: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        }
    }

    /// Lets a request arriving at `now` through (`Ok`), or refuses it with
    /// the `Retry-After` to send.
    pub(crate) fn admit(&self, now: Instant) -> Result<(), Duration> {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        while s
            .history
            .front()
            .is_some_and(|t| t.checked_add(self.window).is_some_and(|end| end <= now))
        {
            s.history.pop_front();
        }
        let limit = s.limit as usize;
        if s.history.len() < limit {
            s.history.push_back(now);
            self.admitted.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        self.refused.fetch_add(1, Ordering::Relaxed);
        // Room once all but `limit - 1` of the requests in the window have left it.
        let wait = match limit {
            0 => self.window,
            _ => s
                .history
                .get(s.history.len() - limit)
                .and_then(|t| t.checked_add(self.window))
                .map_or(self.window, |end| end.saturating_duration_since(now)),
        };
        Err(Duration::from_secs(ceil_secs(wait).max(1)))
    }

    /// The refusal: `429`, `Retry-After`, DRF's body, counted.
    pub(crate) fn refusal(retry_after: Duration, counters: &Counters) -> Response<Body> {
        Counters::bump(&counters.throttle_429, 1);
        let secs = retry_after.as_secs();
        let body = serde_json::json!({
            "detail": format!(
                "Request was throttled. Expected available in {secs} second{}.",
                if secs == 1 { "" } else { "s" }
            )
        });
        let mut response = reply::json(StatusCode::TOO_MANY_REQUESTS, body.to_string());
        response
            .headers_mut()
            .insert(http::header::RETRY_AFTER, HeaderValue::from(secs));
        response
    }

    /// How long a request let through takes to answer.
    pub(crate) fn latency(&self) -> Duration {
        self.latency
    }
}

/// Controls a running server's [`Throttle`] and reads its counters; cheap to
/// clone (an observer can hold one and lower the limit mid-run).
#[derive(Debug, Clone)]
pub struct ThrottleHandle(pub(crate) Arc<ThrottleWindow>);

impl ThrottleHandle {
    /// Changes the limit from now on; requests already in the window still
    /// count against it.
    pub fn set_limit(&self, limit: u32) {
        let mut s = self.0.state.lock().unwrap_or_else(PoisonError::into_inner);
        tracing::debug!(
            from = s.limit,
            to = limit,
            "fake api throttle limit changed"
        );
        s.limit = limit;
    }

    /// The current limit.
    pub fn limit(&self) -> u32 {
        self.0
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .limit
    }

    /// Requests let through so far.
    pub fn admitted(&self) -> u64 {
        self.0.admitted.load(Ordering::Relaxed)
    }

    /// Requests refused with a `429` so far.
    pub fn refused(&self) -> u64 {
        self.0.refused.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_sliding_window_refuses_the_request_over_the_limit() {
        let window = ThrottleWindow::new(Throttle::per_second(3));
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        assert!(window.admit(ms(0)).is_ok());
        assert!(window.admit(ms(400)).is_ok());
        assert!(window.admit(ms(800)).is_ok());
        // Full until the request at 0 ms leaves, 200 ms later: 1 s, rounded up.
        assert_eq!(window.admit(ms(800)), Err(Duration::from_secs(1)));
        // The refusal did not count; the window slid past 0 ms.
        assert!(window.admit(ms(1000)).is_ok());
        assert!(window.admit(ms(1100)).is_err());
        assert!(window.admit(ms(1400)).is_ok());
        let handle = ThrottleHandle(Arc::new(window));
        assert_eq!((handle.admitted(), handle.refused()), (5, 2));
    }

    #[test]
    fn a_lowered_limit_says_when_there_is_room_again() {
        let handle = ThrottleHandle(Arc::new(ThrottleWindow::new(Throttle::per_second(4))));
        let t0 = Instant::now();
        for n in 0..4 {
            assert!(handle.0.admit(t0 + Duration::from_millis(n * 100)).is_ok());
        }
        handle.set_limit(1);
        assert_eq!(handle.limit(), 1);
        // Room once the requests at 0, 100 and 200 ms have left: at 1.2 s.
        let now = t0 + Duration::from_millis(350);
        assert_eq!(handle.0.admit(now), Err(Duration::from_secs(1)));
        assert!(handle.0.admit(t0 + Duration::from_millis(1250)).is_err());
        assert!(handle.0.admit(t0 + Duration::from_millis(1300)).is_ok());
        handle.set_limit(0);
        assert_eq!(
            handle.0.admit(t0 + Duration::from_secs(60)),
            Err(Duration::from_secs(1))
        );
    }
}
