//! The last page body's top-level members, remembered per thread.
//!
//! Selecting a page's records reads the whole body; the paginator then
//! looks up its signals (a cursor, a `has_more`, a total) in the same body.
//! When the records sit under a top-level key, the record scan also keeps
//! the spans of every top-level member here, so a lookup of a top-level
//! pointer in that body needs no second scan (the profile of a sequential
//! run showed the second scan as ~45 % of haul's client instructions).
//!
//! The memo holds a clone of the body's [`Bytes`]: while it does, that
//! memory cannot be freed or changed, so a body at the same address and of
//! the same length is the same body. A lookup that misses (another thread,
//! another body, a nested pointer) falls back to a full parse.

use std::cell::RefCell;
use std::ops::Range;

use bytes::Bytes;
use serde_json::value::RawValue;

/// Bodies larger than this are not kept (the memo must not hold a huge page
/// alive after its run).
const MAX_BODY: usize = 4 << 20;

struct Memo {
    body: Bytes,
    /// Every top-level member; `None` for the one read as the record array.
    members: Vec<(String, Option<Range<usize>>)>,
}

thread_local! {
    static LAST: RefCell<Option<Memo>> = const { RefCell::new(None) };
}

/// Remembers the top-level `members` of `body`, whose text is `text`.
pub(crate) fn remember(body: &Bytes, text: &str, members: &[(String, Option<&RawValue>)]) {
    if body.len() > MAX_BODY || text.as_ptr() != body.as_ptr() {
        return;
    }
    let base = text.as_ptr() as usize;
    let members = members
        .iter()
        .map(|(name, raw)| {
            let span = raw.map(|raw| {
                let start = raw.get().as_ptr() as usize - base;
                start..start + raw.get().len()
            });
            (name.clone(), span)
        })
        .collect();
    LAST.with(|last| {
        *last.borrow_mut() = Some(Memo {
            body: body.clone(),
            members,
        });
    });
}

/// The value at top-level `pointer` (`/name`) of `body` (text `text`), if
/// the memo knows this body: `Some(None)` for a missing member. `None` when
/// the memo cannot answer.
pub(crate) fn lookup<'a>(
    body: &Bytes,
    text: &'a str,
    pointer: &str,
) -> Option<Option<&'a RawValue>> {
    let name = pointer.strip_prefix('/')?;
    if name.contains('/') || text.as_ptr() != body.as_ptr() || text.len() != body.len() {
        return None;
    }
    let name = name.replace("~1", "/").replace("~0", "~");
    LAST.with(|last| {
        let last = last.borrow();
        let memo = last.as_ref()?;
        if memo.body.as_ptr() != body.as_ptr() || memo.body.len() != body.len() {
            return None;
        }
        match memo.members.iter().find(|(n, _)| *n == name) {
            None => Some(None),
            // The record array itself: not kept, parse it for real.
            Some((_, None)) => None,
            Some((_, Some(span))) => {
                let slice = text.get(span.clone())?;
                serde_json::from_str::<&RawValue>(slice).ok().map(Some)
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use haul_core::json;

    fn text(body: &Bytes) -> &str {
        std::str::from_utf8(body).unwrap()
    }

    #[test]
    fn a_remembered_body_answers_top_level_lookups_like_a_parse() {
        let body = Bytes::from_static(br#"{"data":[{"id":1}],"next":"c2","a/b":3}"#);
        let top = json::array_and_members(text(&body), "data")
            .unwrap()
            .unwrap();
        remember(&body, text(&body), &top.members);
        for pointer in ["/next", "/a~1b", "/missing"] {
            let memo = lookup(&body, text(&body), pointer)
                .unwrap()
                .map(RawValue::get);
            let parsed = json::pointer(text(&body), pointer)
                .unwrap()
                .map(RawValue::get);
            assert_eq!(memo, parsed, "{pointer}");
        }
        // The array itself, and nested pointers, are parsed for real.
        assert!(lookup(&body, text(&body), "/data").is_none());
        assert!(lookup(&body, text(&body), "/data/0").is_none());
    }

    #[test]
    fn another_body_is_not_answered() {
        let body = Bytes::from(r#"{"data":[],"next":"c2"}"#.to_owned());
        let top = json::array_and_members(text(&body), "data")
            .unwrap()
            .unwrap();
        remember(&body, text(&body), &top.members);
        let other = Bytes::from(r#"{"data":[],"next":"c3"}"#.to_owned());
        assert!(lookup(&other, text(&other), "/next").is_none());
    }
}
