//! `GET /next-url?limit=&skiptoken=`: OData's `@odata.nextLink`.

use super::{
    Call, DataPage, Hole, Misbehaviour, buffer, encode_cursor, json_string, push_array, window,
};
use crate::params;
use crate::reply::ApiError;

/// `{"value":[…],"@odata.nextLink":"<absolute URL>"}`, the key absent on the
/// last page. The link keeps every other query parameter; with
/// `relative=1` it is a path and query only (`/next-url?…`, as Salesforce's
/// `nextRecordsUrl`).
pub(crate) fn serve(call: &Call<'_>) -> Result<DataPage, ApiError> {
    let size = call.page_size("limit")?;
    let odd = Misbehaviour::parse(call.query)?;
    let start = super::start_from_cursor(call, "skiptoken", &odd)?;
    odd.fail(start, size)?;
    let records = call.records();
    let (page, end) = window(records, start, size);
    let hole = odd.hole_at(call, Misbehaviour::page_number(start, size));
    let page = if hole == Some(Hole::Empty) { &[] } else { page };
    let next = odd.next(start, end, records.len(), size).map(|next| {
        let url = call.url_with("skiptoken", &encode_cursor(next));
        if params::flag(call.query, "relative") {
            format!("{}?{}", url.path(), url.query().unwrap_or_default())
        } else {
            url.into()
        }
    });

    let mut out = buffer(page, 32 + next.as_ref().map_or(0, String::len));
    out.push_str("{\"value\":");
    push_array(&mut out, page);
    if let Some(next) = next {
        out.push_str(",\"@odata.nextLink\":");
        out.push_str(&json_string(&next));
    }
    out.push('}');
    Ok(DataPage {
        body: out,
        records: page.len(),
        ..DataPage::default()
    }
    .with_hole(hole))
}
