//! Seeded, reproducible fault injection: what can go wrong, and when.

use std::time::Duration;

use crate::rng::SplitMix64;

/// Which faults [`FakeApi`](crate::FakeApi) injects, and how often.
///
/// Each `p_*` is the probability that one data request (any pagination
/// endpoint; never `/bytes` or `/slow`) gets that fault. The kinds are
/// exclusive: one uniform draw per request picks at most one, in the order of
/// the fields below, so their sum should stay at most 1 (kinds past 1 are
/// starved). Probabilities outside `[0, 1]` are clamped; NaN counts as 0.
///
/// The decision for the `n`-th data request (0-based, in arrival order) is a
/// pure function of `seed` and `n` — see [`Faults::fault_for`] — so a
/// sequential client sees the same outcomes on every run. A fault never
/// changes pagination state: retrying the request gets the real page.
///
/// ```
/// use haul_testkit::{Faults, RetryAfterStyle};
///
/// let faults = Faults {
///     seed: 7,
///     p_503: 0.05,
///     p_429: 0.02,
///     retry_after: RetryAfterStyle::HttpDate(2),
///     ..Faults::default()
/// };
/// assert_eq!(faults.fault_for(3), faults.fault_for(3));
/// assert_eq!(Faults::default().fault_for(3), None);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Faults {
    /// Seeds the per-request draws.
    pub seed: u64,
    /// `503 Service Unavailable` with a JSON body.
    pub p_503: f64,
    /// `500 Internal Server Error` with a JSON body.
    pub p_500: f64,
    /// `502 Bad Gateway` with an HTML body (`text/html`), as proxies send.
    pub p_502_html: f64,
    /// `429 Too Many Requests` with a `Retry-After` header (see
    /// [`retry_after`](Faults::retry_after)), although the client kept to the
    /// advertised rate limit.
    pub p_429: f64,
    /// The connection closes after the request is read, before any response
    /// byte is written.
    pub p_reset_before_response: f64,
    /// The status line, headers (with the full `Content-Length`) and part of
    /// the body are sent, then the connection closes.
    pub p_reset_mid_body: f64,
    /// `200` with a body cut short and a `Content-Length` matching the cut
    /// body: the transport succeeds and the client sees invalid JSON.
    pub p_truncated_json: f64,
    /// The real response, sent after waiting [`slow_delay`](Faults::slow_delay)
    /// (on tokio's clock): longer than the client's timeout, typically.
    pub p_slow: f64,
    /// How long a slow response waits before its headers.
    pub slow_delay: Duration,
    /// The `Retry-After` of injected 429s.
    pub retry_after: RetryAfterStyle,
    /// Whether injected 503s carry the same `Retry-After`.
    pub retry_after_on_503: bool,
}

impl Default for Faults {
    /// No faults; seed 0, a 5 s slow delay and `Retry-After: 1`.
    fn default() -> Self {
        Faults {
            seed: 0,
            p_503: 0.0,
            p_500: 0.0,
            p_502_html: 0.0,
            p_429: 0.0,
            p_reset_before_response: 0.0,
            p_reset_mid_body: 0.0,
            p_truncated_json: 0.0,
            p_slow: 0.0,
            slow_delay: Duration::from_secs(5),
            retry_after: RetryAfterStyle::Seconds(1),
            retry_after_on_503: false,
        }
    }
}

/// How an injected 429 (or 503) says when to come back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryAfterStyle {
    /// `Retry-After: <n>` (delta-seconds).
    Seconds(u64),
    /// `Retry-After: <HTTP-date>`, `n` seconds from now (rounded up to the
    /// next whole second, so never earlier than `n` seconds).
    HttpDate(u64),
}

/// One kind of injected fault, as decided by [`Faults::fault_for`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FaultKind {
    /// `503` with a JSON body.
    Status503,
    /// `500` with a JSON body.
    Status500,
    /// `502` with an HTML body.
    Status502Html,
    /// `429` with `Retry-After`.
    Status429,
    /// Connection closed before the response.
    ResetBeforeResponse,
    /// Connection closed part-way through the body.
    ResetMidBody,
    /// `200` with a cut, invalid JSON body.
    TruncatedJson,
    /// The real response, delayed.
    Slow,
}

impl Faults {
    /// The issue's demo mix: 5 % 503, 2 % 429 with `Retry-After: 1`, 1 %
    /// reset before the response and 1 % truncated JSON.
    pub fn realistic(seed: u64) -> Faults {
        Faults {
            seed,
            p_503: 0.05,
            p_429: 0.02,
            p_reset_before_response: 0.01,
            p_truncated_json: 0.01,
            ..Faults::default()
        }
    }

    /// The sum of the fault probabilities (after clamping each to `[0, 1]`).
    pub fn total_probability(&self) -> f64 {
        self.table().iter().map(|(p, _)| p).sum()
    }

    /// The fault the `n`-th data request (0-based) gets, if any. Pure: the
    /// same `self` and `n` always give the same answer.
    pub fn fault_for(&self, n: u64) -> Option<FaultKind> {
        self.draw(n).0
    }

    /// The fault for request `n` and the rest of its random stream, which
    /// places cuts for the body faults.
    pub(crate) fn draw(&self, n: u64) -> (Option<FaultKind>, SplitMix64) {
        let mut rng = SplitMix64::for_index(self.seed, n);
        let roll = rng.unit();
        let mut upto = 0.0;
        for (p, kind) in self.table() {
            upto += p;
            if roll < upto {
                return (Some(kind), rng);
            }
        }
        (None, rng)
    }

    fn table(&self) -> [(f64, FaultKind); 8] {
        let p = |p: f64| if p.is_nan() { 0.0 } else { p.clamp(0.0, 1.0) };
        [
            (p(self.p_503), FaultKind::Status503),
            (p(self.p_500), FaultKind::Status500),
            (p(self.p_502_html), FaultKind::Status502Html),
            (p(self.p_429), FaultKind::Status429),
            (
                p(self.p_reset_before_response),
                FaultKind::ResetBeforeResponse,
            ),
            (p(self.p_reset_mid_body), FaultKind::ResetMidBody),
            (p(self.p_truncated_json), FaultKind::TruncatedJson),
            (p(self.p_slow), FaultKind::Slow),
        ]
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn no_probability_means_no_fault() {
        let faults = Faults::default();
        assert!((0..1000).all(|n| faults.fault_for(n).is_none()));
        assert_eq!(faults.total_probability(), 0.0);
    }

    #[test]
    fn certain_fault_always_fires() {
        let faults = Faults {
            p_reset_mid_body: 1.0,
            ..Faults::default()
        };
        assert!((0..1000).all(|n| faults.fault_for(n) == Some(FaultKind::ResetMidBody)));
    }

    #[test]
    fn frequencies_follow_probabilities() {
        let faults = Faults {
            seed: 42,
            p_503: 0.1,
            p_429: 0.05,
            p_truncated_json: 0.2,
            p_500: f64::NAN,
            p_slow: -3.0,
            ..Faults::default()
        };
        let mut seen: HashMap<Option<FaultKind>, u32> = HashMap::new();
        for n in 0..20_000 {
            *seen.entry(faults.fault_for(n)).or_default() += 1;
        }
        let share = |kind| f64::from(seen.get(&kind).copied().unwrap_or(0)) / 20_000.0;
        assert!((share(Some(FaultKind::Status503)) - 0.1).abs() < 0.01);
        assert!((share(Some(FaultKind::Status429)) - 0.05).abs() < 0.01);
        assert!((share(Some(FaultKind::TruncatedJson)) - 0.2).abs() < 0.01);
        assert_eq!(share(Some(FaultKind::Status500)), 0.0);
        assert_eq!(share(Some(FaultKind::Slow)), 0.0);
        assert!((faults.total_probability() - 0.35).abs() < 1e-12);
    }

    #[test]
    fn seeds_give_different_sequences() {
        let a = Faults::realistic(1);
        let b = Faults::realistic(2);
        let run = |f: &Faults| (0..2000).map(|n| f.fault_for(n)).collect::<Vec<_>>();
        assert_eq!(run(&a), run(&a.clone()));
        assert_ne!(run(&a), run(&b));
    }
}
