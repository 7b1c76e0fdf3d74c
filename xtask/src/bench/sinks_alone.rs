//! Section 8: the destinations alone — batches of the demo's records
//! committed straight into `PostgresSink` (local PostgreSQL) and
//! `SqliteSink`, same records, same batch size, no HTTP in the way.
//!
//! PostgreSQL is `HAUL_POSTGRES` (default `host=127.0.0.1 port=5432
//! user=postgres dbname=test`); the rows work in a schema of their own,
//! dropped at the end. Unreachable, the PostgreSQL rows are skipped and the
//! target says why.

use std::path::Path;
use std::time::{Duration, Instant};

use haul::postgres::PostgresSink;
use haul::postgres::tokio_postgres::{Config, NoTls};
use haul::sink::Batch;
use haul::{Checkpoint, Record, Sink, SqliteSink, StreamConfig};
use haul_testkit::Dataset;

use super::report::{Row, thousands};
use super::sample::{Sample, Samples};

/// Records per committed batch: the extractor's default.
pub(crate) const BATCH: usize = 1_000;
/// The PostgresSink target, records per second (new rows).
pub(crate) const PG_TARGET: f64 = 100_000.0;
/// Records of the warm-up pass of each sink.
const WARM_UP: usize = 20_000;

/// What section 8 found: PostgreSQL's and SQLite's median rates of new
/// rows, or why PostgreSQL was not measured.
#[derive(Debug, Clone)]
pub(crate) struct SinksFound {
    pub(crate) records: usize,
    pub(crate) postgres: Result<f64, String>,
    pub(crate) sqlite: Result<f64, String>,
}

/// The demo's stream: keyed by `/id`, watermark column on `/updated_at`.
fn keyed(stream: &str) -> StreamConfig {
    StreamConfig::new(stream)
        .primary_key(["/id"])
        .watermark("/updated_at")
}

/// The server under measurement: `HAUL_POSTGRES` or the local default.
fn config() -> Result<Config, String> {
    let text = std::env::var("HAUL_POSTGRES")
        .unwrap_or_else(|_| "host=127.0.0.1 port=5432 user=postgres dbname=test".to_owned());
    let mut config: Config = text
        .parse()
        .map_err(|e| format!("HAUL_POSTGRES is not a connection string: {e}"))?;
    config.connect_timeout(Duration::from_secs(5));
    Ok(config)
}

/// Where `config` points, for messages (no password).
fn describe(config: &Config) -> String {
    let host = config
        .get_hosts()
        .first()
        .map(|h| match h {
            haul::postgres::tokio_postgres::config::Host::Tcp(name) => name.clone(),
            haul::postgres::tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .unwrap_or_else(|| "localhost".to_owned());
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!(
        "{host}:{port}, db {}, user {}",
        config.get_dbname().unwrap_or("-"),
        config.get_user().unwrap_or("-")
    )
}

/// An error and its causes, `: `-separated (tokio-postgres hides the
/// I/O cause, "connection refused", in `source`).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(&format!(": {c}"));
        cause = c.source();
    }
    text
}

/// Commits `records` into `stream` of `sink` in batches of [`BATCH`], each
/// with its checkpoint, from `open` to the last commit.
async fn pass(sink: &dyn Sink, stream: &str, records: &[Record]) -> Result<Sample, String> {
    let started = Instant::now();
    sink.open(stream)
        .await
        .map_err(|e| format!("opening {stream}: {e}"))?;
    let mut checkpoint = Checkpoint::start(stream);
    for chunk in records.chunks(BATCH) {
        checkpoint.pages += 1;
        checkpoint.records += chunk.len() as u64;
        sink.write(Batch {
            stream,
            records: chunk,
            checkpoint: &checkpoint,
        })
        .await
        .map_err(|e| format!("writing {stream}: {e}"))?;
    }
    Ok(Sample {
        records: records.len() as u64,
        requests: records.len().div_ceil(BATCH) as u64,
        elapsed: started.elapsed(),
    })
}

/// The PostgreSQL passes: `reps` of new rows (each into a new table) and
/// as many replays over existing keys, interleaved with SQLite's.
struct Postgres {
    config: Config,
    schema: String,
    sink: PostgresSink,
    /// The server's `synchronous_commit` (the rows do not change it).
    synchronous_commit: String,
}

impl Postgres {
    async fn connect() -> Result<Self, String> {
        let config = config()?;
        let schema = format!("haul_bench_{}", std::process::id());
        let unreachable = |e: &dyn std::fmt::Display| {
            format!("PostgreSQL at {} is unreachable: {e}", describe(&config))
        };
        let (admin, connection) = config
            .connect(NoTls)
            .await
            .map_err(|e| unreachable(&error_chain(&e)))?;
        let driver = tokio::spawn(connection);
        let synchronous_commit: String = admin
            .query_one("SHOW synchronous_commit", &[])
            .await
            .map_err(|e| unreachable(&error_chain(&e)))?
            .get(0);
        drop(admin);
        let _ = driver.await;
        let mut configured = PostgresSink::connect(config.clone(), &schema)
            .await
            .map_err(|e| unreachable(&e))?;
        for stream in streams() {
            configured = configured.stream(keyed(&stream));
        }
        Ok(Self {
            config,
            schema,
            sink: configured,
            synchronous_commit,
        })
    }

    /// Drops the schema and everything in it.
    async fn drop_schema(&self) -> Result<(), String> {
        self.sink.close().await.map_err(|e| e.to_string())?;
        let (admin, connection) = self
            .config
            .connect(NoTls)
            .await
            .map_err(|e| format!("cannot connect to drop schema {}: {e}", self.schema))?;
        let driver = tokio::spawn(connection);
        let dropped = admin
            .batch_execute(&format!(
                "DROP SCHEMA IF EXISTS \"{}\" CASCADE",
                self.schema
            ))
            .await
            .map_err(|e| format!("cannot drop schema {}: {e}", self.schema));
        drop(admin);
        let _ = driver.await;
        dropped
    }
}

/// The stream names of the passes: a warm-up table, then one per repetition.
fn streams() -> Vec<String> {
    (0..=MAX_REPS).map(|i| format!("items_{i}")).collect()
}
const MAX_REPS: usize = 9;

/// Measures section 8 and pushes its rows.
pub(crate) fn rows(
    client: &tokio::runtime::Runtime,
    seed: u64,
    records: usize,
    reps: usize,
    scratch: &Path,
    rows: &mut Vec<Row>,
) -> SinksFound {
    let reps = reps.clamp(1, MAX_REPS);
    let dataset = Dataset::generate(seed, records);
    let parsed: Result<Vec<Record>, String> = dataset
        .records()
        .iter()
        .map(|r| Record::from_json(r).map_err(|e| format!("a demo record is not JSON: {e}")))
        .collect();
    drop(dataset);
    let records_list = match parsed {
        Ok(list) => list,
        Err(e) => {
            return SinksFound {
                records,
                postgres: Err(e.clone()),
                sqlite: Err(e),
            };
        }
    };
    let avg = records_list.iter().map(Record::len).sum::<usize>() / records_list.len().max(1);
    let postgres = client.block_on(Postgres::connect());
    if let Err(e) = &postgres {
        eprintln!("  PostgreSQL rows skipped: {e}");
    }
    let mut pg_new = Samples::default();
    let mut pg_replay = Samples::default();
    let mut lite_new = Samples::default();
    let mut lite_replay = Samples::default();
    let result: Result<(), String> = client.block_on(async {
        let warm = &records_list[..WARM_UP.min(records_list.len())];
        let lite_path = scratch.join("sinks_alone.db");
        let lite = |stream: &str| -> Result<SqliteSink, String> {
            super::haul_runs::sqlite_sink(&lite_path, stream)
        };
        // Warm-up, both sinks alike: connections, caches, the first table.
        if let Ok(pg) = &postgres {
            pass(&pg.sink, "items_0", warm).await?;
        }
        let sink = lite("items_0")?;
        pass(&sink, "items_0", warm).await?;
        sink.close().await.map_err(|e| e.to_string())?;
        for rep in 1..=reps {
            let stream = format!("items_{rep}");
            let mut line = format!("  run {rep}/{reps}:");
            if let Ok(pg) = &postgres {
                let new = pass(&pg.sink, &stream, &records_list).await?;
                let replay = pass(&pg.sink, &stream, &records_list).await?;
                line.push_str(&format!(
                    " PostgresSink {} new, {} replay ·",
                    thousands(new.rate()),
                    thousands(replay.rate())
                ));
                pg_new.0.push(new);
                pg_replay.0.push(replay);
            }
            let sink = lite(&stream)?;
            let new = pass(&sink, &stream, &records_list).await?;
            let replay = pass(&sink, &stream, &records_list).await?;
            sink.close().await.map_err(|e| e.to_string())?;
            eprintln!(
                "{line} SqliteSink {} new, {} replay records/s",
                thousands(new.rate()),
                thousands(replay.rate())
            );
            lite_new.0.push(new);
            lite_replay.0.push(replay);
        }
        Ok(())
    });
    if let Ok(pg) = &postgres
        && let Err(e) = client.block_on(pg.drop_schema())
    {
        eprintln!("  warning: {e}");
    }
    if let Err(e) = result {
        eprintln!("  failed: {e}");
        return SinksFound {
            records,
            postgres: Err(postgres.map_or_else(|why| why, |_| e.clone())),
            sqlite: Err(e),
        };
    }
    let batches = format!(
        "{} demo records of {avg} bytes on average, batches of {}, each with its checkpoint",
        thousands(records as f64),
        thousands(BATCH as f64)
    );
    let found_pg = match &postgres {
        Ok(pg) => {
            rows.push(
                Row::from_samples(
                    8,
                    "PostgresSink, new rows (binary COPY + merge per batch)",
                    &pg_new,
                )
                .note(format!(
                    "{batches}; PostgreSQL at {}, synchronous_commit={}",
                    describe(&pg.config),
                    pg.synchronous_commit
                )),
            );
            rows.push(
                Row::from_samples(8, "PostgresSink, replay over existing keys", &pg_replay)
                    .note("the same batches again: nothing changes, no row is rewritten"),
            );
            Ok(pg_new.median().rate())
        }
        Err(why) => Err(why.clone()),
    };
    rows.push(
        Row::from_samples(
            8,
            "SqliteSink, new rows (WAL, synchronous=NORMAL)",
            &lite_new,
        )
        .note(format!(
            "{batches}; same records and batches as PostgresSink"
        )),
    );
    rows.push(
        Row::from_samples(8, "SqliteSink, replay over existing keys", &lite_replay)
            .note("the same batches again"),
    );
    SinksFound {
        records,
        postgres: found_pg,
        sqlite: Ok(lite_new.median().rate()),
    }
}
