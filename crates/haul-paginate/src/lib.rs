//! # haul-paginate
//!
//! The [`Paginator`] trait and haul's pagination styles, plus the [`Guard`]
//! every style shares: a cursor, URL or offset seen before is a
//! [`PaginateError::CursorCycle`], running past `max_pages` is a
//! [`PaginateError::MaxPagesExceeded`] — never a silent stop — a next page
//! on another origin is a [`PaginateError::CrossOrigin`] unless allowed, and
//! a run of empty pages while the API still offers more ends the pass
//! ([`Guard::max_empty_pages`]).
//!
//! | style | API examples | type |
//! |---|---|---|
//! | cursor in the body, sent as a query parameter or in a JSON body | Slack, HubSpot, Zendesk | [`CursorPaginator`] |
//! | a field of the last record | Stripe `starting_after` | [`LastRecordCursor`] |
//! | cursor in a response header | `X-Next-Cursor` | [`HeaderCursor`] |
//! | next URL in the body | OData `@odata.nextLink`, Salesforce `nextRecordsUrl` | [`NextUrlPaginator`] |
//! | RFC 8288 `Link` header | GitHub | [`LinkHeaderPaginator`] (parser: [`link`]) |
//! | offset / limit | many | [`OffsetPaginator`] |
//! | page number, 0- or 1-based | many | [`PageNumberPaginator`] |
//! | no pagination | | [`SinglePage`] |
//! | detected from the first response | | [`AutoPaginator`] |
//!
//! Every style takes a [`RecordSelector`] (`records_at("/data")`, the root
//! array, or NDJSON). New styles live in their own crates: implement
//! [`Paginator`] (see `haul-paginate-graphql` and `docs/writing-a-paginator.md`).
//!
//! Paginators are synchronous, do no I/O and hold no per-run state (that lives
//! in [`PageState`]), so one paginator can serve many streams and its laws can
//! be property-tested without a network.
//!
//! ```
//! use haul_paginate::{CursorPaginator, Guard, Next, PageContext, PageState, Paginator};
//! use haul_core::{Request, Response};
//! use http::StatusCode;
//!
//! // A tiny in-memory "API": three pages chained by cursors.
//! let bodies = [
//!     r#"{"items":[1,2],"meta":{"next":"b"}}"#,
//!     r#"{"items":[3,4],"meta":{"next":"c"}}"#,
//!     r#"{"items":[5],"meta":{"next":null}}"#,
//! ];
//! let pager = CursorPaginator::new("/meta/next", "after").records_at("/items");
//! let mut state = PageState::default();
//! let mut guard = Guard::new(Some(100));
//! let mut request = pager.first(Request::get("https://api.example.com/v1".parse()?), &mut state)?;
//! let mut seen = Vec::new();
//! for (i, body) in bodies.iter().enumerate() {
//!     guard.admit(&request, i as u64)?;
//!     let response = Response::new(StatusCode::OK, request.url.clone(), *body);
//!     let records = pager.records(&response)?;
//!     seen.extend(records.iter().map(|r| r.as_str().to_owned()));
//!     let page = PageContext { request: &request, response: &response, records: &records, number: i as u64 + 1 };
//!     match pager.next(&page, &mut state)? {
//!         Next::Request(next) => request = next,
//!         _ => break,
//!     }
//! }
//! assert_eq!(seen, ["1", "2", "3", "4", "5"]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod auto;
mod body;
mod builders;
mod choice;
mod cursor;
mod detect;
mod error;
mod guard;
mod header_cursor;
mod last_record;
pub mod link;
mod link_header;
mod memo;
mod next_url;
mod offset;
mod page_number;
mod paginator;
mod records;
mod repeat;
mod signals;
mod single;
mod stops;

pub use auto::AutoPaginator;
pub use body::set_json_field;
pub use cursor::CursorPaginator;
pub use error::PaginateError;
pub use guard::{DEFAULT_MAX_EMPTY_PAGES, EmptyPages, Guard};
pub use header_cursor::HeaderCursor;
pub use last_record::LastRecordCursor;
pub use link_header::LinkHeaderPaginator;
pub use next_url::NextUrlPaginator;
pub use offset::OffsetPaginator;
pub use page_number::PageNumberPaginator;
pub use paginator::{Next, PageContext, PageState, Paginator, is_bodyless};
pub use records::RecordSelector;
pub use single::SinglePage;
