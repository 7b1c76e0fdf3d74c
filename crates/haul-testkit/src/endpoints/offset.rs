//! `GET /offset?offset=&limit=`: offset pagination with an optional total.

use super::{Call, DataPage, buffer, push_array, window};
use crate::params;
use crate::reply::ApiError;

/// `{"results":[…],"total":N}`. `total=first` sends `total` only with
/// `offset=0`; `total=none` never does (the end is an empty page). An offset
/// past the end is an empty page.
pub(crate) fn serve(call: &Call<'_>) -> Result<DataPage, ApiError> {
    let size = call.page_size("limit")?;
    let start = params::optional_u64(call.query, "offset")?.map_or(0, params::index);
    let total = match params::param(call.query, "total").as_deref() {
        None | Some("all") => true,
        Some("first") => start == 0,
        Some("none") => false,
        Some(other) => {
            return Err(ApiError::bad_request(
                "invalid_parameter",
                format!("total must be all, first or none, got {other:?}"),
            ));
        }
    };
    let records = call.records();
    let (page, _) = window(records, start, size);

    let mut out = buffer(page, 40);
    out.push_str("{\"results\":");
    push_array(&mut out, page);
    if total {
        out.push_str(",\"total\":");
        out.push_str(&records.len().to_string());
    }
    out.push('}');
    Ok(DataPage {
        body: out,
        records: page.len(),
        ..DataPage::default()
    })
}
