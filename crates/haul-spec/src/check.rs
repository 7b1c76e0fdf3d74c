//! `check`: a live look at each stream — at most two pages of one
//! partition, into memory — showing what a connector author needs to debug
//! a spec: the requests (URLs masked), statuses, records per page, the
//! pagination evidence, primary-key uniqueness and the incremental field.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use haul::{Event, MemorySink, Observer, Partition, Partitions, Record};
use serde::Serialize;

use crate::{BuildOptions, Resolved, SpecError, build};

/// Pages fetched per stream by a check.
pub const CHECK_PAGES: u64 = 2;

/// One request a check sent.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct CheckRequest {
    /// The URL, secrets masked.
    pub url: String,
    /// The attempt (1 for the first).
    pub attempt: u32,
    /// The status answered, if any.
    pub status: Option<u16>,
}

/// What a check saw of one stream.
#[derive(Debug, Clone, Serialize, Default)]
pub struct StreamCheck {
    /// The stream.
    pub stream: String,
    /// The partition checked (`""` for the single one).
    pub partition: String,
    /// The HTTP method the stream's requests use (`GET` or `POST`).
    pub method: String,
    /// The requests sent.
    pub requests: Vec<CheckRequest>,
    /// Records on each page.
    pub records_per_page: Vec<usize>,
    /// How the pagination ended, or the evidence of a next page.
    pub pagination: String,
    /// Records fetched.
    pub records: usize,
    /// Whether the primary key was unique over the records (`None`: no key).
    pub primary_key_unique: Option<bool>,
    /// Records with the incremental field present, out of `records` (`None`: not incremental).
    pub incremental_field_present: Option<usize>,
    /// A failure other than the page limit.
    pub error: Option<String>,
}

/// Every stream's check.
#[derive(Debug, Clone, Serialize, Default)]
pub struct CheckReport {
    /// Per stream, parents first.
    pub streams: Vec<StreamCheck>,
}

impl CheckReport {
    /// Whether every stream answered without error.
    pub fn ok(&self) -> bool {
        self.streams.iter().all(|s| s.error.is_none())
    }
}

#[derive(Default)]
struct Collect {
    requests: Mutex<Vec<CheckRequest>>,
    pages: Mutex<Vec<usize>>,
    end: Mutex<Option<String>>,
}

impl Observer for Collect {
    fn on_event(&self, event: &Event<'_>) {
        match event {
            Event::RequestSent { url, attempt, .. } => {
                if let Ok(mut r) = self.requests.lock() {
                    r.push(CheckRequest {
                        url: url.to_string(),
                        attempt: *attempt,
                        status: None,
                    });
                }
            }
            Event::Response { status, .. } => {
                if let Ok(mut r) = self.requests.lock()
                    && let Some(last) = r.last_mut()
                {
                    last.status = Some(status.as_u16());
                }
            }
            Event::PageFetched { records, .. } => {
                if let Ok(mut p) = self.pages.lock() {
                    p.push(*records);
                }
            }
            Event::PassEnded { end, pages, .. } => {
                if let Ok(mut e) = self.end.lock() {
                    *e = Some(format!("ended after {pages} page(s): {end:?}"));
                }
            }
            _ => {}
        }
    }
}

impl Resolved {
    /// Checks `streams` (all when empty) live: at most [`CHECK_PAGES`]
    /// pages of one partition each (a child: the first parent record's),
    /// into memory. Nothing is written anywhere.
    pub async fn check(&self, streams: &[String]) -> Result<CheckReport, SpecError> {
        let l = &self.spec.loaded;
        for s in streams {
            if !l.streams.iter().any(|(n, _)| n == s) {
                return Err(SpecError::Build(format!("no stream named {s:?}")));
            }
        }
        let wanted: BTreeSet<String> = {
            // A selected child needs its ancestors' first records.
            let mut w = BTreeSet::new();
            for s in streams {
                let mut at = Some(s.clone());
                while let Some(name) = at {
                    at = self
                        .spec
                        .streams()
                        .into_iter()
                        .find(|i| i.name == name)
                        .and_then(|i| i.parent);
                    w.insert(name);
                }
            }
            w
        };
        let options = BuildOptions {
            max_pages: Some(CHECK_PAGES),
            ..BuildOptions::default()
        };
        let transport: Arc<dyn haul::Transport> = Arc::new(build::transport(&l.source)?);
        let options = BuildOptions {
            transport: Some(transport),
            ..options
        };
        // The partition checked and the first record, per stream.
        let mut samples: BTreeMap<String, (Partition, Option<Record>)> = BTreeMap::new();
        let mut report = CheckReport::default();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        for (name, spec) in &l.streams {
            if !streams.is_empty() && !wanted.contains(name) {
                continue;
            }
            let mut check = StreamCheck {
                stream: name.clone(),
                ..StreamCheck::default()
            };
            let partition = match &spec.partitions {
                None => Some(Partition::single()),
                Some(p) => match build::partitions(p, &self.values)? {
                    Partitions::List(list) => list.into_iter().next(),
                    Partitions::Windows(w) => w.windows(now).into_iter().next(),
                    Partitions::Parent(link) => match samples.get(link.parent()) {
                        Some((parent, Some(record))) => link.child_of(parent, record),
                        _ => None,
                    },
                    _ => Some(Partition::single()),
                },
            };
            let Some(partition) = partition else {
                check.error =
                    Some("no partition to check (the parent returned no usable record)".into());
                report.streams.push(check);
                continue;
            };
            check.partition = partition.key().to_owned();
            check.method = match spec.method {
                Some(crate::model::Method::Post) => "POST",
                _ => "GET",
            }
            .to_owned();
            let collect = Arc::new(Collect::default());
            let mut def = build::stream(name, spec, &l.source, &self.values, &options)?;
            if !partition.is_single() {
                def = def.partitions(Partitions::list([partition.clone()]));
            }
            let connector = build::shared(&l.name, &l.source, &self.values, &options)?
                .stream(def)
                .observer(Arc::clone(&collect))
                .build()?;
            let sink = MemorySink::new();
            let outcome = connector.run(&sink).await;
            let records = sink.records(name);
            check.pagination = match &outcome {
                Ok(_) => collect
                    .end
                    .lock()
                    .ok()
                    .and_then(|e| e.clone())
                    .unwrap_or_else(|| "ended".into()),
                Err(haul::ConnectorError::Failed { failed, .. }) => {
                    let text = failed
                        .iter()
                        .map(|f| f.error.to_string())
                        .collect::<Vec<_>>()
                        .join("; ");
                    // The page guard is the evidence: the paginator found a next page.
                    if text.contains("still offered a next page") {
                        format!("next page found after {CHECK_PAGES} pages (not fetched): {text}")
                    } else {
                        check.error = Some(text.clone());
                        "failed".into()
                    }
                }
                Err(e) => {
                    check.error = Some(e.to_string());
                    "failed".into()
                }
            };
            check.requests = collect
                .requests
                .lock()
                .map(|r| r.clone())
                .unwrap_or_default();
            check.records_per_page = collect.pages.lock().map(|p| p.clone()).unwrap_or_default();
            check.records = records.len();
            if let Some(keys) = &spec.primary_key
                && !keys.is_empty()
            {
                let mut seen = BTreeSet::new();
                let unique = records.iter().all(|r| {
                    let key: Vec<Option<String>> =
                        keys.iter().map(|k| r.field(k).ok().flatten()).collect();
                    key.iter().all(Option::is_some) && seen.insert(key)
                });
                check.primary_key_unique = Some(unique);
            }
            if let Some(inc) = &spec.incremental {
                check.incremental_field_present = Some(
                    records
                        .iter()
                        .filter(|r| r.field(&inc.field).ok().flatten().is_some())
                        .count(),
                );
            }
            samples.insert(name.clone(), (partition, records.into_iter().next()));
            report.streams.push(check);
        }
        Ok(report)
    }
}
