//! The shared sink laws (`haul_sink::laws`), run against SQLite.

use std::path::PathBuf;

use haul_sink::laws::{Destination, check_all};
use haul_sink::{Sink, SqliteSink, StreamConfig};

struct SqliteFile(PathBuf);

#[async_trait::async_trait]
impl Destination for SqliteFile {
    async fn sink(&self, streams: &[StreamConfig]) -> Box<dyn Sink> {
        let sink = streams
            .iter()
            .cloned()
            .fold(SqliteSink::open(&self.0).unwrap(), SqliteSink::stream);
        Box::new(sink)
    }

    async fn tagged_records(&self, stream: &str) -> Vec<(String, String)> {
        SqliteSink::open(&self.0)
            .unwrap()
            .tagged_records(stream)
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn sqlite_keeps_the_sink_laws() {
    let dir = tempfile::tempdir().unwrap();
    check_all(&SqliteFile(dir.path().join("laws.db"))).await;
}
