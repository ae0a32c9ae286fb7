//! `kubernetes_sd_configs`: objects followed through the Kubernetes API
//! with kube's list-then-watch (`kube::runtime::watcher`), as Prometheus's
//! informers follow them: a list, then a watch from the list's version,
//! resumed where it ended, and a new list after 410 Gone. A failed list or
//! watch changes nothing, so the last good groups stay, and is retried.
//!
//! Each role watches its own objects and the related ones whose labels its
//! targets carry: services and pods for `endpoints` and `endpointslice`,
//! nodes, namespaces, ReplicaSets and Jobs with `attach_metadata`. The
//! watchers feed one controller (`controller.rs`), which keeps every object
//! and sends the role's groups (`pod/<namespace>/<name>`, `svc/...`,
//! `endpoints/...`, `endpointslice/...`, `ingress/...`, `node/<name>`) when
//! they or the related objects they use change, and empty ones for objects
//! that went.
//!
//! One watcher runs per kind and configured namespace, or one cluster-wide
//! without any (always for nodes and namespaces). The selectors configured
//! for a kind go to the API server as its `labelSelector` and
//! `fieldSelector`.
//!
//! With an `api_server`, or in the cluster, kube's requests go through
//! `httpclient` (`transport.rs`), which has the HTTP client config
//! Prometheus accepts there; a `kubeconfig_file` is kube's own client, exec
//! credential plugins included, as client-go's is for Prometheus. Objects
//! are decoded into serde structs that hold only the fields Prometheus
//! turns into labels.

mod controller;
mod endpoints;
mod endpointslice;
mod ingress;
mod namespace;
mod node;
mod pod;
mod service;
mod transport;
mod workload;

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use config::HttpClientConfig;
use config::sd::{KubernetesRole, KubernetesSdConfig};
use futures_util::StreamExt;
use httpclient::{Client, ClientOptions};
use kube::api::{ApiResource, DynamicObject};
use kube::config::{ExecInteractiveMode, KubeConfigOptions, Kubeconfig};
use kube::runtime::watcher;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

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
use transport::{CountRequests, Transport};
use workload::{Job, ReplicaSet};

/// Where a pod finds its service account's token, CA and namespace.
const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";
/// The pause before retrying a failed list or watch.
const RETRY_INTERVAL: Duration = Duration::from_secs(5);

pub(crate) type LabelMap = BTreeMap<String, String>;

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

/// The accessors every [`Resource`] has alike: its `metadata` field and
/// its store in the cache.
macro_rules! stored_in {
    ($field:ident) => {
        fn meta(&self) -> &ObjectMeta {
            &self.metadata
        }

        fn store(cache: &Cache) -> &Store<Self> {
            &cache.$field
        }

        fn store_mut(cache: &mut Cache) -> &mut Store<Self> {
            &mut cache.$field
        }
    };
}
pub(crate) use stored_in;

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

    /// Whether the object, as it is, must send nothing, so that its last
    /// group stays (a node without an address, as Prometheus keeps it).
    fn keeps_last_group(&self) -> bool {
        false
    }

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

/// A watcher's view of one namespace (or the cluster) for one kind of
/// object: kube's list-then-watch, whose lists and changes it hands the
/// controller, as an informer feeds its store.
struct Watcher {
    client: kube::Client,
    namespace: String,
    label_selector: String,
    field_selector: String,
    metrics: SdMetrics,
    tx: mpsc::Sender<Update>,
    /// Keys of the objects seen, to count adds apart from updates.
    known: HashSet<Key>,
}

impl Watcher {
    fn without_selectors(mut self) -> Watcher {
        (self.label_selector, self.field_selector) = (String::new(), String::new());
        self
    }

    fn event(&self, role: &str, event: &str) {
        self.metrics.kubernetes_events.get_or_create(&vec![("event".to_owned(), event.to_owned()), ("role".to_owned(), role.to_owned())]).inc();
    }

    /// Follows the objects until the controller is gone. kube lists
    /// again whenever a watch ends (410 Gone, an error, the server closing
    /// it); a failed list or watch changes nothing, so the last good
    /// groups stay, and is retried.
    async fn run<R: Resource>(mut self) {
        let (group, version) = match R::PATH.strip_prefix("apis/") {
            Some(gv) => gv.split_once('/').unwrap_or((gv, "")),
            None => ("", R::PATH.trim_start_matches("api/")),
        };
        let ar = ApiResource {
            group: group.to_owned(),
            version: version.to_owned(),
            api_version: if group.is_empty() { version.to_owned() } else { format!("{group}/{version}") },
            kind: String::new(),
            plural: R::PLURAL.to_owned(),
        };
        let api: kube::Api<DynamicObject> = if self.namespace.is_empty() {
            kube::Api::all_with(self.client.clone(), &ar)
        } else {
            kube::Api::namespaced_with(self.client.clone(), &self.namespace, &ar)
        };
        let mut cfg = watcher::Config::default();
        if !self.label_selector.is_empty() {
            cfg = cfg.labels(&self.label_selector);
        }
        if !self.field_selector.is_empty() {
            cfg = cfg.fields(&self.field_selector);
        }
        let mut stream = std::pin::pin!(watcher::watcher(api, cfg));
        let mut listed: Vec<R> = Vec::new();
        while let Some(ev) = stream.next().await {
            let event = match ev {
                Ok(watcher::Event::Init) => {
                    listed.clear();
                    continue;
                }
                Ok(watcher::Event::InitApply(o)) => {
                    listed.extend(self.decode::<R>(o));
                    continue;
                }
                Ok(watcher::Event::InitDone) => {
                    let items = std::mem::take(&mut listed);
                    let mut now = HashSet::with_capacity(items.len());
                    for obj in &items {
                        let key = obj.key();
                        self.event(R::ROLE, if self.known.contains(&key) { "update" } else { "add" });
                        now.insert(key);
                    }
                    for _ in self.known.difference(&now) {
                        self.event(R::ROLE, "delete");
                    }
                    self.known = now;
                    Event::Listed { namespace: self.namespace.clone(), items }
                }
                Ok(watcher::Event::Apply(o)) => {
                    let Some(obj) = self.decode::<R>(o) else { continue };
                    let new = self.known.insert(obj.key());
                    self.event(R::ROLE, if new { "add" } else { "update" });
                    Event::Applied(obj)
                }
                Ok(watcher::Event::Delete(o)) => {
                    // Only the key matters, so an object that does not
                    // decode is still deleted.
                    let key = (o.metadata.namespace.clone().unwrap_or_default(), o.metadata.name.clone().unwrap_or_default());
                    self.known.remove(&key);
                    self.event(R::ROLE, "delete");
                    Event::Deleted(key)
                }
                Err(e) => {
                    // An expired watch only means a new list.
                    if !matches!(&e, watcher::Error::WatchError(s) if s.code == 410) {
                        self.metrics.kubernetes_failures.inc();
                        tracing::error!(component = "discovery manager", discovery = "kubernetes", role = R::ROLE, namespace = %self.namespace, err = %e, "Failed to list or watch");
                        tokio::time::sleep(RETRY_INTERVAL).await;
                    }
                    continue;
                }
            };
            if self.tx.send(Update::new(self.namespace.clone(), event)).await.is_err() {
                return;
            }
        }
    }

    /// The fields of an object that matter; an object that does not fit
    /// them is left out, as it could not give a target. Go's API server
    /// writes empty lists without `omitempty` as `null`: a null reads as
    /// an absent field, which the structs default.
    fn decode<R: Resource>(&self, o: DynamicObject) -> Option<R> {
        let decoded = serde_json::to_value(&o).and_then(|mut v| {
            strip_nulls(&mut v);
            serde_json::from_value(v)
        });
        match decoded {
            Ok(obj) => Some(obj),
            Err(e) => {
                tracing::warn!(component = "discovery manager", discovery = "kubernetes", role = R::ROLE, err = %e, "Cannot decode object");
                None
            }
        }
    }
}

/// Removes every object member whose value is null, at any depth.
fn strip_nulls(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(m) => {
            m.retain(|_, x| !x.is_null());
            m.values_mut().for_each(strip_nulls);
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

/// A configured Kubernetes discovery, ready to run.
#[derive(Debug)]
pub(crate) struct KubernetesDiscovery {
    role: KubernetesRole,
    source: Source,
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

/// Where the discovery's kube client comes from.
#[derive(Debug)]
enum Source {
    /// `api_server` or the in-cluster service account, through our HTTP
    /// client.
    Transport(Transport),
    /// A kubeconfig, through kube's own client, built when the discovery
    /// runs since kube's loader (which may run an exec plugin) is async.
    Kubeconfig(Box<Kubeconfig>),
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
        let source = match &cfg.api_server {
            Some(server) => {
                Source::Transport(Transport { base: server_url(server, &cfg.http_client_config)?, client: Client::new(&cfg.http_client_config, opts)? })
            }
            None if !cfg.kubeconfig_file.is_empty() => {
                let path = &cfg.kubeconfig_file;
                Source::Kubeconfig(Box::new(load_kubeconfig(path).map_err(|e| BuildError::Config(format!("kubeconfig_file {path:?}: {e}")))?))
            }
            None => Source::Transport(in_cluster(sa_dir, service, opts)?),
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
            source,
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

    fn watcher(&self, client: &kube::Client, role: KubernetesRole, namespace: &str, tx: &mpsc::Sender<Update>) -> Watcher {
        let sel = self.selectors.iter().find(|s| s.0 == role);
        Watcher {
            client: client.clone(),
            namespace: namespace.to_owned(),
            label_selector: sel.map(|s| s.1.clone()).unwrap_or_default(),
            field_selector: sel.map(|s| s.2.clone()).unwrap_or_default(),
            metrics: self.metrics.clone(),
            tx: tx.clone(),
            known: HashSet::new(),
        }
    }

    /// The kube client; from a kubeconfig, retried until it can be built.
    async fn client(&self) -> kube::Client {
        use tower_layer::Layer;
        let counted = CountRequests(self.metrics.kubernetes_http_requests.clone());
        let kc = match &self.source {
            Source::Transport(t) => return kube::Client::new(counted.layer(t.clone()), "default"),
            Source::Kubeconfig(kc) => kc,
        };
        loop {
            let built = match kube::Config::from_custom_kubeconfig((**kc).clone(), &KubeConfigOptions::default()).await {
                Ok(cfg) => kube::client::ClientBuilder::try_from(cfg).map(|b| b.with_layer(&counted).build()).map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            match built {
                Ok(c) => return c,
                Err(e) => {
                    self.metrics.kubernetes_failures.inc();
                    tracing::error!(component = "discovery manager", discovery = "kubernetes", err = %e, "Cannot build a client from the kubeconfig");
                    tokio::time::sleep(RETRY_INTERVAL).await;
                }
            }
        }
    }

    pub(crate) async fn run(self, tx: mpsc::Sender<Vec<Group>>) {
        use KubernetesRole as R;
        let client = self.client().await;
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
                tasks.spawn(self.watcher(&client, R::Node, ns, &utx).without_selectors().run::<ReplicaSet>());
                watchers += 1;
            }
            if self.attach_job || self.attach_cronjob {
                tasks.spawn(self.watcher(&client, R::Node, ns, &utx).without_selectors().run::<Job>());
                watchers += 1;
            }
            for &kind in namespaced {
                let w = self.watcher(&client, kind, ns, &utx);
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
            tasks.spawn(self.watcher(&client, R::Node, "", &utx).run::<Node>());
            watchers += 1;
        }
        if self.attach_namespace {
            // Namespaces have no role of their own, so no selector.
            tasks.spawn(self.watcher(&client, R::Node, "", &utx).without_selectors().run::<Namespace>());
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

/// Reads a kubeconfig as client-go would: only the file named (neither
/// `$KUBECONFIG` nor `~/.kube/config` is merged in, as in Prometheus), an
/// exec plugin's relative command found next to the file. Auth-provider
/// plugins are refused with client-go's own errors, since Prometheus builds
/// in none that still works (client-go's gcp provider is a stub that only
/// points to its exec replacement).
fn load_kubeconfig(path: &str) -> Result<Kubeconfig, String> {
    let mut kc = Kubeconfig::read_from(path).map_err(|e| e.to_string())?;
    let dir = std::path::Path::new(path).parent().unwrap_or(std::path::Path::new(""));
    let current = kc.current_context.clone().unwrap_or_default();
    let user = kc.contexts.iter().find(|c| c.name == current).and_then(|c| c.context.as_ref()?.user.clone());
    for named in &mut kc.auth_infos {
        let Some(info) = named.auth_info.as_mut() else { continue };
        if Some(&named.name) == user.as_ref() {
            if let Some(p) = &info.auth_provider {
                return Err(if p.name == "gcp" {
                    "The gcp auth plugin has been removed. Please use the \"gke-gcloud-auth-plugin\" kubectl/client-go credential plugin instead.".to_owned()
                } else {
                    format!("no Auth Provider found for name {:?}", p.name)
                });
            }
            if info.exec.as_ref().is_some_and(|e| matches!(e.interactive_mode, Some(ExecInteractiveMode::Always))) {
                return Err("exec plugin cannot support interactive mode: standard input is not a terminal".into());
            }
        }
        if let Some(cmd) = info.exec.as_mut().and_then(|e| e.command.as_mut())
            && cmd.contains('/')
            && std::path::Path::new(cmd.as_str()).is_relative()
        {
            *cmd = dir.join(&cmd).display().to_string();
        }
    }
    Ok(kc)
}

/// client-go's in-cluster config: the API server from the service's
/// environment variables, the service account's token (re-read on every
/// request, as it is rotated) and CA.
fn in_cluster(sa_dir: &std::path::Path, service: Option<(String, String)>, opts: ClientOptions) -> Result<Transport, BuildError> {
    let Some((host, port)) = service.filter(|(h, p)| !h.is_empty() && !p.is_empty()) else {
        return Err(BuildError::Config("unable to load in-cluster configuration, KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be defined".into()));
    };
    let raw = format!("https://{}", join_host_port(&host, &port));
    let base = url::Url::parse(&raw).map_err(|err| BuildError::Url { url: raw.clone(), err })?;
    let mut http = HttpClientConfig { bearer_token_file: sa_dir.join("token").display().to_string(), ..HttpClientConfig::default() };
    http.tls_config.ca_file = sa_dir.join("ca.crt").display().to_string();
    http.validate().map_err(BuildError::Config)?;
    Ok(Transport { base, client: Client::new(&http, opts)? })
}

#[cfg(test)]
mod tests;
