//! Partitions: the units a stream's work is split into, and where their
//! values come from (a fixed list, time windows, the records of a parent).

mod key;
mod template;
mod windows;

use std::collections::{BTreeMap, BTreeSet};

use haul_core::Record;

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
}

impl Partition {
    /// The only partition of an unpartitioned stream: empty key, no values.
    pub fn single() -> Self {
        Self {
            key: String::new(),
            values: BTreeMap::new(),
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
        }
    }

    /// A partition as stored in the sink: its key and values.
    pub(crate) fn from_stored(key: String, values: BTreeMap<String, String>) -> Self {
        Self { key, values }
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
/// let child = link.child_of(&org, &repo).expect("the record has a name");
/// assert_eq!(child.key(), "org=acme,repo=rocket");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParentLink {
    parent: String,
    fields: Vec<(String, String)>,
}

impl ParentLink {
    /// Children of the records of stream `parent`.
    pub fn new(parent: impl Into<String>) -> Self {
        Self {
            parent: parent.into(),
            fields: Vec::new(),
        }
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
        Some(Partition::from_values(values))
    }
}
