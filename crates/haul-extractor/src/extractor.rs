//! [`Extractor`]: the run loop.

use std::sync::Arc;

use futures::Stream;
use haul_core::{Page, Record, Request};
use haul_sink::Sink;

use crate::commit::{CommitAhead, after_failure, commit_stream};
use crate::event::Event;
use crate::plan::Plan;
use crate::walk::Walker;
use crate::{ExtractError, RunSummary};

/// Extracts one stream: fetches page after page (with retries, rate limiting
/// and pagination guards) and either yields them as a [`Stream`] or drives
/// them into a [`Sink`] in batches with checkpoints.
///
/// Cheap to clone; clones share configuration, transport and limiter.
#[derive(Clone)]
pub struct Extractor {
    inner: Arc<Plan>,
}

impl std::fmt::Debug for Extractor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Extractor")
            .field("stream", &self.inner.stream)
            .field("request", &self.inner.request)
            .field("paginator", &self.inner.paginator.name())
            .finish_non_exhaustive()
    }
}

impl Extractor {
    pub(crate) fn from_plan(plan: Plan) -> Self {
        Self {
            inner: Arc::new(plan),
        }
    }

    /// The configuration (a connector runs each partition with a copy).
    pub(crate) fn into_plan(self) -> Arc<Plan> {
        self.inner
    }

    /// The stream name.
    pub fn stream_name(&self) -> &str {
        &self.inner.stream
    }

    /// Pages of a fresh pass, lazily: nothing is sent until the stream is polled.
    /// The stream ends after the last page or after the first error.
    pub fn pages(&self) -> impl Stream<Item = Result<Page, ExtractError>> + Send + 'static {
        let walker = Walker::fresh(self.inner.clone());
        futures::stream::unfold(Some(walker), |walker| async move {
            let mut walker = walker?;
            match walker.next_page().await {
                Some(Ok(page)) => Some((Ok(page), Some(walker))),
                Some(Err(e)) => Some((Err(e), None)),
                None => None,
            }
        })
    }

    /// Records of a fresh pass, page by page, lazily.
    pub fn records(&self) -> impl Stream<Item = Result<Record, ExtractError>> + Send + 'static {
        use futures::StreamExt;
        self.pages().flat_map(|page| {
            let items: Vec<Result<Record, ExtractError>> = match page {
                Ok(page) => page.records.into_iter().map(Ok).collect(),
                Err(e) => vec![Err(e)],
            };
            futures::stream::iter(items)
        })
    }

    /// Runs the stream into `sink`: resumes from the sink's checkpoint (or
    /// starts a fresh pass if there is none or the last pass finished),
    /// commits records in batches with the checkpoint that follows them, and
    /// returns the run summary.
    ///
    /// On failure, everything fetched up to the last complete page is
    /// committed first, then the original error is returned.
    pub async fn run(&self, sink: &dyn Sink) -> Result<RunSummary, ExtractError> {
        self.run_until(sink, std::future::pending::<()>()).await
    }

    /// Like [`run`](Self::run), but stops cleanly once `stop` completes (a
    /// signal, a deadline): the page in flight is finished, everything fetched
    /// is committed with its checkpoint, and [`ExtractError::Interrupted`] says
    /// the stream can be resumed.
    pub async fn run_until(
        &self,
        sink: &dyn Sink,
        stop: impl Future<Output = ()> + Send,
    ) -> Result<RunSummary, ExtractError> {
        let inner = &self.inner;
        let started = inner.clock.now();
        let stored = sink.open(&inner.stream).await?;
        let mut walker = match stored {
            Some(cp) if !cp.is_done() => {
                tracing::info!(stream = %inner.stream, after_page = cp.pages, "resuming from checkpoint");
                Walker::resume(inner.clone(), &cp)?
            }
            previous => {
                if previous.is_some() {
                    tracing::info!(stream = %inner.stream, "previous pass finished; starting a new pass");
                }
                let (request, lower_bound) = self.first_request(sink).await?;
                Walker::fresh_from(inner.clone(), request, lower_bound)
            }
        };
        let resumed_after_page = walker.pages;
        let mut buffer: Vec<Record> = Vec::with_capacity(inner.batch_records);
        let mut uncommitted_pages = 0u64;
        // A full batch commits while the next one is fetched (one at a time).
        let mut ahead = CommitAhead::default();
        let mut stop = std::pin::pin!(stop);
        let outcome = loop {
            if futures::FutureExt::now_or_never(stop.as_mut()).is_some() {
                tracing::warn!(stream = %inner.stream, "stop requested: committing and stopping");
                break Err(None);
            }
            match ahead.alongside(walker.next_page()).await? {
                Some(Ok(page)) => {
                    buffer.extend(page.records);
                    uncommitted_pages += 1;
                    if buffer.len() >= inner.batch_records {
                        buffer = ahead
                            .start(inner, sink, walker.checkpoint(), buffer)
                            .await?;
                        uncommitted_pages = 0;
                    }
                }
                Some(Err(error)) => break Err(Some(error)),
                None => break Ok(()),
            }
        };
        let mut summary = std::mem::take(&mut walker.summary);
        summary.stream = inner.stream.clone();
        summary.resumed_after_page = resumed_after_page;
        match outcome {
            Ok(()) => {
                ahead.finish().await?;
                commit_stream(inner, sink, &walker.checkpoint(), &buffer).await?;
                inner.observer.on_event(&Event::StreamFinished {
                    stream: &inner.stream,
                });
                summary.elapsed = inner.clock.now().saturating_sub(started);
                summary.finished = true;
                summary.end = walker.end;
                tracing::info!(summary = %summary, "stream finished");
                Ok(summary)
            }
            Err(failure) => {
                let original = failure.unwrap_or_else(|| {
                    summary.elapsed = inner.clock.now().saturating_sub(started);
                    ExtractError::Interrupted {
                        summary: Box::new(summary.clone()),
                        pages: walker.pages,
                    }
                });
                // The batch in commit lands first; if it cannot, nothing
                // later may (its checkpoint would skip that batch's records).
                if let Err(commit) = ahead.finish().await {
                    return Err(after_failure(original, commit));
                }
                if uncommitted_pages > 0 {
                    tracing::warn!(stream = %inner.stream, pages = uncommitted_pages, error = %original,
                        "run stopped; committing the pages fetched before it");
                    if let Err(commit) =
                        commit_stream(inner, sink, &walker.checkpoint(), &buffer).await
                    {
                        return Err(after_failure(original, commit));
                    }
                }
                Err(original)
            }
        }
    }

    /// Runs several streams at once into one sink, each with its own
    /// checkpoint; returns each stream's result in the order given.
    ///
    /// Build the extractors with the same `Arc`'d transport and rate limiter to
    /// share one connection pool and one budget (several endpoints of one
    /// API, or partitions of a backfill).
    pub async fn run_all(
        extractors: &[Extractor],
        sink: &dyn Sink,
    ) -> Vec<Result<RunSummary, ExtractError>> {
        futures::future::join_all(extractors.iter().map(|e| e.run(sink))).await
    }

    /// The first request of a fresh pass: the configured one, narrowed by the
    /// incremental lower bound when the destination already holds data.
    async fn first_request(
        &self,
        sink: &dyn Sink,
    ) -> Result<(Request, Option<String>), ExtractError> {
        let inner = &self.inner;
        let mut request = inner.request.clone();
        let Some(inc) = &inner.incremental else {
            return Ok((request, None));
        };
        let Some(watermark) = sink.watermark(&inner.stream, &inc.field).await? else {
            tracing::info!(stream = %inner.stream, "incremental: the destination is empty; full pass");
            return Ok((request, None));
        };
        let failed = |source| ExtractError::Incremental {
            stream: inner.stream.clone(),
            source,
        };
        let bound = inc.lower_bound(&watermark).map_err(failed)?;
        tracing::info!(stream = %inner.stream, watermark = %watermark, lower_bound = %bound,
            placement = %inc.placement, "incremental pass from the destination's watermark minus the lookback");
        inc.place(&mut request, &bound).map_err(failed)?;
        Ok((request, Some(bound)))
    }
}
