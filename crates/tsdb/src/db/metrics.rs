//! The database's self-metrics (blocks, compaction, retention), under
//! Prometheus's names.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Debug, Clone)]
pub struct DbMetrics {
    pub blocks_loaded: Gauge,
    pub reloads: Counter,
    pub reloads_failed: Counter,
    pub compactions: Counter,
    pub compactions_failed: Counter,
    pub compactions_triggered: Counter,
    pub compaction_duration: Histogram,
    pub head_truncations: Counter,
    pub head_truncations_failed: Counter,
    pub time_retentions: Counter,
    pub size_retentions: Counter,
    pub blocks_bytes: Gauge,
    pub retention_limit_bytes: Gauge,
    pub lowest_timestamp: Gauge,
    pub lowest_timestamp_seconds: Gauge,
}

impl DbMetrics {
    /// Creates the metrics, registering them when a registry is given.
    pub fn new(registry: Option<&mut Registry>) -> Self {
        let m = DbMetrics {
            blocks_loaded: Gauge::default(),
            reloads: Counter::default(),
            reloads_failed: Counter::default(),
            compactions: Counter::default(),
            compactions_failed: Counter::default(),
            compactions_triggered: Counter::default(),
            // Prometheus's buckets: exponential from 1 s by 2, 14 of them.
            compaction_duration: Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(1.0, 2.0, 14)),
            head_truncations: Counter::default(),
            head_truncations_failed: Counter::default(),
            time_retentions: Counter::default(),
            size_retentions: Counter::default(),
            blocks_bytes: Gauge::default(),
            retention_limit_bytes: Gauge::default(),
            lowest_timestamp: Gauge::default(),
            lowest_timestamp_seconds: Gauge::default(),
        };
        if let Some(r) = registry {
            r.register("prometheus_tsdb_blocks_loaded", "Number of currently loaded data blocks", m.blocks_loaded.clone());
            r.register("prometheus_tsdb_reloads", "Number of times the database reloaded block data from disk.", m.reloads.clone());
            r.register(
                "prometheus_tsdb_reloads_failures",
                "Number of times the database failed to reloadBlocks block data from disk.",
                m.reloads_failed.clone(),
            );
            r.register("prometheus_tsdb_compactions", "Total number of compactions that were executed for the partition.", m.compactions.clone());
            r.register("prometheus_tsdb_compactions_failed", "Total number of compactions that failed for the partition.", m.compactions_failed.clone());
            r.register("prometheus_tsdb_compactions_triggered", "Total number of triggered compactions for the partition.", m.compactions_triggered.clone());
            r.register("prometheus_tsdb_compaction_duration_seconds", "Duration of compaction runs", m.compaction_duration.clone());
            r.register("prometheus_tsdb_head_truncations", "Total number of head truncations attempted.", m.head_truncations.clone());
            r.register("prometheus_tsdb_head_truncations_failed", "Total number of head truncations that failed.", m.head_truncations_failed.clone());
            r.register(
                "prometheus_tsdb_time_retentions",
                "The number of times that blocks were deleted because the maximum time limit was exceeded.",
                m.time_retentions.clone(),
            );
            r.register(
                "prometheus_tsdb_size_retentions",
                "The number of times that blocks were deleted because the maximum number of bytes was exceeded.",
                m.size_retentions.clone(),
            );
            r.register(
                "prometheus_tsdb_storage_blocks_bytes",
                "The number of bytes that are currently used for local storage by all blocks.",
                m.blocks_bytes.clone(),
            );
            r.register(
                "prometheus_tsdb_retention_limit_bytes",
                "Max number of bytes to be retained in the tsdb blocks, configured 0 means disabled",
                m.retention_limit_bytes.clone(),
            );
            r.register(
                "prometheus_tsdb_lowest_timestamp",
                "Lowest timestamp value stored in the database. The unit is decided by the library consumer.",
                m.lowest_timestamp.clone(),
            );
            r.register("prometheus_tsdb_lowest_timestamp_seconds", "Lowest timestamp value stored in the database.", m.lowest_timestamp_seconds.clone());
        }
        m
    }
}
