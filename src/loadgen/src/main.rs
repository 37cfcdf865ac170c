//! `den-loadgen`: load for any Kubernetes API server named by a kubeconfig (Den or
//! upstream, so the two can be compared on one machine), and for raw etcd.
//!
//! Every scenario prints one row: operations, throughput, p50/p90/p99 latency and, given
//! `--pid`, the server's resident set size before→after. `--json` prints the rows as JSON
//! lines instead; `den-loadgen table` turns such lines back into one table.

mod etcd;
mod kube_load;
mod pool;
mod report;

use std::future::Future;
use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};

use kube_load::{Kind, Target};
use report::Row;

#[derive(Parser)]
#[command(
    name = "den-loadgen",
    version,
    about = "Load generator for Kubernetes API servers and etcd"
)]
struct Cli {
    /// The kubeconfig of the server under test (default: $KUBECONFIG, then ~/.kube/config).
    #[arg(long, global = true)]
    kubeconfig: Option<PathBuf>,
    /// The server's pid: its RSS (VmRSS) is reported before and after each scenario.
    #[arg(long, global = true)]
    pid: Option<u32>,
    /// Print one JSON object per scenario instead of a table.
    #[arg(long, global = true)]
    json: bool,
    /// The namespace the objects go in (created when missing).
    #[arg(long, global = true, default_value = "loadgen")]
    namespace: String,
    /// Prefix every scenario name with this label (e.g. `den`, `upstream`).
    #[arg(long, global = true)]
    label: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
struct ObjectArgs {
    /// The kind of object written.
    #[arg(long, value_enum, default_value = "configmap")]
    kind: Kind,
    /// Bytes of `data` in each object.
    #[arg(long, default_value_t = 1024)]
    size: usize,
    /// Concurrent clients (requests in flight over the one shared client).
    #[arg(long, short = 'c', default_value_t = 64)]
    concurrency: usize,
    /// Spread the objects over this many namespaces, `<namespace>-NNNN` (lists then cover
    /// all namespaces).
    #[arg(long, default_value_t = 1)]
    namespaces: usize,
}

#[derive(Subcommand)]
enum Command {
    /// Create N objects with C concurrent clients.
    Create {
        #[command(flatten)]
        object: ObjectArgs,
        #[arg(long, short = 'n', default_value_t = 1000)]
        count: usize,
    },
    /// GET objects by name (N objects named lg-seed-NNNNNN are created first, if missing).
    Get {
        #[command(flatten)]
        object: ObjectArgs,
        /// How many objects to spread the GETs over.
        #[arg(long, short = 'n', default_value_t = 1000)]
        count: usize,
        /// How many GETs (default: --count).
        #[arg(long)]
        gets: Option<usize>,
    },
    /// LIST the whole namespace (N objects named lg-seed-NNNNNN are created first, if missing).
    List {
        #[command(flatten)]
        object: ObjectArgs,
        #[arg(long, short = 'n', default_value_t = 1000)]
        count: usize,
        /// Page size; without it one request returns everything.
        #[arg(long)]
        limit: Option<u32>,
        /// How many full lists.
        #[arg(long, default_value_t = 10)]
        repeat: usize,
        /// Full lists in flight at once.
        #[arg(long, default_value_t = 1)]
        list_concurrency: usize,
    },
    /// W watchers receive a burst of M creates; reports delay from ack to delivery.
    Watch {
        #[command(flatten)]
        object: ObjectArgs,
        #[command(flatten)]
        watch: WatchArgs,
    },
    /// N kubelets' watches (fieldSelector=spec.nodeName) receive a burst of M pod creates
    /// spread over their nodes; reports delay from ack to delivery and, given --pid, the
    /// server's CPU time. The objects are always pods (--kind is ignored).
    NodeWatch {
        #[command(flatten)]
        object: ObjectArgs,
        #[command(flatten)]
        watch: NodeWatchArgs,
    },
    /// W idle kubelet-style watches (pods of a node with no pods): the server's memory per
    /// open watch, from its RSS (needs --pid).
    IdleWatch {
        #[command(flatten)]
        object: ObjectArgs,
        #[arg(long, default_value_t = 2000)]
        watchers: usize,
        /// Open the watches as HTTP/2 streams multiplexed over a few TLS connections (as
        /// client-go does), instead of one HTTP/1.1 connection each.
        #[arg(long)]
        http2: bool,
        /// With --http2: watches per connection (the server's stream limit caps it; hyper
        /// allows 200 concurrent streams, kube-apiserver 100).
        #[arg(long, default_value_t = 100, requires = "http2")]
        streams_per_connection: usize,
    },
    /// Mixed create/get/update/delete/list for a while.
    Churn {
        #[command(flatten)]
        object: ObjectArgs,
        /// Seconds to run.
        #[arg(long, default_value_t = 10.0)]
        duration: f64,
    },
    /// Raw etcd puts of the same size, the baseline for create throughput on etcd.
    EtcdPut {
        #[command(flatten)]
        etcd: EtcdArgs,
        #[arg(long, short = 'n', default_value_t = 1000)]
        count: usize,
        #[arg(long, default_value_t = 1024)]
        size: usize,
        #[arg(long, short = 'c', default_value_t = 64)]
        concurrency: usize,
        /// Take the value size from this key's value (e.g. an object the API server stored).
        #[arg(long)]
        size_from_key: Option<String>,
        /// Put only if absent, in a transaction, as an API server's create does.
        #[arg(long)]
        txn: bool,
    },
    /// The standard set: create, get, list, list with limit, watch, churn (and the etcd
    /// baseline when --etcd-endpoints is given).
    All(AllArgs),
    /// Print JSON lines (from --json runs; on stdin or in FILES) as one table.
    Table { files: Vec<PathBuf> },
}

#[derive(Args, Clone)]
struct WatchArgs {
    #[arg(long, default_value_t = 100)]
    watchers: usize,
    /// Writes in the burst.
    #[arg(long, default_value_t = 100)]
    writes: usize,
    /// Give up on deliveries after this many seconds.
    #[arg(long, default_value_t = 120)]
    watch_timeout: u64,
}

#[derive(Args, Clone)]
struct NodeWatchArgs {
    /// Nodes, one watcher each: `node-0000` ...
    #[arg(long, default_value_t = 1000)]
    nodes: usize,
    /// Pod creates in the burst, the `i`th bound to node `i % nodes`.
    #[arg(long, default_value_t = 1000)]
    writes: usize,
    /// Give up on deliveries after this many seconds.
    #[arg(long, default_value_t = 120)]
    watch_timeout: u64,
}

#[derive(Args, Clone)]
struct EtcdArgs {
    /// etcd endpoints, comma-separated (e.g. http://127.0.0.1:2379).
    #[arg(long = "etcd-endpoints", alias = "endpoints", value_delimiter = ',')]
    endpoints: Vec<String>,
}

#[derive(Args, Clone)]
struct AllArgs {
    #[command(flatten)]
    object: ObjectArgs,
    /// Objects created (then read and listed).
    #[arg(long, short = 'n', default_value_t = 1000)]
    count: usize,
    /// GETs by name (default: --count).
    #[arg(long)]
    gets: Option<usize>,
    /// Full lists per list scenario.
    #[arg(long, default_value_t = 5)]
    list_repeat: usize,
    /// Page size of the paginated list.
    #[arg(long, default_value_t = 500)]
    list_limit: u32,
    #[command(flatten)]
    watch: WatchArgs,
    /// Seconds of churn.
    #[arg(long, default_value_t = 5.0)]
    churn_seconds: f64,
    /// Also measure raw etcd puts of the size Den stored (Den on etcd).
    #[command(flatten)]
    etcd: EtcdArgs,
    /// The API server's etcd key prefix, to find what it stored.
    #[arg(long, default_value = "/registry")]
    etcd_prefix: String,
}

/// Where rows go, and what measures the server's memory.
struct Out {
    json: bool,
    label: Option<String>,
    pid: Option<u32>,
    rows: Vec<Row>,
}

impl Out {
    /// Runs one scenario, noting the server's RSS around it, and records its rows.
    async fn scenario<F>(&mut self, name: &str, run: F) -> Result<()>
    where
        F: Future<Output = Result<Vec<Row>>>,
    {
        eprintln!("den-loadgen: {name} ...");
        let before = self.pid.and_then(report::rss_kib);
        let mut rows = run.await.with_context(|| format!("scenario {name}"))?;
        let after = self.pid.and_then(report::rss_kib);
        if let Some(first) = rows.first_mut() {
            first.rss_kib_before = before;
            first.rss_kib_after = after;
        }
        for mut row in rows {
            if let Some(label) = &self.label {
                row.scenario = format!("{label} {}", row.scenario);
            }
            if self.json {
                println!("{}", serde_json::to_string(&row)?);
            } else {
                eprintln!(
                    "den-loadgen:   {}: {} ops, {:.0}/s, p99 {}",
                    row.scenario,
                    row.ops,
                    row.ops_per_sec.unwrap_or(0.0),
                    report::fmt_ms(row.p99_ms)
                );
            }
            self.rows.push(row);
        }
        Ok(())
    }

    fn finish(&self) {
        if !self.json {
            print!("{}", report::table(&self.rows));
        }
    }
}

fn run_id() -> String {
    format!("{:08x}", rand::random::<u32>())
}

/// `--kubeconfig`, else the first path of `$KUBECONFIG`.
fn kubeconfig_path(cli: &Cli) -> Option<PathBuf> {
    cli.kubeconfig.clone().or_else(|| {
        std::env::var_os("KUBECONFIG")
            .and_then(|v| std::env::split_paths(&v).next())
            .filter(|p| !p.as_os_str().is_empty())
    })
}

async fn target(cli: &Cli, object: &ObjectArgs) -> Result<Target> {
    let client = kube_load::connect(kubeconfig_path(cli).as_deref()).await?;
    let target = Target::new(client, &cli.namespace, object.kind, object.size)
        .spread_over(object.namespaces);
    target.ensure_namespaces().await?;
    Ok(target)
}

/// Makes sure `count` objects named lg-seed-NNNNNN exist, for get and list on their own.
async fn seed(target: &Target, count: usize, concurrency: usize) -> Result<()> {
    eprintln!("den-loadgen: seeding {count} objects ...");
    let row = kube_load::create(target, "lg-seed", count, concurrency, true).await;
    anyhow::ensure!(row.errors == 0, "seeding failed: {}", row.note);
    Ok(())
}

async fn run(cli: Cli) -> Result<()> {
    let mut out = Out {
        json: cli.json,
        label: cli.label.clone(),
        pid: cli.pid,
        rows: Vec::new(),
    };
    let id = run_id();
    match &cli.command {
        Command::Create { object, count } => {
            let t = target(&cli, object).await?;
            let prefix = format!("lg-{id}");
            out.scenario("create", async {
                Ok(vec![
                    kube_load::create(&t, &prefix, *count, object.concurrency, false).await,
                ])
            })
            .await?;
        }
        Command::Get {
            object,
            count,
            gets,
        } => {
            let t = target(&cli, object).await?;
            seed(&t, *count, object.concurrency).await?;
            let gets = gets.unwrap_or(*count);
            out.scenario("get", async {
                Ok(vec![
                    kube_load::get(&t, "lg-seed", *count, gets, object.concurrency).await,
                ])
            })
            .await?;
        }
        Command::List {
            object,
            count,
            limit,
            repeat,
            list_concurrency,
        } => {
            let t = target(&cli, object).await?;
            seed(&t, *count, object.concurrency).await?;
            out.scenario("list", async {
                Ok(vec![
                    kube_load::list(&t, *limit, *repeat, *list_concurrency).await,
                ])
            })
            .await?;
        }
        Command::Watch { object, watch } => {
            let t = target(&cli, object).await?;
            out.scenario("watch", watch_scenario(&t, &id, object, watch))
                .await?;
        }
        Command::NodeWatch { object, watch } => {
            // Kubelets watch pods, in one namespace here.
            let object = ObjectArgs {
                kind: Kind::Pod,
                namespaces: 1,
                ..object.clone()
            };
            let t = target(&cli, &object).await?;
            out.scenario("node-watch", async {
                Ok(vec![
                    kube_load::node_watch(
                        &t,
                        &id,
                        watch.nodes,
                        watch.writes,
                        object.concurrency,
                        Duration::from_secs(watch.watch_timeout),
                        cli.pid,
                    )
                    .await?,
                ])
            })
            .await?;
        }
        Command::IdleWatch {
            object,
            watchers,
            http2,
            streams_per_connection,
        } => {
            let object = ObjectArgs {
                kind: Kind::Pod,
                namespaces: 1,
                ..object.clone()
            };
            let t = target(&cli, &object).await?;
            let pid = cli
                .pid
                .context("idle-watch measures the server's RSS: give --pid")?;
            let transport = if *http2 {
                kube_load::Transport::Http2 {
                    config: Box::new(kube_load::config(kubeconfig_path(&cli).as_deref()).await?),
                    streams_per_connection: *streams_per_connection,
                }
            } else {
                kube_load::Transport::Http1
            };
            out.scenario("idle-watch", async {
                Ok(vec![
                    kube_load::idle_watch(&t, *watchers, object.concurrency, pid, &transport)
                        .await?,
                ])
            })
            .await?;
        }
        Command::Churn { object, duration } => {
            let t = target(&cli, object).await?;
            let d = Duration::from_secs_f64(*duration);
            out.scenario("churn", async {
                Ok(kube_load::churn(&t, &id, d, object.concurrency).await)
            })
            .await?;
        }
        Command::EtcdPut {
            etcd,
            count,
            size,
            concurrency,
            size_from_key,
            txn,
        } => {
            let args = etcd::PutArgs {
                endpoints: endpoints(etcd),
                count: *count,
                concurrency: *concurrency,
                size: *size,
                size_from_key: size_from_key.clone(),
                txn: *txn,
                run_id: id.clone(),
            };
            out.scenario("etcd-put", async { Ok(vec![etcd::put(args).await?]) })
                .await?;
        }
        Command::All(all) => run_all(&cli, all, &id, &mut out).await?,
        Command::Table { files } => {
            let mut rows = Vec::new();
            let mut read = |reader: &mut dyn BufRead| -> Result<()> {
                for line in reader.lines() {
                    let line = line?;
                    if let Ok(row) = serde_json::from_str::<Row>(line.trim()) {
                        rows.push(row);
                    }
                }
                Ok(())
            };
            if files.is_empty() {
                read(&mut std::io::stdin().lock())?;
            }
            for file in files {
                let f = std::fs::File::open(file)
                    .with_context(|| format!("cannot open {}", file.display()))?;
                read(&mut std::io::BufReader::new(f))?;
            }
            print!("{}", report::table(&rows));
            return Ok(());
        }
    }
    out.finish();
    Ok(())
}

fn endpoints(etcd: &EtcdArgs) -> Vec<String> {
    if etcd.endpoints.is_empty() {
        vec!["http://127.0.0.1:2379".into()]
    } else {
        etcd.endpoints.clone()
    }
}

async fn watch_scenario(
    t: &Target,
    id: &str,
    object: &ObjectArgs,
    watch: &WatchArgs,
) -> Result<Vec<Row>> {
    let row = kube_load::watch(
        t,
        id,
        watch.watchers,
        watch.writes,
        object.concurrency,
        Duration::from_secs(watch.watch_timeout),
    )
    .await?;
    Ok(vec![row])
}

async fn run_all(cli: &Cli, all: &AllArgs, id: &str, out: &mut Out) -> Result<()> {
    let object = &all.object;
    let t = target(cli, object).await?;
    let c = object.concurrency;
    let prefix = format!("lg-{id}");
    out.scenario("create", async {
        Ok(vec![
            kube_load::create(&t, &prefix, all.count, c, false).await,
        ])
    })
    .await?;
    let create_rate = out.rows.last().and_then(|r| r.ops_per_sec);
    let gets = all.gets.unwrap_or(all.count);
    out.scenario("get", async {
        Ok(vec![kube_load::get(&t, &prefix, all.count, gets, c).await])
    })
    .await?;
    out.scenario("list", async {
        Ok(vec![kube_load::list(&t, None, all.list_repeat, 1).await])
    })
    .await?;
    out.scenario("list limit", async {
        Ok(vec![
            kube_load::list(&t, Some(all.list_limit), all.list_repeat, 1).await,
        ])
    })
    .await?;
    out.scenario("watch", watch_scenario(&t, id, object, &all.watch))
        .await?;
    let d = Duration::from_secs_f64(all.churn_seconds);
    out.scenario("churn", async { Ok(kube_load::churn(&t, id, d, c).await) })
        .await?;
    if !all.etcd.endpoints.is_empty() {
        let stored_key = format!(
            "{}/{}/{}/{}",
            all.etcd_prefix,
            object.kind.plural(),
            cli.namespace,
            kube_load::object_name(&prefix, 0)
        );
        for txn in [false, true] {
            let args = etcd::PutArgs {
                endpoints: endpoints(&all.etcd),
                count: all.count,
                concurrency: c,
                size: object.size,
                size_from_key: Some(stored_key.clone()),
                txn,
                run_id: format!("{id}{}", if txn { "t" } else { "p" }),
            };
            out.scenario("etcd-put", async {
                let mut row = etcd::put(args).await?;
                if let (Some(create), Some(raw)) = (create_rate, row.ops_per_sec) {
                    row.note
                        .push_str(&format!("; create = {:.0}% of this", 100.0 * create / raw));
                }
                Ok(vec![row])
            })
            .await?;
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("den-loadgen: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
