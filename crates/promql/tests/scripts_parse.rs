//! Parses every upstream PromQL test script (`shared/conformance/promql/`,
//! and the 2.42 versions in `promql-v2.42/`) and spot-checks content read by
//! hand from the files.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use model::Labels;
use promql::promqltest::script::{AnnotationExpectation, Command, Eval, EvalKind, ExpectedResult, ExpectedSeries, Load, MessageMatch, Point, Script, parse};

/// Where the upstream data lives: `NARTHEX_CONFORMANCE_DIR`, else `shared/`
/// beside the repository.
fn conformance_dir() -> PathBuf {
    if let Ok(d) = std::env::var("NARTHEX_CONFORMANCE_DIR") {
        return PathBuf::from(d);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance")
}

fn test_files(sub: &str) -> Vec<PathBuf> {
    let dir = conformance_dir().join(sub);
    assert!(dir.is_dir(), "conformance data not found at {} (set NARTHEX_CONFORMANCE_DIR)", dir.display());
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|e| e == "test")).collect();
    files.sort();
    files
}

fn load_script(sub: &str, name: &str) -> Script {
    let path = conformance_dir().join(sub).join(name);
    parse(&std::fs::read_to_string(&path).unwrap()).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied())
}

fn evals(s: &Script) -> Vec<(usize, &Eval)> {
    s.commands
        .iter()
        .filter_map(|c| match &c.command {
            Command::Eval(e) => Some((c.line, e)),
            _ => None,
        })
        .collect()
}

fn loads(s: &Script) -> Vec<(usize, &Load)> {
    s.commands
        .iter()
        .filter_map(|c| match &c.command {
            Command::Load(l) => Some((c.line, l)),
            _ => None,
        })
        .collect()
}

fn eval_at(s: &Script, line: usize) -> &Eval {
    evals(s).into_iter().find(|(l, _)| *l == line).unwrap_or_else(|| panic!("no eval on line {line}")).1
}

fn load_at(s: &Script, line: usize) -> &Load {
    loads(s).into_iter().find(|(l, _)| *l == line).unwrap_or_else(|| panic!("no load on line {line}")).1
}

fn series(e: &Eval) -> &[ExpectedSeries] {
    match &e.result {
        ExpectedResult::Series(s) => s,
        other => panic!("expected series, got {other:?}"),
    }
}

fn floats(points: &[Point]) -> Vec<f64> {
    points.iter().map(|p| p.float_value().unwrap_or_else(|| panic!("not a float: {p:?}"))).collect()
}

#[derive(Default)]
struct Stats {
    commands: usize,
    clears: usize,
    loads: usize,
    load_series: usize,
    evals: usize,
    range_evals: usize,
    points: usize,
    histograms: usize,
    unsupported: usize,
}

fn stats(s: &Script) -> Stats {
    let mut st = Stats { commands: s.commands.len(), ..Stats::default() };
    let count_points = |st: &mut Stats, points: &[Point]| {
        st.points += points.len();
        st.histograms += points.iter().filter(|p| matches!(p, Point::Histogram(_))).count();
        st.unsupported += points.iter().filter(|p| matches!(p, Point::Unsupported { .. })).count();
    };
    for c in &s.commands {
        match &c.command {
            Command::Clear => st.clears += 1,
            Command::Load(l) => {
                st.loads += 1;
                st.load_series += l.series.len();
                for ser in &l.series {
                    count_points(&mut st, &ser.values);
                }
            }
            Command::Eval(e) => {
                st.evals += 1;
                if matches!(e.kind, EvalKind::Range { .. }) {
                    st.range_evals += 1;
                }
                if let ExpectedResult::Series(list) = &e.result {
                    for ser in list {
                        count_points(&mut st, &ser.values);
                    }
                }
            }
        }
    }
    st
}

fn parse_all(sub: &str, expected_files: usize) {
    let files = test_files(sub);
    assert_eq!(files.len(), expected_files, "files in {sub}");
    let mut failures = Vec::new();
    println!(
        "{:<28} {:>8} {:>6} {:>6} {:>7} {:>6} {:>6} {:>7} {:>6} {:>11}",
        "file", "commands", "clears", "loads", "series", "evals", "range", "points", "hists", "unsupported"
    );
    for path in files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        match parse(&std::fs::read_to_string(&path).unwrap()) {
            Ok(s) => {
                let st = stats(&s);
                println!(
                    "{name:<28} {:>8} {:>6} {:>6} {:>7} {:>6} {:>6} {:>7} {:>6} {:>11}",
                    st.commands, st.clears, st.loads, st.load_series, st.evals, st.range_evals, st.points, st.histograms, st.unsupported
                );
            }
            Err(e) => failures.push(format!("{name}: {e}")),
        }
    }
    assert!(failures.is_empty(), "scripts that failed to parse:\n{}", failures.join("\n"));
}

#[test]
fn every_current_script_parses() {
    parse_all("promql", 16);
}

#[test]
fn every_v2_42_script_parses() {
    parse_all("promql-v2.42", 8);
}

#[test]
fn functions_first_evals() {
    let s = load_script("promql", "functions.test");
    let (line, first) = evals(&s)[0];
    assert_eq!(line, 11);
    assert_eq!(first.kind, EvalKind::Instant { at_ms: 50 * 60_000 });
    assert_eq!(first.expr, "resets(http_requests[5m])");
    assert_eq!(first.result, ExpectedResult::Empty);

    let (line, second) = evals(&s)[1];
    assert_eq!(line, 13);
    assert_eq!(second.expr, "resets(http_requests[10m])");
    let got: Vec<(Labels, Vec<f64>)> = series(second).iter().map(|s| (s.labels.clone(), floats(&s.values))).collect();
    assert_eq!(got, vec![(labels(&[("path", "/foo")]), vec![0.0]), (labels(&[("path", "/bar")]), vec![0.0]), (labels(&[("path", "/biz")]), vec![0.0]),]);
}

#[test]
fn functions_first_load() {
    let s = load_script("promql", "functions.test");
    let load = load_at(&s, 2);
    assert_eq!(load.interval_ms, 5 * 60_000);
    assert_eq!(load.series.len(), 6);

    let foo = &load.series[0];
    assert_eq!(foo.labels, labels(&[("__name__", "http_requests"), ("path", "/foo")]));
    let samples: Vec<(i64, f64)> = foo.samples(load.interval_ms).map(|(t, p)| (t, p.float_value().unwrap())).collect();
    let want: Vec<(i64, f64)> = [1.0, 2.0, 3.0, 0.0, 1.0, 0.0, 0.0, 1.0, 2.0, 0.0].iter().enumerate().map(|(k, v)| (k as i64 * 300_000, *v)).collect();
    assert_eq!(samples, want);

    // `{{schema:0 sum:1 count:1}}x9`: ten copies, 0m to 45m.
    let hist = &load.series[3];
    assert_eq!(hist.labels, labels(&[("__name__", "http_requests_histogram"), ("path", "/foo")]));
    let samples: Vec<(i64, &Point)> = hist.samples(load.interval_ms).collect();
    assert_eq!(samples.len(), 10);
    assert_eq!(samples[9].0, 45 * 60_000);
    for (_, p) in samples {
        let Point::Histogram(h) = p else { panic!("{p:?}") };
        assert_eq!((h.schema, h.sum, h.count), (0, 1.0, 1.0));
        assert!(h.positive.counts.is_empty() && !h.hint_given);
    }

    // Mixed floats and histograms with zero buckets.
    let biz = &load.series[5];
    assert_eq!(biz.values.len(), 10);
    assert_eq!(floats(&biz.values[..7]), vec![0.0, 1.0, 0.0, 2.0, 0.0, 3.0, 0.0]);
    let Point::Histogram(h) = &biz.values[8] else { panic!() };
    assert_eq!((h.sum, h.count, h.zero_threshold, h.zero_count), (2.0, 2.0, 0.001, 1.0));
}

#[test]
fn staleness_load_and_evals() {
    let s = load_script("promql", "staleness.test");
    let load = load_at(&s, 1);
    assert_eq!(load.interval_ms, 10_000);
    let samples: Vec<(i64, Option<f64>, bool)> =
        load.series[0].samples(load.interval_ms).map(|(t, p)| (t, p.float_value(), matches!(p, Point::Stale))).collect();
    assert_eq!(samples.len(), 4);
    assert_eq!(samples[2].0, 20_000);
    assert!(samples[2].2 && model::value::is_stale_nan(samples[2].1.unwrap()));
    assert_eq!((samples[3].0, samples[3].1), (30_000, Some(2.0)));

    let e = eval_at(&s, 5);
    assert_eq!(e.kind, EvalKind::Instant { at_ms: 10_000 });
    assert_eq!(series(e)[0].labels, labels(&[("__name__", "metric")]));
    assert_eq!(eval_at(&s, 8).result, ExpectedResult::Empty);
    assert_eq!(eval_at(&s, 17).kind, EvalKind::Instant { at_ms: 329_000 });
}

#[test]
fn operators_missing_and_special_values() {
    let s = load_script("promql", "operators.test");
    let (_, load) = loads(&s).into_iter().find(|(_, l)| l.series.iter().any(|x| x.labels.metric_name() == "left_floats")).unwrap();
    let left = load.series.iter().find(|x| x.labels.metric_name() == "left_floats").unwrap();
    // left_floats  1 2 _ _ 3 stale 4  5  NaN Inf -Inf
    assert_eq!(left.values.len(), 11);
    assert!(matches!(left.values[2], Point::Missing) && matches!(left.values[3], Point::Missing));
    assert!(matches!(left.values[5], Point::Stale));
    assert!(matches!(left.values[8], Point::Float(v) if v.is_nan() && !model::value::is_stale_nan(v)));
    assert!(matches!(left.values[9..], [Point::Float(f64::INFINITY), Point::Float(f64::NEG_INFINITY)]));
    let times: Vec<i64> = left.samples(load.interval_ms).map(|(t, _)| t / load.interval_ms).collect();
    assert_eq!(times, vec![0, 1, 4, 5, 6, 7, 8, 9, 10]);

    let e = eval_at(&s, 1006);
    assert_eq!(e.expr, r#"-{job="api"}"#);
    assert_eq!(e.expect.fail, Some(MessageMatch::Any));
}

#[test]
fn literals_scalars_and_strings() {
    let s = load_script("promql", "literals.test");
    assert_eq!(eval_at(&s, 1).result, ExpectedResult::Scalar(12_340_000.0));
    assert_eq!(eval_at(&s, 7).result, ExpectedResult::Scalar(0.00001234));
    assert_eq!(eval_at(&s, 28).expr, "+Inf");
    assert_eq!(eval_at(&s, 28).result, ExpectedResult::Scalar(f64::INFINITY));
    assert_eq!(eval_at(&s, 61).result, ExpectedResult::String("Foo".into()));
    assert_eq!(eval_at(&s, 67).result, ExpectedResult::String(" Foo ".into()));
    assert_eq!(eval_at(&s, 73).result, ExpectedResult::String(String::new()));
}

#[test]
fn aggregators_expectations() {
    let s = load_script("promql", "aggregators.test");
    let e = eval_at(&s, 481);
    assert_eq!(e.expr, r#"count_values("a\xc5z", version)"#);
    assert_eq!(e.expect.fail, Some(MessageMatch::Exact(r#"invalid label name "a\xc5z""#.into())));
    let with_info = evals(&s).into_iter().filter(|(_, e)| matches!(e.expect.infos, AnnotationExpectation::Required(_))).count();
    assert!(with_info > 0);
}

#[test]
fn start_timestamps_first_load() {
    let s = load_script("promql", "start_timestamps.test");
    let load = load_at(&s, 2);
    assert_eq!(load.interval_ms, 60_000);
    assert_eq!(load.series.len(), 3, "the @st line belongs to the series after it");
    let resets = &load.series[1];
    assert_eq!(resets.line, 5);
    assert_eq!(resets.labels, labels(&[("__name__", "cumulative"), ("type", "st_resets")]));
    // _ _ -30s-1mx2 -1m-1mx2 -59999ms-1mx2 -1s-1mx2 -1ms-1mx2
    let st = resets.start_offsets.as_ref().unwrap();
    assert_eq!(st.len(), 17);
    assert_eq!(st.len(), resets.values.len());
    assert_eq!(st[..5], [None, None, Some(-30_000), Some(-90_000), Some(-150_000)]);
    assert_eq!(st[5..8], [Some(-60_000), Some(-120_000), Some(-180_000)]);
    assert_eq!(st[8..11], [Some(-59_999), Some(-119_999), Some(-179_999)]);
    assert_eq!(st[14..], [Some(-1), Some(-60_001), Some(-120_001)]);
    // _ _ 0+60x14
    assert_eq!(floats(&resets.values[2..]), (0..15).map(|k| f64::from(k) * 60.0).collect::<Vec<_>>());
}

#[test]
fn native_histogram_sequences() {
    let s = load_script("promql", "native_histograms.test");
    // incr_histogram {{schema:0 sum:4 count:4 buckets:[1 2 1]}}+{{sum:2 count:1 buckets:[1] offset:1}}x10
    let (_, load) = loads(&s).into_iter().find(|(_, l)| l.series.iter().any(|x| x.labels.metric_name() == "incr_histogram")).unwrap();
    let h = load.series.iter().find(|x| x.labels.metric_name() == "incr_histogram").unwrap();
    assert_eq!(h.values.len(), 11);
    let Point::Histogram(last) = &h.values[10] else { panic!() };
    assert_eq!((last.sum, last.count), (24.0, 14.0));
    assert_eq!((last.positive.offset, &last.positive.counts[..]), (0, &[1.0, 12.0, 1.0][..]));

    // low_res_histogram: schema -1 plus a schema 0 increment, reduced.
    let (_, load) = loads(&s).into_iter().find(|(_, l)| l.series.iter().any(|x| x.labels.metric_name() == "low_res_histogram")).unwrap();
    let h = load.series.iter().find(|x| x.labels.metric_name() == "low_res_histogram").unwrap();
    let Point::Histogram(second) = &h.values[1] else { panic!() };
    assert_eq!((second.schema, second.sum, second.count), (-1, 8.0, 5.0));
    assert_eq!((second.positive.offset, &second.positive.counts[..]), (1, &[5.0][..]));
}
