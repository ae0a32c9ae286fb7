//! `kuma_sd_configs`: monitoring assignments from a Kuma control plane
//! (its MADS xDS API).

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::go_url;
use crate::duration::Duration;
use crate::http::HttpClientConfig;

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename = "xds.plainKumaConf", deny_unknown_fields, default)]
pub struct KumaSdConfig {
    #[serde(rename = "$inline")]
    pub http_client_config: HttpClientConfig,
    /// The wait between polls.
    pub refresh_interval: Duration,
    /// How long one poll may wait for changes.
    pub fetch_timeout: Duration,
    pub server: String,
    /// Names this Prometheus to the control plane; the host name when empty.
    pub client_id: String,
}

impl Default for KumaSdConfig {
    fn default() -> Self {
        KumaSdConfig {
            http_client_config: HttpClientConfig::default(),
            refresh_interval: Duration::from_secs(30),
            fetch_timeout: Duration::from_secs(120),
            server: String::new(),
            client_id: String::new(),
        }
    }
}

impl KumaSdConfig {
    pub fn validate(&mut self) -> Result<(), String> {
        if self.server.is_empty() {
            return Err(format!("kuma SD server must not be empty: {}", self.server));
        }
        let url = go_url::parse(&self.server)?;
        if url.scheme.is_empty() || url.host.is_empty() {
            return Err(format!("kuma SD server must not be empty and have a scheme: {}", self.server));
        }
        self.http_client_config.validate()
    }

    pub fn set_directory(&mut self, dir: &Path) {
        self.http_client_config.set_directory(dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml;

    #[test]
    fn server_needs_a_scheme() {
        let mut c: KumaSdConfig = yaml::from_str("server: kuma:5676\n").unwrap();
        assert_eq!(c.validate().unwrap_err(), "kuma SD server must not be empty and have a scheme: kuma:5676");
        let mut c: KumaSdConfig = yaml::from_str("server: http://kuma:5676\nclient_id: p\n").unwrap();
        assert!(c.validate().is_ok());
    }
}
