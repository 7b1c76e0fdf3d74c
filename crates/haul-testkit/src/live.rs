//! The data a running server serves: swapped whole when it changes, so a
//! request renders from one consistent version without holding a lock.

use std::sync::{Arc, Mutex, PoisonError, RwLock};

use crate::dataset::Dataset;

/// How many `updated_since` views one version keeps (an incremental pass
/// sends the same bound on every page, so one is usually enough).
const CACHED_VIEWS: usize = 4;

/// The current version of the data. Readers take the lock only to clone an
/// `Arc`; a change builds the next version aside and swaps it in, so
/// requests in flight finish on the version they started with.
#[derive(Debug)]
pub(crate) struct LiveData {
    current: RwLock<Arc<Version>>,
}

/// One version of the data, and the filtered views built from it.
#[derive(Debug)]
pub(crate) struct Version {
    pub(crate) dataset: Dataset,
    views: Mutex<Vec<Arc<View>>>,
}

/// The records with `updated_at >= since`, in id order.
#[derive(Debug)]
pub(crate) struct View {
    since: u64,
    /// Their indices in the dataset (`id - 1`).
    pub(crate) indices: Vec<usize>,
    /// Their texts, copied once so pages render from a contiguous slice.
    pub(crate) records: Vec<String>,
}

impl LiveData {
    pub(crate) fn new(dataset: Dataset) -> Self {
        LiveData {
            current: RwLock::new(Arc::new(Version::new(dataset))),
        }
    }

    /// The version new requests are served from.
    pub(crate) fn current(&self) -> Arc<Version> {
        // A writer cannot panic half-way through a swap: the data is consistent.
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Replaces the data with `change(current)`; changes are serialized.
    pub(crate) fn update<T>(&self, change: impl FnOnce(&Dataset) -> (Dataset, T)) -> T {
        let mut current = self.current.write().unwrap_or_else(PoisonError::into_inner);
        let (next, result) = change(&current.dataset);
        *current = Arc::new(Version::new(next));
        result
    }
}

impl Version {
    fn new(dataset: Dataset) -> Self {
        Version {
            dataset,
            views: Mutex::new(Vec::new()),
        }
    }

    /// The records updated at or after `since` (Unix seconds), built once per
    /// version and bound.
    pub(crate) fn since(&self, since: u64) -> Arc<View> {
        let mut views = self.views.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(view) = views.iter().find(|view| view.since == since) {
            return Arc::clone(view);
        }
        let (indices, records) = self.dataset.since(since);
        let view = Arc::new(View {
            since,
            indices,
            records,
        });
        if views.len() >= CACHED_VIEWS {
            views.remove(0);
        }
        views.push(Arc::clone(&view));
        view
    }
}
