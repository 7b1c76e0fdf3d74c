//! Every pagination style, end to end through the full stack against the
//! testkit server: the whole dataset exactly once, in order; misbehaving
//! servers end in typed errors.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use futures::StreamExt;
use haul::core::Request;
use haul::{
    AutoPaginator, CursorPaginator, ExtractError, Extractor, HeaderCursor, LastRecordCursor,
    LinkHeaderPaginator, NextUrlPaginator, OffsetPaginator, PageNumberPaginator, PaginateError,
    Paginator,
};
use haul_paginate_graphql::{RelayPaginator, graphql_request};
use haul_testkit::{Dataset, FakeApi, RunningServer};

const PAGE: u64 = 20;

/// (style, first request, paginator) for every style, with `extra` appended to the query.
fn styles(server: &RunningServer, extra: &str) -> Vec<(&'static str, Request, Box<dyn Paginator>)> {
    // `extra` joins a query the path may already have.
    let get = |path: &str| {
        let sep = if path.contains('?') { '&' } else { '?' };
        Request::get(server.url(&format!("{path}{sep}{extra}")))
    };
    vec![
        (
            "cursor",
            get("/items"),
            Box::new(
                CursorPaginator::new("/next_cursor", "cursor")
                    .records_at("/data")
                    .page_size("limit", PAGE),
            ),
        ),
        (
            "last-record",
            get("/last-record"),
            Box::new(
                LastRecordCursor::new("/id", "starting_after")
                    .has_more_at("/has_more")
                    .records_at("/data")
                    .page_size("limit", PAGE),
            ),
        ),
        (
            "header-cursor",
            get("/header-cursor"),
            Box::new(HeaderCursor::new("X-Next-Cursor", "cursor").page_size("limit", PAGE)),
        ),
        (
            "next-url",
            get("/next-url"),
            Box::new(
                NextUrlPaginator::new("/@odata.nextLink")
                    .records_at("/value")
                    .page_size("limit", PAGE),
            ),
        ),
        (
            "next-url-relative",
            get("/next-url?relative=1&x=1"),
            Box::new(
                NextUrlPaginator::new("/@odata.nextLink")
                    .records_at("/value")
                    .page_size("limit", PAGE),
            ),
        ),
        (
            "link",
            get("/link"),
            Box::new(LinkHeaderPaginator::new().page_size("per_page", PAGE)),
        ),
        (
            "graphql",
            graphql_request(
                server.url(&format!("/graphql?{extra}")),
                "query($first:Int!,$after:String){items(first:$first,after:$after){nodes{id} pageInfo{hasNextPage endCursor}}}",
                serde_json::json!({ "first": PAGE, "after": null }),
            ),
            Box::new(RelayPaginator::new("/data/items")),
        ),
        (
            "auto",
            get("/items"),
            Box::new(AutoPaginator::new().page_size("limit", PAGE)),
        ),
    ]
}

fn offset_and_page(server: &RunningServer) -> Vec<(&'static str, Request, Box<dyn Paginator>)> {
    let get = |path: &str| Request::get(server.url(path));
    let offset = || {
        OffsetPaginator::new("offset")
            .limit("limit", PAGE)
            .records_at("/results")
    };
    let page = |base: u64| {
        PageNumberPaginator::new("page")
            .first_page(base)
            .page_size("page_size", PAGE)
            .records_at("/items")
    };
    vec![
        (
            "offset-total",
            get("/offset"),
            Box::new(offset().total_at("/total")),
        ),
        (
            "offset-total-first-page-only",
            get("/offset?total=first"),
            Box::new(offset().total_at("/total")),
        ),
        (
            "offset-no-total",
            get("/offset?total=none"),
            Box::new(offset().total_at("/total")),
        ),
        (
            "page-1-based",
            get("/page"),
            Box::new(page(1).total_pages_at("/total_pages")),
        ),
        (
            "page-0-based",
            get("/page?base=0"),
            Box::new(page(0).total_pages_at("/total_pages")),
        ),
        (
            "page-no-total",
            get("/page?total=none"),
            Box::new(page(1).total_pages_at("/total_pages")),
        ),
    ]
}

async fn walk(
    request: Request,
    paginator: Box<dyn Paginator>,
    concurrency: usize,
) -> Result<Vec<String>, ExtractError> {
    let extractor = Extractor::builder()
        .request(request)
        .paginator(paginator)
        .concurrency(concurrency)
        .build()
        .unwrap();
    let mut out = Vec::new();
    let mut records = std::pin::pin!(extractor.records());
    while let Some(record) = records.next().await {
        out.push(record?.as_str().to_owned());
    }
    Ok(out)
}

#[tokio::test]
async fn every_style_yields_the_dataset_exactly_once_in_order() {
    for len in [0usize, 1, PAGE as usize, 2 * PAGE as usize + 7] {
        let dataset = Dataset::generate(11, len);
        let server = FakeApi::builder()
            .dataset(dataset.clone())
            .build()
            .start()
            .await
            .unwrap();
        let mut all = styles(&server, "");
        all.extend(offset_and_page(&server));
        for (name, request, paginator) in all {
            for concurrency in [1, 4] {
                let got = walk(request.clone(), paginator_clone(name, &server), concurrency)
                    .await
                    .unwrap_or_else(|e| panic!("{name} with {len} records: {e}"));
                assert_eq!(
                    got,
                    dataset.records(),
                    "{name} with {len} records, K={concurrency}"
                );
            }
            drop(paginator);
        }
    }
}

/// A fresh paginator for `name` (paginators are not `Clone` behind `dyn`).
fn paginator_clone(name: &str, server: &RunningServer) -> Box<dyn Paginator> {
    let mut all = styles(server, "");
    all.extend(offset_and_page(server));
    all.into_iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, _, p)| p)
        .unwrap()
}

#[tokio::test]
async fn a_server_cycling_back_is_a_cursor_cycle_in_every_style_that_can_cycle() {
    let dataset = Dataset::generate(12, 200);
    let server = FakeApi::builder()
        .dataset(dataset)
        .build()
        .start()
        .await
        .unwrap();
    for (name, request, paginator) in styles(&server, "cycle_at=4") {
        let err = walk(request, paginator, 1).await.unwrap_err();
        assert!(
            matches!(
                err,
                ExtractError::Paginate(PaginateError::CursorCycle { .. })
            ),
            "{name}: {err}"
        );
    }
}

#[tokio::test]
async fn a_last_page_repeating_its_own_cursor_is_a_cycle_not_an_endless_run() {
    let dataset = Dataset::generate(13, 95);
    let server = FakeApi::builder()
        .dataset(dataset)
        .build()
        .start()
        .await
        .unwrap();
    for (name, request, paginator) in styles(&server, "repeat_last=1") {
        let err = walk(request, paginator, 1).await.unwrap_err();
        assert!(
            matches!(
                err,
                ExtractError::Paginate(PaginateError::CursorCycle { .. })
            ),
            "{name}: {err}"
        );
    }
}
