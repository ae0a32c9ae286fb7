//! `marathon_sd_configs`: tasks of Marathon apps.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::duration::Duration;
use crate::http::{HttpClientConfig, Secret};

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename = "marathon.plain", deny_unknown_fields, default)]
pub struct MarathonSdConfig {
    pub servers: Vec<String>,
    pub refresh_interval: Duration,
    /// A DC/OS token, sent as `Authorization: token=...`.
    pub auth_token: Secret,
    pub auth_token_file: String,
    #[serde(rename = "$inline")]
    pub http_client_config: HttpClientConfig,
}

impl Default for MarathonSdConfig {
    fn default() -> Self {
        MarathonSdConfig {
            servers: Vec::new(),
            refresh_interval: Duration::from_secs(30),
            auth_token: Secret::default(),
            auth_token_file: String::new(),
            http_client_config: HttpClientConfig::default(),
        }
    }
}

impl MarathonSdConfig {
    pub fn validate(&mut self) -> Result<(), String> {
        if self.servers.is_empty() {
            return Err("marathon_sd: must contain at least one Marathon server".into());
        }
        let token = !self.auth_token.is_empty() || !self.auth_token_file.is_empty();
        if !self.auth_token.is_empty() && !self.auth_token_file.is_empty() {
            return Err("marathon_sd: at most one of auth_token & auth_token_file must be configured".into());
        }
        let http = &self.http_client_config;
        if token && http.basic_auth.is_some() {
            return Err("marathon_sd: at most one of basic_auth, auth_token & auth_token_file must be configured".into());
        }
        if token && (!http.bearer_token.is_empty() || !http.bearer_token_file.is_empty()) {
            return Err("marathon_sd: at most one of bearer_token, bearer_token_file, auth_token & auth_token_file must be configured".into());
        }
        if token && http.authorization.is_some() {
            return Err("marathon_sd: at most one of auth_token, auth_token_file & authorization must be configured".into());
        }
        self.http_client_config.validate()
    }

    pub fn set_directory(&mut self, dir: &Path) {
        self.http_client_config.set_directory(dir);
        crate::join_dir(dir, &mut self.auth_token_file);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml;

    fn check(extra: &str) -> Result<(), String> {
        let mut c: MarathonSdConfig = yaml::from_str(&format!("servers: ['https://m:1234']\n{extra}")).map_err(|e| e.to_string())?;
        c.validate()
    }

    #[test]
    fn auth_token_excludes_other_credentials() {
        assert!(check("auth_token: t\n").is_ok());
        assert_eq!(check("auth_token: t\nauth_token_file: f\n").unwrap_err(), "marathon_sd: at most one of auth_token & auth_token_file must be configured");
        assert_eq!(
            check("auth_token: t\nbasic_auth: {username: u}\n").unwrap_err(),
            "marathon_sd: at most one of basic_auth, auth_token & auth_token_file must be configured"
        );
        assert_eq!(
            check("auth_token: t\nbearer_token: b\n").unwrap_err(),
            "marathon_sd: at most one of bearer_token, bearer_token_file, auth_token & auth_token_file must be configured"
        );
        assert_eq!(
            check("auth_token: t\nauthorization: {credentials: c}\n").unwrap_err(),
            "marathon_sd: at most one of auth_token, auth_token_file & authorization must be configured"
        );
        let mut c: MarathonSdConfig = yaml::from_str("servers:\n").unwrap();
        assert_eq!(c.validate().unwrap_err(), "marathon_sd: must contain at least one Marathon server");
    }
}
