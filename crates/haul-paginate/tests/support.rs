//! The in-memory "API" every style is walked against: a request goes to a
//! closure, a response comes back; no network.

use haul_core::{Request, Response};
use haul_paginate::{Guard, Next, PageContext, PageState, PaginateError, Paginator};
use http::StatusCode;

/// The base URL every walk starts from.
pub(crate) const BASE: &str = "https://api.example.com/items";

/// The base request every walk starts from.
pub(crate) fn base() -> Request {
    Request::get(BASE.parse().unwrap())
}

/// A 200 response to `req` with a JSON (or any) body.
pub(crate) fn ok(req: &Request, body: impl Into<String>) -> Response {
    Response::new(StatusCode::OK, req.url.clone(), body.into())
}

/// Record `i` of every dataset.
pub(crate) fn record(i: usize) -> String {
    format!("{{\"id\":{i}}}")
}

/// Records `range` as a JSON array.
pub(crate) fn array(range: std::ops::Range<usize>) -> String {
    let items: Vec<String> = range.map(record).collect();
    format!("[{}]", items.join(","))
}

/// The whole dataset of `len` records, as the walk should yield it.
pub(crate) fn dataset(len: usize) -> Vec<String> {
    (0..len).map(record).collect()
}

/// What a walk ended with.
#[derive(Debug)]
pub(crate) struct Walk {
    /// Records, in the order they were yielded.
    pub(crate) records: Vec<String>,
    /// The state after the last page.
    pub(crate) state: PageState,
    /// Pages fetched.
    pub(crate) pages: u64,
}

/// Walks `pager` from the base request against `serve`, guarded by `max_pages`.
pub(crate) fn walk(
    pager: &dyn Paginator,
    max_pages: Option<u64>,
    serve: impl FnMut(&Request) -> Response,
) -> Result<Vec<String>, PaginateError> {
    walk_with(
        pager,
        base(),
        Guard::new(max_pages),
        PageState::default(),
        serve,
    )
    .map(|w| w.records)
}

/// Walks `pager` from `base` with the given guard and starting state.
pub(crate) fn walk_with(
    pager: &dyn Paginator,
    base: Request,
    mut guard: Guard,
    mut state: PageState,
    mut serve: impl FnMut(&Request) -> Response,
) -> Result<Walk, PaginateError> {
    let mut request = pager.first(base, &mut state)?;
    let mut records = Vec::new();
    let mut pages = 0;
    loop {
        guard.admit(&request, pages)?;
        let response = serve(&request);
        let selected = pager.records(&response)?;
        pages += 1;
        records.extend(selected.iter().map(|r| r.as_str().to_owned()));
        let page = PageContext {
            request: &request,
            response: &response,
            records: &selected,
            number: pages,
        };
        match pager.next(&page, &mut state)? {
            Next::Request(next) => request = next,
            Next::End => {
                return Ok(Walk {
                    records,
                    state,
                    pages,
                });
            }
            _ => unreachable!(),
        }
    }
}

/// Fetches the first page, then every request `remaining` hands out (as a
/// concurrent extractor would, here in order), all through one guard.
pub(crate) fn fetch_first_then_remaining(
    pager: &dyn Paginator,
    mut serve: impl FnMut(&Request) -> Response,
) -> Result<Vec<String>, PaginateError> {
    let mut state = PageState::default();
    let mut guard = Guard::new(None);
    let first = pager.first(base(), &mut state)?;
    guard.admit(&first, 0)?;
    let response = serve(&first);
    let selected = pager.records(&response)?;
    let mut records: Vec<String> = selected.iter().map(|r| r.as_str().to_owned()).collect();
    let page = PageContext {
        request: &first,
        response: &response,
        records: &selected,
        number: 1,
    };
    let next = pager.next(&page, &mut state)?;
    let Some(rest) = pager.remaining(&page, &state) else {
        panic!("remaining() should know the rest once the total is known (next: {next:?})");
    };
    assert_eq!(
        matches!(next, Next::End),
        rest.is_empty(),
        "next and remaining disagree"
    );
    for (i, req) in rest.iter().enumerate() {
        guard.admit(req, i as u64 + 1)?;
        let response = serve(req);
        records.extend(
            pager
                .records(&response)?
                .iter()
                .map(|r| r.as_str().to_owned()),
        );
    }
    Ok(records)
}

/// A numeric query parameter, 0 when absent.
pub(crate) fn param(req: &Request, name: &str) -> usize {
    req.query(name).map(|v| v.parse().unwrap()).unwrap_or(0)
}

/// Where a misbehaving server repeats itself: at page `k` (1-based) its next
/// pointer leads back to page `j`, with `1 ≤ j ≤ k ≤ pages`. Back to page 1
/// is the first request itself for URL styles; cursor styles requested page 1
/// without a cursor, so naming it again (`cursor=<offset 0>`) is a new
/// request, and the cycle shows one page later: see [`cycle_page`].
pub(crate) fn cycle_point(
    pages: usize,
    at: proptest::sample::Index,
    back: proptest::sample::Index,
) -> (usize, usize) {
    let k = 2 + at.index(pages - 1);
    let j = 1 + back.index(k);
    (k, j)
}

/// The page a cursor style's [`PaginateError::CursorCycle`] names when page
/// `k` leads back to page `j`: `k`, or `k + 1` when `j` is page 1 (page 1
/// served again leads to page 2's cursor, already sent).
pub(crate) fn cycle_page(k: usize, j: usize) -> u64 {
    if j == 1 { k as u64 + 1 } else { k as u64 }
}

/// `body` cut at the last `marker`, followed by `replacement`.
pub(crate) fn replace_tail(body: &[u8], marker: &str, replacement: &str) -> String {
    let body = String::from_utf8_lossy(body);
    let at = body.rfind(marker).unwrap();
    format!("{}{replacement}", &body[..at])
}

/// Counts the pages a server has answered.
pub(crate) fn counting(
    mut serve: impl FnMut(&Request, usize) -> Response,
) -> impl FnMut(&Request) -> Response {
    let mut page = 0;
    move |req| {
        page += 1;
        serve(req, page)
    }
}
