//! Peak memory: a child process extracts into SQLite and reports its own
//! peak resident set (`VmHWM`). The server runs in this (the parent)
//! process, so the child holds none of the dataset.

use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

use haul::HeaderAdaptive;
use haul_testkit::Dataset;
use serde::{Deserialize, Serialize};
use url::Url;

use super::haul_runs::{cursor_extractor_with, sqlite_sink};
use super::servers::ServerHost;

/// The internal task name of the child.
pub(crate) const CHILD: &str = "--rss-child";

/// What the child reports on its one line of stdout.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub(crate) struct RssReport {
    pub(crate) records: u64,
    pub(crate) seconds: f64,
    /// Peak RSS before the extraction started (runtime and sink opened).
    pub(crate) baseline_kib: u64,
    /// Peak RSS of the whole process, read at exit.
    pub(crate) peak_kib: u64,
}

impl RssReport {
    pub(crate) fn peak_mib(&self) -> f64 {
        self.peak_kib as f64 / 1024.0
    }
}

/// The child: `bench --rss-child --url URL --db PATH`.
pub(crate) fn child(args: &[String]) -> Result<ExitCode, String> {
    let (map, _) = crate::flags(args, &["--url", "--db"], &[])?;
    let url = map
        .get("--url")
        .ok_or("--rss-child needs --url")?
        .parse::<Url>()
        .map_err(|e| format!("bad --url: {e}"))?;
    let db = Path::new(map.get("--db").ok_or("--rss-child needs --db")?);
    crate::init_tracing();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let sink = sqlite_sink(db, "items")?;
    let extractor = cursor_extractor_with(&url, "items", HeaderAdaptive::new())?;
    let baseline_kib = vm_hwm_kib()?;
    let started = Instant::now();
    let summary = runtime
        .block_on(extractor.run(&sink))
        .map_err(|e| format!("extraction failed: {e}"))?;
    let seconds = started.elapsed().as_secs_f64();
    drop(sink);
    let report = RssReport {
        records: summary.records,
        seconds,
        baseline_kib,
        peak_kib: vm_hwm_kib()?,
    };
    let line = serde_json::to_string(&report).map_err(|e| e.to_string())?;
    println!("{line}");
    Ok(ExitCode::SUCCESS)
}

/// This process's peak resident set size, from `/proc/self/status`.
fn vm_hwm_kib() -> Result<u64, String> {
    let status = std::fs::read_to_string("/proc/self/status")
        .map_err(|e| format!("cannot read /proc/self/status (Linux only): {e}"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| "no VmHWM in /proc/self/status".to_owned())
}

/// Serves `records` records from this process and has a child extract them.
pub(crate) fn measure(
    host: &ServerHost,
    seed: u64,
    records: usize,
    scratch: &Path,
) -> Result<RssReport, String> {
    let generated = Instant::now();
    let dataset = Dataset::generate(seed, records);
    eprintln!(
        "  dataset of {records} records generated in {:.1?}",
        generated.elapsed()
    );
    let server = host.plain(&dataset)?;
    let db = scratch.join(format!("rss-{records}.db"));
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this executable: {e}"))?;
    let output = Command::new(exe)
        .args(["bench", CHILD, "--url"])
        .arg(server.url("/").as_str())
        .arg("--db")
        .arg(&db)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output();
    host.stop(server);
    drop(dataset);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(scratch.join(format!("rss-{records}.db{suffix}")));
    }
    let output = output.map_err(|e| format!("cannot run the memory child: {e}"))?;
    if !output.status.success() {
        return Err(format!("the memory child failed ({})", output.status));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    let report: RssReport = serde_json::from_str(line)
        .map_err(|e| format!("unreadable memory child report {line:?}: {e}"))?;
    if report.records != records as u64 {
        return Err(format!(
            "the memory child extracted {} records, expected {records}",
            report.records
        ));
    }
    Ok(report)
}
