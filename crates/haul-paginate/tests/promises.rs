//! `broken_promise` and `past_end`: when an empty answer contradicts the
//! pages before it, and when a request lies past an announced end.

use haul_core::{Request, Response};
use haul_paginate::{
    CursorPaginator, LastRecordCursor, LinkHeaderPaginator, OffsetPaginator, PageContext,
    PageNumberPaginator, PageState, Paginator,
};
use http::StatusCode;

use crate::support::*;

fn no_content(req: &Request) -> Response {
    Response::new(StatusCode::NO_CONTENT, req.url.clone(), "")
}

fn promise(
    pager: &dyn Paginator,
    req: &Request,
    resp: &Response,
    number: u64,
    state: &PageState,
) -> Option<String> {
    let records = pager.records(resp).unwrap();
    assert!(records.is_empty());
    pager.broken_promise(
        &PageContext {
            request: req,
            response: resp,
            records: &records,
            number,
        },
        state,
    )
}

fn at(param: &str, value: u64) -> Request {
    let mut req = base();
    req.set_query(param, &value.to_string());
    req
}

#[test]
fn a_204_after_a_cursor_or_link_breaks_a_promise_an_empty_first_page_does_not() {
    let state = PageState::default();
    let cursor = CursorPaginator::new("/next", "cursor").records_at("/data");
    let req = at("cursor", 7);
    let promise_text = promise(&cursor, &req, &no_content(&req), 3, &state).unwrap();
    assert!(
        promise_text.contains("page 2") && promise_text.contains("cursor"),
        "{promise_text}"
    );
    assert_eq!(promise(&cursor, &req, &no_content(&req), 1, &state), None);
    // An empty 200 with an end signal of its own is how listings end.
    assert_eq!(
        promise(
            &cursor,
            &req,
            &ok(&req, r#"{"data":[],"next":null}"#),
            3,
            &state
        ),
        None
    );

    let link = LinkHeaderPaginator::new();
    assert!(
        promise(&link, &req, &no_content(&req), 2, &state)
            .unwrap()
            .contains("rel=\"next\"")
    );

    // Stripe-style: a promise only with a has_more flag.
    let plain = LastRecordCursor::new("/id", "starting_after").records_at("/data");
    assert_eq!(promise(&plain, &req, &no_content(&req), 2, &state), None);
    let flagged = plain.has_more_at("/has_more");
    assert!(promise(&flagged, &req, &no_content(&req), 2, &state).is_some());
}

#[test]
fn an_empty_offset_page_contradicts_a_total_not_yet_reached() {
    let pager = OffsetPaginator::new("offset")
        .limit("limit", 10)
        .total_at("/total")
        .records_at("/items");
    let state = PageState {
        total: Some(50),
        ..PageState::default()
    };
    let inside = at("offset", 20);
    let text = promise(&pager, &inside, &no_content(&inside), 3, &state).unwrap();
    assert!(text.contains("50") && text.contains("offset 20"), "{text}");
    assert!(
        promise(
            &pager,
            &inside,
            &ok(&inside, r#"{"items":[],"total":50}"#),
            3,
            &state
        )
        .is_some()
    );
    // The page's own total says the listing shrank: no contradiction.
    assert_eq!(
        promise(
            &pager,
            &inside,
            &ok(&inside, r#"{"items":[],"total":15}"#),
            3,
            &state
        ),
        None
    );
    let past = at("offset", 50);
    assert_eq!(promise(&pager, &past, &no_content(&past), 6, &state), None);
    // The explicit opt-in accepts short listings.
    let lenient = pager.clone().accept_short_listing(true);
    assert_eq!(
        promise(&lenient, &inside, &no_content(&inside), 3, &state),
        None
    );

    assert!(pager.past_end(&past, &state));
    assert!(!pager.past_end(&inside, &state));
    assert!(!pager.past_end(&past, &PageState::default()));
}

#[test]
fn page_numbers_past_the_announced_pages_or_records_are_past_the_end() {
    let pager = PageNumberPaginator::new("page")
        .page_size("page_size", 10)
        .total_pages_at("/total_pages")
        .records_at("/items");
    let mut state = PageState::default();
    state.extra.insert("total_pages".into(), 3.into());
    assert!(!pager.past_end(&at("page", 3), &state));
    assert!(pager.past_end(&at("page", 4), &state));
    let req = at("page", 2);
    assert!(
        promise(&pager, &req, &no_content(&req), 2, &state)
            .unwrap()
            .contains("3 pages")
    );

    let by_count = PageNumberPaginator::new("page")
        .first_page(0)
        .page_size("page_size", 500)
        .total_at("/count")
        .records_at("/items");
    let mut state = PageState {
        total: Some(100),
        ..PageState::default()
    };
    state.extra.insert("records_seen".into(), 60.into());
    state.extra.insert("page_size".into(), 20.into());
    assert!(!by_count.past_end(&at("page", 5), &state));
    // The served size (20), not the requested one (500), places page 4.
    let req = at("page", 4);
    assert!(
        promise(&by_count, &req, &no_content(&req), 5, &state)
            .unwrap()
            .contains("record 80")
    );
    let req = at("page", 5);
    assert_eq!(promise(&by_count, &req, &no_content(&req), 6, &state), None);
    state.extra.insert("records_seen".into(), 100.into());
    assert!(by_count.past_end(&at("page", 5), &state));
}
