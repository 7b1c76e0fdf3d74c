//! A small extraction program the crash test runs as a child process and
//! kills with `SIGKILL`: the full stack (reqwest transport, cursor
//! pagination over the testkit's `/items`, default retries) into SQLite or
//! JSON Lines, committing every few pages.
//!
//! ```text
//! haul-crash-child <server-url> <sqlite|sqlite-append|jsonl> <out> <page-size>
//!     [--batch-pages N] [--offset K] [--paced]
//! ```
//!
//! `<out>` is the database file (SQLite) or the output directory (JSON
//! Lines); the stream is `items`. `sqlite` upserts by `/id`;
//! `sqlite-append` appends without a primary key, so a replayed record
//! would show up twice. `--offset K` walks the testkit's `/offset` (offset
//! and total) with `K` pages in flight instead of the sequential cursor. After each page is fetched — before it is
//! committed — the program prints `page N` and flushes stdout. With
//! `--paced` it then waits for a line on stdin before going on (at end of
//! input it runs freely), so the parent decides exactly where it is killed.
//! Before each commit it prints `commit N` (N: the pages the batch brings
//! the stream to) and goes straight on, so a parent that kills it on that
//! line usually lands inside the sink's write.
//! A run that finishes prints
//! `done resumed_after=<page> pages=<n> records=<n> requests=<n>` and exits 0;
//! a failed one prints the error on stderr and exits 1.

use std::io::{BufRead, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use haul::extractor::Event;
use haul::sink::Batch;
use haul::{
    Checkpoint, CursorPaginator, Extractor, JsonLinesSink, Observer, OffsetPaginator, Sink,
    SinkError, SqliteSink, StreamConfig,
};

const STREAM: &str = "items";

struct Args {
    url: String,
    sink: String,
    out: String,
    page_size: u64,
    batch_pages: u64,
    /// Offset pagination with this many pages in flight; `None`: cursor.
    offset: Option<usize>,
    paced: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = std::env::args().skip(1);
    let mut next = |what: &str| args.next().ok_or_else(|| format!("missing {what}"));
    let url = next("server url")?;
    let sink = next("sink kind")?;
    let out = next("output path")?;
    let page_size = next("page size")?
        .parse()
        .map_err(|e| format!("bad page size: {e}"))?;
    let (mut batch_pages, mut paced, mut offset) = (2, false, None);
    while let Ok(flag) = next("flag") {
        match flag.as_str() {
            "--paced" => paced = true,
            "--offset" => {
                offset = Some(
                    next("pages in flight")?
                        .parse()
                        .map_err(|e| format!("bad pages in flight: {e}"))?,
                );
            }
            "--batch-pages" => {
                batch_pages = next("batch pages")?
                    .parse()
                    .map_err(|e| format!("bad batch pages: {e}"))?;
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(Args {
        url,
        sink,
        out,
        page_size,
        batch_pages,
        offset,
        paced,
    })
}

fn say(line: std::fmt::Arguments<'_>) {
    let mut stdout = std::io::stdout().lock();
    // A parent that stopped reading is about to kill us anyway.
    let _ = stdout.write_fmt(line);
    let _ = stdout.write_all(b"\n");
    let _ = stdout.flush();
}

/// Announces each commit just before handing it to the real sink.
struct Announced(Box<dyn Sink>);

#[async_trait]
impl Sink for Announced {
    async fn open(&self, stream: &str) -> Result<Option<Checkpoint>, SinkError> {
        self.0.open(stream).await
    }

    async fn write(&self, batch: Batch<'_>) -> Result<(), SinkError> {
        say(format_args!("commit {}", batch.checkpoint.pages));
        self.0.write(batch).await
    }

    async fn watermark(&self, stream: &str, pointer: &str) -> Result<Option<String>, SinkError> {
        self.0.watermark(stream, pointer).await
    }

    async fn close(&self) -> Result<(), SinkError> {
        self.0.close().await
    }
}

/// Prints `page N` for every page fetched; when paced, waits for the parent.
struct PageReporter {
    /// Still waiting for the parent after each page (until stdin ends).
    paced: AtomicBool,
}

impl Observer for PageReporter {
    fn on_event(&self, event: &Event<'_>) {
        let Event::PageFetched { number, .. } = event else {
            return;
        };
        say(format_args!("page {number}"));
        if self.paced.load(Ordering::Relaxed) {
            // Blocking the runtime here is the point: nothing moves until
            // the parent says so (or kills us).
            let mut line = String::new();
            match std::io::stdin().lock().read_line(&mut line) {
                Ok(0) | Err(_) => self.paced.store(false, Ordering::Relaxed),
                Ok(_) => {}
            }
        }
    }
}

async fn run(args: Args) -> Result<String, Box<dyn std::error::Error>> {
    let inner: Box<dyn Sink> = match args.sink.as_str() {
        "sqlite" => Box::new(
            SqliteSink::open(&args.out)?.stream(
                StreamConfig::new(STREAM)
                    .primary_key(["/id"])
                    .watermark("/updated_at"),
            ),
        ),
        "sqlite-append" => Box::new(
            SqliteSink::open(&args.out)?.stream(
                StreamConfig::new(STREAM)
                    .append_only()
                    .watermark("/updated_at"),
            ),
        ),
        "jsonl" => Box::new(JsonLinesSink::new(&args.out)),
        other => {
            return Err(format!("unknown sink {other:?} (sqlite, sqlite-append or jsonl)").into());
        }
    };
    let sink = Announced(inner);
    let batch = usize::try_from(args.page_size * args.batch_pages)?;
    let base = args.url.trim_end_matches('/');
    let builder = match args.offset {
        None => Extractor::builder().url(format!("{base}/items")).paginator(
            CursorPaginator::new("/next_cursor", "cursor")
                .records_at("/data")
                .page_size("limit", args.page_size),
        ),
        Some(k) => Extractor::builder()
            .url(format!("{base}/offset"))
            .paginator(
                OffsetPaginator::new("offset")
                    .limit("limit", args.page_size)
                    .total_at("/total")
                    .records_at("/results"),
            )
            .concurrency(k),
    };
    let extractor = builder
        .stream(STREAM)
        .batch_size(batch)
        .observer(PageReporter {
            paced: AtomicBool::new(args.paced),
        })
        .build()?;
    let summary = extractor.run(&sink).await?;
    sink.close().await?;
    Ok(format!(
        "done resumed_after={} pages={} records={} requests={}",
        summary.resumed_after_page, summary.pages, summary.records, summary.requests
    ))
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(err) => {
            eprintln!("haul-crash-child: {err}");
            eprintln!(
                "usage: haul-crash-child <server-url> <sqlite|sqlite-append|jsonl> <out> <page-size> [--batch-pages N] [--offset K] [--paced]"
            );
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("haul-crash-child: no runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(done) => {
            println!("{done}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("haul-crash-child: {err}");
            ExitCode::FAILURE
        }
    }
}
