//! The resource quota controller (upstream's `pkg/controller/resourcequota`): every
//! ResourceQuota gets `status.hard` = `spec.hard` and `status.used` measured from the
//! namespace's objects by upstream's evaluators (`den_apimachinery::quota`).
//!
//! A quota is recalculated when it is new, when its spec changes, when its status no longer
//! matches its spec (someone else wrote it) or lacks a usage, and on a periodic full resync.
//! The objects a quota counts are watched (one watch per resource any quota names) and kept
//! in memory; a deletion, or an update that changes what an object uses, recalculates the
//! quotas of its namespace. Creations are charged by the API server's ResourceQuota
//! admission plugin, as upstream's controller also assumes.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use den_apimachinery::quota::{self, Evaluator, GroupResource, ResourceList};
use futures::StreamExt;
use k8s_openapi::api::core::v1::{
    ConfigMap, PersistentVolumeClaim, Pod, ReplicationController, ResourceQuota,
    ResourceQuotaStatus, Secret, Service,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as K8sQuantity;
use kube::api::{Api, ApiResource, DynamicObject, ListParams, PostParams};
use kube::discovery::verbs;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Client, ResourceExt};
use serde_json::Value;
use tokio::sync::Notify;

/// How often every quota is recalculated from scratch. Upstream's default is five minutes;
/// a shorter period bounds how long a charge for a create that then failed in the store
/// (or a pod past its deletion grace period) shows in `status.used`.
const FULL_RESYNC: Duration = Duration::from_secs(60);

/// How soon a quota whose status update lost a race (or failed) is tried again.
const RETRY: Duration = Duration::from_millis(250);

/// How soon a quota whose limits were just (re)written is calculated once more. Until its
/// status names a resource, admission does not charge creates of it; one that was admitted
/// then but stored after this calculation looked would otherwise wait for the full resync.
const SETTLE: Duration = Duration::from_secs(2);

/// A quota's namespace and name.
type QuotaKey = (String, String);

pub async fn run(client: Client) -> anyhow::Result<()> {
    let controller = Arc::new(QuotaController {
        client,
        state: Mutex::new(State::default()),
        queue: Queue::default(),
    });
    tokio::join!(
        controller.clone().watch_quotas(),
        controller.clone().work(),
        controller.clone().resync(),
    );
    Ok(())
}

struct QuotaController {
    client: Client,
    state: Mutex<State>,
    queue: Queue,
}

#[derive(Default)]
struct State {
    quotas: BTreeMap<QuotaKey, QuotaEntry>,
    monitors: HashMap<GroupResource, Monitor>,
}

struct QuotaEntry {
    typed: Arc<ResourceQuota>,
    value: Value,
}

impl QuotaEntry {
    fn new(quota: ResourceQuota) -> Self {
        let value = serde_json::to_value(&quota).unwrap_or(Value::Null);
        QuotaEntry {
            typed: Arc::new(quota),
            value,
        }
    }

    /// The resource names of `spec.hard` and `status.hard`.
    fn resource_names(&self) -> BTreeSet<String> {
        ["/spec/hard", "/status/hard"]
            .iter()
            .filter_map(|p| self.value.pointer(p).and_then(Value::as_object))
            .flat_map(|m| m.keys().cloned())
            .collect()
    }

    fn counts(&self, evaluator: &Evaluator) -> bool {
        self.resource_names()
            .iter()
            .any(|n| evaluator.matches_resource(n))
    }
}

/// Objects by namespace and name; objects that are only counted are kept by name.
type Objects = HashMap<String, HashMap<String, Option<Arc<Value>>>>;

/// The watched objects of one resource.
struct Monitor {
    evaluator: Evaluator,
    phase: MonitorPhase,
    /// The served resource, once discovered.
    resource: Option<ApiResource>,
    objects: Objects,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum MonitorPhase {
    /// Not listed yet: quotas counting this resource wait.
    Starting,
    Synced,
    /// The server does not serve this resource (for watching): quotas leave it out, as
    /// upstream does for resources without an evaluator.
    Unavailable,
}

impl QuotaController {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn watch_quotas(self: Arc<Self>) {
        let api = Api::<ResourceQuota>::all(self.client.clone());
        let mut events = watcher::watcher(api, watcher::Config::default())
            .default_backoff()
            .boxed();
        let mut listed: Option<HashSet<QuotaKey>> = None;
        while let Some(event) = events.next().await {
            let event = match event {
                Ok(event) => event,
                Err(e) => {
                    tracing::debug!("resource quota watch failed: {e}");
                    continue;
                }
            };
            match event {
                Event::Init => listed = Some(HashSet::new()),
                Event::InitApply(quota) => {
                    if let Some(listed) = listed.as_mut() {
                        listed.insert(key_of(&quota));
                    }
                    self.quota_seen(quota);
                }
                Event::InitDone => {
                    if let Some(listed) = listed.take() {
                        self.state().quotas.retain(|k, _| listed.contains(k));
                    }
                }
                Event::Apply(quota) => self.quota_seen(quota),
                Event::Delete(quota) => {
                    self.state().quotas.remove(&key_of(&quota));
                }
            }
        }
    }

    /// Records a quota; queues it when its status needs calculating.
    fn quota_seen(self: &Arc<Self>, quota: ResourceQuota) {
        let key = key_of(&quota);
        let entry = QuotaEntry::new(quota);
        let names = entry.resource_names();
        let mut state = self.state();
        let previous = state.quotas.insert(key.clone(), entry);
        let entry = &state.quotas[&key];
        let queue = match previous {
            None => true,
            Some(previous) => previous.value.get("spec") != entry.value.get("spec"),
        } || status_is_stale(&entry.value);
        self.ensure_monitors(&mut state, &names);
        drop(state);
        if queue {
            self.queue.add(key);
        }
    }

    /// Starts watching every resource the quota resources `names` count.
    fn ensure_monitors(self: &Arc<Self>, state: &mut State, names: &BTreeSet<String>) {
        for gr in names.iter().filter_map(|n| quota::group_resource_for(n)) {
            if state.monitors.contains_key(&gr) {
                continue;
            }
            let Some(evaluator) = Evaluator::for_resource(&gr.group, &gr.resource) else {
                continue;
            };
            state.monitors.insert(
                gr.clone(),
                Monitor {
                    evaluator: evaluator.clone(),
                    phase: MonitorPhase::Starting,
                    resource: None,
                    objects: HashMap::new(),
                },
            );
            tokio::spawn(self.clone().monitor(gr, evaluator));
        }
    }

    /// Watches one resource for as long as the controller runs.
    async fn monitor(self: Arc<Self>, gr: GroupResource, evaluator: Evaluator) {
        let resource = loop {
            match self.api_resource(&gr).await {
                Ok(Some(resource)) => break resource,
                Ok(None) => {
                    // The full resync looks again, in case the resource appears.
                    if let Some(m) = self.state().monitors.get_mut(&gr) {
                        m.phase = MonitorPhase::Unavailable;
                    }
                    self.queue_quotas_counting(&evaluator, None);
                    return;
                }
                Err(e) => {
                    tracing::debug!("quota: discovering {gr:?} failed: {e}");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        };
        if let Some(m) = self.state().monitors.get_mut(&gr) {
            m.resource = Some(resource.clone());
        }
        let api = Api::<DynamicObject>::all_with(self.client.clone(), &resource);
        let mut events = watcher::watcher(api, watcher::Config::default())
            .default_backoff()
            .boxed();
        let mut listing: Option<Objects> = None;
        let keep = |obj: &DynamicObject| {
            evaluator
                .needs_objects()
                .then(|| Arc::new(serde_json::to_value(obj).unwrap_or(Value::Null)))
        };
        while let Some(event) = events.next().await {
            let event = match event {
                Ok(event) => event,
                Err(e) => {
                    tracing::debug!("quota: watching {gr:?} failed: {e}");
                    continue;
                }
            };
            match event {
                Event::Init => listing = Some(HashMap::new()),
                Event::InitApply(obj) => {
                    if let Some(listing) = listing.as_mut() {
                        listing
                            .entry(obj.namespace().unwrap_or_default())
                            .or_default()
                            .insert(obj.name_any(), keep(&obj));
                    }
                }
                Event::InitDone => {
                    if let Some(listing) = listing.take() {
                        let mut state = self.state();
                        if let Some(m) = state.monitors.get_mut(&gr) {
                            m.objects = listing;
                            m.phase = MonitorPhase::Synced;
                        }
                    }
                    self.queue_quotas_counting(&evaluator, None);
                }
                Event::Apply(obj) => {
                    let ns = obj.namespace().unwrap_or_default();
                    let new = keep(&obj);
                    let changed = {
                        let mut state = self.state();
                        let Some(m) = state.monitors.get_mut(&gr) else {
                            continue;
                        };
                        let old = m
                            .objects
                            .entry(ns.clone())
                            .or_default()
                            .insert(obj.name_any(), new.clone());
                        // A new object was charged by admission; a changed one is measured
                        // again when what it uses (or which scopes it is in) changed.
                        match (old.flatten(), new) {
                            (Some(old), Some(new)) => {
                                let quotas = quotas_in(&state, &ns);
                                usage_changed(&evaluator, &quotas, &old, &new)
                            }
                            _ => false,
                        }
                    };
                    if changed {
                        self.queue_quotas_counting(&evaluator, Some(&ns));
                    }
                }
                Event::Delete(obj) => {
                    let ns = obj.namespace().unwrap_or_default();
                    if let Some(m) = self.state().monitors.get_mut(&gr)
                        && let Some(objects) = m.objects.get_mut(&ns)
                    {
                        objects.remove(&obj.name_any());
                        if objects.is_empty() {
                            m.objects.remove(&ns);
                        }
                    }
                    self.queue_quotas_counting(&evaluator, Some(&ns));
                }
            }
        }
    }

    /// The API resource of `gr`, when the server serves it with list and watch.
    async fn api_resource(&self, gr: &GroupResource) -> Result<Option<ApiResource>, kube::Error> {
        if gr.group.is_empty() {
            let known = match gr.resource.as_str() {
                "pods" => Some(ApiResource::erase::<Pod>(&())),
                "services" => Some(ApiResource::erase::<Service>(&())),
                "persistentvolumeclaims" => Some(ApiResource::erase::<PersistentVolumeClaim>(&())),
                "configmaps" => Some(ApiResource::erase::<ConfigMap>(&())),
                "secrets" => Some(ApiResource::erase::<Secret>(&())),
                "replicationcontrollers" => Some(ApiResource::erase::<ReplicationController>(&())),
                "resourcequotas" => Some(ApiResource::erase::<ResourceQuota>(&())),
                _ => None,
            };
            if known.is_some() {
                return Ok(known);
            }
        }
        let group = match kube::discovery::group(&self.client, &gr.group).await {
            Ok(group) => group,
            Err(kube::Error::Discovery(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        Ok(group
            .recommended_resources()
            .into_iter()
            .find(|(ar, caps)| {
                ar.plural == gr.resource
                    && caps.supports_operation(verbs::LIST)
                    && caps.supports_operation(verbs::WATCH)
            })
            .map(|(ar, _)| ar))
    }

    /// Queues the quotas (of `namespace`, or all) that count what `evaluator` measures.
    fn queue_quotas_counting(&self, evaluator: &Evaluator, namespace: Option<&str>) {
        let keys: Vec<QuotaKey> = {
            let state = self.state();
            state
                .quotas
                .iter()
                .filter(|((ns, _), _)| namespace.is_none_or(|n| n == ns))
                .filter(|(_, q)| q.counts(evaluator))
                .map(|(k, _)| k.clone())
                .collect()
        };
        for key in keys {
            self.queue.add(key);
        }
    }

    async fn work(self: Arc<Self>) {
        loop {
            let key = self.queue.next().await;
            match self.sync(&key).await {
                Ok(false) => {}
                Ok(true) => self.requeue_after(key, SETTLE),
                Err(e) => {
                    tracing::debug!("quota {}/{}: {e}", key.0, key.1);
                    self.requeue_after(key, RETRY);
                }
            }
        }
    }

    fn requeue_after(self: &Arc<Self>, key: QuotaKey, delay: Duration) {
        let controller = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            controller.queue.add(key);
        });
    }

    /// Upstream's `syncResourceQuota`: writes the quota's status when it changed. True when
    /// the write set new limits.
    ///
    /// Usage is measured from a consistent list of the namespace's objects, not from the
    /// watched copies: those can lag behind a create the admission plugin has already
    /// charged, and writing a count without it would undo the charge. The write is
    /// conditional on the quota's resourceVersion, so a charge made meanwhile wins.
    async fn sync(&self, key: &QuotaKey) -> Result<bool, kube::Error> {
        let Some(plan) = self.plan(key) else {
            return Ok(false);
        };
        let now = Utc::now();
        let mut used = plan.old_used.clone();
        for (resource, evaluator, names) in &plan.measure {
            let api = Api::<DynamicObject>::namespaced_with(self.client.clone(), &key.0, resource);
            let objects: Vec<Value> = api
                .list(&ListParams::default())
                .await?
                .items
                .iter()
                .map(|obj| serde_json::to_value(obj).unwrap_or(Value::Null))
                .collect();
            used.extend(evaluator.usage_stats(names, &plan.scopes, objects.iter().map(Some), now));
        }
        let Some((updated, new_limits)) = plan.status_update(used) else {
            return Ok(false);
        };
        let api = Api::<ResourceQuota>::namespaced(self.client.clone(), &key.0);
        match api
            .replace_status(&key.1, &PostParams::default(), &updated)
            .await
        {
            Ok(_) => Ok(new_limits),
            Err(kube::Error::Api(e)) if e.code == 404 => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// What measuring the quota takes, or `None` while a resource it counts is still being
    /// listed.
    fn plan(&self, key: &QuotaKey) -> Option<SyncPlan> {
        let state = self.state();
        let entry = state.quotas.get(key)?;
        let hard = quota::resource_list(entry.value.pointer("/spec/hard"));
        let mut by_resource: BTreeMap<GroupResource, BTreeSet<String>> = BTreeMap::new();
        for name in hard.keys() {
            if let Some(gr) = quota::group_resource_for(name) {
                by_resource.entry(gr).or_default().insert(name.clone());
            }
        }
        let mut measure = Vec::new();
        for (gr, names) in by_resource {
            let Some(monitor) = state.monitors.get(&gr) else {
                // Not served: left out of the calculation.
                continue;
            };
            match (monitor.phase, &monitor.resource) {
                (MonitorPhase::Starting, _) => return None,
                (MonitorPhase::Synced, Some(resource)) => {
                    measure.push((resource.clone(), monitor.evaluator.clone(), names))
                }
                _ => {}
            }
        }
        Some(SyncPlan {
            quota: entry.typed.clone(),
            old_used: quota::resource_list(entry.value.pointer("/status/used")),
            status_hard: entry.value.pointer("/status/hard").cloned(),
            scopes: quota::scope_requirements(&entry.value),
            hard,
            measure,
        })
    }

    /// Every so often every quota is recalculated, and resources that were not served are
    /// looked for again.
    async fn resync(self: Arc<Self>) {
        let mut tick = tokio::time::interval(FULL_RESYNC);
        tick.tick().await;
        loop {
            tick.tick().await;
            let keys: Vec<QuotaKey> = {
                let state = self.state();
                for (gr, m) in &state.monitors {
                    if m.phase == MonitorPhase::Unavailable {
                        tokio::spawn(self.clone().monitor(gr.clone(), m.evaluator.clone()));
                    }
                }
                state.quotas.keys().cloned().collect()
            };
            for key in keys {
                self.queue.add(key);
            }
        }
    }
}

/// One recalculation of a quota: what it counts and its status when it started.
struct SyncPlan {
    quota: Arc<ResourceQuota>,
    hard: ResourceList,
    old_used: ResourceList,
    status_hard: Option<Value>,
    scopes: Vec<quota::ScopeRequirement>,
    /// The resources to list, with their evaluator and the quota resources they use.
    measure: Vec<(ApiResource, Evaluator, BTreeSet<String>)>,
}

impl SyncPlan {
    /// The quota with its new status (and whether its limits are new), or `None` when the
    /// status is current.
    fn status_update(&self, used: ResourceList) -> Option<(ResourceQuota, bool)> {
        let hard_names: BTreeSet<String> = self.hard.keys().cloned().collect();
        let used = quota::mask(&used, &hard_names);
        let new_limits = self.status_hard.as_ref().is_none_or(Value::is_null)
            || !quota::equals(&quota::resource_list(self.status_hard.as_ref()), &self.hard);
        let used_missing = self.quota.status.as_ref().is_none_or(|s| s.used.is_none());
        if !new_limits && !used_missing && quota::equals(&used, &self.old_used) {
            return None;
        }
        let mut updated = (*self.quota).clone();
        updated.status = Some(ResourceQuotaStatus {
            hard: Some(k8s_list(&self.hard)),
            used: Some(k8s_list(&used)),
        });
        Some((updated, new_limits))
    }
}

fn key_of(quota: &ResourceQuota) -> QuotaKey {
    (quota.namespace().unwrap_or_default(), quota.name_any())
}

/// Whether the status was written by someone else or lacks a usage this controller knows
/// how to measure (upstream's `addQuota` tests for the same).
fn status_is_stale(quota: &Value) -> bool {
    let spec = quota::resource_list(quota.pointer("/spec/hard"));
    let status = quota.pointer("/status/hard");
    if status.is_none_or(Value::is_null) || !quota::equals(&spec, &quota::resource_list(status)) {
        return true;
    }
    let used = quota.pointer("/status/used").and_then(Value::as_object);
    spec.keys().any(|name| {
        quota::group_resource_for(name).is_some() && !used.is_some_and(|u| u.contains_key(name))
    })
}

/// The quotas of `namespace`, as JSON.
fn quotas_in(state: &State, namespace: &str) -> Vec<Value> {
    state
        .quotas
        .range((namespace.to_string(), String::new())..)
        .take_while(|((ns, _), _)| ns == namespace)
        .map(|(_, q)| q.value.clone())
        .collect()
}

/// Whether an update changed what an object uses, or which of its namespace's quotas'
/// scopes it is in.
fn usage_changed(evaluator: &Evaluator, quotas: &[Value], old: &Value, new: &Value) -> bool {
    let now = Utc::now();
    if !quota::equals(&evaluator.usage(old, now), &evaluator.usage(new, now)) {
        return true;
    }
    quotas.iter().any(|q| {
        quota::scope_requirements(q).iter().any(|s| {
            evaluator.matches_scope(s, old).unwrap_or(false)
                != evaluator.matches_scope(s, new).unwrap_or(false)
        })
    })
}

fn k8s_list(list: &ResourceList) -> BTreeMap<String, K8sQuantity> {
    list.iter()
        .map(|(k, v)| (k.clone(), K8sQuantity(v.canonical())))
        .collect()
}

/// A queue of quotas to calculate; a quota queued twice is calculated once.
#[derive(Default)]
struct Queue {
    inner: Mutex<(VecDeque<QuotaKey>, HashSet<QuotaKey>)>,
    ready: Notify,
}

impl Queue {
    fn add(&self, key: QuotaKey) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if inner.1.insert(key.clone()) {
            inner.0.push_back(key);
            self.ready.notify_one();
        }
    }

    async fn next(&self) -> QuotaKey {
        loop {
            {
                let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(key) = inner.0.pop_front() {
                    inner.1.remove(&key);
                    return key;
                }
            }
            self.ready.notified().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_status_that_differs_from_the_spec_or_lacks_usage_is_stale() {
        let fresh = json!({"spec": {"hard": {"pods": "1"}}});
        assert!(status_is_stale(&fresh));
        let other = json!({"spec": {"hard": {"pods": "1"}}, "status": {"hard": {"pods": "2"}, "used": {"pods": "0"}}});
        assert!(status_is_stale(&other));
        let missing = json!({"spec": {"hard": {"pods": "1", "cpu": "1"}}, "status": {"hard": {"pods": "1", "cpu": "1000m"}, "used": {"pods": "0"}}});
        assert!(status_is_stale(&missing));
        let current = json!({"spec": {"hard": {"pods": "1", "foo": "1"}}, "status": {"hard": {"pods": "1", "foo": "1"}, "used": {"pods": "0"}}});
        assert!(!status_is_stale(&current));
    }

    #[test]
    fn a_pod_changing_scope_or_usage_is_measured_again() {
        let quotas = vec![json!({"spec": {"scopes": ["Terminating"]}})];
        let pod = json!({"spec": {"containers": [{"name": "a"}]}});
        let deadline = json!({"spec": {"activeDeadlineSeconds": 5, "containers": [{"name": "a"}]}});
        let finished =
            json!({"spec": {"containers": [{"name": "a"}]}, "status": {"phase": "Succeeded"}});
        assert!(usage_changed(&Evaluator::Pods, &quotas, &pod, &deadline));
        assert!(usage_changed(&Evaluator::Pods, &[], &pod, &finished));
        assert!(!usage_changed(&Evaluator::Pods, &quotas, &pod, &pod));
    }
}
