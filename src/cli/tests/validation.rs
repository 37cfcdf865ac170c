//! Upstream's defaulting and validation of built-in kinds, seen through a real kubectl:
//! objects come back with upstream's defaults, and invalid objects or forbidden updates are
//! refused with upstream's wording.

#[macro_use]
mod common;

use std::path::Path;

use common::{Den, fails, ok, write_file};

kubectl_scenarios!(
    objects_created_with_kubectl_come_back_with_upstream_defaults,
    invalid_objects_are_refused_with_upstream_messages,
    immutable_fields_cannot_be_changed,
);

fn jsonpath(den: &Den, k: &Path, what: &[&str], path: &str) -> String {
    let output = format!("jsonpath={path}");
    let mut args = vec!["get"];
    args.extend_from_slice(what);
    args.extend(["-o", &output]);
    ok(den.kubectl(k, &args))
}

fn objects_created_with_kubectl_come_back_with_upstream_defaults(den: &Den, k: &Path) {
    ok(den.kubectl(k, &["create", "deployment", "web", "--image=nginx:1.27"]));
    assert_eq!(
        jsonpath(
            den,
            k,
            &["deploy", "web"],
            "{.spec.replicas} {.spec.strategy.type} {.spec.strategy.rollingUpdate.maxSurge} {.spec.strategy.rollingUpdate.maxUnavailable} {.spec.revisionHistoryLimit} {.spec.progressDeadlineSeconds}",
        ),
        "1 RollingUpdate 25% 25% 10 600"
    );
    assert_eq!(
        jsonpath(
            den,
            k,
            &["deploy", "web"],
            "{.spec.template.spec.restartPolicy} {.spec.template.spec.dnsPolicy} {.spec.template.spec.schedulerName} {.spec.template.spec.terminationGracePeriodSeconds} {.spec.template.spec.containers[0].imagePullPolicy} {.spec.template.spec.containers[0].terminationMessagePath} {.spec.template.spec.containers[0].terminationMessagePolicy}",
        ),
        "Always ClusterFirst default-scheduler 30 IfNotPresent /dev/termination-log File"
    );

    let pod = write_file(
        den,
        "pod.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n  - name: web\n    image: nginx\n    ports:\n    - containerPort: 80\n    resources:\n      limits:\n        cpu: \"0.5\"\n",
    );
    ok(den.kubectl(k, &["create", "-f", &pod]));
    assert_eq!(
        jsonpath(
            den,
            k,
            &["pod", "p"],
            "{.spec.enableServiceLinks} {.spec.containers[0].imagePullPolicy} {.spec.containers[0].ports[0].protocol} {.spec.containers[0].resources.requests.cpu} {.spec.containers[0].resources.limits.cpu}",
        ),
        "true Always TCP 500m 500m"
    );

    ok(den.kubectl(k, &["create", "job", "once", "--image=busybox:1.36"]));
    let job: serde_json::Value =
        serde_json::from_str(&ok(den.kubectl(k, &["get", "job", "once", "-o", "json"]))).unwrap();
    let uid = job["metadata"]["uid"].as_str().unwrap();
    assert_eq!(
        job["spec"]["selector"]["matchLabels"]["batch.kubernetes.io/controller-uid"],
        uid
    );
    assert_eq!(
        job["spec"]["template"]["metadata"]["labels"]["job-name"],
        "once"
    );
    assert_eq!(
        job["metadata"]["labels"]["batch.kubernetes.io/job-name"],
        "once"
    );
    for (field, value) in [
        ("backoffLimit", serde_json::json!(6)),
        ("completions", serde_json::json!(1)),
        ("parallelism", serde_json::json!(1)),
        ("completionMode", serde_json::json!("NonIndexed")),
        ("suspend", serde_json::json!(false)),
        (
            "podReplacementPolicy",
            serde_json::json!("TerminatingOrFailed"),
        ),
    ] {
        assert_eq!(job["spec"][field], value, "{field}");
    }

    ok(den.kubectl(
        k,
        &[
            "create",
            "cronjob",
            "tick",
            "--image=busybox:1.36",
            "--schedule=*/5 * * * *",
        ],
    ));
    assert_eq!(
        jsonpath(
            den,
            k,
            &["cronjob", "tick"],
            "{.spec.concurrencyPolicy} {.spec.suspend} {.spec.successfulJobsHistoryLimit} {.spec.failedJobsHistoryLimit}",
        ),
        "Allow false 3 1"
    );

    ok(den.kubectl(k, &["create", "service", "nodeport", "np", "--tcp=80:8080"]));
    assert_eq!(
        jsonpath(
            den,
            k,
            &["svc", "np"],
            "{.spec.sessionAffinity} {.spec.externalTrafficPolicy} {.spec.internalTrafficPolicy} {.spec.ports[0].protocol}",
        ),
        "None Cluster Cluster TCP"
    );

    let ds = write_file(
        den,
        "ds.yaml",
        "apiVersion: apps/v1\nkind: DaemonSet\nmetadata:\n  name: agent\nspec:\n  selector:\n    matchLabels:\n      app: agent\n  template:\n    metadata:\n      labels:\n        app: agent\n    spec:\n      containers:\n      - name: a\n        image: busybox:1.36\n",
    );
    ok(den.kubectl(k, &["create", "-f", &ds]));
    let generation = r"{.metadata.annotations.deprecated\.daemonset\.template\.generation}";
    assert_eq!(
        jsonpath(
            den,
            k,
            &["ds", "agent"],
            &format!("{generation} {{.spec.updateStrategy.rollingUpdate.maxUnavailable}}")
        ),
        "1 1"
    );
    ok(den.kubectl(k, &["set", "image", "ds/agent", "a=busybox:1.37"]));
    assert_eq!(jsonpath(den, k, &["ds", "agent"], generation), "2");

    ok(den.kubectl(k, &["create", "namespace", "team"]));
    assert_eq!(
        jsonpath(den, k, &["ns", "team"], "{.metadata.labels}"),
        r#"{"kubernetes.io/metadata.name":"team"}"#
    );
}

const MISMATCHED_DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: x
spec:
  selector:
    matchLabels:
      app: x
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: nginx
";

const DUPLICATE_CONTAINERS: &str = "apiVersion: v1
kind: Pod
metadata:
  name: twins
spec:
  containers:
  - name: web
    image: nginx
  - name: web
    image: nginx
";

fn invalid_objects_are_refused_with_upstream_messages(den: &Den, k: &Path) {
    let file = write_file(den, "mismatched.yaml", MISMATCHED_DEPLOYMENT);
    let err = fails(den.kubectl(k, &["create", "-f", &file]));
    assert!(
        err.contains(
            "The Deployment \"x\" is invalid: spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"web\"}: `selector` does not match template `labels`"
        ),
        "{err}"
    );

    let file = write_file(den, "twins.yaml", DUPLICATE_CONTAINERS);
    let err = fails(den.kubectl(k, &["create", "-f", &file]));
    assert!(
        err.contains(
            "The Pod \"twins\" is invalid: spec.containers[1].name: Duplicate value: \"web\""
        ),
        "{err}"
    );

    let err = fails(den.kubectl(
        k,
        &[
            "create",
            "cronjob",
            "bad",
            "--image=busybox",
            "--schedule=every minute",
        ],
    ));
    assert!(
        err.contains("CronJob.batch \"bad\" is invalid: spec.schedule: Invalid value: \"every minute\": expected exactly 5 fields, found 2: [every minute]"),
        "{err}"
    );

    let err = fails(den.kubectl(k, &["create", "service", "clusterip", "s", "--tcp=0:80"]));
    assert!(
        err.contains(
            "spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive"
        ),
        "{err}"
    );

    let file = write_file(
        den,
        "role.yaml",
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: r\nrules:\n- apiGroups: [\"\"]\n  resources: [pods]\n",
    );
    let err = fails(den.kubectl(k, &["create", "-f", &file]));
    assert!(
        err.contains("The Role \"r\" is invalid: rules[0].verbs: Required value: verbs must contain at least one value"),
        "{err}"
    );

    let file = write_file(
        den,
        "quantity.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: q\nspec:\n  containers:\n  - name: a\n    image: nginx\n    resources:\n      limits:\n        memory: lots\n",
    );
    let err = fails(den.kubectl(k, &["create", "-f", &file]));
    assert!(
        err.contains("Error from server (BadRequest): error when creating")
            && err.contains("Pod in version \"v1\" cannot be handled as a Pod: quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"),
        "{err}"
    );

    // Nothing invalid was stored.
    let err = fails(den.kubectl(k, &["get", "deploy", "x"]));
    assert!(err.contains("not found"), "{err}");
}

fn immutable_fields_cannot_be_changed(den: &Den, k: &Path) {
    let pod = write_file(
        den,
        "pod.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n  - name: web\n    image: nginx:1.27\n",
    );
    ok(den.kubectl(k, &["create", "-f", &pod]));
    ok(den.kubectl(k, &["set", "image", "pod/p", "web=nginx:1.28"]));
    assert_eq!(
        jsonpath(den, k, &["pod", "p"], "{.spec.containers[0].image}"),
        "nginx:1.28"
    );
    let err = fails(den.kubectl(
        k,
        &[
            "patch",
            "pod",
            "p",
            "-p",
            r#"{"spec":{"restartPolicy":"Never"}}"#,
        ],
    ));
    assert!(
        err.contains("The Pod \"p\" is invalid: spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)"),
        "{err}"
    );

    ok(den.kubectl(k, &["create", "deployment", "web", "--image=nginx"]));
    let err = fails(den.kubectl(
        k,
        &[
            "patch",
            "deployment",
            "web",
            "--type=merge",
            "-p",
            r#"{"spec":{"selector":{"matchLabels":{"app":"other"}},"template":{"metadata":{"labels":{"app":"other"}}}}}"#,
        ],
    ));
    assert!(
        err.contains("The Deployment \"web\" is invalid: spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{\"app\":\"other\"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable"),
        "{err}"
    );

    ok(den.kubectl(k, &["create", "job", "once", "--image=busybox:1.36"]));
    let err = fails(den.kubectl(k, &["set", "image", "job/once", "once=busybox:1.37"]));
    assert!(
        // kubectl set image prints the server's message as it is.
        err.contains("Job.batch \"once\" is invalid: spec.template: Invalid value: ")
            && err.contains("field is immutable"),
        "{err}"
    );

    ok(den.kubectl(
        k,
        &[
            "create",
            "rolebinding",
            "rb",
            "--clusterrole=view",
            "--user=alice",
        ],
    ));
    let err = fails(den.kubectl(
        k,
        &[
            "patch",
            "rolebinding",
            "rb",
            "--type=merge",
            "-p",
            r#"{"roleRef":{"name":"edit"}}"#,
        ],
    ));
    assert!(
        err.contains("The RoleBinding \"rb\" is invalid: roleRef: Invalid value: rbac.RoleRef{APIGroup:\"rbac.authorization.k8s.io\", Kind:\"ClusterRole\", Name:\"edit\"}: cannot change roleRef"),
        "{err}"
    );

    ok(den.kubectl(k, &["create", "service", "clusterip", "s", "--tcp=80:8080"]));
    let ip = jsonpath(den, k, &["svc", "s"], "{.spec.clusterIP}");
    let err = fails(den.kubectl(
        k,
        &[
            "patch",
            "service",
            "s",
            "--type=merge",
            "-p",
            r#"{"spec":{"clusterIP":"10.96.200.200","clusterIPs":["10.96.200.200"]}}"#,
        ],
    ));
    assert!(
        err.contains("The Service \"s\" is invalid: spec.clusterIPs[0]: Invalid value: []string{\"10.96.200.200\"}: may not change once set"),
        "{err}"
    );
    // A replacement that leaves the address out keeps it.
    let svc = ok(den.kubectl(k, &["get", "svc", "s", "-o", "json"]));
    let mut svc: serde_json::Value = serde_json::from_str(&svc).unwrap();
    for field in ["clusterIP", "clusterIPs"] {
        svc["spec"].as_object_mut().unwrap().remove(field);
    }
    svc["metadata"]["labels"] = serde_json::json!({"replaced": "yes"});
    let file = write_file(den, "svc.json", &svc.to_string());
    ok(den.kubectl(k, &["replace", "-f", &file]));
    assert_eq!(jsonpath(den, k, &["svc", "s"], "{.spec.clusterIP}"), ip);
}
