//! `POST /api/v1/namespaces/{ns}/serviceaccounts/{name}/token`: a TokenRequest answered with
//! a signed token for the service account, optionally bound to a pod, secret or node
//! (upstream's `pkg/registry/core/serviceaccount/storage/token.go`).

use std::sync::{Arc, LazyLock};

use axum::body::Body;
use den_apimachinery::status::ApiError;
use den_apimachinery::validation::{BadValue, FieldError};
use http::{Response, StatusCode};
use k8s_openapi::api::authentication::v1::TokenRequest;
use serde_json::{Value, json};

use super::serviceaccount::{
    EXPIRATION_EXTENSION_SECONDS, ObjectRef, TokenClaims, WARN_ONLY_BOUND_TOKEN_EXPIRATION_SECONDS,
    get, unix_now,
};
use crate::handlers::{self, ResourceRequest};
use crate::objects::{self, str_at};
use crate::resources::ResourceInfo;
use crate::server::ApiServer;

const GROUP: &str = "authentication.k8s.io";
const KIND: &str = "TokenRequest";
/// Upstream's bounds on `spec.expirationSeconds`.
const MIN_EXPIRATION_SECONDS: i64 = 10 * 60;
const MAX_EXPIRATION_SECONDS: i64 = 1 << 32;
/// `spec.expirationSeconds` when none is asked for (upstream's default).
const DEFAULT_EXPIRATION_SECONDS: i64 = 60 * 60;

/// The body kind of `serviceaccounts/token`.
static TOKEN_REQUEST: LazyLock<Arc<ResourceInfo>> =
    LazyLock::new(|| Arc::new(crate::resources::request_kind::<TokenRequest>(true)));

fn invalid(name: &str, error: FieldError) -> ApiError {
    ApiError::invalid(GROUP, KIND, name, vec![error.to_cause()])
}

/// Serves `serviceaccounts/{name}/token`: create only.
pub async fn serve(
    server: &ApiServer,
    req: &ResourceRequest,
    body: Body,
) -> Result<Response<Body>, ApiError> {
    if req.request.verb != "create" {
        return Err(super::reviews::method_not_allowed());
    }
    // The body is a TokenRequest, not the service account the path names; warnings about
    // it are the request's.
    let body_req = ResourceRequest {
        info: TOKEN_REQUEST.clone(),
        request: req.request.clone(),
        query: req.query.clone(),
        headers: req.headers.clone(),
        output: req.output,
        warnings: Default::default(),
        user: req.user.clone(),
    };
    let mut request = super::reviews::read_review(&body_req, body).await?;
    let answered = issue(server, req, &mut request).await?;
    let warnings = std::mem::take(&mut *body_req.warnings.lock().expect("warnings lock"));
    req.warnings.lock().expect("warnings lock").extend(warnings);
    Ok(handlers::respond_object(
        &body_req,
        StatusCode::CREATED,
        answered,
    ))
}

/// Fills in the request's defaults, checks it and the object it binds to, and signs a token.
async fn issue(
    server: &ApiServer,
    req: &ResourceRequest,
    request: &mut Value,
) -> Result<Value, ApiError> {
    let name = req.request.name.as_str();
    let namespace = req.request.namespace.as_str();
    let body_name = objects::name(request).to_string();
    if !body_name.is_empty() && body_name != name {
        return Err(invalid(
            name,
            FieldError::invalid(
                "metadata.name",
                BadValue::Str(body_name),
                "must match the service account name if specified",
            ),
        ));
    }
    let service_account = get(server, "serviceaccounts", namespace, name).await?;

    let tokens = &server.service_accounts;
    let spec = request
        .as_object_mut()
        .expect("objects are JSON objects")
        .entry("spec")
        .or_insert_with(|| json!({}));
    if spec
        .get("audiences")
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty)
    {
        spec["audiences"] = json!(tokens.api_audiences());
    }
    if spec.get("expirationSeconds").is_none_or(Value::is_null) {
        spec["expirationSeconds"] = json!(DEFAULT_EXPIRATION_SECONDS);
    }
    let meta = objects::meta_mut(request);
    meta.insert("name".into(), name.into());
    meta.insert("namespace".into(), namespace.into());
    let now = unix_now();
    let created = chrono::DateTime::from_timestamp(now, 0)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    meta.insert("creationTimestamp".into(), created.into());
    request
        .as_object_mut()
        .expect("objects are JSON objects")
        .remove("status");

    let spec = &request["spec"];
    let expiration = spec["expirationSeconds"].as_i64().unwrap_or(0);
    let out_of_bounds = if expiration < MIN_EXPIRATION_SECONDS {
        Some("may not specify a duration less than 10 minutes")
    } else if expiration > MAX_EXPIRATION_SECONDS {
        Some("may not specify a duration larger than 2^32 seconds")
    } else {
        None
    };
    if let Some(detail) = out_of_bounds {
        let error =
            FieldError::invalid("spec.expirationSeconds", BadValue::Int(expiration), detail);
        return Err(invalid("", error));
    }
    let audiences: Vec<String> = spec["audiences"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a.as_str().map(str::to_string))
        .collect();

    let mut claims = TokenClaims {
        namespace: namespace.to_string(),
        service_account: ObjectRef::of(&service_account),
        audiences,
        issued_at: now,
        expiration_seconds: expiration,
        id: uuid::Uuid::new_v4().to_string(),
        ..TokenClaims::default()
    };
    if let Some(bound) = spec.get("boundObjectRef").filter(|v| !v.is_null()) {
        bind(server, name, namespace, bound, &mut claims).await?;
    }
    // Kubelets ask for this odd expiration; upstream lets such pod-bound tokens live a year
    // and only reports them stale after the hour, so that clients that do not yet reload
    // their tokens keep working.
    let kube_audiences = claims
        .audiences
        .iter()
        .all(|a| tokens.api_audiences().contains(a));
    if claims.pod.is_some()
        && expiration == WARN_ONLY_BOUND_TOKEN_EXPIRATION_SECONDS
        && kube_audiences
    {
        claims.warn_after_seconds = expiration;
        claims.expiration_seconds = EXPIRATION_EXTENSION_SECONDS;
    }
    let token = tokens
        .sign(&claims.to_json())
        .map_err(|e| ApiError::internal(&format!("failed to generate token: {e}")))?;
    let expires = chrono::DateTime::from_timestamp(now + expiration, 0)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    request["status"] = json!({"token": token, "expirationTimestamp": expires});
    Ok(request.clone())
}

/// Binds the token to the pod, secret or node `bound` names, which must exist (with the UID
/// given, if any); a pod must run as this service account.
async fn bind(
    server: &ApiServer,
    service_account: &str,
    namespace: &str,
    bound: &Value,
    claims: &mut TokenClaims,
) -> Result<(), ApiError> {
    let field = |f: &str| bound.get(f).and_then(Value::as_str).unwrap_or("");
    let (api_version, kind, name, uid) = (
        field("apiVersion"),
        field("kind"),
        field("name"),
        field("uid"),
    );
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let obj = match (group, kind) {
        ("", "Pod") => {
            let pod = get(server, "pods", namespace, name).await?;
            if str_at(&pod, "/spec/serviceAccountName") != service_account {
                return Err(ApiError::bad_request(&format!(
                    "cannot bind token for serviceaccount {} to pod running with different serviceaccount name.",
                    den_apimachinery::validation::go_quote(service_account)
                )));
            }
            let node_name = str_at(&pod, "/spec/nodeName");
            if !node_name.is_empty() {
                claims.node = Some(match get(server, "nodes", "", node_name).await {
                    Ok(node) => ObjectRef::of(&node),
                    Err(e) if e.code == 404 => ObjectRef {
                        name: node_name.to_string(),
                        uid: String::new(),
                    },
                    Err(e) => return Err(ApiError::internal(&e.message)),
                });
            }
            claims.pod = Some(ObjectRef::of(&pod));
            pod
        }
        ("", "Node") => {
            let node = get(server, "nodes", "", name).await?;
            claims.node = Some(ObjectRef::of(&node));
            node
        }
        ("", "Secret") => {
            let secret = get(server, "secrets", namespace, name).await?;
            claims.secret = Some(ObjectRef::of(&secret));
            secret
        }
        _ => {
            return Err(ApiError::bad_request(&format!(
                "cannot bind token to object of type {group}/{version}, Kind={kind}"
            )));
        }
    };
    let actual = objects::meta_str(&obj, "uid").unwrap_or("");
    if !uid.is_empty() && uid != actual {
        return Err(ApiError::conflict(
            group,
            kind,
            name,
            &format!(
                "the UID in the bound object reference ({uid}) does not match the UID in record. The object might have been deleted and then recreated"
            ),
        ));
    }
    Ok(())
}
