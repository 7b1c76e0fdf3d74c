//! The cycle and never-ending switches of the cursor and link styles.

use haul_testkit::Dataset;

use crate::support::{Style, start, walk};

#[tokio::test]
async fn cycle_at_points_back_to_page_two() {
    let dataset = Dataset::generate(4, 250);
    let records = dataset.records();
    let server = start(dataset.clone(), 100).await;
    let client = reqwest::Client::new();
    // 13 pages of 20 (the last one holds 10).
    for style in Style::CURSORED {
        for k in [2, 5, 13] {
            let walked = walk(&server, &client, style, 20, &format!("&cycle_at={k}")).await;
            let (_, at) = walked.repeated.clone().expect("no cycle");
            assert_eq!(at, k, "{style:?} cycle_at={k}");
            assert_eq!(walked.pages.len(), k);
            let before: Vec<String> = walked.pages[..k - 1].concat();
            assert_eq!(before, records[..(k - 1) * 20], "{style:?} cycle_at={k}");
            // Stripe's cursor is the data itself: page k repeats page 1.
            let cycled = if style == Style::LastRecord { 0 } else { k - 1 };
            let end = (cycled * 20 + 20).min(250);
            assert_eq!(walked.pages[k - 1], records[cycled * 20..end], "{style:?}");
        }
        // A page beyond the end never comes: the walk ends normally.
        let walked = walk(&server, &client, style, 20, "&cycle_at=14").await;
        assert_eq!(walked.repeated, None, "{style:?}");
        assert_eq!(walked.records(), records);
    }
}

#[tokio::test]
async fn repeat_last_never_ends() {
    let client = reqwest::Client::new();
    for len in [250, 5, 0] {
        let dataset = Dataset::generate(4, len);
        let server = start(dataset.clone(), 100).await;
        for style in Style::CURSORED {
            let walked = walk(&server, &client, style, 20, "&repeat_last=1").await;
            let pages = len.div_ceil(20).max(1);
            let expected = match (style, len) {
                // An empty Stripe page has no last record to repeat.
                (Style::LastRecord, 0) => None,
                // The last record's id was never a cursor before: one more page.
                (Style::LastRecord, _) => Some(pages + 1),
                // A single page hands out `c_0` / `page=1`, unseen so far.
                (_, 0..=20) => Some(2),
                _ => Some(pages),
            };
            assert_eq!(
                walked.repeated.as_ref().map(|r| r.1),
                expected,
                "{style:?} len {len}"
            );
            let firsts: Vec<String> = walked.pages[..pages].concat();
            assert_eq!(firsts, dataset.records(), "{style:?} len {len}");
        }
    }
}

#[tokio::test]
async fn switches_ride_along_in_generated_links() {
    let server = start(Dataset::generate(4, 50), 100).await;
    let text = reqwest::get(server.url("/next-url?limit=20&cycle_at=2"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("cycle_at=2&skiptoken=c_14"), "{text}");
    let response = reqwest::get(server.url("/link?per_page=20&repeat_last=1&page=3"))
        .await
        .unwrap();
    let link = response.headers()["link"].to_str().unwrap();
    assert!(
        link.contains("repeat_last=1&page=3>; rel=\"next\""),
        "{link}"
    );
}
