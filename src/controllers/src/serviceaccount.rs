//! The service account controller: every active namespace has a `default` ServiceAccount,
//! recreated when it is deleted.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use kube::api::{Api, ObjectMeta};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Client, ResourceExt};

use crate::Error;

pub async fn run(client: Client) -> anyhow::Result<()> {
    let namespaces = Api::<Namespace>::all(client.clone());
    let accounts = Api::<ServiceAccount>::all(client.clone());
    Controller::new(namespaces, watcher::Config::default())
        .watches(
            accounts,
            watcher::Config::default().fields("metadata.name=default"),
            |sa| sa.namespace().map(|ns| ObjectRef::new(&ns)),
        )
        .run(
            reconcile,
            |_, _, _| Action::requeue(Duration::from_secs(2)),
            Arc::new(client),
        )
        .for_each(|_| async {})
        .await;
    Ok(())
}

async fn reconcile(ns: Arc<Namespace>, client: Arc<Client>) -> Result<Action, Error> {
    if ns.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let api = Api::<ServiceAccount>::namespaced((*client).clone(), &ns.name_any());
    if api.get_opt("default").await?.is_none() {
        let account = ServiceAccount {
            metadata: ObjectMeta {
                name: Some("default".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        crate::create_ignoring_conflicts(&api, &account).await?;
    }
    Ok(Action::await_change())
}
