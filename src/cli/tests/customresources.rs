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

async fn a_derived_custom_resource_is_created_watched_and_its_status_updated(backend: Backend) {
    if skip(backend) {
        return;
    }
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
