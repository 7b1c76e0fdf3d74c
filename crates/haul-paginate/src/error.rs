//! [`PaginateError`]: every way pagination can go wrong, loudly.

use haul_core::MaskedUrl;

/// A pagination failure. Each variant names where it happened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PaginateError {
    /// The run reached its page limit while the API still had a next page.
    ///
    /// This is an error, not a stop: stopping silently would hide missing data.
    #[error("more than {max} pages: the API still offered a next page after page {max} ({next})")]
    MaxPagesExceeded {
        /// The configured limit.
        max: u64,
        /// The next request that was not sent (masked).
        next: MaskedUrl,
    },
    /// The API handed back a cursor, URL or offset already used in this run.
    #[error(
        "pagination cycle: page {page} leads back to {value}, already requested earlier in this run"
    )]
    CursorCycle {
        /// The repeated request or cursor (masked).
        value: String,
        /// The page whose response produced the repeated value.
        page: u64,
    },
    /// The body is not the JSON the paginator expects.
    #[error("response from {url} is not valid JSON ({reason}); body starts: {preview}")]
    NotJson {
        /// Masked URL.
        url: MaskedUrl,
        /// Parser message.
        reason: String,
        /// At most 500 bytes of the body.
        preview: String,
    },
    /// The records selector found nothing usable.
    #[error("no record array at {selector} in the response from {url}; body starts: {preview}")]
    RecordsNotFound {
        /// Masked URL.
        url: MaskedUrl,
        /// The selector that was applied.
        selector: String,
        /// At most 500 bytes of the body.
        preview: String,
    },
    /// A field the paginator needs has an unusable value.
    #[error("unusable {what} in the response from {url}: {reason}")]
    BadField {
        /// Masked URL.
        url: MaskedUrl,
        /// The field (pointer or header).
        what: String,
        /// What was wrong with it.
        reason: String,
    },
    /// The API signals more data (`has_more: true`, a total not yet reached, a
    /// `hasNextPage`), or the style needs a value to go on, but the page gives
    /// no way to fetch the next one. Stopping here would silently lose data.
    #[error(
        "page {page} from {url} has {records} records and {reason}, so there is no way to the next page; body starts: {preview}"
    )]
    NoWayForward {
        /// Masked URL of the page.
        url: MaskedUrl,
        /// 1-based number of the page in the pass.
        page: u64,
        /// How many records the page had.
        records: usize,
        /// What was expected and missing.
        reason: String,
        /// At most 500 bytes of the body.
        preview: String,
    },
    /// A next page lives on another origin than the first request, and the
    /// guard was not told to allow it (credentials must never follow it).
    #[error(
        "the next page is on origin {to}, but this run started on {from}; refusing to follow it (credentials never follow it either way; to follow it, call `ExtractorBuilder::allow_cross_origin(true)`, or `Guard::allow_cross_origin(true)` when driving a Guard yourself)"
    )]
    CrossOrigin {
        /// Origin of the first request (`scheme://host:port`).
        from: String,
        /// Origin of the refused request.
        to: String,
    },
    /// The paginator was configured wrongly (caught when the run starts).
    #[error("invalid paginator configuration: {0}")]
    Config(String),
    /// Stored paginator state from a checkpoint cannot be used.
    #[error("cannot resume from stored pagination state: {0}")]
    Resume(String),
}
