//! The connector demo's connector, as a child process the connector crash
//! test kills with `SIGKILL`: organisations → repositories → events, and
//! the audit log in monthly windows over 2026, from the testkit's
//! parent/child API (`OrgTree`) into SQLite, committing every page. It is
//! the same connector `cargo xtask demo --connector` runs (the xtask
//! binary cannot be a dependency of a test).
//!
//! ```text
//! haul-connector-child <server-url> <db> [--in-flight N] [--page-size N]
//! ```
//!
//! After each page is fetched — before it is committed — it prints
//! `page N` (N counting pages across every stream) and flushes stdout. A
//! run that ends prints `failed <stream> <partition>` for each failed
//! partition, then `done already_finished=<n> partitions=<n> requests=<n>
//! failed=<n> resumed=<bool>`, and exits 0 (a failed partition is not fatal
//! here: the deleted repository's events answer 404); any other error is
//! printed on stderr with exit code 1.

use std::io::Write;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};

use haul::extractor::Event;
use haul::{Connector, ConnectorError, Observer, SqliteSink, StreamConfig};
use haul_e2e::DEMO_STREAMS;

struct Args {
    url: String,
    db: String,
    in_flight: usize,
    page_size: u64,
}

fn parse_args() -> Result<Args, String> {
    let mut args = std::env::args().skip(1);
    let mut next = |what: &str| args.next().ok_or_else(|| format!("missing {what}"));
    let url = next("server url")?;
    let db = next("database path")?;
    let (mut in_flight, mut page_size) = (4, 20);
    while let Ok(flag) = next("flag") {
        let value = next("flag value")?;
        let number = |v: &str| v.parse::<u64>().map_err(|e| format!("bad {flag}: {e}"));
        match flag.as_str() {
            "--in-flight" => {
                in_flight = usize::try_from(number(&value)?).map_err(|e| e.to_string())?
            }
            "--page-size" => page_size = number(&value)?,
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(Args {
        url,
        db,
        in_flight,
        page_size,
    })
}

fn say(line: std::fmt::Arguments<'_>) {
    let mut stdout = std::io::stdout().lock();
    // A parent that stopped reading is about to kill us anyway.
    let _ = stdout.write_fmt(line);
    let _ = stdout.write_all(b"\n");
    let _ = stdout.flush();
}

/// Prints `page N` for every page fetched, across streams.
#[derive(Default)]
struct PageReporter(AtomicU64);

impl Observer for PageReporter {
    fn on_event(&self, event: &Event<'_>) {
        if let Event::PageFetched { .. } = event {
            let n = self.0.fetch_add(1, Ordering::Relaxed) + 1;
            say(format_args!("page {n}"));
        }
    }
}

fn connector(args: &Args) -> Result<Connector, Box<dyn std::error::Error>> {
    Ok(haul_e2e::demo_connector(&args.url, args.page_size)?
        .max_in_flight(args.in_flight)
        .observer(PageReporter::default())
        .build()?)
}

async fn run(args: Args) -> Result<String, Box<dyn std::error::Error>> {
    let mut sink = SqliteSink::open(&args.db)?;
    for stream in DEMO_STREAMS {
        sink = sink.stream(StreamConfig::new(stream).primary_key(["/id"]));
    }
    let summary = match connector(&args)?.run(&sink).await {
        Ok(summary) => summary,
        Err(ConnectorError::Failed { failed, summary }) => {
            for f in &failed {
                say(format_args!("failed {} {}", f.stream, f.partition));
            }
            *summary
        }
        Err(e) => return Err(e.into()),
    };
    Ok(format!(
        "done already_finished={} partitions={} requests={} failed={} resumed={}",
        summary.partitions_already_finished,
        summary.partitions.len(),
        summary.requests,
        summary.partitions_failed,
        summary.resumed
    ))
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!(
                "usage: haul-connector-child <server-url> <db> [--in-flight N] [--page-size N]: {e}"
            );
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(done) => {
            say(format_args!("{done}"));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
