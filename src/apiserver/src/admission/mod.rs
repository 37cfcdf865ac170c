//! Admission: what upstream's admission chain does to a write after the kind's defaulting and
//! before it is stored. Mutating plugins change the object; validating plugins may only refuse
//! it. The order is upstream's: decode and default → mutate → the kind's own validation →
//! validate → store.
//!
//! Requests from Den's own bootstrap and controllers inside the server skip admission, like
//! upstream's internal writes that go straight to the registry.

mod limitranger;
pub mod policy;
mod priority;
mod resourcequota;
mod runtimeclass;
mod serviceaccount;
mod shared;
mod tolerations;

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
    quota: resourcequota::QuotaAdmission,
    policies: policy::Policies,
}

impl Admission {
    pub fn new(storage: Arc<dyn Backend>) -> Self {
        Admission {
            quota: resourcequota::QuotaAdmission::new(storage.clone()),
            policies: policy::Policies::default(),
            storage,
        }
    }

    /// The mutating plugins, in upstream's order.
    pub async fn mutate(&self, attrs: &Attributes<'_>, obj: &mut Value) -> Result<(), ApiError> {
        // Upstream's default mutating plugins, in its order. All but DefaultTolerationSeconds
        // look only at the create of a pod (with a spec to work on).
        let storage = &*self.storage;
        let pod_create =
            shared::is_pod_create(attrs) && obj.get("spec").is_some_and(Value::is_object);
        if pod_create {
            limitranger::admit(storage, attrs, obj).await?;
            serviceaccount::admit(storage, attrs, obj).await?;
            priority::admit(storage, attrs, obj).await?;
        }
        tolerations::admit(attrs, obj);
        if pod_create {
            runtimeclass::admit(storage, attrs, obj).await?;
        }
        Ok(())
    }

    /// Loads what the validating plugins need for this request, so an update's retry loop can
    /// validate each attempt without waiting on anything.
    pub async fn validator(&self, attrs: &Attributes<'_>) -> Result<Validator, ApiError> {
        let storage = &*self.storage;
        Ok(Validator {
            limitranger: limitranger::validator(storage, attrs).await?,
            priority: priority::validator(storage, attrs).await?,
            runtimeclass: runtimeclass::validator(storage, attrs).await?,
            quota: self.quota.check_for(attrs).await,
            policy: self.policies.validator(attrs, storage).await?,
        })
    }

    /// The ValidatingAdmissionPolicies in force.
    pub fn policies(&self) -> &policy::Policies {
        &self.policies
    }
}

/// The validating plugins, ready for one request.
pub struct Validator {
    limitranger: Option<limitranger::Validator>,
    priority: Option<priority::Validator>,
    runtimeclass: Option<runtimeclass::Validator>,
    quota: Option<resourcequota::QuotaCheck>,
    policy: Option<policy::PolicyValidator>,
}

impl Validator {
    /// Refuses `obj` (the object after the write; `None` on delete) with upstream's error.
    pub fn validate(&self, obj: Option<&Value>, old: Option<&Value>) -> Result<(), ApiError> {
        if let Some(limits) = &self.limitranger {
            limits.validate(obj, old)?;
        }
        if let Some(priority) = &self.priority {
            priority.validate(obj)?;
        }
        if let Some(runtime) = &self.runtimeclass {
            runtime.validate(obj)?;
        }
        if let Some(policy) = &self.policy {
            policy.validate(obj, old)?;
        }
        Ok(())
    }

    /// Whether the ResourceQuota plugin has quotas to check this request against.
    pub fn checks_quota(&self) -> bool {
        self.quota.is_some()
    }

    /// The ResourceQuota plugin, after `validate` and before the store write: refuses `obj`
    /// (`old` is the stored object on an update) when it would exceed a quota, else
    /// charges the quotas it counts against (not on a dry run).
    pub async fn charge_quota(&self, obj: &Value, old: Option<&Value>) -> Result<(), ApiError> {
        match &self.quota {
            Some(quota) => quota.admit(obj, old).await,
            None => Ok(()),
        }
    }
}
