//! `AutoPaginator`: the style is detected from the first response, logged, and kept on resume.

use std::sync::{Arc, Mutex, OnceLock};

use haul_core::{Request, Response};
use haul_paginate::{AutoPaginator, Guard, PageState, PaginateError};
use proptest::prelude::*;

use crate::support::*;

/// The API shapes auto-detection must recognize, each served over `0..len`
/// with the server's default page size (the first request carries no paging
/// parameters).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    /// `?cursor=k<n>` → `{"data":[…],"next_cursor":"k<n>"|null}`
    Cursor,
    /// `?cursor=<n>` → `{"members":[…],"response_metadata":{"next_cursor":"<n>"|""}}` (Slack)
    Slack,
    /// `?$skiptoken=<n>` → `{"value":[…],"@odata.nextLink":"<absolute>"}`, key omitted at the end
    OData,
    /// `{"tickets":[…],"meta":{"has_more":b,"after_cursor":"<n>"},"links":{"next":"/items?page[after]=<n>"}}`,
    /// with the link still present on the last page (Zendesk)
    Zendesk,
    /// root array, GitHub-style `Link` header
    Link,
    /// `?starting_after=<id>` → `{"object":"list","data":[…],"has_more":b}` (Stripe)
    Stripe,
    /// `?offset=<n>` → `{"results":[…],"total":len}`
    Offset,
    /// `?page=<p>` (1-based) → `{"items":[…],"total_pages":P}`
    Page,
}

const KINDS: &[Kind] = &[
    Kind::Cursor,
    Kind::Slack,
    Kind::OData,
    Kind::Zendesk,
    Kind::Link,
    Kind::Stripe,
    Kind::Offset,
    Kind::Page,
];

fn server(kind: Kind, len: usize, size: usize) -> impl FnMut(&Request) -> Response {
    move |req| {
        let start = match kind {
            Kind::Cursor => req
                .query("cursor")
                .map(|c| c.trim_start_matches('k').parse().unwrap())
                .unwrap_or(0),
            Kind::Slack => param(req, "cursor"),
            Kind::OData => param(req, "$skiptoken"),
            Kind::Zendesk => param(req, "page[after]"),
            Kind::Link | Kind::Page => (param(req, "page").max(1) - 1) * size,
            Kind::Stripe => req
                .query("starting_after")
                .map(|id| id.parse::<usize>().unwrap() + 1)
                .unwrap_or(0),
            Kind::Offset => param(req, "offset"),
        };
        let end = (start + size).min(len);
        let items = array(start.min(end)..end);
        let more = end < len;
        let body = match kind {
            Kind::Cursor => {
                let next = if more {
                    format!("\"k{end}\"")
                } else {
                    "null".into()
                };
                format!(r#"{{"data":{items},"next_cursor":{next}}}"#)
            }
            Kind::Slack => {
                let next = if more { end.to_string() } else { String::new() };
                format!(
                    r#"{{"ok":true,"members":{items},"response_metadata":{{"next_cursor":"{next}"}}}}"#
                )
            }
            Kind::OData => {
                let next = if more {
                    format!(r#","@odata.nextLink":"{BASE}?$skiptoken={end}""#)
                } else {
                    String::new()
                };
                format!(r#"{{"@odata.context":"x","value":{items}{next}}}"#)
            }
            Kind::Zendesk => format!(
                r#"{{"tickets":{items},"meta":{{"has_more":{more},"after_cursor":"{end}"}},"links":{{"next":"/items?page%5Bafter%5D={end}"}}}}"#
            ),
            Kind::Link => items,
            Kind::Stripe => {
                format!(r#"{{"object":"list","data":{items},"has_more":{more},"url":"/items"}}"#)
            }
            Kind::Offset => format!(r#"{{"results":{items},"total":{len}}}"#),
            Kind::Page => format!(
                r#"{{"items":{items},"total_pages":{}}}"#,
                len.div_ceil(size)
            ),
        };
        let resp = ok(req, body);
        if kind == Kind::Link && more {
            let page = param(req, "page").max(1);
            resp.with_header("link", &format!("<{BASE}?page={}>; rel=\"next\"", page + 1))
        } else {
            resp
        }
    }
}

fn expected_style(kind: Kind) -> &'static str {
    match kind {
        Kind::Cursor | Kind::Slack => "cursor",
        Kind::OData | Kind::Zendesk => "next-url",
        Kind::Link => "link",
        Kind::Stripe => "last-record",
        Kind::Offset => "offset",
        Kind::Page => "page",
    }
}

fn auto_walk(kind: Kind, len: usize, size: usize) -> Result<Walk, PaginateError> {
    walk_with(
        &AutoPaginator::new(),
        base(),
        Guard::new(None),
        PageState::default(),
        server(kind, len, size),
    )
}

#[test]
fn auto_detects_each_style_from_the_first_page() {
    for &kind in KINDS {
        let walked = auto_walk(kind, 10, 3).unwrap();
        assert_eq!(walked.records, dataset(10), "{kind:?}");
        assert_eq!(
            AutoPaginator::chosen_style(&walked.state).as_deref(),
            Some(expected_style(kind)),
            "{kind:?}"
        );
    }
}

#[test]
fn auto_treats_an_everything_at_once_response_as_a_single_page() {
    for body in [
        array(0..3),
        format!(r#"{{"data":{}}}"#, array(0..3)),
        format!(r#"{{"data":{},"total":3}}"#, array(0..3)),
    ] {
        let walked = walk_with(
            &AutoPaginator::new(),
            base(),
            Guard::new(None),
            PageState::default(),
            |req| ok(req, body.as_str()),
        )
        .unwrap();
        assert_eq!(walked.records, dataset(3));
        assert_eq!(
            AutoPaginator::chosen_style(&walked.state).as_deref(),
            Some("single"),
            "{body}"
        );
    }
}

#[test]
fn auto_prefers_the_next_link_when_hubspot_sends_both_link_and_after() {
    let walked = walk_with(&AutoPaginator::new(), base(), Guard::new(None), PageState::default(), |req| {
        if req.url.query().is_none() {
            ok(
                req,
                r#"{"results":[{"id":0}],"paging":{"next":{"after":"NTI1Cg%3D%3D","link":"https://api.example.com/items?after=NTI1Cg%3D%3D"}}}"#,
            )
        } else {
            assert_eq!(req.url.query(), Some("after=NTI1Cg%3D%3D"), "followed verbatim");
            ok(req, r#"{"results":[{"id":1}]}"#)
        }
    })
    .unwrap();
    assert_eq!(walked.records, dataset(2));
    assert_eq!(
        AutoPaginator::chosen_style(&walked.state).as_deref(),
        Some("next-url")
    );
}

#[test]
fn auto_uses_the_request_page_parameter_and_its_base() {
    let base = Request::get(format!("{BASE}?page=0&per_page=2").parse().unwrap());
    let mut pages = Vec::new();
    let walked = walk_with(
        &AutoPaginator::new(),
        base,
        Guard::new(None),
        PageState::default(),
        |req| {
            let page = param(req, "page");
            pages.push(page);
            ok(
                req,
                format!(
                    r#"{{"items":{}}}"#,
                    array((page * 2).min(5)..(page * 2 + 2).min(5))
                ),
            )
        },
    )
    .unwrap();
    assert_eq!(walked.records, dataset(5));
    assert_eq!(pages, [0, 1, 2, 3]);
}

#[test]
fn auto_cursor_param_can_be_overridden() {
    let pager = AutoPaginator::new().cursor_param("after_token");
    let walked = walk_with(
        &pager,
        base(),
        Guard::new(None),
        PageState::default(),
        |req| match req.query("after_token") {
            None => ok(req, r#"{"data":[{"id":0}],"next_cursor":"x"}"#),
            Some(_) => ok(req, r#"{"data":[{"id":1}],"next_cursor":null}"#),
        },
    )
    .unwrap();
    assert_eq!(walked.records, dataset(2));
}

#[test]
fn a_resumed_pass_keeps_the_detected_style() {
    let first = auto_walk(Kind::Cursor, 10, 3).unwrap();
    let mut state = first.state.clone();
    state.total = None;
    // The same state on a response that would now look like a Link-header API:
    // the stored choice (cursor at /next_cursor) still decides.
    let resumed = walk_with(
        &AutoPaginator::new(),
        base(),
        Guard::new(None),
        state,
        |req| {
            ok(req, r#"{"data":[{"id":0}],"next_cursor":null}"#)
                .with_header("link", "<https://api.example.com/items?page=2>; rel=next")
        },
    )
    .unwrap();
    assert_eq!(resumed.pages, 1);
    assert_eq!(
        AutoPaginator::chosen_style(&resumed.state).as_deref(),
        Some("cursor")
    );
}

#[test]
fn a_corrupt_stored_choice_is_a_resume_error() {
    let mut state = PageState::default();
    state
        .extra
        .insert("auto".into(), serde_json::json!({"style":"teleport"}));
    let err = walk_with(
        &AutoPaginator::new(),
        base(),
        Guard::new(None),
        state,
        |req| ok(req, "[1]"),
    )
    .unwrap_err();
    assert!(matches!(err, PaginateError::Resume(_)), "{err}");
}

#[test]
fn ambiguous_records_are_a_typed_error_not_a_guess() {
    let err = walk(&AutoPaginator::new(), None, |req| {
        ok(req, r#"{"a":[1],"b":[2]}"#)
    })
    .unwrap_err();
    match err {
        PaginateError::RecordsNotFound { selector, .. } => {
            assert!(selector.contains("a, b"), "{selector}")
        }
        other => panic!("{other}"),
    }
    let err = walk(&AutoPaginator::new(), None, |req| ok(req, r#"{"count":1}"#)).unwrap_err();
    assert!(
        matches!(err, PaginateError::RecordsNotFound { .. }),
        "{err}"
    );
    let seen = walk(&AutoPaginator::new().records_at("/b"), None, |req| {
        ok(req, r#"{"a":[1],"b":[2]}"#)
    })
    .unwrap();
    assert_eq!(seen, ["2"]);
}

#[test]
fn auto_non_json_body_is_not_json() {
    let err = walk(&AutoPaginator::new(), None, |req| ok(req, "<html>")).unwrap_err();
    assert!(matches!(err, PaginateError::NotJson { .. }), "{err}");
}

/// Every event of the test binary as `(thread, text)`. A global subscriber
/// (installed once) rather than a scoped one: scoped dispatchers race with
/// callsite interest caching when tests run in parallel.
#[derive(Default)]
struct Capture(Mutex<Vec<(std::thread::ThreadId, String)>>);

static CAPTURE: OnceLock<Arc<Capture>> = OnceLock::new();

fn capture() -> Arc<Capture> {
    CAPTURE
        .get_or_init(|| {
            let capture = Arc::new(Capture::default());
            // Fails only if another global subscriber exists; then nothing is captured.
            let _ = tracing::subscriber::set_global_default(Shared(capture.clone()));
            capture
        })
        .clone()
}

struct Shared(Arc<Capture>);

struct Fields<'a>(&'a mut String);

impl tracing::field::Visit for Fields<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.push_str(&format!("{}={:?} ", field.name(), value));
    }
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.0.push_str(&format!("{}={} ", field.name(), value));
    }
}

impl tracing::Subscriber for Shared {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut line = format!("{} ", event.metadata().level());
        event.record(&mut Fields(&mut line));
        self.0
            .0
            .lock()
            .unwrap()
            .push((std::thread::current().id(), line));
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[test]
fn auto_logs_the_style_it_chose_and_why_at_info() {
    let capture = capture();
    auto_walk(Kind::Zendesk, 4, 2).unwrap();
    walk(&AutoPaginator::new(), None, |req| ok(req, r#"{"data":[]}"#)).unwrap();
    let me = std::thread::current().id();
    let lines: Vec<String> = capture
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|(thread, _)| *thread == me)
        .map(|(_, line)| line.clone())
        .collect();
    let chosen: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("auto-detected"))
        .collect();
    assert_eq!(chosen.len(), 2, "{lines:#?}");
    assert!(chosen[0].starts_with("INFO"), "{}", chosen[0]);
    assert!(
        chosen[0].contains("style=next-url")
            && chosen[0].contains("/links/next")
            && chosen[0].contains("/meta/has_more"),
        "{}",
        chosen[0]
    );
    assert!(
        chosen[1].contains("style=single") && chosen[1].contains("no Link"),
        "{}",
        chosen[1]
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn auto_walk_yields_every_record_once_in_order(kind in prop::sample::select(KINDS), len in 0usize..3000, page_size in 1usize..250) {
        let walked = auto_walk(kind, len, page_size).unwrap();
        prop_assert_eq!(walked.records, dataset(len));
        if len > page_size {
            let chosen = AutoPaginator::chosen_style(&walked.state);
            prop_assert_eq!(chosen.as_deref(), Some(expected_style(kind)));
        }
    }

    #[test]
    fn auto_server_repeating_a_cursor_is_always_a_cycle(len in 2usize..500, page_size in 1usize..50, at in any::<prop::sample::Index>(), back in any::<prop::sample::Index>()) {
        let pages = len.div_ceil(page_size);
        prop_assume!(pages >= 2);
        let (k, j) = cycle_point(pages, at, back);
        let mut serve = server(Kind::Cursor, len, page_size);
        let result = walk(&AutoPaginator::new(), None, counting(move |req, page| {
            let resp = serve(req);
            if page != k {
                return resp;
            }
            let back = format!(",\"next_cursor\":\"k{}\"}}", (j - 1) * page_size);
            ok(req, replace_tail(&resp.body, ",\"next_cursor\":", &back))
        }));
        prop_assert!(matches!(result, Err(PaginateError::CursorCycle { page, .. }) if page == cycle_page(k, j)), "{result:?}");
    }
}
