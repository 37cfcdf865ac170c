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

/// Fills upstream's Service defaults and allocates addresses not used by `existing`.
pub fn allocate(range: ServiceRange, existing: &[Value], svc: &mut Value) -> Result<(), ApiError> {
    let name = objects::name(svc).to_string();
    let spec = svc
        .as_object_mut()
        .expect("objects are JSON objects")
        .entry("spec")
        .or_insert_with(|| json!({}));
    if spec.get("type").is_none() {
        spec["type"] = json!("ClusterIP");
    }
    let service_type = spec["type"].as_str().unwrap_or("ClusterIP").to_string();
    if spec.get("sessionAffinity").is_none() {
        spec["sessionAffinity"] = json!("None");
    }
    if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
        for port in ports {
            if port.get("protocol").is_none() {
                port["protocol"] = json!("TCP");
            }
            if port.get("targetPort").is_none()
                && let Some(p) = port.get("port").cloned()
            {
                port["targetPort"] = p;
            }
        }
    }
    if service_type == "ExternalName" {
        return Ok(());
    }
    if spec.get("internalTrafficPolicy").is_none() {
        spec["internalTrafficPolicy"] = json!("Cluster");
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
        if spec.get("externalTrafficPolicy").is_none() {
            spec["externalTrafficPolicy"] = json!("Cluster");
        }
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
