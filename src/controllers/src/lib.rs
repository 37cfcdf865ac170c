//! Den's controllers. Each is an ordinary kube-rs client: it never touches Den's storage and
//! works unchanged against any Kubernetes API server.

use std::path::Path;

use anyhow::{Context, Result};
use kube::api::{Api, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;

pub mod namespace;
pub mod resourcequota;
pub mod rootcacert;
pub mod serviceaccount;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("kube API error: {0}")]
    Kube(#[from] kube::Error),
}

/// A client and the cluster's CA bundle, from a kubeconfig file or the default places.
pub async fn connect(path: Option<&Path>) -> Result<(Client, String)> {
    let config = match path {
        Some(path) => {
            let kubeconfig = Kubeconfig::read_from(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?
        }
        None => kube::Config::infer().await?,
    };
    let ca_bundle = config
        .root_cert
        .as_ref()
        .map(|certs| {
            certs
                .iter()
                .map(|der| pem("CERTIFICATE", der))
                .collect::<String>()
        })
        .unwrap_or_default();
    Ok((Client::try_from(config)?, ca_bundle))
}

fn pem(label: &str, der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).expect("base64 is ASCII"))
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

/// Creates `obj`, treating "already exists" as success: another writer got there first.
pub async fn create_ignoring_conflicts<K>(api: &Api<K>, obj: &K) -> Result<(), kube::Error>
where
    K: Resource + Clone + Serialize + DeserializeOwned + std::fmt::Debug,
{
    match api.create(&PostParams::default(), obj).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(()),
        Err(e) => Err(e),
    }
}

/// Runs every controller until one fails.
pub async fn run(client: Client, ca_bundle: String) -> Result<()> {
    tokio::try_join!(
        namespace::run(client.clone()),
        resourcequota::run(client.clone()),
        serviceaccount::run(client.clone()),
        rootcacert::run(client, ca_bundle),
    )?;
    Ok(())
}
