//! `PageNumberPaginator`: `page=N`, 0- or 1-based, ending on whichever signal the API gives.

use haul_core::{Request, Response};
use haul_paginate::{PageNumberPaginator, PaginateError};
use proptest::prelude::*;

use crate::support::*;

/// Which end-of-data signals the test server sends.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Signal {
    /// `"total_pages":P` on every page.
    TotalPages,
    /// `"total":len` on every page.
    Total,
    /// `"total":len` on the first page only.
    TotalFirstPageOnly,
    /// Nothing: the walk ends on the empty page.
    Nothing,
    /// `"has_more":bool`.
    HasMore,
}

/// `GET /items?page=P&per_page=N` (first page `first`) → `{"items":[…]}` plus the signal.
fn page_server(len: usize, first: usize, signal: Signal) -> impl FnMut(&Request) -> Response {
    move |req| {
        let page = req
            .query("page")
            .map(|p| p.parse::<usize>().unwrap())
            .unwrap_or(first);
        let size = param(req, "per_page");
        let start = (page - first) * size;
        let end = (start + size).min(len);
        let extra = match signal {
            Signal::TotalPages => format!(",\"total_pages\":{}", len.div_ceil(size)),
            Signal::Total => format!(",\"total\":{len}"),
            Signal::TotalFirstPageOnly if page == first => format!(",\"total\":{len}"),
            Signal::TotalFirstPageOnly | Signal::Nothing => String::new(),
            Signal::HasMore => format!(",\"has_more\":{}", end < len),
        };
        ok(
            req,
            format!("{{\"items\":{}{extra}}}", array(start.min(end)..end)),
        )
    }
}

fn pager(first: usize, size: usize) -> PageNumberPaginator {
    PageNumberPaginator::new("page")
        .first_page(first as u64)
        .page_size("per_page", size as u64)
        .total_pages_at("/total_pages")
        .total_at("/total")
        .has_more_at("/has_more")
        .records_at("/items")
}

fn requests(
    pager: &PageNumberPaginator,
    mut serve: impl FnMut(&Request) -> Response,
) -> (Vec<String>, Vec<String>) {
    let mut pages = Vec::new();
    let seen = walk(pager, None, |req| {
        pages.push(req.query("page").unwrap());
        serve(req)
    })
    .unwrap();
    (seen, pages)
}

#[test]
fn page_ends_at_total_pages_one_based_and_zero_based() {
    let (seen, pages) = requests(&pager(1, 4), page_server(10, 1, Signal::TotalPages));
    assert_eq!(seen, dataset(10));
    assert_eq!(pages, ["1", "2", "3"]);
    let (seen, pages) = requests(&pager(0, 4), page_server(10, 0, Signal::TotalPages));
    assert_eq!(seen, dataset(10));
    assert_eq!(pages, ["0", "1", "2"]);
}

#[test]
fn page_ends_when_the_total_is_reached_even_if_sent_once() {
    for signal in [Signal::Total, Signal::TotalFirstPageOnly] {
        let (seen, pages) = requests(&pager(1, 5), page_server(10, 1, signal));
        assert_eq!(seen, dataset(10));
        assert_eq!(pages, ["1", "2"], "{signal:?}");
    }
}

#[test]
fn page_ends_on_has_more_false() {
    let (seen, pages) = requests(&pager(1, 5), page_server(7, 1, Signal::HasMore));
    assert_eq!(seen, dataset(7));
    assert_eq!(pages, ["1", "2"]);
}

#[test]
fn page_without_signals_ends_on_the_empty_page() {
    let (seen, pages) = requests(&pager(1, 5), page_server(10, 1, Signal::Nothing));
    assert_eq!(seen, dataset(10));
    assert_eq!(pages, ["1", "2", "3"]);
}

#[test]
fn a_short_page_is_not_the_end_unless_asked() {
    // The API returns short pages (cap 3 < per_page 5); only an empty page ends it.
    let capped = |req: &Request| {
        let page = param(req, "page");
        let start = (page - 1) * 3;
        ok(
            req,
            format!("{{\"items\":{}}}", array(start.min(8)..(start + 3).min(8))),
        )
    };
    let (seen, pages) = requests(&pager(1, 5), capped);
    assert_eq!(seen, dataset(8));
    assert_eq!(pages.len(), 4);
    let (seen, pages) = requests(&pager(1, 5).stop_on_short_page(true), capped);
    assert_eq!(
        seen,
        dataset(3),
        "asked to stop on a short page, it stops after page 1"
    );
    assert_eq!(pages.len(), 1);
}

#[test]
fn short_page_stop_without_a_page_size_is_a_config_error() {
    let pager = PageNumberPaginator::new("page").stop_on_short_page(true);
    let err = walk(&pager, None, |req| ok(req, "[]")).unwrap_err();
    assert!(matches!(err, PaginateError::Config(_)), "{err}");
}

#[test]
fn a_total_pages_that_is_not_a_count_is_a_typed_error() {
    let err = walk(&pager(1, 5), None, |req| {
        ok(req, r#"{"items":[1],"total_pages":-1}"#)
    })
    .unwrap_err();
    assert!(matches!(err, PaginateError::BadField { .. }), "{err}");
}

#[test]
fn a_page_parameter_that_is_not_a_number_is_a_config_error() {
    use haul_paginate::{PageContext, PageState, Paginator};
    let pager = PageNumberPaginator::new("p");
    let request = Request::get("https://api.example.com/items?p=abc".parse().unwrap());
    let resp = ok(&request, "[1]");
    let records = pager.records(&resp).unwrap();
    let page = PageContext {
        request: &request,
        response: &resp,
        records: &records,
        number: 1,
    };
    let err = pager.next(&page, &mut PageState::default()).unwrap_err();
    assert!(matches!(err, PaginateError::Config(_)), "{err}");
}

#[test]
fn page_non_json_body_is_not_json() {
    let err = walk(&pager(1, 5), None, |req| ok(req, "<!doctype html>")).unwrap_err();
    assert!(matches!(err, PaginateError::NotJson { .. }), "{err}");
}

fn any_signal() -> impl Strategy<Value = Signal> {
    prop_oneof![
        Just(Signal::TotalPages),
        Just(Signal::Total),
        Just(Signal::TotalFirstPageOnly),
        Just(Signal::Nothing),
        Just(Signal::HasMore)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn page_walk_yields_every_record_once_in_order(len in 0usize..3000, page_size in 1usize..250, first in 0usize..2, signal in any_signal()) {
        let seen = walk(&pager(first, page_size), None, page_server(len, first, signal)).unwrap();
        prop_assert_eq!(seen, dataset(len));
    }

    #[test]
    fn page_remaining_requests_cover_the_rest_exactly_once(len in 1usize..3000, page_size in 1usize..250, first in 0usize..2, signal in prop_oneof![Just(Signal::TotalPages), Just(Signal::TotalFirstPageOnly)]) {
        let seen = fetch_first_then_remaining(&pager(first, page_size), page_server(len, first, signal)).unwrap();
        prop_assert_eq!(seen, dataset(len));
    }

    #[test]
    fn page_server_ignoring_the_page_hits_max_pages(max in 1u64..40) {
        let err = walk(&pager(1, 2), Some(max), |req| ok(req, r#"{"items":[1,2]}"#)).unwrap_err();
        prop_assert!(matches!(err, PaginateError::MaxPagesExceeded { .. }), "{err}");
    }
}
