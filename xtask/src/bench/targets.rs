//! The targets of issue 7, each a ratio with PASS or MISS.

use super::memory::RssReport;
use super::options::{CONNECTOR_IN_FLIGHT, CONNECTOR_PAGES, STREAM_RATE, STREAMS, TARGET_K};
use super::peers::Peer;
use super::report::{Target, thousands};

/// A limiter's name, the share of the rate it must reach, and its aggregate
/// request rate and over-limit 429s.
type StreamsResult = (&'static str, f64, Result<(f64, u64), String>);

/// What the targets are computed from.
#[derive(Debug, Default)]
pub(crate) struct Found {
    /// The typed (`RawValue`) raw loop: the reference of a sequential client.
    pub(crate) raw_seq: f64,
    /// The raw loop building a `serde_json::Value` per page (context only).
    pub(crate) raw_value_tree: f64,
    pub(crate) haul_null: f64,
    /// haul into `JsonLinesSink` and `SqliteSink`, same run and records.
    pub(crate) haul_jsonl: f64,
    pub(crate) haul_sqlite: f64,
    /// The client CPU rows (server in another process), per runtime.
    pub(crate) cpu: Option<Result<Vec<super::cpu::CpuFound>, String>>,
    /// haul into the null sink behind `HeaderAdaptive` + `AdaptiveRate`
    /// (never throttled here: the cost of carrying it).
    pub(crate) haul_adaptive_rate: f64,
    /// The typed (`RawValue`) `buffer_unordered(K)` loop, per K.
    pub(crate) raw_k: Vec<(usize, f64)>,
    pub(crate) haul_k: Vec<(usize, f64)>,
    pub(crate) streams: Vec<StreamsResult>,
    pub(crate) rss: Vec<(usize, Result<RssReport, String>)>,
    pub(crate) dlt: Option<Peer>,
    /// The connector rows: partitions, and pages/s sequential and with
    /// `CONNECTOR_IN_FLIGHT` in flight.
    pub(crate) connector: Option<Result<(usize, f64, f64), String>>,
    /// The destinations alone (section 8): PostgreSQL and SQLite.
    pub(crate) sinks_alone: Option<super::sinks_alone::SinksFound>,
}

/// Every target from what the run found; a skipped peer also adds a note.
pub(crate) fn targets(found: &Found, notes: &mut Vec<String>) -> Vec<Target> {
    let mut targets = Vec::new();
    // Sections not run (`--only`) leave their figures at zero: no target.
    if found.raw_seq > 0.0 {
        sequential_targets(found, &mut targets);
    }
    cpu_targets(found, &mut targets);
    if !found.haul_k.is_empty() {
        latency_targets(found, &mut targets);
    }
    connector_target(found, &mut targets);
    streams_targets(found, &mut targets);
    if !found.rss.is_empty() {
        rss_targets(found, &mut targets);
    }
    dlt_target(found, notes, &mut targets);
    sinks_alone_target(found, &mut targets);
    targets
}

/// haul sequential against the raw loop, the sinks against the null sink,
/// and the cost of `AdaptiveRate`.
fn sequential_targets(found: &Found, targets: &mut Vec<Target>) {
    targets.push(Target::at_least(
        "haul sequential (null sink) vs the raw reqwest RawValue loop",
        format!(
            "{} vs {} records/s",
            thousands(found.haul_null),
            thousands(found.raw_seq)
        ),
        found.haul_null,
        found.raw_seq,
        1.0,
    ));
    for (sink, rate, min) in [
        ("SqliteSink", found.haul_sqlite, 0.6),
        ("JsonLinesSink", found.haul_jsonl, 0.8),
    ] {
        targets.push(Target::at_least(
            &format!("haul sequential into {sink} vs into the null sink, same run and records"),
            format!(
                "{} vs {} records/s",
                thousands(rate),
                thousands(found.haul_null)
            ),
            rate,
            found.haul_null,
            min,
        ));
    }
    targets.push(Target::at_least(
        "AdaptiveRate costs ≤ 2 % against an unthrottled server (HeaderAdaptive + AdaptiveRate vs HeaderAdaptive, null sink)",
        format!(
            "{} vs {} records/s",
            thousands(found.haul_adaptive_rate),
            thousands(found.haul_null)
        ),
        found.haul_adaptive_rate,
        found.haul_null,
        0.98,
    ));
}

/// K=32 against sequential and against the raw `buffer_unordered(32)` loop.
fn latency_targets(found: &Found, targets: &mut Vec<Target>) {
    let at = |list: &[(usize, f64)], k: usize| {
        list.iter()
            .find(|(kk, _)| *kk == k)
            .map_or(0.0, |(_, r)| *r)
    };
    let (haul32, haul1, raw32) = (
        at(&found.haul_k, TARGET_K),
        at(&found.haul_k, 1),
        at(&found.raw_k, TARGET_K),
    );
    targets.push(Target::at_least(
        "haul K=32 vs haul sequential, both at 20 ms",
        format!("{} vs {} records/s", thousands(haul32), thousands(haul1)),
        haul32,
        haul1,
        20.0,
    ));
    targets.push(Target::at_least(
        "haul K=32 vs raw RawValue buffer_unordered(32), at 20 ms",
        format!("{} vs {} records/s", thousands(haul32), thousands(raw32)),
        haul32,
        raw32,
        1.0,
    ));
}

/// The connector's partitions, in flight against sequential.
fn connector_target(found: &Found, targets: &mut Vec<Target>) {
    let title = |partitions: usize| {
        format!(
            "connector, {partitions} partitions × {CONNECTOR_PAGES} pages at 20 ms: {CONNECTOR_IN_FLIGHT} in flight vs sequential"
        )
    };
    match &found.connector {
        Some(Ok((partitions, sequential, parallel))) => targets.push(Target::at_least(
            &title(*partitions),
            format!(
                "{} vs {} pages/s",
                format_rate(*parallel),
                format_rate(*sequential)
            ),
            *parallel,
            *sequential,
            12.0,
        )),
        Some(Err(e)) => targets.push(Target::not_measured(&title(0), e.clone(), "≥ 12.00×")),
        None => {}
    }
}

/// Eight streams sharing one limiter, per limiter.
fn streams_targets(found: &Found, targets: &mut Vec<Target>) {
    for (name, required, result) in &found.streams {
        let slack = ((1.0 - required) * 100.0).round();
        let title = format!(
            "{STREAMS} streams, one {name}: within {slack} % of {STREAM_RATE}/s, no over-limit 429"
        );
        let range = format!("{required:.2}–1.02×, 0 × 429");
        targets.push(match result {
            Ok((rate, over)) => {
                let ratio = rate / f64::from(STREAM_RATE);
                Target {
                    name: title,
                    measured: format!("{} req/s, {over} over-limit 429s", format_rate(*rate)),
                    ratio,
                    required: range,
                    pass: ratio >= *required && ratio <= 1.02 && *over == 0,
                    skipped: false,
                }
            }
            Err(e) => Target::not_measured(&title, e.clone(), &range),
        });
    }
}

/// Peak RSS at 1,000,000 records, absolute and against 100,000.
fn rss_targets(found: &Found, targets: &mut Vec<Target>) {
    let rss = |n: usize| {
        found
            .rss
            .iter()
            .find(|(r, _)| *r == n)
            .and_then(|(_, r)| r.as_ref().ok())
            .map(RssReport::peak_mib)
    };
    match (rss(1_000_000), rss(100_000)) {
        (Some(big), small) => {
            targets.push(Target::at_most(
                "peak RSS extracting 1,000,000 records into SQLite vs 64 MiB",
                format!("{big:.1} MiB"),
                big,
                64.0,
                1.0,
            ));
            match small {
                Some(small) => targets.push(Target::at_most(
                    "peak RSS at 1,000,000 vs at 100,000 records",
                    format!("{big:.1} vs {small:.1} MiB"),
                    big,
                    small,
                    1.3,
                )),
                None => targets.push(Target::not_measured(
                    "peak RSS at 1,000,000 vs at 100,000 records",
                    "the 100,000-record child failed".into(),
                    "≤ 1.30×",
                )),
            }
        }
        (None, _) => {
            let why = found
                .rss
                .iter()
                .find_map(|(_, r)| r.as_ref().err().cloned())
                .unwrap_or_else(|| "not run".into());
            targets.push(Target::not_measured(
                "peak RSS extracting 1,000,000 records into SQLite vs 64 MiB",
                why,
                "≤ 1.00×",
            ));
        }
    }
}

/// haul against dlt, when the peer was asked for.
fn dlt_target(found: &Found, notes: &mut Vec<String>, targets: &mut Vec<Target>) {
    match &found.dlt {
        Some(Peer::Measured { samples, .. }) => {
            let dlt = samples.median().rate();
            notes.push(format!(
                "For scale: the raw RawValue loop (section 1) drains {} records/s, {:.1}× dlt \
                 (the Value-tree loop {} records/s); haul's overhead over it is what the dlt \
                 target hinges on.",
                thousands(found.raw_seq),
                found.raw_seq / dlt.max(1e-9),
                thousands(found.raw_value_tree)
            ));
            targets.push(Target::at_least(
                "haul sequential (null sink) vs dlt RESTClient.paginate",
                format!(
                    "{} vs {} records/s",
                    thousands(found.haul_null),
                    thousands(dlt)
                ),
                found.haul_null,
                dlt,
                10.0,
            ));
        }
        Some(Peer::Skipped(why)) => {
            notes.push(format!("dlt skipped: {why}"));
            targets.push(Target::not_measured(
                "haul sequential (null sink) vs dlt RESTClient.paginate",
                format!("skipped: {why}"),
                "≥ 10.00×",
            ));
        }
        None => {}
    }
}

/// Client CPU of haul (null sink) against the raw `RawValue` loop, per runtime.
fn cpu_targets(found: &Found, targets: &mut Vec<Target>) {
    use super::cpu::Flavor;
    let limits = [(Flavor::CurrentThread, 1.2), (Flavor::MultiThread, 1.5)];
    for (flavor, max) in limits {
        let title = format!(
            "client CPU, haul sequential (null sink) vs the raw RawValue loop, {}",
            flavor.label()
        );
        match &found.cpu {
            Some(Ok(list)) => {
                if let Some(c) = list.iter().find(|c| c.flavor == flavor) {
                    targets.push(Target::at_most(
                        &title,
                        format!(
                            "{:.0} vs {:.0} ms CPU (wall {:.0} vs {:.0} ms)",
                            c.haul_cpu.as_secs_f64() * 1e3,
                            c.raw_cpu.as_secs_f64() * 1e3,
                            c.haul_wall.as_secs_f64() * 1e3,
                            c.raw_wall.as_secs_f64() * 1e3
                        ),
                        c.haul_cpu.as_secs_f64(),
                        c.raw_cpu.as_secs_f64(),
                        max,
                    ));
                }
            }
            Some(Err(e)) => {
                targets.push(Target::not_measured(
                    &title,
                    e.clone(),
                    &format!("≤ {max:.2}×"),
                ));
            }
            None => {}
        }
    }
}

/// PostgresSink's new rows against its absolute target, SQLite's figure
/// beside it; skipped (with the reason) when PostgreSQL is unreachable.
fn sinks_alone_target(found: &Found, targets: &mut Vec<Target>) {
    use super::sinks_alone::{BATCH, PG_TARGET};
    let Some(sinks) = &found.sinks_alone else {
        return;
    };
    let title = format!(
        "PostgresSink, new rows, vs {} records/s ({} demo records, batches of {}; SqliteSink beside it)",
        thousands(PG_TARGET),
        thousands(sinks.records as f64),
        thousands(BATCH as f64)
    );
    let lite = match &sinks.sqlite {
        Ok(rate) => format!("SqliteSink {} records/s", thousands(*rate)),
        Err(e) => format!("SqliteSink failed: {e}"),
    };
    targets.push(match &sinks.postgres {
        Ok(rate) => Target::at_least(
            &title,
            format!(
                "PostgresSink {} records/s; {lite} (PostgreSQL {:.2}× SQLite)",
                thousands(*rate),
                match &sinks.sqlite {
                    Ok(l) if *l > 0.0 => rate / l,
                    _ => f64::NAN,
                }
            ),
            *rate,
            PG_TARGET,
            1.0,
        ),
        Err(why) => Target::skipped(&title, format!("{why}; {lite}"), "≥ 1.00×"),
    });
}

/// Requests per second with one decimal.
pub(crate) fn format_rate(rate: f64) -> String {
    format!("{rate:.1}")
}
