//! [`Incremental`]: start from the destination's own watermark minus a lookback.

use std::time::Duration;

use haul_core::Request;

use crate::time_format::minus;
use crate::{BoundPlacement, IncrementalError, TimeFormat};

/// Incremental extraction: a fresh pass reads `max(field)` from the sink,
/// subtracts the lookback margin, and sends the result as the API's "updated
/// since" bound. The overlap is removed by the sink's primary-key upsert.
///
/// Times are read in the [`watermark_format`](Self::watermark_format) and
/// written in the [`bound_format`](Self::bound_format) (both RFC 3339 unless
/// set; [`format`](Self::format) sets both). A numeric watermark needs its
/// unit said, seconds or milliseconds: it is never guessed from its size.
/// The bound goes where its [`BoundPlacement`] says, a query parameter by
/// default.
///
/// The bound is never later than the watermark minus the lookback: the
/// arithmetic is exact (fractions of a second included), and writing the
/// bound rounds down to the format's precision.
///
/// ```
/// use haul_extractor::{Incremental, TimeFormat};
/// use std::time::Duration;
/// let inc = Incremental::new("/updated_at", "updated_since").lookback(Duration::from_secs(60));
/// assert_eq!(inc.lower_bound("2026-01-01T01:01:30.5+01:00")?, "2026-01-01T00:00:30Z");
///
/// let millis = inc.clone().format(TimeFormat::EpochMillis);
/// assert_eq!(millis.lower_bound("1767225690123")?, "1767225630123");
///
/// // A number without a unit is a typed error that names the fix.
/// let error = inc.lower_bound("1767225690123").unwrap_err();
/// assert!(error.to_string().contains("TimeFormat::EpochMillis"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incremental {
    pub(crate) field: String,
    pub(crate) placement: BoundPlacement,
    pub(crate) lookback: Duration,
    pub(crate) watermark_format: TimeFormat,
    pub(crate) bound_format: TimeFormat,
}

impl Incremental {
    /// Watermark field `field` (a JSON pointer), sent as query parameter
    /// `param`; lookback 60 s, RFC 3339.
    pub fn new(field: impl Into<String>, param: impl Into<String>) -> Self {
        Self::placed(field, BoundPlacement::query(param))
    }

    /// Watermark field `field` (a JSON pointer), with the bound placed as
    /// `placement` says; lookback 60 s, RFC 3339.
    pub fn placed(field: impl Into<String>, placement: BoundPlacement) -> Self {
        Self {
            field: field.into(),
            placement,
            lookback: Duration::from_secs(60),
            watermark_format: TimeFormat::Rfc3339,
            bound_format: TimeFormat::Rfc3339,
        }
    }

    /// The safety margin subtracted from the watermark (late writes, clock skew).
    pub fn lookback(mut self, lookback: Duration) -> Self {
        self.lookback = lookback;
        self
    }

    /// How the watermark is stored and the bound written, both at once (use
    /// [`watermark_format`](Self::watermark_format) and
    /// [`bound_format`](Self::bound_format) when they differ).
    pub fn format(mut self, format: TimeFormat) -> Self {
        self.watermark_format = format;
        self.bound_format = format;
        self
    }

    /// How the destination stores the watermark field.
    pub fn watermark_format(mut self, format: TimeFormat) -> Self {
        self.watermark_format = format;
        self
    }

    /// How the bound is written into the request.
    pub fn bound_format(mut self, format: TimeFormat) -> Self {
        self.bound_format = format;
        self
    }

    /// Where the bound goes (replaces the query parameter given to [`new`](Self::new)).
    pub fn placement(mut self, placement: BoundPlacement) -> Self {
        self.placement = placement;
        self
    }

    /// The watermark field (JSON pointer).
    pub fn field(&self) -> &str {
        &self.field
    }

    /// The lookback.
    pub fn lookback_duration(&self) -> Duration {
        self.lookback
    }

    /// The bound to send for `watermark` (as the destination stores it): the
    /// watermark minus the lookback, written in the bound format and never
    /// later than that instant.
    pub fn lower_bound(&self, watermark: &str) -> Result<String, IncrementalError> {
        let at = self.watermark_format.parse(watermark)?;
        let bound = minus(at, self.lookback).ok_or_else(|| IncrementalError::LookbackTooLong {
            value: watermark.trim().to_owned(),
            lookback: self.lookback,
        })?;
        Ok(self.bound_format.format(bound))
    }

    /// Puts `bound` into `request` as the placement says.
    pub fn place(&self, request: &mut Request, bound: &str) -> Result<(), IncrementalError> {
        self.placement.apply(request, bound)
    }

    /// Whether a record's watermark value can be read in the watermark format.
    pub(crate) fn is_usable(&self, value: &str) -> bool {
        self.watermark_format.parse(value).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::Timestamp;
    use proptest::prelude::*;

    use crate::time_format::tests::format_strategy;

    #[test]
    fn a_millisecond_watermark_gives_a_bound_exactly_lookback_earlier() {
        let inc = Incremental::new("/updatedAt", "since")
            .format(TimeFormat::EpochMillis)
            .lookback(Duration::from_millis(60_001));
        assert_eq!(inc.lower_bound("1767225690123").unwrap(), "1767225630122");
        // Milliseconds stored, seconds sent: rounded down, never later.
        let mixed = inc.clone().bound_format(TimeFormat::EpochSeconds);
        assert_eq!(mixed.lower_bound("1767225690123").unwrap(), "1767225630");
        let text = inc.clone().bound_format(TimeFormat::Rfc3339);
        assert_eq!(
            text.lower_bound("1767225690123").unwrap(),
            "2026-01-01T00:00:30Z"
        );
    }

    #[test]
    fn errors_are_typed() {
        let inc = Incremental::new("/t", "since").lookback(Duration::from_secs(1));
        assert!(matches!(
            inc.lower_bound("1767225690"),
            Err(IncrementalError::NumberWithoutUnit { .. })
        ));
        let earliest = Timestamp::MIN.as_second().to_string();
        assert!(matches!(
            inc.clone()
                .format(TimeFormat::EpochSeconds)
                .lower_bound(&earliest),
            Err(IncrementalError::LookbackTooLong { .. })
        ));
        assert!(matches!(
            inc.lookback(Duration::MAX)
                .lower_bound("2026-01-01T00:00:00Z"),
            Err(IncrementalError::LookbackTooLong { .. })
        ));
    }

    proptest! {
        #[test]
        fn the_bound_is_never_later_than_watermark_minus_lookback(
            secs in -30_000_000_000i64..32_000_000_000,
            nanos in 0i32..1_000_000_000,
            lookback_ms in 0u64..100_000_000_000,
            stored in format_strategy(),
            sent in format_strategy(),
        ) {
            // The watermark as the destination would store it.
            let truth = Timestamp::new(secs, nanos).unwrap();
            let watermark = stored.format(truth);
            let read = stored.parse(&watermark).unwrap();
            let lookback = Duration::from_millis(lookback_ms);
            let inc = Incremental::new("/t", "since")
                .watermark_format(stored)
                .bound_format(sent)
                .lookback(lookback);
            let Ok(bound) = inc.lower_bound(&watermark) else {
                // Only an instant before the year -9999 may fail.
                prop_assert!(minus(read, lookback).is_none());
                return Ok(());
            };
            let bound = sent.parse(&bound).unwrap();
            let limit = minus(read, lookback).unwrap();
            prop_assert!(bound <= limit, "{bound} > {limit}");
            // And it is not needlessly earlier: less than one unit of the bound format.
            let unit = match sent {
                TimeFormat::Rfc3339 | TimeFormat::EpochSeconds => 1_000_000_000,
                _ => 1_000_000,
            };
            prop_assert!(limit.as_nanosecond() - bound.as_nanosecond() < unit);
        }

        #[test]
        fn millisecond_bounds_are_exact(ms in 0i64..32_000_000_000_000, lookback_ms in 0u64..10_000_000_000) {
            let inc = Incremental::new("/t", "since")
                .format(TimeFormat::EpochMillis)
                .lookback(Duration::from_millis(lookback_ms));
            let bound: i64 = inc.lower_bound(&ms.to_string()).unwrap().parse().unwrap();
            prop_assert_eq!(bound, ms - lookback_ms as i64);
        }
    }
}
