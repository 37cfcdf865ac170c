//! The `ResourceQuota` admission plugin (upstream's `plugin/pkg/admission/resourcequota`):
//! a create (or an update that can grow usage) in a namespace with quotas is measured by
//! the resource's evaluator, refused with 403 when it would exceed a quota that covers it,
//! and otherwise charged to those quotas' `status.used` before the object is stored, with
//! compare-and-swap retries like upstream's status updates. The quota controller later
//! recalculates `status.used` from what is really stored.
//!
//! A namespace without quotas costs one lookup in an in-memory set of the namespaces that
//! have some, kept current by watching the store. The requests of one namespace are checked
//! in batches by one task at a time, as upstream's per-namespace work queue does: each batch
//! reads the quotas once and writes each changed quota once.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Once, RwLock};
use std::time::Duration;

use chrono::Utc;
use den_apimachinery::quota::{self, Evaluator, Operation as QuotaOperation, ResourceList};
use den_apimachinery::status::ApiError;
use den_storage::{Backend, EventType, StorageError};
use futures::StreamExt;
use serde_json::Value;

use super::{Attributes, Operation};
use crate::objects;
use crate::registry::{OPTIMISTIC_LOCK, key};

const QUOTA_PREFIX: &str = "/resourcequotas/";

/// Upstream retries a lost status update three times; a namespace's charges are written by
/// one task at a time, so only the quota controller's writes can race them.
const MAX_ATTEMPTS: usize = 4;

/// Upstream's limit on how long a request waits for its quota check.
const EVALUATION_TIMEOUT: Duration = Duration::from_secs(10);

pub struct QuotaAdmission {
    inner: Arc<Inner>,
}

struct Inner {
    storage: Arc<dyn Backend>,
    index: Index,
    /// The requests waiting per namespace; a namespace is present while a task checks it.
    batches: Mutex<HashMap<String, Vec<Waiter>>>,
}

/// The namespaces that have quotas, and the quota names in each.
struct Index {
    namespaces: RwLock<HashMap<String, HashSet<String>>>,
    started: Once,
    ready: AtomicBool,
    ready_tx: tokio::sync::watch::Sender<bool>,
}

impl QuotaAdmission {
    pub fn new(storage: Arc<dyn Backend>) -> Self {
        QuotaAdmission {
            inner: Arc::new(Inner {
                storage,
                index: Index {
                    namespaces: RwLock::new(HashMap::new()),
                    started: Once::new(),
                    ready: AtomicBool::new(false),
                    ready_tx: tokio::sync::watch::channel(false).0,
                },
                batches: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The quota check `attrs` needs, or `None` (at the cost of one set lookup) when no
    /// quota can be concerned.
    pub async fn check_for(&self, attrs: &Attributes<'_>) -> Option<QuotaCheck> {
        let operation = match attrs.operation {
            Operation::Create => QuotaOperation::Create,
            Operation::Update => QuotaOperation::Update,
            Operation::Delete => return None,
        };
        if attrs.namespace.is_empty() || !attrs.info.namespaced {
            return None;
        }
        self.inner.ensure_index().await;
        if !self.inner.index.has_quotas(attrs.namespace) {
            return None;
        }
        let evaluator = Evaluator::for_resource(&attrs.info.group, &attrs.info.plural)?;
        let may_handle = match &evaluator {
            Evaluator::ObjectCount { .. } => {
                operation == QuotaOperation::Create && attrs.subresource.is_empty()
            }
            Evaluator::Pods => attrs.subresource.is_empty() || attrs.subresource == "resize",
            Evaluator::Services => attrs.subresource.is_empty(),
            Evaluator::PersistentVolumeClaims => {
                attrs.subresource.is_empty() || attrs.subresource == "status"
            }
        };
        if !may_handle {
            return None;
        }
        Some(QuotaCheck {
            inner: self.inner.clone(),
            req: Request {
                evaluator,
                operation,
                subresource: attrs.subresource.to_string(),
                namespace: attrs.namespace.to_string(),
                name: attrs.name.to_string(),
                group: attrs.info.group.to_string(),
                plural: attrs.info.plural.to_string(),
                collection_key: key(attrs.info, attrs.namespace, ""),
                dry_run: attrs.dry_run,
            },
        })
    }
}

impl Inner {
    /// Starts the index's watch on first use and waits until it has listed the quotas.
    async fn ensure_index(self: &Arc<Self>) {
        if self.index.ready.load(Ordering::Acquire) {
            return;
        }
        self.index.started.call_once(|| {
            tokio::spawn(keep_index(self.clone()));
        });
        let mut ready = self.index.ready_tx.subscribe();
        let _ = ready.wait_for(|r| *r).await;
    }

    /// The namespace's quotas as stored now (a consistent read), in name order.
    async fn quotas(&self, namespace: &str) -> Result<Vec<Value>, ApiError> {
        let listed = self
            .storage
            .list(&format!("{QUOTA_PREFIX}{namespace}/"), None, 0, 0)
            .await
            .map_err(|e| ApiError::internal(&format!("error resolving quota: {e}")))?;
        Ok(listed.items.iter().map(objects::decode).collect())
    }
}

impl Index {
    fn has_quotas(&self, namespace: &str) -> bool {
        self.namespaces
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(namespace)
            .is_some_and(|names| !names.is_empty())
    }

    fn set(&self, stored_key: &str, present: bool) {
        let Some((namespace, name)) = split_key(stored_key) else {
            return;
        };
        let mut namespaces = self.namespaces.write().unwrap_or_else(|e| e.into_inner());
        if present {
            namespaces
                .entry(namespace.to_string())
                .or_default()
                .insert(name.to_string());
        } else if let Some(names) = namespaces.get_mut(namespace) {
            names.remove(name);
            if names.is_empty() {
                namespaces.remove(namespace);
            }
        }
    }
}

/// The namespace and name of a stored quota's key.
fn split_key(stored_key: &str) -> Option<(&str, &str)> {
    stored_key
        .strip_prefix(QUOTA_PREFIX)
        .and_then(|rest| rest.split_once('/'))
}

/// Lists the quotas, then follows the store's changes; lists again when the watch ends.
async fn keep_index(inner: Arc<Inner>) {
    let index = &inner.index;
    loop {
        let listed = match inner.storage.list(QUOTA_PREFIX, None, 0, 0).await {
            Ok(listed) => listed,
            Err(e) => {
                tracing::warn!(error = %e, "quota admission: listing quotas failed");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        // The new set replaces the old one at once: requests never see it half built.
        let mut listed_namespaces: HashMap<String, HashSet<String>> = HashMap::new();
        for kv in &listed.items {
            if let Some((namespace, name)) = split_key(&kv.key) {
                listed_namespaces
                    .entry(namespace.to_string())
                    .or_default()
                    .insert(name.to_string());
            }
        }
        *index.namespaces.write().unwrap_or_else(|e| e.into_inner()) = listed_namespaces;
        index.ready.store(true, Ordering::Release);
        index.ready_tx.send_replace(true);
        let mut events = match inner.storage.watch(QUOTA_PREFIX, listed.revision).await {
            Ok(events) => events,
            Err(e) => {
                tracing::warn!(error = %e, "quota admission: watching quotas failed");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        while let Some(event) = events.next().await {
            match event {
                Ok(event) => index.set(&event.kv.key, event.event_type != EventType::Deleted),
                Err(e) => {
                    tracing::debug!(error = %e, "quota admission: quota watch ended");
                    break;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The quota check of one request, ready to run once the object is final.
pub struct QuotaCheck {
    inner: Arc<Inner>,
    req: Request,
}

/// What the check needs to know of the request.
#[derive(Clone)]
struct Request {
    evaluator: Evaluator,
    operation: QuotaOperation,
    subresource: String,
    namespace: String,
    name: String,
    group: String,
    plural: String,
    /// Where the namespace's objects of this resource are stored: a create of a name that
    /// exists is not charged.
    collection_key: String,
    dry_run: bool,
}

/// A quota and the usage it would have after the request.
struct Charge {
    quota_name: String,
    used: ResourceList,
}

impl QuotaCheck {
    /// Refuses `obj` (with `old`, the stored object, on an update) when it would exceed a
    /// quota; otherwise charges the quotas it counts against, unless this is a dry run.
    pub async fn admit(&self, obj: &Value, old: Option<&Value>) -> Result<(), ApiError> {
        let req = &self.req;
        if !req
            .evaluator
            .handles(req.operation, &req.subresource, obj, old)
        {
            return Ok(());
        }
        let (done, result) = tokio::sync::oneshot::channel();
        let mut req = req.clone();
        if req.name.is_empty() {
            // A create with generateName: upstream's validating plugins see the name the
            // store generated.
            req.name = objects::name(obj).to_string();
        }
        let waiter = Waiter {
            req,
            obj: obj.clone(),
            old: old.cloned(),
            done,
        };
        let start = {
            let mut batches = self.inner.batches.lock().unwrap_or_else(|e| e.into_inner());
            match batches.get_mut(&self.req.namespace) {
                Some(pending) => {
                    pending.push(waiter);
                    false
                }
                None => {
                    batches.insert(self.req.namespace.clone(), vec![waiter]);
                    true
                }
            }
        };
        if start {
            // Its own task: a client that goes away does not stop the others' check.
            tokio::spawn(self.inner.clone().drain(self.req.namespace.clone()));
        }
        match tokio::time::timeout(EVALUATION_TIMEOUT, result).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(ApiError::internal("resource quota evaluation failed")),
            Err(_) => Err(ApiError::internal("resource quota evaluation timed out")),
        }
    }
}

/// Should a check panic, its namespace is let go, so later requests start a new task
/// (the waiting ones see their check fail).
struct DrainGuard<'a> {
    inner: &'a Inner,
    namespace: &'a str,
}

impl Drop for DrainGuard<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let mut batches = self.inner.batches.lock().unwrap_or_else(|e| e.into_inner());
            batches.remove(self.namespace);
        }
    }
}

/// One request waiting for its namespace's next batch.
struct Waiter {
    req: Request,
    obj: Value,
    old: Option<Value>,
    done: tokio::sync::oneshot::Sender<Result<(), ApiError>>,
}

impl Inner {
    /// Checks the namespace's waiting requests, batch after batch, until none is left.
    async fn drain(self: Arc<Self>, namespace: String) {
        let _guard = DrainGuard {
            inner: &self,
            namespace: &namespace,
        };
        loop {
            let waiters = {
                let mut batches = self.batches.lock().unwrap_or_else(|e| e.into_inner());
                match batches.get_mut(&namespace) {
                    Some(pending) if !pending.is_empty() => std::mem::take(pending),
                    _ => {
                        batches.remove(&namespace);
                        return;
                    }
                }
            };
            let results = self.check_batch(&namespace, &waiters).await;
            for (waiter, result) in waiters.into_iter().zip(results) {
                let _ = waiter.done.send(result);
            }
        }
    }

    /// Upstream's `checkQuotas`: each request in turn against the quotas as the earlier ones
    /// left them, then one status write per changed quota; when a write loses a race, the
    /// requests that charged are checked again against that quota's current value.
    async fn check_batch(&self, namespace: &str, waiters: &[Waiter]) -> Vec<Result<(), ApiError>> {
        let mut results: Vec<Option<Result<(), ApiError>>> = waiters.iter().map(|_| None).collect();
        let mut quotas = match self.quotas(namespace).await {
            Ok(quotas) => quotas,
            Err(e) => return waiters.iter().map(|_| Err(e.clone())).collect(),
        };
        let mut pending: Vec<usize> = (0..waiters.len()).collect();
        for attempt in 1..=MAX_ATTEMPTS {
            let before: Vec<Option<Value>> = quotas
                .iter()
                .map(|q| q.pointer("/status/used").cloned())
                .collect();
            let mut charged = Vec::new();
            for &i in &pending {
                let w = &waiters[i];
                let charges = match w.req.check(&quotas, &w.obj, w.old.as_ref()) {
                    Ok(charges) if !charges.is_empty() && !w.req.dry_run => charges,
                    Ok(_) => {
                        results[i] = Some(Ok(()));
                        continue;
                    }
                    Err(e) => {
                        results[i] = Some(Err(e));
                        continue;
                    }
                };
                if attempt == 1 && w.req.operation == QuotaOperation::Create {
                    // The store refuses a create of an existing name: charge nothing for it.
                    let object_key = format!("{}{}", w.req.collection_key, w.req.name);
                    match self.storage.get(&object_key).await {
                        Ok((Some(_), _)) => {
                            results[i] = Some(Ok(()));
                            continue;
                        }
                        Ok((None, _)) => {}
                        Err(e) => {
                            results[i] = Some(Err(ApiError::internal(&e.to_string())));
                            continue;
                        }
                    }
                }
                for charge in charges {
                    if let Some(q) = quotas
                        .iter_mut()
                        .find(|q| objects::name(q) == charge.quota_name)
                    {
                        q["status"]["used"] = quota::list_to_json(&charge.used);
                    }
                }
                charged.push(i);
            }
            let mut lost = Vec::new();
            let mut lost_name = None;
            let mut failure = None;
            for (q, before) in quotas.iter().zip(&before) {
                if q.pointer("/status/used") == before.as_ref() {
                    continue;
                }
                match self.write(namespace, q).await {
                    Ok(Written::Done) => {}
                    Ok(Written::Lost(current)) => {
                        lost_name = Some(objects::name(q).to_string());
                        lost.extend(current);
                    }
                    Err(e) => failure = Some(e),
                }
            }
            let outcome = match (failure, lost_name) {
                (Some(e), _) => Some(Err(e)),
                (None, None) => Some(Ok(())),
                (None, Some(name)) if attempt == MAX_ATTEMPTS => Some(Err(ApiError::conflict(
                    "",
                    "resourcequotas",
                    &name,
                    OPTIMISTIC_LOCK,
                ))),
                (None, Some(_)) => None,
            };
            if let Some(outcome) = outcome {
                for &i in &charged {
                    results[i] = Some(outcome.clone());
                }
                break;
            }
            // Like upstream, only the quotas whose update lost are checked again.
            quotas = lost;
            pending = charged;
        }
        results
            .into_iter()
            .map(|r| {
                r.unwrap_or_else(|| Err(ApiError::internal("resource quota evaluation failed")))
            })
            .collect()
    }

    /// Writes a quota's new `status.used` if the quota is unchanged since it was read.
    async fn write(&self, namespace: &str, updated: &Value) -> Result<Written, ApiError> {
        let revision = objects::meta_str(updated, "resourceVersion")
            .and_then(|rv| rv.parse().ok())
            .unwrap_or(0);
        let stored_key = format!("{QUOTA_PREFIX}{namespace}/{}", objects::name(updated));
        match self
            .storage
            .update(&stored_key, objects::encode(updated), revision)
            .await
        {
            Ok(_) => Ok(Written::Done),
            Err(StorageError::Conflict { current, .. }) => {
                Ok(Written::Lost(current.map(|kv| objects::decode(&kv))))
            }
            Err(StorageError::NotFound { .. }) => Ok(Written::Done),
            Err(e) => Err(ApiError::internal(&e.to_string())),
        }
    }
}

impl Request {
    fn forbidden(&self, msg: &str) -> ApiError {
        ApiError::forbidden(&self.group, &self.plural, &self.name, msg)
    }

    /// Upstream's `CheckRequest`: the quotas `obj` would change, with their new usage, or
    /// the error refusing it.
    fn check(
        &self,
        quotas: &[Value],
        obj: &Value,
        old: Option<&Value>,
    ) -> Result<Vec<Charge>, ApiError> {
        let evaluator = &self.evaluator;
        let mut interesting = Vec::new();
        for q in quotas {
            let quota_name = objects::name(q);
            let matched = evaluator.matches(q, obj).map_err(|e| {
                ApiError::internal(&format!(
                    "error matching scopes of quota {quota_name}, err: {e}"
                ))
            })?;
            if !matched {
                continue;
            }
            let hard = quota::resource_list(q.pointer("/status/hard"));
            let restricted = evaluator.matching_resources(hard.keys());
            if let Err(e) = evaluator.constraints(&restricted, obj) {
                return Err(self.forbidden(&format!("failed quota: {quota_name}: {e}")));
            }
            let used = q.pointer("/status/used").and_then(Value::as_object);
            let known = restricted
                .iter()
                .all(|r| used.is_some_and(|u| u.contains_key(r)));
            if !known {
                return Err(self.forbidden(&format!(
                    "status unknown for quota: {quota_name}, resources: {}",
                    quota::pretty_print_names(&restricted)
                )));
            }
            interesting.push(q);
        }
        let now = Utc::now();
        let usage = evaluator.usage(obj, now);
        let negative = quota::negative_names(&usage);
        if !negative.is_empty() {
            return Err(self.forbidden(&format!(
                "quota usage is negative for resource(s): {}",
                quota::pretty_print_names(&negative)
            )));
        }
        if interesting.is_empty() {
            return Ok(Vec::new());
        }
        // On an update only the growth is charged, to the quotas the old object counted in.
        let growth = old.map(|old| {
            (
                old,
                quota::subtract_non_negative(&usage, &evaluator.usage(old, now)),
            )
        });
        let mut charges = Vec::new();
        for q in interesting {
            let delta = match &growth {
                Some((old, growth)) if evaluator.matches(q, old).unwrap_or(false) => growth,
                _ => &usage,
            };
            let delta = quota::remove_zeros(delta);
            if delta.is_empty() {
                continue;
            }
            let hard = quota::resource_list(q.pointer("/status/hard"));
            let used = quota::resource_list(q.pointer("/status/used"));
            let hard_names: BTreeSet<String> = hard.keys().cloned().collect();
            let requested = quota::mask(&delta, &hard_names);
            let new_used = quota::add(&used, &requested);
            if self.subresource != "status" {
                let requested_names: BTreeSet<String> = requested.keys().cloned().collect();
                let (allowed, exceeded) =
                    quota::less_than_or_equal(&quota::mask(&new_used, &requested_names), &hard);
                if !allowed {
                    return Err(self.forbidden(&format!(
                        "exceeded quota: {}, requested: {}, used: {}, limited: {}",
                        objects::name(q),
                        quota::pretty_print(&quota::mask(&requested, &exceeded)),
                        quota::pretty_print(&quota::mask(&used, &exceeded)),
                        quota::pretty_print(&quota::mask(&hard, &exceeded)),
                    )));
                }
            }
            if !quota::equals(&new_used, &used) {
                charges.push(Charge {
                    quota_name: objects::name(q).to_string(),
                    used: new_used,
                });
            }
        }
        Ok(charges)
    }
}

enum Written {
    Done,
    /// Another writer changed the quota first; its current value, unless it is gone.
    Lost(Option<Value>),
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn check(evaluator: Evaluator, plural: &str) -> Request {
        Request {
            evaluator,
            operation: QuotaOperation::Create,
            subresource: String::new(),
            namespace: "ns".into(),
            name: "x".into(),
            group: String::new(),
            plural: plural.into(),
            collection_key: String::new(),
            dry_run: false,
        }
    }

    fn quota(name: &str, hard: Value, used: Value) -> Value {
        json!({"metadata": {"name": name, "namespace": "ns", "resourceVersion": "7"},
               "spec": {"hard": hard}, "status": {"hard": hard, "used": used}})
    }

    #[test]
    fn an_exceeding_pod_is_refused_with_upstreams_message() {
        let c = check(Evaluator::Pods, "pods");
        let q = quota(
            "test-quota",
            json!({"cpu": "1", "pods": "5"}),
            json!({"cpu": "500m", "pods": "1"}),
        );
        let pod = json!({"spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": "600m"}}}]}});
        let err = c.check(&[q], &pod, None).err().expect("refused");
        assert_eq!(err.code, 403);
        assert_eq!(
            err.message,
            "pods \"x\" is forbidden: exceeded quota: test-quota, requested: cpu=600m, used: cpu=500m, limited: cpu=1"
        );
    }

    #[test]
    fn a_fitting_pod_is_charged_and_a_quota_without_status_is_ignored() {
        let c = check(Evaluator::Pods, "pods");
        let q = quota(
            "q",
            json!({"requests.cpu": "1", "pods": "5", "configmaps": "1"}),
            json!({"requests.cpu": "0", "pods": "0", "configmaps": "0"}),
        );
        let fresh = json!({"metadata": {"name": "fresh"}, "spec": {"hard": {"pods": "0"}}});
        let pod = json!({"spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": "250m"}}}]}});
        let charges = c.check(&[q, fresh], &pod, None).unwrap();
        assert_eq!(charges.len(), 1);
        assert_eq!(
            quota::pretty_print(&charges[0].used),
            "configmaps=0,pods=1,requests.cpu=250m"
        );
    }

    #[test]
    fn missing_usage_and_missing_requests_are_refused() {
        let c = check(Evaluator::Pods, "pods");
        let unknown = quota("q", json!({"pods": "5"}), json!({}));
        let pod = json!({"spec": {"containers": [{"name": "c"}]}});
        let err = c.check(&[unknown], &pod, None).err().unwrap();
        assert_eq!(
            err.message,
            "pods \"x\" is forbidden: status unknown for quota: q, resources: pods"
        );
        let cpu = quota("q", json!({"limits.cpu": "5"}), json!({"limits.cpu": "0"}));
        let err = c.check(&[cpu], &pod, None).err().unwrap();
        assert_eq!(
            err.message,
            "pods \"x\" is forbidden: failed quota: q: must specify limits.cpu for: c"
        );
    }

    #[test]
    fn an_update_is_charged_only_for_its_growth() {
        let mut c = check(Evaluator::Services, "services");
        c.operation = QuotaOperation::Update;
        let q = quota(
            "q",
            json!({"services": "5", "services.nodeports": "1"}),
            json!({"services": "1", "services.nodeports": "0"}),
        );
        let old = json!({"spec": {"type": "ClusterIP", "ports": [{"port": 80}]}});
        let new = json!({"spec": {"type": "NodePort", "ports": [{"port": 80}]}});
        let charges = c.check(std::slice::from_ref(&q), &new, Some(&old)).unwrap();
        assert_eq!(
            quota::pretty_print(&charges[0].used),
            "services=1,services.nodeports=1"
        );
        let two = json!({"spec": {"type": "NodePort", "ports": [{"port": 80}, {"port": 81}]}});
        let err = c.check(&[q], &two, Some(&old)).err().unwrap();
        assert_eq!(
            err.message,
            "services \"x\" is forbidden: exceeded quota: q, requested: services.nodeports=2, used: services.nodeports=0, limited: services.nodeports=1"
        );
    }
}
