//! The `haul` binary, end to end: broken specs, exit codes, `check`, secrets.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)]

mod broken_specs;
mod budget;
mod postgres;
mod run;
mod verbs;

use std::path::Path;
use std::process::{Command, Output};

/// Runs the built `haul` with `args` in `dir`, with extra environment.
pub(crate) fn haul(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_haul"));
    cmd.current_dir(dir).args(args).env_remove("HAUL_LOG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("haul runs")
}

/// The repository's `examples/specs/NAME.toml`.
pub(crate) fn example(name: &str) -> String {
    format!(
        "{}/../../examples/specs/{name}.toml",
        env!("CARGO_MANIFEST_DIR")
    )
}

pub(crate) fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
