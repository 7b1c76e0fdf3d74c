//! Reading the signals styles share (`has_more`, totals, cursors) out of a
//! response, and the typed errors they end in. Every style goes through these
//! helpers, so a misbehaving API fails the same way whatever the style.

use haul_core::{Request, Response, json};
use serde_json::value::RawValue;

use crate::records::{body_text, not_json};
use crate::{PageContext, PaginateError};

/// The body as JSON text, or `None` for an empty body (204 No Content).
pub(crate) fn json_text(response: &Response) -> Result<Option<&str>, PaginateError> {
    if response.body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    body_text(response).map(Some)
}

/// The raw value at `pointer`, `None` when missing.
pub(crate) fn raw_at<'a>(
    response: &Response,
    text: &'a str,
    pointer: &str,
) -> Result<Option<&'a RawValue>, PaginateError> {
    if let Some(found) = crate::memo::lookup(&response.body, text, pointer) {
        return Ok(found);
    }
    json::pointer(text, pointer).map_err(|e| not_json(response, &e.to_string()))
}

/// A `has_more`-like boolean at `pointer`: `None` when not configured, missing
/// or `null`; anything but a boolean is a typed error (a misread flag would
/// silently stop or never stop).
pub(crate) fn flag_at(
    response: &Response,
    text: &str,
    pointer: Option<&str>,
) -> Result<Option<bool>, PaginateError> {
    let Some(pointer) = pointer else {
        return Ok(None);
    };
    match raw_at(response, text, pointer)?.map(RawValue::get) {
        None | Some("null") => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(other) => Err(bad_field(
            response,
            pointer,
            format!("expected a boolean, found {}", preview(other)),
        )),
    }
}

/// A count (total records, total pages) at `pointer`: a number or a numeric
/// string. Missing or `null` is `None` (a missing total never fails a run);
/// anything else is a typed error.
pub(crate) fn count_at(
    response: &Response,
    text: &str,
    pointer: Option<&str>,
) -> Result<Option<u64>, PaginateError> {
    let Some(pointer) = pointer else {
        return Ok(None);
    };
    let Some(raw) = raw_at(response, text, pointer)? else {
        return Ok(None);
    };
    let value = raw.get();
    if value == "null" {
        return Ok(None);
    }
    let digits = value.trim_matches('"');
    digits.parse::<u64>().map(Some).map_err(|_| {
        bad_field(
            response,
            pointer,
            format!("expected a non-negative integer, found {}", preview(value)),
        )
    })
}

/// A cursor to send back as text: a string or a number. Missing, `null`,
/// `""` and `false` mean "no cursor"; an object, an array or `true` is a
/// typed error rather than a silent end (it is usually a pointer one level
/// too high, such as `/paging/next` instead of `/paging/next/after`).
pub(crate) fn cursor_text(
    response: &Response,
    raw: Option<&RawValue>,
    what: &str,
) -> Result<Option<String>, PaginateError> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    match raw.get().as_bytes().first() {
        Some(b'{') | Some(b'[') | Some(b't') => Err(bad_field(
            response,
            what,
            format!(
                "expected a string or a number, found {}",
                preview(raw.get())
            ),
        )),
        Some(b'f') => Ok(None),
        _ => json::scalar(raw).map_err(|e| not_json(response, &e.to_string())),
    }
}

/// The promise a bodyless answer breaks in the cursor and link styles: the
/// page before handed out `what` leading to this request.
pub(crate) fn bodyless_after(page: &PageContext<'_>, what: &str) -> Option<String> {
    (page.number > 1 && crate::is_bodyless(page.response))
        .then(|| format!("page {} handed out {what} leading to it", page.number - 1))
}

/// The typed error for "the API says there is more, but there is no way there".
pub(crate) fn no_way_forward(page: &PageContext<'_>, reason: impl Into<String>) -> PaginateError {
    PaginateError::NoWayForward {
        url: page.response.masked_url(),
        page: page.number,
        records: page.records.len(),
        reason: reason.into(),
        preview: page.response.preview(),
    }
}

/// The typed error for a field with an unusable value.
pub(crate) fn bad_field(
    response: &Response,
    what: &str,
    reason: impl Into<String>,
) -> PaginateError {
    PaginateError::BadField {
        url: response.masked_url(),
        what: what.to_owned(),
        reason: reason.into(),
    }
}

/// Rejects a pointer that cannot be a JSON pointer, when the run starts.
pub(crate) fn check_pointer(what: &str, pointer: &str) -> Result<(), PaginateError> {
    if pointer.is_empty() || pointer.starts_with('/') {
        Ok(())
    } else {
        Err(PaginateError::Config(format!(
            "{what} pointer {pointer:?} must be empty or start with '/'"
        )))
    }
}

/// Checks every configured pointer of a paginator (`None`: not configured).
pub(crate) fn check_pointers(pointers: &[(&str, Option<&str>)]) -> Result<(), PaginateError> {
    for (what, pointer) in pointers {
        if let Some(pointer) = pointer {
            check_pointer(what, pointer)?;
        }
    }
    Ok(())
}

/// Sets query parameter `name` to a cursor. A `pre_encoded` cursor is put
/// into the query exactly as the API sent it (only `&`, which would end the
/// parameter, is escaped): percent-encoding it again would turn `%3D` into
/// `%253D` and break it.
pub(crate) fn set_cursor_param(request: &mut Request, name: &str, value: &str, pre_encoded: bool) {
    if !pre_encoded {
        request.set_query(name, value);
        return;
    }
    request.remove_query(name);
    let name: String = url::form_urlencoded::byte_serialize(name.as_bytes()).collect();
    let value = value.replace('&', "%26");
    let query = match request.url.query() {
        Some(q) if !q.is_empty() => format!("{q}&{name}={value}"),
        _ => format!("{name}={value}"),
    };
    request.url.set_query(Some(&query));
}

/// A short, masked rendering of a JSON value for error messages.
fn preview(raw: &str) -> String {
    haul_core::redact::mask_value(raw)
}
