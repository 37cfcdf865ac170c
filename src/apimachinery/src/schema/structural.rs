//! The structural schema model (upstream's `schema.Structural`) parsed from a
//! CRD version's `openAPIV3Schema` JSON.
//!
//! Unlike upstream, one type serves both the structural part and the nested
//! value validations under `allOf`/`anyOf`/`oneOf`/`not`; the structural checks
//! in [`super::checks`] reject the fields a nested value validation may not
//! carry (`type`, `default`, `nullable`, ...).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// A structural schema node.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Structural {
    pub items: Option<Box<Structural>>,
    pub properties: BTreeMap<String, Structural>,
    pub additional_properties: Option<AdditionalProperties>,
    pub generic: Generic,
    pub extensions: Extensions,
    /// `x-kubernetes-validations` (CEL rules), kept for a later evaluator.
    pub x_validations: Vec<ValidationRule>,
    pub value_validation: ValueValidation,
}

/// `additionalProperties`: either a bool or a schema.
#[derive(Debug, Clone, PartialEq)]
pub enum AdditionalProperties {
    Bool(bool),
    Schema(Box<Structural>),
}

impl AdditionalProperties {
    /// The schema for additional properties, if one is given.
    pub fn schema(&self) -> Option<&Structural> {
        match self {
            AdditionalProperties::Schema(s) => Some(s),
            AdditionalProperties::Bool(_) => None,
        }
    }

    /// Whether additional properties are allowed at all.
    pub fn allows(&self) -> bool {
        match self {
            AdditionalProperties::Schema(_) => true,
            AdditionalProperties::Bool(b) => *b,
        }
    }
}

/// Upstream's `Generic`: type, nullable, default and the documentation fields.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Generic {
    pub type_: String,
    pub description: String,
    pub title: String,
    /// `default`; a JSON `null` default means "no default", as upstream.
    pub default: Option<Value>,
    pub nullable: bool,
}

/// The `x-kubernetes-*` extensions other than validations.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Extensions {
    pub preserve_unknown_fields: bool,
    pub embedded_resource: bool,
    pub int_or_string: bool,
    pub list_map_keys: Vec<String>,
    pub list_type: Option<String>,
    pub map_type: Option<String>,
}

/// One `x-kubernetes-validations` entry.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ValidationRule {
    pub rule: String,
    pub message: String,
    pub message_expression: String,
    pub reason: Option<String>,
    pub field_path: String,
    pub optional_old_self: Option<bool>,
}

/// The value validations of a schema node (upstream's `ValueValidation`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ValueValidation {
    pub format: String,
    pub maximum: Option<f64>,
    pub exclusive_maximum: bool,
    pub minimum: Option<f64>,
    pub exclusive_minimum: bool,
    pub max_length: Option<i64>,
    pub min_length: Option<i64>,
    pub pattern: String,
    pub max_items: Option<i64>,
    pub min_items: Option<i64>,
    pub unique_items: bool,
    pub multiple_of: Option<f64>,
    pub enum_: Vec<Value>,
    pub max_properties: Option<i64>,
    pub min_properties: Option<i64>,
    pub required: Vec<String>,
    pub all_of: Vec<Structural>,
    pub one_of: Vec<Structural>,
    pub any_of: Vec<Structural>,
    pub not: Option<Box<Structural>>,
}

impl Structural {
    /// Parses a schema the way upstream's `NewStructural` does, without the
    /// structural checks. Errors carry upstream's message (e.g.
    /// `OpenAPIV3Schema 'items' must be a schema, but is an array`).
    pub fn parse(value: &Value) -> Result<Structural, String> {
        let obj = value
            .as_object()
            .ok_or_else(|| "OpenAPIV3Schema must be an object".to_string())?;
        reject_unsupported_fields(obj)?;
        Ok(Structural {
            items: parse_items(obj)?,
            properties: parse_properties(obj)?,
            additional_properties: parse_additional_properties(obj)?,
            generic: parse_generic(obj)?,
            extensions: parse_extensions(obj)?,
            x_validations: parse_validation_rules(obj)?,
            value_validation: parse_value_validation(obj)?,
        })
    }

    /// The `type`.
    pub fn type_(&self) -> &str {
        &self.generic.type_
    }

    /// Whether the node has no content at all (used for the metadata check).
    pub(crate) fn is_empty(&self) -> bool {
        *self == Structural::default()
    }
}

fn reject_unsupported_fields(obj: &Map<String, Value>) -> Result<(), String> {
    let non_empty = |key: &str| match obj.get(key) {
        None | Some(Value::Null) => false,
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Object(m)) => !m.is_empty(),
        Some(_) => true,
    };
    for (key, name) in [
        ("id", "id"),
        ("$schema", "schema"),
        ("$ref", "$ref"),
        ("patternProperties", "patternProperties"),
        ("dependencies", "dependencies"),
        ("additionalItems", "additionalItems"),
        ("definitions", "definitions"),
    ] {
        if non_empty(key) {
            return Err(format!("OpenAPIV3Schema '{name}' is not supported"));
        }
    }
    Ok(())
}

fn parse_items(obj: &Map<String, Value>) -> Result<Option<Box<Structural>>, String> {
    match obj.get("items") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(_)) => {
            Err("OpenAPIV3Schema 'items' must be a schema, but is an array".to_string())
        }
        Some(v) => Ok(Some(Box::new(Structural::parse(v)?))),
    }
}

fn parse_properties(obj: &Map<String, Value>) -> Result<BTreeMap<String, Structural>, String> {
    let mut out = BTreeMap::new();
    if let Some(Value::Object(props)) = obj.get("properties") {
        for (k, v) in props {
            out.insert(k.clone(), Structural::parse(v)?);
        }
    }
    Ok(out)
}

fn parse_additional_properties(
    obj: &Map<String, Value>,
) -> Result<Option<AdditionalProperties>, String> {
    match obj.get("additionalProperties") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(AdditionalProperties::Bool(*b))),
        Some(v) => Ok(Some(AdditionalProperties::Schema(Box::new(
            Structural::parse(v)?,
        )))),
    }
}

fn parse_generic(obj: &Map<String, Value>) -> Result<Generic, String> {
    Ok(Generic {
        type_: get_string(obj, "type")?,
        description: get_string(obj, "description")?,
        title: get_string(obj, "title")?,
        default: obj.get("default").filter(|v| !v.is_null()).cloned(),
        nullable: get_bool(obj, "nullable")?,
    })
}

fn parse_extensions(obj: &Map<String, Value>) -> Result<Extensions, String> {
    let preserve =
        match obj.get("x-kubernetes-preserve-unknown-fields") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(true)) => true,
            Some(Value::Bool(false)) => return Err(
                "internal error: 'x-kubernetes-preserve-unknown-fields' must be true or undefined"
                    .to_string(),
            ),
            Some(_) => return Err(type_error("x-kubernetes-preserve-unknown-fields", "bool")),
        };
    Ok(Extensions {
        preserve_unknown_fields: preserve,
        embedded_resource: get_bool(obj, "x-kubernetes-embedded-resource")?,
        int_or_string: get_bool(obj, "x-kubernetes-int-or-string")?,
        list_map_keys: get_string_list(obj, "x-kubernetes-list-map-keys")?,
        list_type: get_opt_string(obj, "x-kubernetes-list-type")?,
        map_type: get_opt_string(obj, "x-kubernetes-map-type")?,
    })
}

fn parse_validation_rules(obj: &Map<String, Value>) -> Result<Vec<ValidationRule>, String> {
    let Some(Value::Array(rules)) = obj.get("x-kubernetes-validations") else {
        return Ok(Vec::new());
    };
    rules
        .iter()
        .map(|r| {
            let r = r
                .as_object()
                .ok_or_else(|| type_error("x-kubernetes-validations", "object"))?;
            Ok(ValidationRule {
                rule: get_string(r, "rule")?,
                message: get_string(r, "message")?,
                message_expression: get_string(r, "messageExpression")?,
                reason: get_opt_string(r, "reason")?,
                field_path: get_string(r, "fieldPath")?,
                optional_old_self: match r.get("optionalOldSelf") {
                    None | Some(Value::Null) => None,
                    Some(Value::Bool(b)) => Some(*b),
                    Some(_) => return Err(type_error("optionalOldSelf", "bool")),
                },
            })
        })
        .collect()
}

fn parse_value_validation(obj: &Map<String, Value>) -> Result<ValueValidation, String> {
    Ok(ValueValidation {
        format: get_string(obj, "format")?,
        maximum: get_f64(obj, "maximum")?,
        exclusive_maximum: get_bool(obj, "exclusiveMaximum")?,
        minimum: get_f64(obj, "minimum")?,
        exclusive_minimum: get_bool(obj, "exclusiveMinimum")?,
        max_length: get_i64(obj, "maxLength")?,
        min_length: get_i64(obj, "minLength")?,
        pattern: get_string(obj, "pattern")?,
        max_items: get_i64(obj, "maxItems")?,
        min_items: get_i64(obj, "minItems")?,
        unique_items: get_bool(obj, "uniqueItems")?,
        multiple_of: get_f64(obj, "multipleOf")?,
        enum_: match obj.get("enum") {
            Some(Value::Array(values)) => values.clone(),
            _ => Vec::new(),
        },
        max_properties: get_i64(obj, "maxProperties")?,
        min_properties: get_i64(obj, "minProperties")?,
        required: get_string_list(obj, "required")?,
        all_of: parse_schema_list(obj, "allOf")?,
        one_of: parse_schema_list(obj, "oneOf")?,
        any_of: parse_schema_list(obj, "anyOf")?,
        not: match obj.get("not") {
            None | Some(Value::Null) => None,
            Some(v) => Some(Box::new(Structural::parse(v)?)),
        },
    })
}

fn parse_schema_list(obj: &Map<String, Value>, key: &str) -> Result<Vec<Structural>, String> {
    match obj.get(key) {
        Some(Value::Array(list)) => list.iter().map(Structural::parse).collect(),
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(_) => Err(type_error(key, "array")),
    }
}

fn type_error(key: &str, want: &str) -> String {
    format!("OpenAPIV3Schema '{key}' must be of type {want}")
}

fn get_string(obj: &Map<String, Value>, key: &str) -> Result<String, String> {
    Ok(get_opt_string(obj, key)?.unwrap_or_default())
}

fn get_opt_string(obj: &Map<String, Value>, key: &str) -> Result<Option<String>, String> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(type_error(key, "string")),
    }
}

fn get_bool(obj: &Map<String, Value>, key: &str) -> Result<bool, String> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(type_error(key, "bool")),
    }
}

fn get_f64(obj: &Map<String, Value>, key: &str) -> Result<Option<f64>, String> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => Ok(n.as_f64()),
        Some(_) => Err(type_error(key, "number")),
    }
}

fn get_i64(obj: &Map<String, Value>, key: &str) -> Result<Option<i64>, String> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| type_error(key, "integer")),
        Some(_) => Err(type_error(key, "integer")),
    }
}

fn get_string_list(obj: &Map<String, Value>, key: &str) -> Result<Vec<String>, String> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(list)) => list
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| type_error(key, "[]string"))
            })
            .collect(),
        Some(_) => Err(type_error(key, "[]string")),
    }
}
