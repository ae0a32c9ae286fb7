//! Evaluation of one expression at one time. A range query evaluates the
//! expression at every step; selectors read through one querier opened for
//! the whole query.

use std::collections::HashMap;

use model::{Labels, LabelsBuilder};
use storage::{Querier, SelectHints, ValueType};

use super::{EngineOptions, QueryError, funcs};
use crate::parser::{AggOp, At, BinOp, Cardinality, Expr, VectorMatching, VectorSelector};

/// One sample of an intermediate instant vector. `ts` is the stored
/// sample's own timestamp (what `timestamp()` returns for a selector);
/// `drop_name` marks a `__name__` due to go at the end of evaluation
/// (delayed name removal).
#[derive(Debug, Clone)]
pub(crate) struct S {
    pub metric: Labels,
    pub v: f64,
    pub ts: i64,
    pub drop_name: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct M {
    pub metric: Labels,
    pub points: Vec<(i64, f64)>,
    pub drop_name: bool,
}

#[derive(Debug, Clone)]
pub(crate) enum Val {
    Scalar(f64),
    Str(String),
    Vector(Vec<S>),
    /// A range vector, with the window it was selected over (for the
    /// extrapolation of `rate` and friends).
    Matrix {
        series: Vec<M>,
        range_start: i64,
        range_end: i64,
    },
}

pub(crate) struct Evaluator<'a> {
    pub q: &'a dyn Querier,
    /// The query text, for the positions in annotations.
    pub query: &'a str,
    pub ctl: &'a super::Control,
    /// Samples read per selector (by its address in the tree, which lives
    /// for the whole query): `(from, to, series)`.
    pub cache: HashMap<usize, (i64, i64, Vec<RawSeries>)>,
    pub opts: &'a EngineOptions,
    /// The query's start and end (for `@ start()`, `@ end()`, `start()`...).
    pub start: i64,
    pub end: i64,
    pub step: i64,
    pub samples: usize,
    pub warnings: Vec<String>,
    pub infos: Vec<String>,
    /// Names dropped by the node being evaluated (without delayed name
    /// removal), to know when its output must be checked for series that
    /// became equal.
    pub drops: NameDrops,
    /// How deep in subqueries evaluation is: their steps are not the
    /// query's, so no step table is built there.
    pub subquery_depth: usize,
    /// Functions of range selectors evaluated for all steps at once (by the
    /// call's address in the tree).
    pub tables: HashMap<usize, super::memo::StepTable>,
    /// Instant selectors of a range query, resolved for all steps at once
    /// (by the selector's address).
    pub selector_tables: HashMap<usize, super::memo::SelectorTable>,
    /// Each aggregation's grouping of its input series (by the node's
    /// address), kept across steps.
    pub group_caches: HashMap<usize, GroupCache>,
    /// For an aggregation fed from a table, the group slot of each of the
    /// table's rows (by the aggregation's address).
    pub row_slots: HashMap<usize, std::sync::Arc<[usize]>>,
    /// Samples read for each step of the query, and the step under way.
    pub step_samples: Vec<u64>,
    pub cur_step: usize,
}

/// The group of each input series of one aggregation, remembered across
/// the steps of a query: an input series usually comes back at every step
/// as the same label set (the same allocation), and then its group labels
/// are not built again.
#[derive(Default)]
pub(crate) struct GroupCache {
    /// By [`Labels::identity`]; holding the labels keeps the identity from
    /// being reused by another label set.
    by_series: HashMap<usize, (Labels, usize), IdHash>,
    /// Group label sets, by slot.
    pub(crate) slots: Vec<Labels>,
    /// Slots by [`Grouping::hash`] (a list, for collisions).
    by_hash: HashMap<u64, Vec<usize>, IdHash>,
}

/// Appends the series' samples in `(mint, maxt]` to `points`.
fn decode(s: &dyn storage::Series, mint: i64, maxt: i64, points: &mut Vec<(i64, f64)>) -> Result<(), QueryError> {
    let mut it = s.iterator();
    let mut state = it.seek(mint + 1);
    while state == ValueType::Float {
        let (pt, pv) = it.at();
        if pt > maxt {
            break;
        }
        if pt > mint {
            points.push((pt, pv));
        }
        state = it.next();
    }
    match it.err() {
        Some(e) => Err(QueryError::Storage(e.to_string())),
        None => Ok(()),
    }
}

/// Hashing for keys that are already well spread (addresses): one
/// multiplication instead of SipHash's rounds.
pub(crate) type IdHash = std::hash::BuildHasherDefault<IdHasher>;

#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_usize(&mut self, n: usize) {
        self.0 = (self.0 ^ n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        self.0 ^= self.0 >> 29;
    }
    fn write_u8(&mut self, n: u8) {
        self.write_usize(usize::from(n));
    }
}

/// Inputs rebuilt at every step (after a name was dropped, say) would
/// otherwise fill the cache step after step.
const GROUP_CACHE_MAX: usize = 1 << 20;

/// An aggregation's `by (...)` or `without (...)`.
#[derive(Clone, Copy)]
pub(crate) struct Grouping<'a> {
    pub names: &'a [String],
    pub without: bool,
}

impl Grouping<'_> {
    fn kept(&self, name: &str) -> bool {
        name != model::labels::METRIC_NAME && !self.names.iter().any(|g| g == name)
    }

    /// The group's label set.
    pub fn labels(&self, m: &Labels) -> Labels {
        let mut lb = LabelsBuilder::new();
        if self.without {
            for l in m {
                if self.kept(l.name) {
                    lb.set(l.name, l.value);
                }
            }
        } else {
            for g in self.names {
                let val = m.get(g);
                if !val.is_empty() {
                    lb.set(g, val);
                }
            }
        }
        lb.build()
    }

    /// A hash of the group's labels, read from `m` without building them.
    fn hash(&self, m: &Labels) -> u64 {
        let mut h = xxhash_rust::xxh64::Xxh64::new(0);
        let mut put = |n: &str, v: &str| {
            h.update(n.as_bytes());
            h.update(&[0xff]);
            h.update(v.as_bytes());
            h.update(&[0xff]);
        };
        if self.without {
            for l in m {
                if self.kept(l.name) {
                    put(l.name, l.value);
                }
            }
        } else {
            for g in self.names {
                let v = m.get(g);
                if !v.is_empty() {
                    put(g, v);
                }
            }
        }
        h.digest()
    }

    /// Whether `m` belongs to the group labelled `group`.
    fn matches(&self, group: &Labels, m: &Labels) -> bool {
        if self.without {
            let mut kept = m.iter().filter(|l| self.kept(l.name));
            let mut theirs = group.iter();
            loop {
                match (kept.next(), theirs.next()) {
                    (None, None) => return true,
                    (Some(a), Some(b)) if a.name == b.name && a.value == b.value => {}
                    _ => return false,
                }
            }
        } else {
            // A group's labels are only grouping labels, by construction.
            self.names.iter().all(|g| m.get(g) == group.get(g))
        }
    }
}

impl GroupCache {
    /// The slot of `metric`'s group; `remember` when the same inputs will
    /// come again (more steps follow).
    pub(crate) fn slot(&mut self, metric: &Labels, grouping: Grouping<'_>, remember: bool) -> usize {
        let id = if remember { metric.identity() } else { 0 };
        if let Some((_, slot)) = self.by_series.get(&id) {
            return *slot;
        }
        // Found by a hash of the group's values in `metric`: no label set
        // is built unless the group is new.
        let h = grouping.hash(metric);
        let candidates = self.by_hash.entry(h).or_default();
        let slot = match candidates.iter().copied().find(|&s| grouping.matches(&self.slots[s], metric)) {
            Some(slot) => slot,
            None => {
                self.slots.push(grouping.labels(metric));
                candidates.push(self.slots.len() - 1);
                self.slots.len() - 1
            }
        };
        if id != 0 {
            if self.by_series.len() >= GROUP_CACHE_MAX {
                self.by_series.clear();
            }
            self.by_series.insert(id, (metric.clone(), slot));
        }
        slot
    }
}

/// One group's value from its members' values, in input order.
pub(crate) fn finish_group(op: AggOp, vals: &[f64], param: Option<f64>) -> f64 {
    match op {
        AggOp::Sum => kahan_sum(vals),
        AggOp::Avg => mean(vals),
        AggOp::Count => vals.len() as f64,
        AggOp::Group => 1.0,
        AggOp::Min => vals.iter().copied().fold(f64::NAN, |m, x| if x < m || m.is_nan() { x } else { m }),
        AggOp::Max => vals.iter().copied().fold(f64::NAN, |m, x| if x > m || m.is_nan() { x } else { m }),
        AggOp::Stddev => variance(vals).sqrt(),
        AggOp::Stdvar => variance(vals),
        AggOp::Quantile => funcs::quantile(param.unwrap_or(f64::NAN), &mut vals.to_vec()),
        _ => f64::NAN,
    }
}

/// Where each group slot sits in one step's output (groups keep the order
/// in which the step first meets them).
#[derive(Default)]
pub(crate) struct SlotPositions(Vec<usize>);

impl SlotPositions {
    pub(crate) fn get_or_insert(&mut self, slot: usize, new: impl FnOnce() -> usize) -> usize {
        if slot >= self.0.len() {
            self.0.resize(slot + 1, usize::MAX);
        }
        if self.0[slot] == usize::MAX {
            self.0[slot] = new();
        }
        self.0[slot]
    }
}

/// Which metric names a node dropped: only a node that dropped two
/// different names can have made two series equal, so only then is its
/// output checked (hashing every output of every step would cost more than
/// the functions themselves).
#[derive(Debug, Default)]
pub(crate) struct NameDrops {
    first: Option<String>,
    mixed: bool,
}

/// Default step of a subquery without one: Prometheus's default global
/// evaluation interval.
const DEFAULT_SUBQUERY_STEP: i64 = 60_000;

/// A selected series and its samples, oldest first.
type RawSeries = (Labels, Vec<(i64, f64)>);

fn err(msg: impl Into<String>) -> QueryError {
    QueryError::Execution(msg.into())
}

impl<'a> Evaluator<'a> {
    pub fn new(q: &'a dyn Querier, query: &'a str, ctl: &'a super::Control, opts: &'a EngineOptions, start: i64, end: i64, step: i64) -> Self {
        let steps = if end > start && step > 0 { ((end - start) / step + 1) as usize } else { 1 };
        Evaluator {
            q,
            query,
            ctl,
            cache: HashMap::new(),
            opts,
            start,
            end,
            step,
            samples: 0,
            warnings: Vec::new(),
            infos: Vec::new(),
            drops: NameDrops::default(),
            subquery_depth: 0,
            tables: HashMap::new(),
            selector_tables: HashMap::new(),
            group_caches: HashMap::new(),
            row_slots: HashMap::new(),
            step_samples: vec![0; steps],
            cur_step: 0,
        }
    }

    pub fn next_step(&mut self) {
        self.cur_step += 1;
    }

    /// The query's statistics once evaluated.
    pub fn stats(&self, prepare: std::time::Duration, inner_eval: std::time::Duration, result_sort: std::time::Duration) -> super::QueryStats {
        let step = self.step.max(1);
        super::QueryStats {
            total_samples: self.step_samples.iter().sum(),
            peak_samples: self.step_samples.iter().copied().max().unwrap_or(0),
            per_step: self.step_samples.iter().enumerate().map(|(k, n)| (self.start + k as i64 * step, *n)).collect(),
            prepare,
            inner_eval,
            result_sort,
            queue: std::time::Duration::ZERO,
        }
    }

    /// Counts samples read for step `k` (the step under way when `None`).
    pub fn count_step_samples(&mut self, k: Option<usize>, n: usize) {
        let k = k.unwrap_or(self.cur_step);
        if let Some(c) = self.step_samples.get_mut(k) {
            *c += n as u64;
        }
    }

    /// Prometheus's warning for a quantile outside [0, 1], at `arg`.
    pub fn warn_quantile(&mut self, q: f64, arg: &Expr) {
        if !(0.0..=1.0).contains(&q) {
            let pos = self.position(arg.span());
            self.warnings.push(format!("PromQL warning: quantile value should be between 0 and 1, got {} {pos}", format_value(q)));
        }
    }

    /// `(line:col)` of a node, as Prometheus appends it to annotations.
    pub fn position(&self, span: crate::parser::Span) -> String {
        let e = crate::parser::ParseError::at(self.query, span.start, String::new());
        format!("({}:{})", e.line, e.col)
    }

    pub fn eval(&mut self, e: &Expr, t: i64) -> Result<Val, QueryError> {
        match e {
            Expr::Number { value, .. } => Ok(Val::Scalar(*value)),
            Expr::String { value, .. } => Ok(Val::Str(value.clone())),
            Expr::Paren { expr, .. } => self.eval(expr, t),
            Expr::Unary { negative: false, expr, .. } => self.eval(expr, t),
            Expr::Unary { expr, .. } => {
                let inner = self.eval(expr, t)?;
                self.checked(|ev| {
                    Ok(match inner {
                        Val::Scalar(v) => Val::Scalar(-v),
                        Val::Vector(mut v) => {
                            for s in &mut v {
                                s.v = -s.v;
                                ev.drop_name(s);
                            }
                            Val::Vector(v)
                        }
                        other => other,
                    })
                })
            }
            Expr::Vector(vs) => {
                if let Some(v) = self.memoized_selector(vs, t) {
                    return v.map(Val::Vector);
                }
                self.vector_selector(vs, t).map(Val::Vector)
            }
            Expr::Matrix { vs, range, .. } => {
                let ref_t = self.ref_time(vs.at, vs.offset, t);
                let series = self.fetch(vs, ref_t - range, ref_t, t)?;
                let series = series.into_iter().filter(|(_, p)| !p.is_empty()).map(|(metric, points)| M { metric, points, drop_name: false }).collect();
                Ok(Val::Matrix { series, range_start: ref_t - range, range_end: ref_t })
            }
            Expr::Subquery { expr, range, step, offset, at, .. } => {
                let ref_t = self.ref_time(*at, *offset, t);
                let step = step.unwrap_or(DEFAULT_SUBQUERY_STEP).max(1);
                let from = ref_t - range;
                // Steps are aligned to multiples of the step, and the
                // window is left-open.
                let mut ts = from.div_euclid(step) * step;
                if ts <= from {
                    ts += step;
                }
                let mut acc: Vec<M> = Vec::new();
                let mut index: HashMap<Labels, usize> = HashMap::new();
                while ts <= ref_t {
                    self.subquery_depth += 1;
                    let inner = self.eval(expr, ts);
                    self.subquery_depth -= 1;
                    match inner? {
                        Val::Vector(v) => {
                            for s in v {
                                let i = *index.entry(s.metric.clone()).or_insert_with(|| {
                                    acc.push(M { metric: s.metric.clone(), points: Vec::new(), drop_name: s.drop_name });
                                    acc.len() - 1
                                });
                                acc[i].points.push((ts, s.v));
                            }
                        }
                        Val::Scalar(v) => {
                            let i = *index.entry(Labels::empty()).or_insert_with(|| {
                                acc.push(M { metric: Labels::empty(), points: Vec::new(), drop_name: false });
                                acc.len() - 1
                            });
                            acc[i].points.push((ts, v));
                        }
                        _ => return Err(err("subquery over a non-vector expression")),
                    }
                    ts += step;
                }
                Ok(Val::Matrix { series: acc, range_start: from, range_end: ref_t })
            }
            Expr::Call { func, args, .. } => {
                if let Some(v) = self.memoized_call(e, func, args, t) {
                    return v;
                }
                self.checked(|ev| funcs::call(ev, func, args, t))
            }
            Expr::Aggregate { op, expr, param, grouping, without, .. } => {
                let param = match param {
                    Some(p) => {
                        let v = self.eval(p, t)?;
                        if let Val::Scalar(x) = v {
                            if *op == AggOp::Quantile {
                                self.warn_quantile(x, p);
                            }
                            let pos = self.position(p.span());
                            if *op == AggOp::LimitRatio && !(-1.0..=1.0).contains(&x) {
                                let capped = x.clamp(-1.0, 1.0);
                                self.warnings.push(format!(
                                    "PromQL warning: ratio value should be between -1 and 1, got {}, capping to {} {pos}",
                                    format_value(x),
                                    format_value(capped)
                                ));
                            }
                        }
                        Some(v)
                    }
                    None => None,
                };
                if param.is_none()
                    && let Some(v) = self.aggregate_from_table(e as *const Expr as usize, *op, Grouping { names: grouping, without: *without }, expr, t)
                {
                    return v;
                }
                let Val::Vector(v) = self.eval(expr, t)? else { return Err(err("aggregation over a non-vector")) };
                self.aggregate(e as *const Expr as usize, *op, v, param, grouping, *without)
            }
            Expr::Binary { op, lhs, rhs, return_bool, matching, .. } => {
                // `and`/`unless` with an empty left side need no right side;
                // Prometheus still evaluates both, which matters only for
                // errors, so both are evaluated here too.
                let l = self.eval(lhs, t)?;
                let r = self.eval(rhs, t)?;
                self.checked(|ev| ev.binary(*op, l, r, *return_bool, matching.as_ref()))
            }
        }
    }

    pub fn drop_name(&mut self, s: &mut S) {
        if self.opts.delayed_name_removal {
            s.drop_name = true;
            return;
        }
        let name = s.metric.get(model::labels::METRIC_NAME);
        if !name.is_empty() {
            match &self.drops.first {
                None => self.drops.first = Some(name.to_owned()),
                Some(first) if first != name => self.drops.mixed = true,
                Some(_) => {}
            }
            s.metric = without_name(&s.metric);
        }
    }

    /// Runs one node's own work (its children already evaluated) and, as
    /// Prometheus does after every function and operator when names are
    /// dropped at once, refuses an output where two series became one.
    fn checked(&mut self, f: impl FnOnce(&mut Self) -> Result<Val, QueryError>) -> Result<Val, QueryError> {
        let outer = std::mem::take(&mut self.drops);
        let out = f(self);
        let drops = std::mem::replace(&mut self.drops, outer);
        let out = out?;
        if drops.mixed
            && let Val::Vector(v) = &out
        {
            let mut seen = std::collections::HashSet::with_capacity(v.len());
            if !v.iter().all(|s| seen.insert(&s.metric)) {
                return Err(err("vector cannot contain metrics with the same labelset"));
            }
        }
        Ok(out)
    }

    pub fn ref_time(&self, at: Option<At>, offset: i64, t: i64) -> i64 {
        let base = match at {
            None => t,
            Some(At::Time(ms)) => ms,
            Some(At::Start) => self.start,
            Some(At::End) => self.end,
        };
        base - offset
    }

    /// Every series of `vs` with its samples in `(mint, maxt]`, staleness
    /// markers included (they end a series for the lookback). Storage is
    /// read once per selector for the rest of the query (the window slides
    /// forward with the steps) and later steps slice that.
    fn fetch_raw(&mut self, vs: &VectorSelector, mint: i64, maxt: i64, t: i64) -> Result<Vec<RawSeries>, QueryError> {
        let key = self.ensure_cached(vs, mint, maxt, t)?;
        let Some((_, _, data)) = self.cache.get(&key) else { return Ok(Vec::new()) };
        let mut out = Vec::with_capacity(data.len());
        let mut loaded = 0;
        for (labels, points) in data {
            let from = points.partition_point(|p| p.0 <= mint);
            let to = points.partition_point(|p| p.0 <= maxt);
            loaded += to - from;
            out.push((labels.clone(), points[from..to].to_vec()));
        }
        self.count_samples(loaded)?;
        Ok(out)
    }

    fn count_samples(&mut self, n: usize) -> Result<(), QueryError> {
        self.count_samples_at(None, n)
    }

    /// Counts `n` samples read for step `k` (the step under way when
    /// `None`) against `--query.max-samples`.
    pub(crate) fn count_samples_at(&mut self, k: Option<usize>, n: usize) -> Result<(), QueryError> {
        self.count_step_samples(k, n);
        self.samples += n;
        if self.samples > self.opts.max_samples {
            return Err(QueryError::TooManySamples);
        }
        Ok(())
    }

    /// Makes sure the selector's cache holds `(mint, maxt]` and returns its
    /// key. Storage is read once per selector for the rest of the query
    /// (the window slides forward with the steps) and later steps slice it.
    fn ensure_cached(&mut self, vs: &VectorSelector, mint: i64, maxt: i64, t: i64) -> Result<usize, QueryError> {
        self.ctl.check()?;
        let key = vs as *const VectorSelector as usize;
        let covered = self.cache.get(&key).is_some_and(|(lo, hi, _)| *lo <= mint && maxt <= *hi);
        if !covered {
            // A selector pinned by `@` does not move with the steps.
            let ahead = if vs.at.is_some() { 0 } else { (self.end - t).max(0) };
            let (lo, hi) = match self.cache.get(&key) {
                Some((lo, hi, _)) => (mint.min(*lo), (maxt + ahead).max(*hi)),
                None => (mint, maxt + ahead),
            };
            let data = self.read_storage(vs, lo, hi)?;
            self.cache.insert(key, (lo, hi, data));
        }
        Ok(key)
    }

    pub(crate) fn read_storage(&self, vs: &VectorSelector, mint: i64, maxt: i64) -> Result<Vec<RawSeries>, QueryError> {
        let mut out = Vec::new();
        // Series of one selector tend to hold as many samples as each
        // other: the last one's count sizes the next one's buffer.
        let mut expect = 16;
        self.for_each_series(vs, mint, maxt, |labels, points| {
            expect = points.len().max(1);
            out.push((labels.clone(), std::mem::replace(points, Vec::with_capacity(expect))));
            Ok(())
        })?;
        Ok(out)
    }

    /// Calls `f` with each series of `vs` and its samples in `(mint, maxt]`
    /// (staleness markers included), decoded into one reused buffer that
    /// `f` may take.
    pub(crate) fn for_each_series(
        &self,
        vs: &VectorSelector,
        mint: i64,
        maxt: i64,
        mut f: impl FnMut(&Labels, &mut Vec<(i64, f64)>) -> Result<(), QueryError>,
    ) -> Result<(), QueryError> {
        let mut points = Vec::with_capacity(16);
        self.select_each(vs, mint, maxt, |s| {
            points.clear();
            decode(s, mint, maxt, &mut points)?;
            f(s.labels(), &mut points)
        })
    }

    /// Calls `f` with each series `vs` selects over `(mint, maxt]`.
    fn select_each(
        &self,
        vs: &VectorSelector,
        mint: i64,
        maxt: i64,
        mut f: impl FnMut(&dyn storage::Series) -> Result<(), QueryError>,
    ) -> Result<(), QueryError> {
        self.ctl.check()?;
        let hints = SelectHints { start: mint, end: maxt, ..Default::default() };
        let mut set = self.q.select(false, Some(&hints), &vs.matchers);
        let mut read = 0u32;
        while let Some(s) = set.next() {
            // The deadline and the client are checked as a large selector
            // is read, not only between selectors.
            read = read.wrapping_add(1);
            if read % 4096 == 0 {
                self.ctl.check()?;
            }
            f(s.as_ref())?;
        }
        if let Some(e) = set.err() {
            return Err(QueryError::Storage(e.to_string()));
        }
        Ok(())
    }

    /// Samples of a range selector, staleness markers removed.
    fn fetch(&mut self, vs: &VectorSelector, mint: i64, maxt: i64, t: i64) -> Result<Vec<RawSeries>, QueryError> {
        let mut raw = self.fetch_raw(vs, mint, maxt, t)?;
        for (_, p) in &mut raw {
            p.retain(|(_, v)| !model::value::is_stale_nan(*v));
        }
        Ok(raw)
    }

    fn vector_selector(&mut self, vs: &VectorSelector, t: i64) -> Result<Vec<S>, QueryError> {
        let ref_t = self.ref_time(vs.at, vs.offset, t);
        let mint = ref_t - self.opts.lookback_delta_ms;
        if self.end == self.start && self.subquery_depth == 0 {
            // An instant query reads each selector once: straight from
            // storage, keeping only each series' newest sample.
            let mut out = Vec::new();
            let mut points = Vec::new();
            self.select_each(vs, mint, ref_t, |s| {
                let newest = match s.latest() {
                    // Storage knows the newest sample in the window: no
                    // chunk is decoded for it.
                    Some((t, v)) if t <= ref_t => Some((t, v)),
                    _ => {
                        points.clear();
                        decode(s, mint, ref_t, &mut points)?;
                        points.last().copied()
                    }
                };
                if let Some((pt, pv)) = newest
                    && pt > mint
                    && !model::value::is_stale_nan(pv)
                {
                    out.push(S { metric: s.labels().clone(), v: pv, ts: pt, drop_name: false });
                }
                Ok(())
            })?;
            self.count_samples(out.len())?;
            return Ok(out);
        }
        let key = self.ensure_cached(vs, mint, ref_t, t)?;
        let Some((_, _, data)) = self.cache.get(&key) else { return Ok(Vec::new()) };
        // Only the newest sample in the lookback window matters: found by
        // search in the cached samples, nothing copied.
        let mut out = Vec::with_capacity(data.len());
        for (metric, points) in data {
            let to = points.partition_point(|p| p.0 <= ref_t);
            if let Some(&(pt, pv)) = to.checked_sub(1).and_then(|i| points.get(i))
                && pt > mint
                && !model::value::is_stale_nan(pv)
            {
                out.push(S { metric: metric.clone(), v: pv, ts: pt, drop_name: false });
            }
        }
        self.count_samples(out.len())?;
        Ok(out)
    }

    fn aggregate(&mut self, node: usize, op: AggOp, v: Vec<S>, param: Option<Val>, grouping: &[String], without: bool) -> Result<Val, QueryError> {
        let scalar_param = match &param {
            Some(Val::Scalar(p)) => Some(*p),
            _ => None,
        };
        let grouping = Grouping { names: grouping, without };
        let group_labels = |m: &Labels| grouping.labels(m);
        match op {
            AggOp::Topk | AggOp::Bottomk | AggOp::Limitk => {
                let k = scalar_param.unwrap_or(0.0);
                if k.is_nan() {
                    return Err(err("Parameter value is NaN"));
                }
                let k = if k >= 9.2e18 {
                    usize::MAX
                } else if k < 1.0 {
                    0
                } else {
                    k as usize
                };
                let remember = self.end > self.start || self.subquery_depth > 0;
                let cache = self.group_caches.entry(node).or_default();
                let mut groups: Vec<Vec<S>> = Vec::new();
                let mut pos = SlotPositions::default();
                for s in v {
                    let slot = cache.slot(&s.metric, grouping, remember);
                    let i = pos.get_or_insert(slot, || {
                        groups.push(Vec::new());
                        groups.len() - 1
                    });
                    groups[i].push(s);
                }
                let mut out = Vec::new();
                for members in groups {
                    if op == AggOp::Limitk {
                        out.extend(members.into_iter().take(k));
                        continue;
                    }
                    // The k best by value, ties to the earlier input as a
                    // stable sort would give, without sorting them all.
                    let mut keyed: Vec<(usize, S)> = members.into_iter().enumerate().collect();
                    let cmp = |a: &(usize, S), b: &(usize, S)| {
                        let by_value = if op == AggOp::Topk { cmp_desc_nan_last(a.1.v, b.1.v) } else { cmp_asc_nan_last(a.1.v, b.1.v) };
                        by_value.then(a.0.cmp(&b.0))
                    };
                    if k == 0 {
                        continue;
                    }
                    if k < keyed.len() {
                        keyed.select_nth_unstable_by(k - 1, cmp);
                        keyed.truncate(k);
                    }
                    keyed.sort_by(cmp);
                    out.extend(keyed.into_iter().map(|(_, s)| s));
                }
                Ok(Val::Vector(out))
            }
            AggOp::LimitRatio => {
                let r = scalar_param.unwrap_or(0.0);
                if r.is_nan() {
                    return Err(err("Ratio value is NaN"));
                }
                let r = r.clamp(-1.0, 1.0);
                let out = v
                    .into_iter()
                    .filter(|s| {
                        let f = xxh_ratio(&s.metric);
                        if r >= 0.0 { f < r } else { f >= 1.0 + r }
                    })
                    .collect();
                Ok(Val::Vector(out))
            }
            AggOp::CountValues => {
                let Some(Val::Str(label)) = param else { return Err(err("count_values needs a label name")) };
                if !model::ValidationScheme::Utf8.is_valid_label_name(&label) || crate::parser::has_raw_bytes(&label) {
                    return Err(err(format!("invalid label name {}", model::quote::go_quote(&crate::parser::raw_bytes(&label)))));
                }
                let mut counts: Vec<(Labels, f64)> = Vec::new();
                let mut idx: HashMap<Labels, usize> = HashMap::new();
                for s in &v {
                    let g = group_labels(&s.metric);
                    let mut lb = g.builder();
                    lb.set(&label, &format_value(s.v));
                    let key = lb.build();
                    let i = *idx.entry(key.clone()).or_insert_with(|| {
                        counts.push((key, 0.0));
                        counts.len() - 1
                    });
                    counts[i].1 += 1.0;
                }
                Ok(Val::Vector(counts.into_iter().map(|(metric, v)| S { metric, v, ts: 0, drop_name: false }).collect()))
            }
            _ => {
                // A `__name__` kept by the grouping still goes at the end
                // if any member's name was due to go (delayed removal).
                let remember = self.end > self.start || self.subquery_depth > 0;
                let cache = self.group_caches.entry(node).or_default();
                let mut groups: Vec<(usize, Vec<f64>, bool)> = Vec::new();
                let mut pos = SlotPositions::default();
                for s in &v {
                    let slot = cache.slot(&s.metric, grouping, remember);
                    let i = pos.get_or_insert(slot, || {
                        groups.push((slot, Vec::new(), false));
                        groups.len() - 1
                    });
                    groups[i].1.push(s.v);
                    groups[i].2 |= s.drop_name;
                }
                let mut out = Vec::with_capacity(groups.len());
                for (slot, vals, drop_name) in groups {
                    let metric = cache.slots[slot].clone();
                    out.push(S { metric, v: finish_group(op, &vals, scalar_param), ts: 0, drop_name });
                }
                Ok(Val::Vector(out))
            }
        }
    }

    fn binary(&mut self, op: BinOp, l: Val, r: Val, return_bool: bool, matching: Option<&VectorMatching>) -> Result<Val, QueryError> {
        match (l, r) {
            (Val::Scalar(a), Val::Scalar(b)) => {
                Ok(Val::Scalar(if op.is_comparison() { bool_f(op_true(op, a, b)) } else { apply(op, a, b).unwrap_or(f64::NAN) }))
            }
            (Val::Vector(vec), Val::Scalar(s)) => Ok(Val::Vector(self.vector_scalar(op, vec, s, false, return_bool))),
            (Val::Scalar(s), Val::Vector(vec)) => Ok(Val::Vector(self.vector_scalar(op, vec, s, true, return_bool))),
            (Val::Vector(lv), Val::Vector(rv)) => {
                let default = VectorMatching { card: Cardinality::OneToOne, on: false, labels: Vec::new(), include: Vec::new() };
                let m = matching.unwrap_or(&default);
                match op {
                    BinOp::And | BinOp::Or | BinOp::Unless => Ok(Val::Vector(set_op(op, lv, rv, m))),
                    _ => self.vector_vector(op, lv, rv, m, return_bool).map(Val::Vector),
                }
            }
            _ => Err(err("binary expression on unsupported types")),
        }
    }

    fn vector_scalar(&mut self, op: BinOp, vec: Vec<S>, s: f64, scalar_left: bool, return_bool: bool) -> Vec<S> {
        let mut out = Vec::with_capacity(vec.len());
        for mut x in vec {
            let (a, b) = if scalar_left { (s, x.v) } else { (x.v, s) };
            if op.is_comparison() {
                let keep = op_true(op, a, b);
                if return_bool {
                    x.v = bool_f(keep);
                    self.drop_name(&mut x);
                    out.push(x);
                } else if keep {
                    // The vector's own value survives a filter.
                    out.push(x);
                }
            } else {
                x.v = apply(op, a, b).unwrap_or(f64::NAN);
                self.drop_name(&mut x);
                out.push(x);
            }
        }
        out
    }

    fn vector_vector(&mut self, op: BinOp, lv: Vec<S>, rv: Vec<S>, m: &VectorMatching, return_bool: bool) -> Result<Vec<S>, QueryError> {
        let sig = |s: &Labels| signature(s, m);
        // The "one" side is indexed; the "many" side iterated.
        let (many, one, many_is_left) = match m.card {
            Cardinality::OneToMany => (rv, lv, false),
            _ => (lv, rv, true),
        };
        let mut one_idx: HashMap<Labels, usize> = HashMap::new();
        for (i, s) in one.iter().enumerate() {
            let k = sig(&s.metric);
            if let Some(&prev) = one_idx.get(&k) {
                let side = if many_is_left { "right" } else { "left" };
                let mut shown = [one[prev].metric.to_string(), s.metric.to_string()];
                shown.sort();
                return Err(err(format!(
                    "found duplicate series for the match group {k} on the {side} hand-side of the operation: [{}, {}];many-to-many matching not allowed: matching labels must be unique on one side",
                    shown[0], shown[1]
                )));
            }
            one_idx.insert(k, i);
        }
        let mut out = Vec::new();
        let mut seen: HashMap<Labels, ()> = HashMap::new();
        let mut matched_one: HashMap<Labels, usize> = HashMap::new();
        for ms in many {
            let k = sig(&ms.metric);
            let Some(&oi) = one_idx.get(&k) else { continue };
            let os = &one[oi];
            let (ls, rs) = if many_is_left { (&ms, os) } else { (os, &ms) };
            let (a, b) = (ls.v, rs.v);
            let keep;
            let value = if op.is_comparison() {
                keep = op_true(op, a, b);
                if return_bool { bool_f(keep) } else { a }
            } else {
                keep = true;
                apply(op, a, b).unwrap_or(f64::NAN)
            };
            if m.card == Cardinality::OneToOne {
                let n = matched_one.entry(k.clone()).or_insert(0);
                *n += 1;
                if *n > 1 {
                    return Err(err("multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)"));
                }
            }
            if !keep && !return_bool {
                continue;
            }
            let drop = !op.is_comparison() || return_bool;
            let metric = result_metric(&ms.metric, &os.metric, m);
            let mut s = S { metric, v: value, ts: ms.ts, drop_name: ms.drop_name };
            if drop {
                self.drop_name(&mut s);
            }
            if m.card != Cardinality::OneToOne {
                let key = if s.drop_name { without_name(&s.metric) } else { s.metric.clone() };
                if seen.insert(key, ()).is_some() {
                    return Err(err("multiple matches for labels: grouping labels must ensure unique matches"));
                }
            }
            out.push(s);
        }
        Ok(out)
    }
}

/// The labels two sides are matched on.
pub(crate) fn signature(l: &Labels, m: &VectorMatching) -> Labels {
    let mut lb = LabelsBuilder::new();
    for x in l {
        let listed = m.labels.iter().any(|n| n == x.name);
        let keep = if m.on { listed } else { !listed && x.name != model::labels::METRIC_NAME };
        if keep {
            lb.set(x.name, x.value);
        }
    }
    lb.build()
}

fn result_metric(many: &Labels, one: &Labels, m: &VectorMatching) -> Labels {
    let mut lb = many.builder();
    if m.card == Cardinality::OneToOne {
        if m.on {
            lb.retain(|n, _| n == model::labels::METRIC_NAME || m.labels.iter().any(|l| l == n));
        } else {
            lb.retain(|n, _| !m.labels.iter().any(|l| l == n));
        }
    }
    for inc in &m.include {
        let v = one.get(inc);
        if v.is_empty() {
            lb.del(inc);
        } else {
            lb.set(inc, v);
        }
    }
    lb.build()
}

fn set_op(op: BinOp, lv: Vec<S>, rv: Vec<S>, m: &VectorMatching) -> Vec<S> {
    let rsigs: std::collections::HashSet<Labels> = rv.iter().map(|s| signature(&s.metric, m)).collect();
    match op {
        BinOp::And => lv.into_iter().filter(|s| rsigs.contains(&signature(&s.metric, m))).collect(),
        BinOp::Unless => lv.into_iter().filter(|s| !rsigs.contains(&signature(&s.metric, m))).collect(),
        _ => {
            let lsigs: std::collections::HashSet<Labels> = lv.iter().map(|s| signature(&s.metric, m)).collect();
            let mut out = lv;
            out.extend(rv.into_iter().filter(|s| !lsigs.contains(&signature(&s.metric, m))));
            out
        }
    }
}

pub(crate) fn without_name(l: &Labels) -> Labels {
    if !l.has(model::labels::METRIC_NAME) {
        return l.clone();
    }
    let mut lb = l.builder();
    lb.del(model::labels::METRIC_NAME);
    lb.build()
}

fn bool_f(b: bool) -> f64 {
    if b { 1.0 } else { 0.0 }
}

fn op_true(op: BinOp, a: f64, b: f64) -> bool {
    match op {
        BinOp::Eql => a == b,
        BinOp::Neq => a != b,
        BinOp::Gtr => a > b,
        BinOp::Lss => a < b,
        BinOp::Gte => a >= b,
        BinOp::Lte => a <= b,
        _ => false,
    }
}

/// Arithmetic; `None` for comparisons (decided by [`op_true`]).
fn apply(op: BinOp, a: f64, b: f64) -> Option<f64> {
    Some(match op {
        BinOp::Add => a + b,
        BinOp::Sub => a - b,
        BinOp::Mul => a * b,
        BinOp::Div => a / b,
        BinOp::Mod => a % b,
        BinOp::Pow => a.powf(b),
        BinOp::Atan2 => a.atan2(b),
        _ => return None,
    })
}

fn cmp_desc_nan_last(a: f64, b: f64) -> std::cmp::Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Greater,
        (false, true) => std::cmp::Ordering::Less,
        _ => b.partial_cmp(&a).unwrap_or(std::cmp::Ordering::Equal),
    }
}

fn cmp_asc_nan_last(a: f64, b: f64) -> std::cmp::Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Greater,
        (false, true) => std::cmp::Ordering::Less,
        _ => a.partial_cmp(&b).unwrap_or(std::cmp::Ordering::Equal),
    }
}

/// `limit_ratio`'s stable position of a series in [0, 1]: Prometheus's
/// label-set hash (xxHash64 over `name 0xff value 0xff ...`) over the
/// largest `u64`, so that both pick the same series.
fn xxh_ratio(l: &Labels) -> f64 {
    let mut buf = Vec::with_capacity(l.as_bytes().len());
    for x in l {
        buf.extend_from_slice(x.name.as_bytes());
        buf.push(0xff);
        buf.extend_from_slice(x.value.as_bytes());
        buf.push(0xff);
    }
    xxhash_rust::xxh64::xxh64(&buf, 0) as f64 / u64::MAX as f64
}

pub(crate) fn kahan_sum(vals: &[f64]) -> f64 {
    let (mut sum, mut c) = (0.0f64, 0.0f64);
    for &v in vals {
        let t = sum + v;
        if sum.abs() >= v.abs() {
            c += (sum - t) + v;
        } else {
            c += (v - t) + sum;
        }
        sum = t;
    }
    if c.is_finite() { sum + c } else { sum }
}

pub(crate) fn mean(vals: &[f64]) -> f64 {
    if vals.is_empty() {
        return f64::NAN;
    }
    let s = kahan_sum(vals);
    if s.is_finite() {
        return s / vals.len() as f64;
    }
    // The sum overflowed (or met an infinity): an incremental mean that
    // divides before adding stays finite, and infinities win unless both
    // signs occur.
    let mut m = 0.0f64;
    for (i, &v) in vals.iter().enumerate() {
        let n = (i + 1) as f64;
        if m.is_infinite() {
            if v.is_infinite() && v.signum() != m.signum() {
                return f64::NAN;
            }
            continue;
        }
        if v.is_infinite() {
            m = v;
            continue;
        }
        m += v / n - m / n;
    }
    m
}

/// Population variance (Welford).
pub(crate) fn variance(vals: &[f64]) -> f64 {
    let (mut count, mut mean, mut m2) = (0.0, 0.0, 0.0);
    for &v in vals {
        count += 1.0;
        let delta = v - mean;
        mean += delta / count;
        m2 += delta * (v - mean);
    }
    if count == 0.0 { f64::NAN } else { m2 / count }
}

/// A float as Go's `strconv.FormatFloat(v, 'f', -1, 64)` prints it.
pub fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf".into() } else { "-Inf".into() }
    } else {
        format!("{v}")
    }
}
