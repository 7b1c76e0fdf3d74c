//! The parent/child API: every level over real HTTP, the deleted child's
//! 404, and the half-open audit-log filter.

use haul_testkit::{FakeApi, OrgTree, RunningServer, TreeShape};

use crate::support::{link_target, raw_array};

async fn start(tree: OrgTree) -> RunningServer {
    FakeApi::builder()
        .org_tree(tree)
        .default_page_size(7)
        .record_requests(true)
        .build()
        .start()
        .await
        .unwrap()
}

/// Follows `rel="next"` from `path`, returning every record, raw.
async fn walk_links(server: &RunningServer, client: &reqwest::Client, path: &str) -> Vec<String> {
    let mut records = Vec::new();
    let mut url = server.url(path).to_string();
    loop {
        let response = client.get(&url).send().await.unwrap();
        assert_eq!(response.status(), 200, "{url}");
        let next = response
            .headers()
            .get("link")
            .and_then(|h| link_target(h.to_str().unwrap(), "next"));
        records.extend(raw_array(&response.text().await.unwrap()));
        match next {
            Some(next) => url = next,
            None => return records,
        }
    }
}

#[tokio::test]
async fn every_level_serves_its_records_verbatim() {
    let tree = OrgTree::generate(11, &TreeShape::new([1, 3, 30], 40).audit_entries(100));
    let server = start(tree.clone()).await;
    let client = reqwest::Client::new();
    let orgs = walk_links(&server, &client, "/orgs").await;
    let want: Vec<&str> = tree.orgs().iter().map(|o| o.record()).collect();
    assert_eq!(orgs, want);
    for org in tree.orgs() {
        let path = format!("/orgs/{}/repos", org.login());
        let repos = walk_links(&server, &client, &path).await;
        let want: Vec<&str> = org.repos().iter().map(|r| r.record()).collect();
        assert_eq!(repos, want);
        for repo in org.repos() {
            let mut url = server.url("/");
            url.path_segments_mut().unwrap().clear().extend([
                "orgs",
                org.login(),
                "repos",
                repo.name(),
                "events",
            ]);
            if repo.is_deleted() {
                let response = client.get(url).send().await.unwrap();
                assert_eq!(response.status(), 404);
                assert!(response.text().await.unwrap().contains("deleted"));
                continue;
            }
            let path = format!("{}?per_page=5", url.path());
            assert_eq!(walk_links(&server, &client, &path).await, repo.events());
        }
    }
    for missing in ["/orgs/nobody/repos", "/orgs/solo/repos/nothing/events"] {
        let response = client.get(server.url(missing)).send().await.unwrap();
        assert_eq!(response.status(), 404, "{missing}");
    }
    assert_eq!(server.stats().not_found, 3);
    // The deleted repository is listed by its parent, as after a race.
    assert!(tree.orgs()[1].repos()[2].is_deleted());
}

#[tokio::test]
async fn the_audit_log_filters_half_open_windows() {
    let tree = OrgTree::generate(4, &TreeShape::new([1], 1).audit_entries(400));
    let server = start(tree.clone()).await;
    let client = reqwest::Client::new();
    let (start, end) = tree.audit_span();
    // Twelve monthly windows, bounds as RFC 3339 and as Unix seconds.
    let months = [
        "2026-01-01T00:00:00Z",
        "2026-02-01T00:00:00Z",
        "2026-03-01T00:00:00Z",
        "2026-04-01T00:00:00Z",
        "2026-05-01T00:00:00Z",
        "2026-06-01T00:00:00Z",
        "2026-07-01T00:00:00Z",
        "2026-08-01T00:00:00Z",
        "2026-09-01T00:00:00Z",
        "2026-10-01T00:00:00Z",
        "2026-11-01T00:00:00Z",
        "2026-12-01T00:00:00Z",
        "2027-01-01T00:00:00Z",
    ];
    let mut all = Vec::new();
    for pair in months.windows(2) {
        let path = format!("/audit-log?since={}&until={}&per_page=9", pair[0], pair[1]);
        let window = walk_links(&server, &client, &path).await;
        // Each window starts with the two entries exactly on its first instant.
        assert!(
            window[0].contains(pair[0]) && window[1].contains(pair[0]),
            "{path}"
        );
        assert!(window.iter().all(|r| !r.contains(pair[1])), "{path}");
        all.extend(window);
    }
    assert_eq!(all, tree.audit_log());
    let whole = format!("/audit-log?since={start}&until={end}&per_page=100");
    assert_eq!(walk_links(&server, &client, &whole).await, tree.audit_log());
    assert_eq!(
        walk_links(&server, &client, "/audit-log?per_page=100").await,
        tree.audit_log()
    );
    let response = client
        .get(server.url("/audit-log?since=yesterday"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
}
