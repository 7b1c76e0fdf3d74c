//! Measures how many records per second each sink commits.
//!
//! ```text
//! cargo run --release -p haul-sink --example sink_throughput -- --records 200000 --batch 5000
//! ```
//!
//! Each record is a realistic ~250-byte JSON object with `id` and
//! `updated_at`. Every sink starts from an empty temporary directory; the time
//! covers opening the stream and committing every batch with its checkpoint.
#![allow(clippy::print_stdout)] // a benchmark reports on stdout

use std::error::Error;
use std::time::Instant;

use haul_core::{Checkpoint, Record};
use haul_sink::{Batch, JsonLinesSink, Sink, SqliteSink, StreamConfig, Synchronous};

struct Args {
    records: usize,
    batch: usize,
}

fn parse_args() -> Result<Args, Box<dyn Error>> {
    let mut args = Args {
        records: 200_000,
        batch: 5_000,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--records" => args.records = value.parse()?,
            "--batch" => args.batch = value.parse()?,
            _ => return Err(format!("unknown flag {flag} (use --records N --batch N)").into()),
        }
    }
    if args.batch == 0 {
        return Err("--batch must be at least 1".into());
    }
    Ok(args)
}

fn record(i: usize) -> Result<Record, Box<dyn Error>> {
    let day = i / 86_400 % 28 + 1;
    let secs = i % 86_400;
    let text = format!(
        concat!(
            r#"{{"id":{i},"updated_at":"2026-02-{day:02}T{h:02}:{m:02}:{s:02}Z","#,
            r#""name":"Zoë Nowak #{i}","email":"user{i}@example.com","status":"active","#,
            r#""score":{score}.25,"tags":["alpha","beta","gamma"],"#,
            r#""address":{{"street":"{street} Main Street","city":"Springfield","country":"US"}}}}"#
        ),
        i = i + 1,
        day = day,
        h = secs / 3600,
        m = secs / 60 % 60,
        s = secs % 60,
        score = i * 7 % 10_000,
        street = i % 997,
    );
    Ok(Record::from_json(&text)?)
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
    sink.close().await?;
    let secs = started.elapsed().as_secs_f64();
    let rate = records.len() as f64 / secs;
    let bytes: usize = records.iter().map(Record::len).sum();
    println!(
        "{label:<44} {:>9} records in {secs:>6.3} s = {rate:>10.0} records/s ({:>6.1} MB/s)",
        records.len(),
        bytes as f64 / secs / 1e6
    );
    Ok(rate)
}

fn main() -> Result<(), Box<dyn Error>> {
    let args = parse_args()?;
    let records = (0..args.records)
        .map(record)
        .collect::<Result<Vec<_>, _>>()?;
    let avg = records.iter().map(Record::len).sum::<usize>() / records.len().max(1);
    println!(
        "{} records of {avg} bytes on average, batches of {}",
        args.records, args.batch
    );
    let rt = tokio::runtime::Builder::new_multi_thread().build()?;
    rt.block_on(async {
        let keyed = || {
            StreamConfig::new("items")
                .primary_key(["/id"])
                .watermark("/updated_at")
        };
        for (label, sync) in [
            (
                "sqlite (key /id, watermark, sync NORMAL)",
                Synchronous::Normal,
            ),
            ("sqlite (key /id, watermark, sync FULL)", Synchronous::Full),
        ] {
            let dir = tempfile::tempdir()?;
            let sink = SqliteSink::open_with(dir.path().join("haul.db"), sync)?.stream(keyed());
            measure(label, &sink, &records, args.batch).await?;
        }
        {
            // Every key already present: the replay path.
            let dir = tempfile::tempdir()?;
            let path = dir.path().join("haul.db");
            let sink = SqliteSink::open(&path)?.stream(keyed());
            measure(
                "(sqlite first pass, not counted)",
                &sink,
                &records,
                args.batch,
            )
            .await?;
            let sink = SqliteSink::open(&path)?.stream(keyed());
            measure(
                "sqlite upsert over existing keys, NORMAL",
                &sink,
                &records,
                args.batch,
            )
            .await?;
        }
        {
            let dir = tempfile::tempdir()?;
            let sink = SqliteSink::open(dir.path().join("haul.db"))?
                .stream(StreamConfig::new("items").append_only());
            measure(
                "sqlite (append-only, sync NORMAL)",
                &sink,
                &records,
                args.batch,
            )
            .await?;
        }
        for (label, fsync) in [("jsonl (fsync on)", true), ("jsonl (fsync off)", false)] {
            let dir = tempfile::tempdir()?;
            let sink = JsonLinesSink::new(dir.path()).fsync(fsync);
            measure(label, &sink, &records, args.batch).await?;
        }
        Ok::<(), Box<dyn Error>>(())
    })
}
