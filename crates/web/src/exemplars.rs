//! `/api/v1/query_exemplars`, GET and form POST: the exemplars, within
//! `[start, end]`, of every series that a query's selectors select, in
//! Prometheus's JSON (values as strings, timestamps as seconds with the
//! millisecond digits needed).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use promql::engine::{QueryError, format_value};
use storage::ExemplarSeries;

use crate::query::{metric, parse_time, timestamp};
use crate::{AppState, bad_data, error};

/// The storage `/api/v1/query_exemplars` reads.
#[derive(Clone)]
pub struct ExemplarSource(pub Arc<dyn storage::ExemplarQueryable>);

impl std::fmt::Debug for ExemplarSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ExemplarSource")
    }
}

/// Prometheus's bounds for a missing `start` or `end` (`minTime` and
/// `maxTime` of its API, in milliseconds): far enough to cover everything.
pub(crate) const MIN_TIME: i64 = -9_223_309_901_257_974_000;
pub(crate) const MAX_TIME: i64 = 9_223_309_901_257_974_999;

/// Prometheus parses the query with the plain parser and returns its error
/// unadorned; an empty query has no position to give.
const NO_QUERY: &str = "unknown position: parse error: no expression found in input";

fn time_param(p: &BTreeMap<String, String>, name: &str, default: i64) -> Result<i64, String> {
    match p.get(name).filter(|v| !v.is_empty()) {
        None => Ok(default),
        Some(v) => parse_time(v).ok_or_else(|| format!("invalid parameter {name:?}: invalid time value for '{name}': cannot parse {v:?} to a valid timestamp")),
    }
}

pub(crate) async fn query_exemplars(State(s): State<Arc<AppState>>, params: crate::Params) -> Response {
    let p: BTreeMap<String, String> = params.first_values();
    let (start, end) = match (time_param(&p, "start", MIN_TIME), time_param(&p, "end", MAX_TIME)) {
        (Ok(s), Ok(e)) => (s, e),
        (Err(m), _) | (_, Err(m)) => return bad_data(&m),
    };
    if end < start {
        return bad_data("end timestamp must not be before start timestamp");
    }
    let query = p.get("query").map(String::as_str).unwrap_or_default();
    if query.is_empty() {
        return bad_data(NO_QUERY);
    }
    // The engine's parse when there is one, so that an experimental
    // function is refused here exactly when /api/v1/query refuses it.
    let parsed = match &s.handles.query {
        Some(h) => h.engine.parse(query),
        None => promql::parser::parse(query).map_err(QueryError::from),
    };
    let expr = match parsed {
        Ok(e) => e,
        Err(e) => return bad_data(&e.to_string()),
    };
    let matcher_sets: Vec<Vec<model::Matcher>> = expr.selectors().into_iter().map(|vs| vs.matchers.clone()).collect();
    if matcher_sets.is_empty() {
        // Prometheus has no data to answer with and says so with a bare
        // 204, not an empty list.
        return StatusCode::NO_CONTENT.into_response();
    }
    // No exemplar storage is the same as exemplar storage turned off:
    // nothing stored, nothing found.
    let Some(ExemplarSource(queryable)) = s.handles.exemplars.clone() else { return json(render(&[])) };
    let result = tokio::task::spawn_blocking(move || queryable.exemplar_querier()?.select(start, end, &matcher_sets)).await;
    match result {
        Ok(Ok(series)) => json(render(&series)),
        Ok(Err(e)) => error(StatusCode::UNPROCESSABLE_ENTITY, "execution", &e.to_string()),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, "internal", &e.to_string()),
    }
}

/// An exemplar's value as Prometheus writes it (`jsonutil.MarshalFloat`):
/// Go's shortest form, in exponent form (`1e-07`, `1e+22`) below 1e-6 and
/// from 1e21 on. Sample values in Prometheus 2.42's query API never switch
/// to exponents; its exemplars always did.
fn exemplar_value(v: f64) -> String {
    let abs = v.abs();
    if abs == 0.0 || (1e-6..1e21).contains(&abs) || !v.is_finite() {
        return format_value(v);
    }
    // Rust's shortest exponent form (`1e-7`) in Go's spelling: a sign and
    // at least two digits.
    let e = format!("{v:e}");
    let (mantissa, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let (sign, digits) = match exp.strip_prefix('-') {
        Some(d) => ('-', d),
        None => ('+', exp),
    };
    format!("{mantissa}e{sign}{digits:0>2}")
}

fn json(body: String) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// The success body, by hand for the same reason as the query API's:
/// timestamps are written as Prometheus writes them.
fn render(series: &[ExemplarSeries]) -> String {
    let mut out = String::with_capacity(64 + series.len() * 128);
    out.push_str(r#"{"status":"success","data":["#);
    for (i, s) in series.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(r#"{"seriesLabels":"#);
        metric(&mut out, &s.labels);
        out.push_str(r#","exemplars":["#);
        for (j, e) in s.exemplars.iter().enumerate() {
            if j > 0 {
                out.push(',');
            }
            out.push_str(r#"{"labels":"#);
            metric(&mut out, &e.labels);
            out.push_str(r#","value":""#);
            out.push_str(&exemplar_value(e.value));
            out.push_str(r#"","timestamp":"#);
            timestamp(&mut out, e.ts);
            out.push('}');
        }
        out.push_str("]}");
    }
    out.push_str("]}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::{Exemplar, Labels};

    #[test]
    fn json_as_prometheus_writes_it() {
        let series = vec![ExemplarSeries {
            labels: Labels::from_pairs([("__name__", "test_exemplar_metric_total"), ("instance", "localhost:8090"), ("job", "prometheus"), ("service", "bar")]),
            exemplars: vec![
                Exemplar { labels: Labels::from_pairs([("trace_id", "EpTxMJ40fUus7aGY")]), value: 6.0, ts: 1_600_096_945_479, has_ts: true },
                Exemplar { labels: Labels::empty(), value: f64::INFINITY, ts: 1_600_096_946_050, has_ts: false },
            ],
        }];
        assert_eq!(
            render(&series),
            concat!(
                r#"{"status":"success","data":[{"seriesLabels":{"__name__":"test_exemplar_metric_total","instance":"localhost:8090","job":"prometheus","service":"bar"},"#,
                r#""exemplars":[{"labels":{"trace_id":"EpTxMJ40fUus7aGY"},"value":"6","timestamp":1600096945.479},"#,
                r#"{"labels":{},"value":"+Inf","timestamp":1600096946.050}]}]}"#
            )
        );
        assert_eq!(render(&[]), r#"{"status":"success","data":[]}"#);
    }

    #[test]
    fn values_as_go_writes_them() {
        for (v, want) in [
            (1e-7, "1e-07"),
            (-1e-7, "-1e-07"),
            (1.5e-10, "1.5e-10"),
            (1e22, "1e+22"),
            (1e21, "1e+21"),
            (1.2345e300, "1.2345e+300"),
            (1e-6, "0.000001"),
            (123_456_789_012_345_680_000.0, "123456789012345680000"),
            (0.0, "0"),
            (-0.0, "-0"),
            (2.5, "2.5"),
            (f64::NAN, "NaN"),
            (f64::NEG_INFINITY, "-Inf"),
            (f64::INFINITY, "+Inf"),
        ] {
            assert_eq!(exemplar_value(v), want, "{v:?}");
        }
    }

    #[test]
    fn times() {
        let p = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>();
        assert_eq!(time_param(&p(&[]), "start", MIN_TIME), Ok(MIN_TIME));
        assert_eq!(time_param(&p(&[("start", "")]), "start", 5), Ok(5));
        assert_eq!(time_param(&p(&[("end", "2020-09-14T15:23:25.479Z")]), "end", 0), Ok(1_600_097_005_479));
        assert_eq!(
            time_param(&p(&[("start", "x")]), "start", 0),
            Err(r#"invalid parameter "start": invalid time value for 'start': cannot parse "x" to a valid timestamp"#.to_owned())
        );
    }
}
