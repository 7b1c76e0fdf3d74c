//! [`RecordSelector`]: where the records of a response are.

use haul_core::json::{self, ArrayAt};
use haul_core::{Record, Response};

use crate::PaginateError;

/// Where the records of a response are.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum RecordSelector {
    /// A JSON array at this RFC 6901 pointer (e.g. `/data`, `/paging/results`).
    /// A missing key or `null` is an empty page; anything else but an array is an error.
    Pointer(String),
    /// The whole body is a JSON array.
    #[default]
    Root,
    /// The body is newline-delimited JSON, one record per line.
    Ndjson,
}

impl RecordSelector {
    /// A selector for the array at `pointer` (`""` or `"/"`-less root means [`RecordSelector::Root`]).
    pub fn pointer(pointer: impl Into<String>) -> Self {
        let p = pointer.into();
        if p.is_empty() {
            Self::Root
        } else {
            Self::Pointer(p)
        }
    }

    /// Selects the records of `response`, copying each record's raw JSON.
    pub fn select(&self, response: &Response) -> Result<Vec<Record>, PaginateError> {
        if response.body.is_empty() {
            // 204 No Content or an empty 200: an empty page, not an error.
            return Ok(Vec::new());
        }
        let text = body_text(response)?;
        match self {
            Self::Ndjson => text
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| Record::from_json(l).map_err(|e| not_json(response, &e.to_string())))
                .collect(),
            Self::Root => array(response, text, ""),
            Self::Pointer(p) => array(response, text, p),
        }
    }

    fn describe(&self) -> String {
        match self {
            Self::Pointer(p) => p.clone(),
            Self::Root => "the body root".into(),
            Self::Ndjson => "NDJSON lines".into(),
        }
    }
}

fn array(response: &Response, text: &str, pointer: &str) -> Result<Vec<Record>, PaginateError> {
    // One pass finds the array and splits it into records; for a top-level
    // key it also remembers the other members for the paginator's signals.
    let found = match top_level_key(pointer) {
        Some(key) => match json::array_and_members(text, &key)
            .map_err(|e| not_json(response, &e.to_string()))?
        {
            Some(top) => {
                crate::memo::remember(&response.body, text, &top.members);
                top.array
            }
            None => {
                json::array_at(text, pointer).map_err(|e| not_json(response, &e.to_string()))?
            }
        },
        None => json::array_at(text, pointer).map_err(|e| not_json(response, &e.to_string()))?,
    };
    match found {
        ArrayAt::Items(items) => Ok(items.into_iter().map(Record::from_borrowed).collect()),
        ArrayAt::Missing | ArrayAt::Null => Ok(Vec::new()),
        _ => Err(PaginateError::RecordsNotFound {
            url: response.masked_url(),
            selector: RecordSelector::pointer(pointer).describe(),
            preview: response.preview(),
        }),
    }
}

/// The unescaped key of a one-token pointer (`/data`), `None` otherwise.
fn top_level_key(pointer: &str) -> Option<String> {
    let name = pointer.strip_prefix('/')?;
    (!name.contains('/')).then(|| name.replace("~1", "/").replace("~0", "~"))
}

/// The body as UTF-8 text, or a typed error with a preview.
pub(crate) fn body_text(response: &Response) -> Result<&str, PaginateError> {
    std::str::from_utf8(&response.body).map_err(|e| not_json(response, &e.to_string()))
}

pub(crate) fn not_json(response: &Response, reason: &str) -> PaginateError {
    PaginateError::NotJson {
        url: response.masked_url(),
        reason: reason.to_owned(),
        preview: response.preview(),
    }
}
