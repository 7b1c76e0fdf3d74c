//! [`CursorPaginator`]: an opaque cursor read from the body, sent back as a query parameter.

use haul_core::{Record, Request, Response, json};

use crate::records::{body_text, not_json};
use crate::{Next, PageContext, PageState, PaginateError, Paginator, RecordSelector};

/// Cursor pagination: the response carries the next cursor at a JSON pointer
/// (e.g. `/next_cursor`, `/paging/next/after`, `/meta/after_cursor`); the next
/// request sends it as a query parameter. The dataset ends when the cursor is
/// missing, `null` or empty.
///
/// ```
/// use haul_paginate::{CursorPaginator, Next, PageContext, PageState, Paginator};
/// use haul_core::{Request, Response};
/// use http::StatusCode;
///
/// let pager = CursorPaginator::new("/next_cursor", "cursor").records_at("/data").page_size("limit", 2);
/// let mut state = PageState::default();
/// let first = pager.first(Request::get("https://api.example.com/items".parse()?), &mut state)?;
/// assert_eq!(first.url.as_str(), "https://api.example.com/items?limit=2");
///
/// let resp = Response::new(StatusCode::OK, first.url.clone(), r#"{"data":[{"id":1},{"id":2}],"next_cursor":"c2"}"#);
/// let records = pager.records(&resp)?;
/// let page = PageContext { request: &first, response: &resp, records: &records, number: 1 };
/// let Next::Request(next) = pager.next(&page, &mut state)? else { panic!("expected a next page") };
/// assert_eq!(next.url.as_str(), "https://api.example.com/items?limit=2&cursor=c2");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct CursorPaginator {
    cursor_pointer: String,
    param: String,
    selector: RecordSelector,
    page_size: Option<(String, u64)>,
    initial_cursor: Option<String>,
}

impl CursorPaginator {
    /// Reads the cursor at `cursor_pointer` and sends it as query parameter `param`.
    pub fn new(cursor_pointer: impl Into<String>, param: impl Into<String>) -> Self {
        Self {
            cursor_pointer: cursor_pointer.into(),
            param: param.into(),
            selector: RecordSelector::Root,
            page_size: None,
            initial_cursor: None,
        }
    }

    /// Where the records are: a JSON pointer to an array.
    pub fn records_at(mut self, pointer: impl Into<String>) -> Self {
        self.selector = RecordSelector::pointer(pointer);
        self
    }

    /// Where the records are, as any [`RecordSelector`].
    pub fn selector(mut self, selector: RecordSelector) -> Self {
        self.selector = selector;
        self
    }

    /// Sends the page size as query parameter `param` on every request.
    pub fn page_size(mut self, param: impl Into<String>, size: u64) -> Self {
        self.page_size = Some((param.into(), size));
        self
    }

    /// Sends this cursor on the first request.
    pub fn initial_cursor(mut self, cursor: impl Into<String>) -> Self {
        self.initial_cursor = Some(cursor.into());
        self
    }
}

impl Paginator for CursorPaginator {
    fn name(&self) -> &'static str {
        "cursor"
    }

    fn first(&self, mut base: Request, _state: &mut PageState) -> Result<Request, PaginateError> {
        if !self.cursor_pointer.is_empty() && !self.cursor_pointer.starts_with('/') {
            return Err(PaginateError::Config(format!(
                "cursor pointer {:?} must start with '/'",
                self.cursor_pointer
            )));
        }
        if let Some((param, size)) = &self.page_size {
            base.set_query(param, &size.to_string());
        }
        if let Some(cursor) = &self.initial_cursor {
            base.set_query(&self.param, cursor);
        }
        Ok(base)
    }

    fn records(&self, response: &Response) -> Result<Vec<Record>, PaginateError> {
        self.selector.select(response)
    }

    fn next(&self, page: &PageContext<'_>, _state: &mut PageState) -> Result<Next, PaginateError> {
        if page.response.body.is_empty() {
            return Ok(Next::End);
        }
        let text = body_text(page.response)?;
        let cursor = json::scalar_at(text, &self.cursor_pointer)
            .map_err(|e| not_json(page.response, &e.to_string()))?;
        Ok(match cursor {
            None => Next::End,
            Some(cursor) => {
                let mut next = page.request.clone();
                next.set_query(&self.param, &cursor);
                Next::Request(next)
            }
        })
    }
}
