//! The [`Paginator`] trait and the per-stream [`PageState`] it works on.

use std::sync::Arc;

use haul_core::{Record, Request, Response};
use serde_json::{Map, Value};

use crate::PaginateError;

/// Everything a paginator may look at to decide the next request.
#[derive(Debug)]
pub struct PageContext<'a> {
    /// The request that produced this page.
    pub request: &'a Request,
    /// Its response (status 2xx; the body is complete).
    pub response: &'a Response,
    /// The records selected from the response.
    pub records: &'a [Record],
    /// 1-based number of this page in the pass.
    pub number: u64,
}

/// What comes after a page.
#[derive(Debug)]
#[non_exhaustive]
// One `Next` exists per page and moves straight into the run loop; boxing would
// cost an allocation per page to save a few bytes of stack.
#[allow(clippy::large_enum_variant)]
pub enum Next {
    /// Fetch this request next.
    Request(Request),
    /// The dataset is exhausted.
    End,
}

/// Mutable pagination state of one stream, owned by the extractor.
///
/// Paginators are immutable configuration (shareable between streams); what
/// changes from page to page lives here, so it can be stored in a checkpoint
/// and restored on resume.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PageState {
    /// The total number of records, once some page announced it.
    pub total: Option<u64>,
    /// Paginator-specific values (kept small: they go into every checkpoint).
    /// Built-in styles use the keys `auto` (the style [`AutoPaginator`](crate::AutoPaginator)
    /// chose), `total_pages` and `records_seen`.
    pub extra: Map<String, Value>,
}

impl PageState {
    /// Serializes the state for a checkpoint.
    pub fn to_json(&self) -> Value {
        let mut map = self.extra.clone();
        if let Some(total) = self.total {
            map.insert("total".into(), Value::from(total));
        }
        if map.is_empty() {
            Value::Null
        } else {
            Value::Object(map)
        }
    }

    /// Restores state stored by [`PageState::to_json`].
    pub fn from_json(value: &Value) -> Result<Self, PaginateError> {
        match value {
            Value::Null => Ok(Self::default()),
            Value::Object(map) => {
                let mut extra = map.clone();
                let total = match extra.remove("total") {
                    None => None,
                    Some(v) => Some(v.as_u64().ok_or_else(|| {
                        PaginateError::Resume(format!("total is not a count: {v}"))
                    })?),
                };
                Ok(Self { total, extra })
            }
            other => Err(PaginateError::Resume(format!(
                "expected an object, found {other}"
            ))),
        }
    }
}

/// Walks an API page by page: from the first request and each response, the
/// next request or the end.
///
/// Paginators are synchronous and do no I/O; they only read the response they
/// are given. They need not guard against loops or runaway page counts: the
/// [`Guard`](crate::Guard) does that for every style.
///
/// Laws (property-tested per style): walking any dataset of any size with any
/// page size through a conforming server yields every record exactly once, in
/// order, and terminates.
pub trait Paginator: Send + Sync {
    /// A short name for logs (`"cursor"`, `"offset"`, …).
    fn name(&self) -> &'static str;

    /// Prepares the first request of a pass from the base request (adds the
    /// page size, an initial cursor, …).
    fn first(&self, base: Request, state: &mut PageState) -> Result<Request, PaginateError>;

    /// Selects the records of a response.
    fn records(&self, response: &Response) -> Result<Vec<Record>, PaginateError>;

    /// Decides what follows `page`.
    fn next(&self, page: &PageContext<'_>, state: &mut PageState) -> Result<Next, PaginateError>;

    /// When the paginator knows every remaining request after `page` (offset or
    /// page number with a known total), returns them so they can be fetched
    /// concurrently. The default knows nothing.
    fn remaining(&self, page: &PageContext<'_>, state: &PageState) -> Option<Vec<Request>> {
        let _ = (page, state);
        None
    }

    /// Called for a page without records (a `204 No Content`, or a page
    /// whose record array is empty) before [`Paginator::next`]: whether that
    /// empty answer contradicts what earlier pages promised — `has_more:
    /// true`, a cursor or next link that led here, a total not yet reached.
    /// Returns the broken promise, worded for an error message (`"page 3
    /// handed out a cursor for it"`), or `None` where an empty page is
    /// plausible (the first page, a style without a total, a total this
    /// page's own body says is reached).
    ///
    /// The extractor retries a contradicted page like a transient failure,
    /// and fails with a typed error naming the page and the promise if the
    /// contradiction persists. `state` is the state after the pages before
    /// this one, or, for pages fetched concurrently, after the page whose
    /// total listed them. The default finds no promise.
    fn broken_promise(&self, page: &PageContext<'_>, state: &PageState) -> Option<String> {
        let _ = (page, state);
        None
    }

    /// Whether `request` lies past the end the API announced (an offset or
    /// page number beyond a known total), so it must not be sent: the
    /// extractor ends the pass instead (a resumed pass whose checkpoint
    /// points past the end, a listed request after the total shrank). The
    /// default knows no end.
    fn past_end(&self, request: &Request, state: &PageState) -> bool {
        let _ = (request, state);
        false
    }
}

/// Whether a response has no body (`204 No Content`, or an empty `200`): it
/// carries no end-of-data signal of its own.
pub fn is_bodyless(response: &Response) -> bool {
    response.body.iter().all(u8::is_ascii_whitespace)
}

macro_rules! forward_paginator {
    ($($ty:ty),*) => {$(
        impl<P: Paginator + ?Sized> Paginator for $ty {
            fn name(&self) -> &'static str { (**self).name() }
            fn first(&self, base: Request, state: &mut PageState) -> Result<Request, PaginateError> {
                (**self).first(base, state)
            }
            fn records(&self, response: &Response) -> Result<Vec<Record>, PaginateError> {
                (**self).records(response)
            }
            fn next(&self, page: &PageContext<'_>, state: &mut PageState) -> Result<Next, PaginateError> {
                (**self).next(page, state)
            }
            fn remaining(&self, page: &PageContext<'_>, state: &PageState) -> Option<Vec<Request>> {
                (**self).remaining(page, state)
            }
            fn broken_promise(&self, page: &PageContext<'_>, state: &PageState) -> Option<String> {
                (**self).broken_promise(page, state)
            }
            fn past_end(&self, request: &Request, state: &PageState) -> bool {
                (**self).past_end(request, state)
            }
        }
    )*};
}
forward_paginator!(&P, Box<P>, Arc<P>);
