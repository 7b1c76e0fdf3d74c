//! Data that changes between runs, `updated_since` views, and pages that
//! fail permanently.

use haul_testkit::Dataset;
use serde_json::Value;

use crate::support::{Style, json, raw_field, start, walk};

fn updated_at(record: &str) -> String {
    serde_json::from_str::<Value>(record).unwrap()["updated_at"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn mutate_rewrites_a_fraction_and_appends_new_records() {
    let original = Dataset::generate(21, 1000);
    let server = start(original.clone(), 100).await;
    let newest_before = original.updated_at(999).unwrap().to_owned();

    let mutation = server.mutate(5, 0.01, 20);
    assert_eq!(mutation.updated.len(), 10);
    assert!(mutation.updated.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(mutation.added, (1001..=1020).collect::<Vec<u64>>());
    let since = mutation.changed_since.clone().unwrap();
    assert!(since > newest_before);

    let current = server.current_records();
    assert_eq!(current.len(), 1020);
    assert_eq!(current, server.dataset().records());
    for (index, record) in current.iter().enumerate() {
        let id = index as u64 + 1;
        // Ids stay `index + 1`, and the shape stays the documented one.
        assert!(record.starts_with(&format!("{{\"id\":{id},\"updated_at\":")));
        let changed = mutation.updated.contains(&id) || mutation.added.contains(&id);
        if changed {
            assert!(updated_at(record) >= since, "{record}");
            if let Some(before) = original.record(index) {
                assert_ne!(record, before);
            }
        } else {
            assert_eq!(Some(record.as_str()), original.record(index));
        }
    }
    // The same arguments give the same next version; the caller's copy of
    // the dataset is untouched.
    let (again, same) = original.mutated(5, 0.01, 20);
    assert_eq!(again.records(), current.as_slice());
    assert_eq!(same, mutation);
    assert_eq!(original.len(), 1000);

    // Edge cases: nothing to change, everything, and an empty dataset.
    assert_eq!(original.mutated(1, 0.0, 0).0.records(), original.records());
    assert_eq!(original.mutated(1, f64::NAN, 0).1.changed_since, None);
    assert_eq!(original.mutated(1, 7.0, 0).1.updated.len(), 1000);
    let (grown, added) = Dataset::default().mutated(1, 0.5, 3);
    assert_eq!((grown.len(), added.added), (3, vec![1, 2, 3]));
    assert_eq!(grown.updated_at(0), Some("2026-01-01T00:00:00Z"));
}

#[tokio::test]
async fn updated_since_pages_through_the_changed_records_in_every_style() {
    let server = start(Dataset::generate(8, 300), 100).await;
    let mutation = server.mutate(3, 0.05, 12);
    let dataset = server.dataset();
    let since = mutation.changed_since.unwrap();
    let expected: Vec<String> = dataset
        .records()
        .iter()
        .filter(|r| updated_at(r) >= since)
        .cloned()
        .collect();
    assert_eq!(expected.len(), 15 + 12);

    let client = reqwest::Client::new();
    let extra = format!("&updated_since={since}");
    for style in Style::ALL {
        let walked = walk(&server, &client, style, 10, &extra).await;
        assert_eq!(walked.records(), expected, "{style:?}");
        assert_eq!(walked.repeated, None, "{style:?}");
    }

    // Epoch seconds and offsets mean the same instant; a bound in the
    // future is an empty view; nonsense is a 400.
    let epoch = "1767225600"; // 2026-01-01T00:00:00Z, the first record's time
    let all = walk(
        &server,
        &client,
        Style::Items,
        100,
        &format!("&updated_since={epoch}"),
    )
    .await;
    assert_eq!(all.records(), dataset.records());
    let offset = walk(
        &server,
        &client,
        Style::Items,
        100,
        "&updated_since=2026-01-01T01:00:00%2B01:00",
    )
    .await;
    assert_eq!(offset.records(), dataset.records());
    let future = walk(
        &server,
        &client,
        Style::Items,
        10,
        "&updated_since=2100-01-01T00:00:00Z",
    )
    .await;
    assert_eq!(future.sizes(), [0]);
    let bad = reqwest::get(server.url("/items?updated_since=yesterday"))
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    assert_eq!(json(bad).await["error"], "invalid_parameter");
}

#[tokio::test]
async fn cursors_stay_valid_when_the_data_changes_mid_pass() {
    let server = start(Dataset::generate(2, 100), 100).await;
    let first = reqwest::get(server.url("/items?limit=10"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let cursor: String = serde_json::from_str(&raw_field(&first, "next_cursor").unwrap()).unwrap();
    server.mutate(9, 0.5, 5);
    let next = reqwest::get(server.url(&format!("/items?limit=10&cursor={cursor}")))
        .await
        .unwrap();
    assert_eq!(next.status(), 200);
    let body = next.text().await.unwrap();
    // The second page of the new version: ids 11-20.
    assert!(body.starts_with("{\"data\":[{\"id\":11,"), "{body}");
}

#[tokio::test]
async fn fail_at_fails_the_same_page_every_time() {
    let server = start(Dataset::generate(4, 100), 100).await;
    let client = reqwest::Client::new();
    let get = |url: String| {
        let client = client.clone();
        async move { client.get(url).send().await.unwrap() }
    };
    // Pages 1 and 2 are served; page 3 (offset 20) fails, as often as asked.
    for cursor in ["", "&cursor=c_a"] {
        let ok = get(server
            .url(&format!("/items?limit=10&fail_at=3{cursor}"))
            .to_string())
        .await;
        assert_eq!(ok.status(), 200);
    }
    for _ in 0..3 {
        let failed = get(server
            .url("/items?limit=10&fail_at=3&cursor=c_14")
            .to_string())
        .await;
        assert_eq!(failed.status(), 500);
        assert_eq!(json(failed).await["error"], "injected_failure");
    }
    let client_error = get(server
        .url("/items?limit=10&fail_at=3&fail_status=400&cursor=c_14")
        .to_string())
    .await;
    assert_eq!(client_error.status(), 400);
    // Other styles honour it too, counted by page number.
    let link = get(server.url("/link?per_page=10&fail_at=2&page=2").to_string()).await;
    assert_eq!(link.status(), 500);
    let first = get(server.url("/next-url?limit=10&fail_at=1").to_string()).await;
    assert_eq!(first.status(), 500);

    let stats = server.stats();
    assert_eq!(stats.failed_pages, 6);
    assert_eq!(stats.bad_requests, 0);
    assert_eq!(stats.pages_served, 2);

    for bad in [
        "fail_at=0",
        "fail_at=2&fail_status=200",
        "fail_at=2&fail_status=x",
    ] {
        let response = get(server.url(&format!("/items?{bad}")).to_string()).await;
        assert_eq!(response.status(), 400, "{bad}");
        assert_eq!(json(response).await["error"], "invalid_parameter");
    }
    // The switch rides along in generated links.
    let text = get(server.url("/next-url?limit=10&fail_at=5").to_string())
        .await
        .text()
        .await
        .unwrap();
    assert!(text.contains("fail_at=5&skiptoken=c_a"), "{text}");
}
