//! ValidatingAdmissionPolicy enforcement: upstream's `ValidatingAdmissionPolicy` admission
//! plugin (`k8s.io/apiserver/pkg/admission/plugin/policy/{generic,matching,validating}`).
//!
//! [`source`] keeps the policies and bindings in force as an in-memory [`Snapshot`];
//! [`Policies::validator`] decides, once per request, which of them apply to its resource
//! and loads what they need (the namespace, the params); [`PolicyValidator::validate`]
//! then evaluates them against each version of the object the write would store.

mod authz;
pub(crate) mod cel;
mod matching;
mod source;
mod validating;

use std::sync::{Arc, OnceLock, RwLock, Weak};

use den_apimachinery::status::ApiError;
use den_storage::Backend;
use serde_json::Value;

use self::matching::{Gvk, Gvr, Matched, RuleAttributes};
use self::source::{CompiledBinding, CompiledPolicy, ParamKind, ParamRef, Snapshot};
use super::{Attributes, Operation};
use crate::auth::UserInfo;
use crate::resources::{ResourceInfo, ResourceTable};
use crate::server::ApiServer;

pub use self::source::start;

/// The policies in force on one server.
#[derive(Default)]
pub struct Policies {
    snapshot: RwLock<Arc<Snapshot>>,
    /// The server whose resources params and equivalent resources are looked up in.
    server: OnceLock<Weak<ApiServer>>,
}

/// The request as the policies see it.
struct Request {
    operation: Operation,
    /// The resource requested, when the server still serves it.
    info: Option<Arc<ResourceInfo>>,
    resource: Gvr,
    kind: Gvk,
    subresource: String,
    /// The request's namespace; a namespace's own name for requests on a namespace.
    namespace: String,
    name: String,
    user: UserInfo,
    dry_run: bool,
}

/// A policy whose resource rules match the request.
struct Candidate {
    policy: Arc<CompiledPolicy>,
    matched: Matched,
    /// Upstream's `ConfigurationError` of the hook: its `paramKind` is not served.
    config_error: Option<String>,
    bindings: Vec<BindingCandidate>,
}

/// A binding of a candidate whose resource rules match too, with its params.
struct BindingCandidate {
    binding: Arc<CompiledBinding>,
    /// Upstream's `CollectParams`: `None` stands for "no params" (a nil param).
    params: Result<Vec<Option<Value>>, String>,
}

/// The policies that apply to one request, ready to validate each object it would store.
pub struct PolicyValidator {
    request: Request,
    /// The server's authorizer, for `authorizer` checks.
    authorize: authz::Authorize,
    /// The request's namespace, as stored; `None` when it has none or it does not exist.
    namespace: Option<Value>,
    candidates: Vec<Candidate>,
}

impl Policies {
    pub(crate) fn publish(&self, snapshot: Snapshot) {
        *self.snapshot.write().expect("policy snapshot lock") = Arc::new(snapshot);
    }

    pub(crate) fn attach(&self, server: Weak<ApiServer>) {
        let _ = self.server.set(server);
    }

    /// The policies that may apply to the request, with what they need loaded; `None`
    /// when none can (the common case, decided from memory).
    pub async fn validator(
        &self,
        attrs: &Attributes<'_>,
        storage: &dyn Backend,
    ) -> Result<Option<PolicyValidator>, ApiError> {
        let snapshot = self.snapshot.read().expect("policy snapshot lock").clone();
        // Upstream's policies never see the review kinds, which are not stored.
        if snapshot.hooks.is_empty() || attrs.info.create_only {
            return Ok(None);
        }
        let Some(server) = self.server.get().and_then(Weak::upgrade) else {
            return Ok(None);
        };
        let table = server.resources();
        let info = attrs.info;
        let resource = Gvr::of(info);
        let namespace = if info.is("", "namespaces") {
            attrs.name.to_string()
        } else {
            attrs.namespace.to_string()
        };
        let request = Request {
            operation: attrs.operation,
            info: table.get(&info.group, &info.version, &info.plural).cloned(),
            kind: Gvk::of(info),
            subresource: attrs.subresource.to_string(),
            namespace,
            name: attrs.name.to_string(),
            user: attrs.user.clone(),
            dry_run: attrs.dry_run,
            resource,
        };
        let equivalents = equivalents(&table, info);
        let rule_attrs = RuleAttributes {
            operation: request.operation,
            resource: &request.resource,
            subresource: &request.subresource,
            namespace: &request.namespace,
            name: &request.name,
        };
        let mut candidates = Vec::new();
        for hook in &snapshot.hooks {
            let Some(constraints) = &hook.policy.constraints else {
                continue;
            };
            let Some(matched) = constraints.rules_match(&rule_attrs, &request.kind, &equivalents)
            else {
                continue;
            };
            let param_info = hook
                .policy
                .param_kind
                .as_ref()
                .map(|pk| (pk, pk.resolve(&table)));
            let config_error = match &param_info {
                Some((pk, None)) => Some(format!(
                    "failed to find resource referenced by paramKind: '{}'",
                    pk.gvk_string()
                )),
                _ => None,
            };
            let mut bindings = Vec::new();
            if config_error.is_none() {
                for binding in &hook.bindings {
                    let rules_match = binding.match_resources.as_ref().is_none_or(|m| {
                        m.rules_match(&rule_attrs, &request.kind, &equivalents)
                            .is_some()
                    });
                    if !rules_match {
                        continue;
                    }
                    let params = collect_params(
                        param_info
                            .as_ref()
                            .and_then(|(pk, info)| Some((*pk, info.as_ref()?))),
                        binding.param_ref.as_ref(),
                        &request.namespace,
                        storage,
                    )
                    .await;
                    bindings.push(BindingCandidate {
                        binding: binding.clone(),
                        params,
                    });
                }
            }
            if config_error.is_some() || !bindings.is_empty() {
                candidates.push(Candidate {
                    policy: hook.policy.clone(),
                    matched,
                    config_error,
                    bindings,
                });
            }
        }
        if candidates.is_empty() {
            return Ok(None);
        }
        let namespace = if request.namespace.is_empty() {
            None
        } else {
            let (kv, _) = storage
                .get(&format!("/namespaces/{}", request.namespace))
                .await
                .map_err(|e| ApiError::internal(&e.to_string()))?;
            kv.map(|kv| crate::objects::decode(&kv))
        };
        let authorize: authz::Authorize =
            Arc::new(move |attributes| server.authorizer.authorize(attributes));
        Ok(Some(PolicyValidator {
            request,
            authorize,
            namespace,
            candidates,
        }))
    }
}

/// The other served versions of the request's resource, stored alongside it: what
/// upstream's `EquivalentResourceMapper` calls equivalent.
fn equivalents(table: &ResourceTable, info: &ResourceInfo) -> Vec<Arc<ResourceInfo>> {
    let mut prefix = None;
    table
        .iter()
        .filter(|r| r.plural == info.plural && !r.create_only)
        .filter(|r| !(r.group == info.group && r.version == info.version))
        .filter(|r| r.key_prefix() == *prefix.get_or_insert_with(|| info.key_prefix()))
        .cloned()
        .collect()
}

/// Upstream's `CollectParams`: the params a binding evaluates its policy with.
async fn collect_params(
    kind: Option<(&ParamKind, &Arc<ResourceInfo>)>,
    param_ref: Option<&ParamRef>,
    namespace: &str,
    storage: &dyn Backend,
) -> Result<Vec<Option<Value>>, String> {
    let (Some((_, info)), Some(param_ref)) = (kind, param_ref) else {
        // No paramKind, or a binding without paramRef: one evaluation with null params.
        return Ok(vec![None]);
    };
    let mut params_namespace = String::new();
    if info.namespaced {
        params_namespace = if param_ref.namespace.is_empty() {
            namespace.to_string()
        } else {
            param_ref.namespace.clone()
        };
        if params_namespace.is_empty() {
            return Err(
                "cannot use namespaced paramRef in policy binding that matches cluster-scoped resources"
                    .into(),
            );
        }
    }
    let params: Vec<Option<Value>> = if !param_ref.namespace.is_empty() && !info.namespaced {
        return Err(
            "paramRef.namespace must not be provided for a cluster-scoped `paramKind`".into(),
        );
    } else if !param_ref.name.is_empty() {
        if param_ref.selector.is_some() {
            return Err("paramRef.name and paramRef.selector are mutually exclusive".into());
        }
        let key = crate::registry::key(info, &params_namespace, &param_ref.name);
        let (kv, _) = storage.get(&key).await.map_err(|e| e.to_string())?;
        kv.map(|kv| Some(info.decode(&kv))).into_iter().collect()
    } else if let Some(selector) = &param_ref.selector {
        let selector = selector.clone()?;
        let prefix = if info.namespaced {
            format!("{}{params_namespace}/", info.key_prefix())
        } else {
            info.key_prefix()
        };
        let mut found = Vec::new();
        let mut start_after: Option<String> = None;
        let mut revision = 0;
        loop {
            let page = storage
                .list(&prefix, start_after.as_deref(), 500, revision)
                .await
                .map_err(|e| e.to_string())?;
            revision = page.revision;
            for kv in &page.items {
                let obj = info.decode(kv);
                if selector.matches(crate::objects::labels(&obj)) {
                    found.push(Some(obj));
                }
            }
            if !page.more {
                break;
            }
            start_after = page.items.last().map(|kv| kv.key.clone());
        }
        found
    } else {
        return Err("one of name or selector must be provided".into());
    };
    if params.is_empty() && param_ref.deny_not_found {
        return Err(
            "no params found for policy binding with `Deny` parameterNotFoundAction".into(),
        );
    }
    Ok(params)
}
