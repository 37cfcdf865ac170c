//! Upstream's DefaultTolerationSeconds plugin (`plugin/pkg/admission/defaulttolerationseconds`):
//! every pod tolerates the `not-ready` and `unreachable` NoExecute taints for 300 seconds
//! unless it already tolerates them.

use serde_json::{Value, json};

use super::Attributes;
use super::shared::str_of;

pub const NOT_READY: &str = "node.kubernetes.io/not-ready";
pub const UNREACHABLE: &str = "node.kubernetes.io/unreachable";

/// Upstream's `--default-not-ready-toleration-seconds` and
/// `--default-unreachable-toleration-seconds`.
const DEFAULT_TOLERATION_SECONDS: i64 = 300;

/// Whether `toleration` already covers the NoExecute taint `key`: an empty key or effect
/// matches every key or effect.
fn tolerates(toleration: &Value, key: &str) -> bool {
    let (k, effect) = (str_of(toleration, "key"), str_of(toleration, "effect"));
    (k == key || k.is_empty()) && (effect == "NoExecute" || effect.is_empty())
}

/// Upstream handles creates and updates of pods themselves; Den admits only creates through
/// its mutating chain.
pub(super) fn admit(attrs: &Attributes<'_>, pod: &mut Value) {
    if !attrs.info.is("", "pods") || !attrs.subresource.is_empty() {
        return;
    }
    let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    let existing = spec.get("tolerations").and_then(Value::as_array);
    let covered = |key: &str| existing.is_some_and(|ts| ts.iter().any(|t| tolerates(t, key)));
    let missing: Vec<&str> = [NOT_READY, UNREACHABLE]
        .into_iter()
        .filter(|key| !covered(key))
        .collect();
    if missing.is_empty() {
        return;
    }
    let tolerations = spec
        .entry("tolerations")
        .and_modify(|t| {
            if !t.is_array() {
                *t = json!([]);
            }
        })
        .or_insert_with(|| json!([]))
        .as_array_mut()
        .expect("made an array above");
    for key in missing {
        tolerations.push(json!({
            "key": key,
            "operator": "Exists",
            "effect": "NoExecute",
            "tolerationSeconds": DEFAULT_TOLERATION_SECONDS,
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_key_or_effect_covers_the_taint() {
        assert!(tolerates(&json!({"operator": "Exists"}), NOT_READY));
        assert!(tolerates(
            &json!({"key": NOT_READY, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 5}),
            NOT_READY
        ));
        assert!(!tolerates(
            &json!({"key": NOT_READY, "operator": "Exists", "effect": "NoSchedule"}),
            NOT_READY
        ));
        assert!(!tolerates(
            &json!({"key": UNREACHABLE, "operator": "Exists"}),
            NOT_READY
        ));
    }
}
