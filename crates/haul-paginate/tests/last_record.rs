//! `LastRecordCursor`: Stripe-style `starting_after=<id of the last record>`.

use haul_core::{Request, Response};
use haul_paginate::{LastRecordCursor, PaginateError};
use proptest::prelude::*;

use crate::support::*;

/// Stripe's shape over ids `0..len`: `GET /items?limit=N&starting_after=<id>` →
/// `{"object":"list","data":[{"id":…},…],"has_more":bool,"url":"/items"}`.
fn stripe_server(len: usize) -> impl FnMut(&Request) -> Response {
    move |req| {
        let limit = param(req, "limit");
        let start = req
            .query("starting_after")
            .map(|id| id.parse::<usize>().unwrap() + 1)
            .unwrap_or(0);
        let end = (start + limit).min(len);
        ok(
            req,
            format!(
                r#"{{"object":"list","data":{},"has_more":{},"url":"/items"}}"#,
                array(start.min(end)..end),
                end < len
            ),
        )
    }
}

fn pager(page_size: usize) -> LastRecordCursor {
    LastRecordCursor::new("/id", "starting_after")
        .has_more_at("/has_more")
        .records_at("/data")
        .page_size("limit", page_size as u64)
}

#[test]
fn last_record_ends_on_has_more_false() {
    let mut requests = 0;
    let seen = walk(&pager(2), None, |req| {
        requests += 1;
        stripe_server(4)(req)
    })
    .unwrap();
    assert_eq!(seen, dataset(4));
    assert_eq!(
        requests, 2,
        "has_more:false on page 2 must end without a third request"
    );
}

#[test]
fn last_record_ends_on_an_empty_page_even_if_has_more_lies() {
    // has_more:true followed by an empty page.
    let seen = walk(&pager(2), None, |req| {
        if req.query("starting_after").is_none() {
            ok(req, r#"{"data":[{"id":0},{"id":1}],"has_more":true}"#)
        } else {
            ok(req, r#"{"data":[],"has_more":true}"#)
        }
    })
    .unwrap();
    assert_eq!(seen, dataset(2));
}

#[test]
fn last_record_without_has_more_pointer_ends_on_an_empty_page() {
    let pager = LastRecordCursor::new("/id", "starting_after").page_size("limit", 3);
    let seen = walk(&pager, None, |req| {
        let limit = param(req, "limit");
        let start = req
            .query("starting_after")
            .map(|id| id.parse::<usize>().unwrap() + 1)
            .unwrap_or(0);
        ok(req, array(start.min(7)..(start + limit).min(7)))
    })
    .unwrap();
    assert_eq!(seen, dataset(7));
}

#[test]
fn a_last_record_without_the_field_is_no_way_forward() {
    let err = walk(&pager(2), None, |req| {
        ok(
            req,
            r#"{"data":[{"id":"a"},{"name":"no id"}],"has_more":true}"#,
        )
    })
    .unwrap_err();
    match err {
        PaginateError::NoWayForward {
            records, reason, ..
        } => {
            assert_eq!(records, 2);
            assert!(reason.contains("/id"), "{reason}");
        }
        other => panic!("{other}"),
    }
}

#[test]
fn string_ids_with_unicode_escapes_are_sent_decoded() {
    let mut sent = None;
    walk(&pager(1), None, |req| match req.query("starting_after") {
        None => ok(req, r#"{"data":[{"id":"cus_\u00e9"}],"has_more":true}"#),
        Some(id) => {
            sent = Some(id);
            ok(req, r#"{"data":[],"has_more":false}"#)
        }
    })
    .unwrap();
    assert_eq!(sent.as_deref(), Some("cus_é"));
}

#[test]
fn last_record_non_json_body_is_not_json() {
    let err = walk(&pager(2), None, |req| ok(req, "oops")).unwrap_err();
    assert!(matches!(err, PaginateError::NotJson { .. }), "{err}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn last_record_walk_yields_every_record_once_in_order(len in 0usize..3000, page_size in 1usize..250) {
        let seen = walk(&pager(page_size), None, stripe_server(len)).unwrap();
        prop_assert_eq!(seen, dataset(len));
    }

    #[test]
    fn last_record_server_repeating_a_page_is_always_a_cycle(len in 2usize..500, page_size in 1usize..50, at in any::<prop::sample::Index>(), back in any::<prop::sample::Index>()) {
        let pages = len.div_ceil(page_size);
        prop_assume!(pages >= 2);
        // At page `k` (1-based, k ≥ 2) the server answers with page `j < k` again,
        // so the next `starting_after` is one already sent.
        let k = 2 + at.index(pages - 1);
        let j = 1 + back.index(k - 1);
        let mut serve = stripe_server(len);
        let mut page = 0;
        let result = walk(&pager(page_size), None, move |req| {
            page += 1;
            if page == k {
                let start = (j - 1) * page_size;
                let end = (start + page_size).min(len);
                ok(req, format!(r#"{{"data":{},"has_more":true}}"#, array(start..end)))
            } else {
                serve(req)
            }
        });
        prop_assert!(matches!(result, Err(PaginateError::CursorCycle { page, .. }) if page == k as u64), "{result:?}");
    }
}
