//! Upstream's per-kind validation of built-in objects (`pkg/apis/*/validation`), run by
//! `strategy::validate` after object metadata has been checked. Each function reads the
//! object as JSON after defaulting and returns upstream's field errors, with upstream's
//! paths and wording, in upstream's order.

mod admissionregistration;
mod apps;
mod batch;
mod core;
mod gofmt;
mod other;
mod pod;
pub mod quantity;
mod service;

use den_apimachinery::labels::LabelSelector;
use den_apimachinery::validation::{
    self as v, BadValue, ErrorType, FieldError, go_quote, is_dns1123_label, is_dns1123_subdomain,
    is_qualified_name, is_valid_label_value,
};
use serde_json::{Map, Value};

use crate::resources::ResourceInfo;

pub(crate) type Errors = Vec<FieldError>;

/// The labels a job's generated selector and its pods carry.
pub mod batch_labels {
    pub const LEGACY_CONTROLLER_UID: &str = "controller-uid";
    pub const LEGACY_JOB_NAME: &str = "job-name";
    pub const CONTROLLER_UID: &str = "batch.kubernetes.io/controller-uid";
    pub const JOB_NAME: &str = "batch.kubernetes.io/job-name";
}

/// What the kind requires of `obj`; `old` is the stored object on updates of the main
/// resource. Kinds without rules here answer nothing.
pub fn validate(info: &ResourceInfo, obj: &Value, old: Option<&Value>) -> Errors {
    match (info.group.as_ref(), info.plural.as_ref()) {
        ("", "pods") => match old {
            None => pod::validate_pod_create(obj),
            Some(old) => pod::validate_pod_update(obj, old),
        },
        ("", "podtemplates") => pod::validate_pod_template_object(obj),
        ("", "replicationcontrollers") => apps::validate_replication_controller(obj),
        ("", "services") => service::validate_service(obj, old),
        ("", "namespaces") => core::validate_namespace(obj),
        ("", "nodes") => core::validate_node(obj),
        ("", "persistentvolumeclaims") => core::validate_pvc(obj, old),
        ("", "events") | ("events.k8s.io", "events") => core::validate_event(info, obj, old),
        ("", "limitranges") => core::validate_limit_range(obj),
        ("", "resourcequotas") => core::validate_resource_quota(obj, old),
        ("apps", "deployments") => apps::validate_deployment(obj, old),
        ("apps", "replicasets") => apps::validate_replica_set(obj, old),
        ("apps", "statefulsets") => apps::validate_stateful_set(obj, old),
        ("apps", "daemonsets") => apps::validate_daemon_set(obj, old),
        ("batch", "jobs") => batch::validate_job(obj, old),
        ("batch", "cronjobs") => batch::validate_cron_job(obj, old),
        ("networking.k8s.io", "ingresses") => other::validate_ingress(obj),
        ("rbac.authorization.k8s.io", "roles") => other::validate_role(obj, true),
        ("rbac.authorization.k8s.io", "clusterroles") => other::validate_role(obj, false),
        ("rbac.authorization.k8s.io", "rolebindings") => {
            other::validate_role_binding(obj, old, true)
        }
        ("rbac.authorization.k8s.io", "clusterrolebindings") => {
            other::validate_role_binding(obj, old, false)
        }
        ("coordination.k8s.io", "leases") => other::validate_lease(obj),
        ("discovery.k8s.io", "endpointslices") => other::validate_endpoint_slice(obj, old),
        ("scheduling.k8s.io", "priorityclasses") => other::validate_priority_class(obj, old),
        ("admissionregistration.k8s.io", "validatingadmissionpolicies") => {
            admissionregistration::validate_policy(obj, old)
        }
        ("admissionregistration.k8s.io", "validatingadmissionpolicybindings") => {
            admissionregistration::validate_binding(obj)
        }
        _ => Vec::new(),
    }
}

/// What upstream's decoder refuses before any validation runs: quantities that do not parse.
/// `Some(message)` is the decoder's error, for a 400 `cannot be handled as` answer.
pub fn decode_error(info: &ResourceInfo, obj: &Value) -> Option<&'static str> {
    let holds_quantities = matches!(
        (info.group.as_ref(), info.plural.as_ref()),
        (
            "",
            "pods"
                | "podtemplates"
                | "replicationcontrollers"
                | "persistentvolumeclaims"
                | "persistentvolumes"
                | "resourcequotas"
                | "limitranges"
                | "nodes"
        ) | (
            "apps",
            "deployments" | "replicasets" | "statefulsets" | "daemonsets"
        ) | ("batch", "jobs" | "cronjobs")
    );
    if holds_quantities {
        bad_quantity(obj)
    } else {
        None
    }
}

/// The first resource list entry (or `sizeLimit`) anywhere in `v` that is not a quantity.
fn bad_quantity(v: &Value) -> Option<&'static str> {
    const RESOURCE_LISTS: &[&str] = &[
        "limits",
        "requests",
        "hard",
        "used",
        "capacity",
        "allocatable",
        "max",
        "min",
        "default",
        "defaultRequest",
        "maxLimitRequestRatio",
    ];
    match v {
        Value::Object(map) => map.iter().find_map(|(k, child)| {
            let is_list = RESOURCE_LISTS.contains(&k.as_str()) && child.is_object();
            if is_list {
                let values = child.as_object().expect("checked above");
                if let Some(err) = values
                    .values()
                    .filter(|q| !q.is_null())
                    .find_map(|q| quantity::Quantity::from_json(q).err())
                {
                    return Some(err);
                }
                return None;
            }
            if k == "sizeLimit" && !child.is_null() {
                return quantity::Quantity::from_json(child).err();
            }
            bad_quantity(child)
        }),
        Value::Array(items) => items.iter().find_map(bad_quantity),
        _ => None,
    }
}

// ---------------------------------------------------------------------------
// Reading JSON

pub(crate) fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

pub(crate) fn list<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

pub(crate) fn int(v: &Value, key: &str) -> Option<i64> {
    v.get(key).and_then(Value::as_i64)
}

pub(crate) fn map<'a>(v: &'a Value, key: &str) -> Option<&'a Map<String, Value>> {
    v.get(key).and_then(Value::as_object)
}

/// A field that is set to something other than JSON null.
pub(crate) fn present<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.get(key).filter(|x| !x.is_null())
}

pub(crate) fn null() -> &'static Value {
    &Value::Null
}

// ---------------------------------------------------------------------------
// Field paths, rendered like upstream's field.Path

pub(crate) fn child(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

pub(crate) fn index(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

pub(crate) fn key(path: &str, k: &str) -> String {
    format!("{path}[{k}]")
}

// ---------------------------------------------------------------------------
// Field errors

pub(crate) fn required(path: &str, detail: &str) -> FieldError {
    FieldError::required(path, detail)
}

pub(crate) fn forbidden(path: &str, detail: &str) -> FieldError {
    FieldError::forbidden(path, detail)
}

pub(crate) fn invalid(path: &str, value: BadValue, detail: &str) -> FieldError {
    FieldError::invalid(path, value, detail)
}

pub(crate) fn invalid_str(path: &str, value: &str, detail: &str) -> FieldError {
    FieldError::invalid(path, BadValue::Str(value.into()), detail)
}

pub(crate) fn invalid_int(path: &str, value: i64, detail: &str) -> FieldError {
    FieldError::invalid(path, BadValue::Int(value), detail)
}

pub(crate) fn duplicate(path: &str, value: BadValue) -> FieldError {
    FieldError::duplicate(path, value)
}

pub(crate) fn not_supported(path: &str, value: BadValue, valid: &[&str]) -> FieldError {
    FieldError::not_supported(path, value, valid)
}

pub(crate) fn not_found(path: &str, value: &str) -> FieldError {
    FieldError {
        error_type: ErrorType::NotFound,
        field: path.to_string(),
        value: BadValue::Str(value.into()),
        detail: String::new(),
    }
}

pub(crate) fn too_many(path: &str, actual: usize, max: usize) -> FieldError {
    FieldError {
        error_type: ErrorType::TooMany,
        field: path.to_string(),
        value: BadValue::Int(actual as i64),
        detail: format!("must have at most {max} items"),
    }
}

pub(crate) const IS_NEGATIVE: &str = "must be greater than or equal to 0";
pub(crate) const IMMUTABLE: &str = "field is immutable";

/// Upstream's `ValidateNonnegativeField` for an optional integer field.
pub(crate) fn non_negative(errs: &mut Errors, obj: &Value, field: &str, path: &str) {
    if let Some(value) = int(obj, field)
        && value < 0
    {
        errs.push(invalid_int(path, value, IS_NEGATIVE));
    }
}

/// Upstream's `ValidateImmutableField`: `shown` is the new value as the error shows it.
pub(crate) fn immutable(
    errs: &mut Errors,
    new: Option<&Value>,
    old: Option<&Value>,
    path: &str,
    shown: BadValue,
) {
    if !semantic_eq(new, old) {
        errs.push(invalid(path, shown, IMMUTABLE));
    }
}

/// Upstream's semantic equality on JSON: a missing field equals JSON null and, for maps and
/// lists, an empty one (Go's nil and empty compare equal after a round trip).
pub(crate) fn semantic_eq(a: Option<&Value>, b: Option<&Value>) -> bool {
    fn empty(v: Option<&Value>) -> bool {
        match v {
            None | Some(Value::Null) => true,
            Some(Value::Object(m)) => m.is_empty(),
            Some(Value::Array(a)) => a.is_empty(),
            _ => false,
        }
    }
    match (a, b) {
        (Some(Value::Object(x)), Some(Value::Object(y))) => x
            .keys()
            .chain(y.keys())
            .all(|k| semantic_eq(x.get(k), y.get(k))),
        (Some(Value::Array(x)), Some(Value::Array(y))) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| semantic_eq(Some(a), Some(b)))
        }
        (Some(Value::Number(x)), Some(Value::Number(y))) => x.as_f64() == y.as_f64(),
        (a, b) if empty(a) && empty(b) => true,
        (a, b) => a == b,
    }
}

/// One `-`/`+` pair per changed top-level field, standing in for the `cmp.Diff` of the Go
/// structs that upstream appends to some messages.
pub(crate) fn field_diff(type_name: &str, old: &Value, new: &Value) -> String {
    let empty = Map::new();
    let (old_map, new_map) = (
        old.as_object().unwrap_or(&empty),
        new.as_object().unwrap_or(&empty),
    );
    let fields: std::collections::BTreeSet<&String> =
        old_map.keys().chain(new_map.keys()).collect();
    let mut out = format!("  {type_name}{{\n");
    for field in fields {
        let (a, b) = (old_map.get(field), new_map.get(field));
        if semantic_eq(a, b) {
            continue;
        }
        let show = |v: Option<&Value>| v.map_or("nil".to_string(), |v| v.to_string());
        out.push_str(&format!(
            "- \t{field}: {},\n+ \t{field}: {},\n",
            show(a),
            show(b)
        ));
    }
    out.push_str("  }\n");
    out
}

pub(crate) const SELECTOR_MISMATCH: &str = "`selector` does not match template `labels`";

/// Upstream's check that a workload's selector selects its own template's pods.
pub(crate) fn selector_matches_template(errs: &mut Errors, selector: &LabelSelector, spec: &Value) {
    let template_labels = spec.pointer("/template/metadata/labels");
    let labels = template_labels
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    if !selector.matches(&labels) {
        errs.push(invalid(
            "spec.template.metadata.labels",
            raw(gofmt::string_map(template_labels)),
            SELECTOR_MISMATCH,
        ));
    }
}

/// A required enum field: empty is `Required`, anything but `valid` is `NotSupported`.
pub(crate) fn one_of(errs: &mut Errors, value: &str, path: &str, valid: &[&str]) {
    if value.is_empty() {
        errs.push(required(path, ""));
    } else if !valid.contains(&value) {
        errs.push(not_supported(path, quoted(value), valid));
    }
}

/// Go's `%q` of a typed string value, as `BadValue`.
pub(crate) fn quoted(value: &str) -> BadValue {
    BadValue::Str(value.into())
}

pub(crate) fn raw(value: String) -> BadValue {
    BadValue::Raw(value)
}

// ---------------------------------------------------------------------------
// Shared format rules

pub(crate) fn dns1123_label(errs: &mut Errors, value: &str, path: &str) {
    for msg in is_dns1123_label(value) {
        errs.push(invalid_str(path, value, &msg));
    }
}

pub(crate) fn dns1123_subdomain(errs: &mut Errors, value: &str, path: &str) {
    for msg in is_dns1123_subdomain(value) {
        errs.push(invalid_str(path, value, &msg));
    }
}

pub(crate) fn qualified_name(errs: &mut Errors, value: &str, path: &str) {
    for msg in is_qualified_name(value) {
        errs.push(invalid_str(path, value, &msg));
    }
}

/// A name checked with an object-name rule (`ValidateServiceAccountName` and friends).
pub(crate) fn object_name(errs: &mut Errors, value: &str, path: &str) {
    for msg in v::name_is_dns_subdomain(value, false) {
        errs.push(invalid_str(path, value, &msg));
    }
}

pub(crate) fn labels(errs: &mut Errors, obj: &Value, field: &str, path: &str) {
    if let Some(m) = map(obj, field) {
        errs.extend(v::validate_labels(m, path));
    }
}

pub(crate) fn annotations(errs: &mut Errors, obj: &Value, field: &str, path: &str) {
    if let Some(m) = map(obj, field) {
        errs.extend(v::validate_annotations(m, path));
    }
}

/// `must be between 1 and 65535, inclusive`
pub(crate) fn port_number_errors(port: i64) -> Vec<String> {
    if (1..=65535).contains(&port) {
        Vec::new()
    } else {
        vec![inclusive_range(1, 65535)]
    }
}

pub(crate) fn inclusive_range(lo: i64, hi: i64) -> String {
    format!("must be between {lo} and {hi}, inclusive")
}

/// Upstream's `IsValidPortName`.
pub(crate) fn port_name_errors(name: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if name.len() > 15 {
        errs.push(v::max_len_error(15));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        errs.push("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)".into());
    }
    if !name.bytes().any(|b| b.is_ascii_lowercase()) {
        errs.push("must contain at least one letter (a-z)".into());
    }
    if name.contains("--") {
        errs.push("must not contain consecutive hyphens".into());
    }
    if name.starts_with('-') || name.ends_with('-') {
        errs.push("must not begin or end with a hyphen".into());
    }
    errs
}

/// Upstream's `ValidatePortNumOrName` for an int-or-string port.
pub(crate) fn port_num_or_name(errs: &mut Errors, port: Option<&Value>, path: &str) {
    match port {
        Some(Value::String(name)) => {
            for msg in port_name_errors(name) {
                errs.push(invalid_str(path, name, &msg));
            }
        }
        other => {
            let number = other.and_then(Value::as_i64).unwrap_or(0);
            for msg in port_number_errors(number) {
                errs.push(invalid_int(path, number, &msg));
            }
        }
    }
}

/// Upstream's `ValidateLabelSelector` (label values must be valid).
pub(crate) fn label_selector(errs: &mut Errors, selector: &Value, path: &str) {
    labels(errs, selector, "matchLabels", &child(path, "matchLabels"));
    for (i, expr) in list(selector, "matchExpressions").iter().enumerate() {
        let expr_path = index(&child(path, "matchExpressions"), i);
        let values = list(expr, "values");
        match s(expr, "operator") {
            "In" | "NotIn" if values.is_empty() => errs.push(required(
                &child(&expr_path, "values"),
                "must be specified when `operator` is 'In' or 'NotIn'",
            )),
            "Exists" | "DoesNotExist" if !values.is_empty() => errs.push(forbidden(
                &child(&expr_path, "values"),
                "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
            )),
            "In" | "NotIn" | "Exists" | "DoesNotExist" => {}
            op => errs.push(invalid_str(
                &child(&expr_path, "operator"),
                op,
                "not a valid selector operator",
            )),
        }
        qualified_name(errs, s(expr, "key"), &child(&expr_path, "key"));
        for (j, value) in values.iter().enumerate() {
            let value = value.as_str().unwrap_or("");
            for msg in is_valid_label_value(value) {
                errs.push(invalid_str(
                    &index(&child(&expr_path, "values"), j),
                    value,
                    &msg,
                ));
            }
        }
    }
}

/// `metav1.LabelSelectorAsSelector`: `None` when the selector does not convert.
pub(crate) fn as_selector(selector: Option<&Value>) -> Option<LabelSelector> {
    match selector {
        None | Some(Value::Null) => Some(LabelSelector::nothing()),
        Some(sel) => LabelSelector::from_label_selector_json(sel).ok(),
    }
}

/// The message of a Go `%q`-quoted list, e.g. for "valid values" details.
pub(crate) fn go_quoted(value: &str) -> String {
    go_quote(value)
}

#[cfg(test)]
mod tests;
