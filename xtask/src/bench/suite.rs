//! The suite, in order: sequential rows (reference and haul), the peer,
//! concurrency at 20 ms, eight rate-limited streams, memory; then targets
//! and the report files.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use haul::{FixedRate, HeaderAdaptive, RateLimiter};
use haul_testkit::Dataset;

use super::haul_runs::{self, SinkChoice};
use super::memory;
use super::options::{
    CONNECTOR_IN_FLIGHT, CONNECTOR_PAGE_SIZE, CONNECTOR_PAGES, KS, LATENCY, Options, PAGE_SIZE,
    Plan, STREAM_RATE, STREAMS, Section,
};
use super::peers::{self, Peer};
use super::reference;
use super::report::{Report, Row, thousands};
use super::sample::{Sample, Samples};
use super::servers::ServerHost;
use super::svg::{self, Series};
use super::targets::{Found, format_rate, targets};

const SEED: u64 = 42;
const SINKS: [SinkChoice; 3] = [SinkChoice::Null, SinkChoice::Jsonl, SinkChoice::Sqlite];

pub(crate) fn run(options: Options) -> Result<ExitCode, String> {
    init_tracing();
    let started = Instant::now();
    let plan = options.plan();
    let scratch = options.out.join("scratch");
    std::fs::create_dir_all(&scratch)
        .map_err(|e| format!("cannot create {}: {e}", scratch.display()))?;
    let host = ServerHost::new()?;
    let client = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the client runtime: {e}"))?;
    eprintln!(
        "bench ({} run): generating datasets of {} and {} records (seed {SEED})",
        if options.quick { "quick" } else { "full" },
        plan.seq_records,
        plan.latency_records()
    );
    let seq_data = Dataset::generate(SEED, plan.seq_records);
    let latency_data = Dataset::generate(SEED, plan.latency_records());

    let mut rows = Vec::new();
    let mut notes = Vec::new();
    let mut found = Found::default();

    if options.runs(Section::Sequential) {
        sequential(
            &host, &client, &options, &plan, &seq_data, &scratch, &mut rows, &mut found,
        )?;
    }
    if options.runs(Section::Latency) {
        concurrency(&host, &client, &plan, &latency_data, &mut rows, &mut found)?;
    }
    drop(latency_data);
    if options.runs(Section::Connector) {
        found.connector = Some(connector_rows(&host, &client, &plan, &mut rows));
    }
    if options.runs(Section::Streams) {
        streams(&host, &client, &plan, &seq_data, &mut rows, &mut found)?;
    }
    drop(seq_data);
    if options.runs(Section::Memory) {
        memory_rows(&host, &plan, &scratch, &mut rows, &mut found);
    }
    if options.runs(Section::Cpu) {
        eprintln!(
            "[5/6] client CPU: raw RawValue loop and haul (null sink), fake API in another process"
        );
        found.cpu = Some(super::cpu::rows(
            plan.seq_records,
            SEED,
            plan.seq_reps,
            &mut rows,
        ));
        if let Some(Err(e)) = &found.cpu {
            eprintln!("  failed: {e}");
        }
    }
    if !options.runs_all() {
        notes.push("A partial run (--only): only the sections asked for were measured.".to_owned());
    }
    if options.runs(Section::Sinks) {
        eprintln!(
            "[6/6] destinations alone: {} records in batches of {} into PostgresSink and SqliteSink",
            plan.sink_records,
            super::sinks_alone::BATCH
        );
        found.sinks_alone = Some(super::sinks_alone::rows(
            &client,
            SEED,
            plan.sink_records,
            plan.sink_reps,
            &scratch,
            &mut rows,
        ));
    }
    rows.sort_by_key(|r| r.section);

    let targets = targets(&found, &mut notes);
    notes.push(format!(
        "{PAGE_SIZE} records per page everywhere; the fake API runs in-process on its own \
         one-thread runtime, the clients on a two-thread runtime; seed {SEED}. Section 7 \
         runs the fake API in another process (this executable, `bench --serve`) so the client \
         CPU column (CLOCK_PROCESS_CPUTIME_ID) is the client's alone; median by CPU of {} \
         interleaved runs over {} records on each runtime.",
        plan.seq_reps,
        thousands(plan.seq_records as f64)
    ));
    notes.push(format!(
        "Sequential rows: median of {} interleaved runs over {} records, after one warm-up run \
         of every variant. Latency rows: median of {} run(s) after one warm-up run of every \
         variant at the same K, K × {} pages (at least {}) starting near the end of a \
         {}-record dataset; each is also given as a fraction of its ideal, K × records per \
         page per request delay.",
        plan.seq_reps,
        thousands(plan.seq_records as f64),
        plan.latency_reps,
        plan.pages_per_k,
        plan.min_latency_pages,
        thousands(plan.latency_records() as f64)
    ));
    if options.peers {
        notes.push(format!(
            "dlt: median of {} timed pass(es) over the sequential dataset, after a 20-page \
             warm-up in the same interpreter; imports and start-up are not timed.",
            plan.peer_reps
        ));
    } else {
        notes.push("Peer (dlt) not run: pass --peers.".to_owned());
    }
    let report = Report {
        machine: super::machine::describe(options.quick),
        rows,
        targets,
        notes,
    };
    write_outputs(&report, &found, &options.out)?;
    let _ = std::fs::remove_dir_all(&scratch);
    eprintln!("bench: measured in {:.1?}", started.elapsed());
    Ok(ExitCode::SUCCESS)
}

#[allow(clippy::too_many_arguments)]
fn sequential(
    host: &ServerHost,
    client: &tokio::runtime::Runtime,
    options: &Options,
    plan: &Plan,
    dataset: &Dataset,
    scratch: &Path,
    rows: &mut Vec<Row>,
    found: &mut Found,
) -> Result<(), String> {
    eprintln!("[1/6] sequential cursor pages, no latency: raw loop and haul into 3 sinks");
    let server = host.plain(dataset)?;
    let base = server.url("/");
    let expect = |s: Sample, what: &str| {
        if s.records == plan.seq_records as u64 {
            Ok(s)
        } else {
            Err(format!(
                "{what} extracted {} records, expected {}",
                s.records, plan.seq_records
            ))
        }
    };
    // Warm-up, every measured variant alike: page faults, allocator, the
    // server's caches, the sinks' files.
    client.block_on(reference::sequential(&base))?;
    client.block_on(reference::sequential_raw_value(&base))?;
    for sink in SINKS {
        client.block_on(haul_runs::sequential(&base, sink, scratch))?;
    }
    let mut raw = Samples::default();
    let mut raw_value = Samples::default();
    client.block_on(haul_runs::sequential_adaptive_rate(&base))?;
    let mut haul: [Samples; 3] = Default::default();
    let mut adaptive_rate = Samples::default();
    for rep in 1..=plan.seq_reps {
        raw.0.push(expect(
            client.block_on(reference::sequential(&base))?,
            "the raw loop",
        )?);
        raw_value.0.push(expect(
            client.block_on(reference::sequential_raw_value(&base))?,
            "the raw RawValue loop",
        )?);
        for (i, sink) in SINKS.iter().enumerate() {
            let sample = client.block_on(haul_runs::sequential(&base, *sink, scratch))?;
            haul[i].0.push(expect(sample, sink.label())?);
        }
        adaptive_rate.0.push(expect(
            client.block_on(haul_runs::sequential_adaptive_rate(&base))?,
            "HeaderAdaptive + AdaptiveRate",
        )?);
        eprintln!(
            "  run {rep}/{}: raw Value {} · raw RawValue {} · haul null {} · jsonl {} · sqlite {} records/s",
            plan.seq_reps,
            thousands(raw.0[rep - 1].rate()),
            thousands(raw_value.0[rep - 1].rate()),
            thousands(haul[0].0[rep - 1].rate()),
            thousands(haul[1].0[rep - 1].rate()),
            thousands(haul[2].0[rep - 1].rate()),
        );
    }
    found.raw_seq = raw_value.median().rate();
    found.raw_value_tree = raw.median().rate();
    found.haul_null = haul[0].median().rate();
    found.haul_jsonl = haul[1].median().rate();
    found.haul_sqlite = haul[2].median().rate();
    found.haul_adaptive_rate = adaptive_rate.median().rate();
    rows.push(
        Row::from_samples(
            1,
            "raw reqwest loop, sequential cursor, typed page",
            &raw_value,
        )
        .note("records kept as borrowed RawValue, as haul keeps them: the reference"),
    );
    rows.push(
        Row::from_samples(1, "raw reqwest loop, sequential cursor, Value tree", &raw)
            .note("every page parsed into serde_json::Value: context, not a reference"),
    );
    for (i, sink) in SINKS.iter().enumerate() {
        rows.push(
            Row::from_samples(
                2,
                format!("haul sequential cursor → {}", sink.label()),
                &haul[i],
            )
            .note("default retry, HeaderAdaptive limiter, guards; batches of 1,000"),
        );
    }
    let cost = haul[0].median().rate() / adaptive_rate.median().rate();
    eprintln!(
        "  HeaderAdaptive + AdaptiveRate → null sink: {} records/s, {cost:.3}× the time of HeaderAdaptive alone",
        thousands(adaptive_rate.median().rate())
    );
    rows.push(
        Row::from_samples(
            2,
            "haul sequential cursor → null sink, HeaderAdaptive + AdaptiveRate",
            &adaptive_rate,
        )
        .note(format!(
            "unthrottled: {cost:.3}× the time of the HeaderAdaptive null-sink row, same run"
        )),
    );
    if options.peers {
        eprintln!("[1/6] peer: dlt RESTClient.paginate on the same server");
        let peer = peers::dlt(&base, &options.out, plan.peer_reps, plan.seq_records as u64);
        match &peer {
            Peer::Measured { samples, version } => {
                let mut row =
                    Row::from_samples(4, "dlt RESTClient.paginate, sequential cursor", samples);
                row.notes = format!("{version}; JSONResponseCursorPaginator, data_selector");
                rows.push(row);
                eprintln!("  dlt: {} records/s", thousands(samples.median().rate()));
            }
            Peer::Skipped(why) => eprintln!("  dlt skipped: {why}"),
        }
        found.dlt = Some(peer);
    }
    host.stop(server);
    Ok(())
}

fn concurrency(
    host: &ServerHost,
    client: &tokio::runtime::Runtime,
    plan: &Plan,
    dataset: &Dataset,
    rows: &mut Vec<Row>,
    found: &mut Found,
) -> Result<(), String> {
    eprintln!(
        "[2/6] offset pages at {LATENCY:?} per request, K = {KS:?}: raw buffer_unordered and haul"
    );
    let server = host.with_latency(dataset)?;
    let base = server.url("/");
    let ideal_per_k = PAGE_SIZE as f64 / LATENCY.as_secs_f64();
    for k in KS {
        let pages = plan.latency_pages(k);
        let start = dataset.len() - pages * PAGE_SIZE;
        // Warm-up, every measured variant alike, at this K.
        client.block_on(reference::concurrent_raw_value(&base, start, k))?;
        client.block_on(reference::concurrent(&base, start, k))?;
        client.block_on(haul_runs::concurrent(&base, start, k))?;
        let (mut raw, mut tree, mut haul) =
            (Samples::default(), Samples::default(), Samples::default());
        for _ in 0..plan.latency_reps {
            raw.0
                .push(client.block_on(reference::concurrent_raw_value(&base, start, k))?);
            tree.0
                .push(client.block_on(reference::concurrent(&base, start, k))?);
            haul.0
                .push(client.block_on(haul_runs::concurrent(&base, start, k))?);
        }
        for s in raw.0.iter().chain(&tree.0).chain(&haul.0) {
            if s.records != (pages * PAGE_SIZE) as u64 {
                return Err(format!(
                    "K={k}: {} records extracted, expected {}",
                    s.records,
                    pages * PAGE_SIZE
                ));
            }
        }
        let ideal = k as f64 * ideal_per_k;
        let (r, t, h) = (
            raw.median().rate(),
            tree.median().rate(),
            haul.median().rate(),
        );
        eprintln!(
            "  K={k:>2}: raw RawValue {} ({:.2} of ideal) · raw Value {} ({:.2}) · haul {} ({:.2}) records/s ({pages} pages)",
            thousands(r),
            r / ideal,
            thousands(t),
            t / ideal,
            thousands(h),
            h / ideal
        );
        found.raw_k.push((k, r));
        found.haul_k.push((k, h));
        let of_ideal = |rate: f64| {
            format!(
                "{:.2} of ideal ({k} × {PAGE_SIZE} records per {} ms = {} records/s)",
                rate / ideal,
                LATENCY.as_millis(),
                thousands(ideal)
            )
        };
        rows.push(
            Row::from_samples(
                3,
                format!("raw reqwest, buffer_unordered({k}), typed page"),
                &raw,
            )
            .k(k)
            .ideal(ideal)
            .note(format!("{}; RawValue: the reference", of_ideal(r))),
        );
        rows.push(
            Row::from_samples(
                3,
                format!("raw reqwest, buffer_unordered({k}), Value tree"),
                &tree,
            )
            .k(k)
            .ideal(ideal)
            .note(format!("{}; context", of_ideal(t))),
        );
        rows.push(
            Row::from_samples(3, format!("haul OffsetPaginator, concurrency({k})"), &haul)
                .k(k)
                .ideal(ideal)
                .note(format!(
                    "{}; {}",
                    of_ideal(h),
                    if k == 1 {
                        "sequential: the baseline at 20 ms"
                    } else {
                        "→ null sink, pages in order"
                    }
                )),
        );
    }
    host.stop(server);
    Ok(())
}

/// A connector's partitions at 20 ms per request: sequential (one request
/// in flight) against [`CONNECTOR_IN_FLIGHT`]; returns the partitions and
/// both rates in pages per second.
fn connector_rows(
    host: &ServerHost,
    client: &tokio::runtime::Runtime,
    plan: &Plan,
    rows: &mut Vec<Row>,
) -> Result<(usize, f64, f64), String> {
    let partitions = plan.connector_partitions;
    eprintln!(
        "[2/6] connector: {partitions} partitions × {CONNECTOR_PAGES} pages at {LATENCY:?} per request, 1 and {CONNECTOR_IN_FLIGHT} in flight"
    );
    // Exactly five pages, so each partition walks `/link` to its end.
    let dataset = Dataset::generate(SEED, CONNECTOR_PAGES * CONNECTOR_PAGE_SIZE);
    let server = host.with_latency(&dataset)?;
    let base = server.url("/");
    let result = (|| {
        // Warm-up: connections, the server's first pages.
        client.block_on(haul_runs::connector(&base, 8, CONNECTOR_IN_FLIGHT))?;
        let mut measured = Vec::new();
        for in_flight in [1, CONNECTOR_IN_FLIGHT] {
            let sample = client.block_on(haul_runs::connector(&base, partitions, in_flight))?;
            let pages = (partitions * CONNECTOR_PAGES) as u64;
            if sample.requests != pages {
                return Err(format!(
                    "the connector with {in_flight} in flight sent {} requests, expected {pages}",
                    sample.requests
                ));
            }
            let rate = sample.request_rate();
            eprintln!(
                "  {in_flight:>2} in flight: {} pages/s, {:.1?} for {pages} pages",
                format_rate(rate),
                sample.elapsed
            );
            let mut row = Row::from_samples(
                3,
                format!("haul Connector, {partitions} partitions × {CONNECTOR_PAGES} pages, max_in_flight({in_flight})"),
                &Samples(vec![sample]),
            )
            .k(in_flight)
            .note(format!(
                "{CONNECTOR_PAGE_SIZE} records per page, link pagination → MemorySink; {}",
                if in_flight == 1 { "sequential: the baseline" } else { "partitions take turns for the slots" }
            ));
            row.requests_per_sec = Some(rate);
            rows.push(row);
            measured.push(rate);
        }
        Ok((partitions, measured[0], measured[1]))
    })();
    host.stop(server);
    if let Err(e) = &result {
        eprintln!("  failed: {e}");
    }
    result
}

fn streams(
    host: &ServerHost,
    client: &tokio::runtime::Runtime,
    plan: &Plan,
    dataset: &Dataset,
    rows: &mut Vec<Row>,
    found: &mut Found,
) -> Result<(), String> {
    // (name, limiter, the IETF headers only, the share of the rate required)
    let limiters: [(&'static str, Arc<dyn RateLimiter>, bool, f64); 3] = [
        (
            "FixedRate::per_second(200)",
            Arc::new(FixedRate::per_second(STREAM_RATE)),
            false,
            0.98,
        ),
        (
            "HeaderAdaptive (learns 200/s from X-RateLimit-*)",
            Arc::new(HeaderAdaptive::new()),
            false,
            0.97,
        ),
        (
            "HeaderAdaptive (learns 200/s from IETF RateLimit/RateLimit-Policy only)",
            Arc::new(HeaderAdaptive::new()),
            true,
            0.97,
        ),
    ];
    for (name, limiter, ietf_only, required) in limiters {
        eprintln!(
            "[3/6] {STREAMS} streams sharing one {name} for {:?} (server limit {STREAM_RATE}/s)",
            plan.streams_window
        );
        let server = if ietf_only {
            host.rate_limited_ietf(dataset)?
        } else {
            host.rate_limited(dataset)?
        };
        let base = server.url("/");
        let result = client.block_on(haul_runs::streams(
            &base,
            limiter,
            ietf_only,
            plan.streams_window,
        ));
        let over_limit = server.stats().over_limit_429;
        host.stop(server);
        match result {
            Ok(outcome) => {
                let rate = outcome.sample.request_rate();
                eprintln!(
                    "  {} req/s, {over_limit} over-limit 429s, {} retries",
                    format_rate(rate),
                    outcome.retries
                );
                let mut row = Row::from_samples(
                    6,
                    format!("{STREAMS} streams, one {name}"),
                    &Samples(vec![outcome.sample]),
                );
                row.requests_per_sec = Some(rate);
                row.over_limit_429 = Some(over_limit);
                row.notes = format!(
                    "{} retries; throttled {:.1} s in total",
                    outcome.retries,
                    outcome.throttle_wait.as_secs_f64()
                );
                rows.push(row);
                found.streams.push((name, required, Ok((rate, over_limit))));
            }
            Err(e) => {
                eprintln!("  failed: {e}");
                found.streams.push((name, required, Err(e)));
            }
        }
    }
    Ok(())
}

fn memory_rows(
    host: &ServerHost,
    plan: &Plan,
    scratch: &Path,
    rows: &mut Vec<Row>,
    found: &mut Found,
) {
    for records in plan.memory_sizes {
        eprintln!("[4/6] memory: a child process extracts {records} records into SQLite");
        let result = memory::measure(host, SEED, records, scratch);
        match &result {
            Ok(report) => {
                eprintln!(
                    "  peak RSS {:.1} MiB ({:.1} MiB before extracting), {} records/s",
                    report.peak_mib(),
                    report.baseline_kib as f64 / 1024.0,
                    thousands(report.records as f64 / report.seconds.max(1e-9))
                );
                let sample = Sample {
                    records: report.records,
                    requests: report.records.div_ceil(PAGE_SIZE as u64),
                    elapsed: Duration::from_secs_f64(report.seconds.max(0.0)),
                };
                let mut row = Row::from_samples(
                    5,
                    format!(
                        "haul → SqliteSink, {} records, child process",
                        thousands(records as f64)
                    ),
                    &Samples(vec![sample]),
                );
                row.peak_rss_mib = Some(report.peak_mib());
                row.notes = format!(
                    "{:.1} MiB before extracting; the server runs in the parent",
                    report.baseline_kib as f64 / 1024.0
                );
                rows.push(row);
            }
            Err(e) => eprintln!("  failed: {e}"),
        }
        found.rss.push((records, result));
    }
}

/// Logs to stderr, filtered by `HAUL_LOG`; by default warnings, except the
/// extractor's notices that a stream was stopped (the streams rows stop
/// eight streams on purpose).
fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("HAUL_LOG")
        .unwrap_or_else(|_| EnvFilter::new("warn,haul_extractor::extractor=error"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

fn write_outputs(report: &Report, found: &Found, out: &Path) -> Result<(), String> {
    let markdown = report.markdown();
    println!("{markdown}");
    let write = |name: &str, text: &str| {
        let path = out.join(name);
        std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
    };
    write("report.md", &markdown)?;
    let json = serde_json::to_string_pretty(report).map_err(|e| e.to_string())?;
    write("report.json", &(json + "\n"))?;
    let per_page = PAGE_SIZE as f64 / LATENCY.as_secs_f64();
    let ideal: Vec<(usize, f64)> = KS.iter().map(|&k| (k, k as f64 * per_page)).collect();
    let y_max = found
        .haul_k
        .iter()
        .chain(&found.raw_k)
        .map(|(_, r)| *r)
        .fold(0.0, f64::max)
        * 1.1;
    let chart = svg::chart(
        &format!(
            "records/s against pages in flight, {} ms per request, {PAGE_SIZE} records per page",
            LATENCY.as_millis()
        ),
        &KS,
        &[
            Series {
                name: "haul (OffsetPaginator, concurrency K)".into(),
                color: "#c0392b",
                dashed: false,
                points: found.haul_k.clone(),
            },
            Series {
                name: "raw reqwest, buffer_unordered(K), RawValue".into(),
                color: "#2471a3",
                dashed: false,
                points: found.raw_k.clone(),
            },
            Series {
                name: "ideal: K × 100 records per 20 ms".into(),
                color: "#999999",
                dashed: true,
                points: ideal,
            },
        ],
        y_max,
    );
    write("concurrency.svg", &chart)?;
    eprintln!(
        "bench: wrote {}, report.json and concurrency.svg",
        out.join("report.md").display()
    );
    Ok(())
}
