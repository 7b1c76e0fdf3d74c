//! [`WorkQueue`]: partitions as units of work shared by many workers, each
//! claimed under a lease and written through a sink fenced by that lease.
//!
//! The connector's worker mode (`haul_extractor::Connector::run_worker`)
//! drives this trait; `haul_postgres::PostgresWorkQueue` implements it on
//! PostgreSQL. The trait lives here, beside [`Sink`], so that the extractor
//! needs no backend crate and a backend needs nothing above `haul-sink`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::Sink;

/// A partition claimed by one worker until its expiry, at one epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The stream.
    pub stream: String,
    /// The partition key.
    pub partition: String,
    /// The values the partition's requests are filled with.
    pub values: BTreeMap<String, String>,
    /// The worker holding it.
    pub owner: String,
    /// Incremented at every claim: a later holder always has a higher epoch.
    pub epoch: i64,
    /// How many claims of the partition counted as attempts, this one
    /// included (a claim taking over an expired lease does not count again:
    /// a killed worker is not the partition's fault).
    pub attempts: u32,
    /// Whether this claim took the partition over from a holder whose lease
    /// had expired (a worker killed or stalled).
    pub reclaimed: bool,
}

/// A work-queue failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WorkError {
    /// The lease is no longer this worker's: it expired, or another worker
    /// claimed the partition since (at a higher epoch).
    #[error(
        "lease on partition {partition:?} of stream {stream:?} at epoch {epoch} is lost \
         (it expired, or another worker holds the partition)"
    )]
    Lost {
        /// The stream.
        stream: String,
        /// The partition key.
        partition: String,
        /// The epoch the lease was claimed at.
        epoch: i64,
    },
    /// The queue's backend failed (its error names what, where and why).
    #[error("work queue: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// How much work is left in a queue for some streams, as a worker deciding
/// whether to wait or exit sees it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueOutlook {
    /// Partitions that can be claimed now: pending, failed with attempts
    /// left, or leased with an expired lease.
    pub claimable: u64,
    /// Partitions leased and unexpired: their holders may still register
    /// children, or their leases may expire and become claimable.
    pub leased: u64,
}

impl QueueOutlook {
    /// Whether nothing is claimable now and nothing can become so.
    pub fn is_drained(&self) -> bool {
        self.claimable == 0 && self.leased == 0
    }
}

/// Partitions as units of work shared by many workers: registered
/// idempotently, claimed under a lease with an epoch, renewed while worked
/// on, and completed, failed or released; each claimed partition is written
/// through a sink whose every commit checks the lease.
///
/// Laws an implementation keeps (the PostgreSQL one proves them in
/// `haul-postgres`'s tests):
///
/// - two workers never hold one partition at once; every claim increments
///   the partition's epoch;
/// - a lease that expired is claimable again, whatever its attempts;
/// - a failed partition is claimable again while its attempts are below the
///   queue's limit, and keeps its last error;
/// - a commit through [`fenced_sink`](Self::fenced_sink) lands only while
///   the lease is held (same owner and epoch, unexpired), checked in the
///   commit's own transaction; otherwise it writes nothing and fails with
///   [`SinkError::Fenced`](crate::SinkError::Fenced);
/// - partitions a fenced sink's batch registers
///   ([`PartitionBatch::register`](crate::PartitionBatch::register)) are
///   claimable once the batch commits.
#[async_trait]
pub trait WorkQueue: Send + Sync {
    /// The worker name this queue claims under.
    fn owner(&self) -> &str;

    /// How long a claim or a renewal holds a partition. Workers renew every
    /// third of it.
    fn ttl(&self) -> Duration;

    /// Registers partitions of `stream` (key and values) as pending work;
    /// ones already known keep their state and progress. Returns how many
    /// were new.
    async fn register(
        &self,
        stream: &str,
        partitions: &[(String, BTreeMap<String, String>)],
    ) -> Result<u64, WorkError>;

    /// Claims one claimable partition of one of `streams`, or `None` when
    /// none is claimable right now.
    async fn claim(&self, streams: &[&str]) -> Result<Option<Lease>, WorkError>;

    /// Extends the lease by the TTL; [`WorkError::Lost`] when it is gone.
    async fn renew(&self, lease: &Lease) -> Result<(), WorkError>;

    /// Marks the partition done; [`WorkError::Lost`] when the lease is gone.
    async fn complete(&self, lease: &Lease) -> Result<(), WorkError>;

    /// Marks the partition failed with `error`, kept until it succeeds; it
    /// is claimable again while its attempts are below the limit.
    async fn fail(&self, lease: &Lease, error: &str) -> Result<(), WorkError>;

    /// Hands the partition back unfinished (a worker stopping): claimable at
    /// once by any worker, and the claim does not count as an attempt.
    async fn release(&self, lease: &Lease) -> Result<(), WorkError>;

    /// How much work is left for `streams`.
    async fn outlook(&self, streams: &[&str]) -> Result<QueueOutlook, WorkError>;

    /// A sink on the queue's destination whose every commit is fenced by
    /// `lease`.
    fn fenced_sink(&self, lease: &Lease) -> Arc<dyn Sink>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_queue_is_drained_only_when_nothing_is_claimable_or_leased() {
        assert!(QueueOutlook::default().is_drained());
        for (claimable, leased) in [(1, 0), (0, 1), (2, 3)] {
            assert!(!QueueOutlook { claimable, leased }.is_drained());
        }
    }
}
