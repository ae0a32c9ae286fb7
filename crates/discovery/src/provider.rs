//! What the manager runs: a provider's config (compared by value across
//! reloads) and the discoverer built from it. Each discoverer runs as one
//! task and reports full or partial lists of target groups on a channel;
//! a group sent again under a known source replaces it, an empty one
//! removes it.

use std::time::Duration;

use config::sd::{ConsulSdConfig, DnsSdConfig, FileSdConfig, HttpSdConfig, KubernetesSdConfig, ServiceDiscoveryConfigs, TargetGroup};
use tokio::sync::mpsc;

use crate::Group;
use crate::consul::ConsulDiscovery;
use crate::dns::DnsDiscovery;
use crate::file::FileDiscovery;
use crate::http::HttpDiscovery;
use crate::kubernetes::KubernetesDiscovery;
use crate::metrics::SdMetrics;

/// One discovery mechanism's config. Two equal configs are one provider,
/// shared by every job that has it, as in Prometheus.
#[derive(Debug, Clone, PartialEq)]
pub enum ProviderConfig {
    /// A job's whole `static_configs` list (sources are list indexes).
    Static(Vec<TargetGroup>),
    File(FileSdConfig),
    Http(Box<HttpSdConfig>),
    Dns(DnsSdConfig),
    Consul(Box<ConsulSdConfig>),
    Kubernetes(Box<KubernetesSdConfig>),
}

impl ProviderConfig {
    /// Prometheus's name for the mechanism, used in provider names and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            ProviderConfig::Static(_) => "static",
            ProviderConfig::File(_) => "file",
            ProviderConfig::Http(_) => "http",
            ProviderConfig::Dns(_) => "dns",
            ProviderConfig::Consul(_) => "consul",
            ProviderConfig::Kubernetes(_) => "kubernetes",
        }
    }
}

/// The providers a job's (or an Alertmanager set's) discovery blocks ask
/// for, and the kinds among them that are not implemented yet.
pub fn provider_configs(sd: &ServiceDiscoveryConfigs) -> (Vec<ProviderConfig>, Vec<&'static str>) {
    let mut out = Vec::new();
    if !sd.static_configs.is_empty() {
        out.push(ProviderConfig::Static(sd.static_configs.iter().flatten().cloned().collect()));
    }
    out.extend(sd.file_sd_configs.iter().flatten().cloned().map(ProviderConfig::File));
    out.extend(sd.http_sd_configs.iter().flatten().map(|c| ProviderConfig::Http(Box::new(c.clone()))));
    out.extend(sd.dns_sd_configs.iter().flatten().cloned().map(ProviderConfig::Dns));
    out.extend(sd.consul_sd_configs.iter().flatten().map(|c| ProviderConfig::Consul(Box::new(c.clone()))));
    out.extend(sd.kubernetes_sd_configs.iter().flatten().map(|c| ProviderConfig::Kubernetes(Box::new(c.clone()))));
    let unsupported = sd
        .configured_kinds()
        .into_iter()
        .filter(|k| !matches!(*k, "static_configs" | "file_sd_configs" | "http_sd_configs" | "dns_sd_configs" | "consul_sd_configs" | "kubernetes_sd_configs"))
        .collect();
    (out, unsupported)
}

/// What every discoverer is built with.
#[derive(Debug, Clone)]
pub(crate) struct Env {
    pub metrics: SdMetrics,
    pub user_agent: String,
    pub dns_nameserver: Option<std::net::SocketAddr>,
}

/// A provider ready to run.
#[derive(Debug)]
pub(crate) enum Discoverer {
    Static(Vec<Group>),
    File(FileDiscovery),
    Http(Box<HttpDiscovery>),
    Dns(DnsDiscovery),
    Consul(Box<ConsulDiscovery>),
    Kubernetes(Box<KubernetesDiscovery>),
}

/// Why a provider could not be created (counted in
/// `prometheus_sd_failed_configs`).
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("{0}")]
    Http(#[from] httpclient::ClientError),
    #[error("invalid URL {url:?}: {err}")]
    Url { url: String, err: url::ParseError },
    /// A setting the provider cannot work with, in words.
    #[error("{0}")]
    Config(String),
}

impl Discoverer {
    pub(crate) fn build(cfg: &ProviderConfig, env: &Env) -> Result<Discoverer, BuildError> {
        Ok(match cfg {
            ProviderConfig::Static(tgs) => Discoverer::Static(tgs.iter().enumerate().map(|(i, tg)| Group::from_static(tg, i)).collect()),
            ProviderConfig::File(c) => Discoverer::File(FileDiscovery::new(c, env.metrics.clone())),
            ProviderConfig::Http(c) => Discoverer::Http(Box::new(HttpDiscovery::new(c, env)?)),
            ProviderConfig::Dns(c) => Discoverer::Dns(DnsDiscovery::new(c, env)?),
            ProviderConfig::Consul(c) => Discoverer::Consul(Box::new(ConsulDiscovery::new(c, env)?)),
            ProviderConfig::Kubernetes(c) => Discoverer::Kubernetes(Box::new(KubernetesDiscovery::new(c, env)?)),
        })
    }

    /// Runs until done (a static list, once sent) or until the future is
    /// dropped at cancellation.
    pub(crate) async fn run(self, tx: mpsc::Sender<Vec<Group>>) {
        match self {
            Discoverer::Static(groups) => {
                let _ = tx.send(groups).await;
            }
            Discoverer::File(d) => d.run(tx).await,
            Discoverer::Http(d) => d.run(tx).await,
            Discoverer::Dns(d) => d.run(tx).await,
            Discoverer::Consul(d) => d.run(tx).await,
            Discoverer::Kubernetes(d) => d.run(tx).await,
        }
    }
}

/// Go's `strconv.FormatFloat(seconds, 'f', -1, 64)` for a duration, as
/// Prometheus writes refresh intervals into headers.
pub(crate) fn seconds_text(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 { format!("{}", s as u64) } else { format!("{s}") }
}
