//! What an embedder touches first: the builder's shortcuts, the counting
//! sink, and errors that map to exit codes and name what to call.

use std::time::Duration;

use haul::{
    CountingSink, CursorPaginator, ErrorKind, ExtractError, Extractor, NullSink, ReqwestTransport,
};
use haul_testkit::{Dataset, FakeApi, RunningServer};

async fn serve(records: usize) -> RunningServer {
    FakeApi::builder()
        .dataset(Dataset::generate(5, records))
        .record_requests(true)
        .build()
        .start()
        .await
        .expect("fake api starts")
}

fn paginator() -> CursorPaginator {
    CursorPaginator::new("/next_cursor", "cursor")
        .records_at("/data")
        .page_size("limit", 40)
}

#[tokio::test]
async fn header_and_query_shortcuts_reach_every_request() {
    let server = serve(100).await;
    let extractor = Extractor::builder()
        .url(server.url("/items?limit=5").as_str())
        .paginator(paginator())
        .header("X-Tenant", "acme")
        .header("Authorization", "Bearer s3cret")
        .query("include", "all")
        .connect_timeout(Duration::from_secs(2))
        .read_timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let sink = CountingSink::new();
    let summary = extractor.run(&sink).await.unwrap();
    assert_eq!((summary.records, summary.pages), (100, 3));
    assert_eq!((sink.records(), sink.batches()), (100, 1));
    assert!(sink.checkpoint("default").unwrap().is_done());
    let seen = server.seen_requests();
    assert_eq!(seen.len(), 3);
    for request in &seen {
        assert_eq!(request.header("x-tenant"), Some("acme"));
        assert_eq!(request.header("authorization"), Some("Bearer s3cret"));
        assert!(request.query.as_deref().unwrap().contains("include=all"));
    }
    // The Authorization header is marked sensitive: masked in Debug output.
    assert!(!format!("{extractor:?}").contains("s3cret"));
}

#[test]
fn timeouts_with_a_custom_transport_are_a_build_error() {
    let error = Extractor::builder()
        .url("https://api.example.com/items")
        .paginator(paginator())
        .transport(ReqwestTransport::new().unwrap())
        .read_timeout(Duration::from_secs(1))
        .build()
        .unwrap_err();
    assert!(
        error.to_string().contains("ReqwestTransport::builder()"),
        "{error}"
    );
    let error = Extractor::builder()
        .url("https://api.example.com/items")
        .paginator(paginator())
        .header("bad header", "x")
        .build()
        .unwrap_err();
    assert!(error.to_string().contains("bad header"), "{error}");
    let error = Extractor::builder()
        .url("https://api.example.com/items")
        .build()
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "missing paginator: call `ExtractorBuilder::paginator`"
    );
}

#[tokio::test]
async fn errors_have_a_kind_and_name_the_builder_method() {
    let server = serve(10).await;
    // A 404 is a client error.
    let error = Extractor::builder()
        .url(server.url("/nowhere").as_str())
        .paginator(paginator())
        .build()
        .unwrap()
        .run(&NullSink)
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::HttpClient, "{error}");
    assert!(std::ptr::eq(error.root(), &error));

    // A next page on another origin names the call that allows it.
    let other = serve(10).await;
    let linked = FakeApi::builder()
        .dataset(Dataset::generate(5, 100))
        .link_base(other.url("/"))
        .build()
        .start()
        .await
        .unwrap();
    let error = Extractor::builder()
        .url(linked.url("/next-url?limit=40").as_str())
        .paginator(haul::NextUrlPaginator::new("/@odata.nextLink").records_at("/value"))
        .build()
        .unwrap()
        .run(&NullSink)
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Pagination, "{error}");
    assert!(
        error
            .to_string()
            .contains("ExtractorBuilder::allow_cross_origin(true)"),
        "{error}"
    );
    assert!(matches!(error, ExtractError::Paginate(_)));
}
