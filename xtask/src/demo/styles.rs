//! The pagination styles the demo can extract, each against its testkit endpoint.

use haul::{
    AutoPaginator, CursorPaginator, HeaderCursor, LastRecordCursor, LinkHeaderPaginator,
    NextUrlPaginator, OffsetPaginator, PageNumberPaginator, Paginator, Request,
};
use haul_paginate_graphql::{RelayPaginator, graphql_request};
use haul_testkit::RunningServer;

/// Every style `--style` accepts.
pub(crate) const STYLES: &[&str] = &[
    "cursor",
    "last-record",
    "header-cursor",
    "next-url",
    "link",
    "offset",
    "page",
    "graphql",
    "auto",
];

/// The first request and the paginator for `style` against `server`.
pub(crate) fn configure(
    style: &str,
    server: &RunningServer,
    page_size: u64,
) -> Result<(Request, Box<dyn Paginator>), String> {
    let get = |path: &str| Request::get(server.url(path));
    Ok(match style {
        "cursor" => (
            get("/items"),
            Box::new(
                CursorPaginator::new("/next_cursor", "cursor")
                    .records_at("/data")
                    .page_size("limit", page_size),
            ),
        ),
        "last-record" => (
            get("/last-record"),
            Box::new(
                LastRecordCursor::new("/id", "starting_after")
                    .has_more_at("/has_more")
                    .records_at("/data")
                    .page_size("limit", page_size),
            ),
        ),
        "header-cursor" => (
            get("/header-cursor"),
            Box::new(HeaderCursor::new("X-Next-Cursor", "cursor").page_size("limit", page_size)),
        ),
        "next-url" => (
            get("/next-url"),
            Box::new(
                NextUrlPaginator::new("/@odata.nextLink")
                    .records_at("/value")
                    .page_size("limit", page_size),
            ),
        ),
        "link" => (
            get("/link"),
            Box::new(LinkHeaderPaginator::new().page_size("per_page", page_size)),
        ),
        "offset" => (
            get("/offset"),
            Box::new(
                OffsetPaginator::new("offset")
                    .limit("limit", page_size)
                    .total_at("/total")
                    .records_at("/results"),
            ),
        ),
        "page" => (
            get("/page"),
            Box::new(
                PageNumberPaginator::new("page")
                    .first_page(1)
                    .page_size("page_size", page_size)
                    .total_pages_at("/total_pages")
                    .records_at("/items"),
            ),
        ),
        "graphql" => (
            graphql_request(
                server.url("/graphql"),
                "query($first: Int!, $after: String) { items(first: $first, after: $after) { nodes { id } pageInfo { hasNextPage endCursor } } }",
                serde_json::json!({ "first": page_size, "after": null }),
            ),
            Box::new(RelayPaginator::new("/data/items")),
        ),
        "auto" => (
            get("/items"),
            Box::new(AutoPaginator::new().page_size("limit", page_size)),
        ),
        other => {
            return Err(format!(
                "unknown --style {other:?}; one of: {}",
                STYLES.join(", ")
            ));
        }
    })
}
