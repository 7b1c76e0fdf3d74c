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
    let (map, switches) = crate::flags(
        args,
        &["--spec", "--records", "--out", "--report", "--seed"],
        &["--bench"],
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
    if switches.contains(&"--bench") {
        return runtime.block_on(bench(&haul, &spec_path, &spec, records, seed, &out));
    }
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

/// Builds the `haul` binary with xtask's own profile (a release xtask, as
/// `--bench` wants, compares with a release `haul`) and returns its path.
fn build_haul() -> Result<PathBuf, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let release = !cfg!(debug_assertions);
    let mut args = vec!["build", "--quiet", "-p", "haul-cli", "--bin", "haul"];
    if release {
        args.push("--release");
    }
    let status = Command::new(cargo)
        .args(&args)
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
        .join(if release { "release" } else { "debug" })
        .join(format!("haul{}", std::env::consts::EXE_SUFFIX)))
}

/// `--bench` (GitHub spec only): the same extraction written against the
/// library, in process, then `haul run` of the spec through the binary, on
/// one server and dataset; each three times, alternating, the fastest of
/// each kept. Run it from a release build (`cargo run --release -p xtask --
/// demo --spec examples/specs/github.toml --bench`): a debug build times
/// unoptimised code on both sides.
async fn bench(
    haul: &Path,
    spec_path: &Path,
    spec: &Spec,
    records: usize,
    seed: u64,
    out: &Path,
) -> Result<ExitCode, String> {
    use haul::{
        Connector, ExponentialBackoff, HeaderAdaptive, Incremental, LinkHeaderPaginator, Partition,
        Partitions, RequestTemplate, StreamDef,
    };
    if spec.name() != "github" {
        return Err("--bench compares the GitHub spec with its library equivalent: use examples/specs/github.toml".into());
    }
    let server = FakeApi::builder()
        .dataset(Dataset::generate(seed, records))
        .build()
        .start()
        .await
        .map_err(|e| format!("cannot start the fake API: {e}"))?;
    let base = server.url("/").as_str().trim_end_matches('/').to_owned();
    let mut library_ms = u64::MAX;
    let mut binary_ms = u64::MAX;
    for round in 0..3 {
        // The library: what examples/specs/github.toml says, in Rust.
        let db = out.join(format!("bench-library-{round}.db"));
        let _ = std::fs::remove_file(&db);
        let started = Instant::now();
        let connector = Connector::builder("github")
            .auth(haul::Bearer(haul::Secret::new("demo-credential")))
            .max_in_flight(4)
            .retry(
                ExponentialBackoff::default()
                    .max_attempts(6)
                    .cap(std::time::Duration::from_secs(60))
                    .max_retry_after(std::time::Duration::from_secs(900)),
            )
            .rate_limiter(HeaderAdaptive::new())
            .stream(
                StreamDef::new(
                    "issues",
                    RequestTemplate::get(format!("{base}/repos/{{owner}}/{{repo}}/issues"))
                        .query("state", "all")
                        .header("Accept", "application/vnd.github+json")
                        .header("X-GitHub-Api-Version", "2022-11-28"),
                    LinkHeaderPaginator::new().page_size("per_page", 100),
                )
                .partitions(Partitions::list([Partition::new([
                    ("owner", "haul-rs"),
                    ("repo", "haul"),
                ])]))
                .incremental(
                    Incremental::new("/updated_at", "since")
                        .lookback(std::time::Duration::from_secs(300)),
                ),
            )
            .build()
            .map_err(|e| e.to_string())?;
        let sink = haul::SqliteSink::open(&db)
            .map_err(|e| e.to_string())?
            .stream(haul::StreamConfig::new("issues").primary_key(["/id"]));
        let summary = connector.run(&sink).await.map_err(|e| e.to_string())?;
        sink.close().await.map_err(|e| e.to_string())?;
        library_ms =
            library_ms.min(u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX));
        if summary.records != records as u64 {
            return Err(format!("library run stored {} records", summary.records));
        }
        // The binary, same spec, same server.
        let db = out.join(format!("bench-binary-{round}.db"));
        let _ = std::fs::remove_file(&db);
        let mut cmd = Command::new(haul);
        cmd.arg("run")
            .arg(spec_path)
            .args(["--set", &format!("base_url={base}")])
            .arg("--sink")
            .arg(format!("sqlite:{}", db.display()))
            .env("GITHUB_TOKEN", "demo-credential")
            .env("HAUL_LOG", "warn")
            .stdout(std::process::Stdio::null());
        let started = Instant::now();
        let status = tokio::task::spawn_blocking(move || cmd.status())
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        binary_ms = binary_ms.min(u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX));
        if !status.success() {
            return Err(format!("haul run exited with {status}"));
        }
    }
    server.shutdown().await;
    let ratio = binary_ms as f64 / library_ms.max(1) as f64;
    println!(
        "spec-vs-library  records={records}  library={library_ms} ms  haul run={binary_ms} ms  ratio={ratio:.3}  target<=1.05  {}",
        if ratio <= 1.05 { "PASS" } else { "MISS" }
    );
    Ok(ExitCode::SUCCESS)
}
