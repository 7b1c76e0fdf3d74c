//! `NextUrlPaginator`: the next page's URL in the body, absolute or relative.

use haul_core::{Request, Response};
use haul_paginate::{Guard, NextUrlPaginator, PageState, PaginateError};
use proptest::prelude::*;

use crate::support::*;

/// How the test server spells the next link.
#[derive(Debug, Clone, Copy)]
enum Link {
    /// `https://api.example.com/items?page_token=<offset>&size=N`
    Absolute,
    /// `/items?page_token=<offset>&size=N`
    RootRelative,
    /// `?page_token=<offset>&size=N`
    QueryRelative,
}

/// `GET /items?page_token=<offset>` → `{"items":[…],<key>:"<next link>"}` with
/// the key at `pointer` (nested keys for `/links/next`), `null` on the last page.
fn next_url_server(
    len: usize,
    page_size: usize,
    pointer: &'static str,
    link: Link,
) -> impl FnMut(&Request) -> Response {
    move |req| {
        let offset = param(req, "page_token");
        let end = (offset + page_size).min(len);
        let next = if end < len {
            let rel = format!("page_token={end}&size={page_size}");
            match link {
                Link::Absolute => format!("\"{BASE}?{rel}\""),
                Link::RootRelative => format!("\"/items?{rel}\""),
                Link::QueryRelative => format!("\"?{rel}\""),
            }
        } else {
            "null".into()
        };
        ok(
            req,
            format!(
                r#"{{"items":{},{}}}"#,
                array(offset..end),
                nest(pointer, &next)
            ),
        )
    }
}

/// `"/links/next"` and `v` → `"links":{"next":v}`.
fn nest(pointer: &str, value: &str) -> String {
    let keys: Vec<&str> = pointer.trim_start_matches('/').split('/').collect();
    let mut out = value.to_owned();
    for key in keys[1..].iter().rev() {
        out = format!("{{\"{key}\":{out}}}");
    }
    format!("\"{}\":{out}", keys[0])
}

const POINTERS: &[&str] = &[
    "/next",
    "/links/next",
    "/@odata.nextLink",
    "/nextRecordsUrl",
    "/paging/next/link",
];

#[test]
fn the_nest_helper_builds_nested_keys() {
    assert_eq!(nest("/next", "1"), r#""next":1"#);
    assert_eq!(nest("/links/next", "1"), r#""links":{"next":1}"#);
    assert_eq!(
        nest("/paging/next/link", "1"),
        r#""paging":{"next":{"link":1}}"#
    );
}

#[test]
fn relative_next_urls_resolve_against_the_request_url() {
    // Salesforce: nextRecordsUrl is relative to the host.
    let pager = NextUrlPaginator::new("/nextRecordsUrl").records_at("/records");
    let mut urls = Vec::new();
    let base = Request::get(
        "https://x.my.salesforce.com/services/data/v60.0/query?q=SELECT+Id"
            .parse()
            .unwrap(),
    );
    walk_with(&pager, base, Guard::new(None), PageState::default(), |req| {
        urls.push(req.url.to_string());
        if urls.len() == 1 {
            ok(
                req,
                r#"{"done":false,"records":[1],"nextRecordsUrl":"/services/data/v60.0/query/01gD-2000"}"#,
            )
        } else {
            ok(req, r#"{"done":true,"records":[2]}"#)
        }
    })
    .unwrap();
    assert_eq!(
        urls[1],
        "https://x.my.salesforce.com/services/data/v60.0/query/01gD-2000"
    );
}

#[test]
fn a_next_url_is_followed_exactly_as_given() {
    // Zendesk percent-encodes brackets in its links; no second encoding.
    let pager = NextUrlPaginator::new("/links/next").records_at("/tickets");
    let mut urls = Vec::new();
    walk(&pager, None, |req| {
        urls.push(req.url.to_string());
        if urls.len() == 1 {
            ok(
                req,
                r#"{"tickets":[1],"links":{"next":"https://api.example.com/items?page%5Bafter%5D=abc%3D%3D&page%5Bsize%5D=1"}}"#,
            )
        } else {
            ok(req, r#"{"tickets":[2],"links":{"next":null}}"#)
        }
    })
    .unwrap();
    assert_eq!(
        urls[1],
        "https://api.example.com/items?page%5Bafter%5D=abc%3D%3D&page%5Bsize%5D=1"
    );
}

#[test]
fn has_more_false_ends_even_with_a_next_link() {
    let pager = NextUrlPaginator::new("/links/next")
        .has_more_at("/meta/has_more")
        .records_at("/tickets");
    let mut requests = 0;
    let seen = walk(&pager, None, |req| {
        requests += 1;
        ok(
            req,
            format!(
                r#"{{"tickets":[{requests}],"meta":{{"has_more":{}}},"links":{{"next":"/items?p={requests}"}}}}"#,
                requests < 2
            ),
        )
    })
    .unwrap();
    assert_eq!(seen, ["1", "2"]);
}

#[test]
fn has_more_true_without_a_link_is_no_way_forward() {
    let pager = NextUrlPaginator::new("/links/next")
        .has_more_at("/meta/has_more")
        .records_at("/tickets");
    let err = walk(&pager, None, |req| {
        ok(
            req,
            r#"{"tickets":[1],"meta":{"has_more":true},"links":{}}"#,
        )
    })
    .unwrap_err();
    assert!(matches!(err, PaginateError::NoWayForward { .. }), "{err}");
}

#[test]
fn a_next_url_on_another_origin_is_refused_naming_both_origins() {
    let pager = NextUrlPaginator::new("/next").records_at("/items");
    let err = walk(&pager, None, |req| {
        ok(
            req,
            r#"{"items":[1],"next":"https://evil.example:8443/steal"}"#,
        )
    })
    .unwrap_err();
    match err {
        PaginateError::CrossOrigin { from, to } => {
            assert_eq!(from, "https://api.example.com:443");
            assert_eq!(to, "https://evil.example:8443");
        }
        other => panic!("{other}"),
    }
}

#[test]
fn a_next_url_on_another_origin_is_followed_when_allowed() {
    let pager = NextUrlPaginator::new("/next").records_at("/items");
    let walked = walk_with(
        &pager,
        base(),
        Guard::new(None).allow_cross_origin(true),
        PageState::default(),
        |req| {
            if req.url.host_str() == Some("api.example.com") {
                ok(
                    req,
                    r#"{"items":[1],"next":"https://cdn.example.com/page2"}"#,
                )
            } else {
                ok(req, r#"{"items":[2],"next":null}"#)
            }
        },
    )
    .unwrap();
    assert_eq!(walked.records, ["1", "2"]);
}

#[test]
fn an_unusable_next_url_is_a_typed_error() {
    let pager = NextUrlPaginator::new("/next").records_at("/items");
    for body in [
        r#"{"items":[1],"next":"http://[::1"}"#,
        r#"{"items":[1],"next":{"href":"/x"}}"#,
    ] {
        let err = walk(&pager, None, |req| ok(req, body)).unwrap_err();
        assert!(matches!(err, PaginateError::BadField { .. }), "{err}");
    }
}

#[test]
fn next_url_non_json_body_is_not_json_with_a_preview() {
    let pager = NextUrlPaginator::new("/next").records_at("/items");
    let err = walk(&pager, None, |req| ok(req, "x".repeat(2000))).unwrap_err();
    match err {
        PaginateError::NotJson { preview, .. } => {
            assert!(preview.len() <= 503, "{}", preview.len())
        }
        other => panic!("{other}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn next_url_walk_yields_every_record_once_in_order(
        len in 0usize..3000,
        page_size in 1usize..250,
        pointer in prop::sample::select(POINTERS),
        link in prop_oneof![Just(Link::Absolute), Just(Link::RootRelative), Just(Link::QueryRelative)],
    ) {
        let pager = NextUrlPaginator::new(pointer).records_at("/items");
        let seen = walk(&pager, None, next_url_server(len, page_size, pointer, link)).unwrap();
        prop_assert_eq!(seen, dataset(len));
    }

    #[test]
    fn next_url_server_repeating_a_url_is_always_a_cycle(len in 2usize..500, page_size in 1usize..50, at in any::<prop::sample::Index>(), back in any::<prop::sample::Index>()) {
        let pages = len.div_ceil(page_size);
        prop_assume!(pages >= 2);
        let (k, j) = cycle_point(pages, at, back);
        let mut serve = next_url_server(len, page_size, "/next", Link::RootRelative);
        let pager = NextUrlPaginator::new("/next").records_at("/items");
        let mut first = None;
        let result = walk(&pager, None, counting(move |req, page| {
            let first = first.get_or_insert_with(|| req.url.clone()).clone();
            let resp = serve(req);
            if page != k {
                return resp;
            }
            // Back to page 1 is the first request itself, root-relative too.
            let target = if j == 1 {
                format!("{}{}", first.path(), first.query().map(|q| format!("?{q}")).unwrap_or_default())
            } else {
                format!("/items?page_token={}&size={page_size}", (j - 1) * page_size)
            };
            let back = format!(",\"next\":\"{target}\"}}");
            ok(req, replace_tail(&resp.body, ",\"next\":", &back))
        }));
        prop_assert!(matches!(result, Err(PaginateError::CursorCycle { page, .. }) if page == k as u64), "{result:?}");
    }
}
