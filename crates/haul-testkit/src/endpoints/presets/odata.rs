//! OData v4 as Microsoft Graph serves it: `$top`, then follow
//! `@odata.nextLink` (absolute, with a `$skiptoken`); records in `value`;
//! the end is a page without `@odata.nextLink`. The incremental bound is a
//! `$filter` expression: `lastModifiedDateTime ge <RFC 3339>`.
//! <https://learn.microsoft.com/en-us/graph/paging>,
//! <https://docs.oasis-open.org/odata/odata/v4.01/odata-v4.01-part1-protocol.html#sec_ServerDrivenPaging>

use super::{Emulation, push_rendered};
use crate::endpoints::{Call, DataPage, buffer, encode_cursor, json_string, window};
use crate::instant::parse_instant;
use crate::params;
use crate::reply::ApiError;

/// The users collection.
pub(super) const PATH: &str = "/v1.0/users";

/// The `lastModifiedDateTime ge …` bound of `$filter`.
pub(super) fn since(query: Option<&str>) -> Result<Option<u64>, ApiError> {
    let Some(filter) = params::param(query, "$filter") else {
        return Ok(None);
    };
    let words: Vec<&str> = filter.split_whitespace().collect();
    match words.as_slice() {
        ["lastModifiedDateTime", "ge", literal] => parse_instant(literal)
            .filter(|_| literal.contains('T'))
            .map(Some)
            .ok_or_else(|| {
                ApiError::bad_request(
                    "BadRequest",
                    format!("Invalid filter clause: {literal:?} is not a DateTimeOffset"),
                )
            }),
        _ => Err(ApiError::bad_request(
            "BadRequest",
            format!("Unsupported filter: {filter:?}"),
        )),
    }
}

/// One page at `$skiptoken`.
pub(super) fn serve(call: &Call<'_>) -> Result<DataPage, ApiError> {
    let size = call.page_size("$top")?;
    let start = super::super::start_from_cursor(
        call,
        "$skiptoken",
        &super::super::Misbehaviour::default(),
    )?;
    let records = call.records();
    let (page, end) = window(records, start, size);
    let mut context = call.state.link_base.clone();
    context.set_path("/v1.0/$metadata");
    context.set_query(None);
    let mut out = buffer(page, 200);
    out.push_str("{\"@odata.context\":");
    out.push_str(&json_string(&format!("{context}#users")));
    out.push_str(",\"value\":");
    push_rendered(&mut out, Emulation::OData, page);
    if end < records.len() {
        out.push_str(",\"@odata.nextLink\":");
        out.push_str(&json_string(
            call.url_with("$skiptoken", &encode_cursor(end)).as_str(),
        ));
    }
    out.push('}');
    Ok(DataPage {
        body: out,
        records: page.len(),
        ..DataPage::default()
    })
}
