//! # haul-paginate-graphql
//!
//! GraphQL [Relay cursor connections](https://relay.dev/graphql/connections.htm)
//! for haul: every page's `pageInfo { hasNextPage endCursor }` decides the
//! next request, which is the same POST with the cursor in the query's
//! variables.
//!
//! This crate is also the worked example of extending haul from outside: it
//! depends only on `haul-core` and `haul-paginate`, implements the
//! [`Paginator`](haul_paginate::Paginator) trait, and gets cycle detection,
//! the max-pages limit and origin checks from haul's shared
//! [`Guard`](haul_paginate::Guard) for free. `docs/writing-a-paginator.md` in
//! the repository walks through it.
//!
//! ```
//! use haul_core::Response;
//! use haul_paginate::{Guard, Next, PageContext, PageState, Paginator};
//! use haul_paginate_graphql::{RelayPaginator, graphql_request};
//!
//! // An in-memory GraphQL API with five issues, two per page.
//! let serve = |after: Option<&str>| -> String {
//!     let start: usize = after.map_or(0, |c| c.trim_start_matches("c").parse().unwrap());
//!     let end = (start + 2).min(5);
//!     let nodes: Vec<String> = (start..end).map(|i| format!(r#"{{"number":{i}}}"#)).collect();
//!     format!(
//!         r#"{{"data":{{"repository":{{"issues":{{"pageInfo":{{"hasNextPage":{},"endCursor":"c{end}"}},"nodes":[{}]}}}}}}}}"#,
//!         end < 5,
//!         nodes.join(",")
//!     )
//! };
//!
//! let pager = RelayPaginator::new("/data/repository/issues");
//! let mut request = pager.first(
//!     graphql_request(
//!         "https://api.example.com/graphql".parse()?,
//!         "query($after: String) { repository(owner: \"o\", name: \"r\") { issues(first: 2, after: $after) { pageInfo { hasNextPage endCursor } nodes { number } } } }",
//!         serde_json::json!({}),
//!     ),
//!     &mut PageState::default(),
//! )?;
//! let (mut state, mut guard, mut numbers) = (PageState::default(), Guard::new(Some(10)), Vec::new());
//! for n in 0.. {
//!     guard.admit(&request, n)?;
//!     let body: serde_json::Value = serde_json::from_slice(request.body.as_deref().unwrap())?;
//!     let response = Response::new(http::StatusCode::OK, request.url.clone(), serve(body["variables"]["after"].as_str()));
//!     let records = pager.records(&response)?;
//!     numbers.extend(records.iter().map(|r| r.as_str().to_owned()));
//!     let page = PageContext { request: &request, response: &response, records: &records, number: n + 1 };
//!     match pager.next(&page, &mut state)? {
//!         Next::Request(next) => request = next,
//!         _ => break,
//!     }
//! }
//! assert_eq!(numbers.len(), 5);
//! assert_eq!(numbers[4], r#"{"number":4}"#);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod relay;

pub use relay::{RelayPaginator, graphql_request};

/// The extension guide, `docs/writing-a-paginator.md`, compiled as doc tests
/// so its code never goes stale.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/writing-a-paginator.md")]
pub struct WritingAPaginatorGuide;
