//! `cargo xtask`: haul's task runner.
//!
//! - `cargo xtask demo`: start the testkit fake API in-process, extract it through
//!   the full stack, verify the destination against the dataset.

mod demo;

use std::process::ExitCode;

const USAGE: &str = "usage: cargo xtask <task> [options]

tasks:
  demo    extract the fake API through the full haul stack and verify the result
          --records N     dataset size (default 100000)
          --page-size N   records per page (default 100)
          --seed N        dataset seed (default 42)
          --out DIR       output directory (default demo-out)
          --report FILE   write the run summary as JSON
";

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let task = args.next();
    let rest: Vec<String> = args.collect();
    let result = match task.as_deref() {
        Some("demo") => demo::Options::parse(&rest).and_then(demo::run),
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

/// Parses `--flag value` pairs into a lookup, rejecting unknown flags.
pub(crate) fn flags<'a>(
    args: &'a [String],
    known: &[&str],
) -> Result<std::collections::HashMap<&'a str, &'a str>, String> {
    let mut map = std::collections::HashMap::new();
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        if !known.contains(&flag.as_str()) {
            return Err(format!("unknown option {flag:?}\n\n{USAGE}"));
        }
        let value = it
            .next()
            .ok_or_else(|| format!("option {flag} needs a value"))?;
        map.insert(flag.as_str(), value.as_str());
    }
    Ok(map)
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
