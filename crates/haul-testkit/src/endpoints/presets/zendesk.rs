//! Zendesk cursor pagination: `page[size]`, `page[after]`, and
//! `{"tickets":[…],"meta":{"has_more","after_cursor","before_cursor"},"links":{"prev","next"}}`;
//! the end is `meta.has_more: false` — while `after_cursor` and
//! `links.next` are still set. `start_time` (Unix seconds) is the
//! incremental exports' bound.
//! <https://developer.zendesk.com/api-reference/introduction/pagination/#using-cursor-pagination>,
//! <https://developer.zendesk.com/api-reference/ticketing/ticket-management/incremental_exports/>

use super::{Emulation, push_rendered};
use crate::endpoints::{Call, DataPage, buffer, decode_cursor, encode_cursor, json_string, window};
use crate::params;
use crate::reply::ApiError;

/// The tickets listing.
pub(super) const PATH: &str = "/api/v2/tickets";

/// One page after `page[after]`.
pub(super) fn serve(call: &Call<'_>) -> Result<DataPage, ApiError> {
    let size = call.page_size("page[size]")?;
    let records = call.records();
    let start = match params::param(call.query, "page[after]") {
        None => 0,
        Some(raw) => decode_cursor(&raw, records.len()).ok_or_else(|| {
            ApiError::bad_request("invalid_cursor", format!("invalid page[after] {raw:?}"))
        })?,
    };
    let (page, end) = window(records, start, size);
    let after = encode_cursor(end);
    let before = encode_cursor(start);
    // Zendesk keeps handing out a next link on the last page.
    let next = call.url_with("page[after]", &after);
    let mut out = buffer(page, 240 + next.as_str().len() * 2);
    out.push_str("{\"tickets\":");
    push_rendered(&mut out, Emulation::Zendesk, page);
    out.push_str(",\"meta\":{\"has_more\":");
    out.push_str(if end < records.len() { "true" } else { "false" });
    out.push_str(&format!(
        ",\"after_cursor\":\"{after}\",\"before_cursor\":\"{before}\"}},\"links\":{{\"prev\":"
    ));
    out.push_str(&json_string(
        call.url_with("page[before]", &before).as_str(),
    ));
    out.push_str(",\"next\":");
    out.push_str(&json_string(next.as_str()));
    out.push_str("}}");
    Ok(DataPage {
        body: out,
        records: page.len(),
        ..DataPage::default()
    })
}
