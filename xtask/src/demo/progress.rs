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

/// One progress bar per stream of a connector (plain log lines when stderr
/// is not a terminal), and the same `--kill-after-pages` abort, counting
/// pages across every stream.
pub(crate) struct StreamsProgress {
    multi: Option<indicatif::MultiProgress>,
    streams: Vec<StreamBar>,
    pages: AtomicU64,
    kill_after_pages: Option<u64>,
}

struct StreamBar {
    name: String,
    bar: Option<ProgressBar>,
    pages: AtomicU64,
    records: AtomicU64,
    partitions_done: AtomicU64,
    expected_records: u64,
    expected_partitions: u64,
}

impl StreamsProgress {
    /// `streams`: each stream's name, expected records and partitions.
    pub(crate) fn new(streams: &[(&str, u64, u64)], kill_after_pages: Option<u64>) -> Arc<Self> {
        let multi = std::io::stderr()
            .is_terminal()
            .then(indicatif::MultiProgress::new);
        let style =
            ProgressStyle::with_template("{prefix:>6} {bar:30} {pos:>6}/{len:6} records {msg}")
                .ok();
        let streams = streams
            .iter()
            .map(|&(name, records, partitions)| {
                let bar = multi.as_ref().map(|multi| {
                    let bar = multi.add(ProgressBar::new(records));
                    if let Some(style) = &style {
                        bar.set_style(style.clone());
                    }
                    bar.set_prefix(name.to_owned());
                    bar
                });
                StreamBar {
                    name: name.to_owned(),
                    bar,
                    pages: AtomicU64::new(0),
                    records: AtomicU64::new(0),
                    partitions_done: AtomicU64::new(0),
                    expected_records: records,
                    expected_partitions: partitions,
                }
            })
            .collect();
        Arc::new(Self {
            multi,
            streams,
            pages: AtomicU64::new(0),
            kill_after_pages,
        })
    }

    pub(crate) fn finish(&self) {
        for stream in &self.streams {
            if let Some(bar) = &stream.bar {
                bar.finish();
            }
        }
    }

    fn line(&self, text: String) {
        match &self.multi {
            Some(multi) => {
                let _ = multi.println(text);
            }
            None => eprintln!("{text}"),
        }
    }

    fn stream(&self, name: &str) -> Option<&StreamBar> {
        self.streams.iter().find(|s| s.name == name)
    }
}

impl StreamBar {
    fn status(&self) -> String {
        format!(
            "{} pages · {}/{} partitions done",
            self.pages.load(Ordering::Relaxed),
            self.partitions_done.load(Ordering::Relaxed),
            self.expected_partitions
        )
    }
}

impl Observer for StreamsProgress {
    fn on_event(&self, event: &Event<'_>) {
        match event {
            Event::PageFetched {
                stream, records, ..
            } => {
                let pages = self.pages.fetch_add(1, Ordering::Relaxed) + 1;
                if let Some(s) = self.stream(stream) {
                    let stream_pages = s.pages.fetch_add(1, Ordering::Relaxed) + 1;
                    let done =
                        s.records.fetch_add(*records as u64, Ordering::Relaxed) + *records as u64;
                    match &s.bar {
                        Some(bar) => {
                            bar.inc(*records as u64);
                            bar.set_message(s.status());
                        }
                        None if stream_pages % 100 == 0 => self.line(format!(
                            "{}: {done}/{} records · {}",
                            s.name,
                            s.expected_records,
                            s.status()
                        )),
                        None => {}
                    }
                }
                if self.kill_after_pages == Some(pages) {
                    self.line(format!(
                        "--kill-after-pages {pages}: aborting the process now, like kill -9"
                    ));
                    std::process::abort();
                }
            }
            Event::StreamFinished { stream } => {
                // A connector reports each finished partition this way.
                if let Some(s) = self.stream(stream) {
                    s.partitions_done.fetch_add(1, Ordering::Relaxed);
                    if let Some(bar) = &s.bar {
                        bar.set_message(s.status());
                    }
                }
            }
            Event::RetryScheduled {
                stream,
                attempt,
                delay,
                reason,
            } if self.multi.is_none() => {
                self.line(format!(
                    "{stream}: retry after attempt {attempt} in {}: {reason}",
                    haul::HumanDuration(*delay)
                ));
            }
            _ => {}
        }
    }
}
