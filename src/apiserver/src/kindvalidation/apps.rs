//! Workload controllers: upstream's `pkg/apis/apps/validation` and the replication
//! controller rules of `pkg/apis/core/validation`.

use den_apimachinery::validation::regex_error;
use serde_json::Value;

use super::gofmt;
use super::pod::validate_pod_template_spec;
use super::*;

/// The selector and template checks every workload shares (upstream's
/// `ValidatePodTemplateSpecForReplicaSet` and its siblings): `kind` names the workload in
/// the `activeDeadlineSeconds` message; `pod_spec` is false for StatefulSets, whose template
/// spec upstream does not validate.
fn template_for_selector(
    errs: &mut Errors,
    spec: &Value,
    selector: Option<&LabelSelector>,
    kind: &str,
    pod_spec: bool,
) {
    let template = spec.get("template").unwrap_or(null());
    if let Some(selector) = selector
        && !selector.is_empty()
    {
        selector_matches_template(errs, selector, spec);
    }
    if pod_spec {
        validate_pod_template_spec(errs, template, "spec.template");
    } else {
        let meta = template.get("metadata").unwrap_or(null());
        labels(errs, meta, "labels", "spec.template.labels");
        annotations(errs, meta, "annotations", "spec.template.annotations");
    }
    restarts_always(errs, template, kind);
}

/// Workload pods restart always and have no deadline: upstream's template rules for every
/// controller but jobs. `kind` names the workload in the deadline message.
fn restarts_always(errs: &mut Errors, template: &Value, kind: &str) {
    let restart = template
        .pointer("/spec/restartPolicy")
        .and_then(Value::as_str)
        .unwrap_or("");
    if restart != "Always" {
        errs.push(not_supported(
            "spec.template.spec.restartPolicy",
            quoted(restart),
            &["Always"],
        ));
    }
    if template
        .pointer("/spec/activeDeadlineSeconds")
        .is_some_and(|v| !v.is_null())
    {
        errs.push(forbidden(
            "spec.template.spec.activeDeadlineSeconds",
            &format!("activeDeadlineSeconds in {kind} is not Supported"),
        ));
    }
}

/// `spec.selector` of apps workloads: required, valid, non-empty; the converted selector
/// when it converts.
fn workload_selector(
    errs: &mut Errors,
    spec: &Value,
    empty_message: &str,
) -> Option<LabelSelector> {
    match present(spec, "selector") {
        None => errs.push(required("spec.selector", "")),
        Some(selector) => {
            label_selector(errs, selector, "spec.selector");
            empty_selector(errs, selector, empty_message);
        }
    }
    as_selector(present(spec, "selector"))
}

/// A selector with neither labels nor expressions would select every pod.
fn empty_selector(errs: &mut Errors, selector: &Value, message: &str) {
    let count = map(selector, "matchLabels").map_or(0, |m| m.len())
        + list(selector, "matchExpressions").len();
    if count == 0 {
        errs.push(invalid(
            "spec.selector",
            gofmt::label_selector(Some(selector)),
            message,
        ));
    }
}

fn selector_immutable(errs: &mut Errors, spec: &Value, old: Option<&Value>) {
    if let Some(old) = old {
        let old_selector = old.pointer("/spec/selector");
        immutable(
            errs,
            present(spec, "selector"),
            old_selector.filter(|v| !v.is_null()),
            "spec.selector",
            gofmt::label_selector(present(spec, "selector")),
        );
    }
}

/// The selector and template rules deployments and replica sets share (upstream's
/// replica set rule names deployments in its empty-selector message too).
fn replica_set_selector_and_template(errs: &mut Errors, spec: &Value) {
    match workload_selector(errs, spec, "empty selector is invalid for deployment") {
        Some(selector) => template_for_selector(errs, spec, Some(&selector), "ReplicaSet", true),
        None => errs.push(invalid(
            "spec.selector",
            gofmt::label_selector(present(spec, "selector")),
            "invalid label selector",
        )),
    }
}

pub fn validate_deployment(obj: &Value, old: Option<&Value>) -> Errors {
    let mut errs = Errors::new();
    let spec = obj.get("spec").unwrap_or(null());
    non_negative(&mut errs, spec, "replicas", "spec.replicas");
    replica_set_selector_and_template(&mut errs, spec);
    validate_deployment_strategy(&mut errs, spec.get("strategy").unwrap_or(null()));
    non_negative(&mut errs, spec, "minReadySeconds", "spec.minReadySeconds");
    non_negative(
        &mut errs,
        spec,
        "revisionHistoryLimit",
        "spec.revisionHistoryLimit",
    );
    if let Some(rollback) = present(spec, "rollbackTo") {
        non_negative(&mut errs, rollback, "revision", "spec.rollback.version");
    }
    if let Some(deadline) = int(spec, "progressDeadlineSeconds") {
        non_negative(
            &mut errs,
            spec,
            "progressDeadlineSeconds",
            "spec.progressDeadlineSeconds",
        );
        if deadline <= int(spec, "minReadySeconds").unwrap_or(0) {
            errs.push(invalid_int(
                "spec.progressDeadlineSeconds",
                deadline,
                "must be greater than minReadySeconds",
            ));
        }
    }
    selector_immutable(&mut errs, spec, old);
    errs
}

fn validate_deployment_strategy(errs: &mut Errors, strategy: &Value) {
    match s(strategy, "type") {
        "Recreate" => {
            if present(strategy, "rollingUpdate").is_some() {
                errs.push(forbidden(
                    "spec.strategy.rollingUpdate",
                    "may not be specified when strategy `type` is 'Recreate'",
                ));
            }
        }
        "RollingUpdate" => match present(strategy, "rollingUpdate") {
            None => errs.push(required(
                "spec.strategy.rollingUpdate",
                "this should be defaulted and never be nil",
            )),
            Some(rolling) => {
                let path = "spec.strategy.rollingUpdate";
                let unavailable = rolling.get("maxUnavailable");
                let surge = rolling.get("maxSurge");
                positive_int_or_percent(errs, unavailable, &child(path, "maxUnavailable"));
                positive_int_or_percent(errs, surge, &child(path, "maxSurge"));
                if int_or_percent_value(unavailable) == 0 && int_or_percent_value(surge) == 0 {
                    errs.push(invalid(
                        &child(path, "maxUnavailable"),
                        raw(gofmt::int_or_string(unavailable)),
                        "may not be 0 when `maxSurge` is 0",
                    ));
                }
                not_more_than_100_percent(errs, unavailable, &child(path, "maxUnavailable"));
            }
        },
        _ => errs.push(not_supported(
            "spec.strategy",
            raw(deployment_strategy_struct(strategy)),
            &["Recreate", "RollingUpdate"],
        )),
    }
}

fn deployment_strategy_struct(strategy: &Value) -> String {
    let rolling = match present(strategy, "rollingUpdate") {
        None => "(*apps.RollingUpdateDeployment)(nil)".to_string(),
        Some(_) => "(*apps.RollingUpdateDeployment)(0xc000000000)".to_string(),
    };
    format!(
        "apps.DeploymentStrategy{{Type:{}, RollingUpdate:{rolling}}}",
        go_quoted(s(strategy, "type"))
    )
}

/// Upstream's `ValidatePositiveIntOrPercent`.
fn positive_int_or_percent(errs: &mut Errors, value: Option<&Value>, path: &str) {
    match value {
        Some(Value::String(percent)) if !is_percent(percent) => {
            errs.push(invalid(
                path,
                raw(gofmt::int_or_string(value)),
                &regex_error(
                    "a valid percent string must be a numeric string followed by an ending '%'",
                    "[0-9]+%",
                    &["1%", "93%"],
                ),
            ));
        }
        Some(Value::Number(n)) => {
            let n = n.as_i64().unwrap_or(0);
            if n < 0 {
                errs.push(invalid_int(path, n, IS_NEGATIVE));
            }
        }
        _ => {}
    }
}

fn is_percent(s: &str) -> bool {
    s.strip_suffix('%')
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

fn percent_value(value: Option<&Value>) -> Option<i64> {
    match value {
        Some(Value::String(p)) if is_percent(p) => p[..p.len() - 1].parse().ok(),
        _ => None,
    }
}

fn int_or_percent_value(value: Option<&Value>) -> i64 {
    percent_value(value).unwrap_or_else(|| match value {
        Some(Value::Number(n)) => n.as_i64().unwrap_or(0),
        Some(Value::String(s)) => s.parse().unwrap_or(0),
        _ => 0,
    })
}

fn not_more_than_100_percent(errs: &mut Errors, value: Option<&Value>, path: &str) {
    if percent_value(value).is_some_and(|p| p > 100) {
        errs.push(invalid(
            path,
            raw(gofmt::int_or_string(value)),
            "must not be greater than 100%",
        ));
    }
}

pub fn validate_replica_set(obj: &Value, old: Option<&Value>) -> Errors {
    let mut errs = Errors::new();
    let spec = obj.get("spec").unwrap_or(null());
    non_negative(&mut errs, spec, "replicas", "spec.replicas");
    non_negative(&mut errs, spec, "minReadySeconds", "spec.minReadySeconds");
    replica_set_selector_and_template(&mut errs, spec);
    if old.is_some() {
        // Upstream validates an updated replica set twice (create rules, then update rules).
        let again = errs.clone();
        errs.extend(again);
    }
    selector_immutable(&mut errs, spec, old);
    errs
}

pub fn validate_stateful_set(obj: &Value, old: Option<&Value>) -> Errors {
    let mut errs = Errors::new();
    let spec = obj.get("spec").unwrap_or(null());
    match s(spec, "podManagementPolicy") {
        "" => errs.push(required("spec.podManagementPolicy", "")),
        "OrderedReady" | "Parallel" => {}
        other => errs.push(invalid_str(
            "spec.podManagementPolicy",
            other,
            "must be 'OrderedReady' or 'Parallel'",
        )),
    }
    let strategy = spec.get("updateStrategy").unwrap_or(null());
    match s(strategy, "type") {
        "" => errs.push(required("spec.updateStrategy", "")),
        "OnDelete" => {
            if present(strategy, "rollingUpdate").is_some() {
                errs.push(invalid(
                    "spec.updateStrategy.rollingUpdate",
                    raw(rolling_update_stateful_set(strategy.get("rollingUpdate"))),
                    "only allowed for updateStrategy 'RollingUpdate'",
                ));
            }
        }
        "RollingUpdate" => {
            if let Some(rolling) = present(strategy, "rollingUpdate") {
                non_negative(
                    &mut errs,
                    rolling,
                    "partition",
                    "spec.updateStrategy.rollingUpdate.partition",
                );
            }
        }
        other => errs.push(invalid(
            "spec.updateStrategy",
            raw(format!(
                "apps.StatefulSetUpdateStrategy{{Type:{}, RollingUpdate:{}}}",
                go_quoted(other),
                rolling_update_stateful_set(strategy.get("rollingUpdate"))
            )),
            "must be 'RollingUpdate' or 'OnDelete'",
        )),
    }
    if let Some(policy) = present(spec, "persistentVolumeClaimRetentionPolicy") {
        for field in ["whenDeleted", "whenScaled"] {
            let value = s(policy, field);
            if !matches!(value, "Retain" | "Delete") {
                errs.push(not_supported(
                    &format!("spec.persistentVolumeClaimRetentionPolicy.{field}"),
                    quoted(value),
                    &["Retain", "Delete"],
                ));
            }
        }
    }
    non_negative(&mut errs, spec, "replicas", "spec.replicas");
    non_negative(&mut errs, spec, "minReadySeconds", "spec.minReadySeconds");
    if let Some(ordinals) = present(spec, "ordinals") {
        non_negative(&mut errs, ordinals, "start", "spec.ordinals.start");
    }
    let service_name = s(spec, "serviceName");
    if old.is_none() && !service_name.is_empty() {
        dns1123_label(&mut errs, service_name, "spec.serviceName");
    }
    match workload_selector(&mut errs, spec, "empty selector is invalid for statefulset") {
        Some(selector) => {
            template_for_selector(&mut errs, spec, Some(&selector), "StatefulSet", false)
        }
        None => errs.push(invalid(
            "spec.selector",
            gofmt::label_selector(present(spec, "selector")),
            "",
        )),
    }
    if let Some(old) = old {
        let old_spec = old.get("spec").unwrap_or(null());
        let strip = |spec: &Value| {
            let mut spec = spec.clone();
            if let Some(o) = spec.as_object_mut() {
                for field in [
                    "replicas",
                    "template",
                    "updateStrategy",
                    "minReadySeconds",
                    "ordinals",
                    "revisionHistoryLimit",
                    "persistentVolumeClaimRetentionPolicy",
                ] {
                    o.remove(field);
                }
            }
            spec
        };
        if !semantic_eq(Some(&strip(spec)), Some(&strip(old_spec))) {
            errs.push(forbidden(
                "spec",
                "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
            ));
        }
    }
    errs
}

fn rolling_update_stateful_set(rolling: Option<&Value>) -> String {
    match rolling.filter(|v| !v.is_null()) {
        None => "(*apps.RollingUpdateStatefulSetStrategy)(nil)".into(),
        Some(_) => "(*apps.RollingUpdateStatefulSetStrategy)(0xc000000000)".into(),
    }
}

pub fn validate_daemon_set(obj: &Value, old: Option<&Value>) -> Errors {
    let mut errs = validate_daemon_set_spec(obj);
    if let Some(old) = old {
        // Upstream validates the spec once more on updates. Its template generation rules
        // hold by construction: apps/v1 keeps the generation in an annotation the server
        // alone maintains (`strategy::prepare_for_update`).
        errs.extend(validate_daemon_set_spec(obj));
        selector_immutable(&mut errs, obj.get("spec").unwrap_or(null()), Some(old));
    }
    errs
}

fn validate_daemon_set_spec(obj: &Value) -> Errors {
    let mut errs = Errors::new();
    let spec = obj.get("spec").unwrap_or(null());
    if let Some(selector) = present(spec, "selector") {
        label_selector(&mut errs, selector, "spec.selector");
    }
    let selector = as_selector(present(spec, "selector"));
    let template = spec.get("template").unwrap_or(null());
    if let Some(selector) = &selector {
        selector_matches_template(&mut errs, selector, spec);
    }
    if let Some(selector) = present(spec, "selector") {
        empty_selector(
            &mut errs,
            selector,
            "empty selector is invalid for daemonset",
        );
    }
    validate_pod_template_spec(&mut errs, template, "spec.template");
    restarts_always(&mut errs, template, "DaemonSet");
    non_negative(&mut errs, spec, "minReadySeconds", "spec.minReadySeconds");
    non_negative(
        &mut errs,
        spec,
        "templateGeneration",
        "spec.templateGeneration",
    );
    let strategy = spec.get("updateStrategy").unwrap_or(null());
    match s(strategy, "type") {
        "OnDelete" => {}
        "RollingUpdate" => match present(strategy, "rollingUpdate") {
            None => errs.push(required("spec.updateStrategy.rollingUpdate", "")),
            Some(rolling) => {
                let path = "spec.updateStrategy.rollingUpdate";
                let unavailable = rolling.get("maxUnavailable");
                let surge = rolling.get("maxSurge");
                positive_int_or_percent(&mut errs, unavailable, &child(path, "maxUnavailable"));
                positive_int_or_percent(&mut errs, surge, &child(path, "maxSurge"));
                not_more_than_100_percent(&mut errs, unavailable, &child(path, "maxUnavailable"));
                not_more_than_100_percent(&mut errs, surge, &child(path, "maxSurge"));
                let has_unavailable = int_or_percent_value(unavailable) != 0;
                let has_surge = int_or_percent_value(surge) != 0;
                if has_unavailable && has_surge {
                    errs.push(invalid(
                        &child(path, "maxSurge"),
                        raw(gofmt::int_or_string(surge)),
                        "may not be set when maxUnavailable is non-zero",
                    ));
                } else if !has_unavailable && !has_surge {
                    errs.push(required(
                        &child(path, "maxUnavailable"),
                        "cannot be 0 when maxSurge is 0",
                    ));
                }
            }
        },
        other => errs.push(not_supported(
            "spec.updateStrategy",
            raw(format!(
                "&apps.DaemonSetUpdateStrategy{{Type:{}, RollingUpdate:(*apps.RollingUpdateDaemonSet)(nil)}}",
                go_quoted(other)
            )),
            &["RollingUpdate", "OnDelete"],
        )),
    }
    non_negative(
        &mut errs,
        spec,
        "revisionHistoryLimit",
        "spec.revisionHistoryLimit",
    );
    errs
}

/// Upstream's `ValidateReplicationController`; the selector is a plain label map.
pub fn validate_replication_controller(obj: &Value) -> Errors {
    let mut errs = Errors::new();
    let spec = obj.get("spec").unwrap_or(null());
    non_negative(&mut errs, spec, "minReadySeconds", "spec.minReadySeconds");
    let selector = map(spec, "selector").cloned().unwrap_or_default();
    if selector.is_empty() {
        errs.push(required("spec.selector", ""));
    }
    match int(spec, "replicas") {
        None => errs.push(required("spec.replicas", "")),
        Some(replicas) if replicas < 0 => {
            errs.push(invalid_int("spec.replicas", replicas, IS_NEGATIVE))
        }
        Some(_) => {}
    }
    match present(spec, "template") {
        None => errs.push(required("spec.template", "")),
        Some(template) => {
            if !selector.is_empty() {
                let as_labels = serde_json::json!({"matchLabels": selector});
                if let Ok(selector) = LabelSelector::from_label_selector_json(&as_labels) {
                    selector_matches_template(&mut errs, &selector, spec);
                }
            }
            validate_pod_template_spec(&mut errs, template, "spec.template");
            restarts_always(&mut errs, template, "ReplicationController");
        }
    }
    errs
}
