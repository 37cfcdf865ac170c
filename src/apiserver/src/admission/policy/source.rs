//! The policies and bindings in force, upstream's `policy/generic/policy_source.go`: every
//! ValidatingAdmissionPolicy that some binding names, compiled once per change of its spec,
//! with its bindings. Kept current by watching the store; each change publishes a new
//! [`Snapshot`] that requests read without locking the store.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use den_apimachinery::labels::LabelSelector;
use den_apimachinery::schema::admission_cel::ReturnType;
use futures::StreamExt;
use k8s_openapi::api::admissionregistration::v1 as admissionregistration;
use serde_json::Value;

use super::cel::{Declarations, Expression, Variables};
use super::matching::MatchResources;
use crate::objects;
use crate::registry::ListOptions;
use crate::resources::ResourceInfo;
use crate::server::ApiServer;

/// A ValidatingAdmissionPolicy, compiled.
#[derive(Debug)]
pub struct CompiledPolicy {
    pub name: String,
    /// The spec it was compiled from, to tell whether it changed.
    spec: Value,
    /// `None` is upstream's default, `Fail`.
    pub failure_policy: Option<String>,
    /// `None` when the policy has no `matchConstraints` (upstream's validation requires
    /// them; such a policy matches nothing here).
    pub constraints: Option<MatchResources>,
    pub param_kind: Option<ParamKind>,
    pub match_conditions: Vec<Expression>,
    pub variables: Variables,
    pub validations: Vec<Validation>,
    pub audit_annotations: Vec<(String, Expression)>,
}

/// A policy's `paramKind`, parsed.
#[derive(Debug, Clone)]
pub struct ParamKind {
    pub group: String,
    pub version: String,
    pub kind: String,
}

impl ParamKind {
    /// Upstream's `schema.GroupVersionKind.String()`: `/v1, Kind=ConfigMap`.
    pub fn gvk_string(&self) -> String {
        format!("{}/{}, Kind={}", self.group, self.version, self.kind)
    }

    /// The served resource of this kind and version.
    pub fn resolve(
        &self,
        resources: &crate::resources::ResourceTable,
    ) -> Option<Arc<ResourceInfo>> {
        resources
            .iter()
            .find(|r| {
                r.group == self.group
                    && r.version == self.version
                    && r.kind == self.kind
                    && !r.create_only
            })
            .cloned()
    }
}

/// One of `spec.validations`.
#[derive(Debug)]
pub struct Validation {
    pub expression: Expression,
    pub message: String,
    pub message_expression: Option<Expression>,
    pub reason: Option<String>,
}

/// A ValidatingAdmissionPolicyBinding, parsed.
#[derive(Debug)]
pub struct CompiledBinding {
    pub name: String,
    pub policy_name: String,
    /// `None`: the binding matches every request its policy matches.
    pub match_resources: Option<MatchResources>,
    pub param_ref: Option<ParamRef>,
    pub actions: Vec<String>,
}

/// A binding's `paramRef`.
#[derive(Debug)]
pub struct ParamRef {
    pub name: String,
    pub namespace: String,
    pub selector: Option<Result<LabelSelector, String>>,
    /// `parameterNotFoundAction: Deny`.
    pub deny_not_found: bool,
}

/// A policy and the bindings that name it.
#[derive(Debug)]
pub struct Hook {
    pub policy: Arc<CompiledPolicy>,
    pub bindings: Vec<Arc<CompiledBinding>>,
}

/// The hooks in force, ordered by policy name.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub hooks: Vec<Hook>,
}

/// Upstream's `schema.ParseGroupVersion`.
fn parse_group_version(api_version: &str) -> Result<(String, String), String> {
    if api_version.is_empty() || api_version == "/" {
        return Ok((String::new(), String::new()));
    }
    match api_version.split('/').collect::<Vec<_>>().as_slice() {
        [version] => Ok((String::new(), version.to_string())),
        [group, version] => Ok((group.to_string(), version.to_string())),
        _ => Err(format!("unexpected GroupVersion string: {api_version}")),
    }
}

/// Compiles a stored policy; `None` when it cannot be used at all (upstream skips a
/// policy whose `paramKind.apiVersion` does not parse).
pub fn compile_policy(obj: &Value) -> Option<CompiledPolicy> {
    let name = objects::name(obj).to_string();
    let spec_json = obj.get("spec").cloned().unwrap_or(Value::Null);
    let spec: admissionregistration::ValidatingAdmissionPolicySpec =
        match serde_json::from_value(spec_json.clone()) {
            Ok(spec) => spec,
            Err(e) => {
                tracing::warn!("ValidatingAdmissionPolicy {name}: unreadable spec: {e}");
                return None;
            }
        };
    let param_kind = match &spec.param_kind {
        None => None,
        Some(pk) => {
            let api_version = pk.api_version.clone().unwrap_or_default();
            match parse_group_version(&api_version) {
                Ok((group, version)) => Some(ParamKind {
                    group,
                    version,
                    kind: pk.kind.clone().unwrap_or_default(),
                }),
                Err(e) => {
                    tracing::warn!(
                        "ValidatingAdmissionPolicy {name}: failed to parse paramKind APIVersion: {e}"
                    );
                    return None;
                }
            }
        }
    };
    let params = param_kind.is_some();
    let vars: Vec<(String, String)> = spec
        .variables
        .iter()
        .flatten()
        .map(|v| (v.name.clone(), v.expression.clone()))
        .collect();
    let variables = Variables::compile(&vars, params);
    let decls = Declarations {
        params,
        authorizer: true,
        variables: &variables.names,
    };
    // Message expressions see no authorizer.
    let message_decls = Declarations {
        authorizer: false,
        ..decls
    };
    let match_conditions = spec
        .match_conditions
        .iter()
        .flatten()
        .map(|c| Expression::compile(&c.expression, decls, ReturnType::Bool))
        .collect();
    let validations = spec
        .validations
        .iter()
        .flatten()
        .map(|v| Validation {
            expression: Expression::compile(&v.expression, decls, ReturnType::Bool),
            message: v.message.clone().unwrap_or_default(),
            message_expression: v
                .message_expression
                .as_deref()
                .filter(|m| !m.is_empty())
                .map(|m| Expression::compile(m, message_decls, ReturnType::String)),
            reason: v.reason.clone().filter(|r| !r.is_empty()),
        })
        .collect();
    let audit_annotations = spec
        .audit_annotations
        .iter()
        .flatten()
        .map(|a| {
            (
                a.key.clone(),
                Expression::compile(&a.value_expression, decls, ReturnType::Any),
            )
        })
        .collect();
    Some(CompiledPolicy {
        name,
        spec: spec_json,
        failure_policy: spec.failure_policy.clone(),
        constraints: spec
            .match_constraints
            .as_ref()
            .map(MatchResources::from_api),
        param_kind,
        match_conditions,
        variables,
        validations,
        audit_annotations,
    })
}

/// Parses a stored binding.
pub fn compile_binding(obj: &Value) -> Option<CompiledBinding> {
    let name = objects::name(obj).to_string();
    let spec: admissionregistration::ValidatingAdmissionPolicyBindingSpec =
        match serde_json::from_value(obj.get("spec").cloned().unwrap_or(Value::Null)) {
            Ok(spec) => spec,
            Err(e) => {
                tracing::warn!("ValidatingAdmissionPolicyBinding {name}: unreadable spec: {e}");
                return None;
            }
        };
    let param_ref = spec.param_ref.as_ref().map(|r| ParamRef {
        name: r.name.clone().unwrap_or_default(),
        namespace: r.namespace.clone().unwrap_or_default(),
        selector: r.selector.as_ref().map(|s| {
            serde_json::to_value(s)
                .map_err(|e| e.to_string())
                .and_then(|json| LabelSelector::from_label_selector_json(&json))
        }),
        deny_not_found: r.parameter_not_found_action.as_deref() == Some("Deny"),
    });
    Some(CompiledBinding {
        name,
        policy_name: spec.policy_name.clone().unwrap_or_default(),
        match_resources: spec.match_resources.as_ref().map(MatchResources::from_api),
        param_ref,
        actions: spec.validation_actions.clone().unwrap_or_default(),
    })
}

/// The compiled policies by name, reused while their spec stays the same.
#[derive(Default)]
pub struct Compiled {
    policies: HashMap<String, Arc<CompiledPolicy>>,
}

impl Compiled {
    /// Builds the hooks from the stored policies and bindings.
    pub fn snapshot(&mut self, policies: &[Value], bindings: &[Value]) -> Snapshot {
        let mut by_policy: BTreeMap<String, Vec<Arc<CompiledBinding>>> = BTreeMap::new();
        for binding in bindings.iter().filter_map(compile_binding) {
            by_policy
                .entry(binding.policy_name.clone())
                .or_default()
                .push(Arc::new(binding));
        }
        let mut fresh = HashMap::new();
        for obj in policies {
            let name = objects::name(obj);
            if !by_policy.contains_key(name) {
                continue;
            }
            let spec = obj.get("spec").unwrap_or(&Value::Null);
            let compiled = match self.policies.get(name) {
                Some(p) if &p.spec == spec => Some(p.clone()),
                _ => compile_policy(obj).map(Arc::new),
            };
            if let Some(p) = compiled {
                fresh.insert(name.to_string(), p);
            }
        }
        self.policies = fresh;
        let hooks = by_policy
            .into_iter()
            .filter_map(|(name, mut bindings)| {
                let policy = self.policies.get(&name)?.clone();
                bindings.sort_by(|a, b| a.name.cmp(&b.name));
                Some(Hook { policy, bindings })
            })
            .collect();
        Snapshot { hooks }
    }
}

fn info(server: &ApiServer, plural: &str) -> Arc<ResourceInfo> {
    server
        .resources()
        .get("admissionregistration.k8s.io", "v1", plural)
        .cloned()
        .expect("admission policies are built in")
}

/// Lists policies and bindings and publishes the hooks they make. Returns the revision
/// the lists were read at.
async fn refresh(server: &ApiServer, compiled: &mut Compiled) -> anyhow::Result<i64> {
    let list = |plural: &'static str| async move {
        server
            .registry
            .list(&info(server, plural), "", &ListOptions::default())
            .await
            .map_err(|e| anyhow::anyhow!("{}", e.message))
    };
    let policies = list("validatingadmissionpolicies").await?;
    let bindings = list("validatingadmissionpolicybindings").await?;
    let snapshot = compiled.snapshot(&policies.items, &bindings.items);
    server.registry.admission.policies().publish(snapshot);
    Ok(policies.revision.min(bindings.revision))
}

/// Loads the policies in force before the server serves, then keeps them current.
pub async fn start(server: Arc<ApiServer>) -> anyhow::Result<()> {
    server
        .registry
        .admission
        .policies()
        .attach(Arc::downgrade(&server));
    let mut compiled = Compiled::default();
    let revision = refresh(&server, &mut compiled).await?;
    tokio::spawn(run(server, revision, compiled));
    Ok(())
}

async fn run(server: Arc<ApiServer>, mut revision: i64, mut compiled: Compiled) {
    let prefixes = [
        info(&server, "validatingadmissionpolicies").key_prefix(),
        info(&server, "validatingadmissionpolicybindings").key_prefix(),
    ];
    loop {
        let storage = &server.registry.storage;
        let watches = futures::future::try_join(
            storage.watch(&prefixes[0], revision),
            storage.watch(&prefixes[1], revision),
        )
        .await;
        let (mut policies, mut bindings) = match watches {
            Ok(streams) => streams,
            Err(e) => {
                tracing::warn!("admission policies cannot be watched: {e}");
                tokio::time::sleep(Duration::from_secs(1)).await;
                revision = refresh(&server, &mut compiled).await.unwrap_or(0);
                continue;
            }
        };
        loop {
            let event = tokio::select! {
                event = policies.next() => event,
                event = bindings.next() => event,
            };
            if !matches!(event, Some(Ok(_))) {
                break;
            }
            if let Err(e) = refresh(&server, &mut compiled).await {
                tracing::warn!("admission policies not refreshed: {e:#}");
            }
        }
        // Cut off or compacted: list again and watch from there.
        match refresh(&server, &mut compiled).await {
            Ok(rev) => revision = rev,
            Err(e) => {
                tracing::warn!("admission policies not refreshed: {e:#}");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn policy(name: &str, spec: Value) -> Value {
        json!({"metadata": {"name": name}, "spec": spec})
    }

    fn binding(name: &str, policy: &str) -> Value {
        json!({"metadata": {"name": name}, "spec": {"policyName": policy, "validationActions": ["Deny"]}})
    }

    #[test]
    fn only_bound_policies_are_hooks_and_unchanged_ones_are_not_recompiled() {
        let spec = json!({"matchConstraints": {}, "validations": [{"expression": "true"}]});
        let policies = vec![policy("a", spec.clone()), policy("b", spec.clone())];
        let mut compiled = Compiled::default();
        let first = compiled.snapshot(&policies, &[binding("x", "a"), binding("y", "missing")]);
        assert_eq!(first.hooks.len(), 1);
        assert_eq!(first.hooks[0].policy.name, "a");
        let second = compiled.snapshot(&policies, &[binding("x", "a")]);
        assert!(Arc::ptr_eq(&first.hooks[0].policy, &second.hooks[0].policy));
        let changed = vec![policy(
            "a",
            json!({"matchConstraints": {}, "validations": [{"expression": "false"}]}),
        )];
        let third = compiled.snapshot(&changed, &[binding("x", "a")]);
        assert!(!Arc::ptr_eq(&first.hooks[0].policy, &third.hooks[0].policy));
    }

    #[test]
    fn param_kind_api_versions_parse_like_upstream() {
        assert_eq!(parse_group_version("v1"), Ok(("".into(), "v1".into())));
        assert_eq!(
            parse_group_version("apps/v1"),
            Ok(("apps".into(), "v1".into()))
        );
        assert!(parse_group_version("a/b/c").is_err());
        let p = compile_policy(&policy(
            "p",
            json!({"paramKind": {"apiVersion": "v1", "kind": "ConfigMap"}}),
        ))
        .unwrap();
        assert_eq!(p.param_kind.unwrap().gvk_string(), "/v1, Kind=ConfigMap");
    }
}
