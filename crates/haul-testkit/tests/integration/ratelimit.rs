//! The server-side rate limit and its headers.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use haul_testkit::{Dataset, FakeApi, Faults, RateLimit, ResetStyle, RunningServer};

async fn limited(limit: RateLimit, faults: Option<Faults>) -> RunningServer {
    let mut builder = FakeApi::builder()
        .dataset(Dataset::generate(2, 30))
        .default_page_size(10)
        .rate_limit(limit);
    if let Some(faults) = faults {
        builder = builder.faults(faults);
    }
    builder.build().start().await.unwrap()
}

fn header(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
}

fn num(response: &reqwest::Response, name: &str) -> u64 {
    header(response, name).unwrap().parse().unwrap()
}

fn epoch_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test]
async fn advertises_the_limit_and_refuses_past_it() {
    let server = limited(RateLimit::new(3, Duration::from_secs(60)), None).await;
    let client = reqwest::Client::new();
    for remaining in [2, 1, 0] {
        let before = epoch_now();
        let response = client.get(server.url("/items")).send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(num(&response, "x-ratelimit-limit"), 3);
        assert_eq!(num(&response, "x-ratelimit-remaining"), remaining);
        // Epoch seconds: the window's end, within the minute ahead.
        let reset = num(&response, "x-ratelimit-reset");
        assert!(reset > before && reset <= epoch_now() + 61, "{reset}");
        assert_eq!(header(&response, "ratelimit-policy"), None);
    }
    let response = client.get(server.url("/offset")).send().await.unwrap();
    assert_eq!(response.status(), 429);
    assert_eq!(num(&response, "x-ratelimit-remaining"), 0);
    let retry_after = num(&response, "retry-after");
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    // Probes are outside the limit.
    let response = client.get(server.url("/bytes?n=1")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-ratelimit-limit"), None);
    let stats = server.stats();
    assert_eq!((stats.over_limit_429, stats.injected_429), (1, 0));
    assert_eq!((stats.pages_served, stats.data_requests), (3, 4));
}

#[tokio::test(start_paused = true)]
async fn the_window_reopens_on_tokio_time() {
    let limit = RateLimit::new(2, Duration::from_secs(10))
        .reset_style(ResetStyle::DeltaSeconds)
        .with_ietf_headers();
    let server = limited(limit, None).await;
    // No idle-pool timer, so paused time moves only when the test says.
    let client = reqwest::Client::builder()
        .pool_idle_timeout(None)
        .build()
        .unwrap();
    let get = || client.get(server.url("/items")).send();
    let first = get().await.unwrap();
    assert_eq!(num(&first, "x-ratelimit-reset"), 10);
    assert_eq!(
        header(&first, "ratelimit-policy").unwrap(),
        "\"default\";q=2;w=10"
    );
    assert_eq!(header(&first, "ratelimit").unwrap(), "\"default\";r=1;t=10");
    tokio::time::advance(Duration::from_millis(3_500)).await;
    let second = get().await.unwrap();
    assert_eq!(num(&second, "x-ratelimit-reset"), 7);
    assert_eq!(header(&second, "ratelimit").unwrap(), "\"default\";r=0;t=7");
    let refused = get().await.unwrap();
    assert_eq!(refused.status(), 429);
    assert_eq!(num(&refused, "retry-after"), 7);
    tokio::time::advance(Duration::from_millis(6_500)).await;
    let reopened = get().await.unwrap();
    assert_eq!(reopened.status(), 200);
    assert_eq!(num(&reopened, "x-ratelimit-remaining"), 1);
    assert_eq!(num(&reopened, "x-ratelimit-reset"), 10);
    assert_eq!(server.stats().over_limit_429, 1);
}

#[tokio::test]
async fn injected_and_over_limit_429s_are_counted_apart() {
    let faults = Faults {
        p_429: 1.0,
        ..Faults::default()
    };
    let server = limited(RateLimit::new(2, Duration::from_secs(60)), Some(faults)).await;
    let client = reqwest::Client::new();
    for remaining in [1, 0, 0] {
        let response = client.get(server.url("/items")).send().await.unwrap();
        assert_eq!(response.status(), 429);
        // Every data response advertises the limit, faults included.
        assert_eq!(num(&response, "x-ratelimit-remaining"), remaining);
        assert!(header(&response, "retry-after").is_some());
    }
    let stats = server.stats();
    assert_eq!((stats.injected_429, stats.over_limit_429), (2, 1));
    assert_eq!(stats.faults_injected(), 2);
}
