//! Samples, exemplars and metadata: what a scrape or a rule hands storage.

use crate::labels::Labels;

/// Milliseconds since the Unix epoch, as everywhere in Prometheus.
pub type Timestamp = i64;

/// The bit pattern of a staleness marker: a NaN that no computation yields,
/// so it can be told apart from a genuine NaN sample.
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// The staleness-marker value.
pub fn stale_nan() -> f64 {
    f64::from_bits(STALE_NAN_BITS)
}

/// Whether `v` is a staleness marker (not merely a NaN).
pub fn is_stale_nan(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
}

/// One float sample of one series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub t: Timestamp,
    pub v: f64,
}

/// An exemplar attached to a sample (OpenMetrics `# {trace_id="..."} 1 123`).
#[derive(Debug, Clone, PartialEq)]
pub struct Exemplar {
    pub labels: Labels,
    pub value: f64,
    pub ts: Timestamp,
    /// Whether the exposition gave a timestamp; otherwise `ts` is the scrape's.
    pub has_ts: bool,
}

/// OpenMetrics' limit on an exemplar's label set: "the combined length of the
/// label names and values of an Exemplar's LabelSet MUST NOT exceed 128 UTF-8
/// characters".
pub const EXEMPLAR_MAX_LABEL_SET_LENGTH: usize = 128;

impl Exemplar {
    /// Whether `other` is the same exemplar, as Prometheus decides it: the
    /// timestamps only count when one of the two was exposed with one, so
    /// that an exemplar scraped again without a timestamp (and stamped with
    /// each scrape's time) stays a duplicate of itself.
    pub fn same_as(&self, other: &Exemplar) -> bool {
        if self.labels != other.labels {
            return false;
        }
        if (self.has_ts || other.has_ts) && self.ts != other.ts {
            return false;
        }
        self.value == other.value
    }

    /// The combined length of label names and values, in characters (not
    /// bytes, nor the quotes and commas of the text form).
    pub fn label_set_length(&self) -> usize {
        self.labels.iter().map(|l| l.name.chars().count() + l.value.chars().count()).sum()
    }
}

/// A metric family's type as exposed (`# TYPE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum MetricType {
    Counter,
    Gauge,
    Histogram,
    GaugeHistogram,
    Summary,
    Info,
    StateSet,
    #[default]
    Unknown,
}

impl MetricType {
    /// The name Prometheus's API uses for this type.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
            MetricType::GaugeHistogram => "gaugehistogram",
            MetricType::Summary => "summary",
            MetricType::Info => "info",
            MetricType::StateSet => "stateset",
            MetricType::Unknown => "unknown",
        }
    }
}

/// HELP, TYPE and UNIT of a series' metric family.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Metadata {
    pub metric_type: MetricType,
    pub unit: String,
    pub help: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(trace: &str, value: f64, ts: i64, has_ts: bool) -> Exemplar {
        Exemplar { labels: Labels::from_pairs([("trace_id", trace)]), value, ts, has_ts }
    }

    #[test]
    fn exemplar_identity_ignores_scrape_stamped_times() {
        assert!(ex("a", 1.0, 1000, false).same_as(&ex("a", 1.0, 2000, false)), "both stamped by the scrape");
        assert!(!ex("a", 1.0, 1000, true).same_as(&ex("a", 1.0, 2000, false)));
        assert!(ex("a", 1.0, 1000, true).same_as(&ex("a", 1.0, 1000, false)));
        assert!(!ex("a", 1.0, 1000, true).same_as(&ex("b", 1.0, 1000, true)));
        assert!(!ex("a", 1.0, 1000, true).same_as(&ex("a", 2.0, 1000, true)));
        assert!(!ex("a", f64::NAN, 1000, true).same_as(&ex("a", f64::NAN, 1000, true)), "NaN is never equal, as in Go");
    }

    #[test]
    fn label_set_length_counts_characters() {
        assert_eq!(ex("ab", 0.0, 0, false).label_set_length(), "trace_id".len() + 2);
        assert_eq!(ex("é", 0.0, 0, false).label_set_length(), "trace_id".len() + 1);
    }
}
