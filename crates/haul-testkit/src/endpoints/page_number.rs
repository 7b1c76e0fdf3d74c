//! `GET /page?page=&page_size=&base=`: page-number pagination.

use super::offset::{invalid_page, past_end_404};
use super::{Call, DataPage, Hole, Misbehaviour, buffer, push_array, window};
use crate::params;
use crate::reply::ApiError;

/// `{"items":[…],"page":p,"total_pages":T}` with `T = ceil(len / page_size)`
/// (0 for an empty dataset). Pages count from `base` (`0` or `1`, default
/// `1`); `page` defaults to `base`. `total=none` leaves out `total_pages`
/// (the end is an empty page), `total=count` sends `"count":N` (the number
/// of records, as Django REST framework does) instead. A page past the end
/// is empty, or with `past_end=404` a `404` (DRF's "Invalid page."; the
/// first page of an empty listing is still served). `no_content_at`,
/// `empty_at` and `once` apply.
pub(crate) fn serve(call: &Call<'_>) -> Result<DataPage, ApiError> {
    let size = call.page_size("page_size")?;
    let base = match params::param(call.query, "base").as_deref() {
        None | Some("1") => 1,
        Some("0") => 0,
        Some(other) => {
            return Err(ApiError::bad_request(
                "invalid_parameter",
                format!("base must be 0 or 1, got {other:?}"),
            ));
        }
    };
    let (with_total, with_count) = match params::param(call.query, "total").as_deref() {
        None | Some("all") => (true, false),
        Some("none") => (false, false),
        Some("count") => (false, true),
        Some(other) => {
            return Err(ApiError::bad_request(
                "invalid_parameter",
                format!("total must be all, count or none, got {other:?}"),
            ));
        }
    };
    let odd = Misbehaviour::parse(call.query)?;
    let page_no = match params::optional_u64(call.query, "page") {
        Ok(None) => base,
        Ok(Some(page)) if page >= base => page,
        _ => {
            return Err(ApiError::bad_request(
                "invalid_page",
                format!("page must be an integer of at least {base}"),
            ));
        }
    };
    let records = call.records();
    let start = params::index(page_no - base).saturating_mul(size);
    call.note_start(start);
    if start > 0 && start >= records.len() && past_end_404(call)? {
        return Err(invalid_page());
    }
    let (page, _) = window(records, start, size);
    let hole = odd.hole_at(call, params::index(page_no - base).saturating_add(1));
    let page = if hole == Some(Hole::Empty) { &[] } else { page };

    let mut out = buffer(page, 64);
    out.push_str("{\"items\":");
    push_array(&mut out, page);
    out.push_str(",\"page\":");
    out.push_str(&page_no.to_string());
    if with_total {
        out.push_str(",\"total_pages\":");
        out.push_str(&records.len().div_ceil(size).to_string());
    }
    if with_count {
        out.push_str(",\"count\":");
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
