//! `GET /link?per_page=&page=`: GitHub's `Link` header.

use http::{HeaderValue, header};

use super::{Call, DataPage, Hole, Misbehaviour, buffer, push_array, window};
use crate::params;
use crate::reply::ApiError;

/// A root JSON array and, unless everything fits on one page, a `Link`
/// header with `prev`, `next`, `last`, `first` in GitHub's order (`prev` and
/// `first` from page 2 on; `next` and `last` before the last page), each an
/// absolute URL keeping the other query parameters.
pub(crate) fn serve(call: &Call<'_>) -> Result<DataPage, ApiError> {
    let size = call.page_size("per_page")?;
    let odd = Misbehaviour::parse(call.query)?;
    let page_no = match params::optional_u64(call.query, "page") {
        Ok(None) => 1,
        Ok(Some(page)) if page >= 1 => params::index(page),
        _ => {
            return Err(ApiError::bad_request(
                "invalid_page",
                "page must be a positive integer",
            ));
        }
    };
    odd.fail_page(page_no)?;
    let records = call.records();
    let len = records.len();
    let last = len.div_ceil(size).max(1);
    let start = (page_no - 1).saturating_mul(size);
    call.note_start(start);
    let (page, end) = window(records, start, size);
    let hole = odd.hole_at(call, page_no);
    let page = if hole == Some(Hole::Empty) { &[] } else { page };
    let next = odd
        .next(start, end, len, size)
        .map(|offset| Misbehaviour::page_number(offset, size));

    let link = |page: usize, rel: &str| {
        format!(
            "<{}>; rel=\"{rel}\"",
            call.url_with("page", &page.to_string())
        )
    };
    let mut links = Vec::with_capacity(4);
    if page_no > 1 {
        links.push(link(page_no - 1, "prev"));
    }
    if let Some(next) = next {
        links.push(link(next, "next"));
    }
    if page_no < last {
        links.push(link(last, "last"));
    }
    if page_no > 1 {
        links.push(link(1, "first"));
    }

    let mut out = buffer(page, 2);
    push_array(&mut out, page);
    let mut result = DataPage {
        body: out,
        records: page.len(),
        ..DataPage::default()
    };
    if !links.is_empty()
        && let Ok(value) = HeaderValue::from_str(&links.join(", "))
    {
        result.headers.insert(header::LINK, value);
    }
    Ok(result.with_hole(hole))
}
