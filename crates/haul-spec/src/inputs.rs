//! Input values: typed, from `--set`, the environment, a file (secrets) or a default.

use std::collections::BTreeMap;
use std::time::Duration;

use haul::Secret;

use crate::model::InputType;

/// Where input values come from, besides the spec's defaults.
///
/// ```
/// let inputs = haul_spec::Inputs::new().set("base_url", "http://127.0.0.1:8080");
/// assert!(inputs.get_set("base_url").is_some());
/// ```
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct Inputs {
    sets: BTreeMap<String, String>,
    env: bool,
    placeholders: std::collections::BTreeSet<String>,
}

impl Inputs {
    /// No values: only the spec's defaults (and no environment).
    pub fn new() -> Self {
        Self::default()
    }

    /// Also read the environment (each input's `env`, default `HAUL_INPUT_<NAME>`).
    pub fn from_env(mut self, on: bool) -> Self {
        self.env = on;
        self
    }

    /// Gives input `name` the value `value` (like `--set name=value`); wins
    /// over the environment and the default. Refused for secret inputs when resolved.
    pub fn set(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.sets.insert(name.into(), value.into());
        self
    }

    /// The value `--set` gave `name`, if any.
    pub fn get_set(&self, name: &str) -> Option<&str> {
        self.sets.get(name).map(String::as_str)
    }

    /// Gives secret input `name` an empty placeholder, for work that sends
    /// no request (listing, reading state).
    pub fn placeholder_secret(mut self, name: impl Into<String>) -> Self {
        self.placeholders.insert(name.into());
        self
    }

    pub(crate) fn is_placeholder(&self, name: &str) -> bool {
        self.placeholders.contains(name)
    }

    pub(crate) fn sets(&self) -> &BTreeMap<String, String> {
        &self.sets
    }

    pub(crate) fn env_enabled(&self) -> bool {
        self.env
    }
}

/// The environment variable an input is read from by default.
pub(crate) fn default_env(name: &str) -> String {
    format!("HAUL_INPUT_{}", name.to_ascii_uppercase())
}

/// Filled inputs: plain values (for templates) and secrets.
#[derive(Debug, Clone, Default)]
pub(crate) struct Values {
    pub(crate) plain: BTreeMap<String, String>,
    pub(crate) secrets: BTreeMap<String, Secret>,
}

/// Checks `value` against `kind`; the error says why not.
pub(crate) fn check_value(kind: InputType, value: &toml::Value) -> Result<(), String> {
    match (kind, value) {
        (InputType::String | InputType::Secret, toml::Value::String(_)) => Ok(()),
        (InputType::Integer, toml::Value::Integer(_)) => Ok(()),
        (InputType::Integer, toml::Value::String(s)) => s
            .trim()
            .parse::<i64>()
            .map(|_| ())
            .map_err(|_| format!("{s:?} is not an integer")),
        (InputType::Datetime, toml::Value::Datetime(d)) => check_datetime(&d.to_string()),
        (InputType::Datetime, toml::Value::String(s)) => check_datetime(s),
        (kind, other) => Err(format!("expected a {kind}, found a {}", other.type_str())),
    }
}

/// The text of a valid value of `kind` (datetimes normalised to RFC 3339 as written).
pub(crate) fn value_text(value: &toml::Value) -> String {
    match value {
        toml::Value::String(s) => s.clone(),
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Float(f) => f.to_string(),
        toml::Value::Boolean(b) => b.to_string(),
        toml::Value::Datetime(d) => d.to_string(),
        toml::Value::Array(_) | toml::Value::Table(_) => String::new(),
    }
}

fn check_datetime(s: &str) -> Result<(), String> {
    // A full RFC 3339 date-time with an offset: what the windows and the
    // APIs' "since" filters read.
    let dt: toml::value::Datetime = s
        .parse()
        .map_err(|_| format!("{s:?} is not an RFC 3339 date-time"))?;
    if dt.date.is_none() || dt.time.is_none() || dt.offset.is_none() {
        return Err(format!(
            "{s:?} is not a full RFC 3339 date-time with an offset (`2024-01-01T00:00:00Z`)"
        ));
    }
    Ok(())
}

/// `"500ms"`, `"30s"`, `"5m"`, `"1h"`, `"1d"`.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (n, unit) = t.split_at(split);
    let n: u64 = n
        .parse()
        .map_err(|_| format!("{text:?} is not a duration (`500ms`, `30s`, `5m`, `1h`, `1d`)"))?;
    let secs = |k: u64| Duration::from_secs(n.saturating_mul(k));
    Ok(match unit {
        "ms" => Duration::from_millis(n),
        "s" => secs(1),
        "m" => secs(60),
        "h" => secs(3600),
        "d" => secs(86_400),
        _ => {
            return Err(format!(
                "{text:?} is not a duration: the unit must be `ms`, `s`, `m`, `h` or `d`"
            ));
        }
    })
}

/// A window step: `"3600s"`, `"7d"`, `"1mo"`.
pub(crate) fn parse_step(text: &str) -> Result<haul::extractor::Step, String> {
    use haul::extractor::Step;
    let t = text.trim();
    let bad = || format!("{text:?} is not a window step (`3600s`, `1h`, `7d`, `1mo`)");
    if let Some(n) = t.strip_suffix("mo") {
        return n.parse().map(Step::Months).map_err(|_| bad());
    }
    if let Some(n) = t.strip_suffix('d') {
        return n.parse().map(Step::Days).map_err(|_| bad());
    }
    let d = parse_duration(t).map_err(|_| bad())?;
    if d.subsec_nanos() != 0 || d.as_secs() == 0 {
        return Err(bad());
    }
    Ok(Step::Seconds(d.as_secs()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_steps() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert!(parse_duration("5").is_err());
        assert!(parse_step("1mo").is_ok());
        assert!(parse_step("0s").is_err());
    }

    #[test]
    fn typed_values() {
        assert!(check_value(InputType::Integer, &toml::Value::String("12".into())).is_ok());
        assert!(check_value(InputType::Integer, &toml::Value::String("x".into())).is_err());
        assert!(
            check_value(
                InputType::Datetime,
                &toml::Value::String("2024-01-01T00:00:00Z".into())
            )
            .is_ok()
        );
        assert!(
            check_value(
                InputType::Datetime,
                &toml::Value::String("2024-01-01".into())
            )
            .is_err()
        );
    }
}
