//! [`Observer`] and [`Event`]: what a run reports as it goes.

use std::sync::Arc;
use std::time::Duration;

use haul_core::MaskedUrl;
use http::StatusCode;

/// Something that happened during a run.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Event<'a> {
    /// A request is about to be sent.
    RequestSent {
        /// Stream name.
        stream: &'a str,
        /// Masked URL.
        url: &'a MaskedUrl,
        /// 1-based attempt number.
        attempt: u32,
    },
    /// A response arrived.
    Response {
        /// Stream name.
        stream: &'a str,
        /// Status.
        status: StatusCode,
        /// Time to the last body byte.
        latency: Duration,
        /// Body size.
        bytes: usize,
    },
    /// A retry was scheduled.
    RetryScheduled {
        /// Stream name.
        stream: &'a str,
        /// The attempt that failed.
        attempt: u32,
        /// Wait before the next attempt.
        delay: Duration,
        /// Why.
        reason: &'a str,
    },
    /// The rate limiter (or a throttling server) made the run wait.
    ThrottleWait {
        /// Stream name.
        stream: &'a str,
        /// How long.
        wait: Duration,
    },
    /// A page was fetched.
    PageFetched {
        /// Stream name.
        stream: &'a str,
        /// Page number.
        number: u64,
        /// Records on it.
        records: usize,
    },
    /// A batch was committed to the sink.
    BatchCommitted {
        /// Stream name.
        stream: &'a str,
        /// Pages committed in this pass so far.
        pages: u64,
        /// Records committed in this pass so far.
        records: u64,
    },
    /// The pass ended for a reason other than the API saying the dataset
    /// was exhausted (the empty-pages guard, a request past the announced
    /// end); logged as a warning too.
    PassEnded {
        /// Stream name.
        stream: &'a str,
        /// Why.
        end: crate::PassEnd,
        /// Pages of the pass.
        pages: u64,
        /// The request that was not sent, or that answered past the end (masked).
        url: &'a MaskedUrl,
    },
    /// The stream finished its pass.
    StreamFinished {
        /// Stream name.
        stream: &'a str,
    },
}

/// Receives [`Event`]s; feed them to metrics, a progress bar, an audit log.
/// Must be cheap: it is called on the hot path.
pub trait Observer: Send + Sync {
    /// Called for every event.
    fn on_event(&self, event: &Event<'_>);
}

impl<O: Observer + ?Sized> Observer for &O {
    fn on_event(&self, event: &Event<'_>) {
        (**self).on_event(event)
    }
}
impl<O: Observer + ?Sized> Observer for Box<O> {
    fn on_event(&self, event: &Event<'_>) {
        (**self).on_event(event)
    }
}
impl<O: Observer + ?Sized> Observer for Arc<O> {
    fn on_event(&self, event: &Event<'_>) {
        (**self).on_event(event)
    }
}

/// Ignores every event.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoopObserver;

impl Observer for NoopObserver {
    fn on_event(&self, _event: &Event<'_>) {}
}
