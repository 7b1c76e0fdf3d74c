//! [`JsonLinesSink`]: append-only JSON Lines files with a byte-offset checkpoint.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use haul_core::Checkpoint;
use serde::{Deserialize, Serialize};

use crate::{Batch, Sink, SinkError, max_watermark};

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
#[derive(Debug)]
pub struct JsonLinesSink {
    dir: PathBuf,
    fsync: bool,
    streams: Mutex<HashMap<String, Arc<Mutex<OpenStream>>>>,
}

#[derive(Debug)]
struct OpenStream {
    file: File,
    data_path: PathBuf,
    state_path: PathBuf,
    offset: u64,
    /// The checkpoint of the last committed batch: a batch carrying it again
    /// is a replay, and is not appended twice.
    committed: Option<Checkpoint>,
}

#[derive(Debug, Serialize, Deserialize)]
struct StateFile {
    offset: u64,
    checkpoint: Checkpoint,
}

impl JsonLinesSink {
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
            dir: dir.into(),
            fsync: true,
            streams: Mutex::default(),
        }
    }

    /// Turns `fsync` off (faster, but a power loss may lose committed batches;
    /// a process crash still cannot duplicate records).
    pub fn fsync(mut self, on: bool) -> Self {
        self.fsync = on;
        self
    }

    /// The data file of `stream`.
    pub fn data_path(&self, stream: &str) -> PathBuf {
        self.dir.join(format!("{stream}.jsonl"))
    }

    fn stream(&self, stream: &str) -> Result<Arc<Mutex<OpenStream>>, SinkError> {
        self.streams
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(stream)
            .cloned()
            .ok_or_else(|| SinkError::Usage(format!("stream {stream:?} written before open")))
    }
}

fn io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> SinkError + 'a {
    move |source| SinkError::Io {
        action,
        path: path.to_owned(),
        source,
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, SinkError> + Send + 'static,
) -> Result<T, SinkError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| SinkError::Worker(e.to_string()))?
}

fn open_stream(dir: &Path, stream: &str) -> Result<(OpenStream, Option<Checkpoint>), SinkError> {
    fs::create_dir_all(dir).map_err(io("creating directory", dir))?;
    let data_path = dir.join(format!("{stream}.jsonl"));
    let state_path = dir.join(format!("{stream}.state.json"));
    let state: Option<StateFile> = match fs::read(&state_path) {
        Ok(bytes) => Some(
            serde_json::from_slice(&bytes).map_err(|e| SinkError::Corrupt {
                path: state_path.clone(),
                reason: e.to_string(),
            })?,
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(io("reading", &state_path)(e)),
    };
    let file = OpenOptions::new()
        .create(true)
        .read(true)
        .append(true)
        .open(&data_path)
        .map_err(io("opening", &data_path))?;
    let len = file.metadata().map_err(io("inspecting", &data_path))?.len();
    let offset = state.as_ref().map_or(0, |s| s.offset);
    if len < offset {
        return Err(SinkError::Corrupt {
            path: data_path,
            reason: format!("file has {len} bytes but {offset} were committed"),
        });
    }
    if len > offset {
        tracing::warn!(
            path = %data_path.display(),
            dropped_bytes = len - offset,
            "dropping the uncommitted tail of a previous run"
        );
        file.set_len(offset).map_err(io("truncating", &data_path))?;
        file.sync_all().map_err(io("syncing", &data_path))?;
    }
    let committed = state.map(|s| s.checkpoint);
    Ok((
        OpenStream {
            file,
            data_path,
            state_path,
            offset,
            committed: committed.clone(),
        },
        committed,
    ))
}

/// Whether the committed part of the data file ends with `buf`.
fn ends_with(open: &OpenStream, buf: &[u8]) -> Result<bool, SinkError> {
    let len = buf.len() as u64;
    if len > open.offset {
        return Ok(false);
    }
    let mut file = File::open(&open.data_path).map_err(io("opening", &open.data_path))?;
    file.seek(SeekFrom::Start(open.offset - len))
        .map_err(io("seeking in", &open.data_path))?;
    let mut tail = vec![0; buf.len()];
    file.read_exact(&mut tail)
        .map_err(io("reading", &open.data_path))?;
    Ok(tail == buf)
}

fn commit(
    open: &mut OpenStream,
    buf: &[u8],
    cp: &Checkpoint,
    fsync: bool,
) -> Result<(), SinkError> {
    // Only mid-pass: a pass's final batch replayed cannot be told from a new
    // one-batch pass that ends the same way, which must be appended.
    if !cp.is_done() && open.committed.as_ref() == Some(cp) && ends_with(open, buf)? {
        tracing::debug!(path = %open.data_path.display(), pages = cp.pages,
            "batch already committed (a replay): not appended again");
        return Ok(());
    }
    open.file
        .write_all(buf)
        .map_err(io("appending to", &open.data_path))?;
    if fsync {
        open.file
            .sync_data()
            .map_err(io("syncing", &open.data_path))?;
    }
    let offset = open.offset + buf.len() as u64;
    let state = serde_json::to_vec(&StateFile {
        offset,
        checkpoint: cp.clone(),
    })
    .map_err(|e| SinkError::Corrupt {
        path: open.state_path.clone(),
        reason: e.to_string(),
    })?;
    let tmp = open.state_path.with_extension("json.tmp");
    {
        let mut f = File::create(&tmp).map_err(io("creating", &tmp))?;
        f.write_all(&state).map_err(io("writing", &tmp))?;
        if fsync {
            f.sync_all().map_err(io("syncing", &tmp))?;
        }
    }
    fs::rename(&tmp, &open.state_path).map_err(io("replacing", &open.state_path))?;
    if fsync && let Some(parent) = open.state_path.parent() {
        // Make the rename itself durable.
        File::open(parent)
            .and_then(|d| d.sync_all())
            .map_err(io("syncing directory", parent))?;
    }
    open.offset = offset;
    open.committed = Some(cp.clone());
    Ok(())
}

#[async_trait]
impl Sink for JsonLinesSink {
    async fn open(&self, stream: &str) -> Result<Option<Checkpoint>, SinkError> {
        crate::stream_name::check(stream)?;
        let dir = self.dir.clone();
        let name = stream.to_owned();
        let (open, checkpoint) = blocking(move || open_stream(&dir, &name)).await?;
        self.streams
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(stream.to_owned(), Arc::new(Mutex::new(open)));
        Ok(checkpoint)
    }

    async fn write(&self, batch: Batch<'_>) -> Result<(), SinkError> {
        let open = self.stream(batch.stream)?;
        let mut buf = Vec::with_capacity(batch.records.iter().map(|r| r.len() + 1).sum());
        for record in batch.records {
            let text = record.as_str().as_bytes();
            // Raw line breaks can only be whitespace in valid JSON (inside strings
            // they are escaped), so turning them into spaces keeps one record per line.
            if text.iter().any(|&b| b == b'\n' || b == b'\r') {
                buf.extend(
                    text.iter()
                        .map(|&b| if b == b'\n' || b == b'\r' { b' ' } else { b }),
                );
            } else {
                buf.extend_from_slice(text);
            }
            buf.push(b'\n');
        }
        let checkpoint = batch.checkpoint.clone();
        let fsync = self.fsync;
        blocking(move || {
            let mut open = open.lock().unwrap_or_else(PoisonError::into_inner);
            commit(&mut open, &buf, &checkpoint, fsync)
        })
        .await
    }

    async fn watermark(&self, stream: &str, pointer: &str) -> Result<Option<String>, SinkError> {
        let open = self.stream(stream)?;
        let pointer = pointer.to_owned();
        blocking(move || {
            let (path, offset) = {
                let open = open.lock().unwrap_or_else(PoisonError::into_inner);
                (open.data_path.clone(), open.offset)
            };
            let file = File::open(&path).map_err(io("reading", &path))?;
            let mut max = None;
            for line in BufReader::new(file.take(offset)).lines() {
                let line = line.map_err(io("reading", &path))?;
                if let Ok(Some(v)) = haul_core::json::scalar_at(&line, &pointer) {
                    max = max_watermark(max, v);
                }
            }
            Ok(max)
        })
        .await
    }

    async fn close(&self) -> Result<(), SinkError> {
        self.streams
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        Ok(())
    }
}
