//! The objects every cluster starts with: the system namespaces, the `kubernetes` Service
//! with its Endpoints and EndpointSlice pointing at this API server, and the system
//! priority classes.

use anyhow::Result;
use serde_json::{Value, json};

use crate::registry::Part;
use crate::server::ApiServer;

const NAMESPACES: [&str; 4] = ["default", "kube-system", "kube-public", "kube-node-lease"];

/// Creates `obj`, or replaces its `fields` when it exists with other values (none: it only
/// has to exist).
async fn reconcile(
    server: &ApiServer,
    group: &str,
    version: &str,
    plural: &str,
    obj: Value,
    fields: &[&str],
) -> Result<()> {
    let info = server
        .resources()
        .get(group, version, plural)
        .cloned()
        .expect("bootstrap kinds are built in");
    let namespace = crate::objects::namespace(&obj).to_string();
    let name = crate::objects::name(&obj).to_string();
    match server.registry.get(&info, &namespace, &name).await {
        Ok(current) if fields.iter().all(|f| current.get(*f) == obj.get(*f)) => Ok(()),
        Ok(_) => {
            server
                .registry
                .update(&info, &namespace, &name, Part::Main, false, |current| {
                    let mut new = current.cloned().unwrap_or_else(|| obj.clone());
                    for f in fields {
                        new[*f] = obj[*f].clone();
                    }
                    Ok(new)
                })
                .await
                .map_err(|e| anyhow::anyhow!("cannot update {plural} {name}: {}", e.message))?;
            Ok(())
        }
        Err(e) if e.code == 404 => {
            match server.registry.create(&info, &namespace, obj, false).await {
                // Another server of the same store got there first.
                Ok(_) => Ok(()),
                Err(e) if e.code == 409 => Ok(()),
                Err(e) => Err(anyhow::anyhow!(
                    "cannot create {plural} {name}: {}",
                    e.message
                )),
            }
        }
        Err(e) => Err(anyhow::anyhow!(
            "cannot read {plural} {name}: {}",
            e.message
        )),
    }
}

pub async fn ensure_builtin_objects(server: &ApiServer) -> Result<()> {
    for ns in NAMESPACES {
        reconcile(
            server,
            "",
            "v1",
            "namespaces",
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
            &[],
        )
        .await?;
    }
    for (name, value) in [
        ("system-node-critical", 2_000_001_000),
        ("system-cluster-critical", 2_000_000_000),
    ] {
        let pc = json!({
            "apiVersion": "scheduling.k8s.io/v1",
            "kind": "PriorityClass",
            "metadata": {"name": name},
            "value": value,
            "description": "Used for system critical pods that must run in the cluster, but can be moved to another node if necessary.",
            "preemptionPolicy": "PreemptLowerPriority",
        });
        reconcile(
            server,
            "scheduling.k8s.io",
            "v1",
            "priorityclasses",
            pc,
            &[],
        )
        .await?;
    }

    // The default ServiceCIDR, as upstream's apiserver creates it from its flags.
    let cidr = server.service_range.cidr();
    let service_cidr = json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "ServiceCIDR",
        "metadata": {"name": "kubernetes"},
        "spec": {"cidrs": [cidr]},
    });
    reconcile(
        server,
        "networking.k8s.io",
        "v1",
        "servicecidrs",
        service_cidr,
        &[],
    )
    .await?;

    let ip = server.address.ip().to_string();
    let port = server.address.port();
    let cluster_ip = server.service_range.first().to_string();
    let service = json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "kubernetes", "namespace": "default", "labels": {"component": "apiserver", "provider": "kubernetes"}},
        "spec": {
            "type": "ClusterIP",
            "clusterIP": cluster_ip,
            "clusterIPs": [cluster_ip],
            "ipFamilies": ["IPv4"],
            "ipFamilyPolicy": "SingleStack",
            "internalTrafficPolicy": "Cluster",
            "sessionAffinity": "None",
            "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": port}],
        },
    });
    reconcile(server, "", "v1", "services", service, &["spec"]).await?;
    let endpoints = json!({
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {"name": "kubernetes", "namespace": "default", "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
        "subsets": [{"addresses": [{"ip": ip}], "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}],
    });
    reconcile(server, "", "v1", "endpoints", endpoints, &["subsets"]).await?;
    let slice = json!({
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": "kubernetes", "namespace": "default", "labels": {"kubernetes.io/service-name": "kubernetes"}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": [ip], "conditions": {"ready": true}}],
        "ports": [{"name": "https", "port": port, "protocol": "TCP"}],
    });
    reconcile(
        server,
        "discovery.k8s.io",
        "v1",
        "endpointslices",
        slice,
        &["endpoints", "ports"],
    )
    .await?;
    Ok(())
}
