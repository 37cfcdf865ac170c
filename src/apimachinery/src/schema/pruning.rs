//! Pruning of fields not specified in the schema (upstream's
//! pruning/algorithm.go), plus the ObjectMeta pruning upstream applies to the
//! `metadata` of `x-kubernetes-embedded-resource` objects (objectmeta.Coerce).

use serde_json::{Map, Value};

use super::structural::Structural;

const META_FIELDS: [&str; 3] = ["apiVersion", "kind", "metadata"];

/// Removes fields not specified in `schema` (unless under
/// `x-kubernetes-preserve-unknown-fields: true`) and returns the pruned
/// paths, sorted (`spec.foo`, `spec.list[0].bar`). At the resource root
/// `apiVersion`, `kind` and `metadata` are kept untouched.
pub fn prune(obj: &mut Value, schema: &Structural, is_resource_root: bool) -> Vec<String> {
    let root_clone;
    let schema = if is_resource_root && !schema.extensions.embedded_resource {
        let mut clone = schema.clone();
        clone.extensions.embedded_resource = true;
        root_clone = clone;
        &root_clone
    } else {
        schema
    };
    let mut pruner = Pruner::default();
    pruner.prune(obj, Some(schema), is_resource_root);
    pruner.unknown.sort();
    pruner.unknown
}

#[derive(Default)]
struct Pruner {
    path: Vec<String>,
    unknown: Vec<String>,
}

impl Pruner {
    fn current(&self) -> String {
        self.path.concat()
    }

    fn push_key(&mut self, key: &str) {
        if !self.path.is_empty() {
            self.path.push(".".to_string());
        }
        self.path.push(key.to_string());
    }

    fn push_index(&mut self, i: usize) {
        self.path.push(format!("[{i}]"));
    }

    fn record(&mut self, key: &str) {
        let len = self.path.len();
        self.push_key(key);
        self.unknown.push(self.current());
        self.path.truncate(len);
    }

    fn prune(&mut self, x: &mut Value, s: Option<&Structural>, is_root: bool) {
        if let Some(s) = s.filter(|s| s.extensions.preserve_unknown_fields) {
            self.skip_prune(x, s, is_root);
            return;
        }
        match x {
            Value::Object(map) => self.prune_map(map, s, is_root),
            Value::Array(items) => {
                let item_schema = s.and_then(|s| s.items.as_deref());
                for (i, v) in items.iter_mut().enumerate() {
                    let len = self.path.len();
                    self.push_index(i);
                    self.prune(v, item_schema, false);
                    self.path.truncate(len);
                }
            }
            _ => {}
        }
    }

    fn prune_map(&mut self, map: &mut Map<String, Value>, s: Option<&Structural>, is_root: bool) {
        let Some(s) = s else {
            let keys: Vec<String> = map.keys().cloned().collect();
            for k in keys {
                self.record(&k);
            }
            map.clear();
            return;
        };
        self.prune_embedded_metadata(map, s, is_root);
        let keys: Vec<String> = map.keys().cloned().collect();
        for k in keys {
            if s.extensions.embedded_resource && META_FIELDS.contains(&k.as_str()) {
                continue;
            }
            match sub_schema(s, &k) {
                Some(sub) => self.descend(map, &k, sub),
                None => {
                    if !META_FIELDS.contains(&k.as_str()) || !self.path.is_empty() {
                        self.record(&k);
                    }
                    map.remove(&k);
                }
            }
        }
    }

    /// Descends into `map[k]` with the schema found for it (which may be
    /// `None` for `additionalProperties: true`).
    fn descend(&mut self, map: &mut Map<String, Value>, k: &str, sub: Option<&Structural>) {
        let len = self.path.len();
        self.push_key(k);
        if let Some(v) = map.get_mut(k) {
            self.prune(v, sub, false);
        }
        self.path.truncate(len);
    }

    fn skip_prune(&mut self, x: &mut Value, s: &Structural, is_root: bool) {
        match x {
            Value::Object(map) => {
                self.prune_embedded_metadata(map, s, is_root);
                let keys: Vec<String> = map.keys().cloned().collect();
                for k in keys {
                    if s.extensions.embedded_resource && META_FIELDS.contains(&k.as_str()) {
                        continue;
                    }
                    if let Some(sub) = sub_schema(s, &k) {
                        self.descend(map, &k, sub);
                    }
                }
            }
            Value::Array(items) => {
                let Some(item_schema) = s.items.as_deref() else {
                    return;
                };
                for (i, v) in items.iter_mut().enumerate() {
                    let len = self.path.len();
                    self.push_index(i);
                    self.skip_prune(v, item_schema, false);
                    self.path.truncate(len);
                }
            }
            _ => {}
        }
    }

    /// Embedded (non-root) resources get their metadata reduced to the
    /// fields of ObjectMeta, as upstream's objectmeta.Coerce does when it
    /// round-trips the metadata through metav1.ObjectMeta.
    fn prune_embedded_metadata(
        &mut self,
        map: &mut Map<String, Value>,
        s: &Structural,
        is_root: bool,
    ) {
        if is_root || !s.extensions.embedded_resource {
            return;
        }
        let Some(Value::Object(meta)) = map.get_mut("metadata") else {
            return;
        };
        let prefix = if self.path.is_empty() {
            "metadata".to_string()
        } else {
            format!("{}.metadata", self.current())
        };
        self.unknown.extend(prune_object_meta(meta, &prefix));
    }
}

/// The schema for key `k` of an object: `Some(Some(prop))`, `Some(None)`
/// for additionalProperties without a schema, `None` when not specified.
fn sub_schema<'a>(s: &'a Structural, k: &str) -> Option<Option<&'a Structural>> {
    if let Some(prop) = s.properties.get(k) {
        return Some(Some(prop));
    }
    s.additional_properties.as_ref().map(|a| a.schema())
}

const OBJECT_META_FIELDS: &[&str] = &[
    "name",
    "generateName",
    "namespace",
    "selfLink",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
    "managedFields",
];

const OWNER_REFERENCE_FIELDS: &[&str] = &[
    "apiVersion",
    "kind",
    "name",
    "uid",
    "controller",
    "blockOwnerDeletion",
];

const MANAGED_FIELDS_ENTRY_FIELDS: &[&str] = &[
    "manager",
    "operation",
    "apiVersion",
    "time",
    "fieldsType",
    "fieldsV1",
    "subresource",
];

/// Drops the fields ObjectMeta does not know (recursing into owner
/// references and managed fields entries), and a null creationTimestamp.
/// Returns the dropped paths under `prefix`.
pub fn prune_object_meta(meta: &mut Map<String, Value>, prefix: &str) -> Vec<String> {
    let mut unknown = drop_unknown(meta, OBJECT_META_FIELDS, prefix);
    for (field, known) in [
        ("ownerReferences", OWNER_REFERENCE_FIELDS),
        ("managedFields", MANAGED_FIELDS_ENTRY_FIELDS),
    ] {
        if let Some(Value::Array(entries)) = meta.get_mut(field) {
            for (i, entry) in entries.iter_mut().enumerate() {
                if let Value::Object(e) = entry {
                    unknown.extend(drop_unknown(e, known, &format!("{prefix}.{field}[{i}]")));
                }
            }
        }
    }
    if meta.get("creationTimestamp").is_some_and(Value::is_null) {
        meta.remove("creationTimestamp");
    }
    unknown
}

fn drop_unknown(map: &mut Map<String, Value>, known: &[&str], prefix: &str) -> Vec<String> {
    let unknown: Vec<String> = map
        .keys()
        .filter(|k| !known.contains(&k.as_str()))
        .cloned()
        .collect();
    for k in &unknown {
        map.remove(k);
    }
    unknown.iter().map(|k| format!("{prefix}.{k}")).collect()
}
