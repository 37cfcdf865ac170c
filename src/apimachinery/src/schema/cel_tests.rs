use serde_json::{Value, json};

use super::*;

/// A CR schema whose `spec` is `spec`.
fn crd(spec: Value) -> Structural {
    Structural::from_json(&json!({
        "type": "object",
        "properties": {"spec": spec}
    }))
    .expect("valid schema")
}

fn scale_spec(rule: Value) -> Structural {
    crd(json!({
        "type": "object",
        "properties": {
            "replicas": {"type": "integer"},
            "maxReplicas": {"type": "integer"},
            "name": {"type": "string"},
        },
        "x-kubernetes-validations": [rule],
    }))
}

fn causes(obj: Value, old: Option<Value>, s: &Structural) -> Vec<(String, String, String)> {
    validate_cel(&obj, old.as_ref(), s)
        .into_iter()
        .map(|c| (c.reason, c.field, c.message))
        .collect()
}

fn one(reason: &str, field: &str, message: &str) -> Vec<(String, String, String)> {
    vec![(reason.into(), field.into(), message.into())]
}

#[test]
fn a_rule_on_a_field_reports_its_message_with_the_schema_type() {
    let s = scale_spec(json!({
        "rule": "self.replicas <= self.maxReplicas",
        "message": "replicas must be smaller than max",
    }));
    assert_eq!(
        causes(json!({"spec": {"replicas": 5, "maxReplicas": 3}}), None, &s),
        one(
            "FieldValueInvalid",
            "spec",
            "Invalid value: \"object\": replicas must be smaller than max"
        )
    );
    assert!(causes(json!({"spec": {"replicas": 2, "maxReplicas": 3}}), None, &s).is_empty());
}

#[test]
fn a_rule_without_message_reports_the_failed_rule() {
    let s = scale_spec(json!({"rule": "self.replicas <= self.maxReplicas"}));
    assert_eq!(
        causes(json!({"spec": {"replicas": 5, "maxReplicas": 3}}), None, &s),
        one(
            "FieldValueInvalid",
            "spec",
            "Invalid value: \"object\": failed rule: self.replicas <= self.maxReplicas"
        )
    );
}

#[test]
fn a_message_expression_is_evaluated_for_the_message() {
    let s = scale_spec(json!({
        "rule": "self.replicas <= self.maxReplicas",
        "message": "static",
        "messageExpression": "'replicas ' + string(self.replicas) + ' exceed ' + string(self.maxReplicas)",
    }));
    assert_eq!(
        causes(json!({"spec": {"replicas": 5, "maxReplicas": 3}}), None, &s),
        one(
            "FieldValueInvalid",
            "spec",
            "Invalid value: \"object\": replicas 5 exceed 3"
        )
    );
    // a message expression that fails falls back to the message
    let s = scale_spec(json!({
        "rule": "self.replicas <= self.maxReplicas",
        "message": "static",
        "messageExpression": "self.name",
    }));
    assert_eq!(
        causes(json!({"spec": {"replicas": 5, "maxReplicas": 3}}), None, &s)[0].2,
        "Invalid value: \"object\": static"
    );
}

#[test]
fn reason_and_field_path_shape_the_error() {
    let s = scale_spec(json!({
        "rule": "self.replicas <= self.maxReplicas",
        "message": "too many",
        "reason": "FieldValueForbidden",
        "fieldPath": ".replicas",
    }));
    assert_eq!(
        causes(json!({"spec": {"replicas": 5, "maxReplicas": 3}}), None, &s),
        one(
            "FieldValueForbidden",
            "spec.replicas",
            "Forbidden: too many"
        )
    );
    let s = scale_spec(json!({
        "rule": "has(self.name)", "message": "name is needed",
        "reason": "FieldValueRequired", "fieldPath": "['name']",
    }));
    assert_eq!(
        causes(json!({"spec": {}}), None, &s),
        one(
            "FieldValueRequired",
            "spec.name",
            "Required value: name is needed"
        )
    );
    let s = scale_spec(json!({
        "rule": "false", "reason": "FieldValueDuplicate",
    }));
    assert_eq!(
        causes(json!({"spec": {}}), None, &s),
        one("FieldValueDuplicate", "spec", "Duplicate value: \"object\"")
    );
}

#[test]
fn a_transition_rule_only_runs_on_update() {
    let s = crd(json!({
        "type": "object",
        "properties": {"name": {
            "type": "string",
            "x-kubernetes-validations": [{"rule": "self == oldSelf", "message": "name is immutable"}],
        }},
    }));
    assert!(causes(json!({"spec": {"name": "a"}}), None, &s).is_empty());
    assert!(
        causes(
            json!({"spec": {"name": "a"}}),
            Some(json!({"spec": {"name": "a"}})),
            &s
        )
        .is_empty()
    );
    assert_eq!(
        causes(
            json!({"spec": {"name": "b"}}),
            Some(json!({"spec": {"name": "a"}})),
            &s
        ),
        one(
            "FieldValueInvalid",
            "spec.name",
            "Invalid value: \"string\": name is immutable"
        )
    );
    // no old value at that path: skipped
    assert!(
        causes(
            json!({"spec": {"name": "b"}}),
            Some(json!({"spec": {}})),
            &s
        )
        .is_empty()
    );
}

#[test]
fn an_optional_old_self_rule_runs_on_create_with_an_absent_old_self() {
    let s = crd(json!({
        "type": "object",
        "properties": {"name": {
            "type": "string",
            "x-kubernetes-validations": [{
                "rule": "oldSelf.hasValue() || self == 'init'",
                "optionalOldSelf": true,
            }],
        }},
    }));
    assert!(causes(json!({"spec": {"name": "init"}}), None, &s).is_empty());
    assert_eq!(
        causes(json!({"spec": {"name": "other"}}), None, &s).len(),
        1
    );
    assert!(
        causes(
            json!({"spec": {"name": "other"}}),
            Some(json!({"spec": {"name": "x"}})),
            &s
        )
        .is_empty()
    );
}

#[test]
fn rules_on_list_items_and_map_values_report_indexed_paths() {
    let s = crd(json!({
        "type": "object",
        "properties": {
            "items": {"type": "array", "items": {
                "type": "object",
                "properties": {"name": {"type": "string"}},
                "x-kubernetes-validations": [{"rule": "self.name.startsWith('a')", "message": "must start with a"}],
            }},
            "limits": {"type": "object", "additionalProperties": {
                "type": "integer",
                "x-kubernetes-validations": [{"rule": "self >= 0", "message": "must not be negative"}],
            }},
        },
    }));
    let obj = json!({"spec": {
        "items": [{"name": "abc"}, {"name": "xyz"}],
        "limits": {"cpu": 1, "memory": -1},
    }});
    assert_eq!(
        causes(obj, None, &s),
        vec![
            (
                "FieldValueInvalid".into(),
                "spec.items[1]".into(),
                "Invalid value: \"object\": must start with a".into()
            ),
            (
                "FieldValueInvalid".into(),
                "spec.limits[memory]".into(),
                "Invalid value: \"integer\": must not be negative".into()
            ),
        ]
    );
}

#[test]
fn map_list_items_are_correlated_by_key_for_transition_rules() {
    let s = crd(json!({
        "type": "object",
        "properties": {"ports": {
            "type": "array",
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["name"],
            "items": {
                "type": "object",
                "required": ["name"],
                "properties": {"name": {"type": "string"}, "port": {"type": "integer"}},
                "x-kubernetes-validations": [{"rule": "self.port == oldSelf.port", "message": "port is immutable"}],
            },
        }},
    }));
    let old = json!({"spec": {"ports": [{"name": "a", "port": 1}, {"name": "b", "port": 2}]}});
    let new = json!({"spec": {"ports": [{"name": "b", "port": 3}, {"name": "a", "port": 1}, {"name": "c", "port": 9}]}});
    assert_eq!(
        causes(new, Some(old), &s),
        one(
            "FieldValueInvalid",
            "spec.ports[0]",
            "Invalid value: \"object\": port is immutable"
        )
    );
}

#[test]
fn has_guards_optional_fields_and_missing_keys_are_runtime_errors() {
    let s = crd(json!({
        "type": "object",
        "properties": {"min": {"type": "integer"}, "max": {"type": "integer"}},
        "x-kubernetes-validations": [
            {"rule": "!has(self.min) || !has(self.max) || self.min <= self.max", "message": "min must not exceed max"},
        ],
    }));
    assert!(causes(json!({"spec": {"min": 3}}), None, &s).is_empty());
    assert_eq!(
        causes(json!({"spec": {"min": 3, "max": 1}}), None, &s).len(),
        1
    );
    let s = crd(json!({
        "type": "object",
        "properties": {"min": {"type": "integer"}},
        "x-kubernetes-validations": [{"rule": "self.min > 0"}],
    }));
    assert_eq!(
        causes(json!({"spec": {}}), None, &s),
        one(
            "FieldValueInvalid",
            "spec",
            "Invalid value: \"object\": no such key: min evaluating rule: self.min > 0"
        )
    );
}

#[test]
fn unchanged_values_ratchet_errors_of_rules_without_old_self() {
    let s = scale_spec(json!({"rule": "self.replicas <= self.maxReplicas"}));
    let bad = json!({"spec": {"replicas": 5, "maxReplicas": 3}, "other": 1});
    let mut changed = bad.clone();
    changed["other"] = json!(2);
    assert!(causes(changed, Some(bad.clone()), &s).is_empty());
    let mut worse = bad.clone();
    worse["spec"]["replicas"] = json!(6);
    assert_eq!(causes(worse, Some(bad), &s).len(), 1);
}

#[test]
fn the_resource_root_sees_metadata_name_and_reports_nil_field() {
    let s = Structural::from_json(&json!({
        "type": "object",
        "properties": {"metadata": {"type": "object"}, "spec": {"type": "object"}},
        "x-kubernetes-validations": [{"rule": "self.metadata.name.startsWith('x-')", "message": "bad name"}],
    }))
    .unwrap();
    assert!(causes(json!({"metadata": {"name": "x-1"}}), None, &s).is_empty());
    assert_eq!(
        causes(json!({"metadata": {"name": "y"}, "kind": "Foo"}), None, &s),
        one(
            "FieldValueInvalid",
            "<nil>",
            "Invalid value: \"object\": bad name"
        )
    );
}

#[test]
fn int_or_string_and_formatted_strings_have_their_cel_types() {
    let s = crd(json!({
        "type": "object",
        "properties": {
            "port": {"x-kubernetes-int-or-string": true},
            "timeout": {"type": "string", "format": "duration"},
            "at": {"type": "string", "format": "date-time"},
        },
        "x-kubernetes-validations": [
            {"rule": "type(self.port) == int ? self.port < 100 : self.port.endsWith('%')", "message": "port"},
            {"rule": "self.timeout < duration('1h')", "message": "timeout"},
            {"rule": "self.at > timestamp('2020-01-01T00:00:00Z')", "message": "at"},
        ],
    }));
    let ok = json!({"spec": {"port": 80, "timeout": "30m", "at": "2021-05-01T00:00:00Z"}});
    assert_eq!(causes(ok, None, &s), vec![]);
    let bad = json!({"spec": {"port": "80", "timeout": "2h", "at": "2019-05-01T00:00:00Z"}});
    let msgs: Vec<String> = causes(bad, None, &s).into_iter().map(|c| c.2).collect();
    assert_eq!(
        msgs,
        vec![
            "Invalid value: \"object\": port",
            "Invalid value: \"object\": timeout",
            "Invalid value: \"object\": at"
        ]
    );
}

#[test]
fn kubernetes_list_and_string_functions_evaluate() {
    let s = crd(json!({
        "type": "object",
        "properties": {
            "nums": {"type": "array", "items": {"type": "integer"}},
            "s": {"type": "string"},
        },
        "x-kubernetes-validations": [
            {"rule": "self.nums.isSorted() && self.nums.sum() == 6 && self.nums.min() == 1 && self.nums.max() == 3"},
            {"rule": "self.nums.indexOf(2) >= 0 && self.nums.lastIndexOf(7) == -1"},
            {"rule": "self.s.lowerAscii() == 'a-b' && self.s.upperAscii() == 'A-B' && ' x '.trim() == 'x'"},
            {"rule": "self.s.split('-') == ['A', 'b'] && ['a', 'b'].join('-') == 'a-b' && self.s.replace('-', '+') == 'A+b'"},
            {"rule": "self.s.substring(2) == 'b' && self.s.indexOf('b') == 2 && self.s.matches('^A') && self.s.find('[a-z]') == 'b'"},
            {"rule": "self.nums.all(n, n > 0) && self.nums.exists(n, n == 2) && self.nums.map(n, n * 2).sum() == 12 && size(self.nums.filter(n, n > 1)) == 2"},
            {"rule": "sets.contains(self.nums, [1, 2]) && int('5') == 5 && double(1) == 1.0 && string(true) == 'true' && uint(3) == 3u"},
        ],
    }));
    assert_eq!(
        causes(json!({"spec": {"nums": [1, 2, 3], "s": "A-b"}}), None, &s),
        vec![]
    );
    assert_eq!(
        causes(json!({"spec": {"nums": [3, 1, 2], "s": "A-b"}}), None, &s),
        one(
            "FieldValueInvalid",
            "spec",
            "Invalid value: \"object\": failed rule: self.nums.isSorted() && self.nums.sum() == 6 && self.nums.min() == 1 && self.nums.max() == 3"
        )
    );
}

#[test]
fn a_rule_that_does_not_compile_is_reported_with_its_path() {
    let s = scale_spec(json!({"rule": "self.replicas >"}));
    let errs = compile_rules(&s, crate::schema::DEFAULT_SCHEMA_PATH);
    assert_eq!(errs.len(), 1);
    assert_eq!(
        errs[0].field,
        "spec.validation.openAPIV3Schema.properties[spec].x-kubernetes-validations[0].rule"
    );
    assert_eq!(errs[0].reason, "FieldValueInvalid");
    assert!(
        errs[0].message.starts_with(
            "Invalid value: apiextensions.ValidationRule{Rule:\"self.replicas >\", Message:\"\", MessageExpression:\"\", Reason:(*apiextensions.FieldValueErrorReason)(nil), FieldPath:\"\", OptionalOldSelf:(*bool)(nil)}: compilation failed: ERROR: <input>:1:16: Syntax error: mismatched input '<EOF>'"
        ),
        "{}",
        errs[0].message
    );
}

#[test]
fn compilation_checks_fields_functions_and_the_result_type() {
    let msg = |rule: &str| -> String {
        let errs = compile_rules(&scale_spec(json!({"rule": rule})), "root");
        errs.into_iter()
            .map(|c| {
                c.message
                    .split_once("}: ")
                    .map(|x| x.1.to_string())
                    .unwrap_or(c.message)
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    assert_eq!(
        msg("self.foo > 1"),
        "compilation failed: ERROR: <input>:1:5: undefined field 'foo'\n | self.foo > 1\n | ....^"
    );
    assert!(
        msg("self.name.bogus()").contains("undeclared reference to 'bogus' (in container '')"),
        "{}",
        msg("self.name.bogus()")
    );
    assert!(msg("nope == 1").contains("undeclared reference to 'nope' (in container '')"));
    assert_eq!(
        msg("self.replicas"),
        "cel expression must evaluate to a bool"
    );
    assert_eq!(
        msg("self.replicas + 1"),
        "cel expression must evaluate to a bool"
    );
    for ok in [
        "self.replicas <= self.maxReplicas",
        "has(self.name) && self.name.size() > 0",
        "self.name.exists(c, true) || [1, 2].all(x, x > 0)",
        "self == oldSelf",
        "type(self.name) == string",
    ] {
        assert_eq!(msg(ok), "", "{ok}");
    }
}

#[test]
fn compile_rules_checks_old_self_placement_and_field_paths() {
    let s = crd(json!({
        "type": "object",
        "properties": {"names": {"type": "array", "items": {
            "type": "string",
            "x-kubernetes-validations": [{"rule": "self == oldSelf"}],
        }}},
        "x-kubernetes-validations": [
            {"rule": "self.names.size() > 0", "optionalOldSelf": true},
            {"rule": "true", "fieldPath": ".missing"},
        ],
    }));
    let errs: Vec<(String, String)> = compile_rules(&s, "s")
        .into_iter()
        .map(|c| (c.field, c.message))
        .collect();
    assert_eq!(
        errs,
        vec![
            (
                "s.properties[spec].x-kubernetes-validations[0].optionalOldSelf".to_string(),
                "Invalid value: true: may not be set if oldSelf is not used in rule".to_string()
            ),
            (
                "s.properties[spec].x-kubernetes-validations[1].fieldPath".to_string(),
                "Invalid value: \".missing\": fieldPath must be a valid path".to_string()
            ),
            (
                "s.properties[spec].properties[names].items.x-kubernetes-validations[0].rule"
                    .to_string(),
                "Invalid value: \"self == oldSelf\": oldSelf cannot be used on the uncorrelatable portion of the schema within s.properties[spec].properties[names].items"
                    .to_string()
            ),
        ]
    );
}

#[test]
fn escaped_property_names_are_visible_to_rules() {
    let s = crd(json!({
        "type": "object",
        "properties": {"my-field": {"type": "integer"}, "namespace": {"type": "string"}},
        "x-kubernetes-validations": [{"rule": "self.my__dash__field > 0 && self.__namespace__ == 'ns'"}],
    }));
    assert!(compile_rules(&s, "s").is_empty());
    assert!(
        causes(
            json!({"spec": {"my-field": 1, "namespace": "ns"}}),
            None,
            &s
        )
        .is_empty()
    );
    assert_eq!(
        causes(
            json!({"spec": {"my-field": 0, "namespace": "ns"}}),
            None,
            &s
        )
        .len(),
        1
    );
}
