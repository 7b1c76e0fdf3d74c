//! Every pagination style serves the dataset exactly once, in order.

use haul_testkit::{Dataset, FakeApi};
use serde_json::Value;

use crate::support::{Style, json, link_target, raw_array, raw_field, start, walk};

#[tokio::test]
async fn every_style_yields_the_dataset_once_in_order() {
    let client = reqwest::Client::new();
    for (len, full_pages) in [
        (0, vec![0]),
        (1, vec![1]),
        (100, vec![100]),
        (250, vec![100, 100, 50]),
    ] {
        let dataset = Dataset::generate(11, len);
        // A default page size unlike the one sent, to prove it is honored.
        let server = start(dataset.clone(), 7).await;
        for style in Style::ALL {
            let before = server.stats();
            let walked = walk(&server, &client, style, 100, "").await;
            let mut expected = full_pages.clone();
            if style.ends_on_empty_page() && len > 0 {
                expected.push(0);
            }
            assert_eq!(walked.sizes(), expected, "{style:?} len {len}");
            assert_eq!(walked.records(), dataset.records(), "{style:?} len {len}");
            assert_eq!(walked.repeated, None);
            let after = server.stats();
            assert_eq!(
                after.pages_served - before.pages_served,
                expected.len() as u64
            );
            assert_eq!(after.items_served - before.items_served, len as u64);
        }
        let stats = server.stats();
        assert_eq!(stats.requests, stats.pages_served);
        assert_eq!(stats.data_requests, stats.requests);
        assert_eq!(stats.faults_injected(), 0);
        server.shutdown().await;
    }
}

#[tokio::test]
async fn every_style_clamps_its_page_size() {
    let server = FakeApi::builder()
        .dataset(Dataset::generate(2, 35))
        .max_page_size(10)
        .build()
        .start()
        .await
        .unwrap();
    let client = reqwest::Client::new();
    for style in Style::ALL {
        let walked = walk(&server, &client, style, 500, "").await;
        let mut expected = vec![10, 10, 10, 5];
        if style.ends_on_empty_page() {
            expected.push(0);
        }
        assert_eq!(walked.sizes(), expected, "{style:?}");
    }
    // The default page size (100) was clamped to the maximum too.
    let body = json(reqwest::get(server.url("/items")).await.unwrap()).await;
    assert_eq!(body["data"].as_array().unwrap().len(), 10);
}

#[tokio::test]
async fn pages_are_the_dataset_records_verbatim() {
    let dataset = Dataset::generate(5, 3);
    let r = dataset.records();
    let server = start(dataset.clone(), 100).await;
    let get = |path: &str| {
        let url = server.url(path);
        async move { reqwest::get(url).await.unwrap() }
    };
    let text = |path: &'static str| {
        let get = get(path);
        async move { get.await.text().await.unwrap() }
    };
    assert_eq!(
        text("/items?limit=2").await,
        format!("{{\"data\":[{},{}],\"next_cursor\":\"c_2\"}}", r[0], r[1])
    );
    assert_eq!(
        text("/items?limit=2&cursor=c_2").await,
        format!("{{\"data\":[{}],\"next_cursor\":null}}", r[2])
    );
    assert_eq!(
        text("/last-record?limit=2&starting_after=1").await,
        format!(
            "{{\"object\":\"list\",\"data\":[{},{}],\"has_more\":false,\"url\":\"/last-record\"}}",
            r[1], r[2]
        )
    );
    let response = get("/header-cursor?limit=1").await;
    assert_eq!(response.headers()["x-next-cursor"], "c_1");
    assert_eq!(response.text().await.unwrap(), format!("[{}]", r[0]));
    let response = get("/header-cursor?limit=1&cursor=c_2").await;
    assert!(response.headers().get("x-next-cursor").is_none());
    assert_eq!(response.text().await.unwrap(), format!("[{}]", r[2]));
    assert_eq!(
        text("/next-url?limit=5").await,
        format!("{{\"value\":[{},{},{}]}}", r[0], r[1], r[2])
    );
    assert_eq!(
        text("/offset?offset=1&limit=1").await,
        format!("{{\"results\":[{}],\"total\":3}}", r[1])
    );
    assert_eq!(
        text("/page?page=2&page_size=2").await,
        format!("{{\"items\":[{}],\"page\":2,\"total_pages\":2}}", r[2])
    );
    let response = reqwest::Client::new()
        .post(server.url("/graphql"))
        .body(r#"{"query":"{ items { nodes } }","variables":{"first":2,"after":"c_1"}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.text().await.unwrap(),
        format!(
            "{{\"data\":{{\"items\":{{\"nodes\":[{},{}],\"pageInfo\":{{\"hasNextPage\":false,\"endCursor\":\"c_3\"}}}}}}}}",
            r[1], r[2]
        )
    );
}

#[tokio::test]
async fn link_header_follows_github() {
    let server = start(Dataset::generate(3, 25), 100).await;
    let base = server.url("/").to_string();
    let link = |page: u32| format!("<{base}link?per_page=10&state=open&page={page}>");
    let header = |path: &str| {
        let url = server.url(path);
        async move {
            let response = reqwest::get(url).await.unwrap();
            response
                .headers()
                .get("link")
                .map(|v| v.to_str().unwrap().to_owned())
        }
    };
    // Other query parameters are kept, `page` moves to the end.
    assert_eq!(
        header("/link?per_page=10&page=1&state=open").await.unwrap(),
        format!("{}; rel=\"next\", {}; rel=\"last\"", link(2), link(3))
    );
    assert_eq!(
        header("/link?per_page=10&state=open&page=2").await.unwrap(),
        format!(
            "{}; rel=\"prev\", {}; rel=\"next\", {}; rel=\"last\", {}; rel=\"first\"",
            link(1),
            link(3),
            link(3),
            link(1)
        )
    );
    assert_eq!(
        header("/link?per_page=10&state=open&page=3").await.unwrap(),
        format!("{}; rel=\"prev\", {}; rel=\"first\"", link(2), link(1))
    );
    // Everything on one page: no header at all.
    assert_eq!(header("/link?per_page=25").await, None);
    assert_eq!(header("/link?per_page=100&page=1").await, None);
    let h = header("/link?per_page=10").await.unwrap();
    assert_eq!(
        link_target(&h, "next").unwrap(),
        format!("{base}link?per_page=10&page=2")
    );
}

#[tokio::test]
async fn next_url_is_absolute_or_relative() {
    let server = start(Dataset::generate(3, 5), 100).await;
    let next_link = |path: &str| {
        let url = server.url(path);
        async move {
            let text = reqwest::get(url).await.unwrap().text().await.unwrap();
            raw_field(&text, "@odata.nextLink").map(|l| serde_json::from_str::<String>(&l).unwrap())
        }
    };
    assert_eq!(
        next_link("/next-url?limit=2&filter=a%20b").await.unwrap(),
        format!(
            "{}next-url?limit=2&filter=a+b&skiptoken=c_2",
            server.url("/")
        )
    );
    assert_eq!(
        next_link("/next-url?limit=2&relative=1&skiptoken=c_2")
            .await
            .unwrap(),
        "/next-url?limit=2&relative=1&skiptoken=c_4"
    );
    assert_eq!(next_link("/next-url?limit=2&skiptoken=c_4").await, None);
}

#[tokio::test]
async fn offset_totals_come_as_configured() {
    let server = start(Dataset::generate(3, 5), 100).await;
    let total = |query: &str| {
        let url = server.url(&format!("/offset?limit=2&{query}"));
        async move {
            let text = reqwest::get(url).await.unwrap().text().await.unwrap();
            raw_field(&text, "total")
        }
    };
    assert_eq!(total("offset=0").await.as_deref(), Some("5"));
    assert_eq!(total("offset=4&total=all").await.as_deref(), Some("5"));
    assert_eq!(total("offset=0&total=first").await.as_deref(), Some("5"));
    assert_eq!(total("offset=2&total=first").await, None);
    assert_eq!(total("offset=0&total=none").await, None);
    // Past the end: an empty page, still with its total.
    let text = reqwest::get(server.url("/offset?offset=99"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(text, "{\"results\":[],\"total\":5}");
}

#[tokio::test]
async fn page_numbers_count_from_the_base() {
    let dataset = Dataset::generate(3, 5);
    let server = start(dataset.clone(), 100).await;
    let body = |query: &str| {
        let url = server.url(&format!("/page?page_size=2&{query}"));
        async move { crate::support::json(reqwest::get(url).await.unwrap()).await }
    };
    let zero = body("base=0&page=0").await;
    let one = body("page=1").await;
    assert_eq!(zero["items"], one["items"]);
    assert_eq!(
        (zero["page"].clone(), one["page"].clone()),
        (0.into(), 1.into())
    );
    assert_eq!(zero["total_pages"], 3);
    assert_eq!(
        body("base=0&page=2").await["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(body("page=4").await["items"], Value::Array(vec![]));
    assert!(body("total=none").await.get("total_pages").is_none());
    let empty = start(Dataset::default(), 100).await;
    let text = reqwest::get(empty.url("/page"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(text, "{\"items\":[],\"page\":1,\"total_pages\":0}");
}

#[tokio::test]
async fn graphql_pages_through_relay_connections() {
    let dataset = Dataset::generate(3, 3);
    let server = start(dataset.clone(), 2).await;
    let client = reqwest::Client::new();
    let post = |body: &'static str| {
        client
            .post(server.url("/graphql"))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    // Defaults: no variables means the first page at the default size.
    let first = json(post(r#"{"query":"{ items { nodes } }"}"#).await.unwrap()).await;
    let info = &first["data"]["items"]["pageInfo"];
    assert_eq!(info["hasNextPage"], true);
    assert_eq!(info["endCursor"], "c_2");
    assert_eq!(first["data"]["items"]["nodes"].as_array().unwrap().len(), 2);
    let empty = start(Dataset::default(), 2).await;
    let response = client
        .post(empty.url("/graphql"))
        .body(r#"{"query":"q","variables":{"first":5,"after":null}}"#)
        .send()
        .await
        .unwrap();
    let text = response.text().await.unwrap();
    assert_eq!(
        text,
        "{\"data\":{\"items\":{\"nodes\":[],\"pageInfo\":{\"hasNextPage\":false,\"endCursor\":null}}}}"
    );
    assert_eq!(raw_array("[]").len(), 0);
    for bad in [
        "not json",
        r#"{"query":"q","variables":{"first":0}}"#,
        r#"{"query":"q","variables":{"after":"c_9"}}"#,
        r#"{"query":"q","variables":{"first":-1}}"#,
    ] {
        let response = post(bad).await.unwrap();
        assert_eq!(response.status(), 400, "{bad}");
    }
    // GraphQL is POST only.
    assert_eq!(
        client
            .get(server.url("/graphql"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
}

#[tokio::test]
async fn bad_parameters_are_400() {
    let server = FakeApi::builder()
        .dataset(Dataset::generate(1, 30))
        .max_page_size(10)
        .build()
        .start()
        .await
        .unwrap();
    for (path, code) in [
        ("/items?limit=0", "invalid_limit"),
        ("/items?limit=-1", "invalid_limit"),
        ("/items?limit=ten", "invalid_limit"),
        ("/items?cursor=10", "invalid_cursor"),
        ("/items?cursor=c_zz", "invalid_cursor"),
        ("/items?cursor=c_1e", "invalid_cursor"),
        ("/items?cursor=", "invalid_cursor"),
        ("/items?cycle_at=1", "invalid_parameter"),
        ("/last-record?starting_after=0", "invalid_cursor"),
        ("/last-record?starting_after=31", "invalid_cursor"),
        ("/last-record?starting_after=c_1", "invalid_cursor"),
        ("/header-cursor?cursor=c_1e", "invalid_cursor"),
        ("/next-url?skiptoken=2", "invalid_cursor"),
        ("/link?page=0", "invalid_page"),
        ("/link?per_page=0", "invalid_limit"),
        ("/offset?offset=-3", "invalid_parameter"),
        ("/offset?total=sometimes", "invalid_parameter"),
        ("/page?page=0", "invalid_page"),
        ("/page?base=2", "invalid_parameter"),
        ("/page?page_size=x", "invalid_limit"),
    ] {
        let response = reqwest::get(server.url(path)).await.unwrap();
        assert_eq!(response.status(), 400, "{path}");
        assert_eq!(response.headers()["content-type"], "application/json");
        let body = json(response).await;
        assert_eq!(body["error"], code, "{path}");
        assert!(body["message"].is_string());
    }
    assert_eq!(server.stats().bad_requests, 20);
    assert_eq!(server.stats().pages_served, 0);
}
