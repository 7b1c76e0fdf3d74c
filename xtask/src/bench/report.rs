//! The report: rows, targets, markdown and JSON.

use serde::Serialize;

use super::sample::Samples;

/// One line of the results table.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Row {
    /// Which part of the suite (1–6).
    pub(crate) section: u8,
    pub(crate) name: String,
    pub(crate) records: u64,
    pub(crate) requests: u64,
    /// Seconds of the median run.
    pub(crate) seconds: f64,
    /// Records per second of the median run.
    pub(crate) records_per_sec: f64,
    /// Every repetition's records per second, in run order.
    pub(crate) runs: Vec<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) concurrency: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) requests_per_sec: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) over_limit_429: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) peak_rss_mib: Option<f64>,
    /// Client CPU time of the median run, in milliseconds (the CPU rows,
    /// whose server runs in another process).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) cpu_ms: Option<f64>,
    /// Latency-bound rows: records per second as a fraction of the ideal
    /// (K × records per page per request delay).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) of_ideal: Option<f64>,
    pub(crate) notes: String,
}

impl Row {
    /// A row from repetitions (the median is shown).
    pub(crate) fn from_samples(section: u8, name: impl Into<String>, samples: &Samples) -> Self {
        let median = samples.median();
        Self {
            section,
            name: name.into(),
            records: median.records,
            requests: median.requests,
            seconds: median.elapsed.as_secs_f64(),
            records_per_sec: median.rate(),
            runs: samples.rates(),
            concurrency: None,
            requests_per_sec: None,
            over_limit_429: None,
            peak_rss_mib: None,
            cpu_ms: None,
            of_ideal: None,
            notes: String::new(),
        }
    }

    pub(crate) fn note(mut self, notes: impl Into<String>) -> Self {
        self.notes = notes.into();
        self
    }

    pub(crate) fn k(mut self, k: usize) -> Self {
        self.concurrency = Some(k);
        self
    }

    /// Records the row's rate as a fraction of `ideal` records per second.
    pub(crate) fn ideal(mut self, ideal: f64) -> Self {
        self.of_ideal = (ideal > 0.0).then(|| self.records_per_sec / ideal);
        self
    }
}

/// A target: a ratio and whether it holds.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Target {
    pub(crate) name: String,
    /// The figures the ratio comes from.
    pub(crate) measured: String,
    pub(crate) ratio: f64,
    /// The bound, e.g. `≥ 1.00×`.
    pub(crate) required: String,
    pub(crate) pass: bool,
    /// Not measured because something it needs is missing (a service): shown
    /// as SKIPPED, with the reason in `measured`, rather than as a miss.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub(crate) skipped: bool,
}

impl Target {
    /// `ratio = value / base`, passing at `ratio >= min`.
    pub(crate) fn at_least(name: &str, measured: String, value: f64, base: f64, min: f64) -> Self {
        let ratio = ratio(value, base);
        Self {
            name: name.to_owned(),
            measured,
            ratio,
            required: format!("≥ {min:.2}×"),
            pass: ratio >= min,
            skipped: false,
        }
    }

    /// `ratio = value / base`, passing at `ratio <= max`.
    pub(crate) fn at_most(name: &str, measured: String, value: f64, base: f64, max: f64) -> Self {
        let ratio = ratio(value, base);
        Self {
            name: name.to_owned(),
            measured,
            ratio,
            required: format!("≤ {max:.2}×"),
            pass: ratio <= max,
            skipped: false,
        }
    }

    /// A target that could not be measured.
    pub(crate) fn not_measured(name: &str, why: String, required: &str) -> Self {
        Self {
            name: name.to_owned(),
            measured: why,
            ratio: f64::NAN,
            required: required.to_owned(),
            pass: false,
            skipped: false,
        }
    }

    /// A target skipped for `why` (a service it needs is unreachable).
    pub(crate) fn skipped(name: &str, why: String, required: &str) -> Self {
        Self {
            skipped: true,
            ..Self::not_measured(name, format!("skipped: {why}"), required)
        }
    }
}

fn ratio(value: f64, base: f64) -> f64 {
    if base > 0.0 { value / base } else { f64::NAN }
}

/// Where and when the run happened.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Machine {
    pub(crate) date: String,
    pub(crate) cpu: String,
    pub(crate) cores: usize,
    pub(crate) memory_gib: f64,
    pub(crate) os: String,
    pub(crate) mode: &'static str,
}

/// Everything the run found.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Report {
    pub(crate) machine: Machine,
    pub(crate) rows: Vec<Row>,
    pub(crate) targets: Vec<Target>,
    pub(crate) notes: Vec<String>,
}

const SECTIONS: [&str; 8] = [
    "reference: raw reqwest loops",
    "haul sequential, cursor",
    "concurrent offset pages, 20 ms per request",
    "peer",
    "memory (child process, SQLite)",
    "8 streams, one shared limiter",
    "client CPU per page, fake API in another process",
    "destinations alone: batches committed straight into PostgreSQL and SQLite",
];

impl Report {
    /// The markdown report (also what is printed).
    pub(crate) fn markdown(&self) -> String {
        let m = &self.machine;
        let mut out = format!(
            "# haul benchmark ({})\n\n{} · {} cores · {:.0} GiB · {} · {}\n\n",
            m.mode, m.cpu, m.cores, m.memory_gib, m.os, m.date
        );
        out.push_str("| # | run | records | requests | time | client CPU | records/s | notes |\n");
        out.push_str("|---|---|---:|---:|---:|---:|---:|---|\n");
        for row in &self.rows {
            let rate = match (row.requests_per_sec, row.peak_rss_mib) {
                (Some(rps), _) => format!("{} req/s", thousands(rps)),
                _ => thousands(row.records_per_sec),
            };
            let mut notes = row.notes.clone();
            if let Some(mib) = row.peak_rss_mib {
                notes = format!("**peak RSS {mib:.1} MiB**; {notes}");
            }
            if let Some(n) = row.over_limit_429 {
                notes = format!("{n} over-limit 429s; {notes}");
            }
            out.push_str(&format!(
                "| {} | {} | {} | {} | {:.2} s | {} | {} | {} |\n",
                row.section,
                row.name,
                thousands(row.records as f64),
                thousands(row.requests as f64),
                row.seconds,
                row.cpu_ms
                    .map_or_else(|| "–".to_owned(), |ms| format!("{ms:.0} ms")),
                rate,
                notes.trim_end_matches("; ")
            ));
        }
        out.push_str("\nSections: ");
        let legend: Vec<String> = SECTIONS
            .iter()
            .enumerate()
            .map(|(i, s)| format!("{} {s}", i + 1))
            .collect();
        out.push_str(&legend.join(" · "));
        out.push_str(".\n\n## Targets\n\n");
        out.push_str("| target | measured | ratio | required | result |\n");
        out.push_str("|---|---|---:|---:|---|\n");
        for t in &self.targets {
            let ratio = if t.ratio.is_finite() {
                format!("{:.2}×", t.ratio)
            } else {
                "–".to_owned()
            };
            out.push_str(&format!(
                "| {} | {} | {ratio} | {} | {} |\n",
                t.name,
                t.measured,
                t.required,
                if t.skipped {
                    "SKIPPED"
                } else if t.pass {
                    "PASS"
                } else {
                    "**MISS**"
                }
            ));
        }
        if !self.notes.is_empty() {
            out.push_str("\nNotes:\n\n");
            for note in &self.notes {
                out.push_str(&format!("- {note}\n"));
            }
        }
        out
    }
}

/// `1234567.8` → `1,234,568`.
pub(crate) fn thousands(value: f64) -> String {
    if !value.is_finite() {
        return "–".to_owned();
    }
    let digits = format!("{:.0}", value.abs());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if value < 0.0 && digits != "0" {
        out.insert(0, '-');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0.0), "0");
        assert_eq!(thousands(999.4), "999");
        assert_eq!(thousands(1000.0), "1,000");
        assert_eq!(thousands(1234567.8), "1,234,568");
        assert_eq!(thousands(f64::NAN), "–");
    }

    #[test]
    fn targets_compare_ratios() {
        assert!(Target::at_least("t", String::new(), 2.0, 1.0, 1.0).pass);
        assert!(!Target::at_least("t", String::new(), 0.5, 1.0, 1.0).pass);
        assert!(Target::at_most("t", String::new(), 1.2, 1.0, 1.3).pass);
        assert!(!Target::at_least("t", String::new(), 1.0, 0.0, 1.0).pass);
    }
}
