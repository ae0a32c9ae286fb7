//! `ionos_sd_configs`: servers of an IONOS Cloud data center.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::duration::Duration;
use crate::http::HttpClientConfig;

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename = "ionos.plain", deny_unknown_fields, default)]
pub struct IonosSdConfig {
    #[serde(rename = "$inline")]
    pub http_client_config: HttpClientConfig,
    pub refresh_interval: Duration,
    pub port: i64,
    pub datacenter_id: String,
}

impl Default for IonosSdConfig {
    fn default() -> Self {
        IonosSdConfig { http_client_config: HttpClientConfig::default(), refresh_interval: Duration::from_secs(60), port: 80, datacenter_id: String::new() }
    }
}

impl IonosSdConfig {
    pub fn validate(&mut self) -> Result<(), String> {
        if self.datacenter_id.is_empty() {
            return Err("datacenter id can't be empty".into());
        }
        self.http_client_config.validate()
    }

    pub fn set_directory(&mut self, dir: &Path) {
        self.http_client_config.set_directory(dir);
    }
}
