//! Admission: what upstream's admission chain does to a write after the kind's defaulting and
//! before it is stored. Mutating plugins change the object; validating plugins may only refuse
//! it. The order is upstream's: decode and default → mutate → the kind's own validation →
//! validate → store.
//!
//! Requests from Den's own bootstrap and controllers inside the server skip admission, like
//! upstream's internal writes that go straight to the registry.

use std::sync::Arc;

use den_apimachinery::status::ApiError;
use den_storage::Backend;
use serde_json::Value;

use crate::auth::UserInfo;
use crate::resources::ResourceInfo;

/// The operation being admitted, with upstream's names (`CREATE`, `UPDATE`, `DELETE`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    Create,
    Update,
    Delete,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Create => "CREATE",
            Operation::Update => "UPDATE",
            Operation::Delete => "DELETE",
        }
    }
}

/// What upstream calls the admission attributes of a request.
pub struct Attributes<'a> {
    pub operation: Operation,
    pub info: &'a ResourceInfo,
    pub namespace: &'a str,
    /// The object's name; empty on a create with `generateName`.
    pub name: &'a str,
    /// `""` for the object itself, else `status`, `scale`, ….
    pub subresource: &'a str,
    pub user: &'a UserInfo,
    pub dry_run: bool,
}

/// The admission chain of one server.
pub struct Admission {
    storage: Arc<dyn Backend>,
}

impl Admission {
    pub fn new(storage: Arc<dyn Backend>) -> Self {
        Admission { storage }
    }

    /// The mutating plugins, in upstream's order.
    pub async fn mutate(&self, attrs: &Attributes<'_>, obj: &mut Value) -> Result<(), ApiError> {
        let _ = (&self.storage, attrs, obj);
        Ok(())
    }

    /// Loads what the validating plugins need for this request, so an update's retry loop can
    /// validate each attempt without waiting on anything.
    pub async fn validator(&self, attrs: &Attributes<'_>) -> Result<Validator, ApiError> {
        let _ = attrs;
        Ok(Validator {})
    }
}

/// The validating plugins, ready for one request.
pub struct Validator {}

impl Validator {
    /// Refuses `obj` (the object after the write; `None` on delete) with upstream's error.
    pub fn validate(&self, obj: Option<&Value>, old: Option<&Value>) -> Result<(), ApiError> {
        let _ = (obj, old);
        Ok(())
    }
}
