//! ResourceQuota against a real Den: the quota controller calculating `status`, and the
//! ResourceQuota admission plugin charging and refusing creates; through `kube::Client` and
//! through kubectl 1.33 and 1.27.

#[macro_use]
mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{Backend, Den, fails, ok};
use k8s_openapi::api::core::v1::{
    ConfigMap, Namespace, PersistentVolumeClaim, Pod, ResourceQuota, Secret, Service,
};
use k8s_openapi::api::scheduling::v1::PriorityClass;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

kubectl_scenarios!(kubectl_describes_quota_usage_and_prints_refusals);

/// Instantiates each client scenario on both stores (etcd ones skip without an etcd).
macro_rules! client_scenarios {
    ($($name:ident),* $(,)?) => {
        mod embedded { $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $name() { super::$name(crate::common::Backend::Embedded).await } )* }
        mod etcd { $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $name() { if !crate::common::skip(crate::common::Backend::Etcd) { super::$name(crate::common::Backend::Etcd).await } } )* }
    };
}

client_scenarios!(
    quota_status_follows_configmaps_secrets_and_services,
    pods_are_charged_their_compute_resources,
    claims_are_charged_their_storage_by_class,
    scopes_divide_pods_between_quotas,
    dry_runs_are_checked_but_not_charged,
    concurrent_creates_never_exceed_the_quota,
);

fn api_error(err: kube::Error) -> kube::core::Status {
    match err {
        kube::Error::Api(status) => *status,
        other => panic!("expected an API error, got {other:?}"),
    }
}

/// Asserts that a request was refused with 403 Forbidden and `message`.
#[track_caller]
fn assert_forbidden<T: std::fmt::Debug>(result: Result<T, kube::Error>, message: &str) {
    let status = api_error(result.expect_err("refused"));
    assert_eq!(
        (status.code, status.reason.as_str(), status.message.as_str()),
        (403, "Forbidden", message)
    );
}

async fn create<K>(api: &Api<K>, obj: Value) -> Result<K, kube::Error>
where
    K: Clone + DeserializeOwned + Serialize + std::fmt::Debug,
{
    let typed: K = serde_json::from_value(obj).expect("a valid object");
    api.create(&PostParams::default(), &typed).await
}

async fn namespace(client: &kube::Client, name: &str) {
    create(
        &Api::<Namespace>::all(client.clone()),
        json!({"metadata": {"name": name}}),
    )
    .await
    .unwrap();
}

async fn quota(client: &kube::Client, ns: &str, name: &str, spec: Value) -> Api<ResourceQuota> {
    let api = Api::<ResourceQuota>::namespaced(client.clone(), ns);
    create(&api, json!({"metadata": {"name": name}, "spec": spec}))
        .await
        .unwrap();
    api
}

/// `status.used` of a quota, as JSON.
async fn used(api: &Api<ResourceQuota>, name: &str) -> Value {
    let quota = serde_json::to_value(api.get(name).await.unwrap()).unwrap();
    quota
        .pointer("/status/used")
        .cloned()
        .unwrap_or(Value::Null)
}

/// Waits until `status.used` of the quota is `want` (exactly, as strings).
async fn wait_used(api: &Api<ResourceQuota>, name: &str, want: Value) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let got = used(api, name).await;
        if got == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "status.used of {name} is {got}, want {want}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn pod(name: &str, containers: Value) -> Value {
    json!({"metadata": {"name": name}, "spec": {"containers": containers}})
}

fn container(name: &str, requests: Value, limits: Value) -> Value {
    json!({"name": name, "image": "busybox:1.36", "resources": {"requests": requests, "limits": limits}})
}

async fn quota_status_follows_configmaps_secrets_and_services(backend: Backend) {
    let den = Den::start(backend);
    let client = den.client().await;
    namespace(&client, "counts").await;
    let quotas = quota(
        &client,
        "counts",
        "objects",
        json!({"hard": {
            "configmaps": "3", "secrets": "2", "services": "3", "services.nodeports": "1",
            "services.loadbalancers": "0", "resourcequotas": "1", "count/replicasets.apps": "2"
        }}),
    )
    .await;
    // Every namespace holds the root CA configmap.
    wait_used(
        &quotas,
        "objects",
        json!({"configmaps": "1", "count/replicasets.apps": "0", "resourcequotas": "1",
               "secrets": "0", "services": "0", "services.loadbalancers": "0", "services.nodeports": "0"}),
    )
    .await;
    let status = serde_json::to_value(quotas.get("objects").await.unwrap()).unwrap();
    assert_eq!(status["status"]["hard"], status["spec"]["hard"]);

    // A create is charged before it is answered; a create of a name that exists fails as a
    // conflict and charges nothing.
    let configmaps = Api::<ConfigMap>::namespaced(client.clone(), "counts");
    create(&configmaps, json!({"metadata": {"name": "a"}}))
        .await
        .unwrap();
    assert_eq!(used(&quotas, "objects").await["configmaps"], "2");
    let dup = create(&configmaps, json!({"metadata": {"name": "a"}})).await;
    assert_eq!(api_error(dup.unwrap_err()).code, 409);
    assert_eq!(used(&quotas, "objects").await["configmaps"], "2");
    create(&configmaps, json!({"metadata": {"name": "b"}}))
        .await
        .unwrap();
    assert_eq!(used(&quotas, "objects").await["configmaps"], "3");
    assert_forbidden(
        create(&configmaps, json!({"metadata": {"name": "c"}})).await,
        "configmaps \"c\" is forbidden: exceeded quota: objects, requested: configmaps=1, used: configmaps=3, limited: configmaps=3",
    );
    configmaps
        .delete("a", &DeleteParams::default())
        .await
        .unwrap();
    wait_used(&quotas, "objects", {
        let mut want = used(&quotas, "objects").await;
        want["configmaps"] = json!("2");
        want
    })
    .await;

    let secrets = Api::<Secret>::namespaced(client.clone(), "counts");
    create(
        &secrets,
        json!({"metadata": {"name": "s"}, "stringData": {"k": "v"}}),
    )
    .await
    .unwrap();
    assert_eq!(used(&quotas, "objects").await["secrets"], "1");

    let services = Api::<Service>::namespaced(client.clone(), "counts");
    let svc = |name: &str, type_: &str| json!({"metadata": {"name": name}, "spec": {"type": type_, "ports": [{"port": 80}]}});
    create(&services, svc("np", "NodePort")).await.unwrap();
    assert_forbidden(
        create(&services, svc("np2", "NodePort")).await,
        "services \"np2\" is forbidden: exceeded quota: objects, requested: services.nodeports=1, used: services.nodeports=1, limited: services.nodeports=1",
    );
    assert_forbidden(
        create(&services, svc("lb", "LoadBalancer")).await,
        "services \"lb\" is forbidden: exceeded quota: objects, requested: services.loadbalancers=1,services.nodeports=1, used: services.loadbalancers=0,services.nodeports=1, limited: services.loadbalancers=0,services.nodeports=1",
    );
    // Turning the NodePort service into a ClusterIP one gives its node port back, which
    // lets another service become a NodePort one by update.
    create(&services, svc("plain", "ClusterIP")).await.unwrap();
    let patch = |type_: &str| Patch::Merge(json!({"spec": {"type": type_}}));
    services
        .patch("np", &PatchParams::default(), &patch("ClusterIP"))
        .await
        .unwrap();
    wait_used(&quotas, "objects", {
        let mut want = used(&quotas, "objects").await;
        want["services"] = json!("2");
        want["services.nodeports"] = json!("0");
        want
    })
    .await;
    services
        .patch("plain", &PatchParams::default(), &patch("NodePort"))
        .await
        .unwrap();
    assert_eq!(used(&quotas, "objects").await["services.nodeports"], "1");
    assert_forbidden(
        services
            .patch("np", &PatchParams::default(), &patch("NodePort"))
            .await,
        "services \"np\" is forbidden: exceeded quota: objects, requested: services.nodeports=1, used: services.nodeports=1, limited: services.nodeports=1",
    );

    // A spec change shows in the status promptly, and a status someone else wrote is put
    // right again.
    quotas
        .patch(
            "objects",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"hard": {"configmaps": "10"}}})),
        )
        .await
        .unwrap();
    quotas
        .patch_status(
            "objects",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"hard": {"secrets": "7"}}})),
        )
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let q = serde_json::to_value(quotas.get("objects").await.unwrap()).unwrap();
        if q["status"]["hard"]["configmaps"] == "10" && q["status"]["hard"]["secrets"] == "2" {
            break;
        }
        assert!(Instant::now() < deadline, "status not restored: {q}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn pods_are_charged_their_compute_resources(backend: Backend) {
    let den = Den::start(backend);
    let client = den.client().await;
    namespace(&client, "compute").await;
    let quotas = quota(
        &client,
        "compute",
        "compute",
        json!({"hard": {"pods": "3", "requests.cpu": "1", "requests.memory": "1Gi", "limits.cpu": "2",
                         "requests.example.com/dongle": "2", "count/pods": "10"}}),
    )
    .await;
    let zero = json!({"count/pods": "0", "limits.cpu": "0", "pods": "0", "requests.cpu": "0",
                      "requests.example.com/dongle": "0", "requests.memory": "0"});
    wait_used(&quotas, "compute", zero.clone()).await;

    let pods = Api::<Pod>::namespaced(client.clone(), "compute");
    create(
        &pods,
        pod(
            "web",
            json!([container(
                "app",
                json!({"cpu": "500m", "memory": "256Mi", "example.com/dongle": "1"}),
                json!({"cpu": "1", "example.com/dongle": "1"})
            )]),
        ),
    )
    .await
    .unwrap();
    assert_eq!(
        used(&quotas, "compute").await,
        json!({"count/pods": "1", "limits.cpu": "1", "pods": "1", "requests.cpu": "500m",
               "requests.example.com/dongle": "1", "requests.memory": "256Mi"})
    );

    // Containers constrained by the quota must say what they use.
    assert_forbidden(
        create(
            &pods,
            pod(
                "bare",
                json!([{"name": "b", "image": "x"}, container("a", json!({"cpu": "1m"}), json!({}))]),
            ),
        )
        .await,
        "pods \"bare\" is forbidden: failed quota: compute: must specify limits.cpu for: a,b; requests.cpu for: b; requests.memory for: a,b",
    );
    assert_forbidden(
        create(
            &pods,
            pod(
                "big",
                json!([container(
                    "app",
                    json!({"cpu": "600m", "memory": "1Mi"}),
                    json!({"cpu": "600m"})
                )]),
            ),
        )
        .await,
        "pods \"big\" is forbidden: exceeded quota: compute, requested: requests.cpu=600m, used: requests.cpu=500m, limited: requests.cpu=1",
    );

    // Init containers run one at a time before the others: the largest one counts when it
    // is more than the sum of the containers.
    create(
        &pods,
        json!({"metadata": {"name": "init"}, "spec": {
            "initContainers": [container("setup", json!({"cpu": "300m", "memory": "64Mi"}), json!({"cpu": "300m"}))],
            "containers": [
                container("a", json!({"cpu": "100m", "memory": "16Mi"}), json!({"cpu": "100m"})),
                container("b", json!({"cpu": "100m", "memory": "16Mi"}), json!({"cpu": "100m"}))
            ]
        }}),
    )
    .await
    .unwrap();
    assert_eq!(
        used(&quotas, "compute").await,
        json!({"count/pods": "2", "limits.cpu": "1300m", "pods": "2", "requests.cpu": "800m",
               "requests.example.com/dongle": "1", "requests.memory": "320Mi"})
    );

    // A pod that has finished no longer uses compute resources, but still counts as a pod
    // object.
    let mut finished = serde_json::to_value(pods.get_status("init").await.unwrap()).unwrap();
    finished["status"]["phase"] = json!("Succeeded");
    pods.replace_status(
        "init",
        &PostParams::default(),
        &serde_json::from_value(finished).unwrap(),
    )
    .await
    .unwrap();
    wait_used(
        &quotas,
        "compute",
        json!({"count/pods": "2", "limits.cpu": "1", "pods": "1", "requests.cpu": "500m",
               "requests.example.com/dongle": "1", "requests.memory": "256Mi"}),
    )
    .await;

    for name in ["web", "init"] {
        pods.delete(name, &DeleteParams::default().grace_period(0))
            .await
            .unwrap();
    }
    wait_used(&quotas, "compute", zero).await;
}

async fn claims_are_charged_their_storage_by_class(backend: Backend) {
    let den = Den::start(backend);
    let client = den.client().await;
    namespace(&client, "storage").await;
    let quotas = quota(
        &client,
        "storage",
        "disks",
        json!({"hard": {"persistentvolumeclaims": "5", "requests.storage": "10Gi",
                         "gold.storageclass.storage.k8s.io/requests.storage": "1Gi"}}),
    )
    .await;
    wait_used(
        &quotas,
        "disks",
        json!({"gold.storageclass.storage.k8s.io/requests.storage": "0",
               "persistentvolumeclaims": "0", "requests.storage": "0"}),
    )
    .await;
    let claims = Api::<PersistentVolumeClaim>::namespaced(client.clone(), "storage");
    let claim = |name: &str, class: &str, size: &str| {
        json!({"metadata": {"name": name}, "spec": {
            "storageClassName": class, "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": size}}
        }})
    };
    create(&claims, claim("plain", "silver", "2Gi"))
        .await
        .unwrap();
    create(&claims, claim("small", "gold", "512Mi"))
        .await
        .unwrap();
    assert_eq!(
        used(&quotas, "disks").await,
        json!({"gold.storageclass.storage.k8s.io/requests.storage": "512Mi",
               "persistentvolumeclaims": "2", "requests.storage": "2560Mi"})
    );
    assert_forbidden(
        create(&claims, claim("big", "gold", "1Gi")).await,
        "persistentvolumeclaims \"big\" is forbidden: exceeded quota: disks, requested: gold.storageclass.storage.k8s.io/requests.storage=1Gi, used: gold.storageclass.storage.k8s.io/requests.storage=512Mi, limited: gold.storageclass.storage.k8s.io/requests.storage=1Gi",
    );
    claims
        .delete("small", &DeleteParams::default())
        .await
        .unwrap();
    wait_used(
        &quotas,
        "disks",
        json!({"gold.storageclass.storage.k8s.io/requests.storage": "0",
               "persistentvolumeclaims": "1", "requests.storage": "2Gi"}),
    )
    .await;
}

async fn scopes_divide_pods_between_quotas(backend: Backend) {
    let den = Den::start(backend);
    let client = den.client().await;
    namespace(&client, "scoped").await;
    create(
        &Api::<PriorityClass>::all(client.clone()),
        json!({"metadata": {"name": "high"}, "value": 1000}),
    )
    .await
    .unwrap();
    let pods_only = |scopes: Value| json!({"hard": {"pods": "5"}, "scopes": scopes});
    let quotas = quota(
        &client,
        "scoped",
        "best-effort",
        pods_only(json!(["BestEffort"])),
    )
    .await;
    quota(
        &client,
        "scoped",
        "not-best-effort",
        pods_only(json!(["NotBestEffort"])),
    )
    .await;
    quota(
        &client,
        "scoped",
        "terminating",
        pods_only(json!(["Terminating"])),
    )
    .await;
    quota(
        &client,
        "scoped",
        "high",
        json!({"hard": {"pods": "1"}, "scopeSelector": {"matchExpressions": [
            {"scopeName": "PriorityClass", "operator": "In", "values": ["high"]}
        ]}}),
    )
    .await;
    for name in ["best-effort", "not-best-effort", "terminating", "high"] {
        wait_used(&quotas, name, json!({"pods": "0"})).await;
    }

    let pods = Api::<Pod>::namespaced(client.clone(), "scoped");
    create(&pods, pod("idle", json!([{"name": "a", "image": "x"}])))
        .await
        .unwrap();
    create(
        &pods,
        json!({"metadata": {"name": "batch"}, "spec": {
            "activeDeadlineSeconds": 60,
            "containers": [container("a", json!({"cpu": "10m"}), json!({}))]
        }}),
    )
    .await
    .unwrap();
    create(
        &pods,
        json!({"metadata": {"name": "vip"}, "spec": {
            "priorityClassName": "high", "containers": [{"name": "a", "image": "x"}]
        }}),
    )
    .await
    .unwrap();
    assert_eq!(used(&quotas, "best-effort").await, json!({"pods": "2"}));
    assert_eq!(used(&quotas, "not-best-effort").await, json!({"pods": "1"}));
    assert_eq!(used(&quotas, "terminating").await, json!({"pods": "1"}));
    assert_eq!(used(&quotas, "high").await, json!({"pods": "1"}));
    assert_forbidden(
        create(
            &pods,
            json!({"metadata": {"name": "vip2"}, "spec": {
                "priorityClassName": "high", "containers": [{"name": "a", "image": "x"}]
            }}),
        )
        .await,
        "pods \"vip2\" is forbidden: exceeded quota: high, requested: pods=1, used: pods=1, limited: pods=1",
    );

    pods.delete("idle", &DeleteParams::default().grace_period(0))
        .await
        .unwrap();
    wait_used(&quotas, "best-effort", json!({"pods": "1"})).await;
    assert_eq!(used(&quotas, "not-best-effort").await, json!({"pods": "1"}));
}

async fn dry_runs_are_checked_but_not_charged(backend: Backend) {
    let den = Den::start(backend);
    let client = den.client().await;
    namespace(&client, "dry").await;
    let quotas = quota(&client, "dry", "q", json!({"hard": {"configmaps": "2"}})).await;
    wait_used(&quotas, "q", json!({"configmaps": "1"})).await;
    let configmaps = Api::<ConfigMap>::namespaced(client.clone(), "dry");
    let dry_run = PostParams {
        dry_run: true,
        ..Default::default()
    };
    let cm = |name: &str| serde_json::from_value::<ConfigMap>(json!({"metadata": {"name": name}}));
    configmaps
        .create(&dry_run, &cm("a").unwrap())
        .await
        .unwrap();
    assert_eq!(used(&quotas, "q").await, json!({"configmaps": "1"}));
    configmaps
        .create(&PostParams::default(), &cm("b").unwrap())
        .await
        .unwrap();
    assert_forbidden(
        configmaps.create(&dry_run, &cm("c").unwrap()).await,
        "configmaps \"c\" is forbidden: exceeded quota: q, requested: configmaps=1, used: configmaps=2, limited: configmaps=2",
    );
    assert_eq!(used(&quotas, "q").await, json!({"configmaps": "2"}));
    // A generated name is the one the refusal names.
    let refused = api_error(
        create(&configmaps, json!({"metadata": {"generateName": "gen-"}}))
            .await
            .expect_err("refused"),
    );
    let message = refused.message.strip_prefix("configmaps \"gen-").unwrap();
    assert_eq!(message.len(), 5 + "\" is forbidden: exceeded quota: q, requested: configmaps=1, used: configmaps=2, limited: configmaps=2".len(), "{}", refused.message);
    assert!(message.ends_with("\" is forbidden: exceeded quota: q, requested: configmaps=1, used: configmaps=2, limited: configmaps=2"));
}

async fn concurrent_creates_never_exceed_the_quota(backend: Backend) {
    let den = Den::start(backend);
    let client = den.client().await;
    namespace(&client, "busy").await;
    let quotas = quota(&client, "busy", "q", json!({"hard": {"configmaps": "31"}})).await;
    wait_used(&quotas, "q", json!({"configmaps": "1"})).await;
    let configmaps = Api::<ConfigMap>::namespaced(client.clone(), "busy");
    let creates = (0..60).map(|i| {
        let configmaps = configmaps.clone();
        async move {
            create(
                &configmaps,
                json!({"metadata": {"name": format!("cm-{i}")}}),
            )
            .await
        }
    });
    let results = futures::future::join_all(creates).await;
    let created = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(created, 30);
    for refused in results.into_iter().filter_map(Result::err) {
        assert_eq!(api_error(refused).code, 403);
    }
    assert_eq!(used(&quotas, "q").await, json!({"configmaps": "31"}));
}

fn kubectl_describes_quota_usage_and_prints_refusals(den: &Den, k: &Path) {
    ok(den.kubectl(k, &["create", "namespace", "team"]));
    ok(den.kubectl(
        k,
        &[
            "create",
            "quota",
            "team-quota",
            "-n",
            "team",
            "--hard=pods=1,requests.cpu=500m,requests.memory=1Gi,configmaps=5",
        ],
    ));
    // The controller calculates the status shortly after the quota is created.
    let deadline = Instant::now() + Duration::from_secs(20);
    while ok(den.kubectl(
        k,
        &[
            "get",
            "quota",
            "team-quota",
            "-n",
            "team",
            "-o",
            "jsonpath={.status.used.pods}",
        ],
    ))
    .is_empty()
    {
        assert!(Instant::now() < deadline, "status never calculated");
        std::thread::sleep(Duration::from_millis(100));
    }
    ok(den.kubectl(
        k,
        &[
            "run",
            "web",
            "-n",
            "team",
            "--image=busybox:1.36",
            "--overrides",
            r#"{"spec":{"containers":[{"name":"web","image":"busybox:1.36","resources":{"requests":{"cpu":"250m","memory":"64Mi"}}}]}}"#,
        ],
    ));
    let described = ok(den.kubectl(k, &["describe", "quota", "team-quota", "-n", "team"]));
    let rows: Vec<Vec<&str>> = described
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    for row in [
        vec!["Name:", "team-quota"],
        vec!["Namespace:", "team"],
        vec!["Resource", "Used", "Hard"],
        vec!["configmaps", "1", "5"],
        vec!["pods", "1", "1"],
        vec!["requests.cpu", "250m", "500m"],
        vec!["requests.memory", "64Mi", "1Gi"],
    ] {
        assert!(rows.contains(&row), "{row:?} missing from:\n{described}");
    }
    let get = ok(den.kubectl(k, &["get", "quota", "-n", "team"]));
    let header: Vec<&str> = get.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["NAME", "REQUEST", "LIMIT", "AGE"]);
    assert!(
        get.contains(
            "configmaps: 1/5, pods: 1/1, requests.cpu: 250m/500m, requests.memory: 64Mi/1Gi"
        ),
        "{get}"
    );
    let refused = fails(den.kubectl(
        k,
        &[
            "run",
            "more",
            "-n",
            "team",
            "--image=busybox:1.36",
            "--overrides",
            r#"{"spec":{"containers":[{"name":"more","image":"busybox:1.36","resources":{"requests":{"cpu":"100m","memory":"64Mi"}}}]}}"#,
        ],
    ));
    assert_eq!(
        refused,
        "Error from server (Forbidden): pods \"more\" is forbidden: exceeded quota: team-quota, requested: pods=1, used: pods=1, limited: pods=1\n"
    );
}
