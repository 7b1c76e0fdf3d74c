//! `CursorPaginator`: cursor at a pointer, sent back as a query parameter or in a JSON body.

use haul_core::{Request, Response};
use haul_paginate::{CursorPaginator, Guard, PageState, PaginateError};
use proptest::prelude::*;

use crate::support::*;

/// A conforming cursor server over `0..len`:
/// `GET /items?cursor=k<offset>` → `{"data":[…],"next":"k<end>"}`, `"next":null` on the last page.
fn cursor_server(len: usize, page_size: usize) -> impl FnMut(&Request) -> Response {
    move |req| {
        let offset: usize = req
            .query("cursor")
            .map(|c| c.trim_start_matches('k').parse().unwrap())
            .unwrap_or(0);
        let end = (offset + page_size).min(len);
        let next = if end < len {
            format!("\"k{end}\"")
        } else {
            "null".into()
        };
        ok(
            req,
            format!("{{\"data\":{},\"next\":{next}}}", array(offset..end)),
        )
    }
}

fn pager() -> CursorPaginator {
    CursorPaginator::new("/next", "cursor").records_at("/data")
}

fn bodies(list: &'static [&'static str]) -> impl FnMut(&Request) -> Response {
    let mut i = 0;
    move |req| {
        i += 1;
        ok(req, list[(i - 1).min(list.len() - 1)])
    }
}

#[test]
fn cursor_ends_on_a_missing_cursor() {
    let seen = walk(
        &pager(),
        None,
        bodies(&[
            r#"{"data":[{"id":1}],"next":"b"}"#,
            r#"{"data":[{"id":2}]}"#,
        ]),
    )
    .unwrap();
    assert_eq!(seen, [r#"{"id":1}"#, r#"{"id":2}"#]);
}

#[test]
fn cursor_ends_on_null_empty_string_and_false() {
    for last in [
        r#"{"data":[{"id":2}],"next":null}"#,
        r#"{"data":[{"id":2}],"next":""}"#,
        r#"{"data":[{"id":2}],"next":false}"#,
    ] {
        let mut first = true;
        let seen = walk(&pager(), None, |req| {
            if std::mem::take(&mut first) {
                ok(req, r#"{"data":[{"id":1}],"next":"b"}"#)
            } else {
                ok(req, last)
            }
        })
        .unwrap();
        assert_eq!(seen.len(), 2);
    }
}

#[test]
fn cursor_ends_on_an_empty_body() {
    let seen = walk(&pager(), None, |req| ok(req, "")).unwrap();
    assert!(seen.is_empty());
}

#[test]
fn a_numeric_cursor_is_sent_as_written() {
    let mut first = true;
    let mut sent = Vec::new();
    walk(&pager(), None, |req| {
        sent.push(req.query("cursor"));
        if std::mem::take(&mut first) {
            ok(req, r#"{"data":[1],"next":9007199254740993}"#)
        } else {
            ok(req, r#"{"data":[2]}"#)
        }
    })
    .unwrap();
    assert_eq!(sent, [None, Some("9007199254740993".to_owned())]);
}

#[test]
fn a_cursor_pointer_at_an_object_is_a_typed_error_not_a_silent_end() {
    // HubSpot: /paging/next is an object; the cursor is /paging/next/after.
    let pager = CursorPaginator::new("/paging/next", "after").records_at("/results");
    let err = walk(&pager, None, |req| {
        ok(
            req,
            r#"{"results":[1],"paging":{"next":{"after":"NTI1Cg%3D%3D"}}}"#,
        )
    })
    .unwrap_err();
    assert!(
        matches!(&err, PaginateError::BadField { what, .. } if what == "/paging/next"),
        "{err}"
    );
}

#[test]
fn max_pages_is_an_error_not_a_stop() {
    let err = walk(&pager(), Some(3), cursor_server(100, 10)).unwrap_err();
    assert!(
        matches!(err, PaginateError::MaxPagesExceeded { max: 3, .. }),
        "{err}"
    );
}

#[test]
fn max_pages_equal_to_the_page_count_succeeds() {
    let seen = walk(&pager(), Some(10), cursor_server(100, 10)).unwrap();
    assert_eq!(seen.len(), 100);
}

#[test]
fn a_to_b_to_a_is_a_cursor_cycle_naming_the_cursor_and_the_page() {
    // Page 1 (no cursor) → "A"; A → "B"; B → "A" again.
    let err = walk(&pager(), Some(100), |req| {
        let next = match req.query("cursor").as_deref() {
            None => "A",
            Some("A") => "B",
            Some(_) => "A",
        };
        ok(req, format!(r#"{{"data":[{{"id":1}}],"next":"{next}"}}"#))
    })
    .unwrap_err();
    match err {
        PaginateError::CursorCycle { value, page } => {
            assert!(value.starts_with("cursor=A "), "{value}");
            assert_eq!(page, 3);
        }
        other => panic!("expected a cycle, got {other}"),
    }
}

#[test]
fn the_last_page_repeating_its_own_cursor_is_a_cycle() {
    // Page 1 says "Z"; page Z says "Z" again: a server that never ends.
    let err = walk(&pager(), None, |req| ok(req, r#"{"data":[],"next":"Z"}"#)).unwrap_err();
    assert!(
        matches!(&err, PaginateError::CursorCycle { value, page: 2 } if value.contains("cursor=Z")),
        "{err}"
    );
}

#[test]
fn non_json_body_is_a_typed_error_with_a_preview() {
    let err = walk(&pager(), None, |req| {
        ok(req, "<html>502 Bad Gateway</html>")
    })
    .unwrap_err();
    match err {
        PaginateError::NotJson { preview, url, .. } => {
            assert!(preview.contains("Bad Gateway"));
            assert!(url.as_str().starts_with("https://api.example.com/items"));
        }
        other => panic!("{other}"),
    }
}

#[test]
fn records_that_are_not_an_array_are_a_typed_error() {
    let err = walk(&pager(), None, |req| ok(req, r#"{"data":{"id":1}}"#)).unwrap_err();
    assert!(
        matches!(err, PaginateError::RecordsNotFound { .. }),
        "{err}"
    );
}

#[test]
fn page_size_and_initial_cursor_go_on_the_first_request() {
    use haul_paginate::Paginator;
    let pager = pager().page_size("limit", 25).initial_cursor("k50");
    let first = pager
        .first(
            Request::get("https://h.example/x?a=1".parse().unwrap()),
            &mut PageState::default(),
        )
        .unwrap();
    assert_eq!(
        first.url.as_str(),
        "https://h.example/x?a=1&limit=25&cursor=k50"
    );
}

#[test]
fn a_misconfigured_pointer_is_a_config_error_at_the_start() {
    let err = walk(&CursorPaginator::new("next", "c"), None, |req| {
        ok(req, "{}")
    })
    .unwrap_err();
    assert!(matches!(err, PaginateError::Config(_)), "{err}");
}

#[test]
fn has_more_false_ends_even_with_a_cursor_present() {
    // Zendesk: the last page still carries after_cursor.
    let pager = CursorPaginator::new("/meta/after_cursor", "page[after]")
        .has_more_at("/meta/has_more")
        .records_at("/tickets");
    let mut requests = Vec::new();
    let seen = walk(&pager, None, |req| {
        requests.push(req.url.to_string());
        if req.query("page[after]").is_none() {
            ok(
                req,
                r#"{"tickets":[1],"meta":{"has_more":true,"after_cursor":"x1"}}"#,
            )
        } else {
            ok(
                req,
                r#"{"tickets":[2],"meta":{"has_more":false,"after_cursor":"x2"}}"#,
            )
        }
    })
    .unwrap();
    assert_eq!(seen, ["1", "2"]);
    assert_eq!(
        requests[1],
        "https://api.example.com/items?page%5Bafter%5D=x1"
    );
}

#[test]
fn has_more_true_without_a_cursor_is_no_way_forward() {
    let pager = pager().has_more_at("/has_more");
    let err = walk(&pager, None, |req| {
        ok(req, r#"{"data":[{"id":1}],"has_more":true,"next":null}"#)
    })
    .unwrap_err();
    match err {
        PaginateError::NoWayForward {
            records,
            page,
            preview,
            ..
        } => {
            assert_eq!((records, page), (1, 1));
            assert!(preview.contains("has_more"));
        }
        other => panic!("{other}"),
    }
}

#[test]
fn a_has_more_that_is_not_a_boolean_is_a_typed_error() {
    let pager = pager().has_more_at("/has_more");
    let err = walk(&pager, None, |req| {
        ok(req, r#"{"data":[],"has_more":"yes"}"#)
    })
    .unwrap_err();
    assert!(matches!(err, PaginateError::BadField { .. }), "{err}");
}

#[test]
fn a_pre_encoded_cursor_is_not_encoded_twice() {
    // HubSpot hands out `after` already percent-encoded.
    let token = "NTI1Cg%3D%3D";
    for (pre_encoded, on_the_wire, decoded) in [
        (true, "after=NTI1Cg%3D%3D", "NTI1Cg=="),
        (false, "after=NTI1Cg%253D%253D", "NTI1Cg%3D%3D"),
    ] {
        let pager = CursorPaginator::new("/paging/next/after", "after")
            .records_at("/results")
            .cursor_pre_encoded(pre_encoded);
        let mut second = None;
        walk(&pager, None, |req| {
            if req.url.query().is_none() {
                ok(
                    req,
                    format!(r#"{{"results":[1],"paging":{{"next":{{"after":"{token}"}}}}}}"#),
                )
            } else {
                second = Some(req.clone());
                ok(req, r#"{"results":[2]}"#)
            }
        })
        .unwrap();
        let second = second.unwrap();
        assert!(second.url.as_str().ends_with(on_the_wire), "{}", second.url);
        assert_eq!(second.query("after").as_deref(), Some(decoded));
    }
}

#[test]
fn a_pre_encoded_cursor_replaces_the_previous_one() {
    let pager = CursorPaginator::new("/next", "after")
        .records_at("/data")
        .cursor_pre_encoded(true)
        .page_size("limit", 2);
    let mut urls = Vec::new();
    walk(&pager, None, |req| {
        urls.push(req.url.to_string());
        match req.query("after").as_deref() {
            None => ok(req, r#"{"data":[1],"next":"a%2Fb"}"#),
            Some("a/b") => ok(req, r#"{"data":[2],"next":"c&d"}"#),
            _ => ok(req, r#"{"data":[3]}"#),
        }
    })
    .unwrap();
    assert_eq!(
        urls,
        [
            "https://api.example.com/items?limit=2",
            "https://api.example.com/items?limit=2&after=a%2Fb",
            "https://api.example.com/items?limit=2&after=c%26d",
        ]
    );
}

/// A POST search API: `{"query":…,"page":{"after":<cursor>}}` →
/// `{"hits":[…],"next":<cursor or null>}` (the cursor is a number).
fn post_server(len: usize, page_size: usize) -> impl FnMut(&Request) -> Response {
    move |req| {
        let body: serde_json::Value = serde_json::from_slice(req.body.as_deref().unwrap()).unwrap();
        assert_eq!(body["query"], "everything");
        let offset = body
            .pointer("/page/after")
            .map(|v| v.as_u64().unwrap() as usize)
            .unwrap_or(0);
        let end = (offset + page_size).min(len);
        let next = if end < len {
            end.to_string()
        } else {
            "null".into()
        };
        ok(
            req,
            format!(r#"{{"hits":{},"next":{next}}}"#, array(offset..end)),
        )
    }
}

fn post_pager() -> CursorPaginator {
    CursorPaginator::in_body("/next", "/page/after").records_at("/hits")
}

fn post_base() -> Request {
    Request::post_json(BASE.parse().unwrap(), r#"{"query":"everything"}"#)
}

#[test]
fn a_body_cursor_keeps_method_body_and_json_type() {
    let walked = walk_with(
        &post_pager(),
        post_base(),
        Guard::new(None),
        PageState::default(),
        post_server(5, 2),
    )
    .unwrap();
    assert_eq!(walked.records, dataset(5));
    assert_eq!(walked.pages, 3);
}

#[test]
fn an_initial_cursor_goes_into_the_body() {
    let pager = post_pager().initial_cursor("abc");
    let walked = walk_with(
        &pager,
        post_base(),
        Guard::new(None),
        PageState::default(),
        |req| {
            let body: serde_json::Value =
                serde_json::from_slice(req.body.as_deref().unwrap()).unwrap();
            assert_eq!(body["page"]["after"], "abc");
            ok(req, r#"{"hits":[1],"next":null}"#)
        },
    )
    .unwrap();
    assert_eq!(walked.records, ["1"]);
}

#[test]
fn a_repeated_body_cursor_is_a_cycle_naming_the_body_field() {
    let err = walk_with(
        &post_pager(),
        post_base(),
        Guard::new(None),
        PageState::default(),
        |req| ok(req, r#"{"hits":[1],"next":"same"}"#),
    )
    .unwrap_err();
    match err {
        PaginateError::CursorCycle { value, page } => {
            assert_eq!(page, 2);
            assert!(value.contains("POST"), "{value}");
        }
        other => panic!("{other}"),
    }
    // A → B → A names the changed body field.
    let err = walk_with(
        &post_pager(),
        post_base(),
        Guard::new(None),
        PageState::default(),
        |req| {
            let body = String::from_utf8_lossy(req.body.as_deref().unwrap()).into_owned();
            let next = if body.contains("\"A\"") { "B" } else { "A" };
            ok(req, format!(r#"{{"hits":[1],"next":"{next}"}}"#))
        },
    )
    .unwrap_err();
    assert!(
        matches!(&err, PaginateError::CursorCycle { value, page: 3 } if value.starts_with("/page/after=\"A\"")),
        "{err}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn cursor_walk_yields_every_record_once_in_order(len in 0usize..3000, page_size in 1usize..250) {
        let seen = walk(&pager(), None, cursor_server(len, page_size)).unwrap();
        prop_assert_eq!(seen, dataset(len));
    }

    #[test]
    fn cursor_in_body_walk_yields_every_record_once_in_order(len in 0usize..3000, page_size in 1usize..250) {
        let walked = walk_with(&post_pager(), post_base(), Guard::new(None), PageState::default(), post_server(len, page_size)).unwrap();
        prop_assert_eq!(walked.records, dataset(len));
    }

    #[test]
    fn cursor_server_repeating_a_cursor_is_always_a_cycle(len in 2usize..500, page_size in 1usize..50, at in any::<prop::sample::Index>(), back in any::<prop::sample::Index>()) {
        let pages = len.div_ceil(page_size);
        prop_assume!(pages >= 2);
        let (k, j) = cycle_point(pages, at, back);
        let mut serve = cursor_server(len, page_size);
        let result = walk(&pager(), None, counting(move |req, page| {
            let resp = serve(req);
            if page != k {
                return resp;
            }
            ok(req, replace_tail(&resp.body, ",\"next\":", &format!(",\"next\":\"k{}\"}}", (j - 1) * page_size)))
        }));
        prop_assert!(matches!(result, Err(PaginateError::CursorCycle { page, .. }) if page == cycle_page(k, j)), "{result:?}");
    }
}
