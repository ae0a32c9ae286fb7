//! The HTTP server: lifecycle endpoints (`/-/healthy`, `/-/ready`,
//! `/-/reload`, `/-/quit`), the server's own `/metrics`, and the `/api/v1`
//! endpoints as they land.
//!
//! This crate owns HTTP: routing, status codes and Prometheus's response
//! bodies. It reaches the rest of the server only through what [`Handles`]
//! gives it (channels, flags, a registry) and must not know how a reload or
//! a query is carried out.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use prometheus_client::registry::Registry;
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

mod admin;
mod exemplars;
mod federate;
mod query;
mod read;
mod selector;
mod series;
mod targets;
mod write;

pub use admin::{HeadStats, Stat, TsdbAdmin, TsdbAdminError, TsdbStatus};
pub use exemplars::ExemplarSource;
pub use query::QueryHandle;
pub use read::ReadLimits;
pub use write::WriteTarget;

/// A request to reload the configuration, answered with the outcome.
#[derive(Debug)]
pub struct ReloadRequest {
    pub reply: oneshot::Sender<Result<(), String>>,
}

/// Settings taken from the command line.
#[derive(Debug, Clone)]
pub struct Options {
    pub listen_address: String,
    /// Path prefix every route is served under (`--web.route-prefix`).
    pub route_prefix: String,
    pub enable_lifecycle: bool,
    /// `--web.enable-admin-api`: without it the admin endpoints refuse.
    pub enable_admin_api: bool,
    /// Flag names and values as given, for `/api/v1/status/flags`.
    pub flags: BTreeMap<String, String>,
    pub version: &'static str,
    /// Agent mode, which the health endpoints name.
    pub agent: bool,
}

impl Options {
    fn kind(&self) -> &'static str {
        if self.agent { "Agent" } else { "Server" }
    }
}

/// What the web layer may touch of the running server.
#[derive(Debug, Clone)]
pub struct Handles {
    /// Set once storage is open and the first config applied.
    pub ready: Arc<AtomicBool>,
    /// Reload requests go to the component that owns the config.
    pub reload: mpsc::Sender<ReloadRequest>,
    /// Cancelled by `/-/quit` to stop the whole server.
    pub quit: CancellationToken,
    /// The self-metrics registry rendered at `/metrics`.
    pub registry: Arc<Registry>,
    /// The config in force, as YAML with secrets hidden.
    pub config_yaml: Arc<std::sync::RwLock<String>>,
    /// The remote-read flags; `None` answers 503.
    pub remote_read: Option<ReadLimits>,
    /// Start time, reload status and retention for the runtime status.
    pub runtime: Option<RuntimeInfo>,
    /// The config's external labels, which `/federate` adds.
    pub external_labels: Arc<std::sync::RwLock<std::collections::BTreeMap<String, String>>>,
    /// The scrape manager, for the targets API (absent in tests that do
    /// not scrape).
    pub scrape: Option<Arc<scrape::Manager>>,
    /// The query engine and its storage, for `/api/v1/query*`.
    pub query: Option<QueryHandle>,
    /// Where `/api/v1/query_exemplars` reads; `None` answers as exemplar
    /// storage turned off does (nothing found).
    pub exemplars: Option<ExemplarSource>,
    /// Where remote-written samples go; `None` unless
    /// `--web.enable-remote-write-receiver` is set.
    pub remote_write: Option<WriteTarget>,
    /// The TSDB's statistics and admin operations, for
    /// `/api/v1/status/tsdb` and `/api/v1/admin/tsdb/*`; `None` answers
    /// that storage is not available.
    pub tsdb: Option<Arc<dyn TsdbAdmin>>,
}

struct AppState {
    opts: Options,
    handles: Handles,
}

/// Errors from starting the server.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("error listening on {addr}: {source}")]
    Listen {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("error serving web requests: {0}")]
    Serve(#[source] std::io::Error),
}

/// The web component: bound, not yet serving.
#[derive(Debug)]
pub struct Web {
    listener: tokio::net::TcpListener,
    router: Router,
}

impl Web {
    /// Binds the listen address. Binding happens before serving so that an
    /// address in use fails start-up instead of a background task.
    pub async fn bind(opts: Options, handles: Handles) -> Result<Web, WebError> {
        let listener =
            tokio::net::TcpListener::bind(&opts.listen_address).await.map_err(|source| WebError::Listen { addr: opts.listen_address.clone(), source })?;
        Ok(Web { listener, router: router(opts, handles) })
    }

    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    /// Serves until `stop` is cancelled, then finishes in-flight requests.
    pub async fn run(self, stop: CancellationToken) -> Result<(), WebError> {
        axum::serve(self.listener, self.router).with_graceful_shutdown(async move { stop.cancelled().await }).await.map_err(WebError::Serve)
    }
}

fn router(opts: Options, handles: Handles) -> Router {
    let prefix = normalize_prefix(&opts.route_prefix);
    let state = Arc::new(AppState { opts, handles });
    let routes = Router::new()
        .route("/-/healthy", get(healthy).head(healthy))
        .route("/-/ready", get(ready).head(ready))
        .route("/-/reload", post(reload).put(reload).get(lifecycle_method_not_allowed))
        .route("/-/quit", post(quit).put(quit).get(lifecycle_method_not_allowed))
        .route("/metrics", get(metrics))
        .route("/api/v1/status/config", get(status_config))
        .route("/api/v1/status/flags", get(status_flags))
        .route("/api/v1/status/buildinfo", get(status_buildinfo))
        .route("/api/v1/status/runtimeinfo", get(status_runtimeinfo))
        .route("/api/v1/status/tsdb", get(admin::status_tsdb))
        .route("/api/v1/admin/tsdb/delete_series", post(admin::delete_series).put(admin::delete_series).fallback(admin::admin_method_not_allowed))
        .route("/api/v1/admin/tsdb/clean_tombstones", post(admin::clean_tombstones).put(admin::clean_tombstones).fallback(admin::admin_method_not_allowed))
        .route("/api/v1/admin/tsdb/snapshot", post(admin::snapshot).put(admin::snapshot).fallback(admin::admin_method_not_allowed))
        .route("/api/v1/query", get(query::query).post(query::query))
        .route("/api/v1/query_range", get(query::query_range).post(query::query_range))
        .route("/api/v1/format_query", get(query::format_query).post(query::format_query))
        .route("/api/v1/query_exemplars", get(exemplars::query_exemplars).post(exemplars::query_exemplars))
        .route("/api/v1/series", get(series::series).post(series::series))
        .route("/api/v1/labels", get(series::labels).post(series::labels))
        .route("/api/v1/label/{name}/values", get(series::label_values))
        .route("/api/v1/write", post(write::write).layer(axum::extract::DefaultBodyLimit::max(write::MAX_BODY)))
        .route("/api/v1/read", post(read::read).layer(axum::extract::DefaultBodyLimit::max(write::MAX_BODY)))
        .route("/api/v1/targets", get(targets::targets))
        .route("/api/v1/targets/metadata", get(targets::targets_metadata))
        .route("/api/v1/metadata", get(targets::metadata))
        .route("/federate", get(federate::federate))
        .with_state(state);
    if prefix.is_empty() { routes } else { Router::new().nest(&prefix, routes) }
}

/// `/` and `` mean no prefix; otherwise a leading slash and no trailing one.
fn normalize_prefix(p: &str) -> String {
    let trimmed = p.trim_end_matches('/');
    if trimmed.is_empty() {
        String::new()
    } else if trimmed.starts_with('/') {
        trimmed.to_owned()
    } else {
        format!("/{trimmed}")
    }
}

fn text(status: StatusCode, body: impl Into<String>) -> Response {
    (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body.into()).into_response()
}

async fn healthy(State(s): State<Arc<AppState>>) -> Response {
    text(StatusCode::OK, format!("Prometheus {} is Healthy.\n", s.opts.kind()))
}

async fn ready(State(s): State<Arc<AppState>>) -> Response {
    if s.handles.ready.load(Ordering::Acquire) {
        return text(StatusCode::OK, format!("Prometheus {} is Ready.\n", s.opts.kind()));
    }
    let mut r = text(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable");
    if s.handles.quit.is_cancelled() {
        r.headers_mut().insert("X-Prometheus-Stopping", axum::http::HeaderValue::from_static("true"));
    }
    r
}

async fn lifecycle_method_not_allowed() -> Response {
    text(StatusCode::METHOD_NOT_ALLOWED, "Only POST or PUT requests allowed")
}

async fn reload(State(s): State<Arc<AppState>>) -> Response {
    if !s.opts.enable_lifecycle {
        return text(StatusCode::FORBIDDEN, "Lifecycle API is not enabled.");
    }
    let (tx, rx) = oneshot::channel();
    if s.handles.reload.send(ReloadRequest { reply: tx }).await.is_err() {
        return text(StatusCode::SERVICE_UNAVAILABLE, "server is shutting down");
    }
    match rx.await {
        Ok(Ok(())) => text(StatusCode::OK, ""),
        Ok(Err(e)) => text(StatusCode::INTERNAL_SERVER_ERROR, format!("failed to reload config: {e}")),
        Err(_) => text(StatusCode::SERVICE_UNAVAILABLE, "server is shutting down"),
    }
}

async fn quit(State(s): State<Arc<AppState>>) -> Response {
    if !s.opts.enable_lifecycle {
        return text(StatusCode::FORBIDDEN, "Lifecycle API is not enabled.");
    }
    tracing::warn!(component = "web", "Received termination request via web service, exiting gracefully...");
    if s.handles.quit.is_cancelled() {
        return text(StatusCode::OK, "Termination already in progress.");
    }
    s.handles.quit.cancel();
    text(StatusCode::OK, "Requesting termination... Goodbye!")
}

async fn metrics(State(s): State<Arc<AppState>>) -> Response {
    let mut body = String::new();
    match prometheus_client::encoding::text::encode(&mut body, &s.handles.registry) {
        Ok(()) => ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], body).into_response(),
        Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, format!("error encoding metrics: {e}")),
    }
}

/// Prometheus's API envelope.
#[derive(Serialize)]
struct Success<T: Serialize> {
    status: &'static str,
    data: T,
}

fn api<T: Serialize>(data: T) -> Response {
    axum::Json(Success { status: "success", data }).into_response()
}

/// A request's parameters as Go's `r.Form` holds them after `ParseForm`:
/// a form body's first, then the query string's, in order, repeated ones
/// kept (`match[]` is a list). Unlike axum's `RawForm`, a POST without a
/// form content type is no error: `curl -X POST '...?query=up'` sends
/// none, and Prometheus serves it.
pub(crate) struct Params(pub Vec<(String, String)>);

impl Params {
    /// Go's `r.FormValue`: the first value, empty when absent.
    pub(crate) fn value(&self, name: &str) -> &str {
        self.0.iter().find(|(k, _)| k == name).map_or("", |(_, v)| v.as_str())
    }

    /// The first value of each name.
    pub(crate) fn first_values(&self) -> std::collections::BTreeMap<String, String> {
        let mut out = std::collections::BTreeMap::new();
        for (k, v) in &self.0 {
            out.entry(k.clone()).or_insert_with(|| v.clone());
        }
        out
    }
}

impl<S: Send + Sync> axum::extract::FromRequest<S> for Params {
    type Rejection = Response;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        let query = req.uri().query().map(str::to_owned);
        let is_form = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.split(';').next().is_some_and(|m| m.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded")));
        let body = axum::body::Bytes::from_request(req, state).await.map_err(IntoResponse::into_response)?;
        let mut out: Vec<(String, String)> = if is_form { url::form_urlencoded::parse(&body).into_owned().collect() } else { Vec::new() };
        out.extend(query.iter().flat_map(|q| url::form_urlencoded::parse(q.as_bytes()).into_owned()));
        Ok(Params(out))
    }
}

/// An API error in Prometheus's envelope: the HTTP status, the
/// `errorType` and the message.
pub(crate) struct ApiError(pub StatusCode, pub &'static str, pub String);

impl ApiError {
    /// A request the API refuses (HTTP 400, `bad_data`).
    pub(crate) fn bad_data(msg: &str) -> ApiError {
        ApiError(StatusCode::BAD_REQUEST, "bad_data", msg.to_owned())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        // A struct rather than a JSON map, so that the keys come in
        // Prometheus's order and the bodies are byte for byte alike.
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Body<'a> {
            status: &'static str,
            error_type: &'static str,
            error: &'a str,
        }
        (self.0, axum::Json(Body { status: "error", error_type: self.1, error: &self.2 })).into_response()
    }
}

pub(crate) fn error(status: StatusCode, kind: &'static str, msg: &str) -> Response {
    ApiError(status, kind, msg.to_owned()).into_response()
}

pub(crate) fn bad_data(msg: &str) -> Response {
    ApiError::bad_data(msg).into_response()
}

async fn status_config(State(s): State<Arc<AppState>>) -> Response {
    #[derive(Serialize)]
    struct Data {
        yaml: String,
    }
    let yaml = s.handles.config_yaml.read().map(|y| y.clone()).unwrap_or_default();
    api(Data { yaml })
}

async fn status_flags(State(s): State<Arc<AppState>>) -> Response {
    api(&s.opts.flags)
}

/// What `/api/v1/status/runtimeinfo` reports that the web server does not
/// know by itself.
#[derive(Debug, Clone)]
pub struct RuntimeInfo {
    pub start_time: std::time::SystemTime,
    /// `prometheus_config_last_reload_successful` and
    /// `prometheus_config_last_reload_success_timestamp_seconds`.
    pub reload_success: prometheus_client::metrics::gauge::Gauge,
    pub reload_success_time: prometheus_client::metrics::gauge::Gauge<f64, std::sync::atomic::AtomicU64>,
    /// Prometheus's wording: `15d`, `1GiB`, or both joined by ` or `.
    pub storage_retention: String,
}

fn rfc3339(t: std::time::SystemTime) -> String {
    let ns = t.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    model::time::format_rfc3339_ms((ns / 1_000_000) as i64)
}

/// Prometheus's runtime information. The Go runtime's fields are filled
/// with their nearest equivalents here: live tasks for goroutines, worker
/// threads for GOMAXPROCS, and the GOGC and GODEBUG variables as set.
async fn status_runtimeinfo(State(s): State<Arc<AppState>>) -> Response {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Data {
        start_time: String,
        #[serde(rename = "CWD")]
        cwd: String,
        reload_config_success: bool,
        last_config_time: String,
        corruption_count: u64,
        goroutine_count: usize,
        #[serde(rename = "GOMAXPROCS")]
        gomaxprocs: usize,
        #[serde(rename = "GOMEMLIMIT")]
        gomemlimit: i64,
        #[serde(rename = "GOGC")]
        gogc: String,
        #[serde(rename = "GODEBUG")]
        godebug: String,
        storage_retention: String,
    }
    let Some(r) = &s.handles.runtime else { return error(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "runtime information not available") };
    let metrics = tokio::runtime::Handle::current().metrics();
    let last = r.reload_success_time.get();
    api(Data {
        start_time: rfc3339(r.start_time),
        cwd: std::env::current_dir().map(|d| d.display().to_string()).unwrap_or_default(),
        reload_config_success: r.reload_success.get() == 1,
        last_config_time: rfc3339(std::time::UNIX_EPOCH + std::time::Duration::from_secs_f64(last.max(0.0))),
        corruption_count: s.handles.tsdb.as_ref().map_or(0, |t| t.wal_corruptions()),
        goroutine_count: metrics.num_alive_tasks(),
        gomaxprocs: metrics.num_workers(),
        gomemlimit: i64::MAX,
        gogc: std::env::var("GOGC").unwrap_or_default(),
        godebug: std::env::var("GODEBUG").unwrap_or_default(),
        storage_retention: r.storage_retention.clone(),
    })
}

async fn status_buildinfo(State(s): State<Arc<AppState>>) -> Response {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Data {
        version: &'static str,
        revision: &'static str,
        branch: &'static str,
        build_user: &'static str,
        build_date: &'static str,
        go_version: &'static str,
    }
    api(Data { version: s.opts.version, revision: "", branch: "", build_user: "", build_date: "", go_version: "" })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes() {
        assert_eq!(normalize_prefix("/"), "");
        assert_eq!(normalize_prefix(""), "");
        assert_eq!(normalize_prefix("prom/"), "/prom");
        assert_eq!(normalize_prefix("/a/b"), "/a/b");
    }

    /// Serves the router on a loopback port and sends it one raw request;
    /// the status and the JSON body.
    fn serve_one(request: &str) -> (u16, serde_json::Value) {
        serve_one_with(None, request)
    }

    fn serve_one_with(exemplars: Option<ExemplarSource>, request: &str) -> (u16, serde_json::Value) {
        let (status, _, body) = serve_raw(|_, h| h.exemplars = exemplars, request);
        // An empty body (a 204) reads as JSON null.
        let json = if body.is_empty() { serde_json::Value::Null } else { serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}")) };
        (status, json)
    }

    /// Serves the router, with options and handles as `adjust` leaves them,
    /// on a loopback port and sends it one raw request; the status, the
    /// response head and the body.
    pub(crate) fn serve_raw(adjust: impl FnOnce(&mut Options, &mut Handles), request: &str) -> (u16, String, String) {
        use std::io::{Read, Write};
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let mut opts = Options {
            listen_address: "127.0.0.1:0".into(),
            route_prefix: String::new(),
            enable_lifecycle: false,
            enable_admin_api: false,
            flags: BTreeMap::new(),
            version: "test",
            agent: false,
        };
        let mut handles = Handles {
            ready: Arc::default(),
            reload: mpsc::channel(1).0,
            quit: CancellationToken::new(),
            registry: Arc::new(Registry::default()),
            config_yaml: Arc::default(),
            external_labels: Arc::default(),
            remote_read: None,
            runtime: None,
            scrape: None,
            query: None,
            exemplars: None,
            remote_write: None,
            tsdb: None,
        };
        adjust(&mut opts, &mut handles);
        let web = rt.block_on(Web::bind(opts, handles)).unwrap();
        let addr = web.local_addr().unwrap();
        let stop = CancellationToken::new();
        rt.spawn(web.run(stop.clone()));
        let mut conn = std::net::TcpStream::connect(addr).unwrap();
        conn.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
        conn.write_all(request.as_bytes()).unwrap();
        let mut raw = Vec::new();
        conn.read_to_end(&mut raw).unwrap();
        stop.cancel();
        let text = String::from_utf8(raw).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
        (status, head.to_owned(), body.to_owned())
    }

    fn get(path_and_query: &str) -> (u16, serde_json::Value) {
        serve_one(&format!("GET {path_and_query} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))
    }

    #[test]
    fn format_query_prettifies_or_answers_bad_data() {
        assert_eq!(get("/api/v1/format_query?query=foo/bar"), (200, serde_json::json!({"status": "success", "data": "foo / bar"})));

        let long = "sum(rate(http_requests_total{job=%22api-server%22,handler=%22/api/v1/query_range%22,code=~%225..%22}[5m]))%20by%20(job)";
        let (status, body) = get(&format!("/api/v1/format_query?query={long}"));
        assert_eq!(status, 200);
        assert_eq!(body["data"], "sum by (job) (\n  rate(http_requests_total{code=~\"5..\",handler=\"/api/v1/query_range\",job=\"api-server\"}[5m])\n)");

        let form = "query=rate(x%5B5m%5D)%20%3E%200";
        let post = format!(
            "POST /api/v1/format_query HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
            form.len()
        );
        assert_eq!(serve_one(&post), (200, serde_json::json!({"status": "success", "data": "rate(x[5m]) > 0"})));

        let bad = |error: &str| serde_json::json!({"status": "error", "errorType": "bad_data", "error": error});
        assert_eq!(get("/api/v1/format_query?query=foo%2B"), (400, bad("invalid parameter \"query\": 1:5: parse error: unexpected end of input")));
        let no_query = "invalid parameter \"query\": unknown position: parse error: no expression found in input";
        assert_eq!(get("/api/v1/format_query"), (400, bad(no_query)));
        assert_eq!(get("/api/v1/format_query?query="), (400, bad(no_query)));
        // Formatting accepts what the engine would run, no more.
        assert_eq!(
            get("/api/v1/format_query?query=sort_by_label(up,%22job%22)"),
            (400, bad("invalid parameter \"query\": 1:1: parse error: function \"sort_by_label\" is not enabled"))
        );
    }

    /// Exemplar storage that records the matcher sets it is asked for and
    /// answers one series.
    /// A select's start, end and matcher sets (as text).
    type SelectCall = (i64, i64, Vec<Vec<String>>);

    #[derive(Clone, Default)]
    struct FakeExemplars(Arc<std::sync::Mutex<Vec<SelectCall>>>);

    impl storage::ExemplarQueryable for FakeExemplars {
        fn exemplar_querier(&self) -> Result<Box<dyn storage::ExemplarQuerier>, storage::StorageError> {
            Ok(Box::new(self.clone()))
        }
    }

    impl storage::ExemplarQuerier for FakeExemplars {
        fn select(&self, start: i64, end: i64, sets: &[Vec<model::Matcher>]) -> Result<Vec<storage::ExemplarSeries>, storage::StorageError> {
            let sets = sets.iter().map(|ms| ms.iter().map(|m| format!("{}{}{}", m.name, m.kind.as_str(), m.value)).collect()).collect();
            self.0.lock().unwrap().push((start, end, sets));
            Ok(vec![storage::ExemplarSeries {
                labels: model::Labels::from_pairs([("__name__", "a"), ("job", "j")]),
                exemplars: vec![model::Exemplar { labels: model::Labels::from_pairs([("trace_id", "t")]), value: 0.5, ts: 1500, has_ts: true }],
            }])
        }
    }

    #[test]
    fn query_exemplars_selects_every_selector_or_answers_bad_data() {
        let fake = FakeExemplars::default();
        let source = || Some(ExemplarSource(Arc::new(fake.clone())));
        let get = |path: &str| serve_one_with(source(), &format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));

        let (status, body) = get("/api/v1/query_exemplars?query=rate(a%7Bjob%3D%22j%22%7D%5B5m%5D)%20%2B%20b&start=1&end=2.5");
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            body,
            serde_json::json!({"status": "success", "data": [{"seriesLabels": {"__name__": "a", "job": "j"}, "exemplars": [{"labels": {"trace_id": "t"}, "value": "0.5", "timestamp": 1.5}]}]})
        );
        assert_eq!(fake.0.lock().unwrap().pop().unwrap(), (1000, 2500, vec![vec!["__name__=a".to_owned(), "job=j".to_owned()], vec!["__name__=b".to_owned()]]));

        let form = "query=up&start=2020-09-14T15:22:25.479Z";
        let post = format!(
            "POST /api/v1/query_exemplars HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
            form.len()
        );
        assert_eq!(serve_one_with(source(), &post).0, 200);
        let (start, end, _) = fake.0.lock().unwrap().pop().unwrap();
        assert_eq!((start, end), (1_600_096_945_479, exemplars_max_time()), "a missing end is Prometheus's maxTime");

        // No selector: Prometheus answers 204 without a body and asks no
        // storage.
        assert_eq!(get("/api/v1/query_exemplars?query=1%2B1"), (204, serde_json::Value::Null));
        assert!(fake.0.lock().unwrap().is_empty());

        let bad = |error: &str| serde_json::json!({"status": "error", "errorType": "bad_data", "error": error});
        assert_eq!(get("/api/v1/query_exemplars?query=sum(up"), (400, bad("1:7: parse error: unclosed left parenthesis")));
        assert_eq!(get("/api/v1/query_exemplars"), (400, bad("unknown position: parse error: no expression found in input")));
        assert_eq!(
            get("/api/v1/query_exemplars?query=up&start=yesterday"),
            (400, bad("invalid parameter \"start\": invalid time value for 'start': cannot parse \"yesterday\" to a valid timestamp"))
        );
        assert_eq!(get("/api/v1/query_exemplars?query=up&start=10&end=5"), (400, bad("end timestamp must not be before start timestamp")));

        // Without exemplar storage: nothing found, as Prometheus with the
        // feature off.
        assert_eq!(
            serve_one("GET /api/v1/query_exemplars?query=up HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
            (200, serde_json::json!({"status": "success", "data": []}))
        );
    }

    fn exemplars_max_time() -> i64 {
        9_223_309_901_257_974_999
    }
}
