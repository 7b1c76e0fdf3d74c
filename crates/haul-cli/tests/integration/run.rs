//! `haul run` and `haul check` through the built binary against the
//! testkit's emulations of the real APIs: record-for-record verification,
//! exit codes 0/1/2/78/130, kill -9 and rerun, no secret in any output.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use haul::Sink;
use haul_testkit::{
    AuthRequirement, Dataset, Emulation, FakeApi, OrgTree, RunningServer, Throttle, TreeShape,
};

use crate::{example, haul, text};

/// The example spec for `api`, its stream, and the secret env var it reads.
pub(crate) fn spec_of(api: Emulation) -> (&'static str, &'static str, &'static str) {
    match api {
        Emulation::GitHub => ("github", "issues", "GITHUB_TOKEN"),
        Emulation::Stripe => ("stripe", "customers", "STRIPE_API_KEY"),
        Emulation::HubSpot => ("hubspot", "contacts", "HUBSPOT_TOKEN"),
        Emulation::Zendesk => ("zendesk", "tickets", "ZENDESK_API_TOKEN"),
        _ => ("salesforce", "accounts", "SALESFORCE_ACCESS_TOKEN"),
    }
}

pub(crate) async fn server(records: usize, slow: bool) -> RunningServer {
    let mut b = FakeApi::builder().dataset(Dataset::generate(11, records));
    if slow {
        b = b.max_page_size(10).throttle(
            Throttle::new(100_000, Duration::from_secs(1)).latency(Duration::from_millis(60)),
        );
    }
    b.build().start().await.unwrap()
}

pub(crate) fn base_url(server: &RunningServer) -> String {
    server.url("/").as_str().trim_end_matches('/').to_owned()
}

/// Runs the binary on a blocking thread (the server lives on this runtime).
pub(crate) async fn haul_async(
    dir: &Path,
    args: Vec<String>,
    env: Vec<(String, String)>,
) -> std::process::Output {
    let dir = dir.to_owned();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        haul(&dir, &args, &env)
    })
    .await
    .unwrap()
}

fn run_args(spec: &str, server: &RunningServer, db: &Path, extra: &[&str]) -> Vec<String> {
    let mut args = vec![
        "run".to_owned(),
        spec.to_owned(),
        "--set".to_owned(),
        format!("base_url={}", base_url(server)),
        "--sink".to_owned(),
        format!("sqlite:{}", db.display()),
    ];
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    args
}

/// Every dataset record exactly once, as the emulation renders it.
async fn verify(api: Emulation, server: &RunningServer, db: &Path, stream: &str) {
    let sink = haul::SqliteSink::open(db).unwrap();
    let stored = sink.records(stream).await.unwrap();
    sink.close().await.unwrap();
    let id = |r: &str| haul::core::json::scalar_at(r, "/id").unwrap().unwrap();
    let expected: BTreeMap<String, String> = server
        .dataset()
        .records()
        .iter()
        .map(|r| {
            let r = api.render(r);
            (id(&r), r)
        })
        .collect();
    let mut got: BTreeMap<String, String> = BTreeMap::new();
    for r in stored {
        assert!(
            got.insert(id(&r), r).is_none(),
            "{api:?}: a record stored twice"
        );
    }
    assert_eq!(got.len(), expected.len(), "{api:?}: record count");
    assert!(
        got == expected,
        "{api:?}: stored records differ from the dataset"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_example_spec_runs_against_its_emulation_and_verifies() {
    for api in [
        Emulation::GitHub,
        Emulation::Stripe,
        Emulation::HubSpot,
        Emulation::Zendesk,
        Emulation::Salesforce,
    ] {
        let server = server(450, false).await;
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("out.db");
        let (name, stream, env) = spec_of(api);
        let report = dir.path().join("report.json");
        let out = haul_async(
            dir.path(),
            run_args(
                &example(name),
                &server,
                &db,
                &["--report", report.to_str().unwrap()],
            ),
            vec![(env.to_owned(), "test-token".to_owned())],
        )
        .await;
        assert_eq!(out.status.code(), Some(0), "{name}: {}", text(&out.stderr));
        verify(api, &server, &db, stream).await;
        let report = std::fs::read_to_string(&report).unwrap();
        assert!(report.contains("\"status\": \"ok\""), "{report}");
        assert!(report.contains("\"records\": 450"), "{report}");
        server.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_2_when_some_partitions_fail_and_the_report_lists_them() {
    let server = server(120, false).await;
    let dir = tempfile::tempdir().unwrap();
    let spec = std::fs::read_to_string(example("github"))
        .unwrap()
        .replace(
            "values = [{ owner = \"haul-rs\", repo = \"haul\" }]",
            "values = [{ owner = \"haul-rs\", repo = \"haul\" }, { owner = \"gone\", repo = \"away\" }]",
        )
        .replace("rules = [{ status = 404, action = \"skip_partition\" }]", "");
    std::fs::write(dir.path().join("gh.toml"), spec).unwrap();
    let db = dir.path().join("out.db");
    let out = haul_async(
        dir.path(),
        run_args("gh.toml", &server, &db, &["--report", "r.json"]),
        vec![("GITHUB_TOKEN".into(), "t".into())],
    )
    .await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let report = std::fs::read_to_string(dir.path().join("r.json")).unwrap();
    assert!(report.contains("\"status\": \"partial\""), "{report}");
    assert!(report.contains("owner=gone,repo=away"), "{report}");
    verify(Emulation::GitHub, &server, &db, "issues").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_1_when_the_run_fails() {
    let server = FakeApi::builder()
        .dataset(Dataset::generate(1, 50))
        .require_auth(AuthRequirement::Bearer("right".into()))
        .build()
        .start()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("out.db");
    let out = haul_async(
        dir.path(),
        run_args(&example("stripe"), &server, &db, &["--report", "r.json"]),
        vec![("STRIPE_API_KEY".into(), "wrong".into())],
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let report = std::fs::read_to_string(dir.path().join("r.json")).unwrap();
    assert!(report.contains("\"status\": \"failed\""), "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_78_when_an_input_is_missing() {
    let server = server(10, false).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("out.db");
    let out = haul_async(
        dir.path(),
        run_args(&example("stripe"), &server, &db, &[]),
        vec![],
    )
    .await;
    assert_eq!(out.status.code(), Some(78));
    assert!(text(&out.stderr).contains("secret input `api_key` has no value"));
    assert!(!db.exists(), "nothing is written when the spec cannot run");
}

/// Starts a slow run, waits until some records are committed, then sends `signal`.
async fn interrupted_run(
    api: Emulation,
    server: &RunningServer,
    dir: &Path,
    db: &Path,
    signal: &str,
) -> Option<i32> {
    let (name, _, env) = spec_of(api);
    let mut child = Command::new(env!("CARGO_BIN_EXE_haul"))
        .current_dir(dir)
        .args(run_args(&example(name), server, db, &[]))
        .env(env, "t")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(
        child.try_wait().unwrap().is_none(),
        "the run ended before the signal"
    );
    if signal == "KILL" {
        child.kill().unwrap();
    } else {
        let ok = Command::new("kill")
            .args([&format!("-{signal}"), &child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
    }
    tokio::task::spawn_blocking(move || child.wait().unwrap().code())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_130_when_interrupted_and_the_rerun_completes() {
    let server = server(1500, true).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("out.db");
    let code = interrupted_run(Emulation::Stripe, &server, dir.path(), &db, "INT").await;
    assert_eq!(code, Some(130));
    let out = haul_async(
        dir.path(),
        run_args(&example("stripe"), &server, &db, &[]),
        vec![("STRIPE_API_KEY".into(), "t".into())],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    verify(Emulation::Stripe, &server, &db, "customers").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_run_then_rerun_verifies_for_two_specs() {
    for api in [Emulation::Zendesk, Emulation::GitHub] {
        let server = server(1500, true).await;
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("out.db");
        let code = interrupted_run(api, &server, dir.path(), &db, "KILL").await;
        assert_eq!(code, None, "killed by a signal");
        let (name, stream, env) = spec_of(api);
        let out = haul_async(
            dir.path(),
            run_args(&example(name), &server, &db, &[]),
            vec![(env.to_owned(), "t".to_owned())],
        )
        .await;
        assert_eq!(out.status.code(), Some(0), "{name}: {}", text(&out.stderr));
        verify(api, &server, &db, stream).await;
        server.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_shows_the_evidence_and_writes_nothing() {
    let server = server(250, false).await;
    let dir = tempfile::tempdir().unwrap();
    let out = haul_async(
        dir.path(),
        vec![
            "check".into(),
            example("github"),
            "--set".into(),
            format!("base_url={}", base_url(&server)),
        ],
        vec![("GITHUB_TOKEN".into(), "ghp_checktoken".into())],
    )
    .await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("stream issues [owner=haul-rs,repo=haul]"),
        "{stdout}"
    );
    assert!(
        stdout.contains("/repos/haul-rs/haul/issues?state=all&per_page=100"),
        "{stdout}"
    );
    assert!(stdout.contains("→ 200"), "{stdout}");
    assert!(stdout.contains("records per page: [100, 100]"), "{stdout}");
    assert!(
        stdout.contains("next page found after 2 pages (not fetched)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("primary key: unique over 200 record(s)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("incremental field: present in 200 of 200"),
        "{stdout}"
    );
    assert!(!stdout.contains("ghp_checktoken"));
    // The spec's sink is sqlite:github.db, relative to the working directory.
    let entries: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(entries.is_empty(), "check wrote {entries:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trace_level_run_shows_no_secret_with_bearer_basic_or_api_key() {
    let server = server(250, false).await;
    let dir = tempfile::tempdir().unwrap();
    let api_key_spec = std::fs::read_to_string(example("stripe")).unwrap().replace(
        "auth = { type = \"bearer\", token = \"{input.api_key}\" }",
        "auth = { type = \"api_key\", query = \"api_key\", key = \"{input.api_key}\" }",
    );
    std::fs::write(dir.path().join("apikey.toml"), api_key_spec).unwrap();
    let cases = [
        (
            example("stripe"),
            "STRIPE_API_KEY",
            "sk_test_BEARERsecret42",
        ),
        (example("zendesk"), "ZENDESK_API_TOKEN", "zdBASICsecret42"),
        ("apikey.toml".to_owned(), "STRIPE_API_KEY", "APIKEYsecret42"),
    ];
    for (i, (spec, env, secret)) in cases.iter().enumerate() {
        let db = dir.path().join(format!("out{i}.db"));
        let report = format!("report{i}.json");
        let mut args = run_args(spec, &server, &db, &["--report", &report]);
        args.splice(0..0, ["--log-level".to_owned(), "trace".to_owned()]);
        let out = haul_async(
            dir.path(),
            args,
            vec![((*env).to_owned(), (*secret).to_owned())],
        )
        .await;
        assert_eq!(out.status.code(), Some(0), "{spec}: {}", text(&out.stderr));
        let stderr = text(&out.stderr);
        assert!(
            stderr.len() > 1000,
            "trace logging is on: {} bytes",
            stderr.len()
        );
        let report = std::fs::read_to_string(dir.path().join(&report)).unwrap();
        let basic = base64(&format!("agent@example.com/token:{secret}"));
        for (what, output) in [
            ("stdout", text(&out.stdout)),
            ("stderr", stderr),
            ("report", report),
        ] {
            assert!(!output.contains(secret), "{spec}: the secret is in {what}");
            assert!(
                !output.contains(&basic),
                "{spec}: the Basic credentials are in {what}"
            );
        }
    }
}

fn base64(s: &str) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let b = s.as_bytes();
    let mut out = String::new();
    for chunk in b.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(T[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_and_state_show_and_reset_read_the_sink() {
    let server = server(150, false).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("out.db");
    let env = vec![("GITHUB_TOKEN".to_owned(), "t".to_owned())];
    let out = haul_async(
        dir.path(),
        run_args(&example("github"), &server, &db, &[]),
        env.clone(),
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let sink = format!("sqlite:{}", db.display());
    let args = |verb: &[&str]| -> Vec<String> {
        let mut a: Vec<String> = verb.iter().map(|s| (*s).to_owned()).collect();
        a.extend([example("github"), "--sink".to_owned(), sink.clone()]);
        a
    };
    // No token needed to read state.
    let list = haul_async(dir.path(), args(&["list"]), vec![]).await;
    let list = text(&list.stdout);
    assert!(list.contains("issues"), "{list}");
    assert!(list.contains("state: 1 partition(s), 1 done"), "{list}");
    let show = text(
        &haul_async(dir.path(), args(&["state", "show"]), vec![])
            .await
            .stdout,
    );
    assert!(
        show.contains("issues\towner=haul-rs,repo=haul\tdone"),
        "{show}"
    );
    let reset = haul_async(dir.path(), args(&["state", "reset"]), vec![]).await;
    assert_eq!(reset.status.code(), Some(0), "{}", text(&reset.stderr));
    let show = text(
        &haul_async(dir.path(), args(&["state", "show"]), vec![])
            .await
            .stdout,
    );
    assert!(
        show.contains("issues\towner=haul-rs,repo=haul\tstart"),
        "{show}"
    );
}

/// orgs → repos → events: a parent stream's records become the child's
/// partitions, two levels deep, with the grandchild's 404 skipped by a rule.
const ORG_TREE: &str = r#"
version = 1
name = "orgs"

[inputs.base_url]
type = "string"

[source]
base_url = "{input.base_url}"
max_in_flight = 4

[defaults]
paginator = { style = "link_header", page_size_param = "per_page", page_size = 7 }
primary_key = ["/id"]

[streams.orgs]
path = "/orgs"

[streams.repos]
path = "/orgs/{parent.org}/repos"
partitions = { kind = "parent", stream = "orgs", fields = { org = "/login" } }

[streams.events]
path = "/orgs/{parent.org}/repos/{parent.repo}/events"
partitions = { kind = "parent", stream = "repos", fields = { repo = "/name" } }
rules = [{ status = 404, action = "skip_partition" }]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parent_partitions_run_two_levels_deep_through_the_binary() {
    let tree = OrgTree::generate(5, &TreeShape::new([1, 3, 5, 0], 30));
    let server = FakeApi::builder()
        .org_tree(tree.clone())
        .build()
        .start()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("orgs.toml"), ORG_TREE).unwrap();
    let db = dir.path().join("out.db");
    let out = haul_async(
        dir.path(),
        run_args("orgs.toml", &server, &db, &["--report", "r.json"]),
        vec![],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report = std::fs::read_to_string(dir.path().join("r.json")).unwrap();
    assert!(report.contains("\"partitions_skipped\": 1"), "{report}");
    let sink = haul::SqliteSink::open(&db).unwrap();
    let count = |stream: &'static str| {
        let sink = &sink;
        async move { sink.records(stream).await.unwrap().len() }
    };
    let repos: usize = tree.orgs().iter().map(|o| o.repos().len()).sum();
    let events: usize = tree
        .orgs()
        .iter()
        .flat_map(|o| o.repos())
        .map(|r| r.events().len())
        .sum();
    assert_eq!(count("orgs").await, tree.orgs().len());
    assert_eq!(count("repos").await, repos);
    assert_eq!(count("events").await, events);
    assert!(events > 0);
}
