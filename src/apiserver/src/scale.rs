//! The `scale` subresource: an `autoscaling/v1` Scale view of a workload's replicas.

use axum::body::Body;
use den_apimachinery::labels::LabelSelector;
use den_apimachinery::status::ApiError;
use http::{Method, Response, StatusCode};
use serde_json::{Value, json};

use crate::handlers::{ResourceRequest, apply_patch, decode_body, json_response, read_body};
use crate::managedfields::ResourceSchema;
use crate::objects;
use crate::registry::{OPTIMISTIC_LOCK, Part};
use crate::resources::{Codec, ResourceInfo};
use crate::server::ApiServer;

const SCALE_DEFINITION: &str = "io.k8s.api.autoscaling.v1.Scale";

/// Where a kind keeps its replicas: built-in workloads in `spec.replicas`/`status.replicas`,
/// custom resources where their CRD's scale subresource says.
struct ScalePaths {
    spec_replicas: String,
    status_replicas: String,
    /// A custom resource's serialized label selector.
    label_selector: Option<String>,
}

/// `.spec.replicas` → `/spec/replicas`.
fn pointer(path: &str) -> String {
    format!("/{}", path.trim_start_matches('.').replace('.', "/"))
}

impl ScalePaths {
    fn of(info: &ResourceInfo) -> Self {
        match &info.codec {
            Codec::Custom(custom) if custom.scale.is_some() => {
                let scale = custom.scale.as_ref().expect("checked above");
                ScalePaths {
                    spec_replicas: pointer(&scale.spec_replicas),
                    status_replicas: pointer(&scale.status_replicas),
                    label_selector: scale.label_selector.as_deref().map(pointer),
                }
            }
            _ => ScalePaths {
                spec_replicas: "/spec/replicas".into(),
                status_replicas: "/status/replicas".into(),
                label_selector: None,
            },
        }
    }
}

/// The Scale of a workload object.
fn scale_of(obj: &Value, paths: &ScalePaths) -> Value {
    let selector = match (&paths.label_selector, obj.pointer("/spec/selector")) {
        (Some(path), _) => obj
            .pointer(path)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        (None, selector) => workload_selector(selector),
    };
    scale_view(obj, paths, selector)
}

/// A workload's `spec.selector` in its string form.
fn workload_selector(selector: Option<&Value>) -> String {
    match selector {
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
    }
}

fn scale_view(obj: &Value, paths: &ScalePaths, selector: String) -> Value {
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
    let replicas = |path: &str| obj.pointer(path).and_then(Value::as_i64).unwrap_or(0);
    let mut status = json!({ "replicas": replicas(&paths.status_replicas) });
    if !selector.is_empty() {
        status["selector"] = json!(selector);
    }
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": metadata,
        "spec": { "replicas": replicas(&paths.spec_replicas) },
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
    let paths = ScalePaths::of(info);
    if *method == Method::GET {
        let obj = server.registry.get(info, ns, name).await?;
        return Ok(json_response(StatusCode::OK, &scale_of(&obj, &paths)));
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
    // The change is recorded on the parent object, as a manager of the `scale` subresource.
    let schema = ResourceSchema::new(info);
    let field_manager = schema.field_manager(info, "scale");
    let manager = req.manager();
    if is_patch && crate::handlers::is_apply_patch(headers) {
        req.check_write_options("PatchOptions", true)?;
        let replicas = applied_replicas(&bytes)?;
        // The Scale's replicas, applied as the parent's replicas field.
        let mut config = json!({
            "apiVersion": info.api_version(),
            "kind": &*info.kind,
            "metadata": {"name": name},
        });
        if let Some(replicas) = replicas {
            set_pointer(&mut config, &paths.spec_replicas, json!(replicas));
        }
        let force = req.query.get("force").is_some_and(|f| f == "true");
        let manager = req.query.get("fieldManager").cloned().unwrap_or_default();
        let (updated, _) = server
            .registry
            .update(info, ns, name, Part::Main, dry_run, |current| {
                let Some(old) = current else {
                    return Err(ApiError::not_found(&info.group, &info.plural, name));
                };
                let mut new = field_manager.apply(Some(old), &config, &manager, force)?;
                objects::meta_mut(&mut new).remove("resourceVersion");
                Ok(new)
            })
            .await?;
        return Ok(json_response(StatusCode::OK, &scale_of(&updated, &paths)));
    }
    let (updated, _) = server
        .registry
        .update(info, ns, name, Part::Main, dry_run, |current| {
            let Some(old) = current else {
                return Err(ApiError::not_found(&info.group, &info.plural, name));
            };
            let current_scale = scale_of(old, &paths);
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
            match new.pointer_mut(&paths.spec_replicas) {
                Some(slot) => *slot = json!(replicas),
                None => set_pointer(&mut new, &paths.spec_replicas, json!(replicas)),
            }
            field_manager.update(Some(old), &mut new, &manager);
            Ok(new)
        })
        .await?;
    Ok(json_response(StatusCode::OK, &scale_of(&updated, &paths)))
}

/// The replicas an applied Scale sets, after checking it is one.
fn applied_replicas(body: &[u8]) -> Result<Option<i64>, ApiError> {
    let config: Value = serde_norway::from_slice(body)
        .map_err(|e| ApiError::bad_request(&format!("error decoding YAML: {e}")))?;
    crate::managedfields::check_applied_type(&config, "autoscaling/v1", "Scale")?;
    match config.pointer("/spec/replicas") {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_i64().map(Some).ok_or_else(|| {
            ApiError::bad_request("spec.replicas of an applied Scale must be an integer")
        }),
    }
}

/// Sets `value` at a JSON pointer, creating the objects on the way.
fn set_pointer(obj: &mut Value, pointer: &str, value: Value) {
    let mut current = obj;
    let parts: Vec<&str> = pointer.trim_start_matches('/').split('/').collect();
    for (i, part) in parts.iter().enumerate() {
        if !current.is_object() {
            *current = json!({});
        }
        let map = current.as_object_mut().expect("made an object above");
        if i + 1 == parts.len() {
            map.insert(part.to_string(), value);
            return;
        }
        current = map.entry(part.to_string()).or_insert_with(|| json!({}));
    }
}
