//! `cargo xtask bench` (being written).

use std::process::ExitCode;

/// Runs the benchmark suite.
pub(crate) fn run(_args: &[String]) -> Result<ExitCode, String> {
    Err("bench is not written yet".into())
}
