//! Side by side with Debian's Prometheus 2.42: Prometheus scrapes itself and
//! a node_exporter every second and remote-writes everything to narthex;
//! then every query of `promql_compare/queries.txt` runs as an instant and
//! as a range query against both, and is formatted by both
//! (`/api/v1/format_query`), and the JSON results must agree (series
//! sorted, labels exact, timestamps exact, values within 1e-9 relative, NaN
//! equal to NaN, errors of the same type). Queries marked as differing
//! between 2.42 and 3.x are reported with their reason instead.
//!
//! Ignored in a plain `cargo test`; `scripts/interop.sh` (and
//! `scripts/compare-promql.sh` alone) run it.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use serde_json::Value;

const QUERIES: &str = include_str!("promql_compare/queries.txt");

/// The longest range any query reads, plus the range query's span: the data
/// must cover this much before the compared window starts.
const SPAN_S: f64 = 20.0;
const STEP_S: f64 = 3.0;
const LONGEST_RANGE_S: f64 = 30.0;

struct Query {
    text: String,
    /// Why 2.42 and 3.x may answer differently, if they do.
    differs: Option<String>,
}

fn queries() -> Vec<Query> {
    QUERIES
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| match l.split_once(" ## ") {
            Some((q, why)) => Query { text: q.trim().to_owned(), differs: Some(why.trim().to_owned()) },
            None => Query { text: l.to_owned(), differs: None },
        })
        .collect()
}

fn get_json(port: u16, path: &str) -> Value {
    let body = http_get(port, path).unwrap_or_default();
    serde_json::from_str(&body).unwrap_or_else(|e| Value::String(format!("not JSON ({e}): {body:.300}")))
}

/// A result reduced to what must agree: its type, and its series sorted by
/// labels (scalars and strings as one unlabelled series).
type Points = Vec<(f64, String)>;
type SeriesList = Vec<(BTreeMap<String, String>, Points)>;

enum Answer {
    Ok { kind: String, series: SeriesList },
    Err { error_type: String, error: String },
    Broken(String),
}

impl std::fmt::Display for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Answer::Ok { kind, series } => write!(f, "{kind} of {} series", series.len()),
            Answer::Err { error_type, error } => write!(f, "error {error_type}: {error}"),
            Answer::Broken(why) => write!(f, "no answer: {why}"),
        }
    }
}

fn point(p: &Value) -> Option<(f64, String)> {
    Some((p.get(0)?.as_f64()?, p.get(1)?.as_str()?.to_owned()))
}

fn answer(v: &Value) -> Answer {
    match v["status"].as_str() {
        Some("error") => {
            return Answer::Err { error_type: v["errorType"].as_str().unwrap_or("").to_owned(), error: v["error"].as_str().unwrap_or("").to_owned() };
        }
        Some("success") => {}
        _ => return Answer::Broken(format!("{v:.300}")),
    }
    let data = &v["data"];
    if let Some(formatted) = data.as_str() {
        // `/api/v1/format_query`
        return Answer::Ok { kind: "formatted".into(), series: vec![(BTreeMap::new(), vec![(0.0, formatted.to_owned())])] };
    }
    let kind = data["resultType"].as_str().unwrap_or("").to_owned();
    let result = &data["result"];
    let mut series = Vec::new();
    match kind.as_str() {
        "scalar" | "string" => match point(result) {
            Some(p) => series.push((BTreeMap::new(), vec![p])),
            None => return Answer::Broken(format!("bad {kind}: {result}")),
        },
        _ => {
            for s in result.as_array().map(Vec::as_slice).unwrap_or_default() {
                let labels =
                    s["metric"].as_object().map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_owned())).collect()).unwrap_or_default();
                let points = if let Some(values) = s["values"].as_array() {
                    values.iter().filter_map(point).collect()
                } else {
                    point(&s["value"]).into_iter().collect()
                };
                series.push((labels, points));
            }
        }
    }
    series.sort_by(|a, b| a.0.cmp(&b.0));
    Answer::Ok { kind, series }
}

fn values_agree(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) if x.is_nan() && y.is_nan() => true,
        (Ok(x), Ok(y)) => x == y || ((x - y).abs() <= 1e-9 * x.abs().max(y.abs())),
        _ => false,
    }
}

/// `None` when the answers agree, else what differs.
fn diff(theirs: &Answer, ours: &Answer) -> Option<String> {
    match (theirs, ours) {
        (Answer::Ok { kind: k1, series: s1 }, Answer::Ok { kind: k2, series: s2 }) => {
            if k1 != k2 {
                return Some(format!("result type: Prometheus {k1}, narthex {k2}"));
            }
            if s1.len() != s2.len() || s1.iter().zip(s2).any(|(a, b)| a.0 != b.0) {
                let names = |s: &SeriesList| s.iter().map(|(l, _)| format!("{l:?}")).collect::<Vec<_>>().join("\n    ");
                return Some(format!("series differ:\n  Prometheus:\n    {}\n  narthex:\n    {}", names(s1), names(s2)));
            }
            for ((labels, p1), (_, p2)) in s1.iter().zip(s2) {
                let same = p1.len() == p2.len() && p1.iter().zip(p2).all(|(a, b)| a.0 == b.0 && values_agree(&a.1, &b.1));
                if !same {
                    return Some(format!("points of {labels:?} differ:\n  Prometheus: {p1:?}\n  narthex:    {p2:?}"));
                }
            }
            None
        }
        (Answer::Err { error_type: t1, .. }, Answer::Err { error_type: t2, .. }) if t1 == t2 => None,
        _ => Some(format!("Prometheus: {theirs}\n  narthex: {ours}")),
    }
}

/// The millisecond phases (within a second) at which the targets' samples
/// were taken, read back from Prometheus.
fn scrape_phases(prom: u16, at: f64) -> Vec<i64> {
    let v = get_json(prom, &format!("/api/v1/query?query={}&time={at:.3}", url_encode("up[30s]")));
    let mut phases: Vec<i64> = v["data"]["result"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .flat_map(|s| s["values"].as_array().cloned().unwrap_or_default())
        .filter_map(|p| p.get(0).and_then(Value::as_f64))
        .map(|t| ((t * 1000.0).round() as i64).rem_euclid(1000))
        .collect();
    phases.sort_unstable();
    phases.dedup();
    phases
}

/// A millisecond phase as far as possible from every scrape phase, so that
/// no sample sits exactly on a range boundary, where 2.42 (closed ranges)
/// and 3.x (left-open ranges) would rightly disagree.
fn quiet_phase(phases: &[i64]) -> i64 {
    let distance = |p: i64| phases.iter().map(|&q| (p - q).rem_euclid(1000).min((q - p).rem_euclid(1000))).min().unwrap_or(1000);
    (0..1000).step_by(10).max_by_key(|&p| distance(p)).unwrap_or(500)
}

/// Every `a.b.c` path to a leaf of a JSON object.
fn key_paths(v: &Value) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(m) = v.as_object() {
        for (k, child) in m {
            let below = key_paths(child);
            if below.is_empty() {
                out.push(k.clone());
            }
            out.extend(below.into_iter().map(|p| format!("{k}.{p}")));
        }
    }
    out.sort();
    out
}

#[test]
#[ignore = "needs Debian's prometheus and prometheus-node-exporter; run by scripts/interop.sh"]
fn promql_agrees_with_prometheus() {
    let dir = tempfile::tempdir().unwrap();
    let exporter = free_port();
    let ours = free_port();
    let theirs = free_port();
    let _exporter = start_node_exporter(exporter);
    let our_cfg = dir.path().join("narthex.yml");
    std::fs::write(&our_cfg, "scrape_configs: []\n").unwrap();
    let _narthex = start_narthex(&our_cfg, ours, &dir.path().join("narthex-data"), &["--web.enable-remote-write-receiver"]);
    wait_for(ours, "/-/ready", "narthex did not become ready", |b| b.contains("Ready"));
    let prom_cfg = dir.path().join("prometheus.yml");
    std::fs::write(
        &prom_cfg,
        format!(
            "global: {{scrape_interval: 1s, scrape_timeout: 1s}}\n\
             scrape_configs:\n  - job_name: prometheus\n    static_configs: [{{targets: ['127.0.0.1:{theirs}']}}]\n  \
             - job_name: node\n    static_configs: [{{targets: ['127.0.0.1:{exporter}']}}]\n\
             remote_write:\n  - url: http://127.0.0.1:{ours}/api/v1/write\n    queue_config: {{batch_send_deadline: 1s}}\n"
        ),
    )
    .unwrap();
    let _prom = start_prometheus(&prom_cfg, &dir.path().join("prom-data"), theirs);
    wait_for(theirs, "/-/ready", "Prometheus did not become ready", |b| b.contains("Ready"));
    wait_for(ours, &format!("/api/v1/query?query={}", url_encode("count(up == 1) == 2")), "both targets never arrived in narthex", |b| b.contains(r#""2"]"#));
    let first = now_s();

    // The first seconds of data may not have been remote-written (the queue
    // starts tailing the WAL as scraping begins); leave them out of every
    // window, then leave time for the last samples to arrive.
    let settle = 5.0;
    let wait = settle + LONGEST_RANGE_S + SPAN_S + 10.0;
    std::thread::sleep(Duration::from_secs_f64(wait));
    let end_second = (now_s() - 8.0).floor();
    let phases = scrape_phases(theirs, end_second);
    let phase = quiet_phase(&phases);
    let end = end_second + phase as f64 / 1000.0;
    let start = end - SPAN_S;
    assert!(start - LONGEST_RANGE_S > first + settle - 1.0, "not enough data before the compared window");
    println!("scrape phases {phases:?} ms; queries at phase {phase} ms; instant at {end:.3}, range {start:.3}..{end:.3} step {STEP_S}s");

    // Both must hold the same samples before anything is compared.
    let probe = format!("/api/v1/query?query={}&time={end:.3}", url_encode("{__name__=~\".+\"}[1m]"));
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (a, b) = (answer(&get_json(theirs, &probe)), answer(&get_json(ours, &probe)));
        match diff(&a, &b) {
            None => break,
            Some(d) => assert!(std::time::Instant::now() < deadline, "narthex never received all of Prometheus's samples: {d}"),
        }
        std::thread::sleep(Duration::from_millis(500));
    }

    let at = format!("{:.3}", end - 10.0);
    let (mut agreed, mut failures, mut named) = (0, Vec::new(), Vec::new());
    for q in queries() {
        let text = q.text.replace("$AT", &at);
        let enc = url_encode(&text);
        for (kind, path) in [
            ("instant", format!("/api/v1/query?query={enc}&time={end:.3}")),
            ("range", format!("/api/v1/query_range?query={enc}&start={start:.3}&end={end:.3}&step={STEP_S}")),
            ("format", format!("/api/v1/format_query?query={enc}")),
        ] {
            let (a, b) = (answer(&get_json(theirs, &path)), answer(&get_json(ours, &path)));
            match (diff(&a, &b), &q.differs) {
                (None, _) => agreed += 1,
                (Some(d), Some(why)) => named.push(format!("{kind} `{text}`: {why}\n  {d:.400}")),
                (Some(d), None) => failures.push(format!("{kind} `{text}`:\n  {d:.3000}")),
            }
        }
    }
    // `stats`: the same keys, in the same places (the numbers are each
    // engine's own).
    for path in
        [format!("/api/v1/query?query=up&time={end:.3}&stats=all"), format!("/api/v1/query_range?query=up&start={start:.3}&end={end:.3}&step=3&stats=1")]
    {
        let (a, b) = (get_json(theirs, &path)["data"]["stats"].clone(), get_json(ours, &path)["data"]["stats"].clone());
        if key_paths(&a) != key_paths(&b) || key_paths(&a).is_empty() {
            failures.push(format!("stats of {path}:\n  Prometheus: {a}\n  narthex:    {b}"));
        }
    }
    println!("{agreed} agree, {} differ where 2.42 and 3.x differ, {} disagree", named.len(), failures.len());
    for n in &named {
        println!("expected difference: {n}");
    }
    assert!(failures.is_empty(), "{} queries disagree with Prometheus 2.42:\n{}", failures.len(), failures.join("\n"));
    assert!(agreed > 600, "only {agreed} comparisons agreed");
}
