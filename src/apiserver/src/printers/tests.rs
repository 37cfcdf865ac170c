use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Value, json};

use super::*;

fn now() -> DateTime<Utc> {
    "2026-01-01T00:00:00Z".parse().unwrap()
}

/// An RFC 3339 timestamp `ago` before [`now`].
fn ts(ago: TimeDelta) -> String {
    (now() - ago).to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn cells(group: &str, plural: &str, obj: &Value) -> Vec<Value> {
    let row = row_cells(group, plural, obj, now());
    assert_eq!(
        row.len(),
        column_definitions(group, plural).len(),
        "row length for {group}/{plural}"
    );
    row
}

/// The cell of the column named `column`.
fn cell(group: &str, plural: &str, obj: &Value, column: &str) -> Value {
    let cols = column_definitions(group, plural);
    let i = cols
        .iter()
        .position(|c| c.name == column)
        .unwrap_or_else(|| panic!("no column {column}"));
    cells(group, plural, obj)[i].clone()
}

fn pod(spec: Value, status: Value) -> Value {
    json!({
        "metadata": {"name": "web", "namespace": "default", "creationTimestamp": ts(TimeDelta::minutes(30))},
        "spec": spec,
        "status": status,
    })
}

#[test]
fn age_formats_each_boundary_like_human_duration() {
    let cases: &[(i64, &str)] = &[
        (-5, "<invalid>"),
        (-2, "<invalid>"),
        (-1, "0s"),
        (0, "0s"),
        (5, "5s"),
        (59, "59s"),
        (119, "119s"),
        (120, "2m"),
        (121, "2m1s"),
        (3 * 60 + 2, "3m2s"),
        (9 * 60 + 59, "9m59s"),
        (10 * 60, "10m"),
        (10 * 60 + 30, "10m"),
        (179 * 60 + 59, "179m"),
        (3 * 3600, "3h"),
        (3 * 3600 + 60, "3h1m"),
        (7 * 3600 + 59 * 60, "7h59m"),
        (8 * 3600, "8h"),
        (10 * 3600, "10h"),
        (47 * 3600 + 59 * 60, "47h"),
        (48 * 3600, "2d"),
        (51 * 3600, "2d3h"),
        (7 * 86400 + 23 * 3600, "7d23h"),
        (8 * 86400, "8d"),
        (729 * 86400, "729d"),
        (730 * 86400, "2y"),
        (735 * 86400, "2y5d"),
        (4 * 365 * 86400, "4y"),
        (8 * 365 * 86400, "8y"),
        (20 * 365 * 86400 + 100 * 86400, "20y"),
    ];
    for (secs, want) in cases {
        assert_eq!(
            age(Some(&ts(TimeDelta::seconds(*secs))), now()),
            *want,
            "{secs}s"
        );
    }
}

#[test]
fn age_truncates_fractional_seconds_toward_zero() {
    assert_eq!(age(Some("2025-12-31T23:59:58.500Z"), now()), "1s");
    // 1.5s in the future is tolerated as clock skew.
    assert_eq!(age(Some("2026-01-01T00:00:01.500Z"), now()), "0s");
}

#[test]
fn age_of_missing_or_unparseable_timestamp_is_unknown() {
    assert_eq!(age(None, now()), "<unknown>");
    assert_eq!(age(Some(""), now()), "<unknown>");
    assert_eq!(age(Some("yesterday"), now()), "<unknown>");
}

#[test]
fn pod_columns_match_upstream_names_and_priorities() {
    let cols = column_definitions("", "pods");
    let names: Vec<_> = cols.iter().map(|c| (c.name, c.priority)).collect();
    assert_eq!(
        names,
        [
            ("Name", 0),
            ("Ready", 0),
            ("Status", 0),
            ("Restarts", 0),
            ("Age", 0),
            ("IP", 1),
            ("Node", 1),
            ("Nominated Node", 1),
            ("Readiness Gates", 1)
        ]
    );
    assert_eq!(cols[0].format, "name");
    assert!(
        cols[4]
            .description
            .starts_with("CreationTimestamp is a timestamp")
    );
}

#[test]
fn pod_running_and_ready_shows_counts_ip_and_node() {
    let p = pod(
        json!({"nodeName": "node-1", "containers": [{"name": "a"}, {"name": "b"}]}),
        json!({
            "phase": "Running",
            "podIP": "10.0.0.5",
            "podIPs": [{"ip": "10.0.0.5"}],
            "containerStatuses": [
                {"name": "a", "ready": true, "restartCount": 0, "state": {"running": {"startedAt": ts(TimeDelta::minutes(29))}}},
                {"name": "b", "ready": false, "restartCount": 0, "state": {"running": {"startedAt": ts(TimeDelta::minutes(29))}}},
            ],
        }),
    );
    assert_eq!(
        cells("", "pods", &p),
        [
            json!("web"),
            json!("1/2"),
            json!("Running"),
            json!("0"),
            json!("30m"),
            json!("10.0.0.5"),
            json!("node-1"),
            json!("<none>"),
            json!("<none>")
        ]
    );
}

#[test]
fn pod_pending_without_statuses_shows_pending_and_none_placeholders() {
    let p = pod(
        json!({"containers": [{"name": "a"}]}),
        json!({"phase": "Pending"}),
    );
    let row = cells("", "pods", &p);
    assert_eq!(row[1], json!("0/1"));
    assert_eq!(row[2], json!("Pending"));
    assert_eq!(row[3], json!("0"));
    assert_eq!(
        row[5..],
        [
            json!("<none>"),
            json!("<none>"),
            json!("<none>"),
            json!("<none>")
        ]
    );
}

#[test]
fn pod_status_shows_container_creating_from_waiting_reason() {
    let p = pod(
        json!({"containers": [{"name": "a"}]}),
        json!({"phase": "Pending", "containerStatuses": [
            {"name": "a", "ready": false, "restartCount": 0, "state": {"waiting": {"reason": "ContainerCreating"}}}
        ]}),
    );
    assert_eq!(cell("", "pods", &p, "Status"), json!("ContainerCreating"));
}

#[test]
fn pod_status_shows_crashloopbackoff_from_waiting_reason() {
    let p = pod(
        json!({"containers": [{"name": "a"}]}),
        json!({"phase": "Running", "containerStatuses": [{
            "name": "a", "ready": false, "restartCount": 3,
            "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off"}},
            "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": ts(TimeDelta::minutes(5))}},
        }]}),
    );
    let row = cells("", "pods", &p);
    assert_eq!(row[1], json!("0/1"));
    assert_eq!(row[2], json!("CrashLoopBackOff"));
    assert_eq!(row[3], json!("3 (5m ago)"));
}

#[test]
fn pod_restarts_use_latest_termination_across_containers() {
    let p = pod(
        json!({"containers": [{"name": "a"}, {"name": "b"}]}),
        json!({"phase": "Running", "containerStatuses": [
            {"name": "a", "ready": true, "restartCount": 1, "state": {"running": {}},
             "lastState": {"terminated": {"exitCode": 1, "finishedAt": ts(TimeDelta::hours(2))}}},
            {"name": "b", "ready": true, "restartCount": 2, "state": {"running": {}},
             "lastState": {"terminated": {"exitCode": 1, "finishedAt": ts(TimeDelta::seconds(90))}}},
        ]}),
    );
    assert_eq!(cell("", "pods", &p, "Restarts"), json!("3 (90s ago)"));
    assert_eq!(cell("", "pods", &p, "Ready"), json!("2/2"));
}

#[test]
fn pod_restarts_without_termination_time_are_a_bare_count() {
    let p = pod(
        json!({"containers": [{"name": "a"}]}),
        json!({"phase": "Running", "containerStatuses": [
            {"name": "a", "ready": true, "restartCount": 4, "state": {"running": {}}}
        ]}),
    );
    assert_eq!(cell("", "pods", &p, "Restarts"), json!("4"));
}

#[test]
fn pod_status_shows_completed_for_succeeded_pod() {
    let p = pod(
        json!({"containers": [{"name": "a"}]}),
        json!({"phase": "Succeeded", "containerStatuses": [
            {"name": "a", "ready": false, "restartCount": 0, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}
        ]}),
    );
    assert_eq!(cell("", "pods", &p, "Status"), json!("Completed"));
    assert_eq!(cell("", "pods", &p, "Ready"), json!("0/1"));
}

#[test]
fn pod_status_shows_exit_code_or_signal_when_terminated_without_reason() {
    let mk = |term: Value| {
        pod(
            json!({"containers": [{"name": "a"}]}),
            json!({"phase": "Failed", "containerStatuses": [
                {"name": "a", "ready": false, "restartCount": 0, "state": {"terminated": term}}
            ]}),
        )
    };
    assert_eq!(
        cell("", "pods", &mk(json!({"exitCode": 137})), "Status"),
        json!("ExitCode:137")
    );
    assert_eq!(
        cell(
            "",
            "pods",
            &mk(json!({"exitCode": 0, "signal": 9})),
            "Status"
        ),
        json!("Signal:9")
    );
}

#[test]
fn pod_completed_with_a_running_container_shows_running_or_not_ready() {
    let mk = |ready: &str| {
        pod(
            json!({"containers": [{"name": "a"}, {"name": "b"}]}),
            json!({"phase": "Running",
            "conditions": [{"type": "Ready", "status": ready}],
            "containerStatuses": [
                {"name": "a", "ready": false, "restartCount": 0, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
                {"name": "b", "ready": true, "restartCount": 0, "state": {"running": {}}},
            ]}),
        )
    };
    assert_eq!(cell("", "pods", &mk("True"), "Status"), json!("Running"));
    assert_eq!(cell("", "pods", &mk("False"), "Status"), json!("NotReady"));
}

#[test]
fn pod_status_shows_init_progress_while_init_containers_run() {
    let p = pod(
        json!({"initContainers": [{"name": "i1"}, {"name": "i2"}], "containers": [{"name": "a"}]}),
        json!({"phase": "Pending",
        "initContainerStatuses": [
            {"name": "i1", "ready": true, "restartCount": 0, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
            {"name": "i2", "ready": false, "restartCount": 0, "state": {"running": {}}},
        ],
        "containerStatuses": [
            {"name": "a", "ready": false, "restartCount": 0, "state": {"waiting": {"reason": "PodInitializing"}}}
        ]}),
    );
    assert_eq!(cell("", "pods", &p, "Status"), json!("Init:1/2"));
    assert_eq!(cell("", "pods", &p, "Ready"), json!("0/1"));
}

#[test]
fn pod_status_shows_init_zero_of_one_for_pod_initializing_wait() {
    let p = pod(
        json!({"initContainers": [{"name": "i1"}], "containers": [{"name": "a"}]}),
        json!({"phase": "Pending", "initContainerStatuses": [
            {"name": "i1", "ready": false, "restartCount": 0, "state": {"waiting": {"reason": "PodInitializing"}}}
        ]}),
    );
    assert_eq!(cell("", "pods", &p, "Status"), json!("Init:0/1"));
}

#[test]
fn pod_status_prefixes_init_container_failures() {
    let mk = |state: Value| {
        pod(
            json!({"initContainers": [{"name": "i1"}], "containers": [{"name": "a"}]}),
            json!({"phase": "Pending", "initContainerStatuses": [
                {"name": "i1", "ready": false, "restartCount": 2, "state": state,
                 "lastState": {"terminated": {"exitCode": 1, "finishedAt": ts(TimeDelta::seconds(20))}}}
            ]}),
        )
    };
    let crash = mk(json!({"waiting": {"reason": "CrashLoopBackOff"}}));
    assert_eq!(
        cell("", "pods", &crash, "Status"),
        json!("Init:CrashLoopBackOff")
    );
    assert_eq!(cell("", "pods", &crash, "Restarts"), json!("2 (20s ago)"));
    assert_eq!(
        cell(
            "",
            "pods",
            &mk(json!({"terminated": {"exitCode": 3}})),
            "Status"
        ),
        json!("Init:ExitCode:3")
    );
    assert_eq!(
        cell(
            "",
            "pods",
            &mk(json!({"terminated": {"exitCode": 1, "reason": "Error"}})),
            "Status"
        ),
        json!("Init:Error")
    );
    assert_eq!(
        cell(
            "",
            "pods",
            &mk(json!({"terminated": {"exitCode": 1, "signal": 15}})),
            "Status"
        ),
        json!("Init:Signal:15")
    );
}

#[test]
fn pod_sidecar_init_container_counts_toward_ready_and_total() {
    let p = pod(
        json!({"initContainers": [{"name": "side", "restartPolicy": "Always"}], "containers": [{"name": "a"}]}),
        json!({"phase": "Running",
            "conditions": [{"type": "Initialized", "status": "True"}, {"type": "Ready", "status": "True"}],
            "initContainerStatuses": [
                {"name": "side", "ready": true, "started": true, "restartCount": 1, "state": {"running": {}},
                 "lastState": {"terminated": {"exitCode": 1, "finishedAt": ts(TimeDelta::minutes(12))}}}
            ],
            "containerStatuses": [{"name": "a", "ready": true, "restartCount": 0, "state": {"running": {}}}]}),
    );
    let row = cells("", "pods", &p);
    assert_eq!(row[1], json!("2/2"));
    assert_eq!(row[2], json!("Running"));
    assert_eq!(row[3], json!("1 (12m ago)"));
}

#[test]
fn pod_status_shows_terminating_when_deletion_timestamp_set() {
    let mut p = pod(
        json!({"containers": [{"name": "a"}]}),
        json!({"phase": "Running", "containerStatuses": [
            {"name": "a", "ready": true, "restartCount": 0, "state": {"running": {}}}
        ]}),
    );
    p["metadata"]["deletionTimestamp"] = json!(ts(TimeDelta::seconds(3)));
    assert_eq!(cell("", "pods", &p, "Status"), json!("Terminating"));

    p["status"]["phase"] = json!("Succeeded");
    p["status"]["containerStatuses"][0]["state"] =
        json!({"terminated": {"exitCode": 0, "reason": "Completed"}});
    assert_eq!(cell("", "pods", &p, "Status"), json!("Completed"));

    p["status"]["reason"] = json!("NodeLost");
    assert_eq!(cell("", "pods", &p, "Status"), json!("Unknown"));
}

#[test]
fn pod_status_shows_scheduling_gated() {
    let p = pod(
        json!({"containers": [{"name": "a"}], "schedulingGates": [{"name": "g"}]}),
        json!({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]}),
    );
    assert_eq!(cell("", "pods", &p, "Status"), json!("SchedulingGated"));
}

#[test]
fn pod_status_reason_overrides_phase() {
    let p = pod(
        json!({"containers": [{"name": "a"}]}),
        json!({"phase": "Failed", "reason": "Evicted"}),
    );
    assert_eq!(cell("", "pods", &p, "Status"), json!("Evicted"));
}

#[test]
fn pod_readiness_gates_count_true_conditions() {
    let p = pod(
        json!({"containers": [{"name": "a"}], "readinessGates": [{"conditionType": "x/one"}, {"conditionType": "x/two"}]}),
        json!({"phase": "Running", "podIPs": [{"ip": "fd00::1"}], "nominatedNodeName": "n2",
            "conditions": [{"type": "x/one", "status": "True"}, {"type": "x/two", "status": "False"}]}),
    );
    let row = cells("", "pods", &p);
    assert_eq!(row[5], json!("fd00::1"));
    assert_eq!(row[7], json!("n2"));
    assert_eq!(row[8], json!("1/2"));
}

fn service(spec: Value, status: Value) -> Value {
    json!({"metadata": {"name": "svc", "creationTimestamp": ts(TimeDelta::days(3))}, "spec": spec, "status": status})
}

#[test]
fn service_cluster_ip_shows_none_external_ip_and_ports() {
    let s = service(
        json!({"type": "ClusterIP", "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"],
            "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}, {"port": 9153}],
            "selector": {"k8s-app": "kube-dns", "app": "dns"}}),
        json!({}),
    );
    assert_eq!(
        cells("", "services", &s),
        [
            json!("svc"),
            json!("ClusterIP"),
            json!("10.96.0.10"),
            json!("<none>"),
            json!("53/UDP,53/TCP,9153/TCP"),
            json!("3d"),
            json!("app=dns,k8s-app=kube-dns")
        ]
    );
}

#[test]
fn service_node_port_shows_port_and_node_port() {
    let s = service(
        json!({"type": "NodePort", "clusterIPs": ["10.96.1.1"], "externalIPs": ["1.2.3.4", "5.6.7.8"],
            "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}]}),
        json!({}),
    );
    assert_eq!(cell("", "services", &s, "Port(s)"), json!("80:30080/TCP"));
    assert_eq!(
        cell("", "services", &s, "External-IP"),
        json!("1.2.3.4,5.6.7.8")
    );
    assert_eq!(cell("", "services", &s, "Selector"), json!("<none>"));
}

#[test]
fn service_load_balancer_external_ip_is_pending_until_assigned() {
    let pending = service(
        json!({"type": "LoadBalancer", "clusterIPs": ["10.0.0.1"], "ports": []}),
        json!({}),
    );
    assert_eq!(
        cell("", "services", &pending, "External-IP"),
        json!("<pending>")
    );
    assert_eq!(cell("", "services", &pending, "Port(s)"), json!("<none>"));

    let assigned = service(
        json!({"type": "LoadBalancer", "clusterIPs": ["10.0.0.1"], "externalIPs": ["9.9.9.9"]}),
        json!({"loadBalancer": {"ingress": [{"ip": "203.0.113.7"}, {"hostname": "lb.example.com"}, {"ip": "203.0.113.7"}]}}),
    );
    assert_eq!(
        cell("", "services", &assigned, "External-IP"),
        json!("203.0.113.7,lb.example.com,9.9.9.9")
    );
}

#[test]
fn service_headless_and_external_name() {
    let headless = service(
        json!({"type": "ClusterIP", "clusterIP": "None", "clusterIPs": ["None"]}),
        json!({}),
    );
    assert_eq!(cell("", "services", &headless, "Cluster-IP"), json!("None"));
    let ext = service(
        json!({"type": "ExternalName", "externalName": "example.com"}),
        json!({}),
    );
    assert_eq!(cell("", "services", &ext, "Cluster-IP"), json!("<none>"));
    assert_eq!(
        cell("", "services", &ext, "External-IP"),
        json!("example.com")
    );
}

fn node(labels: Value, spec: Value, status: Value) -> Value {
    json!({"metadata": {"name": "n1", "labels": labels, "creationTimestamp": ts(TimeDelta::days(10))},
        "spec": spec, "status": status})
}

#[test]
fn node_shows_ready_scheduling_disabled_and_sorted_roles() {
    let n = node(
        json!({"node-role.kubernetes.io/control-plane": "", "node-role.kubernetes.io/etcd": "true",
            "node-role.kubernetes.io/": "", "kubernetes.io/role": "master", "kubernetes.io/hostname": "n1"}),
        json!({"unschedulable": true}),
        json!({
            "conditions": [{"type": "MemoryPressure", "status": "False"}, {"type": "Ready", "status": "True"}],
            "addresses": [{"type": "Hostname", "address": "n1"}, {"type": "InternalIP", "address": "192.168.1.10"}],
            "nodeInfo": {"kubeletVersion": "v1.33.0", "osImage": "Debian GNU/Linux 12", "kernelVersion": "6.1.0",
                "containerRuntimeVersion": "containerd://1.7.0"},
        }),
    );
    assert_eq!(
        cells("", "nodes", &n),
        [
            json!("n1"),
            json!("Ready,SchedulingDisabled"),
            json!("control-plane,etcd,master"),
            json!("10d"),
            json!("v1.33.0"),
            json!("192.168.1.10"),
            json!("<none>"),
            json!("Debian GNU/Linux 12"),
            json!("6.1.0"),
            json!("containerd://1.7.0")
        ]
    );
}

#[test]
fn node_without_ready_condition_is_unknown_and_has_no_roles() {
    let n = node(json!({}), json!({}), json!({}));
    let row = cells("", "nodes", &n);
    assert_eq!(row[1], json!("Unknown"));
    assert_eq!(row[2], json!("<none>"));
    assert_eq!(
        row[7..],
        [json!("<unknown>"), json!("<unknown>"), json!("<unknown>")]
    );
}

#[test]
fn node_not_ready_condition_prints_not_ready() {
    let n = node(
        json!({}),
        json!({}),
        json!({"conditions": [{"type": "Ready", "status": "Unknown"}]}),
    );
    assert_eq!(cell("", "nodes", &n, "Status"), json!("NotReady"));
}

#[test]
fn deployment_shows_ready_up_to_date_available_and_wide_cells() {
    let d = json!({
        "metadata": {"name": "nginx", "creationTimestamp": ts(TimeDelta::seconds(45))},
        "spec": {"replicas": 3,
            "selector": {"matchLabels": {"app": "nginx"}, "matchExpressions": [{"key": "tier", "operator": "In", "values": ["web", "edge"]}]},
            "template": {"spec": {"containers": [{"name": "nginx", "image": "nginx:1.27"}, {"name": "log", "image": "busybox"}]}}},
        "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2},
    });
    assert_eq!(
        cells("apps", "deployments", &d),
        [
            json!("nginx"),
            json!("2/3"),
            json!(3),
            json!(2),
            json!("45s"),
            json!("nginx,log"),
            json!("nginx:1.27,busybox"),
            json!("app=nginx,tier in (edge,web)")
        ]
    );
}

#[test]
fn deployment_without_status_shows_zero_ready() {
    let d = json!({"metadata": {"name": "d"}, "spec": {"replicas": 0}});
    let row = cells("apps", "deployments", &d);
    assert_eq!(row[1], json!("0/0"));
    assert_eq!(row[2], json!(0));
    assert_eq!(row[4], json!("<unknown>"));
}

#[test]
fn replica_set_and_stateful_set_cells() {
    let rs = json!({"metadata": {"name": "rs"}, "spec": {"replicas": 2, "selector": {"matchExpressions": [{"key": "a", "operator": "DoesNotExist"}]}},
        "status": {"replicas": 2, "readyReplicas": 1}});
    let row = cells("apps", "replicasets", &rs);
    assert_eq!(row[1..4], [json!(2), json!(2), json!(1)]);
    assert_eq!(row[7], json!("!a"));
    let sts = json!({"metadata": {"name": "db"}, "spec": {"replicas": 3}, "status": {"readyReplicas": 3}});
    assert_eq!(cell("apps", "statefulsets", &sts, "Ready"), json!("3/3"));
}

#[test]
fn job_status_completions_and_duration() {
    let j = json!({"metadata": {"name": "pi", "creationTimestamp": ts(TimeDelta::minutes(5))},
        "spec": {"completions": 1, "parallelism": 1, "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "u"}}},
        "status": {"succeeded": 1, "startTime": ts(TimeDelta::minutes(5)), "completionTime": ts(TimeDelta::seconds(4 * 60 + 50)),
            "conditions": [{"type": "SuccessCriteriaMet", "status": "True"}, {"type": "Complete", "status": "True"}]}});
    let row = cells("batch", "jobs", &j);
    assert_eq!(
        row[1..5],
        [json!("Complete"), json!("1/1"), json!("10s"), json!("5m")]
    );
    let running = json!({"metadata": {"name": "r"}, "spec": {"parallelism": 3}, "status": {"startTime": ts(TimeDelta::seconds(30))}});
    let row = cells("batch", "jobs", &running);
    assert_eq!(
        row[1..4],
        [json!("Running"), json!("0/1 of 3"), json!("30s")]
    );
}

#[test]
fn cron_job_cells() {
    let c = json!({"metadata": {"name": "hello", "creationTimestamp": ts(TimeDelta::hours(1))},
        "spec": {"schedule": "*/1 * * * *", "suspend": false, "jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "h", "image": "busybox"}]}}}}},
        "status": {"active": [{"name": "hello-1"}], "lastScheduleTime": ts(TimeDelta::seconds(20))}});
    let row = cells("batch", "cronjobs", &c);
    assert_eq!(
        row,
        [
            json!("hello"),
            json!("*/1 * * * *"),
            json!("<none>"),
            json!("False"),
            json!(1),
            json!("20s"),
            json!("60m"),
            json!("h"),
            json!("busybox"),
            json!("<none>")
        ]
    );
}

#[test]
fn event_columns_follow_upstream_order() {
    let names: Vec<_> = column_definitions("", "events")
        .iter()
        .map(|c| (c.name, c.priority))
        .collect();
    assert_eq!(
        names,
        [
            ("Last Seen", 0),
            ("Type", 0),
            ("Reason", 0),
            ("Object", 0),
            ("Subobject", 1),
            ("Source", 1),
            ("Message", 0),
            ("First Seen", 1),
            ("Count", 1),
            ("Name", 1)
        ]
    );
}

#[test]
fn event_cells_show_object_source_and_count() {
    let e = json!({"metadata": {"name": "web.123"},
        "involvedObject": {"kind": "Pod", "name": "web", "fieldPath": "spec.containers{a}"},
        "reason": "Pulled", "type": "Normal", "message": "  Successfully pulled image \n",
        "source": {"component": "kubelet", "host": "n1"},
        "firstTimestamp": ts(TimeDelta::minutes(4)), "lastTimestamp": ts(TimeDelta::seconds(50)), "count": 4});
    assert_eq!(
        cells("", "events", &e),
        [
            json!("50s"),
            json!("Normal"),
            json!("Pulled"),
            json!("pod/web"),
            json!("spec.containers{a}"),
            json!("kubelet, n1"),
            json!("Successfully pulled image"),
            json!("4m"),
            json!(4),
            json!("web.123")
        ]
    );
}

#[test]
fn event_without_timestamps_uses_event_time_and_count_one() {
    let e = json!({"metadata": {"name": "x"}, "involvedObject": {"kind": "Node"},
        "eventTime": "2025-12-31T23:59:30.000000Z", "reportingComponent": "scheduler", "type": "Warning"});
    let row = cells("", "events", &e);
    assert_eq!(row[0], json!("30s"));
    assert_eq!(row[3], json!("node"));
    assert_eq!(row[5], json!("scheduler"));
    assert_eq!(row[7], json!("30s"));
    assert_eq!(row[8], json!(1));
}

#[test]
fn events_v1_events_print_like_core_events() {
    let e = json!({"metadata": {"name": "x"}, "regarding": {"kind": "Pod", "name": "p"}, "note": "hi",
        "reason": "Started", "type": "Normal", "eventTime": ts(TimeDelta::seconds(10)),
        "reportingController": "kubelet", "reportingInstance": "n1"});
    let row = cells("events.k8s.io", "events", &e);
    assert_eq!(row[3], json!("pod/p"));
    assert_eq!(row[5], json!("kubelet, n1"));
    assert_eq!(row[6], json!("hi"));
}

#[test]
fn config_map_data_counts_data_and_binary_data() {
    let cm = json!({"metadata": {"name": "cfg"}, "data": {"a": "1", "b": "2"}, "binaryData": {"c": "AA=="}});
    assert_eq!(cell("", "configmaps", &cm, "Data"), json!(3));
}

#[test]
fn secret_shows_type_and_data_count() {
    let s = json!({"metadata": {"name": "tls"}, "type": "kubernetes.io/tls", "data": {"tls.crt": "", "tls.key": ""}});
    assert_eq!(
        cells("", "secrets", &s)[1..3],
        [json!("kubernetes.io/tls"), json!(2)]
    );
}

#[test]
fn namespace_and_service_account_cells() {
    let ns = json!({"metadata": {"name": "default", "creationTimestamp": ts(TimeDelta::days(400))}, "status": {"phase": "Active"}});
    assert_eq!(
        cells("", "namespaces", &ns),
        [json!("default"), json!("Active"), json!("400d")]
    );
    let sa = json!({"metadata": {"name": "default"}});
    assert_eq!(cell("", "serviceaccounts", &sa, "Secrets"), json!(0));
}

#[test]
fn roles_and_crds_print_created_at_in_rfc3339() {
    let r = json!({"metadata": {"name": "admin", "creationTimestamp": "2026-11-27T07:19:13Z"}});
    for (g, p) in [
        ("rbac.authorization.k8s.io", "roles"),
        ("rbac.authorization.k8s.io", "clusterroles"),
        ("", "limitranges"),
        ("apiextensions.k8s.io", "customresourcedefinitions"),
    ] {
        let cols = column_definitions(g, p);
        assert_eq!(
            cols.iter().map(|c| (c.name, c.type_)).collect::<Vec<_>>(),
            [("Name", "string"), ("Created At", "date")]
        );
        assert_eq!(
            cells(g, p, &r),
            [json!("admin"), json!("2026-11-27T07:19:13Z")]
        );
    }
}

#[test]
fn unknown_resources_print_name_and_age() {
    let cols = column_definitions("example.com", "widgets");
    assert_eq!(
        cols.iter()
            .map(|c| (c.name, c.type_, c.format))
            .collect::<Vec<_>>(),
        [("Name", "string", "name"), ("Age", "string", "")]
    );
    let w = json!({"metadata": {"name": "w", "creationTimestamp": ts(TimeDelta::hours(30))}});
    assert_eq!(
        cells("example.com", "widgets", &w),
        [json!("w"), json!("30h")]
    );
}

#[test]
fn role_binding_shows_role_ref_and_subjects() {
    let rb = json!({"metadata": {"name": "rb"}, "roleRef": {"kind": "ClusterRole", "name": "view"},
        "subjects": [{"kind": "User", "name": "alice"}, {"kind": "Group", "name": "devs"},
            {"kind": "ServiceAccount", "name": "bot", "namespace": "ci"}, {"kind": "User", "name": "bob"}]});
    let row = cells("rbac.authorization.k8s.io", "clusterrolebindings", &rb);
    assert_eq!(row[1], json!("ClusterRole/view"));
    assert_eq!(
        row[3..],
        [json!("alice, bob"), json!("devs"), json!("ci/bot")]
    );
}

#[test]
fn endpoints_list_addresses_with_ports_and_more_suffix() {
    let ep = json!({"metadata": {"name": "e"}, "subsets": [{
        "addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}, {"ip": "fd00::3"}],
        "ports": [{"port": 80}, {"port": 443}]}]});
    assert_eq!(
        cell("", "endpoints", &ep, "Endpoints"),
        json!("10.0.0.1:80,10.0.0.2:80,[fd00::3]:80 + 3 more...")
    );
    let none = json!({"metadata": {"name": "e"}});
    assert_eq!(cell("", "endpoints", &none, "Endpoints"), json!("<none>"));
}

#[test]
fn endpoint_slice_lists_ports_and_addresses() {
    let eps = json!({"metadata": {"name": "s"}, "addressType": "IPv4",
        "ports": [{"port": 80}, {"name": "https"}],
        "endpoints": [{"addresses": ["10.0.0.1"]}, {"addresses": ["10.0.0.2", "10.0.0.3", "10.0.0.4"]}]});
    let row = cells("discovery.k8s.io", "endpointslices", &eps);
    assert_eq!(
        row[1..4],
        [
            json!("IPv4"),
            json!("80,https"),
            json!("10.0.0.1,10.0.0.2,10.0.0.3 + 1 more...")
        ]
    );
    let empty = json!({"metadata": {"name": "s"}, "addressType": "IPv4"});
    assert_eq!(
        cells("discovery.k8s.io", "endpointslices", &empty)[2..4],
        [json!("<unset>"), json!("<unset>")]
    );
}

#[test]
fn ingress_hosts_address_and_ports() {
    let ing = json!({"metadata": {"name": "i"}, "spec": {"ingressClassName": "nginx",
        "rules": [{"host": "a.example"}, {}, {"host": "b.example"}], "tls": [{"hosts": ["a.example"]}]},
        "status": {"loadBalancer": {"ingress": [{"ip": "1.1.1.1"}]}}});
    assert_eq!(
        cells("networking.k8s.io", "ingresses", &ing)[1..5],
        [
            json!("nginx"),
            json!("a.example,b.example"),
            json!("1.1.1.1"),
            json!("80, 443")
        ]
    );
    let bare = json!({"metadata": {"name": "i"}, "spec": {}});
    assert_eq!(
        cells("networking.k8s.io", "ingresses", &bare)[1..5],
        [json!("<none>"), json!("*"), json!(""), json!("80")]
    );
}

#[test]
fn pvc_and_pv_cells() {
    let pvc = json!({"metadata": {"name": "data"}, "spec": {"volumeName": "pv1", "storageClassName": "standard"},
        "status": {"phase": "Bound", "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteMany", "ReadWriteOnce"]}});
    assert_eq!(
        cells("", "persistentvolumeclaims", &pvc)[1..7],
        [
            json!("Bound"),
            json!("pv1"),
            json!("1Gi"),
            json!("RWO,RWX"),
            json!("standard"),
            json!("<unset>")
        ]
    );
    let pv = json!({"metadata": {"name": "pv1"}, "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
        "persistentVolumeReclaimPolicy": "Retain", "claimRef": {"namespace": "default", "name": "data"}, "volumeMode": "Filesystem"},
        "status": {"phase": "Bound"}});
    let row = cells("", "persistentvolumes", &pv);
    assert_eq!(
        row[1..6],
        [
            json!("1Gi"),
            json!("RWO"),
            json!("Retain"),
            json!("Bound"),
            json!("default/data")
        ]
    );
    assert_eq!(row[10], json!("Filesystem"));
}

#[test]
fn storage_class_marks_default_and_fills_defaults() {
    let sc = json!({"metadata": {"name": "standard", "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
        "provisioner": "rancher.io/local-path"});
    assert_eq!(
        cells("storage.k8s.io", "storageclasses", &sc)[..5],
        [
            json!("standard (default)"),
            json!("rancher.io/local-path"),
            json!("Delete"),
            json!("Immediate"),
            json!(false)
        ]
    );
}

#[test]
fn controller_revision_names_its_controller() {
    let cr = json!({"metadata": {"name": "web-abc", "ownerReferences": [
        {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "web", "controller": true}]}, "revision": 2});
    assert_eq!(
        cells("apps", "controllerrevisions", &cr)[1..3],
        [json!("statefulset.apps/web"), json!(2)]
    );
}

#[test]
fn resource_quota_splits_requests_and_limits() {
    let rq = json!({"metadata": {"name": "q"}, "status": {
        "hard": {"pods": "10", "limits.cpu": "2", "requests.memory": "1Gi", "limits.memory": "2Gi"},
        "used": {"pods": "3", "limits.cpu": "500m"}}});
    assert_eq!(
        cells("", "resourcequotas", &rq)[1..3],
        [
            json!("pods: 3/10, requests.memory: 0/1Gi"),
            json!("limits.cpu: 500m/2, limits.memory: 0/2Gi")
        ]
    );
}

#[test]
fn hpa_formats_resource_metrics() {
    let hpa = json!({"metadata": {"name": "h"}, "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"},
        "minReplicas": 1, "maxReplicas": 5,
        "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}}]},
        "status": {"currentReplicas": 2, "currentMetrics": [{"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 12}}}]}});
    assert_eq!(
        cells("autoscaling", "horizontalpodautoscalers", &hpa)[1..6],
        [
            json!("Deployment/web"),
            json!("cpu: 12%/50%"),
            json!("1"),
            json!(5),
            json!(2)
        ]
    );
    let none = json!({"metadata": {"name": "h"}, "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "maxReplicas": 3}});
    assert_eq!(
        cells("autoscaling", "horizontalpodautoscalers", &none)[2..4],
        [json!("<none>"), json!("<unset>")]
    );
}

#[test]
fn pdb_lease_priority_class_and_csr_cells() {
    let pdb = json!({"metadata": {"name": "p"}, "spec": {"minAvailable": 2}, "status": {"disruptionsAllowed": 1}});
    assert_eq!(
        cells("policy", "poddisruptionbudgets", &pdb)[1..4],
        [json!("2"), json!("N/A"), json!(1)]
    );
    let lease = json!({"metadata": {"name": "l"}, "spec": {"holderIdentity": "node-1"}});
    assert_eq!(
        cell("coordination.k8s.io", "leases", &lease, "Holder"),
        json!("node-1")
    );
    let pc = json!({"metadata": {"name": "high"}, "value": 1000, "globalDefault": true, "preemptionPolicy": "Never"});
    let row = cells("scheduling.k8s.io", "priorityclasses", &pc);
    assert_eq!(
        (row[1].clone(), row[2].clone(), row[4].clone()),
        (json!(1000), json!(true), json!("Never"))
    );
    let csr = json!({"metadata": {"name": "c"}, "spec": {"signerName": "kubernetes.io/kube-apiserver-client", "username": "alice", "expirationSeconds": 86400},
        "status": {"conditions": [{"type": "Approved", "status": "True"}], "certificate": "LS0t"}});
    assert_eq!(
        cells("certificates.k8s.io", "certificatesigningrequests", &csr)[2..6],
        [
            json!("kubernetes.io/kube-apiserver-client"),
            json!("alice"),
            json!("24h"),
            json!("Approved,Issued")
        ]
    );
}

#[test]
fn every_known_resource_yields_a_full_row_for_an_empty_object() {
    let resources = [
        ("", "pods"),
        ("", "podtemplates"),
        ("policy", "poddisruptionbudgets"),
        ("", "replicationcontrollers"),
        ("apps", "replicasets"),
        ("apps", "daemonsets"),
        ("batch", "jobs"),
        ("batch", "cronjobs"),
        ("", "services"),
        ("networking.k8s.io", "ingresses"),
        ("networking.k8s.io", "ingressclasses"),
        ("apps", "statefulsets"),
        ("", "endpoints"),
        ("", "nodes"),
        ("", "events"),
        ("events.k8s.io", "events"),
        ("", "namespaces"),
        ("", "secrets"),
        ("", "serviceaccounts"),
        ("", "persistentvolumes"),
        ("", "persistentvolumeclaims"),
        ("apps", "deployments"),
        ("autoscaling", "horizontalpodautoscalers"),
        ("", "configmaps"),
        ("networking.k8s.io", "networkpolicies"),
        ("rbac.authorization.k8s.io", "rolebindings"),
        ("rbac.authorization.k8s.io", "clusterrolebindings"),
        ("certificates.k8s.io", "certificatesigningrequests"),
        ("coordination.k8s.io", "leases"),
        ("storage.k8s.io", "storageclasses"),
        ("apps", "controllerrevisions"),
        ("", "resourcequotas"),
        ("scheduling.k8s.io", "priorityclasses"),
        ("node.k8s.io", "runtimeclasses"),
        ("discovery.k8s.io", "endpointslices"),
        ("storage.k8s.io", "volumeattachments"),
        ("storage.k8s.io", "csinodes"),
        (
            "admissionregistration.k8s.io",
            "mutatingwebhookconfigurations",
        ),
        (
            "admissionregistration.k8s.io",
            "validatingwebhookconfigurations",
        ),
        ("rbac.authorization.k8s.io", "roles"),
        ("", "limitranges"),
        ("apiextensions.k8s.io", "customresourcedefinitions"),
        ("example.com", "things"),
    ];
    for (g, p) in resources {
        cells(g, p, &json!({}));
        cells(
            g,
            p,
            &json!({"metadata": {"name": "x"}, "spec": {}, "status": {}}),
        );
    }
}

#[test]
fn network_policy_prints_pod_selector() {
    let np = json!({"metadata": {"name": "np"}, "spec": {"podSelector": {}}});
    assert_eq!(
        cell("networking.k8s.io", "networkpolicies", &np, "Pod-Selector"),
        json!("<none>")
    );
    let np = json!({"metadata": {"name": "np"}, "spec": {"podSelector": {"matchExpressions": [{"key": "a", "operator": "Exists"}]}}});
    assert_eq!(
        cell("networking.k8s.io", "networkpolicies", &np, "Pod-Selector"),
        json!("a")
    );
}

#[test]
fn column_definitions_serialize_as_table_column_definitions() {
    let v = column_definitions_json(&column_definitions("", "configmaps"));
    assert_eq!(v[0]["name"], json!("Name"));
    assert_eq!(v[0]["type"], json!("string"));
    assert_eq!(v[0]["format"], json!("name"));
    assert_eq!(v[0]["priority"], json!(0));
    assert!(
        v[0]["description"]
            .as_str()
            .unwrap()
            .starts_with("Name must be unique within a namespace.")
    );
    assert_eq!(v[1]["name"], json!("Data"));
    let obj = v[1].as_object().unwrap();
    let mut keys: Vec<_> = obj.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["description", "format", "name", "priority", "type"]);
}
