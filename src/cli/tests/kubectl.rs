//! The everyday kubectl workflow against a real Den, with the newest and the oldest installed
//! kubectl, on the embedded store and on etcd.

#[macro_use]
mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{Den, fails, ok, stdout, write_file};

kubectl_scenarios!(
    version_and_discovery_describe_the_cluster,
    namespaces_are_created_described_and_deleted_with_their_content,
    configmaps_from_files_and_generators_print_in_every_output_format,
    secrets_keep_their_type_and_data,
    labels_annotations_and_merge_patches_change_objects,
    pods_and_services_are_created_from_files,
    deployments_are_created_scaled_and_listed_wide,
    selectors_filter_lists,
    get_watch_sees_a_concurrent_update,
    wait_for_jsonpath_and_for_delete,
    chunked_lists_return_every_object,
    delete_all_empties_a_namespace,
    new_namespaces_get_a_default_service_account_and_the_root_ca,
    errors_match_upstream_wording,
    explain_prints_upstream_descriptions,
    client_side_apply_set_image_rollout_restart_and_diff_patch_strategically,
    custom_resources_are_served_validated_defaulted_scaled_and_cleaned_up,
    events_and_autoscalers_are_served_in_every_version_upstream_serves,
);

fn version_and_discovery_describe_the_cluster(den: &Den, k: &Path) {
    let out = ok(den.kubectl(k, &["version", "-o", "json"]));
    let version: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(version["serverVersion"]["gitVersion"], "v1.33.0");
    assert_eq!(version["serverVersion"]["minor"], "33");

    let resources = ok(den.kubectl(k, &["api-resources"]));
    for line in [
        "configmaps",
        "cm",
        "deployments",
        "deploy",
        "apps/v1",
        "customresourcedefinitions",
        "leases",
    ] {
        assert!(
            resources.contains(line),
            "api-resources lacks {line}:\n{resources}"
        );
    }
    let pods = resources
        .lines()
        .find(|l| l.starts_with("pods "))
        .expect("pods row");
    let cols: Vec<&str> = pods.split_whitespace().collect();
    assert_eq!(cols, ["pods", "po", "v1", "true", "Pod"]);

    let versions = ok(den.kubectl(k, &["api-versions"]));
    for gv in [
        "v1",
        "apps/v1",
        "batch/v1",
        "rbac.authorization.k8s.io/v1",
        "apiextensions.k8s.io/v1",
    ] {
        assert!(
            versions.lines().any(|l| l == gv),
            "api-versions lacks {gv}:\n{versions}"
        );
    }
    let info = ok(den.kubectl(k, &["cluster-info"]));
    assert!(
        info.contains("Kubernetes control plane") && info.contains(&den.url),
        "{info}"
    );

    let all = ok(den.kubectl(k, &["get", "all", "-A"]));
    assert!(all.contains("service/kubernetes"), "{all}");
}

fn namespaces_are_created_described_and_deleted_with_their_content(den: &Den, k: &Path) {
    assert_eq!(
        ok(den.kubectl(k, &["create", "namespace", "team-a"])),
        "namespace/team-a created\n"
    );
    let table = ok(den.kubectl(k, &["get", "ns"]));
    let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["NAME", "STATUS", "AGE"]);
    for ns in [
        "default",
        "kube-system",
        "kube-public",
        "kube-node-lease",
        "team-a",
    ] {
        assert!(
            table
                .lines()
                .any(|l| l.starts_with(ns) && l.contains("Active")),
            "{table}"
        );
    }
    let described = ok(den.kubectl(k, &["describe", "ns", "team-a"]));
    assert!(
        described.contains("Name:") && described.contains("team-a") && described.contains("Active"),
        "{described}"
    );
    ok(den.kubectl(
        k,
        &[
            "create",
            "configmap",
            "inside",
            "-n",
            "team-a",
            "--from-literal=a=b",
        ],
    ));

    // The namespace controller empties the namespace, then lets it go; kubectl waits.
    let deleted = ok(den.kubectl(k, &["delete", "namespace", "team-a", "--timeout=60s"]));
    assert_eq!(deleted, "namespace \"team-a\" deleted\n");
    let err = fails(den.kubectl(k, &["get", "ns", "team-a"]));
    assert!(
        err.contains("Error from server (NotFound): namespaces \"team-a\" not found"),
        "{err}"
    );
}

const CONFIGMAP_YAML: &str = "apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  labels:
    app: demo
data:
  mode: fast
  size: \"3\"
";

fn configmaps_from_files_and_generators_print_in_every_output_format(den: &Den, k: &Path) {
    let file = write_file(den, "cm.yaml", CONFIGMAP_YAML);
    assert_eq!(
        ok(den.kubectl(k, &["create", "-f", &file])),
        "configmap/settings created\n"
    );
    assert_eq!(
        ok(den.kubectl(
            k,
            &["create", "configmap", "generated", "--from-literal=k=v"]
        )),
        "configmap/generated created\n"
    );

    let yaml = ok(den.kubectl(k, &["get", "cm", "settings", "-o", "yaml"]));
    for needle in [
        "kind: ConfigMap",
        "name: settings",
        "namespace: default",
        "mode: fast",
        "uid:",
        "resourceVersion:",
        "creationTimestamp:",
    ] {
        assert!(yaml.contains(needle), "-o yaml lacks {needle}:\n{yaml}");
    }
    let json: serde_json::Value = serde_json::from_str(&ok(
        den.kubectl(k, &["get", "cm", "generated", "-o", "json"])
    ))
    .unwrap();
    assert_eq!(json["data"]["k"], "v");
    assert_eq!(json["metadata"]["namespace"], "default");

    assert_eq!(
        ok(den.kubectl(k, &["get", "cm", "settings", "-o", "name"])),
        "configmap/settings\n"
    );
    assert_eq!(
        ok(den.kubectl(k, &["get", "cm", "settings", "-o", "jsonpath={.data.mode}"])),
        "fast"
    );
    let custom = ok(den.kubectl(
        k,
        &[
            "get",
            "cm",
            "settings",
            "-o",
            "custom-columns=NAME:.metadata.name,MODE:.data.mode",
        ],
    ));
    let rows: Vec<Vec<&str>> = custom
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows, vec![vec!["NAME", "MODE"], vec!["settings", "fast"]]);

    let table = ok(den.kubectl(k, &["get", "configmaps"]));
    let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["NAME", "DATA", "AGE"]);
    let settings: Vec<&str> = table
        .lines()
        .find(|l| l.starts_with("settings"))
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(&settings[..2], ["settings", "2"]);
    let wide = ok(den.kubectl(k, &["get", "cm", "settings", "-o", "wide"]));
    assert!(wide.starts_with("NAME"), "{wide}");

    let described = ok(den.kubectl(k, &["describe", "configmap", "settings"]));
    assert!(
        described.contains("Name:") && described.contains("mode:") && described.contains("fast"),
        "{described}"
    );
    assert_eq!(
        ok(den.kubectl(k, &["delete", "cm", "settings"])),
        "configmap \"settings\" deleted\n"
    );
    fails(den.kubectl(k, &["get", "cm", "settings"]));
}

fn secrets_keep_their_type_and_data(den: &Den, k: &Path) {
    ok(den.kubectl(
        k,
        &[
            "create",
            "secret",
            "generic",
            "creds",
            "--from-literal=password=s3cret",
        ],
    ));
    ok(den.kubectl(
        k,
        &[
            "create",
            "secret",
            "docker-registry",
            "pull",
            "--docker-server=r.example",
            "--docker-username=u",
            "--docker-password=p",
        ],
    ));
    let table = ok(den.kubectl(k, &["get", "secrets"]));
    let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["NAME", "TYPE", "DATA", "AGE"]);
    let creds: Vec<&str> = table
        .lines()
        .find(|l| l.starts_with("creds"))
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(&creds[..3], ["creds", "Opaque", "1"]);
    assert!(table.contains("kubernetes.io/dockerconfigjson"), "{table}");
    let password = ok(den.kubectl(
        k,
        &["get", "secret", "creds", "-o", "jsonpath={.data.password}"],
    ));
    assert_eq!(password, "czNjcmV0");
    let by_type = ok(den.kubectl(
        k,
        &[
            "get",
            "secrets",
            "--field-selector",
            "type=Opaque",
            "-o",
            "name",
        ],
    ));
    assert_eq!(by_type, "secret/creds\n");
}

fn labels_annotations_and_merge_patches_change_objects(den: &Den, k: &Path) {
    ok(den.kubectl(k, &["create", "configmap", "target", "--from-literal=a=1"]));
    assert_eq!(
        ok(den.kubectl(k, &["label", "cm", "target", "tier=web"])),
        "configmap/target labeled\n"
    );
    let err = fails(den.kubectl(k, &["label", "cm", "target", "tier=db"]));
    assert!(
        err.contains("'tier' already has a value (web), and --overwrite is false"),
        "{err}"
    );
    ok(den.kubectl(k, &["label", "cm", "target", "tier=db", "--overwrite"]));
    // kubectl 1.27 prints "annotate", later ones "annotated": the server's part is the same.
    let annotated = ok(den.kubectl(k, &["annotate", "cm", "target", "owner=me"]));
    assert!(
        annotated.starts_with("configmap/target annotate"),
        "{annotated}"
    );
    assert_eq!(
        ok(den.kubectl(
            k,
            &[
                "patch",
                "cm",
                "target",
                "--type",
                "merge",
                "-p",
                r#"{"data":{"b":"2","a":null}}"#
            ]
        )),
        "configmap/target patched\n"
    );
    let obj: serde_json::Value =
        serde_json::from_str(&ok(den.kubectl(k, &["get", "cm", "target", "-o", "json"]))).unwrap();
    assert_eq!(obj["metadata"]["labels"]["tier"], "db");
    assert_eq!(obj["metadata"]["annotations"]["owner"], "me");
    assert_eq!(obj["data"], serde_json::json!({"b": "2"}));
    ok(den.kubectl(k, &["label", "cm", "target", "tier-"]));
    let labels = ok(den.kubectl(
        k,
        &["get", "cm", "target", "-o", "jsonpath={.metadata.labels}"],
    ));
    assert!(!labels.contains("tier"), "{labels}");
}

const POD_YAML: &str = "apiVersion: v1
kind: Pod
metadata:
  name: web-0
  labels:
    app: web
spec:
  containers:
  - name: nginx
    image: nginx:1.27
    ports:
    - containerPort: 80
";

fn pods_and_services_are_created_from_files(den: &Den, k: &Path) {
    let pod = write_file(den, "pod.yaml", POD_YAML);
    assert_eq!(
        ok(den.kubectl(k, &["create", "-f", &pod])),
        "pod/web-0 created\n"
    );
    let table = ok(den.kubectl(k, &["get", "pods"]));
    let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]);
    let row: Vec<&str> = table.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(&row[..4], ["web-0", "0/1", "Pending", "0"]);
    let wide = ok(den.kubectl(k, &["get", "pods", "-o", "wide"]));
    assert!(
        wide.lines().next().unwrap().contains("NOMINATED NODE"),
        "{wide}"
    );

    assert_eq!(
        ok(den.kubectl(
            k,
            &["create", "service", "clusterip", "web", "--tcp=80:8080"]
        )),
        "service/web created\n"
    );
    let svc = ok(den.kubectl(k, &["get", "svc", "web"]));
    let row: Vec<&str> = svc.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(row[0], "web");
    assert_eq!(row[1], "ClusterIP");
    assert!(row[2].starts_with("10."), "{svc}");
    assert_eq!(row[4], "80/TCP");
    let ip = ok(den.kubectl(
        k,
        &[
            "get",
            "svc",
            "kubernetes",
            "-o",
            "jsonpath={.spec.clusterIP}",
        ],
    ));
    assert_eq!(ip, "10.96.0.1");
    let slice = ok(den.kubectl(
        k,
        &[
            "get",
            "endpointslices",
            "kubernetes",
            "-o",
            "jsonpath={.endpoints[0].addresses[0]}",
        ],
    ));
    assert_eq!(slice, "127.0.0.1");

    assert_eq!(
        ok(den.kubectl(k, &["delete", "pod", "web-0"])),
        "pod \"web-0\" deleted\n"
    );
    assert_eq!(
        ok(den.kubectl(k, &["delete", "-f", &pod, "--ignore-not-found"])),
        ""
    );
    ok(den.kubectl(k, &["delete", "svc", "web"]));
}

fn deployments_are_created_scaled_and_listed_wide(den: &Den, k: &Path) {
    assert_eq!(
        ok(den.kubectl(
            k,
            &[
                "create",
                "deployment",
                "web",
                "--image=nginx:1.27",
                "--replicas=2"
            ]
        )),
        "deployment.apps/web created\n"
    );
    let obj: serde_json::Value =
        serde_json::from_str(&ok(den.kubectl(k, &["get", "deploy", "web", "-o", "json"]))).unwrap();
    assert_eq!(obj["spec"]["replicas"], 2);
    assert_eq!(obj["metadata"]["generation"], 1);
    assert_eq!(obj["spec"]["selector"]["matchLabels"]["app"], "web");

    assert_eq!(
        ok(den.kubectl(k, &["scale", "deployment", "web", "--replicas=5"])),
        "deployment.apps/web scaled\n"
    );
    let replicas = ok(den.kubectl(
        k,
        &[
            "get",
            "deploy",
            "web",
            "-o",
            "jsonpath={.spec.replicas} {.metadata.generation}",
        ],
    ));
    assert_eq!(replicas, "5 2");

    let wide = ok(den.kubectl(k, &["get", "deployments", "-o", "wide"]));
    let header: Vec<&str> = wide.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        [
            "NAME",
            "READY",
            "UP-TO-DATE",
            "AVAILABLE",
            "AGE",
            "CONTAINERS",
            "IMAGES",
            "SELECTOR"
        ]
    );
    let row: Vec<&str> = wide.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(row[0], "web");
    assert_eq!(row[1], "0/5");
    assert_eq!(&row[5..], ["nginx", "nginx:1.27", "app=web"]);
    ok(den.kubectl(k, &["delete", "deployment", "web"]));
}

fn selectors_filter_lists(den: &Den, k: &Path) {
    for (name, tier) in [("a", "web"), ("b", "web"), ("c", "db")] {
        ok(den.kubectl(k, &["create", "configmap", name]));
        ok(den.kubectl(k, &["label", "cm", name, &format!("tier={tier}")]));
    }
    assert_eq!(
        ok(den.kubectl(k, &["get", "cm", "-l", "tier=web", "-o", "name"])),
        "configmap/a\nconfigmap/b\n"
    );
    assert_eq!(
        ok(den.kubectl(k, &["get", "cm", "-l", "tier in (db)", "-o", "name"])),
        "configmap/c\n"
    );
    assert_eq!(
        ok(den.kubectl(k, &["get", "cm", "-l", "tier!=web,tier", "-o", "name"])),
        "configmap/c\n"
    );
    assert_eq!(
        ok(den.kubectl(
            k,
            &[
                "get",
                "cm",
                "--field-selector",
                "metadata.name=b",
                "-o",
                "name"
            ]
        )),
        "configmap/b\n"
    );
    let all_ns = ok(den.kubectl(
        k,
        &[
            "get",
            "ns",
            "--field-selector",
            "status.phase=Active",
            "-o",
            "name",
        ],
    ));
    assert!(all_ns.contains("namespace/kube-system"), "{all_ns}");
    let err = fails(den.kubectl(k, &["get", "cm", "--field-selector", "data.x=1"]));
    assert!(err.contains("field label not supported: data.x"), "{err}");
}

fn get_watch_sees_a_concurrent_update(den: &Den, k: &Path) {
    ok(den.kubectl(k, &["create", "configmap", "watched", "--from-literal=v=1"]));
    let mut watch = std::process::Command::new(k)
        .args([
            "get",
            "cm",
            "watched",
            "-w",
            "-o",
            "jsonpath={.data.v}{\"\\n\"}",
        ])
        .env("KUBECONFIG", &den.kubeconfig)
        .env("HOME", den.dir.path())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout_pipe = watch.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout_pipe)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    assert_eq!(rx.recv_timeout(Duration::from_secs(20)).unwrap(), "1");
    ok(den.kubectl(
        k,
        &[
            "patch",
            "cm",
            "watched",
            "--type",
            "merge",
            "-p",
            r#"{"data":{"v":"2"}}"#,
        ],
    ));
    assert_eq!(rx.recv_timeout(Duration::from_secs(20)).unwrap(), "2");
    let _ = watch.kill();
    let _ = watch.wait();
}

fn wait_for_jsonpath_and_for_delete(den: &Den, k: &Path) {
    ok(den.kubectl(
        k,
        &["create", "configmap", "flag", "--from-literal=ready=no"],
    ));
    let waiter = std::process::Command::new(k)
        .args([
            "wait",
            "cm/flag",
            "--for=jsonpath={.data.ready}=yes",
            "--timeout=30s",
        ])
        .env("KUBECONFIG", &den.kubeconfig)
        .env("HOME", den.dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    ok(den.kubectl(
        k,
        &[
            "patch",
            "cm",
            "flag",
            "--type",
            "merge",
            "-p",
            r#"{"data":{"ready":"yes"}}"#,
        ],
    ));
    let out = waiter.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert_eq!(stdout(&out), "configmap/flag condition met\n");

    let waiter = std::process::Command::new(k)
        .args(["wait", "cm/flag", "--for=delete", "--timeout=30s"])
        .env("KUBECONFIG", &den.kubeconfig)
        .env("HOME", den.dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    ok(den.kubectl(k, &["delete", "cm", "flag", "--wait=false"]));
    let out = waiter.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert_eq!(stdout(&out), "configmap/flag condition met\n");
}

fn chunked_lists_return_every_object(den: &Den, k: &Path) {
    let mut list = String::from("apiVersion: v1\nkind: List\nitems:\n");
    for i in 0..1200 {
        list.push_str(&format!("- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: item-{i:04}\n  data:\n    i: \"{i}\"\n"));
    }
    let file = write_file(den, "many.yaml", &list);
    let started = Instant::now();
    ok(den.kubectl(k, &["create", "-f", &file, "-o", "name"]));
    eprintln!("created 1200 configmaps in {:?}", started.elapsed());
    let names = ok(den.kubectl(k, &["get", "cm", "--chunk-size=100", "-o", "name"]));
    let items: Vec<&str> = names
        .lines()
        .filter(|l| l.starts_with("configmap/item-"))
        .collect();
    assert_eq!(items.len(), 1200);
    let mut sorted = items.clone();
    sorted.dedup();
    assert_eq!(sorted.len(), 1200, "no duplicates across pages");
    let table = ok(den.kubectl(k, &["get", "cm", "--chunk-size=100"]));
    assert_eq!(
        table.lines().filter(|l| l.starts_with("item-")).count(),
        1200
    );
}

fn delete_all_empties_a_namespace(den: &Den, k: &Path) {
    ok(den.kubectl(k, &["create", "namespace", "scratch"]));
    for name in ["one", "two", "three"] {
        ok(den.kubectl(k, &["create", "configmap", name, "-n", "scratch"]));
    }
    let out = ok(den.kubectl(k, &["delete", "configmaps", "--all", "-n", "scratch"]));
    for name in ["one", "two", "three"] {
        assert!(
            out.contains(&format!("configmap \"{name}\" deleted")),
            "{out}"
        );
    }
    // Only the root CA bundle, which its controller recreates at once, may be left.
    let left = ok(den.kubectl(k, &["get", "cm", "-n", "scratch", "-o", "name"]));
    assert!(
        left.lines().all(|l| l == "configmap/kube-root-ca.crt"),
        "{left}"
    );
}

fn errors_match_upstream_wording(den: &Den, k: &Path) {
    ok(den.kubectl(k, &["create", "configmap", "dup"]));
    let err = fails(den.kubectl(k, &["create", "configmap", "dup"]));
    assert_eq!(
        err.trim(),
        "error: failed to create configmap: configmaps \"dup\" already exists"
    );
    let dup = write_file(
        den,
        "dup.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: dup\n",
    );
    let err = fails(den.kubectl(k, &["create", "-f", &dup]));
    assert!(
        err.contains("Error from server (AlreadyExists): error when creating"),
        "{err}"
    );
    assert!(err.contains("configmaps \"dup\" already exists"), "{err}");

    let err = fails(den.kubectl(k, &["get", "configmap", "missing"]));
    assert_eq!(
        err.trim(),
        "Error from server (NotFound): configmaps \"missing\" not found"
    );

    // kubectl looks the namespace up after a 404 and names it when it is the missing part.
    let err = fails(den.kubectl(k, &["get", "configmap", "x", "-n", "nope"]));
    assert_eq!(
        err.trim(),
        "Error from server (NotFound): namespaces \"nope\" not found"
    );
    let err = fails(den.kubectl(k, &["create", "configmap", "x", "-n", "nope"]));
    assert!(err.contains("namespaces \"nope\" not found"), "{err}");

    let bad = write_file(
        den,
        "bad.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Bad_Name\n",
    );
    let err = fails(den.kubectl(k, &["create", "-f", &bad]));
    assert!(
        err.contains(
            "The ConfigMap \"Bad_Name\" is invalid: metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
        ),
        "{err}"
    );
    let err = fails(den.kubectl(k, &["delete", "configmap", "missing"]));
    assert_eq!(
        err.trim(),
        "Error from server (NotFound): configmaps \"missing\" not found"
    );
    let err = fails(den.kubectl(k, &["get", "widgets"]));
    assert!(
        err.contains("the server doesn't have a resource type \"widgets\""),
        "{err}"
    );
}

fn explain_prints_upstream_descriptions(den: &Den, k: &Path) {
    let out = ok(den.kubectl(k, &["explain", "pod.spec.containers.livenessProbe"]));
    assert!(out.contains("KIND:") && out.contains("Pod"), "{out}");
    assert!(
        out.contains("Periodic probe of container liveness"),
        "{out}"
    );
    let out = ok(den.kubectl(k, &["explain", "deployment.spec.replicas"]));
    assert!(out.contains("Number of desired pods"), "{out}");
}

/// Polls `kubectl args` until it succeeds, for state that controllers create.
fn eventually(den: &Den, k: &Path, args: &[&str]) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = den.kubectl(k, args);
        if out.status.success() {
            return stdout(&out);
        }
        assert!(
            Instant::now() < deadline,
            "never succeeded: kubectl {args:?}: {}",
            common::stderr(&out)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn new_namespaces_get_a_default_service_account_and_the_root_ca(den: &Den, k: &Path) {
    ok(den.kubectl(k, &["create", "namespace", "fresh"]));
    assert_eq!(
        eventually(
            den,
            k,
            &["get", "sa", "default", "-n", "fresh", "-o", "name"]
        ),
        "serviceaccount/default\n"
    );
    let ca = eventually(
        den,
        k,
        &[
            "get",
            "cm",
            "kube-root-ca.crt",
            "-n",
            "fresh",
            "-o",
            "jsonpath={.data.ca\\.crt}",
        ],
    );
    let expected = std::fs::read_to_string(den.dir.path().join("pki/ca.crt")).unwrap();
    assert_eq!(ca.trim(), expected.trim());
    ok(den.kubectl(k, &["delete", "sa", "default", "-n", "fresh"]));
    eventually(den, k, &["get", "sa", "default", "-n", "fresh"]);
}

const APP_YAML: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
spec:
  replicas: 1
  selector:
    matchLabels: {app: app}
  template:
    metadata:
      labels: {app: app}
    spec:
      containers:
      - name: main
        image: busybox:1.36
        env:
        - {name: A, value: \"1\"}
        - {name: B, value: \"2\"}
        ports:
        - {containerPort: 80}
      - name: side
        image: nginx:1.27
";

fn client_side_apply_set_image_rollout_restart_and_diff_patch_strategically(den: &Den, k: &Path) {
    let file = write_file(den, "app.yaml", APP_YAML);
    assert_eq!(
        ok(den.kubectl(k, &["apply", "-f", &file])),
        "deployment.apps/app created\n"
    );
    // Change one container's image, drop an env var: merged by name, the other container kept.
    let changed = APP_YAML
        .replace("busybox:1.36", "busybox:1.37")
        .replace("        - {name: B, value: \"2\"}\n", "");
    let file = write_file(den, "app.yaml", &changed);
    assert_eq!(
        ok(den.kubectl(k, &["apply", "-f", &file])),
        "deployment.apps/app configured\n"
    );
    let get = |path: &str| {
        ok(den.kubectl(
            k,
            &["get", "deploy", "app", "-o", &format!("jsonpath={path}")],
        ))
    };
    assert_eq!(
        get("{.spec.template.spec.containers[*].image}"),
        "busybox:1.37 nginx:1.27"
    );
    assert_eq!(get("{.spec.template.spec.containers[0].env[*].name}"), "A");
    assert_eq!(
        get("{.spec.template.spec.containers[0].ports[0].containerPort}"),
        "80"
    );
    assert_eq!(
        ok(den.kubectl(k, &["apply", "-f", &file])),
        "deployment.apps/app unchanged\n"
    );

    assert_eq!(
        ok(den.kubectl(k, &["set", "image", "deploy/app", "side=nginx:1.28"])),
        "deployment.apps/app image updated\n"
    );
    assert_eq!(
        get("{.spec.template.spec.containers[*].image}"),
        "busybox:1.37 nginx:1.28"
    );
    assert_eq!(
        ok(den.kubectl(k, &["rollout", "restart", "deploy/app"])),
        "deployment.apps/app restarted\n"
    );
    assert!(
        get("{.spec.template.metadata.annotations}").contains("kubectl.kubernetes.io/restartedAt")
    );

    // diff shows the change a server-side dry run computes, and persists nothing.
    let generation = get("{.metadata.generation}");
    let out = den.kubectl(k, &["diff", "-f", &file]);
    assert_eq!(out.status.code(), Some(1), "{}", common::stderr(&out));
    let diff = stdout(&out);
    assert!(
        diff.contains("-      - image: nginx:1.28") && diff.contains("+      - image: nginx:1.27"),
        "{diff}"
    );
    let changed_revision = diff
        .lines()
        .any(|l| (l.starts_with('-') || l.starts_with('+')) && l.contains("resourceVersion"));
    assert!(!changed_revision, "a dry run keeps the revision:\n{diff}");
    assert_eq!(get("{.metadata.generation}"), generation);
    assert_eq!(
        get("{.spec.template.spec.containers[1].image}"),
        "nginx:1.28"
    );
}

const WIDGET_CRD: &str = "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names:
    plural: widgets
    singular: widget
    kind: Widget
    shortNames: [wd]
  versions:
  - name: v1
    served: true
    storage: true
    subresources:
      status: {}
      scale:
        specReplicasPath: .spec.replicas
        statusReplicasPath: .status.replicas
    additionalPrinterColumns:
    - {name: Color, type: string, jsonPath: .spec.color}
    - {name: Replicas, type: integer, jsonPath: .spec.replicas}
    - {name: Age, type: date, jsonPath: .metadata.creationTimestamp}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            x-kubernetes-validations:
            - rule: \"!has(self.replicas) || self.replicas <= 5 || self.color == 'blue'\"
              message: big widgets must be blue
            properties:
              color: {type: string, enum: [red, blue], default: red, description: The colour a widget is painted.}
              replicas: {type: integer, maximum: 10}
          status:
            type: object
            properties:
              replicas: {type: integer}
  - name: v1beta1
    served: true
    storage: false
    deprecated: true
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
";

fn custom_resources_are_served_validated_defaulted_scaled_and_cleaned_up(den: &Den, k: &Path) {
    let crd = write_file(den, "crd.yaml", WIDGET_CRD);
    ok(den.kubectl(k, &["apply", "-f", &crd]));
    ok(den.kubectl(
        k,
        &[
            "wait",
            "--for",
            "condition=established",
            "crd/widgets.example.com",
            "--timeout=20s",
        ],
    ));
    let resources = eventually(den, k, &["api-resources", "--api-group=example.com"]);
    assert!(
        resources
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>()
                == ["widgets", "wd", "example.com/v1", "true", "Widget"]),
        "{resources}"
    );

    let widget = write_file(
        den,
        "w.yaml",
        "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w1\nspec:\n  replicas: 2\n  extra: 1\n",
    );
    let err = fails(den.kubectl(k, &["apply", "-f", &widget]));
    assert!(
        err.contains("strict decoding error: unknown field \"spec.extra\""),
        "{err}"
    );
    ok(den.kubectl(k, &["apply", "-f", &widget, "--validate=false"]));
    let obj: serde_json::Value =
        serde_json::from_str(&ok(den.kubectl(k, &["get", "widget", "w1", "-o", "json"]))).unwrap();
    assert_eq!(
        obj["spec"],
        serde_json::json!({"color": "red", "replicas": 2}),
        "pruned and defaulted"
    );
    assert_eq!(obj["metadata"]["generation"], 1);

    let table = ok(den.kubectl(k, &["get", "wd"]));
    let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["NAME", "COLOR", "REPLICAS", "AGE"]);
    let row: Vec<&str> = table.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(&row[..3], ["w1", "red", "2"]);

    assert_eq!(
        ok(den.kubectl(k, &["scale", "widget", "w1", "--replicas=4"])),
        "widget.example.com/w1 scaled\n"
    );
    // The CRD's schema is published: explain prints its descriptions.
    let explained = eventually(den, k, &["explain", "widget.spec.color"]);
    assert!(
        explained.contains("The colour a widget is painted."),
        "{explained}"
    );
    assert_eq!(
        ok(den.kubectl(k, &["get", "wd", "w1", "-o", "jsonpath={.spec.replicas}"])),
        "4"
    );

    let err = fails(den.kubectl(
        k,
        &[
            "patch",
            "wd",
            "w1",
            "--type",
            "merge",
            "-p",
            r#"{"spec":{"replicas":20}}"#,
        ],
    ));
    assert!(err.contains("The Widget \"w1\" is invalid: spec.replicas: Invalid value: 20: spec.replicas in body should be less than or equal to 10"), "{err}");
    let err = fails(den.kubectl(
        k,
        &[
            "patch",
            "wd",
            "w1",
            "--type",
            "merge",
            "-p",
            r#"{"spec":{"color":"green"}}"#,
        ],
    ));
    assert!(
        err.contains(
            "spec.color: Unsupported value: \"green\": supported values: \"red\", \"blue\""
        ),
        "{err}"
    );
    // A CEL rule on spec, with its message.
    let big = r#"{"spec":{"replicas":8}}"#;
    let err = fails(den.kubectl(k, &["patch", "wd", "w1", "--type", "merge", "-p", big]));
    let cel =
        "The Widget \"w1\" is invalid: spec: Invalid value: \"object\": big widgets must be blue";
    assert!(err.contains(cel), "{err}");
    let big_blue = r#"{"spec":{"replicas":8,"color":"blue"}}"#;
    ok(den.kubectl(k, &["patch", "wd", "w1", "--type", "merge", "-p", big_blue]));
    let err = fails(den.kubectl(
        k,
        &[
            "patch",
            "wd",
            "w1",
            "--type",
            "strategic",
            "-p",
            r#"{"spec":{"color":"blue"}}"#,
        ],
    ));
    assert!(
        err.contains("UnsupportedMediaType") || err.contains("unknown format"),
        "{err}"
    );

    // The second version serves the same object, converted by apiVersion, with a warning.
    let out = den.kubectl(
        k,
        &[
            "get",
            "widgets.v1beta1.example.com",
            "w1",
            "-o",
            "jsonpath={.apiVersion}",
        ],
    );
    assert_eq!(stdout(&out), "example.com/v1beta1");
    assert!(
        common::stderr(&out).contains("example.com/v1beta1 Widget is deprecated"),
        "{}",
        common::stderr(&out)
    );

    assert_eq!(
        ok(den.kubectl(k, &["delete", "crd", "widgets.example.com"])),
        "customresourcedefinition.apiextensions.k8s.io \"widgets.example.com\" deleted\n"
    );
    let err = fails(den.kubectl(k, &["get", "crd", "widgets.example.com"]));
    assert!(err.contains("not found"), "{err}");
    let err = fails(den.kubectl(k, &["get", "widgets.example.com"]));
    assert!(
        err.contains("the server doesn't have a resource type")
            || err.contains("could not find the requested resource"),
        "{err}"
    );
}

fn events_and_autoscalers_are_served_in_every_version_upstream_serves(den: &Den, k: &Path) {
    let event = write_file(
        den,
        "event.yaml",
        "apiVersion: events.k8s.io/v1
kind: Event
metadata: {name: ev1}
eventTime: \"2026-11-27T08:00:00.000000Z\"
reportingController: den.test/ctl
reportingInstance: x
action: Testing
reason: Tested
type: Normal
note: hello there
regarding: {kind: ConfigMap, name: c, namespace: default, apiVersion: v1}
",
    );
    assert_eq!(
        ok(den.kubectl(k, &["create", "-f", &event])),
        "event.events.k8s.io/ev1 created\n"
    );
    // One object, two versions: core/v1 names the fields differently.
    let core = ok(den.kubectl(
        k,
        &[
            "get",
            "events.v1.",
            "ev1",
            "-o",
            "jsonpath={.message}/{.involvedObject.name}/{.reportingComponent}",
        ],
    ));
    assert_eq!(core, "hello there/c/den.test/ctl");
    let v1 = ok(den.kubectl(
        k,
        &[
            "get",
            "events.v1.events.k8s.io",
            "ev1",
            "-o",
            "jsonpath={.note}/{.regarding.name}",
        ],
    ));
    assert_eq!(v1, "hello there/c");
    let described = ok(den.kubectl(
        k,
        &[
            "get",
            "events",
            "--field-selector",
            "involvedObject.name=c",
            "-o",
            "name",
        ],
    ));
    assert_eq!(described.trim(), "event/ev1");

    ok(den.kubectl(k, &["create", "deployment", "scaled", "--image=nginx"]));
    ok(den.kubectl(
        k,
        &[
            "autoscale",
            "deployment",
            "scaled",
            "--max=5",
            "--cpu-percent=60",
        ],
    ));
    let v2 = ok(den.kubectl(k, &["get", "hpa", "scaled", "-o", "jsonpath={.apiVersion} {.spec.minReplicas} {.spec.metrics[0].resource.target.averageUtilization}"]));
    assert_eq!(v2, "autoscaling/v2 1 60");
    let v1 = ok(den.kubectl(
        k,
        &[
            "get",
            "horizontalpodautoscalers.v1.autoscaling",
            "scaled",
            "-o",
            "jsonpath={.apiVersion} {.spec.targetCPUUtilizationPercentage}",
        ],
    ));
    assert_eq!(v1, "autoscaling/v1 60");
}
