//! Den keeps what it acknowledged: through `kill -9`, and for watchers through a restart.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Backend, Den, skip};
use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams, ObjectMeta, PostParams};
use kube::runtime::watcher;

fn configmap(name: &str) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        data: Some([("n".to_string(), name.to_string())].into()),
        ..Default::default()
    }
}

async fn acknowledged_creates_survive_kill_9(backend: Backend) {
    if skip(backend) {
        return;
    }
    let mut den = Den::start(backend);
    let api: Api<ConfigMap> = Api::namespaced(den.client().await, "default");
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let mut writers = Vec::new();
    for writer in 0..8 {
        let api = api.clone();
        let acknowledged = acknowledged.clone();
        writers.push(tokio::spawn(async move {
            for i in 0.. {
                let name = format!("w{writer}-{i}");
                if api
                    .create(&PostParams::default(), &configmap(&name))
                    .await
                    .is_err()
                {
                    return;
                }
                acknowledged.lock().unwrap().push(name);
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    den.kill();
    for w in writers {
        let _ = w.await;
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(
        acknowledged.len() > 50,
        "only {} creates were acknowledged",
        acknowledged.len()
    );

    den.spawn();
    let api: Api<ConfigMap> = Api::namespaced(den.client().await, "default");
    let stored: std::collections::HashSet<String> = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|cm| cm.metadata.name)
        .collect();
    let lost: Vec<&String> = acknowledged
        .iter()
        .filter(|n| !stored.contains(*n))
        .collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged creates were lost: {lost:?}",
        lost.len(),
        acknowledged.len()
    );
    eprintln!(
        "{} acknowledged creates all survived kill -9",
        acknowledged.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_creates_survive_kill_9_on_the_embedded_store() {
    acknowledged_creates_survive_kill_9(Backend::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_creates_survive_kill_9_on_etcd() {
    acknowledged_creates_survive_kill_9(Backend::Etcd).await;
}

/// Counts, per configmap name, how often a watcher reported it added or changed.
async fn watcher_sees_each_change_once_through_a_restart(backend: Backend) {
    if skip(backend) {
        return;
    }
    let mut den = Den::start(backend);
    let client = den.client().await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    for i in 0..5 {
        api.create(&PostParams::default(), &configmap(&format!("before-{i}")))
            .await
            .unwrap();
    }

    let seen: Arc<Mutex<BTreeMap<String, Vec<String>>>> = Arc::default();
    let watch_seen = seen.clone();
    let watch_api = api.clone();
    let watching = tokio::spawn(async move {
        let config = watcher::Config::default();
        let mut stream = watcher(watch_api, config).boxed();
        while let Some(event) = stream.next().await {
            let Ok(event) = event else { continue };
            let (objects, kind) = match event {
                watcher::Event::Apply(cm) => (vec![cm], "apply"),
                watcher::Event::InitApply(cm) => (vec![cm], "init"),
                watcher::Event::Delete(cm) => (vec![cm], "delete"),
                watcher::Event::Init | watcher::Event::InitDone => (vec![], ""),
            };
            for cm in objects {
                let name = cm.metadata.name.clone().unwrap_or_default();
                let rv = cm.metadata.resource_version.clone().unwrap_or_default();
                watch_seen
                    .lock()
                    .unwrap()
                    .entry(name)
                    .or_default()
                    .push(format!("{kind}@{rv}"));
            }
        }
    });
    let wait_for = |names: Vec<String>| {
        let seen = seen.clone();
        async move {
            for _ in 0..200 {
                if names.iter().all(|n| seen.lock().unwrap().contains_key(n)) {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            panic!("watcher never saw {names:?}: {:?}", seen.lock().unwrap());
        }
    };
    wait_for((0..5).map(|i| format!("before-{i}")).collect()).await;
    api.create(&PostParams::default(), &configmap("during"))
        .await
        .unwrap();
    wait_for(vec!["during".into()]).await;

    den.kill();
    den.spawn();
    let api: Api<ConfigMap> = Api::namespaced(den.client().await, "default");
    for i in 0..5 {
        api.create(&PostParams::default(), &configmap(&format!("after-{i}")))
            .await
            .unwrap();
    }
    wait_for((0..5).map(|i| format!("after-{i}")).collect()).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    watching.abort();

    let seen = seen.lock().unwrap();
    for (name, events) in seen.iter() {
        if name == "kube-root-ca.crt" {
            continue;
        }
        assert_eq!(
            events.len(),
            1,
            "{name} was reported {events:?}: a restart must neither lose nor repeat events"
        );
    }
    assert_eq!(seen.keys().filter(|n| n.starts_with("after-")).count(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watcher_sees_each_change_once_through_a_restart_on_the_embedded_store() {
    watcher_sees_each_change_once_through_a_restart(Backend::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watcher_sees_each_change_once_through_a_restart_on_etcd() {
    watcher_sees_each_change_once_through_a_restart(Backend::Etcd).await;
}

#[test]
fn etcdctl_shows_den_objects_under_upstreams_key_layout() {
    if skip(Backend::Etcd) {
        return;
    }
    let den = Den::start(Backend::Etcd);
    let kubectl = common::kubectl_binary("1.27");
    common::ok(den.kubectl(
        &kubectl,
        &["create", "configmap", "visible", "--from-literal=a=b"],
    ));
    let out = std::process::Command::new("etcdctl")
        .env("ETCDCTL_API", "3")
        .args([
            "--endpoints",
            &common::etcd_servers().unwrap(),
            "get",
            "--prefix",
            "--keys-only",
        ])
        .arg(format!("{}/", den.etcd_prefix()))
        .output()
        .expect("etcdctl runs");
    let keys = String::from_utf8_lossy(&out.stdout);
    assert!(
        keys.contains(&format!("{}/configmaps/default/visible", den.etcd_prefix())),
        "{keys}"
    );
    let prefix = den.etcd_prefix();
    for key in ["namespaces/default", "services/specs/default/kubernetes"] {
        let full = format!("{prefix}/{key}");
        assert!(
            keys.lines().any(|l| l == full),
            "{key} missing from:\n{keys}"
        );
    }
}
