//! `cargo xtask demo`: the fake API, extracted through the full stack, verified.

mod connector;
mod presets;
mod progress;
mod sink;
mod styles;
mod verify;
pub(crate) mod workers;

pub(crate) use verify::verify as verify_records;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use haul::{
    AdaptiveRate, AllOf, ExponentialBackoff, ExtractError, Extractor, HeaderAdaptive,
    HumanDuration, Incremental, RunSummary,
};
use haul_testkit::{
    Dataset, Emulation, FakeApi, Faults, RateLimit, RunningServer, ServerTls, TestPki, Throttle,
};
use serde::Serialize;

use progress::Progress;
use sink::{DemoSink, SinkKind};

const STREAM: &str = "items";

/// Demo options.
#[derive(Debug)]
pub(crate) struct Options {
    records: usize,
    page_size: usize,
    seed: u64,
    out: PathBuf,
    report: Option<PathBuf>,
    sink: SinkKind,
    kill_after_pages: Option<u64>,
    faults: bool,
    concurrency: usize,
    style: String,
    preset: Option<Emulation>,
    incremental: bool,
    /// `--connector`: the three-level connector demo.
    connector: bool,
    /// `--page-size` and `--concurrency` as given (the connector demo has
    /// its own defaults).
    page_size_given: Option<usize>,
    concurrency_given: Option<usize>,
    /// `--tls`: a CA made for this run; the server speaks HTTPS with a
    /// certificate it issued, and the client trusts only that CA.
    tls: Option<Arc<TestPki>>,
}

impl Options {
    pub(crate) fn parse(args: &[String]) -> Result<Self, String> {
        let (map, switches) = crate::flags(
            args,
            &[
                "--records",
                "--page-size",
                "--seed",
                "--out",
                "--report",
                "--sink",
                "--kill-after-pages",
                "--concurrency",
                "--style",
                "--preset",
            ],
            &["--faults", "--incremental", "--tls", "--connector"],
        )?;
        let options = Self {
            records: crate::number(&map, "--records", 100_000)?,
            page_size: crate::number(&map, "--page-size", 100)?,
            seed: crate::number(&map, "--seed", 42)?,
            out: map
                .get("--out")
                .map_or_else(|| PathBuf::from("demo-out"), PathBuf::from),
            report: map.get("--report").map(PathBuf::from),
            sink: map
                .get("--sink")
                .map_or(Ok(SinkKind::Sqlite), |s| SinkKind::parse(s))?,
            kill_after_pages: map
                .get("--kill-after-pages")
                .map(|_| crate::number(&map, "--kill-after-pages", 0u64))
                .transpose()?,
            faults: switches.contains(&"--faults"),
            concurrency: crate::number(&map, "--concurrency", 1)?,
            style: map.get("--style").unwrap_or(&"cursor").to_string(),
            preset: match map.get("--preset") {
                None => None,
                Some(name) => Some(Emulation::from_name(name).ok_or_else(|| {
                    format!(
                        "unknown --preset {name:?}; one of: {}",
                        presets::names().join(", ")
                    )
                })?),
            },
            incremental: switches.contains(&"--incremental"),
            connector: switches.contains(&"--connector"),
            page_size_given: map
                .get("--page-size")
                .map(|_| crate::number(&map, "--page-size", 0usize))
                .transpose()?,
            concurrency_given: map
                .get("--concurrency")
                .map(|_| crate::number(&map, "--concurrency", 0usize))
                .transpose()?,
            tls: switches
                .contains(&"--tls")
                .then(TestPki::generate)
                .transpose()
                .map_err(|e| format!("cannot generate the demo CA: {e}"))?
                .map(Arc::new),
        };
        if options.incremental && options.sink != SinkKind::Sqlite {
            return Err(
                "--incremental needs --sink sqlite: the overlap of an incremental pass is removed by upserting on the primary key".into(),
            );
        }
        if !styles::STYLES.contains(&options.style.as_str()) {
            return Err(format!(
                "unknown --style {:?}; one of: {}",
                options.style,
                styles::STYLES.join(", ")
            ));
        }
        if options.preset.is_some() && map.contains_key("--style") {
            return Err(
                "--preset and --style exclude each other: a preset brings its own pagination"
                    .into(),
            );
        }
        if options.connector
            && (options.preset.is_some()
                || options.incremental
                || options.tls.is_some()
                || options.sink != SinkKind::Sqlite
                || map.contains_key("--style")
                || map.contains_key("--records"))
        {
            return Err(
                "--connector runs its own API into SQLite: it takes --seed, --out, --report, --page-size, --concurrency, --faults and --kill-after-pages".into(),
            );
        }
        if options.page_size == 0 {
            return Err("--page-size must be at least 1".into());
        }
        Ok(options)
    }

    /// Records per page for the connector demo (default 50).
    fn connector_page_size(&self) -> u64 {
        self.page_size_given.unwrap_or(50) as u64
    }

    /// Requests in flight for the connector demo (default 8).
    fn connector_in_flight(&self) -> usize {
        self.concurrency_given.unwrap_or(8).max(1)
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
    resumed_after_page: u64,
    dataset_records: usize,
    stored_records: usize,
    page_size: usize,
    seed: u64,
    sink: &'static str,
    style: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    preset: Option<&'static str>,
    output: String,
    faults: bool,
    server_requests: u64,
    server_faults_injected: u64,
    server_429s_injected: u64,
    server_429s_over_limit: u64,
    /// Every 429 the server sent: injected, over the advertised limit, and
    /// from the unadvertised throttle.
    server_429s: u64,
    /// 429s from the unadvertised (header-less) sliding-window throttle.
    server_429s_throttle: u64,
    /// The rate `AdaptiveRate` ended at (requests/s; null: never throttled).
    adaptive_rate_final: Option<f64>,
    /// How often `AdaptiveRate` cut its rate.
    adaptive_rate_cuts: u64,
    problems: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    incremental: Option<IncrementalReport>,
}

pub(crate) fn run(options: Options) -> Result<ExitCode, String> {
    crate::init_tracing();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    if options.connector {
        return runtime.block_on(connector::demo(&options));
    }
    runtime.block_on(demo(options))
}

async fn start_server(
    options: &Options,
    dataset: &Dataset,
    port: u16,
) -> Result<RunningServer, String> {
    let mut builder = FakeApi::builder()
        .port(port)
        .dataset(dataset.clone())
        .default_page_size(options.page_size)
        // A preset asks for its API's largest page: serve `--page-size`.
        .max_page_size(match options.preset {
            Some(_) => options.page_size,
            None => options.page_size.max(1000),
        });
    if options.faults {
        // A realistic mix (5 % 503, 2 % 429 with Retry-After, 1 % reset, 1 %
        // truncated body) behind an advertised limit of 50 requests/s, and in
        // front of it a gateway throttle nobody advertises: 40 requests in
        // any sliding second, answered 429 with Retry-After (as DRF does).
        builder = builder
            .faults(Faults::realistic(options.seed))
            .rate_limit(RateLimit::new(50, Duration::from_secs(1)))
            .throttle(Throttle::per_second(40));
    }
    if let Some(pki) = &options.tls {
        let cert = pki
            .server(&["127.0.0.1", "localhost"])
            .map_err(|e| format!("cannot issue the server certificate: {e}"))?;
        builder = builder.tls(ServerTls::new(cert));
    }
    builder
        .build()
        .start()
        .await
        .map_err(|e| format!("cannot start the fake API: {e}"))
}

async fn demo(options: Options) -> Result<ExitCode, String> {
    let generated = Instant::now();
    let dataset = Dataset::generate(options.seed, options.records);
    eprintln!(
        "haul demo: {} records (seed {}) generated in {}; {} per page; {}; sink {}{}",
        dataset.len(),
        options.seed,
        HumanDuration(generated.elapsed()),
        options.page_size,
        match options.preset {
            Some(api) => format!("the {} preset against its emulation", api.name()),
            None => format!("{} pagination", options.style),
        },
        options.sink.name(),
        if options.faults { "; faults on" } else { "" },
    );
    if options.tls.is_some() {
        eprintln!("TLS: rustls with a CA generated for this run; the client trusts only that CA");
    }
    std::fs::create_dir_all(&options.out)
        .map_err(|e| format!("cannot create {}: {e}", options.out.display()))?;
    let (sink, resuming) = open_destination(&options).await?;
    // A resumed run's checkpoint points at the previous run's server: serve
    // the same (deterministic) dataset on the same port.
    let port_file = options.out.join("server.port");
    let port = if resuming {
        std::fs::read_to_string(&port_file)
            .ok()
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or(0)
    } else {
        0
    };
    let server = start_server(&options, &dataset, port)
        .await
        .map_err(|e| format!("{e} (port {port})"))?;
    std::fs::write(&port_file, server.addr().port().to_string())
        .map_err(|e| format!("cannot write {}: {e}", port_file.display()))?;
    eprintln!("fake API listening on {}", server.url("/"));

    let pages_expected = dataset.len().div_ceil(options.page_size).max(1) as u64;
    let progress = Progress::new(
        pages_expected,
        dataset.len() as u64,
        options.kill_after_pages,
    );
    let adaptive = Arc::new(AdaptiveRate::new());
    let extractor = build_extractor(&options, &server, progress.clone(), &adaptive, None)?;
    let result = extractor.run_until(sink.as_sink(), shutdown_signal()).await;
    progress.finish();
    let summary = match result {
        Ok(summary) => summary,
        Err(ExtractError::Interrupted { summary, pages }) => {
            println!("{summary}");
            println!(
                "interrupted: {pages} pages are committed to {}; run the same command again to resume",
                sink.location(STREAM)
            );
            return Ok(ExitCode::from(130));
        }
        Err(e) => {
            eprintln!("extraction failed: {e}");
            eprintln!(
                "everything fetched before the failure is committed to {}; rerun to resume",
                sink.location(STREAM)
            );
            return Ok(ExitCode::FAILURE);
        }
    };
    println!("{summary}");
    if summary.resumed_after_page > 0 {
        println!(
            "resumed after page {} of an interrupted run",
            summary.resumed_after_page
        );
    }

    let stored = sink.records(STREAM).await?;
    let problems = verify::verify(&stored, &expected(&options, dataset.records()));
    let verified = problems.is_empty();
    if verified {
        println!(
            "verified: {} holds every one of the {} records exactly once, byte for byte",
            sink.location(STREAM),
            dataset.len()
        );
    } else {
        println!("VERIFICATION FAILED ({} problems):", problems.len());
        for p in problems.iter().take(20) {
            println!("  {p}");
        }
    }
    let incremental = match options.incremental && verified {
        true => Some(incremental_pass(&options, &server, &sink).await?),
        false => None,
    };
    let verified = verified && incremental.as_ref().is_none_or(|i| i.verified);
    let stats = server.stats();
    if options.faults {
        println!(
            "server: {} requests, {} faults injected ({} of them 429s), {} 429s for exceeding the advertised limit",
            stats.requests,
            stats.faults_injected(),
            stats.injected_429,
            stats.over_limit_429
        );
        let learned = adaptive.state();
        println!(
            "header-less throttle: {} 429s; AdaptiveRate {} after {} cuts{}",
            stats.throttle_429,
            learned
                .rate
                .map_or("never limited the rate".to_owned(), |r| format!(
                    "ended at {r:.1} requests/s"
                )),
            learned.cuts,
            learned.last_cut.map_or(String::new(), |c| format!(
                " (the last at {:.1?}: to {:.1}/s, learned {:.1}/s)",
                c.at, c.to, c.accepted
            )),
        );
    }
    if let Some(path) = &options.report {
        let report = Report {
            records: summary.records,
            pages: summary.pages,
            requests: summary.requests,
            retries: summary.retries,
            throttle_wait_ms: millis(summary.throttle_wait),
            bytes: summary.bytes,
            elapsed_ms: millis(summary.elapsed),
            records_per_sec: rate(&summary),
            verified,
            resumed_after_page: summary.resumed_after_page,
            dataset_records: dataset.len(),
            stored_records: stored.len(),
            page_size: options.page_size,
            seed: options.seed,
            sink: options.sink.name(),
            style: options.style.clone(),
            preset: options.preset.map(Emulation::name),
            output: sink.location(STREAM),
            faults: options.faults,
            server_requests: stats.requests,
            server_faults_injected: stats.faults_injected(),
            server_429s_injected: stats.injected_429,
            server_429s_over_limit: stats.over_limit_429,
            server_429s: stats.injected_429 + stats.over_limit_429 + stats.throttle_429,
            server_429s_throttle: stats.throttle_429,
            adaptive_rate_final: adaptive.state().rate,
            adaptive_rate_cuts: adaptive.state().cuts,
            problems: problems.into_iter().take(100).collect(),
            incremental,
        };
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

fn build_extractor(
    options: &Options,
    server: &RunningServer,
    progress: Arc<Progress>,
    adaptive: &Arc<AdaptiveRate>,
    incremental: Option<Incremental>,
) -> Result<Extractor, String> {
    let mut builder = match options.preset {
        Some(api) => presets::configure(api, server, Extractor::builder()).0,
        None => {
            let (request, paginator) =
                styles::configure(&options.style, server, options.page_size as u64)?;
            Extractor::builder().request(request).paginator(paginator)
        }
    };
    builder = builder
        .stream(STREAM)
        .batch_size(1_000)
        .concurrency(options.concurrency)
        .observer(progress);
    if options.faults {
        if options.preset.is_none() {
            // A preset brings the limiter for its API's rate-limit headers.
            // The advertised limit paces through HeaderAdaptive; the
            // unadvertised throttle is learned by AdaptiveRate from its 429s.
            let limiter = AllOf::new()
                .with(HeaderAdaptive::new())
                .with(Arc::clone(adaptive));
            builder = builder.rate_limiter(limiter);
        }
        builder = builder.retry(
            ExponentialBackoff::default()
                .base(Duration::from_millis(50))
                .max_attempts(8),
        );
    }
    if let Some(incremental) = incremental {
        builder = builder.incremental(incremental);
    }
    if let Some(pki) = &options.tls {
        let transport = haul::transport::ReqwestTransport::builder()
            .add_root_certificates_pem(pki.ca_pem())
            .platform_roots(false)
            .build()
            .map_err(|e| e.to_string())?;
        builder = builder.transport(transport);
    }
    builder.build().map_err(|e| e.to_string())
}

/// The records as the API lists them: a preset's emulation adds its own fields.
fn expected(options: &Options, records: &[String]) -> Vec<String> {
    match options.preset {
        Some(api) => records.iter().map(|r| api.render(r)).collect(),
        None => records.to_vec(),
    }
}

/// The incremental part of `--incremental`: the server's data changes, and
/// a second run fetches only what changed since the destination's watermark.
async fn incremental_pass(
    options: &Options,
    server: &RunningServer,
    sink: &DemoSink,
) -> Result<IncrementalReport, String> {
    let mutation = server.mutate(options.seed + 1, 0.01, (options.records / 100).max(1));
    println!(
        "the API's data changed: {} records updated, {} added",
        mutation.updated.len(),
        mutation.added.len()
    );
    let current = expected(options, &server.current_records());
    let progress = Progress::new(0, current.len() as u64, None);
    let inc = match options.preset {
        Some(api) => presets::configure(api, server, Extractor::builder())
            .1
            .ok_or_else(|| format!("the {} preset has no incremental configuration", api.name()))?,
        None => Incremental::new("/updated_at", "updated_since"),
    }
    .lookback(Duration::from_secs(60));
    let adaptive = Arc::new(AdaptiveRate::new());
    let extractor = build_extractor(options, server, progress.clone(), &adaptive, Some(inc))?;
    let summary = extractor
        .run(sink.as_sink())
        .await
        .map_err(|e| format!("incremental run failed: {e}"))?;
    progress.finish();
    println!("incremental {summary}");
    let stored = sink.records(STREAM).await?;
    let problems = verify::verify(&stored, &current);
    let verified = problems.is_empty();
    if verified {
        println!(
            "verified: the destination equals the API's current {} records exactly",
            current.len()
        );
    } else {
        println!(
            "INCREMENTAL VERIFICATION FAILED ({} problems):",
            problems.len()
        );
        for p in problems.iter().take(20) {
            println!("  {p}");
        }
    }
    Ok(IncrementalReport {
        updated: mutation.updated.len(),
        added: mutation.added.len(),
        records: summary.records,
        pages: summary.pages,
        requests: summary.requests,
        elapsed_ms: millis(summary.elapsed),
        current_records: current.len(),
        verified,
    })
}

#[derive(Debug, Serialize)]
struct IncrementalReport {
    updated: usize,
    added: usize,
    records: u64,
    pages: u64,
    requests: u64,
    elapsed_ms: u64,
    current_records: usize,
    verified: bool,
}

/// Opens the destination: an unfinished run is resumed (`true`); a finished
/// one is cleared so each demo run is a complete extraction.
async fn open_destination(options: &Options) -> Result<(DemoSink, bool), String> {
    let sink = DemoSink::open(options.sink, &options.out, STREAM)?;
    let checkpoint = sink
        .as_sink()
        .open(STREAM)
        .await
        .map_err(|e| format!("cannot open the destination: {e}"))?;
    match checkpoint {
        Some(cp) if !cp.is_done() => {
            eprintln!(
                "an interrupted run left {} pages ({} records) committed: resuming",
                cp.pages, cp.records
            );
            Ok((sink, true))
        }
        Some(_) => {
            let _ = sink.as_sink().close().await;
            drop(sink);
            for file in DemoSink::files(options.sink, &options.out, STREAM) {
                if file.exists() {
                    std::fs::remove_file(&file)
                        .map_err(|e| format!("cannot remove {}: {e}", file.display()))?;
                }
            }
            Ok((DemoSink::open(options.sink, &options.out, STREAM)?, false))
        }
        None => Ok((sink, false)),
    }
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    eprintln!("signal received: finishing the page in flight, committing, stopping");
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn rate(summary: &RunSummary) -> f64 {
    let secs = summary.elapsed.as_secs_f64();
    if secs > 0.0 {
        (summary.records as f64 / secs).round()
    } else {
        0.0
    }
}
