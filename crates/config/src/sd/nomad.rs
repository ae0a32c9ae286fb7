//! `nomad_sd_configs`: services registered in Nomad.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::duration::Duration;
use crate::http::HttpClientConfig;

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename = "nomad.plain", deny_unknown_fields, default)]
pub struct NomadSdConfig {
    pub allow_stale: bool,
    #[serde(rename = "$inline")]
    pub http_client_config: HttpClientConfig,
    pub namespace: String,
    pub refresh_interval: Duration,
    pub region: String,
    pub server: String,
    pub tag_separator: String,
}

impl Default for NomadSdConfig {
    fn default() -> Self {
        NomadSdConfig {
            allow_stale: true,
            http_client_config: HttpClientConfig::default(),
            namespace: "default".into(),
            refresh_interval: Duration::from_secs(60),
            region: "global".into(),
            server: "http://localhost:4646".into(),
            tag_separator: ",".into(),
        }
    }
}

impl NomadSdConfig {
    pub fn validate(&mut self) -> Result<(), String> {
        if self.server.trim().is_empty() {
            return Err("nomad SD configuration requires a server address".into());
        }
        self.http_client_config.validate()
    }

    pub fn set_directory(&mut self, dir: &Path) {
        self.http_client_config.set_directory(dir);
    }
}
