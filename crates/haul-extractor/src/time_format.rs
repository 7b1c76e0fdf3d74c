//! [`TimeFormat`]: how a time is written in a watermark field or a bound, with
//! parsing, formatting and arithmetic done by the `jiff` crate.

use std::fmt;

use jiff::{SignedDuration, Timestamp};

/// How a time is written: in the destination's watermark field
/// ([`Incremental::watermark_format`](crate::Incremental::watermark_format))
/// and in the bound sent to the API
/// ([`Incremental::bound_format`](crate::Incremental::bound_format)).
///
/// A number is never guessed to be seconds or milliseconds from its size:
/// the unit is part of the format, and a bare number read as RFC 3339 is an
/// [`IncrementalError::NumberWithoutUnit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum TimeFormat {
    /// RFC 3339. Read: any offset (`Z`, `+02:00`) and any fraction.
    /// Written: UTC, whole seconds, rounded down (`2026-01-01T00:00:30Z`).
    #[default]
    Rfc3339,
    /// RFC 3339 with milliseconds. Read like [`Rfc3339`](Self::Rfc3339).
    /// Written: UTC, rounded down to the millisecond (`2026-01-01T00:00:30.123Z`).
    Rfc3339Millis,
    /// Seconds since the Unix epoch, a decimal number. Read: fractions kept
    /// (`1767225690.25`). Written: whole seconds, rounded down.
    EpochSeconds,
    /// Milliseconds since the Unix epoch, a decimal number (HubSpot and many
    /// internal APIs). Read: fractions kept. Written: whole milliseconds,
    /// rounded down.
    EpochMillis,
}

/// The name of [`TimeFormat`] when it only described the bound.
pub type BoundFormat = TimeFormat;

impl fmt::Display for TimeFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TimeFormat::Rfc3339 => "RFC 3339",
            TimeFormat::Rfc3339Millis => "RFC 3339 with milliseconds",
            TimeFormat::EpochSeconds => "epoch seconds",
            TimeFormat::EpochMillis => "epoch milliseconds",
        })
    }
}

/// Why an incremental bound could not be computed or placed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IncrementalError {
    /// A bare number where RFC 3339 was configured: its unit is unknown.
    #[error(
        "the watermark {value:?} is a number, but the watermark format is RFC 3339; say its unit with \
         `Incremental::watermark_format(TimeFormat::EpochSeconds)` or `TimeFormat::EpochMillis`"
    )]
    NumberWithoutUnit {
        /// The watermark as stored.
        value: String,
    },
    /// The value is not written in the configured format.
    #[error(
        "the watermark {value:?} is not {format} ({reason}); set the format the destination stores \
         with `Incremental::watermark_format`"
    )]
    NotInFormat {
        /// The watermark as stored.
        value: String,
        /// The configured format.
        format: TimeFormat,
        /// What did not parse.
        reason: String,
    },
    /// The value parses, but as an instant outside years -9999..=9999.
    #[error("the watermark {value:?} read as {format} is outside the years -9999..=9999{hint}")]
    OutOfRange {
        /// The watermark as stored.
        value: String,
        /// The configured format.
        format: TimeFormat,
        /// A suggestion (a millisecond value read as seconds, say).
        hint: &'static str,
    },
    /// The watermark minus the lookback is before the earliest instant.
    #[error("the watermark {value:?} minus the lookback of {lookback:?} is before the year -9999")]
    LookbackTooLong {
        /// The watermark as stored.
        value: String,
        /// The configured lookback.
        lookback: std::time::Duration,
    },
    /// The bound cannot be put where the placement says.
    #[error("cannot place the incremental bound {bound:?} ({placement}): {reason}")]
    Placement {
        /// The bound (or the rendered template).
        bound: String,
        /// Where it should have gone.
        placement: String,
        /// Why it could not.
        reason: String,
    },
}

impl TimeFormat {
    /// Reads `text` as an instant in this format.
    pub(crate) fn parse(self, text: &str) -> Result<Timestamp, IncrementalError> {
        let text = text.trim();
        match self {
            TimeFormat::Rfc3339 | TimeFormat::Rfc3339Millis => {
                if parse_decimal(text, 0).is_some() {
                    return Err(IncrementalError::NumberWithoutUnit { value: text.into() });
                }
                text.parse::<Timestamp>()
                    .map_err(|e| IncrementalError::NotInFormat {
                        value: text.into(),
                        format: self,
                        reason: e.to_string(),
                    })
            }
            TimeFormat::EpochSeconds | TimeFormat::EpochMillis => {
                let scale = if self == TimeFormat::EpochSeconds {
                    9
                } else {
                    6
                };
                let nanos =
                    parse_decimal(text, scale).ok_or_else(|| IncrementalError::NotInFormat {
                        value: text.into(),
                        format: self,
                        reason:
                            "expected a plain decimal number such as 1767225600 or 1767225600.5"
                                .into(),
                    })?;
                Timestamp::from_nanosecond(nanos).map_err(|_| IncrementalError::OutOfRange {
                    value: text.into(),
                    format: self,
                    hint: if self == TimeFormat::EpochSeconds {
                        "; if it counts milliseconds, use `TimeFormat::EpochMillis`"
                    } else {
                        ""
                    },
                })
            }
        }
    }

    /// Writes `at` in this format, rounded down to the format's precision so
    /// the text never names a later instant than `at`.
    pub(crate) fn format(self, at: Timestamp) -> String {
        let nanos = at.as_nanosecond();
        match self {
            TimeFormat::Rfc3339 => format!("{:.0}", floor_to(nanos, 1_000_000_000)),
            TimeFormat::Rfc3339Millis => format!("{:.3}", floor_to(nanos, 1_000_000)),
            TimeFormat::EpochSeconds => nanos.div_euclid(1_000_000_000).to_string(),
            TimeFormat::EpochMillis => nanos.div_euclid(1_000_000).to_string(),
        }
    }
}

/// `at - lookback`, or `None` before the earliest instant.
pub(crate) fn minus(at: Timestamp, lookback: std::time::Duration) -> Option<Timestamp> {
    let lookback = SignedDuration::try_from(lookback).ok()?;
    at.checked_sub(lookback).ok()
}

/// `nanos` rounded down to a multiple of `unit` nanoseconds, as a timestamp.
fn floor_to(nanos: i128, unit: i128) -> Timestamp {
    let floored = nanos.div_euclid(unit) * unit;
    // Rounding down an in-range timestamp to a whole second stays within
    // jiff's range, whose ends are whole seconds; the fallback is unreachable.
    Timestamp::from_nanosecond(floored).unwrap_or(Timestamp::MIN)
}

/// Parses a plain decimal number (`-12`, `1767225600.25`) and scales it by
/// 10^`scale`, rounding down any digits beyond. `None` for anything else
/// (exponents, `NaN`, signs in the middle, more than 40 digits).
fn parse_decimal(text: &str, scale: u32) -> Option<i128> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let is_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !is_digits(whole) || !is_digits(fraction) || digits.len() > 40 {
        return None;
    }
    if digits.ends_with('.') {
        return None;
    }
    let scale_usize = scale as usize;
    let kept = &fraction[..fraction.len().min(scale_usize)];
    let dropped_nonzero =
        fraction.len() > scale_usize && fraction[scale_usize..].bytes().any(|b| b != b'0');
    let mut value: i128 = whole.parse().ok()?;
    value = value.checked_mul(10i128.pow(scale))?;
    if !kept.is_empty() {
        let padded: i128 = kept.parse().ok()?;
        let pad = 10i128.pow(scale - u32::try_from(kept.len()).ok()?);
        value = value.checked_add(padded.checked_mul(pad)?)?;
    }
    Some(if negative {
        // Digits beyond the precision make a negative number smaller still.
        -value - i128::from(dropped_nonzero)
    } else {
        value
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ts(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn rfc3339_accepts_offsets_and_fractions() {
        let f = TimeFormat::Rfc3339;
        assert_eq!(
            f.parse("2026-01-01T00:00:00Z").unwrap().as_second(),
            1_767_225_600
        );
        assert_eq!(
            f.parse("2026-01-01T01:00:00+01:00").unwrap(),
            f.parse("2026-01-01T00:00:00Z").unwrap()
        );
        assert_eq!(
            f.parse("2025-12-31T23:30:00.250-00:30").unwrap(),
            ts("2026-01-01T00:00:00.25Z")
        );
        assert_eq!(
            f.format(ts("2024-02-29T12:00:00.999Z")),
            "2024-02-29T12:00:00Z"
        );
        assert_eq!(
            TimeFormat::Rfc3339Millis.format(ts("2024-02-29T12:00:00.9999Z")),
            "2024-02-29T12:00:00.999Z"
        );
        assert_eq!(
            TimeFormat::Rfc3339Millis.format(ts("2024-02-29T12:00:00Z")),
            "2024-02-29T12:00:00.000Z"
        );
        assert!(matches!(
            f.parse("2026-13-01T00:00:00Z"),
            Err(IncrementalError::NotInFormat { .. })
        ));
        assert!(matches!(
            f.parse("yesterday"),
            Err(IncrementalError::NotInFormat { .. })
        ));
    }

    #[test]
    fn a_bare_number_needs_a_unit() {
        let error = TimeFormat::Rfc3339.parse("1767225690123").unwrap_err();
        assert!(matches!(error, IncrementalError::NumberWithoutUnit { .. }));
        assert!(
            error.to_string().contains("TimeFormat::EpochMillis"),
            "{error}"
        );
    }

    #[test]
    fn epoch_units_are_explicit() {
        let millis = TimeFormat::EpochMillis.parse("1767225690123").unwrap();
        assert_eq!(millis.as_millisecond(), 1_767_225_690_123);
        assert_eq!(TimeFormat::EpochMillis.format(millis), "1767225690123");
        assert_eq!(TimeFormat::EpochSeconds.format(millis), "1767225690");
        assert_eq!(
            TimeFormat::Rfc3339Millis.format(millis),
            "2026-01-01T00:01:30.123Z"
        );
        let secs = TimeFormat::EpochSeconds.parse("1767225690.5").unwrap();
        assert_eq!(secs.as_millisecond(), 1_767_225_690_500);
        assert_eq!(TimeFormat::EpochSeconds.format(secs), "1767225690");
        // A millisecond value read as seconds is far outside any calendar:
        // a typed error that names the fix, never a silent year 57,970.
        let error = TimeFormat::EpochSeconds.parse("1767225690123").unwrap_err();
        assert!(matches!(error, IncrementalError::OutOfRange { .. }));
        assert!(error.to_string().contains("EpochMillis"), "{error}");
        assert!(matches!(
            TimeFormat::EpochMillis.parse("2026-01-01T00:00:00Z"),
            Err(IncrementalError::NotInFormat { .. })
        ));
        for bad in ["", "1e12", "NaN", "1.", ".5", "--1", "1 2", "0x10"] {
            assert!(TimeFormat::EpochSeconds.parse(bad).is_err(), "{bad:?}");
        }
        // Before 1970, rounding down goes to the earlier second.
        let before = TimeFormat::EpochSeconds.parse("-1.5").unwrap();
        assert_eq!(before.as_millisecond(), -1_500);
        assert_eq!(TimeFormat::EpochSeconds.format(before), "-2");
        assert_eq!(TimeFormat::Rfc3339.format(before), "1969-12-31T23:59:58Z");
    }

    #[test]
    fn decimals_scale_and_round_down() {
        assert_eq!(parse_decimal("12", 3), Some(12_000));
        assert_eq!(parse_decimal("12.3456", 3), Some(12_345));
        assert_eq!(parse_decimal("-12.3456", 3), Some(-12_346));
        assert_eq!(parse_decimal("-12.3450", 3), Some(-12_345));
        assert_eq!(parse_decimal("+7", 0), Some(7));
        assert_eq!(parse_decimal("1.5", 0), Some(1));
    }

    /// Every format, for the property tests here and in `incremental`.
    pub(crate) fn format_strategy() -> impl Strategy<Value = TimeFormat> {
        prop_oneof![
            Just(TimeFormat::Rfc3339),
            Just(TimeFormat::Rfc3339Millis),
            Just(TimeFormat::EpochSeconds),
            Just(TimeFormat::EpochMillis),
        ]
    }

    /// Instants in years 1000-3000 with nanosecond precision.
    fn instant() -> impl Strategy<Value = Timestamp> {
        (-30_000_000_000i64..32_000_000_000, 0i32..1_000_000_000)
            .prop_map(|(s, n)| Timestamp::new(s, n).unwrap())
    }

    proptest! {
        #[test]
        fn written_then_read_is_the_instant_rounded_down(at in instant(), format in format_strategy()) {
            let text = format.format(at);
            let back = format.parse(&text).unwrap();
            prop_assert!(back <= at, "{text}");
            let unit = match format {
                TimeFormat::Rfc3339 | TimeFormat::EpochSeconds => 1_000_000_000,
                _ => 1_000_000,
            };
            prop_assert!(at.as_nanosecond() - back.as_nanosecond() < unit, "{text}");
            // Writing what was read changes nothing: a fixed point.
            prop_assert_eq!(format.format(back), text);
        }

        #[test]
        fn whole_units_round_trip_exactly(ms in -30_000_000_000_000i64..32_000_000_000_000) {
            let at = Timestamp::from_millisecond(ms).unwrap();
            for format in [TimeFormat::Rfc3339Millis, TimeFormat::EpochMillis] {
                prop_assert_eq!(format.parse(&format.format(at)).unwrap(), at);
            }
            let secs = Timestamp::from_second(ms.div_euclid(1000)).unwrap();
            for format in [TimeFormat::Rfc3339, TimeFormat::EpochSeconds] {
                prop_assert_eq!(format.parse(&format.format(secs)).unwrap(), secs);
            }
        }

        #[test]
        fn order_is_preserved_between_units(a in instant(), b in instant(), from in format_strategy(), to in format_strategy()) {
            // Written in one format and re-read, then written in another,
            // two instants never swap order (ties may appear from rounding).
            let (a2, b2) = (from.parse(&from.format(a)).unwrap(), from.parse(&from.format(b)).unwrap());
            let (a3, b3) = (to.parse(&to.format(a2)).unwrap(), to.parse(&to.format(b2)).unwrap());
            if a <= b {
                prop_assert!(a2 <= b2 && a3 <= b3);
            } else {
                prop_assert!(a2 >= b2 && a3 >= b3);
            }
        }

        #[test]
        fn parsing_never_panics(s in ".{0,40}", format in format_strategy()) {
            let _ = format.parse(&s);
        }

        #[test]
        fn numbers_never_panic(s in "[-+]?[0-9]{0,45}(\\.[0-9]{0,45})?", format in format_strategy()) {
            let _ = format.parse(&s);
        }
    }
}
