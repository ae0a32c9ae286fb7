//! `consul_sd_configs`: service instances from Consul's catalog, followed
//! with blocking queries as Prometheus's Consul client does.
//!
//! Without a fixed `services` list (or with `tags` or a catalog `filter`),
//! `/v1/catalog/services` is watched and every service whose catalog tags
//! include all of `tags` gets a watcher of its own; with only `services`,
//! those are watched directly. Each watcher follows
//! `/v1/health/service/<name>` and sends one group per service (source: the
//! name) whenever Consul's index moves. A service gone from the catalog is
//! sent empty. Between two queries of the same watch at least
//! `refresh_interval` passes; a failed query is counted in
//! `prometheus_sd_consul_rpc_failures_total`, sends nothing (the last good
//! groups stay) and is retried after 15 s.
//!
//! Like Prometheus, the datacenter label comes from the config or, when it
//! is not set, from the agent (`/v1/agent/self`), asked until it answers.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use config::sd::ConsulSdConfig;
use httpclient::{Client, ClientError, ClientOptions};
use model::Labels;
use model::quote::go_quote;
use reqwest::StatusCode;
use reqwest::header::{HeaderName, HeaderValue};
use serde::{Deserialize, Deserializer};
use tokio::sync::{Mutex, mpsc};
use tokio::task::{AbortHandle, JoinSet};
use tokio::time::{Instant, MissedTickBehavior};

use crate::Group;
use crate::metrics::SdMetrics;
use crate::provider::{BuildError, Env};
use crate::targetgroup::{join_host_port, sanitize_label_name};

/// How long Consul may hold a blocking query (Prometheus's `watchTimeout`).
const WATCH_TIMEOUT: Duration = Duration::from_secs(120);
/// The pause after a failed query (Prometheus's `retryInterval`).
const RETRY_INTERVAL: Duration = Duration::from_secs(15);
/// Added to the watch timeout for the whole exchange, as Prometheus sets its
/// HTTP client's timeout to `watchTimeout + 15s`.
const REQUEST_SLACK: Duration = Duration::from_secs(15);

const META: &str = "__meta_consul_";

/// Why one request to Consul failed.
#[derive(Debug, thiserror::Error)]
pub enum ConsulError {
    #[error("{0}")]
    Client(#[from] ClientError),
    /// Consul's Go client words a non-200 answer this way.
    #[error("Unexpected response code: {code} ({body})")]
    Status { code: u16, body: String },
    #[error("Failed to parse X-Consul-Index: {0}")]
    Index(String),
    #[error("{0}")]
    Decode(#[from] serde_json::Error),
    #[error("invalid value '{0}' for Config.Datacenter")]
    Datacenter(String),
}

#[derive(Debug)]
pub(crate) struct ConsulDiscovery {
    api: Arc<Api>,
    services: Vec<String>,
    tags: Vec<String>,
    /// The catalog filter; set, it makes the catalog watched even with a
    /// fixed `services` list, as in Prometheus.
    filter: String,
    datacenter: String,
    tag_separator: String,
    interval: Duration,
    metrics: SdMetrics,
    retry_interval: Duration,
}

/// The HTTP side: the request parameters Consul's Go client adds to every
/// call, and the client carrying the config's TLS and auth.
#[derive(Debug)]
struct Api {
    client: Client,
    base: url::Url,
    path_prefix: String,
    token: Option<HeaderValue>,
    datacenter: String,
    namespace: String,
    partition: String,
    allow_stale: bool,
    node_meta: BTreeMap<String, String>,
    tags: Vec<String>,
    health_filter: String,
    watch_timeout: Duration,
}

/// One blocking query's answer: Consul's index and the decoded body.
struct Answer<T> {
    index: u64,
    body: T,
}

impl ConsulDiscovery {
    pub(crate) fn new(cfg: &ConsulSdConfig, env: &Env) -> Result<ConsulDiscovery, BuildError> {
        let client = Client::new(&cfg.http_client_config, ClientOptions { user_agent: env.user_agent.clone(), name: "consul_sd".into() })?;
        // Consul's client takes an address with its own scheme in front and
        // lets `https://` win over the configured scheme.
        let (scheme, address) = match cfg.server.split_once("://") {
            Some(("http", rest)) => (cfg.scheme.as_str(), rest),
            Some(("https", rest)) => ("https", rest),
            Some((other, _)) => return Err(BuildError::Config(format!("Unknown protocol scheme: {other}"))),
            None => (cfg.scheme.as_str(), cfg.server.as_str()),
        };
        let text = format!("{scheme}://{address}");
        let base = url::Url::parse(&text).map_err(|err| BuildError::Url { url: text, err })?;
        let token = if cfg.token.is_empty() {
            None
        } else {
            let mut v = HeaderValue::from_str(cfg.token.expose()).map_err(|_| BuildError::Config("invalid consul SD token".into()))?;
            v.set_sensitive(true);
            Some(v)
        };
        let api = Api {
            client,
            base,
            path_prefix: cfg.path_prefix.clone(),
            token,
            datacenter: cfg.datacenter.clone(),
            namespace: cfg.namespace.clone(),
            partition: cfg.partition.clone(),
            allow_stale: cfg.allow_stale,
            node_meta: cfg.node_meta.clone(),
            tags: cfg.tags.clone(),
            health_filter: cfg.health_filter.clone(),
            watch_timeout: WATCH_TIMEOUT,
        };
        Ok(ConsulDiscovery {
            api: Arc::new(api),
            services: cfg.services.clone(),
            tags: cfg.tags.clone(),
            filter: cfg.filter.clone(),
            datacenter: cfg.datacenter.clone(),
            tag_separator: cfg.tag_separator.clone(),
            interval: cfg.refresh_interval.as_std().max(Duration::from_millis(1)),
            metrics: env.metrics.clone(),
            retry_interval: RETRY_INTERVAL,
        })
    }

    pub(crate) async fn run(self, tx: mpsc::Sender<Vec<Group>>) {
        let datacenter = self.datacenter().await;
        let ctx = Arc::new(WatchCtx {
            api: self.api.clone(),
            datacenter,
            tag_separator: self.tag_separator.clone(),
            interval: self.interval,
            retry_interval: self.retry_interval,
            metrics: self.metrics.clone(),
            out: Mutex::new(Out { tx, watched: HashMap::new() }),
        });
        // Dropping the set (when the manager drops this future) aborts
        // every service watcher with it.
        let mut watchers = JoinSet::new();
        if self.services.is_empty() || !self.tags.is_empty() || !self.filter.is_empty() {
            self.watch_catalog(&ctx, &mut watchers).await;
        } else {
            {
                let mut out = ctx.out.lock().await;
                for name in &self.services {
                    let id = next_id();
                    out.watched.insert(name.clone(), id);
                    watchers.spawn(ctx.clone().watch_service(name.clone(), id));
                }
            }
            // Watchers end only when the manager stops listening.
            while watchers.join_next().await.is_some() {}
        }
    }

    /// The configured datacenter, or the agent's, asked until it answers.
    async fn datacenter(&self) -> String {
        if !self.datacenter.is_empty() {
            return self.datacenter.clone();
        }
        loop {
            match self.api.agent_datacenter().await {
                Ok(dc) => return dc,
                Err(e) => {
                    // Prometheus counts failed calls, not answers it cannot use.
                    if !matches!(e, ConsulError::Datacenter(_)) {
                        self.metrics.consul_rpc_failures.inc();
                    }
                    tracing::error!(component = "discovery manager", discovery = "consul", err = %e, "Error retrieving datacenter name");
                    tokio::time::sleep(self.retry_interval).await;
                }
            }
        }
    }

    /// Follows the catalog's service list, starting and stopping watchers.
    async fn watch_catalog(&self, ctx: &Arc<WatchCtx>, watchers: &mut JoinSet<()>) {
        let mut ticker = tokio::time::interval(self.interval);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
        let mut index = 0u64;
        let mut running: HashMap<String, AbortHandle> = HashMap::new();
        loop {
            ticker.tick().await;
            // Watchers only end by being aborted or when the manager has
            // gone; either way their results need no look.
            while watchers.try_join_next().is_some() {}
            let answer = match self.api.services(index, &self.filter).await {
                Ok(a) => a,
                Err(e) => {
                    ctx.metrics.consul_rpc_failures.inc();
                    tracing::error!(component = "discovery manager", discovery = "consul", err = %e, "Error refreshing service list");
                    tokio::time::sleep(self.retry_interval).await;
                    continue;
                }
            };
            // An unchanged index is a blocking query that timed out.
            if answer.index == index {
                continue;
            }
            index = answer.index;
            let services = answer.body;
            let mut out = ctx.out.lock().await;
            for (name, tags) in &services {
                if !self.should_watch(name, tags) || running.contains_key(name) {
                    continue;
                }
                let id = next_id();
                out.watched.insert(name.clone(), id);
                running.insert(name.clone(), watchers.spawn(ctx.clone().watch_service(name.clone(), id)));
            }
            // Only absence from the catalog stops a watch: a service whose
            // tags no longer match keeps it (its health query, filtered by
            // the same tags, then finds nothing), as in Prometheus.
            let gone: Vec<String> = running.keys().filter(|n| !services.contains_key(*n)).cloned().collect();
            for name in gone {
                if let Some(h) = running.remove(&name) {
                    h.abort();
                }
                // Forgotten under the lock the watchers send under, so that
                // none of its groups can follow the empty one.
                out.watched.remove(&name);
                if out.tx.send(vec![Group::empty(name)]).await.is_err() {
                    return;
                }
            }
            // Nothing to watch still tells the manager the job is known.
            if running.is_empty() && out.tx.send(vec![Group::empty(String::new())]).await.is_err() {
                return;
            }
        }
    }

    fn should_watch(&self, name: &str, tags: &[String]) -> bool {
        (self.services.is_empty() || self.services.iter().any(|s| s == name)) && self.tags.iter().all(|t| tags.contains(t))
    }
}

/// What service watchers share.
#[derive(Debug)]
struct WatchCtx {
    api: Arc<Api>,
    datacenter: String,
    tag_separator: String,
    interval: Duration,
    retry_interval: Duration,
    metrics: SdMetrics,
    out: Mutex<Out>,
}

/// The channel to the manager and the watchers allowed to use it: a
/// watcher sends only while its service maps to its own id.
#[derive(Debug)]
struct Out {
    tx: mpsc::Sender<Vec<Group>>,
    watched: HashMap<String, u64>,
}

fn next_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

impl WatchCtx {
    async fn watch_service(self: Arc<Self>, name: String, id: u64) {
        let mut ticker = tokio::time::interval(self.interval);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
        let mut index = 0u64;
        loop {
            ticker.tick().await;
            let answer = match self.api.health(&name, index).await {
                Ok(a) => a,
                Err(e) => {
                    self.metrics.consul_rpc_failures.inc();
                    tracing::error!(component = "discovery manager", discovery = "consul", service = %name, tags = self.api.tags.join(","), err = %e, "Error refreshing service");
                    tokio::time::sleep(self.retry_interval).await;
                    continue;
                }
            };
            if answer.index == index {
                continue;
            }
            index = answer.index;
            let group = self.group(&name, &answer.body);
            let out = self.out.lock().await;
            if out.watched.get(&name) != Some(&id) || out.tx.send(vec![group]).await.is_err() {
                return;
            }
        }
    }

    fn group(&self, name: &str, entries: &[ServiceEntry]) -> Group {
        Group {
            targets: entries.iter().map(|e| target_labels(e, &self.tag_separator)).collect(),
            labels: Labels::from_pairs([(format!("{META}service"), name), (format!("{META}dc"), self.datacenter.as_str())]),
            source: name.to_owned(),
        }
    }
}

/// One instance's labels, with Prometheus's names and values.
fn target_labels(e: &ServiceEntry, sep: &str) -> Labels {
    let (node, svc) = (&e.node, &e.service);
    // A service registered with its own address (possibly through another
    // node) is reached there; otherwise at its node.
    let host = if svc.address.is_empty() { &node.address } else { &svc.address };
    let port = svc.port.to_string();
    // Separators on both ends let relabeling regexes match `,tag,` anywhere.
    let tags = format!("{sep}{}{sep}", svc.tags.join(sep));
    let mut pairs: Vec<(String, String)> = vec![
        ("__address__".into(), join_host_port(host, &port)),
        (format!("{META}address"), node.address.clone()),
        (format!("{META}node"), node.node.clone()),
        (format!("{META}namespace"), svc.namespace.clone()),
        (format!("{META}partition"), svc.partition.clone()),
        (format!("{META}tags"), tags),
        (format!("{META}service_address"), svc.address.clone()),
        (format!("{META}service_port"), port),
        (format!("{META}service_id"), svc.id.clone()),
        (format!("{META}health"), aggregated_status(&e.checks).to_owned()),
    ];
    let prefixed = |prefix: &str, m: &BTreeMap<String, String>| {
        m.iter().map(move |(k, v)| (format!("{META}{prefix}{}", sanitize_label_name(k)), v.clone())).collect::<Vec<_>>()
    };
    pairs.extend(prefixed("metadata_", &node.meta));
    pairs.extend(prefixed("service_metadata_", &svc.meta));
    pairs.extend(prefixed("tagged_address_", &node.tagged_addresses));
    Labels::from_pairs(pairs)
}

/// Consul's Go client's `HealthChecks.AggregatedStatus`: maintenance wins,
/// then the worst status; no checks is passing, and an unknown status
/// makes it empty.
fn aggregated_status(checks: &[Check]) -> &'static str {
    let (mut warning, mut critical, mut maintenance) = (false, false, false);
    for c in checks {
        if c.check_id == "_node_maintenance" || c.check_id.starts_with("_service_maintenance:") {
            maintenance = true;
            continue;
        }
        match c.status.as_str() {
            "passing" => {}
            "warning" => warning = true,
            "critical" => critical = true,
            _ => return "",
        }
    }
    if maintenance {
        "maintenance"
    } else if critical {
        "critical"
    } else if warning {
        "warning"
    } else {
        "passing"
    }
}

impl Api {
    /// The URL of an API path with the parameters Consul's Go client sends,
    /// in its (sorted) order: `dc`, `filter`, `index`, `node-meta`, `ns`,
    /// `partition`, `stale`, `tag`, `wait`.
    fn url(&self, path: &str, blocking: Option<(u64, &str)>, tags: &[String]) -> url::Url {
        let mut u = self.base.clone();
        u.set_path(&format!("{}{path}", self.path_prefix));
        let mut params: Vec<(&str, String)> = Vec::new();
        if !self.datacenter.is_empty() {
            params.push(("dc", self.datacenter.clone()));
        }
        if let Some((index, filter)) = blocking {
            if !filter.is_empty() {
                params.push(("filter", filter.to_owned()));
            }
            if index != 0 {
                params.push(("index", index.to_string()));
            }
            params.extend(self.node_meta.iter().map(|(k, v)| ("node-meta", format!("{k}:{v}"))));
        }
        if !self.namespace.is_empty() {
            params.push(("ns", self.namespace.clone()));
        }
        if !self.partition.is_empty() {
            params.push(("partition", self.partition.clone()));
        }
        if blocking.is_some() {
            if self.allow_stale {
                params.push(("stale", String::new()));
            }
            params.extend(tags.iter().map(|t| ("tag", t.clone())));
            params.push(("wait", format!("{}ms", self.watch_timeout.as_millis().max(1))));
        }
        if !params.is_empty() {
            u.query_pairs_mut().extend_pairs(params);
        }
        u
    }

    async fn get<T: for<'de> Deserialize<'de>>(&self, u: &url::Url) -> Result<Answer<T>, ConsulError> {
        let timeout = self.watch_timeout + REQUEST_SLACK;
        let deadline = Instant::now() + timeout;
        let headers: Vec<(HeaderName, HeaderValue)> = self.token.iter().map(|t| (HeaderName::from_static("x-consul-token"), t.clone())).collect();
        let resp = self.client.get(u, &headers, timeout).await?;
        let status = resp.status();
        let index = resp.headers().get("x-consul-index").map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        let mut body = Vec::new();
        httpclient::read_body(resp, 0, &mut body, deadline).await?;
        if status != StatusCode::OK {
            return Err(ConsulError::Status { code: status.as_u16(), body: String::from_utf8_lossy(&body).trim().to_owned() });
        }
        // No header is index 0, as in Consul's client.
        let index = match index {
            Some(text) => text.parse().map_err(|e: std::num::ParseIntError| {
                let why = if matches!(e.kind(), std::num::IntErrorKind::PosOverflow) { "value out of range" } else { "invalid syntax" };
                ConsulError::Index(format!("strconv.ParseUint: parsing {}: {why}", go_quote(text.as_bytes())))
            })?,
            None => 0,
        };
        Ok(Answer { index, body: serde_json::from_slice(&body)? })
    }

    async fn services(&self, index: u64, filter: &str) -> Result<Answer<BTreeMap<String, Vec<String>>>, ConsulError> {
        let raw: Answer<BTreeMap<String, Option<Vec<String>>>> = self.get(&self.url("/v1/catalog/services", Some((index, filter)), &[])).await?;
        Ok(Answer { index: raw.index, body: raw.body.into_iter().map(|(k, v)| (k, v.unwrap_or_default())).collect() })
    }

    async fn health(&self, service: &str, index: u64) -> Result<Answer<Vec<ServiceEntry>>, ConsulError> {
        let path = format!("/v1/health/service/{service}");
        let raw: Answer<Option<Vec<ServiceEntry>>> = self.get(&self.url(&path, Some((index, &self.health_filter)), &self.tags)).await?;
        Ok(Answer { index: raw.index, body: raw.body.unwrap_or_default() })
    }

    async fn agent_datacenter(&self) -> Result<String, ConsulError> {
        let a: Answer<serde_json::Value> = self.get(&self.url("/v1/agent/self", None, &[])).await?;
        match &a.body["Config"]["Datacenter"] {
            serde_json::Value::String(dc) => Ok(dc.clone()),
            serde_json::Value::Null => Err(ConsulError::Datacenter("<nil>".into())),
            other => Err(ConsulError::Datacenter(other.to_string())),
        }
    }
}

/// A JSON `null` as the type's empty value, as Go's decoder leaves it.
fn nullable<'de, D: Deserializer<'de>, T: Default + Deserialize<'de>>(d: D) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// An entry of `/v1/health/service/<name>`: the fields Prometheus reads.
#[derive(Debug, Default, Deserialize)]
struct ServiceEntry {
    #[serde(rename = "Node", default, deserialize_with = "nullable")]
    node: Node,
    #[serde(rename = "Service", default, deserialize_with = "nullable")]
    service: Service,
    #[serde(rename = "Checks", default, deserialize_with = "nullable")]
    checks: Vec<Check>,
}

#[derive(Debug, Default, Deserialize)]
struct Node {
    #[serde(rename = "Node", default, deserialize_with = "nullable")]
    node: String,
    #[serde(rename = "Address", default, deserialize_with = "nullable")]
    address: String,
    #[serde(rename = "TaggedAddresses", default, deserialize_with = "nullable")]
    tagged_addresses: BTreeMap<String, String>,
    #[serde(rename = "Meta", default, deserialize_with = "nullable")]
    meta: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
struct Service {
    #[serde(rename = "ID", default, deserialize_with = "nullable")]
    id: String,
    #[serde(rename = "Tags", default, deserialize_with = "nullable")]
    tags: Vec<String>,
    #[serde(rename = "Address", default, deserialize_with = "nullable")]
    address: String,
    #[serde(rename = "Port", default, deserialize_with = "nullable")]
    port: i64,
    #[serde(rename = "Meta", default, deserialize_with = "nullable")]
    meta: BTreeMap<String, String>,
    #[serde(rename = "Namespace", default, deserialize_with = "nullable")]
    namespace: String,
    #[serde(rename = "Partition", default, deserialize_with = "nullable")]
    partition: String,
}

#[derive(Debug, Default, Deserialize)]
struct Check {
    #[serde(rename = "CheckID", default, deserialize_with = "nullable")]
    check_id: String,
    #[serde(rename = "Status", default, deserialize_with = "nullable")]
    status: String,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::sync::Mutex as StdMutex;

    use axum::Router;
    use axum::extract::{Path, RawQuery, State};
    use axum::http::HeaderMap;
    use axum::response::{IntoResponse, Response};
    use axum::routing::get;
    use serde_json::{Value, json};

    /// A Consul agent's HTTP API as far as discovery uses it, with
    /// blocking queries: a query naming the current index waits for a
    /// change or its `wait`.
    #[derive(Clone)]
    struct Consul {
        state: Arc<StdMutex<Catalog>>,
        index: Arc<tokio::sync::watch::Sender<u64>>,
    }

    #[derive(Default)]
    struct Catalog {
        /// Service name -> its health entries, as Consul encodes them.
        services: BTreeMap<String, Vec<Value>>,
        fail: bool,
        /// (path, query, X-Consul-Token) of every request.
        requests: Vec<(String, String, String)>,
    }

    impl Consul {
        fn update(&self, f: impl FnOnce(&mut Catalog)) {
            f(&mut self.state.lock().unwrap());
            self.index.send_modify(|i| *i += 1);
        }

        fn requests(&self, path: &str) -> Vec<(String, String)> {
            self.state.lock().unwrap().requests.iter().filter(|r| r.0 == path).map(|r| (r.1.clone(), r.2.clone())).collect()
        }

        /// Records the request, holds it as a blocking query does, then
        /// answers with `body` (or 500 while failing) and the index.
        async fn answer(
            &self,
            path: String,
            query: Option<String>,
            headers: &HeaderMap,
            body: impl FnOnce(&Catalog, &[(String, String)]) -> Value,
        ) -> Response {
            let query = query.unwrap_or_default();
            let token = headers.get("x-consul-token").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
            self.state.lock().unwrap().requests.push((path, query.clone(), token));
            let params: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes()).into_owned().collect();
            let param = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
            let want: u64 = param("index").and_then(|v| v.parse().ok()).unwrap_or(0);
            let wait = param("wait").and_then(|w| w.strip_suffix("ms").and_then(|m| m.parse().ok())).map_or(Duration::from_secs(300), Duration::from_millis);
            let mut rx = self.index.subscribe();
            let _ = tokio::time::timeout(wait, rx.wait_for(|i| *i > want)).await;
            let index = *rx.borrow();
            let state = self.state.lock().unwrap();
            if state.fail {
                return (StatusCode::INTERNAL_SERVER_ERROR, "boom\n").into_response();
            }
            let body = body(&state, &params);
            ([("x-consul-index", index.to_string())], axum::Json(body)).into_response()
        }
    }

    async fn services(State(c): State<Consul>, RawQuery(q): RawQuery, h: HeaderMap) -> Response {
        c.answer("/v1/catalog/services".into(), q, &h, |cat, _| {
            let mut out = serde_json::Map::new();
            for (name, entries) in &cat.services {
                let mut tags: Vec<Value> = entries.iter().flat_map(|e| e["Service"]["Tags"].as_array().cloned().unwrap_or_default()).collect();
                tags.sort_by_key(|t| t.to_string());
                tags.dedup();
                out.insert(name.clone(), Value::Array(tags));
            }
            Value::Object(out)
        })
        .await
    }

    async fn health(State(c): State<Consul>, Path(name): Path<String>, RawQuery(q): RawQuery, h: HeaderMap) -> Response {
        c.answer(format!("/v1/health/service/{name}"), q, &h, |cat, params| {
            let wanted: Vec<&str> = params.iter().filter(|(k, _)| k == "tag").map(|(_, v)| v.as_str()).collect();
            let entries = cat.services.get(&name).cloned().unwrap_or_default();
            let has = |e: &Value, t: &str| e["Service"]["Tags"].as_array().is_some_and(|a| a.iter().any(|x| x == t));
            Value::Array(entries.into_iter().filter(|e| wanted.iter().all(|t| has(e, t))).collect())
        })
        .await
    }

    async fn agent_self(State(c): State<Consul>, RawQuery(q): RawQuery, h: HeaderMap) -> Response {
        c.answer("/v1/agent/self".into(), q, &h, |_, _| json!({"Config": {"Datacenter": "dc1"}})).await
    }

    async fn server() -> (String, Consul) {
        let (tx, _) = tokio::sync::watch::channel(1u64);
        let c = Consul { state: Arc::default(), index: Arc::new(tx) };
        let app = Router::new()
            .route("/v1/catalog/services", get(services))
            .route("/v1/health/service/{name}", get(health))
            .route("/v1/agent/self", get(agent_self))
            .with_state(c.clone());
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap().to_string();
        tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
        (addr, c)
    }

    fn entry(node: &str, node_addr: &str, id: &str, svc_addr: &str, port: i64, tags: &[&str], status: &str) -> Value {
        json!({
            "Node": {"Node": node, "Address": node_addr, "Datacenter": "dc1", "TaggedAddresses": {"lan": node_addr, "wan-ipv4": "203.0.113.1"}, "Meta": {"rack-id": "r1"}},
            "Service": {"ID": id, "Service": "x", "Tags": tags, "Address": svc_addr, "Port": port, "Meta": {"version": "1.2"}, "Namespace": "", "Partition": ""},
            "Checks": [{"CheckID": "serfHealth", "Status": "passing"}, {"CheckID": format!("service:{id}"), "Status": status}]
        })
    }

    fn discovery(server: &str, yaml: &str, metrics: &SdMetrics) -> ConsulDiscovery {
        let mut cfg: ConsulSdConfig = config::yaml::from_str(&format!("server: '{server}'\nrefresh_interval: 50ms\n{yaml}")).unwrap();
        cfg.validate().unwrap();
        let env = Env { metrics: metrics.clone(), user_agent: "Prometheus/test".into(), dns_nameserver: None };
        let mut d = ConsulDiscovery::new(&cfg, &env).unwrap();
        // Short holds and retries, so that the test sees timeouts and
        // failures in well under a second.
        Arc::get_mut(&mut d.api).unwrap().watch_timeout = Duration::from_millis(500);
        d.retry_interval = Duration::from_millis(50);
        d
    }

    /// The manager's view: the latest non-empty group per source.
    #[derive(Default)]
    struct View(BTreeMap<String, Group>);

    impl View {
        fn apply(&mut self, update: Vec<Group>) {
            for g in update {
                if g.targets.is_empty() {
                    self.0.remove(&g.source);
                } else {
                    self.0.insert(g.source.clone(), g);
                }
            }
        }

        async fn until(&mut self, rx: &mut mpsc::Receiver<Vec<Group>>, what: &str, cond: impl Fn(&BTreeMap<String, Group>) -> bool) {
            let deadline = Instant::now() + Duration::from_secs(10);
            while !cond(&self.0) {
                let u = tokio::time::timeout_at(deadline, rx.recv()).await.unwrap_or_else(|_| panic!("{what}: {:?}", self.0.keys().collect::<Vec<_>>()));
                self.apply(u.unwrap());
            }
        }
    }

    fn addresses(g: &Group) -> Vec<String> {
        let mut a: Vec<String> = g.targets.iter().map(|t| t.get("__address__").to_owned()).collect();
        a.sort();
        a
    }

    #[tokio::test]
    async fn catalog_services_appear_change_go_and_survive_failures() {
        let (addr, consul) = server().await;
        consul.update(|c| {
            c.services.insert(
                "web".into(),
                vec![
                    entry("n1", "10.0.0.1", "web-1", "", 8080, &["prod", "v1"], "passing"),
                    entry("n2", "10.0.0.2", "web-2", "192.0.2.7", 8081, &[], "critical"),
                ],
            );
            c.services.insert("db".into(), vec![entry("n1", "10.0.0.1", "db-1", "", 5432, &["prod"], "warning")]);
        });
        let metrics = SdMetrics::default();
        let yaml = "token: secret\nnode_meta: {rack: r1}\nfilter: 'ServiceName != \"x\"'\nhealth_filter: 'Service.Port > 0'\n";
        let (tx, mut rx) = mpsc::channel(1);
        let task = tokio::spawn(discovery(&addr, yaml, &metrics).run(tx));
        let mut view = View::default();
        view.until(&mut rx, "both services", |v| v.contains_key("web") && v.contains_key("db")).await;

        let web = &view.0["web"];
        assert_eq!(web.labels.to_string(), r#"{__meta_consul_dc="dc1", __meta_consul_service="web"}"#);
        assert_eq!(addresses(web), ["10.0.0.1:8080", "192.0.2.7:8081"]);
        assert_eq!(
            web.targets[0].to_string(),
            concat!(
                r#"{__address__="10.0.0.1:8080", __meta_consul_address="10.0.0.1", __meta_consul_health="passing", "#,
                r#"__meta_consul_metadata_rack_id="r1", __meta_consul_node="n1", __meta_consul_service_id="web-1", "#,
                r#"__meta_consul_service_metadata_version="1.2", __meta_consul_service_port="8080", "#,
                r#"__meta_consul_tagged_address_lan="10.0.0.1", __meta_consul_tagged_address_wan_ipv4="203.0.113.1", "#,
                r#"__meta_consul_tags=",prod,v1,"}"#
            )
        );
        let web2 = &web.targets[1];
        assert_eq!(
            (web2.get("__meta_consul_service_address"), web2.get("__meta_consul_health"), web2.get("__meta_consul_tags")),
            ("192.0.2.7", "critical", ",,")
        );
        assert_eq!(view.0["db"].targets[0].get("__meta_consul_health"), "warning");

        // What was asked: the agent for its datacenter, the catalog with its
        // filter, each service with the health filter; all with the token.
        let (q, token) = &consul.requests("/v1/catalog/services")[0];
        assert_eq!(q, "filter=ServiceName+%21%3D+%22x%22&node-meta=rack%3Ar1&stale=&wait=500ms");
        assert_eq!(token, "secret");
        let (q, token) = &consul.requests("/v1/health/service/web")[0];
        assert_eq!(q, "filter=Service.Port+%3E+0&node-meta=rack%3Ar1&stale=&wait=500ms");
        assert_eq!(token, "secret");
        assert_eq!(consul.requests("/v1/agent/self").len(), 1);
        // The next query blocks on the index the last one saw.
        let deadline = Instant::now() + Duration::from_secs(10);
        while consul.requests("/v1/health/service/web").len() < 2 {
            assert!(Instant::now() < deadline, "no second query");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(consul.requests("/v1/health/service/web")[1].0.contains("&index=2&"));

        // Tags and health change.
        consul.update(|c| {
            let e = &mut c.services.get_mut("web").unwrap()[0];
            e["Service"]["Tags"] = json!(["prod", "v2"]);
            e["Checks"] = json!([{"CheckID": "_node_maintenance", "Status": "critical"}]);
        });
        view.until(&mut rx, "new tags", |v| v["web"].targets[0].get("__meta_consul_tags") == ",prod,v2,").await;
        assert_eq!(view.0["web"].targets[0].get("__meta_consul_health"), "maintenance");

        // db goes, cache comes.
        consul.update(|c| {
            c.services.remove("db");
            c.services.insert("cache".into(), vec![entry("n3", "::1", "cache-1", "", 6379, &[], "passing")]);
        });
        view.until(&mut rx, "db gone, cache there", |v| !v.contains_key("db") && v.contains_key("cache")).await;
        assert_eq!(addresses(&view.0["cache"]), ["[::1]:6379"]);

        // A failing server: counted, nothing sent, the last good groups
        // stay. First take what the last change still sends (every watcher
        // whose index moved sends its group again).
        while let Ok(Some(u)) = tokio::time::timeout(Duration::from_millis(300), rx.recv()).await {
            view.apply(u);
        }
        consul.update(|c| {
            c.fail = true;
            c.services.get_mut("web").unwrap().pop();
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        while metrics.consul_rpc_failures.get() < 3 {
            assert!(Instant::now() < deadline, "failures not counted");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(rx.try_recv().is_err());
        assert_eq!(view.0["web"].targets.len(), 2);
        task.abort();
    }

    #[tokio::test]
    async fn named_services_are_watched_without_the_catalog() {
        let (addr, consul) = server().await;
        consul.update(|c| {
            c.services.insert("web".into(), vec![entry("n1", "10.0.0.1", "web-1", "", 80, &["a", "b"], "passing")]);
        });
        let metrics = SdMetrics::default();
        let yaml = "services: [web, ghost]\ndatacenter: east\nnamespace: ns1\npartition: p1\ntag_separator: ';'\nallow_stale: false\n";
        let (tx, mut rx) = mpsc::channel(1);
        let task = tokio::spawn(discovery(&addr, yaml, &metrics).run(tx));
        let mut view = View::default();
        let mut ghost_seen = false;
        let deadline = Instant::now() + Duration::from_secs(10);
        while !(ghost_seen && view.0.contains_key("web")) {
            let u = tokio::time::timeout_at(deadline, rx.recv()).await.unwrap().unwrap();
            ghost_seen |= u.iter().any(|g| g.source == "ghost" && g.targets.is_empty());
            view.apply(u);
        }
        let web = &view.0["web"];
        assert_eq!(web.labels.get("__meta_consul_dc"), "east");
        assert_eq!(web.targets[0].get("__meta_consul_tags"), ";a;b;");
        assert!(consul.requests("/v1/catalog/services").is_empty());
        assert!(consul.requests("/v1/agent/self").is_empty());
        assert_eq!(consul.requests("/v1/health/service/web")[0].0, "dc=east&ns=ns1&partition=p1&wait=500ms");
        task.abort();
    }

    #[tokio::test]
    async fn tags_pick_services_in_the_catalog_and_instances_in_health() {
        let (addr, consul) = server().await;
        consul.update(|c| {
            c.services.insert(
                "web".into(),
                vec![entry("n1", "10.0.0.1", "web-1", "", 80, &["prod"], "passing"), entry("n2", "10.0.0.2", "web-2", "", 80, &[], "passing")],
            );
            c.services.insert("db".into(), vec![entry("n1", "10.0.0.1", "db-1", "", 5432, &[], "passing")]);
        });
        let metrics = SdMetrics::default();
        let (tx, mut rx) = mpsc::channel(1);
        let task = tokio::spawn(discovery(&addr, "services: [web, db]\ntags: [prod]\n", &metrics).run(tx));
        let mut view = View::default();
        view.until(&mut rx, "web", |v| v.contains_key("web")).await;
        assert_eq!(addresses(&view.0["web"]), ["10.0.0.1:80"]);
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(consul.requests("/v1/health/service/db").is_empty());
        assert!(consul.requests("/v1/health/service/web")[0].0.contains("tag=prod"));
        task.abort();
    }

    #[tokio::test]
    async fn an_empty_catalog_still_reports_the_job() {
        let (addr, _consul) = server().await;
        let (tx, mut rx) = mpsc::channel(1);
        let task = tokio::spawn(discovery(&addr, "", &SdMetrics::default()).run(tx));
        let u = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.unwrap().unwrap();
        assert_eq!(u, vec![Group::empty(String::new())]);
        task.abort();
    }

    #[test]
    fn health_is_aggregated_as_consuls_client_does() {
        let checks = |s: &[(&str, &str)]| s.iter().map(|(id, st)| Check { check_id: (*id).into(), status: (*st).into() }).collect::<Vec<_>>();
        assert_eq!(aggregated_status(&[]), "passing");
        assert_eq!(aggregated_status(&checks(&[("a", "passing"), ("b", "warning")])), "warning");
        assert_eq!(aggregated_status(&checks(&[("a", "critical"), ("b", "warning")])), "critical");
        assert_eq!(aggregated_status(&checks(&[("_service_maintenance:web", "critical"), ("b", "passing")])), "maintenance");
        assert_eq!(aggregated_status(&checks(&[("a", "unknown"), ("b", "critical")])), "");
    }

    #[test]
    fn null_fields_decode_as_empty_and_addresses_follow_prometheus() {
        let e: ServiceEntry =
            serde_json::from_str(r#"{"Node": {"Node": "n", "Address": "10.1.1.1", "Meta": null}, "Service": {"Port": 9, "Tags": null}, "Checks": null}"#)
                .unwrap();
        let l = target_labels(&e, ",");
        assert_eq!(l.get("__address__"), "10.1.1.1:9");
        assert_eq!(l.get("__meta_consul_tags"), ",,");
        assert_eq!(l.get("__meta_consul_health"), "passing");
    }

    #[test]
    fn server_addresses_may_carry_a_scheme() {
        let env = Env { metrics: SdMetrics::default(), user_agent: String::new(), dns_nameserver: None };
        let cfg = |server: &str, scheme: &str| ConsulSdConfig { server: server.into(), scheme: scheme.into(), ..ConsulSdConfig::default() };
        let d = ConsulDiscovery::new(&cfg("https://c:8501", "http"), &env).unwrap();
        assert_eq!(d.api.base.as_str(), "https://c:8501/");
        let d = ConsulDiscovery::new(&cfg("http://c:8500", "https"), &env).unwrap();
        assert_eq!(d.api.base.as_str(), "https://c:8500/");
        let d = ConsulDiscovery::new(&ConsulSdConfig { path_prefix: "/consul".into(), ..cfg("c:8500", "http") }, &env).unwrap();
        assert_eq!(d.api.url("/v1/agent/self", None, &[]).as_str(), "http://c:8500/consul/v1/agent/self");
        assert_eq!(ConsulDiscovery::new(&cfg("unix:///run/consul.sock", "http"), &env).unwrap_err().to_string(), "Unknown protocol scheme: unix");
    }
}
