//! Upstream's defaulting of built-in kinds (`pkg/apis/*/v1/defaults.go` and the
//! declarative `+default` markers), applied to every object a create or an update writes,
//! as upstream applies it when it decodes a request. Every function here only fills what is
//! missing, so running it twice changes nothing.

use serde_json::{Map, Value, json};

use crate::kindvalidation::quantity::Quantity;
use crate::resources::{Codec, ResourceInfo};

/// Fills upstream's defaults into `obj`, an object of `info`'s kind in `info`'s version.
pub fn default_object(info: &ResourceInfo, obj: &mut Value) {
    if !matches!(info.codec, Codec::Builtin(_)) || !obj.is_object() {
        return;
    }
    match (info.group.as_ref(), info.plural.as_ref()) {
        ("", "pods") => default_pod(obj),
        ("", "podtemplates") => default_template(obj, "template"),
        ("", "replicationcontrollers") => default_replication_controller(obj),
        ("", "services") => default_service(obj),
        ("", "secrets") => set_empty(obj, "type", json!("Opaque")),
        ("", "namespaces") => default_namespace(obj),
        ("", "nodes") => default_node(obj),
        ("", "persistentvolumeclaims") => default_pvc_spec(spec(obj)),
        ("", "persistentvolumes") => {
            let spec = spec(obj);
            set_missing(spec, "persistentVolumeReclaimPolicy", json!("Retain"));
            set_missing(spec, "volumeMode", json!("Filesystem"));
        }
        ("", "endpoints") => {
            for subset in items(obj, "subsets") {
                default_port_protocols(subset, "ports");
            }
        }
        ("", "limitranges") => default_limit_range(obj),
        ("", "resourcequotas") => {
            canonicalize_resource_list(obj.get_mut("spec"), "hard");
        }
        ("apps", "deployments") => default_deployment(obj),
        ("apps", "replicasets") => {
            set_missing(spec(obj), "replicas", json!(1));
            default_template(spec(obj), "template");
        }
        ("apps", "statefulsets") => default_stateful_set(obj),
        ("apps", "daemonsets") => default_daemon_set(obj),
        ("batch", "jobs") => default_job(obj),
        ("batch", "cronjobs") => default_cron_job(obj),
        ("autoscaling", "horizontalpodautoscalers") => {
            set_missing(spec(obj), "minReplicas", json!(1));
        }
        ("networking.k8s.io", "networkpolicies") => default_network_policy(obj),
        ("networking.k8s.io", "ingressclasses") => {
            if let Some(params) = obj
                .pointer_mut("/spec/parameters")
                .filter(|p| p.is_object())
            {
                set_missing(params, "scope", json!("Cluster"));
            }
        }
        ("rbac.authorization.k8s.io", "rolebindings" | "clusterrolebindings") => {
            default_role_binding(obj)
        }
        ("discovery.k8s.io", "endpointslices") => {
            for port in items(obj, "ports") {
                set_missing(port, "name", json!(""));
                set_missing(port, "protocol", json!("TCP"));
            }
        }
        ("scheduling.k8s.io", "priorityclasses") => {
            set_missing(obj, "preemptionPolicy", json!("PreemptLowerPriority"));
        }
        ("admissionregistration.k8s.io", "validatingadmissionpolicies") => {
            let spec = spec(obj);
            set_missing(spec, "failurePolicy", json!("Fail"));
            if let Some(constraints) = present(spec, "matchConstraints") {
                default_match_resources(constraints);
            }
        }
        ("admissionregistration.k8s.io", "validatingadmissionpolicybindings") => {
            if let Some(resources) = present(spec(obj), "matchResources") {
                default_match_resources(resources);
            }
        }
        ("storage.k8s.io", "storageclasses") => {
            set_missing(obj, "reclaimPolicy", json!("Delete"));
            set_missing(obj, "volumeBindingMode", json!("Immediate"));
        }
        ("storage.k8s.io", "csidrivers") => default_csi_driver(obj),
        _ => {}
    }
}

// ---------------------------------------------------------------------------
// Small JSON helpers

/// `obj[field]` unless it is set (JSON null counts as unset, as Go's nil pointer).
fn set_missing(obj: &mut Value, field: &str, value: Value) {
    if let Some(map) = obj.as_object_mut()
        && map.get(field).is_none_or(Value::is_null)
    {
        map.insert(field.to_string(), value);
    }
}

/// Like [`set_missing`], but an empty string also counts as unset (Go's zero string).
fn set_empty(obj: &mut Value, field: &str, value: Value) {
    if let Some(map) = obj.as_object_mut()
        && map
            .get(field)
            .is_none_or(|v| v.is_null() || v.as_str() == Some(""))
    {
        map.insert(field.to_string(), value);
    }
}

/// `obj.field`, created as `{}` when missing (a Go struct field is never nil).
fn object<'a>(obj: &'a mut Value, field: &str) -> &'a mut Value {
    let map = obj.as_object_mut().expect("callers pass objects");
    let entry = map.entry(field).or_insert_with(|| json!({}));
    if !entry.is_object() {
        *entry = json!({});
    }
    entry
}

fn spec(obj: &mut Value) -> &mut Value {
    object(obj, "spec")
}

/// The object elements of the list `obj.field`.
fn items<'a>(obj: &'a mut Value, field: &str) -> impl Iterator<Item = &'a mut Value> {
    obj.get_mut(field)
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
        .filter(|v| v.is_object())
}

/// `obj.field` when it is an object (a Go pointer that is set).
fn present<'a>(obj: &'a mut Value, field: &str) -> Option<&'a mut Value> {
    obj.get_mut(field).filter(|v| v.is_object())
}

/// Upstream's `SetDefaults_MatchResources` and `SetDefaults_Rule` (admissionregistration/v1).
fn default_match_resources(resources: &mut Value) {
    set_missing(resources, "matchPolicy", json!("Equivalent"));
    set_missing(resources, "namespaceSelector", json!({}));
    set_missing(resources, "objectSelector", json!({}));
    for field in ["resourceRules", "excludeResourceRules"] {
        for rule in items(resources, field) {
            set_missing(rule, "scope", json!("*"));
        }
    }
}

fn default_port_protocols(obj: &mut Value, field: &str) {
    for port in items(obj, field) {
        set_empty(port, "protocol", json!("TCP"));
    }
}

/// Upstream's `SetDefaults_ResourceList`: quantities rounded up to milli precision, and
/// (as upstream stores them) written in canonical form.
fn canonicalize_resource_list(parent: Option<&mut Value>, field: &str) {
    let Some(list) = parent
        .and_then(|p| p.get_mut(field))
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    for value in list.values_mut() {
        if let Ok(q) = Quantity::from_json(value) {
            *value = json!(q.round_up_to_milli().canonical());
        }
    }
}

// ---------------------------------------------------------------------------
// Pods and pod templates

fn default_pod(pod: &mut Value) {
    let spec = spec(pod);
    // Only pods (not templates) default requests to limits, service links and host ports.
    for field in ["containers", "initContainers"] {
        for ctr in items(spec, field) {
            let resources = object(ctr, "resources");
            let Some(limits) = resources.get("limits").and_then(Value::as_object).cloned() else {
                continue;
            };
            let requests = object(resources, "requests")
                .as_object_mut()
                .expect("object() makes objects");
            for (name, limit) in limits {
                requests.entry(name).or_insert(limit);
            }
        }
    }
    set_missing(spec, "enableServiceLinks", json!(true));
    if spec.get("hostNetwork").and_then(Value::as_bool) == Some(true) {
        for field in ["containers", "initContainers"] {
            for ctr in items(spec, field) {
                for port in items(ctr, "ports") {
                    let container_port = port.get("containerPort").cloned();
                    if port.get("hostPort").and_then(Value::as_i64).unwrap_or(0) == 0
                        && let Some(container_port) = container_port
                    {
                        port["hostPort"] = container_port;
                    }
                }
            }
        }
    }
    default_pod_spec(spec);
}

/// The pod template at `obj.field` gets the pod spec defaults (not the pod-only ones).
fn default_template(obj: &mut Value, field: &str) {
    let template = object(obj, field);
    default_pod_spec(object(template, "spec"));
}

/// Upstream's `SetDefaults_PodSpec` and the defaults of everything a pod spec holds.
fn default_pod_spec(spec: &mut Value) {
    service_account_alias(spec);
    set_empty(spec, "dnsPolicy", json!("ClusterFirst"));
    set_empty(spec, "restartPolicy", json!("Always"));
    set_missing(spec, "securityContext", json!({}));
    set_missing(spec, "terminationGracePeriodSeconds", json!(30));
    set_empty(spec, "schedulerName", json!("default-scheduler"));
    for volume in items(spec, "volumes") {
        default_volume(volume);
    }
    for field in ["initContainers", "containers", "ephemeralContainers"] {
        for ctr in items(spec, field) {
            default_container(ctr);
        }
    }
}

/// Upstream's v1 conversion of a pod spec: the deprecated `serviceAccount` is read as
/// `serviceAccountName` when that is empty, and always written as a copy of it.
fn service_account_alias(spec: &mut Value) {
    let Some(map) = spec.as_object_mut() else {
        return;
    };
    let field = |map: &serde_json::Map<String, Value>, f: &str| {
        map.get(f).and_then(Value::as_str).unwrap_or("").to_string()
    };
    let mut name = field(map, "serviceAccountName");
    if name.is_empty() {
        name = field(map, "serviceAccount");
    }
    if name.is_empty() {
        map.remove("serviceAccountName");
        map.remove("serviceAccount");
    } else {
        map.insert("serviceAccountName".into(), json!(name));
        map.insert("serviceAccount".into(), json!(name));
    }
}

const VOLUME_SOURCES: &[&str] = &[
    "hostPath",
    "emptyDir",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "gitRepo",
    "secret",
    "nfs",
    "iscsi",
    "glusterfs",
    "persistentVolumeClaim",
    "rbd",
    "flexVolume",
    "cinder",
    "cephfs",
    "flocker",
    "downwardAPI",
    "fc",
    "azureFile",
    "configMap",
    "vsphereVolume",
    "quobyte",
    "azureDisk",
    "photonPersistentDisk",
    "projected",
    "portworxVolume",
    "scaleIO",
    "storageos",
    "csi",
    "ephemeral",
    "image",
];

fn default_volume(volume: &mut Value) {
    if VOLUME_SOURCES
        .iter()
        .all(|s| volume.get(*s).is_none_or(Value::is_null))
    {
        volume["emptyDir"] = json!({});
    }
    if let Some(host_path) = present(volume, "hostPath") {
        set_missing(host_path, "type", json!(""));
    }
    for source in ["secret", "configMap"] {
        if let Some(s) = present(volume, source) {
            set_missing(s, "defaultMode", json!(0o644));
        }
    }
    if let Some(downward) = present(volume, "downwardAPI") {
        set_missing(downward, "defaultMode", json!(0o644));
        for item in items(downward, "items") {
            default_field_ref(item);
        }
    }
    if let Some(projected) = present(volume, "projected") {
        set_missing(projected, "defaultMode", json!(0o644));
        for source in items(projected, "sources") {
            if let Some(downward) = present(source, "downwardAPI") {
                for item in items(downward, "items") {
                    default_field_ref(item);
                }
            }
            if let Some(token) = present(source, "serviceAccountToken") {
                set_missing(token, "expirationSeconds", json!(3600));
            }
        }
    }
    if let Some(iscsi) = present(volume, "iscsi") {
        set_empty(iscsi, "iscsiInterface", json!("default"));
    }
    if let Some(rbd) = present(volume, "rbd") {
        set_empty(rbd, "pool", json!("rbd"));
        set_empty(rbd, "user", json!("admin"));
        set_empty(rbd, "keyring", json!("/etc/ceph/keyring"));
    }
    if let Some(azure) = present(volume, "azureDisk") {
        set_missing(azure, "cachingMode", json!("ReadWrite"));
        set_missing(azure, "fsType", json!("ext4"));
        set_missing(azure, "readOnly", json!(false));
        set_missing(azure, "kind", json!("Shared"));
    }
    if let Some(scale_io) = present(volume, "scaleIO") {
        set_empty(scale_io, "storageMode", json!("ThinProvisioned"));
        set_empty(scale_io, "fsType", json!("xfs"));
    }
    if let Some(template) = volume
        .pointer_mut("/ephemeral/volumeClaimTemplate")
        .filter(|t| t.is_object())
    {
        default_pvc_spec(spec(template));
    }
}

fn default_field_ref(item: &mut Value) {
    if let Some(field_ref) = present(item, "fieldRef") {
        set_empty(field_ref, "apiVersion", json!("v1"));
    }
}

/// Upstream pulls `:latest` (or an untagged image, which means latest) always.
fn pull_policy(image: &str) -> &'static str {
    let name = image.rsplit('/').next().unwrap_or(image);
    if name.contains('@') {
        return "IfNotPresent";
    }
    match name.split_once(':') {
        None => "Always",
        Some((_, "latest")) => "Always",
        Some(_) => "IfNotPresent",
    }
}

fn default_container(ctr: &mut Value) {
    let image = ctr.get("image").and_then(Value::as_str).unwrap_or("");
    let policy = pull_policy(image);
    set_empty(ctr, "imagePullPolicy", json!(policy));
    set_empty(ctr, "terminationMessagePath", json!("/dev/termination-log"));
    set_empty(ctr, "terminationMessagePolicy", json!("File"));
    default_port_protocols(ctr, "ports");
    for env in items(ctr, "env") {
        if let Some(from) = present(env, "valueFrom") {
            default_field_ref(from);
        }
    }
    let resources = object(ctr, "resources");
    canonicalize_resource_list(Some(&mut *resources), "limits");
    canonicalize_resource_list(Some(resources), "requests");
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if let Some(probe) = present(ctr, probe) {
            set_missing_nonzero(probe, "timeoutSeconds", 1);
            set_missing_nonzero(probe, "periodSeconds", 10);
            set_missing_nonzero(probe, "successThreshold", 1);
            set_missing_nonzero(probe, "failureThreshold", 3);
            default_handler(probe);
        }
    }
    if let Some(lifecycle) = present(ctr, "lifecycle") {
        for hook in ["postStart", "preStop"] {
            if let Some(handler) = present(lifecycle, hook) {
                default_handler(handler);
            }
        }
    }
}

/// A Go int field left at zero gets its default.
fn set_missing_nonzero(obj: &mut Value, field: &str, value: i64) {
    if obj.get(field).and_then(Value::as_i64).unwrap_or(0) == 0 {
        obj[field] = json!(value);
    }
}

fn default_handler(handler: &mut Value) {
    if let Some(http) = present(handler, "httpGet") {
        set_empty(http, "path", json!("/"));
        set_empty(http, "scheme", json!("HTTP"));
    }
    if let Some(grpc) = present(handler, "grpc") {
        set_missing(grpc, "service", json!(""));
    }
}

fn default_pvc_spec(spec: &mut Value) {
    set_missing(spec, "volumeMode", json!("Filesystem"));
    if let Some(resources) = present(spec, "resources") {
        canonicalize_resource_list(Some(&mut *resources), "limits");
        canonicalize_resource_list(Some(resources), "requests");
    }
}

// ---------------------------------------------------------------------------
// Core kinds

fn default_replication_controller(rc: &mut Value) {
    let template_labels = rc
        .pointer("/spec/template/metadata/labels")
        .and_then(Value::as_object)
        .cloned();
    if let Some(labels) = template_labels {
        let spec = spec(rc);
        if spec
            .get("selector")
            .and_then(Value::as_object)
            .is_none_or(Map::is_empty)
        {
            spec["selector"] = Value::Object(labels.clone());
        }
        let meta = object(rc, "metadata");
        if meta
            .get("labels")
            .and_then(Value::as_object)
            .is_none_or(Map::is_empty)
        {
            meta["labels"] = Value::Object(labels);
        }
    }
    set_missing(spec(rc), "replicas", json!(1));
    if rc.pointer("/spec/template").is_some_and(Value::is_object) {
        default_template(spec(rc), "template");
    }
}

/// Upstream's `SetDefaults_Service`. Addresses are allocated elsewhere (`services.rs`).
pub fn default_service(svc: &mut Value) {
    let spec = spec(svc);
    set_empty(spec, "sessionAffinity", json!("None"));
    match spec.get("sessionAffinity").and_then(Value::as_str) {
        Some("None") => {
            if let Some(map) = spec.as_object_mut() {
                map.remove("sessionAffinityConfig");
            }
        }
        Some("ClientIP") => {
            let timeout = spec
                .pointer("/sessionAffinityConfig/clientIP/timeoutSeconds")
                .filter(|t| !t.is_null());
            if timeout.is_none() {
                spec["sessionAffinityConfig"] = json!({"clientIP": {"timeoutSeconds": 10800}});
            }
        }
        _ => {}
    }
    set_empty(spec, "type", json!("ClusterIP"));
    for port in items(spec, "ports") {
        set_empty(port, "protocol", json!("TCP"));
        let target_unset = match port.get("targetPort") {
            None | Some(Value::Null) => true,
            Some(Value::Number(n)) => n.as_i64() == Some(0),
            Some(Value::String(s)) => s.is_empty(),
            Some(_) => false,
        };
        if target_unset && let Some(p) = port.get("port").cloned() {
            port["targetPort"] = p;
        }
    }
    let service_type = spec
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let has_external_ips = spec
        .get("externalIPs")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty());
    let externally_accessible = matches!(service_type.as_str(), "LoadBalancer" | "NodePort")
        || (service_type == "ClusterIP" && has_external_ips);
    if externally_accessible {
        set_empty(spec, "externalTrafficPolicy", json!("Cluster"));
    }
    if matches!(
        service_type.as_str(),
        "NodePort" | "LoadBalancer" | "ClusterIP"
    ) {
        set_missing(spec, "internalTrafficPolicy", json!("Cluster"));
    }
    if service_type == "LoadBalancer" {
        set_missing(spec, "allocateLoadBalancerNodePorts", json!(true));
    }
}

/// Namespaces carry their name as the `kubernetes.io/metadata.name` label.
fn default_namespace(ns: &mut Value) {
    let name = ns
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if !name.is_empty() {
        let meta = object(ns, "metadata");
        let labels = object(meta, "labels");
        labels["kubernetes.io/metadata.name"] = json!(name);
    }
}

fn default_node(node: &mut Value) {
    let capacity = node
        .pointer("/status/capacity")
        .filter(|c| c.is_object())
        .cloned();
    if let Some(capacity) = capacity
        && node
            .pointer("/status/allocatable")
            .is_none_or(Value::is_null)
    {
        node["status"]["allocatable"] = capacity;
    }
}

fn default_limit_range(lr: &mut Value) {
    for item in items(spec(lr), "limits") {
        for field in [
            "max",
            "min",
            "default",
            "defaultRequest",
            "maxLimitRequestRatio",
        ] {
            canonicalize_resource_list(Some(&mut *item), field);
        }
        if item.get("type").and_then(Value::as_str) != Some("Container") {
            continue;
        }
        let max = item
            .get("max")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let min = item
            .get("min")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let defaults = object(item, "default").as_object_mut().expect("an object");
        for (k, v) in &max {
            defaults.entry(k.clone()).or_insert_with(|| v.clone());
        }
        let defaults = defaults.clone();
        let requests = object(item, "defaultRequest")
            .as_object_mut()
            .expect("an object");
        for (k, v) in defaults.iter().chain(min.iter()) {
            requests.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
}

// ---------------------------------------------------------------------------
// Workloads

fn default_deployment(deploy: &mut Value) {
    let spec = spec(deploy);
    set_missing(spec, "replicas", json!(1));
    let strategy = object(spec, "strategy");
    set_empty(strategy, "type", json!("RollingUpdate"));
    if strategy.get("type").and_then(Value::as_str) == Some("RollingUpdate") {
        let rolling = object(strategy, "rollingUpdate");
        set_missing(rolling, "maxUnavailable", json!("25%"));
        set_missing(rolling, "maxSurge", json!("25%"));
    }
    set_missing(spec, "revisionHistoryLimit", json!(10));
    set_missing(spec, "progressDeadlineSeconds", json!(600));
    default_template(spec, "template");
}

fn default_stateful_set(sts: &mut Value) {
    let spec = spec(sts);
    set_empty(spec, "podManagementPolicy", json!("OrderedReady"));
    let strategy = object(spec, "updateStrategy");
    if strategy
        .get("type")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        strategy["type"] = json!("RollingUpdate");
        set_missing(strategy, "rollingUpdate", json!({}));
    }
    if strategy.get("type").and_then(Value::as_str) == Some("RollingUpdate")
        && let Some(rolling) = present(strategy, "rollingUpdate")
    {
        set_missing(rolling, "partition", json!(0));
    }
    let policy = object(spec, "persistentVolumeClaimRetentionPolicy");
    set_empty(policy, "whenDeleted", json!("Retain"));
    set_empty(policy, "whenScaled", json!("Retain"));
    set_missing(spec, "replicas", json!(1));
    set_missing(spec, "revisionHistoryLimit", json!(10));
    default_template(spec, "template");
    for claim in items(spec, "volumeClaimTemplates") {
        let status = object(claim, "status");
        set_empty(status, "phase", json!("Pending"));
        default_pvc_spec(object(claim, "spec"));
    }
}

fn default_daemon_set(ds: &mut Value) {
    let spec = spec(ds);
    let strategy = object(spec, "updateStrategy");
    set_empty(strategy, "type", json!("RollingUpdate"));
    if strategy.get("type").and_then(Value::as_str) == Some("RollingUpdate") {
        let rolling = object(strategy, "rollingUpdate");
        set_missing(rolling, "maxUnavailable", json!(1));
        set_missing(rolling, "maxSurge", json!(0));
    }
    set_missing(spec, "revisionHistoryLimit", json!(10));
    default_template(spec, "template");
}

fn default_job(job: &mut Value) {
    let template_labels = job
        .pointer("/spec/template/metadata/labels")
        .and_then(Value::as_object)
        .cloned();
    let spec = spec(job);
    if spec.get("completions").is_none_or(Value::is_null)
        && spec.get("parallelism").is_none_or(Value::is_null)
    {
        spec["completions"] = json!(1);
        spec["parallelism"] = json!(1);
    }
    set_missing(spec, "parallelism", json!(1));
    let backoff = if spec
        .get("backoffLimitPerIndex")
        .is_some_and(|v| !v.is_null())
    {
        i32::MAX as i64
    } else {
        6
    };
    set_missing(spec, "backoffLimit", json!(backoff));
    set_missing(spec, "completionMode", json!("NonIndexed"));
    set_missing(spec, "suspend", json!(false));
    if let Some(policy) = present(spec, "podFailurePolicy") {
        for rule in items(policy, "rules") {
            for pattern in items(rule, "onPodConditions") {
                set_empty(pattern, "status", json!("True"));
            }
        }
    }
    let replacement = if spec.get("podFailurePolicy").is_some_and(|v| !v.is_null()) {
        "Failed"
    } else {
        "TerminatingOrFailed"
    };
    set_missing(spec, "podReplacementPolicy", json!(replacement));
    set_missing(spec, "manualSelector", json!(false));
    default_template(spec, "template");
    if let Some(labels) = template_labels {
        let meta = object(job, "metadata");
        if meta
            .get("labels")
            .and_then(Value::as_object)
            .is_none_or(Map::is_empty)
        {
            meta["labels"] = Value::Object(labels);
        }
    }
}

fn default_cron_job(cj: &mut Value) {
    let spec = spec(cj);
    set_empty(spec, "concurrencyPolicy", json!("Allow"));
    set_missing(spec, "suspend", json!(false));
    set_missing(spec, "successfulJobsHistoryLimit", json!(3));
    set_missing(spec, "failedJobsHistoryLimit", json!(1));
    let job_template = object(spec, "jobTemplate");
    default_template(object(job_template, "spec"), "template");
}

// ---------------------------------------------------------------------------
// Other groups

fn default_network_policy(np: &mut Value) {
    let spec = spec(np);
    for direction in ["ingress", "egress"] {
        for rule in items(spec, direction) {
            for port in items(rule, "ports") {
                set_missing(port, "protocol", json!("TCP"));
            }
        }
    }
    let has_types = spec
        .get("policyTypes")
        .and_then(Value::as_array)
        .is_some_and(|t| !t.is_empty());
    if !has_types {
        let has_egress = spec
            .get("egress")
            .and_then(Value::as_array)
            .is_some_and(|e| !e.is_empty());
        spec["policyTypes"] = if has_egress {
            json!(["Ingress", "Egress"])
        } else {
            json!(["Ingress"])
        };
    }
}

fn default_role_binding(binding: &mut Value) {
    set_empty(
        object(binding, "roleRef"),
        "apiGroup",
        json!("rbac.authorization.k8s.io"),
    );
    for subject in items(binding, "subjects") {
        let kind = subject.get("kind").and_then(Value::as_str).unwrap_or("");
        if matches!(kind, "User" | "Group") {
            set_empty(subject, "apiGroup", json!("rbac.authorization.k8s.io"));
        }
    }
}

fn default_csi_driver(driver: &mut Value) {
    let spec = spec(driver);
    set_missing(spec, "attachRequired", json!(true));
    set_missing(spec, "podInfoOnMount", json!(false));
    set_missing(spec, "storageCapacity", json!(false));
    set_missing(spec, "fsGroupPolicy", json!("ReadWriteOnceWithFSType"));
    let modes_empty = spec
        .get("volumeLifecycleModes")
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty);
    if modes_empty {
        spec["volumeLifecycleModes"] = json!(["Persistent"]);
    }
    set_missing(spec, "requiresRepublish", json!(false));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::ResourceTable;

    fn defaulted(group: &str, version: &str, plural: &str, mut obj: Value) -> Value {
        let table = ResourceTable::builtin();
        let info = table.get(group, version, plural).expect("built in");
        default_object(info, &mut obj);
        let once = obj.clone();
        default_object(info, &mut obj);
        assert_eq!(obj, once, "defaulting twice changes nothing");
        obj
    }

    fn template_spec(containers: Value) -> Value {
        json!({"metadata": {"labels": {"app": "web"}}, "spec": {"containers": containers}})
    }

    #[test]
    fn deployments_get_upstream_defaults_down_to_their_containers() {
        let d = defaulted(
            "apps",
            "v1",
            "deployments",
            json!({"metadata": {"name": "web"}, "spec": {"selector": {"matchLabels": {"app": "web"}},
                   "template": template_spec(json!([{"name": "web", "image": "nginx:1.25", "ports": [{"containerPort": 80}]}]))}}),
        );
        assert_eq!(d["spec"]["replicas"], 1);
        assert_eq!(
            d["spec"]["strategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}})
        );
        assert_eq!(d["spec"]["revisionHistoryLimit"], 10);
        assert_eq!(d["spec"]["progressDeadlineSeconds"], 600);
        let pod_spec = &d["spec"]["template"]["spec"];
        assert_eq!(pod_spec["restartPolicy"], "Always");
        assert_eq!(pod_spec["dnsPolicy"], "ClusterFirst");
        assert_eq!(pod_spec["schedulerName"], "default-scheduler");
        assert_eq!(pod_spec["terminationGracePeriodSeconds"], 30);
        assert_eq!(pod_spec["securityContext"], json!({}));
        assert!(
            pod_spec.get("enableServiceLinks").is_none(),
            "only pods get service links"
        );
        assert_eq!(
            pod_spec["containers"][0],
            json!({"name": "web", "image": "nginx:1.25", "imagePullPolicy": "IfNotPresent",
                   "ports": [{"containerPort": 80, "protocol": "TCP"}], "resources": {},
                   "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File"})
        );
    }

    #[test]
    fn image_pull_policy_follows_the_tag() {
        for (image, policy) in [
            ("nginx", "Always"),
            ("nginx:latest", "Always"),
            ("nginx:1.2", "IfNotPresent"),
            ("localhost:5000/nginx", "Always"),
            ("localhost:5000/nginx:v1", "IfNotPresent"),
            ("nginx@sha256:abc", "IfNotPresent"),
        ] {
            assert_eq!(pull_policy(image), policy, "{image}");
        }
    }

    #[test]
    fn pods_default_requests_to_limits_probes_and_volumes() {
        let p = defaulted(
            "",
            "v1",
            "pods",
            json!({"metadata": {"name": "p"}, "spec": {
                "containers": [{"name": "a", "image": "x", "resources": {"limits": {"cpu": "0.5", "memory": "1024Mi"}},
                                "livenessProbe": {"httpGet": {"port": 8080}}}],
                "volumes": [{"name": "s", "secret": {"secretName": "s"}}, {"name": "c", "configMap": {"name": "c"}}, {"name": "e"}],
            }}),
        );
        let spec = &p["spec"];
        assert_eq!(spec["enableServiceLinks"], true);
        assert_eq!(
            spec["containers"][0]["resources"],
            json!({"limits": {"cpu": "500m", "memory": "1Gi"}, "requests": {"cpu": "500m", "memory": "1Gi"}})
        );
        assert_eq!(
            spec["containers"][0]["livenessProbe"],
            json!({"httpGet": {"port": 8080, "path": "/", "scheme": "HTTP"}, "timeoutSeconds": 1,
                   "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3})
        );
        assert_eq!(spec["volumes"][0]["secret"]["defaultMode"], 420);
        assert_eq!(spec["volumes"][1]["configMap"]["defaultMode"], 420);
        assert_eq!(spec["volumes"][2]["emptyDir"], json!({}));
    }

    #[test]
    fn services_get_affinity_type_ports_and_traffic_policies() {
        let s = defaulted(
            "",
            "v1",
            "services",
            json!({"metadata": {"name": "s"}, "spec": {"type": "NodePort", "ports": [{"port": 80}]}}),
        );
        assert_eq!(
            s["spec"],
            json!({"type": "NodePort", "sessionAffinity": "None", "ports": [{"port": 80, "protocol": "TCP", "targetPort": 80}],
                   "externalTrafficPolicy": "Cluster", "internalTrafficPolicy": "Cluster"})
        );
        let lb = defaulted(
            "",
            "v1",
            "services",
            json!({"spec": {"type": "LoadBalancer", "sessionAffinity": "ClientIP", "ports": [{"port": 80, "targetPort": "http"}]}}),
        );
        assert_eq!(lb["spec"]["allocateLoadBalancerNodePorts"], true);
        assert_eq!(
            lb["spec"]["sessionAffinityConfig"]["clientIP"]["timeoutSeconds"],
            10800
        );
        assert_eq!(lb["spec"]["ports"][0]["targetPort"], "http");
    }

    #[test]
    fn workloads_get_their_kind_defaults() {
        let sts = defaulted(
            "apps",
            "v1",
            "statefulsets",
            json!({"spec": {"template": template_spec(json!([])),
            "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"]}}]}}),
        );
        assert_eq!(sts["spec"]["podManagementPolicy"], "OrderedReady");
        assert_eq!(
            sts["spec"]["updateStrategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}})
        );
        assert_eq!(
            sts["spec"]["persistentVolumeClaimRetentionPolicy"],
            json!({"whenDeleted": "Retain", "whenScaled": "Retain"})
        );
        assert_eq!(sts["spec"]["replicas"], 1);
        assert_eq!(sts["spec"]["revisionHistoryLimit"], 10);
        assert_eq!(
            sts["spec"]["volumeClaimTemplates"][0]["spec"]["volumeMode"],
            "Filesystem"
        );
        assert_eq!(
            sts["spec"]["volumeClaimTemplates"][0]["status"],
            json!({"phase": "Pending"})
        );

        let ds = defaulted(
            "apps",
            "v1",
            "daemonsets",
            json!({"spec": {"template": template_spec(json!([]))}}),
        );
        assert_eq!(
            ds["spec"]["updateStrategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}})
        );
        assert_eq!(ds["spec"]["revisionHistoryLimit"], 10);

        let rs = defaulted(
            "apps",
            "v1",
            "replicasets",
            json!({"spec": {"template": template_spec(json!([]))}}),
        );
        assert_eq!(rs["spec"]["replicas"], 1);

        let job = defaulted(
            "batch",
            "v1",
            "jobs",
            json!({"metadata": {"name": "j"}, "spec": {"template": template_spec(json!([]))}}),
        );
        for (field, value) in [
            ("completions", json!(1)),
            ("parallelism", json!(1)),
            ("backoffLimit", json!(6)),
            ("completionMode", json!("NonIndexed")),
            ("suspend", json!(false)),
            ("podReplacementPolicy", json!("TerminatingOrFailed")),
            ("manualSelector", json!(false)),
        ] {
            assert_eq!(job["spec"][field], value, "{field}");
        }
        assert_eq!(job["metadata"]["labels"], json!({"app": "web"}));
        assert_eq!(job["spec"]["template"]["spec"]["restartPolicy"], "Always");

        let cj = defaulted(
            "batch",
            "v1",
            "cronjobs",
            json!({"spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": template_spec(json!([]))}}}}),
        );
        assert_eq!(cj["spec"]["concurrencyPolicy"], "Allow");
        assert_eq!(cj["spec"]["suspend"], false);
        assert_eq!(cj["spec"]["successfulJobsHistoryLimit"], 3);
        assert_eq!(cj["spec"]["failedJobsHistoryLimit"], 1);
        assert!(
            cj["spec"]["jobTemplate"]["spec"]
                .get("backoffLimit")
                .is_none(),
            "job defaults are the job's"
        );
        assert_eq!(
            cj["spec"]["jobTemplate"]["spec"]["template"]["spec"]["dnsPolicy"],
            "ClusterFirst"
        );
    }

    #[test]
    fn replication_controllers_take_selector_and_labels_from_their_template() {
        let rc = defaulted(
            "",
            "v1",
            "replicationcontrollers",
            json!({"metadata": {"name": "rc"}, "spec": {"template": template_spec(json!([]))}}),
        );
        assert_eq!(rc["spec"]["selector"], json!({"app": "web"}));
        assert_eq!(rc["metadata"]["labels"], json!({"app": "web"}));
        assert_eq!(rc["spec"]["replicas"], 1);
    }

    #[test]
    fn other_kinds_get_their_defaults() {
        let secret = defaulted("", "v1", "secrets", json!({"metadata": {"name": "s"}}));
        assert_eq!(secret["type"], "Opaque");
        let ns = defaulted(
            "",
            "v1",
            "namespaces",
            json!({"metadata": {"name": "team"}}),
        );
        assert_eq!(
            ns["metadata"]["labels"],
            json!({"kubernetes.io/metadata.name": "team"})
        );
        let pvc = defaulted(
            "",
            "v1",
            "persistentvolumeclaims",
            json!({"spec": {"resources": {"requests": {"storage": "1024Mi"}}}}),
        );
        assert_eq!(pvc["spec"]["volumeMode"], "Filesystem");
        assert_eq!(pvc["spec"]["resources"]["requests"]["storage"], "1Gi");
        let pc = defaulted(
            "scheduling.k8s.io",
            "v1",
            "priorityclasses",
            json!({"value": 1}),
        );
        assert_eq!(pc["preemptionPolicy"], "PreemptLowerPriority");
        let slice = defaulted(
            "discovery.k8s.io",
            "v1",
            "endpointslices",
            json!({"ports": [{"port": 80}]}),
        );
        assert_eq!(
            slice["ports"],
            json!([{"port": 80, "name": "", "protocol": "TCP"}])
        );
        let binding = defaulted(
            "rbac.authorization.k8s.io",
            "v1",
            "rolebindings",
            json!({"roleRef": {"kind": "Role", "name": "r"}, "subjects": [{"kind": "User", "name": "u"}, {"kind": "ServiceAccount", "name": "sa"}]}),
        );
        assert_eq!(binding["roleRef"]["apiGroup"], "rbac.authorization.k8s.io");
        assert_eq!(
            binding["subjects"][0]["apiGroup"],
            "rbac.authorization.k8s.io"
        );
        assert!(binding["subjects"][1].get("apiGroup").is_none());
        let hpa = defaulted(
            "autoscaling",
            "v2",
            "horizontalpodautoscalers",
            json!({"spec": {}}),
        );
        assert_eq!(hpa["spec"]["minReplicas"], 1);
        let lr = defaulted(
            "",
            "v1",
            "limitranges",
            json!({"spec": {"limits": [{"type": "Container", "max": {"cpu": "1"}, "min": {"memory": "1Mi"}}]}}),
        );
        assert_eq!(lr["spec"]["limits"][0]["default"], json!({"cpu": "1"}));
        assert_eq!(
            lr["spec"]["limits"][0]["defaultRequest"],
            json!({"cpu": "1", "memory": "1Mi"})
        );
    }
}
