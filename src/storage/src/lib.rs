//! Den's storage: a revisioned key-value store with watch.
//!
//! The [`Backend`] trait is the subset of etcd's API that kine found sufficient:
//! range reads at a revision, create-if-absent, compare-and-swap on the mod
//! revision, delete-if-revision, watch from a revision and compaction. Every
//! clever loop (see [`guaranteed_update`]) is written once over any backend.

use std::pin::Pin;

use async_trait::async_trait;
use bytes::Bytes;
use futures::Stream;

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

    /// The store's current revision.
    async fn current_revision(&self) -> Result<Revision>;

    /// Discards history at and below `revision` (the latest value of each live key stays).
    async fn compact(&self, revision: Revision) -> Result<()>;
}
