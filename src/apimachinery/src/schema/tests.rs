use serde_json::{Value, json};

use super::*;

fn schema(v: Value) -> Structural {
    Structural::from_json(&v).unwrap_or_else(|e| panic!("schema rejected: {e:?}"))
}

fn errors(obj: Value, s: &Structural) -> Vec<String> {
    validate(&obj, s)
        .iter()
        .map(|c| format!("{}: {}", c.field, c.message))
        .collect()
}

fn schema_errors(v: Value) -> Vec<String> {
    validate_crd_schema(&v, DEFAULT_SCHEMA_PATH)
        .iter()
        .map(|c| format!("{}: {}", c.field, c.message))
        .collect()
}

fn spec_schema(spec: Value) -> Structural {
    schema(json!({"type": "object", "properties": {"spec": spec}}))
}

// -- structural schema checks -------------------------------------------------

#[test]
fn a_property_without_type_is_not_structural() {
    let errs = schema_errors(json!({"type": "object", "properties": {"spec": {}}}));
    assert_eq!(
        errs,
        [
            "spec.validation.openAPIV3Schema.properties[spec].type: Required value: must not be empty for specified object fields"
        ]
    );
}

#[test]
fn additional_properties_with_properties_are_mutually_exclusive() {
    let errs = schema_errors(json!({"type": "object", "properties": {"spec": {
        "type": "object",
        "properties": {"a": {"type": "string"}},
        "additionalProperties": {"type": "string"}
    }}}));
    assert_eq!(
        errs,
        [
            "spec.validation.openAPIV3Schema.properties[spec].additionalProperties: Forbidden: additionalProperties and properties are mutual exclusive"
        ]
    );
}

#[test]
fn value_validations_may_not_carry_structural_fields() {
    let errs = schema_errors(json!({"type": "object", "properties": {"spec": {
        "type": "object",
        "properties": {"a": {"type": "array", "items": {"type": "string"}}},
        "anyOf": [{"properties": {"a": {"items": {"type": "string"}}}}]
    }}}));
    assert_eq!(
        errs,
        [
            "spec.validation.openAPIV3Schema.properties[spec].anyOf[0].properties[a].items.type: Forbidden: must be empty to be structural"
        ]
    );
}

#[test]
fn value_validations_must_refer_to_specified_fields() {
    let errs = schema_errors(json!({"type": "object",
        "properties": {"spec": {"type": "object"}},
        "anyOf": [{"properties": {"spec": {"properties": {"b": {"minLength": 1}}}}}]
    }));
    assert_eq!(
        errs,
        [
            "spec.validation.openAPIV3Schema.properties[spec].properties[b]: Required value: because it is defined in spec.validation.openAPIV3Schema.anyOf[0].properties[spec].properties[b]"
        ]
    );
}

#[test]
fn root_metadata_may_only_specify_name_and_generate_name() {
    let ok = schema_errors(json!({"type": "object", "properties": {
        "metadata": {"type": "object", "properties": {"name": {"type": "string", "maxLength": 8}}}
    }}));
    assert!(ok.is_empty(), "{ok:?}");
    let errs = schema_errors(json!({"type": "object", "properties": {
        "metadata": {"type": "object", "properties": {"labels": {"type": "object"}}}
    }}));
    assert_eq!(
        errs,
        [
            "spec.validation.openAPIV3Schema.properties[metadata]: Forbidden: must not specify anything other than name and generateName, but metadata is implicitly specified"
        ]
    );
}

#[test]
fn preserve_unknown_fields_false_is_rejected() {
    let errs =
        schema_errors(json!({"type": "object", "x-kubernetes-preserve-unknown-fields": false}));
    assert_eq!(
        errs,
        [
            "spec.validation.openAPIV3Schema.x-kubernetes-preserve-unknown-fields: Invalid value: false: must be true or undefined"
        ]
    );
}

#[test]
fn list_map_keys_must_be_required_or_defaulted() {
    let errs = schema_errors(json!({"type": "object", "properties": {"spec": {
        "type": "array",
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["name"],
        "items": {"type": "object", "properties": {"name": {"type": "string"}}}
    }}}));
    assert_eq!(
        errs,
        [
            "spec.validation.openAPIV3Schema.properties[spec].items.properties[name].default: Required value: this property is in x-kubernetes-list-map-keys, so it must have a default or be a required property"
        ]
    );
}

#[test]
fn defaults_must_validate_against_their_schema() {
    let errs = schema_errors(json!({"type": "object", "properties": {"spec": {
        "type": "object",
        "properties": {"replicas": {"type": "integer", "default": "three"}}
    }}}));
    assert_eq!(
        errs,
        [
            "spec.validation.openAPIV3Schema.properties[spec].properties[replicas].default: Invalid value: \"string\":  in body must be of type integer: \"string\""
        ]
    );
}

#[test]
fn defaults_in_top_level_metadata_are_forbidden() {
    let errs = schema_errors(json!({"type": "object", "properties": {
        "metadata": {"type": "object", "default": {}}
    }}));
    assert!(errs.contains(&"spec.validation.openAPIV3Schema.properties[metadata].default: Forbidden: must not be set in top-level metadata".to_string()), "{errs:?}");
}

#[test]
fn the_root_must_be_an_object_and_not_nullable() {
    let errs = schema_errors(json!({"type": "string", "nullable": true}));
    assert!(errs.contains(&"spec.validation.openAPIV3Schema.nullable: Forbidden: nullable cannot be true at the root".to_string()));
    assert!(errs.contains(&"spec.validation.openAPIV3Schema.type: Invalid value: \"string\": must be object at the root".to_string()));
}

#[test]
fn int_or_string_with_the_any_of_pattern_is_structural() {
    let errs = schema_errors(json!({"type": "object", "properties": {"port": {
        "x-kubernetes-int-or-string": true,
        "anyOf": [{"type": "integer"}, {"type": "string"}]
    }}}));
    assert!(errs.is_empty(), "{errs:?}");
}

#[test]
fn validation_rules_are_kept_in_the_structural_schema() {
    let s = spec_schema(json!({"type": "object", "x-kubernetes-validations": [
        {"rule": "self.a > 0", "message": "a must be positive", "reason": "FieldValueForbidden", "fieldPath": ".a"}
    ], "properties": {"a": {"type": "integer"}}}));
    let rule = &s.properties["spec"].x_validations[0];
    assert_eq!(rule.rule, "self.a > 0");
    assert_eq!(rule.message, "a must be positive");
    assert_eq!(rule.reason.as_deref(), Some("FieldValueForbidden"));
    assert_eq!(rule.field_path, ".a");
}

// -- pruning ------------------------------------------------------------------

#[test]
fn pruning_drops_unknown_fields_and_reports_their_paths() {
    let s = spec_schema(json!({"type": "object", "properties": {
        "list": {"type": "array", "items": {"type": "object", "properties": {"a": {"type": "string"}}}}
    }}));
    let mut obj = json!({"apiVersion": "g/v1", "kind": "K", "metadata": {"name": "x", "foo": 1},
        "spec": {"foo": 1, "list": [{"a": "x", "bar": 2}]}, "status": {}});
    let pruned = prune(&mut obj, &s, true);
    assert_eq!(pruned, ["spec.foo", "spec.list[0].bar", "status"]);
    assert_eq!(
        obj,
        json!({"apiVersion": "g/v1", "kind": "K", "metadata": {"name": "x", "foo": 1},
        "spec": {"list": [{"a": "x"}]}})
    );
}

#[test]
fn nested_preserve_unknown_fields_keeps_unknowns_but_prunes_specified_children() {
    let s = spec_schema(
        json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true,
        "properties": {"strict": {"type": "object", "properties": {"a": {"type": "string"}}}}}),
    );
    let mut obj = json!({"spec": {"free": {"x": 1}, "strict": {"a": "y", "b": 2}}});
    let pruned = prune(&mut obj, &s, true);
    assert_eq!(pruned, ["spec.strict.b"]);
    assert_eq!(
        obj,
        json!({"spec": {"free": {"x": 1}, "strict": {"a": "y"}}})
    );
}

#[test]
fn embedded_resources_keep_type_meta_and_prune_their_metadata() {
    let s = spec_schema(json!({"type": "object", "properties": {"template": {
        "type": "object", "x-kubernetes-embedded-resource": true,
        "properties": {"spec": {"type": "object", "properties": {"x": {"type": "string"}}}}
    }}}));
    let mut obj = json!({"spec": {"template": {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "p", "labels": {"a": "b"}, "bogus": true},
        "spec": {"x": "1", "y": "2"}, "other": 1
    }}});
    let pruned = prune(&mut obj, &s, true);
    assert_eq!(
        pruned,
        [
            "spec.template.metadata.bogus",
            "spec.template.other",
            "spec.template.spec.y"
        ]
    );
    assert_eq!(
        obj["spec"]["template"],
        json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "p", "labels": {"a": "b"}}, "spec": {"x": "1"}})
    );
}

#[test]
fn additional_properties_schemas_prune_map_values() {
    let s = spec_schema(json!({"type": "object", "additionalProperties": {
        "type": "object", "properties": {"a": {"type": "string"}}}}));
    let mut obj = json!({"spec": {"k1": {"a": "x", "b": 1}}});
    assert_eq!(prune(&mut obj, &s, true), ["spec.k1.b"]);
}

// -- defaulting -----------------------------------------------------------------

#[test]
fn defaults_fill_missing_fields_inside_arrays_and_maps() {
    let s = spec_schema(json!({"type": "object", "properties": {
        "replicas": {"type": "integer", "default": 1},
        "list": {"type": "array", "items": {"type": "object",
            "properties": {"port": {"type": "integer", "default": 80}}}},
        "map": {"type": "object", "additionalProperties": {"type": "object",
            "properties": {"enabled": {"type": "boolean", "default": true}}}}
    }}));
    let mut obj = json!({"spec": {"list": [{}, {"port": 8080}], "map": {"a": {}}}});
    apply_defaults(&mut obj, &s);
    assert_eq!(
        obj,
        json!({"spec": {"replicas": 1, "list": [{"port": 80}, {"port": 8080}],
        "map": {"a": {"enabled": true}}}})
    );
}

#[test]
fn null_takes_the_default_unless_nullable() {
    let s = spec_schema(json!({"type": "object", "properties": {
        "a": {"type": "string", "default": "x"},
        "b": {"type": "string", "default": "y", "nullable": true}
    }}));
    let mut obj = json!({"spec": {"a": null, "b": null}});
    apply_defaults(&mut obj, &s);
    assert_eq!(obj, json!({"spec": {"a": "x", "b": null}}));
}

#[test]
fn defaults_of_a_parent_are_then_defaulted_themselves() {
    let s = spec_schema(json!({"type": "object", "default": {}, "properties": {
        "a": {"type": "string", "default": "x"}}}));
    let mut obj = json!({});
    apply_defaults(&mut obj, &s);
    assert_eq!(obj, json!({"spec": {"a": "x"}}));
}

#[test]
fn defaults_are_pruned_when_the_schema_is_built() {
    let mut s = Structural::parse(&json!({"type": "object", "properties": {"spec": {
        "type": "object", "default": {"a": "x", "junk": 1},
        "properties": {"a": {"type": "string"}}}}}))
    .unwrap();
    assert!(prune_defaults(&mut s));
    assert_eq!(
        s.properties["spec"].generic.default,
        Some(json!({"a": "x"}))
    );
}

// -- validation messages ----------------------------------------------------------

#[test]
fn a_wrong_type_reports_the_found_type() {
    let s = spec_schema(json!({"type": "object", "properties": {"replicas": {"type": "integer"}}}));
    assert_eq!(
        errors(json!({"spec": {"replicas": "3"}}), &s),
        [
            "spec.replicas: Invalid value: \"string\": spec.replicas in body must be of type integer: \"string\""
        ]
    );
    assert!(errors(json!({"spec": {"replicas": 3.0}}), &s).is_empty());
}

#[test]
fn null_is_only_accepted_when_nullable() {
    let s = spec_schema(json!({"type": "object", "properties": {
        "a": {"type": "string"}, "b": {"type": "string", "nullable": true}}}));
    assert_eq!(
        errors(json!({"spec": {"a": null, "b": null}}), &s),
        ["spec.a: Invalid value: \"null\": spec.a in body must be of type string: \"null\""]
    );
}

#[test]
fn int_or_string_accepts_both_and_rejects_others() {
    let s = spec_schema(
        json!({"type": "object", "properties": {"port": {"x-kubernetes-int-or-string": true}}}),
    );
    assert!(errors(json!({"spec": {"port": 80}}), &s).is_empty());
    assert!(errors(json!({"spec": {"port": "http"}}), &s).is_empty());
    assert_eq!(
        errors(json!({"spec": {"port": true}}), &s),
        [
            "spec.port: Invalid value: \"boolean\": spec.port in body must be of type integer,string: \"boolean\""
        ]
    );
}

#[test]
fn numeric_bounds_and_multiples_are_reported() {
    let s = spec_schema(json!({"type": "object", "properties": {
        "count": {"type": "integer", "maximum": 10},
        "low": {"type": "integer", "minimum": 5, "exclusiveMinimum": true},
        "ratio": {"type": "number", "maximum": 1.5, "exclusiveMaximum": true},
        "step": {"type": "integer", "multipleOf": 5}
    }}));
    assert_eq!(
        errors(
            json!({"spec": {"count": 12, "low": 5, "ratio": 1.5, "step": 7}}),
            &s
        ),
        [
            "spec.count: Invalid value: 12: spec.count in body should be less than or equal to 10",
            "spec.low: Invalid value: 5: spec.low in body should be greater than 5",
            "spec.ratio: Invalid value: 1.5: spec.ratio in body should be less than 1.5",
            "spec.step: Invalid value: 7: spec.step in body should be a multiple of 5",
        ]
    );
}

#[test]
fn string_length_and_pattern_are_reported() {
    let s = spec_schema(json!({"type": "object", "properties": {
        "long": {"type": "string", "maxLength": 3},
        "short": {"type": "string", "minLength": 3},
        "pat": {"type": "string", "pattern": "^[a-z]+$"}
    }}));
    assert_eq!(
        errors(
            json!({"spec": {"long": "abcd", "short": "ab", "pat": "A1"}}),
            &s
        ),
        [
            "spec.long: Too long: may not be more than 3 bytes",
            "spec.pat: Invalid value: \"A1\": spec.pat in body should match '^[a-z]+$'",
            "spec.short: Invalid value: \"ab\": spec.short in body should be at least 3 chars long",
        ]
    );
}

#[test]
fn enum_required_and_counts_are_reported() {
    let s = spec_schema(
        json!({"type": "object", "required": ["size"], "properties": {
            "size": {"type": "integer"},
            "mode": {"type": "string", "enum": ["a", "b"]},
            "list": {"type": "array", "items": {"type": "string"}, "minItems": 2, "maxItems": 3},
            "m": {"type": "object", "additionalProperties": {"type": "string"}, "maxProperties": 1, "minProperties": 1}
        }}),
    );
    assert_eq!(
        errors(
            json!({"spec": {"mode": "x", "list": ["a"], "m": {"a": "1", "b": "2"}}}),
            &s
        ),
        [
            "spec.list: Invalid value: 1: spec.list in body should have at least 2 items",
            "spec.m: Too many: 2: must have at most 1 items",
            "spec.mode: Unsupported value: \"x\": supported values: \"a\", \"b\"",
            "spec.size: Required value",
        ]
    );
    assert_eq!(
        errors(
            json!({"spec": {"size": 1, "list": ["a", "b", "c", "d"]}}),
            &s
        ),
        ["spec.list: Too many: 4: must have at most 3 items"]
    );
}

#[test]
fn formats_are_checked_where_upstream_supports_them() {
    let s = spec_schema(json!({"type": "object", "properties": {
        "id": {"type": "string", "format": "uuid"},
        "when": {"type": "string", "format": "date-time"},
        "ip": {"type": "string", "format": "ipv4"},
        "n": {"type": "integer", "format": "int32"}
    }}));
    assert_eq!(
        errors(
            json!({"spec": {"id": "nope", "when": "2024-01-01T10:00:00Z", "ip": "1.2.3", "n": 5_000_000_000_i64}}),
            &s
        ),
        [
            "spec.id: Invalid value: \"nope\": spec.id in body must be of type uuid: \"nope\"",
            "spec.ip: Invalid value: \"1.2.3\": spec.ip in body must be of type ipv4: \"1.2.3\"",
        ]
    );
}

#[test]
fn any_of_failures_are_reported_without_a_field() {
    let s = spec_schema(
        json!({"type": "object", "properties": {"a": {"type": "integer",
        "anyOf": [{"minimum": 10}, {"maximum": 1}]}}}),
    );
    assert_eq!(
        errors(json!({"spec": {"a": 5}}), &s),
        [
            "<nil>: Invalid value: \"\": \"spec.a\" must validate at least one schema (anyOf)",
            "spec.a: Invalid value: 5: spec.a in body should be greater than or equal to 10",
        ]
    );
    assert!(errors(json!({"spec": {"a": 11}}), &s).is_empty());
}

#[test]
fn one_of_all_of_and_not_are_reported() {
    let s = spec_schema(json!({"type": "object", "properties": {
        "one": {"type": "integer", "oneOf": [{"minimum": 0}, {"maximum": 10}]},
        "all": {"type": "integer", "allOf": [{"minimum": 0}]},
        "not": {"type": "string", "not": {"enum": ["bad"]}}
    }}));
    assert_eq!(
        errors(json!({"spec": {"one": 5, "all": -1, "not": "bad"}}), &s),
        [
            "spec.all: Invalid value: -1: spec.all in body should be greater than or equal to 0",
            "<nil>: Invalid value: \"\": \"spec.all\" must validate all the schemas (allOf). None validated",
            "<nil>: Invalid value: \"\": \"spec.not\" must not validate the schema (not)",
            "<nil>: Invalid value: \"\": \"spec.one\" must validate one and only one schema (oneOf). Found 2 valid alternatives",
        ]
    );
}

#[test]
fn list_type_set_reports_duplicates() {
    let s = spec_schema(json!({"type": "object", "properties": {"tags": {
        "type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}}}}));
    let errs: Vec<String> =
        validate_list_sets_and_maps(&json!({"spec": {"tags": ["a", "b", "a", "a"]}}), &s)
            .iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect();
    assert_eq!(errs, ["spec.tags[2]: Duplicate value: \"a\""]);
}

#[test]
fn list_type_map_reports_duplicate_keys() {
    let s = spec_schema(json!({"type": "object", "properties": {"ports": {
        "type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
        "items": {"type": "object", "required": ["name"], "properties": {
            "name": {"type": "string"}, "port": {"type": "integer"}}}}}}));
    let obj = json!({"spec": {"ports": [{"name": "a", "port": 1}, {"name": "a", "port": 2}]}});
    let errs: Vec<String> = validate_list_sets_and_maps(&obj, &s)
        .iter()
        .map(|c| format!("{}: {}", c.field, c.message))
        .collect();
    assert_eq!(
        errs,
        ["spec.ports[1]: Duplicate value: map[string]interface {}{\"name\":\"a\"}"]
    );
}

#[test]
fn go_float_formatting_matches_fmt_v() {
    assert_eq!(go_float(1.5), "1.5");
    assert_eq!(go_float(10.0), "10");
    assert_eq!(go_float(1e6), "1e+06");
    assert_eq!(go_float(0.00001), "1e-05");
    assert_eq!(go_float(123456.0), "123456");
}
