//! The native histogram notation of value sequences, `{{key:value ...}}`,
//! and the addition and subtraction that `{{A}}+{{B}}xN` sequences need.
//!
//! A [`HistogramSpec`] is the histogram as written, not a storage or engine
//! type: the parser does not check that it is storable (expected results
//! legitimately hold negative counts), and [`HistogramSpec::storable_error`]
//! is there for a runner's `load`.

use std::collections::BTreeMap;

/// The schema number of native histograms with custom bucket bounds (NHCB).
pub const CUSTOM_BUCKETS_SCHEMA: i32 = -53;

/// The exponential schemas a histogram may be stored with.
pub const EXPONENTIAL_SCHEMAS: std::ops::RangeInclusive<i32> = -4..=8;

/// A histogram's counter-reset hint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CounterResetHint {
    #[default]
    Unknown,
    Reset,
    NotReset,
    Gauge,
}

impl CounterResetHint {
    /// The hint of a sum or difference: the common hint when both agree,
    /// `gauge` if either is a gauge, otherwise unknown.
    fn combine(self, other: Self) -> Self {
        if self == other {
            self
        } else if self == CounterResetHint::Gauge || other == CounterResetHint::Gauge {
            CounterResetHint::Gauge
        } else {
            CounterResetHint::Unknown
        }
    }
}

/// One run of consecutive buckets: `counts[k]` is bucket index `offset + k`.
/// Counts are absolute (neither cumulative nor deltas); zeros are real,
/// empty buckets.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Buckets {
    pub offset: i32,
    pub counts: Vec<f64>,
}

/// A float native histogram as the notation describes it. Fields missing from
/// the notation hold their defaults (0, empty, `unknown`).
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSpec {
    /// −4…8 for exponential buckets, [`CUSTOM_BUCKETS_SCHEMA`] for custom ones.
    pub schema: i32,
    pub sum: f64,
    pub count: f64,
    /// `z_bucket`: observations in the zero bucket.
    pub zero_count: f64,
    /// `z_bucket_w`: the zero bucket covers [−w, w].
    pub zero_threshold: f64,
    /// `buckets` with `offset`.
    pub positive: Buckets,
    /// `n_buckets` with `n_offset`.
    pub negative: Buckets,
    /// Upper bounds for custom buckets, ascending, without `+Inf`.
    pub custom_values: Vec<f64>,
    pub counter_reset_hint: CounterResetHint,
    /// Whether the notation gave `counter_reset_hint`. An expected histogram
    /// without one matches any hint; in `{{A}}+{{B}}xN` the computed values
    /// take this from B.
    pub hint_given: bool,
}

impl Default for HistogramSpec {
    fn default() -> Self {
        HistogramSpec {
            schema: 0,
            sum: 0.0,
            count: 0.0,
            zero_count: 0.0,
            zero_threshold: 0.0,
            positive: Buckets::default(),
            negative: Buckets::default(),
            custom_values: Vec::new(),
            counter_reset_hint: CounterResetHint::Unknown,
            hint_given: false,
        }
    }
}

impl HistogramSpec {
    pub fn uses_custom_buckets(&self) -> bool {
        self.schema == CUSTOM_BUCKETS_SCHEMA
    }

    /// Why `load` could not store this histogram, or `None` when it can: the
    /// rules the README lists under "A histogram written by `load` must still
    /// be storable".
    pub fn storable_error(&self) -> Option<String> {
        let all_counts = || self.positive.counts.iter().chain(&self.negative.counts).chain([&self.zero_count, &self.count]);
        if all_counts().any(|c| *c < 0.0) {
            return Some("histogram has a negative count".into());
        }
        if self.uses_custom_buckets() {
            if self.custom_values.windows(2).any(|w| w[0] >= w[1]) {
                return Some("custom bucket bounds are not strictly ascending".into());
            }
            if self.custom_values.contains(&f64::INFINITY) {
                return Some("custom bucket bounds must not include +Inf".into());
            }
            let needed = i64::from(self.positive.offset) + self.positive.counts.len() as i64;
            if !self.positive.counts.is_empty() && (self.positive.offset < 0 || needed > self.custom_values.len() as i64 + 1) {
                return Some("custom buckets exceed the custom bounds".into());
            }
            if self.zero_count != 0.0 || self.zero_threshold != 0.0 {
                return Some("custom-bucket histogram has a zero bucket".into());
            }
            if !self.negative.counts.is_empty() {
                return Some("custom-bucket histogram has negative buckets".into());
            }
            return None;
        }
        if !EXPONENTIAL_SCHEMAS.contains(&self.schema) {
            return Some(format!("invalid histogram schema {}", self.schema));
        }
        if !self.custom_values.is_empty() {
            return Some("custom bucket bounds with an exponential schema".into());
        }
        None
    }
}

/// Parses the text between `{{` and `}}`.
pub(crate) fn parse_histogram(inner: &str) -> Result<HistogramSpec, String> {
    let mut h = HistogramSpec::default();
    let mut seen: Vec<&str> = Vec::new();
    let mut rest = inner.trim_start();
    while !rest.is_empty() {
        let colon = rest.find(':').ok_or_else(|| format!("expected key:value in histogram, found {rest:?}"))?;
        let key = &rest[..colon];
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
            return Err(format!("invalid histogram key {key:?}"));
        }
        if seen.contains(&key) {
            return Err(format!("duplicate histogram key {key:?}"));
        }
        seen.push(key);
        rest = rest[colon + 1..].trim_start();
        let value;
        let is_list = rest.starts_with('[');
        if let Some(list) = rest.strip_prefix('[') {
            let end = list.find(']').ok_or_else(|| format!("unterminated list for histogram key {key:?}"))?;
            value = &list[..end];
            rest = list[end + 1..].trim_start();
        } else {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            value = &rest[..end];
            rest = rest[end..].trim_start();
        }
        if is_list != matches!(key, "buckets" | "n_buckets" | "custom_values") {
            return Err(format!("histogram key {key:?} {} a [list]", if is_list { "does not take" } else { "needs" }));
        }
        let float = || super::lex::parse_number(value).ok_or_else(|| format!("invalid number {value:?} for histogram key {key:?}"));
        let int = || value.parse::<i32>().map_err(|_| format!("invalid integer {value:?} for histogram key {key:?}"));
        let list = || -> Result<Vec<f64>, String> {
            value.split_whitespace().map(|v| super::lex::parse_number(v).ok_or_else(|| format!("invalid number {v:?} in histogram list {key:?}"))).collect()
        };
        match key {
            "schema" => h.schema = int()?,
            "sum" => h.sum = float()?,
            "count" => h.count = float()?,
            "z_bucket" => h.zero_count = float()?,
            "z_bucket_w" => h.zero_threshold = float()?,
            "buckets" => h.positive.counts = list()?,
            "offset" => h.positive.offset = int()?,
            "n_buckets" => h.negative.counts = list()?,
            "n_offset" => h.negative.offset = int()?,
            "custom_values" => h.custom_values = list()?,
            "counter_reset_hint" => {
                h.counter_reset_hint = match value {
                    "unknown" => CounterResetHint::Unknown,
                    "reset" => CounterResetHint::Reset,
                    "not_reset" => CounterResetHint::NotReset,
                    "gauge" => CounterResetHint::Gauge,
                    other => return Err(format!("invalid counter_reset_hint {other:?}")),
                };
                h.hint_given = true;
            }
            other => return Err(format!("unknown histogram key {other:?}")),
        }
    }
    Ok(h)
}

/// Why `{{A}}+{{B}}` could not be computed.
#[derive(Debug)]
pub(crate) enum CombineError {
    /// The operation is an error by the README's rules.
    Invalid(String),
    /// Well defined, but this parser does not implement it; the points are
    /// kept unexpanded.
    Unsupported(String),
}

/// `a + b`, or `a - b` when `subtract`, by the README's rules for histogram
/// sequences. The result keeps `a`'s schema, which must be the coarser one.
pub(crate) fn combine(a: &HistogramSpec, b: &HistogramSpec, subtract: bool) -> Result<HistogramSpec, CombineError> {
    if a.uses_custom_buckets() != b.uses_custom_buckets() {
        return Err(CombineError::Invalid("cannot combine a custom-bucket histogram with an exponential one".into()));
    }
    let sign = if subtract { -1.0 } else { 1.0 };
    let mut out = a.clone();
    out.sum = a.sum + sign * b.sum;
    out.count = a.count + sign * b.count;
    out.counter_reset_hint = a.counter_reset_hint.combine(b.counter_reset_hint);
    out.hint_given = b.hint_given;

    let (mut a_pos, mut a_neg) = (to_map(&a.positive), to_map(&a.negative));
    let (mut b_pos, mut b_neg) = (to_map(&b.positive), to_map(&b.negative));
    let (mut a_zero, mut b_zero) = (a.zero_count, b.zero_count);

    if a.uses_custom_buckets() {
        if a.custom_values != b.custom_values {
            return Err(CombineError::Unsupported("custom bucket bounds differ (reducing them to their intersection is not implemented)".into()));
        }
        if a.zero_threshold != b.zero_threshold {
            return Err(CombineError::Unsupported("custom-bucket histograms with different zero thresholds".into()));
        }
    } else {
        for s in [a.schema, b.schema] {
            if !EXPONENTIAL_SCHEMAS.contains(&s) {
                return Err(CombineError::Unsupported(format!("arithmetic on histogram schema {s}")));
            }
        }
        if a.schema > b.schema {
            return Err(CombineError::Invalid(format!(
                "cannot combine histograms: the running histogram's schema {} is finer than the increment's schema {}",
                a.schema, b.schema
            )));
        }
        if b.schema > a.schema {
            b_pos = reduce(&b_pos, b.schema - a.schema);
            b_neg = reduce(&b_neg, b.schema - a.schema);
        }
        // Reconcile zero buckets to the wider threshold by moving the narrower
        // side's buckets that lie inside it into its zero bucket.
        if a.zero_threshold < b.zero_threshold {
            widen_zero_bucket(a.schema, b.zero_threshold, &mut a_pos, &mut a_neg, &mut a_zero)?;
            out.zero_threshold = b.zero_threshold;
        } else if b.zero_threshold < a.zero_threshold {
            widen_zero_bucket(a.schema, a.zero_threshold, &mut b_pos, &mut b_neg, &mut b_zero)?;
        }
    }
    out.zero_count = a_zero + sign * b_zero;
    out.positive = from_map(add_maps(a_pos, &b_pos, sign));
    out.negative = from_map(add_maps(a_neg, &b_neg, sign));
    Ok(out)
}

fn to_map(b: &Buckets) -> BTreeMap<i32, f64> {
    let mut m = BTreeMap::new();
    for (k, c) in b.counts.iter().enumerate() {
        // Offsets and list lengths in scripts are tiny; saturating keeps a
        // hostile input from wrapping around.
        let idx = b.offset.saturating_add(i32::try_from(k).unwrap_or(i32::MAX));
        *m.entry(idx).or_insert(0.0) += c;
    }
    m
}

/// The buckets as one dense run from the lowest to the highest index either
/// side used, so empty buckets in between show up as zeros.
fn from_map(m: BTreeMap<i32, f64>) -> Buckets {
    let (Some(&lo), Some(&hi)) = (m.keys().next(), m.keys().next_back()) else {
        return Buckets::default();
    };
    let mut counts = vec![0.0; (i64::from(hi) - i64::from(lo) + 1) as usize];
    for (i, c) in m {
        counts[(i64::from(i) - i64::from(lo)) as usize] = c;
    }
    Buckets { offset: lo, counts }
}

fn add_maps(mut a: BTreeMap<i32, f64>, b: &BTreeMap<i32, f64>, sign: f64) -> BTreeMap<i32, f64> {
    for (i, c) in b {
        *a.entry(*i).or_insert(0.0) += sign * c;
    }
    a
}

/// Merges buckets to a schema `by` steps coarser. Each step halves the
/// resolution: bucket i of the finer schema ends up in bucket ceil(i / 2^by).
fn reduce(m: &BTreeMap<i32, f64>, by: i32) -> BTreeMap<i32, f64> {
    let factor = 1i64 << by;
    let mut out = BTreeMap::new();
    for (i, c) in m {
        let idx = -((-i64::from(*i)).div_euclid(factor));
        // |idx| ≤ |i|, so it always fits.
        let idx = i32::try_from(idx).unwrap_or(*i);
        *out.entry(idx).or_insert(0.0) += c;
    }
    out
}

/// The absolute bounds (lower, upper] of exponential bucket `i`.
fn bucket_bounds(schema: i32, i: i32) -> (f64, f64) {
    let exp = 2f64.powi(-schema);
    (2f64.powf(f64::from(i - 1) * exp), 2f64.powf(f64::from(i) * exp))
}

fn widen_zero_bucket(schema: i32, threshold: f64, pos: &mut BTreeMap<i32, f64>, neg: &mut BTreeMap<i32, f64>, zero: &mut f64) -> Result<(), CombineError> {
    for m in [pos, neg] {
        let mut absorbed = Vec::new();
        for (&i, &c) in m.iter() {
            let (lower, upper) = bucket_bounds(schema, i);
            if upper <= threshold {
                *zero += c;
                absorbed.push(i);
            } else if lower < threshold && c != 0.0 {
                // Prometheus then moves the threshold to the bucket's edge;
                // the README leaves that case open, so it is not guessed at.
                return Err(CombineError::Unsupported("a populated bucket straddles the wider zero threshold".into()));
            }
        }
        for i in absorbed {
            m.remove(&i);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn parses_every_key() {
        let h = parse_histogram(
            "schema:1 sum:-2.5 count:Inf z_bucket:2 z_bucket_w:0.001 buckets:[1 0 2] offset:-1 n_buckets:[3] n_offset:2 custom_values:[1 2] counter_reset_hint:not_reset",
        )
        .unwrap();
        assert_eq!(h.schema, 1);
        assert_eq!(h.sum, -2.5);
        assert_eq!(h.count, f64::INFINITY);
        assert_eq!(h.zero_count, 2.0);
        assert_eq!(h.zero_threshold, 0.001);
        assert_eq!(h.positive, Buckets { offset: -1, counts: vec![1.0, 0.0, 2.0] });
        assert_eq!(h.negative, Buckets { offset: 2, counts: vec![3.0] });
        assert_eq!(h.custom_values, vec![1.0, 2.0]);
        assert_eq!(h.counter_reset_hint, CounterResetHint::NotReset);
        assert!(h.hint_given);
    }

    #[test]
    fn defaults_and_spacing() {
        assert_eq!(parse_histogram("").unwrap(), HistogramSpec::default());
        assert_eq!(parse_histogram(" ").unwrap(), HistogramSpec::default());
        let h = parse_histogram("buckets:[ 1 2 ] sum: 3").unwrap();
        assert_eq!(h.positive.counts, vec![1.0, 2.0]);
        assert_eq!(h.sum, 3.0);
        assert!(!h.hint_given);
        assert_eq!(parse_histogram("buckets:[]").unwrap().positive.counts, Vec::<f64>::new());
    }

    #[test]
    fn rejects_bad_notation() {
        for bad in ["sum", "sum:x", "sum:1 sum:2", "color:1", "schema:1.5", "buckets:[1 2", "buckets:1", "sum:[1]", "counter_reset_hint:maybe", "Sum:1"] {
            assert!(parse_histogram(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn adds_same_schema() {
        let a = parse_histogram("schema:0 sum:4 count:4 buckets:[1 2 1]").unwrap();
        let b = parse_histogram("sum:2 count:1 buckets:[1] offset:1").unwrap();
        let s = combine(&a, &b, false).unwrap();
        assert_eq!((s.sum, s.count), (6.0, 5.0));
        assert_eq!(s.positive, Buckets { offset: 0, counts: vec![1.0, 3.0, 1.0] });
        let d = combine(&a, &b, true).unwrap();
        assert_eq!((d.sum, d.count), (2.0, 3.0));
        assert_eq!(d.positive, Buckets { offset: 0, counts: vec![1.0, 1.0, 1.0] });
    }

    #[test]
    fn adds_with_disjoint_buckets_and_negatives() {
        let a = parse_histogram("buckets:[1] offset:-2 n_buckets:[1]").unwrap();
        let b = parse_histogram("buckets:[2] offset:1 n_buckets:[5] n_offset:1").unwrap();
        let s = combine(&a, &b, false).unwrap();
        assert_eq!(s.positive, Buckets { offset: -2, counts: vec![1.0, 0.0, 0.0, 2.0] });
        assert_eq!(s.negative, Buckets { offset: 0, counts: vec![1.0, 5.0] });
    }

    #[test]
    fn reduces_finer_increment() {
        // Schema 0 buckets 1 and 2 are (1,2] and (2,4]; at schema -1 they
        // both fall into bucket 1, (1,4].
        let a = parse_histogram("schema:-1 sum:4 count:1 buckets:[1] offset:1").unwrap();
        let b = parse_histogram("schema:0 sum:4 count:4 buckets:[2 2] offset:1").unwrap();
        let s = combine(&a, &b, false).unwrap();
        assert_eq!(s.schema, -1);
        assert_eq!(s.positive, Buckets { offset: 1, counts: vec![5.0] });
        // Bucket indexes round up: -1 and 0 go to 0, 3 and 4 to 2, -3 to -1.
        let m = reduce(&BTreeMap::from([(-3, 1.0), (-1, 1.0), (0, 1.0), (3, 1.0), (4, 1.0)]), 1);
        assert_eq!(m, BTreeMap::from([(-1, 1.0), (0, 2.0), (2, 2.0)]));
        assert!(matches!(combine(&b, &a, false), Err(CombineError::Invalid(_))));
    }

    #[test]
    fn widens_zero_bucket() {
        // Schema 0 bucket -1 is (0.25, 0.5]: inside a 0.5 zero bucket.
        let a = parse_histogram("z_bucket:1 z_bucket_w:0.5 count:1").unwrap();
        let b = parse_histogram("buckets:[3 4] offset:-1 count:7").unwrap();
        let s = combine(&a, &b, false).unwrap();
        assert_eq!(s.zero_threshold, 0.5);
        assert_eq!(s.zero_count, 4.0);
        assert_eq!(s.positive, Buckets { offset: 0, counts: vec![4.0] });
        let straddling = parse_histogram("z_bucket_w:0.7 count:1").unwrap();
        assert!(matches!(combine(&straddling, &b, false), Err(CombineError::Unsupported(_))));
    }

    #[test]
    fn custom_buckets() {
        let a = parse_histogram("schema:-53 sum:1 count:1 custom_values:[5 10] buckets:[1]").unwrap();
        let s = combine(&a, &a, false).unwrap();
        assert_eq!(s.positive.counts, vec![2.0]);
        assert_eq!(s.custom_values, vec![5.0, 10.0]);
        let other = parse_histogram("schema:-53 custom_values:[5] buckets:[1]").unwrap();
        assert!(matches!(combine(&a, &other, false), Err(CombineError::Unsupported(_))));
        let exp = parse_histogram("buckets:[1]").unwrap();
        assert!(matches!(combine(&a, &exp, false), Err(CombineError::Invalid(_))));
    }

    #[test]
    fn hints() {
        use CounterResetHint::*;
        assert_eq!(Gauge.combine(Gauge), Gauge);
        assert_eq!(Reset.combine(Reset), Reset);
        assert_eq!(Gauge.combine(Unknown), Gauge);
        assert_eq!(NotReset.combine(Gauge), Gauge);
        assert_eq!(Reset.combine(NotReset), Unknown);
        let a = parse_histogram("counter_reset_hint:gauge").unwrap();
        let b = parse_histogram("count:1").unwrap();
        let s = combine(&a, &b, false).unwrap();
        assert_eq!(s.counter_reset_hint, Gauge);
        assert!(!s.hint_given, "whether the hint is checked follows B");
    }

    #[test]
    fn storability() {
        assert_eq!(parse_histogram("schema:3 buckets:[1 2]").unwrap().storable_error(), None);
        assert!(parse_histogram("buckets:[-1]").unwrap().storable_error().is_some());
        assert!(parse_histogram("schema:9").unwrap().storable_error().is_some());
        assert!(parse_histogram("custom_values:[1]").unwrap().storable_error().is_some());
        assert_eq!(parse_histogram("schema:-53 custom_values:[1 2] buckets:[1 1 1]").unwrap().storable_error(), None);
        assert!(parse_histogram("schema:-53 custom_values:[1 2] buckets:[1 1 1 1]").unwrap().storable_error().is_some());
        assert!(parse_histogram("schema:-53 custom_values:[2 1]").unwrap().storable_error().is_some());
        assert!(parse_histogram("schema:-53 z_bucket:1").unwrap().storable_error().is_some());
        assert!(parse_histogram("schema:-53 n_buckets:[1]").unwrap().storable_error().is_some());
    }
}
