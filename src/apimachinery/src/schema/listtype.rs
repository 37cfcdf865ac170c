//! `x-kubernetes-list-type: set|map` uniqueness (upstream's
//! listtype/validation.go).

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::gofmt::{FieldPath, GoNumber, bad_value, canonical_json, go_number};
use super::structural::Structural;
use crate::validation::{BadValue, Cause, FieldError};

/// Duplicate entries in set lists and duplicate keys in map lists, with
/// paths from the object root (`spec.list[1]`; map values as `spec.m[key]`).
pub fn validate_list_sets_and_maps(obj: &Value, schema: &Structural) -> Vec<Cause> {
    let Value::Object(map) = obj else {
        return Vec::new();
    };
    let mut errs = Vec::new();
    validate_object(&FieldPath::default(), schema, map, &mut errs);
    errs.iter().map(FieldError::to_cause).collect()
}

fn validate_object(
    path: &FieldPath,
    s: &Structural,
    obj: &Map<String, Value>,
    errs: &mut Vec<FieldError>,
) {
    if let Some(additional) = s.additional_properties.as_ref().and_then(|a| a.schema()) {
        for (k, v) in obj {
            validate_value(&path.key(k), additional, v, errs);
        }
    }
    for (k, v) in obj {
        if let Some(sub) = s.properties.get(k) {
            validate_value(&path.child(k), sub, v, errs);
        }
    }
}

fn validate_value(path: &FieldPath, s: &Structural, v: &Value, errs: &mut Vec<FieldError>) {
    match v {
        Value::Array(items) => validate_array(path, s, items, errs),
        Value::Object(map) => validate_object(path, s, map, errs),
        _ => {}
    }
}

fn validate_array(path: &FieldPath, s: &Structural, items: &[Value], errs: &mut Vec<FieldError>) {
    match s.extensions.list_type.as_deref() {
        Some("set") => {
            for i in non_unique_indices(items) {
                errs.push(FieldError::duplicate(
                    path.index(i).as_str(),
                    bad_value(&items[i]),
                ));
            }
        }
        Some("map") => errs.extend(validate_list_map(path, s, items)),
        _ => {}
    }
    if let Some(item_schema) = s.items.as_deref() {
        for (i, item) in items.iter().enumerate() {
            validate_value(&path.index(i), item_schema, item, errs);
        }
    }
}

/// Identity of a list element as upstream's validateListSet sees it:
/// scalars by Go type and value, compounds by their JSON encoding.
fn identity(v: &Value) -> String {
    match v {
        Value::Null => "nil".to_string(),
        Value::Bool(b) => format!("bool:{b}"),
        Value::Number(n) => match go_number(n) {
            GoNumber::Int(i) => format!("int:{i}"),
            GoNumber::Float(f) => format!("float:{f}"),
        },
        Value::String(s) => format!("string:{s}"),
        Value::Array(_) | Value::Object(_) => format!("json:{}", canonical_json(v)),
    }
}

/// Indices of the second occurrence of every repeated element.
fn non_unique_indices(items: &[Value]) -> Vec<usize> {
    if items.len() <= 1 {
        return Vec::new();
    }
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut out = Vec::new();
    for (i, x) in items.iter().enumerate() {
        let count = seen.entry(identity(x)).or_insert(0);
        *count += 1;
        if *count == 2 {
            out.push(i);
        }
    }
    out
}

fn validate_list_map(path: &FieldPath, s: &Structural, items: &[Value]) -> Vec<FieldError> {
    for (i, x) in items.iter().enumerate() {
        if !x.is_null() && !x.is_object() {
            let detail = "must be an object for an array of list-type map";
            return vec![FieldError::invalid(
                path.index(i).as_str(),
                bad_value(x),
                detail,
            )];
        }
    }
    if items.len() <= 1 {
        return Vec::new();
    }
    let keys: Vec<Value> = items
        .iter()
        .map(|x| Value::Object(key_of(x, &s.extensions.list_map_keys)))
        .collect();
    non_unique_indices(&keys)
        .into_iter()
        .map(|i| FieldError::duplicate(path.index(i).as_str(), duplicate_key_value(&keys[i])))
        .collect()
}

/// The map-key fields present in a list item (missing ones left out).
fn key_of(x: &Value, key_fields: &[String]) -> Map<String, Value> {
    let mut key = Map::new();
    if let Value::Object(obj) = x {
        for f in key_fields {
            if let Some(v) = obj.get(f) {
                key.insert(f.clone(), v.clone());
            }
        }
    }
    key
}

fn duplicate_key_value(key: &Value) -> BadValue {
    BadValue::Raw(super::gofmt::go_sharp_v(key))
}
