//! Spec templates: `{input.NAME}`, `{partition.NAME}`, `{parent.NAME}`.
//!
//! Inputs are filled when the spec is resolved; partition and parent values
//! become the library's `{NAME}` placeholders, filled per partition. Literal
//! braces are escaped on the way, so a `{` in a GraphQL query or a SOQL
//! string never turns into a placeholder by accident.

use std::collections::BTreeMap;
use std::ops::Range;

/// Where a templated value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ns {
    Input,
    Partition,
    Parent,
}

impl Ns {
    pub(crate) const NAMES: [&'static str; 3] = ["input", "partition", "parent"];

    fn parse(s: &str) -> Option<Ns> {
        match s {
            "input" => Some(Ns::Input),
            "partition" => Some(Ns::Partition),
            "parent" => Some(Ns::Parent),
            _ => None,
        }
    }
}

/// One piece of a parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Piece {
    Text(String),
    Ref {
        ns: Ns,
        name: String,
        /// Byte range of `{ns.name}` inside the string.
        at: Range<usize>,
    },
}

/// A template error: the message, its byte range inside the string, and a hint.
pub(crate) type TemplateProblem = (String, Range<usize>, Option<String>);

/// Splits `text` into literal text and references.
pub(crate) fn parse(text: &str) -> Result<Vec<Piece>, TemplateProblem> {
    let bytes = text.as_bytes();
    let mut pieces = Vec::new();
    let mut literal = String::new();
    let mut i = 0;
    let ident = |b: &u8| b.is_ascii_alphanumeric() || *b == b'_';
    while i < bytes.len() {
        let b = bytes[i];
        if (b == b'{' || b == b'}') && bytes.get(i + 1) == Some(&b) {
            literal.push(char::from(b));
            i += 2;
            continue;
        }
        if b == b'{' {
            let ns_len = bytes[i + 1..].iter().take_while(|b| ident(b)).count();
            let after_ns = i + 1 + ns_len;
            if ns_len > 0 && bytes.get(after_ns) == Some(&b'.') {
                let name_len = bytes[after_ns + 1..]
                    .iter()
                    .take_while(|b| ident(b))
                    .count();
                let close = after_ns + 1 + name_len;
                if name_len > 0 && bytes.get(close) == Some(&b'}') {
                    let ns_text = &text[i + 1..after_ns];
                    let name = &text[after_ns + 1..close];
                    let at = i..close + 1;
                    let Some(ns) = Ns::parse(ns_text) else {
                        let hint = crate::diag::did_you_mean(ns_text, Ns::NAMES)
                            .map(|n| format!("did you mean `{{{n}.{name}}}`?"));
                        return Err((
                            format!(
                                "unknown template namespace `{ns_text}` in `{{{ns_text}.{name}}}`: use `input`, `partition` or `parent`"
                            ),
                            at,
                            hint,
                        ));
                    };
                    if !literal.is_empty() {
                        pieces.push(Piece::Text(std::mem::take(&mut literal)));
                    }
                    pieces.push(Piece::Ref {
                        ns,
                        name: name.to_owned(),
                        at,
                    });
                    i = close + 1;
                    continue;
                }
            }
            if ns_len > 0 && bytes.get(after_ns) == Some(&b'}') {
                let name = &text[i + 1..after_ns];
                return Err((
                    format!("`{{{name}}}` names no namespace"),
                    i..after_ns + 1,
                    Some(format!(
                        "write `{{partition.{name}}}`, `{{parent.{name}}}` or `{{input.{name}}}` (or `{{{{{name}}}}}` for literal braces)"
                    )),
                ));
            }
        }
        // Any other byte is literal; push whole UTF-8 characters.
        let ch_len = text[i..].chars().next().map_or(1, char::len_utf8);
        literal.push_str(&text[i..i + ch_len]);
        i += ch_len;
    }
    if !literal.is_empty() {
        pieces.push(Piece::Text(literal));
    }
    Ok(pieces)
}

/// Escapes braces for the library's template syntax.
pub(crate) fn escape(text: &str) -> String {
    text.replace('{', "{{").replace('}', "}}")
}

/// The library template for `pieces`: inputs filled from `inputs`,
/// partition and parent values as `{NAME}`, literal braces escaped.
/// With `raw`, no escaping at all (a plain string, no placeholders allowed).
pub(crate) fn render(pieces: &[Piece], inputs: &BTreeMap<String, String>, raw: bool) -> String {
    let mut out = String::new();
    for piece in pieces {
        match piece {
            Piece::Text(t) if raw => out.push_str(t),
            Piece::Text(t) => out.push_str(&escape(t)),
            Piece::Ref {
                ns: Ns::Input,
                name,
                ..
            } => {
                let value = inputs.get(name).map_or("", String::as_str);
                if raw {
                    out.push_str(value);
                } else {
                    out.push_str(&escape(value));
                }
            }
            Piece::Ref { name, .. } => {
                out.push('{');
                out.push_str(name);
                out.push('}');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_references_and_keeps_other_braces_literal() {
        let pieces = parse("/repos/{partition.org}/x?q={ a }&b={{c}}{input.tok}").unwrap();
        let inputs = BTreeMap::from([("tok".to_owned(), "v{".to_owned())]);
        assert_eq!(
            render(&pieces, &inputs, false),
            "/repos/{org}/x?q={{ a }}&b={{c}}v{{"
        );
        assert_eq!(
            render(&pieces, &inputs, true),
            "/repos/{org}/x?q={ a }&b={c}v{"
        );
    }

    #[test]
    fn refuses_unknown_namespaces_and_bare_names() {
        let (msg, at, hint) = parse("x{partiton.org}").unwrap_err();
        assert!(msg.contains("partiton"));
        assert_eq!(at, 1..15);
        assert_eq!(hint.as_deref(), Some("did you mean `{partition.org}`?"));
        assert!(parse("{org}").is_err());
    }
}
