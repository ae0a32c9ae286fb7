#![allow(clippy::unwrap_used)]

use std::cell::RefCell;
use std::sync::{Arc, Mutex};

use model::{Exemplar, Labels, Matcher as LabelMatcher, Metadata, Timestamp};
use storage::{Appendable, Appender, LabelHints, Querier, Queryable, SelectHints, SeriesRef, SeriesSet, StorageError, Warnings};

use super::*;

// ---- A Vec-backed storage: appends are visible after commit; selects find nothing (the fake engine does not read). ----

type Samples = Arc<Mutex<Vec<(Labels, Timestamp, f64)>>>;

#[derive(Debug, Default)]
struct VecStorage {
    samples: Samples,
}

struct VecAppender {
    pending: Vec<(Labels, Timestamp, f64)>,
    samples: Samples,
}

impl Appender for VecAppender {
    fn append(&mut self, _: SeriesRef, labels: &Labels, t: Timestamp, v: f64) -> Result<SeriesRef, StorageError> {
        if t > 1_000_000_000 {
            return Err(StorageError::OutOfBounds);
        }
        self.pending.push((labels.clone(), t, v));
        Ok(SeriesRef(1))
    }
    fn append_exemplar(&mut self, h: SeriesRef, _: &Labels, _: &Exemplar) -> Result<SeriesRef, StorageError> {
        Ok(h)
    }
    fn update_metadata(&mut self, h: SeriesRef, _: &Labels, _: &Metadata) -> Result<SeriesRef, StorageError> {
        Ok(h)
    }
    fn commit(&mut self) -> Result<(), StorageError> {
        self.samples.lock().unwrap().append(&mut self.pending);
        Ok(())
    }
    fn rollback(&mut self) -> Result<(), StorageError> {
        self.pending.clear();
        Ok(())
    }
}

impl Appendable for VecStorage {
    fn appender(&self) -> Box<dyn Appender> {
        Box::new(VecAppender { pending: Vec::new(), samples: self.samples.clone() })
    }
}

struct EmptySet;
impl SeriesSet for EmptySet {
    fn next(&mut self) -> Option<Box<dyn storage::Series + '_>> {
        None
    }
    fn err(&self) -> Option<&StorageError> {
        None
    }
    fn warnings(&self) -> Warnings {
        Vec::new()
    }
}

struct EmptyQuerier;
impl Querier for EmptyQuerier {
    fn select(&self, _: bool, _: Option<&SelectHints>, _: &[LabelMatcher]) -> Box<dyn SeriesSet + '_> {
        Box::new(EmptySet)
    }
    fn label_values(&self, _: &str, _: &LabelHints, _: &[LabelMatcher]) -> Result<(Vec<String>, Warnings), StorageError> {
        Ok((Vec::new(), Vec::new()))
    }
    fn label_names(&self, _: &LabelHints, _: &[LabelMatcher]) -> Result<(Vec<String>, Warnings), StorageError> {
        Ok((Vec::new(), Vec::new()))
    }
}

impl Queryable for VecStorage {
    fn querier(&self, _: Timestamp, _: Timestamp) -> Result<Box<dyn Querier>, StorageError> {
        Ok(Box::new(EmptyQuerier))
    }
}

// ---- A fake engine: every series is constant over time, so all variants agree unless a test says otherwise. ----

#[derive(Default)]
struct Fake {
    series: Vec<(Labels, f64)>,
    scalar: Option<f64>,
    string: Option<String>,
    error: Option<String>,
    warnings: Vec<String>,
    infos: Vec<String>,
    /// Instant queries return this matrix (a range-vector expression).
    matrix: Option<Vec<Series>>,
    /// Range queries return the series in reverse label order.
    unsorted_range: bool,
    /// Only the query as written gets the right values; rewritten (`@`) ones get 0.
    wrong_at_variants: bool,
    calls: RefCell<Vec<String>>,
}

impl Fake {
    fn value(&self, query: &str, v: f64) -> f64 {
        if self.wrong_at_variants && query.contains('@') { 0.0 } else { v }
    }
    fn result(&self, value: Value) -> Result<QueryResult, QueryError> {
        match &self.error {
            Some(e) => Err(QueryError::Execution(e.clone())),
            None => Ok(QueryResult { value, warnings: self.warnings.clone(), infos: self.infos.clone(), stats: Default::default() }),
        }
    }
}

impl QueryEngine for Fake {
    fn instant(&self, _: &dyn Queryable, query: &str, t: i64) -> Result<QueryResult, QueryError> {
        self.calls.borrow_mut().push(format!("instant {query} {t}"));
        let value = if let Some(m) = &self.matrix {
            Value::Matrix(m.clone())
        } else if let Some(v) = self.scalar {
            Value::Scalar { t, v: self.value(query, v) }
        } else if let Some(s) = &self.string {
            Value::String { t, v: s.clone() }
        } else {
            Value::Vector(self.series.iter().map(|(l, v)| Sample { metric: l.clone(), t, v: self.value(query, *v) }).collect())
        };
        self.result(value)
    }

    fn range(&self, _: &dyn Queryable, query: &str, start: i64, end: i64, step: i64) -> Result<QueryResult, QueryError> {
        self.calls.borrow_mut().push(format!("range {query} {start} {end} {step}"));
        let times: Vec<i64> = (0..).map(|k| start + k * step).take_while(|t| *t <= end).collect();
        let mut all: Vec<(Labels, f64)> = match self.scalar {
            Some(v) => vec![(Labels::default(), v)],
            None => self.series.clone(),
        };
        all.sort_by(|a, b| a.0.cmp(&b.0));
        if self.unsorted_range {
            all.reverse();
        }
        let value =
            Value::Matrix(all.into_iter().map(|(metric, v)| Series { metric, points: times.iter().map(|t| (*t, self.value(query, v))).collect() }).collect());
        self.result(value)
    }
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied())
}

fn fake(series: &[(&[(&str, &str)], f64)]) -> Fake {
    Fake { series: series.iter().map(|(l, v)| (labels(l), *v)).collect(), ..Fake::default() }
}

fn run(text: &str, engine: &Fake) -> ScriptOutcome {
    let mut new_storage = || -> Result<Box<dyn TestStorage>, StorageError> { Ok(Box::new(VecStorage::default())) };
    run_source(text, engine, &mut new_storage)
}

/// The status of the only eval in the script.
fn eval_status(text: &str, engine: &Fake) -> Status {
    let o = run(text, engine);
    assert!(o.invalid.is_none(), "{:?}", o.invalid);
    let evals: Vec<&CommandOutcome> = o.commands.iter().filter(|c| c.kind == CommandKind::Eval).collect();
    assert_eq!(evals.len(), 1, "{o:?}");
    evals[0].status.clone()
}

#[track_caller]
fn assert_fail(status: Status, needle: &str) {
    match status {
        Status::Fail(m) => assert!(m.contains(needle), "{m:?} does not contain {needle:?}"),
        other => panic!("expected a failure containing {needle:?}, got {other:?}"),
    }
}

const FOO: &[(&str, &str)] = &[("__name__", "foo"), ("job", "a")];
const BAR: &[(&str, &str)] = &[("__name__", "foo"), ("job", "b")];

// ---- approx_eq ----

#[test]
fn approx_eq_follows_the_readme() {
    assert!(approx_eq(1.0, 1.0 + 1e-9));
    assert!(!approx_eq(1.0, 1.0001));
    assert!(approx_eq(f64::NAN, -f64::NAN));
    assert!(!approx_eq(f64::NAN, 1.0));
    assert!(approx_eq(f64::INFINITY, f64::INFINITY));
    assert!(!approx_eq(f64::INFINITY, f64::NEG_INFINITY));
    let stale = model::value::stale_nan();
    assert!(approx_eq(stale, stale));
    assert!(!approx_eq(stale, f64::NAN));
    assert!(!approx_eq(f64::NAN, stale));
    // Near zero the comparison is in effect exact.
    assert!(!approx_eq(0.0, 1e-300));
    assert!(approx_eq(0.0, -0.0));
    assert!(approx_eq(f64::MAX, f64::MAX * (1.0 - 1e-9)));
}

// ---- loads ----

#[test]
fn load_appends_every_point_at_k_times_interval_and_clear_gives_fresh_storage() {
    let stores: RefCell<Vec<Samples>> = RefCell::new(Vec::new());
    let mut new_storage = || -> Result<Box<dyn TestStorage>, StorageError> {
        let s = VecStorage::default();
        stores.borrow_mut().push(s.samples.clone());
        Ok(Box::new(s))
    };
    let text = "load 1m\n  foo{job=\"a\"} 1 _ stale 4\n\nclear\n\nload 10s\n  bar 7\n";
    let o = run_source(text, &Fake::default(), &mut new_storage);
    assert!(o.all_passed(), "{o:?}");
    assert_eq!(o.commands.len(), 2);
    let stores = stores.borrow();
    assert_eq!(stores.len(), 2);
    let first = stores[0].lock().unwrap();
    let got: Vec<(i64, u64)> = first.iter().map(|(_, t, v)| (*t, v.to_bits())).collect();
    assert_eq!(got, vec![(0, 1f64.to_bits()), (120_000, model::value::STALE_NAN_BITS), (180_000, 4f64.to_bits())]);
    assert_eq!(first[0].0, labels(FOO));
    assert_eq!(stores[1].lock().unwrap().len(), 1);
    assert_eq!(o.summary_line("x.test"), "PASS x.test (2 commands)");
}

#[test]
fn load_with_histograms_is_skipped_but_later_evals_still_fail() {
    let text = "load 1m\n  foo{job=\"a\"} 1 {{count:1}}\n\neval instant at 1m foo\n  foo{job=\"a\"} {{count:1}}\n";
    let o = run(text, &fake(&[(FOO, 1.0)]));
    assert!(matches!(&o.commands[0].status, Status::Skipped(m) if m.contains("native histogram")), "{o:?}");
    assert_fail(o.commands[1].status.clone(), "expected histogram");
    assert_eq!(o.failed(), 1);
    assert_eq!(o.skipped(), 1);
    assert!(o.summary_line("h.test").starts_with("FAIL h.test: line 4: "), "{}", o.summary_line("h.test"));
    let mut totals = Totals::default();
    totals.add(&o);
    assert_eq!(totals.to_string(), "0 passed, 1 failed, 1 skipped");
}

#[test]
fn load_with_nhcb_is_skipped() {
    let o = run("load_with_nhcb 1m\n  foo_bucket{le=\"1\"} 1\n", &Fake::default());
    assert!(matches!(&o.commands[0].status, Status::Skipped(m) if m.contains("load_with_nhcb")), "{o:?}");
    assert!(o.summary_line("n.test").starts_with("SKIP n.test (0 passed, 1 skipped"), "{}", o.summary_line("n.test"));
}

#[test]
fn failed_load_stops_the_file() {
    // The fake appender refuses timestamps past 1e9 ms.
    let text = "load 1000h\n  foo 1 2\n\neval instant at 0 foo\n";
    let o = run(text, &Fake::default());
    assert_fail(o.commands[0].status.clone(), "out of bounds");
    assert!(matches!(&o.commands[1].status, Status::Skipped(m) if m.contains("load at line 1 failed")), "{o:?}");
}

#[test]
fn a_query_that_does_not_parse_makes_the_file_invalid() {
    let o = run("load 1m\n  foo 1\n\neval instant at 0 sum(\n", &Fake::default());
    let e = o.invalid.clone().unwrap();
    assert_eq!(e.line, 4);
    assert!(o.commands.is_empty());
    assert_eq!(o.failed(), 1);
    assert!(o.summary_line("p.test").starts_with("FAIL p.test: line 4: invalid script: query \"sum(\" does not parse"));
}

#[test]
fn a_script_syntax_error_makes_the_file_invalid() {
    let o = run("bogus\n", &Fake::default());
    assert!(o.invalid.is_some());
    assert!(!o.all_passed());
}

// ---- instant evals ----

#[test]
fn instant_vector_passes_and_runs_all_variants() {
    let f = fake(&[(FOO, 1.0), (BAR, 2.0)]);
    // Order is irrelevant without `expect ordered`.
    let s = eval_status("eval instant at 10s foo\n  foo{job=\"b\"} 2\n  foo{job=\"a\"} 1.0000000001\n", &f);
    assert_eq!(s, Status::Pass);
    let calls = f.calls.borrow();
    // The query, its range-mode check, then five @ variants with theirs.
    assert_eq!(calls.len(), 12, "{calls:?}");
    assert_eq!(calls[0], "instant foo 10000");
    assert_eq!(calls[1], "range foo -50000 70000 60000");
    assert_eq!(calls[2], "instant foo @ 10 -100000");
    assert!(calls.contains(&"instant foo @ 10 2000".to_string()));
    assert!(calls.contains(&"range foo @ 10 40000 160000 60000".to_string()));
}

#[test]
fn eval_at_zero_uses_the_three_small_variant_times() {
    let f = fake(&[(FOO, 1.0)]);
    assert_eq!(eval_status("eval instant at 0 foo\n  foo{job=\"a\"} 1\n", &f), Status::Pass);
    let calls = f.calls.borrow();
    let times: Vec<&str> = calls.iter().filter(|c| c.starts_with("instant foo @")).map(|c| c.rsplit(' ').next().unwrap()).collect();
    assert_eq!(times, vec!["-1000", "0", "1000"]);
}

#[test]
fn wrong_value_fails_with_expected_and_got() {
    let s = eval_status("eval instant at 0 foo\n  foo{job=\"a\"} 3\n", &fake(&[(FOO, 1.0)]));
    assert_fail(s, "[query at 0s] {__name__=\"foo\", job=\"a\"}: expected 3, got 1");
}

#[test]
fn wrong_labels_fail_including_the_name() {
    // Same labels but no __name__: a different series.
    let s = eval_status("eval instant at 0 foo\n  {job=\"a\"} 1\n", &fake(&[(FOO, 1.0)]));
    assert_fail(s, "missing series {job=\"a\"}");
}

#[test]
fn missing_and_extra_series_fail() {
    let s = eval_status("eval instant at 0 foo\n  foo{job=\"a\"} 1\n  foo{job=\"b\"} 2\n", &fake(&[(FOO, 1.0)]));
    assert_fail(s, "missing series {__name__=\"foo\", job=\"b\"}");
    let s = eval_status("eval instant at 0 foo\n  foo{job=\"a\"} 1\n", &fake(&[(FOO, 1.0), (BAR, 2.0)]));
    assert_fail(s, "unexpected series {__name__=\"foo\", job=\"b\"}");
}

#[test]
fn empty_expectation_needs_an_empty_vector() {
    assert_eq!(eval_status("eval instant at 0 foo\n", &fake(&[])), Status::Pass);
    assert_fail(eval_status("eval instant at 0 foo\n", &fake(&[(FOO, 1.0)])), "expected an empty result");
    // A scalar never counts as empty.
    let f = Fake { scalar: Some(1.0), ..Fake::default() };
    assert_fail(eval_status("eval instant at 0 1\n", &f), "expected an empty result, got scalar 1");
}

#[test]
fn nan_equals_nan_but_not_stale() {
    assert_eq!(eval_status("eval instant at 0 foo\n  foo{job=\"a\"} NaN\n", &fake(&[(FOO, f64::NAN)])), Status::Pass);
    assert_fail(eval_status("eval instant at 0 foo\n  foo{job=\"a\"} NaN\n", &fake(&[(FOO, 1.0)])), "expected NaN, got 1");
    assert_fail(eval_status("eval instant at 0 foo\n  foo{job=\"a\"} stale\n", &fake(&[(FOO, f64::NAN)])), "expected stale, got NaN");
}

#[test]
fn scalar_results() {
    let f = Fake { scalar: Some(300.0), ..Fake::default() };
    assert_eq!(eval_status("eval instant at 50m scalar(foo)\n  300\n", &f), Status::Pass);
    assert_fail(eval_status("eval instant at 50m scalar(foo)\n  301\n", &f), "expected scalar 301, got scalar 300");
    // A vector where a scalar is expected.
    assert_fail(eval_status("eval instant at 0 foo\n  1\n", &fake(&[(FOO, 1.0)])), "expected scalar 1, got vector");
}

#[test]
fn string_results() {
    let f = Fake { string: Some("hi".into()), ..Fake::default() };
    assert_eq!(eval_status("eval instant at 0 \"hi\"\n  expect string \"hi\"\n", &f), Status::Pass);
    assert_fail(eval_status("eval instant at 0 \"hi\"\n  expect string \"ho\"\n", &f), "expected string \"ho\", got string \"hi\"");
    // No range-mode check for strings: only the query and its variants run.
    assert!(f.calls.borrow().iter().all(|c| c.starts_with("instant")));
}

#[test]
fn ordered_checks_order_only_when_asked() {
    let f = fake(&[(BAR, 2.0), (FOO, 1.0)]);
    let text = "eval instant at 0 sort_desc(foo)\n  expect ordered\n  foo{job=\"b\"} 2\n  foo{job=\"a\"} 1\n";
    assert_eq!(eval_status(text, &f), Status::Pass);
    let text = "eval instant at 0 sort_desc(foo)\n  expect ordered\n  foo{job=\"a\"} 1\n  foo{job=\"b\"} 2\n";
    assert_fail(eval_status(text, &f), "expected ordered results: position 0 should be {__name__=\"foo\", job=\"a\"}");
    let text = "eval_ordered instant at 0 sort_desc(foo)\n  foo{job=\"a\"} 1\n  foo{job=\"b\"} 2\n";
    assert_fail(eval_status(text, &f), "expected ordered results");
    let text = "eval instant at 0 sort_desc(foo)\n  foo{job=\"a\"} 1\n  foo{job=\"b\"} 2\n";
    assert_eq!(eval_status(text, &f), Status::Pass);
}

#[test]
fn expect_fail_any_exact_and_regex() {
    let f = Fake { error: Some("vector cannot contain metrics with the same labelset".into()), ..Fake::default() };
    assert_eq!(eval_status("eval instant at 0 foo\n  expect fail\n", &f), Status::Pass);
    assert_eq!(eval_status("eval_fail instant at 0 foo\n", &f), Status::Pass);
    let exact = "eval instant at 0 foo\n  expect fail msg: vector cannot contain metrics with the same labelset\n";
    assert_eq!(eval_status(exact, &f), Status::Pass);
    assert_fail(eval_status("eval instant at 0 foo\n  expect fail msg: vector cannot contain\n", &f), "expected an error matching msg:");
    assert_eq!(eval_status("eval instant at 0 foo\n  expect fail regex: same label\\w+\n", &f), Status::Pass);
    assert_fail(eval_status("eval instant at 0 foo\n  expect fail regex: ^labelset\n", &f), "got error \"vector cannot");
    // An error nobody expected.
    assert_fail(eval_status("eval instant at 0 foo\n", &f), "unexpected error: vector cannot contain");
}

#[test]
fn fail_expected_but_query_succeeded() {
    let s = eval_status("eval instant at 0 foo\n  expect fail\n", &fake(&[(FOO, 1.0)]));
    assert_fail(s, "expected an error matching any text, but the query succeeded with vector");
}

#[test]
fn warnings_and_infos() {
    let w = "PromQL warning: encountered a mix of histograms and floats for aggregation (1:5)";
    let f = Fake { warnings: vec![w.into()], ..fake(&[(FOO, 1.0)]) };
    let body = "  foo{job=\"a\"} 1\n";
    assert_eq!(eval_status(&format!("eval instant at 0 foo\n  expect warn\n{body}"), &f), Status::Pass);
    assert_eq!(eval_status(&format!("eval_warn instant at 0 foo\n{body}"), &f), Status::Pass);
    assert_eq!(eval_status(&format!("eval instant at 0 foo\n  expect warn msg: {w}\n{body}"), &f), Status::Pass);
    assert_eq!(eval_status(&format!("eval instant at 0 foo\n  expect warn regex: mix of .* \\(1:\\d+\\)\n{body}"), &f), Status::Pass);
    assert_fail(eval_status(&format!("eval instant at 0 foo\n  expect warn msg: other\n{body}"), &f), "expected a warning matching msg: \"other\"");
    // Unchecked without an expectation.
    assert_eq!(eval_status(&format!("eval instant at 0 foo\n{body}"), &f), Status::Pass);
    assert_fail(eval_status(&format!("eval instant at 0 foo\n  expect no_warn\n{body}"), &f), "expected no warnings");
    // Each annotation must be matched by some line.
    let f2 = Fake { warnings: vec![w.into(), "PromQL warning: other (1:1)".into()], ..fake(&[(FOO, 1.0)]) };
    assert_fail(eval_status(&format!("eval instant at 0 foo\n  expect warn regex: mix\n{body}"), &f2), "unexpected warning \"PromQL warning: other (1:1)\"");
    // Infos likewise.
    let fi = Fake { infos: vec!["PromQL info: metric might not be a counter (1:6)".into()], ..fake(&[(FOO, 1.0)]) };
    assert_eq!(eval_status(&format!("eval instant at 0 foo\n  expect info\n{body}"), &fi), Status::Pass);
    assert_fail(eval_status(&format!("eval instant at 0 foo\n  expect no_info\n{body}"), &fi), "expected no infos");
    assert_fail(eval_status(&format!("eval instant at 0 foo\n  expect info\n{body}"), &fake(&[(FOO, 1.0)])), "expected at least one info, got none");
}

#[test]
fn at_variants_are_checked_and_named() {
    let f = Fake { wrong_at_variants: true, ..fake(&[(FOO, 1.0)]) };
    let s = eval_status("eval instant at 1m rate(foo[5m] offset 1m) + foo\n  foo{job=\"a\"} 1\n", &f);
    assert_fail(s, "[@ variant \"rate(foo[5m] offset 1m @ 60) + foo @ 60\" at -600s]");
}

#[test]
fn at_variants_are_skipped_for_time_functions() {
    let f = Fake { wrong_at_variants: true, ..fake(&[(FOO, 1.0)]) };
    assert_eq!(eval_status("eval instant at 1m foo + time()\n  foo{job=\"a\"} 1\n", &f), Status::Pass);
}

#[test]
fn at_rewrite_leaves_subquery_contents_and_existing_at_alone() {
    let q = "max_over_time(rate(x[1m])[5m:30s]) + y @ 100 + z offset 1m + sum(w)";
    let ast = parser::parse(q).unwrap();
    assert_eq!(with_at(q, &ast, 1500), "max_over_time(rate(x[1m])[5m:30s] @ 1.500) + y @ 100 + z offset 1m @ 1.500 + sum(w @ 1.500)");
    assert!(parser::parse(&with_at(q, &ast, 1500)).is_ok());
}

#[test]
fn range_mode_check_needs_sorted_results() {
    let f = Fake { unsorted_range: true, ..fake(&[(FOO, 1.0), (BAR, 2.0)]) };
    let s = eval_status("eval instant at 0 foo\n  foo{job=\"a\"} 1\n  foo{job=\"b\"} 2\n", &f);
    assert_fail(s, "[range-mode check at 0s] result series are not sorted by labels");
}

#[test]
fn range_mode_compares_a_scalar_with_the_single_series() {
    let f = Fake { scalar: Some(2.0), ..Fake::default() };
    assert_eq!(eval_status("eval instant at 1m 2\n  2\n", &f), Status::Pass);
    assert!(f.calls.borrow().iter().any(|c| c == "range 2 0 120000 60000"));
}

#[test]
fn expect_range_vector_evaluates_at_the_window_end() {
    let m = vec![Series { metric: labels(FOO), points: vec![(0, 1.0), (60_000, 2.0)] }];
    let f = Fake { matrix: Some(m), ..Fake::default() };
    let text = "eval instant at 10m foo[1m]\n  expect range vector from 0 to 1m step 1m\n  foo{job=\"a\"} 1 2\n";
    assert_eq!(eval_status(text, &f), Status::Pass);
    assert_eq!(f.calls.borrow()[0], "instant foo[1m] 60000");
    // No range-mode check for range vectors.
    assert!(f.calls.borrow().iter().all(|c| c.starts_with("instant")));
    let text = "eval instant at 10m foo[1m]\n  expect range vector from 0 to 1m step 1m\n  foo{job=\"a\"} 1 3\n";
    assert_fail(eval_status(text, &f), "at 60s: expected 3, got 2");
    let text = "eval instant at 10m foo[1m]\n  expect range vector from 0 to 1m step 1m\n  foo{job=\"a\"} 1 _\n";
    assert_fail(eval_status(text, &f), "expected 1 points, got 2");
}

// ---- range evals ----

#[test]
fn range_eval_compares_matrices() {
    let f = fake(&[(FOO, 1.0), (BAR, 2.0)]);
    // Series order in the file is irrelevant.
    let ok = "eval range from 0 to 2m step 1m foo\n  foo{job=\"b\"} 2x2\n  foo{job=\"a\"} 1 1 1\n";
    assert_eq!(eval_status(ok, &f), Status::Pass);
    // A range eval runs once, with no variants.
    assert_eq!(f.calls.borrow().len(), 1);
    assert_fail(eval_status("eval range from 0 to 2m step 1m foo\n  foo{job=\"b\"} 2x2\n  foo{job=\"a\"} 1 5 1\n", &f), "at 60s: expected 5, got 1");
    // `_` means no point; a shorter line means no points after it.
    assert_fail(eval_status("eval range from 0 to 2m step 1m foo\n  foo{job=\"b\"} 2x2\n  foo{job=\"a\"} 1 _ 1\n", &f), "expected 2 points, got 3");
    assert_fail(eval_status("eval range from 0 to 2m step 1m foo\n  foo{job=\"b\"} 2x2\n  foo{job=\"a\"} 1 1\n", &f), "expected 2 points, got 3");
    assert_fail(
        eval_status("eval range from 0 to 2m step 1m foo\n  foo{job=\"b\"} 2x2\n  foo{job=\"a\"} 1x3\n", &f),
        "4 expected values but the query has only 3 steps",
    );
    assert_fail(eval_status("eval range from 0 to 2m step 1m foo\n  foo{job=\"a\"} 1x2\n", &f), "unexpected series");
    assert_fail(eval_status("eval range from 0 to 2m step 1m foo\n", &f), "expected an empty result, got matrix");
    assert_eq!(eval_status("eval range from 0 to 2m step 1m foo\n", &fake(&[])), Status::Pass);
    let unsorted = Fake { unsorted_range: true, ..fake(&[(FOO, 1.0), (BAR, 2.0)]) };
    assert_fail(eval_status(ok, &unsorted), "[range query] result series are not sorted");
}

#[test]
fn range_eval_errors_and_annotations() {
    let f = Fake { error: Some("boom".into()), ..Fake::default() };
    assert_eq!(eval_status("eval range from 0 to 2m step 1m foo\n  expect fail msg: boom\n", &f), Status::Pass);
    assert_fail(eval_status("eval range from 0 to 2m step 1m foo\n", &f), "[range query] unexpected error: boom");
    let w = Fake { warnings: vec!["PromQL warning: w (1:1)".into()], ..fake(&[(FOO, 1.0)]) };
    assert_fail(eval_status("eval range from 0 to 1m step 1m foo\n  expect no_warn\n  foo{job=\"a\"} 1 1\n", &w), "expected no warnings");
}
