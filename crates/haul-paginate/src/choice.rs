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
            Self::NextUrl { pointer, has_more } => {
                let p = NextUrlPaginator::new(pointer);
                Box::new(match has_more {
                    Some(h) => p.has_more_at(h),
                    None => p,
                })
            }
            Self::Cursor {
                pointer,
                param,
                has_more,
            } => {
                let p = CursorPaginator::new(pointer, param);
                Box::new(match has_more {
                    Some(h) => p.has_more_at(h),
                    None => p,
                })
            }
            Self::LastRecord {
                field,
                param,
                has_more,
            } => {
                let p = LastRecordCursor::new(field, param);
                Box::new(match has_more {
                    Some(h) => p.has_more_at(h),
                    None => p,
                })
            }
            Self::Offset { param, total } => {
                let p = OffsetPaginator::new(param);
                Box::new(match total {
                    Some(t) => p.total_at(t),
                    None => p,
                })
            }
            Self::Page {
                param,
                first,
                total,
                total_pages,
            } => {
                let mut p = PageNumberPaginator::new(param).first_page(first);
                if let Some(t) = total {
                    p = p.total_at(t);
                }
                if let Some(t) = total_pages {
                    p = p.total_pages_at(t);
                }
                Box::new(p)
            }
            Self::Single => Box::new(SinglePage::new()),
        }
    }

    pub(crate) fn to_json(&self) -> Value {
        let mut m = Map::new();
        let mut put = |k: &str, v: Option<&str>| {
            if let Some(v) = v {
                m.insert(k.into(), Value::from(v));
            }
        };
        match self {
            Self::Link | Self::Single => {}
            Self::NextUrl { pointer, has_more } => {
                put("pointer", Some(pointer));
                put("has_more", has_more.as_deref());
            }
            Self::Cursor {
                pointer,
                param,
                has_more,
            } => {
                put("pointer", Some(pointer));
                put("param", Some(param));
                put("has_more", has_more.as_deref());
            }
            Self::LastRecord {
                field,
                param,
                has_more,
            } => {
                put("field", Some(field));
                put("param", Some(param));
                put("has_more", has_more.as_deref());
            }
            Self::Offset { param, total } => {
                put("param", Some(param));
                put("total", total.as_deref());
            }
            Self::Page {
                param,
                first,
                total,
                total_pages,
            } => {
                put("param", Some(param));
                put("total", total.as_deref());
                put("total_pages", total_pages.as_deref());
                m.insert("first".into(), Value::from(*first));
            }
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
