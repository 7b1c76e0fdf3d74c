//! Request counters shared by the connection tasks.

use std::sync::atomic::{AtomicU64, Ordering};

/// A snapshot of a [`RunningServer`](crate::RunningServer)'s counters.
///
/// Counters only grow; compare two snapshots to measure one step of a test.
/// "Data requests" are those to the pagination endpoints, the only ones
/// faults and the rate limit apply to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// TCP connections accepted.
    pub connections: u64,
    /// Requests received, whatever their outcome.
    pub requests: u64,
    /// Data requests received (each draws one fault decision).
    pub data_requests: u64,
    /// Whole, successful pages on any pagination endpoint (a truncated or
    /// cut page does not count; a slow one does).
    pub pages_served: u64,
    /// Records sent across those pages.
    pub items_served: u64,
    /// Responses with status 400 (bad `limit`, cursor, page, `n` or `ms`).
    pub bad_requests: u64,
    /// Responses with status 404 (unknown path or method).
    pub not_found: u64,
    /// Injected `503`s.
    pub injected_503: u64,
    /// Injected `500`s.
    pub injected_500: u64,
    /// Injected `502`s with an HTML body.
    pub injected_502: u64,
    /// `429`s the server chose to inject (fault injection).
    pub injected_429: u64,
    /// `429`s sent because the client exceeded the advertised rate limit.
    pub over_limit_429: u64,
    /// `429`s sent by the header-less [`Throttle`](crate::Throttle) (the
    /// client went over a limit nobody advertised).
    pub throttle_429: u64,
    /// Connections closed before any response byte.
    pub resets_before_response: u64,
    /// Connections closed part-way through a response body.
    pub resets_mid_body: u64,
    /// `200` responses with a truncated JSON body.
    pub truncated_bodies: u64,
    /// Responses delayed by the slow fault.
    pub slow_responses: u64,
    /// Error responses of a `fail_at` page (not counted as 400s).
    pub failed_pages: u64,
    /// `401`s answered to data requests without valid credentials (see
    /// [`FakeApiBuilder::require_auth`](crate::FakeApiBuilder::require_auth)).
    pub unauthorized: u64,
    /// Access tokens issued by `POST /oauth/token`.
    pub tokens_issued: u64,
    /// Token requests refused (bad client credentials or grant type).
    pub token_errors: u64,
    /// Redirects answered by `/redirect`.
    pub redirects: u64,
    /// Data requests for a window past the end of the data (not the first
    /// page of an empty listing): a client that knew where the data ended
    /// sends none, except to walk `endless` pages.
    pub past_end: u64,
    /// `204 No Content` or empty `200` answers of a `no_content_at` or
    /// `empty_at` page.
    pub holes: u64,
}

impl Stats {
    /// All injected faults together (not counting over-limit and throttle
    /// 429s, which the client caused).
    pub fn faults_injected(&self) -> u64 {
        self.injected_503
            + self.injected_500
            + self.injected_502
            + self.injected_429
            + self.resets_before_response
            + self.resets_mid_body
            + self.truncated_bodies
            + self.slow_responses
    }
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) connections: AtomicU64,
    pub(crate) requests: AtomicU64,
    pub(crate) data_requests: AtomicU64,
    pub(crate) pages_served: AtomicU64,
    pub(crate) items_served: AtomicU64,
    pub(crate) bad_requests: AtomicU64,
    pub(crate) not_found: AtomicU64,
    pub(crate) injected_503: AtomicU64,
    pub(crate) injected_500: AtomicU64,
    pub(crate) injected_502: AtomicU64,
    pub(crate) injected_429: AtomicU64,
    pub(crate) over_limit_429: AtomicU64,
    pub(crate) throttle_429: AtomicU64,
    pub(crate) resets_before_response: AtomicU64,
    pub(crate) resets_mid_body: AtomicU64,
    pub(crate) truncated_bodies: AtomicU64,
    pub(crate) slow_responses: AtomicU64,
    pub(crate) failed_pages: AtomicU64,
    pub(crate) unauthorized: AtomicU64,
    pub(crate) tokens_issued: AtomicU64,
    pub(crate) token_errors: AtomicU64,
    pub(crate) redirects: AtomicU64,
    pub(crate) past_end: AtomicU64,
    pub(crate) holes: AtomicU64,
}

impl Counters {
    /// Adds `by`, returning the previous value.
    pub(crate) fn bump(counter: &AtomicU64, by: u64) -> u64 {
        // Counters are independent tallies; no ordering with other memory.
        counter.fetch_add(by, Ordering::Relaxed)
    }

    pub(crate) fn snapshot(&self) -> Stats {
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        Stats {
            connections: get(&self.connections),
            requests: get(&self.requests),
            data_requests: get(&self.data_requests),
            pages_served: get(&self.pages_served),
            items_served: get(&self.items_served),
            bad_requests: get(&self.bad_requests),
            not_found: get(&self.not_found),
            injected_503: get(&self.injected_503),
            injected_500: get(&self.injected_500),
            injected_502: get(&self.injected_502),
            injected_429: get(&self.injected_429),
            over_limit_429: get(&self.over_limit_429),
            throttle_429: get(&self.throttle_429),
            resets_before_response: get(&self.resets_before_response),
            resets_mid_body: get(&self.resets_mid_body),
            truncated_bodies: get(&self.truncated_bodies),
            slow_responses: get(&self.slow_responses),
            failed_pages: get(&self.failed_pages),
            unauthorized: get(&self.unauthorized),
            tokens_issued: get(&self.tokens_issued),
            token_errors: get(&self.token_errors),
            redirects: get(&self.redirects),
            past_end: get(&self.past_end),
            holes: get(&self.holes),
        }
    }
}
