//! Injected time: [`Clock`] tells the time, [`Sleeper`] waits.
//!
//! Decision code (retry policies, rate limiters) reads time only through a
//! `Clock`, and the extractor waits only through a `Sleeper`, so tests drive
//! both with a [`ManualClock`] and assert exact waits without waiting.

use std::fmt::Debug;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;

/// A source of time.
pub trait Clock: Send + Sync + Debug {
    /// Monotonic time since an arbitrary, fixed origin.
    fn now(&self) -> Duration;
    /// Wall-clock time, for HTTP dates and epoch-based rate-limit resets.
    fn wall(&self) -> SystemTime;
}

/// Something that can wait.
#[async_trait]
pub trait Sleeper: Send + Sync + Debug {
    /// Waits for `duration`.
    async fn sleep(&self, duration: Duration);
}

macro_rules! forward_clock {
    ($($ty:ty),*) => {$(
        impl<T: Clock + ?Sized> Clock for $ty {
            fn now(&self) -> Duration { (**self).now() }
            fn wall(&self) -> SystemTime { (**self).wall() }
        }
        #[async_trait]
        impl<T: Sleeper + ?Sized> Sleeper for $ty {
            async fn sleep(&self, duration: Duration) { (**self).sleep(duration).await }
        }
    )*};
}
forward_clock!(&T, Box<T>, Arc<T>);

/// The real clock. Monotonic time comes from `tokio::time::Instant`, so it
/// follows `tokio::time::pause()` in tests.
#[derive(Debug, Clone, Copy)]
pub struct SystemClock {
    origin: tokio::time::Instant,
}

impl SystemClock {
    /// A clock whose monotonic origin is now.
    pub fn new() -> Self {
        Self {
            origin: tokio::time::Instant::now(),
        }
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for SystemClock {
    fn now(&self) -> Duration {
        self.origin.elapsed()
    }
    fn wall(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// Sleeps on the tokio timer (which `tokio::time::pause()` controls in tests).
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioSleeper;

#[async_trait]
impl Sleeper for TokioSleeper {
    async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(duration).await;
    }
}

/// A clock that moves only when told to; sleeping on it advances it at once
/// and records the wait.
///
/// ```
/// use haul_core::{Clock, ManualClock, Sleeper};
/// use std::time::Duration;
/// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
/// let clock = ManualClock::new();
/// clock.sleep(Duration::from_secs(3)).await;
/// assert_eq!(clock.now(), Duration::from_secs(3));
/// assert_eq!(clock.slept(), Duration::from_secs(3));
/// # });
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct ManualClock {
    inner: Arc<Mutex<ManualState>>,
}

#[derive(Debug)]
struct ManualState {
    now: Duration,
    wall_origin: SystemTime,
    slept: Duration,
    sleeps: Vec<Duration>,
}

impl ManualClock {
    /// A clock at monotonic zero whose wall time is 2026-01-01T00:00:00Z.
    pub fn new() -> Self {
        Self::with_wall(SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600))
    }

    /// A clock at monotonic zero with the given wall time.
    pub fn with_wall(wall_origin: SystemTime) -> Self {
        Self {
            inner: Arc::new(Mutex::new(ManualState {
                now: Duration::ZERO,
                wall_origin,
                slept: Duration::ZERO,
                sleeps: Vec::new(),
            })),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, ManualState> {
        // The state is plain data; a panic elsewhere cannot leave it inconsistent.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Moves time forward.
    pub fn advance(&self, by: Duration) {
        self.state().now += by;
    }

    /// Total time spent in [`Sleeper::sleep`].
    pub fn slept(&self) -> Duration {
        self.state().slept
    }

    /// Every sleep, in order.
    pub fn sleeps(&self) -> Vec<Duration> {
        self.state().sleeps.clone()
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Duration {
        self.state().now
    }
    fn wall(&self) -> SystemTime {
        let s = self.state();
        s.wall_origin + s.now
    }
}

#[async_trait]
impl Sleeper for ManualClock {
    async fn sleep(&self, duration: Duration) {
        let mut s = self.state();
        s.now += duration;
        s.slept += duration;
        s.sleeps.push(duration);
    }
}
