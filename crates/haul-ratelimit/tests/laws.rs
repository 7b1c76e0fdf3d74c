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

/// Reservations: slots are taken at once and used later; some callers give
/// theirs back (a dropped future). Laws over the slots actually used.
mod reservation {
    use std::time::Duration;

    use haul_ratelimit::{FixedRate, RateLimiter, Reservation};
    use proptest::prelude::*;

    /// Callers arriving at `arrivals` (sorted) reserve a slot each; the
    /// callers marked in `cancels` hand theirs back before it comes (when a
    /// later caller arrives). Returns the slots used, sorted.
    fn used_slots(limiter: &FixedRate, arrivals: &[(u64, bool)]) -> Vec<Duration> {
        let mut arrivals = arrivals.to_vec();
        arrivals.sort();
        let mut used = Vec::new();
        let mut pending_cancel: Vec<Duration> = Vec::new();
        for (at_ms, cancel) in arrivals {
            let now = Duration::from_millis(at_ms);
            // Hand back the reservations cancelled since the last caller,
            // if their time has not come yet (otherwise they were used).
            for slot in pending_cancel.drain(..) {
                if slot > now {
                    limiter.cancel(slot);
                } else {
                    used.push(slot);
                }
            }
            match limiter.reserve(now) {
                Reservation::At(slot) => {
                    assert!(slot >= now, "a slot in the past: {slot:?} < {now:?}");
                    if cancel {
                        pending_cancel.push(slot);
                    } else {
                        used.push(slot);
                    }
                }
                Reservation::Wait(_) => panic!("FixedRate always reserves"),
            }
        }
        used.extend(pending_cancel);
        used.sort();
        used
    }

    proptest! {
        /// The strict law holds for reserved slots, whatever is cancelled.
        #[test]
        fn reserved_slots_in_any_window_never_exceed_quota_plus_burst(
            quota in 1u32..50, period_ms in 10u64..2_000, burst in 1u32..10,
            arrivals in proptest::collection::vec((0u64..5_000, any::<bool>()), 1..300),
            window_ms in 1u64..3_000,
        ) {
            let limiter = FixedRate::new(quota, Duration::from_millis(period_ms)).burst(burst);
            let slots = used_slots(&limiter, &arrivals);
            let window = Duration::from_millis(window_ms);
            let bound = (window.as_nanos() / limiter.interval().as_nanos()) as usize + burst as usize;
            for (i, start) in slots.iter().enumerate() {
                let in_window = slots[i..].iter().take_while(|t| **t < *start + window).count();
                prop_assert!(in_window <= bound, "{in_window} > {bound}");
            }
        }

        /// Many callers reserving at once are handed consecutive slots: a
        /// full queue runs at the rate (minus the 1 % lateness allowance),
        /// however late each sleeper wakes.
        #[test]
        fn a_queue_of_reservations_runs_at_the_rate(quota in 1u32..200, callers in 2usize..16) {
            let limiter = FixedRate::per_second(quota);
            let horizon = Duration::from_secs(100);
            // Each caller reserves again as soon as its slot has come.
            let mut next: Vec<Duration> = vec![Duration::ZERO; callers];
            let mut used = 0u64;
            loop {
                let (i, now) = next.iter().copied().enumerate().min_by_key(|(_, t)| *t).unwrap_or((0, horizon));
                if now >= horizon {
                    break;
                }
                match limiter.reserve(now) {
                    Reservation::At(slot) => {
                        if slot < horizon {
                            used += 1;
                        }
                        next[i] = slot + Duration::from_millis(1);
                    }
                    Reservation::Wait(_) => unreachable!("FixedRate always reserves"),
                }
            }
            let expected = f64::from(quota) * 100.0;
            prop_assert!(used as f64 >= expected * 0.98, "{used} vs {expected}");
            prop_assert!(used as f64 <= expected + 1.0, "{used} vs {expected}");
        }

        /// A cancelled reservation is not lost: the next caller gets a slot
        /// no later than the cancelled one.
        #[test]
        fn a_cancelled_reservation_is_handed_to_the_next_caller(
            quota in 1u32..100, queue in 2usize..20, pick in any::<prop::sample::Index>(),
        ) {
            let limiter = FixedRate::per_second(quota);
            let slots: Vec<Duration> = (0..queue)
                .map(|_| match limiter.reserve(Duration::ZERO) {
                    Reservation::At(at) => at,
                    Reservation::Wait(_) => unreachable!(),
                })
                .collect();
            let cancelled = slots[pick.index(queue)];
            limiter.cancel(cancelled);
            match limiter.reserve(Duration::ZERO) {
                Reservation::At(at) => prop_assert_eq!(at, cancelled),
                Reservation::Wait(_) => prop_assert!(false, "no slot"),
            }
        }
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

/// A model of the end-to-end case, without I/O: several streams share
/// one [`HeaderAdaptive`] against a server with a fixed-window limit (the
/// testkit's: the window opens with the first request after the previous one
/// closed, `X-RateLimit-Reset` in delta seconds rounded up). Requests and
/// responses travel with arbitrary delays, in any order, while time moves on.
mod shared_adaptive {
    use std::time::{Duration, SystemTime};

    use haul_core::Response;
    use haul_ratelimit::{HeaderAdaptive, Permit, RateLimiter};
    use proptest::prelude::*;

    const LIMIT: u64 = 10;
    const WINDOW: Duration = Duration::from_secs(1);

    #[derive(Default)]
    struct Server {
        window: Option<(Duration, u64)>,
        refused: u64,
    }

    impl Server {
        /// Counts one request arriving at `now` and answers it.
        fn answer(&mut self, now: Duration) -> Response {
            let (start, count) = match self.window {
                Some((start, count)) if now < start + WINDOW => (start, count + 1),
                _ => (now, 1),
            };
            self.window = Some((start, count));
            let reset_in = start + WINDOW - now;
            let reset_secs = reset_in.as_secs() + u64::from(reset_in.subsec_nanos() > 0);
            let allowed = count <= LIMIT;
            if !allowed {
                self.refused += 1;
            }
            let status = if allowed {
                http::StatusCode::OK
            } else {
                http::StatusCode::TOO_MANY_REQUESTS
            };
            let mut response = Response::new(
                status,
                "https://api.example.com/"
                    .parse()
                    .unwrap_or_else(|_| unreachable!()),
                "",
            )
            .with_header("x-ratelimit-limit", &LIMIT.to_string())
            .with_header(
                "x-ratelimit-remaining",
                &LIMIT.saturating_sub(count).to_string(),
            )
            .with_header("x-ratelimit-reset", &reset_secs.to_string());
            if !allowed {
                response = response.with_header("retry-after", &reset_secs.max(1).to_string());
            }
            response
        }
    }

    #[derive(Clone)]
    enum Stream {
        /// Wants to send at or after this time.
        Idle(Duration),
        /// Granted; the request has not reached the server yet.
        Sent,
        /// The server answered; the response is on its way back.
        Answered(Box<Response>),
    }

    #[derive(Clone, Copy)]
    enum Action {
        Acquire(usize),
        Arrive(usize),
        Deliver(usize),
        /// Lets time pass (to the next wake-up when every stream waits).
        Tick,
    }

    /// Runs the model: each step picks one of the actions possible then.
    fn simulate(streams: usize, steps: &[(u16, u16)]) -> Server {
        let limiter = HeaderAdaptive::new();
        let wall = SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600);
        let mut server = Server::default();
        let mut state = vec![Stream::Idle(Duration::ZERO); streams];
        let mut now = Duration::ZERO;
        for &(pick, tick_ms) in steps {
            let mut possible = vec![Action::Tick];
            for (i, stream) in state.iter().enumerate() {
                possible.push(match stream {
                    Stream::Idle(at) if now >= *at => Action::Acquire(i),
                    Stream::Idle(_) => continue,
                    Stream::Sent => Action::Arrive(i),
                    Stream::Answered(_) => Action::Deliver(i),
                });
            }
            match possible[usize::from(pick) % possible.len()] {
                Action::Acquire(i) => match limiter.try_acquire(now) {
                    Permit::Granted => state[i] = Stream::Sent,
                    Permit::Wait(d) => state[i] = Stream::Idle(now + d),
                },
                Action::Arrive(i) => state[i] = Stream::Answered(Box::new(server.answer(now))),
                Action::Deliver(i) => {
                    if let Stream::Answered(response) = &state[i] {
                        // As the extractor does: the permit is released when
                        // the exchange ends, then the response is observed.
                        limiter.release();
                        limiter.observe(response, now, wall);
                    }
                    state[i] = Stream::Idle(now);
                }
                Action::Tick => {
                    let next_wake = state
                        .iter()
                        .map(|s| match s {
                            Stream::Idle(at) => Some(*at),
                            _ => None,
                        })
                        .collect::<Option<Vec<_>>>()
                        .and_then(|wakes| wakes.into_iter().min());
                    now = match next_wake {
                        Some(at) if at > now => at,
                        _ => now + Duration::from_millis(u64::from(tick_ms % 200)),
                    };
                }
            }
        }
        server
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// One stream: never refused, however slow the network.
        #[test]
        fn a_single_stream_is_never_refused(
            steps in proptest::collection::vec((any::<u16>(), any::<u16>()), 1..800),
        ) {
            let server = simulate(1, &steps);
            prop_assert_eq!(server.refused, 0);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Up to 4 streams sharing the limiter: the server never has to refuse.
        #[test]
        fn shared_by_concurrent_streams_it_is_never_refused(
            streams in 2usize..=4,
            steps in proptest::collection::vec((any::<u16>(), any::<u16>()), 1..800),
        ) {
            let server = simulate(streams, &steps);
            prop_assert_eq!(server.refused, 0);
        }
    }
}
