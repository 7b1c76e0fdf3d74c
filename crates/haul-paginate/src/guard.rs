//! [`Guard`]: loop, runaway and origin protection shared by every paginator style.

use std::collections::HashSet;
use std::hash::{DefaultHasher, Hash, Hasher};

use haul_core::Request;
use url::Url;

use crate::PaginateError;
use crate::repeat::describe_repeat;

/// Checks every request of a pass before it is sent, whatever the style:
///
/// - a request already sent in this pass (a cursor, URL or offset cycle) is a
///   [`PaginateError::CursorCycle`] naming the repeated value and the page;
/// - a page beyond `max_pages` is a [`PaginateError::MaxPagesExceeded`];
/// - a request to another origin than the first one is a
///   [`PaginateError::CrossOrigin`], unless [`Guard::allow_cross_origin`];
/// - [`Guard::max_empty_pages`] (default 3) consecutive pages without
///   records while the API still offers a next page end the pass
///   ([`Guard::after_page`] says when): an API that keeps answering empty
///   pages with a fresh cursor after its real end is not walked for hours.
///
/// Requests are remembered as 64-bit fingerprints of method, URL and body, so
/// the memory cost is a few bytes per page, not per record.
///
/// ```
/// use haul_paginate::{Guard, PaginateError};
/// use haul_core::Request;
/// let req = |url: &str| Request::get(url.parse().unwrap());
/// let mut guard = Guard::new(Some(10));
/// guard.admit(&req("https://api.example.com/items?cursor=A"), 0)?;
/// guard.admit(&req("https://api.example.com/items?cursor=B"), 1)?;
/// let err = guard.admit(&req("https://api.example.com/items?cursor=A"), 2).unwrap_err();
/// assert!(matches!(&err, PaginateError::CursorCycle { page: 2, value } if value.starts_with("cursor=A")));
/// let err = guard.admit(&req("https://evil.example/items?cursor=C"), 2).unwrap_err();
/// assert!(matches!(err, PaginateError::CrossOrigin { .. }));
/// # Ok::<(), PaginateError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Guard {
    max_pages: Option<u64>,
    seen: HashSet<u64>,
    allow_cross_origin: bool,
    origin: Option<String>,
    last: Option<Request>,
    max_empty_pages: u32,
    empty_run: u32,
}

/// The default of [`Guard::max_empty_pages`].
pub const DEFAULT_MAX_EMPTY_PAGES: u32 = 3;

/// What [`Guard::after_page`] says about the page just fetched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EmptyPages {
    /// Go on with the next page.
    Continue,
    /// This many consecutive pages had no records while the API still
    /// offered a next page: the pass ends here.
    Limit(u32),
}

impl Guard {
    /// A guard allowing at most `max_pages` pages (`None`: no limit), on the
    /// origin of the first admitted request only.
    pub fn new(max_pages: Option<u64>) -> Self {
        Self {
            max_pages,
            seen: HashSet::new(),
            allow_cross_origin: false,
            origin: None,
            last: None,
            max_empty_pages: DEFAULT_MAX_EMPTY_PAGES,
            empty_run: 0,
        }
    }

    /// Ends the pass after `n` consecutive pages without records while the
    /// API still offers a next page (a fresh cursor, a next link, `has_more:
    /// true`). Default [`DEFAULT_MAX_EMPTY_PAGES`] (3); `0` disables the
    /// check. Raise it for an API that filters server-side and may answer
    /// several empty pages in a row in the middle of a listing.
    pub fn max_empty_pages(mut self, n: u32) -> Self {
        self.max_empty_pages = n;
        self
    }

    /// Counts a page of `records` records after which the API offered a next
    /// page; says whether the pass must end because of a run of empty pages.
    /// A page with records resets the count.
    ///
    /// ```
    /// use haul_paginate::{EmptyPages, Guard};
    /// let mut guard = Guard::new(None).max_empty_pages(2);
    /// assert_eq!(guard.after_page(0), EmptyPages::Continue);
    /// assert_eq!(guard.after_page(5), EmptyPages::Continue);
    /// assert_eq!(guard.after_page(0), EmptyPages::Continue);
    /// assert_eq!(guard.after_page(0), EmptyPages::Limit(2));
    /// ```
    pub fn after_page(&mut self, records: usize) -> EmptyPages {
        if records > 0 {
            self.empty_run = 0;
            return EmptyPages::Continue;
        }
        self.empty_run = self.empty_run.saturating_add(1);
        if self.max_empty_pages > 0 && self.empty_run >= self.max_empty_pages {
            EmptyPages::Limit(self.empty_run)
        } else {
            EmptyPages::Continue
        }
    }

    /// Whether requests to another origin than the first one may be admitted
    /// (default: no). The transport must still not send credentials there.
    pub fn allow_cross_origin(mut self, allow: bool) -> Self {
        self.allow_cross_origin = allow;
        self
    }

    /// Sets the reference origin explicitly (e.g. the configured base URL when
    /// a pass resumes from a stored next request), instead of taking it from
    /// the first admitted request.
    pub fn with_origin(mut self, url: &Url) -> Self {
        self.origin = Some(origin_of(url));
        self
    }

    /// The reference origin (`scheme://host:port`), once known.
    pub fn origin(&self) -> Option<&str> {
        self.origin.as_deref()
    }

    /// Admits `next`, the request that would produce page `pages_done + 1`,
    /// after `pages_done` pages of this pass. The first request is admitted
    /// with `pages_done = 0`.
    pub fn admit(&mut self, next: &Request, pages_done: u64) -> Result<(), PaginateError> {
        if let Some(max) = self.max_pages
            && pages_done >= max
        {
            return Err(PaginateError::MaxPagesExceeded {
                max,
                next: next.masked_url(),
            });
        }
        let origin = origin_of(&next.url);
        match &self.origin {
            None => self.origin = Some(origin),
            Some(from) if *from != origin && !self.allow_cross_origin => {
                return Err(PaginateError::CrossOrigin {
                    from: from.clone(),
                    to: origin,
                });
            }
            Some(_) => {}
        }
        if !self.seen.insert(fingerprint(next)) {
            return Err(PaginateError::CursorCycle {
                value: describe_repeat(self.last.as_ref(), next),
                page: pages_done,
            });
        }
        self.last = Some(next.clone());
        Ok(())
    }

    /// Number of distinct requests admitted so far.
    pub fn admitted(&self) -> usize {
        self.seen.len()
    }
}

/// `scheme://host:port` with the port always spelled out, so two URLs differing
/// only by an implicit default port share an origin.
fn origin_of(url: &Url) -> String {
    format!(
        "{}://{}:{}",
        url.scheme(),
        url.host_str().unwrap_or(""),
        url.port_or_known_default().unwrap_or(0)
    )
}

fn fingerprint(req: &Request) -> u64 {
    let mut h = DefaultHasher::new();
    req.method.as_str().hash(&mut h);
    req.url.as_str().hash(&mut h);
    req.body.as_deref().hash(&mut h);
    h.finish()
}
