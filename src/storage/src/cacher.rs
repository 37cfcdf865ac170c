//! The watch cache: a decorator implementing [`Backend`] that serves lists and watches of
//! registered prefixes from memory, like upstream's `pkg/storage/cacher`.
//!
//! For every registered prefix (one per resource, e.g. `/pods/`) a task keeps
//!
//! - the current objects (key → [`KeyValue`]; values are [`Bytes`], shared with every list
//!   and watcher, never copied),
//! - the cache's revision: the last event it applied, or a later store revision it confirmed
//!   it is current at (see *Consistent reads* below),
//! - a capacity-bounded window of recent events with their previous values (upstream's cyclic
//!   buffer in `watch_cache.go`),
//! - the watchers, indexed by their prefix and, for prefixes registered with a trigger
//!   ([`Cacher::register_indexed`]), by the trigger value they want: with 5,000 kubelets each
//!   watching `spec.nodeName=<node>`, a pod's change reaches the one or two whose node it
//!   names, not all 5,000 (upstream's indexed triggers in `cacher.go`).
//!
//! The task starts with a list of the inner store and a watch from the list's revision; when
//! the watch fails it re-lists (see [`Phase`]). ONE inner watch per prefix feeds every cache
//! watcher. Before the first list completes, and for keys outside every registered prefix,
//! calls pass through to the inner store.
//!
//! ## What is served from where
//!
//! - `list(p, .., revision 0)` (a consistent read): the cache asks the store for its current
//!   revision `R`, makes sure it is current at `R` (below) and serves from memory; when it
//!   cannot within [`CacherConfig::consistent_read_timeout`] the store serves the list. This is
//!   upstream 1.31's consistent reads from cache: a list right after a write contains it.
//! - `list(p, .., revision X)`: from memory when `X` is the cache's revision, otherwise from
//!   the store (which keeps the history, answers `Compacted` and `FutureRevision`).
//! - `watch(p, after)`: from the cache when `after` is inside the window (not older than the
//!   oldest revision the window can replay from); events after `after` are replayed, then live
//!   events follow. Older `after` go to the store (which answers `Compacted` when the history is
//!   gone). An `after` newer than the cache simply waits: only events after it are delivered.
//! - `get`, writes, `current_revision` and `compact` go to the store; the cache learns about
//!   writes through its watch. `compact` also raises the window's floor so a watch from a
//!   compacted revision fails with `Compacted` like it would on the store.
//!
//! ## Consistent reads and progress
//!
//! etcd confirms a watch's progress with progress notifications, which the [`Backend`] trait
//! does not expose. The cache confirms it instead: asked to be current at `R`, its task drains
//! every event its inner watch has ready, waits [`CacherConfig::progress_settle`] for events
//! still in flight and then takes `R` as its revision. The embedded backend publishes a
//! write's event before acknowledging the write, so every acknowledged write is in the cache
//! after the drain; on etcd the settle time covers the usual delay between a write's answer
//! and its watch event, but nothing bounds it. An event that arrives after the cache confirmed
//! a later revision ("late") is still applied and delivered to every watcher of its key, and
//! logged. etcd's `RequestProgress` would make this exact, but only on etcd 3.4.31+/3.5.13+:
//! older releases may answer it before events still queued (etcd issues 15220 and 17507).
//! Upstream therefore serves consistent reads from its cache only on those releases; Debian's
//! etcd is 3.4.23, so Den on etcd sends consistent lists to the store
//! ([`CacherConfig::consistent_reads_from_cache`]), as upstream would on it.
//!
//! ## Progress (bookmarks)
//!
//! A watcher given a [`crate::ProgressSchedule`] gets [`EventType::Progress`] events through
//! its queue, so after every change it was sent: when one is due, the task confirms the cache
//! is current at the store's revision (as for a consistent read) and offers that revision to
//! every due watcher. A quiet prefix's watchers thereby move on with the store, and can resume
//! after a compaction. A watcher whose queue is full skips that progress event.
//!
//! ## Slow watchers
//!
//! Every cache watcher has a bounded queue ([`CacherConfig::watcher_queue`]). Dispatching an
//! event tries a non-blocking send to each watcher of the key; the watchers that are full
//! share one short budget ([`CacherConfig::dispatch_budget`]) to make room, and the ones still
//! full are terminated: their stream yields [`TOO_SLOW`] as an `Internal` error and ends.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::ops::Bound;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::task::{Context, Poll};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::{FutureExt, Stream, StreamExt};
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::{
    Backend, EventType, KeyValue, ListResult, ProgressSchedule, Result, Revision, StorageError,
    WatchEvent, WatchOptions, WatchStream,
};

/// A prefix's trigger: the value a stored object has for the indexed field (e.g. a pod's
/// `spec.nodeName`, empty when unset), read from its stored bytes.
pub type TriggerFn = Arc<dyn Fn(&[u8]) -> String + Send + Sync>;

/// The error message a terminated slow watcher ends with.
pub const TOO_SLOW: &str = "watch cache: watcher too slow";

/// Tuning of the watch cache. [`Default`] gives upstream-like values.
#[derive(Clone, Debug)]
pub struct CacherConfig {
    /// How many recent events each prefix keeps for watches resuming from the past.
    pub window_capacity: usize,
    /// How many events a watcher may have queued before it counts as slow.
    pub watcher_queue: usize,
    /// How long one dispatch may wait, in total, for full watchers before terminating them.
    pub dispatch_budget: Duration,
    /// How long a consistent list waits for the cache before the store serves it.
    pub consistent_read_timeout: Duration,
    /// How long the cache waits for in-flight events before confirming a store revision.
    pub progress_settle: Duration,
    /// Serve consistent lists from memory. Exact only for stores that publish a write's
    /// event before acknowledging it (the embedded one); for etcd, whose watch progress the
    /// trait cannot confirm, consistent lists go to the store, as upstream did before 1.31.
    pub consistent_reads_from_cache: bool,
}

impl Default for CacherConfig {
    fn default() -> Self {
        Self {
            window_capacity: 10_000,
            watcher_queue: 1_000,
            dispatch_budget: Duration::from_millis(10),
            consistent_read_timeout: Duration::from_secs(3),
            progress_settle: Duration::from_millis(1),
            consistent_reads_from_cache: true,
        }
    }
}

/// The watch cache in front of a [`Backend`]; it implements [`Backend`] itself.
pub struct Cacher {
    inner: Arc<dyn Backend>,
    config: CacherConfig,
    /// Registered prefixes, longest first so the most specific one serves a request.
    caches: RwLock<Vec<Arc<PrefixCache>>>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl std::fmt::Debug for Cacher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let prefixes: Vec<String> = self
            .caches
            .read()
            .map(|c| c.iter().map(|c| c.prefix.clone()).collect())
            .unwrap_or_default();
        f.debug_struct("Cacher")
            .field("prefixes", &prefixes)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Cacher {
    /// A cacher with the default configuration and no registered prefix yet.
    pub fn new(inner: Arc<dyn Backend>) -> Arc<Self> {
        Self::with_config(inner, CacherConfig::default())
    }

    pub fn with_config(inner: Arc<dyn Backend>, config: CacherConfig) -> Arc<Self> {
        Arc::new(Self {
            inner,
            config,
            caches: RwLock::new(Vec::new()),
            tasks: Mutex::new(Vec::new()),
        })
    }

    /// The store behind the cache.
    pub fn inner(&self) -> &Arc<dyn Backend> {
        &self.inner
    }

    /// Starts caching every key under `prefix` (e.g. `/pods/`; one per resource). Must run
    /// inside a tokio runtime. Waits until the first list is in memory (at most the consistent
    /// read timeout; until then, calls under the prefix pass through to the store).
    /// Registering a prefix twice is a no-op.
    pub async fn register(&self, prefix: &str) {
        self.register_cache(prefix, None).await
    }

    /// [`Cacher::register`], with watchers indexed by the value `trigger` gives each object:
    /// a watcher asking for a trigger value ([`WatchOptions::trigger`]) is offered only the
    /// changes of objects that have that value before or after the change.
    pub async fn register_indexed(&self, prefix: &str, trigger: TriggerFn) {
        self.register_cache(prefix, Some(trigger)).await
    }

    async fn register_cache(&self, prefix: &str, trigger: Option<TriggerFn>) {
        let cache = {
            let mut caches = write(&self.caches);
            if let Some(existing) = caches.iter().find(|c| c.prefix == prefix) {
                existing.clone()
            } else {
                let (sync_tx, sync_rx) = mpsc::unbounded_channel();
                let (ready_tx, _) = tokio::sync::watch::channel(false);
                let cache = Arc::new(PrefixCache {
                    prefix: prefix.to_owned(),
                    config: self.config.clone(),
                    state: RwLock::new(State::default()),
                    sync_tx,
                    ready: ready_tx,
                    next_watcher: AtomicU64::new(0),
                    trigger,
                    progress_changed: Notify::new(),
                });
                caches.push(cache.clone());
                caches.sort_by_key(|c| std::cmp::Reverse(c.prefix.len()));
                let task = CacheTask {
                    cache: cache.clone(),
                    inner: self.inner.clone(),
                    sync_rx,
                    settle: self.config.progress_settle,
                };
                lock(&self.tasks).push(tokio::spawn(task.run()));
                cache
            }
        };
        let mut ready = cache.ready.subscribe();
        let _ =
            tokio::time::timeout(self.config.consistent_read_timeout, ready.wait_for(|r| *r)).await;
    }

    /// The registered prefixes, longest first.
    pub fn prefixes(&self) -> Vec<String> {
        read(&self.caches)
            .iter()
            .map(|c| c.prefix.clone())
            .collect()
    }

    /// Whether a registered cache serves `key_or_prefix` from memory right now (false before
    /// its first list and while it re-lists; calls then pass through to the store).
    pub fn is_ready(&self, key_or_prefix: &str) -> bool {
        self.cache_for(key_or_prefix).is_some()
    }

    /// The cache serving `key_or_prefix`, when one is registered and ready.
    fn cache_for(&self, key_or_prefix: &str) -> Option<Arc<PrefixCache>> {
        read(&self.caches)
            .iter()
            .find(|c| key_or_prefix.starts_with(&c.prefix))
            .filter(|c| *c.ready.borrow())
            .cloned()
    }
}

impl Drop for Cacher {
    fn drop(&mut self) {
        for task in lock(&self.tasks).drain(..) {
            task.abort();
        }
        // Watchers end (their queues close) instead of waiting forever.
        for cache in read(&self.caches).iter() {
            write(&cache.state).watchers.clear();
        }
    }
}

#[async_trait]
impl Backend for Cacher {
    async fn get(&self, key: &str) -> Result<(Option<KeyValue>, Revision)> {
        self.inner.get(key).await
    }

    async fn list(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
        revision: Revision,
    ) -> Result<ListResult> {
        let Some(cache) = self.cache_for(prefix) else {
            return self.inner.list(prefix, start_after, limit, revision).await;
        };
        if revision == 0 && self.config.consistent_reads_from_cache {
            let target = self.inner.current_revision().await?;
            if cache.wait_current(target).await {
                return Ok(read(&cache.state).list(prefix, start_after, limit));
            }
        } else {
            let state = read(&cache.state);
            if revision == state.revision && revision >= state.compacted {
                return Ok(state.list(prefix, start_after, limit));
            }
        }
        self.inner.list(prefix, start_after, limit, revision).await
    }

    async fn list_recent(&self, prefix: &str) -> Result<ListResult> {
        match self.cache_for(prefix) {
            // No wait for the cache to confirm the store's revision.
            Some(cache) => Ok(read(&cache.state).list(prefix, None, 0)),
            None => self.inner.list(prefix, None, 0, 0).await,
        }
    }

    async fn create(&self, key: &str, value: Bytes) -> Result<KeyValue> {
        self.inner.create(key, value).await
    }

    async fn update(&self, key: &str, value: Bytes, expected: Revision) -> Result<KeyValue> {
        self.inner.update(key, value, expected).await
    }

    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<KeyValue> {
        self.inner.delete(key, expected).await
    }

    async fn watch(&self, prefix: &str, after: Revision) -> Result<WatchStream> {
        self.watch_with(prefix, after, &WatchOptions::default())
            .await
    }

    async fn watch_with(
        &self,
        prefix: &str,
        after: Revision,
        options: &WatchOptions,
    ) -> Result<WatchStream> {
        if let Some(cache) = self.cache_for(prefix)
            && let Some(stream) = PrefixCache::watch(&cache, prefix, after, options)
        {
            return Ok(stream);
        }
        self.inner.watch_with(prefix, after, options).await
    }

    async fn current_revision(&self) -> Result<Revision> {
        self.inner.current_revision().await
    }

    async fn compact(&self, revision: Revision) -> Result<()> {
        self.inner.compact(revision).await?;
        for cache in read(&self.caches).iter() {
            let mut state = write(&cache.state);
            state.compacted = state.compacted.max(revision);
            state.floor = state.floor.max(revision);
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// One prefix

/// The cache of one registered prefix, shared by its task, the cacher and its watchers.
struct PrefixCache {
    prefix: String,
    config: CacherConfig,
    state: RwLock<State>,
    /// Requests to confirm the cache is current at a revision.
    sync_tx: mpsc::UnboundedSender<SyncRequest>,
    /// Whether the state holds a list (false before the first list and while re-listing).
    ready: tokio::sync::watch::Sender<bool>,
    next_watcher: AtomicU64,
    /// The indexed trigger, when the prefix has one.
    trigger: Option<TriggerFn>,
    /// Wakes the task when a watcher's first progress event is due (it may be earlier than
    /// the one the task sleeps for).
    progress_changed: Notify,
}

struct SyncRequest {
    target: Revision,
    reply: oneshot::Sender<bool>,
}

#[derive(Default)]
struct State {
    items: BTreeMap<String, KeyValue>,
    /// The revision the items are the state of.
    revision: Revision,
    /// The window replays every event after this revision.
    floor: Revision,
    /// The highest revision compacted through this cacher.
    compacted: Revision,
    window: VecDeque<Arc<WatchEvent>>,
    watchers: WatcherIndex,
}

impl State {
    fn list(&self, prefix: &str, start_after: Option<&str>, limit: usize) -> ListResult {
        let lower = match start_after.filter(|s| *s >= prefix) {
            Some(s) => Bound::Excluded(s),
            None => Bound::Included(prefix),
        };
        let mut items = Vec::new();
        let mut remaining: i64 = 0;
        for (key, kv) in self
            .items
            .range::<str, _>((lower, Bound::Unbounded))
            .take_while(|(k, _)| k.starts_with(prefix))
        {
            debug_assert_eq!(key, &kv.key);
            if limit == 0 || items.len() < limit {
                items.push(kv.clone());
            } else {
                remaining += 1;
            }
        }
        ListResult {
            items,
            revision: self.revision,
            more: remaining > 0,
            remaining: Some(remaining),
        }
    }
}

impl PrefixCache {
    fn revision(&self) -> Revision {
        read(&self.state).revision
    }

    /// Makes sure the cache is current at `target`; false when it could not in time.
    async fn wait_current(&self, target: Revision) -> bool {
        if self.revision() >= target {
            return true;
        }
        let (reply, answer) = oneshot::channel();
        if self.sync_tx.send(SyncRequest { target, reply }).is_err() {
            return false;
        }
        matches!(
            tokio::time::timeout(self.config.consistent_read_timeout, answer).await,
            Ok(Ok(true))
        ) && self.revision() >= target
    }

    /// A cache watcher, or None when `after` is older than the window.
    fn watch(
        this: &Arc<Self>,
        prefix: &str,
        after: Revision,
        options: &WatchOptions,
    ) -> Option<WatchStream> {
        let mut state = write(&this.state);
        if after < state.floor {
            return None;
        }
        let replay: VecDeque<Arc<WatchEvent>> = state
            .window
            .iter()
            .filter(|e| e.revision() > after && e.kv.key.starts_with(prefix))
            .cloned()
            .collect();
        let (tx, rx) = mpsc::channel(this.config.watcher_queue.max(1));
        let shared = Arc::new(WatcherShared::default());
        let id = this.next_watcher.fetch_add(1, Ordering::Relaxed);
        state.watchers.insert(
            id,
            WatcherHandle {
                tx,
                after,
                shared: shared.clone(),
                prefix: prefix.to_owned(),
                // Without an index every watcher is offered every change.
                trigger: options.trigger.clone().filter(|_| this.trigger.is_some()),
                progress: options.progress,
                progress_at: None,
            },
            Instant::now(),
        );
        drop(state);
        if options.progress.is_some() {
            this.progress_changed.notify_one();
        }
        Some(Box::pin(CacheWatcher {
            cache: this.clone(),
            id,
            replay,
            rx,
            shared,
            done: false,
        }))
    }
}

// ---------------------------------------------------------------------------------------------
// Watchers

/// What a watcher's stream and its handle in the index share.
#[derive(Default)]
struct WatcherShared {
    /// Set when the cache ends the watcher; the stream yields it and ends.
    terminated: OnceLock<StorageError>,
}

struct WatcherHandle {
    tx: mpsc::Sender<Arc<WatchEvent>>,
    /// Only events after this revision are for the watcher (late events aside).
    after: Revision,
    shared: Arc<WatcherShared>,
    prefix: String,
    /// The trigger value the watcher wants (only when its cache indexes one).
    trigger: Option<String>,
    progress: Option<ProgressSchedule>,
    /// When its next progress event is due (its entry in `WatcherIndex::progress_due`).
    progress_at: Option<Instant>,
}

impl WatcherHandle {
    fn terminate(&self, error: StorageError) {
        let _ = self.shared.terminated.set(error);
    }
}

/// The watchers, keyed by their prefix (and trigger value), so an event is offered only to the
/// watchers of the prefixes of its key: one hash lookup per distinct watcher-prefix length,
/// not one check per watcher.
#[derive(Default)]
struct WatcherIndex {
    handles: HashMap<u64, WatcherHandle>,
    by_prefix: HashMap<String, PrefixWatchers>,
    /// How many prefixes of each length are in `by_prefix`.
    lengths: BTreeMap<usize, usize>,
    /// How many watchers want a trigger value.
    triggered: usize,
    /// When each watcher that wants progress events is due for the next one.
    progress_due: BTreeSet<(Instant, u64)>,
}

/// The watchers of one prefix.
#[derive(Default)]
struct PrefixWatchers {
    /// Watchers of every change under the prefix.
    all: HashSet<u64>,
    /// Watchers of the changes of objects with a trigger value, by that value.
    by_trigger: HashMap<String, HashSet<u64>>,
}

impl WatcherIndex {
    fn insert(&mut self, id: u64, handle: WatcherHandle, now: Instant) {
        let watchers = self
            .by_prefix
            .entry(handle.prefix.clone())
            .or_insert_with(|| {
                *self.lengths.entry(handle.prefix.len()).or_default() += 1;
                PrefixWatchers::default()
            });
        match &handle.trigger {
            Some(value) => {
                self.triggered += 1;
                watchers
                    .by_trigger
                    .entry(value.clone())
                    .or_default()
                    .insert(id);
            }
            None => {
                watchers.all.insert(id);
            }
        }
        let mut handle = handle;
        handle.progress_at = handle.progress.and_then(|p| p.next_after(now));
        if let Some(due) = handle.progress_at {
            self.progress_due.insert((due, id));
        }
        self.handles.insert(id, handle);
    }

    fn remove(&mut self, id: u64) -> Option<WatcherHandle> {
        let handle = self.handles.remove(&id)?;
        if let Some(due) = handle.progress_at {
            self.progress_due.remove(&(due, id));
        }
        let prefix = handle.prefix.as_str();
        if let Some(watchers) = self.by_prefix.get_mut(prefix) {
            match &handle.trigger {
                Some(value) => {
                    self.triggered -= 1;
                    if let Some(ids) = watchers.by_trigger.get_mut(value) {
                        ids.remove(&id);
                        if ids.is_empty() {
                            watchers.by_trigger.remove(value);
                        }
                    }
                }
                None => {
                    watchers.all.remove(&id);
                }
            }
            if watchers.all.is_empty() && watchers.by_trigger.is_empty() {
                self.by_prefix.remove(prefix);
                if let Some(n) = self.lengths.get_mut(&prefix.len()) {
                    *n -= 1;
                    if *n == 0 {
                        self.lengths.remove(&prefix.len());
                    }
                }
            }
        }
        Some(handle)
    }

    /// The prefixes that `key` falls under.
    fn prefixes_of<'k>(&self, key: &'k str) -> Vec<&'k str> {
        self.lengths
            .keys()
            .take_while(|len| **len <= key.len())
            .filter(|len| key.is_char_boundary(**len))
            .map(|len| &key[..*len])
            .filter(|p| self.by_prefix.contains_key(*p))
            .collect()
    }

    /// The watchers to offer a change of `key` to, whose object had the (distinct) trigger
    /// values `triggers` before and after it.
    fn targets(&self, key: &str, triggers: &[String]) -> Vec<u64> {
        let mut ids = Vec::new();
        for prefix in self.prefixes_of(key) {
            let watchers = &self.by_prefix[prefix];
            ids.extend(watchers.all.iter().copied());
            for value in triggers {
                if let Some(triggered) = watchers.by_trigger.get(value) {
                    ids.extend(triggered.iter().copied());
                }
            }
        }
        ids
    }

    /// When the next progress event is due.
    fn next_progress(&self) -> Option<Instant> {
        self.progress_due.first().map(|(due, _)| *due)
    }

    /// The watchers whose progress event is due by `now` (or within [`PROGRESS_BATCH`] of it,
    /// so watchers due about together share one confirmation of the store's revision), each
    /// scheduled for its next one.
    fn take_due(&mut self, now: Instant) -> Vec<u64> {
        let mut due = Vec::new();
        while let Some(&(at, id)) = self.progress_due.first()
            && at <= now + PROGRESS_BATCH
        {
            self.progress_due.pop_first();
            due.push((at, id));
        }
        for &(at, id) in &due {
            let Some(handle) = self.handles.get_mut(&id) else {
                continue;
            };
            handle.progress_at = handle.progress.and_then(|p| p.next_after(at));
            if let Some(next) = handle.progress_at {
                self.progress_due.insert((next, id));
            }
        }
        due.into_iter().map(|(_, id)| id).collect()
    }

    fn clear(&mut self) {
        self.handles.clear();
        self.by_prefix.clear();
        self.lengths.clear();
        self.progress_due.clear();
        self.triggered = 0;
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.handles.len()
    }
}

/// The stream of one cache watcher: the replayed window, then its queue.
struct CacheWatcher {
    cache: Arc<PrefixCache>,
    id: u64,
    replay: VecDeque<Arc<WatchEvent>>,
    rx: mpsc::Receiver<Arc<WatchEvent>>,
    shared: Arc<WatcherShared>,
    done: bool,
}

impl Stream for CacheWatcher {
    type Item = Result<WatchEvent>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        if let Some(error) = self.shared.terminated.get() {
            let error = error.clone();
            self.done = true;
            return Poll::Ready(Some(Err(error)));
        }
        if let Some(event) = self.replay.pop_front() {
            return Poll::Ready(Some(Ok(WatchEvent::clone(&event))));
        }
        match self.rx.poll_recv(cx) {
            Poll::Ready(Some(event)) => Poll::Ready(Some(Ok(WatchEvent::clone(&event)))),
            Poll::Ready(None) => {
                self.done = true;
                Poll::Ready(self.shared.terminated.get().cloned().map(Err))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Drop for CacheWatcher {
    fn drop(&mut self) {
        write(&self.cache.state).watchers.remove(self.id);
    }
}

// ---------------------------------------------------------------------------------------------
// The task: list, then watch, re-list on error

/// The state of a prefix's list-then-watch loop.
enum Phase {
    /// (Re-)reading the whole prefix; `attempt` counts failures for the backoff.
    Listing { attempt: u32 },
    /// Applying the inner watch's events.
    Watching { stream: WatchStream },
}

struct CacheTask {
    cache: Arc<PrefixCache>,
    inner: Arc<dyn Backend>,
    sync_rx: mpsc::UnboundedReceiver<SyncRequest>,
    /// The current settle time: starts at the configured one, doubles after a late event.
    settle: Duration,
}

impl CacheTask {
    async fn run(mut self) {
        let mut phase = Phase::Listing { attempt: 0 };
        loop {
            phase = self.step(phase).await;
        }
    }

    async fn step(&mut self, phase: Phase) -> Phase {
        match phase {
            Phase::Listing { attempt } => self.list_then_watch(attempt).await,
            Phase::Watching { mut stream } => {
                let progress_due = read(&self.cache.state).watchers.next_progress();
                let result = tokio::select! {
                    biased;
                    _ = sleep_until(progress_due), if progress_due.is_some() => {
                        self.send_progress(&mut stream).await
                    }
                    item = stream.next() => self.on_item(item).await,
                    Some(request) = self.sync_rx.recv() => {
                        self.confirm_progress(request, &mut stream).await
                    }
                    // A new watcher may be due earlier than `progress_due`: look again.
                    _ = self.cache.progress_changed.notified() => Ok(()),
                };
                match result {
                    Ok(()) => Phase::Watching { stream },
                    Err(e) => self.relist(e),
                }
            }
        }
    }

    async fn list_then_watch(&mut self, attempt: u32) -> Phase {
        if attempt > 0 {
            let backoff = Duration::from_millis(100 * 2u64.pow(attempt.min(6))).min(MAX_BACKOFF);
            let sleep = tokio::time::sleep(backoff);
            tokio::pin!(sleep);
            loop {
                tokio::select! {
                    _ = &mut sleep => break,
                    Some(request) = self.sync_rx.recv() => { let _ = request.reply.send(false); }
                }
            }
        }
        let prefix = self.cache.prefix.clone();
        let listed = match self.inner.list(&prefix, None, 0, 0).await {
            Ok(listed) => listed,
            Err(e) => {
                tracing::warn!(prefix, error = %e, "watch cache: list failed");
                return Phase::Listing {
                    attempt: attempt + 1,
                };
            }
        };
        let stream = match self.inner.watch(&prefix, listed.revision).await {
            Ok(stream) => stream,
            Err(e) => {
                tracing::warn!(prefix, error = %e, "watch cache: watch failed");
                return Phase::Listing {
                    attempt: attempt + 1,
                };
            }
        };
        {
            let mut state = write(&self.cache.state);
            state.items = listed
                .items
                .into_iter()
                .map(|kv| (kv.key.clone(), kv))
                .collect();
            state.revision = listed.revision;
            state.floor = listed.revision.max(state.compacted);
            state.window.clear();
        }
        self.cache.ready.send_replace(true);
        tracing::debug!(
            prefix,
            revision = listed.revision,
            "watch cache: listed, watching"
        );
        Phase::Watching { stream }
    }

    /// After the inner watch failed: stop serving, end every watcher, list again.
    fn relist(&mut self, error: StorageError) -> Phase {
        tracing::warn!(prefix = self.cache.prefix, error = %error, "watch cache: re-listing");
        self.cache.ready.send_replace(false);
        let mut state = write(&self.cache.state);
        let reason = StorageError::Unavailable(format!("watch cache re-listing: {error}"));
        for handle in state.watchers.handles.values() {
            handle.terminate(reason.clone());
        }
        state.watchers.clear();
        Phase::Listing { attempt: 1 }
    }

    async fn on_item(&mut self, item: Option<Result<WatchEvent>>) -> Result<()> {
        match item {
            Some(Ok(event)) => {
                self.apply(event).await;
                Ok(())
            }
            Some(Err(e)) => Err(e),
            None => Err(StorageError::Unavailable(
                "the store ended the watch".into(),
            )),
        }
    }

    /// Confirms the cache is current at the requested revisions: applies every event the
    /// inner watch has ready, waits briefly for events in flight, then takes the revision.
    async fn confirm_progress(
        &mut self,
        first: SyncRequest,
        stream: &mut WatchStream,
    ) -> Result<()> {
        let mut requests = vec![first];
        while let Ok(request) = self.sync_rx.try_recv() {
            requests.push(request);
        }
        let target = requests.iter().map(|r| r.target).max().unwrap_or(0);
        let result = self.catch_up(stream, target).await;
        let ok = result.is_ok();
        for request in requests {
            let _ = request.reply.send(ok);
        }
        result
    }

    /// Makes the cache current at `target` (see `drain_until_quiet`).
    async fn catch_up(&mut self, stream: &mut WatchStream, target: Revision) -> Result<()> {
        self.drain_until_quiet(stream, target).await?;
        let mut state = write(&self.cache.state);
        state.revision = state.revision.max(target);
        Ok(())
    }

    /// Offers a progress event to every watcher due for one, at the store's current revision
    /// (when the store answers; else at the cache's).
    async fn send_progress(&mut self, stream: &mut WatchStream) -> Result<()> {
        if let Ok(target) = self.inner.current_revision().await {
            self.catch_up(stream, target).await?;
        }
        let mut state = write(&self.cache.state);
        let event = Arc::new(WatchEvent::progress(state.revision));
        for id in state.watchers.take_due(Instant::now()) {
            let handle = &state.watchers.handles[&id];
            // A full queue skips this one: the watcher has changes to read first.
            if event.revision() >= handle.after {
                let _ = handle.tx.try_send(event.clone());
            }
        }
        Ok(())
    }

    async fn drain_until_quiet(
        &mut self,
        stream: &mut WatchStream,
        target: Revision,
    ) -> Result<()> {
        loop {
            while let Some(item) = stream.next().now_or_never() {
                self.on_item(item).await?;
            }
            if self.cache.revision() >= target || self.settle.is_zero() {
                return Ok(());
            }
            match tokio::time::timeout(self.settle, stream.next()).await {
                Ok(item) => self.on_item(item).await?,
                Err(_) => return Ok(()),
            }
        }
    }

    /// Applies one event to the state and window and hands it to its watchers.
    async fn apply(&mut self, event: WatchEvent) {
        let event = Arc::new(event);
        let revision = event.revision();
        let mut blocked = Vec::new();
        {
            let mut state = write(&self.cache.state);
            let late = revision <= state.revision;
            if late {
                self.settle = (self.settle * 2).clamp(Duration::from_millis(1), MAX_SETTLE);
                tracing::warn!(
                    prefix = self.cache.prefix,
                    revision,
                    cache_revision = state.revision,
                    "watch cache: event arrived after its revision was confirmed"
                );
            }
            match event.event_type {
                EventType::Created | EventType::Modified => {
                    state.items.insert(event.kv.key.clone(), event.kv.clone());
                }
                EventType::Deleted => {
                    state.items.remove(&event.kv.key);
                }
                EventType::Progress => {}
            }
            state.revision = state.revision.max(revision);
            state.window.push_back(event.clone());
            while state.window.len() > self.cache.config.window_capacity {
                if let Some(old) = state.window.pop_front() {
                    state.floor = state.floor.max(old.revision());
                }
            }
            // Non-blocking sends under the lock; only full watchers are waited for below.
            let triggers = self.trigger_values(&state, &event);
            let mut closed = Vec::new();
            for id in state.watchers.targets(&event.kv.key, &triggers) {
                let handle = &state.watchers.handles[&id];
                if !late && revision <= handle.after {
                    continue;
                }
                match handle.tx.try_send(event.clone()) {
                    Ok(()) => {}
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        blocked.push((id, handle.tx.clone()));
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => closed.push(id),
                }
            }
            for id in closed {
                state.watchers.remove(id);
            }
        }
        if blocked.is_empty() {
            return;
        }
        let deadline = tokio::time::Instant::now() + self.cache.config.dispatch_budget;
        let mut too_slow = Vec::new();
        for (id, tx) in blocked {
            if tokio::time::timeout_at(deadline, tx.send(event.clone()))
                .await
                .is_err()
            {
                too_slow.push(id);
            }
        }
        if too_slow.is_empty() {
            return;
        }
        let mut state = write(&self.cache.state);
        for id in too_slow {
            if let Some(handle) = state.watchers.remove(id) {
                tracing::debug!(
                    prefix = handle.prefix,
                    "watch cache: terminating a slow watcher"
                );
                handle.terminate(StorageError::Internal(TOO_SLOW.into()));
            }
        }
    }

    /// The distinct trigger values of the object before and after `event`; none when no
    /// watcher wants one.
    fn trigger_values(&self, state: &State, event: &WatchEvent) -> Vec<String> {
        let Some(trigger) = &self.cache.trigger else {
            return Vec::new();
        };
        if state.watchers.triggered == 0 {
            return Vec::new();
        }
        let mut values = vec![trigger(&event.kv.value)];
        if let Some(prev) = &event.prev {
            let before = trigger(&prev.value);
            if before != values[0] {
                values.push(before);
            }
        }
        values
    }
}

/// Sleeps until `at` (forever without one).
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// How early a progress event may go out to join others due about the same time.
const PROGRESS_BATCH: Duration = Duration::from_secs(1);

/// The longest the settle time grows to after late events.
const MAX_SETTLE: Duration = Duration::from_millis(50);

// Poisoning only follows a panic elsewhere; the data is still usable for a cache.
fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|e| e.into_inner())
}

fn lock<T>(lock: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    lock.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handle(prefix: &str, trigger: Option<&str>) -> WatcherHandle {
        let (tx, _rx) = mpsc::channel(1);
        WatcherHandle {
            tx,
            after: 0,
            shared: Arc::default(),
            prefix: prefix.into(),
            trigger: trigger.map(Into::into),
            progress: None,
            progress_at: None,
        }
    }

    fn sorted(mut ids: Vec<u64>) -> Vec<u64> {
        ids.sort();
        ids
    }

    #[test]
    fn watcher_index_finds_only_the_prefixes_of_a_key() {
        let mut index = WatcherIndex::default();
        let now = Instant::now();
        index.insert(1, handle("/pods/", None), now);
        index.insert(2, handle("/pods/ns1/", None), now);
        index.insert(3, handle("/pods/ns1/", None), now);
        index.insert(4, handle("/pods/ns10/", None), now);
        index.insert(5, handle("/pods/ns2/", None), now);
        assert_eq!(
            index.prefixes_of("/pods/ns1/a"),
            vec!["/pods/", "/pods/ns1/"]
        );
        assert_eq!(
            index.prefixes_of("/pods/ns10/a"),
            vec!["/pods/", "/pods/ns10/"]
        );
        assert_eq!(index.prefixes_of("/pods/ns3/a"), vec!["/pods/"]);
        assert_eq!(index.len(), 5);
        index.remove(2);
        index.remove(3);
        assert_eq!(index.prefixes_of("/pods/ns1/a"), vec!["/pods/"]);
        index.remove(4);
        index.remove(5);
        // Lengths are refcounted: the length of `/pods/ns1/` is gone, `/pods/` stays.
        assert_eq!(index.lengths.len(), 1);
    }

    #[test]
    fn watcher_index_offers_a_change_only_to_the_watchers_of_its_trigger_values() {
        let mut index = WatcherIndex::default();
        let now = Instant::now();
        index.insert(1, handle("/pods/", None), now);
        index.insert(2, handle("/pods/", Some("node-a")), now);
        index.insert(3, handle("/pods/", Some("node-b")), now);
        index.insert(4, handle("/pods/ns1/", Some("node-a")), now);
        index.insert(5, handle("/pods/ns2/", Some("node-a")), now);
        fn targets(index: &WatcherIndex, key: &str, triggers: &[&str]) -> Vec<u64> {
            let triggers: Vec<String> = triggers.iter().map(|t| t.to_string()).collect();
            sorted(index.targets(key, &triggers))
        }
        assert_eq!(targets(&index, "/pods/ns1/x", &["node-a"]), vec![1, 2, 4]);
        // A pod moving from one node to another is offered to the watchers of both.
        assert_eq!(
            targets(&index, "/pods/ns1/x", &["node-b", "node-a"]),
            vec![1, 2, 3, 4]
        );
        assert_eq!(targets(&index, "/pods/ns3/x", &["node-c"]), vec![1]);
        assert_eq!(index.triggered, 4);
        index.remove(2);
        index.remove(4);
        assert_eq!(targets(&index, "/pods/ns1/x", &["node-a"]), vec![1]);
        assert_eq!(index.triggered, 2);
        assert!(!index.by_prefix["/pods/"].by_trigger.contains_key("node-a"));
    }

    #[test]
    fn watcher_index_schedules_progress_and_before_the_deadline() {
        let mut index = WatcherIndex::default();
        let now = Instant::now();
        let every = Duration::from_secs(60);
        let mut minute = handle("/pods/", None);
        minute.progress = Some(ProgressSchedule {
            every,
            deadline: None,
        });
        let mut short = handle("/pods/", None);
        short.progress = Some(ProgressSchedule {
            every,
            deadline: Some(now + Duration::from_secs(10)),
        });
        index.insert(1, minute, now);
        index.insert(2, short, now);
        index.insert(3, handle("/pods/", None), now);
        // The short watch's progress is due 2 s before its deadline.
        assert_eq!(index.next_progress(), Some(now + Duration::from_secs(8)));
        assert!(index.take_due(now + Duration::from_secs(6)).is_empty());
        // Up to a second early, to go out with others.
        assert_eq!(index.take_due(now + Duration::from_secs(7)), vec![2]);
        // After its last one it has none left; the minute one is next.
        assert_eq!(index.next_progress(), Some(now + every));
        assert_eq!(index.take_due(now + every), vec![1]);
        assert_eq!(index.next_progress(), Some(now + every * 2));
        index.remove(1);
        assert_eq!(index.next_progress(), None);
    }
}
