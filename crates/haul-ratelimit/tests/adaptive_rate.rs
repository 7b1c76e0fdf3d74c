//! [`AdaptiveRate`]'s laws under a fake clock, and a model of the issue's
//! case without I/O: a client against a server that advertises nothing and
//! throttles with a sliding one-second window (Django REST framework's
//! `AnonRateThrottle`), answering `429` with `Retry-After` in whole seconds.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::VecDeque;
use std::time::{Duration, SystemTime};

use haul_core::Response;
use haul_ratelimit::{AdaptiveRate, AllOf, HeaderAdaptive, Permit, RateLimiter};
use proptest::prelude::*;

const WALL: SystemTime = SystemTime::UNIX_EPOCH;

fn response(status: u16, elapsed: Duration) -> Response {
    let mut r = Response::new(
        http::StatusCode::from_u16(status).unwrap(),
        "https://api.example.com/".parse().unwrap(),
        "",
    );
    r.elapsed = elapsed;
    r
}

/// One thing that can happen to a limiter.
#[derive(Debug, Clone)]
enum Step {
    /// Time passes, then a permit is asked for.
    Acquire(u64),
    /// Time passes, then a throttling response arrives for a request sent
    /// `elapsed` ms before.
    Throttle(u64, u64),
    /// The last permit is given back.
    Cancel,
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    proptest::collection::vec(
        prop_oneof![
            6 => (0u64..400).prop_map(Step::Acquire),
            2 => ((0u64..3_000), (0u64..500)).prop_map(|(dt, e)| Step::Throttle(dt, e)),
            1 => Just(Step::Cancel),
        ],
        1..300,
    )
}

/// A limiter with arbitrary (valid) settings.
fn limiter() -> impl Strategy<Value = (AdaptiveRate, f64, Option<f64>)> {
    (
        0.01f64..5.0,
        proptest::option::of(1.0f64..500.0),
        0.1f64..0.99,
        0.01f64..2.0,
        0u64..20_000,
    )
        .prop_map(|(floor, ceiling, beta, scale, hold_ms)| {
            let mut l = AdaptiveRate::new()
                .floor(floor)
                .beta(beta)
                .scale(scale)
                .probe_after(Duration::from_millis(hold_ms));
            let ceiling = ceiling.map(|c| c.max(floor));
            if let Some(c) = ceiling {
                l = l.ceiling(c);
            }
            (l, floor, ceiling)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// The rate never goes below the floor nor above the ceiling, whatever
    /// happens; a cut always lowers it (unless it is at the floor already).
    #[test]
    fn the_rate_stays_within_floor_and_ceiling_and_a_cut_lowers_it(
        (limiter, floor, ceiling) in limiter(),
        steps in steps(),
    ) {
        let mut now = Duration::ZERO;
        for step in steps {
            match step {
                Step::Acquire(dt) => {
                    now += Duration::from_millis(dt);
                    let _ = limiter.try_acquire(now);
                }
                Step::Throttle(dt, elapsed) => {
                    now += Duration::from_millis(dt);
                    let before = limiter.rate_at(now);
                    let cuts = limiter.state().cuts;
                    limiter.throttled(&response(429, Duration::from_millis(elapsed)), now, WALL);
                    let after = limiter.rate_at(now);
                    if limiter.state().cuts > cuts {
                        let after = after.expect("a cut sets a rate");
                        match before {
                            None => {}
                            Some(b) if b <= floor + 1e-12 => prop_assert!(after <= b + 1e-12),
                            Some(b) => prop_assert!(after < b, "cut from {b} to {after}"),
                        }
                    } else {
                        prop_assert_eq!(before, after);
                    }
                }
                Step::Cancel => limiter.cancel(now),
            }
            if let Some(rate) = limiter.rate_at(now) {
                prop_assert!(rate >= floor - 1e-12, "{rate} below the floor {floor}");
                if let Some(c) = ceiling {
                    prop_assert!(rate <= c + 1e-12, "{rate} above the ceiling {c}");
                }
            } else {
                prop_assert!(ceiling.is_none() && limiter.state().cuts == 0);
            }
        }
    }

    /// Without a throttling response the rate never decreases, whatever
    /// else happens (grants, cancellations, time passing).
    #[test]
    fn without_throttling_the_rate_never_decreases(
        (limiter, _floor, _ceiling) in limiter(),
        before in steps(),
        after in proptest::collection::vec((0u64..2_000, any::<bool>()), 1..200),
    ) {
        let mut now = Duration::ZERO;
        for step in before {
            match step {
                Step::Acquire(dt) => { now += Duration::from_millis(dt); let _ = limiter.try_acquire(now); }
                Step::Throttle(dt, e) => {
                    now += Duration::from_millis(dt);
                    limiter.throttled(&response(429, Duration::from_millis(e)), now, WALL);
                }
                Step::Cancel => limiter.cancel(now),
            }
        }
        let mut last = limiter.rate_at(now);
        for (dt, cancel) in after {
            now += Duration::from_millis(dt);
            if cancel { limiter.cancel(now) } else { let _ = limiter.try_acquire(now); }
            let rate = limiter.rate_at(now);
            match (last, rate) {
                (Some(a), Some(b)) => prop_assert!(b >= a, "decreased from {a} to {b}"),
                (None, Some(b)) => prop_assert!(false, "from unlimited to {b} without a throttle"),
                _ => {}
            }
            last = rate;
        }
    }

    /// Grants are spaced at least 1 / rate apart: over any window of length
    /// W, at most W × (the highest rate in force) + 1 permits.
    #[test]
    fn grants_never_outpace_the_rate(ceiling in 1.0f64..200.0, arrivals in proptest::collection::vec(0u64..3_000, 1..300)) {
        let limiter = AdaptiveRate::new().ceiling(ceiling);
        let mut arrivals: Vec<Duration> = arrivals.into_iter().map(Duration::from_millis).collect();
        arrivals.sort();
        let mut granted = Vec::new();
        for mut now in arrivals {
            loop {
                match limiter.try_acquire(now) {
                    Permit::Granted => { granted.push(now); break; }
                    Permit::Wait(d) => { prop_assert!(d > Duration::ZERO); now += d; }
                }
            }
        }
        for pair in granted.windows(2) {
            let gap = (pair[1] - pair[0]).as_secs_f64();
            prop_assert!(gap >= 1.0 / ceiling - 1e-9, "{gap} s apart at {ceiling}/s");
        }
    }
}

/// A server that advertises nothing: at most `limit` requests in any
/// sliding one-second window (refused ones do not count), a `429` with
/// `Retry-After` in whole seconds beyond it, and `latency` to answer an
/// accepted request.
struct SlidingServer {
    limit: usize,
    latency: Duration,
    history: VecDeque<Duration>,
    refused: u64,
}

impl SlidingServer {
    fn answer(&mut self, now: Duration) -> Result<Duration, Duration> {
        while self
            .history
            .front()
            .is_some_and(|t| *t + Duration::from_secs(1) <= now)
        {
            self.history.pop_front();
        }
        if self.history.len() >= self.limit {
            self.refused += 1;
            let room_at = self.history[self.history.len() - self.limit] + Duration::from_secs(1);
            let wait = room_at - now;
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            return Err(Duration::from_secs(secs.max(1)));
        }
        self.history.push_back(now);
        Ok(self.latency)
    }
}

/// One sequential stream fetching `pages` pages through `limiter`, retrying
/// a refused request after its `Retry-After`; the server's limit becomes
/// `step.1` after `step.0` pages. Returns (elapsed, 429s before and after the step).
fn run(
    limiter: &dyn RateLimiter,
    limit: usize,
    latency: Duration,
    pages: usize,
    step: Option<(usize, usize)>,
) -> (Duration, u64, u64) {
    let mut server = SlidingServer {
        limit,
        latency,
        history: VecDeque::new(),
        refused: 0,
    };
    let mut now = Duration::ZERO;
    let mut fetched = 0;
    let mut before_step = None;
    while fetched < pages {
        if let Some((at, new_limit)) = step
            && fetched == at
            && before_step.is_none()
        {
            server.limit = new_limit;
            before_step = Some(server.refused);
        }
        match limiter.try_acquire(now) {
            Permit::Wait(d) => now += d,
            Permit::Granted => match server.answer(now) {
                Ok(latency) => {
                    now += latency;
                    let ok = response(200, latency);
                    limiter.release();
                    limiter.observe(&ok, now, WALL);
                    fetched += 1;
                }
                Err(retry_after) => {
                    let refused = response(429, Duration::ZERO)
                        .with_header("retry-after", &retry_after.as_secs().to_string());
                    limiter.release();
                    limiter.observe(&refused, now, WALL);
                    limiter.throttled(&refused, now, WALL);
                    now += retry_after;
                }
            },
        }
    }
    let before = before_step.unwrap_or(server.refused);
    (now, before, server.refused - before)
}

fn default_today() -> HeaderAdaptive {
    HeaderAdaptive::new()
}

fn with_adaptive_rate() -> AllOf {
    AllOf::new()
        .with(HeaderAdaptive::new())
        .with(AdaptiveRate::new())
}

#[test]
fn model_500_pages_at_20_per_second() {
    let ideal = Duration::from_secs(25);
    for latency_ms in [0u64, 10, 20, 50] {
        let latency = Duration::from_millis(latency_ms);
        let (today, today_429, _) = run(&default_today(), 20, latency, 500, None);
        let (adaptive, adaptive_429, _) = run(&with_adaptive_rate(), 20, latency, 500, None);
        println!(
            "latency {latency_ms} ms: today's default {today:.2?} with {today_429} × 429; \
             with AdaptiveRate {adaptive:.2?} with {adaptive_429} × 429 (ideal {ideal:?})"
        );
        assert!(adaptive_429 <= 5, "{adaptive_429} × 429");
        assert!(adaptive <= ideal.mul_f64(1.15), "{adaptive:?}");
    }
}

#[test]
fn model_step_from_40_to_10_per_second() {
    let (elapsed, before, after) = run(
        &with_adaptive_rate(),
        40,
        Duration::from_millis(20),
        600,
        Some((300, 10)),
    );
    println!("step 40/s → 10/s: {elapsed:.2?}, {before} × 429 before, {after} after");
    assert!(after <= 10, "{after} × 429 after the step");
}
