//! [`PostgresWorkQueue`]: [`Leases`] and a [`PostgresSink`] as one
//! [`WorkQueue`] for the connector's worker mode.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use haul_sink::{Lease, QueueOutlook, Sink, WorkError, WorkQueue};
use tokio_postgres::Config;

use crate::{LeaseError, Leases, PostgresSink};

/// The work queue of many workers on one PostgreSQL schema: partitions are
/// claimed through [`Leases`] and written through a [`PostgresSink`]
/// fenced by each lease, whose batch transactions the server aborts when
/// they stall longer than the lease TTL ([`PostgresSink::fenced_for`]).
///
/// ```no_run
/// use haul_postgres::{Leases, PostgresSink, PostgresWorkQueue};
/// use haul_sink::{StreamConfig, WorkQueue};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
/// let config: haul_postgres::tokio_postgres::Config = "host=127.0.0.1 user=postgres dbname=test".parse()?;
/// let leases = Leases::connect(config.clone(), "haul", "worker-1").await?
///     .ttl(std::time::Duration::from_secs(30));
/// let sink = PostgresSink::connect(config, "haul").await?
///     .stream(StreamConfig::new("repos").primary_key(["/id"]));
/// let queue = PostgresWorkQueue::new(leases, sink);
/// assert_eq!(queue.owner(), "worker-1");
/// // `connector.run_worker(Arc::new(queue), WorkerOptions::default())` runs it.
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct PostgresWorkQueue {
    leases: Arc<Leases>,
    sink: PostgresSink,
}

impl PostgresWorkQueue {
    /// The queue of `leases`, writing through `sink` (both on the same
    /// database and schema; the sink carries the streams' configurations).
    pub fn new(leases: Leases, sink: PostgresSink) -> Self {
        Self {
            leases: Arc::new(leases),
            sink,
        }
    }

    /// Connects both (without TLS) as worker `owner` in `schema`, with the
    /// default lease TTL (30 s) and attempts (3); use [`new`](Self::new) to
    /// set them or the streams' configurations.
    pub async fn connect(
        config: Config,
        schema: &str,
        owner: impl Into<String>,
    ) -> Result<Self, WorkError> {
        let leases = Leases::connect(config.clone(), schema, owner)
            .await
            .map_err(work_error)?;
        let sink = PostgresSink::connect(config, schema)
            .await
            .map_err(|e| WorkError::Backend(Box::new(e)))?;
        Ok(Self::new(leases, sink))
    }

    /// The leases.
    pub fn leases(&self) -> &Leases {
        &self.leases
    }

    /// The unfenced sink.
    pub fn sink(&self) -> &PostgresSink {
        &self.sink
    }
}

fn work_error(e: LeaseError) -> WorkError {
    match e {
        LeaseError::Lost {
            stream,
            partition,
            epoch,
        } => WorkError::Lost {
            stream,
            partition,
            epoch,
        },
        other => WorkError::Backend(Box::new(other)),
    }
}

#[async_trait]
impl WorkQueue for PostgresWorkQueue {
    fn owner(&self) -> &str {
        self.leases.owner()
    }

    fn ttl(&self) -> Duration {
        self.leases.lease_ttl()
    }

    async fn register(
        &self,
        stream: &str,
        partitions: &[(String, BTreeMap<String, String>)],
    ) -> Result<u64, WorkError> {
        self.leases
            .register(stream, partitions)
            .await
            .map_err(work_error)
    }

    async fn claim(&self, streams: &[&str]) -> Result<Option<Lease>, WorkError> {
        self.leases.claim_any(streams).await.map_err(work_error)
    }

    async fn renew(&self, lease: &Lease) -> Result<(), WorkError> {
        self.leases.renew(lease).await.map_err(work_error)
    }

    async fn complete(&self, lease: &Lease) -> Result<(), WorkError> {
        self.leases.complete(lease).await.map_err(work_error)
    }

    async fn fail(&self, lease: &Lease, error: &str) -> Result<(), WorkError> {
        self.leases.fail(lease, error).await.map_err(work_error)
    }

    async fn release(&self, lease: &Lease) -> Result<(), WorkError> {
        self.leases.release(lease).await.map_err(work_error)
    }

    async fn outlook(&self, streams: &[&str]) -> Result<QueueOutlook, WorkError> {
        self.leases.outlook(Some(streams)).await.map_err(work_error)
    }

    fn fenced_sink(&self, lease: &Lease) -> Arc<dyn Sink> {
        Arc::new(self.sink.fenced_for(lease, self.leases.lease_ttl()))
    }
}
