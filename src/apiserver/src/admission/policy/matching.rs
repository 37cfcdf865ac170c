//! Which requests a policy or binding applies to: upstream's
//! `k8s.io/apiserver/pkg/admission/plugin/policy/matching` with the webhook predicates it
//! uses (`webhook/predicates/{rules,namespace,object}`).
//!
//! The resource rules do not depend on the object, so they are decided once per request
//! ([`MatchResources::rules_match`]); the selectors are decided for each object
//! ([`MatchResources::selectors_match`]).

use std::sync::Arc;

use den_apimachinery::labels::LabelSelector;
use k8s_openapi::api::admissionregistration::v1 as admissionregistration;
use serde_json::{Map, Value};

use crate::admission::Operation;
use crate::resources::ResourceInfo;

/// A group, version and resource (upstream's `schema.GroupVersionResource`).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Gvr {
    pub group: String,
    pub version: String,
    pub resource: String,
}

/// A group, version and kind (upstream's `schema.GroupVersionKind`).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Gvk {
    pub group: String,
    pub version: String,
    pub kind: String,
}

impl Gvr {
    pub fn of(info: &ResourceInfo) -> Self {
        Gvr {
            group: info.group.to_string(),
            version: info.version.to_string(),
            resource: info.plural.to_string(),
        }
    }

    fn is_namespaces(&self) -> bool {
        self.group.is_empty() && self.version == "v1" && self.resource == "namespaces"
    }
}

impl Gvk {
    pub fn of(info: &ResourceInfo) -> Self {
        Gvk {
            group: info.group.to_string(),
            version: info.version.to_string(),
            kind: info.kind.to_string(),
        }
    }
}

/// What the rules look at in a request.
pub struct RuleAttributes<'a> {
    pub operation: Operation,
    pub resource: &'a Gvr,
    pub subresource: &'a str,
    /// The request's namespace; a namespace's own name for requests on a namespace.
    pub namespace: &'a str,
    pub name: &'a str,
}

/// One of `resourceRules` or `excludeResourceRules` (upstream's `NamedRuleWithOperations`).
#[derive(Clone, Debug, Default)]
pub struct Rule {
    pub groups: Vec<String>,
    pub versions: Vec<String>,
    pub resources: Vec<String>,
    pub operations: Vec<String>,
    /// `*` (the default), `Cluster` or `Namespaced`.
    pub scope: Option<String>,
    pub names: Vec<String>,
}

impl Rule {
    pub fn from_api(rule: &admissionregistration::NamedRuleWithOperations) -> Self {
        let list = |l: &Option<Vec<String>>| l.clone().unwrap_or_default();
        Rule {
            groups: list(&rule.api_groups),
            versions: list(&rule.api_versions),
            resources: list(&rule.resources),
            operations: list(&rule.operations),
            scope: rule.scope.clone(),
            names: list(&rule.resource_names),
        }
    }

    /// Upstream's `rules.Matcher.Matches`, for `resource` (the request's, or an equivalent).
    fn matches(&self, attrs: &RuleAttributes<'_>, resource: &Gvr) -> bool {
        self.scope_matches(attrs, resource)
            && self
                .operations
                .iter()
                .any(|op| op == "*" || op == attrs.operation.as_str())
            && exact_or_wildcard(&self.groups, &resource.group)
            && exact_or_wildcard(&self.versions, &resource.version)
            && self.resource_matches(&resource.resource, attrs.subresource)
    }

    fn scope_matches(&self, attrs: &RuleAttributes<'_>, resource: &Gvr) -> bool {
        match self.scope.as_deref() {
            None | Some("*") => true,
            Some("Namespaced") => !resource.is_namespaces() && !attrs.namespace.is_empty(),
            Some("Cluster") => resource.is_namespaces() || attrs.namespace.is_empty(),
            Some(_) => false,
        }
    }

    fn resource_matches(&self, resource: &str, subresource: &str) -> bool {
        self.resources.iter().any(|entry| {
            let (res, sub) = entry.split_once('/').unwrap_or((entry, ""));
            (res == "*" || res == resource) && (sub == "*" || sub == subresource)
        })
    }

    /// An empty name list matches every name.
    fn name_matches(&self, name: &str) -> bool {
        self.names.is_empty() || self.names.iter().any(|n| n == name)
    }
}

fn exact_or_wildcard(items: &[String], requested: &str) -> bool {
    items.iter().any(|item| item == "*" || item == requested)
}

/// What a request matched: the resource and kind the policy sees, and, for a match through
/// an equivalent resource (`matchPolicy: Equivalent`), that resource, to convert the object
/// to.
#[derive(Clone)]
pub struct Matched {
    pub resource: Gvr,
    pub kind: Gvk,
    pub equivalent: Option<Arc<ResourceInfo>>,
}

/// A policy's `matchConstraints` or a binding's `matchResources`, with upstream's defaults
/// (`matchPolicy: Equivalent`, selectors that select everything) for absent fields.
#[derive(Clone, Debug)]
pub struct MatchResources {
    /// `Err` carries a selector that does not parse.
    pub namespace_selector: Result<LabelSelector, String>,
    pub object_selector: Result<LabelSelector, String>,
    pub resource_rules: Vec<Rule>,
    pub exclude_rules: Vec<Rule>,
    pub equivalent: bool,
}

impl MatchResources {
    pub fn from_api(m: &admissionregistration::MatchResources) -> Self {
        let rules = |l: &Option<Vec<admissionregistration::NamedRuleWithOperations>>| {
            l.iter().flatten().map(Rule::from_api).collect()
        };
        MatchResources {
            namespace_selector: selector(m.namespace_selector.as_ref()),
            object_selector: selector(m.object_selector.as_ref()),
            resource_rules: rules(&m.resource_rules),
            exclude_rules: rules(&m.exclude_resource_rules),
            equivalent: m.match_policy.as_deref() != Some("Exact"),
        }
    }

    /// The object-independent half of upstream's `Matcher.Matches`: the exclusions, then
    /// the resource rules (every request when there are none). `None` when the request is
    /// not matched. `request_kind` is the request's own kind; `equivalents` the other
    /// resources sharing its storage.
    pub fn rules_match(
        &self,
        attrs: &RuleAttributes<'_>,
        request_kind: &Gvk,
        equivalents: &[Arc<ResourceInfo>],
    ) -> Option<Matched> {
        if matches_rules(
            &self.exclude_rules,
            self.equivalent,
            attrs,
            request_kind,
            equivalents,
        )
        .is_some()
        {
            return None;
        }
        if self.resource_rules.is_empty() {
            return Some(Matched {
                resource: attrs.resource.clone(),
                kind: request_kind.clone(),
                equivalent: None,
            });
        }
        matches_rules(
            &self.resource_rules,
            self.equivalent,
            attrs,
            request_kind,
            equivalents,
        )
    }

    /// The selector half of upstream's `Matcher.Matches`, for a request whose rules matched:
    /// `Ok(false)` when a selector does not select it, `Err` (the message of upstream's
    /// status error) when one cannot be decided.
    pub fn selectors_match(&self, s: &SelectorInput<'_>) -> Result<bool, String> {
        let namespace = match_namespace_selector(&self.namespace_selector, s);
        if namespace == Ok(false) {
            return Ok(false);
        }
        let object = match_object_selector(&self.object_selector, s);
        if object == Ok(false) {
            return Ok(false);
        }
        namespace?;
        object?;
        Ok(true)
    }
}

/// An absent selector selects everything (upstream's defaulting).
fn selector(
    s: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector>,
) -> Result<LabelSelector, String> {
    match s {
        None => Ok(LabelSelector::everything()),
        Some(s) => {
            let json = serde_json::to_value(s).map_err(|e| e.to_string())?;
            LabelSelector::from_label_selector_json(&json)
        }
    }
}

/// Upstream's `matchesResourceRules`: the request's own resource first, then, with
/// `Equivalent`, each equivalent resource.
fn matches_rules(
    rules: &[Rule],
    equivalent: bool,
    attrs: &RuleAttributes<'_>,
    request_kind: &Gvk,
    equivalents: &[Arc<ResourceInfo>],
) -> Option<Matched> {
    for rule in rules {
        if rule.matches(attrs, attrs.resource) && rule.name_matches(attrs.name) {
            return Some(Matched {
                resource: attrs.resource.clone(),
                kind: request_kind.clone(),
                equivalent: None,
            });
        }
    }
    if !equivalent {
        return None;
    }
    for rule in rules {
        for other in equivalents {
            let resource = Gvr::of(other);
            if resource == *attrs.resource || !rule.matches(attrs, &resource) {
                continue;
            }
            if rule.name_matches(attrs.name) {
                return Some(Matched {
                    resource,
                    kind: Gvk::of(other),
                    equivalent: Some(other.clone()),
                });
            }
        }
    }
    None
}

/// What the selectors look at.
pub struct SelectorInput<'a> {
    pub operation: Operation,
    pub resource: &'a Gvr,
    pub subresource: &'a str,
    pub namespace: &'a str,
    /// The request's namespace, when it exists (for a namespace's own requests, the stored
    /// namespace).
    pub namespace_object: Option<&'a Value>,
    pub object: Option<&'a Value>,
    pub old_object: Option<&'a Value>,
}

fn labels_of(obj: &Value) -> Map<String, Value> {
    obj.pointer("/metadata/labels")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

/// Upstream's `namespace.Matcher.MatchNamespaceSelector`.
fn match_namespace_selector(
    selector: &Result<LabelSelector, String>,
    s: &SelectorInput<'_>,
) -> Result<bool, String> {
    if s.namespace.is_empty() && s.resource.resource != "namespaces" {
        // Cluster-scoped resources other than namespaces are never exempted.
        return Ok(true);
    }
    let selector = selector
        .as_ref()
        .map_err(|e| format!("Internal error occurred: {e}"))?;
    if selector.is_empty() {
        return Ok(true);
    }
    let writes_namespace = s.resource.resource == "namespaces"
        && s.subresource.is_empty()
        && matches!(s.operation, Operation::Create | Operation::Update);
    let labels = if writes_namespace {
        s.object.map(labels_of).unwrap_or_default()
    } else {
        match s.namespace_object {
            Some(ns) => labels_of(ns),
            None => {
                return Err(format!(
                    "namespaces {} not found",
                    den_apimachinery::validation::go_quote(s.namespace)
                ));
            }
        }
    };
    Ok(selector.matches(&labels))
}

/// Upstream's `object.Matcher.MatchObjectSelector`: the new or the old object.
fn match_object_selector(
    selector: &Result<LabelSelector, String>,
    s: &SelectorInput<'_>,
) -> Result<bool, String> {
    let selector = selector
        .as_ref()
        .map_err(|e| format!("Internal error occurred: {e}"))?;
    if selector.is_empty() {
        return Ok(true);
    }
    let selects = |obj: Option<&Value>| obj.is_some_and(|o| selector.matches(&labels_of(o)));
    Ok(selects(s.object) || selects(s.old_object))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn gvr(group: &str, version: &str, resource: &str) -> Gvr {
        Gvr {
            group: group.into(),
            version: version.into(),
            resource: resource.into(),
        }
    }

    fn rule(v: Value) -> Rule {
        Rule::from_api(&serde_json::from_value(v).unwrap())
    }

    fn attrs<'a>(
        op: Operation,
        resource: &'a Gvr,
        sub: &'a str,
        ns: &'a str,
    ) -> RuleAttributes<'a> {
        RuleAttributes {
            operation: op,
            resource,
            subresource: sub,
            namespace: ns,
            name: "web",
        }
    }

    #[test]
    fn a_rule_matches_groups_versions_resources_and_operations_exactly_or_by_wildcard() {
        let deployments = gvr("apps", "v1", "deployments");
        let r = rule(
            json!({"apiGroups": ["apps"], "apiVersions": ["v1"], "resources": ["deployments"], "operations": ["CREATE", "UPDATE"]}),
        );
        assert!(r.matches(
            &attrs(Operation::Create, &deployments, "", "default"),
            &deployments
        ));
        assert!(!r.matches(
            &attrs(Operation::Delete, &deployments, "", "default"),
            &deployments
        ));
        let replicasets = gvr("apps", "v1", "replicasets");
        assert!(!r.matches(
            &attrs(Operation::Create, &replicasets, "", "default"),
            &replicasets
        ));
        let any = rule(
            json!({"apiGroups": ["*"], "apiVersions": ["*"], "resources": ["*"], "operations": ["*"]}),
        );
        assert!(any.matches(
            &attrs(Operation::Delete, &replicasets, "", "default"),
            &replicasets
        ));
    }

    #[test]
    fn a_subresource_is_matched_only_by_its_resource_slash_subresource_form() {
        let pods = gvr("", "v1", "pods");
        let plain = rule(
            json!({"apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"], "operations": ["*"]}),
        );
        let status = rule(
            json!({"apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods/status"], "operations": ["*"]}),
        );
        let all_subs = rule(
            json!({"apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods/*"], "operations": ["*"]}),
        );
        let any_status = rule(
            json!({"apiGroups": [""], "apiVersions": ["v1"], "resources": ["*/status"], "operations": ["*"]}),
        );
        let on_status = attrs(Operation::Update, &pods, "status", "default");
        let on_pod = attrs(Operation::Update, &pods, "", "default");
        assert!(!plain.matches(&on_status, &pods));
        assert!(plain.matches(&on_pod, &pods));
        assert!(status.matches(&on_status, &pods));
        assert!(!status.matches(&on_pod, &pods));
        assert!(all_subs.matches(&on_status, &pods));
        // As upstream's matcher has it, `pods/*` also matches the pod itself.
        assert!(all_subs.matches(&on_pod, &pods));
        assert!(any_status.matches(&on_status, &pods));
    }

    #[test]
    fn scope_separates_namespaced_from_cluster_requests_and_namespaces_are_cluster_scoped() {
        let namespaced = rule(
            json!({"apiGroups": ["*"], "apiVersions": ["*"], "resources": ["*"], "operations": ["*"], "scope": "Namespaced"}),
        );
        let cluster = rule(
            json!({"apiGroups": ["*"], "apiVersions": ["*"], "resources": ["*"], "operations": ["*"], "scope": "Cluster"}),
        );
        let cms = gvr("", "v1", "configmaps");
        let nss = gvr("", "v1", "namespaces");
        let nodes = gvr("", "v1", "nodes");
        assert!(namespaced.matches(&attrs(Operation::Create, &cms, "", "default"), &cms));
        assert!(!cluster.matches(&attrs(Operation::Create, &cms, "", "default"), &cms));
        assert!(cluster.matches(&attrs(Operation::Create, &nss, "", "team"), &nss));
        assert!(!namespaced.matches(&attrs(Operation::Create, &nss, "", "team"), &nss));
        assert!(cluster.matches(&attrs(Operation::Create, &nodes, "", ""), &nodes));
    }

    #[test]
    fn resource_names_and_exclusions_narrow_a_match() {
        let cms = gvr("", "v1", "configmaps");
        let kind = Gvk {
            group: "".into(),
            version: "v1".into(),
            kind: "ConfigMap".into(),
        };
        let m = MatchResources::from_api(
            &serde_json::from_value(json!({
                "resourceRules": [{"apiGroups": [""], "apiVersions": ["v1"], "resources": ["configmaps"], "operations": ["*"]}],
                "excludeResourceRules": [{"apiGroups": [""], "apiVersions": ["v1"], "resources": ["configmaps"], "operations": ["DELETE"], "resourceNames": ["keep"]}]
            }))
            .unwrap(),
        );
        let mut a = attrs(Operation::Delete, &cms, "", "default");
        assert!(m.rules_match(&a, &kind, &[]).is_some());
        a.name = "keep";
        assert!(m.rules_match(&a, &kind, &[]).is_none());
        let named = rule(
            json!({"apiGroups": [""], "apiVersions": ["v1"], "resources": ["configmaps"], "operations": ["*"], "resourceNames": ["a"]}),
        );
        assert!(!named.name_matches("b"));
        assert!(named.name_matches("a"));
    }

    #[test]
    fn no_resource_rules_match_every_request() {
        let m = MatchResources::from_api(&Default::default());
        let cms = gvr("", "v1", "configmaps");
        let matched = m
            .rules_match(
                &attrs(Operation::Create, &cms, "", "default"),
                &Gvk::default(),
                &[],
            )
            .unwrap();
        assert_eq!(matched.resource, cms);
        assert!(m.equivalent, "matchPolicy defaults to Equivalent");
    }

    fn input<'a>(
        object: Option<&'a Value>,
        namespace_object: Option<&'a Value>,
        resource: &'a Gvr,
    ) -> SelectorInput<'a> {
        SelectorInput {
            operation: Operation::Create,
            resource,
            subresource: "",
            namespace: "team",
            namespace_object,
            object,
            old_object: None,
        }
    }

    #[test]
    fn selectors_select_by_namespace_labels_and_object_labels() {
        let m = MatchResources::from_api(
            &serde_json::from_value(json!({
                "namespaceSelector": {"matchLabels": {"env": "prod"}},
                "objectSelector": {"matchExpressions": [{"key": "app", "operator": "Exists"}]}
            }))
            .unwrap(),
        );
        let cms = gvr("", "v1", "configmaps");
        let prod = json!({"metadata": {"name": "team", "labels": {"env": "prod"}}});
        let dev = json!({"metadata": {"name": "team", "labels": {"env": "dev"}}});
        let labelled = json!({"metadata": {"labels": {"app": "x"}}});
        let bare = json!({"metadata": {}});
        assert_eq!(
            m.selectors_match(&input(Some(&labelled), Some(&prod), &cms)),
            Ok(true)
        );
        assert_eq!(
            m.selectors_match(&input(Some(&bare), Some(&prod), &cms)),
            Ok(false)
        );
        assert_eq!(
            m.selectors_match(&input(Some(&labelled), Some(&dev), &cms)),
            Ok(false)
        );
        assert_eq!(
            m.selectors_match(&input(Some(&labelled), None, &cms)),
            Err("namespaces \"team\" not found".into())
        );
        // A namespace's own create is selected by the labels it is created with.
        let nss = gvr("", "v1", "namespaces");
        let new_ns = json!({"metadata": {"name": "team", "labels": {"env": "prod", "app": "y"}}});
        assert_eq!(
            m.selectors_match(&input(Some(&new_ns), None, &nss)),
            Ok(true)
        );
    }

    #[test]
    fn cluster_scoped_requests_pass_any_namespace_selector() {
        let m = MatchResources::from_api(
            &serde_json::from_value(json!({"namespaceSelector": {"matchLabels": {"env": "prod"}}}))
                .unwrap(),
        );
        let nodes = gvr("", "v1", "nodes");
        let node = json!({"metadata": {"name": "n1"}});
        let mut s = input(Some(&node), None, &nodes);
        s.namespace = "";
        assert_eq!(m.selectors_match(&s), Ok(true));
    }
}
