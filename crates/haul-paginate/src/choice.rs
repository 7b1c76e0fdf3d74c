//! [`Choice`]: the style [`AutoPaginator`](crate::AutoPaginator) detected,
//! as stored in [`PageState::extra`](crate::PageState::extra) and rebuilt on
//! every page (and after a resume).

use serde_json::{Map, Value};

use crate::{
    CursorPaginator, LastRecordCursor, LinkHeaderPaginator, NextUrlPaginator, OffsetPaginator,
    PageNumberPaginator, PaginateError, Paginator, SinglePage,
};

/// A detected pagination style, stored in [`crate::PageState::extra`] so a
/// resumed pass keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Choice {
    Link,
    NextUrl {
        pointer: String,
        has_more: Option<String>,
    },
    Cursor {
        pointer: String,
        param: String,
        has_more: Option<String>,
    },
    LastRecord {
        field: String,
        param: String,
        has_more: Option<String>,
    },
    Offset {
        param: String,
        total: Option<String>,
    },
    Page {
        param: String,
        first: u64,
        total: Option<String>,
        total_pages: Option<String>,
    },
    Single,
}

impl Choice {
    pub(crate) fn name(&self) -> &'static str {
        self.paginator().name()
    }

    /// The configured style this choice stands for.
    pub(crate) fn paginator(&self) -> Box<dyn Paginator> {
        match self.clone() {
            Self::Link => Box::new(LinkHeaderPaginator::new()),
            Self::NextUrl { pointer, has_more } => Box::new(with(
                NextUrlPaginator::new(pointer),
                has_more,
                NextUrlPaginator::has_more_at,
            )),
            Self::Cursor {
                pointer,
                param,
                has_more,
            } => Box::new(with(
                CursorPaginator::new(pointer, param),
                has_more,
                CursorPaginator::has_more_at,
            )),
            Self::LastRecord {
                field,
                param,
                has_more,
            } => Box::new(with(
                LastRecordCursor::new(field, param),
                has_more,
                LastRecordCursor::has_more_at,
            )),
            Self::Offset { param, total } => Box::new(with(
                OffsetPaginator::new(param),
                total,
                OffsetPaginator::total_at,
            )),
            Self::Page {
                param,
                first,
                total,
                total_pages,
            } => {
                let p = PageNumberPaginator::new(param).first_page(first);
                let p = with(p, total, PageNumberPaginator::total_at);
                Box::new(with(p, total_pages, PageNumberPaginator::total_pages_at))
            }
            Self::Single => Box::new(SinglePage::new()),
        }
    }

    /// The text fields stored for this choice, by key, in the order they are
    /// written; an unset optional one is `None` (and not stored).
    fn text_fields(&self) -> Vec<(&'static str, Option<&str>)> {
        match self {
            Self::Link | Self::Single => Vec::new(),
            Self::NextUrl { pointer, has_more } => vec![
                ("pointer", Some(pointer)),
                ("has_more", has_more.as_deref()),
            ],
            Self::Cursor {
                pointer,
                param,
                has_more,
            } => vec![
                ("pointer", Some(pointer)),
                ("param", Some(param)),
                ("has_more", has_more.as_deref()),
            ],
            Self::LastRecord {
                field,
                param,
                has_more,
            } => vec![
                ("field", Some(field)),
                ("param", Some(param)),
                ("has_more", has_more.as_deref()),
            ],
            Self::Offset { param, total } => {
                vec![("param", Some(param)), ("total", total.as_deref())]
            }
            Self::Page {
                param,
                total,
                total_pages,
                ..
            } => vec![
                ("param", Some(param)),
                ("total", total.as_deref()),
                ("total_pages", total_pages.as_deref()),
            ],
        }
    }

    pub(crate) fn to_json(&self) -> Value {
        let mut m = Map::new();
        for (k, v) in self.text_fields() {
            if let Some(v) = v {
                m.insert(k.into(), Value::from(v));
            }
        }
        if let Self::Page { first, .. } = self {
            m.insert("first".into(), Value::from(*first));
        }
        m.insert("style".into(), Value::from(self.name()));
        Value::Object(m)
    }

    pub(crate) fn from_json(value: &Value) -> Result<Self, PaginateError> {
        let bad = || PaginateError::Resume(format!("unknown auto-detected style {value}"));
        let text = |k: &str| value.get(k).and_then(Value::as_str).map(str::to_owned);
        let need = |k: &str| text(k).ok_or_else(bad);
        Ok(match value.get("style").and_then(Value::as_str) {
            Some("link") => Self::Link,
            Some("single") => Self::Single,
            Some("next-url") => Self::NextUrl {
                pointer: need("pointer")?,
                has_more: text("has_more"),
            },
            Some("cursor") => Self::Cursor {
                pointer: need("pointer")?,
                param: need("param")?,
                has_more: text("has_more"),
            },
            Some("last-record") => Self::LastRecord {
                field: need("field")?,
                param: need("param")?,
                has_more: text("has_more"),
            },
            Some("offset") => Self::Offset {
                param: need("param")?,
                total: text("total"),
            },
            Some("page") => Self::Page {
                param: need("param")?,
                first: value.get("first").and_then(Value::as_u64).ok_or_else(bad)?,
                total: text("total"),
                total_pages: text("total_pages"),
            },
            _ => return Err(bad()),
        })
    }
}

/// `pager`, with `set` applied to the stored `value` when there is one.
fn with<P>(pager: P, value: Option<String>, set: impl FnOnce(P, String) -> P) -> P {
    match value {
        Some(v) => set(pager, v),
        None => pager,
    }
}
