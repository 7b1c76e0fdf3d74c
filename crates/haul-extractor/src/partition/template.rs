//! [`RequestTemplate`]: a request whose path, query, headers and JSON body
//! name partition values as `{name}`.

use std::collections::{BTreeMap, BTreeSet};

use haul_core::Request;
use http::{HeaderName, HeaderValue, Method};

/// A template that cannot be built or filled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TemplateError {
    /// The template names a value the stream's partitions do not have.
    #[error(
        "the template {template:?} names {{{name}}}, but the partitions only have {available:?}"
    )]
    UnknownValue {
        /// The value named.
        name: String,
        /// The template text.
        template: String,
        /// The names the partitions have.
        available: Vec<String>,
    },
    /// The template itself is malformed.
    #[error("invalid template {template:?}: {reason}")]
    Invalid {
        /// The template text.
        template: String,
        /// What is wrong.
        reason: String,
    },
    /// A value cannot go where the template puts it.
    #[error("value {name:?} = {value:?} cannot fill {template:?}: {reason}")]
    BadValue {
        /// The value name.
        name: String,
        /// The value.
        value: String,
        /// The template text.
        template: String,
        /// Why.
        reason: String,
    },
}

/// A request with `{name}` placeholders filled from a partition's values:
///
/// - in the URL path, each value is percent-encoded as one path segment
///   (`/` included; an empty value, `.` or `..` is refused rather than
///   sending `/repos//issues`);
/// - in query parameters and headers, the value is used as is (query values
///   are form-encoded on the way out);
/// - in a JSON body, a string that is exactly `"{name}"` becomes the value as
///   a JSON string, and placeholders inside longer strings are replaced.
///
/// `{{` and `}}` are literal braces; a brace not around a name (a GraphQL
/// selection set) is literal too. Scheme and host cannot be templated.
/// [`check`](Self::check) refuses, before any request, a template naming a
/// value the partitions do not have.
///
/// ```
/// use haul_extractor::{Partition, RequestTemplate};
/// let template = RequestTemplate::get("https://api.example.com/repos/{owner}/{repo}/issues")
///     .query("since", "{start}")
///     .header("X-Org", "{owner}");
/// let p = Partition::new([("owner", "a b"), ("repo", "x/y"), ("start", "2026-01-01T00:00:00Z")]);
/// let request = template.render(p.values())?;
/// assert_eq!(
///     request.url.as_str(),
///     "https://api.example.com/repos/a%20b/x%2Fy/issues?since=2026-01-01T00%3A00%3A00Z"
/// );
/// assert_eq!(request.headers["x-org"], "a b");
/// let names = ["owner".to_string()].into_iter().collect();
/// assert!(template.check(&names).is_err()); // {repo} and {start} are unknown
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct RequestTemplate {
    method: Method,
    url: String,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    body: Option<serde_json::Value>,
}

impl RequestTemplate {
    /// A `GET` of `url` (absolute, placeholders in the path or query).
    pub fn get(url: impl Into<String>) -> Self {
        Self {
            method: Method::GET,
            url: url.into(),
            query: Vec::new(),
            headers: Vec::new(),
            body: None,
        }
    }

    /// A `POST` of a JSON body (GraphQL variables, search APIs).
    pub fn post_json(url: impl Into<String>, body: serde_json::Value) -> Self {
        Self {
            method: Method::POST,
            body: Some(body),
            ..Self::get(url)
        }
    }

    /// Adds query parameter `name` with a templated value.
    pub fn query(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.query.push((name.into(), value.into()));
        self
    }

    /// Adds header `name` with a templated value.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Every value name the template uses, or why the template is malformed.
    pub fn names(&self) -> Result<BTreeSet<String>, TemplateError> {
        let mut names = BTreeSet::new();
        let (prefix, _) = split_origin(&self.url)?;
        if !parse(prefix)?.names().is_empty() {
            return Err(TemplateError::Invalid {
                template: self.url.clone(),
                reason: "the scheme and host cannot be templated".into(),
            });
        }
        for text in self.texts() {
            names.extend(parse(text)?.names().into_iter().map(str::to_owned));
        }
        for (name, _) in &self.headers {
            HeaderName::try_from(name.as_str()).map_err(|e| TemplateError::Invalid {
                template: name.clone(),
                reason: e.to_string(),
            })?;
        }
        Ok(names)
    }

    /// Checks that every name the template uses is in `available`.
    pub fn check(&self, available: &BTreeSet<String>) -> Result<(), TemplateError> {
        for name in self.names()? {
            if !available.contains(&name) {
                let template = self
                    .texts()
                    .find(|t| t.contains(&format!("{{{name}}}")))
                    .unwrap_or(&self.url)
                    .to_owned();
                return Err(TemplateError::UnknownValue {
                    name,
                    template,
                    available: available.iter().cloned().collect(),
                });
            }
        }
        Ok(())
    }

    /// Every text that may hold placeholders.
    fn texts(&self) -> impl Iterator<Item = &str> {
        let mut body = Vec::new();
        if let Some(b) = &self.body {
            strings(b, &mut body);
        }
        std::iter::once(self.url.as_str())
            .chain(self.query.iter().map(|(_, v)| v.as_str()))
            .chain(self.headers.iter().map(|(_, v)| v.as_str()))
            .chain(body)
    }

    /// The request for a partition with these values.
    pub fn render(&self, values: &BTreeMap<String, String>) -> Result<Request, TemplateError> {
        let (origin, rest) = split_origin(&self.url)?;
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let mut url = String::from(origin);
        url.push_str(&parse(path)?.fill(values, path, Place::PathSegment)?);
        if !query.is_empty() {
            url.push('?');
            url.push_str(&parse(query)?.fill(values, query, Place::QueryComponent)?);
        }
        let url = url::Url::parse(&url).map_err(|e| TemplateError::Invalid {
            template: self.url.clone(),
            reason: e.to_string(),
        })?;
        let mut request = Request::new(self.method.clone(), url);
        for (name, value) in &self.query {
            let value = parse(value)?.fill(values, value, Place::Raw)?;
            request.set_query(name, &value);
        }
        for (name, template) in &self.headers {
            let value = parse(template)?.fill(values, template, Place::Raw)?;
            let name = HeaderName::try_from(name.as_str()).map_err(|e| TemplateError::Invalid {
                template: name.clone(),
                reason: e.to_string(),
            })?;
            let value = HeaderValue::from_str(&value).map_err(|e| TemplateError::BadValue {
                name: name.to_string(),
                value: value.clone(),
                template: template.clone(),
                reason: e.to_string(),
            })?;
            request.headers.append(name, value);
        }
        if let Some(body) = &self.body {
            let filled = fill_json(body, values)?;
            request.body = Some(bytes::Bytes::from(filled.to_string()));
            request.headers.insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
        }
        Ok(request)
    }
}

/// `https://host:port` and the rest of the URL (starting with `/`, or empty).
fn split_origin(url: &str) -> Result<(&str, &str), TemplateError> {
    let invalid = |reason: &str| TemplateError::Invalid {
        template: url.to_owned(),
        reason: reason.to_owned(),
    };
    let after_scheme = url
        .find("://")
        .ok_or_else(|| invalid("the URL must be absolute"))?
        + 3;
    let end = url[after_scheme..]
        .find(['/', '?'])
        .map_or(url.len(), |i| after_scheme + i);
    Ok(url.split_at(end))
}

fn strings<'a>(value: &'a serde_json::Value, out: &mut Vec<&'a str>) {
    match value {
        serde_json::Value::String(s) => out.push(s),
        serde_json::Value::Array(items) => items.iter().for_each(|v| strings(v, out)),
        serde_json::Value::Object(map) => map.values().for_each(|v| strings(v, out)),
        _ => {}
    }
}

fn fill_json(
    value: &serde_json::Value,
    values: &BTreeMap<String, String>,
) -> Result<serde_json::Value, TemplateError> {
    use serde_json::Value;
    Ok(match value {
        Value::String(s) => Value::String(parse(s)?.fill(values, s, Place::Raw)?),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| fill_json(v, values))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| Ok((k.clone(), fill_json(v, values)?)))
                .collect::<Result<_, TemplateError>>()?,
        ),
        other => other.clone(),
    })
}

/// Where a value goes, which decides how it is encoded.
#[derive(Debug, Clone, Copy)]
enum Place {
    PathSegment,
    QueryComponent,
    Raw,
}

#[derive(Debug)]
enum Piece<'a> {
    Text(&'a str),
    Name(&'a str),
}

#[derive(Debug)]
struct Parsed<'a>(Vec<Piece<'a>>);

impl<'a> Parsed<'a> {
    fn names(&self) -> Vec<&'a str> {
        self.0
            .iter()
            .filter_map(|p| match p {
                Piece::Name(n) => Some(*n),
                Piece::Text(_) => None,
            })
            .collect()
    }

    fn fill(
        &self,
        values: &BTreeMap<String, String>,
        template: &str,
        place: Place,
    ) -> Result<String, TemplateError> {
        let mut out = String::new();
        for piece in &self.0 {
            match piece {
                Piece::Text(t) => out.push_str(t),
                Piece::Name(name) => {
                    let value = values
                        .get(*name)
                        .ok_or_else(|| TemplateError::UnknownValue {
                            name: (*name).to_owned(),
                            template: template.to_owned(),
                            available: values.keys().cloned().collect(),
                        })?;
                    let bad = |reason: &str| TemplateError::BadValue {
                        name: (*name).to_owned(),
                        value: value.clone(),
                        template: template.to_owned(),
                        reason: reason.to_owned(),
                    };
                    match place {
                        Place::PathSegment => {
                            if value.is_empty() || value == "." || value == ".." {
                                return Err(bad("a path segment cannot be empty, `.` or `..`"));
                            }
                            encode(&mut out, value, b"-._~");
                        }
                        Place::QueryComponent => encode(&mut out, value, b"-._~"),
                        Place::Raw => out.push_str(value),
                    }
                }
            }
        }
        Ok(out)
    }
}

fn encode(out: &mut String, value: &str, keep: &[u8]) {
    use std::fmt::Write;
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || keep.contains(&b) {
            out.push(char::from(b));
        } else {
            // Writing to a String cannot fail.
            let _ = write!(out, "%{b:02X}");
        }
    }
}

/// Splits `{name}` placeholders (names of ASCII letters, digits and `_`,
/// not starting with a digit) from literal text; `{{` and `}}` are braces.
fn parse(text: &str) -> Result<Parsed<'_>, TemplateError> {
    let mut pieces = Vec::new();
    let mut literal_from = 0;
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'{' | b'}' if bytes.get(i + 1) == Some(&bytes[i]) => {
                // Keep one brace of the pair as text.
                pieces.push(Piece::Text(&text[literal_from..=i]));
                i += 2;
                literal_from = i;
            }
            b'{' => {
                let name_len = bytes[i + 1..]
                    .iter()
                    .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_')
                    .count();
                let closes = bytes.get(i + 1 + name_len) == Some(&b'}');
                if name_len > 0 && closes && !bytes[i + 1].is_ascii_digit() {
                    pieces.push(Piece::Text(&text[literal_from..i]));
                    pieces.push(Piece::Name(&text[i + 1..i + 1 + name_len]));
                    i += name_len + 2;
                    literal_from = i;
                } else {
                    i += 1;
                }
            }
            _ => i += 1,
        }
    }
    pieces.push(Piece::Text(&text[literal_from..]));
    Ok(Parsed(pieces))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vals(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn a_missing_value_is_refused_before_any_request() {
        let t = RequestTemplate::get("http://h/repos/{owner}/{repo}/issues");
        let err = t.check(&["owner".to_owned()].into()).unwrap_err();
        assert!(
            matches!(&err, TemplateError::UnknownValue { name, .. } if name == "repo"),
            "{err}"
        );
        assert!(t.render(&vals(&[("owner", "o")])).is_err());
        let err = t
            .render(&vals(&[("owner", "o"), ("repo", "")]))
            .unwrap_err();
        assert!(matches!(err, TemplateError::BadValue { .. }));
        let err = t
            .render(&vals(&[("owner", "o"), ("repo", "..")]))
            .unwrap_err();
        assert!(matches!(err, TemplateError::BadValue { .. }));
    }

    #[test]
    fn host_cannot_be_templated_and_graphql_braces_are_text() {
        let t = RequestTemplate::get("http://{tenant}.example.com/x");
        assert!(matches!(t.names(), Err(TemplateError::Invalid { .. })));
        let body = serde_json::json!({
            "query": "query($org: String!) { org(login: $org) { repos { id } } }",
            "variables": {"org": "{org}", "label": "org {org} {{literal}}"}
        });
        let t = RequestTemplate::post_json("http://h/graphql", body);
        assert_eq!(t.names().unwrap(), BTreeSet::from(["org".to_owned()]));
        let req = t.render(&vals(&[("org", "ac\"me")])).unwrap();
        let sent: serde_json::Value = serde_json::from_slice(req.body.as_deref().unwrap()).unwrap();
        assert_eq!(sent["variables"]["org"], "ac\"me");
        assert_eq!(sent["variables"]["label"], "org ac\"me {literal}");
        assert_eq!(
            sent["query"],
            "query($org: String!) { org(login: $org) { repos { id } } }"
        );
    }

    #[test]
    fn query_in_the_url_and_soql_in_a_parameter() {
        let t = RequestTemplate::get("http://h/q?since={start}").query(
            "q",
            "SELECT Id FROM Account WHERE SystemModstamp >= {start}",
        );
        let req = t
            .render(&vals(&[("start", "2026-01-01T00:00:00Z")]))
            .unwrap();
        assert_eq!(req.query("since").as_deref(), Some("2026-01-01T00:00:00Z"));
        assert_eq!(
            req.query("q").as_deref(),
            Some("SELECT Id FROM Account WHERE SystemModstamp >= 2026-01-01T00:00:00Z")
        );
    }
}
