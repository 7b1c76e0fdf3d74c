//! Stable partition keys derived from values.

use std::collections::BTreeMap;
use std::fmt::Write;

/// The longest key kept as is; longer ones become a prefix and a hash.
const MAX_KEY: usize = 200;

/// `name=value` pairs in name order, joined by `,`, values percent-encoded
/// outside `A-Z a-z 0-9 - . _`.
pub(crate) fn from_values(values: &BTreeMap<String, String>) -> String {
    let mut key = String::new();
    for (i, (name, value)) in values.iter().enumerate() {
        if i > 0 {
            key.push(',');
        }
        encode(&mut key, name);
        key.push('=');
        encode(&mut key, value);
    }
    if key.starts_with('.') {
        // A leading dot would make a hidden file or a relative path.
        key.replace_range(..1, "%2E");
    }
    if key.len() > MAX_KEY {
        // Percent-encoding leaves ASCII only, so any byte index is a char boundary.
        let hash = fnv1a(key.as_bytes());
        key.truncate(MAX_KEY - 17);
        // Writing to a String cannot fail.
        let _ = write!(key, "+{hash:016x}");
    }
    key
}

fn encode(out: &mut String, text: &str) {
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_') {
            out.push(char::from(b));
        } else {
            // Writing to a String cannot fail.
            let _ = write!(out, "%{b:02X}");
        }
    }
}

/// FNV-1a, 64 bits: stable across runs, platforms and Rust versions.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn keys_are_safe_stable_and_distinct(
            a in prop::collection::btree_map("[a-z]{1,4}", ".{0,60}", 1..4),
            b in prop::collection::btree_map("[a-z]{1,4}", ".{0,60}", 1..4),
        ) {
            let ka = from_values(&a);
            prop_assert!(haul_sink::check_partition_key(&ka).is_ok(), "{ka}");
            prop_assert_eq!(&ka, &from_values(&a.clone()));
            if a != b && ka.len() < MAX_KEY {
                prop_assert_ne!(ka, from_values(&b));
            }
        }
    }

    #[test]
    fn long_keys_keep_a_prefix_and_a_hash() {
        let values = BTreeMap::from([("q".to_owned(), "x".repeat(500))]);
        let key = from_values(&values);
        assert_eq!(key.len(), MAX_KEY);
        assert!(key.starts_with("q=xxx"));
        let other = BTreeMap::from([("q".to_owned(), format!("{}y", "x".repeat(499)))]);
        assert_ne!(key, from_values(&other));
    }
}
