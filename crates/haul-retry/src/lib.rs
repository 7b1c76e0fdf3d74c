//! # haul-retry
//!
//! Retrying is two decisions, kept apart so each can be swapped and tested:
//!
//! - a [`Classifier`] says *what went wrong* with an attempt ([`HttpClassifier`]:
//!   success, throttled, transient transport error, server error, permanent);
//! - a [`RetryPolicy`] says *whether and when* to try again
//!   ([`ExponentialBackoff`]: full jitter, `Retry-After` in seconds or as an
//!   HTTP-date, caps on attempts and total time, a shared [`RetryBudget`]).
//!
//! Both are synchronous and do no I/O; the extractor runs the retry loop and
//! sleeps through its injected sleeper.
//!
//! ```
//! use haul_retry::{Classifier, ExponentialBackoff, GiveUp, HttpClassifier, Outcome,
//!                  RetryContext, RetryDecision, RetryPolicy};
//! use haul_core::{Request, Response};
//! use std::time::{Duration, SystemTime};
//!
//! let policy = ExponentialBackoff::default().max_retry_after(Duration::from_secs(60));
//! let request = Request::get("https://api.example.com/items".parse()?);
//! let response = Response::new(http::StatusCode::SERVICE_UNAVAILABLE, request.url.clone(), "")
//!     .with_header("retry-after", "3600");
//! let class = HttpClassifier.classify(Outcome::Response(&response), SystemTime::now());
//! let ctx = RetryContext { attempt: 1, elapsed: Duration::ZERO, request: &request, classification: &class };
//! // Asked to wait an hour with a one-minute cap: fail clearly instead of sleeping.
//! assert!(matches!(policy.decide(&ctx), RetryDecision::GiveUp(GiveUp::RetryAfterTooLong { .. })));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod budget;
mod classify;
mod policy;
mod retry_after;
mod rng;

pub use budget::RetryBudget;
pub use classify::{Classification, Classifier, HttpClassifier, Outcome};
pub use policy::{ExponentialBackoff, GiveUp, NoRetry, RetryContext, RetryDecision, RetryPolicy};
pub use retry_after::parse_retry_after;
