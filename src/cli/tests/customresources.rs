//! kube-rs clients of custom resources: a `#[derive(CustomResource)]` type whose CRD is
//! created at run time, watched with `kube_runtime::watcher`.

mod common;

use std::time::Duration;

use common::{Backend, Den, skip};
use futures::StreamExt;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::wait::{await_condition, conditions};
use kube::runtime::watcher;
use kube::{CustomResource, CustomResourceExt};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, JsonSchema)]
#[kube(
    group = "den.test",
    version = "v1",
    kind = "Gadget",
    namespaced,
    status = "GadgetStatus"
)]
pub struct GadgetSpec {
    pub size: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

#[derive(Deserialize, Serialize, Clone, Debug, Default, JsonSchema)]
pub struct GadgetStatus {
    pub ready: bool,
}

/// A Den serving the Gadget CRD, and a client of it.
async fn start_with_gadgets(backend: Backend) -> (Den, kube::Client) {
    let den = Den::start(backend);
    let client = den.client().await;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.create(&PostParams::default(), &Gadget::crd())
        .await
        .unwrap();
    let established = await_condition(
        crds.clone(),
        "gadgets.den.test",
        conditions::is_crd_established(),
    );
    tokio::time::timeout(Duration::from_secs(10), established)
        .await
        .unwrap()
        .unwrap();
    (den, client)
}

async fn a_derived_custom_resource_is_created_watched_and_its_status_updated(backend: Backend) {
    if skip(backend) {
        return;
    }
    let (_den, client) = start_with_gadgets(backend).await;

    let gadgets: Api<Gadget> = Api::namespaced(client.clone(), "default");
    let mut events = watcher(gadgets.clone(), watcher::Config::default()).boxed();
    let gadget = Gadget::new(
        "g1",
        GadgetSpec {
            size: 3,
            label: None,
        },
    );
    gadgets
        .create(&PostParams::default(), &gadget)
        .await
        .unwrap();
    let seen = next_applied(&mut events).await.expect("an applied gadget");
    assert_eq!(seen.spec.size, 3);
    assert_eq!(seen.metadata.generation, Some(1));

    // Status goes through the status subresource and does not bump the generation.
    let status = serde_json::json!({"status": {"ready": true}});
    gadgets
        .patch_status("g1", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap();
    let seen = next_applied(&mut events).await.expect("the status change");
    assert!(seen.status.as_ref().unwrap().ready);
    assert_eq!(seen.metadata.generation, Some(1));

    // A spec change through the main resource cannot touch status, and bumps the generation.
    let change = serde_json::json!({"spec": {"size": 5}, "status": {"ready": false}});
    gadgets
        .patch("g1", &PatchParams::default(), &Patch::Merge(&change))
        .await
        .unwrap();
    let seen = next_applied(&mut events).await.expect("the spec change");
    assert_eq!(seen.spec.size, 5);
    assert!(
        seen.status.unwrap().ready,
        "status is only written through /status"
    );
    assert_eq!(seen.metadata.generation, Some(2));

    gadgets
        .delete("g1", &DeleteParams::default())
        .await
        .unwrap();
    assert!(
        next_applied(&mut events).await.is_none(),
        "the watcher sees the deletion"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_derived_custom_resource_is_created_watched_and_its_status_updated_on_the_embedded_store()
{
    a_derived_custom_resource_is_created_watched_and_its_status_updated(Backend::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_derived_custom_resource_is_created_watched_and_its_status_updated_on_etcd() {
    a_derived_custom_resource_is_created_watched_and_its_status_updated(Backend::Etcd).await;
}

type Events = futures::stream::BoxStream<'static, Result<watcher::Event<Gadget>, watcher::Error>>;

/// The next object the watcher reports added or changed (`None` for a deletion).
/// Server-side apply of a custom resource and of its status: each manager's fields recorded
/// per subresource, conflicts named, and no strategic merge patch for custom resources.
async fn custom_resources_and_their_status_are_server_side_applied(backend: Backend) {
    if skip(backend) {
        return;
    }
    let (_den, client) = start_with_gadgets(backend).await;
    let gadgets: Api<Gadget> = Api::namespaced(client.clone(), "default");
    let config = serde_json::json!({
        "apiVersion": "den.test/v1", "kind": "Gadget",
        "metadata": {"name": "g2"}, "spec": {"size": 2, "label": "blue"}
    });
    let created = gadgets
        .patch("g2", &PatchParams::apply("ctl"), &Patch::Apply(&config))
        .await
        .unwrap();
    assert_eq!(created.spec.size, 2);
    let status = serde_json::json!({
        "apiVersion": "den.test/v1", "kind": "Gadget",
        "metadata": {"name": "g2"}, "status": {"ready": true}
    });
    let applied = gadgets
        .patch_status(
            "g2",
            &PatchParams::apply("gadget-controller"),
            &Patch::Apply(&status),
        )
        .await
        .unwrap();
    assert!(applied.status.unwrap().ready);
    assert_eq!(applied.spec.size, 2, "a status apply leaves the spec alone");
    let entries = applied.metadata.managed_fields.unwrap();
    let summary: Vec<(String, String, String)> = entries
        .iter()
        .map(|e| {
            (
                e.manager.clone().unwrap(),
                e.operation.clone().unwrap(),
                e.subresource.clone().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("ctl".into(), "Apply".into(), String::new()),
            ("gadget-controller".into(), "Apply".into(), "status".into())
        ]
    );
    let fields = |i: usize| entries[i].fields_v1.as_ref().unwrap().0.clone();
    assert_eq!(
        fields(0),
        serde_json::json!({"f:spec": {"f:label": {}, "f:size": {}}})
    );
    assert_eq!(fields(1), serde_json::json!({"f:status": {"f:ready": {}}}));

    // Another applier changing the size conflicts with ctl.
    let other = serde_json::json!({
        "apiVersion": "den.test/v1", "kind": "Gadget",
        "metadata": {"name": "g2"}, "spec": {"size": 9}
    });
    let err = gadgets
        .patch("g2", &PatchParams::apply("other"), &Patch::Apply(&other))
        .await
        .unwrap_err();
    let kube::Error::Api(status) = err else {
        panic!("expected an API error")
    };
    assert_eq!(status.code, 409);
    assert_eq!(
        status.message,
        "Apply failed with 1 conflict: conflict with \"ctl\": .spec.size"
    );
    // ctl stops applying the label: it is removed.
    let without_label = serde_json::json!({
        "apiVersion": "den.test/v1", "kind": "Gadget",
        "metadata": {"name": "g2"}, "spec": {"size": 2}
    });
    let applied = gadgets
        .patch(
            "g2",
            &PatchParams::apply("ctl"),
            &Patch::Apply(&without_label),
        )
        .await
        .unwrap();
    assert_eq!(applied.spec.label, None);
    // Custom resources have no strategic merge patch.
    let err = gadgets
        .patch(
            "g2",
            &PatchParams::default(),
            &Patch::Strategic(serde_json::json!({"spec": {"size": 3}})),
        )
        .await
        .unwrap_err();
    let kube::Error::Api(status) = err else {
        panic!("expected an API error")
    };
    assert_eq!(status.code, 415);
    assert!(
        status.message.ends_with("accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"),
        "{}",
        status.message
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_resources_and_their_status_are_server_side_applied_on_the_embedded_store() {
    custom_resources_and_their_status_are_server_side_applied(Backend::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_resources_and_their_status_are_server_side_applied_on_etcd() {
    custom_resources_and_their_status_are_server_side_applied(Backend::Etcd).await;
}

async fn next_applied(events: &mut Events) -> Option<Gadget> {
    loop {
        let event = tokio::time::timeout(Duration::from_secs(10), events.next())
            .await
            .expect("an event within 10 s")
            .expect("the stream goes on")
            .expect("no watch error");
        match event {
            watcher::Event::Apply(g) | watcher::Event::InitApply(g) => return Some(g),
            watcher::Event::Delete(_) => return None,
            watcher::Event::Init | watcher::Event::InitDone => {}
        }
    }
}
