//! Jira Cloud REST search: `startAt` (0-based) and `maxResults`, answering
//! `{"startAt","maxResults","total","isLast","issues":[…]}`. Like Jira, the
//! server may return fewer than `maxResults` without being at the end (it
//! caps pages at 37 records here). The incremental bound sits inside the JQL:
//! `updated >= "yyyy/MM/dd HH:mm"` (minutes, UTC here).
//! <https://developer.atlassian.com/cloud/jira/platform/rest/v3/intro/#pagination>,
//! <https://support.atlassian.com/jira-software-cloud/docs/jql-fields/#Updated>

use super::{Emulation, push_rendered};
use crate::endpoints::{Call, DataPage, buffer, window};
use crate::params;
use crate::reply::ApiError;

/// The issue search.
pub(super) const PATH: &str = "/rest/api/3/search";
/// The most records one page holds, whatever `maxResults` asks.
const PAGE_CAP: usize = 37;

/// Parses `yyyy/MM/dd HH:mm` (or `yyyy-MM-dd HH:mm`) as Unix seconds.
fn parse_jql_date(text: &str) -> Option<u64> {
    let b = text.as_bytes();
    if b.len() != 16
        || !matches!(b[4], b'/' | b'-')
        || b[7] != b[4]
        || b[10] != b' '
        || b[13] != b':'
    {
        return None;
    }
    let rfc = format!(
        "{}-{}-{}T{}:{}:00Z",
        text.get(0..4)?,
        text.get(5..7)?,
        text.get(8..10)?,
        text.get(11..13)?,
        text.get(14..16)?
    );
    crate::instant::parse_instant(&rfc)
}

/// The `updated >= "…"` bound of the JQL.
pub(super) fn since(query: Option<&str>) -> Result<Option<u64>, ApiError> {
    let Some(jql) = params::param(query, "jql") else {
        return Ok(None);
    };
    let Some(at) = jql.find("updated >= ") else {
        return Ok(None);
    };
    let literal = jql[at + "updated >= ".len()..].trim_start();
    let date = literal
        .strip_prefix('"')
        .and_then(|rest| rest.get(..rest.find('"')?));
    date.and_then(parse_jql_date).map(Some).ok_or_else(|| {
        ApiError::bad_request(
            "invalid_parameter",
            format!(
                "Date value for field 'updated' is invalid: {literal:?} (use \"yyyy/MM/dd HH:mm\")"
            ),
        )
    })
}

/// One page at `startAt`.
pub(super) fn serve(call: &Call<'_>) -> Result<DataPage, ApiError> {
    let size = call.page_size("maxResults")?;
    let start = params::optional_u64(call.query, "startAt")?.map_or(0, params::index);
    let records = call.records();
    let (page, end) = window(records, start, size.min(PAGE_CAP));
    let mut out = buffer(page, 120 + page.len() * 64);
    out.push_str(&format!(
        "{{\"expand\":\"schema,names\",\"startAt\":{start},\"maxResults\":{size},\"total\":{},\"isLast\":{},\"issues\":",
        records.len(),
        end >= records.len()
    ));
    push_rendered(&mut out, Emulation::Jira, page);
    out.push('}');
    Ok(DataPage {
        body: out,
        records: page.len(),
        ..DataPage::default()
    })
}
