//! Server-side Table output (`Accept: application/json;as=Table;v=v1;g=meta.k8s.io`).
//!
//! This reproduces, for objects held as Kubernetes JSON (`serde_json::Value`),
//! the columns and cells that upstream Kubernetes v1.33 prints for `kubectl get`:
//! the handlers in `pkg/printers/internalversion/printers.go` and, for resources
//! without a dedicated printer (roles, cluster roles, limit ranges, custom
//! resource definitions), the generic apiserver table convertor (NAME, CREATED AT).
//!
//! The server always produces the wide form; clients hide columns with
//! `priority` 1 unless `-o wide` is requested.

mod docs;

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use serde_json::{Map, Value, json};

/// One column of a server-side table (metav1.TableColumnDefinition).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ColumnDefinition {
    pub name: &'static str,
    pub type_: &'static str,
    pub format: &'static str,
    pub description: &'static str,
    pub priority: i32,
}

const fn col(
    name: &'static str,
    type_: &'static str,
    description: &'static str,
) -> ColumnDefinition {
    ColumnDefinition {
        name,
        type_,
        format: "",
        description,
        priority: 0,
    }
}

const fn wide(
    name: &'static str,
    type_: &'static str,
    description: &'static str,
) -> ColumnDefinition {
    ColumnDefinition {
        name,
        type_,
        format: "",
        description,
        priority: 1,
    }
}

const NAME: ColumnDefinition = ColumnDefinition {
    name: "Name",
    type_: "string",
    format: "name",
    description: docs::META_NAME,
    priority: 0,
};
const AGE: ColumnDefinition = col("Age", "string", docs::META_CREATION_TIMESTAMP);
const CREATED_AT: ColumnDefinition = col("Created At", "date", docs::META_CREATION_TIMESTAMP);
const CONTAINERS: ColumnDefinition = wide(
    "Containers",
    "string",
    "Names of each container in the template.",
);
const IMAGES: ColumnDefinition = wide(
    "Images",
    "string",
    "Images referenced by each container in the template.",
);

/// The printers known for a (group, resource) pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Pod,
    PodTemplate,
    PodDisruptionBudget,
    ReplicationController,
    ReplicaSet,
    DaemonSet,
    Job,
    CronJob,
    Service,
    Ingress,
    IngressClass,
    StatefulSet,
    Endpoints,
    Node,
    Event,
    EventsV1Event,
    Namespace,
    Secret,
    ServiceAccount,
    PersistentVolume,
    PersistentVolumeClaim,
    Deployment,
    HorizontalPodAutoscaler,
    ConfigMap,
    NetworkPolicy,
    RoleBinding,
    ClusterRoleBinding,
    CertificateSigningRequest,
    Lease,
    StorageClass,
    ControllerRevision,
    ResourceQuota,
    PriorityClass,
    RuntimeClass,
    EndpointSlice,
    VolumeAttachment,
    CsiNode,
    MutatingWebhook,
    ValidatingWebhook,
    /// The generic apiserver convertor: NAME, CREATED AT.
    CreatedAt,
    ApiService,
    /// Anything else: NAME, AGE.
    Unknown,
}

fn kind_of(group: &str, plural: &str) -> Kind {
    match (group, plural) {
        ("", "pods") => Kind::Pod,
        ("", "podtemplates") => Kind::PodTemplate,
        ("policy", "poddisruptionbudgets") => Kind::PodDisruptionBudget,
        ("", "replicationcontrollers") => Kind::ReplicationController,
        ("apps" | "extensions", "replicasets") => Kind::ReplicaSet,
        ("apps" | "extensions", "daemonsets") => Kind::DaemonSet,
        ("batch", "jobs") => Kind::Job,
        ("batch", "cronjobs") => Kind::CronJob,
        ("", "services") => Kind::Service,
        ("networking.k8s.io" | "extensions", "ingresses") => Kind::Ingress,
        ("networking.k8s.io", "ingressclasses") => Kind::IngressClass,
        ("apiregistration.k8s.io", "apiservices") => Kind::ApiService,
        ("apps", "statefulsets") => Kind::StatefulSet,
        ("", "endpoints") => Kind::Endpoints,
        ("", "nodes") => Kind::Node,
        ("", "events") => Kind::Event,
        ("events.k8s.io", "events") => Kind::EventsV1Event,
        ("", "namespaces") => Kind::Namespace,
        ("", "secrets") => Kind::Secret,
        ("", "serviceaccounts") => Kind::ServiceAccount,
        ("", "persistentvolumes") => Kind::PersistentVolume,
        ("", "persistentvolumeclaims") => Kind::PersistentVolumeClaim,
        ("apps" | "extensions", "deployments") => Kind::Deployment,
        ("autoscaling", "horizontalpodautoscalers") => Kind::HorizontalPodAutoscaler,
        ("", "configmaps") => Kind::ConfigMap,
        ("networking.k8s.io" | "extensions", "networkpolicies") => Kind::NetworkPolicy,
        ("rbac.authorization.k8s.io", "rolebindings") => Kind::RoleBinding,
        ("rbac.authorization.k8s.io", "clusterrolebindings") => Kind::ClusterRoleBinding,
        ("certificates.k8s.io", "certificatesigningrequests") => Kind::CertificateSigningRequest,
        ("coordination.k8s.io", "leases") => Kind::Lease,
        ("storage.k8s.io", "storageclasses") => Kind::StorageClass,
        ("apps", "controllerrevisions") => Kind::ControllerRevision,
        ("", "resourcequotas") => Kind::ResourceQuota,
        ("scheduling.k8s.io", "priorityclasses") => Kind::PriorityClass,
        ("node.k8s.io", "runtimeclasses") => Kind::RuntimeClass,
        ("discovery.k8s.io", "endpointslices") => Kind::EndpointSlice,
        ("storage.k8s.io", "volumeattachments") => Kind::VolumeAttachment,
        ("storage.k8s.io", "csinodes") => Kind::CsiNode,
        ("admissionregistration.k8s.io", "mutatingwebhookconfigurations") => Kind::MutatingWebhook,
        ("admissionregistration.k8s.io", "validatingwebhookconfigurations") => {
            Kind::ValidatingWebhook
        }
        ("rbac.authorization.k8s.io", "roles" | "clusterroles")
        | ("", "limitranges")
        | ("apiextensions.k8s.io", "customresourcedefinitions") => Kind::CreatedAt,
        _ => Kind::Unknown,
    }
}

/// The columns for a resource; `group` is "" for core, `plural` like "pods".
/// Unknown resources get NAME + AGE.
pub fn column_definitions(group: &str, plural: &str) -> Vec<ColumnDefinition> {
    match kind_of(group, plural) {
        Kind::Pod => vec![
            NAME,
            col(
                "Ready",
                "string",
                "The aggregate readiness state of this pod for accepting traffic.",
            ),
            col(
                "Status",
                "string",
                "The aggregate status of the containers in this pod.",
            ),
            col(
                "Restarts",
                "string",
                "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
            ),
            AGE,
            wide("IP", "string", docs::POD_STATUS_POD_IP),
            wide("Node", "string", docs::POD_SPEC_NODE_NAME),
            wide(
                "Nominated Node",
                "string",
                docs::POD_STATUS_NOMINATED_NODE_NAME,
            ),
            wide("Readiness Gates", "string", docs::POD_SPEC_READINESS_GATES),
        ],
        Kind::PodTemplate => vec![
            NAME,
            col(
                "Containers",
                "string",
                "Names of each container in the template.",
            ),
            col(
                "Images",
                "string",
                "Images referenced by each container in the template.",
            ),
            col("Pod Labels", "string", "The labels for the pod template."),
        ],
        Kind::PodDisruptionBudget => vec![
            NAME,
            col(
                "Min Available",
                "string",
                "The minimum number of pods that must be available.",
            ),
            col(
                "Max Unavailable",
                "string",
                "The maximum number of pods that may be unavailable.",
            ),
            col(
                "Allowed Disruptions",
                "integer",
                "Calculated number of pods that may be disrupted at this time.",
            ),
            AGE,
        ],
        Kind::ReplicationController => vec![
            NAME,
            col("Desired", "integer", docs::RC_SPEC_REPLICAS),
            col("Current", "integer", docs::RC_STATUS_REPLICAS),
            col("Ready", "integer", docs::RC_STATUS_READY_REPLICAS),
            AGE,
            CONTAINERS,
            IMAGES,
            wide("Selector", "string", docs::RC_SPEC_SELECTOR),
        ],
        Kind::ReplicaSet => vec![
            NAME,
            col("Desired", "integer", docs::RS_SPEC_REPLICAS),
            col("Current", "integer", docs::RS_STATUS_REPLICAS),
            col("Ready", "integer", docs::RS_STATUS_READY_REPLICAS),
            AGE,
            CONTAINERS,
            IMAGES,
            wide("Selector", "string", docs::RS_SPEC_SELECTOR),
        ],
        Kind::DaemonSet => vec![
            NAME,
            col("Desired", "integer", docs::DS_STATUS_DESIRED),
            col("Current", "integer", docs::DS_STATUS_CURRENT),
            col("Ready", "integer", docs::DS_STATUS_READY),
            col("Up-to-date", "integer", docs::DS_STATUS_UPDATED),
            col("Available", "integer", docs::DS_STATUS_AVAILABLE),
            col("Node Selector", "string", docs::POD_SPEC_NODE_SELECTOR),
            AGE,
            CONTAINERS,
            IMAGES,
            wide("Selector", "string", docs::DS_SPEC_SELECTOR),
        ],
        Kind::Job => vec![
            NAME,
            col("Status", "string", "Status of the job."),
            col("Completions", "string", docs::JOB_STATUS_SUCCEEDED),
            col("Duration", "string", "Time required to complete the job."),
            AGE,
            CONTAINERS,
            IMAGES,
            wide("Selector", "string", docs::JOB_SPEC_SELECTOR),
        ],
        Kind::CronJob => vec![
            NAME,
            col("Schedule", "string", docs::CRONJOB_SPEC_SCHEDULE),
            col("Timezone", "string", docs::CRONJOB_SPEC_TIME_ZONE),
            col("Suspend", "boolean", docs::CRONJOB_SPEC_SUSPEND),
            col("Active", "integer", docs::CRONJOB_STATUS_ACTIVE),
            col(
                "Last Schedule",
                "string",
                docs::CRONJOB_STATUS_LAST_SCHEDULE,
            ),
            AGE,
            CONTAINERS,
            IMAGES,
            wide("Selector", "string", docs::JOB_SPEC_SELECTOR),
        ],
        Kind::Service => vec![
            NAME,
            col("Type", "string", docs::SVC_SPEC_TYPE),
            col("Cluster-IP", "string", docs::SVC_SPEC_CLUSTER_IP),
            col("External-IP", "string", docs::SVC_SPEC_EXTERNAL_IPS),
            col("Port(s)", "string", docs::SVC_SPEC_PORTS),
            AGE,
            wide("Selector", "string", docs::SVC_SPEC_SELECTOR),
        ],
        Kind::Ingress => vec![
            NAME,
            col(
                "Class",
                "string",
                "The name of the IngressClass resource that should be used for additional configuration",
            ),
            col(
                "Hosts",
                "string",
                "Hosts that incoming requests are matched against before the ingress rule",
            ),
            col(
                "Address",
                "string",
                "Address is a list containing ingress points for the load-balancer",
            ),
            col("Ports", "string", "Ports of TLS configurations that open"),
            AGE,
        ],
        Kind::ApiService => vec![
            NAME,
            col(
                "Service",
                "string",
                "The reference to the service that hosts this API endpoint.",
            ),
            col("Available", "string", "Whether this service is available."),
            AGE,
        ],
        Kind::IngressClass => vec![
            NAME,
            col(
                "Controller",
                "string",
                "Controller that is responsible for handling this class",
            ),
            col(
                "Parameters",
                "string",
                "A reference to a resource with additional parameters",
            ),
            AGE,
        ],
        Kind::StatefulSet => vec![
            NAME,
            col("Ready", "string", "Number of the pod with ready state"),
            AGE,
            CONTAINERS,
            IMAGES,
        ],
        Kind::Endpoints => vec![
            NAME,
            col("Endpoints", "string", docs::ENDPOINTS_SUBSETS),
            AGE,
        ],
        Kind::Node => vec![
            NAME,
            col("Status", "string", "The status of the node"),
            col("Roles", "string", "The roles of the node"),
            AGE,
            col("Version", "string", docs::NODE_INFO_KUBELET_VERSION),
            wide("Internal-IP", "string", docs::NODE_STATUS_ADDRESSES),
            wide("External-IP", "string", docs::NODE_STATUS_ADDRESSES),
            wide("OS-Image", "string", docs::NODE_INFO_OS_IMAGE),
            wide("Kernel-Version", "string", docs::NODE_INFO_KERNEL_VERSION),
            wide(
                "Container-Runtime",
                "string",
                docs::NODE_INFO_CONTAINER_RUNTIME,
            ),
        ],
        Kind::Event | Kind::EventsV1Event => vec![
            col("Last Seen", "string", docs::EVENT_LAST_TIMESTAMP),
            col("Type", "string", docs::EVENT_TYPE),
            col("Reason", "string", docs::EVENT_REASON),
            col("Object", "string", docs::EVENT_INVOLVED_OBJECT),
            wide("Subobject", "string", docs::OBJECT_REFERENCE_FIELD_PATH),
            wide("Source", "string", docs::EVENT_SOURCE),
            col("Message", "string", docs::EVENT_MESSAGE),
            wide("First Seen", "string", docs::EVENT_FIRST_TIMESTAMP),
            wide("Count", "string", docs::EVENT_COUNT),
            ColumnDefinition {
                priority: 1,
                ..NAME
            },
        ],
        Kind::Namespace => vec![
            NAME,
            col("Status", "string", "The status of the namespace"),
            AGE,
        ],
        Kind::Secret => vec![
            NAME,
            col("Type", "string", docs::SECRET_TYPE),
            col("Data", "string", docs::SECRET_DATA),
            AGE,
        ],
        Kind::ServiceAccount => vec![
            NAME,
            col("Secrets", "string", docs::SERVICE_ACCOUNT_SECRETS),
            AGE,
        ],
        Kind::PersistentVolume => vec![
            NAME,
            col("Capacity", "string", docs::PV_SPEC_CAPACITY),
            col("Access Modes", "string", docs::PV_SPEC_ACCESS_MODES),
            col("Reclaim Policy", "string", docs::PV_SPEC_RECLAIM_POLICY),
            col("Status", "string", docs::PV_STATUS_PHASE),
            col("Claim", "string", docs::PV_SPEC_CLAIM_REF),
            col("StorageClass", "string", "StorageClass of the pv"),
            col(
                "VolumeAttributesClass",
                "string",
                "VolumeAttributesClass of the pv",
            ),
            col("Reason", "string", docs::PV_STATUS_REASON),
            AGE,
            wide("VolumeMode", "string", docs::PV_SPEC_VOLUME_MODE),
        ],
        Kind::PersistentVolumeClaim => vec![
            NAME,
            col("Status", "string", docs::PVC_STATUS_PHASE),
            col("Volume", "string", docs::PVC_SPEC_VOLUME_NAME),
            col("Capacity", "string", docs::PVC_STATUS_CAPACITY),
            col("Access Modes", "string", docs::PVC_STATUS_ACCESS_MODES),
            col("StorageClass", "string", "StorageClass of the pvc"),
            col(
                "VolumeAttributesClass",
                "string",
                "VolumeAttributesClass of the pvc",
            ),
            AGE,
            wide("VolumeMode", "string", docs::PVC_SPEC_VOLUME_MODE),
        ],
        Kind::Deployment => vec![
            NAME,
            col("Ready", "string", "Number of the pod with ready state"),
            col("Up-to-date", "string", docs::DEPLOY_STATUS_UPDATED),
            col("Available", "string", docs::DEPLOY_STATUS_AVAILABLE),
            AGE,
            CONTAINERS,
            IMAGES,
            wide("Selector", "string", docs::DEPLOY_SPEC_SELECTOR),
        ],
        Kind::HorizontalPodAutoscaler => vec![
            NAME,
            col("Reference", "string", docs::HPA_SPEC_SCALE_TARGET_REF),
            col("Targets", "string", docs::HPA_SPEC_METRICS),
            col("MinPods", "string", docs::HPA_SPEC_MIN_REPLICAS),
            col("MaxPods", "string", docs::HPA_SPEC_MAX_REPLICAS),
            col("Replicas", "string", docs::HPA_STATUS_CURRENT_REPLICAS),
            AGE,
        ],
        Kind::ConfigMap => vec![NAME, col("Data", "string", docs::CONFIGMAP_DATA), AGE],
        Kind::NetworkPolicy => vec![
            NAME,
            col("Pod-Selector", "string", docs::NETPOL_SPEC_POD_SELECTOR),
            AGE,
        ],
        Kind::RoleBinding => vec![
            NAME,
            col("Role", "string", docs::ROLE_BINDING_ROLE_REF),
            AGE,
            wide("Users", "string", "Users in the roleBinding"),
            wide("Groups", "string", "Groups in the roleBinding"),
            wide(
                "ServiceAccounts",
                "string",
                "ServiceAccounts in the roleBinding",
            ),
        ],
        Kind::ClusterRoleBinding => vec![
            NAME,
            col("Role", "string", docs::CLUSTER_ROLE_BINDING_ROLE_REF),
            AGE,
            wide("Users", "string", "Users in the clusterRoleBinding"),
            wide("Groups", "string", "Groups in the clusterRoleBinding"),
            wide(
                "ServiceAccounts",
                "string",
                "ServiceAccounts in the clusterRoleBinding",
            ),
        ],
        Kind::CertificateSigningRequest => vec![
            NAME,
            AGE,
            col("SignerName", "string", docs::CSR_SPEC_SIGNER_NAME),
            col("Requestor", "string", docs::CSR_SPEC_REQUEST),
            col(
                "RequestedDuration",
                "string",
                docs::CSR_SPEC_EXPIRATION_SECONDS,
            ),
            col("Condition", "string", docs::CSR_STATUS_CONDITIONS),
        ],
        Kind::Lease => vec![
            NAME,
            col("Holder", "string", docs::LEASE_SPEC_HOLDER_IDENTITY),
            AGE,
        ],
        Kind::StorageClass => vec![
            NAME,
            col("Provisioner", "string", docs::SC_PROVISIONER),
            col("ReclaimPolicy", "string", docs::SC_RECLAIM_POLICY),
            col("VolumeBindingMode", "string", docs::SC_VOLUME_BINDING_MODE),
            col(
                "AllowVolumeExpansion",
                "string",
                docs::SC_ALLOW_VOLUME_EXPANSION,
            ),
            AGE,
        ],
        Kind::ControllerRevision => vec![
            NAME,
            col("Controller", "string", "Controller of the object"),
            col("Revision", "string", docs::CONTROLLER_REVISION_REVISION),
            AGE,
        ],
        Kind::ResourceQuota => vec![
            NAME,
            col(
                "Request",
                "string",
                "Request represents a minimum amount of cpu/memory that a container may consume.",
            ),
            col(
                "Limit",
                "string",
                "Limits control the maximum amount of cpu/memory that a container may use independent of contention on the node.",
            ),
            AGE,
        ],
        Kind::PriorityClass => vec![
            NAME,
            col("Value", "integer", docs::PRIORITY_CLASS_VALUE),
            col(
                "Global-Default",
                "boolean",
                docs::PRIORITY_CLASS_GLOBAL_DEFAULT,
            ),
            AGE,
            col(
                "PreemptionPolicy",
                "string",
                docs::PRIORITY_CLASS_PREEMPTION_POLICY,
            ),
        ],
        // Upstream describes this column with ObjectMeta's (nonexistent) "handler"
        // field, which yields an empty description.
        Kind::RuntimeClass => vec![NAME, col("Handler", "string", ""), AGE],
        Kind::EndpointSlice => vec![
            NAME,
            col("AddressType", "string", docs::EPS_ADDRESS_TYPE),
            col("Ports", "string", docs::EPS_PORTS),
            col("Endpoints", "string", docs::EPS_ENDPOINTS),
            AGE,
        ],
        Kind::VolumeAttachment => vec![
            NAME,
            ColumnDefinition {
                format: "name",
                ..col("Attacher", "string", docs::VA_SPEC_ATTACHER)
            },
            col("PV", "string", docs::VA_SOURCE_PV_NAME),
            col("Node", "string", docs::VA_SPEC_NODE_NAME),
            col("Attached", "boolean", docs::VA_STATUS_ATTACHED),
            AGE,
        ],
        Kind::CsiNode => vec![
            NAME,
            col(
                "Drivers",
                "integer",
                "Drivers indicates the number of CSI drivers registered on the node",
            ),
            AGE,
        ],
        Kind::MutatingWebhook | Kind::ValidatingWebhook => vec![
            NAME,
            col(
                "Webhooks",
                "integer",
                "Webhooks indicates the number of webhooks registered in this configuration",
            ),
            AGE,
        ],
        Kind::CreatedAt => vec![NAME, CREATED_AT],
        Kind::Unknown => vec![NAME, AGE],
    }
}

/// Serializes column definitions as metav1.TableColumnDefinition JSON objects.
pub fn column_definitions_json(cols: &[ColumnDefinition]) -> Value {
    Value::Array(
        cols.iter()
            .map(|c| {
                json!({
                    "name": c.name,
                    "type": c.type_,
                    "format": c.format,
                    "description": c.description,
                    "priority": c.priority,
                })
            })
            .collect(),
    )
}

/// Upstream's translateTimestampSince: "<unknown>" for a missing timestamp,
/// else HumanDuration(now - t).
pub fn age(timestamp: Option<&str>, now: DateTime<Utc>) -> String {
    match timestamp.and_then(parse_time) {
        Some(t) => human_duration(now - t),
        None => "<unknown>".to_string(),
    }
}

/// The cells of one row, same length and order as [`column_definitions`].
pub fn row_cells(group: &str, plural: &str, obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let p = Printer { obj, now };
    match kind_of(group, plural) {
        Kind::Pod => p.pod(),
        Kind::PodTemplate => p.pod_template(),
        Kind::PodDisruptionBudget => p.pod_disruption_budget(),
        Kind::ReplicationController => p.replication_controller(),
        Kind::ReplicaSet => p.replica_set(),
        Kind::DaemonSet => p.daemon_set(),
        Kind::Job => p.job(),
        Kind::CronJob => p.cron_job(),
        Kind::Service => p.service(),
        Kind::Ingress => p.ingress(),
        Kind::IngressClass => p.ingress_class(),
        Kind::ApiService => p.api_service(),
        Kind::StatefulSet => p.stateful_set(),
        Kind::Endpoints => p.endpoints(),
        Kind::Node => p.node(),
        Kind::Event => p.event(obj),
        Kind::EventsV1Event => p.event(&events_v1_as_core(obj)),
        Kind::Namespace => vec![p.name(), text(p.str_at(&["status", "phase"])), p.age_cell()],
        Kind::Secret => p.secret(),
        Kind::ServiceAccount => vec![p.name(), int(len_at(obj, &["secrets"])), p.age_cell()],
        Kind::PersistentVolume => p.persistent_volume(),
        Kind::PersistentVolumeClaim => p.persistent_volume_claim(),
        Kind::Deployment => p.deployment(),
        Kind::HorizontalPodAutoscaler => p.horizontal_pod_autoscaler(),
        Kind::ConfigMap => vec![
            p.name(),
            int(len_at(obj, &["data"]) + len_at(obj, &["binaryData"])),
            p.age_cell(),
        ],
        Kind::NetworkPolicy => {
            let selector = obj
                .pointer("/spec/podSelector")
                .cloned()
                .unwrap_or_else(|| json!({}));
            vec![
                p.name(),
                text(format_label_selector(Some(&selector))),
                p.age_cell(),
            ]
        }
        Kind::RoleBinding | Kind::ClusterRoleBinding => p.role_binding(),
        Kind::CertificateSigningRequest => p.certificate_signing_request(),
        Kind::Lease => vec![
            p.name(),
            text(p.str_at(&["spec", "holderIdentity"])),
            p.age_cell(),
        ],
        Kind::StorageClass => p.storage_class(),
        Kind::ControllerRevision => p.controller_revision(),
        Kind::ResourceQuota => p.resource_quota(),
        Kind::PriorityClass => vec![
            p.name(),
            int(p.int_at(&["value"])),
            Value::Bool(p.bool_at(&["globalDefault"]).unwrap_or(false)),
            p.age_cell(),
            text(p.str_at(&["preemptionPolicy"])),
        ],
        Kind::RuntimeClass => vec![p.name(), text(p.str_at(&["handler"])), p.age_cell()],
        Kind::EndpointSlice => p.endpoint_slice(),
        Kind::VolumeAttachment => vec![
            p.name(),
            text(p.str_at(&["spec", "attacher"])),
            text(p.str_at(&["spec", "source", "persistentVolumeName"])),
            text(p.str_at(&["spec", "nodeName"])),
            Value::Bool(p.bool_at(&["status", "attached"]).unwrap_or(false)),
            p.age_cell(),
        ],
        Kind::CsiNode => vec![
            p.name(),
            int(len_at(obj, &["spec", "drivers"])),
            p.age_cell(),
        ],
        Kind::MutatingWebhook | Kind::ValidatingWebhook => {
            vec![p.name(), int(len_at(obj, &["webhooks"])), p.age_cell()]
        }
        Kind::CreatedAt => {
            let created = p.time_at(&["metadata", "creationTimestamp"]);
            let formatted = match created {
                Some(t) => t.to_rfc3339_opts(SecondsFormat::Secs, true),
                // Go's zero time, as upstream formats a missing timestamp.
                None => "0001-01-01T00:00:00Z".to_string(),
            };
            vec![p.name(), text(formatted)]
        }
        Kind::Unknown => vec![p.name(), p.age_cell()],
    }
}

// ---------------------------------------------------------------------------
// Durations and timestamps

/// Parses an RFC 3339 timestamp as found in metav1.Time / metav1.MicroTime.
fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    if s.is_empty() {
        return None;
    }
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// apimachinery's duration.HumanDuration: ~2-3 significant figures.
fn human_duration(d: TimeDelta) -> String {
    // Truncates toward zero, as Go's int(d.Seconds()) does.
    let seconds = d.num_seconds();
    if seconds < -1 {
        return "<invalid>".to_string();
    }
    if seconds < 0 {
        return "0s".to_string();
    }
    if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = seconds / 3600;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{h}h", hours / 24)
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        return if dy == 0 {
            format!("{}y", hours / 24 / 365)
        } else {
            format!("{}y{dy}d", hours / 24 / 365)
        };
    }
    format!("{}y", hours / 24 / 365)
}

// ---------------------------------------------------------------------------
// JSON access helpers

fn at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    let mut cur = v;
    for key in path {
        cur = cur.get(*key)?;
    }
    if cur.is_null() { None } else { Some(cur) }
}

fn str_of<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    at(v, path).and_then(Value::as_str).unwrap_or("")
}

fn int_of(v: &Value, path: &[&str]) -> i64 {
    at(v, path).and_then(Value::as_i64).unwrap_or(0)
}

fn arr_of<'a>(v: &'a Value, path: &[&str]) -> &'a [Value] {
    at(v, path)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn len_at(v: &Value, path: &[&str]) -> usize {
    match at(v, path) {
        Some(Value::Array(a)) => a.len(),
        Some(Value::Object(o)) => o.len(),
        _ => 0,
    }
}

fn string_map(v: Option<&Value>) -> BTreeMap<String, String> {
    v.and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

fn text(s: impl Into<String>) -> Value {
    Value::String(s.into())
}

fn int(n: impl TryInto<i64>) -> Value {
    Value::from(n.try_into().unwrap_or(i64::MAX))
}

fn or_placeholder(s: &str, placeholder: &str) -> String {
    if s.is_empty() {
        placeholder.to_string()
    } else {
        s.to_string()
    }
}

/// A quantity as printed by upstream (resource.Quantity.String()); missing is "0".
fn quantity(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => "0".to_string(),
    }
}

/// An IntOrString as printed by upstream.
fn int_or_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    }
}

/// labels.FormatLabels: sorted `k=v` joined by ",", or "<none>".
fn format_labels(v: Option<&Value>) -> String {
    let m = string_map(v);
    if m.is_empty() {
        return "<none>".to_string();
    }
    m.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// metav1.LabelSelectorAsSelector(..).String(); `None` means nil selector
/// (which selects nothing and prints as ""). Err on an invalid selector.
fn label_selector_string(sel: Option<&Value>) -> Result<String, ()> {
    let Some(sel) = sel else {
        return Ok(String::new());
    };
    let mut reqs: Vec<(String, String)> = Vec::new();
    for (k, v) in string_map(sel.get("matchLabels")) {
        let s = format!("{k}={v}");
        reqs.push((k, s));
    }
    for expr in arr_of(sel, &["matchExpressions"]) {
        let key = str_of(expr, &["key"]).to_string();
        let mut values: Vec<String> = arr_of(expr, &["values"])
            .iter()
            .map(|v| v.as_str().unwrap_or_default().to_string())
            .collect();
        let s = match str_of(expr, &["operator"]) {
            op @ ("In" | "NotIn") => {
                if values.is_empty() {
                    return Err(());
                }
                values.sort();
                let word = if op == "In" { "in" } else { "notin" };
                format!("{key} {word} ({})", values.join(","))
            }
            "Exists" => {
                if !values.is_empty() {
                    return Err(());
                }
                key.clone()
            }
            "DoesNotExist" => {
                if !values.is_empty() {
                    return Err(());
                }
                format!("!{key}")
            }
            _ => return Err(()),
        };
        reqs.push((key, s));
    }
    reqs.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(reqs
        .into_iter()
        .map(|(_, s)| s)
        .collect::<Vec<_>>()
        .join(","))
}

/// metav1.FormatLabelSelector.
fn format_label_selector(sel: Option<&Value>) -> String {
    match label_selector_string(sel) {
        Ok(s) if s.is_empty() => "<none>".to_string(),
        Ok(s) => s,
        Err(()) => "<error>".to_string(),
    }
}

/// Container names and images of a pod spec's containers, comma separated.
fn container_cells(containers: &[Value]) -> (Value, Value) {
    let names: Vec<&str> = containers.iter().map(|c| str_of(c, &["name"])).collect();
    let images: Vec<&str> = containers.iter().map(|c| str_of(c, &["image"])).collect();
    (text(names.join(",")), text(images.join(",")))
}

/// helper.GetAccessModesAsString.
fn access_modes(modes: &[Value]) -> String {
    let has = |m: &str| modes.iter().any(|v| v.as_str() == Some(m));
    let mut out = Vec::new();
    for (mode, short) in [
        ("ReadWriteOnce", "RWO"),
        ("ReadOnlyMany", "ROX"),
        ("ReadWriteMany", "RWX"),
        ("ReadWriteOncePod", "RWOP"),
    ] {
        if has(mode) {
            out.push(short);
        }
    }
    out.join(",")
}

/// Load-balancer ingress points: unique IPs (or hostnames), sorted, comma joined.
fn load_balancer_ingress(status: Option<&Value>) -> String {
    let mut set = BTreeSet::new();
    for ing in status.map(|s| arr_of(s, &["ingress"])).unwrap_or(&[]) {
        let ip = str_of(ing, &["ip"]);
        let host = str_of(ing, &["hostname"]);
        if !ip.is_empty() {
            set.insert(ip.to_string());
        } else if !host.is_empty() {
            set.insert(host.to_string());
        }
    }
    set.into_iter().collect::<Vec<_>>().join(",")
}

/// A list of at most three entries, with "+ N more..." for the rest.
fn list_with_more(list: &[String], total: usize, empty: &str) -> String {
    const MAX: usize = 3;
    let ret = list.iter().take(MAX).cloned().collect::<Vec<_>>().join(",");
    if total > MAX {
        return format!("{ret} + {} more...", total - MAX);
    }
    if ret.is_empty() {
        empty.to_string()
    } else {
        ret
    }
}

fn has_condition_true(conditions: &[Value], type_: &str) -> bool {
    conditions
        .iter()
        .find(|c| str_of(c, &["type"]) == type_)
        .is_some_and(|c| str_of(c, &["status"]) == "True")
}

fn print_bool_ptr(v: Option<bool>) -> String {
    match v {
        Some(true) => "True".to_string(),
        Some(false) => "False".to_string(),
        None => "<unset>".to_string(),
    }
}

/// Converts an events.k8s.io/v1 Event into the core/v1 field names the
/// event printer reads (as upstream's conversion to the internal type does).
fn events_v1_as_core(obj: &Value) -> Value {
    let mut m = Map::new();
    let copy = |m: &mut Map<String, Value>, from: &str, to: &str| {
        if let Some(v) = obj.get(from).filter(|v| !v.is_null()) {
            m.insert(to.to_string(), v.clone());
        }
    };
    copy(&mut m, "metadata", "metadata");
    copy(&mut m, "regarding", "involvedObject");
    copy(&mut m, "note", "message");
    copy(&mut m, "reason", "reason");
    copy(&mut m, "type", "type");
    copy(&mut m, "deprecatedSource", "source");
    copy(&mut m, "deprecatedFirstTimestamp", "firstTimestamp");
    copy(&mut m, "deprecatedLastTimestamp", "lastTimestamp");
    copy(&mut m, "deprecatedCount", "count");
    copy(&mut m, "eventTime", "eventTime");
    copy(&mut m, "series", "series");
    copy(&mut m, "reportingController", "reportingComponent");
    copy(&mut m, "reportingInstance", "reportingInstance");
    Value::Object(m)
}

// ---------------------------------------------------------------------------
// Per-kind printers

struct Printer<'a> {
    obj: &'a Value,
    now: DateTime<Utc>,
}

impl<'a> Printer<'a> {
    fn str_at(&self, path: &[&str]) -> &'a str {
        str_of(self.obj, path)
    }

    fn int_at(&self, path: &[&str]) -> i64 {
        int_of(self.obj, path)
    }

    fn bool_at(&self, path: &[&str]) -> Option<bool> {
        at(self.obj, path).and_then(Value::as_bool)
    }

    fn arr_at(&self, path: &[&str]) -> &'a [Value] {
        arr_of(self.obj, path)
    }

    fn time_at(&self, path: &[&str]) -> Option<DateTime<Utc>> {
        at(self.obj, path)
            .and_then(Value::as_str)
            .and_then(parse_time)
    }

    fn since(&self, t: Option<DateTime<Utc>>) -> String {
        match t {
            Some(t) => human_duration(self.now - t),
            None => "<unknown>".to_string(),
        }
    }

    fn name(&self) -> Value {
        text(self.str_at(&["metadata", "name"]))
    }

    fn age_cell(&self) -> Value {
        text(self.since(self.time_at(&["metadata", "creationTimestamp"])))
    }

    fn deleting(&self) -> bool {
        at(self.obj, &["metadata", "deletionTimestamp"]).is_some()
    }

    /// `spec.replicas` of an apps/v1 workload; the v1 default is 1.
    fn desired_replicas(&self) -> i64 {
        at(self.obj, &["spec", "replicas"])
            .and_then(Value::as_i64)
            .unwrap_or(1)
    }

    fn pod(&self) -> Vec<Value> {
        let phase = self.str_at(&["status", "phase"]);
        let status_reason = self.str_at(&["status", "reason"]);
        let mut reason = if status_reason.is_empty() {
            phase.to_string()
        } else {
            status_reason.to_string()
        };
        let conditions = self.arr_at(&["status", "conditions"]);
        for c in conditions {
            if str_of(c, &["type"]) == "PodScheduled" && str_of(c, &["reason"]) == "SchedulingGated"
            {
                reason = "SchedulingGated".to_string();
            }
        }

        let init_specs = self.arr_at(&["spec", "initContainers"]);
        let restartable = |name: &str| {
            init_specs
                .iter()
                .find(|c| str_of(c, &["name"]) == name)
                .is_some_and(|c| str_of(c, &["restartPolicy"]) == "Always")
        };
        // Restartable (sidecar) init containers count as containers too.
        let total = self.arr_at(&["spec", "containers"]).len()
            + init_specs
                .iter()
                .filter(|c| str_of(c, &["restartPolicy"]) == "Always")
                .count();
        let mut ready = 0usize;
        let mut restarts = 0i64;
        let mut restartable_restarts = 0i64;
        let mut last_restart: Option<DateTime<Utc>> = None;
        let mut last_restartable_restart: Option<DateTime<Utc>> = None;
        let last_terminated = |c: &Value| {
            at(c, &["lastState", "terminated", "finishedAt"])
                .and_then(Value::as_str)
                .and_then(parse_time)
        };

        let mut initializing = false;
        for (i, c) in self
            .arr_at(&["status", "initContainerStatuses"])
            .iter()
            .enumerate()
        {
            let count = int_of(c, &["restartCount"]);
            restarts += count;
            last_restart = last_restart.max(last_terminated(c));
            let is_restartable = restartable(str_of(c, &["name"]));
            if is_restartable {
                restartable_restarts += count;
                last_restartable_restart = last_restartable_restart.max(last_terminated(c));
            }
            let terminated = at(c, &["state", "terminated"]);
            let waiting_reason = str_of(c, &["state", "waiting", "reason"]);
            if terminated.is_some_and(|t| int_of(t, &["exitCode"]) == 0) {
                continue;
            }
            if is_restartable && at(c, &["started"]).and_then(Value::as_bool) == Some(true) {
                if at(c, &["ready"]).and_then(Value::as_bool) == Some(true) {
                    ready += 1;
                }
                continue;
            }
            if let Some(t) = terminated {
                let r = str_of(t, &["reason"]);
                reason = if !r.is_empty() {
                    format!("Init:{r}")
                } else if int_of(t, &["signal"]) != 0 {
                    format!("Init:Signal:{}", int_of(t, &["signal"]))
                } else {
                    format!("Init:ExitCode:{}", int_of(t, &["exitCode"]))
                };
            } else if at(c, &["state", "waiting"]).is_some()
                && !waiting_reason.is_empty()
                && waiting_reason != "PodInitializing"
            {
                reason = format!("Init:{waiting_reason}");
            } else {
                reason = format!("Init:{i}/{}", init_specs.len());
            }
            initializing = true;
            break;
        }

        let initialized = conditions
            .iter()
            .find(|c| str_of(c, &["type"]) == "Initialized")
            .is_some_and(|c| str_of(c, &["status"]) == "True");
        if !initializing || initialized {
            restarts = restartable_restarts;
            last_restart = last_restartable_restart;
            let mut has_running = false;
            for c in self.arr_at(&["status", "containerStatuses"]).iter().rev() {
                restarts += int_of(c, &["restartCount"]);
                last_restart = last_restart.max(last_terminated(c));
                let waiting_reason = str_of(c, &["state", "waiting", "reason"]);
                let terminated = at(c, &["state", "terminated"]);
                if at(c, &["state", "waiting"]).is_some() && !waiting_reason.is_empty() {
                    reason = waiting_reason.to_string();
                } else if let Some(t) = terminated {
                    let r = str_of(t, &["reason"]);
                    reason = if !r.is_empty() {
                        r.to_string()
                    } else if int_of(t, &["signal"]) != 0 {
                        format!("Signal:{}", int_of(t, &["signal"]))
                    } else {
                        format!("ExitCode:{}", int_of(t, &["exitCode"]))
                    };
                } else if at(c, &["ready"]).and_then(Value::as_bool) == Some(true)
                    && at(c, &["state", "running"]).is_some()
                {
                    has_running = true;
                    ready += 1;
                }
            }
            if reason == "Completed" && has_running {
                reason = if has_condition_ready(conditions) {
                    "Running"
                } else {
                    "NotReady"
                }
                .to_string();
            }
        }

        if self.deleting() && status_reason == "NodeLost" {
            reason = "Unknown".to_string();
        } else if self.deleting() && phase != "Failed" && phase != "Succeeded" {
            reason = "Terminating".to_string();
        }

        let restarts_str = match last_restart {
            Some(t) if restarts != 0 => format!("{restarts} ({} ago)", self.since(Some(t))),
            _ => restarts.to_string(),
        };

        let pod_ip = {
            let ip = self.str_at(&["status", "podIP"]);
            if ip.is_empty() {
                self.arr_at(&["status", "podIPs"])
                    .first()
                    .map(|v| str_of(v, &["ip"]))
                    .unwrap_or("")
            } else {
                ip
            }
        };
        let gates = self.arr_at(&["spec", "readinessGates"]);
        let readiness_gates = if gates.is_empty() {
            "<none>".to_string()
        } else {
            let true_count = gates
                .iter()
                .filter(|g| {
                    let t = str_of(g, &["conditionType"]);
                    conditions
                        .iter()
                        .find(|c| str_of(c, &["type"]) == t)
                        .is_some_and(|c| str_of(c, &["status"]) == "True")
                })
                .count();
            format!("{true_count}/{}", gates.len())
        };

        vec![
            self.name(),
            text(format!("{ready}/{total}")),
            text(reason),
            text(restarts_str),
            self.age_cell(),
            text(or_placeholder(pod_ip, "<none>")),
            text(or_placeholder(self.str_at(&["spec", "nodeName"]), "<none>")),
            text(or_placeholder(
                self.str_at(&["status", "nominatedNodeName"]),
                "<none>",
            )),
            text(readiness_gates),
        ]
    }

    fn pod_template(&self) -> Vec<Value> {
        let (names, images) = container_cells(self.arr_at(&["template", "spec", "containers"]));
        vec![
            self.name(),
            names,
            images,
            text(format_labels(at(
                self.obj,
                &["template", "metadata", "labels"],
            ))),
        ]
    }

    fn pod_disruption_budget(&self) -> Vec<Value> {
        let field = |f: &str| {
            at(self.obj, &["spec", f])
                .map(int_or_string)
                .unwrap_or_else(|| "N/A".to_string())
        };
        vec![
            self.name(),
            text(field("minAvailable")),
            text(field("maxUnavailable")),
            int(self.int_at(&["status", "disruptionsAllowed"])),
            self.age_cell(),
        ]
    }

    fn replication_controller(&self) -> Vec<Value> {
        self.replicas_row(format_labels(at(self.obj, &["spec", "selector"])))
    }

    fn replica_set(&self) -> Vec<Value> {
        self.replicas_row(format_label_selector(at(self.obj, &["spec", "selector"])))
    }

    /// The row replication controllers and replica sets share; only their selectors differ.
    fn replicas_row(&self, selector: String) -> Vec<Value> {
        let (names, images) =
            container_cells(self.arr_at(&["spec", "template", "spec", "containers"]));
        vec![
            self.name(),
            int(self.desired_replicas()),
            int(self.int_at(&["status", "replicas"])),
            int(self.int_at(&["status", "readyReplicas"])),
            self.age_cell(),
            names,
            images,
            text(selector),
        ]
    }

    fn daemon_set(&self) -> Vec<Value> {
        let (names, images) =
            container_cells(self.arr_at(&["spec", "template", "spec", "containers"]));
        vec![
            self.name(),
            int(self.int_at(&["status", "desiredNumberScheduled"])),
            int(self.int_at(&["status", "currentNumberScheduled"])),
            int(self.int_at(&["status", "numberReady"])),
            int(self.int_at(&["status", "updatedNumberScheduled"])),
            int(self.int_at(&["status", "numberAvailable"])),
            text(format_labels(at(
                self.obj,
                &["spec", "template", "spec", "nodeSelector"],
            ))),
            self.age_cell(),
            names,
            images,
            text(format_label_selector(at(self.obj, &["spec", "selector"]))),
        ]
    }

    fn job(&self) -> Vec<Value> {
        let succeeded = self.int_at(&["status", "succeeded"]);
        let completions = match at(self.obj, &["spec", "completions"]).and_then(Value::as_i64) {
            Some(c) => format!("{succeeded}/{c}"),
            None => {
                let parallelism = self.int_at(&["spec", "parallelism"]);
                if parallelism > 1 {
                    format!("{succeeded}/1 of {parallelism}")
                } else {
                    format!("{succeeded}/1")
                }
            }
        };
        let start = self.time_at(&["status", "startTime"]);
        let end = self.time_at(&["status", "completionTime"]);
        let duration = match (start, end) {
            (None, _) => String::new(),
            (Some(s), None) => human_duration(self.now - s),
            (Some(s), Some(e)) => human_duration(e - s),
        };
        let conditions = self.arr_at(&["status", "conditions"]);
        let status = if has_condition_true(conditions, "Complete") {
            "Complete"
        } else if has_condition_true(conditions, "Failed") {
            "Failed"
        } else if self.deleting() {
            "Terminating"
        } else if has_condition_true(conditions, "Suspended") {
            "Suspended"
        } else if has_condition_true(conditions, "FailureTarget") {
            "FailureTarget"
        } else {
            "Running"
        };
        let (names, images) =
            container_cells(self.arr_at(&["spec", "template", "spec", "containers"]));
        vec![
            self.name(),
            text(status),
            text(completions),
            text(duration),
            self.age_cell(),
            names,
            images,
            text(format_label_selector(at(self.obj, &["spec", "selector"]))),
        ]
    }

    fn cron_job(&self) -> Vec<Value> {
        let last_schedule = match self.time_at(&["status", "lastScheduleTime"]) {
            Some(t) => self.since(Some(t)),
            None => "<none>".to_string(),
        };
        let time_zone = at(self.obj, &["spec", "timeZone"])
            .and_then(Value::as_str)
            .unwrap_or("<none>");
        let (names, images) = container_cells(self.arr_at(&[
            "spec",
            "jobTemplate",
            "spec",
            "template",
            "spec",
            "containers",
        ]));
        vec![
            self.name(),
            text(self.str_at(&["spec", "schedule"])),
            text(time_zone),
            text(print_bool_ptr(self.bool_at(&["spec", "suspend"]))),
            int(self.arr_at(&["status", "active"]).len()),
            text(last_schedule),
            self.age_cell(),
            names,
            images,
            text(format_label_selector(at(
                self.obj,
                &["spec", "jobTemplate", "spec", "selector"],
            ))),
        ]
    }

    fn service(&self) -> Vec<Value> {
        // A stored Service always has a type; v1 defaults it to ClusterIP.
        let svc_type = at(self.obj, &["spec", "type"])
            .and_then(Value::as_str)
            .unwrap_or("ClusterIP");
        let cluster_ip = self
            .arr_at(&["spec", "clusterIPs"])
            .first()
            .and_then(Value::as_str)
            .unwrap_or_else(|| self.str_at(&["spec", "clusterIP"]));
        let external_ips: Vec<String> = self
            .arr_at(&["spec", "externalIPs"])
            .iter()
            .map(|v| v.as_str().unwrap_or_default().to_string())
            .collect();
        let external_ip = match svc_type {
            "ClusterIP" | "NodePort" => {
                if external_ips.is_empty() {
                    "<none>".to_string()
                } else {
                    external_ips.join(",")
                }
            }
            "LoadBalancer" => {
                let lb = load_balancer_ingress(at(self.obj, &["status", "loadBalancer"]));
                if !external_ips.is_empty() {
                    let mut all: Vec<String> = Vec::new();
                    if !lb.is_empty() {
                        all.extend(lb.split(',').map(str::to_string));
                    }
                    all.extend(external_ips);
                    all.join(",")
                } else if !lb.is_empty() {
                    lb
                } else {
                    "<pending>".to_string()
                }
            }
            "ExternalName" => self.str_at(&["spec", "externalName"]).to_string(),
            _ => "<unknown>".to_string(),
        };
        let ports: Vec<String> = self
            .arr_at(&["spec", "ports"])
            .iter()
            .map(|p| {
                let port = int_of(p, &["port"]);
                let protocol = at(p, &["protocol"])
                    .and_then(Value::as_str)
                    .unwrap_or("TCP");
                let node_port = int_of(p, &["nodePort"]);
                if node_port > 0 {
                    format!("{port}:{node_port}/{protocol}")
                } else {
                    format!("{port}/{protocol}")
                }
            })
            .collect();
        vec![
            self.name(),
            text(svc_type),
            text(or_placeholder(cluster_ip, "<none>")),
            text(external_ip),
            text(or_placeholder(&ports.join(","), "<none>")),
            self.age_cell(),
            text(format_labels(at(self.obj, &["spec", "selector"]))),
        ]
    }

    fn ingress(&self) -> Vec<Value> {
        let class = at(self.obj, &["spec", "ingressClassName"])
            .and_then(Value::as_str)
            .unwrap_or("<none>");
        let rules = self.arr_at(&["spec", "rules"]);
        let mut hosts: Vec<&str> = Vec::new();
        let mut more = false;
        for rule in rules {
            if hosts.len() == 3 {
                more = true;
            }
            let host = str_of(rule, &["host"]);
            if !more && !host.is_empty() {
                hosts.push(host);
            }
        }
        let hosts = if hosts.is_empty() {
            "*".to_string()
        } else if more {
            format!("{} + {} more...", hosts.join(","), rules.len() - 3)
        } else {
            hosts.join(",")
        };
        let ports = if self.arr_at(&["spec", "tls"]).is_empty() {
            "80"
        } else {
            "80, 443"
        };
        vec![
            self.name(),
            text(class),
            text(hosts),
            text(load_balancer_ingress(at(
                self.obj,
                &["status", "loadBalancer"],
            ))),
            text(ports),
            self.age_cell(),
        ]
    }

    fn ingress_class(&self) -> Vec<Value> {
        let parameters = match at(self.obj, &["spec", "parameters"]) {
            Some(p) => {
                let mut s = str_of(p, &["kind"]).to_string();
                if let Some(group) = at(p, &["apiGroup"]).and_then(Value::as_str) {
                    s = format!("{s}.{group}");
                }
                format!("{s}/{}", str_of(p, &["name"]))
            }
            None => "<none>".to_string(),
        };
        vec![
            self.name(),
            text(self.str_at(&["spec", "controller"])),
            text(parameters),
            self.age_cell(),
        ]
    }

    /// The backing service (`Local` for the API server's own groups) and the `Available`
    /// condition, with its reason when not true.
    fn api_service(&self) -> Vec<Value> {
        let service = match at(self.obj, &["spec", "service"]) {
            Some(svc) if !svc.is_null() => {
                format!("{}/{}", str_of(svc, &["namespace"]), str_of(svc, &["name"]))
            }
            _ => "Local".to_string(),
        };
        let available = self
            .arr_at(&["status", "conditions"])
            .iter()
            .find(|c| str_of(c, &["type"]) == "Available")
            .map(|c| match (str_of(c, &["status"]), str_of(c, &["reason"])) {
                ("True", _) | (_, "") => str_of(c, &["status"]).to_string(),
                (status, reason) => format!("{status} ({reason})"),
            })
            .unwrap_or_else(|| "Unknown".to_string());
        vec![self.name(), text(service), text(available), self.age_cell()]
    }

    fn stateful_set(&self) -> Vec<Value> {
        let (names, images) =
            container_cells(self.arr_at(&["spec", "template", "spec", "containers"]));
        vec![
            self.name(),
            text(format!(
                "{}/{}",
                self.int_at(&["status", "readyReplicas"]),
                self.desired_replicas()
            )),
            self.age_cell(),
            names,
            images,
        ]
    }

    fn endpoints(&self) -> Vec<Value> {
        let subsets = self.arr_at(&["subsets"]);
        let formatted = if subsets.is_empty() {
            "<none>".to_string()
        } else {
            let mut list: Vec<String> = Vec::new();
            let mut count = 0usize;
            for ss in subsets {
                let addresses = arr_of(ss, &["addresses"]);
                let ports = arr_of(ss, &["ports"]);
                if ports.is_empty() {
                    count += addresses.len();
                    list.extend(addresses.iter().map(|a| str_of(a, &["ip"]).to_string()));
                    continue;
                }
                for port in ports {
                    count += addresses.len();
                    let port = int_of(port, &["port"]);
                    list.extend(addresses.iter().map(|a| {
                        let ip = str_of(a, &["ip"]);
                        if ip.contains(':') {
                            format!("[{ip}]:{port}")
                        } else {
                            format!("{ip}:{port}")
                        }
                    }));
                }
            }
            let ret = list.iter().take(3).cloned().collect::<Vec<_>>().join(",");
            if list.len() > 3 {
                format!("{ret} + {} more...", count - 3)
            } else {
                ret
            }
        };
        vec![self.name(), text(formatted), self.age_cell()]
    }

    fn endpoint_slice(&self) -> Vec<Value> {
        let ports: Vec<String> = self
            .arr_at(&["ports"])
            .iter()
            .map(|p| match at(p, &["port"]).and_then(Value::as_i64) {
                Some(n) => n.to_string(),
                None => at(p, &["name"])
                    .and_then(Value::as_str)
                    .unwrap_or("*")
                    .to_string(),
            })
            .collect();
        let addresses: Vec<String> = self
            .arr_at(&["endpoints"])
            .iter()
            .flat_map(|e| {
                arr_of(e, &["addresses"])
                    .iter()
                    .map(|a| a.as_str().unwrap_or_default().to_string())
            })
            .collect();
        vec![
            self.name(),
            text(self.str_at(&["addressType"])),
            text(list_with_more(&ports, ports.len(), "<unset>")),
            text(list_with_more(&addresses, addresses.len(), "<unset>")),
            self.age_cell(),
        ]
    }

    fn node(&self) -> Vec<Value> {
        let mut status: Vec<String> = Vec::new();
        // Only the Ready condition is reported; the last one of that type wins.
        if let Some(cond) = self
            .arr_at(&["status", "conditions"])
            .iter()
            .rev()
            .find(|c| str_of(c, &["type"]) == "Ready")
        {
            if str_of(cond, &["status"]) == "True" {
                status.push("Ready".to_string());
            } else {
                status.push("NotReady".to_string());
            }
        }
        if status.is_empty() {
            status.push("Unknown".to_string());
        }
        if self.bool_at(&["spec", "unschedulable"]) == Some(true) {
            status.push("SchedulingDisabled".to_string());
        }
        let mut roles = BTreeSet::new();
        for (k, v) in string_map(at(self.obj, &["metadata", "labels"])) {
            if let Some(role) = k.strip_prefix("node-role.kubernetes.io/") {
                if !role.is_empty() {
                    roles.insert(role.to_string());
                }
            } else if k == "kubernetes.io/role" && !v.is_empty() {
                roles.insert(v);
            }
        }
        let roles = roles.into_iter().collect::<Vec<_>>().join(",");
        let address = |t: &str| {
            self.arr_at(&["status", "addresses"])
                .iter()
                .find(|a| str_of(a, &["type"]) == t)
                .map(|a| str_of(a, &["address"]).to_string())
                .unwrap_or_else(|| "<none>".to_string())
        };
        let info = |f: &str| or_placeholder(self.str_at(&["status", "nodeInfo", f]), "<unknown>");
        vec![
            self.name(),
            text(status.join(",")),
            text(or_placeholder(&roles, "<none>")),
            self.age_cell(),
            text(self.str_at(&["status", "nodeInfo", "kubeletVersion"])),
            text(address("InternalIP")),
            text(address("ExternalIP")),
            text(info("osImage")),
            text(info("kernelVersion")),
            text(info("containerRuntimeVersion")),
        ]
    }

    fn event(&self, ev: &Value) -> Vec<Value> {
        let p = Printer {
            obj: ev,
            now: self.now,
        };
        let first = match p.time_at(&["firstTimestamp"]) {
            Some(t) => p.since(Some(t)),
            None => p.since(p.time_at(&["eventTime"])),
        };
        let mut last = match p.time_at(&["lastTimestamp"]) {
            Some(t) => p.since(Some(t)),
            None => first.clone(),
        };
        let mut count = p.int_at(&["count"]);
        if let Some(series) = at(ev, &["series"]) {
            last = p.since(
                at(series, &["lastObservedTime"])
                    .and_then(Value::as_str)
                    .and_then(parse_time),
            );
            count = int_of(series, &["count"]);
        } else if count == 0 {
            count = 1;
        }
        let kind = p.str_at(&["involvedObject", "kind"]).to_lowercase();
        let involved_name = p.str_at(&["involvedObject", "name"]);
        let target = if involved_name.is_empty() {
            kind
        } else {
            format!("{kind}/{involved_name}")
        };
        let first_non_empty = |a: &str, b: &str| {
            if a.is_empty() {
                b.to_string()
            } else {
                a.to_string()
            }
        };
        let component = first_non_empty(
            p.str_at(&["source", "component"]),
            p.str_at(&["reportingComponent"]),
        );
        let instance = first_non_empty(
            p.str_at(&["source", "host"]),
            p.str_at(&["reportingInstance"]),
        );
        let source = if instance.is_empty() {
            component
        } else {
            format!("{component}, {instance}")
        };
        vec![
            text(last),
            text(p.str_at(&["type"])),
            text(p.str_at(&["reason"])),
            text(target),
            text(p.str_at(&["involvedObject", "fieldPath"])),
            text(source),
            text(p.str_at(&["message"]).trim()),
            text(first),
            int(count),
            p.name(),
        ]
    }

    fn secret(&self) -> Vec<Value> {
        let mut keys: BTreeSet<&str> = BTreeSet::new();
        for field in ["data", "stringData"] {
            if let Some(m) = at(self.obj, &[field]).and_then(Value::as_object) {
                keys.extend(m.keys().map(String::as_str));
            }
        }
        vec![
            self.name(),
            text(self.str_at(&["type"])),
            int(keys.len()),
            self.age_cell(),
        ]
    }

    fn persistent_volume(&self) -> Vec<Value> {
        let claim = match at(self.obj, &["spec", "claimRef"]) {
            Some(c) => format!("{}/{}", str_of(c, &["namespace"]), str_of(c, &["name"])),
            None => String::new(),
        };
        let phase = if self.deleting() {
            "Terminating"
        } else {
            self.str_at(&["status", "phase"])
        };
        let class = match at(
            self.obj,
            &[
                "metadata",
                "annotations",
                "volume.beta.kubernetes.io/storage-class",
            ],
        ) {
            Some(v) => v.as_str().unwrap_or_default(),
            None => self.str_at(&["spec", "storageClassName"]),
        };
        vec![
            self.name(),
            text(quantity(at(self.obj, &["spec", "capacity", "storage"]))),
            text(access_modes(self.arr_at(&["spec", "accessModes"]))),
            text(self.str_at(&["spec", "persistentVolumeReclaimPolicy"])),
            text(phase),
            text(claim),
            text(class),
            text(
                at(self.obj, &["spec", "volumeAttributesClassName"])
                    .and_then(Value::as_str)
                    .unwrap_or("<unset>"),
            ),
            text(self.str_at(&["status", "reason"])),
            self.age_cell(),
            text(
                at(self.obj, &["spec", "volumeMode"])
                    .and_then(Value::as_str)
                    .unwrap_or("<unset>"),
            ),
        ]
    }

    fn persistent_volume_claim(&self) -> Vec<Value> {
        let phase = if self.deleting() {
            "Terminating"
        } else {
            self.str_at(&["status", "phase"])
        };
        let volume = self.str_at(&["spec", "volumeName"]);
        let (capacity, modes) = if volume.is_empty() {
            (String::new(), String::new())
        } else {
            (
                quantity(at(self.obj, &["status", "capacity", "storage"])),
                access_modes(self.arr_at(&["status", "accessModes"])),
            )
        };
        let class = match at(
            self.obj,
            &[
                "metadata",
                "annotations",
                "volume.beta.kubernetes.io/storage-class",
            ],
        ) {
            Some(v) => v.as_str().unwrap_or_default(),
            None => self.str_at(&["spec", "storageClassName"]),
        };
        vec![
            self.name(),
            text(phase),
            text(volume),
            text(capacity),
            text(modes),
            text(class),
            text(
                at(self.obj, &["spec", "volumeAttributesClassName"])
                    .and_then(Value::as_str)
                    .unwrap_or("<unset>"),
            ),
            self.age_cell(),
            text(
                at(self.obj, &["spec", "volumeMode"])
                    .and_then(Value::as_str)
                    .unwrap_or("<unset>"),
            ),
        ]
    }

    fn deployment(&self) -> Vec<Value> {
        let (names, images) =
            container_cells(self.arr_at(&["spec", "template", "spec", "containers"]));
        let selector = label_selector_string(at(self.obj, &["spec", "selector"]))
            .unwrap_or_else(|()| "<invalid>".to_string());
        vec![
            self.name(),
            text(format!(
                "{}/{}",
                self.int_at(&["status", "readyReplicas"]),
                self.desired_replicas()
            )),
            int(self.int_at(&["status", "updatedReplicas"])),
            int(self.int_at(&["status", "availableReplicas"])),
            self.age_cell(),
            names,
            images,
            text(selector),
        ]
    }

    fn horizontal_pod_autoscaler(&self) -> Vec<Value> {
        let reference = format!(
            "{}/{}",
            self.str_at(&["spec", "scaleTargetRef", "kind"]),
            self.str_at(&["spec", "scaleTargetRef", "name"])
        );
        let min_pods = match at(self.obj, &["spec", "minReplicas"]).and_then(Value::as_i64) {
            Some(n) => n.to_string(),
            None => "<unset>".to_string(),
        };
        vec![
            self.name(),
            text(reference),
            text(self.hpa_metrics()),
            text(min_pods),
            int(self.int_at(&["spec", "maxReplicas"])),
            int(self.int_at(&["status", "currentReplicas"])),
            self.age_cell(),
        ]
    }

    /// formatHPAMetrics over autoscaling/v2 metrics (autoscaling/v1's CPU target
    /// is read as the equivalent v2 resource metric).
    fn hpa_metrics(&self) -> String {
        let mut specs: Vec<Value> = self.arr_at(&["spec", "metrics"]).to_vec();
        let mut statuses: Vec<Value> = self.arr_at(&["status", "currentMetrics"]).to_vec();
        if specs.is_empty()
            && let Some(target) = at(self.obj, &["spec", "targetCPUUtilizationPercentage"])
        {
            specs.push(json!({"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": target}}}));
            if let Some(current) = at(self.obj, &["status", "currentCPUUtilizationPercentage"]) {
                statuses = vec![
                    json!({"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": current}}}),
                ];
            }
        }
        if specs.is_empty() {
            return "<none>".to_string();
        }
        // Missing optional quantities print as Go's nil *Quantity does.
        let q = |v: &Value, path: &[&str]| match at(v, path) {
            Some(v) => quantity(Some(v)),
            None => "<nil>".to_string(),
        };
        let mut list: Vec<String> = Vec::new();
        for (i, spec) in specs.iter().enumerate() {
            let status = statuses.get(i);
            let status_part = |field: &str| status.and_then(|s| at(s, &[field]));
            // External and Object metrics: an average-value target, or a plain value target.
            let value_or_average = |source: &str| {
                if at(spec, &[source, "target", "averageValue"]).is_some() {
                    let current = status_part(source)
                        .and_then(|s| at(s, &["current", "averageValue"]))
                        .map(|v| quantity(Some(v)))
                        .unwrap_or_else(|| "<unknown>".to_string());
                    format!(
                        "{current}/{} (avg)",
                        q(spec, &[source, "target", "averageValue"])
                    )
                } else {
                    let current = status_part(source)
                        .map(|s| q(s, &["current", "value"]))
                        .unwrap_or_else(|| "<unknown>".to_string());
                    format!("{current}/{}", q(spec, &[source, "target", "value"]))
                }
            };
            let entry = match str_of(spec, &["type"]) {
                "External" => value_or_average("external"),
                "Pods" => {
                    let current = status_part("pods")
                        .map(|s| q(s, &["current", "averageValue"]))
                        .unwrap_or_else(|| "<unknown>".to_string());
                    format!("{current}/{}", q(spec, &["pods", "target", "averageValue"]))
                }
                "Object" => value_or_average("object"),
                t @ ("Resource" | "ContainerResource") => {
                    let field = if t == "Resource" {
                        "resource"
                    } else {
                        "containerResource"
                    };
                    let name = str_of(spec, &[field, "name"]);
                    if at(spec, &[field, "target", "averageValue"]).is_some() {
                        let current = status_part(field)
                            .map(|s| q(s, &["current", "averageValue"]))
                            .unwrap_or_else(|| "<unknown>".to_string());
                        format!(
                            "{name}: {current}/{}",
                            q(spec, &[field, "target", "averageValue"])
                        )
                    } else {
                        let current = status_part(field)
                            .and_then(|s| at(s, &["current", "averageUtilization"]))
                            .and_then(Value::as_i64)
                            .map(|n| format!("{n}%"))
                            .unwrap_or_else(|| "<unknown>".to_string());
                        let target = at(spec, &[field, "target", "averageUtilization"])
                            .and_then(Value::as_i64)
                            .map(|n| format!("{n}%"))
                            .unwrap_or_else(|| "<auto>".to_string());
                        format!("{name}: {current}/{target}")
                    }
                }
                _ => "<unknown type>".to_string(),
            };
            list.push(entry);
        }
        const MAX: usize = 2;
        let count = list.len();
        if count > MAX {
            format!("{} + {} more...", list[..MAX].join(", "), count - MAX)
        } else {
            list.join(", ")
        }
    }

    fn role_binding(&self) -> Vec<Value> {
        let role_ref = format!(
            "{}/{}",
            self.str_at(&["roleRef", "kind"]),
            self.str_at(&["roleRef", "name"])
        );
        let (mut users, mut groups, mut sas) = (Vec::new(), Vec::new(), Vec::new());
        for s in self.arr_at(&["subjects"]) {
            let name = str_of(s, &["name"]);
            match str_of(s, &["kind"]) {
                "ServiceAccount" => sas.push(format!("{}/{name}", str_of(s, &["namespace"]))),
                "User" => users.push(name.to_string()),
                "Group" => groups.push(name.to_string()),
                _ => {}
            }
        }
        vec![
            self.name(),
            text(role_ref),
            self.age_cell(),
            text(users.join(", ")),
            text(groups.join(", ")),
            text(sas.join(", ")),
        ]
    }

    fn certificate_signing_request(&self) -> Vec<Value> {
        let (mut approved, mut denied, mut failed) = (false, false, false);
        for c in self.arr_at(&["status", "conditions"]) {
            match str_of(c, &["type"]) {
                "Approved" => approved = true,
                "Denied" => denied = true,
                "Failed" => failed = true,
                _ => {}
            }
        }
        let mut status = if denied {
            "Denied"
        } else if approved {
            "Approved"
        } else {
            "Pending"
        }
        .to_string();
        if failed {
            status.push_str(",Failed");
        }
        if !self.str_at(&["status", "certificate"]).is_empty() {
            status.push_str(",Issued");
        }
        let requested = match at(self.obj, &["spec", "expirationSeconds"]).and_then(Value::as_i64) {
            Some(secs) => human_duration(TimeDelta::seconds(secs)),
            None => "<none>".to_string(),
        };
        vec![
            self.name(),
            self.age_cell(),
            text(or_placeholder(
                self.str_at(&["spec", "signerName"]),
                "<none>",
            )),
            text(self.str_at(&["spec", "username"])),
            text(requested),
            text(status),
        ]
    }

    fn storage_class(&self) -> Vec<Value> {
        let annotations = at(self.obj, &["metadata", "annotations"]);
        let is_default = [
            "storageclass.kubernetes.io/is-default-class",
            "storageclass.beta.kubernetes.io/is-default-class",
        ]
        .iter()
        .any(|a| annotations.and_then(|m| m.get(*a)).and_then(Value::as_str) == Some("true"));
        let mut name = self.str_at(&["metadata", "name"]).to_string();
        if is_default {
            name.push_str(" (default)");
        }
        vec![
            text(name),
            text(self.str_at(&["provisioner"])),
            text(
                at(self.obj, &["reclaimPolicy"])
                    .and_then(Value::as_str)
                    .unwrap_or("Delete"),
            ),
            text(
                at(self.obj, &["volumeBindingMode"])
                    .and_then(Value::as_str)
                    .unwrap_or("Immediate"),
            ),
            Value::Bool(self.bool_at(&["allowVolumeExpansion"]).unwrap_or(false)),
            self.age_cell(),
        ]
    }

    fn controller_revision(&self) -> Vec<Value> {
        let controller = self
            .arr_at(&["metadata", "ownerReferences"])
            .iter()
            .find(|r| at(r, &["controller"]).and_then(Value::as_bool) == Some(true));
        let controller = match controller {
            None => "<none>".to_string(),
            Some(r) => {
                let api_version = str_of(r, &["apiVersion"]);
                let group = match api_version.split_once('/') {
                    Some((g, _)) => g,
                    None => "",
                };
                let kind = str_of(r, &["kind"]);
                let name = str_of(r, &["name"]);
                if group.is_empty() && kind.is_empty() {
                    name.to_string()
                } else if group.is_empty() {
                    format!("{}/{name}", kind.to_lowercase())
                } else {
                    format!("{}.{}/{name}", kind.to_lowercase(), group.to_lowercase())
                }
            }
        };
        vec![
            self.name(),
            text(controller),
            int(self.int_at(&["revision"])),
            self.age_cell(),
        ]
    }

    fn resource_quota(&self) -> Vec<Value> {
        let hard = at(self.obj, &["status", "hard"]).and_then(Value::as_object);
        let used = at(self.obj, &["status", "used"]);
        let mut names: Vec<&String> = hard.map(|h| h.keys().collect()).unwrap_or_default();
        names.sort();
        let (mut requests, mut limits) = (Vec::new(), Vec::new());
        for name in names {
            let entry = format!(
                "{name}: {}/{}",
                quantity(used.and_then(|u| u.get(name.as_str()))),
                quantity(hard.and_then(|h| h.get(name.as_str())))
            );
            let pieces: Vec<&str> = name.split('.').collect();
            if pieces.len() > 1 && pieces[0] == "limits" {
                limits.push(entry);
            } else {
                requests.push(entry);
            }
        }
        vec![
            self.name(),
            text(requests.join(", ")),
            text(limits.join(", ")),
            self.age_cell(),
        ]
    }
}

fn has_condition_ready(conditions: &[Value]) -> bool {
    conditions
        .iter()
        .any(|c| str_of(c, &["type"]) == "Ready" && str_of(c, &["status"]) == "True")
}

#[cfg(test)]
mod tests;
