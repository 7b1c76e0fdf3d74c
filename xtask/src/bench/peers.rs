//! The peer: dlt's `RESTClient.paginate` (Python) on the same server and
//! dataset, installed with pip into a virtual environment under the output
//! directory.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde::Deserialize;
use url::Url;

use super::options::PAGE_SIZE;
use super::sample::{Sample, Samples};

/// How long the dlt run may take before it is stopped.
const PEER_TIMEOUT: Duration = Duration::from_secs(600);

/// Walks `/items` by cursor with dlt's REST client, timing only the loop
/// (imports and interpreter start are not counted).
const SCRIPT: &str = r#"import json, sys, time
import dlt
from dlt.sources.helpers.rest_client import RESTClient
from dlt.sources.helpers.rest_client.paginators import JSONResponseCursorPaginator

base, limit, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])

def client():
    return RESTClient(
        base_url=base,
        paginator=JSONResponseCursorPaginator(cursor_path="next_cursor", cursor_param="cursor"),
        data_selector="data",
    )

# Warm-up: imports done lazily, connection pool, JSONPath compilation.
for n, page in enumerate(client().paginate("/items", params={"limit": limit})):
    if n == 20:
        break
seconds, records, pages = [], [], []
for _ in range(runs):
    got = n = 0
    started = time.perf_counter()
    for page in client().paginate("/items", params={"limit": limit}):
        got += len(page)
        n += 1
    seconds.append(time.perf_counter() - started)
    records.append(got)
    pages.append(n)
print(json.dumps({"records": records, "pages": pages, "seconds": seconds,
                  "dlt": dlt.__version__, "python": sys.version.split()[0]}))
"#;

/// A measured peer, or why it was skipped.
#[derive(Debug, Clone)]
pub(crate) enum Peer {
    Measured { samples: Samples, version: String },
    Skipped(String),
}

#[derive(Debug, Deserialize)]
struct PeerReport {
    /// Records extracted by each timed run.
    records: Vec<u64>,
    /// Pages fetched by each timed run.
    pages: Vec<u64>,
    seconds: Vec<f64>,
    dlt: String,
    python: String,
}

/// Installs dlt if needed, then runs it `runs` times against `base` (after
/// a short warm-up); every run must extract `expected` records, or the peer
/// is not measured (a peer that fetched nothing would look fast).
pub(crate) fn dlt(base: &Url, out: &Path, runs: usize, expected: u64) -> Peer {
    match install(out).and_then(|python| run(&python, base, out, runs, expected)) {
        Ok(peer) => peer,
        Err(reason) => Peer::Skipped(reason),
    }
}

fn install(out: &Path) -> Result<PathBuf, String> {
    let venv = out.join("venv");
    let python = venv.join("bin").join("python");
    if !python.exists() {
        eprintln!("  creating {} (python3 -m venv)", venv.display());
        checked(
            Command::new("python3").arg("-m").arg("venv").arg(&venv),
            "python3 -m venv",
        )?;
    }
    let imported = Command::new(&python)
        .args(["-c", "import dlt"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !imported {
        eprintln!("  installing dlt with pip into {}", venv.display());
        checked(
            Command::new(&python).args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "dlt",
            ]),
            "pip install dlt",
        )?;
    }
    Ok(python)
}

fn run(python: &Path, base: &Url, out: &Path, runs: usize, expected: u64) -> Result<Peer, String> {
    let script = out.join("dlt_paginate.py");
    std::fs::write(&script, SCRIPT)
        .map_err(|e| format!("cannot write {}: {e}", script.display()))?;
    let base = base.as_str().trim_end_matches('/').to_owned();
    let mut command = Command::new(python);
    command
        .arg(&script)
        .arg(&base)
        .arg(PAGE_SIZE.to_string())
        .arg(runs.max(1).to_string())
        // No telemetry, no config lookups outside the bench.
        .env("RUNTIME__DLTHUB_TELEMETRY", "false")
        .env("DLT_DATA_DIR", out.join("dlt-data"))
        .current_dir(out);
    let output = with_timeout(&mut command, PEER_TIMEOUT)?;
    if !output.status.success() {
        return Err(format!(
            "the dlt run failed ({}): {}",
            output.status,
            tail(&output.stderr)
        ));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    let report: PeerReport =
        serde_json::from_str(line).map_err(|e| format!("unreadable dlt report {line:?}: {e}"))?;
    if report.records.len() != report.seconds.len() || report.pages.len() != report.seconds.len() {
        return Err(format!("inconsistent dlt report {line:?}"));
    }
    if let Some((i, got)) = report
        .records
        .iter()
        .enumerate()
        .find(|(_, got)| **got != expected)
    {
        return Err(format!(
            "dlt run {} extracted {got} records, expected {expected}",
            i + 1
        ));
    }
    let samples = report
        .seconds
        .iter()
        .zip(&report.pages)
        .map(|(s, pages)| Sample {
            records: expected,
            requests: *pages,
            elapsed: Duration::from_secs_f64(s.max(0.0)),
        })
        .collect();
    Ok(Peer::Measured {
        samples: Samples(samples),
        version: format!("dlt {} (Python {})", report.dlt, report.python),
    })
}

/// Runs `command`, failing with the tail of its output if it fails.
fn checked(command: &mut Command, what: &str) -> Result<(), String> {
    let output = with_timeout(command, PEER_TIMEOUT)?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} failed ({}): {}{}",
            output.status,
            tail(&output.stdout),
            tail(&output.stderr)
        ))
    }
}

/// Runs `command` with captured output, killing it after `limit`.
fn with_timeout(command: &mut Command, limit: Duration) -> Result<Output, String> {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {command:?}: {e}"))?;
    // Drain the pipes on threads so a chatty child never blocks on a full pipe.
    let drain = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut buf);
            }
            buf
        })
    };
    let stdout = drain(child.stdout.take().map(|p| Box::new(p) as _));
    let stderr = drain(child.stderr.take().map(|p| Box::new(p) as _));
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() > limit => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{command:?} took longer than {limit:?}; stopped"));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(format!("waiting for {command:?}: {e}")),
        }
    };
    Ok(Output {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    })
}

fn tail(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(5)..].join(" | ")
}
