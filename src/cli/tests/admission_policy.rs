//! ValidatingAdmissionPolicy enforcement against a real Den: policies and bindings written
//! through the API take effect on the next writes, deny them with upstream's status, warn,
//! and stop applying once unbound; through `kube::Client` and through kubectl.

#[macro_use]
mod common;

use std::future::Future;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{Backend, Den, fails, ok, write_file};
use k8s_openapi::api::admissionregistration::v1::{
    ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding,
};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

kubectl_scenarios!(kubectl_prints_policy_warnings_and_denials);

/// How long a new or removed policy may take to apply; Den takes milliseconds.
const SETTLE: Duration = Duration::from_secs(5);

fn api_error(err: kube::Error) -> kube::core::Status {
    match err {
        kube::Error::Api(status) => *status,
        other => panic!("expected an API error, got {other:?}"),
    }
}

async fn create<K>(api: &Api<K>, obj: Value) -> Result<K, kube::Error>
where
    K: Clone + DeserializeOwned + Serialize + std::fmt::Debug,
{
    let typed: K = serde_json::from_value(obj).expect("a valid object");
    api.create(&PostParams::default(), &typed).await
}

fn policy(name: &str, spec: Value) -> Value {
    json!({"metadata": {"name": name}, "spec": spec})
}

fn binding(name: &str, policy: &str, actions: &[&str], extra: Value) -> Value {
    let mut spec = json!({"policyName": policy, "validationActions": actions});
    if let (Some(spec), Some(extra)) = (spec.as_object_mut(), extra.as_object()) {
        spec.extend(extra.clone());
    }
    json!({"metadata": {"name": name}, "spec": spec})
}

/// Creates a policy and its binding.
async fn bind(client: &kube::Client, policy: Value, binding: Value) {
    create(
        &Api::<ValidatingAdmissionPolicy>::all(client.clone()),
        policy,
    )
    .await
    .unwrap();
    create(
        &Api::<ValidatingAdmissionPolicyBinding>::all(client.clone()),
        binding,
    )
    .await
    .unwrap();
}

fn deployment(name: &str, replicas: i32, labels: Value) -> Value {
    json!({
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "nginx"}]}
            }
        }
    })
}

fn config_map(name: &str, labels: Value, data: Value) -> Value {
    let mut cm = json!({"metadata": {"name": name, "labels": labels}});
    if data.as_object().is_some_and(|d| !d.is_empty()) {
        cm["data"] = data;
    }
    cm
}

/// Retries `attempt` until it fails with an API error (a policy took effect), undoing each
/// success with `undo`; returns the error and how long it took.
async fn until_denied<T, A, AF, U, UF>(
    mut attempt: A,
    mut undo: U,
) -> (kube::core::Status, Duration)
where
    A: FnMut() -> AF,
    AF: Future<Output = Result<T, kube::Error>>,
    U: FnMut() -> UF,
    UF: Future<Output = ()>,
{
    let start = Instant::now();
    loop {
        match attempt().await {
            Err(e) => return (api_error(e), start.elapsed()),
            Ok(_) => undo().await,
        }
        assert!(start.elapsed() < SETTLE, "the policy never took effect");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Retries `attempt` until it succeeds (a policy stopped applying).
async fn until_allowed<T, A, AF>(mut attempt: A) -> T
where
    A: FnMut() -> AF,
    AF: Future<Output = Result<T, kube::Error>>,
{
    let start = Instant::now();
    loop {
        match attempt().await {
            Ok(v) => return v,
            Err(e) => assert!(
                start.elapsed() < SETTLE,
                "still refused after {SETTLE:?}: {e}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn denied_message(resource: &str, name: &str, policy: &str, binding: &str, msg: &str) -> String {
    format!(
        "{resource} \"{name}\" is forbidden: ValidatingAdmissionPolicy '{policy}' with binding '{binding}' denied request: {msg}"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bound_policy_denies_deployments_with_upstreams_status_until_unbound() {
    let den = Den::start(Backend::Embedded);
    let client = den.client().await;
    let deployments = Api::<Deployment>::namespaced(client.clone(), "default");
    bind(
        &client,
        policy(
            "replicas.example.com",
            json!({
                "matchConstraints": {"resourceRules": [{
                    "apiGroups": ["apps"], "apiVersions": ["v1"],
                    "operations": ["CREATE", "UPDATE"], "resources": ["deployments"]
                }]},
                "validations": [
                    {
                        "expression": "object.spec.replicas > 1",
                        "messageExpression": "'wants replicas > 1, got ' + string(object.spec.replicas)"
                    },
                    {
                        "expression": "object.metadata.name != 'reserved'",
                        "message": "the name is reserved",
                        "reason": "Forbidden"
                    }
                ]
            }),
        ),
        binding(
            "replicas-binding.example.com",
            "replicas.example.com",
            &["Deny"],
            json!({}),
        ),
    )
    .await;

    // Stored with upstream's defaults.
    let stored = Api::<ValidatingAdmissionPolicy>::all(client.clone())
        .get("replicas.example.com")
        .await
        .unwrap();
    let spec = serde_json::to_value(stored.spec).unwrap();
    assert_eq!(spec["failurePolicy"], "Fail");
    assert_eq!(
        (
            &spec["matchConstraints"]["matchPolicy"],
            &spec["matchConstraints"]["namespaceSelector"],
            &spec["matchConstraints"]["objectSelector"],
            &spec["matchConstraints"]["resourceRules"][0]["scope"],
        ),
        (&json!("Equivalent"), &json!({}), &json!({}), &json!("*"))
    );

    let (status, took) = until_denied(
        || create(&deployments, deployment("one", 1, json!({}))),
        || async {
            let _ = deployments.delete("one", &DeleteParams::default()).await;
        },
    )
    .await;
    assert!(took < Duration::from_secs(2), "took {took:?} to apply");
    let inner = "ValidatingAdmissionPolicy 'replicas.example.com' with binding 'replicas-binding.example.com' denied request: wants replicas > 1, got 1";
    assert_eq!(
        serde_json::to_value(&status).unwrap(),
        json!({
            "status": "Failure",
            "message": format!("deployments.apps \"one\" is forbidden: {inner}"),
            "reason": "Invalid",
            "details": {
                "name": "one",
                "group": "apps",
                "kind": "deployments",
                "causes": [{"message": inner}]
            },
            "code": 422,
            "metadata": {}
        })
    );

    // Another kind, and deployments the policy admits.
    create(
        &Api::<ReplicaSet>::namespaced(client.clone(), "default"),
        deployment("single", 1, json!({})),
    )
    .await
    .unwrap();
    create(&deployments, deployment("two", 2, json!({})))
        .await
        .unwrap();

    // Updates are validated too, and the reason of a validation sets the status.
    let scale_down = Patch::Merge(json!({"spec": {"replicas": 1}}));
    let err = api_error(
        deployments
            .patch("two", &PatchParams::default(), &scale_down)
            .await
            .unwrap_err(),
    );
    assert_eq!(
        (err.code, err.reason.as_str(), err.message.as_str()),
        (
            422,
            "Invalid",
            denied_message(
                "deployments.apps",
                "two",
                "replicas.example.com",
                "replicas-binding.example.com",
                "wants replicas > 1, got 1"
            )
            .as_str()
        )
    );
    let err = api_error(
        create(&deployments, deployment("reserved", 3, json!({})))
            .await
            .unwrap_err(),
    );
    assert_eq!(
        (err.code, err.reason.as_str(), err.message.as_str()),
        (
            403,
            "Forbidden",
            denied_message(
                "deployments.apps",
                "reserved",
                "replicas.example.com",
                "replicas-binding.example.com",
                "the name is reserved"
            )
            .as_str()
        )
    );

    // A generated name is the one the error names.
    let mut generated = deployment("", 1, json!({}));
    generated["metadata"] = json!({"generateName": "gen-"});
    let err = api_error(create(&deployments, generated).await.unwrap_err());
    assert!(
        err.message.starts_with("deployments.apps \"gen-"),
        "{}",
        err.message
    );

    // Without its binding the policy applies to nothing.
    Api::<ValidatingAdmissionPolicyBinding>::all(client.clone())
        .delete("replicas-binding.example.com", &DeleteParams::default())
        .await
        .unwrap();
    until_allowed(|| create(&deployments, deployment("one", 1, json!({})))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn variables_messages_and_failure_policies_follow_upstream() {
    let den = Den::start(Backend::Embedded);
    let client = den.client().await;
    let deployments = Api::<Deployment>::namespaced(client.clone(), "default");
    let rules = json!({"resourceRules": [{
        "apiGroups": ["apps"], "apiVersions": ["v1"],
        "operations": ["CREATE"], "resources": ["deployments"]
    }]});
    bind(
        &client,
        policy(
            "vars",
            json!({
                "matchConstraints": rules,
                "variables": [
                    {"name": "replicas", "expression": "object.spec.replicas"},
                    {"name": "oddReplicas", "expression": "variables.replicas % 2 == 1"},
                    {"name": "mayDelete", "expression": "authorizer.requestResource.check('delete').allowed()"}
                ],
                "validations": [
                    {"expression": "variables.replicas > 1"},
                    {"expression": "variables.oddReplicas", "message": " odd replicas only "},
                    {
                        "expression": "variables.mayDelete && authorizer.group('').resource('pods').namespace('default').check('create').allowed()",
                        "message": "the authorizer refused"
                    }
                ]
            }),
        ),
        binding("vars-binding", "vars", &["Deny"], json!({})),
    )
    .await;
    let (status, _) = until_denied(
        || create(&deployments, deployment("one", 1, json!({}))),
        || async {
            let _ = deployments.delete("one", &DeleteParams::default()).await;
        },
    )
    .await;
    assert_eq!(
        status.message,
        denied_message(
            "deployments.apps",
            "one",
            "vars",
            "vars-binding",
            "failed expression: variables.replicas > 1"
        )
    );
    let err = api_error(
        create(&deployments, deployment("four", 4, json!({})))
            .await
            .unwrap_err(),
    );
    assert_eq!(
        err.message,
        denied_message(
            "deployments.apps",
            "four",
            "vars",
            "vars-binding",
            "odd replicas only"
        )
    );
    create(&deployments, deployment("three", 3, json!({})))
        .await
        .unwrap();

    // A runtime error denies under failurePolicy Fail (the default) ...
    let failing = |name: &str, failure_policy: Option<&str>| {
        let mut spec = json!({
            "matchConstraints": {"resourceRules": [{
                "apiGroups": [""], "apiVersions": ["v1"],
                "operations": ["CREATE"], "resources": ["configmaps"]
            }]},
            "validations": [{"expression": "object.data.color == 'blue'"}]
        });
        if let Some(fp) = failure_policy {
            spec["failurePolicy"] = json!(fp);
        }
        policy(name, spec)
    };
    bind(
        &client,
        failing("strict", None),
        binding("strict-binding", "strict", &["Deny"], json!({})),
    )
    .await;
    let config_maps = Api::<ConfigMap>::namespaced(client.clone(), "default");
    let (status, _) = until_denied(
        || create(&config_maps, config_map("plain", json!({}), json!({}))),
        || async {
            let _ = config_maps.delete("plain", &DeleteParams::default()).await;
        },
    )
    .await;
    assert_eq!(
        (status.code, status.reason.as_str(), status.message.as_str()),
        (
            422,
            "Invalid",
            denied_message(
                "configmaps",
                "plain",
                "strict",
                "strict-binding",
                "expression 'object.data.color == 'blue'' resulted in error: no such key: data"
            )
            .as_str()
        )
    );
    create(
        &config_maps,
        config_map("blue", json!({}), json!({"color": "blue"})),
    )
    .await
    .unwrap();
    // ... and is ignored under Ignore.
    Api::<ValidatingAdmissionPolicy>::all(client.clone())
        .patch(
            "strict",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"failurePolicy": "Ignore"}})),
        )
        .await
        .unwrap();
    until_allowed(|| create(&config_maps, config_map("plain", json!({}), json!({})))).await;

    // An expression that does not compile is refused when the policy is written, as
    // upstream refuses it, with the compiler's message.
    let status = api_error(
        create(
            &Api::<ValidatingAdmissionPolicy>::all(client.clone()),
            policy(
                "broken",
                json!({
                    "matchConstraints": {"resourceRules": [{
                        "apiGroups": [""], "apiVersions": ["v1"],
                        "operations": ["CREATE"], "resources": ["secrets"]
                    }]},
                    "validations": [{"expression": "object.data.size() > nonsense"}]
                }),
            ),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(status.code, 422);
    assert_eq!(
        status.message,
        "ValidatingAdmissionPolicy.admissionregistration.k8s.io \"broken\" is invalid: \
         spec.validations[0].expression: Invalid value: \"object.data.size() > nonsense\": \
         compilation failed: ERROR: <input>:1:22: undeclared reference to 'nonsense' (in container '')\n \
         | object.data.size() > nonsense\n | .....................^"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn params_come_from_the_config_map_a_binding_refers_to() {
    let den = Den::start(Backend::Embedded);
    let client = den.client().await;
    let deployments = Api::<Deployment>::namespaced(client.clone(), "default");
    let config_maps = Api::<ConfigMap>::namespaced(client.clone(), "default");
    bind(
        &client,
        policy(
            "max-replicas",
            json!({
                "paramKind": {"apiVersion": "v1", "kind": "ConfigMap"},
                "matchConstraints": {"resourceRules": [{
                    "apiGroups": ["apps"], "apiVersions": ["v1"],
                    "operations": ["CREATE", "UPDATE"], "resources": ["deployments"]
                }]},
                "validations": [{
                    "expression": "object.spec.replicas <= int(params.data.maxReplicas)",
                    "messageExpression": "'at most ' + params.data.maxReplicas + ' replicas (' + params.metadata.name + ')'"
                }]
            }),
        ),
        binding(
            "max-replicas-binding",
            "max-replicas",
            &["Deny"],
            json!({"paramRef": {"name": "limits", "parameterNotFoundAction": "Deny"}}),
        ),
    )
    .await;
    // Without the ConfigMap, the binding cannot be applied.
    let (status, _) = until_denied(
        || create(&deployments, deployment("web", 1, json!({}))),
        || async {
            let _ = deployments.delete("web", &DeleteParams::default()).await;
        },
    )
    .await;
    assert_eq!(
        status.message,
        denied_message(
            "deployments.apps",
            "web",
            "max-replicas",
            "max-replicas-binding",
            "failed to configure binding: no params found for policy binding with `Deny` parameterNotFoundAction"
        )
    );
    create(
        &config_maps,
        config_map("limits", json!({}), json!({"maxReplicas": "3"})),
    )
    .await
    .unwrap();
    let err = api_error(
        create(&deployments, deployment("big", 5, json!({})))
            .await
            .unwrap_err(),
    );
    assert_eq!(
        err.message,
        denied_message(
            "deployments.apps",
            "big",
            "max-replicas",
            "max-replicas-binding",
            "at most 3 replicas (limits)"
        )
    );
    create(&deployments, deployment("small", 3, json!({})))
        .await
        .unwrap();
    // A changed param applies to the next request.
    config_maps
        .patch(
            "limits",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"maxReplicas": "10"}})),
        )
        .await
        .unwrap();
    create(&deployments, deployment("big", 5, json!({})))
        .await
        .unwrap();

    // A selector evaluates the policy once for each ConfigMap it selects.
    Api::<ValidatingAdmissionPolicyBinding>::all(client.clone())
        .delete("max-replicas-binding", &DeleteParams::default())
        .await
        .unwrap();
    create(
        &Api::<ValidatingAdmissionPolicyBinding>::all(client.clone()),
        binding(
            "by-label",
            "max-replicas",
            &["Deny"],
            json!({"paramRef": {"selector": {"matchLabels": {"limit": "true"}}, "parameterNotFoundAction": "Allow"}}),
        ),
    )
    .await
    .unwrap();
    // No ConfigMap is selected yet: nothing to evaluate, and Allow admits.
    until_allowed(|| create(&deployments, deployment("huge", 50, json!({})))).await;
    create(
        &config_maps,
        config_map(
            "tight",
            json!({"limit": "true"}),
            json!({"maxReplicas": "2"}),
        ),
    )
    .await
    .unwrap();
    let err = api_error(
        create(&deployments, deployment("medium", 4, json!({})))
            .await
            .unwrap_err(),
    );
    assert_eq!(
        err.message,
        denied_message(
            "deployments.apps",
            "medium",
            "max-replicas",
            "by-label",
            "at most 2 replicas (tight)"
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn selectors_scope_a_binding_to_namespaces_and_objects() {
    let den = Den::start(Backend::Embedded);
    let client = den.client().await;
    let namespaces = Api::<Namespace>::all(client.clone());
    for (name, env) in [("prod", "prod"), ("dev", "dev")] {
        create(
            &namespaces,
            json!({"metadata": {"name": name, "labels": {"env": env}}}),
        )
        .await
        .unwrap();
    }
    bind(
        &client,
        policy(
            "owned",
            json!({
                "matchConstraints": {"resourceRules": [{
                    "apiGroups": [""], "apiVersions": ["v1"],
                    "operations": ["CREATE", "UPDATE"], "resources": ["configmaps"]
                }]},
                "validations": [{
                    "expression": "has(object.metadata.labels) && 'owner' in object.metadata.labels",
                    "messageExpression": "'configmaps in ' + namespaceObject.metadata.name + ' need an owner'"
                }]
            }),
        ),
        binding(
            "owned-in-prod",
            "owned",
            &["Deny"],
            json!({"matchResources": {
                "namespaceSelector": {"matchLabels": {"env": "prod"}},
                "objectSelector": {"matchExpressions": [{"key": "exempt", "operator": "DoesNotExist"}]}
            }}),
        ),
    )
    .await;
    let prod = Api::<ConfigMap>::namespaced(client.clone(), "prod");
    let dev = Api::<ConfigMap>::namespaced(client.clone(), "dev");
    let (status, _) = until_denied(
        || create(&prod, config_map("a", json!({}), json!({}))),
        || async {
            let _ = prod.delete("a", &DeleteParams::default()).await;
        },
    )
    .await;
    assert_eq!(
        status.message,
        denied_message(
            "configmaps",
            "a",
            "owned",
            "owned-in-prod",
            "configmaps in prod need an owner"
        )
    );
    create(&prod, config_map("b", json!({"owner": "me"}), json!({})))
        .await
        .unwrap();
    create(&prod, config_map("c", json!({"exempt": "yes"}), json!({})))
        .await
        .unwrap();
    create(&dev, config_map("a", json!({}), json!({})))
        .await
        .unwrap();
    // Relabelling the namespace brings its configmaps under the binding.
    namespaces
        .patch(
            "dev",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"env": "prod"}}})),
        )
        .await
        .unwrap();
    let err = api_error(
        create(&dev, config_map("d", json!({}), json!({})))
            .await
            .unwrap_err(),
    );
    assert_eq!(err.code, 422);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletes_subresources_and_match_conditions_are_matched_like_upstream() {
    let den = Den::start(Backend::Embedded);
    let client = den.client().await;
    let config_maps = Api::<ConfigMap>::namespaced(client.clone(), "default");
    bind(
        &client,
        policy(
            "protected",
            json!({
                "matchConstraints": {"resourceRules": [{
                    "apiGroups": [""], "apiVersions": ["v1"],
                    "operations": ["DELETE"], "resources": ["configmaps"]
                }]},
                "matchConditions": [{
                    "name": "labelled",
                    "expression": "has(oldObject.metadata.labels) && 'protected' in oldObject.metadata.labels"
                }],
                "validations": [{
                    "expression": "object == null && oldObject.metadata.labels.protected != 'true'",
                    "messageExpression": "request.operation + ' of protected ' + request.name + ' by ' + request.userInfo.username"
                }]
            }),
        ),
        binding("protected-binding", "protected", &["Deny"], json!({})),
    )
    .await;
    create(
        &config_maps,
        config_map("keep", json!({"protected": "true"}), json!({})),
    )
    .await
    .unwrap();
    create(
        &config_maps,
        config_map("loose", json!({"protected": "false"}), json!({})),
    )
    .await
    .unwrap();
    create(&config_maps, config_map("plain", json!({}), json!({})))
        .await
        .unwrap();
    let start = Instant::now();
    let status = loop {
        match config_maps.delete("keep", &DeleteParams::default()).await {
            Err(e) => break api_error(e),
            Ok(_) => {
                assert!(start.elapsed() < SETTLE, "the policy never took effect");
                create(
                    &config_maps,
                    config_map("keep", json!({"protected": "true"}), json!({})),
                )
                .await
                .unwrap();
            }
        }
    };
    assert_eq!(
        status.message,
        denied_message(
            "configmaps",
            "keep",
            "protected",
            "protected-binding",
            "DELETE of protected keep by kubernetes-admin"
        )
    );
    config_maps
        .delete("loose", &DeleteParams::default())
        .await
        .unwrap();
    config_maps
        .delete("plain", &DeleteParams::default())
        .await
        .unwrap();
    // Updates are not DELETEs.
    config_maps
        .patch(
            "keep",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"k": "v"}})),
        )
        .await
        .unwrap();

    // `deployments/status` matches status writes only.
    bind(
        &client,
        policy(
            "status-only",
            json!({
                "matchConstraints": {"resourceRules": [{
                    "apiGroups": ["apps"], "apiVersions": ["v1"],
                    "operations": ["UPDATE"], "resources": ["deployments/status"]
                }]},
                "validations": [{
                    "expression": "request.subResource != 'status' || has(object.status.conditions)",
                    "message": "a status needs conditions"
                }]
            }),
        ),
        binding("status-only-binding", "status-only", &["Deny"], json!({})),
    )
    .await;
    let deployments = Api::<Deployment>::namespaced(client.clone(), "default");
    create(&deployments, deployment("web", 1, json!({})))
        .await
        .unwrap();
    let negative = Patch::Merge(json!({"status": {"observedGeneration": 1}}));
    let start = Instant::now();
    let status = loop {
        match deployments
            .patch_status("web", &PatchParams::default(), &negative)
            .await
        {
            Err(e) => break api_error(e),
            Ok(_) => assert!(start.elapsed() < SETTLE, "the policy never took effect"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(
        status.message,
        denied_message(
            "deployments.apps",
            "web",
            "status-only",
            "status-only-binding",
            "a status needs conditions"
        )
    );
    deployments
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 2}})),
        )
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn equivalent_versions_are_matched_and_seen_in_the_policys_version() {
    use k8s_openapi::api::autoscaling::v1::HorizontalPodAutoscaler;
    let den = Den::start(Backend::Embedded);
    let client = den.client().await;
    let rules = |policy: &str| {
        json!({
            "matchPolicy": policy,
            "resourceRules": [{
                "apiGroups": ["autoscaling"], "apiVersions": ["v2"],
                "operations": ["CREATE"], "resources": ["horizontalpodautoscalers"]
            }]
        })
    };
    let validations = json!([{
        "expression": "object.spec.minReplicas >= 2",
        "messageExpression": "request.requestKind.version + ' seen as ' + request.kind.version + ' ' + object.apiVersion"
    }]);
    bind(
        &client,
        policy(
            "exact",
            json!({"matchConstraints": rules("Exact"), "validations": validations}),
        ),
        binding("exact-binding", "exact", &["Deny"], json!({})),
    )
    .await;
    bind(
        &client,
        policy(
            "equivalent",
            json!({"matchConstraints": rules("Equivalent"), "validations": validations}),
        ),
        binding("equivalent-binding", "equivalent", &["Deny"], json!({})),
    )
    .await;
    let hpas = Api::<HorizontalPodAutoscaler>::namespaced(client.clone(), "default");
    let hpa = |name: &str| {
        json!({
            "metadata": {"name": name},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                "minReplicas": 1,
                "maxReplicas": 3
            }
        })
    };
    let (status, _) = until_denied(
        || create(&hpas, hpa("v1")),
        || async {
            let _ = hpas.delete("v1", &DeleteParams::default()).await;
        },
    )
    .await;
    // Only the Equivalent policy applies to the v1 request, and sees a v2 object.
    assert_eq!(
        status.message,
        denied_message(
            "horizontalpodautoscalers.autoscaling",
            "v1",
            "equivalent",
            "equivalent-binding",
            "v1 seen as v2 autoscaling/v2"
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_policies_and_bindings_are_refused_with_upstreams_causes() {
    let den = Den::start(Backend::Embedded);
    let client = den.client().await;
    let policies = Api::<ValidatingAdmissionPolicy>::all(client.clone());
    let status = api_error(
        create(
            &policies,
            policy(
                "no-constraints",
                json!({"validations": [{"expression": "true"}]}),
            ),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(status.code, 422);
    assert_eq!(status.reason, "Invalid");
    assert_eq!(
        status.message,
        "ValidatingAdmissionPolicy.admissionregistration.k8s.io \"no-constraints\" is invalid: \
         spec.matchConstraints: Required value"
    );

    let rules = json!({"resourceRules": [{
        "apiGroups": ["apps"], "apiVersions": ["v1"],
        "operations": ["CREATE"], "resources": ["deployments"]
    }]});
    let status = api_error(
        create(
            &policies,
            policy(
                "bad-expression",
                json!({"matchConstraints": rules, "validations": [{"expression": "1 + 1"}]}),
            ),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(status.code, 422);
    assert_eq!(
        status.message,
        "ValidatingAdmissionPolicy.admissionregistration.k8s.io \"bad-expression\" is invalid: \
         spec.validations[0].expression: Invalid value: \"1 + 1\": must evaluate to bool but got int"
    );

    let bindings = Api::<ValidatingAdmissionPolicyBinding>::all(client.clone());
    let status = api_error(
        create(
            &bindings,
            binding("both", "p", &["Deny", "Warn"], json!({})),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(status.code, 422);
    assert_eq!(
        status.message,
        "ValidatingAdmissionPolicyBinding.admissionregistration.k8s.io \"both\" is invalid: \
         spec.validationActions: Invalid value: []admissionregistration.ValidationAction{\"Deny\", \"Warn\"}: \
         must not contain both Deny and Warn (repeating the same validation failure information \
         in the API response and headers serves no purpose)"
    );
}

/// kubectl shows a `Warn` binding's message as a warning and the request succeeds; a `Deny`
/// binding's denial is printed as upstream's error.
fn kubectl_prints_policy_warnings_and_denials(den: &Den, kubectl: &Path) {
    let manifest = write_file(
        den,
        "policy.yaml",
        r#"apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata:
  name: colors
spec:
  matchConstraints:
    resourceRules:
    - apiGroups: [""]
      apiVersions: ["v1"]
      operations: ["CREATE"]
      resources: ["configmaps"]
  validations:
  - expression: "has(object.data) && 'color' in object.data"
    message: "a color is recommended"
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata:
  name: colors-warn
spec:
  policyName: colors
  validationActions: [Warn, Audit]
"#,
    );
    ok(den.kubectl(kubectl, &["apply", "-f", &manifest]));
    let start = Instant::now();
    let mut attempt = 0;
    let warning = loop {
        attempt += 1;
        let name = format!("plain-{attempt}");
        let output = den.kubectl(kubectl, &["create", "configmap", &name]);
        assert!(output.status.success(), "{}", common::stderr(&output));
        let stderr = common::stderr(&output);
        if !stderr.is_empty() {
            break stderr;
        }
        assert!(start.elapsed() < SETTLE, "no warning");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(
        warning,
        "Warning: Validation failed for ValidatingAdmissionPolicy 'colors' with binding 'colors-warn': a color is recommended\n"
    );
    let output = den.kubectl(
        kubectl,
        &["create", "configmap", "colored", "--from-literal=color=red"],
    );
    assert_eq!(common::stderr(&output), "");
    ok(output);

    ok(den.kubectl(
        kubectl,
        &[
            "patch",
            "validatingadmissionpolicybinding",
            "colors-warn",
            "--type=merge",
            "-p",
            r#"{"spec":{"validationActions":["Deny"]}}"#,
        ],
    ));
    let start = Instant::now();
    let denial = loop {
        let output = den.kubectl(kubectl, &["create", "configmap", "denied"]);
        if !output.status.success() {
            break fails(output);
        }
        ok(den.kubectl(kubectl, &["delete", "configmap", "denied"]));
        assert!(start.elapsed() < SETTLE, "never denied");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(
        denial,
        "error: failed to create configmap: configmaps \"denied\" is forbidden: ValidatingAdmissionPolicy 'colors' with binding 'colors-warn' denied request: a color is recommended\n"
    );
}
