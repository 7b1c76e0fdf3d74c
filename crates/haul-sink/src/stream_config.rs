//! [`StreamConfig`]: how a stream is laid out in a table-backed sink.

/// How one stream is stored: its primary key and its watermark column.
///
/// The default, also used for streams the sink was not told about, is a
/// primary key at `/id` and no watermark column.
///
/// ```
/// use haul_sink::StreamConfig;
/// let orders = StreamConfig::new("orders")
///     .primary_key(["/shop", "/order_id"])
///     .watermark("/updated_at");
/// assert_eq!(orders.keys(), ["/shop", "/order_id"]);
/// assert_eq!(orders.watermark_pointer(), Some("/updated_at"));
/// let events = StreamConfig::new("events").append_only();
/// assert!(events.keys().is_empty());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamConfig {
    pub(crate) name: String,
    pub(crate) keys: Vec<String>,
    pub(crate) watermark: Option<String>,
}

impl StreamConfig {
    /// The configuration of `stream`: primary key `/id`, no watermark column.
    pub fn new(stream: impl Into<String>) -> Self {
        Self {
            name: stream.into(),
            keys: vec!["/id".to_owned()],
            watermark: None,
        }
    }

    /// Upserts by the fields at these JSON pointers (one, or several for a
    /// composite key). Each becomes a `TEXT` column named after the pointer
    /// without its leading `/`; a record lacking any of them is rejected.
    pub fn primary_key<I, S>(mut self, pointers: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.keys = pointers.into_iter().map(Into::into).collect();
        self
    }

    /// Appends without a primary key. Exactly-once then rests on the
    /// checkpoint alone, as for JSON Lines: records and checkpoint commit in
    /// one transaction, so a run that resumes from the checkpoint
    /// [`open`](crate::Sink::open) returns never re-sends committed records;
    /// a caller that blindly re-writes a committed batch duplicates it.
    pub fn append_only(mut self) -> Self {
        self.keys.clear();
        self
    }

    /// Keeps the field at `pointer` in an indexed column, so
    /// [`watermark`](crate::Sink::watermark) for it is an index lookup
    /// instead of a scan.
    pub fn watermark(mut self, pointer: impl Into<String>) -> Self {
        self.watermark = Some(pointer.into());
        self
    }

    /// The stream this configuration is for.
    pub fn stream(&self) -> &str {
        &self.name
    }

    /// The primary-key pointers (empty when append-only).
    pub fn keys(&self) -> &[String] {
        &self.keys
    }

    /// The pointer of the indexed watermark column, if any.
    pub fn watermark_pointer(&self) -> Option<&str> {
        self.watermark.as_deref()
    }
}
