//! Shopify Admin REST: `{"products":[…]}` with a `Link` header whose
//! `rel="next"` / `rel="previous"` URLs carry an opaque `page_info` and the
//! `limit` (at most 250). Once `page_info` is present, other filters must
//! not be repeated (a `400` here). `updated_at_min` is an ISO 8601 bound.
//! <https://shopify.dev/docs/api/usage/pagination-rest>

use http::{HeaderValue, header};

use super::{Emulation, push_rendered};
use crate::endpoints::{Call, DataPage, buffer, window};
use crate::params;
use crate::reply::ApiError;

/// The products listing.
pub(super) const PATH: &str = "/admin/api/2024-01/products.json";
/// Shopify's largest page.
const MAX_LIMIT: usize = 250;

/// An opaque-looking `page_info`: the offset and the bound, in hex.
fn page_info(offset: usize, since: Option<u64>) -> String {
    match since {
        Some(secs) => format!("eyJ{offset:x}s{secs:x}"),
        None => format!("eyJ{offset:x}"),
    }
}

fn parse_page_info(raw: &str) -> Option<(usize, Option<u64>)> {
    let rest = raw.strip_prefix("eyJ")?;
    let (offset, since) = match rest.split_once('s') {
        Some((offset, since)) => (offset, Some(u64::from_str_radix(since, 16).ok()?)),
        None => (rest, None),
    };
    Some((usize::from_str_radix(offset, 16).ok()?, since))
}

fn bad_page_info(raw: &str) -> ApiError {
    ApiError::bad_request(
        "invalid_parameter",
        format!("page_info - Invalid value {raw:?}"),
    )
}

/// The bound: `updated_at_min`, or the one a `page_info` carries.
pub(super) fn since(query: Option<&str>) -> Result<Option<u64>, ApiError> {
    if let Some(raw) = params::param(query, "page_info") {
        return parse_page_info(&raw)
            .map(|(_, since)| since)
            .ok_or_else(|| bad_page_info(&raw));
    }
    super::instant_param(query, "updated_at_min")
}

/// One page; the position comes from `page_info` alone.
pub(super) fn serve(call: &Call<'_>) -> Result<DataPage, ApiError> {
    let size = call.page_size("limit")?.min(MAX_LIMIT);
    let records = call.records();
    let (start, since) = match params::param(call.query, "page_info") {
        None => (0, super::instant_param(call.query, "updated_at_min")?),
        Some(raw) => {
            let extra = url::form_urlencoded::parse(call.query.unwrap_or_default().as_bytes())
                .find(|(key, _)| !matches!(key.as_ref(), "page_info" | "limit" | "fields"));
            if let Some((key, _)) = extra {
                return Err(ApiError::bad_request(
                    "invalid_parameter",
                    format!("{key} cannot be passed when page_info is present"),
                ));
            }
            parse_page_info(&raw)
                .filter(|(offset, _)| *offset <= records.len())
                .ok_or_else(|| bad_page_info(&raw))?
        }
    };
    let (page, end) = window(records, start, size);
    let link = |offset: usize, rel: &str| {
        let mut url = call.state.link_base.clone();
        url.set_path(call.path);
        url.query_pairs_mut()
            .append_pair("limit", &size.to_string())
            .append_pair("page_info", &page_info(offset, since));
        format!("<{url}>; rel=\"{rel}\"")
    };
    let mut links = Vec::with_capacity(2);
    if start > 0 {
        links.push(link(start.saturating_sub(size), "previous"));
    }
    if end < records.len() {
        links.push(link(end, "next"));
    }
    let mut out = buffer(page, 16);
    out.push_str("{\"products\":");
    push_rendered(&mut out, Emulation::Shopify, page);
    out.push('}');
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
    Ok(result)
}
