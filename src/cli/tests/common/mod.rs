//! A real Den as a child process on an ephemeral port with a temporary data dir, and the
//! real kubectl binaries to talk to it.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Which store a Den under test uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Embedded,
    Etcd,
}

/// The etcd endpoints for etcd-backed tests (`hack/test.sh` starts one and sets this).
pub fn etcd_servers() -> Option<String> {
    std::env::var("DEN_ETCD_SERVERS")
        .ok()
        .filter(|s| !s.is_empty())
}

/// True when a test for `backend` cannot run here; it says so on stderr.
pub fn skip(backend: Backend) -> bool {
    if backend == Backend::Etcd && etcd_servers().is_none() {
        eprintln!("skipped: DEN_ETCD_SERVERS is not set (hack/test.sh sets it)");
        return true;
    }
    false
}

pub struct Den {
    child: Option<Child>,
    pub dir: tempfile::TempDir,
    pub kubeconfig: PathBuf,
    pub url: String,
    pub backend: Backend,
    etcd_prefix: String,
    port: u16,
    extra_args: Vec<String>,
}

impl Den {
    pub fn start(backend: Backend) -> Den {
        Self::start_with(backend, &[])
    }

    /// Starts with extra `den server` flags.
    pub fn start_with(backend: Backend, extra_args: &[&str]) -> Den {
        let dir = tempfile::tempdir().expect("temp dir");
        let etcd_prefix = format!("/den-test-{}", uuid_like());
        let mut den = Den {
            child: None,
            kubeconfig: dir.path().join("admin.kubeconfig"),
            dir,
            url: String::new(),
            backend,
            etcd_prefix,
            port: 0,
            extra_args: extra_args.iter().map(|a| a.to_string()).collect(),
        };
        den.spawn();
        den
    }

    /// Starts (or restarts) the process on the same data dir and port.
    pub fn spawn(&mut self) {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_den"));
        cmd.arg("server")
            .arg("--data-dir")
            .arg(self.dir.path())
            .arg("--secure-port")
            .arg(self.port.to_string());
        cmd.args(&self.extra_args);
        if self.backend == Backend::Etcd {
            cmd.arg("--etcd-servers")
                .arg(etcd_servers().expect("etcd servers"));
            cmd.arg("--etcd-prefix").arg(&self.etcd_prefix);
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("den starts");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("den prints its ready line");
        // "Den is ready: serving https://127.0.0.1:PORT (kubeconfig: PATH)"
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("https://"))
            .expect("ready line names the URL")
            .to_string();
        self.port = url.rsplit(':').next().unwrap().parse().expect("port");
        self.url = url;
        self.child = Some(child);
    }

    /// SIGKILL, no shutdown of any kind.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    pub fn etcd_prefix(&self) -> &str {
        &self.etcd_prefix
    }

    /// Runs `kubectl` (a path) with this Den's kubeconfig.
    pub fn kubectl(&self, kubectl: &Path, args: &[&str]) -> Output {
        Command::new(kubectl)
            .args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .env_remove("KUBERNETES_SERVICE_HOST")
            .env("HOME", self.dir.path())
            .output()
            .expect("kubectl runs")
    }

    pub async fn client(&self) -> kube::Client {
        let kubeconfig = kube::config::Kubeconfig::read_from(&self.kubeconfig).expect("kubeconfig");
        let mut config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
            .await
            .expect("config");
        // Tests see the server's answers as they are: no retries of 429 or 503.
        config.default_retry = false;
        kube::Client::try_from(config).expect("client")
    }
}

impl Drop for Den {
    fn drop(&mut self) {
        self.kill();
    }
}

fn uuid_like() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{:x}{:x}", nanos, std::process::id())
}

/// The path of an installed kubectl of `version` ("1.33"), as Debian's package lays them out.
pub fn kubectl_binary(version: &str) -> PathBuf {
    let name = format!("kubectl.{version}");
    for dir in [
        "/usr/lib/google-cloud-sdk/bin",
        "/usr/bin",
        "/usr/local/bin",
    ] {
        let path = Path::new(dir).join(&name);
        if path.exists() {
            return path;
        }
    }
    panic!("{name} is not installed (see hack/install-deps.sh)");
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Asserts success and returns stdout.
#[track_caller]
pub fn ok(output: Output) -> String {
    assert!(
        output.status.success(),
        "kubectl failed: {}\nstdout: {}",
        stderr(&output),
        stdout(&output)
    );
    stdout(&output)
}

/// Asserts failure and returns stderr.
#[track_caller]
pub fn fails(output: Output) -> String {
    assert!(
        !output.status.success(),
        "kubectl unexpectedly succeeded: {}",
        stdout(&output)
    );
    stderr(&output)
}

/// Runs a kubectl scenario with the installed kubectl of `kubectl_version` against a new Den.
pub fn run_kubectl_scenario(scenario: fn(&Den, &Path), kubectl_version: &str, backend: Backend) {
    if skip(backend) {
        return;
    }
    let kubectl = kubectl_binary(kubectl_version);
    let den = Den::start(backend);
    scenario(&den, &kubectl);
}

/// Instantiates every kubectl scenario for kubectl 1.33 and 1.27 on both stores.
#[allow(unused_macros)]
macro_rules! kubectl_scenarios {
    ($($name:ident),* $(,)?) => {
        mod kubectl_1_33_embedded { $( #[test] fn $name() { crate::common::run_kubectl_scenario(super::$name, "1.33", crate::common::Backend::Embedded) } )* }
        mod kubectl_1_27_embedded { $( #[test] fn $name() { crate::common::run_kubectl_scenario(super::$name, "1.27", crate::common::Backend::Embedded) } )* }
        mod kubectl_1_33_etcd { $( #[test] fn $name() { crate::common::run_kubectl_scenario(super::$name, "1.33", crate::common::Backend::Etcd) } )* }
        mod kubectl_1_27_etcd { $( #[test] fn $name() { crate::common::run_kubectl_scenario(super::$name, "1.27", crate::common::Backend::Etcd) } )* }
    };
}

/// Writes `content` to `name` in the Den's directory; returns the path.
pub fn write_file(den: &Den, name: &str, content: &str) -> String {
    let path = den.dir.path().join(name);
    std::fs::File::create(&path)
        .unwrap()
        .write_all(content.as_bytes())
        .unwrap();
    path.to_string_lossy().into_owned()
}
