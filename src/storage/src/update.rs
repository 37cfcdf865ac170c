//! `guaranteed_update`: the read-modify-CAS loop, written once over any backend.

use bytes::Bytes;

use crate::{Backend, KeyValue, StorageError};

/// What [`guaranteed_update`] did.
#[derive(Clone, Debug)]
pub struct UpdateOutcome {
    /// The value now stored (unchanged when `written` is false).
    pub kv: KeyValue,
    /// The value the update was computed from (`None` when it created the key).
    pub previous: Option<KeyValue>,
    /// False when the new bytes equalled the stored ones, so nothing was written.
    pub written: bool,
}

/// Reads `key`, asks `try_update` for the new value given the current one (`None` when the
/// key does not exist), and writes it with compare-and-swap, retrying on conflicts with the
/// value that won. Identical bytes are not written. `try_update` returns errors of the
/// caller's type, so API-level checks (preconditions, validation) abort the loop cleanly.
pub async fn guaranteed_update<E, F>(
    backend: &dyn Backend,
    key: &str,
    mut try_update: F,
) -> Result<UpdateOutcome, E>
where
    E: From<StorageError>,
    F: FnMut(Option<&KeyValue>) -> Result<Bytes, E>,
{
    let (mut current, _) = backend.get(key).await?;
    loop {
        let new_value = try_update(current.as_ref())?;
        let result = match &current {
            Some(kv) if kv.value == new_value => {
                return Ok(UpdateOutcome {
                    kv: kv.clone(),
                    previous: Some(kv.clone()),
                    written: false,
                });
            }
            Some(kv) => backend.update(key, new_value, kv.mod_revision).await,
            None => backend.create(key, new_value).await,
        };
        match result {
            Ok(kv) => {
                return Ok(UpdateOutcome {
                    kv,
                    previous: current,
                    written: true,
                });
            }
            Err(StorageError::Conflict { current: won, .. }) => current = won.map(|kv| *kv),
            Err(StorageError::AlreadyExists { .. }) => current = backend.get(key).await?.0,
            Err(e) => return Err(e.into()),
        }
    }
}
