//! The etcd backend (etcd v3 API). (Being written.)

use crate::Result;

pub struct EtcdBackend {}

impl EtcdBackend {
    /// Connects to `endpoints`; every key is stored under `prefix` (e.g. `/registry`).
    pub async fn connect(_endpoints: &[String], _prefix: &str) -> Result<Self> {
        todo!()
    }
}
