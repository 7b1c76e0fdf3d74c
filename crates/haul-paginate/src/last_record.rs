//! [`LastRecordCursor`]: the next request carries a field of the page's last record.

use haul_core::{Record, Request, Response};

use crate::builders::{next_with_cursor, page_size_builder, selector_builders, set_page_size};
use crate::signals::{bad_field, check_pointers, flag_at, json_text, no_way_forward};
use crate::{Next, PageContext, PageState, PaginateError, Paginator, RecordSelector};

/// Keyset pagination as Stripe does it: the next request sends a field of the
/// last record of the page (`starting_after=<id of the last record>`).
///
/// The dataset ends on an empty page, or when the optional
/// [`has_more_at`](LastRecordCursor::has_more_at) flag is `false`. A
/// non-empty page whose last record lacks the field is a
/// [`PaginateError::NoWayForward`] error: there would be more to fetch but
/// nothing to ask for it with.
///
/// ```
/// use haul_paginate::{LastRecordCursor, Next, PageContext, PageState, Paginator};
/// use haul_core::{Request, Response};
/// let pager = LastRecordCursor::new("/id", "starting_after")
///     .has_more_at("/has_more")
///     .records_at("/data")
///     .page_size("limit", 2);
/// let mut state = PageState::default();
/// let first = pager.first(Request::get("https://api.example.com/v1/customers".parse()?), &mut state)?;
/// let resp = Response::new(http::StatusCode::OK, first.url.clone(),
///     r#"{"object":"list","data":[{"id":"cus_1"},{"id":"cus_2"}],"has_more":true}"#);
/// let records = pager.records(&resp)?;
/// let page = PageContext { request: &first, response: &resp, records: &records, number: 1 };
/// let Next::Request(next) = pager.next(&page, &mut state)? else { panic!() };
/// assert_eq!(next.url.as_str(), "https://api.example.com/v1/customers?limit=2&starting_after=cus_2");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct LastRecordCursor {
    field: String,
    param: String,
    has_more: Option<String>,
    selector: RecordSelector,
    page_size: Option<(String, u64)>,
}

impl LastRecordCursor {
    /// Sends the last record's field at pointer `field` (e.g. `/id`) as query
    /// parameter `param` (e.g. `starting_after`).
    pub fn new(field: impl Into<String>, param: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            param: param.into(),
            has_more: None,
            selector: RecordSelector::Root,
            page_size: None,
        }
    }

    /// A boolean at `pointer` (e.g. `/has_more`); `false` ends the dataset.
    pub fn has_more_at(mut self, pointer: impl Into<String>) -> Self {
        self.has_more = Some(pointer.into());
        self
    }

    selector_builders!();

    page_size_builder!();
}

impl Paginator for LastRecordCursor {
    fn name(&self) -> &'static str {
        "last-record"
    }

    fn first(&self, mut base: Request, _state: &mut PageState) -> Result<Request, PaginateError> {
        check_pointers(&[
            ("last-record field", Some(&self.field)),
            ("has_more", self.has_more.as_deref()),
        ])?;
        set_page_size(&mut base, self.page_size.as_ref());
        Ok(base)
    }

    fn records(&self, response: &Response) -> Result<Vec<Record>, PaginateError> {
        self.selector.select(response)
    }

    fn next(&self, page: &PageContext<'_>, _state: &mut PageState) -> Result<Next, PaginateError> {
        let has_more = match json_text(page.response)? {
            Some(text) => flag_at(page.response, text, self.has_more.as_deref())?,
            None => None,
        };
        let Some(last) = page.records.last() else {
            if has_more == Some(true) {
                tracing::warn!(
                    url = %page.response.masked_url(),
                    page = page.number,
                    "has_more is true on an empty page; ending the pass"
                );
            }
            return Ok(Next::End);
        };
        if has_more == Some(false) {
            return Ok(Next::End);
        }
        let value = last
            .field(&self.field)
            .map_err(|e| bad_field(page.response, &self.field, e.to_string()))?;
        let Some(value) = value else {
            return Err(no_way_forward(
                page,
                format!(
                    "its last record has no usable value at {} for {}",
                    self.field, self.param
                ),
            ));
        };
        Ok(next_with_cursor(page.request, &self.param, &value, false))
    }

    fn broken_promise(&self, page: &PageContext<'_>, _state: &PageState) -> Option<String> {
        // Without a has_more flag, an empty page after a full one is how the
        // dataset ends; with one, the page before said `true`.
        let pointer = self.has_more.as_deref()?;
        crate::signals::bodyless_after(page, &format!("{pointer}: true and a last record"))
    }
}
