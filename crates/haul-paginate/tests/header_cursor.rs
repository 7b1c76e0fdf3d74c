//! `HeaderCursor`: the cursor comes in `X-Next-Cursor`.

use haul_core::{Request, Response};
use haul_paginate::{HeaderCursor, PaginateError, RecordSelector};
use proptest::prelude::*;

use crate::support::*;

/// `GET /items?cursor=h<offset>` → a root JSON array, with
/// `X-Next-Cursor: h<end>` on every page but the last.
fn header_server(len: usize, page_size: usize) -> impl FnMut(&Request) -> Response {
    move |req| {
        let offset: usize = req
            .query("cursor")
            .map(|c| c.trim_start_matches('h').parse().unwrap())
            .unwrap_or(0);
        let end = (offset + page_size).min(len);
        let resp = ok(req, array(offset..end));
        if end < len {
            resp.with_header("x-next-cursor", &format!("h{end}"))
        } else {
            resp
        }
    }
}

fn pager() -> HeaderCursor {
    HeaderCursor::new("X-Next-Cursor", "cursor")
}

#[test]
fn header_cursor_ends_without_the_header_or_with_an_empty_one() {
    let seen = walk(&pager(), None, header_server(5, 2)).unwrap();
    assert_eq!(seen, dataset(5));
    let seen = walk(&pager(), None, |req| {
        ok(req, "[1]").with_header("x-next-cursor", "  ")
    })
    .unwrap();
    assert_eq!(seen, ["1"]);
}

#[test]
fn header_cursor_takes_records_from_ndjson() {
    let pager = pager().selector(RecordSelector::Ndjson);
    let seen = walk(&pager, None, |req| match req.query("cursor") {
        None => ok(req, "{\"id\":0}\n{\"id\":1}\n").with_header("x-next-cursor", "n"),
        Some(_) => ok(req, "{\"id\":2}\n"),
    })
    .unwrap();
    assert_eq!(seen, dataset(3));
}

#[test]
fn header_cursor_with_an_invalid_header_name_is_a_config_error() {
    let err = walk(&HeaderCursor::new("bad header", "c"), None, |req| {
        ok(req, "[]")
    })
    .unwrap_err();
    assert!(matches!(err, PaginateError::Config(_)), "{err}");
}

#[test]
fn header_cursor_non_json_body_is_not_json() {
    let err = walk(&pager(), None, |req| ok(req, "<html/>")).unwrap_err();
    assert!(matches!(err, PaginateError::NotJson { .. }), "{err}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn header_cursor_walk_yields_every_record_once_in_order(len in 0usize..3000, page_size in 1usize..250) {
        let seen = walk(&pager(), None, header_server(len, page_size)).unwrap();
        prop_assert_eq!(seen, dataset(len));
    }

    #[test]
    fn header_cursor_server_repeating_a_cursor_is_always_a_cycle(len in 2usize..500, page_size in 1usize..50, at in any::<prop::sample::Index>(), back in any::<prop::sample::Index>()) {
        let pages = len.div_ceil(page_size);
        prop_assume!(pages >= 2);
        let (k, j) = cycle_point(pages, at, back);
        let mut serve = header_server(len, page_size);
        let result = walk(&pager(), None, counting(move |req, page| {
            let mut resp = serve(req);
            if page == k {
                let cursor = format!("h{}", (j - 1) * page_size);
                resp.headers.insert("x-next-cursor", cursor.parse().unwrap());
            }
            resp
        }));
        prop_assert!(matches!(result, Err(PaginateError::CursorCycle { page, .. }) if page == cycle_page(k, j)), "{result:?}");
    }
}
