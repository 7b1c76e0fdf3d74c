//! Command-line options and the sizes of a quick or full run.

use std::path::PathBuf;
use std::time::Duration;

/// What `cargo xtask bench` was asked to do.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    /// A reduced run (under 3 minutes with a warm release build).
    pub(crate) quick: bool,
    /// Also measure dlt (installed into `<out>/venv` with pip).
    pub(crate) peers: bool,
    /// Where the reports go.
    pub(crate) out: PathBuf,
    /// The sections to run (`--only`); empty: all of them.
    pub(crate) only: Vec<Section>,
}

/// A section of the suite, as `--only` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Section {
    /// Sequential rows (raw loops, haul into three sinks) and the peer.
    Sequential,
    /// Offset pages at 20 ms, K in flight.
    Latency,
    /// The connector's partitions at 20 ms.
    Connector,
    /// Eight streams sharing one limiter.
    Streams,
    /// Peak RSS of a child process.
    Memory,
    /// Client CPU, the fake API in another process.
    Cpu,
    /// The destinations alone: PostgresSink and SqliteSink.
    Sinks,
}

impl Section {
    const ALL: [(Section, &'static str); 7] = [
        (Section::Sequential, "sequential"),
        (Section::Latency, "latency"),
        (Section::Connector, "connector"),
        (Section::Streams, "streams"),
        (Section::Memory, "memory"),
        (Section::Cpu, "cpu"),
        (Section::Sinks, "sinks"),
    ];

    fn parse(name: &str) -> Result<Self, String> {
        Self::ALL
            .iter()
            .find(|(_, n)| *n == name.trim())
            .map(|(s, _)| *s)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|(_, n)| *n).collect();
                format!(
                    "--only: unknown section {name:?} (sections: {})",
                    names.join(", ")
                )
            })
    }

    fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(s, _)| *s == self)
            .map_or("?", |(_, n)| n)
    }
}

pub(crate) const HELP: &str =
    "usage: cargo xtask bench [--quick] [--peers] [--only SECTIONS] [--out DIR]

Measures haul against raw reqwest loops on the same in-process fake API
(and, with --peers, against dlt's RESTClient), in a release build: the task
builds `xtask` in release and re-runs itself from target/release.

  --quick      a reduced run: smaller datasets, fewer repetitions, 5 s rate-limit
               window (under 3 minutes when the release build is warm)
  --peers      also run dlt's RESTClient.paginate (Python), installed with pip
               into DIR/venv; skipped with a message if that fails
  --only SECTIONS
               run only these sections, comma-separated: sequential, latency,
               connector, streams, memory, cpu, sinks (targets whose rows were not
               run are left out; for iterating, not for the README)
  --out DIR    where report.md, report.json and concurrency.svg go
               (default target/bench)

Section 8 commits the demo's records straight into PostgresSink and
SqliteSink (same records, same batches). It needs PostgreSQL: HAUL_POSTGRES,
default `host=127.0.0.1 port=5432 user=postgres dbname=test`; it works in a
schema of its own and drops it. Unreachable, those rows are skipped and the
target says SKIPPED with the reason.

It prints a markdown table and each target with its ratio and PASS/MISS, and
exits 0 whether targets pass or miss: a benchmark reports, it does not gate.
";

impl Options {
    /// Parses the public flags; `default_out` applies without `--out`.
    pub(crate) fn parse(args: &[String], default_out: PathBuf) -> Result<Self, String> {
        let (map, switches) = crate::flags(args, &["--out", "--only"], &["--quick", "--peers"])?;
        let only = match map.get("--only") {
            Some(list) => list
                .split(',')
                .map(Section::parse)
                .collect::<Result<Vec<_>, _>>()?,
            None => Vec::new(),
        };
        Ok(Self {
            quick: switches.contains(&"--quick"),
            peers: switches.contains(&"--peers"),
            out: map.get("--out").map_or(default_out, PathBuf::from),
            only,
        })
    }

    /// Whether `section` is to be run.
    pub(crate) fn runs(&self, section: Section) -> bool {
        self.only.is_empty() || self.only.contains(&section)
    }

    /// Whether every section is run (a full report).
    pub(crate) fn runs_all(&self) -> bool {
        self.only.is_empty()
    }

    /// The same options as flags, to hand to the release build.
    pub(crate) fn to_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        if self.quick {
            args.push("--quick".to_owned());
        }
        if self.peers {
            args.push("--peers".to_owned());
        }
        if !self.only.is_empty() {
            let names: Vec<&str> = self.only.iter().map(|s| s.name()).collect();
            args.push("--only".to_owned());
            args.push(names.join(","));
        }
        args.push("--out".to_owned());
        args.push(self.out.display().to_string());
        args
    }

    /// The sizes of this run.
    pub(crate) fn plan(&self) -> Plan {
        if self.quick {
            Plan {
                seq_records: 100_000,
                seq_reps: 3,
                peer_reps: 1,
                latency_reps: 1,
                pages_per_k: 20,
                min_latency_pages: 50,
                streams_window: Duration::from_secs(5),
                memory_sizes: [100_000, 1_000_000],
                connector_partitions: 200,
                sink_records: 100_000,
                sink_reps: 2,
            }
        } else {
            Plan {
                seq_records: 300_000,
                seq_reps: 5,
                peer_reps: 3,
                latency_reps: 3,
                pages_per_k: 60,
                min_latency_pages: 150,
                streams_window: Duration::from_secs(20),
                memory_sizes: [100_000, 1_000_000],
                connector_partitions: 200,
                sink_records: 200_000,
                sink_reps: 3,
            }
        }
    }
}

/// Records per page everywhere.
pub(crate) const PAGE_SIZE: usize = 100;
/// The injected per-request latency of the concurrency rows.
pub(crate) const LATENCY: Duration = Duration::from_millis(20);
/// The concurrency levels measured.
pub(crate) const KS: [usize; 5] = [1, 4, 16, 32, 64];
/// The K the concurrency targets are checked at.
pub(crate) const TARGET_K: usize = 32;
/// Pages of each partition of the connector rows.
pub(crate) const CONNECTOR_PAGES: usize = 5;
/// Records per page of the connector rows.
pub(crate) const CONNECTOR_PAGE_SIZE: usize = 20;
/// Requests in flight of the parallel connector row.
pub(crate) const CONNECTOR_IN_FLIGHT: usize = 16;
/// Streams sharing one limiter.
pub(crate) const STREAMS: usize = 8;
/// The shared limiter's (and the server's) budget, requests per second.
pub(crate) const STREAM_RATE: u32 = 200;

/// Dataset sizes, repetitions and durations.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Plan {
    /// Records of the sequential (no latency) dataset.
    pub(crate) seq_records: usize,
    /// Repetitions of each sequential row (the median is reported).
    pub(crate) seq_reps: usize,
    /// Timed dlt passes (after a short warm-up).
    pub(crate) peer_reps: usize,
    /// Repetitions of each latency row.
    pub(crate) latency_reps: usize,
    /// Pages fetched per unit of K at 20 ms (K = 32 fetches 32 × this).
    pub(crate) pages_per_k: usize,
    /// At least this many pages per latency row.
    pub(crate) min_latency_pages: usize,
    /// How long the eight streams run.
    pub(crate) streams_window: Duration,
    /// Records extracted by the memory child, small then large.
    pub(crate) memory_sizes: [usize; 2],
    /// Partitions of the connector rows (each of [`CONNECTOR_PAGES`] pages).
    pub(crate) connector_partitions: usize,
    /// Records committed per pass of the sinks-alone rows (section 8).
    pub(crate) sink_records: usize,
    /// Passes of each sinks-alone row (the median is reported).
    pub(crate) sink_reps: usize,
}

impl Plan {
    /// Pages fetched by the latency rows at concurrency `k`.
    pub(crate) fn latency_pages(&self, k: usize) -> usize {
        (k * self.pages_per_k).max(self.min_latency_pages)
    }

    /// Records of the latency dataset (enough for the largest K).
    pub(crate) fn latency_records(&self) -> usize {
        KS.iter().map(|&k| self.latency_pages(k)).max().unwrap_or(0) * PAGE_SIZE
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn flags_round_trip_to_the_release_run() {
        let options = Options::parse(
            &args(&[
                "--peers",
                "--quick",
                "--only",
                "latency,streams",
                "--out",
                "x/y",
            ]),
            PathBuf::from("d"),
        );
        let Ok(options) = options else {
            panic!("valid flags were rejected");
        };
        assert!(options.quick && options.peers);
        assert_eq!(options.out, PathBuf::from("x/y"));
        assert_eq!(options.only, [Section::Latency, Section::Streams]);
        assert!(options.runs(Section::Streams) && !options.runs(Section::Cpu));
        let again = Options::parse(&options.to_args(), PathBuf::from("d"));
        assert!(again.is_ok_and(|o| o.quick
            && o.peers
            && o.out == Path::new("x/y")
            && o.only == options.only));
        assert!(Options::parse(&args(&["--only", "latency,nope"]), PathBuf::from("d")).is_err());
        assert!(Options::parse(&args(&["--records", "5"]), PathBuf::from("d")).is_err());
        assert!(Options::parse(&[], PathBuf::from("d")).is_ok_and(|o| o.out == Path::new("d")));
    }

    #[test]
    fn latency_pages_scale_with_k() {
        let plan = Options {
            quick: true,
            peers: false,
            out: PathBuf::new(),
            only: Vec::new(),
        }
        .plan();
        assert_eq!(plan.latency_pages(1), plan.min_latency_pages);
        assert_eq!(plan.latency_pages(32), 32 * plan.pages_per_k);
        assert_eq!(plan.latency_records(), 64 * plan.pages_per_k * PAGE_SIZE);
    }
}
