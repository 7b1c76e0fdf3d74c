//! How many of the demo's records per second `PostgresSink` commits into a
//! local PostgreSQL, beside `SqliteSink` on the same records and batches.
//!
//! ```text
//! cargo run --release -p haul-postgres --example pg_throughput -- --records 200000 --batch 1000
//! ```
//!
//! The records are the demo's (`haul_testkit::Dataset`, seed 7); both sinks
//! key by `/id` with a watermark column on `/updated_at`, as the demo's
//! destination does. Each figure covers opening the stream and committing
//! every batch with its checkpoint; the replay figure writes every record
//! again over existing keys (nothing changes, so no row is rewritten).
//! PostgreSQL is `HAUL_POSTGRES` (default `host=127.0.0.1 user=postgres
//! dbname=test`); the example works in a schema of its own and drops it.
#![allow(clippy::print_stdout)] // a benchmark reports on stdout

use std::error::Error;
use std::time::Instant;

use haul_core::{Checkpoint, Record};
use haul_postgres::PostgresSink;
use haul_postgres::tokio_postgres::{Config, NoTls};
use haul_sink::{Batch, Sink, SqliteSink, StreamConfig};
use haul_testkit::Dataset;

fn arg(name: &str, default: usize) -> Result<usize, Box<dyn Error>> {
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|a| a == name) {
        Some(i) => Ok(args
            .get(i + 1)
            .ok_or(format!("{name} needs a value"))?
            .parse()?),
        None => Ok(default),
    }
}

async fn measure(
    label: &str,
    sink: &dyn Sink,
    records: &[Record],
    batch: usize,
) -> Result<f64, Box<dyn Error>> {
    let started = Instant::now();
    sink.open("items").await?;
    let mut cp = Checkpoint::start("items");
    for chunk in records.chunks(batch) {
        cp.pages += 1;
        cp.records += chunk.len() as u64;
        sink.write(Batch {
            stream: "items",
            records: chunk,
            checkpoint: &cp,
        })
        .await?;
    }
    let secs = started.elapsed().as_secs_f64();
    let rate = records.len() as f64 / secs;
    println!(
        "{label:<40} {:>8} records in {secs:>6.3} s = {rate:>9.0} records/s",
        records.len()
    );
    Ok(rate)
}

fn keyed() -> StreamConfig {
    StreamConfig::new("items")
        .primary_key(["/id"])
        .watermark("/updated_at")
}

fn main() -> Result<(), Box<dyn Error>> {
    let n = arg("--records", 200_000)?;
    let batch = arg("--batch", 1_000)?.max(1);
    let dataset = Dataset::generate(7, n);
    let records = dataset
        .records()
        .iter()
        .map(|r| Record::from_json(r))
        .collect::<Result<Vec<_>, _>>()?;
    let avg = records.iter().map(Record::len).sum::<usize>() / records.len().max(1);
    println!("{n} demo records of {avg} bytes on average, batches of {batch}");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let text = std::env::var("HAUL_POSTGRES")
            .unwrap_or_else(|_| "host=127.0.0.1 user=postgres dbname=test".to_owned());
        let config: Config = text.parse()?;
        let schema = format!("haul_bench_{}", std::process::id());
        let pg = PostgresSink::connect(config.clone(), &schema)
            .await?
            .stream(keyed());
        let result = async {
            measure("PostgresSink (COPY + merge)", &pg, &records, batch).await?;
            let again = PostgresSink::connect(config.clone(), &schema)
                .await?
                .stream(keyed());
            measure(
                "PostgresSink replay over existing keys",
                &again,
                &records,
                batch,
            )
            .await?;
            Ok::<(), Box<dyn Error>>(())
        }
        .await;
        let (admin, connection) = config.connect(NoTls).await?;
        tokio::spawn(connection);
        admin
            .batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
            .await?;
        result?;

        let dir = tempfile::tempdir()?;
        let path = dir.path().join("haul.db");
        let sqlite = SqliteSink::open(&path)?.stream(keyed());
        measure("SqliteSink (WAL, sync NORMAL)", &sqlite, &records, batch).await?;
        let again = SqliteSink::open(&path)?.stream(keyed());
        measure(
            "SqliteSink replay over existing keys",
            &again,
            &records,
            batch,
        )
        .await?;
        Ok(())
    })
}
