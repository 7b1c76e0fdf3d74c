//! # haul-ratelimit
//!
//! The [`RateLimiter`] trait and haul's limiters:
//!
//! - [`FixedRate`]: N requests per period with a burst (GCRA), proactive pacing;
//! - [`HeaderAdaptive`]: learns the budget from `X-RateLimit-*`, the IETF
//!   `RateLimit` headers and `Retry-After`, and never sends between
//!   `Remaining: 0` and the reset;
//! - [`MaxInFlight`]: a cap on concurrent requests;
//! - [`AdaptiveConcurrency`]: an in-flight cap that finds the server's knee (AIMD);
//! - [`AdaptiveRate`]: a rate learned from throttling responses when the
//!   server advertises none (CUBIC, as the AWS SDKs' adaptive mode);
//! - [`AllOf`]: composes them; [`Unlimited`]: grants everything.
//!
//! Across processes, [`SharedBudget`] is the async contract of a budget
//! that many workers draw on (`haul_redis::RedisBudget` keeps one in
//! Redis): the extractor takes the local limiter's permit, then a shared
//! slot, and passes every throttle it sees on as a penalty.
//!
//! Limiters are synchronous and take time as an argument, so their laws are
//! property-tested under a fake clock. The extractor
//! [reserves](RateLimiter::reserve) a permit and sleeps until its time
//! ([`Reservation::At`]) through its injected sleeper, reporting the total
//! as throttle wait; a pacing limiter's schedule advances at the
//! reservation, so a late wake-up loses nothing, and a dropped reservation
//! is handed back with [`cancel`](RateLimiter::cancel). One limiter (in an
//! `Arc`) can be shared by many streams.
//!
//! ```
//! use haul_ratelimit::{FixedRate, Permit, RateLimiter};
//! use std::time::Duration;
//!
//! // 5 requests per second: drive a fake clock and count what gets through in 2 s.
//! let limiter = FixedRate::per_second(5);
//! let mut now = Duration::ZERO;
//! let mut granted = 0;
//! while now < Duration::from_secs(2) {
//!     match limiter.try_acquire(now) {
//!         Permit::Granted => granted += 1,
//!         Permit::Wait(d) => now += d,
//!     }
//! }
//! assert_eq!(granted, 10);
//! ```

mod adaptive;
mod adaptive_concurrency;
mod adaptive_rate;
mod chain;
mod concurrency;
mod limiter;
mod pacer;
mod shared;
mod vendor;

pub use adaptive::{HeaderAdaptive, RateLimitHeaders};
pub use adaptive_concurrency::AdaptiveConcurrency;
pub use adaptive_rate::{AdaptiveRate, AdaptiveRateState, RateCut};
pub use chain::AllOf;
pub use concurrency::MaxInFlight;
pub use limiter::{Permit, RateLimiter, Reservation, Unlimited};
pub use pacer::FixedRate;
pub use shared::{SharedBudget, SharedBudgetError};
pub use vendor::{HeaderFamily, VendorHeaders};
