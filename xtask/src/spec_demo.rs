//! `cargo xtask demo --spec FILE`: the real `haul` binary runs a declarative
//! spec against the testkit's emulation of that spec's API (chosen by the
//! spec's `name`), pointed there with `--set base_url=…`; every stream's
//! table is then verified record for record against the dataset.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

use haul::Sink;
use haul_spec::{InputType, Spec};
use haul_testkit::{Dataset, Emulation, FakeApi};
use serde::Serialize;

#[derive(Debug, Serialize)]
struct Report {
    spec: String,
    emulation: String,
    dataset_records: usize,
    stored_records: usize,
    haul_exit_code: Option<i32>,
    elapsed_ms: u64,
    problems: Vec<String>,
    verified: bool,
}

pub(crate) fn run(args: &[String]) -> Result<ExitCode, String> {
    let (map, _) = crate::flags(
        args,
        &["--spec", "--records", "--out", "--report", "--seed"],
        &[],
    )?;
    let spec_path = PathBuf::from(map.get("--spec").ok_or("--spec needs a file")?);
    let records: usize = crate::number(&map, "--records", 3000)?;
    let seed: u64 = crate::number(&map, "--seed", 42)?;
    let spec = Spec::from_path(&spec_path).map_err(|e| e.to_string())?;
    let api = Emulation::from_name(spec.name()).ok_or_else(|| {
        format!(
            "no emulation of an API named {:?} (the spec's `name`); the testkit emulates: {}",
            spec.name(),
            Emulation::ALL
                .iter()
                .map(|a| a.name())
                .collect::<Vec<_>>()
                .join(", ")
        )
    })?;
    let out = map.get("--out").map_or_else(
        || PathBuf::from(format!("target/demo-spec-{}", spec.name())),
        PathBuf::from,
    );
    std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let db = out.join(format!("{}.db", spec.name()));
    let _ = std::fs::remove_file(&db);
    let haul = build_haul()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let report = runtime.block_on(async {
        let server = FakeApi::builder()
            .dataset(Dataset::generate(seed, records))
            .build()
            .start()
            .await
            .map_err(|e| format!("cannot start the fake API: {e}"))?;
        let base = server.url("/").as_str().trim_end_matches('/').to_owned();
        let mut cmd = Command::new(&haul);
        cmd.arg("run")
            .arg(&spec_path)
            .args(["--set", &format!("base_url={base}")])
            .arg("--sink")
            .arg(format!("sqlite:{}", db.display()))
            .arg("--report")
            .arg(out.join("haul-report.json"));
        // Demo credentials for every secret input (the emulation accepts any).
        for (_, kind, env) in spec.input_env_vars() {
            if kind == InputType::Secret {
                cmd.env(env, "demo-credential");
            }
        }
        println!(
            "$ haul run {} --set base_url={base} --sink sqlite:{}",
            spec_path.display(),
            db.display()
        );
        let started = Instant::now();
        let status = tokio::task::spawn_blocking(move || cmd.status())
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("cannot run {}: {e}", haul.display()))?;
        let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let expected: Vec<String> = server
            .dataset()
            .records()
            .iter()
            .map(|r| api.render(r))
            .collect();
        let sink = haul::SqliteSink::open(&db).map_err(|e| e.to_string())?;
        let mut problems = Vec::new();
        let mut stored_records = 0;
        for stream in spec.stream_names() {
            let stored = sink.records(stream).await.map_err(|e| e.to_string())?;
            stored_records += stored.len();
            problems.extend(
                crate::demo::verify_records(&stored, &expected)
                    .into_iter()
                    .map(|p| format!("{stream}: {p}")),
            );
        }
        sink.close().await.map_err(|e| e.to_string())?;
        server.shutdown().await;
        if !status.success() {
            problems.push(format!("haul exited with {status}"));
        }
        Ok::<_, String>(Report {
            spec: spec_path.display().to_string(),
            emulation: api.name().to_owned(),
            dataset_records: records,
            stored_records,
            haul_exit_code: status.code(),
            elapsed_ms,
            verified: problems.is_empty(),
            problems,
        })
    })?;
    let json = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
    if let Some(path) = map.get("--report") {
        std::fs::write(path, format!("{json}\n")).map_err(|e| format!("{path}: {e}"))?;
    }
    println!("{json}");
    println!("verified: {}", report.verified);
    Ok(if report.verified {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Builds the `haul` binary and returns its path.
fn build_haul() -> Result<PathBuf, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--quiet", "-p", "haul-cli", "--bin", "haul"])
        .status()
        .map_err(|e| format!("cannot build haul: {e}"))?;
    if !status.success() {
        return Err("building the haul binary failed".into());
    }
    let target = std::env::var("CARGO_TARGET_DIR").map_or_else(
        |_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"),
        PathBuf::from,
    );
    Ok(target
        .join("debug")
        .join(format!("haul{}", std::env::consts::EXE_SUFFIX)))
}
