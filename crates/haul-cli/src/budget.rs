//! `--budget 'redis://[USER[:PASSWORD]@]HOST[:PORT][/DB]?quota=N[&per=1s][&name=…]…'`:
//! one rate budget in Redis shared by every process that names it. The
//! password never shows: errors and logs print the URL masked.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use haul::Secret;
use haul::redis::{BudgetConfig, OutagePolicy, RedisBudget};

/// A parsed `--budget` URL.
pub(crate) struct BudgetUrl {
    /// `redis://…` without the query, with the password (for the driver only).
    server: Secret,
    /// The same, masked.
    shown: String,
    name: Option<String>,
    quota: u32,
    per: Duration,
    burst: Option<u32>,
    prefix: Option<String>,
    outage: OutagePolicy,
}

/// `1s`, `500ms`, `1m`, `1h`.
fn duration(text: &str) -> Result<Duration, String> {
    let bad = || format!("per={text:?} is not a duration such as 1s, 500ms, 1m or 1h");
    let (number, unit) = text
        .find(|c: char| !c.is_ascii_digit())
        .map_or((text, ""), |i| text.split_at(i));
    let n: u64 = number.parse().map_err(|_| bad())?;
    let d = match unit {
        "ms" => Duration::from_millis(n),
        "s" | "" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.saturating_mul(60)),
        "h" => Duration::from_secs(n.saturating_mul(3600)),
        _ => return Err(bad()),
    };
    if d.is_zero() {
        return Err(bad());
    }
    Ok(d)
}

impl BudgetUrl {
    /// Parses the URL; errors never quote the password.
    pub(crate) fn parse(url: &str) -> Result<Self, String> {
        let rest = url
            .strip_prefix("redis://")
            .ok_or("a budget URL starts with redis://")?;
        let (server, query) = rest.split_once('?').unwrap_or((rest, ""));
        let shown_server = match server.rsplit_once('@') {
            Some((info, host)) => match info.split_once(':') {
                Some((user, _)) => format!("{user}:***@{host}"),
                None => format!("{info}@{host}"),
            },
            None => server.to_owned(),
        };
        let mut parsed = Self {
            server: Secret::new(format!("redis://{server}")),
            shown: format!("redis://{shown_server}"),
            name: None,
            quota: 0,
            per: Duration::from_secs(1),
            burst: None,
            prefix: None,
            outage: OutagePolicy::Wait,
        };
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            match k {
                "name" => parsed.name = Some(v.to_owned()),
                "quota" => {
                    parsed.quota = v
                        .parse()
                        .ok()
                        .filter(|q| *q > 0)
                        .ok_or_else(|| format!("quota={v:?} is not a positive whole number"))?;
                }
                "per" => parsed.per = duration(v)?,
                "burst" => {
                    parsed.burst = Some(
                        v.parse()
                            .map_err(|_| format!("burst={v:?} is not a whole number"))?,
                    );
                }
                "prefix" => parsed.prefix = Some(v.to_owned()),
                "outage" => {
                    parsed.outage = match v.split_once(':') {
                        _ if v == "wait" => OutagePolicy::Wait,
                        _ if v == "fail" => OutagePolicy::Fail,
                        Some(("fallback", f)) => OutagePolicy::Fallback {
                            fraction: f
                                .parse::<f64>()
                                .ok()
                                .filter(|f| *f > 0.0 && *f <= 1.0)
                                .ok_or_else(|| {
                                    format!("outage=fallback:{f} needs a fraction in (0, 1]")
                                })?,
                        },
                        _ => {
                            return Err(format!(
                                "outage={v:?}: write wait, fail or fallback:FRACTION"
                            ));
                        }
                    };
                }
                other => {
                    return Err(format!(
                        "unknown budget parameter {other:?} (name, quota, per, burst, prefix, outage)"
                    ));
                }
            }
        }
        if parsed.quota == 0 {
            return Err(format!(
                "{parsed}: say the API's quota, e.g. ?quota=100&per=1s (every worker must give the same)"
            ));
        }
        Ok(parsed)
    }

    /// Opens the budget, named `name=` or else after the connector.
    pub(crate) async fn open(&self, connector: &str) -> Result<Arc<RedisBudget>, String> {
        let name = self.name.clone().unwrap_or_else(|| connector.to_owned());
        let mut config = BudgetConfig::new(name, self.quota, self.per).outage(self.outage);
        if let Some(burst) = self.burst {
            config = config.burst(burst);
        }
        if let Some(prefix) = &self.prefix {
            config = config.prefix(prefix.clone());
        }
        let budget = RedisBudget::connect(self.server.expose(), config)
            .await
            .map_err(|e| {
                // The driver may quote the URL it was given: mask it.
                let text = e.to_string().replace(self.server.expose(), &self.shown);
                format!("cannot open the budget {self}: {text}")
            })?;
        Ok(Arc::new(budget))
    }
}

/// The URL with any password masked and the parameters understood.
impl fmt::Display for BudgetUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.shown)?;
        if let Some(name) = &self.name {
            write!(f, "?name={name}&")?;
        } else {
            write!(f, "?")?;
        }
        write!(f, "quota={}&per={:?}", self.quota, self.per)
    }
}

impl fmt::Debug for BudgetUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BudgetUrl({self})")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn budget_urls_parse_and_never_show_the_password() {
        let b = BudgetUrl::parse(
            "redis://:hunter2@cache:6380/2?name=github&quota=5000&per=1h&burst=10&outage=fallback:0.25",
        )
        .unwrap();
        assert_eq!(
            (b.quota, b.per, b.burst),
            (5000, Duration::from_secs(3600), Some(10))
        );
        assert_eq!(b.outage, OutagePolicy::Fallback { fraction: 0.25 });
        assert_eq!(b.server.expose(), "redis://:hunter2@cache:6380/2");
        let shown = format!("{b} {b:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(
            shown.contains("redis://:***@cache:6380/2?name=github&quota=5000"),
            "{shown}"
        );
        let plain = BudgetUrl::parse("redis://127.0.0.1:6379/?quota=100").unwrap();
        assert_eq!(
            (plain.per, plain.name.as_deref()),
            (Duration::from_secs(1), None)
        );
    }

    #[test]
    fn bad_budget_urls_say_why() {
        for (url, says) in [
            ("redis://:hunter2@h/?per=1s", "quota"),
            ("redis://:hunter2@h/?quota=0", "quota"),
            ("redis://:hunter2@h/?quota=5&per=soon", "duration"),
            ("redis://:hunter2@h/?quota=5&outage=fallback:2", "fraction"),
            ("redis://:hunter2@h/?quota=5&rate=3", "unknown"),
            ("http://h/?quota=5", "redis://"),
        ] {
            let e = BudgetUrl::parse(url).unwrap_err();
            assert!(e.contains(says), "{url}: {e}");
            assert!(!e.contains("hunter2"), "{url}: {e}");
        }
    }
}
