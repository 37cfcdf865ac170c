//! The embedded backend: durable on local disk through redb. (Being written.)

use std::path::Path;

use crate::Result;

pub struct EmbeddedBackend {}

impl EmbeddedBackend {
    /// Opens (creating when missing) the database file at `path`.
    pub fn open(_path: &Path) -> Result<Self> {
        todo!()
    }
}
