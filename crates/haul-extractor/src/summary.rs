//! [`RunSummary`]: what a run did.

use std::time::Duration;

use serde::Serialize;

/// Counters of one run of one stream.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RunSummary {
    /// Stream name.
    pub stream: String,
    /// Records fetched in this run.
    pub records: u64,
    /// Pages fetched in this run.
    pub pages: u64,
    /// HTTP requests sent (retries included).
    pub requests: u64,
    /// Retries scheduled.
    pub retries: u64,
    /// Time spent waiting for the rate limiter or a throttling server.
    #[serde(serialize_with = "millis", rename = "throttle_wait_ms")]
    pub throttle_wait: Duration,
    /// Response body bytes received.
    pub bytes: u64,
    /// Wall time of the run.
    #[serde(serialize_with = "millis", rename = "elapsed_ms")]
    pub elapsed: Duration,
    /// Records whose incremental watermark field was missing or unparsable.
    pub records_without_watermark: u64,
    /// The page the run resumed after (0 for a fresh pass).
    pub resumed_after_page: u64,
    /// Whether the stream finished its pass.
    pub finished: bool,
    /// Why the pass ended ([`PassEnd::NotEnded`] while it has not).
    pub end: PassEnd,
}

/// Why a pass ended: read it next to [`RunSummary::finished`] to tell a
/// dataset walked to its announced end from one a guard cut short.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum PassEnd {
    /// The pass has not ended (the run failed or was stopped; it resumes).
    #[default]
    NotEnded,
    /// The API said the dataset was exhausted: no next page, `has_more:
    /// false`, a total reached, an empty page where one is plausible.
    Exhausted,
    /// Several consecutive pages had no records while the API still offered
    /// a next page; the empty-pages guard ended the pass
    /// ([`ExtractorBuilder::max_empty_pages`](crate::ExtractorBuilder::max_empty_pages)).
    /// Everything fetched is committed.
    EmptyPages,
    /// Every page up to the announced total was fetched, and a request past
    /// it (a total that shrank mid-run, or a checkpoint stored past the end)
    /// answered `404` or an empty page.
    PastEnd,
}

impl std::fmt::Display for PassEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PassEnd::NotEnded => "not ended",
            PassEnd::Exhausted => "dataset exhausted",
            PassEnd::EmptyPages => "ended by the empty-pages guard",
            PassEnd::PastEnd => "ended past the announced total",
        })
    }
}

fn millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl std::fmt::Display for RunSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secs = self.elapsed.as_secs_f64();
        let rate = if secs > 0.0 {
            self.records as f64 / secs
        } else {
            0.0
        };
        write!(
            f,
            "{}: {} records in {} pages, {} requests, {} retries, {} throttled, {:.1} MiB in {} ({:.0} records/s)",
            self.stream,
            self.records,
            self.pages,
            self.requests,
            self.retries,
            HumanDuration(self.throttle_wait),
            self.bytes as f64 / (1024.0 * 1024.0),
            HumanDuration(self.elapsed),
            rate
        )?;
        match self.end {
            // Said out loud when a guard, not the API, ended the pass.
            PassEnd::EmptyPages | PassEnd::PastEnd => write!(f, "; {}", self.end),
            _ => Ok(()),
        }
    }
}

/// A duration as people write it: `0 s`, `350 ms`, `1.2 s`, `3 min 4 s`,
/// `2 h 5 min` (never `0.0ns`). Rounds down past the shown precision.
///
/// ```
/// use haul_extractor::HumanDuration;
/// use std::time::Duration;
/// assert_eq!(HumanDuration(Duration::ZERO).to_string(), "0 s");
/// assert_eq!(HumanDuration(Duration::from_millis(1_250)).to_string(), "1.2 s");
/// assert_eq!(HumanDuration(Duration::from_secs(184)).to_string(), "3 min 4 s");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HumanDuration(pub Duration);

impl std::fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let d = self.0;
        let secs = d.as_secs();
        if d.is_zero() {
            f.write_str("0 s")
        } else if d < Duration::from_millis(1) {
            f.write_str("<1 ms")
        } else if d < Duration::from_secs(1) {
            write!(f, "{} ms", d.as_millis())
        } else if secs < 60 {
            let tenths = d.as_millis() / 100 % 10;
            if tenths == 0 {
                write!(f, "{secs} s")
            } else {
                write!(f, "{secs}.{tenths} s")
            }
        } else if secs < 3600 {
            match secs % 60 {
                0 => write!(f, "{} min", secs / 60),
                s => write!(f, "{} min {s} s", secs / 60),
            }
        } else {
            match secs / 60 % 60 {
                0 => write!(f, "{} h", secs / 3600),
                m => write!(f, "{} h {m} min", secs / 3600),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_people_write_them() {
        let cases = [
            (Duration::ZERO, "0 s"),
            (Duration::from_nanos(1), "<1 ms"),
            (Duration::from_micros(999), "<1 ms"),
            (Duration::from_millis(1), "1 ms"),
            (Duration::from_millis(350), "350 ms"),
            (Duration::from_millis(1_000), "1 s"),
            (Duration::from_millis(1_299), "1.2 s"),
            (Duration::from_millis(59_999), "59.9 s"),
            (Duration::from_secs(60), "1 min"),
            (Duration::from_secs(184), "3 min 4 s"),
            (Duration::from_secs(3_600), "1 h"),
            (Duration::from_secs(7_500), "2 h 5 min"),
        ];
        for (d, text) in cases {
            assert_eq!(HumanDuration(d).to_string(), text, "{d:?}");
        }
        let summary = RunSummary::default();
        assert!(
            summary.to_string().contains(", 0 s throttled,"),
            "{summary}"
        );
        assert!(!summary.to_string().contains("ns"), "{summary}");
    }
}
