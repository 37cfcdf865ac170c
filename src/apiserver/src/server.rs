//! The API server: configuration, TLS transport, authentication and request dispatch.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use axum::body::Body;
use den_apimachinery::request_info::{RequestInfo, parse_request_info};
use den_apimachinery::status::ApiError;
use den_storage::Backend;
use den_storage::cacher::{Cacher, CacherConfig};
use http::{HeaderMap, Request, Response, StatusCode, header};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::auth::authorizer::{self, AllowAuthenticated, Attributes, Authorizer};
use crate::auth::serviceaccount::{self, ServiceAccountTokens};
use crate::auth::{TokenAuthenticator, UserInfo, impersonation, user_from_certificate};
use crate::certs::{Pki, write_private};
use crate::handlers::{self, ResourceRequest, error_response, json_response, parse_query};
use crate::metrics::Metrics;
use crate::negotiation;
use crate::openapi::{OpenApi, PublishedOpenApi};
use crate::registry::Registry;
use crate::resources::{ResourceInfo, ResourceTable};
use crate::{bootstrap, discovery};

const OPENAPI_V2_PROTOBUF: &str = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf";

/// The Kubernetes version Den serves (`k8s-openapi`'s `v1_33`).
pub const KUBERNETES_VERSION: &str = "v1.33.0";

/// Flags of `den apiserver`, named like upstream's.
#[derive(Clone, Debug)]
pub struct Config {
    pub data_dir: PathBuf,
    pub bind_address: IpAddr,
    /// 0 picks a free port.
    pub secure_port: u16,
    pub write_kubeconfig: Option<PathBuf>,
    pub etcd_servers: Vec<String>,
    pub etcd_prefix: String,
    pub token_auth_file: Option<PathBuf>,
    pub service_cluster_ip_range: String,
    /// How often old revisions are compacted (upstream's `--etcd-compaction-interval`).
    pub compaction_interval: Duration,
    /// Upstream's `--service-account-issuer`: the first signs service-account tokens, every
    /// one is accepted (and is an audience of the API server).
    pub service_account_issuers: Vec<String>,
}

impl Config {
    pub fn new(data_dir: PathBuf) -> Self {
        Config {
            data_dir,
            bind_address: IpAddr::V4(Ipv4Addr::LOCALHOST),
            secure_port: 6443,
            write_kubeconfig: None,
            etcd_servers: Vec::new(),
            etcd_prefix: "/registry".into(),
            token_auth_file: None,
            service_cluster_ip_range: "10.96.0.0/12".into(),
            compaction_interval: Duration::from_secs(300),
            service_account_issuers: vec![serviceaccount::DEFAULT_ISSUER.into()],
        }
    }
}

/// An IPv4 service range, upstream's `--service-cluster-ip-range`.
#[derive(Clone, Copy, Debug)]
pub struct ServiceRange {
    pub base: u32,
    pub size: u32,
}

impl ServiceRange {
    pub fn parse(cidr: &str) -> Result<Self> {
        let (addr, bits) = cidr
            .split_once('/')
            .context("expected an IPv4 CIDR such as 10.96.0.0/12")?;
        let addr: Ipv4Addr = addr
            .parse()
            .with_context(|| format!("invalid address in {cidr}"))?;
        let bits: u32 = bits
            .parse()
            .with_context(|| format!("invalid prefix length in {cidr}"))?;
        if !(8..=30).contains(&bits) {
            bail!("--service-cluster-ip-range {cidr}: prefix length must be between 8 and 30");
        }
        let mask = u32::MAX << (32 - bits);
        Ok(ServiceRange {
            base: u32::from(addr) & mask,
            size: 1 << (32 - bits),
        })
    }

    /// The range in CIDR notation, e.g. `10.96.0.0/12`.
    pub fn cidr(&self) -> String {
        format!(
            "{}/{}",
            Ipv4Addr::from(self.base),
            32 - self.size.trailing_zeros()
        )
    }

    /// The first usable address: the `kubernetes` service's ClusterIP.
    pub fn first(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.base + 1)
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        let ip = u32::from(ip);
        ip > self.base && ip < self.base + self.size - 1
    }
}

pub struct ApiServer {
    pub registry: Registry,
    /// Watch events decoded and encoded once for all watchers.
    pub encoded_events: Arc<crate::encoded_events::EncodedEvents>,
    /// The watch cache in front of the store (`registry.storage` is this cacher).
    pub cacher: Arc<Cacher>,
    /// The built-in kinds; custom resources are added to these.
    builtin: ResourceTable,
    /// What is served now: swapped whole when CustomResourceDefinitions change.
    resources: RwLock<Arc<ResourceTable>>,
    /// The served OpenAPI documents: swapped whole when the custom resources change.
    /// Dereferences to the built-in documents (what strategic merge patch reads).
    pub openapi: PublishedOpenApi,
    pub metrics: Metrics,
    pub service_range: ServiceRange,
    pub address: SocketAddr,
    /// Upstream's static token file.
    pub(crate) tokens: TokenAuthenticator,
    /// Signs and checks service-account tokens.
    pub service_accounts: ServiceAccountTokens,
    /// Decides every request, impersonation and access review.
    pub authorizer: Box<dyn Authorizer>,
}

/// A started server.
pub struct RunningServer {
    pub address: SocketAddr,
    pub kubeconfig: PathBuf,
    pub server: Arc<ApiServer>,
    accept_loop: tokio::task::JoinHandle<()>,
}

impl RunningServer {
    /// Serves until the process ends.
    pub async fn wait(self) -> Result<()> {
        self.accept_loop.await.context("accept loop failed")
    }

    pub fn stop(&self) {
        self.accept_loop.abort();
    }
}

/// A user authenticated by its TLS client certificate, attached to each request.
#[derive(Clone)]
struct ClientCertUser(Option<UserInfo>);

/// Starts Den's API server: binds, opens storage, creates the PKI and kubeconfig on first
/// start, writes the built-in objects a cluster starts with, and begins serving.
pub async fn start(config: Config) -> Result<RunningServer> {
    let service_range = ServiceRange::parse(&config.service_cluster_ip_range)?;
    let issuers = &config.service_account_issuers;
    if issuers.is_empty() || issuers.iter().any(String::is_empty) {
        bail!("--service-account-issuer must not be empty");
    }
    let tokens = match &config.token_auth_file {
        Some(path) => TokenAuthenticator::from_file(path)?,
        None => TokenAuthenticator::default(),
    };
    let bind = SocketAddr::new(config.bind_address, config.secure_port);
    let listener = TcpListener::bind(bind)
        .await
        .with_context(|| format!("failed to listen on {bind}"))?;
    let address = listener.local_addr()?;

    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create data dir {}", config.data_dir.display()))?;
    let store: Arc<dyn Backend> = if config.etcd_servers.is_empty() {
        let path = config.data_dir.join("den.redb");
        Arc::new(den_storage::embedded::EmbeddedBackend::open(&path)?)
    } else {
        Arc::new(
            den_storage::etcd::EtcdBackend::connect(&config.etcd_servers, &config.etcd_prefix)
                .await?,
        )
    };
    // The watch cache serves lists and watches from memory. Consistent lists come from it
    // only on the embedded store, which publishes a write's event before acknowledging it.
    let cacher = Cacher::with_config(
        store,
        CacherConfig {
            consistent_reads_from_cache: config.etcd_servers.is_empty(),
            ..CacherConfig::default()
        },
    );
    let storage: Arc<dyn Backend> = cacher.clone();
    let pki = Pki::load_or_create(&config.data_dir.join("pki"), config.bind_address)?;
    let service_accounts = ServiceAccountTokens::load_or_create(
        &config.data_dir.join("pki"),
        config.service_account_issuers.clone(),
    )?;
    let host = if config.bind_address.is_unspecified() {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        config.bind_address
    };
    let url = format!("https://{}", SocketAddr::new(host, address.port()));
    let kubeconfig = config
        .write_kubeconfig
        .clone()
        .unwrap_or_else(|| config.data_dir.join("admin.kubeconfig"));
    write_private(&kubeconfig, &pki.admin_kubeconfig(&url))?;

    let resources = ResourceTable::builtin();
    futures::future::join_all(resources.iter().filter(|r| !r.create_only).map(|r| {
        let (cacher, prefix) = (cacher.clone(), r.key_prefix());
        let trigger = crate::strategy::trigger_fn(r);
        async move {
            match trigger {
                Some(trigger) => cacher.register_indexed(&prefix, trigger).await,
                None => cacher.register(&prefix).await,
            }
        }
    }))
    .await;
    let openapi = PublishedOpenApi::new(OpenApi::new(&resources));
    let server = Arc::new(ApiServer {
        registry: Registry {
            storage: storage.clone(),
            admission: crate::admission::Admission::new(storage.clone()),
        },
        cacher,
        encoded_events: Default::default(),
        resources: RwLock::new(Arc::new(resources.extended(Vec::new()))),
        builtin: resources,
        openapi,
        metrics: Metrics::default(),
        service_range,
        address: SocketAddr::new(host, address.port()),
        tokens,
        service_accounts,
        authorizer: Box::new(AllowAuthenticated),
    });
    bootstrap::ensure_builtin_objects(&server).await?;
    crate::crd_controller::start(server.clone()).await?;
    crate::admission::policy::start(server.clone()).await?;
    crate::identity_lease::start(server.clone());
    den_storage::compactor::spawn_compactor(storage, config.compaction_interval);

    let acceptor = TlsAcceptor::from(Arc::new(tls_config(&pki)?));
    let accept_loop = tokio::spawn(accept_loop(listener, acceptor, server.clone()));
    Ok(RunningServer {
        address: server.address,
        kubeconfig,
        server,
        accept_loop,
    })
}

fn tls_config(pki: &Pki) -> Result<rustls::ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(pki.ca_cert.as_bytes()) {
        roots.add(cert.context("invalid CA certificate")?)?;
    }
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .allow_unauthenticated()
    .build()?;
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(pki.serving_cert.as_bytes())
            .collect::<Result<_, _>>()
            .context("invalid serving certificate")?;
    let key =
        PrivateKeyDer::from_pem_slice(pki.serving_key.as_bytes()).context("invalid serving key")?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

async fn accept_loop(listener: TcpListener, acceptor: TlsAcceptor, server: Arc<ApiServer>) {
    loop {
        let (tcp, _peer) = match listener.accept().await {
            Ok(conn) => conn,
            Err(e) => {
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let server = server.clone();
        tokio::spawn(async move {
            let tls = match acceptor.accept(tcp).await {
                Ok(tls) => tls,
                Err(e) => {
                    tracing::debug!("TLS handshake failed: {e}");
                    return;
                }
            };
            let user = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
                .and_then(|c| user_from_certificate(c));
            let user = ClientCertUser(user);
            let service = tower::service_fn(move |mut req: Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(user.clone());
                let server = server.clone();
                // Boxed, so a connection (HTTP/1) or stream (HTTP/2) task holds a pointer while a
                // response streams, not the request handling's whole state: an idle watch over
                // HTTP/2 cost 14 KiB with it inline.
                Box::pin(async move {
                    Ok::<_, std::convert::Infallible>(serve(server, req.map(Body::new)).await)
                })
            });
            let builder = auto::Builder::new(TokioExecutor::new());
            if let Err(e) = builder
                .serve_connection_with_upgrades(
                    TokioIo::new(tls),
                    TowerToHyperService::new(service),
                )
                .await
            {
                tracing::debug!("connection ended: {e}");
            }
        });
    }
}

/// One request through the filter chain: authentication, impersonation, authorization,
/// dispatch, metrics.
async fn serve(server: Arc<ApiServer>, req: Request<Body>) -> Response<Body> {
    let started = Instant::now();
    let (parts, body) = req.into_parts();
    let method = parts.method.clone();
    let path = parts.uri.path().to_string();
    let query = parts.uri.query().unwrap_or("").to_string();
    let info = parse_request_info(parts.method.as_str(), &path, &query);
    let response = handle(&server, parts, body, &info, &query)
        .await
        .unwrap_or_else(|e| error_response(&e));
    let resource = if info.is_resource_request {
        info.resource.as_str()
    } else {
        ""
    };
    server.metrics.observe(
        &info.verb,
        resource,
        response.status().as_u16(),
        started.elapsed(),
    );
    tracing::debug!(%method, %path, code = response.status().as_u16(), "request");
    response
}

async fn handle(
    server: &ApiServer,
    parts: http::request::Parts,
    body: Body,
    info: &RequestInfo,
    query: &str,
) -> Result<Response<Body>, ApiError> {
    let certificate_user = parts
        .extensions
        .get::<ClientCertUser>()
        .and_then(|c| c.0.as_ref());
    let user = crate::auth::authenticate_request(server, &parts.headers, certificate_user).await?;
    let uri = parts
        .uri
        .path_and_query()
        .map_or(info.path.as_str(), |p| p.as_str());
    let user = impersonation::impersonate(&*server.authorizer, user, &parts.headers, uri)?;
    authorizer::check(&*server.authorizer, &Attributes::of_request(&user, info))?;
    if info.is_resource_request {
        server
            .resource(
                info.clone(),
                query,
                parts.headers,
                &parts.method,
                body,
                user,
            )
            .await
    } else {
        server.non_resource(&info.path, query, &parts.headers).await
    }
}

impl ApiServer {
    /// A snapshot of the served resources.
    pub fn resources(&self) -> Arc<ResourceTable> {
        self.resources.read().expect("resource table lock").clone()
    }

    /// Serves the built-in kinds plus `custom`, replacing the custom resources served before.
    pub fn set_custom_resources(&self, custom: Vec<ResourceInfo>) {
        let table = Arc::new(self.builtin.extended(custom));
        // Published first, so that discovery never lists a kind OpenAPI does not describe yet.
        self.openapi.set_custom_resources(&table);
        *self.resources.write().expect("resource table lock") = table;
    }

    async fn resource(
        &self,
        request: RequestInfo,
        query: &str,
        headers: HeaderMap,
        method: &http::Method,
        body: Body,
        user: UserInfo,
    ) -> Result<Response<Body>, ApiError> {
        let Some(info) = self
            .resources()
            .get(&request.api_group, &request.api_version, &request.resource)
            .cloned()
        else {
            return Err(crate::errors::no_such_route());
        };
        let query = parse_query(query);
        let output = negotiation::output(
            &headers,
            query.get("includeObject").map(String::as_str),
            !info.create_only,
        )?;
        let req = ResourceRequest {
            info,
            request,
            query,
            headers,
            output,
            warnings: Default::default(),
            user,
        };
        handlers::handle(self, req, method, body).await
    }

    async fn non_resource(
        &self,
        path: &str,
        query: &str,
        headers: &HeaderMap,
    ) -> Result<Response<Body>, ApiError> {
        let path = path.trim_end_matches('/');
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let aggregated = negotiation::aggregated_discovery(headers);
        let ok = |body: Value| Ok(json_response(StatusCode::OK, &body));
        match segments.as_slice() {
            [] => ok(json!({"paths": self.paths()})),
            ["api"] => match aggregated {
                Some(v) => Ok(aggregated_response(
                    discovery::aggregated(&self.resources(), true, v),
                    v,
                )),
                None => ok(discovery::api_versions(&self.address.to_string())),
            },
            ["apis"] => match aggregated {
                Some(v) => Ok(aggregated_response(
                    discovery::aggregated(&self.resources(), false, v),
                    v,
                )),
                None => ok(discovery::group_list(&self.resources())),
            },
            ["api", version] => {
                discovery::resource_list(&self.resources(), "", version).map_or_else(not_found, ok)
            }
            ["apis", group] => {
                discovery::group(&self.resources(), group).map_or_else(not_found, ok)
            }
            ["apis", group, version] => discovery::resource_list(&self.resources(), group, version)
                .map_or_else(not_found, ok),
            ["version"] => ok(version_info()),
            [".well-known", "openid-configuration"] => {
                let external = self.address.to_string();
                match self.service_accounts.openid_configuration(&external) {
                    Some(config) => Ok(issuer_discovery(&config, "application/json")),
                    None => not_found(),
                }
            }
            ["openid", "v1", "jwks"] => Ok(issuer_discovery(
                &self.service_accounts.jwks(),
                "application/jwk-set+json",
            )),
            ["healthz" | "livez" | "readyz", ..] => self.health(&segments, query).await,
            ["metrics"] => Ok(Response::builder()
                .header(header::CONTENT_TYPE, "text/plain; version=0.0.4")
                .body(Body::from(self.metrics.render()))
                .expect("valid response")),
            ["openapi", "v2"] => {
                let openapi = self.openapi.current();
                let (content_type, body) = match negotiation::openapi_v2(headers) {
                    Some(negotiation::OpenApiV2::Json) => ("application/json", openapi.v2()),
                    Some(negotiation::OpenApiV2::Protobuf) => (
                        "application/com.github.proto-openapi.spec.v2.v1.0+protobuf",
                        openapi.v2_protobuf(),
                    ),
                    None => {
                        return Err(ApiError::not_acceptable(&[
                            "application/json",
                            OPENAPI_V2_PROTOBUF,
                        ]));
                    }
                };
                Ok(Response::builder()
                    .header(header::CONTENT_TYPE, content_type)
                    .header(header::VARY, "Accept")
                    .body(Body::from(body))
                    .expect("valid response"))
            }
            ["openapi", "v3"] => ok(self.openapi.current().v3_index()),
            ["openapi", "v3", rest @ ..] => {
                match self.openapi.current().v3_document(&rest.join("/")) {
                    Some(doc) => Ok(Response::builder()
                        .header(header::CONTENT_TYPE, "application/json")
                        .body(Body::from(doc))
                        .expect("valid response")),
                    None => not_found(),
                }
            }
            _ => not_found(),
        }
    }

    fn paths(&self) -> Vec<String> {
        let mut paths = vec![
            "/api".to_string(),
            "/api/v1".to_string(),
            "/apis".to_string(),
        ];
        for (group, version) in self.resources().group_versions() {
            if !group.is_empty() {
                paths.push(format!("/apis/{group}"));
                paths.push(format!("/apis/{group}/{version}"));
            }
        }
        paths.extend(
            [
                "/.well-known/openid-configuration",
                "/healthz",
                "/livez",
                "/metrics",
                "/openapi/v2",
                "/openapi/v3",
                "/openid/v1/jwks",
                "/readyz",
                "/version",
            ]
            .map(String::from),
        );
        paths.dedup();
        paths
    }

    /// `/healthz`, `/livez`, `/readyz` (and `?verbose`): ping plus a storage check.
    async fn health(&self, segments: &[&str], query: &str) -> Result<Response<Body>, ApiError> {
        let storage_ok = tokio::time::timeout(
            Duration::from_secs(2),
            self.registry.storage.current_revision(),
        )
        .await
        .is_ok_and(|r| r.is_ok());
        let checks = [
            ("ping", true),
            ("etcd", storage_ok),
            ("poststarthook/bootstrap-controller", true),
        ];
        if let [_, check] = segments {
            return match checks.iter().find(|(name, _)| name == check) {
                Some((_, true)) => Ok(plain(StatusCode::OK, "ok".into())),
                Some((name, false)) => Ok(plain(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("[-]{name} failed: reason withheld\n"),
                )),
                None => not_found(),
            };
        }
        let healthy = checks.iter().all(|(_, ok)| *ok);
        let verbose = parse_query(query).contains_key("verbose");
        let code = if healthy {
            StatusCode::OK
        } else {
            StatusCode::INTERNAL_SERVER_ERROR
        };
        if !verbose && healthy {
            return Ok(plain(code, "ok".into()));
        }
        let mut text = String::new();
        for (name, ok) in checks {
            text.push_str(&if ok {
                format!("[+]{name} ok\n")
            } else {
                format!("[-]{name} failed: reason withheld\n")
            });
        }
        text.push_str(&format!(
            "{} check {}\n",
            segments[0],
            if healthy { "passed" } else { "failed" }
        ));
        Ok(plain(code, text))
    }

    /// Allocates a Service's ClusterIP (and node ports) and fills upstream's defaults.
    pub async fn allocate_service_addresses(&self, svc: &mut Value) -> Result<(), ApiError> {
        let services = self
            .resources()
            .get("", "v1", "services")
            .cloned()
            .expect("services are built in");
        let all = self
            .registry
            .list(&services, "", &Default::default())
            .await?;
        crate::services::allocate(self.service_range, &all.items, svc)
    }
}

fn plain(code: StatusCode, text: String) -> Response<Body> {
    Response::builder()
        .status(code)
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .header("X-Content-Type-Options", "nosniff")
        .body(Body::from(text))
        .expect("valid response")
}

/// A service-account issuer discovery document: cacheable for an hour, like upstream's.
fn issuer_discovery(body: &Value, content_type: &str) -> Response<Body> {
    let mut response = json_response(StatusCode::OK, body);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        content_type.parse().expect("valid header"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        "public, max-age=3600".parse().expect("valid header"),
    );
    response
}

fn not_found() -> Result<Response<Body>, ApiError> {
    Err(crate::errors::no_such_route())
}

fn aggregated_response(body: Value, version: &str) -> Response<Body> {
    let mut response = json_response(StatusCode::OK, &body);
    let content_type = discovery::aggregated_content_type(version)
        .parse()
        .expect("valid header");
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, content_type);
    response
}

fn version_info() -> Value {
    json!({
        "major": "1",
        "minor": "33",
        "emulationMajor": "1",
        "emulationMinor": "33",
        "minCompatibilityMajor": "1",
        "minCompatibilityMinor": "32",
        "gitVersion": KUBERNETES_VERSION,
        "gitCommit": env!("CARGO_PKG_VERSION"),
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "den (rust)",
        "compiler": "rustc",
        "platform": format!("{}/{}", std::env::consts::OS, if cfg!(target_arch = "x86_64") { "amd64" } else { std::env::consts::ARCH }),
    })
}
