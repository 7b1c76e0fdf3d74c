//! Paginator behavior against in-memory APIs (no network): one module per
//! style, each with its laws as property tests and its stop signals and
//! errors as unit tests.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

mod auto;
mod body;
mod cursor;
mod guard;
mod header_cursor;
mod last_record;
mod link_header;
mod link_parser;
mod next_url;
mod offset;
mod page_number;
mod promises;
mod remaining;
mod single;
