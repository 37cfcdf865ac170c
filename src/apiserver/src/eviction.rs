//! `pods/eviction`: a delete that respects PodDisruptionBudgets, what `kubectl drain` and
//! client-go's `EvictV1` send (upstream's `EvictionREST`).
//!
//! A pod that is pending, finished or already being deleted is deleted at once. Otherwise the
//! one budget selecting it must allow a disruption: it is decremented (and the pod recorded
//! among its `disruptedPods`) before the pod gets a `DisruptionTarget` condition and is
//! deleted; a budget with none left answers 429. More than one budget is an error.

use axum::body::Body;
use den_apimachinery::labels::LabelSelector;
use den_apimachinery::status::{ApiError, Details};
use den_apimachinery::validation::Cause;
use http::{Response, StatusCode};
use serde_json::{Value, json};

use crate::handlers::{self, ResourceRequest, json_response, read_body};
use crate::objects;
use crate::registry::{ListOptions, Part};
use crate::server::ApiServer;

const TOO_MANY_REQUESTS: &str = "Cannot evict pod as it would violate the pod's disruption budget.";

pub async fn serve(
    server: &ApiServer,
    req: &ResourceRequest,
    body: Body,
) -> Result<Response<Body>, ApiError> {
    let bytes = read_body(body).await?;
    let eviction = handlers::decode_body(&req.headers, &bytes)?;
    // Without a kind the body is decoded as the Eviction the subresource expects.
    if let Some(kind) = eviction.get("kind").and_then(Value::as_str)
        && kind != "Eviction"
    {
        return Err(ApiError::bad_request(&format!(
            "not a Eviction object: {kind}"
        )));
    }
    let (ns, name) = (req.request.namespace.as_str(), req.request.name.as_str());
    if objects::name(&eviction) != name {
        return Err(ApiError::bad_request(
            "name in URL does not match name in Eviction object",
        ));
    }
    let options = handlers::delete_options_from(
        eviction.get("deleteOptions").unwrap_or(&Value::Null),
        req.dry_run()?,
    )?;
    let pods = &req.info;
    let pod = server.registry.get(pods, ns, name).await?;
    if !can_ignore_budgets(&pod) {
        check_and_decrement_budget(server, &pod, options.dry_run).await?;
        mark_disruption_target(server, req, &pod, options.dry_run).await?;
    }
    server.registry.delete(pods, ns, name, &options).await?;
    Ok(json_response(
        StatusCode::CREATED,
        &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}),
    ))
}

/// Pending, finished and terminating pods are evicted without asking their budget.
fn can_ignore_budgets(pod: &Value) -> bool {
    let phase = pod.pointer("/status/phase").and_then(Value::as_str);
    matches!(phase, Some("Pending" | "Succeeded" | "Failed") | None) || objects::is_deleting(pod)
}

/// The pod's budget allows one more disruption: take it.
async fn check_and_decrement_budget(
    server: &ApiServer,
    pod: &Value,
    dry_run: bool,
) -> Result<(), ApiError> {
    let resources = server.resources();
    let Some(budgets) = resources.get("policy", "v1", "poddisruptionbudgets") else {
        return Ok(());
    };
    let ns = objects::namespace(pod);
    let labels = objects::labels(pod);
    let page = server
        .registry
        .list(budgets, ns, &ListOptions::default())
        .await?;
    let matching: Vec<&Value> = page
        .items
        .iter()
        .filter(|pdb| selects(pdb.pointer("/spec/selector"), labels))
        .collect();
    let budget = match matching.as_slice() {
        [] => return Ok(()),
        [one] => *one,
        _ => {
            return Err(ApiError::new(
                500,
                "",
                "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.",
            ));
        }
    };
    let budget_name = objects::name(budget).to_string();
    let pod_name = objects::name(pod).to_string();
    server
        .registry
        .update(budgets, ns, &budget_name, Part::Status, dry_run, |current| {
            let Some(current) = current else {
                return Err(ApiError::not_found("policy", "poddisruptionbudgets", &budget_name));
            };
            let mut pdb = current.clone();
            let status = |field: &str| pdb.pointer(&format!("/status/{field}")).and_then(Value::as_i64).unwrap_or(0);
            let generation = pdb.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(0);
            if status("observedGeneration") < generation {
                return Err(too_many_requests(format!(
                    "The disruption budget {budget_name} is still being processed by the server."
                ), 10));
            }
            let allowed = status("disruptionsAllowed");
            if allowed < 0 {
                return Err(ApiError::forbidden("policy", "poddisruptionbudget", &budget_name, "pdb disruptions allowed is negative"));
            }
            if allowed == 0 {
                return Err(too_many_requests(format!(
                    "The disruption budget {budget_name} needs {} healthy pods and has {} currently",
                    status("desiredHealthy"),
                    status("currentHealthy")
                ), 0));
            }
            pdb["status"]["disruptionsAllowed"] = json!(allowed - 1);
            pdb["status"]["disruptedPods"][&pod_name] = json!(objects::now_rfc3339());
            Ok(pdb)
        })
        .await?;
    Ok(())
}

/// Whether a budget's `spec.selector` selects `labels`: no selector selects nothing, an
/// empty one everything.
fn selects(selector: Option<&Value>, labels: &serde_json::Map<String, Value>) -> bool {
    match selector {
        None | Some(Value::Null) => false,
        Some(selector) => {
            LabelSelector::from_label_selector_json(selector).is_ok_and(|s| s.matches(labels))
        }
    }
}

fn too_many_requests(cause: String, retry_after_seconds: i32) -> ApiError {
    let mut err = ApiError::new(429, "TooManyRequests", TOO_MANY_REQUESTS);
    err.details = Some(Box::new(Details {
        causes: vec![Cause {
            reason: "DisruptionBudget".into(),
            message: cause,
            field: String::new(),
        }],
        retry_after_seconds,
        ..Details::default()
    }));
    err
}

/// Upstream marks the pod before deleting it: condition `DisruptionTarget`.
async fn mark_disruption_target(
    server: &ApiServer,
    req: &ResourceRequest,
    pod: &Value,
    dry_run: bool,
) -> Result<(), ApiError> {
    if dry_run {
        return Ok(());
    }
    let condition = json!({
        "type": "DisruptionTarget",
        "status": "True",
        "reason": "EvictionByEvictionAPI",
        "message": "Eviction API: evicting",
        "lastTransitionTime": objects::now_rfc3339(),
    });
    server
        .registry
        .update(
            &req.info,
            objects::namespace(pod),
            objects::name(pod),
            Part::Status,
            false,
            |current| {
                let mut pod = current.cloned().unwrap_or_default();
                let conditions = pod["status"]["conditions"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                let mut conditions: Vec<Value> = conditions
                    .into_iter()
                    .filter(|c| c["type"] != "DisruptionTarget")
                    .collect();
                conditions.push(condition.clone());
                pod["status"]["conditions"] = json!(conditions);
                Ok(pod)
            },
        )
        .await?;
    Ok(())
}
