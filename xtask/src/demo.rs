//! `cargo xtask demo`.

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use haul::extractor::{Event, Observer};
use haul::{CursorPaginator, Extractor, JsonLinesSink, RunSummary};
use haul_testkit::{Dataset, FakeApi};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

const STREAM: &str = "items";

/// Demo options.
#[derive(Debug)]
pub(crate) struct Options {
    records: usize,
    page_size: usize,
    seed: u64,
    out: PathBuf,
    report: Option<PathBuf>,
}

impl Options {
    pub(crate) fn parse(args: &[String]) -> Result<Self, String> {
        let map = crate::flags(
            args,
            &["--records", "--page-size", "--seed", "--out", "--report"],
        )?;
        let options = Self {
            records: crate::number(&map, "--records", 100_000)?,
            page_size: crate::number(&map, "--page-size", 100)?,
            seed: crate::number(&map, "--seed", 42)?,
            out: map
                .get("--out")
                .map_or_else(|| PathBuf::from("demo-out"), PathBuf::from),
            report: map.get("--report").map(PathBuf::from),
        };
        if options.page_size == 0 {
            return Err("--page-size must be at least 1".into());
        }
        Ok(options)
    }
}

#[derive(Debug, Serialize)]
struct Report {
    records: u64,
    pages: u64,
    requests: u64,
    retries: u64,
    throttle_wait_ms: u64,
    bytes: u64,
    elapsed_ms: u64,
    records_per_sec: f64,
    verified: bool,
    dataset_records: usize,
    page_size: usize,
    seed: u64,
    sink: &'static str,
    output: String,
    server_requests: u64,
    mismatches: Vec<String>,
}

pub(crate) fn run(options: Options) -> Result<ExitCode, String> {
    init_tracing();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(demo(options))
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("HAUL_LOG").unwrap_or_else(|_| EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

async fn demo(options: Options) -> Result<ExitCode, String> {
    let generated = Instant::now();
    let dataset = Dataset::generate(options.seed, options.records);
    eprintln!(
        "haul demo: {} records (seed {}) generated in {:.2?}; {} per page",
        dataset.len(),
        options.seed,
        generated.elapsed(),
        options.page_size
    );
    let server = FakeApi::builder()
        .dataset(dataset.clone())
        .default_page_size(options.page_size)
        .max_page_size(options.page_size.max(1000))
        .build()
        .start()
        .await
        .map_err(|e| format!("cannot start the fake API: {e}"))?;
    eprintln!("fake API listening on {}", server.url("/"));

    std::fs::create_dir_all(&options.out)
        .map_err(|e| format!("cannot create {}: {e}", options.out.display()))?;
    // Each demo run is a fresh extraction into a clean destination.
    for name in [format!("{STREAM}.jsonl"), format!("{STREAM}.state.json")] {
        let path = options.out.join(name);
        if path.exists() {
            std::fs::remove_file(&path)
                .map_err(|e| format!("cannot remove {}: {e}", path.display()))?;
        }
    }

    let pages_expected = dataset.len().div_ceil(options.page_size).max(1) as u64;
    let progress = Progress::new(pages_expected, dataset.len() as u64);
    let extractor = Extractor::builder()
        .url(server.url("/items").to_string())
        .paginator(
            CursorPaginator::new("/next_cursor", "cursor")
                .records_at("/data")
                .page_size("limit", options.page_size as u64),
        )
        .stream(STREAM)
        .batch_size(5_000)
        .observer(progress.clone())
        .build()
        .map_err(|e| e.to_string())?;
    let sink = JsonLinesSink::new(&options.out);
    let result = extractor.run(&sink).await;
    progress.finish();
    let summary = match result {
        Ok(summary) => summary,
        Err(e) => {
            eprintln!("extraction failed: {e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    println!("{summary}");

    let output = sink.data_path(STREAM);
    let mismatches = verify(&output, &dataset)?;
    let verified = mismatches.is_empty();
    if verified {
        println!(
            "verified: {} holds every one of the {} records exactly once, byte for byte",
            output.display(),
            dataset.len()
        );
    } else {
        println!("VERIFICATION FAILED ({} problems):", mismatches.len());
        for m in mismatches.iter().take(20) {
            println!("  {m}");
        }
    }
    let stats = server.stats();
    if let Some(path) = &options.report {
        let report = build_report(
            &summary,
            &options,
            &dataset,
            verified,
            stats.requests,
            &output,
            mismatches,
        );
        let json = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
        std::fs::write(path, json + "\n")
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        println!("report written to {}", path.display());
    }
    server.shutdown().await;
    Ok(if verified {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn build_report(
    summary: &RunSummary,
    options: &Options,
    dataset: &Dataset,
    verified: bool,
    server_requests: u64,
    output: &std::path::Path,
    mismatches: Vec<String>,
) -> Report {
    let secs = summary.elapsed.as_secs_f64();
    Report {
        records: summary.records,
        pages: summary.pages,
        requests: summary.requests,
        retries: summary.retries,
        throttle_wait_ms: summary.throttle_wait.as_millis() as u64,
        bytes: summary.bytes,
        elapsed_ms: summary.elapsed.as_millis() as u64,
        records_per_sec: if secs > 0.0 {
            (summary.records as f64 / secs).round()
        } else {
            0.0
        },
        verified,
        dataset_records: dataset.len(),
        page_size: options.page_size,
        seed: options.seed,
        sink: "jsonl",
        output: output.display().to_string(),
        server_requests,
        mismatches: mismatches.into_iter().take(100).collect(),
    }
}

/// Compares the destination with the dataset: every record exactly once, content equal.
fn verify(path: &std::path::Path, dataset: &Dataset) -> Result<Vec<String>, String> {
    let file =
        std::fs::File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let mut problems = Vec::new();
    let mut seen = vec![0u32; dataset.len()];
    let mut lines = 0usize;
    for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        lines += 1;
        let id = haul::core::json::scalar_at(&line, "/id")
            .ok()
            .flatten()
            .and_then(|id| id.parse::<usize>().ok());
        match id {
            Some(id) if (1..=dataset.len()).contains(&id) => {
                seen[id - 1] += 1;
                if dataset.record(id - 1) != Some(line.as_str()) {
                    problems.push(format!(
                        "line {}: record {id} differs from the dataset",
                        n + 1
                    ));
                }
            }
            _ => problems.push(format!(
                "line {}: no valid id: {}",
                n + 1,
                haul::core::body_preview(line.as_bytes())
            )),
        }
    }
    for (i, count) in seen.iter().enumerate() {
        match count {
            1 => {}
            0 => problems.push(format!("record {} is missing", i + 1)),
            n => problems.push(format!("record {} appears {n} times", i + 1)),
        }
    }
    if lines != dataset.len() {
        problems.push(format!("{lines} lines for {} records", dataset.len()));
    }
    Ok(problems)
}

/// A progress bar on a terminal, plain log lines otherwise.
#[derive(Clone)]
struct Progress {
    bar: Option<ProgressBar>,
    total_pages: u64,
    total_records: u64,
}

impl Progress {
    fn new(total_pages: u64, total_records: u64) -> Arc<Self> {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(total_records);
            if let Ok(style) = ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} records ({per_sec}) {msg}",
            ) {
                bar.set_style(style);
            }
            bar
        });
        Arc::new(Self {
            bar,
            total_pages,
            total_records,
        })
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish();
        }
    }
}

impl Observer for Progress {
    fn on_event(&self, event: &Event<'_>) {
        match event {
            Event::PageFetched {
                number, records, ..
            } => {
                if let Some(bar) = &self.bar {
                    bar.inc(*records as u64);
                    bar.set_message(format!("page {number}/{}", self.total_pages));
                }
            }
            Event::RetryScheduled {
                attempt,
                delay,
                reason,
                ..
            } => {
                let line = format!("retry after attempt {attempt} in {delay:.1?}: {reason}");
                match &self.bar {
                    Some(bar) => bar.println(line),
                    None => eprintln!("{line}"),
                }
            }
            Event::BatchCommitted { pages, records, .. } if self.bar.is_none() => {
                eprintln!(
                    "committed {records}/{} records ({pages}/{} pages)",
                    self.total_records, self.total_pages
                );
            }
            _ => {}
        }
    }
}
