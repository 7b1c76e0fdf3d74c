//! [`ExtractorBuilder`]: where haul's defaults are chosen, in one place.

use std::sync::Arc;

use haul_core::{Clock, Request, Sleeper, SystemClock, TokioSleeper};
use haul_paginate::Paginator;
use haul_ratelimit::{HeaderAdaptive, RateLimiter, SharedBudget};
use haul_retry::{Classifier, ExponentialBackoff, HttpClassifier, RetryPolicy};
use haul_transport::{Auth, AuthTransport, ReqwestTransport, Transport};

use crate::event::{NoopObserver, Observer};
use crate::extractor::Extractor;
use crate::plan::Plan;
use crate::{BuildError, Incremental};

/// The default page limit of one pass (see [`ExtractorBuilder::max_pages`]).
pub const DEFAULT_MAX_PAGES: u64 = 100_000;

/// Builds an [`Extractor`]. Only the request and the paginator are required;
/// every other part has a default:
///
/// | part | default |
/// |---|---|
/// | transport | [`ReqwestTransport`] (rustls, pooled, 5 s connect / 30 s read timeouts, 64 MiB body limit; see [`connect_timeout`](Self::connect_timeout), [`read_timeout`](Self::read_timeout)) |
/// | retry | [`ExponentialBackoff`] (full jitter, 1 s base, 60 s cap, 5 attempts, 5 min, retry budget) |
/// | classifier | [`HttpClassifier`] |
/// | rate limiter | [`HeaderAdaptive`]: paces to the budget a server announces in its rate-limit headers (`X-RateLimit-*`, `RateLimit-*`, `Retry-After`); a server that sends none is never throttled, so it costs nothing. Pass [`Unlimited`](haul_ratelimit::Unlimited) to turn it off. |
/// | clock / sleeper | [`SystemClock`] / [`TokioSleeper`] |
/// | stream name | `"default"` |
/// | batch size | 1,000 records (whole pages; a batch is committed once it reaches this size) |
/// | max pages | 100,000 per pass (see [`max_pages`](ExtractorBuilder::max_pages)) |
/// | max empty pages | 3 consecutive pages without records while the API offers more end the pass |
/// | max records per page | 250,000 |
/// | shared budget | none: nothing is asked of another process (see [`shared_budget`](Self::shared_budget)) |
/// | max throttle wait | 5 minutes (one rate-limiter wait) |
/// | concurrency | 1 (pages in flight when the remaining requests are known) |
#[derive(Default)]
#[must_use]
pub struct ExtractorBuilder {
    request: Option<Request>,
    url: Option<String>,
    paginator: Option<Arc<dyn Paginator>>,
    transport: Option<Arc<dyn Transport>>,
    retry: Option<Arc<dyn RetryPolicy>>,
    classifier: Option<Arc<dyn Classifier>>,
    limiter: Option<Arc<dyn RateLimiter>>,
    shared_budget: Option<Arc<dyn SharedBudget>>,
    clock: Option<Arc<dyn Clock>>,
    sleeper: Option<Arc<dyn Sleeper>>,
    observer: Option<Arc<dyn Observer>>,
    auth: Option<Arc<dyn Auth>>,
    allow_insecure_http: bool,
    stream: Option<String>,
    batch_records: Option<usize>,
    concurrency: Option<usize>,
    incremental: Option<Incremental>,
    max_records_per_page: Option<usize>,
    allow_cross_origin: bool,
    max_throttle_wait: Option<std::time::Duration>,
    max_pages: Option<Option<u64>>,
    max_empty_pages: Option<u32>,
    headers: Vec<(String, String)>,
    query: Vec<(String, String)>,
    connect_timeout: Option<std::time::Duration>,
    read_timeout: Option<std::time::Duration>,
}

impl std::fmt::Debug for ExtractorBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExtractorBuilder")
            .field("request", &self.request)
            .field("stream", &self.stream)
            .finish_non_exhaustive()
    }
}

impl Extractor {
    /// Starts configuring an extractor.
    pub fn builder() -> ExtractorBuilder {
        ExtractorBuilder::default()
    }
}

impl ExtractorBuilder {
    /// The first request of the stream (method, URL, headers).
    pub fn request(mut self, request: Request) -> Self {
        self.request = Some(request);
        self
    }

    /// Shorthand for a `GET` of `url` as the first request.
    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.url = Some(url.into());
        self
    }

    /// How to walk from page to page (required).
    pub fn paginator(mut self, paginator: impl Paginator + 'static) -> Self {
        self.paginator = Some(Arc::new(paginator));
        self
    }

    /// A header sent with every request, replacing a value of the same name
    /// in [`request`](Self::request). Credential headers (`Authorization`,
    /// API-key headers) are marked sensitive: masked in logs, never sent to
    /// another origin. Prefer [`auth`](Self::auth) for credentials. An
    /// invalid name or value is a [`BuildError::Invalid`].
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// A query parameter of the first request, replacing a value of the
    /// same name in the URL (the paginator keeps it on later pages, as it
    /// keeps the URL's own parameters).
    pub fn query(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.query.push((name.into(), value.into()));
        self
    }

    /// The connect timeout of the default transport (default 5 s). With a
    /// custom [`transport`](Self::transport), [`build`](Self::build) fails
    /// rather than ignore it: set timeouts on that transport instead.
    pub fn connect_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.connect_timeout = Some(timeout);
        self
    }

    /// The read timeout of the default transport: the longest wait for the
    /// next bytes of a response (default 30 s). With a custom
    /// [`transport`](Self::transport), [`build`](Self::build) fails rather
    /// than ignore it: set timeouts on that transport instead.
    pub fn read_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.read_timeout = Some(timeout);
        self
    }

    /// The transport (share one `Arc` between extractors to share its connection pool).
    pub fn transport(mut self, transport: impl Transport + 'static) -> Self {
        self.transport = Some(Arc::new(transport));
        self
    }

    /// The retry policy.
    pub fn retry(mut self, retry: impl RetryPolicy + 'static) -> Self {
        self.retry = Some(Arc::new(retry));
        self
    }

    /// The outcome classifier.
    pub fn classifier(mut self, classifier: impl Classifier + 'static) -> Self {
        self.classifier = Some(Arc::new(classifier));
        self
    }

    /// The rate limiter (pass an `Arc` to share it between extractors).
    pub fn rate_limiter(mut self, limiter: impl RateLimiter + 'static) -> Self {
        self.limiter = Some(Arc::new(limiter));
        self
    }

    /// A rate budget shared with every other process (worker) that calls
    /// the same API, such as `haul_redis::RedisBudget` (the `haul` facade's
    /// `redis` feature). Each attempt, retries included, takes the local
    /// [`rate_limiter`](Self::rate_limiter)'s permit and then one slot of
    /// the budget; a throttle seen here (a 429 or GitHub's 403 with
    /// `X-RateLimit-Remaining: 0`, with its `Retry-After` or reset, or a
    /// success with `Remaining: 0` and a reset) penalizes the budget, so every
    /// worker pauses as long as this one. A slot the budget refuses fails the
    /// run with [`ExtractError::SharedBudget`](crate::ExtractError::SharedBudget)
    /// before the request is sent. Default: none (no cost per request).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use haul_extractor::Extractor;
    /// use haul_paginate::CursorPaginator;
    /// use haul_ratelimit::{SharedBudget, SharedBudgetError};
    ///
    /// /// Stands in for `haul_redis::RedisBudget` here.
    /// #[derive(Debug)]
    /// struct Fleet;
    ///
    /// #[async_trait::async_trait]
    /// impl SharedBudget for Fleet {
    ///     async fn acquire(&self, _cost: u32) -> Result<(), SharedBudgetError> {
    ///         Ok(())
    ///     }
    ///     async fn penalize(&self, _pause: Duration) {}
    /// }
    ///
    /// let budget: Arc<dyn SharedBudget> = Arc::new(Fleet);
    /// let extractor = Extractor::builder()
    ///     .url("https://api.example.com/items")
    ///     .paginator(CursorPaginator::new("/next", "cursor").records_at("/data"))
    ///     .shared_budget(Arc::clone(&budget))
    ///     .build()?;
    /// # let _ = extractor;
    /// # Ok::<(), haul_extractor::BuildError>(())
    /// ```
    pub fn shared_budget(mut self, budget: Arc<dyn SharedBudget>) -> Self {
        self.shared_budget = Some(budget);
        self
    }

    /// The clock decisions read time from.
    pub fn clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// What the run sleeps on (retry delays, throttle waits).
    pub fn sleeper(mut self, sleeper: impl Sleeper + 'static) -> Self {
        self.sleeper = Some(Arc::new(sleeper));
        self
    }

    /// Receives progress events.
    pub fn observer(mut self, observer: impl Observer + 'static) -> Self {
        self.observer = Some(Arc::new(observer));
        self
    }

    /// Credentials, attached per request and only to the origin of the first
    /// request (see [`AuthTransport`]).
    pub fn auth(mut self, auth: impl Auth + 'static) -> Self {
        self.auth = Some(Arc::new(auth));
        self
    }

    /// Allows credentials over plain `http` to a non-loopback origin (logs a warning once).
    pub fn allow_insecure_http(mut self, allow: bool) -> Self {
        self.allow_insecure_http = allow;
        self
    }

    /// The stream name, under which the sink stores records and checkpoints.
    pub fn stream(mut self, name: impl Into<String>) -> Self {
        self.stream = Some(name.into());
        self
    }

    /// Commit to the sink once this many records are buffered (whole pages only).
    pub fn batch_size(mut self, records: usize) -> Self {
        self.batch_records = Some(records);
        self
    }

    /// Fetch up to `k` pages at once when the paginator knows the remaining
    /// requests (offset or page number with a total). Pages still reach the
    /// sink strictly in order. Cursor-style pagination is always sequential,
    /// since each request depends on the previous response. Default 1.
    pub fn concurrency(mut self, k: usize) -> Self {
        self.concurrency = Some(k);
        self
    }

    /// Incremental extraction: each fresh pass starts from the destination's
    /// watermark minus a lookback (see [`Incremental`]). Pair it with a sink
    /// that upserts by primary key so the overlap is not duplicated.
    pub fn incremental(mut self, incremental: Incremental) -> Self {
        self.incremental = Some(incremental);
        self
    }

    /// A page with more records than this is refused with
    /// [`ExtractError::TooManyRecords`](crate::ExtractError::TooManyRecords) (a sanity limit against a misbehaving
    /// server; default 250,000).
    pub fn max_records_per_page(mut self, n: usize) -> Self {
        self.max_records_per_page = Some(n);
        self
    }

    /// Fail with [`ExtractError::ThrottledTooLong`](crate::ExtractError) rather
    /// than wait longer than this for the rate limiter at once (a server
    /// announcing a reset hours away). Default 5 minutes, like the
    /// `Retry-After` cap.
    pub fn max_throttle_wait(mut self, max: std::time::Duration) -> Self {
        self.max_throttle_wait = Some(max);
        self
    }

    /// Follow next links that lead to another origin than the configured URL's
    /// (they never receive credentials). Off by default: such a link is a
    /// `PaginateError::CrossOrigin` naming both origins.
    pub fn allow_cross_origin(mut self, allow: bool) -> Self {
        self.allow_cross_origin = allow;
        self
    }

    /// Fail with `MaxPagesExceeded` rather than fetch more than `n` pages in one pass
    /// (`None`: no limit). Default [`DEFAULT_MAX_PAGES`] (100,000): ten
    /// million records at 100 per page, more than one pass of most streams;
    /// an API that keeps handing out fresh non-empty pages forever is stopped
    /// within about an hour even at 25 pages a second, instead of the half a
    /// day 1,000,000 pages took. Raise it for a larger backfill.
    pub fn max_pages(mut self, n: Option<u64>) -> Self {
        self.max_pages = Some(n);
        self
    }

    /// End the pass after `n` consecutive pages without records while the
    /// API still offers a next page (a fresh cursor, a next link, `has_more:
    /// true`): a warning, an [`Event::PassEnded`](crate::Event::PassEnded),
    /// [`PassEnd::EmptyPages`](crate::PassEnd::EmptyPages) in the summary,
    /// and everything fetched committed. Default 3; `0` disables the check
    /// (for an API that filters server-side and may answer long runs of
    /// empty pages mid-listing).
    pub fn max_empty_pages(mut self, n: u32) -> Self {
        self.max_empty_pages = Some(n);
        self
    }

    /// Checks the configuration and fills in the defaults.
    pub fn build(self) -> Result<Extractor, BuildError> {
        let mut request = match (self.request, self.url) {
            (Some(r), _) => r,
            (None, Some(u)) => Request::get(u.parse()?),
            (None, None) => return Err(BuildError::Missing("url")),
        };
        for (name, value) in &self.query {
            request.set_query(name, value);
        }
        for (name, value) in &self.headers {
            let invalid =
                |e: &dyn std::fmt::Display| BuildError::Invalid(format!("header {name:?}: {e}"));
            let name = http::HeaderName::try_from(name.as_str()).map_err(|e| invalid(&e))?;
            let mut value = http::HeaderValue::try_from(value.as_str()).map_err(|e| invalid(&e))?;
            if haul_core::redact::is_sensitive_header(&name) {
                value.set_sensitive(true);
            }
            request.headers.insert(name, value);
        }
        let paginator = self.paginator.ok_or(BuildError::Missing("paginator"))?;
        let transport: Arc<dyn Transport> = match self.transport {
            Some(_) if self.connect_timeout.is_some() || self.read_timeout.is_some() => {
                return Err(BuildError::Invalid(
                    "connect_timeout and read_timeout configure the default transport, but a custom \
                     transport was given: set them on it (e.g. `ReqwestTransport::builder().connect_timeout(..)`)"
                        .into(),
                ));
            }
            Some(t) => t,
            None => {
                let mut transport = ReqwestTransport::builder();
                if let Some(timeout) = self.connect_timeout {
                    transport = transport.connect_timeout(timeout);
                }
                if let Some(timeout) = self.read_timeout {
                    transport = transport.read_timeout(timeout);
                }
                Arc::new(transport.build()?)
            }
        };
        let mut secret_params: Vec<String> = Vec::new();
        let transport: Arc<dyn Transport> = match self.auth {
            None => transport,
            Some(auth) => {
                secret_params = auth.query_params();
                Arc::new(
                    AuthTransport::new(transport, auth, &request.url)
                        .map_err(|e| BuildError::Invalid(e.to_string()))?
                        .allow_insecure_http(self.allow_insecure_http),
                )
            }
        };
        if let Some(inc) = &self.incremental {
            inc.placement.validate().map_err(BuildError::Invalid)?;
        }
        let batch_records = self.batch_records.unwrap_or(1_000);
        if batch_records == 0 {
            return Err(BuildError::Invalid("batch size must be at least 1".into()));
        }
        Ok(Extractor::from_plan(Plan {
            request,
            paginator,
            transport,
            retry: self
                .retry
                .unwrap_or_else(|| Arc::new(ExponentialBackoff::default())),
            classifier: self.classifier.unwrap_or_else(|| Arc::new(HttpClassifier)),
            limiter: self
                .limiter
                .unwrap_or_else(|| Arc::new(HeaderAdaptive::new())),
            shared_budget: self.shared_budget,
            clock: self.clock.unwrap_or_else(|| Arc::new(SystemClock::new())),
            sleeper: self.sleeper.unwrap_or_else(|| Arc::new(TokioSleeper)),
            observer: self.observer.unwrap_or_else(|| Arc::new(NoopObserver)),
            stream: self.stream.unwrap_or_else(|| "default".into()),
            secret_params,
            batch_records,
            concurrency: self.concurrency.unwrap_or(1).max(1),
            incremental: self.incremental,
            max_records_per_page: self.max_records_per_page.unwrap_or(250_000),
            allow_cross_origin: self.allow_cross_origin,
            max_throttle_wait: self
                .max_throttle_wait
                .unwrap_or(std::time::Duration::from_secs(300)),
            max_pages: self.max_pages.unwrap_or(Some(DEFAULT_MAX_PAGES)),
            max_empty_pages: self
                .max_empty_pages
                .unwrap_or(haul_paginate::DEFAULT_MAX_EMPTY_PAGES),
            slots: None,
        }))
    }
}
