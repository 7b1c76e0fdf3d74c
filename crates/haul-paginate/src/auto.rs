//! [`AutoPaginator`]: chooses the pagination style from the first response.

use haul_core::{Record, Request, Response};

use crate::builders::{page_size_builder, set_page_size};
use crate::choice::Choice;
use crate::detect::{detect, detect_records};
use crate::{Next, PageContext, PageState, PaginateError, Paginator, RecordSelector};

/// State key holding the detected style.
const CHOICE: &str = "auto";

/// Pagination auto-detection: on the first response, chooses among
///
/// 1. a `Link` header with `rel="next"` → [`LinkHeaderPaginator`](crate::LinkHeaderPaginator);
/// 2. a next URL at a well-known key (`/next`, `/next_url`, `/nextLink`,
///    `/@odata.nextLink`, `/links/next`, `/paging/next`, `/nextRecordsUrl`, …)
///    → [`NextUrlPaginator`](crate::NextUrlPaginator);
/// 3. a cursor at a well-known key (`/next_cursor`, `/cursor`, `/after`,
///    `/paging/next/after`, `/meta/after_cursor`, `/next_page_token`, …)
///    → [`CursorPaginator`](crate::CursorPaginator), sent back in the usual
///    parameter for that key (override with [`cursor_param`](AutoPaginator::cursor_param));
/// 4. `/has_more` with records carrying an `/id` → Stripe-style
///    [`LastRecordCursor`](crate::LastRecordCursor) (`starting_after`);
/// 5. a `page` parameter on the request or a page count in the body →
///    [`PageNumberPaginator`](crate::PageNumberPaginator); an `offset`
///    parameter, or a total larger than the first page →
///    [`OffsetPaginator`](crate::OffsetPaginator);
/// 6. otherwise a [`SinglePage`](crate::SinglePage).
///
/// A `has_more` flag at a well-known key is honored by the chosen style. The
/// choice and the reason for it are logged at `info` level — it never guesses
/// silently — and stored in [`PageState::extra`], so a resumed pass keeps the
/// style it started with. Without a records selector, the records are the root
/// array or the single top-level array (preferring `data`, `results`, `items`,
/// `records`, `value`, …); an ambiguous body is a typed error.
///
/// ```
/// use haul_paginate::{AutoPaginator, Next, PageContext, PageState, Paginator};
/// use haul_core::{Request, Response};
/// let pager = AutoPaginator::new();
/// let mut state = PageState::default();
/// let first = pager.first(Request::get("https://graph.example.com/v1.0/users".parse()?), &mut state)?;
/// let resp = Response::new(http::StatusCode::OK, first.url.clone(),
///     r#"{"value":[{"id":"a"}],"@odata.nextLink":"https://graph.example.com/v1.0/users?$skiptoken=X"}"#);
/// let records = pager.records(&resp)?;
/// assert_eq!(records.len(), 1);
/// let page = PageContext { request: &first, response: &resp, records: &records, number: 1 };
/// let Next::Request(next) = pager.next(&page, &mut state)? else { panic!() };
/// assert_eq!(next.url.as_str(), "https://graph.example.com/v1.0/users?$skiptoken=X");
/// assert_eq!(AutoPaginator::chosen_style(&state).as_deref(), Some("next-url"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct AutoPaginator {
    selector: Option<RecordSelector>,
    page_size: Option<(String, u64)>,
    cursor_param: Option<String>,
}

impl AutoPaginator {
    /// Detects the style and the records location.
    pub fn new() -> Self {
        Self::default()
    }

    /// Where the records are: a JSON pointer to an array (no detection).
    pub fn records_at(mut self, pointer: impl Into<String>) -> Self {
        self.selector = Some(RecordSelector::pointer(pointer));
        self
    }

    /// Where the records are, as any [`RecordSelector`] (no detection).
    pub fn selector(mut self, selector: RecordSelector) -> Self {
        self.selector = Some(selector);
        self
    }

    page_size_builder! {
        /// Sends the page size as query parameter `param` on the first request
        /// (styles that build the next request from the current one keep it).
    }

    /// The query parameter a detected cursor is sent back in, instead of the
    /// usual one for the key it was found at.
    pub fn cursor_param(mut self, param: impl Into<String>) -> Self {
        self.cursor_param = Some(param.into());
        self
    }

    /// The style chosen in this pass (`"cursor"`, `"link"`, …), once the first
    /// page has been seen.
    pub fn chosen_style(state: &PageState) -> Option<String> {
        let choice = Choice::from_json(state.extra.get(CHOICE)?).ok()?;
        Some(choice.name().to_owned())
    }

    fn choice(
        &self,
        page: &PageContext<'_>,
        state: &mut PageState,
    ) -> Result<Choice, PaginateError> {
        if let Some(stored) = state.extra.get(CHOICE) {
            return Choice::from_json(stored);
        }
        let (choice, reason) = detect(page, self.cursor_param.as_deref())?;
        tracing::info!(
            style = choice.name(),
            reason = %reason,
            url = %page.response.masked_url(),
            "auto-detected the pagination style"
        );
        state.extra.insert(CHOICE.into(), choice.to_json());
        Ok(choice)
    }
}

impl Paginator for AutoPaginator {
    fn name(&self) -> &'static str {
        "auto"
    }

    fn first(&self, mut base: Request, _state: &mut PageState) -> Result<Request, PaginateError> {
        set_page_size(&mut base, self.page_size.as_ref());
        Ok(base)
    }

    fn records(&self, response: &Response) -> Result<Vec<Record>, PaginateError> {
        match &self.selector {
            Some(selector) => selector.select(response),
            None => detect_records(response),
        }
    }

    fn next(&self, page: &PageContext<'_>, state: &mut PageState) -> Result<Next, PaginateError> {
        let choice = self.choice(page, state)?;
        choice.paginator().next(page, state)
    }

    fn remaining(&self, page: &PageContext<'_>, state: &PageState) -> Option<Vec<Request>> {
        let choice = Choice::from_json(state.extra.get(CHOICE)?).ok()?;
        choice.paginator().remaining(page, state)
    }

    fn broken_promise(&self, page: &PageContext<'_>, state: &PageState) -> Option<String> {
        let choice = Choice::from_json(state.extra.get(CHOICE)?).ok()?;
        choice.paginator().broken_promise(page, state)
    }

    fn past_end(&self, request: &Request, state: &PageState) -> bool {
        state
            .extra
            .get(CHOICE)
            .and_then(|c| Choice::from_json(c).ok())
            .is_some_and(|choice| choice.paginator().past_end(request, state))
    }
}
