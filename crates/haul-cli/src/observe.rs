//! Logging, progress and interruption for the `haul` binary.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use haul::{Event, Observer};

/// Logs to stderr: text or one JSON object a line, filtered by `level`
/// (else `HAUL_LOG`, else `info`).
pub(crate) fn init_logging(json: bool, level: Option<&str>) {
    use tracing_subscriber::EnvFilter;
    let filter = level
        .map(str::to_owned)
        .or_else(|| std::env::var("HAUL_LOG").ok())
        .unwrap_or_else(|| "info".to_owned());
    let filter = EnvFilter::try_new(&filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().with_ansi(false).init();
    } else {
        builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init();
    }
}

/// Completes on Ctrl-C or SIGTERM: the run stops cleanly and commits.
pub(crate) async fn interrupted() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    tracing::warn!("interrupt received: finishing pages in flight and committing");
}

/// Run progress: a spinner line on a terminal, log lines otherwise.
#[derive(Debug, Clone)]
pub(crate) struct Progress {
    inner: Arc<ProgressInner>,
}

#[derive(Debug)]
struct ProgressInner {
    bar: Option<indicatif::ProgressBar>,
    records: AtomicU64,
    pages: AtomicU64,
}

impl Progress {
    pub(crate) fn new(terminal: bool) -> Self {
        let bar = terminal.then(|| {
            let bar = indicatif::ProgressBar::new_spinner();
            bar.enable_steady_tick(std::time::Duration::from_millis(120));
            bar
        });
        Self {
            inner: Arc::new(ProgressInner {
                bar,
                records: AtomicU64::new(0),
                pages: AtomicU64::new(0),
            }),
        }
    }

    pub(crate) fn observer(&self) -> Arc<dyn Observer> {
        Arc::clone(&self.inner) as Arc<dyn Observer>
    }

    pub(crate) fn finish(&self) {
        if let Some(bar) = &self.inner.bar {
            bar.finish_and_clear();
        }
    }
}

impl Observer for ProgressInner {
    fn on_event(&self, event: &Event<'_>) {
        match event {
            Event::BatchCommitted {
                stream,
                pages,
                records,
            } => {
                let total = self.records.fetch_add(*records, Ordering::Relaxed) + records;
                let all_pages = self.pages.fetch_add(*pages, Ordering::Relaxed) + pages;
                match &self.bar {
                    Some(bar) => bar.set_message(format!(
                        "{total} records, {all_pages} pages (last: {stream})"
                    )),
                    None => tracing::info!(
                        stream = *stream,
                        records = *records,
                        total_records = total,
                        "batch committed"
                    ),
                }
            }
            Event::RequestSent {
                stream,
                url,
                attempt,
            } => tracing::debug!(stream = *stream, url = %url, attempt = *attempt, "request"),
            Event::RetryScheduled {
                stream,
                attempt,
                delay,
                reason,
            } => tracing::info!(
                stream = *stream,
                attempt = *attempt,
                delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                reason = *reason,
                "retry scheduled"
            ),
            Event::ThrottleWait { stream, wait } => tracing::debug!(
                stream = *stream,
                wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                "throttled"
            ),
            Event::StreamFinished { stream } => {
                tracing::debug!(stream = *stream, "stream finished")
            }
            _ => {}
        }
    }
}
