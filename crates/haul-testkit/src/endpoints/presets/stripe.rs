//! Stripe: `{"object":"list","data":[…],"has_more":bool,"url":…}`, the
//! next page `starting_after=<id of the last record>`, and `created[gte]`
//! in Unix seconds. <https://docs.stripe.com/api/pagination>

use super::{Emulation, push_rendered};
use crate::endpoints::{Call, DataPage, buffer, window};
use crate::params;
use crate::reply::ApiError;

/// The customers listing.
pub(super) const PATH: &str = "/v1/customers";

/// One page after `starting_after` (an id; ids are `index + 1`).
pub(super) fn serve(call: &Call<'_>) -> Result<DataPage, ApiError> {
    let size = call.page_size("limit")?;
    let records = call.records();
    let start = match params::param(call.query, "starting_after") {
        None => 0,
        Some(raw) => match raw.parse::<u64>().map(params::index) {
            Ok(id) if id >= 1 => match call.indices {
                Some(indices) => indices.partition_point(|&index| index < id),
                None if id <= records.len() => id,
                None => return Err(unknown(&raw)),
            },
            _ => return Err(unknown(&raw)),
        },
    };
    let (page, end) = window(records, start, size);
    let mut out = buffer(page, 80 + page.len() * 48);
    out.push_str("{\"object\":\"list\",\"data\":");
    push_rendered(&mut out, Emulation::Stripe, page);
    out.push_str(",\"has_more\":");
    out.push_str(if end < records.len() { "true" } else { "false" });
    out.push_str(",\"url\":\"/v1/customers\"}");
    Ok(DataPage {
        body: out,
        records: page.len(),
        ..DataPage::default()
    })
}

fn unknown(raw: &str) -> ApiError {
    ApiError::bad_request("invalid_cursor", format!("No such customer: {raw:?}"))
}
