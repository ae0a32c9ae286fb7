//! The head's self-metrics, under Prometheus's names.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::exemplar::ExemplarMetrics;

#[derive(Debug, Clone)]
pub struct HeadMetrics {
    pub series: Gauge,
    pub series_created: Counter,
    pub series_removed: Counter,
    pub chunks: Gauge,
    pub chunks_created: Counter,
    pub chunks_removed: Counter,
    pub samples_appended: Counter,
    pub out_of_order_samples: Counter,
    pub out_of_bound_samples: Counter,
    pub duplicate_samples: Counter,
    pub active_appenders: Gauge,
    pub min_time: Gauge,
    pub max_time: Gauge,
    pub gc_duration: Histogram,
    pub wal_segment_current: Gauge,
    pub wal_corruptions: Counter,
    pub exemplars: ExemplarMetrics,
}

impl HeadMetrics {
    /// Creates the metrics, registering them when a registry is given.
    pub fn new(mut registry: Option<&mut Registry>) -> Self {
        let m = HeadMetrics {
            exemplars: ExemplarMetrics::new(registry.as_deref_mut()),
            series: Gauge::default(),
            series_created: Counter::default(),
            series_removed: Counter::default(),
            chunks: Gauge::default(),
            chunks_created: Counter::default(),
            chunks_removed: Counter::default(),
            samples_appended: Counter::default(),
            out_of_order_samples: Counter::default(),
            out_of_bound_samples: Counter::default(),
            duplicate_samples: Counter::default(),
            active_appenders: Gauge::default(),
            min_time: Gauge::default(),
            max_time: Gauge::default(),
            gc_duration: Histogram::new([0.001, 0.01, 0.1, 1.0, 10.0]),
            wal_segment_current: Gauge::default(),
            wal_corruptions: Counter::default(),
        };
        if let Some(r) = registry {
            r.register("prometheus_tsdb_head_series", "Total number of series in the head block", m.series.clone());
            r.register("prometheus_tsdb_head_series_created", "Total number of series created in the head", m.series_created.clone());
            r.register("prometheus_tsdb_head_series_removed", "Total number of series removed in the head", m.series_removed.clone());
            r.register("prometheus_tsdb_head_chunks", "Total number of chunks in the head block", m.chunks.clone());
            r.register("prometheus_tsdb_head_chunks_created", "Total number of chunks created in the head", m.chunks_created.clone());
            r.register("prometheus_tsdb_head_chunks_removed", "Total number of chunks removed in the head", m.chunks_removed.clone());
            r.register(
                "prometheus_tsdb_duplicate_sample_for_timestamp",
                "Total number of samples with the same timestamp and a different value",
                m.duplicate_samples.clone(),
            );
            r.register("prometheus_tsdb_head_active_appenders", "Number of currently active appender transactions", m.active_appenders.clone());
            r.register("prometheus_tsdb_head_min_time", "Minimum time bound of the head block", m.min_time.clone());
            r.register("prometheus_tsdb_head_max_time", "Maximum timestamp of the head block", m.max_time.clone());
            r.register("prometheus_tsdb_head_gc_duration_seconds", "Runtime of garbage collection in the head block", m.gc_duration.clone());
            r.register("prometheus_tsdb_wal_segment_current", "Write log segment index that TSDB is currently writing to", m.wal_segment_current.clone());
            r.register("prometheus_tsdb_wal_corruptions", "Total number of WAL corruptions", m.wal_corruptions.clone());
            // These carry a `type` label in Prometheus (float, histogram);
            // only floats exist here so far.
            let typed = r.sub_registry_with_label(("type".into(), "float".into()));
            typed.register("prometheus_tsdb_head_samples_appended", "Total number of appended samples", m.samples_appended.clone());
            typed.register(
                "prometheus_tsdb_out_of_order_samples",
                "Total number of out of order samples ingestion failed attempts due to out of order being disabled",
                m.out_of_order_samples.clone(),
            );
            typed.register(
                "prometheus_tsdb_out_of_bound_samples",
                "Total number of out of bound samples ingestion failed attempts with out of order support disabled",
                m.out_of_bound_samples.clone(),
            );
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_counters_carry_the_type_label() {
        let mut r = Registry::default();
        let m = HeadMetrics::new(Some(&mut r));
        m.samples_appended.inc();
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &r).unwrap();
        assert!(out.contains("prometheus_tsdb_head_samples_appended_total{type=\"float\"} 1"), "{out}");
        assert!(out.contains("prometheus_tsdb_head_series 0"), "{out}");
    }
}
