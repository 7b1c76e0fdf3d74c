//! [`Incremental`]: start from the destination's own watermark minus a lookback.

use std::time::Duration;

/// How the lower bound is written into the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum BoundFormat {
    /// RFC 3339 UTC, e.g. `2026-01-01T00:00:00Z`.
    #[default]
    Rfc3339,
    /// Seconds since the Unix epoch.
    EpochSeconds,
}

/// Incremental extraction: a fresh pass reads `max(field)` from the sink,
/// subtracts the lookback margin, and sends it as the API's "updated since"
/// parameter. The overlap is removed by the sink's primary-key upsert.
///
/// ```
/// use haul_extractor::{BoundFormat, Incremental};
/// use std::time::Duration;
/// let inc = Incremental::new("/updated_at", "updated_since").lookback(Duration::from_secs(60));
/// assert_eq!(inc.lower_bound("2026-01-01T00:01:30Z").as_deref(), Some("2026-01-01T00:00:30Z"));
/// let epoch = inc.clone().format(BoundFormat::EpochSeconds);
/// assert_eq!(epoch.lower_bound("1767225690").as_deref(), Some("1767225630"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incremental {
    pub(crate) field: String,
    pub(crate) param: String,
    pub(crate) lookback: Duration,
    pub(crate) format: BoundFormat,
}

impl Incremental {
    /// Watermark field `field` (a JSON pointer), sent as query parameter `param`;
    /// lookback 60 s, RFC 3339.
    pub fn new(field: impl Into<String>, param: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            param: param.into(),
            lookback: Duration::from_secs(60),
            format: BoundFormat::Rfc3339,
        }
    }

    /// The safety margin subtracted from the watermark (late writes, clock skew).
    pub fn lookback(mut self, lookback: Duration) -> Self {
        self.lookback = lookback;
        self
    }

    /// How the bound is written.
    pub fn format(mut self, format: BoundFormat) -> Self {
        self.format = format;
        self
    }

    /// The watermark field (JSON pointer).
    pub fn field(&self) -> &str {
        &self.field
    }

    /// The bound to send for watermark `watermark` (RFC 3339 or epoch seconds),
    /// or `None` if the watermark cannot be parsed.
    pub fn lower_bound(&self, watermark: &str) -> Option<String> {
        let secs = parse_instant(watermark)?;
        let bound = secs - i64::try_from(self.lookback.as_secs()).ok()?;
        Some(match self.format {
            BoundFormat::Rfc3339 => format_rfc3339(bound),
            BoundFormat::EpochSeconds => bound.to_string(),
        })
    }
}

/// Parses an RFC 3339 timestamp or epoch seconds into whole epoch seconds
/// (fractions are truncated, which only widens the lookback window).
pub fn parse_instant(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Ok(n) = text.parse::<f64>() {
        return (n.is_finite() && n.abs() < 1e13).then_some(n.floor() as i64);
    }
    let b = text.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| text.get(r)?.parse::<i64>().ok();
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut rest = &text[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        rest = &frac[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            if rest.len() != 6 || rest.as_bytes()[3] != b':' {
                return None;
            }
            let h = rest.get(1..3)?.parse::<i64>().ok()?;
            let m = rest.get(4..6)?.parse::<i64>().ok()?;
            sign * (h * 3600 + m * 60)
        }
    };
    Some(days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset)
}

/// Formats epoch seconds as RFC 3339 UTC.
pub fn format_rfc3339(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let tod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        tod / 3600,
        (tod % 3600) / 60,
        tod % 60
    )
}

// Howard Hinnant's proleptic Gregorian calendar algorithms.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_instants() {
        assert_eq!(parse_instant("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_instant("2026-01-01T00:00:00Z"), Some(1_767_225_600));
        assert_eq!(
            parse_instant("2026-01-01T01:00:00+01:00"),
            Some(1_767_225_600)
        );
        assert_eq!(
            parse_instant("2026-01-01T00:00:00.999Z"),
            Some(1_767_225_600)
        );
        assert_eq!(
            parse_instant("2024-02-29T12:00:00Z")
                .map(format_rfc3339)
                .as_deref(),
            Some("2024-02-29T12:00:00Z")
        );
        assert_eq!(parse_instant("yesterday"), None);
        assert_eq!(parse_instant("2026-13-01T00:00:00Z"), None);
    }

    proptest! {
        #[test]
        fn format_and_parse_round_trip(secs in -10_000_000_000i64..100_000_000_000) {
            prop_assert_eq!(parse_instant(&format_rfc3339(secs)), Some(secs));
        }

        #[test]
        fn parsing_never_panics(s in ".{0,40}") {
            let _ = parse_instant(&s);
        }
    }
}
