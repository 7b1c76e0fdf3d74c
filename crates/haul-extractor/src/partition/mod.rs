//! Partitions: the units a stream's work is split into, and where their
//! values come from (a fixed list, time windows, the records of a parent).

mod key;
mod template;
mod windows;

use std::collections::{BTreeMap, BTreeSet};

use haul_core::Record;
use serde_json::value::RawValue;

pub use template::{RequestTemplate, TemplateError};
pub use windows::{Step, TimeWindows};

/// One unit of a stream's work: a stable key and the values that fill the
/// stream's [`RequestTemplate`].
///
/// The key is text safe in file names, URLs and SQL (see
/// [`haul_sink::check_partition_key`]); checkpoints and watermarks are kept
/// per (stream, key). [`Partition::new`] derives it from the values, so the
/// same values always give the same key.
///
/// ```
/// use haul_extractor::Partition;
/// let p = Partition::new([("owner", "rust-lang"), ("repo", "rust")]);
/// assert_eq!(p.key(), "owner=rust-lang,repo=rust");
/// assert_eq!(p.get("repo"), Some("rust"));
/// let odd = Partition::new([("name", "a/b c")]);
/// assert_eq!(odd.key(), "name=a%2Fb%20c");
/// assert!(Partition::single().is_single());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Partition {
    key: String,
    values: BTreeMap<String, String>,
    /// Parent fields copied into each record (name → JSON text); not part
    /// of the key and not template values.
    included: BTreeMap<String, String>,
}

/// The prefix of the fields [`ParentLink::include`] adds to child records,
/// and of the stored values that carry them.
pub const INCLUDED_PREFIX: &str = "_parent_";

impl Partition {
    /// The only partition of an unpartitioned stream: empty key, no values.
    pub fn single() -> Self {
        Self {
            key: String::new(),
            values: BTreeMap::new(),
            included: BTreeMap::new(),
        }
    }

    /// A partition with these values; the key is `name=value` pairs in name
    /// order, joined by `,`, each value percent-encoded outside
    /// `A-Z a-z 0-9 - . _` (a key longer than 200 bytes is shortened to a
    /// prefix and a stable hash).
    pub fn new<I, K, V>(values: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let values: BTreeMap<String, String> = values
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        Self::from_values(values)
    }

    pub(crate) fn from_values(values: BTreeMap<String, String>) -> Self {
        if values.is_empty() {
            return Self::single();
        }
        Self {
            key: key::from_values(&values),
            values,
            included: BTreeMap::new(),
        }
    }

    /// A partition as stored in the sink: its key and values, the included
    /// parent fields among them under [`INCLUDED_PREFIX`].
    pub(crate) fn from_stored(key: String, stored: BTreeMap<String, String>) -> Self {
        let (included, values) = stored
            .into_iter()
            .partition::<BTreeMap<_, _>, _>(|(name, _)| name.starts_with(INCLUDED_PREFIX));
        let included = included
            .into_iter()
            .map(|(name, json)| (name[INCLUDED_PREFIX.len()..].to_owned(), json))
            .collect();
        Self {
            key,
            values,
            included,
        }
    }

    /// What the sink stores for this partition: its values and, under
    /// [`INCLUDED_PREFIX`], the included parent fields (so a resumed run
    /// still adds them).
    pub(crate) fn stored_values(&self) -> BTreeMap<String, String> {
        let mut stored = self.values.clone();
        for (name, json) in &self.included {
            stored.insert(format!("{INCLUDED_PREFIX}{name}"), json.clone());
        }
        stored
    }

    /// A partition with an explicit key (checked with
    /// [`haul_sink::check_partition_key`]).
    pub fn with_key<I, K, V>(key: impl Into<String>, values: I) -> Result<Self, crate::BuildError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let key = key.into();
        haul_sink::check_partition_key(&key)
            .map_err(|e| crate::BuildError::Invalid(e.to_string()))?;
        Ok(Self {
            key,
            values: values
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
            included: BTreeMap::new(),
        })
    }

    /// The stable key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The values, by name.
    pub fn values(&self) -> &BTreeMap<String, String> {
        &self.values
    }

    /// One value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// Whether this is the single partition of an unpartitioned stream.
    pub fn is_single(&self) -> bool {
        self.key.is_empty()
    }

    /// The parent fields copied into each record of this partition (see
    /// [`ParentLink::include`]): name → the field's JSON text.
    pub fn included(&self) -> &BTreeMap<String, String> {
        &self.included
    }

    /// `record` with this partition's included parent fields as its first
    /// fields, `"_parent_<name>": <value>`; the rest of its bytes stay as
    /// they came. A record that is not a JSON object is returned unchanged.
    pub(crate) fn include_into(&self, record: Record) -> Record {
        if self.included.is_empty() {
            return record;
        }
        let text = record.as_str();
        let Some(rest) = text.trim_start().strip_prefix('{') else {
            tracing::warn!(partition = %self.key, "a child record is not a JSON object: parent fields not included");
            return record;
        };
        let mut out = String::with_capacity(text.len() + 64);
        out.push('{');
        for (name, json) in &self.included {
            // A JSON string of the name: escapes whatever it holds.
            out.push_str(
                &serde_json::Value::String(format!("{INCLUDED_PREFIX}{name}")).to_string(),
            );
            out.push(':');
            out.push_str(json);
            out.push(',');
        }
        if rest.trim_start().starts_with('}') {
            out.pop();
        }
        out.push_str(rest);
        match RawValue::from_string(out) {
            Ok(raw) => Record::from_raw(raw),
            // Included values are JSON taken from a parsed record, and the
            // record is an object, so this does not happen; keep the record.
            Err(_) => record,
        }
    }
}

/// How a stream's partitions are made.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub enum Partitions {
    /// One partition (an unpartitioned stream): the default.
    #[default]
    Single,
    /// A fixed list (accounts, repositories).
    List(Vec<Partition>),
    /// Time windows between a start and an end.
    Windows(TimeWindows),
    /// One partition per record of a parent stream.
    Parent(ParentLink),
}

impl Partitions {
    /// A fixed list of partitions.
    pub fn list(partitions: impl IntoIterator<Item = Partition>) -> Self {
        Self::List(partitions.into_iter().collect())
    }

    /// The value names every partition has (what a template may name).
    pub fn value_names(&self) -> BTreeSet<String> {
        match self {
            Self::Single => BTreeSet::new(),
            Self::List(list) => {
                let mut sets = list
                    .iter()
                    .map(|p| p.values.keys().cloned().collect::<BTreeSet<_>>());
                let first = sets.next().unwrap_or_default();
                sets.fold(first, |acc, s| acc.intersection(&s).cloned().collect())
            }
            Self::Windows(w) => w.value_names(),
            Self::Parent(link) => link.fields.iter().map(|(n, _)| n.clone()).collect(),
        }
    }

    /// The parent stream, for [`Partitions::Parent`].
    pub fn parent(&self) -> Option<&str> {
        match self {
            Self::Parent(link) => Some(&link.parent),
            _ => None,
        }
    }
}

/// Partitions from the records of a parent stream: named fields of each
/// parent record (JSON pointers) become the child's values, added to the
/// values of the parent's own partition (so a grandchild knows both the
/// organisation and the repository).
///
/// ```
/// use haul_extractor::{ParentLink, Partition};
/// use haul_core::Record;
/// let link = ParentLink::new("repos").field("repo", "/name");
/// let org = Partition::new([("org", "acme")]);
/// let repo = Record::from_json(r#"{"id":7,"name":"rocket"}"#)?;
/// let child = link.child_of(&org, &repo).ok_or("the record has no name")?;
/// assert_eq!(child.key(), "org=acme,repo=rocket");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParentLink {
    parent: String,
    fields: Vec<(String, String)>,
    include: Vec<(String, String)>,
}

impl ParentLink {
    /// Children of the records of stream `parent`.
    pub fn new(parent: impl Into<String>) -> Self {
        Self {
            parent: parent.into(),
            fields: Vec::new(),
            include: Vec::new(),
        }
    }

    /// Copies the parent record's field at `pointer` into every record of
    /// the child partition, as field `_parent_<name>` placed first, with the
    /// parent's JSON value as it came (dlt's `include_from_parent`). A
    /// parent record without the field gives child records without it.
    /// The included values are stored with the partition, so a resumed run
    /// still adds them; they are not part of the partition key.
    ///
    /// ```
    /// use haul_extractor::{ParentLink, Partition};
    /// use haul_core::Record;
    /// let link = ParentLink::new("repos")
    ///     .field("repo", "/name")
    ///     .include("repo_id", "/id")
    ///     .include("owner", "/owner");
    /// let repo = Record::from_json(r#"{"id":7,"name":"rocket","owner":{"login":"acme"}}"#)?;
    /// let child = link
    ///     .child_of(&Partition::single(), &repo)
    ///     .ok_or("the record has no name")?;
    /// assert_eq!(child.key(), "repo=rocket");
    /// assert_eq!(child.included()["repo_id"], "7");
    /// assert_eq!(child.included()["owner"], r#"{"login":"acme"}"#);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn include(mut self, name: impl Into<String>, pointer: impl Into<String>) -> Self {
        self.include.push((name.into(), pointer.into()));
        self
    }

    /// The included parent fields: name and JSON pointer.
    pub fn included(&self) -> &[(String, String)] {
        &self.include
    }

    /// Takes value `name` from the parent record's field at `pointer`.
    pub fn field(mut self, name: impl Into<String>, pointer: impl Into<String>) -> Self {
        self.fields.push((name.into(), pointer.into()));
        self
    }

    /// The parent stream.
    pub fn parent(&self) -> &str {
        &self.parent
    }

    /// The named fields: value name and JSON pointer.
    pub fn fields(&self) -> &[(String, String)] {
        &self.fields
    }

    /// The child partition a parent record defines, or `None` when the
    /// record lacks one of the fields (or it is not a scalar).
    pub fn child_of(&self, parent: &Partition, record: &Record) -> Option<Partition> {
        let mut values = parent.values.clone();
        for (name, pointer) in &self.fields {
            let value = record.field(pointer).ok().flatten()?;
            values.insert(name.clone(), value);
        }
        let mut child = Partition::from_values(values);
        for (name, pointer) in &self.include {
            if let Ok(Some(raw)) = haul_core::json::pointer(record.as_str(), pointer) {
                child.included.insert(name.clone(), raw.get().to_owned());
            }
        }
        Some(child)
    }
}
