//! `RelayPaginator` against an in-memory GraphQL API (no network).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use haul_core::{Request, Response};
use haul_paginate::{Guard, Next, PageContext, PageState, PaginateError, Paginator};
use haul_paginate_graphql::{RelayPaginator, graphql_request};
use http::StatusCode;
use proptest::prelude::*;
use serde_json::{Value, json};

const QUERY: &str = "query($after: String) { repository(owner: \"o\", name: \"r\") { issues(first: 50, after: $after) { pageInfo { hasNextPage endCursor } nodes { id } } } }";

fn base() -> Request {
    graphql_request(
        "https://api.example.com/graphql".parse().unwrap(),
        QUERY,
        json!({"owner": "o"}),
    )
}

fn variables(req: &Request) -> Value {
    let body: Value = serde_json::from_slice(req.body.as_deref().unwrap()).unwrap();
    assert_eq!(body["query"], QUERY, "the query travels unchanged");
    body["variables"].clone()
}

fn ok(req: &Request, body: impl Into<String>) -> Response {
    Response::new(StatusCode::OK, req.url.clone(), body.into())
}

/// Walks `pager` from `base` against `serve`, guarded like the extractor does.
fn walk(
    pager: &RelayPaginator,
    base: Request,
    mut serve: impl FnMut(&Request) -> Response,
) -> Result<Vec<String>, PaginateError> {
    let mut state = PageState::default();
    let mut guard = Guard::new(None);
    let mut request = pager.first(base, &mut state)?;
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        guard.admit(&request, pages)?;
        assert!(
            request.retry_non_idempotent,
            "every GraphQL request is marked retryable"
        );
        let response = serve(&request);
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
            _ => return Ok(seen),
        }
    }
}

fn record(i: usize) -> String {
    format!("{{\"id\":{i}}}")
}

fn dataset(len: usize) -> Vec<String> {
    (0..len).map(record).collect()
}

/// GitHub-like Relay API over `0..len`: variable `after` = `"c<offset>"` →
/// `{"data":{"repository":{"issues":{"pageInfo":{"hasNextPage":b,"endCursor":"c<end>"|null},
/// "nodes":[…]}}}}` — or with `edges: [{"cursor":…,"node":…}]` instead of `nodes`.
fn relay_server(len: usize, page_size: usize, use_edges: bool) -> impl FnMut(&Request) -> Response {
    move |req| {
        let start: usize = variables(req)["after"]
            .as_str()
            .map(|c| c.trim_start_matches('c').parse().unwrap())
            .unwrap_or(0);
        let end = (start + page_size).min(len);
        let items: Vec<String> = (start..end)
            .map(|i| {
                if use_edges {
                    format!("{{\"cursor\":\"c{}\",\"node\":{}}}", i + 1, record(i))
                } else {
                    record(i)
                }
            })
            .collect();
        let key = if use_edges { "edges" } else { "nodes" };
        let end_cursor = if end > start {
            format!("\"c{end}\"")
        } else {
            "null".into()
        };
        ok(
            req,
            format!(
                r#"{{"data":{{"repository":{{"issues":{{"pageInfo":{{"hasNextPage":{},"endCursor":{end_cursor}}},"{key}":[{}]}}}}}}}}"#,
                end < len,
                items.join(",")
            ),
        )
    }
}

fn pager(use_edges: bool) -> RelayPaginator {
    let p = RelayPaginator::new("/data/repository/issues");
    if use_edges {
        p.edges_at("/data/repository/issues/edges")
    } else {
        p
    }
}

#[test]
fn relay_ends_on_has_next_page_false_and_keeps_other_variables() {
    let mut requests = Vec::new();
    let seen = walk(&pager(false), base(), |req| {
        requests.push(variables(req));
        relay_server(5, 2, false)(req)
    })
    .unwrap();
    assert_eq!(seen, dataset(5));
    assert_eq!(
        requests,
        [
            json!({"owner":"o"}),
            json!({"owner":"o","after":"c2"}),
            json!({"owner":"o","after":"c4"})
        ]
    );
}

#[test]
fn relay_reads_records_from_edges() {
    let seen = walk(&pager(true), base(), relay_server(5, 2, true)).unwrap();
    assert_eq!(seen, dataset(5));
}

#[test]
fn relay_variable_name_page_info_and_initial_cursor_are_configurable() {
    let pager = RelayPaginator::new("/unused")
        .cursor_variable("cursor")
        .page_info_at("/data/search/pageInfo")
        .nodes_at("/data/search/results")
        .initial_cursor("start");
    let mut seen_vars = Vec::new();
    let seen = walk(&pager, base(), |req| {
        let vars = variables(req);
        seen_vars.push(vars["cursor"].clone());
        let more = vars["cursor"] == "start";
        ok(
            req,
            format!(
                r#"{{"data":{{"search":{{"pageInfo":{{"hasNextPage":{more},"endCursor":"next"}},"results":[{}]}}}}}}"#,
                seen_vars.len()
            ),
        )
    })
    .unwrap();
    assert_eq!(seen, ["1", "2"]);
    assert_eq!(seen_vars, [json!("start"), json!("next")]);
}

#[test]
fn has_next_page_without_an_end_cursor_is_no_way_forward() {
    let err = walk(&pager(false), base(), |req| {
        ok(
            req,
            r#"{"data":{"repository":{"issues":{"pageInfo":{"hasNextPage":true,"endCursor":null},"nodes":[{"id":1}]}}}}"#,
        )
    })
    .unwrap_err();
    match err {
        PaginateError::NoWayForward {
            records, preview, ..
        } => {
            assert_eq!(records, 1);
            assert!(preview.contains("hasNextPage"));
        }
        other => panic!("{other}"),
    }
}

#[test]
fn a_missing_page_info_is_a_typed_error_not_a_silent_end() {
    for body in [
        r#"{"data":{"repository":{"issues":{"nodes":[{"id":1}]}}}}"#,
        r#"{"data":null}"#,
        r#"{"data":{"repository":{"issues":{"pageInfo":{"endCursor":"x"},"nodes":[]}}}}"#,
    ] {
        let err = walk(&pager(false), base(), |req| ok(req, body)).unwrap_err();
        assert!(
            matches!(err, PaginateError::BadField { .. }),
            "{body}: {err}"
        );
    }
}

#[test]
fn graphql_errors_are_a_typed_error_even_with_partial_data() {
    let err = walk(&pager(false), base(), |req| {
        ok(
            req,
            r#"{"errors":[{"message":"Field 'x' doesn't exist"}],"data":{"repository":{"issues":{"pageInfo":{"hasNextPage":false},"nodes":[{"id":1}]}}}}"#,
        )
    })
    .unwrap_err();
    match err {
        PaginateError::BadField { what, reason, .. } => {
            assert_eq!(what, "/errors");
            assert!(reason.contains("doesn't exist"), "{reason}");
        }
        other => panic!("{other}"),
    }
    // An empty `errors` list is no error.
    let seen = walk(&pager(false), base(), |req| {
        ok(
            req,
            r#"{"errors":[],"data":{"repository":{"issues":{"pageInfo":{"hasNextPage":false},"nodes":[{"id":1}]}}}}"#,
        )
    })
    .unwrap();
    assert_eq!(seen, ["{\"id\":1}"]);
}

#[test]
fn an_edge_without_a_node_is_a_typed_error() {
    let err = walk(&pager(true), base(), |req| {
        ok(
            req,
            r#"{"data":{"repository":{"issues":{"pageInfo":{"hasNextPage":false},"edges":[{"cursor":"a"}]}}}}"#,
        )
    })
    .unwrap_err();
    assert!(
        matches!(err, PaginateError::RecordsNotFound { .. }),
        "{err}"
    );
}

#[test]
fn a_non_json_body_is_not_json() {
    let err = walk(&pager(false), base(), |req| ok(req, "<html>502</html>")).unwrap_err();
    assert!(matches!(err, PaginateError::NotJson { .. }), "{err}");
}

#[test]
fn a_request_without_a_query_is_a_config_error() {
    let get = Request::get("https://api.example.com/graphql".parse().unwrap());
    let err = walk(&pager(false), get, |req| ok(req, "{}")).unwrap_err();
    assert!(matches!(err, PaginateError::Config(_)), "{err}");
    let err = walk(&RelayPaginator::new("data"), base(), |req| ok(req, "{}")).unwrap_err();
    assert!(matches!(err, PaginateError::Config(_)), "{err}");
}

#[test]
fn a_repeated_end_cursor_is_a_cycle_naming_the_variable() {
    let err = walk(&pager(false), base(), |req| {
        let after = variables(req)["after"].as_str().unwrap_or("").to_owned();
        let next = if after == "A" { "B" } else { "A" };
        ok(
            req,
            format!(
                r#"{{"data":{{"repository":{{"issues":{{"pageInfo":{{"hasNextPage":true,"endCursor":"{next}"}},"nodes":[{{"id":1}}]}}}}}}}}"#
            ),
        )
    })
    .unwrap_err();
    match err {
        PaginateError::CursorCycle { value, page } => {
            assert_eq!(page, 3);
            assert!(value.starts_with("/variables/after=\"A\""), "{value}");
        }
        other => panic!("{other}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn graphql_walk_yields_every_record_once_in_order(len in 0usize..3000, page_size in 1usize..250, use_edges in any::<bool>()) {
        let seen = walk(&pager(use_edges), base(), relay_server(len, page_size, use_edges)).unwrap();
        prop_assert_eq!(seen, dataset(len));
    }

    #[test]
    fn graphql_server_repeating_a_cursor_is_always_a_cycle(len in 2usize..500, page_size in 1usize..50, at in any::<prop::sample::Index>(), back in any::<prop::sample::Index>()) {
        let pages = len.div_ceil(page_size);
        prop_assume!(pages >= 2);
        // At page k the server's endCursor leads back to page j (1 ≤ j ≤ k).
        // Page 1 was asked for with `after: null`, so naming it again
        // (`c0`) is a new request, and the cycle shows one page later.
        let k = 2 + at.index(pages - 1);
        let j = 1 + back.index(k);
        let expected = if j == 1 { k as u64 + 1 } else { k as u64 };
        let mut serve = relay_server(len, page_size, false);
        let mut page = 0;
        let result = walk(&pager(false), base(), move |req| {
            page += 1;
            let resp = serve(req);
            if page != k {
                return resp;
            }
            let body = String::from_utf8_lossy(&resp.body).into_owned();
            let start = body.find("\"pageInfo\":{").unwrap();
            let end = start + body[start..].find('}').unwrap() + 1;
            let info = format!("\"pageInfo\":{{\"hasNextPage\":true,\"endCursor\":\"c{}\"}}", (j - 1) * page_size);
            ok(req, format!("{}{info}{}", &body[..start], &body[end..]))
        });
        prop_assert!(matches!(result, Err(PaginateError::CursorCycle { page, .. }) if page == expected), "{result:?}");
    }
}
