//! Pagination-style and records detection for [`AutoPaginator`](crate::AutoPaginator).
//!
//! Every decision comes with a human-readable reason, which the auto
//! paginator logs: a guess is never silent.

use std::collections::BTreeMap;

use haul_core::{Record, Response};
use serde_json::value::RawValue;

use crate::choice::Choice;
use crate::link::find_link;
use crate::records::body_text;
use crate::signals::{json_text, raw_at};
use crate::{PageContext, PaginateError, RecordSelector};

/// Where APIs put the URL of the next page.
const NEXT_URL_KEYS: &[&str] = &[
    "/@odata.nextLink",
    "/nextRecordsUrl",
    "/next",
    "/next_url",
    "/nextUrl",
    "/nextLink",
    "/next_page_url",
    "/links/next",
    "/_links/next/href",
    "/paging/next/link",
    "/paging/next",
    "/pagination/next",
    "/pagination/next_url",
    "/meta/next",
];

/// Where APIs put an opaque cursor, and the query parameter it usually goes back in.
const CURSOR_KEYS: &[(&str, &str)] = &[
    ("/next_cursor", "cursor"),
    ("/nextCursor", "cursor"),
    ("/cursor", "cursor"),
    ("/after", "after"),
    ("/paging/next/after", "after"),
    ("/paging/cursors/after", "after"),
    ("/meta/after_cursor", "page[after]"),
    ("/meta/next_cursor", "cursor"),
    ("/response_metadata/next_cursor", "cursor"),
    ("/pagination/next_cursor", "cursor"),
    ("/next_page_token", "page_token"),
    ("/nextPageToken", "pageToken"),
    ("/next", "cursor"),
];

/// Where APIs put a "more data follows" flag.
const HAS_MORE_KEYS: &[&str] = &[
    "/has_more",
    "/meta/has_more",
    "/hasMore",
    "/pagination/has_more",
];

/// Where APIs put the total number of records.
const TOTAL_KEYS: &[&str] = &[
    "/total",
    "/total_count",
    "/totalCount",
    "/total_results",
    "/totalResults",
    "/totalSize",
    "/count",
    "/meta/total",
    "/meta/total_count",
    "/pagination/total",
    "/meta/pagination/total",
];

/// Where APIs put the total number of pages.
const TOTAL_PAGES_KEYS: &[&str] = &[
    "/total_pages",
    "/totalPages",
    "/last_page",
    "/meta/total_pages",
    "/pagination/total_pages",
    "/meta/pagination/total_pages",
];

/// Top-level keys that usually hold the records, in order of preference.
const RECORD_KEYS: &[&str] = &[
    "data", "results", "items", "records", "value", "entries", "elements", "nodes", "hits", "rows",
    "list", "objects",
];

/// Query parameters that already carry an offset on the first request.
const OFFSET_PARAMS: &[&str] = &["offset", "skip", "start"];

/// Chooses a style from the first page, with the reason for the log.
pub(crate) fn detect(
    page: &PageContext<'_>,
    cursor_param: Option<&str>,
) -> Result<(Choice, String), PaginateError> {
    let response = page.response;
    if find_link(response, "next")?.is_some() {
        return Ok((
            Choice::Link,
            "the Link header has a rel=\"next\" link".into(),
        ));
    }
    let Some(text) = json_text(response)? else {
        return Ok((
            Choice::Single,
            "the first response has an empty body and no Link rel=\"next\" header".into(),
        ));
    };
    let is_object = text.trim_start().starts_with('{');
    let string_at = |ptr: &str| -> Result<Option<&RawValue>, PaginateError> {
        if !is_object {
            return Ok(None);
        }
        raw_at(response, text, ptr)
    };

    let has_more = first_flag(response, text, is_object)?;
    let has_more_ptr = has_more.map(|(p, _)| p.to_owned());
    let has_more_note = match has_more {
        Some((p, v)) => format!(", with the has_more flag at {p} (now {v})"),
        None => String::new(),
    };

    let mut null_evidence: Option<(Choice, String)> = None;
    for &ptr in NEXT_URL_KEYS {
        let Some(raw) = string_at(ptr)? else { continue };
        match string_value(raw) {
            Some(s) if looks_like_url(&s) => {
                let choice = Choice::NextUrl {
                    pointer: ptr.into(),
                    has_more: has_more_ptr.clone(),
                };
                return Ok((choice, format!("found a next URL at {ptr}{has_more_note}")));
            }
            None if null_evidence.is_none() && is_empty_value(raw) => {
                null_evidence = Some((
                    Choice::NextUrl {
                        pointer: ptr.into(),
                        has_more: has_more_ptr.clone(),
                    },
                    format!("{ptr} is present but empty on the first page, so it is the only page"),
                ));
            }
            _ => {}
        }
    }
    for &(ptr, param) in CURSOR_KEYS {
        let Some(raw) = string_at(ptr)? else { continue };
        let param = cursor_param.unwrap_or(param).to_owned();
        match cursor_value(raw) {
            Some(s) if !looks_like_url(&s) => {
                let why = format!(
                    "found a cursor at {ptr}, sent back as query parameter {param:?}{has_more_note}"
                );
                let choice = Choice::Cursor {
                    pointer: ptr.into(),
                    param,
                    has_more: has_more_ptr.clone(),
                };
                return Ok((choice, why));
            }
            None if null_evidence.is_none() && is_empty_value(raw) => {
                null_evidence = Some((
                    Choice::Cursor {
                        pointer: ptr.into(),
                        param,
                        has_more: has_more_ptr.clone(),
                    },
                    format!("{ptr} is present but empty on the first page, so it is the only page"),
                ));
            }
            _ => {}
        }
    }
    if let Some(("/has_more", v)) = has_more
        && let Some(last) = page.records.last()
        && last.field("/id").ok().flatten().is_some()
    {
        let choice = Choice::LastRecord {
            field: "/id".into(),
            param: "starting_after".into(),
            has_more: Some("/has_more".into()),
        };
        return Ok((
            choice,
            format!(
                "found /has_more (now {v}) and records with an /id but no cursor: Stripe-style starting_after=<id of the last record>"
            ),
        ));
    }
    if let Some(found) = detect_numbered(page, text, is_object)? {
        return Ok(found);
    }
    if let Some(found) = null_evidence {
        return Ok(found);
    }
    Ok((
        Choice::Single,
        "no Link rel=\"next\" header, no next URL or cursor at any known key, no total and no offset or page parameter: treating the endpoint as a single page".into(),
    ))
}

/// Offset or page-number pagination, recognized by the first request's
/// parameters or by a total in the body.
fn detect_numbered(
    page: &PageContext<'_>,
    text: &str,
    is_object: bool,
) -> Result<Option<(Choice, String)>, PaginateError> {
    let response = page.response;
    let first_count = |keys: &[&str]| -> Result<Option<(String, u64)>, PaginateError> {
        if !is_object {
            return Ok(None);
        }
        for &ptr in keys {
            if let Some(raw) = raw_at(response, text, ptr)?
                && let Ok(n) = raw.get().trim_matches('"').parse::<u64>()
            {
                return Ok(Some((ptr.to_owned(), n)));
            }
        }
        Ok(None)
    };
    let total = first_count(TOTAL_KEYS)?;
    let total_pages = first_count(TOTAL_PAGES_KEYS)?;
    let total_note = match (&total, &total_pages) {
        (Some((p, n)), _) => format!(", ending at the total {n} at {p}"),
        (None, Some((p, n))) => format!(", ending at the {n} pages at {p}"),
        (None, None) => ", ending on an empty page (no total found)".into(),
    };
    let page_param = page.request.query("page");
    if page_param.is_some() || total_pages.is_some() {
        let first = match &page_param {
            Some(v) => u64::from(v.trim() != "0"),
            None => 1,
        };
        let why = match &page_param {
            Some(v) => format!("the first request has page={v}{total_note}"),
            None => format!("found a page count{total_note}"),
        };
        let choice = Choice::Page {
            param: "page".into(),
            first,
            total: total.map(|(p, _)| p),
            total_pages: total_pages.map(|(p, _)| p),
        };
        return Ok(Some((choice, why)));
    }
    let offset_param = OFFSET_PARAMS
        .iter()
        .find(|p| page.request.query(p).is_some());
    let records = page.records.len() as u64;
    let why = match (offset_param, &total) {
        (Some(p), _) => format!("the first request has an {p} parameter{total_note}"),
        (None, Some((_, n))) if *n > records => {
            format!("found a total larger than the first page ({records} records){total_note}")
        }
        (None, Some((p, n))) => {
            return Ok(Some((
                Choice::Single,
                format!("the total {n} at {p} fits on the first page ({records} records)"),
            )));
        }
        (None, None) => return Ok(None),
    };
    let choice = Choice::Offset {
        param: offset_param.copied().unwrap_or("offset").into(),
        total: total.map(|(p, _)| p),
    };
    Ok(Some((choice, why)))
}

fn first_flag(
    response: &Response,
    text: &str,
    is_object: bool,
) -> Result<Option<(&'static str, bool)>, PaginateError> {
    if !is_object {
        return Ok(None);
    }
    for &ptr in HAS_MORE_KEYS {
        match raw_at(response, text, ptr)?.map(RawValue::get) {
            Some("true") => return Ok(Some((ptr, true))),
            Some("false") => return Ok(Some((ptr, false))),
            _ => {}
        }
    }
    Ok(None)
}

fn string_value(raw: &RawValue) -> Option<String> {
    serde_json::from_str::<String>(raw.get())
        .ok()
        .filter(|s| !s.trim().is_empty())
}

fn cursor_value(raw: &RawValue) -> Option<String> {
    match raw.get().as_bytes().first() {
        Some(b'"') => string_value(raw),
        Some(b'0'..=b'9') => Some(raw.get().to_owned()),
        _ => None,
    }
}

fn is_empty_value(raw: &RawValue) -> bool {
    matches!(raw.get(), "null" | "\"\"")
}

fn looks_like_url(s: &str) -> bool {
    let s = s.trim();
    s.starts_with("https://")
        || s.starts_with("http://")
        || s.starts_with('/')
        || s.starts_with('?')
}

/// The records of a response when no selector was configured: the root array,
/// or the one top-level key holding an array (preferring the usual names).
/// Anything ambiguous is a typed error, not a guess.
pub(crate) fn detect_records(response: &Response) -> Result<Vec<Record>, PaginateError> {
    if json_text(response)?.is_none() {
        return Ok(Vec::new());
    }
    let text = body_text(response)?;
    let not_found = |why: String| PaginateError::RecordsNotFound {
        url: response.masked_url(),
        selector: format!("auto-detection ({why}; set records_at)"),
        preview: response.preview(),
    };
    match text.trim_start().as_bytes().first() {
        Some(b'[') => return RecordSelector::Root.select(response),
        Some(b'{') => {}
        _ => {
            // Tell a broken body (an HTML error page) from a JSON scalar.
            serde_json::from_str::<&RawValue>(text)
                .map_err(|e| crate::records::not_json(response, &e.to_string()))?;
            return Err(not_found(
                "the body is neither an array nor an object".into(),
            ));
        }
    }
    let map: BTreeMap<String, &RawValue> = serde_json::from_str(text)
        .map_err(|e| crate::records::not_json(response, &e.to_string()))?;
    let is_array = |raw: &RawValue| raw.get().starts_with('[');
    for &key in RECORD_KEYS {
        match map.get(key) {
            Some(raw) if is_array(raw) => return select_key(response, key),
            Some(raw) if raw.get() == "null" => return Ok(Vec::new()),
            _ => {}
        }
    }
    let arrays: Vec<&str> = map
        .iter()
        .filter(|(_, raw)| is_array(raw))
        .map(|(k, _)| k.as_str())
        .collect();
    match arrays.as_slice() {
        [key] => select_key(response, key),
        [] => Err(not_found("no top-level array".into())),
        several => Err(not_found(format!(
            "several top-level arrays: {}",
            several.join(", ")
        ))),
    }
}

fn select_key(response: &Response, key: &str) -> Result<Vec<Record>, PaginateError> {
    let pointer = format!("/{}", key.replace('~', "~0").replace('/', "~1"));
    RecordSelector::pointer(pointer).select(response)
}
