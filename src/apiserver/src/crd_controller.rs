//! The API server's own CRD controller (upstream's naming, establishing and finalizing
//! controllers of apiextensions-apiserver): it accepts names, sets conditions, serves the
//! established versions and, when a CRD is deleted, deletes its custom resources first.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use serde_json::{Value, json};

use crate::crd::{self, CLEANUP_FINALIZER};
use crate::objects;
use crate::registry::{DeleteOptions, ListOptions, Part};
use crate::resources::ResourceInfo;
use crate::server::ApiServer;

/// Reconciles once (so a restarted server serves its CRDs before it is ready), then keeps
/// reconciling on every change.
pub async fn start(server: Arc<ApiServer>) -> anyhow::Result<()> {
    let revision = reconcile(&server).await?.0;
    tokio::spawn(run(server, revision));
    Ok(())
}

fn crd_info(server: &ApiServer) -> Arc<ResourceInfo> {
    server
        .resources()
        .get("apiextensions.k8s.io", "v1", "customresourcedefinitions")
        .cloned()
        .expect("CRDs are built in")
}

async fn run(server: Arc<ApiServer>, mut revision: i64) {
    let prefix = crd_info(&server).key_prefix();
    loop {
        let mut events = match server.registry.storage.watch(&prefix, revision).await {
            Ok(events) => events,
            Err(e) => {
                tracing::warn!("CRD controller cannot watch: {e}");
                tokio::time::sleep(Duration::from_secs(1)).await;
                revision = 0;
                continue;
            }
        };
        let mut pending = false;
        loop {
            let changed = tokio::select! {
                event = events.next() => match event {
                    Some(Ok(_)) => true,
                    // Cut off or compacted: list again and start a new watch.
                    _ => break,
                },
                // Custom resources of a deleted CRD that are still going: look again.
                _ = tokio::time::sleep(Duration::from_millis(500)), if pending => true,
            };
            if changed {
                match reconcile(&server).await {
                    Ok((_, still_pending)) => pending = still_pending,
                    Err(e) => {
                        tracing::warn!("CRD reconcile failed: {e:#}");
                        pending = true;
                    }
                }
            }
        }
        match reconcile(&server).await {
            Ok((rev, _)) => revision = rev,
            Err(_) => revision = 0,
        }
    }
}

/// One pass over every CRD. Returns the revision it read at, and whether a deleted CRD still
/// has custom resources to wait for.
async fn reconcile(server: &ApiServer) -> anyhow::Result<(i64, bool)> {
    let info = crd_info(server);
    let page = server
        .registry
        .list(&info, "", &ListOptions::default())
        .await
        .map_err(|e| anyhow::anyhow!("{}", e.message))?;
    let mut crds = page.items;
    crds.sort_by(|a, b| {
        let created = |o: &Value| {
            objects::meta_str(o, "creationTimestamp")
                .unwrap_or("")
                .to_string()
        };
        created(a)
            .cmp(&created(b))
            .then_with(|| objects::name(a).cmp(objects::name(b)))
    });
    let mut taken: Vec<(String, String, String)> = server
        .resources()
        .iter()
        .filter(|r| r.builtin().is_some())
        .map(|r| {
            (
                r.group.to_string(),
                r.plural.to_string(),
                r.kind.to_string(),
            )
        })
        .collect();
    let now = objects::now_rfc3339();
    let mut served = Vec::new();
    let mut pending = false;
    // First decide every CRD's status and serve the established ones; only then publish the
    // statuses, so a client that sees `Established` can use the resource at once.
    let mut decided = Vec::new();
    for mut crd in crds {
        let status = crd::desired_status(&crd, &taken, &now);
        let changed = crd.get("status") != Some(&status);
        crd["status"] = status;
        if crd::is_established(&crd) {
            let names = crd
                .pointer("/status/acceptedNames")
                .cloned()
                .unwrap_or_default();
            let field = |f: &str| {
                names
                    .get(f)
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string()
            };
            let group = crd
                .pointer("/spec/group")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            taken.push((group, field("plural"), field("kind")));
            served.extend(crd::served_resources(&crd));
        }
        decided.push((crd, changed));
    }
    for resource in &served {
        server.cacher.register(&resource.key_prefix()).await;
    }
    server.set_custom_resources(served);
    for (crd, changed) in decided {
        let name = objects::name(&crd).to_string();
        if changed {
            write_status(server, &info, &name, crd["status"].clone()).await;
        }
        if objects::is_deleting(&crd) && crd::is_established(&crd) {
            let resources = crd::served_resources(&crd);
            pending |= !finalize(server, &info, &crd, resources.first()).await;
        }
    }
    Ok((page.revision, pending))
}

async fn write_status(server: &ApiServer, info: &ResourceInfo, name: &str, status: Value) {
    let result = server
        .registry
        .update(info, "", name, Part::Status, false, |current| {
            let mut new = current.cloned().unwrap_or_default();
            new["status"] = status.clone();
            Ok(new)
        })
        .await;
    if let Err(e) = result {
        tracing::debug!("CRD {name}: status not written: {}", e.message);
    }
}

/// Deletes the custom resources of a deleted CRD; once none are left, removes the cleanup
/// finalizer so the CRD goes. Returns true when the CRD is finalized.
async fn finalize(
    server: &ApiServer,
    info: &ResourceInfo,
    crd: &Value,
    resource: Option<&ResourceInfo>,
) -> bool {
    let name = objects::name(crd).to_string();
    if !objects::finalizers(crd)
        .iter()
        .any(|f| f == CLEANUP_FINALIZER)
    {
        return true;
    }
    if let Some(resource) = resource {
        let remaining = match server
            .registry
            .list(resource, "", &ListOptions::default())
            .await
        {
            Ok(page) => page.items,
            Err(_) => return false,
        };
        if !remaining.is_empty() {
            let options = DeleteOptions::default();
            for obj in &remaining {
                let _ = server
                    .registry
                    .delete(
                        resource,
                        objects::namespace(obj),
                        objects::name(obj),
                        &options,
                    )
                    .await;
            }
            return false;
        }
    }
    let result = server
        .registry
        .update(info, "", &name, Part::Main, false, |current| {
            let mut new = current.cloned().unwrap_or_default();
            let keep: Vec<String> = objects::finalizers(&new)
                .into_iter()
                .filter(|f| f != CLEANUP_FINALIZER)
                .collect();
            objects::meta_mut(&mut new).insert("finalizers".into(), json!(keep));
            Ok(new)
        })
        .await;
    result.is_ok()
}
