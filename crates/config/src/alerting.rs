//! `alerting`: where alerts go, and how they are relabeled on the way.

use std::path::Path;

use model::ValidationScheme;
use relabel::RelabelConfig;
use serde::{Deserialize, Serialize};

use crate::duration::Duration;
use crate::http::HttpClientConfig;
use crate::non_null;
use crate::remote::SigV4Config;
use crate::sd::ServiceDiscoveryConfigs;

non_null!(alert_relabel_rules, RelabelConfig, "empty or null alert relabeling rule");
non_null!(am_target_relabel_rules, RelabelConfig, "empty or null Alertmanager target relabeling rule");
non_null!(am_alert_relabel_rules, RelabelConfig, "empty or null Alertmanager alert relabeling rule");

#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(rename = "config.plain", deny_unknown_fields, default)]
pub struct AlertingConfig {
    #[serde(deserialize_with = "alert_relabel_rules", skip_serializing_if = "Vec::is_empty")]
    pub alert_relabel_configs: Vec<RelabelConfig>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub alertmanagers: Vec<AlertmanagerConfig>,
}

impl AlertingConfig {
    pub fn is_empty(&self) -> bool {
        self.alert_relabel_configs.is_empty() && self.alertmanagers.is_empty()
    }

    pub(crate) fn validate(&mut self, scheme: ValidationScheme) -> Result<(), String> {
        for rc in &self.alert_relabel_configs {
            rc.validate(scheme)?;
        }
        for am in &mut self.alertmanagers {
            am.validate(scheme)?;
        }
        Ok(())
    }

    pub(crate) fn set_directory(&mut self, dir: &Path) {
        for am in &mut self.alertmanagers {
            am.service_discovery.set_directory(dir);
            am.http_client_config.set_directory(dir);
        }
    }
}

/// The Alertmanager API versions Prometheus 3.x speaks.
pub const SUPPORTED_API_VERSIONS: [&str; 1] = ["v2"];

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename = "config.plain", deny_unknown_fields, default)]
pub struct AlertmanagerConfig {
    #[serde(rename = "$inline_sd")]
    pub service_discovery: ServiceDiscoveryConfigs,
    #[serde(rename = "$inline")]
    pub http_client_config: HttpClientConfig,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sigv4: Option<SigV4Config>,
    pub scheme: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub path_prefix: String,
    pub timeout: Duration,
    pub api_version: String,
    #[serde(deserialize_with = "am_target_relabel_rules", skip_serializing_if = "Vec::is_empty")]
    pub relabel_configs: Vec<RelabelConfig>,
    #[serde(deserialize_with = "am_alert_relabel_rules", skip_serializing_if = "Vec::is_empty")]
    pub alert_relabel_configs: Vec<RelabelConfig>,
}

impl Default for AlertmanagerConfig {
    fn default() -> Self {
        AlertmanagerConfig {
            service_discovery: ServiceDiscoveryConfigs::default(),
            http_client_config: HttpClientConfig::default(),
            sigv4: None,
            scheme: "http".into(),
            path_prefix: String::new(),
            timeout: Duration::from_secs(10),
            api_version: "v2".into(),
            relabel_configs: Vec::new(),
            alert_relabel_configs: Vec::new(),
        }
    }
}

impl AlertmanagerConfig {
    fn validate(&mut self, scheme: ValidationScheme) -> Result<(), String> {
        if !SUPPORTED_API_VERSIONS.contains(&self.api_version.as_str()) {
            return Err(format!("expected Alertmanager api version to be one of [{}] but got {}", SUPPORTED_API_VERSIONS.join(" "), self.api_version));
        }
        self.service_discovery.validate()?;
        self.http_client_config.validate()?;
        let h = &self.http_client_config;
        if (h.basic_auth.is_some() || h.authorization.is_some() || h.oauth2.is_some()) && self.sigv4.is_some() {
            return Err("at most one of basic_auth, authorization, oauth2, & sigv4 must be configured".into());
        }
        if self.relabel_configs.is_empty() {
            for tg in self.service_discovery.static_configs.iter().flatten() {
                for t in &tg.targets {
                    if t.contains('/') {
                        return Err(format!("{t:?} is not a valid hostname"));
                    }
                }
            }
        }
        for rc in self.alert_relabel_configs.iter().chain(&self.relabel_configs) {
            rc.validate(scheme)?;
        }
        Ok(())
    }
}
