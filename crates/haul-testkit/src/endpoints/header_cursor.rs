//! `GET /header-cursor?limit=&cursor=`: cursor in a response header.

use http::HeaderValue;

use super::{Call, DataPage, Hole, Misbehaviour, buffer, encode_cursor, push_array, window};
use crate::reply::ApiError;

/// The response header carrying the next cursor.
pub(crate) const NEXT_CURSOR: &str = "x-next-cursor";

/// A root JSON array; `X-Next-Cursor: c_<hex>`, absent on the last page.
pub(crate) fn serve(call: &Call<'_>) -> Result<DataPage, ApiError> {
    let size = call.page_size("limit")?;
    let odd = Misbehaviour::parse(call.query)?;
    let start = super::start_from_cursor(call, "cursor", &odd)?;
    odd.fail(start, size)?;
    let records = call.records();
    let (page, end) = window(records, start, size);
    let hole = odd.hole_at(call, Misbehaviour::page_number(start, size));
    let page = if hole == Some(Hole::Empty) { &[] } else { page };
    let mut out = buffer(page, 2);
    push_array(&mut out, page);
    let mut result = DataPage {
        body: out,
        records: page.len(),
        ..DataPage::default()
    };
    if let Some(next) = odd.next(start, end, records.len(), size)
        && let Ok(value) = HeaderValue::from_str(&encode_cursor(next))
    {
        result.headers.insert(NEXT_CURSOR, value);
    }
    Ok(result.with_hole(hole))
}
