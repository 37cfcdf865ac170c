//! API semantics through `kube::Client`: reads and watches at revisions, selectors,
//! finalizers, preconditions, dry runs, limits and authentication — on both stores.

mod common;

use std::time::Duration;

use common::{Backend, Den, skip};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{
    Api, DeleteParams, ListParams, ObjectMeta, Patch, PatchParams, PostParams, Preconditions,
    WatchEvent, WatchParams,
};
use serde_json::json;

fn configmap(name: &str, labels: &[(&str, &str)]) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: Some(
                labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            ..Default::default()
        },
        data: Some([("v".to_string(), "1".to_string())].into()),
        ..Default::default()
    }
}

fn api_error(err: kube::Error) -> kube::core::Status {
    match err {
        kube::Error::Api(status) => *status,
        other => panic!("expected an API error, got {other:?}"),
    }
}

async fn start(backend: Backend, args: &[&str]) -> Option<(Den, Api<ConfigMap>)> {
    if skip(backend) {
        return None;
    }
    let den = Den::start_with(backend, args);
    let api = Api::namespaced(den.client().await, "default");
    Some((den, api))
}

/// Instantiates each async scenario on both stores.
macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        mod embedded { $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $name() { super::$name(super::Backend::Embedded).await } )* }
        mod etcd { $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $name() { super::$name(super::Backend::Etcd).await } )* }
    };
}

on_both_stores!(
    a_label_filtered_watch_sees_deleted_when_an_object_stops_matching,
    watch_and_continue_from_a_compacted_revision_get_410_expired,
    send_initial_events_ends_with_the_initial_events_end_bookmark,
    a_watch_allowing_bookmarks_gets_one_at_a_fresh_revision_before_its_deadline,
    watches_by_node_and_by_name_see_only_their_pods,
    exact_resource_version_lists_read_the_past,
    finalizers_hold_deletion_until_the_last_one_goes,
    preconditions_and_stale_updates_conflict,
    dry_run_writes_nothing,
    oversized_objects_and_bodies_are_rejected,
    generate_name_makes_unique_names,
    apply_needs_a_field_manager_and_force_is_for_apply_only,
    the_scale_subresource_is_applied_as_the_parents_replicas,
    metadata_only_reads_get_partial_object_metadata,
    eviction_respects_the_disruption_budget,
);

async fn eviction_respects_the_disruption_budget(backend: Backend) {
    use k8s_openapi::api::core::v1::Pod;
    use k8s_openapi::api::policy::v1::PodDisruptionBudget;
    use kube::api::EvictParams;
    let Some((den, _)) = start(backend, &[]).await else {
        return;
    };
    let client = den.client().await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let budgets: Api<PodDisruptionBudget> = Api::namespaced(client, "default");
    for name in ["pending", "running"] {
        let pod = serde_json::from_value(json!({
            "metadata": {"name": name, "labels": {"app": "db"}},
            "spec": {"containers": [{"name": "c", "image": "db"}]}
        }))
        .unwrap();
        pods.create(&PostParams::default(), &pod).await.unwrap();
    }
    pods.patch_status(
        "running",
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {"phase": "Running"}})),
    )
    .await
    .unwrap();
    let budget = serde_json::from_value(json!({
        "metadata": {"name": "db"},
        "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "db"}}}
    }))
    .unwrap();
    budgets
        .create(&PostParams::default(), &budget)
        .await
        .unwrap();
    let set_allowed = async |allowed: i64| {
        let status = json!({"status": {"observedGeneration": 1, "disruptionsAllowed": allowed,
            "currentHealthy": 1, "desiredHealthy": 1, "expectedPods": 1}});
        budgets
            .patch_status("db", &PatchParams::default(), &Patch::Merge(status))
            .await
            .unwrap();
    };
    set_allowed(0).await;
    // A pending pod is evicted whatever its budget says.
    pods.evict("pending", &EvictParams::default())
        .await
        .unwrap();
    assert_eq!(api_error(pods.get("pending").await.unwrap_err()).code, 404);
    // A running pod needs a disruption its budget allows.
    let status = api_error(
        pods.evict("running", &EvictParams::default())
            .await
            .unwrap_err(),
    );
    assert_eq!(status.code, 429);
    assert_eq!(
        status.message,
        "Cannot evict pod as it would violate the pod's disruption budget."
    );
    assert!(pods.get("running").await.is_ok());
    set_allowed(1).await;
    pods.evict("running", &EvictParams::default())
        .await
        .unwrap();
    assert_eq!(api_error(pods.get("running").await.unwrap_err()).code, 404);
    let budget = budgets.get_status("db").await.unwrap();
    let status = budget.status.unwrap();
    assert_eq!(status.disruptions_allowed, 0);
    assert!(status.disrupted_pods.unwrap().contains_key("running"));
}

async fn metadata_only_reads_get_partial_object_metadata(backend: Backend) {
    let Some((_den, api)) = start(backend, &[]).await else {
        return;
    };
    api.create(&PostParams::default(), &configmap("meta", &[("a", "b")]))
        .await
        .unwrap();
    let got = api.get_metadata("meta").await.unwrap();
    assert_eq!(got.types.as_ref().unwrap().kind, "PartialObjectMetadata");
    assert_eq!(got.metadata.labels.unwrap()["a"], "b");
    let list = api
        .list_metadata(&ListParams::default().labels("a=b"))
        .await
        .unwrap();
    assert_eq!(list.items.len(), 1);
    assert_eq!(list.types.kind, "PartialObjectMetadataList");
    assert_eq!(list.items[0].metadata.name.as_deref(), Some("meta"));
    let mut events = api
        .watch_metadata(&WatchParams::default().labels("a=b"), "0")
        .await
        .unwrap()
        .boxed();
    match events.try_next().await.unwrap() {
        Some(WatchEvent::Added(obj)) => {
            assert_eq!(obj.types.unwrap().kind, "PartialObjectMetadata");
            assert_eq!(obj.metadata.name.as_deref(), Some("meta"));
        }
        other => panic!("expected the object's metadata, got {other:?}"),
    }
}

async fn the_scale_subresource_is_applied_as_the_parents_replicas(backend: Backend) {
    use k8s_openapi::api::apps::v1::Deployment;
    let Some((den, _)) = start(backend, &[]).await else {
        return;
    };
    let deployments: Api<Deployment> = Api::namespaced(den.client().await, "default");
    let deployment = json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                         "spec": {"containers": [{"name": "c", "image": "nginx"}]}}
        }
    });
    deployments
        .patch(
            "web",
            &PatchParams::apply("deployer"),
            &Patch::Apply(&deployment),
        )
        .await
        .unwrap();
    let scale = json!({"apiVersion": "autoscaling/v1", "kind": "Scale", "spec": {"replicas": 4}});
    // The deployer owns the replicas: a scaler must force.
    let err = deployments
        .patch_scale(
            "web",
            &PatchParams::apply("autoscaler"),
            &Patch::Apply(&scale),
        )
        .await
        .unwrap_err();
    assert_eq!(
        api_error(err).message,
        "Apply failed with 1 conflict: conflict with \"deployer\": .spec.replicas"
    );
    let scaled = deployments
        .patch_scale(
            "web",
            &PatchParams::apply("autoscaler").force(),
            &Patch::Apply(&scale),
        )
        .await
        .unwrap();
    assert_eq!(scaled.spec.unwrap().replicas, Some(4));
    let web = deployments.get("web").await.unwrap();
    assert_eq!(web.spec.as_ref().unwrap().replicas, Some(4));
    let entries = web.metadata.managed_fields.unwrap();
    let scaler = entries
        .iter()
        .find(|e| e.manager.as_deref() == Some("autoscaler"))
        .expect("the scaler's entry");
    assert_eq!(scaler.operation.as_deref(), Some("Apply"));
    assert_eq!(scaler.subresource.as_deref(), Some("scale"));
    assert_eq!(
        scaler.fields_v1.as_ref().unwrap().0,
        json!({"f:spec": {"f:replicas": {}}})
    );
    let deployer = entries
        .iter()
        .find(|e| e.manager.as_deref() == Some("deployer"))
        .unwrap();
    assert!(
        deployer.fields_v1.as_ref().unwrap().0["f:spec"]
            .get("f:replicas")
            .is_none()
    );
}

async fn apply_needs_a_field_manager_and_force_is_for_apply_only(backend: Backend) {
    let Some((den, api)) = start(backend, &[]).await else {
        return;
    };
    let config = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "applied"}, "data": {"a": "1"}});
    let err = api
        .patch("applied", &PatchParams::default(), &Patch::Apply(&config))
        .await
        .unwrap_err();
    let status = api_error(err);
    assert_eq!(status.code, 422);
    assert_eq!(
        status.message,
        "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch"
    );
    let created = api
        .patch(
            "applied",
            &PatchParams::apply("tester"),
            &Patch::Apply(&config),
        )
        .await
        .unwrap();
    let entry = &created.metadata.managed_fields.unwrap()[0];
    assert_eq!(entry.manager.as_deref(), Some("tester"));
    assert_eq!(entry.operation.as_deref(), Some("Apply"));
    assert_eq!(
        entry.fields_v1.as_ref().unwrap().0,
        json!({"f:data": {"f:a": {}}})
    );
    // kube-rs refuses `force` without apply, so this request is built by hand.
    let forced_merge =
        http::Request::patch("/api/v1/namespaces/default/configmaps/applied?force=true")
            .header("Content-Type", "application/merge-patch+json")
            .body(br#"{"data":{"a":"2"}}"#.to_vec())
            .unwrap();
    let err = den
        .client()
        .await
        .request::<ConfigMap>(forced_merge)
        .await
        .unwrap_err();
    assert_eq!(
        api_error(err).message,
        "PatchOptions.meta.k8s.io \"\" is invalid: force: Forbidden: may not be specified for non-apply patch"
    );
    // A merge patch by another manager takes the field; the applier's entry keeps the rest.
    let patched = api
        .patch(
            "applied",
            &PatchParams {
                field_manager: Some("patcher".into()),
                ..Default::default()
            },
            &Patch::Merge(json!({"data": {"a": "2", "b": "3"}})),
        )
        .await
        .unwrap();
    let managers: Vec<_> = patched
        .metadata
        .managed_fields
        .unwrap()
        .into_iter()
        .map(|e| (e.manager.unwrap(), e.operation.unwrap()))
        .collect();
    assert_eq!(managers, [("patcher".to_string(), "Update".to_string())]);
}

async fn a_label_filtered_watch_sees_deleted_when_an_object_stops_matching(backend: Backend) {
    let Some((_den, api)) = start(backend, &[]).await else {
        return;
    };
    let created = api
        .create(
            &PostParams::default(),
            &configmap("moving", &[("tier", "web")]),
        )
        .await
        .unwrap();
    let rv = created.metadata.resource_version.clone().unwrap();
    let mut events = api
        .watch(&WatchParams::default().labels("tier=web"), &rv)
        .await
        .unwrap()
        .boxed();
    let patch = json!({"metadata": {"labels": {"tier": "db"}}});
    api.patch("moving", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    let event = tokio::time::timeout(Duration::from_secs(10), events.try_next())
        .await
        .unwrap()
        .unwrap();
    match event {
        Some(WatchEvent::Deleted(cm)) => {
            assert_eq!(cm.metadata.name.as_deref(), Some("moving"));
            assert_ne!(
                cm.metadata.resource_version.as_deref(),
                Some(rv.as_str()),
                "carries the new revision"
            );
        }
        other => panic!("expected DELETED, got {other:?}"),
    }
}

async fn watch_and_continue_from_a_compacted_revision_get_410_expired(backend: Backend) {
    let Some((_den, api)) = start(backend, &["--etcd-compaction-interval", "1s"]).await else {
        return;
    };
    for i in 0..3 {
        api.create(&PostParams::default(), &configmap(&format!("c{i}"), &[]))
            .await
            .unwrap();
    }
    let first_page = api.list(&ListParams::default().limit(1)).await.unwrap();
    let token = first_page
        .metadata
        .continue_
        .clone()
        .expect("a continue token");
    let old_rv = first_page.metadata.resource_version.clone().unwrap();
    // Write, then wait for two compaction ticks so the first page's revision is compacted.
    for i in 3..6 {
        api.create(&PostParams::default(), &configmap(&format!("c{i}"), &[]))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
    let err = api
        .list(&ListParams::default().limit(1).continue_token(&token))
        .await
        .unwrap_err();
    let status = api_error(err);
    assert_eq!(status.code, 410);
    assert_eq!(status.reason, "Expired");
    assert!(
        status
            .message
            .starts_with("The provided continue parameter is too old"),
        "{}",
        status.message
    );
    // The Status carries an inconsistent continue token: the rest of the list, read now.
    let inconsistent = status
        .metadata
        .and_then(|m| m.continue_)
        .expect("a continue token in the Status");
    let mut names = Vec::new();
    let mut params = ListParams::default().limit(2).continue_token(&inconsistent);
    loop {
        let page = api.list(&params).await.unwrap();
        assert_ne!(
            page.metadata.resource_version.as_deref(),
            Some(old_rv.as_str())
        );
        names.extend(
            page.items
                .iter()
                .map(|cm| cm.metadata.name.clone().unwrap()),
        );
        match page.metadata.continue_ {
            Some(next) if !next.is_empty() => params = params.continue_token(&next),
            _ => break,
        }
    }
    // (The root CA configmap may appear meanwhile: the list is inconsistent.)
    names.retain(|n| n != "kube-root-ca.crt");
    assert_eq!(names, ["c1", "c2", "c3", "c4", "c5"]);

    let mut events = api
        .watch(&WatchParams::default(), &old_rv)
        .await
        .unwrap()
        .boxed();
    match tokio::time::timeout(Duration::from_secs(10), events.try_next())
        .await
        .unwrap()
        .unwrap()
    {
        Some(WatchEvent::Error(e)) => {
            assert_eq!(e.code, 410);
            assert_eq!(e.reason, "Expired");
            assert!(
                e.message
                    .starts_with(&format!("too old resource version: {old_rv} (")),
                "{}",
                e.message
            );
        }
        other => panic!("expected a 410 ERROR event, got {other:?}"),
    }
}

async fn a_watch_allowing_bookmarks_gets_one_at_a_fresh_revision_before_its_deadline(
    backend: Backend,
) {
    let Some((den, api)) = start(backend, &[]).await else {
        return;
    };
    // A namespace of its own: its controllers add a service account and a configmap, no
    // secret, so a watch of its secrets sees no change.
    let client = den.client().await;
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    let ns = serde_json::from_value(json!({"metadata": {"name": "quiet"}})).unwrap();
    namespaces
        .create(&PostParams::default(), &ns)
        .await
        .unwrap();
    let quiet: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(client, "quiet");
    let start_rv = api
        .create(&PostParams::default(), &configmap("first", &[]))
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    // kube's WatchParams allow bookmarks; the watch ends after 4 s, its bookmark is due at 2 s.
    let mut events = quiet
        .watch(&WatchParams::default().timeout(4), &start_rv)
        .await
        .unwrap()
        .boxed();
    let began = std::time::Instant::now();
    let mut last_rv = start_rv.clone();
    for i in 0..5 {
        last_rv = api
            .create(
                &PostParams::default(),
                &configmap(&format!("elsewhere-{i}"), &[]),
            )
            .await
            .unwrap()
            .metadata
            .resource_version
            .unwrap();
    }
    let event = tokio::time::timeout(Duration::from_secs(10), events.try_next())
        .await
        .unwrap()
        .unwrap();
    let elapsed = began.elapsed();
    match event {
        Some(WatchEvent::Bookmark(b)) => {
            // The namespace saw no change, yet the bookmark moves on with the store.
            let rv: i64 = b.metadata.resource_version.parse().unwrap();
            assert!(
                rv >= last_rv.parse::<i64>().unwrap(),
                "bookmark at {rv}, last write at {last_rv}"
            );
        }
        other => panic!("expected a bookmark, got {other:?}"),
    }
    assert!(
        elapsed >= Duration::from_millis(1_500) && elapsed < Duration::from_millis(3_500),
        "bookmark after {elapsed:?}, due 2 s before the 4 s deadline"
    );
    // Then the watch ends at its deadline.
    let end = tokio::time::timeout(Duration::from_secs(10), events.try_next())
        .await
        .unwrap();
    assert!(matches!(end, Ok(None)), "{end:?}");
}

async fn watches_by_node_and_by_name_see_only_their_pods(backend: Backend) {
    use k8s_openapi::api::core::v1::Pod;
    let Some((den, _)) = start(backend, &[]).await else {
        return;
    };
    let pods: Api<Pod> = Api::namespaced(den.client().await, "default");
    let pod = |name: &str, node: Option<&str>| -> Pod {
        let mut spec = json!({"containers": [{"name": "c", "image": "busybox"}]});
        if let Some(node) = node {
            spec["nodeName"] = json!(node);
        }
        serde_json::from_value(json!({"metadata": {"name": name}, "spec": spec})).unwrap()
    };
    let rv = pods
        .create(&PostParams::default(), &pod("before", Some("node-a")))
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let watch = async |fields: &str| {
        pods.watch(&WatchParams::default().fields(fields), &rv)
            .await
            .unwrap()
            .boxed()
    };
    let mut node_a = watch("spec.nodeName=node-a").await;
    let mut unscheduled = watch("spec.nodeName=").await;
    let mut by_name = watch("metadata.name=b1").await;
    for (name, node) in [
        ("a1", Some("node-a")),
        ("b1", Some("node-b")),
        ("b10", Some("node-b")),
        ("pending", None),
        ("a2", Some("node-a")),
    ] {
        pods.create(&PostParams::default(), &pod(name, node))
            .await
            .unwrap();
    }
    for name in ["a1", "b1", "b10", "pending"] {
        pods.delete(name, &DeleteParams::default().grace_period(0))
            .await
            .unwrap();
    }
    async fn seen(
        events: &mut (impl futures::Stream<Item = kube::Result<WatchEvent<Pod>>> + Unpin),
    ) -> Vec<String> {
        let mut out = Vec::new();
        while let Ok(Some(event)) =
            tokio::time::timeout(Duration::from_millis(1_500), events.next()).await
        {
            let (kind, pod) = match event.unwrap() {
                WatchEvent::Added(p) => ("ADDED", p),
                WatchEvent::Modified(p) => ("MODIFIED", p),
                WatchEvent::Deleted(p) => ("DELETED", p),
                WatchEvent::Bookmark(_) => continue,
                WatchEvent::Error(e) => panic!("{e:?}"),
            };
            out.push(format!("{kind} {}", pod.metadata.name.unwrap()));
        }
        out
    }
    assert_eq!(
        seen(&mut node_a).await,
        ["ADDED a1", "ADDED a2", "DELETED a1"]
    );
    assert_eq!(
        seen(&mut unscheduled).await,
        ["ADDED pending", "DELETED pending"]
    );
    assert_eq!(seen(&mut by_name).await, ["ADDED b1", "DELETED b1"]);
}

async fn send_initial_events_ends_with_the_initial_events_end_bookmark(backend: Backend) {
    let Some((den, api)) = start(backend, &[]).await else {
        return;
    };
    for name in ["s1", "s2"] {
        api.create(&PostParams::default(), &configmap(name, &[("set", "x")]))
            .await
            .unwrap();
    }
    let params = WatchParams::streaming_lists().labels("set=x");
    let mut events = api.watch(&params, "0").await.unwrap().boxed();
    let mut added = Vec::new();
    loop {
        let event = tokio::time::timeout(Duration::from_secs(10), events.try_next())
            .await
            .unwrap()
            .unwrap();
        match event {
            Some(WatchEvent::Added(cm)) => added.push(cm.metadata.name.unwrap()),
            Some(WatchEvent::Bookmark(b)) => {
                assert_eq!(
                    b.metadata
                        .annotations
                        .get("k8s.io/initial-events-end")
                        .map(String::as_str),
                    Some("true")
                );
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    added.sort();
    assert_eq!(added, ["s1", "s2"]);

    // Without the required options upstream rejects the request.
    let client = den.client().await;
    let request = http::Request::get(
        "/api/v1/namespaces/default/configmaps?watch=true&sendInitialEvents=true",
    )
    .body(Vec::new())
    .unwrap();
    let err = api_error(client.request_text(request).await.unwrap_err());
    assert_eq!(err.code, 422);
}

async fn exact_resource_version_lists_read_the_past(backend: Backend) {
    let Some((_den, api)) = start(backend, &[]).await else {
        return;
    };
    let created = api
        .create(&PostParams::default(), &configmap("past", &[]))
        .await
        .unwrap();
    let rv = created.metadata.resource_version.unwrap();
    api.patch(
        "past",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"v": "2"}})),
    )
    .await
    .unwrap();
    api.create(&PostParams::default(), &configmap("later", &[]))
        .await
        .unwrap();

    let params = ListParams::default()
        .at(&rv)
        .matching(kube::api::VersionMatch::Exact);
    let past = api.list(&params).await.unwrap();
    assert_eq!(past.metadata.resource_version.as_deref(), Some(rv.as_str()));
    let names: Vec<_> = past
        .items
        .iter()
        .filter_map(|c| c.metadata.name.clone())
        .collect();
    assert!(
        names.contains(&"past".to_string()) && !names.contains(&"later".to_string()),
        "{names:?}"
    );
    let old = past
        .items
        .iter()
        .find(|c| c.metadata.name.as_deref() == Some("past"))
        .unwrap();
    assert_eq!(old.data.as_ref().unwrap()["v"], "1");

    // A consistent list after a write always contains that write.
    let now = api.list(&ListParams::default()).await.unwrap();
    let current = now
        .items
        .iter()
        .find(|c| c.metadata.name.as_deref() == Some("past"))
        .unwrap();
    assert_eq!(current.data.as_ref().unwrap()["v"], "2");
}

async fn finalizers_hold_deletion_until_the_last_one_goes(backend: Backend) {
    let Some((_den, api)) = start(backend, &[]).await else {
        return;
    };
    let mut cm = configmap("held", &[]);
    cm.metadata.finalizers = Some(vec!["example.com/hold".into()]);
    api.create(&PostParams::default(), &cm).await.unwrap();
    api.delete("held", &DeleteParams::default()).await.unwrap();
    let held = api.get("held").await.unwrap();
    assert!(held.metadata.deletion_timestamp.is_some());
    assert_eq!(held.metadata.deletion_grace_period_seconds, Some(0));

    let err = api
        .patch(
            "held",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": ["example.com/hold", "new"]}})),
        )
        .await
        .unwrap_err();
    assert_eq!(api_error(err).code, 422);

    api.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    let err = api.get("held").await.unwrap_err();
    assert_eq!(api_error(err).code, 404);
}

async fn preconditions_and_stale_updates_conflict(backend: Backend) {
    let Some((_den, api)) = start(backend, &[]).await else {
        return;
    };
    let created = api
        .create(&PostParams::default(), &configmap("guarded", &[]))
        .await
        .unwrap();
    let uid = created.metadata.uid.clone().unwrap();

    let wrong = DeleteParams {
        preconditions: Some(Preconditions {
            uid: Some("other".into()),
            resource_version: None,
        }),
        ..Default::default()
    };
    let status = api_error(api.delete("guarded", &wrong).await.unwrap_err());
    assert_eq!(status.code, 409);
    assert_eq!(
        status.message,
        format!(
            "Operation cannot be fulfilled on configmaps \"guarded\": Precondition failed: UID in precondition: other, UID in object meta: {uid}"
        )
    );

    let mut stale = created.clone();
    api.patch(
        "guarded",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"v": "2"}})),
    )
    .await
    .unwrap();
    stale.data = Some([("v".to_string(), "3".to_string())].into());
    let status = api_error(
        api.replace("guarded", &PostParams::default(), &stale)
            .await
            .unwrap_err(),
    );
    assert_eq!(status.code, 409);
    assert_eq!(status.reason, "Conflict");
    assert_eq!(
        status.message,
        "Operation cannot be fulfilled on configmaps \"guarded\": the object has been modified; please apply your changes to the latest version and try again"
    );

    let right = DeleteParams {
        preconditions: Some(Preconditions {
            uid: Some(uid),
            resource_version: None,
        }),
        ..Default::default()
    };
    api.delete("guarded", &right).await.unwrap();
}

async fn dry_run_writes_nothing(backend: Backend) {
    let Some((_den, api)) = start(backend, &[]).await else {
        return;
    };
    let dry = PostParams {
        dry_run: true,
        ..Default::default()
    };
    let result = api
        .create(&dry, &configmap("imaginary", &[]))
        .await
        .unwrap();
    assert_eq!(result.metadata.name.as_deref(), Some("imaginary"));
    assert!(result.metadata.uid.is_some());
    assert_eq!(api_error(api.get("imaginary").await.unwrap_err()).code, 404);

    api.create(&PostParams::default(), &configmap("real", &[]))
        .await
        .unwrap();
    let dry_patch = PatchParams {
        dry_run: true,
        ..Default::default()
    };
    let patched = api
        .patch(
            "real",
            &dry_patch,
            &Patch::Merge(json!({"data": {"v": "9"}})),
        )
        .await
        .unwrap();
    assert_eq!(patched.data.unwrap()["v"], "9");
    assert_eq!(api.get("real").await.unwrap().data.unwrap()["v"], "1");
    api.delete(
        "real",
        &DeleteParams {
            dry_run: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(api.get("real").await.is_ok());
}

async fn oversized_objects_and_bodies_are_rejected(backend: Backend) {
    let Some((_den, api)) = start(backend, &[]).await else {
        return;
    };
    let mut big = configmap("big", &[]);
    big.data = Some([("blob".to_string(), "x".repeat(2 * 1024 * 1024))].into());
    let status = api_error(api.create(&PostParams::default(), &big).await.unwrap_err());
    assert_eq!(status.code, 413);
    assert_eq!(
        status.message,
        "Request entity too large: etcdserver: request is too large"
    );

    big.data = Some([("blob".to_string(), "x".repeat(4 * 1024 * 1024))].into());
    let status = api_error(api.create(&PostParams::default(), &big).await.unwrap_err());
    assert_eq!(status.code, 413);
    assert_eq!(status.message, "Request entity too large: limit is 3145728");
    assert_eq!(api_error(api.get("big").await.unwrap_err()).code, 404);
}

async fn generate_name_makes_unique_names(backend: Backend) {
    let Some((_den, api)) = start(backend, &[]).await else {
        return;
    };
    let mut names = std::collections::HashSet::new();
    for _ in 0..20 {
        let cm = ConfigMap {
            metadata: ObjectMeta {
                generate_name: Some("gen-".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        let created = api.create(&PostParams::default(), &cm).await.unwrap();
        let name = created.metadata.name.unwrap();
        assert!(name.starts_with("gen-") && name.len() == 9, "{name}");
        assert!(names.insert(name));
    }
}

#[test]
fn tokens_from_the_token_file_authenticate_and_strangers_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens.csv");
    std::fs::write(&tokens, "s3cret,alice,1001,\"dev,ops\"\n").unwrap();
    let den = Den::start_with(
        Backend::Embedded,
        &["--token-auth-file", tokens.to_str().unwrap()],
    );
    let (code, _) = http(&den, "s3cret", "/api/v1/namespaces/default/configmaps");
    assert_eq!(code, 200);
    let (code, body) = http(&den, "wrong", "/api/v1/namespaces/default/configmaps");
    assert_eq!(code, 401);
    assert!(body.contains("\"reason\":\"Unauthorized\""), "{body}");
    let (code, body) = http(&den, "", "/api/v1/namespaces/default/configmaps");
    assert_eq!(code, 403);
    assert!(
        body.contains("configmaps is forbidden: User \\\"system:anonymous\\\" cannot list resource \\\"configmaps\\\" in API group \\\"\\\" in the namespace \\\"default\\\""),
        "{body}"
    );
    let (code, body) = http(&den, "", "/readyz");
    assert_eq!((code, body.as_str()), (200, "ok"));
}

/// A request as another user: `curl` with Den's CA and an optional bearer token.
fn http(den: &Den, token: &str, path: &str) -> (u16, String) {
    let mut cmd = std::process::Command::new("curl");
    cmd.args(["-s", "-o", "-", "-w", "\n%{http_code}", "--cacert"])
        .arg(den.dir.path().join("pki/ca.crt"));
    if !token.is_empty() {
        cmd.args(["-H", &format!("Authorization: Bearer {token}")]);
    }
    let output = cmd
        .arg(format!("{}{path}", den.url))
        .output()
        .expect("curl runs");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

#[test]
fn malformed_token_files_and_busy_ports_fail_clearly_without_partial_state() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens.csv");
    std::fs::write(&tokens, "only-two,fields\n").unwrap();
    let data = dir.path().join("data");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_den"))
        .args(["apiserver", "--secure-port", "0", "--data-dir"])
        .arg(&data)
        .arg("--token-auth-file")
        .arg(&tokens)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("malformed token file") && err.contains("line 1"),
        "{err}"
    );
    assert!(
        !data.exists(),
        "nothing is written before the configuration is known to be good"
    );

    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port().to_string();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_den"))
        .args(["apiserver", "--secure-port", &port, "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("failed to listen on 127.0.0.1:{port}")) && err.contains("in use"),
        "{err}"
    );
    assert!(!data.exists());

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_den"))
        .args([
            "apiserver",
            "--secure-port",
            "0",
            "--etcd-servers",
            "http://127.0.0.1:1",
            "--data-dir",
        ])
        .arg(&data)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("127.0.0.1:1"), "{err}");

    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, "").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_den"))
        .args(["apiserver", "--secure-port", "0", "--data-dir"])
        .arg(file.join("data"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot create data dir"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strict_field_validation_rejects_unknown_and_duplicate_fields_and_warn_reports_them() {
    let den = Den::start(Backend::Embedded);
    let client = den.client().await;
    let body = br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"dup"},"data":{"a":"1","a":"2"},"bogus":true}"#;
    let post = |validation: &str| {
        http::Request::post(format!(
            "/api/v1/namespaces/default/configmaps?fieldValidation={validation}"
        ))
        .header("Content-Type", "application/json")
        .body(body.to_vec())
        .unwrap()
    };
    let status = api_error(client.request_text(post("Strict")).await.unwrap_err());
    assert_eq!(status.code, 400);
    assert_eq!(
        status.message,
        "ConfigMap in version \"v1\" cannot be handled as a ConfigMap: strict decoding error: unknown field \"bogus\", duplicate field \"data.a\""
    );
    // Warn (the default) stores the object, last value winning, and says why in warnings.
    let created: serde_json::Value =
        serde_json::from_str(&client.request_text(post("Warn")).await.unwrap()).unwrap();
    assert_eq!(created["data"]["a"], "2");
    assert!(created.get("bogus").is_none());
}
