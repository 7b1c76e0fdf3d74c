//! [`TimeWindows`]: a backfill sliced into half-open time windows.

use std::collections::{BTreeMap, BTreeSet};

use crate::{BuildError, TimeFormat};

use super::Partition;

/// How long each window is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Step {
    /// A fixed number of seconds.
    Seconds(u64),
    /// A number of days (of 86,400 seconds, in UTC).
    Days(u32),
    /// A number of calendar months (UTC; from the 31st, a month ends on the
    /// last day of the next month).
    Months(u32),
}

/// Half-open windows `[start, end)` from a start to an end (default: the
/// time of the run) with a [`Step`]; the last window ends at the end. Each
/// window is a [`Partition`] whose values `start` and `end` (names
/// configurable) are its bounds in the chosen [`TimeFormat`], and whose key
/// is `<start>_<end>` in compact UTC (`20260101T000000Z_20260201T000000Z`).
///
/// Because the windows are half-open and adjacent, a record whose time sits
/// exactly on a boundary belongs to exactly one window — provided the API's
/// filter is half-open too (`since` inclusive, `until` exclusive).
///
/// ```
/// use haul_extractor::{Step, TimeFormat, TimeWindows};
/// let windows = TimeWindows::new("2026-01-01T00:00:00Z", Step::Months(1), TimeFormat::EpochSeconds)?
///     .end("2026-03-15T00:00:00Z")?
///     .windows(0);
/// assert_eq!(windows.len(), 3);
/// assert_eq!(windows[1].get("start"), Some("1769904000")); // 2026-02-01
/// assert_eq!(windows[2].get("end"), Some("1773532800")); // 2026-03-15
/// assert_eq!(windows[0].key(), "20260101T000000Z_20260201T000000Z");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeWindows {
    start: i64,
    end: Option<i64>,
    step: Step,
    format: TimeFormat,
    start_name: String,
    end_name: String,
}

impl TimeWindows {
    /// Windows from `start` (RFC 3339) to the time of the run.
    pub fn new(start: &str, step: Step, format: TimeFormat) -> Result<Self, BuildError> {
        Self::from_epoch(parse(start)?, step, format)
    }

    /// Windows from `start` (seconds since the epoch) to the time of the run.
    pub fn from_epoch(start: i64, step: Step, format: TimeFormat) -> Result<Self, BuildError> {
        let empty = match step {
            Step::Seconds(s) => s == 0,
            Step::Days(d) => d == 0,
            Step::Months(m) => m == 0,
        };
        if empty {
            return Err(BuildError::Invalid(
                "a time window step must be positive".into(),
            ));
        }
        Ok(Self {
            start,
            end: None,
            step,
            format,
            start_name: "start".into(),
            end_name: "end".into(),
        })
    }

    /// Ends the windows at `end` (RFC 3339) instead of the time of the run.
    pub fn end(self, end: &str) -> Result<Self, BuildError> {
        Ok(self.end_epoch(parse(end)?))
    }

    /// Ends the windows at `end` (seconds since the epoch).
    pub fn end_epoch(mut self, end: i64) -> Self {
        self.end = Some(end);
        self
    }

    /// Names the two values (default `start` and `end`).
    pub fn names(mut self, start: impl Into<String>, end: impl Into<String>) -> Self {
        self.start_name = start.into();
        self.end_name = end.into();
        self
    }

    pub(crate) fn value_names(&self) -> BTreeSet<String> {
        BTreeSet::from([self.start_name.clone(), self.end_name.clone()])
    }

    /// The windows, with `now` (seconds since the epoch) as the end unless
    /// one was set. Empty when the end is not after the start.
    pub fn windows(&self, now: i64) -> Vec<Partition> {
        let end = self.end.unwrap_or(now);
        let mut out = Vec::new();
        let mut from = self.start;
        while from < end {
            let to = self.advance(from).min(end);
            let values = BTreeMap::from([
                (self.start_name.clone(), write(self.format, from)),
                (self.end_name.clone(), write(self.format, to)),
            ]);
            out.push(Partition::from_stored(
                format!("{}_{}", compact(from), compact(to)),
                values,
            ));
            if to <= from {
                break;
            }
            from = to;
        }
        out
    }

    fn advance(&self, from: i64) -> i64 {
        match self.step {
            Step::Seconds(s) => from.saturating_add(i64::try_from(s).unwrap_or(i64::MAX)),
            Step::Days(d) => from.saturating_add(i64::from(d) * 86_400),
            Step::Months(m) => add_months(from, m),
        }
    }
}

fn parse(text: &str) -> Result<i64, BuildError> {
    TimeFormat::Rfc3339
        .parse(text)
        .map(|t| t.as_second())
        .map_err(|e| BuildError::Invalid(format!("window bound {text:?}: {e}")))
}

fn timestamp(secs: i64) -> jiff::Timestamp {
    // Out-of-range instants (beyond year 9999) clamp to the largest one.
    jiff::Timestamp::from_second(secs).unwrap_or(jiff::Timestamp::MAX)
}

/// `secs` written in `format`.
fn write(format: TimeFormat, secs: i64) -> String {
    format.format(timestamp(secs))
}

fn rfc3339(secs: i64) -> String {
    write(TimeFormat::Rfc3339, secs)
}

/// `20260101T000000Z`: RFC 3339 without separators, safe in keys and file names.
fn compact(secs: i64) -> String {
    rfc3339(secs).replace(['-', ':'], "")
}

fn add_months(secs: i64, months: u32) -> i64 {
    let days = secs.div_euclid(86_400);
    let time = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let total = y * 12 + (m - 1) + i64::from(months);
    let (ny, nm) = (total.div_euclid(12), total.rem_euclid(12) + 1);
    let nd = d.min(days_in_month(ny, nm));
    days_from_civil(ny, nm, nd) * 86_400 + time
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
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
    fn twelve_monthly_windows_cover_a_year_without_gaps() {
        let w = TimeWindows::new("2025-01-01T00:00:00Z", Step::Months(1), TimeFormat::Rfc3339)
            .unwrap()
            .end("2026-01-01T00:00:00Z")
            .unwrap()
            .windows(0);
        assert_eq!(w.len(), 12);
        assert_eq!(w[1].get("start"), Some("2025-02-01T00:00:00Z"));
        assert_eq!(w[1].get("end"), Some("2025-03-01T00:00:00Z"));
        for pair in w.windows(2) {
            assert_eq!(pair[0].get("end"), pair[1].get("start"));
        }
        assert_eq!(w[11].get("end"), Some("2026-01-01T00:00:00Z"));
    }

    #[test]
    fn month_ends_clamp_and_millis_are_exact() {
        let jan31 = parse("2024-01-31T12:00:00Z").unwrap();
        assert_eq!(rfc3339(add_months(jan31, 1)), "2024-02-29T12:00:00Z");
        assert_eq!(write(TimeFormat::EpochMillis, 1), "1000");
        assert!(TimeWindows::from_epoch(0, Step::Days(0), TimeFormat::Rfc3339).is_err());
    }

    proptest! {
        #[test]
        fn windows_tile_the_range(start in 0i64..4_000_000_000, len in 0i64..400_000_000, step in 1u64..40_000_000) {
            let w = TimeWindows::from_epoch(start, Step::Seconds(step), TimeFormat::EpochSeconds)
                .unwrap()
                .end_epoch(start + len)
                .windows(0);
            let mut at = start;
            for p in &w {
                let expected = at.to_string();
                prop_assert_eq!(p.get("start"), Some(expected.as_str()));
                let end: i64 = p.get("end").unwrap().parse().unwrap();
                prop_assert!(end > at);
                at = end;
            }
            prop_assert_eq!(at, if len > 0 { start + len } else { start });
            prop_assert!(w.len() as i64 <= len / i64::try_from(step).unwrap() + 1);
        }
    }
}
