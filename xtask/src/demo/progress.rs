//! A progress bar on a terminal, plain log lines otherwise.

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use haul::extractor::{Event, Observer};
use indicatif::{ProgressBar, ProgressStyle};

/// Shows progress and optionally crashes the process after N pages (to
/// demonstrate resume after `kill -9`).
pub(crate) struct Progress {
    bar: Option<ProgressBar>,
    total_pages: u64,
    total_records: u64,
    pages: AtomicU64,
    retries: AtomicU64,
    throttled_ms: AtomicU64,
    kill_after_pages: Option<u64>,
}

impl Progress {
    pub(crate) fn new(
        total_pages: u64,
        total_records: u64,
        kill_after_pages: Option<u64>,
    ) -> Arc<Self> {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(total_records);
            if let Ok(style) = ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} records ({per_sec}) {msg}",
            ) {
                bar.set_style(style);
            }
            bar
        });
        Arc::new(Self {
            bar,
            total_pages,
            total_records,
            pages: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            throttled_ms: AtomicU64::new(0),
            kill_after_pages,
        })
    }

    pub(crate) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish();
        }
    }

    fn line(&self, text: String) {
        match &self.bar {
            Some(bar) => bar.println(text),
            None => eprintln!("{text}"),
        }
    }
}

impl Observer for Progress {
    fn on_event(&self, event: &Event<'_>) {
        match event {
            Event::PageFetched {
                number, records, ..
            } => {
                let pages = self.pages.fetch_add(1, Ordering::Relaxed) + 1;
                if let Some(bar) = &self.bar {
                    bar.inc(*records as u64);
                    bar.set_message(format!(
                        "page {number}/{} · {} retries · {} throttled",
                        self.total_pages,
                        self.retries.load(Ordering::Relaxed),
                        haul::HumanDuration(std::time::Duration::from_millis(
                            self.throttled_ms.load(Ordering::Relaxed)
                        ))
                    ));
                }
                if self.kill_after_pages == Some(pages) {
                    self.line(format!(
                        "--kill-after-pages {pages}: aborting the process now, like kill -9"
                    ));
                    std::process::abort();
                }
            }
            Event::RetryScheduled {
                attempt,
                delay,
                reason,
                ..
            } => {
                self.retries.fetch_add(1, Ordering::Relaxed);
                if self.bar.is_none() {
                    self.line(format!(
                        "retry after attempt {attempt} in {}: {reason}",
                        haul::HumanDuration(*delay)
                    ));
                }
            }
            Event::ThrottleWait { wait, .. } => {
                self.throttled_ms
                    .fetch_add(wait.as_millis() as u64, Ordering::Relaxed);
            }
            Event::BatchCommitted { pages, records, .. } if self.bar.is_none() => {
                self.line(format!(
                    "committed {records}/{} records ({pages}/{} pages)",
                    self.total_records, self.total_pages
                ));
            }
            _ => {}
        }
    }
}
