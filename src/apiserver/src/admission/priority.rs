//! Upstream's Priority plugin (`plugin/pkg/admission/priority`): a new pod's
//! `priorityClassName` is resolved to `spec.priority` and `spec.preemptionPolicy` (no name:
//! the global default class, else priority 0), and at most one PriorityClass may be the
//! global default.

use den_apimachinery::status::ApiError;
use den_storage::Backend;
use serde_json::{Value, json};

use super::shared::{self, PRIORITY_CLASSES, Refusal, forbidden, str_of};
use super::{Attributes, Operation};
use crate::objects;

/// Upstream's `DefaultPriorityWhenNoDefaultClassExists`.
const DEFAULT_PRIORITY: i64 = 0;
const PREEMPT_LOWER_PRIORITY: &str = "PreemptLowerPriority";

fn is_global_default(pc: &Value) -> bool {
    pc.get("globalDefault").and_then(Value::as_bool) == Some(true)
}

fn value_of(pc: &Value) -> i64 {
    pc.get("value").and_then(Value::as_i64).unwrap_or(0)
}

/// The global default class; when a race left several, the one of lowest value.
fn default_class(classes: &[Value]) -> Option<&Value> {
    classes
        .iter()
        .filter(|pc| is_global_default(pc))
        .min_by_key(|pc| value_of(pc))
}

/// Resolves a new pod's priority from its class.
pub(super) async fn admit(
    storage: &dyn Backend,
    attrs: &Attributes<'_>,
    pod: &mut Value,
) -> Result<(), ApiError> {
    let class_name = str_of(&pod["spec"], "priorityClassName").to_string();
    let (resolved_name, priority, policy) = if class_name.is_empty() {
        let classes = shared::list(storage, PRIORITY_CLASSES).await?;
        match default_class(&classes) {
            Some(pc) => (
                objects::name(pc).to_string(),
                value_of(pc),
                pc.get("preemptionPolicy")
                    .and_then(Value::as_str)
                    .map(str::to_string),
            ),
            None => (
                String::new(),
                DEFAULT_PRIORITY,
                Some(PREEMPT_LOWER_PRIORITY.to_string()),
            ),
        }
    } else {
        let key = format!("{PRIORITY_CLASSES}{class_name}");
        let Some(pc) = shared::get(storage, &key).await? else {
            return Err(forbidden(
                attrs,
                pod,
                &format!("no PriorityClass with name {class_name} was found"),
            ));
        };
        (
            class_name.clone(),
            value_of(&pc),
            pc.get("preemptionPolicy")
                .and_then(Value::as_str)
                .map(str::to_string),
        )
    };
    if !resolved_name.is_empty() {
        pod["spec"]["priorityClassName"] = json!(resolved_name);
    }
    if let Some(given) = pod["spec"].get("priority").and_then(Value::as_i64)
        && given != priority
    {
        return Err(forbidden(
            attrs,
            pod,
            &format!(
                "the integer value of priority ({given}) must not be provided in pod spec; priority admission controller computed {priority} from the given PriorityClass name"
            ),
        ));
    }
    pod["spec"]["priority"] = json!(priority);
    if let Some(policy) = policy {
        let given = str_of(&pod["spec"], "preemptionPolicy");
        if !given.is_empty() && given != policy {
            return Err(forbidden(
                attrs,
                pod,
                &format!(
                    "the string value of PreemptionPolicy ({given}) must not be provided in pod spec; priority admission controller computed {policy} from the given PriorityClass name"
                ),
            ));
        }
        pod["spec"]["preemptionPolicy"] = json!(policy);
    }
    Ok(())
}

/// What the validating half needs: the PriorityClasses there are, for a write of one.
pub(super) struct Validator {
    operation: Operation,
    classes: Vec<Value>,
    refusal: Refusal,
}

pub(super) async fn validator(
    storage: &dyn Backend,
    attrs: &Attributes<'_>,
) -> Result<Option<Validator>, ApiError> {
    let applies = matches!(attrs.operation, Operation::Create | Operation::Update)
        && attrs.subresource.is_empty()
        && attrs.info.is("scheduling.k8s.io", "priorityclasses");
    if !applies {
        return Ok(None);
    }
    Ok(Some(Validator {
        operation: attrs.operation,
        classes: shared::list(storage, PRIORITY_CLASSES).await?,
        refusal: Refusal::new(attrs),
    }))
}

impl Validator {
    /// Only one PriorityClass may be marked as the global default.
    pub(super) fn validate(&self, pc: Option<&Value>) -> Result<(), ApiError> {
        let Some(pc) = pc.filter(|pc| is_global_default(pc)) else {
            return Ok(());
        };
        let Some(current) = default_class(&self.classes) else {
            return Ok(());
        };
        let current = objects::name(current);
        if self.operation == Operation::Create || current != objects::name(pc) {
            return Err(self.refusal.forbidden(
                pc,
                &format!(
                    "PriorityClass {current} is already marked as default. Only one default can exist"
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lowest_of_several_global_defaults_wins() {
        let classes = vec![
            json!({"metadata": {"name": "high"}, "value": 100, "globalDefault": true}),
            json!({"metadata": {"name": "plain"}, "value": 1}),
            json!({"metadata": {"name": "low"}, "value": 10, "globalDefault": true}),
        ];
        assert_eq!(default_class(&classes).map(objects::name), Some("low"));
        assert!(default_class(&classes[1..2]).is_none());
    }
}
