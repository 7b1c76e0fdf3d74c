//! Client CPU per page: the fake API runs in a separate process (this
//! executable in `--serve` mode, over loopback), so the CPU time read here
//! (`CLOCK_PROCESS_CPUTIME_ID` of this process, every thread, dead or alive)
//! is the client's alone. Each variant runs on a current-thread runtime and
//! on a two-worker multi-thread runtime.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use haul_testkit::Dataset;
use url::Url;

use super::haul_runs::{self, SinkChoice};
use super::reference;
use super::sample::Sample;

/// The internal task name of the server process.
pub(crate) const SERVE: &str = "--serve";
/// The internal task name of a client run alone (for profilers).
pub(crate) const CLIENT: &str = "--cpu-client";

/// CPU time used so far by this process, every thread included.
pub(crate) fn process_cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    Duration::new(
        u64::try_from(t.tv_sec).unwrap_or(0),
        u32::try_from(t.tv_nsec).unwrap_or(0),
    )
}

/// The server: `bench --serve --records N --seed S`. Prints the base URL on
/// one line of stdout and serves until its stdin closes.
pub(crate) fn serve(args: &[String]) -> Result<ExitCode, String> {
    let (map, _) = crate::flags(args, &["--records", "--seed"], &[])?;
    let records: usize = map
        .get("--records")
        .ok_or("--serve needs --records")?
        .parse()
        .map_err(|e| format!("bad --records: {e}"))?;
    let seed: u64 = map
        .get("--seed")
        .map_or(Ok(42), |s| s.parse())
        .map_err(|e| format!("bad --seed: {e}"))?;
    let host = super::servers::ServerHost::new()?;
    let server = host.plain(&Dataset::generate(seed, records))?;
    let mut stdout = std::io::stdout();
    writeln!(stdout, "{}", server.url("/")).map_err(|e| e.to_string())?;
    stdout.flush().map_err(|e| e.to_string())?;
    // Serve until the parent closes our stdin (or dies).
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
    host.stop(server);
    Ok(ExitCode::SUCCESS)
}

/// A fake API in a child process; stopped when dropped.
pub(crate) struct RemoteServer {
    child: Child,
    pub(crate) base: Url,
}

impl RemoteServer {
    /// Starts `<this executable> bench --serve` over `records` records.
    pub(crate) fn start(records: usize, seed: u64) -> Result<Self, String> {
        let exe =
            std::env::current_exe().map_err(|e| format!("cannot find this executable: {e}"))?;
        let mut child = Command::new(exe)
            .args(["bench", SERVE, "--records"])
            .arg(records.to_string())
            .arg("--seed")
            .arg(seed.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start the server process: {e}"))?;
        let stdout = child.stdout.take().ok_or("the server has no stdout")?;
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .map_err(|e| format!("cannot read the server's URL: {e}"))?;
        let base = line
            .trim()
            .parse::<Url>()
            .map_err(|e| format!("the server printed {line:?}: {e}"))?;
        Ok(Self { child, base })
    }
}

impl Drop for RemoteServer {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

/// What a CPU row runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Variant {
    /// The typed `RawValue` raw loop.
    RawValue,
    /// haul sequential into the null sink.
    HaulNull,
    /// haul sequential into `JsonLinesSink` (for profiling the sink).
    HaulJsonl,
    /// haul sequential into `SqliteSink` (for profiling the sink).
    HaulSqlite,
}

impl Variant {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::RawValue => "raw reqwest loop, typed page (RawValue)",
            Self::HaulNull => "haul sequential cursor → null sink",
            Self::HaulJsonl => "haul sequential cursor → JsonLinesSink",
            Self::HaulSqlite => "haul sequential cursor → SqliteSink",
        }
    }
}

/// Which runtime a CPU row runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavor {
    CurrentThread,
    MultiThread,
}

impl Flavor {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::CurrentThread => "current-thread runtime",
            Self::MultiThread => "multi-thread runtime (2 workers)",
        }
    }

    pub(crate) fn runtime(self) -> Result<tokio::runtime::Runtime, String> {
        match self {
            Self::CurrentThread => tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build(),
            Self::MultiThread => tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build(),
        }
        .map_err(|e| format!("cannot start the client runtime: {e}"))
    }
}

/// One run of `variant` on `runtime`: the sample and the CPU it took.
pub(crate) fn measure(
    runtime: &tokio::runtime::Runtime,
    variant: Variant,
    base: &Url,
) -> Result<(Sample, Duration), String> {
    let cpu = process_cpu();
    let sample = match variant {
        Variant::RawValue => runtime.block_on(reference::sequential_raw_value(base))?,
        Variant::HaulNull => runtime.block_on(haul_runs::sequential(
            base,
            SinkChoice::Null,
            &std::env::temp_dir(),
        ))?,
        Variant::HaulJsonl | Variant::HaulSqlite => {
            let scratch = std::env::temp_dir().join(format!("haul-cpu-{}", std::process::id()));
            std::fs::create_dir_all(&scratch).map_err(|e| e.to_string())?;
            let sink = if variant == Variant::HaulJsonl {
                SinkChoice::Jsonl
            } else {
                SinkChoice::Sqlite
            };
            let sample = runtime.block_on(haul_runs::sequential(base, sink, &scratch));
            let _ = std::fs::remove_dir_all(&scratch);
            sample?
        }
    };
    Ok((sample, process_cpu().saturating_sub(cpu)))
}

/// A client alone, for profilers: `bench --cpu-client --variant raw|haul|jsonl|sqlite
/// --runtime current|multi --reps N [--records N]`; starts its own server
/// process and prints each run's CPU and wall time.
#[allow(clippy::print_stdout)] // xtask reports on stdout
pub(crate) fn client(args: &[String]) -> Result<ExitCode, String> {
    let (map, _) = crate::flags(
        args,
        &["--variant", "--runtime", "--reps", "--records"],
        &[],
    )?;
    let variant = match map.get("--variant").copied() {
        Some("raw") => Variant::RawValue,
        Some("haul") | None => Variant::HaulNull,
        Some("jsonl") => Variant::HaulJsonl,
        Some("sqlite") => Variant::HaulSqlite,
        Some(other) => {
            return Err(format!(
                "unknown --variant {other} (raw | haul | jsonl | sqlite)"
            ));
        }
    };
    let flavor = match map.get("--runtime").copied() {
        Some("multi") => Flavor::MultiThread,
        Some("current") | None => Flavor::CurrentThread,
        Some(other) => return Err(format!("unknown --runtime {other} (current | multi)")),
    };
    let reps: usize = map
        .get("--reps")
        .map_or(Ok(3), |s| s.parse())
        .map_err(|e| format!("bad --reps: {e}"))?;
    let records: usize = map
        .get("--records")
        .map_or(Ok(100_000), |s| s.parse())
        .map_err(|e| format!("bad --records: {e}"))?;
    crate::init_tracing();
    let server = RemoteServer::start(records, 42)?;
    let runtime = flavor.runtime()?;
    let started = Instant::now();
    for rep in 1..=reps {
        let (sample, cpu) = measure(&runtime, variant, &server.base)?;
        println!(
            "{} on {}, run {rep}: {} records, {} requests, cpu {:.1} ms, wall {:.1} ms",
            variant.label(),
            flavor.label(),
            sample.records,
            sample.requests,
            cpu.as_secs_f64() * 1e3,
            sample.elapsed.as_secs_f64() * 1e3
        );
    }
    eprintln!("done in {:.1?}", started.elapsed());
    Ok(ExitCode::SUCCESS)
}

/// What the CPU rows found on one runtime: the median client CPU and wall
/// time of the raw `RawValue` loop and of haul.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CpuFound {
    pub(crate) flavor: Flavor,
    pub(crate) raw_cpu: Duration,
    pub(crate) haul_cpu: Duration,
    pub(crate) raw_wall: Duration,
    pub(crate) haul_wall: Duration,
}

/// The median of `runs` by CPU time (the lower middle one).
fn median_by_cpu(runs: &[(Sample, Duration)]) -> (Sample, Duration) {
    let mut sorted = runs.to_vec();
    sorted.sort_by_key(|(_, cpu)| *cpu);
    sorted
        .get(sorted.len().saturating_sub(1) / 2)
        .copied()
        .unwrap_or_default()
}

/// The CPU rows: the raw `RawValue` loop and haul (null sink), interleaved,
/// `reps` runs each after a warm-up, on both runtimes, against a server
/// process over `records` records.
pub(crate) fn rows(
    records: usize,
    seed: u64,
    reps: usize,
    rows: &mut Vec<super::report::Row>,
) -> Result<Vec<CpuFound>, String> {
    let server = RemoteServer::start(records, seed)?;
    let mut found = Vec::new();
    for flavor in [Flavor::CurrentThread, Flavor::MultiThread] {
        let runtime = flavor.runtime()?;
        for variant in [Variant::RawValue, Variant::HaulNull] {
            measure(&runtime, variant, &server.base)?;
        }
        let (mut raw, mut haul) = (Vec::new(), Vec::new());
        for _ in 0..reps.max(1) {
            for (variant, runs) in [
                (Variant::RawValue, &mut raw),
                (Variant::HaulNull, &mut haul),
            ] {
                let (sample, cpu) = measure(&runtime, variant, &server.base)?;
                if sample.records != records as u64 {
                    return Err(format!(
                        "{} extracted {} records, expected {records}",
                        variant.label(),
                        sample.records
                    ));
                }
                runs.push((sample, cpu));
            }
        }
        let ((raw_sample, raw_cpu), (haul_sample, haul_cpu)) =
            (median_by_cpu(&raw), median_by_cpu(&haul));
        eprintln!(
            "  {}: raw RawValue cpu {:.1} ms (wall {:.1} ms) · haul cpu {:.1} ms (wall {:.1} ms): {:.2}×",
            flavor.label(),
            raw_cpu.as_secs_f64() * 1e3,
            raw_sample.elapsed.as_secs_f64() * 1e3,
            haul_cpu.as_secs_f64() * 1e3,
            haul_sample.elapsed.as_secs_f64() * 1e3,
            haul_cpu.as_secs_f64() / raw_cpu.as_secs_f64().max(1e-9)
        );
        for (variant, sample, cpu) in [
            (Variant::RawValue, raw_sample, raw_cpu),
            (Variant::HaulNull, haul_sample, haul_cpu),
        ] {
            let mut row = super::report::Row::from_samples(
                7,
                format!("{}, {}", variant.label(), flavor.label()),
                &super::sample::Samples(vec![sample]),
            );
            row.cpu_ms = Some(cpu.as_secs_f64() * 1e3);
            row.notes = format!(
                "median by client CPU of {} runs; CPU per page {:.1} µs",
                reps.max(1),
                cpu.as_secs_f64() * 1e6 / sample.requests.max(1) as f64
            );
            rows.push(row);
        }
        found.push(CpuFound {
            flavor,
            raw_cpu,
            haul_cpu,
            raw_wall: raw_sample.elapsed,
            haul_wall: haul_sample.elapsed,
        });
    }
    Ok(found)
}
