//! `haul run --budget redis://…` against the local Redis (a key prefix of
//! the test's own): the run paces through the shared budget and verifies;
//! with Redis unreachable and `outage=fail` the run fails and says so,
//! never showing the URL's password. Skips (saying why) without Redis,
//! fails under `HAUL_REQUIRE_SERVICES=1`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use haul_testkit::services;

use crate::run::{base_url, haul_async, server};
use crate::{example, text};

const REDIS: &str = "127.0.0.1:6379";

/// Sends one command to Redis; its raw reply.
fn redis(args: &[&str]) -> std::io::Result<String> {
    let mut conn = TcpStream::connect_timeout(&REDIS.parse().unwrap(), Duration::from_secs(2))?;
    conn.set_read_timeout(Some(Duration::from_secs(2)))?;
    let mut cmd = format!("*{}\r\n", args.len());
    for a in args {
        cmd.push_str(&format!("${}\r\n{a}\r\n", a.len()));
    }
    conn.write_all(cmd.as_bytes())?;
    let mut buf = [0u8; 256];
    let n = conn.read(&mut buf)?;
    Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_under_a_redis_budget_verifies_and_the_budget_key_exists() {
    if let Err(e) = redis(&["PING"]) {
        services::unavailable("Redis", e);
        return;
    }
    let prefix = format!("{}:", services::unique_name("haul_cli"));
    let server = server(450, false).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("out.db");
    let out = haul_async(
        dir.path(),
        vec![
            "run".into(),
            example("github"),
            "--set".into(),
            format!("base_url={}", base_url(&server)),
            "--sink".into(),
            format!("sqlite:{}", db.display()),
            "--budget".into(),
            format!("redis://{REDIS}/?name=gh&quota=1000&per=1s&prefix={prefix}"),
            "--report".into(),
            "r.json".into(),
        ],
        vec![("GITHUB_TOKEN".into(), "t".into())],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report = std::fs::read_to_string(dir.path().join("r.json")).unwrap();
    assert!(report.contains("\"records\": 450"), "{report}");
    // The budget lives at prefix + name (it expires on its own TTL).
    let key = format!("{prefix}gh");
    assert_eq!(redis(&["EXISTS", &key]).unwrap(), ":1\r\n", "{key}");
    let _ = redis(&["DEL", &key]);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_budget_with_outage_fail_fails_the_run_without_showing_the_password() {
    let server = server(50, false).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("out.db");
    // Nothing listens on port 9 (discard) here.
    let out = haul_async(
        dir.path(),
        vec![
            "run".into(),
            example("github"),
            "--set".into(),
            format!("base_url={}", base_url(&server)),
            "--sink".into(),
            format!("sqlite:{}", db.display()),
            "--budget".into(),
            "redis://:hunter2-redis@127.0.0.1:9/?quota=10&outage=fail".into(),
            "--log-level".into(),
            "debug".into(),
        ],
        vec![("GITHUB_TOKEN".into(), "t".into())],
    )
    .await;
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        !stdout.contains("hunter2") && !stderr.contains("hunter2"),
        "{stderr}"
    );
    assert_eq!(server.stats().requests, 0, "nothing is sent without a slot");
    let bad = haul_async(
        dir.path(),
        vec![
            "run".into(),
            example("github"),
            "--budget".into(),
            "redis://:hunter2-redis@127.0.0.1:6379/?per=1s".into(),
        ],
        vec![("GITHUB_TOKEN".into(), "t".into())],
    )
    .await;
    assert_eq!(bad.status.code(), Some(78), "{}", text(&bad.stderr));
    assert!(text(&bad.stderr).contains("quota"), "{}", text(&bad.stderr));
    assert!(!text(&bad.stderr).contains("hunter2"));
    server.shutdown().await;
}
