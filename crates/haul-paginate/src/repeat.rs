//! Naming the repeated value of a pagination cycle, masked, for the error.
//!
//! The guard only sees requests, so the repeated cursor is found by comparing
//! the repeated request with the one just before it: what changed between two
//! pages is the pagination value (`cursor=A`, `offset=40`, `/variables/after="c2"`).
//! This runs once, on the error path, so it may build small JSON trees.

use haul_core::Request;
use haul_core::redact::{MASK, is_sensitive_param, mask_value};
use serde_json::Value;

/// `"<what changed> (<METHOD> <masked URL>)"`; the whole URL when nothing
/// narrower can be named.
pub(crate) fn describe_repeat(previous: Option<&Request>, repeated: &Request) -> String {
    let request = format!("{} {}", repeated.method, repeated.masked_url());
    match previous.and_then(|p| changed(p, repeated)) {
        Some(what) => format!("{what} ({request})"),
        None => match &repeated.body {
            Some(body) => format!(
                "{request} with body {}",
                mask_value(&String::from_utf8_lossy(body))
            ),
            None => request,
        },
    }
}

fn changed(previous: &Request, repeated: &Request) -> Option<String> {
    let (a, b) = (&previous.url, &repeated.url);
    if a.scheme() != b.scheme() || a.host_str() != b.host_str() || a.path() != b.path() {
        return None;
    }
    let before: Vec<(String, String)> =
        a.query_pairs().map(|(k, v)| (k.into(), v.into())).collect();
    let mut parts: Vec<String> = b
        .query_pairs()
        .filter(|(k, v)| !before.iter().any(|(bk, bv)| bk == k && bv == v))
        .map(|(k, v)| format!("{k}={}", masked(&k, &v)))
        .collect();
    if previous.body != repeated.body
        && let (Some(x), Some(y)) = (&previous.body, &repeated.body)
        && let (Ok(x), Ok(y)) = (
            serde_json::from_slice::<Value>(x),
            serde_json::from_slice::<Value>(y),
        )
    {
        diff_json(&x, &y, String::new(), &mut parts);
    }
    (!parts.is_empty()).then(|| parts.join(", "))
}

fn diff_json(before: &Value, after: &Value, at: String, out: &mut Vec<String>) {
    match (before, after) {
        (Value::Object(a), Value::Object(b)) => {
            for (key, value) in b {
                let escaped = key.replace('~', "~0").replace('/', "~1");
                let path = format!("{at}/{escaped}");
                match a.get(key) {
                    Some(old) => diff_json(old, value, path, out),
                    None => out.push(leaf(&path, key, value)),
                }
            }
        }
        (a, b) if a != b => {
            let key = at.rsplit('/').next().unwrap_or_default().to_owned();
            out.push(leaf(&at, &key, b));
        }
        _ => {}
    }
}

fn leaf(path: &str, key: &str, value: &Value) -> String {
    format!("{path}={}", masked(key, &value.to_string()))
}

fn masked(key: &str, value: &str) -> String {
    if is_sensitive_param(key) {
        MASK.to_owned()
    } else {
        mask_value(value)
    }
}
