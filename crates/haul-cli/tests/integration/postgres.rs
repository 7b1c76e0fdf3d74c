//! `haul run --sink postgres://…` against the local PostgreSQL (its own
//! schema, dropped after): the GitHub example spec against its emulation,
//! verified record for record; a rerun resumes and changes nothing; the
//! URL's password appears nowhere. Skips (saying why) without PostgreSQL,
//! fails under `HAUL_REQUIRE_SERVICES=1`.

use std::collections::BTreeMap;

use haul::Sink;
use haul::postgres::PostgresSink;
use haul::postgres::tokio_postgres::{Client, Config, NoTls};
use haul_testkit::{Emulation, services};

use crate::run::{base_url, haul_async, server, spec_of};
use crate::{example, text};

const CONNECTION: &str = "host=127.0.0.1 port=5432 user=postgres dbname=test";

async fn admin() -> Option<Client> {
    let config: Config = CONNECTION.parse().unwrap();
    match config.connect(NoTls).await {
        Ok((client, connection)) => {
            tokio::spawn(connection);
            Some(client)
        }
        Err(e) => {
            let cause = std::error::Error::source(&e).map(|c| format!(": {c}"));
            services::unavailable("PostgreSQL", format!("{e}{}", cause.unwrap_or_default()));
            None
        }
    }
}

/// The stored records by id, as JSON values (`jsonb` normalises the text).
async fn stored(schema: &str, stream: &str) -> BTreeMap<String, serde_json::Value> {
    let sink = PostgresSink::connect(CONNECTION.parse().unwrap(), schema)
        .await
        .unwrap();
    let mut by_id = BTreeMap::new();
    for r in sink.records(stream).await.unwrap() {
        let value: serde_json::Value = serde_json::from_str(&r).unwrap();
        let id = value["id"].to_string();
        assert!(by_id.insert(id, value).is_none(), "a record stored twice");
    }
    sink.close().await.unwrap();
    by_id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_into_postgres_verifies_resumes_and_never_shows_the_password() {
    let Some(admin) = admin().await else {
        return;
    };
    let schema = services::unique_name("haul_cli");
    let api = Emulation::GitHub;
    let (name, stream, env) = spec_of(api);
    let server = server(450, false).await;
    let dir = tempfile::tempdir().unwrap();
    // Trust authentication ignores the password; it must still never show.
    let url = format!("postgres://postgres:hunter2-pg@127.0.0.1:5432/test?schema={schema}");
    let args = vec![
        "run".to_owned(),
        example(name),
        "--set".to_owned(),
        format!("base_url={}", base_url(&server)),
        "--sink".to_owned(),
        url.clone(),
        "--report".to_owned(),
        "r.json".to_owned(),
        "--log-level".to_owned(),
        "debug".to_owned(),
    ];
    let env = vec![(env.to_owned(), "test-token".to_owned())];
    let result = async {
        let out = haul_async(dir.path(), args.clone(), env.clone()).await;
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let report = std::fs::read_to_string(dir.path().join("r.json")).unwrap();
        assert!(report.contains("\"records\": 450"), "{report}");
        assert!(
            report.contains(&format!(
                "postgres://postgres:***@127.0.0.1:5432/test?schema={schema}"
            )),
            "{report}"
        );
        for shown in [text(&out.stdout), text(&out.stderr), report] {
            assert!(!shown.contains("hunter2"), "the password leaked: {shown}");
        }
        let expected: BTreeMap<String, serde_json::Value> = server
            .dataset()
            .records()
            .iter()
            .map(|r| {
                let value: serde_json::Value = serde_json::from_str(&api.render(r)).unwrap();
                (value["id"].to_string(), value)
            })
            .collect();
        let got = stored(&schema, stream).await;
        assert_eq!(got.len(), expected.len(), "record count");
        assert!(got == expected, "stored records differ from the dataset");

        // A rerun reads the committed state and stores nothing twice.
        let again = haul_async(dir.path(), args.clone(), env.clone()).await;
        assert_eq!(again.status.code(), Some(0), "{}", text(&again.stderr));
        assert!(stored(&schema, stream).await == expected);

        // `state show` reads the same destination.
        let show = haul_async(
            dir.path(),
            vec![
                "state".into(),
                "show".into(),
                example(name),
                "--sink".into(),
                url.clone(),
            ],
            env.clone(),
        )
        .await;
        assert_eq!(show.status.code(), Some(0), "{}", text(&show.stderr));
        assert!(
            text(&show.stdout).contains(stream),
            "{}",
            text(&show.stdout)
        );
    }
    .await;
    let _ = admin
        .batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
        .await;
    server.shutdown().await;
    result
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_or_malformed_postgres_url_fails_without_showing_the_password() {
    let dir = tempfile::tempdir().unwrap();
    let env = vec![("GITHUB_TOKEN".to_owned(), "t".to_owned())];
    let run = |url: &str| {
        vec![
            "run".to_owned(),
            example("github"),
            "--set".to_owned(),
            "base_url=http://127.0.0.1:9".to_owned(),
            "--sink".to_owned(),
            url.to_owned(),
        ]
    };
    // Nothing listens on port 9 (discard) here.
    let out = haul_async(
        dir.path(),
        run("postgres://u:hunter2-pg@127.0.0.1:9/test?schema=x"),
        env.clone(),
    )
    .await;
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("postgres://u:***@127.0.0.1:9/test?schema=x"),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "{err}");
    let out = haul_async(
        dir.path(),
        run("postgres://u:hunter2-pg@127.0.0.1:99999/test"),
        env,
    )
    .await;
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{err}");
    assert!(err.contains("port"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_share_the_queue_and_the_destination_verifies() {
    let Some(admin) = admin().await else {
        return;
    };
    let schema = services::unique_name("haul_cli_w");
    let api = Emulation::GitHub;
    let (name, stream, env) = spec_of(api);
    let server = server(450, false).await;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("postgres://postgres:hunter2-pg@127.0.0.1:5432/test?schema={schema}");
    let env = vec![(env.to_owned(), "test-token".to_owned())];
    let worker = |n: usize| {
        vec![
            "run".to_owned(),
            example(name),
            "--set".to_owned(),
            format!("base_url={}", base_url(&server)),
            "--workers".to_owned(),
            url.clone(),
            "--worker-name".to_owned(),
            format!("w{n}"),
            "--report".to_owned(),
            format!("w{n}.json"),
        ]
    };
    let result = async {
        let (a, b) = tokio::join!(
            haul_async(dir.path(), worker(1), env.clone()),
            haul_async(dir.path(), worker(2), env.clone())
        );
        let mut completed = 0;
        for (n, out) in [(1, a), (2, b)] {
            assert_eq!(out.status.code(), Some(0), "w{n}: {}", text(&out.stderr));
            let report = std::fs::read_to_string(dir.path().join(format!("w{n}.json"))).unwrap();
            for shown in [text(&out.stdout), text(&out.stderr), report.clone()] {
                assert!(!shown.contains("hunter2"), "the password leaked: {shown}");
            }
            let report: serde_json::Value = serde_json::from_str(&report).unwrap();
            assert_eq!(report["worker"]["owner"], format!("w{n}"));
            completed += report["worker"]["completed"].as_u64().unwrap();
        }
        // The spec lists one partition: exactly one worker ran it.
        assert_eq!(completed, 1);
        let expected: BTreeMap<String, serde_json::Value> = server
            .dataset()
            .records()
            .iter()
            .map(|r| {
                let value: serde_json::Value = serde_json::from_str(&api.render(r)).unwrap();
                (value["id"].to_string(), value)
            })
            .collect();
        assert!(stored(&schema, stream).await == expected);
    }
    .await;
    let _ = admin
        .batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
        .await;
    server.shutdown().await;
    result
}
