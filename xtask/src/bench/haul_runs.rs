//! haul, full stack (transport, retry, rate limiter, paginator, guards), as a
//! user would configure it.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use haul::core::{Request, Response, TransportError};
use haul::paginate::OffsetPaginator;
use haul::{
    AdaptiveRate, AllOf, CursorPaginator, ExtractError, Extractor, HeaderAdaptive, JsonLinesSink,
    RateLimiter, ReqwestTransport, Sink, SqliteSink, StreamConfig, Transport,
};
use haul::{
    Connector, LinkHeaderPaginator, MemorySink, Partition, Partitions, RequestTemplate, StreamDef,
};
use url::Url;

use super::null_sink::NullSink;
use super::options::{CONNECTOR_PAGE_SIZE, PAGE_SIZE, STREAMS};
use super::sample::Sample;

/// Where the sequential rows write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SinkChoice {
    Null,
    Jsonl,
    Sqlite,
}

impl SinkChoice {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::Null => "null sink",
            Self::Jsonl => "JsonLinesSink (fsync per batch)",
            Self::Sqlite => "SqliteSink (WAL, upsert by id)",
        }
    }
}

/// The cursor-style `/items` stream, 100 records per page, behind `limiter`.
pub(crate) fn cursor_extractor_with(
    base: &Url,
    stream: &str,
    limiter: impl RateLimiter + 'static,
) -> Result<Extractor, String> {
    cursor_builder(base, stream)
        .rate_limiter(limiter)
        .build()
        .map_err(|e| format!("cannot build the extractor: {e}"))
}

fn cursor_builder(base: &Url, stream: &str) -> haul::ExtractorBuilder {
    Extractor::builder()
        .url(format!("{base}items"))
        .paginator(
            CursorPaginator::new("/next_cursor", "cursor")
                .records_at("/data")
                .page_size("limit", PAGE_SIZE as u64),
        )
        .stream(stream)
}

/// A SQLite destination keyed by id, with a watermark column (as the demo).
pub(crate) fn sqlite_sink(path: &Path, stream: &str) -> Result<SqliteSink, String> {
    for suffix in ["", "-wal", "-shm"] {
        let file = path.with_file_name(format!(
            "{}{suffix}",
            path.file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("haul.db")
        ));
        if file.exists() {
            std::fs::remove_file(&file)
                .map_err(|e| format!("cannot remove {}: {e}", file.display()))?;
        }
    }
    Ok(SqliteSink::open(path)
        .map_err(|e| format!("cannot open {}: {e}", path.display()))?
        .stream(
            StreamConfig::new(stream)
                .primary_key(["/id"])
                .watermark("/updated_at"),
        ))
}

/// One sequential pass over `/items` into `sink`; `scratch` holds its files.
pub(crate) async fn sequential(
    base: &Url,
    sink: SinkChoice,
    scratch: &Path,
) -> Result<Sample, String> {
    let extractor = cursor_extractor_with(base, "items", HeaderAdaptive::new())?;
    let destination: Box<dyn Sink> = match sink {
        SinkChoice::Null => Box::new(NullSink::default()),
        SinkChoice::Jsonl => {
            let dir = scratch.join("jsonl");
            if dir.exists() {
                std::fs::remove_dir_all(&dir)
                    .map_err(|e| format!("cannot clear {}: {e}", dir.display()))?;
            }
            Box::new(JsonLinesSink::new(dir))
        }
        SinkChoice::Sqlite => Box::new(sqlite_sink(&scratch.join("haul.db"), "items")?),
    };
    let started = Instant::now();
    let summary = extractor
        .run(destination.as_ref())
        .await
        .map_err(|e| format!("haul ({}): {e}", sink.label()))?;
    let elapsed = started.elapsed();
    let _ = destination.close().await;
    Ok(Sample {
        records: summary.records,
        requests: summary.requests,
        elapsed,
    })
}

/// One sequential pass over `/items` into a null sink behind `HeaderAdaptive`
/// + `AdaptiveRate` (never throttled by this server: what it costs to carry).
pub(crate) async fn sequential_adaptive_rate(base: &Url) -> Result<Sample, String> {
    let limiter = AllOf::new()
        .with(HeaderAdaptive::new())
        .with(AdaptiveRate::new());
    let extractor = cursor_extractor_with(base, "items", limiter)?;
    let sink = NullSink::default();
    let started = Instant::now();
    let summary = extractor
        .run(&sink)
        .await
        .map_err(|e| format!("haul (HeaderAdaptive + AdaptiveRate): {e}"))?;
    Ok(Sample {
        records: summary.records,
        requests: summary.requests,
        elapsed: started.elapsed(),
    })
}

/// `/offset` from `start` with up to `k` pages in flight, into a null sink.
pub(crate) async fn concurrent(base: &Url, start: usize, k: usize) -> Result<Sample, String> {
    let extractor = Extractor::builder()
        .url(format!("{base}offset"))
        .paginator(
            OffsetPaginator::new("offset")
                .limit("limit", PAGE_SIZE as u64)
                .total_at("/total")
                .records_at("/results")
                .start_at(start as u64),
        )
        .rate_limiter(HeaderAdaptive::new())
        .concurrency(k)
        .stream("offset")
        .build()
        .map_err(|e| format!("cannot build the extractor: {e}"))?;
    let sink = NullSink::default();
    let started = Instant::now();
    let summary = extractor
        .run(&sink)
        .await
        .map_err(|e| format!("haul concurrent K={k}: {e}"))?;
    let elapsed = started.elapsed();
    if sink.records() != summary.records {
        return Err(format!(
            "haul concurrent K={k}: {} records fetched but {} reached the sink",
            summary.records,
            sink.records()
        ));
    }
    Ok(Sample {
        records: summary.records,
        requests: summary.requests,
        elapsed,
    })
}

/// What the eight streams did together.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StreamsOutcome {
    pub(crate) sample: Sample,
    pub(crate) retries: u64,
    pub(crate) throttle_wait: Duration,
}

/// Hides `X-RateLimit-*`, so only the IETF `RateLimit` headers can pace.
struct IetfOnly(ReqwestTransport);

#[async_trait::async_trait]
impl Transport for IetfOnly {
    async fn send(&self, request: &Request) -> Result<Response, TransportError> {
        let mut response = self.0.send(request).await?;
        for name in [
            "x-ratelimit-limit",
            "x-ratelimit-remaining",
            "x-ratelimit-reset",
        ] {
            response.headers.remove(name);
        }
        Ok(response)
    }
}

/// Eight `/items` streams sharing one transport and `limiter`, each stopped
/// cleanly after `window`; with `ietf_only`, the client sees only the IETF
/// rate-limit headers.
pub(crate) async fn streams(
    base: &Url,
    limiter: Arc<dyn RateLimiter>,
    ietf_only: bool,
    window: Duration,
) -> Result<StreamsOutcome, String> {
    let reqwest = ReqwestTransport::builder()
        .build()
        .map_err(|e| format!("cannot build the transport: {e}"))?;
    let transport: Arc<dyn Transport> = if ietf_only {
        Arc::new(IetfOnly(reqwest))
    } else {
        Arc::new(reqwest)
    };
    let extractors = (1..=STREAMS)
        .map(|n| {
            cursor_builder(base, &format!("stream_{n}"))
                .transport(Arc::clone(&transport))
                .rate_limiter(Arc::clone(&limiter))
                .build()
                .map_err(|e| format!("cannot build the extractor: {e}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let sink = NullSink::default();
    let started = Instant::now();
    let deadline = tokio::time::Instant::from_std(started + window);
    let runs = extractors
        .iter()
        .map(|e| e.run_until(&sink, tokio::time::sleep_until(deadline)));
    let results = futures::future::join_all(runs).await;
    let elapsed = started.elapsed();
    let mut outcome = StreamsOutcome {
        sample: Sample {
            elapsed,
            ..Sample::default()
        },
        retries: 0,
        throttle_wait: Duration::ZERO,
    };
    for result in results {
        let summary = match result {
            Ok(summary) => summary,
            Err(ExtractError::Interrupted { summary, .. }) => *summary,
            Err(e) => return Err(format!("a stream failed: {e}")),
        };
        outcome.sample.records += summary.records;
        outcome.sample.requests += summary.requests;
        outcome.retries += summary.retries;
        outcome.throttle_wait += summary.throttle_wait;
    }
    Ok(outcome)
}

/// A connector of one stream with `partitions` partitions (a list), each
/// walking `/link` to its end (the server's dataset is exactly five pages),
/// with at most `in_flight` requests at once, into a `MemorySink`.
pub(crate) async fn connector(
    base: &Url,
    partitions: usize,
    in_flight: usize,
) -> Result<Sample, String> {
    let list = (0..partitions).map(|i| Partition::new([("part", format!("p{i:04}"))]));
    let connector = Connector::builder("bench")
        .max_in_flight(in_flight)
        .stream(
            StreamDef::new(
                "pages",
                RequestTemplate::get(format!("{base}link")).query("part", "{part}"),
                LinkHeaderPaginator::new().page_size("per_page", CONNECTOR_PAGE_SIZE as u64),
            )
            .partitions(Partitions::list(list)),
        )
        .build()
        .map_err(|e| format!("cannot build the connector: {e}"))?;
    let sink = MemorySink::new();
    let started = Instant::now();
    let summary = connector
        .run(&sink)
        .await
        .map_err(|e| format!("connector ({in_flight} in flight): {e}"))?;
    Ok(Sample {
        records: summary.records,
        requests: summary.requests,
        elapsed: started.elapsed(),
    })
}
