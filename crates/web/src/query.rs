//! `/api/v1/query` and `/api/v1/query_range`, GET and form POST, in
//! Prometheus's JSON: values as strings (`"NaN"`, `"+Inf"`), timestamps as
//! seconds with at most three decimals, errors with `errorType` and the
//! HTTP status Prometheus uses (400 `bad_data`, 422 `execution`, 503
//! `unavailable`/`timeout`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use promql::engine::{Control, Engine, QueryError, QueryResult, Value, format_value};

use crate::{AppState, Params, bad_data, error};

/// What the query API needs: the engine and the storage it reads.
#[derive(Clone)]
pub struct QueryHandle {
    pub engine: Engine,
    pub queryable: Arc<dyn storage::Queryable>,
    /// `--query.timeout`.
    pub timeout: std::time::Duration,
    /// `--query.lookback-delta`, in milliseconds, for `/federate`.
    pub lookback_delta_ms: i64,
    /// `--query.max-concurrency`: queries beyond it wait their turn.
    pub limiter: Arc<tokio::sync::Semaphore>,
    /// `--enable-feature=promql-per-step-stats`: `stats=all` adds the
    /// samples of every step.
    pub per_step_stats: bool,
}

/// Raises the query's cancel flag when the request is dropped before the
/// answer (the client went away), so evaluation stops at its next check.
struct CancelOnDrop(Option<Arc<std::sync::atomic::AtomicBool>>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(flag) = self.0.take() {
            flag.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

/// Runs one evaluation off the async workers, after waiting for a
/// concurrency slot, under the timeout, canceled if the client leaves.
async fn run_query(
    h: QueryHandle,
    eval: impl FnOnce(&Engine, &dyn storage::Queryable, &Control) -> Result<QueryResult, QueryError> + Send + 'static,
) -> Result<Result<QueryResult, QueryError>, tokio::task::JoinError> {
    let queued = std::time::Instant::now();
    let _permit = h.limiter.clone().acquire_owned().await;
    let queue_time = queued.elapsed();
    let ctl = Control { deadline: Some(std::time::Instant::now() + h.timeout), canceled: Arc::default() };
    let mut guard = CancelOnDrop(Some(ctl.canceled.clone()));
    let result = tokio::task::spawn_blocking(move || eval(&h.engine, h.queryable.as_ref(), &ctl)).await;
    guard.0 = None;
    result.map(|r| {
        r.map(|mut r| {
            r.stats.queue = queue_time;
            r
        })
    })
}

/// How much of the query's statistics the `stats` parameter asks for:
/// none, the totals, or (`all`) the samples of every step as well.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StatsLevel {
    None,
    Totals,
    All,
}

impl StatsLevel {
    fn from_params(p: &BTreeMap<String, String>, per_step: bool) -> StatsLevel {
        match p.get("stats").map(String::as_str) {
            None | Some("") => StatsLevel::None,
            Some("all") if per_step => StatsLevel::All,
            Some(_) => StatsLevel::Totals,
        }
    }
}

impl std::fmt::Debug for QueryHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryHandle").field("engine", &self.engine).finish_non_exhaustive()
    }
}

/// Prometheus's limit on points per series in a range query.
const MAX_POINTS: i64 = 11_000;

/// A time parameter: Unix seconds (possibly fractional) or RFC 3339.
pub(crate) fn parse_time(s: &str) -> Option<i64> {
    if let Ok(f) = s.parse::<f64>() {
        if f.is_finite() {
            return Some((f * 1000.0).round() as i64);
        }
        return None;
    }
    model::time::parse_rfc3339_ms(s)
}

/// A step or timeout: a Prometheus duration or float seconds, in ms.
fn parse_duration(s: &str) -> Option<i64> {
    if let Ok(f) = s.parse::<f64>() {
        return (f.is_finite() && f >= 0.0).then(|| (f * 1000.0).round() as i64);
    }
    promql::parser::parse_duration(s)
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

pub(crate) async fn query(State(s): State<Arc<AppState>>, p: Params) -> Response {
    instant(s, p.first_values()).await
}

pub(crate) async fn query_range(State(s): State<Arc<AppState>>, p: Params) -> Response {
    range(s, p.first_values()).await
}

/// `/api/v1/format_query`: the query as Prometheus's prettifier lays it
/// out. It is only parsed, never run, but with the engine's rules (an
/// experimental function is refused unless enabled) so that a query that
/// formats is one `/api/v1/query` accepts.
pub(crate) async fn format_query(State(s): State<Arc<AppState>>, p: Params) -> Response {
    let p = p.first_values();
    // Prometheus reads a missing parameter as an empty query, whose parse
    // error has no position to give.
    let Some(query) = p.get("query").filter(|q| !q.is_empty()) else {
        return bad_data(NO_QUERY);
    };
    let parsed = match &s.handles.query {
        Some(h) => h.engine.parse(query),
        None => Engine::default().parse(query),
    };
    match parsed {
        Ok(expr) => crate::api(promql::parser::prettify(&expr)),
        Err(e) => bad_data(&format!("invalid parameter \"query\": {e}")),
    }
}

const NO_QUERY: &str = "invalid parameter \"query\": unknown position: parse error: no expression found in input";

/// The request's `timeout`, capped by `--query.timeout`.
fn request_timeout(h: &mut QueryHandle, p: &BTreeMap<String, String>) -> Result<(), String> {
    if let Some(t) = p.get("timeout").filter(|t| !t.is_empty()) {
        let Some(ms) = parse_duration(t) else { return Err(format!("invalid parameter \"timeout\": cannot parse {t:?} to a valid duration")) };
        h.timeout = h.timeout.min(std::time::Duration::from_millis(ms.max(0) as u64));
    }
    Ok(())
}

async fn instant(s: Arc<AppState>, p: BTreeMap<String, String>) -> Response {
    let Some(mut h) = s.handles.query.clone() else { return error(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "query engine not available") };
    if let Err(m) = request_timeout(&mut h, &p) {
        return bad_data(&m);
    }
    let t = match p.get("time").filter(|t| !t.is_empty()) {
        None => now_ms(),
        Some(t) => match parse_time(t) {
            Some(t) => t,
            None => return bad_data(&format!("invalid parameter \"time\": cannot parse {t:?} to a valid timestamp")),
        },
    };
    let Some(query) = p.get("query").cloned() else {
        return bad_data(NO_QUERY);
    };
    let stats = StatsLevel::from_params(&p, h.per_step_stats);
    let result = run_query(h, move |e, q, ctl| e.instant_with(q, &query, t, ctl)).await;
    respond(result, stats)
}

async fn range(s: Arc<AppState>, p: BTreeMap<String, String>) -> Response {
    let Some(mut h) = s.handles.query.clone() else { return error(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "query engine not available") };
    if let Err(m) = request_timeout(&mut h, &p) {
        return bad_data(&m);
    }
    let get_time = |name: &str| -> Result<i64, String> {
        let v = p.get(name).map(String::as_str).unwrap_or_default();
        parse_time(v).ok_or_else(|| format!("invalid parameter {name:?}: cannot parse {v:?} to a valid timestamp"))
    };
    let (start, end) = match (get_time("start"), get_time("end")) {
        (Ok(s), Ok(e)) => (s, e),
        (Err(m), _) | (_, Err(m)) => return bad_data(&m),
    };
    if end < start {
        return bad_data("invalid parameter \"end\": end timestamp must not be before start time");
    }
    let step_text = p.get("step").map(String::as_str).unwrap_or_default();
    let Some(step) = parse_duration(step_text) else {
        return bad_data(&format!("invalid parameter \"step\": cannot parse {step_text:?} to a valid duration"));
    };
    if step <= 0 {
        return bad_data("invalid parameter \"step\": zero or negative query resolution step widths are not accepted. Try a positive integer");
    }
    if (end - start) / step > MAX_POINTS {
        return bad_data("exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)");
    }
    let Some(query) = p.get("query").cloned() else {
        return bad_data(NO_QUERY);
    };
    let stats = StatsLevel::from_params(&p, h.per_step_stats);
    let result = run_query(h, move |e, q, ctl| e.range_with(q, &query, start, end, step, ctl)).await;
    respond(result, stats)
}

fn respond(result: Result<Result<QueryResult, QueryError>, tokio::task::JoinError>, stats: StatsLevel) -> Response {
    match result {
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, "internal", &e.to_string()),
        Ok(Err(QueryError::Parse(e))) => bad_data(&format!("invalid parameter \"query\": {e}")),
        Ok(Err(QueryError::BadRequest(e))) => bad_data(&e),
        Ok(Err(QueryError::TooManySamples)) => error(StatusCode::UNPROCESSABLE_ENTITY, "execution", &QueryError::TooManySamples.to_string()),
        Ok(Err(QueryError::Execution(e))) => error(StatusCode::UNPROCESSABLE_ENTITY, "execution", &e),
        Ok(Err(QueryError::Storage(e))) => error(StatusCode::UNPROCESSABLE_ENTITY, "execution", &e),
        Ok(Err(e @ QueryError::Timeout)) => error(StatusCode::SERVICE_UNAVAILABLE, "timeout", &e.to_string()),
        // Nobody is listening; Prometheus answers 499 (client closed request).
        Ok(Err(e @ QueryError::Canceled)) => error(StatusCode::from_u16(499).unwrap_or(StatusCode::SERVICE_UNAVAILABLE), "canceled", &e.to_string()),
        Ok(Ok(r)) => ([(header::CONTENT_TYPE, "application/json")], render(&r, stats)).into_response(),
    }
}

/// The success body, written by hand: Prometheus's timestamps are JSON
/// numbers with exactly the millisecond digits needed, which a float
/// serializer does not reproduce.
pub(crate) fn render(r: &QueryResult, stats: StatsLevel) -> String {
    let mut out = String::with_capacity(256);
    out.push_str(r#"{"status":"success","data":{"resultType":""#);
    out.push_str(r.value.type_name());
    out.push_str(r#"","result":"#);
    match &r.value {
        Value::Scalar { t, v } => point(&mut out, *t, &format_value(*v)),
        Value::String { t, v } => {
            let quoted = serde_json::to_string(v).unwrap_or_else(|_| "\"\"".into());
            out.push('[');
            timestamp(&mut out, *t);
            out.push(',');
            out.push_str(&quoted);
            out.push(']');
        }
        Value::Vector(samples) => {
            out.push('[');
            for (i, s) in samples.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(r#"{"metric":"#);
                metric(&mut out, &s.metric);
                out.push_str(r#","value":"#);
                point(&mut out, s.t, &format_value(s.v));
                out.push('}');
            }
            out.push(']');
        }
        Value::Matrix(series) => {
            out.push('[');
            for (i, s) in series.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(r#"{"metric":"#);
                metric(&mut out, &s.metric);
                out.push_str(r#","values":["#);
                for (j, (t, v)) in s.points.iter().enumerate() {
                    if j > 0 {
                        out.push(',');
                    }
                    point(&mut out, *t, &format_value(*v));
                }
                out.push_str("]}");
            }
            out.push(']');
        }
    }
    if stats != StatsLevel::None {
        render_stats(&mut out, &r.stats, stats == StatsLevel::All);
    }
    out.push('}');
    if !r.warnings.is_empty() {
        out.push_str(r#","warnings":"#);
        out.push_str(&serde_json::to_string(&r.warnings).unwrap_or_else(|_| "[]".into()));
    }
    if !r.infos.is_empty() {
        out.push_str(r#","infos":"#);
        out.push_str(&serde_json::to_string(&r.infos).unwrap_or_else(|_| "[]".into()));
    }
    out.push('}');
    out
}

/// `"stats"` inside `data`, with Prometheus's keys in its order (times in
/// seconds).
fn render_stats(out: &mut String, s: &promql::engine::QueryStats, per_step: bool) {
    let eval_total = s.prepare + s.inner_eval + s.result_sort;
    let _ = write!(
        out,
        r#","stats":{{"timings":{{"evalTotalTime":{},"resultSortTime":{},"queryPreparationTime":{},"innerEvalTime":{},"execQueueTime":{},"execTotalTime":{}}},"samples":{{"#,
        eval_total.as_secs_f64(),
        s.result_sort.as_secs_f64(),
        s.prepare.as_secs_f64(),
        s.inner_eval.as_secs_f64(),
        s.queue.as_secs_f64(),
        (s.queue + eval_total).as_secs_f64(),
    );
    if per_step {
        out.push_str(r#""totalQueryableSamplesPerStep":["#);
        for (i, (t, n)) in s.per_step.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push('[');
            timestamp(out, *t);
            let _ = write!(out, ",{n}]");
        }
        out.push_str("],");
    }
    let _ = write!(out, r#""totalQueryableSamples":{},"peakSamples":{}}}}}"#, s.total_samples, s.peak_samples);
}

pub(crate) fn metric(out: &mut String, l: &model::Labels) {
    let map: BTreeMap<&str, &str> = l.iter().map(|l| (l.name, l.value)).collect();
    out.push_str(&serde_json::to_string(&map).unwrap_or_else(|_| "{}".into()));
}

fn point(out: &mut String, t: i64, v: &str) {
    out.push('[');
    timestamp(out, t);
    out.push_str(",\"");
    out.push_str(v);
    out.push_str("\"]");
}

/// Milliseconds as seconds: `1435781451.781`, `1435781451`, `1.050`.
pub(crate) fn timestamp(out: &mut String, t: i64) {
    let (sign, t) = if t < 0 { ("-", -t) } else { ("", t) };
    let _ = write!(out, "{sign}{}", t / 1000);
    let frac = t % 1000;
    if frac != 0 {
        let _ = write!(out, ".{frac:03}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use promql::engine::{Sample, Series};

    #[test]
    fn times_and_durations() {
        assert_eq!(parse_time("1435781451.781"), Some(1_435_781_451_781));
        assert_eq!(parse_time("2015-07-01T20:10:51.781Z"), Some(1_435_781_451_781));
        assert_eq!(parse_time("2015-07-01T22:10:51+02:00"), Some(1_435_781_451_000));
        assert_eq!(parse_time("yesterday"), None);
        assert_eq!(parse_duration("15s"), Some(15_000));
        assert_eq!(parse_duration("0.5"), Some(500));
        assert_eq!(parse_duration("1h30m"), Some(5_400_000));
    }

    #[test]
    fn json_as_prometheus_writes_it() {
        let l = model::Labels::from_pairs([("__name__", "up"), ("job", "x")]);
        let r = QueryResult {
            value: Value::Vector(vec![Sample { metric: l.clone(), t: 1_435_781_451_781, v: 1.0 }]),
            warnings: vec![],
            infos: vec![],
            stats: Default::default(),
        };
        assert_eq!(
            render(&r, StatsLevel::None),
            r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"up","job":"x"},"value":[1435781451.781,"1"]}]}}"#
        );
        let r = QueryResult { value: Value::Scalar { t: 1_050, v: f64::NAN }, warnings: vec![], infos: vec![], stats: Default::default() };
        assert_eq!(render(&r, StatsLevel::None), r#"{"status":"success","data":{"resultType":"scalar","result":[1.050,"NaN"]}}"#);
        let r = QueryResult {
            value: Value::Matrix(vec![Series { metric: l, points: vec![(1000, f64::INFINITY), (2000, 0.25)] }]),
            warnings: vec!["careful".into()],
            infos: vec![],
            stats: Default::default(),
        };
        assert_eq!(
            render(&r, StatsLevel::None),
            r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"__name__":"up","job":"x"},"values":[[1,"+Inf"],[2,"0.25"]]}]},"warnings":["careful"]}"#
        );
    }
}
