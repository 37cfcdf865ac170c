//! The scenarios against a Kubernetes API server, over one shared `kube::Client`.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use futures::StreamExt;
use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{
    ApiResource, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams, PostParams,
    WatchEvent, WatchParams,
};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::DynamicResourceScope;
use kube::{Api, Client, Resource};
use serde_json::json;

use crate::pool;
use crate::report::{self, Row, Samples};

/// The kinds objects can be made of. ConfigMaps and Secrets carry `data` of the requested
/// size; a Pod is one container bound to one of 5,000 node names (`Target::on_nodes`), its
/// payload in an annotation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    #[value(alias = "configmaps", alias = "cm")]
    Configmap,
    #[value(alias = "secrets")]
    Secret,
    #[value(alias = "pods", alias = "po")]
    Pod,
}

impl Kind {
    fn resource(self) -> ApiResource {
        let kind = match self {
            Kind::Configmap => "ConfigMap",
            Kind::Secret => "Secret",
            Kind::Pod => "Pod",
        };
        ApiResource::from_gvk(&GroupVersionKind::gvk("", "v1", kind))
    }

    pub fn plural(self) -> &'static str {
        match self {
            Kind::Configmap => "configmaps",
            Kind::Secret => "secrets",
            Kind::Pod => "pods",
        }
    }
}

/// The client configuration of `path`, or as kubectl would find it (`$KUBECONFIG`,
/// ~/.kube/config, in-cluster).
pub async fn config(path: Option<&Path>) -> Result<kube::Config> {
    Ok(match path {
        Some(path) => {
            let kubeconfig = Kubeconfig::read_from(path)
                .with_context(|| format!("cannot read kubeconfig {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?
        }
        None => kube::Config::infer().await?,
    })
}

/// Connects with `path`, or as kubectl would (`$KUBECONFIG`, ~/.kube/config, in-cluster).
pub async fn connect(path: Option<&Path>) -> Result<Client> {
    Ok(Client::try_from(config(path).await?)?)
}

/// Where the load goes and what it is made of.
#[derive(Clone)]
pub struct Target {
    pub client: Client,
    pub namespace: String,
    pub kind: Kind,
    /// Bytes of `data` in every object written.
    pub size: usize,
    /// Objects are spread over this many namespaces (`<namespace>-NNNN`) when above one.
    pub namespaces: usize,
    /// Pods are bound to this many nodes: the `i`th to `node_name(i % nodes)`.
    pub nodes: usize,
    resource: ApiResource,
}

impl Target {
    pub fn new(client: Client, namespace: &str, kind: Kind, size: usize) -> Target {
        Target {
            client,
            namespace: namespace.to_string(),
            kind,
            size,
            namespaces: 1,
            nodes: 5000,
            resource: kind.resource(),
        }
    }

    /// The same target with objects spread over `namespaces` namespaces.
    pub fn spread_over(mut self, namespaces: usize) -> Target {
        self.namespaces = namespaces.max(1);
        self
    }

    /// The same target with pods bound to `nodes` nodes.
    pub fn on_nodes(mut self, nodes: usize) -> Target {
        self.nodes = nodes.max(1);
        self
    }

    /// The namespace of the `i`th object.
    fn namespace_of(&self, i: usize) -> Cow<'_, str> {
        if self.namespaces > 1 {
            format!("{}-{:04}", self.namespace, i % self.namespaces).into()
        } else {
            self.namespace.as_str().into()
        }
    }

    /// The API of the namespace of the first object, where single-namespace scenarios run.
    fn api(&self) -> Api<DynamicObject> {
        self.api_of(0)
    }

    fn api_of(&self, i: usize) -> Api<DynamicObject> {
        Api::namespaced_with(self.client.clone(), &self.namespace_of(i), &self.resource)
    }

    /// Every object of the kind: the namespace, or all namespaces when spread.
    fn list_api(&self) -> Api<DynamicObject> {
        if self.namespaces > 1 {
            Api::all_with(self.client.clone(), &self.resource)
        } else {
            self.api()
        }
    }

    /// The same objects decoded to their metadata only: watchers skip the data.
    fn slim_api(&self) -> Api<Slim> {
        Api::namespaced_with(self.client.clone(), &self.namespace_of(0), &self.resource)
    }

    /// An object named `name` with `labels` and `size` bytes of data; `salt` varies the data.
    fn object(&self, name: &str, labels: &[(&str, &str)], salt: usize) -> DynamicObject {
        let body = match self.kind {
            Kind::Pod => json!({
                "spec": {
                    "nodeName": node_name(salt % self.nodes),
                    "containers": [{"name": "app", "image": "registry.k8s.io/pause:3.10"}],
                },
            }),
            _ => json!({ "data": { "payload": payload(self.size, salt) } }),
        };
        let mut obj = DynamicObject::new(name, &self.resource)
            .within(&self.namespace_of(salt))
            .data(body);
        if self.kind == Kind::Pod {
            let annotations = [("payload".to_string(), payload(self.size, salt))].into();
            obj.metadata.annotations = Some(annotations);
        }
        let labels: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        obj.metadata.labels = Some(labels);
        obj
    }

    /// Creates the namespaces unless they exist.
    pub async fn ensure_namespaces(&self) -> Result<()> {
        let result = pool::run(self.namespaces, 16, {
            let t = self.clone();
            move |i| {
                let api: Api<Namespace> = Api::all(t.client.clone());
                let name = t.namespace_of(i).into_owned();
                async move {
                    let ns: Namespace = serde_json::from_value(json!({
                        "apiVersion": "v1",
                        "kind": "Namespace",
                        "metadata": { "name": name },
                    }))?;
                    match api.create(&PostParams::default(), &ns).await {
                        Ok(_) => Ok(()),
                        Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
                        Err(e) => Err(e).with_context(|| format!("cannot create namespace {name}")),
                    }
                }
            }
        })
        .await;
        match result.first_error {
            Some(e) => bail!(e),
            None => Ok(()),
        }
    }
}

/// An object of which only the metadata is decoded (serde skips the rest unallocated), so
/// a thousand watchers cost the load generator less CPU than the server under test.
#[derive(Clone, Debug, serde::Deserialize, serde::Serialize)]
struct Slim {
    metadata: ObjectMeta,
    /// A pod's node, which a node watcher checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    spec: Option<SlimSpec>,
}

#[derive(Clone, Debug, serde::Deserialize, serde::Serialize)]
struct SlimSpec {
    #[serde(rename = "nodeName", default, skip_serializing_if = "Option::is_none")]
    node_name: Option<String>,
}

impl Resource for Slim {
    type DynamicType = ApiResource;
    type Scope = DynamicResourceScope;

    fn group(dt: &ApiResource) -> Cow<'_, str> {
        dt.group.as_str().into()
    }

    fn version(dt: &ApiResource) -> Cow<'_, str> {
        dt.version.as_str().into()
    }

    fn kind(dt: &ApiResource) -> Cow<'_, str> {
        dt.kind.as_str().into()
    }

    fn api_version(dt: &ApiResource) -> Cow<'_, str> {
        dt.api_version.as_str().into()
    }

    fn plural(dt: &ApiResource) -> Cow<'_, str> {
        dt.plural.as_str().into()
    }

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

/// `size` characters of base64's alphabet (valid as a Secret's data too), varied by `salt`.
fn payload(size: usize, salt: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let size = size.div_ceil(4) * 4;
    let mut x = salt as u64 ^ 0x9e37_79b9_7f4a_7c15;
    (0..size)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            ALPHABET[(x % ALPHABET.len() as u64) as usize] as char
        })
        .collect()
}

/// The name of the `i`th node pods are bound to.
pub fn node_name(i: usize) -> String {
    format!("node-{i:04}")
}

/// The name of the `i`th object of a set.
pub fn object_name(prefix: &str, i: usize) -> String {
    format!("{prefix}-{i:06}")
}

fn is_conflict(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409)
}

/// Creates `count` objects named `prefix-NNNNNN` with `concurrency` clients.
pub async fn create(
    target: &Target,
    prefix: &str,
    count: usize,
    concurrency: usize,
    ignore_existing: bool,
) -> Row {
    let t = target.clone();
    let prefix_owned = prefix.to_string();
    let stored = Arc::new(AtomicUsize::new(0));
    let stored_in = stored.clone();
    let result = pool::run(count, concurrency, move |i| {
        let api = t.api_of(i);
        let obj = t.object(
            &object_name(&prefix_owned, i),
            &[("loadgen", &prefix_owned)],
            i,
        );
        let stored = stored_in.clone();
        async move {
            match api.create(&PostParams::default(), &obj).await {
                Ok(created) => {
                    if i == 0 {
                        stored.store(serde_json::to_vec(&created)?.len(), Ordering::Relaxed);
                    }
                    Ok(())
                }
                Err(e) if ignore_existing && is_conflict(&e) => Ok(()),
                Err(e) => Err(e.into()),
            }
        }
    })
    .await;
    let bytes = stored.load(Ordering::Relaxed);
    let note = if bytes > 0 {
        format!(
            "{count} {} of {}B data (~{bytes}B JSON), {concurrency} clients",
            target.kind.plural(),
            target.size
        )
    } else {
        format!(
            "{count} {} of {}B data, {concurrency} clients",
            target.kind.plural(),
            target.size
        )
    };
    result.row("create").note(note)
}

/// `gets` GETs by name of random objects among `objects` named `prefix-NNNNNN`.
pub async fn get(
    target: &Target,
    prefix: &str,
    objects: usize,
    gets: usize,
    concurrency: usize,
) -> Row {
    let t = target.clone();
    let prefix = prefix.to_string();
    let objects = objects.max(1);
    let result = pool::run(gets, concurrency, move |_| {
        let i = rand::random_range(0..objects);
        let api = t.api_of(i);
        let name = object_name(&prefix, i);
        async move {
            api.get(&name).await?;
            Ok(())
        }
    })
    .await;
    result.row("get").note(format!(
        "random of {objects} by name, {concurrency} clients"
    ))
}

/// Lists the whole namespace `repeat` times, in one request or in pages of `limit`.
/// Full lists, `repeat` times; with `limit`, page by page, and the latencies are per page.
pub async fn list(target: &Target, limit: Option<u32>, repeat: usize, concurrency: usize) -> Row {
    let api = target.list_api();
    let items = Arc::new(AtomicUsize::new(0));
    let pages = Arc::new(AtomicUsize::new(0));
    let page_samples = Arc::new(std::sync::Mutex::new(Samples::with_capacity(0)));
    let (items_in, pages_in, page_samples_in) =
        (items.clone(), pages.clone(), page_samples.clone());
    let result = pool::run(repeat, concurrency, move |_| {
        let api = api.clone();
        let (items, pages, page_samples) =
            (items_in.clone(), pages_in.clone(), page_samples_in.clone());
        async move {
            let mut token: Option<String> = None;
            let (mut n, mut p) = (0, 0);
            let mut samples = Samples::with_capacity(0);
            loop {
                let mut lp = ListParams::default();
                if let Some(limit) = limit {
                    lp = lp.limit(limit);
                }
                if let Some(token) = &token {
                    lp = lp.continue_token(token);
                }
                let started = Instant::now();
                let page = api.list(&lp).await?;
                samples.push(started.elapsed());
                n += page.items.len();
                p += 1;
                token = page.metadata.continue_.filter(|t| !t.is_empty());
                if token.is_none() {
                    break;
                }
                if limit.is_none() {
                    bail!("a list without limit returned a continue token");
                }
            }
            items.store(n, Ordering::Relaxed);
            pages.store(p, Ordering::Relaxed);
            page_samples.lock().expect("samples lock").extend(samples);
            Ok(())
        }
    })
    .await;
    let (n, p) = (items.load(Ordering::Relaxed), pages.load(Ordering::Relaxed));
    let secs = result.elapsed.as_secs_f64();
    let lists = result.samples.len();
    let items_per_sec = if secs > 0.0 {
        (lists * n) as f64 / secs
    } else {
        0.0
    };
    match limit {
        Some(l) => {
            let samples = std::mem::replace(
                &mut *page_samples.lock().expect("samples lock"),
                Samples::with_capacity(0),
            );
            let pages_total = samples.len() as u64;
            Row::new(
                &format!("list limit={l}"),
                pages_total,
                result.elapsed,
                samples,
            )
            .errors(result.errors, result.first_error)
            .note(format!(
                "{n} items in {p} pages per list, latency per page, {items_per_sec:.0} items/s"
            ))
        }
        None => result
            .row("list")
            .note(format!("{n} items per list, {items_per_sec:.0} items/s")),
    }
}

/// Creates the marker object whose acknowledged resourceVersion the watches start at.
async fn watch_marker(target: &Target, name_prefix: &str, label: (&str, &str)) -> Result<String> {
    let marker = target.object(
        &format!("{name_prefix}-marker"),
        &[(label.0, &format!("{}-marker", label.1))],
        0,
    );
    let marker = target
        .api()
        .create(&PostParams::default(), &marker)
        .await
        .context("cannot create the watch marker")?;
    marker
        .metadata
        .resource_version
        .context("the created marker has no resourceVersion")
}

/// Spawns the watchers and waits until every watch is established (or has failed).
async fn start_watchers(
    watchers: Vec<Watcher>,
    timeout: Duration,
) -> Result<(tokio::task::JoinSet<WatchOutcome>, Duration)> {
    let setup = Instant::now();
    let barrier = Arc::new(tokio::sync::Barrier::new(watchers.len() + 1));
    let mut tasks = tokio::task::JoinSet::new();
    for w in watchers {
        tasks.spawn(w.run(barrier.clone()));
    }
    if tokio::time::timeout(timeout, barrier.wait()).await.is_err() {
        bail!("the watches were not established within {timeout:?}");
    }
    Ok((tasks, setup.elapsed()))
}

/// A burst of `writes` creates named `name_prefix-NNNNNN` with `label`, `concurrency` at a
/// time: when it started, each write's acknowledgment time, and the writes' results.
struct Burst {
    start: Instant,
    acks: Arc<Vec<OnceLock<Instant>>>,
    written: pool::PoolResult,
}

impl Burst {
    async fn run(
        target: &Target,
        name_prefix: &str,
        label: (&'static str, String),
        writes: usize,
        concurrency: usize,
    ) -> Burst {
        let acks: Arc<Vec<OnceLock<Instant>>> =
            Arc::new((0..writes).map(|_| OnceLock::new()).collect());
        let start = Instant::now();
        let (t, acks_in, prefix) = (target.clone(), acks.clone(), name_prefix.to_owned());
        let written = pool::run(writes, concurrency, move |i| {
            let api = t.api();
            let obj = t.object(&object_name(&prefix, i), &[(label.0, &label.1)], i);
            let acks = acks_in.clone();
            async move {
                api.create(&PostParams::default(), &obj).await?;
                let _ = acks[i].set(Instant::now());
                Ok(())
            }
        })
        .await;
        Burst {
            start,
            acks,
            written,
        }
    }

    fn rate(&self) -> f64 {
        self.written.samples.len() as f64 / self.written.elapsed.as_secs_f64().max(1e-9)
    }
}

/// What the watchers of a burst received.
struct Deliveries {
    /// Receipt minus the acknowledgment of the write behind it, per delivery.
    delays: Samples,
    delivered: u64,
    /// Deliveries that arrived before the write's acknowledgment (counted as a delay of 0).
    early: u64,
    last: Instant,
    errors: u64,
    first_error: Option<String>,
    /// Deliveries a watcher should never have been offered (node watchers only).
    strays: u64,
    first_stray: Option<String>,
}

impl Deliveries {
    async fn collect(mut tasks: tokio::task::JoinSet<WatchOutcome>, burst: &Burst) -> Self {
        let mut d = Deliveries {
            delays: Samples::with_capacity(burst.acks.len()),
            delivered: 0,
            early: 0,
            last: burst.start,
            errors: 0,
            first_error: None,
            strays: 0,
            first_stray: None,
        };
        while let Some(joined) = tasks.join_next().await {
            let outcome = joined.unwrap_or_else(|e| WatchOutcome {
                error: Some(e.to_string()),
                ..WatchOutcome::default()
            });
            if let Some(e) = outcome.error {
                d.errors += 1;
                d.first_error.get_or_insert(e);
            }
            d.strays += outcome.strays;
            if let Some(s) = outcome.first_stray {
                d.first_stray.get_or_insert(s);
            }
            for (i, at) in outcome.receipts {
                d.delivered += 1;
                d.last = d.last.max(at);
                if let Some(ack) = burst.acks[i].get() {
                    if at < *ack {
                        d.early += 1;
                    }
                    d.delays.push(at.saturating_duration_since(*ack));
                }
            }
        }
        d
    }

    /// The row: `note` followed by what went wrong or was notable.
    fn row(self, name: &str, burst: Burst, expected: u64, mut note: String) -> Row {
        if self.early > 0 {
            note.push_str(&format!(
                ", {:.0}% arrived before the ack",
                100.0 * self.early as f64 / self.delivered.max(1) as f64
            ));
        }
        if self.delivered < expected {
            note.push_str(&format!(
                ", {} deliveries missing",
                expected - self.delivered
            ));
        }
        if self.strays > 0 {
            note.push_str(&format!(
                ", {} deliveries of other nodes' pods",
                self.strays
            ));
        }
        if burst.written.errors > 0 {
            note.push_str(&format!(
                ", {} writes failed: {}",
                burst.written.errors,
                burst.written.first_error.unwrap_or_default()
            ));
        }
        Row::new(name, self.delivered, self.last - burst.start, self.delays)
            .note(note)
            .errors(
                self.strays + self.errors,
                self.first_stray.or(self.first_error),
            )
    }
}

/// `watchers` watches of one label selector, then a burst of `writes` creates that they all
/// see; a delivery's delay is its receipt minus the acknowledgment of the write behind it.
pub async fn watch(
    target: &Target,
    run_id: &str,
    watchers: usize,
    writes: usize,
    concurrency: usize,
    timeout: Duration,
) -> Result<Row> {
    let selector_value = format!("w{run_id}");
    let selector = format!("loadgen-watch={selector_value}");
    let name_prefix = format!("lgw-{run_id}");
    let start_rv = watch_marker(target, &name_prefix, ("loadgen-watch", &selector_value)).await?;

    let deadline = tokio::time::Instant::now() + timeout;
    let watchers_of_all = (0..watchers)
        .map(|_| Watcher {
            api: target.slim_api(),
            params: WatchParams::default()
                .labels(&selector)
                .timeout(290)
                .disable_bookmarks(),
            rv: start_rv.clone(),
            name_prefix: format!("{name_prefix}-"),
            writes,
            stride: 1,
            offset: 0,
            deadline,
            hold: None,
        })
        .collect();
    let (tasks, setup) = start_watchers(watchers_of_all, timeout).await?;
    let burst = Burst::run(
        target,
        &name_prefix,
        ("loadgen-watch", selector_value),
        writes,
        concurrency,
    )
    .await;
    let deliveries = Deliveries::collect(tasks, &burst).await;
    let expected = (watchers * burst.written.samples.len()) as u64;
    let note = format!(
        "{watchers} watchers x {writes} writes ({concurrency} clients, acked at {:.0}/s), setup {:.2}s",
        burst.rate(),
        setup.as_secs_f64()
    );
    Ok(deliveries.row("watch", burst, expected, note))
}

/// How long node watchers hold their watches after the last expected delivery: events of
/// other nodes' pods, were the server to offer any, would come with the last ones.
const STRAY_GRACE: Duration = Duration::from_secs(1);

/// The kubelet pattern: `nodes` watches of the pods bound to one node each
/// (`fieldSelector=spec.nodeName=node-NNNN`), then a burst of `writes` pod creates, the
/// `i`th bound to node `i % nodes`. Each create must reach its node's watcher and no other,
/// so what the burst costs the server (its CPU time, given `pid`) should follow the writes,
/// not writes x watchers; a delivery's delay is its receipt minus the write's acknowledgment.
pub async fn node_watch(
    target: &Target,
    run_id: &str,
    nodes: usize,
    writes: usize,
    concurrency: usize,
    timeout: Duration,
    pid: Option<u32>,
) -> Result<Row> {
    ensure!(target.kind == Kind::Pod, "node watch writes pods");
    let nodes = nodes.max(1);
    // kube's client speaks HTTP/1.1 only, so every watch is a connection of its own: both
    // ends hold a socket per node.
    let need = (nodes + concurrency + 64) as u64;
    if let Some(limit) = report::open_files_limit(None)
        && limit < need
    {
        bail!("{nodes} watches need about {need} open files, the limit is {limit} (ulimit -n)");
    }
    if let Some(limit) = pid.and_then(|p| report::open_files_limit(Some(p)))
        && limit < need
    {
        eprintln!("den-loadgen: the server may run out of files: its limit is {limit} < {need}");
    }
    let target = target.clone().on_nodes(nodes);
    let label = format!("n{run_id}");
    let name_prefix = format!("lgn-{run_id}");
    let start_rv = watch_marker(&target, &name_prefix, ("loadgen-node-watch", &label)).await?;

    let deadline = tokio::time::Instant::now() + timeout;
    let progress = Arc::new(Progress::default());
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let kubelets = (0..nodes)
        .map(|node| Watcher {
            api: target.slim_api(),
            params: WatchParams::default()
                .fields(&format!("spec.nodeName={}", node_name(node)))
                .timeout(290)
                .disable_bookmarks(),
            rv: start_rv.clone(),
            name_prefix: format!("{name_prefix}-"),
            writes,
            stride: nodes,
            offset: node,
            deadline,
            hold: Some(Hold {
                node: node_name(node),
                progress: progress.clone(),
                signalled: false,
                stop: stop_rx.clone(),
            }),
        })
        .collect();
    let (tasks, setup) = start_watchers(kubelets, timeout).await?;

    let cpu_before = pid.and_then(report::cpu_seconds);
    let burst = Burst::run(
        &target,
        &name_prefix,
        ("loadgen-node-watch", label),
        writes,
        concurrency,
    )
    .await;
    // The burst ends when every watcher has its node's pods (or has given up).
    while progress.done.load(Ordering::Relaxed) < nodes {
        let notified = progress.notify.notified();
        if tokio::time::timeout_at(deadline, notified).await.is_err() {
            break;
        }
    }
    let cpu = cpu_before
        .zip(pid.and_then(report::cpu_seconds))
        .map(|(before, after)| after - before);
    tokio::time::sleep(STRAY_GRACE).await;
    let _ = stop.send(true);

    let deliveries = Deliveries::collect(tasks, &burst).await;
    let expected = burst.written.samples.len() as u64;
    let mut note = format!(
        "{nodes} node watchers x {writes} writes ({concurrency} clients, acked at {:.0}/s), setup {:.2}s",
        burst.rate(),
        setup.as_secs_f64()
    );
    if let Some(cpu) = cpu {
        note.push_str(&format!(", server CPU {cpu:.2}s"));
    }
    Ok(deliveries.row("node watch", burst, expected, note))
}

/// What an open idle watch yields: one item per piece the server sends, until it ends.
type Held = futures::stream::BoxStream<'static, ()>;

/// Opens one idle watch (`concurrency` at a time, by `limit`), tells `opened` when (or why
/// not), and holds it, reading whatever comes (e.g. bookmarks), until `stop`.
async fn hold_watch(
    open: BoxFuture<'static, Result<Held, String>>,
    limit: Arc<tokio::sync::Semaphore>,
    opened: tokio::sync::mpsc::Sender<Result<Instant, String>>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let permit = limit.acquire_owned().await;
    let held = open.await;
    drop(permit);
    let mut held = match held {
        Ok(held) => held,
        Err(e) => {
            let _ = opened.send(Err(e)).await;
            return;
        }
    };
    let _ = opened.send(Ok(Instant::now())).await;
    drop(opened);
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            item = held.next() => if item.is_none() { return },
        }
    }
}

/// How long idle watches stay open before the server's RSS is read, so it has settled.
const IDLE_SETTLE: Duration = Duration::from_secs(2);

/// How long an idle watch over HTTP/2 may wait for its response headers. A stream beyond the
/// server's limit of concurrent streams per connection waits for one forever; after the first
/// such timeout the watches not yet sent fail at once.
const H2_OPEN_TIMEOUT: Duration = Duration::from_secs(15);

/// How idle watches reach the server.
pub enum Transport {
    /// kube's client, which speaks HTTP/1.1 only: one connection per watch.
    Http1,
    /// HTTP/2 streams multiplexed `streams_per_connection` to a TLS connection, as client-go
    /// multiplexes every watch of a process over one connection.
    Http2 {
        config: Box<kube::Config>,
        streams_per_connection: usize,
    },
}

/// `watchers` idle kubelet-style watches (`spec.nodeName` of nodes without pods), opened
/// `concurrency` at a time: the server's RSS growth per open watch, everything a watch holds
/// (its connection or stream, TLS and HTTP buffers, tasks, cache watcher).
pub async fn idle_watch(
    target: &Target,
    watchers: usize,
    concurrency: usize,
    pid: u32,
    transport: &Transport,
) -> Result<Row> {
    ensure!(target.kind == Kind::Pod, "idle watch watches pods");
    let watchers = watchers.max(1);
    let before = report::rss_kib(pid).context("cannot read the server's RSS")?;
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let (opened_tx, mut opened_rx) = tokio::sync::mpsc::channel(watchers);
    let started = Instant::now();
    let limit = Arc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    let mut h2 = None;
    let hold = |open: BoxFuture<'static, Result<Held, String>>| {
        let (stop, opened, limit) = (stop_rx.clone(), opened_tx.clone(), limit.clone());
        hold_watch(open, limit, opened, stop)
    };
    match transport {
        Transport::Http1 => {
            for i in 0..watchers {
                let api = target.slim_api();
                let params = WatchParams::default()
                    .fields(&format!("spec.nodeName={}", idle_node(i)))
                    .timeout(290);
                tasks.spawn(hold(Box::pin(async move {
                    let stream = api.watch(&params, "0").await.map_err(|e| e.to_string())?;
                    Ok(stream.map(|_| ()).boxed())
                })));
            }
        }
        Transport::Http2 {
            config,
            streams_per_connection,
        } => {
            let per_connection = (*streams_per_connection).max(1);
            let client =
                H2Client::connect(config, watchers.div_ceil(per_connection), concurrency).await?;
            let stuck = Arc::new(std::sync::atomic::AtomicBool::new(false));
            for i in 0..watchers {
                let request = client.watch_request(&target.namespace, &idle_node(i))?;
                let mut sender = client.senders[i / per_connection].clone();
                let stuck = stuck.clone();
                tasks.spawn(hold(Box::pin(async move {
                    if stuck.load(Ordering::Relaxed) {
                        return Err("not sent: an earlier watch got no response headers".into());
                    }
                    let response = tokio::time::timeout(H2_OPEN_TIMEOUT, async {
                        sender.ready().await?;
                        sender.send_request(request).await
                    })
                    .await;
                    match response {
                        Ok(Ok(response)) if response.status() == http::StatusCode::OK => {
                            // Whatever comes (e.g. bookmarks), until the body ends.
                            let frames =
                                futures::stream::unfold(response.into_body(), |mut body| async {
                                    match http_body_util::BodyExt::frame(&mut body).await {
                                        Some(Ok(_)) => Some(((), body)),
                                        _ => None,
                                    }
                                });
                            Ok(frames.boxed())
                        }
                        Ok(Ok(response)) => {
                            let status = response.status();
                            let body = tokio::time::timeout(
                                Duration::from_secs(5),
                                http_body_util::BodyExt::collect(response.into_body()),
                            )
                            .await;
                            let text = match body {
                                Ok(Ok(body)) => {
                                    String::from_utf8_lossy(&body.to_bytes()).into_owned()
                                }
                                _ => String::new(),
                            };
                            Err(format!("HTTP {status}: {}", text.trim()))
                        }
                        Ok(Err(e)) => Err(format!("HTTP/2 request: {e}")),
                        Err(_) => {
                            stuck.store(true, Ordering::Relaxed);
                            Err(format!(
                                "no response headers within {}s (more streams per \
                                 connection than the server allows? see \
                                 --streams-per-connection)",
                                H2_OPEN_TIMEOUT.as_secs()
                            ))
                        }
                    }
                })));
            }
            h2 = Some(client);
        }
    }
    drop(opened_tx);
    let mut setup = Samples::with_capacity(watchers);
    let (mut errors, mut first_error) = (0u64, None);
    while let Some(opened) = opened_rx.recv().await {
        match opened {
            Ok(at) => setup.push(at - started),
            Err(e) => {
                errors += 1;
                first_error.get_or_insert(e);
            }
        }
    }
    let open = setup.len();
    let elapsed = started.elapsed();
    tokio::time::sleep(IDLE_SETTLE).await;
    let during = report::rss_kib(pid).context("cannot read the server's RSS")?;
    let _ = stop.send(true);
    while tasks.join_next().await.is_some() {}
    let over = match &h2 {
        Some(client) => format!(
            "over HTTP/2 ({} connection{})",
            client.senders.len(),
            if client.senders.len() == 1 { "" } else { "s" }
        ),
        None => "over HTTP/1.1 (a connection each)".to_string(),
    };
    if let Some(client) = h2 {
        client.close().await;
    }
    let per_watch = during.saturating_sub(before) as f64 / open.max(1) as f64;
    Ok(Row::new("idle watch", open as u64, elapsed, setup)
        .note(format!(
            "{open} idle watches {over}: server RSS {} → {} MiB, {per_watch:.1} KiB per watch (p* = time to open)",
            before / 1024,
            during / 1024
        ))
        .errors(errors, first_error))
}

/// The node of the `i`th idle watch, which has no pods.
fn idle_node(i: usize) -> String {
    format!("idle-{i:05}")
}

type H2Body = http_body_util::Empty<hyper::body::Bytes>;

/// HTTP/2 connections to the server of a kubeconfig, over TLS negotiated to `h2` by ALPN.
struct H2Client {
    /// One per connection; clones share it.
    senders: Vec<hyper::client::conn::http2::SendRequest<H2Body>>,
    /// The tasks driving the connections.
    connections: tokio::task::JoinSet<()>,
    /// `scheme://authority/path-prefix` of the server, without a trailing slash.
    base: String,
    /// Headers every request carries (authorization, the kubeconfig's extra headers).
    headers: http::HeaderMap,
}

impl H2Client {
    /// Opens `count` connections, `concurrency` handshakes at a time.
    async fn connect(config: &kube::Config, count: usize, concurrency: usize) -> Result<H2Client> {
        use kube::client::ConfigExt;

        let url = &config.cluster_url;
        ensure!(
            url.scheme_str() == Some("https"),
            "--http2 needs an https server URL (h2 negotiated by TLS ALPN), not {url}"
        );
        let host = url
            .host()
            .with_context(|| format!("server URL {url} has no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = url.port_u16().unwrap_or(443);
        let name = config
            .tls_server_name
            .clone()
            .unwrap_or_else(|| host.clone());
        let name = rustls::pki_types::ServerName::try_from(name.clone())
            .with_context(|| format!("invalid TLS server name {name:?}"))?;
        let mut tls = config
            .rustls_client_config()
            .context("cannot build the TLS client config from the kubeconfig")?;
        tls.alpn_protocols = vec![b"h2".to_vec()];
        let tls = tokio_rustls::TlsConnector::from(Arc::new(tls));

        let mut headers = http::HeaderMap::new();
        for (name, value) in &config.headers {
            headers.append(name.clone(), value.clone());
        }
        if let Some(token) = bearer_token(config)? {
            let value = http::HeaderValue::try_from(format!("Bearer {token}"))
                .context("the kubeconfig's token is not a valid header value")?;
            headers.insert(http::header::AUTHORIZATION, value);
        }
        headers.insert(
            http::header::ACCEPT,
            http::HeaderValue::from_static("application/json"),
        );
        headers.insert(
            http::header::USER_AGENT,
            http::HeaderValue::from_static("den-loadgen"),
        );

        let connect_one = |i: usize| {
            let (tls, name, host) = (tls.clone(), name.clone(), host.clone());
            async move {
                let tcp = tokio::net::TcpStream::connect((host.as_str(), port))
                    .await
                    .with_context(|| format!("cannot connect to {host}:{port}"))?;
                tcp.set_nodelay(true)?;
                let stream = tls
                    .connect(name, tcp)
                    .await
                    .with_context(|| format!("TLS handshake with {host}:{port}"))?;
                let alpn = stream.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
                ensure!(
                    alpn.as_deref() == Some(b"h2"),
                    "the server at {host}:{port} did not negotiate HTTP/2 by ALPN (it chose {})",
                    match &alpn {
                        Some(p) => format!("{:?}", String::from_utf8_lossy(p)),
                        None => "no protocol".to_string(),
                    }
                );
                let (sender, connection) = hyper::client::conn::http2::handshake(
                    hyper_util::rt::TokioExecutor::new(),
                    hyper_util::rt::TokioIo::new(stream),
                )
                .await
                .with_context(|| format!("HTTP/2 handshake with {host}:{port}"))?;
                anyhow::Ok((i, sender, connection))
            }
        };
        let mut handshakes = futures::stream::iter(0..count)
            .map(connect_one)
            .buffer_unordered(concurrency.max(1));
        let mut senders = Vec::with_capacity(count);
        let mut connections = tokio::task::JoinSet::new();
        while let Some(handshake) = handshakes.next().await {
            let (i, sender, connection) = handshake?;
            connections.spawn(async move {
                if let Err(e) = connection.await {
                    eprintln!("den-loadgen: HTTP/2 connection {i}: {e}");
                }
            });
            senders.push(sender);
        }
        let base = format!(
            "{}://{}{}",
            url.scheme_str().unwrap_or("https"),
            url.authority().map(|a| a.as_str()).unwrap_or_default(),
            url.path().trim_end_matches('/')
        );
        Ok(H2Client {
            senders,
            connections,
            base,
            headers,
        })
    }

    /// A kubelet's watch of the pods of `node` in `namespace`, from resourceVersion 0 with
    /// bookmarks, as the HTTP/1 path's `Api::watch` asks.
    fn watch_request(&self, namespace: &str, node: &str) -> Result<http::Request<H2Body>> {
        let uri = format!(
            "{}/api/v1/namespaces/{namespace}/pods?watch=true&resourceVersion=0\
             &allowWatchBookmarks=true&timeoutSeconds=290&fieldSelector=spec.nodeName%3D{node}",
            self.base
        );
        let mut request = http::Request::get(uri).body(H2Body::new())?;
        request.headers_mut().extend(self.headers.clone());
        Ok(request)
    }

    /// Closes the connections: gracefully once their streams are gone, else abruptly.
    async fn close(mut self) {
        self.senders.clear();
        let connections = &mut self.connections;
        let drained = async { while connections.join_next().await.is_some() {} };
        let _ = tokio::time::timeout(Duration::from_secs(5), drained).await;
        self.connections.abort_all();
    }
}

/// The kubeconfig's bearer token (or token file), if it has one.
fn bearer_token(config: &kube::Config) -> Result<Option<String>> {
    // `AuthInfo` keeps the token secret; its serialized form carries it.
    let auth = serde_json::to_value(&config.auth_info)?;
    if let Some(token) = auth.get("token").and_then(|t| t.as_str()) {
        return Ok(Some(token.to_string()));
    }
    if let Some(file) = auth.get("tokenFile").and_then(|t| t.as_str()) {
        let token = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read the token file {file}"))?;
        return Ok(Some(token.trim().to_string()));
    }
    Ok(None)
}

struct Watcher {
    api: Api<Slim>,
    params: WatchParams,
    rv: String,
    name_prefix: String,
    /// The burst's writes are `name_prefix` + 0..writes; this watcher expects those whose
    /// index is `offset` modulo `stride`.
    writes: usize,
    stride: usize,
    offset: usize,
    deadline: tokio::time::Instant,
    /// A node watcher's: it holds its watch past its last expected event.
    hold: Option<Hold>,
}

/// A kubelet's watch stays open after its last expected event, until `stop`, to catch
/// events of other nodes' pods it should never have been offered.
struct Hold {
    node: String,
    progress: Arc<Progress>,
    signalled: bool,
    stop: tokio::sync::watch::Receiver<bool>,
}

/// How many node watchers have every event they expect (or have given up).
#[derive(Default)]
struct Progress {
    done: AtomicUsize,
    notify: tokio::sync::Notify,
}

#[derive(Default)]
struct WatchOutcome {
    /// (index of the write, when its event arrived)
    receipts: Vec<(usize, Instant)>,
    error: Option<String>,
    /// Events of pods on other nodes (node watchers only).
    strays: u64,
    first_stray: Option<String>,
}

impl Watcher {
    fn wants(&self, i: usize) -> bool {
        i < self.writes && i % self.stride == self.offset
    }

    fn want(&self) -> usize {
        if self.offset < self.writes {
            (self.writes - self.offset - 1) / self.stride + 1
        } else {
            0
        }
    }

    /// Tells the run, once, that this node watcher is done with the burst.
    fn signal(&mut self) {
        if let Some(hold) = &mut self.hold
            && !hold.signalled
        {
            hold.signalled = true;
            hold.progress.done.fetch_add(1, Ordering::Relaxed);
            hold.progress.notify.notify_one();
        }
    }

    async fn run(mut self, barrier: Arc<tokio::sync::Barrier>) -> WatchOutcome {
        let mut out = WatchOutcome::default();
        self.watch(barrier, &mut out).await;
        self.signal();
        out
    }

    async fn watch(&mut self, barrier: Arc<tokio::sync::Barrier>, out: &mut WatchOutcome) {
        let want = self.want();
        let mut seen = vec![false; self.writes];
        out.receipts.reserve(want);
        let mut first = true;
        loop {
            let stream = self.api.watch(&self.params, &self.rv).await;
            if first {
                barrier.wait().await;
                first = false;
            }
            if out.receipts.len() >= want {
                if self.hold.is_none() {
                    return;
                }
                self.signal();
            }
            let stream = match stream {
                Ok(stream) => stream,
                Err(e) => {
                    out.error = Some(format!("watch: {e}"));
                    if tokio::time::Instant::now() >= self.deadline {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            };
            let mut stream = std::pin::pin!(stream);
            loop {
                let next = tokio::select! {
                    biased;
                    () = stopped(&mut self.hold) => return,
                    next = tokio::time::timeout_at(self.deadline, stream.next()) => next,
                };
                let event = match next {
                    Err(_) => {
                        if out.receipts.len() < want {
                            out.error = Some(format!(
                                "timed out with {} of {want} events",
                                out.receipts.len()
                            ));
                        }
                        return;
                    }
                    Ok(None) => break,
                    Ok(Some(Err(e))) => {
                        out.error = Some(format!("watch stream: {e}"));
                        break;
                    }
                    Ok(Some(Ok(event))) => event,
                };
                let now = Instant::now();
                match event {
                    WatchEvent::Added(obj)
                    | WatchEvent::Modified(obj)
                    | WatchEvent::Deleted(obj) => {
                        if let Some(rv) = obj.metadata.resource_version {
                            self.rv = rv;
                        }
                        let name = obj.metadata.name.as_deref().unwrap_or_default();
                        let index = name
                            .strip_prefix(&self.name_prefix)
                            .and_then(|n| n.parse::<usize>().ok());
                        if let Some(hold) = &self.hold {
                            let node = obj.spec.as_ref().and_then(|s| s.node_name.as_deref());
                            if node != Some(hold.node.as_str())
                                || index.is_some_and(|i| !self.wants(i))
                            {
                                out.strays += 1;
                                out.first_stray.get_or_insert_with(|| {
                                    format!(
                                        "the watcher of {} received pod {name} of {}",
                                        hold.node,
                                        node.unwrap_or("no node")
                                    )
                                });
                            }
                        }
                        if let Some(i) = index.filter(|&i| self.wants(i))
                            && !seen[i]
                        {
                            seen[i] = true;
                            out.receipts.push((i, now));
                            if out.receipts.len() == want {
                                if self.hold.is_none() {
                                    return;
                                }
                                self.signal();
                            }
                        }
                    }
                    WatchEvent::Bookmark(b) => self.rv = b.metadata.resource_version,
                    WatchEvent::Error(status) => {
                        out.error =
                            Some(format!("watch error {}: {}", status.code, status.message));
                        if status.code == 410 {
                            return;
                        }
                        break;
                    }
                }
            }
            if tokio::time::Instant::now() >= self.deadline {
                return;
            }
        }
    }
}

/// Completes when a node watcher is told to stop; never for other watchers.
async fn stopped(hold: &mut Option<Hold>) {
    match hold {
        Some(hold) => {
            // An error means the run is gone: stop too.
            let _ = hold.stop.wait_for(|&stop| stop).await;
        }
        None => std::future::pending().await,
    }
}

#[derive(Default)]
struct VerbStats {
    samples: Samples,
    errors: u64,
    first_error: Option<String>,
}

const VERBS: [&str; 5] = ["create", "get", "update", "delete", "list"];

/// Mixed read/write churn for `duration` with `concurrency` clients: each client creates,
/// reads, updates (merge patch) and deletes objects of its own, and lists pages of 100.
pub async fn churn(
    target: &Target,
    run_id: &str,
    duration: Duration,
    concurrency: usize,
) -> Vec<Row> {
    let start = Instant::now();
    let deadline = start + duration;
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..concurrency.max(1) {
        let t = target.clone();
        let prefix = format!("lgc-{run_id}-{worker}");
        tasks.spawn(async move {
            let api = t.api();
            let mut stats: [VerbStats; 5] = Default::default();
            let mut live: Vec<String> = Vec::new();
            let mut next = 0usize;
            while Instant::now() < deadline {
                let roll = rand::random_range(0..100u32);
                let verb = match roll {
                    _ if live.len() < 4 => 0,
                    0..20 => 0,
                    20..55 => 1,
                    55..75 => 2,
                    75..85 => 3,
                    _ => 4,
                };
                let began = Instant::now();
                let result: Result<()> = match verb {
                    0 => {
                        let name = object_name(&prefix, next);
                        next += 1;
                        let obj = t.object(&name, &[("loadgen", &prefix)], next);
                        let r = api.create(&PostParams::default(), &obj).await;
                        if r.is_ok() {
                            live.push(name);
                        }
                        r.map(drop).map_err(Into::into)
                    }
                    1 => {
                        let name = &live[rand::random_range(0..live.len())];
                        api.get(name).await.map(drop).map_err(Into::into)
                    }
                    2 => {
                        let name = &live[rand::random_range(0..live.len())];
                        let patch =
                            json!({ "data": { "payload": payload(t.size, next + roll as usize) } });
                        api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
                            .await
                            .map(drop)
                            .map_err(Into::into)
                    }
                    3 => {
                        let name = live.swap_remove(rand::random_range(0..live.len()));
                        api.delete(&name, &Default::default())
                            .await
                            .map(drop)
                            .map_err(Into::into)
                    }
                    _ => api
                        .list(&ListParams::default().limit(100))
                        .await
                        .map(drop)
                        .map_err(Into::into),
                };
                let s = &mut stats[verb];
                match result {
                    Ok(()) => s.samples.push(began.elapsed()),
                    Err(e) => {
                        s.errors += 1;
                        s.first_error.get_or_insert_with(|| format!("{e:#}"));
                    }
                }
            }
            stats
        });
    }
    let mut total: [VerbStats; 5] = Default::default();
    while let Some(joined) = tasks.join_next().await {
        if let Ok(stats) = joined {
            for (t, s) in total.iter_mut().zip(stats) {
                t.samples.extend(s.samples);
                t.errors += s.errors;
                if t.first_error.is_none() {
                    t.first_error = s.first_error;
                }
            }
        }
    }
    let elapsed = start.elapsed();
    let mut all = VerbStats::default();
    let mut rows = Vec::new();
    for (verb, s) in VERBS.iter().zip(total) {
        all.samples.extend(s.samples.clone());
        all.errors += s.errors;
        if all.first_error.is_none() {
            all.first_error = s.first_error.clone();
        }
        let ops = s.samples.len() as u64;
        rows.push(
            Row::new(&format!("churn {verb}"), ops, elapsed, s.samples)
                .errors(s.errors, s.first_error),
        );
    }
    let ops = all.samples.len() as u64;
    let head = Row::new("churn", ops, elapsed, all.samples)
        .note(format!(
            "{concurrency} clients for {:.0}s: 20% create, 35% get, 20% update, 10% delete, 15% list limit=100",
            duration.as_secs_f64()
        ))
        .errors(all.errors, all.first_error);
    std::iter::once(head).chain(rows).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_has_the_size_and_is_base64() {
        let p = payload(1024, 7);
        assert_eq!(p.len(), 1024);
        assert!(p.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_ne!(payload(1024, 7), payload(1024, 8));
        assert_eq!(payload(1023, 1).len(), 1024);
    }

    #[test]
    fn names_sort_by_index() {
        assert_eq!(object_name("lg-ab", 42), "lg-ab-000042");
    }

    #[test]
    fn h2_watch_request_is_absolute_with_the_field_selector() {
        let client = H2Client {
            senders: Vec::new(),
            connections: tokio::task::JoinSet::new(),
            base: "https://127.0.0.1:6443".to_string(),
            headers: http::HeaderMap::new(),
        };
        let request = client.watch_request("loadgen", &idle_node(7)).unwrap();
        let uri = request.uri();
        assert_eq!(uri.scheme_str(), Some("https"));
        assert_eq!(uri.path(), "/api/v1/namespaces/loadgen/pods");
        assert!(
            uri.query()
                .unwrap()
                .contains("fieldSelector=spec.nodeName%3Didle-00007")
        );
        assert!(uri.query().unwrap().contains("watch=true"));
    }
}
