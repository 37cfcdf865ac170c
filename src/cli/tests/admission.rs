//! Upstream's default admission plugins for pods against a real Den: ServiceAccount,
//! LimitRanger, RuntimeClass, Priority and DefaultTolerationSeconds, and the sysctl rules of
//! pod validation; through `kube::Client` and through kubectl 1.33 and 1.27.

#[macro_use]
mod common;

use std::path::Path;

use common::{Backend, Den, fails, ok, write_file};
use k8s_openapi::api::core::v1::{
    LimitRange, Namespace, PersistentVolumeClaim, Pod, ServiceAccount,
};
use k8s_openapi::api::node::v1::RuntimeClass;
use k8s_openapi::api::scheduling::v1::PriorityClass;
use kube::api::{Api, PostParams};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

kubectl_scenarios!(limit_range_defaults_and_refusals_read_as_upstream_prints_them);

const TOKEN_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

fn api_error(err: kube::Error) -> kube::core::Status {
    match err {
        kube::Error::Api(status) => *status,
        other => panic!("expected an API error, got {other:?}"),
    }
}

/// Asserts that a request failed with `code`, `reason` and `message`.
#[track_caller]
fn assert_api_error(err: kube::Error, code: u16, reason: &str, message: &str) {
    let status = api_error(err);
    assert_eq!(
        (status.code, status.reason.as_str(), status.message.as_str()),
        (code, reason, message)
    );
}

async fn create<K>(api: &Api<K>, obj: Value) -> Result<Value, kube::Error>
where
    K: Clone + DeserializeOwned + Serialize + std::fmt::Debug,
{
    let typed: K = serde_json::from_value(obj).expect("a valid object");
    let created = api.create(&PostParams::default(), &typed).await?;
    Ok(serde_json::to_value(created).unwrap())
}

fn pod(name: &str, spec: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec})
}

fn one_container() -> Value {
    json!([{"name": "app", "image": "busybox:1.36"}])
}

/// The names of the volumes mounted at the token path in each container of `field`.
fn token_mounts(pod: &Value, field: &str) -> Vec<Option<String>> {
    pod["spec"][field]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            c["volumeMounts"].as_array().and_then(|mounts| {
                mounts
                    .iter()
                    .find(|m| m["mountPath"] == TOKEN_PATH)
                    .map(|m| m["name"].as_str().unwrap().to_string())
            })
        })
        .collect()
}

fn has_token_volume(pod: &Value) -> bool {
    pod["spec"]["volumes"].as_array().is_some_and(|vs| {
        vs.iter()
            .any(|v| v["name"].as_str().unwrap().starts_with("kube-api-access-"))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_get_the_service_account_token_volume_and_the_default_admission_fields() {
    let den = Den::start(Backend::Embedded);
    let client = den.client().await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let created = create(
        &pods,
        pod(
            "web",
            json!({
                "initContainers": [{"name": "init", "image": "busybox:1.36"}],
                "containers": [
                    {"name": "app", "image": "busybox:1.36"},
                    {"name": "own", "image": "busybox:1.36", "volumeMounts": [{"name": "mine", "mountPath": TOKEN_PATH}]},
                ],
                "volumes": [{"name": "mine", "emptyDir": {}}],
            }),
        ),
    )
    .await
    .unwrap();
    let spec = &created["spec"];
    assert_eq!(spec["serviceAccountName"], "default");
    assert_eq!(spec["serviceAccount"], "default");
    let volumes = spec["volumes"].as_array().unwrap();
    assert_eq!(volumes.len(), 2);
    let name = volumes[1]["name"].as_str().unwrap();
    assert!(
        name.starts_with("kube-api-access-") && name.len() == "kube-api-access-".len() + 5,
        "{name}"
    );
    assert_eq!(
        volumes[1]["projected"],
        json!({
            "defaultMode": 420,
            "sources": [
                {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}},
            ],
        })
    );
    assert_eq!(
        spec["initContainers"][0]["volumeMounts"],
        json!([{"name": name, "readOnly": true, "mountPath": TOKEN_PATH}])
    );
    assert_eq!(
        token_mounts(&created, "containers"),
        [Some(name.to_string()), Some("mine".to_string())]
    );
    // DefaultTolerationSeconds and Priority.
    assert_eq!(
        spec["tolerations"],
        json!([
            {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
            {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
        ])
    );
    assert_eq!(spec["priority"], 0);
    assert_eq!(spec["preemptionPolicy"], "PreemptLowerPriority");
    assert!(spec.get("priorityClassName").is_none());

    // A toleration of the taint, or of everything, is kept as it is.
    let created = create(
        &pods,
        pod(
            "tolerant",
            json!({
                "containers": one_container(),
                "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "tolerationSeconds": 10, "effect": "NoExecute"}],
            }),
        ),
    )
    .await
    .unwrap();
    assert_eq!(
        created["spec"]["tolerations"],
        json!([
            {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 10},
            {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
        ])
    );
    let created = create(
        &pods,
        pod(
            "everything",
            json!({"containers": one_container(), "tolerations": [{"operator": "Exists"}]}),
        ),
    )
    .await
    .unwrap();
    assert_eq!(
        created["spec"]["tolerations"],
        json!([{"operator": "Exists"}])
    );

    // The deprecated serviceAccount names the account when serviceAccountName is empty.
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), "default");
    create(
        &accounts,
        json!({"metadata": {"name": "builder"}, "imagePullSecrets": [{"name": "registry"}]}),
    )
    .await
    .unwrap();
    let created = create(
        &pods,
        pod(
            "legacy",
            json!({"containers": one_container(), "serviceAccount": "builder"}),
        ),
    )
    .await
    .unwrap();
    assert_eq!(created["spec"]["serviceAccountName"], "builder");
    assert_eq!(created["spec"]["serviceAccount"], "builder");
    // The account's image pull secrets, unless the pod has its own.
    assert_eq!(
        created["spec"]["imagePullSecrets"],
        json!([{"name": "registry"}])
    );
    let created = create(
        &pods,
        pod(
            "own-secrets",
            json!({"containers": one_container(), "serviceAccountName": "builder", "imagePullSecrets": [{"name": "mine"}]}),
        ),
    )
    .await
    .unwrap();
    assert_eq!(
        created["spec"]["imagePullSecrets"],
        json!([{"name": "mine"}])
    );

    // Mirror pods are left alone, and may not reference accounts or secrets.
    let mirror = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "static-node1", "annotations": {"kubernetes.io/config.mirror": "abc"}},
        "spec": {"containers": one_container(), "nodeName": "node1"},
    });
    let created = create(&pods, mirror.clone()).await.unwrap();
    assert!(created["spec"].get("serviceAccountName").is_none());
    assert!(!has_token_volume(&created));
    let mut with_secret = mirror;
    with_secret["metadata"]["name"] = json!("static-node2");
    with_secret["spec"]["imagePullSecrets"] = json!([{"name": "s"}]);
    assert_api_error(
        create(&pods, with_secret).await.unwrap_err(),
        403,
        "Forbidden",
        "pods \"static-node2\" is forbidden: a mirror pod may not reference secrets",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn automounting_follows_the_pod_then_the_account_and_accounts_must_exist() {
    let den = Den::start(Backend::Embedded);
    let client = den.client().await;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    // A pod right after its namespace waits for the controller's default account.
    create(&namespaces, json!({"metadata": {"name": "fresh"}}))
        .await
        .unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), "fresh");
    let created = create(&pods, pod("first", json!({"containers": one_container()})))
        .await
        .unwrap();
    assert!(has_token_volume(&created));

    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), "fresh");
    create(
        &accounts,
        json!({"metadata": {"name": "mount"}, "automountServiceAccountToken": true}),
    )
    .await
    .unwrap();
    create(
        &accounts,
        json!({"metadata": {"name": "nomount"}, "automountServiceAccountToken": false}),
    )
    .await
    .unwrap();
    let cases = [
        ("default", None, true),
        ("mount", None, true),
        ("nomount", None, false),
        ("nomount", Some(true), true),
        ("default", Some(false), false),
        ("mount", Some(false), false),
    ];
    for (i, (account, automount, expected)) in cases.into_iter().enumerate() {
        let mut spec = json!({"containers": one_container(), "serviceAccountName": account});
        if let Some(automount) = automount {
            spec["automountServiceAccountToken"] = json!(automount);
        }
        let created = create(&pods, pod(&format!("case-{i}"), spec))
            .await
            .unwrap();
        assert_eq!(
            token_mounts(&created, "containers")[0].is_some(),
            expected,
            "{account} {automount:?}"
        );
        assert_eq!(has_token_volume(&created), expected);
    }

    assert_api_error(
        create(
            &pods,
            pod(
                "orphan",
                json!({"containers": one_container(), "serviceAccountName": "missing"}),
            ),
        )
        .await
        .unwrap_err(),
        403,
        "Forbidden",
        "pods \"orphan\" is forbidden: error looking up service account fresh/missing: serviceaccount \"missing\" not found",
    );
    // A pod named by generateName is named by its prefix, as upstream admits it before the
    // name is generated.
    let generated = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"generateName": "orphan-"},
        "spec": {"containers": one_container(), "serviceAccountName": "missing"},
    });
    assert_api_error(
        create(&pods, generated).await.unwrap_err(),
        403,
        "Forbidden",
        "pods \"orphan-\" is forbidden: error looking up service account fresh/missing: serviceaccount \"missing\" not found",
    );

    // With kubernetes.io/enforce-mountable-secrets, only the account's secrets may be used.
    create(
        &accounts,
        json!({
            "metadata": {"name": "strict", "annotations": {"kubernetes.io/enforce-mountable-secrets": "true"}},
            "secrets": [{"name": "allowed"}],
        }),
    )
    .await
    .unwrap();
    let volume = |secret: &str| {
        json!({
            "containers": one_container(),
            "serviceAccountName": "strict",
            "volumes": [{"name": "s", "secret": {"secretName": secret}}],
        })
    };
    create(&pods, pod("strict-ok", volume("allowed")))
        .await
        .unwrap();
    assert_api_error(
        create(&pods, pod("strict-no", volume("other")))
            .await
            .unwrap_err(),
        403,
        "Forbidden",
        "pods \"strict-no\" is forbidden: volume with secret.secretName=\"other\" is not allowed because service account strict does not reference that secret",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limit_ranges_default_and_bound_containers_pods_and_claims() {
    let den = Den::start(Backend::Embedded);
    let client = den.client().await;
    let ranges: Api<LimitRange> = Api::namespaced(client.clone(), "default");
    create(
        &ranges,
        json!({
            "metadata": {"name": "limits"},
            "spec": {"limits": [
                {
                    "type": "Container",
                    "min": {"cpu": "50m", "memory": "100Mi"},
                    "max": {"cpu": "2", "memory": "1Gi"},
                    "defaultRequest": {"cpu": "100m", "memory": "200Mi"},
                    "default": {"cpu": "500m", "memory": "500Mi"},
                    "maxLimitRequestRatio": {"cpu": "10"},
                },
                {"type": "Pod", "max": {"cpu": "3"}},
                {"type": "PersistentVolumeClaim", "min": {"storage": "1Gi"}, "max": {"storage": "5Gi"}},
            ]},
        }),
    )
    .await
    .unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let created = create(
        &pods,
        pod(
            "defaulted",
            json!({"containers": [
                {"name": "a", "image": "busybox:1.36"},
                {"name": "b", "image": "busybox:1.36", "resources": {"requests": {"cpu": "200m"}}},
            ]}),
        ),
    )
    .await
    .unwrap();
    assert_eq!(
        created["spec"]["containers"][0]["resources"],
        json!({"requests": {"cpu": "100m", "memory": "200Mi"}, "limits": {"cpu": "500m", "memory": "500Mi"}})
    );
    assert_eq!(
        created["spec"]["containers"][1]["resources"],
        json!({"requests": {"cpu": "200m", "memory": "200Mi"}, "limits": {"cpu": "500m", "memory": "500Mi"}})
    );
    assert_eq!(
        created["metadata"]["annotations"]["kubernetes.io/limit-ranger"],
        "LimitRanger plugin set: cpu, memory request for container a; cpu, memory limit for container a; memory request for container b; cpu, memory limit for container b"
    );

    let with = |name: &str, resources: Value| {
        pod(
            name,
            json!({"containers": [{"name": "a", "image": "busybox:1.36", "resources": resources}]}),
        )
    };
    assert_api_error(
        create(
            &pods,
            with(
                "too-big",
                json!({"limits": {"cpu": "3"}, "requests": {"cpu": "1"}}),
            ),
        )
        .await
        .unwrap_err(),
        403,
        "Forbidden",
        "pods \"too-big\" is forbidden: maximum cpu usage per Container is 2, but limit is 3",
    );
    assert_api_error(
        create(
            &pods,
            with("too-small", json!({"requests": {"memory": "50Mi"}})),
        )
        .await
        .unwrap_err(),
        403,
        "Forbidden",
        "pods \"too-small\" is forbidden: minimum memory usage per Container is 100Mi, but request is 50Mi",
    );
    assert_api_error(
        create(
            &pods,
            with(
                "ratio",
                json!({"limits": {"cpu": "2"}, "requests": {"cpu": "100m"}}),
            ),
        )
        .await
        .unwrap_err(),
        403,
        "Forbidden",
        "pods \"ratio\" is forbidden: cpu max limit to request ratio per Container is 10, but provided ratio is 20.000000",
    );
    let two = pod(
        "pod-total",
        json!({"containers": [
            {"name": "a", "image": "busybox:1.36", "resources": {"limits": {"cpu": "2"}, "requests": {"cpu": "1"}}},
            {"name": "b", "image": "busybox:1.36", "resources": {"limits": {"cpu": "2"}, "requests": {"cpu": "1"}}},
        ]}),
    );
    assert_api_error(
        create(&pods, two).await.unwrap_err(),
        403,
        "Forbidden",
        "pods \"pod-total\" is forbidden: maximum cpu usage per Pod is 3, but limit is 4",
    );

    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), "default");
    let claim = |name: &str, storage: &str| {
        json!({
            "metadata": {"name": name},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": storage}}},
        })
    };
    create(&claims, claim("fits", "2Gi")).await.unwrap();
    assert_api_error(
        create(&claims, claim("huge", "10Gi")).await.unwrap_err(),
        403,
        "Forbidden",
        "persistentvolumeclaims \"huge\" is forbidden: maximum storage usage per PersistentVolumeClaim is 5Gi, but request is 10Gi",
    );
    assert_api_error(
        create(&claims, claim("tiny", "500Mi")).await.unwrap_err(),
        403,
        "Forbidden",
        "persistentvolumeclaims \"tiny\" is forbidden: minimum storage usage per PersistentVolumeClaim is 1Gi, but request is 500Mi",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runtime_classes_must_exist_and_give_pods_their_overhead_and_scheduling() {
    let den = Den::start(Backend::Embedded);
    let client = den.client().await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let with_class = |name: &str, class: &str, extra: Value| {
        let mut spec = json!({"containers": one_container(), "runtimeClassName": class});
        for (k, v) in extra.as_object().unwrap() {
            spec[k] = v.clone();
        }
        pod(name, spec)
    };
    assert_api_error(
        create(&pods, with_class("p", "gvisor", json!({})))
            .await
            .unwrap_err(),
        403,
        "Forbidden",
        "pods \"p\" is forbidden: pod rejected: RuntimeClass \"gvisor\" not found",
    );

    let classes: Api<RuntimeClass> = Api::all(client.clone());
    create(
        &classes,
        json!({
            "metadata": {"name": "kata"},
            "handler": "kata",
            "overhead": {"podFixed": {"cpu": "250m", "memory": "120Mi"}},
            "scheduling": {
                "nodeSelector": {"runtime": "kata"},
                "tolerations": [{"key": "kata", "operator": "Exists", "effect": "NoSchedule"}],
            },
        }),
    )
    .await
    .unwrap();
    create(
        &classes,
        json!({"metadata": {"name": "runc"}, "handler": "runc"}),
    )
    .await
    .unwrap();
    let created = create(
        &pods,
        with_class(
            "sandboxed",
            "kata",
            json!({"nodeSelector": {"disk": "ssd"}}),
        ),
    )
    .await
    .unwrap();
    let spec = &created["spec"];
    assert_eq!(spec["overhead"], json!({"cpu": "250m", "memory": "120Mi"}));
    assert_eq!(
        spec["nodeSelector"],
        json!({"disk": "ssd", "runtime": "kata"})
    );
    assert_eq!(
        spec["tolerations"][2],
        json!({"key": "kata", "operator": "Exists", "effect": "NoSchedule"})
    );
    assert_api_error(
        create(
            &pods,
            with_class(
                "conflict",
                "kata",
                json!({"nodeSelector": {"runtime": "runc"}}),
            ),
        )
        .await
        .unwrap_err(),
        403,
        "Forbidden",
        "pods \"conflict\" is forbidden: conflict: runtimeClass.scheduling.nodeSelector[runtime] = kata; pod.spec.nodeSelector[runtime] = runc",
    );
    assert_api_error(
        create(
            &pods,
            with_class("other-overhead", "kata", json!({"overhead": {"cpu": "1"}})),
        )
        .await
        .unwrap_err(),
        403,
        "Forbidden",
        "pods \"other-overhead\" is forbidden: pod rejected: Pod's Overhead doesn't match RuntimeClass's defined Overhead",
    );
    // The same overhead, written differently, is the class's.
    create(
        &pods,
        with_class(
            "same-overhead",
            "kata",
            json!({"overhead": {"cpu": "0.25", "memory": "125829120"}}),
        ),
    )
    .await
    .unwrap();
    let created = create(&pods, with_class("plain", "runc", json!({})))
        .await
        .unwrap();
    assert!(created["spec"].get("overhead").is_none());
    assert_api_error(
        create(
            &pods,
            with_class("stray-overhead", "runc", json!({"overhead": {"cpu": "1"}})),
        )
        .await
        .unwrap_err(),
        403,
        "Forbidden",
        "pods \"stray-overhead\" is forbidden: pod rejected: Pod Overhead set without corresponding RuntimeClass defined Overhead",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn priority_classes_resolve_to_pod_priorities() {
    let den = Den::start(Backend::Embedded);
    let client = den.client().await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let classes: Api<PriorityClass> = Api::all(client.clone());
    let with_class = |name: &str, class: &str| {
        pod(
            name,
            json!({"containers": one_container(), "priorityClassName": class}),
        )
    };

    // Upstream's system classes exist from the start.
    for (name, value, description) in [
        (
            "system-node-critical",
            2_000_001_000,
            "Used for system critical pods that must not be moved from their current node.",
        ),
        (
            "system-cluster-critical",
            2_000_000_000,
            "Used for system critical pods that must run in the cluster, but can be moved to another node if necessary.",
        ),
    ] {
        let pc = classes.get(name).await.unwrap();
        assert_eq!(
            (pc.value, pc.description.as_deref()),
            (value, Some(description))
        );
    }
    let created = create(&pods, with_class("critical", "system-node-critical"))
        .await
        .unwrap();
    assert_eq!(created["spec"]["priority"], 2_000_001_000);
    assert_eq!(created["spec"]["preemptionPolicy"], "PreemptLowerPriority");
    assert_api_error(
        create(&pods, with_class("unknown", "gold"))
            .await
            .unwrap_err(),
        403,
        "Forbidden",
        "pods \"unknown\" is forbidden: no PriorityClass with name gold was found",
    );

    create(
        &classes,
        json!({"metadata": {"name": "gold"}, "value": 1000, "preemptionPolicy": "Never"}),
    )
    .await
    .unwrap();
    let created = create(&pods, with_class("golden", "gold")).await.unwrap();
    assert_eq!(created["spec"]["priority"], 1000);
    assert_eq!(created["spec"]["preemptionPolicy"], "Never");
    let mut wrong = with_class("wrong", "gold");
    wrong["spec"]["priority"] = json!(5);
    assert_api_error(
        create(&pods, wrong).await.unwrap_err(),
        403,
        "Forbidden",
        "pods \"wrong\" is forbidden: the integer value of priority (5) must not be provided in pod spec; priority admission controller computed 1000 from the given PriorityClass name",
    );
    let mut policy = with_class("policy", "gold");
    policy["spec"]["preemptionPolicy"] = json!("PreemptLowerPriority");
    assert_api_error(
        create(&pods, policy).await.unwrap_err(),
        403,
        "Forbidden",
        "pods \"policy\" is forbidden: the string value of PreemptionPolicy (PreemptLowerPriority) must not be provided in pod spec; priority admission controller computed Never from the given PriorityClass name",
    );

    // A global default class applies to pods that name none; only one may exist.
    create(
        &classes,
        json!({"metadata": {"name": "standard"}, "value": 100, "globalDefault": true}),
    )
    .await
    .unwrap();
    let created = create(&pods, pod("plain", json!({"containers": one_container()})))
        .await
        .unwrap();
    assert_eq!(created["spec"]["priorityClassName"], "standard");
    assert_eq!(created["spec"]["priority"], 100);
    assert_api_error(
        create(
            &classes,
            json!({"metadata": {"name": "another"}, "value": 10, "globalDefault": true}),
        )
        .await
        .unwrap_err(),
        403,
        "Forbidden",
        "priorityclasses.scheduling.k8s.io \"another\" is forbidden: PriorityClass standard is already marked as default. Only one default can exist",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_sysctls_are_refused_with_upstreams_messages() {
    let den = Den::start(Backend::Embedded);
    let client = den.client().await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let spec = json!({
        "containers": one_container(),
        "securityContext": {"sysctls": [
            {"name": "foo-", "value": "bar"},
            {"name": "kernel.shmmax", "value": "100000000"},
            {"name": "safe-and-unsafe", "value": "100000000"},
            {"name": "bar..", "value": "42"},
        ]},
    });
    let regex = r"^([a-z0-9]([-_a-z0-9]*[a-z0-9])?[\./])*[a-z0-9]([-_a-z0-9]*[a-z0-9])?$";
    assert_api_error(
        create(&pods, pod("sysctls", spec)).await.unwrap_err(),
        422,
        "Invalid",
        &format!(
            "Pod \"sysctls\" is invalid: [spec.securityContext.sysctls[0].name: Invalid value: \"foo-\": must have at most 253 characters and match regex {regex}, spec.securityContext.sysctls[3].name: Invalid value: \"bar..\": must have at most 253 characters and match regex {regex}]"
        ),
    );
    let host = json!({
        "containers": one_container(),
        "hostNetwork": true,
        "securityContext": {"sysctls": [{"name": "net.core.somaxconn", "value": "1024"}]},
    });
    assert_api_error(
        create(&pods, pod("host", host)).await.unwrap_err(),
        422,
        "Invalid",
        "Pod \"host\" is invalid: spec.securityContext.sysctls[0].name: Invalid value: \"net.core.somaxconn\": may not be specified when 'hostNetwork' is true",
    );
    let slashes = json!({
        "containers": one_container(),
        "securityContext": {"sysctls": [{"name": "kernel/shm_rmid_forced", "value": "1"}]},
    });
    create(&pods, pod("slashes", slashes)).await.unwrap();
}

const LIMITS_YAML: &str = "apiVersion: v1
kind: LimitRange
metadata:
  name: limits
spec:
  limits:
  - type: Container
    max: {cpu: '1'}
    default: {cpu: 500m}
";

const BIG_POD_YAML: &str = "apiVersion: v1
kind: Pod
metadata:
  name: big
spec:
  containers:
  - name: app
    image: busybox:1.36
    resources:
      limits: {cpu: '2'}
";

fn limit_range_defaults_and_refusals_read_as_upstream_prints_them(den: &Den, k: &Path) {
    let limits = write_file(den, "limits.yaml", LIMITS_YAML);
    ok(den.kubectl(k, &["apply", "-f", &limits]));
    ok(den.kubectl(k, &["run", "small", "--image=busybox:1.36"]));
    let annotation = ok(den.kubectl(
        k,
        &[
            "get",
            "pod",
            "small",
            "-o",
            "jsonpath={.metadata.annotations.kubernetes\\.io/limit-ranger}",
        ],
    ));
    assert_eq!(
        annotation,
        "LimitRanger plugin set: cpu request for container small; cpu limit for container small"
    );
    let mount = ok(den.kubectl(
        k,
        &[
            "get",
            "pod",
            "small",
            "-o",
            "jsonpath={.spec.containers[0].volumeMounts[0].mountPath}",
        ],
    ));
    assert_eq!(mount, TOKEN_PATH);
    let big = write_file(den, "big.yaml", BIG_POD_YAML);
    let err = fails(den.kubectl(k, &["create", "-f", &big]));
    assert!(
        err.contains("Error from server (Forbidden): error when creating \"")
            && err.trim_end().ends_with(
                "pods \"big\" is forbidden: maximum cpu usage per Container is 1, but limit is 2"
            ),
        "{err}"
    );
}
