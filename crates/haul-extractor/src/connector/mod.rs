//! [`Connector`]: a named set of streams run as one unit, partition by
//! partition, under one budget.

mod partition_walk;
mod rules;
mod run;
mod summary;
mod worker;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use haul_core::{Clock, Sleeper};
use haul_paginate::Paginator;
use haul_ratelimit::{RateLimiter, SharedBudget};
use haul_retry::{Classifier, HttpClassifier, RetryPolicy};
use haul_transport::{Auth, Transport};

use crate::event::Observer;
use crate::partition::INCLUDED_PREFIX;
use crate::plan::Plan;
use crate::{BuildError, Extractor, Incremental, Partitions, RequestTemplate};

pub use rules::{ResponseRule, RuleAction};
pub use summary::{
    ConnectorError, ConnectorSummary, FailedPartition, PartitionOutcome, PartitionSummary,
    StreamTotals,
};
pub use worker::{WorkerOptions, WorkerSummary};

/// One stream of a connector: a request template, a paginator, where its
/// partitions come from, and its own response rules.
#[must_use]
pub struct StreamDef {
    name: String,
    template: RequestTemplate,
    paginator: Arc<dyn Paginator>,
    partitions: Partitions,
    incremental: Option<Incremental>,
    rules: Vec<ResponseRule>,
    batch_records: Option<usize>,
    max_pages: Option<Option<u64>>,
    concurrency: Option<usize>,
}

impl std::fmt::Debug for StreamDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamDef")
            .field("name", &self.name)
            .field("template", &self.template)
            .field("partitions", &self.partitions)
            .finish_non_exhaustive()
    }
}

impl StreamDef {
    /// Stream `name`, fetched with `template` and walked with `paginator`;
    /// one partition unless [`partitions`](Self::partitions) says otherwise.
    pub fn new(
        name: impl Into<String>,
        template: RequestTemplate,
        paginator: impl Paginator + 'static,
    ) -> Self {
        Self {
            name: name.into(),
            template,
            paginator: Arc::new(paginator),
            partitions: Partitions::Single,
            incremental: None,
            rules: Vec::new(),
            batch_records: None,
            max_pages: None,
            concurrency: None,
        }
    }

    /// Where the partitions come from.
    pub fn partitions(mut self, partitions: Partitions) -> Self {
        self.partitions = partitions;
        self
    }

    /// Incremental extraction, with a watermark per partition. With a parent
    /// stream, children are fetched only for the parent records each run
    /// brings (new or changed ones), unless the run is a full refresh.
    pub fn incremental(mut self, incremental: Incremental) -> Self {
        self.incremental = Some(incremental);
        self
    }

    /// Adds a response rule (evaluated in order, before the classifier).
    pub fn rule(mut self, rule: ResponseRule) -> Self {
        self.rules.push(rule);
        self
    }

    /// Records per committed batch of one partition (default 1,000).
    pub fn batch_size(mut self, records: usize) -> Self {
        self.batch_records = Some(records);
        self
    }

    /// The max-pages guard of each partition (default 1,000,000).
    pub fn max_pages(mut self, n: Option<u64>) -> Self {
        self.max_pages = Some(n);
        self
    }

    /// Up to `k` pages of one partition in flight at once when the
    /// paginator knows the remaining requests (offset or page number with a
    /// total); each still takes one of the connector's
    /// [`max_in_flight`](ConnectorBuilder::max_in_flight) slots, and pages
    /// still commit in order. Cursor-style pagination stays sequential.
    /// Default 1: partitions, not pages, are the unit of concurrency.
    pub fn concurrency(mut self, k: usize) -> Self {
        self.concurrency = Some(k);
        self
    }

    /// The stream name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// Builds a [`Connector`]: the shared parts (transport, auth, retry policy
/// and its budget, rate limiter, clock) and the streams.
#[derive(Default)]
#[must_use]
pub struct ConnectorBuilder {
    name: String,
    streams: Vec<StreamDef>,
    transport: Option<Arc<dyn Transport>>,
    auth: Option<Arc<dyn Auth>>,
    allow_insecure_http: bool,
    retry: Option<Arc<dyn RetryPolicy>>,
    classifier: Option<Arc<dyn Classifier>>,
    limiter: Option<Arc<dyn RateLimiter>>,
    shared_budget: Option<Arc<dyn SharedBudget>>,
    clock: Option<Arc<dyn Clock>>,
    sleeper: Option<Arc<dyn Sleeper>>,
    observer: Option<Arc<dyn Observer>>,
    max_in_flight: Option<usize>,
    max_active: Option<usize>,
    fail_fast: bool,
    full_refresh: bool,
}

impl std::fmt::Debug for ConnectorBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectorBuilder")
            .field("name", &self.name)
            .field("streams", &self.streams)
            .finish_non_exhaustive()
    }
}

impl ConnectorBuilder {
    /// Adds a stream. A stream with [`Partitions::Parent`] must come after its parent.
    pub fn stream(mut self, stream: StreamDef) -> Self {
        self.streams.push(stream);
        self
    }

    /// The transport every stream shares (one connection pool).
    pub fn transport(mut self, transport: impl Transport + 'static) -> Self {
        self.transport = Some(Arc::new(transport));
        self
    }

    /// Credentials, attached only to each stream's origin.
    pub fn auth(mut self, auth: impl Auth + 'static) -> Self {
        self.auth = Some(Arc::new(auth));
        self
    }

    /// Allows credentials over plain `http` to a non-loopback origin.
    pub fn allow_insecure_http(mut self, allow: bool) -> Self {
        self.allow_insecure_http = allow;
        self
    }

    /// The retry policy every stream shares (and so its retry budget).
    pub fn retry(mut self, retry: impl RetryPolicy + 'static) -> Self {
        self.retry = Some(Arc::new(retry));
        self
    }

    /// The classifier behind each stream's response rules.
    pub fn classifier(mut self, classifier: impl Classifier + 'static) -> Self {
        self.classifier = Some(Arc::new(classifier));
        self
    }

    /// The rate limiter every stream shares.
    pub fn rate_limiter(mut self, limiter: impl RateLimiter + 'static) -> Self {
        self.limiter = Some(Arc::new(limiter));
        self
    }

    /// A rate budget shared with every other process (worker) that calls
    /// the same API, such as `haul_redis::RedisBudget`: every request of
    /// every stream and partition takes the local
    /// [`rate_limiter`](Self::rate_limiter)'s permit, then one slot of it,
    /// and every throttle seen penalizes it (see
    /// [`ExtractorBuilder::shared_budget`](crate::ExtractorBuilder::shared_budget)).
    /// Default: none.
    pub fn shared_budget(mut self, budget: Arc<dyn SharedBudget>) -> Self {
        self.shared_budget = Some(budget);
        self
    }

    /// The clock.
    pub fn clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// What retries and throttle waits sleep on.
    pub fn sleeper(mut self, sleeper: impl Sleeper + 'static) -> Self {
        self.sleeper = Some(Arc::new(sleeper));
        self
    }

    /// Receives every stream's events.
    pub fn observer(mut self, observer: impl Observer + 'static) -> Self {
        self.observer = Some(Arc::new(observer));
        self
    }

    /// At most `n` requests in flight across all streams and partitions
    /// (default 8). Partitions take turns for them in arrival order, so one
    /// huge partition cannot starve the others.
    pub fn max_in_flight(mut self, n: usize) -> Self {
        self.max_in_flight = Some(n);
        self
    }

    /// At most `n` partitions started and not yet ended at once (default
    /// twice [`max_in_flight`](Self::max_in_flight)); each holds at most one
    /// uncommitted batch, so this bounds memory.
    pub fn max_active_partitions(mut self, n: usize) -> Self {
        self.max_active = Some(n);
        self
    }

    /// Stop every partition at the first failure (default: record it and go on).
    pub fn fail_fast(mut self, on: bool) -> Self {
        self.fail_fast = on;
        self
    }

    /// Ignore incremental watermarks: every partition fetches everything.
    pub fn full_refresh(mut self, on: bool) -> Self {
        self.full_refresh = on;
        self
    }

    /// Checks the streams (names, parents, templates) and builds.
    pub fn build(self) -> Result<Connector, BuildError> {
        haul_sink::check_partition_key(&self.name).map_err(|_| {
            BuildError::Invalid(format!(
                "connector name {:?} must be non-empty ASCII letters, digits or '_-.'",
                self.name
            ))
        })?;
        if self.name.is_empty() {
            return Err(BuildError::Invalid("a connector needs a name".into()));
        }
        let transport: Arc<dyn Transport> = match self.transport {
            Some(t) => t,
            None => Arc::new(haul_transport::ReqwestTransport::builder().build()?),
        };
        let retry: Arc<dyn RetryPolicy> = self
            .retry
            .unwrap_or_else(|| Arc::new(haul_retry::ExponentialBackoff::default()));
        let classifier: Arc<dyn Classifier> =
            self.classifier.unwrap_or_else(|| Arc::new(HttpClassifier));
        let mut streams: Vec<Stream> = Vec::new();
        let mut names: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for def in self.streams {
            if names.contains_key(&def.name) {
                return Err(BuildError::Invalid(format!(
                    "stream {:?} is defined twice",
                    def.name
                )));
            }
            let mut available = def.partitions.value_names();
            let parent = match def.partitions.parent() {
                None => None,
                Some(p) => {
                    let inherited = names.get(p).ok_or_else(|| {
                        BuildError::Invalid(format!(
                            "stream {:?} names parent {p:?}, which is not defined before it",
                            def.name
                        ))
                    })?;
                    available.extend(inherited.iter().cloned());
                    streams.iter().position(|s| s.name == p)
                }
            };
            if let Some(name) = available.iter().find(|n| n.starts_with(INCLUDED_PREFIX)) {
                return Err(BuildError::Invalid(format!(
                    "stream {:?}: value name {name:?} starts with {INCLUDED_PREFIX:?}, which is kept for included parent fields",
                    def.name
                )));
            }
            if let Partitions::Parent(link) = &def.partitions {
                let mut seen = BTreeSet::new();
                for (name, _) in link.included() {
                    if name.is_empty() || !seen.insert(name) {
                        return Err(BuildError::Invalid(format!(
                            "stream {:?} includes parent field {name:?} twice or without a name",
                            def.name
                        )));
                    }
                }
            }
            def.template
                .check(&available)
                .map_err(|e| BuildError::Invalid(format!("stream {:?}: {e}", def.name)))?;
            if let Partitions::List(list) = &def.partitions {
                let mut keys = BTreeSet::new();
                for p in list {
                    if !keys.insert(p.key()) {
                        return Err(BuildError::Invalid(format!(
                            "stream {:?} lists partition {:?} twice",
                            def.name,
                            p.key()
                        )));
                    }
                }
            }
            // A prototype request only fixes the origin (for credentials and
            // the cross-origin guard) and the paginator's base; each partition
            // gets its own rendered request.
            let dummy: BTreeMap<String, String> = available
                .iter()
                .map(|n| (n.clone(), "_".to_owned()))
                .collect();
            let prototype = def
                .template
                .render(&dummy)
                .map_err(|e| BuildError::Invalid(format!("stream {:?}: {e}", def.name)))?;
            let mut builder = Extractor::builder()
                .request(prototype)
                .paginator(Arc::clone(&def.paginator))
                .stream(def.name.clone())
                .transport(Arc::clone(&transport))
                .retry(Arc::clone(&retry))
                .classifier(rules::RuleClassifier {
                    rules: def.rules.clone(),
                    inner: Arc::clone(&classifier),
                })
                .allow_insecure_http(self.allow_insecure_http);
            if let Some(auth) = &self.auth {
                builder = builder.auth(Arc::clone(auth));
            }
            if let Some(l) = &self.limiter {
                builder = builder.rate_limiter(Arc::clone(l));
            }
            if let Some(b) = &self.shared_budget {
                builder = builder.shared_budget(Arc::clone(b));
            }
            if let Some(c) = &self.clock {
                builder = builder.clock(Arc::clone(c));
            }
            if let Some(s) = &self.sleeper {
                builder = builder.sleeper(Arc::clone(s));
            }
            if let Some(o) = &self.observer {
                builder = builder.observer(Arc::clone(o));
            }
            if let Some(n) = def.batch_records {
                builder = builder.batch_size(n);
            }
            if let Some(n) = def.max_pages {
                builder = builder.max_pages(n);
            }
            if let Some(k) = def.concurrency {
                builder = builder.concurrency(k);
            }
            let plan = builder.build()?.into_plan();
            names.insert(def.name.clone(), available);
            streams.push(Stream {
                name: def.name,
                template: def.template,
                partitions: def.partitions,
                incremental: def.incremental,
                rules: def.rules,
                parent,
                plan,
            });
        }
        if streams.is_empty() {
            return Err(BuildError::Missing("streams"));
        }
        let max_in_flight = self.max_in_flight.unwrap_or(8).max(1);
        Ok(Connector {
            inner: Arc::new(ConnectorInner {
                name: self.name,
                streams,
                max_in_flight,
                max_active: self.max_active.unwrap_or(max_in_flight * 2).max(1),
                fail_fast: self.fail_fast,
                full_refresh: self.full_refresh,
                clock: self
                    .clock
                    .unwrap_or_else(|| Arc::new(haul_core::SystemClock::new())),
            }),
            selected: None,
        })
    }
}

/// A built stream.
pub(crate) struct Stream {
    pub(crate) name: String,
    pub(crate) template: RequestTemplate,
    pub(crate) partitions: Partitions,
    pub(crate) incremental: Option<Incremental>,
    pub(crate) rules: Vec<ResponseRule>,
    /// Index of the parent stream.
    pub(crate) parent: Option<usize>,
    /// Shared parts and configuration; each partition runs a copy with its own request.
    pub(crate) plan: Arc<Plan>,
}

pub(crate) struct ConnectorInner {
    pub(crate) name: String,
    pub(crate) streams: Vec<Stream>,
    pub(crate) max_in_flight: usize,
    pub(crate) max_active: usize,
    pub(crate) fail_fast: bool,
    pub(crate) full_refresh: bool,
    pub(crate) clock: Arc<dyn Clock>,
}

/// A named set of streams sharing transport, auth, retry budget and rate
/// limiter, run as one unit: every partition of every stream, children
/// discovered from their parents' records as those are committed, at most
/// [`max_in_flight`](ConnectorBuilder::max_in_flight) requests at once with
/// partitions taking turns. See `docs/connectors.md` for the model.
#[derive(Clone)]
pub struct Connector {
    pub(crate) inner: Arc<ConnectorInner>,
    /// Streams to run (with their ancestors); `None`: all.
    pub(crate) selected: Option<BTreeSet<usize>>,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector")
            .field("name", &self.inner.name)
            .field(
                "streams",
                &self
                    .inner
                    .streams
                    .iter()
                    .map(|s| &s.name)
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl Connector {
    /// Starts configuring connector `name` (used to key its run state).
    pub fn builder(name: impl Into<String>) -> ConnectorBuilder {
        ConnectorBuilder {
            name: name.into(),
            ..ConnectorBuilder::default()
        }
    }

    /// The connector's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The same connector running only `streams` and what they need of
    /// their parents (selecting a child runs its ancestors too).
    pub fn select<I, S>(&self, streams: I) -> Result<Self, BuildError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut selected = BTreeSet::new();
        for name in streams {
            let name = name.as_ref();
            let mut at = Some(
                self.inner
                    .streams
                    .iter()
                    .position(|s| s.name == name)
                    .ok_or_else(|| BuildError::Invalid(format!("no stream named {name:?}")))?,
            );
            while let Some(i) = at {
                selected.insert(i);
                at = self.inner.streams[i].parent;
            }
        }
        Ok(Self {
            inner: Arc::clone(&self.inner),
            selected: Some(selected),
        })
    }
}
