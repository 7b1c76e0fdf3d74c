//! [`JsonLinesSink`]: append-only JSON Lines files with a byte-offset checkpoint.

mod line;
mod state;

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use haul_core::{Checkpoint, Record};

use self::state::{PartitionEntry, Registered, StateFile, io, load, store};
use crate::sink::check_partition_key;
use crate::{
    Batch, PartitionBatch, PartitionState, SINGLE_PARTITION, Sink, SinkError, max_watermark,
};

/// Writes each stream into a directory, as `<dir>/<stream>.jsonl`
/// ([`JsonLinesSink::in_dir`]), one record per line, exactly as the API sent
/// it (line breaks inside a pretty-printed record become spaces). The
/// directory holds one data file and one state file per stream, so several
/// streams can share it.
///
/// A batch is committed in two durable steps: append and `fsync` the records,
/// then atomically replace `<dir>/<stream>.state.json` (write a temporary file,
/// `fsync`, rename) with the byte offset reached and the checkpoint. On
/// [`open`](Sink::open), a data file longer than its committed offset is cut
/// back: a torn or uncommitted tail is dropped, so a replayed batch never
/// duplicates, without needing a primary key; a batch that did commit
/// mid-pass (its checkpoint is the committed one and the file ends with its
/// records) is not appended again.
///
/// # Partitions
///
/// Every partition of a stream goes to the stream's one file. A record of
/// a named partition carries the partition key as its first field,
/// [`PARTITION_FIELD`](Self::PARTITION_FIELD) (`"_partition"`, the SQLite
/// sink's column name), followed by the record's own bytes as they came:
/// `{"_partition":"org=acme","id":7,...}`. Such a record must be a JSON
/// object without a top-level `_partition` of its own (anything else is a
/// [`SinkError::Usage`]); records of the single partition are stored as
/// they came, untagged. A field rather than a sidecar file keeps each line
/// self-describing for `jq`, DuckDB or a warehouse loader, and keeps one
/// offset committing the whole file.
///
/// Each partition's checkpoint and values live in the stream's state file,
/// committed with the batch by the same atomic replace, so a crash at any
/// point loses or duplicates nothing, as for an unpartitioned stream; a
/// blind replay of a partition's last mid-pass batch is recognised by where
/// that batch sits in the file. Partitions a batch registers for another
/// stream (the children its records define) are committed in the batch's
/// state file as an outbox, then copied into the other stream's state
/// file; a process that dies in between finishes the copy when the sink is
/// next used, so a registration commits with its batch or not at all.
/// Streams must not register partitions of each other both ways.
///
/// ```
/// use haul_sink::{Batch, JsonLinesSink, Sink};
/// use haul_core::{Checkpoint, Record};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
/// let dir = tempfile::tempdir()?;
/// let sink = JsonLinesSink::in_dir(dir.path());
/// assert_eq!(sink.open("items").await?, None);
/// let recs = vec![Record::from_json(r#"{"id":1}"#)?];
/// let cp = Checkpoint::start("items");
/// sink.write(Batch { stream: "items", records: &recs, checkpoint: &cp }).await?;
/// assert_eq!(std::fs::read_to_string(dir.path().join("items.jsonl"))?, "{\"id\":1}\n");
/// assert_eq!(sink.open("items").await?, Some(cp));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// A partitioned stream:
///
/// ```
/// use std::collections::BTreeMap;
/// use haul_sink::{JsonLinesSink, PartitionBatch, Sink};
/// use haul_core::{Checkpoint, Record};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
/// let dir = tempfile::tempdir()?;
/// let sink = JsonLinesSink::in_dir(dir.path());
/// assert_eq!(sink.open_partition("repos", "org=acme").await?, None);
/// let recs = vec![Record::from_json(r#"{"id":1}"#)?];
/// let cp = Checkpoint::start("repos");
/// let values = BTreeMap::from([("org".to_owned(), "acme".to_owned())]);
/// sink.write_partition(PartitionBatch {
///     stream: "repos", partition: "org=acme", values: &values,
///     records: &recs, checkpoint: &cp, register: &[],
/// }).await?;
/// assert_eq!(
///     std::fs::read_to_string(dir.path().join("repos.jsonl"))?,
///     "{\"_partition\":\"org=acme\",\"id\":1}\n"
/// );
/// assert_eq!(sink.open_partition("repos", "org=acme").await?, Some(cp));
/// assert_eq!(sink.partitions("repos").await?[0].values, values);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct JsonLinesSink {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    dir: PathBuf,
    fsync: bool,
    streams: Mutex<HashMap<String, Arc<Mutex<OpenStream>>>>,
    /// Whether outboxes left by a process that died mid-commit were applied.
    recovered: Mutex<bool>,
}

#[derive(Debug)]
struct OpenStream {
    /// The data file, once opened (and its uncommitted tail cut); a stream
    /// only registered into has its state loaded and no file open.
    file: Option<File>,
    data_path: PathBuf,
    state_path: PathBuf,
    /// The committed state.
    state: StateFile,
}

type Slot = Arc<Mutex<OpenStream>>;

fn lock(slot: &Slot) -> std::sync::MutexGuard<'_, OpenStream> {
    // Every commit builds its new state before storing it, so a panic
    // cannot leave the in-memory state half-updated.
    slot.lock().unwrap_or_else(PoisonError::into_inner)
}

impl JsonLinesSink {
    /// The field that carries a record's partition key in a partitioned
    /// stream's file (see [Partitions](Self#partitions)).
    pub const PARTITION_FIELD: &'static str = line::PARTITION_FIELD;

    /// A sink writing into the directory `dir` (created on open): stream
    /// `s` goes to `<dir>/<s>.jsonl`, its checkpoint to `<dir>/<s>.state.json`.
    /// `dir` is a directory, never the data file itself.
    pub fn in_dir(dir: impl Into<PathBuf>) -> Self {
        Self::new(dir)
    }

    /// The same as [`in_dir`](Self::in_dir): `dir` is a directory, and each
    /// stream is written to `<dir>/<stream>.jsonl`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            shared: Arc::new(Shared {
                dir: dir.into(),
                fsync: true,
                streams: Mutex::default(),
                recovered: Mutex::new(false),
            }),
        }
    }

    /// Turns `fsync` off (faster, but a power loss may lose committed batches;
    /// a process crash still cannot duplicate records).
    pub fn fsync(self, on: bool) -> Self {
        Self {
            shared: Arc::new(Shared {
                dir: self.shared.dir.clone(),
                fsync: on,
                streams: Mutex::default(),
                recovered: Mutex::new(false),
            }),
        }
    }

    /// The data file of `stream`.
    pub fn data_path(&self, stream: &str) -> PathBuf {
        self.shared.dir.join(format!("{stream}.jsonl"))
    }

    /// Runs `f` on the shared state in a blocking task.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Shared) -> Result<T, SinkError> + Send + 'static,
    ) -> Result<T, SinkError> {
        let shared = Arc::clone(&self.shared);
        tokio::task::spawn_blocking(move || f(&shared))
            .await
            .map_err(|e| SinkError::Worker(e.to_string()))?
    }
}

impl Shared {
    fn paths(&self, stream: &str) -> (PathBuf, PathBuf) {
        (
            self.dir.join(format!("{stream}.jsonl")),
            self.dir.join(format!("{stream}.state.json")),
        )
    }

    fn streams(&self) -> std::sync::MutexGuard<'_, HashMap<String, Slot>> {
        self.streams.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The stream as opened by [`Sink::open`] (a plain write needs that).
    fn opened(&self, stream: &str) -> Result<Slot, SinkError> {
        // The map's lock is released before the slot's is taken: a commit
        // holds its slot while it looks up the streams it registers into.
        let slot = self.streams().get(stream).cloned();
        slot.filter(|s| lock(s).file.is_some())
            .ok_or_else(|| SinkError::Usage(format!("stream {stream:?} written before open")))
    }

    /// The stream's slot, its state loaded from disk if this is the first use.
    fn slot(&self, stream: &str) -> Result<Slot, SinkError> {
        crate::stream_name::check(stream)?;
        let mut streams = self.streams();
        if let Some(slot) = streams.get(stream) {
            return Ok(Arc::clone(slot));
        }
        let (data_path, state_path) = self.paths(stream);
        let slot = Arc::new(Mutex::new(OpenStream {
            file: None,
            state: load(&state_path)?.unwrap_or_default(),
            data_path,
            state_path,
        }));
        streams.insert(stream.to_owned(), Arc::clone(&slot));
        Ok(slot)
    }

    /// The stream's slot with its data file open.
    fn open_slot(&self, stream: &str) -> Result<Slot, SinkError> {
        let slot = self.slot(stream)?;
        {
            let mut open = lock(&slot);
            if open.file.is_none() {
                open.file = Some(open_data(&self.dir, &open.data_path, open.state.offset)?);
            }
        }
        Ok(slot)
    }

    /// (Re)opens a stream from disk, as [`Sink::open`] does.
    fn reopen(&self, stream: &str) -> Result<Option<Checkpoint>, SinkError> {
        crate::stream_name::check(stream)?;
        self.streams().remove(stream);
        let slot = self.open_slot(stream)?;
        let checkpoint = lock(&slot).state.checkpoint.clone();
        Ok(checkpoint)
    }

    /// Applies outboxes that a process dying mid-commit left unapplied;
    /// once per sink.
    fn recover(&self) -> Result<(), SinkError> {
        let mut recovered = self
            .recovered
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if *recovered {
            return Ok(());
        }
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                *recovered = true;
                return Ok(());
            }
            Err(e) => return Err(io("listing", &self.dir)(e)),
        };
        let mut sources = Vec::new();
        for entry in entries {
            let entry = entry.map_err(io("listing", &self.dir))?;
            let name = entry.file_name();
            if let Some(stream) = name.to_str().and_then(|n| n.strip_suffix(".state.json"))
                && crate::stream_name::check(stream).is_ok()
            {
                sources.push(stream.to_owned());
            }
        }
        sources.sort();
        for source in sources {
            let slot = self.slot(&source)?;
            let open = lock(&slot);
            if !open.state.outbox.is_empty() {
                self.deliver(&source, open.state.seq, &open.state.outbox)?;
            }
        }
        *recovered = true;
        Ok(())
    }

    /// Copies `source`'s outbox number `seq` into each target stream's
    /// state file, unless it is there already.
    fn deliver(&self, source: &str, seq: u64, outbox: &[Registered]) -> Result<(), SinkError> {
        let mut by_stream: BTreeMap<&str, Vec<&Registered>> = BTreeMap::new();
        for r in outbox {
            by_stream.entry(r.stream.as_str()).or_default().push(r);
        }
        for (target, states) in by_stream {
            let slot = self.slot(target)?;
            let mut open = lock(&slot);
            if open.state.applied.get(source).is_some_and(|&s| s >= seq) {
                continue;
            }
            let mut next = open.state.clone();
            for r in states {
                next.set(&r.partition, &r.values, &r.checkpoint);
            }
            next.applied.insert(source.to_owned(), seq);
            store(&open.state_path, &next, self.fsync)?;
            open.state = next;
        }
        Ok(())
    }

    /// Commits `buf` (the batch's lines) to `stream` with the new state of
    /// `partition`, and the registrations; `last_batch` tracking lets a
    /// replay of a named partition's last mid-pass batch be skipped.
    fn commit(&self, stream: &str, commit: Commit) -> Result<(), SinkError> {
        let slot = if commit.data {
            self.open_slot(stream)?
        } else {
            self.slot(stream)?
        };
        let mut open = lock(&slot);
        if !open.state.outbox.is_empty() {
            // Delivered already unless that failed: this commit replaces it.
            self.deliver(stream, open.state.seq, &open.state.outbox)?;
        }
        if let Some((partition, checkpoint)) = &commit.own
            && !checkpoint.is_done()
            && is_replay(&open, partition, checkpoint, &commit.buf)?
        {
            tracing::debug!(path = %open.data_path.display(), partition = %partition, pages = checkpoint.pages,
                "batch already committed (a replay): not appended again");
            return Ok(());
        }
        let start = open.state.offset;
        if !commit.buf.is_empty() {
            let path = open.data_path.clone();
            let file = open.file.as_mut().ok_or_else(|| {
                SinkError::Usage(format!("stream {stream:?} written before open"))
            })?;
            file.write_all(&commit.buf)
                .map_err(io("appending to", &path))?;
            if self.fsync {
                file.sync_data().map_err(io("syncing", &path))?;
            }
        }
        let mut next = open.state.clone();
        next.offset = start + commit.buf.len() as u64;
        if let Some((partition, checkpoint)) = &commit.own {
            next.set(partition, &commit.values, checkpoint);
            if let Some(entry) = next.partitions.get_mut(partition.as_str()) {
                entry.last_batch = Some([start, next.offset]);
            }
        }
        let mut outbox = Vec::new();
        for state in commit.register {
            if state.stream == stream {
                next.set(&state.partition, &state.values, &state.checkpoint);
            } else {
                outbox.push(Registered::from(state));
            }
        }
        if !outbox.is_empty() {
            next.seq += 1;
        }
        // The previous outbox is delivered (above), so replacing it loses nothing.
        next.outbox = outbox;
        store(&open.state_path, &next, self.fsync)?;
        open.state = next;
        if !open.state.outbox.is_empty() {
            self.deliver(stream, open.state.seq, &open.state.outbox)?;
        }
        Ok(())
    }
}

/// One commit: the lines, the partition they belong to and its new state,
/// and partition states to register.
struct Commit<'a> {
    /// Whether the commit writes the data file (it needs opening then).
    data: bool,
    buf: Vec<u8>,
    own: Option<(String, Checkpoint)>,
    values: BTreeMap<String, String>,
    register: &'a [PartitionState],
}

/// Whether `buf` with `checkpoint` is the partition's last committed batch,
/// written again.
fn is_replay(
    open: &OpenStream,
    partition: &str,
    checkpoint: &Checkpoint,
    buf: &[u8],
) -> Result<bool, SinkError> {
    if partition == SINGLE_PARTITION {
        // Only mid-pass: a pass's final batch replayed cannot be told from a
        // new one-batch pass that ends the same way, which must be appended.
        if open.state.checkpoint.as_ref() != Some(checkpoint) {
            return Ok(false);
        }
        let len = buf.len() as u64;
        return Ok(
            len <= open.state.offset && bytes_at(&open.data_path, open.state.offset - len, buf)?
        );
    }
    match open.state.partitions.get(partition) {
        Some(PartitionEntry {
            checkpoint: stored,
            last_batch: Some([start, end]),
            ..
        }) if stored == checkpoint && end - start == buf.len() as u64 => {
            bytes_at(&open.data_path, *start, buf)
        }
        _ => Ok(false),
    }
}

/// Whether the data file holds `buf` at `at`.
fn bytes_at(path: &Path, at: u64, buf: &[u8]) -> Result<bool, SinkError> {
    let mut file = File::open(path).map_err(io("opening", path))?;
    file.seek(SeekFrom::Start(at))
        .map_err(io("seeking in", path))?;
    let mut found = vec![0; buf.len()];
    match file.read_exact(&mut found) {
        Ok(()) => Ok(found == buf),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(io("reading", path)(e)),
    }
}

/// Opens a data file for appending and cuts anything past the committed
/// `offset` (a torn or uncommitted tail of a previous run).
fn open_data(dir: &Path, data_path: &Path, offset: u64) -> Result<File, SinkError> {
    fs::create_dir_all(dir).map_err(io("creating directory", dir))?;
    let file = OpenOptions::new()
        .create(true)
        .read(true)
        .append(true)
        .open(data_path)
        .map_err(io("opening", data_path))?;
    let len = file.metadata().map_err(io("inspecting", data_path))?.len();
    if len < offset {
        return Err(SinkError::Corrupt {
            path: data_path.to_owned(),
            reason: format!("file has {len} bytes but {offset} were committed"),
        });
    }
    if len > offset {
        tracing::warn!(
            path = %data_path.display(),
            dropped_bytes = len - offset,
            "dropping the uncommitted tail of a previous run"
        );
        file.set_len(offset).map_err(io("truncating", data_path))?;
        file.sync_all().map_err(io("syncing", data_path))?;
    }
    Ok(file)
}

/// The lines of a batch.
fn lines(stream: &str, records: &[Record], partition: &str) -> Result<Vec<u8>, SinkError> {
    let tag = (partition != SINGLE_PARTITION).then_some(partition);
    let mut buf = Vec::with_capacity(
        records
            .iter()
            .map(|r| r.len() + 1 + tag.map_or(0, |t| t.len() + 16))
            .sum(),
    );
    for record in records {
        line::push(&mut buf, stream, record, tag)?;
    }
    Ok(buf)
}

/// The maximum of `pointer` over the committed lines of `slot` that `keep`.
fn scan_watermark(
    slot: &Slot,
    pointer: &str,
    keep: impl Fn(&str) -> bool,
) -> Result<Option<String>, SinkError> {
    let (path, offset) = {
        let open = lock(slot);
        (open.data_path.clone(), open.state.offset)
    };
    let file = match File::open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io("reading", &path)(e)),
    };
    let mut max = None;
    for line in BufReader::new(file.take(offset)).lines() {
        let line = line.map_err(io("reading", &path))?;
        if !keep(&line) {
            continue;
        }
        if let Ok(Some(v)) = haul_core::json::scalar_at(&line, pointer) {
            max = max_watermark(max, v);
        }
    }
    Ok(max)
}

#[async_trait]
impl Sink for JsonLinesSink {
    async fn open(&self, stream: &str) -> Result<Option<Checkpoint>, SinkError> {
        crate::stream_name::check(stream)?;
        let name = stream.to_owned();
        self.blocking(move |shared| {
            shared.recover()?;
            shared.reopen(&name)
        })
        .await
    }

    async fn write(&self, batch: Batch<'_>) -> Result<(), SinkError> {
        // Checked up front: writing needs the stream opened.
        self.shared.opened(batch.stream)?;
        let buf = lines(batch.stream, batch.records, SINGLE_PARTITION)?;
        let stream = batch.stream.to_owned();
        let checkpoint = batch.checkpoint.clone();
        self.blocking(move |shared| {
            shared.commit(
                &stream,
                Commit {
                    data: true,
                    buf,
                    own: Some((SINGLE_PARTITION.to_owned(), checkpoint)),
                    values: BTreeMap::new(),
                    register: &[],
                },
            )
        })
        .await
    }

    async fn watermark(&self, stream: &str, pointer: &str) -> Result<Option<String>, SinkError> {
        let slot = self.shared.opened(stream)?;
        let pointer = pointer.to_owned();
        self.blocking(move |_| scan_watermark(&slot, &pointer, |_| true))
            .await
    }

    async fn close(&self) -> Result<(), SinkError> {
        self.shared.streams().clear();
        Ok(())
    }

    async fn open_partition(
        &self,
        stream: &str,
        partition: &str,
    ) -> Result<Option<Checkpoint>, SinkError> {
        check_partition_key(partition)?;
        if partition == SINGLE_PARTITION {
            return self.open(stream).await;
        }
        let (name, key) = (stream.to_owned(), partition.to_owned());
        self.blocking(move |shared| {
            shared.recover()?;
            let slot = shared.open_slot(&name)?;
            let checkpoint = lock(&slot)
                .state
                .partitions
                .get(&key)
                .map(|e| e.checkpoint.clone());
            Ok(checkpoint)
        })
        .await
    }

    async fn write_partition(&self, batch: PartitionBatch<'_>) -> Result<(), SinkError> {
        check_partition_key(batch.partition)?;
        for state in batch.register {
            crate::stream_name::check(&state.stream)?;
            check_partition_key(&state.partition)?;
        }
        if batch.partition == SINGLE_PARTITION && batch.register.is_empty() {
            return self
                .write(Batch {
                    stream: batch.stream,
                    records: batch.records,
                    checkpoint: batch.checkpoint,
                })
                .await;
        }
        let buf = lines(batch.stream, batch.records, batch.partition)?;
        let stream = batch.stream.to_owned();
        let own = Some((batch.partition.to_owned(), batch.checkpoint.clone()));
        let values = batch.values.clone();
        let register = batch.register.to_vec();
        self.blocking(move |shared| {
            shared.recover()?;
            shared.commit(
                &stream,
                Commit {
                    data: true,
                    buf,
                    own,
                    values,
                    register: &register,
                },
            )
        })
        .await
    }

    async fn partition_watermark(
        &self,
        stream: &str,
        partition: &str,
        pointer: &str,
    ) -> Result<Option<String>, SinkError> {
        if partition == SINGLE_PARTITION {
            return self.watermark(stream, pointer).await;
        }
        check_partition_key(partition)?;
        let (name, key, pointer) = (stream.to_owned(), partition.to_owned(), pointer.to_owned());
        self.blocking(move |shared| {
            let slot = shared.slot(&name)?;
            scan_watermark(&slot, &pointer, |l| line::is_of(l, &key))
        })
        .await
    }

    async fn partitions(&self, stream: &str) -> Result<Vec<PartitionState>, SinkError> {
        let name = stream.to_owned();
        self.blocking(move |shared| {
            shared.recover()?;
            let slot = shared.slot(&name)?;
            let listed = lock(&slot).state.listed(&name);
            Ok(listed)
        })
        .await
    }

    async fn write_state(&self, states: &[PartitionState]) -> Result<(), SinkError> {
        let Some(home) = states.first() else {
            return Ok(());
        };
        for state in states {
            crate::stream_name::check(&state.stream)?;
            check_partition_key(&state.partition)?;
        }
        // One atomic commit of the first state's stream; states of other
        // streams go through its outbox.
        let stream = home.stream.clone();
        let register = states.to_vec();
        self.blocking(move |shared| {
            shared.recover()?;
            shared.commit(
                &stream,
                Commit {
                    data: false,
                    buf: Vec::new(),
                    own: None,
                    values: BTreeMap::new(),
                    register: &register,
                },
            )
        })
        .await
    }
}
