//! The PromQL evaluator: instant and range queries over any
//! `storage::Queryable`, with Prometheus 3.x semantics.

mod eval;
mod funcs;
mod memo;
mod value;

pub use eval::format_value;
pub use value::{QueryResult, QueryStats, Sample, Series, Value};

use std::collections::HashMap;

use model::Labels;

use crate::parser::ParseError;
use eval::{Evaluator, Val};

/// Engine settings, from the server's `--query.*` flags.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// `--query.lookback-delta`: how far back an instant selector looks.
    pub lookback_delta_ms: i64,
    /// `--query.max-samples`.
    pub max_samples: usize,
    /// Prometheus's `promql-delayed-name-removal` feature: `__name__` is
    /// dropped at the end of evaluation instead of by each function or
    /// operator. The upstream test scripts assume it.
    pub delayed_name_removal: bool,
    /// `promql-experimental-functions`.
    pub experimental_functions: bool,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions { lookback_delta_ms: 5 * 60 * 1000, max_samples: 50_000_000, delayed_name_removal: false, experimental_functions: false }
    }
}

/// Why a query failed, in Prometheus's words.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum QueryError {
    /// The query does not parse or type-check (`bad_data`).
    #[error("{0}")]
    Parse(#[from] ParseError),
    /// A query that parses but cannot be run as asked, e.g. a range query
    /// of a range vector (`bad_data`).
    #[error("{0}")]
    BadRequest(String),
    /// Evaluation failed (`execution`), e.g. many-to-many matching.
    #[error("{0}")]
    Execution(String),
    #[error("query processing would load too many samples into memory in query execution")]
    TooManySamples,
    /// `--query.timeout` passed (`timeout`, HTTP 503).
    #[error("query timed out in expression evaluation")]
    Timeout,
    /// The client went away.
    #[error("query was canceled in expression evaluation")]
    Canceled,
    /// Reading from storage failed.
    #[error("{0}")]
    Storage(String),
}

/// A running query's limits: a deadline (`--query.timeout`) and a flag the
/// HTTP layer raises when the client goes away. Checked between steps and
/// before every storage read.
#[derive(Debug, Clone, Default)]
pub struct Control {
    pub deadline: Option<std::time::Instant>,
    pub canceled: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Control {
    pub(crate) fn check(&self) -> Result<(), QueryError> {
        if self.canceled.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(QueryError::Canceled);
        }
        match self.deadline {
            Some(d) if std::time::Instant::now() >= d => Err(QueryError::Timeout),
            _ => Ok(()),
        }
    }
}

/// Evaluates queries. Cheap to share; holds no per-query state.
#[derive(Debug, Clone, Default)]
pub struct Engine {
    pub opts: EngineOptions,
}

impl Engine {
    pub fn new(opts: EngineOptions) -> Engine {
        Engine { opts }
    }

    /// Evaluates `query` at `t` (ms since the epoch).
    pub fn instant(&self, q: &dyn storage::Queryable, query: &str, t: i64) -> Result<QueryResult, QueryError> {
        self.instant_with(q, query, t, &Control::default())
    }

    /// Parses `query` and refuses experimental functions unless enabled,
    /// as Prometheus does without `--enable-feature=promql-experimental-functions`.
    /// Public so that endpoints which only parse (`/api/v1/format_query`)
    /// accept exactly the queries this engine would.
    pub fn parse(&self, query: &str) -> Result<crate::parser::Expr, QueryError> {
        let expr = crate::parser::parse(query)?;
        if !self.opts.experimental_functions {
            if let Some((name, start)) = first_experimental(&expr) {
                return Err(QueryError::Parse(ParseError::at(query, start, format!("function {name:?} is not enabled"))));
            }
        }
        Ok(expr)
    }

    /// [`Engine::instant`] under a deadline and cancellation.
    pub fn instant_with(&self, q: &dyn storage::Queryable, query: &str, t: i64, ctl: &Control) -> Result<QueryResult, QueryError> {
        let begun = std::time::Instant::now();
        let expr = self.parse(query)?;
        let prepare = begun.elapsed();
        let querier = q.querier(i64::MIN / 2, i64::MAX / 2).map_err(|e| QueryError::Storage(e.to_string()))?;
        let mut ev = Evaluator::new(querier.as_ref(), query, ctl, &self.opts, t, t, 0);
        let value = match ev.eval(&expr, t)? {
            Val::Scalar(v) => Value::Scalar { t, v },
            Val::Str(v) => Value::String { t, v },
            Val::Vector(v) => Value::Vector(finish_vector(v, t)?),
            Val::Matrix { series, .. } => Value::Matrix(finish_matrix(series)?),
        };
        let stats = ev.stats(prepare, begun.elapsed() - prepare, std::time::Duration::ZERO);
        Ok(QueryResult { value, warnings: dedup(ev.warnings), infos: dedup(ev.infos), stats })
    }

    /// Evaluates `query` at every `step` from `start` to `end` (ms); the
    /// value is always a matrix, as in Prometheus's range API.
    pub fn range(&self, q: &dyn storage::Queryable, query: &str, start: i64, end: i64, step: i64) -> Result<QueryResult, QueryError> {
        self.range_with(q, query, start, end, step, &Control::default())
    }

    /// [`Engine::range`] under a deadline and cancellation.
    pub fn range_with(&self, q: &dyn storage::Queryable, query: &str, start: i64, end: i64, step: i64, ctl: &Control) -> Result<QueryResult, QueryError> {
        let begun = std::time::Instant::now();
        let expr = self.parse(query)?;
        let kind = expr.value_type();
        if kind != crate::parser::ValueType::Scalar && kind != crate::parser::ValueType::Vector {
            return Err(QueryError::BadRequest(format!(
                "invalid expression type {:?} for range query, must be Scalar or instant Vector",
                if kind == crate::parser::ValueType::Matrix { "range vector" } else { kind.as_str() }
            )));
        }
        if step <= 0 {
            return Err(QueryError::BadRequest("zero or negative query resolution step widths are not accepted. Try a positive integer".into()));
        }
        let prepare = begun.elapsed();
        let querier = q.querier(i64::MIN / 2, i64::MAX / 2).map_err(|e| QueryError::Storage(e.to_string()))?;
        let mut ev = Evaluator::new(querier.as_ref(), query, ctl, &self.opts, start, end, step);
        let mut series: Vec<eval::M> = Vec::new();
        // Output series by label identity: most come back at every step as
        // the same allocation, and are then found without hashing labels.
        let mut by_identity: HashMap<(usize, bool), (Labels, usize), eval::IdHash> = HashMap::default();
        let mut index: HashMap<(Labels, bool), usize> = HashMap::new();
        let mut t = start;
        while t <= end {
            ctl.check()?;
            let samples = match ev.eval(&expr, t)? {
                Val::Scalar(v) => vec![eval::S { metric: Labels::empty(), v, ts: t, drop_name: false }],
                Val::Vector(v) => v,
                _ => return Err(QueryError::Execution("range query over a non-vector expression".into())),
            };
            for s in samples {
                let id = (s.metric.identity(), s.drop_name);
                let i = match by_identity.get(&id) {
                    Some((_, i)) if id.0 != 0 => *i,
                    _ => {
                        let key = (s.metric.clone(), s.drop_name);
                        let i = *index.entry(key).or_insert_with(|| {
                            series.push(eval::M { metric: s.metric.clone(), points: Vec::new(), drop_name: s.drop_name });
                            series.len() - 1
                        });
                        if id.0 != 0 && by_identity.len() < 1 << 20 {
                            by_identity.insert(id, (s.metric.clone(), i));
                        }
                        i
                    }
                };
                series[i].points.push((t, s.v));
            }
            ev.next_step();
            t += step;
        }
        let evaluated = begun.elapsed();
        let value = Value::Matrix(finish_matrix(series)?);
        let stats = ev.stats(prepare, evaluated - prepare, begun.elapsed() - evaluated);
        Ok(QueryResult { value, warnings: dedup(ev.warnings), infos: dedup(ev.infos), stats })
    }
}

/// Annotations once each, in the order first given (Prometheus keeps them
/// in a set).
fn dedup(mut v: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    v.retain(|s| seen.insert(s.clone()));
    v
}

/// The first call of an experimental function in `e`, with its position.
fn first_experimental(e: &crate::parser::Expr) -> Option<(&'static str, usize)> {
    use crate::parser::Expr;
    match e {
        Expr::Call { func, args, span } => {
            if func.experimental {
                return Some((func.name, span.start));
            }
            args.iter().find_map(first_experimental)
        }
        Expr::Paren { expr, .. } | Expr::Unary { expr, .. } | Expr::Subquery { expr, .. } => first_experimental(expr),
        Expr::Binary { lhs, rhs, .. } => first_experimental(lhs).or_else(|| first_experimental(rhs)),
        Expr::Aggregate { expr, param, .. } => param.as_deref().and_then(first_experimental).or_else(|| first_experimental(expr)),
        Expr::Number { .. } | Expr::String { .. } | Expr::Vector(_) | Expr::Matrix { .. } => None,
    }
}

/// Drops the names marked for delayed removal and checks that no two
/// series ended up with the same labels.
fn finish_vector(v: Vec<eval::S>, t: i64) -> Result<Vec<Sample>, QueryError> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(v.len());
    for s in v {
        let metric = if s.drop_name { eval::without_name(&s.metric) } else { s.metric };
        if !seen.insert(metric.clone()) {
            return Err(QueryError::Execution("vector cannot contain metrics with the same labelset".into()));
        }
        out.push(Sample { metric, t, v: s.v });
    }
    Ok(out)
}

/// Drops delayed names, merges what became one series, and sorts by
/// labels as Prometheus's range API does.
fn finish_matrix(m: Vec<eval::M>) -> Result<Vec<Series>, QueryError> {
    let mut merged: Vec<Series> = Vec::with_capacity(m.len());
    let mut index: HashMap<Labels, usize> = HashMap::new();
    for s in m {
        let metric = if s.drop_name { eval::without_name(&s.metric) } else { s.metric };
        match index.get(&metric) {
            Some(&i) => {
                // Two series that differ only by a dropped name collide
                // where their points overlap.
                let existing = &mut merged[i].points;
                for p in s.points {
                    if existing.iter().any(|e| e.0 == p.0) {
                        return Err(QueryError::Execution("vector cannot contain metrics with the same labelset".into()));
                    }
                    existing.push(p);
                }
                existing.sort_by_key(|p| p.0);
            }
            None => {
                index.insert(metric.clone(), merged.len());
                merged.push(Series { metric, points: s.points });
            }
        }
    }
    merged.sort_by(|a, b| a.metric.cmp(&b.metric));
    Ok(merged)
}
