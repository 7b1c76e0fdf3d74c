//! `GET /page?page=&page_size=&base=`: page-number pagination.

use super::{Call, DataPage, buffer, push_array, window};
use crate::params;
use crate::reply::ApiError;

/// `{"items":[…],"page":p,"total_pages":T}` with `T = ceil(len / page_size)`
/// (0 for an empty dataset). Pages count from `base` (`0` or `1`, default
/// `1`); `page` defaults to `base`. `total=none` leaves out `total_pages`
/// (the end is an empty page). A page past the end is empty.
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
    let with_total = match params::param(call.query, "total").as_deref() {
        None | Some("all") => true,
        Some("none") => false,
        Some(other) => {
            return Err(ApiError::bad_request(
                "invalid_parameter",
                format!("total must be all or none, got {other:?}"),
            ));
        }
    };
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
    let (page, _) = window(records, start, size);

    let mut out = buffer(page, 64);
    out.push_str("{\"items\":");
    push_array(&mut out, page);
    out.push_str(",\"page\":");
    out.push_str(&page_no.to_string());
    if with_total {
        out.push_str(",\"total_pages\":");
        out.push_str(&records.len().div_ceil(size).to_string());
    }
    out.push('}');
    Ok(DataPage {
        body: out,
        records: page.len(),
        ..DataPage::default()
    })
}
