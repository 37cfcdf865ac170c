//! Den's storage: a revisioned key-value store with watch.
//!
//! The [`Backend`] trait is the subset of etcd's API that kine found sufficient:
//! range reads at a revision, create-if-absent, compare-and-swap on the mod
//! revision, delete-if-revision, watch from a revision and compaction. Every
//! clever loop (see [`guaranteed_update`]) is written once over any backend.

use std::pin::Pin;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::{Stream, StreamExt};
use tokio::time::Instant;

pub mod cacher;
pub mod compactor;
pub mod embedded;
pub mod etcd;
mod update;

pub use update::{UpdateOutcome, guaranteed_update};

/// A store revision. Every write bumps it by one; it becomes `metadata.resourceVersion`.
pub type Revision = i64;

/// One stored key at one revision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyValue {
    pub key: String,
    pub value: Bytes,
    /// The revision at which the key was (last) created.
    pub create_revision: Revision,
    /// The revision of the write that produced this value.
    pub mod_revision: Revision,
}

/// One page of a range read.
#[derive(Clone, Debug, Default)]
pub struct ListResult {
    pub items: Vec<KeyValue>,
    /// The revision the read was served at.
    pub revision: Revision,
    /// More keys under the prefix follow the last returned item.
    pub more: bool,
    /// How many keys follow the page, when the backend knows it cheaply.
    pub remaining: Option<i64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    /// The key was created (it did not exist before this revision).
    Created,
    /// The key existed and got a new value.
    Modified,
    /// The key was deleted.
    Deleted,
    /// No change: every change up to `kv.mod_revision` has been yielded before it (a
    /// bookmark; `kv.key` is empty). Only watches given a [`ProgressSchedule`] yield it.
    Progress,
}

/// One change seen by a watch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchEvent {
    pub event_type: EventType,
    /// For `Created`/`Modified`, the new value. For `Deleted`, the last value the key had,
    /// with `mod_revision` set to the revision of the deletion.
    pub kv: KeyValue,
    /// The value before this event, when there was one.
    pub prev: Option<KeyValue>,
}

impl WatchEvent {
    pub fn revision(&self) -> Revision {
        self.kv.mod_revision
    }

    /// A [`EventType::Progress`] event at `revision`.
    pub fn progress(revision: Revision) -> Self {
        Self {
            event_type: EventType::Progress,
            kv: KeyValue {
                key: String::new(),
                value: Bytes::new(),
                create_revision: 0,
                mod_revision: revision,
            },
            prev: None,
        }
    }
}

/// What a watcher asks for besides the changes under its prefix.
#[derive(Clone, Debug, Default)]
pub struct WatchOptions {
    /// The watcher wants only changes whose object has this trigger value before or after the
    /// change (upstream's indexed trigger, e.g. `spec.nodeName` of pods; see
    /// [`cacher::Cacher::register_indexed`]). A hint: stores without the index deliver every
    /// change and the caller filters them anyway.
    pub trigger: Option<String>,
    /// When to yield [`EventType::Progress`] events (none without one).
    pub progress: Option<ProgressSchedule>,
}

/// When a watch yields progress: about every `every`, and shortly before its `deadline` so a
/// watch that ends can resume from a recent revision (upstream's bookmark timing).
#[derive(Clone, Copy, Debug)]
pub struct ProgressSchedule {
    pub every: Duration,
    pub deadline: Option<Instant>,
}

impl ProgressSchedule {
    /// How long before the deadline the last progress event is due.
    const BEFORE_DEADLINE: Duration = Duration::from_secs(2);

    /// When the next progress event is due after `now`; None when none is before the deadline.
    pub fn next_after(&self, now: Instant) -> Option<Instant> {
        let mut next = now + self.every;
        if let Some(deadline) = self.deadline {
            next = next.min(deadline.checked_sub(Self::BEFORE_DEADLINE)?);
        }
        (next > now).then_some(next)
    }
}

pub type WatchStream = Pin<Box<dyn Stream<Item = Result<WatchEvent>> + Send>>;

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum StorageError {
    #[error("key not found: {key}")]
    NotFound { key: String },
    #[error("key exists: {key}")]
    AlreadyExists { key: String },
    /// A compare-and-swap lost: `current` is the value that won (None when the key is gone).
    #[error("revision conflict on {key}")]
    Conflict {
        key: String,
        current: Option<Box<KeyValue>>,
    },
    /// The requested revision has been compacted away.
    #[error("revision {requested} has been compacted (compacted revision {compacted})")]
    Compacted {
        requested: Revision,
        compacted: Revision,
    },
    /// The requested revision is newer than the store's current one.
    #[error("revision {requested} is newer than the current revision {current}")]
    FutureRevision {
        requested: Revision,
        current: Revision,
    },
    /// The backend cannot be reached or refused the request.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    #[error("storage error: {0}")]
    Internal(String),
}

pub type Result<T, E = StorageError> = std::result::Result<T, E>;

/// The primitives a storage backend implements.
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// Reads one key at the current revision. Also returns the current revision.
    async fn get(&self, key: &str) -> Result<(Option<KeyValue>, Revision)>;

    /// Reads keys under `prefix` in key order, starting strictly after `start_after` when
    /// given, at most `limit` of them (0 means no limit), at `revision` (0 means current).
    async fn list(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
        revision: Revision,
    ) -> Result<ListResult>;

    /// Every key under `prefix` as of a recent revision, possibly a moment behind the store:
    /// what upstream's informer caches give its admission plugins. A store without a cache
    /// answers a consistent list.
    async fn list_recent(&self, prefix: &str) -> Result<ListResult> {
        self.list(prefix, None, 0, 0).await
    }

    /// Creates `key`; fails with `AlreadyExists` when it exists.
    async fn create(&self, key: &str, value: Bytes) -> Result<KeyValue>;

    /// Replaces `key` if its mod revision is still `expected`; otherwise fails with
    /// `Conflict` carrying the current value (or `NotFound` semantics via `current: None`).
    async fn update(&self, key: &str, value: Bytes, expected: Revision) -> Result<KeyValue>;

    /// Deletes `key` if its mod revision is still `expected` (any revision when `None`).
    /// Returns the deleted value with `mod_revision` set to the deletion revision.
    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<KeyValue>;

    /// Streams every change under `prefix` with a revision greater than `after`.
    /// Fails with `Compacted` when `after` is older than the compacted revision.
    async fn watch(&self, prefix: &str, after: Revision) -> Result<WatchStream>;

    /// [`Backend::watch`] with [`WatchOptions`]. Without a cache, progress events carry the
    /// revision of the last change the watch yielded (or `after`).
    async fn watch_with(
        &self,
        prefix: &str,
        after: Revision,
        options: &WatchOptions,
    ) -> Result<WatchStream> {
        let events = self.watch(prefix, after).await?;
        Ok(match options.progress {
            Some(schedule) => with_progress(events, after, schedule),
            None => events,
        })
    }

    /// The store's current revision.
    async fn current_revision(&self) -> Result<Revision>;

    /// Discards history at and below `revision` (the latest value of each live key stays).
    async fn compact(&self, revision: Revision) -> Result<()>;
}

/// `events` with a progress event at each time `schedule` gives, at the revision of the last
/// event yielded before it.
pub fn with_progress(
    events: WatchStream,
    after: Revision,
    schedule: ProgressSchedule,
) -> WatchStream {
    struct State {
        events: WatchStream,
        last: Revision,
        due: Option<Instant>,
        schedule: ProgressSchedule,
    }
    let state = State {
        events,
        last: after,
        due: schedule.next_after(Instant::now()),
        schedule,
    };
    Box::pin(futures::stream::unfold(state, |mut s| async move {
        let item = match s.due {
            Some(due) => tokio::select! {
                biased;
                item = s.events.next() => item,
                _ = tokio::time::sleep_until(due) => {
                    s.due = s.schedule.next_after(Instant::now());
                    Some(Ok(WatchEvent::progress(s.last)))
                }
            },
            None => s.events.next().await,
        }?;
        if let Ok(event) = &item {
            s.last = s.last.max(event.revision());
        }
        Some((item, s))
    }))
}
