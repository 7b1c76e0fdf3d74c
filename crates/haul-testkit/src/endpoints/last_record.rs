//! `GET /last-record?limit=&starting_after=<id>`: Stripe's list shape, where
//! the cursor is the id of the last record.

use super::{Call, DataPage, Hole, Misbehaviour, buffer, push_array, window};
use crate::params;
use crate::reply::ApiError;

/// `{"object":"list","data":[…],"has_more":bool,"url":"/last-record"}`.
///
/// Record ids are `index + 1`, so `starting_after=<id>` starts at index `id`
/// (with `updated_since`, at the first record updated since then whose id
/// is greater; any positive id is accepted).
/// The server cannot hand back a cursor here, so the switches act on data:
/// `cycle_at=k` makes page `k` serve page 1's records again with
/// `has_more: true` (the client's next `starting_after` repeats page 1's);
/// `repeat_last=1` makes the last page say `has_more: true` and
/// `starting_after=<last id>` serve the last page again.
pub(crate) fn serve(call: &Call<'_>) -> Result<DataPage, ApiError> {
    let size = call.page_size("limit")?;
    let odd = Misbehaviour::parse(call.query)?;
    let records = call.records();
    let len = records.len();
    let start = match params::param(call.query, "starting_after") {
        None => 0,
        Some(raw) => match (raw.parse::<u64>().map(params::index), call.indices) {
            // Filtered by `updated_since`: the first record after that id.
            (Ok(id), Some(indices)) if id >= 1 => indices.partition_point(|&index| index < id),
            (Ok(id), None) if (1..=len).contains(&id) => id,
            _ => {
                return Err(ApiError::bad_request(
                    "invalid_cursor",
                    format!("no record with id {raw:?}"),
                ));
            }
        },
    };
    odd.fail(start, size)?;
    let cycled = start < len && odd.cycles_at(start, size);
    let from = if cycled {
        0
    } else if odd.repeat_last && start == len {
        len.saturating_sub(size)
    } else {
        start
    };
    let (page, end) = window(records, from, size);
    let hole = odd.hole_at(call, Misbehaviour::page_number(from, size));
    let page = if hole == Some(Hole::Empty) { &[] } else { page };
    call.note_start(from);
    let has_more = end < len || cycled || (odd.repeat_last && !page.is_empty()) || odd.endless;

    let mut out = buffer(page, 80);
    out.push_str("{\"object\":\"list\",\"data\":");
    push_array(&mut out, page);
    out.push_str(",\"has_more\":");
    out.push_str(if has_more { "true" } else { "false" });
    out.push_str(",\"url\":\"/last-record\"}");
    Ok(DataPage {
        body: out,
        records: page.len(),
        ..DataPage::default()
    }
    .with_hole(hole))
}
