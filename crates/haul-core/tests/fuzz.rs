//! Property and fuzz tests for the parsers and redaction of `haul-core`:
//! JSON-pointer lookups never panic on any text and agree with
//! `serde_json::Value::pointer` on well-formed JSON, and a secret in a
//! sensitive query parameter, the password or a credential header never
//! appears in a `MaskedUrl`, a `Request`/`Response` `Debug` or a stored
//! checkpoint URL. Every property runs 10,000 cases.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use haul_core::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use haul_core::redact::{DEFAULT_SENSITIVE_PARAMS, SENSITIVE_HEADERS};
use haul_core::url::Url;
use haul_core::url::form_urlencoded;
use haul_core::{MaskedUrl, Request, Response, SavedRequest, body_preview, json};
use proptest::prelude::*;
use serde_json::Value;

const CASES: u32 = 10_000;

// ---------------------------------------------------------------- strategies

/// Any JSON value, a few levels deep, with keys that need pointer escaping.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-1e300f64..1e300).prop_map(Value::from),
        "\\PC{0,8}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec(("[a-z~/0-9 ]{0,4}", inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// A JSON pointer: up to four tokens of key-like or index-like text, escaped.
fn pointer_text() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof!["[a-z~/0-9 ]{0,4}", "[0-9]{1,2}", Just("-".to_owned())],
        0..4,
    )
    .prop_map(|tokens| {
        tokens
            .iter()
            .map(|t| format!("/{}", t.replace('~', "~0").replace('/', "~1")))
            .collect()
    })
}

/// A secret that cannot occur by chance in the rest of a generated URL
/// (which is built from lowercase ASCII only): an upper-case marker plus
/// arbitrary printable text, including characters that must be encoded.
fn secret() -> impl Strategy<Value = String> {
    "\\PC{0,16}".prop_map(|tail| format!("SEKRET{tail}"))
}

/// A sensitive query parameter name from the default list, in any case.
fn sensitive_param() -> impl Strategy<Value = String> {
    (prop::sample::select(DEFAULT_SENSITIVE_PARAMS), any::<u64>()).prop_map(|(name, bits)| {
        name.chars()
            .enumerate()
            .map(|(i, c)| {
                if bits >> (i % 64) & 1 == 1 {
                    c.to_ascii_uppercase()
                } else {
                    c
                }
            })
            .collect()
    })
}

/// Query parameters that carry no secret (lowercase, never a sensitive name).
fn plain_params() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec(("[a-z]{1,6}", "[a-z0-9 =&%]{0,6}"), 0..4).prop_map(|pairs| {
        pairs
            .into_iter()
            .filter(|(k, _)| !haul_core::redact::is_sensitive_param(k))
            .collect()
    })
}

/// The renderings a secret could take in text: raw, form-encoded and
/// percent-encoded (with the default set `url` uses for queries).
fn renderings(secret: &str) -> Vec<String> {
    let form: String = form_urlencoded::byte_serialize(secret.as_bytes()).collect();
    let mut pct = Url::parse("http://h.example/").unwrap();
    pct.set_query(Some(secret));
    let pct = pct.query().unwrap_or_default().to_owned();
    let mut out = vec![secret.to_owned(), form, pct];
    out.sort();
    out.dedup();
    out
}

fn assert_hidden(text: &str, secret: &str) -> Result<(), TestCaseError> {
    for form in renderings(secret) {
        prop_assert!(
            !text.contains(&form),
            "secret {:?} (as {:?}) leaked into {}",
            secret,
            form,
            text
        );
    }
    Ok(())
}

/// A URL on a lowercase host and path with the plain parameters and the
/// secret under `name`, in a random position.
fn url_with_secret(
    path: &str,
    plain: &[(String, String)],
    name: &str,
    secret: &str,
    at: usize,
) -> Url {
    let mut url = Url::parse("https://api.example.com/").unwrap();
    url.set_path(path);
    {
        let mut q = url.query_pairs_mut();
        for (i, (k, v)) in plain.iter().enumerate() {
            if i == at {
                q.append_pair(name, secret);
            }
            q.append_pair(k, v);
        }
        if at >= plain.len() {
            q.append_pair(name, secret);
        }
    }
    url
}

fn config() -> ProptestConfig {
    ProptestConfig {
        // A failure prints its minimal input; no regression files in the tree.
        failure_persistence: None,
        ..ProptestConfig::with_cases(CASES)
    }
}

// ---------------------------------------------------------------- JSON pointer

proptest! {
    #![proptest_config(config())]

    /// Any text with any pointer: an answer or a typed error, never a panic.
    #[test]
    fn pointer_never_panics_on_arbitrary_text(text in "\\PC{0,48}", ptr in "\\PC{0,12}") {
        let _ = json::pointer(&text, &ptr);
        let _ = json::scalar_at(&text, &ptr);
        let _ = json::u64_at(&text, &ptr);
        let _ = json::bool_at(&text, &ptr);
        let _ = json::array_items(&text);
    }

    /// Near-JSON text (JSON punctuation and fragments) reaches deeper into
    /// the parser than arbitrary text does.
    #[test]
    fn pointer_never_panics_on_json_like_text(
        text in r#"[\[\]{}:,"0-9a-z\\ .eE+\-]{0,64}"#,
        ptr in pointer_text(),
    ) {
        let _ = json::pointer(&text, &ptr);
        let _ = json::scalar_at(&text, &ptr);
        let _ = json::array_items(&text);
    }

    /// Invalid JSON is an error whatever the pointer (the walk validates the
    /// whole input, siblings and trailing characters included), and
    /// `array_at` agrees with `pointer` followed by `array_items`.
    #[test]
    fn invalid_json_is_always_an_error(
        text in r#"[\[\]{}:,"0-9a-z\\ .eE+\-]{0,64}"#,
        ptr in pointer_text(),
    ) {
        let valid = serde_json::from_str::<serde::de::IgnoredAny>(&text).is_ok();
        let found = json::pointer(&text, &ptr);
        let array = json::array_at(&text, &ptr);
        if !valid {
            prop_assert!(found.is_err(), "{:?} at {:?} gave {:?}", text, ptr, found);
            prop_assert!(array.is_err(), "{:?} at {:?}", text, ptr);
        } else {
            let found = found.unwrap();
            match (array.unwrap(), found) {
                (json::ArrayAt::Missing, None) => {}
                (json::ArrayAt::Null, Some(raw)) => prop_assert_eq!(raw.get(), "null"),
                (json::ArrayAt::Items(items), Some(raw)) => {
                    let split = json::array_items(raw.get()).unwrap();
                    let got: Vec<&str> = items.iter().map(|r| r.get()).collect();
                    let want: Vec<&str> = split.iter().map(|r| r.get()).collect();
                    prop_assert_eq!(got, want);
                }
                (json::ArrayAt::NotAnArray, Some(raw)) => {
                    prop_assert!(!raw.get().starts_with('[') && raw.get() != "null");
                }
                (array, found) => prop_assert!(false, "array_at {:?} vs pointer {:?}", array, found.map(|r| r.get())),
            }
        }
    }

    /// On well-formed JSON, the pointer finds exactly what serde_json's
    /// `Value::pointer` finds (the raw text parses back to the same value).
    #[test]
    fn pointer_agrees_with_value_pointer(value in json_value(), ptr in pointer_text()) {
        let text = value.to_string();
        let ours = json::pointer(&text, &ptr).unwrap();
        let theirs = value.pointer(&ptr);
        match (ours, theirs) {
            (None, None) => {}
            // Compared as text: the raw slice is the child's own serialization
            // (parsing floats back would compare serde_json's rounding instead).
            (Some(raw), Some(v)) => prop_assert_eq!(raw.get(), v.to_string()),
            (ours, theirs) => prop_assert!(false, "pointer {:?} on {}: ours {:?}, serde {:?}", ptr, text, ours.map(|r| r.get()), theirs),
        }
        // `array_at` classifies the same value and splits arrays exactly.
        match (json::array_at(&text, &ptr).unwrap(), theirs) {
            (json::ArrayAt::Missing, None) | (json::ArrayAt::Null, Some(Value::Null)) => {}
            (json::ArrayAt::Items(items), Some(Value::Array(want))) => {
                let got: Vec<&str> = items.iter().map(|r| r.get()).collect();
                let want: Vec<String> = want.iter().map(Value::to_string).collect();
                prop_assert_eq!(got, want);
            }
            (json::ArrayAt::NotAnArray, Some(v)) => prop_assert!(!v.is_array() && !v.is_null()),
            (got, want) => prop_assert!(false, "array_at {:?} on {} at {:?}: serde {:?}", got, text, ptr, want),
        }
    }

    /// `array_items` splits any JSON array into exactly its elements.
    #[test]
    fn array_items_matches_the_array(items in prop::collection::vec(json_value(), 0..8)) {
        let text = Value::Array(items.clone()).to_string();
        let raw = json::array_items(&text).unwrap();
        prop_assert_eq!(raw.len(), items.len());
        for (raw, item) in raw.iter().zip(&items) {
            prop_assert_eq!(raw.get(), item.to_string());
        }
    }
}

/// Deep nesting is an error (serde_json's recursion limit), not a stack overflow.
#[test]
fn deeply_nested_json_is_an_error_not_a_crash() {
    for open in ["[", "{\"a\":"] {
        let text = open.repeat(100_000);
        assert!(json::pointer(&text, "/0").is_err());
        assert!(json::pointer(&text, "").is_err());
        assert!(json::array_items(&text).is_err());
    }
    let deep = format!("{}1{}", "[".repeat(120), "]".repeat(120));
    let ptr = "/0".repeat(120);
    assert_eq!(json::scalar_at(&deep, &ptr).unwrap().as_deref(), Some("1"));
}

// ---------------------------------------------------------------- redaction

proptest! {
    #![proptest_config(config())]

    /// A secret in a sensitive query parameter (any case, any position, any
    /// characters) never reaches a `MaskedUrl`, `Request`/`Response` `Debug`
    /// or a checkpoint's stored URL; the other parameters stay readable.
    #[test]
    fn sensitive_query_values_never_render(
        path in "(/[a-z]{0,5}){0,3}",
        plain in plain_params(),
        name in sensitive_param(),
        secret in secret(),
        at in 0usize..5,
    ) {
        let url = url_with_secret(&path, &plain, &name, &secret, at);
        let masked = MaskedUrl::new(&url).to_string();
        assert_hidden(&masked, &secret)?;
        for (k, _) in &plain {
            prop_assert!(masked.contains(k.as_str()), "{} lost {}", masked, k);
        }
        prop_assert_eq!(MaskedUrl::parse(url.as_str()).to_string(), masked.clone());

        let request = Request::get(url.clone());
        assert_hidden(&format!("{request:?}"), &secret)?;
        assert_hidden(&request.masked_url().to_string(), &secret)?;
        let response = Response::new(StatusCode::OK, url.clone(), "[]");
        assert_hidden(&format!("{response:?}"), &secret)?;

        let saved = SavedRequest::from_request_without(&request, &haul_core::redact::is_sensitive_param);
        assert_hidden(&saved.url, &secret)?;
        assert_hidden(&serde_json::to_string(&saved).unwrap(), &secret)?;
    }

    /// The password of a URL never renders.
    #[test]
    fn url_passwords_never_render(user in "[a-z]{1,6}", secret in "[A-Za-z0-9!$'()*+,;=_.~-]{0,12}", plain in plain_params()) {
        let secret = format!("SEKRET{secret}");
        let mut url = Url::parse("https://api.example.com/v1").unwrap();
        url.set_username(&user).unwrap();
        url.set_password(Some(&secret)).unwrap();
        url.query_pairs_mut().extend_pairs(&plain);
        let masked = MaskedUrl::new(&url).to_string();
        assert_hidden(&masked, &secret)?;
        assert_hidden(&format!("{:?}", Request::get(url.clone())), &secret)?;
        assert_hidden(&format!("{:?}", Response::new(StatusCode::OK, url, "")), &secret)?;
    }

    /// A credential header (any listed name, any case, any value a header
    /// can carry) is masked in the `Debug` of requests and responses, and
    /// neither `Debug` prints a body.
    #[test]
    fn credential_headers_never_render(
        name in prop::sample::select(SENSITIVE_HEADERS),
        upper in any::<bool>(),
        scheme in prop::sample::select(&["", "Bearer ", "Basic ", "token "][..]),
        secret in "[!-~]{0,24}",
        other in prop::collection::vec(("x-[a-z]{1,6}", "[a-z0-9 ]{0,8}"), 0..4),
    ) {
        let secret = format!("SEKRET{secret}");
        let name = if upper { name.to_ascii_uppercase() } else { name.to_owned() };
        let mut headers = HeaderMap::new();
        for (k, v) in &other {
            headers.append(HeaderName::try_from(k.as_str()).unwrap(), HeaderValue::from_str(v).unwrap());
        }
        headers.append(
            HeaderName::try_from(name.as_str()).unwrap(),
            HeaderValue::from_str(&format!("{scheme}{secret}")).unwrap(),
        );
        let url = Url::parse("https://api.example.com/items").unwrap();
        let mut request = Request::new(Method::POST, url.clone());
        request.headers = headers.clone();
        request.body = Some(format!("{{\"password\":\"{secret}\"}}").into());
        assert_hidden(&format!("{request:?}"), &secret)?;
        let mut response = Response::new(StatusCode::OK, url, format!("{{\"token\":\"{secret}\"}}"));
        response.headers = headers;
        assert_hidden(&format!("{response:?}"), &secret)?;
    }

    /// A header value marked sensitive (as every credential `AuthTransport`
    /// attaches is, whatever the header's name, e.g. an `ApiKey::header`
    /// named `private-token`) is masked in `Debug` too.
    #[test]
    fn values_marked_sensitive_never_render(
        name in "[a-z]{1,8}(-[a-z]{1,8})?",
        secret in "[!-~]{0,24}",
    ) {
        let secret = format!("SEKRET{secret}");
        let mut value = HeaderValue::from_str(&secret).unwrap();
        value.set_sensitive(true);
        let request = Request::get(Url::parse("https://api.example.com/items").unwrap())
            .with_header(HeaderName::try_from(name.as_str()).unwrap(), value);
        assert_hidden(&format!("{request:?}"), &secret)?;
    }

    /// Query manipulation never panics and round-trips any name and value.
    #[test]
    fn query_set_and_remove_round_trip(
        base in prop::collection::vec(("\\PC{0,6}", "\\PC{0,6}"), 0..4),
        name in "\\PC{0,8}",
        value in "\\PC{0,8}",
    ) {
        let mut url = Url::parse("https://api.example.com/items").unwrap();
        if !base.is_empty() {
            url.query_pairs_mut().extend_pairs(&base);
        }
        let mut request = Request::get(url);
        request.set_query(&name, &value);
        prop_assert_eq!(request.query(&name), Some(value.clone()));
        request.remove_query(&name);
        prop_assert_eq!(request.query(&name), None);
    }

    /// Body previews are bounded and never split a character.
    #[test]
    fn body_preview_is_bounded(body in prop::collection::vec(any::<u8>(), 0..1200)) {
        let preview = body_preview(&body);
        // Invalid bytes become U+FFFD (3 bytes each).
        prop_assert!(preview.len() <= 3 * 500 + "…".len(), "{}", preview.len());
        let text = String::from_utf8_lossy(&body);
        if body.len() <= 500 {
            prop_assert_eq!(preview, text.into_owned());
        } else {
            prop_assert!(preview.ends_with('…'));
        }
    }

    /// `mask_value` never panics and never shows more than 24 characters.
    #[test]
    fn mask_value_is_bounded(value in "\\PC{0,64}") {
        let masked = haul_core::redact::mask_value(&value);
        prop_assert!(masked.chars().count() <= 25);
    }
}
