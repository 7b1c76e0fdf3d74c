//! `GET /offset?offset=&limit=`: offset pagination with an optional total.

use http::StatusCode;

use super::{Call, DataPage, Hole, Misbehaviour, buffer, push_array, window};
use crate::params;
use crate::reply::ApiError;

/// `{"results":[…],"total":N}`. `total=first` sends `total` only with
/// `offset=0`; `total=none` never does (the end is an empty page). An offset
/// past the end is an empty page, or with `past_end=404` a `404` (as Django
/// REST framework answers). `no_content_at`, `empty_at` and `once` apply,
/// page numbers counting windows of the served size.
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
    let odd = Misbehaviour::parse(call.query)?;
    let records = call.records();
    call.note_start(start);
    if start > 0 && start >= records.len() && past_end_404(call)? {
        return Err(invalid_page());
    }
    let (page, _) = window(records, start, size);
    let hole = odd.hole_at(call, Misbehaviour::page_number(start, size));
    let page = if hole == Some(Hole::Empty) { &[] } else { page };

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
    }
    .with_hole(hole))
}

/// Whether `past_end=404` is set (anything else is a 400).
pub(crate) fn past_end_404(call: &Call<'_>) -> Result<bool, ApiError> {
    match params::param(call.query, "past_end").as_deref() {
        None | Some("empty") => Ok(false),
        Some("404") => Ok(true),
        Some(other) => Err(ApiError::bad_request(
            "invalid_parameter",
            format!("past_end must be empty or 404, got {other:?}"),
        )),
    }
}

/// Django REST framework's answer past the last page.
pub(crate) fn invalid_page() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "invalid_page", "Invalid page.")
}
