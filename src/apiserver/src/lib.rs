//! Den's Kubernetes API server.

pub mod admission;
pub mod auth;
pub mod bootstrap;
pub mod certs;
pub mod conversion;
pub mod crd;
pub mod crd_controller;
pub mod defaults;
pub mod discovery;
pub mod encoded_events;
pub mod errors;
pub mod eviction;
pub mod fieldvalidation;
pub mod handlers;
pub mod identity_lease;
pub mod jsonpath;
pub mod kindvalidation;
pub mod managedfields;
pub mod metrics;
pub mod negotiation;
pub mod objects;
pub mod openapi;
pub mod printers;
pub mod protobuf;
pub mod registry;
pub mod resources;
pub mod scale;
pub mod server;
pub mod services;
pub mod strategicpatch;
pub mod strategy;
pub mod table;
pub mod warning;
pub mod watch;

pub use server::{Config, RunningServer, start};
