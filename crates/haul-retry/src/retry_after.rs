//! Parsing `Retry-After` (RFC 9110 §10.2.3): delta-seconds or an HTTP-date.

use std::time::{Duration, SystemTime};

/// Parses a `Retry-After` value relative to `now`.
///
/// Accepts delta-seconds (`"120"`) and HTTP-dates (`"Wed, 21 Oct 2015 07:28:00 GMT"`).
/// A date in the past means "now" (zero). Anything else is `None`.
///
/// ```
/// use std::time::{Duration, SystemTime, UNIX_EPOCH};
/// use haul_retry::parse_retry_after;
/// let now = UNIX_EPOCH + Duration::from_secs(1_445_412_400); // 2015-10-21T07:26:40Z
/// assert_eq!(parse_retry_after("120", now), Some(Duration::from_secs(120)));
/// assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now), Some(Duration::from_secs(80)));
/// assert_eq!(parse_retry_after("soon", now), None);
/// ```
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Absurdly long digit strings saturate instead of failing.
        return Some(Duration::from_secs(
            value.parse::<u64>().unwrap_or(u64::MAX),
        ));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn never_panics(s in ".{0,40}") {
            let _ = parse_retry_after(&s, SystemTime::now());
        }

        #[test]
        fn delta_seconds_round_trip(secs in 0u64..10_000_000) {
            prop_assert_eq!(parse_retry_after(&secs.to_string(), SystemTime::now()), Some(Duration::from_secs(secs)));
        }

        #[test]
        fn http_date_round_trip(ahead in 0u64..100_000) {
            let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600);
            let date = httpdate::fmt_http_date(now + Duration::from_secs(ahead));
            prop_assert_eq!(parse_retry_after(&date, now), Some(Duration::from_secs(ahead)));
        }
    }
}
