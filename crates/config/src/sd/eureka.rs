//! `eureka_sd_configs`: application instances registered in Netflix Eureka.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::go_url;
use crate::duration::Duration;
use crate::http::HttpClientConfig;

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename = "eureka.plain", deny_unknown_fields, default)]
pub struct EurekaSdConfig {
    pub server: String,
    #[serde(rename = "$inline")]
    pub http_client_config: HttpClientConfig,
    pub refresh_interval: Duration,
}

impl Default for EurekaSdConfig {
    fn default() -> Self {
        EurekaSdConfig { server: String::new(), http_client_config: HttpClientConfig::default(), refresh_interval: Duration::from_secs(30) }
    }
}

impl EurekaSdConfig {
    pub fn validate(&mut self) -> Result<(), String> {
        if self.server.is_empty() {
            return Err("eureka_sd: empty or null eureka server".into());
        }
        let url = go_url::parse(&self.server)?;
        if url.scheme.is_empty() || url.host.is_empty() {
            return Err("eureka_sd: invalid eureka server URL".into());
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
    fn server_must_be_a_url() {
        let mut c: EurekaSdConfig = yaml::from_str("server:\n").unwrap();
        assert_eq!(c.validate().unwrap_err(), "eureka_sd: empty or null eureka server");
        let mut c: EurekaSdConfig = yaml::from_str("server: eureka.com\n").unwrap();
        assert_eq!(c.validate().unwrap_err(), "eureka_sd: invalid eureka server URL");
        let mut c: EurekaSdConfig = yaml::from_str("server: http://eureka:8761/eureka\n").unwrap();
        assert!(c.validate().is_ok());
        assert_eq!(c.refresh_interval, Duration::from_secs(30));
    }
}
