//! What the built-in plugins share: reads of the objects they consult (lists from the watch
//! cache, as upstream's plugins read their informers' caches; single objects from the store,
//! like upstream's live-lookup fallback), and
//! upstream's `admission.NewForbidden` answer.

use den_apimachinery::status::ApiError;
use den_storage::{Backend, StorageError};
use serde_json::Value;

use super::{Attributes, Operation};
use crate::objects;

/// Upstream's storage keys of the objects the plugins read (`ResourceInfo::key_prefix` of
/// each kind; none of them is renamed or stored as another version).
pub(super) const SERVICE_ACCOUNTS: &str = "/serviceaccounts/";
pub(super) const LIMIT_RANGES: &str = "/limitranges/";
pub(super) const PRIORITY_CLASSES: &str = "/priorityclasses/";
pub(super) const RUNTIME_CLASSES: &str = "/runtimeclasses/";

fn storage_failure(err: StorageError) -> ApiError {
    match err {
        StorageError::Unavailable(msg) => ApiError::service_unavailable(&msg),
        other => ApiError::internal(&other.to_string()),
    }
}

/// The stored object at `key`, if there is one.
pub(super) async fn get(storage: &dyn Backend, key: &str) -> Result<Option<Value>, ApiError> {
    let (kv, _) = storage.get(key).await.map_err(storage_failure)?;
    Ok(kv.map(|kv| objects::decode(&kv)))
}

/// Every stored object under `prefix`, in key order, as of a recent revision (the watch
/// cache's, without waiting for it to confirm the store's current one).
pub(super) async fn list(storage: &dyn Backend, prefix: &str) -> Result<Vec<Value>, ApiError> {
    let page = storage.list_recent(prefix).await.map_err(storage_failure)?;
    Ok(page.items.iter().map(objects::decode).collect())
}

/// A create of a pod itself (no subresource): what most of these plugins look at.
pub(super) fn is_pod_create(attrs: &Attributes<'_>) -> bool {
    attrs.operation == Operation::Create
        && attrs.subresource.is_empty()
        && attrs.info.is("", "pods")
}

/// Upstream's `admission.NewForbidden` from a mutating plugin. Upstream admits a create
/// before it generates the name, so a request without a name is named by its `generateName`.
pub(super) fn forbidden(attrs: &Attributes<'_>, obj: &Value, msg: &str) -> ApiError {
    let name = if !attrs.name.is_empty() {
        attrs.name
    } else {
        objects::meta_str(obj, "generateName")
            .filter(|n| !n.is_empty())
            .or_else(|| objects::meta_str(obj, "name").filter(|n| !n.is_empty()))
            .unwrap_or("Unknown")
    };
    ApiError::forbidden(&attrs.info.group, &attrs.info.plural, name, msg)
}

/// Who a validating plugin's refusal names, kept from the request's attributes: upstream's
/// `admission.NewForbidden` after the store has generated the name.
#[derive(Clone, Debug)]
pub(super) struct Refusal {
    group: String,
    plural: String,
    name: String,
}

impl Refusal {
    pub(super) fn new(attrs: &Attributes<'_>) -> Self {
        Refusal {
            group: attrs.info.group.to_string(),
            plural: attrs.info.plural.to_string(),
            name: attrs.name.to_string(),
        }
    }

    pub(super) fn forbidden(&self, obj: &Value, msg: &str) -> ApiError {
        let name = if !self.name.is_empty() {
            self.name.as_str()
        } else {
            objects::meta_str(obj, "name")
                .filter(|n| !n.is_empty())
                .unwrap_or("Unknown")
        };
        ApiError::forbidden(&self.group, &self.plural, name, msg)
    }
}

/// A string field (`""` when absent) and an array field (empty when absent) of an object:
/// the validation's readers.
pub(super) use crate::kindvalidation::{list as list_of, s as str_of};
