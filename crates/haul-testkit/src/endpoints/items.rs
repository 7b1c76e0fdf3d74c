//! `GET /items?limit=&cursor=`: cursor in the body.

use super::{Call, DataPage, Hole, Misbehaviour, buffer, encode_cursor, push_array, window};
use crate::reply::ApiError;

/// `{"data":[…],"next_cursor":"c_<hex>"}`, `"next_cursor":null` on the last page.
pub(crate) fn serve(call: &Call<'_>) -> Result<DataPage, ApiError> {
    let size = call.page_size("limit")?;
    let odd = Misbehaviour::parse(call.query)?;
    let start = super::start_from_cursor(call, "cursor", &odd)?;
    odd.fail(start, size)?;
    let records = call.records();
    let (page, end) = window(records, start, size);
    let hole = odd.hole_at(call, Misbehaviour::page_number(start, size));
    let page = if hole == Some(Hole::Empty) { &[] } else { page };
    let next = odd.next(start, end, records.len(), size);

    let mut out = buffer(page, 48);
    out.push_str("{\"data\":");
    push_array(&mut out, page);
    out.push_str(",\"next_cursor\":");
    match next {
        // Cursors are `c_` plus lowercase hex: nothing to escape.
        Some(next) => {
            out.push('"');
            out.push_str(&encode_cursor(next));
            out.push('"');
        }
        None => out.push_str("null"),
    }
    out.push('}');
    Ok(DataPage {
        body: out,
        records: page.len(),
        ..DataPage::default()
    }
    .with_hole(hole))
}
