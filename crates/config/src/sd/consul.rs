//! `consul_sd_configs`: services registered in Consul's catalog.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::duration::Duration;
use crate::http::{BasicAuth, HttpClientConfig, Secret};

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename = "consul.plain", deny_unknown_fields, default)]
pub struct ConsulSdConfig {
    pub server: String,
    pub path_prefix: String,
    pub token: Secret,
    pub datacenter: String,
    /// Consul Enterprise only.
    pub namespace: String,
    /// Consul Enterprise only.
    pub partition: String,
    pub tag_separator: String,
    pub scheme: String,
    /// Deprecated in favour of `basic_auth`, into which it is moved.
    pub username: String,
    pub password: Secret,
    /// Stale reads are much cheaper, and a necessity past a few thousand
    /// targets.
    pub allow_stale: bool,
    pub refresh_interval: Duration,
    pub services: Vec<String>,
    pub tags: Vec<String>,
    pub node_meta: BTreeMap<String, String>,
    /// A Consul filter expression for the catalog request.
    pub filter: String,
    /// A Consul filter expression for the health request.
    pub health_filter: String,
    #[serde(rename = "$inline")]
    pub http_client_config: HttpClientConfig,
}

impl Default for ConsulSdConfig {
    fn default() -> Self {
        ConsulSdConfig {
            server: "localhost:8500".into(),
            path_prefix: String::new(),
            token: Secret::default(),
            datacenter: String::new(),
            namespace: String::new(),
            partition: String::new(),
            tag_separator: ",".into(),
            scheme: "http".into(),
            username: String::new(),
            password: Secret::default(),
            allow_stale: true,
            refresh_interval: Duration::from_secs(30),
            services: Vec::new(),
            tags: Vec::new(),
            node_meta: BTreeMap::new(),
            filter: String::new(),
            health_filter: String::new(),
            http_client_config: HttpClientConfig::default(),
        }
    }
}

impl ConsulSdConfig {
    pub fn validate(&mut self) -> Result<(), String> {
        if self.server.trim().is_empty() {
            return Err("consul SD configuration requires a server address".into());
        }
        if !self.username.is_empty() || !self.password.is_empty() {
            if self.http_client_config.basic_auth.is_some() {
                return Err("at most one of consul SD configuration username and password and basic auth can be configured".into());
            }
            self.http_client_config.basic_auth = Some(BasicAuth { username: self.username.clone(), password: self.password.clone(), ..BasicAuth::default() });
        }
        let http = &self.http_client_config;
        if !self.token.is_empty() && (http.authorization.is_some() || http.oauth2.is_some()) {
            return Err("at most one of consul SD token, authorization, or oauth2 can be configured".into());
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
    fn legacy_credentials_become_basic_auth() {
        let mut c: ConsulSdConfig = yaml::from_str("username: u\npassword: p\n").unwrap();
        c.validate().unwrap();
        assert_eq!(c.http_client_config.basic_auth.as_ref().map(|b| b.username.as_str()), Some("u"));
        let mut c: ConsulSdConfig = yaml::from_str("username: u\nbasic_auth: {username: v}\n").unwrap();
        assert!(c.validate().unwrap_err().starts_with("at most one of consul SD configuration username"));
        let mut c: ConsulSdConfig = yaml::from_str("server: ' '\n").unwrap();
        assert_eq!(c.validate().unwrap_err(), "consul SD configuration requires a server address");
        let mut c: ConsulSdConfig = yaml::from_str("token: t\nauthorization: {credentials: x}\n").unwrap();
        assert_eq!(c.validate().unwrap_err(), "at most one of consul SD token, authorization, or oauth2 can be configured");
    }
}
