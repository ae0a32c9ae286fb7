//! The evaluator against the real in-memory head: selectors with lookback
//! and staleness, rate, aggregation, vector matching, subqueries and the
//! range API's matrix, with hand-computed expectations.
#![allow(clippy::unwrap_used)]

use model::Labels;
use promql::engine::{Engine, EngineOptions, Value};
use storage::{Appendable, SeriesRef};
use tsdb::head::{Head, HeadMetrics, HeadOptions, HeadStorage};

/// A series to load: its label pairs and `(t seconds, v)` samples.
type TestSeries<'a> = (&'a [(&'a str, &'a str)], &'a [(i64, f64)]);

fn storage(series: &[TestSeries<'_>]) -> HeadStorage {
    let head = Head::open(HeadOptions::test_storage(), HeadMetrics::new(None)).unwrap();
    let st = HeadStorage(head);
    let mut app = st.appender();
    for (labels, points) in series {
        let l = Labels::from_pairs(labels.iter().copied());
        for (t, v) in *points {
            app.append(SeriesRef::UNKNOWN, &l, t * 1000, *v).unwrap();
        }
    }
    app.commit().unwrap();
    st
}

fn vector(v: Value) -> Vec<(String, f64)> {
    let Value::Vector(s) = v else { panic!("not a vector: {v:?}") };
    let mut out: Vec<(String, f64)> = s.into_iter().map(|s| (s.metric.to_string(), s.v)).collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn counter(step_s: i64, n: i64, inc: f64) -> Vec<(i64, f64)> {
    (0..n).map(|i| (i * step_s, i as f64 * inc)).collect()
}

#[test]
fn selectors_lookback_and_staleness() {
    let st = storage(&[
        (&[("__name__", "m"), ("a", "1")], &[(0, 1.0), (60, 2.0)]),
        (&[("__name__", "m"), ("a", "2")], &[(0, 5.0), (30, f64::from_bits(model::value::STALE_NAN_BITS))]),
    ]);
    let e = Engine::default();
    assert_eq!(vector(e.instant(&st, "m", 60_000).unwrap().value), vec![(r#"{__name__="m", a="1"}"#.into(), 2.0)], "a stale marker ends a series");
    assert_eq!(vector(e.instant(&st, "m", 20_000).unwrap().value).len(), 2);
    assert!(vector(e.instant(&st, "m", 60_000 + 300_000).unwrap().value).is_empty(), "the lookback is left-open: 5m after the sample it is gone");
    assert_eq!(vector(e.instant(&st, "m offset 1m", 60_000).unwrap().value).len(), 2);
    assert_eq!(vector(e.instant(&st, "m @ 0", 999_000).unwrap().value).len(), 2);
}

#[test]
fn rate_sum_and_matching() {
    let c1 = counter(15, 41, 15.0); // +1/s for 10 minutes
    let c2 = counter(15, 41, 30.0); // +2/s
    let st = storage(&[
        (&[("__name__", "req_total"), ("job", "api"), ("instance", "a")], &c1),
        (&[("__name__", "req_total"), ("job", "api"), ("instance", "b")], &c2),
        (&[("__name__", "limit"), ("job", "api")], &[(0, 10.0), (600, 10.0)]),
    ]);
    let e = Engine::default();
    let rate = vector(e.instant(&st, "rate(req_total[5m])", 600_000).unwrap().value);
    assert_eq!(rate.len(), 2);
    assert!((rate[0].1 - 1.0).abs() < 1e-9 && (rate[1].1 - 2.0).abs() < 1e-9, "{rate:?}");
    assert_eq!(rate[0].0, r#"{instance="a", job="api"}"#, "rate drops the metric name");
    let sum = vector(e.instant(&st, "sum by (job) (rate(req_total[5m]))", 600_000).unwrap().value);
    assert_eq!(sum.len(), 1);
    assert!((sum[0].1 - 3.0).abs() < 1e-9);
    let ratio = vector(e.instant(&st, "sum by (job) (rate(req_total[5m])) / on(job) limit", 600_000).unwrap().value);
    assert!((ratio[0].1 - 0.3).abs() < 1e-9, "{ratio:?}");
    let filtered = vector(e.instant(&st, "req_total > 700", 600_000).unwrap().value);
    assert_eq!(filtered, vec![(r#"{__name__="req_total", instance="b", job="api"}"#.into(), 1200.0)], "a comparison filters and keeps the name");
    let grouped = vector(e.instant(&st, "req_total * on(job) group_left limit", 600_000).unwrap().value);
    assert_eq!(grouped.len(), 2);
    let err = e.instant(&st, "limit + on() req_total", 600_000).unwrap_err().to_string();
    assert!(err.contains("many-to-many matching not allowed"), "{err}");
    let topk = vector(e.instant(&st, "topk(1, req_total)", 600_000).unwrap().value);
    assert_eq!(topk[0].0, r#"{__name__="req_total", instance="b", job="api"}"#);
    // The name is gone before the aggregation sees the series, whether it
    // reads them one by one or straight from the function's table.
    let by_name = vector(e.instant(&st, "sum by (__name__, job) (rate(req_total[5m]))", 600_000).unwrap().value);
    assert_eq!(by_name.len(), 1, "{by_name:?}");
    assert_eq!(by_name[0].0, r#"{job="api"}"#);
    let Value::Matrix(m) = e.range(&st, "sum by (__name__) (rate(req_total[5m]))", 300_000, 600_000, 60_000).unwrap().value else { panic!() };
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].metric.to_string(), "{}");
    assert_eq!(m[0].points.len(), 6);
    // Two names, one label set once the names are gone: an error, in
    // instant and range queries alike.
    let st2 = storage(&[(&[("__name__", "a_total"), ("x", "1")], &c1), (&[("__name__", "b_total"), ("x", "1")], &c2)]);
    let err = e.instant(&st2, "rate({x=\"1\"}[5m])", 600_000).unwrap_err().to_string();
    assert!(err.contains("vector cannot contain metrics with the same labelset"), "{err}");
    let err = e.range(&st2, "sum(rate({x=\"1\"}[5m]))", 300_000, 600_000, 60_000).unwrap_err().to_string();
    assert!(err.contains("vector cannot contain metrics with the same labelset"), "{err}");
}

#[test]
fn range_queries_and_subqueries() {
    let st = storage(&[(&[("__name__", "g")], &[(0, 1.0), (60, 2.0), (120, 3.0), (180, 4.0)])]);
    let e = Engine::default();
    let Value::Matrix(m) = e.range(&st, "g * 2", 0, 180_000, 60_000).unwrap().value else { panic!() };
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].metric.to_string(), "{}");
    assert_eq!(m[0].points, vec![(0, 2.0), (60_000, 4.0), (120_000, 6.0), (180_000, 8.0)]);
    let v = vector(e.instant(&st, "max_over_time(g[3m:1m])", 180_000).unwrap().value);
    assert_eq!(v, vec![("{}".into(), 4.0)]);
    let v = vector(e.instant(&st, "count_over_time(g[3m:1m])", 180_000).unwrap().value);
    assert_eq!(v, vec![("{}".into(), 3.0)], "subquery windows are left-open");
    let Value::Scalar { v, .. } = e.instant(&st, "scalar(g) + time()", 120_000).unwrap().value else { panic!() };
    assert_eq!(v, 123.0);
    let delayed = Engine::new(EngineOptions { delayed_name_removal: true, ..Default::default() });
    let v = vector(delayed.instant(&st, r#"label_replace(g * 1, "__name__", "h", "", "")"#, 120_000).unwrap().value);
    assert_eq!(v[0].0, r#"{__name__="h"}"#, "with delayed name removal a name set again survives");
}

#[test]
fn deadline_and_cancellation_stop_evaluation() {
    let st = storage(&[(&[("__name__", "g")], &[(0, 1.0)])]);
    let e = Engine::default();
    let late = promql::engine::Control { deadline: Some(std::time::Instant::now()), ..Default::default() };
    assert_eq!(e.instant_with(&st, "g", 0, &late).unwrap_err(), promql::engine::QueryError::Timeout);
    let gone = promql::engine::Control::default();
    gone.canceled.store(true, std::sync::atomic::Ordering::Relaxed);
    assert_eq!(e.range_with(&st, "g", 0, 60_000, 1000, &gone).unwrap_err(), promql::engine::QueryError::Canceled);
    assert!(e.instant_with(&st, "g", 0, &promql::engine::Control::default()).is_ok());
}

#[test]
fn experimental_functions_need_their_feature() {
    let st = storage(&[(&[("__name__", "g"), ("a", "x")], &[(0, 1.0)])]);
    let err = Engine::default().instant(&st, "sort_by_label(g, \"a\")", 0).unwrap_err().to_string();
    assert_eq!(err, r#"1:1: parse error: function "sort_by_label" is not enabled"#);
    let on = Engine::new(EngineOptions { experimental_functions: true, ..Default::default() });
    assert_eq!(vector(on.instant(&st, "sort_by_label(g, \"a\")", 0).unwrap().value).len(), 1);
}
