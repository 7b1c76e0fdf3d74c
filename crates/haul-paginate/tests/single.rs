//! `SinglePage`: one request, one page.

use haul_paginate::{PaginateError, RecordSelector, SinglePage};
use proptest::prelude::*;

use crate::support::*;

#[test]
fn single_page_never_asks_for_more() {
    let mut requests = 0;
    let seen = walk(&SinglePage::new().records_at("/data"), None, |req| {
        requests += 1;
        ok(
            req,
            format!(r#"{{"data":{},"next":"ignored"}}"#, array(0..3)),
        )
    })
    .unwrap();
    assert_eq!(seen, dataset(3));
    assert_eq!(requests, 1);
}

#[test]
fn single_page_reads_ndjson() {
    let pager = SinglePage::new().selector(RecordSelector::Ndjson);
    let seen = walk(&pager, None, |req| ok(req, "{\"id\":0}\n\n{\"id\":1}\n")).unwrap();
    assert_eq!(seen, dataset(2));
}

#[test]
fn single_page_bad_ndjson_line_is_not_json() {
    let pager = SinglePage::new().selector(RecordSelector::Ndjson);
    let err = walk(&pager, None, |req| ok(req, "{\"id\":0}\n{\"id\":")).unwrap_err();
    assert!(matches!(err, PaginateError::NotJson { .. }), "{err}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn single_walk_yields_every_record_once_in_order(len in 0usize..3000) {
        let seen = walk(&SinglePage::new(), Some(1), |req| ok(req, array(0..len))).unwrap();
        prop_assert_eq!(seen, dataset(len));
    }
}
