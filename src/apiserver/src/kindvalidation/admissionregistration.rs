//! ValidatingAdmissionPolicies and their bindings: upstream's
//! `ValidateValidatingAdmissionPolicy`/`…Update` and
//! `ValidateValidatingAdmissionPolicyBinding` (`pkg/apis/admissionregistration/validation`).
//! Expressions are compiled with the same CEL environment enforcement uses, and compile
//! errors reported as upstream reports them.

use std::collections::HashSet;

use den_apimachinery::schema::admission_cel::ReturnType;
use den_apimachinery::validation::{is_dns1035_label, validate_path_segment_name};
use serde_json::Value;

use super::*;
use crate::admission::policy::cel::{Declarations, Expression, Variables};

const FAILURE_POLICIES: &[&str] = &["Fail", "Ignore"];
const MATCH_POLICIES: &[&str] = &["Equivalent", "Exact"];
const SCOPES: &[&str] = &["*", "Cluster", "Namespaced"];
const OPERATIONS: &[&str] = &["*", "CONNECT", "CREATE", "DELETE", "UPDATE"];
const REASONS: &[&str] = &["Forbidden", "Invalid", "RequestEntityTooLarge"];
const VALIDATION_ACTIONS: &[&str] = &["Audit", "Deny", "Warn"];
const PARAM_NOT_FOUND_ACTIONS: &[&str] = &["Deny", "Allow"];
const MAX_AUDIT_ANNOTATIONS: usize = 20;
const MAX_VALUE_EXPRESSION_LEN: usize = 5 * 1024;
const MAX_MATCH_CONDITIONS: usize = 64;

/// Upstream's `ValidateValidatingAdmissionPolicy` (create) and `…Update` (`old` set): on
/// update, match conditions are only checked when they or `paramKind` changed.
pub fn validate_policy(obj: &Value, old: Option<&Value>) -> Errors {
    let mut errs = Errors::new();
    let spec = obj.get("spec").unwrap_or(null());
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let param_kind = present(spec, "paramKind");
    let has_params = param_kind.is_some();

    match present(spec, "failurePolicy") {
        None => errs.push(required("spec.failurePolicy", "")),
        Some(p) => {
            let p = p.as_str().unwrap_or("");
            if !FAILURE_POLICIES.contains(&p) {
                errs.push(not_supported(
                    "spec.failurePolicy",
                    quoted(p),
                    FAILURE_POLICIES,
                ));
            }
        }
    }
    if let Some(kind) = param_kind {
        validate_param_kind(&mut errs, kind, "spec.paramKind");
    }
    match present(spec, "matchConstraints") {
        None => errs.push(required("spec.matchConstraints", "")),
        Some(mc) => {
            validate_match_resources(&mut errs, mc, "spec.matchConstraints");
            if list(mc, "resourceRules").is_empty() {
                errs.push(required("spec.matchConstraints.resourceRules", ""));
            }
        }
    }
    let ignore_match_conditions = old.is_some_and(|old| {
        let old_spec = old.get("spec").unwrap_or(null());
        semantic_eq(spec.get("paramKind"), old_spec.get("paramKind"))
            && semantic_eq(spec.get("matchConditions"), old_spec.get("matchConditions"))
    });
    if !ignore_match_conditions {
        validate_match_conditions(&mut errs, spec, has_params, "spec.matchConditions");
    }

    // Variables compile in order, each seeing the ones before it.
    let variables = list(spec, "variables");
    let pairs: Vec<(String, String)> = variables
        .iter()
        .map(|v| (s(v, "name").to_string(), s(v, "expression").to_string()))
        .collect();
    let compiled = Variables::compile(&pairs, has_params);
    for (i, variable) in variables.iter().enumerate() {
        let path = index("spec.variables", i);
        let var_name = s(variable, "name");
        if var_name.trim().is_empty() {
            errs.push(required(&child(&path, "name"), "name is not specified"));
        } else if !is_cel_identifier(var_name) {
            errs.push(invalid_str(
                &child(&path, "name"),
                var_name,
                "name is not a valid CEL identifier",
            ));
        }
        let expression = s(variable, "expression");
        if expression.trim().is_empty() {
            errs.push(required(
                &child(&path, "expression"),
                "expression is not specified",
            ));
        } else if let Some(Err(detail)) = compiled.programs.get(i) {
            errs.push(invalid_str(&child(&path, "expression"), expression, detail));
        }
    }

    let validations = list(spec, "validations");
    let audit_annotations = list(spec, "auditAnnotations");
    if validations.is_empty() && audit_annotations.is_empty() {
        let detail = "validations or auditAnnotations must contain at least one item";
        errs.push(required("spec.validations", detail));
        errs.push(required("spec.auditAnnotations", detail));
        return errs;
    }
    let decls = Declarations {
        params: has_params,
        authorizer: true,
        variables: &compiled.names,
    };
    for (i, validation) in validations.iter().enumerate() {
        validate_validation(&mut errs, validation, decls, &index("spec.validations", i));
    }
    if audit_annotations.len() > MAX_AUDIT_ANNOTATIONS {
        let shown: Vec<String> = audit_annotations
            .iter()
            .map(|a| {
                gofmt::string_struct(
                    "admissionregistration.AuditAnnotation",
                    a,
                    &[("Key", "key"), ("ValueExpression", "valueExpression")],
                )
            })
            .collect();
        errs.push(invalid(
            "spec.auditAnnotations",
            raw(format!(
                "[]admissionregistration.AuditAnnotation{{{}}}",
                shown.join(", ")
            )),
            &format!("must not have more than {MAX_AUDIT_ANNOTATIONS} auditAnnotations"),
        ));
    }
    let mut keys = HashSet::new();
    for (i, annotation) in audit_annotations.iter().enumerate() {
        let path = index("spec.auditAnnotations", i);
        let key = s(annotation, "key");
        validate_audit_annotation(&mut errs, name, annotation, decls, &path);
        if !keys.insert(key) {
            errs.push(duplicate(&child(&path, "key"), quoted(key)));
        }
    }
    errs
}

/// Upstream's `ValidateValidatingAdmissionPolicyBinding` (the same on update).
pub fn validate_binding(obj: &Value) -> Errors {
    let mut errs = Errors::new();
    let spec = obj.get("spec").unwrap_or(null());
    let policy_name = s(spec, "policyName");
    if policy_name.is_empty() {
        errs.push(required("spec.policyName", ""));
    } else {
        object_name(&mut errs, policy_name, "spec.policyName");
    }
    if let Some(param_ref) = present(spec, "paramRef") {
        validate_param_ref(&mut errs, param_ref, "spec.paramRef");
    }
    if let Some(mr) = present(spec, "matchResources") {
        validate_match_resources(&mut errs, mr, "spec.matchResources");
    }
    validate_validation_actions(&mut errs, spec, "spec.validationActions");
    errs
}

fn validate_param_kind(errs: &mut Errors, kind: &Value, path: &str) {
    let api_version = s(kind, "apiVersion");
    let version_path = child(path, "apiVersion");
    if api_version.is_empty() {
        errs.push(required(&version_path, ""));
    } else if api_version.matches('/').count() > 1 {
        errs.push(invalid_str(
            &version_path,
            api_version,
            &format!("unexpected GroupVersion string: {api_version}"),
        ));
    } else {
        let (group, version) = match api_version {
            "/" => ("", ""),
            gv => gv.split_once('/').unwrap_or(("", gv)),
        };
        if !group.is_empty() {
            let msgs = den_apimachinery::validation::is_dns1123_subdomain(group);
            if !msgs.is_empty() {
                errs.push(invalid_str(&version_path, group, &msgs.join(",")));
            }
        }
        if version.is_empty() {
            errs.push(invalid_str(
                &version_path,
                api_version,
                "version must be specified",
            ));
        } else {
            let msgs = is_dns1035_label(version);
            if !msgs.is_empty() {
                errs.push(invalid_str(&version_path, version, &msgs.join(",")));
            }
        }
    }
    let kind_name = s(kind, "kind");
    if kind_name.is_empty() {
        errs.push(required(&child(path, "kind"), ""));
    } else {
        let msgs = is_dns1035_label(&kind_name.to_lowercase());
        if !msgs.is_empty() {
            errs.push(invalid_str(
                &child(path, "kind"),
                kind_name,
                &format!(
                    "may have mixed case, but should otherwise match: {}",
                    msgs.join(",")
                ),
            ));
        }
    }
}

/// Upstream's `validateMatchResources`.
fn validate_match_resources(errs: &mut Errors, mc: &Value, path: &str) {
    match present(mc, "matchPolicy") {
        None => errs.push(required(&child(path, "matchPolicy"), "")),
        Some(p) => {
            let p = p.as_str().unwrap_or("");
            if !MATCH_POLICIES.contains(&p) {
                errs.push(not_supported(
                    &child(path, "matchPolicy"),
                    quoted(p),
                    MATCH_POLICIES,
                ));
            }
        }
    }
    for field in ["namespaceSelector", "objectSelector"] {
        match present(mc, field) {
            None => errs.push(required(&child(path, field), "")),
            Some(sel) => label_selector(errs, sel, &child(path, field)),
        }
    }
    for field in ["resourceRules", "excludeResourceRules"] {
        for (i, rule) in list(mc, field).iter().enumerate() {
            validate_named_rule(errs, rule, &index(&child(path, field), i));
        }
    }
}

/// Upstream's `validateNamedRuleWithOperations`.
fn validate_named_rule(errs: &mut Errors, rule: &Value, path: &str) {
    let mut seen = HashSet::new();
    for (i, name) in list(rule, "resourceNames").iter().enumerate() {
        let name = name.as_str().unwrap_or("");
        let name_path = index(&child(path, "resourceNames"), i);
        for msg in validate_path_segment_name(name, false) {
            errs.push(invalid_str(&name_path, name, &msg));
        }
        if !seen.insert(name) {
            errs.push(duplicate(&name_path, quoted(name)));
        }
    }
    // validateRuleWithOperations
    let operations = list(rule, "operations");
    let ops_path = child(path, "operations");
    if operations.is_empty() {
        errs.push(required(&ops_path, ""));
    }
    if operations.len() > 1 && has_wildcard(operations) {
        errs.push(invalid(
            &ops_path,
            raw(gofmt::typed_string_slice(
                "admissionregistration.OperationType",
                rule.get("operations"),
            )),
            "if '*' is present, must not specify other operations",
        ));
    }
    for (i, op) in operations.iter().enumerate() {
        let op = op.as_str().unwrap_or("");
        if !OPERATIONS.contains(&op) {
            errs.push(not_supported(&index(&ops_path, i), quoted(op), OPERATIONS));
        }
    }
    validate_rule(errs, rule, path);
}

fn has_wildcard(items: &[Value]) -> bool {
    items.iter().any(|i| i.as_str() == Some("*"))
}

/// Upstream's `validateRule`, subresources allowed.
fn validate_rule(errs: &mut Errors, rule: &Value, path: &str) {
    let groups = list(rule, "apiGroups");
    let groups_path = child(path, "apiGroups");
    if groups.is_empty() {
        errs.push(required(&groups_path, ""));
    }
    if groups.len() > 1 && has_wildcard(groups) {
        errs.push(invalid(
            &groups_path,
            raw(gofmt::string_slice(rule.get("apiGroups"))),
            "if '*' is present, must not specify other API groups",
        ));
    }
    let versions = list(rule, "apiVersions");
    let versions_path = child(path, "apiVersions");
    if versions.is_empty() {
        errs.push(required(&versions_path, ""));
    }
    if versions.len() > 1 && has_wildcard(versions) {
        errs.push(invalid(
            &versions_path,
            raw(gofmt::string_slice(rule.get("apiVersions"))),
            "if '*' is present, must not specify other API versions",
        ));
    }
    for (i, version) in versions.iter().enumerate() {
        if version.as_str().unwrap_or("").is_empty() {
            errs.push(required(&index(&versions_path, i), ""));
        }
    }
    validate_resources(errs, rule, &child(path, "resources"));
    if let Some(scope) = present(rule, "scope") {
        let scope = scope.as_str().unwrap_or("");
        if !SCOPES.contains(&scope) {
            errs.push(not_supported(&child(path, "scope"), quoted(scope), SCOPES));
        }
    }
}

/// Upstream's `validateResources`: `*`, `*/*`, `x/*` and `*/x` may not overlap.
fn validate_resources(errs: &mut Errors, rule: &Value, path: &str) {
    let resources = list(rule, "resources");
    if resources.is_empty() {
        errs.push(required(path, ""));
    }
    let mut wildcard_subresource_of: HashSet<&str> = HashSet::new();
    let mut wildcard_resource_for: HashSet<&str> = HashSet::new();
    let (mut double_wildcard, mut single_wildcard, mut plain) = (false, false, false);
    for (i, entry) in resources.iter().enumerate() {
        let entry = entry.as_str().unwrap_or("");
        if entry.is_empty() {
            errs.push(required(&index(path, i), ""));
            continue;
        }
        double_wildcard |= entry == "*/*";
        single_wildcard |= entry == "*";
        let Some((res, sub)) = entry.split_once('/') else {
            plain = entry != "*";
            continue;
        };
        if wildcard_subresource_of.contains(res) {
            errs.push(invalid_str(
                &index(path, i),
                entry,
                &format!("if '{res}/*' is present, must not specify {entry}"),
            ));
        }
        if wildcard_resource_for.contains(sub) {
            errs.push(invalid_str(
                &index(path, i),
                entry,
                &format!("if '*/{sub}' is present, must not specify {entry}"),
            ));
        }
        if sub == "*" {
            wildcard_subresource_of.insert(res);
        }
        if res == "*" {
            wildcard_resource_for.insert(sub);
        }
    }
    let shown = || raw(gofmt::string_slice(rule.get("resources")));
    if resources.len() > 1 && double_wildcard {
        errs.push(invalid(
            path,
            shown(),
            "if '*/*' is present, must not specify other resources",
        ));
    }
    if single_wildcard && plain {
        errs.push(invalid(
            path,
            shown(),
            "if '*' is present, must not specify other resources without subresources",
        ));
    }
}

/// Upstream's `validateMatchConditions`.
fn validate_match_conditions(errs: &mut Errors, spec: &Value, has_params: bool, path: &str) {
    let conditions = list(spec, "matchConditions");
    if conditions.len() > MAX_MATCH_CONDITIONS {
        errs.push(too_many(path, conditions.len(), MAX_MATCH_CONDITIONS));
    }
    let decls = Declarations {
        params: has_params,
        authorizer: true,
        variables: &[],
    };
    let mut names = HashSet::new();
    for (i, condition) in conditions.iter().enumerate() {
        let cond_path = index(path, i);
        let expression = s(condition, "expression").trim();
        if expression.is_empty() {
            errs.push(required(&child(&cond_path, "expression"), ""));
        } else if let Err(detail) = Expression::compile(expression, decls, ReturnType::Bool).program
        {
            errs.push(invalid_str(
                &child(&cond_path, "expression"),
                expression,
                &detail,
            ));
        }
        let name = s(condition, "name");
        if name.is_empty() {
            errs.push(required(&child(&cond_path, "name"), ""));
        } else {
            qualified_name(errs, name, &child(&cond_path, "name"));
            if !names.insert(name) {
                errs.push(duplicate(&child(&cond_path, "name"), quoted(name)));
            }
        }
    }
}

/// Upstream's `validateValidation`.
fn validate_validation(errs: &mut Errors, v: &Value, decls: Declarations<'_>, path: &str) {
    let expression = s(v, "expression");
    if expression.trim().is_empty() {
        errs.push(required(
            &child(path, "expression"),
            "expression is not specified",
        ));
    } else if let Err(detail) = Expression::compile(expression, decls, ReturnType::Bool).program {
        errs.push(invalid_str(&child(path, "expression"), expression, &detail));
    }
    let message_expression = s(v, "messageExpression");
    if !message_expression.is_empty() && message_expression.trim().is_empty() {
        errs.push(invalid_str(
            &child(path, "messageExpression"),
            message_expression,
            "must be non-empty if specified",
        ));
    } else if !message_expression.trim().is_empty() {
        // Message expressions see no authorizer.
        let message_decls = Declarations {
            authorizer: false,
            ..decls
        };
        if let Err(detail) =
            Expression::compile(message_expression, message_decls, ReturnType::String).program
        {
            errs.push(invalid_str(
                &child(path, "messageExpression"),
                message_expression,
                &detail,
            ));
        }
    }
    let message = s(v, "message");
    if !message.is_empty() && message.trim().is_empty() {
        errs.push(invalid_str(
            &child(path, "message"),
            message,
            "message must be non-empty if specified",
        ));
    } else if message.trim().contains(['\n', '\r']) {
        errs.push(invalid_str(
            &child(path, "message"),
            message,
            "message must not contain line breaks",
        ));
    }
    if let Some(reason) = present(v, "reason") {
        let reason = reason.as_str().unwrap_or("");
        if !REASONS.contains(&reason) {
            errs.push(not_supported(
                &child(path, "reason"),
                quoted(reason),
                REASONS,
            ));
        }
    }
}

/// Upstream's `validateAuditAnnotation`.
fn validate_audit_annotation(
    errs: &mut Errors,
    policy_name: &str,
    annotation: &Value,
    decls: Declarations<'_>,
    path: &str,
) {
    let key = s(annotation, "key");
    if policy_name.is_empty() {
        errs.push(invalid_str(
            &child(path, "key"),
            key,
            "requires metadata.name be non-empty",
        ));
    } else {
        qualified_name(errs, &format!("{policy_name}/{key}"), &child(path, "key"));
    }
    let value_expression = s(annotation, "valueExpression");
    let trimmed = value_expression.trim();
    let value_path = child(path, "valueExpression");
    if trimmed.is_empty() {
        errs.push(required(&value_path, "valueExpression is not specified"));
    } else if trimmed.len() > MAX_VALUE_EXPRESSION_LEN {
        errs.push(required(
            &value_path,
            &format!("must not exceed {MAX_VALUE_EXPRESSION_LEN} bytes in length"),
        ));
    } else if let Err(detail) = Expression::compile(trimmed, decls, ReturnType::Any).program {
        errs.push(invalid_str(&value_path, value_expression, &detail));
    }
}

/// Upstream's `validateParamRef`.
fn validate_param_ref(errs: &mut Errors, param_ref: &Value, path: &str) {
    let name = s(param_ref, "name");
    let selector = present(param_ref, "selector");
    const EXCLUSIVE: &str = "name and selector are mutually exclusive";
    if !name.is_empty() {
        for msg in validate_path_segment_name(name, false) {
            errs.push(invalid_str(&child(path, "name"), name, &msg));
        }
        if selector.is_some() {
            errs.push(forbidden(&child(path, "name"), EXCLUSIVE));
        }
    }
    if let Some(sel) = selector {
        label_selector(errs, sel, &child(path, "selector"));
        if !name.is_empty() {
            errs.push(forbidden(&child(path, "selector"), EXCLUSIVE));
        }
    }
    if name.is_empty() && selector.is_none() {
        errs.push(required(path, "one of name or selector must be specified"));
    }
    let action = s(param_ref, "parameterNotFoundAction");
    if action.is_empty() {
        errs.push(required(&child(path, "parameterNotFoundAction"), ""));
    } else if !PARAM_NOT_FOUND_ACTIONS.contains(&action) {
        errs.push(not_supported(
            &child(path, "parameterNotFoundAction"),
            quoted(action),
            PARAM_NOT_FOUND_ACTIONS,
        ));
    }
}

/// Upstream's `validateValidationActions`.
fn validate_validation_actions(errs: &mut Errors, spec: &Value, path: &str) {
    let actions = list(spec, "validationActions");
    let mut seen = HashSet::new();
    for (i, action) in actions.iter().enumerate() {
        let action = action.as_str().unwrap_or("");
        if !VALIDATION_ACTIONS.contains(&action) {
            errs.push(not_supported(
                &index(path, i),
                quoted(action),
                VALIDATION_ACTIONS,
            ));
        }
        if !seen.insert(action) {
            errs.push(duplicate(&index(path, i), quoted(action)));
        }
    }
    if seen.contains("Deny") && seen.contains("Warn") {
        errs.push(invalid(
            path,
            raw(gofmt::typed_string_slice(
                "admissionregistration.ValidationAction",
                spec.get("validationActions"),
            )),
            "must not contain both Deny and Warn (repeating the same validation failure information in the API response and headers serves no purpose)",
        ));
    }
    if seen.is_empty() {
        errs.push(required(path, "at least one validation action is required"));
    }
}

/// Upstream's `isCELIdentifier`: `[_a-zA-Z][_a-zA-Z0-9]*`, not a reserved word.
fn is_cel_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    let starts_ok = chars
        .next()
        .is_some_and(|c| c == '_' || c.is_ascii_alphabetic());
    starts_ok
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
        && !den_apimachinery::schema::admission_cel::RESERVED_WORDS.contains(&name)
}
