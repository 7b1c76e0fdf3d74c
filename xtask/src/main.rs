//! `cargo xtask`: haul's task runner.
//!
//! - `cargo xtask demo`: start the testkit fake API in-process, extract it through
//!   the full stack, verify the destination against the dataset.

mod bench;
mod demo;
mod spec_demo;

use std::process::ExitCode;

const USAGE: &str = "usage: cargo xtask <task> [options]

tasks:
  demo    extract the fake API through the full haul stack and verify the result
          --records N            dataset size (default 100000)
          --page-size N          records per page (default 100)
          --seed N               dataset seed (default 42)
          --out DIR              output directory (default demo-out)
          --sink sqlite|jsonl    destination (default sqlite: DIR/haul.db)
          --report FILE          write the run summary as JSON
          --faults               inject a realistic mix of faults and an advertised rate limit
          --incremental          then change the API's data and run an incremental pass
          --tls                  serve over rustls (HTTP/2 via ALPN) with a CA generated for the run
          --kill-after-pages N   abort the process after N pages (rerun to resume)
          --concurrency K        pages in flight when the remaining pages are known
          --style S              pagination style: cursor (default), last-record,
                                 header-cursor, next-url, link, offset, page, graphql, auto
          --connector            a three-level connector (orgs -> repos -> events) and a
                                 windowed audit-log backfill into SQLite, verified per
                                 partition (--page-size default 50, --concurrency 8)
          --preset NAME          a haul::presets preset against the fake API's emulation of
                                 its API: github, stripe, hubspot, zendesk, salesforce,
                                 shopify, jira, odata (with --incremental: its own bound)
  demo --workers N  the connector demo run by N worker processes sharing a PostgreSQL
          work queue and destination (schema haul_demo_workers, recreated) and a Redis
          rate budget at the API's strict 100/s limit; one worker is SIGKILLed half-way
          and its partitions reclaimed after their 2 s leases expire; verified record for
          record: --seed N, --report FILE (HAUL_POSTGRES, HAUL_REDIS_URL to point elsewhere)
  demo --spec FILE  run the real `haul` binary on a declarative spec against the
          fake API's emulation of the spec's API (its `name`), verify record for
          record: --records N (default 3000), --out DIR, --report FILE;
          --bench (GitHub spec): time `haul run` against the same extraction
          written with the library, in process, and print the ratio
  bench   measure haul against raw reqwest loops on the same local server
          (see `cargo xtask bench --help`)
";

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let task = args.next();
    let rest: Vec<String> = args.collect();
    let result = match task.as_deref() {
        Some("demo") if rest.iter().any(|a| a == "--spec") => spec_demo::run(&rest),
        Some("demo") if rest.iter().any(|a| a == "--worker-child") => demo::workers::child(&rest),
        Some("demo") if rest.iter().any(|a| a == "--workers") => demo::workers::run(&rest),
        Some("demo") => demo::Options::parse(&rest).and_then(demo::run),
        Some("bench") => bench::run(&rest),
        Some("-h" | "--help" | "help") | None => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Some(other) => Err(format!("unknown task {other:?}\n\n{USAGE}")),
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}

/// Flag values by name, and the switches present.
pub(crate) type Flags<'a> = (std::collections::HashMap<&'a str, &'a str>, Vec<&'a str>);

/// Parses `--flag value` pairs and bare `--switch`es, rejecting unknown ones.
pub(crate) fn flags<'a>(
    args: &'a [String],
    known: &[&str],
    switches: &[&str],
) -> Result<Flags<'a>, String> {
    let mut map = std::collections::HashMap::new();
    let mut on = Vec::new();
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        if switches.contains(&flag.as_str()) {
            on.push(flag.as_str());
            continue;
        }
        if !known.contains(&flag.as_str()) {
            return Err(format!("unknown option {flag:?}\n\n{USAGE}"));
        }
        let value = it
            .next()
            .ok_or_else(|| format!("option {flag} needs a value"))?;
        map.insert(flag.as_str(), value.as_str());
    }
    Ok((map, on))
}

/// Logs to stderr, filtered by `HAUL_LOG` (default `warn`).
pub(crate) fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("HAUL_LOG").unwrap_or_else(|_| EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Parses a numeric flag value.
pub(crate) fn number<T: std::str::FromStr>(
    map: &std::collections::HashMap<&str, &str>,
    flag: &str,
    default: T,
) -> Result<T, String> {
    match map.get(flag) {
        None => Ok(default),
        Some(v) => v
            .replace('_', "")
            .parse()
            .map_err(|_| format!("{flag} expects a number, got {v:?}")),
    }
}
