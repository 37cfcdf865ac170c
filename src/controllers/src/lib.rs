//! Den's controllers. Each is an ordinary kube-rs client: it never touches Den's storage and
//! works unchanged against any Kubernetes API server.

use std::path::Path;

use anyhow::{Context, Result};
use kube::Client;
use kube::config::{KubeConfigOptions, Kubeconfig};

pub mod namespace;

/// A client from a kubeconfig file, or from the default kubeconfig/in-cluster config.
pub async fn kubeconfig_client(path: Option<&Path>) -> Result<Client> {
    let config = match path {
        Some(path) => {
            let kubeconfig = Kubeconfig::read_from(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?
        }
        None => kube::Config::infer().await?,
    };
    Ok(Client::try_from(config)?)
}

/// Runs every controller until one fails.
pub async fn run(client: Client) -> Result<()> {
    namespace::run(client).await
}
