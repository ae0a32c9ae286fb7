//! `outscale_sd_configs`: Outscale VMs, through the OUTSCALE API (OAPI).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::duration::Duration;
use crate::http::{HttpClientConfig, Secret};

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename = "outscale.plain", deny_unknown_fields, default)]
pub struct OutscaleSdConfig {
    /// Derived from the region when empty.
    pub endpoint: String,
    pub region: String,
    pub access_key: String,
    pub secret_key: Secret,
    pub secret_key_file: String,
    pub refresh_interval: Duration,
    pub port: i64,
    #[serde(rename = "$inline")]
    pub http_client_config: HttpClientConfig,
}

impl Default for OutscaleSdConfig {
    fn default() -> Self {
        OutscaleSdConfig {
            endpoint: String::new(),
            region: "eu-west-2".into(),
            access_key: String::new(),
            secret_key: Secret::default(),
            secret_key_file: String::new(),
            refresh_interval: Duration::from_secs(60),
            port: 80,
            http_client_config: HttpClientConfig::default(),
        }
    }
}

impl OutscaleSdConfig {
    pub fn validate(&mut self) -> Result<(), String> {
        if self.region.is_empty() {
            return Err("outscale SD configuration requires a region".into());
        }
        if self.access_key.is_empty() {
            return Err("outscale SD configuration requires an access_key".into());
        }
        match (self.secret_key.is_empty(), self.secret_key_file.is_empty()) {
            (true, true) => return Err("one of secret_key & secret_key_file must be configured".into()),
            (false, false) => return Err("at most one of secret_key & secret_key_file must be configured".into()),
            _ => {}
        }
        if self.endpoint.is_empty() {
            self.endpoint = format!("https://api.{}.outscale.com/api/v1", self.region);
        }
        self.http_client_config.validate()
    }

    pub fn set_directory(&mut self, dir: &Path) {
        self.http_client_config.set_directory(dir);
        crate::join_dir(dir, &mut self.secret_key_file);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml;

    fn check(text: &str) -> Result<OutscaleSdConfig, String> {
        let mut c: OutscaleSdConfig = yaml::from_str(text).map_err(|e| e.to_string())?;
        c.validate().map(|()| c)
    }

    #[test]
    fn credentials_and_endpoint() {
        let c = check("access_key: A\nsecret_key: S\n").unwrap();
        assert_eq!(c.endpoint, "https://api.eu-west-2.outscale.com/api/v1");
        assert_eq!(check("region: ''\naccess_key: A\nsecret_key: S\n").unwrap_err(), "outscale SD configuration requires a region");
        assert_eq!(check("access_key: A\n").unwrap_err(), "one of secret_key & secret_key_file must be configured");
        assert_eq!(check("access_key: A\nsecret_key: S\nsecret_key_file: /f\n").unwrap_err(), "at most one of secret_key & secret_key_file must be configured");
    }
}
