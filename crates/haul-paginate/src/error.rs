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
    /// The paginator was configured wrongly (caught when the run starts).
    #[error("invalid paginator configuration: {0}")]
    Config(String),
    /// Stored paginator state from a checkpoint cannot be used.
    #[error("cannot resume from stored pagination state: {0}")]
    Resume(String),
}
