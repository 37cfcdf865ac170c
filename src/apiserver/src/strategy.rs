//! The small per-kind pieces of the generic registry: what a create or update resets,
//! which names are valid, which fields are selectable. The order in which they run is fixed
//! once, in `registry.rs`.

use std::sync::Arc;

use den_apimachinery::validation::{self, Cause};
use den_storage::cacher::TriggerFn;
use serde_json::{Value, json};

use crate::objects::{self, meta_mut};
use crate::registry::Part;
use crate::resources::{Codec, ResourceInfo};

/// Kinds whose `metadata.generation` upstream sets to 1 on create and bumps on spec changes.
pub fn tracks_generation(info: &ResourceInfo) -> bool {
    if matches!(info.codec, Codec::Custom(_)) {
        return true;
    }
    matches!(
        (info.group.as_ref(), info.plural.as_ref()),
        ("apps", _)
            | ("batch", _)
            | ("autoscaling", _)
            | ("policy", _)
            | ("networking.k8s.io", "ingresses" | "networkpolicies")
            | ("", "replicationcontrollers")
            | ("apiextensions.k8s.io", _)
            | ("admissionregistration.k8s.io", _)
            | ("flowcontrol.apiserver.k8s.io", _)
            | ("", "pods")
    ) && info.plural != "controllerrevisions"
}

/// Upstream's `PrepareForCreate`: status that clients may not set is reset, and what the
/// server generates for a kind (a job's selector, a daemon set's template generation) is
/// filled in. Defaults are `defaults.rs`'s and have already been applied.
pub fn prepare_for_create(info: &ResourceInfo, obj: &mut Value) {
    let root = obj.as_object_mut().expect("objects are JSON objects");
    match (info.group.as_ref(), info.plural.as_ref()) {
        ("", "namespaces") => {
            root.insert("status".into(), json!({"phase": "Active"}));
            let spec = root.entry("spec").or_insert_with(|| json!({}));
            if spec.get("finalizers").is_none() {
                spec["finalizers"] = json!(["kubernetes"]);
            }
        }
        ("", "pods") => {
            let qos = qos_class(root.get("spec").unwrap_or(&Value::Null));
            root.insert(
                "status".into(),
                json!({"phase": "Pending", "qosClass": qos}),
            );
        }
        ("", "persistentvolumeclaims" | "persistentvolumes") => {
            root.insert("status".into(), json!({"phase": "Pending"}));
        }
        ("", "nodes") | ("", "events") => {}
        ("batch", "jobs") => {
            root.remove("status");
            generate_job_selector(obj);
        }
        ("apps", "daemonsets") => {
            root.remove("status");
            let generation = template_generation(obj).max(1);
            set_template_generation(obj, generation);
        }
        _ if info.status_subresource => {
            root.remove("status");
        }
        _ => {}
    }
    if tracks_generation(info) {
        meta_mut(obj).insert("generation".into(), json!(1));
    }
}

/// Upstream's `generateSelectorIfNeeded`: unless the job asks for a manual selector, its
/// pods are labelled with the job's name and uid and selected by the uid. The job's own
/// labels default to its template's, as upstream's defaulting shows them on read.
fn generate_job_selector(job: &mut Value) {
    use crate::kindvalidation::batch_labels::{
        CONTROLLER_UID, JOB_NAME, LEGACY_CONTROLLER_UID, LEGACY_JOB_NAME,
    };
    if job.pointer("/spec/manualSelector").and_then(Value::as_bool) == Some(true) {
        return;
    }
    let name = objects::name(job).to_string();
    let uid = objects::meta_str(job, "uid").unwrap_or("").to_string();
    let spec = job["spec"]
        .as_object_mut()
        .expect("defaulting made the spec");
    let template = spec.entry("template").or_insert_with(|| json!({}));
    let meta = template
        .as_object_mut()
        .expect("defaulting made the template")
        .entry("metadata")
        .or_insert_with(|| json!({}));
    if !meta.get("labels").is_some_and(Value::is_object) {
        meta["labels"] = json!({});
    }
    let labels = meta["labels"].as_object_mut().expect("just made");
    for (label, value) in [
        (LEGACY_JOB_NAME, &name),
        (JOB_NAME, &name),
        (LEGACY_CONTROLLER_UID, &uid),
        (CONTROLLER_UID, &uid),
    ] {
        labels.entry(label).or_insert_with(|| json!(value));
    }
    let template_labels = labels.clone();
    let selector = spec.entry("selector").or_insert_with(|| json!({}));
    if !selector.is_object() {
        *selector = json!({});
    }
    if !selector.get("matchLabels").is_some_and(Value::is_object) {
        selector["matchLabels"] = json!({});
    }
    selector["matchLabels"]
        .as_object_mut()
        .expect("just made")
        .entry(CONTROLLER_UID)
        .or_insert_with(|| json!(uid));
    let job_meta = meta_mut(job);
    if job_meta
        .get("labels")
        .and_then(Value::as_object)
        .is_none_or(|l| l.is_empty())
    {
        job_meta.insert("labels".into(), Value::Object(template_labels));
    }
}

/// apps/v1 carries a daemon set's template generation in this annotation.
const TEMPLATE_GENERATION: &str = "deprecated.daemonset.template.generation";

fn template_generation(obj: &Value) -> i64 {
    obj.pointer("/metadata/annotations")
        .and_then(|a| a.get(TEMPLATE_GENERATION))
        .and_then(Value::as_str)
        .and_then(|g| g.parse().ok())
        .unwrap_or(0)
}

fn set_template_generation(obj: &mut Value, generation: i64) {
    let meta = meta_mut(obj);
    if !meta.get("annotations").is_some_and(Value::is_object) {
        meta.insert("annotations".into(), json!({}));
    }
    meta["annotations"][TEMPLATE_GENERATION] = json!(generation.to_string());
}

/// Upstream's `PrepareForUpdate` for the main resource: status is only written through the
/// status subresource, and generation follows spec changes.
pub fn prepare_for_update(info: &ResourceInfo, new: &mut Value, old: &Value) {
    if info.is("", "services") {
        crate::services::keep_allocated_values(new, old);
    }
    if info.is("apps", "daemonsets") {
        // The template generation is the server's: it follows template changes.
        let old_generation = template_generation(old);
        let changed = new.pointer("/spec/template") != old.pointer("/spec/template");
        set_template_generation(new, old_generation + i64::from(changed));
    }
    if info.status_subresource {
        match old.get("status") {
            Some(status) => new["status"] = status.clone(),
            None => {
                new.as_object_mut().map(|o| o.remove("status"));
            }
        }
    }
    bump_generation(info, new, old);
}

/// The status subresource's `PrepareForUpdate`: only status (and metadata) may change.
pub fn prepare_for_status_update(new: &mut Value, old: &Value) {
    let status = new.get("status").cloned();
    let meta = new.get("metadata").cloned();
    *new = old.clone();
    match status {
        Some(status) => new["status"] = status,
        None => {
            new.as_object_mut().map(|o| o.remove("status"));
        }
    }
    if let Some(meta) = meta {
        new["metadata"] = meta;
    }
}

fn bump_generation(info: &ResourceInfo, new: &mut Value, old: &Value) {
    if !tracks_generation(info) {
        return;
    }
    let old_generation = old
        .pointer("/metadata/generation")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let changed = objects::spec_fields(new) != objects::spec_fields(old);
    let generation = if changed {
        old_generation + 1
    } else {
        old_generation
    };
    meta_mut(new).insert("generation".into(), json!(generation));
}

/// Upstream's pod QoS class: Guaranteed when every container sets equal CPU and memory
/// requests and limits, BestEffort when none sets any, Burstable otherwise.
fn qos_class(spec: &Value) -> &'static str {
    let containers: Vec<&Value> = ["initContainers", "containers"]
        .iter()
        .flat_map(|f| spec.get(*f).and_then(Value::as_array).into_iter().flatten())
        .collect();
    let quantity = |c: &Value, kind: &str, resource: &str| {
        c.pointer(&format!("/resources/{kind}/{resource}"))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let mut any = false;
    let mut guaranteed = !containers.is_empty();
    for c in &containers {
        for resource in ["cpu", "memory"] {
            let (request, limit) = (
                quantity(c, "requests", resource),
                quantity(c, "limits", resource),
            );
            any |= request.is_some() || limit.is_some();
            // A missing request defaults to the limit.
            guaranteed &= limit.is_some() && (request.is_none() || request == limit);
        }
    }
    match (any, guaranteed) {
        (false, _) => "BestEffort",
        (true, true) => "Guaranteed",
        (true, false) => "Burstable",
    }
}

/// Names of IPAddress objects are the addresses themselves, in canonical form.
fn name_is_ip_address(name: &str, _prefix: bool) -> Vec<String> {
    match name.parse::<std::net::IpAddr>() {
        Ok(ip) if ip.to_string() == name => Vec::new(),
        Ok(ip) => vec![format!("must be in canonical form (\"{ip}\")")],
        Err(_) => vec!["must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)".into()],
    }
}

/// How upstream validates a kind's `metadata.name`.
fn name_rule(info: &ResourceInfo) -> validation::NameValidation {
    match (info.group.as_ref(), info.plural.as_ref()) {
        ("", "namespaces") => validation::name_is_dns_label,
        ("", "services") => validation::name_is_dns1035_label,
        ("apps", "statefulsets") => validation::name_is_dns_label,
        ("rbac.authorization.k8s.io", _) | ("apiregistration.k8s.io", "apiservices") => {
            validation::name_is_path_segment
        }
        ("networking.k8s.io", "ipaddresses") => name_is_ip_address,
        _ => validation::name_is_dns_subdomain,
    }
}

/// Object metadata with the kind's name rule, then what the kind itself requires
/// (`kindvalidation`). `old` is the stored object on updates of the main resource.
pub fn validate(info: &ResourceInfo, obj: &Value, old: Option<&Value>) -> Vec<Cause> {
    let mut causes = validate_metadata(info, obj, old);
    if matches!(info.codec, Codec::Builtin(_)) {
        causes.extend(
            crate::kindvalidation::validate(info, obj, old)
                .iter()
                .map(validation::FieldError::to_cause),
        );
    }
    causes
}

/// Upstream's decoder refuses some malformed values (quantities) with a 400 before anything
/// else looks at the object.
pub fn check_decodable(
    info: &ResourceInfo,
    obj: &Value,
) -> Result<(), den_apimachinery::status::ApiError> {
    match crate::kindvalidation::decode_error(info, obj) {
        None => Ok(()),
        Some(err) => Err(den_apimachinery::status::ApiError::bad_request(&format!(
            "{kind} in version \"{version}\" cannot be handled as a {kind}: {err}",
            kind = info.kind,
            version = info.version,
        ))),
    }
}

/// What an update of `part` must satisfy: the whole kind for the main resource; metadata
/// (and a custom resource's schema) for status and finalize writes, which cannot change
/// the spec.
pub fn validate_update(info: &ResourceInfo, part: Part, new: &Value, old: &Value) -> Vec<Cause> {
    match part {
        Part::Main => validate(info, new, Some(old)),
        Part::Status | Part::Finalize => validate_metadata(info, new, Some(old)),
    }
}

fn validate_metadata(info: &ResourceInfo, obj: &Value, old: Option<&Value>) -> Vec<Cause> {
    let rule = name_rule(info);
    let mut causes = validation::validate_object_meta(
        obj.get("metadata").unwrap_or(&Value::Null),
        info.namespaced,
        rule,
    );
    match &info.codec {
        Codec::Custom(custom) => causes.extend(custom.validate(obj, old)),
        Codec::Builtin(_) if info.is("apiextensions.k8s.io", "customresourcedefinitions") => {
            causes.extend(crate::crd::validate_crd(obj));
        }
        Codec::Builtin(_) if info.is("", "configmaps") || info.is("", "secrets") => {
            causes.extend(validate_data_keys(obj));
            if let Some(old) = old {
                causes.extend(validate_immutable_data(obj, old));
            }
        }
        Codec::Builtin(_) => {}
    }
    causes
}

const CONFIG_KEY_MESSAGE: &str = "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')";

/// ConfigMap and Secret keys: upstream's `IsConfigMapKey`.
fn validate_data_keys(obj: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    for field in ["data", "binaryData", "stringData"] {
        let Some(map) = obj.get(field).and_then(Value::as_object) else {
            continue;
        };
        for key in map.keys() {
            let valid = !key.is_empty()
                && key.len() <= 253
                && key
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
                && key != "."
                && key != ".."
                && !key.starts_with("..");
            if !valid {
                let field = format!("{field}[{key}]");
                let value = validation::BadValue::Str(key.clone());
                causes.push(
                    validation::FieldError::invalid(&field, value, CONFIG_KEY_MESSAGE).to_cause(),
                );
            }
        }
    }
    causes
}

/// An `immutable` ConfigMap or Secret keeps its data and stays immutable.
fn validate_immutable_data(new: &Value, old: &Value) -> Vec<Cause> {
    if old.get("immutable").and_then(Value::as_bool) != Some(true) {
        return Vec::new();
    }
    let mut causes = Vec::new();
    for field in ["data", "binaryData"] {
        if new.get(field) != old.get(field) {
            causes.push(
                validation::FieldError::forbidden(
                    field,
                    "field is immutable when `immutable` is set",
                )
                .to_cause(),
            );
        }
    }
    if new.get("immutable").and_then(Value::as_bool) != Some(true) {
        causes.push(
            validation::FieldError::forbidden(
                "immutable",
                "field is immutable when `immutable` is set",
            )
            .to_cause(),
        );
    }
    causes
}

/// Finalizers a delete adds before the object may go: a CRD's custom resources are
/// deleted first.
pub fn finalizers_on_delete(info: &ResourceInfo) -> &'static [&'static str] {
    if info.is("apiextensions.k8s.io", "customresourcedefinitions") {
        &[crate::crd::CLEANUP_FINALIZER]
    } else {
        &[]
    }
}

/// Fields a field selector may name for this kind, besides `metadata.name`/`metadata.namespace`.
pub fn selectable_fields(info: &ResourceInfo) -> Vec<String> {
    if let Codec::Custom(custom) = &info.codec {
        return custom.selectable_fields.clone();
    }
    let fields: &[&str] = match (info.group.as_ref(), info.plural.as_ref()) {
        ("", "pods") => &[
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.podIPs",
            "status.nominatedNodeName",
        ],
        ("", "events") => &[
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ],
        ("events.k8s.io", "events") => &[
            "regarding.kind",
            "regarding.namespace",
            "regarding.name",
            "regarding.uid",
            "regarding.apiVersion",
            "regarding.resourceVersion",
            "regarding.fieldPath",
            "reason",
            "reportingController",
            "type",
        ],
        ("", "secrets") => &["type"],
        ("", "namespaces") => &["status.phase"],
        ("", "nodes") => &["spec.unschedulable"],
        ("", "replicationcontrollers") | ("apps", "replicasets") => &["status.replicas"],
        ("", "services") => &["spec.clusterIP", "spec.type"],
        ("batch", "jobs") => &["status.successful"],
        ("certificates.k8s.io", "certificatesigningrequests") => &["spec.signerName"],
        _ => &[],
    };
    fields.iter().map(|f| f.to_string()).collect()
}

/// The field whose value indexes the resource's watchers (upstream's indexed trigger): a
/// kubelet's `spec.nodeName=<node>` watch is offered only the pods of its node.
pub fn trigger_field(info: &ResourceInfo) -> Option<&'static str> {
    info.is("", "pods").then_some("spec.nodeName")
}

/// What the watch cache reads a resource's [`trigger_field`] from the stored bytes with.
pub fn trigger_fn(info: &ResourceInfo) -> Option<TriggerFn> {
    trigger_field(info).map(|_| Arc::new(pod_node_name) as TriggerFn)
}

/// A stored pod's `spec.nodeName` (empty when unset, as the field selector compares it),
/// read without building the whole object.
fn pod_node_name(stored: &[u8]) -> String {
    #[derive(serde::Deserialize, Default)]
    struct Pod {
        #[serde(default)]
        spec: Spec,
    }
    #[derive(serde::Deserialize, Default)]
    struct Spec {
        #[serde(rename = "nodeName", default)]
        node_name: Option<String>,
    }
    serde_json::from_slice::<Pod>(stored)
        .ok()
        .and_then(|pod| pod.spec.node_name)
        .unwrap_or_default()
}

/// The value of a selectable field, as upstream's field set renders it.
pub fn field_value(info: &ResourceInfo, obj: &Value, field: &str) -> Option<String> {
    if let Codec::Custom(custom) = &info.codec {
        return custom.field_value(obj, field);
    }
    let value = match field {
        // An event's source falls back to its reporting controller, as upstream's field set.
        "source" => obj
            .pointer("/source/component")
            .filter(|c| c.as_str().is_some_and(|c| !c.is_empty()))
            .or_else(|| obj.get("reportingComponent")),
        "status.podIPs" => obj.pointer("/status/podIPs/0/ip"),
        "spec.hostNetwork" | "spec.unschedulable" => {
            let path = format!("/{}", field.replace('.', "/"));
            return Some(
                obj.pointer(&path)
                    .and_then(Value::as_bool)
                    .unwrap_or(false)
                    .to_string(),
            );
        }
        _ => obj.pointer(&format!("/{}", field.replace('.', "/"))),
    };
    match value? {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}
