//! The generic registry: one store for every resource. The hook order of create and update
//! (system metadata → generateName → prepare → validate → store) is written once here; the
//! per-kind pieces live in `strategy.rs`.

use std::sync::Arc;

use base64::Engine;
use bytes::Bytes;
use den_apimachinery::fields::FieldSelector;
use den_apimachinery::labels::LabelSelector;
use den_apimachinery::status::ApiError;
use den_storage::{Backend, KeyValue, Revision, StorageError, guaranteed_update};
use rand::Rng;
use serde_json::{Value, json};

use crate::admission::{Admission, Attributes, Operation, Validator};
use crate::auth::UserInfo;
use crate::objects::{self, meta_mut};
use crate::resources::ResourceInfo;
use crate::{defaults, strategy};

/// Upstream's limit on a stored object (etcd's default request limit).
pub const MAX_OBJECT_BYTES: usize = 1_572_864;

/// The part of a resource a write addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    Main,
    Status,
    /// `namespaces/{name}/finalize`: only `spec.finalizers` changes.
    Finalize,
}

pub struct Registry {
    pub storage: Arc<dyn Backend>,
    pub admission: Admission,
}

/// Maps a storage error to the API error upstream answers, for `name` of `info`.
pub fn storage_error(info: &ResourceInfo, name: &str, err: StorageError) -> ApiError {
    match err {
        StorageError::NotFound { .. } => ApiError::not_found(&info.group, &info.plural, name),
        StorageError::AlreadyExists { .. } => {
            ApiError::already_exists(&info.group, &info.plural, name)
        }
        StorageError::Conflict { .. } => {
            ApiError::conflict(&info.group, &info.plural, name, OPTIMISTIC_LOCK)
        }
        StorageError::Compacted {
            requested,
            compacted,
        } => ApiError::resource_expired(&format!(
            "too old resource version: {requested} ({compacted})"
        )),
        StorageError::FutureRevision { requested, current } => {
            crate::errors::too_large_resource_version(requested, current)
        }
        StorageError::Unavailable(msg) => ApiError::service_unavailable(&msg),
        StorageError::Internal(msg) => ApiError::internal(&msg),
    }
}

pub const OPTIMISTIC_LOCK: &str =
    "the object has been modified; please apply your changes to the latest version and try again";

/// Errors inside a `guaranteed_update` loop: already an API error, or from storage.
pub enum UpdateError {
    Api(ApiError),
    Storage(StorageError),
}

impl From<StorageError> for UpdateError {
    fn from(e: StorageError) -> Self {
        UpdateError::Storage(e)
    }
}

impl From<ApiError> for UpdateError {
    fn from(e: ApiError) -> Self {
        UpdateError::Api(e)
    }
}

impl UpdateError {
    fn into_api(self, info: &ResourceInfo, name: &str) -> ApiError {
        match self {
            UpdateError::Api(e) => e,
            UpdateError::Storage(e) => storage_error(info, name, e),
        }
    }
}

/// Options of a list, already parsed and validated.
#[derive(Default)]
pub struct ListOptions {
    pub labels: Option<LabelSelector>,
    pub fields: Option<FieldSelector>,
    pub limit: usize,
    pub continue_token: Option<String>,
    pub resource_version: Option<String>,
    pub resource_version_match: Option<String>,
}

pub struct ListPage<T = Value> {
    pub items: Vec<T>,
    pub revision: Revision,
    pub continue_token: Option<String>,
    pub remaining: Option<i64>,
}

/// Options of a delete, from the query and the `DeleteOptions` body.
#[derive(Default, Clone)]
pub struct DeleteOptions {
    pub grace_period_seconds: Option<i64>,
    pub precondition_uid: Option<String>,
    pub precondition_resource_version: Option<String>,
    pub dry_run: bool,
}

pub struct Deleted {
    pub object: Value,
    /// False when the object only got a deletionTimestamp (finalizers or grace period).
    pub immediately: bool,
}

pub fn key(info: &ResourceInfo, namespace: &str, name: &str) -> String {
    if info.namespaced {
        format!("{}{namespace}/{name}", info.key_prefix())
    } else {
        format!("{}{name}", info.key_prefix())
    }
}

fn collection_prefix(info: &ResourceInfo, namespace: &str) -> String {
    if info.namespaced && !namespace.is_empty() {
        format!("{}{namespace}/", info.key_prefix())
    } else {
        info.key_prefix()
    }
}

/// Whether a deleting object may now leave the store.
fn ready_to_delete(info: &ResourceInfo, obj: &Value) -> bool {
    objects::is_deleting(obj) && nothing_holds(info, obj)
}

/// No finalizer holds `obj` back: neither `metadata.finalizers` nor, for a namespace, the
/// `spec.finalizers` the namespace controller clears.
fn nothing_holds(info: &ResourceInfo, obj: &Value) -> bool {
    let spec_finalizers_done = !info.is("", "namespaces")
        || obj
            .pointer("/spec/finalizers")
            .and_then(Value::as_array)
            .is_none_or(|f| f.is_empty());
    objects::finalizers(obj).is_empty() && spec_finalizers_done
}

fn encode_checked(info: &ResourceInfo, obj: &Value) -> Result<Bytes, ApiError> {
    let bytes = info.encode(obj);
    if bytes.len() > MAX_OBJECT_BYTES {
        return Err(ApiError::request_entity_too_large(
            "etcdserver: request is too large",
        ));
    }
    Ok(bytes)
}

const NAME_SUFFIX_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

pub(crate) fn generate_name(prefix: &str) -> String {
    let mut rng = rand::rng();
    let suffix: String = (0..5)
        .map(|_| NAME_SUFFIX_ALPHABET[rng.random_range(0..NAME_SUFFIX_ALPHABET.len())] as char)
        .collect();
    // Upstream trims the prefix so the result stays within 63 characters.
    let keep = prefix.len().min(58);
    format!("{}{suffix}", &prefix[..keep])
}

impl Registry {
    pub async fn get(
        &self,
        info: &ResourceInfo,
        namespace: &str,
        name: &str,
    ) -> Result<Value, ApiError> {
        let (kv, _) = self
            .storage
            .get(&key(info, namespace, name))
            .await
            .map_err(|e| storage_error(info, name, e))?;
        match kv {
            Some(kv) => Ok(info.decode(&kv)),
            None => Err(ApiError::not_found(&info.group, &info.plural, name)),
        }
    }

    /// Upstream's `BeforeCreate` and the store write, without admission (the server's own
    /// writes). `namespace` is from the URL.
    pub async fn create(
        &self,
        info: &ResourceInfo,
        namespace: &str,
        obj: Value,
        dry_run: bool,
    ) -> Result<Value, ApiError> {
        self.create_inner(info, namespace, obj, dry_run, None).await
    }

    /// A client's create: admitted by `user`'s request.
    pub async fn create_admitted(
        &self,
        info: &ResourceInfo,
        namespace: &str,
        obj: Value,
        dry_run: bool,
        user: &UserInfo,
    ) -> Result<Value, ApiError> {
        self.create_inner(info, namespace, obj, dry_run, Some(user))
            .await
    }

    async fn create_inner(
        &self,
        info: &ResourceInfo,
        namespace: &str,
        mut obj: Value,
        dry_run: bool,
        user: Option<&UserInfo>,
    ) -> Result<Value, ApiError> {
        self.prepare_create(info, namespace, &mut obj, dry_run, user)
            .await?;
        let name = objects::name(&obj).to_string();
        if dry_run {
            return Ok(obj);
        }
        let bytes = encode_checked(info, &obj)?;
        let kv = self
            .storage
            .create(&key(info, namespace, &name), bytes)
            .await
            .map_err(|e| storage_error(info, &name, e))?;
        objects::set_resource_version(&mut obj, kv.mod_revision);
        Ok(obj)
    }

    async fn prepare_create(
        &self,
        info: &ResourceInfo,
        namespace: &str,
        obj: &mut Value,
        dry_run: bool,
        user: Option<&UserInfo>,
    ) -> Result<(), ApiError> {
        if info.namespaced {
            self.check_namespace_accepts_creates(info, namespace, objects::name(obj))
                .await?;
        }
        if objects::meta_str(obj, "resourceVersion").is_some_and(|rv| !rv.is_empty()) {
            return Err(ApiError::internal(
                "resourceVersion should not be set on objects to be created",
            ));
        }
        let meta = meta_mut(obj);
        if info.namespaced {
            meta.insert("namespace".into(), json!(namespace));
        } else {
            meta.remove("namespace");
        }
        let has_name = meta
            .get("name")
            .and_then(Value::as_str)
            .is_some_and(|n| !n.is_empty());
        if !has_name && let Some(prefix) = meta.get("generateName").and_then(Value::as_str) {
            let generated = generate_name(prefix);
            meta.insert("name".into(), json!(generated));
        }
        meta.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
        meta.insert("creationTimestamp".into(), json!(objects::now_rfc3339()));
        for field in [
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
            "selfLink",
        ] {
            meta.remove(field);
        }
        strategy::check_decodable(info, obj)?;
        defaults::default_object(info, obj);
        // Upstream admits a create before the store generates its name.
        let name = if has_name {
            objects::name(obj).to_string()
        } else {
            String::new()
        };
        let attrs = user.map(|user| Attributes {
            operation: Operation::Create,
            info,
            namespace,
            name: &name,
            subresource: "",
            user,
            dry_run,
        });
        if let Some(attrs) = &attrs {
            self.admission.mutate(attrs, obj).await?;
        }
        strategy::prepare_for_create(info, obj);
        let causes = strategy::validate(info, obj, None);
        if !causes.is_empty() {
            return Err(ApiError::invalid(
                &info.group,
                &info.kind,
                objects::name(obj),
                causes,
            ));
        }
        if let Some(attrs) = &attrs {
            let validator = self.admission.validator(attrs).await?;
            validator.validate(Some(obj), None)?;
            // Quota is charged last, once nothing else can refuse the object.
            validator.charge_quota(obj, None).await?;
        }
        Ok(())
    }

    async fn check_namespace_accepts_creates(
        &self,
        info: &ResourceInfo,
        namespace: &str,
        name: &str,
    ) -> Result<(), ApiError> {
        let (kv, _) = self
            .storage
            .get(&format!("/namespaces/{namespace}"))
            .await
            .map_err(|e| ApiError::internal(&e.to_string()))?;
        let Some(kv) = kv else {
            return Err(ApiError::not_found("", "namespaces", namespace));
        };
        if objects::is_deleting(&objects::decode(&kv)) {
            return Err(crate::errors::namespace_terminating(
                &info.group,
                &info.plural,
                name,
                namespace,
            ));
        }
        Ok(())
    }

    /// Replaces (or, with `allow_create`, creates) an object with what `compute` makes of the
    /// current one, without admission (the server's own writes). `compute` also checks the
    /// caller's preconditions.
    pub async fn update<F>(
        &self,
        info: &ResourceInfo,
        namespace: &str,
        name: &str,
        part: Part,
        dry_run: bool,
        compute: F,
    ) -> Result<(Value, bool), ApiError>
    where
        F: FnMut(Option<&Value>) -> Result<Value, ApiError>,
    {
        self.update_inner(info, namespace, name, part, dry_run, None, compute)
            .await
    }

    /// A client's update of `subresource` (`""` for the object): admitted by `user`'s request.
    #[allow(clippy::too_many_arguments)]
    pub async fn update_admitted<F>(
        &self,
        info: &ResourceInfo,
        namespace: &str,
        name: &str,
        (part, subresource): (Part, &str),
        dry_run: bool,
        user: &UserInfo,
        compute: F,
    ) -> Result<(Value, bool), ApiError>
    where
        F: FnMut(Option<&Value>) -> Result<Value, ApiError>,
    {
        let attrs = Attributes {
            operation: Operation::Update,
            info,
            namespace,
            name,
            subresource,
            user,
            dry_run,
        };
        let validator = self.admission.validator(&attrs).await?;
        self.update_inner(
            info,
            namespace,
            name,
            part,
            dry_run,
            Some(&validator),
            compute,
        )
        .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn update_inner<F>(
        &self,
        info: &ResourceInfo,
        namespace: &str,
        name: &str,
        part: Part,
        dry_run: bool,
        validator: Option<&Validator>,
        mut compute: F,
    ) -> Result<(Value, bool), ApiError>
    where
        F: FnMut(Option<&Value>) -> Result<Value, ApiError>,
    {
        let key = key(info, namespace, name);
        let allow_create = part == Part::Main && info.create_on_update;
        if allow_create && info.namespaced {
            self.check_namespace_accepts_creates(info, namespace, name)
                .await?;
        }
        let mut next = |current: Option<&KeyValue>| -> Result<Value, ApiError> {
            let Some(current) = current else {
                if !allow_create {
                    return Err(ApiError::not_found(&info.group, &info.plural, name));
                }
                return compute(None);
            };
            let old = info.decode(current);
            let mut new = compute(Some(&old))?;
            self.prepare_update(info, part, &mut new, &old)?;
            if let Some(validator) = validator {
                validator.validate(Some(&new), Some(&old))?;
            }
            Ok(new)
        };
        // Quota is charged for what this update makes of the stored object, before the write.
        if let Some(validator) = validator
            && validator.checks_quota()
        {
            let (current, _) = self
                .storage
                .get(&key)
                .await
                .map_err(|e| storage_error(info, name, e))?;
            if let Some(current) = &current {
                let new = next(Some(current))?;
                validator
                    .charge_quota(&new, Some(&info.decode(current)))
                    .await?;
            }
        }
        if dry_run {
            let (current, _) = self
                .storage
                .get(&key)
                .await
                .map_err(|e| storage_error(info, name, e))?;
            let mut obj = next(current.as_ref())?;
            // A dry run writes nothing, so the object keeps the revision it has.
            if let Some(kv) = &current {
                objects::set_resource_version(&mut obj, kv.mod_revision);
            }
            return Ok((obj, current.is_none()));
        }
        let outcome = guaranteed_update(
            &*self.storage,
            &key,
            |current| -> Result<Bytes, UpdateError> {
                let mut new = next(current)?;
                if current.is_none() {
                    // Create-on-update: the same system metadata as a create.
                    let meta = meta_mut(&mut new);
                    meta.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
                    meta.insert("creationTimestamp".into(), json!(objects::now_rfc3339()));
                    meta.insert("namespace".into(), json!(namespace));
                    strategy::check_decodable(info, &new)?;
                    defaults::default_object(info, &mut new);
                    strategy::prepare_for_create(info, &mut new);
                    let causes = strategy::validate(info, &new, None);
                    if !causes.is_empty() {
                        return Err(ApiError::invalid(&info.group, &info.kind, name, causes).into());
                    }
                    if let Some(validator) = validator {
                        validator.validate(Some(&new), None)?;
                    }
                }
                Ok(encode_checked(info, &new)?)
            },
        )
        .await
        .map_err(|e| e.into_api(info, name))?;
        let mut obj = info.decode(&outcome.kv);
        if outcome.written && ready_to_delete(info, &obj) {
            match self
                .storage
                .delete(&key, Some(outcome.kv.mod_revision))
                .await
            {
                Ok(kv) => objects::set_resource_version(&mut obj, kv.mod_revision),
                Err(StorageError::Conflict { .. }) => {}
                Err(e) => return Err(storage_error(info, name, e)),
            }
        }
        Ok((obj, outcome.previous.is_none()))
    }

    /// Upstream's `BeforeUpdate`: immutable system metadata is kept, the part not addressed
    /// by the request is reset from the old object, then the result is validated.
    fn prepare_update(
        &self,
        info: &ResourceInfo,
        part: Part,
        new: &mut Value,
        old: &Value,
    ) -> Result<(), ApiError> {
        // Upstream defaults the stored object when it reads it, so objects written before a
        // default existed compare as if they had it.
        let defaulted_old;
        let old = if part == Part::Main && info.builtin().is_some() {
            let mut copy = old.clone();
            defaults::default_object(info, &mut copy);
            defaulted_old = copy;
            &defaulted_old
        } else {
            old
        };
        match part {
            Part::Main => {
                strategy::check_decodable(info, new)?;
                defaults::default_object(info, new);
                strategy::prepare_for_update(info, new, old);
            }
            Part::Status => strategy::prepare_for_status_update(new, old),
            Part::Finalize => {
                let finalizers = new.pointer("/spec/finalizers").cloned();
                let meta = new.get("metadata").cloned();
                *new = old.clone();
                new["spec"]["finalizers"] = finalizers.unwrap_or_else(|| json!([]));
                if let Some(meta) = meta {
                    new["metadata"] = meta;
                }
            }
        }
        let old_meta = old.get("metadata").cloned().unwrap_or_default();
        let meta = meta_mut(new);
        for field in [
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "namespace",
            "name",
        ] {
            match old_meta.get(field) {
                Some(v) => meta.insert(field.into(), v.clone()),
                None => meta.remove(field),
            };
        }
        if !strategy::tracks_generation(info) {
            meta.remove("generation");
        }
        meta.remove("resourceVersion");
        // An object being deleted may lose finalizers but not gain new ones.
        if objects::is_deleting(old) {
            let old_finalizers = objects::finalizers(old);
            let added: Vec<String> = objects::finalizers(new)
                .into_iter()
                .filter(|f| !old_finalizers.contains(f))
                .collect();
            if !added.is_empty() {
                return Err(ApiError::invalid(
                    &info.group,
                    &info.kind,
                    objects::name(old),
                    vec![den_apimachinery::validation::Cause {
                        reason: "FieldValueForbidden".into(),
                        message: format!(
                            "Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers {}",
                            crate::errors::go_string_slice(&added)
                        ),
                        field: "metadata.finalizers".into(),
                    }],
                ));
            }
        }
        let causes = strategy::validate_update(info, part, new, old);
        if !causes.is_empty() {
            return Err(ApiError::invalid(
                &info.group,
                &info.kind,
                objects::name(old),
                causes,
            ));
        }
        Ok(())
    }

    /// Deletes one object, honouring preconditions, finalizers and graceful deletion, without
    /// admission (the server's own deletes).
    pub async fn delete(
        &self,
        info: &ResourceInfo,
        namespace: &str,
        name: &str,
        options: &DeleteOptions,
    ) -> Result<Deleted, ApiError> {
        self.delete_inner(info, namespace, name, options, None)
            .await
    }

    /// A client's delete: admitted by `user`'s request.
    pub async fn delete_admitted(
        &self,
        info: &ResourceInfo,
        namespace: &str,
        name: &str,
        options: &DeleteOptions,
        user: &UserInfo,
    ) -> Result<Deleted, ApiError> {
        let attrs = Attributes {
            operation: Operation::Delete,
            info,
            namespace,
            name,
            subresource: "",
            user,
            dry_run: options.dry_run,
        };
        let validator = self.admission.validator(&attrs).await?;
        self.delete_inner(info, namespace, name, options, Some(&validator))
            .await
    }

    async fn delete_inner(
        &self,
        info: &ResourceInfo,
        namespace: &str,
        name: &str,
        options: &DeleteOptions,
        validator: Option<&Validator>,
    ) -> Result<Deleted, ApiError> {
        let key = key(info, namespace, name);
        loop {
            let (kv, _) = self
                .storage
                .get(&key)
                .await
                .map_err(|e| storage_error(info, name, e))?;
            let Some(kv) = kv else {
                return Err(ApiError::not_found(&info.group, &info.plural, name));
            };
            let mut obj = info.decode(&kv);
            check_delete_preconditions(info, name, &obj, options)?;
            if let Some(validator) = validator {
                validator.validate(None, Some(&obj))?;
            }
            if !objects::is_deleting(&obj) {
                let mut finalizers = objects::finalizers(&obj);
                for finalizer in strategy::finalizers_on_delete(info) {
                    if !finalizers.iter().any(|f| f == finalizer) {
                        finalizers.push(finalizer.to_string());
                    }
                }
                if !finalizers.is_empty() {
                    meta_mut(&mut obj).insert("finalizers".into(), json!(finalizers));
                }
            }
            if let Some(grace) = self.deletion_grace(info, &obj, options) {
                if objects::is_deleting(&obj) {
                    if info.is("", "namespaces") {
                        return Err(ApiError::conflict(
                            &info.group,
                            &info.plural,
                            name,
                            NAMESPACE_TERMINATING,
                        ));
                    }
                    return Ok(Deleted {
                        object: obj,
                        immediately: false,
                    });
                }
                let meta = meta_mut(&mut obj);
                meta.insert("deletionTimestamp".into(), json!(objects::now_rfc3339()));
                meta.insert("deletionGracePeriodSeconds".into(), json!(grace));
                if info.is("", "namespaces") {
                    obj["status"]["phase"] = json!("Terminating");
                }
                if options.dry_run {
                    return Ok(Deleted {
                        object: obj,
                        immediately: false,
                    });
                }
                match self
                    .storage
                    .update(&key, info.encode(&obj), kv.mod_revision)
                    .await
                {
                    Ok(kv) => {
                        objects::set_resource_version(&mut obj, kv.mod_revision);
                        return Ok(Deleted {
                            object: obj,
                            immediately: false,
                        });
                    }
                    Err(StorageError::Conflict { .. }) => continue,
                    Err(e) => return Err(storage_error(info, name, e)),
                }
            }
            if options.dry_run {
                return Ok(Deleted {
                    object: obj,
                    immediately: true,
                });
            }
            match self.storage.delete(&key, Some(kv.mod_revision)).await {
                Ok(_) => {
                    return Ok(Deleted {
                        object: obj,
                        immediately: true,
                    });
                }
                Err(StorageError::Conflict { .. }) => continue,
                Err(StorageError::NotFound { .. }) => {
                    return Err(ApiError::not_found(&info.group, &info.plural, name));
                }
                Err(e) => return Err(storage_error(info, name, e)),
            }
        }
    }

    /// `Some(grace seconds)` when the object must linger with a deletionTimestamp.
    fn deletion_grace(
        &self,
        info: &ResourceInfo,
        obj: &Value,
        options: &DeleteOptions,
    ) -> Option<i64> {
        let is_namespace = info.is("", "namespaces");
        if is_namespace && !nothing_holds(info, obj) {
            return Some(0);
        }
        if info.is("", "pods")
            && obj
                .pointer("/spec/nodeName")
                .is_some_and(|n| n.as_str().is_some_and(|n| !n.is_empty()))
        {
            let grace = options.grace_period_seconds.unwrap_or_else(|| {
                obj.pointer("/spec/terminationGracePeriodSeconds")
                    .and_then(Value::as_i64)
                    .unwrap_or(30)
            });
            if grace > 0 || !objects::finalizers(obj).is_empty() {
                return Some(grace.max(0));
            }
        }
        if !objects::finalizers(obj).is_empty() {
            return Some(0);
        }
        None
    }

    /// Lists one page. Reads at one revision; continue tokens carry it.
    pub async fn list(
        &self,
        info: &ResourceInfo,
        namespace: &str,
        opts: &ListOptions,
    ) -> Result<ListPage, ApiError> {
        self.scan(info, namespace, opts, |kv| {
            let obj = info.decode(kv);
            matches(info, &obj, opts).then_some(obj)
        })
        .await
    }

    /// A page of stored objects as they are in the store (no selectors may be given): for
    /// plain JSON lists, which splice `resourceVersion` into the stored bytes.
    pub async fn list_stored(
        &self,
        info: &ResourceInfo,
        namespace: &str,
        opts: &ListOptions,
    ) -> Result<ListPage<KeyValue>, ApiError> {
        debug_assert!(opts.labels.as_ref().is_none_or(|l| l.is_empty()) && opts.fields.is_none());
        self.scan(info, namespace, opts, |kv| Some(kv.clone()))
            .await
    }

    /// Reads one page at one revision, keeping what `keep` returns for each stored object.
    async fn scan<T>(
        &self,
        info: &ResourceInfo,
        namespace: &str,
        opts: &ListOptions,
        mut keep: impl FnMut(&KeyValue) -> Option<T>,
    ) -> Result<ListPage<T>, ApiError> {
        let prefix = collection_prefix(info, namespace);
        let (mut revision, mut start_after) = match &opts.continue_token {
            Some(token) => {
                let (rev, start) = decode_continue(token)?;
                (rev.max(0), Some(format!("{prefix}{start}")))
            }
            None => (
                self.read_revision(opts)
                    .await
                    .map_err(|e| storage_error(info, "", e))?,
                None,
            ),
        };
        let filtering =
            opts.labels.as_ref().is_some_and(|l| !l.is_empty()) || opts.fields.is_some();
        let mut items = Vec::new();
        let mut continue_key = None;
        let mut remaining = None;
        loop {
            let want = if opts.limit == 0 {
                0
            } else {
                opts.limit - items.len()
            };
            let chunk = if filtering && want > 0 {
                want.max(100)
            } else {
                want
            };
            let page = self
                .storage
                .list(&prefix, start_after.as_deref(), chunk, revision)
                .await
                .map_err(|e| match (e, &start_after) {
                    // Upstream's inconsistent continuation: the same place, at the revision
                    // current when it is used.
                    (StorageError::Compacted { .. }, Some(start))
                        if opts.continue_token.is_some() =>
                    {
                        ApiError::resource_expired(CONTINUE_EXPIRED).with_list_continue(
                            encode_continue(INCONSISTENT_REVISION, &start[prefix.len()..]),
                        )
                    }
                    (e, _) => storage_error(info, "", e),
                })?;
            revision = page.revision;
            let count = page.items.len();
            for (index, kv) in page.items.iter().enumerate() {
                let Some(item) = keep(kv) else {
                    continue;
                };
                items.push(item);
                if opts.limit > 0 && items.len() == opts.limit {
                    let more_here = index + 1 < count;
                    if more_here || page.more {
                        continue_key = Some(kv.key.clone());
                        if !filtering {
                            remaining = page.remaining.map(|r| r + (count - index - 1) as i64);
                        }
                    }
                    break;
                }
            }
            if continue_key.is_some() || !page.more || (opts.limit > 0 && items.len() == opts.limit)
            {
                break;
            }
            start_after = page.items.last().map(|kv| kv.key.clone());
        }
        let continue_token = continue_key.map(|k| encode_continue(revision, &k[prefix.len()..]));
        Ok(ListPage {
            items,
            revision,
            continue_token,
            remaining: remaining.filter(|r| *r > 0),
        })
    }

    /// The revision a list without a continue token reads at (0 = current).
    async fn read_revision(&self, opts: &ListOptions) -> Result<Revision, StorageError> {
        let rv: Revision = match opts.resource_version.as_deref() {
            None | Some("") | Some("0") => return Ok(0),
            Some(rv) => rv.parse().unwrap_or(0),
        };
        match opts.resource_version_match.as_deref() {
            Some("Exact") => Ok(rv),
            _ => {
                let current = self.storage.current_revision().await?;
                if rv > current {
                    return Err(StorageError::FutureRevision {
                        requested: rv,
                        current,
                    });
                }
                Ok(0)
            }
        }
    }
}

pub const NAMESPACE_TERMINATING: &str = "The system is ensuring all content is removed from this namespace.  Upon completion, this namespace will automatically be purged by the system.";

const CONTINUE_EXPIRED: &str = "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.";

fn check_delete_preconditions(
    info: &ResourceInfo,
    name: &str,
    obj: &Value,
    options: &DeleteOptions,
) -> Result<(), ApiError> {
    let uid = objects::meta_str(obj, "uid").unwrap_or("");
    if let Some(want) = &options.precondition_uid
        && want != uid
    {
        let msg =
            format!("Precondition failed: UID in precondition: {want}, UID in object meta: {uid}");
        return Err(ApiError::conflict(&info.group, &info.plural, name, &msg));
    }
    let rv = objects::meta_str(obj, "resourceVersion").unwrap_or("");
    if let Some(want) = &options.precondition_resource_version
        && want != rv
    {
        let msg = format!(
            "Precondition failed: ResourceVersion in precondition: {want}, ResourceVersion in object meta: {rv}"
        );
        return Err(ApiError::conflict(&info.group, &info.plural, name, &msg));
    }
    Ok(())
}

/// Whether `obj` passes the list's label and field selectors.
pub fn matches(info: &ResourceInfo, obj: &Value, opts: &ListOptions) -> bool {
    if let Some(labels) = &opts.labels
        && !labels.matches(objects::labels(obj))
    {
        return false;
    }
    if let Some(fields) = &opts.fields {
        return fields.matches(|field| match field {
            "metadata.name" => Some(objects::name(obj).to_string()),
            "metadata.namespace" => Some(objects::namespace(obj).to_string()),
            other => strategy::field_value(info, obj, other),
        });
    }
    true
}

/// The revision of an inconsistent continue token: read at the current revision.
const INCONSISTENT_REVISION: Revision = -1;

/// Upstream's continue token: base64 of `{"v":"meta.k8s.io/v1","rv":N,"start":"<key>\u0000"}`.
fn encode_continue(revision: Revision, last_key: &str) -> String {
    let token = json!({"v": "meta.k8s.io/v1", "rv": revision, "start": format!("{last_key}\u{0}")});
    base64::engine::general_purpose::URL_SAFE.encode(token.to_string())
}

fn decode_continue(token: &str) -> Result<(Revision, String), ApiError> {
    let bad = || ApiError::bad_request(&format!("continue key is not valid: {token}"));
    let raw = base64::engine::general_purpose::URL_SAFE
        .decode(token)
        .or_else(|_| base64::engine::general_purpose::STANDARD.decode(token))
        .map_err(|_| bad())?;
    let value: Value = serde_json::from_slice(&raw).map_err(|_| bad())?;
    if value.get("v").and_then(Value::as_str) != Some("meta.k8s.io/v1") {
        return Err(bad());
    }
    let rev = value
        .get("rv")
        .and_then(Value::as_i64)
        .filter(|r| *r > 0 || *r == INCONSISTENT_REVISION)
        .ok_or_else(bad)?;
    let start = value.get("start").and_then(Value::as_str).ok_or_else(bad)?;
    let start = start.strip_suffix('\u{0}').unwrap_or(start);
    if start.contains("..") || start.starts_with('/') {
        return Err(bad());
    }
    Ok((rev, start.to_string()))
}
