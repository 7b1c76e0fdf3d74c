//! [`LinkHeaderPaginator`]: follows the RFC 8288 `Link` header's `rel="next"`.

use haul_core::{Record, Request, Response};

use crate::builders::{next_at_url, page_size_builder, selector_builders, set_page_size};
use crate::link::find_link;
use crate::{Next, PageContext, PageState, PaginateError, Paginator, RecordSelector};

/// Link-header pagination (GitHub and many others): the next page is the
/// target of the link with relation `next` in the `Link` headers, resolved
/// against the URL that answered. No such link ends the dataset.
///
/// The header is read by a real RFC 8288 parser ([`crate::link`]): several
/// links per header and repeated headers, quoted or unquoted parameters,
/// commas and semicolons inside URLs, `rel="next last"`, any case.
///
/// ```
/// use haul_paginate::{LinkHeaderPaginator, Next, PageContext, PageState, Paginator};
/// use haul_core::{Request, Response};
/// let pager = LinkHeaderPaginator::new().page_size("per_page", 100);
/// let mut state = PageState::default();
/// let first = pager.first(Request::get("https://api.github.com/repos/o/r/issues".parse()?), &mut state)?;
/// let resp = Response::new(http::StatusCode::OK, first.url.clone(), "[]").with_header("link",
///     r#"<https://api.github.com/repositories/1/issues?per_page=100&page=2>; rel="next", <https://api.github.com/repositories/1/issues?per_page=100&page=5>; rel="last""#);
/// let records = pager.records(&resp)?;
/// let page = PageContext { request: &first, response: &resp, records: &records, number: 1 };
/// let Next::Request(next) = pager.next(&page, &mut state)? else { panic!() };
/// assert_eq!(next.url.as_str(), "https://api.github.com/repositories/1/issues?per_page=100&page=2");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct LinkHeaderPaginator {
    rel: String,
    selector: RecordSelector,
    page_size: Option<(String, u64)>,
}

impl Default for LinkHeaderPaginator {
    fn default() -> Self {
        Self::new()
    }
}

impl LinkHeaderPaginator {
    /// Follows `rel="next"`; records are the body's root array.
    pub fn new() -> Self {
        Self {
            rel: "next".into(),
            selector: RecordSelector::Root,
            page_size: None,
        }
    }

    /// Follows another relation type instead of `next`.
    pub fn rel(mut self, rel: impl Into<String>) -> Self {
        self.rel = rel.into();
        self
    }

    selector_builders!();

    page_size_builder! {
        /// Sends the page size as query parameter `param` on the first request
        /// (next links carry their own).
    }
}

impl Paginator for LinkHeaderPaginator {
    fn name(&self) -> &'static str {
        "link"
    }

    fn first(&self, mut base: Request, _state: &mut PageState) -> Result<Request, PaginateError> {
        set_page_size(&mut base, self.page_size.as_ref());
        Ok(base)
    }

    fn records(&self, response: &Response) -> Result<Vec<Record>, PaginateError> {
        self.selector.select(response)
    }

    fn next(&self, page: &PageContext<'_>, _state: &mut PageState) -> Result<Next, PaginateError> {
        Ok(match find_link(page.response, &self.rel)? {
            Some(url) => next_at_url(page.request, url),
            None => Next::End,
        })
    }

    fn broken_promise(&self, page: &PageContext<'_>, _state: &PageState) -> Option<String> {
        crate::signals::bodyless_after(page, &format!("a Link rel=\"{}\"", self.rel))
    }
}
