//! `vultr_sd_configs`: Vultr instances.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::duration::Duration;
use crate::http::HttpClientConfig;

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename = "vultr.plain", deny_unknown_fields, default)]
pub struct VultrSdConfig {
    #[serde(rename = "$inline")]
    pub http_client_config: HttpClientConfig,
    pub refresh_interval: Duration,
    pub port: i64,
}

impl Default for VultrSdConfig {
    fn default() -> Self {
        VultrSdConfig { http_client_config: HttpClientConfig::default(), refresh_interval: Duration::from_secs(60), port: 80 }
    }
}

impl VultrSdConfig {
    pub fn validate(&mut self) -> Result<(), String> {
        self.http_client_config.validate()
    }

    pub fn set_directory(&mut self, dir: &Path) {
        self.http_client_config.set_directory(dir);
    }
}
