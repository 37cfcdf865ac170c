//! API errors rendered as metav1.Status, with the constructors and messages of
//! k8s.io/apimachinery/pkg/api/errors/errors.go.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::validation::{Cause, aggregate_messages, go_quote};

/// metav1.StatusDetails. Empty fields are omitted from JSON, as upstream.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Details {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub group: String,
    /// For most errors this is the resource plural (e.g. `configmaps`); for Invalid, the kind.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uid: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub causes: Vec<Cause>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub retry_after_seconds: i32,
}

fn is_zero(n: &i32) -> bool {
    *n == 0
}

/// A failed API call: HTTP code, metav1.StatusReason, message and details.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub code: u16,
    pub reason: String,
    pub message: String,
    /// Boxed so `Result<_, ApiError>` stays small on the happy path.
    pub details: Option<Box<Details>>,
    /// The Status's `metadata.continue`: where an expired list can go on, inconsistently.
    pub list_continue: Option<Box<str>>,
}

/// The wire form of metav1.Status, fields in upstream's order.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StatusBody<'a> {
    kind: &'static str,
    api_version: &'static str,
    metadata: Value,
    status: &'static str,
    #[serde(skip_serializing_if = "str::is_empty")]
    message: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    reason: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    details: Option<&'a Details>,
    #[serde(skip_serializing_if = "is_zero_u16")]
    code: u16,
}

fn is_zero_u16(n: &u16) -> bool {
    *n == 0
}

impl ApiError {
    /// An error with no details.
    pub fn new(code: u16, reason: &str, message: &str) -> Self {
        Self {
            code,
            reason: reason.to_string(),
            message: message.to_string(),
            details: None,
            list_continue: None,
        }
    }

    pub fn with_details(mut self, details: Details) -> Self {
        self.details = Some(Box::new(details));
        self
    }

    /// The metav1.Status object sent to clients.
    pub fn to_status_json(&self) -> Value {
        let body = StatusBody {
            kind: "Status",
            api_version: "v1",
            metadata: match &self.list_continue {
                Some(token) => serde_json::json!({"continue": &**token}),
                None => Value::Object(Default::default()),
            },
            status: "Failure",
            message: &self.message,
            reason: &self.reason,
            details: self.details.as_deref(),
            code: self.code,
        };
        serde_json::to_value(body).expect("a Status always serializes")
    }

    /// 404 NotFound: `configmaps "x" not found`.
    pub fn not_found(group: &str, resource: &str, name: &str) -> Self {
        let message = format!(
            "{} {} not found",
            group_resource(group, resource),
            go_quote(name)
        );
        Self::new(404, "NotFound", &message).with_details(resource_details(group, resource, name))
    }

    /// 409 AlreadyExists: `configmaps "x" already exists`.
    pub fn already_exists(group: &str, resource: &str, name: &str) -> Self {
        let message = format!(
            "{} {} already exists",
            group_resource(group, resource),
            go_quote(name)
        );
        Self::new(409, "AlreadyExists", &message)
            .with_details(resource_details(group, resource, name))
    }

    /// 409 AlreadyExists after generateName failed to find a free name.
    pub fn generate_name_conflict(
        group: &str,
        resource: &str,
        name: &str,
        retry_after_seconds: i32,
    ) -> Self {
        let message = format!(
            "{} {} already exists, the server was not able to generate a unique name for the object",
            group_resource(group, resource),
            go_quote(name)
        );
        let details = Details {
            retry_after_seconds,
            ..resource_details(group, resource, name)
        };
        Self::new(409, "AlreadyExists", &message).with_details(details)
    }

    /// 409 Conflict: `Operation cannot be fulfilled on configmaps "x": <msg>`.
    pub fn conflict(group: &str, resource: &str, name: &str, msg: &str) -> Self {
        let message = format!(
            "Operation cannot be fulfilled on {} {}: {msg}",
            group_resource(group, resource),
            go_quote(name)
        );
        Self::new(409, "Conflict", &message).with_details(resource_details(group, resource, name))
    }

    /// 422 Invalid: `ConfigMap "x" is invalid: <field>: <message>` (several causes as `[a, b]`).
    pub fn invalid(group: &str, kind: &str, name: &str, causes: Vec<Cause>) -> Self {
        let qualified_kind = if group.is_empty() {
            kind.to_string()
        } else {
            format!("{kind}.{group}")
        };
        let mut message = format!("{qualified_kind} {} is invalid", go_quote(name));
        if !causes.is_empty() {
            let errors: Vec<String> = causes.iter().map(Cause::error_string).collect();
            message = format!("{message}: {}", aggregate_messages(&errors));
        }
        let details = Details {
            name: name.to_string(),
            group: group.to_string(),
            kind: kind.to_string(),
            causes,
            ..Details::default()
        };
        Self::new(422, "Invalid", &message).with_details(details)
    }

    /// 400 BadRequest.
    pub fn bad_request(msg: &str) -> Self {
        Self::new(400, "BadRequest", msg)
    }

    /// 401 Unauthorized; an empty message becomes `not authorized`.
    pub fn unauthorized(msg: &str) -> Self {
        let message = if msg.is_empty() {
            "not authorized"
        } else {
            msg
        };
        Self::new(401, "Unauthorized", message)
    }

    /// 403 Forbidden: `pods "x" is forbidden: <msg>` (or without the name, or
    /// just `forbidden: <msg>` when there is no resource).
    pub fn forbidden(group: &str, resource: &str, name: &str, msg: &str) -> Self {
        let gr = group_resource(group, resource);
        let message = if group.is_empty() && resource.is_empty() {
            format!("forbidden: {msg}")
        } else if name.is_empty() {
            format!("{gr} is forbidden: {msg}")
        } else {
            format!("{gr} {} is forbidden: {msg}", go_quote(name))
        };
        Self::new(403, "Forbidden", &message).with_details(resource_details(group, resource, name))
    }

    /// 405 MethodNotAllowed: `<action> is not supported on resources of kind "pods"`.
    pub fn method_not_supported(group: &str, resource: &str, action: &str) -> Self {
        let gr = group_resource(group, resource);
        let message = format!(
            "{action} is not supported on resources of kind {}",
            go_quote(&gr)
        );
        Self::new(405, "MethodNotAllowed", &message)
            .with_details(resource_details(group, resource, ""))
    }

    /// 406 NotAcceptable, listing the media types the server can produce.
    pub fn not_acceptable(accepted: &[&str]) -> Self {
        let message = format!(
            "only the following media types are accepted: {}",
            accepted.join(", ")
        );
        Self::new(406, "NotAcceptable", &message)
    }

    /// 410 Gone (deprecated upstream in favour of [`ApiError::resource_expired`]).
    pub fn gone(msg: &str) -> Self {
        Self::new(410, "Gone", msg)
    }

    /// 410 Expired, e.g. a resourceVersion that is too old.
    pub fn resource_expired(msg: &str) -> Self {
        Self::new(410, "Expired", msg)
    }

    /// The same error telling the client where the list can go on (`metadata.continue`).
    pub fn with_list_continue(mut self, token: String) -> Self {
        self.list_continue = Some(token.into());
        self
    }

    /// 413 RequestEntityTooLarge: `Request entity too large: <msg>`.
    pub fn request_entity_too_large(msg: &str) -> Self {
        Self::new(
            413,
            "RequestEntityTooLarge",
            &format!("Request entity too large: {msg}"),
        )
    }

    /// 415 UnsupportedMediaType, listing the media types the server can read.
    pub fn unsupported_media_type(accepted: &[&str]) -> Self {
        let message = format!(
            "the body of the request was in an unknown format - accepted media types include: {}",
            accepted.join(", ")
        );
        Self::new(415, "UnsupportedMediaType", &message)
    }

    /// 429 TooManyRequests with a retry hint.
    pub fn too_many_requests(msg: &str, retry_after_seconds: i32) -> Self {
        let details = Details {
            retry_after_seconds,
            ..Details::default()
        };
        Self::new(429, "TooManyRequests", msg).with_details(details)
    }

    /// 500 InternalError: `Internal error occurred: <msg>`.
    pub fn internal(msg: &str) -> Self {
        let details = Details {
            causes: vec![Cause {
                message: msg.to_string(),
                ..Cause::default()
            }],
            ..Details::default()
        };
        Self::new(
            500,
            "InternalError",
            &format!("Internal error occurred: {msg}"),
        )
        .with_details(details)
    }

    /// 500 ServerTimeout: a transient failure the client should retry.
    pub fn server_timeout(
        group: &str,
        resource: &str,
        operation: &str,
        retry_after_seconds: i32,
    ) -> Self {
        let message = format!(
            "The {operation} operation against {} could not be completed at this time, please try again.",
            group_resource(group, resource)
        );
        let details = Details {
            retry_after_seconds,
            ..resource_details(group, resource, operation)
        };
        Self::new(500, "ServerTimeout", &message).with_details(details)
    }

    /// 503 ServiceUnavailable.
    pub fn service_unavailable(msg: &str) -> Self {
        Self::new(503, "ServiceUnavailable", msg)
    }

    /// 504 Timeout: `Timeout: <msg>`.
    pub fn timeout(msg: &str, retry_after_seconds: i32) -> Self {
        let details = Details {
            retry_after_seconds,
            ..Details::default()
        };
        Self::new(504, "Timeout", &format!("Timeout: {msg}")).with_details(details)
    }
}

/// schema.GroupResource.String(): `resource` or `resource.group`.
fn group_resource(group: &str, resource: &str) -> String {
    if group.is_empty() {
        resource.to_string()
    } else {
        format!("{resource}.{group}")
    }
}

/// Details naming a resource; upstream puts the resource plural into `kind`.
fn resource_details(group: &str, resource: &str, name: &str) -> Details {
    Details {
        name: name.to_string(),
        group: group.to_string(),
        kind: resource.to_string(),
        ..Details::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn not_found_renders_a_full_status_object() {
        assert_eq!(
            ApiError::not_found("", "configmaps", "x").to_status_json(),
            json!({
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Failure",
                "message": "configmaps \"x\" not found",
                "reason": "NotFound",
                "details": {"name": "x", "kind": "configmaps"},
                "code": 404
            })
        );
    }

    #[test]
    fn group_qualified_resources_appear_in_messages_and_details() {
        let e = ApiError::not_found("apps", "deployments", "x");
        assert_eq!(e.message, "deployments.apps \"x\" not found");
        assert_eq!(
            e.to_status_json()["details"],
            json!({"name": "x", "group": "apps", "kind": "deployments"})
        );
        assert_eq!(e.to_string(), e.message);
    }

    #[test]
    fn already_exists_and_conflict_use_upstream_wording() {
        let e = ApiError::already_exists("", "configmaps", "x");
        assert_eq!(
            (e.code, e.reason.as_str(), e.message.as_str()),
            (409, "AlreadyExists", "configmaps \"x\" already exists")
        );
        let e = ApiError::conflict("", "configmaps", "x", "the object has been modified");
        assert_eq!(e.reason, "Conflict");
        assert_eq!(
            e.message,
            "Operation cannot be fulfilled on configmaps \"x\": the object has been modified"
        );
    }

    #[test]
    fn invalid_joins_causes_into_the_message() {
        let cause = |field: &str, message: &str| Cause {
            reason: "FieldValueInvalid".into(),
            message: message.into(),
            field: field.into(),
        };
        let one = ApiError::invalid(
            "",
            "ConfigMap",
            "X",
            vec![cause("metadata.name", "Invalid value: \"X\": bad")],
        );
        assert_eq!(one.code, 422);
        assert_eq!(
            one.message,
            "ConfigMap \"X\" is invalid: metadata.name: Invalid value: \"X\": bad"
        );
        assert_eq!(
            one.to_status_json()["details"],
            json!({"name": "X", "kind": "ConfigMap", "causes": [
                {"reason": "FieldValueInvalid", "message": "Invalid value: \"X\": bad", "field": "metadata.name"}
            ]})
        );
        let two = ApiError::invalid(
            "apps",
            "Deployment",
            "d",
            vec![cause("a", "x"), cause("b", "y")],
        );
        assert_eq!(
            two.message,
            "Deployment.apps \"d\" is invalid: [a: x, b: y]"
        );
        assert_eq!(
            ApiError::invalid("", "Pod", "p", vec![]).message,
            "Pod \"p\" is invalid"
        );
    }

    #[test]
    fn errors_without_details_omit_the_details_field() {
        let v = ApiError::bad_request("nope").to_status_json();
        assert_eq!(
            v,
            json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                             "message": "nope", "reason": "BadRequest", "code": 400})
        );
    }

    #[test]
    fn forbidden_message_depends_on_what_is_known() {
        assert_eq!(
            ApiError::forbidden("", "pods", "p", "no").message,
            "pods \"p\" is forbidden: no"
        );
        assert_eq!(
            ApiError::forbidden("apps", "deployments", "", "no").message,
            "deployments.apps is forbidden: no"
        );
        assert_eq!(
            ApiError::forbidden("", "", "", "no").message,
            "forbidden: no"
        );
    }

    #[test]
    fn simple_constructors_use_upstream_codes_reasons_and_messages() {
        let cases = [
            (
                ApiError::unauthorized(""),
                401,
                "Unauthorized",
                "not authorized",
            ),
            (
                ApiError::method_not_supported("", "pods", "create"),
                405,
                "MethodNotAllowed",
                "create is not supported on resources of kind \"pods\"",
            ),
            (
                ApiError::not_acceptable(&["application/json", "application/yaml"]),
                406,
                "NotAcceptable",
                "only the following media types are accepted: application/json, application/yaml",
            ),
            (ApiError::gone("old"), 410, "Gone", "old"),
            (
                ApiError::resource_expired("too old resource version: 1 (5)"),
                410,
                "Expired",
                "too old resource version: 1 (5)",
            ),
            (
                ApiError::request_entity_too_large("limit is 3145728"),
                413,
                "RequestEntityTooLarge",
                "Request entity too large: limit is 3145728",
            ),
            (
                ApiError::unsupported_media_type(&["application/json"]),
                415,
                "UnsupportedMediaType",
                "the body of the request was in an unknown format - accepted media types include: application/json",
            ),
            (
                ApiError::too_many_requests("slow down", 1),
                429,
                "TooManyRequests",
                "slow down",
            ),
            (
                ApiError::internal("boom"),
                500,
                "InternalError",
                "Internal error occurred: boom",
            ),
            (
                ApiError::service_unavailable("down"),
                503,
                "ServiceUnavailable",
                "down",
            ),
            (
                ApiError::timeout("request did not complete within 60s", 0),
                504,
                "Timeout",
                "Timeout: request did not complete within 60s",
            ),
        ];
        for (e, code, reason, message) in cases {
            assert_eq!(
                (e.code, e.reason.as_str(), e.message.as_str()),
                (code, reason, message)
            );
        }
    }

    #[test]
    fn internal_errors_carry_the_cause_message() {
        assert_eq!(
            ApiError::internal("boom").to_status_json()["details"],
            json!({"causes": [{"message": "boom"}]})
        );
    }

    #[test]
    fn retry_after_is_omitted_when_zero() {
        assert_eq!(
            ApiError::timeout("t", 0).to_status_json()["details"],
            json!({})
        );
        assert_eq!(
            ApiError::too_many_requests("t", 2).to_status_json()["details"],
            json!({"retryAfterSeconds": 2})
        );
    }
}
