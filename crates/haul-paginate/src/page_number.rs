//! [`PageNumberPaginator`]: `page=N` pagination, 0- or 1-based.

use haul_core::{Record, Request, Response};
use serde_json::Value;

use crate::builders::{at_position, page_size_builder, selector_builders};
use crate::stops::{MAX_REMAINING, StopSignals, query_number, remaining_count};
use crate::{Next, PageContext, PageState, PaginateError, Paginator, RecordSelector};

/// State key for the records seen so far in the pass (compared with a total).
const SEEN: &str = "records_seen";

/// State key for the page size the server serves: the record count of the
/// first full page that did not end the dataset (servers clamp the size
/// asked for silently).
const SERVED: &str = "page_size";

/// Page-number pagination: `page=1`, `page=2`, … (or from 0).
///
/// The dataset ends on whichever signal the API gives:
///
/// - an empty page (always);
/// - the page count at [`total_pages_at`](PageNumberPaginator::total_pages_at)
///   is reached;
/// - the record count at [`total_at`](PageNumberPaginator::total_at) is
///   reached by the records seen so far (remembered in [`PageState`], so a
///   total sent on the first page only is enough; a missing one is no error);
/// - the [`has_more_at`](PageNumberPaginator::has_more_at) flag is `false`;
/// - a page shorter than the page size, only with
///   [`stop_on_short_page(true)`](PageNumberPaginator::stop_on_short_page).
///
/// With a known total, [`Paginator::remaining`] lists every remaining request.
///
/// ```
/// use haul_paginate::{Next, PageContext, PageNumberPaginator, PageState, Paginator};
/// use haul_core::{Request, Response};
/// let pager = PageNumberPaginator::new("page").first_page(0).page_size("per_page", 2).total_pages_at("/total_pages");
/// let mut state = PageState::default();
/// let first = pager.first(Request::get("https://api.example.com/items".parse()?), &mut state)?;
/// assert_eq!(first.url.as_str(), "https://api.example.com/items?page=0&per_page=2");
/// let resp = Response::new(http::StatusCode::OK, first.url.clone(), r#"{"total_pages":3,"items":[1,2]}"#);
/// let pager = pager.records_at("/items");
/// let records = pager.records(&resp)?;
/// let page = PageContext { request: &first, response: &resp, records: &records, number: 1 };
/// let Next::Request(next) = pager.next(&page, &mut state)? else { panic!() };
/// assert_eq!(next.query("page").as_deref(), Some("1"));
/// assert_eq!(pager.remaining(&page, &state).unwrap().len(), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct PageNumberPaginator {
    param: String,
    first_page: u64,
    page_size: Option<(String, u64)>,
    stops: StopSignals,
    selector: RecordSelector,
}

impl PageNumberPaginator {
    /// Sends the page number as query parameter `param`, starting at 1.
    pub fn new(param: impl Into<String>) -> Self {
        Self {
            param: param.into(),
            first_page: 1,
            page_size: None,
            stops: StopSignals::default(),
            selector: RecordSelector::Root,
        }
    }

    /// The number of the first page: 1 (the default) or 0.
    pub fn first_page(mut self, first: u64) -> Self {
        self.first_page = first;
        self
    }

    page_size_builder!();

    /// The total number of pages is at this JSON pointer (e.g. `/total_pages`).
    pub fn total_pages_at(mut self, pointer: impl Into<String>) -> Self {
        self.stops.total_pages = Some(pointer.into());
        self
    }

    /// The total number of records is at this JSON pointer (e.g. `/total`).
    pub fn total_at(mut self, pointer: impl Into<String>) -> Self {
        self.stops.total = Some(pointer.into());
        self
    }

    /// A boolean at this JSON pointer says whether more pages follow.
    pub fn has_more_at(mut self, pointer: impl Into<String>) -> Self {
        self.stops.has_more = Some(pointer.into());
        self
    }

    /// Whether a page with fewer records than the page size ends the dataset
    /// (default: no). Requires [`page_size`](PageNumberPaginator::page_size).
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

    /// 0-based index of the page `request` asks for.
    fn index(&self, request: &Request) -> Result<u64, PaginateError> {
        Ok(query_number(request, &self.param, self.first_page)?.saturating_sub(self.first_page))
    }

    selector_builders!();

    fn at(&self, request: &Request, number: u64) -> Request {
        at_position(request, &self.param, number, self.page_size.as_ref())
    }
}

impl Paginator for PageNumberPaginator {
    fn name(&self) -> &'static str {
        "page"
    }

    fn first(&self, base: Request, _state: &mut PageState) -> Result<Request, PaginateError> {
        self.stops.check(self.page_size.as_ref(), "page size")?;
        Ok(self.at(&base, self.first_page))
    }

    fn records(&self, response: &Response) -> Result<Vec<Record>, PaginateError> {
        self.selector.select(response)
    }

    fn next(&self, page: &PageContext<'_>, state: &mut PageState) -> Result<Next, PaginateError> {
        let number = query_number(page.request, &self.param, self.first_page)?;
        let signals = self.stops.observe(page, state)?;
        let n = page.records.len() as u64;
        let seen = seen(state).saturating_add(n);
        state.extra.insert(SEEN.into(), Value::from(seen));
        let pages_done = number.saturating_sub(self.first_page).saturating_add(1);
        if n == 0 {
            let claimed = signals.total_pages.is_some_and(|t| pages_done < t)
                || signals.total.is_some_and(|t| seen < t)
                || signals.has_more == Some(true);
            self.stops.warn_if_more_claimed(page, claimed);
            return Ok(Next::End);
        }
        let done = signals.total_pages.is_some_and(|t| pages_done >= t)
            || signals.total.is_some_and(|t| seen >= t)
            || signals.has_more == Some(false)
            || self.stops.is_short(n, self.page_size.as_ref());
        if done {
            return Ok(Next::End);
        }
        if !state.extra.contains_key(SERVED) {
            state.extra.insert(SERVED.into(), Value::from(n));
        }
        Ok(Next::Request(
            self.at(page.request, number.saturating_add(1)),
        ))
    }

    /// Call after [`Paginator::next`] for the same page (it counts the page's
    /// records into the state).
    fn remaining(&self, page: &PageContext<'_>, state: &PageState) -> Option<Vec<Request>> {
        let signals = self.stops.peek(page, state).ok()?;
        let number = query_number(page.request, &self.param, self.first_page).ok()?;
        let pages_done = number.saturating_sub(self.first_page).saturating_add(1);
        let n = page.records.len() as u64;
        if n == 0 {
            return None;
        }
        let count = match (signals.total_pages, signals.total) {
            (Some(pages), _) => pages.saturating_sub(pages_done),
            // From the records seen and the size served on this page (not
            // the size asked for): never a page number past the end.
            (None, Some(total)) => remaining_count(total, seen(state), n)?,
            (None, None) => return None,
        };
        if count > MAX_REMAINING {
            return None;
        }
        Some(
            (1..=count)
                .map(|k| self.at(page.request, number + k))
                .collect(),
        )
    }

    fn broken_promise(&self, page: &PageContext<'_>, state: &PageState) -> Option<String> {
        self.promise(page, state)
    }

    fn past_end(&self, request: &Request, state: &PageState) -> bool {
        let Ok(index) = self.index(request) else {
            return false;
        };
        if index == 0 {
            return false;
        }
        let total_pages = crate::stops::total_pages(state);
        total_pages.is_some_and(|pages| index >= pages)
            || state.total.is_some_and(|total| seen(state) >= total)
    }
}

impl PageNumberPaginator {
    fn promise(&self, page: &PageContext<'_>, state: &PageState) -> Option<String> {
        let signals = self.stops.own(page, state)?;
        let index = self.index(page.request).ok()?;
        if let Some(pages) = signals.total_pages {
            return (index < pages).then(|| {
                format!(
                    "the API announced {pages} pages and this is page {} of them",
                    index + 1
                )
            });
        }
        let total = signals.total?;
        // Where this page starts: from the size served, or (sequentially,
        // before a full page was seen) from the records counted so far.
        let start = match state.extra.get(SERVED).and_then(Value::as_u64) {
            Some(served) => index.saturating_mul(served),
            None => seen(state),
        };
        (start < total).then(|| {
            format!("the API announced a total of {total} records and this page starts at record {start}")
        })
    }
}

fn seen(state: &PageState) -> u64 {
    state.extra.get(SEEN).and_then(Value::as_u64).unwrap_or(0)
}
