//! Deterministic synthetic records, rendered to JSON once at generation.

use std::fmt;
use std::sync::Arc;

use serde::Serialize;

use crate::instant::format_rfc3339;
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
/// [`mutated`](Dataset::mutated) derives the next version of the data, as an
/// API's data changes between two runs (its `updated_at` is then no longer
/// ordered by `id`). Cloning is cheap: the records are shared.
#[derive(Clone, Default)]
pub struct Dataset {
    seed: u64,
    records: Arc<[String]>,
    updated_at: Arc<[String]>,
    /// `updated_at` as Unix seconds, for `updated_since` filters.
    updated_secs: Arc<[u64]>,
}

/// What [`Dataset::mutated`] changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Mutation {
    /// Ids of the records rewritten in place, ascending.
    pub updated: Vec<u64>,
    /// Ids of the records appended, ascending.
    pub added: Vec<u64>,
    /// The earliest `updated_at` given to a changed or added record (RFC
    /// 3339), later than every `updated_at` before the mutation; `None` when
    /// nothing changed.
    pub changed_since: Option<String>,
}

impl Dataset {
    /// Generates `len` records from `seed`; the same arguments always give
    /// byte-identical records.
    pub fn generate(seed: u64, len: usize) -> Dataset {
        let mut rng = SplitMix64::new(seed);
        let mut records = Vec::with_capacity(len);
        let mut updated_at = Vec::with_capacity(len);
        let mut updated_secs = Vec::with_capacity(len);
        let mut secs = BASE_EPOCH;
        for index in 0..len {
            let id = index as u64 + 1;
            // The first record sits at the base time; later ones share the
            // previous timestamp a quarter of the time, else move 1-90 s on.
            if index > 0 && rng.below(4) != 0 {
                secs += 1 + rng.below(90);
            }
            let timestamp = format_rfc3339(secs);
            records.push(draw_record(&mut rng, id, &timestamp));
            updated_at.push(timestamp);
            updated_secs.push(secs);
        }
        Dataset {
            seed,
            records: records.into(),
            updated_at: updated_at.into(),
            updated_secs: updated_secs.into(),
        }
    }

    /// The next version of this data, as an API's data changes between two
    /// runs; the same arguments always give the same result.
    ///
    /// About `update_fraction` of the records (rounded to a whole count,
    /// clamped to `[0, 1]`) are rewritten in place with new content and an
    /// `updated_at` later than every existing one, then `add_count` new
    /// records are appended with the next ids and later timestamps still.
    /// Changed records share timestamps a quarter of the time, as generated
    /// ones do. Unchanged records keep their exact text; only changed ones
    /// are rendered again.
    ///
    /// ```
    /// use haul_testkit::Dataset;
    ///
    /// let before = Dataset::generate(1, 1000);
    /// let (after, mutation) = before.mutated(9, 0.01, 5);
    /// assert_eq!(mutation.updated.len(), 10);
    /// assert_eq!(mutation.added, [1001, 1002, 1003, 1004, 1005]);
    /// assert_eq!(after.len(), 1005);
    /// let newest_before = before.updated_at(999).unwrap();
    /// for id in mutation.updated.iter().chain(&mutation.added) {
    ///     let index = *id as usize - 1;
    ///     assert!(after.updated_at(index).unwrap() > newest_before);
    /// }
    /// ```
    pub fn mutated(
        &self,
        seed: u64,
        update_fraction: f64,
        add_count: usize,
    ) -> (Dataset, Mutation) {
        let mut rng = SplitMix64::new(seed);
        let len = self.len();
        let fraction = if update_fraction.is_nan() {
            0.0
        } else {
            update_fraction.clamp(0.0, 1.0)
        };
        let count = ((fraction * len as f64).round() as usize).min(len);
        // A partial Fisher-Yates shuffle picks `count` distinct indices.
        let mut order: Vec<usize> = (0..len).collect();
        for i in 0..count {
            let j = i + rng.below((len - i) as u64) as usize;
            order.swap(i, j);
        }
        let mut chosen = order;
        chosen.truncate(count);
        chosen.sort_unstable();

        let mut records = self.records.to_vec();
        let mut updated_at = self.updated_at.to_vec();
        let mut updated_secs = self.updated_secs.to_vec();
        let newest = self.updated_secs.iter().copied().max();
        let mut last: Option<u64> = None;
        let mut stamp = |rng: &mut SplitMix64| {
            let at = match last {
                // Strictly later than everything before the mutation.
                None => newest.map_or(BASE_EPOCH, |newest| newest + 1 + rng.below(30)),
                Some(previous) if rng.below(4) == 0 => previous,
                Some(previous) => previous + 1 + rng.below(30),
            };
            last = Some(at);
            at
        };
        let mut mutation = Mutation::default();
        for &index in &chosen {
            let id = index as u64 + 1;
            let at = stamp(&mut rng);
            let timestamp = format_rfc3339(at);
            if let (Some(record), Some(text), Some(stored)) = (
                records.get_mut(index),
                updated_at.get_mut(index),
                updated_secs.get_mut(index),
            ) {
                *record = draw_record(&mut rng, id, &timestamp);
                *text = timestamp;
                *stored = at;
            }
            mutation.updated.push(id);
        }
        for index in len..len.saturating_add(add_count) {
            let id = index as u64 + 1;
            let at = stamp(&mut rng);
            let timestamp = format_rfc3339(at);
            records.push(draw_record(&mut rng, id, &timestamp));
            updated_at.push(timestamp);
            updated_secs.push(at);
            mutation.added.push(id);
        }
        // The first record stamped has the earliest new timestamp.
        mutation.changed_since = mutation
            .updated
            .first()
            .or(mutation.added.first())
            .and_then(|id| updated_at.get(*id as usize - 1).cloned());
        let dataset = Dataset {
            seed: self.seed,
            records: records.into(),
            updated_at: updated_at.into(),
            updated_secs: updated_secs.into(),
        };
        (dataset, mutation)
    }

    /// The seed this dataset was generated from (kept by [`mutated`](Dataset::mutated)).
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

    /// The records whose `updated_at` is at or after `since` (Unix seconds):
    /// their indices and texts, in id order.
    pub(crate) fn since(&self, since: u64) -> (Vec<usize>, Vec<String>) {
        self.updated_secs
            .iter()
            .zip(self.records.iter())
            .enumerate()
            .filter(|(_, (secs, _))| **secs >= since)
            .map(|(index, (_, record))| (index, record.clone()))
            .unzip()
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

/// Draws the content of record `id` from `rng` and renders it.
fn draw_record(rng: &mut SplitMix64, id: u64, timestamp: &str) -> String {
    let name = format!(
        "{} {} {} #{id}",
        rng.pick(FIRST),
        rng.pick(LAST),
        rng.pick(PLACE)
    );
    let tags = (0..rng.below(4)).map(|_| rng.pick(TAGS)).collect();
    let quoted = format!("say \"hi\" to C:\\haul\\{id}\nline 2\tend");
    // Field initializers run in order: score draws before nested.a.
    let record = Record {
        id,
        updated_at: timestamp,
        name: &name,
        score: (rng.below(200_000) as f64 - 100_000.0) / 100.0,
        big: BIG_BASE + id,
        tags,
        nested: Nested {
            a: rng.below(2_000_001) as i64 - 1_000_000,
            b: Inner { c: &quoted },
        },
    };
    render(&record)
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

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
