//! Fuzzing what paginators read from a hostile server: `Link` headers,
//! bodies at a records selector, cursors and next URLs. No input panics;
//! well-formed `Link` headers round-trip; a cursor can never move a request
//! to another origin; and a next URL's origin is judged by the `Guard`
//! exactly as the transport judges it for credentials (`url::Origin`).
//! Every property runs 10,000 cases.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use haul_core::http::{HeaderValue, StatusCode};
use haul_core::url::Url;
use haul_core::{Record, Request, Response};
use haul_paginate::link::{find_link, parse_link_header};
use haul_paginate::{
    CursorPaginator, Guard, LinkHeaderPaginator, Next, NextUrlPaginator, PageContext, PageState,
    PaginateError, Paginator, RecordSelector,
};
use proptest::prelude::*;
use serde_json::Value;

const BASE: &str = "https://api.example.com/v1/items?limit=10";

fn config() -> ProptestConfig {
    ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::with_cases(10_000)
    }
}

// ---------------------------------------------------------------- strategies

/// Any JSON value, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        "\\PC{0,8}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 32, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop::sample::select(&["data", "next", "meta", "has_more", "x"][..]),
                    inner
                ),
                0..5
            )
            .prop_map(|kv| Value::Object(kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())),
        ]
    })
}

/// Response bodies: JSON a server might send, JSON-like garbage, NDJSON,
/// arbitrary bytes (not UTF-8 either).
fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        json_value().prop_map(|v| v.to_string().into_bytes()),
        (json_value(), json_value(), json_value()).prop_map(|(data, next, more)| {
            serde_json::json!({"data": data, "next": next, "meta": {"has_more": more}})
                .to_string()
                .into_bytes()
        }),
        r#"[\[\]{}:,"0-9a-z\\ \n.]{0,64}"#.prop_map(String::into_bytes),
        prop::collection::vec(any::<u8>(), 0..64),
    ]
}

fn pointer() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(&["", "/data", "/next", "/meta/has_more", "/data/0", "/x/y"][..])
            .prop_map(str::to_owned),
        "\\PC{0,8}",
        "(/[a-z0-9~]{0,3}){0,3}",
    ]
}

fn selector() -> impl Strategy<Value = RecordSelector> {
    prop_oneof![
        Just(RecordSelector::Root),
        Just(RecordSelector::Ndjson),
        pointer().prop_map(RecordSelector::pointer),
    ]
}

/// Next links: arbitrary text, relative references of every shape, and
/// absolute URLs on this and other origins, with tricks that fool naive
/// origin checks (userinfo, backslashes, scheme-relative, case, ports).
fn link_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\PC{0,40}",
        "[a-z/?&=.#%:@\\\\ \t-]{0,30}",
        prop::sample::select(
            &[
                "//evil.example/x",
                "\\\\evil.example/x",
                "/\\evil.example/x",
                "https:evil.example/x",
                "https:/evil.example/x",
                "HTTPS://API.EXAMPLE.COM/v1/items?page=2",
                "https://api.example.com:443/v1/items?page=2",
                "https://api.example.com:8443/v1/items",
                "http://api.example.com/v1/items",
                "https://api.example.com@evil.example/x",
                "https://evil.example#@api.example.com/",
                "https://api.example.com.evil.example/",
                " https://evil.example/ ",
                "\thttps://evil.example/",
                "data:text/plain,hi",
                "javascript:alert(1)",
                "file:///etc/passwd",
                "blob:https://api.example.com/0000",
                "?page=2",
                "#frag",
                "",
                "../../x",
                "https://[::1]/x",
                "https://127.0.0.1/x",
                "https://xn--nxasmq6b.example/",
            ][..]
        )
        .prop_map(str::to_owned),
        (
            "(https?|HTTP|ftp|ws)",
            "[a-z.]{1,12}",
            prop::option::of(0u16..=65535),
            "(/[a-z]{0,4}){0,3}"
        )
            .prop_map(|(scheme, host, port, path)| match port {
                Some(port) => format!("{scheme}://{host}:{port}{path}"),
                None => format!("{scheme}://{host}{path}"),
            }),
    ]
}

fn base() -> Request {
    Request::get(Url::parse(BASE).unwrap())
}

fn response_for(request: &Request, body: Vec<u8>) -> Response {
    Response::new(StatusCode::OK, request.url.clone(), body)
}

/// Runs `next` of `pager` on `body` as the answer to its first request.
fn next_of(
    pager: &dyn Paginator,
    first: Request,
    body: Vec<u8>,
) -> (Request, Result<Next, PaginateError>) {
    let mut state = PageState::default();
    let first = pager.first(first, &mut state).unwrap();
    let response = response_for(&first, body);
    let records: Vec<Record> = pager.records(&response).unwrap_or_default();
    let page = PageContext {
        request: &first,
        response: &response,
        records: &records,
        number: 1,
    };
    let next = pager.next(&page, &mut state);
    (first, next)
}

/// A well-formed link: a target without `>` and parameters, some quoted
/// with commas, semicolons, quotes and backslashes inside.
#[derive(Debug, Clone)]
struct WellFormed {
    target: String,
    params: Vec<(String, String, bool)>,
}

fn well_formed() -> impl Strategy<Value = WellFormed> {
    (
        "[a-zA-Z0-9/?&=,;.:%~_-]{0,24}",
        prop::collection::vec(
            prop_oneof![
                ("[a-zA-Z]{1,6}", "[a-z0-9./-]{1,8}").prop_map(|(n, v)| (n, v, false)),
                ("[a-zA-Z]{1,6}", "[ -~]{0,10}").prop_map(|(n, v)| (n, v, true)),
                ("[a-zA-Z]{1,6}", "\\PC{0,6}").prop_map(|(n, v)| (n, v, true)),
            ],
            0..4,
        ),
    )
        .prop_map(|(target, params)| WellFormed { target, params })
}

fn render(link: &WellFormed) -> String {
    let mut out = format!("<{}>", link.target);
    for (name, value, quoted) in &link.params {
        if *quoted {
            let escaped = value.replace('\\', "\\\\").replace('"', "\\\"");
            out.push_str(&format!("; {name}=\"{escaped}\""));
        } else {
            out.push_str(&format!("; {name}={value}"));
        }
    }
    out
}

/// `scheme://host:port` of a special (http-like) URL, the way a human reads an origin.
fn tuple_origin(url: &Url) -> Option<String> {
    match url.origin() {
        haul_core::url::Origin::Tuple(scheme, host, port) => {
            Some(format!("{scheme}://{host}:{port}"))
        }
        haul_core::url::Origin::Opaque(_) => None,
    }
}

// ---------------------------------------------------------------- Link header

proptest! {
    #![proptest_config(config())]

    /// Any text: the parser returns the links it can read, never panics, and
    /// every target is resolvable or a typed error.
    #[test]
    fn link_parser_never_panics(text in prop_oneof!["\\PC{0,96}", r#"[<>;,=" \\a-z:/?&\t]{0,96}"#]) {
        let base = Url::parse(BASE).unwrap();
        for link in parse_link_header(&text) {
            prop_assert!(!link.target.contains('>'));
            let _ = link.rels().count();
            let _ = link.resolve(&base);
        }
    }

    /// Any header bytes a server can send (including obs-text, not UTF-8),
    /// across several `Link` headers: `find_link` never panics.
    #[test]
    fn find_link_never_panics_on_raw_header_bytes(
        values in prop::collection::vec(prop::collection::vec(prop_oneof![Just(b'\t'), 0x20u8..0x7f, 0x80u8..=0xff], 0..64), 0..3),
        rel in prop::sample::select(&["next", "NEXT", "last", ""][..]),
    ) {
        let mut response = Response::new(StatusCode::OK, Url::parse(BASE).unwrap(), "[]");
        for value in &values {
            response.headers.append("link", HeaderValue::from_bytes(value).unwrap());
        }
        let _ = find_link(&response, rel);
    }

    /// Well-formed headers parse back to exactly their links and parameters,
    /// whatever the quoted values contain.
    #[test]
    fn well_formed_links_round_trip(links in prop::collection::vec(well_formed(), 1..4)) {
        let header = links.iter().map(render).collect::<Vec<_>>().join(", ");
        let parsed = parse_link_header(&header);
        prop_assert_eq!(parsed.len(), links.len(), "{}", header);
        for (got, want) in parsed.iter().zip(&links) {
            prop_assert_eq!(&got.target, &want.target);
            let want_params: Vec<(String, String)> = want
                .params
                .iter()
                .map(|(n, v, _)| (n.to_ascii_lowercase(), v.clone()))
                .collect();
            prop_assert_eq!(&got.params, &want_params, "{}", header);
        }
    }

    /// Whatever the `Link` header says, `LinkHeaderPaginator` follows exactly
    /// the resolved `rel="next"` target, or ends, or fails with a typed error.
    #[test]
    fn link_paginator_follows_only_the_next_target(
        targets in prop::collection::vec((link_text(), prop::sample::select(&["next", "prev", "last", "next last"][..])), 0..3),
    ) {
        let header = targets
            .iter()
            .map(|(t, rel)| format!("<{}>; rel=\"{rel}\"", t.replace('>', "%3E")))
            .collect::<Vec<_>>()
            .join(", ");
        let pager = LinkHeaderPaginator::new();
        let mut state = PageState::default();
        let first = pager.first(base(), &mut state).unwrap();
        let mut response = response_for(&first, b"[]".to_vec());
        if let Ok(value) = HeaderValue::from_str(&header) {
            response.headers.append("link", value);
        }
        let expected = find_link(&response, "next");
        let page = PageContext { request: &first, response: &response, records: &[], number: 1 };
        match (pager.next(&page, &mut state), expected) {
            (Ok(Next::Request(next)), Ok(Some(url))) => prop_assert_eq!(next.url, url),
            (Ok(Next::End), Ok(None)) => {}
            (Err(PaginateError::BadField { .. }), Err(_)) => {}
            (got, want) => prop_assert!(false, "{:?} vs {:?}", got, want),
        }
    }
}

// ---------------------------------------------------------------- records

proptest! {
    #![proptest_config(config())]

    /// Any body with any selector: records or a typed error, never a panic.
    #[test]
    fn record_selection_never_panics(body in body(), selector in selector()) {
        let response = Response::new(StatusCode::OK, Url::parse(BASE).unwrap(), body);
        match selector.select(&response) {
            Ok(_)
            | Err(PaginateError::NotJson { .. })
            | Err(PaginateError::RecordsNotFound { .. }) => {}
            Err(other) => prop_assert!(false, "unexpected error {:?}", other),
        }
    }

    /// An array at the pointer yields exactly its elements, as written.
    #[test]
    fn records_are_the_array_elements(items in prop::collection::vec(json_value(), 0..6), wrap in any::<bool>()) {
        let array = Value::Array(items.clone());
        let (body, selector) = if wrap {
            (serde_json::json!({"meta": {}, "data": array}), RecordSelector::pointer("/data"))
        } else {
            (array, RecordSelector::Root)
        };
        let response = Response::new(StatusCode::OK, Url::parse(BASE).unwrap(), body.to_string());
        let records = selector.select(&response).unwrap();
        let texts: Vec<String> = records.iter().map(|r| r.as_str().to_owned()).collect();
        let want: Vec<String> = items.iter().map(Value::to_string).collect();
        prop_assert_eq!(texts, want);
    }
}

// ---------------------------------------------------------------- cursors

proptest! {
    #![proptest_config(config())]

    /// Any body: a cursor paginator (query or body target, with or without a
    /// `has_more` flag, pre-encoded or not) never panics, and a next request
    /// always stays on the first request's origin and path: a cursor is
    /// data, it cannot redirect the run.
    #[test]
    fn cursor_next_never_panics_and_never_moves(
        body in body(),
        cursor_at in pointer(),
        has_more in prop::option::of(pointer()),
        pre_encoded in any::<bool>(),
    ) {
        let mut pager = CursorPaginator::new(cursor_at.clone(), "cursor").records_at("/data").cursor_pre_encoded(pre_encoded);
        if let Some(flag) = &has_more {
            pager = pager.has_more_at(flag.clone());
        }
        if !(cursor_at.is_empty() || cursor_at.starts_with('/'))
            || has_more.as_ref().is_some_and(|p| !(p.is_empty() || p.starts_with('/')))
        {
            let mut state = PageState::default();
            prop_assert!(matches!(pager.first(base(), &mut state), Err(PaginateError::Config(_))));
            return Ok(());
        }
        let (first, next) = next_of(&pager, base(), body);
        if let Ok(Next::Request(next)) = next {
            prop_assert_eq!(next.url.origin(), first.url.origin());
            prop_assert_eq!(next.url.path(), first.url.path());
            prop_assert_eq!(next.query("limit"), Some("10".to_owned()));
        }
    }

    /// A string cursor goes back verbatim in the query parameter (encoded
    /// once), whatever characters it holds.
    #[test]
    fn string_cursors_round_trip(cursor in "\\PC{1,24}") {
        let pager = CursorPaginator::new("/next", "cursor").records_at("/data");
        let body = serde_json::json!({"data": [], "next": cursor}).to_string().into_bytes();
        let (_, next) = next_of(&pager, base(), body);
        match next.unwrap() {
            Next::Request(next) => prop_assert_eq!(next.query("cursor"), Some(cursor)),
            other => prop_assert!(false, "{:?}", other),
        }
    }

    /// Body cursors: any response cursor, any request body: never a panic.
    #[test]
    fn body_cursor_next_never_panics(
        body in body(),
        request_body in prop_oneof![json_value().prop_map(|v| v.to_string()), "\\PC{0,24}"],
        at in prop_oneof![Just("/page/after".to_owned()), pointer()],
    ) {
        let pager = CursorPaginator::in_body("/next", at).records_at("/data");
        let request = Request::post_json(Url::parse(BASE).unwrap(), request_body);
        let mut state = PageState::default();
        let Ok(first) = pager.first(request, &mut state) else { return Ok(()); };
        let response = response_for(&first, body);
        let page = PageContext { request: &first, response: &response, records: &[], number: 1 };
        if let Ok(Next::Request(next)) = pager.next(&page, &mut state) {
            prop_assert_eq!(next.url, first.url);
        }
    }
}

// ---------------------------------------------------------------- next URLs

proptest! {
    #![proptest_config(config())]

    /// Any next link: the paginator resolves it per RFC 3986 against the URL
    /// that answered, or fails with a typed error; the `Guard` refuses it
    /// exactly when `url::Origin` (what `AuthTransport` binds credentials
    /// to) says it is another origin.
    #[test]
    fn next_url_resolution_and_origin_judgement(link in link_text(), has_more in any::<bool>()) {
        let mut pager = NextUrlPaginator::new("/next").records_at("/data");
        if has_more {
            pager = pager.has_more_at("/more");
        }
        let body = serde_json::json!({"data": [], "next": link, "more": true}).to_string().into_bytes();
        let (first, next) = next_of(&pager, base(), body);
        match next {
            Ok(Next::Request(next)) => {
                let expected = first.url.join(link.trim()).unwrap();
                prop_assert_eq!(&next.url, &expected);
                let mut guard = Guard::new(None).with_origin(&first.url);
                let admitted = guard.admit(&next, 1);
                // What AuthTransport compares before attaching credentials.
                let same = next.url.origin() == first.url.origin();
                let web = matches!(next.url.scheme(), "http" | "https");
                match (&admitted, same) {
                    (Ok(()), true) | (Err(PaginateError::CrossOrigin { .. }), false) => {}
                    // Stricter than the transport on a non-web URL sharing the
                    // origin (`blob:https://…`): refused, which is safe.
                    (Err(PaginateError::CrossOrigin { .. }), true) if !web => {}
                    _ => prop_assert!(false, "guard {:?} for {} (same origin for credentials: {}, tuple {:?})", admitted, next.url, same, tuple_origin(&next.url)),
                }
            }
            Ok(Next::End) => prop_assert!(link.trim().is_empty()),
            Err(PaginateError::BadField { .. }) => prop_assert!(first.url.join(link.trim()).is_err()),
            Err(PaginateError::NoWayForward { .. }) => prop_assert!(link.trim().is_empty() && has_more),
            other => prop_assert!(false, "unexpected {:?}", other),
        }
    }

    /// Arbitrary bodies at the next-URL pointer: never a panic.
    #[test]
    fn next_url_never_panics_on_any_body(body in body(), at in pointer()) {
        let pager = NextUrlPaginator::new(at.clone());
        let mut state = PageState::default();
        if pager.first(base(), &mut state).is_err() {
            prop_assert!(!(at.is_empty() || at.starts_with('/')));
            return Ok(());
        }
        let _ = next_of(&pager, base(), body);
    }
}
