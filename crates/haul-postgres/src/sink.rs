//! [`PostgresSink`]: a table per stream in one schema, each batch merged by
//! binary `COPY` in one transaction with its checkpoint.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, RandomState};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use futures::SinkExt;
use haul_core::Checkpoint;
use haul_core::json::{members_at, scalar, scalar_at};
use haul_sink::{
    Batch, PartitionBatch, PartitionState, SINGLE_PARTITION, Sink, SinkError, StreamConfig,
    check_partition_key, max_watermark,
};
use tokio_postgres::{Client, Config, GenericClient, Statement, Transaction};

use crate::conn::{self, ConnError, Connection};
use crate::jsonb::CopyRows;
use crate::names::{check_schema, check_stream, quote};
use crate::schema::{self, Layout, PARTITION, RECORD, SEQ, WM_NUM, WM_TEXT};

/// How many bytes of COPY rows are sent at a time: small enough that the
/// server parses the first records of a batch while the sink still reads
/// the keys of the next ones.
const COPY_CHUNK: usize = 64 * 1024;

/// The lease a fenced sink writes under.
#[derive(Debug, Clone)]
pub(crate) struct Fence {
    pub(crate) stream: String,
    pub(crate) partition: String,
    pub(crate) owner: String,
    pub(crate) epoch: i64,
    /// The server aborts a batch transaction left idle longer than this (a
    /// writer stalled mid-batch holds the lease row's lock, which keeps
    /// every other worker from reclaiming the partition).
    pub(crate) stall_limit: Option<std::time::Duration>,
}

#[derive(Debug)]
struct Shared {
    schema: String,
    conn: Connection,
    open: Mutex<HashMap<String, Arc<Layout>>>,
    next_stage: AtomicU64,
}

/// Stores each stream in a PostgreSQL table of one schema, upserting by
/// primary key, each batch and its checkpoint in one transaction.
///
/// - **Tables**: one per stream, named after it (names checked as every
///   haul sink checks them, at most 63 bytes, `_haul…` and `pg_…`
///   reserved), with a `text` column per primary-key field (named after its
///   pointer: `/id` → `id`), `_record jsonb` (the record), `_partition`
///   (its partition key, `''` for an unpartitioned stream), `_seq` (the
///   insertion order), and, when [`StreamConfig::watermark`] is set,
///   indexed `_wm_text`/`_wm_num` columns. Tables are created on first
///   [`open`](Sink::open); haul's own tables are `_haul_streams` (layouts)
///   and `_haul_partitions` (checkpoints and leases, one row per stream and
///   partition; the single partition is the key `''`).
/// - **A batch** is one transaction: the records are sent by binary `COPY`
///   into a temporary staging table, merged with `INSERT … SELECT DISTINCT
///   ON (key) … ON CONFLICT DO UPDATE … WHERE … IS DISTINCT FROM excluded`
///   (the last version of each key wins; a replayed identical row is not
///   rewritten), and the checkpoint is upserted — all or nothing. Records are
///   sent as they came, unparsed; the server stores them as `jsonb`
///   (normalised: key order and whitespace are not kept). An append-only
///   stream ([`StreamConfig::append_only`]) inserts, and a mid-pass batch
///   that already committed is not inserted twice.
/// - **Fencing**: a sink bound to a lease ([`fenced`](Self::fenced)) checks
///   in every batch's transaction that the lease is still its own and
///   unexpired, and otherwise rolls the batch back and fails with
///   [`SinkError::Fenced`]: a worker that lost its lease writes nothing.
/// - **Connection**: one connection, used by one batch at a time. Opened
///   from a [`Config`] without TLS and reopened after it drops (a batch cut
///   off mid-way was rolled back by the server; replay it), or given as a
///   connected [`Client`] (with your TLS or pooler), which is never reopened.
///
/// ```no_run
/// use haul_postgres::PostgresSink;
/// use haul_sink::{Batch, Sink, StreamConfig};
/// use haul_core::{Checkpoint, Record};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
/// let config = "host=127.0.0.1 user=postgres dbname=test".parse()?;
/// let sink = PostgresSink::connect(config, "haul")
///     .await?
///     .stream(StreamConfig::new("items").watermark("/updated_at"));
/// assert_eq!(sink.open("items").await?, None);
/// let recs = vec![Record::from_json(r#"{"id":1,"updated_at":"2026-01-02T00:00:00Z"}"#)?];
/// let cp = Checkpoint::start("items");
/// sink.write(Batch { stream: "items", records: &recs, checkpoint: &cp }).await?;
/// sink.write(Batch { stream: "items", records: &recs, checkpoint: &cp }).await?; // a replay
/// assert_eq!(sink.count("items").await?, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct PostgresSink {
    shared: Arc<Shared>,
    configs: Arc<HashMap<String, StreamConfig>>,
    fence: Option<Fence>,
}

/// Maps a PostgreSQL error to [`SinkError::Database`], naming the schema.
pub(crate) fn db(
    action: &'static str,
    schema: &str,
) -> impl FnOnce(tokio_postgres::Error) -> SinkError {
    let path = PathBuf::from(format!("postgresql schema {schema}"));
    move |e| SinkError::Database {
        action,
        path,
        source: Box::new(e),
    }
}

fn conn_error(schema: &str) -> impl FnOnce(ConnError) -> SinkError {
    let schema = schema.to_owned();
    move |e| match e {
        ConnError::Connect(e) => db("connecting", &schema)(e),
        ConnError::Closed(why) => SinkError::Usage(format!("PostgreSQL sink: {why}")),
    }
}

/// Creates the schema and haul's tables, serialised by an advisory lock so
/// that workers starting together do not race on the catalog.
pub(crate) async fn setup(client: &mut Client, schema: &str) -> Result<(), tokio_postgres::Error> {
    // Already set up: no DDL, so no lock that an open batch transaction of
    // a stalled worker could make this wait for (`CREATE INDEX IF NOT
    // EXISTS` locks the table before it finds the index).
    let q = quote(schema);
    let present: bool = client
        .query_one(
            "SELECT to_regclass($1) IS NOT NULL AND to_regclass($2) IS NOT NULL \
                 AND to_regclass($3) IS NOT NULL",
            &[
                &format!("{q}._haul_streams"),
                &format!("{q}._haul_partitions"),
                &format!("{q}._haul_partitions_by_state"),
            ],
        )
        .await?
        .get(0);
    if present {
        return Ok(());
    }
    let tx = client.transaction().await?;
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtext($1))",
        &[&format!("haul:{schema}")],
    )
    .await?;
    tx.batch_execute(&schema::meta_ddl(schema)).await?;
    tx.commit().await
}

/// The statements of a batch, prepared once per connection.
struct Statements {
    copy: Statement,
    /// The merge that keeps the last version of each key (`DISTINCT ON`).
    merge: Statement,
    /// The merge of a batch whose keys are all distinct (no sort).
    merge_distinct: Statement,
    upsert: Statement,
    /// The lease check of a fenced sink.
    check: Option<Statement>,
}

/// Reads a record's key values then its watermark (the layout's pointers,
/// in that order) into `values`: in one early-stopping pass when every
/// pointer names a top-level member (`members`), else pointer by pointer.
fn read_fields(
    layout: &Layout,
    members: Option<&[&str]>,
    json: &str,
    values: &mut Vec<Option<String>>,
) {
    values.clear();
    match members.and_then(|names| members_at(json, names).ok().flatten()) {
        Some(found) => values.extend(
            found
                .into_iter()
                .map(|raw| raw.and_then(|r| scalar(r).ok().flatten())),
        ),
        None => values.extend(
            layout
                .keys
                .iter()
                .chain(&layout.watermark)
                .map(|pointer| scalar_at(json, pointer).ok().flatten()),
        ),
    }
}

/// Numbers (JSON numbers or numeric strings) go to the `numeric` column and
/// compare numerically; anything else to the text column.
fn split_watermark(field: Option<String>) -> (Option<String>, Option<String>) {
    match field {
        None => (None, None),
        Some(text) if is_number(&text) => (None, Some(text)),
        Some(text) => (Some(text), None),
    }
}

/// What PostgreSQL's `numeric` input accepts and JSON calls a number.
fn is_number(text: &str) -> bool {
    text.parse::<i64>().is_ok()
        || (text.starts_with(|c: char| c.is_ascii_digit() || c == '-' || c == '.')
            && text
                .chars()
                .all(|c| c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | 'e' | 'E'))
            && text.parse::<f64>().is_ok_and(f64::is_finite))
}

/// Whether an error came from the database (the connection may be dying).
fn is_db(e: &SinkError) -> bool {
    matches!(e, SinkError::Database { .. })
}

fn state_json(state: &PartitionState) -> Result<(String, String), SinkError> {
    let corrupt = |e: serde_json::Error| {
        SinkError::Usage(format!(
            "state of partition {:?} of stream {:?} cannot be serialised: {e}",
            state.partition, state.stream
        ))
    };
    Ok((
        serde_json::to_string(&state.values).map_err(corrupt)?,
        serde_json::to_string(&state.checkpoint).map_err(corrupt)?,
    ))
}

impl PostgresSink {
    /// Connects (without TLS) and creates `schema` and haul's tables in it if
    /// missing. The connection is reopened from `config` if it drops.
    pub async fn connect(config: Config, schema: &str) -> Result<Self, SinkError> {
        check_schema(schema).map_err(SinkError::Usage)?;
        let mut client = conn::open(&config)
            .await
            .map_err(db("connecting", schema))?;
        setup(&mut client, schema)
            .await
            .map_err(db("creating haul's tables", schema))?;
        Ok(Self::with(schema, Connection::from_config(config, client)))
    }

    /// Uses a client the caller connected (with TLS, through a pooler, …)
    /// and creates `schema` and haul's tables in it if missing. The client is
    /// not reopened if its connection drops.
    pub async fn from_client(mut client: Client, schema: &str) -> Result<Self, SinkError> {
        check_schema(schema).map_err(SinkError::Usage)?;
        setup(&mut client, schema)
            .await
            .map_err(db("creating haul's tables", schema))?;
        Ok(Self::with(schema, Connection::from_client(client)))
    }

    fn with(schema: &str, conn: Connection) -> Self {
        Self {
            shared: Arc::new(Shared {
                schema: schema.to_owned(),
                conn,
                open: Mutex::default(),
                next_stage: AtomicU64::new(0),
            }),
            configs: Arc::default(),
            fence: None,
        }
    }

    /// Configures one stream (its primary key and watermark column); it
    /// applies from the stream's first [`open`](Sink::open) and must stay the
    /// same for the life of the table.
    pub fn stream(mut self, config: StreamConfig) -> Self {
        Arc::make_mut(&mut self.configs).insert(config.stream().to_owned(), config);
        self
    }

    /// The schema the sink writes in.
    pub fn schema(&self) -> &str {
        &self.shared.schema
    }

    /// A handle on the same connection and tables whose every commit first
    /// checks, in its transaction, that (owner, epoch) still hold the lease
    /// on `stream`/`partition`, unexpired; see [`Leases`](crate::Leases).
    pub(crate) fn with_fence(&self, fence: Fence) -> Self {
        Self {
            fence: Some(fence),
            ..self.clone()
        }
    }

    fn db(&self, action: &'static str) -> impl FnOnce(tokio_postgres::Error) -> SinkError {
        db(action, &self.shared.schema)
    }

    fn table(&self, stream: &str) -> String {
        format!("{}.{}", quote(&self.shared.schema), quote(stream))
    }

    async fn conn(&self) -> Result<tokio::sync::MappedMutexGuard<'_, conn::Conn>, SinkError> {
        self.shared
            .conn
            .get()
            .await
            .map_err(conn_error(&self.shared.schema))
    }

    /// Whether `stream` has a table (was ever opened).
    async fn exists(
        &self,
        client: &impl GenericClient,
        stream: &str,
    ) -> Result<Option<Option<String>>, SinkError> {
        let sql = format!(
            "SELECT watermark FROM {}._haul_streams WHERE stream = $1",
            quote(&self.shared.schema)
        );
        let row = client
            .query_opt(&sql, &[&stream])
            .await
            .map_err(self.db("reading a stream layout"))?;
        Ok(row.map(|r| r.get(0)))
    }

    /// How many records `stream` holds (0 for a stream never opened).
    pub async fn count(&self, stream: &str) -> Result<u64, SinkError> {
        check_stream(stream)?;
        let conn = self.conn().await?;
        if self.exists(&conn.client, stream).await?.is_none() {
            return Ok(0);
        }
        let n: i64 = conn
            .client
            .query_one(&format!("SELECT count(*) FROM {}", self.table(stream)), &[])
            .await
            .map_err(self.db("counting records"))?
            .get(0);
        Ok(n.unsigned_abs())
    }

    /// The JSON text of every record of `stream` with its partition key, in
    /// first-insertion order (`jsonb`'s normalised text).
    pub async fn tagged_records(&self, stream: &str) -> Result<Vec<(String, String)>, SinkError> {
        check_stream(stream)?;
        let conn = self.conn().await?;
        if self.exists(&conn.client, stream).await?.is_none() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {}, {}::text FROM {} ORDER BY {}",
            quote(PARTITION),
            quote(RECORD),
            self.table(stream),
            quote(SEQ)
        );
        let rows = conn
            .client
            .query(&sql, &[])
            .await
            .map_err(self.db("reading records"))?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// The JSON text of every record of `stream`, in first-insertion order.
    pub async fn records(&self, stream: &str) -> Result<Vec<String>, SinkError> {
        Ok(self
            .tagged_records(stream)
            .await?
            .into_iter()
            .map(|(_, json)| json)
            .collect())
    }

    /// The committed checkpoint of one partition of `stream`, without opening it.
    pub async fn checkpoint(
        &self,
        stream: &str,
        partition: &str,
    ) -> Result<Option<Checkpoint>, SinkError> {
        check_partition_key(partition)?;
        let conn = self.conn().await?;
        read_checkpoint(&conn.client, &self.shared.schema, stream, partition).await
    }

    /// Rolls `tx` back (by dropping it) unless the fence still holds.
    /// A fenced batch's transaction left idle longer than the stall limit
    /// is aborted by the server (`SET LOCAL`: this transaction only).
    async fn limit_stall(&self, tx: &Transaction<'_>) -> Result<(), SinkError> {
        let Some(limit) = self.fence.as_ref().and_then(|f| f.stall_limit) else {
            return Ok(());
        };
        let ms = limit.as_millis().clamp(1, i32::MAX as u128);
        tx.batch_execute(&format!(
            "SET LOCAL idle_in_transaction_session_timeout = {ms}"
        ))
        .await
        .map_err(self.db("limiting how long a batch may stall"))
    }

    async fn check_fence(
        &self,
        tx: &Transaction<'_>,
        check: Option<&Statement>,
    ) -> Result<(), SinkError> {
        let (Some(fence), Some(check)) = (&self.fence, check) else {
            return Ok(());
        };
        let held = tx
            .execute(
                check,
                &[&fence.stream, &fence.partition, &fence.owner, &fence.epoch],
            )
            .await
            .map_err(self.db("checking the lease"))?;
        if held == 1 {
            Ok(())
        } else {
            tracing::warn!(
                stream = %fence.stream, partition = %fence.partition, owner = %fence.owner,
                epoch = fence.epoch, "lease lost: batch rolled back"
            );
            Err(SinkError::Fenced(format!(
                "partition {:?} of stream {:?} is no longer leased to {:?} at epoch {} in schema {}",
                fence.partition, fence.stream, fence.owner, fence.epoch, self.shared.schema
            )))
        }
    }

    async fn store_states(
        &self,
        tx: &Transaction<'_>,
        upsert: &Statement,
        states: &[(String, String, String, String)],
    ) -> Result<(), SinkError> {
        for (stream, partition, values, checkpoint) in states {
            tx.execute(upsert, &[stream, partition, values, checkpoint])
                .await
                .map_err(self.db("writing a partition state"))?;
        }
        Ok(())
    }

    fn layout(&self, stream: &str) -> Result<Arc<Layout>, SinkError> {
        self.shared
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(stream)
            .cloned()
            .ok_or_else(|| SinkError::Usage(format!("stream {stream:?} written before open")))
    }

    /// Whether the stream's partition already ends with `records` under
    /// `checkpoint` (an append-only batch replayed after it committed).
    async fn already_committed(
        &self,
        tx: &Transaction<'_>,
        layout: &Layout,
        partition: &str,
        records: &[haul_core::Record],
        checkpoint: &str,
    ) -> Result<bool, SinkError> {
        let stored =
            read_checkpoint_text(tx, &self.shared.schema, &layout.stream, partition).await?;
        if stored.as_deref() != Some(checkpoint) {
            return Ok(false);
        }
        let sql = format!(
            "SELECT {}::text FROM {} WHERE {} = $1 ORDER BY {} DESC LIMIT $2",
            quote(RECORD),
            layout.table,
            quote(PARTITION),
            quote(SEQ)
        );
        let rows = tx
            .query(&sql, &[&partition, &(records.len() as i64)])
            .await
            .map_err(self.db("reading the last records"))?;
        if rows.len() != records.len() {
            return Ok(false);
        }
        let same = rows.iter().rev().zip(records).all(|(row, record)| {
            let stored: Result<serde_json::Value, _> = serde_json::from_str(row.get(0));
            let sent: Result<serde_json::Value, _> = serde_json::from_str(record.as_str());
            matches!((stored, sent), (Ok(a), Ok(b)) if a == b)
        });
        Ok(same)
    }

    /// One batch's transaction: COPY, merge, states, fence, commit.
    async fn commit_batch(
        &self,
        conn: &mut conn::Conn,
        layout: &Layout,
        states: &[(String, String, String, String)],
        batch: &PartitionBatch<'_>,
        mid_pass: bool,
    ) -> Result<(), SinkError> {
        if !conn.staged.contains(&layout.stage) {
            conn.client
                .batch_execute(&layout.create_stage)
                .await
                .map_err(self.db("creating the staging table"))?;
            conn.staged.insert(layout.stage.clone());
        }
        let statements = self.statements(conn, layout).await?;
        let tx = conn
            .client
            .transaction()
            .await
            .map_err(self.db("starting a transaction"))?;
        self.limit_stall(&tx).await?;
        if mid_pass
            && layout.keys.is_empty()
            && self
                .already_committed(&tx, layout, batch.partition, batch.records, &states[0].3)
                .await?
        {
            tracing::debug!(stream = %layout.stream, "batch already committed (a replay): not written again");
            self.check_fence(&tx, statements.check.as_ref()).await?;
            return tx.commit().await.map_err(self.db("committing"));
        }
        if !batch.records.is_empty() {
            let distinct = self
                .copy_records(&tx, &statements.copy, layout, batch.records)
                .await?;
            // Most batches repeat no key: their merge needs no DISTINCT ON sort.
            let merge = if distinct {
                &statements.merge_distinct
            } else {
                &statements.merge
            };
            tx.execute(merge, &[&batch.partition])
                .await
                .map_err(self.db("merging records"))?;
        }
        self.store_states(&tx, &statements.upsert, states).await?;
        // Last, so the lease row stays locked only from here to COMMIT: a
        // writer stalled earlier (mid-COPY, where the server cannot cancel
        // it) blocks no claimer; one stalled between statements is ended
        // by `limit_stall`.
        self.check_fence(&tx, statements.check.as_ref()).await?;
        tx.commit().await.map_err(self.db("committing a batch"))
    }

    /// Sends `records` into the staging table by binary `COPY`, reading each
    /// one's key and watermark on the way and sending in chunks, so the
    /// server parses the first records while later ones are read. Returns
    /// whether every key is distinct (by hash: a collision only costs the
    /// sorting merge, which is right for any batch). A record without its
    /// key fails the batch ([`SinkError::MissingKey`]): the COPY is aborted
    /// and the transaction rolled back.
    async fn copy_records(
        &self,
        tx: &Transaction<'_>,
        copy: &Statement,
        layout: &Layout,
        records: &[haul_core::Record],
    ) -> Result<bool, SinkError> {
        let sink = tx.copy_in(copy).await.map_err(self.db("starting COPY"))?;
        let mut sink = std::pin::pin!(sink);
        let fields = i16::try_from(layout.keys.len() + 4).unwrap_or(i16::MAX);
        let too_long = |_| SinkError::Usage("a record or key longer than 2 GiB".to_owned());
        let members: Option<Vec<&str>> = layout
            .members
            .as_ref()
            .map(|names| names.iter().map(String::as_str).collect());
        let key_count = layout.keys.len();
        let hasher = RandomState::new();
        let mut seen = HashSet::with_capacity(if key_count == 0 { 0 } else { records.len() });
        let mut distinct = true;
        let mut values = Vec::with_capacity(key_count + 1);
        let mut out = CopyRows::new(COPY_CHUNK);
        for (ord, record) in records.iter().enumerate() {
            let json = record.as_str();
            read_fields(layout, members.as_deref(), json, &mut values);
            out.row(fields);
            out.int8(ord as i64);
            for (pointer, key) in layout.keys.iter().zip(&values) {
                let Some(key) = key else {
                    return Err(SinkError::MissingKey {
                        stream: layout.stream.clone(),
                        pointer: pointer.clone(),
                        preview: haul_core::body_preview(json.as_bytes()),
                    });
                };
                out.text(Some(key)).map_err(too_long)?;
            }
            if distinct && key_count > 0 {
                distinct = seen.insert(hasher.hash_one(&values[..key_count]));
            }
            let watermark = if layout.watermark.is_some() {
                values.get_mut(key_count).and_then(Option::take)
            } else {
                None
            };
            let (wm_text, wm_num) = split_watermark(watermark);
            out.text(wm_text.as_deref()).map_err(too_long)?;
            out.text(wm_num.as_deref()).map_err(too_long)?;
            out.jsonb(json).map_err(too_long)?;
            if out.len() >= COPY_CHUNK {
                sink.as_mut()
                    .send(out.take())
                    .await
                    .map_err(self.db("copying records"))?;
            }
        }
        out.finish();
        sink.as_mut()
            .send(out.take())
            .await
            .map_err(self.db("copying records"))?;
        sink.as_mut()
            .finish()
            .await
            .map_err(self.db("finishing COPY"))?;
        Ok(distinct)
    }

    /// States alone in one transaction, behind the fence.
    async fn commit_states(
        &self,
        conn: &mut conn::Conn,
        rows: &[(String, String, String, String)],
    ) -> Result<(), SinkError> {
        let schema = &self.shared.schema;
        let upsert = conn
            .prepare(&schema::upsert_state(schema))
            .await
            .map_err(self.db("preparing the state upsert"))?;
        let check = match &self.fence {
            Some(_) => Some(
                conn.prepare(&schema::fence_check(schema))
                    .await
                    .map_err(self.db("preparing the lease check"))?,
            ),
            None => None,
        };
        let tx = conn
            .client
            .transaction()
            .await
            .map_err(self.db("starting a transaction"))?;
        self.limit_stall(&tx).await?;
        self.store_states(&tx, &upsert, rows).await?;
        self.check_fence(&tx, check.as_ref()).await?;
        tx.commit()
            .await
            .map_err(self.db("committing partition states"))
    }

    /// The batch's statements, prepared once per connection: COPY, both
    /// merges, state upsert and (for a fenced sink) the lease check.
    async fn statements(
        &self,
        conn: &mut conn::Conn,
        layout: &Layout,
    ) -> Result<Statements, SinkError> {
        let schema = &self.shared.schema;
        let copy = conn
            .prepare(&layout.copy)
            .await
            .map_err(self.db("preparing COPY"))?;
        let merge = conn
            .prepare(&layout.merge)
            .await
            .map_err(self.db("preparing the merge"))?;
        let merge_distinct = conn
            .prepare(&layout.merge_distinct)
            .await
            .map_err(self.db("preparing the merge"))?;
        let upsert = conn
            .prepare(&schema::upsert_state(schema))
            .await
            .map_err(self.db("preparing the state upsert"))?;
        let check = match &self.fence {
            Some(_) => Some(
                conn.prepare(&schema::fence_check(schema))
                    .await
                    .map_err(self.db("preparing the lease check"))?,
            ),
            None => None,
        };
        Ok(Statements {
            copy,
            merge,
            merge_distinct,
            upsert,
            check,
        })
    }

    async fn watermark_of(
        &self,
        stream: &str,
        partition: Option<&str>,
        pointer: &str,
    ) -> Result<Option<String>, SinkError> {
        check_stream(stream)?;
        let conn = self.conn().await?;
        let Some(configured) = self.exists(&conn.client, stream).await? else {
            return Ok(None);
        };
        let table = self.table(stream);
        let record = quote(RECORD);
        let of_partition = format!("($1::text IS NULL OR {} = $1)", quote(PARTITION));
        if configured.as_deref() == Some(pointer) {
            let (wt, wn) = (quote(WM_TEXT), quote(WM_NUM));
            let sql = format!(
                "SELECT {record}::text FROM {table} WHERE ({wt} IS NOT NULL OR {wn} IS NOT NULL) \
                 AND {of_partition} ORDER BY {wt} DESC NULLS LAST, {wn} DESC NULLS LAST LIMIT 1"
            );
            let top = conn
                .client
                .query_opt(&sql, &[&partition])
                .await
                .map_err(self.db("reading the watermark"))?;
            return Ok(top.and_then(|row| scalar_at(row.get(0), pointer).ok().flatten()));
        }
        let sql = format!("SELECT {record}::text FROM {table} WHERE {of_partition}");
        let rows = conn
            .client
            .query(&sql, &[&partition])
            .await
            .map_err(self.db("scanning for the watermark"))?;
        let mut max = None;
        for row in &rows {
            if let Ok(Some(v)) = scalar_at(row.get(0), pointer) {
                max = max_watermark(max, v);
            }
        }
        Ok(max)
    }
}

async fn read_checkpoint_text(
    client: &impl GenericClient,
    schema: &str,
    stream: &str,
    partition: &str,
) -> Result<Option<String>, SinkError> {
    let sql = format!(
        "SELECT checkpoint FROM {}._haul_partitions WHERE stream = $1 AND partition = $2",
        quote(schema)
    );
    let row = client
        .query_opt(&sql, &[&stream, &partition])
        .await
        .map_err(db("reading a checkpoint", schema))?;
    Ok(row.and_then(|r| r.get(0)))
}

pub(crate) async fn read_checkpoint(
    client: &impl GenericClient,
    schema: &str,
    stream: &str,
    partition: &str,
) -> Result<Option<Checkpoint>, SinkError> {
    let text = read_checkpoint_text(client, schema, stream, partition).await?;
    text.map(|text| {
        serde_json::from_str(&text).map_err(|e| SinkError::Corrupt {
            path: PathBuf::from(format!("postgresql schema {schema}")),
            reason: format!("checkpoint of partition {partition:?} of stream {stream:?}: {e}"),
        })
    })
    .transpose()
}

#[async_trait]
impl Sink for PostgresSink {
    async fn open(&self, stream: &str) -> Result<Option<Checkpoint>, SinkError> {
        check_stream(stream)?;
        let known = self
            .shared
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(stream)
            .cloned();
        let layout = match known {
            Some(layout) => layout,
            None => {
                let config = self
                    .configs
                    .get(stream)
                    .cloned()
                    .unwrap_or_else(|| StreamConfig::new(stream));
                let id = self.shared.next_stage.fetch_add(1, Ordering::Relaxed);
                Arc::new(Layout::new(&self.shared.schema, &config, id)?)
            }
        };
        let schema = &self.shared.schema;
        let mut conn = self.conn().await?;
        let tx = conn
            .client
            .transaction()
            .await
            .map_err(self.db("starting a transaction"))?;
        tx.execute(
            "SELECT pg_advisory_xact_lock(hashtext($1))",
            &[&format!("haul:{schema}.{stream}")],
        )
        .await
        .map_err(self.db("locking the stream layout"))?;
        let sql = format!(
            "SELECT primary_key, watermark FROM {}._haul_streams WHERE stream = $1",
            quote(schema)
        );
        let row = tx
            .query_opt(&sql, &[&stream])
            .await
            .map_err(self.db("reading a stream layout"))?;
        match row {
            Some(row) => {
                let (keys, watermark): (String, Option<String>) = (row.get(0), row.get(1));
                if keys != layout.keys_json() || watermark != layout.watermark {
                    return Err(SinkError::Usage(format!(
                        "stream {stream:?} in schema {schema} was created with primary key {keys} \
                         and watermark {watermark:?}, but is now configured with {} and {:?}; use \
                         a new stream name or schema",
                        layout.keys_json(),
                        layout.watermark,
                    )));
                }
            }
            None => {
                tx.batch_execute(&layout.create)
                    .await
                    .map_err(self.db("creating a stream table"))?;
                let sql = format!(
                    "INSERT INTO {}._haul_streams (stream, primary_key, watermark) VALUES ($1, $2, $3)",
                    quote(schema)
                );
                tx.execute(&sql, &[&stream, &layout.keys_json(), &layout.watermark])
                    .await
                    .map_err(self.db("recording a stream layout"))?;
                tracing::debug!(stream, sql = %layout.create, "created stream table");
            }
        }
        let checkpoint = read_checkpoint(&tx, schema, stream, SINGLE_PARTITION).await?;
        tx.commit().await.map_err(self.db("committing"))?;
        drop(conn);
        self.shared
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(stream.to_owned(), layout);
        Ok(checkpoint)
    }

    async fn write(&self, batch: Batch<'_>) -> Result<(), SinkError> {
        self.write_partition(PartitionBatch::single(batch)).await
    }

    async fn watermark(&self, stream: &str, pointer: &str) -> Result<Option<String>, SinkError> {
        self.watermark_of(stream, None, pointer).await
    }

    async fn close(&self) -> Result<(), SinkError> {
        self.shared.conn.close().await;
        Ok(())
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
        self.checkpoint(stream, partition).await
    }

    async fn write_partition(&self, batch: PartitionBatch<'_>) -> Result<(), SinkError> {
        check_partition_key(batch.partition)?;
        let layout = self.layout(batch.stream)?;
        let own = PartitionState {
            stream: batch.stream.to_owned(),
            partition: batch.partition.to_owned(),
            values: batch.values.clone(),
            checkpoint: batch.checkpoint.clone(),
        };
        let mut states = Vec::with_capacity(1 + batch.register.len());
        for state in std::iter::once(&own).chain(batch.register) {
            check_partition_key(&state.partition)?;
            let (values, checkpoint) = state_json(state)?;
            states.push((
                state.stream.clone(),
                state.partition.clone(),
                values,
                checkpoint,
            ));
        }
        // A pass's final batch replayed cannot be told from a new one-batch
        // pass ending the same way: only a batch mid-pass is a sure replay.
        let mid_pass = !batch.checkpoint.is_done();

        let mut conn = self.conn().await?;
        let result = self
            .commit_batch(&mut conn, &layout, &states, &batch, mid_pass)
            .await;
        conn.note(result, is_db)
    }

    async fn partition_watermark(
        &self,
        stream: &str,
        partition: &str,
        pointer: &str,
    ) -> Result<Option<String>, SinkError> {
        check_partition_key(partition)?;
        self.watermark_of(stream, Some(partition), pointer).await
    }

    async fn partitions(&self, stream: &str) -> Result<Vec<PartitionState>, SinkError> {
        let conn = self.conn().await?;
        let sql = format!(
            "SELECT partition, vals, checkpoint FROM {}._haul_partitions \
             WHERE stream = $1 AND partition <> '' AND checkpoint IS NOT NULL \
             ORDER BY partition COLLATE \"C\"",
            quote(&self.shared.schema)
        );
        let rows = conn
            .client
            .query(&sql, &[&stream])
            .await
            .map_err(self.db("listing partitions"))?;
        rows.iter()
            .map(|row| {
                let (partition, values, checkpoint): (String, String, String) =
                    (row.get(0), row.get(1), row.get(2));
                let corrupt = |e: serde_json::Error| SinkError::Corrupt {
                    path: PathBuf::from(format!("postgresql schema {}", self.shared.schema)),
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

    async fn write_state(&self, states: &[PartitionState]) -> Result<(), SinkError> {
        let mut rows = Vec::with_capacity(states.len());
        for state in states {
            check_partition_key(&state.partition)?;
            let (values, checkpoint) = state_json(state)?;
            rows.push((
                state.stream.clone(),
                state.partition.clone(),
                values,
                checkpoint,
            ));
        }
        let mut conn = self.conn().await?;
        let result = self.commit_states(&mut conn, &rows).await;
        conn.note(result, is_db)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_go_to_the_numeric_column_and_the_rest_to_text() {
        let split = |s: &str| split_watermark(Some(s.to_owned()));
        assert_eq!(split("42"), (None, Some("42".into())));
        assert_eq!(split("-1.5e3"), (None, Some("-1.5e3".into())));
        assert_eq!(
            split("18446744073709551616"),
            (None, Some("18446744073709551616".into()))
        );
        for text in ["NaN", "inf", "2026-01-02T00:00:00Z", "1-2"] {
            assert_eq!(split(text), (Some(text.into()), None), "{text}");
        }
        assert_eq!(split_watermark(None), (None, None));
    }
}
