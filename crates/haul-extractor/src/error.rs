//! [`ExtractError`]: why a run stopped.

use haul_core::{CheckpointError, MaskedUrl, TransportError};
use haul_paginate::PaginateError;
use haul_retry::GiveUp;
use haul_sink::SinkError;
use http::StatusCode;

/// Why an extraction stopped. Everything fetched before the failure has been
/// committed with its checkpoint by the time this is returned from `run`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExtractError {
    /// The request never got a usable response.
    #[error("{source} (after {attempts} attempt(s); {gave_up})")]
    Transport {
        /// The last transport failure.
        #[source]
        source: TransportError,
        /// Attempts made.
        attempts: u32,
        /// Why retrying stopped.
        gave_up: GiveUp,
    },
    /// The server answered with a status that is not success.
    #[error(
        "HTTP {status} from {url} (after {attempts} attempt(s); {gave_up}); body starts: {preview}"
    )]
    Http {
        /// The status.
        status: StatusCode,
        /// Masked URL.
        url: MaskedUrl,
        /// At most 500 bytes of the body.
        preview: String,
        /// Attempts made.
        attempts: u32,
        /// Why retrying stopped.
        gave_up: GiveUp,
    },
    /// A page answered empty (a `204`, or no records) where earlier pages
    /// promised one — `has_more: true`, a cursor or next link leading to it,
    /// a total not yet reached — and kept doing so through the retries.
    /// Ending the pass there would silently lose the rest of the listing;
    /// everything before the page is committed.
    #[error(
        "page {page} ({url}) answered {answer}, although {promise} (after {attempts} attempt(s); {gave_up}); everything before it is committed, and the next run resumes at this page"
    )]
    Contradiction {
        /// 1-based number of the page in the pass.
        page: u64,
        /// Masked URL of the page.
        url: MaskedUrl,
        /// What came back (`HTTP 204 No Content without a body`, `HTTP 200 OK with no records`).
        answer: String,
        /// The promise it broke.
        promise: String,
        /// Attempts made.
        attempts: u32,
        /// Why retrying stopped.
        gave_up: GiveUp,
    },
    /// Pagination failed (cycle, max pages, bad body, …).
    #[error(transparent)]
    Paginate(#[from] PaginateError),
    /// The sink failed.
    #[error("sink failed: {0}")]
    Sink(#[from] SinkError),
    /// The stored checkpoint cannot be used.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// The rate limiter (typically from a server's announced reset) asked to
    /// wait longer than the configured maximum.
    #[error(
        "throttled: the rate limit for {url} asks to wait {wait:?}, longer than the {max:?} maximum"
    )]
    ThrottledTooLong {
        /// Masked URL of the request that would wait.
        url: MaskedUrl,
        /// The wait asked for.
        wait: std::time::Duration,
        /// The configured maximum.
        max: std::time::Duration,
    },
    /// A page carried more records than the configured sanity limit.
    #[error("the page from {url} has {count} records, more than the limit of {max}")]
    TooManyRecords {
        /// Masked URL.
        url: MaskedUrl,
        /// Records on the page.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// The run was asked to stop; everything fetched was committed and the
    /// stream resumes from there on the next run.
    #[error(
        "stopped on request after page {pages}; everything fetched is committed and the next run resumes from there"
    )]
    Interrupted {
        /// What the run did before it stopped.
        summary: Box<crate::RunSummary>,
        /// Pages of the pass committed.
        pages: u64,
    },
    /// The incremental bound could not be computed from the destination's
    /// watermark, or not placed into the request.
    #[error("incremental stream {stream:?}: {source}")]
    Incremental {
        /// The stream.
        stream: String,
        /// What went wrong.
        #[source]
        source: crate::IncrementalError,
    },
    /// A partition's values cannot fill the stream's request template.
    #[error(transparent)]
    Template(#[from] crate::TemplateError),
    /// The run failed, and committing what was fetched before the failure failed too.
    #[error("{original}; additionally, committing the records fetched before it failed: {commit}")]
    CommitAfterFailure {
        /// The failure that stopped the run.
        original: Box<ExtractError>,
        /// The failure while committing.
        commit: SinkError,
    },
}

/// The extractor was configured wrongly.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// A required part is missing.
    #[error("missing {0}: set it on the builder")]
    Missing(&'static str),
    /// The URL is not valid.
    #[error("invalid URL: {0}")]
    Url(#[from] url::ParseError),
    /// The default transport could not be built.
    #[error(transparent)]
    Transport(#[from] haul_transport::BuildError),
    /// An option is out of range.
    #[error("invalid option: {0}")]
    Invalid(String),
}
