//! The end-of-data signals offset and page-number APIs give, read the same
//! way for both styles.

use haul_core::Request;
use serde_json::Value;

use crate::signals::{check_pointers, count_at, flag_at, json_text};
use crate::{PageContext, PageState, PaginateError};

/// State key for the number of pages the API announced.
const TOTAL_PAGES: &str = "total_pages";

/// More remaining requests than this are not handed out at once (a hostile
/// or buggy total must not allocate without bound); the pass then goes on
/// page by page.
pub(crate) const MAX_REMAINING: u64 = 100_000;

/// Which end-of-data signals a style listens to.
#[derive(Debug, Clone, Default)]
pub(crate) struct StopSignals {
    pub(crate) total: Option<String>,
    pub(crate) total_pages: Option<String>,
    pub(crate) has_more: Option<String>,
    pub(crate) short_page: bool,
    /// An empty page before a known total is reached ends the pass (with a
    /// warning) instead of being a contradiction.
    pub(crate) accept_short_listing: bool,
}

/// What one page said, merged with what earlier pages said.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Observed {
    pub(crate) total: Option<u64>,
    pub(crate) total_pages: Option<u64>,
    pub(crate) has_more: Option<bool>,
}

impl StopSignals {
    /// Rejects, when the run starts, a pointer that cannot be a JSON pointer,
    /// and a page size (called `size_name` in errors) that cannot serve: none
    /// to compare a short page with, or 0.
    pub(crate) fn check(
        &self,
        size: Option<&(String, u64)>,
        size_name: &str,
    ) -> Result<(), PaginateError> {
        check_pointers(&[
            ("total", self.total.as_deref()),
            ("total pages", self.total_pages.as_deref()),
            ("has_more", self.has_more.as_deref()),
        ])?;
        if self.short_page && size.is_none() {
            return Err(PaginateError::Config(format!(
                "stop_on_short_page needs a {size_name} to compare with"
            )));
        }
        if matches!(size, Some((_, 0))) {
            return Err(PaginateError::Config(format!(
                "the {size_name} must be at least 1"
            )));
        }
        Ok(())
    }

    /// Whether a page of `n` records ends the dataset by being shorter than
    /// the page size (only with `stop_on_short_page`).
    pub(crate) fn is_short(&self, n: u64, size: Option<&(String, u64)>) -> bool {
        self.short_page && size.is_some_and(|(_, s)| n < *s)
    }

    /// Reads this page's signals. A total (or total page count) is remembered
    /// in `state`, so an API that sends it on the first page only still ends
    /// on time.
    pub(crate) fn observe(
        &self,
        page: &PageContext<'_>,
        state: &mut PageState,
    ) -> Result<Observed, PaginateError> {
        let seen = self.read(page)?;
        if let Some(total) = seen.total {
            state.total = Some(total);
        }
        if let Some(pages) = seen.total_pages {
            state.extra.insert(TOTAL_PAGES.into(), Value::from(pages));
        }
        Ok(Observed {
            total: state.total,
            total_pages: total_pages(state),
            has_more: seen.has_more,
        })
    }

    /// What an empty answer contradicts, given the end it claims (`more`:
    /// the announced count, worded, when it says the page is inside the
    /// listing). A bodyless answer (204) carries no signals of its own, so
    /// the remembered ones count; an empty body's own total wins over the
    /// remembered one (a total that shrank is no contradiction).
    pub(crate) fn own(&self, page: &PageContext<'_>, state: &PageState) -> Option<Observed> {
        if self.accept_short_listing {
            return None;
        }
        self.peek(page, state).ok()
    }

    /// Like [`StopSignals::observe`] without touching the state.
    pub(crate) fn peek(
        &self,
        page: &PageContext<'_>,
        state: &PageState,
    ) -> Result<Observed, PaginateError> {
        let seen = self.read(page)?;
        Ok(Observed {
            total: seen.total.or(state.total),
            total_pages: seen.total_pages.or_else(|| total_pages(state)),
            has_more: seen.has_more,
        })
    }

    fn read(&self, page: &PageContext<'_>) -> Result<Observed, PaginateError> {
        let response = page.response;
        let Some(text) = json_text(response)? else {
            return Ok(Observed {
                total: None,
                total_pages: None,
                has_more: None,
            });
        };
        Ok(Observed {
            total: count_at(response, text, self.total.as_deref())?,
            total_pages: count_at(response, text, self.total_pages.as_deref())?,
            has_more: flag_at(response, text, self.has_more.as_deref())?,
        })
    }

    /// Logs an empty page that contradicts the signals: the pass ends (there
    /// is nothing to continue from) but the shortfall is said out loud.
    pub(crate) fn warn_if_more_claimed(&self, page: &PageContext<'_>, claimed_more: bool) {
        if claimed_more {
            tracing::warn!(
                url = %page.response.masked_url(),
                page = page.number,
                "empty page although the API announced more data; ending the pass"
            );
        }
    }
}

pub(crate) fn total_pages(state: &PageState) -> Option<u64> {
    state.extra.get(TOTAL_PAGES).and_then(Value::as_u64)
}

/// The numeric value of query parameter `param`, or `default` when absent.
pub(crate) fn query_number(
    request: &Request,
    param: &str,
    default: u64,
) -> Result<u64, PaginateError> {
    match request.query(param) {
        None => Ok(default),
        Some(v) => v.trim().parse().map_err(|_| {
            PaginateError::Config(format!(
                "query parameter {param}={v:?} of {} is not a page position",
                request.masked_url()
            ))
        }),
    }
}

/// How many more pages of `served` records cover the records from position
/// `next` (0-based) up to `total`: `ceil((total - next) / served)`, none
/// once `next >= total`. `None` when `served` is 0 (nothing to compute a
/// stride from). `served` must be the page size the server actually serves,
/// not the one requested: a request scheduled from a larger requested size
/// would skip records, one from a smaller size would run past the end.
pub(crate) fn remaining_count(total: u64, next: u64, served: u64) -> Option<u64> {
    if served == 0 {
        return None;
    }
    Some(total.saturating_sub(next).div_ceil(served))
}
