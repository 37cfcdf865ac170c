//! Upstream's quota evaluation: what an object uses of a `ResourceQuota`, which quotas it
//! falls under, and the resource-list arithmetic that the quota controller and the
//! `ResourceQuota` admission plugin share (upstream's `k8s.io/apiserver/pkg/quota/v1` and
//! `pkg/quota/v1/evaluator/core`). Objects are JSON as the API serves them (`v1` field
//! names), so the same code reads a client's object and a stored one.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::quantity::Quantity;

/// A resource list (`spec.hard`, `status.used`, a container's `requests`): resource name to
/// quantity, in name order as upstream prints them.
pub type ResourceList = BTreeMap<String, Quantity>;

/// A resource list from JSON; entries that are not quantities are left out (the API server
/// refuses them before they are stored).
pub fn resource_list(v: Option<&Value>) -> ResourceList {
    v.and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), Quantity::from_json(v).ok()?)))
                .collect()
        })
        .unwrap_or_default()
}

/// A resource list as JSON, each quantity in its canonical form (`500m`, `1Gi`, `0`).
pub fn list_to_json(list: &ResourceList) -> Value {
    Value::Object(
        list.iter()
            .map(|(k, q)| (k.clone(), Value::String(q.canonical())))
            .collect::<Map<String, Value>>(),
    )
}

/// Upstream's `quota.Add`.
pub fn add(a: &ResourceList, b: &ResourceList) -> ResourceList {
    let mut result = a.clone();
    for (name, q) in b {
        result
            .entry(name.clone())
            .and_modify(|sum| *sum = sum.add(q))
            .or_insert(*q);
    }
    result
}

/// Upstream's `quota.SubtractWithNonNegativeResult`.
pub fn subtract_non_negative(a: &ResourceList, b: &ResourceList) -> ResourceList {
    let zero = Quantity::zero();
    let mut result = ResourceList::new();
    for (name, q) in a {
        let diff = match b.get(name) {
            Some(other) => q.sub(other),
            None => *q,
        };
        result.insert(name.clone(), if diff > zero { diff } else { zero });
    }
    for name in b.keys() {
        result.entry(name.clone()).or_insert(zero);
    }
    result
}

/// Upstream's `quota.Mask`: only the entries named in `names`.
pub fn mask(list: &ResourceList, names: &BTreeSet<String>) -> ResourceList {
    list.iter()
        .filter(|(k, _)| names.contains(*k))
        .map(|(k, v)| (k.clone(), *v))
        .collect()
}

/// Upstream's `quota.Equals`: the same names with equal values.
pub fn equals(a: &ResourceList, b: &ResourceList) -> bool {
    a.len() == b.len() && a.iter().all(|(k, v)| b.get(k).is_some_and(|w| v == w))
}

/// Upstream's `quota.LessThanOrEqual`: whether every entry of `a` also in `b` is at most
/// `b`'s, and the names that are not.
pub fn less_than_or_equal(a: &ResourceList, b: &ResourceList) -> (bool, BTreeSet<String>) {
    let exceeded: BTreeSet<String> = b
        .iter()
        .filter(|(k, limit)| a.get(*k).is_some_and(|v| v > limit))
        .map(|(k, _)| k.clone())
        .collect();
    (exceeded.is_empty(), exceeded)
}

/// Upstream's `quota.RemoveZeros`.
pub fn remove_zeros(list: &ResourceList) -> ResourceList {
    list.iter()
        .filter(|(_, v)| !v.is_zero())
        .map(|(k, v)| (k.clone(), *v))
        .collect()
}

/// Upstream's `quota.IsNegative`: the names with negative values.
pub fn negative_names(list: &ResourceList) -> BTreeSet<String> {
    list.iter()
        .filter(|(_, v)| v.is_negative())
        .map(|(k, _)| k.clone())
        .collect()
}

/// Upstream's `prettyPrint`: `name=value` pairs in name order, joined by commas.
pub fn pretty_print(list: &ResourceList) -> String {
    list.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Names joined by commas, in order (upstream's `prettyPrintResourceNames`).
pub fn pretty_print_names(names: &BTreeSet<String>) -> String {
    names.iter().cloned().collect::<Vec<_>>().join(",")
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupResource {
    pub group: String,
    pub resource: String,
}

impl GroupResource {
    pub fn new(group: &str, resource: &str) -> Self {
        GroupResource {
            group: group.to_string(),
            resource: resource.to_string(),
        }
    }

    /// Upstream's `ObjectCountQuotaResourceNameFor`: `count/<resource>[.<group>]`.
    pub fn count_name(&self) -> String {
        if self.group.is_empty() {
            format!("count/{}", self.resource)
        } else {
            format!("count/{}.{}", self.resource, self.group)
        }
    }
}

/// Resources quota never counts (upstream's `DefaultIgnoredResources`).
const IGNORED: &[(&str, &str)] = &[
    ("", "bindings"),
    ("", "componentstatuses"),
    ("authentication.k8s.io", "tokenreviews"),
    ("authentication.k8s.io", "selfsubjectreviews"),
    ("authorization.k8s.io", "subjectaccessreviews"),
    ("authorization.k8s.io", "selfsubjectaccessreviews"),
    ("authorization.k8s.io", "localsubjectaccessreviews"),
    ("authorization.k8s.io", "selfsubjectrulesreviews"),
    ("", "events"),
    ("events.k8s.io", "events"),
];

/// The resources whose old object-count names stay as aliases of `count/<resource>`.
const LEGACY_ALIASES: &[&str] = &[
    "configmaps",
    "resourcequotas",
    "replicationcontrollers",
    "secrets",
];

const POD_RESOURCES: &[&str] = &[
    "count/pods",
    "cpu",
    "memory",
    "ephemeral-storage",
    "requests.cpu",
    "requests.memory",
    "requests.ephemeral-storage",
    "limits.cpu",
    "limits.memory",
    "limits.ephemeral-storage",
    "pods",
];

/// Prefixes of the pod resources that come in many sizes (huge pages).
const POD_RESOURCE_PREFIXES: &[&str] = &["hugepages-", "requests.hugepages-"];

/// What every container must request when a quota constrains it (upstream keeps this
/// list for compatibility and never grows it).
const POD_REQUIRED_RESOURCES: &[&str] = &[
    "cpu",
    "memory",
    "requests.cpu",
    "requests.memory",
    "limits.cpu",
    "limits.memory",
];

const SERVICE_RESOURCES: &[&str] = &[
    "count/services",
    "services",
    "services.nodeports",
    "services.loadbalancers",
];

const PVC_RESOURCES: &[&str] = &["persistentvolumeclaims", "requests.storage"];

const STORAGE_CLASS_SUFFIX: &str = ".storageclass.storage.k8s.io/";

/// Upstream's `IsNativeResource`: unprefixed, or in a `kubernetes.io/` domain.
fn is_native_resource(name: &str) -> bool {
    !name.contains('/') || name.contains("kubernetes.io/")
}

/// Upstream's `IsExtendedResourceName` for a container's resource (`example.com/dongle`).
fn is_extended_resource_name(name: &str) -> bool {
    if is_native_resource(name) || name.starts_with("requests.") {
        return false;
    }
    crate::validation::is_qualified_name(&format!("requests.{name}")).is_empty()
}

/// A quota's `requests.<extended resource>` name.
fn is_extended_quota_name(name: &str) -> bool {
    !is_native_resource(name) && name.starts_with("requests.")
}

/// The operation an admission check is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    Create,
    Update,
}

/// One requirement of a quota's scopes: `spec.scopes` entries become `Exists`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScopeRequirement {
    pub scope_name: String,
    pub operator: String,
    pub values: Vec<String>,
}

/// Upstream's `getScopeSelectorsFromQuota`.
pub fn scope_requirements(quota: &Value) -> Vec<ScopeRequirement> {
    let mut result: Vec<ScopeRequirement> = quota
        .pointer("/spec/scopes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|scope| ScopeRequirement {
            scope_name: scope.to_string(),
            operator: "Exists".into(),
            values: Vec::new(),
        })
        .collect();
    let expressions = quota
        .pointer("/spec/scopeSelector/matchExpressions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten();
    for e in expressions {
        let text = |f: &str| e.get(f).and_then(Value::as_str).unwrap_or("").to_string();
        result.push(ScopeRequirement {
            scope_name: text("scopeName"),
            operator: text("operator"),
            values: e
                .get("values")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect(),
        });
    }
    result
}

/// How one kind of object is measured, like upstream's evaluators.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Evaluator {
    Pods,
    Services,
    PersistentVolumeClaims,
    /// Counts objects: `count/<resource>.<group>` and, for a few core resources, the old
    /// alias (`configmaps`, `secrets`, …).
    ObjectCount {
        group_resource: GroupResource,
        names: Vec<String>,
    },
}

impl Evaluator {
    /// The evaluator for `group`/`resource`; `None` for a resource quota ignores.
    pub fn for_resource(group: &str, resource: &str) -> Option<Evaluator> {
        if IGNORED.contains(&(group, resource)) {
            return None;
        }
        Some(match (group, resource) {
            ("", "pods") => Evaluator::Pods,
            ("", "services") => Evaluator::Services,
            ("", "persistentvolumeclaims") => Evaluator::PersistentVolumeClaims,
            _ => {
                let group_resource = GroupResource::new(group, resource);
                let mut names = vec![group_resource.count_name()];
                if group.is_empty() && LEGACY_ALIASES.contains(&resource) {
                    names.push(resource.to_string());
                }
                Evaluator::ObjectCount {
                    group_resource,
                    names,
                }
            }
        })
    }

    pub fn group_resource(&self) -> GroupResource {
        match self {
            Evaluator::Pods => GroupResource::new("", "pods"),
            Evaluator::Services => GroupResource::new("", "services"),
            Evaluator::PersistentVolumeClaims => GroupResource::new("", "persistentvolumeclaims"),
            Evaluator::ObjectCount { group_resource, .. } => group_resource.clone(),
        }
    }

    /// Whether this evaluator measures the quota resource `name`.
    pub fn matches_resource(&self, name: &str) -> bool {
        match self {
            Evaluator::Pods => {
                POD_RESOURCES.contains(&name)
                    || POD_RESOURCE_PREFIXES.iter().any(|p| name.starts_with(p))
                    || is_extended_quota_name(name)
            }
            Evaluator::Services => SERVICE_RESOURCES.contains(&name),
            Evaluator::PersistentVolumeClaims => {
                name == "count/persistentvolumeclaims"
                    || PVC_RESOURCES.contains(&name)
                    || PVC_RESOURCES
                        .iter()
                        .any(|r| name.ends_with(&format!("{STORAGE_CLASS_SUFFIX}{r}")))
            }
            Evaluator::ObjectCount { names, .. } => names.iter().any(|n| n == name),
        }
    }

    /// Upstream's `MatchingResources`: the names of `input` this evaluator measures.
    pub fn matching_resources<'a>(
        &self,
        input: impl IntoIterator<Item = &'a String>,
    ) -> BTreeSet<String> {
        input
            .into_iter()
            .filter(|n| self.matches_resource(n))
            .cloned()
            .collect()
    }

    /// Upstream's `Handles`: whether admission checks this operation at all.
    pub fn handles(
        &self,
        operation: Operation,
        subresource: &str,
        obj: &Value,
        old: Option<&Value>,
    ) -> bool {
        match self {
            Evaluator::Pods => match subresource {
                "" => match operation {
                    Operation::Create => true,
                    Operation::Update => {
                        old.is_some_and(|old| is_terminating(old) != is_terminating(obj))
                    }
                },
                "resize" => operation == Operation::Update,
                _ => false,
            },
            Evaluator::Services => subresource.is_empty(),
            // Upstream compares two fresh pointers to decide whether a status update changes
            // the allocated storage, so every status update is checked.
            Evaluator::PersistentVolumeClaims => subresource.is_empty() || subresource == "status",
            Evaluator::ObjectCount { .. } => {
                subresource.is_empty() && operation == Operation::Create
            }
        }
    }

    /// Whether `obj` satisfies one scope requirement (only pods have scopes).
    pub fn matches_scope(&self, req: &ScopeRequirement, obj: &Value) -> Result<bool, String> {
        match self {
            Evaluator::Pods => pod_matches_scope(req, obj),
            _ => Ok(false),
        }
    }

    /// Upstream's `generic.Matches`: `obj` counts against `quota` when the quota's
    /// `status.hard` names a resource this evaluator measures and every scope matches.
    pub fn matches(&self, quota: &Value, obj: &Value) -> Result<bool, String> {
        let hard = quota
            .pointer("/status/hard")
            .and_then(Value::as_object)
            .map(|m| m.keys().any(|k| self.matches_resource(k)))
            .unwrap_or(false);
        if !hard {
            return Ok(false);
        }
        for req in scope_requirements(quota) {
            if !self.matches_scope(&req, obj)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Upstream's `Constraints`: a pod must request what its quotas constrain among the
    /// compute resources upstream has always required.
    pub fn constraints(&self, required: &BTreeSet<String>, obj: &Value) -> Result<(), String> {
        if *self != Evaluator::Pods {
            return Ok(());
        }
        let required: BTreeSet<&str> = required
            .iter()
            .map(String::as_str)
            .filter(|r| POD_REQUIRED_RESOURCES.contains(r))
            .collect();
        let mut missing: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
        for container in containers(obj, "containers").chain(containers(obj, "initContainers")) {
            let usage = container_usage(
                &resource_list(container.pointer("/resources/requests")),
                &resource_list(container.pointer("/resources/limits")),
            );
            let name = container
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            for r in &required {
                if !usage.contains_key(*r) {
                    missing.entry(r).or_default().insert(name.clone());
                }
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        let parts: Vec<String> = missing
            .iter()
            .map(|(r, names)| {
                format!(
                    "{r} for: {}",
                    names.iter().cloned().collect::<Vec<_>>().join(",")
                )
            })
            .collect();
        Err(format!("must specify {}", parts.join("; ")))
    }

    /// Upstream's `Usage`: what `obj` uses, at time `now` (a pod past its deletion grace
    /// period no longer uses compute resources).
    pub fn usage(&self, obj: &Value, now: DateTime<Utc>) -> ResourceList {
        match self {
            Evaluator::Pods => pod_usage(obj, now),
            Evaluator::Services => service_usage(obj),
            Evaluator::PersistentVolumeClaims => pvc_usage(obj),
            Evaluator::ObjectCount { names, .. } => names
                .iter()
                .map(|n| (n.clone(), Quantity::from_int(1)))
                .collect(),
        }
    }

    /// Upstream's `UsageStats`: what the objects matching every scope requirement use
    /// together, for the `names` of a quota; each name starts at zero. An object given
    /// as `None` is known by name only, which is all object counting needs.
    pub fn usage_stats<'a>(
        &self,
        names: &BTreeSet<String>,
        scopes: &[ScopeRequirement],
        objects: impl IntoIterator<Item = Option<&'a Value>>,
        now: DateTime<Utc>,
    ) -> ResourceList {
        let mut used: ResourceList = names
            .iter()
            .map(|n| (n.clone(), Quantity::zero()))
            .collect();
        let empty = Value::Null;
        for obj in objects {
            let obj = obj.unwrap_or(&empty);
            let in_scope = scopes
                .iter()
                .all(|s| self.matches_scope(s, obj).unwrap_or(false));
            if in_scope {
                used = add(&used, &self.usage(obj, now));
            }
        }
        used
    }

    /// Whether this evaluator needs the objects themselves (not only their names).
    pub fn needs_objects(&self) -> bool {
        !matches!(self, Evaluator::ObjectCount { .. })
    }
}

/// The group-resource whose objects use the quota resource `name`, when one does.
pub fn group_resource_for(name: &str) -> Option<GroupResource> {
    for evaluator in [
        Evaluator::Pods,
        Evaluator::Services,
        Evaluator::PersistentVolumeClaims,
    ] {
        if evaluator.matches_resource(name) {
            return Some(evaluator.group_resource());
        }
    }
    if LEGACY_ALIASES.contains(&name) {
        return Some(GroupResource::new("", name));
    }
    let rest = name.strip_prefix("count/")?;
    if rest.is_empty() {
        return None;
    }
    let (resource, group) = rest.split_once('.').unwrap_or((rest, ""));
    let evaluator = Evaluator::for_resource(group, resource)?;
    evaluator
        .matches_resource(name)
        .then(|| evaluator.group_resource())
}

// --- pods ---

fn containers<'a>(pod: &'a Value, field: &str) -> impl Iterator<Item = &'a Value> {
    pod.pointer(&format!("/spec/{field}"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

/// Upstream's `IsTerminating`: the pod has an active deadline.
pub fn is_terminating(pod: &Value) -> bool {
    pod.pointer("/spec/activeDeadlineSeconds")
        .and_then(Value::as_i64)
        .is_some_and(|s| s >= 0)
}

/// Upstream's `GetPodQOS` is `BestEffort`: no container requests or limits cpu or memory.
fn is_best_effort(pod: &Value) -> bool {
    if let Some(class) = pod
        .pointer("/status/qosClass")
        .and_then(Value::as_str)
        .filter(|c| !c.is_empty())
    {
        return class == "BestEffort";
    }
    !containers(pod, "containers")
        .chain(containers(pod, "initContainers"))
        .any(|c| {
            ["requests", "limits"].iter().any(|field| {
                let list = resource_list(c.pointer(&format!("/resources/{field}")));
                ["cpu", "memory"]
                    .iter()
                    .any(|r| list.get(*r).is_some_and(|q| *q > Quantity::zero()))
            })
        })
}

fn priority_class(pod: &Value) -> &str {
    pod.pointer("/spec/priorityClassName")
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn pod_matches_scope(req: &ScopeRequirement, pod: &Value) -> Result<bool, String> {
    Ok(match req.scope_name.as_str() {
        "Terminating" => is_terminating(pod),
        "NotTerminating" => !is_terminating(pod),
        "BestEffort" => is_best_effort(pod),
        "NotBestEffort" => !is_best_effort(pod),
        "PriorityClass" => {
            let class = priority_class(pod);
            let has = |v: &str| req.values.iter().any(|x| x == v);
            match req.operator.as_str() {
                "Exists" => !class.is_empty(),
                "DoesNotExist" => class.is_empty(),
                "In" if !req.values.is_empty() => !class.is_empty() && has(class),
                "NotIn" if !req.values.is_empty() => class.is_empty() || !has(class),
                op => {
                    return Err(format!(
                        "failed to parse and convert selector: {op:?} is not a valid scope selector operator"
                    ));
                }
            }
        }
        "CrossNamespacePodAffinity" => uses_cross_namespace_pod_affinity(pod),
        _ => false,
    })
}

fn uses_cross_namespace_pod_affinity(pod: &Value) -> bool {
    let cross = |term: &Value| {
        term.get("namespaces")
            .and_then(Value::as_array)
            .is_some_and(|n| !n.is_empty())
            || term.get("namespaceSelector").is_some_and(|s| !s.is_null())
    };
    ["podAffinity", "podAntiAffinity"].iter().any(|kind| {
        let Some(affinity) = pod.pointer(&format!("/spec/affinity/{kind}")) else {
            return false;
        };
        let required = affinity
            .get("requiredDuringSchedulingIgnoredDuringExecution")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .any(cross);
        let preferred = affinity
            .get("preferredDuringSchedulingIgnoredDuringExecution")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|w| w.get("podAffinityTerm"))
            .any(cross);
        required || preferred
    })
}

/// Upstream's `QuotaV1Pod`: a pod in a terminal phase, or deleted and past its grace
/// period, no longer uses compute resources.
fn pod_uses_compute(pod: &Value, now: DateTime<Utc>) -> bool {
    if matches!(
        pod.pointer("/status/phase").and_then(Value::as_str),
        Some("Failed" | "Succeeded")
    ) {
        return false;
    }
    let deleted = pod
        .pointer("/metadata/deletionTimestamp")
        .and_then(Value::as_str)
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok());
    let grace = pod
        .pointer("/metadata/deletionGracePeriodSeconds")
        .and_then(Value::as_i64);
    if let (Some(deleted), Some(grace)) = (deleted, grace)
        && now > deleted.with_timezone(&Utc) + chrono::Duration::seconds(grace)
    {
        return false;
    }
    true
}

/// Upstream's `podComputeUsageHelper`.
fn container_usage(requests: &ResourceList, limits: &ResourceList) -> ResourceList {
    let mut result = ResourceList::new();
    result.insert("pods".into(), Quantity::from_int(1));
    for (resource, quota_names) in [
        ("cpu", ["cpu", "requests.cpu", "limits.cpu"]),
        ("memory", ["memory", "requests.memory", "limits.memory"]),
        (
            "ephemeral-storage",
            [
                "ephemeral-storage",
                "requests.ephemeral-storage",
                "limits.ephemeral-storage",
            ],
        ),
    ] {
        if let Some(q) = requests.get(resource) {
            result.insert(quota_names[0].into(), *q);
            result.insert(quota_names[1].into(), *q);
        }
        if let Some(q) = limits.get(resource) {
            result.insert(quota_names[2].into(), *q);
        }
    }
    for (name, q) in requests {
        if name.starts_with("hugepages-") {
            result.insert(name.clone(), *q);
            result.insert(format!("requests.{name}"), *q);
        }
        if is_extended_resource_name(name) {
            result.insert(format!("requests.{name}"), *q);
        }
    }
    result
}

fn max_into(list: &mut ResourceList, other: &ResourceList) {
    for (name, q) in other {
        match list.get(name) {
            Some(v) if q <= v => {}
            _ => {
                list.insert(name.clone(), *q);
            }
        }
    }
}

fn max_of(lists: &[ResourceList]) -> ResourceList {
    let mut result = ResourceList::new();
    for l in lists {
        max_into(&mut result, l);
    }
    result
}

fn resize_infeasible(pod: &Value) -> bool {
    pod.pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|c| c.get("type").and_then(Value::as_str) == Some("PodResizePending"))
        .is_some_and(|c| c.get("reason").and_then(Value::as_str) == Some("Infeasible"))
}

/// The status of the container named like `container`, when it reports its resources.
fn container_status<'a>(pod: &'a Value, container: &Value) -> Option<&'a Value> {
    let name = container.get("name")?;
    ["containerStatuses", "initContainerStatuses"]
        .iter()
        .filter_map(|f| {
            pod.pointer(&format!("/status/{f}"))
                .and_then(Value::as_array)
        })
        .flatten()
        .find(|s| s.get("name") == Some(name))
        .filter(|s| s.get("resources").is_some_and(|r| !r.is_null()))
}

/// A container's requests or limits, raised to what its status reports (upstream reads
/// the status resources when in-place resize is enabled, as it is by default).
fn container_resources(pod: &Value, container: &Value, field: &str) -> ResourceList {
    let spec = resource_list(container.pointer(&format!("/resources/{field}")));
    let Some(status) = container_status(pod, container) else {
        return spec;
    };
    let reported = resource_list(status.pointer(&format!("/resources/{field}")));
    let infeasible = resize_infeasible(pod);
    if field == "requests" {
        let allocated = resource_list(status.get("allocatedResources"));
        if infeasible {
            max_of(&[reported, allocated])
        } else {
            max_of(&[spec, reported, allocated])
        }
    } else if infeasible {
        reported
    } else {
        max_of(&[spec, reported])
    }
}

/// Upstream's `PodRequests`/`PodLimits`: the containers' sum, or the largest init
/// container (with the sidecars started before it) when that is more, plus the overhead.
fn pod_resources(pod: &Value, field: &str) -> ResourceList {
    let mut total = ResourceList::new();
    for c in containers(pod, "containers") {
        total = add(&total, &container_resources(pod, c, field));
    }
    let mut sidecars = ResourceList::new();
    let mut init_max = ResourceList::new();
    for c in containers(pod, "initContainers") {
        let own = container_resources(pod, c, field);
        let effective = if c.get("restartPolicy").and_then(Value::as_str) == Some("Always") {
            total = add(&total, &own);
            sidecars = add(&sidecars, &own);
            sidecars.clone()
        } else {
            add(&own, &sidecars)
        };
        max_into(&mut init_max, &effective);
    }
    max_into(&mut total, &init_max);
    let overhead = resource_list(pod.pointer("/spec/overhead"));
    if field == "requests" {
        total = add(&total, &overhead);
    } else {
        for (name, q) in overhead {
            if let Some(v) = total.get_mut(&name)
                && !v.is_zero()
            {
                *v = v.add(&q);
            }
        }
    }
    total
}

/// Upstream's `PodUsageFunc`.
fn pod_usage(pod: &Value, now: DateTime<Utc>) -> ResourceList {
    let mut result = ResourceList::new();
    result.insert("count/pods".into(), Quantity::from_int(1));
    if !pod_uses_compute(pod, now) {
        return result;
    }
    let requests = pod_resources(pod, "requests");
    let limits = pod_resources(pod, "limits");
    add(&result, &container_usage(&requests, &limits))
}

// --- services ---

fn service_usage(svc: &Value) -> ResourceList {
    let ports = svc
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .map(|p| p.as_slice())
        .unwrap_or_default();
    let mut result = ResourceList::new();
    result.insert("count/services".into(), Quantity::from_int(1));
    result.insert("services".into(), Quantity::from_int(1));
    result.insert("services.loadbalancers".into(), Quantity::zero());
    result.insert("services.nodeports".into(), Quantity::zero());
    let count = |n: usize| Quantity::from_int(n as i64);
    match svc.pointer("/spec/type").and_then(Value::as_str) {
        Some("NodePort") => {
            result.insert("services.nodeports".into(), count(ports.len()));
        }
        Some("LoadBalancer") => {
            let allocate = svc
                .pointer("/spec/allocateLoadBalancerNodePorts")
                .and_then(Value::as_bool);
            let node_ports = if allocate == Some(false) {
                ports
                    .iter()
                    .filter(|p| p.get("nodePort").and_then(Value::as_i64).unwrap_or(0) != 0)
                    .count()
            } else {
                ports.len()
            };
            result.insert("services.nodeports".into(), count(node_ports));
            result.insert("services.loadbalancers".into(), Quantity::from_int(1));
        }
        _ => {}
    }
    result
}

// --- persistent volume claims ---

/// Upstream's `GetPersistentVolumeClaimClass`: the beta annotation wins over the field.
fn pvc_storage_class(pvc: &Value) -> &str {
    if let Some(class) = pvc
        .pointer("/metadata/annotations/volume.beta.kubernetes.io~1storage-class")
        .and_then(Value::as_str)
    {
        return class;
    }
    pvc.pointer("/spec/storageClassName")
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn pvc_usage(pvc: &Value) -> ResourceList {
    let mut result = ResourceList::new();
    result.insert("persistentvolumeclaims".into(), Quantity::from_int(1));
    result.insert("count/persistentvolumeclaims".into(), Quantity::from_int(1));
    let class = pvc_storage_class(pvc);
    if !class.is_empty() {
        result.insert(
            format!("{class}{STORAGE_CLASS_SUFFIX}persistentvolumeclaims"),
            Quantity::from_int(1),
        );
    }
    let requested = pvc
        .pointer("/spec/resources/requests/storage")
        .and_then(|q| Quantity::from_json(q).ok())
        .map(|q| q.round_up_to_integer());
    // With recovery from failed expansion (on by default), a larger allocation counts.
    let allocated = pvc
        .pointer("/status/allocatedResources/storage")
        .and_then(|q| Quantity::from_json(q).ok());
    let storage = match (requested, allocated) {
        (Some(r), Some(a)) if a > r => Some(a.round_up_to_integer()),
        (r, _) => r,
    };
    if let Some(storage) = storage {
        result.insert("requests.storage".into(), storage);
        if !class.is_empty() {
            result.insert(
                format!("{class}{STORAGE_CLASS_SUFFIX}requests.storage"),
                storage,
            );
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn now() -> DateTime<Utc> {
        Utc::now()
    }

    fn printed(list: &ResourceList) -> String {
        pretty_print(list)
    }

    #[test]
    fn pod_usage_sums_containers_and_takes_the_largest_init_container() {
        let pod = json!({"spec": {
            "containers": [
                {"name": "a", "resources": {"requests": {"cpu": "100m", "memory": "100Mi"}, "limits": {"cpu": "200m"}}},
                {"name": "b", "resources": {"requests": {"cpu": "150m", "memory": "28Mi"}}}
            ],
            "initContainers": [
                {"name": "i", "resources": {"requests": {"cpu": "1", "memory": "10Mi"}}}
            ]
        }});
        assert_eq!(
            printed(&Evaluator::Pods.usage(&pod, now())),
            "count/pods=1,cpu=1,limits.cpu=200m,memory=128Mi,pods=1,requests.cpu=1,requests.memory=128Mi"
        );
    }

    #[test]
    fn sidecars_add_to_the_containers_and_to_later_init_containers() {
        let pod = json!({"spec": {
            "containers": [{"name": "a", "resources": {"requests": {"cpu": "1"}}}],
            "initContainers": [
                {"name": "s", "restartPolicy": "Always", "resources": {"requests": {"cpu": "500m"}}},
                {"name": "i", "resources": {"requests": {"cpu": "2"}}}
            ]
        }});
        let usage = Evaluator::Pods.usage(&pod, now());
        assert_eq!(usage["requests.cpu"].canonical(), "2500m");
    }

    #[test]
    fn finished_and_expired_pods_only_count_as_objects() {
        let done = json!({"spec": {"containers": []}, "status": {"phase": "Succeeded"}});
        assert_eq!(
            printed(&Evaluator::Pods.usage(&done, now())),
            "count/pods=1"
        );
        let gone = json!({"metadata": {"deletionTimestamp": "2020-01-01T00:00:00Z", "deletionGracePeriodSeconds": 30}, "spec": {}});
        assert_eq!(
            printed(&Evaluator::Pods.usage(&gone, now())),
            "count/pods=1"
        );
        let going = json!({"metadata": {"deletionTimestamp": "2999-01-01T00:00:00Z", "deletionGracePeriodSeconds": 30}, "spec": {}});
        assert_eq!(
            printed(&Evaluator::Pods.usage(&going, now())),
            "count/pods=1,pods=1"
        );
    }

    #[test]
    fn extended_and_hugepage_requests_are_counted_under_requests() {
        let pod = json!({"spec": {"containers": [{"name": "a", "resources": {
            "requests": {"example.com/dongle": "2", "hugepages-2Mi": "4Mi"}
        }}]}});
        assert_eq!(
            printed(&Evaluator::Pods.usage(&pod, now())),
            "count/pods=1,hugepages-2Mi=4Mi,pods=1,requests.example.com/dongle=2,requests.hugepages-2Mi=4Mi"
        );
    }

    #[test]
    fn pods_missing_constrained_resources_are_named() {
        let pod = json!({"spec": {"containers": [
            {"name": "b", "resources": {"requests": {"cpu": "1"}}},
            {"name": "a"}
        ]}});
        let required: BTreeSet<String> = ["cpu", "limits.memory", "pods"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            Evaluator::Pods.constraints(&required, &pod),
            Err("must specify cpu for: a; limits.memory for: a,b".into())
        );
    }

    #[test]
    fn services_count_node_ports_and_load_balancers() {
        let lb = json!({"spec": {"type": "LoadBalancer", "ports": [{"port": 80}, {"port": 81}]}});
        assert_eq!(
            printed(&Evaluator::Services.usage(&lb, now())),
            "count/services=1,services=1,services.loadbalancers=1,services.nodeports=2"
        );
        let no_alloc = json!({"spec": {"type": "LoadBalancer", "allocateLoadBalancerNodePorts": false, "ports": [{"port": 80, "nodePort": 30000}, {"port": 81}]}});
        assert_eq!(
            Evaluator::Services.usage(&no_alloc, now())["services.nodeports"].canonical(),
            "1"
        );
    }

    #[test]
    fn claims_count_storage_by_class() {
        let pvc = json!({"spec": {"storageClassName": "gold", "resources": {"requests": {"storage": "1500m"}}}});
        assert_eq!(
            printed(&Evaluator::PersistentVolumeClaims.usage(&pvc, now())),
            "count/persistentvolumeclaims=1,gold.storageclass.storage.k8s.io/persistentvolumeclaims=1,gold.storageclass.storage.k8s.io/requests.storage=2,persistentvolumeclaims=1,requests.storage=2"
        );
    }

    #[test]
    fn quota_names_map_to_the_resources_they_count() {
        let gr = |n: &str| group_resource_for(n).map(|g| (g.group, g.resource));
        let pair = |g: &str, r: &str| Some((g.to_string(), r.to_string()));
        assert_eq!(gr("requests.memory"), pair("", "pods"));
        assert_eq!(gr("requests.example.com/dongle"), pair("", "pods"));
        assert_eq!(gr("requests.storage"), pair("", "persistentvolumeclaims"));
        assert_eq!(
            gr("gold.storageclass.storage.k8s.io/requests.storage"),
            pair("", "persistentvolumeclaims")
        );
        assert_eq!(gr("services.nodeports"), pair("", "services"));
        assert_eq!(gr("configmaps"), pair("", "configmaps"));
        assert_eq!(gr("count/replicasets.apps"), pair("apps", "replicasets"));
        assert_eq!(
            gr("count/widgets.example.com"),
            pair("example.com", "widgets")
        );
        assert_eq!(gr("count/events"), None);
        assert_eq!(gr("nonsense"), None);
    }

    #[test]
    fn scopes_select_pods() {
        let quota = json!({"spec": {"scopes": ["NotBestEffort"], "scopeSelector": {"matchExpressions": [
            {"scopeName": "PriorityClass", "operator": "In", "values": ["high"]}
        ]}}, "status": {"hard": {"pods": "1"}}});
        let pod = |pc: &str, cpu: &str| json!({"spec": {"priorityClassName": pc, "containers": [{"name": "a", "resources": {"requests": {"cpu": cpu}}}]}});
        assert_eq!(Evaluator::Pods.matches(&quota, &pod("high", "1")), Ok(true));
        assert_eq!(Evaluator::Pods.matches(&quota, &pod("low", "1")), Ok(false));
        assert_eq!(
            Evaluator::Pods.matches(&quota, &pod("high", "0")),
            Ok(false)
        );
        // Object counts have no scopes: a scoped quota never matches them.
        let cm = Evaluator::for_resource("", "configmaps").unwrap();
        let scoped =
            json!({"spec": {"scopes": ["BestEffort"]}, "status": {"hard": {"configmaps": "1"}}});
        assert_eq!(cm.matches(&scoped, &json!({})), Ok(false));
    }

    #[test]
    fn arithmetic_matches_upstream() {
        let l = |pairs: &[(&str, &str)]| -> ResourceList {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), Quantity::parse(v).unwrap()))
                .collect()
        };
        let a = l(&[("cpu", "1"), ("pods", "2")]);
        let b = l(&[("cpu", "1500m"), ("memory", "1Gi")]);
        assert_eq!(printed(&add(&a, &b)), "cpu=2500m,memory=1Gi,pods=2");
        assert_eq!(
            printed(&subtract_non_negative(&a, &b)),
            "cpu=0,memory=0,pods=2"
        );
        let (ok, exceeded) = less_than_or_equal(&b, &a);
        assert!(!ok);
        assert_eq!(pretty_print_names(&exceeded), "cpu");
    }
}
