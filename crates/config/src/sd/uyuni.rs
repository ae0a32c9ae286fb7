//! `uyuni_sd_configs`: monitored systems managed by an Uyuni server.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::go_url;
use crate::duration::Duration;
use crate::http::{HttpClientConfig, Secret};

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename = "uyuni.plain", deny_unknown_fields, default)]
pub struct UyuniSdConfig {
    pub server: String,
    pub username: String,
    pub password: Secret,
    #[serde(rename = "$inline")]
    pub http_client_config: HttpClientConfig,
    pub entitlement: String,
    /// Joins a system's group names in its groups label.
    pub separator: String,
    pub refresh_interval: Duration,
}

impl Default for UyuniSdConfig {
    fn default() -> Self {
        UyuniSdConfig {
            server: String::new(),
            username: String::new(),
            password: Secret::default(),
            http_client_config: HttpClientConfig::default(),
            entitlement: "monitoring_entitled".into(),
            separator: ",".into(),
            refresh_interval: Duration::from_secs(60),
        }
    }
}

impl UyuniSdConfig {
    pub fn validate(&mut self) -> Result<(), String> {
        if self.server.is_empty() {
            return Err("Uyuni SD configuration requires server host".into());
        }
        if let Err(e) = go_url::parse(&self.server) {
            return Err(format!("Uyuni Server URL is not valid: {e}"));
        }
        if self.username.is_empty() {
            return Err("Uyuni SD configuration requires a username".into());
        }
        if self.password.is_empty() {
            return Err("Uyuni SD configuration requires a password".into());
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
    fn server_and_credentials() {
        let mut c: UyuniSdConfig = yaml::from_str("server:\n").unwrap();
        assert_eq!(c.validate().unwrap_err(), "Uyuni SD configuration requires server host");
        let mut c: UyuniSdConfig = yaml::from_str("server: s\nusername: u\n").unwrap();
        assert_eq!(c.validate().unwrap_err(), "Uyuni SD configuration requires a password");
        let mut c: UyuniSdConfig = yaml::from_str("server: s\nusername: u\npassword: p\nbearer_token: a\nbearer_token_file: b\n").unwrap();
        assert_eq!(c.validate().unwrap_err(), "at most one of bearer_token & bearer_token_file must be configured");
    }
}
