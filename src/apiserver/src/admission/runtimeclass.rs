//! Upstream's RuntimeClass plugin (`plugin/pkg/admission/runtimeclass`): a new pod naming a
//! RuntimeClass gets the class's `overhead` and its `scheduling` node selector and
//! tolerations; a pod naming a class that does not exist, or carrying an overhead the class
//! does not define, is refused.

use std::collections::BTreeMap;

use den_apimachinery::status::ApiError;
use den_apimachinery::validation::go_quote;
use den_storage::Backend;
use serde_json::{Map, Value, json};

use super::Attributes;
use super::shared::{self, RUNTIME_CLASSES, Refusal, forbidden, is_pod_create, str_of};
use crate::kindvalidation::quantity::Quantity;
use crate::objects;

const OVERHEAD_MISMATCH: &str =
    "pod rejected: Pod's Overhead doesn't match RuntimeClass's defined Overhead";
const OVERHEAD_WITHOUT_CLASS: &str =
    "pod rejected: Pod Overhead set without corresponding RuntimeClass defined Overhead";

fn not_found(name: &str) -> String {
    format!("pod rejected: RuntimeClass {} not found", go_quote(name))
}

/// The pod's `runtimeClassName`, when it names one.
fn class_name(pod: &Value) -> Option<&str> {
    pod.pointer("/spec/runtimeClassName")
        .and_then(Value::as_str)
}

/// Upstream's semantic equality of two resource lists: the same names with equal amounts
/// (`1000m` equals `1`); absent and empty are alike.
fn same_resources(a: Option<&Value>, b: Option<&Value>) -> bool {
    let parse = |list: Option<&Value>| -> Option<BTreeMap<String, Quantity>> {
        let Some(map) = list.and_then(Value::as_object) else {
            return Some(BTreeMap::new());
        };
        map.iter()
            .map(|(k, v)| Quantity::from_json(v).ok().map(|q| (k.clone(), q)))
            .collect()
    };
    match (parse(a), parse(b)) {
        (Some(a), Some(b)) => {
            a.len() == b.len()
                && a.iter()
                    .zip(&b)
                    .all(|((ka, qa), (kb, qb))| ka == kb && qa.cmp(qb).is_eq())
        }
        _ => a == b,
    }
}

/// The class's `overhead.podFixed` as the pod carries it: `Some(None)` when the class has
/// an overhead without amounts, `None` when it has no overhead.
fn pod_fixed(class: &Value) -> Option<Option<&Value>> {
    class
        .get("overhead")
        .filter(|o| !o.is_null())
        .map(|o| o.get("podFixed").filter(|p| !p.is_null()))
}

fn is_set(v: Option<&Value>) -> bool {
    v.is_some_and(|v| !v.is_null())
}

/// Sets the class's overhead and scheduling constraints on a new pod.
pub(super) async fn admit(
    storage: &dyn Backend,
    attrs: &Attributes<'_>,
    pod: &mut Value,
) -> Result<(), ApiError> {
    let Some(name) = class_name(pod).map(str::to_string) else {
        return Ok(());
    };
    let Some(class) = shared::get(storage, &format!("{RUNTIME_CLASSES}{name}")).await? else {
        return Err(forbidden(attrs, pod, &not_found(&name)));
    };
    if let Some(fixed) = pod_fixed(&class) {
        let current = pod.pointer("/spec/overhead");
        let has_overhead = current
            .and_then(Value::as_object)
            .is_some_and(|o| !o.is_empty());
        if has_overhead && !same_resources(fixed, current) {
            return Err(forbidden(attrs, pod, OVERHEAD_MISMATCH));
        }
        let spec = spec_mut(pod);
        match fixed {
            Some(fixed) => spec.insert("overhead".into(), fixed.clone()),
            None => spec.remove("overhead"),
        };
    }
    let Some(scheduling) = class.get("scheduling").filter(|s| s.is_object()) else {
        return Ok(());
    };
    if let Some(selector) = scheduling.get("nodeSelector").and_then(Value::as_object) {
        let pod_selector = pod
            .pointer("/spec/nodeSelector")
            .and_then(Value::as_object)
            .cloned();
        let merged = match pod_selector {
            None => selector.clone(),
            Some(mut merged) => {
                for (key, class_value) in selector {
                    let class_value = class_value.as_str().unwrap_or("");
                    if let Some(pod_value) = merged.get(key).and_then(Value::as_str)
                        && pod_value != class_value
                    {
                        return Err(forbidden(
                            attrs,
                            pod,
                            &format!(
                                "conflict: runtimeClass.scheduling.nodeSelector[{key}] = {class_value}; pod.spec.nodeSelector[{key}] = {pod_value}"
                            ),
                        ));
                    }
                    merged.insert(key.clone(), json!(class_value));
                }
                merged
            }
        };
        spec_mut(pod).insert("nodeSelector".into(), Value::Object(merged));
    }
    let pod_tolerations = shared::list_of(&pod["spec"], "tolerations");
    let class_tolerations = shared::list_of(scheduling, "tolerations");
    let merged = merge_tolerations(pod_tolerations, class_tolerations);
    let spec = spec_mut(pod);
    if merged.is_empty() {
        spec.remove("tolerations");
    } else {
        spec.insert("tolerations".into(), Value::Array(merged));
    }
    Ok(())
}

fn spec_mut(pod: &mut Value) -> &mut Map<String, Value> {
    if !pod.get("spec").is_some_and(Value::is_object) {
        pod["spec"] = json!({});
    }
    pod["spec"].as_object_mut().expect("made an object above")
}

/// A toleration's fields as upstream compares them.
#[derive(PartialEq, Eq)]
struct Toleration<'a> {
    key: &'a str,
    operator: &'a str,
    value: &'a str,
    effect: &'a str,
    seconds: Option<i64>,
}

impl<'a> Toleration<'a> {
    fn of(v: &'a Value) -> Self {
        Toleration {
            key: str_of(v, "key"),
            operator: str_of(v, "operator"),
            value: str_of(v, "value"),
            effect: str_of(v, "effect"),
            seconds: v.get("tolerationSeconds").and_then(Value::as_i64),
        }
    }

    /// Upstream's `isSuperset`: `self` tolerates everything `t` tolerates.
    fn covers(&self, t: &Toleration<'_>) -> bool {
        if self == t {
            return true;
        }
        if t.key != self.key && (!self.key.is_empty() || self.operator != "Exists") {
            return false;
        }
        if t.effect != self.effect && !self.effect.is_empty() {
            return false;
        }
        if self.effect == "NoExecute"
            && let Some(mine) = self.seconds
            && t.seconds.is_none_or(|theirs| theirs > mine)
        {
            return false;
        }
        match self.operator {
            "Equal" | "" => t.operator == "Equal" && t.value == self.value,
            "Exists" => true,
            _ => false,
        }
    }
}

/// Upstream's `MergeTolerations`: both lists, without a toleration another one covers.
fn merge_tolerations(first: &[Value], second: &[Value]) -> Vec<Value> {
    let all: Vec<&Value> = first.iter().chain(second).collect();
    let parsed: Vec<Toleration<'_>> = all.iter().map(|t| Toleration::of(t)).collect();
    let mut merged: Vec<usize> = Vec::new();
    'next: for (i, t) in parsed.iter().enumerate() {
        if merged.iter().any(|&m| parsed[m].covers(t)) {
            continue;
        }
        for later in &parsed[i + 1..] {
            // Of two equal tolerations, the first is kept.
            if later != t && later.covers(t) {
                continue 'next;
            }
        }
        merged.push(i);
    }
    merged.into_iter().map(|i| all[i].clone()).collect()
}

/// What the validating half needs: the RuntimeClasses there are.
pub(super) struct Validator {
    classes: Vec<Value>,
    refusal: Refusal,
}

pub(super) async fn validator(
    storage: &dyn Backend,
    attrs: &Attributes<'_>,
) -> Result<Option<Validator>, ApiError> {
    if !is_pod_create(attrs) {
        return Ok(None);
    }
    Ok(Some(Validator {
        classes: shared::list(storage, RUNTIME_CLASSES).await?,
        refusal: Refusal::new(attrs),
    }))
}

impl Validator {
    /// The pod's overhead is exactly its RuntimeClass's.
    pub(super) fn validate(&self, pod: Option<&Value>) -> Result<(), ApiError> {
        let Some(pod) = pod else {
            return Ok(());
        };
        let class = match class_name(pod) {
            None => None,
            Some(name) => match self.classes.iter().find(|c| objects::name(c) == name) {
                Some(class) => Some(class),
                None => return Err(self.refusal.forbidden(pod, &not_found(name))),
            },
        };
        let overhead = pod.pointer("/spec/overhead");
        match class.and_then(pod_fixed) {
            Some(fixed) if !same_resources(fixed, overhead) => {
                Err(self.refusal.forbidden(pod, OVERHEAD_MISMATCH))
            }
            None if is_set(overhead) => Err(self.refusal.forbidden(pod, OVERHEAD_WITHOUT_CLASS)),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_tolerations_drop_the_ones_covered_by_another() {
        let pod = vec![
            json!({"key": "a", "operator": "Equal", "value": "1", "effect": "NoSchedule"}),
            json!({"key": "b", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 10}),
        ];
        let class = vec![
            json!({"key": "a", "operator": "Exists"}),
            json!({"key": "b", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 10}),
            json!({"key": "c", "operator": "Exists"}),
        ];
        assert_eq!(
            merge_tolerations(&pod, &class),
            vec![pod[1].clone(), class[0].clone(), class[2].clone()]
        );
    }

    #[test]
    fn overheads_compare_by_amount() {
        assert!(same_resources(
            Some(&json!({"cpu": "1000m", "memory": "1Mi"})),
            Some(&json!({"cpu": "1", "memory": "1048576"}))
        ));
        assert!(!same_resources(Some(&json!({"cpu": "1"})), None));
        assert!(same_resources(Some(&json!({})), None));
    }
}
