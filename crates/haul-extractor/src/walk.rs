//! [`Walker`]: one pass over a stream (or one partition), page by page, in
//! order. It fetches through [`crate::fetch`] and knows nothing of sinks:
//! callers commit pages with [`Walker::checkpoint`].

use std::collections::VecDeque;
use std::sync::Arc;

use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use haul_core::MaskedUrl;
use haul_core::{Checkpoint, Page, Position, Record, Request, Response, SavedRequest};
use haul_paginate::{EmptyPages, Guard, Next, PageContext, PageState};

use crate::event::Event;
use crate::fetch::{Expect, FetchStats, fetch};
use crate::plan::Plan;
use crate::{ExtractError, PassEnd, RunSummary};

/// What one fetch produced: its counters and the page or the error.
type Fetched = (FetchStats, Result<(Response, Vec<Record>), ExtractError>);

/// A listed request sent (or answered) and not yet handed out, in page order.
struct Listed {
    request: Request,
    /// The answer, once it came (it waits here for the pages before it).
    answer: Option<Fetched>,
}

/// How many listed pages, beyond the requests in flight, may wait answered
/// for an earlier page: a page slower than the rest delays the pages after
/// it, but not the requests after it, until this many have piled up.
const LOOKAHEAD_PER_SLOT: usize = 1;

/// The state of one pass. Pages come out strictly in order; when the
/// paginator knows the remaining requests, up to `concurrency` of them are in
/// flight at once. A request that completes frees its slot for the next one
/// at once, even when pages before it are still on their way: its page waits
/// in `listed` (the bounded reorder buffer: at most `concurrency` pages
/// beyond the requests in flight).
pub(crate) struct Walker {
    inner: Arc<Plan>,
    state: PageState,
    guard: Guard,
    /// The request for the next page when fetching sequentially.
    next: Option<Request>,
    /// Known requests not yet sent (offset / page number with a total).
    queue: VecDeque<Request>,
    /// The fetches in flight, each tagged with its sequence number.
    in_flight: FuturesUnordered<BoxFuture<'static, (u64, Fetched)>>,
    /// Listed requests sent and not yet handed out, in page order: in
    /// flight, or answered and waiting for the pages before them.
    listed: VecDeque<Listed>,
    /// The sequence number of the front of `listed`.
    listed_front: u64,
    /// Pages of this pass completed (resumed runs continue the count).
    pub(crate) pages: u64,
    /// Records of this pass completed.
    records: u64,
    pub(crate) summary: RunSummary,
    first: bool,
    finished: bool,
    /// Why the pass ended, once it has.
    pub(crate) end: PassEnd,
    /// The incremental lower bound of this pass.
    lower_bound: Option<String>,
}

impl Walker {
    pub(crate) fn fresh(inner: Arc<Plan>) -> Self {
        let request = inner.request.clone();
        Self::fresh_from(inner, request, None)
    }

    /// A fresh pass starting with `request` (the configured one, possibly
    /// narrowed by an incremental lower bound).
    pub(crate) fn fresh_from(
        inner: Arc<Plan>,
        request: Request,
        lower_bound: Option<String>,
    ) -> Self {
        // The configured URL's origin is the reference, also on resume.
        let guard = Guard::new(inner.max_pages)
            .with_origin(&inner.request.url)
            .allow_cross_origin(inner.allow_cross_origin)
            .max_empty_pages(inner.max_empty_pages);
        Self {
            lower_bound,
            next: Some(request),
            inner,
            state: PageState::default(),
            guard,
            queue: VecDeque::new(),
            in_flight: FuturesUnordered::new(),
            listed: VecDeque::new(),
            listed_front: 0,
            pages: 0,
            records: 0,
            summary: RunSummary::default(),
            first: true,
            finished: false,
            end: PassEnd::NotEnded,
        }
    }

    pub(crate) fn resume(inner: Arc<Plan>, cp: &Checkpoint) -> Result<Self, ExtractError> {
        let mut walker = Self::fresh(inner);
        walker.pages = cp.pages;
        walker.records = cp.records;
        walker.state = PageState::from_json(&cp.paginator)?;
        walker.lower_bound = cp.lower_bound.clone();
        match &cp.position {
            Position::Next(saved) => {
                let mut request = saved.to_request(&walker.inner.request)?;
                // Credentials in the configured URL were stripped from the
                // checkpoint; put them back from configuration.
                for (name, value) in walker.inner.request.url.query_pairs() {
                    if walker.is_secret(&name) && request.query(&name).is_none() {
                        request.set_query(&name, &value);
                    }
                }
                // The stored request carries no headers: a bound placed in one
                // (or by a closure) is placed again, the same one.
                if let (Some(inc), Some(bound)) = (&walker.inner.incremental, &cp.lower_bound)
                    && inc.placement.reapply_on_resume()
                {
                    inc.place(&mut request, bound)
                        .map_err(|source| ExtractError::Incremental {
                            stream: walker.inner.stream.clone(),
                            source,
                        })?;
                }
                walker.next = Some(request);
                walker.first = false;
            }
            Position::Done => walker.next = None,
            _ => {}
        }
        Ok(walker)
    }

    fn is_secret(&self, name: &str) -> bool {
        haul_core::redact::is_sensitive_param(name)
            || self.inner.secret_params.iter().any(|p| p == name)
    }

    /// The request the next page comes from, if the pass is not over.
    fn upcoming(&self) -> Option<&Request> {
        self.listed
            .front()
            .map(|listed| &listed.request)
            .or(self.queue.front())
            .or(self.next.as_ref())
    }

    pub(crate) fn checkpoint(&self) -> Checkpoint {
        Checkpoint {
            stream: self.inner.stream.clone(),
            position: match self.upcoming() {
                Some(req) => Position::Next(SavedRequest::from_request_without(req, &|name| {
                    self.is_secret(name)
                })),
                None => Position::Done,
            },
            pages: self.pages,
            records: self.records,
            lower_bound: self.lower_bound.clone(),
            paginator: self.state.to_json(),
        }
    }

    /// Fetches the next page in order, or `None` at the end of the pass.
    /// After an error the walker stays positioned at the failed page.
    pub(crate) async fn next_page(&mut self) -> Option<Result<Page, ExtractError>> {
        if self.finished {
            return None;
        }
        let result = self.step().await;
        match &result {
            Some(Err(_)) => self.finished = true,
            None => {
                self.finished = true;
                if self.end == PassEnd::NotEnded {
                    self.end = PassEnd::Exhausted;
                }
            }
            Some(Ok(_)) => {}
        }
        result
    }

    async fn step(&mut self) -> Option<Result<Page, ExtractError>> {
        if let Err(e) = self.fill() {
            return Some(Err(e));
        }
        if let Some((request, (stats, response))) = self.next_listed().await {
            self.count(&stats);
            if let Err(error) = &response
                && self.answered_past_end(error, &request)
            {
                return None;
            }
            let result = self.settle(request.clone(), response, false);
            if result.is_err() {
                // Resume from the failed page; later in-flight pages are dropped.
                self.drop_known();
                self.next = Some(request);
            }
            return Some(result);
        }
        let request = self.next.take()?;
        let was_first = self.first;
        let prepared = if std::mem::take(&mut self.first) {
            match self.inner.paginator.first(request.clone(), &mut self.state) {
                Ok(r) => r,
                Err(e) => return Some(Err(e.into())),
            }
        } else {
            // A resumed pass whose checkpoint points past the announced end
            // (or a next request the paginator did not stop at) is over.
            if self.pages > 0 && self.inner.paginator.past_end(&request, &self.state) {
                self.end_past(
                    &request,
                    "the next request lies past the announced end; not sending it",
                );
                return None;
            }
            request.clone()
        };
        if let Err(e) = self.guard.admit(&prepared, self.pages) {
            self.next = Some(request);
            self.first = was_first;
            return Some(Err(e.into()));
        }
        let mut stats = FetchStats::default();
        let expect = Expect {
            number: self.pages + 1,
            state: Arc::new(self.state.clone()),
        };
        let response =
            fetch_in_slot(self.inner.clone(), prepared.clone(), &mut stats, expect).await;
        self.count(&stats);
        if let Err(error) = &response
            && !was_first
            && self.answered_past_end(error, &prepared)
        {
            return None;
        }
        let result = self.settle(prepared, response, true);
        if result.is_err() {
            self.next = Some(request);
            self.first = was_first;
        }
        Some(result)
    }

    /// The next listed page in order, once it is answered, or `None` when
    /// no listed request is outstanding. Every answer that comes first frees
    /// its slot for the next queued request at once.
    async fn next_listed(&mut self) -> Option<(Request, Fetched)> {
        loop {
            if self.listed.front()?.answer.is_some() {
                let listed = self.listed.pop_front()?;
                self.listed_front += 1;
                return listed.answer.map(|answer| (listed.request, answer));
            }
            let (seq, answer) = self.in_flight.next().await?;
            let index = seq
                .checked_sub(self.listed_front)
                .and_then(|i| usize::try_from(i).ok());
            if let Some(listed) = index.and_then(|i| self.listed.get_mut(i)) {
                listed.answer = Some(answer);
            }
            // A guard refusing the next request is reported when the walk
            // asks for the next page (`step` fills first); until then the
            // slot stays empty.
            let _ = self.fill();
        }
    }

    /// Forgets the requests listed from a total (queued or in flight).
    fn drop_known(&mut self) {
        self.in_flight = FuturesUnordered::new();
        self.listed_front += self.listed.len() as u64;
        self.listed.clear();
        self.queue.clear();
    }

    /// Adds one fetch's counters to the summary.
    fn count(&mut self, stats: &FetchStats) {
        self.summary.requests += stats.requests;
        self.summary.retries += stats.retries;
        self.summary.throttle_wait += stats.throttle_wait;
        self.summary.bytes += stats.bytes;
    }

    /// A `404` or an empty page that contradicts a total, for `request`,
    /// once every earlier page is complete and the announced total is
    /// reached, ends the pass (a total that shrank mid-run, a checkpoint
    /// stored past the end). Anywhere else it stays an error.
    fn answered_past_end(&mut self, error: &ExtractError, request: &Request) -> bool {
        let past = match error {
            ExtractError::Http { status, .. } => *status == http::StatusCode::NOT_FOUND,
            ExtractError::Contradiction { .. } => true,
            _ => false,
        };
        let reached = self.inner.paginator.past_end(request, &self.state)
            || self.state.total.is_some_and(|total| self.records >= total);
        if !(past && reached) {
            return false;
        }
        self.end_past(request, "a request past the announced total answered empty or 404; every record up to the total was fetched, ending the pass");
        true
    }

    /// Ends the pass at `request`, past the announced end.
    fn end_past(&mut self, request: &Request, why: &str) {
        let url = request.masked_url();
        tracing::warn!(stream = %self.inner.stream, url = %url, pages = self.pages, records = self.records,
            total = ?self.state.total, "{why}");
        self.end_pass(PassEnd::PastEnd, &url);
    }

    /// Ends the pass early for `end`: nothing more is sent, the position
    /// becomes "done", and observers hear why.
    fn end_pass(&mut self, end: PassEnd, url: &MaskedUrl) {
        self.drop_known();
        self.next = None;
        self.end = end;
        self.inner.observer.on_event(&Event::PassEnded {
            stream: &self.inner.stream,
            end,
            pages: self.pages,
            url,
        });
    }

    /// Sends queued requests until `concurrency` are in flight (or the
    /// reorder buffer is full).
    fn fill(&mut self) -> Result<(), ExtractError> {
        let concurrency = self.inner.concurrency;
        let max_listed = concurrency.saturating_mul(1 + LOOKAHEAD_PER_SLOT);
        while self.in_flight.len() < concurrency && self.listed.len() < max_listed {
            let Some(request) = self.queue.pop_front() else {
                break;
            };
            let page_index = self.pages + self.listed.len() as u64;
            if let Err(e) = self.guard.admit(&request, page_index) {
                self.queue.push_front(request);
                return Err(e.into());
            }
            let inner = self.inner.clone();
            let copy = request.clone();
            let expect = Expect {
                number: page_index + 1,
                state: Arc::new(self.state.clone()),
            };
            let seq = self.listed_front + self.listed.len() as u64;
            self.listed.push_back(Listed {
                request,
                answer: None,
            });
            self.in_flight.push(Box::pin(async move {
                let mut stats = FetchStats::default();
                let response = fetch_in_slot(inner, copy, &mut stats, expect).await;
                (seq, (stats, response))
            }));
        }
        Ok(())
    }

    /// Turns a response into a page and decides what comes next.
    fn settle(
        &mut self,
        request: Request,
        response: Result<(Response, Vec<Record>), ExtractError>,
        sequential: bool,
    ) -> Result<Page, ExtractError> {
        let (response, records) = response?;
        let inner = self.inner.clone();
        let number = self.pages + 1;
        let ctx = PageContext {
            request: &request,
            response: &response,
            records: &records,
            number,
        };
        let more_known = !self.queue.is_empty() || !self.listed.is_empty();
        // Every page goes through the paginator, in order, so its state
        // (totals, records counted) is right for each checkpoint and for the
        // decision after the last listed page.
        let next = match inner.paginator.next(&ctx, &mut self.state)? {
            Next::Request(r) => Some(r),
            _ => None,
        };
        let empty_run = match &next {
            Some(_) => self.guard.after_page(records.len()),
            None => EmptyPages::Continue,
        };
        if more_known && next.is_none() {
            // The listing ended before the requests listed from its total
            // (the total shrank, or the API said so): fetch nothing past it.
            tracing::info!(stream = %inner.stream, page = number,
                "the API ended the listing before the pages listed from its total; not fetching past it");
            self.drop_known();
        }
        let mut guard_ends = None;
        if let EmptyPages::Limit(empty) = empty_run
            && let Some(next) = &next
        {
            let url = next.masked_url();
            tracing::warn!(stream = %inner.stream, page = number, empty_pages = empty, next = %url,
                "{empty} consecutive pages without records while the API still offers a next page: ending the pass (max_empty_pages)");
            guard_ends = Some(url);
        } else if !more_known {
            // Sequential, or the last of a known list: the paginator decides.
            self.next = next;
            if sequential
                && self.next.is_some()
                && inner.concurrency > 1
                && let Some(list) = inner.paginator.remaining(&ctx, &self.state)
                && !list.is_empty()
            {
                tracing::debug!(stream = %inner.stream, pages = list.len(), concurrency = inner.concurrency,
                    "the paginator knows the remaining pages: fetching them concurrently");
                self.next = None;
                self.queue = list.into();
            }
        }
        if let Some(inc) = &inner.incremental {
            let unusable = records
                .iter()
                .filter(|r| {
                    r.field(&inc.field)
                        .ok()
                        .flatten()
                        .is_none_or(|v| !inc.is_usable(&v))
                })
                .count() as u64;
            if unusable > 0 {
                tracing::warn!(stream = %inner.stream, page = number, records = unusable, field = %inc.field,
                    "records without a usable watermark field: kept, but an incremental pass cannot select them");
                self.summary.records_without_watermark += unusable;
            }
        }
        self.pages = number;
        self.records += records.len() as u64;
        self.summary.pages += 1;
        self.summary.records += records.len() as u64;
        inner.observer.on_event(&Event::PageFetched {
            stream: &inner.stream,
            number,
            records: records.len(),
        });
        if let Some(url) = guard_ends {
            self.end_pass(PassEnd::EmptyPages, &url);
        }
        Ok(Page {
            number,
            records,
            request,
            status: response.status,
            bytes: response.body.len(),
        })
    }
}

/// Sends one request, holding one of the connector's request slots while
/// it does when the plan has them (slots are handed out first come, first
/// served, so partitions take turns).
async fn fetch_in_slot(
    inner: Arc<Plan>,
    request: Request,
    stats: &mut FetchStats,
    expect: Expect,
) -> Result<(Response, Vec<Record>), ExtractError> {
    // The connector closes its slots when the run stops: a request still
    // waiting for one is not sent, and the walk stays at this page.
    let _slot = match &inner.slots {
        Some(slots) => match Arc::clone(slots).acquire_owned().await {
            Ok(slot) => Some(slot),
            Err(_) => {
                return Err(ExtractError::Interrupted {
                    summary: Box::default(),
                    pages: expect.number.saturating_sub(1),
                });
            }
        },
        None => None,
    };
    fetch(inner, request, stats, expect).await
}
