//! Salesforce REST query: `GET …/query?q=<SOQL>` answers
//! `{"totalSize","done","records":[…],"nextRecordsUrl":"/services/data/v60.0/query/<locator>-<offset>"}`,
//! the next-records URL **relative**; `done: true` ends. An incremental
//! query filters `WHERE SystemModstamp >= <datetime literal>` inside the SOQL.
//! <https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_query.htm>

use super::{Emulation, push_rendered};
use crate::endpoints::{Call, DataPage, buffer, json_string, window};
use crate::instant::parse_instant;
use crate::params;
use crate::reply::ApiError;

/// The API version's base path.
pub(super) const BASE: &str = "/services/data/v60.0";
/// The query resource.
pub(super) const PATH: &str = "/services/data/v60.0/query";

/// The query resource, or one of its next-records locators.
pub(super) fn routes(path: &str) -> bool {
    path == PATH
        || path
            .strip_prefix(PATH)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// A next-records locator: `01g` + the bound's hex (`x` when none), `-`, the offset.
fn locator(since: Option<u64>, offset: usize) -> String {
    match since {
        Some(secs) => format!("{PATH}/01g{secs:x}-{offset}"),
        None => format!("{PATH}/01gx-{offset}"),
    }
}

/// Reads a locator path back into (bound, offset).
fn parse_locator(path: &str) -> Option<(Option<u64>, usize)> {
    let rest = path.strip_prefix(PATH)?.strip_prefix("/01g")?;
    let (since, offset) = rest.split_once('-')?;
    let since = match since {
        "x" => None,
        hex => Some(u64::from_str_radix(hex, 16).ok()?),
    };
    Some((since, offset.parse().ok()?))
}

fn invalid_locator(path: &str) -> ApiError {
    ApiError::new(
        http::StatusCode::BAD_REQUEST,
        "INVALID_QUERY_LOCATOR",
        format!("invalid query locator {path:?}"),
    )
}

/// The `SystemModstamp >= <literal>` bound of the SOQL in `q`, or of a locator.
pub(super) fn since(path: &str, query: Option<&str>) -> Result<Option<u64>, ApiError> {
    if path != PATH {
        return parse_locator(path)
            .map(|(since, _)| since)
            .ok_or_else(|| invalid_locator(path));
    }
    let Some(soql) = params::param(query, "q") else {
        return Err(ApiError::bad_request(
            "MALFORMED_QUERY",
            "the query resource needs a SOQL query in q",
        ));
    };
    let words: Vec<&str> = soql.split_whitespace().collect();
    if !words
        .first()
        .is_some_and(|w| w.eq_ignore_ascii_case("SELECT"))
        || !words.iter().any(|w| w.eq_ignore_ascii_case("FROM"))
    {
        return Err(ApiError::bad_request(
            "MALFORMED_QUERY",
            format!("not a SOQL query: {soql:?}"),
        ));
    }
    for pair in words.windows(3) {
        if pair[0].eq_ignore_ascii_case("SystemModstamp") && pair[1] == ">=" {
            return parse_instant(pair[2])
                .filter(|_| pair[2].contains('T'))
                .map(Some)
                .ok_or_else(|| {
                    ApiError::bad_request(
                        "MALFORMED_QUERY",
                        format!("SystemModstamp needs a datetime literal, got {:?}", pair[2]),
                    )
                });
        }
    }
    Ok(None)
}

/// The first batch of a query, or the batch a locator points to.
pub(super) fn serve(call: &Call<'_>) -> Result<DataPage, ApiError> {
    let size = call.state.default_page_size;
    let records = call.records();
    let (since, start) = if call.path == PATH {
        (since(call.path, call.query)?, 0)
    } else {
        parse_locator(call.path).ok_or_else(|| invalid_locator(call.path))?
    };
    if start > records.len() {
        return Err(invalid_locator(call.path));
    }
    let (page, end) = window(records, start, size);
    let done = end >= records.len();
    let mut out = buffer(page, 120 + page.len() * 120);
    out.push_str(&format!(
        "{{\"totalSize\":{},\"done\":{done},\"records\":",
        records.len()
    ));
    push_rendered(&mut out, Emulation::Salesforce, page);
    if !done {
        out.push_str(",\"nextRecordsUrl\":");
        out.push_str(&json_string(&locator(since, end)));
    }
    out.push('}');
    Ok(DataPage {
        body: out,
        records: page.len(),
        ..DataPage::default()
    })
}
