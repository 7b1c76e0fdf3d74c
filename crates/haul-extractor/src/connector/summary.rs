//! What a connector run did: per partition, per stream, and in total.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use crate::{ExtractError, RunSummary};

/// How one partition ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
#[non_exhaustive]
pub enum PartitionOutcome {
    /// Every page was fetched and committed.
    Finished,
    /// A response rule said there is nothing to fetch (e.g. 404 on a child).
    Skipped {
        /// The status of the response.
        status: u16,
    },
    /// The partition failed; its error is in [`ConnectorError::Failed`].
    Failed {
        /// The error, as text.
        error: String,
    },
    /// The run stopped before the partition finished; it resumes next run.
    Interrupted,
    /// Worker mode: the partition's lease was lost (its heartbeat found it
    /// gone, or the fence refused a commit); another worker takes it over
    /// from its last committed checkpoint.
    Lost,
}

/// One partition of one stream in a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PartitionSummary {
    /// The stream.
    pub stream: String,
    /// The partition key.
    pub partition: String,
    /// How it ended.
    #[serde(flatten)]
    pub outcome: PartitionOutcome,
    /// What its run did.
    pub run: RunSummary,
}

/// The totals of one stream.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StreamTotals {
    /// Partitions run.
    pub partitions: u64,
    /// Partitions that finished.
    pub finished: u64,
    /// Partitions skipped by a response rule.
    pub skipped: u64,
    /// Partitions that failed.
    pub failed: u64,
    /// Partitions not run because a previous, interrupted run finished them.
    pub already_finished: u64,
    /// Records fetched.
    pub records: u64,
    /// Pages fetched.
    pub pages: u64,
    /// Requests sent (retries included).
    pub requests: u64,
}

/// What a connector run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ConnectorSummary {
    /// The connector.
    pub connector: String,
    /// Whether the run resumed an interrupted one.
    pub resumed: bool,
    /// Totals per stream.
    pub streams: BTreeMap<String, StreamTotals>,
    /// Every partition run, in the order they ended.
    pub partitions: Vec<PartitionSummary>,
    /// Partitions that failed.
    pub partitions_failed: u64,
    /// Partitions skipped by a response rule.
    pub partitions_skipped: u64,
    /// Partitions not run because a previous, interrupted run finished them.
    pub partitions_already_finished: u64,
    /// Records fetched by all partitions.
    pub records: u64,
    /// Pages fetched by all partitions.
    pub pages: u64,
    /// Requests sent by all partitions (retries included).
    pub requests: u64,
    /// Wall time of the run.
    #[serde(serialize_with = "millis", rename = "elapsed_ms")]
    pub elapsed: Duration,
}

fn millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl ConnectorSummary {
    pub(crate) fn add(&mut self, p: PartitionSummary) {
        let totals = self.streams.entry(p.stream.clone()).or_default();
        totals.partitions += 1;
        totals.records += p.run.records;
        totals.pages += p.run.pages;
        totals.requests += p.run.requests;
        match &p.outcome {
            PartitionOutcome::Finished => totals.finished += 1,
            PartitionOutcome::Skipped { .. } => {
                totals.skipped += 1;
                self.partitions_skipped += 1;
            }
            PartitionOutcome::Failed { .. } => {
                totals.failed += 1;
                self.partitions_failed += 1;
            }
            PartitionOutcome::Interrupted | PartitionOutcome::Lost => {}
        }
        self.records += p.run.records;
        self.pages += p.run.pages;
        self.requests += p.run.requests;
        self.partitions.push(p);
    }

    pub(crate) fn already_finished(&mut self, stream: &str) {
        self.streams
            .entry(stream.to_owned())
            .or_default()
            .already_finished += 1;
        self.partitions_already_finished += 1;
    }
}

impl std::fmt::Display for ConnectorSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {} records in {} pages, {} requests; {} partitions ({} failed, {} skipped, {} already finished) in {:.2?}",
            self.connector,
            self.records,
            self.pages,
            self.requests,
            self.partitions.len(),
            self.partitions_failed,
            self.partitions_skipped,
            self.partitions_already_finished,
            self.elapsed
        )
    }
}

/// One failed partition and its typed error.
#[derive(Debug)]
pub struct FailedPartition {
    /// The stream.
    pub stream: String,
    /// The partition key.
    pub partition: String,
    /// Why it failed.
    pub error: ExtractError,
}

/// Why a connector run did not finish cleanly. Everything fetched has been
/// committed with its checkpoint by the time this is returned.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectorError {
    /// Some partitions failed; the others ran to the end (or, with
    /// fail-fast, stopped at the first failure).
    #[error("connector {}: {} partition(s) failed: {}", .summary.connector, .failed.len(), list(.failed))]
    Failed {
        /// The failed partitions, each with its typed error.
        failed: Vec<FailedPartition>,
        /// What the run did.
        summary: Box<ConnectorSummary>,
    },
    /// The run was asked to stop; everything fetched was committed and the
    /// next run resumes the unfinished partitions.
    #[error("connector {}: stopped on request; {resumable} partition(s) can resume", .summary.connector)]
    Interrupted {
        /// Partitions left unfinished.
        resumable: usize,
        /// What the run did.
        summary: Box<ConnectorSummary>,
    },
    /// The sink failed outside a partition (reading or writing run state).
    #[error("connector state: {0}")]
    Sink(#[from] haul_sink::SinkError),
    /// Worker mode: the work queue failed (registering the root partitions,
    /// or claiming work through more consecutive errors than a worker waits out).
    #[error("connector {connector}: {source}")]
    Queue {
        /// The connector.
        connector: String,
        /// The queue's error.
        #[source]
        source: haul_sink::WorkError,
    },
}

fn list(failed: &[FailedPartition]) -> String {
    failed
        .iter()
        .map(|f| format!("{}[{}]: {}", f.stream, f.partition, f.error))
        .collect::<Vec<_>>()
        .join("; ")
}
