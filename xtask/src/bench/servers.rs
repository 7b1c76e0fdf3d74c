//! The fake APIs, served from their own runtime (one worker thread), so the
//! clients measured run on another and every client meets the same server.

use std::time::Duration;

use haul_testkit::{Dataset, FakeApi, Faults, RateLimit, RunningServer};

use super::options::{LATENCY, PAGE_SIZE, STREAM_RATE};

/// A runtime that only serves.
pub(crate) struct ServerHost {
    runtime: tokio::runtime::Runtime,
}

impl ServerHost {
    pub(crate) fn new() -> Result<Self, String> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("fake-api")
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the server runtime: {e}"))?;
        Ok(Self { runtime })
    }

    /// Serves `dataset` as fast as it can, 100 records per page.
    pub(crate) fn plain(&self, dataset: &Dataset) -> Result<RunningServer, String> {
        self.start(base(dataset))
    }

    /// Serves `dataset`, every data request answered after 20 ms.
    pub(crate) fn with_latency(&self, dataset: &Dataset) -> Result<RunningServer, String> {
        let faults = Faults {
            p_slow: 1.0,
            slow_delay: LATENCY,
            ..Faults::default()
        };
        self.start(base(dataset).faults(faults))
    }

    /// Serves `dataset` behind a limit of 200 requests per second, advertised
    /// in `X-RateLimit-*` headers, with a 429 beyond it.
    pub(crate) fn rate_limited(&self, dataset: &Dataset) -> Result<RunningServer, String> {
        self.start(base(dataset).rate_limit(RateLimit::new(STREAM_RATE, Duration::from_secs(1))))
    }

    /// As [`rate_limited`](Self::rate_limited), also sending the IETF
    /// `RateLimit-Policy` and `RateLimit` headers (the client hides the others).
    pub(crate) fn rate_limited_ietf(&self, dataset: &Dataset) -> Result<RunningServer, String> {
        self.start(
            base(dataset).rate_limit(
                RateLimit::new(STREAM_RATE, Duration::from_secs(1)).with_ietf_headers(),
            ),
        )
    }

    fn start(&self, builder: haul_testkit::FakeApiBuilder) -> Result<RunningServer, String> {
        self.runtime
            .block_on(builder.build().start())
            .map_err(|e| format!("cannot start the fake API: {e}"))
    }

    /// Stops `server` gracefully.
    pub(crate) fn stop(&self, server: RunningServer) {
        self.runtime.block_on(server.shutdown());
    }
}

fn base(dataset: &Dataset) -> haul_testkit::FakeApiBuilder {
    FakeApi::builder()
        .dataset(dataset.clone())
        .default_page_size(PAGE_SIZE)
        .max_page_size(1000)
}
