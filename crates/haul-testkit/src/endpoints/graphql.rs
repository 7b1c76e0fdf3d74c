//! `POST /graphql`: GraphQL Relay connections, the cursor a query variable.

use serde::Deserialize;

use super::{
    Call, DataPage, Hole, Misbehaviour, buffer, decode_cursor, encode_cursor, push_array, window,
};
use crate::params;
use crate::reply::ApiError;

/// The request body; the query text itself is not parsed.
#[derive(Debug, Deserialize)]
struct GraphqlRequest {
    #[serde(default)]
    variables: Option<Variables>,
}

#[derive(Debug, Default, Deserialize)]
struct Variables {
    first: Option<u64>,
    after: Option<String>,
}

/// Answers `{"query":"…","variables":{"first":N,"after":"<cursor>"|null}}`
/// with `{"data":{"items":{"nodes":[…],"pageInfo":{"hasNextPage":bool,
/// "endCursor":"c_<hex>"|null}}}}`. `endCursor` is the cursor after the last
/// node (null on an empty page); the switches come from the URL's query.
pub(crate) fn serve(call: &Call<'_>, body: &[u8]) -> Result<DataPage, ApiError> {
    let request: GraphqlRequest = serde_json::from_slice(body).map_err(|err| {
        ApiError::bad_request("invalid_request", format!("bad GraphQL request: {err}"))
    })?;
    let variables = request.variables.unwrap_or_default();
    let size = match variables.first {
        None => call.state.default_page_size,
        Some(first) => params::checked_size(first, call.state.max_page_size)?,
    };
    let odd = Misbehaviour::parse(call.query)?;
    let records = call.records();
    let start = match variables.after {
        None => 0,
        Some(after) => decode_cursor(
            &after,
            if odd.endless {
                usize::MAX
            } else {
                records.len()
            },
        )
        .ok_or_else(|| {
            ApiError::bad_request("invalid_cursor", format!("unknown cursor {after:?}"))
        })?,
    };
    odd.fail(start, size)?;
    call.note_start(start);
    let (page, end) = window(records, start, size);
    let hole = odd.hole_at(call, Misbehaviour::page_number(start, size));
    let page = if hole == Some(Hole::Empty) { &[] } else { page };
    let next = odd.next(start, end, records.len(), size);
    let end_cursor = match next {
        Some(next) => Some(next),
        None => (!page.is_empty()).then_some(end),
    };

    let mut out = buffer(page, 96);
    out.push_str("{\"data\":{\"items\":{\"nodes\":");
    push_array(&mut out, page);
    out.push_str(",\"pageInfo\":{\"hasNextPage\":");
    out.push_str(if next.is_some() { "true" } else { "false" });
    out.push_str(",\"endCursor\":");
    match end_cursor {
        Some(offset) => {
            out.push('"');
            out.push_str(&encode_cursor(offset));
            out.push('"');
        }
        None => out.push_str("null"),
    }
    out.push_str("}}}}");
    Ok(DataPage {
        body: out,
        records: page.len(),
        ..DataPage::default()
    }
    .with_hole(hole))
}
