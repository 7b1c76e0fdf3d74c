//! The shared budget against a real Redis (127.0.0.1:6379, or
//! `HAUL_REDIS_URL`): without one, these tests skip and say why;
//! `HAUL_REQUIRE_SERVICES=1` makes that a failure. Each test uses its own
//! key prefix. The outage tests need no Redis.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::sync::Arc;
use std::time::Duration;

use haul_redis::{BudgetConfig, BudgetError, OutagePolicy, RedisBudget, Reserved};
use haul_testkit::services;

const MS: Duration = Duration::from_millis(1);

async fn redis_url() -> Option<String> {
    let url = std::env::var("HAUL_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/".into());
    let probe = async {
        let client = redis::Client::open(url.as_str())?;
        let mut conn = client.get_multiplexed_async_connection().await?;
        redis::cmd("PING").query_async::<String>(&mut conn).await
    };
    match tokio::time::timeout(Duration::from_secs(2), probe).await {
        Ok(Ok(_)) => Some(url),
        Ok(Err(e)) => {
            services::unavailable("Redis", e);
            None
        }
        Err(_) => {
            services::unavailable("Redis", "no answer to PING within 2 s");
            None
        }
    }
}

/// A config under a prefix no other run uses, no lateness allowance (exact
/// spacing), failing on outage.
fn config(quota: u32, burst: u32) -> BudgetConfig {
    BudgetConfig::new("api", quota, Duration::from_secs(1))
        .prefix(format!("{}:", services::unique_name("haul_test")))
        .burst(burst)
        .lateness_allowance(Duration::ZERO)
        .outage(OutagePolicy::Fail)
}

fn granted(r: Reserved) -> haul_redis::Grant {
    match r {
        Reserved::Granted(g) => g,
        Reserved::TooLong { wait } => panic!("expected a grant, told to wait {wait:?}"),
    }
}

fn too_long(r: Reserved) -> Duration {
    match r {
        Reserved::TooLong { wait } => wait,
        Reserved::Granted(g) => panic!("expected a refusal, granted {g:?}"),
    }
}

#[tokio::test]
async fn burst_then_paced_at_the_interval() {
    let Some(url) = redis_url().await else { return };
    let budget = RedisBudget::connect(&url, config(10, 3)).await.unwrap();
    for _ in 0..3 {
        let g = granted(budget.reserve_within(1, Duration::ZERO).await.unwrap());
        assert_eq!(g.wait(), Duration::ZERO, "the burst goes at once");
    }
    let wait = too_long(budget.reserve_within(1, Duration::ZERO).await.unwrap());
    assert!(
        wait > 50 * MS && wait <= 100 * MS,
        "the 4th waits one interval: {wait:?}"
    );
}

#[tokio::test]
async fn reservations_within_the_maximum_wait_take_slots_one_interval_apart() {
    let Some(url) = redis_url().await else { return };
    let budget = RedisBudget::connect(&url, config(10, 1).max_wait(250 * MS))
        .await
        .unwrap();
    let mut slots = Vec::new();
    for _ in 0..3 {
        slots.push(granted(budget.reserve(1).await.unwrap()).slot_us().unwrap());
    }
    assert_eq!(slots[1] - slots[0], 100_000, "{slots:?}");
    assert_eq!(slots[2] - slots[1], 100_000, "{slots:?}");
    // The 4th is ~300 ms away, over the maximum wait: told, nothing taken.
    let wait = too_long(budget.reserve(1).await.unwrap());
    assert!(wait > 250 * MS && wait <= 300 * MS, "{wait:?}");
    let next = granted(
        budget
            .reserve_within(1, Duration::from_secs(1))
            .await
            .unwrap(),
    );
    assert_eq!(
        next.slot_us().unwrap() - slots[2],
        100_000,
        "the refusal took nothing"
    );
    // Cancelling the latest slot rewinds the schedule: the next caller gets it.
    assert!(budget.cancel(&next).await.unwrap());
    let again = granted(
        budget
            .reserve_within(1, Duration::from_secs(1))
            .await
            .unwrap(),
    );
    assert_eq!(again.slot_us(), next.slot_us());
}

#[tokio::test]
async fn weighted_cost_and_cost_above_burst() {
    let Some(url) = redis_url().await else { return };
    let budget = RedisBudget::connect(&url, config(10, 3)).await.unwrap();
    let err = budget.reserve(4).await.unwrap_err();
    assert!(
        matches!(
            err,
            BudgetError::CostAboveBurst {
                cost: 4,
                burst: 3,
                ..
            }
        ),
        "{err}"
    );
    // Cost 3 empties the bucket at once; the next unit waits an interval,
    // a cost-2 request after it two more.
    let g = granted(budget.reserve_within(3, Duration::ZERO).await.unwrap());
    assert_eq!(g.wait(), Duration::ZERO);
    let one = granted(
        budget
            .reserve_within(1, Duration::from_secs(1))
            .await
            .unwrap(),
    );
    let two = granted(
        budget
            .reserve_within(2, Duration::from_secs(1))
            .await
            .unwrap(),
    );
    assert_eq!(two.slot_us().unwrap() - one.slot_us().unwrap(), 200_000);
}

#[tokio::test]
async fn a_penalty_seen_by_one_worker_pauses_the_others() {
    let Some(url) = redis_url().await else { return };
    let cfg = config(100, 5);
    // Three workers: separate connections, one key.
    let a = RedisBudget::connect(&url, cfg.clone()).await.unwrap();
    let b = RedisBudget::connect(&url, cfg.clone()).await.unwrap();
    let c = RedisBudget::connect(&url, cfg).await.unwrap();
    granted(b.reserve_within(1, Duration::ZERO).await.unwrap());
    // `a` gets a 429 with `Retry-After: 2`.
    a.penalize(Duration::from_secs(2)).await.unwrap();
    for other in [&b, &c] {
        let wait = too_long(other.reserve_within(1, Duration::ZERO).await.unwrap());
        assert!(wait > 1900 * MS && wait <= 2000 * MS, "{wait:?}");
    }
    // A shorter penalty never shortens the pause.
    a.penalize(Duration::from_millis(100)).await.unwrap();
    let wait = too_long(c.reserve_within(1, Duration::ZERO).await.unwrap());
    assert!(wait > 1800 * MS, "{wait:?}");
    // A reservation may be taken for the reset: the first slot is the reset,
    // the next one interval later (no burst right at the reset).
    let first = granted(b.reserve_within(1, Duration::from_secs(3)).await.unwrap());
    let second = granted(c.reserve_within(1, Duration::from_secs(3)).await.unwrap());
    assert!(first.wait() > 1800 * MS, "{first:?}");
    assert_eq!(second.slot_us().unwrap() - first.slot_us().unwrap(), 10_000);
}

#[tokio::test]
async fn budgets_are_keyed_per_prefix_and_name_and_expire() {
    let Some(url) = redis_url().await else { return };
    let cfg = config(10, 1);
    let key = cfg.key();
    assert!(key.ends_with(":api"), "{key}");
    assert_eq!(
        BudgetConfig::new("github", 1, Duration::from_secs(1)).key(),
        "haul:budget:github"
    );
    let a = RedisBudget::connect(&url, cfg).await.unwrap();
    let other_prefix = RedisBudget::connect(&url, config(10, 1)).await.unwrap();
    let other_name = RedisBudget::connect(
        &url,
        BudgetConfig::new("other", 10, Duration::from_secs(1))
            .prefix(key.trim_end_matches("api"))
            .outage(OutagePolicy::Fail),
    )
    .await
    .unwrap();
    granted(a.reserve_within(1, Duration::ZERO).await.unwrap());
    too_long(a.reserve_within(1, Duration::ZERO).await.unwrap());
    granted(
        other_prefix
            .reserve_within(1, Duration::ZERO)
            .await
            .unwrap(),
    );
    granted(other_name.reserve_within(1, Duration::ZERO).await.unwrap());

    let mut conn = redis::Client::open(url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let tat: u64 = redis::cmd("GET")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(
        tat > 1_700_000_000_000_000,
        "integer µs of Redis time: {tat}"
    );
    let ttl: i64 = redis::cmd("PTTL")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(
        ttl > 0 && ttl <= 1100,
        "expires a second after the schedule catches up: {ttl}"
    );
}

/// Three workers (own connections) × 8 tasks share 100 req/s for 3 s: they
/// reach 97–100 % of it and no one-second window holds more than 100 slots.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_sharing_a_budget_use_all_of_it_and_never_more() {
    let Some(url) = redis_url().await else { return };
    let cfg = BudgetConfig::new("api", 100, Duration::from_secs(1))
        .prefix(format!("{}:", services::unique_name("haul_test")));
    let mut tasks = Vec::new();
    for _ in 0..3 {
        let budget = Arc::new(RedisBudget::connect(&url, cfg.clone()).await.unwrap());
        for _ in 0..8 {
            let budget = Arc::clone(&budget);
            tasks.push(tokio::spawn(async move {
                let start = std::time::Instant::now();
                let mut slots = Vec::new();
                while start.elapsed() < Duration::from_secs(3) {
                    slots.push(budget.acquire(1).await.unwrap().slot_us().unwrap());
                }
                slots
            }));
        }
    }
    let mut slots = Vec::new();
    for t in tasks {
        slots.extend(t.await.unwrap());
    }
    slots.sort_unstable();
    let first = slots[0];
    let in_3s = slots.iter().filter(|&&s| s < first + 3_000_000).count();
    let share = in_3s as f64 / 300.0;
    // Any one-second window, starting at any slot.
    let worst = (0..slots.len())
        .map(|i| slots[i..].partition_point(|&s| s < slots[i] + 1_000_000))
        .max()
        .unwrap();
    eprintln!(
        "3 workers x 8 tasks, 100 req/s for 3 s: {in_3s} slots = {:.1} %, busiest 1 s window {worst}",
        share * 100.0
    );
    assert!((0.97..=1.0).contains(&share), "{share}");
    assert!(worst <= 100, "over-limit: {worst} slots in one second");
}

/// The child side of the 3-process test: runs only when the parent sets
/// `HAUL_REDIS_CHILD` (`url prefix start_unix_ms`), prints its slots.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_worker_of_the_process_test() {
    let Ok(spec) = std::env::var("HAUL_REDIS_CHILD") else {
        return;
    };
    let mut parts = spec.split(' ');
    let (url, prefix) = (parts.next().unwrap(), parts.next().unwrap());
    let start_ms: u64 = parts.next().unwrap().parse().unwrap();
    let start = std::time::UNIX_EPOCH + Duration::from_millis(start_ms);
    let end = start + Duration::from_secs(3);
    if let Ok(d) = start.duration_since(std::time::SystemTime::now()) {
        tokio::time::sleep(d).await;
    }
    let cfg = BudgetConfig::new("api", 100, Duration::from_secs(1)).prefix(prefix);
    let budget = Arc::new(RedisBudget::connect(url, cfg).await.unwrap());
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let budget = Arc::clone(&budget);
            tokio::spawn(async move {
                let mut slots = Vec::new();
                while std::time::SystemTime::now() < end {
                    slots.push(budget.acquire(1).await.unwrap().slot_us().unwrap());
                }
                slots
            })
        })
        .collect();
    for t in tasks {
        for slot in t.await.unwrap() {
            println!("haul-slot {slot}");
        }
    }
}

/// 3 processes × 8 tasks share 100 req/s for 3 s: 97–100 % of it, and no
/// one-second window holds more than 100 slots.
#[tokio::test]
async fn three_processes_sharing_a_budget_use_all_of_it_and_never_more() {
    let Some(url) = redis_url().await else { return };
    let prefix = format!("{}:", services::unique_name("haul_test"));
    let start_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
        + 1500;
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..3)
        .map(|_| {
            std::process::Command::new(&exe)
                .args(["--exact", "child_worker_of_the_process_test", "--nocapture"])
                .env("HAUL_REDIS_CHILD", format!("{url} {prefix} {start_ms}"))
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut slots: Vec<u64> = Vec::new();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "a worker process failed");
        let text = String::from_utf8(out.stdout).unwrap();
        slots.extend(
            text.lines()
                .filter_map(|l| l.strip_prefix("haul-slot "))
                .map(|s| s.parse::<u64>().unwrap()),
        );
    }
    slots.sort_unstable();
    let first = slots[0];
    let in_3s = slots.iter().filter(|&&s| s < first + 3_000_000).count();
    let share = in_3s as f64 / 300.0;
    let worst = (0..slots.len())
        .map(|i| slots[i..].partition_point(|&s| s < slots[i] + 1_000_000))
        .max()
        .unwrap();
    eprintln!(
        "3 processes x 8 tasks, 100 req/s for 3 s: {in_3s} slots = {:.1} %, busiest 1 s window {worst}",
        share * 100.0
    );
    assert!((0.97..=1.0).contains(&share), "{share}");
    assert!(worst <= 100, "over-limit: {worst} slots in one second");
}

#[tokio::test]
async fn outage_fail_is_a_typed_error() {
    let cfg = config(10, 1).timeout(500 * MS);
    let budget = RedisBudget::connect("redis://127.0.0.1:1/", cfg)
        .await
        .unwrap();
    let err = budget.reserve(1).await.unwrap_err();
    assert!(matches!(err, BudgetError::Unavailable { .. }), "{err}");
}

#[tokio::test]
async fn outage_fallback_paces_locally_at_the_declared_fraction() {
    let cfg = config(100, 1)
        .timeout(500 * MS)
        .outage(OutagePolicy::Fallback { fraction: 0.1 });
    let budget = RedisBudget::connect("redis://127.0.0.1:1/", cfg)
        .await
        .unwrap();
    let mut waits = Vec::new();
    for _ in 0..3 {
        let g = granted(
            budget
                .reserve_within(1, Duration::from_secs(1))
                .await
                .unwrap(),
        );
        assert_eq!(g.slot_us(), None, "a local grant");
        waits.push(g.wait());
    }
    // 10 % of 100/s: one slot every 100 ms.
    assert_eq!(waits[0], Duration::ZERO);
    assert!(waits[1] > 90 * MS && waits[1] <= 100 * MS, "{waits:?}");
    assert!(waits[2] > 190 * MS && waits[2] <= 200 * MS, "{waits:?}");
}

#[tokio::test]
async fn outage_wait_holds_the_caller_until_redis_answers() {
    let cfg = config(10, 1).timeout(200 * MS).outage(OutagePolicy::Wait);
    let budget = RedisBudget::connect("redis://127.0.0.1:1/", cfg)
        .await
        .unwrap();
    let waited = tokio::time::timeout(Duration::from_secs(1), budget.reserve(1)).await;
    assert!(waited.is_err(), "still waiting for Redis: {waited:?}");
}

#[test]
fn a_fallback_fraction_outside_zero_to_one_is_refused() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for fraction in [0.0, 1.5, f64::NAN] {
        let cfg = config(10, 1).outage(OutagePolicy::Fallback { fraction });
        let err = rt
            .block_on(RedisBudget::connect("redis://127.0.0.1:1/", cfg))
            .unwrap_err();
        assert!(matches!(err, BudgetError::Config(_)), "{err}");
    }
}

/// A Redis of the test's own on a spare port, stopped with the guard.
struct OwnRedis {
    child: std::process::Child,
    port: u16,
}

impl OwnRedis {
    fn start(port: u16) -> Option<Self> {
        let child = std::process::Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(std::process::Stdio::null())
            .spawn();
        match child {
            Ok(child) => Some(Self { child, port }),
            Err(e) => {
                services::unavailable("redis-server (to start one)", e);
                None
            }
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    async fn ready(&self) {
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                return;
            }
            tokio::time::sleep(20 * MS).await;
        }
        panic!("redis-server did not listen on {}", self.port);
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spare_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Redis killed and restarted mid-run: under `Wait` the caller is held
/// (nothing granted) until Redis is back; under `Fallback` it is paced
/// locally meanwhile and back on Redis after the restart.
#[tokio::test]
async fn redis_killed_and_restarted_mid_run_keeps_the_outage_policy() {
    let port = spare_port();
    let Some(redis) = OwnRedis::start(port) else {
        return;
    };
    redis.ready().await;
    let url = redis.url();
    let wait = RedisBudget::connect(
        &url,
        config(100, 1).outage(OutagePolicy::Wait).timeout(200 * MS),
    )
    .await
    .unwrap();
    let fallback = RedisBudget::connect(
        &url,
        config(100, 1)
            .outage(OutagePolicy::Fallback { fraction: 0.5 })
            .timeout(200 * MS),
    )
    .await
    .unwrap();
    assert!(granted(wait.reserve(1).await.unwrap()).slot_us().is_some());
    assert!(
        granted(fallback.reserve(1).await.unwrap())
            .slot_us()
            .is_some()
    );

    drop(redis); // killed
    let held = tokio::time::timeout(Duration::from_millis(700), wait.reserve(1)).await;
    assert!(held.is_err(), "granted while Redis was down: {held:?}");
    let local = granted(fallback.reserve(1).await.unwrap());
    assert_eq!(local.slot_us(), None, "paced locally during the outage");

    let redis = OwnRedis::start(port).unwrap(); // restarted, same port
    redis.ready().await;
    let back = tokio::time::timeout(Duration::from_secs(10), wait.reserve(1))
        .await
        .expect("the waiting caller resumes once Redis is back")
        .unwrap();
    assert!(granted(back).slot_us().is_some());
    tokio::time::sleep(Duration::from_millis(1100)).await; // the fallback's probe interval
    let mut shared = None;
    for _ in 0..20 {
        let g = granted(fallback.reserve(1).await.unwrap());
        if g.slot_us().is_some() {
            shared = Some(g);
            break;
        }
        tokio::time::sleep(100 * MS).await;
    }
    assert!(shared.is_some(), "the fallback went back to Redis");
}
