//! Hand-written clients for every pagination style, and small helpers.

use std::collections::{HashMap, HashSet};

use haul_testkit::{Dataset, FakeApi, RunningServer};
use serde_json::Value;
use serde_json::value::RawValue;

/// reqwest is built without its `json` feature.
pub(crate) async fn json(response: reqwest::Response) -> Value {
    serde_json::from_str(&response.text().await.unwrap()).unwrap()
}

pub(crate) async fn start(dataset: Dataset, page_size: usize) -> RunningServer {
    FakeApi::builder()
        .dataset(dataset)
        .default_page_size(page_size)
        .max_page_size(1000)
        .build()
        .start()
        .await
        .unwrap()
}

/// The elements of a JSON array, as their raw texts.
pub(crate) fn raw_array(json: &str) -> Vec<String> {
    let items: Vec<&RawValue> = serde_json::from_str(json).unwrap();
    items.iter().map(|r| r.get().to_owned()).collect()
}

/// The raw text of `key` in a JSON object, if present.
pub(crate) fn raw_field(json: &str, key: &str) -> Option<String> {
    let object: HashMap<&str, &RawValue> = serde_json::from_str(json).unwrap();
    object.get(key).map(|r| r.get().to_owned())
}

/// The `id` of a record text.
pub(crate) fn id_of(record: &str) -> u64 {
    serde_json::from_str::<Value>(record).unwrap()["id"]
        .as_u64()
        .unwrap()
}

/// The target of `rel` in a `Link` header of the simple form this server
/// writes (`<url>; rel="x", …`; the URLs contain no `, `).
pub(crate) fn link_target(header: &str, rel: &str) -> Option<String> {
    header.split(", ").find_map(|link| {
        let (target, params) = link.split_once(">; ")?;
        (params == format!("rel=\"{rel}\"")).then(|| target.trim_start_matches('<').to_owned())
    })
}

/// A pagination style as a client drives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Style {
    Items,
    LastRecord,
    HeaderCursor,
    NextUrl { relative: bool },
    Link,
    Offset { total: &'static str },
    Page { base: u64, total: bool },
    Graphql,
}

impl Style {
    /// Every style and variant.
    pub(crate) const ALL: [Style; 13] = [
        Style::Items,
        Style::LastRecord,
        Style::HeaderCursor,
        Style::NextUrl { relative: false },
        Style::NextUrl { relative: true },
        Style::Link,
        Style::Offset { total: "all" },
        Style::Offset { total: "first" },
        Style::Offset { total: "none" },
        Style::Page {
            base: 1,
            total: true,
        },
        Style::Page {
            base: 0,
            total: true,
        },
        Style::Page {
            base: 1,
            total: false,
        },
        Style::Graphql,
    ];

    /// The styles whose server hands out the way forward.
    pub(crate) const CURSORED: [Style; 7] = [
        Style::Items,
        Style::LastRecord,
        Style::HeaderCursor,
        Style::NextUrl { relative: false },
        Style::NextUrl { relative: true },
        Style::Link,
        Style::Graphql,
    ];

    /// Whether the end is only known from an empty page.
    pub(crate) fn ends_on_empty_page(self) -> bool {
        matches!(
            self,
            Style::Offset { total: "none" } | Style::Page { total: false, .. }
        )
    }
}

/// The outcome of walking one style to its end.
#[derive(Debug, Default)]
pub(crate) struct Walk {
    /// Records of each page fetched, raw.
    pub(crate) pages: Vec<Vec<String>>,
    /// The way forward that repeated one seen before, and the page (1-based)
    /// that handed it out.
    pub(crate) repeated: Option<(String, usize)>,
}

impl Walk {
    pub(crate) fn sizes(&self) -> Vec<usize> {
        self.pages.iter().map(Vec::len).collect()
    }

    pub(crate) fn records(&self) -> Vec<String> {
        self.pages.iter().flatten().cloned().collect()
    }
}

/// Walks `style` with page size `size` (sent explicitly) and `extra` query
/// parameters, stopping at the end, at a repeated cursor/link, or after 100
/// pages.
pub(crate) async fn walk(
    server: &RunningServer,
    client: &reqwest::Client,
    style: Style,
    size: usize,
    extra: &str,
) -> Walk {
    let mut walk = Walk::default();
    let mut seen = HashSet::new();
    // The next request: a URL, or for GraphQL, the `after` variable.
    let mut url = match style {
        Style::Items => format!("/items?limit={size}{extra}"),
        Style::LastRecord => format!("/last-record?limit={size}{extra}"),
        Style::HeaderCursor => format!("/header-cursor?limit={size}{extra}"),
        Style::NextUrl { relative } => {
            format!(
                "/next-url?limit={size}&relative={}{extra}",
                u8::from(relative)
            )
        }
        Style::Link => format!("/link?per_page={size}{extra}"),
        Style::Offset { total } => format!("/offset?limit={size}&total={total}{extra}"),
        Style::Page { base, total } => {
            let total = if total { "all" } else { "none" };
            format!("/page?page_size={size}&base={base}&total={total}{extra}")
        }
        Style::Graphql => format!("/graphql?{}", extra.trim_start_matches('&')),
    };
    let mut after: Option<String> = None;
    let (mut offset, mut page_no, mut total) = (0usize, None::<u64>, None::<u64>);
    while walk.pages.len() < 100 {
        let full = server.url(&url);
        let request = match style {
            Style::Offset { .. } => client.get(format!("{full}&offset={offset}")),
            Style::Page { base, .. } => {
                let page = page_no.unwrap_or(base);
                client.get(format!("{full}&page={page}"))
            }
            Style::Graphql => {
                let body = serde_json::json!({
                    "query": "query($first:Int,$after:String){items(first:$first,after:$after){nodes{id} pageInfo{hasNextPage endCursor}}}",
                    "variables": {"first": size, "after": after},
                });
                client
                    .post(full)
                    .header("content-type", "application/json")
                    .body(body.to_string())
            }
            _ => client.get(full),
        };
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200, "{style:?} {url}");
        assert_eq!(response.headers()["content-type"], "application/json");
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let header = |name: &str| headers.get(name).map(|v| v.to_str().unwrap().to_owned());

        let (records, next): (Vec<String>, Option<String>) = match style {
            Style::Items => {
                let records = raw_array(&raw_field(&text, "data").unwrap());
                let next: Value =
                    serde_json::from_str(&raw_field(&text, "next_cursor").unwrap()).unwrap();
                let next = next
                    .as_str()
                    .map(|c| format!("/items?limit={size}{extra}&cursor={c}"));
                (records, next)
            }
            Style::LastRecord => {
                assert_eq!(raw_field(&text, "object").as_deref(), Some("\"list\""));
                assert_eq!(raw_field(&text, "url").as_deref(), Some("\"/last-record\""));
                let records = raw_array(&raw_field(&text, "data").unwrap());
                let more = raw_field(&text, "has_more").unwrap() == "true";
                let next = more.then(|| {
                    let last = id_of(records.last().expect("has_more on an empty page"));
                    format!("/last-record?limit={size}{extra}&starting_after={last}")
                });
                (records, next)
            }
            Style::HeaderCursor => {
                let next = header("x-next-cursor")
                    .map(|c| format!("/header-cursor?limit={size}{extra}&cursor={c}"));
                (raw_array(&text), next)
            }
            Style::NextUrl { relative } => {
                let records = raw_array(&raw_field(&text, "value").unwrap());
                let next = raw_field(&text, "@odata.nextLink").map(|link| {
                    let link: String = serde_json::from_str(&link).unwrap();
                    let prefix = if relative {
                        "/next-url?".to_owned()
                    } else {
                        server.url("/next-url?").to_string()
                    };
                    assert!(link.starts_with(&prefix), "{link}");
                    // Back to a path and query, as `server.url` takes them.
                    link.trim_start_matches(server.url("/").as_str().trim_end_matches('/'))
                        .to_owned()
                });
                (records, next)
            }
            Style::Link => {
                let next = header("link")
                    .and_then(|h| link_target(&h, "next"))
                    .map(|link| {
                        assert!(link.starts_with(server.url("/link?").as_str()), "{link}");
                        link.trim_start_matches(server.url("/").as_str().trim_end_matches('/'))
                            .to_owned()
                    });
                (raw_array(&text), next)
            }
            Style::Offset { .. } => {
                let records = raw_array(&raw_field(&text, "results").unwrap());
                if let Some(t) = raw_field(&text, "total") {
                    total = Some(t.parse().unwrap());
                }
                offset += records.len();
                let done = records.is_empty() || total.is_some_and(|t| offset as u64 >= t);
                (records, (!done).then(|| url.clone()))
            }
            Style::Page { base, .. } => {
                let records = raw_array(&raw_field(&text, "items").unwrap());
                let page = page_no.unwrap_or(base);
                assert_eq!(raw_field(&text, "page"), Some(page.to_string()));
                let pages: Option<u64> =
                    raw_field(&text, "total_pages").map(|t| t.parse().unwrap());
                let done = records.is_empty() || pages.is_some_and(|t| page - base + 1 >= t);
                page_no = Some(page + 1);
                (records, (!done).then(|| url.clone()))
            }
            Style::Graphql => {
                let data = raw_field(&text, "data").unwrap();
                let items = raw_field(&data, "items").unwrap();
                let records = raw_array(&raw_field(&items, "nodes").unwrap());
                let info: Value =
                    serde_json::from_str(&raw_field(&items, "pageInfo").unwrap()).unwrap();
                let next = if info["hasNextPage"] == true {
                    let cursor = info["endCursor"].as_str().unwrap().to_owned();
                    after = Some(cursor.clone());
                    Some(cursor)
                } else {
                    None
                };
                (records, next)
            }
        };
        walk.pages.push(records);
        let Some(next) = next else {
            break;
        };
        let offsets = matches!(style, Style::Offset { .. } | Style::Page { .. });
        if !offsets && !seen.insert(next.clone()) {
            walk.repeated = Some((next, walk.pages.len()));
            break;
        }
        if style != Style::Graphql {
            url = next;
        }
    }
    walk
}
