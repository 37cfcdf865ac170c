use serde_json::{Value, json};

use crate::registry::Part;
use crate::resources::ResourceTable;

/// Defaults `obj` as a write would, then validates it (and `old`, defaulted too) the way the
/// registry does, returning each cause as `field: message`.
fn check(group: &str, version: &str, plural: &str, obj: Value, old: Option<Value>) -> Vec<String> {
    let table = ResourceTable::builtin();
    let info = table
        .get(group, version, plural)
        .expect("a built-in resource");
    let mut obj = obj;
    crate::defaults::default_object(info, &mut obj);
    let causes = match old {
        None => crate::strategy::validate(info, &obj, None),
        Some(mut old) => {
            crate::defaults::default_object(info, &mut old);
            crate::strategy::validate_update(info, Part::Main, &obj, &old)
        }
    };
    causes.iter().map(|c| c.error_string()).collect()
}

fn deployment(selector: Value, labels: Value, containers: Value) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "selector": selector,
            "template": {"metadata": {"labels": labels}, "spec": {"containers": containers}},
        },
    })
}

fn pod(spec: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default"}, "spec": spec})
}

fn nginx() -> Value {
    json!([{"name": "nginx", "image": "nginx"}])
}

#[test]
fn a_valid_deployment_has_no_errors() {
    let d = deployment(
        json!({"matchLabels": {"app": "web"}}),
        json!({"app": "web"}),
        nginx(),
    );
    assert_eq!(
        check("apps", "v1", "deployments", d, None),
        Vec::<String>::new()
    );
}

#[test]
fn deployment_selector_must_match_template_labels() {
    let d = deployment(
        json!({"matchLabels": {"app": "x"}}),
        json!({"app": "y", "b": "c"}),
        nginx(),
    );
    assert_eq!(
        check("apps", "v1", "deployments", d, None),
        [
            r#"spec.template.metadata.labels: Invalid value: map[string]string{"app":"y", "b":"c"}: `selector` does not match template `labels`"#
        ]
    );
}

#[test]
fn deployment_without_selector_is_required_and_mismatched() {
    let mut d = deployment(json!(null), json!({"app": "web"}), nginx());
    d["spec"].as_object_mut().unwrap().remove("selector");
    assert_eq!(
        check("apps", "v1", "deployments", d, None),
        [
            "spec.selector: Required value",
            r#"spec.template.metadata.labels: Invalid value: map[string]string{"app":"web"}: `selector` does not match template `labels`"#,
        ]
    );
}

#[test]
fn deployment_empty_selector_is_invalid() {
    let d = deployment(json!({}), json!({"app": "web"}), nginx());
    assert_eq!(
        check("apps", "v1", "deployments", d, None),
        [
            "spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for deployment"
        ]
    );
}

#[test]
fn deployment_selector_is_immutable() {
    let old = deployment(
        json!({"matchLabels": {"app": "web"}}),
        json!({"app": "web", "v": "2"}),
        nginx(),
    );
    let new = deployment(
        json!({"matchLabels": {"v": "2"}}),
        json!({"app": "web", "v": "2"}),
        nginx(),
    );
    assert_eq!(
        check("apps", "v1", "deployments", new, Some(old)),
        [
            r#"spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{"v":"2"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable"#
        ]
    );
}

#[test]
fn negative_replicas_and_bad_rolling_update_are_reported() {
    let mut d = deployment(
        json!({"matchLabels": {"app": "web"}}),
        json!({"app": "web"}),
        nginx(),
    );
    d["spec"]["replicas"] = json!(-1);
    d["spec"]["strategy"] =
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": "0%"}});
    assert_eq!(
        check("apps", "v1", "deployments", d, None),
        [
            "spec.replicas: Invalid value: -1: must be greater than or equal to 0",
            "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: intstr.IntOrString{Type:0, IntVal:0, StrVal:\"\"}: may not be 0 when `maxSurge` is 0",
        ]
    );
}

#[test]
fn pod_container_rules_use_upstream_wording() {
    let cases: Vec<(Value, Vec<&str>)> = vec![
        (json!({}), vec!["spec.containers: Required value"]),
        (
            json!({"containers": [{"name": "a", "image": "x"}, {"name": "a", "image": "y"}]}),
            vec![r#"spec.containers[1].name: Duplicate value: "a""#],
        ),
        (
            json!({"containers": [{"name": "A_b", "image": "x"}]}),
            vec![
                r#"spec.containers[0].name: Invalid value: "A_b": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"#,
            ],
        ),
        (
            json!({"containers": [{"name": "a"}]}),
            vec!["spec.containers[0].image: Required value"],
        ),
        (
            json!({"containers": [{"name": "a", "image": "x", "ports": [{"containerPort": 70000}, {"containerPort": 80, "protocol": "ICMP"}]}]}),
            vec![
                "spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive",
                r#"spec.containers[0].ports[1].protocol: Unsupported value: "ICMP": supported values: "SCTP", "TCP", "UDP""#,
            ],
        ),
        (
            json!({"containers": [{"name": "a", "image": "x", "ports": [{"name": "http", "containerPort": 80}, {"name": "http", "containerPort": 81}]}]}),
            vec![r#"spec.containers[0].ports[1].name: Duplicate value: "http""#],
        ),
        (
            json!({"containers": [{"name": "a", "image": "x", "resources": {"requests": {"cpu": "2"}, "limits": {"cpu": "1"}}}]}),
            vec![
                r#"spec.containers[0].resources.requests: Invalid value: "2": must be less than or equal to cpu limit of 1"#,
            ],
        ),
        (
            json!({"containers": [{"name": "a", "image": "x", "resources": {"requests": {"memory": "-1"}}}]}),
            vec![
                r#"spec.containers[0].resources.requests[memory]: Invalid value: "-1": must be greater than or equal to 0"#,
            ],
        ),
        (
            json!({"restartPolicy": "Sometimes", "containers": [{"name": "a", "image": "x"}]}),
            vec![
                r#"spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never""#,
            ],
        ),
        (
            json!({"dnsPolicy": "Custom", "containers": [{"name": "a", "image": "x"}]}),
            vec![
                r#"spec.dnsPolicy: Unsupported value: "Custom": supported values: "ClusterFirstWithHostNet", "ClusterFirst", "Default", "None""#,
            ],
        ),
        (
            json!({"containers": [{"name": "a", "image": "x", "livenessProbe": {"exec": {"command": ["true"]}, "successThreshold": 2, "periodSeconds": -1}}]}),
            vec![
                "spec.containers[0].livenessProbe.periodSeconds: Invalid value: -1: must be greater than or equal to 0",
                "spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1",
            ],
        ),
        (
            json!({"containers": [{"name": "a", "image": "x", "readinessProbe": {}}]}),
            vec!["spec.containers[0].readinessProbe: Required value: must specify a handler type"],
        ),
        (
            json!({"volumes": [{"name": "v", "emptyDir": {}, "configMap": {"name": "c"}}], "containers": [{"name": "a", "image": "x"}]}),
            vec!["spec.volumes[0].configMap: Forbidden: may not specify more than 1 volume type"],
        ),
        (
            json!({"volumes": [{"name": "v", "emptyDir": {}}, {"name": "v", "emptyDir": {}}], "containers": [{"name": "a", "image": "x"}]}),
            vec![r#"spec.volumes[1].name: Duplicate value: "v""#],
        ),
        (
            json!({"containers": [{"name": "a", "image": "x", "volumeMounts": [{"name": "missing", "mountPath": "/m"}]}]}),
            vec![r#"spec.containers[0].volumeMounts[0].name: Not found: "missing""#],
        ),
        (
            json!({"containers": [{"name": "a", "image": "x"}], "tolerations": [{"operator": "Equal", "value": "v"}]}),
            vec![
                r#"spec.tolerations[0].operator: Invalid value: "Equal": operator must be Exists when `key` is empty, which means "match all values and all keys""#,
            ],
        ),
    ];
    for (spec, want) in cases {
        assert_eq!(
            check("", "v1", "pods", pod(spec.clone()), None),
            want,
            "{spec}"
        );
    }
}

#[test]
fn pod_updates_may_change_images_but_not_other_fields() {
    let old = pod(json!({"containers": [{"name": "a", "image": "x:1"}]}));
    let image = pod(json!({"containers": [{"name": "a", "image": "x:2"}]}));
    assert_eq!(
        check("", "v1", "pods", image, Some(old.clone())),
        Vec::<String>::new()
    );
    let env = pod(
        json!({"containers": [{"name": "a", "image": "x:1", "env": [{"name": "A", "value": "1"}]}]}),
    );
    let errs = check("", "v1", "pods", env, Some(old.clone()));
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(
        errs[0].starts_with("spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)\n"),
        "{}",
        errs[0]
    );
    let more =
        pod(json!({"containers": [{"name": "a", "image": "x:1"}, {"name": "b", "image": "y"}]}));
    assert_eq!(
        check("", "v1", "pods", more, Some(old)),
        ["spec.containers: Forbidden: pod updates may not add or remove containers"]
    );
}

fn job(restart: &str) -> Value {
    json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": "j", "namespace": "default", "uid": "u1"},
        "spec": {
            "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "u1"}},
            "template": {
                "metadata": {"labels": {"controller-uid": "u1", "job-name": "j", "batch.kubernetes.io/controller-uid": "u1", "batch.kubernetes.io/job-name": "j"}},
                "spec": {"restartPolicy": restart, "containers": [{"name": "a", "image": "x"}]},
            },
        },
    })
}

#[test]
fn jobs_need_on_failure_or_never_and_keep_their_template() {
    assert_eq!(
        check("batch", "v1", "jobs", job("Never"), None),
        Vec::<String>::new()
    );
    assert_eq!(
        check("batch", "v1", "jobs", job("Always"), None),
        [r#"spec.template.spec.restartPolicy: Required value: valid values: "OnFailure", "Never""#]
    );
    let mut changed = job("Never");
    changed["spec"]["template"]["spec"]["containers"][0]["image"] = json!("y");
    let errs = check("batch", "v1", "jobs", changed, Some(job("Never")));
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(
        errs[0].starts_with("spec.template: Invalid value: ")
            && errs[0].ends_with(": field is immutable")
    );
}

#[test]
fn job_selectors_must_be_the_generated_ones() {
    let mut j = job("Never");
    j["spec"]["selector"] = json!({"matchLabels": {"batch.kubernetes.io/controller-uid": "other"}});
    let errs = check("batch", "v1", "jobs", j, None);
    assert!(
        errs.contains(&r#"spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{"batch.kubernetes.io/controller-uid":"other"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: `selector` not auto-generated"#.to_string()),
        "{errs:?}"
    );
}

#[test]
fn cron_schedules_are_parsed_like_robfig_cron() {
    let cron = |schedule: &str| {
        json!({
            "apiVersion": "batch/v1", "kind": "CronJob",
            "metadata": {"name": "c", "namespace": "default"},
            "spec": {"schedule": schedule, "jobTemplate": {"spec": {"template": {"spec": {"restartPolicy": "OnFailure", "containers": [{"name": "a", "image": "x"}]}}}}},
        })
    };
    for ok in [
        "*/5 * * * *",
        "@hourly",
        "0 0 1 jan-mar mon-fri",
        "@every 1h30m",
        "0 12 * * ?",
    ] {
        assert_eq!(
            check("batch", "v1", "cronjobs", cron(ok), None),
            Vec::<String>::new(),
            "{ok}"
        );
    }
    for (bad, want) in [
        (
            "foo",
            r#"spec.schedule: Invalid value: "foo": expected exactly 5 fields, found 1: [foo]"#,
        ),
        (
            "61 * * * *",
            r#"spec.schedule: Invalid value: "61 * * * *": end of range (61) above maximum (59): 61"#,
        ),
        (
            "@sometimes",
            r#"spec.schedule: Invalid value: "@sometimes": unrecognized descriptor: @sometimes"#,
        ),
    ] {
        assert_eq!(
            check("batch", "v1", "cronjobs", cron(bad), None),
            [want],
            "{bad}"
        );
    }
    assert_eq!(
        check("batch", "v1", "cronjobs", cron(""), None),
        ["spec.schedule: Required value"]
    );
}

fn service(spec: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "namespace": "default"}, "spec": spec})
}

#[test]
fn services_need_ports_valid_protocols_and_keep_their_cluster_ip() {
    assert_eq!(
        check(
            "",
            "v1",
            "services",
            service(json!({"clusterIP": "10.0.0.5", "clusterIPs": ["10.0.0.5"]})),
            None
        ),
        ["spec.ports: Required value"]
    );
    assert_eq!(
        check(
            "",
            "v1",
            "services",
            service(json!({"ports": [{"port": 0, "protocol": "HTTP"}]})),
            None
        ),
        [
            "spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive",
            r#"spec.ports[0].protocol: Unsupported value: "HTTP": supported values: "SCTP", "TCP", "UDP""#,
            "spec.ports[0].targetPort: Invalid value: 0: must be between 1 and 65535, inclusive",
        ]
    );
    assert_eq!(
        check(
            "",
            "v1",
            "services",
            service(json!({"type": "Fancy", "ports": [{"port": 80}]})),
            None
        ),
        [
            r#"spec.type: Unsupported value: "Fancy": supported values: "ClusterIP", "ExternalName", "LoadBalancer", "NodePort""#
        ]
    );
    let old = service(
        json!({"clusterIP": "10.0.0.5", "clusterIPs": ["10.0.0.5"], "ports": [{"port": 80}]}),
    );
    let new = service(
        json!({"clusterIP": "10.0.0.6", "clusterIPs": ["10.0.0.6"], "ports": [{"port": 80}]}),
    );
    assert_eq!(
        check("", "v1", "services", new, Some(old)),
        [r#"spec.clusterIPs[0]: Invalid value: []string{"10.0.0.6"}: may not change once set"#]
    );
    assert_eq!(
        check(
            "",
            "v1",
            "services",
            service(json!({"clusterIP": "None", "clusterIPs": ["None"]})),
            None
        ),
        Vec::<String>::new(),
        "a headless service needs no ports"
    );
}

#[test]
fn claims_are_immutable_except_storage_requests_of_bound_claims() {
    let pvc = |size: &str| {
        json!({
            "apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": "c", "namespace": "default"},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}},
        })
    };
    assert_eq!(
        check("", "v1", "persistentvolumeclaims", pvc("1Gi"), None),
        Vec::<String>::new()
    );
    let errs = check(
        "",
        "v1",
        "persistentvolumeclaims",
        pvc("2Gi"),
        Some(pvc("1Gi")),
    );
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(errs[0].starts_with("spec: Forbidden: spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims\n"));
    let mut bound = pvc("2Gi");
    bound["status"] = json!({"phase": "Bound"});
    assert_eq!(
        check("", "v1", "persistentvolumeclaims", bound, Some(pvc("1Gi"))),
        Vec::<String>::new()
    );
    let mut none = pvc("1Gi");
    none["spec"]["accessModes"] = json!([]);
    assert_eq!(
        check("", "v1", "persistentvolumeclaims", none, None),
        ["spec.accessModes: Required value: at least 1 access mode is required"]
    );
}

#[test]
fn rbac_rules_need_verbs_and_bindings_keep_their_role() {
    let role = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "r", "namespace": "default"}, "rules": [{"apiGroups": [""], "resources": ["pods"]}]});
    assert_eq!(
        check("rbac.authorization.k8s.io", "v1", "roles", role, None),
        ["rules[0].verbs: Required value: verbs must contain at least one value"]
    );
    let binding = |role: &str| {
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "b", "namespace": "default"},
               "roleRef": {"kind": "ClusterRole", "name": role}, "subjects": [{"kind": "User", "name": "alice"}]})
    };
    assert_eq!(
        check(
            "rbac.authorization.k8s.io",
            "v1",
            "rolebindings",
            binding("view"),
            None
        ),
        Vec::<String>::new()
    );
    assert_eq!(
        check(
            "rbac.authorization.k8s.io",
            "v1",
            "rolebindings",
            binding("edit"),
            Some(binding("view"))
        ),
        [
            r#"roleRef: Invalid value: rbac.RoleRef{APIGroup:"rbac.authorization.k8s.io", Kind:"ClusterRole", Name:"edit"}: cannot change roleRef"#
        ]
    );
    let mut bad_kind = binding("view");
    bad_kind["roleRef"]["kind"] = json!("Nothing");
    assert_eq!(
        check(
            "rbac.authorization.k8s.io",
            "v1",
            "rolebindings",
            bad_kind,
            None
        ),
        [r#"roleRef.kind: Unsupported value: "Nothing": supported values: "Role", "ClusterRole""#]
    );
}

#[test]
fn stateful_sets_may_only_change_some_spec_fields() {
    let sts = |service: &str| {
        json!({
            "apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": "db", "namespace": "default"},
            "spec": {"serviceName": service, "selector": {"matchLabels": {"app": "db"}},
                     "template": {"metadata": {"labels": {"app": "db"}}, "spec": {"containers": [{"name": "a", "image": "x"}]}}},
        })
    };
    assert_eq!(
        check("apps", "v1", "statefulsets", sts("db"), None),
        Vec::<String>::new()
    );
    assert_eq!(
        check("apps", "v1", "statefulsets", sts("other"), Some(sts("db"))),
        [
            "spec: Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"
        ]
    );
}

#[test]
fn daemon_sets_reject_non_always_restart_policies() {
    let ds = json!({
        "apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": {"name": "d", "namespace": "default"},
        "spec": {"selector": {"matchLabels": {"app": "d"}},
                 "template": {"metadata": {"labels": {"app": "d"}}, "spec": {"restartPolicy": "Never", "containers": [{"name": "a", "image": "x"}]}}},
    });
    assert_eq!(
        check("apps", "v1", "daemonsets", ds, None),
        [
            r#"spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: "Always""#
        ]
    );
}

#[test]
fn replication_controllers_default_their_selector_from_the_template() {
    let rc = json!({
        "apiVersion": "v1", "kind": "ReplicationController",
        "metadata": {"name": "rc", "namespace": "default"},
        "spec": {"template": {"metadata": {"labels": {"app": "rc"}}, "spec": {"containers": [{"name": "a", "image": "x"}]}}},
    });
    assert_eq!(
        check("", "v1", "replicationcontrollers", rc, None),
        Vec::<String>::new()
    );
}

#[test]
fn priority_class_values_are_fixed_and_bounded() {
    let pc = |value: i64| json!({"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": "high"}, "value": value});
    assert_eq!(
        check("scheduling.k8s.io", "v1", "priorityclasses", pc(1000), None),
        Vec::<String>::new()
    );
    assert_eq!(
        check(
            "scheduling.k8s.io",
            "v1",
            "priorityclasses",
            pc(2000),
            Some(pc(1000))
        ),
        ["value: Forbidden: may not be changed in an update."]
    );
    assert_eq!(
        check(
            "scheduling.k8s.io",
            "v1",
            "priorityclasses",
            pc(2_000_000_000),
            None
        ),
        ["value: Forbidden: maximum allowed value of a user defined priority is 1000000000"]
    );
}

#[test]
fn endpoint_slices_need_a_known_address_type() {
    let slice = json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "metadata": {"name": "e", "namespace": "default"},
                       "addressType": "IPv5", "endpoints": [{"addresses": ["10.0.0.1"]}], "ports": [{"port": 80}]});
    assert_eq!(
        check("discovery.k8s.io", "v1", "endpointslices", slice, None),
        [r#"addressType: Unsupported value: "IPv5": supported values: "FQDN", "IPv4", "IPv6""#]
    );
}

#[test]
fn ingresses_need_rules_or_a_default_backend() {
    let ingress = |spec: Value| json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "i", "namespace": "default"}, "spec": spec});
    assert_eq!(
        check(
            "networking.k8s.io",
            "v1",
            "ingresses",
            ingress(json!({})),
            None
        ),
        [
            "spec: Invalid value: []networking.IngressRule(nil): either `defaultBackend` or `rules` must be specified"
        ]
    );
    let rule = json!({"rules": [{"host": "a.example.com", "http": {"paths": [{"path": "/", "backend": {"service": {"name": "s", "port": {"number": 80}}}}]}}]});
    assert_eq!(
        check("networking.k8s.io", "v1", "ingresses", ingress(rule), None),
        ["spec.rules[0].http.paths[0].pathType: Required value: pathType must be specified"]
    );
}

#[test]
fn quotas_and_limit_ranges_check_names_and_quantities() {
    let quota = json!({"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "q", "namespace": "default"},
                       "spec": {"hard": {"pods": "1.5", "widgets": "1"}}});
    assert_eq!(
        check("", "v1", "resourcequotas", quota, None),
        [
            "spec.hard[pods]: Invalid value: resource.Quantity{i:resource.int64Amount{value:15, scale:-1}, d:resource.infDecAmount{Dec:(*inf.Dec)(nil)}, s:\"\", Format:\"DecimalSI\"}: must be an integer",
            r#"spec.hard[widgets]: Invalid value: "widgets": must be a standard resource type or fully qualified"#,
        ]
    );
    let range = json!({"apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "l", "namespace": "default"},
                       "spec": {"limits": [{"type": "Container", "min": {"cpu": "2"}, "max": {"cpu": "1"}}]}});
    let errs = check("", "v1", "limitranges", range, None);
    assert!(
        errs.iter().any(
            |e| e.starts_with("spec.limits[0].min[cpu]: Invalid value: ")
                && e.ends_with(": min value 2 is greater than max value 1")
        ),
        "{errs:?}"
    );
}

#[test]
fn namespace_finalizers_must_be_standard_or_qualified() {
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n"}, "spec": {"finalizers": ["mine"]}});
    assert_eq!(
        check("", "v1", "namespaces", ns, None),
        [
            r#"spec.finalizers: Invalid value: "mine": name is neither a standard finalizer name nor is it fully qualified"#
        ]
    );
}

#[test]
fn strict_events_need_reporting_fields() {
    let event = json!({"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "e", "namespace": "default"},
                       "eventTime": "2024-01-01T00:00:00.000000Z", "regarding": {"kind": "Pod", "name": "p", "namespace": "default"},
                       "type": "Normal", "reason": "Started", "action": "Start", "reportingController": "kubelet", "reportingInstance": "node-1"});
    assert_eq!(
        check("events.k8s.io", "v1", "events", event.clone(), None),
        Vec::<String>::new()
    );
    let mut missing = event;
    missing
        .as_object_mut()
        .unwrap()
        .remove("reportingController");
    assert_eq!(
        check("events.k8s.io", "v1", "events", missing, None),
        [
            "reportingController: Required value",
            r#"reportingController: Invalid value: "": name part must be non-empty"#,
            r#"reportingController: Invalid value: "": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"#,
        ]
    );
}

#[test]
fn semantic_equality_treats_missing_and_empty_alike() {
    use super::semantic_eq;
    assert!(semantic_eq(None, Some(&json!({}))));
    assert!(semantic_eq(Some(&json!({"a": []})), Some(&json!({}))));
    assert!(semantic_eq(Some(&json!(1)), Some(&json!(1.0))));
    assert!(!semantic_eq(Some(&json!({"a": 1})), Some(&json!({}))));
}

#[test]
fn pod_sysctls_are_checked_like_upstream() {
    let regex = r"^([a-z0-9]([-_a-z0-9]*[a-z0-9])?[\./])*[a-z0-9]([-_a-z0-9]*[a-z0-9])?$";
    let spec = json!({
        "containers": [{"name": "a", "image": "x"}],
        "securityContext": {"sysctls": [
            {"name": "foo-", "value": "bar"},
            {"name": "kernel.shmmax", "value": "1"},
            {"name": "safe-and-unsafe", "value": "1"},
            {"name": "bar..", "value": "42"},
            {"name": "kernel.shmmax", "value": "2"},
            {"name": "", "value": "2"},
            {"name": "net/ipv4/ip_forward", "value": "1"},
        ]},
    });
    assert_eq!(
        check("", "v1", "pods", pod(spec), None),
        vec![
            format!(
                r#"spec.securityContext.sysctls[0].name: Invalid value: "foo-": must have at most 253 characters and match regex {regex}"#
            ),
            format!(
                r#"spec.securityContext.sysctls[3].name: Invalid value: "bar..": must have at most 253 characters and match regex {regex}"#
            ),
            r#"spec.securityContext.sysctls[4].name: Duplicate value: "kernel.shmmax""#.into(),
            "spec.securityContext.sysctls[5].name: Required value".into(),
        ]
    );
    let host = json!({
        "containers": [{"name": "a", "image": "x"}],
        "hostNetwork": true,
        "hostIPC": true,
        "securityContext": {"sysctls": [
            {"name": "net.core.somaxconn", "value": "1"},
            {"name": "kernel/shm_rmid_forced", "value": "1"},
            {"name": "fs.mqueue.msg_max", "value": "1"},
            {"name": "kernel.pid_max", "value": "1"},
        ]},
    });
    assert_eq!(
        check("", "v1", "pods", pod(host.clone()), None),
        vec![
            r#"spec.securityContext.sysctls[0].name: Invalid value: "net.core.somaxconn": may not be specified when 'hostNetwork' is true"#,
            r#"spec.securityContext.sysctls[1].name: Invalid value: "kernel/shm_rmid_forced": may not be specified when 'hostIPC' is true"#,
            r#"spec.securityContext.sysctls[2].name: Invalid value: "fs.mqueue.msg_max": may not be specified when 'hostIPC' is true"#,
        ]
    );
    // An update keeps what the old pod already had.
    let mut new = pod(host.clone());
    new["spec"]["containers"][0]["image"] = json!("y");
    assert_eq!(
        check("", "v1", "pods", new, Some(pod(host))),
        Vec::<String>::new()
    );
}

// ---------------------------------------------------------------------------
// ValidatingAdmissionPolicies and bindings

const ARG: &str = "admissionregistration.k8s.io";

fn vap(spec: Value) -> Value {
    json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": "p"}, "spec": spec})
}

fn vap_spec() -> Value {
    json!({
        "matchConstraints": {"resourceRules": [{
            "apiGroups": ["apps"], "apiVersions": ["v1"],
            "operations": ["CREATE", "UPDATE"], "resources": ["deployments"],
        }]},
        "validations": [{"expression": "object.spec.replicas <= 5"}],
    })
}

/// `base` with the field at `pointer` set (its parent must exist).
fn with(mut base: Value, pointer: &str, value: Value) -> Value {
    let (parent, last) = pointer.rsplit_once('/').expect("a JSON pointer");
    match base.pointer_mut(parent).expect("the parent exists") {
        Value::Array(items) => items[last.parse::<usize>().expect("an index")] = value,
        Value::Object(fields) => {
            fields.insert(last.to_string(), value);
        }
        _ => panic!("{parent} is not a container"),
    }
    base
}

fn check_vap(spec: Value) -> Vec<String> {
    check(ARG, "v1", "validatingadmissionpolicies", vap(spec), None)
}

fn vapb(spec: Value) -> Value {
    json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": "b"}, "spec": spec})
}

fn check_vapb(spec: Value) -> Vec<String> {
    check(
        ARG,
        "v1",
        "validatingadmissionpolicybindings",
        vapb(spec),
        None,
    )
}

#[test]
fn validating_admission_policies_follow_upstream() {
    let none: Vec<String> = Vec::new();
    assert_eq!(check_vap(vap_spec()), none);
    let full = json!({
        "failurePolicy": "Ignore",
        "paramKind": {"apiVersion": "v1", "kind": "ConfigMap"},
        "matchConstraints": {
            "matchPolicy": "Exact",
            "namespaceSelector": {"matchLabels": {"a": "b"}},
            "resourceRules": [{"apiGroups": ["*"], "apiVersions": ["*"], "operations": ["*"],
                "resources": ["*", "pods/status"], "scope": "Namespaced", "resourceNames": ["x"]}],
            "excludeResourceRules": [{"apiGroups": [""], "apiVersions": ["v1"],
                "operations": ["DELETE"], "resources": ["*/*"]}],
        },
        "matchConditions": [{"name": "is-web", "expression": "has(object.metadata.labels)"}],
        "variables": [{"name": "limit", "expression": "params.data.max"},
            {"name": "ok", "expression": "variables.limit == '3'"}],
        "validations": [{"expression": "variables.ok", "message": "too many",
            "messageExpression": "'limit ' + variables.limit", "reason": "Forbidden"}],
        "auditAnnotations": [{"key": "high", "valueExpression": "'yes'"}],
    });
    assert_eq!(check_vap(full), none);

    let cases: Vec<(Value, Vec<&str>)> = vec![
        (
            json!({"validations": [{"expression": "true"}]}),
            vec!["spec.matchConstraints: Required value"],
        ),
        (
            with(vap_spec(), "/matchConstraints", json!({})),
            vec!["spec.matchConstraints.resourceRules: Required value"],
        ),
        (
            with(vap_spec(), "/validations", json!([])),
            vec![
                "spec.validations: Required value: validations or auditAnnotations must contain at least one item",
                "spec.auditAnnotations: Required value: validations or auditAnnotations must contain at least one item",
            ],
        ),
        (
            with(vap_spec(), "/failurePolicy", json!("Sometimes")),
            vec![
                r#"spec.failurePolicy: Unsupported value: "Sometimes": supported values: "Fail", "Ignore""#,
            ],
        ),
        (
            with(vap_spec(), "/matchConstraints/matchPolicy", json!("Loose")),
            vec![
                r#"spec.matchConstraints.matchPolicy: Unsupported value: "Loose": supported values: "Equivalent", "Exact""#,
            ],
        ),
        (
            with(
                vap_spec(),
                "/matchConstraints/resourceRules/0",
                json!({"scope": "Everywhere", "resourceNames": ["a/b", "c", "c"]}),
            ),
            vec![
                r#"spec.matchConstraints.resourceRules[0].resourceNames[0]: Invalid value: "a/b": may not contain '/'"#,
                r#"spec.matchConstraints.resourceRules[0].resourceNames[2]: Duplicate value: "c""#,
                "spec.matchConstraints.resourceRules[0].operations: Required value",
                "spec.matchConstraints.resourceRules[0].apiGroups: Required value",
                "spec.matchConstraints.resourceRules[0].apiVersions: Required value",
                "spec.matchConstraints.resourceRules[0].resources: Required value",
                r#"spec.matchConstraints.resourceRules[0].scope: Unsupported value: "Everywhere": supported values: "*", "Cluster", "Namespaced""#,
            ],
        ),
        (
            with(
                vap_spec(),
                "/matchConstraints/resourceRules/0",
                json!({
                "apiGroups": ["*", "apps"], "apiVersions": ["v1", ""], "operations": ["*", "PATCH"],
                "resources": ["*", "pods", "*/*"]}),
            ),
            vec![
                r#"spec.matchConstraints.resourceRules[0].operations: Invalid value: []admissionregistration.OperationType{"*", "PATCH"}: if '*' is present, must not specify other operations"#,
                r#"spec.matchConstraints.resourceRules[0].operations[1]: Unsupported value: "PATCH": supported values: "*", "CONNECT", "CREATE", "DELETE", "UPDATE""#,
                r#"spec.matchConstraints.resourceRules[0].apiGroups: Invalid value: []string{"*", "apps"}: if '*' is present, must not specify other API groups"#,
                "spec.matchConstraints.resourceRules[0].apiVersions[1]: Required value",
                r#"spec.matchConstraints.resourceRules[0].resources: Invalid value: []string{"*", "pods", "*/*"}: if '*/*' is present, must not specify other resources"#,
                r#"spec.matchConstraints.resourceRules[0].resources: Invalid value: []string{"*", "pods", "*/*"}: if '*' is present, must not specify other resources without subresources"#,
            ],
        ),
        (
            with(
                vap_spec(),
                "/validations",
                json!([
                    {"expression": " "},
                    {"expression": "true", "message": "a\nb", "reason": "Teapot"},
                    {"expression": "true", "message": "  ", "messageExpression": " "},
                ]),
            ),
            vec![
                "spec.validations[0].expression: Required value: expression is not specified",
                "spec.validations[1].message: Invalid value: \"a\\nb\": message must not contain line breaks",
                r#"spec.validations[1].reason: Unsupported value: "Teapot": supported values: "Forbidden", "Invalid", "RequestEntityTooLarge""#,
                r#"spec.validations[2].messageExpression: Invalid value: " ": must be non-empty if specified"#,
                r#"spec.validations[2].message: Invalid value: "  ": message must be non-empty if specified"#,
            ],
        ),
        (
            with(vap_spec(), "/paramKind", json!({"apiVersion": "a/b/c"})),
            vec![
                r#"spec.paramKind.apiVersion: Invalid value: "a/b/c": unexpected GroupVersion string: a/b/c"#,
                "spec.paramKind.kind: Required value",
            ],
        ),
        (
            with(
                vap_spec(),
                "/variables",
                json!([
                {"name": "1x", "expression": "1"}, {"name": "", "expression": ""}]),
            ),
            vec![
                r#"spec.variables[0].name: Invalid value: "1x": name is not a valid CEL identifier"#,
                "spec.variables[1].name: Required value: name is not specified",
                "spec.variables[1].expression: Required value: expression is not specified",
            ],
        ),
        (
            with(
                vap_spec(),
                "/matchConditions",
                json!([
                {"name": "a", "expression": "true"}, {"name": "a", "expression": ""}]),
            ),
            vec![
                "spec.matchConditions[1].expression: Required value",
                r#"spec.matchConditions[1].name: Duplicate value: "a""#,
            ],
        ),
    ];
    for (spec, want) in cases {
        assert_eq!(check_vap(spec.clone()), want, "spec {spec}");
    }
}

#[test]
fn policy_expressions_that_do_not_compile_are_invalid() {
    let got = check_vap(with(
        vap_spec(),
        "/validations/0/expression",
        json!("1 + 1"),
    ));
    assert_eq!(
        got,
        vec![
            r#"spec.validations[0].expression: Invalid value: "1 + 1": must evaluate to bool but got int"#
        ]
    );
    let got = check_vap(with(
        vap_spec(),
        "/validations/0/expression",
        json!("params.x"),
    ));
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0].starts_with(
            r#"spec.validations[0].expression: Invalid value: "params.x": compilation failed: "#
        ) && got[0].contains("undeclared reference to 'params'"),
        "{got:?}"
    );
}

#[test]
fn unchanged_match_conditions_are_not_rechecked_on_update() {
    let spec = with(
        vap_spec(),
        "/matchConditions",
        json!([{"name": "a", "expression": ""}]),
    );
    let old = vap(spec.clone());
    let new = with(
        vap(spec.clone()),
        "/spec/validations/0/expression",
        json!("false"),
    );
    assert_eq!(
        check(ARG, "v1", "validatingadmissionpolicies", new, Some(old)),
        Vec::<String>::new()
    );
    assert_eq!(
        check_vap(spec),
        vec!["spec.matchConditions[0].expression: Required value"]
    );
}

#[test]
fn validating_admission_policy_bindings_follow_upstream() {
    let none: Vec<String> = Vec::new();
    assert_eq!(
        check_vapb(
            json!({"policyName": "p", "validationActions": ["Deny", "Audit"],
            "paramRef": {"name": "cm", "parameterNotFoundAction": "Deny"},
            "matchResources": {"namespaceSelector": {"matchLabels": {"a": "b"}}}})
        ),
        none
    );
    let cases: Vec<(Value, Vec<&str>)> = vec![
        (
            json!({}),
            vec![
                "spec.policyName: Required value",
                "spec.validationActions: Required value: at least one validation action is required",
            ],
        ),
        (
            json!({"policyName": "p", "validationActions": ["Deny", "Warn", "Deny", "Block"]}),
            vec![
                r#"spec.validationActions[2]: Duplicate value: "Deny""#,
                r#"spec.validationActions[3]: Unsupported value: "Block": supported values: "Audit", "Deny", "Warn""#,
                r#"spec.validationActions: Invalid value: []admissionregistration.ValidationAction{"Deny", "Warn", "Deny", "Block"}: must not contain both Deny and Warn (repeating the same validation failure information in the API response and headers serves no purpose)"#,
            ],
        ),
        (
            json!({"policyName": "p", "validationActions": ["Audit"],
                "paramRef": {"name": "x", "selector": {}}}),
            vec![
                "spec.paramRef.name: Forbidden: name and selector are mutually exclusive",
                "spec.paramRef.selector: Forbidden: name and selector are mutually exclusive",
                "spec.paramRef.parameterNotFoundAction: Required value",
            ],
        ),
        (
            json!({"policyName": "p", "validationActions": ["Audit"],
                "paramRef": {"parameterNotFoundAction": "Maybe"}}),
            vec![
                "spec.paramRef: Required value: one of name or selector must be specified",
                r#"spec.paramRef.parameterNotFoundAction: Unsupported value: "Maybe": supported values: "Deny", "Allow""#,
            ],
        ),
    ];
    for (spec, want) in cases {
        assert_eq!(check_vapb(spec.clone()), want, "spec {spec}");
    }
}
