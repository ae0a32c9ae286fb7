//! The TSDB's status and admin endpoints: `GET /api/v1/status/tsdb` and,
//! with `--web.enable-admin-api`, `POST|PUT /api/v1/admin/tsdb/{delete_series,
//! clean_tombstones,snapshot}`, with Prometheus's parameters, status codes
//! and error texts.
//!
//! The web layer does not know the TSDB: it reaches it through
//! [`TsdbAdmin`], which the binary implements over its storage.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use model::Matcher;
use serde::Serialize;

use crate::exemplars::{MAX_TIME, MIN_TIME};
use crate::query::parse_time;
use crate::{ApiError, AppState, Params, api};

/// What the admin and status endpoints ask of the TSDB. Calls may block
/// (they read the whole index or write files) and are made off the async
/// workers. `Debug` so that [`crate::Handles`] stays printable.
pub trait TsdbAdmin: Send + Sync + std::fmt::Debug {
    /// The head's statistics with at most `limit` entries per list.
    fn status(&self, limit: usize) -> Result<TsdbStatus, TsdbAdminError>;
    /// Deletes, within `[start, end]`, the samples of every series that
    /// matches all matchers of at least one set.
    fn delete_series(&self, matcher_sets: &[Vec<Matcher>], start: i64, end: i64) -> Result<(), TsdbAdminError>;
    /// Rewrites blocks to drop what tombstones mark as deleted.
    fn clean_tombstones(&self) -> Result<(), TsdbAdminError>;
    /// Snapshots the data into `<data>/snapshots/<name>` (the head too
    /// unless `skip_head`) and returns `<name>`.
    fn snapshot(&self, skip_head: bool) -> Result<String, TsdbAdminError>;
    /// WAL corruptions found (and repaired) since start.
    fn wal_corruptions(&self) -> u64;
}

/// Why a [`TsdbAdmin`] call failed.
#[derive(Debug, thiserror::Error)]
pub enum TsdbAdminError {
    /// Storage is still opening (Prometheus's `tsdb.ErrNotReady`).
    #[error("TSDB not ready")]
    NotReady,
    /// Anything else; the text is shown to the client as it is.
    #[error("{0}")]
    Failed(String),
}

/// `/api/v1/status/tsdb`'s data, in Prometheus's JSON shape and key order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TsdbStatus {
    pub head_stats: HeadStats,
    pub series_count_by_metric_name: Vec<Stat>,
    pub label_value_count_by_label_name: Vec<Stat>,
    pub memory_in_bytes_by_label_name: Vec<Stat>,
    pub series_count_by_label_value_pair: Vec<Stat>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HeadStats {
    pub num_series: u64,
    pub num_label_pairs: u64,
    pub chunk_count: i64,
    /// Milliseconds; an empty head shows `i64::MAX` and `i64::MIN`.
    pub min_time: i64,
    pub max_time: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stat {
    pub name: String,
    pub value: u64,
}

/// Prometheus's default number of entries per list.
const DEFAULT_STATUS_LIMIT: usize = 10;

fn agent_refusal(s: &AppState) -> Option<Response> {
    s.opts.agent.then(|| ApiError(StatusCode::UNPROCESSABLE_ENTITY, "execution", "unavailable with Prometheus Agent".into()).into_response())
}

/// Answered before any parameter is read, as Prometheus does.
fn admin_refusal(s: &AppState) -> Option<Response> {
    agent_refusal(s).or_else(|| {
        // Prometheus's status for its "unavailable" error type is 500,
        // not 503: it has no case for it and falls to the default.
        (!s.opts.enable_admin_api).then(|| ApiError(StatusCode::INTERNAL_SERVER_ERROR, "unavailable", "admin APIs disabled".into()).into_response())
    })
}

fn admin_handle(s: &AppState) -> Result<Arc<dyn TsdbAdmin>, ApiError> {
    s.handles.tsdb.clone().ok_or_else(|| ApiError(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "storage not available".into()))
}

impl From<TsdbAdminError> for ApiError {
    fn from(e: TsdbAdminError) -> ApiError {
        match e {
            TsdbAdminError::NotReady => ApiError(StatusCode::SERVICE_UNAVAILABLE, "unavailable", e.to_string()),
            TsdbAdminError::Failed(m) => ApiError(StatusCode::INTERNAL_SERVER_ERROR, "internal", m),
        }
    }
}

/// Runs a [`TsdbAdmin`] call off the async workers.
async fn call<T: Send + 'static>(
    admin: Arc<dyn TsdbAdmin>,
    f: impl FnOnce(&dyn TsdbAdmin) -> Result<T, TsdbAdminError> + Send + 'static,
) -> Result<T, ApiError> {
    match tokio::task::spawn_blocking(move || f(admin.as_ref())).await {
        Ok(r) => r.map_err(ApiError::from),
        Err(e) => Err(ApiError(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())),
    }
}

fn time_param(form: &Params, name: &str, default: i64) -> Result<i64, ApiError> {
    match form.value(name) {
        "" => Ok(default),
        v => parse_time(v).ok_or_else(|| {
            ApiError::bad_data(&format!("invalid parameter {name:?}: invalid time value for '{name}': cannot parse {v:?} to a valid timestamp"))
        }),
    }
}

/// Go's `strconv.ParseBool`.
fn parse_go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

pub(crate) async fn status_tsdb(State(s): State<Arc<AppState>>, form: Params) -> Response {
    if let Some(r) = agent_refusal(&s) {
        return r;
    }
    // `limit` is Prometheus 3.x's; 2.42 ignores it and shows 10.
    let limit = match form.value("limit") {
        "" => DEFAULT_STATUS_LIMIT,
        l => match l.parse::<i64>() {
            Ok(n) if n >= 1 => usize::try_from(n).unwrap_or(usize::MAX),
            _ => return ApiError::bad_data("limit must be a positive number").into_response(),
        },
    };
    let admin = match admin_handle(&s) {
        Ok(a) => a,
        Err(e) => return e.into_response(),
    };
    match call(admin, move |a| a.status(limit)).await {
        Ok(status) => api(status),
        Err(e) => e.into_response(),
    }
}

pub(crate) async fn delete_series(State(s): State<Arc<AppState>>, form: Params) -> Response {
    if let Some(r) = admin_refusal(&s) {
        return r;
    }
    let selectors: Vec<&str> = form.0.iter().filter(|(k, _)| k == "match[]").map(|(_, v)| v.as_str()).collect();
    if selectors.is_empty() {
        return ApiError::bad_data("no match[] parameter provided").into_response();
    }
    let (start, end) = match (time_param(&form, "start", MIN_TIME), time_param(&form, "end", MAX_TIME)) {
        (Ok(s), Ok(e)) => (s, e),
        (Err(e), _) | (_, Err(e)) => return e.into_response(),
    };
    // Every selector is parsed before anything is deleted, where
    // Prometheus deletes selector by selector and may stop half-way: a
    // request it refuses deletes nothing here. No end-before-start check,
    // as in Prometheus.
    let mut sets = Vec::with_capacity(selectors.len());
    for sel in selectors {
        match promql::parser::parse_metric_selector(sel) {
            Ok(ms) => sets.push(ms),
            Err(e) => return ApiError::bad_data(&format!("invalid parameter \"match[]\": {e}")).into_response(),
        }
    }
    let admin = match admin_handle(&s) {
        Ok(a) => a,
        Err(e) => return e.into_response(),
    };
    match call(admin, move |a| a.delete_series(&sets, start, end)).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    }
}

pub(crate) async fn clean_tombstones(State(s): State<Arc<AppState>>) -> Response {
    if let Some(r) = admin_refusal(&s) {
        return r;
    }
    let admin = match admin_handle(&s) {
        Ok(a) => a,
        Err(e) => return e.into_response(),
    };
    match call(admin, |a| a.clean_tombstones()).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    }
}

pub(crate) async fn snapshot(State(s): State<Arc<AppState>>, form: Params) -> Response {
    if let Some(r) = admin_refusal(&s) {
        return r;
    }
    let skip_head = match form.value("skip_head") {
        "" => false,
        v => match parse_go_bool(v) {
            Some(b) => b,
            None => {
                let msg = format!("invalid parameter \"skip_head\": unable to parse boolean: strconv.ParseBool: parsing {v:?}: invalid syntax");
                return ApiError::bad_data(&msg).into_response();
            }
        },
    };
    let admin = match admin_handle(&s) {
        Ok(a) => a,
        Err(e) => return e.into_response(),
    };
    #[derive(Serialize)]
    struct Data {
        name: String,
    }
    match call(admin, move |a| a.snapshot(skip_head)).await {
        Ok(name) => api(Data { name }),
        Err(e) => e.into_response(),
    }
}

/// Prometheus's router answers other methods on these paths so.
pub(crate) async fn admin_method_not_allowed() -> Response {
    (StatusCode::METHOD_NOT_ALLOWED, [(header::ALLOW, "OPTIONS, POST, PUT")], "Method Not Allowed\n").into_response()
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use serde_json::{Value, json};

    use super::*;
    use crate::tests::serve_raw;

    /// Records every call as text and answers from its settings.
    #[derive(Debug, Default)]
    struct FakeAdmin {
        calls: Mutex<Vec<String>>,
        fail: Option<&'static str>,
        not_ready: bool,
    }

    impl FakeAdmin {
        fn answer<T>(&self, call: String, ok: T) -> Result<T, TsdbAdminError> {
            self.calls.lock().unwrap().push(call);
            if self.not_ready {
                return Err(TsdbAdminError::NotReady);
            }
            match self.fail {
                Some(m) => Err(TsdbAdminError::Failed(m.into())),
                None => Ok(ok),
            }
        }

        fn calls(&self) -> Vec<String> {
            std::mem::take(&mut self.calls.lock().unwrap())
        }
    }

    impl TsdbAdmin for FakeAdmin {
        fn wal_corruptions(&self) -> u64 {
            0
        }

        fn status(&self, limit: usize) -> Result<TsdbStatus, TsdbAdminError> {
            let status = TsdbStatus {
                head_stats: HeadStats { num_series: 2, num_label_pairs: 3, chunk_count: 4, min_time: 1000, max_time: 2000 },
                series_count_by_metric_name: vec![Stat { name: "up".into(), value: 2 }],
                ..TsdbStatus::default()
            };
            self.answer(format!("status {limit}"), status)
        }

        fn delete_series(&self, matcher_sets: &[Vec<Matcher>], start: i64, end: i64) -> Result<(), TsdbAdminError> {
            let sets: Vec<String> =
                matcher_sets.iter().map(|ms| ms.iter().map(|m| format!("{}{}{:?}", m.name, m.kind.as_str(), m.value)).collect::<Vec<_>>().join(",")).collect();
            self.answer(format!("delete [{}] {start} {end}", sets.join(" | ")), ())
        }

        fn clean_tombstones(&self) -> Result<(), TsdbAdminError> {
            self.answer("clean_tombstones".into(), ())
        }

        fn snapshot(&self, skip_head: bool) -> Result<String, TsdbAdminError> {
            self.answer(format!("snapshot skip_head={skip_head}"), "20171210T211224Z-2be650b6d019eb54".into())
        }
    }

    struct Server {
        admin: Arc<FakeAdmin>,
        enable_admin_api: bool,
        agent: bool,
        wired: bool,
    }

    impl Server {
        fn new(admin: FakeAdmin) -> Server {
            Server { admin: Arc::new(admin), enable_admin_api: true, agent: false, wired: true }
        }

        /// One request; the status and the body as JSON (null when empty).
        fn send(&self, method: &str, path: &str, form_body: Option<&str>) -> (u16, Value) {
            let (status, _, body) = self.send_raw(method, path, form_body);
            let json = if body.is_empty() { Value::Null } else { serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}")) };
            (status, json)
        }

        fn send_raw(&self, method: &str, path: &str, form_body: Option<&str>) -> (u16, String, String) {
            let body_headers = match form_body {
                Some(b) => format!("Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n", b.len()),
                None => String::new(),
            };
            let request = format!("{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{body_headers}\r\n{}", form_body.unwrap_or_default());
            let admin: Arc<dyn TsdbAdmin> = self.admin.clone();
            let tsdb = self.wired.then_some(admin);
            serve_raw(
                |o, h| {
                    o.enable_admin_api = self.enable_admin_api;
                    o.agent = self.agent;
                    h.tsdb = tsdb;
                },
                &request,
            )
        }
    }

    fn err(kind: &str, msg: &str) -> Value {
        json!({"status": "error", "errorType": kind, "error": msg})
    }

    const ADMIN_PATHS: [&str; 3] = ["/api/v1/admin/tsdb/delete_series?match[]=up", "/api/v1/admin/tsdb/clean_tombstones", "/api/v1/admin/tsdb/snapshot"];

    #[test]
    fn admin_endpoints_refuse_unless_enabled() {
        let mut s = Server::new(FakeAdmin::default());
        s.enable_admin_api = false;
        for path in ADMIN_PATHS {
            for method in ["POST", "PUT"] {
                // The status and body Prometheus 2.42 answers.
                assert_eq!(s.send(method, path, None), (500, err("unavailable", "admin APIs disabled")), "{method} {path}");
            }
        }
        assert!(s.admin.calls().is_empty());
        // Not an admin endpoint.
        assert_eq!(s.send("GET", "/api/v1/status/tsdb", None).0, 200);
    }

    #[test]
    fn agent_mode_refuses_before_anything_else() {
        let mut s = Server::new(FakeAdmin::default());
        s.agent = true;
        let agent = (422, err("execution", "unavailable with Prometheus Agent"));
        assert_eq!(s.send("GET", "/api/v1/status/tsdb?limit=x", None), agent);
        s.enable_admin_api = false;
        for path in ADMIN_PATHS {
            assert_eq!(s.send("POST", path, None), agent, "{path}");
        }
        assert!(s.admin.calls().is_empty());
    }

    #[test]
    fn delete_series_parses_like_prometheus() {
        let s = Server::new(FakeAdmin::default());
        let path = "/api/v1/admin/tsdb/delete_series";
        // A query string without a form content type, as `curl -X POST`.
        assert_eq!(s.send("POST", &format!("{path}?match[]=up"), None), (204, Value::Null));
        assert_eq!(s.admin.calls(), [format!("delete [__name__=\"up\"] {MIN_TIME} {MAX_TIME}")]);

        let body = "match[]=up%7Bjob%3D~%22a.*%22%7D&match[]=%7B__name__%3D%22x%22%7D&start=1.5&end=2020-01-01T00:00:00Z";
        assert_eq!(s.send("PUT", path, Some(body)), (204, Value::Null));
        assert_eq!(s.admin.calls(), ["delete [__name__=\"up\",job=~\"a.*\" | __name__=\"x\"] 1500 1577836800000"]);

        // The body's values come first, then the query string's; an end
        // before the start is not refused, and an empty selector is a
        // selector.
        assert_eq!(s.send("POST", &format!("{path}?start=5&match[]=%7B%7D"), Some("start=10&end=3")), (204, Value::Null));
        assert_eq!(s.admin.calls(), ["delete [] 10000 3000"]);

        for (query, msg) in [
            ("", "no match[] parameter provided"),
            ("?match=up", "no match[] parameter provided"),
            ("?match[]=up%7B", "invalid parameter \"match[]\": 1:4: parse error: "),
            ("?match[]=up&match[]=1%2B1", "invalid parameter \"match[]\": "),
            ("?match[]=up&start=abc", "invalid parameter \"start\": invalid time value for 'start': cannot parse \"abc\" to a valid timestamp"),
            ("?match[]=up&end=abc", "invalid parameter \"end\": invalid time value for 'end': cannot parse \"abc\" to a valid timestamp"),
        ] {
            let (status, body) = s.send("POST", &format!("{path}{query}"), None);
            assert_eq!((status, &body["errorType"]), (400, &json!("bad_data")), "{query}");
            let got = body["error"].as_str().unwrap();
            assert!(got.starts_with(msg), "{query}: {got}");
        }
        assert!(s.admin.calls().is_empty(), "a refused request deletes nothing");

        let failing = Server::new(FakeAdmin { fail: Some("disk full"), ..FakeAdmin::default() });
        assert_eq!(failing.send("POST", &format!("{path}?match[]=up"), None), (500, err("internal", "disk full")));
    }

    #[test]
    fn clean_tombstones_answers_no_content() {
        let s = Server::new(FakeAdmin::default());
        assert_eq!(s.send("POST", "/api/v1/admin/tsdb/clean_tombstones", None), (204, Value::Null));
        assert_eq!(s.send("PUT", "/api/v1/admin/tsdb/clean_tombstones", None), (204, Value::Null));
        assert_eq!(s.admin.calls(), ["clean_tombstones", "clean_tombstones"]);
        let not_ready = Server::new(FakeAdmin { not_ready: true, ..FakeAdmin::default() });
        assert_eq!(not_ready.send("POST", "/api/v1/admin/tsdb/clean_tombstones", None), (503, err("unavailable", "TSDB not ready")));
    }

    #[test]
    fn snapshot_names_the_snapshot() {
        let s = Server::new(FakeAdmin::default());
        let path = "/api/v1/admin/tsdb/snapshot";
        let ok = (200, json!({"status": "success", "data": {"name": "20171210T211224Z-2be650b6d019eb54"}}));
        assert_eq!(s.send("POST", path, None), ok);
        assert_eq!(s.send("PUT", &format!("{path}?skip_head=T"), None), ok);
        assert_eq!(s.send("POST", path, Some("skip_head=0")), ok);
        assert_eq!(s.send("POST", &format!("{path}?skip_head="), None), ok, "empty is unset");
        assert_eq!(s.admin.calls(), ["snapshot skip_head=false", "snapshot skip_head=true", "snapshot skip_head=false", "snapshot skip_head=false"]);
        let msg = "invalid parameter \"skip_head\": unable to parse boolean: strconv.ParseBool: parsing \"maybe\": invalid syntax";
        assert_eq!(s.send("POST", &format!("{path}?skip_head=maybe"), None), (400, err("bad_data", msg)));
        assert!(s.admin.calls().is_empty());

        let failing = Server::new(FakeAdmin { fail: Some("create snapshot: no space left on device"), ..FakeAdmin::default() });
        assert_eq!(failing.send("POST", path, None), (500, err("internal", "create snapshot: no space left on device")));
    }

    #[test]
    fn admin_paths_allow_only_post_and_put() {
        let s = Server::new(FakeAdmin::default());
        let (status, head, body) = s.send_raw("GET", "/api/v1/admin/tsdb/snapshot", None);
        assert_eq!((status, body.as_str()), (405, "Method Not Allowed\n"));
        assert!(head.to_ascii_lowercase().contains("allow: options, post, put"), "{head}");
        assert!(s.admin.calls().is_empty());
    }

    #[test]
    fn status_tsdb_in_prometheus_json() {
        let s = Server::new(FakeAdmin::default());
        let (status, _, body) = s.send_raw("GET", "/api/v1/status/tsdb", None);
        assert_eq!(status, 200);
        // Byte for byte: key order matters to clients that diff outputs.
        assert_eq!(
            body,
            r#"{"status":"success","data":{"headStats":{"numSeries":2,"numLabelPairs":3,"chunkCount":4,"minTime":1000,"maxTime":2000},"seriesCountByMetricName":[{"name":"up","value":2}],"labelValueCountByLabelName":[],"memoryInBytesByLabelName":[],"seriesCountByLabelValuePair":[]}}"#
        );
        assert_eq!(s.send("GET", "/api/v1/status/tsdb?limit=3", None).0, 200);
        assert_eq!(s.admin.calls(), ["status 10", "status 3"]);
        for bad in ["0", "-1", "x", "1.5"] {
            assert_eq!(s.send("GET", &format!("/api/v1/status/tsdb?limit={bad}"), None), (400, err("bad_data", "limit must be a positive number")), "{bad}");
        }
        assert!(s.admin.calls().is_empty());

        let mut unwired = Server::new(FakeAdmin::default());
        unwired.wired = false;
        assert_eq!(unwired.send("GET", "/api/v1/status/tsdb", None), (503, err("unavailable", "storage not available")));
    }
}
