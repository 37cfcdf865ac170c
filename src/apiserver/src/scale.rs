//! The `scale` subresource: an `autoscaling/v1` Scale view of a workload's replicas.

use axum::body::Body;
use den_apimachinery::labels::LabelSelector;
use den_apimachinery::status::ApiError;
use http::{Method, Response, StatusCode};
use serde_json::{Value, json};

use crate::handlers::{ResourceRequest, apply_patch, decode_body, json_response, read_body};
use crate::objects;
use crate::registry::{OPTIMISTIC_LOCK, Part};
use crate::server::ApiServer;

const SCALE_DEFINITION: &str = "io.k8s.api.autoscaling.v1.Scale";

/// The Scale of a workload object.
fn scale_of(obj: &Value) -> Value {
    let selector = match obj.pointer("/spec/selector") {
        Some(sel) if sel.get("matchLabels").is_some() || sel.get("matchExpressions").is_some() => {
            LabelSelector::from_label_selector_json(sel)
                .map(|s| s.to_string())
                .unwrap_or_default()
        }
        // A replication controller's selector is a plain map.
        Some(Value::Object(map)) => {
            let mut pairs: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect();
            pairs.sort();
            pairs.join(",")
        }
        _ => String::new(),
    };
    let meta = obj.get("metadata").cloned().unwrap_or_default();
    let mut metadata = json!({});
    for field in [
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "creationTimestamp",
    ] {
        if let Some(v) = meta.get(field) {
            metadata[field] = v.clone();
        }
    }
    let mut status =
        json!({"replicas": obj.pointer("/status/replicas").and_then(Value::as_i64).unwrap_or(0)});
    if !selector.is_empty() {
        status["selector"] = json!(selector);
    }
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": metadata,
        "spec": {"replicas": obj.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(0)},
        "status": status,
    })
}

pub async fn handle(
    server: &ApiServer,
    req: &ResourceRequest,
    method: &Method,
    body: Body,
) -> Result<Response<Body>, ApiError> {
    let info = &req.info;
    let (ns, name) = (req.request.namespace.as_str(), req.request.name.as_str());
    if *method == Method::GET {
        let obj = server.registry.get(info, ns, name).await?;
        return Ok(json_response(StatusCode::OK, &scale_of(&obj)));
    }
    let is_patch = match *method {
        Method::PUT => false,
        Method::PATCH => true,
        _ => {
            return Err(ApiError::method_not_supported(
                &info.group,
                &format!("{}/scale", &info.plural),
                method.as_str(),
            ));
        }
    };
    let bytes = read_body(body).await?;
    let headers = &req.headers;
    let dry_run = req.query.get("dryRun").is_some_and(|d| d == "All");
    let (updated, _) = server
        .registry
        .update(info, ns, name, Part::Main, dry_run, |current| {
            let Some(old) = current else {
                return Err(ApiError::not_found(&info.group, &info.plural, name));
            };
            let current_scale = scale_of(old);
            let scale = if is_patch {
                apply_patch(
                    &server.openapi,
                    Some(SCALE_DEFINITION),
                    headers,
                    &bytes,
                    &current_scale,
                )?
            } else {
                decode_body(headers, &bytes)?
            };
            let want_rv = objects::meta_str(&scale, "resourceVersion").unwrap_or("");
            if !want_rv.is_empty() && Some(want_rv) != objects::meta_str(old, "resourceVersion") {
                return Err(ApiError::conflict(
                    &info.group,
                    &info.plural,
                    name,
                    OPTIMISTIC_LOCK,
                ));
            }
            let replicas = match scale.pointer("/spec/replicas") {
                None | Some(Value::Null) => 0,
                Some(v) => v.as_i64().filter(|r| *r >= 0).ok_or_else(|| {
                    ApiError::invalid(
                        "autoscaling",
                        "Scale",
                        name,
                        vec![den_apimachinery::validation::Cause {
                            reason: "FieldValueInvalid".into(),
                            message: format!(
                                "Invalid value: {v}: must be greater than or equal to 0"
                            ),
                            field: "spec.replicas".into(),
                        }],
                    )
                })?,
            };
            let mut new = old.clone();
            new["spec"]["replicas"] = json!(replicas);
            Ok(new)
        })
        .await?;
    Ok(json_response(StatusCode::OK, &scale_of(&updated)))
}
