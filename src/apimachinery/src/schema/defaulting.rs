//! Defaulting (upstream's defaulting/algorithm.go), default pruning
//! (defaulting/prune.go) and removal of non-nullable nulls without defaults
//! (defaulting/prunenulls.go).

use serde_json::Value;

use super::pruning::prune;
use super::structural::Structural;

/// Applies `default` values: a missing property, or a `null` one whose
/// schema is not nullable, gets its default; recursively through
/// properties, array items and additionalProperties values.
pub fn apply_defaults(obj: &mut Value, schema: &Structural) {
    match obj {
        Value::Object(map) => {
            for (k, prop) in &schema.properties {
                let Some(default) = &prop.generic.default else {
                    continue;
                };
                let missing = map
                    .get(k)
                    .is_none_or(|v| is_non_nullable_null(v, Some(prop)));
                if missing {
                    map.insert(k.clone(), default.clone());
                }
            }
            let additional = schema
                .additional_properties
                .as_ref()
                .and_then(|a| a.schema());
            for (k, v) in map.iter_mut() {
                if let Some(prop) = schema.properties.get(k) {
                    apply_defaults(v, prop);
                } else if let Some(additional) = additional {
                    default_null(v, additional);
                    apply_defaults(v, additional);
                }
            }
        }
        Value::Array(items) => {
            let Some(item_schema) = schema.items.as_deref() else {
                return;
            };
            for v in items.iter_mut() {
                default_null(v, item_schema);
                apply_defaults(v, item_schema);
            }
        }
        _ => {}
    }
}

fn is_non_nullable_null(v: &Value, s: Option<&Structural>) -> bool {
    v.is_null() && s.is_some_and(|s| !s.generic.nullable)
}

/// A non-nullable null takes the schema's default (staying null without one).
fn default_null(v: &mut Value, s: &Structural) {
    if let Some(d) = s
        .generic
        .default
        .as_ref()
        .filter(|_| is_non_nullable_null(v, Some(s)))
    {
        *v = d.clone();
    }
}

/// Prunes every `default` in the schema with the schema at its position, as
/// upstream does before serving (defaults then carry no unknown fields).
/// Returns whether anything changed.
pub fn prune_defaults(schema: &mut Structural) -> bool {
    let mut changed = false;
    if let Some(mut default) = schema.generic.default.take() {
        let before = default.clone();
        let embedded = schema.extensions.embedded_resource;
        prune(&mut default, schema, embedded);
        changed |= before != default;
        schema.generic.default = Some(default);
    }
    if let Some(super::structural::AdditionalProperties::Schema(s)) =
        schema.additional_properties.as_mut()
    {
        changed |= prune_defaults(s);
    }
    if let Some(items) = schema.items.as_mut() {
        changed |= prune_defaults(items);
    }
    for prop in schema.properties.values_mut() {
        changed |= prune_defaults(prop);
    }
    changed
}

/// Removes `null` values whose schema is neither nullable nor defaulted
/// (upstream runs this right after pruning a decoded custom resource).
pub fn prune_non_nullable_nulls_without_defaults(obj: &mut Value, schema: Option<&Structural>) {
    match obj {
        Value::Object(map) => {
            let drop: Vec<String> = map
                .iter()
                .filter(|(k, v)| {
                    let s = schema_for_field(k, schema);
                    v.is_null()
                        && s.is_some_and(|s| !s.generic.nullable && s.generic.default.is_none())
                })
                .map(|(k, _)| k.clone())
                .collect();
            for k in drop {
                map.remove(&k);
            }
            for (k, v) in map.iter_mut() {
                prune_non_nullable_nulls_without_defaults(v, schema_for_field(k, schema));
            }
        }
        Value::Array(items) => {
            let item_schema = schema.and_then(|s| s.items.as_deref());
            for v in items.iter_mut() {
                prune_non_nullable_nulls_without_defaults(v, item_schema);
            }
        }
        _ => {}
    }
}

fn schema_for_field<'a>(k: &str, s: Option<&'a Structural>) -> Option<&'a Structural> {
    let s = s?;
    s.properties
        .get(k)
        .or_else(|| s.additional_properties.as_ref().and_then(|a| a.schema()))
}
