//! `den`: one binary, one subcommand per component.

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use den_apiserver::Config;

#[derive(Parser)]
#[command(
    name = "den",
    version,
    about = "Den: a Kubernetes control plane and node agent"
)]
struct Cli {
    /// Raise the log level (-v info, -vv debug, -vvv trace).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a whole single-node cluster: the API server and the controllers.
    Server(ApiServerArgs),
    /// Run only the API server.
    Apiserver(ApiServerArgs),
    /// Run the controllers against any Kubernetes API server.
    ControllerManager(ControllerArgs),
}

#[derive(Args)]
struct ApiServerArgs {
    /// Where Den keeps its data, certificates and kubeconfig.
    #[arg(long, default_value = "/var/lib/den")]
    data_dir: PathBuf,
    /// The address to serve on.
    #[arg(long, default_value = "127.0.0.1")]
    bind_address: IpAddr,
    /// The HTTPS port; 0 picks a free one.
    #[arg(long, default_value_t = 6443)]
    secure_port: u16,
    /// Where to write the admin kubeconfig (default: <data-dir>/admin.kubeconfig).
    #[arg(long)]
    write_kubeconfig: Option<PathBuf>,
    /// etcd endpoints; when given etcd is the store, otherwise the embedded store.
    #[arg(long, value_delimiter = ',')]
    etcd_servers: Vec<String>,
    /// The key prefix of every object in etcd.
    #[arg(long, default_value = "/registry")]
    etcd_prefix: String,
    /// Upstream's static token file: CSV lines `token,user,uid,"group1,group2"`.
    #[arg(long)]
    token_auth_file: Option<PathBuf>,
    /// The range ClusterIPs are allocated from.
    #[arg(long, default_value = "10.96.0.0/12")]
    service_cluster_ip_range: String,
    /// How often old revisions are compacted away (e.g. 5m, 30s).
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    etcd_compaction_interval: Duration,
    /// The issuer of service-account tokens; repeat it to accept tokens of earlier issuers
    /// (the first signs).
    #[arg(long, default_value = den_apiserver::auth::serviceaccount::DEFAULT_ISSUER)]
    service_account_issuer: Vec<String>,
}

/// Parses Go-style durations such as `5m`, `30s`, `1h`, `500ms`.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("invalid duration {text:?}"))?;
    let millis = match unit {
        "ms" => n,
        "s" => n * 1000,
        "m" => n * 60_000,
        "h" => n * 3_600_000,
        _ => return Err(format!("invalid duration {text:?}: use ms, s, m or h")),
    };
    if millis == 0 {
        return Err("the compaction interval must be positive".into());
    }
    Ok(Duration::from_millis(millis))
}

#[derive(Args)]
struct ControllerArgs {
    /// The kubeconfig of the API server to control (default: $KUBECONFIG or ~/.kube/config).
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
}

impl ApiServerArgs {
    fn config(self) -> Config {
        Config {
            data_dir: self.data_dir,
            bind_address: self.bind_address,
            secure_port: self.secure_port,
            write_kubeconfig: self.write_kubeconfig,
            etcd_servers: self.etcd_servers,
            etcd_prefix: self.etcd_prefix,
            token_auth_file: self.token_auth_file,
            service_cluster_ip_range: self.service_cluster_ip_range,
            compaction_interval: self.etcd_compaction_interval,
            service_account_issuers: self.service_account_issuer,
        }
    }
}

fn init_logging(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("DEN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Server(args) => {
            let server = den_apiserver::start(args.config()).await?;
            announce(&server);
            let (client, ca_bundle) = den_controllers::connect(Some(&server.kubeconfig)).await?;
            let controllers = den_controllers::run(client, ca_bundle);
            tokio::select! {
                result = server.wait() => result,
                result = controllers => result,
            }
        }
        Command::Apiserver(args) => {
            let server = den_apiserver::start(args.config()).await?;
            announce(&server);
            server.wait().await
        }
        Command::ControllerManager(args) => {
            let (client, ca_bundle) = den_controllers::connect(args.kubeconfig.as_deref()).await?;
            den_controllers::run(client, ca_bundle).await
        }
    }
}

/// The one line that says Den is ready, and where.
fn announce(server: &den_apiserver::RunningServer) {
    println!(
        "Den is ready: serving https://{} (kubeconfig: {})",
        server.address,
        server.kubeconfig.display()
    );
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
