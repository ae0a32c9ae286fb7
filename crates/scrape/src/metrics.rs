//! The scrape engine's self-metrics, under Prometheus's names so that the
//! usual "is Prometheus keeping up" dashboards work unchanged.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::registry::Registry;

type ByJob = Family<Vec<(String, String)>, Gauge>;
type CountByJob = Family<Vec<(String, String)>, Counter>;

pub(crate) fn job_label(job: &str) -> Vec<(String, String)> {
    vec![("scrape_job".to_owned(), job.to_owned())]
}

/// Counters and gauges shared by the manager, every pool and every loop.
#[derive(Debug, Clone, Default)]
pub struct ScrapeMetrics {
    pub exceeded_sample_limit: Counter,
    pub exceeded_body_size_limit: Counter,
    pub exceeded_label_limits: Counter,
    pub exceeded_target_limit: Counter,
    pub sample_out_of_order: Counter,
    pub sample_duplicate: Counter,
    pub sample_out_of_bounds: Counter,
    pub exemplar_out_of_order: Counter,
    pub pools_total: Counter,
    pub pools_failed: Counter,
    pub pool_reloads: Counter,
    pub pool_reloads_failed: Counter,
    pub pool_targets: ByJob,
    pub pool_target_limit: ByJob,
    pub pool_syncs: CountByJob,
    pub sync_failed: CountByJob,
    pub interval_length: Summary,
    pub sync_length: Summary,
    pub reload_length: Summary,
}

impl ScrapeMetrics {
    /// Creates the metrics, registering them when a registry is given.
    pub fn new(registry: Option<&mut Registry>) -> Self {
        let m = ScrapeMetrics {
            interval_length: Summary::new("interval"),
            sync_length: Summary::new("scrape_job"),
            reload_length: Summary::new("interval"),
            ..Default::default()
        };
        let Some(r) = registry else { return m };
        let counters: [(&str, &str, &Counter); 12] = [
            ("prometheus_target_scrapes_exceeded_body_size_limit", "Total number of scrapes that hit the body size limit", &m.exceeded_body_size_limit),
            (
                "prometheus_target_scrapes_exceeded_sample_limit",
                "Total number of scrapes that hit the sample limit and were rejected.",
                &m.exceeded_sample_limit,
            ),
            (
                "prometheus_target_scrape_pool_exceeded_label_limits",
                "Total number of times scrape pools hit the label limits, during sync or config reload.",
                &m.exceeded_label_limits,
            ),
            (
                "prometheus_target_scrape_pool_exceeded_target_limit",
                "Total number of times scrape pools hit the target limit, during sync or config reload.",
                &m.exceeded_target_limit,
            ),
            (
                "prometheus_target_scrapes_sample_out_of_order",
                "Total number of samples rejected due to not being out of the expected order.",
                &m.sample_out_of_order,
            ),
            (
                "prometheus_target_scrapes_sample_duplicate_timestamp",
                "Total number of samples rejected due to duplicate timestamps but different values.",
                &m.sample_duplicate,
            ),
            (
                "prometheus_target_scrapes_sample_out_of_bounds",
                "Total number of samples rejected due to timestamp falling out of the time bounds.",
                &m.sample_out_of_bounds,
            ),
            (
                "prometheus_target_scrapes_exemplar_out_of_order",
                "Total number of exemplar rejected due to not being out of the expected order.",
                &m.exemplar_out_of_order,
            ),
            ("prometheus_target_scrape_pools", "Total number of scrape pool creation attempts.", &m.pools_total),
            ("prometheus_target_scrape_pools_failed", "Total number of scrape pool creations that failed.", &m.pools_failed),
            ("prometheus_target_scrape_pool_reloads", "Total number of scrape pool reloads.", &m.pool_reloads),
            ("prometheus_target_scrape_pool_reloads_failed", "Total number of failed scrape pool reloads.", &m.pool_reloads_failed),
        ];
        for (name, help, c) in counters {
            r.register(name, help, c.clone());
        }
        r.register("prometheus_target_scrape_pool_targets", "Current number of targets in this scrape pool.", m.pool_targets.clone());
        r.register("prometheus_target_scrape_pool_target_limit", "Maximum number of targets allowed in this scrape pool.", m.pool_target_limit.clone());
        r.register("prometheus_target_scrape_pool_sync", "Total number of syncs that were executed on a scrape pool.", m.pool_syncs.clone());
        r.register("prometheus_target_sync_failed", "Total number of target sync failures.", m.sync_failed.clone());
        r.register_collector(Box::new(SummaryCollector {
            name: "prometheus_target_interval_length_seconds",
            help: "Actual intervals between scrapes.",
            summary: m.interval_length.clone(),
        }));
        r.register_collector(Box::new(SummaryCollector {
            name: "prometheus_target_sync_length_seconds",
            help: "Actual interval to sync the scrape pool.",
            summary: m.sync_length.clone(),
        }));
        r.register_collector(Box::new(SummaryCollector {
            name: "prometheus_target_reload_length_seconds",
            help: "Actual interval to reload the scrape pool with a given configuration.",
            summary: m.reload_length.clone(),
        }));
        m
    }
}

/// The quantiles Prometheus's scrape summaries expose.
const QUANTILES: [f64; 5] = [0.01, 0.05, 0.5, 0.9, 0.99];
/// Observations older than this leave the quantiles (Go's summaries use a
/// 10-minute sliding window too).
const WINDOW: Duration = Duration::from_secs(600);
/// Enough observations for stable tail quantiles without unbounded memory.
const KEEP: usize = 2048;

#[derive(Debug, Default)]
struct Series {
    recent: VecDeque<(Instant, f64)>,
    sum: f64,
    count: u64,
}

/// A summary with one label, exposed as `name{label=…,quantile=…}` plus
/// `name_sum` and `name_count`. The client library has no summary type,
/// and dashboards query these quantiles by name.
#[derive(Debug, Clone)]
pub struct Summary {
    label: &'static str,
    series: Arc<Mutex<BTreeMap<String, Series>>>,
}

impl Default for Summary {
    fn default() -> Self {
        Summary::new("")
    }
}

impl Summary {
    pub fn new(label: &'static str) -> Self {
        Summary { label, series: Arc::default() }
    }

    pub fn observe(&self, label_value: &str, v: f64) {
        let mut map = self.series.lock().unwrap_or_else(|p| p.into_inner());
        if !map.contains_key(label_value) {
            map.insert(label_value.to_owned(), Series::default());
        }
        if let Some(s) = map.get_mut(label_value) {
            let now = Instant::now();
            s.recent.push_back((now, v));
            while s.recent.len() > KEEP || s.recent.front().is_some_and(|(t, _)| now.duration_since(*t) > WINDOW) {
                s.recent.pop_front();
            }
            s.sum += v;
            s.count += 1;
        }
    }

    pub fn remove(&self, label_value: &str) {
        self.series.lock().unwrap_or_else(|p| p.into_inner()).remove(label_value);
    }

    /// `(label value, quantiles, sum, count)` for every series.
    fn snapshot(&self) -> Vec<SummarySnapshot> {
        let map = self.series.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        map.iter()
            .map(|(k, s)| {
                let mut vals: Vec<f64> = s.recent.iter().filter(|(t, _)| now.duration_since(*t) <= WINDOW).map(|(_, v)| *v).collect();
                vals.sort_by(f64::total_cmp);
                let qs = QUANTILES
                    .iter()
                    .map(|&q| {
                        let v = if vals.is_empty() { f64::NAN } else { vals[((q * vals.len() as f64) as usize).min(vals.len() - 1)] };
                        (q, v)
                    })
                    .collect();
                SummarySnapshot { label_value: k.clone(), quantiles: qs, sum: s.sum, count: s.count }
            })
            .collect()
    }
}

struct SummarySnapshot {
    label_value: String,
    quantiles: Vec<(f64, f64)>,
    sum: f64,
    count: u64,
}

#[derive(Debug)]
struct SummaryCollector {
    name: &'static str,
    help: &'static str,
    summary: Summary,
}

impl Collector for SummaryCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let snap = self.summary.snapshot();
        if snap.is_empty() {
            return Ok(());
        }
        let label = self.summary.label;
        {
            let mut fam = encoder.encode_descriptor(self.name, self.help, None, MetricType::Gauge)?;
            for s in &snap {
                for (q, v) in &s.quantiles {
                    let labels = [(label, s.label_value.as_str()), ("quantile", &q.to_string())];
                    ConstGauge::new(*v).encode(fam.encode_family(&labels)?)?;
                }
            }
        }
        let sum_name = format!("{}_sum", self.name);
        {
            let mut fam = encoder.encode_descriptor(&sum_name, self.help, None, MetricType::Gauge)?;
            for s in &snap {
                ConstGauge::new(s.sum).encode(fam.encode_family(&[(label, s.label_value.as_str())])?)?;
            }
        }
        let count_name = format!("{}_count", self.name);
        let mut fam = encoder.encode_descriptor(&count_name, self.help, None, MetricType::Gauge)?;
        for s in &snap {
            ConstGauge::new(s.count as i64).encode(fam.encode_family(&[(label, s.label_value.as_str())])?)?;
        }
        Ok(())
    }
}
