//! Request counters shared by the connection tasks.

use std::sync::atomic::{AtomicU64, Ordering};

/// A snapshot of a [`RunningServer`](crate::RunningServer)'s counters.
///
/// Counters only grow; compare two snapshots to measure one step of a test.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// TCP connections accepted.
    pub connections: u64,
    /// Requests received, whatever their outcome.
    pub requests: u64,
    /// Successful `/items` pages.
    pub pages_served: u64,
    /// Records sent across all `/items` pages.
    pub items_served: u64,
    /// Responses with status 400 (bad `limit`, `cursor`, `n` or `ms`).
    pub bad_requests: u64,
    /// Responses with status 404 (unknown path or method).
    pub not_found: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) connections: AtomicU64,
    pub(crate) requests: AtomicU64,
    pub(crate) pages_served: AtomicU64,
    pub(crate) items_served: AtomicU64,
    pub(crate) bad_requests: AtomicU64,
    pub(crate) not_found: AtomicU64,
}

impl Counters {
    pub(crate) fn bump(counter: &AtomicU64, by: u64) {
        // Counters are independent tallies; no ordering with other memory.
        counter.fetch_add(by, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> Stats {
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        Stats {
            connections: get(&self.connections),
            requests: get(&self.requests),
            pages_served: get(&self.pages_served),
            items_served: get(&self.items_served),
            bad_requests: get(&self.bad_requests),
            not_found: get(&self.not_found),
        }
    }
}
