//! `OffsetPaginator`: `offset`/`limit`, ending on whichever signal the API gives.

use haul_core::{Request, Response};
use haul_paginate::{OffsetPaginator, PaginateError};
use proptest::prelude::*;

use crate::support::*;

/// Which end-of-data signals the test server sends.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Total {
    /// `"total":len` on every page.
    EveryPage,
    /// `"total":len` on the first page (`offset=0`) only.
    FirstPageOnly,
    /// No total: the walk must end on the empty page after the data.
    Never,
    /// `"has_more":bool` instead of a total.
    HasMore,
}

/// `GET /items?offset=O&limit=L` → `{"items":[…]}` plus the signal of `total`.
/// The server caps the page size at `cap` whatever the limit asks.
fn offset_server(len: usize, cap: usize, total: Total) -> impl FnMut(&Request) -> Response {
    move |req| {
        let offset = param(req, "offset");
        let limit = param(req, "limit").min(cap);
        let end = (offset + limit).min(len);
        let signal = match total {
            Total::EveryPage => format!(",\"total\":{len}"),
            Total::FirstPageOnly if offset == 0 => format!(",\"total\":{len}"),
            Total::FirstPageOnly | Total::Never => String::new(),
            Total::HasMore => format!(",\"has_more\":{}", end < len),
        };
        ok(
            req,
            format!("{{\"items\":{}{signal}}}", array(offset.min(end)..end)),
        )
    }
}

fn pager(limit: usize, total: Total) -> OffsetPaginator {
    let p = OffsetPaginator::new("offset")
        .limit("limit", limit as u64)
        .records_at("/items");
    match total {
        Total::HasMore => p.has_more_at("/has_more"),
        _ => p.total_at("/total"),
    }
}

fn count_requests(
    pager: &OffsetPaginator,
    mut serve: impl FnMut(&Request) -> Response,
) -> (Vec<String>, usize) {
    let mut n = 0;
    let seen = walk(pager, None, |req| {
        n += 1;
        serve(req)
    })
    .unwrap();
    (seen, n)
}

#[test]
fn offset_ends_when_the_total_is_reached() {
    let (seen, requests) = count_requests(
        &pager(5, Total::EveryPage),
        offset_server(10, 5, Total::EveryPage),
    );
    assert_eq!(seen, dataset(10));
    assert_eq!(requests, 2, "no request past the total");
}

#[test]
fn offset_remembers_a_total_sent_on_the_first_page_only() {
    let (seen, requests) = count_requests(
        &pager(5, Total::FirstPageOnly),
        offset_server(12, 5, Total::FirstPageOnly),
    );
    assert_eq!(seen, dataset(12));
    assert_eq!(requests, 3);
}

#[test]
fn offset_without_a_total_ends_on_the_empty_page() {
    let (seen, requests) =
        count_requests(&pager(5, Total::Never), offset_server(10, 5, Total::Never));
    assert_eq!(seen, dataset(10));
    assert_eq!(requests, 3, "two full pages, then the empty one");
}

#[test]
fn offset_ends_on_has_more_false() {
    let (seen, requests) = count_requests(
        &pager(5, Total::HasMore),
        offset_server(10, 5, Total::HasMore),
    );
    assert_eq!(seen, dataset(10));
    assert_eq!(requests, 2);
}

#[test]
fn a_short_page_does_not_end_by_default() {
    // The API returns short pages mid-dataset (it caps at 3 though 5 were asked).
    let (seen, requests) =
        count_requests(&pager(5, Total::Never), offset_server(10, 3, Total::Never));
    assert_eq!(
        seen,
        dataset(10),
        "a capped page size must not lose records"
    );
    assert_eq!(requests, 5);
}

#[test]
fn a_short_page_ends_when_asked() {
    let pager = pager(5, Total::Never).stop_on_short_page(true);
    let (seen, requests) = count_requests(&pager, offset_server(12, 5, Total::Never));
    assert_eq!(seen, dataset(12));
    assert_eq!(
        requests, 3,
        "the short third page ends it without an empty fourth"
    );
}

#[test]
fn short_page_stop_without_a_limit_is_a_config_error() {
    let pager = OffsetPaginator::new("offset").stop_on_short_page(true);
    let err = walk(&pager, None, |req| ok(req, "[]")).unwrap_err();
    assert!(matches!(err, PaginateError::Config(_)), "{err}");
}

#[test]
fn a_missing_or_null_total_never_crashes() {
    for body in [
        r#"{"items":[]}"#,
        r#"{"items":[],"total":null}"#,
        r#"{"items":null}"#,
        "",
    ] {
        let seen = walk(&pager(5, Total::EveryPage), None, |req| ok(req, body)).unwrap();
        assert!(seen.is_empty());
    }
}

#[test]
fn a_total_that_is_not_a_count_is_a_typed_error() {
    let err = walk(&pager(5, Total::EveryPage), None, |req| {
        ok(req, r#"{"items":[1],"total":"many"}"#)
    })
    .unwrap_err();
    assert!(
        matches!(&err, PaginateError::BadField { what, .. } if what == "/total"),
        "{err}"
    );
}

#[test]
fn a_total_as_a_numeric_string_is_read() {
    let (seen, requests) = count_requests(&pager(2, Total::EveryPage), |req| {
        let offset = param(req, "offset");
        ok(
            req,
            format!(
                r#"{{"items":{},"total":"3"}}"#,
                array(offset..(offset + 2).min(3))
            ),
        )
    });
    assert_eq!(seen, dataset(3));
    assert_eq!(requests, 2);
}

#[test]
fn offset_starts_where_asked_and_keeps_other_parameters() {
    let pager = pager(2, Total::EveryPage).start_at(4);
    let mut urls = Vec::new();
    let seen = walk(&pager, None, |req| {
        urls.push(req.url.to_string());
        offset_server(7, 2, Total::EveryPage)(req)
    })
    .unwrap();
    assert_eq!(seen, [record(4), record(5), record(6)]);
    assert_eq!(urls[0], "https://api.example.com/items?offset=4&limit=2");
    assert_eq!(urls[1], "https://api.example.com/items?offset=6&limit=2");
}

#[test]
fn a_server_ignoring_the_offset_hits_max_pages() {
    let err = walk(&pager(2, Total::Never), Some(50), |req| {
        ok(req, r#"{"items":[1,2]}"#)
    })
    .unwrap_err();
    assert!(
        matches!(err, PaginateError::MaxPagesExceeded { max: 50, .. }),
        "{err}"
    );
}

#[test]
fn offset_remaining_is_none_without_a_total() {
    use haul_paginate::{PageContext, PageState, Paginator};
    let pager = pager(5, Total::Never);
    let req = pager.first(base(), &mut PageState::default()).unwrap();
    let resp = ok(&req, r#"{"items":[1,2,3,4,5]}"#);
    let records = pager.records(&resp).unwrap();
    let page = PageContext {
        request: &req,
        response: &resp,
        records: &records,
        number: 1,
    };
    assert!(pager.remaining(&page, &PageState::default()).is_none());
}

#[test]
fn offset_non_json_body_is_not_json() {
    let err = walk(&pager(5, Total::EveryPage), None, |req| {
        ok(req, "Service Unavailable")
    })
    .unwrap_err();
    assert!(matches!(err, PaginateError::NotJson { .. }), "{err}");
}

fn any_total() -> impl Strategy<Value = Total> {
    prop_oneof![
        Just(Total::EveryPage),
        Just(Total::FirstPageOnly),
        Just(Total::Never),
        Just(Total::HasMore)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn offset_walk_yields_every_record_once_in_order(len in 0usize..3000, page_size in 1usize..250, total in any_total()) {
        let seen = walk(&pager(page_size, total), None, offset_server(len, page_size, total)).unwrap();
        prop_assert_eq!(seen, dataset(len));
    }

    #[test]
    fn offset_walk_with_a_capped_page_size_loses_nothing(len in 0usize..1000, page_size in 2usize..100, cap in 1usize..100, total in any_total()) {
        let seen = walk(&pager(page_size, total), None, offset_server(len, cap.min(page_size), total)).unwrap();
        prop_assert_eq!(seen, dataset(len));
    }

    #[test]
    fn offset_remaining_requests_cover_the_rest_exactly_once(len in 1usize..3000, page_size in 1usize..250) {
        let total = Total::FirstPageOnly;
        let seen = fetch_first_then_remaining(&pager(page_size, total), offset_server(len, page_size, total)).unwrap();
        prop_assert_eq!(seen, dataset(len));
    }
}
