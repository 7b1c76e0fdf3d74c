//! [`Synchronous`]: how hard commits sync.

/// How hard a commit syncs to disk (SQLite's `PRAGMA synchronous`, in WAL mode).
///
/// Both keep every commit atomic — records and checkpoint together or
/// neither — so neither can duplicate or half-write a batch. They differ in
/// what a *power loss or OS crash* (not a process crash) may undo.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Synchronous {
    /// The default: the WAL is synced at checkpoints, not at each commit.
    /// Survives any process crash; a power loss may roll back the last few
    /// commits, and the next run then resumes from the earlier checkpoint.
    #[default]
    Normal,
    /// Syncs the WAL at every commit: a commit that returned survives a power
    /// loss too, at the price of one `fsync` per batch.
    Full,
}

impl Synchronous {
    pub(crate) fn pragma(self) -> &'static str {
        match self {
            Self::Normal => "NORMAL",
            Self::Full => "FULL",
        }
    }
}
