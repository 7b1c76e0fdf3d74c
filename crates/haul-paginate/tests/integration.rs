//! Paginator behavior against an in-memory API (no network).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use haul_core::{Request, Response};
use haul_paginate::{
    CursorPaginator, Guard, Next, PageContext, PageState, PaginateError, Paginator,
};
use http::StatusCode;
use proptest::prelude::*;

/// Walks `pager` against `serve` (request → body) with a guard; returns the
/// records seen, or the first error.
fn walk(
    pager: &dyn Paginator,
    max_pages: Option<u64>,
    mut serve: impl FnMut(&Request) -> String,
) -> Result<Vec<String>, PaginateError> {
    let mut state = PageState::default();
    let mut guard = Guard::new(max_pages);
    let mut request = pager.first(
        Request::get("https://api.example.com/items".parse().unwrap()),
        &mut state,
    )?;
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        guard.admit(&request, pages)?;
        let response = Response::new(StatusCode::OK, request.url.clone(), serve(&request));
        let records = pager.records(&response)?;
        pages += 1;
        seen.extend(records.iter().map(|r| r.as_str().to_owned()));
        let page = PageContext {
            request: &request,
            response: &response,
            records: &records,
            number: pages,
        };
        match pager.next(&page, &mut state)? {
            Next::Request(next) => request = next,
            Next::End => return Ok(seen),
            _ => unreachable!(),
        }
    }
}

/// A conforming cursor server over `0..len`: cursor `k<offset>`, null at the end.
fn cursor_server(len: usize, page_size: usize) -> impl FnMut(&Request) -> String {
    move |req| {
        let offset: usize = req
            .query("cursor")
            .map(|c| c.trim_start_matches('k').parse().unwrap())
            .unwrap_or(0);
        let end = (offset + page_size).min(len);
        let data: Vec<String> = (offset..end).map(|i| format!("{{\"id\":{i}}}")).collect();
        let next = if end < len {
            format!("\"k{end}\"")
        } else {
            "null".into()
        };
        format!("{{\"data\":[{}],\"next\":{next}}}", data.join(","))
    }
}

fn pager() -> CursorPaginator {
    CursorPaginator::new("/next", "cursor").records_at("/data")
}

#[test]
fn cursor_ends_on_a_missing_cursor() {
    let bodies = [
        r#"{"data":[{"id":1}],"next":"b"}"#,
        r#"{"data":[{"id":2}]}"#,
    ];
    let mut i = 0;
    let seen = walk(&pager(), None, |_| {
        i += 1;
        bodies[i - 1].to_owned()
    })
    .unwrap();
    assert_eq!(seen, [r#"{"id":1}"#, r#"{"id":2}"#]);
}

#[test]
fn cursor_ends_on_null_and_on_empty_string() {
    for last in [
        r#"{"data":[{"id":2}],"next":null}"#,
        r#"{"data":[{"id":2}],"next":""}"#,
    ] {
        let mut first = true;
        let seen = walk(&pager(), None, |_| {
            if std::mem::take(&mut first) {
                r#"{"data":[{"id":1}],"next":"b"}"#.to_owned()
            } else {
                last.to_owned()
            }
        })
        .unwrap();
        assert_eq!(seen.len(), 2);
    }
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
fn a_to_b_to_a_is_a_cursor_cycle() {
    // Page 1 (no cursor) → "A"; A → "B"; B → "A" again.
    let err = walk(&pager(), Some(100), |req| {
        let next = match req.query("cursor").as_deref() {
            None => "A",
            Some("A") => "B",
            Some(_) => "A",
        };
        format!(r#"{{"data":[{{"id":1}}],"next":"{next}"}}"#)
    })
    .unwrap_err();
    match err {
        PaginateError::CursorCycle { value, page } => {
            assert!(value.contains("cursor=A"), "{value}");
            assert_eq!(page, 3);
        }
        other => panic!("expected a cycle, got {other}"),
    }
}

#[test]
fn the_last_page_repeating_its_own_cursor_is_a_cycle() {
    // Page 1 says "Z"; page Z says "Z" again: a server that never ends.
    let err = walk(&pager(), None, |_| r#"{"data":[],"next":"Z"}"#.to_owned()).unwrap_err();
    assert!(matches!(err, PaginateError::CursorCycle { .. }), "{err}");
}

#[test]
fn non_json_body_is_a_typed_error_with_a_preview() {
    let err = walk(&pager(), None, |_| "<html>502 Bad Gateway</html>".into()).unwrap_err();
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
    let err = walk(&pager(), None, |_| r#"{"data":{"id":1}}"#.into()).unwrap_err();
    assert!(
        matches!(err, PaginateError::RecordsNotFound { .. }),
        "{err}"
    );
}

#[test]
fn page_size_and_initial_cursor_go_on_the_first_request() {
    let pager = pager().page_size("limit", 25).initial_cursor("k50");
    let mut state = PageState::default();
    let first = pager
        .first(
            Request::get("https://h.example/x?a=1".parse().unwrap()),
            &mut state,
        )
        .unwrap();
    assert_eq!(
        first.url.as_str(),
        "https://h.example/x?a=1&limit=25&cursor=k50"
    );
}

proptest! {
    #[test]
    fn cursor_walk_yields_every_record_once_in_order(len in 0usize..3000, page_size in 1usize..250) {
        let seen = walk(&pager(), None, cursor_server(len, page_size)).unwrap();
        let expected: Vec<String> = (0..len).map(|i| format!("{{\"id\":{i}}}")).collect();
        prop_assert_eq!(seen, expected);
    }

    #[test]
    fn cursor_server_repeating_a_cursor_is_always_a_cycle(len in 2usize..500, page_size in 1usize..50, back in any::<prop::sample::Index>()) {
        let pages = len.div_ceil(page_size);
        prop_assume!(pages >= 2);
        // At the last page, point back to an earlier page's cursor instead of ending.
        let target = back.index(pages - 1) * page_size;
        let mut serve = cursor_server(len, page_size);
        let result = walk(&pager(), None, move |req| {
            let body = serve(req);
            if body.ends_with("\"next\":null}") {
                let cursor = if target == 0 { "k0".to_owned() } else { format!("k{target}") };
                body.replace("\"next\":null}", &format!("\"next\":\"{cursor}\"}}"))
            } else {
                body
            }
        });
        // k0 is not literally the first request (which had no cursor), so it
        // costs one more page before the cycle closes; either way it must end in a cycle.
        prop_assert!(matches!(result, Err(PaginateError::CursorCycle { .. })), "{result:?}");
    }
}
