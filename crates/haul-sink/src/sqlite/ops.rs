//! The blocking work of [`SqliteSink`](super::SqliteSink), each run on tokio's
//! blocking pool with the connection locked.

use std::path::Path;

use haul_core::Checkpoint;
use haul_core::json::{members_at, scalar, scalar_at};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

use super::schema::{self, Layout, UPSERT_PARTITION_STATE, UPSERT_STATE, quote};
use super::value::watermark_value;
use crate::{PartitionState, SINGLE_PARTITION, SinkError, max_watermark};

/// A partition state serialized for `_haul_partition_state`.
#[derive(Debug, Clone)]
pub(crate) struct StateRow {
    pub(crate) stream: String,
    pub(crate) partition: String,
    pub(crate) values: String,
    pub(crate) checkpoint: String,
}

impl StateRow {
    pub(crate) fn from_state(state: &PartitionState, path: &Path) -> Result<Self, SinkError> {
        let corrupt = |e: serde_json::Error| SinkError::Corrupt {
            path: path.to_owned(),
            reason: format!(
                "state of partition {:?} of stream {:?}: {e}",
                state.partition, state.stream
            ),
        };
        Ok(Self {
            stream: state.stream.clone(),
            partition: state.partition.clone(),
            values: serde_json::to_string(&state.values).map_err(corrupt)?,
            checkpoint: serde_json::to_string(&state.checkpoint).map_err(corrupt)?,
        })
    }
}

/// Writes partition states (the single partition into `_haul_state`) inside `tx`.
fn store_states(
    tx: &rusqlite::Transaction<'_>,
    path: &Path,
    rows: &[StateRow],
) -> Result<(), SinkError> {
    for row in rows {
        if row.partition == SINGLE_PARTITION {
            tx.prepare_cached(UPSERT_STATE)
                .and_then(|mut stmt| stmt.execute((&row.stream, &row.checkpoint)))
                .map_err(db("writing a checkpoint", path))?;
        } else {
            tx.prepare_cached(UPSERT_PARTITION_STATE)
                .and_then(|mut stmt| {
                    stmt.execute((&row.stream, &row.partition, &row.values, &row.checkpoint))
                })
                .map_err(db("writing a partition state", path))?;
        }
    }
    Ok(())
}

/// Stores partition states without records, in one transaction.
pub(crate) fn write_states(
    conn: &mut Connection,
    path: &Path,
    rows: &[StateRow],
) -> Result<(), SinkError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db("starting a transaction", path))?;
    store_states(&tx, path, rows)?;
    tx.commit().map_err(db("committing partition states", path))
}

/// The committed checkpoint of a named partition.
pub(crate) fn read_partition_checkpoint(
    conn: &Connection,
    path: &Path,
    stream: &str,
    partition: &str,
) -> Result<Option<Checkpoint>, SinkError> {
    if partition == SINGLE_PARTITION {
        return read_checkpoint(conn, path, stream);
    }
    let text: Option<String> = conn
        .prepare_cached(
            "SELECT checkpoint FROM _haul_partition_state WHERE stream = ?1 AND partition = ?2",
        )
        .and_then(|mut stmt| stmt.query_row([stream, partition], |r| r.get(0)).optional())
        .map_err(db("reading a partition checkpoint", path))?;
    text.map(|text| {
        serde_json::from_str(&text).map_err(|e| SinkError::Corrupt {
            path: path.to_owned(),
            reason: format!("checkpoint of partition {partition:?} of stream {stream:?}: {e}"),
        })
    })
    .transpose()
}

/// Every named partition state of `stream`, in key order.
pub(crate) fn partitions(
    conn: &Connection,
    path: &Path,
    stream: &str,
) -> Result<Vec<PartitionState>, SinkError> {
    let rows: Vec<(String, String, String)> = conn
        .prepare_cached(
            "SELECT partition, vals, checkpoint FROM _haul_partition_state \
             WHERE stream = ?1 ORDER BY partition",
        )
        .and_then(|mut stmt| {
            stmt.query_map([stream], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect()
        })
        .map_err(db("listing partitions", path))?;
    rows.into_iter()
        .map(|(partition, values, checkpoint)| {
            let corrupt = |e: serde_json::Error| SinkError::Corrupt {
                path: path.to_owned(),
                reason: format!("state of partition {partition:?} of stream {stream:?}: {e}"),
            };
            Ok(PartitionState {
                stream: stream.to_owned(),
                values: serde_json::from_str(&values).map_err(corrupt)?,
                checkpoint: serde_json::from_str(&checkpoint).map_err(corrupt)?,
                partition,
            })
        })
        .collect()
}

/// Maps a SQLite error to [`SinkError::Database`].
pub(crate) fn db(action: &'static str, path: &Path) -> impl FnOnce(rusqlite::Error) -> SinkError {
    // The path is copied only on error: this runs per bound parameter.
    move |e| SinkError::Database {
        action,
        path: path.to_owned(),
        source: Box::new(e),
    }
}

/// Opens the connection and prepares it: WAL, the requested sync level and haul's tables.
pub(crate) fn setup(conn: &Connection, path: &Path, synchronous: &str) -> Result<(), SinkError> {
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(db("setting the busy timeout", path))?;
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .map_err(db("switching to WAL mode", path))?;
    if !mode.eq_ignore_ascii_case("wal") && !mode.eq_ignore_ascii_case("memory") {
        tracing::warn!(path = %path.display(), mode, "SQLite refused WAL mode");
    }
    conn.pragma_update(None, "synchronous", synchronous)
        .map_err(db("setting the sync level", path))?;
    conn.set_prepared_statement_cache_capacity(64);
    conn.execute_batch(schema::META_DDL)
        .map_err(db("creating haul's state tables", path))
}

/// Creates the stream's table on first use (checking that its layout did not
/// change since) and reads its committed checkpoint.
pub(crate) fn open_stream(
    conn: &mut Connection,
    path: &Path,
    layout: &Layout,
) -> Result<Option<Checkpoint>, SinkError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db("starting a transaction", path))?;
    // Table names ignore ASCII case in SQLite, so look for any spelling.
    let known: Vec<(String, String, Option<String>)> = tx
        .prepare_cached(
            "SELECT stream, primary_key, watermark FROM _haul_streams \
             WHERE stream = ?1 COLLATE NOCASE",
        )
        .and_then(|mut stmt| {
            stmt.query_map([&layout.stream], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect()
        })
        .map_err(db("reading stream layouts", path))?;
    match known.iter().find(|(name, ..)| *name == layout.stream) {
        Some((_, keys, watermark)) => {
            add_partition_column(&tx, path, &layout.stream)?;
            if *keys != layout.keys_json() || *watermark != layout.watermark {
                return Err(SinkError::Usage(format!(
                    "stream {:?} in {} was created with primary key {keys} and watermark \
                     {watermark:?}, but is now configured with {} and {:?}; use a new \
                     stream name or database",
                    layout.stream,
                    path.display(),
                    layout.keys_json(),
                    layout.watermark,
                )));
            }
        }
        None => {
            if let Some((other, ..)) = known.first() {
                return Err(SinkError::Usage(format!(
                    "stream {:?} would share a table with stream {other:?} in {} \
                     (SQLite table names ignore case)",
                    layout.stream,
                    path.display()
                )));
            }
            tx.execute_batch(&layout.create)
                .map_err(db("creating a stream table", path))?;
            tx.execute(
                "INSERT INTO _haul_streams (stream, primary_key, watermark) VALUES (?1, ?2, ?3)",
                (&layout.stream, layout.keys_json(), &layout.watermark),
            )
            .map_err(db("recording a stream layout", path))?;
            tracing::debug!(stream = %layout.stream, sql = %layout.create, "created stream table");
        }
    }
    let checkpoint = read_checkpoint(&tx, path, &layout.stream)?;
    tx.commit().map_err(db("committing", path))?;
    Ok(checkpoint)
}

/// Tables created before partitions existed get the partition column (empty:
/// their records all belong to the single partition).
fn add_partition_column(
    tx: &rusqlite::Transaction<'_>,
    path: &Path,
    stream: &str,
) -> Result<(), SinkError> {
    let has: bool = tx
        .prepare(&format!(
            "SELECT count(*) FROM pragma_table_info({}) WHERE name = ?1",
            sql_string(stream)
        ))
        .and_then(|mut stmt| stmt.query_row([schema::PARTITION], |r| r.get::<_, i64>(0)))
        .map(|n| n > 0)
        .map_err(db("inspecting a stream table", path))?;
    if !has {
        tx.execute_batch(&format!(
            "ALTER TABLE {} ADD COLUMN {} TEXT NOT NULL DEFAULT ''",
            quote(stream),
            quote(schema::PARTITION)
        ))
        .map_err(db("adding the partition column", path))?;
    }
    Ok(())
}

/// A single-quoted SQL string literal.
fn sql_string(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// The committed checkpoint of `stream`.
pub(crate) fn read_checkpoint(
    conn: &Connection,
    path: &Path,
    stream: &str,
) -> Result<Option<Checkpoint>, SinkError> {
    let text: Option<String> = conn
        .prepare_cached("SELECT checkpoint FROM _haul_state WHERE stream = ?1")
        .and_then(|mut stmt| stmt.query_row([stream], |r| r.get(0)).optional())
        .map_err(db("reading a checkpoint", path))?;
    text.map(|text| {
        serde_json::from_str(&text).map_err(|e| SinkError::Corrupt {
            path: path.to_owned(),
            reason: format!("checkpoint of stream {stream:?}: {e}"),
        })
    })
    .transpose()
}

/// Upserts (or appends) every record and the checkpoint in one transaction;
/// any error, a missing key included, rolls the whole batch back. On an
/// append-only stream, a batch `mid_pass` that did commit (its checkpoint is
/// the committed one and the stream ends with its records) writes nothing: a
/// replay would otherwise hold its records twice. Keyed streams upsert. A
/// pass's final batch is always written: replayed, it cannot be told from a
/// new pass that ends the same way.
pub(crate) fn write_batch(
    conn: &mut Connection,
    path: &Path,
    layout: &Layout,
    records: &[String],
    own: &StateRow,
    register: &[StateRow],
    mid_pass: bool,
) -> Result<(), SinkError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db("starting a transaction", path))?;
    if mid_pass
        && layout.keys.is_empty()
        && own.partition == SINGLE_PARTITION
        && already_committed(&tx, path, layout, records, &own.checkpoint)?
    {
        tracing::debug!(stream = %layout.stream, "batch already committed (a replay): not written again");
        return Ok(());
    }
    {
        let mut insert = tx
            .prepare_cached(&layout.insert)
            .map_err(db("preparing the insert", path))?;
        // Keys and watermark at top-level pointers (the usual `/id`,
        // `/updated_at`) are read in one pass over the record; anything
        // else pointer by pointer.
        let pointers: Vec<&str> = layout
            .keys
            .iter()
            .chain(&layout.watermark)
            .map(String::as_str)
            .collect();
        let names: Option<Vec<String>> = pointers.iter().map(|p| top_level_name(p)).collect();
        let names: Option<Vec<&str>> = names
            .as_ref()
            .map(|n| n.iter().map(String::as_str).collect());
        let mut values: Vec<Option<String>> = Vec::with_capacity(pointers.len());
        for json in records {
            values.clear();
            let one_pass = match &names {
                Some(names) => members_at(json, names).ok().flatten(),
                None => None,
            };
            match one_pass {
                Some(found) => {
                    values.extend(
                        found
                            .into_iter()
                            .map(|raw| raw.and_then(|r| scalar(r).ok().flatten())),
                    );
                }
                None => values.extend(pointers.iter().map(|p| scalar_at(json, p).ok().flatten())),
            }
            let mut at = 1;
            for (pointer, value) in layout.keys.iter().zip(&mut values) {
                let Some(key) = value.take() else {
                    return Err(SinkError::MissingKey {
                        stream: layout.stream.clone(),
                        pointer: pointer.clone(),
                        preview: haul_core::body_preview(json.as_bytes()),
                    });
                };
                insert
                    .raw_bind_parameter(at, key)
                    .map_err(db("binding a key", path))?;
                at += 1;
            }
            if layout.watermark.is_some() {
                let value = watermark_value(values.last_mut().and_then(Option::take));
                insert
                    .raw_bind_parameter(at, value)
                    .map_err(db("binding a watermark", path))?;
                at += 1;
            }
            insert
                .raw_bind_parameter(at, json.as_str())
                .map_err(db("binding a record", path))?;
            insert
                .raw_bind_parameter(at + 1, own.partition.as_str())
                .map_err(db("binding a partition key", path))?;
            insert
                .raw_execute()
                .map_err(db("inserting a record", path))?;
        }
    }
    store_states(&tx, path, std::slice::from_ref(own))?;
    store_states(&tx, path, register)?;
    tx.commit().map_err(db("committing a batch", path))
}

/// The unescaped member name of a one-token pointer (`/id`), `None` for
/// anything deeper (or the root).
fn top_level_name(pointer: &str) -> Option<String> {
    let name = pointer.strip_prefix('/')?;
    (!name.contains('/')).then(|| name.replace("~1", "/").replace("~0", "~"))
}

/// Whether `stream` already ends with `records` under `checkpoint`.
fn already_committed(
    conn: &Connection,
    path: &Path,
    layout: &Layout,
    records: &[String],
    checkpoint: &str,
) -> Result<bool, SinkError> {
    let committed: Option<String> = conn
        .prepare_cached("SELECT checkpoint FROM _haul_state WHERE stream = ?1")
        .and_then(|mut stmt| stmt.query_row([&layout.stream], |r| r.get(0)).optional())
        .map_err(db("reading the checkpoint", path))?;
    if committed.as_deref() != Some(checkpoint) {
        return Ok(false);
    }
    let sql = format!(
        "SELECT {} FROM {} ORDER BY rowid DESC LIMIT ?1",
        quote(schema::RECORD),
        quote(&layout.stream)
    );
    let mut stmt = conn
        .prepare(&sql)
        .map_err(db("reading the last records", path))?;
    let mut last: Vec<String> = stmt
        .query_map([records.len() as i64], |r| r.get(0))
        .and_then(|rows| rows.collect::<Result<_, _>>())
        .map_err(db("reading the last records", path))?;
    last.reverse();
    Ok(last == records)
}

/// The stored layout of `stream`: `None` when it was never opened, else its watermark pointer.
fn stored_watermark(
    conn: &Connection,
    path: &Path,
    stream: &str,
) -> Result<Option<Option<String>>, SinkError> {
    conn.prepare_cached("SELECT watermark FROM _haul_streams WHERE stream = ?1")
        .and_then(|mut stmt| stmt.query_row([stream], |r| r.get(0)).optional())
        .map_err(db("reading a stream layout", path))
}

/// The maximum of `pointer` over the stream: an index lookup on the watermark
/// column when `pointer` is the configured one, else a scan comparing as
/// [`max_watermark`] does.
pub(crate) fn watermark(
    conn: &Connection,
    path: &Path,
    stream: &str,
    partition: Option<&str>,
    pointer: &str,
) -> Result<Option<String>, SinkError> {
    let Some(configured) = stored_watermark(conn, path, stream)? else {
        return Ok(None);
    };
    let table = quote(stream);
    let record = quote(schema::RECORD);
    // `?1 IS NULL` selects every partition.
    let of_partition = format!("(?1 IS NULL OR {} = ?1)", quote(schema::PARTITION));
    if configured.as_deref() == Some(pointer) {
        let wm = quote(schema::WATERMARK);
        let sql = format!(
            "SELECT {record} FROM {table} WHERE {wm} IS NOT NULL AND {of_partition} \
             ORDER BY {wm} DESC LIMIT 1"
        );
        let top: Option<String> = conn
            .prepare_cached(&sql)
            .and_then(|mut stmt| stmt.query_row([partition], |r| r.get(0)).optional())
            .map_err(db("reading the watermark", path))?;
        return Ok(top.and_then(|json| scalar_at(&json, pointer).ok().flatten()));
    }
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {record} FROM {table} WHERE {of_partition}"
        ))
        .map_err(db("scanning for the watermark", path))?;
    let mut rows = stmt
        .query([partition])
        .map_err(db("scanning for the watermark", path))?;
    let mut max = None;
    while let Some(row) = rows
        .next()
        .map_err(db("scanning for the watermark", path))?
    {
        let json = row
            .get_ref(0)
            .and_then(|v| Ok(v.as_str()?))
            .map_err(db("scanning for the watermark", path))?;
        if let Ok(Some(v)) = scalar_at(json, pointer) {
            max = max_watermark(max, v);
        }
    }
    Ok(max)
}

/// Every record of `stream`, in first-insertion order.
pub(crate) fn records(
    conn: &Connection,
    path: &Path,
    stream: &str,
) -> Result<Vec<String>, SinkError> {
    if stored_watermark(conn, path, stream)?.is_none() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT {} FROM {} ORDER BY rowid",
        quote(schema::RECORD),
        quote(stream)
    );
    conn.prepare_cached(&sql)
        .and_then(|mut stmt| stmt.query_map([], |r| r.get(0))?.collect())
        .map_err(db("reading records", path))
}

/// Every record of `stream` with its partition key, in first-insertion order.
pub(crate) fn tagged_records(
    conn: &Connection,
    path: &Path,
    stream: &str,
) -> Result<Vec<(String, String)>, SinkError> {
    if stored_watermark(conn, path, stream)?.is_none() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT {}, {} FROM {} ORDER BY rowid",
        quote(schema::PARTITION),
        quote(schema::RECORD),
        quote(stream)
    );
    conn.prepare_cached(&sql)
        .and_then(|mut stmt| {
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect()
        })
        .map_err(db("reading records", path))
}

/// How many records `stream` holds.
pub(crate) fn count(conn: &Connection, path: &Path, stream: &str) -> Result<u64, SinkError> {
    if stored_watermark(conn, path, stream)?.is_none() {
        return Ok(0);
    }
    let sql = format!("SELECT count(*) FROM {}", quote(stream));
    conn.prepare_cached(&sql)
        .and_then(|mut stmt| stmt.query_row([], |r| r.get::<_, i64>(0)))
        .map(|n| n.unsigned_abs())
        .map_err(db("counting records", path))
}
