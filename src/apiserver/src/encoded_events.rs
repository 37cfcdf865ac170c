//! Events decoded and serialized once, shared by every watcher of a resource: with a thousand
//! watchers, an event costs one decode and one encode, not a thousand, and a plain JSON
//! watcher's line is the same shared bytes for all of them.

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;
use den_storage::KeyValue;
use serde_json::Value;

use crate::objects;
use crate::resources::{Name, ResourceInfo};

/// One object as watchers see it: decoded (for selectors and tables) and as JSON bytes.
pub struct Encoded {
    pub value: Value,
    pub json: Bytes,
    /// The watch lines `{"type":…,"object":…}` of ADDED, MODIFIED and DELETED, made on first use.
    lines: [OnceLock<Bytes>; 3],
}

impl Encoded {
    /// The plain JSON watch line of this object as an event of `event_type`.
    pub fn line(&self, event_type: &str) -> Bytes {
        let slot = match event_type {
            "ADDED" => &self.lines[0],
            "MODIFIED" => &self.lines[1],
            "DELETED" => &self.lines[2],
            other => return line(other, &self.json),
        };
        slot.get_or_init(|| line(event_type, &self.json)).clone()
    }
}

fn line(event_type: &str, json: &[u8]) -> Bytes {
    let mut line = Vec::with_capacity(json.len() + 32);
    line.extend_from_slice(b"{\"type\":\"");
    line.extend_from_slice(event_type.as_bytes());
    line.extend_from_slice(b"\",\"object\":");
    line.extend_from_slice(json);
    line.extend_from_slice(b"}\n");
    Bytes::from(line)
}

/// How many recent events stay shared; watchers of one burst reach them within it.
const CAPACITY: usize = 4096;

/// (hash of the served group/version/plural, revision): a revision names one key's value,
/// and the served version decides the encoding.
type EventKey = (u64, i64);

#[derive(Default)]
pub struct EncodedEvents {
    inner: Mutex<Recent>,
}

/// Filled once by whichever watcher gets there first; the others wait for it.
type Slot = Arc<OnceLock<Arc<Encoded>>>;

/// A cached event with the resource it was encoded as, checked on every hit: a hash
/// collision between two resources must not hand one the other's encoding.
struct Entry {
    served_as: (Name, Name, Name),
    slot: Slot,
}

impl Entry {
    fn serves(&self, info: &ResourceInfo) -> bool {
        let (group, version, plural) = &self.served_as;
        *group == info.group && *version == info.version && *plural == info.plural
    }
}

#[derive(Default)]
struct Recent {
    entries: HashMap<EventKey, Entry>,
    order: VecDeque<EventKey>,
}

impl EncodedEvents {
    /// `kv` decoded as `info` serves it, with `resourceVersion` set to `revision`.
    pub fn get(&self, info: &ResourceInfo, kv: &KeyValue, revision: i64) -> Arc<Encoded> {
        let mut hasher = DefaultHasher::new();
        (&info.group, &info.version, &info.plural).hash(&mut hasher);
        let key: EventKey = (hasher.finish(), revision);
        let slot = {
            let mut recent = self.inner.lock().expect("event cache lock");
            match recent.entries.get(&key) {
                Some(entry) if entry.serves(info) => entry.slot.clone(),
                Some(_) => Slot::default(),
                None => {
                    let slot = Slot::default();
                    let entry = Entry {
                        served_as: (
                            info.group.clone(),
                            info.version.clone(),
                            info.plural.clone(),
                        ),
                        slot: slot.clone(),
                    };
                    recent.entries.insert(key, entry);
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
            Arc::new(Encoded {
                value,
                json,
                lines: Default::default(),
            })
        })
        .clone()
    }
}
