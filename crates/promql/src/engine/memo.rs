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
use super::eval::{Evaluator, Grouping, S, SlotPositions, Val, finish_group, without_name};
use super::funcs::{self, RangeFn};
use crate::parser::AggOp;
use crate::parser::functions::Function;
use crate::parser::{Expr, VectorSelector};

/// One function's values at every step of the query.
pub(crate) struct StepTable {
    /// The input series' labels, and whether the name is still due to go
    /// (delayed name removal).
    series: Vec<(Labels, bool)>,
    /// Whether the function drops the name at once: the output labels are
    /// then the input's without it, built on first use, since an
    /// aggregation reading the table straight needs none of them.
    strip_names: bool,
    stripped: std::cell::OnceCell<Vec<Labels>>,
    /// Step-major: the value of series `i` at step `k` is at
    /// `k * series.len() + i`; `None` where the window was empty.
    values: Vec<Option<f64>>,
    /// Whether two output series have the same labels, so that each step
    /// must be checked for a collision as Prometheus checks it.
    collide: bool,
}

impl StepTable {
    /// The output label set of row `i`.
    fn output(&self, i: usize) -> &Labels {
        if self.strip_names { &self.stripped.get_or_init(|| self.series.iter().map(|(l, _)| without_name(l)).collect())[i] } else { &self.series[i].0 }
    }

    fn column(&self, k: usize, t: i64) -> Result<Vec<S>, QueryError> {
        let n = self.series.len();
        let row = self.values.get(k * n..(k + 1) * n).unwrap_or_default();
        let out: Vec<S> =
            row.iter().enumerate().filter_map(|(i, v)| v.map(|v| S { metric: self.output(i).clone(), v, ts: t, drop_name: self.series[i].1 })).collect();
        if self.collide {
            let mut seen = std::collections::HashSet::with_capacity(out.len());
            if !out.iter().all(|s| seen.insert(&s.metric)) {
                return Err(QueryError::Execution("vector cannot contain metrics with the same labelset".into()));
            }
        }
        Ok(out)
    }
}

/// Rows read series by series (`steps` cells each) laid out step by step,
/// so that one step's column is contiguous.
fn step_major<T: Copy>(rows: &[T], steps: usize, n: usize, fill: T) -> Vec<T> {
    let mut out = vec![fill; n * steps];
    for (i, row) in rows.chunks(steps).enumerate() {
        for (k, v) in row.iter().enumerate() {
            out[k * n + i] = *v;
        }
    }
    out
}

/// What a call needs to be evaluated series-major: the function, its range
/// selector, and its literal parameters.
struct Plan<'e> {
    name: &'static str,
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
    Some(Plan { name: func.name, f, vs, range: *range, q0: params[0], p1: params[1], p2: params[2] })
}

impl Evaluator<'_> {
    /// The call's value at step `t`, from its table (built at the first
    /// step), or `None` when the call does not qualify and must be
    /// evaluated step by step.
    pub(crate) fn memoized_call(&mut self, node: &Expr, func: &'static Function, args: &[Expr], t: i64) -> Option<Result<Val, QueryError>> {
        let (key, k) = match self.call_table(node, func, args, t)? {
            Ok(at) => at,
            Err(e) => return Some(Err(e)),
        };
        let table = self.tables.get(&key)?;
        Some(table.column(k, t).map(Val::Vector))
    }

    /// The step of `t` in this query's own steps, where tables apply.
    fn table_step(&self, t: i64) -> Option<usize> {
        if self.subquery_depth > 0 {
            return None;
        }
        if self.end == self.start {
            return Some(0);
        }
        if self.step <= 0 || (t - self.start) % self.step != 0 {
            return None;
        }
        Some(((t - self.start) / self.step) as usize)
    }

    /// Builds the call's table if it qualifies and is not built yet;
    /// returns its key and the step of `t`.
    fn call_table(&mut self, node: &Expr, func: &'static Function, args: &[Expr], t: i64) -> Option<Result<(usize, usize), QueryError>> {
        let k = self.table_step(t)?;
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
        Some(Ok((key, k)))
    }

    fn build_table(&mut self, p: &Plan<'_>, args: &[Expr], steps: usize) -> Result<Option<StepTable>, QueryError> {
        self.ctl.check()?;
        let (start, step) = (self.start, self.step.max(1));
        let step_t = move |k: usize| start + k as i64 * step;
        let refs: Vec<i64> = (0..steps).map(|k| self.ref_time(p.vs.at, p.vs.offset, step_t(k))).collect();
        let (Some(&first), Some(&last)) = (refs.iter().min(), refs.iter().max()) else { return Ok(None) };
        let keep_name = funcs::KEEPS_NAME.contains(&p.name);
        let delayed = self.opts.delayed_name_removal;
        let mat_arg = &args[usize::from(p.f == RangeFn::Quantile)];
        if p.f == RangeFn::Quantile {
            self.warn_quantile(p.q0, &args[0]);
        }
        // Series-major while reading: one row per series, turned into
        // step-major columns once all are known.
        let mut rows: Vec<Option<f64>> = Vec::new();
        let mut series = Vec::new();
        let mut loaded = 0usize;
        let mut names = std::collections::HashSet::new();
        let mut per_step = vec![0usize; steps];
        let max_samples = self.opts.max_samples.saturating_sub(self.samples);
        let mut infos: Vec<Labels> = Vec::new();
        let counter = matches!(p.f, RangeFn::Rate | RangeFn::Increase);
        let mut resets: Vec<u32> = Vec::new();
        self.for_each_series(p.vs, first - p.range, last, |metric, pts| {
            // A table holds one value per step and series: as many points
            // as the result may hold, which `--query.max-samples` bounds.
            if series.len().saturating_add(1).saturating_mul(steps) > self.opts.max_samples {
                return Err(QueryError::TooManySamples);
            }
            pts.retain(|(_, v)| !model::value::is_stale_nan(*v));
            // For `rate` and `increase`: how many counter resets precede
            // each sample, so that a window without one is computed from
            // its ends alone.
            if counter {
                resets.clear();
                let mut n = 0u32;
                let mut prev = f64::NAN;
                for (j, &(_, v)) in pts.iter().enumerate() {
                    if j > 0 && v < prev {
                        n += 1;
                    }
                    resets.push(n);
                    prev = v;
                }
            }
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
                per_step[k] += window.len();
                any |= !window.is_empty();
                let value = if counter && window.len() >= 2 && resets[hi - 1] == resets[lo] {
                    funcs::extrapolated_without_resets(window, r - p.range, r, p.f == RangeFn::Rate)
                } else {
                    funcs::over_time(p.f, window, r - p.range, r, step_t(k), p.q0, p.p1, p.p2)?
                };
                rows.push(value);
            }
            if loaded > max_samples {
                return Err(QueryError::TooManySamples);
            }
            if any && p.f.wants_counter() {
                infos.push(metric.clone());
            }
            series.push(if keep_name {
                (metric.clone(), false)
            } else if delayed {
                (metric.clone(), true)
            } else {
                names.insert(metric.metric_name().to_owned());
                (metric.clone(), false)
            });
            Ok(())
        })?;
        for metric in &infos {
            funcs::note_counter_name(self, metric, mat_arg);
        }
        for (k, n) in per_step.into_iter().enumerate() {
            self.count_step_samples(Some(k), n);
        }
        let n = series.len();
        let values = step_major(&rows, steps, n, None);
        self.samples += loaded;
        let mut table = StepTable { series, strip_names: !keep_name && !delayed, stripped: std::cell::OnceCell::new(), values, collide: false };
        // Only series of different names can meet once names are gone.
        table.collide = names.len() > 1 && {
            let mut seen = std::collections::HashSet::with_capacity(n);
            !(0..n).all(|i| seen.insert(table.output(i).clone()))
        };
        Ok(Some(table))
    }
}

/// An instant selector's sample at every step of a range query: for each
/// step and series, the sample in force (its time and value) or none.
pub(crate) struct SelectorTable {
    series: Vec<Labels>,
    /// Step-major; a time of [`NONE`] where the series has no sample in
    /// force.
    cells: Vec<(i64, f64)>,
}

const NONE: i64 = i64::MIN;

impl SelectorTable {
    fn column(&self, k: usize) -> Vec<S> {
        let n = self.series.len();
        let row = self.cells.get(k * n..(k + 1) * n).unwrap_or_default();
        row.iter()
            .zip(&self.series)
            .filter(|((ts, _), _)| *ts != NONE)
            .map(|(&(ts, v), metric)| S { metric: metric.clone(), v, ts, drop_name: false })
            .collect()
    }
}

impl Evaluator<'_> {
    /// The selector's samples at step `t` of a range query, from its table
    /// (built at the first step); `None` outside a range query's own steps.
    pub(crate) fn memoized_selector(&mut self, vs: &VectorSelector, t: i64) -> Option<Result<Vec<S>, QueryError>> {
        let (key, k) = match self.selector_table(vs, t)? {
            Ok(at) => at,
            Err(e) => return Some(Err(e)),
        };
        let out = self.selector_tables.get(&key)?.column(k);
        if let Err(e) = self.count_samples_at(Some(k), out.len()) {
            return Some(Err(e));
        }
        Some(Ok(out))
    }

    /// Builds the selector's table in a range query if not built yet;
    /// returns its key and the step of `t`.
    fn selector_table(&mut self, vs: &VectorSelector, t: i64) -> Option<Result<(usize, usize), QueryError>> {
        if self.end <= self.start {
            return None;
        }
        let k = self.table_step(t)?;
        let key = vs as *const VectorSelector as usize;
        if !self.selector_tables.contains_key(&key) {
            match self.build_selector_table(vs) {
                Ok(table) => {
                    self.selector_tables.insert(key, table);
                }
                Err(e) => return Some(Err(e)),
            }
        }
        Some(Ok((key, k)))
    }

    /// `sum`, `avg`, `count`, `min`, `max`, `group`, `stddev` and `stdvar`
    /// of a selector or function with a table, read straight from the
    /// table's column: no sample, label set or group lookup per series and
    /// step once each row's group is known. The values reach the
    /// aggregation in the order the step-by-step path gives them, so the
    /// sums are the same to the bit.
    pub(crate) fn aggregate_from_table(&mut self, node: usize, op: AggOp, grouping: Grouping<'_>, child: &Expr, t: i64) -> Option<Result<Val, QueryError>> {
        if !matches!(op, AggOp::Sum | AggOp::Avg | AggOp::Count | AggOp::Min | AggOp::Max | AggOp::Group | AggOp::Stddev | AggOp::Stdvar) {
            return None;
        }
        let mut child = child;
        while let Expr::Paren { expr, .. } = child {
            child = expr;
        }
        enum Source {
            Call(usize),
            Selector(usize),
        }
        let (source, k) = match child {
            Expr::Vector(vs) => match self.selector_table(vs, t)? {
                Ok((key, k)) => (Source::Selector(key), k),
                Err(e) => return Some(Err(e)),
            },
            Expr::Call { func, args, .. } => match self.call_table(child, func, args, t)? {
                Ok((key, k)) => (Source::Call(key), k),
                Err(e) => return Some(Err(e)),
            },
            _ => return None,
        };
        let n = match &source {
            Source::Call(key) => {
                let table = self.tables.get(key)?;
                if table.collide {
                    // Each step must be checked for a collision first.
                    return None;
                }
                table.series.len()
            }
            Source::Selector(key) => self.selector_tables.get(key)?.series.len(),
        };
        let slots = match self.row_slots.get(&node) {
            Some(s) if s.len() == n => s.clone(),
            _ => {
                let labels: Vec<Labels> = match &source {
                    // A group never holds the name unless grouped `by` it,
                    // so the input's labels group as the output's would.
                    Source::Call(key) => {
                        let table = self.tables.get(key)?;
                        let by_name = !grouping.without && grouping.names.iter().any(|g| g == model::labels::METRIC_NAME);
                        (0..n).map(|i| if by_name { table.output(i).clone() } else { table.series[i].0.clone() }).collect()
                    }
                    Source::Selector(key) => self.selector_tables.get(key)?.series.clone(),
                };
                let cache = self.group_caches.entry(node).or_default();
                let s: std::sync::Arc<[usize]> = labels.iter().map(|l| cache.slot(l, grouping, false)).collect();
                self.row_slots.insert(node, s.clone());
                s
            }
        };
        let mut groups: Vec<(usize, Vec<f64>, bool)> = Vec::new();
        let mut pos = SlotPositions::default();
        let mut present = 0;
        {
            let mut add = |i: usize, v: f64, drop_name: bool| {
                present += 1;
                let slot = slots[i];
                let g = pos.get_or_insert(slot, || {
                    groups.push((slot, Vec::new(), false));
                    groups.len() - 1
                });
                groups[g].1.push(v);
                groups[g].2 |= drop_name;
            };
            match &source {
                Source::Call(key) => {
                    let table = self.tables.get(key)?;
                    for (i, v) in table.values.get(k * n..(k + 1) * n).unwrap_or_default().iter().enumerate() {
                        if let Some(v) = v {
                            add(i, *v, table.series[i].1);
                        }
                    }
                }
                Source::Selector(key) => {
                    let table = self.selector_tables.get(key)?;
                    for (i, (ts, v)) in table.cells.get(k * n..(k + 1) * n).unwrap_or_default().iter().enumerate() {
                        if *ts != NONE {
                            add(i, *v, false);
                        }
                    }
                }
            }
        }
        if matches!(source, Source::Selector(_))
            && let Err(e) = self.count_samples_at(Some(k), present)
        {
            return Some(Err(e));
        }
        let cache = self.group_caches.get(&node)?;
        let out = groups
            .into_iter()
            .map(|(slot, vals, drop_name)| S { metric: cache.slots[slot].clone(), v: finish_group(op, &vals, None), ts: 0, drop_name })
            .collect();
        Some(Ok(Val::Vector(out)))
    }

    fn build_selector_table(&mut self, vs: &VectorSelector) -> Result<SelectorTable, QueryError> {
        self.ctl.check()?;
        let steps = ((self.end - self.start) / self.step + 1) as usize;
        let lookback = self.opts.lookback_delta_ms;
        let refs: Vec<i64> = (0..steps).map(|k| self.ref_time(vs.at, vs.offset, self.start + k as i64 * self.step)).collect();
        let (first, last) = (refs.iter().copied().min().unwrap_or(self.start), refs.iter().copied().max().unwrap_or(self.end));
        let mut series = Vec::new();
        let mut rows: Vec<(i64, f64)> = Vec::new();
        self.for_each_series(vs, first - lookback, last, |metric, pts| {
            if series.len().saturating_add(1).saturating_mul(steps) > self.opts.max_samples {
                return Err(QueryError::TooManySamples);
            }
            // The sample in force at a step is the newest at or before it,
            // if within the lookback and not a staleness marker.
            let mut j = 0;
            for &r in &refs {
                while j < pts.len() && pts[j].0 <= r {
                    j += 1;
                }
                let cell = match j.checked_sub(1).map(|i| pts[i]) {
                    Some((pt, pv)) if pt > r - lookback && !model::value::is_stale_nan(pv) => (pt, pv),
                    _ => (NONE, 0.0),
                };
                rows.push(cell);
            }
            series.push(metric.clone());
            Ok(())
        })?;
        let cells = step_major(&rows, steps, series.len(), (NONE, 0.0));
        Ok(SelectorTable { series, cells })
    }
}
