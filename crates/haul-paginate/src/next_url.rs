//! [`NextUrlPaginator`]: the body carries the URL of the next page.

use haul_core::{Record, Request, Response};

use crate::builders::{next_at_url, page_size_builder, selector_builders, set_page_size};
use crate::signals::{
    bad_field, check_pointers, cursor_text, flag_at, json_text, no_way_forward, raw_at,
};
use crate::{Next, PageContext, PageState, PaginateError, Paginator, RecordSelector};

/// Next-URL pagination: the response body holds the next page's URL at a
/// JSON pointer, absolute or relative — `/next`, `/links/next`,
/// `/@odata.nextLink` (Microsoft Graph), `/nextRecordsUrl` (Salesforce,
/// relative). Relative URLs are resolved per RFC 3986 against the URL that
/// answered (the request URL, or where it redirected to).
///
/// The URL is followed exactly as given (its query is not re-encoded). The
/// dataset ends when the URL is missing, `null` or empty, or when the optional
/// [`has_more_at`](NextUrlPaginator::has_more_at) flag is `false` even though
/// a link is still present (Zendesk). A URL on another origin is refused by
/// the [`Guard`](crate::Guard) unless allowed there.
///
/// ```
/// use haul_paginate::{NextUrlPaginator, Next, PageContext, PageState, Paginator};
/// use haul_core::{Request, Response};
/// let pager = NextUrlPaginator::new("/nextRecordsUrl").records_at("/records");
/// let mut state = PageState::default();
/// let first = pager.first(Request::get("https://x.my.salesforce.com/services/data/v60.0/query?q=SELECT".parse()?), &mut state)?;
/// let resp = Response::new(http::StatusCode::OK, first.url.clone(),
///     r#"{"done":false,"records":[{"Id":"a"}],"nextRecordsUrl":"/services/data/v60.0/query/01g-2000"}"#);
/// let records = pager.records(&resp)?;
/// let page = PageContext { request: &first, response: &resp, records: &records, number: 1 };
/// let Next::Request(next) = pager.next(&page, &mut state)? else { panic!() };
/// assert_eq!(next.url.as_str(), "https://x.my.salesforce.com/services/data/v60.0/query/01g-2000");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct NextUrlPaginator {
    pointer: String,
    has_more: Option<String>,
    selector: RecordSelector,
    page_size: Option<(String, u64)>,
}

impl NextUrlPaginator {
    /// Reads the next URL at `pointer` (e.g. `/@odata.nextLink`).
    pub fn new(pointer: impl Into<String>) -> Self {
        Self {
            pointer: pointer.into(),
            has_more: None,
            selector: RecordSelector::Root,
            page_size: None,
        }
    }

    /// A boolean at `pointer` (e.g. `/meta/has_more`): `false` ends the
    /// dataset even when a next link is present; `true` without a link is a
    /// [`PaginateError::NoWayForward`] error.
    pub fn has_more_at(mut self, pointer: impl Into<String>) -> Self {
        self.has_more = Some(pointer.into());
        self
    }

    selector_builders!();

    page_size_builder! {
        /// Sends the page size as query parameter `param` on the first request
        /// (next URLs carry their own).
    }
}

impl Paginator for NextUrlPaginator {
    fn name(&self) -> &'static str {
        "next-url"
    }

    fn first(&self, mut base: Request, _state: &mut PageState) -> Result<Request, PaginateError> {
        check_pointers(&[
            ("next URL", Some(&self.pointer)),
            ("has_more", self.has_more.as_deref()),
        ])?;
        set_page_size(&mut base, self.page_size.as_ref());
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
        let raw = raw_at(page.response, text, &self.pointer)?;
        let Some(link) = cursor_text(page.response, raw, &self.pointer)? else {
            if has_more == Some(true) {
                return Err(no_way_forward(
                    page,
                    format!(
                        "the has_more flag is true, but there is no next URL at {}",
                        self.pointer
                    ),
                ));
            }
            return Ok(Next::End);
        };
        let url = page.response.url.join(link.trim()).map_err(|e| {
            bad_field(
                page.response,
                &self.pointer,
                format!("not a URL or relative reference ({e})"),
            )
        })?;
        Ok(next_at_url(page.request, url))
    }

    fn broken_promise(&self, page: &PageContext<'_>, _state: &PageState) -> Option<String> {
        crate::signals::bodyless_after(page, "a next URL")
    }
}
