//! [`Extractor`]: the run loop.

use std::sync::Arc;
use std::time::Duration;

use futures::Stream;
use haul_core::{
    Checkpoint, Clock, Page, Position, Record, Request, Response, SavedRequest, Sleeper,
};
use haul_paginate::{Guard, Next, PageContext, PageState, Paginator};
use haul_ratelimit::{Permit, RateLimiter};
use haul_retry::{Classification, Classifier, Outcome, RetryContext, RetryDecision, RetryPolicy};
use haul_sink::{Batch, Sink};
use haul_transport::Transport;

use crate::event::{Event, Observer};
use crate::{ExtractError, ExtractorBuilder, RunSummary};

pub(crate) struct Inner {
    pub(crate) request: Request,
    pub(crate) paginator: Arc<dyn Paginator>,
    pub(crate) transport: Arc<dyn Transport>,
    pub(crate) retry: Arc<dyn RetryPolicy>,
    pub(crate) classifier: Arc<dyn Classifier>,
    pub(crate) limiter: Arc<dyn RateLimiter>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) sleeper: Arc<dyn Sleeper>,
    pub(crate) observer: Arc<dyn Observer>,
    pub(crate) stream: String,
    pub(crate) batch_records: usize,
    pub(crate) max_pages: Option<u64>,
}

/// Extracts one stream: fetches page after page (with retries, rate limiting
/// and pagination guards) and either yields them as a [`Stream`] or drives
/// them into a [`Sink`] in batches with checkpoints.
///
/// Cheap to clone; clones share configuration, transport and limiter.
#[derive(Clone)]
pub struct Extractor {
    inner: Arc<Inner>,
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
    /// Starts configuring an extractor.
    pub fn builder() -> ExtractorBuilder {
        ExtractorBuilder::default()
    }

    pub(crate) fn from_inner(inner: Inner) -> Self {
        Self {
            inner: Arc::new(inner),
        }
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
        let inner = &self.inner;
        let started = inner.clock.now();
        let stored = sink.open(&inner.stream).await?;
        let mut walker = match stored {
            Some(cp) if !cp.is_done() => {
                tracing::info!(stream = %inner.stream, after_page = cp.pages, "resuming from checkpoint");
                Walker::resume(inner.clone(), &cp)?
            }
            Some(_) => {
                tracing::info!(stream = %inner.stream, "previous pass finished; starting a new pass");
                Walker::fresh(inner.clone())
            }
            None => Walker::fresh(inner.clone()),
        };
        let resumed_after_page = walker.pages;
        let mut buffer: Vec<Record> = Vec::with_capacity(inner.batch_records);
        let mut uncommitted_pages = 0u64;
        let outcome = loop {
            match walker.next_page().await {
                Some(Ok(page)) => {
                    buffer.extend(page.records);
                    uncommitted_pages += 1;
                    if buffer.len() >= inner.batch_records {
                        walker.commit(sink, &buffer).await?;
                        buffer.clear();
                        uncommitted_pages = 0;
                    }
                }
                Some(Err(error)) => break Err(error),
                None => break Ok(()),
            }
        };
        match outcome {
            Ok(()) => {
                walker.commit(sink, &buffer).await?;
                inner.observer.on_event(&Event::StreamFinished {
                    stream: &inner.stream,
                });
            }
            Err(original) => {
                if uncommitted_pages > 0 {
                    tracing::warn!(stream = %inner.stream, pages = uncommitted_pages, error = %original,
                        "run failed; committing the pages fetched before the failure");
                    if let Err(commit) = walker.commit(sink, &buffer).await {
                        return Err(ExtractError::CommitAfterFailure {
                            original: Box::new(original),
                            commit: match commit {
                                ExtractError::Sink(e) => e,
                                other => haul_sink::SinkError::Usage(other.to_string()),
                            },
                        });
                    }
                }
                return Err(original);
            }
        }
        let mut summary = walker.summary;
        summary.stream = inner.stream.clone();
        summary.elapsed = inner.clock.now().saturating_sub(started);
        summary.resumed_after_page = resumed_after_page;
        summary.finished = true;
        tracing::info!(summary = %summary, "stream finished");
        Ok(summary)
    }
}

/// Hands a used permit back to the limiter (concurrency caps count it).
struct PermitGuard<'a>(&'a dyn RateLimiter);

impl Drop for PermitGuard<'_> {
    fn drop(&mut self) {
        self.0.release();
    }
}

/// The state of one pass over a stream.
struct Walker {
    inner: Arc<Inner>,
    state: PageState,
    guard: Guard,
    /// The request for the next page; `None` once the pass is over.
    next: Option<Request>,
    /// Pages of this pass completed (resumed runs continue the count).
    pages: u64,
    /// Records of this pass completed.
    records: u64,
    summary: RunSummary,
    first: bool,
}

impl Walker {
    fn fresh(inner: Arc<Inner>) -> Self {
        let guard = Guard::new(inner.max_pages);
        Self {
            next: Some(inner.request.clone()),
            inner,
            state: PageState::default(),
            guard,
            pages: 0,
            records: 0,
            summary: RunSummary::default(),
            first: true,
        }
    }

    fn resume(inner: Arc<Inner>, cp: &Checkpoint) -> Result<Self, ExtractError> {
        let mut walker = Self::fresh(inner);
        walker.pages = cp.pages;
        walker.records = cp.records;
        walker.state = PageState::from_json(&cp.paginator)?;
        match &cp.position {
            Position::Next(saved) => {
                walker.next = Some(saved.to_request(&walker.inner.request)?);
                walker.first = false;
            }
            Position::Done => walker.next = None,
            _ => {}
        }
        Ok(walker)
    }

    fn checkpoint(&self) -> Checkpoint {
        Checkpoint {
            stream: self.inner.stream.clone(),
            position: match &self.next {
                Some(req) => Position::Next(SavedRequest::from_request(req)),
                None => Position::Done,
            },
            pages: self.pages,
            records: self.records,
            lower_bound: None,
            paginator: self.state.to_json(),
        }
    }

    async fn commit(&mut self, sink: &dyn Sink, records: &[Record]) -> Result<(), ExtractError> {
        let checkpoint = self.checkpoint();
        sink.write(Batch {
            stream: &self.inner.stream,
            records,
            checkpoint: &checkpoint,
        })
        .await?;
        self.inner.observer.on_event(&Event::BatchCommitted {
            stream: &self.inner.stream,
            pages: self.pages,
            records: self.records,
        });
        Ok(())
    }

    /// Fetches the next page, or `None` at the end of the pass.
    async fn next_page(&mut self) -> Option<Result<Page, ExtractError>> {
        let request = self.next.take()?;
        let was_first = self.first;
        let result = self.fetch_page(request.clone()).await;
        if result.is_err() {
            // The failed request is where a resumed run must start again: a
            // checkpoint taken now must not claim the pass is over.
            self.next = Some(request);
            self.first = was_first;
        }
        Some(result)
    }

    async fn fetch_page(&mut self, request: Request) -> Result<Page, ExtractError> {
        let inner = self.inner.clone();
        let request = if std::mem::take(&mut self.first) {
            inner.paginator.first(request, &mut self.state)?
        } else {
            request
        };
        self.guard.admit(&request, self.pages)?;
        let response = self.send_with_retries(&request).await?;
        let records = inner.paginator.records(&response)?;
        let number = self.pages + 1;
        let next = inner.paginator.next(
            &PageContext {
                request: &request,
                response: &response,
                records: &records,
                number,
            },
            &mut self.state,
        )?;
        self.pages = number;
        self.records += records.len() as u64;
        self.summary.pages += 1;
        self.summary.records += records.len() as u64;
        self.next = match next {
            Next::Request(r) => Some(r),
            _ => None,
        };
        inner.observer.on_event(&Event::PageFetched {
            stream: &inner.stream,
            number,
            records: records.len(),
        });
        Ok(Page {
            number,
            records,
            request,
            status: response.status,
            bytes: response.body.len(),
        })
    }

    /// The retry loop: a loop, never recursion, bounded by the policy.
    async fn send_with_retries(&mut self, request: &Request) -> Result<Response, ExtractError> {
        let inner = self.inner.clone();
        let stream = inner.stream.as_str();
        let started = inner.clock.now();
        let url = request.masked_url();
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            self.wait_for_permit().await;
            tracing::debug!(stream, method = %request.method, url = %url, attempt, "sending request");
            inner.observer.on_event(&Event::RequestSent {
                stream,
                url: &url,
                attempt,
            });
            let result = {
                // Released when the request completes or its future is dropped.
                let _permit = PermitGuard(inner.limiter.as_ref());
                inner.transport.send(request).await
            };
            self.summary.requests += 1;
            let classification = match &result {
                Ok(response) => {
                    self.summary.bytes += response.body.len() as u64;
                    inner
                        .limiter
                        .observe(response, inner.clock.now(), inner.clock.wall());
                    inner.observer.on_event(&Event::Response {
                        stream,
                        status: response.status,
                        latency: response.elapsed,
                        bytes: response.body.len(),
                    });
                    inner
                        .classifier
                        .classify(Outcome::Response(response), inner.clock.wall())
                }
                Err(error) => inner
                    .classifier
                    .classify(Outcome::Error(error), inner.clock.wall()),
            };
            if classification == Classification::Success {
                inner.retry.on_success(attempt);
                // Success implies Ok: the classifier only says Success for responses.
                if let Ok(response) = result {
                    return Ok(response);
                }
            }
            let decision = inner.retry.decide(&RetryContext {
                attempt,
                elapsed: inner.clock.now().saturating_sub(started),
                request,
                classification: &classification,
            });
            let reason = match &result {
                Ok(response) => format!("HTTP {}", response.status),
                Err(error) => error.to_string(),
            };
            match decision {
                RetryDecision::RetryAfter(delay) => {
                    self.summary.retries += 1;
                    tracing::info!(stream, url = %url, attempt, reason = %reason, delay = ?delay, "retrying");
                    inner.observer.on_event(&Event::RetryScheduled {
                        stream,
                        attempt,
                        delay,
                        reason: &reason,
                    });
                    if matches!(classification, Classification::Throttled { .. }) {
                        self.summary.throttle_wait += delay;
                        inner.observer.on_event(&Event::ThrottleWait {
                            stream,
                            wait: delay,
                        });
                    }
                    inner.sleeper.sleep(delay).await;
                }
                RetryDecision::GiveUp(gave_up) => {
                    tracing::warn!(stream, url = %url, attempt, reason = %reason, why = %gave_up, "giving up");
                    return Err(match result {
                        Err(source) => ExtractError::Transport {
                            source,
                            attempts: attempt,
                            gave_up,
                        },
                        Ok(response) => ExtractError::Http {
                            status: response.status,
                            url: response.masked_url(),
                            preview: response.preview(),
                            attempts: attempt,
                            gave_up,
                        },
                    });
                }
            }
        }
    }

    async fn wait_for_permit(&mut self) {
        let inner = self.inner.clone();
        loop {
            match inner.limiter.try_acquire(inner.clock.now()) {
                Permit::Granted => return,
                Permit::Wait(wait) => {
                    // A zero wait would spin; the limiter promises progress, but be safe.
                    let wait = wait.max(Duration::from_micros(100));
                    self.summary.throttle_wait += wait;
                    tracing::debug!(stream = %inner.stream, wait = ?wait, "waiting for the rate limiter");
                    inner.observer.on_event(&Event::ThrottleWait {
                        stream: &inner.stream,
                        wait,
                    });
                    inner.sleeper.sleep(wait).await;
                }
            }
        }
    }
}
