//! [`RedisBudget`]: the shared budget, its configuration, outage policy and errors.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use haul_ratelimit::{FixedRate, RateLimiter, Reservation, SharedBudget, SharedBudgetError};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{RedisError, Script};
use tokio::time::Instant;

use crate::scripts;

/// The default key prefix: a budget named `github` lives at
/// `haul:budget:github`.
pub const DEFAULT_PREFIX: &str = "haul:budget:";

/// After an outage under [`OutagePolicy::Fallback`], how long the local pacer
/// serves before Redis is tried again.
const PROBE_EVERY: Duration = Duration::from_secs(1);
/// Backoff bounds while waiting for Redis ([`OutagePolicy::Wait`]).
const BACKOFF_MIN: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_secs(2);

/// What a budget does while Redis is unreachable.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum OutagePolicy {
    /// Wait for Redis, retrying with backoff (50 ms doubling to 2 s); no
    /// request is sent meanwhile. The quota can never be exceeded.
    #[default]
    Wait,
    /// Pace locally at `fraction` of the quota (0 < fraction ≤ 1; at least
    /// one request per period) until Redis answers again, trying it once a
    /// second. With N workers, `fraction = 1/N` keeps the fleet within the
    /// quota; penalties seen meanwhile are not shared.
    Fallback {
        /// The share of the quota each worker takes on its own.
        fraction: f64,
    },
    /// Fail the call with [`BudgetError::Unavailable`].
    Fail,
}

/// A shared budget's settings: `quota` requests per `period` under the name
/// `name`.
#[derive(Debug, Clone)]
pub struct BudgetConfig {
    name: String,
    quota: u32,
    period: Duration,
    burst: u32,
    prefix: String,
    max_wait: Duration,
    lateness: Duration,
    outage: OutagePolicy,
    timeout: Duration,
}

impl BudgetConfig {
    /// `quota` requests per `period` (a quota of 0 is treated as 1), burst 1,
    /// key prefix [`DEFAULT_PREFIX`], maximum wait 10 s, outage policy
    /// [`OutagePolicy::Wait`].
    pub fn new(name: impl Into<String>, quota: u32, period: Duration) -> Self {
        Self {
            name: name.into(),
            quota: quota.max(1),
            period,
            burst: 1,
            prefix: DEFAULT_PREFIX.to_owned(),
            max_wait: Duration::from_secs(10),
            lateness: (period / 100).min(Duration::from_millis(10)),
            outage: OutagePolicy::Wait,
            timeout: Duration::from_secs(1),
        }
    }

    /// Allows up to `burst` requests back to back (at least 1). Every worker
    /// sharing the budget must use the same quota, period and burst.
    pub fn burst(mut self, burst: u32) -> Self {
        self.burst = burst.max(1);
        self
    }

    /// The key prefix (default [`DEFAULT_PREFIX`]); the key is the prefix
    /// followed by the name.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The longest wait [`RedisBudget::reserve`] takes a slot for (default
    /// 10 s); a longer wait takes nothing and is reported.
    pub fn max_wait(mut self, max_wait: Duration) -> Self {
        self.max_wait = max_wait;
        self
    }

    /// Spaces slots so that `quota` of them span `period + allowance`
    /// (default: 1 % of the period, at most 10 ms), as
    /// [`FixedRate::lateness_allowance`] does: sleepers wake late by varying
    /// amounts, and a strict fixed-window server must still never see more
    /// than the quota in one of its windows.
    pub fn lateness_allowance(mut self, allowance: Duration) -> Self {
        self.lateness = allowance;
        self
    }

    /// What to do while Redis is unreachable (default [`OutagePolicy::Wait`]).
    pub fn outage(mut self, policy: OutagePolicy) -> Self {
        self.outage = policy;
        self
    }

    /// How long one Redis call (or connection attempt) may take before it
    /// counts as an outage (default 1 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The Redis key this budget lives at: prefix + name.
    pub fn key(&self) -> String {
        format!("{}{}", self.prefix, self.name)
    }

    /// The spacing of slots in integer microseconds (rounded up, so the
    /// quota is never exceeded).
    fn interval_us(&self) -> u64 {
        let span = self.period.saturating_add(self.lateness).as_micros();
        let q = u128::from(self.quota);
        u64::try_from(span.div_ceil(q)).unwrap_or(u64::MAX).max(1)
    }
}

/// Errors of a [`RedisBudget`].
#[derive(Debug, thiserror::Error)]
pub enum BudgetError {
    /// The configuration cannot work (a bad URL, a fallback fraction outside
    /// (0, 1]).
    #[error("invalid budget configuration: {0}")]
    Config(String),
    /// A request costs more than the burst: it could never be granted.
    #[error("a request of cost {cost} exceeds the burst {burst} of budget {name}")]
    CostAboveBurst {
        /// The budget's name.
        name: String,
        /// The request's cost.
        cost: u32,
        /// The budget's burst.
        burst: u32,
    },
    /// Redis is unreachable and the outage policy is [`OutagePolicy::Fail`].
    #[error("Redis is unreachable for budget {name}: {source}")]
    Unavailable {
        /// The budget's name.
        name: String,
        /// What the connection said.
        #[source]
        source: RedisError,
    },
    /// Redis answered with an error (not an outage: a script or protocol error).
    #[error("Redis error for budget {name}: {source}")]
    Redis {
        /// The budget's name.
        name: String,
        /// Redis's error.
        #[source]
        source: RedisError,
    },
}

/// A slot taken from the budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    wait: Duration,
    slot_us: Option<u64>,
    /// The arrival time this reservation left and how far it moved it, to
    /// cancel it; `None` under the local fallback.
    undo: Option<(u64, u64)>,
}

impl Grant {
    /// How long to sleep (from when the answer came) before sending.
    pub fn wait(&self) -> Duration {
        self.wait
    }

    /// The slot in Redis time (µs since the Unix epoch); `None` when the
    /// local fallback pacer granted it during an outage.
    pub fn slot_us(&self) -> Option<u64> {
        self.slot_us
    }
}

/// The answer to [`RedisBudget::reserve`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum Reserved {
    /// A slot is taken: sleep [`Grant::wait`] and send.
    Granted(Grant),
    /// The next slot is further away than the maximum wait; nothing taken.
    TooLong {
        /// How far away it is.
        wait: Duration,
    },
}

/// One budget shared by every worker that opens the same key: GCRA in Redis
/// (see the [crate docs](crate)). Cheap to share behind an `Arc`; its
/// connection multiplexes concurrent calls and reconnects on its own.
pub struct RedisBudget {
    name: String,
    key: String,
    burst: u32,
    interval_us: u64,
    capacity_us: u64,
    max_wait: Duration,
    outage: OutagePolicy,
    conn: ConnectionManager,
    reserve: Script,
    penalty: Script,
    cancel: Script,
    /// The local pacer for [`OutagePolicy::Fallback`], on monotonic time
    /// since `epoch`.
    fallback: Option<FixedRate>,
    epoch: Instant,
    /// Under the fallback: no Redis call before this instant.
    probe_after: Mutex<Option<Instant>>,
    /// Whether an outage is going on (to log its start and end once).
    down: AtomicBool,
}

impl std::fmt::Debug for RedisBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBudget")
            .field("key", &self.key)
            .field("interval_us", &self.interval_us)
            .field("burst", &self.burst)
            .field("max_wait", &self.max_wait)
            .field("outage", &self.outage)
            .finish_non_exhaustive()
    }
}

/// Whether `e` means Redis is unreachable (rather than that it refused).
fn is_outage(e: &RedisError) -> bool {
    e.is_io_error() || e.is_connection_refusal() || e.is_timeout() || e.is_connection_dropped()
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

impl RedisBudget {
    /// Opens the budget on the Redis at `url` (`redis://host:port/db`). The
    /// connection is made on the first call, so a budget opens while Redis
    /// is down and its outage policy governs from the first call on. Must be
    /// called within a Tokio runtime.
    pub async fn connect(url: &str, config: BudgetConfig) -> Result<Self, BudgetError> {
        let client = redis::Client::open(url)
            .map_err(|e| BudgetError::Config(format!("Redis URL {url:?}: {e}")))?;
        Self::with_client(client, config)
    }

    /// Opens the budget with a Redis client of the caller's (TLS, auth, …).
    /// Must be called within a Tokio runtime.
    pub fn with_client(client: redis::Client, config: BudgetConfig) -> Result<Self, BudgetError> {
        let fallback = match config.outage {
            OutagePolicy::Fallback { fraction } => {
                if !(fraction > 0.0 && fraction <= 1.0) {
                    return Err(BudgetError::Config(format!(
                        "fallback fraction {fraction} is not in (0, 1]"
                    )));
                }
                // In (0, quota]: the cast cannot overflow.
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                let quota = ((f64::from(config.quota) * fraction).floor() as u32).max(1);
                Some(
                    FixedRate::new(quota, config.period)
                        .burst(config.burst.min(quota))
                        .lateness_allowance(config.lateness),
                )
            }
            _ => None,
        };
        let manager = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(config.timeout))
            .set_response_timeout(Some(config.timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let conn = ConnectionManager::new_lazy_with_config(client, manager).map_err(|e| {
            BudgetError::Redis {
                name: config.name.clone(),
                source: e,
            }
        })?;
        let interval_us = config.interval_us();
        Ok(Self {
            key: config.key(),
            burst: config.burst,
            interval_us,
            capacity_us: interval_us.saturating_mul(u64::from(config.burst)),
            max_wait: config.max_wait,
            outage: config.outage,
            conn,
            reserve: Script::new(scripts::RESERVE),
            penalty: Script::new(scripts::PENALTY),
            cancel: Script::new(scripts::CANCEL),
            fallback,
            epoch: Instant::now(),
            probe_after: Mutex::new(None),
            down: AtomicBool::new(false),
            name: config.name,
        })
    }

    /// The Redis key the budget lives at.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Takes the earliest slot for a request of `cost` units when it is
    /// within the maximum wait; otherwise takes nothing and says how far
    /// away it is. Does not sleep, except while waiting out an outage under
    /// [`OutagePolicy::Wait`].
    pub async fn reserve(&self, cost: u32) -> Result<Reserved, BudgetError> {
        self.reserve_within(cost, self.max_wait).await
    }

    /// [`reserve`](Self::reserve) with a maximum wait of this call's own.
    pub async fn reserve_within(
        &self,
        cost: u32,
        max_wait: Duration,
    ) -> Result<Reserved, BudgetError> {
        if cost > self.burst {
            return Err(BudgetError::CostAboveBurst {
                name: self.name.clone(),
                cost,
                burst: self.burst,
            });
        }
        let cost = cost.max(1);
        let mut backoff = BACKOFF_MIN;
        loop {
            if self.fallback.is_some() && self.probing_later() {
                return Ok(self.reserve_locally(cost, max_wait));
            }
            let mut conn = self.conn.clone();
            let reply: Result<(i64, i64, i64, i64), RedisError> = self
                .reserve
                .key(&self.key)
                .arg(self.interval_us)
                .arg(self.capacity_us)
                .arg(cost)
                .arg(micros(max_wait))
                .invoke_async(&mut conn)
                .await;
            match reply {
                Ok((taken, wait, slot, tat)) => {
                    self.recovered();
                    let wait = Duration::from_micros(wait.max(0).unsigned_abs());
                    if taken == 0 {
                        return Ok(Reserved::TooLong { wait });
                    }
                    let added = self.interval_us.saturating_mul(u64::from(cost));
                    return Ok(Reserved::Granted(Grant {
                        wait,
                        slot_us: Some(slot.max(0).unsigned_abs()),
                        undo: Some((tat.max(0).unsigned_abs(), added)),
                    }));
                }
                Err(e) if is_outage(&e) => match self.outage {
                    OutagePolicy::Fail => return Err(self.unavailable(e)),
                    OutagePolicy::Fallback { .. } => {
                        self.went_down(&e, "pacing locally at the declared fraction");
                        self.probe_later();
                        return Ok(self.reserve_locally(cost, max_wait));
                    }
                    OutagePolicy::Wait => {
                        self.went_down(&e, "waiting for it");
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(BACKOFF_MAX);
                    }
                },
                Err(e) => {
                    return Err(BudgetError::Redis {
                        name: self.name.clone(),
                        source: e,
                    });
                }
            }
        }
    }

    /// Takes a slot for a request of `cost` units and sleeps until it: when
    /// the next slot is further away than the maximum wait, sleeps until it
    /// is within reach and asks again.
    pub async fn acquire(&self, cost: u32) -> Result<Grant, BudgetError> {
        loop {
            match self.reserve(cost).await? {
                Reserved::Granted(grant) => {
                    if !grant.wait.is_zero() {
                        tracing::debug!(budget = %self.name, wait = ?grant.wait, "sleeping until the reserved slot");
                        tokio::time::sleep(grant.wait).await;
                    }
                    return Ok(grant);
                }
                Reserved::TooLong { wait } => {
                    tracing::info!(budget = %self.name, ?wait, max_wait = ?self.max_wait,
                        "shared budget exhausted: waiting before reserving");
                    tokio::time::sleep(wait.saturating_sub(self.max_wait).max(BACKOFF_MIN)).await;
                }
            }
        }
    }

    /// Hands back a slot that will not be used. Redis rewinds the schedule
    /// when no later slot was taken meanwhile (else the slot is lost: the
    /// rate dips, the quota holds). Returns whether it was rewound.
    pub async fn cancel(&self, grant: &Grant) -> Result<bool, BudgetError> {
        let Some((tat, added)) = grant.undo else {
            return Ok(false); // a local grant: kept (the rate dips, the quota holds)
        };
        let mut conn = self.conn.clone();
        let rewound: Result<i64, RedisError> = self
            .cancel
            .key(&self.key)
            .arg(tat)
            .arg(added)
            .invoke_async(&mut conn)
            .await;
        match rewound {
            Ok(n) => Ok(n == 1),
            Err(e) if is_outage(&e) && self.outage != OutagePolicy::Fail => Ok(false),
            Err(e) if is_outage(&e) => Err(self.unavailable(e)),
            Err(e) => Err(BudgetError::Redis {
                name: self.name.clone(),
                source: e,
            }),
        }
    }

    /// Pauses every worker sharing the budget for `pause` (from now, Redis
    /// time): the answer to a 429, a `Retry-After` or `Remaining: 0` until a
    /// reset. No slot is handed out before the pause ends; after it,
    /// requests are paced at the rate again. Never shortens an earlier
    /// pause. During an outage the penalty cannot be shared: it is logged
    /// and dropped (an error under [`OutagePolicy::Fail`]).
    pub async fn penalize(&self, pause: Duration) -> Result<(), BudgetError> {
        tracing::warn!(budget = %self.name, ?pause, "throttled: pausing every worker of the shared budget");
        let mut conn = self.conn.clone();
        let reply: Result<(i64, i64), RedisError> = self
            .penalty
            .key(&self.key)
            .arg(self.interval_us)
            .arg(self.capacity_us)
            .arg(micros(pause))
            .invoke_async(&mut conn)
            .await;
        match reply {
            Ok(_) => {
                self.recovered();
                Ok(())
            }
            Err(e) if is_outage(&e) && self.outage != OutagePolicy::Fail => {
                self.went_down(&e, "the penalty is not shared");
                Ok(())
            }
            Err(e) if is_outage(&e) => Err(self.unavailable(e)),
            Err(e) => Err(BudgetError::Redis {
                name: self.name.clone(),
                source: e,
            }),
        }
    }

    fn unavailable(&self, source: RedisError) -> BudgetError {
        self.went_down(&source, "failing the call");
        BudgetError::Unavailable {
            name: self.name.clone(),
            source,
        }
    }

    fn reserve_locally(&self, cost: u32, max_wait: Duration) -> Reserved {
        let Some(local) = &self.fallback else {
            return Reserved::TooLong { wait: max_wait };
        };
        let now = self.epoch.elapsed();
        let mut first = None;
        let mut last = now;
        for _ in 0..cost {
            match local.reserve(now) {
                Reservation::At(at) => {
                    first.get_or_insert(at);
                    last = at;
                }
                Reservation::Wait(wait) => return Reserved::TooLong { wait },
            }
        }
        let wait = last.saturating_sub(now);
        if wait > max_wait {
            // Hand the slots back, latest first, so the schedule rewinds.
            for _ in 0..cost {
                local.cancel(last);
                last = last.saturating_sub(local.reserve_interval());
            }
            return Reserved::TooLong { wait };
        }
        Reserved::Granted(Grant {
            wait,
            slot_us: None,
            undo: None,
        })
    }

    fn probing_later(&self) -> bool {
        let guard = self
            .probe_after
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        guard.is_some_and(|t| Instant::now() < t)
    }

    fn probe_later(&self) {
        *self
            .probe_after
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(Instant::now() + PROBE_EVERY);
    }

    fn went_down(&self, e: &RedisError, doing: &str) {
        if !self.down.swap(true, Ordering::Relaxed) {
            tracing::warn!(budget = %self.name, error = %e, policy = ?self.outage,
                "Redis unreachable for the shared budget: {doing}");
        }
    }

    fn recovered(&self) {
        if self.down.swap(false, Ordering::Relaxed) {
            tracing::info!(budget = %self.name, "Redis reachable again: the shared budget resumes");
        }
    }
}

/// The extractor's view of the budget (`ExtractorBuilder::shared_budget`,
/// `ConnectorBuilder::shared_budget`): [`acquire`](SharedBudget::acquire)
/// is [`RedisBudget::acquire`] (it sleeps until the slot; a future dropped
/// while sleeping loses its slot: the rate dips, the quota holds), and
/// [`penalize`](SharedBudget::penalize) is [`RedisBudget::penalize`], whose
/// failure under [`OutagePolicy::Fail`] is logged, not returned (the
/// throttled worker waits anyway; the next `acquire` reports the outage).
#[async_trait::async_trait]
impl SharedBudget for RedisBudget {
    async fn acquire(&self, cost: u32) -> Result<(), SharedBudgetError> {
        match RedisBudget::acquire(self, cost).await {
            Ok(_) => Ok(()),
            Err(e @ BudgetError::Unavailable { .. }) => Err(SharedBudgetError::Unavailable {
                budget: self.name.clone(),
                source: Box::new(e),
            }),
            Err(e) => Err(SharedBudgetError::Refused {
                budget: self.name.clone(),
                source: Box::new(e),
            }),
        }
    }

    async fn penalize(&self, pause: Duration) {
        if let Err(e) = RedisBudget::penalize(self, pause).await {
            tracing::warn!(budget = %self.name, ?pause, error = %e,
                "the penalty could not be shared: only this worker pauses");
        }
    }
}
