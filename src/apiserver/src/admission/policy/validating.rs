//! Evaluating the policies that apply to a request, upstream's `policy/validating`
//! (`dispatcher.go`, `validator.go`): each policy–binding–param invocation yields decisions;
//! a binding's `validationActions` turn denied ones into the request's denial (the first
//! one), warnings or audit records.

use std::sync::Arc;

use cel::Value as CelValue;
use cel::common::value::Val;
use den_apimachinery::schema::admission_cel::MAX_MESSAGE_EXPRESSION_BYTES;
use den_apimachinery::status::ApiError;
use den_apimachinery::validation::{Cause, aggregate_messages};
use serde_json::{Map, Value, json};

use super::authz::AuthzVal;
use super::cel::{Activation, Base, to_val, type_name};
use super::matching::{Matched, SelectorInput};
use super::source::{CompiledBinding, CompiledPolicy};
use super::{Candidate, PolicyValidator, Request};
use crate::admission::Operation;
use crate::resources::{Builtin, Codec, ResourceInfo};

/// Upstream's `maxAuditAnnotationValueLength`.
const MAX_AUDIT_ANNOTATION_VALUE: usize = 10 * 1024;

/// One validation's outcome (upstream's `PolicyDecision`).
#[derive(Debug, PartialEq)]
enum Decision {
    Admit,
    /// `reason` is empty for errors, which deny as `Invalid`.
    Deny {
        message: String,
        reason: String,
    },
}

/// One audit annotation's outcome (upstream's `PolicyAuditAnnotation`).
enum AuditAnnotation {
    Publish(String, String),
    Error(String),
    Exclude,
}

/// What a policy denied a request with.
struct Denial {
    policy: String,
    binding: Option<String>,
    message: String,
    reason: String,
}

impl PolicyValidator {
    /// Refuses `obj` (the object after the write; `None` on delete; `old` the stored one)
    /// with upstream's error when a policy with a `Deny` binding denies it.
    pub fn validate(&self, obj: Option<&Value>, old: Option<&Value>) -> Result<(), ApiError> {
        let mut denials = Vec::new();
        let req = &self.request;
        // A namespace's own requests see their labels on the stored namespace (or, when
        // written, on the object), and no namespaceObject.
        let selector_input = SelectorInput {
            operation: req.operation,
            resource: &req.resource,
            subresource: &req.subresource,
            namespace: &req.namespace,
            namespace_object: self.namespace.as_ref(),
            object: obj,
            old_object: old,
        };
        for candidate in &self.candidates {
            let policy = &candidate.policy;
            let constraints = policy
                .constraints
                .as_ref()
                .expect("candidates have constraints");
            match constraints.selectors_match(&selector_input) {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => {
                    config_error(&mut denials, policy, None, &e);
                    continue;
                }
            }
            if let Some(e) = &candidate.config_error {
                config_error(&mut denials, policy, None, e);
                continue;
            }
            for b in &candidate.bindings {
                let binding = &b.binding;
                let selects = match &binding.match_resources {
                    None => Ok(true),
                    Some(m) => m.selectors_match(&selector_input),
                };
                match selects {
                    Ok(true) => {}
                    Ok(false) => continue,
                    Err(e) => {
                        config_error(&mut denials, policy, Some(binding), &e);
                        continue;
                    }
                }
                let params = match &b.params {
                    Ok(params) => params,
                    Err(e) => {
                        config_error(&mut denials, policy, Some(binding), e);
                        continue;
                    }
                };
                for param in params {
                    let (decisions, annotations) =
                        self.evaluate(candidate, param.as_ref(), obj, old);
                    self.act(&mut denials, policy, binding, decisions, annotations);
                }
            }
        }
        match denials.first() {
            None => Ok(()),
            Some(denial) => Err(self.denied(denial, obj)),
        }
    }

    /// Applies a binding's `validationActions` to one invocation's results.
    fn act(
        &self,
        denials: &mut Vec<Denial>,
        policy: &CompiledPolicy,
        binding: &CompiledBinding,
        decisions: Vec<Decision>,
        annotations: Vec<AuditAnnotation>,
    ) {
        for (index, decision) in decisions.into_iter().enumerate() {
            let Decision::Deny { message, reason } = decision else {
                continue;
            };
            for action in &binding.actions {
                match action.as_str() {
                    "Deny" => denials.push(Denial {
                        policy: policy.name.clone(),
                        binding: Some(binding.name.clone()),
                        message: message.clone(),
                        reason: reason.clone(),
                    }),
                    "Warn" => crate::warning::add(format!(
                        "Validation failed for ValidatingAdmissionPolicy '{}' with binding '{}': {message}",
                        policy.name, binding.name
                    )),
                    "Audit" => tracing::info!(
                        target: "audit",
                        "validation.policy.admission.k8s.io/validation_failure: {}",
                        json!([{
                            "message": message,
                            "policy": binding.policy_name,
                            "binding": binding.name,
                            "expressionIndex": index,
                            "validationActions": binding.actions,
                        }])
                    ),
                    _ => {}
                }
            }
        }
        for annotation in annotations {
            match annotation {
                AuditAnnotation::Publish(key, mut value) => {
                    if value.len() > MAX_AUDIT_ANNOTATION_VALUE {
                        let mut end = MAX_AUDIT_ANNOTATION_VALUE;
                        while !value.is_char_boundary(end) {
                            end -= 1;
                        }
                        value.truncate(end);
                    }
                    tracing::info!(target: "audit", "{}/{key}: {value}", policy.name);
                }
                // With failurePolicy Fail, an annotation that fails denies the request.
                AuditAnnotation::Error(message) => denials.push(Denial {
                    policy: policy.name.clone(),
                    binding: Some(binding.name.clone()),
                    message,
                    reason: String::new(),
                }),
                AuditAnnotation::Exclude => {}
            }
        }
    }

    /// Upstream's `validator.Validate` for one policy, binding and param.
    fn evaluate(
        &self,
        candidate: &Candidate,
        param: Option<&Value>,
        obj: Option<&Value>,
        old: Option<&Value>,
    ) -> (Vec<Decision>, Vec<AuditAnnotation>) {
        let policy = &candidate.policy;
        let fail = failure_policy_fails(policy);
        let error_decision = |message: String| {
            if fail {
                Decision::Deny {
                    message,
                    reason: String::new(),
                }
            } else {
                Decision::Admit
            }
        };
        let convert = |o: Option<&Value>| match (o, &candidate.matched.equivalent) {
            (None, _) => Value::Null,
            (Some(o), None) => o.clone(),
            (Some(o), Some(to)) => match &self.request.info {
                Some(from) => convert(from, to, o.clone()),
                None => o.clone(),
            },
        };
        // Requests on a namespace have no namespaceObject.
        let is_namespace = self.request.kind.group.is_empty()
            && self.request.kind.version == "v1"
            && self.request.kind.kind == "Namespace";
        let mut base = Base {
            object: to_val(&convert(obj)),
            old_object: to_val(&convert(old)),
            request: to_val(&request_value(&self.request, &candidate.matched)),
            params: policy
                .param_kind
                .as_ref()
                .map(|_| to_val(param.unwrap_or(&Value::Null))),
            // Match conditions see no namespaceObject.
            namespace_object: to_val(&Value::Null),
            authorizer: Some(self.authorizer()),
        };
        if !policy.match_conditions.is_empty() {
            let activation = Activation::new(&base, &policy.variables);
            let mut errors = Vec::new();
            for condition in &policy.match_conditions {
                match condition.evaluate(&activation) {
                    Ok(CelValue::Bool(false)) => return (Vec::new(), Vec::new()),
                    Ok(_) => {}
                    Err(e) => errors.push(e),
                }
            }
            if !errors.is_empty() {
                if !fail {
                    return (Vec::new(), Vec::new());
                }
                return (
                    vec![error_decision(aggregate_messages(&errors))],
                    Vec::new(),
                );
            }
        }
        if let Some(ns) = self.namespace.as_ref().filter(|_| !is_namespace) {
            base.namespace_object = to_val(&namespace_object(ns));
        }
        let activation = Activation::new(&base, &policy.variables);
        let decisions = policy
            .validations
            .iter()
            .map(
                |validation| match validation.expression.evaluate(&activation) {
                    Err(e) => error_decision(e),
                    Ok(CelValue::Bool(true)) => Decision::Admit,
                    Ok(_) => {
                        let mut message = validation
                            .message_expression
                            .as_ref()
                            .and_then(|m| m.evaluate(&activation).ok())
                            .and_then(|v| match v {
                                CelValue::String(s) => Some(s.trim().to_string()),
                                _ => None,
                            })
                            .filter(|m| {
                                m.len() <= MAX_MESSAGE_EXPRESSION_BYTES && !m.contains('\n')
                            })
                            .unwrap_or_default();
                        if message.is_empty() {
                            message = validation.message.trim().to_string();
                        }
                        if message.is_empty() {
                            message = format!(
                                "failed expression: {}",
                                validation.expression.source.trim()
                            );
                        }
                        Decision::Deny {
                            message,
                            reason: validation
                                .reason
                                .clone()
                                .unwrap_or_else(|| "Invalid".to_string()),
                        }
                    }
                },
            )
            .collect();
        let annotations = policy
            .audit_annotations
            .iter()
            .map(|(key, expression)| match expression.evaluate(&activation) {
                Err(e) if fail => AuditAnnotation::Error(e),
                Err(_) => AuditAnnotation::Exclude,
                Ok(CelValue::String(s)) if s.trim().is_empty() => AuditAnnotation::Exclude,
                Ok(CelValue::String(s)) => AuditAnnotation::Publish(key.clone(), s.trim().to_string()),
                Ok(CelValue::Null) => AuditAnnotation::Exclude,
                Ok(other) => AuditAnnotation::Error(format!(
                    "valueExpression '{}' resulted in unsupported return type: {}. Return type must be either string or null.",
                    expression.source,
                    type_name(&other)
                )),
            })
            .collect();
        (decisions, annotations)
    }

    /// `authorizer` for the request's user, and `authorizer.requestResource`.
    fn authorizer(&self) -> (Box<dyn Val>, Box<dyn Val>) {
        let req = &self.request;
        let authorizer = AuthzVal::authorizer(req.user.clone(), self.authorize.clone());
        let request_resource = authorizer.request_resource(
            &req.resource.group,
            &req.resource.resource,
            &req.subresource,
            &req.namespace,
            &req.name,
        );
        (Box::new(authorizer), Box::new(request_resource))
    }

    /// Upstream's denial: `admission.NewForbidden` with the decision's reason and code, and
    /// the message as the one cause.
    fn denied(&self, denial: &Denial, obj: Option<&Value>) -> ApiError {
        let message = match &denial.binding {
            Some(binding) => format!(
                "ValidatingAdmissionPolicy '{}' with binding '{binding}' denied request: {}",
                denial.policy, denial.message
            ),
            None => format!(
                "ValidatingAdmissionPolicy '{}' denied request: {}",
                denial.policy, denial.message
            ),
        };
        let req = &self.request;
        let name = if !req.name.is_empty() {
            req.name.clone()
        } else {
            let meta = |field: &str| {
                obj.and_then(|o| o.pointer(&format!("/metadata/{field}")))
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
            };
            meta("name")
                .or_else(|| meta("generateName"))
                .unwrap_or_else(|| "Unknown".into())
        };
        let mut err =
            ApiError::forbidden(&req.resource.group, &req.resource.resource, &name, &message);
        let reason = if denial.reason.is_empty() {
            "Invalid"
        } else {
            denial.reason.as_str()
        };
        err.code = match reason {
            "Forbidden" => 403,
            "Unauthorized" => 401,
            "RequestEntityTooLarge" => 413,
            _ => 422,
        };
        err.reason = reason.to_string();
        if let Some(details) = err.details.as_mut() {
            details.causes.push(Cause {
                message,
                ..Cause::default()
            });
        }
        err
    }
}

/// Whether errors deny (`failurePolicy: Fail`, the default).
fn failure_policy_fails(policy: &CompiledPolicy) -> bool {
    policy.failure_policy.as_deref() != Some("Ignore")
}

/// Upstream's `addConfigError`: a policy or binding that cannot be applied denies the
/// request unless its failure policy is `Ignore`.
fn config_error(
    denials: &mut Vec<Denial>,
    policy: &CompiledPolicy,
    binding: Option<&Arc<CompiledBinding>>,
    err: &str,
) {
    let message = match policy.failure_policy.as_deref() {
        Some("Ignore") => return,
        None | Some("Fail") => match binding {
            None => format!("failed to configure policy: {err}"),
            Some(_) => format!("failed to configure binding: {err}"),
        },
        Some(other) => format!("unrecognized failure policy: '{other}'"),
    };
    denials.push(Denial {
        policy: policy.name.clone(),
        binding: binding.map(|b| b.name.clone()),
        message,
        reason: String::new(),
    });
}

/// `obj` of resource `from` as resource `to` serves it (both share a store).
fn convert(from: &ResourceInfo, to: &ResourceInfo, obj: Value) -> Value {
    let stored = match &from.codec {
        Codec::Builtin(Builtin {
            conversion: Some(c),
            ..
        }) => (c.to_storage)(obj),
        Codec::Builtin(_) => obj,
        Codec::Custom(custom) => {
            let mut obj = obj;
            custom.to_storage(&mut obj);
            obj
        }
    };
    match &to.codec {
        Codec::Builtin(Builtin {
            conversion: Some(c),
            ..
        }) => (c.from_storage)(stored),
        Codec::Builtin(_) => stored,
        Codec::Custom(custom) => {
            let mut obj = stored;
            custom.from_storage(&mut obj);
            obj
        }
    }
}

/// Upstream's `CreateAdmissionRequest`, as unstructured JSON (empty optional fields left
/// out, as their JSON tags say).
fn request_value(req: &Request, matched: &Matched) -> Value {
    let gvk = |group: &str, version: &str, kind: &str| json!({"group": group, "version": version, "kind": kind});
    let gvr = |group: &str, version: &str, resource: &str| json!({"group": group, "version": version, "resource": resource});
    let mut r = Map::new();
    r.insert("uid".into(), json!(""));
    r.insert(
        "kind".into(),
        gvk(
            &matched.kind.group,
            &matched.kind.version,
            &matched.kind.kind,
        ),
    );
    r.insert(
        "resource".into(),
        gvr(
            &matched.resource.group,
            &matched.resource.version,
            &matched.resource.resource,
        ),
    );
    r.insert(
        "requestKind".into(),
        gvk(&req.kind.group, &req.kind.version, &req.kind.kind),
    );
    r.insert(
        "requestResource".into(),
        gvr(
            &req.resource.group,
            &req.resource.version,
            &req.resource.resource,
        ),
    );
    if !req.subresource.is_empty() {
        r.insert("subResource".into(), json!(req.subresource));
        r.insert("requestSubResource".into(), json!(req.subresource));
    }
    if !req.name.is_empty() {
        r.insert("name".into(), json!(req.name));
    }
    if !req.namespace.is_empty() {
        r.insert("namespace".into(), json!(req.namespace));
    }
    r.insert("operation".into(), json!(req.operation.as_str()));
    let mut user = Map::new();
    if !req.user.name.is_empty() {
        user.insert("username".into(), json!(req.user.name));
    }
    if !req.user.uid.is_empty() {
        user.insert("uid".into(), json!(req.user.uid));
    }
    if !req.user.groups.is_empty() {
        user.insert("groups".into(), json!(req.user.groups));
    }
    if !req.user.extra.is_empty() {
        user.insert("extra".into(), json!(req.user.extra));
    }
    r.insert("userInfo".into(), Value::Object(user));
    r.insert("object".into(), Value::Null);
    r.insert("oldObject".into(), Value::Null);
    r.insert("dryRun".into(), json!(req.dry_run));
    let options_kind = match req.operation {
        Operation::Create => "CreateOptions",
        Operation::Update => "UpdateOptions",
        Operation::Delete => "DeleteOptions",
    };
    let mut options = json!({"kind": options_kind, "apiVersion": "meta.k8s.io/v1"});
    if req.dry_run {
        options["dryRun"] = json!(["All"]);
    }
    r.insert("options".into(), options);
    Value::Object(r)
}

/// Upstream's `CreateNamespaceObject`: the namespace's metadata (without managed fields and
/// owner references), spec and status.
fn namespace_object(ns: &Value) -> Value {
    let mut meta = Map::new();
    if let Some(m) = ns.get("metadata").and_then(Value::as_object) {
        for field in [
            "name",
            "generateName",
            "namespace",
            "uid",
            "resourceVersion",
            "generation",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "labels",
            "annotations",
            "finalizers",
        ] {
            if let Some(v) = m.get(field) {
                meta.insert(field.into(), v.clone());
            }
        }
    }
    // The typed object always has a creationTimestamp, null when unset.
    meta.entry("creationTimestamp").or_insert(Value::Null);
    json!({
        "metadata": meta,
        "spec": ns.get("spec").cloned().unwrap_or_else(|| json!({})),
        "status": ns.get("status").cloned().unwrap_or_else(|| json!({})),
    })
}
