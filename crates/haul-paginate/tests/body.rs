//! `set_json_field`: placing values into JSON request bodies.

use haul_core::Request;
use haul_paginate::{PaginateError, set_json_field};
use serde_json::json;

use crate::support::*;

fn body(req: &Request) -> serde_json::Value {
    serde_json::from_slice(req.body.as_deref().unwrap()).unwrap()
}

#[test]
fn creates_missing_objects_and_keeps_the_rest() {
    let mut req = Request::post_json(
        BASE.parse().unwrap(),
        r#"{"query":"q","variables":{"n":1}}"#,
    );
    set_json_field(&mut req, "/variables/after", json!("c2")).unwrap();
    assert_eq!(
        body(&req),
        json!({"query":"q","variables":{"n":1,"after":"c2"}})
    );
    set_json_field(&mut req, "/variables/after", json!("c3")).unwrap();
    assert_eq!(body(&req)["variables"]["after"], "c3");
}

#[test]
fn a_request_without_body_gets_a_json_object() {
    let mut req = base();
    set_json_field(&mut req, "/a~1b/c~0d", json!(5)).unwrap();
    assert_eq!(body(&req), json!({"a/b":{"c~d":5}}));
    assert_eq!(req.headers["content-type"], "application/json");
}

#[test]
fn array_indexes_and_null_parents_are_handled() {
    let mut req = Request::post_json(BASE.parse().unwrap(), r#"{"list":[{},{}],"v":null}"#);
    set_json_field(&mut req, "/list/1/x", json!(true)).unwrap();
    set_json_field(&mut req, "/v/w", json!(1)).unwrap();
    assert_eq!(body(&req), json!({"list":[{},{"x":true}],"v":{"w":1}}));
}

#[test]
fn impossible_placements_are_config_errors() {
    for (start, pointer) in [
        (r#"{"a":1}"#, "/a/b"),
        (r#"{"list":[]}"#, "/list/3"),
        (r#"not json"#, "/a"),
        (r#"{}"#, "a"),
    ] {
        let mut req = Request::post_json(BASE.parse().unwrap(), start);
        let err = set_json_field(&mut req, pointer, json!(1)).unwrap_err();
        assert!(
            matches!(err, PaginateError::Config(_)),
            "{start} {pointer}: {err}"
        );
    }
}
