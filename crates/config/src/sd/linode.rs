//! `linode_sd_configs`: Linode instances.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::duration::Duration;
use crate::http::HttpClientConfig;

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename = "linode.plain", deny_unknown_fields, default)]
pub struct LinodeSdConfig {
    #[serde(rename = "$inline")]
    pub http_client_config: HttpClientConfig,
    pub refresh_interval: Duration,
    pub port: i64,
    pub tag_separator: String,
    /// Only instances of this region, when set.
    pub region: String,
}

impl Default for LinodeSdConfig {
    fn default() -> Self {
        LinodeSdConfig {
            http_client_config: HttpClientConfig::default(),
            refresh_interval: Duration::from_secs(60),
            port: 80,
            tag_separator: ",".into(),
            region: String::new(),
        }
    }
}

impl LinodeSdConfig {
    pub fn validate(&mut self) -> Result<(), String> {
        self.http_client_config.validate()
    }

    pub fn set_directory(&mut self, dir: &Path) {
        self.http_client_config.set_directory(dir);
    }
}
