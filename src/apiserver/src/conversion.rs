//! Built-in kinds served in a second version that shares another version's storage, as
//! upstream does: `events.k8s.io/v1` Events are stored as core `v1` Events, and
//! `autoscaling/v1` HorizontalPodAutoscalers as `autoscaling/v2` ones.

use serde_json::{Value, json};

/// How a served version maps to the version its objects are stored in.
pub struct Conversion {
    /// The group and plural whose storage this version shares.
    pub storage_group: &'static str,
    pub storage_plural: &'static str,
    pub to_storage: fn(Value) -> Value,
    pub from_storage: fn(Value) -> Value,
}

pub static EVENTS_V1: Conversion = Conversion {
    storage_group: "",
    storage_plural: "events",
    to_storage: events_to_core,
    from_storage: core_to_events,
};

pub static AUTOSCALING_V1: Conversion = Conversion {
    storage_group: "autoscaling",
    storage_plural: "horizontalpodautoscalers",
    to_storage: hpa_v1_to_v2,
    from_storage: hpa_v2_to_v1,
};

/// Moves fields between names: `(from, to)` pairs, each a top-level field.
fn rename(mut obj: Value, pairs: &[(&str, &str)], api_version: &str) -> Value {
    let map = obj.as_object_mut().expect("objects are JSON objects");
    let taken: Vec<(String, Value)> = pairs
        .iter()
        .filter_map(|(from, to)| map.remove(*from).map(|v| (to.to_string(), v)))
        .collect();
    map.extend(taken);
    map.insert("apiVersion".into(), json!(api_version));
    obj
}

const EVENT_FIELDS: &[(&str, &str)] = &[
    ("regarding", "involvedObject"),
    ("note", "message"),
    ("deprecatedSource", "source"),
    ("deprecatedFirstTimestamp", "firstTimestamp"),
    ("deprecatedLastTimestamp", "lastTimestamp"),
    ("deprecatedCount", "count"),
    ("reportingController", "reportingComponent"),
];

fn events_to_core(obj: Value) -> Value {
    rename(obj, EVENT_FIELDS, "v1")
}

fn core_to_events(obj: Value) -> Value {
    let reversed: Vec<(&str, &str)> = EVENT_FIELDS.iter().map(|(a, b)| (*b, *a)).collect();
    rename(obj, &reversed, "events.k8s.io/v1")
}

/// The v2 metric a v1 `targetCPUUtilizationPercentage` stands for.
fn cpu_metric(utilization: &Value) -> Value {
    json!({"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": utilization}}})
}

fn hpa_v1_to_v2(mut obj: Value) -> Value {
    obj["apiVersion"] = json!("autoscaling/v2");
    if let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut)
        && let Some(target) = spec.remove("targetCPUUtilizationPercentage")
    {
        spec.insert("metrics".into(), json!([cpu_metric(&target)]));
    }
    if let Some(status) = obj.get_mut("status").and_then(Value::as_object_mut)
        && let Some(current) = status.remove("currentCPUUtilizationPercentage")
    {
        let metric = json!({"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": current}}});
        status.insert("currentMetrics".into(), json!([metric]));
    }
    obj
}

/// The CPU utilization of a v2 metric list, if it has one.
fn cpu_utilization(metrics: Option<&Value>, side: &str) -> Option<Value> {
    metrics?.as_array()?.iter().find_map(|m| {
        let resource = m.get("resource")?;
        (resource.get("name")? == "cpu")
            .then(|| resource.get(side)?.get("averageUtilization").cloned())?
    })
}

fn hpa_v2_to_v1(mut obj: Value) -> Value {
    obj["apiVersion"] = json!("autoscaling/v1");
    if let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) {
        let target = cpu_utilization(spec.get("metrics"), "target");
        spec.remove("metrics");
        spec.remove("behavior");
        if let Some(target) = target {
            spec.insert("targetCPUUtilizationPercentage".into(), target);
        }
    }
    if let Some(status) = obj.get_mut("status").and_then(Value::as_object_mut) {
        let current = cpu_utilization(status.get("currentMetrics"), "current");
        status.remove("currentMetrics");
        status.remove("conditions");
        if let Some(current) = current {
            status.insert("currentCPUUtilizationPercentage".into(), current);
        }
    }
    obj
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_v1_fields_map_to_core_event_fields_and_back() {
        let event = json!({"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "e"},
            "regarding": {"kind": "Pod", "name": "p"}, "note": "hello", "reason": "Started", "type": "Normal",
            "reportingController": "kubelet", "deprecatedCount": 3});
        let core = events_to_core(event.clone());
        assert_eq!(core["apiVersion"], "v1");
        assert_eq!(core["involvedObject"]["name"], "p");
        assert_eq!(core["message"], "hello");
        assert_eq!(core["reportingComponent"], "kubelet");
        assert_eq!(core["count"], 3);
        assert_eq!(core_to_events(core), event);
    }

    #[test]
    fn a_v1_cpu_target_is_a_v2_resource_metric() {
        let v1 = json!({"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "h"},
            "spec": {"maxReplicas": 5, "targetCPUUtilizationPercentage": 70,
                     "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "d"}}});
        let v2 = hpa_v1_to_v2(v1.clone());
        assert_eq!(
            v2["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"],
            70
        );
        assert_eq!(hpa_v2_to_v1(v2), v1);
    }
}
