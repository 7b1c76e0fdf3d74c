//! Protected data, the OAuth2 token endpoint, credential recording, links
//! to another origin, and redirects.

use std::time::Duration;

use haul_testkit::{
    AuthRequirement, CredentialPlace, Dataset, FakeApi, OAuthClient, RunningServer,
};
use serde_json::Value;

use crate::support::{json, link_target, raw_field};

async fn protected(requirement: AuthRequirement) -> RunningServer {
    FakeApi::builder()
        .dataset(Dataset::generate(1, 30))
        .default_page_size(10)
        .require_auth(requirement)
        .build()
        .start()
        .await
        .unwrap()
}

/// A header (or `query`) name and value.
type Credential = (&'static str, &'static str);

/// A requirement, its challenge, and credentials it accepts and refuses.
type Case = (
    AuthRequirement,
    Option<&'static str>,
    Credential,
    Credential,
);

#[tokio::test]
async fn each_requirement_admits_only_its_credentials() {
    let client = reqwest::Client::new();
    let cases: [Case; 4] = [
        (
            AuthRequirement::Bearer("t0ken".into()),
            Some("Bearer realm=\"haul-testkit\""),
            ("authorization", "Bearer t0ken"),
            ("authorization", "Bearer other"),
        ),
        (
            AuthRequirement::Basic {
                user: "ann".into(),
                password: "pw".into(),
            },
            Some("Basic realm=\"haul-testkit\""),
            // base64("ann:pw")
            ("authorization", "Basic YW5uOnB3"),
            ("authorization", "Basic YW5uOnh4"),
        ),
        (
            AuthRequirement::ApiKeyHeader {
                name: "x-api-key".into(),
                value: "k-1".into(),
            },
            None,
            ("x-api-key", "k-1"),
            ("x-api-key", "k-2"),
        ),
        (
            AuthRequirement::ApiKeyQuery {
                name: "api_key".into(),
                value: "q-1".into(),
            },
            None,
            ("query", "q-1"),
            ("query", "q-2"),
        ),
    ];
    for (requirement, challenge, right, wrong) in cases {
        let server = protected(requirement.clone()).await;
        let send = |(name, value): (&str, &str)| {
            let request = if name == "query" {
                client.get(server.url(&format!("/items?api_key={value}")))
            } else {
                client.get(server.url("/items")).header(name, value)
            };
            async move { request.send().await.unwrap() }
        };
        let anonymous = client.get(server.url("/items")).send().await.unwrap();
        assert_eq!(anonymous.status(), 401, "{requirement:?}");
        let header = anonymous
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(header.as_deref(), challenge, "{requirement:?}");
        assert_eq!(json(anonymous).await["error"], "unauthorized");
        assert_eq!(send(wrong).await.status(), 401, "{requirement:?}");
        let admitted = send(right).await;
        assert_eq!(admitted.status(), 200, "{requirement:?}");
        // Probes stay open.
        let probe = client.get(server.url("/bytes?n=3")).send().await.unwrap();
        assert_eq!(probe.status(), 200);
        let stats = server.stats();
        assert_eq!((stats.unauthorized, stats.pages_served), (2, 1));
        // Rejected requests draw no fault decision.
        assert_eq!(stats.data_requests, 1);
        assert_eq!(server.seen_credentials().len(), 2, "{requirement:?}");
    }
}

#[tokio::test]
async fn links_leave_out_a_required_query_key() {
    let server = protected(AuthRequirement::ApiKeyQuery {
        name: "api_key".into(),
        value: "q-1".into(),
    })
    .await;
    let text = reqwest::get(server.url("/next-url?limit=5&api_key=q-1"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let link: String = serde_json::from_str(&raw_field(&text, "@odata.nextLink").unwrap()).unwrap();
    assert!(!link.contains("api_key") && !link.contains("q-1"), "{link}");
    assert!(link.contains("limit=5&skiptoken=c_5"), "{link}");
}

async fn token(client: &reqwest::Client, server: &RunningServer, form: &str) -> (u16, Value) {
    let response = client
        .post(server.url("/oauth/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form.to_owned())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    if status == 200 {
        assert_eq!(response.headers()["cache-control"], "no-store");
    }
    (status, json(response).await)
}

#[tokio::test]
async fn oauth_tokens_are_issued_expire_and_can_be_revoked() {
    let server = FakeApi::builder()
        .dataset(Dataset::generate(1, 30))
        .require_auth(AuthRequirement::OAuth2)
        .oauth_client(OAuthClient::new("cid", "csecret").expires_in(Duration::from_secs(60)))
        .build()
        .start()
        .await
        .unwrap();
    let client = reqwest::Client::new();
    let good = "grant_type=client_credentials&client_id=cid&client_secret=csecret";

    let (status, body) = token(
        &client,
        &server,
        "grant_type=client_credentials&client_id=cid&client_secret=nope",
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    let (status, body) = token(
        &client,
        &server,
        "grant_type=password&client_id=cid&client_secret=csecret",
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unsupported_grant_type"))
    );
    let (status, body) = token(&client, &server, "client_id=cid&client_secret=csecret").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request"))
    );

    let (status, body) = token(&client, &server, good).await;
    assert_eq!(status, 200);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 60);
    let first = body["access_token"].as_str().unwrap().to_owned();

    let get = |token: String| {
        let request = client.get(server.url("/items")).bearer_auth(token);
        async move { request.send().await.unwrap() }
    };
    assert_eq!(get(first.clone()).await.status(), 200);
    let forged = get("tk_0_0000000000000000".into()).await;
    assert_eq!(forged.status(), 401);
    assert_eq!(
        forged.headers()["www-authenticate"],
        "Bearer realm=\"haul-testkit\", error=\"invalid_token\""
    );
    assert_eq!(json(forged).await["error"], "invalid_token");

    // Expiry runs on tokio's clock.
    tokio::time::pause();
    tokio::time::advance(Duration::from_secs(61)).await;
    assert_eq!(get(first.clone()).await.status(), 401);
    tokio::time::resume();

    // HTTP Basic client authentication works as well.
    let response = client
        .post(server.url("/oauth/token"))
        .basic_auth("cid", Some("csecret"))
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let second = json(response).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(first, second);
    assert_eq!(get(second.clone()).await.status(), 200);
    assert_eq!(server.revoke_tokens(), 1);
    assert_eq!(get(second.clone()).await.status(), 401);

    assert_eq!(server.issued_tokens(), [first, second]);
    let stats = server.stats();
    assert_eq!((stats.tokens_issued, stats.token_errors), (2, 3));
    assert_eq!(stats.unauthorized, 3);
    // The token requests' secrets are recorded as body credentials.
    let secrets = server
        .seen_credentials()
        .iter()
        .flat_map(|r| r.credentials.clone())
        .filter(|c| c.place == CredentialPlace::Body)
        .count();
    assert_eq!(secrets, 4);
}

#[tokio::test]
async fn seen_credentials_keep_raw_values_of_every_kind() {
    let trap = FakeApi::builder()
        .dataset(Dataset::generate(1, 5))
        .build()
        .start()
        .await
        .unwrap();
    let client = reqwest::Client::new();
    client.get(trap.url("/items")).send().await.unwrap();
    assert!(trap.seen_credentials().is_empty());
    assert!(trap.seen_requests().is_empty());
    client
        .get(trap.url("/items?limit=2&access_token=AT"))
        .header("authorization", "Bearer B")
        .header("x-api-key", "K")
        .header("cookie", "sid=C")
        .send()
        .await
        .unwrap();
    let seen = trap.seen_credentials();
    assert_eq!(seen.len(), 1);
    let request = &seen[0];
    assert_eq!(
        (request.method.as_str(), request.path.as_str()),
        ("GET", "/items")
    );
    assert_eq!(request.header("Authorization"), Some("Bearer B"));
    let mut found: Vec<(CredentialPlace, &str, &str)> = request
        .credentials
        .iter()
        .map(|c| (c.place, c.name.as_str(), c.value.as_str()))
        .collect();
    found.sort_by_key(|c| c.1);
    assert_eq!(
        found,
        [
            (CredentialPlace::Query, "access_token", "AT"),
            (CredentialPlace::Header, "authorization", "Bearer B"),
            (CredentialPlace::Header, "cookie", "sid=C"),
            (CredentialPlace::Header, "x-api-key", "K"),
        ]
    );
    assert!(request.contains("AT") && request.contains("sid=C"));

    let everything = FakeApi::builder()
        .record_requests(true)
        .build()
        .start()
        .await
        .unwrap();
    client
        .get(everything.url("/nope?x=1"))
        .send()
        .await
        .unwrap();
    let all = everything.seen_requests();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].query.as_deref(), Some("x=1"));
    assert!(!all[0].carries_credentials());
    assert!(everything.seen_credentials().is_empty());
}

#[tokio::test]
async fn next_links_can_point_to_another_origin() {
    let trap = FakeApi::builder()
        .dataset(Dataset::generate(1, 30))
        .build()
        .start()
        .await
        .unwrap();
    let main = FakeApi::builder()
        .dataset(Dataset::generate(1, 30))
        .link_base(trap.url("/"))
        .build()
        .start()
        .await
        .unwrap();
    let trap_base = trap.url("/").to_string();

    let text = reqwest::get(main.url("/next-url?limit=10"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let next: String = serde_json::from_str(&raw_field(&text, "@odata.nextLink").unwrap()).unwrap();
    assert_eq!(next, format!("{trap_base}next-url?limit=10&skiptoken=c_a"));

    let response = reqwest::get(main.url("/link?per_page=10")).await.unwrap();
    let header = response.headers()["link"].to_str().unwrap().to_owned();
    let next = link_target(&header, "next").unwrap();
    assert_eq!(next, format!("{trap_base}link?per_page=10&page=2"));
    // The trap serves the link it was handed.
    assert_eq!(reqwest::get(next).await.unwrap().status(), 200);
    assert_eq!(trap.stats().pages_served, 1);
}

#[tokio::test]
async fn redirect_answers_the_location_verbatim() {
    let server = FakeApi::builder().build().start().await.unwrap();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let target = "http://127.0.0.1:9/items?limit=2&x=%20y";
    let mut url = server.url("/redirect");
    url.query_pairs_mut().append_pair("to", target);
    let response = client.get(url.clone()).send().await.unwrap();
    assert_eq!(response.status(), 302);
    assert_eq!(response.headers()["location"], target);
    url.query_pairs_mut().append_pair("status", "307");
    assert_eq!(client.get(url).send().await.unwrap().status(), 307);
    for bad in ["/redirect", "/redirect?to=/x&status=200"] {
        assert_eq!(
            client.get(server.url(bad)).send().await.unwrap().status(),
            400
        );
    }
    assert_eq!(server.stats().redirects, 2);
}
