//! The REST handlers: one per verb, generic over every resource in the table.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use bytes::Bytes;
use den_apimachinery::fields::FieldSelector;
use den_apimachinery::labels::LabelSelector;
use den_apimachinery::request_info::RequestInfo;
use den_apimachinery::status::ApiError;
use http::{HeaderMap, Method, Response, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};

use crate::fieldvalidation::{self, FieldValidation};
use crate::managedfields::{self, ResourceSchema};
use crate::negotiation::Output;
use crate::objects;
use crate::openapi::OpenApi;
use crate::registry::{DeleteOptions, ListOptions, Part};
use crate::resources::{Codec, ResourceInfo};
use crate::server::ApiServer;
use crate::strategicpatch::strategic_merge_patch;
use crate::{scale, strategy, table, watch};

/// Upstream's maximum request body (3 MiB).
pub const MAX_REQUEST_BODY: usize = 3 * 1024 * 1024;

pub type Query = HashMap<String, String>;

pub fn parse_query(query: &str) -> Query {
    form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect()
}

/// Everything a resource handler needs about the request.
pub struct ResourceRequest {
    pub info: Arc<ResourceInfo>,
    pub request: RequestInfo,
    pub query: Query,
    pub headers: HeaderMap,
    pub output: Output,
    /// Warnings for the response's `Warning` headers.
    pub warnings: std::sync::Mutex<Vec<String>>,
    /// Who is asking (after impersonation).
    pub user: crate::auth::UserInfo,
}

impl ResourceRequest {
    pub(crate) fn dry_run(&self) -> Result<bool, ApiError> {
        match self.query.get("dryRun").map(String::as_str) {
            None | Some("") => Ok(false),
            Some("All") => Ok(true),
            Some(other) => Err(ApiError::bad_request(&format!(
                "Invalid dry run value: {other}: supported values: \"All\""
            ))),
        }
    }

    fn namespace(&self) -> &str {
        &self.request.namespace
    }

    /// The manager a non-apply write is recorded under: `fieldManager` or the User-Agent.
    pub fn manager(&self) -> String {
        let user_agent = self
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        managedfields::manager_or_user_agent(
            self.query.get("fieldManager").map(String::as_str),
            user_agent,
        )
    }

    /// Upstream's checks of `fieldManager` and `force`: `CreateOptions`, `UpdateOptions` or
    /// `PatchOptions` "is invalid".
    pub fn check_write_options(&self, options_kind: &str, apply: bool) -> Result<(), ApiError> {
        let mut causes = managedfields::validate_field_manager(
            self.query.get("fieldManager").map(String::as_str),
            apply,
        );
        if options_kind == "PatchOptions" && !apply && self.query.contains_key("force") {
            causes.insert(
                0,
                den_apimachinery::validation::Cause {
                    reason: "FieldValueForbidden".into(),
                    message: "Forbidden: may not be specified for non-apply patch".into(),
                    field: "force".into(),
                },
            );
        }
        if causes.is_empty() {
            return Ok(());
        }
        Err(ApiError::invalid("meta.k8s.io", options_kind, "", causes))
    }

    /// The subresource whose field manager records this write.
    fn managed_subresource(&self, part: Part) -> &str {
        match part {
            Part::Main => "",
            _ => self.request.subresource.as_str(),
        }
    }

    fn name(&self) -> &str {
        &self.request.name
    }
}

pub fn json_response(code: StatusCode, body: &Value) -> Response<Body> {
    Response::builder()
        .status(code)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(
            serde_json::to_vec(body).expect("JSON values serialize"),
        ))
        .expect("valid response")
}

pub fn error_response(err: &ApiError) -> Response<Body> {
    let code = StatusCode::from_u16(err.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    json_response(code, &err.to_status_json())
}

/// Reads the body, at most [`MAX_REQUEST_BODY`] bytes.
pub async fn read_body(mut body: Body) -> Result<Bytes, ApiError> {
    let mut buffer = bytes::BytesMut::new();
    let mut total = 0usize;
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            return Err(ApiError::bad_request("error reading the request body"));
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        total += data.len();
        if total <= MAX_REQUEST_BODY {
            buffer.extend_from_slice(&data);
        } else if total > DRAIN_LIMIT {
            break;
        }
    }
    if total > MAX_REQUEST_BODY {
        // The rest was read and dropped so the client, still sending, gets this answer.
        return Err(ApiError::request_entity_too_large(&format!(
            "limit is {MAX_REQUEST_BODY}"
        )));
    }
    Ok(buffer.freeze())
}

/// How much of an oversized body is drained before the connection is given up.
const DRAIN_LIMIT: usize = 64 * 1024 * 1024;

fn content_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Decodes a JSON, YAML or (for built-in kinds) protobuf body into an object.
pub fn decode_body(headers: &HeaderMap, body: &[u8]) -> Result<Value, ApiError> {
    let value: Value = match content_type(headers).as_str() {
        crate::protobuf::CONTENT_TYPE => crate::protobuf::decode_object(body).map_err(|e| {
            if e.starts_with("no protobuf message is known") {
                ApiError::unsupported_media_type(crate::errors::BODY_MEDIA_TYPES)
            } else {
                ApiError::bad_request(&format!("error decoding protobuf: {e}"))
            }
        })?,
        "application/yaml" | "application/apply-patch+yaml" => serde_norway::from_slice(body)
            .map_err(|e| ApiError::bad_request(&format!("error converting YAML to JSON: {e}")))?,
        "application/json" | "" | "*/*" => serde_json::from_slice(body).map_err(|e| {
            ApiError::bad_request(&format!("couldn't get version/kind; json parse error: {e}"))
        })?,
        _ => {
            return Err(ApiError::unsupported_media_type(
                crate::errors::BODY_MEDIA_TYPES,
            ));
        }
    };
    if !value.is_object() {
        return Err(ApiError::bad_request(
            "the body of the request must be a JSON object",
        ));
    }
    Ok(value)
}

/// `obj` without object members whose value is `null`, at any depth.
fn without_nulls(mut obj: Value) -> Value {
    fn strip(value: &mut Value) {
        match value {
            Value::Object(map) => {
                map.retain(|_, v| !v.is_null());
                map.values_mut().for_each(strip);
            }
            Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    strip(&mut obj);
    obj
}

/// Go's zero `metav1.Time`, which it writes as `null`: a condition's `lastTransitionTime` is
/// a plain struct upstream, so a condition without one is accepted (Service status conditions
/// are not validated) and served with `null`. The typed structs require a time, so the zero
/// time stands in while they decode.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// Gives every condition (an item of a `conditions` list) without `lastTransitionTime` the
/// zero time; whether there was any.
fn mark_zero_condition_times(value: &mut Value) -> bool {
    let mut marked = false;
    match value {
        Value::Object(map) => {
            for (key, child) in map.iter_mut() {
                if key == "conditions"
                    && let Value::Array(conditions) = child
                {
                    for condition in conditions.iter_mut().filter_map(Value::as_object_mut) {
                        if !condition.contains_key("lastTransitionTime") {
                            condition.insert("lastTransitionTime".into(), json!(ZERO_TIME));
                            marked = true;
                        }
                    }
                }
                marked |= mark_zero_condition_times(child);
            }
        }
        Value::Array(items) => {
            for item in items {
                marked |= mark_zero_condition_times(item);
            }
        }
        _ => {}
    }
    marked
}

/// Writes the zero time of conditions as Go does: `null`.
fn restore_zero_condition_times(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, child) in map.iter_mut() {
                if key == "lastTransitionTime" && child == ZERO_TIME {
                    *child = Value::Null;
                } else {
                    restore_zero_condition_times(child);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(restore_zero_condition_times),
        _ => {}
    }
}

/// The fields a JSON body repeats (YAML and protobuf cannot repeat a field here).
fn body_duplicates(headers: &HeaderMap, body: &[u8]) -> Vec<String> {
    if content_type(headers).ends_with("json") || content_type(headers).is_empty() {
        fieldvalidation::duplicate_fields(body)
    } else {
        Vec::new()
    }
}

/// Checks `apiVersion`/`kind` of a body against the resource and decodes it through the
/// typed struct, which drops unknown fields and rejects wrong types like upstream's decoder.
/// `duplicates` are the fields the request body repeated (see `fieldvalidation`).
fn canonicalize(
    req: &ResourceRequest,
    mut obj: Value,
    duplicates: &[String],
) -> Result<Value, ApiError> {
    let info = &req.info;
    let want_version = info.api_version();
    match obj.get("apiVersion").and_then(Value::as_str) {
        Some(v) if v != want_version => {
            return Err(ApiError::bad_request(&format!(
                "the API version in the data ({v}) does not match the expected API version ({want_version})"
            )));
        }
        Some(_) => {}
        None => obj["apiVersion"] = json!(want_version),
    }
    match obj.get("kind").and_then(Value::as_str) {
        Some(k) if k != info.kind => {
            return Err(ApiError::bad_request(&format!(
                "the kind in the data ({k}) does not match the expected kind ({})",
                &info.kind
            )));
        }
        Some(_) => {}
        None => obj["kind"] = json!(&info.kind),
    }
    let cannot_handle = |e: &dyn std::fmt::Display| {
        ApiError::bad_request(&format!(
            "{kind} in version \"{version}\" cannot be handled as a {kind}: {e}",
            kind = info.kind,
            version = info.version
        ))
    };
    let validation = FieldValidation::parse(req.query.get("fieldValidation").map(String::as_str))?;
    // Built-in kinds drop unknown fields in the typed decode; custom resources prune them.
    let (decoded, unknown) = match &info.codec {
        Codec::Builtin(builtin) => {
            // Go decodes `null` as the field's zero value; the typed structs take it as absent.
            let mut input = without_nulls(obj.clone());
            let zero_times = mark_zero_condition_times(&mut input);
            let mut decoded = (builtin.canonicalize)(input).map_err(|e| cannot_handle(&e))?;
            if zero_times {
                restore_zero_condition_times(&mut decoded);
            }
            let unknown = fieldvalidation::unknown_fields(&obj, &decoded);
            (decoded, unknown)
        }
        Codec::Custom(custom) => custom.canonicalize(obj)?,
    };
    if validation != FieldValidation::Ignore {
        let mut unknown = fieldvalidation::describe(&unknown);
        unknown.extend(
            duplicates
                .iter()
                .map(|f| format!("duplicate field \"{f}\"")),
        );
        if !unknown.is_empty() {
            if validation == FieldValidation::Strict {
                return Err(cannot_handle(&format!(
                    "strict decoding error: {}",
                    unknown.join(", ")
                )));
            }
            req.warnings.lock().expect("warnings lock").extend(unknown);
        }
    }
    Ok(decoded)
}

pub async fn handle(
    server: &ApiServer,
    mut req: ResourceRequest,
    method: &Method,
    body: Body,
) -> Result<Response<Body>, ApiError> {
    let info = req.info.clone();
    if !info.namespaced && !req.request.namespace.is_empty() {
        // `/api/v1/namespaces/{name}` names a namespace, which upstream's request info
        // also reports as the request's namespace.
        if !info.is("", "namespaces") {
            return Err(crate::errors::no_such_route());
        }
        req.request.namespace.clear();
    }
    if let Codec::Custom(custom) = &info.codec
        && let Some(warning) = &custom.deprecation_warning
    {
        req.warnings
            .lock()
            .expect("warnings lock")
            .push(warning.clone());
    }
    // Admission plugins add warnings from deep inside the write.
    let (response, warnings) = crate::warning::collect(dispatch(server, &req, method, body)).await;
    req.warnings.lock().expect("warnings lock").extend(warnings);
    let mut response = response?;
    for warning in req.warnings.lock().expect("warnings lock").iter() {
        let escaped = warning.replace('\\', "\\\\").replace('"', "\\\"");
        if let Ok(value) = format!("299 - \"{escaped}\"").parse() {
            response.headers_mut().append("Warning", value);
        }
    }
    Ok(response)
}

async fn dispatch(
    server: &ApiServer,
    req: &ResourceRequest,
    method: &Method,
    body: Body,
) -> Result<Response<Body>, ApiError> {
    let info = &req.info;
    let sub = req.request.subresource.as_str();
    match (req.request.verb.as_str(), sub) {
        _ if info.create_only => crate::auth::reviews::serve(server, req, body).await,
        (_, "token") if info.is("", "serviceaccounts") => {
            crate::auth::tokenrequest::serve(server, req, body).await
        }
        ("create", "eviction") if info.is("", "pods") => {
            crate::eviction::serve(server, req, body).await
        }
        ("get", "" | "status") => get(server, req).await,
        ("list", "") => list(server, req).await,
        ("watch", "") => watch::serve(server, req).await,
        ("create", "") => create(server, req, body).await,
        ("update", "") => update(server, req, body, Part::Main).await,
        ("update", "status") if info.status_subresource => {
            update(server, req, body, Part::Status).await
        }
        ("update", "finalize") if info.plural == "namespaces" && info.group.is_empty() => {
            update(server, req, body, Part::Finalize).await
        }
        // A CSR's approval is a status change: conditions only.
        ("get", "approval") if info.is("certificates.k8s.io", "certificatesigningrequests") => {
            get(server, req).await
        }
        ("update", "approval") if info.is("certificates.k8s.io", "certificatesigningrequests") => {
            update(server, req, body, Part::Status).await
        }
        ("patch", "approval") if info.is("certificates.k8s.io", "certificatesigningrequests") => {
            patch(server, req, body, Part::Status).await
        }
        ("patch", "") => patch(server, req, body, Part::Main).await,
        ("patch", "status") if info.status_subresource => {
            patch(server, req, body, Part::Status).await
        }
        ("delete", "") => delete(server, req, body).await,
        ("deletecollection", "") => delete_collection(server, req, body).await,
        (_, "scale") if info.scale_subresource => scale::handle(server, req, method, body).await,
        _ => Err(crate::errors::no_such_route()),
    }
}

async fn get(server: &ApiServer, req: &ResourceRequest) -> Result<Response<Body>, ApiError> {
    let obj = server
        .registry
        .get(&req.info, req.namespace(), req.name())
        .await?;
    Ok(respond_object(req, StatusCode::OK, obj))
}

/// Serializes one object as the client asked: the object or a one-row Table.
pub fn respond_object(req: &ResourceRequest, code: StatusCode, obj: Value) -> Response<Body> {
    match &req.output {
        Output::Table { include_object } => {
            let table = table::table(
                &req.info,
                std::slice::from_ref(&obj),
                *include_object,
                true,
                &json!({
                    "resourceVersion": objects::meta_str(&obj, "resourceVersion").unwrap_or("")
                }),
            );
            json_response(code, &table)
        }
        Output::Metadata { version } => json_response(
            code,
            &crate::negotiation::partial_object_metadata(&obj, version),
        ),
        Output::Object => json_response(code, &obj),
    }
}

/// Upstream's `ValidateListOptions` of `resourceVersionMatch` and `sendInitialEvents`, for a
/// list or (`watch=true`) a watch: 422 `ListOptions.meta.k8s.io "" is invalid`.
fn check_resource_version_match(
    req: &ResourceRequest,
    resource_version: &str,
    resource_version_match: Option<&str>,
) -> Result<(), ApiError> {
    let cause = |reason: &str, message: String| den_apimachinery::validation::Cause {
        reason: reason.into(),
        message,
        field: "resourceVersionMatch".into(),
    };
    let send_initial_events = req.query.contains_key("sendInitialEvents");
    let mut causes = Vec::new();
    if req.request.verb == "watch" {
        // sendInitialEvents itself is checked with the other watch parameters.
        if let Some(m) = resource_version_match {
            if !send_initial_events {
                causes.push(cause("FieldValueForbidden", "Forbidden: resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided".into()));
            }
            if m != "NotOlderThan" {
                causes.push(cause(
                    "FieldValueNotSupported",
                    format!("Unsupported value: \"{m}\": supported values: \"NotOlderThan\""),
                ));
            }
        }
    } else {
        if let Some(m) = resource_version_match {
            if resource_version.is_empty() {
                causes.push(cause("FieldValueForbidden", "Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided".into()));
            }
            match m {
                "NotOlderThan" => {}
                "Exact" if resource_version == "0" => causes.push(cause("FieldValueForbidden", "Forbidden: resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\"".into())),
                "Exact" => {}
                other => causes.push(cause("FieldValueNotSupported", format!("Unsupported value: \"{other}\": supported values: \"Exact\", \"NotOlderThan\""))),
            }
        }
        if send_initial_events {
            causes.push(den_apimachinery::validation::Cause {
                reason: "FieldValueForbidden".into(),
                message: "Forbidden: sendInitialEvents is forbidden for list".into(),
                field: "sendInitialEvents".into(),
            });
        }
    }
    if causes.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid("meta.k8s.io", "ListOptions", "", causes))
    }
}

pub fn list_options(req: &ResourceRequest) -> Result<ListOptions, ApiError> {
    let labels = match req.query.get("labelSelector") {
        Some(s) if !s.is_empty() => {
            Some(LabelSelector::parse(s).map_err(|e| ApiError::bad_request(&e))?)
        }
        _ => None,
    };
    let fields = match req.query.get("fieldSelector") {
        Some(s) if !s.is_empty() => {
            let selector = FieldSelector::parse(s).map_err(|e| ApiError::bad_request(&e))?;
            let allowed = strategy::selectable_fields(&req.info);
            for requirement in selector.requirements() {
                let field = requirement.field.as_str();
                if !matches!(field, "metadata.name" | "metadata.namespace")
                    && !allowed.iter().any(|a| a == field)
                {
                    return Err(ApiError::bad_request(&format!(
                        "field label not supported: {field}"
                    )));
                }
            }
            Some(selector)
        }
        _ => None,
    };
    let limit = match req.query.get("limit") {
        Some(s) if !s.is_empty() => s
            .parse::<i64>()
            .map_err(|_| ApiError::bad_request(&format!("invalid limit: {s}")))?
            .max(0) as usize,
        _ => 0,
    };
    let continue_token = req.query.get("continue").filter(|c| !c.is_empty()).cloned();
    let resource_version = req.query.get("resourceVersion").cloned();
    let resource_version_match = req
        .query
        .get("resourceVersionMatch")
        .filter(|m| !m.is_empty())
        .cloned();
    check_resource_version_match(
        req,
        resource_version.as_deref().unwrap_or(""),
        resource_version_match.as_deref(),
    )?;
    if continue_token.is_some()
        && resource_version
            .as_deref()
            .is_some_and(|rv| !rv.is_empty() && rv != "0")
    {
        return Err(ApiError::bad_request(
            "specifying resource version is not allowed when using continue",
        ));
    }
    if let Some(rv) = resource_version.as_deref()
        && !rv.is_empty()
        && rv.parse::<u64>().is_err()
    {
        return Err(ApiError::bad_request(&format!(
            "invalid resource version: {rv}"
        )));
    }
    Ok(ListOptions {
        labels,
        fields,
        limit,
        continue_token,
        resource_version,
        resource_version_match,
    })
}

async fn list(server: &ApiServer, req: &ResourceRequest) -> Result<Response<Body>, ApiError> {
    let opts = list_options(req)?;
    let plain = req.output == Output::Object
        && opts.labels.as_ref().is_none_or(|l| l.is_empty())
        && opts.fields.is_none()
        && matches!(req.info.builtin(), Some(b) if b.conversion.is_none());
    if plain {
        return list_stored(server, req, &opts).await;
    }
    let page = server
        .registry
        .list(&req.info, req.namespace(), &opts)
        .await?;
    let metadata = list_metadata(
        page.revision,
        page.continue_token.as_deref(),
        page.remaining,
    );
    let body = match &req.output {
        Output::Table { include_object } => {
            table::table(&req.info, &page.items, *include_object, true, &metadata)
        }
        Output::Metadata { version } => json!({
            "kind": "PartialObjectMetadataList",
            "apiVersion": format!("meta.k8s.io/{version}"),
            "metadata": metadata,
            "items": page
                .items
                .iter()
                .map(|obj| crate::negotiation::partial_object_metadata(obj, version))
                .collect::<Vec<_>>(),
        }),
        Output::Object => json!({
            "kind": req.info.list_kind,
            "apiVersion": req.info.api_version(),
            "metadata": metadata,
            "items": page.items,
        }),
    };
    Ok(json_response(StatusCode::OK, &body))
}

/// A list's `ListMeta`: its revision, and the continue token and remaining count of a page.
fn list_metadata(
    revision: den_storage::Revision,
    continue_token: Option<&str>,
    remaining: Option<i64>,
) -> Value {
    let mut metadata = json!({"resourceVersion": revision.to_string()});
    if let Some(token) = continue_token {
        metadata["continue"] = json!(token);
    }
    if let Some(remaining) = remaining {
        metadata["remainingItemCount"] = json!(remaining);
    }
    metadata
}

/// A plain JSON list of a built-in kind: the stored bytes, each with its `resourceVersion`
/// spliced in, so a large list costs no decode and re-encode of every object.
async fn list_stored(
    server: &ApiServer,
    req: &ResourceRequest,
    opts: &ListOptions,
) -> Result<Response<Body>, ApiError> {
    let page = server
        .registry
        .list_stored(&req.info, req.namespace(), opts)
        .await?;
    let metadata = list_metadata(
        page.revision,
        page.continue_token.as_deref(),
        page.remaining,
    );
    let head = json!({"kind": req.info.list_kind, "apiVersion": req.info.api_version(), "metadata": metadata});
    let head = serde_json::to_vec(&head).expect("JSON values serialize");
    let size: usize = page.items.iter().map(|kv| kv.value.len() + 40).sum();
    let mut body = Vec::with_capacity(head.len() + size + 16);
    body.extend_from_slice(&head[..head.len() - 1]);
    body.extend_from_slice(b",\"items\":[");
    for (index, kv) in page.items.iter().enumerate() {
        if index > 0 {
            body.push(b',');
        }
        if !objects::splice_resource_version_into(&mut body, &kv.value, kv.mod_revision) {
            let obj = req.info.decode(kv);
            body.extend_from_slice(&serde_json::to_vec(&obj).expect("JSON values serialize"));
        }
    }
    body.extend_from_slice(b"]}");
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .expect("valid response"))
}

/// The object a create or update sends: decoded, checked against the resource and the
/// request's namespace, with unknown and duplicate fields handled per `fieldValidation`.
pub(crate) async fn read_object(req: &ResourceRequest, body: Body) -> Result<Value, ApiError> {
    let bytes = read_body(body).await?;
    let duplicates = body_duplicates(&req.headers, &bytes);
    let obj = canonicalize(req, decode_body(&req.headers, &bytes)?, &duplicates)?;
    let ns = objects::namespace(&obj);
    if req.info.namespaced && !ns.is_empty() && ns != req.namespace() {
        return Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        ));
    }
    Ok(obj)
}

async fn create(
    server: &ApiServer,
    req: &ResourceRequest,
    body: Body,
) -> Result<Response<Body>, ApiError> {
    req.check_write_options("CreateOptions", false)?;
    let mut obj = read_object(req, body).await?;
    let schema = ResourceSchema::new(&req.info);
    schema
        .field_manager(&req.info, "")
        .update(None, &mut obj, &req.manager());
    if req.info.is("", "services") {
        server.allocate_service_addresses(&mut obj).await?;
    }
    let created = server
        .registry
        .create_admitted(&req.info, req.namespace(), obj, req.dry_run()?, &req.user)
        .await?;
    Ok(respond_object(req, StatusCode::CREATED, created))
}

/// Checks a body's `metadata.resourceVersion` against the stored one (an optimistic lock).
fn check_resource_version(
    info: &ResourceInfo,
    name: &str,
    new: &Value,
    old: &Value,
) -> Result<(), ApiError> {
    let want = objects::meta_str(new, "resourceVersion").unwrap_or("");
    if !want.is_empty() && Some(want) != objects::meta_str(old, "resourceVersion") {
        return Err(ApiError::conflict(
            &info.group,
            &info.plural,
            name,
            crate::registry::OPTIMISTIC_LOCK,
        ));
    }
    Ok(())
}

async fn update(
    server: &ApiServer,
    req: &ResourceRequest,
    body: Body,
    part: Part,
) -> Result<Response<Body>, ApiError> {
    req.check_write_options("UpdateOptions", false)?;
    let obj = read_object(req, body).await?;
    let body_name = objects::name(&obj);
    if body_name != req.name() {
        return Err(ApiError::bad_request(&format!(
            "the name of the object ({body_name}) does not match the name on the URL ({})",
            req.name()
        )));
    }
    let info = &req.info;
    let name = req.name();
    let schema = ResourceSchema::new(info);
    let field_manager = schema.field_manager(info, req.managed_subresource(part));
    let manager = req.manager();
    let (result, created) = server
        .registry
        .update_admitted(
            info,
            req.namespace(),
            name,
            (part, req.managed_subresource(part)),
            req.dry_run()?,
            &req.user,
            |current| {
                if let Some(old) = current {
                    check_resource_version(info, name, &obj, old)?;
                }
                let mut new = obj.clone();
                field_manager.update(current, &mut new, &manager);
                Ok(new)
            },
        )
        .await?;
    let code = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(respond_object(req, code, result))
}

/// Applies a patch document of the request's content type to `current`.
/// `definition` names the object's OpenAPI definition, which strategic merge patch needs;
/// kinds without one (custom resources) answer it with 415 like upstream.
pub fn apply_patch(
    openapi: &OpenApi,
    definition: Option<&str>,
    headers: &HeaderMap,
    patch: &[u8],
    current: &Value,
) -> Result<Value, ApiError> {
    let patch_type = content_type(headers);
    match patch_type.as_str() {
        "application/strategic-merge-patch+json" => {
            let Some(definition) = definition else {
                return Err(ApiError::unsupported_media_type(
                    crate::errors::CUSTOM_PATCH_MEDIA_TYPES,
                ));
            };
            let patch: Value = serde_json::from_slice(patch)
                .map_err(|e| ApiError::bad_request(&format!("error decoding patch: {e}")))?;
            strategic_merge_patch(openapi, definition, current, &patch).map_err(|e| {
                let reason = match e.status_code() {
                    400 => "BadRequest",
                    422 => "Invalid",
                    _ => "Unknown",
                };
                ApiError::new(e.status_code(), reason, &e.to_string())
            })
        }
        "application/merge-patch+json" => {
            let patch: Value = serde_json::from_slice(patch)
                .map_err(|e| ApiError::bad_request(&format!("error decoding patch: {e}")))?;
            let mut out = current.clone();
            json_patch::merge(&mut out, &patch);
            Ok(out)
        }
        "application/json-patch+json" => {
            let patch: json_patch::Patch = serde_json::from_slice(patch)
                .map_err(|e| ApiError::bad_request(&format!("error decoding patch: {e}")))?;
            let mut out = current.clone();
            json_patch::patch(&mut out, &patch)
                .map_err(|e| crate::errors::patch_failed(&json_patch_error(&patch, &e)))?;
            Ok(out)
        }
        _ if definition.is_none() => Err(ApiError::unsupported_media_type(
            crate::errors::CUSTOM_PATCH_MEDIA_TYPES,
        )),
        _ => Err(ApiError::unsupported_media_type(
            crate::errors::PATCH_MEDIA_TYPES,
        )),
    }
}

/// A failed JSON patch operation in the words of upstream's json-patch library.
fn json_patch_error(patch: &json_patch::Patch, err: &json_patch::PatchError) -> String {
    use json_patch::{PatchErrorKind, PatchOperation};
    let path = err.path.to_string();
    let op = match patch.0.get(err.operation) {
        Some(PatchOperation::Add(_)) => "add",
        Some(PatchOperation::Remove(_)) => "remove",
        Some(PatchOperation::Replace(_)) => "replace",
        Some(PatchOperation::Move(_)) => "move",
        Some(PatchOperation::Copy(_)) => "copy",
        Some(PatchOperation::Test(_)) | None => "test",
    };
    match (&err.kind, op) {
        (PatchErrorKind::TestFailed, _) => format!("testing value {path} failed: test failed"),
        (_, "replace") => {
            format!("replace operation does not apply: doc is missing key: {path}: missing value")
        }
        (_, "move" | "copy") => {
            format!(
                "{op} operation does not apply: doc is missing from path: {path:?}: missing value"
            )
        }
        _ => format!("{op} operation does not apply: doc is missing path: {path:?}: missing value"),
    }
}

async fn patch(
    server: &ApiServer,
    req: &ResourceRequest,
    body: Body,
    part: Part,
) -> Result<Response<Body>, ApiError> {
    let apply = is_apply_patch(&req.headers);
    req.check_write_options("PatchOptions", apply)?;
    let patch = read_body(body).await?;
    if apply {
        return apply_patch_request(server, req, &patch, part).await;
    }
    let info = &req.info;
    let name = req.name();
    let headers = &req.headers;
    let duplicates = body_duplicates(headers, &patch);
    let schema = ResourceSchema::new(info);
    let field_manager = schema.field_manager(info, req.managed_subresource(part));
    let manager = req.manager();
    let (result, _) = server
        .registry
        .update_admitted(
            info,
            req.namespace(),
            name,
            (part, req.managed_subresource(part)),
            req.dry_run()?,
            &req.user,
            |current| {
                let Some(old) = current else {
                    return Err(ApiError::not_found(&info.group, &info.plural, name));
                };
                let definition = info.builtin().map(|b| (b.schema_name)());
                let patched =
                    apply_patch(&server.openapi, definition.as_deref(), headers, &patch, old)?;
                // A resourceVersion the patch sets is a precondition, as upstream treats it.
                check_resource_version(info, name, &patched, old)?;
                let mut patched = canonicalize(req, patched, &duplicates)?;
                objects::meta_mut(&mut patched).remove("resourceVersion");
                field_manager.update(Some(old), &mut patched, &manager);
                Ok(patched)
            },
        )
        .await?;
    Ok(respond_object(req, StatusCode::OK, result))
}

const APPLY_PATCH: &str = "application/apply-patch+yaml";

/// Whether a PATCH is a server-side apply.
pub fn is_apply_patch(headers: &HeaderMap) -> bool {
    content_type(headers) == APPLY_PATCH
}

/// Server-side apply: the configuration is merged into the live object by its field manager,
/// or, when there is no object yet, becomes one (created like any other).
async fn apply_patch_request(
    server: &ApiServer,
    req: &ResourceRequest,
    patch: &[u8],
    part: Part,
) -> Result<Response<Body>, ApiError> {
    let config: Value = serde_norway::from_slice(patch)
        .map_err(|e| ApiError::bad_request(&format!("error decoding YAML: {e}")))?;
    if !config.is_object() {
        return Err(ApiError::bad_request(
            "error decoding YAML: the patch must be a YAML mapping",
        ));
    }
    let info = &req.info;
    let name = req.name();
    let force = match req.query.get("force").map(String::as_str) {
        None | Some("false") => false,
        Some("true" | "") => true,
        Some(other) => {
            return Err(ApiError::bad_request(&format!(
                "invalid boolean value for force: {other}"
            )));
        }
    };
    let manager = req.query.get("fieldManager").cloned().unwrap_or_default();
    let schema = ResourceSchema::new(info);
    let field_manager = schema.field_manager(info, req.managed_subresource(part));
    let dry_run = req.dry_run()?;
    let validation = FieldValidation::parse(req.query.get("fieldValidation").map(String::as_str))?;
    let duplicate = match validation {
        FieldValidation::Ignore => None,
        _ => fieldvalidation::yaml_duplicate_key(patch),
    };
    let applied = |live: Option<&Value>| -> Result<Value, ApiError> {
        let obj = field_manager.apply(live, &config, &manager, force)?;
        // Like upstream, the strict decoding of the configuration comes after the apply.
        if let Some(duplicate) = &duplicate {
            let error =
                format!("error converting YAML to JSON: yaml: unmarshal errors:\n  {duplicate}");
            if validation == FieldValidation::Strict {
                return Err(ApiError::bad_request(&format!(
                    "error strict decoding YAML: {error}"
                )));
            }
            let mut warnings = req.warnings.lock().expect("warnings lock");
            if !warnings.contains(&error) {
                warnings.push(error);
            }
        }
        let body_name = objects::name(&obj);
        if body_name != name {
            return Err(ApiError::bad_request(&format!(
                "the name of the object ({body_name}) does not match the name on the URL ({name})"
            )));
        }
        let mut obj = canonicalize(req, obj, &[])?;
        objects::meta_mut(&mut obj).remove("resourceVersion");
        Ok(obj)
    };
    loop {
        let exists = match server.registry.get(info, req.namespace(), name).await {
            Ok(_) => true,
            Err(e) if e.code == 404 => false,
            Err(e) => return Err(e),
        };
        if !exists && part == Part::Main {
            let mut obj = applied(None)?;
            let ns = objects::namespace(&obj);
            if info.namespaced && !ns.is_empty() && ns != req.namespace() {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
            if info.is("", "services") {
                server.allocate_service_addresses(&mut obj).await?;
            }
            match server
                .registry
                .create_admitted(info, req.namespace(), obj, dry_run, &req.user)
                .await
            {
                Ok(created) => return Ok(respond_object(req, StatusCode::CREATED, created)),
                // Created meanwhile: apply to it.
                Err(e) if e.code == 409 && e.reason == "AlreadyExists" => continue,
                Err(e) => return Err(e),
            }
        }
        let updated = server
            .registry
            .update_admitted(
                info,
                req.namespace(),
                name,
                (part, req.managed_subresource(part)),
                dry_run,
                &req.user,
                |current| {
                    let Some(old) = current else {
                        return Err(ApiError::not_found(&info.group, &info.plural, name));
                    };
                    applied(Some(old))
                },
            )
            .await;
        match updated {
            Ok((result, _)) => return Ok(respond_object(req, StatusCode::OK, result)),
            // Deleted meanwhile: create it.
            Err(e) if e.code == 404 && part == Part::Main => continue,
            Err(e) => return Err(e),
        }
    }
}

/// The options of a `DeleteOptions` object (`null`: none); `dry_run` from the query.
pub fn delete_options_from(value: &Value, dry_run: bool) -> Result<DeleteOptions, ApiError> {
    let mut opts = DeleteOptions {
        dry_run,
        ..Default::default()
    };
    opts.grace_period_seconds = value.get("gracePeriodSeconds").and_then(Value::as_i64);
    opts.precondition_uid = value
        .pointer("/preconditions/uid")
        .and_then(Value::as_str)
        .map(String::from);
    opts.precondition_resource_version = value
        .pointer("/preconditions/resourceVersion")
        .and_then(Value::as_str)
        .map(String::from);
    if value
        .get("dryRun")
        .and_then(Value::as_array)
        .is_some_and(|d| d.iter().any(|v| v == "All"))
    {
        opts.dry_run = true;
    }
    check_propagation_policy(value.get("propagationPolicy").and_then(Value::as_str))?;
    Ok(opts)
}

fn delete_options(req: &ResourceRequest, body: &[u8]) -> Result<DeleteOptions, ApiError> {
    let mut opts = if body.is_empty() {
        delete_options_from(&Value::Null, req.dry_run()?)?
    } else {
        delete_options_from(&decode_body(&req.headers, body)?, req.dry_run()?)?
    };
    if let Some(grace) = req.query.get("gracePeriodSeconds") {
        opts.grace_period_seconds =
            Some(grace.parse().map_err(|_| {
                ApiError::bad_request(&format!("invalid gracePeriodSeconds: {grace}"))
            })?);
    }
    check_propagation_policy(req.query.get("propagationPolicy").map(String::as_str))?;
    Ok(opts)
}

/// Propagation policies are accepted; the garbage collector that acts on them comes later.
fn check_propagation_policy(policy: Option<&str>) -> Result<(), ApiError> {
    match policy {
        None | Some("Orphan" | "Background" | "Foreground") => Ok(()),
        Some(other) => Err(crate::errors::invalid_delete_options(
            "propagationPolicy",
            format!(
                "Unsupported value: \"{other}\": supported values: \"Foreground\", \"Background\", \"Orphan\", \"nil\""
            ),
        )),
    }
}

async fn delete(
    server: &ApiServer,
    req: &ResourceRequest,
    body: Body,
) -> Result<Response<Body>, ApiError> {
    let bytes = read_body(body).await?;
    let opts = delete_options(req, &bytes)?;
    let deleted = server
        .registry
        .delete_admitted(&req.info, req.namespace(), req.name(), &opts, &req.user)
        .await?;
    if !deleted.immediately || returns_deleted_object(&req.info) {
        let code = if deleted.immediately {
            StatusCode::OK
        } else {
            StatusCode::ACCEPTED
        };
        return Ok(respond_object(req, code, deleted.object));
    }
    let details = json!({
        "name": req.name(),
        "group": req.info.group,
        "kind": req.info.plural,
        "uid": objects::meta_str(&deleted.object, "uid").unwrap_or(""),
    });
    Ok(json_response(
        StatusCode::OK,
        &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}),
    ))
}

/// Upstream's `ReturnDeletedObject`: these kinds answer a delete with the object itself.
fn returns_deleted_object(info: &ResourceInfo) -> bool {
    matches!(
        (info.group.as_ref(), info.plural.as_ref()),
        ("", "pods" | "namespaces" | "services")
    )
}

async fn delete_collection(
    server: &ApiServer,
    req: &ResourceRequest,
    body: Body,
) -> Result<Response<Body>, ApiError> {
    let bytes = read_body(body).await?;
    let opts = delete_options(req, &bytes)?;
    let mut list_opts = list_options(req)?;
    list_opts.limit = 0;
    list_opts.continue_token = None;
    let page = server
        .registry
        .list(&req.info, req.namespace(), &list_opts)
        .await?;
    let mut items = Vec::new();
    for obj in page.items {
        let (ns, name) = (
            objects::namespace(&obj).to_string(),
            objects::name(&obj).to_string(),
        );
        match server
            .registry
            .delete_admitted(&req.info, &ns, &name, &opts, &req.user)
            .await
        {
            Ok(deleted) => items.push(deleted.object),
            Err(e) if e.code == 404 => {}
            Err(e) => return Err(e),
        }
    }
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "kind": req.info.list_kind,
            "apiVersion": req.info.api_version(),
            "metadata": {"resourceVersion": page.revision.to_string()},
            "items": items,
        }),
    ))
}

#[cfg(test)]
mod patch_tests;
