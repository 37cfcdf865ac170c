//! Upstream's API server identity (feature `APIServerIdentity`, on by default): every server
//! holds a Lease `kube-system/apiserver-<hash>` labelled `apiserver.kubernetes.io/identity:
//! kube-apiserver`, renews it every 10 seconds, and deletes the expired leases of servers that
//! are gone. Besides telling clients which servers run, the renewals keep the store's revision
//! moving on an idle cluster, as every upstream cluster's does.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::registry::{DeleteOptions, ListOptions, Part};
use crate::resources::ResourceInfo;
use crate::server::ApiServer;

const NAMESPACE: &str = "kube-system";
const IDENTITY_LABEL: &str = "apiserver.kubernetes.io/identity";
const IDENTITY: &str = "kube-apiserver";
const LEASE_DURATION_SECONDS: i64 = 3600;
const RENEW_INTERVAL: Duration = Duration::from_secs(10);
const GC_INTERVAL: Duration = Duration::from_secs(3600);

/// Starts renewing this server's lease and collecting expired ones.
pub fn start(server: Arc<ApiServer>) {
    let hostname = hostname();
    let lease_name = server_id(&hostname);
    let holder = format!("{lease_name}_{}", uuid::Uuid::new_v4());
    tokio::spawn(async move {
        let mut renew = tokio::time::interval(RENEW_INTERVAL);
        let mut gc = tokio::time::interval(GC_INTERVAL);
        loop {
            tokio::select! {
                _ = renew.tick() => {
                    if let Err(e) = renew_lease(&server, &lease_name, &holder, &hostname).await {
                        tracing::warn!("cannot renew the API server identity lease: {}", e.message);
                    }
                }
                _ = gc.tick() => {
                    if let Err(e) = delete_expired_leases(&server).await {
                        tracing::warn!("cannot collect expired identity leases: {}", e.message);
                    }
                }
            }
        }
    });
}

/// Upstream's server ID: `apiserver-` and the lower-case, unpadded base32 of the first 16
/// bytes of the SHA-256 of the length-prefixed hostname and identity.
fn server_id(hostname: &str) -> String {
    let mut data = Vec::new();
    for part in [hostname, IDENTITY] {
        data.extend_from_slice(&(part.len() as u16).to_be_bytes());
        data.extend_from_slice(part.as_bytes());
    }
    let hash = ring::digest::digest(&ring::digest::SHA256, &data);
    format!("apiserver-{}", base32(&hash.as_ref()[..16]).to_lowercase())
}

/// RFC 4648 base32 without padding.
fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &byte in bytes {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

fn leases(server: &ApiServer) -> Arc<ResourceInfo> {
    server
        .resources()
        .get("coordination.k8s.io", "v1", "leases")
        .cloned()
        .expect("leases are built in")
}

fn micro_time(time: DateTime<Utc>) -> String {
    time.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// Creates the lease, or renews it keeping what the holder before us set (as upstream's lease
/// controller does).
async fn renew_lease(
    server: &ApiServer,
    name: &str,
    holder: &str,
    hostname: &str,
) -> Result<(), den_apimachinery::status::ApiError> {
    let info = leases(server);
    let labels = json!({IDENTITY_LABEL: IDENTITY, "kubernetes.io/hostname": hostname});
    let renewed = |current: Option<&Value>| {
        let mut lease = current.cloned().unwrap_or_else(|| {
            json!({
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": name, "namespace": NAMESPACE},
                "spec": {"holderIdentity": holder, "leaseDurationSeconds": LEASE_DURATION_SECONDS},
            })
        });
        lease["spec"]["renewTime"] = json!(micro_time(Utc::now()));
        let meta = crate::objects::meta_mut(&mut lease);
        let existing = meta.entry("labels").or_insert_with(|| json!({}));
        if let (Some(existing), Some(labels)) = (existing.as_object_mut(), labels.as_object()) {
            existing.extend(labels.clone());
        }
        lease
    };
    let updated = server
        .registry
        .update(&info, NAMESPACE, name, Part::Main, false, |current| {
            Ok(renewed(current))
        })
        .await;
    match updated {
        Err(e) if e.code == 404 => match server
            .registry
            .create(&info, NAMESPACE, renewed(None), false)
            .await
        {
            // Another server of the same store got there first; the next tick renews.
            Err(e) if e.code == 409 => {}
            other => {
                other?;
            }
        },
        other => {
            other?;
        }
    }
    Ok(())
}

/// Upstream's identity lease garbage collector: leases of API servers not renewed within
/// their duration are deleted.
async fn delete_expired_leases(
    server: &ApiServer,
) -> Result<(), den_apimachinery::status::ApiError> {
    let info = leases(server);
    let options = ListOptions {
        labels: den_apimachinery::labels::LabelSelector::parse(&format!(
            "{IDENTITY_LABEL}={IDENTITY}"
        ))
        .ok(),
        ..Default::default()
    };
    let page = server.registry.list(&info, NAMESPACE, &options).await?;
    let now = Utc::now();
    for lease in page.items {
        if !expired(&lease, now) {
            continue;
        }
        let name = crate::objects::name(&lease).to_string();
        match server
            .registry
            .delete(&info, NAMESPACE, &name, &DeleteOptions::default())
            .await
        {
            Err(e) if e.code != 404 => return Err(e),
            _ => {}
        }
    }
    Ok(())
}

fn expired(lease: &Value, now: DateTime<Utc>) -> bool {
    let renewed = lease
        .pointer("/spec/renewTime")
        .and_then(Value::as_str)
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok());
    let duration = lease
        .pointer("/spec/leaseDurationSeconds")
        .and_then(Value::as_i64)
        .unwrap_or(LEASE_DURATION_SECONDS);
    match renewed {
        Some(renewed) => renewed.with_timezone(&Utc) + chrono::Duration::seconds(duration) < now,
        // Never renewed: nothing keeps it.
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base32_matches_rfc4648() {
        // RFC 4648 section 10's test vectors, unpadded.
        for (input, want) in [
            ("", ""),
            ("f", "MY"),
            ("fo", "MZXQ"),
            ("foo", "MZXW6"),
            ("foob", "MZXW6YQ"),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI"),
        ] {
            assert_eq!(base32(input.as_bytes()), want);
        }
    }

    #[test]
    fn server_id_is_upstreams() {
        // What kube-apiserver 1.33 names its lease on a host called node-1.
        let id = server_id("node-1");
        assert_eq!(id, "apiserver-lgabes5ywnaqeagh5dny4zlzs4");
        assert_ne!(id, server_id("node-2"));
    }

    #[test]
    fn a_lease_expires_after_its_duration() {
        let now = Utc::now();
        let lease = |renewed: DateTime<Utc>| json!({"spec": {"renewTime": micro_time(renewed), "leaseDurationSeconds": 3600}});
        assert!(!expired(&lease(now - chrono::Duration::seconds(3599)), now));
        assert!(expired(&lease(now - chrono::Duration::seconds(3601)), now));
        assert!(expired(&json!({"spec": {}}), now));
    }
}
