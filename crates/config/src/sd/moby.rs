//! Docker: `docker_sd_configs` (containers of one engine) and
//! `dockerswarm_sd_configs` (services, tasks or nodes of a swarm).

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::go_url;
use crate::duration::Duration;
use crate::http::HttpClientConfig;

/// A Docker API list filter.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(rename = "moby.Filter", deny_unknown_fields, default)]
pub struct DockerFilter {
    pub name: String,
    pub values: Vec<String>,
}

fn check_host(host: &str) -> Result<(), String> {
    if host.is_empty() {
        return Err("host missing".into());
    }
    go_url::parse(host).map(drop)
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename = "moby.plain", deny_unknown_fields, default)]
pub struct DockerSdConfig {
    #[serde(rename = "$inline")]
    pub http_client_config: HttpClientConfig,
    pub host: String,
    pub port: i64,
    pub filters: Vec<DockerFilter>,
    /// The address used for containers in host networking mode.
    pub host_networking_host: String,
    pub refresh_interval: Duration,
    /// Keep only the first network (by name) of a container attached to
    /// several, so that it yields one target per port.
    pub match_first_network: bool,
}

impl Default for DockerSdConfig {
    fn default() -> Self {
        DockerSdConfig {
            http_client_config: HttpClientConfig::default(),
            host: String::new(),
            port: 80,
            filters: Vec::new(),
            host_networking_host: "localhost".into(),
            refresh_interval: Duration::from_secs(60),
            match_first_network: true,
        }
    }
}

impl DockerSdConfig {
    pub fn validate(&mut self) -> Result<(), String> {
        check_host(&self.host)?;
        self.http_client_config.validate()
    }

    pub fn set_directory(&mut self, dir: &Path) {
        self.http_client_config.set_directory(dir);
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename = "moby.plain", deny_unknown_fields, default)]
pub struct DockerSwarmSdConfig {
    #[serde(rename = "$inline")]
    pub http_client_config: HttpClientConfig,
    pub host: String,
    pub role: String,
    pub port: i64,
    pub filters: Vec<DockerFilter>,
    pub refresh_interval: Duration,
}

impl Default for DockerSwarmSdConfig {
    fn default() -> Self {
        DockerSwarmSdConfig {
            http_client_config: HttpClientConfig::default(),
            host: String::new(),
            role: String::new(),
            port: 80,
            filters: Vec::new(),
            refresh_interval: Duration::from_secs(60),
        }
    }
}

impl DockerSwarmSdConfig {
    pub fn validate(&mut self) -> Result<(), String> {
        check_host(&self.host)?;
        if !matches!(self.role.as_str(), "services" | "nodes" | "tasks") {
            return Err(format!("invalid role {}, expected tasks, services, or nodes", self.role));
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
    fn host_and_role() {
        let mut c: DockerSdConfig = yaml::from_str("host: unix:///var/run/docker.sock\n").unwrap();
        assert!(c.validate().is_ok());
        assert!(c.match_first_network);
        let mut c: DockerSdConfig = yaml::from_str("port: 1\n").unwrap();
        assert_eq!(c.validate().unwrap_err(), "host missing");
        let mut c: DockerSwarmSdConfig = yaml::from_str("host: http://127.0.0.1:2375\nrole: containers\n").unwrap();
        assert_eq!(c.validate().unwrap_err(), "invalid role containers, expected tasks, services, or nodes");
        let mut c: DockerSwarmSdConfig = yaml::from_str("host: http://127.0.0.1:2375\nrole: nodes\n").unwrap();
        assert!(c.validate().is_ok());
    }
}
