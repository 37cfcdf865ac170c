//! Den's Kubernetes API server.

pub mod resources;
