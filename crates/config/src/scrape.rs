//! `scrape_configs`: one scrape job each.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use model::ValidationScheme;
use relabel::RelabelConfig;
use serde::{Deserialize, Serialize};

use crate::duration::Duration;
use crate::global::{EscapingScheme, GlobalConfig, deserialize_escaping, deserialize_scheme, serialize_scheme};
use crate::http::HttpClientConfig;
use crate::sd::ServiceDiscoveryConfigs;
use crate::units::ByteSize;
use crate::{join_dir, non_null};

/// An exposition format a scrape may ask for in its `Accept` header, as
/// written in the config. Kept as text so that an unknown name reaches
/// validation and its error intact; the protocols themselves (names, media
/// types, defaults) are `textparse`'s, which negotiates them.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(transparent)]
pub struct ScrapeProtocol(pub String);

impl ScrapeProtocol {
    pub fn new(s: &str) -> Self {
        ScrapeProtocol(s.to_owned())
    }

    /// The protocol this names, if it is one Prometheus knows.
    pub fn protocol(&self) -> Result<textparse::ScrapeProtocol, textparse::content_type::UnknownScrapeProtocol> {
        self.0.parse()
    }

    /// The media type sent in `Accept`, `None` for an unknown protocol.
    pub fn header(&self) -> Option<&'static str> {
        self.protocol().ok().map(textparse::ScrapeProtocol::header)
    }

    pub fn validate(&self) -> Result<(), String> {
        self.protocol().map(|_| ()).map_err(|e| e.to_string())
    }

    /// Prometheus's default order, most wanted first.
    pub fn defaults() -> Vec<ScrapeProtocol> {
        textparse::ScrapeProtocol::DEFAULT.iter().map(|p| ScrapeProtocol::new(p.as_str())).collect()
    }

    /// The order used when native histograms are scraped: protobuf first.
    pub fn proto_first() -> Vec<ScrapeProtocol> {
        let mut v = vec![ScrapeProtocol::new(textparse::ScrapeProtocol::PrometheusProto.as_str())];
        v.extend(Self::defaults());
        v
    }
}

impl fmt::Display for ScrapeProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An empty fallback protocol is no fallback, as in Prometheus.
fn deserialize_fallback<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<ScrapeProtocol>, D::Error> {
    Ok(Option::<String>::deserialize(d)?.filter(|s| !s.is_empty()).map(ScrapeProtocol))
}

pub(crate) fn validate_protocols(list: &[ScrapeProtocol]) -> Result<(), String> {
    if list.is_empty() {
        return Err("scrape_protocols cannot be empty".into());
    }
    let mut seen = std::collections::HashSet::new();
    for p in list {
        if !seen.insert(p.0.to_lowercase()) {
            let all: Vec<&str> = list.iter().map(|p| p.0.as_str()).collect();
            return Err(format!("duplicated protocol in scrape_protocols, got [{}]", all.join(" ")));
        }
        p.validate().map_err(|e| format!("scrape_protocols: {e}"))?;
    }
    Ok(())
}

non_null!(target_relabel_rules, RelabelConfig, "empty or null target relabeling rule in scrape config");
non_null!(metric_relabel_rules, RelabelConfig, "empty or null metric relabeling rule in scrape config");

/// One scrape job. After [`crate::Config`] is loaded, every inherited field
/// (interval, timeout, limits, protocols, name schemes) holds its effective
/// value.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename = "config.ScrapeConfig", deny_unknown_fields, default)]
pub struct ScrapeConfig {
    pub job_name: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub honor_labels: bool,
    pub honor_timestamps: bool,
    pub track_timestamps_staleness: bool,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, Vec<String>>,
    pub scrape_interval: Duration,
    pub scrape_timeout: Duration,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scrape_protocols: Option<Vec<ScrapeProtocol>>,
    #[serde(deserialize_with = "deserialize_fallback", skip_serializing_if = "Option::is_none")]
    pub fallback_scrape_protocol: Option<ScrapeProtocol>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scrape_native_histograms: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub always_scrape_classic_histograms: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub convert_classic_histograms_to_nhcb: Option<bool>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub scrape_failure_log_file: String,
    pub metrics_path: String,
    pub scheme: String,
    pub enable_compression: bool,
    #[serde(skip_serializing_if = "is_zero_size")]
    pub body_size_limit: ByteSize,
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub sample_limit: u64,
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub target_limit: u64,
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub label_limit: u64,
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub label_name_length_limit: u64,
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub label_value_length_limit: u64,
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub native_histogram_bucket_limit: u64,
    #[serde(skip_serializing_if = "is_zero_f64")]
    pub native_histogram_min_bucket_factor: f64,
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub keep_dropped_targets: u64,
    #[serde(deserialize_with = "deserialize_scheme", serialize_with = "serialize_scheme")]
    pub metric_name_validation_scheme: Option<ValidationScheme>,
    #[serde(deserialize_with = "deserialize_escaping", skip_serializing_if = "Option::is_none")]
    pub metric_name_escaping_scheme: Option<EscapingScheme>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extra_scrape_metrics: Option<bool>,
    #[serde(rename = "$inline_sd")]
    pub service_discovery: ServiceDiscoveryConfigs,
    #[serde(rename = "$inline")]
    pub http_client_config: HttpClientConfig,
    #[serde(deserialize_with = "target_relabel_rules", skip_serializing_if = "Vec::is_empty")]
    pub relabel_configs: Vec<RelabelConfig>,
    #[serde(deserialize_with = "metric_relabel_rules", skip_serializing_if = "Vec::is_empty")]
    pub metric_relabel_configs: Vec<RelabelConfig>,
}

fn is_zero_u64(n: &u64) -> bool {
    *n == 0
}

fn is_zero_size(n: &ByteSize) -> bool {
    n.0 == 0
}

fn is_zero_f64(n: &f64) -> bool {
    *n == 0.0
}

impl Default for ScrapeConfig {
    fn default() -> Self {
        ScrapeConfig {
            job_name: String::new(),
            honor_labels: false,
            honor_timestamps: true,
            track_timestamps_staleness: false,
            params: BTreeMap::new(),
            scrape_interval: Duration::ZERO,
            scrape_timeout: Duration::ZERO,
            scrape_protocols: None,
            fallback_scrape_protocol: None,
            scrape_native_histograms: None,
            always_scrape_classic_histograms: None,
            convert_classic_histograms_to_nhcb: None,
            scrape_failure_log_file: String::new(),
            metrics_path: "/metrics".into(),
            scheme: "http".into(),
            enable_compression: true,
            body_size_limit: ByteSize(0),
            sample_limit: 0,
            target_limit: 0,
            label_limit: 0,
            label_name_length_limit: 0,
            label_value_length_limit: 0,
            native_histogram_bucket_limit: 0,
            native_histogram_min_bucket_factor: 0.0,
            keep_dropped_targets: 0,
            metric_name_validation_scheme: None,
            metric_name_escaping_scheme: None,
            extra_scrape_metrics: None,
            service_discovery: ServiceDiscoveryConfigs::default(),
            http_client_config: HttpClientConfig::default(),
            relabel_configs: Vec::new(),
            metric_relabel_configs: Vec::new(),
        }
    }
}

impl ScrapeConfig {
    /// The checks Prometheus makes as the job is read, before globals apply.
    pub(crate) fn validate_own(&mut self) -> Result<(), String> {
        // Prometheus validates each discovery block as it is decoded, so
        // their errors come before the job's own.
        self.service_discovery.validate()?;
        if self.job_name.is_empty() {
            return Err("job_name is empty".into());
        }
        self.http_client_config.validate()?;
        // Catch URLs pasted as static targets, unless relabeling may fix them.
        if self.relabel_configs.is_empty() {
            for tg in self.service_discovery.static_configs.iter().flatten() {
                for t in &tg.targets {
                    if t.contains('/') {
                        return Err(format!("{t:?} is not a valid hostname"));
                    }
                }
            }
        }
        Ok(())
    }

    /// Fills inherited fields from `global` and checks the result.
    pub(crate) fn apply_global(&mut self, global: &GlobalConfig) -> Result<(), String> {
        let job = &self.job_name;
        if self.scrape_interval.is_zero() {
            self.scrape_interval = global.scrape_interval;
        }
        if self.scrape_timeout > self.scrape_interval {
            return Err(format!("scrape timeout greater than scrape interval for scrape config with job name {job:?}"));
        }
        if self.scrape_timeout.is_zero() {
            self.scrape_timeout = global.scrape_timeout.min(self.scrape_interval);
        }
        fn inherit(own: &mut u64, global: u64) {
            if *own == 0 {
                *own = global;
            }
        }
        if self.body_size_limit.0 == 0 {
            self.body_size_limit = global.body_size_limit;
        }
        inherit(&mut self.sample_limit, global.sample_limit);
        inherit(&mut self.target_limit, global.target_limit);
        inherit(&mut self.label_limit, global.label_limit);
        inherit(&mut self.label_name_length_limit, global.label_name_length_limit);
        inherit(&mut self.label_value_length_limit, global.label_value_length_limit);
        inherit(&mut self.keep_dropped_targets, global.keep_dropped_targets);
        if self.scrape_failure_log_file.is_empty() {
            self.scrape_failure_log_file = global.scrape_failure_log_file.clone();
        }
        if self.scrape_native_histograms.is_none() {
            self.scrape_native_histograms = Some(global.scrape_native_histograms.unwrap_or(false));
        }
        if self.extra_scrape_metrics.is_none() {
            self.extra_scrape_metrics = Some(global.extra_scrape_metrics);
        }
        if self.scrape_protocols.is_none() {
            self.scrape_protocols = Some(match &global.scrape_protocols {
                Some(p) => p.clone(),
                None if self.scrape_native_histograms == Some(true) => ScrapeProtocol::proto_first(),
                None => ScrapeProtocol::defaults(),
            });
        }
        if let Some(p) = &self.scrape_protocols {
            validate_protocols(p).map_err(|e| format!("{e} for scrape config with job name {job:?}"))?;
        }
        if let Some(p) = &self.fallback_scrape_protocol {
            p.validate().map_err(|e| format!("invalid fallback_scrape_protocol for scrape config with job name {job:?}: {e}"))?;
        }
        let global_scheme = global.validation_scheme();
        let local_unset = self.metric_name_validation_scheme.is_none();
        let scheme = *self.metric_name_validation_scheme.get_or_insert(global_scheme);
        let global_escaping = global.metric_name_escaping_scheme.unwrap_or(match global_scheme {
            ValidationScheme::Legacy => EscapingScheme::Underscores,
            ValidationScheme::Utf8 => EscapingScheme::AllowUtf8,
        });
        let escaping = *self.metric_name_escaping_scheme.get_or_insert(if local_unset {
            global_escaping
        } else if scheme == ValidationScheme::Legacy {
            EscapingScheme::Underscores
        } else {
            EscapingScheme::AllowUtf8
        });
        if escaping == EscapingScheme::AllowUtf8 && scheme != ValidationScheme::Utf8 {
            return Err("utf8 metric names requested but validation scheme is not set to UTF8".into());
        }
        if self.convert_classic_histograms_to_nhcb.is_none() {
            self.convert_classic_histograms_to_nhcb = Some(global.convert_classic_histograms_to_nhcb);
        }
        if self.always_scrape_classic_histograms.is_none() {
            self.always_scrape_classic_histograms = Some(global.always_scrape_classic_histograms);
        }
        for rc in self.relabel_configs.iter().chain(&self.metric_relabel_configs) {
            rc.validate(scheme)?;
        }
        Ok(())
    }

    pub(crate) fn set_directory(&mut self, dir: &Path) {
        self.service_discovery.set_directory(dir);
        self.http_client_config.set_directory(dir);
        join_dir(dir, &mut self.scrape_failure_log_file);
    }

    /// The effective validation scheme (set once the config is loaded).
    pub fn validation_scheme(&self) -> ValidationScheme {
        self.metric_name_validation_scheme.unwrap_or_default()
    }
}
