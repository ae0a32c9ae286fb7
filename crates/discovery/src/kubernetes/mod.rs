//! `kubernetes_sd_configs`: objects watched through the Kubernetes API as
//! Prometheus's informers watch them: a list, then a watch from the list's
//! `resourceVersion`, and a new list whenever the watch ends (410 Gone, an
//! error, or the server closing it). A failed list or watch changes
//! nothing, so the last good groups stay, and is retried.
//!
//! Each role watches its own objects and the related ones whose labels its
//! targets carry: services and pods for `endpoints` and `endpointslice`,
//! nodes and namespaces with `attach_metadata`. The watchers feed one
//! controller (`controller.rs`), which keeps every object and sends the
//! role's groups (`pod/<namespace>/<name>`, `svc/...`, `endpoints/...`,
//! `endpointslice/...`, `ingress/...`, `node/<name>`) when they or the
//! related objects they use change, and empty ones for objects that went.
//!
//! One watcher runs per kind and configured namespace, or one cluster-wide
//! without any (always for nodes and namespaces). The selectors configured
//! for a kind go to the API server as its `labelSelector` and
//! `fieldSelector`.
//!
//! The API is spoken directly through `httpclient` and serde structs that
//! hold only the fields Prometheus turns into labels, rather than through
//! the `kube` and `k8s-openapi` crates. `kubernetes_sd_configs` takes the
//! full HTTP client config (OAuth2, `authorization` with a credentials file
//! re-read on every request, proxy connect headers, custom headers), which
//! `httpclient` implements for every provider and kube's own client
//! settings cannot express; using kube would mean a second HTTP stack with
//! its own TLS and auth next to ours, or an adapter feeding kube's requests
//! through ours, for the list-and-watch loop below, which is the only part
//! of kube this needs.

mod controller;
mod endpoints;
mod endpointslice;
mod exec;
mod ingress;
mod kubeconfig;
mod namespace;
mod node;
mod pod;
mod service;
mod workload;

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use config::HttpClientConfig;
use config::sd::{KubernetesRole, KubernetesSdConfig};
use httpclient::{Client, ClientError, ClientOptions};
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderValue};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::Group;
use crate::metrics::SdMetrics;
use crate::provider::{BuildError, Env};
use crate::targetgroup::{join_host_port, sanitize_label_name};
use controller::{Attach, Cache, Controller, Event, Key, Kind, Store, Update};

use endpoints::Endpoints;
use endpointslice::EndpointSlice;
use ingress::Ingress;
use namespace::Namespace;
use node::Node;
use pod::Pod;
use service::Service;
use workload::{Job, ReplicaSet};

/// Where a pod finds its service account's token, CA and namespace.
const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";
/// The pause before retrying a failed list or watch.
const RETRY_INTERVAL: Duration = Duration::from_secs(5);
/// How long the server may keep a watch open (client-go picks 5 to 10 min).
const WATCH_SECONDS: u64 = 300;
/// Added to the watch's length for the whole exchange, so that a silent
/// connection is given up.
const WATCH_SLACK: Duration = Duration::from_secs(30);
/// A list (or a watch's headers) that takes longer has failed.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

pub(crate) type LabelMap = BTreeMap<String, String>;

/// Why a list or a watch failed.
#[derive(Debug, thiserror::Error)]
pub enum KubernetesError {
    #[error("{0}")]
    Client(#[from] ClientError),
    #[error("the server responded with status {code}: {message}")]
    Status { code: u16, message: String },
    #[error("decoding the API server's answer: {0}")]
    Decode(#[from] serde_json::Error),
    #[error("getting credentials: {0}")]
    Exec(String),
    /// The watch's resourceVersion is too old: a new list is needed.
    #[error("watch expired (410 Gone)")]
    Gone,
}

/// The object metadata every role reads.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct ObjectMeta {
    name: String,
    namespace: String,
    uid: String,
    resource_version: String,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
    owner_references: Vec<OwnerReference>,
}

impl ObjectMeta {
    /// The owner marked as the controller, as client-go's GetControllerOf
    /// decides.
    pub(crate) fn controller(&self) -> Option<&OwnerReference> {
        self.owner_references.iter().find(|o| o.controller == Some(true))
    }

    /// The name of the controller when it is of `kind`.
    pub(crate) fn controller_of_kind(&self, kind: &str) -> Option<&str> {
        self.controller().filter(|o| o.kind == kind).map(|o| o.name.as_str())
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct OwnerReference {
    pub(crate) kind: String,
    pub(crate) name: String,
    controller: Option<bool>,
}

/// A kind of object the API serves and how the cache keeps it.
pub(crate) trait Resource: DeserializeOwned + Send + 'static {
    /// The role name in `prometheus_sd_kubernetes_events_total`.
    const ROLE: &'static str;
    /// The API group and version's path, e.g. `api/v1` or `apis/discovery.k8s.io/v1`.
    const PATH: &'static str;
    const PLURAL: &'static str;
    const KIND: Kind;

    fn meta(&self) -> &ObjectMeta;

    fn key(&self) -> Key {
        let m = self.meta();
        (m.namespace.clone(), m.name.clone())
    }

    fn store(cache: &Cache) -> &Store<Self>;
    fn store_mut(cache: &mut Cache) -> &mut Store<Self>;

    /// Whether the labels the object gives the groups of related objects
    /// are the same in `other`, so that a change between the two need not
    /// re-send them: a node's heartbeat or a pod's new resource version
    /// alone changes nothing.
    fn same_for_users(&self, other: &Self) -> bool {
        let (a, b) = (self.meta(), other.meta());
        a.labels == b.labels && a.annotations == b.annotations
    }
}

/// A kind of object that a role turns into targets.
pub(crate) trait Target: Resource {
    /// The group's source for the object under `key`, also when it is gone.
    fn source_of(key: &Key) -> String {
        format!("{}/{}/{}", Self::ROLE, key.0, key.1)
    }

    /// The object's group, with whatever the cache holds about related
    /// objects (its service, pods, node or namespace); empty when it has
    /// no target (yet).
    fn group(&self, cache: &Cache) -> Group;

    /// The keys of the related objects of `kind` whose labels the object's
    /// group carries, so that a change to one of them re-sends the group.
    fn related(&self, _kind: Kind) -> Vec<Key> {
        Vec::new()
    }
}

/// `__meta_kubernetes_<role>_name` and the object's labels and annotations.
pub(crate) fn object_meta_labels(l: &mut LabelMap, m: &ObjectMeta, role: &str) {
    l.insert(format!("__meta_kubernetes_{role}_name"), m.name.clone());
    meta_labels(l, m, role);
}

/// The object's labels and annotations under sanitized names, each with a
/// `..present_` companion set to `true` so that relabelling can tell an
/// empty value from a missing one.
pub(crate) fn meta_labels(l: &mut LabelMap, m: &ObjectMeta, role: &str) {
    let prefix = format!("__meta_kubernetes_{role}_");
    for (kind, map) in [("label", &m.labels), ("annotation", &m.annotations)] {
        for (k, v) in map {
            let name = sanitize_label_name(k);
            l.insert(format!("{prefix}{kind}_{name}"), v.clone());
            l.insert(format!("{prefix}{kind}present_{name}"), "true".into());
        }
    }
}

/// The labels of the node `name` for a target running on it, when it is
/// known (always absent without `attach_metadata.node`).
pub(crate) fn node_labels(l: &mut LabelMap, cache: &Cache, name: &str) {
    if let Some(node) = cache.nodes.get(&(String::new(), name.to_owned())) {
        object_meta_labels(l, node.meta(), "node");
    }
}

pub(crate) fn group(source: String, targets: Vec<LabelMap>, labels: LabelMap) -> Group {
    Group { targets: targets.iter().map(|t| model::Labels::from_pairs(t.iter())).collect(), labels: model::Labels::from_pairs(labels.iter()), source }
}

/// A list's answer: the items and the version to watch from.
#[derive(Deserialize)]
struct List<T> {
    #[serde(default)]
    metadata: ListMeta,
    #[serde(default = "Vec::new")]
    items: Vec<T>,
}

#[derive(Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct ListMeta {
    resource_version: String,
}

/// One line of a watch stream. The object stays raw until the type says
/// what it is: a Status for errors, the watched kind otherwise.
#[derive(Deserialize)]
struct WatchEvent {
    #[serde(rename = "type")]
    kind: String,
    object: serde_json::Value,
}

/// The API's error answer, in a watch's ERROR event or a failed request.
#[derive(Default, Deserialize)]
#[serde(default)]
struct Status {
    code: u16,
    message: String,
}

/// The API server and the client that reaches it.
#[derive(Debug, Clone)]
struct Api {
    client: Client,
    base: url::Url,
    /// A kubeconfig's credential plugin, asked before each request.
    exec: Option<Arc<exec::ExecAuth>>,
}

impl Api {
    /// The collection's URL: cluster-wide with an empty namespace.
    fn url<R: Resource>(&self, namespace: &str, query: &[(&str, &str)]) -> url::Url {
        let mut u = self.base.clone();
        let mut path = u.path().trim_end_matches('/').to_owned();
        path.push('/');
        path.push_str(R::PATH);
        if !namespace.is_empty() {
            path.push_str("/namespaces/");
            path.push_str(namespace);
        }
        path.push('/');
        path.push_str(R::PLURAL);
        u.set_path(&path);
        {
            let mut q = u.query_pairs_mut();
            for (k, v) in query.iter().filter(|(_, v)| !v.is_empty()) {
                q.append_pair(k, v);
            }
        }
        if u.query() == Some("") {
            u.set_query(None);
        }
        u
    }

    async fn get(&self, u: &url::Url) -> Result<reqwest::Response, KubernetesError> {
        let mut headers = vec![(ACCEPT, HeaderValue::from_static("application/json"))];
        let mut client = &self.client;
        let creds;
        if let Some(e) = &self.exec {
            creds = e.credentials(&self.client).await.map_err(KubernetesError::Exec)?;
            if let Some(t) = &creds.token {
                let value = HeaderValue::from_str(&format!("Bearer {t}"))
                    .map_err(|_| KubernetesError::Exec("exec plugin returned a token that is not a valid header value".into()))?;
                headers.push((AUTHORIZATION, value));
            }
            client = &creds.client;
        }
        let resp = client.get(u, &headers, REQUEST_TIMEOUT).await?;
        if resp.status() == StatusCode::UNAUTHORIZED
            && let Some(e) = &self.exec
        {
            // The next request asks the plugin again, as client-go does.
            e.invalidate().await;
        }
        if resp.status() == StatusCode::GONE {
            return Err(KubernetesError::Gone);
        }
        if !resp.status().is_success() {
            let code = resp.status().as_u16();
            let mut body = Vec::new();
            let _ = httpclient::read_body(resp, 64 << 10, &mut body, Instant::now() + REQUEST_TIMEOUT).await;
            let message = serde_json::from_slice::<Status>(&body).map(|s| s.message).unwrap_or_else(|_| String::from_utf8_lossy(&body).into_owned());
            return Err(KubernetesError::Status { code, message });
        }
        Ok(resp)
    }
}

/// A watcher's view of one namespace (or the cluster) for one kind of
/// object: it feeds the controller lists and changes, as an informer feeds
/// its store.
struct Watcher {
    api: Api,
    namespace: String,
    label_selector: String,
    field_selector: String,
    metrics: SdMetrics,
    tx: mpsc::Sender<Update>,
    /// Keys of the objects seen, to count adds apart from updates.
    known: HashSet<Key>,
}

/// Why a watch ended.
enum WatchEnd {
    /// The server closed it, or a send found the manager gone.
    Closed,
    Stopped,
}

impl Watcher {
    fn without_selectors(mut self) -> Watcher {
        (self.label_selector, self.field_selector) = (String::new(), String::new());
        self
    }

    async fn run<R: Resource>(mut self) {
        loop {
            let started = Instant::now();
            let end = match self.list::<R>().await {
                Ok(Some(rv)) => self.watch::<R>(&rv).await,
                Ok(None) => return,
                Err(e) => Err(e),
            };
            match end {
                Ok(WatchEnd::Stopped) => return,
                Ok(WatchEnd::Closed) | Err(KubernetesError::Gone) => {
                    // A server that closes watches at once must not make us
                    // list in a tight loop.
                    if started.elapsed() < Duration::from_secs(1) {
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
                Err(e) => {
                    self.metrics.kubernetes_failures.inc();
                    tracing::error!(component = "discovery manager", discovery = "kubernetes", role = R::ROLE, namespace = %self.namespace, err = %e, "Failed to list or watch");
                    tokio::time::sleep(RETRY_INTERVAL).await;
                }
            }
        }
    }

    fn event(&self, role: &str, event: &str) {
        self.metrics.kubernetes_events.get_or_create(&vec![("event".to_owned(), event.to_owned()), ("role".to_owned(), role.to_owned())]).inc();
    }

    /// Lists every object and hands the list to the controller, which
    /// drops the ones that went since the last list. Returns the version
    /// to watch from, or None when the controller is gone.
    async fn list<R: Resource>(&mut self) -> Result<Option<String>, KubernetesError> {
        let u = self.api.url::<R>(&self.namespace, &[("labelSelector", &self.label_selector), ("fieldSelector", &self.field_selector)]);
        let resp = self.api.get(&u).await?;
        let mut body = Vec::new();
        httpclient::read_body(resp, 0, &mut body, Instant::now() + REQUEST_TIMEOUT).await?;
        let list: List<R> = serde_json::from_slice(&body)?;
        let mut now = HashSet::with_capacity(list.items.len());
        for obj in &list.items {
            let key = obj.key();
            self.event(R::ROLE, if self.known.contains(&key) { "update" } else { "add" });
            now.insert(key);
        }
        for _ in self.known.difference(&now) {
            self.event(R::ROLE, "delete");
        }
        self.known = now;
        let update = Update::new(self.namespace.clone(), Event::Listed { namespace: self.namespace.clone(), items: list.items });
        if self.tx.send(update).await.is_err() {
            return Ok(None);
        }
        Ok(Some(list.metadata.resource_version))
    }

    /// Follows the watch stream line by line until it ends.
    async fn watch<R: Resource>(&mut self, rv: &str) -> Result<WatchEnd, KubernetesError> {
        let seconds = WATCH_SECONDS.to_string();
        let u = self.api.url::<R>(
            &self.namespace,
            &[
                ("labelSelector", &self.label_selector),
                ("fieldSelector", &self.field_selector),
                ("watch", "true"),
                ("resourceVersion", rv),
                ("allowWatchBookmarks", "true"),
                ("timeoutSeconds", &seconds),
            ],
        );
        let deadline = Instant::now() + Duration::from_secs(WATCH_SECONDS) + WATCH_SLACK;
        let mut resp = self.api.get(&u).await?;
        let mut buf: Vec<u8> = Vec::new();
        loop {
            let chunk = match tokio::time::timeout_at(deadline, resp.chunk()).await {
                Ok(c) => c.map_err(|e| ClientError::Body(e.to_string()))?,
                Err(_) => return Ok(WatchEnd::Closed),
            };
            let Some(chunk) = chunk else { return Ok(WatchEnd::Closed) };
            buf.extend_from_slice(&chunk);
            while let Some(nl) = buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = buf.drain(..=nl).collect();
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                if !self.handle::<R>(&line).await? {
                    return Ok(WatchEnd::Stopped);
                }
            }
        }
    }

    /// Applies one watch event; false when the controller is gone.
    async fn handle<R: Resource>(&mut self, line: &[u8]) -> Result<bool, KubernetesError> {
        let ev: WatchEvent = serde_json::from_slice(line)?;
        let event = match ev.kind.as_str() {
            "ADDED" | "MODIFIED" => {
                let obj: R = serde_json::from_value(ev.object)?;
                let new = self.known.insert(obj.key());
                self.event(R::ROLE, if new { "add" } else { "update" });
                Event::Applied(obj)
            }
            "DELETED" => {
                let obj: R = serde_json::from_value(ev.object)?;
                self.known.remove(&obj.key());
                self.event(R::ROLE, "delete");
                Event::Deleted(obj.key())
            }
            "ERROR" => {
                let st: Status = serde_json::from_value(ev.object)?;
                if st.code == StatusCode::GONE.as_u16() {
                    return Err(KubernetesError::Gone);
                }
                return Err(KubernetesError::Status { code: st.code, message: st.message });
            }
            // BOOKMARK only moves the version, which is not kept across
            // watches since every new watch starts with a list.
            _ => return Ok(true),
        };
        Ok(self.tx.send(Update::new(self.namespace.clone(), event)).await.is_ok())
    }
}

/// A configured Kubernetes discovery, ready to run.
#[derive(Debug)]
pub(crate) struct KubernetesDiscovery {
    role: KubernetesRole,
    api: Api,
    /// Empty: the whole cluster.
    namespaces: Vec<String>,
    /// Label and field selectors by the role they filter.
    selectors: Vec<(KubernetesRole, String, String)>,
    attach_node: bool,
    attach_namespace: bool,
    attach_deployment: bool,
    attach_job: bool,
    attach_cronjob: bool,
    metrics: SdMetrics,
}

impl KubernetesDiscovery {
    pub(crate) fn new(cfg: &KubernetesSdConfig, env: &Env) -> Result<KubernetesDiscovery, BuildError> {
        let service = std::env::var("KUBERNETES_SERVICE_HOST").ok().zip(std::env::var("KUBERNETES_SERVICE_PORT").ok());
        Self::with_cluster(cfg, env, std::path::Path::new(SERVICE_ACCOUNT_DIR), service)
    }

    /// Builds with the in-cluster settings given: the service account's
    /// directory and the API service's host and port.
    fn with_cluster(
        cfg: &KubernetesSdConfig,
        env: &Env,
        sa_dir: &std::path::Path,
        service: Option<(String, String)>,
    ) -> Result<KubernetesDiscovery, BuildError> {
        let role = cfg.role.ok_or_else(|| BuildError::Config("kubernetes_sd_configs: role missing".into()))?;
        let opts = ClientOptions { user_agent: env.user_agent.clone(), name: "kubernetes_sd".into() };
        let mut exec = None;
        let (base, client) = match &cfg.api_server {
            Some(server) => (server_url(server, &cfg.http_client_config)?, Client::new(&cfg.http_client_config, opts)?),
            None if !cfg.kubeconfig_file.is_empty() => {
                let k = kubeconfig::load(&cfg.kubeconfig_file).map_err(BuildError::Config)?;
                let server = config::Url::parse(&k.server).map_err(BuildError::Config)?;
                if let Some((e, cluster)) = k.exec {
                    let auth = exec::ExecAuth::new(e, &k.dir, cluster, k.http.clone(), opts.clone())
                        .map_err(|e| BuildError::Config(format!("kubeconfig_file {:?}: {e}", cfg.kubeconfig_file)))?;
                    exec = Some(Arc::new(auth));
                }
                (server_url(&server, &k.http)?, Client::new(&k.http, opts)?)
            }
            None => in_cluster(sa_dir, service, opts)?,
        };
        let mut namespaces = cfg.namespaces.names.clone();
        // Nodes belong to no namespace: they are always watched cluster-wide.
        if role == KubernetesRole::Node {
            namespaces.clear();
        } else if cfg.namespaces.own_namespace {
            let path = sa_dir.join("namespace");
            let own = std::fs::read_to_string(&path).map_err(|e| BuildError::Config(format!("could not read own namespace from {}: {e}", path.display())))?;
            namespaces.push(own.trim().to_owned());
        }
        namespaces.sort();
        namespaces.dedup();
        let selectors = cfg.selectors.iter().filter_map(|s| Some((s.role?, s.label.clone(), s.field.clone()))).collect();
        // Node metadata exists for the roles whose targets run on a node;
        // namespace metadata for every role whose objects have a namespace.
        let attach_node = cfg.attach_metadata.node && matches!(role, KubernetesRole::Pod | KubernetesRole::Endpoints | KubernetesRole::EndpointSlice);
        let attach_namespace = cfg.attach_metadata.namespace && role != KubernetesRole::Node;
        let pods = matches!(role, KubernetesRole::Pod | KubernetesRole::Endpoints | KubernetesRole::EndpointSlice);
        let a = &cfg.attach_metadata;
        Ok(KubernetesDiscovery {
            role,
            api: Api { client, base, exec },
            namespaces,
            selectors,
            attach_node,
            attach_namespace,
            attach_deployment: a.deployment && pods,
            attach_job: a.job && pods,
            attach_cronjob: a.cronjob && pods,
            metrics: env.metrics.clone(),
        })
    }

    fn watcher(&self, role: KubernetesRole, namespace: &str, tx: &mpsc::Sender<Update>) -> Watcher {
        let sel = self.selectors.iter().find(|s| s.0 == role);
        Watcher {
            api: self.api.clone(),
            namespace: namespace.to_owned(),
            label_selector: sel.map(|s| s.1.clone()).unwrap_or_default(),
            field_selector: sel.map(|s| s.2.clone()).unwrap_or_default(),
            metrics: self.metrics.clone(),
            tx: tx.clone(),
            known: HashSet::new(),
        }
    }

    pub(crate) async fn run(self, tx: mpsc::Sender<Vec<Group>>) {
        use KubernetesRole as R;
        let namespaces = if self.namespaces.is_empty() { vec![String::new()] } else { self.namespaces.clone() };
        let (utx, urx) = mpsc::channel(64);
        let mut tasks = JoinSet::new();
        let mut watchers = 0;
        // The objects of the role and those whose labels its targets carry,
        // in each watched namespace.
        let namespaced: &[R] = match self.role {
            R::Pod => &[R::Pod],
            R::Service => &[R::Service],
            R::Ingress => &[R::Ingress],
            R::Endpoints => &[R::Endpoints, R::Service, R::Pod],
            R::EndpointSlice => &[R::EndpointSlice, R::Service, R::Pod],
            R::Node => &[],
        };
        for ns in &namespaces {
            // Workloads have no role of their own, so no selector.
            if self.attach_deployment {
                tasks.spawn(self.watcher(R::Node, ns, &utx).without_selectors().run::<ReplicaSet>());
                watchers += 1;
            }
            if self.attach_job || self.attach_cronjob {
                tasks.spawn(self.watcher(R::Node, ns, &utx).without_selectors().run::<Job>());
                watchers += 1;
            }
            for &kind in namespaced {
                let w = self.watcher(kind, ns, &utx);
                match kind {
                    R::Pod => tasks.spawn(w.run::<Pod>()),
                    R::Service => tasks.spawn(w.run::<Service>()),
                    R::Ingress => tasks.spawn(w.run::<Ingress>()),
                    R::Endpoints => tasks.spawn(w.run::<Endpoints>()),
                    R::EndpointSlice => tasks.spawn(w.run::<EndpointSlice>()),
                    R::Node => tasks.spawn(w.run::<Node>()),
                };
                watchers += 1;
            }
        }
        if self.role == R::Node || self.attach_node {
            tasks.spawn(self.watcher(R::Node, "", &utx).run::<Node>());
            watchers += 1;
        }
        if self.attach_namespace {
            // Namespaces have no role of their own, so no selector.
            tasks.spawn(self.watcher(R::Node, "", &utx).without_selectors().run::<Namespace>());
            watchers += 1;
        }
        drop(utx);
        // Pods on nodes filtered out are dropped only for the pod role.
        let attach =
            Attach { node: self.attach_node && self.role == R::Pod, deployment: self.attach_deployment, job: self.attach_job, cronjob: self.attach_cronjob };
        let controller = Controller::new(self.role, watchers, attach, tx);
        // Dropping the set at cancellation aborts the watchers.
        tokio::select! {
            () = controller.run(urx) => {}
            _ = async { while tasks.join_next().await.is_some() {} } => {}
        }
    }
}

/// The API server's URL. Like client-go, a server given without a scheme
/// is reached over HTTPS when TLS settings are configured, HTTP otherwise.
fn server_url(server: &config::Url, http: &HttpClientConfig) -> Result<url::Url, BuildError> {
    let raw = server.as_str();
    let text = if raw.contains("://") {
        raw.to_owned()
    } else {
        let t = &http.tls_config;
        let tls = !t.ca.is_empty() || !t.ca_file.is_empty() || !t.cert.is_empty() || !t.cert_file.is_empty() || t.insecure_skip_verify;
        format!("{}://{raw}", if tls { "https" } else { "http" })
    };
    url::Url::parse(&text).map_err(|err| BuildError::Url { url: raw.to_owned(), err })
}

/// client-go's in-cluster config: the API server from the service's
/// environment variables, the service account's token (re-read on every
/// request, as it is rotated) and CA.
fn in_cluster(sa_dir: &std::path::Path, service: Option<(String, String)>, opts: ClientOptions) -> Result<(url::Url, Client), BuildError> {
    let Some((host, port)) = service.filter(|(h, p)| !h.is_empty() && !p.is_empty()) else {
        return Err(BuildError::Config("unable to load in-cluster configuration, KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be defined".into()));
    };
    let raw = format!("https://{}", join_host_port(&host, &port));
    let base = url::Url::parse(&raw).map_err(|err| BuildError::Url { url: raw.clone(), err })?;
    let mut http = HttpClientConfig { bearer_token_file: sa_dir.join("token").display().to_string(), ..HttpClientConfig::default() };
    http.tls_config.ca_file = sa_dir.join("ca.crt").display().to_string();
    http.validate().map_err(BuildError::Config)?;
    Ok((base, Client::new(&http, opts)?))
}

#[cfg(test)]
mod tests;
