//! Verifying the destination against the dataset.

/// Compares `stored` (records as stored, any order) with `expected`: every
/// record exactly once, byte for byte. Returns the problems found.
pub(crate) fn verify(stored: &[String], expected: &[String]) -> Vec<String> {
    use std::collections::HashMap;
    let mut problems = Vec::new();
    let id_of = |text: &str| haul::core::json::scalar_at(text, "/id").ok().flatten();
    let mut by_id: HashMap<String, &str> = HashMap::with_capacity(expected.len());
    for record in expected {
        match id_of(record) {
            Some(id) => {
                by_id.insert(id, record);
            }
            None => problems.push("a dataset record has no id".to_owned()),
        }
    }
    let mut seen: HashMap<String, u32> = HashMap::with_capacity(stored.len());
    for (n, line) in stored.iter().enumerate() {
        match id_of(line) {
            Some(id) => {
                match by_id.get(&id) {
                    Some(want) if *want == line.as_str() => {}
                    Some(_) => problems.push(format!("record {id} differs from the dataset")),
                    None => problems.push(format!("record {id} is not in the dataset")),
                }
                *seen.entry(id).or_default() += 1;
            }
            None => problems.push(format!(
                "stored record {} has no id: {}",
                n + 1,
                haul::core::body_preview(line.as_bytes())
            )),
        }
    }
    for (id, count) in &seen {
        if *count > 1 {
            problems.push(format!("record {id} is stored {count} times"));
        }
    }
    let missing = by_id.keys().filter(|id| !seen.contains_key(*id)).count();
    if missing > 0 {
        problems.push(format!("{missing} records are missing"));
    }
    problems.sort();
    problems
}
