//! One request, with rate limiting and the retry loop.

use std::sync::Arc;
use std::time::Duration;

use haul_core::redact::is_sensitive_header;
use haul_core::{Record, Request, Response, TransportError, TransportErrorKind};
use haul_paginate::{PageContext, PageState, PaginateError};
use haul_ratelimit::{RateLimitHeaders, RateLimiter, Reservation, SharedBudget};
use haul_retry::{Classification, Outcome, RetryContext, RetryDecision};

use crate::ExtractError;
use crate::event::Event;
use crate::plan::Plan;

/// Counters of one fetch (merged into the run summary in page order).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct FetchStats {
    pub(crate) requests: u64,
    pub(crate) retries: u64,
    pub(crate) throttle_wait: Duration,
    pub(crate) bytes: u64,
}

/// What the walker knows about the page a request asks for, to check an
/// empty answer against what earlier pages promised.
#[derive(Debug, Clone)]
pub(crate) struct Expect {
    /// The number the page gets in the pass (1-based).
    pub(crate) number: u64,
    /// Pagination state after the pages before it, or, for a page fetched
    /// concurrently, after the page whose total listed it.
    pub(crate) state: Arc<PageState>,
}

/// Hands a used permit back to the limiter (concurrency caps count it), also
/// when the request's future is dropped mid-flight.
struct PermitGuard<'a>(&'a dyn RateLimiter);

impl Drop for PermitGuard<'_> {
    fn drop(&mut self) {
        self.0.release();
    }
}

/// Sends `request` until it succeeds or the retry policy gives up.
///
/// The retry loop is a loop, never recursion, bounded by the policy's caps.
///
/// An empty answer (a `204`, or a page without records) that contradicts
/// what earlier pages promised ([`Paginator::broken_promise`](haul_paginate::Paginator::broken_promise))
/// is retried like a transient failure; if it persists, the error is
/// [`ExtractError::Contradiction`].
pub(crate) async fn fetch(
    inner: Arc<Plan>,
    request: Request,
    stats: &mut FetchStats,
    expect: Expect,
) -> Result<(Response, Vec<Record>), ExtractError> {
    let stream = inner.stream.as_str();
    let request = if request.url.origin() == inner.request.url.origin() {
        request
    } else {
        without_credentials(request, &inner)
    };
    let started = inner.clock.now();
    let url = request.masked_url();
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let at = wait_for_permit(&inner, &request, stats).await?;
        if let Some(budget) = &inner.shared_budget {
            acquire_shared(budget.as_ref(), &inner, at, &url, attempt, stats).await?;
        }
        tracing::debug!(stream, method = %request.method, url = %url, attempt, "sending request");
        inner.observer.on_event(&Event::RequestSent {
            stream,
            url: &url,
            attempt,
        });
        let result = {
            let _permit = PermitGuard(inner.limiter.as_ref());
            inner.transport.send(&request).await
        };
        stats.requests += 1;
        let classification = match &result {
            Ok(response) => {
                stats.bytes += response.body.len() as u64;
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
        if let (Ok(response), Classification::Throttled { .. }) = (&result, &classification) {
            // The classifier's verdict, so a limiter learning from throttles
            // (AdaptiveRate) sees exactly what the retry policy sees.
            inner
                .limiter
                .throttled(response, inner.clock.now(), inner.clock.wall());
        }
        // A throttle seen here pauses every process sharing the budget.
        let mut penalized = false;
        if let (Some(budget), Ok(response)) = (&inner.shared_budget, &result)
            && let Some(pause) = server_pause(&inner, response, &classification)
        {
            penalize_shared(budget.as_ref(), &inner, &url, response, pause).await;
            penalized = true;
        }
        let mut classification = classification;
        let result: Result<Response, Unusable> = match result {
            Ok(response) if classification == Classification::Success => {
                match inner.paginator.records(&response) {
                    Ok(records) if records.len() > inner.max_records_per_page => {
                        return Err(ExtractError::TooManyRecords {
                            url: response.masked_url(),
                            count: records.len(),
                            max: inner.max_records_per_page,
                        });
                    }
                    Ok(records) => {
                        let broken = if records.is_empty() {
                            let page = PageContext {
                                request: &request,
                                response: &response,
                                records: &records,
                                number: expect.number,
                            };
                            inner.paginator.broken_promise(&page, &expect.state)
                        } else {
                            None
                        };
                        match broken {
                            None => {
                                inner.retry.on_success(attempt);
                                return Ok((response, records));
                            }
                            Some(promise) => {
                                // An empty answer where a page was promised is
                                // most often a hiccup behind a load balancer or
                                // cache: retry it like a listing cut short.
                                classification =
                                    Classification::Transient(TransportErrorKind::Truncated);
                                Err(Unusable::Contradiction { response, promise })
                            }
                        }
                    }
                    Err(error @ PaginateError::NotJson { .. }) => {
                        // A 200 whose body does not parse is most often a body cut
                        // short on the way: retry it like a truncated transfer.
                        classification = Classification::Transient(TransportErrorKind::Truncated);
                        Err(Unusable::Body(error))
                    }
                    Err(error) => return Err(error.into()),
                }
            }
            Ok(response) => Ok(response),
            Err(error) => {
                if classification == Classification::Success {
                    // A custom classifier called a transport error a success:
                    // do not trust it with a retry either.
                    tracing::error!(error = %error, "the classifier reported success for a transport error");
                    classification = Classification::Permanent;
                }
                Err(Unusable::Transport(error))
            }
        };
        let decision = inner.retry.decide(&RetryContext {
            attempt,
            elapsed: inner.clock.now().saturating_sub(started),
            request: &request,
            classification: &classification,
        });
        let reason = match &result {
            Ok(response) => format!("HTTP {}", response.status),
            Err(Unusable::Transport(error)) => error.to_string(),
            Err(Unusable::Body(error)) => error.to_string(),
            Err(Unusable::Contradiction { response, promise }) => {
                format!(
                    "{} {}, although {promise}",
                    empty_answer(response),
                    response.masked_url()
                )
            }
        };
        match decision {
            RetryDecision::RetryAfter(delay) => {
                stats.retries += 1;
                tracing::info!(stream, url = %url, attempt, reason = %reason, delay = ?delay, "retrying");
                inner.observer.on_event(&Event::RetryScheduled {
                    stream,
                    attempt,
                    delay,
                    reason: &reason,
                });
                if matches!(classification, Classification::Throttled { .. }) {
                    if let (Some(budget), Ok(response), false) =
                        (&inner.shared_budget, &result, penalized)
                    {
                        // A throttle that named no pause: the others wait
                        // as long as the retry policy makes this one wait.
                        penalize_shared(budget.as_ref(), &inner, &url, response, delay).await;
                    }
                    stats.throttle_wait += delay;
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
                    Err(Unusable::Transport(source)) => ExtractError::Transport {
                        source,
                        attempts: attempt,
                        gave_up,
                    },
                    Err(Unusable::Body(error)) => error.into(),
                    Err(Unusable::Contradiction { response, promise }) => {
                        ExtractError::Contradiction {
                            page: expect.number,
                            url: response.masked_url(),
                            answer: empty_answer(&response),
                            promise,
                            attempts: attempt,
                            gave_up,
                        }
                    }
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

/// Why an attempt produced nothing usable.
enum Unusable {
    Transport(TransportError),
    Body(PaginateError),
    /// An empty answer breaking what earlier pages promised.
    Contradiction {
        response: Response,
        promise: String,
    },
}

/// How an empty answer is described in logs and errors.
fn empty_answer(response: &Response) -> String {
    if haul_paginate::is_bodyless(response) {
        format!("HTTP {} without a body", response.status)
    } else {
        format!("HTTP {} with no records", response.status)
    }
}

/// Hands a reserved permit back to the limiter if the future holding it is
/// dropped before the permit's time (a stopped run, a cancelled stream).
struct ReservationGuard<'a> {
    limiter: &'a dyn RateLimiter,
    at: Option<Duration>,
}

impl Drop for ReservationGuard<'_> {
    fn drop(&mut self) {
        if let Some(at) = self.at {
            self.limiter.cancel(at);
        }
    }
}

/// Reserves a permit and sleeps until its time: the limiter's schedule
/// advanced at the reservation, so a late wake-up loses nothing. Returns
/// the permit's time (for [`RateLimiter::cancel`] if it goes unused).
async fn wait_for_permit(
    inner: &Plan,
    request: &Request,
    stats: &mut FetchStats,
) -> Result<Duration, ExtractError> {
    loop {
        let now = inner.clock.now();
        let (wait, reserved) = match inner.limiter.reserve(now) {
            Reservation::At(at) if at <= now => return Ok(at),
            Reservation::At(at) => (at - now, Some(at)),
            Reservation::Wait(wait) => (wait, None),
        };
        let mut guard = ReservationGuard {
            limiter: inner.limiter.as_ref(),
            at: reserved,
        };
        if wait > inner.max_throttle_wait {
            // A server announcing a reset far away (or a misconfigured
            // limiter) must not stall a run for hours: fail clearly (the
            // guard hands a reservation back).
            return Err(ExtractError::ThrottledTooLong {
                url: request.masked_url(),
                wait,
                max: inner.max_throttle_wait,
            });
        }
        // Limiters promise progress; a floor keeps a buggy one from spinning.
        let wait = wait.max(Duration::from_micros(100));
        stats.throttle_wait += wait;
        tracing::info!(stream = %inner.stream, url = %request.masked_url(), wait = ?wait, "throttled: waiting for the rate limiter");
        inner.observer.on_event(&Event::ThrottleWait {
            stream: &inner.stream,
            wait,
        });
        inner.sleeper.sleep(wait).await;
        if let Some(at) = reserved {
            // Slept until the reserved time: the permit is used now.
            guard.at = None;
            return Ok(at);
        }
    }
}

/// Takes one slot of the shared budget for an attempt whose local permit
/// (reserved for `at`) is already taken. Until the slot comes, the local
/// permit is unused: a refusal, or the future dropped while waiting, hands
/// it back to the limiter (so a concurrency cap does not leak it).
async fn acquire_shared(
    budget: &dyn SharedBudget,
    inner: &Plan,
    at: Duration,
    url: &haul_core::MaskedUrl,
    attempt: u32,
    stats: &mut FetchStats,
) -> Result<(), ExtractError> {
    let mut guard = ReservationGuard {
        limiter: inner.limiter.as_ref(),
        at: Some(at),
    };
    let asked = inner.clock.now();
    if let Err(source) = budget.acquire(1).await {
        tracing::warn!(stream = %inner.stream, url = %url, attempt, error = %source,
            "the shared rate budget granted no slot: the request is not sent");
        // `guard` hands the local permit back.
        return Err(ExtractError::SharedBudget {
            url: url.clone(),
            source,
        });
    }
    guard.at = None;
    let waited = inner.clock.now().saturating_sub(asked);
    tracing::debug!(stream = %inner.stream, url = %url, attempt, waited = ?waited, "shared budget slot taken");
    if !waited.is_zero() {
        stats.throttle_wait += waited;
    }
    Ok(())
}

/// How long every process sharing the budget should pause after
/// `response`, or `None`: for a throttle (as the classifier judged it), its
/// `Retry-After`, else what the local limiter learned from it; for any
/// response saying `Remaining: 0` with a reset, the time to that reset as
/// the local limiter bounds it (servers round resets up to whole seconds;
/// [`HeaderAdaptive`](haul_ratelimit::HeaderAdaptive) keeps the tightest
/// bound), else as the response says. Headers are parsed by the same
/// [`RateLimitHeaders`] the limiter uses.
fn server_pause(
    inner: &Plan,
    response: &Response,
    classification: &Classification,
) -> Option<Duration> {
    let now = inner.clock.now();
    let throttled = matches!(classification, Classification::Throttled { .. });
    if throttled && let Some(asked) = classification.retry_after() {
        return Some(asked);
    }
    let headers = RateLimitHeaders::parse(response, inner.clock.wall());
    let exhausted = match (headers.remaining, headers.reset_in) {
        (Some(0), Some(reset)) => Some(reset),
        _ => None,
    };
    if throttled || exhausted.is_some() {
        inner.limiter.server_pause(now).or(exhausted)
    } else {
        None
    }
}

/// Passes a throttle on to the shared budget (logged at info; the budget
/// itself logs what it does with it).
async fn penalize_shared(
    budget: &dyn SharedBudget,
    inner: &Plan,
    url: &haul_core::MaskedUrl,
    response: &Response,
    pause: Duration,
) {
    tracing::info!(stream = %inner.stream, url = %url, status = %response.status, pause = ?pause,
        "throttle seen: pausing every worker of the shared rate budget");
    budget.penalize(pause).await;
}

/// A request bound for another origin than the configured one (a followed
/// cross-origin link) loses every credential that came from configuration:
/// sensitive headers, headers marked sensitive, and the query parameters
/// that carry configured keys. Parameters the server put in its own link
/// (a presigned URL's signature, say) are the server's and stay.
fn without_credentials(mut request: Request, inner: &Plan) -> Request {
    let names: Vec<http::HeaderName> = request
        .headers
        .iter()
        .filter(|(name, value)| is_sensitive_header(name) || value.is_sensitive())
        .map(|(name, _)| name.clone())
        .collect();
    for name in names {
        request.headers.remove(name);
    }
    let configured: Vec<String> = inner
        .request
        .url
        .query_pairs()
        .filter(|(k, _)| inner.request.is_secret_param(k))
        .map(|(k, _)| k.into_owned())
        .chain(inner.secret_params.iter().cloned())
        .collect();
    for name in &configured {
        request.remove_query(name);
    }
    tracing::debug!(url = %request.masked_url(), "another origin: sending without configured credentials");
    request
}
