//! Events decoded and serialized once, shared by every watcher of a resource: with a thousand
//! watchers, an event costs one decode and one encode, not a thousand.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;
use den_storage::KeyValue;
use serde_json::Value;

use crate::objects;
use crate::resources::ResourceInfo;

/// One object as watchers see it: decoded (for selectors and tables) and as JSON bytes.
pub struct Encoded {
    pub value: Value,
    pub json: Bytes,
}

/// How many recent events stay shared; watchers of one burst reach them within it.
const CAPACITY: usize = 4096;

/// (served group/version/plural, key, revision): the served version decides the encoding.
type EventKey = (String, String, i64);

#[derive(Default)]
pub struct EncodedEvents {
    inner: Mutex<Recent>,
}

/// Filled once by whichever watcher gets there first; the others wait for it.
type Slot = Arc<OnceLock<Arc<Encoded>>>;

#[derive(Default)]
struct Recent {
    entries: HashMap<EventKey, Slot>,
    order: VecDeque<EventKey>,
}

impl EncodedEvents {
    /// `kv` decoded as `info` serves it, with `resourceVersion` set to `revision`.
    pub fn get(&self, info: &ResourceInfo, kv: &KeyValue, revision: i64) -> Arc<Encoded> {
        let key: EventKey = (
            format!("{}/{}/{}", info.group, info.version, info.plural),
            kv.key.clone(),
            revision,
        );
        let slot = {
            let mut recent = self.inner.lock().expect("event cache lock");
            match recent.entries.get(&key) {
                Some(slot) => slot.clone(),
                None => {
                    let slot = Slot::default();
                    recent.entries.insert(key.clone(), slot.clone());
                    recent.order.push_back(key);
                    while recent.order.len() > CAPACITY {
                        if let Some(old) = recent.order.pop_front() {
                            recent.entries.remove(&old);
                        }
                    }
                    slot
                }
            }
        };
        slot.get_or_init(|| {
            let mut value = info.decode(kv);
            objects::set_resource_version(&mut value, revision);
            let json = Bytes::from(serde_json::to_vec(&value).expect("JSON values serialize"));
            Arc::new(Encoded { value, json })
        })
        .clone()
    }
}
