//! [`HeaderCursor`]: the next cursor arrives in a response header.

use haul_core::{Record, Request, Response};

use crate::builders::{next_with_cursor, page_size_builder, selector_builders, set_page_size};
use crate::signals::bad_field;
use crate::{Next, PageContext, PageState, PaginateError, Paginator, RecordSelector};

/// Cursor pagination where the cursor comes in a response header (e.g.
/// `X-Next-Cursor`) and goes back as a query parameter. A missing or empty
/// header ends the dataset; a header that is not valid text is a typed error.
///
/// ```
/// use haul_paginate::{HeaderCursor, Next, PageContext, PageState, Paginator};
/// use haul_core::{Request, Response};
/// let pager = HeaderCursor::new("X-Next-Cursor", "cursor");
/// let mut state = PageState::default();
/// let first = pager.first(Request::get("https://api.example.com/items".parse()?), &mut state)?;
/// let resp = Response::new(http::StatusCode::OK, first.url.clone(), "[1,2]").with_header("x-next-cursor", "c2");
/// let records = pager.records(&resp)?;
/// let page = PageContext { request: &first, response: &resp, records: &records, number: 1 };
/// let Next::Request(next) = pager.next(&page, &mut state)? else { panic!() };
/// assert_eq!(next.query("cursor").as_deref(), Some("c2"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct HeaderCursor {
    header: String,
    param: String,
    selector: RecordSelector,
    page_size: Option<(String, u64)>,
    pre_encoded: bool,
}

impl HeaderCursor {
    /// Reads the cursor from header `header` (case-insensitive) and sends it as
    /// query parameter `param`.
    pub fn new(header: impl Into<String>, param: impl Into<String>) -> Self {
        Self {
            header: header.into(),
            param: param.into(),
            selector: RecordSelector::Root,
            page_size: None,
            pre_encoded: false,
        }
    }

    selector_builders!();

    page_size_builder!();

    /// Whether the header's cursor is already percent-encoded and goes into
    /// the query verbatim (see [`CursorPaginator`](crate::CursorPaginator)).
    pub fn cursor_pre_encoded(mut self, pre_encoded: bool) -> Self {
        self.pre_encoded = pre_encoded;
        self
    }
}

impl Paginator for HeaderCursor {
    fn name(&self) -> &'static str {
        "header-cursor"
    }

    fn first(&self, mut base: Request, _state: &mut PageState) -> Result<Request, PaginateError> {
        if http::HeaderName::from_bytes(self.header.as_bytes()).is_err() {
            return Err(PaginateError::Config(format!(
                "{:?} is not a valid header name",
                self.header
            )));
        }
        set_page_size(&mut base, self.page_size.as_ref());
        Ok(base)
    }

    fn records(&self, response: &Response) -> Result<Vec<Record>, PaginateError> {
        self.selector.select(response)
    }

    fn next(&self, page: &PageContext<'_>, _state: &mut PageState) -> Result<Next, PaginateError> {
        let Some(value) = page.response.headers.get(self.header.as_str()) else {
            return Ok(Next::End);
        };
        let cursor = value
            .to_str()
            .map_err(|_| bad_field(page.response, &self.header, "not visible ASCII text"))?
            .trim();
        if cursor.is_empty() {
            return Ok(Next::End);
        }
        Ok(next_with_cursor(
            page.request,
            &self.param,
            cursor,
            self.pre_encoded,
        ))
    }

    fn broken_promise(&self, page: &PageContext<'_>, _state: &PageState) -> Option<String> {
        crate::signals::bodyless_after(page, "a cursor")
    }
}
