//! Field management: `metadata.managedFields` and server-side apply, as upstream's
//! `k8s.io/apimachinery/pkg/util/managedfields` does it on top of structured-merge-diff.
//!
//! Every write records which manager set which fields. A manager is identified by its name,
//! the operation (`Apply` or `Update`), for updates the API version, and the subresource.
//! An update (create, replace, patch) gives its manager the fields it added or changed and
//! takes them from everyone else; an apply merges the applied configuration into the live
//! object, fails with 409 when it would change fields other managers own (unless forced),
//! and removes the fields the applier applied last time, no longer applies, and nobody else
//! owns.

mod fieldpath;
#[cfg(test)]
mod tests;
mod typed;

use std::collections::BTreeMap;

use den_apimachinery::status::{ApiError, Details};
use den_apimachinery::validation::Cause;
use serde_json::{Map, Value, json};

use fieldpath::path_string;
pub use fieldpath::{PathElement, Set};
pub use typed::TypeRef;

use crate::objects;

/// kubectl's annotation for client-side apply.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";
/// Upstream keeps at most this many `Update` managers; older ones merge into one.
const MAX_UPDATE_MANAGERS: usize = 10;
const ANCIENT_CHANGES: &str = "ancient-changes";
const FIELD_MANAGER_MAX_LENGTH: usize = 128;

/// Paths no manager owns (upstream's `stripMetaManager`).
fn stripped_paths() -> Set {
    let mut set = Set::new();
    for top in ["apiVersion", "kind", "metadata"] {
        set.insert(&[PathElement::field(top)]);
    }
    for field in [
        "name",
        "namespace",
        "creationTimestamp",
        "selfLink",
        "uid",
        "clusterName",
        "generation",
        "managedFields",
        "resourceVersion",
    ] {
        set.insert(&[PathElement::field("metadata"), PathElement::field(field)]);
    }
    set
}

/// A manager's identity; upstream serializes the same fields as the map key.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct ManagerKey {
    manager: String,
    operation: String,
    /// Only for `Update`: an applier is the same manager whatever version it applies.
    api_version: String,
    subresource: String,
}

#[derive(Clone, Debug)]
struct Entry {
    api_version: String,
    time: Option<String>,
    set: Set,
}

type Managed = BTreeMap<ManagerKey, Entry>;

fn decode_managed(value: Option<&Value>) -> Result<Managed, String> {
    let mut managed = Managed::new();
    let Some(entries) = value.filter(|v| !v.is_null()) else {
        return Ok(managed);
    };
    let entries = entries
        .as_array()
        .ok_or("metadata.managedFields must be a list")?;
    for entry in entries {
        let text = |name: &str| {
            entry
                .get(name)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let fields_type = text("fieldsType");
        if fields_type != "FieldsV1" {
            return Err(format!("invalid fieldsType {fields_type:?}"));
        }
        let operation = text("operation");
        let key = ManagerKey {
            manager: text("manager"),
            api_version: if operation == "Apply" {
                String::new()
            } else {
                text("apiVersion")
            },
            operation,
            subresource: text("subresource"),
        };
        let set = Set::from_fields_v1(entry.get("fieldsV1").unwrap_or(&json!({})))?;
        let decoded = Entry {
            api_version: text("apiVersion"),
            time: entry.get("time").and_then(Value::as_str).map(String::from),
            set,
        };
        if managed.insert(key.clone(), decoded).is_some() {
            return Err(format!("found duplicate manager: {}", key.manager));
        }
    }
    Ok(managed)
}

/// The entries in upstream's order: `Apply` first, then by time, manager, version, subresource.
fn encode_managed(managed: &Managed) -> Option<Value> {
    let mut entries: Vec<(&ManagerKey, &Entry)> = managed.iter().collect();
    entries.sort_by(|(ka, a), (kb, b)| {
        ka.operation
            .cmp(&kb.operation)
            .then_with(|| a.time.cmp(&b.time))
            .then_with(|| ka.manager.cmp(&kb.manager))
            .then_with(|| a.api_version.cmp(&b.api_version))
            .then_with(|| ka.subresource.cmp(&kb.subresource))
    });
    let list: Vec<Value> = entries
        .into_iter()
        .map(|(key, entry)| {
            let mut out = Map::new();
            out.insert("manager".into(), json!(key.manager));
            out.insert("operation".into(), json!(key.operation));
            out.insert("apiVersion".into(), json!(entry.api_version));
            if let Some(time) = &entry.time {
                out.insert("time".into(), json!(time));
            }
            out.insert("fieldsType".into(), json!("FieldsV1"));
            out.insert("fieldsV1".into(), entry.set.to_fields_v1());
            if !key.subresource.is_empty() {
                out.insert("subresource".into(), json!(key.subresource));
            }
            Value::Object(out)
        })
        .collect();
    (!list.is_empty()).then_some(Value::Array(list))
}

fn set_managed_fields(obj: &mut Value, managed: &Managed) {
    let meta = objects::meta_mut(obj);
    match encode_managed(managed) {
        Some(list) => meta.insert("managedFields".into(), list),
        None => meta.remove("managedFields"),
    };
}

fn take_managed_fields(obj: &mut Value) -> Option<Value> {
    obj.get_mut("metadata")
        .and_then(Value::as_object_mut)
        .and_then(|m| m.remove("managedFields"))
}

/// Upstream's reset request: `managedFields: []` or `[{}]` clears every entry.
fn is_reset(managed_fields: Option<&Value>) -> bool {
    match managed_fields.and_then(Value::as_array).map(Vec::as_slice) {
        Some([]) => true,
        Some([only]) => only.as_object().is_some_and(Map::is_empty),
        _ => false,
    }
}

/// The manager of a non-apply write: the `fieldManager` parameter, or the User-Agent up to
/// its first `/`, printable characters only, at most 128 bytes.
pub fn manager_or_user_agent(field_manager: Option<&str>, user_agent: &str) -> String {
    if let Some(manager) = field_manager.filter(|m| !m.is_empty()) {
        return manager.to_string();
    }
    let prefix = user_agent.split('/').next().unwrap_or_default();
    let mut out = String::new();
    for c in prefix.chars().filter(|c| !c.is_control()) {
        if out.len() + c.len_utf8() > FIELD_MANAGER_MAX_LENGTH {
            break;
        }
        out.push(c);
    }
    out
}

/// Upstream's `ValidateFieldManager` plus, for apply, that a manager is given.
pub fn validate_field_manager(field_manager: Option<&str>, apply: bool) -> Vec<Cause> {
    let mut causes = Vec::new();
    let manager = field_manager.unwrap_or_default();
    if apply && manager.is_empty() {
        causes.push(Cause {
            reason: "FieldValueRequired".into(),
            message: "Required value: is required for apply patch".into(),
            field: "fieldManager".into(),
        });
    }
    if manager.len() > FIELD_MANAGER_MAX_LENGTH {
        causes.push(Cause {
            reason: "FieldValueTooLong".into(),
            message: format!("Too long: may not be more than {FIELD_MANAGER_MAX_LENGTH} bytes"),
            field: "fieldManager".into(),
        });
    }
    for (i, c) in manager.char_indices() {
        if c.is_control() {
            causes.push(Cause {
                reason: "FieldValueInvalid".into(),
                message: format!(
                    "Invalid value: {}: invalid character U+{:04X} (at position {i})",
                    den_apimachinery::validation::go_quote(manager),
                    c as u32
                ),
                field: "fieldManager".into(),
            });
        }
    }
    causes
}

/// The field manager of one resource version and part (main resource or a subresource).
pub struct FieldManager<'a> {
    ty: TypeRef<'a>,
    /// `group/version` (or `v1`) of the objects.
    api_version: &'a str,
    kind: &'a str,
    /// `""` for the main resource, `status` for the status subresource.
    subresource: &'a str,
    /// Fields the request's part may not set (upstream's reset fields): `status` for the main
    /// resource of kinds with a status subresource, everything but `status` for `status`.
    ignored: Set,
}

/// An apply that changes fields other managers own.
#[derive(Debug)]
struct Conflicts(Vec<(ManagerKey, fieldpath::Path)>);

impl<'a> FieldManager<'a> {
    pub fn new(
        ty: TypeRef<'a>,
        api_version: &'a str,
        kind: &'a str,
        subresource: &'a str,
        top_level_fields: &[&str],
        status_subresource: bool,
    ) -> Self {
        let mut ignored = Set::new();
        if subresource == "status" {
            for field in top_level_fields {
                if !matches!(*field, "status" | "metadata" | "apiVersion" | "kind") {
                    ignored.insert(&[PathElement::field(field)]);
                }
            }
        } else if status_subresource {
            ignored.insert(&[PathElement::field("status")]);
        }
        FieldManager {
            ty,
            api_version,
            kind,
            subresource,
            ignored,
        }
    }

    fn key(&self, manager: &str, operation: &str) -> ManagerKey {
        ManagerKey {
            manager: if manager.is_empty() {
                "unknown".into()
            } else {
                manager.to_string()
            },
            operation: operation.into(),
            api_version: if operation == "Apply" {
                String::new()
            } else {
                self.api_version.into()
            },
            subresource: self.subresource.into(),
        }
    }

    /// Records an update (create, replace or patch) by `manager` in `new`'s managedFields.
    /// `live` is the object before the write, `None` on create. Like upstream's
    /// `UpdateNoErrors`, a failure leaves the object without managedFields rather than
    /// failing the write.
    pub fn update(&self, live: Option<&Value>, new: &mut Value, manager: &str) {
        let requested = take_managed_fields(new);
        let live_managed =
            || decode_managed(live.and_then(|l| l.pointer("/metadata/managedFields")));
        let managed = if !self.subresource.is_empty() {
            live_managed()
        } else if is_reset(requested.as_ref()) {
            Ok(Managed::new())
        } else {
            match decode_managed(requested.as_ref()) {
                Ok(m) if !m.is_empty() => Ok(m),
                _ => live_managed(),
            }
        };
        let mut managed = managed.unwrap_or_default();
        let before = live.map_or_else(empty_object, strip_managed_fields);
        match self.record_update(&before, new, &mut managed, manager) {
            Ok(()) => set_managed_fields(new, &managed),
            Err(e) => tracing::warn!(error = %e, "managedFields not updated"),
        }
    }

    fn record_update(
        &self,
        live: &Value,
        new: &Value,
        managed: &mut Managed,
        manager: &str,
    ) -> Result<(), String> {
        let key = self.key(manager, "Update");
        let changed = self
            .remove_changed_from_others(live, new, managed, None, false)
            .map_err(|e| format!("{e:?}"))?;
        let set = changed.difference(&stripped_paths());
        if !set.is_empty() {
            let previous = managed.remove(&key).map(|e| e.set).unwrap_or_default();
            managed.insert(
                key,
                Entry {
                    api_version: self.api_version.into(),
                    time: Some(objects::now_rfc3339()),
                    set: previous.union(&set),
                },
            );
        }
        cap_update_managers(managed);
        Ok(())
    }

    /// Upstream's `Updater.update`: the fields `live → new` changed are taken from every
    /// manager but `skip`, removed fields from everyone. With `check_conflicts`, taking
    /// fields from another manager is a conflict instead. Returns the changed fields
    /// (added or modified).
    fn remove_changed_from_others(
        &self,
        live: &Value,
        new: &Value,
        managed: &mut Managed,
        skip: Option<&ManagerKey>,
        check_conflicts: bool,
    ) -> Result<Set, ConflictOr> {
        let c = typed::compare(live, new, self.ty)?;
        let changed = c
            .modified
            .union(&c.added)
            .recursive_difference(&self.ignored);
        let removed = c.removed.recursive_difference(&self.ignored);
        if check_conflicts {
            let mut conflicts = Vec::new();
            for (key, entry) in managed.iter() {
                if Some(key) == skip {
                    continue;
                }
                let taken = entry.set.intersection(&changed);
                conflicts.extend(taken.paths().into_iter().map(|p| (key.clone(), p)));
            }
            if !conflicts.is_empty() {
                return Err(ConflictOr::Conflicts(Conflicts(conflicts)));
            }
        }
        for (key, entry) in managed.iter_mut() {
            if Some(key) == skip {
                continue;
            }
            entry.set = entry.set.difference(&changed).difference(&removed);
        }
        managed.retain(|_, e| !e.set.is_empty());
        Ok(changed)
    }

    /// Server-side apply of `config` by `manager` to `live` (`None`: the object does not
    /// exist yet). Returns the object to store, with its managedFields.
    pub fn apply(
        &self,
        live: Option<&Value>,
        config: &Value,
        manager: &str,
        force: bool,
    ) -> Result<Value, ApiError> {
        check_applied_type(config, self.api_version, self.kind)?;
        if config
            .pointer("/metadata/managedFields")
            .is_some_and(|m| !m.is_null())
        {
            return Err(ApiError::bad_request("metadata.managedFields must be nil"));
        }
        let managed = decode_managed(live.and_then(|l| l.pointer("/metadata/managedFields")))
            .map_err(|e| ApiError::internal(&format!("failed to decode managed fields: {e}")))?;
        let live_clean = live.map_or_else(|| json!({}), strip_managed_fields);
        let key = self.key(manager, "Apply");
        let attempt = |force: bool| {
            let mut managed = managed.clone();
            self.apply_once(&live_clean, config, &mut managed, &key, force)
                .map(|obj| (obj, managed))
        };
        let (object, mut managed) = match attempt(force) {
            Ok(done) => done,
            Err(ConflictOr::Conflicts(conflicts)) => {
                // kubectl migrating from client-side apply: conflicts on fields whose live
                // values are still what the last client-side apply set are not conflicts.
                let allowed = (manager == "kubectl")
                    .then(|| self.allowed_by_last_applied(&live_clean))
                    .flatten();
                let remaining: Vec<_> = conflicts
                    .0
                    .into_iter()
                    .filter(|(_, path)| !allowed.as_ref().is_some_and(|a| a.has(path)))
                    .collect();
                if !remaining.is_empty() {
                    return Err(conflict_error(&remaining));
                }
                attempt(true).map_err(|e| e.into_api())?
            }
            Err(other) => return Err(other.into_api()),
        };
        let mut result = match object {
            Some(obj) => {
                if let Some(entry) = managed.get_mut(&key) {
                    entry.time = Some(objects::now_rfc3339());
                }
                obj
            }
            None => live_clean.clone(),
        };
        if let Some(entry) = managed.get_mut(&key) {
            entry.set = entry.set.difference(&stripped_paths());
            if entry.set.is_empty() {
                managed.remove(&key);
            }
        }
        if manager == "kubectl" && has_last_applied(&result) {
            let mut last = config.clone();
            if let Some(annotations) = last
                .pointer_mut("/metadata/annotations")
                .and_then(Value::as_object_mut)
            {
                annotations.remove(LAST_APPLIED);
            }
            let encoded = serde_json::to_string(&last).unwrap_or_default();
            objects::meta_mut(&mut result)
                .entry("annotations")
                .or_insert_with(|| json!({}))[LAST_APPLIED] = json!(encoded);
        }
        set_managed_fields(&mut result, &managed);
        Ok(result)
    }

    /// One apply attempt (upstream's `Updater.Apply`): `None` when nothing changes.
    fn apply_once(
        &self,
        live: &Value,
        config: &Value,
        managed: &mut Managed,
        key: &ManagerKey,
        force: bool,
    ) -> Result<Option<Value>, ConflictOr> {
        let set = typed::to_field_set_strict(config, self.ty)
            .map_err(|e| self.typed_patch_error(config, e))?
            .recursive_difference(&self.ignored);
        let merged =
            typed::merge(live, config, self.ty).map_err(|e| self.typed_patch_error(config, e))?;
        let last = managed.get(key).map(|e| e.set.clone());
        let previous_time = managed.get(key).and_then(|e| e.time.clone());
        managed.insert(
            key.clone(),
            Entry {
                api_version: self.api_version.into(),
                time: previous_time,
                set,
            },
        );
        let pruned = match last.filter(|l| !l.is_empty()) {
            Some(last) => self.prune(&merged, managed, &last)?,
            None => merged,
        };
        self.remove_changed_from_others(live, &pruned, managed, Some(key), !force)?;
        Ok((pruned != *live).then_some(pruned))
    }

    /// Upstream's `prune`: removes what the applier applied last time and no longer applies,
    /// unless another manager owns it.
    fn prune(&self, merged: &Value, managed: &Managed, last: &Set) -> Result<Value, String> {
        let ensure = |s: &Set| typed::ensure_named_fields_are_members(s, self.ty);
        let field_set = |v: &Value| typed::to_field_set(v, self.ty).map(|s| ensure(&s));
        let last = ensure(last);
        let pruned = typed::remove_items(merged, &last, self.ty);
        // Add back what some manager owns.
        let owned = managed
            .values()
            .fold(Set::new(), |acc, e| acc.union(&e.set));
        let merged_set = field_set(merged)?;
        let keep = field_set(&pruned)?.union(&ensure(&owned));
        let pruned = typed::remove_items(merged, &merged_set.difference(&keep), self.ty);
        // Add back what was removed only because its parent was, and the applier never set.
        let removed = merged_set.difference(&field_set(&pruned)?);
        Ok(typed::remove_items(
            merged,
            &removed.intersection(&last),
            self.ty,
        ))
    }

    /// Upstream's error for a configuration that does not fit the schema (a plain error: 500).
    fn typed_patch_error(&self, config: &Value, e: String) -> ConflictOr {
        ConflictOr::Other(format!(
            "failed to create typed patch object ({}; {}/{}): {e}",
            gvk_string(self.api_version, self.kind),
            objects::namespace(config),
            objects::name(config),
        ))
    }

    /// The fields of the last client-side apply whose live values it still decides.
    fn allowed_by_last_applied(&self, live: &Value) -> Option<Set> {
        let annotation = live
            .pointer("/metadata/annotations")?
            .get(LAST_APPLIED)?
            .as_str()?;
        let last: Value = serde_json::from_str(annotation).ok()?;
        if last.get("apiVersion").and_then(Value::as_str) != Some(self.api_version) {
            return None;
        }
        let set = typed::to_field_set(&last, self.ty).ok()?;
        let c = typed::compare(&last, live, self.ty).ok()?;
        Some(
            set.difference(&c.modified)
                .difference(&c.added)
                .difference(&c.removed),
        )
    }
}

/// The outcome of a failed apply step.
#[derive(Debug)]
enum ConflictOr {
    Conflicts(Conflicts),
    Other(String),
}

impl From<String> for ConflictOr {
    fn from(e: String) -> Self {
        ConflictOr::Other(e)
    }
}

impl ConflictOr {
    fn into_api(self) -> ApiError {
        match self {
            ConflictOr::Conflicts(c) => conflict_error(&c.0),
            ConflictOr::Other(e) => ApiError::new(500, "", &e),
        }
    }
}

/// A group-version-kind as Go prints it: `apps/v1, Kind=Deployment`, `/v1, Kind=Pod`.
fn gvk_string(api_version: &str, kind: &str) -> String {
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    format!("{group}/{version}, Kind={kind}")
}

/// Upstream's check that an applied configuration is of the endpoint's kind and version:
/// 400 `invalid object type: <its group-version-kind>`.
pub fn check_applied_type(config: &Value, api_version: &str, kind: &str) -> Result<(), ApiError> {
    let text = |field: &str| config.get(field).and_then(Value::as_str).unwrap_or("");
    if (text("apiVersion"), text("kind")) == (api_version, kind) {
        return Ok(());
    }
    Err(ApiError::bad_request(&format!(
        "invalid object type: {}",
        gvk_string(text("apiVersion"), text("kind"))
    )))
}

/// How upstream names a manager in conflict messages.
fn print_manager(key: &ManagerKey) -> String {
    let mut out = format!("{:?}", key.manager);
    if !key.subresource.is_empty() {
        out = format!("{out} with subresource {:?}", key.subresource);
    }
    if key.operation == "Update" {
        out = format!("{out} using {}", key.api_version);
    }
    out
}

/// 409 with upstream's message and one `FieldManagerConflict` cause per field.
fn conflict_error(conflicts: &[(ManagerKey, fieldpath::Path)]) -> ApiError {
    let causes: Vec<Cause> = conflicts
        .iter()
        .map(|(key, path)| Cause {
            reason: "FieldManagerConflict".into(),
            message: format!("conflict with {}", print_manager(key)),
            field: path_string(path),
        })
        .collect();
    let message = match conflicts {
        [(key, path)] => format!(
            "Apply failed with 1 conflict: conflict with {}: {}",
            print_manager(key),
            path_string(path)
        ),
        _ => {
            let mut by_manager: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for (key, path) in conflicts {
                by_manager
                    .entry(print_manager(key))
                    .or_default()
                    .push(path_string(path));
            }
            let lines: Vec<String> = by_manager
                .into_iter()
                .flat_map(|(manager, paths)| {
                    std::iter::once(format!("conflicts with {manager}:"))
                        .chain(paths.into_iter().map(|p| format!("- {p}")))
                })
                .collect();
            format!(
                "Apply failed with {} conflicts: {}",
                conflicts.len(),
                lines.join("\n")
            )
        }
    };
    let mut err = ApiError::new(409, "Conflict", &message);
    err.details = Some(Box::new(Details {
        causes,
        ..Details::default()
    }));
    err
}

/// Keeps at most [`MAX_UPDATE_MANAGERS`] `Update` entries: the oldest ones merge into
/// `ancient-changes` (per API version), as upstream's `capManagersManager` does.
fn cap_update_managers(managed: &mut Managed) {
    let mut updaters: Vec<ManagerKey> = managed
        .keys()
        .filter(|k| k.operation == "Update")
        .cloned()
        .collect();
    if updaters.len() <= MAX_UPDATE_MANAGERS {
        return;
    }
    updaters.sort_by(|a, b| managed[a].time.cmp(&managed[b].time).then_with(|| a.cmp(b)));
    let mut excess = updaters.len() - MAX_UPDATE_MANAGERS;
    let mut first_per_version: BTreeMap<String, ManagerKey> = BTreeMap::new();
    for key in updaters {
        if excess == 0 {
            break;
        }
        let entry = managed[&key].clone();
        let bucket = ManagerKey {
            manager: ANCIENT_CHANGES.into(),
            operation: "Update".into(),
            api_version: entry.api_version.clone(),
            subresource: String::new(),
        };
        match first_per_version.get(&entry.api_version) {
            None => {
                first_per_version.insert(entry.api_version.clone(), key);
            }
            Some(first) => {
                if !managed.contains_key(&bucket) {
                    let first_entry = managed.remove(first).expect("first updater is present");
                    managed.insert(bucket.clone(), first_entry);
                }
                let merged = managed[&bucket].set.union(&entry.set);
                let slot = managed.get_mut(&bucket).expect("bucket inserted above");
                slot.set = merged;
                slot.time = entry.time;
                managed.remove(&key);
                excess -= 1;
            }
        }
    }
}

fn has_last_applied(obj: &Value) -> bool {
    obj.pointer("/metadata/annotations")
        .and_then(|a| a.get(LAST_APPLIED))
        .and_then(Value::as_str)
        .is_some_and(|s| !s.is_empty())
}

/// What an object that does not exist yet compares as: upstream compares against a new,
/// empty Go object, whose metadata and spec structs exist.
fn empty_object() -> Value {
    json!({"metadata": {}, "spec": {}})
}

fn strip_managed_fields(obj: &Value) -> Value {
    let mut obj = obj.clone();
    take_managed_fields(&mut obj);
    obj
}

/// What a resource's field managers need, owned: the OpenAPI definitions, the schema of the
/// resource's objects and its API version.
pub struct ResourceSchema {
    defs: std::sync::Arc<Map<String, Value>>,
    root: Value,
    api_version: String,
}

const OBJECT_META: &str = "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";

impl ResourceSchema {
    pub fn new(info: &crate::resources::ResourceInfo) -> Self {
        use crate::resources::Codec;
        let root = match &info.codec {
            Codec::Builtin(builtin) => {
                json!({"$ref": format!("#/definitions/{}", (builtin.schema_name)())})
            }
            // A custom resource's schema, with the metadata every object has.
            Codec::Custom(custom) => {
                let mut root = custom.openapi_schema.clone().unwrap_or_else(
                    || json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}),
                );
                if let Some(root) = root.as_object_mut() {
                    let properties = root.entry("properties").or_insert_with(|| json!({}));
                    properties["metadata"] = json!({"$ref": OBJECT_META});
                    properties["apiVersion"] = json!({"type": "string"});
                    properties["kind"] = json!({"type": "string"});
                }
                root
            }
        };
        let defs = match &info.codec {
            Codec::Builtin(builtin) => crate::openapi::kind_definitions(builtin),
            Codec::Custom(_) => crate::openapi::object_meta_definitions(),
        };
        ResourceSchema {
            defs,
            root,
            api_version: info.api_version(),
        }
    }

    /// The field manager of `info`'s objects, for the main resource (`subresource` empty)
    /// or a subresource.
    pub fn field_manager<'a>(
        &'a self,
        info: &'a crate::resources::ResourceInfo,
        subresource: &'a str,
    ) -> FieldManager<'a> {
        let ty = TypeRef::new(&self.defs, &self.root);
        let top_level: Vec<&str> = ty.property_names();
        FieldManager::new(
            ty,
            &self.api_version,
            &info.kind,
            subresource,
            &top_level,
            info.status_subresource,
        )
    }
}
