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
