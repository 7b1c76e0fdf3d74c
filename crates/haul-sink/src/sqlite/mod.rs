//! [`SqliteSink`]: the embedded default sink, one SQLite table per stream.

mod config;
mod ops;
mod schema;
mod value;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use haul_core::Checkpoint;
use rusqlite::Connection;

use crate::StreamConfig;
pub use config::Synchronous;
use schema::Layout;

use crate::sink::check_partition_key;
use crate::{Batch, PartitionBatch, PartitionState, SINGLE_PARTITION, Sink, SinkError};
use ops::StateRow;

/// Stores each stream in a table of a SQLite database (compiled in; no
/// system library needed), upserting by primary key.
///
/// - **Tables**: one per stream, named after it, with a `TEXT` column per
///   primary-key field (named after its pointer: `/id` → `id`), an indexed
///   `_watermark` column when [`StreamConfig::watermark`] is set, and
///   `_record`: the record's JSON text byte for byte as received, and
///   `_partition`: the key of the partition the record came from (`''` for
///   an unpartitioned stream). All partitions of a stream share its table;
///   the primary key is the record's own, so a record delivered by two
///   partitions is stored once, tagged with the last one.
///   Streams not configured with [`stream`](Self::stream) use
///   [`StreamConfig::new`]: primary key `/id`, no watermark column.
/// - **Exactly once**: records and checkpoint (in table `_haul_state`) are
///   written in one transaction (a named partition's state, with its values,
///   in `_haul_partition_state`), so after any crash [`open`](Sink::open)
///   returns the checkpoint matching exactly the rows present; and a keyed
///   stream upserts, so even a batch replayed after it committed leaves one
///   row per key (last write wins). A record lacking its key fails the
///   batch with [`SinkError::MissingKey`] and nothing of it is written.
/// - **Durability**: WAL mode, [`Synchronous::Normal`] unless opened with
///   [`open_with`](Self::open_with); see [`Synchronous`] for what each
///   survives.
/// - **Watermarks**: for the configured watermark pointer, an index lookup;
///   numbers (JSON numbers or numeric strings) compare numerically, text as
///   text (RFC 3339 UTC timestamps in one format sort correctly), and text
///   ranks above numbers if a column mixes them. Other pointers scan the
///   stream and compare as [`max_watermark`](crate::max_watermark).
/// - **Threads**: opening the database is a short blocking call; every other
///   operation runs on tokio's blocking pool, with one connection behind a mutex.
///
/// ```
/// use haul_sink::{Batch, Sink, SqliteSink, StreamConfig};
/// use haul_core::{Checkpoint, Record};
/// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
/// let dir = tempfile::tempdir()?;
/// let sink = SqliteSink::open(dir.path().join("haul.db"))?
///     .stream(StreamConfig::new("items").primary_key(["/id"]).watermark("/updated_at"));
/// // `SqliteSink::open(path)` opens the database; `sink.open(stream)` is `Sink::open`.
/// assert_eq!(sink.open("items").await?, None);
/// let recs = vec![
///     Record::from_json(r#"{"id":1,"updated_at":"2026-01-02T00:00:00Z"}"#)?,
///     Record::from_json(r#"{"id":2,"updated_at":"2026-01-03T00:00:00Z"}"#)?,
/// ];
/// let cp = Checkpoint::start("items");
/// sink.write(Batch { stream: "items", records: &recs, checkpoint: &cp }).await?;
/// sink.write(Batch { stream: "items", records: &recs, checkpoint: &cp }).await?; // a replay
/// assert_eq!(sink.count("items").await?, 2);
/// assert_eq!(
///     sink.watermark("items", "/updated_at").await?.as_deref(),
///     Some("2026-01-03T00:00:00Z")
/// );
/// assert_eq!(sink.open("items").await?, Some(cp));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct SqliteSink {
    path: PathBuf,
    db: Arc<Mutex<Option<Connection>>>,
    configs: HashMap<String, StreamConfig>,
    open: Mutex<HashMap<String, Arc<Layout>>>,
}

impl SqliteSink {
    /// Opens (or creates, with its parent directory) the database at `path`
    /// with [`Synchronous::Normal`].
    pub fn open(path: impl AsRef<Path>) -> Result<Self, SinkError> {
        Self::open_with(path, Synchronous::Normal)
    }

    /// Opens (or creates) the database at `path` with the given sync level.
    pub fn open_with(path: impl AsRef<Path>, synchronous: Synchronous) -> Result<Self, SinkError> {
        let path = path.as_ref().to_owned();
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| SinkError::Io {
                action: "creating directory",
                path: parent.to_owned(),
                source,
            })?;
        }
        let conn = Connection::open(&path).map_err(ops::db("opening", &path))?;
        Self::from_connection(conn, path, synchronous)
    }

    /// A private in-memory database, gone when the sink is dropped (for tests).
    pub fn open_in_memory() -> Result<Self, SinkError> {
        let path = PathBuf::from(":memory:");
        let conn = Connection::open_in_memory().map_err(ops::db("opening", &path))?;
        Self::from_connection(conn, path, Synchronous::Normal)
    }

    fn from_connection(
        conn: Connection,
        path: PathBuf,
        synchronous: Synchronous,
    ) -> Result<Self, SinkError> {
        ops::setup(&conn, &path, synchronous.pragma())?;
        Ok(Self {
            path,
            db: Arc::new(Mutex::new(Some(conn))),
            configs: HashMap::new(),
            open: Mutex::default(),
        })
    }

    /// Configures one stream (its primary key and watermark column); it
    /// applies from the stream's first [`open`](Sink::open), and must stay the
    /// same for the life of the database.
    pub fn stream(mut self, config: StreamConfig) -> Self {
        self.configs.insert(config.name.clone(), config);
        self
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How many records `stream` holds (0 for a stream never opened).
    pub async fn count(&self, stream: &str) -> Result<u64, SinkError> {
        schema::check_stream(stream)?;
        let stream = stream.to_owned();
        self.run(move |conn, path| ops::count(conn, path, &stream))
            .await
    }

    /// The JSON text of every record of `stream`, in first-insertion order
    /// (an upsert keeps the position of the row it replaces).
    pub async fn records(&self, stream: &str) -> Result<Vec<String>, SinkError> {
        schema::check_stream(stream)?;
        let stream = stream.to_owned();
        self.run(move |conn, path| ops::records(conn, path, &stream))
            .await
    }

    /// The JSON text of every record of `stream` with its partition key, in
    /// first-insertion order.
    pub async fn tagged_records(&self, stream: &str) -> Result<Vec<(String, String)>, SinkError> {
        schema::check_stream(stream)?;
        let stream = stream.to_owned();
        self.run(move |conn, path| ops::tagged_records(conn, path, &stream))
            .await
    }

    /// The committed checkpoint of `stream`, without opening it.
    pub async fn checkpoint(&self, stream: &str) -> Result<Option<Checkpoint>, SinkError> {
        schema::check_stream(stream)?;
        let stream = stream.to_owned();
        self.run(move |conn, path| ops::read_checkpoint(conn, path, &stream))
            .await
    }

    fn state_rows(&self, states: &[PartitionState]) -> Result<Vec<StateRow>, SinkError> {
        states
            .iter()
            .map(|state| {
                check_partition_key(&state.partition)?;
                StateRow::from_state(state, &self.path)
            })
            .collect()
    }

    fn layout(&self, stream: &str) -> Result<Arc<Layout>, SinkError> {
        self.open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(stream)
            .cloned()
            .ok_or_else(|| SinkError::Usage(format!("stream {stream:?} written before open")))
    }

    /// Runs `f` on the blocking pool with the connection locked.
    async fn run<T, F>(&self, f: F) -> Result<T, SinkError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection, &Path) -> Result<T, SinkError> + Send + 'static,
    {
        let db = Arc::clone(&self.db);
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            // A panic inside `f` rolled its transaction back while unwinding,
            // so the connection behind a poisoned lock is still consistent.
            let mut guard = db.lock().unwrap_or_else(PoisonError::into_inner);
            let conn = guard.as_mut().ok_or_else(|| {
                SinkError::Usage(format!("SQLite sink {} used after close", path.display()))
            })?;
            f(conn, &path)
        })
        .await
        .map_err(|e| SinkError::Worker(e.to_string()))?
    }
}

#[async_trait]
impl Sink for SqliteSink {
    async fn open(&self, stream: &str) -> Result<Option<Checkpoint>, SinkError> {
        let config = self
            .configs
            .get(stream)
            .cloned()
            .unwrap_or_else(|| StreamConfig::new(stream));
        let layout = Arc::new(Layout::new(&config)?);
        let for_worker = Arc::clone(&layout);
        let checkpoint = self
            .run(move |conn, path| ops::open_stream(conn, path, &for_worker))
            .await?;
        self.open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(stream.to_owned(), layout);
        Ok(checkpoint)
    }

    async fn write(&self, batch: Batch<'_>) -> Result<(), SinkError> {
        self.write_partition(PartitionBatch::single(batch)).await
    }

    async fn watermark(&self, stream: &str, pointer: &str) -> Result<Option<String>, SinkError> {
        schema::check_stream(stream)?;
        let stream = stream.to_owned();
        let pointer = pointer.to_owned();
        self.run(move |conn, path| ops::watermark(conn, path, &stream, None, &pointer))
            .await
    }

    async fn open_partition(
        &self,
        stream: &str,
        partition: &str,
    ) -> Result<Option<Checkpoint>, SinkError> {
        check_partition_key(partition)?;
        let single = self.open(stream).await?;
        if partition == SINGLE_PARTITION {
            return Ok(single);
        }
        let (stream, partition) = (stream.to_owned(), partition.to_owned());
        self.run(move |conn, path| ops::read_partition_checkpoint(conn, path, &stream, &partition))
            .await
    }

    async fn write_partition(&self, batch: PartitionBatch<'_>) -> Result<(), SinkError> {
        check_partition_key(batch.partition)?;
        let layout = self.layout(batch.stream)?;
        let records: Vec<String> = batch
            .records
            .iter()
            .map(|r| r.as_str().to_owned())
            .collect();
        let own = StateRow::from_state(
            &PartitionState {
                stream: batch.stream.to_owned(),
                partition: batch.partition.to_owned(),
                values: batch.values.clone(),
                checkpoint: batch.checkpoint.clone(),
            },
            &self.path,
        )?;
        let register = self.state_rows(batch.register)?;
        // A pass's final batch replayed cannot be told from a new one-batch
        // pass ending the same way: only a batch mid-pass is a sure replay.
        let mid_pass = !batch.checkpoint.is_done();
        self.run(move |conn, path| {
            ops::write_batch(conn, path, &layout, &records, &own, &register, mid_pass)
        })
        .await
    }

    async fn partition_watermark(
        &self,
        stream: &str,
        partition: &str,
        pointer: &str,
    ) -> Result<Option<String>, SinkError> {
        schema::check_stream(stream)?;
        check_partition_key(partition)?;
        let (stream, partition, pointer) =
            (stream.to_owned(), partition.to_owned(), pointer.to_owned());
        self.run(move |conn, path| ops::watermark(conn, path, &stream, Some(&partition), &pointer))
            .await
    }

    async fn partitions(&self, stream: &str) -> Result<Vec<PartitionState>, SinkError> {
        let stream = stream.to_owned();
        self.run(move |conn, path| ops::partitions(conn, path, &stream))
            .await
    }

    async fn write_state(&self, states: &[PartitionState]) -> Result<(), SinkError> {
        let rows = self.state_rows(states)?;
        self.run(move |conn, path| ops::write_states(conn, path, &rows))
            .await
    }

    async fn close(&self) -> Result<(), SinkError> {
        self.open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        let db = Arc::clone(&self.db);
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            let conn = db.lock().unwrap_or_else(PoisonError::into_inner).take();
            match conn {
                // Closing the last connection checkpoints the WAL into the database.
                Some(conn) => conn.close().map_err(|(_, e)| ops::db("closing", &path)(e)),
                None => Ok(()),
            }
        })
        .await
        .map_err(|e| SinkError::Worker(e.to_string()))?
    }
}
