//! [`set_json_field`]: placing a value (a cursor, a page token) into a JSON request body.

use haul_core::Request;
use serde_json::{Map, Value};

use crate::PaginateError;

/// Sets the value at RFC 6901 `pointer` in the JSON body of `request`,
/// creating missing objects on the way (`/variables/after` on `{"query":"…"}`
/// adds `"variables":{"after":…}`). A request without a body gets `{}` and a
/// `Content-Type: application/json` header.
///
/// Request bodies are small templates, so this parses them into a
/// `serde_json::Value`; response bodies never are.
///
/// ```
/// use haul_core::Request;
/// let mut req = Request::post_json("https://api.example.com/search".parse()?, r#"{"query":"q"}"#);
/// haul_paginate::set_json_field(&mut req, "/page/after", serde_json::json!("c2"))?;
/// assert_eq!(req.body.as_deref(), Some(br#"{"page":{"after":"c2"},"query":"q"}"#.as_slice()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn set_json_field(
    request: &mut Request,
    pointer: &str,
    value: Value,
) -> Result<(), PaginateError> {
    let Some(rest) = pointer.strip_prefix('/') else {
        return Err(PaginateError::Config(format!(
            "body pointer {pointer:?} must start with '/'"
        )));
    };
    let mut root = match &request.body {
        Some(body) if !body.iter().all(u8::is_ascii_whitespace) => {
            serde_json::from_slice::<Value>(body)
                .map_err(|e| PaginateError::Config(format!("the request body is not JSON ({e})")))?
        }
        _ => {
            request.headers.insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/json"),
            );
            Value::Object(Map::new())
        }
    };
    let tokens: Vec<String> = rest
        .split('/')
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect();
    let mut slot = &mut root;
    for token in &tokens {
        if slot.is_null() {
            *slot = Value::Object(Map::new());
        }
        slot = match slot {
            Value::Object(map) => map.entry(token.clone()).or_insert(Value::Null),
            Value::Array(items) => {
                let len = items.len();
                token
                    .parse::<usize>()
                    .ok()
                    .and_then(|i| items.get_mut(i))
                    .ok_or_else(|| {
                        PaginateError::Config(format!(
                            "body pointer {pointer:?}: no index {token:?} in an array of {len}"
                        ))
                    })?
            }
            _ => {
                return Err(PaginateError::Config(format!(
                    "body pointer {pointer:?} goes through a scalar in the request body"
                )));
            }
        };
    }
    *slot = value;
    let bytes = serde_json::to_vec(&root)
        .map_err(|e| PaginateError::Config(format!("cannot serialize the request body: {e}")))?;
    request.body = Some(bytes.into());
    Ok(())
}
