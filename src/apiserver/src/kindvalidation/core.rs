//! Core kinds without pod templates: namespaces, nodes, persistent volume claims, events,
//! limit ranges and resource quotas (upstream's `pkg/apis/core/validation`).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use den_apimachinery::validation::{BadValue, is_valid_label_value};
use serde_json::Value;

use super::gofmt;
use super::pod::{
    container_resource_name, is_standard_quota_resource, resource_name, resource_quantity,
};
use super::quantity::Quantity;
use super::*;

pub fn validate_namespace(obj: &Value) -> Errors {
    let mut errs = Errors::new();
    for finalizer in list(obj.get("spec").unwrap_or(null()), "finalizers") {
        let name = finalizer.as_str().unwrap_or("");
        qualified_name(&mut errs, name, "spec.finalizers");
        if !name.contains('/') && !matches!(name, "kubernetes" | "orphan" | "foregroundDeletion") {
            errs.push(invalid_str(
                "spec.finalizers",
                name,
                "name is neither a standard finalizer name nor is it fully qualified",
            ));
        }
    }
    errs
}

pub fn validate_node(obj: &Value) -> Errors {
    let mut errs = Errors::new();
    let spec = obj.get("spec").unwrap_or(null());
    let mut unique: HashMap<&str, HashSet<&str>> = HashMap::new();
    for (i, taint) in list(spec, "taints").iter().enumerate() {
        let path = index("metadata.taints", i);
        let key_name = s(taint, "key");
        qualified_name(&mut errs, key_name, &child(&path, "key"));
        let value = s(taint, "value");
        let msgs = is_valid_label_value(value);
        if !msgs.is_empty() {
            errs.push(invalid_str(&child(&path, "value"), value, &msgs.join(";")));
        }
        let effect = s(taint, "effect");
        match effect {
            "" => errs.push(required(&child(&path, "effect"), "")),
            "NoSchedule" | "PreferNoSchedule" | "NoExecute" => {}
            other => errs.push(not_supported(
                &child(&path, "effect"),
                quoted(other),
                &["NoSchedule", "PreferNoSchedule", "NoExecute"],
            )),
        }
        if !unique.entry(effect).or_default().insert(key_name) {
            let mut err = duplicate(
                &path,
                raw(format!(
                    "core.Taint{{Key:{}, Value:{}, Effect:{}, TimeAdded:<nil>}}",
                    go_quoted(key_name),
                    go_quoted(value),
                    go_quoted(effect)
                )),
            );
            err.detail = "taints must be unique by key and effect pair".into();
            errs.push(err);
        }
    }
    for (i, cidr) in list(spec, "podCIDRs").iter().enumerate() {
        let cidr = cidr.as_str().unwrap_or("");
        if !is_cidr(cidr) {
            errs.push(invalid_str(
                &index("spec.podCIDRs", i),
                cidr,
                "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)",
            ));
        }
    }
    errs
}

fn is_cidr(value: &str) -> bool {
    let Some((ip, prefix)) = value.split_once('/') else {
        return false;
    };
    let Ok(ip) = ip.parse::<std::net::IpAddr>() else {
        return false;
    };
    let max = if ip.is_ipv4() { 32 } else { 128 };
    prefix.parse::<u8>().is_ok_and(|p| p <= max)
}

const ACCESS_MODES: &[&str] = &[
    "ReadOnlyMany",
    "ReadWriteMany",
    "ReadWriteOnce",
    "ReadWriteOncePod",
];

/// Upstream's `ValidatePersistentVolumeClaim` and, on updates, the immutability of all of
/// the spec but `resources.requests` of bound claims.
pub fn validate_pvc(obj: &Value, old: Option<&Value>) -> Errors {
    let mut errs = Errors::new();
    let spec = obj.get("spec").unwrap_or(null());
    validate_pvc_spec(&mut errs, spec, "spec");
    let Some(old) = old else {
        return errs;
    };
    let old_spec = old.get("spec").unwrap_or(null());
    let mut new_clone = spec.clone();
    let mut old_clone = old_spec.clone();
    if s(old_spec, "volumeName").is_empty()
        && let Some(o) = old_clone.as_object_mut()
    {
        match spec.get("volumeName") {
            Some(v) => o.insert("volumeName".into(), v.clone()),
            None => o.remove("volumeName"),
        };
    }
    let bound = obj.pointer("/status/phase").and_then(Value::as_str) == Some("Bound");
    if bound {
        if let Some(requests) = new_clone
            .pointer_mut("/resources/requests")
            .and_then(Value::as_object_mut)
        {
            match old_spec.pointer("/resources/requests/storage") {
                Some(v) => requests.insert("storage".into(), v.clone()),
                None => requests.remove("storage"),
            };
        }
        if let (Some(o), Some(v)) = (
            new_clone.as_object_mut(),
            old_spec.get("volumeAttributesClassName"),
        ) {
            o.insert("volumeAttributesClassName".into(), v.clone());
        }
    }
    // A claim may gain the storage class its beta annotation already named.
    let beta_annotation = old
        .pointer("/metadata/annotations/volume.beta.kubernetes.io~1storage-class")
        .is_some();
    if present(old_spec, "storageClassName").is_none()
        && !beta_annotation
        && let Some(class) = present(spec, "storageClassName")
        && let Some(o) = old_clone.as_object_mut()
    {
        o.insert("storageClassName".into(), class.clone());
    }
    if !semantic_eq(Some(&new_clone), Some(&old_clone)) {
        errs.push(forbidden(
            "spec",
            &format!(
                "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims\n{}",
                field_diff("core.PersistentVolumeClaimSpec", &old_clone, &new_clone)
            ),
        ));
    }
    let size = |spec: &Value| {
        spec.pointer("/resources/requests/storage")
            .and_then(|q| Quantity::from_json(q).ok())
            .unwrap_or_else(Quantity::zero)
    };
    if size(spec) < size(old_spec) {
        errs.push(forbidden(
            "spec.resources.requests.storage",
            "field can not be less than previous value",
        ));
    }
    immutable(
        &mut errs,
        present(spec, "volumeMode"),
        present(old_spec, "volumeMode"),
        "volumeMode",
        gofmt::optional_str(present(spec, "volumeMode")),
    );
    errs
}

fn validate_pvc_spec(errs: &mut Errors, spec: &Value, path: &str) {
    let modes = list(spec, "accessModes");
    if modes.is_empty() {
        errs.push(required(
            &child(path, "accessModes"),
            "at least 1 access mode is required",
        ));
    }
    if let Some(selector) = present(spec, "selector") {
        label_selector(errs, selector, &child(path, "selector"));
    }
    let (mut rwop, mut other) = (false, false);
    for mode in modes {
        let mode = mode.as_str().unwrap_or("");
        if !ACCESS_MODES.contains(&mode) {
            errs.push(not_supported(
                &child(path, "accessModes"),
                quoted(mode),
                ACCESS_MODES,
            ));
        }
        if mode == "ReadWriteOncePod" {
            rwop = true;
        } else if ACCESS_MODES.contains(&mode) {
            other = true;
        }
    }
    if rwop && other {
        errs.push(forbidden(
            &child(path, "accessModes"),
            "may not use ReadWriteOncePod with other access modes",
        ));
    }
    let storage_path = key(&child(path, "resources"), "storage");
    match spec.pointer("/resources/requests/storage") {
        None => errs.push(required(&storage_path, "")),
        Some(value) => {
            if let Ok(q) = Quantity::from_json(value) {
                if q.is_zero() || q.is_negative() {
                    errs.push(invalid_str(
                        &storage_path,
                        &q.canonical(),
                        "must be greater than zero",
                    ));
                } else {
                    resource_quantity(errs, "storage", value, &storage_path);
                }
            }
        }
    }
    if let Some(class) = present(spec, "storageClassName").and_then(Value::as_str)
        && !class.is_empty()
    {
        object_name(errs, class, &child(path, "storageClassName"));
    }
    if let Some(mode) = present(spec, "volumeMode").and_then(Value::as_str)
        && !matches!(mode, "Block" | "Filesystem")
    {
        errs.push(not_supported(
            &child(path, "volumeMode"),
            quoted(mode),
            &["Block", "Filesystem"],
        ));
    }
}

const REPORTING_INSTANCE_LIMIT: usize = 128;
const ACTION_LIMIT: usize = 128;
const REASON_LIMIT: usize = 128;
const NOTE_LIMIT: usize = 1024;

/// Upstream's event rules. Both versions are validated in core v1 terms (upstream validates
/// the internal type, whose names are core v1's); only `events.k8s.io` requests get the
/// strict rules.
pub fn validate_event(info: &ResourceInfo, obj: &Value, old: Option<&Value>) -> Errors {
    let strict = info.group == "events.k8s.io";
    let to_core = |o: &Value| match info.builtin().and_then(|b| b.conversion) {
        Some(c) => (c.to_storage)(o.clone()),
        None => o.clone(),
    };
    let event = to_core(obj);
    let mut errs = legacy_validate_event(&event, strict);
    if !strict {
        return errs;
    }
    match old {
        None => {
            series(&mut errs, &event);
            if present(&event, "eventTime").is_none() {
                errs.push(required("eventTime", ""));
            }
            let kind = s(&event, "type");
            if kind != "Normal" && kind != "Warning" {
                errs.push(invalid_str(
                    "type",
                    "",
                    &format!("has invalid value: {kind}"),
                ));
            }
            for field in ["firstTimestamp", "lastTimestamp"] {
                if present(&event, field).is_some() {
                    errs.push(invalid_str(field, "", "needs to be unset"));
                }
            }
            if int(&event, "count").unwrap_or(0) != 0 {
                errs.push(invalid_str("count", "", "needs to be unset"));
            }
            let source = event.get("source").unwrap_or(null());
            if !s(source, "component").is_empty() || !s(source, "host").is_empty() {
                errs.push(invalid_str("source", "", "needs to be unset"));
            }
        }
        Some(old) => {
            let old = to_core(old);
            if !semantic_eq(event.get("series"), old.get("series")) {
                series(&mut errs, &event);
            }
            for field in [
                "involvedObject",
                "reason",
                "message",
                "source",
                "firstTimestamp",
                "lastTimestamp",
                "count",
                "reason",
                "type",
                "eventTime",
                "action",
                "related",
                "reportingComponent",
                "reportingInstance",
            ] {
                let path = if field == "reportingComponent" {
                    "reportingController"
                } else {
                    field
                };
                immutable(
                    &mut errs,
                    present(&event, field),
                    present(&old, field),
                    path,
                    shown(present(&event, field)),
                );
            }
        }
    }
    errs
}

fn shown(value: Option<&Value>) -> BadValue {
    match value {
        None => BadValue::Str("null".into()),
        Some(Value::String(s)) => BadValue::Str(s.clone()),
        Some(Value::Number(n)) => BadValue::Int(n.as_i64().unwrap_or(0)),
        Some(other) => BadValue::Raw(other.to_string()),
    }
}

fn series(errs: &mut Errors, event: &Value) {
    if let Some(series) = present(event, "series") {
        if int(series, "count").unwrap_or(0) < 2 {
            errs.push(invalid_str("series.count", "", "should be at least 2"));
        }
        if present(series, "lastObservedTime").is_none() {
            errs.push(required("series.lastObservedTime", ""));
        }
    }
}

fn legacy_validate_event(event: &Value, strict: bool) -> Errors {
    let mut errs = Errors::new();
    let namespace = event
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("");
    let involved_namespace = event
        .pointer("/involvedObject/namespace")
        .and_then(Value::as_str)
        .unwrap_or("");
    let mismatch = |errs: &mut Errors| {
        errs.push(invalid_str(
            "involvedObject.namespace",
            involved_namespace,
            "does not match event.namespace",
        ))
    };
    if present(event, "eventTime").is_none() {
        if involved_namespace.is_empty() {
            if !namespace.is_empty() && namespace != "default" {
                mismatch(&mut errs);
            }
        } else if namespace != involved_namespace {
            mismatch(&mut errs);
        }
    } else {
        if involved_namespace.is_empty() && namespace != "default" && namespace != "kube-system" {
            mismatch(&mut errs);
        }
        let controller_field = if strict {
            "reportingController"
        } else {
            "reportingComponent"
        };
        let controller = s(event, "reportingComponent");
        if controller.is_empty() {
            errs.push(required(controller_field, ""));
        }
        qualified_name(&mut errs, controller, controller_field);
        let instance = s(event, "reportingInstance");
        if instance.is_empty() {
            errs.push(required("reportingInstance", ""));
        }
        if instance.len() > REPORTING_INSTANCE_LIMIT {
            errs.push(invalid_str(
                "reportingInstance",
                "",
                "can have at most 128 characters",
            ));
        }
        let action = s(event, "action");
        if action.is_empty() {
            errs.push(required("action", ""));
        }
        if action.len() > ACTION_LIMIT {
            errs.push(invalid_str("action", "", "can have at most 128 characters"));
        }
        let reason = s(event, "reason");
        if reason.is_empty() {
            errs.push(required("reason", ""));
        }
        if reason.len() > REASON_LIMIT {
            errs.push(invalid_str("reason", "", "can have at most 128 characters"));
        }
        if s(event, "message").len() > NOTE_LIMIT {
            errs.push(invalid_str(
                "message",
                "",
                "can have at most 1024 characters",
            ));
        }
    }
    dns1123_subdomain(&mut errs, namespace, "namespace");
    errs
}

/// Upstream's `ValidateLimitRange`.
pub fn validate_limit_range(obj: &Value) -> Errors {
    let mut errs = Errors::new();
    let mut types = HashSet::new();
    for (i, limit) in list(obj.get("spec").unwrap_or(null()), "limits")
        .iter()
        .enumerate()
    {
        let path = index("spec.limits", i);
        let kind = s(limit, "type");
        let type_path = child(&path, "type");
        let before = errs.len();
        qualified_name(&mut errs, kind, &type_path);
        if errs.len() == before
            && !kind.contains('/')
            && !matches!(kind, "Pod" | "Container" | "PersistentVolumeClaim")
        {
            errs.push(invalid_str(
                &type_path,
                kind,
                "must be a standard limit type or fully qualified",
            ));
        }
        if !types.insert(kind) {
            errs.push(duplicate(&type_path, quoted(kind)));
        }
        let container_like = matches!(kind, "Pod" | "Container");
        let mut keys = BTreeSet::new();
        let mut values: BTreeMap<&str, BTreeMap<String, Quantity>> = BTreeMap::new();
        let mut collect = |errs: &mut Errors, field: &'static str| {
            if let Some(m) = map(limit, field) {
                for (name, q) in m {
                    let field_path = key(&child(&path, field), name);
                    if container_like {
                        container_resource_name(errs, name, &field_path);
                    } else {
                        resource_name(errs, name, &field_path);
                    }
                    keys.insert(name.clone());
                    if let Ok(q) = Quantity::from_json(q) {
                        values.entry(field).or_default().insert(name.clone(), q);
                    }
                }
            }
        };
        collect(&mut errs, "max");
        collect(&mut errs, "min");
        if kind == "Pod" {
            for field in ["default", "defaultRequest"] {
                if map(limit, field).is_some_and(|m| !m.is_empty()) {
                    errs.push(forbidden(
                        &child(&path, field),
                        "may not be specified when `type` is 'Pod'",
                    ));
                }
            }
        } else {
            collect(&mut errs, "default");
            collect(&mut errs, "defaultRequest");
        }
        if kind == "PersistentVolumeClaim" {
            let has = |field: &str| map(limit, field).is_some_and(|m| m.contains_key("storage"));
            if !has("min") && !has("max") {
                errs.push(required(
                    &child(&path, "limits"),
                    "either minimum or maximum storage value is required, but neither was provided",
                ));
            }
        }
        collect(&mut errs, "maxLimitRequestRatio");
        for name in &keys {
            let get = |field: &str| values.get(field).and_then(|m| m.get(name)).copied();
            let (min, max, default, default_request, ratio) = (
                get("min"),
                get("max"),
                get("default"),
                get("defaultRequest"),
                get("maxLimitRequestRatio"),
            );
            let at = |field: &str| key(&child(&path, field), name);
            let show = |q: Quantity| raw(q.go_sharp_v());
            if let (Some(min), Some(max)) = (min, max)
                && min > max
            {
                errs.push(invalid(
                    &at("min"),
                    show(min),
                    &format!("min value {min} is greater than max value {max}"),
                ));
            }
            if let (Some(req), Some(min)) = (default_request, min)
                && min > req
            {
                errs.push(invalid(
                    &at("defaultRequest"),
                    show(req),
                    &format!("min value {min} is greater than default request value {req}"),
                ));
            }
            if let (Some(req), Some(max)) = (default_request, max)
                && req > max
            {
                errs.push(invalid(
                    &at("defaultRequest"),
                    show(req),
                    &format!("default request value {req} is greater than max value {max}"),
                ));
            }
            if let (Some(req), Some(default)) = (default_request, default)
                && req > default
            {
                errs.push(invalid(
                    &at("defaultRequest"),
                    show(req),
                    &format!(
                        "default request value {req} is greater than default limit value {default}"
                    ),
                ));
            }
            if let (Some(default), Some(min)) = (default, min)
                && min > default
            {
                errs.push(invalid(
                    &at("default"),
                    show(min),
                    &format!("min value {min} is greater than default value {default}"),
                ));
            }
            if let (Some(default), Some(max)) = (default, max)
                && default > max
            {
                errs.push(invalid(
                    &at("default"),
                    show(max),
                    &format!("default value {default} is greater than max value {max}"),
                ));
            }
            if let Some(ratio) = ratio
                && ratio < Quantity::from_int(1)
            {
                errs.push(invalid(
                    &at("maxLimitRequestRatio"),
                    show(ratio),
                    &format!("ratio {ratio} is less than 1"),
                ));
            }
            if let (Some(ratio), Some(min), Some(max)) = (ratio, min, max) {
                let limit = max.milli_value() as f64 / min.milli_value() as f64;
                let ratio_value = ratio.milli_value() as f64 / 1000.0;
                if ratio_value > limit {
                    errs.push(invalid(
                        &at("maxLimitRequestRatio"),
                        show(ratio),
                        &format!("ratio {ratio} is greater than max/min = {limit:.6}"),
                    ));
                }
            }
            let overcommit =
                super::pod::is_native_resource(name) && !name.starts_with("hugepages-");
            if let (Some(default), Some(req)) = (default, default_request)
                && !overcommit
                && default != req
            {
                errs.push(invalid(
                    &at("defaultRequest"),
                    show(req),
                    &format!(
                        "default value {default} must equal to defaultRequest value {req} in {name}"
                    ),
                ));
            }
        }
    }
    errs
}

const QUOTA_SCOPES: &[&str] = &[
    "Terminating",
    "NotTerminating",
    "BestEffort",
    "NotBestEffort",
    "PriorityClass",
    "VolumeAttributesClass",
    "CrossNamespacePodAffinity",
];

/// Upstream's `ValidateResourceQuota` (spec) and, on updates, fixed scopes.
pub fn validate_resource_quota(obj: &Value, old: Option<&Value>) -> Errors {
    let mut errs = Errors::new();
    let spec = obj.get("spec").unwrap_or(null());
    if let Some(hard) = map(spec, "hard") {
        let mut names: Vec<&String> = hard.keys().collect();
        names.sort();
        for name in names {
            let path = key("spec.hard", name);
            if resource_name(&mut errs, name, &path)
                && !name.contains('/')
                && !is_standard_quota_resource(name)
            {
                errs.push(invalid_str(
                    &path,
                    name,
                    "must be a standard resource for quota",
                ));
            }
            resource_quantity(&mut errs, name, &hard[name.as_str()], &path);
        }
    }
    let scopes = list(spec, "scopes");
    let shown_scopes = || {
        raw(gofmt::typed_string_slice(
            "core.ResourceQuotaScope",
            present(spec, "scopes"),
        ))
    };
    let mut seen = HashSet::new();
    for scope in scopes {
        let scope = scope.as_str().unwrap_or("");
        if !QUOTA_SCOPES.contains(&scope) {
            errs.push(invalid("spec.scopes", shown_scopes(), "unsupported scope"));
        }
        seen.insert(scope);
    }
    for (a, b) in [
        ("BestEffort", "NotBestEffort"),
        ("Terminating", "NotTerminating"),
    ] {
        if seen.contains(a) && seen.contains(b) {
            errs.push(invalid("spec.scopes", shown_scopes(), "conflicting scopes"));
        }
    }
    if let Some(old) = old {
        let old_scopes: HashSet<&str> = list(old.get("spec").unwrap_or(null()), "scopes")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        if old_scopes != seen {
            errs.push(invalid("spec.scopes", shown_scopes(), IMMUTABLE));
        }
    }
    errs
}
