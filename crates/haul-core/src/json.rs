//! Reading fields out of raw JSON without building a `serde_json::Value` tree.
//!
//! A page body is parsed only along the path a JSON pointer names; everything
//! else is skipped by the parser. This is what keeps haul's hot path cheap.

use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::Deserializer as _;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

/// Why a JSON lookup failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JsonError {
    /// The text is not valid JSON.
    #[error("invalid JSON: {0}")]
    Syntax(#[from] serde_json::Error),
    /// The pointer is malformed (it must be empty or start with `/`).
    #[error("invalid JSON pointer {0:?}: it must be empty or start with '/'")]
    Pointer(String),
}

/// Finds the value at RFC 6901 `pointer` inside `json`, borrowing from it.
///
/// Returns `Ok(None)` when the path does not exist (a missing key, an index
/// out of range, or a path through a scalar).
///
/// ```
/// let body = r#"{"paging":{"next":{"after":"c2"}},"data":[{"id":1}]}"#;
/// let raw = haul_core::json::pointer(body, "/paging/next/after")?.unwrap();
/// assert_eq!(raw.get(), r#""c2""#);
/// assert!(haul_core::json::pointer(body, "/paging/prev")?.is_none());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn pointer<'a>(json: &'a str, pointer: &str) -> Result<Option<&'a RawValue>, JsonError> {
    walk::<&'a RawValue>(json, pointer)
}

/// What [`array_at`] found at a pointer.
#[derive(Debug)]
pub enum ArrayAt<'a> {
    /// The path does not exist.
    Missing,
    /// The value is `null`.
    Null,
    /// An array, split into its elements (borrowed from the input).
    Items(Vec<&'a RawValue>),
    /// Something other than an array or `null`.
    NotAnArray,
}

/// Finds the array at `pointer` and splits it into its elements in the same
/// pass (the record list of a page: one scan of the body, not three).
///
/// ```
/// use haul_core::json::{array_at, ArrayAt};
/// let body = r#"{"data":[{"id":1},{"id":2}],"next":"c2"}"#;
/// let ArrayAt::Items(items) = array_at(body, "/data")? else { panic!() };
/// assert_eq!(items[1].get(), r#"{"id":2}"#);
/// assert!(matches!(array_at(body, "/next")?, ArrayAt::NotAnArray));
/// assert!(matches!(array_at(body, "/none")?, ArrayAt::Missing));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn array_at<'a>(json: &'a str, pointer: &str) -> Result<ArrayAt<'a>, JsonError> {
    Ok(walk::<ArrayAt<'a>>(json, pointer)?.unwrap_or(ArrayAt::Missing))
}

/// The top level of an object body read in one pass: the array under one
/// key (the records), and every member as raw JSON, so later lookups of
/// top-level signals (a cursor, a total) need no second scan of the body.
#[derive(Debug)]
pub struct TopLevel<'a> {
    /// What the array key held ([`ArrayAt::Missing`] when absent).
    pub array: ArrayAt<'a>,
    /// Every member in body order, unescaped key and raw value; the
    /// member read as the array has no raw value (`None`).
    pub members: Vec<(String, Option<&'a RawValue>)>,
}

/// Reads an object body once: the array at top-level `key` (as
/// [`array_at`] with the pointer `/key` would) and every other member as raw
/// JSON. The whole input is validated. `Ok(None)` when the body is not an
/// object (use [`array_at`] then).
///
/// ```
/// use haul_core::json::{array_and_members, ArrayAt};
/// let body = r#"{"data":[{"id":1}],"next_cursor":"c2"}"#;
/// let top = array_and_members(body, "data")?.ok_or("the body is not an object")?;
/// assert!(matches!(top.array, ArrayAt::Items(ref items) if items.len() == 1));
/// assert_eq!(top.members[1].0, "next_cursor");
/// assert_eq!(top.members[1].1.map(|r| r.get()), Some(r#""c2""#));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn array_and_members<'a>(json: &'a str, key: &str) -> Result<Option<TopLevel<'a>>, JsonError> {
    if json.trim_start().as_bytes().first() != Some(&b'{') {
        return Ok(None);
    }
    let mut de = serde_json::Deserializer::from_str(json);
    let top = de.deserialize_map(Members(key))?;
    de.end()?;
    Ok(Some(top))
}

struct Members<'k>(&'k str);

impl<'de> Visitor<'de> for Members<'_> {
    type Value = TopLevel<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut array = None;
        let mut members = Vec::new();
        while let Some(name) = map.next_key::<String>()? {
            if array.is_none() && name == self.0 {
                array = Some(map.next_value::<ArrayAt<'de>>()?);
                members.push((name, None));
            } else {
                let raw = map.next_value::<&'de RawValue>()?;
                members.push((name, Some(raw)));
            }
        }
        Ok(TopLevel {
            array: array.unwrap_or(ArrayAt::Missing),
            members,
        })
    }
}

/// The values of several top-level members of an object, in one pass
/// (`keys` are member names, already unescaped): for each key, the raw
/// value of its first occurrence, or `None` when absent. `Ok(None)` when
/// the text is not an object.
///
/// Reading stops as soon as every key has been found, so whatever follows
/// is not validated: this is for text already known to be valid JSON, such
/// as a [`Record`](crate::Record) (a record's key and watermark, usually
/// its first members, then cost a fraction of a full parse).
///
/// ```
/// let record = r#"{"id":7,"name":"x","updated_at":"2026-01-02"}"#;
/// let found = haul_core::json::members_at(record, &["id", "updated_at", "gone"])?
///     .ok_or("the record is not an object")?;
/// assert_eq!(found[0].map(|r| r.get()), Some("7"));
/// assert_eq!(found[1].map(|r| r.get()), Some(r#""2026-01-02""#));
/// assert!(found[2].is_none());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn members_at<'a>(
    json: &'a str,
    keys: &[&str],
) -> Result<Option<Vec<Option<&'a RawValue>>>, JsonError> {
    if json.trim_start().as_bytes().first() != Some(&b'{') {
        return Ok(None);
    }
    // The first listing of each key is filled; a repeated key copies it.
    let distinct = (0..keys.len())
        .filter(|&i| !keys[..i].contains(&keys[i]))
        .count();
    let mut found = vec![None; keys.len()];
    let mut got = 0usize;
    let mut de = serde_json::Deserializer::from_str(json);
    let read = de.deserialize_map(Wanted {
        keys,
        found: &mut found,
        got: &mut got,
        distinct,
    });
    match read {
        Ok(()) => de.end()?,
        // The visitor stops early once everything was found.
        Err(_) if distinct > 0 && got == distinct => {}
        Err(e) => return Err(e.into()),
    }
    for i in 0..keys.len() {
        if let Some(first) = keys[..i].iter().position(|k| *k == keys[i]) {
            found[i] = found[first];
        }
    }
    Ok(Some(found))
}

struct Wanted<'k, 'f, 'de> {
    keys: &'k [&'k str],
    found: &'f mut Vec<Option<&'de RawValue>>,
    got: &'f mut usize,
    distinct: usize,
}

impl<'de> Visitor<'de> for Wanted<'_, '_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(index) = map.next_key_seed(KeyIndex(self.keys))? {
            match index {
                Some(i) if self.found[i].is_none() => {
                    self.found[i] = Some(map.next_value::<&'de RawValue>()?);
                    *self.got += 1;
                    if *self.got == self.distinct {
                        // Everything wanted is here: stop reading (the
                        // caller tells this from a real error by the count).
                        return Err(de::Error::custom("all wanted members found"));
                    }
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

/// Which of the wanted keys a member's name is, if any.
struct KeyIndex<'k>(&'k [&'k str]);

impl<'de> DeserializeSeed<'de> for KeyIndex<'_> {
    type Value = Option<usize>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Option<usize>, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeyIndex<'_> {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Option<usize>, E> {
        Ok(self.0.iter().position(|k| *k == v))
    }
}

/// Walks `pointer` through `json`, deserializing the value at its end as `T`.
///
/// Each level is parsed once: the value at a token is captured while its
/// siblings are skipped, and the whole input is validated on the way (with a
/// check for trailing characters), without a separate validation pass.
fn walk<'a, T: Deserialize<'a>>(json: &'a str, pointer: &str) -> Result<Option<T>, JsonError> {
    let tokens: Vec<String> = if pointer.is_empty() {
        Vec::new()
    } else {
        let Some(rest) = pointer.strip_prefix('/') else {
            return Err(JsonError::Pointer(pointer.to_owned()));
        };
        rest.split('/')
            .map(|t| t.replace("~1", "/").replace("~0", "~"))
            .collect()
    };
    let Some((last, path)) = tokens.split_last() else {
        let mut de = serde_json::Deserializer::from_str(json);
        let value = T::deserialize(&mut de)?;
        de.end()?;
        return Ok(Some(value));
    };
    let mut text = json;
    for (depth, token) in path.iter().enumerate() {
        let mut de = serde_json::Deserializer::from_str(text);
        let found = step::<&'a RawValue>(&mut de, text, token)?;
        if depth == 0 {
            de.end()?;
        }
        match found {
            Some(raw) => text = raw.get(),
            None => return Ok(None),
        }
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let found = step::<T>(&mut de, text, last)?;
    if path.is_empty() {
        de.end()?;
    }
    Ok(found)
}

/// One level of a walk: the member `token` of an object, or the element at
/// index `token` of an array; `None` for anything else (the value is still
/// parsed, so invalid input is an error).
fn step<'a, T: Deserialize<'a>>(
    de: &mut serde_json::Deserializer<serde_json::de::StrRead<'a>>,
    text: &'a str,
    token: &str,
) -> Result<Option<T>, JsonError> {
    match text.trim_start().as_bytes().first() {
        Some(b'{') => Ok(de.deserialize_map(FindKey::<T>(token, PhantomData))?),
        Some(b'[') => match token.parse::<usize>() {
            Ok(index) if !token.starts_with('+') && (token == "0" || !token.starts_with('0')) => {
                Ok(de.deserialize_seq(FindIndex::<T>(index, PhantomData))?)
            }
            _ => {
                IgnoredAny::deserialize(&mut *de)?;
                Ok(None)
            }
        },
        _ => {
            IgnoredAny::deserialize(&mut *de)?;
            Ok(None)
        }
    }
}

/// A scalar read at a pointer, as the text an API expects back in a query
/// parameter: strings unquoted, numbers and booleans as written.
/// `null`, an empty string, objects and arrays give `None`.
///
/// Large integers keep their exact digits (no trip through `f64`).
///
/// ```
/// let body = r#"{"next":"abc","id":9007199254740993,"none":null,"empty":""}"#;
/// assert_eq!(haul_core::json::scalar_at(body, "/next")?.as_deref(), Some("abc"));
/// assert_eq!(haul_core::json::scalar_at(body, "/id")?.as_deref(), Some("9007199254740993"));
/// assert_eq!(haul_core::json::scalar_at(body, "/none")?, None);
/// assert_eq!(haul_core::json::scalar_at(body, "/empty")?, None);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn scalar_at(json: &str, at: &str) -> Result<Option<String>, JsonError> {
    match pointer(json, at)? {
        Some(raw) => scalar(raw),
        None => Ok(None),
    }
}

/// Converts a raw scalar as [`scalar_at`] does.
pub fn scalar(raw: &RawValue) -> Result<Option<String>, JsonError> {
    let text = raw.get();
    Ok(match text.as_bytes().first() {
        Some(b'"') => {
            let s: String = serde_json::from_str(text)?;
            (!s.is_empty()).then_some(s)
        }
        Some(b'n') | Some(b'{') | Some(b'[') | None => None,
        Some(_) => Some(text.to_owned()),
    })
}

/// Reads a boolean at a pointer; `None` when missing or not a boolean.
pub fn bool_at(json: &str, at: &str) -> Result<Option<bool>, JsonError> {
    Ok(match pointer(json, at)?.map(RawValue::get) {
        Some("true") => Some(true),
        Some("false") => Some(false),
        _ => None,
    })
}

/// Reads a non-negative integer at a pointer (a number or a numeric string).
pub fn u64_at(json: &str, at: &str) -> Result<Option<u64>, JsonError> {
    Ok(scalar_at(json, at)?.and_then(|s| s.parse::<u64>().ok()))
}

/// Splits a JSON array into its elements, borrowing from the input.
pub fn array_items(json: &str) -> Result<Vec<&RawValue>, JsonError> {
    Ok(serde_json::from_str::<Vec<&RawValue>>(json)?)
}

struct FindKey<'k, T>(&'k str, PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for FindKey<'_, T> {
    type Value = Option<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(is_match) = map.next_key_seed(KeyEquals(self.0))? {
            if is_match && found.is_none() {
                found = Some(map.next_value::<T>()?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }
}

struct KeyEquals<'k>(&'k str);

impl<'de> DeserializeSeed<'de> for KeyEquals<'_> {
    type Value = bool;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeyEquals<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<bool, E> {
        Ok(v == self.0)
    }
}

struct FindIndex<T>(usize, PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for FindIndex<T> {
    type Value = Option<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON array")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut i = 0usize;
        let mut found = None;
        loop {
            if i == self.0 {
                match seq.next_element::<T>()? {
                    Some(v) => found = Some(v),
                    None => break,
                }
            } else if seq.next_element::<IgnoredAny>()?.is_none() {
                break;
            }
            i += 1;
        }
        Ok(found)
    }
}

impl<'de> Deserialize<'de> for ArrayAt<'de> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ArrayAtVisitor)
    }
}

struct ArrayAtVisitor;

impl<'de> Visitor<'de> for ArrayAtVisitor {
    type Value = ArrayAt<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(64));
        while let Some(item) = seq.next_element::<&'de RawValue>()? {
            items.push(item);
        }
        Ok(ArrayAt::Items(items))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(ArrayAt::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(ArrayAt::Null)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(ArrayAt::NotAnArray)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(ArrayAt::NotAnArray)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(ArrayAt::NotAnArray)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(ArrayAt::NotAnArray)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(ArrayAt::NotAnArray)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(ArrayAt::NotAnArray)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn members_at_reads_like_pointer_lookups() {
        let body = r#"{"id":1,"a":{"id":2},"id":3,"w":"x","b":[1,2]}"#;
        let keys = ["w", "id", "missing", "id"];
        let found = members_at(body, &keys).unwrap().unwrap();
        for (key, raw) in keys.iter().zip(&found) {
            let expected = pointer(body, &format!("/{key}"))
                .unwrap()
                .map(RawValue::get);
            assert_eq!(raw.map(RawValue::get), expected, "{key}");
        }
        // Not an object: the caller falls back to pointers.
        assert!(members_at("[1]", &["id"]).unwrap().is_none());
        // A key never found means a full read, which still reports bad JSON.
        assert!(members_at(r#"{"id":1,"x":tru}"#, &["nope"]).is_err());
    }

    #[test]
    fn escaped_keys_and_special_tokens() {
        let body = r#"{"@odata.nextLink":"u","a/b":{"m~n":[10,20,{"k":"v"}]},"e\u0073c":1}"#;
        assert_eq!(
            scalar_at(body, "/@odata.nextLink").unwrap().as_deref(),
            Some("u")
        );
        assert_eq!(
            scalar_at(body, "/a~1b/m~0n/1").unwrap().as_deref(),
            Some("20")
        );
        assert_eq!(
            scalar_at(body, "/a~1b/m~0n/2/k").unwrap().as_deref(),
            Some("v")
        );
        assert_eq!(scalar_at(body, "/esc").unwrap().as_deref(), Some("1"));
        assert_eq!(scalar_at(body, "/a~1b/m~0n/9").unwrap(), None);
        assert_eq!(scalar_at(body, "/a~1b/m~0n/-").unwrap(), None);
    }

    #[test]
    fn malformed_input_is_an_error() {
        assert!(pointer(r#"{"a":"#, "/a").is_err());
        assert!(pointer("{}", "a").is_err());
    }

    proptest! {
        #[test]
        fn pointer_agrees_with_serde_json_value(
            keys in proptest::collection::vec("[a-z~/@.]{0,4}", 1..4),
            leaf in any::<i64>(),
        ) {
            // Build nested objects along `keys`, then look the leaf up both ways.
            let mut value = serde_json::json!(leaf);
            for k in keys.iter().rev() {
                value = serde_json::json!({ k.clone(): value, "other": [1, {"x": null}] });
            }
            let ptr: String = keys
                .iter()
                .map(|k| format!("/{}", k.replace('~', "~0").replace('/', "~1")))
                .collect();
            let text = value.to_string();
            let ours = scalar_at(&text, &ptr).unwrap();
            let theirs = value.pointer(&ptr).map(|v| v.to_string());
            prop_assert_eq!(ours, theirs);
        }

        #[test]
        fn arbitrary_text_never_panics(text in ".{0,64}", ptr in "(/[a-z0-9~]{0,3}){0,3}") {
            let _ = pointer(&text, &ptr);
        }
    }
}
