//! [`Record`] and [`Page`]: what flows from the API to the sink.

use std::fmt;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;

use crate::json::{self, JsonError};

/// One record exactly as the API sent it: raw JSON bytes, parsed only on demand.
///
/// Sinks that store JSON write [`Record::as_str`] unchanged; fields needed for
/// keys, cursors and watermarks are read with [`Record::field`] without
/// building a `serde_json::Value` tree.
///
/// ```
/// use haul_core::Record;
/// let rec = Record::from_json(r#"{"id": 7, "name": "Zoë"}"#)?;
/// assert_eq!(rec.field("/id")?.as_deref(), Some("7"));
/// #[derive(serde::Deserialize)]
/// struct Item { id: u64, name: String }
/// let item: Item = rec.deserialize()?;
/// assert_eq!((item.id, item.name.as_str()), (7, "Zoë"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Record(Box<RawValue>);

impl Record {
    /// Wraps an already-validated raw JSON value.
    pub fn from_raw(raw: Box<RawValue>) -> Self {
        Self(raw)
    }

    /// Copies a borrowed raw value (a slice of a page body) into a record.
    pub fn from_borrowed(raw: &RawValue) -> Self {
        Self(raw.to_owned())
    }

    /// Parses and validates JSON text into a record (whitespace around it is trimmed).
    pub fn from_json(text: &str) -> Result<Self, JsonError> {
        let raw: Box<RawValue> = serde_json::from_str(text)?;
        Ok(Self(raw))
    }

    /// The record's JSON text, byte for byte as received.
    pub fn as_str(&self) -> &str {
        self.0.get()
    }

    /// The raw value.
    pub fn as_raw(&self) -> &RawValue {
        &self.0
    }

    /// Length of the JSON text in bytes.
    pub fn len(&self) -> usize {
        self.0.get().len()
    }

    /// Whether the JSON text is empty (never true for a valid record).
    pub fn is_empty(&self) -> bool {
        self.0.get().is_empty()
    }

    /// A scalar field at a JSON pointer, as text (see [`json::scalar_at`]).
    pub fn field(&self, pointer: &str) -> Result<Option<String>, JsonError> {
        json::scalar_at(self.as_str(), pointer)
    }

    /// Deserializes the record into the embedder's own type.
    pub fn deserialize<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(self.as_str())
    }
}

impl fmt::Debug for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Record({})",
            crate::body_preview(self.as_str().as_bytes())
        )
    }
}

impl PartialEq for Record {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Record {}

impl Serialize for Record {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

/// One page of records, as returned by one successful request.
#[derive(Debug, Clone)]
pub struct Page {
    /// 1-based page number within this run (resumed runs continue the count).
    pub number: u64,
    /// The records of the page, in the order the API sent them.
    pub records: Vec<Record>,
    /// The request that produced this page (its URL is masked in `Debug`).
    pub request: crate::Request,
    /// HTTP status of the response.
    pub status: http::StatusCode,
    /// Size of the response body in bytes.
    pub bytes: usize,
}

impl Page {
    /// Number of records on the page.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether the page has no records.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
}
