//! An RFC 8288 `Link` header parser.
//!
//! ```text
//! Link       = #link-value
//! link-value = "<" URI-Reference ">" *( OWS ";" OWS link-param )
//! link-param = token BWS [ "=" BWS ( token / quoted-string ) ]
//! ```
//!
//! The parser walks the header once, byte by byte, and never splits on
//! commas: a comma or semicolon inside `<…>` or inside a quoted parameter is
//! data. Malformed parts are skipped up to the next top-level comma, so
//! arbitrary input yields the well-formed links it contains and never panics.

use haul_core::Response;
use url::Url;

use crate::PaginateError;
use crate::signals::bad_field;

/// One link of a `Link` header: a target and its parameters.
///
/// ```
/// use haul_paginate::link::parse_link_header;
/// let links = parse_link_header(r#"<https://api.example.com/items?page=2&q=a,b>; rel="next last"; title="x, y""#);
/// assert_eq!(links.len(), 1);
/// assert_eq!(links[0].target, "https://api.example.com/items?page=2&q=a,b");
/// assert!(links[0].has_rel("next") && links[0].has_rel("LAST"));
/// assert_eq!(links[0].param("title"), Some("x, y"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// The URI reference between `<` and `>`, as written (possibly relative).
    pub target: String,
    /// Parameters in order; names lowercased, quoted values unescaped.
    pub params: Vec<(String, String)>,
}

impl Link {
    /// The first value of parameter `name` (case-insensitive).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The relation types of the first `rel` parameter (later ones are
    /// ignored, as RFC 8288 §3.3 requires).
    pub fn rels(&self) -> impl Iterator<Item = &str> {
        self.param("rel")
            .unwrap_or_default()
            .split_ascii_whitespace()
    }

    /// Whether `rel` is one of the relation types (compared case-insensitively).
    pub fn has_rel(&self, rel: &str) -> bool {
        self.rels().any(|r| r.eq_ignore_ascii_case(rel))
    }

    /// The target resolved against `base` per RFC 3986.
    pub fn resolve(&self, base: &Url) -> Result<Url, url::ParseError> {
        base.join(self.target.trim())
    }
}

/// Parses one `Link` header value into its links, in order.
pub fn parse_link_header(value: &str) -> Vec<Link> {
    let mut parser = Parser {
        text: value,
        bytes: value.as_bytes(),
        at: 0,
    };
    let mut links = Vec::new();
    while let Some(link) = parser.link_value() {
        links.extend(link);
    }
    links
}

/// The target of the first link with relation `rel` (e.g. `next`) across
/// every `Link` header of `response`, in order, resolved against the URL that
/// answered. Links with an `anchor` parameter describe another resource and
/// are skipped.
///
/// ```
/// use haul_core::Response;
/// let resp = Response::new(http::StatusCode::OK, "https://api.example.com/items?page=1".parse()?, "[]")
///     .with_header("link", r#"<https://api.example.com/items?page=9>; rel="last""#)
///     .with_header("link", r#"</items?page=2>; REL=Next"#);
/// let next = haul_paginate::link::find_link(&resp, "next")?.unwrap();
/// assert_eq!(next.as_str(), "https://api.example.com/items?page=2");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn find_link(response: &Response, rel: &str) -> Result<Option<Url>, PaginateError> {
    for value in response.headers.get_all(http::header::LINK) {
        let text = String::from_utf8_lossy(value.as_bytes());
        let found = parse_link_header(&text)
            .into_iter()
            .find(|l| l.has_rel(rel) && l.param("anchor").is_none());
        if let Some(link) = found {
            return link.resolve(&response.url).map(Some).map_err(|e| {
                bad_field(
                    response,
                    "Link header",
                    format!("rel=\"{rel}\" target is not a URI reference ({e})"),
                )
            });
        }
    }
    Ok(None)
}

struct Parser<'a> {
    text: &'a str,
    bytes: &'a [u8],
    at: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\r' | b'\n')) {
            self.at += 1;
        }
    }

    /// The next link-value: `None` at the end of input, `Some(None)` for a
    /// malformed element that was skipped.
    fn link_value(&mut self) -> Option<Option<Link>> {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\r' | b'\n' | b',')) {
            self.at += 1;
        }
        if self.peek()? != b'<' {
            self.skip_element();
            return Some(None);
        }
        let start = self.at + 1;
        let Some(len) = self.bytes[start..].iter().position(|&b| b == b'>') else {
            self.at = self.bytes.len();
            return Some(None);
        };
        let target = self.text[start..start + len].trim().to_owned();
        self.at = start + len + 1;
        let mut params = Vec::new();
        loop {
            self.skip_ws();
            match self.peek() {
                None | Some(b',') => break,
                Some(b';') => {
                    self.at += 1;
                    if let Some(param) = self.param() {
                        params.push(param);
                    }
                }
                Some(_) => {
                    // Junk after the target or a parameter: drop it, keep the link.
                    self.skip_element();
                    break;
                }
            }
        }
        Some(Some(Link { target, params }))
    }

    fn param(&mut self) -> Option<(String, String)> {
        self.skip_ws();
        let name = self.token(true);
        self.skip_ws();
        let mut value = String::new();
        if self.peek() == Some(b'=') {
            self.at += 1;
            self.skip_ws();
            value = if self.peek() == Some(b'"') {
                self.quoted()
            } else {
                self.token(false)
            };
        }
        (!name.is_empty()).then(|| (name.to_ascii_lowercase(), value))
    }

    /// A token, or leniently an unquoted value (which may contain `=`): up
    /// to a delimiter or whitespace.
    fn token(&mut self, is_name: bool) -> String {
        let start = self.at;
        while let Some(b) = self.peek() {
            let stop = matches!(b, b';' | b',' | b'"' | b' ' | b'\t' | b'\r' | b'\n')
                || (is_name && b == b'=');
            if stop {
                break;
            }
            self.at += 1;
        }
        self.text[start..self.at].to_owned()
    }

    /// A quoted-string starting at `"`, unescaping `\x`. An unterminated
    /// string runs to the end of input.
    fn quoted(&mut self) -> String {
        self.at += 1;
        let mut out = Vec::new();
        while let Some(b) = self.peek() {
            self.at += 1;
            match b {
                b'"' => break,
                b'\\' => {
                    if let Some(escaped) = self.peek() {
                        out.push(escaped);
                        self.at += 1;
                    }
                }
                other => out.push(other),
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Skips to the next comma outside `<…>` and quotes.
    fn skip_element(&mut self) {
        let (mut quoted, mut angled) = (false, false);
        while let Some(b) = self.peek() {
            match b {
                b'\\' if quoted => self.at += 1,
                b'"' if !angled => quoted = !quoted,
                b'<' if !quoted => angled = true,
                b'>' if !quoted => angled = false,
                b',' if !quoted && !angled => return,
                _ => {}
            }
            self.at += 1;
        }
    }
}
