//! Property laws of the pacing limiter under a fake clock.

use std::time::Duration;

use haul_ratelimit::{FixedRate, Permit, RateLimiter};
use proptest::prelude::*;

/// Drives `limiter` with demand arriving at `arrivals` (sorted), returning grant times.
fn grants(limiter: &FixedRate, mut arrivals: Vec<Duration>) -> Vec<Duration> {
    arrivals.sort();
    let mut out = Vec::new();
    for mut now in arrivals {
        loop {
            match limiter.try_acquire(now) {
                Permit::Granted => {
                    out.push(now);
                    break;
                }
                Permit::Wait(d) => {
                    assert!(d > Duration::ZERO, "a wait must make progress");
                    now += d;
                }
            }
        }
    }
    out
}

proptest! {
    #[test]
    fn permits_in_any_window_never_exceed_quota_plus_burst(
        quota in 1u32..50, period_ms in 10u64..2_000, burst in 1u32..10,
        arrivals in proptest::collection::vec(0u64..5_000, 1..300),
        window_ms in 1u64..3_000,
    ) {
        let period = Duration::from_millis(period_ms);
        let limiter = FixedRate::new(quota, period).burst(burst);
        let times = grants(&limiter, arrivals.into_iter().map(Duration::from_millis).collect());
        let window = Duration::from_millis(window_ms);
        // Permitted in a window of length W: at most floor(W / interval) + burst.
        let bound = (window.as_nanos() / limiter.interval().as_nanos()) as usize + burst as usize;
        for (i, start) in times.iter().enumerate() {
            let in_window = times[i..].iter().take_while(|t| **t < *start + window).count();
            prop_assert!(in_window <= bound, "{in_window} > {bound}");
        }
    }

    #[test]
    fn sustained_demand_achieves_the_quota_within_one_percent(quota in 1u32..200, burst in 1u32..5) {
        let limiter = FixedRate::per_second(quota).burst(burst);
        let mut now = Duration::ZERO;
        let horizon = Duration::from_secs(100);
        let mut granted = 0u64;
        while now < horizon {
            match limiter.try_acquire(now) {
                Permit::Granted => granted += 1,
                Permit::Wait(d) => now += d,
            }
        }
        let expected = f64::from(quota) * 100.0;
        let achieved = granted as f64;
        prop_assert!((achieved - expected).abs() <= expected * 0.01 + f64::from(burst), "{achieved} vs {expected}");
    }
}

mod adaptive {
    use std::time::{Duration, SystemTime};

    use haul_core::Response;
    use haul_ratelimit::{HeaderAdaptive, Permit, RateLimiter};
    use proptest::prelude::*;

    fn response(remaining: u64, reset_secs: u64) -> Response {
        Response::new(
            http::StatusCode::OK,
            "https://api.example.com/"
                .parse()
                .unwrap_or_else(|_| unreachable!()),
            "",
        )
        .with_header("x-ratelimit-limit", "100")
        .with_header("x-ratelimit-remaining", &remaining.to_string())
        .with_header("x-ratelimit-reset", &reset_secs.to_string())
    }

    proptest! {
        /// After a response saying `Remaining: 0` with a reset `r` seconds away,
        /// nothing is granted before the reset, whatever else happens.
        #[test]
        fn nothing_is_granted_between_remaining_zero_and_the_reset(
            before in proptest::collection::vec((0u64..5, 1u64..60), 0..5),
            reset_secs in 1u64..120,
            probes in proptest::collection::vec(0u64..200_000, 1..50),
        ) {
            let limiter = HeaderAdaptive::new();
            let wall = SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600);
            for (remaining, reset) in before {
                limiter.observe(&response(remaining, reset), Duration::ZERO, wall);
            }
            let t0 = Duration::from_secs(1);
            limiter.observe(&response(0, reset_secs), t0, wall);
            let reset_at = t0 + Duration::from_secs(reset_secs);
            let mut probes: Vec<Duration> = probes.into_iter().map(Duration::from_millis).map(|d| t0 + d).collect();
            probes.sort();
            for now in probes {
                if let Permit::Granted = limiter.try_acquire(now) {
                    prop_assert!(now >= reset_at, "granted at {now:?} before reset {reset_at:?}");
                }
            }
        }
    }
}
