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
    for (name, value, description) in [
        (
            "system-node-critical",
            2_000_001_000,
            "Used for system critical pods that must not be moved from their current node.",
        ),
        (
            "system-cluster-critical",
            2_000_000_000,
            "Used for system critical pods that must run in the cluster, but can be moved to another node if necessary.",
        ),
    ] {
        let pc = json!({
            "apiVersion": "scheduling.k8s.io/v1",
            "kind": "PriorityClass",
            "metadata": {"name": name},
            "value": value,
            "description": description,
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
    ensure_local_api_services(server).await
}

/// Upstream's aggregator registers every group-version the API server serves itself as a
/// `Local` APIService, always available; custom resources' group-versions come and go with
/// their CRDs and are left out here.
async fn ensure_local_api_services(server: &ApiServer) -> Result<()> {
    let resources = server.resources();
    let info = resources
        .get("apiregistration.k8s.io", "v1", "apiservices")
        .cloned()
        .expect("APIService is built in");
    for (group, version) in resources.group_versions() {
        let name = format!("{version}.{group}");
        let (group_priority, version_priority) = api_service_priority(group, version);
        let mut spec = json!({
            "version": version,
            "groupPriorityMinimum": group_priority,
            "versionPriority": version_priority,
        });
        if !group.is_empty() {
            spec["group"] = json!(group);
        }
        let api_service = json!({
            "apiVersion": "apiregistration.k8s.io/v1",
            "kind": "APIService",
            "metadata": {"name": name, "labels": {"kube-aggregator.kubernetes.io/automanaged": "onstart"}},
            "spec": spec,
        });
        reconcile(
            server,
            "apiregistration.k8s.io",
            "v1",
            "apiservices",
            api_service,
            &["spec"],
        )
        .await?;
        let available = server.registry.get(&info, "", &name).await.is_ok_and(|s| {
            s.pointer("/status/conditions/0/status")
                .and_then(Value::as_str)
                == Some("True")
        });
        if available {
            continue;
        }
        server
            .registry
            .update(&info, "", &name, Part::Status, false, |current| {
                let mut obj = current.cloned().unwrap_or_default();
                obj["status"] = json!({"conditions": [{
                    "type": "Available",
                    "status": "True",
                    "lastTransitionTime": crate::objects::now_rfc3339(),
                    "reason": "Local",
                    "message": "Local APIServices are always available",
                }]});
                Ok(obj)
            })
            .await
            .map_err(|e| {
                anyhow::anyhow!("cannot set the status of APIService {name}: {}", e.message)
            })?;
    }
    Ok(())
}

/// Upstream's `groupPriorityMinimum` and `versionPriority` of its own group-versions.
fn api_service_priority(group: &str, version: &str) -> (i64, i64) {
    let group_priority = match group {
        "" | "apiregistration.k8s.io" => 18000,
        "apps" => 17800,
        "events.k8s.io" => 17750,
        "authentication.k8s.io" => 17700,
        "authorization.k8s.io" => 17600,
        "autoscaling" => 17500,
        "batch" => 17400,
        "certificates.k8s.io" => 17300,
        "networking.k8s.io" => 17200,
        "policy" => 17100,
        "rbac.authorization.k8s.io" => 17000,
        "storage.k8s.io" => 16800,
        "apiextensions.k8s.io" | "admissionregistration.k8s.io" => 16700,
        "scheduling.k8s.io" => 16600,
        "coordination.k8s.io" => 16500,
        "node.k8s.io" => 16300,
        "discovery.k8s.io" => 16200,
        "flowcontrol.apiserver.k8s.io" => 16100,
        _ => 1000,
    };
    let version_priority = match (group, version) {
        ("", _) => 1,
        ("autoscaling", "v2") => 30,
        ("flowcontrol.apiserver.k8s.io", "v1") => 21,
        (_, "v1") => 15,
        _ => 9,
    };
    (group_priority, version_priority)
}
