//! PromQL's functions over evaluated arguments.

use std::collections::HashMap;

use model::{Labels, LabelsBuilder};

use super::QueryError;
use super::eval::{Evaluator, S, Val, kahan_sum, mean, variance, without_name};
use crate::parser::Expr;
use crate::parser::functions::Function;
use model::MatchType;

fn err(msg: impl Into<String>) -> QueryError {
    QueryError::Execution(msg.into())
}

/// Functions whose result keeps the input's metric name.
pub(crate) const KEEPS_NAME: &[&str] =
    &["last_over_time", "first_over_time", "sort", "sort_desc", "sort_by_label", "sort_by_label_desc", "label_replace", "label_join"];

pub(crate) fn call(ev: &mut Evaluator<'_>, f: &'static Function, args: &[Expr], t: i64) -> Result<Val, QueryError> {
    let name = f.name;
    let mut vals = Vec::with_capacity(args.len());
    for a in args {
        vals.push(ev.eval(a, t)?);
    }
    let scalar = |i: usize| match vals.get(i) {
        Some(Val::Scalar(v)) => *v,
        _ => f64::NAN,
    };
    let string = |i: usize| match vals.get(i) {
        Some(Val::Str(s)) => s.clone(),
        _ => String::new(),
    };
    let keep_name = KEEPS_NAME.contains(&name);
    let out = match name {
        "time" => return Ok(Val::Scalar(t as f64 / 1000.0)),
        "pi" => return Ok(Val::Scalar(std::f64::consts::PI)),
        "start" => return Ok(Val::Scalar(ev.start as f64 / 1000.0)),
        "end" => return Ok(Val::Scalar(ev.end as f64 / 1000.0)),
        "step" => return Ok(Val::Scalar(ev.step as f64 / 1000.0)),
        "range" => return Ok(Val::Scalar((ev.end - ev.start) as f64 / 1000.0)),
        // Go's math.Min/Max: NaN wins.
        "min_of" | "max_of" => {
            let (a, b) = (scalar(0), scalar(1));
            return Ok(Val::Scalar(if a.is_nan() || b.is_nan() {
                f64::NAN
            } else if name == "min_of" {
                a.min(b)
            } else {
                a.max(b)
            }));
        }
        "vector" => return Ok(Val::Vector(vec![S { metric: Labels::empty(), v: scalar(0), ts: t, drop_name: false }])),
        "scalar" => {
            return Ok(Val::Scalar(match vals.first() {
                Some(Val::Vector(v)) if v.len() == 1 => v[0].v,
                _ => f64::NAN,
            }));
        }
        "absent" => {
            let Some(Val::Vector(v)) = vals.first() else { return Err(err("absent needs a vector")) };
            if !v.is_empty() {
                return Ok(Val::Vector(Vec::new()));
            }
            return Ok(Val::Vector(vec![S { metric: absent_labels(&args[0]), v: 1.0, ts: t, drop_name: false }]));
        }
        "absent_over_time" => {
            let Some(Val::Matrix { series, .. }) = vals.first() else { return Err(err("absent_over_time needs a range vector")) };
            if !series.is_empty() {
                return Ok(Val::Vector(Vec::new()));
            }
            return Ok(Val::Vector(vec![S { metric: absent_labels(&args[0]), v: 1.0, ts: t, drop_name: false }]));
        }
        "sort" | "sort_desc" => {
            let Some(Val::Vector(mut v)) = vals.into_iter().next() else { return Err(err("sort needs a vector")) };
            v.sort_by(|a, b| {
                let o = if name == "sort" { a.v.partial_cmp(&b.v) } else { b.v.partial_cmp(&a.v) };
                o.unwrap_or_else(|| a.v.is_nan().cmp(&b.v.is_nan()))
            });
            return Ok(Val::Vector(v));
        }
        "sort_by_label" | "sort_by_label_desc" => {
            let labels: Vec<String> = (1..vals.len()).map(string).collect();
            let Some(Val::Vector(mut v)) = vals.into_iter().next() else { return Err(err("sort_by_label needs a vector")) };
            v.sort_by(|a, b| {
                let mut o = std::cmp::Ordering::Equal;
                for l in &labels {
                    o = natural_cmp(a.metric.get(l), b.metric.get(l));
                    if o != std::cmp::Ordering::Equal {
                        break;
                    }
                }
                if o == std::cmp::Ordering::Equal {
                    o = a.metric.cmp(&b.metric);
                }
                if name == "sort_by_label_desc" { o.reverse() } else { o }
            });
            return Ok(Val::Vector(v));
        }
        "label_replace" => {
            let (dst, repl, src, re) = (string(1), string(2), string(3), string(4));
            let regex = model::regex::compile_anchored(&re).map_err(|e| err(format!("invalid regular expression in label_replace(): {e}")))?;
            if !model::ValidationScheme::Utf8.is_valid_label_name(&dst) || crate::parser::has_raw_bytes(&dst) {
                return Err(err(format!("invalid destination label name in label_replace(): {dst}")));
            }
            let Some(Val::Vector(v)) = vals.into_iter().next() else { return Err(err("label_replace needs a vector")) };
            let mut out = Vec::with_capacity(v.len());
            for mut s in v {
                let src_val = s.metric.get(&src).to_owned();
                if let Some(caps) = regex.captures(&src_val) {
                    let res = model::regex::expand(&repl, &caps, &regex);
                    let mut lb = s.metric.builder();
                    lb.set(&dst, &res);
                    s.metric = lb.build();
                    if dst == model::labels::METRIC_NAME {
                        s.drop_name = false;
                    }
                }
                out.push(s);
            }
            return check_unique(out).map(Val::Vector);
        }
        "label_join" => {
            let (dst, sep) = (string(1), string(2));
            let srcs: Vec<String> = (3..vals.len()).map(string).collect();
            if !model::ValidationScheme::Utf8.is_valid_label_name(&dst) {
                return Err(err(format!("invalid destination label name in label_join(): {dst}")));
            }
            let Some(Val::Vector(v)) = vals.into_iter().next() else { return Err(err("label_join needs a vector")) };
            let mut out = Vec::with_capacity(v.len());
            for mut s in v {
                let joined = srcs.iter().map(|l| s.metric.get(l)).collect::<Vec<_>>().join(&sep);
                let mut lb = s.metric.builder();
                lb.set(&dst, &joined);
                s.metric = lb.build();
                if dst == model::labels::METRIC_NAME {
                    s.drop_name = false;
                }
                out.push(s);
            }
            return check_unique(out).map(Val::Vector);
        }
        "histogram_quantile" => {
            let q = scalar(0);
            ev.warn_quantile(q, &args[0]);
            let Some(Val::Vector(v)) = vals.into_iter().nth(1) else { return Err(err("histogram_quantile needs a vector")) };
            return Ok(Val::Vector(histogram_quantile(q, v, t)));
        }
        "timestamp" => {
            let Some(Val::Vector(v)) = vals.into_iter().next() else { return Err(err("timestamp needs a vector")) };
            let direct = matches!(strip_paren(&args[0]), Expr::Vector(_));
            return Ok(Val::Vector(
                v.into_iter()
                    .map(|mut s| {
                        s.v = if direct { s.ts as f64 / 1000.0 } else { t as f64 / 1000.0 };
                        ev.drop_name(&mut s);
                        s
                    })
                    .collect(),
            ));
        }
        "days_in_month" | "day_of_month" | "day_of_week" | "day_of_year" | "hour" | "minute" | "month" | "year" => {
            let v = match vals.into_iter().next() {
                Some(Val::Vector(v)) => v,
                None => vec![S { metric: Labels::empty(), v: t as f64 / 1000.0, ts: t, drop_name: false }],
                _ => return Err(err("date function needs a vector")),
            };
            v.into_iter()
                .map(|mut s| {
                    s.v = date_part(name, s.v);
                    ev.drop_name(&mut s);
                    s
                })
                .collect()
        }
        _ if f.arg_types.first() == Some(&crate::parser::ValueType::Matrix) || name == "quantile_over_time" => {
            let mat_idx = if name == "quantile_over_time" { 1 } else { 0 };
            let p1 = scalar(1);
            let p2 = scalar(2);
            let q0 = scalar(0);
            let Some(Val::Matrix { series, range_start, range_end }) = vals.into_iter().nth(mat_idx) else {
                return Err(err(format!("{name} needs a range vector")));
            };
            let mut out = Vec::with_capacity(series.len());
            if name == "quantile_over_time" {
                ev.warn_quantile(q0, &args[0]);
            }
            let Some(rf) = RangeFn::resolve(name) else { return Err(err(format!("function {name:?} is not implemented yet"))) };
            for m in series {
                if rf.wants_counter() {
                    note_counter_name(ev, &m.metric, &args[0]);
                }
                if let Some(v) = over_time(rf, &m.points, range_start, range_end, t, q0, p1, p2)? {
                    let mut s = S { metric: m.metric, v, ts: t, drop_name: m.drop_name };
                    if !keep_name {
                        ev.drop_name(&mut s);
                    }
                    out.push(s);
                }
            }
            out
        }
        _ => {
            // Element-wise math on an instant vector.
            let (lo, hi) = (scalar(1), scalar(2));
            let Some(Val::Vector(v)) = vals.into_iter().next() else { return Err(err(format!("{name} needs a vector"))) };
            let mut out = Vec::with_capacity(v.len());
            for mut s in v {
                let x = s.v;
                s.v = match name {
                    "abs" => x.abs(),
                    "ceil" => x.ceil(),
                    "floor" => x.floor(),
                    "exp" => x.exp(),
                    "ln" => x.ln(),
                    "log2" => x.log2(),
                    "log10" => x.log10(),
                    "sqrt" => x.sqrt(),
                    "sgn" => {
                        if x > 0.0 {
                            1.0
                        } else if x < 0.0 {
                            -1.0
                        } else {
                            x
                        }
                    }
                    "round" => {
                        let to = if args.len() > 1 { lo } else { 1.0 };
                        let inv = 1.0 / to;
                        (x * inv + 0.5).floor() / inv
                    }
                    "sin" => x.sin(),
                    "cos" => x.cos(),
                    "tan" => x.tan(),
                    "asin" => x.asin(),
                    "acos" => x.acos(),
                    "atan" => x.atan(),
                    "sinh" => x.sinh(),
                    "cosh" => x.cosh(),
                    "tanh" => x.tanh(),
                    "asinh" => x.asinh(),
                    "acosh" => x.acosh(),
                    "atanh" => x.atanh(),
                    "deg" => x.to_degrees(),
                    "rad" => x.to_radians(),
                    "clamp" => {
                        if hi < lo {
                            continue;
                        }
                        x.max(lo).min(hi)
                    }
                    "clamp_min" => x.max(lo),
                    "clamp_max" => x.min(lo),
                    other => return Err(err(format!("function {other:?} is not implemented yet"))),
                };
                if name == "clamp" && (lo.is_nan() || hi.is_nan()) {
                    s.v = f64::NAN;
                }
                ev.drop_name(&mut s);
                out.push(s);
            }
            out
        }
    };
    Ok(Val::Vector(out))
}

fn strip_paren(e: &Expr) -> &Expr {
    match e {
        Expr::Paren { expr, .. } => strip_paren(expr),
        other => other,
    }
}

/// `absent()`'s labels: the selector's equality matchers, except the name.
fn absent_labels(arg: &Expr) -> Labels {
    let vs = match strip_paren(arg) {
        Expr::Vector(vs) => vs,
        Expr::Matrix { vs, .. } => vs,
        _ => return Labels::empty(),
    };
    let mut lb = LabelsBuilder::new();
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for m in &vs.matchers {
        if m.name == model::labels::METRIC_NAME {
            continue;
        }
        *seen.entry(&m.name).or_default() += 1;
    }
    for m in &vs.matchers {
        if m.name != model::labels::METRIC_NAME && m.kind == MatchType::Equal && seen.get(m.name.as_str()) == Some(&1) {
            lb.set(&m.name, &m.value);
        }
    }
    lb.build()
}

fn check_unique(v: Vec<S>) -> Result<Vec<S>, QueryError> {
    let mut seen = std::collections::HashSet::new();
    for s in &v {
        let key = if s.drop_name { without_name(&s.metric) } else { s.metric.clone() };
        if !seen.insert(key) {
            return Err(err("vector cannot contain metrics with the same labelset"));
        }
    }
    Ok(v)
}

/// The functions of a range vector that yield one value per series,
/// resolved once per call rather than by name per series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RangeFn {
    Rate,
    Increase,
    Delta,
    Irate,
    Idelta,
    Avg,
    Sum,
    Count,
    Min,
    Max,
    Last,
    First,
    Present,
    Stddev,
    Stdvar,
    Quantile,
    Mad,
    TsOfMax,
    TsOfMin,
    TsOfLast,
    TsOfFirst,
    Changes,
    Resets,
    Deriv,
    PredictLinear,
    Smoothing,
}

impl RangeFn {
    pub(crate) fn resolve(name: &str) -> Option<RangeFn> {
        Some(match name {
            "rate" => RangeFn::Rate,
            "increase" => RangeFn::Increase,
            "delta" => RangeFn::Delta,
            "irate" => RangeFn::Irate,
            "idelta" => RangeFn::Idelta,
            "avg_over_time" => RangeFn::Avg,
            "sum_over_time" => RangeFn::Sum,
            "count_over_time" => RangeFn::Count,
            "min_over_time" => RangeFn::Min,
            "max_over_time" => RangeFn::Max,
            "last_over_time" => RangeFn::Last,
            "first_over_time" => RangeFn::First,
            "present_over_time" => RangeFn::Present,
            "stddev_over_time" => RangeFn::Stddev,
            "stdvar_over_time" => RangeFn::Stdvar,
            "quantile_over_time" => RangeFn::Quantile,
            "mad_over_time" => RangeFn::Mad,
            "ts_of_max_over_time" => RangeFn::TsOfMax,
            "ts_of_min_over_time" => RangeFn::TsOfMin,
            "ts_of_last_over_time" => RangeFn::TsOfLast,
            "ts_of_first_over_time" => RangeFn::TsOfFirst,
            "changes" => RangeFn::Changes,
            "resets" => RangeFn::Resets,
            "deriv" => RangeFn::Deriv,
            "predict_linear" => RangeFn::PredictLinear,
            "double_exponential_smoothing" | "holt_winters" => RangeFn::Smoothing,
            _ => return None,
        })
    }

    /// Whether Prometheus notes that the input might not be a counter.
    pub(crate) fn wants_counter(self) -> bool {
        matches!(self, RangeFn::Rate | RangeFn::Increase | RangeFn::Irate)
    }
}

/// The PromQL info Prometheus gives for `rate` and friends over a metric
/// whose name does not look like a counter's, once per query.
pub(crate) fn note_counter_name(ev: &mut Evaluator<'_>, metric: &Labels, arg: &Expr) {
    let name = metric.metric_name();
    if !name.is_empty() && !["_total", "_sum", "_count", "_bucket"].iter().any(|s| name.ends_with(s)) {
        let pos = ev.position(arg.span());
        let info = format!("PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: {name:?} {pos}");
        if !ev.infos.contains(&info) {
            ev.infos.push(info);
        }
    }
}

/// One function over one series' samples in `(range_start, range_end]`,
/// evaluated at `t`; `None` where Prometheus gives no point.
#[allow(clippy::too_many_arguments)]
pub(crate) fn over_time(
    f: RangeFn,
    pts: &[(i64, f64)],
    range_start: i64,
    range_end: i64,
    t: i64,
    q0: f64,
    p1: f64,
    p2: f64,
) -> Result<Option<f64>, QueryError> {
    if pts.is_empty() {
        return Ok(None);
    }
    let vals = || pts.iter().map(|p| p.1).collect::<Vec<f64>>();
    let last = pts[pts.len() - 1];
    Ok(Some(match f {
        RangeFn::Rate | RangeFn::Increase | RangeFn::Delta => return Ok(extrapolated(pts, range_start, range_end, f != RangeFn::Delta, f == RangeFn::Rate)),
        RangeFn::Irate | RangeFn::Idelta => {
            if pts.len() < 2 {
                return Ok(None);
            }
            let (a, b) = (pts[pts.len() - 2], last);
            let mut d = b.1 - a.1;
            if f == RangeFn::Irate {
                if b.1 < a.1 {
                    d = b.1;
                }
                let dt = (b.0 - a.0) as f64 / 1000.0;
                if dt == 0.0 {
                    return Ok(None);
                }
                d / dt
            } else {
                d
            }
        }
        RangeFn::Avg => mean(&vals()),
        RangeFn::Sum => kahan_sum(&vals()),
        RangeFn::Count => pts.len() as f64,
        RangeFn::Min => pts.iter().map(|p| p.1).fold(f64::NAN, |a, x| if x < a || a.is_nan() { x } else { a }),
        RangeFn::Max => pts.iter().map(|p| p.1).fold(f64::NAN, |a, x| if x > a || a.is_nan() { x } else { a }),
        RangeFn::Last => last.1,
        RangeFn::First => pts[0].1,
        RangeFn::Present => 1.0,
        RangeFn::Stddev => variance(&vals()).sqrt(),
        RangeFn::Stdvar => variance(&vals()),
        RangeFn::Quantile => quantile(q0, &mut vals()),
        RangeFn::Mad if pts.iter().any(|p| p.1.is_nan()) => f64::NAN,
        RangeFn::Mad => {
            let v = vals();
            let med = quantile(0.5, &mut v.clone());
            let mut dev: Vec<f64> = v.iter().map(|x| (x - med).abs()).collect();
            quantile(0.5, &mut dev)
        }
        RangeFn::TsOfMax | RangeFn::TsOfMin => {
            let mut best: Option<(i64, f64)> = None;
            for &(pt, pv) in pts {
                let better = match best {
                    None => true,
                    Some((_, b)) => {
                        if f == RangeFn::TsOfMax {
                            pv >= b || b.is_nan()
                        } else {
                            pv <= b || b.is_nan()
                        }
                    }
                };
                if better {
                    best = Some((pt, pv));
                }
            }
            best.map_or(f64::NAN, |b| b.0 as f64 / 1000.0)
        }
        RangeFn::TsOfLast => last.0 as f64 / 1000.0,
        RangeFn::TsOfFirst => pts[0].0 as f64 / 1000.0,
        RangeFn::Changes => pts.windows(2).filter(|w| w[0].1 != w[1].1 && !(w[0].1.is_nan() && w[1].1.is_nan())).count() as f64,
        RangeFn::Resets => pts.windows(2).filter(|w| w[1].1 < w[0].1).count() as f64,
        RangeFn::Deriv => {
            if pts.len() < 2 {
                return Ok(None);
            }
            linear_regression(pts, pts[0].0).0
        }
        RangeFn::PredictLinear => {
            if pts.len() < 2 {
                return Ok(None);
            }
            let (slope, intercept) = linear_regression(pts, t);
            intercept + slope * p1
        }
        RangeFn::Smoothing => {
            let (sf, tf) = (p1, p2);
            if !(sf > 0.0 && sf < 1.0) {
                return Err(err(format!("invalid smoothing factor. Expected: 0 < sf < 1, got: {sf}")));
            }
            if !(tf > 0.0 && tf < 1.0) {
                return Err(err(format!("invalid trend factor. Expected: 0 < tf < 1, got: {tf}")));
            }
            if pts.len() < 2 {
                return Ok(None);
            }
            holt(&vals(), sf, tf)
        }
    }))
}

/// Double exponential smoothing (Holt's linear method) as Prometheus
/// defines it: the trend starts as the first difference and is updated
/// from the third sample on.
fn holt(vals: &[f64], sf: f64, tf: f64) -> f64 {
    let (mut s0, mut s1) = (0.0, vals[0]);
    let mut b = vals[1] - vals[0];
    for (i, &v) in vals.iter().enumerate().skip(1) {
        if i > 1 {
            b = tf * (s1 - s0) + (1.0 - tf) * b;
        }
        let next = sf * v + (1.0 - sf) * (s1 + b);
        s0 = s1;
        s1 = next;
    }
    s1
}

/// `rate`, `increase` and `delta`: the change over the window, extrapolated
/// towards its edges as Prometheus does.
fn extrapolated(pts: &[(i64, f64)], range_start: i64, range_end: i64, is_counter: bool, is_rate: bool) -> Option<f64> {
    extrapolated_with(pts, range_start, range_end, is_counter, is_rate, false)
}

/// `rate`/`increase` of a window its caller knows holds no counter reset,
/// so the samples between the first and the last are not visited; the
/// result is the same to the bit, since a window without resets adds
/// nothing to `last - first`.
pub(crate) fn extrapolated_without_resets(pts: &[(i64, f64)], range_start: i64, range_end: i64, is_rate: bool) -> Option<f64> {
    extrapolated_with(pts, range_start, range_end, true, is_rate, true)
}

fn extrapolated_with(pts: &[(i64, f64)], range_start: i64, range_end: i64, is_counter: bool, is_rate: bool, no_resets: bool) -> Option<f64> {
    if pts.len() < 2 {
        return None;
    }
    let (first_t, first_v) = pts[0];
    let (last_t, last_v) = pts[pts.len() - 1];
    let mut result = last_v - first_v;
    if is_counter && !no_resets {
        let mut prev = first_v;
        for &(_, v) in &pts[1..] {
            if v < prev {
                result += prev;
            }
            prev = v;
        }
    }
    let mut to_start = (first_t - range_start) as f64 / 1000.0;
    let mut to_end = (range_end - last_t) as f64 / 1000.0;
    let sampled = (last_t - first_t) as f64 / 1000.0;
    let avg = sampled / (pts.len() - 1) as f64;
    let threshold = avg * 1.1;
    if to_start >= threshold {
        to_start = avg / 2.0;
    }
    if is_counter && result > 0.0 && first_v >= 0.0 {
        let to_zero = sampled * (first_v / result);
        if to_zero < to_start {
            to_start = to_zero;
        }
    }
    if to_end >= threshold {
        to_end = avg / 2.0;
    }
    let mut factor = (sampled + to_start + to_end) / sampled;
    if is_rate {
        factor /= (range_end - range_start) as f64 / 1000.0;
    }
    Some(result * factor)
}

/// Least-squares slope and intercept at `intercept_t`, with Kahan sums.
fn linear_regression(pts: &[(i64, f64)], intercept_t: i64) -> (f64, f64) {
    let n = pts.len() as f64;
    let (mut sx, mut sy, mut sxy, mut sx2) = (0.0, 0.0, 0.0, 0.0);
    let const_y = pts.iter().all(|p| p.1 == pts[0].1);
    for &(pt, pv) in pts {
        let x = (pt - intercept_t) as f64 / 1000.0;
        sx += x;
        sy += pv;
        sxy += x * pv;
        sx2 += x * x;
    }
    if const_y {
        return (0.0, pts[0].1);
    }
    let cov = sxy - sx * sy / n;
    let var = sx2 - sx * sx / n;
    let slope = cov / var;
    let intercept = sy / n - slope * sx / n;
    (slope, intercept)
}

/// The φ-quantile of `vals` by linear interpolation, as Prometheus's
/// `quantile`: NaN for φ NaN, -Inf below 0, +Inf above 1.
pub(crate) fn quantile(q: f64, vals: &mut [f64]) -> f64 {
    if vals.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    vals.sort_by(|a, b| a.partial_cmp(b).unwrap_or_else(|| a.is_nan().cmp(&b.is_nan()).reverse()));
    let n = vals.len() as f64;
    let rank = q * (n - 1.0);
    let lo = rank.floor().max(0.0) as usize;
    let hi = (lo + 1).min(vals.len() - 1);
    let w = rank - rank.floor();
    vals[lo] * (1.0 - w) + vals[hi] * w
}

fn histogram_quantile(q: f64, v: Vec<S>, t: i64) -> Vec<S> {
    let mut groups: Vec<(Labels, Vec<(f64, f64)>)> = Vec::new();
    let mut idx: HashMap<Labels, usize> = HashMap::new();
    for s in v {
        let le = s.metric.get("le");
        let Ok(upper) = le.parse::<f64>().or_else(|_| if le == "+Inf" { Ok(f64::INFINITY) } else { Err(()) }) else { continue };
        let mut lb = s.metric.builder();
        lb.del("le");
        lb.del(model::labels::METRIC_NAME);
        let key = lb.build();
        let i = *idx.entry(key.clone()).or_insert_with(|| {
            groups.push((key, Vec::new()));
            groups.len() - 1
        });
        groups[i].1.push((upper, s.v));
    }
    let mut out = Vec::new();
    for (metric, mut buckets) in groups {
        buckets.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal));
        let v = bucket_quantile(q, &mut buckets);
        out.push(S { metric, v, ts: t, drop_name: false });
    }
    out
}

/// Prometheus's classic-bucket quantile: linear interpolation within the
/// bucket, the lowest bucket from 0, +Inf bucket required.
fn bucket_quantile(q: f64, b: &mut [(f64, f64)]) -> f64 {
    if q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    if b.len() < 2 || b[b.len() - 1].0 != f64::INFINITY {
        return f64::NAN;
    }
    // Merge equal bounds and force monotonic counts.
    let mut max = f64::NEG_INFINITY;
    for x in b.iter_mut() {
        if x.1 < max {
            x.1 = max;
        }
        max = x.1;
    }
    let total = b[b.len() - 1].1;
    if total == 0.0 || total.is_nan() {
        return f64::NAN;
    }
    let rank = q * total;
    let i = b.iter().position(|x| x.1 >= rank).unwrap_or(b.len() - 1);
    if i == b.len() - 1 {
        return b[b.len() - 2].0;
    }
    if i == 0 && b[0].0 <= 0.0 {
        return b[0].0;
    }
    let (start, mut count, mut rank) = if i == 0 { (0.0, b[0].1, rank) } else { (b[i - 1].0, b[i].1 - b[i - 1].1, rank - b[i - 1].1) };
    if count == 0.0 {
        count = 1.0;
        rank = 0.0;
    }
    start + (b[i].0 - start) * (rank / count)
}

/// Natural order, as `sort_by_label` uses it: runs of digits compare as
/// numbers (`cpu2` before `cpu10`), everything else byte by byte.
fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if a[i].is_ascii_digit() && b[j].is_ascii_digit() {
            let (si, sj) = (i, j);
            while i < a.len() && a[i].is_ascii_digit() {
                i += 1;
            }
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            let (na, nb) = (trim_zeros(&a[si..i]), trim_zeros(&b[sj..j]));
            let o = na.len().cmp(&nb.len()).then_with(|| na.cmp(nb));
            if o != std::cmp::Ordering::Equal {
                return o;
            }
        } else {
            if a[i] != b[j] {
                return a[i].cmp(&b[j]);
            }
            i += 1;
            j += 1;
        }
    }
    (a.len() - i).cmp(&(b.len() - j))
}

fn trim_zeros(d: &[u8]) -> &[u8] {
    let k = d.iter().take_while(|c| **c == b'0').count();
    &d[k.min(d.len().saturating_sub(1))..]
}

fn date_part(name: &str, secs: f64) -> f64 {
    if secs.is_nan() || secs.is_infinite() {
        return f64::NAN;
    }
    let s = secs.floor() as i64;
    let days = s.div_euclid(86_400);
    let rem = s.rem_euclid(86_400);
    let (y, m, d) = model::time::civil_from_days(days);
    match name {
        "hour" => (rem / 3600) as f64,
        "minute" => (rem / 60 % 60) as f64,
        "year" => y as f64,
        "month" => m as f64,
        "day_of_month" => d as f64,
        "day_of_week" => (days + 4).rem_euclid(7) as f64,
        "day_of_year" => (days - model::time::days_from_civil(y, 1, 1) + 1) as f64,
        "days_in_month" => {
            let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
            (model::time::days_from_civil(ny, nm, 1) - model::time::days_from_civil(y, m, 1)) as f64
        }
        _ => f64::NAN,
    }
}
