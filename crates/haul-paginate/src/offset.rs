//! [`OffsetPaginator`]: `offset`/`limit` pagination.

use haul_core::{Record, Request, Response};

use crate::builders::{at_position, selector_builders};
use crate::stops::{MAX_REMAINING, StopSignals, query_number, remaining_count};
use crate::{Next, PageContext, PageState, PaginateError, Paginator, RecordSelector};

/// Offset pagination: each request says where to start (`offset=40`) and
/// optionally how many to return (`limit=20`).
///
/// The next offset is the current one plus the number of records the page
/// actually had, so an API that silently caps the page size below the
/// requested limit loses nothing. The dataset ends on whichever signal the
/// API gives:
///
/// - an empty page (always);
/// - the total count at [`total_at`](OffsetPaginator::total_at) is reached —
///   remembered in [`PageState::total`], so an API that sends it on the first
///   page only still ends on time; a missing total is not an error;
/// - the [`has_more_at`](OffsetPaginator::has_more_at) flag is `false`;
/// - a page shorter than the limit, only with
///   [`stop_on_short_page(true)`](OffsetPaginator::stop_on_short_page) (many
///   APIs return short pages mid-dataset).
///
/// With a known total, [`Paginator::remaining`] lists every remaining request.
///
/// ```
/// use haul_paginate::{Next, OffsetPaginator, PageContext, PageState, Paginator};
/// use haul_core::{Request, Response};
/// let pager = OffsetPaginator::new("offset").limit("limit", 2).total_at("/total").records_at("/items");
/// let mut state = PageState::default();
/// let first = pager.first(Request::get("https://api.example.com/items".parse()?), &mut state)?;
/// assert_eq!(first.url.as_str(), "https://api.example.com/items?offset=0&limit=2");
/// let resp = Response::new(http::StatusCode::OK, first.url.clone(), r#"{"items":[1,2],"total":5}"#);
/// let records = pager.records(&resp)?;
/// let page = PageContext { request: &first, response: &resp, records: &records, number: 1 };
/// let Next::Request(next) = pager.next(&page, &mut state)? else { panic!() };
/// assert_eq!(next.query("offset").as_deref(), Some("2"));
/// assert_eq!(state.total, Some(5));
/// let rest = pager.remaining(&page, &state).unwrap();
/// let offsets: Vec<_> = rest.iter().map(|r| r.query("offset").unwrap()).collect();
/// assert_eq!(offsets, ["2", "4"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct OffsetPaginator {
    offset_param: String,
    limit: Option<(String, u64)>,
    start: u64,
    stops: StopSignals,
    selector: RecordSelector,
}

impl OffsetPaginator {
    /// Sends the position as query parameter `offset_param`, starting at 0.
    pub fn new(offset_param: impl Into<String>) -> Self {
        Self {
            offset_param: offset_param.into(),
            limit: None,
            start: 0,
            stops: StopSignals::default(),
            selector: RecordSelector::Root,
        }
    }

    /// Sends the page size as query parameter `param` on every request.
    pub fn limit(mut self, param: impl Into<String>, limit: u64) -> Self {
        self.limit = Some((param.into(), limit));
        self
    }

    /// Starts at this offset instead of 0.
    pub fn start_at(mut self, offset: u64) -> Self {
        self.start = offset;
        self
    }

    /// The total number of records is at this JSON pointer (e.g. `/total`).
    pub fn total_at(mut self, pointer: impl Into<String>) -> Self {
        self.stops.total = Some(pointer.into());
        self
    }

    /// A boolean at this JSON pointer says whether more records follow.
    pub fn has_more_at(mut self, pointer: impl Into<String>) -> Self {
        self.stops.has_more = Some(pointer.into());
        self
    }

    /// Whether a page with fewer records than the limit ends the dataset
    /// (default: no). Requires [`limit`](OffsetPaginator::limit).
    pub fn stop_on_short_page(mut self, stop: bool) -> Self {
        self.stops.short_page = stop;
        self
    }

    /// Whether an empty page (or a `204`) before the announced total is
    /// reached ends the pass with a warning (`true`), for an API whose total
    /// is only an estimate. Default `false`: such a page contradicts the
    /// total, is retried, and fails the run with
    /// `ExtractError::Contradiction` if it persists.
    pub fn accept_short_listing(mut self, accept: bool) -> Self {
        self.stops.accept_short_listing = accept;
        self
    }

    selector_builders!();

    fn at(&self, request: &Request, offset: u64) -> Request {
        at_position(request, &self.offset_param, offset, self.limit.as_ref())
    }
}

impl Paginator for OffsetPaginator {
    fn name(&self) -> &'static str {
        "offset"
    }

    fn first(&self, base: Request, _state: &mut PageState) -> Result<Request, PaginateError> {
        self.stops.check(self.limit.as_ref(), "limit")?;
        Ok(self.at(&base, self.start))
    }

    fn records(&self, response: &Response) -> Result<Vec<Record>, PaginateError> {
        self.selector.select(response)
    }

    fn next(&self, page: &PageContext<'_>, state: &mut PageState) -> Result<Next, PaginateError> {
        let offset = query_number(page.request, &self.offset_param, self.start)?;
        let seen = self.stops.observe(page, state)?;
        let n = page.records.len() as u64;
        if n == 0 {
            let claimed = seen.total.is_some_and(|t| offset < t) || seen.has_more == Some(true);
            self.stops.warn_if_more_claimed(page, claimed);
            return Ok(Next::End);
        }
        let next = offset.saturating_add(n);
        let done = seen.total.is_some_and(|t| next >= t)
            || seen.has_more == Some(false)
            || self.stops.is_short(n, self.limit.as_ref());
        Ok(if done {
            Next::End
        } else {
            Next::Request(self.at(page.request, next))
        })
    }

    fn remaining(&self, page: &PageContext<'_>, state: &PageState) -> Option<Vec<Request>> {
        let total = self.stops.peek(page, state).ok()?.total?;
        let offset = query_number(page.request, &self.offset_param, self.start).ok()?;
        // The stride is the page size the server actually served, not the
        // limit asked for (servers clamp it silently).
        let stride = page.records.len() as u64;
        let first = offset.saturating_add(stride);
        let count = remaining_count(total, first, stride)?;
        if count > MAX_REMAINING {
            return None;
        }
        Some(
            (0..count)
                .map(|k| self.at(page.request, first + k * stride))
                .collect(),
        )
    }

    fn broken_promise(&self, page: &PageContext<'_>, state: &PageState) -> Option<String> {
        let total = self.stops.own(page, state)?.total?;
        let offset = query_number(page.request, &self.offset_param, self.start).ok()?;
        (offset < total).then(|| {
            format!("the API announced a total of {total} records and this page starts at offset {offset}")
        })
    }

    fn past_end(&self, request: &Request, state: &PageState) -> bool {
        let Some(total) = state.total else {
            return false;
        };
        query_number(request, &self.offset_param, self.start)
            .is_ok_and(|offset| offset > self.start && offset >= total)
    }
}
