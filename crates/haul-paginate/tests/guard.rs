//! `Guard`: cycles, max pages and origins, whatever the style.

use haul_core::Request;
use haul_paginate::{Guard, PageState, PaginateError};

fn get(url: &str) -> Request {
    Request::get(url.parse().unwrap())
}

#[test]
fn a_cycle_names_the_repeated_value_masked_and_the_page() {
    let mut guard = Guard::new(None);
    let long = "c".repeat(100);
    guard
        .admit(
            &get(&format!("https://a.example/x?cursor={long}&token=s3cr3t")),
            0,
        )
        .unwrap();
    guard
        .admit(&get("https://a.example/x?cursor=B&token=s3cr3t"), 1)
        .unwrap();
    let err = guard
        .admit(
            &get(&format!("https://a.example/x?cursor={long}&token=s3cr3t")),
            7,
        )
        .unwrap_err();
    let PaginateError::CursorCycle { value, page } = &err else {
        panic!("{err}")
    };
    assert_eq!(*page, 7);
    assert!(
        value.starts_with(&format!("cursor={}…", "c".repeat(24))),
        "{value}"
    );
    assert!(!value.contains("s3cr3t"), "{value}");
}

#[test]
fn a_repeated_sensitive_parameter_is_masked() {
    let mut guard = Guard::new(None);
    guard
        .admit(&get("https://a.example/x?token=t1"), 0)
        .unwrap();
    guard
        .admit(&get("https://a.example/x?token=t2"), 1)
        .unwrap();
    let err = guard
        .admit(&get("https://a.example/x?token=t1"), 2)
        .unwrap_err();
    assert!(
        matches!(&err, PaginateError::CursorCycle { value, .. } if value.starts_with("token=***") && !value.contains("t1")),
        "{err}"
    );
}

#[test]
fn a_repeated_url_is_named_whole() {
    let mut guard = Guard::new(None);
    guard.admit(&get("https://a.example/p/1"), 0).unwrap();
    guard.admit(&get("https://a.example/p/2"), 1).unwrap();
    let err = guard.admit(&get("https://a.example/p/1"), 2).unwrap_err();
    assert!(
        matches!(&err, PaginateError::CursorCycle { value, .. } if value == "GET https://a.example/p/1"),
        "{err}"
    );
}

#[test]
fn max_pages_names_the_next_request_masked() {
    let mut guard = Guard::new(Some(1));
    guard.admit(&get("https://a.example/x?page=1"), 0).unwrap();
    let err = guard
        .admit(&get("https://a.example/x?page=2&api_key=k"), 1)
        .unwrap_err();
    match err {
        PaginateError::MaxPagesExceeded { max, next } => {
            assert_eq!(max, 1);
            assert_eq!(next.as_str(), "https://a.example/x?page=2&api_key=***");
        }
        other => panic!("{other}"),
    }
}

#[test]
fn the_first_request_sets_the_origin_and_default_ports_match() {
    let mut guard = Guard::new(None);
    assert_eq!(guard.origin(), None);
    guard.admit(&get("https://a.example/x"), 0).unwrap();
    assert_eq!(guard.origin(), Some("https://a.example:443"));
    guard.admit(&get("https://a.example:443/y"), 1).unwrap();
    for other in [
        "https://b.example/x",
        "http://a.example/x",
        "https://a.example:8443/x",
        "https://sub.a.example/x",
    ] {
        let err = guard.admit(&get(other), 2).unwrap_err();
        assert!(
            matches!(err, PaginateError::CrossOrigin { .. }),
            "{other}: {err}"
        );
    }
    assert_eq!(guard.admitted(), 2, "refused requests are not remembered");
}

#[test]
fn cross_origin_can_be_allowed_and_the_origin_set_explicitly() {
    let mut guard = Guard::new(None).allow_cross_origin(true);
    guard.admit(&get("https://a.example/x"), 0).unwrap();
    guard.admit(&get("https://b.example/x"), 1).unwrap();
    let mut guard = Guard::new(None).with_origin(&"https://a.example/base".parse().unwrap());
    let err = guard
        .admit(&get("https://b.example/resumed"), 5)
        .unwrap_err();
    match err {
        PaginateError::CrossOrigin { from, to } => {
            assert_eq!(
                (from.as_str(), to.as_str()),
                ("https://a.example:443", "https://b.example:443")
            );
        }
        other => panic!("{other}"),
    }
}

#[test]
fn page_state_round_trips_through_a_checkpoint() {
    let mut state = PageState {
        total: Some(42),
        ..PageState::default()
    };
    state.extra.insert(
        "auto".into(),
        serde_json::json!({"style":"cursor","pointer":"/next","param":"c"}),
    );
    let back = PageState::from_json(&state.to_json()).unwrap();
    assert_eq!(back, state);
    assert!(PageState::from_json(&serde_json::json!({"total":"x"})).is_err());
}
