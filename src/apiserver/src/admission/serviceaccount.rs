//! Upstream's ServiceAccount plugin (`plugin/pkg/admission/serviceaccount`): a new pod runs
//! as a service account that exists (`default` unless it names one), gets the account's
//! image pull secrets, and, unless automounting is turned off, the projected
//! `kube-api-access-*` volume with the account's token, the cluster CA and its namespace,
//! mounted in every container. Mirror pods may reference neither accounts nor secrets.

use std::time::Duration;

use den_apimachinery::status::ApiError;
use den_storage::Backend;
use rand::Rng;
use serde_json::{Value, json};

use super::Attributes;
use super::shared::{self, SERVICE_ACCOUNTS, forbidden, list_of, str_of};

pub const DEFAULT_SERVICE_ACCOUNT: &str = "default";
/// The prefix of the token volume's name.
pub const VOLUME_PREFIX: &str = "kube-api-access-";
/// Where the token volume is mounted.
pub const TOKEN_MOUNT_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount";
/// Upstream's `serviceaccount.WarnOnlyBoundTokenExpirationSeconds`: an hour and seven
/// seconds, which the kubelet recognises to warn about (not fail) stale tokens.
const TOKEN_EXPIRATION_SECONDS: i64 = 3607;
/// Upstream's `ProjectedVolumeSourceDefaultMode` (0644), set explicitly because no
/// defaulting runs after admission.
const PROJECTED_DEFAULT_MODE: i64 = 0o644;
const MIRROR_POD_ANNOTATION: &str = "kubernetes.io/config.mirror";
const ENFORCE_MOUNTABLE_SECRETS: &str = "kubernetes.io/enforce-mountable-secrets";
/// How often the `default` account is looked up before a pod is refused: the service account
/// controller creates it right after its namespace appears.
const DEFAULT_ACCOUNT_ATTEMPTS: usize = 10;

fn annotation<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    obj.pointer("/metadata/annotations")
        .and_then(|a| a.get(key))
        .and_then(Value::as_str)
}

fn is_mirror_pod(pod: &Value) -> bool {
    pod.pointer("/metadata/annotations")
        .and_then(Value::as_object)
        .is_some_and(|a| a.contains_key(MIRROR_POD_ANNOTATION))
}

/// Admits a new pod: upstream's `Admit`, which ends with its `Validate`.
pub(super) async fn admit(
    storage: &dyn Backend,
    attrs: &Attributes<'_>,
    pod: &mut Value,
) -> Result<(), ApiError> {
    if is_mirror_pod(pod) {
        return validate_mirror_pod(attrs, pod);
    }
    if str_of(&pod["spec"], "serviceAccountName").is_empty() {
        pod["spec"]["serviceAccountName"] = json!(DEFAULT_SERVICE_ACCOUNT);
    }
    let name = str_of(&pod["spec"], "serviceAccountName").to_string();
    // The deprecated alias reads as the account's name, as upstream's conversion writes it.
    pod["spec"]["serviceAccount"] = json!(name);
    let account = match service_account(storage, attrs.namespace, &name).await? {
        Some(account) => account,
        None => {
            return Err(forbidden(
                attrs,
                pod,
                &format!(
                    "error looking up service account {}/{name}: serviceaccount \"{name}\" not found",
                    attrs.namespace
                ),
            ));
        }
    };
    if should_automount(&account, pod) {
        mount_token(pod);
    }
    if list_of(&pod["spec"], "imagePullSecrets").is_empty() {
        let secrets: Vec<Value> = list_of(&account, "imagePullSecrets")
            .iter()
            .map(|s| json!({"name": str_of(s, "name")}))
            .collect();
        if !secrets.is_empty() {
            pod["spec"]["imagePullSecrets"] = Value::Array(secrets);
        }
    }
    if enforces_mountable_secrets(&account)
        && let Err(msg) = check_secret_references(&account, pod)
    {
        return Err(forbidden(attrs, pod, &msg));
    }
    Ok(())
}

/// Looks the account up; `default` is retried for about a second and a half before it counts
/// as missing, as upstream does while the controller catches up with a new namespace.
async fn service_account(
    storage: &dyn Backend,
    namespace: &str,
    name: &str,
) -> Result<Option<Value>, ApiError> {
    let key = format!("{SERVICE_ACCOUNTS}{namespace}/{name}");
    let attempts = if name == DEFAULT_SERVICE_ACCOUNT {
        DEFAULT_ACCOUNT_ATTEMPTS
    } else {
        1
    };
    let interval = Duration::from_millis(rand::rng().random_range(100..200));
    for attempt in 0..attempts {
        if attempt > 0 {
            tokio::time::sleep(interval).await;
        }
        if let Some(account) = shared::get(storage, &key).await? {
            return Ok(Some(account));
        }
    }
    Ok(None)
}

/// The pod's `automountServiceAccountToken` wins, then the account's; the default is to mount.
fn should_automount(account: &Value, pod: &Value) -> bool {
    let setting = |obj: &Value| {
        obj.get("automountServiceAccountToken")
            .and_then(Value::as_bool)
    };
    setting(&pod["spec"]).or(setting(account)).unwrap_or(true)
}

/// Go's `strconv.ParseBool`, false when it does not parse.
fn parse_bool(value: &str) -> bool {
    matches!(value, "1" | "t" | "T" | "true" | "TRUE" | "True")
}

fn enforces_mountable_secrets(account: &Value) -> bool {
    annotation(account, ENFORCE_MOUNTABLE_SECRETS).is_some_and(parse_bool)
}

/// Upstream's `TokenVolumeSource`.
fn token_volume(name: &str) -> Value {
    json!({
        "name": name,
        "projected": {
            "defaultMode": PROJECTED_DEFAULT_MODE,
            "sources": [
                {"serviceAccountToken": {"expirationSeconds": TOKEN_EXPIRATION_SECONDS, "path": "token"}},
                {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}},
            ],
        },
    })
}

/// Mounts the token volume in every init and app container that mounts nothing at the token
/// path (ephemeral containers are left alone), adding the volume when one needs it.
fn mount_token(pod: &mut Value) {
    let spec = &mut pod["spec"];
    let existing = list_of(spec, "volumes")
        .iter()
        .map(|v| str_of(v, "name"))
        .find(|n| n.starts_with(VOLUME_PREFIX))
        .map(str::to_string);
    let has_volume = existing.is_some();
    let volume_name = existing.unwrap_or_else(|| crate::registry::generate_name(VOLUME_PREFIX));
    let mount = json!({"name": volume_name, "readOnly": true, "mountPath": TOKEN_MOUNT_PATH});
    let mut needs_volume = false;
    for field in ["initContainers", "containers"] {
        let Some(containers) = spec.get_mut(field).and_then(Value::as_array_mut) else {
            continue;
        };
        for container in containers {
            let mounted = list_of(container, "volumeMounts")
                .iter()
                .any(|m| str_of(m, "mountPath") == TOKEN_MOUNT_PATH);
            if mounted || !container.is_object() {
                continue;
            }
            match container
                .get_mut("volumeMounts")
                .and_then(Value::as_array_mut)
            {
                Some(mounts) => mounts.push(mount.clone()),
                None => container["volumeMounts"] = json!([mount.clone()]),
            }
            needs_volume = true;
        }
    }
    if !has_volume && needs_volume {
        match spec.get_mut("volumes").and_then(Value::as_array_mut) {
            Some(volumes) => volumes.push(token_volume(&volume_name)),
            None => spec["volumes"] = json!([token_volume(&volume_name)]),
        }
    }
}

/// Upstream's `limitSecretReferences`: with `kubernetes.io/enforce-mountable-secrets`, a pod
/// may use only the secrets its account lists.
fn check_secret_references(account: &Value, pod: &Value) -> Result<(), String> {
    let account_name = crate::objects::name(account);
    let mountable: Vec<&str> = list_of(account, "secrets")
        .iter()
        .map(|s| str_of(s, "name"))
        .collect();
    let spec = &pod["spec"];
    for volume in list_of(spec, "volumes") {
        let Some(secret) = volume.get("secret").filter(|s| !s.is_null()) else {
            continue;
        };
        let name = str_of(secret, "secretName");
        if !mountable.contains(&name) {
            return Err(format!(
                "volume with secret.secretName=\"{name}\" is not allowed because service account {account_name} does not reference that secret"
            ));
        }
    }
    for (field, kind) in [
        ("initContainers", "init container"),
        ("containers", "container"),
    ] {
        for container in list_of(spec, field) {
            let container_name = str_of(container, "name");
            for env in list_of(container, "env") {
                let Some(secret) = env
                    .pointer("/valueFrom/secretKeyRef")
                    .filter(|s| !s.is_null())
                else {
                    continue;
                };
                let name = str_of(secret, "name");
                if !mountable.contains(&name) {
                    return Err(format!(
                        "{kind} {container_name} with envVar {} referencing secret.secretName=\"{name}\" is not allowed because service account {account_name} does not reference that secret",
                        str_of(env, "name")
                    ));
                }
            }
            for from in list_of(container, "envFrom") {
                let Some(secret) = from.get("secretRef").filter(|s| !s.is_null()) else {
                    continue;
                };
                let name = str_of(secret, "name");
                if !mountable.contains(&name) {
                    return Err(format!(
                        "{kind} {container_name} with envFrom referencing secret.secretName=\"{name}\" is not allowed because service account {account_name} does not reference that secret"
                    ));
                }
            }
        }
    }
    let pull_secrets: Vec<&str> = list_of(account, "imagePullSecrets")
        .iter()
        .map(|s| str_of(s, "name"))
        .collect();
    for (i, reference) in list_of(spec, "imagePullSecrets").iter().enumerate() {
        let name = str_of(reference, "name");
        if !pull_secrets.contains(&name) {
            return Err(format!(
                "imagePullSecrets[{i}].name=\"{name}\" is not allowed because service account {account_name} does not reference that imagePullSecret"
            ));
        }
    }
    Ok(())
}

fn reference<'a>(source: &'a Value, field: &str) -> Option<&'a str> {
    source
        .get(field)
        .filter(|r| !r.is_null())
        .map(|r| str_of(r, "name"))
}

/// The secret a volume source references, in the order upstream's `VisitPodSecretNames`
/// looks at a volume's sources (only its first source counts).
fn volume_secret_names(volume: &Value) -> Vec<&str> {
    let present = |field: &str| volume.get(field).filter(|s| !s.is_null());
    if let Some(azure) = present("azureFile") {
        return vec![str_of(azure, "secretName")];
    }
    for (source, field) in [
        ("cephfs", "secretRef"),
        ("cinder", "secretRef"),
        ("flexVolume", "secretRef"),
    ] {
        if let Some(s) = present(source) {
            return reference(s, field).into_iter().collect();
        }
    }
    if let Some(projected) = present("projected") {
        return list_of(projected, "sources")
            .iter()
            .filter_map(|s| s.get("secret").filter(|s| !s.is_null()))
            .map(|s| str_of(s, "name"))
            .collect();
    }
    if let Some(rbd) = present("rbd") {
        return reference(rbd, "secretRef").into_iter().collect();
    }
    if let Some(secret) = present("secret") {
        return vec![str_of(secret, "secretName")];
    }
    for (source, field) in [
        ("scaleIO", "secretRef"),
        ("iscsi", "secretRef"),
        ("storageos", "secretRef"),
        ("csi", "nodePublishSecretRef"),
    ] {
        if let Some(s) = present(source) {
            return reference(s, field).into_iter().collect();
        }
    }
    Vec::new()
}

/// Whether the pod references any secret: pull secrets, containers' environment, volumes.
fn references_secrets(pod: &Value) -> bool {
    let spec = &pod["spec"];
    let mut names: Vec<&str> = list_of(spec, "imagePullSecrets")
        .iter()
        .map(|s| str_of(s, "name"))
        .collect();
    for field in ["initContainers", "containers", "ephemeralContainers"] {
        for container in list_of(spec, field) {
            for from in list_of(container, "envFrom") {
                if let Some(secret) = from.get("secretRef").filter(|s| !s.is_null()) {
                    names.push(str_of(secret, "name"));
                }
            }
            for env in list_of(container, "env") {
                if let Some(secret) = env
                    .pointer("/valueFrom/secretKeyRef")
                    .filter(|s| !s.is_null())
                {
                    names.push(str_of(secret, "name"));
                }
            }
        }
    }
    for volume in list_of(spec, "volumes") {
        names.extend(volume_secret_names(volume));
    }
    names.iter().any(|n| !n.is_empty())
}

/// Mirror pods (the kubelet's copies of static pods) have restrictions on what they can
/// reference.
fn validate_mirror_pod(attrs: &Attributes<'_>, pod: &Value) -> Result<(), ApiError> {
    let spec = &pod["spec"];
    if !str_of(spec, "serviceAccountName").is_empty() {
        return Err(forbidden(
            attrs,
            pod,
            "a mirror pod may not reference service accounts",
        ));
    }
    if references_secrets(pod) {
        return Err(forbidden(
            attrs,
            pod,
            "a mirror pod may not reference secrets",
        ));
    }
    let projects_token = list_of(spec, "volumes").iter().any(|v| {
        v.get("projected").is_some_and(|p| {
            list_of(p, "sources")
                .iter()
                .any(|s| s.get("serviceAccountToken").is_some_and(|t| !t.is_null()))
        })
    });
    if projects_token {
        return Err(forbidden(
            attrs,
            pod,
            "a mirror pod may not use ServiceAccountToken volume projections",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(spec: Value) -> Value {
        json!({"metadata": {"name": "p"}, "spec": spec})
    }

    #[test]
    fn every_init_and_app_container_mounts_one_token_volume() {
        let mut p = pod(json!({
            "initContainers": [{"name": "i", "image": "x"}],
            "containers": [
                {"name": "a", "image": "x"},
                {"name": "b", "image": "x", "volumeMounts": [{"name": "own", "mountPath": TOKEN_MOUNT_PATH}]},
            ],
            "ephemeralContainers": [{"name": "e", "image": "x"}],
            "volumes": [{"name": "own", "emptyDir": {}}],
        }));
        mount_token(&mut p);
        let volumes = p["spec"]["volumes"].as_array().unwrap();
        assert_eq!(volumes.len(), 2);
        let name = volumes[1]["name"].as_str().unwrap();
        assert!(name.starts_with(VOLUME_PREFIX) && name.len() == VOLUME_PREFIX.len() + 5);
        assert_eq!(volumes[1]["projected"], token_volume(name)["projected"]);
        let mount = json!({"name": name, "readOnly": true, "mountPath": TOKEN_MOUNT_PATH});
        assert_eq!(
            p["spec"]["initContainers"][0]["volumeMounts"],
            json!([mount])
        );
        assert_eq!(p["spec"]["containers"][0]["volumeMounts"], json!([mount]));
        assert_eq!(
            p["spec"]["containers"][1]["volumeMounts"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
        assert!(
            p["spec"]["ephemeralContainers"][0]
                .get("volumeMounts")
                .is_none()
        );
    }

    #[test]
    fn an_existing_token_volume_is_reused() {
        let mut p = pod(json!({
            "containers": [{"name": "a", "image": "x"}],
            "volumes": [{"name": "kube-api-access-abcde", "emptyDir": {}}],
        }));
        mount_token(&mut p);
        assert_eq!(p["spec"]["volumes"].as_array().unwrap().len(), 1);
        assert_eq!(
            p["spec"]["containers"][0]["volumeMounts"][0]["name"],
            "kube-api-access-abcde"
        );
    }

    #[test]
    fn the_pod_setting_wins_over_the_account_setting() {
        let on = json!({"automountServiceAccountToken": true});
        let off = json!({"automountServiceAccountToken": false});
        assert!(should_automount(&json!({}), &pod(json!({}))));
        assert!(!should_automount(&off, &pod(json!({}))));
        assert!(should_automount(&off, &pod(on.clone())));
        assert!(!should_automount(&on, &pod(off)));
    }

    #[test]
    fn enforced_accounts_limit_the_secrets_a_pod_uses() {
        let account = json!({
            "metadata": {"name": "sa", "annotations": {ENFORCE_MOUNTABLE_SECRETS: "true"}},
            "secrets": [{"name": "allowed"}],
            "imagePullSecrets": [{"name": "pull"}],
        });
        assert!(enforces_mountable_secrets(&account));
        let ok = pod(json!({
            "containers": [{"name": "a", "env": [{"name": "E", "valueFrom": {"secretKeyRef": {"name": "allowed", "key": "k"}}}]}],
            "volumes": [{"name": "v", "secret": {"secretName": "allowed"}}],
            "imagePullSecrets": [{"name": "pull"}],
        }));
        assert_eq!(check_secret_references(&account, &ok), Ok(()));
        let env = pod(json!({
            "containers": [{"name": "a", "env": [{"name": "E", "valueFrom": {"secretKeyRef": {"name": "other", "key": "k"}}}]}],
        }));
        assert_eq!(
            check_secret_references(&account, &env),
            Err("container a with envVar E referencing secret.secretName=\"other\" is not allowed because service account sa does not reference that secret".into())
        );
        let pull = pod(json!({"imagePullSecrets": [{"name": "pull"}, {"name": "x"}]}));
        assert_eq!(
            check_secret_references(&account, &pull),
            Err("imagePullSecrets[1].name=\"x\" is not allowed because service account sa does not reference that imagePullSecret".into())
        );
    }

    #[test]
    fn mirror_pods_reference_no_secrets() {
        assert!(!references_secrets(&pod(
            json!({"containers": [{"name": "a"}]})
        )));
        assert!(references_secrets(&pod(json!({
            "volumes": [{"name": "v", "projected": {"sources": [{"secret": {"name": "s"}}]}}],
        }))));
        assert!(references_secrets(&pod(json!({
            "containers": [{"name": "a", "envFrom": [{"secretRef": {"name": "s"}}]}],
        }))));
    }
}
