//! Service defaults and address allocation: ClusterIPs from `--service-cluster-ip-range`,
//! node ports from 30000–32767, each unique across services.

use std::collections::HashSet;
use std::net::Ipv4Addr;

use den_apimachinery::status::ApiError;
use den_apimachinery::validation::Cause;
use rand::Rng;
use serde_json::{Value, json};

use crate::objects;
use crate::server::ServiceRange;

const NODE_PORTS: std::ops::RangeInclusive<i64> = 30000..=32767;

fn invalid(name: &str, field: &str, message: String) -> ApiError {
    ApiError::invalid(
        "",
        "Service",
        name,
        vec![Cause {
            reason: "FieldValueInvalid".into(),
            message,
            field: field.into(),
        }],
    )
}

/// Fills upstream's Service defaults (`defaults.rs`) and allocates addresses not used by
/// `existing`.
pub fn allocate(range: ServiceRange, existing: &[Value], svc: &mut Value) -> Result<(), ApiError> {
    let name = objects::name(svc).to_string();
    crate::defaults::default_service(svc);
    let spec = svc
        .as_object_mut()
        .expect("objects are JSON objects")
        .entry("spec")
        .or_insert_with(|| json!({}));
    let service_type = spec["type"].as_str().unwrap_or("ClusterIP").to_string();
    if service_type == "ExternalName" {
        return Ok(());
    }
    let used_ips: HashSet<&str> = existing
        .iter()
        .filter_map(|s| s.pointer("/spec/clusterIP")?.as_str())
        .collect();
    let requested = spec
        .get("clusterIP")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let ip = match requested.as_str() {
        "None" => "None".to_string(),
        "" => {
            let mut rng = rand::rng();
            let free = (0..range.size.min(65536) * 4).find_map(|_| {
                let candidate =
                    Ipv4Addr::from(range.base + rng.random_range(2..range.size - 1)).to_string();
                (!used_ips.contains(candidate.as_str())).then_some(candidate)
            });
            free.ok_or_else(|| ApiError::internal("failed to allocate a serviceIP: range is full"))?
        }
        ip => {
            let parsed: Ipv4Addr = ip.parse().map_err(|_| {
                invalid(
                    &name,
                    "spec.clusterIPs[0]",
                    format!("Invalid value: \"{ip}\": must be a valid IP address"),
                )
            })?;
            if !range.contains(parsed) {
                return Err(invalid(
                    &name,
                    "spec.clusterIPs",
                    format!(
                        "Invalid value: []string{{\"{ip}\"}}: failed to allocate IP {ip}: the provided IP ({ip}) is not in the valid range. The range of valid IPs is {}/{}",
                        Ipv4Addr::from(range.base),
                        32 - range.size.trailing_zeros()
                    ),
                ));
            }
            if used_ips.contains(ip) {
                return Err(invalid(
                    &name,
                    "spec.clusterIPs",
                    format!(
                        "Invalid value: []string{{\"{ip}\"}}: failed to allocate IP {ip}: provided IP is already allocated"
                    ),
                ));
            }
            ip.to_string()
        }
    };
    spec["clusterIP"] = json!(ip);
    spec["clusterIPs"] = json!([ip]);
    if ip != "None" || spec.get("ipFamilies").is_none() {
        spec["ipFamilies"] = json!(["IPv4"]);
        spec["ipFamilyPolicy"] = json!("SingleStack");
    }
    if matches!(service_type.as_str(), "NodePort" | "LoadBalancer") {
        let used_ports: HashSet<i64> = existing
            .iter()
            .flat_map(|s| {
                s.pointer("/spec/ports")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default()
            })
            .filter_map(|p| p.get("nodePort")?.as_i64())
            .collect();
        let mut rng = rand::rng();
        let mut taken = used_ports;
        if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
            for port in ports.iter_mut() {
                match port.get("nodePort").and_then(Value::as_i64) {
                    Some(p) if taken.contains(&p) => {
                        let message =
                            format!("Invalid value: {p}: provided port is already allocated");
                        return Err(invalid(&name, "spec.ports[0].nodePort", message));
                    }
                    Some(p) => {
                        taken.insert(p);
                    }
                    None => {
                        let free = (0..100_000)
                            .map(|_| rng.random_range(NODE_PORTS))
                            .find(|p| !taken.contains(p))
                            .ok_or_else(|| {
                                ApiError::internal("failed to allocate a nodePort: range is full")
                            })?;
                        taken.insert(free);
                        port["nodePort"] = json!(free);
                    }
                }
            }
        }
    }
    Ok(())
}

fn needs_cluster_ip(spec: &Value) -> bool {
    spec.get("type").and_then(Value::as_str) != Some("ExternalName")
}

fn needs_node_port(spec: &Value) -> bool {
    matches!(
        spec.get("type").and_then(Value::as_str),
        Some("NodePort" | "LoadBalancer")
    )
}

fn node_ports(spec: &Value) -> Vec<i64> {
    spec.get("ports")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|p| p.get("nodePort").and_then(Value::as_i64).unwrap_or(0))
        .collect()
}

/// Upstream's service update rules for addresses (`patchAllocatedValues` and
/// `dropTypeDependentFields`): a replacement that leaves out what the server allocated keeps
/// the old values, and a type that no longer needs them drops the ones it did not change.
pub fn keep_allocated_values(new: &mut Value, old: &Value) {
    let empty = json!({});
    let old_spec = old.get("spec").unwrap_or(&empty).clone();
    let Some(spec) = new.get_mut("spec").filter(|s| s.is_object()) else {
        return;
    };
    if needs_cluster_ip(&old_spec) && needs_cluster_ip(spec) {
        for field in ["clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"] {
            let unset = match spec.get(field) {
                None | Some(Value::Null) => true,
                Some(Value::String(s)) => s.is_empty(),
                Some(Value::Array(a)) => a.is_empty(),
                Some(_) => false,
            };
            if unset && let Some(value) = old_spec.get(field) {
                spec[field] = value.clone();
            }
        }
    }
    if needs_node_port(&old_spec) && needs_node_port(spec) {
        let old_ports: Vec<(String, i64)> = old_spec
            .get("ports")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|p| {
                let name = p
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                (name, p.get("nodePort").and_then(Value::as_i64).unwrap_or(0))
            })
            .collect();
        let new_used = node_ports(spec);
        let used: HashSet<i64> = node_ports(&old_spec)
            .into_iter()
            .filter(|p| *p != 0 && new_used.contains(p))
            .collect();
        if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
            for port in ports {
                if port.get("nodePort").and_then(Value::as_i64).unwrap_or(0) != 0 {
                    continue;
                }
                let name = port.get("name").and_then(Value::as_str).unwrap_or("");
                if let Some((_, old_port)) = old_ports.iter().find(|(n, _)| n == name)
                    && *old_port != 0
                    && !used.contains(old_port)
                {
                    port["nodePort"] = json!(old_port);
                }
            }
        }
    }
    if needs_cluster_ip(&old_spec)
        && !needs_cluster_ip(spec)
        && let Some(map) = spec.as_object_mut()
    {
        for field in ["clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"] {
            if map.get(field) == old_spec.get(field) {
                map.remove(field);
            }
        }
    }
    let spec_now = spec.clone();
    if needs_node_port(&old_spec)
        && !needs_node_port(&spec_now)
        && node_ports(&spec_now) == node_ports(&old_spec)
        && let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut)
    {
        for port in ports {
            if let Some(p) = port.as_object_mut() {
                p.remove("nodePort");
            }
        }
    }
    let was_lb = old_spec.get("type").and_then(Value::as_str) == Some("LoadBalancer");
    let externally_accessible = externally_accessible_spec(spec);
    let Some(map) = spec.as_object_mut() else {
        return;
    };
    if was_lb
        && map.get("type").and_then(Value::as_str) != Some("LoadBalancer")
        && map.get("allocateLoadBalancerNodePorts").is_some()
        && map.get("allocateLoadBalancerNodePorts") == old_spec.get("allocateLoadBalancerNodePorts")
    {
        map.remove("allocateLoadBalancerNodePorts");
    }
    if externally_accessible_spec(&old_spec)
        && !externally_accessible
        && map.get("externalTrafficPolicy") == old_spec.get("externalTrafficPolicy")
    {
        map.remove("externalTrafficPolicy");
    }
}

/// Upstream's `ExternallyAccessible`: node ports, load balancers, or external IPs.
fn externally_accessible_spec(spec: &Value) -> bool {
    match spec.get("type").and_then(Value::as_str) {
        Some("LoadBalancer" | "NodePort") => true,
        Some("ClusterIP") => spec
            .get("externalIPs")
            .and_then(Value::as_array)
            .is_some_and(|ips| !ips.is_empty()),
        _ => false,
    }
}
