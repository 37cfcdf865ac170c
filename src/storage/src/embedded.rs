//! The embedded backend: durable on local disk through redb.
//!
//! Three tables hold the store:
//!
//! * `kv`: key → (create revision, mod revision, value): the current state;
//! * `log`: revision → (key, put/delete, create revision, previous mod revision, value):
//!   the history, trimmed by [`Backend::compact`];
//! * `meta`: the current and the compacted revision.
//!
//! Every write goes through one writer thread. It takes all queued requests, applies them in
//! one redb write transaction (each request gets its own revision and its own outcome), commits
//! once (redb's default durability fsyncs before `commit` returns) and then answers every
//! request: group commit, so concurrent writers share one fsync and an acknowledged write
//! survives `kill -9`. Committed changes are then published to watchers through a broadcast
//! channel; history older than the broadcast is read back from the `log` table.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use tokio::sync::{broadcast, oneshot};

use crate::{
    Backend, EventType, KeyValue, ListResult, Result, Revision, StorageError, WatchEvent,
    WatchStream,
};

/// key → encoded [`StoredValue`].
const KV: TableDefinition<&str, &[u8]> = TableDefinition::new("kv");
/// revision → encoded [`LogEntry`].
const LOG: TableDefinition<i64, &[u8]> = TableDefinition::new("log");
/// `rev` / `compacted` → revision.
const META: TableDefinition<&str, i64> = TableDefinition::new("meta");

const META_REVISION: &str = "rev";
const META_COMPACTED: &str = "compacted";

/// How many events a watcher may fall behind before its stream is ended.
const WATCH_BUFFER: usize = 10_000;
/// The most requests the writer applies in one transaction.
const MAX_BATCH: usize = 1_000;

/// The redb-backed [`Backend`].
pub struct EmbeddedBackend {
    db: Arc<Database>,
    path: PathBuf,
    requests: Option<mpsc::Sender<WriteRequest>>,
    writer: Option<JoinHandle<()>>,
    events: broadcast::Sender<WatchEvent>,
}

impl std::fmt::Debug for EmbeddedBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedBackend")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// The database's page cache.
const PAGE_CACHE_BYTES: usize = 64 * 1024 * 1024;

impl EmbeddedBackend {
    /// Opens (creating when missing) the database file at `path`.
    pub fn open(path: &Path) -> Result<Self> {
        let unavailable = |e: &dyn std::fmt::Display| {
            StorageError::Unavailable(format!("cannot open database {}: {e}", path.display()))
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| unavailable(&e))?;
        }
        // redb caches up to 1 GiB of pages by default; the watch cache above already holds
        // every object once, so the pages only need to serve writes and cold reads.
        let db = Database::builder()
            .set_cache_size(PAGE_CACHE_BYTES)
            .create(path)
            .map_err(|e| unavailable(&e))?;
        // Create the tables up front so readers can always open them.
        let init = || -> Result<(), redb::Error> {
            let txn = db.begin_write()?;
            {
                txn.open_table(KV)?;
                txn.open_table(LOG)?;
                let mut meta = txn.open_table(META)?;
                for name in [META_REVISION, META_COMPACTED] {
                    if meta.get(name)?.is_none() {
                        meta.insert(name, 0)?;
                    }
                }
            }
            txn.commit()?;
            Ok(())
        };
        init().map_err(|e| unavailable(&e))?;

        let db = Arc::new(db);
        let (events, _) = broadcast::channel(WATCH_BUFFER);
        let (requests, receiver) = mpsc::channel();
        let writer = {
            let db = db.clone();
            let events = events.clone();
            std::thread::Builder::new()
                .name("den-storage-writer".into())
                .spawn(move || writer_loop(&db, &receiver, &events))
                .map_err(|e| unavailable(&e))?
        };
        Ok(Self {
            db,
            path: path.to_owned(),
            requests: Some(requests),
            writer: Some(writer),
            events,
        })
    }

    /// Hands a write to the writer thread and waits for its outcome.
    async fn write(&self, op: WriteOp) -> Result<Option<KeyValue>> {
        let (reply, outcome) = oneshot::channel();
        self.requests
            .as_ref()
            .and_then(|r| r.send(WriteRequest { op, reply }).ok())
            .ok_or_else(|| StorageError::Unavailable("the storage writer has stopped".into()))?;
        outcome
            .await
            .map_err(|_| StorageError::Internal("the storage writer stopped mid-request".into()))?
    }

    /// Runs `f` with a read transaction on a blocking thread.
    async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&redb::ReadTransaction) -> Result<T> + Send + 'static,
    {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || {
            let txn = db.begin_read().map_err(internal)?;
            f(&txn)
        })
        .await
        .map_err(|e| StorageError::Internal(format!("storage read task failed: {e}")))?
    }
}

impl Drop for EmbeddedBackend {
    fn drop(&mut self) {
        // Closing the channel stops the writer once it has answered what is queued; joining it
        // releases its handle on the database file so the file can be reopened at once.
        self.requests = None;
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

#[async_trait]
impl Backend for EmbeddedBackend {
    async fn get(&self, key: &str) -> Result<(Option<KeyValue>, Revision)> {
        let key = key.to_owned();
        self.read(move |txn| {
            let kv = txn.open_table(KV).map_err(internal)?;
            let meta = txn.open_table(META).map_err(internal)?;
            let current = read_meta(&meta, META_REVISION)?;
            let found = kv
                .get(key.as_str())
                .map_err(internal)?
                .map(|v| StoredValue::decode(v.value()).map(|s| s.into_kv(key.clone())))
                .transpose()?;
            Ok((found, current))
        })
        .await
    }

    async fn list(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
        revision: Revision,
    ) -> Result<ListResult> {
        let prefix = prefix.to_owned();
        let start_after = start_after.map(str::to_owned);
        self.read(move |txn| list_at(txn, &prefix, start_after.as_deref(), limit, revision))
            .await
    }

    async fn create(&self, key: &str, value: Bytes) -> Result<KeyValue> {
        let kv = self
            .write(WriteOp::Create {
                key: key.to_owned(),
                value,
            })
            .await?;
        kv.ok_or_else(|| StorageError::Internal("create returned no value".into()))
    }

    async fn update(&self, key: &str, value: Bytes, expected: Revision) -> Result<KeyValue> {
        let kv = self
            .write(WriteOp::Update {
                key: key.to_owned(),
                value,
                expected,
            })
            .await?;
        kv.ok_or_else(|| StorageError::Internal("update returned no value".into()))
    }

    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<KeyValue> {
        let kv = self
            .write(WriteOp::Delete {
                key: key.to_owned(),
                expected,
            })
            .await?;
        kv.ok_or_else(|| StorageError::Internal("delete returned no value".into()))
    }

    async fn watch(&self, prefix: &str, after: Revision) -> Result<WatchStream> {
        // Subscribe before reading the history: everything committed after the read snapshot
        // is then guaranteed to arrive through the broadcast (duplicates are skipped below).
        let live = self.events.subscribe();
        let history_prefix = prefix.to_owned();
        let (history, snapshot_revision) = self
            .read(move |txn| read_history(txn, &history_prefix, after))
            .await?;
        let live = LiveEvents {
            receiver: live,
            seen: after.max(snapshot_revision),
            prefix: prefix.to_owned(),
            ended: false,
        };
        let live = futures::stream::unfold(live, |mut live| async move {
            let item = live.next().await?;
            Some((item, live))
        });
        Ok(Box::pin(
            futures::stream::iter(history.into_iter().map(Ok)).chain(live),
        ))
    }

    async fn current_revision(&self) -> Result<Revision> {
        self.read(|txn| {
            let meta = txn.open_table(META).map_err(internal)?;
            read_meta(&meta, META_REVISION)
        })
        .await
    }

    async fn compact(&self, revision: Revision) -> Result<()> {
        self.write(WriteOp::Compact { revision }).await.map(|_| ())
    }
}

/// The live part of a watch: broadcast events past the history already yielded.
struct LiveEvents {
    receiver: broadcast::Receiver<WatchEvent>,
    /// Events at or below this revision were already yielded from the history.
    seen: Revision,
    prefix: String,
    ended: bool,
}

impl LiveEvents {
    async fn next(&mut self) -> Option<Result<WatchEvent>> {
        if self.ended {
            return None;
        }
        loop {
            match self.receiver.recv().await {
                Ok(event) => {
                    if event.revision() <= self.seen || !event.kv.key.starts_with(&self.prefix) {
                        continue;
                    }
                    self.seen = event.revision();
                    return Some(Ok(event));
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    // The watcher is too slow; the client re-lists and watches again.
                    self.ended = true;
                    return Some(Err(StorageError::Internal("watch fell behind".into())));
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Encoding

/// The value of a `kv` row: `create_revision | mod_revision | value` (little-endian i64s).
struct StoredValue {
    create_revision: Revision,
    mod_revision: Revision,
    value: Bytes,
}

impl StoredValue {
    fn encode(create_revision: Revision, mod_revision: Revision, value: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 + value.len());
        out.extend_from_slice(&create_revision.to_le_bytes());
        out.extend_from_slice(&mod_revision.to_le_bytes());
        out.extend_from_slice(value);
        out
    }

    fn decode(raw: &[u8]) -> Result<Self> {
        if raw.len() < 16 {
            return Err(corrupt("kv row shorter than its header"));
        }
        Ok(Self {
            create_revision: read_i64(&raw[0..8]),
            mod_revision: read_i64(&raw[8..16]),
            value: Bytes::copy_from_slice(&raw[16..]),
        })
    }

    fn into_kv(self, key: String) -> KeyValue {
        KeyValue {
            key,
            value: self.value,
            create_revision: self.create_revision,
            mod_revision: self.mod_revision,
        }
    }
}

const KIND_PUT: u8 = 0;
const KIND_DELETE: u8 = 1;

/// The value of a `log` row:
/// `kind u8 | create_revision i64 | prev_mod_revision i64 | key_len u32 | key | value`.
/// A delete row carries no value: the deleted value is the row at `prev_mod_revision`.
struct LogEntry {
    deleted: bool,
    create_revision: Revision,
    /// The mod revision of the value this entry replaced; 0 when the key did not exist.
    prev_mod_revision: Revision,
    key: String,
    value: Bytes,
}

impl LogEntry {
    fn encode(
        deleted: bool,
        create_revision: Revision,
        prev_mod_revision: Revision,
        key: &str,
        value: &[u8],
    ) -> Result<Vec<u8>> {
        let key_len = u32::try_from(key.len()).map_err(|_| corrupt("key too long"))?;
        let mut out = Vec::with_capacity(21 + key.len() + value.len());
        out.push(if deleted { KIND_DELETE } else { KIND_PUT });
        out.extend_from_slice(&create_revision.to_le_bytes());
        out.extend_from_slice(&prev_mod_revision.to_le_bytes());
        out.extend_from_slice(&key_len.to_le_bytes());
        out.extend_from_slice(key.as_bytes());
        out.extend_from_slice(value);
        Ok(out)
    }

    /// Decodes only the header and the key (cheap filtering while scanning the log).
    fn decode_head(raw: &[u8]) -> Result<(bool, Revision, Revision, &str, &[u8])> {
        if raw.len() < 21 {
            return Err(corrupt("log row shorter than its header"));
        }
        let deleted = match raw[0] {
            KIND_PUT => false,
            KIND_DELETE => true,
            _ => return Err(corrupt("unknown log entry kind")),
        };
        let create_revision = read_i64(&raw[1..9]);
        let prev_mod_revision = read_i64(&raw[9..17]);
        let mut len = [0u8; 4];
        len.copy_from_slice(&raw[17..21]);
        let key_end = 21 + u32::from_le_bytes(len) as usize;
        if raw.len() < key_end {
            return Err(corrupt("log row key overruns the row"));
        }
        let key =
            std::str::from_utf8(&raw[21..key_end]).map_err(|_| corrupt("log key not UTF-8"))?;
        Ok((
            deleted,
            create_revision,
            prev_mod_revision,
            key,
            &raw[key_end..],
        ))
    }

    fn decode(raw: &[u8]) -> Result<Self> {
        let (deleted, create_revision, prev_mod_revision, key, value) = Self::decode_head(raw)?;
        Ok(Self {
            deleted,
            create_revision,
            prev_mod_revision,
            key: key.to_owned(),
            value: Bytes::copy_from_slice(value),
        })
    }
}

fn read_i64(raw: &[u8]) -> i64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(raw);
    i64::from_le_bytes(b)
}

fn corrupt(what: &str) -> StorageError {
    StorageError::Internal(format!("corrupt storage: {what}"))
}

fn internal(e: impl Into<redb::Error>) -> StorageError {
    StorageError::Internal(format!("redb: {}", e.into()))
}

fn read_meta(meta: &impl ReadableTable<&'static str, i64>, name: &str) -> Result<Revision> {
    Ok(meta
        .get(name)
        .map_err(internal)?
        .map(|v| v.value())
        .unwrap_or(0))
}

// ---------------------------------------------------------------------------------------------
// Reads

/// The value a log row at `revision` wrote, as a [`KeyValue`] (None when compacted away).
fn value_at(
    log: &impl ReadableTable<i64, &'static [u8]>,
    revision: Revision,
) -> Result<Option<KeyValue>> {
    let Some(raw) = log.get(revision).map_err(internal)? else {
        return Ok(None);
    };
    let entry = LogEntry::decode(raw.value())?;
    Ok((!entry.deleted).then_some(KeyValue {
        key: entry.key,
        value: entry.value,
        create_revision: entry.create_revision,
        mod_revision: revision,
    }))
}

/// Builds the watch event for the log row at `revision`.
fn event_from_log(
    log: &impl ReadableTable<i64, &'static [u8]>,
    revision: Revision,
    entry: LogEntry,
) -> Result<WatchEvent> {
    let prev = if entry.prev_mod_revision > 0 {
        value_at(log, entry.prev_mod_revision)?
    } else {
        None
    };
    Ok(if entry.deleted {
        let kv = match &prev {
            Some(p) => KeyValue {
                mod_revision: revision,
                ..p.clone()
            },
            None => KeyValue {
                key: entry.key,
                value: Bytes::new(),
                create_revision: entry.create_revision,
                mod_revision: revision,
            },
        };
        WatchEvent {
            event_type: EventType::Deleted,
            kv,
            prev,
        }
    } else {
        WatchEvent {
            event_type: if entry.prev_mod_revision == 0 {
                EventType::Created
            } else {
                EventType::Modified
            },
            kv: KeyValue {
                key: entry.key,
                value: entry.value,
                create_revision: entry.create_revision,
                mod_revision: revision,
            },
            prev,
        }
    })
}

/// Reads the events under `prefix` with a revision greater than `after`, and the snapshot's
/// current revision.
fn read_history(
    txn: &redb::ReadTransaction,
    prefix: &str,
    after: Revision,
) -> Result<(Vec<WatchEvent>, Revision)> {
    let meta = txn.open_table(META).map_err(internal)?;
    let current = read_meta(&meta, META_REVISION)?;
    let compacted = read_meta(&meta, META_COMPACTED)?;
    if after < compacted {
        return Err(StorageError::Compacted {
            requested: after,
            compacted,
        });
    }
    let log = txn.open_table(LOG).map_err(internal)?;
    let mut events = Vec::new();
    for row in log.range(after.saturating_add(1)..).map_err(internal)? {
        let (rev, raw) = row.map_err(internal)?;
        let (_, _, _, key, _) = LogEntry::decode_head(raw.value())?;
        if !key.starts_with(prefix) {
            continue;
        }
        let entry = LogEntry::decode(raw.value())?;
        events.push(event_from_log(&log, rev.value(), entry)?);
    }
    Ok((events, current))
}

/// One item of a merged range read: a current `kv` row (decoded lazily) or a historical state.
enum Item<'a> {
    Current(String, redb::AccessGuard<'a, &'static [u8]>),
    Past(KeyValue),
}

impl Item<'_> {
    fn key(&self) -> &str {
        match self {
            Item::Current(k, _) => k,
            Item::Past(kv) => &kv.key,
        }
    }

    fn into_kv(self) -> Result<KeyValue> {
        match self {
            Item::Current(k, v) => Ok(StoredValue::decode(v.value())?.into_kv(k)),
            Item::Past(kv) => Ok(kv),
        }
    }
}

fn list_at(
    txn: &redb::ReadTransaction,
    prefix: &str,
    start_after: Option<&str>,
    limit: usize,
    revision: Revision,
) -> Result<ListResult> {
    let meta = txn.open_table(META).map_err(internal)?;
    let current = read_meta(&meta, META_REVISION)?;
    let compacted = read_meta(&meta, META_COMPACTED)?;
    if revision > current {
        return Err(StorageError::FutureRevision {
            requested: revision,
            current,
        });
    }
    if revision != 0 && revision < compacted {
        return Err(StorageError::Compacted {
            requested: revision,
            compacted,
        });
    }
    let at = if revision == 0 { current } else { revision };
    let start_after = start_after.filter(|s| *s >= prefix);
    let in_range = |key: &str| key.starts_with(prefix) && start_after.is_none_or(|s| key > s);

    // For a past revision: the state at `at` of every key changed since, taken from the first
    // log row after `at` for that key (None: the key did not exist at `at`).
    let mut past: BTreeMap<String, Option<KeyValue>> = BTreeMap::new();
    if at < current {
        let log = txn.open_table(LOG).map_err(internal)?;
        for row in log.range(at + 1..).map_err(internal)? {
            let (_, raw) = row.map_err(internal)?;
            let (_, _, prev_mod_revision, key, _) = LogEntry::decode_head(raw.value())?;
            if !in_range(key) || past.contains_key(key) {
                continue;
            }
            let state = if prev_mod_revision > 0 {
                value_at(&log, prev_mod_revision)?
            } else {
                None
            };
            past.insert(key.to_owned(), state);
        }
    }

    let kv = txn.open_table(KV).map_err(internal)?;
    let lower = match start_after {
        Some(s) => Bound::Excluded(s),
        None => Bound::Included(prefix),
    };
    let mut current_rows = kv
        .range::<&str>((lower, Bound::Unbounded))
        .map_err(internal)?
        .map(|row| {
            row.map_err(internal)
                .map(|(k, v)| (k.value().to_owned(), v))
        })
        .take_while(|row| row.as_ref().map_or(true, |(k, _)| k.starts_with(prefix)))
        .filter(|row| row.as_ref().map_or(true, |(k, _)| !past.contains_key(k)))
        .map(|row| row.map(|(k, v)| Item::Current(k, v)))
        .peekable();
    let mut past_rows = past
        .values()
        .filter_map(|v| v.clone().map(Item::Past))
        .peekable();

    let mut items = Vec::new();
    let mut remaining: i64 = 0;
    loop {
        let take_current = match (current_rows.peek(), past_rows.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(Err(_)), Some(_)) => true,
            (Some(Ok(c)), Some(p)) => c.key() < p.key(),
        };
        let next = if take_current {
            current_rows.next().expect("peeked")?
        } else {
            past_rows.next().expect("peeked")
        };
        if limit == 0 || items.len() < limit {
            items.push(next.into_kv()?);
        } else {
            remaining += 1;
        }
    }
    Ok(ListResult {
        items,
        revision: at,
        more: remaining > 0,
        remaining: Some(remaining),
    })
}

// ---------------------------------------------------------------------------------------------
// Writes

enum WriteOp {
    Create {
        key: String,
        value: Bytes,
    },
    Update {
        key: String,
        value: Bytes,
        expected: Revision,
    },
    Delete {
        key: String,
        expected: Option<Revision>,
    },
    Compact {
        revision: Revision,
    },
}

struct WriteRequest {
    op: WriteOp,
    reply: oneshot::Sender<Result<Option<KeyValue>>>,
}

fn writer_loop(
    db: &Database,
    requests: &mpsc::Receiver<WriteRequest>,
    events: &broadcast::Sender<WatchEvent>,
) {
    while let Ok(first) = requests.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match requests.try_recv() {
                Ok(request) => batch.push(request),
                Err(_) => break,
            }
        }
        match apply_batch(db, &batch) {
            Ok((outcomes, committed)) => {
                for event in committed {
                    // No receivers is fine: nobody is watching.
                    let _ = events.send(event);
                }
                for (request, outcome) in batch.into_iter().zip(outcomes) {
                    let _ = request.reply.send(outcome);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "storage write transaction failed");
                for request in batch {
                    let _ = request.reply.send(Err(e.clone()));
                }
            }
        }
    }
}

type Outcome = Result<Option<KeyValue>>;

/// Applies a batch in one transaction. The outer error fails the whole batch (nothing was
/// committed); the per-request outcomes are only meaningful once the commit succeeded.
fn apply_batch(db: &Database, batch: &[WriteRequest]) -> Result<(Vec<Outcome>, Vec<WatchEvent>)> {
    let txn = db.begin_write().map_err(internal)?;
    let mut outcomes = Vec::with_capacity(batch.len());
    let mut committed = Vec::new();
    {
        let mut kv = txn.open_table(KV).map_err(internal)?;
        let mut log = txn.open_table(LOG).map_err(internal)?;
        let mut meta = txn.open_table(META).map_err(internal)?;
        let mut state = WriterState {
            revision: read_meta(&meta, META_REVISION)?,
            compacted: read_meta(&meta, META_COMPACTED)?,
        };
        let start = (state.revision, state.compacted);
        for request in batch {
            outcomes.push(state.apply(&request.op, &mut kv, &mut log, &mut committed)?);
        }
        if state.revision != start.0 {
            meta.insert(META_REVISION, state.revision)
                .map_err(internal)?;
        }
        if state.compacted != start.1 {
            meta.insert(META_COMPACTED, state.compacted)
                .map_err(internal)?;
        }
    }
    txn.commit().map_err(internal)?;
    Ok((outcomes, committed))
}

struct WriterState {
    revision: Revision,
    compacted: Revision,
}

impl WriterState {
    /// Applies one request. `Ok(Err(_))` is that request's own failure (nothing written);
    /// `Err(_)` is a storage failure that aborts the batch.
    fn apply(
        &mut self,
        op: &WriteOp,
        kv: &mut redb::Table<&'static str, &'static [u8]>,
        log: &mut redb::Table<i64, &'static [u8]>,
        committed: &mut Vec<WatchEvent>,
    ) -> Result<Outcome> {
        let current = |kv: &redb::Table<&'static str, &'static [u8]>,
                       key: &str|
         -> Result<Option<KeyValue>> {
            kv.get(key)
                .map_err(internal)?
                .map(|v| StoredValue::decode(v.value()).map(|s| s.into_kv(key.to_owned())))
                .transpose()
        };
        match op {
            WriteOp::Create { key, value } => {
                if current(kv, key)?.is_some() {
                    return Ok(Err(StorageError::AlreadyExists { key: key.clone() }));
                }
                let rev = self.revision + 1;
                kv.insert(
                    key.as_str(),
                    StoredValue::encode(rev, rev, value).as_slice(),
                )
                .map_err(internal)?;
                log.insert(rev, LogEntry::encode(false, rev, 0, key, value)?.as_slice())
                    .map_err(internal)?;
                self.revision = rev;
                let kv = KeyValue {
                    key: key.clone(),
                    value: value.clone(),
                    create_revision: rev,
                    mod_revision: rev,
                };
                committed.push(WatchEvent {
                    event_type: EventType::Created,
                    kv: kv.clone(),
                    prev: None,
                });
                Ok(Ok(Some(kv)))
            }
            WriteOp::Update {
                key,
                value,
                expected,
            } => {
                let prev = match current(kv, key)? {
                    Some(prev) if prev.mod_revision == *expected => prev,
                    other => {
                        return Ok(Err(StorageError::Conflict {
                            key: key.clone(),
                            current: other.map(Box::new),
                        }));
                    }
                };
                let rev = self.revision + 1;
                kv.insert(
                    key.as_str(),
                    StoredValue::encode(prev.create_revision, rev, value).as_slice(),
                )
                .map_err(internal)?;
                log.insert(
                    rev,
                    LogEntry::encode(false, prev.create_revision, prev.mod_revision, key, value)?
                        .as_slice(),
                )
                .map_err(internal)?;
                self.revision = rev;
                let kv = KeyValue {
                    key: key.clone(),
                    value: value.clone(),
                    create_revision: prev.create_revision,
                    mod_revision: rev,
                };
                committed.push(WatchEvent {
                    event_type: EventType::Modified,
                    kv: kv.clone(),
                    prev: Some(prev),
                });
                Ok(Ok(Some(kv)))
            }
            WriteOp::Delete { key, expected } => {
                let prev = match (current(kv, key)?, expected) {
                    (None, None) => {
                        return Ok(Err(StorageError::NotFound { key: key.clone() }));
                    }
                    (Some(prev), None) => prev,
                    (Some(prev), Some(expected)) if prev.mod_revision == *expected => prev,
                    (other, Some(_)) => {
                        return Ok(Err(StorageError::Conflict {
                            key: key.clone(),
                            current: other.map(Box::new),
                        }));
                    }
                };
                let rev = self.revision + 1;
                kv.remove(key.as_str()).map_err(internal)?;
                log.insert(
                    rev,
                    LogEntry::encode(true, prev.create_revision, prev.mod_revision, key, &[])?
                        .as_slice(),
                )
                .map_err(internal)?;
                self.revision = rev;
                let deleted = KeyValue {
                    mod_revision: rev,
                    ..prev.clone()
                };
                committed.push(WatchEvent {
                    event_type: EventType::Deleted,
                    kv: deleted.clone(),
                    prev: Some(prev),
                });
                Ok(Ok(Some(deleted)))
            }
            WriteOp::Compact { revision } => {
                let revision = *revision;
                if revision <= self.compacted {
                    return Ok(Ok(None));
                }
                if revision > self.revision {
                    return Ok(Err(StorageError::FutureRevision {
                        requested: revision,
                        current: self.revision,
                    }));
                }
                // Each row in (compacted, revision] supersedes the row it replaced; a delete row
                // at or below `revision` is itself history once its key's old value is gone.
                let mut doomed = Vec::new();
                for row in log.range(self.compacted + 1..=revision).map_err(internal)? {
                    let (rev, raw) = row.map_err(internal)?;
                    let (deleted, _, prev_mod_revision, _, _) = LogEntry::decode_head(raw.value())?;
                    if prev_mod_revision > 0 {
                        doomed.push(prev_mod_revision);
                    }
                    if deleted {
                        doomed.push(rev.value());
                    }
                }
                for rev in doomed {
                    log.remove(rev).map_err(internal)?;
                }
                self.compacted = revision;
                Ok(Ok(None))
            }
        }
    }
}
