//! `cargo xtask demo --workers N`: the connector demo's connector run by N
//! worker *processes* (this binary re-run as children) sharing a
//! PostgreSQL work queue and destination and one Redis rate budget, against
//! the testkit API behind a strict fixed-window rate limit. One worker is
//! `SIGKILL`ed half-way while it holds leases; the others reclaim its
//! partitions once the leases expire, and the destination is verified
//! record for record (every stream append-only, so a double write would
//! show as a duplicate row).

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use haul::postgres::tokio_postgres::{self, Client, NoTls};
use haul::postgres::{Leases, PostgresSink, PostgresWorkQueue};
use haul::{Event, Observer, StreamConfig, WorkerOptions};
use haul_testkit::{FakeApi, OrgTree, RateLimit, TreeShape};
use serde::Serialize;
use serde_json::Value;

use super::connector::{self, STREAMS};

/// The schema the demo writes (dropped and recreated at every run).
const SCHEMA: &str = "haul_demo_workers";
/// The lease TTL: short, so a killed worker's partitions come back soon.
const LEASE_TTL: Duration = Duration::from_secs(2);
/// The API's quota, per second, and the shared budget's.
const QUOTA: u32 = 100;
const PAGE_SIZE: u64 = 50;
/// Requests in flight per worker.
const IN_FLIGHT: usize = 2;

fn postgres_config() -> String {
    std::env::var("HAUL_POSTGRES")
        .unwrap_or_else(|_| "host=127.0.0.1 port=5432 user=postgres dbname=test".to_owned())
}

fn redis_url() -> String {
    std::env::var("HAUL_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// The demo's options.
struct WorkersOptions {
    workers: usize,
    seed: u64,
    report: Option<PathBuf>,
}

fn parse(args: &[String]) -> Result<WorkersOptions, String> {
    let (map, _) = crate::flags(args, &["--workers", "--seed", "--report"], &[])?;
    let workers: usize = crate::number(&map, "--workers", 4)?;
    if workers < 2 {
        return Err("--workers needs at least 2: one is killed, the others finish".into());
    }
    Ok(WorkersOptions {
        workers,
        seed: crate::number(&map, "--seed", 42)?,
        report: map.get("--report").map(PathBuf::from),
    })
}

/// Runs the demo (the parent).
pub(crate) fn run(args: &[String]) -> Result<ExitCode, String> {
    let options = parse(args)?;
    crate::init_tracing();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?
        .block_on(demo(options))
}

async fn connect_postgres() -> Result<Client, String> {
    let text = postgres_config();
    let mut config: tokio_postgres::Config = text
        .parse()
        .map_err(|e| format!("HAUL_POSTGRES {text:?} is not a connection string: {e}"))?;
    config.connect_timeout(Duration::from_secs(3));
    let (client, connection) = config.connect(NoTls).await.map_err(|e| {
        format!(
            "the workers demo needs PostgreSQL ({text}; set HAUL_POSTGRES): cannot connect: {e}"
        )
    })?;
    tokio::spawn(connection);
    Ok(client)
}

/// Fails clearly when Redis does not answer (the children connect for real).
fn check_redis(url: &str) -> Result<(), String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("HAUL_REDIS_URL {url:?}: {e}"))?;
    let host = parsed.host_str().unwrap_or("127.0.0.1");
    let port = parsed.port().unwrap_or(6379);
    let unreachable = |e: &dyn std::fmt::Display| {
        format!("the workers demo needs Redis ({url}; set HAUL_REDIS_URL): cannot connect: {e}")
    };
    let addr = std::net::ToSocketAddrs::to_socket_addrs(&(host, port))
        .map_err(|e| unreachable(&e))?
        .next()
        .ok_or_else(|| unreachable(&"no address"))?;
    let mut stream = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(3))
        .map_err(|e| unreachable(&e))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(3)))
        .map_err(|e| unreachable(&e))?;
    stream.write_all(b"PING\r\n").map_err(|e| unreachable(&e))?;
    let mut line = String::new();
    BufReader::new(stream)
        .read_line(&mut line)
        .map_err(|e| unreachable(&e))?;
    if line.starts_with("+PONG") {
        Ok(())
    } else {
        Err(unreachable(&format!("PING answered {line:?}")))
    }
}

/// Pages the tree's partitions take at `PAGE_SIZE` (an empty one takes one request).
fn expected_pages(tree: &OrgTree) -> u64 {
    let pages = |n: usize| (n as u64).div_ceil(PAGE_SIZE).max(1);
    let mut total = pages(tree.orgs().len());
    for org in tree.orgs() {
        total += pages(org.repos().len());
        total += org
            .repos()
            .iter()
            .map(|r| pages(r.events().len()))
            .sum::<u64>();
    }
    total + 12 * pages(tree.audit_log().len() / 12)
}

#[derive(Debug, Default, Serialize)]
struct WorkerReport {
    killed: bool,
    /// Pages it fetched (printed as it went; a killed worker's last pages
    /// were never committed).
    pages: u64,
    /// From its summary (none for the killed worker).
    partitions_completed: Option<u64>,
    claimed: Option<u64>,
    reclaimed: Option<u64>,
    failed: Option<u64>,
    lost: Option<u64>,
    commits_fenced: Option<u64>,
}

#[derive(Debug, Serialize)]
struct StreamCheck {
    stored_rows: usize,
    expected_records: usize,
    duplicates: usize,
    missing: usize,
    verified: bool,
}

#[derive(Debug, Serialize)]
struct Report {
    verified: bool,
    workers: usize,
    workers_killed: u64,
    killed_worker: String,
    killed_at_page: u64,
    expected_pages: u64,
    leases_held_at_kill: u64,
    /// Partitions taken over at epoch + 1 after the killed worker's leases expired.
    partitions_reclaimed: u64,
    records: u64,
    records_expected: u64,
    partitions: u64,
    partitions_done: u64,
    /// The deleted repository's events answer 404: failed after its attempts, expected.
    partitions_failed: Vec<String>,
    server_requests: u64,
    server_429s_over_limit: u64,
    rate_limit_per_s: u32,
    lease_ttl_ms: u64,
    elapsed_ms: u64,
    per_worker: BTreeMap<String, WorkerReport>,
    streams: BTreeMap<String, StreamCheck>,
    schema: &'static str,
    /// How the workers shared the API's quota.
    pacing: String,
    redis_prefix: String,
    seed: u64,
    problems: Vec<String>,
}

struct Running {
    name: String,
    child: Child,
}

async fn demo(options: WorkersOptions) -> Result<ExitCode, String> {
    let redis = redis_url();
    check_redis(&redis)?;
    let admin = connect_postgres().await?;
    admin
        .batch_execute(&format!("DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        .await
        .map_err(|e| format!("cannot drop schema {SCHEMA}: {e}"))?;
    let prefix = format!("haul:demo-workers:{}:", std::process::id());

    let tree = OrgTree::generate(options.seed, &TreeShape::default());
    let expected = connector::expected(&tree)?;
    let total_pages = expected_pages(&tree);
    let server = FakeApi::builder()
        .org_tree(tree.clone())
        .default_page_size(30)
        .max_page_size(1000)
        .rate_limit(RateLimit::new(QUOTA, Duration::from_secs(1)))
        .build()
        .start()
        .await
        .map_err(|e| format!("cannot start the fake API: {e}"))?;
    let url = server.url("/").to_string();
    eprintln!(
        "haul demo --workers {}: {} orgs, {} repos, {} events, {} audit entries (seed {}), about {total_pages} pages of {PAGE_SIZE}; \
         API limit {QUOTA} requests per 1 s fixed window; pacing: {}; PostgreSQL schema {SCHEMA}, lease TTL {LEASE_TTL:?}",
        options.workers,
        tree.orgs().len(),
        expected["repos"].len(),
        expected["events"].len(),
        tree.audit_log().len(),
        options.seed,
        pacing(&redis, &prefix),
    );

    let exe = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;
    let started = Instant::now();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(usize, Option<String>)>();
    let mut running = Vec::new();
    for i in 0..options.workers {
        let name = format!("worker-{}", i + 1);
        let mut command = Command::new(&exe);
        if std::env::var_os("HAUL_LOG").is_none() {
            // The parent reports what matters; the workers' 404 and
            // reclaim warnings would drown it (HAUL_LOG=warn shows them).
            command.env("HAUL_LOG", "error");
        }
        let mut child = command
            .args(["demo", "--worker-child", "--url", &url, "--schema", SCHEMA])
            .args(["--owner", &name, "--redis", &redis, "--prefix", &prefix])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start worker {name}: {e}"))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| format!("no stdout for {name}"))?;
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send((i, Some(line)));
            }
            let _ = tx.send((i, None));
        });
        running.push(Running { name, child });
    }
    drop(tx);

    let mut per_worker: BTreeMap<String, WorkerReport> = running
        .iter()
        .map(|r| (r.name.clone(), WorkerReport::default()))
        .collect();
    let mut summaries: HashMap<usize, Value> = HashMap::new();
    let mut problems = Vec::new();
    let mut pages = 0u64;
    let mut killed: Option<(usize, u64)> = None;
    let mut held: BTreeMap<String, i64> = BTreeMap::new();
    let mut open = options.workers;
    let deadline = Duration::from_secs(120);
    while open > 0 {
        let Ok(message) = tokio::time::timeout(deadline, rx.recv()).await else {
            problems.push(format!("the workers did not finish within {deadline:?}"));
            break;
        };
        let Some((i, line)) = message else { break };
        let Some(line) = line else {
            open -= 1;
            continue;
        };
        let name = running[i].name.clone();
        if line.starts_with("page ") {
            pages += 1;
            if let Some(w) = per_worker.get_mut(&name) {
                w.pages += 1;
            }
            if killed.is_none() && pages >= total_pages / 2 {
                // It just fetched a page of a partition it holds: kill -9.
                let _ = running[i].child.kill();
                let _ = running[i].child.wait();
                killed = Some((i, pages));
                if let Some(w) = per_worker.get_mut(&name) {
                    w.killed = true;
                }
                held = leases_held(&admin, &name).await?;
                println!(
                    "killed {name} with SIGKILL at page {pages} of about {total_pages}, holding {} leases",
                    held.len()
                );
            }
        } else if let Some(json) = line.strip_prefix("done ") {
            match serde_json::from_str::<Value>(json) {
                Ok(summary) => {
                    let n = |field: &str| summary[field].as_u64().unwrap_or(0);
                    println!(
                        "{name}: claimed {} ({} reclaimed), completed {}, failed {}, lost {}, commits fenced {}; {} pages",
                        n("claimed"),
                        n("reclaimed"),
                        n("completed"),
                        n("failed"),
                        n("lost"),
                        n("commits_fenced"),
                        summary["run"]["pages"].as_u64().unwrap_or(0)
                    );
                    summaries.insert(i, summary);
                }
                Err(e) => problems.push(format!("{name} printed an unreadable summary: {e}")),
            }
        }
    }
    for (i, r) in running.iter_mut().enumerate() {
        if killed.is_some_and(|(k, _)| k == i) {
            continue;
        }
        match r.child.wait() {
            Ok(status) if status.success() => {}
            Ok(status) => problems.push(format!("{} exited with {status}", r.name)),
            Err(e) => problems.push(format!("cannot wait for {}: {e}", r.name)),
        }
    }
    let elapsed = started.elapsed();
    let Some((killed_index, killed_at_page)) = killed else {
        return Err("the workers finished before half of the pages: nothing was killed".into());
    };
    let killed_worker = running[killed_index].name.clone();
    let leases_held_at_kill = held.len() as u64;
    if leases_held_at_kill == 0 {
        problems.push(format!("{killed_worker} held no lease when it was killed"));
    }
    for (i, summary) in &summaries {
        if let Some(w) = per_worker.get_mut(&running[*i].name) {
            let n = |field: &str| summary[field].as_u64();
            w.partitions_completed = n("completed");
            w.claimed = n("claimed");
            w.reclaimed = n("reclaimed");
            w.failed = n("failed");
            w.lost = n("lost");
            w.commits_fenced = n("commits_fenced");
        }
    }
    let partitions_reclaimed: u64 = summaries
        .values()
        .filter_map(|s| s["reclaimed"].as_u64())
        .sum();
    if summaries.len() + 1 != options.workers {
        problems.push(format!(
            "{} of the {} surviving workers printed a summary",
            summaries.len(),
            options.workers - 1
        ));
    }
    if partitions_reclaimed == 0 {
        problems.push("no partition of the killed worker was reclaimed".into());
    }

    // The destination, record for record.
    let mut streams = BTreeMap::new();
    let (mut records, mut records_expected) = (0u64, 0u64);
    for stream in STREAMS {
        let stored = tagged(&admin, stream).await?;
        let check = compare(stream, &stored, &expected[stream], &mut problems);
        records += stored.len() as u64;
        records_expected += expected[stream].len() as u64;
        streams.insert(stream.to_owned(), check);
    }
    let states = partition_states(&admin).await?;
    let must_fail: Vec<String> = connector::expected_failures(&tree)
        .into_iter()
        .map(|(s, p)| format!("{s}[{p}]"))
        .collect();
    let mut failed = Vec::new();
    let mut done = 0u64;
    for (key, epoch) in &held {
        match states.get(key) {
            Some((state, now)) if state == "done" && *now != epoch + 1 => problems.push(format!(
                "{key}: held at epoch {epoch} when its worker was killed, done at epoch {now}"
            )),
            Some(_) => {}
            None => problems.push(format!("{key} vanished from the queue")),
        }
    }
    for (key, (state, _)) in &states {
        match state.as_str() {
            "done" => done += 1,
            "failed" => {
                failed.push(key.clone());
                if !must_fail.contains(key) {
                    problems.push(format!("{key} failed unexpectedly"));
                }
            }
            other => problems.push(format!("{key} is left {other}")),
        }
    }
    let partitions_expected: u64 = connector::expected_partitions(&tree).values().sum();
    if states.len() as u64 != partitions_expected {
        problems.push(format!(
            "{} partitions in the queue, the tree defines {partitions_expected}",
            states.len()
        ));
    }
    let stats = server.stats();
    if stats.over_limit_429 > 0 {
        problems.push(format!(
            "the API answered {} requests over its limit",
            stats.over_limit_429
        ));
    }
    let verified = problems.is_empty();
    if verified {
        println!(
            "verified: schema {SCHEMA} holds every record of every stream exactly once, tagged with its partition \
             ({records} records in {} partitions; {} done, {} failed as expected); {partitions_reclaimed} partitions \
             of {killed_worker} reclaimed at epoch + 1 after their leases expired; {} requests, 0 over the API's limit; {:.2?}",
            states.len(),
            done,
            failed.len(),
            stats.requests,
            elapsed
        );
    } else {
        println!("VERIFICATION FAILED ({} problems):", problems.len());
        for p in problems.iter().take(20) {
            println!("  {p}");
        }
    }
    if let Some(path) = &options.report {
        let report = Report {
            verified,
            workers: options.workers,
            workers_killed: 1,
            killed_worker,
            killed_at_page,
            expected_pages: total_pages,
            leases_held_at_kill,
            partitions_reclaimed,
            records,
            records_expected,
            partitions: states.len() as u64,
            partitions_done: done,
            partitions_failed: failed,
            server_requests: stats.requests,
            server_429s_over_limit: stats.over_limit_429,
            rate_limit_per_s: QUOTA,
            lease_ttl_ms: u64::try_from(LEASE_TTL.as_millis()).unwrap_or(u64::MAX),
            elapsed_ms: u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
            per_worker,
            streams,
            schema: SCHEMA,
            pacing: pacing(&redis, &prefix),
            redis_prefix: prefix,
            seed: options.seed,
            problems: problems.into_iter().take(100).collect(),
        };
        let json = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
        std::fs::write(path, json + "\n")
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        println!("report written to {}", path.display());
    }
    server.shutdown().await;
    Ok(if verified {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `stream[partition]` → epoch of the leases `owner` holds.
async fn leases_held(admin: &Client, owner: &str) -> Result<BTreeMap<String, i64>, String> {
    let sql = format!(
        "SELECT stream, partition, epoch FROM {SCHEMA}._haul_partitions \
         WHERE owner = $1 AND state = 'leased'"
    );
    let rows = admin
        .query(&sql, &[&owner])
        .await
        .map_err(|e| format!("cannot read the leases: {e}"))?;
    Ok(rows
        .iter()
        .map(|r| {
            (
                format!("{}[{}]", r.get::<_, &str>(0), r.get::<_, &str>(1)),
                r.get(2),
            )
        })
        .collect())
}

/// `stream[partition]` → (state, epoch), for the connector's streams.
async fn partition_states(admin: &Client) -> Result<BTreeMap<String, (String, i64)>, String> {
    let sql = format!("SELECT stream, partition, state, epoch FROM {SCHEMA}._haul_partitions");
    let rows = admin
        .query(&sql, &[])
        .await
        .map_err(|e| format!("cannot read the partitions: {e}"))?;
    Ok(rows
        .iter()
        .filter(|r| STREAMS.contains(&r.get::<_, &str>(0)))
        .map(|r| {
            (
                format!("{}[{}]", r.get::<_, &str>(0), r.get::<_, &str>(1)),
                (r.get(2), r.get(3)),
            )
        })
        .collect())
}

/// A stream's stored `(partition, record)` pairs.
async fn tagged(admin: &Client, stream: &str) -> Result<Vec<(String, Value)>, String> {
    let sql = format!("SELECT _partition, _record::text FROM {SCHEMA}.\"{stream}\"");
    let rows = admin
        .query(&sql, &[])
        .await
        .map_err(|e| format!("cannot read table {stream}: {e}"))?;
    rows.iter()
        .map(|r| {
            let text: &str = r.get(1);
            serde_json::from_str(text)
                .map(|v| (r.get::<_, String>(0), v))
                .map_err(|e| format!("{stream}: a stored record is not JSON: {e}"))
        })
        .collect()
}

/// Every expected record once, equal as JSON (`jsonb` keeps the value, not
/// the bytes), tagged with its partition.
fn compare(
    stream: &str,
    stored: &[(String, Value)],
    expected: &[(String, String)],
    problems: &mut Vec<String>,
) -> StreamCheck {
    let id = |v: &Value| v.get("id").map(Value::to_string);
    let mut want: HashMap<String, (&str, Value)> = HashMap::new();
    for (partition, text) in expected {
        match serde_json::from_str::<Value>(text) {
            Ok(v) => match id(&v) {
                Some(k) => {
                    want.insert(k, (partition, v));
                }
                None => problems.push(format!("{stream}: an expected record has no id")),
            },
            Err(e) => problems.push(format!("{stream}: an expected record is not JSON: {e}")),
        }
    }
    let mut seen: HashMap<String, usize> = HashMap::new();
    let before = problems.len();
    for (partition, value) in stored {
        let Some(k) = id(value) else {
            problems.push(format!("{stream}: a stored record has no id"));
            continue;
        };
        match want.get(&k) {
            None => problems.push(format!("{stream}: record {k} is not the API's")),
            Some((p, v)) if v != value => {
                problems.push(format!("{stream}: record {k} differs from the API's ({p})"));
            }
            Some((p, _)) if *p != partition => problems.push(format!(
                "{stream}: record {k} is tagged {partition:?}, expected {p:?}"
            )),
            Some(_) => {}
        }
        *seen.entry(k).or_default() += 1;
    }
    let duplicates: usize = seen.values().filter(|n| **n > 1).map(|n| n - 1).sum();
    let missing = want.keys().filter(|k| !seen.contains_key(*k)).count();
    if duplicates > 0 {
        problems.push(format!("{stream}: {duplicates} duplicate rows"));
    }
    if missing > 0 {
        problems.push(format!("{stream}: {missing} records missing"));
    }
    StreamCheck {
        stored_rows: stored.len(),
        expected_records: expected.len(),
        duplicates,
        missing,
        verified: problems.len() == before,
    }
}

/// Prints `page N` for every page fetched.
#[derive(Default)]
struct PageReporter(AtomicU64);

impl Observer for PageReporter {
    fn on_event(&self, event: &Event<'_>) {
        if let Event::PageFetched { .. } = event {
            let n = self.0.fetch_add(1, Ordering::Relaxed) + 1;
            let mut out = std::io::stdout().lock();
            // The parent reads every line; if it is gone, we are being killed.
            let _ = writeln!(out, "page {n}");
            let _ = out.flush();
        }
    }
}

/// One worker process: `demo --worker-child --url U --schema S --owner O
/// --redis R --prefix P`. Prints `page N` per page and `done <summary JSON>`.
pub(crate) fn child(args: &[String]) -> Result<ExitCode, String> {
    let (map, _) = crate::flags(
        args,
        &["--url", "--schema", "--owner", "--redis", "--prefix"],
        &["--worker-child"],
    )?;
    let get = |flag: &str| {
        map.get(flag)
            .map(|v| (*v).to_owned())
            .ok_or_else(|| format!("--worker-child needs {flag}"))
    };
    let (url, schema, owner) = (get("--url")?, get("--schema")?, get("--owner")?);
    let (redis, prefix) = (get("--redis")?, get("--prefix")?);
    crate::init_tracing();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let summary = runtime.block_on(async move {
        let config: tokio_postgres::Config = postgres_config()
            .parse()
            .map_err(|e| format!("HAUL_POSTGRES: {e}"))?;
        let mut sink = PostgresSink::connect(config.clone(), &schema)
            .await
            .map_err(|e| format!("{owner}: {e}"))?;
        for stream in STREAMS {
            sink = sink.stream(StreamConfig::new(stream).append_only());
        }
        let leases = Leases::connect(config, &schema, owner.clone())
            .await
            .map_err(|e| format!("{owner}: {e}"))?
            .ttl(LEASE_TTL);
        let queue = PostgresWorkQueue::new(leases, sink);
        let builder = connector::builder(
            &url,
            PAGE_SIZE,
            IN_FLIGHT,
            false,
            Arc::new(PageReporter::default()),
        )?;
        let builder = pace(builder, &redis, &prefix).await?;
        let connector = builder.build().map_err(|e| e.to_string())?;
        connector
            .run_worker(
                Arc::new(queue),
                &WorkerOptions::default().poll_interval(Duration::from_millis(100)),
            )
            .await
            .map_err(|e| format!("{owner}: {e}"))
    })?;
    let json = serde_json::to_string(&summary).map_err(|e| e.to_string())?;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "done {json}");
    let _ = out.flush();
    Ok(ExitCode::SUCCESS)
}

/// How the workers share the API's quota, as the report says it.
fn pacing(redis: &str, prefix: &str) -> String {
    format!(
        "one Redis budget of {QUOTA}/s (lateness allowance {LATENESS:?}) shared by every worker ({redis}, key {prefix}{BUDGET})"
    )
}

/// How late a worker may send in its slot without exceeding the window.
const LATENESS: Duration = Duration::from_millis(50);

/// The budget's name (its Redis key is the prefix followed by it).
const BUDGET: &str = "demo-api";

/// Every worker's requests under the one Redis budget at the API's quota.
async fn pace(
    builder: haul::ConnectorBuilder,
    redis: &str,
    prefix: &str,
) -> Result<haul::ConnectorBuilder, String> {
    let config =
        haul::redis::BudgetConfig::new(BUDGET, QUOTA, Duration::from_secs(1)).prefix(prefix);
    let budget = haul::redis::RedisBudget::connect(redis, config)
        .await
        .map_err(|e| format!("the Redis budget at {redis}: {e}"))?;
    Ok(builder.shared_budget(Arc::new(budget)))
}
