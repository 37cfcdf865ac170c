//! The review APIs: create-only kinds answered from the request and never stored.
//!
//! - `authentication.k8s.io`: TokenReview (is this token good, and whose is it?) and
//!   SelfSubjectReview (who am I?).
//! - `authorization.k8s.io`: SubjectAccessReview, LocalSubjectAccessReview and
//!   SelfSubjectAccessReview (may this user do this?) and SelfSubjectRulesReview (what may I
//!   do?), all decided by the same authorizer as real requests.
//!
//! Upstream answers each with 201 and the object, status filled in; other verbs on the
//! collection are 405 and there is no object path.

use axum::body::Body;
use den_apimachinery::status::{ApiError, Details};
use den_apimachinery::validation::{BadValue, Cause, FieldError, go_quote};
use http::{Response, StatusCode};
use serde_json::{Map, Value, json};

use super::authorizer::{Attributes, Decision};
use super::{UserInfo, authenticate_token};
use crate::handlers::{self, ResourceRequest};
use crate::managedfields::ResourceSchema;
use crate::objects::{self, str_at};
use crate::server::ApiServer;

/// Upstream's 405 for a verb a path does not serve (go-restful's route mismatch).
pub fn method_not_allowed() -> ApiError {
    ApiError::new(
        405,
        "MethodNotAllowed",
        "the server does not allow this method on the requested resource",
    )
    .with_details(Details::default())
}

/// Serves a request to a create-only kind.
pub async fn serve(
    server: &ApiServer,
    req: &ResourceRequest,
    body: Body,
) -> Result<Response<Body>, ApiError> {
    if !req.request.name.is_empty() || !req.request.subresource.is_empty() {
        return Err(crate::errors::no_such_route());
    }
    if req.request.verb != "create" {
        return Err(method_not_allowed());
    }
    let review = read_review(req, body).await?;
    let info = &req.info;
    let answered = match (info.group.as_ref(), info.kind.as_ref()) {
        ("authentication.k8s.io", "TokenReview") => token_review(server, review).await?,
        ("authentication.k8s.io", "SelfSubjectReview") => self_subject_review(req),
        ("authorization.k8s.io", "SelfSubjectRulesReview") => rules_review(server, req, &review)?,
        ("authorization.k8s.io", _) => access_review(server, req, review)?,
        _ => return Err(crate::errors::no_such_route()),
    };
    Ok(handlers::respond_object(req, StatusCode::CREATED, answered))
}

/// Reads a create body like any other (kind, version, fields, namespace against the URL's)
/// and records its field manager, as upstream's create handler does for every kind.
pub(super) async fn read_review(req: &ResourceRequest, body: Body) -> Result<Value, ApiError> {
    req.check_write_options("CreateOptions", false)?;
    req.dry_run()?;
    let mut obj = handlers::read_object(req, body).await?;
    let meta = objects::meta_mut(&mut obj);
    if !req.info.namespaced {
        meta.remove("namespace");
    } else if !meta.contains_key("namespace") {
        meta.insert("namespace".into(), req.request.namespace.clone().into());
    }
    let schema = ResourceSchema::new(&req.info);
    schema
        .field_manager(&req.info, &req.request.subresource)
        .update(None, &mut obj, &req.manager());
    Ok(obj)
}

fn strings_at(value: &Value, pointer: &str) -> Vec<String> {
    value
        .pointer(pointer)
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// TokenReview: authenticates `spec.token` for `spec.audiences` (default: the API server's).
async fn token_review(server: &ApiServer, mut review: Value) -> Result<Value, ApiError> {
    let token = str_at(&review, "/spec/token").to_string();
    if token.is_empty() {
        return Err(ApiError::bad_request(
            "token is required for TokenReview in authentication",
        ));
    }
    let mut audiences = strings_at(&review, "/spec/audiences");
    if audiences.is_empty() {
        audiences = server.service_accounts.api_audiences().to_vec();
    }
    review["status"] = match authenticate_token(server, &token, &audiences).await {
        Ok(found) => {
            let mut status = json!({"authenticated": true, "user": found.user.to_json()});
            if !found.audiences.is_empty() {
                status["audiences"] = json!(found.audiences);
            }
            status
        }
        Err(error) => json!({"user": {}, "error": error}),
    };
    Ok(review)
}

/// SelfSubjectReview: the requesting user's attributes, in a new object.
fn self_subject_review(req: &ResourceRequest) -> Value {
    json!({
        "kind": "SelfSubjectReview",
        "apiVersion": req.info.api_version(),
        "metadata": {"creationTimestamp": objects::now_rfc3339()},
        "status": {"userInfo": req.user.to_json()},
    })
}

/// SelfSubjectRulesReview: what the requesting user may do in `spec.namespace`.
fn rules_review(
    server: &ApiServer,
    req: &ResourceRequest,
    review: &Value,
) -> Result<Value, ApiError> {
    let namespace = str_at(review, "/spec/namespace");
    if namespace.is_empty() {
        return Err(ApiError::bad_request("no namespace on request"));
    }
    let rules = server.authorizer.rules_for(&req.user, namespace);
    let mut status = json!({
        "resourceRules": rules.resource_rules,
        "nonResourceRules": rules.non_resource_rules,
        "incomplete": rules.incomplete,
    });
    if !rules.evaluation_error.is_empty() {
        status["evaluationError"] = json!(rules.evaluation_error);
    }
    Ok(json!({
        "kind": "SelfSubjectRulesReview",
        "apiVersion": req.info.api_version(),
        "metadata": {},
        "spec": {},
        "status": status,
    }))
}

/// Go's `%#v` of the internal `NonResourceAttributes` a field error shows.
fn go_non_resource_attributes(value: &Value) -> BadValue {
    BadValue::Raw(format!(
        "authorization.NonResourceAttributes{{Path:{}, Verb:{}}}",
        go_quote(str_at(value, "/path")),
        go_quote(str_at(value, "/verb"))
    ))
}

/// The field errors of a review's `spec` (upstream's `ValidateSubjectAccessReviewSpec` and
/// `ValidateSelfSubjectAccessReviewSpec`).
fn validate_spec(spec: &Value, needs_subject: bool) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let resource = spec.get("resourceAttributes").filter(|v| !v.is_null());
    let non_resource = spec.get("nonResourceAttributes").filter(|v| !v.is_null());
    match (resource, non_resource) {
        (Some(_), Some(non_resource)) => errors.push(FieldError::invalid(
            "spec.nonResourceAttributes",
            go_non_resource_attributes(non_resource),
            "cannot be specified in combination with resourceAttributes",
        )),
        (None, None) => errors.push(FieldError::invalid(
            "spec.resourceAttributes",
            BadValue::Str("null".into()),
            "exactly one of nonResourceAttributes or resourceAttributes must be specified",
        )),
        _ => {}
    }
    if needs_subject && str_at(spec, "/user").is_empty() && strings_at(spec, "/groups").is_empty() {
        errors.push(FieldError::invalid(
            "spec.user",
            BadValue::Str(String::new()),
            "at least one of user or group must be specified",
        ));
    }
    if let Some(resource) = resource {
        for selector in ["fieldSelector", "labelSelector"] {
            let Some(selector_value) = resource.get(selector).filter(|v| !v.is_null()) else {
                continue;
            };
            let path = format!("spec.resourceAttributes.{selector}");
            let raw = str_at(selector_value, "/rawSelector");
            let requirements = selector_value
                .get("requirements")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            if !raw.is_empty() && requirements > 0 {
                errors.push(FieldError::invalid(
                    &format!("{path}.rawSelector"),
                    BadValue::Str(raw.into()),
                    "may not specified at the same time as requirements",
                ));
            }
            if raw.is_empty() && requirements == 0 {
                errors.push(FieldError::required(
                    &format!("{path}.requirements"),
                    &format!("when {path} is specified, requirements or rawSelector is required"),
                ));
            }
        }
    }
    errors
}

/// Upstream's evaluation error for a selector the authorizer could not use (in part or
/// at all); `None` when it parses.
fn selector_evaluation_error(resource: &Value, selector: &str) -> Option<String> {
    let value = resource.get(selector).filter(|v| !v.is_null())?;
    let raw = str_at(value, "/rawSelector");
    let requirements: &[Value] = value
        .get("requirements")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice);
    let usable = |r: &Value| {
        let operator = str_at(r, "/operator");
        let values = r
            .get("values")
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        if selector == "labelSelector" {
            match operator {
                "In" | "NotIn" => values > 0,
                "Exists" | "DoesNotExist" => values == 0,
                _ => false,
            }
        } else {
            matches!(operator, "In" | "NotIn") && values == 1
        }
    };
    let (parsed_some, failed) = if !requirements.is_empty() {
        let good = requirements.iter().filter(|r| usable(r)).count();
        (good > 0, good < requirements.len())
    } else if !raw.is_empty() {
        let ok = if selector == "labelSelector" {
            den_apimachinery::labels::LabelSelector::parse(raw).is_ok()
        } else {
            den_apimachinery::fields::FieldSelector::parse(raw).is_ok()
        };
        (false, !ok)
    } else {
        (false, false)
    };
    failed.then(|| {
        let how = if parsed_some {
            "partially ignored"
        } else {
            "ignored"
        };
        format!("spec.resourceAttributes.{selector} {how} due to parse error")
    })
}

/// The subject of a SubjectAccessReview's spec, as given (no groups are added).
fn spec_user(spec: &Value) -> UserInfo {
    let extra = spec
        .get("extra")
        .and_then(Value::as_object)
        .map(|extra| {
            extra
                .keys()
                .map(|k| {
                    (
                        k.clone(),
                        strings_at(spec, &format!("/extra/{}", pointer_escape(k))),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    UserInfo {
        name: str_at(spec, "/user").to_string(),
        uid: str_at(spec, "/uid").to_string(),
        groups: strings_at(spec, "/groups"),
        extra,
    }
}

fn pointer_escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// The attributes a review's spec asks about (upstream's `ResourceAttributesFrom` and
/// `NonResourceAttributesFrom`): an empty version matches every version.
fn spec_attributes<'a>(user: &'a UserInfo, spec: &'a Value) -> Attributes<'a> {
    match spec.get("resourceAttributes").filter(|v| !v.is_null()) {
        Some(resource) => {
            let version = str_at(resource, "/version");
            Attributes {
                user: Some(user),
                verb: str_at(resource, "/verb"),
                resource_request: true,
                namespace: str_at(resource, "/namespace"),
                api_group: str_at(resource, "/group"),
                api_version: if version.is_empty() { "*" } else { version },
                resource: str_at(resource, "/resource"),
                subresource: str_at(resource, "/subresource"),
                name: str_at(resource, "/name"),
                path: "",
            }
        }
        None => Attributes {
            user: Some(user),
            verb: str_at(spec, "/nonResourceAttributes/verb"),
            path: str_at(spec, "/nonResourceAttributes/path"),
            ..Attributes::default()
        },
    }
}

/// SubjectAccessReview, LocalSubjectAccessReview and SelfSubjectAccessReview: validated,
/// then decided by the server's authorizer.
fn access_review(
    server: &ApiServer,
    req: &ResourceRequest,
    mut review: Value,
) -> Result<Value, ApiError> {
    let kind = req.info.kind.as_ref();
    let spec = review.get("spec").cloned().unwrap_or_else(|| json!({}));
    let mut errors = validate_spec(&spec, kind != "SelfSubjectAccessReview");
    let mut meta: Map<String, Value> = review
        .get("metadata")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    meta.remove("managedFields");
    let namespace = meta
        .remove("namespace")
        .and_then(|n| n.as_str().map(str::to_string))
        .unwrap_or_default();
    if kind == "LocalSubjectAccessReview" {
        if !meta.is_empty() {
            errors.push(FieldError::invalid(
                "metadata",
                BadValue::Raw(review["metadata"].to_string()),
                "must be empty except for namespace",
            ));
        }
        if let Some(resource) = spec.get("resourceAttributes").filter(|v| !v.is_null()) {
            let ns = str_at(resource, "/namespace");
            if ns != namespace {
                errors.push(FieldError::invalid(
                    "spec.resourceAttributes.namespace",
                    BadValue::Str(ns.into()),
                    "must match metadata.namespace",
                ));
            }
        }
        if let Some(non_resource) = spec.get("nonResourceAttributes").filter(|v| !v.is_null()) {
            errors.push(FieldError::invalid(
                "spec.nonResourceAttributes",
                go_non_resource_attributes(non_resource),
                "disallowed on this kind of request",
            ));
        }
    } else if !meta.is_empty() {
        errors.push(FieldError::invalid(
            "metadata",
            BadValue::Raw(review["metadata"].to_string()),
            "must be empty",
        ));
    }
    if !errors.is_empty() {
        let causes: Vec<Cause> = errors.iter().map(FieldError::to_cause).collect();
        return Err(ApiError::invalid("authorization.k8s.io", kind, "", causes));
    }

    let subject = if kind == "SelfSubjectAccessReview" {
        req.user.clone()
    } else {
        spec_user(&spec)
    };
    let attributes = spec_attributes(&subject, &spec);
    let decision = server.authorizer.authorize(&attributes);
    let mut status = json!({"allowed": decision.allowed()});
    if matches!(decision, Decision::Deny(_)) {
        status["denied"] = json!(true);
    }
    if !decision.reason().is_empty() {
        status["reason"] = json!(decision.reason());
    }
    let evaluation_errors: Vec<String> = spec
        .get("resourceAttributes")
        .filter(|v| !v.is_null())
        .map(|resource| {
            ["fieldSelector", "labelSelector"]
                .iter()
                .filter_map(|s| selector_evaluation_error(resource, s))
                .collect()
        })
        .unwrap_or_default();
    if !evaluation_errors.is_empty() {
        status["evaluationError"] = json!(evaluation_errors.join("; "));
    }
    review["status"] = status;
    Ok(review)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_review_needs_exactly_one_kind_of_attributes_and_a_subject() {
        let messages = |spec: Value, needs_subject| -> Vec<String> {
            validate_spec(&spec, needs_subject)
                .iter()
                .map(ToString::to_string)
                .collect()
        };
        assert_eq!(
            messages(json!({}), true),
            [
                "spec.resourceAttributes: Invalid value: \"null\": exactly one of nonResourceAttributes or resourceAttributes must be specified",
                "spec.user: Invalid value: \"\": at least one of user or group must be specified",
            ]
        );
        assert_eq!(
            messages(
                json!({"resourceAttributes": {"verb": "get"}, "nonResourceAttributes": {"path": "/x", "verb": "get"}}),
                false
            ),
            [
                "spec.nonResourceAttributes: Invalid value: authorization.NonResourceAttributes{Path:\"/x\", Verb:\"get\"}: cannot be specified in combination with resourceAttributes"
            ]
        );
        assert!(
            messages(
                json!({"resourceAttributes": {"verb": "list"}, "groups": ["g"]}),
                true
            )
            .is_empty()
        );
        assert_eq!(
            messages(
                json!({"resourceAttributes": {"labelSelector": {}}, "user": "u"}),
                true
            ),
            [
                "spec.resourceAttributes.labelSelector.requirements: Required value: when spec.resourceAttributes.labelSelector is specified, requirements or rawSelector is required"
            ]
        );
    }

    #[test]
    fn review_attributes_match_every_version_when_none_is_given() {
        let user = UserInfo::default();
        let spec = json!({"resourceAttributes": {"verb": "list", "resource": "configmaps", "namespace": "ns"}});
        let attributes = spec_attributes(&user, &spec);
        assert_eq!(attributes.api_version, "*");
        assert_eq!(
            (attributes.verb, attributes.resource, attributes.namespace),
            ("list", "configmaps", "ns")
        );
        assert!(attributes.resource_request);
        let spec = json!({"nonResourceAttributes": {"verb": "get", "path": "/healthz"}});
        let attributes = spec_attributes(&user, &spec);
        assert!(!attributes.resource_request);
        assert_eq!(attributes.path, "/healthz");
    }

    #[test]
    fn unusable_selectors_are_reported_as_evaluation_errors() {
        let resource = json!({
            "labelSelector": {"rawSelector": "a in (b"},
            "fieldSelector": {"requirements": [
                {"key": "a", "operator": "In", "values": ["b"]},
                {"key": "c", "operator": "Exists"},
            ]},
        });
        assert_eq!(
            selector_evaluation_error(&resource, "labelSelector").as_deref(),
            Some("spec.resourceAttributes.labelSelector ignored due to parse error")
        );
        assert_eq!(
            selector_evaluation_error(&resource, "fieldSelector").as_deref(),
            Some("spec.resourceAttributes.fieldSelector partially ignored due to parse error")
        );
        let fine = json!({"labelSelector": {"rawSelector": "a=b"}});
        assert_eq!(selector_evaluation_error(&fine, "labelSelector"), None);
    }

    #[test]
    fn subjects_are_taken_as_given() {
        let user = spec_user(&json!({
            "user": "jane", "uid": "1", "groups": ["devs"],
            "extra": {"example.com/team": ["a", "b"]},
        }));
        assert_eq!(user.name, "jane");
        assert_eq!(user.groups, ["devs"]);
        assert_eq!(user.extra["example.com/team"], ["a", "b"]);
    }
}
