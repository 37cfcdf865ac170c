//! Services: upstream's `ValidateService` and `ValidateServiceUpdate`.

use std::collections::HashSet;
use std::net::IpAddr;

use den_apimachinery::validation::BadValue;
use serde_json::Value;

use super::gofmt;
use super::pod::protocol;
use super::*;

const IP_ADDRESS: &str = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)";
const MAX_CLIENT_IP_AFFINITY_SECONDS: i64 = 86400;

fn is_headless(spec: &Value) -> bool {
    matches!(list(spec, "clusterIPs"), [only] if only.as_str() == Some("None"))
}

fn externally_accessible(spec: &Value) -> bool {
    match s(spec, "type") {
        "LoadBalancer" | "NodePort" => true,
        "ClusterIP" => !list(spec, "externalIPs").is_empty(),
        _ => false,
    }
}

fn cluster_ips(spec: &Value) -> String {
    gofmt::string_slice(present(spec, "clusterIPs"))
}

pub fn validate_service(obj: &Value, old: Option<&Value>) -> Errors {
    let mut errs = Errors::new();
    let spec = obj.get("spec").unwrap_or(null());
    if let Some(old) = old {
        let old_spec = old.get("spec").unwrap_or(null());
        upgrade_downgrade_cluster_ips(&mut errs, spec, old_spec);
    }
    let headless = is_headless(spec);
    let service_type = s(spec, "type");
    if list(spec, "ports").is_empty() && !headless && service_type != "ExternalName" {
        errs.push(required("spec.ports", ""));
    }
    match service_type {
        "LoadBalancer" | "NodePort" if headless => errs.push(invalid_str(
            "spec.clusterIPs[0]",
            "None",
            &format!("may not be set to 'None' for {service_type} services"),
        )),
        "ExternalName" => {
            if !list(spec, "clusterIPs").is_empty() {
                errs.push(forbidden(
                    "spec.clusterIPs",
                    "may not be set for ExternalName services",
                ));
            }
            if !list(spec, "ipFamilies").is_empty() {
                errs.push(forbidden(
                    "spec.ipFamilies",
                    "may not be set for ExternalName services",
                ));
            }
            if present(spec, "ipFamilyPolicy").is_some() {
                errs.push(forbidden(
                    "spec.ipFamilyPolicy",
                    "may not be set for ExternalName services",
                ));
            }
            let cname = s(spec, "externalName");
            let cname = cname.strip_suffix('.').unwrap_or(cname);
            if cname.is_empty() {
                errs.push(required("spec.externalName", ""));
            } else {
                dns1123_subdomain(&mut errs, cname, "spec.externalName");
            }
        }
        _ => {}
    }
    let ports = list(spec, "ports");
    let mut names = HashSet::new();
    for (i, port) in ports.iter().enumerate() {
        let path = index("spec.ports", i);
        let name = s(port, "name");
        if ports.len() > 1 && name.is_empty() {
            errs.push(required(&child(&path, "name"), ""));
        } else if !name.is_empty() {
            dns1123_label(&mut errs, name, &child(&path, "name"));
            if !names.insert(name) {
                errs.push(duplicate(&child(&path, "name"), quoted(name)));
            }
        }
        let number = int(port, "port").unwrap_or(0);
        for msg in port_number_errors(number) {
            errs.push(invalid_int(&child(&path, "port"), number, &msg));
        }
        protocol(&mut errs, s(port, "protocol"), &child(&path, "protocol"));
        port_num_or_name(
            &mut errs,
            port.get("targetPort"),
            &child(&path, "targetPort"),
        );
        if let Some(app_protocol) = present(port, "appProtocol").and_then(Value::as_str) {
            qualified_name(&mut errs, app_protocol, &child(&path, "appProtocol"));
        }
    }
    labels(&mut errs, spec, "selector", "spec.selector");
    match s(spec, "sessionAffinity") {
        "" => errs.push(required("spec.sessionAffinity", "")),
        "ClientIP" => client_ip_affinity(&mut errs, present(spec, "sessionAffinityConfig")),
        "None" => {
            if present(spec, "sessionAffinityConfig").is_some() {
                errs.push(forbidden(
                    "spec.sessionAffinityConfig",
                    "must not be set when session affinity is None",
                ));
            }
        }
        other => errs.push(not_supported(
            "spec.sessionAffinity",
            quoted(other),
            &["ClientIP", "None"],
        )),
    }
    cluster_ips_related_fields(&mut errs, spec, old);
    let old_external: Vec<&str> = old
        .map(|o| list(o.get("spec").unwrap_or(null()), "externalIPs"))
        .unwrap_or(&[])
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for (i, ip) in list(spec, "externalIPs").iter().enumerate() {
        let ip = ip.as_str().unwrap_or("");
        if !old_external.contains(&ip) && ip.parse::<IpAddr>().is_err() {
            errs.push(invalid_str(&index("spec.externalIPs", i), ip, IP_ADDRESS));
        }
    }
    match service_type {
        "" => errs.push(required("spec.type", "")),
        "ClusterIP" | "NodePort" | "LoadBalancer" | "ExternalName" => {}
        other => errs.push(not_supported(
            "spec.type",
            quoted(other),
            &["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"],
        )),
    }
    if service_type == "ClusterIP" {
        for (i, port) in ports.iter().enumerate() {
            if int(port, "nodePort").unwrap_or(0) != 0 {
                errs.push(forbidden(
                    &format!("spec.ports[{i}].nodePort"),
                    "may not be used when `type` is 'ClusterIP'",
                ));
            }
        }
    }
    let mut node_ports = HashSet::new();
    for (i, port) in ports.iter().enumerate() {
        let node_port = int(port, "nodePort").unwrap_or(0);
        if node_port != 0 && !node_ports.insert((s(port, "protocol"), node_port)) {
            errs.push(duplicate(
                &format!("spec.ports[{i}].nodePort"),
                BadValue::Int(node_port),
            ));
        }
    }
    let mut seen = HashSet::new();
    for (i, port) in ports.iter().enumerate() {
        let key = (s(port, "protocol"), int(port, "port").unwrap_or(0));
        if !seen.insert(key) {
            errs.push(duplicate(
                &index("spec.ports", i),
                raw(format!(
                    "core.ServicePort{{Name:\"\", Protocol:{}, AppProtocol:(*string)(nil), Port:{}, TargetPort:intstr.IntOrString{{Type:0, IntVal:0, StrVal:\"\"}}, NodePort:0}}",
                    go_quoted(key.0),
                    key.1
                )),
            ));
        }
    }
    if !list(spec, "loadBalancerSourceRanges").is_empty() && service_type != "LoadBalancer" {
        errs.push(forbidden(
            "spec.LoadBalancerSourceRanges",
            "may only be used when `type` is 'LoadBalancer'",
        ));
    }
    if present(spec, "allocateLoadBalancerNodePorts").is_some() && service_type != "LoadBalancer" {
        errs.push(forbidden(
            "spec.allocateLoadBalancerNodePorts",
            "may only be used when `type` is 'LoadBalancer'",
        ));
    }
    if service_type == "LoadBalancer" && present(spec, "allocateLoadBalancerNodePorts").is_none() {
        errs.push(required("allocateLoadBalancerNodePorts", ""));
    }
    let traffic_policy = s(spec, "externalTrafficPolicy");
    if !externally_accessible(spec) {
        if !traffic_policy.is_empty() {
            errs.push(invalid_str(
                "spec.externalTrafficPolicy",
                traffic_policy,
                "may only be set for externally-accessible services",
            ));
        }
    } else if traffic_policy.is_empty() {
        errs.push(required("spec.externalTrafficPolicy", ""));
    } else if !matches!(traffic_policy, "Cluster" | "Local") {
        errs.push(not_supported(
            "spec.externalTrafficPolicy",
            quoted(traffic_policy),
            &["Cluster", "Local"],
        ));
    }
    let needs_health_check = service_type == "LoadBalancer" && traffic_policy == "Local";
    if let Some(port) = int(spec, "healthCheckNodePort").filter(|p| *p != 0)
        && !needs_health_check
    {
        errs.push(invalid_int(
            "spec.healthCheckNodePort",
            port,
            "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'",
        ));
    }
    match present(spec, "internalTrafficPolicy").and_then(Value::as_str) {
        None if matches!(service_type, "NodePort" | "LoadBalancer" | "ClusterIP") => {
            errs.push(required("spec.internalTrafficPolicy", ""));
        }
        Some(policy) if !matches!(policy, "Cluster" | "Local") => errs.push(not_supported(
            "spec.internalTrafficPolicy",
            quoted(policy),
            &["Cluster", "Local"],
        )),
        _ => {}
    }
    if let Some(distribution) = present(spec, "trafficDistribution").and_then(Value::as_str)
        && distribution != "PreferClose"
    {
        errs.push(not_supported(
            "spec.trafficDistribution",
            quoted(distribution),
            &["PreferClose"],
        ));
    }
    errs
}

fn client_ip_affinity(errs: &mut Errors, config: Option<&Value>) {
    const WHEN: &str = "when session affinity type is ClientIP";
    let Some(config) = config else {
        errs.push(required("spec.sessionAffinityConfig", WHEN));
        return;
    };
    let Some(client_ip) = present(config, "clientIP") else {
        errs.push(required("spec.sessionAffinityConfig.clientIP", WHEN));
        return;
    };
    let path = "spec.sessionAffinityConfig.clientIP.timeoutSeconds";
    match int(client_ip, "timeoutSeconds") {
        None => errs.push(required(path, WHEN)),
        Some(t) if t <= 0 || t > MAX_CLIENT_IP_AFFINITY_SECONDS => errs.push(invalid_int(
            path,
            t,
            &format!("must be greater than 0 and less than {MAX_CLIENT_IP_AFFINITY_SECONDS}"),
        )),
        Some(_) => {}
    }
}

/// Upstream's `ValidateServiceClusterIPsRelatedFields`.
fn cluster_ips_related_fields(errs: &mut Errors, spec: &Value, old: Option<&Value>) {
    if s(spec, "type") == "ExternalName" {
        return;
    }
    let ips: Vec<&str> = list(spec, "clusterIPs")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let cluster_ip = s(spec, "clusterIP");
    if !cluster_ip.is_empty() {
        match ips.first() {
            None => errs.push(required("spec.clusterIPs", "")),
            Some(first) if *first != cluster_ip => errs.push(invalid(
                "spec.clusterIPs",
                raw(cluster_ips(spec)),
                "first value must match `clusterIP`",
            )),
            Some(_) => {}
        }
    } else if !ips.is_empty() {
        errs.push(invalid(
            "spec.clusterIPs",
            raw(cluster_ips(spec)),
            "must be empty when `clusterIP` is not specified",
        ));
    }
    let mut families = HashSet::new();
    for (i, family) in list(spec, "ipFamilies").iter().enumerate() {
        let family = family.as_str().unwrap_or("");
        let path = index("spec.ipFamilies", i);
        if !matches!(family, "IPv4" | "IPv6") {
            errs.push(not_supported(&path, quoted(family), &["IPv4", "IPv6"]));
        }
        if !families.insert(family) {
            errs.push(duplicate(&path, quoted(family)));
        }
    }
    if let Some(policy) = present(spec, "ipFamilyPolicy").and_then(Value::as_str)
        && !matches!(
            policy,
            "SingleStack" | "PreferDualStack" | "RequireDualStack"
        )
    {
        errs.push(not_supported(
            "spec.ipFamilyPolicy",
            quoted(policy),
            &["PreferDualStack", "RequireDualStack", "SingleStack"],
        ));
    }
    let old_ips: Vec<&str> = old
        .map(|o| list(o.get("spec").unwrap_or(null()), "clusterIPs"))
        .unwrap_or(&[])
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let mut bad = false;
    for (i, ip) in ips.iter().enumerate() {
        if i == 0 && *ip == "None" {
            if ips.len() > 1 {
                bad = true;
                errs.push(invalid(
                    "spec.clusterIPs",
                    raw(cluster_ips(spec)),
                    "'None' must be the first and only value",
                ));
            }
            continue;
        }
        if !old_ips.contains(ip) && ip.parse::<IpAddr>().is_err() {
            bad = true;
            errs.push(invalid_str(&index("spec.clusterIPs", i), ip, IP_ADDRESS));
        }
    }
    if ips.len() > 2 {
        errs.push(invalid(
            "spec.clusterIPs",
            raw(cluster_ips(spec)),
            "may only hold up to 2 values",
        ));
    }
    if bad {
        return;
    }
    if ips.len() > 1 {
        let v6: Vec<bool> = ips
            .iter()
            .map(|ip| matches!(ip.parse::<IpAddr>(), Ok(IpAddr::V6(_))))
            .collect();
        if ips.len() != 2 || v6[0] == v6[1] {
            errs.push(invalid(
                "spec.clusterIPs",
                raw(cluster_ips(spec)),
                "may specify no more than one IP for each IP family",
            ));
        }
    }
    if !is_headless(spec) {
        let families: Vec<&str> = list(spec, "ipFamilies")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        for (i, (ip, family)) in ips.iter().zip(families).enumerate() {
            let is_v6 = matches!(ip.parse::<IpAddr>(), Ok(IpAddr::V6(_)));
            if family == "IPv4" && is_v6 {
                errs.push(invalid_str(
                    &index("spec.clusterIPs", i),
                    ip,
                    &format!("expected an IPv4 value as indicated by `ipFamilies[{i}]`"),
                ));
            }
            if family == "IPv6" && !is_v6 {
                errs.push(invalid_str(
                    &index("spec.clusterIPs", i),
                    ip,
                    &format!("expected an IPv6 value as indicated by `ipFamilies[{i}]`"),
                ));
            }
        }
    }
}

/// Upstream's `validateUpgradeDowngradeClusterIPs`: the primary ClusterIP stays.
fn upgrade_downgrade_cluster_ips(errs: &mut Errors, spec: &Value, old_spec: &Value) {
    if s(spec, "type") == "ExternalName" || s(old_spec, "type") == "ExternalName" {
        return;
    }
    if is_headless(spec) && is_headless(old_spec) {
        return;
    }
    let new_ips = list(spec, "clusterIPs");
    let old_ips = list(old_spec, "clusterIPs");
    if new_ips.len() == old_ips.len() {
        for (i, (old_ip, new_ip)) in old_ips.iter().zip(new_ips).enumerate() {
            if old_ip != new_ip {
                errs.push(invalid(
                    &index("spec.clusterIPs", i),
                    raw(cluster_ips(spec)),
                    "may not change once set",
                ));
            }
        }
    } else if old_ips.len() > new_ips.len() {
        if new_ips.is_empty() {
            errs.push(invalid(
                "spec.clusterIPs[0]",
                raw(cluster_ips(spec)),
                "primary clusterIP can not be unset",
            ));
        }
        if let (Some(old_first), Some(new_first)) = (old_ips.first(), new_ips.first())
            && old_first != new_first
        {
            errs.push(invalid(
                "spec.clusterIPs[0]",
                raw(cluster_ips(spec)),
                "may not change once set",
            ));
        }
    } else if let (Some(old_first), Some(new_first)) = (old_ips.first(), new_ips.first())
        && old_first != new_first
    {
        errs.push(invalid(
            "spec.clusterIPs[0]",
            raw(cluster_ips(spec)),
            "may not change once set",
        ));
    }
}
