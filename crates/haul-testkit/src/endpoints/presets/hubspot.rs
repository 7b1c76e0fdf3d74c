//! HubSpot CRM v3: `{"results":[…],"paging":{"next":{"after":"…","link":"…"}}}`,
//! no `paging` on the last page, and an `after` token that arrives already
//! percent-encoded (encoding it again breaks it). Incremental reads go
//! through the search endpoint, with `hs_lastmodifieddate GTE <epoch ms>`
//! in the JSON body and a plain `after` token there too.
//! <https://developers.hubspot.com/docs/api/crm/understanding-the-crm>,
//! <https://developers.hubspot.com/docs/api/crm/search>

use serde_json::Value;

use super::{Emulation, push_rendered};
use crate::endpoints::{Call, DataPage, buffer, decode_cursor, encode_cursor, json_string, window};
use crate::params;
use crate::reply::ApiError;

/// The contacts listing.
pub(super) const PATH: &str = "/crm/v3/objects/contacts";
/// The contacts search.
pub(super) const SEARCH: &str = "/crm/v3/objects/contacts/search";

/// The `after` token for offset `offset` as HubSpot hands it out: ends in
/// `==`, percent-encoded (`c_a%3D%3D`).
fn token(offset: usize) -> String {
    format!("{}%3D%3D", encode_cursor(offset))
}

/// Reads a decoded `after` token (`c_a==`).
fn offset_of(raw: &str, len: usize) -> Result<usize, ApiError> {
    raw.strip_suffix("==")
        .and_then(|cursor| decode_cursor(cursor, len.saturating_sub(1)))
        .ok_or_else(|| ApiError::bad_request("invalid_cursor", format!("invalid after {raw:?}")))
}

/// A search body, or `{}` for the listing.
fn search_body(body: &[u8]) -> Result<Value, ApiError> {
    if body.is_empty() {
        return Ok(Value::Object(serde_json::Map::new()));
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request("invalid_request", format!("invalid JSON body: {e}")))
}

/// `hs_lastmodifieddate GTE <epoch ms>` from a search body, as Unix seconds
/// (rounded down: the filter is inclusive).
pub(super) fn since(body: &[u8]) -> Result<Option<u64>, ApiError> {
    let body = search_body(body)?;
    let filters = body
        .pointer("/filterGroups")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|group| group.get("filters").and_then(Value::as_array))
        .flatten();
    for filter in filters {
        if filter.get("propertyName").and_then(Value::as_str) != Some("hs_lastmodifieddate") {
            continue;
        }
        if filter.get("operator").and_then(Value::as_str) != Some("GTE") {
            return Err(ApiError::bad_request(
                "invalid_request",
                "only GTE filters on hs_lastmodifieddate are emulated",
            ));
        }
        let value = match filter.get("value") {
            Some(Value::String(s)) => s.parse::<u64>().ok(),
            Some(Value::Number(n)) => n.as_u64(),
            _ => None,
        };
        // HubSpot takes epoch milliseconds (seconds here would mean 1970,
        // and the whole listing would come back).
        return match value {
            Some(ms) => Ok(Some(ms / 1000)),
            None => Err(ApiError::bad_request(
                "invalid_request",
                format!("hs_lastmodifieddate must be epoch milliseconds, got {filter}"),
            )),
        };
    }
    Ok(None)
}

/// A page of the listing (`GET`, `limit` and `after` in the query) or of
/// the search (`POST`, `limit` and `after` in the body).
pub(super) fn serve(call: &Call<'_>, body: &[u8]) -> Result<DataPage, ApiError> {
    let records = call.records();
    let searching = call.path == SEARCH;
    let (size, start) = if searching {
        let body = search_body(body)?;
        let size = match body.get("limit") {
            None => call.state.default_page_size,
            Some(limit) => match limit.as_u64() {
                Some(n) => params::checked_size(n, call.state.max_page_size)?,
                None => {
                    return Err(ApiError::bad_request(
                        "invalid_limit",
                        "limit must be a number",
                    ));
                }
            },
        };
        let start = match body.get("after") {
            None | Some(Value::Null) => 0,
            // The search hands out plain tokens.
            Some(Value::String(raw)) => decode_cursor(raw, records.len().saturating_sub(1))
                .ok_or_else(|| {
                    ApiError::bad_request("invalid_cursor", format!("invalid after {raw:?}"))
                })?,
            Some(other) => {
                return Err(ApiError::bad_request(
                    "invalid_cursor",
                    format!("after must be a string, got {other}"),
                ));
            }
        };
        (size, start)
    } else {
        let size = call.page_size("limit")?;
        let start = match params::param(call.query, "after") {
            None => 0,
            Some(raw) => offset_of(&raw, records.len())?,
        };
        (size, start)
    };
    let (page, end) = window(records, start, size);
    let mut out = buffer(page, 160 + page.len() * 40);
    out.push('{');
    if searching {
        out.push_str(&format!("\"total\":{},", records.len()));
    }
    out.push_str("\"results\":");
    push_rendered(&mut out, Emulation::HubSpot, page);
    if end < records.len() {
        let after = if searching {
            encode_cursor(end)
        } else {
            token(end)
        };
        out.push_str(",\"paging\":{\"next\":{\"after\":");
        out.push_str(&json_string(&after));
        if !searching {
            // The link carries the token as a query value: encoded once more.
            let link = call.url_with("after", &format!("{}==", encode_cursor(end)));
            out.push_str(",\"link\":");
            out.push_str(&json_string(link.as_str()));
        }
        out.push_str("}}");
    }
    out.push('}');
    Ok(DataPage {
        body: out,
        records: page.len(),
        ..DataPage::default()
    })
}
