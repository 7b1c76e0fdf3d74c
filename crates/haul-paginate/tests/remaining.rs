//! The remaining-request computation behind concurrent offset and
//! page-number walks, against servers that clamp the page size silently
//! (issue 18): the listed requests are exactly the pages from the second to
//! the last, at the size the server serves — never one past the end — and
//! walking them in order (as the extractor does, with `next` on each page)
//! ends exactly at the total.

use haul_core::{Request, Response};
use haul_paginate::{
    Next, OffsetPaginator, PageContext, PageNumberPaginator, PageState, Paginator,
};
use proptest::prelude::*;

use crate::support::*;

/// How the server says where the data ends.
#[derive(Debug, Clone, Copy)]
enum Style {
    /// `offset`/`limit` with `"total":T`.
    Offset,
    /// `page`/`page_size` from `base`, with `"count":T` (Django REST framework).
    PageCount(usize),
    /// `page`/`page_size` from `base`, with `"total_pages":P` of the served size.
    PageTotalPages(usize),
}

/// The server: page sizes clamped to `clamp`, `len` records.
fn clamping_server(style: Style, len: usize, clamp: usize) -> impl Fn(&Request) -> Response {
    move |req| {
        let (start, size) = match style {
            Style::Offset => (param(req, "offset"), param(req, "limit").min(clamp)),
            Style::PageCount(base) | Style::PageTotalPages(base) => {
                let size = param(req, "page_size").min(clamp);
                let page = req.query("page").unwrap().parse::<usize>().unwrap();
                assert!(page >= base, "page {page} below the base {base}");
                ((page - base) * size, size)
            }
        };
        assert!(
            start == 0 || start < len,
            "{style:?}: a request past the end: start {start} of {len}"
        );
        let end = (start + size).min(len);
        let signal = match style {
            Style::Offset => format!("\"total\":{len}"),
            Style::PageCount(_) => format!("\"count\":{len}"),
            Style::PageTotalPages(_) => format!("\"total_pages\":{}", len.div_ceil(size)),
        };
        ok(
            req,
            format!("{{\"items\":{},{signal}}}", array(start.min(end)..end)),
        )
    }
}

fn pager(style: Style, requested: u64) -> Box<dyn Paginator> {
    match style {
        Style::Offset => Box::new(
            OffsetPaginator::new("offset")
                .limit("limit", requested)
                .total_at("/total")
                .records_at("/items"),
        ),
        Style::PageCount(base) => Box::new(
            PageNumberPaginator::new("page")
                .first_page(base as u64)
                .page_size("page_size", requested)
                .total_at("/count")
                .records_at("/items"),
        ),
        Style::PageTotalPages(base) => Box::new(
            PageNumberPaginator::new("page")
                .first_page(base as u64)
                .page_size("page_size", requested)
                .total_pages_at("/total_pages")
                .records_at("/items"),
        ),
    }
}

fn style() -> impl Strategy<Value = Style> {
    prop_oneof![
        Just(Style::Offset),
        (0usize..=1).prop_map(Style::PageCount),
        (0usize..=1).prop_map(Style::PageTotalPages),
    ]
}

/// One page through the paginator: its records and what follows.
fn page(
    pager: &dyn Paginator,
    serve: &impl Fn(&Request) -> Response,
    request: &Request,
    number: u64,
    state: &mut PageState,
) -> (Vec<String>, Response, Option<Request>) {
    let response = serve(request);
    let records = pager.records(&response).unwrap();
    let ctx = PageContext {
        request,
        response: &response,
        records: &records,
        number,
    };
    let next = match pager.next(&ctx, state).unwrap() {
        Next::Request(r) => Some(r),
        _ => None,
    };
    (
        records.iter().map(|r| r.as_str().to_owned()).collect(),
        response,
        next,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn remaining_requests_come_from_the_served_size_and_stop_at_the_end(
        style in style(),
        len in 0usize..3000,
        requested in 1u64..600,
        clamp in 1usize..300,
    ) {
        let served = (requested as usize).min(clamp);
        let pager = pager(style, requested);
        let serve = clamping_server(style, len, clamp);
        let mut state = PageState::default();
        let first = pager.first(base(), &mut state).unwrap();
        let (mut got, response, next) = page(pager.as_ref(), &serve, &first, 1, &mut state);
        let Some(_) = next else {
            // One page held everything.
            prop_assert!(len <= served);
            prop_assert_eq!(got, dataset(len));
            return Ok(());
        };
        let records: Vec<_> = pager.records(&response).unwrap();
        let ctx = PageContext { request: &first, response: &response, records: &records, number: 1 };
        let list = pager.remaining(&ctx, &state).expect("a total is known");
        // Exactly the pages from the second to the last, at the served size.
        prop_assert_eq!(list.len(), len.div_ceil(served) - 1);
        for (i, request) in list.iter().enumerate() {
            let position = match style {
                Style::Offset => request.query("offset").unwrap().parse::<usize>().unwrap(),
                Style::PageCount(base) | Style::PageTotalPages(base) => {
                    (request.query("page").unwrap().parse::<usize>().unwrap() - base) * served
                }
            };
            prop_assert_eq!(position, (i + 1) * served);
            prop_assert!(position < len, "listed past the end");
            prop_assert!(!pager.past_end(request, &state));
        }
        // Walked in order, as the extractor settles concurrent pages.
        let mut last_next = None;
        for (i, request) in list.iter().enumerate() {
            let (records, _, next) = page(pager.as_ref(), &serve, request, i as u64 + 2, &mut state);
            got.extend(records);
            last_next = next;
        }
        prop_assert!(last_next.is_none(), "the walk goes on past the last listed page");
        prop_assert_eq!(got, dataset(len));
    }

    #[test]
    fn the_remaining_count_is_the_ceiling_of_what_is_left(
        len in 0u64..1_000_000,
        seen in 0u64..1_000_000,
        served in 1u64..10_000,
    ) {
        // Offset: the pages listed after the first one cover [served, len).
        let pager = OffsetPaginator::new("offset").limit("limit", served).total_at("/total").records_at("/items");
        let mut state = PageState::default();
        let first = pager.first(base(), &mut state).unwrap();
        let first = {
            let mut r = first;
            r.set_query("offset", &seen.to_string());
            r
        };
        let body = format!("{{\"total\":{len},\"items\":{}}}", array(0..served.min(3) as usize));
        let response = ok(&first, body);
        let records = pager.records(&response).unwrap();
        let stride = records.len() as u64;
        let ctx = PageContext { request: &first, response: &response, records: &records, number: 1 };
        let list = pager.remaining(&ctx, &state).unwrap_or_default();
        let expected = len.saturating_sub(seen + stride).div_ceil(stride);
        if expected <= 100_000 {
            prop_assert_eq!(list.len() as u64, expected);
        }
        for r in &list {
            let offset: u64 = r.query("offset").unwrap().parse().unwrap();
            prop_assert!(offset < len && offset >= seen + stride);
        }
    }
}
