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
            "{}: {} records in {} pages, {} requests, {} retries, {:.1?} throttled, {:.1} MiB in {:.2?} ({:.0} records/s)",
            self.stream,
            self.records,
            self.pages,
            self.requests,
            self.retries,
            self.throttle_wait,
            self.bytes as f64 / (1024.0 * 1024.0),
            self.elapsed,
            rate
        )?;
        match self.end {
            // Said out loud when a guard, not the API, ended the pass.
            PassEnd::EmptyPages | PassEnd::PastEnd => write!(f, "; {}", self.end),
            _ => Ok(()),
        }
    }
}
