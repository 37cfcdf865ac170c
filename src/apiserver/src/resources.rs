//! The table of resources Den serves. One table drives routing, discovery and OpenAPI.
//!
//! Built-in kinds come from `k8s-openapi`'s `v1_33` types; the per-kind facts that the types
//! do not carry (short names, categories, subresources) are upstream's, listed in [`facts`].

use std::borrow::Cow;
use std::sync::Arc;

use k8s_openapi::api;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as apiextensions;
use k8s_openapi::{ClusterResourceScope, ListableResource, NamespaceResourceScope, Resource};
use schemars::{JsonSchema, Schema, SchemaGenerator};

use crate::conversion::{self, Conversion};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// A name that is static for built-in kinds and owned for custom resources.
pub type Name = Cow<'static, str>;

/// Everything the generic registry needs to know about one served resource.
pub struct ResourceInfo {
    pub group: Name,
    pub version: Name,
    pub kind: Name,
    pub list_kind: Name,
    /// The plural resource name used in URLs, e.g. `configmaps`.
    pub plural: Name,
    pub singular: Name,
    pub namespaced: bool,
    pub short_names: Vec<Name>,
    pub categories: Vec<Name>,
    pub status_subresource: bool,
    pub scale_subresource: bool,
    /// Upstream's `AllowCreateOnUpdate`: a PUT of a missing object creates it.
    pub create_on_update: bool,
    /// Served create-only, like upstream's reviews: each create is answered from the request
    /// and nothing is stored (no list kind, no other verb).
    pub create_only: bool,
    pub codec: Codec,
}

/// How a kind's objects are checked and shaped.
pub enum Codec {
    Builtin(Builtin),
    /// A custom resource version served from a CustomResourceDefinition.
    Custom(Arc<crate::crd::CustomResourceVersion>),
}

/// The typed pieces of a built-in kind, from `k8s-openapi`.
pub struct Builtin {
    /// Decodes into the typed struct and encodes back, dropping unknown fields the way
    /// upstream's decoder does, and failing on wrong types.
    pub canonicalize: fn(Value) -> Result<Value, serde_json::Error>,
    /// The kind's schema name (`io.k8s.api.core.v1.ConfigMap`) and schema, for OpenAPI.
    pub schema_name: fn() -> Cow<'static, str>,
    pub schema: fn(&mut SchemaGenerator) -> Schema,
    /// Set when this version is stored as another version of the kind.
    pub conversion: Option<&'static Conversion>,
}

impl ResourceInfo {
    /// Whether this is `plural` in `group` (`""` for the core group).
    pub fn is(&self, group: &str, plural: &str) -> bool {
        self.group == group && self.plural == plural
    }

    pub fn builtin(&self) -> Option<&Builtin> {
        match &self.codec {
            Codec::Builtin(builtin) => Some(builtin),
            Codec::Custom(_) => None,
        }
    }

    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `configmaps` for the core group, `deployments.apps` otherwise: upstream's group-resource.
    pub fn group_resource(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_string()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// The storage key prefix under the store prefix, upstream's layout: `/configmaps/`,
    /// `/deployments/` (apps resources are not group-qualified upstream unless they clash).
    pub fn key_prefix(&self) -> String {
        match &self.codec {
            Codec::Builtin(Builtin {
                conversion: Some(c),
                ..
            }) => {
                format!(
                    "/{}/",
                    storage_resource_name(c.storage_group, c.storage_plural)
                )
            }
            Codec::Builtin(_) => format!("/{}/", storage_resource_name(&self.group, &self.plural)),
            // Upstream keys custom resources by group and plural.
            Codec::Custom(_) => format!("/{}/{}/", self.group, self.plural),
        }
    }

    /// Decodes a stored object as this resource serves it.
    pub fn decode(&self, kv: &den_storage::KeyValue) -> Value {
        let mut obj = crate::objects::decode(kv);
        match &self.codec {
            Codec::Builtin(Builtin {
                conversion: Some(c),
                ..
            }) => obj = (c.from_storage)(obj),
            Codec::Builtin(_) => {}
            Codec::Custom(custom) => custom.from_storage(&mut obj),
        }
        obj
    }

    /// Encodes an object for storage.
    pub fn encode(&self, obj: &Value) -> bytes::Bytes {
        match &self.codec {
            Codec::Builtin(Builtin {
                conversion: Some(c),
                ..
            }) => crate::objects::encode(&(c.to_storage)(obj.clone())),
            Codec::Builtin(_) => crate::objects::encode(obj),
            Codec::Custom(custom) => {
                let mut stored = obj.clone();
                custom.to_storage(&mut stored);
                crate::objects::encode(&stored)
            }
        }
    }
}

/// Upstream stores most resources under their bare plural; a few are renamed or qualified.
fn storage_resource_name(group: &str, plural: &str) -> String {
    match (group, plural) {
        ("", "services") => "services/specs".into(),
        ("", "endpoints") => "services/endpoints".into(),
        ("", "nodes") => "minions".into(),
        ("", "replicationcontrollers") => "controllers".into(),
        ("apiextensions.k8s.io", "customresourcedefinitions") => {
            "apiextensions.k8s.io/customresourcedefinitions".into()
        }
        ("networking.k8s.io", "ingresses") => "ingress".into(),
        _ => plural.into(),
    }
}

/// Marks the scope types so a generic constructor can tell namespaced from cluster kinds.
pub trait Scope {
    const NAMESPACED: bool;
}
impl Scope for NamespaceResourceScope {
    const NAMESPACED: bool = true;
}
impl Scope for ClusterResourceScope {
    const NAMESPACED: bool = false;
}

/// Upstream facts per resource that the types do not carry.
#[derive(Default, Clone, Copy)]
struct Facts {
    short_names: &'static [&'static str],
    categories: &'static [&'static str],
    status: bool,
    scale: bool,
    create_on_update: bool,
}

const ALL: &[&str] = &["all"];

fn facts(group: &str, plural: &str) -> Facts {
    let f = Facts::default();
    let status = Facts { status: true, ..f };
    match (group, plural) {
        ("", "configmaps") => Facts {
            short_names: &["cm"],
            ..f
        },
        ("", "endpoints") => Facts {
            short_names: &["ep"],
            create_on_update: true,
            ..f
        },
        ("", "events") => Facts {
            short_names: &["ev"],
            create_on_update: true,
            ..f
        },
        ("", "limitranges") => Facts {
            short_names: &["limits"],
            ..f
        },
        ("", "namespaces") => Facts {
            short_names: &["ns"],
            ..status
        },
        ("", "nodes") => Facts {
            short_names: &["no"],
            ..status
        },
        ("", "persistentvolumeclaims") => Facts {
            short_names: &["pvc"],
            ..status
        },
        ("", "persistentvolumes") => Facts {
            short_names: &["pv"],
            ..status
        },
        ("", "pods") => Facts {
            short_names: &["po"],
            categories: ALL,
            ..status
        },
        ("", "replicationcontrollers") => Facts {
            short_names: &["rc"],
            categories: ALL,
            scale: true,
            ..status
        },
        ("", "resourcequotas") => Facts {
            short_names: &["quota"],
            ..status
        },
        ("", "serviceaccounts") => Facts {
            short_names: &["sa"],
            ..f
        },
        ("", "services") => Facts {
            short_names: &["svc"],
            categories: ALL,
            ..status
        },
        ("apps", "daemonsets") => Facts {
            short_names: &["ds"],
            categories: ALL,
            ..status
        },
        ("apps", "deployments") => Facts {
            short_names: &["deploy"],
            categories: ALL,
            scale: true,
            ..status
        },
        ("apps", "replicasets") => Facts {
            short_names: &["rs"],
            categories: ALL,
            scale: true,
            ..status
        },
        ("apps", "statefulsets") => Facts {
            short_names: &["sts"],
            categories: ALL,
            scale: true,
            ..status
        },
        ("autoscaling", "horizontalpodautoscalers") => Facts {
            short_names: &["hpa"],
            categories: ALL,
            ..status
        },
        ("batch", "cronjobs") => Facts {
            short_names: &["cj"],
            categories: ALL,
            ..status
        },
        ("batch", "jobs") => Facts {
            categories: ALL,
            ..status
        },
        ("certificates.k8s.io", "certificatesigningrequests") => Facts {
            short_names: &["csr"],
            ..status
        },
        ("coordination.k8s.io", "leases") => Facts {
            create_on_update: true,
            ..f
        },
        ("networking.k8s.io", "ingresses") => Facts {
            short_names: &["ing"],
            ..status
        },
        ("networking.k8s.io", "networkpolicies") => Facts {
            short_names: &["netpol"],
            ..f
        },
        ("networking.k8s.io", "servicecidrs") => status,
        ("policy", "poddisruptionbudgets") => Facts {
            short_names: &["pdb"],
            ..status
        },
        ("apiregistration.k8s.io", "apiservices") => Facts {
            categories: &["api-extensions"],
            ..status
        },
        ("scheduling.k8s.io", "priorityclasses") => Facts {
            short_names: &["pc"],
            ..f
        },
        ("storage.k8s.io", "storageclasses") => Facts {
            short_names: &["sc"],
            ..f
        },
        ("storage.k8s.io", "volumeattachments") => status,
        ("apiextensions.k8s.io", "customresourcedefinitions") => Facts {
            short_names: &["crd", "crds"],
            categories: &["api-extensions"],
            ..status
        },
        ("admissionregistration.k8s.io", "validatingadmissionpolicies") => Facts {
            categories: &["api-extensions"],
            ..status
        },
        ("admissionregistration.k8s.io", _) => Facts {
            categories: &["api-extensions"],
            ..f
        },
        ("flowcontrol.apiserver.k8s.io", _) => status,
        _ => f,
    }
}

/// A built-in kind in a version stored as another version (see `conversion.rs`).
fn converted<T>(conversion: &'static Conversion) -> ResourceInfo
where
    T: Resource + ListableResource + Serialize + DeserializeOwned + JsonSchema,
    T::Scope: Scope,
{
    let mut info = builtin::<T>();
    if let Codec::Builtin(b) = &mut info.codec {
        b.conversion = Some(conversion);
    }
    info
}

fn builtin<T>() -> ResourceInfo
where
    T: Resource + ListableResource + Serialize + DeserializeOwned + JsonSchema,
    T::Scope: Scope,
{
    ResourceInfo {
        list_kind: T::LIST_KIND.into(),
        ..kind::<T>(<T::Scope as Scope>::NAMESPACED)
    }
}

/// A kind upstream serves create-only (the reviews): answered, never stored.
fn review<T>() -> ResourceInfo
where
    T: Resource + Serialize + DeserializeOwned + JsonSchema,
    T::Scope: Scope,
{
    ResourceInfo {
        create_only: true,
        ..request_kind::<T>(<T::Scope as Scope>::NAMESPACED)
    }
}

/// The entry of a kind that asks the server something (a review, or the TokenRequest that
/// `serviceaccounts/token` takes): the server computes its status.
pub fn request_kind<T>(namespaced: bool) -> ResourceInfo
where
    T: Resource + Serialize + DeserializeOwned + JsonSchema,
{
    let mut info = kind::<T>(namespaced);
    if let Codec::Builtin(builtin) = &mut info.codec {
        builtin.canonicalize = canonicalize_except_status::<T>;
    }
    info
}

/// Decodes an object through its typed struct, except `status`, which is kept as sent: the
/// server computes the status of a review or token request, and Go clients send it with
/// zero values that the typed structs would refuse as missing.
fn canonicalize_except_status<T>(mut value: Value) -> Result<Value, serde_json::Error>
where
    T: Serialize + DeserializeOwned,
{
    let status = value.as_object_mut().and_then(|m| m.remove("status"));
    let mut out = serde_json::to_value(serde_json::from_value::<T>(value)?)?;
    if let (Some(status), Some(map)) = (status, out.as_object_mut()) {
        map.insert("status".into(), status);
    }
    Ok(out)
}

/// The entry of a kind, without a list kind.
fn kind<T>(namespaced: bool) -> ResourceInfo
where
    T: Resource + Serialize + DeserializeOwned + JsonSchema,
{
    let facts = facts(T::GROUP, T::URL_PATH_SEGMENT);
    ResourceInfo {
        group: T::GROUP.into(),
        version: T::VERSION.into(),
        kind: T::KIND.into(),
        list_kind: "".into(),
        plural: T::URL_PATH_SEGMENT.into(),
        singular: T::KIND.to_ascii_lowercase().into(),
        namespaced,
        short_names: facts.short_names.iter().map(|s| Name::from(*s)).collect(),
        categories: facts.categories.iter().map(|s| Name::from(*s)).collect(),
        status_subresource: facts.status,
        scale_subresource: facts.scale,
        create_on_update: facts.create_on_update,
        create_only: false,
        codec: Codec::Builtin(Builtin {
            canonicalize: |value| serde_json::to_value(serde_json::from_value::<T>(value)?),
            schema_name: T::schema_name,
            schema: T::json_schema,
            conversion: None,
        }),
    }
}

/// `authentication.k8s.io/v1beta1` SelfSubjectReview, which kubectl 1.27's `auth whoami`
/// asks for (upstream serves it when that version is enabled): the v1 kind, relabelled.
fn self_subject_review_v1beta1() -> ResourceInfo {
    use api::authentication::v1::SelfSubjectReview;
    fn relabel(mut value: Value, api_version: &str) -> Value {
        if let Some(map) = value.as_object_mut() {
            map.insert("apiVersion".into(), api_version.into());
        }
        value
    }
    ResourceInfo {
        version: "v1beta1".into(),
        codec: Codec::Builtin(Builtin {
            canonicalize: |value| {
                let v1 = relabel(value, SelfSubjectReview::API_VERSION);
                let decoded = canonicalize_except_status::<SelfSubjectReview>(v1)?;
                Ok(relabel(decoded, "authentication.k8s.io/v1beta1"))
            },
            schema_name: || "io.k8s.api.authentication.v1beta1.SelfSubjectReview".into(),
            schema: SelfSubjectReview::json_schema,
            conversion: None,
        }),
        ..review::<SelfSubjectReview>()
    }
}

/// Every built-in resource served by default in Kubernetes 1.33, in upstream's discovery order.
pub fn builtin_resources() -> Vec<ResourceInfo> {
    use api::*;
    vec![
        builtin::<core::v1::ConfigMap>(),
        builtin::<core::v1::Endpoints>(),
        builtin::<core::v1::Event>(),
        builtin::<core::v1::LimitRange>(),
        builtin::<core::v1::Namespace>(),
        builtin::<core::v1::Node>(),
        builtin::<core::v1::PersistentVolumeClaim>(),
        builtin::<core::v1::PersistentVolume>(),
        builtin::<core::v1::Pod>(),
        builtin::<core::v1::PodTemplate>(),
        builtin::<core::v1::ReplicationController>(),
        builtin::<core::v1::ResourceQuota>(),
        builtin::<core::v1::Secret>(),
        builtin::<core::v1::ServiceAccount>(),
        builtin::<core::v1::Service>(),
        builtin::<k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1::APIService>(),
        builtin::<apps::v1::ControllerRevision>(),
        builtin::<apps::v1::DaemonSet>(),
        builtin::<apps::v1::Deployment>(),
        builtin::<apps::v1::ReplicaSet>(),
        builtin::<apps::v1::StatefulSet>(),
        review::<authentication::v1::SelfSubjectReview>(),
        review::<authentication::v1::TokenReview>(),
        self_subject_review_v1beta1(),
        review::<authorization::v1::LocalSubjectAccessReview>(),
        review::<authorization::v1::SelfSubjectAccessReview>(),
        review::<authorization::v1::SelfSubjectRulesReview>(),
        review::<authorization::v1::SubjectAccessReview>(),
        // v2 first: a group's first version is its preferred one, as upstream prefers v2.
        builtin::<autoscaling::v2::HorizontalPodAutoscaler>(),
        converted::<autoscaling::v1::HorizontalPodAutoscaler>(&conversion::AUTOSCALING_V1),
        builtin::<batch::v1::CronJob>(),
        builtin::<batch::v1::Job>(),
        builtin::<certificates::v1::CertificateSigningRequest>(),
        builtin::<coordination::v1::Lease>(),
        builtin::<discovery::v1::EndpointSlice>(),
        converted::<events::v1::Event>(&conversion::EVENTS_V1),
        builtin::<flowcontrol::v1::FlowSchema>(),
        builtin::<flowcontrol::v1::PriorityLevelConfiguration>(),
        builtin::<networking::v1::IngressClass>(),
        builtin::<networking::v1::Ingress>(),
        builtin::<networking::v1::IPAddress>(),
        builtin::<networking::v1::NetworkPolicy>(),
        builtin::<networking::v1::ServiceCIDR>(),
        builtin::<node::v1::RuntimeClass>(),
        builtin::<policy::v1::PodDisruptionBudget>(),
        builtin::<rbac::v1::ClusterRoleBinding>(),
        builtin::<rbac::v1::ClusterRole>(),
        builtin::<rbac::v1::RoleBinding>(),
        builtin::<rbac::v1::Role>(),
        builtin::<scheduling::v1::PriorityClass>(),
        builtin::<storage::v1::CSIDriver>(),
        builtin::<storage::v1::CSINode>(),
        builtin::<storage::v1::CSIStorageCapacity>(),
        builtin::<storage::v1::StorageClass>(),
        builtin::<storage::v1::VolumeAttachment>(),
        builtin::<admissionregistration::v1::MutatingWebhookConfiguration>(),
        builtin::<admissionregistration::v1::ValidatingAdmissionPolicy>(),
        builtin::<admissionregistration::v1::ValidatingAdmissionPolicyBinding>(),
        builtin::<admissionregistration::v1::ValidatingWebhookConfiguration>(),
        builtin::<apiextensions::CustomResourceDefinition>(),
    ]
}

/// The served resources. Lookups are by group, version and plural.
pub struct ResourceTable {
    resources: Vec<Arc<ResourceInfo>>,
}

impl ResourceTable {
    pub fn new(resources: Vec<ResourceInfo>) -> Self {
        Self {
            resources: resources.into_iter().map(Arc::new).collect(),
        }
    }

    pub fn builtin() -> Self {
        Self::new(builtin_resources())
    }

    /// This table plus `extra` (the entries are shared, not copied).
    pub fn extended(&self, extra: Vec<ResourceInfo>) -> Self {
        let mut resources = self.resources.clone();
        resources.extend(extra.into_iter().map(Arc::new));
        Self { resources }
    }

    pub fn get(&self, group: &str, version: &str, plural: &str) -> Option<&Arc<ResourceInfo>> {
        self.resources
            .iter()
            .find(|r| r.group == group && r.version == version && r.plural == plural)
    }

    pub fn by_kind(&self, group: &str, kind: &str) -> Option<&Arc<ResourceInfo>> {
        self.resources
            .iter()
            .find(|r| r.group == group && r.kind == kind)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<ResourceInfo>> {
        self.resources.iter()
    }

    /// The served group/versions, core first, in table order without duplicates.
    pub fn group_versions(&self) -> Vec<(&str, &str)> {
        let mut out: Vec<(&str, &str)> = Vec::new();
        for r in &self.resources {
            let gv = (r.group.as_ref(), r.version.as_ref());
            if !out.contains(&gv) {
                out.push(gv);
            }
        }
        out
    }
}
