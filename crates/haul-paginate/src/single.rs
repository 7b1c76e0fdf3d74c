//! [`SinglePage`]: no pagination.

use haul_core::{Record, Request, Response};

use crate::builders::selector_builders;
use crate::{Next, PageContext, PageState, PaginateError, Paginator, RecordSelector};

/// One request, one page: for endpoints that return everything at once.
///
/// ```
/// use haul_paginate::{Next, PageContext, PageState, Paginator, SinglePage};
/// use haul_core::{Request, Response};
/// let pager = SinglePage::new().records_at("/value");
/// let req = Request::get("https://api.example.com/countries".parse()?);
/// let resp = Response::new(http::StatusCode::OK, req.url.clone(), r#"{"value":["fr","de"]}"#);
/// let records = pager.records(&resp)?;
/// assert_eq!(records.len(), 2);
/// let page = PageContext { request: &req, response: &resp, records: &records, number: 1 };
/// assert!(matches!(pager.next(&page, &mut PageState::default())?, Next::End));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct SinglePage {
    selector: RecordSelector,
}

impl SinglePage {
    /// A single page whose records are the body's root array.
    pub fn new() -> Self {
        Self::default()
    }

    selector_builders!();
}

impl Paginator for SinglePage {
    fn name(&self) -> &'static str {
        "single"
    }

    fn first(&self, base: Request, _state: &mut PageState) -> Result<Request, PaginateError> {
        Ok(base)
    }

    fn records(&self, response: &Response) -> Result<Vec<Record>, PaginateError> {
        self.selector.select(response)
    }

    fn next(&self, _page: &PageContext<'_>, _state: &mut PageState) -> Result<Next, PaginateError> {
        Ok(Next::End)
    }

    fn remaining(&self, _page: &PageContext<'_>, _state: &PageState) -> Option<Vec<Request>> {
        Some(Vec::new())
    }
}
