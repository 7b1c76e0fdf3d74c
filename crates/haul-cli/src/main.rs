//! `haul`: validate, check and run declarative connector specs.
//!
//! Exit codes: 0 success; 1 failure; 2 some partitions failed (the report
//! lists them); 78 (EX_CONFIG) the spec or its inputs are invalid; 130
//! interrupted (state committed, resumable).

// A command-line tool prints its results.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod budget;
mod observe;
mod pg;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};
use haul_spec::{BuildOptions, Inputs, Resolved, Spec, SpecError};
use serde::Serialize;

/// Prints a line to stdout; a closed pipe (`haul schema | head`) is not an error.
macro_rules! say {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($t)*);
    }};
}

const EX_OK: u8 = 0;
const EX_FAILURE: u8 = 1;
const EX_PARTIAL: u8 = 2;
const EX_CONFIG: u8 = 78;
const EX_INTERRUPTED: u8 = 130;

/// Extract data from HTTP APIs with declarative connector specs.
#[derive(Debug, Parser)]
#[command(name = "haul", version, about, long_about = None, after_help = EXAMPLES)]
struct Cli {
    /// Log format: `text` for people, `json` (one object a line) for schedulers.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// Log filter (`info`, `debug`, `trace`, `haul_extractor=debug`…); also `HAUL_LOG`.
    #[arg(long, global = true)]
    log_level: Option<String>,
    #[command(subcommand)]
    command: Command,
}

const EXAMPLES: &str = "Examples:
  haul validate examples/specs/github.toml
  haul check examples/specs/github.toml --set base_url=http://127.0.0.1:8080
  haul run examples/specs/github.toml --sink sqlite:github.db --report run.json
  haul run examples/specs/github.toml --sink 'postgres://haul@db:5432/warehouse?schema=github'
  haul list examples/specs/github.toml
  haul state show examples/specs/github.toml --stream issues
  haul schema > haul-spec.schema.json
  haul completions bash > /etc/bash_completion.d/haul";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

/// Spec file and input values, shared by the verbs.
#[derive(Debug, clap::Args)]
struct SpecArgs {
    /// The spec file (TOML).
    spec: PathBuf,
    /// Sets input NAME to VALUE (not for secrets: those come from the environment or a file).
    #[arg(long = "set", value_name = "NAME=VALUE", value_parser = parse_set)]
    sets: Vec<(String, String)>,
}

fn parse_set(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.trim().to_owned(), v.to_owned()))
        .ok_or_else(|| format!("expected NAME=VALUE, got {s:?}"))
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check a spec offline; exit 0, or 78 with every error found.
    #[command(after_help = "Example:\n  haul validate examples/specs/stripe.toml")]
    Validate {
        #[command(flatten)]
        spec: SpecArgs,
    },
    /// Fetch at most 2 pages per stream (children: one partition), write nothing, and show the evidence.
    #[command(
        after_help = "Example:\n  GITHUB_TOKEN=… haul check examples/specs/github.toml --stream issues"
    )]
    Check {
        #[command(flatten)]
        spec: SpecArgs,
        /// Only these streams (and the parents they need).
        #[arg(long)]
        stream: Vec<String>,
        /// Print the evidence as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run the connector into its sink.
    #[command(
        after_help = "Example:\n  haul run examples/specs/github.toml --stream issues --sink sqlite:gh.db --report report.json --log-format json"
    )]
    Run {
        #[command(flatten)]
        spec: SpecArgs,
        /// Only these streams (and the parents they need).
        #[arg(long)]
        stream: Vec<String>,
        /// Ignore incremental watermarks: fetch everything.
        #[arg(long)]
        full_refresh: bool,
        /// The max-pages guard of every partition (exceeding it fails the partition).
        #[arg(long)]
        max_pages: Option<u64>,
        /// Where records go: `sqlite:PATH`, `jsonl:DIR` or
        /// `postgres://USER[:PASSWORD]@HOST:PORT/DB?schema=NAME` (default: the spec's `[sink]`).
        #[arg(long)]
        sink: Option<String>,
        /// Write a JSON report (summary, failed partitions, exit code) to FILE.
        #[arg(long, value_name = "FILE")]
        report: Option<PathBuf>,
        /// Run as one worker of many: claim the connector's partitions from
        /// the PostgreSQL work queue at `postgres://USER[:PASSWORD]@HOST:PORT/DB?schema=NAME`
        /// (records go to that schema too) and exit when no work is left.
        #[arg(long, value_name = "POSTGRES_URL", conflicts_with = "sink")]
        workers: Option<String>,
        /// One rate budget in Redis shared by every process naming it:
        /// `redis://[USER[:PASSWORD]@]HOST[:PORT][/DB]?quota=N[&per=1s][&name=…][&burst=B][&prefix=…][&outage=wait|fail|fallback:F]`
        /// (name: the connector's by default).
        #[arg(long, value_name = "REDIS_URL")]
        budget: Option<String>,
        /// This worker's name in the queue (default: `haul-<host>-<pid>`).
        #[arg(long, value_name = "NAME", requires = "workers")]
        worker_name: Option<String>,
    },
    /// List the streams, their parents, partition sources and stored state.
    #[command(after_help = "Example:\n  haul list examples/specs/github.toml")]
    List {
        #[command(flatten)]
        spec: SpecArgs,
        /// The sink whose state to show (default: the spec's).
        #[arg(long)]
        sink: Option<String>,
    },
    /// Show or reset stored state.
    #[command(
        after_help = "Examples:\n  haul state show examples/specs/github.toml\n  haul state reset examples/specs/github.toml --stream issues"
    )]
    State {
        #[command(subcommand)]
        action: StateAction,
    },
    /// Print the spec's JSON Schema (for editors; taplo reads `#:schema`).
    #[command(after_help = "Example:\n  haul schema > haul-spec.schema.json")]
    Schema,
    /// Print shell completions.
    #[command(after_help = "Example:\n  haul completions zsh > ~/.zfunc/_haul")]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Subcommand)]
enum StateAction {
    /// Each partition's checkpoint and values.
    #[command(after_help = "Example:\n  haul state show examples/specs/github.toml --stream repos")]
    Show {
        #[command(flatten)]
        spec: SpecArgs,
        /// Only these streams.
        #[arg(long)]
        stream: Vec<String>,
        /// The sink (default: the spec's).
        #[arg(long)]
        sink: Option<String>,
    },
    /// Send partitions back to their first page; the next run is a fresh pass.
    #[command(
        after_help = "Example:\n  haul state reset examples/specs/github.toml --stream issues"
    )]
    Reset {
        #[command(flatten)]
        spec: SpecArgs,
        /// Only these streams.
        #[arg(long)]
        stream: Vec<String>,
        /// The sink (default: the spec's).
        #[arg(long)]
        sink: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    observe::init_logging(cli.log_format == LogFormat::Json, cli.log_level.as_deref());
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("haul: cannot start the runtime: {e}");
            return ExitCode::from(EX_FAILURE);
        }
    };
    let code = runtime.block_on(dispatch(cli));
    ExitCode::from(code)
}

async fn dispatch(cli: Cli) -> u8 {
    let json = cli.log_format == LogFormat::Json;
    match cli.command {
        Command::Validate { spec } => validate(&spec),
        Command::Check {
            spec,
            stream,
            json: as_json,
        } => match resolve(&spec) {
            Ok(r) => check(&r, &stream, as_json).await,
            Err(code) => code,
        },
        Command::Run {
            spec,
            stream,
            full_refresh,
            max_pages,
            sink,
            report,
            workers,
            worker_name,
            budget,
        } => match resolve(&spec) {
            Ok(r) => {
                let options = RunOptions {
                    streams: stream,
                    full_refresh,
                    max_pages,
                    sink,
                    report,
                    json,
                    workers,
                    worker_name,
                    budget,
                };
                run(&r, options).await
            }
            Err(code) => code,
        },
        Command::List { spec, sink } => match resolve_lenient(&spec) {
            Ok(r) => list(&r, sink.as_deref()).await,
            Err(code) => code,
        },
        Command::State { action } => match action {
            StateAction::Show { spec, stream, sink } => match resolve_lenient(&spec) {
                Ok(r) => state(&r, &stream, sink.as_deref(), false).await,
                Err(code) => code,
            },
            StateAction::Reset { spec, stream, sink } => match resolve_lenient(&spec) {
                Ok(r) => state(&r, &stream, sink.as_deref(), true).await,
                Err(code) => code,
            },
        },
        Command::Schema => {
            match serde_json::to_string_pretty(&Spec::json_schema()) {
                Ok(s) => say!("{s}"),
                Err(e) => {
                    eprintln!("haul: {e}");
                    return EX_FAILURE;
                }
            }
            EX_OK
        }
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "haul", &mut std::io::stdout());
            EX_OK
        }
    }
}

/// Prints a spec error; returns its exit code.
fn report_error(e: &SpecError) -> u8 {
    match e {
        SpecError::Invalid(d) => {
            eprint!("{}", d.render());
            EX_CONFIG
        }
        SpecError::Io { .. } => {
            eprintln!("haul: {e}");
            EX_CONFIG
        }
        other => {
            eprintln!("haul: {other}");
            EX_FAILURE
        }
    }
}

fn load(args: &SpecArgs) -> Result<Spec, u8> {
    Spec::from_path(&args.spec).map_err(|e| report_error(&e))
}

fn inputs(args: &SpecArgs) -> Inputs {
    args.sets
        .iter()
        .fold(Inputs::new().from_env(true), |i, (k, v)| i.set(k, v))
}

fn resolve(args: &SpecArgs) -> Result<Resolved, u8> {
    let spec = load(args)?;
    spec.resolve(&inputs(args)).map_err(|e| report_error(&e))
}

/// For verbs that only read state: missing secrets do not matter.
fn resolve_lenient(args: &SpecArgs) -> Result<Resolved, u8> {
    let spec = load(args)?;
    let mut inputs = inputs(args);
    for (name, kind) in spec.inputs() {
        if kind == haul_spec::InputType::Secret {
            inputs = inputs.placeholder_secret(name);
        }
    }
    spec.resolve(&inputs).map_err(|e| report_error(&e))
}

fn validate(args: &SpecArgs) -> u8 {
    let spec = match load(args) {
        Ok(s) => s,
        Err(code) => return code,
    };
    // Values given with --set are checked too; missing ones are not an error offline.
    let mut inputs = Inputs::new();
    for (k, v) in &args.sets {
        inputs = inputs.set(k, v);
    }
    if let Err(e) = spec.check_inputs(&inputs) {
        return report_error(&e);
    }
    say!(
        "ok: {} — connector `{}`, {} stream(s): {}",
        args.spec.display(),
        spec.name(),
        spec.stream_names().len(),
        spec.stream_names().join(", ")
    );
    EX_OK
}

async fn check(r: &Resolved, streams: &[String], as_json: bool) -> u8 {
    let report = match r.check(streams).await {
        Ok(report) => report,
        Err(e) => return report_error(&e),
    };
    if as_json {
        match serde_json::to_string_pretty(&report) {
            Ok(s) => say!("{s}"),
            Err(e) => eprintln!("haul: {e}"),
        }
    } else {
        for s in &report.streams {
            let partition = if s.partition.is_empty() {
                String::new()
            } else {
                format!(" [{}]", s.partition)
            };
            say!("stream {}{partition}", s.stream);
            for req in &s.requests {
                let status = req.status.map_or("—".to_owned(), |st| st.to_string());
                say!(
                    "  {} {}  attempt {}  → {status}",
                    s.method,
                    req.url,
                    req.attempt
                );
            }
            say!("  records per page: {:?}", s.records_per_page);
            say!("  pagination: {}", s.pagination);
            match s.primary_key_unique {
                Some(true) => say!("  primary key: unique over {} record(s)", s.records),
                Some(false) => say!(
                    "  primary key: NOT unique (or missing) over {} record(s)",
                    s.records
                ),
                None => say!("  primary key: none declared"),
            }
            if let Some(n) = s.incremental_field_present {
                say!(
                    "  incremental field: present in {n} of {} record(s)",
                    s.records
                );
            }
            if let Some(e) = &s.error {
                say!("  error: {e}");
            }
        }
        say!("nothing was written");
    }
    if report.ok() { EX_OK } else { EX_FAILURE }
}

struct RunOptions {
    streams: Vec<String>,
    full_refresh: bool,
    max_pages: Option<u64>,
    sink: Option<String>,
    report: Option<PathBuf>,
    json: bool,
    /// The work queue's URL: run as a worker.
    workers: Option<String>,
    worker_name: Option<String>,
    /// The shared budget's URL.
    budget: Option<String>,
}

#[derive(Debug, Serialize)]
struct Report<'a> {
    connector: &'a str,
    status: &'a str,
    exit_code: u8,
    sink: String,
    summary: Option<&'a haul::ConnectorSummary>,
    failed: Vec<FailedJson>,
    error: Option<String>,
}

#[derive(Debug, Serialize)]
struct FailedJson {
    stream: String,
    partition: String,
    error: String,
}

async fn run(r: &Resolved, o: RunOptions) -> u8 {
    let options = BuildOptions {
        full_refresh: o.full_refresh,
        max_pages: o.max_pages,
        ..BuildOptions::default()
    };
    let shared = match &o.budget {
        None => None,
        Some(url) => {
            let parsed = match budget::BudgetUrl::parse(url) {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("haul: --budget: {e}");
                    return EX_CONFIG;
                }
            };
            match parsed.open(r.spec().name()).await {
                Ok(b) => {
                    tracing::info!(budget = %parsed, key = b.key(), "shared budget");
                    Some(b)
                }
                Err(e) => {
                    eprintln!("haul: {e}");
                    return EX_FAILURE;
                }
            }
        }
    };
    let progress = observe::Progress::new(!o.json && std::io::stderr().is_terminal());
    let built = r
        .connector(&options)
        .map(|b| b.observer(progress.observer()))
        .map(|b| match shared {
            Some(budget) => b.shared_budget(budget),
            None => b,
        })
        .and_then(|b| b.build().map_err(SpecError::from));
    let mut connector = match built {
        Ok(c) => c,
        Err(e) => return report_error(&e),
    };
    if !o.streams.is_empty() {
        connector = match connector.select(&o.streams) {
            Ok(c) => c,
            Err(e) => return report_error(&SpecError::from(e)),
        };
    }
    if let Some(queue) = &o.workers {
        return run_worker(r, &connector, queue, &o).await;
    }
    let (sink, url) = match open_destination(r, o.sink.as_deref()).await {
        Ok(opened) => opened,
        Err(code) => return code,
    };
    tracing::info!(connector = connector.name(), sink = %url, "run started");
    let outcome = connector.run_until(&*sink, observe::interrupted()).await;
    progress.finish();
    let (code, status, summary, failed, error) = match &outcome {
        Ok(s) => (EX_OK, "ok", Some(s), Vec::new(), None),
        Err(haul::ConnectorError::Failed { failed, summary }) => (
            EX_PARTIAL,
            "partial",
            Some(&**summary),
            failed
                .iter()
                .map(|f| FailedJson {
                    stream: f.stream.clone(),
                    partition: f.partition.clone(),
                    error: f.error.to_string(),
                })
                .collect(),
            None,
        ),
        Err(haul::ConnectorError::Interrupted { summary, resumable }) => (
            EX_INTERRUPTED,
            "interrupted",
            Some(&**summary),
            Vec::new(),
            Some(format!("interrupted; {resumable} partition(s) can resume")),
        ),
        Err(e) => (EX_FAILURE, "failed", None, Vec::new(), Some(e.to_string())),
    };
    // A run where every partition failed is a failure, not a partial success.
    let code = match (code, summary) {
        (EX_PARTIAL, Some(s))
            if usize::try_from(s.partitions_failed).unwrap_or(usize::MAX) >= s.partitions.len() =>
        {
            EX_FAILURE
        }
        (c, _) => c,
    };
    let status = if code == EX_FAILURE { "failed" } else { status };
    if let Err(e) = sink.close().await {
        tracing::warn!(error = %e, "closing the sink");
    }
    let report = Report {
        connector: connector.name(),
        status,
        exit_code: code,
        sink: url,
        summary,
        failed,
        error,
    };
    if let Some(path) = &o.report {
        match serde_json::to_string_pretty(&report) {
            Ok(text) => {
                if let Err(e) = std::fs::write(path, text + "\n") {
                    eprintln!("haul: cannot write the report {}: {e}", path.display());
                }
            }
            Err(e) => eprintln!("haul: {e}"),
        }
    }
    for f in &report.failed {
        tracing::error!(stream = %f.stream, partition = %f.partition, error = %f.error, "partition failed");
    }
    if let Some(e) = &report.error {
        tracing::error!(error = %e, status, "run ended");
    }
    if o.json {
        if let Ok(line) = serde_json::to_string(&report) {
            say!("{line}");
        }
    } else if let Some(s) = summary {
        say!("{s}");
        say!("status: {status} (exit {code})");
    } else {
        say!("status: {status} (exit {code})");
    }
    code
}

/// What `haul run --workers` reports.
#[derive(Debug, Serialize)]
struct WorkerReport<'a> {
    connector: &'a str,
    status: &'a str,
    exit_code: u8,
    queue: String,
    worker: Option<&'a haul::WorkerSummary>,
    error: Option<String>,
}

/// `haul run --workers URL`: one worker of the connector on the queue.
async fn run_worker(r: &Resolved, connector: &haul::Connector, url: &str, o: &RunOptions) -> u8 {
    let parsed = match pg::PgUrl::parse(url) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("haul: --workers: {e}");
            return EX_CONFIG;
        }
    };
    let owner = o.worker_name.clone().unwrap_or_else(|| {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "local".to_owned());
        format!("haul-{host}-{}", std::process::id())
    });
    let queue = match parsed.work_queue(&owner, &r.primary_keys()).await {
        Ok(q) => q,
        Err(e) => {
            eprintln!("haul: {e}");
            return EX_FAILURE;
        }
    };
    tracing::info!(connector = connector.name(), queue = %parsed, owner, "worker started");
    let outcome = connector
        .run_worker_until(
            std::sync::Arc::new(queue),
            &haul::WorkerOptions::default(),
            observe::interrupted(),
        )
        .await;
    let (code, status, worker, error) = match &outcome {
        Ok(s) if s.failed > 0 => (EX_PARTIAL, "partial", Some(s), None),
        Ok(s) => (EX_OK, "ok", Some(s), None),
        Err(e) => (EX_FAILURE, "failed", None, Some(e.to_string())),
    };
    let report = WorkerReport {
        connector: connector.name(),
        status,
        exit_code: code,
        queue: parsed.to_string(),
        worker,
        error,
    };
    if let Some(path) = &o.report {
        match serde_json::to_string_pretty(&report) {
            Ok(text) => {
                if let Err(e) = std::fs::write(path, text + "\n") {
                    eprintln!("haul: cannot write the report {}: {e}", path.display());
                }
            }
            Err(e) => eprintln!("haul: {e}"),
        }
    }
    if let Some(e) = &report.error {
        tracing::error!(error = %e, status, "worker ended");
    }
    if o.json {
        if let Ok(line) = serde_json::to_string(&report) {
            say!("{line}");
        }
    } else {
        if let Some(s) = worker {
            say!("{s}");
        }
        say!("status: {status} (exit {code})");
    }
    code
}

async fn list(r: &Resolved, sink: Option<&str>) -> u8 {
    let states = stored_state(r, &[], sink).await;
    say!("connector {}", r.spec().name());
    for s in r.spec().streams() {
        let parent = s
            .parent
            .as_deref()
            .map_or(String::new(), |p| format!("  parent: {p}"));
        let stored = states.as_ref().map_or(String::new(), |all| {
            let mine: Vec<_> = all.iter().filter(|p| p.stream == s.name).collect();
            let done = mine.iter().filter(|p| p.checkpoint.is_done()).count();
            format!("  state: {} partition(s), {done} done", mine.len())
        });
        say!(
            "  {:<20} partitions: {}{parent}  primary key: {}{}{stored}",
            s.name,
            s.partitions,
            if s.primary_key.is_empty() {
                "—".to_owned()
            } else {
                s.primary_key.join(",")
            },
            s.incremental_field
                .as_deref()
                .map_or(String::new(), |f| format!("  incremental: {f}")),
        );
    }
    EX_OK
}

/// Opens the sink a verb writes to or reads: `--sink` (a PostgreSQL URL is
/// handled here, through the facade's `postgres` feature) or the spec's.
/// Returns it with its URL for display, a password masked.
async fn open_destination(
    r: &Resolved,
    sink: Option<&str>,
) -> Result<(Box<dyn haul::Sink>, String), u8> {
    if let Some(url) = sink.filter(|u| pg::is_postgres(u)) {
        let parsed = pg::PgUrl::parse(url).map_err(|e| {
            eprintln!("haul: --sink: {e}");
            EX_CONFIG
        })?;
        let opened = parsed.open(&r.primary_keys()).await.map_err(|e| {
            eprintln!("haul: {e}");
            EX_FAILURE
        })?;
        return Ok((Box::new(opened), parsed.to_string()));
    }
    let url = r.sink_url(sink).map_err(|e| report_error(&e))?;
    let opened = r.open_sink(&url).map_err(|e| report_error(&e))?;
    Ok((opened, url.to_string()))
}

/// The stored state, if the sink exists (never creates a file sink).
async fn stored_state(
    r: &Resolved,
    streams: &[String],
    sink: Option<&str>,
) -> Option<Vec<haul::sink::PartitionState>> {
    if sink.is_some_and(pg::is_postgres) {
        let (opened, _) = open_destination(r, sink).await.ok()?;
        return r.state(&*opened, streams).await.ok();
    }
    let url = r.sink_url(sink).ok()?;
    match &url {
        haul_spec::SinkUrl::Sqlite(p) | haul_spec::SinkUrl::JsonLines(p) if !p.exists() => None,
        _ => {
            let opened = r.open_sink(&url).ok()?;
            r.state(&*opened, streams).await.ok()
        }
    }
}

async fn state(r: &Resolved, streams: &[String], sink: Option<&str>, reset: bool) -> u8 {
    if sink.is_some_and(pg::is_postgres) {
        return match open_destination(r, sink).await {
            Ok((opened, url)) => state_of(r, streams, &*opened, &url, reset).await,
            Err(code) => code,
        };
    }
    let url = match r.sink_url(sink) {
        Ok(u) => u,
        Err(e) => return report_error(&e),
    };
    let exists = match &url {
        haul_spec::SinkUrl::Sqlite(p) | haul_spec::SinkUrl::JsonLines(p) => p.exists(),
        _ => true,
    };
    if !exists {
        say!("no state: {url} does not exist");
        return EX_OK;
    }
    let opened = match r.open_sink(&url) {
        Ok(s) => s,
        Err(e) => return report_error(&e),
    };
    state_of(r, streams, &*opened, &url.to_string(), reset).await
}

/// Shows or resets the state stored in `opened` (shown as `url`).
async fn state_of(
    r: &Resolved,
    streams: &[String],
    opened: &dyn haul::Sink,
    url: &str,
    reset: bool,
) -> u8 {
    if reset {
        return match r.reset_state(opened, streams).await {
            Ok(n) => {
                say!(
                    "reset {n} partition(s) in {url}; the next run starts a fresh pass (use --full-refresh to ignore watermarks too)"
                );
                EX_OK
            }
            Err(e) => report_error(&e),
        };
    }
    match r.state(opened, streams).await {
        Ok(states) => {
            for p in states {
                let position = match &p.checkpoint.position {
                    haul::Position::Start => "start".to_owned(),
                    haul::Position::Done => "done".to_owned(),
                    haul::Position::Next(_) => "in progress".to_owned(),
                    _ => "other".to_owned(),
                };
                let values = serde_json::to_string(&p.values).unwrap_or_default();
                say!(
                    "{}\t{}\t{position}\t{values}",
                    p.stream,
                    if p.partition.is_empty() {
                        "-"
                    } else {
                        &p.partition
                    }
                );
            }
            EX_OK
        }
        Err(e) => report_error(&e),
    }
}
