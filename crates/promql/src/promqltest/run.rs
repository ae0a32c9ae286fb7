//! The runner for parsed PromQL test scripts: loads a [`Script`]'s data into
//! a storage the caller provides, runs its evals through a [`QueryEngine`]
//! and decides, by the rules of `shared/conformance/README.md` ("What a
//! passing eval means" and "Extra checks on every instant eval"), whether
//! each command passed.
//!
//! This module owns result comparison, the instant-eval variants (`@`
//! rewrites and the range-mode check) and the outcome report. It must not
//! evaluate PromQL itself (that is [`crate::engine`]'s job), must not change
//! the script grammar ([`super::script`]) and must not depend on a concrete
//! storage: the caller hands in a [`TestStorage`] factory, so that this crate
//! stays free of `tsdb`.
//!
//! What storage cannot hold yet (native histograms, `load_with_nhcb`'s
//! conversion, start timestamps) makes the `load` "skipped", with a reason;
//! its float samples are still written, and later evals are judged as usual,
//! so evals that depended on the missing data show up as failures.

use std::fmt;

use model::{Labels, Timestamp};
use regex::Regex;
use storage::SeriesRef;

use super::script::{self, AnnotationExpectation, Command, Eval, EvalKind, ExpectedResult, ExpectedSeries, Load, MessageMatch, Point, RangeWindow, Script};
use crate::engine::{Engine, QueryError, QueryResult, Sample, Series, Value};
use crate::parser::{self, Expr};

/// What runs queries: the real [`Engine`], or a fake in tests.
pub trait QueryEngine {
    fn instant(&self, q: &dyn storage::Queryable, query: &str, t: i64) -> Result<QueryResult, QueryError>;
    fn range(&self, q: &dyn storage::Queryable, query: &str, start: i64, end: i64, step: i64) -> Result<QueryResult, QueryError>;
}

impl QueryEngine for Engine {
    fn instant(&self, q: &dyn storage::Queryable, query: &str, t: i64) -> Result<QueryResult, QueryError> {
        Engine::instant(self, q, query, t)
    }

    fn range(&self, q: &dyn storage::Queryable, query: &str, start: i64, end: i64, step: i64) -> Result<QueryResult, QueryError> {
        Engine::range(self, q, query, start, end, step)
    }
}

/// One empty storage, as a script sees it between two `clear`s. Anything
/// that both appends and queries is one.
pub trait TestStorage {
    fn appendable(&self) -> &dyn storage::Appendable;
    fn queryable(&self) -> &dyn storage::Queryable;
}

impl<T: storage::Appendable + storage::Queryable> TestStorage for T {
    fn appendable(&self) -> &dyn storage::Appendable {
        self
    }
    fn queryable(&self) -> &dyn storage::Queryable {
        self
    }
}

/// Makes a fresh, empty storage; called once at the start of a script and
/// again at every `clear`. Fallible because opening a real storage is.
pub type StorageFactory<'a> = &'a mut dyn FnMut() -> Result<Box<dyn TestStorage>, storage::StorageError>;

/// How one command ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Status {
    Pass,
    /// Why it failed: which check, what was expected and what came back.
    Fail(String),
    /// Not (fully) run, and why: data the storage cannot hold, notation the
    /// script parser leaves to a later version, or an earlier failed `load`.
    Skipped(String),
}

/// Which command an outcome belongs to. `clear` is not reported: it cannot
/// fail short of the storage failing to open, which fails the next command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandKind {
    Load,
    Eval,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CommandOutcome {
    /// The 1-based line the command starts on.
    pub line: usize,
    pub kind: CommandKind,
    pub status: Status,
}

/// What running one script gave.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ScriptOutcome {
    /// The script did not parse, or one of its queries did not: the README
    /// makes the whole file invalid then, and nothing runs.
    pub invalid: Option<script::ScriptError>,
    /// One entry per `load` and `eval`, in file order.
    pub commands: Vec<CommandOutcome>,
}

impl ScriptOutcome {
    pub fn passed(&self) -> usize {
        self.count(|s| matches!(s, Status::Pass))
    }

    /// Failed commands; an invalid script counts as one failure.
    pub fn failed(&self) -> usize {
        self.count(|s| matches!(s, Status::Fail(_))) + usize::from(self.invalid.is_some())
    }

    pub fn skipped(&self) -> usize {
        self.count(|s| matches!(s, Status::Skipped(_)))
    }

    fn count(&self, f: impl Fn(&Status) -> bool) -> usize {
        self.commands.iter().filter(|c| f(&c.status)).count()
    }

    /// Every command ran and passed.
    pub fn all_passed(&self) -> bool {
        self.invalid.is_none() && self.commands.iter().all(|c| c.status == Status::Pass)
    }

    /// One line for the report: `PASS file (N commands)`, `FAIL file: line L:
    /// ...` naming the first failure, or `SKIP file (...)` when nothing failed
    /// but something was skipped.
    pub fn summary_line(&self, file: &str) -> String {
        if let Some(e) = &self.invalid {
            return format!("FAIL {file}: line {}: invalid script: {}", e.line, e.message);
        }
        let first = |want: fn(&Status) -> Option<&String>| self.commands.iter().find_map(|c| want(&c.status).map(|m| (c.line, m)));
        if let Some((line, msg)) = first(|s| if let Status::Fail(m) = s { Some(m) } else { None }) {
            return format!("FAIL {file}: line {line}: {msg}");
        }
        if let Some((line, msg)) = first(|s| if let Status::Skipped(m) = s { Some(m) } else { None }) {
            return format!("SKIP {file} ({} passed, {} skipped; first skipped: line {line}: {msg})", self.passed(), self.skipped());
        }
        format!("PASS {file} ({} commands)", self.commands.len())
    }
}

/// Command counts over several scripts, for the report's last line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Totals {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
}

impl Totals {
    pub fn add(&mut self, o: &ScriptOutcome) {
        self.passed += o.passed();
        self.failed += o.failed();
        self.skipped += o.skipped();
    }

    pub fn all_passed(&self) -> bool {
        self.failed == 0 && self.skipped == 0
    }
}

impl fmt::Display for Totals {
    /// `N passed, M failed`, plus `, K skipped` when there are any.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} passed, {} failed", self.passed, self.failed)?;
        if self.skipped > 0 {
            write!(f, ", {} skipped", self.skipped)?;
        }
        Ok(())
    }
}

/// Parses `text` as a script and runs it.
/// The engine settings the upstream scripts assume (the README's "Engine
/// settings the scripts assume"): 5 m lookback, a 10,000-sample limit,
/// experimental functions and delayed name removal.
pub fn script_engine() -> crate::engine::Engine {
    crate::engine::Engine::new(crate::engine::EngineOptions {
        lookback_delta_ms: 5 * 60 * 1000,
        max_samples: 10_000,
        delayed_name_removal: true,
        experimental_functions: true,
    })
}

pub fn run_source(text: &str, engine: &dyn QueryEngine, new_storage: StorageFactory<'_>) -> ScriptOutcome {
    match script::parse(text) {
        Ok(s) => run_script(&s, engine, new_storage),
        Err(e) => ScriptOutcome { invalid: Some(e), commands: Vec::new() },
    }
}

/// Runs every command of `script` in order against fresh storage.
pub fn run_script(script: &Script, engine: &dyn QueryEngine, new_storage: StorageFactory<'_>) -> ScriptOutcome {
    // The README: every eval query is parsed before anything runs, and one
    // that does not parse makes the whole file invalid.
    let mut asts = Vec::new();
    for c in &script.commands {
        if let Command::Eval(e) = &c.command {
            match parser::parse(&e.expr) {
                Ok(ast) => asts.push(ast),
                Err(err) => {
                    let message = format!("query {:?} does not parse: {err}", e.expr);
                    return ScriptOutcome { invalid: Some(script::ScriptError { line: c.line, message }), commands: Vec::new() };
                }
            }
        }
    }
    let mut asts = asts.into_iter();
    let mut outcome = ScriptOutcome::default();
    let mut storage = new_storage();
    // Set once a load fails: upstream stops the file there.
    let mut stopped: Option<String> = None;
    for c in &script.commands {
        let (kind, status) = match &c.command {
            Command::Clear => {
                storage = new_storage();
                continue;
            }
            Command::Load(load) => (CommandKind::Load, run_load_command(load, &storage, stopped.as_deref())),
            Command::Eval(eval) => {
                // One AST per eval, in order, even for evals that do not run.
                let ast = asts.next();
                let status = match (&stopped, &storage, ast) {
                    (Some(why), ..) => Status::Skipped(why.clone()),
                    (None, Err(e), _) => Status::Fail(format!("no storage: {e}")),
                    (None, Ok(st), Some(ast)) => run_eval(eval, &ast, engine, st.queryable()),
                    (None, Ok(_), None) => Status::Fail("internal error: no parsed query for this eval".into()),
                };
                (CommandKind::Eval, status)
            }
        };
        if kind == CommandKind::Load && stopped.is_none() && matches!(status, Status::Fail(_)) {
            stopped = Some(format!("not run: the load at line {} failed", c.line));
        }
        outcome.commands.push(CommandOutcome { line: c.line, kind, status });
    }
    outcome
}

fn run_load_command(load: &Load, storage: &Result<Box<dyn TestStorage>, storage::StorageError>, stopped: Option<&str>) -> Status {
    if let Some(why) = stopped {
        return Status::Skipped(why.to_owned());
    }
    match storage {
        Err(e) => Status::Fail(format!("no storage: {e}")),
        Ok(st) => run_load(load, st.appendable()),
    }
}

/// Appends a load's float and stale samples through one appender and
/// commits them together; reports what could not be stored.
fn run_load(load: &Load, appendable: &dyn storage::Appendable) -> Status {
    let mut unsupported: Vec<String> = Vec::new();
    if load.with_nhcb {
        unsupported.push("load_with_nhcb: native histograms with custom buckets cannot be stored yet (the float series were loaded)".into());
    }
    let mut app = appendable.appender();
    for s in &load.series {
        if s.start_offsets.is_some() {
            unsupported.push(format!("line {}: start timestamps cannot be stored yet", s.line));
        }
        let mut hint = SeriesRef::UNKNOWN;
        let mut series_note: Option<String> = None;
        for (t, p) in s.samples(load.interval_ms) {
            if let Some(v) = p.float_value() {
                match app.append(hint, &s.labels, t, v) {
                    Ok(r) => hint = r,
                    Err(e) => {
                        // Dropping the appender would roll back too; say so explicitly.
                        let _ = app.rollback();
                        return Status::Fail(format!("line {}: appending {} at t={}: {e}", s.line, s.labels, fmt_ms(t)));
                    }
                }
            } else if series_note.is_none() {
                series_note = Some(match p {
                    Point::Unsupported { raw, reason } => format!("line {}: {raw}: {reason}", s.line),
                    _ => format!("line {}: native histogram samples cannot be stored yet", s.line),
                });
            }
        }
        unsupported.extend(series_note);
    }
    if let Err(e) = app.commit() {
        return Status::Fail(format!("commit: {e}"));
    }
    match unsupported.len() {
        0 => Status::Pass,
        1 => Status::Skipped(format!("unsupported: {}", unsupported[0])),
        n => Status::Skipped(format!("unsupported: {} (and {} more)", unsupported[0], n - 1)),
    }
}

/// A `msg:`/`regex:` expectation, its regex compiled.
#[derive(Debug)]
enum Matcher {
    Any,
    Exact(String),
    Regex(Regex),
}

impl Matcher {
    fn new(m: &MessageMatch) -> Result<Matcher, String> {
        Ok(match m {
            MessageMatch::Any => Matcher::Any,
            MessageMatch::Exact(s) => Matcher::Exact(s.clone()),
            // Unanchored, as RE2's MatchString is.
            MessageMatch::Regex(r) => Matcher::Regex(Regex::new(r).map_err(|e| format!("invalid regex {r:?}: {e}"))?),
        })
    }

    fn matches(&self, text: &str) -> bool {
        match self {
            Matcher::Any => true,
            Matcher::Exact(s) => s == text,
            Matcher::Regex(r) => r.is_match(text),
        }
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Matcher::Any => f.write_str("any text"),
            Matcher::Exact(s) => write!(f, "msg: {s:?}"),
            Matcher::Regex(r) => write!(f, "regex: {:?}", r.as_str()),
        }
    }
}

/// The annotation expectations of one kind, compiled.
#[derive(Debug)]
enum Annotations {
    Unchecked,
    Forbidden,
    Required(Vec<Matcher>),
}

impl Annotations {
    fn new(a: &AnnotationExpectation) -> Result<Annotations, String> {
        Ok(match a {
            AnnotationExpectation::Unchecked => Annotations::Unchecked,
            AnnotationExpectation::Forbidden => Annotations::Forbidden,
            AnnotationExpectation::Required(ms) => Annotations::Required(ms.iter().map(Matcher::new).collect::<Result<_, _>>()?),
        })
    }

    fn check(&self, kind: &str, got: &[String]) -> Result<(), String> {
        match self {
            Annotations::Unchecked => Ok(()),
            Annotations::Forbidden if got.is_empty() => Ok(()),
            Annotations::Forbidden => Err(format!("expected no {kind}s, got {got:?}")),
            Annotations::Required(_) if got.is_empty() => Err(format!("expected at least one {kind}, got none")),
            Annotations::Required(ms) => {
                if let Some(m) = ms.iter().find(|m| !got.iter().any(|g| m.matches(g))) {
                    return Err(format!("expected a {kind} matching {m}, got {got:?}"));
                }
                if let Some(g) = got.iter().find(|g| !ms.iter().any(|m| m.matches(g))) {
                    let want: Vec<String> = ms.iter().map(ToString::to_string).collect();
                    return Err(format!("unexpected {kind} {g:?}: it matches none of [{}]", want.join(", ")));
                }
                Ok(())
            }
        }
    }
}

/// An eval with its regexes compiled.
#[derive(Debug)]
struct Checker<'a> {
    eval: &'a Eval,
    fail: Option<Matcher>,
    warnings: Annotations,
    infos: Annotations,
}

/// What kind of result a query is judged as.
#[derive(Debug, Clone, Copy)]
enum Shape {
    /// An instant query's vector, scalar or string.
    Instant,
    /// A matrix whose expected value k sits at `start + k * step`.
    Matrix { start: i64, end: i64, step: i64 },
}

/// The functions whose value depends on the evaluation time itself, so
/// pinning selectors with `@` would change the result (the README's list).
const TIME_DEPENDENT_FUNCTIONS: &[&str] = &[
    "time",
    "timestamp",
    "predict_linear",
    "day_of_month",
    "day_of_week",
    "day_of_year",
    "days_in_month",
    "hour",
    "minute",
    "month",
    "year",
    "start",
    "end",
    "range",
    "step",
];

fn run_eval(eval: &Eval, ast: &Expr, engine: &dyn QueryEngine, q: &dyn storage::Queryable) -> Status {
    if let Some(reason) = unsupported_expectation(eval) {
        return Status::Skipped(reason);
    }
    let checker = match Checker::new(eval) {
        Ok(c) => c,
        Err(e) => return Status::Fail(e),
    };
    let result = match eval.kind {
        EvalKind::Range { start_ms, end_ms, step_ms } => {
            let shape = Shape::Matrix { start: start_ms, end: end_ms, step: step_ms };
            checker.check(engine.range(q, &eval.expr, start_ms, end_ms, step_ms), shape, true).map_err(|e| format!("[range query] {e}"))
        }
        EvalKind::Instant { at_ms } => run_instant(&checker, ast, engine, q, at_ms),
    };
    match result {
        Ok(()) => Status::Pass,
        Err(e) => Status::Fail(e),
    }
}

/// The query itself, its range-mode check, then the `@` variants, each with
/// its own range-mode check; the first failure is reported.
fn run_instant(c: &Checker<'_>, ast: &Expr, engine: &dyn QueryEngine, q: &dyn storage::Queryable, at_ms: i64) -> Result<(), String> {
    let eval = c.eval;
    let (t, shape) = match eval.expect.range_vector {
        // `expect range vector` moves the evaluation to the window's end.
        Some(RangeWindow { start_ms, end_ms, step_ms }) => (end_ms, Shape::Matrix { start: start_ms, end: end_ms, step: step_ms }),
        None => (at_ms, Shape::Instant),
    };
    c.check(engine.instant(q, &eval.expr, t), shape, true).map_err(|e| format!("[query at {}] {e}", fmt_ms(t)))?;
    let range_mode = !range_mode_skipped(eval);
    if range_mode {
        c.range_mode(engine, q, &eval.expr, t).map_err(|e| format!("[range-mode check at {}] {e}", fmt_ms(t)))?;
    }
    if uses_time_dependent_function(ast) {
        return Ok(());
    }
    let rewritten = with_at(&eval.expr, ast, t);
    let times: Vec<i64> = if t == 0 { vec![-1000, 0, 1000] } else { vec![-10 * t, 0, t / 5, t, 10 * t] };
    for vt in times {
        // Annotation positions refer to upstream's printed rewrite, which we
        // do not reproduce, so the README lets variants skip annotations.
        c.check(engine.instant(q, &rewritten, vt), shape, false).map_err(|e| format!("[@ variant {rewritten:?} at {}] {e}", fmt_ms(vt)))?;
        if range_mode {
            c.range_mode(engine, q, &rewritten, vt).map_err(|e| format!("[range-mode check of @ variant {rewritten:?} at {}] {e}", fmt_ms(vt)))?;
        }
    }
    Ok(())
}

/// The README's conditions for leaving out the range-mode check.
fn range_mode_skipped(eval: &Eval) -> bool {
    eval.expect.fail.is_some()
        || eval.expect.range_vector.is_some()
        || eval.expect.ordered
        || matches!(eval.result, ExpectedResult::String(_))
        || ["start()", "end()", "range()", "step()"].iter().any(|f| eval.expr.contains(f))
}

/// A reason to skip an eval whose expectations use notation the script
/// parser could not expand; comparing against it would blame the engine.
fn unsupported_expectation(eval: &Eval) -> Option<String> {
    let ExpectedResult::Series(series) = &eval.result else { return None };
    series.iter().find_map(|s| {
        s.values.iter().find_map(|p| match p {
            Point::Unsupported { raw, reason } => Some(format!("line {}: expected value {raw} is not supported by the script parser: {reason}", s.line)),
            _ => None,
        })
    })
}

impl<'a> Checker<'a> {
    fn new(eval: &'a Eval) -> Result<Checker<'a>, String> {
        Ok(Checker {
            eval,
            fail: eval.expect.fail.as_ref().map(Matcher::new).transpose()?,
            warnings: Annotations::new(&eval.expect.warnings)?,
            infos: Annotations::new(&eval.expect.infos)?,
        })
    }

    /// Judges one query's outcome against every expectation of the eval.
    fn check(&self, got: Result<QueryResult, QueryError>, shape: Shape, annotations: bool) -> Result<(), String> {
        let res = match (got, &self.fail) {
            (Err(e), Some(m)) if m.matches(&e.to_string()) => return Ok(()),
            (Err(e), Some(m)) => return Err(format!("expected an error matching {m}, got error {:?}", e.to_string())),
            (Err(e), None) => return Err(format!("unexpected error: {e}")),
            (Ok(r), Some(m)) => return Err(format!("expected an error matching {m}, but the query succeeded with {}", show_value(&r.value))),
            (Ok(r), None) => r,
        };
        if annotations {
            self.warnings.check("warning", &res.warnings)?;
            self.infos.check("info", &res.infos)?;
        }
        self.check_value(&res.value, shape)
    }

    fn check_value(&self, got: &Value, shape: Shape) -> Result<(), String> {
        let expected = &self.eval.result;
        let mismatch = || Err(format!("expected {}, got {}", show_expected(expected), show_value(got)));
        match (shape, expected, got) {
            (Shape::Instant, ExpectedResult::Scalar(want), Value::Scalar { v, .. }) if approx_eq(*want, *v) => Ok(()),
            (Shape::Instant, ExpectedResult::String(want), Value::String { v, .. }) if want == v => Ok(()),
            (Shape::Instant, ExpectedResult::Empty, Value::Vector(got)) if got.is_empty() => Ok(()),
            (Shape::Instant, ExpectedResult::Series(want), Value::Vector(got)) => compare_vector(want, got, self.eval.expect.ordered),
            (Shape::Matrix { .. }, _, Value::Matrix(_)) if self.eval.expect.ordered => Err("`expect ordered` cannot apply to a matrix result".into()),
            (Shape::Matrix { .. }, ExpectedResult::Empty, Value::Matrix(got)) if got.is_empty() => Ok(()),
            (Shape::Matrix { start, end, step }, ExpectedResult::Series(want), Value::Matrix(got)) => compare_matrix(want, got, start, end, step),
            _ => mismatch(),
        }
    }

    /// The README's range-mode check: the query as a range query from t−1m
    /// to t+1m must succeed, be sorted, and its points at exactly `t` must
    /// satisfy the expectation. Annotations are not checked.
    fn range_mode(&self, engine: &dyn QueryEngine, q: &dyn storage::Queryable, query: &str, t: i64) -> Result<(), String> {
        const MINUTE: i64 = 60_000;
        let res = engine.range(q, query, t - MINUTE, t + MINUTE, MINUTE).map_err(|e| format!("unexpected error: {e}"))?;
        let Value::Matrix(series) = &res.value else {
            return Err(format!("a range query returned {} instead of a matrix", res.value.type_name()));
        };
        check_sorted(series)?;
        let at_t: Vec<Sample> =
            series.iter().filter_map(|s| s.points.iter().find(|(pt, _)| *pt == t).map(|&(_, v)| Sample { metric: s.metric.clone(), t, v })).collect();
        match &self.eval.result {
            ExpectedResult::Scalar(want) => match at_t.as_slice() {
                [one] if approx_eq(*want, one.v) => Ok(()),
                _ => Err(format!("expected scalar {} at t, got {}", show_f(*want), show_samples(&at_t))),
            },
            ExpectedResult::Series(want) => compare_vector(want, &at_t, false),
            ExpectedResult::Empty if at_t.is_empty() => Ok(()),
            other => Err(format!("expected {} at t, got {}", show_expected(other), show_samples(&at_t))),
        }
    }
}

fn compare_label_sets<'a>(want: &[ExpectedSeries], got: impl Iterator<Item = &'a Labels> + Clone) -> Result<(), String> {
    let got_n = got.clone().count();
    if let Some(w) = want.iter().find(|w| !got.clone().any(|g| *g == w.labels)) {
        return Err(format!("missing series {} (line {}); got series {}", w.labels, w.line, show_labels(got)));
    }
    if let Some(g) = got.clone().find(|g| !want.iter().any(|w| w.labels == **g)) {
        return Err(format!("unexpected series {g}; expected series {}", show_labels(want.iter().map(|w| &w.labels))));
    }
    if got_n != want.len() {
        return Err(format!("expected {} series, got {got_n} (the result repeats a label set)", want.len()));
    }
    Ok(())
}

fn compare_vector(want: &[ExpectedSeries], got: &[Sample], ordered: bool) -> Result<(), String> {
    compare_label_sets(want, got.iter().map(|s| &s.metric))?;
    for w in want {
        let Some(g) = got.iter().find(|g| g.metric == w.labels) else { continue };
        match w.values.first() {
            Some(p @ (Point::Float(_) | Point::Stale)) => {
                let want_v = p.float_value().unwrap_or(f64::NAN);
                if !approx_eq(want_v, g.v) {
                    return Err(format!("{}: expected {}, got {}", w.labels, show_point(p), show_f(g.v)));
                }
            }
            Some(p) => return Err(format!("{}: expected {}, got float {}", w.labels, show_point(p), show_f(g.v))),
            None => return Err(format!("line {}: series {} has no expected value", w.line, w.labels)),
        }
    }
    if ordered {
        if let Some((i, (w, g))) = want.iter().zip(got).enumerate().find(|(_, (w, g))| w.labels != g.metric) {
            return Err(format!("expected ordered results: position {i} should be {}, got {}", w.labels, g.metric));
        }
    }
    Ok(())
}

fn check_sorted(series: &[Series]) -> Result<(), String> {
    match series.windows(2).find(|w| w[0].metric > w[1].metric) {
        Some(w) => Err(format!("result series are not sorted by labels: {} comes before {}", w[0].metric, w[1].metric)),
        None => Ok(()),
    }
}

fn compare_matrix(want: &[ExpectedSeries], got: &[Series], start: i64, end: i64, step: i64) -> Result<(), String> {
    check_sorted(got)?;
    compare_label_sets(want, got.iter().map(|s| &s.metric))?;
    let steps = if step > 0 { (end - start) / step + 1 } else { 1 };
    for w in want {
        if w.values.len() as i64 > steps {
            return Err(format!("line {}: {} expected values but the query has only {steps} steps", w.line, w.values.len()));
        }
        let Some(g) = got.iter().find(|g| g.metric == w.labels) else { continue };
        let mut floats = Vec::new();
        let mut histograms = 0;
        for (k, p) in w.values.iter().enumerate() {
            let t = start + k as i64 * step;
            match p {
                Point::Missing => {}
                Point::Float(_) | Point::Stale => floats.push((t, p)),
                Point::Histogram(_) | Point::Unsupported { .. } => histograms += 1,
            }
        }
        let mismatch = |why: String| {
            let want_s: Vec<String> = floats.iter().map(|(t, p)| format!("{}@{}", show_point(p), fmt_ms(*t))).collect();
            let got_s: Vec<String> = g.points.iter().map(|(t, v)| format!("{}@{}", show_f(*v), fmt_ms(*t))).collect();
            Err(format!("{}: {why}: expected float points [{}], got [{}]", w.labels, want_s.join(" "), got_s.join(" ")))
        };
        if histograms > 0 {
            return mismatch(format!("expected {histograms} histogram points, got none (results hold floats only)"));
        }
        if floats.len() != g.points.len() {
            return mismatch(format!("expected {} points, got {}", floats.len(), g.points.len()));
        }
        for ((wt, p), (gt, gv)) in floats.iter().zip(&g.points) {
            if wt != gt {
                return mismatch(format!("expected a point at {}, got one at {}", fmt_ms(*wt), fmt_ms(*gt)));
            }
            if !approx_eq(p.float_value().unwrap_or(f64::NAN), *gv) {
                return mismatch(format!("at {}: expected {}, got {}", fmt_ms(*wt), show_point(p), show_f(*gv)));
            }
        }
    }
    Ok(())
}

/// The README's "approximately equal": stale only equals stale, NaN equals
/// NaN, otherwise a relative tolerance of 1e-6 (exact near zero).
pub fn approx_eq(a: f64, b: f64) -> bool {
    const EPSILON: f64 = 1e-6;
    const MIN_NORMAL: f64 = 2.2250738585072014e-308;
    if model::value::is_stale_nan(a) || model::value::is_stale_nan(b) {
        return model::value::is_stale_nan(a) && model::value::is_stale_nan(b);
    }
    if a.is_nan() || b.is_nan() {
        return a.is_nan() && b.is_nan();
    }
    if a == b {
        return true;
    }
    let sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || sum < MIN_NORMAL {
        return diff < EPSILON * MIN_NORMAL;
    }
    diff / sum.min(f64::MAX) < EPSILON
}

/// Whether the query calls a function whose result depends on the
/// evaluation time, which the `@` variants would change.
fn uses_time_dependent_function(e: &Expr) -> bool {
    let mut found = false;
    walk(e, &mut |e| {
        if let Expr::Call { func, .. } = e {
            found |= TIME_DEPENDENT_FUNCTIONS.contains(&func.name);
        }
        true
    });
    found
}

/// Calls `f` on `e` and, while `f` returns true, on its children.
fn walk(e: &Expr, f: &mut dyn FnMut(&Expr) -> bool) {
    if !f(e) {
        return;
    }
    match e {
        Expr::Number { .. } | Expr::String { .. } | Expr::Vector(_) | Expr::Matrix { .. } => {}
        Expr::Subquery { expr, .. } | Expr::Unary { expr, .. } | Expr::Paren { expr, .. } => walk(expr, f),
        Expr::Binary { lhs, rhs, .. } => {
            walk(lhs, f);
            walk(rhs, f);
        }
        Expr::Call { args, .. } => args.iter().for_each(|a| walk(a, f)),
        Expr::Aggregate { expr, param, .. } => {
            if let Some(p) = param {
                walk(p, f);
            }
            walk(expr, f);
        }
    }
}

/// The query with `@ <t in seconds>` after every vector selector, range
/// selector and subquery that has no `@` yet, nothing inside a subquery
/// touched. Done on the text, at the end of each node's span (which covers
/// its `offset`), rather than by printing the tree: we have no printer, and
/// `x offset 1m @ 10` is valid PromQL.
fn with_at(query: &str, ast: &Expr, t: i64) -> String {
    let mut ends = Vec::new();
    walk(ast, &mut |e| match e {
        Expr::Vector(vs) => {
            if vs.at.is_none() {
                ends.push(vs.span.end);
            }
            false
        }
        Expr::Matrix { vs, span, .. } => {
            if vs.at.is_none() {
                ends.push(span.end);
            }
            false
        }
        Expr::Subquery { at, span, .. } => {
            if at.is_none() {
                ends.push(span.end);
            }
            false
        }
        _ => true,
    });
    ends.sort_unstable();
    let at = format!(" @ {}", fmt_seconds(t));
    let mut out = String::with_capacity(query.len() + ends.len() * at.len());
    let mut last = 0;
    for end in ends {
        // Spans come from the parser of this very text, so they are in
        // bounds and on character boundaries; `get` keeps a bad one harmless.
        if let Some(part) = query.get(last..end) {
            out.push_str(part);
            out.push_str(&at);
            last = end;
        }
    }
    out.push_str(query.get(last..).unwrap_or(""));
    out
}

/// Milliseconds as PromQL seconds with millisecond precision, e.g. `600.5`.
fn fmt_seconds(ms: i64) -> String {
    let sign = if ms < 0 { "-" } else { "" };
    let (s, frac) = (ms.unsigned_abs() / 1000, ms.unsigned_abs() % 1000);
    if frac == 0 { format!("{sign}{s}") } else { format!("{sign}{s}.{frac:03}") }
}

/// A timestamp for messages: `600s` rather than `600000`.
fn fmt_ms(ms: Timestamp) -> String {
    format!("{}s", fmt_seconds(ms))
}

fn show_f(v: f64) -> String {
    if model::value::is_stale_nan(v) { "stale".into() } else { format!("{v}") }
}

fn show_point(p: &Point) -> String {
    match p {
        Point::Float(v) => show_f(*v),
        Point::Stale => "stale".into(),
        Point::Missing => "_".into(),
        Point::Histogram(h) => format!("histogram {h:?}"),
        Point::Unsupported { raw, .. } => raw.clone(),
    }
}

fn show_labels<'a>(labels: impl Iterator<Item = &'a Labels>) -> String {
    let all: Vec<String> = labels.map(ToString::to_string).collect();
    if all.is_empty() { "none".into() } else { all.join(", ") }
}

fn show_samples(samples: &[Sample]) -> String {
    let all: Vec<String> = samples.iter().map(|s| format!("{} {}", s.metric, show_f(s.v))).collect();
    format!("vector [{}]", all.join(", "))
}

fn show_expected(e: &ExpectedResult) -> String {
    match e {
        ExpectedResult::Empty => "an empty result".into(),
        ExpectedResult::Scalar(v) => format!("scalar {}", show_f(*v)),
        ExpectedResult::String(s) => format!("string {s:?}"),
        ExpectedResult::Series(s) => {
            let all: Vec<String> = s.iter().map(|s| format!("{} {}", s.labels, s.values.iter().map(show_point).collect::<Vec<_>>().join(" "))).collect();
            format!("[{}]", all.join(", "))
        }
    }
}

fn show_value(v: &Value) -> String {
    match v {
        Value::Scalar { v, .. } => format!("scalar {}", show_f(*v)),
        Value::String { v, .. } => format!("string {v:?}"),
        Value::Vector(s) => show_samples(s),
        Value::Matrix(series) => {
            let all: Vec<String> = series
                .iter()
                .map(|s| format!("{} [{}]", s.metric, s.points.iter().map(|(t, v)| format!("{}@{}", show_f(*v), fmt_ms(*t))).collect::<Vec<_>>().join(" ")))
                .collect();
            format!("matrix [{}]", all.join(", "))
        }
    }
}

#[cfg(test)]
mod tests;
