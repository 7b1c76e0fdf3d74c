//! `cargo xtask bench`: haul against raw `reqwest` loops (and, with
//! `--peers`, dlt) on the same in-process fake API; see [`options::HELP`].
//!
//! `cargo xtask` builds in the dev profile, which says nothing about speed:
//! the task builds `xtask` in release and runs `target/release/xtask bench
//! --inner …`, which measures. The memory rows run `xtask bench --rss-child
//! …` as a child process.

mod cpu;
mod haul_runs;
mod machine;
mod memory;
mod null_sink;
mod options;
mod peers;
mod reference;
mod report;
mod sample;
mod servers;
mod sinks_alone;
mod suite;
mod svg;
mod targets;

use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::time::Instant;

use options::{HELP, Options};

/// The internal first argument of the measuring (release) process.
const INNER: &str = "--inner";

/// Runs the benchmark suite.
pub(crate) fn run(args: &[String]) -> Result<ExitCode, String> {
    match args.first().map(String::as_str) {
        Some(memory::CHILD) => memory::child(&args[1..]),
        Some(cpu::SERVE) => cpu::serve(&args[1..]),
        Some(cpu::CLIENT) => cpu::client(&args[1..]),
        Some(INNER) => suite::run(Options::parse(&args[1..], default_out()?)?),
        Some("-h" | "--help") => {
            print!("{HELP}");
            Ok(ExitCode::SUCCESS)
        }
        _ => {
            let options = Options::parse(args, default_out()?)?;
            if cfg!(debug_assertions) {
                relaunch(&options)
            } else {
                suite::run(options)
            }
        }
    }
}

/// `<target dir>/bench`, next to the profile directory of this executable.
fn default_out() -> Result<PathBuf, String> {
    Ok(target_dir()?.join("bench"))
}

fn target_dir() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this executable: {e}"))?;
    exe.parent()
        .and_then(|profile| profile.parent())
        .map(PathBuf::from)
        .ok_or_else(|| format!("unexpected executable path {}", exe.display()))
}

/// Builds `xtask` in release and runs the suite from there.
fn relaunch(options: &Options) -> Result<ExitCode, String> {
    let started = Instant::now();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    eprintln!("bench: building xtask in release (cargo build --release -p xtask)");
    let status = Command::new(&cargo)
        .args(["build", "--release", "--quiet", "-p", "xtask"])
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err(format!("the release build failed ({status})"));
    }
    eprintln!("bench: release build ready in {:.1?}", started.elapsed());
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this executable: {e}"))?;
    let name = exe.file_name().ok_or("this executable has no file name")?;
    let release = target_dir()?.join("release").join(name);
    let status = Command::new(&release)
        .arg("bench")
        .arg(INNER)
        .args(options.to_args())
        .status()
        .map_err(|e| format!("cannot run {}: {e}", release.display()))?;
    eprintln!(
        "bench: done in {:.1?} (release build included)",
        started.elapsed()
    );
    Ok(match status.code() {
        Some(0) => ExitCode::SUCCESS,
        Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        None => ExitCode::FAILURE,
    })
}
