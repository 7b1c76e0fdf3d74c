//! `LinkHeaderPaginator`: GitHub-style `Link: <…>; rel="next"`.

use haul_core::{Request, Response};
use haul_paginate::{LinkHeaderPaginator, PaginateError, RecordSelector};
use proptest::prelude::*;

use crate::support::*;

/// GitHub's shape: `GET /items?per_page=N&page=P` (1-based) → a root JSON
/// array, with `Link: <…page=P-1>; rel="prev", <…page=P+1>; rel="next",
/// <…page=last>; rel="last", <…page=1>; rel="first"` (only the relations that
/// apply; no header at all when everything fits on one page). With `split`,
/// each link comes in its own `Link` header.
fn link_server(len: usize, page_size: usize, split: bool) -> impl FnMut(&Request) -> Response {
    move |req| {
        let page = param(req, "page").max(1);
        let start = (page - 1) * page_size;
        let end = (start + page_size).min(len);
        let last = len.div_ceil(page_size).max(1);
        let url = |p: usize| format!("<{BASE}?per_page={page_size}&page={p}>");
        let mut links = Vec::new();
        if page > 1 {
            links.push(format!("{}; rel=\"prev\"", url(page - 1)));
        }
        if page < last {
            links.push(format!("{}; rel=\"next\"", url(page + 1)));
            links.push(format!("{}; rel=\"last\"", url(last)));
        }
        if page > 1 {
            links.push(format!("{}; rel=\"first\"", url(1)));
        }
        let mut resp = ok(req, array(start.min(len)..end));
        if split {
            for link in &links {
                resp = resp.with_header("link", link);
            }
        } else if !links.is_empty() {
            resp = resp.with_header("link", &links.join(", "));
        }
        resp
    }
}

fn pager(page_size: usize) -> LinkHeaderPaginator {
    LinkHeaderPaginator::new().page_size("per_page", page_size as u64)
}

#[test]
fn link_ends_when_there_is_no_next_relation() {
    let mut requests = 0;
    let seen = walk(&pager(3), None, |req| {
        requests += 1;
        link_server(7, 3, false)(req)
    })
    .unwrap();
    assert_eq!(seen, dataset(7));
    assert_eq!(requests, 3);
}

#[test]
fn link_follows_a_relative_target_and_other_relation_names() {
    let pager = LinkHeaderPaginator::new().rel("Alternate-Next");
    let mut urls = Vec::new();
    walk(&pager, None, |req| {
        urls.push(req.url.to_string());
        if urls.len() == 1 {
            ok(req, "[1]").with_header("link", "<../v2/items?c=a,b;c>; rel=\"alternate-next\"")
        } else {
            ok(req, "[2]")
        }
    })
    .unwrap();
    assert_eq!(urls[1], "https://api.example.com/v2/items?c=a,b;c");
}

#[test]
fn a_link_to_another_origin_is_refused() {
    let err = walk(&pager(1), None, |req| {
        ok(req, "[1]").with_header("link", "<http://api.example.com/items?page=2>; rel=next")
    })
    .unwrap_err();
    assert!(
        matches!(&err, PaginateError::CrossOrigin { from, to } if from == "https://api.example.com:443" && to == "http://api.example.com:80"),
        "{err}"
    );
}

#[test]
fn link_takes_records_from_a_pointer() {
    let pager = LinkHeaderPaginator::new().selector(RecordSelector::pointer("/items"));
    let seen = walk(&pager, None, |req| ok(req, r#"{"items":[{"id":0}]}"#)).unwrap();
    assert_eq!(seen, dataset(1));
}

#[test]
fn link_non_json_body_is_not_json() {
    let err = walk(&pager(1), None, |req| ok(req, "{\"truncated\":[1,")).unwrap_err();
    assert!(matches!(err, PaginateError::NotJson { .. }), "{err}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn link_walk_yields_every_record_once_in_order(len in 0usize..3000, page_size in 1usize..250, split in any::<bool>()) {
        let seen = walk(&pager(page_size), None, link_server(len, page_size, split)).unwrap();
        prop_assert_eq!(seen, dataset(len));
    }

    #[test]
    fn link_server_repeating_a_url_is_always_a_cycle(len in 2usize..500, page_size in 1usize..50, at in any::<prop::sample::Index>(), back in any::<prop::sample::Index>()) {
        let pages = len.div_ceil(page_size);
        prop_assume!(pages >= 2);
        let (k, j) = cycle_point(pages, at, back);
        let mut serve = link_server(len, page_size, false);
        let mut first = None;
        let result = walk(&pager(page_size), None, counting(move |req, page| {
            let first = first.get_or_insert_with(|| req.url.to_string()).clone();
            let mut resp = serve(req);
            if page == k {
                // Back to page 1 is the first request itself.
                let target = if j == 1 { first } else { format!("{BASE}?per_page={page_size}&page={j}") };
                let link = format!("<{target}>; rel=\"next\"");
                resp.headers.insert("link", link.parse().unwrap());
            }
            resp
        }));
        prop_assert!(matches!(result, Err(PaginateError::CursorCycle { page, .. }) if page == k as u64), "{result:?}");
    }
}
