//! The RFC 8288 `Link` parser.

use haul_core::Response;
use haul_paginate::link::{Link, find_link, parse_link_header};
use proptest::prelude::*;
use url::Url;

fn next_of(headers: &[&str]) -> Option<String> {
    let mut resp = Response::new(
        http::StatusCode::OK,
        "https://api.example.com/v1/items?page=1".parse().unwrap(),
        "[]",
    );
    for h in headers {
        resp = resp.with_header("link", h);
    }
    find_link(&resp, "next").unwrap().map(|u| u.to_string())
}

#[test]
fn several_links_in_one_header() {
    let links = parse_link_header(
        r#"<https://a.example/?page=1>; rel="prev", <https://a.example/?page=3>; rel="next",<https://a.example/?page=9>;rel=last"#,
    );
    let rels: Vec<_> = links.iter().map(|l| l.param("rel").unwrap()).collect();
    assert_eq!(rels, ["prev", "next", "last"]);
    assert_eq!(links[1].target, "https://a.example/?page=3");
}

#[test]
fn commas_and_semicolons_inside_urls_and_quoted_values_are_data() {
    let links = parse_link_header(
        r#"<https://a.example/x?f=a,b;c&g=<>; title="one, two; \"three\""; rel="next"; type=text/html"#,
    );
    // `<` inside the target is data too; `>` ends it.
    assert_eq!(links.len(), 1);
    assert_eq!(links[0].target, "https://a.example/x?f=a,b;c&g=<");
    assert_eq!(links[0].param("title"), Some(r#"one, two; "three""#));
    assert!(links[0].has_rel("next"));
    assert_eq!(links[0].param("type"), Some("text/html"));
}

#[test]
fn several_relation_types_any_case_and_first_rel_wins() {
    let links = parse_link_header(r#"<a>; REL="Next Last"; rel="prev""#);
    assert!(links[0].has_rel("next") && links[0].has_rel("last"));
    assert!(!links[0].has_rel("prev"));
    assert_eq!(links[0].rels().collect::<Vec<_>>(), ["Next", "Last"]);
}

#[test]
fn whitespace_everywhere_and_empty_elements_are_tolerated() {
    let links = parse_link_header(" ,\t< /p?q=1 > \t ;\t rel = \"next\" \t,, <b>;rel=last , ");
    assert_eq!(links.len(), 2);
    assert_eq!(links[0].target, "/p?q=1");
    assert!(links[0].has_rel("next"));
}

#[test]
fn junk_is_skipped_up_to_the_next_top_level_comma() {
    let links =
        parse_link_header(r#"garbage "with, comma", <x>; rel=next junk "q,", <y>; rel=last"#);
    let targets: Vec<_> = links.iter().map(|l| l.target.as_str()).collect();
    assert_eq!(targets, ["x", "y"]);
    assert!(links[0].has_rel("next"));
}

#[test]
fn an_unterminated_target_or_quote_yields_what_is_well_formed() {
    assert_eq!(
        parse_link_header("<https://a.example/x; rel=next"),
        Vec::<Link>::new()
    );
    let links = parse_link_header(r#"<a>; rel="next; title=x"#);
    assert_eq!(links[0].param("rel"), Some("next; title=x"));
}

#[test]
fn next_is_found_across_repeated_headers_and_resolved() {
    assert_eq!(
        next_of(&[
            r#"<https://api.example.com/v1/items?page=9>; rel="last""#,
            "<?page=2>; rel=next"
        ]),
        Some("https://api.example.com/v1/items?page=2".into())
    );
    assert_eq!(
        next_of(&["<../v2/items?page=2>; rel=\"next last\""]),
        Some("https://api.example.com/v2/items?page=2".into())
    );
    assert_eq!(next_of(&[r#"<x>; rel="prev""#]), None);
    assert_eq!(next_of(&[]), None);
}

#[test]
fn a_next_link_about_another_resource_is_ignored() {
    // RFC 8288 §3.2: `anchor` changes the link's context.
    assert_eq!(next_of(&[r##"</other>; rel=next; anchor="#frag""##]), None);
}

/// One link of a generated header, and whether it is the `next` one.
#[derive(Debug, Clone)]
struct Generated {
    target: String,
    rel: String,
    quoted_rel: bool,
    extras: Vec<(String, String, bool)>,
    rel_position: usize,
}

fn ws() -> impl Strategy<Value = &'static str> {
    prop::sample::select(&["", " ", "  ", "\t", " \t "][..])
}

fn target() -> impl Strategy<Value = String> {
    (
        prop::sample::select(
            &[
                "https://api.example.com/",
                "https://other.example:8443/x/",
                "/",
                "",
                "../",
                "?",
            ][..],
        ),
        "([a-z0-9]([a-z0-9,;=&?/._-]|%2C|%3B){0,20})?",
    )
        .prop_map(|(prefix, rest)| format!("{prefix}{rest}"))
}

fn extra() -> impl Strategy<Value = (String, String, bool)> {
    (
        prop::sample::select(&["title", "type", "hreflang", "media", "x-custom"][..]),
        "[a-zA-Z0-9 ,;=<>/\"\\\\]{0,16}",
        any::<bool>(),
    )
        .prop_map(|(name, value, quoted)| {
            if quoted {
                (name.to_owned(), value, true)
            } else {
                // An unquoted value must be a token.
                let token: String = value
                    .chars()
                    .filter(|c| c.is_ascii_alphanumeric() || *c == '/')
                    .collect();
                (
                    name.to_owned(),
                    if token.is_empty() { "t".into() } else { token },
                    false,
                )
            }
        })
}

fn link(rels: &'static [&'static str]) -> impl Strategy<Value = Generated> {
    (
        target(),
        prop::sample::select(rels),
        any::<bool>(),
        prop::collection::vec(extra(), 0..3),
        any::<prop::sample::Index>(),
    )
        .prop_map(|(target, rel, quoted, extras, pos)| {
            // A rel with a space must be quoted.
            let quoted_rel = quoted || rel.contains(' ');
            let rel_position = pos.index(extras.len() + 1);
            Generated {
                target,
                rel: rel.to_owned(),
                quoted_rel,
                extras,
                rel_position,
            }
        })
}

fn quote(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

fn render(link: &Generated, sp: &[&str]) -> String {
    let mut params: Vec<String> = link
        .extras
        .iter()
        .map(|(n, v, q)| {
            format!(
                "{n}{}={}{}",
                sp[0],
                sp[1],
                if *q { quote(v) } else { v.clone() }
            )
        })
        .collect();
    let rel = if link.quoted_rel {
        quote(&link.rel)
    } else {
        link.rel.clone()
    };
    params.insert(link.rel_position, format!("rel{}={}{rel}", sp[2], sp[3]));
    let mut out = format!("<{}>", link.target);
    for p in params {
        out.push_str(&format!("{};{}{p}", sp[4], sp[5]));
    }
    out
}

proptest! {
    #[test]
    fn link_parser_never_panics_on_arbitrary_input(text in "\\PC{0,200}") {
        let _ = parse_link_header(&text);
    }

    #[test]
    fn link_parser_never_panics_on_link_like_input(text in "[<>;,=\" \\\\a-z:/?&\t]{0,120}") {
        for link in parse_link_header(&text) {
            let _ = link.rels().count();
            let _ = link.resolve(&Url::parse("https://api.example.com/").unwrap());
        }
    }

    #[test]
    fn link_parser_finds_the_next_target_in_well_formed_headers(
        others in prop::collection::vec(link(&["prev", "last", "first", "first prev", "LAST", "alternate"]), 0..5),
        next in link(&["next", "NEXT", "Next", "next last", "last next", "prev NeXt"]),
        position in any::<prop::sample::Index>(),
        spacing in prop::collection::vec(ws(), 8),
        split in prop::collection::vec(any::<bool>(), 6),
    ) {
        let mut links = others;
        let at = position.index(links.len() + 1);
        links.insert(at, next.clone());
        let rendered: Vec<String> = links.iter().map(|l| render(l, &spacing)).collect();
        // Join into one or several header values at random boundaries.
        let mut headers = vec![String::new()];
        for (i, r) in rendered.iter().enumerate() {
            let current = headers.last_mut().unwrap();
            if !current.is_empty() {
                current.push_str(&format!("{},{}", spacing[6], spacing[7]));
            }
            current.push_str(r);
            if split[i % split.len()] && i + 1 < rendered.len() {
                headers.push(String::new());
            }
        }
        let refs: Vec<&str> = headers.iter().map(String::as_str).collect();
        let base = Url::parse("https://api.example.com/v1/items?page=1").unwrap();
        let expected = base.join(&next.target).unwrap().to_string();
        prop_assert_eq!(next_of(&refs), Some(expected), "headers: {:?}", headers);
    }
}
