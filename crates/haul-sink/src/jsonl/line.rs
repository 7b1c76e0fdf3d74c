//! How records become lines: as the API sent them, one per line, and in a
//! named partition with the partition key as the record's first field.

use haul_core::Record;
use serde::de::IgnoredAny;

use crate::SinkError;

/// The field holding a record's partition key in a partitioned stream's
/// file (the same name as the SQLite sink's column).
pub(crate) const PARTITION_FIELD: &str = "_partition";

/// Appends `record` to `buf` as one line. A record of a named partition
/// (`tag`) gets `"_partition":"<key>"` as its first field; the rest of its
/// bytes stay as they came.
pub(crate) fn push(
    buf: &mut Vec<u8>,
    stream: &str,
    record: &Record,
    tag: Option<&str>,
) -> Result<(), SinkError> {
    let text = record.as_str();
    let body = match tag {
        None => text.as_bytes(),
        Some(key) => {
            let trimmed = text.trim_start();
            let Some(rest) = trimmed.strip_prefix('{') else {
                return Err(SinkError::Usage(format!(
                    "stream {stream:?}: a record of partition {key:?} must be a JSON object to carry \
                     its partition key: {}",
                    haul_core::body_preview(text.as_bytes())
                )));
            };
            if has_own_partition_field(text) {
                return Err(SinkError::Usage(format!(
                    "stream {stream:?}: a record of partition {key:?} has its own {PARTITION_FIELD:?} \
                     field, which the sink reserves for the partition key"
                )));
            }
            // Partition keys are checked text (letters, digits, `_-.=,%+`):
            // nothing in them needs escaping in a JSON string.
            buf.extend_from_slice(b"{\"");
            buf.extend_from_slice(PARTITION_FIELD.as_bytes());
            buf.extend_from_slice(b"\":\"");
            buf.extend_from_slice(key.as_bytes());
            buf.push(b'"');
            if !rest.trim_start().starts_with('}') {
                buf.push(b',');
            }
            rest.as_bytes()
        }
    };
    // Raw line breaks can only be whitespace in valid JSON (inside strings
    // they are escaped), so turning them into spaces keeps one record per line.
    // `contains` on bytes is core's word-at-a-time memchr: two such scans
    // cost far less than one byte-by-byte test of both.
    if body.contains(&b'\n') || body.contains(&b'\r') {
        buf.extend(
            body.iter()
                .map(|&b| if b == b'\n' || b == b'\r' { b' ' } else { b }),
        );
    } else {
        buf.extend_from_slice(body);
    }
    buf.push(b'\n');
    Ok(())
}

/// Whether the object has a top-level `_partition` key. The quick text test
/// rules out nearly every record; only a hit is parsed.
fn has_own_partition_field(text: &str) -> bool {
    if !text.contains(PARTITION_FIELD) {
        return false;
    }
    serde_json::from_str::<std::collections::BTreeMap<String, IgnoredAny>>(text)
        .is_ok_and(|fields| fields.contains_key(PARTITION_FIELD))
}

/// Whether `line` is a record of partition `key` (written by [`push`]).
pub(crate) fn is_of(line: &str, key: &str) -> bool {
    line.strip_prefix("{\"")
        .and_then(|l| l.strip_prefix(PARTITION_FIELD))
        .and_then(|l| l.strip_prefix("\":\""))
        .and_then(|l| l.strip_prefix(key))
        .is_some_and(|l| l.starts_with("\",") || l.starts_with("\"}"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn line(json: &str, tag: Option<&str>) -> Result<String, SinkError> {
        let mut buf = Vec::new();
        push(&mut buf, "s", &Record::from_json(json).unwrap(), tag)?;
        Ok(String::from_utf8(buf).unwrap())
    }

    #[test]
    fn a_partition_key_becomes_the_first_field_and_the_rest_stays_as_sent() {
        assert_eq!(line(r#"{"id":1}"#, None).unwrap(), "{\"id\":1}\n");
        assert_eq!(
            line(r#"{ "id" : 1 }"#, Some("org=a")).unwrap(),
            "{\"_partition\":\"org=a\", \"id\" : 1 }\n"
        );
        assert_eq!(line("{}", Some("k")).unwrap(), "{\"_partition\":\"k\"}\n");
        assert_eq!(
            line("{\n\"a\":\n2}", Some("k")).unwrap(),
            "{\"_partition\":\"k\", \"a\": 2}\n"
        );
        let tagged = line(r#"{"id":1,"s":"_partition"}"#, Some("k")).unwrap();
        assert!(is_of(tagged.trim_end(), "k"));
        assert!(!is_of(tagged.trim_end(), "k2"));
        assert!(!is_of(tagged.trim_end(), ""));
        let v: serde_json::Value = serde_json::from_str(&tagged).unwrap();
        assert_eq!(v["_partition"], "k");
    }

    #[test]
    fn records_that_cannot_carry_a_key_are_refused() {
        assert!(matches!(line("[1,2]", Some("k")), Err(SinkError::Usage(_))));
        assert!(matches!(
            line(r#"{"_partition":"x"}"#, Some("k")),
            Err(SinkError::Usage(_))
        ));
        // Unpartitioned records are stored as they came, whatever they hold.
        assert_eq!(line("[1,2]", None).unwrap(), "[1,2]\n");
    }
}
