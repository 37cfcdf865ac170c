//! Pods, pod templates and the pod spec they share: upstream's `ValidatePodCreate`,
//! `ValidatePodUpdate`, `ValidatePodTemplateSpec` and `ValidatePodSpec`.

use std::collections::{BTreeSet, HashSet};

use den_apimachinery::validation::{BadValue, is_valid_label_value};
use serde_json::Value;

use super::quantity::Quantity;
use super::*;

const FILE_MODE: &str = "must be a number between 0 and 0777 (octal), both inclusive";
const MAX_INT32: i64 = i32::MAX as i64;

/// Volume sources in the order upstream checks them, for "more than 1 volume type".
const VOLUME_SOURCES: &[&str] = &[
    "emptyDir",
    "hostPath",
    "gitRepo",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "secret",
    "nfs",
    "iscsi",
    "glusterfs",
    "flocker",
    "persistentVolumeClaim",
    "rbd",
    "cinder",
    "cephfs",
    "quobyte",
    "downwardAPI",
    "fc",
    "flexVolume",
    "configMap",
    "azureFile",
    "vsphereVolume",
    "photonPersistentDisk",
    "portworxVolume",
    "azureDisk",
    "storageos",
    "projected",
    "scaleIO",
    "csi",
    "ephemeral",
    "image",
];

/// The path upstream reports a second volume source under (two of its names differ from the
/// JSON field: `cephFS` and the misspelt `downwarAPI`).
fn volume_source_path(source: &str) -> &str {
    match source {
        "cephfs" => "cephFS",
        "downwardAPI" => "downwarAPI",
        other => other,
    }
}

/// What upstream's `PodValidationOptions` relax for an update, from the old object.
#[derive(Clone, Copy, Default)]
struct SpecOptions {
    /// The old pod already had a namespaced sysctl its host namespaces forbid.
    allow_namespaced_sysctls_for_host_net_and_ipc: bool,
}

impl SpecOptions {
    fn for_update(old_spec: &Value) -> Self {
        let allow = list(old_spec.get("securityContext").unwrap_or(null()), "sysctls")
            .iter()
            .any(|sysctl| host_sysctl_error(s(sysctl, "name"), old_spec).is_some());
        SpecOptions {
            allow_namespaced_sysctls_for_host_net_and_ipc: allow,
        }
    }
}

pub fn validate_pod_create(pod: &Value) -> Errors {
    let mut errs = validate_pod_metadata_and_spec(pod, SpecOptions::default());
    let spec = pod.get("spec").unwrap_or(null());
    if !list(spec, "ephemeralContainers").is_empty() {
        errs.push(forbidden(
            "spec.ephemeralContainers",
            "cannot be set on create",
        ));
    }
    if !s(spec, "nodeName").is_empty() && !list(spec, "schedulingGates").is_empty() {
        errs.push(forbidden(
            "spec.nodeName",
            "cannot be set until all schedulingGates have been cleared",
        ));
    }
    errs
}

fn validate_pod_metadata_and_spec(pod: &Value, opts: SpecOptions) -> Errors {
    let mut errs = Errors::new();
    let spec = pod.get("spec").unwrap_or(null());
    let name = pod.pointer("/metadata/name").and_then(Value::as_str);
    validate_pod_spec(&mut errs, spec, name, "spec", opts);
    if s(spec, "serviceAccountName").is_empty() {
        for (vi, volume) in list(spec, "volumes").iter().enumerate() {
            let Some(projected) = present(volume, "projected") else {
                continue;
            };
            for (si, source) in list(projected, "sources").iter().enumerate() {
                if present(source, "serviceAccountToken").is_some() {
                    errs.push(forbidden(
                        &format!("spec.volumes[{vi}].projected.sources[{si}].serviceAccountToken"),
                        "must not be specified when serviceAccountName is not set",
                    ));
                }
            }
        }
    }
    for field in ["containers", "initContainers"] {
        for (i, ctr) in list(spec, field).iter().enumerate() {
            let image = s(ctr, "image");
            if image.trim() != image {
                errs.push(invalid_str(
                    &format!("spec.{field}[{i}].image"),
                    image,
                    "must not have leading or trailing whitespace",
                ));
            }
        }
    }
    errs
}

/// A `PodTemplate` object: its metadata is checked by the caller, its template here.
pub fn validate_pod_template_object(obj: &Value) -> Errors {
    let mut errs = Errors::new();
    validate_pod_template_spec(&mut errs, obj.get("template").unwrap_or(null()), "template");
    errs
}

/// Upstream's `ValidatePodTemplateSpec`.
pub fn validate_pod_template_spec(errs: &mut Errors, template: &Value, path: &str) {
    let meta = template.get("metadata").unwrap_or(null());
    labels(errs, meta, "labels", &child(path, "labels"));
    annotations(errs, meta, "annotations", &child(path, "annotations"));
    let spec = template.get("spec").unwrap_or(null());
    validate_pod_spec(
        errs,
        spec,
        None,
        &child(path, "spec"),
        SpecOptions::default(),
    );
    if !list(spec, "ephemeralContainers").is_empty() {
        errs.push(forbidden(
            &child(path, "spec.ephemeralContainers"),
            "ephemeral containers not allowed in pod template",
        ));
    }
}

/// Upstream's `ValidatePodSpec`. `pod_name` is set for pods (not templates).
fn validate_pod_spec(
    errs: &mut Errors,
    spec: &Value,
    pod_name: Option<&str>,
    path: &str,
    opts: SpecOptions,
) {
    if present(spec, "terminationGracePeriodSeconds").is_none() {
        errs.push(required(&child(path, "terminationGracePeriodSeconds"), ""));
    }
    let grace = int(spec, "terminationGracePeriodSeconds");
    let volumes = validate_volumes(errs, spec, pod_name, &child(path, "volumes"));
    validate_containers(errs, spec, &volumes, grace, &child(path, "containers"));
    validate_init_containers(errs, spec, &volumes, grace, &child(path, "initContainers"));
    one_of(
        errs,
        s(spec, "restartPolicy"),
        &child(path, "restartPolicy"),
        &["Always", "OnFailure", "Never"],
    );
    one_of(
        errs,
        s(spec, "dnsPolicy"),
        &child(path, "dnsPolicy"),
        &["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"],
    );
    labels(errs, spec, "nodeSelector", &child(path, "nodeSelector"));
    validate_sysctls(errs, spec, &child(path, "securityContext.sysctls"), opts);
    validate_image_pull_secrets(errs, spec, &child(path, "imagePullSecrets"));
    if s(spec, "dnsPolicy") == "None" && present(spec, "dnsConfig").is_none() {
        errs.push(required(
            &child(path, "dnsConfig"),
            "must provide `dnsConfig` when `dnsPolicy` is None",
        ));
    }
    for (field, rule) in [
        (
            "serviceAccountName",
            object_name as fn(&mut Errors, &str, &str),
        ),
        ("nodeName", object_name),
    ] {
        let value = s(spec, field);
        if !value.is_empty() {
            rule(errs, value, &child(path, field));
        }
    }
    if let Some(deadline) = int(spec, "activeDeadlineSeconds")
        && !(1..=MAX_INT32).contains(&deadline)
    {
        errs.push(invalid_int(
            &child(path, "activeDeadlineSeconds"),
            deadline,
            &inclusive_range(1, MAX_INT32),
        ));
    }
    for field in ["hostname", "subdomain"] {
        let value = s(spec, field);
        if !value.is_empty() {
            dns1123_label(errs, value, &child(path, field));
        }
    }
    validate_tolerations(errs, list(spec, "tolerations"), &child(path, "tolerations"));
    let priority_class = s(spec, "priorityClassName");
    if !priority_class.is_empty() {
        object_name(errs, priority_class, &child(path, "priorityClassName"));
    }
    if let Some(policy) = present(spec, "preemptionPolicy") {
        let policy_path = child(path, "preemptionPolicy");
        match policy.as_str().unwrap_or("") {
            "PreemptLowerPriority" | "Never" => {}
            "" => errs.push(required(&policy_path, "")),
            other => errs.push(not_supported(
                &policy_path,
                quoted(other),
                &["PreemptLowerPriority", "Never"],
            )),
        }
    }
}

/// Upstream's `SysctlMaxLength`.
const SYSCTL_MAX_LENGTH: usize = 253;

/// Upstream's sysctl name pattern (segments of `[a-z0-9]([-_a-z0-9]*[a-z0-9])?` joined by `.`
/// or `/`), as its error message prints it.
const SYSCTL_NAME_REGEX: &str =
    r"^([a-z0-9]([-_a-z0-9]*[a-z0-9])?[\./])*[a-z0-9]([-_a-z0-9]*[a-z0-9])?$";

/// Upstream's `IsValidSysctlName`.
fn is_valid_sysctl_name(name: &str) -> bool {
    if name.len() > SYSCTL_MAX_LENGTH {
        return false;
    }
    name.split(['.', '/']).all(|segment| {
        let bytes = segment.as_bytes();
        let edge = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
        match (bytes.first(), bytes.last()) {
            (Some(first), Some(last)) => {
                edge(first)
                    && edge(last)
                    && bytes.iter().all(|b| edge(b) || *b == b'-' || *b == b'_')
            }
            _ => false,
        }
    })
}

/// The kernel namespace a sysctl belongs to (upstream's `sysctl.GetNamespace`): `Net`, `IPC`
/// or none.
fn sysctl_namespace(name: &str) -> Option<&'static str> {
    // A name written with `/` separators (`net/ipv4/ip_forward`) is read with `.` and `/`
    // swapped, as the kubelet does.
    let normalized: String = match name.find(['.', '/']) {
        Some(i) if name.as_bytes()[i] == b'/' => name
            .chars()
            .map(|c| match c {
                '.' => '/',
                '/' => '.',
                c => c,
            })
            .collect(),
        _ => name.to_string(),
    };
    let normalized = match normalized.find('*') {
        Some(i) => &normalized[..i],
        None => &normalized[..],
    };
    const IPC: &[&str] = &[
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
        "kernel.shm",
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.msg",
    ];
    if IPC.contains(&normalized) || normalized.starts_with("fs.mqueue.") {
        Some("IPC")
    } else if normalized.starts_with("net.") {
        Some("Net")
    } else {
        None
    }
}

/// Upstream's `ValidateHostSysctl`: a namespaced sysctl in a pod sharing that namespace with
/// the host.
fn host_sysctl_error(name: &str, spec: &Value) -> Option<&'static str> {
    let on = |field: &str| spec.get(field).and_then(Value::as_bool) == Some(true);
    match sysctl_namespace(name) {
        Some("Net") if on("hostNetwork") => Some("may not be specified when 'hostNetwork' is true"),
        Some("IPC") if on("hostIPC") => Some("may not be specified when 'hostIPC' is true"),
        _ => None,
    }
}

/// Upstream's `validateSysctls` of `spec.securityContext.sysctls`.
fn validate_sysctls(errs: &mut Errors, spec: &Value, path: &str, opts: SpecOptions) {
    let sysctls = list(spec.get("securityContext").unwrap_or(null()), "sysctls");
    let mut seen = HashSet::new();
    for (i, sysctl) in sysctls.iter().enumerate() {
        let name = s(sysctl, "name");
        let name_path = child(&index(path, i), "name");
        if name.is_empty() {
            errs.push(required(&name_path, ""));
        } else if !is_valid_sysctl_name(name) {
            errs.push(invalid_str(
                &name_path,
                name,
                &format!(
                    "must have at most {SYSCTL_MAX_LENGTH} characters and match regex {SYSCTL_NAME_REGEX}"
                ),
            ));
        } else if seen.contains(name) {
            errs.push(duplicate(&name_path, quoted(name)));
        }
        if !opts.allow_namespaced_sysctls_for_host_net_and_ipc
            && let Some(detail) = host_sysctl_error(name, spec)
        {
            errs.push(invalid_str(&name_path, name, detail));
        }
        seen.insert(name);
    }
}

fn validate_image_pull_secrets(errs: &mut Errors, spec: &Value, path: &str) {
    for (i, secret) in list(spec, "imagePullSecrets").iter().enumerate() {
        let extra: Vec<&String> = secret
            .as_object()
            .map(|o| o.keys().filter(|k| *k != "name").collect())
            .unwrap_or_default();
        if !extra.is_empty() {
            errs.push(invalid(
                &index(path, i),
                raw(format!(
                    "core.LocalObjectReference{{Name:{}}}",
                    go_quoted(s(secret, "name"))
                )),
                "may not have more than one field set",
            ));
        }
    }
}

/// Upstream's `ValidateVolumes`: the names of volumes without errors, for mounts to refer to.
fn validate_volumes(
    errs: &mut Errors,
    spec: &Value,
    pod_name: Option<&str>,
    path: &str,
) -> HashSet<String> {
    let mut names = HashSet::new();
    let ephemeral_claims: HashSet<String> = match pod_name {
        Some(pod) if !pod.is_empty() => list(spec, "volumes")
            .iter()
            .filter(|v| present(v, "ephemeral").is_some())
            .map(|v| format!("{pod}-{}", s(v, "name")))
            .collect(),
        _ => HashSet::new(),
    };
    for (i, volume) in list(spec, "volumes").iter().enumerate() {
        let idx_path = index(path, i);
        let name_path = child(&idx_path, "name");
        let name = s(volume, "name");
        let mut el = validate_volume_source(volume, &idx_path);
        if name.is_empty() {
            el.push(required(&name_path, ""));
        } else {
            dns1123_label(&mut el, name, &name_path);
        }
        if names.contains(name) {
            el.push(duplicate(&name_path, quoted(name)));
        }
        if el.is_empty() {
            names.insert(name.to_string());
        } else {
            errs.extend(el);
        }
        if let Some(claim) = present(volume, "persistentVolumeClaim") {
            let claim_name = s(claim, "claimName");
            if ephemeral_claims.contains(claim_name) {
                errs.push(invalid_str(
                    &child(&idx_path, "persistentVolumeClaim.claimName"),
                    claim_name,
                    "must not reference a PVC that gets created for an ephemeral volume",
                ));
            }
        }
    }
    names
}

fn validate_volume_source(volume: &Value, path: &str) -> Errors {
    let mut errs = Errors::new();
    let mut count = 0;
    for source in VOLUME_SOURCES {
        let Some(value) = present(volume, source) else {
            continue;
        };
        if count > 0 {
            errs.push(forbidden(
                &child(path, volume_source_path(source)),
                "may not specify more than 1 volume type",
            ));
            continue;
        }
        count += 1;
        let source_path = child(path, source);
        match *source {
            "emptyDir" => {
                if let Some(limit) = present(value, "sizeLimit")
                    && Quantity::from_json(limit).is_ok_and(|q| q.is_negative())
                {
                    errs.push(forbidden(
                        &child(&source_path, "sizeLimit"),
                        "SizeLimit field must be a valid resource quantity",
                    ));
                }
            }
            "hostPath" => {
                let host_path = s(value, "path");
                if host_path.is_empty() {
                    errs.push(required(&child(&source_path, "path"), ""));
                } else {
                    no_backsteps(&mut errs, host_path, &child(&source_path, "path"));
                    if let Some(kind) = value.get("type").and_then(Value::as_str) {
                        const TYPES: &[&str] = &[
                            "",
                            "BlockDevice",
                            "CharDevice",
                            "Directory",
                            "DirectoryOrCreate",
                            "File",
                            "FileOrCreate",
                            "Socket",
                        ];
                        if !TYPES.contains(&kind) {
                            errs.push(not_supported(
                                &child(&source_path, "type"),
                                quoted(kind),
                                TYPES,
                            ));
                        }
                    }
                }
            }
            "secret" => {
                if s(value, "secretName").is_empty() {
                    errs.push(required(&child(&source_path, "secretName"), ""));
                }
                file_mode(&mut errs, value, "defaultMode", &source_path);
                key_to_paths(&mut errs, value, &source_path);
            }
            "configMap" => {
                if s(value, "name").is_empty() {
                    errs.push(required(&child(&source_path, "name"), ""));
                }
                file_mode(&mut errs, value, "defaultMode", &source_path);
                key_to_paths(&mut errs, value, &source_path);
            }
            "persistentVolumeClaim" if s(value, "claimName").is_empty() => {
                errs.push(required(&child(&source_path, "claimName"), ""));
            }
            "downwardAPI" => {
                file_mode(&mut errs, value, "defaultMode", &source_path);
                for item in list(value, "items") {
                    downward_api_file(&mut errs, item, &source_path);
                }
            }
            "projected" => file_mode(&mut errs, value, "defaultMode", &source_path),
            "nfs" => {
                if s(value, "server").is_empty() {
                    errs.push(required(&child(&source_path, "server"), ""));
                }
                let nfs_path = s(value, "path");
                if nfs_path.is_empty() {
                    errs.push(required(&child(&source_path, "path"), ""));
                } else if !nfs_path.starts_with('/') {
                    errs.push(invalid_str(
                        &child(&source_path, "path"),
                        nfs_path,
                        "must be an absolute path",
                    ));
                }
            }
            "csi" if s(value, "driver").is_empty() => {
                errs.push(required(&child(&source_path, "driver"), ""));
            }
            _ => {}
        }
    }
    if count == 0 {
        errs.push(required(path, "must specify a volume type"));
    }
    errs
}

fn file_mode(errs: &mut Errors, obj: &Value, field: &str, path: &str) {
    if let Some(mode) = int(obj, field)
        && !(0..=0o777).contains(&mode)
    {
        errs.push(invalid_int(&child(path, field), mode, FILE_MODE));
    }
}

fn key_to_paths(errs: &mut Errors, source: &Value, path: &str) {
    for (i, item) in list(source, "items").iter().enumerate() {
        let item_path = index(&child(path, "items"), i);
        if s(item, "key").is_empty() {
            errs.push(required(&child(&item_path, "key"), ""));
        }
        let target = s(item, "path");
        if target.is_empty() {
            errs.push(required(&child(&item_path, "path"), ""));
        }
        local_non_reserved_path(errs, target, &child(&item_path, "path"));
        file_mode(errs, item, "mode", &item_path);
    }
}

fn downward_api_file(errs: &mut Errors, file: &Value, path: &str) {
    let target = s(file, "path");
    if target.is_empty() {
        errs.push(required(&child(path, "path"), ""));
    }
    local_non_reserved_path(errs, target, &child(path, "path"));
    match (present(file, "fieldRef"), present(file, "resourceFieldRef")) {
        (Some(_), Some(_)) => errs.push(invalid_str(
            path,
            "resource",
            "fieldRef and resourceFieldRef can not be specified simultaneously",
        )),
        (None, None) => errs.push(required(
            path,
            "one of fieldRef and resourceFieldRef is required",
        )),
        _ => {}
    }
    file_mode(errs, file, "mode", path);
}

fn no_backsteps(errs: &mut Errors, target: &str, path: &str) {
    if target.split('/').any(|part| part == "..") {
        errs.push(invalid_str(path, target, "must not contain '..'"));
    }
}

fn local_descending_path(errs: &mut Errors, target: &str, path: &str) {
    if target.starts_with('/') {
        errs.push(invalid_str(path, target, "must be a relative path"));
    }
    no_backsteps(errs, target, path);
}

fn local_non_reserved_path(errs: &mut Errors, target: &str, path: &str) {
    local_descending_path(errs, target, path);
    if target.starts_with("..") && !target.starts_with("../") {
        errs.push(invalid_str(path, target, "must not start with '..'"));
    }
}

fn validate_containers(
    errs: &mut Errors,
    spec: &Value,
    volumes: &HashSet<String>,
    grace: Option<i64>,
    path: &str,
) {
    let containers = list(spec, "containers");
    if containers.is_empty() {
        errs.push(required(path, ""));
        return;
    }
    let mut names = HashSet::new();
    for (i, ctr) in containers.iter().enumerate() {
        let ctr_path = index(path, i);
        validate_container_common(errs, ctr, volumes, &ctr_path);
        let name = s(ctr, "name");
        if !names.insert(name) {
            errs.push(duplicate(&child(&ctr_path, "name"), quoted(name)));
        }
        if let Some(lifecycle) = present(ctr, "lifecycle") {
            validate_lifecycle(errs, lifecycle, grace, &child(&ctr_path, "lifecycle"));
        }
        validate_probes(errs, ctr, grace, &ctr_path);
        if present(ctr, "restartPolicy").is_some() {
            errs.push(forbidden(
                &child(&ctr_path, "restartPolicy"),
                "may not be set for non-init containers",
            ));
        }
    }
    host_port_conflicts(errs, containers, path);
}

fn validate_init_containers(
    errs: &mut Errors,
    spec: &Value,
    volumes: &HashSet<String>,
    grace: Option<i64>,
    path: &str,
) {
    let mut names: HashSet<&str> = list(spec, "containers")
        .iter()
        .map(|c| s(c, "name"))
        .collect();
    for (i, ctr) in list(spec, "initContainers").iter().enumerate() {
        let ctr_path = index(path, i);
        validate_container_common(errs, ctr, volumes, &ctr_path);
        let mut restart_always = false;
        if let Some(policy) = present(ctr, "restartPolicy") {
            let policy = policy.as_str().unwrap_or("");
            if policy != "Always" {
                errs.push(not_supported(
                    &child(&ctr_path, "restartPolicy"),
                    quoted(policy),
                    &["Always"],
                ));
            }
            restart_always = policy == "Always";
        }
        let name = s(ctr, "name");
        if names.contains(name) {
            errs.push(duplicate(&child(&ctr_path, "name"), quoted(name)));
        } else if !name.is_empty() {
            names.insert(name);
        }
        host_port_conflicts(errs, std::slice::from_ref(ctr), path);
        if restart_always {
            if let Some(lifecycle) = present(ctr, "lifecycle") {
                validate_lifecycle(errs, lifecycle, grace, &child(&ctr_path, "lifecycle"));
            }
            validate_probes(errs, ctr, grace, &ctr_path);
        } else {
            for field in [
                "lifecycle",
                "livenessProbe",
                "readinessProbe",
                "startupProbe",
            ] {
                if present(ctr, field).is_some() {
                    errs.push(forbidden(
                        &child(&ctr_path, field),
                        "may not be set for init containers without restartPolicy=Always",
                    ));
                }
            }
        }
    }
}

/// Upstream's `validateContainerCommon`.
fn validate_container_common(
    errs: &mut Errors,
    ctr: &Value,
    volumes: &HashSet<String>,
    path: &str,
) {
    let name = s(ctr, "name");
    let name_path = child(path, "name");
    if name.is_empty() {
        errs.push(required(&name_path, ""));
    } else {
        dns1123_label(errs, name, &name_path);
    }
    if s(ctr, "image").is_empty() {
        errs.push(required(&child(path, "image"), ""));
    }
    one_of(
        errs,
        s(ctr, "terminationMessagePolicy"),
        &child(path, "terminationMessagePolicy"),
        &["File", "FallbackToLogsOnError"],
    );
    validate_container_ports(errs, list(ctr, "ports"), &child(path, "ports"));
    validate_env(errs, list(ctr, "env"), &child(path, "env"));
    validate_env_from(errs, list(ctr, "envFrom"), &child(path, "envFrom"));
    validate_volume_mounts(
        errs,
        list(ctr, "volumeMounts"),
        volumes,
        &child(path, "volumeMounts"),
    );
    one_of(
        errs,
        s(ctr, "imagePullPolicy"),
        &child(path, "imagePullPolicy"),
        &["Always", "IfNotPresent", "Never"],
    );
    validate_resource_requirements(
        errs,
        ctr.get("resources").unwrap_or(null()),
        &child(path, "resources"),
    );
}

fn validate_container_ports(errs: &mut Errors, ports: &[Value], path: &str) {
    let mut names = HashSet::new();
    for (i, port) in ports.iter().enumerate() {
        let idx_path = index(path, i);
        let name = s(port, "name");
        if !name.is_empty() {
            let msgs = port_name_errors(name);
            if !msgs.is_empty() {
                for msg in msgs {
                    errs.push(invalid_str(&child(&idx_path, "name"), name, &msg));
                }
            } else if !names.insert(name) {
                errs.push(duplicate(&child(&idx_path, "name"), quoted(name)));
            }
        }
        match int(port, "containerPort").unwrap_or(0) {
            0 => errs.push(required(&child(&idx_path, "containerPort"), "")),
            number => {
                for msg in port_number_errors(number) {
                    errs.push(invalid_int(
                        &child(&idx_path, "containerPort"),
                        number,
                        &msg,
                    ));
                }
            }
        }
        let host_port = int(port, "hostPort").unwrap_or(0);
        if host_port != 0 {
            for msg in port_number_errors(host_port) {
                errs.push(invalid_int(&child(&idx_path, "hostPort"), host_port, &msg));
            }
        }
        protocol(errs, s(port, "protocol"), &child(&idx_path, "protocol"));
    }
}

/// A port protocol: required, one of upstream's supported protocols.
pub(crate) fn protocol(errs: &mut Errors, value: &str, path: &str) {
    match value {
        "TCP" | "UDP" | "SCTP" => {}
        "" => errs.push(required(path, "")),
        other => errs.push(not_supported(path, quoted(other), &["SCTP", "TCP", "UDP"])),
    }
}

fn host_port_conflicts(errs: &mut Errors, containers: &[Value], path: &str) {
    let mut seen = HashSet::new();
    for (ci, ctr) in containers.iter().enumerate() {
        for (pi, port) in list(ctr, "ports").iter().enumerate() {
            let host_port = int(port, "hostPort").unwrap_or(0);
            if host_port == 0 {
                continue;
            }
            let key = format!("{}/{}/{host_port}", s(port, "protocol"), s(port, "hostIP"));
            if !seen.insert(key.clone()) {
                errs.push(duplicate(
                    &format!("{path}[{ci}].ports[{pi}].hostPort"),
                    quoted(&key),
                ));
            }
        }
    }
}

/// Upstream's relaxed environment variable names (the default since 1.32).
fn env_name_errors(name: &str) -> Vec<String> {
    if name
        .chars()
        .any(|c| !c.is_ascii() || c.is_ascii_control() || c == '=')
    {
        return vec![
            "a valid environment variable name must consist only of printable ASCII characters other than '='"
                .into(),
        ];
    }
    Vec::new()
}

fn validate_env(errs: &mut Errors, vars: &[Value], path: &str) {
    for (i, var) in vars.iter().enumerate() {
        let idx_path = index(path, i);
        let name = s(var, "name");
        if name.is_empty() {
            errs.push(required(&child(&idx_path, "name"), ""));
        } else {
            for msg in env_name_errors(name) {
                errs.push(invalid_str(&child(&idx_path, "name"), name, &msg));
            }
        }
        let Some(from) = present(var, "valueFrom") else {
            continue;
        };
        let from_path = child(&idx_path, "valueFrom");
        let mut sources = 0;
        if let Some(field_ref) = present(from, "fieldRef") {
            sources += 1;
            let ref_path = child(&from_path, "fieldRef");
            if s(field_ref, "apiVersion").is_empty() {
                errs.push(required(&child(&ref_path, "apiVersion"), ""));
            } else if s(field_ref, "fieldPath").is_empty() {
                errs.push(required(&child(&ref_path, "fieldPath"), ""));
            }
        }
        if present(from, "resourceFieldRef").is_some() {
            sources += 1;
        }
        for (field, name_required) in [("configMapKeyRef", true), ("secretKeyRef", true)] {
            let Some(selector) = present(from, field) else {
                continue;
            };
            sources += 1;
            let sel_path = child(&from_path, field);
            if name_required {
                object_name(errs, s(selector, "name"), &child(&sel_path, "name"));
            }
            let key = s(selector, "key");
            if key.is_empty() {
                errs.push(required(&child(&sel_path, "key"), ""));
            } else {
                for msg in config_map_key_errors(key) {
                    errs.push(invalid_str(&child(&sel_path, "key"), key, &msg));
                }
            }
        }
        if sources == 0 {
            errs.push(invalid_str(
                &from_path,
                "",
                "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`",
            ));
        } else if !s(var, "value").is_empty() {
            errs.push(invalid_str(
                &from_path,
                "",
                "may not be specified when `value` is not empty",
            ));
        } else if sources > 1 {
            errs.push(invalid_str(
                &from_path,
                "",
                "may not have more than one field specified at a time",
            ));
        }
    }
}

/// Upstream's `IsConfigMapKey`.
pub(crate) fn config_map_key_errors(key: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if key.len() > 253 {
        errs.push(den_apimachinery::validation::max_len_error(253));
    }
    if key.is_empty()
        || !key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        errs.push(den_apimachinery::validation::regex_error(
            "a valid config key must consist of alphanumeric characters, '-', '_' or '.'",
            "[-._a-zA-Z0-9]+",
            &["key.name", "KEY_NAME", "key-name"],
        ));
    }
    match key {
        "." => errs.push("must not be '.'".into()),
        ".." => errs.push("must not be '..'".into()),
        k if k.starts_with("..") => errs.push("must not start with '..'".into()),
        _ => {}
    }
    errs
}

fn validate_env_from(errs: &mut Errors, sources: &[Value], path: &str) {
    for (i, source) in sources.iter().enumerate() {
        let idx_path = index(path, i);
        let prefix = s(source, "prefix");
        if !prefix.is_empty() {
            for msg in env_name_errors(prefix) {
                errs.push(invalid_str(&child(&idx_path, "prefix"), prefix, &msg));
            }
        }
        let mut count = 0;
        for field in ["configMapRef", "secretRef"] {
            let Some(reference) = present(source, field) else {
                continue;
            };
            count += 1;
            let name = s(reference, "name");
            let name_path = child(&child(&idx_path, field), "name");
            if name.is_empty() {
                errs.push(required(&name_path, ""));
            } else {
                for msg in den_apimachinery::validation::name_is_dns_subdomain(name, true) {
                    errs.push(invalid_str(&name_path, name, &msg));
                }
            }
        }
        if count == 0 {
            errs.push(invalid_str(
                path,
                "",
                "must specify one of: `configMapRef` or `secretRef`",
            ));
        } else if count > 1 {
            errs.push(invalid_str(
                path,
                "",
                "may not have more than one field specified at a time",
            ));
        }
    }
}

fn validate_volume_mounts(
    errs: &mut Errors,
    mounts: &[Value],
    volumes: &HashSet<String>,
    path: &str,
) {
    let mut mount_points = HashSet::new();
    for (i, mount) in mounts.iter().enumerate() {
        let idx_path = index(path, i);
        let name = s(mount, "name");
        if name.is_empty() {
            errs.push(required(&child(&idx_path, "name"), ""));
        }
        if !volumes.contains(name) {
            errs.push(not_found(&child(&idx_path, "name"), name));
        }
        let mount_path = s(mount, "mountPath");
        if mount_path.is_empty() {
            errs.push(required(&child(&idx_path, "mountPath"), ""));
        }
        if !mount_points.insert(mount_path) {
            errs.push(invalid_str(
                &child(&idx_path, "mountPath"),
                mount_path,
                "must be unique",
            ));
        }
        let sub_path = s(mount, "subPath");
        if !sub_path.is_empty() {
            local_descending_path(errs, sub_path, &child(path, "subPath"));
        }
        let sub_path_expr = s(mount, "subPathExpr");
        if !sub_path_expr.is_empty() {
            if !sub_path.is_empty() {
                errs.push(invalid_str(
                    &child(&idx_path, "subPathExpr"),
                    sub_path_expr,
                    "subPathExpr and subPath are mutually exclusive",
                ));
            }
            local_descending_path(errs, sub_path_expr, &child(path, "subPathExpr"));
        }
    }
}

fn validate_probes(errs: &mut Errors, ctr: &Value, grace: Option<i64>, path: &str) {
    if let Some(probe) = present(ctr, "livenessProbe") {
        let probe_path = child(path, "livenessProbe");
        validate_probe(errs, probe, grace, &probe_path);
        success_threshold_one(errs, probe, &probe_path);
    }
    if let Some(probe) = present(ctr, "readinessProbe") {
        let probe_path = child(path, "readinessProbe");
        validate_probe(errs, probe, grace, &probe_path);
        if let Some(seconds) = present(probe, "terminationGracePeriodSeconds") {
            errs.push(invalid(
                &child(&probe_path, "terminationGracePeriodSeconds"),
                super::gofmt::optional_int(Some(seconds)),
                "must not be set for readinessProbes",
            ));
        }
    }
    if let Some(probe) = present(ctr, "startupProbe") {
        let probe_path = child(path, "startupProbe");
        validate_probe(errs, probe, grace, &probe_path);
        success_threshold_one(errs, probe, &probe_path);
    }
}

fn success_threshold_one(errs: &mut Errors, probe: &Value, path: &str) {
    let threshold = int(probe, "successThreshold").unwrap_or(0);
    if threshold != 1 {
        errs.push(invalid_int(
            &child(path, "successThreshold"),
            threshold,
            "must be 1",
        ));
    }
}

fn validate_probe(errs: &mut Errors, probe: &Value, grace: Option<i64>, path: &str) {
    validate_handler(errs, probe, grace, path, true);
    for field in [
        "initialDelaySeconds",
        "timeoutSeconds",
        "periodSeconds",
        "successThreshold",
        "failureThreshold",
    ] {
        non_negative(errs, probe, field, &child(path, field));
    }
    if let Some(seconds) = int(probe, "terminationGracePeriodSeconds")
        && seconds <= 0
    {
        errs.push(invalid_int(
            &child(path, "terminationGracePeriodSeconds"),
            seconds,
            "must be greater than 0",
        ));
    }
}

fn validate_lifecycle(errs: &mut Errors, lifecycle: &Value, grace: Option<i64>, path: &str) {
    for hook in ["postStart", "preStop"] {
        if let Some(handler) = present(lifecycle, hook) {
            validate_handler(errs, handler, grace, &child(path, hook), false);
        }
    }
    if present(lifecycle, "stopSignal").is_some() {
        errs.push(forbidden(
            &child(path, "stopSignal"),
            "may not be set for containers with empty `spec.os.name`",
        ));
    }
}

/// Exactly one handler: exec, httpGet, tcpSocket, grpc (probes) or sleep (hooks).
fn validate_handler(
    errs: &mut Errors,
    handler: &Value,
    grace: Option<i64>,
    path: &str,
    probe: bool,
) {
    let kinds: &[&str] = if probe {
        &["exec", "httpGet", "tcpSocket", "grpc"]
    } else {
        &["exec", "httpGet", "tcpSocket", "sleep"]
    };
    let mut count = 0;
    for kind in kinds {
        let Some(action) = present(handler, kind) else {
            continue;
        };
        let action_path = child(path, kind);
        if count > 0 {
            errs.push(forbidden(
                &action_path,
                "may not specify more than 1 handler type",
            ));
            continue;
        }
        count += 1;
        match *kind {
            "exec" if list(action, "command").is_empty() => {
                errs.push(required(&child(&action_path, "command"), ""));
            }
            "httpGet" => {
                if s(action, "path").is_empty() {
                    errs.push(required(&child(&action_path, "path"), ""));
                }
                port_num_or_name(errs, action.get("port"), &child(&action_path, "port"));
                let scheme = s(action, "scheme");
                if !matches!(scheme, "HTTP" | "HTTPS") {
                    errs.push(not_supported(
                        &child(&action_path, "scheme"),
                        quoted(scheme),
                        &["HTTP", "HTTPS"],
                    ));
                }
                for header in list(action, "httpHeaders") {
                    let name = s(header, "name");
                    if name.is_empty()
                        || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                    {
                        errs.push(invalid_str(
                            &child(&action_path, "httpHeaders"),
                            name,
                            &den_apimachinery::validation::regex_error(
                                "a valid HTTP header must consist of alphanumeric characters or '-'",
                                "[-A-Za-z0-9]+",
                                &["X-Header-Name"],
                            ),
                        ));
                    }
                }
            }
            "tcpSocket" => {
                port_num_or_name(errs, action.get("port"), &child(&action_path, "port"));
            }
            "grpc" => {
                let port = int(action, "port").unwrap_or(0);
                for msg in port_number_errors(port) {
                    errs.push(invalid_int(&child(&action_path, "port"), port, &msg));
                }
            }
            "sleep" => {
                let seconds = int(action, "seconds").unwrap_or(0);
                if let Some(grace) = grace
                    && (seconds < 0 || seconds > grace)
                {
                    errs.push(invalid_int(
                        &action_path,
                        seconds,
                        &format!(
                            "must be non-negative and less than terminationGracePeriodSeconds ({grace})"
                        ),
                    ));
                }
            }
            _ => {}
        }
    }
    if count == 0 {
        errs.push(required(path, "must specify a handler type"));
    }
}

const STANDARD_RESOURCES: &[&str] = &[
    "cpu",
    "memory",
    "ephemeral-storage",
    "requests.cpu",
    "requests.memory",
    "requests.ephemeral-storage",
    "limits.cpu",
    "limits.memory",
    "limits.ephemeral-storage",
    "pods",
    "resourcequotas",
    "services",
    "replicationcontrollers",
    "secrets",
    "configmaps",
    "persistentvolumeclaims",
    "storage",
    "requests.storage",
    "services.nodeports",
    "services.loadbalancers",
];

/// Upstream's quota resources: the standard ones but bare `storage`.
pub(crate) fn is_standard_quota_resource(name: &str) -> bool {
    (name != "storage" && STANDARD_RESOURCES.contains(&name)) || is_quota_hugepages(name)
}

const INTEGER_RESOURCES: &[&str] = &[
    "pods",
    "resourcequotas",
    "services",
    "replicationcontrollers",
    "secrets",
    "configmaps",
    "persistentvolumeclaims",
    "services.nodeports",
    "services.loadbalancers",
];

/// Names in the `kubernetes.io/` namespace, which unprefixed names are implicitly in.
pub(crate) fn is_native_resource(name: &str) -> bool {
    !name.contains('/') || name.contains("kubernetes.io/")
}

pub(crate) fn is_quota_hugepages(name: &str) -> bool {
    name.starts_with("hugepages-") || name.starts_with("requests.hugepages-")
}

fn is_extended_resource(name: &str) -> bool {
    !is_native_resource(name)
        && !name.starts_with("requests.")
        && den_apimachinery::validation::is_qualified_name(&format!("requests.{name}")).is_empty()
}

fn is_integer_resource(name: &str) -> bool {
    INTEGER_RESOURCES.contains(&name) || is_extended_resource(name)
}

/// Upstream's `validateResourceName`: true when the name passed.
pub(crate) fn resource_name(errs: &mut Errors, name: &str, path: &str) -> bool {
    let before = errs.len();
    qualified_name(errs, name, path);
    if errs.len() > before {
        return false;
    }
    let standard = STANDARD_RESOURCES.contains(&name) || is_quota_hugepages(name);
    if !name.contains('/') && !standard {
        errs.push(invalid_str(
            path,
            name,
            "must be a standard resource type or fully qualified",
        ));
        return false;
    }
    true
}

/// Upstream's `validateContainerResourceName`.
pub(crate) fn container_resource_name(errs: &mut Errors, name: &str, path: &str) {
    resource_name(errs, name, path);
    if !name.contains('/') {
        let standard = matches!(name, "cpu" | "memory" | "ephemeral-storage")
            || name.starts_with("hugepages-");
        if !standard {
            errs.push(invalid_str(
                path,
                name,
                "must be a standard resource for containers",
            ));
        }
    } else if !is_native_resource(name) && !is_extended_resource(name) {
        errs.push(invalid_str(
            path,
            name,
            "doesn't follow extended resource name standard",
        ));
    }
}

/// Resources whose requests may be lower than their limits.
fn overcommit_allowed(name: &str) -> bool {
    is_native_resource(name) && !name.starts_with("hugepages-")
}

/// Upstream's `validateResourceRequirements` for containers.
fn validate_resource_requirements(errs: &mut Errors, resources: &Value, path: &str) {
    let limits_path = child(path, "limits");
    let requests_path = child(path, "requests");
    let limits = map(resources, "limits");
    let mut has_cpu_or_memory = false;
    let mut has_hugepages = false;
    // Go iterates maps in random order; sorted keys keep our messages stable.
    let sorted = |m: Option<&serde_json::Map<String, Value>>| -> BTreeSet<String> {
        m.map(|m| m.keys().cloned().collect()).unwrap_or_default()
    };
    for name in sorted(limits) {
        let value = &limits.expect("key came from the map")[&name];
        let field_path = key(&limits_path, &name);
        container_resource_name(errs, &name, &field_path);
        resource_quantity(errs, &name, value, &field_path);
        has_hugepages |= name.starts_with("hugepages-");
        has_cpu_or_memory |= matches!(name.as_str(), "cpu" | "memory");
    }
    let requests = map(resources, "requests");
    for name in sorted(requests) {
        let value = &requests.expect("key came from the map")[&name];
        let field_path = key(&requests_path, &name);
        container_resource_name(errs, &name, &field_path);
        let request = resource_quantity(errs, &name, value, &field_path);
        match limits.and_then(|l| l.get(&name)) {
            Some(limit) => {
                if let (Some(request), Ok(limit)) = (request, Quantity::from_json(limit)) {
                    if request != limit && !overcommit_allowed(&name) {
                        errs.push(invalid_str(
                            &requests_path,
                            &request.canonical(),
                            &format!("must be equal to {name} limit of {limit}"),
                        ));
                    } else if request > limit {
                        errs.push(invalid_str(
                            &requests_path,
                            &request.canonical(),
                            &format!("must be less than or equal to {name} limit of {limit}"),
                        ));
                    }
                }
            }
            None if !overcommit_allowed(&name) => errs.push(required(
                &limits_path,
                "Limit must be set for non overcommitable resources",
            )),
            None => {}
        }
        has_hugepages |= name.starts_with("hugepages-");
        has_cpu_or_memory |= matches!(name.as_str(), "cpu" | "memory");
    }
    if has_hugepages && !has_cpu_or_memory {
        errs.push(forbidden(path, "HugePages require cpu or memory"));
    }
}

/// Upstream's `ValidateResourceQuantityValue`; the parsed quantity when it parses.
pub(crate) fn resource_quantity(
    errs: &mut Errors,
    name: &str,
    value: &Value,
    path: &str,
) -> Option<Quantity> {
    let q = Quantity::from_json(value).ok()?;
    if q.is_negative() {
        errs.push(invalid_str(path, &q.canonical(), IS_NEGATIVE));
    }
    if is_integer_resource(name) && q.milli_value() % 1000 != 0 {
        errs.push(invalid(
            path,
            BadValue::Raw(q.go_sharp_v()),
            "must be an integer",
        ));
    }
    Some(q)
}

fn validate_tolerations(errs: &mut Errors, tolerations: &[Value], path: &str) {
    for (i, toleration) in tolerations.iter().enumerate() {
        let idx_path = index(path, i);
        let key_name = s(toleration, "key");
        let operator = s(toleration, "operator");
        let effect = s(toleration, "effect");
        let value = s(toleration, "value");
        if !key_name.is_empty() {
            qualified_name(errs, key_name, &child(&idx_path, "key"));
        }
        if key_name.is_empty() && operator != "Exists" {
            errs.push(invalid_str(
                &child(&idx_path, "operator"),
                operator,
                "operator must be Exists when `key` is empty, which means \"match all values and all keys\"",
            ));
        }
        if present(toleration, "tolerationSeconds").is_some() && effect != "NoExecute" {
            errs.push(invalid_str(
                &child(&idx_path, "effect"),
                effect,
                "effect must be 'NoExecute' when `tolerationSeconds` is set",
            ));
        }
        match operator {
            "Equal" | "" => {
                let msgs = is_valid_label_value(value);
                if !msgs.is_empty() {
                    errs.push(invalid_str(
                        &child(&idx_path, "operator"),
                        value,
                        &msgs.join(";"),
                    ));
                }
            }
            "Exists" => {
                if !value.is_empty() {
                    errs.push(invalid_str(
                        &child(&idx_path, "operator"),
                        value,
                        "value must be empty when `operator` is 'Exists'",
                    ));
                }
            }
            other => errs.push(not_supported(
                &child(&idx_path, "operator"),
                quoted(other),
                &["Equal", "Exists"],
            )),
        }
        if !effect.is_empty() && !matches!(effect, "NoSchedule" | "PreferNoSchedule" | "NoExecute")
        {
            errs.push(not_supported(
                &child(&idx_path, "effect"),
                quoted(effect),
                &["NoSchedule", "PreferNoSchedule", "NoExecute"],
            ));
        }
    }
}

const UPDATABLE_POD_SPEC_FIELDS: &str = "`spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)";

/// Upstream's `ValidatePodUpdate`.
pub fn validate_pod_update(new: &Value, old: &Value) -> Errors {
    let new_spec = new.get("spec").unwrap_or(null());
    let old_spec = old.get("spec").unwrap_or(null());
    let mut errs = validate_pod_metadata_and_spec(new, SpecOptions::for_update(old_spec));
    for field in ["containers", "initContainers"] {
        let (new_ctrs, old_ctrs) = (list(new_spec, field), list(old_spec, field));
        if new_ctrs.len() != old_ctrs.len() {
            errs.push(forbidden(
                &format!("spec.{field}"),
                "pod updates may not add or remove containers",
            ));
            return errs;
        }
        for (i, ctr) in new_ctrs.iter().enumerate() {
            let image = s(ctr, "image");
            if image.is_empty() {
                errs.push(required(&format!("spec.{field}[{i}].image"), ""));
            }
            if image.trim() != image {
                errs.push(invalid_str(
                    &format!("spec.{field}[{i}].image"),
                    image,
                    "must not have leading or trailing whitespace",
                ));
            }
        }
    }
    match (
        int(new_spec, "activeDeadlineSeconds"),
        int(old_spec, "activeDeadlineSeconds"),
    ) {
        (Some(new_deadline), old_deadline) => {
            if !(0..=MAX_INT32).contains(&new_deadline) {
                errs.push(invalid_int(
                    "spec.activeDeadlineSeconds",
                    new_deadline,
                    &inclusive_range(0, MAX_INT32),
                ));
                return errs;
            }
            if old_deadline.is_some_and(|old| old < new_deadline) {
                errs.push(invalid_int(
                    "spec.activeDeadlineSeconds",
                    new_deadline,
                    "must be less than or equal to previous value",
                ));
                return errs;
            }
        }
        (None, Some(_)) => errs.push(invalid(
            "spec.activeDeadlineSeconds",
            BadValue::Str("null".into()),
            "must not update from a positive integer to nil value",
        )),
        (None, None) => {}
    }
    let old_tolerations = list(old_spec, "tolerations");
    let new_tolerations = list(new_spec, "tolerations");
    let kept = old_tolerations.iter().all(|old| {
        new_tolerations.iter().any(|new| {
            let mut old = old.clone();
            if let Some(o) = old.as_object_mut() {
                o.remove("tolerationSeconds");
            }
            let mut new = new.clone();
            if let Some(o) = new.as_object_mut() {
                o.remove("tolerationSeconds");
            }
            semantic_eq(Some(&old), Some(&new))
        })
    });
    if !kept {
        errs.push(forbidden(
            "spec.tolerations",
            "existing toleration can not be modified except its tolerationSeconds",
        ));
    }
    // Scheduling gates may only be removed.
    let old_gates: Vec<&str> = list(old_spec, "schedulingGates")
        .iter()
        .map(|g| s(g, "name"))
        .collect();
    for (i, gate) in list(new_spec, "schedulingGates").iter().enumerate() {
        if !old_gates.contains(&s(gate, "name")) {
            errs.push(forbidden(
                &format!("spec.schedulingGates[{i}].name"),
                &format!(
                    "only deletion is allowed, but found new scheduling gate '{}'",
                    s(gate, "name")
                ),
            ));
        }
    }
    if semantic_eq(Some(new_spec), Some(old_spec)) {
        return errs;
    }
    let mut munged = new_spec.clone();
    for field in ["containers", "initContainers"] {
        let old_ctrs = list(old_spec, field);
        if let Some(ctrs) = munged.get_mut(field).and_then(Value::as_array_mut) {
            for (ctr, old_ctr) in ctrs.iter_mut().zip(old_ctrs) {
                ctr["image"] = old_ctr.get("image").cloned().unwrap_or(Value::Null);
            }
        }
    }
    let munged_obj = munged.as_object_mut().expect("a pod spec is an object");
    for field in ["activeDeadlineSeconds", "schedulingGates", "tolerations"] {
        match old_spec.get(field) {
            Some(v) => munged_obj.insert(field.into(), v.clone()),
            None => munged_obj.remove(field),
        };
    }
    let old_grace = int(old_spec, "terminationGracePeriodSeconds");
    if old_grace.is_some_and(|g| g < 0) && int(&munged, "terminationGracePeriodSeconds") == Some(1)
    {
        munged["terminationGracePeriodSeconds"] = old_spec["terminationGracePeriodSeconds"].clone();
    }
    if !semantic_eq(Some(&munged), Some(old_spec)) {
        errs.push(forbidden(
            "spec",
            &format!(
                "pod updates may not change fields other than {UPDATABLE_POD_SPEC_FIELDS}\n{}",
                field_diff("core.PodSpec", old_spec, &munged)
            ),
        ));
    }
    errs
}
