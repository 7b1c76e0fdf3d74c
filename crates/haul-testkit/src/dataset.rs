//! Deterministic synthetic records, rendered to JSON once at generation.

use std::fmt;
use std::sync::Arc;

use serde::Serialize;

use crate::rng::SplitMix64;

/// `2026-01-01T00:00:00Z` as Unix seconds: the first record's `updated_at`.
const BASE_EPOCH: u64 = 1_767_225_600;

/// 2^53 + 1: the smallest integer an `f64` cannot hold, so `big` catches
/// clients that parse integers through floating point.
const BIG_BASE: u64 = 9_007_199_254_740_993;

const FIRST: &[&str] = &[
    "Zoë",
    "Łukasz",
    "José",
    "Søren",
    "Mikuláš",
    "Oğuz",
    "François",
    "Ærin",
];
const LAST: &[&str] = &[
    "Nowak",
    "Müller",
    "García",
    "Ødegård",
    "Šimek",
    "Çelik",
    "O'Brien",
    "Brontë",
];
const PLACE: &[&str] = &[
    "東京",
    "Москва",
    "Kraków",
    "São Paulo",
    "Αθήνα",
    "القاهرة",
    "Reykjavík",
    "서울",
];
const TAGS: &[&str] = &[
    "alpha",
    "beta",
    "gamma",
    "δέλτα",
    "new",
    "vip",
    "🚀 launch",
    "ünïcödé",
];

/// A fixed, seed-determined list of JSON records served by [`FakeApi`](crate::FakeApi).
///
/// Record `i` (0-based) has `"id": i + 1`. Each record is one JSON object,
/// serialized once by `serde_json` at generation, with fields in this order:
///
/// ```json
/// {"id":1,"updated_at":"2026-01-01T00:00:00Z","name":"Zoë Nowak 東京 #1",
///  "score":-12.5,"big":9007199254740994,"tags":["alpha","🚀 launch"],
///  "nested":{"a":42,"b":{"c":"say \"hi\" to C:\\haul\\1\nline 2\tend"}}}
/// ```
///
/// `updated_at` is RFC 3339 UTC and non-decreasing with `id`; about a quarter
/// of the records share their predecessor's timestamp. `big` is above 2^53.
/// Cloning is cheap: the records are shared.
#[derive(Clone, Default)]
pub struct Dataset {
    seed: u64,
    records: Arc<[String]>,
    updated_at: Arc<[String]>,
}

impl Dataset {
    /// Generates `len` records from `seed`; the same arguments always give
    /// byte-identical records.
    pub fn generate(seed: u64, len: usize) -> Dataset {
        let mut rng = SplitMix64::new(seed);
        let mut records = Vec::with_capacity(len);
        let mut updated_at = Vec::with_capacity(len);
        let mut secs = BASE_EPOCH;
        for index in 0..len {
            let id = index as u64 + 1;
            // The first record sits at the base time; later ones share the
            // previous timestamp a quarter of the time, else move 1-90 s on.
            if index > 0 && rng.below(4) != 0 {
                secs += 1 + rng.below(90);
            }
            let timestamp = format_rfc3339(secs);
            let name = format!(
                "{} {} {} #{id}",
                rng.pick(FIRST),
                rng.pick(LAST),
                rng.pick(PLACE)
            );
            let tags = (0..rng.below(4)).map(|_| rng.pick(TAGS)).collect();
            let quoted = format!("say \"hi\" to C:\\haul\\{id}\nline 2\tend");
            let record = Record {
                id,
                updated_at: &timestamp,
                name: &name,
                score: (rng.below(200_000) as f64 - 100_000.0) / 100.0,
                big: BIG_BASE + id,
                tags,
                nested: Nested {
                    a: rng.below(2_000_001) as i64 - 1_000_000,
                    b: Inner { c: &quoted },
                },
            };
            records.push(render(&record));
            updated_at.push(timestamp);
        }
        Dataset {
            seed,
            records: records.into(),
            updated_at: updated_at.into(),
        }
    }

    /// The seed this dataset was generated from.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether there are no records.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// All records as JSON texts, in id order; the server sends them verbatim.
    pub fn records(&self) -> &[String] {
        &self.records
    }

    /// The JSON text of record `index` (0-based; its id is `index + 1`).
    pub fn record(&self, index: usize) -> Option<&str> {
        self.records.get(index).map(String::as_str)
    }

    /// The `updated_at` value of record `index` (0-based).
    pub fn updated_at(&self, index: usize) -> Option<&str> {
        self.updated_at.get(index).map(String::as_str)
    }

    /// The record ids in order: `1..=len`.
    pub fn ids(&self) -> impl Iterator<Item = u64> + use<> {
        1..=self.len() as u64
    }
}

impl fmt::Debug for Dataset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The records themselves would drown any test failure message.
        f.debug_struct("Dataset")
            .field("seed", &self.seed)
            .field("len", &self.len())
            .finish()
    }
}

#[derive(Serialize)]
struct Record<'a> {
    id: u64,
    updated_at: &'a str,
    name: &'a str,
    score: f64,
    big: u64,
    tags: Vec<&'a str>,
    nested: Nested<'a>,
}

#[derive(Serialize)]
struct Nested<'a> {
    a: i64,
    b: Inner<'a>,
}

#[derive(Serialize)]
struct Inner<'a> {
    c: &'a str,
}

fn render(record: &Record<'_>) -> String {
    // Strings, integers and finite floats always serialize.
    serde_json::to_string(record)
        .unwrap_or_else(|err| unreachable!("record serialization failed: {err}"))
}

/// Formats Unix seconds as `YYYY-MM-DDTHH:MM:SSZ`.
fn format_rfc3339(secs: u64) -> String {
    let (year, month, day) = civil_from_days(secs / 86_400);
    let rem = secs % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's algorithm).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn formats_rfc3339() {
        assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_rfc3339(BASE_EPOCH), "2026-01-01T00:00:00Z");
        // 2028-02-29T23:59:59Z, a leap day.
        assert_eq!(format_rfc3339(1_835_481_599), "2028-02-29T23:59:59Z");
        assert_eq!(format_rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn records_have_the_documented_shape() {
        let ds = Dataset::generate(3, 500);
        let mut previous = String::new();
        let mut shared = 0;
        for (index, text) in ds.records().iter().enumerate() {
            let value: serde_json::Value = serde_json::from_str(text).unwrap();
            let id = index as u64 + 1;
            assert_eq!(value["id"], id);
            assert_eq!(value["big"].as_u64(), Some(BIG_BASE + id));
            assert!(value["score"].is_f64());
            assert!(value["tags"].is_array());
            assert!(value["nested"]["a"].is_i64());
            let c = value["nested"]["b"]["c"].as_str().unwrap();
            assert!(c.contains('"') && c.contains('\\') && c.contains('\n'));
            let name = value["name"].as_str().unwrap();
            assert!(!name.is_ascii() && name.ends_with(&format!("#{id}")));
            let updated = value["updated_at"].as_str().unwrap();
            assert_eq!(Some(updated), ds.updated_at(index));
            assert!(updated >= previous.as_str(), "{updated} < {previous}");
            shared += usize::from(updated == previous);
            previous = updated.to_owned();
            // Field order is part of the contract: `id` leads.
            assert!(text.starts_with(&format!("{{\"id\":{id},\"updated_at\":")));
        }
        assert!(shared > 50, "only {shared} shared timestamps");
    }

    #[test]
    fn ids_and_accessors() {
        let ds = Dataset::generate(1, 3);
        assert_eq!(ds.ids().collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(ds.record(2), Some(ds.records()[2].as_str()));
        assert_eq!(ds.record(3), None);
        assert!(Dataset::generate(1, 0).is_empty());
        assert_eq!(Dataset::default().ids().count(), 0);
    }
}
