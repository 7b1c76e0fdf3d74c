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
        "throttled: the rate limit for {url} asks to wait {wait:?}, longer than the {max:?} maximum (raise it with `ExtractorBuilder::max_throttle_wait`)"
    )]
    ThrottledTooLong {
        /// Masked URL of the request that would wait.
        url: MaskedUrl,
        /// The wait asked for.
        wait: std::time::Duration,
        /// The configured maximum.
        max: std::time::Duration,
    },
    /// The shared rate budget (see
    /// [`ExtractorBuilder::shared_budget`](crate::ExtractorBuilder::shared_budget))
    /// granted no slot for a request, which was therefore not sent: its
    /// server is unreachable under a fail-fast outage policy, or it refused
    /// the request. Everything fetched before it is committed.
    #[error("no slot of the shared rate budget for {url}, so the request was not sent: {source}")]
    SharedBudget {
        /// Masked URL of the request that was not sent.
        url: MaskedUrl,
        /// Why the budget granted no slot.
        #[source]
        source: haul_ratelimit::SharedBudgetError,
    },
    /// A page carried more records than the configured sanity limit.
    #[error(
        "the page from {url} has {count} records, more than the limit of {max} (raise it with `ExtractorBuilder::max_records_per_page`)"
    )]
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

impl ExtractError {
    /// The failure that stopped the run: for
    /// [`CommitAfterFailure`](Self::CommitAfterFailure) the original error
    /// (however deeply wrapped), for every other error itself.
    ///
    /// ```
    /// use haul_extractor::{ErrorKind, ExtractError};
    /// use haul_sink::SinkError;
    /// let error = ExtractError::CommitAfterFailure {
    ///     original: Box::new(ExtractError::Sink(SinkError::Usage("disk full".into()))),
    ///     commit: SinkError::Usage("still full".into()),
    /// };
    /// assert!(matches!(error.root(), ExtractError::Sink(_)));
    /// assert_eq!(error.kind(), ErrorKind::Sink);
    /// ```
    pub fn root(&self) -> &ExtractError {
        let mut error = self;
        while let ExtractError::CommitAfterFailure { original, .. } = error {
            error = original;
        }
        error
    }

    /// What kind of failure stopped the run (that of [`root`](Self::root)),
    /// for mapping errors to exit codes or alerts without matching every
    /// variant.
    pub fn kind(&self) -> ErrorKind {
        match self.root() {
            ExtractError::Transport { .. } => ErrorKind::Transport,
            ExtractError::Http { status, .. } if status.as_u16() == 429 => ErrorKind::Throttled,
            ExtractError::Http { status, .. } if status.is_server_error() => ErrorKind::HttpServer,
            ExtractError::Http { .. } => ErrorKind::HttpClient,
            ExtractError::ThrottledTooLong { .. } => ErrorKind::Throttled,
            ExtractError::SharedBudget { .. } => ErrorKind::SharedBudget,
            ExtractError::Paginate(_)
            | ExtractError::TooManyRecords { .. }
            | ExtractError::Contradiction { .. } => ErrorKind::Pagination,
            ExtractError::Sink(_) => ErrorKind::Sink,
            ExtractError::Checkpoint(_) => ErrorKind::Checkpoint,
            ExtractError::Incremental { .. } => ErrorKind::Incremental,
            ExtractError::Interrupted { .. } => ErrorKind::Interrupted,
            ExtractError::Template(_) => ErrorKind::Template,
            // `root` never returns this variant; a sink failure is the nearest kind.
            ExtractError::CommitAfterFailure { .. } => ErrorKind::Sink,
        }
    }
}

/// The kind of an [`ExtractError`], from [`ExtractError::kind`]. New kinds
/// may be added: match with a wildcard arm.
///
/// ```
/// use haul_extractor::ErrorKind;
/// fn exit_code(kind: ErrorKind) -> i32 {
///     match kind {
///         ErrorKind::Interrupted => 130,
///         ErrorKind::Transport | ErrorKind::HttpServer | ErrorKind::Throttled => 75, // try later
///         ErrorKind::Sink | ErrorKind::Checkpoint => 74,
///         _ => 1,
///     }
/// }
/// assert_eq!(exit_code(ErrorKind::Throttled), 75);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A partition's values could not fill its stream's request template
    /// (a missing or unsafe value, such as an empty path segment).
    Template,
    /// No usable response: connect, timeout, reset, TLS, body too large.
    Transport,
    /// The server answered 4xx (other than 429): a request or credential problem.
    HttpClient,
    /// The server answered 5xx after every retry.
    HttpServer,
    /// Rate limited: a 429 after every retry, or a wait longer than allowed.
    Throttled,
    /// The shared rate budget granted no slot (its server unreachable under
    /// a fail-fast outage policy, or a refusal): nothing was sent; try later.
    SharedBudget,
    /// Pagination failed: a cycle, the page limit, an unexpected body, a
    /// refused cross-origin link, too many records on a page, an empty page
    /// contradicting the page before.
    Pagination,
    /// The sink failed.
    Sink,
    /// The stored checkpoint cannot be used.
    Checkpoint,
    /// The incremental bound could not be computed or placed.
    Incremental,
    /// The run was stopped on request; it resumes on the next run.
    Interrupted,
}

/// The extractor was configured wrongly.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// A required part is missing.
    #[error("missing {0}: call `ExtractorBuilder::{0}`")]
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
