//! `stackit_sd_configs`: STACKIT servers of a project.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::go_url;
use crate::duration::Duration;
use crate::http::{HttpClientConfig, Secret};

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename = "stackit.plain", deny_unknown_fields, default)]
pub struct StackitSdConfig {
    #[serde(rename = "$inline")]
    pub http_client_config: HttpClientConfig,
    pub refresh_interval: Duration,
    pub port: i64,
    pub project: String,
    pub region: String,
    /// `scheme://host:port`; derived from the region when empty.
    pub endpoint: String,
    pub service_account_key: Secret,
    pub service_account_key_path: String,
    pub private_key: Secret,
    pub private_key_path: String,
    pub credentials_file_path: String,
}

impl Default for StackitSdConfig {
    fn default() -> Self {
        StackitSdConfig {
            http_client_config: HttpClientConfig::default(),
            refresh_interval: Duration::from_secs(60),
            port: 80,
            project: String::new(),
            region: "eu01".into(),
            endpoint: String::new(),
            service_account_key: Secret::default(),
            service_account_key_path: String::new(),
            private_key: Secret::default(),
            private_key_path: String::new(),
            credentials_file_path: String::new(),
        }
    }
}

impl StackitSdConfig {
    pub fn validate(&mut self) -> Result<(), String> {
        if self.endpoint.is_empty() && self.region.is_empty() {
            return Err("stackit_sd: endpoint and region missing".into());
        }
        if let Err(e) = go_url::parse(&self.endpoint) {
            return Err(format!("stackit_sd: invalid endpoint {}: {e}", super::quote(&self.endpoint)));
        }
        self.http_client_config.validate()
    }

    pub fn set_directory(&mut self, dir: &Path) {
        self.http_client_config.set_directory(dir);
        crate::join_dir(dir, &mut self.service_account_key_path);
        crate::join_dir(dir, &mut self.private_key_path);
        crate::join_dir(dir, &mut self.credentials_file_path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml;

    #[test]
    fn endpoint_must_parse() {
        let mut c: StackitSdConfig = yaml::from_str("endpoint: \"://invalid\"\n").unwrap();
        assert_eq!(c.validate().unwrap_err(), r#"stackit_sd: invalid endpoint "://invalid": parse "://invalid": missing protocol scheme"#);
        let mut c: StackitSdConfig = yaml::from_str("project: p\nprivate_key: k\nauthorization: {credentials: c}\n").unwrap();
        assert!(c.validate().is_ok());
    }
}
