//! Range queries, series by series: a function of a range selector
//! (`rate(x[5m])`, `max_over_time(x[1h])`) is computed for every step of
//! the query at its first step, walking each series' samples once with a
//! sliding window, and later steps read their column of the table. An
//! instant query is a table of one step, read straight from storage.
//!
//! The per-step evaluator would otherwise copy every window of every series
//! at every step and rebuild every output label set; this is where range
//! queries spend their time. The results are the same by construction:
//! both paths call [`funcs::over_time`] on the same windows.

use model::Labels;

use super::QueryError;
use super::eval::{Evaluator, S, Val, without_name};
use super::funcs::{self, RangeFn};
use crate::parser::functions::Function;
use crate::parser::{Expr, VectorSelector};

/// Tables above this many cells (steps × series) are not built; such a
/// query is evaluated step by step instead, in less memory.
const MAX_CELLS: usize = 50_000_000;

/// One function's values at every step of the query.
pub(crate) struct StepTable {
    /// Output labels, and whether the name is still due to go (delayed
    /// name removal).
    series: Vec<(Labels, bool)>,
    /// Step-major: the value of series `i` at step `k` is at
    /// `k * series.len() + i`; `None` where the window was empty.
    values: Vec<Option<f64>>,
    /// Whether two output series have the same labels, so that each step
    /// must be checked for a collision as Prometheus checks it.
    collide: bool,
}

impl StepTable {
    fn column(&self, k: usize, t: i64) -> Result<Vec<S>, QueryError> {
        let n = self.series.len();
        let row = self.values.get(k * n..(k + 1) * n).unwrap_or_default();
        let out: Vec<S> = row
            .iter()
            .zip(&self.series)
            .filter_map(|(v, (metric, drop_name))| v.map(|v| S { metric: metric.clone(), v, ts: t, drop_name: *drop_name }))
            .collect();
        if self.collide {
            let mut seen = std::collections::HashSet::with_capacity(out.len());
            if !out.iter().all(|s| seen.insert(&s.metric)) {
                return Err(QueryError::Execution("vector cannot contain metrics with the same labelset".into()));
            }
        }
        Ok(out)
    }
}

/// What a call needs to be evaluated series-major: the function, its range
/// selector, and its literal parameters.
struct Plan<'e> {
    f: RangeFn,
    vs: &'e VectorSelector,
    range: i64,
    q0: f64,
    p1: f64,
    p2: f64,
}

fn plan<'e>(func: &Function, args: &'e [Expr]) -> Option<Plan<'e>> {
    let f = RangeFn::resolve(func.name)?;
    let mat_idx = usize::from(f == RangeFn::Quantile);
    let Expr::Matrix { vs, range, .. } = args.get(mat_idx)? else { return None };
    // Parameters must be the same at every step to be read once.
    let mut params = [f64::NAN; 3];
    for (i, a) in args.iter().enumerate() {
        if i == mat_idx {
            continue;
        }
        let Expr::Number { value, .. } = a else { return None };
        params[i] = *value;
    }
    Some(Plan { f, vs, range: *range, q0: params[0], p1: params[1], p2: params[2] })
}

impl Evaluator<'_> {
    /// The call's value at step `t`, from its table (built at the first
    /// step), or `None` when the call does not qualify and must be
    /// evaluated step by step.
    pub(crate) fn memoized_call(&mut self, node: &Expr, func: &'static Function, args: &[Expr], t: i64) -> Option<Result<Val, QueryError>> {
        if self.subquery_depth > 0 || (self.end > self.start && (self.step <= 0 || (t - self.start) % self.step != 0)) {
            return None;
        }
        let key = node as *const Expr as usize;
        if !self.tables.contains_key(&key) {
            let plan = plan(func, args)?;
            let steps = if self.end > self.start { ((self.end - self.start) / self.step + 1) as usize } else { 1 };
            match self.build_table(&plan, args, steps) {
                Ok(Some(table)) => {
                    self.tables.insert(key, table);
                }
                Ok(None) => return None,
                Err(e) => return Some(Err(e)),
            }
        }
        let k = if self.end > self.start { ((t - self.start) / self.step) as usize } else { 0 };
        let table = self.tables.get(&key)?;
        Some(table.column(k, t).map(Val::Vector))
    }

    fn build_table(&mut self, p: &Plan<'_>, args: &[Expr], steps: usize) -> Result<Option<StepTable>, QueryError> {
        self.ctl.check()?;
        let (start, step) = (self.start, self.step.max(1));
        let step_t = move |k: usize| start + k as i64 * step;
        let refs: Vec<i64> = (0..steps).map(|k| self.ref_time(p.vs.at, p.vs.offset, step_t(k))).collect();
        let (Some(&first), Some(&last)) = (refs.iter().min(), refs.iter().max()) else { return Ok(None) };
        let mut data = self.read_storage(p.vs, first - p.range, last)?;
        if data.len().saturating_mul(steps) > MAX_CELLS {
            return Ok(None);
        }
        for (_, pts) in &mut data {
            pts.retain(|(_, v)| !model::value::is_stale_nan(*v));
        }
        let keep_name = matches!(p.f, RangeFn::Last | RangeFn::First);
        let mat_arg = &args[usize::from(p.f == RangeFn::Quantile)];
        if p.f == RangeFn::Quantile && !(0.0..=1.0).contains(&p.q0) {
            let pos = self.position(args[0].span());
            self.warnings.push(format!("PromQL warning: quantile value should be between 0 and 1, got {} {pos}", super::eval::format_value(p.q0)));
        }
        let n = data.len();
        let mut values = vec![None; n * steps];
        let mut series = Vec::with_capacity(n);
        let mut loaded = 0usize;
        let mut names = std::collections::HashSet::new();
        for (i, (metric, pts)) in data.into_iter().enumerate() {
            // Both window edges only move forward as the steps do.
            let (mut lo, mut hi) = (0, 0);
            let mut any = false;
            for (k, &r) in refs.iter().enumerate() {
                while lo < pts.len() && pts[lo].0 <= r - p.range {
                    lo += 1;
                }
                hi = hi.max(lo);
                while hi < pts.len() && pts[hi].0 <= r {
                    hi += 1;
                }
                let window = &pts[lo..hi];
                loaded += window.len();
                self.count_step_samples(Some(k), window.len());
                any |= !window.is_empty();
                values[k * n + i] = funcs::over_time(p.f, window, r - p.range, r, step_t(k), p.q0, p.p1, p.p2)?;
            }
            if loaded > self.opts.max_samples.saturating_sub(self.samples) {
                return Err(QueryError::TooManySamples);
            }
            if any && p.f.wants_counter() {
                funcs::note_counter_name(self, &metric, mat_arg);
            }
            series.push(if keep_name {
                (metric, false)
            } else if self.opts.delayed_name_removal {
                (metric, true)
            } else {
                names.insert(metric.metric_name().to_owned());
                (without_name(&metric), false)
            });
        }
        self.samples += loaded;
        let collide = names.len() > 1 && {
            let mut seen = std::collections::HashSet::with_capacity(n);
            !series.iter().all(|(l, _)| seen.insert(l))
        };
        Ok(Some(StepTable { series, values, collide }))
    }
}
