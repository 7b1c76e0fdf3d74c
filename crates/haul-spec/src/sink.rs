//! Sink URLs: `sqlite:PATH` and `jsonl:DIR`.

use std::path::PathBuf;

use haul::{JsonLinesSink, Sink, SqliteSink, StreamConfig};

/// Where a run's records go, as a URL.
///
/// ```
/// use haul_spec::SinkUrl;
/// assert_eq!(SinkUrl::parse("sqlite:out.db")?, SinkUrl::Sqlite("out.db".into()));
/// assert_eq!(SinkUrl::parse("jsonl://out")?, SinkUrl::JsonLines("out".into()));
/// assert!(SinkUrl::parse("mysql://x").is_err());
/// # Ok::<(), haul_spec::SpecError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SinkUrl {
    /// An SQLite file (the default): upserts by primary key, state per partition.
    Sqlite(PathBuf),
    /// A directory of JSON Lines files, one per stream.
    JsonLines(PathBuf),
}

impl SinkUrl {
    /// Parses `sqlite:PATH`, `sqlite://PATH`, `jsonl:DIR` or `jsonl://DIR`.
    pub fn parse(url: &str) -> Result<Self, crate::SpecError> {
        let (scheme, rest) = url.split_once(':').ok_or_else(|| {
            crate::SpecError::Sink(format!(
                "sink {url:?} has no scheme: write `sqlite:PATH` or `jsonl:DIR`"
            ))
        })?;
        let path = rest.strip_prefix("//").unwrap_or(rest);
        if path.is_empty() {
            return Err(crate::SpecError::Sink(format!("sink {url:?} has no path")));
        }
        match scheme {
            "sqlite" => Ok(SinkUrl::Sqlite(path.into())),
            "jsonl" => Ok(SinkUrl::JsonLines(path.into())),
            other => Err(crate::SpecError::Sink(format!(
                "unknown sink scheme `{other}`: this haul writes `sqlite:` and `jsonl:`"
            ))),
        }
    }

    /// Opens the sink for `streams` (name and primary key pointers).
    pub fn open(
        &self,
        streams: &[(String, Vec<String>)],
    ) -> Result<Box<dyn Sink>, crate::SpecError> {
        match self {
            SinkUrl::Sqlite(path) => {
                if let Some(dir) = path.parent()
                    && !dir.as_os_str().is_empty()
                {
                    std::fs::create_dir_all(dir)
                        .map_err(|e| crate::SpecError::Sink(format!("{}: {e}", dir.display())))?;
                }
                let mut sink =
                    SqliteSink::open(path).map_err(|e| crate::SpecError::Sink(e.to_string()))?;
                for (name, keys) in streams {
                    let mut config = StreamConfig::new(name.clone());
                    if !keys.is_empty() {
                        config = config.primary_key(keys.iter().cloned());
                    }
                    sink = sink.stream(config);
                }
                Ok(Box::new(sink))
            }
            SinkUrl::JsonLines(dir) => {
                std::fs::create_dir_all(dir)
                    .map_err(|e| crate::SpecError::Sink(format!("{}: {e}", dir.display())))?;
                Ok(Box::new(JsonLinesSink::new(dir.clone())))
            }
        }
    }
}

impl std::fmt::Display for SinkUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SinkUrl::Sqlite(p) => write!(f, "sqlite:{}", p.display()),
            SinkUrl::JsonLines(p) => write!(f, "jsonl:{}", p.display()),
        }
    }
}
