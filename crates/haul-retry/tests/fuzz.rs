//! Fuzzing `Retry-After` parsing and the decisions built on it: whatever a
//! server sends, parsing never panics, well-formed values round-trip, and a
//! policy never schedules a wait longer than it allows. Every property runs
//! 10,000 cases.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, SystemTime};

use haul_core::http::StatusCode;
use haul_core::{Request, Response};
use haul_retry::{
    Classifier, ExponentialBackoff, HttpClassifier, Outcome, RetryContext, RetryDecision,
    RetryPolicy, parse_retry_after,
};
use proptest::prelude::*;

/// The last second `httpdate` can format (9999-12-31T23:59:59Z).
const MAX_HTTP_DATE: u64 = 253_402_300_799;

fn config() -> ProptestConfig {
    ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::with_cases(10_000)
    }
}

fn wall() -> impl Strategy<Value = SystemTime> {
    (0u64..MAX_HTTP_DATE).prop_map(|s| SystemTime::UNIX_EPOCH + Duration::from_secs(s))
}

/// What a server could put in `Retry-After`: numbers of every size and
/// sign, dates in every format `httpdate` knows and their corruptions, and
/// arbitrary text.
fn retry_after_value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<u64>().prop_map(|n| n.to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|f| f.to_string()),
        "[0-9]{20,400}",
        " {0,3}[0-9]{1,6} {0,3}",
        (0u64..MAX_HTTP_DATE)
            .prop_map(|s| httpdate::fmt_http_date(SystemTime::UNIX_EPOCH + Duration::from_secs(s))),
        ((0u64..MAX_HTTP_DATE), 0usize..29, "[ -~]").prop_map(|(s, at, c)| {
            // A valid date with one character replaced.
            let mut date = httpdate::fmt_http_date(SystemTime::UNIX_EPOCH + Duration::from_secs(s));
            if let Some((i, _)) = date.char_indices().nth(at) {
                date.replace_range(i..=i, &c);
            }
            date
        }),
        "(Mon|Tue|Sun|Sunday|Monday), [0-9]{1,2}[ -](Jan|Feb|Dec)[ -][0-9]{2,4} [0-9]{2}:[0-9]{2}:[0-9]{2} GMT",
        "[ -~]{0,40}",
        "\\PC{0,20}",
    ]
}

proptest! {
    #![proptest_config(config())]

    /// Any value at any time: a duration or `None`, never a panic.
    #[test]
    fn parse_never_panics(value in retry_after_value(), now in wall()) {
        let _ = parse_retry_after(&value, now);
    }

    /// Delta-seconds round-trip exactly, with surrounding whitespace.
    #[test]
    fn delta_seconds_round_trip(secs in any::<u64>(), pad in " {0,2}", now in wall()) {
        prop_assert_eq!(
            parse_retry_after(&format!("{pad}{secs}{pad}"), now),
            Some(Duration::from_secs(secs))
        );
    }

    /// A date is the time until it (zero once it has passed).
    #[test]
    fn http_dates_are_the_time_until_them(at in 0u64..MAX_HTTP_DATE, now in 0u64..MAX_HTTP_DATE) {
        let date = httpdate::fmt_http_date(SystemTime::UNIX_EPOCH + Duration::from_secs(at));
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(now);
        let expected = (SystemTime::UNIX_EPOCH + Duration::from_secs(at))
            .duration_since(now)
            .unwrap_or(Duration::ZERO);
        prop_assert_eq!(parse_retry_after(&date, now), Some(expected));
    }

    /// A throttled or failing response with any `Retry-After`: the policy
    /// never panics and never schedules a wait beyond `max_retry_after`
    /// (a longer request is a typed give-up, not a sleep).
    #[test]
    fn decisions_never_exceed_the_retry_after_cap(
        status in prop::sample::select(&[403u16, 408, 429, 500, 502, 503, 504][..]),
        value in retry_after_value(),
        now in wall(),
        attempt in 1u32..8,
        elapsed_ms in 0u64..1_000_000,
    ) {
        let cap = Duration::from_secs(300);
        let policy = ExponentialBackoff::default().seed(7).max_retry_after(cap).budget(None);
        let request = Request::get("https://api.example.com/items".parse().unwrap());
        let response = Response::new(StatusCode::from_u16(status).unwrap(), request.url.clone(), "")
            .with_header("retry-after", &value);
        let class = HttpClassifier.classify(Outcome::Response(&response), now);
        let decision = policy.decide(&RetryContext {
            attempt,
            elapsed: Duration::from_millis(elapsed_ms),
            request: &request,
            classification: &class,
        });
        if let RetryDecision::RetryAfter(delay) = decision {
            prop_assert!(delay <= cap, "scheduled {:?} for Retry-After {:?}", delay, value);
        }
    }
}
