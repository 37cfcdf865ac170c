//! Behaviour of the watch cache that the shared backend suite does not cover: slow watchers,
//! consistent reads, the event window, fan-out to many watchers.
//!
//! The store behind the cache is the embedded backend, wrapped in a [`Counting`] backend that
//! counts the calls reaching it, so a test can tell what the cache served itself. The
//! consistent-read test also runs against etcd when `DEN_ETCD_SERVERS` is set.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use den_storage::cacher::{Cacher, CacherConfig, TOO_SLOW, TriggerFn};
use den_storage::embedded::EmbeddedBackend;
use den_storage::etcd::EtcdBackend;
use den_storage::{
    Backend, EventType, KeyValue, ListResult, ProgressSchedule, Result, Revision, StorageError,
    WatchEvent, WatchOptions, WatchStream,
};
use futures::{FutureExt, StreamExt};

// ---------------------------------------------------------------------------------------------
// Fixtures

/// A backend that counts the lists and watches reaching the store, and can break every watch
/// open on it (they yield `Unavailable` and end), like a store connection dropping.
struct Counting {
    inner: Arc<dyn Backend>,
    lists: AtomicUsize,
    watches: AtomicUsize,
    breaker: tokio::sync::watch::Sender<u64>,
}

impl Counting {
    fn break_watches(&self) {
        self.breaker.send_modify(|generation| *generation += 1);
    }
}

#[async_trait]
impl Backend for Counting {
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
        self.lists.fetch_add(1, Ordering::SeqCst);
        self.inner.list(prefix, start_after, limit, revision).await
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
        self.watches.fetch_add(1, Ordering::SeqCst);
        let stream = self.inner.watch(prefix, after).await?;
        let mut broken = self.breaker.subscribe();
        broken.mark_unchanged();
        let broken = async move {
            let _ = broken.changed().await;
        };
        Ok(Box::pin(stream.take_until(broken).chain(
            futures::stream::once(async {
                Err(StorageError::Unavailable("connection lost".into()))
            }),
        )))
    }
    async fn current_revision(&self) -> Result<Revision> {
        self.inner.current_revision().await
    }
    async fn compact(&self, revision: Revision) -> Result<()> {
        self.inner.compact(revision).await
    }
}

struct Fixture {
    store: Arc<Counting>,
    cacher: Arc<Cacher>,
    _dir: tempfile::TempDir,
}

async fn fixture(config: CacherConfig, prefixes: &[&str]) -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let embedded = EmbeddedBackend::open(&dir.path().join("den.redb")).expect("open embedded");
    let store = Arc::new(Counting {
        inner: Arc::new(embedded),
        lists: AtomicUsize::new(0),
        watches: AtomicUsize::new(0),
        breaker: tokio::sync::watch::channel(0).0,
    });
    let cacher = Cacher::with_config(store.clone(), config);
    for prefix in prefixes {
        cacher.register(prefix).await;
    }
    Fixture {
        store,
        cacher,
        _dir: dir,
    }
}

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

async fn next_event(stream: &mut WatchStream) -> WatchEvent {
    match tokio::time::timeout(Duration::from_secs(10), stream.next()).await {
        Ok(Some(Ok(event))) => event,
        Ok(Some(Err(e))) => panic!("watch failed: {e}"),
        Ok(None) => panic!("watch ended"),
        Err(_) => panic!("no watch event within 10s"),
    }
}

/// Creates `n` keys `{prefix}{i:05}` with `writers` concurrent writers (so the embedded
/// backend's group commit keeps a burst fast); returns the acknowledged values.
async fn burst(s: Arc<dyn Backend>, prefix: &str, n: usize, writers: usize) -> Vec<KeyValue> {
    let tasks: Vec<_> = (0..writers)
        .map(|w| {
            let s = s.clone();
            let prefix = prefix.to_owned();
            tokio::spawn(async move {
                let mut out = Vec::new();
                for i in (w..n).step_by(writers) {
                    out.push(s.create(&format!("{prefix}{i:05}"), b("v")).await.unwrap());
                }
                out
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort_by_key(|kv| kv.mod_revision);
    all
}

fn p99(mut samples: Vec<Duration>) -> Duration {
    samples.sort_unstable();
    samples[(samples.len() * 99 / 100).min(samples.len() - 1)]
}

// ---------------------------------------------------------------------------------------------
// Slow watchers

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_watcher_is_terminated_while_a_fast_one_receives_every_event_of_a_burst() {
    let config = CacherConfig {
        watcher_queue: 100,
        ..CacherConfig::default()
    };
    let f = fixture(config, &["/burst/"]).await;
    let start = f.cacher.current_revision().await.unwrap();
    let mut slow = f.cacher.watch("/burst/", start).await.unwrap();
    let mut fast = f.cacher.watch("/burst/", start).await.unwrap();
    let reader = tokio::spawn(async move {
        let mut revisions = Vec::new();
        while revisions.len() < 5_000 {
            revisions.push(next_event(&mut fast).await.revision());
        }
        revisions
    });
    let started = Instant::now();
    let written = burst(f.cacher.clone(), "/burst/", 5_000, 50).await;
    let received = reader.await.unwrap();
    println!(
        "5000-write burst written and received in {:?}",
        started.elapsed()
    );
    assert_eq!(
        received,
        written.iter().map(|kv| kv.mod_revision).collect::<Vec<_>>()
    );
    // The slow watcher was never polled: it is ended with an error, not left holding events.
    match tokio::time::timeout(Duration::from_secs(1), slow.next()).await {
        Ok(Some(Err(StorageError::Internal(msg)))) => assert_eq!(msg, TOO_SLOW),
        other => panic!("expected the slow watcher to be terminated, got {other:?}"),
    }
    assert!(slow.next().await.is_none());
}

// ---------------------------------------------------------------------------------------------
// Consistent reads

async fn a_consistent_list_right_after_a_write_contains_it(s: Arc<Cacher>, prefix: &str) {
    let other = format!("{prefix}other/");
    let mine = format!("{prefix}mine/");
    let mut from_memory = 0;
    for i in 0..200 {
        let kv = s
            .create(&format!("{mine}k{i:03}"), b(&i.to_string()))
            .await
            .unwrap();
        if i % 3 == 0 {
            // A write elsewhere: the cache must confirm it is current past it.
            s.create(&format!("{other}k{i:03}"), b("x")).await.unwrap();
        }
        let list = s.list(&mine, None, 0, 0).await.unwrap();
        assert_eq!(list.items.len(), i + 1, "iteration {i}");
        assert_eq!(list.items.last(), Some(&kv), "iteration {i}");
        assert!(list.revision >= kv.mod_revision);
        let page = s.list(&mine, None, 1, list.revision).await.unwrap();
        assert_eq!(page.items.first(), list.items.first());
        assert_eq!(page.remaining, Some(i as i64));
        assert_eq!(page.more, i > 0);
        from_memory += usize::from(list.revision == kv.mod_revision);
    }
    println!("200 consistent lists, {from_memory} labelled with the write's own revision");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consistent_list_right_after_a_write_always_contains_that_write() {
    let f = fixture(CacherConfig::default(), &["/cr/"]).await;
    let lists_before = f.store.lists.load(Ordering::SeqCst);
    a_consistent_list_right_after_a_write_contains_it(f.cacher.clone(), "/cr/").await;
    // Every list (400 of them) was served from memory.
    assert_eq!(f.store.lists.load(Ordering::SeqCst), lists_before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recent_list_is_served_from_memory_and_catches_up_with_writes() {
    let f = fixture(CacherConfig::default(), &["/lr/"]).await;
    let lists_before = f.store.lists.load(Ordering::SeqCst);
    let kv = f.cacher.create("/lr/a", b("1")).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let recent = f.cacher.list_recent("/lr/").await.unwrap();
        if recent.items.first() == Some(&kv) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the cache never showed the write"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(f.store.lists.load(Ordering::SeqCst), lists_before);
    // A prefix without a cache is listed by the store.
    f.cacher.create("/elsewhere/b", b("2")).await.unwrap();
    let listed = f.cacher.list_recent("/elsewhere/").await.unwrap();
    assert_eq!(listed.items.len(), 1);
    assert_eq!(f.store.lists.load(Ordering::SeqCst), lists_before + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consistent_list_right_after_a_write_always_contains_that_write_on_etcd() {
    let Ok(servers) = std::env::var("DEN_ETCD_SERVERS") else {
        println!("skipped: DEN_ETCD_SERVERS is not set, so the etcd variant does not run");
        return;
    };
    let servers: Vec<String> = servers.split(',').map(str::to_owned).collect();
    let prefix = format!("/den-cacher-{}-{:x}", std::process::id(), rand_suffix());
    let etcd = EtcdBackend::connect(&servers, &prefix).await.unwrap();
    // On etcd consistent lists go to the store (the cache cannot confirm etcd's progress).
    let config = CacherConfig {
        consistent_reads_from_cache: false,
        ..CacherConfig::default()
    };
    let cacher = Cacher::with_config(Arc::new(etcd), config);
    cacher.register("/cr/").await;
    a_consistent_list_right_after_a_write_contains_it(cacher, "/cr/").await;
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------------------------
// The window

/// Writes a mixed history under `/w/` (and noise outside it); returns the events the store
/// itself reports for `/w/`, and the revision before the first.
async fn mixed_history(f: &Fixture, writes: usize) -> (Revision, Vec<WatchEvent>) {
    let s = f.cacher.clone();
    let before = s.current_revision().await.unwrap();
    for i in 0..writes {
        let key = format!("/w/ns{}/k{}", i % 3, i % 7);
        match s.get(&key).await.unwrap().0 {
            None => {
                s.create(&key, b(&i.to_string())).await.unwrap();
            }
            Some(kv) if i % 4 == 0 => {
                s.delete(&key, Some(kv.mod_revision)).await.unwrap();
            }
            Some(kv) => {
                s.update(&key, b(&i.to_string()), kv.mod_revision)
                    .await
                    .unwrap();
            }
        }
        if i % 5 == 0 {
            s.create(&format!("/x/{i}"), b("noise")).await.unwrap();
        }
    }
    let mut truth = f.store.inner.watch("/w/", before).await.unwrap();
    let mut events = Vec::new();
    while let Some(Some(item)) = truth.next().now_or_never() {
        events.push(item.unwrap());
    }
    assert_eq!(events.len(), writes);
    (before, events)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_resumed_from_any_revision_inside_the_window_sees_exactly_the_later_events() {
    let f = fixture(CacherConfig::default(), &["/w/", "/x/"]).await;
    let (before, events) = mixed_history(&f, 60).await;
    // The cache has applied the history once a consistent read returns.
    f.cacher.list("/w/", None, 0, 0).await.unwrap();
    let watches_before = f.store.watches.load(Ordering::SeqCst);
    let last = events.last().unwrap().revision();
    for after in before..=last {
        for prefix in ["/w/", "/w/ns1/"] {
            let expected: Vec<&WatchEvent> = events
                .iter()
                .filter(|e| e.revision() > after && e.kv.key.starts_with(prefix))
                .collect();
            let mut w = f.cacher.watch(prefix, after).await.unwrap();
            for want in expected {
                assert_eq!(&next_event(&mut w).await, want, "after {after} on {prefix}");
            }
            assert!(
                w.next().now_or_never().is_none(),
                "an extra event after {after} on {prefix}"
            );
        }
    }
    // Every one of those watches was served by the cache.
    assert_eq!(f.store.watches.load(Ordering::SeqCst), watches_before);
    // And they continue live.
    let mut w = f.cacher.watch("/w/", last).await.unwrap();
    let live = f.cacher.create("/w/live", b("l")).await.unwrap();
    assert_eq!(next_event(&mut w).await.kv, live);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_from_before_the_window_falls_back_to_the_store() {
    let config = CacherConfig {
        window_capacity: 10,
        ..CacherConfig::default()
    };
    let f = fixture(config, &["/w/", "/x/"]).await;
    let (before, events) = mixed_history(&f, 30).await;
    f.cacher.list("/w/", None, 0, 0).await.unwrap();
    let watches_before = f.store.watches.load(Ordering::SeqCst);

    // From the beginning: older than the window, so the store replays it.
    let mut w = f.cacher.watch("/w/", before).await.unwrap();
    for want in &events {
        assert_eq!(&next_event(&mut w).await, want);
    }
    assert_eq!(f.store.watches.load(Ordering::SeqCst), watches_before + 1);

    // The last ten events are in the window: served by the cache.
    let inside = events[events.len() - 10].revision() - 1;
    let mut w = f.cacher.watch("/w/", inside).await.unwrap();
    for want in &events[events.len() - 10..] {
        assert_eq!(&next_event(&mut w).await, want);
    }
    assert_eq!(f.store.watches.load(Ordering::SeqCst), watches_before + 1);

    // Once compacted, a watch from before the compaction fails like on the store.
    let now = f.cacher.current_revision().await.unwrap();
    f.cacher.compact(now).await.unwrap();
    match f.cacher.watch("/w/", inside).await {
        Err(StorageError::Compacted { .. }) => {}
        Ok(mut s) => match s.next().await {
            Some(Err(StorageError::Compacted { .. })) => {}
            other => panic!("expected Compacted, got {other:?}"),
        },
        Err(other) => panic!("expected Compacted, got {other}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Re-listing

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cache_relists_when_its_store_watch_fails_and_ends_its_watchers() {
    let f = fixture(CacherConfig::default(), &["/rl/"]).await;
    let a = f.cacher.create("/rl/a", b("a")).await.unwrap();
    let mut w = f.cacher.watch("/rl/", a.mod_revision).await.unwrap();
    let lists_before = f.store.lists.load(Ordering::SeqCst);
    f.store.break_watches();
    // The cache's watcher cannot know what it missed: it ends with an error.
    match tokio::time::timeout(Duration::from_secs(10), w.next()).await {
        Ok(Some(Err(StorageError::Unavailable(msg)))) => assert!(msg.contains("re-listing")),
        other => panic!("expected the watcher to end with Unavailable, got {other:?}"),
    }
    assert!(w.next().await.is_none());
    // Written while the cache re-lists: a consistent read still contains it.
    let c = f.cacher.create("/rl/c", b("c")).await.unwrap();
    let list = f.cacher.list("/rl/", None, 0, 0).await.unwrap();
    assert_eq!(list.items, vec![a, c.clone()]);
    // The cache is back (it listed the store again) and serves new watchers.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f.cacher.is_ready("/rl/") {
        assert!(Instant::now() < deadline, "the cache did not re-list");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(f.store.lists.load(Ordering::SeqCst) > lists_before);
    let now = f.cacher.list("/rl/", None, 0, 0).await.unwrap().revision;
    let watches = f.store.watches.load(Ordering::SeqCst);
    let mut w = f.cacher.watch("/rl/", now).await.unwrap();
    let d = f.cacher.create("/rl/d", b("d")).await.unwrap();
    assert_eq!(next_event(&mut w).await.kv, d);
    assert_eq!(f.store.watches.load(Ordering::SeqCst), watches);
}

// ---------------------------------------------------------------------------------------------
// Fan-out

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watcher_on_a_namespace_gets_only_its_namespace() {
    let f = fixture(CacherConfig::default(), &["/pods/"]).await;
    let now = f.cacher.current_revision().await.unwrap();
    let mut ns1 = f.cacher.watch("/pods/ns1/", now).await.unwrap();
    let mut all = f.cacher.watch("/pods/", now).await.unwrap();
    f.cacher.create("/pods/ns10/a", b("no")).await.unwrap();
    f.cacher.create("/pods/ns2/a", b("no")).await.unwrap();
    let mine = f.cacher.create("/pods/ns1/a", b("yes")).await.unwrap();
    let gone = f.cacher.delete("/pods/ns1/a", None).await.unwrap();
    let e = next_event(&mut ns1).await;
    assert_eq!((e.event_type, e.kv), (EventType::Created, mine));
    let e = next_event(&mut ns1).await;
    assert_eq!((e.event_type, e.kv), (EventType::Deleted, gone));
    for _ in 0..4 {
        next_event(&mut all).await;
    }
    assert!(
        tokio::time::timeout(Duration::from_millis(200), ns1.next())
            .await
            .is_err()
    );
}

/// Values `node=<name>;...`: the trigger is the node, as a pod's `spec.nodeName`.
fn node_trigger() -> TriggerFn {
    Arc::new(|value: &[u8]| {
        let value = String::from_utf8_lossy(value);
        value
            .strip_prefix("node=")
            .and_then(|rest| rest.split(';').next())
            .unwrap_or_default()
            .to_owned()
    })
}

fn triggered(node: &str) -> WatchOptions {
    WatchOptions {
        trigger: Some(node.into()),
        ..Default::default()
    }
}

/// The keys and types of the events a watcher has ready (waiting briefly for more).
async fn ready_events(stream: &mut WatchStream) -> Vec<(EventType, String)> {
    let mut out = Vec::new();
    while let Ok(Some(Ok(e))) =
        tokio::time::timeout(Duration::from_millis(300), stream.next()).await
    {
        out.push((e.event_type, e.kv.key));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watcher_of_a_trigger_value_gets_only_the_changes_of_objects_with_it() {
    let f = fixture(CacherConfig::default(), &[]).await;
    f.cacher.register_indexed("/pods/", node_trigger()).await;
    let now = f.cacher.current_revision().await.unwrap();
    let mut node_a = f
        .cacher
        .watch_with("/pods/", now, &triggered("a"))
        .await
        .unwrap();
    let mut node_b = f
        .cacher
        .watch_with("/pods/", now, &triggered("b"))
        .await
        .unwrap();
    let mut unscheduled = f
        .cacher
        .watch_with("/pods/", now, &triggered(""))
        .await
        .unwrap();
    let mut all = f.cacher.watch("/pods/", now).await.unwrap();

    let p1 = f.cacher.create("/pods/ns/p1", b("pending")).await.unwrap();
    f.cacher.create("/pods/ns/p2", b("node=b;x")).await.unwrap();
    // p1 is scheduled to a, moves to b, and is deleted there.
    let p1 = f
        .cacher
        .update("/pods/ns/p1", b("node=a;y"), p1.mod_revision)
        .await
        .unwrap();
    f.cacher
        .update("/pods/ns/p1", b("node=b;y"), p1.mod_revision)
        .await
        .unwrap();
    f.cacher.delete("/pods/ns/p1", None).await.unwrap();

    use EventType::*;
    let key = |k: &str| format!("/pods/ns/{k}");
    assert_eq!(
        ready_events(&mut node_a).await,
        vec![(Modified, key("p1")), (Modified, key("p1"))],
        "a sees p1 arrive and leave"
    );
    assert_eq!(
        ready_events(&mut node_b).await,
        vec![
            (Created, key("p2")),
            (Modified, key("p1")),
            (Deleted, key("p1"))
        ]
    );
    assert_eq!(
        ready_events(&mut unscheduled).await,
        vec![(Created, key("p1")), (Modified, key("p1"))]
    );
    assert_eq!(ready_events(&mut all).await.len(), 5);

    // A trigger on a prefix registered without one is ignored: every change arrives.
    f.cacher.register("/configmaps/").await;
    let now = f.cacher.current_revision().await.unwrap();
    let mut cms = f
        .cacher
        .watch_with("/configmaps/", now, &triggered("a"))
        .await
        .unwrap();
    f.cacher
        .create("/configmaps/ns/c", b("node=b"))
        .await
        .unwrap();
    assert_eq!(
        ready_events(&mut cms).await,
        vec![(Created, "/configmaps/ns/c".into())]
    );
}

/// The next event that is not a change, with the changes before it.
async fn until_progress(stream: &mut WatchStream) -> (Vec<WatchEvent>, Revision) {
    let mut changes = Vec::new();
    loop {
        let e = next_event(stream).await;
        if e.event_type == EventType::Progress {
            return (changes, e.revision());
        }
        changes.push(e);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watcher_gets_progress_at_the_stores_revision_after_every_change_before_it() {
    let f = fixture(CacherConfig::default(), &["/quiet/", "/busy/"]).await;
    let start = f.cacher.current_revision().await.unwrap();
    let every = ProgressSchedule {
        every: Duration::from_millis(300),
        deadline: None,
    };
    let options = WatchOptions {
        progress: Some(every),
        ..Default::default()
    };
    let mut quiet = f
        .cacher
        .watch_with("/quiet/", start, &options)
        .await
        .unwrap();
    let mut busy = f
        .cacher
        .watch_with("/busy/", start, &options)
        .await
        .unwrap();
    // Without progress asked for, a watch yields none.
    let mut plain = f.cacher.watch("/quiet/", start).await.unwrap();

    let mut last_busy = start;
    for round in 0..3 {
        let mut written = Revision::default();
        for i in 0..20 {
            written = f
                .cacher
                .create(&format!("/busy/{round}-{i}"), b("v"))
                .await
                .unwrap()
                .mod_revision;
        }
        // The quiet prefix's watcher moves on with the store's revision...
        let (changes, at) = until_progress(&mut quiet).await;
        assert!(changes.is_empty());
        assert!(at >= written, "progress at {at}, store at {written}");
        // ...and a busy watcher's progress follows every change up to it.
        let mut seen = 0;
        loop {
            let (changes, at) = until_progress(&mut busy).await;
            seen += changes.len();
            for change in &changes {
                assert!(change.revision() > last_busy && change.revision() <= at);
            }
            last_busy = at;
            if at >= written {
                break;
            }
        }
        assert_eq!(seen, 20, "round {round}");
    }
    assert!(
        tokio::time::timeout(Duration::from_millis(500), plain.next())
            .await
            .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_comes_shortly_before_a_watchs_deadline_from_the_cache_and_from_a_store() {
    let f = fixture(CacherConfig::default(), &["/cached/"]).await;
    let start = f.cacher.current_revision().await.unwrap();
    let options = WatchOptions {
        progress: Some(ProgressSchedule {
            every: Duration::from_secs(60),
            deadline: Some(tokio::time::Instant::now() + Duration::from_millis(2_500)),
        }),
        ..Default::default()
    };
    // The store has no cache for `/plain/`: the progress there is the last revision seen.
    let mut cached = f
        .cacher
        .watch_with("/cached/", start, &options)
        .await
        .unwrap();
    let mut plain = f
        .cacher
        .watch_with("/plain/", start, &options)
        .await
        .unwrap();
    let written = f.cacher.create("/plain/x", b("v")).await.unwrap();
    let begun = Instant::now();
    let e = next_event(&mut plain).await;
    assert_eq!(e.kv, written);
    let (_, at) = until_progress(&mut cached).await;
    assert!(at >= written.mod_revision);
    let (_, at) = until_progress(&mut plain).await;
    assert_eq!(at, written.mod_revision);
    let waited = begun.elapsed();
    assert!(
        waited < Duration::from_millis(1_500),
        "progress 2 s before a 2.5 s deadline came after {waited:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_watchers_on_one_prefix_all_receive_every_event_of_a_burst() {
    const WATCHERS: usize = 1_000;
    const WRITES: usize = 1_000;
    let f = fixture(CacherConfig::default(), &["/fan/"]).await;
    let start = f.cacher.current_revision().await.unwrap();
    let epoch = Instant::now();
    // Acknowledgment time of each revision, in nanoseconds since `epoch`.
    let acked: Arc<Vec<AtomicU64>> = Arc::new((0..WRITES).map(|_| AtomicU64::new(0)).collect());
    let received = Arc::new(AtomicUsize::new(0));
    let mut readers = Vec::new();
    for _ in 0..WATCHERS {
        let mut w = f.cacher.watch("/fan/", start).await.unwrap();
        let received = received.clone();
        readers.push(tokio::spawn(async move {
            let mut seen = Vec::with_capacity(WRITES);
            while seen.len() < WRITES {
                let e = next_event(&mut w).await;
                seen.push((e.revision(), epoch.elapsed().as_nanos() as u64));
            }
            received.fetch_add(seen.len(), Ordering::Relaxed);
            seen
        }));
    }
    let writers: Vec<_> = (0..20)
        .map(|w| {
            let s = f.cacher.clone();
            let acked = acked.clone();
            tokio::spawn(async move {
                for i in (w..WRITES).step_by(20) {
                    let kv = s.create(&format!("/fan/{i:05}"), b("v")).await.unwrap();
                    let at = epoch.elapsed().as_nanos() as u64;
                    acked[(kv.mod_revision - start - 1) as usize].store(at, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for w in writers {
        w.await.unwrap();
    }
    let written = epoch.elapsed();
    let mut delays = Vec::with_capacity(WATCHERS * WRITES);
    for r in readers {
        let seen = r.await.unwrap();
        let revisions: Vec<Revision> = seen.iter().map(|(rev, _)| *rev).collect();
        assert_eq!(
            revisions,
            (start + 1..=start + WRITES as i64).collect::<Vec<_>>()
        );
        for (rev, at) in seen {
            let ack = acked[(rev - start - 1) as usize].load(Ordering::Relaxed);
            delays.push(Duration::from_nanos(at.saturating_sub(ack)));
        }
    }
    assert_eq!(received.load(Ordering::Relaxed), WATCHERS * WRITES);
    println!(
        "{WATCHERS} watchers x {WRITES} writes: written in {written:?}, all received in {:?}; \
         delivery delay after acknowledgment p99 {:?}, max {:?}",
        epoch.elapsed(),
        p99(delays.clone()),
        delays.iter().max().unwrap()
    );
}

/// Resident set size in bytes, from /proc (Linux).
fn rss() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_watchers_cost_little_memory() {
    const WATCHERS: usize = 20_000;
    let f = fixture(CacherConfig::default(), &["/idle/"]).await;
    let now = f.cacher.current_revision().await.unwrap();
    // Warm up allocator arenas before measuring.
    let warm: Vec<WatchStream> = futures::future::join_all((0..100).map(|i| {
        f.cacher
            .watch(if i % 2 == 0 { "/idle/" } else { "/idle/ns/" }, now)
    }))
    .await
    .into_iter()
    .map(Result::unwrap)
    .collect();
    let before = rss();
    let mut watchers = Vec::with_capacity(WATCHERS);
    for i in 0..WATCHERS {
        let prefix = format!("/idle/ns{}/", i % 100);
        watchers.push(f.cacher.watch(&prefix, now).await.unwrap());
    }
    let after = rss();
    if let (Some(before), Some(after)) = (before, after) {
        let per = after.saturating_sub(before) / WATCHERS as u64;
        println!("memory per idle watcher (RSS delta over {WATCHERS}): {per} bytes");
        assert!(per < 10 * 1024, "{per} bytes per idle watcher");
    }
    // Every one still works.
    let kv = f.cacher.create("/idle/ns7/x", b("v")).await.unwrap();
    assert_eq!(next_event(&mut watchers[7]).await.kv, kv);
    drop(watchers);
    drop(warm);
    // Dropped watchers leave the index: a later event reaches nobody and nothing blocks.
    let later = f.cacher.create("/idle/ns7/y", b("v")).await.unwrap();
    let list = f.cacher.list("/idle/", None, 0, 0).await.unwrap();
    assert!(list.revision >= later.mod_revision);
}
