//! [`Guard`]: loop and runaway protection shared by every paginator style.

use std::collections::HashSet;
use std::hash::{DefaultHasher, Hash, Hasher};

use haul_core::Request;

use crate::PaginateError;

/// Rejects a next request that was already sent in this pass (a cursor, URL
/// or offset cycle, whatever the style) and a page count beyond `max_pages`.
///
/// Requests are remembered as 64-bit fingerprints of method, URL and body, so
/// the memory cost is a few bytes per page, not per record.
///
/// ```
/// use haul_paginate::{Guard, PaginateError};
/// use haul_core::Request;
/// let req = |c: &str| Request::get(format!("https://api.example.com/items?cursor={c}").parse().unwrap());
/// let mut guard = Guard::new(Some(10));
/// guard.admit(&req("A"), 0)?;
/// guard.admit(&req("B"), 1)?;
/// assert!(matches!(guard.admit(&req("A"), 2), Err(PaginateError::CursorCycle { page: 2, .. })));
/// # Ok::<(), PaginateError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Guard {
    max_pages: Option<u64>,
    seen: HashSet<u64>,
}

impl Guard {
    /// A guard allowing at most `max_pages` pages (`None`: no limit).
    pub fn new(max_pages: Option<u64>) -> Self {
        Self {
            max_pages,
            seen: HashSet::new(),
        }
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
        if !self.seen.insert(fingerprint(next)) {
            return Err(PaginateError::CursorCycle {
                value: describe(next),
                page: pages_done,
            });
        }
        Ok(())
    }

    /// Number of distinct requests admitted so far.
    pub fn admitted(&self) -> usize {
        self.seen.len()
    }
}

fn fingerprint(req: &Request) -> u64 {
    let mut h = DefaultHasher::new();
    req.method.as_str().hash(&mut h);
    req.url.as_str().hash(&mut h);
    req.body.as_deref().hash(&mut h);
    h.finish()
}

fn describe(req: &Request) -> String {
    match &req.body {
        Some(body) => format!(
            "{} {} with body {}",
            req.method,
            req.masked_url(),
            haul_core::redact::mask_value(&String::from_utf8_lossy(body))
        ),
        None => format!("{} {}", req.method, req.masked_url()),
    }
}
