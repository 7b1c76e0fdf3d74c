//! The shared sink laws, as SQLite keeps them.

use haul_sink::laws::{Destination, check_all};
use haul_sink::{Sink, StreamConfig};

use crate::common::TestDb;

struct Schema<'a>(&'a TestDb);

#[async_trait::async_trait]
impl Destination for Schema<'_> {
    async fn sink(&self, streams: &[StreamConfig]) -> Box<dyn Sink> {
        let sink = streams
            .iter()
            .cloned()
            .fold(self.0.sink().await, |sink, config| sink.stream(config));
        Box::new(sink)
    }

    async fn tagged_records(&self, stream: &str) -> Vec<(String, String)> {
        self.0.sink().await.tagged_records(stream).await.unwrap()
    }
}

#[tokio::test]
async fn postgres_keeps_the_sink_laws() {
    let Some(db) = TestDb::new().await else {
        return;
    };
    check_all(&Schema(&db)).await;
}
