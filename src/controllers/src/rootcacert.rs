//! The root CA publisher: every active namespace has the `kube-root-ca.crt` ConfigMap holding
//! the cluster's CA bundle, so pods can verify the API server.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, ObjectMeta, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Client, ResourceExt};

use crate::Error;

pub const CONFIGMAP: &str = "kube-root-ca.crt";

struct Context {
    client: Client,
    ca_bundle: String,
}

pub async fn run(client: Client, ca_bundle: String) -> anyhow::Result<()> {
    let namespaces = Api::<Namespace>::all(client.clone());
    let configmaps = Api::<ConfigMap>::all(client.clone());
    let context = Arc::new(Context { client, ca_bundle });
    Controller::new(namespaces, watcher::Config::default())
        .watches(
            configmaps,
            watcher::Config::default().fields(&format!("metadata.name={CONFIGMAP}")),
            |cm| cm.namespace().map(|ns| ObjectRef::new(&ns)),
        )
        .run(
            reconcile,
            |_, _, _| Action::requeue(Duration::from_secs(2)),
            context,
        )
        .for_each(|_| async {})
        .await;
    Ok(())
}

async fn reconcile(ns: Arc<Namespace>, ctx: Arc<Context>) -> Result<Action, Error> {
    if ns.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let api = Api::<ConfigMap>::namespaced(ctx.client.clone(), &ns.name_any());
    let current = api.get_opt(CONFIGMAP).await?;
    let up_to_date = current
        .as_ref()
        .and_then(|cm| cm.data.as_ref())
        .and_then(|d| d.get("ca.crt"))
        .is_some_and(|ca| *ca == ctx.ca_bundle);
    if up_to_date {
        return Ok(Action::await_change());
    }
    let desired = ConfigMap {
        metadata: ObjectMeta {
            name: Some(CONFIGMAP.into()),
            annotations: Some(
                [(
                    "kubernetes.io/description".to_string(),
                    DESCRIPTION.to_string(),
                )]
                .into(),
            ),
            ..Default::default()
        },
        data: Some([("ca.crt".to_string(), ctx.ca_bundle.clone())].into()),
        ..Default::default()
    };
    if current.is_none() {
        crate::create_ignoring_conflicts(&api, &desired).await?;
    } else {
        api.patch(CONFIGMAP, &PatchParams::default(), &Patch::Merge(&desired))
            .await?;
    }
    Ok(Action::await_change())
}

const DESCRIPTION: &str = "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.";
