//! Parsing `Retry-After` (RFC 9110 §10.2.3): delta-seconds or an HTTP-date.

use std::time::{Duration, SystemTime};

/// Parses a `Retry-After` value relative to `now`.
///
/// Accepts delta-seconds (`"120"`), decimal seconds (`"2.0"`, rounded up to the millisecond) and HTTP-dates (`"Wed, 21 Oct 2015 07:28:00 GMT"`).
/// A date in the past means "now" (zero). Anything else is `None`.
///
/// ```
/// use std::time::{Duration, SystemTime, UNIX_EPOCH};
/// use haul_retry::parse_retry_after;
/// let now = UNIX_EPOCH + Duration::from_secs(1_445_412_400); // 2015-10-21T07:26:40Z
/// assert_eq!(parse_retry_after("120", now), Some(Duration::from_secs(120)));
/// assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now), Some(Duration::from_secs(80)));
/// assert_eq!(parse_retry_after("soon", now), None);
/// // Shopify sends seconds with a fraction.
/// assert_eq!(parse_retry_after("2.0", now), Some(Duration::from_secs(2)));
/// assert_eq!(parse_retry_after("0.0015", now), Some(Duration::from_millis(2)));
/// ```
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Absurdly long digit strings saturate instead of failing.
        return Some(Duration::from_secs(
            value.parse::<u64>().unwrap_or(u64::MAX),
        ));
    }
    if let Some(delay) = decimal_seconds(value) {
        return Some(delay);
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Seconds with a fraction, as Shopify sends them (`"2.0"`): not RFC 9110's
/// delta-seconds, but unambiguous. Rounded up to the millisecond, so the
/// wait is never shorter than asked.
fn decimal_seconds(value: &str) -> Option<Duration> {
    let (whole, fraction) = value.split_once('.')?;
    if whole.is_empty()
        || fraction.is_empty()
        || !whole
            .bytes()
            .chain(fraction.bytes())
            .all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let secs = whole.parse::<u64>().unwrap_or(u64::MAX);
    // The first three digits are milliseconds; any further non-zero digit rounds up.
    let mut millis = 0u64;
    for (i, digit) in fraction.bytes().take(3).enumerate() {
        millis += u64::from(digit - b'0') * 10u64.pow(2 - i as u32);
    }
    if fraction.bytes().skip(3).any(|b| b != b'0') {
        millis += 1;
    }
    Some(Duration::from_secs(secs).saturating_add(Duration::from_millis(millis)))
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
