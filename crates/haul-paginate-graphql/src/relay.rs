//! [`RelayPaginator`]: GraphQL Relay connections, cursor passed as a variable.

use haul_core::url::Url;
use haul_core::{Record, Request, Response, json};
use haul_paginate::{
    Next, PageContext, PageState, PaginateError, Paginator, RecordSelector, set_json_field,
};
use serde_json::Value;

/// Where the records of a connection are.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Records {
    /// `nodes: [...]`: each node is a record.
    Nodes(String),
    /// `edges: [{cursor, node}]`: each edge's `node` is a record.
    Edges(String),
}

/// Relay cursor pagination over GraphQL: every response carries
/// `pageInfo { hasNextPage endCursor }` for a connection; the next request is
/// the same POST with the `endCursor` put into the query's variables
/// (`variables.after` by default).
///
/// - `hasNextPage: false` ends the dataset.
/// - `hasNextPage: true` without an `endCursor` is a
///   [`PaginateError::NoWayForward`] error, never a silent stop.
/// - A missing `pageInfo` (usually a wrong connection pointer, or `data: null`)
///   and a response with GraphQL `errors` are [`PaginateError::BadField`] errors.
/// - Every request is marked `retry_non_idempotent`: a GraphQL query sent
///   over POST is safe to retry. (Do not use this paginator for mutations.)
///
/// Loops and runaway page counts are the [`Guard`](haul_paginate::Guard)'s
/// job, as for every style: a repeated `endCursor` is a `CursorCycle` naming
/// `/variables/after`.
///
/// ```
/// use haul_paginate::{Next, PageContext, PageState, Paginator};
/// use haul_paginate_graphql::{RelayPaginator, graphql_request};
/// use haul_core::Response;
///
/// let pager = RelayPaginator::new("/data/repository/issues");
/// let base = graphql_request(
///     "https://api.github.com/graphql".parse()?,
///     "query($after: String) { repository(owner: \"o\", name: \"r\") { issues(first: 2, after: $after) { pageInfo { hasNextPage endCursor } nodes { number } } } }",
///     serde_json::json!({}),
/// );
/// let mut state = PageState::default();
/// let first = pager.first(base, &mut state)?;
/// let resp = Response::new(http::StatusCode::OK, first.url.clone(), r#"{"data":{"repository":{"issues":{
///     "pageInfo":{"hasNextPage":true,"endCursor":"Y3Vyc29yOjI="},"nodes":[{"number":1},{"number":2}]}}}}"#);
/// let records = pager.records(&resp)?;
/// assert_eq!(records[1].as_str(), r#"{"number":2}"#);
/// let page = PageContext { request: &first, response: &resp, records: &records, number: 1 };
/// let Next::Request(next) = pager.next(&page, &mut state)? else { panic!("expected a next page") };
/// let body: serde_json::Value = serde_json::from_slice(next.body.as_deref().unwrap())?;
/// assert_eq!(body["variables"]["after"], "Y3Vyc29yOjI=");
/// assert!(next.retry_non_idempotent);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct RelayPaginator {
    page_info: String,
    records: Records,
    variable: String,
    initial_cursor: Option<String>,
}

impl RelayPaginator {
    /// Paginates the connection at JSON pointer `connection` (e.g.
    /// `/data/repository/issues`): `pageInfo` and `nodes` are read below it,
    /// and the cursor goes into variable `after`.
    pub fn new(connection: impl Into<String>) -> Self {
        let connection = connection.into();
        Self {
            page_info: format!("{connection}/pageInfo"),
            records: Records::Nodes(format!("{connection}/nodes")),
            variable: "after".into(),
            initial_cursor: None,
        }
    }

    /// The GraphQL variable that receives the cursor (default `after`).
    pub fn cursor_variable(mut self, name: impl Into<String>) -> Self {
        self.variable = name.into();
        self
    }

    /// Reads `pageInfo` at this pointer instead of `<connection>/pageInfo`.
    pub fn page_info_at(mut self, pointer: impl Into<String>) -> Self {
        self.page_info = pointer.into();
        self
    }

    /// The records are the elements of the `nodes` array at this pointer.
    pub fn nodes_at(mut self, pointer: impl Into<String>) -> Self {
        self.records = Records::Nodes(pointer.into());
        self
    }

    /// The records are the `node` of each element of the `edges` array at
    /// this pointer.
    pub fn edges_at(mut self, pointer: impl Into<String>) -> Self {
        self.records = Records::Edges(pointer.into());
        self
    }

    /// Sends this cursor on the first request.
    pub fn initial_cursor(mut self, cursor: impl Into<String>) -> Self {
        self.initial_cursor = Some(cursor.into());
        self
    }

    fn variable_pointer(&self) -> String {
        let escaped = self.variable.replace('~', "~0").replace('/', "~1");
        format!("/variables/{escaped}")
    }
}

/// A GraphQL request: `POST url` with the JSON body
/// `{"query": query, "variables": variables}`.
pub fn graphql_request(url: Url, query: &str, variables: Value) -> Request {
    let body = serde_json::json!({ "query": query, "variables": variables });
    Request::post_json(url, body.to_string())
}

impl Paginator for RelayPaginator {
    fn name(&self) -> &'static str {
        "graphql"
    }

    fn first(&self, mut base: Request, _state: &mut PageState) -> Result<Request, PaginateError> {
        for pointer in [&self.page_info, self.records_pointer()] {
            if !pointer.starts_with('/') {
                return Err(PaginateError::Config(format!(
                    "GraphQL pointer {pointer:?} must start with '/'"
                )));
            }
        }
        let has_query = base
            .body
            .as_deref()
            .and_then(|b| serde_json::from_slice::<Value>(b).ok())
            .is_some_and(|v| v.get("query").is_some_and(Value::is_string));
        if !has_query {
            return Err(PaginateError::Config(
                "a GraphQL request needs a JSON body with a \"query\" string (see graphql_request)"
                    .into(),
            ));
        }
        if let Some(cursor) = &self.initial_cursor {
            set_json_field(
                &mut base,
                &self.variable_pointer(),
                Value::String(cursor.clone()),
            )?;
        }
        // A query over POST changes nothing on the server: safe to retry.
        base.retry_non_idempotent = true;
        Ok(base)
    }

    fn records(&self, response: &Response) -> Result<Vec<Record>, PaginateError> {
        let text = text(response)?;
        check_errors(response, text)?;
        match &self.records {
            Records::Nodes(pointer) => RecordSelector::pointer(pointer.clone()).select(response),
            Records::Edges(pointer) => edges(response, text, pointer),
        }
    }

    fn next(&self, page: &PageContext<'_>, _state: &mut PageState) -> Result<Next, PaginateError> {
        let response = page.response;
        let text = text(response)?;
        let has_next = json::pointer(text, &self.page_info)
            .map_err(|e| not_json(response, &e.to_string()))?
            .filter(|raw| raw.get().starts_with('{'))
            .map(|raw| json::bool_at(raw.get(), "/hasNextPage"))
            .transpose()
            .map_err(|e| not_json(response, &e.to_string()))?;
        let has_next = match has_next {
            Some(Some(flag)) => flag,
            Some(None) => {
                return Err(bad_field(
                    response,
                    &format!("{}/hasNextPage", self.page_info),
                    "missing or not a boolean",
                ));
            }
            None => {
                return Err(bad_field(
                    response,
                    &self.page_info,
                    "no pageInfo object here: check the connection pointer, and that the query selects pageInfo { hasNextPage endCursor }",
                ));
            }
        };
        if !has_next {
            return Ok(Next::End);
        }
        let cursor = json::scalar_at(text, &format!("{}/endCursor", self.page_info))
            .map_err(|e| not_json(response, &e.to_string()))?;
        let Some(cursor) = cursor else {
            return Err(PaginateError::NoWayForward {
                url: response.masked_url(),
                page: page.number,
                records: page.records.len(),
                reason: "pageInfo.hasNextPage is true but pageInfo.endCursor is null".into(),
                preview: response.preview(),
            });
        };
        let mut next = page.request.clone();
        set_json_field(&mut next, &self.variable_pointer(), Value::String(cursor))?;
        Ok(Next::Request(next))
    }
}

impl RelayPaginator {
    fn records_pointer(&self) -> &String {
        match &self.records {
            Records::Nodes(p) | Records::Edges(p) => p,
        }
    }
}

/// The records of an `edges` array: each edge's `node`, as sent.
fn edges(response: &Response, text: &str, pointer: &str) -> Result<Vec<Record>, PaginateError> {
    let json_err = |e: json::JsonError| not_json(response, &e.to_string());
    let Some(raw) = json::pointer(text, pointer).map_err(json_err)? else {
        return Ok(Vec::new());
    };
    match raw.get().as_bytes().first() {
        Some(b'n') => return Ok(Vec::new()),
        Some(b'[') => {}
        _ => return Err(not_found(response, pointer)),
    }
    json::array_items(raw.get())
        .map_err(json_err)?
        .into_iter()
        .map(|edge| match json::pointer(edge.get(), "/node") {
            Ok(Some(node)) => Ok(Record::from_borrowed(node)),
            Ok(None) => Err(not_found(response, &format!("{pointer}/*/node"))),
            Err(e) => Err(json_err(e)),
        })
        .collect()
}

/// A GraphQL server reports failures in `errors`, often with status 200 and
/// partial `data`; going on would silently drop whatever failed.
fn check_errors(response: &Response, text: &str) -> Result<(), PaginateError> {
    let first = json::pointer(text, "/errors/0").map_err(|e| not_json(response, &e.to_string()))?;
    match first {
        None => Ok(()),
        Some(error) => Err(bad_field(
            response,
            "/errors",
            format!(
                "the GraphQL server answered with errors, the first: {}",
                haul_core::body_preview(error.get().as_bytes())
            ),
        )),
    }
}

fn text(response: &Response) -> Result<&str, PaginateError> {
    std::str::from_utf8(&response.body).map_err(|e| not_json(response, &e.to_string()))
}

fn not_json(response: &Response, reason: &str) -> PaginateError {
    PaginateError::NotJson {
        url: response.masked_url(),
        reason: reason.to_owned(),
        preview: response.preview(),
    }
}

fn not_found(response: &Response, selector: &str) -> PaginateError {
    PaginateError::RecordsNotFound {
        url: response.masked_url(),
        selector: selector.to_owned(),
        preview: response.preview(),
    }
}

fn bad_field(response: &Response, what: &str, reason: impl Into<String>) -> PaginateError {
    PaginateError::BadField {
        url: response.masked_url(),
        what: what.to_owned(),
        reason: reason.into(),
    }
}
