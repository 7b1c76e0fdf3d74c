//! [`CursorPaginator`]: an opaque cursor read from the body, sent back as a
//! query parameter or inside a JSON request body.

use haul_core::{Record, Request, Response};
use serde_json::Value;

use crate::builders::{page_size_builder, selector_builders, set_page_size};
use crate::signals::{
    check_pointers, cursor_text, flag_at, json_text, no_way_forward, raw_at, set_cursor_param,
};
use crate::{Next, PageContext, PageState, PaginateError, Paginator, RecordSelector};

/// Where the next request carries the cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    Query(String),
    Body(String),
}

/// Cursor pagination: the response carries the next cursor at a JSON pointer
/// (e.g. `/next_cursor`, `/paging/next/after`, `/meta/after_cursor`); the next
/// request sends it back as a query parameter ([`CursorPaginator::new`]) or
/// at a pointer inside its JSON body ([`CursorPaginator::in_body`], for
/// POST search APIs).
///
/// The dataset ends when the cursor is missing, `null`, `""` or `false`, or
/// when the optional [`has_more_at`](CursorPaginator::has_more_at) flag is
/// `false` even though a cursor is still present (Zendesk does that).
///
/// **Encoding.** A cursor is opaque text and is percent-encoded once on the
/// way out. Some APIs (HubSpot's `after`) hand out a token that is already
/// percent-encoded; encoding it again turns `%3D` into `%253D` and breaks it.
/// For those, [`cursor_pre_encoded(true)`](CursorPaginator::cursor_pre_encoded)
/// puts the token into the query string exactly as received. Body cursors are
/// JSON values and never percent-encoded.
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
    target: Target,
    selector: RecordSelector,
    page_size: Option<(String, u64)>,
    initial_cursor: Option<String>,
    has_more: Option<String>,
    pre_encoded: bool,
}

impl CursorPaginator {
    /// Reads the cursor at `cursor_pointer` and sends it as query parameter `param`.
    pub fn new(cursor_pointer: impl Into<String>, param: impl Into<String>) -> Self {
        Self {
            cursor_pointer: cursor_pointer.into(),
            target: Target::Query(param.into()),
            selector: RecordSelector::Root,
            page_size: None,
            initial_cursor: None,
            has_more: None,
            pre_encoded: false,
        }
    }

    /// Reads the cursor at `cursor_pointer` and places it at `body_pointer` in
    /// the JSON body of the next request (e.g. `/page/after`), creating missing
    /// objects. The cursor keeps its JSON type (a number stays a number, an
    /// array such as Elasticsearch's `search_after` stays an array).
    ///
    /// ```
    /// use haul_paginate::{CursorPaginator, Next, PageContext, PageState, Paginator};
    /// use haul_core::{Request, Response};
    /// let pager = CursorPaginator::in_body("/next", "/page/after").records_at("/hits");
    /// let mut state = PageState::default();
    /// let base = Request::post_json("https://api.example.com/search".parse()?, r#"{"q":"x"}"#);
    /// let first = pager.first(base, &mut state)?;
    /// let resp = Response::new(http::StatusCode::OK, first.url.clone(), r#"{"hits":[1],"next":[17,"b"]}"#);
    /// let records = pager.records(&resp)?;
    /// let page = PageContext { request: &first, response: &resp, records: &records, number: 1 };
    /// let Next::Request(next) = pager.next(&page, &mut state)? else { panic!() };
    /// assert_eq!(next.body.as_deref(), Some(br#"{"page":{"after":[17,"b"]},"q":"x"}"#.as_slice()));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn in_body(cursor_pointer: impl Into<String>, body_pointer: impl Into<String>) -> Self {
        Self {
            target: Target::Body(body_pointer.into()),
            ..Self::new(cursor_pointer, String::new())
        }
    }

    selector_builders!();

    page_size_builder!();

    /// Sends this cursor on the first request.
    pub fn initial_cursor(mut self, cursor: impl Into<String>) -> Self {
        self.initial_cursor = Some(cursor.into());
        self
    }

    /// A boolean at `pointer` (e.g. `/meta/has_more`): `false` ends the
    /// dataset even if a cursor is present; `true` without a cursor is a
    /// [`PaginateError::NoWayForward`] error.
    pub fn has_more_at(mut self, pointer: impl Into<String>) -> Self {
        self.has_more = Some(pointer.into());
        self
    }

    /// Whether the API's cursor is already percent-encoded and must go into
    /// the query string verbatim (HubSpot's `after`). Default: `false`.
    pub fn cursor_pre_encoded(mut self, pre_encoded: bool) -> Self {
        self.pre_encoded = pre_encoded;
        self
    }

    fn place(&self, request: &mut Request, cursor: Value) -> Result<(), PaginateError> {
        match &self.target {
            Target::Body(pointer) => crate::set_json_field(request, pointer, cursor),
            Target::Query(param) => {
                let text = match cursor {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                set_cursor_param(request, param, &text, self.pre_encoded);
                Ok(())
            }
        }
    }
}

impl Paginator for CursorPaginator {
    fn name(&self) -> &'static str {
        "cursor"
    }

    fn first(&self, mut base: Request, _state: &mut PageState) -> Result<Request, PaginateError> {
        check_pointers(&[
            ("cursor", Some(&self.cursor_pointer)),
            ("has_more", self.has_more.as_deref()),
        ])?;
        set_page_size(&mut base, self.page_size.as_ref());
        if let Some(cursor) = &self.initial_cursor {
            self.place(&mut base, Value::String(cursor.clone()))?;
        }
        Ok(base)
    }

    fn records(&self, response: &Response) -> Result<Vec<Record>, PaginateError> {
        self.selector.select(response)
    }

    fn next(&self, page: &PageContext<'_>, _state: &mut PageState) -> Result<Next, PaginateError> {
        let Some(text) = json_text(page.response)? else {
            return Ok(Next::End);
        };
        let has_more = flag_at(page.response, text, self.has_more.as_deref())?;
        if has_more == Some(false) {
            return Ok(Next::End);
        }
        let raw = raw_at(page.response, text, &self.cursor_pointer)?;
        let cursor = match &self.target {
            // A body cursor keeps its JSON type; only "no cursor" values end.
            Target::Body(_) => raw
                .filter(|r| !matches!(r.get(), "null" | "\"\"" | "false"))
                .map(|r| serde_json::from_str::<Value>(r.get()))
                .transpose()
                .map_err(|e| crate::records::not_json(page.response, &e.to_string()))?,
            Target::Query(_) => {
                cursor_text(page.response, raw, &self.cursor_pointer)?.map(Value::String)
            }
        };
        match cursor {
            Some(cursor) => {
                let mut next = page.request.clone();
                self.place(&mut next, cursor)?;
                Ok(Next::Request(next))
            }
            None if has_more == Some(true) => Err(no_way_forward(
                page,
                format!(
                    "the has_more flag is true, but there is no cursor at {}",
                    self.cursor_pointer
                ),
            )),
            None => Ok(Next::End),
        }
    }

    fn broken_promise(&self, page: &PageContext<'_>, _state: &PageState) -> Option<String> {
        crate::signals::bodyless_after(page, "a cursor")
    }
}
