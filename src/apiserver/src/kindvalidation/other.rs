//! Ingresses, RBAC, leases, endpoint slices and priority classes.

use std::collections::HashSet;
use std::net::IpAddr;

use den_apimachinery::validation::{BadValue, is_dns1123_subdomain, regex_error};
use serde_json::Value;

use super::gofmt;
use super::pod::protocol;
use super::*;

const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

fn wildcard_subdomain_errors(host: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if host.len() > 253 {
        errs.push(den_apimachinery::validation::max_len_error(253));
    }
    let valid = host
        .strip_prefix("*.")
        .is_some_and(|rest| is_dns1123_subdomain(rest).is_empty());
    if !valid {
        errs.push(regex_error(
            "a wildcard DNS-1123 subdomain must start with '*.', followed by a valid DNS subdomain, which must consist of lower case alphanumeric characters, '-' or '.' and end with an alphanumeric character",
            r"\*\.[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*",
            &["*.example.com"],
        ));
    }
    errs
}

fn host_errors(errs: &mut Errors, host: &str, path: &str) -> bool {
    if host.contains('*') {
        for msg in wildcard_subdomain_errors(host) {
            errs.push(invalid_str(path, host, &msg));
        }
        true
    } else {
        dns1123_subdomain(errs, host, path);
        false
    }
}

/// Upstream's `ValidateIngressCreate`/`ValidateIngressUpdate` (spec rules).
pub fn validate_ingress(obj: &Value) -> Errors {
    let mut errs = Errors::new();
    let spec = obj.get("spec").unwrap_or(null());
    let rules = list(spec, "rules");
    if rules.is_empty() && present(spec, "defaultBackend").is_none() {
        errs.push(invalid(
            "spec",
            raw(if present(spec, "rules").is_some() {
                "[]networking.IngressRule{}".into()
            } else {
                "[]networking.IngressRule(nil)".into()
            }),
            "either `defaultBackend` or `rules` must be specified",
        ));
    }
    if let Some(backend) = present(spec, "defaultBackend") {
        ingress_backend(&mut errs, backend, "spec.defaultBackend");
    }
    for (i, rule) in rules.iter().enumerate() {
        let path = index("spec.rules", i);
        let host = s(rule, "host");
        if !host.is_empty() {
            if host.parse::<IpAddr>().is_ok() {
                errs.push(invalid_str(
                    &child(&path, "host"),
                    host,
                    "must be a DNS name, not an IP address",
                ));
            }
            host_errors(&mut errs, host, &child(&path, "host"));
        }
        if let Some(http) = present(rule, "http") {
            let http_path = child(&path, "http");
            let paths = list(http, "paths");
            if paths.is_empty() {
                errs.push(required(&child(&http_path, "paths"), ""));
            }
            for (j, ingress_path) in paths.iter().enumerate() {
                http_ingress_path(
                    &mut errs,
                    ingress_path,
                    &index(&child(&http_path, "paths"), j),
                );
            }
        }
    }
    for (t, tls) in list(spec, "tls").iter().enumerate() {
        let tls_path = index("spec.tls", t);
        for (i, host) in list(tls, "hosts").iter().enumerate() {
            host_errors(
                &mut errs,
                host.as_str().unwrap_or(""),
                &index(&child(&tls_path, "hosts"), i),
            );
        }
        let secret = s(tls, "secretName");
        if !secret.is_empty() {
            object_name(&mut errs, secret, &child(&tls_path, "secretName"));
        }
    }
    if let Some(class) = present(spec, "ingressClassName").and_then(Value::as_str) {
        object_name(&mut errs, class, "spec.ingressClassName");
    }
    errs
}

fn http_ingress_path(errs: &mut Errors, ingress_path: &Value, path: &str) {
    let Some(path_type) = present(ingress_path, "pathType").and_then(Value::as_str) else {
        errs.push(required(
            &child(path, "pathType"),
            "pathType must be specified",
        ));
        return;
    };
    let value = s(ingress_path, "path");
    let value_path = child(path, "path");
    match path_type {
        "Exact" | "Prefix" => {
            if !value.starts_with('/') {
                errs.push(invalid_str(&value_path, value, "must be an absolute path"));
            }
            if !value.is_empty() {
                for seq in ["//", "/./", "/../", "%2f", "%2F"] {
                    if value.contains(seq) {
                        errs.push(invalid_str(
                            &value_path,
                            value,
                            &format!("must not contain '{seq}'"),
                        ));
                    }
                }
                for suffix in ["/..", "/."] {
                    if value.ends_with(suffix) {
                        errs.push(invalid_str(
                            &value_path,
                            value,
                            &format!("cannot end with '{suffix}'"),
                        ));
                    }
                }
            }
        }
        "ImplementationSpecific" => {
            if !value.is_empty() && !value.starts_with('/') {
                errs.push(invalid_str(&value_path, value, "must be an absolute path"));
            }
        }
        other => errs.push(not_supported(
            &child(path, "pathType"),
            quoted(other),
            &["Exact", "ImplementationSpecific", "Prefix"],
        )),
    }
    ingress_backend(
        errs,
        ingress_path.get("backend").unwrap_or(null()),
        &child(path, "backend"),
    );
}

fn ingress_backend(errs: &mut Errors, backend: &Value, path: &str) {
    match (present(backend, "resource"), present(backend, "service")) {
        (Some(_), Some(_)) => errs.push(invalid_str(
            path,
            "",
            "cannot set both resource and service backends",
        )),
        (Some(resource), None) => {
            let resource_path = child(path, "resource");
            if s(resource, "kind").is_empty() {
                errs.push(required(&child(&resource_path, "kind"), "kind is required"));
            }
            if s(resource, "name").is_empty() {
                errs.push(required(&child(&resource_path, "name"), "name is required"));
            }
        }
        (None, Some(service)) => {
            let name = s(service, "name");
            let name_path = child(path, "service.name");
            if name.is_empty() {
                errs.push(required(&name_path, ""));
            } else {
                for msg in den_apimachinery::validation::name_is_dns1035_label(name, false) {
                    errs.push(invalid_str(&name_path, name, &msg));
                }
            }
            let port = service.get("port").unwrap_or(null());
            let port_name = s(port, "name");
            let port_number = int(port, "number").unwrap_or(0);
            match (!port_name.is_empty(), port_number != 0) {
                (true, true) => errs.push(invalid_str(
                    path,
                    "",
                    "cannot set both port name & port number",
                )),
                (true, false) => {
                    for msg in port_name_errors(port_name) {
                        errs.push(invalid_str(
                            &child(path, "service.port.name"),
                            port_name,
                            &msg,
                        ));
                    }
                }
                (false, true) => {
                    for msg in port_number_errors(port_number) {
                        errs.push(invalid_int(
                            &child(path, "service.port.number"),
                            port_number,
                            &msg,
                        ));
                    }
                }
                (false, false) => errs.push(required(path, "port name or number is required")),
            }
        }
        (None, None) => errs.push(invalid_str(
            path,
            "",
            "resource or service backend is required",
        )),
    }
}

/// Upstream's `ValidateRole`/`ValidateClusterRole` rules.
pub fn validate_role(obj: &Value, namespaced: bool) -> Errors {
    let mut errs = Errors::new();
    for (i, rule) in list(obj, "rules").iter().enumerate() {
        let path = index("rules", i);
        if list(rule, "verbs").is_empty() {
            errs.push(required(
                &child(&path, "verbs"),
                "verbs must contain at least one value",
            ));
        }
        let urls = list(rule, "nonResourceURLs");
        if !urls.is_empty() {
            let shown = raw(gofmt::string_slice(rule.get("nonResourceURLs")));
            if namespaced {
                errs.push(invalid(
                    &child(&path, "nonResourceURLs"),
                    shown.clone(),
                    "namespaced rules cannot apply to non-resource URLs",
                ));
            }
            if !list(rule, "apiGroups").is_empty()
                || !list(rule, "resources").is_empty()
                || !list(rule, "resourceNames").is_empty()
            {
                errs.push(invalid(
                    &child(&path, "nonResourceURLs"),
                    shown,
                    "rules cannot apply to both regular resources and non-resource URLs",
                ));
            }
            continue;
        }
        if list(rule, "apiGroups").is_empty() {
            errs.push(required(
                &child(&path, "apiGroups"),
                "resource rules must supply at least one api group",
            ));
        }
        if list(rule, "resources").is_empty() {
            errs.push(required(
                &child(&path, "resources"),
                "resource rules must supply at least one resource",
            ));
        }
    }
    if !namespaced && let Some(aggregation) = present(obj, "aggregationRule") {
        let selectors = list(aggregation, "clusterRoleSelectors");
        if selectors.is_empty() {
            errs.push(required(
                "aggregationRule.clusterRoleSelectors",
                "at least one clusterRoleSelector required if aggregationRule is non-nil",
            ));
        }
        for (i, selector) in selectors.iter().enumerate() {
            label_selector(
                &mut errs,
                selector,
                &index("aggregationRule.clusterRoleSelectors", i),
            );
        }
    }
    errs
}

fn role_ref_struct(obj: &Value) -> BadValue {
    let role_ref = obj.get("roleRef").unwrap_or(null());
    raw(gofmt::string_struct(
        "rbac.RoleRef",
        role_ref,
        &[("APIGroup", "apiGroup"), ("Kind", "kind"), ("Name", "name")],
    ))
}

/// Upstream's `ValidateRoleBinding`/`ValidateClusterRoleBinding` and their updates.
pub fn validate_role_binding(obj: &Value, old: Option<&Value>, namespaced: bool) -> Errors {
    let mut errs = Errors::new();
    let role_ref = obj.get("roleRef").unwrap_or(null());
    let group = s(role_ref, "apiGroup");
    if group != RBAC_GROUP {
        errs.push(not_supported(
            "roleRef.apiGroup",
            quoted(group),
            &[RBAC_GROUP],
        ));
    }
    let kind = s(role_ref, "kind");
    let kinds: &[&str] = if namespaced {
        &["Role", "ClusterRole"]
    } else {
        &["ClusterRole"]
    };
    if !kinds.contains(&kind) {
        errs.push(not_supported("roleRef.kind", quoted(kind), kinds));
    }
    let name = s(role_ref, "name");
    if name.is_empty() {
        errs.push(required("roleRef.name", ""));
    } else {
        for msg in den_apimachinery::validation::is_valid_path_segment_name(name) {
            errs.push(invalid_str("roleRef.name", name, &msg));
        }
    }
    for (i, subject) in list(obj, "subjects").iter().enumerate() {
        let path = index("subjects", i);
        let subject_name = s(subject, "name");
        if subject_name.is_empty() {
            errs.push(required(&child(&path, "name"), ""));
        }
        let api_group = s(subject, "apiGroup");
        match s(subject, "kind") {
            "ServiceAccount" => {
                if !subject_name.is_empty() {
                    object_name(&mut errs, subject_name, &child(&path, "name"));
                }
                if !api_group.is_empty() {
                    errs.push(not_supported(
                        &child(&path, "apiGroup"),
                        quoted(api_group),
                        &[""],
                    ));
                }
                if !namespaced && s(subject, "namespace").is_empty() {
                    errs.push(required(&child(&path, "namespace"), ""));
                }
            }
            "User" | "Group" => {
                if api_group != RBAC_GROUP {
                    errs.push(not_supported(
                        &child(&path, "apiGroup"),
                        quoted(api_group),
                        &[RBAC_GROUP],
                    ));
                }
            }
            other => errs.push(not_supported(
                &child(&path, "kind"),
                quoted(other),
                &["ServiceAccount", "User", "Group"],
            )),
        }
    }
    if let Some(old) = old
        && !semantic_eq(obj.get("roleRef"), old.get("roleRef"))
    {
        errs.push(invalid(
            "roleRef",
            role_ref_struct(obj),
            "cannot change roleRef",
        ));
    }
    errs
}

/// Upstream's `ValidateLeaseSpec`.
pub fn validate_lease(obj: &Value) -> Errors {
    let mut errs = Errors::new();
    let spec = obj.get("spec").unwrap_or(null());
    if let Some(duration) = int(spec, "leaseDurationSeconds")
        && duration <= 0
    {
        errs.push(invalid_int(
            "spec.leaseDurationSeconds",
            duration,
            "must be greater than 0",
        ));
    }
    if let Some(transitions) = int(spec, "leaseTransitions")
        && transitions < 0
    {
        errs.push(invalid_int(
            "spec.leaseTransitions",
            transitions,
            IS_NEGATIVE,
        ));
    }
    let strategy = present(spec, "strategy").and_then(Value::as_str);
    if let Some(strategy) = strategy {
        // Upstream's own strategy names, or any qualified name with a prefix.
        if !strategy.contains('/') {
            if strategy != "OldestEmulationVersion" {
                errs.push(not_supported(
                    "spec.strategy",
                    quoted(strategy),
                    &["OldestEmulationVersion"],
                ));
            }
        } else {
            qualified_name(&mut errs, strategy, "spec.strategy");
        }
    }
    if present(spec, "preferredHolder")
        .and_then(Value::as_str)
        .is_some_and(|h| !h.is_empty())
        && strategy.is_none_or(str::is_empty)
    {
        errs.push(forbidden(
            "spec.preferredHolder",
            "may only be specified if `strategy` is defined",
        ));
    }
    errs
}

/// Upstream's `ValidateEndpointSlice` and `ValidateEndpointSliceUpdate`.
pub fn validate_endpoint_slice(obj: &Value, old: Option<&Value>) -> Errors {
    let mut errs = Errors::new();
    let address_type = s(obj, "addressType");
    match address_type {
        "" => errs.push(required("addressType", "")),
        "IPv4" | "IPv6" | "FQDN" => {}
        other => errs.push(not_supported(
            "addressType",
            quoted(other),
            &["FQDN", "IPv4", "IPv6"],
        )),
    }
    let ports = list(obj, "ports");
    if ports.len() > 20000 {
        errs.push(too_many("ports", ports.len(), 20000));
    } else {
        let mut names = HashSet::new();
        for (i, port) in ports.iter().enumerate() {
            let path = index("ports", i);
            let name = s(port, "name");
            if !name.is_empty() {
                dns1123_label(&mut errs, name, &child(&path, "name"));
            }
            if !names.insert(name) {
                errs.push(duplicate(&child(&path, "name"), quoted(name)));
            }
            match present(port, "protocol").and_then(Value::as_str) {
                None => errs.push(required(&child(&path, "protocol"), "")),
                Some(p) => protocol(&mut errs, p, &child(&path, "protocol")),
            }
            if let Some(app_protocol) = present(port, "appProtocol").and_then(Value::as_str) {
                qualified_name(&mut errs, app_protocol, &child(&path, "appProtocol"));
            }
        }
    }
    let mut endpoint_errs = Errors::new();
    let endpoints = list(obj, "endpoints");
    if endpoints.len() > 1000 {
        endpoint_errs.push(too_many("endpoints", endpoints.len(), 1000));
    } else {
        for (i, endpoint) in endpoints.iter().enumerate() {
            let path = index("endpoints", i);
            let address_path = child(&path, "addresses");
            let addresses = list(endpoint, "addresses");
            if addresses.is_empty() {
                endpoint_errs.push(required(&address_path, "must contain at least 1 address"));
            } else if addresses.len() > 100 {
                endpoint_errs.push(too_many(&address_path, addresses.len(), 100));
            }
            for (j, address) in addresses.iter().enumerate() {
                let address = address.as_str().unwrap_or("");
                let at = index(&address_path, j);
                match address_type {
                    "IPv4" | "IPv6" => match address.parse::<IpAddr>() {
                        Err(_) => endpoint_errs.push(invalid_str(
                            &at,
                            address,
                            "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
                        )),
                        Ok(ip) if ip.is_ipv4() != (address_type == "IPv4") => {
                            endpoint_errs.push(invalid_str(
                                &address_path,
                                address,
                                &format!("must be an {address_type} address"),
                            ))
                        }
                        Ok(_) => {}
                    },
                    "FQDN" => dns1123_subdomain(&mut endpoint_errs, address, &at),
                    _ => {}
                }
            }
            if let Some(node) = present(endpoint, "nodeName").and_then(Value::as_str) {
                object_name(&mut endpoint_errs, node, &child(&path, "nodeName"));
            }
            if let Some(hostname) = present(endpoint, "hostname").and_then(Value::as_str) {
                dns1123_label(&mut endpoint_errs, hostname, &child(&path, "hostname"));
            }
        }
    }
    // Endpoints that did not change are not revalidated.
    if !endpoint_errs.is_empty()
        && old.is_some_and(|old| semantic_eq(old.get("endpoints"), obj.get("endpoints")))
    {
        endpoint_errs.clear();
    }
    errs.extend(endpoint_errs);
    if let Some(old) = old {
        immutable(
            &mut errs,
            obj.get("addressType"),
            old.get("addressType"),
            "addressType",
            quoted(address_type),
        );
    }
    errs
}

const HIGHEST_USER_PRIORITY: i64 = 1_000_000_000;
const SYSTEM_PRIORITY_CLASSES: &[(&str, i64)] = &[
    ("system-node-critical", 2_000_001_000),
    ("system-cluster-critical", 2_000_000_000),
];

/// Upstream's `ValidatePriorityClass` and `ValidatePriorityClassUpdate`.
pub fn validate_priority_class(obj: &Value, old: Option<&Value>) -> Errors {
    let mut errs = Errors::new();
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let value = int(obj, "value").unwrap_or(0);
    let global_default = obj
        .get("globalDefault")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if let Some(old) = old {
        if value != int(old, "value").unwrap_or(0) {
            errs.push(forbidden("value", "may not be changed in an update."));
        }
        immutable(
            &mut errs,
            present(obj, "preemptionPolicy"),
            present(old, "preemptionPolicy"),
            "preemptionPolicy",
            gofmt::optional_str(present(obj, "preemptionPolicy")),
        );
        return errs;
    }
    if name.starts_with("system-") {
        let problem = match SYSTEM_PRIORITY_CLASSES.iter().find(|(n, _)| *n == name) {
            None => Some(format!("{name} is not a known system priority class")),
            Some((_, want)) if *want != value => {
                Some(format!("value of {name} PriorityClass must be {want}"))
            }
            Some(_) if global_default => Some(format!(
                "globalDefault of {name} PriorityClass must be false"
            )),
            Some(_) => None,
        };
        if let Some(problem) = problem {
            errs.push(forbidden(
                "metadata.name",
                &format!(
                    "priority class names with 'system-' prefix are reserved for system use only. error: {problem}"
                ),
            ));
        }
    } else if value > HIGHEST_USER_PRIORITY {
        errs.push(forbidden(
            "value",
            &format!("maximum allowed value of a user defined priority is {HIGHEST_USER_PRIORITY}"),
        ));
    }
    if let Some(policy) = present(obj, "preemptionPolicy").and_then(Value::as_str) {
        match policy {
            "PreemptLowerPriority" | "Never" => {}
            "" => errs.push(required("preemptionPolicy", "")),
            other => errs.push(not_supported(
                "preemptionPolicy",
                BadValue::Str(other.into()),
                &["PreemptLowerPriority", "Never"],
            )),
        }
    }
    errs
}
