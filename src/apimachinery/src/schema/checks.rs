//! The schema checks upstream applies to a CRD version's `openAPIV3Schema`
//! on create: structural-schema invariants and completeness
//! (apiserver/schema/validation.go, complete.go), default validation
//! (defaulting/validation.go) and the OpenAPI schema checks of
//! apis/apiextensions/validation (ValidateCustomResourceDefinitionOpenAPISchema),
//! CEL compilation excepted.

use serde_json::{Map, Value};

use super::gofmt::{FieldPath, bad_value};
use super::pruning::prune;
use super::regex_cache;
use super::structural::Structural;
use super::validate::field_errors_at;
use crate::validation::{BadValue, Cause, FieldError};

/// All schema errors for `schema_json` located at `path` (e.g.
/// `spec.validation.openAPIV3Schema`, or
/// `spec.versions[0].schema.openAPIV3Schema` when versions differ).
pub fn validate_crd_schema(schema_json: &Value, path: &str) -> Vec<Cause> {
    let mut errs = Vec::new();
    if schema_json.get("nullable") == Some(&Value::Bool(true)) {
        errs.push(FieldError::forbidden(
            &format!("{path}.nullable"),
            "nullable cannot be true at the root",
        ));
    }
    let mut init_errs = Vec::new();
    match Structural::parse(schema_json) {
        Err(e) => init_errs.push(FieldError::invalid(path, BadValue::Str(String::new()), &e)),
        Ok(ss) => {
            let structural = validate_structural(&ss, path);
            if structural.is_empty() {
                errs.extend(validate_defaults(&ss, path));
            } else {
                errs.extend(structural);
            }
        }
    }
    let ctx = SchemaContext {
        allow_defaults: true,
        ..SchemaContext::default()
    };
    validate_openapi(schema_json, &FieldPath::new(path), &ctx, true, &mut errs);
    if errs.is_empty() {
        errs = init_errs;
    }
    errs.iter().map(FieldError::to_cause).collect()
}

// ---------------------------------------------------------------------------
// Structural invariants (ValidateStructural), sorted by error string

#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    Root,
    Item,
    Field,
}

/// Upstream's ValidateStructural: invariants plus completeness, sorted.
pub fn validate_structural(s: &Structural, path: &str) -> Vec<FieldError> {
    let path = FieldPath::new(path);
    let mut errs = Vec::new();
    invariants(s, Level::Root, &path, &mut errs);
    completeness(s, &path, &mut errs);
    errs.sort_by_key(|e| e.to_string());
    errs
}

fn invariants(s: &Structural, lvl: Level, path: &FieldPath, errs: &mut Vec<FieldError>) {
    let ty = s.type_();
    if ty == "array" && s.items.is_none() {
        errs.push(FieldError::required(
            path.child("items").as_str(),
            "must be specified",
        ));
    }
    if let Some(items) = &s.items {
        invariants(items, Level::Item, &path.child("items"), errs);
    }
    for (k, v) in &s.properties {
        invariants(v, Level::Field, &path.child("properties").key(k), errs);
    }
    if let Some(additional) = &s.additional_properties {
        if lvl == Level::Root {
            let p = path.child("additionalProperties");
            errs.push(FieldError::forbidden(
                p.as_str(),
                "must not be used at the root",
            ));
        }
        if let Some(schema) = additional.schema() {
            invariants(
                schema,
                Level::Field,
                &path.child("additionalProperties"),
                errs,
            );
        }
    }
    extension_invariants(s, path, errs);
    let skip_any_of = is_int_or_string_any_of(&s.value_validation.any_of);
    let skip_first_all_of_any_of = s
        .value_validation
        .all_of
        .first()
        .is_some_and(|a| is_int_or_string_any_of(&a.value_validation.any_of));
    value_validation(s, skip_any_of, skip_first_all_of_any_of, path, errs);
    type_invariants(s, lvl, path, errs);
    meta_invariants(s, lvl, path, errs);
}

fn extension_invariants(s: &Structural, path: &FieldPath, errs: &mut Vec<FieldError>) {
    let x = &s.extensions;
    if x.int_or_string && x.preserve_unknown_fields {
        let p = path.child("x-kubernetes-preserve-unknown-fields");
        let msg = "must be false if x-kubernetes-int-or-string is true";
        errs.push(FieldError::invalid(
            p.as_str(),
            BadValue::Raw("true".into()),
            msg,
        ));
    }
    if x.int_or_string && x.embedded_resource {
        let p = path.child("x-kubernetes-embedded-resource");
        let msg = "must be false if x-kubernetes-int-or-string is true";
        errs.push(FieldError::invalid(
            p.as_str(),
            BadValue::Raw("true".into()),
            msg,
        ));
    }
}

fn type_invariants(s: &Structural, lvl: Level, path: &FieldPath, errs: &mut Vec<FieldError>) {
    let ty = s.type_();
    let x = &s.extensions;
    let type_path = path.child("type");
    if x.embedded_resource && ty != "object" {
        let msg = "must be object if x-kubernetes-embedded-resource is true";
        errs.push(if ty.is_empty() {
            FieldError::required(type_path.as_str(), msg)
        } else {
            FieldError::invalid(type_path.as_str(), BadValue::Str(ty.into()), msg)
        });
    } else if ty.is_empty() && !x.int_or_string && !x.preserve_unknown_fields {
        let msg = match lvl {
            Level::Root => "must not be empty at the root",
            Level::Item => "must not be empty for specified array items",
            Level::Field => "must not be empty for specified object fields",
        };
        errs.push(FieldError::required(type_path.as_str(), msg));
    }
    if x.embedded_resource && s.additional_properties.is_some() {
        let p = path.child("additionalProperties");
        let msg = "must not be used if x-kubernetes-embedded-resource is set";
        errs.push(FieldError::forbidden(p.as_str(), msg));
    }
    if lvl == Level::Root && !ty.is_empty() && ty != "object" {
        let msg = "must be object at the root";
        errs.push(FieldError::invalid(
            type_path.as_str(),
            BadValue::Str(ty.into()),
            msg,
        ));
    }
}

fn meta_invariants(s: &Structural, lvl: Level, path: &FieldPath, errs: &mut Vec<FieldError>) {
    let check_metadata = lvl == Level::Root || s.extensions.embedded_resource;
    for field in ["kind", "apiVersion"] {
        match s.properties.get(field) {
            Some(p) if check_metadata && p.type_() != "string" => {
                let fp = path.child("properties").key(field).child("type");
                let value = BadValue::Str(p.type_().into());
                errs.push(FieldError::invalid(fp.as_str(), value, "must be string"));
            }
            _ => {}
        }
    }
    if let Some(metadata) = s.properties.get("metadata") {
        let mp = path.child("properties").key("metadata");
        metadata_invariants(metadata, check_metadata, lvl, &mp, errs);
    }
    let x = &s.extensions;
    if x.embedded_resource && !x.preserve_unknown_fields && s.properties.is_empty() {
        let msg = "must not be empty if x-kubernetes-embedded-resource is true without x-kubernetes-preserve-unknown-fields";
        errs.push(FieldError::required(path.child("properties").as_str(), msg));
    }
}

fn metadata_invariants(
    s: &Structural,
    check_metadata: bool,
    lvl: Level,
    path: &FieldPath,
    errs: &mut Vec<FieldError>,
) {
    if check_metadata && s.type_() != "object" {
        let value = BadValue::Str(s.type_().into());
        errs.push(FieldError::invalid(
            path.child("type").as_str(),
            value,
            "must be object",
        ));
    }
    if lvl != Level::Root {
        return;
    }
    let mut rest = s.clone();
    let only_names = rest
        .properties
        .keys()
        .all(|k| k == "name" || k == "generateName");
    if only_names {
        rest.properties.clear();
    }
    rest.generic.type_.clear();
    rest.generic.default = None;
    if !rest.is_empty() {
        let msg = "must not specify anything other than name and generateName, but metadata is implicitly specified";
        errs.push(FieldError::forbidden(path.as_str(), msg));
    }
}

fn is_int_or_string_any_of(any_of: &[Structural]) -> bool {
    let typed = |t: &str| Structural {
        generic: super::structural::Generic {
            type_: t.to_string(),
            ..Default::default()
        },
        ..Default::default()
    };
    any_of.len() == 2 && any_of[0] == typed("integer") && any_of[1] == typed("string")
}

fn value_validation(
    s: &Structural,
    skip_any_of: bool,
    skip_first_all_of_any_of: bool,
    path: &FieldPath,
    errs: &mut Vec<FieldError>,
) {
    let v = &s.value_validation;
    if !skip_any_of {
        for (i, n) in v.any_of.iter().enumerate() {
            nested(n, false, &path.child("anyOf").index(i), errs);
        }
    }
    for (i, n) in v.all_of.iter().enumerate() {
        let skip = skip_first_all_of_any_of && i == 0;
        nested(n, skip, &path.child("allOf").index(i), errs);
    }
    for (i, n) in v.one_of.iter().enumerate() {
        nested(n, false, &path.child("oneOf").index(i), errs);
    }
    if let Some(n) = &v.not {
        nested(n, false, &path.child("not"), errs);
    }
    if v.pattern.is_empty() {
        return;
    }
    {
        if let Err(e) = regex_cache::compile(&v.pattern) {
            let msg =
                format!("must be a valid regular expression, but isn't: error parsing regexp: {e}");
            let value = BadValue::Str(v.pattern.clone());
            errs.push(FieldError::invalid(
                path.child("pattern").as_str(),
                value,
                &msg,
            ));
        }
    }
}

/// Checks a value validation nested under allOf/anyOf/oneOf/not.
fn nested(n: &Structural, skip_any_of: bool, path: &FieldPath, errs: &mut Vec<FieldError>) {
    value_validation(n, skip_any_of, false, path, errs);
    if let Some(items) = &n.items {
        nested(items, false, &path.child("items"), errs);
    }
    for (k, p) in &n.properties {
        nested(p, false, &path.child("properties").key(k), errs);
    }
    let forbid = |errs: &mut Vec<FieldError>, field: &str, msg: &str| {
        errs.push(FieldError::forbidden(path.child(field).as_str(), msg));
    };
    if !n.type_().is_empty() {
        forbid(errs, "type", "must be empty to be structural");
    }
    if n.additional_properties.as_ref().is_some_and(|a| a.allows()) {
        forbid(
            errs,
            "additionalProperties",
            "must be undefined to be structural",
        );
    }
    nested_generic_and_extensions(n, path, errs);
    if n.properties.contains_key("metadata") {
        let p = path.child("properties").key("metadata");
        errs.push(FieldError::forbidden(
            p.as_str(),
            "must not be specified in a nested context",
        ));
    }
}

fn nested_generic_and_extensions(n: &Structural, path: &FieldPath, errs: &mut Vec<FieldError>) {
    let g = &n.generic;
    let x = &n.extensions;
    let checks: [(bool, &str, &str); 11] = [
        (
            g.default.is_some(),
            "default",
            "must be undefined to be structural",
        ),
        (
            !g.title.is_empty(),
            "title",
            "must be empty to be structural",
        ),
        (
            !g.description.is_empty(),
            "description",
            "must be empty to be structural",
        ),
        (g.nullable, "nullable", "must be false to be structural"),
        (
            x.preserve_unknown_fields,
            "x-kubernetes-preserve-unknown-fields",
            "must be false to be structural",
        ),
        (
            x.embedded_resource,
            "x-kubernetes-embedded-resource",
            "must be false to be structural",
        ),
        (
            x.int_or_string,
            "x-kubernetes-int-or-string",
            "must be false to be structural",
        ),
        (
            !x.list_map_keys.is_empty(),
            "x-kubernetes-list-map-keys",
            "must be empty to be structural",
        ),
        (
            x.list_type.is_some(),
            "x-kubernetes-list-type",
            "must be undefined to be structural",
        ),
        (
            x.map_type.is_some(),
            "x-kubernetes-map-type",
            "must be undefined to be structural",
        ),
        (
            !n.x_validations.is_empty(),
            "x-kubernetes-validations",
            "must be empty to be structural",
        ),
    ];
    for (failed, field, msg) in checks {
        if failed {
            errs.push(FieldError::forbidden(path.child(field).as_str(), msg));
        }
    }
}

// -- completeness -------------------------------------------------------------

fn completeness(s: &Structural, path: &FieldPath, errs: &mut Vec<FieldError>) {
    value_validation_completeness(s, Some(s), path, path, errs);
}

fn value_validation_completeness(
    v: &Structural,
    s: Option<&Structural>,
    s_path: &FieldPath,
    v_path: &FieldPath,
    errs: &mut Vec<FieldError>,
) {
    let vv = &v.value_validation;
    if let Some(not) = &vv.not {
        nested_completeness(not, s, s_path, &v_path.child("not"), errs);
    }
    for (name, list) in [
        ("allOf", &vv.all_of),
        ("anyOf", &vv.any_of),
        ("oneOf", &vv.one_of),
    ] {
        for (i, n) in list.iter().enumerate() {
            nested_completeness(n, s, s_path, &v_path.child(name).index(i), errs);
        }
    }
}

fn nested_completeness(
    v: &Structural,
    s: Option<&Structural>,
    s_path: &FieldPath,
    v_path: &FieldPath,
    errs: &mut Vec<FieldError>,
) {
    let Some(s) = s else {
        let msg = format!("because it is defined in {v_path}");
        errs.push(FieldError::required(s_path.as_str(), &msg));
        return;
    };
    value_validation_completeness(v, Some(s), s_path, v_path, errs);
    if let Some(items) = &v.items {
        let (sp, vp) = (s_path.child("items"), v_path.child("items"));
        nested_completeness(items, s.items.as_deref(), &sp, &vp, errs);
    }
    for (k, p) in &v.properties {
        let sp = s_path.child("properties").key(k);
        let vp = v_path.child("properties").key(k);
        match s.properties.get(k) {
            Some(sp_schema) => nested_completeness(p, Some(sp_schema), &sp, &vp, errs),
            None => {
                let msg = format!("because it is defined in {vp}");
                errs.push(FieldError::required(sp.as_str(), &msg));
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Default validation (defaulting.ValidateDefaults, CEL and metadata
// coercion excepted)

fn validate_defaults(s: &Structural, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut root = s.clone();
    root.extensions.embedded_resource = true;
    defaults_at(&root, &FieldPath::new(path), false, &mut errs);
    errs
}

fn defaults_at(s: &Structural, path: &FieldPath, inside_meta: bool, errs: &mut Vec<FieldError>) {
    let inside_meta = inside_meta && !s.extensions.embedded_resource;
    if let Some(default) = &s.generic.default {
        let default_path = path.child("default");
        if !inside_meta {
            let mut pruned = default.clone();
            prune(&mut pruned, s, s.extensions.embedded_resource);
            if &pruned != default {
                let msg = "must not have unknown fields";
                errs.push(FieldError::invalid(
                    default_path.as_str(),
                    bad_value(default),
                    msg,
                ));
            }
        }
        errs.extend(field_errors_at(default, s, Some(default_path.as_str())));
    }
    if let Some(items) = &s.items {
        defaults_at(items, &path.child("items"), inside_meta, errs);
    }
    for (k, p) in &s.properties {
        let sub_meta = inside_meta
            || (s.extensions.embedded_resource
                && ["metadata", "apiVersion", "kind"].contains(&k.as_str()));
        defaults_at(p, &path.child("properties").key(k), sub_meta, errs);
    }
}

// ---------------------------------------------------------------------------
// ValidateCustomResourceDefinitionOpenAPISchema over the raw JSON

#[derive(Clone, Default)]
struct SchemaContext {
    allow_defaults: bool,
    disallow_defaults_reason: String,
    inside_resource_meta: bool,
}

impl SchemaContext {
    fn forbid_defaults(&self, reason: &str) -> Self {
        SchemaContext {
            allow_defaults: false,
            disallow_defaults_reason: reason.to_string(),
            ..self.clone()
        }
    }
}

const OPENAPI_V3_TYPES: [&str; 6] = ["array", "boolean", "integer", "number", "object", "string"];
const META_FIELDS: [&str; 3] = ["metadata", "kind", "apiVersion"];

fn validate_openapi(
    schema: &Value,
    path: &FieldPath,
    ctx: &SchemaContext,
    is_root: bool,
    errs: &mut Vec<FieldError>,
) {
    let Value::Object(obj) = schema else {
        return;
    };
    standard_checks(obj, path, ctx, errs);
    if obj.get("uniqueItems") == Some(&Value::Bool(true)) {
        let msg =
            "uniqueItems cannot be set to true since the runtime complexity becomes quadratic";
        errs.push(FieldError::forbidden(
            path.child("uniqueItems").as_str(),
            msg,
        ));
    }
    recurse_openapi(obj, path, ctx, is_root, errs);
    extension_checks(obj, path, errs);
    list_map_set_checks(obj, path, errs);
    validation_rule_checks(obj, path, errs);
}

fn type_of(obj: &Map<String, Value>) -> &str {
    obj.get("type").and_then(Value::as_str).unwrap_or("")
}

fn present(obj: &Map<String, Value>, key: &str) -> bool {
    obj.get(key).is_some_and(|v| !v.is_null())
}

fn standard_checks(
    obj: &Map<String, Value>,
    path: &FieldPath,
    ctx: &SchemaContext,
    errs: &mut Vec<FieldError>,
) {
    let ty = type_of(obj);
    if !ty.is_empty() && !OPENAPI_V3_TYPES.contains(&ty) {
        let p = path.child("type");
        errs.push(FieldError::not_supported(
            p.as_str(),
            BadValue::Str(ty.into()),
            &OPENAPI_V3_TYPES,
        ));
    }
    if present(obj, "default") && !ctx.allow_defaults {
        let mut detail = "must not be set".to_string();
        if !ctx.disallow_defaults_reason.is_empty() {
            detail = format!("{detail} {}", ctx.disallow_defaults_reason);
        }
        errs.push(FieldError::forbidden(
            path.child("default").as_str(),
            &detail,
        ));
    }
    let unsupported = [
        (
            "id",
            obj.get("id")
                .and_then(Value::as_str)
                .is_some_and(|s| !s.is_empty()),
            "id is not supported",
        ),
        (
            "additionalItems",
            present(obj, "additionalItems"),
            "additionalItems is not supported",
        ),
        (
            "patternProperties",
            non_empty_map(obj, "patternProperties"),
            "patternProperties is not supported",
        ),
        (
            "definitions",
            non_empty_map(obj, "definitions"),
            "definitions is not supported",
        ),
        (
            "dependencies",
            present(obj, "dependencies"),
            "dependencies is not supported",
        ),
        ("$ref", present(obj, "$ref"), "$ref is not supported"),
        (
            "type",
            ty == "null",
            "type cannot be set to null, use nullable as an alternative",
        ),
        (
            "items",
            obj.get("items")
                .is_some_and(|i| i.as_array().is_some_and(|a| !a.is_empty())),
            "items must be a schema object and not an array",
        ),
    ];
    for (field, failed, msg) in unsupported {
        if failed {
            errs.push(FieldError::forbidden(path.child(field).as_str(), msg));
        }
    }
    if ctx.inside_resource_meta
        && obj.get("x-kubernetes-embedded-resource") == Some(&Value::Bool(true))
    {
        let p = path.child("x-kubernetes-embedded-resource");
        errs.push(FieldError::forbidden(
            p.as_str(),
            "must not be used inside of resource meta",
        ));
    }
}

fn non_empty_map(obj: &Map<String, Value>, key: &str) -> bool {
    obj.get(key)
        .and_then(Value::as_object)
        .is_some_and(|m| !m.is_empty())
}

fn recurse_openapi(
    obj: &Map<String, Value>,
    path: &FieldPath,
    ctx: &SchemaContext,
    is_root: bool,
    errs: &mut Vec<FieldError>,
) {
    let has_properties = non_empty_map(obj, "properties");
    if let Some(additional) = obj.get("additionalProperties").filter(|v| !v.is_null()) {
        let ap = path.child("additionalProperties");
        if has_properties && additional != &Value::Bool(true) {
            errs.push(FieldError::forbidden(
                ap.as_str(),
                "additionalProperties and properties are mutual exclusive",
            ));
        }
        let sub = if ctx.inside_resource_meta {
            ctx.forbid_defaults("inside additionalProperties applying to object metadata")
        } else {
            ctx.clone()
        };
        validate_openapi(additional, &ap, &sub, false, errs);
    }
    let embedded = obj.get("x-kubernetes-embedded-resource") == Some(&Value::Bool(true));
    if let Some(Value::Object(props)) = obj.get("properties") {
        for (k, v) in props {
            let mut sub = ctx.clone();
            if (is_root || embedded) && META_FIELDS.contains(&k.as_str()) {
                sub.inside_resource_meta = true;
                if is_root {
                    sub = sub.forbid_defaults(&format!("in top-level {k}"));
                }
            }
            validate_openapi(v, &path.child("properties").key(k), &sub, false, errs);
        }
    }
    if let Some(not) = obj.get("not") {
        validate_openapi(not, &path.child("not"), ctx, false, errs);
    }
    for key in ["allOf", "oneOf", "anyOf"] {
        if let Some(Value::Array(list)) = obj.get(key) {
            for (i, v) in list.iter().enumerate() {
                validate_openapi(v, &path.child(key).index(i), ctx, false, errs);
            }
        }
    }
    if let Some(Value::Object(defs)) = obj.get("definitions") {
        for (k, v) in defs {
            validate_openapi(v, &path.child("definitions").key(k), ctx, false, errs);
        }
    }
    match obj.get("items") {
        Some(Value::Array(list)) => {
            for (i, v) in list.iter().enumerate() {
                validate_openapi(v, &path.child("items").index(i), ctx, false, errs);
            }
        }
        Some(items @ Value::Object(_)) => {
            validate_openapi(items, &path.child("items"), ctx, false, errs)
        }
        _ => {}
    }
}

fn opt_str<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    obj.get(key).and_then(Value::as_str)
}

fn extension_checks(obj: &Map<String, Value>, path: &FieldPath, errs: &mut Vec<FieldError>) {
    let ty = type_of(obj);
    if obj.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(false)) {
        let p = path.child("x-kubernetes-preserve-unknown-fields");
        errs.push(FieldError::invalid(
            p.as_str(),
            BadValue::Raw("false".into()),
            "must be true or undefined",
        ));
    }
    if let Some(map_type) = opt_str(obj, "x-kubernetes-map-type") {
        type_must_be(
            ty,
            "object",
            "must be object if x-kubernetes-map-type is specified",
            path,
            errs,
        );
        if map_type != "atomic" && map_type != "granular" {
            let p = path.child("x-kubernetes-map-type");
            errs.push(FieldError::not_supported(
                p.as_str(),
                BadValue::Str(map_type.into()),
                &["atomic", "granular"],
            ));
        }
    }
    let list_type = opt_str(obj, "x-kubernetes-list-type");
    if let Some(lt) = list_type {
        if ty != "array" {
            type_must_be(
                ty,
                "array",
                "must be array if x-kubernetes-list-type is specified",
                path,
                errs,
            );
        } else if lt == "set" {
            atomic_set_item_checks(obj, path, errs);
        }
        if !["atomic", "set", "map"].contains(&lt) {
            let p = path.child("x-kubernetes-list-type");
            errs.push(FieldError::not_supported(
                p.as_str(),
                BadValue::Str(lt.into()),
                &["atomic", "set", "map"],
            ));
        }
    }
    let keys = string_list(obj, "x-kubernetes-list-map-keys");
    if !keys.is_empty() {
        let p = path.child("x-kubernetes-list-type");
        let msg = "must be map if x-kubernetes-list-map-keys is non-empty";
        match list_type {
            None => errs.push(FieldError::required(p.as_str(), msg)),
            Some("map") => {}
            Some(lt) => errs.push(FieldError::invalid(
                p.as_str(),
                BadValue::Str(lt.into()),
                msg,
            )),
        }
    }
    if list_type == Some("map") {
        list_map_checks(obj, &keys, path, errs);
    }
}

fn type_must_be(ty: &str, want: &str, msg: &str, path: &FieldPath, errs: &mut Vec<FieldError>) {
    if ty == want {
        return;
    }
    let p = path.child("type");
    errs.push(if ty.is_empty() {
        FieldError::required(p.as_str(), msg)
    } else {
        FieldError::invalid(p.as_str(), BadValue::Str(ty.into()), msg)
    });
}

fn atomic_set_item_checks(obj: &Map<String, Value>, path: &FieldPath, errs: &mut Vec<FieldError>) {
    let Some(Value::Object(items)) = obj.get("items") else {
        return;
    };
    let msg = "must be atomic as item of a list with x-kubernetes-list-type=set";
    let item_list_type = opt_str(items, "x-kubernetes-list-type");
    let shown = item_list_type.map_or(BadValue::Str("null".into()), |s| BadValue::Str(s.into()));
    match type_of(items) {
        "array" if item_list_type.is_some_and(|lt| lt != "atomic") => {
            let p = path.child("items").child("x-kubernetes-list-type");
            errs.push(FieldError::invalid(p.as_str(), shown, msg));
        }
        "object" if opt_str(items, "x-kubernetes-map-type") != Some("atomic") => {
            let p = path.child("items").child("x-kubernetes-map-type");
            errs.push(FieldError::invalid(p.as_str(), shown, msg));
        }
        _ => {}
    }
}

fn string_list(obj: &Map<String, Value>, key: &str) -> Vec<String> {
    obj.get(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn go_string_slice(values: &[String]) -> BadValue {
    let quoted: Vec<String> = values
        .iter()
        .map(|v| crate::validation::go_quote(v))
        .collect();
    BadValue::Raw(format!("[]string{{{}}}", quoted.join(", ")))
}

fn list_map_checks(
    obj: &Map<String, Value>,
    keys: &[String],
    path: &FieldPath,
    errs: &mut Vec<FieldError>,
) {
    if keys.is_empty() {
        let p = path.child("x-kubernetes-list-map-keys");
        errs.push(FieldError::required(
            p.as_str(),
            "must not be empty if x-kubernetes-list-type is map",
        ));
    }
    let items = match obj.get("items") {
        None | Some(Value::Null) => {
            let p = path.child("items");
            errs.push(FieldError::required(
                p.as_str(),
                "must have a schema if x-kubernetes-list-type is map",
            ));
            return;
        }
        Some(Value::Object(items)) => items,
        Some(other) => {
            let msg = "must only have a single schema if x-kubernetes-list-type is map";
            errs.push(FieldError::invalid(
                path.child("items").as_str(),
                bad_value(other),
                msg,
            ));
            return;
        }
    };
    let item_type = type_of(items);
    if item_type != "object" {
        let p = path.child("items").child("type");
        let msg = "must be object if parent array's x-kubernetes-list-type is map";
        errs.push(FieldError::invalid(
            p.as_str(),
            BadValue::Str(item_type.into()),
            msg,
        ));
        return;
    }
    let props = items.get("properties").and_then(Value::as_object);
    let mut seen: Vec<&str> = Vec::new();
    for k in keys {
        match props.and_then(|p| p.get(k)).and_then(Value::as_object) {
            Some(prop) if ["array", "object"].contains(&type_of(prop)) => {
                let p = path.child("items").child("properties").key(k).child("type");
                let msg = "must be a scalar type if parent array's x-kubernetes-list-type is map";
                errs.push(FieldError::invalid(
                    p.as_str(),
                    BadValue::Str(item_type.into()),
                    msg,
                ));
            }
            Some(_) => {}
            None => {
                let p = path.child("x-kubernetes-list-map-keys");
                let msg = "entries must all be names of item properties";
                errs.push(FieldError::invalid(p.as_str(), go_string_slice(keys), msg));
            }
        }
        if seen.contains(&k.as_str()) {
            let p = path.child("x-kubernetes-list-map-keys");
            let msg = "must not contain duplicate entries";
            errs.push(FieldError::invalid(p.as_str(), go_string_slice(keys), msg));
        }
        seen.push(k);
    }
}

/// validateMapListKeysMapSet (required for new CRDs).
fn list_map_set_checks(obj: &Map<String, Value>, path: &FieldPath, errs: &mut Vec<FieldError>) {
    let Some(Value::Object(items)) = obj.get("items") else {
        return;
    };
    let Some(lt) = opt_str(obj, "x-kubernetes-list-type").filter(|lt| *lt == "set" || *lt == "map")
    else {
        return;
    };
    let items_path = path.child("items");
    if items.get("nullable") == Some(&Value::Bool(true)) {
        let msg = format!("cannot be nullable when x-kubernetes-list-type is {lt}");
        errs.push(FieldError::forbidden(
            items_path.child("nullable").as_str(),
            &msg,
        ));
    }
    if lt != "map" {
        return;
    }
    let required = string_list(items, "required");
    let props = items.get("properties").and_then(Value::as_object);
    for k in string_list(obj, "x-kubernetes-list-map-keys") {
        let Some(prop) = props.and_then(|p| p.get(&k)).and_then(Value::as_object) else {
            continue;
        };
        let prop_path = items_path.child("properties").key(&k);
        if !required.contains(&k) && !present(prop, "default") {
            let msg = "this property is in x-kubernetes-list-map-keys, so it must have a default or be a required property";
            errs.push(FieldError::required(
                prop_path.child("default").as_str(),
                msg,
            ));
        }
        if prop.get("nullable") == Some(&Value::Bool(true)) {
            let msg = "this property is in x-kubernetes-list-map-keys, so it cannot be nullable";
            errs.push(FieldError::forbidden(
                prop_path.child("nullable").as_str(),
                msg,
            ));
        }
    }
}

const SUPPORTED_REASONS: [&str; 4] = [
    "FieldValueDuplicate",
    "FieldValueForbidden",
    "FieldValueInvalid",
    "FieldValueRequired",
];

fn has_newlines(s: &str) -> bool {
    s.contains('\n') || s.contains('\r')
}

/// The static checks on `x-kubernetes-validations` (CEL compilation is not
/// done here).
fn validation_rule_checks(obj: &Map<String, Value>, path: &FieldPath, errs: &mut Vec<FieldError>) {
    let Some(Value::Array(rules)) = obj.get("x-kubernetes-validations") else {
        return;
    };
    for (i, rule) in rules.iter().enumerate() {
        let Value::Object(r) = rule else {
            continue;
        };
        let p = path.child("x-kubernetes-validations").index(i);
        let get = |k: &str| opt_str(r, k).unwrap_or("");
        let (text, message, message_expr, field_path) = (
            get("rule"),
            get("message"),
            get("messageExpression"),
            get("fieldPath"),
        );
        let trimmed_msg = message.trim();
        if text.trim().is_empty() {
            errs.push(FieldError::required(
                p.child("rule").as_str(),
                "rule is not specified",
            ));
        } else if !message.is_empty() && trimmed_msg.is_empty() {
            let msg = "message must be non-empty if specified";
            errs.push(FieldError::invalid(
                p.child("message").as_str(),
                BadValue::Str(message.into()),
                msg,
            ));
        } else if has_newlines(trimmed_msg) {
            let msg = "message must not contain line breaks";
            errs.push(FieldError::invalid(
                p.child("message").as_str(),
                BadValue::Str(message.into()),
                msg,
            ));
        } else if has_newlines(text.trim()) && trimmed_msg.is_empty() {
            let msg = "message must be specified if rule contains line breaks";
            errs.push(FieldError::required(p.child("message").as_str(), msg));
        }
        if !message_expr.is_empty() && message_expr.trim().is_empty() {
            let msg = "messageExpression must be non-empty if specified";
            errs.push(FieldError::required(
                p.child("messageExpression").as_str(),
                msg,
            ));
        }
        if let Some(reason) = opt_str(r, "reason").filter(|r| !SUPPORTED_REASONS.contains(r)) {
            let rp = p.child("reason");
            errs.push(FieldError::not_supported(
                rp.as_str(),
                BadValue::Str(reason.into()),
                &SUPPORTED_REASONS,
            ));
        }
        let fp = p.child("fieldPath");
        if !field_path.is_empty() && field_path.trim().is_empty() {
            let msg = "fieldPath must be non-empty if specified";
            errs.push(FieldError::invalid(
                fp.as_str(),
                BadValue::Str(field_path.into()),
                msg,
            ));
        }
        if has_newlines(field_path) {
            let msg = "fieldPath must not contain line breaks";
            errs.push(FieldError::invalid(
                fp.as_str(),
                BadValue::Str(field_path.into()),
                msg,
            ));
        }
    }
}
