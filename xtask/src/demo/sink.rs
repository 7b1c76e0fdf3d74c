//! The demo's destination: SQLite (default) or JSON Lines.

use std::path::{Path, PathBuf};

use haul::{JsonLinesSink, Sink, SqliteSink, StreamConfig};

/// Which sink the demo writes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SinkKind {
    Sqlite,
    Jsonl,
}

impl SinkKind {
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        match text {
            "sqlite" => Ok(Self::Sqlite),
            "jsonl" => Ok(Self::Jsonl),
            other => Err(format!("--sink must be sqlite or jsonl, got {other:?}")),
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Jsonl => "jsonl",
        }
    }
}

pub(crate) enum DemoSink {
    Sqlite(SqliteSink),
    Jsonl(JsonLinesSink),
}

impl DemoSink {
    pub(crate) fn open(kind: SinkKind, out: &Path, stream: &str) -> Result<Self, String> {
        Ok(match kind {
            SinkKind::Sqlite => {
                let path = out.join("haul.db");
                let sink = SqliteSink::open(&path)
                    .map_err(|e| format!("cannot open {}: {e}", path.display()))?
                    .stream(
                        StreamConfig::new(stream)
                            .primary_key(["/id"])
                            .watermark("/updated_at"),
                    );
                Self::Sqlite(sink)
            }
            SinkKind::Jsonl => Self::Jsonl(JsonLinesSink::new(out)),
        })
    }

    /// The files this sink owns (removed for a fresh demo run).
    pub(crate) fn files(kind: SinkKind, out: &Path, stream: &str) -> Vec<PathBuf> {
        match kind {
            SinkKind::Sqlite => ["haul.db", "haul.db-wal", "haul.db-shm"]
                .iter()
                .map(|f| out.join(f))
                .collect(),
            SinkKind::Jsonl => vec![
                out.join(format!("{stream}.jsonl")),
                out.join(format!("{stream}.state.json")),
            ],
        }
    }

    pub(crate) fn as_sink(&self) -> &dyn Sink {
        match self {
            Self::Sqlite(s) => s,
            Self::Jsonl(s) => s,
        }
    }

    pub(crate) fn location(&self, stream: &str) -> String {
        match self {
            Self::Sqlite(s) => format!("{} (table {stream})", s.path().display()),
            Self::Jsonl(s) => s.data_path(stream).display().to_string(),
        }
    }

    /// Every stored record's JSON text.
    pub(crate) async fn records(&self, stream: &str) -> Result<Vec<String>, String> {
        match self {
            Self::Sqlite(s) => s.records(stream).await.map_err(|e| e.to_string()),
            Self::Jsonl(s) => {
                let path = s.data_path(stream);
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                Ok(text.lines().map(str::to_owned).collect())
            }
        }
    }
}
