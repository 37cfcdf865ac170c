//! One behavioural suite for every storage backend.
//!
//! Each case is a generic async function over `Arc<dyn Backend>`; the `suite!` macro
//! instantiates it for the embedded backend (a fresh redb file in a temp dir) and for etcd
//! (the endpoint from `DEN_ETCD_SERVERS`, a unique key prefix per test; skipped with a note
//! when the variable is unset). The same cases run again against the watch cache
//! ([`Cacher`]) on top of each backend, with every prefix the cases use registered.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use den_storage::cacher::{Cacher, CacherConfig};
use den_storage::embedded::EmbeddedBackend;
use den_storage::etcd::EtcdBackend;
use den_storage::{
    Backend, EventType, KeyValue, ProgressSchedule, StorageError, WatchEvent, WatchOptions,
    WatchStream, guaranteed_update,
};
use futures::StreamExt;
use tokio::sync::RwLock;

// ---------------------------------------------------------------------------------------------
// Fixtures

/// Compaction is global to an etcd cluster while every etcd test shares one: tests that read
/// history hold this for reading, tests that compact hold it for writing.
static HISTORY: RwLock<()> = RwLock::const_new(());

struct Fixture {
    backend: Arc<dyn Backend>,
    _dir: Option<tempfile::TempDir>,
}

fn unique(name: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{name}-{}-{nanos:x}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

async fn embedded() -> Option<Fixture> {
    let dir = tempfile::tempdir().expect("tempdir");
    let backend = EmbeddedBackend::open(&dir.path().join("den.redb")).expect("open embedded");
    Some(Fixture {
        backend: Arc::new(backend),
        _dir: Some(dir),
    })
}

fn etcd_servers() -> Option<Vec<String>> {
    let servers = std::env::var("DEN_ETCD_SERVERS").ok()?;
    let servers: Vec<String> = servers
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    (!servers.is_empty()).then_some(servers)
}

async fn etcd() -> Option<Fixture> {
    let Some(servers) = etcd_servers() else {
        println!("skipped: DEN_ETCD_SERVERS is not set, so the etcd variant does not run");
        return None;
    };
    let prefix = format!("/{}", unique("den-test"));
    let backend = EtcdBackend::connect(&servers, &prefix)
        .await
        .expect("connect to etcd");
    Some(Fixture {
        backend: Arc::new(backend),
        _dir: None,
    })
}

/// Every top-level prefix the cases read or watch, registered with the cacher like the API
/// server registers one prefix per resource.
const CACHED_PREFIXES: &[&str] = &[
    "/configmaps/",
    "/pods/",
    "/secrets/",
    "/cm/",
    "/nodes/",
    "/services/",
    "/counters/",
    "/r/",
    "/elsewhere/",
];

/// The fixture's backend behind a watch cache; consistent lists come from memory only where
/// that is exact (see `CacherConfig::consistent_reads_from_cache`).
async fn cached(fixture: Option<Fixture>, consistent_reads_from_cache: bool) -> Option<Fixture> {
    let fixture = fixture?;
    let config = CacherConfig {
        consistent_reads_from_cache,
        ..CacherConfig::default()
    };
    let cacher = Cacher::with_config(fixture.backend.clone(), config);
    for prefix in CACHED_PREFIXES {
        cacher.register(prefix).await;
    }
    Some(Fixture {
        backend: cacher,
        _dir: fixture._dir,
    })
}

macro_rules! suite {
    ($($case:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let fixture = super::embedded().await.expect("embedded fixture");
                    super::$case(fixture.backend.clone()).await;
                }
            )*
        }
        mod etcd {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let Some(fixture) = super::etcd().await else { return };
                    super::$case(fixture.backend.clone()).await;
                }
            )*
        }
        mod cached_embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let fixture = super::cached(super::embedded().await, true)
                        .await
                        .expect("embedded fixture");
                    super::$case(fixture.backend.clone()).await;
                }
            )*
        }
        mod cached_etcd {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let Some(fixture) = super::cached(super::etcd().await, false).await else {
                        return;
                    };
                    super::$case(fixture.backend.clone()).await;
                }
            )*
        }
    };
}

suite!(
    create_then_get_returns_the_value,
    create_on_an_existing_key_fails_with_already_exists,
    update_with_the_current_revision_succeeds,
    update_with_a_stale_revision_conflicts_carrying_the_current_value,
    update_of_a_missing_key_conflicts_with_no_current_value,
    delete_without_expected_revision_removes_the_key,
    delete_with_expected_revision_checks_it,
    list_pages_with_limit_and_start_after,
    a_list_larger_than_one_grpc_message_comes_back_whole,
    list_at_an_older_revision_shows_the_past_state,
    list_at_a_compacted_revision_fails_with_compacted,
    list_at_a_future_revision_fails_with_future_revision,
    watch_from_a_past_revision_replays_exactly_the_later_events_in_order,
    watch_resumes_from_last_seen_revision,
    watch_from_a_compacted_revision_fails_with_compacted,
    watch_delivers_live_events_under_its_prefix_only,
    a_watch_with_a_progress_schedule_yields_progress_after_the_changes_before_it,
    guaranteed_update_retries_on_concurrent_conflicts,
    guaranteed_update_does_not_write_identical_bytes,
    compaction_keeps_the_latest_value_of_every_live_key_readable,
    compaction_below_the_compacted_revision_is_a_noop_and_above_current_fails,
    revisions_strictly_increase,
);

// ---------------------------------------------------------------------------------------------
// Helpers

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

async fn assert_quiet(stream: &mut WatchStream) {
    if let Ok(item) = tokio::time::timeout(Duration::from_millis(300), stream.next()).await {
        panic!("unexpected watch item: {item:?}");
    }
}

fn keys(items: &[KeyValue]) -> Vec<&str> {
    items.iter().map(|kv| kv.key.as_str()).collect()
}

// ---------------------------------------------------------------------------------------------
// Cases

async fn create_then_get_returns_the_value(s: Arc<dyn Backend>) {
    let created = s.create("/configmaps/default/a", b("one")).await.unwrap();
    assert_eq!(created.key, "/configmaps/default/a");
    assert_eq!(created.value, b("one"));
    assert_eq!(created.create_revision, created.mod_revision);
    let (got, rev) = s.get("/configmaps/default/a").await.unwrap();
    assert_eq!(got, Some(created.clone()));
    assert!(rev >= created.mod_revision);
    let (missing, _) = s.get("/configmaps/default/missing").await.unwrap();
    assert_eq!(missing, None);
}

async fn create_on_an_existing_key_fails_with_already_exists(s: Arc<dyn Backend>) {
    let first = s.create("/pods/ns/p", b("1")).await.unwrap();
    let err = s.create("/pods/ns/p", b("2")).await.unwrap_err();
    assert_eq!(
        err,
        StorageError::AlreadyExists {
            key: "/pods/ns/p".into()
        }
    );
    assert_eq!(s.get("/pods/ns/p").await.unwrap().0, Some(first));
}

async fn update_with_the_current_revision_succeeds(s: Arc<dyn Backend>) {
    let created = s.create("/pods/ns/p", b("1")).await.unwrap();
    let updated = s
        .update("/pods/ns/p", b("2"), created.mod_revision)
        .await
        .unwrap();
    assert_eq!(updated.value, b("2"));
    assert_eq!(updated.create_revision, created.create_revision);
    assert!(updated.mod_revision > created.mod_revision);
    assert_eq!(s.get("/pods/ns/p").await.unwrap().0, Some(updated));
}

async fn update_with_a_stale_revision_conflicts_carrying_the_current_value(s: Arc<dyn Backend>) {
    let created = s.create("/pods/ns/p", b("1")).await.unwrap();
    let winner = s
        .update("/pods/ns/p", b("2"), created.mod_revision)
        .await
        .unwrap();
    let err = s
        .update("/pods/ns/p", b("3"), created.mod_revision)
        .await
        .unwrap_err();
    assert_eq!(
        err,
        StorageError::Conflict {
            key: "/pods/ns/p".into(),
            current: Some(Box::new(winner.clone())),
        }
    );
    assert_eq!(s.get("/pods/ns/p").await.unwrap().0, Some(winner));
}

async fn update_of_a_missing_key_conflicts_with_no_current_value(s: Arc<dyn Backend>) {
    let err = s.update("/pods/ns/nope", b("x"), 1).await.unwrap_err();
    assert_eq!(
        err,
        StorageError::Conflict {
            key: "/pods/ns/nope".into(),
            current: None,
        }
    );
    // Expected revision 0 must not create the key either.
    assert!(s.update("/pods/ns/nope", b("x"), 0).await.is_err());
    assert_eq!(s.get("/pods/ns/nope").await.unwrap().0, None);
}

async fn delete_without_expected_revision_removes_the_key(s: Arc<dyn Backend>) {
    let created = s.create("/secrets/ns/s", b("v")).await.unwrap();
    let deleted = s.delete("/secrets/ns/s", None).await.unwrap();
    assert_eq!(deleted.key, created.key);
    assert_eq!(deleted.value, created.value);
    assert_eq!(deleted.create_revision, created.create_revision);
    assert!(deleted.mod_revision > created.mod_revision);
    assert_eq!(s.get("/secrets/ns/s").await.unwrap().0, None);
    assert_eq!(
        s.delete("/secrets/ns/s", None).await.unwrap_err(),
        StorageError::NotFound {
            key: "/secrets/ns/s".into()
        }
    );
}

async fn delete_with_expected_revision_checks_it(s: Arc<dyn Backend>) {
    let created = s.create("/secrets/ns/s", b("v1")).await.unwrap();
    let updated = s
        .update("/secrets/ns/s", b("v2"), created.mod_revision)
        .await
        .unwrap();
    let err = s
        .delete("/secrets/ns/s", Some(created.mod_revision))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        StorageError::Conflict {
            key: "/secrets/ns/s".into(),
            current: Some(Box::new(updated.clone())),
        }
    );
    let deleted = s
        .delete("/secrets/ns/s", Some(updated.mod_revision))
        .await
        .unwrap();
    assert_eq!(deleted.value, b("v2"));
    assert!(deleted.mod_revision > updated.mod_revision);
    assert_eq!(
        s.delete("/secrets/ns/s", Some(updated.mod_revision))
            .await
            .unwrap_err(),
        StorageError::Conflict {
            key: "/secrets/ns/s".into(),
            current: None,
        }
    );
}

async fn a_list_larger_than_one_grpc_message_comes_back_whole(s: Arc<dyn Backend>) {
    let _history = HISTORY.read().await;
    // 3,000 values of 2 KiB: 6 MiB, more than a gRPC client takes in one message.
    let value = "x".repeat(2048);
    let writes = (0..3000).map(|i| {
        let (s, value) = (s.clone(), value.clone());
        async move {
            s.create(&format!("/big/ns/k{i:05}"), b(&value))
                .await
                .unwrap()
        }
    });
    futures::future::join_all(writes).await;
    let all = s.list("/big/ns/", None, 0, 0).await.unwrap();
    assert_eq!(all.items.len(), 3000);
    assert!(!all.more);
    let page = s
        .list("/big/ns/", Some("/big/ns/k00999"), 2500, 0)
        .await
        .unwrap();
    assert_eq!(page.items.len(), 2000);
    assert_eq!(page.items[0].key, "/big/ns/k01000");
}

async fn list_pages_with_limit_and_start_after(s: Arc<dyn Backend>) {
    let _history = HISTORY.read().await;
    // Neighbours that must not show up under the prefix.
    s.create("/configmaps/a", b("outside")).await.unwrap();
    s.create("/configmaps/ns-other/k01", b("outside"))
        .await
        .unwrap();
    s.create("/configmaps/ns0", b("outside")).await.unwrap();
    for i in 1..=5 {
        s.create(&format!("/configmaps/ns/k{i:02}"), b(&format!("v{i}")))
            .await
            .unwrap();
    }
    let all = s.list("/configmaps/ns/", None, 0, 0).await.unwrap();
    assert_eq!(
        keys(&all.items),
        [
            "/configmaps/ns/k01",
            "/configmaps/ns/k02",
            "/configmaps/ns/k03",
            "/configmaps/ns/k04",
            "/configmaps/ns/k05"
        ]
    );
    assert!(!all.more);
    assert_eq!(all.remaining, Some(0));
    assert!(all.revision <= s.current_revision().await.unwrap());
    assert_eq!(all.items[2].value, b("v3"));

    let page1 = s.list("/configmaps/ns/", None, 2, 0).await.unwrap();
    assert_eq!(
        keys(&page1.items),
        ["/configmaps/ns/k01", "/configmaps/ns/k02"]
    );
    assert!(page1.more);
    assert_eq!(page1.remaining, Some(3));

    // A write between pages is invisible when later pages are read at the first page's revision.
    s.create("/configmaps/ns/k06", b("v6")).await.unwrap();
    s.delete("/configmaps/ns/k04", None).await.unwrap();
    let page2 = s
        .list(
            "/configmaps/ns/",
            Some("/configmaps/ns/k02"),
            2,
            page1.revision,
        )
        .await
        .unwrap();
    assert_eq!(
        keys(&page2.items),
        ["/configmaps/ns/k03", "/configmaps/ns/k04"]
    );
    assert!(page2.more);
    assert_eq!(page2.remaining, Some(1));
    assert_eq!(page2.revision, page1.revision);
    let page3 = s
        .list(
            "/configmaps/ns/",
            Some("/configmaps/ns/k04"),
            2,
            page1.revision,
        )
        .await
        .unwrap();
    assert_eq!(keys(&page3.items), ["/configmaps/ns/k05"]);
    assert!(!page3.more);
    assert_eq!(page3.remaining, Some(0));

    // At the current revision the new write shows.
    let now = s
        .list("/configmaps/ns/", Some("/configmaps/ns/k02"), 10, 0)
        .await
        .unwrap();
    assert_eq!(
        keys(&now.items),
        [
            "/configmaps/ns/k03",
            "/configmaps/ns/k05",
            "/configmaps/ns/k06"
        ]
    );
}

async fn list_at_an_older_revision_shows_the_past_state(s: Arc<dyn Backend>) {
    let _history = HISTORY.read().await;
    let gone = s.create("/pods/ns/gone", b("was here")).await.unwrap();
    let changed = s.create("/pods/ns/changed", b("old")).await.unwrap();
    let same = s.create("/pods/ns/same", b("same")).await.unwrap();
    let at = s.current_revision().await.unwrap();

    s.delete("/pods/ns/gone", None).await.unwrap();
    s.update("/pods/ns/changed", b("new"), changed.mod_revision)
        .await
        .unwrap();
    s.create("/pods/ns/later", b("later")).await.unwrap();
    // Deleted and re-created after `at`: shows its value from before.
    s.create("/pods/ns/gone", b("reborn")).await.unwrap();

    let past = s.list("/pods/ns/", None, 0, at).await.unwrap();
    assert_eq!(past.revision, at);
    assert_eq!(
        past.items,
        vec![changed.clone(), gone.clone(), same.clone()]
    );

    let now = s.list("/pods/ns/", None, 0, 0).await.unwrap();
    assert_eq!(
        keys(&now.items),
        [
            "/pods/ns/changed",
            "/pods/ns/gone",
            "/pods/ns/later",
            "/pods/ns/same"
        ]
    );
    assert_eq!(now.items[0].value, b("new"));
    assert_eq!(now.items[1].value, b("reborn"));
}

async fn list_at_a_compacted_revision_fails_with_compacted(s: Arc<dyn Backend>) {
    let _history = HISTORY.write().await;
    let first = s.create("/pods/ns/a", b("1")).await.unwrap();
    let second = s
        .update("/pods/ns/a", b("2"), first.mod_revision)
        .await
        .unwrap();
    s.update("/pods/ns/a", b("3"), second.mod_revision)
        .await
        .unwrap();
    let now = s.current_revision().await.unwrap();
    s.compact(now).await.unwrap();
    match s.list("/pods/ns/", None, 0, first.mod_revision).await {
        Err(StorageError::Compacted { requested, .. }) => {
            assert_eq!(requested, first.mod_revision)
        }
        other => panic!("expected Compacted, got {other:?}"),
    }
    // The compacted revision itself is still readable.
    let at = s.list("/pods/ns/", None, 0, now).await.unwrap();
    assert_eq!(at.items.len(), 1);
    assert_eq!(at.items[0].value, b("3"));
}

async fn list_at_a_future_revision_fails_with_future_revision(s: Arc<dyn Backend>) {
    s.create("/pods/ns/a", b("1")).await.unwrap();
    let now = s.current_revision().await.unwrap();
    match s.list("/pods/ns/", None, 0, now + 1_000_000).await {
        Err(StorageError::FutureRevision { requested, current }) => {
            assert_eq!(requested, now + 1_000_000);
            assert!(current >= now);
        }
        other => panic!("expected FutureRevision, got {other:?}"),
    }
}

async fn watch_from_a_past_revision_replays_exactly_the_later_events_in_order(s: Arc<dyn Backend>) {
    let _history = HISTORY.read().await;
    let before = s.current_revision().await.unwrap();
    let a1 = s.create("/cm/ns/a", b("a1")).await.unwrap();
    s.create("/elsewhere/x", b("not watched")).await.unwrap();
    let a2 = s
        .update("/cm/ns/a", b("a2"), a1.mod_revision)
        .await
        .unwrap();
    let b1 = s.create("/cm/ns/b", b("b1")).await.unwrap();
    let a_del = s.delete("/cm/ns/a", None).await.unwrap();

    let mut w = s.watch("/cm/", before).await.unwrap();
    let e = next_event(&mut w).await;
    assert_eq!(
        e,
        WatchEvent {
            event_type: EventType::Created,
            kv: a1.clone(),
            prev: None
        }
    );
    let e = next_event(&mut w).await;
    assert_eq!(
        e,
        WatchEvent {
            event_type: EventType::Modified,
            kv: a2.clone(),
            prev: Some(a1.clone())
        }
    );
    let e = next_event(&mut w).await;
    assert_eq!(
        e,
        WatchEvent {
            event_type: EventType::Created,
            kv: b1.clone(),
            prev: None
        }
    );
    let e = next_event(&mut w).await;
    assert_eq!(e.event_type, EventType::Deleted);
    assert_eq!(e.kv.key, "/cm/ns/a");
    assert_eq!(e.kv.value, b("a2"));
    assert_eq!(e.kv.mod_revision, a_del.mod_revision);
    assert_eq!(e.revision(), a_del.mod_revision);
    assert_eq!(e.prev, Some(a2.clone()));
    assert_quiet(&mut w).await;

    // From the middle of the history: only what came after.
    let mut w = s.watch("/cm/", a2.mod_revision).await.unwrap();
    assert_eq!(next_event(&mut w).await.kv, b1);
    assert_eq!(next_event(&mut w).await.revision(), a_del.mod_revision);
    assert_quiet(&mut w).await;
}

async fn watch_resumes_from_last_seen_revision(s: Arc<dyn Backend>) {
    let _history = HISTORY.read().await;
    let start = s.current_revision().await.unwrap();
    let mut w = s.watch("/nodes/", start).await.unwrap();
    let n1 = s.create("/nodes/n1", b("1")).await.unwrap();
    let n2 = s.create("/nodes/n2", b("2")).await.unwrap();
    assert_eq!(next_event(&mut w).await.kv, n1);
    let last_seen = next_event(&mut w).await;
    assert_eq!(last_seen.kv, n2);
    drop(w);

    // Missed while disconnected.
    let n1b = s
        .update("/nodes/n1", b("1b"), n1.mod_revision)
        .await
        .unwrap();
    let n3 = s.create("/nodes/n3", b("3")).await.unwrap();

    let mut w = s.watch("/nodes/", last_seen.revision()).await.unwrap();
    let e = next_event(&mut w).await;
    assert_eq!(e.event_type, EventType::Modified);
    assert_eq!(e.kv, n1b);
    assert_eq!(e.prev, Some(n1));
    assert_eq!(next_event(&mut w).await.kv, n3);
    // And it continues live.
    let n4 = s.create("/nodes/n4", b("4")).await.unwrap();
    assert_eq!(next_event(&mut w).await.kv, n4);
    assert_quiet(&mut w).await;
}

async fn watch_from_a_compacted_revision_fails_with_compacted(s: Arc<dyn Backend>) {
    let _history = HISTORY.write().await;
    let before = s.current_revision().await.unwrap();
    let a = s.create("/cm/ns/a", b("1")).await.unwrap();
    let a = s.update("/cm/ns/a", b("2"), a.mod_revision).await.unwrap();
    s.update("/cm/ns/a", b("3"), a.mod_revision).await.unwrap();
    let now = s.current_revision().await.unwrap();
    s.compact(now).await.unwrap();
    match s.watch("/cm/", before).await {
        Err(StorageError::Compacted { requested, .. }) => assert_eq!(requested, before),
        Err(other) => panic!("expected Compacted, got {other}"),
        Ok(mut stream) => {
            match tokio::time::timeout(Duration::from_secs(10), stream.next()).await {
                Ok(Some(Err(StorageError::Compacted {
                    requested,
                    compacted,
                }))) => {
                    assert_eq!(requested, before);
                    assert!(compacted >= now);
                }
                other => panic!("expected a Compacted stream error, got {other:?}"),
            }
        }
    }
    // Watching from the compacted revision itself works.
    let mut w = s.watch("/cm/", now).await.unwrap();
    let later = s.create("/cm/ns/b", b("b")).await.unwrap();
    assert_eq!(next_event(&mut w).await.kv, later);
}

async fn watch_delivers_live_events_under_its_prefix_only(s: Arc<dyn Backend>) {
    let _history = HISTORY.read().await;
    let now = s.current_revision().await.unwrap();
    let mut w = s.watch("/services/ns/", now).await.unwrap();
    s.create("/services/ns2/x", b("no")).await.unwrap();
    s.create("/services/other", b("no")).await.unwrap();
    let created = s.create("/services/ns/svc", b("yes")).await.unwrap();
    let updated = s
        .update("/services/ns/svc", b("yes2"), created.mod_revision)
        .await
        .unwrap();
    let deleted = s
        .delete("/services/ns/svc", Some(updated.mod_revision))
        .await
        .unwrap();

    let e = next_event(&mut w).await;
    assert_eq!((e.event_type, e.kv), (EventType::Created, created.clone()));
    let e = next_event(&mut w).await;
    assert_eq!(
        (e.event_type, e.kv, e.prev),
        (EventType::Modified, updated.clone(), Some(created))
    );
    let e = next_event(&mut w).await;
    assert_eq!(
        (e.event_type, e.kv, e.prev),
        (EventType::Deleted, deleted, Some(updated))
    );
    assert_quiet(&mut w).await;
}

async fn a_watch_with_a_progress_schedule_yields_progress_after_the_changes_before_it(
    s: Arc<dyn Backend>,
) {
    let _history = HISTORY.read().await;
    let now = s.current_revision().await.unwrap();
    let options = WatchOptions {
        progress: Some(ProgressSchedule {
            every: Duration::from_millis(200),
            deadline: None,
        }),
        ..Default::default()
    };
    let mut w = s.watch_with("/services/ns/", now, &options).await.unwrap();
    let first = s.create("/services/ns/a", b("1")).await.unwrap();
    let second = s.create("/services/ns/b", b("2")).await.unwrap();
    let mut changes = Vec::new();
    let progress = loop {
        let e = next_event(&mut w).await;
        if e.event_type != EventType::Progress {
            changes.push(e.kv);
            continue;
        }
        // Progress never claims a revision whose change has not been yielded yet.
        let at = e.revision();
        assert!(at >= changes.last().map_or(now, |kv| kv.mod_revision));
        if at >= second.mod_revision {
            break at;
        }
    };
    assert_eq!(changes, [first, second]);
    // Progress keeps coming while nothing changes, never going back.
    let e = next_event(&mut w).await;
    assert_eq!(e.event_type, EventType::Progress);
    assert!(e.revision() >= progress);
}

async fn guaranteed_update_retries_on_concurrent_conflicts(s: Arc<dyn Backend>) {
    let key = "/counters/c";
    let increment = |s: Arc<dyn Backend>| async move {
        for _ in 0..50 {
            guaranteed_update::<StorageError, _>(s.as_ref(), key, |current| {
                let n: u64 = current
                    .map(|kv| std::str::from_utf8(&kv.value).unwrap().parse().unwrap())
                    .unwrap_or(0);
                Ok(b(&(n + 1).to_string()))
            })
            .await
            .unwrap();
        }
    };
    let one = tokio::spawn(increment(s.clone()));
    let two = tokio::spawn(increment(s.clone()));
    one.await.unwrap();
    two.await.unwrap();
    let (kv, _) = s.get(key).await.unwrap();
    assert_eq!(kv.unwrap().value, b("100"));
}

async fn guaranteed_update_does_not_write_identical_bytes(s: Arc<dyn Backend>) {
    let created = s.create("/cm/ns/same", b("same")).await.unwrap();
    let before = s.current_revision().await.unwrap();
    let outcome =
        guaranteed_update::<StorageError, _>(s.as_ref(), "/cm/ns/same", |_| Ok(b("same")))
            .await
            .unwrap();
    assert!(!outcome.written);
    assert_eq!(outcome.kv, created);
    assert_eq!(s.get("/cm/ns/same").await.unwrap().0, Some(created));
    // etcd's revision is shared with other tests, so only the embedded store can promise that
    // nothing at all was written; for both, the key itself is untouched.
    assert!(s.current_revision().await.unwrap() >= before);

    let outcome =
        guaranteed_update::<StorageError, _>(s.as_ref(), "/cm/ns/same", |_| Ok(b("different")))
            .await
            .unwrap();
    assert!(outcome.written);
    assert_eq!(outcome.kv.value, b("different"));
    assert_eq!(outcome.previous.unwrap().value, b("same"));
}

async fn compaction_keeps_the_latest_value_of_every_live_key_readable(s: Arc<dyn Backend>) {
    let _history = HISTORY.write().await;
    // A mix of histories: updated twice, created and deleted, deleted and re-created,
    // untouched, and one updated after the compaction point.
    let a = s.create("/cm/ns/a", b("a1")).await.unwrap();
    let a = s.update("/cm/ns/a", b("a2"), a.mod_revision).await.unwrap();
    s.update("/cm/ns/a", b("a3"), a.mod_revision).await.unwrap();
    s.create("/cm/ns/b", b("b1")).await.unwrap();
    s.delete("/cm/ns/b", None).await.unwrap();
    s.create("/cm/ns/c", b("c1")).await.unwrap();
    s.delete("/cm/ns/c", None).await.unwrap();
    s.create("/cm/ns/c", b("c2")).await.unwrap();
    s.create("/cm/ns/d", b("d1")).await.unwrap();
    let e = s.create("/cm/ns/e", b("e1")).await.unwrap();
    let f = s.create("/cm/ns/f", b("f1")).await.unwrap();

    let point = s.current_revision().await.unwrap();
    let state_at_point = s.list("/cm/", None, 0, point).await.unwrap();
    assert_eq!(state_at_point.revision, point);

    // Changes after the compaction point stay in history.
    let e2 = s.update("/cm/ns/e", b("e2"), e.mod_revision).await.unwrap();
    let f_del = s.delete("/cm/ns/f", None).await.unwrap();
    let g = s.create("/cm/ns/g", b("g1")).await.unwrap();

    s.compact(point).await.unwrap();

    // The state at the compacted revision is intact ...
    let at_point = s.list("/cm/", None, 0, point).await.unwrap();
    assert_eq!(at_point.items, state_at_point.items);
    assert_eq!(
        at_point
            .items
            .iter()
            .map(|kv| (kv.key.as_str(), kv.value.clone()))
            .collect::<Vec<_>>(),
        vec![
            ("/cm/ns/a", b("a3")),
            ("/cm/ns/c", b("c2")),
            ("/cm/ns/d", b("d1")),
            ("/cm/ns/e", b("e1")),
            ("/cm/ns/f", b("f1")),
        ]
    );
    // ... so is the current state ...
    let now = s.list("/cm/", None, 0, 0).await.unwrap();
    assert_eq!(
        keys(&now.items),
        ["/cm/ns/a", "/cm/ns/c", "/cm/ns/d", "/cm/ns/e", "/cm/ns/g"]
    );
    for kv in &now.items {
        assert_eq!(s.get(&kv.key).await.unwrap().0.as_ref(), Some(kv));
    }
    // ... and so are the later events, with their previous values.
    let mut w = s.watch("/cm/", point).await.unwrap();
    let ev = next_event(&mut w).await;
    assert_eq!((ev.kv, ev.prev), (e2, Some(e)));
    let ev = next_event(&mut w).await;
    assert_eq!(ev.event_type, EventType::Deleted);
    assert_eq!((ev.kv, ev.prev), (f_del, Some(f)));
    assert_eq!(next_event(&mut w).await.kv, g);
    assert_quiet(&mut w).await;

    // Compacting everything keeps every live key.
    let last = s.current_revision().await.unwrap();
    s.compact(last).await.unwrap();
    let after = s.list("/cm/", None, 0, 0).await.unwrap();
    assert_eq!(after.items, now.items);
    assert_eq!(
        s.list("/cm/", None, 0, last).await.unwrap().items,
        now.items
    );
}

async fn compaction_below_the_compacted_revision_is_a_noop_and_above_current_fails(
    s: Arc<dyn Backend>,
) {
    let _history = HISTORY.write().await;
    let a = s.create("/cm/ns/a", b("1")).await.unwrap();
    s.update("/cm/ns/a", b("2"), a.mod_revision).await.unwrap();
    let now = s.current_revision().await.unwrap();
    s.compact(now).await.unwrap();
    s.compact(now).await.unwrap();
    s.compact(now - 1).await.unwrap();
    match s.compact(now + 1_000_000).await {
        Err(StorageError::FutureRevision { requested, .. }) => {
            assert_eq!(requested, now + 1_000_000)
        }
        other => panic!("expected FutureRevision, got {other:?}"),
    }
    assert_eq!(s.get("/cm/ns/a").await.unwrap().0.unwrap().value, b("2"));
}

async fn revisions_strictly_increase(s: Arc<dyn Backend>) {
    let mut last = s.current_revision().await.unwrap();
    let mut step = |rev: i64| {
        assert!(rev > last, "revision {rev} not after {last}");
        last = rev;
    };
    let a = s.create("/r/a", b("1")).await.unwrap();
    step(a.mod_revision);
    let bb = s.create("/r/b", b("1")).await.unwrap();
    step(bb.mod_revision);
    let a = s.update("/r/a", b("2"), a.mod_revision).await.unwrap();
    step(a.mod_revision);
    let d = s.delete("/r/b", None).await.unwrap();
    step(d.mod_revision);
    let bb = s.create("/r/b", b("again")).await.unwrap();
    step(bb.mod_revision);
    assert_eq!(bb.create_revision, bb.mod_revision);
    // Failed writes do not consume a revision of their own.
    let _ = s.create("/r/a", b("dup")).await.unwrap_err();
    let now = s.current_revision().await.unwrap();
    assert!(now >= last);
    let (_, rev) = s.get("/r/a").await.unwrap();
    assert!(rev >= last);
}

// ---------------------------------------------------------------------------------------------
// Embedded only

mod embedded_only {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn embedded_data_and_history_survive_drop_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("den.redb");
        let (a, a2, gone, rev) = {
            let s = EmbeddedBackend::open(&path).unwrap();
            let a = s.create("/cm/ns/a", b("1")).await.unwrap();
            let a2 = s.update("/cm/ns/a", b("2"), a.mod_revision).await.unwrap();
            let gone = s.create("/cm/ns/gone", b("x")).await.unwrap();
            s.delete("/cm/ns/gone", None).await.unwrap();
            (a, a2, gone, s.current_revision().await.unwrap())
        };
        let s = EmbeddedBackend::open(&path).unwrap();
        assert_eq!(s.current_revision().await.unwrap(), rev);
        assert_eq!(s.get("/cm/ns/a").await.unwrap().0, Some(a2.clone()));
        assert_eq!(s.get("/cm/ns/gone").await.unwrap().0, None);
        let past = s.list("/cm/", None, 0, gone.mod_revision).await.unwrap();
        assert_eq!(past.items, vec![a2.clone(), gone]);
        let mut w = s.watch("/cm/", a.mod_revision).await.unwrap();
        assert_eq!(next_event(&mut w).await.kv, a2);
        // Writing continues from the stored revision.
        let c = s.create("/cm/ns/c", b("c")).await.unwrap();
        assert_eq!(c.mod_revision, rev + 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn embedded_concurrent_creates_all_succeed_with_distinct_revisions() {
        let dir = tempfile::tempdir().unwrap();
        let s: Arc<dyn Backend> = Arc::new(EmbeddedBackend::open(&dir.path().join("db")).unwrap());
        let started = std::time::Instant::now();
        let tasks: Vec<_> = (0..200)
            .map(|i| {
                let s = s.clone();
                tokio::spawn(async move { s.create(&format!("/k/{i:03}"), b("v")).await })
            })
            .collect();
        let mut revs = Vec::new();
        for t in tasks {
            revs.push(t.await.unwrap().unwrap().mod_revision);
        }
        println!("200 concurrent creates took {:?}", started.elapsed());
        revs.sort_unstable();
        revs.dedup();
        assert_eq!(revs.len(), 200);
        assert_eq!(revs, (1..=200).collect::<Vec<i64>>());
        assert_eq!(s.list("/k/", None, 0, 0).await.unwrap().items.len(), 200);
        // Same key from many writers: exactly one wins.
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let s = s.clone();
                tokio::spawn(async move { s.create("/k/contended", b("v")).await })
            })
            .collect();
        let mut wins = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(_) => wins += 1,
                Err(StorageError::AlreadyExists { .. }) => {}
                Err(e) => panic!("unexpected {e}"),
            }
        }
        assert_eq!(wins, 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn compactor_compacts_to_the_revision_seen_one_interval_earlier() {
        let dir = tempfile::tempdir().unwrap();
        let s: Arc<dyn Backend> = Arc::new(EmbeddedBackend::open(&dir.path().join("db")).unwrap());
        let first = s.create("/cm/a", b("1")).await.unwrap();
        let second = s.update("/cm/a", b("2"), first.mod_revision).await.unwrap();
        let interval = Duration::from_millis(300);
        let compactor = den_storage::compactor::spawn_compactor(s.clone(), interval);
        // Tick 0 (at once) observes `second`; nothing is compacted before tick 1.
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(s.list("/cm/", None, 0, first.mod_revision).await.is_ok());
        let third = s
            .update("/cm/a", b("3"), second.mod_revision)
            .await
            .unwrap();
        // Tick 1 compacts to `second` and observes `third`.
        tokio::time::sleep(interval).await;
        match s.list("/cm/", None, 0, first.mod_revision).await {
            Err(StorageError::Compacted { compacted, .. }) => {
                assert_eq!(compacted, second.mod_revision)
            }
            other => panic!("expected Compacted, got {other:?}"),
        }
        // One interval of history is kept: the revision between the ticks is still readable.
        let kept = s.list("/cm/", None, 0, second.mod_revision).await.unwrap();
        assert_eq!(kept.items, vec![second]);
        assert_eq!(s.get("/cm/a").await.unwrap().0, Some(third));
        compactor.abort();
    }

    #[tokio::test]
    async fn embedded_open_fails_clearly_when_the_directory_is_unusable() {
        let dir = tempfile::tempdir().unwrap();
        // A regular file where a directory should be: no permission trick, so it fails as root too.
        let blocker = dir.path().join("not-a-dir");
        std::fs::write(&blocker, b"x").unwrap();
        let path = blocker.join("den.redb");
        match EmbeddedBackend::open(&path) {
            Err(StorageError::Unavailable(msg)) => {
                assert!(msg.contains(&path.display().to_string()), "{msg}")
            }
            other => panic!("expected Unavailable, got {other:?}"),
        }
    }

    /// Child mode of the kill -9 test: write forever, printing each acknowledged key.
    fn kill9_child(path: &str) {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let s: Arc<dyn Backend> = Arc::new(EmbeddedBackend::open(path.as_ref()).unwrap());
            let mut i = 0u64;
            // Safety net: never outlive a parent that failed to kill us by much.
            let deadline = std::time::Instant::now() + Duration::from_secs(60);
            while std::time::Instant::now() < deadline {
                // A few concurrent writers so group commit is exercised too.
                let batch: Vec<_> = (0..4)
                    .map(|j| {
                        let s = s.clone();
                        let n = i * 4 + j;
                        tokio::spawn(async move {
                            s.create(&format!("/k/{n:08}"), b(&n.to_string()))
                                .await
                                .map(|_| n)
                        })
                    })
                    .collect();
                for t in batch {
                    let n = t.await.unwrap().unwrap();
                    println!("acked {n}");
                }
                i += 1;
            }
        });
    }

    #[test]
    fn embedded_acknowledged_writes_survive_kill_9() {
        use std::io::BufRead;
        if let Ok(path) = std::env::var("DEN_STORAGE_KILL9_CHILD") {
            kill9_child(&path);
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("den.redb");
        /// Kills the child even when an assertion below panics.
        struct KillOnDrop(std::process::Child);
        impl Drop for KillOnDrop {
            fn drop(&mut self) {
                let _ = self.0.kill();
                let _ = self.0.wait();
            }
        }
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "embedded_only::embedded_acknowledged_writes_survive_kill_9",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("DEN_STORAGE_KILL9_CHILD", &path)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut child = KillOnDrop(child);
        let mut acked = Vec::new();
        for line in std::io::BufReader::new(stdout).lines() {
            let line = line.unwrap();
            if let Some(n) = line.strip_prefix("acked ") {
                acked.push(n.parse::<u64>().unwrap());
                if acked.len() >= 200 {
                    break;
                }
            }
        }
        child.0.kill().unwrap(); // SIGKILL
        child.0.wait().unwrap();
        assert!(acked.len() >= 200, "child stopped early");

        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let s = EmbeddedBackend::open(&path).unwrap();
            for n in &acked {
                let (kv, _) = s.get(&format!("/k/{n:08}")).await.unwrap();
                assert_eq!(
                    kv.map(|kv| kv.value),
                    Some(b(&n.to_string())),
                    "key {n} lost"
                );
            }
            // The store is usable after the crash.
            s.create("/after-crash", b("ok")).await.unwrap();
        });
    }
}

// ---------------------------------------------------------------------------------------------
// etcd only

mod etcd_only {
    use super::*;

    #[tokio::test]
    async fn etcd_connect_fails_fast_when_etcd_is_unreachable() {
        let endpoints = vec!["http://127.0.0.1:1".to_owned()];
        let started = std::time::Instant::now();
        match EtcdBackend::connect(&endpoints, "/registry").await {
            Err(StorageError::Unavailable(msg)) => {
                assert!(msg.contains("127.0.0.1:1"), "{msg}")
            }
            other => panic!("expected Unavailable, got {other:?}"),
        }
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[tokio::test]
    async fn etcd_keys_are_stored_under_the_prefix() {
        let Some(servers) = etcd_servers() else {
            println!("skipped: DEN_ETCD_SERVERS is not set, so the etcd variant does not run");
            return;
        };
        let prefix = format!("/{}", unique("den-test"));
        let s = EtcdBackend::connect(&servers, &prefix).await.unwrap();
        s.create("/configmaps/default/x", b("v")).await.unwrap();
        let mut raw = etcd_client::Client::connect(&servers, None).await.unwrap();
        let resp = raw
            .get(format!("{prefix}/configmaps/default/x"), None)
            .await
            .unwrap();
        assert_eq!(resp.kvs().len(), 1);
        assert_eq!(resp.kvs()[0].value(), b"v");
    }
}
