//! One worker of the connector demo's connector (`haul_e2e::demo_connector`)
//! sharing a PostgreSQL work queue with others, as a child process the
//! worker tests kill (`SIGKILL`) or stall (`SIGSTOP` / `SIGCONT`).
//!
//! ```text
//! haul-worker-child <server-url> <postgres-config> <schema> <owner>
//!     [--ttl-ms N] [--poll-ms N] [--in-flight N] [--page-size N] [--rate N]
//! ```
//!
//! Every stream is append-only in PostgreSQL (no primary key), so a record
//! written twice would be stored twice. `--rate N` paces this worker's
//! requests at N per second. After each page is fetched — before it is
//! committed — it prints `page N` and flushes stdout. A worker that ends
//! prints `done <WorkerSummary as JSON>` and exits 0; any error is printed
//! on stderr with exit code 1.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use haul::postgres::{Leases, PostgresSink, PostgresWorkQueue};
use haul::{Event, FixedRate, Observer, StreamConfig, WorkerOptions};

struct Args {
    url: String,
    postgres: String,
    schema: String,
    owner: String,
    ttl: Duration,
    poll: Duration,
    in_flight: usize,
    page_size: u64,
    rate: Option<u32>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = std::env::args().skip(1);
    let mut next = |what: &str| args.next().ok_or_else(|| format!("missing {what}"));
    let (url, postgres) = (next("server url")?, next("postgres config")?);
    let (schema, owner) = (next("schema")?, next("owner")?);
    let mut parsed = Args {
        url,
        postgres,
        schema,
        owner,
        ttl: Duration::from_secs(2),
        poll: Duration::from_millis(100),
        in_flight: 2,
        page_size: 20,
        rate: None,
    };
    while let Ok(flag) = next("flag") {
        let value = next("flag value")?;
        let number = value
            .parse::<u64>()
            .map_err(|e| format!("bad {flag}: {e}"))?;
        match flag.as_str() {
            "--ttl-ms" => parsed.ttl = Duration::from_millis(number),
            "--poll-ms" => parsed.poll = Duration::from_millis(number),
            "--in-flight" => {
                parsed.in_flight = usize::try_from(number).map_err(|e| e.to_string())?
            }
            "--page-size" => parsed.page_size = number,
            "--rate" => parsed.rate = Some(u32::try_from(number).map_err(|e| e.to_string())?),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(parsed)
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

async fn run(args: Args) -> Result<String, Box<dyn std::error::Error>> {
    let config: haul::postgres::tokio_postgres::Config = args.postgres.parse()?;
    let mut sink = PostgresSink::connect(config.clone(), &args.schema).await?;
    for stream in haul_e2e::DEMO_STREAMS {
        sink = sink.stream(StreamConfig::new(stream).append_only());
    }
    let leases = Leases::connect(config, &args.schema, args.owner.clone())
        .await?
        .ttl(args.ttl);
    let queue = PostgresWorkQueue::new(leases, sink);
    let mut builder = haul_e2e::demo_connector(&args.url, args.page_size)?
        .max_in_flight(args.in_flight)
        .observer(PageReporter::default());
    if let Some(rate) = args.rate {
        builder = builder.rate_limiter(FixedRate::per_second(rate));
    }
    let summary = builder
        .build()?
        .run_worker(
            Arc::new(queue),
            &WorkerOptions::default().poll_interval(args.poll),
        )
        .await?;
    Ok(format!("done {}", serde_json::to_string(&summary)?))
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!(
                "usage: haul-worker-child <server-url> <postgres-config> <schema> <owner> \
                 [--ttl-ms N] [--poll-ms N] [--in-flight N] [--page-size N] [--rate N]: {e}"
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
