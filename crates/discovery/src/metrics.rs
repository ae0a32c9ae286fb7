//! Discovery's self-metrics under Prometheus's names and labels, so that
//! dashboards and alerts written for Prometheus (`prometheus_sd_*`) work
//! unchanged. One set serves every discovery manager: each series carries
//! the manager's `name` ("scrape", later "notify") as Prometheus's constant
//! label does.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

pub(crate) type Labeled<M> = Family<Vec<(String, String)>, M>;

/// The managers' metrics and the providers' own.
#[derive(Debug, Clone, Default)]
pub struct SdMetrics {
    pub(crate) failed_configs: Labeled<Gauge>,
    pub(crate) discovered_targets: Labeled<Gauge>,
    pub(crate) received_updates: Labeled<Counter>,
    pub(crate) delayed_updates: Labeled<Counter>,
    pub(crate) sent_updates: Labeled<Counter>,
    /// Refreshes that failed, by `mechanism` (`http`; Prometheus's DNS
    /// refresh never fails as a whole: its lookups count on their own).
    pub(crate) refresh_failures: Labeled<Counter>,
    pub(crate) file_read_errors: Counter,
    pub(crate) http_failures: Counter,
    pub(crate) dns_lookups: Counter,
    pub(crate) dns_lookup_failures: Counter,
    pub(crate) consul_rpc_failures: Counter,
    /// Objects added, updated and deleted, by `event` and `role`.
    pub(crate) kubernetes_events: Labeled<Counter>,
    /// Lists and watches that failed.
    pub(crate) kubernetes_failures: Counter,
    /// Requests to the Kubernetes API, by `status_code`.
    pub(crate) kubernetes_http_requests: Labeled<Counter>,
}

pub(crate) fn name_label(name: &str) -> Vec<(String, String)> {
    vec![("name".to_owned(), name.to_owned())]
}

/// Labels in the order Prometheus prints them (sorted by name).
pub(crate) fn set_labels(name: &str, set: &str) -> Vec<(String, String)> {
    vec![("config".to_owned(), set.to_owned()), ("name".to_owned(), name.to_owned())]
}

impl SdMetrics {
    /// Creates the metrics, registering them when a registry is given.
    /// prometheus-client adds `_total` to counters' names.
    pub fn new(registry: Option<&mut Registry>) -> Self {
        let m = SdMetrics::default();
        let Some(r) = registry else { return m };
        r.register("prometheus_sd_failed_configs", "Current number of service discovery configurations that failed to load.", m.failed_configs.clone());
        r.register("prometheus_sd_discovered_targets", "Current number of discovered targets.", m.discovered_targets.clone());
        r.register("prometheus_sd_received_updates", "Total number of update events received from the SD providers.", m.received_updates.clone());
        r.register("prometheus_sd_updates_delayed", "Total number of update events that couldn't be sent immediately.", m.delayed_updates.clone());
        r.register("prometheus_sd_updates", "Total number of update events sent to the SD consumers.", m.sent_updates.clone());
        r.register("prometheus_sd_refresh_failures", "Number of refresh failures for the given SD mechanism.", m.refresh_failures.clone());
        r.register("prometheus_sd_file_read_errors", "The number of File-SD read errors.", m.file_read_errors.clone());
        r.register("prometheus_sd_http_failures", "Number of HTTP service discovery refresh failures.", m.http_failures.clone());
        r.register("prometheus_sd_dns_lookups", "The number of DNS-SD lookups.", m.dns_lookups.clone());
        r.register("prometheus_sd_dns_lookup_failures", "The number of DNS-SD lookup failures.", m.dns_lookup_failures.clone());
        r.register("prometheus_sd_consul_rpc_failures", "The number of Consul RPC call failures.", m.consul_rpc_failures.clone());
        r.register("prometheus_sd_kubernetes_events", "The number of Kubernetes events handled.", m.kubernetes_events.clone());
        r.register("prometheus_sd_kubernetes_failures", "The number of failed WATCH/LIST requests.", m.kubernetes_failures.clone());
        r.register(
            "prometheus_sd_kubernetes_http_request",
            "Total number of HTTP requests to the Kubernetes API by status code.",
            m.kubernetes_http_requests.clone(),
        );
        // Prometheus shows every role and event at zero from the start.
        for role in ["endpointslice", "endpoints", "node", "pod", "service", "ingress"] {
            for event in ["add", "delete", "update"] {
                let _ = m.kubernetes_events.get_or_create(&vec![("event".to_owned(), event.to_owned()), ("role".to_owned(), role.to_owned())]);
            }
        }
        m
    }

    /// Makes a manager's series visible at zero before anything happens,
    /// as Prometheus's unlabelled-but-for-`name` metrics are.
    pub(crate) fn init_manager(&self, name: &str) {
        let l = name_label(name);
        let _ = self.failed_configs.get_or_create(&l);
        let _ = self.received_updates.get_or_create(&l);
        let _ = self.delayed_updates.get_or_create(&l);
        let _ = self.sent_updates.get_or_create(&l);
    }

    pub(crate) fn refresh_failed(&self, mechanism: &str) {
        self.refresh_failures.get_or_create(&vec![("mechanism".to_owned(), mechanism.to_owned())]).inc();
    }
}
