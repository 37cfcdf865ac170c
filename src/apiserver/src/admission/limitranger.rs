//! Upstream's LimitRanger plugin (`plugin/pkg/admission/limitranger`): the LimitRanges of a
//! namespace give a new pod's containers their default requests and limits (noted in the
//! `kubernetes.io/limit-ranger` annotation), then bound what each container, each pod and
//! each PersistentVolumeClaim may ask for.

use std::collections::BTreeMap;

use den_apimachinery::status::ApiError;
use den_apimachinery::validation::aggregate_messages;
use den_storage::Backend;
use serde_json::{Map, Value, json};

use super::shared::{self, LIMIT_RANGES, Refusal, is_pod_create, list_of, str_of};
use super::{Attributes, Operation};
use crate::kindvalidation::quantity::Quantity;
use crate::objects;

pub const ANNOTATION: &str = "kubernetes.io/limit-ranger";

/// Upstream's `resource.MaxMilliValue`: beyond it, amounts compare as whole units.
const MAX_MILLI_VALUE: i128 = (i64::MAX / 1000) as i128;

type Resources = BTreeMap<String, Quantity>;

/// A resource list of `obj` (`limits`, `requests`, `min`, …), amounts that do not parse
/// left out (validation has refused them before admission runs).
fn resources(obj: &Value, field: &str) -> Resources {
    obj.get(field)
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Quantity::from_json(v).ok().map(|q| (k.clone(), q)))
                .collect()
        })
        .unwrap_or_default()
}

fn limit_items(limit_range: &Value) -> &[Value] {
    limit_range
        .get("spec")
        .map(|spec| list_of(spec, "limits"))
        .unwrap_or(&[])
}

async fn limit_ranges(storage: &dyn Backend, namespace: &str) -> Result<Vec<Value>, ApiError> {
    shared::list(storage, &format!("{LIMIT_RANGES}{namespace}/")).await
}

/// Applies every LimitRange's container defaults to a new pod.
pub(super) async fn admit(
    storage: &dyn Backend,
    attrs: &Attributes<'_>,
    pod: &mut Value,
) -> Result<(), ApiError> {
    for limit_range in limit_ranges(storage, attrs.namespace).await? {
        apply_defaults(&limit_range, pod);
    }
    Ok(())
}

/// Upstream's `PodMutateLimitFunc`: the defaults of the range's Container items go to every
/// container lacking them; the annotation says what was set.
fn apply_defaults(limit_range: &Value, pod: &mut Value) {
    let mut default_requests = Map::new();
    let mut default_limits = Map::new();
    for item in limit_items(limit_range) {
        if str_of(item, "type") != "Container" {
            continue;
        }
        for (field, into) in [
            ("defaultRequest", &mut default_requests),
            ("default", &mut default_limits),
        ] {
            if let Some(values) = item.get(field).and_then(Value::as_object) {
                into.extend(values.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
        }
    }
    let mut notes = Vec::new();
    for (field, kind) in [
        ("containers", "container"),
        ("initContainers", "init container"),
    ] {
        let Some(containers) = pod["spec"].get_mut(field).and_then(Value::as_array_mut) else {
            continue;
        };
        for container in containers.iter_mut().filter(|c| c.is_object()) {
            let name = str_of(container, "name").to_string();
            if !container.get("resources").is_some_and(Value::is_object) {
                container["resources"] = json!({});
            }
            let resources = &mut container["resources"];
            let set_requests = fill(resources, "requests", &default_requests);
            let set_limits = fill(resources, "limits", &default_limits);
            if !set_requests.is_empty() {
                notes.push(format!(
                    "{} request for {kind} {name}",
                    set_requests.join(", ")
                ));
            }
            if !set_limits.is_empty() {
                notes.push(format!("{} limit for {kind} {name}", set_limits.join(", ")));
            }
        }
    }
    if notes.is_empty() {
        return;
    }
    let meta = objects::meta_mut(pod);
    if !meta.get("annotations").is_some_and(Value::is_object) {
        meta.insert("annotations".into(), json!({}));
    }
    meta["annotations"][ANNOTATION] =
        json!(format!("LimitRanger plugin set: {}", notes.join("; ")));
}

/// Sets each of `defaults` that `resources.field` lacks; returns their names, sorted.
fn fill(resources: &mut Value, field: &str, defaults: &Map<String, Value>) -> Vec<String> {
    if defaults.is_empty() {
        return Vec::new();
    }
    if !resources.get(field).is_some_and(Value::is_object) {
        resources[field] = json!({});
    }
    let list = resources[field]
        .as_object_mut()
        .expect("made an object above");
    let mut set: Vec<String> = Vec::new();
    for (name, value) in defaults {
        if !list.contains_key(name) {
            list.insert(name.clone(), value.clone());
            set.push(name.clone());
        }
    }
    set.sort();
    set
}

/// Upstream's `requestLimitEnforcedValues`: the three amounts at one precision, milli-units
/// unless one of them is too large for that.
fn comparable(request: &Quantity, limit: &Quantity, enforced: &Quantity) -> (i128, i128, i128) {
    let whole = (request.value(), limit.value(), enforced.value());
    if whole.0 <= MAX_MILLI_VALUE && whole.1 <= MAX_MILLI_VALUE && whole.2 <= MAX_MILLI_VALUE {
        (
            request.milli_value(),
            limit.milli_value(),
            enforced.milli_value(),
        )
    } else {
        whole
    }
}

/// Upstream's `minConstraint`.
fn min_constraint(
    kind: &str,
    resource: &str,
    enforced: &Quantity,
    requests: &Resources,
    limits: &Resources,
) -> Result<(), String> {
    let zero = Quantity::zero();
    let (req, lim) = (requests.get(resource), limits.get(resource));
    let (observed_req, observed_lim, enforced_value) =
        comparable(req.unwrap_or(&zero), lim.unwrap_or(&zero), enforced);
    let Some(req) = req else {
        return Err(format!(
            "minimum {resource} usage per {kind} is {enforced}.  No request is specified"
        ));
    };
    if observed_req < enforced_value {
        return Err(format!(
            "minimum {resource} usage per {kind} is {enforced}, but request is {req}"
        ));
    }
    if let Some(lim) = lim
        && observed_lim < enforced_value
    {
        return Err(format!(
            "minimum {resource} usage per {kind} is {enforced}, but limit is {lim}"
        ));
    }
    Ok(())
}

/// Upstream's `maxRequestConstraint`: for kinds without limits (claims).
fn max_request_constraint(
    kind: &str,
    resource: &str,
    enforced: &Quantity,
    requests: &Resources,
) -> Result<(), String> {
    let zero = Quantity::zero();
    let req = requests.get(resource);
    let (observed_req, _, enforced_value) = comparable(req.unwrap_or(&zero), &zero, enforced);
    let Some(req) = req else {
        return Err(format!(
            "maximum {resource} usage per {kind} is {enforced}.  No request is specified"
        ));
    };
    if observed_req > enforced_value {
        return Err(format!(
            "maximum {resource} usage per {kind} is {enforced}, but request is {req}"
        ));
    }
    Ok(())
}

/// Upstream's `maxConstraint`.
fn max_constraint(
    kind: &str,
    resource: &str,
    enforced: &Quantity,
    requests: &Resources,
    limits: &Resources,
) -> Result<(), String> {
    let zero = Quantity::zero();
    let (req, lim) = (requests.get(resource), limits.get(resource));
    let (observed_req, observed_lim, enforced_value) =
        comparable(req.unwrap_or(&zero), lim.unwrap_or(&zero), enforced);
    let Some(lim) = lim else {
        return Err(format!(
            "maximum {resource} usage per {kind} is {enforced}.  No limit is specified"
        ));
    };
    if observed_lim > enforced_value {
        return Err(format!(
            "maximum {resource} usage per {kind} is {enforced}, but limit is {lim}"
        ));
    }
    if let Some(req) = req
        && observed_req > enforced_value
    {
        return Err(format!(
            "maximum {resource} usage per {kind} is {enforced}, but request is {req}"
        ));
    }
    Ok(())
}

/// Upstream's `limitRequestRatioConstraint`.
fn ratio_constraint(
    kind: &str,
    resource: &str,
    enforced: &Quantity,
    requests: &Resources,
    limits: &Resources,
) -> Result<(), String> {
    let zero = Quantity::zero();
    let (req, lim) = (requests.get(resource), limits.get(resource));
    let (observed_req, observed_lim, _) =
        comparable(req.unwrap_or(&zero), lim.unwrap_or(&zero), enforced);
    if req.is_none() || observed_req == 0 {
        return Err(format!(
            "{resource} max limit to request ratio per {kind} is {enforced}, but no request is specified or request is 0"
        ));
    }
    if lim.is_none() || observed_lim == 0 {
        return Err(format!(
            "{resource} max limit to request ratio per {kind} is {enforced}, but no limit is specified or limit is 0"
        ));
    }
    let shown = observed_lim as f64 / observed_req as f64;
    let (observed, allowed) = if enforced.value() <= MAX_MILLI_VALUE {
        (shown * 1000.0, enforced.milli_value() as f64)
    } else {
        (shown, enforced.value() as f64)
    };
    if observed > allowed {
        return Err(format!(
            "{resource} max limit to request ratio per {kind} is {enforced}, but provided ratio is {shown:.6}"
        ));
    }
    Ok(())
}

/// Checks `requests`/`limits` against one LimitRange item's min, max and ratio.
fn check_item(
    errs: &mut Vec<String>,
    item: &Value,
    kind: &str,
    requests: &Resources,
    limits: &Resources,
) {
    for (resource, enforced) in resources(item, "min") {
        errs.extend(min_constraint(kind, &resource, &enforced, requests, limits).err());
    }
    for (resource, enforced) in resources(item, "max") {
        errs.extend(max_constraint(kind, &resource, &enforced, requests, limits).err());
    }
    for (resource, enforced) in resources(item, "maxLimitRequestRatio") {
        errs.extend(ratio_constraint(kind, &resource, &enforced, requests, limits).err());
    }
}

fn add_into(total: &mut Resources, more: &Resources) {
    for (name, amount) in more {
        let sum = match total.get(name) {
            Some(current) => current.add(amount),
            None => *amount,
        };
        total.insert(name.clone(), sum);
    }
}

fn max_into(total: &mut Resources, other: &Resources) {
    for (name, amount) in other {
        if total.get(name).is_none_or(|current| amount > current) {
            total.insert(name.clone(), *amount);
        }
    }
}

/// Upstream's `podRequests`/`podLimits` over the spec (`field` is `requests` or `limits`):
/// the app containers and sidecars add up; an init container counts with the sidecars
/// started before it, and the pod needs the most of those.
fn pod_total(spec: &Value, field: &str) -> Resources {
    let of = |c: &Value| {
        c.get("resources")
            .map(|r| resources(r, field))
            .unwrap_or_default()
    };
    let mut total = Resources::new();
    for container in list_of(spec, "containers") {
        add_into(&mut total, &of(container));
    }
    let mut sidecars = Resources::new();
    let mut init_peak = Resources::new();
    for container in list_of(spec, "initContainers") {
        let own = of(container);
        let counted = if str_of(container, "restartPolicy") == "Always" {
            add_into(&mut total, &own);
            add_into(&mut sidecars, &own);
            sidecars.clone()
        } else {
            let mut with_sidecars = own;
            add_into(&mut with_sidecars, &sidecars);
            with_sidecars
        };
        max_into(&mut init_peak, &counted);
    }
    max_into(&mut total, &init_peak);
    total
}

/// Upstream's `PodValidateLimitFunc` for one LimitRange.
fn check_pod(limit_range: &Value, pod: &Value) -> Result<(), String> {
    let spec = pod.get("spec").unwrap_or(&Value::Null);
    let mut errs = Vec::new();
    for item in limit_items(limit_range) {
        match str_of(item, "type") {
            "Container" => {
                for field in ["containers", "initContainers"] {
                    for container in list_of(spec, field) {
                        let res = container.get("resources").unwrap_or(&Value::Null);
                        let (requests, limits) =
                            (resources(res, "requests"), resources(res, "limits"));
                        check_item(&mut errs, item, "Container", &requests, &limits);
                    }
                }
            }
            "Pod" => {
                let (requests, limits) = (pod_total(spec, "requests"), pod_total(spec, "limits"));
                check_item(&mut errs, item, "Pod", &requests, &limits);
            }
            _ => {}
        }
    }
    aggregate(errs)
}

/// Upstream's `PersistentVolumeClaimValidateLimitFunc` for one LimitRange: only the claim's
/// requests count.
fn check_claim(limit_range: &Value, claim: &Value) -> Result<(), String> {
    let requests = claim
        .pointer("/spec/resources")
        .map(|r| resources(r, "requests"))
        .unwrap_or_default();
    let mut errs = Vec::new();
    for item in limit_items(limit_range) {
        if str_of(item, "type") != "PersistentVolumeClaim" {
            continue;
        }
        for (resource, enforced) in resources(item, "min") {
            let kind = "PersistentVolumeClaim";
            errs.extend(
                min_constraint(kind, &resource, &enforced, &requests, &Resources::new()).err(),
            );
        }
        for (resource, enforced) in resources(item, "max") {
            let kind = "PersistentVolumeClaim";
            errs.extend(max_request_constraint(kind, &resource, &enforced, &requests).err());
        }
    }
    aggregate(errs)
}

fn aggregate(errs: Vec<String>) -> Result<(), String> {
    if errs.is_empty() {
        Ok(())
    } else {
        Err(aggregate_messages(&errs))
    }
}

#[derive(Clone, Copy)]
enum Target {
    Pod,
    Claim,
}

/// What the validating half needs: the namespace's LimitRanges, for a new pod or a claim.
pub(super) struct Validator {
    target: Target,
    limit_ranges: Vec<Value>,
    refusal: Refusal,
}

pub(super) async fn validator(
    storage: &dyn Backend,
    attrs: &Attributes<'_>,
) -> Result<Option<Validator>, ApiError> {
    let target = if is_pod_create(attrs) {
        Target::Pod
    } else if attrs.info.is("", "persistentvolumeclaims")
        && attrs.subresource.is_empty()
        && matches!(attrs.operation, Operation::Create | Operation::Update)
    {
        Target::Claim
    } else {
        return Ok(None);
    };
    Ok(Some(Validator {
        target,
        limit_ranges: limit_ranges(storage, attrs.namespace).await?,
        refusal: Refusal::new(attrs),
    }))
}

impl Validator {
    pub(super) fn validate(
        &self,
        obj: Option<&Value>,
        old: Option<&Value>,
    ) -> Result<(), ApiError> {
        let Some(obj) = obj else {
            return Ok(());
        };
        // Objects being deleted are left alone.
        if old.is_some_and(objects::is_deleting) {
            return Ok(());
        }
        for limit_range in &self.limit_ranges {
            let checked = match self.target {
                Target::Pod => check_pod(limit_range, obj),
                Target::Claim => check_claim(limit_range, obj),
            };
            if let Err(msg) = checked {
                return Err(self.refusal.forbidden(obj, &msg));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit_range(limits: Value) -> Value {
        json!({"metadata": {"name": "lr"}, "spec": {"limits": limits}})
    }

    #[test]
    fn container_defaults_fill_what_is_missing_and_are_noted() {
        let lr = limit_range(json!([{
            "type": "Container",
            "default": {"cpu": "500m", "memory": "500Mi"},
            "defaultRequest": {"cpu": "100m", "memory": "200Mi"},
        }]));
        let mut pod = json!({
            "metadata": {"name": "p"},
            "spec": {
                "containers": [
                    {"name": "a", "resources": {"requests": {"cpu": "300m"}}},
                    {"name": "b", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "1", "memory": "1Gi"}}},
                ],
                "initContainers": [{"name": "i"}],
            },
        });
        apply_defaults(&lr, &mut pod);
        assert_eq!(
            pod["spec"]["containers"][0]["resources"],
            json!({"requests": {"cpu": "300m", "memory": "200Mi"}, "limits": {"cpu": "500m", "memory": "500Mi"}})
        );
        assert_eq!(
            pod["metadata"]["annotations"][ANNOTATION],
            "LimitRanger plugin set: memory request for container a; cpu, memory limit for container a; cpu, memory request for init container i; cpu, memory limit for init container i"
        );
    }

    #[test]
    fn container_bounds_use_upstream_messages() {
        let lr = limit_range(json!([{
            "type": "Container",
            "min": {"cpu": "100m"},
            "max": {"cpu": "2"},
            "maxLimitRequestRatio": {"cpu": "4"},
        }]));
        let pod = |resources: Value| json!({"spec": {"containers": [{"name": "a", "resources": resources}]}});
        assert_eq!(
            check_pod(
                &lr,
                &pod(json!({"requests": {"cpu": "1"}, "limits": {"cpu": "3"}}))
            ),
            Err("maximum cpu usage per Container is 2, but limit is 3".into())
        );
        assert_eq!(
            check_pod(&lr, &pod(json!({"requests": {"cpu": "50m"}, "limits": {"cpu": "1"}}))),
            Err("[minimum cpu usage per Container is 100m, but request is 50m, cpu max limit to request ratio per Container is 4, but provided ratio is 20.000000]".into())
        );
        assert_eq!(
            check_pod(&lr, &pod(json!({}))),
            Err("[minimum cpu usage per Container is 100m.  No request is specified, maximum cpu usage per Container is 2.  No limit is specified, cpu max limit to request ratio per Container is 4, but no request is specified or request is 0]".into())
        );
        assert_eq!(
            check_pod(
                &lr,
                &pod(json!({"requests": {"cpu": "1"}, "limits": {"cpu": "2"}}))
            ),
            Ok(())
        );
    }

    #[test]
    fn pod_totals_count_sidecars_and_the_largest_init_container() {
        let spec = json!({
            "containers": [
                {"name": "a", "resources": {"requests": {"cpu": "1"}}},
                {"name": "b", "resources": {"requests": {"cpu": "500m"}}},
            ],
            "initContainers": [
                {"name": "side", "restartPolicy": "Always", "resources": {"requests": {"cpu": "250m"}}},
                {"name": "big", "resources": {"requests": {"cpu": "3"}}},
            ],
        });
        let total = pod_total(&spec, "requests");
        assert_eq!(total["cpu"].to_string(), "3250m");
        let lr = limit_range(json!([{"type": "Pod", "max": {"cpu": "3"}}]));
        assert_eq!(
            check_pod(&lr, &json!({"spec": spec})),
            Err("maximum cpu usage per Pod is 3.  No limit is specified".into())
        );
    }

    #[test]
    fn claims_are_bounded_by_their_requests() {
        let lr = limit_range(json!([{
            "type": "PersistentVolumeClaim",
            "min": {"storage": "1Gi"},
            "max": {"storage": "2Gi"},
        }]));
        let claim =
            |storage: &str| json!({"spec": {"resources": {"requests": {"storage": storage}}}});
        assert_eq!(
            check_claim(&lr, &claim("500Mi")),
            Err(
                "minimum storage usage per PersistentVolumeClaim is 1Gi, but request is 500Mi"
                    .into()
            )
        );
        assert_eq!(
            check_claim(&lr, &claim("3Gi")),
            Err(
                "maximum storage usage per PersistentVolumeClaim is 2Gi, but request is 3Gi".into()
            )
        );
        assert_eq!(check_claim(&lr, &claim("1Gi")), Ok(()));
    }
}
