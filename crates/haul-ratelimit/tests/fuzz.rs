//! Fuzzing the rate-limit header parsing: whatever a server puts in
//! `X-RateLimit-*`, `RateLimit-*`, `RateLimit`, `RateLimit-Policy` and
//! `Retry-After`, parsing never panics, and a limiter observing it never
//! panics either and keeps promising progress. Every property runs 10,000 cases.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, SystemTime};

use haul_core::Response;
use haul_core::http::StatusCode;
use haul_ratelimit::{HeaderAdaptive, Permit, RateLimitHeaders, RateLimiter};
use proptest::prelude::*;

const NAMES: &[&str] = &[
    "x-ratelimit-limit",
    "x-ratelimit-remaining",
    "x-ratelimit-reset",
    "ratelimit-limit",
    "ratelimit-remaining",
    "ratelimit-reset",
    "ratelimit",
    "ratelimit-policy",
    "retry-after",
];

/// Header values a hostile or buggy server could send: numbers of every
/// shape and size, structured fields, dates, and arbitrary text.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<u64>().prop_map(|n| n.to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|f| f.to_string()),
        (0u32..400).prop_map(|e| format!("1e{e}")),
        (0u32..40).prop_map(|e| format!("1.8e{e}")),
        (1u64..16).prop_map(|k| (k << 32).to_string()),
        prop::sample::select(
            &[
                "18446744073709551615",
                "18446744073709551616",
                "1e19",
                "1.8446744073709552e19",
                "9.3e18",
                "1e300",
                "inf",
                "NaN",
                "-0",
                "0",
                "1000000001",
                "",
                " ",
            ][..]
        )
        .prop_map(str::to_owned),
        (any::<u64>(), any::<u64>()).prop_map(|(r, t)| format!("\"default\";r={r};t={t}")),
        (any::<u64>(), any::<u64>()).prop_map(|(q, w)| format!("\"p\";q={q};w={w}")),
        "[ -~]{0,32}",
        (0u64..253_402_300_799).prop_map(|secs| httpdate::fmt_http_date(
            SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
        )),
    ]
}

fn headers() -> impl Strategy<Value = Vec<(&'static str, String)>> {
    prop::collection::vec((prop::sample::select(NAMES), value()), 0..8)
}

fn status() -> impl Strategy<Value = StatusCode> {
    prop::sample::select(&[200u16, 403, 429, 503][..])
        .prop_map(|s| StatusCode::from_u16(s).unwrap())
}

fn response(status: StatusCode, headers: &[(&'static str, String)]) -> Response {
    let mut response = Response::new(status, "https://api.example.com/".parse().unwrap(), "");
    for (name, value) in headers {
        response = response.with_header(name, value);
    }
    response
}

fn wall() -> impl Strategy<Value = SystemTime> {
    (0u64..8_000_000_000).prop_map(|s| SystemTime::UNIX_EPOCH + Duration::from_secs(s))
}

fn config() -> ProptestConfig {
    ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::with_cases(10_000)
    }
}

proptest! {
    #![proptest_config(config())]

    /// Parsing any combination of rate-limit headers never panics.
    #[test]
    fn parse_never_panics(status in status(), headers in headers(), wall in wall()) {
        let _ = RateLimitHeaders::parse(&response(status, &headers), wall);
    }

    /// A limiter that observes any headers, at any time, never panics and
    /// every wait it asks for is finite progress (the extractor sleeps on it).
    #[test]
    fn observing_any_headers_never_panics(
        pages in prop::collection::vec((status(), headers(), 0u64..1_000_000), 1..4),
        wall in wall(),
    ) {
        let limiter = HeaderAdaptive::new();
        let mut now = Duration::ZERO;
        for (status, headers, step_ms) in &pages {
            now += Duration::from_millis(*step_ms);
            limiter.observe(&response(*status, headers), now, wall);
            match limiter.try_acquire(now) {
                Permit::Granted => {}
                Permit::Wait(d) => prop_assert!(d > Duration::ZERO),
            }
            limiter.release();
        }
    }

    /// Well-formed headers parse to what they say.
    #[test]
    fn well_formed_headers_round_trip(limit in 0u64..1_000_000, remaining in 0u64..1_000_000, reset in 0u64..1_000_000) {
        let wall = SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600);
        let h = RateLimitHeaders::parse(
            &response(StatusCode::OK, &[
                ("x-ratelimit-limit", limit.to_string()),
                ("x-ratelimit-remaining", remaining.to_string()),
                ("x-ratelimit-reset", reset.to_string()),
            ]),
            wall,
        );
        prop_assert_eq!(h.limit, Some(limit));
        prop_assert_eq!(h.remaining, Some(remaining));
        prop_assert_eq!(h.reset_in, Some(Duration::from_secs(reset)));
    }
}

/// Whether parsing or observing `headers` panics (the limiter then grants
/// twice, so a low-budget spread is computed too).
fn panics(headers: &[(&'static str, String)]) -> Option<String> {
    let wall = SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600);
    let resp = response(StatusCode::OK, headers);
    let parsed = std::panic::catch_unwind(|| RateLimitHeaders::parse(&resp, wall)).is_err();
    let observed = std::panic::catch_unwind(|| {
        let limiter = HeaderAdaptive::new();
        limiter.observe(&resp, Duration::from_secs(5), wall);
        let _ = limiter.try_acquire(Duration::from_secs(6));
        let _ = limiter.try_acquire(Duration::from_secs(6));
    })
    .is_err();
    (parsed || observed).then(|| {
        format!("{headers:?}: parse panicked {parsed}, observe/acquire panicked {observed}")
    })
}

/// Inputs the fuzz runs found crashing, kept as plain regressions (each
/// checked on its own, so one failure names every crashing input).
#[test]
fn hostile_values_do_not_panic() {
    let mut cases: Vec<Vec<(&'static str, String)>> = [
        ("x-ratelimit-reset", "1e20"),
        ("x-ratelimit-reset", "1e300"),
        ("x-ratelimit-reset", "9.3e18"),
        ("ratelimit-reset", "18446744073709551616"),
        ("ratelimit", "\"p\";r=0;t=18446744073709551615"),
        ("ratelimit", "\"p\";r=5;t=18446744073709551615"),
    ]
    .into_iter()
    .map(|(name, value)| vec![(name, value.to_owned())])
    .collect();
    // A remaining count that is a multiple of 2^32 under a huge limit: the
    // low-budget spread divides the window by the count cast to u32.
    for remaining in ["4294967296", "8589934592"] {
        cases.push(vec![
            ("x-ratelimit-limit", "18446744073709551615".to_owned()),
            ("x-ratelimit-remaining", remaining.to_owned()),
            ("x-ratelimit-reset", "60".to_owned()),
        ]);
    }
    let crashed: Vec<String> = cases.iter().filter_map(|h| panics(h)).collect();
    assert!(crashed.is_empty(), "panics on: {crashed:#?}");
}
