//! API errors specific to the server's request path, built on `den_apimachinery::status`.

use den_apimachinery::status::{ApiError, Details};
use den_apimachinery::validation::Cause;

/// 404 for a path no route serves: upstream's `the server could not find the requested resource`.
pub fn no_such_route() -> ApiError {
    let message = "the server could not find the requested resource";
    ApiError::new(404, "NotFound", message).with_details(Details::default())
}

/// 504 for a resourceVersion newer than the store's: the client should retry shortly.
pub fn too_large_resource_version(requested: i64, current: i64) -> ApiError {
    let message = format!("Too large resource version: {requested}, current: {current}");
    ApiError::new(504, "Timeout", &message).with_details(Details {
        causes: vec![Cause {
            reason: "ResourceVersionTooLarge".into(),
            message: "Too large resource version".into(),
            field: String::new(),
        }],
        retry_after_seconds: 1,
        ..Details::default()
    })
}

/// 403 when creating in a namespace that is being deleted.
pub fn namespace_terminating(group: &str, resource: &str, name: &str, namespace: &str) -> ApiError {
    let message = format!(
        "unable to create new content in namespace {namespace} because it is being terminated"
    );
    let mut err = ApiError::forbidden(group, resource, name, &message);
    if let Some(details) = err.details.as_mut() {
        details.causes.push(Cause {
            reason: "NamespaceTerminating".into(),
            message,
            field: "metadata.namespace".into(),
        });
    }
    err
}

/// 422 for a patch that cannot be applied (a failed JSON patch `test`, a missing path).
pub fn patch_failed(message: &str) -> ApiError {
    ApiError::new(422, "Invalid", message)
}

pub const BODY_MEDIA_TYPES: &[&str] = &["application/json", "application/yaml"];
pub const PATCH_MEDIA_TYPES: &[&str] = &[
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
];

/// The patch types of custom resources: no strategic merge patch without Go structs.
pub const CUSTOM_PATCH_MEDIA_TYPES: &[&str] = &[
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/apply-patch+yaml",
];

/// 422 for DeleteOptions with an unsupported value.
pub fn invalid_delete_options(field: &str, message: String) -> ApiError {
    ApiError::invalid(
        "meta.k8s.io",
        "DeleteOptions",
        "",
        vec![Cause {
            reason: "FieldValueNotSupported".into(),
            message,
            field: field.into(),
        }],
    )
}

/// Go's `%#v` of a `[]string`, as upstream's messages print lists.
pub fn go_string_slice(values: &[String]) -> String {
    let quoted: Vec<String> = values.iter().map(|v| format!("{v:?}")).collect();
    format!("[]string{{{}}}", quoted.join(", "))
}
