//! What machine the run happened on (from `/proc` where available).

use std::time::SystemTime;

use super::report::Machine;

/// Describes this machine and the date; unknowns say so.
pub(crate) fn describe(quick: bool) -> Machine {
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
    let field = |text: &str, name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_once(':').or_else(|| l.split_once('=')))
            .map(|(_, v)| v.trim().trim_matches('"').to_owned())
    };
    let cpu = field(&read("/proc/cpuinfo"), "model name").unwrap_or_else(|| "unknown CPU".into());
    let memory_gib = field(&read("/proc/meminfo"), "MemTotal")
        .and_then(|v| v.trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kib| kib / (1024.0 * 1024.0));
    let distro =
        field(&read("/etc/os-release"), "PRETTY_NAME").unwrap_or_else(|| "unknown OS".into());
    let kernel = read("/proc/sys/kernel/osrelease").trim().to_owned();
    Machine {
        date: httpdate::fmt_http_date(SystemTime::now()),
        cpu,
        cores: std::thread::available_parallelism().map_or(0, usize::from),
        memory_gib,
        os: if kernel.is_empty() {
            distro
        } else {
            format!("{distro}, Linux {kernel}")
        },
        mode: if quick { "quick" } else { "full" },
    }
}
