//! Zookeeper-backed discovery: `serverset_sd_configs` (Finagle/Aurora
//! serversets) and `nerve_sd_configs` (AirBnB's Nerve).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::duration::Duration;

/// Both mechanisms read the same settings; only the wording of their
/// errors differs.
fn validate(kind: &str, servers: &[String], paths: &[String]) -> Result<(), String> {
    if servers.is_empty() {
        return Err(format!("{kind} SD config must contain at least one Zookeeper server"));
    }
    if paths.is_empty() {
        return Err(format!("{kind} SD config must contain at least one path"));
    }
    if let Some(path) = paths.iter().find(|p| !p.starts_with('/')) {
        return Err(format!("{kind} SD config paths must begin with '/': {path}"));
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename = "zookeeper.plain", deny_unknown_fields, default)]
pub struct ServersetSdConfig {
    pub servers: Vec<String>,
    pub paths: Vec<String>,
    pub timeout: Duration,
}

impl Default for ServersetSdConfig {
    fn default() -> Self {
        ServersetSdConfig { servers: Vec::new(), paths: Vec::new(), timeout: Duration::from_secs(10) }
    }
}

impl ServersetSdConfig {
    pub fn validate(&mut self) -> Result<(), String> {
        validate("serverset", &self.servers, &self.paths)
    }

    pub fn set_directory(&mut self, _dir: &Path) {}
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename = "zookeeper.plain", deny_unknown_fields, default)]
pub struct NerveSdConfig {
    pub servers: Vec<String>,
    pub paths: Vec<String>,
    pub timeout: Duration,
}

impl Default for NerveSdConfig {
    fn default() -> Self {
        NerveSdConfig { servers: Vec::new(), paths: Vec::new(), timeout: Duration::from_secs(10) }
    }
}

impl NerveSdConfig {
    pub fn validate(&mut self) -> Result<(), String> {
        validate("nerve", &self.servers, &self.paths)
    }

    pub fn set_directory(&mut self, _dir: &Path) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml;

    #[test]
    fn servers_and_absolute_paths() {
        let mut c: NerveSdConfig = yaml::from_str("servers: [localhost]\npaths: [/monitoring]\n").unwrap();
        assert!(c.validate().is_ok());
        let mut c: ServersetSdConfig = yaml::from_str("servers: [zk]\npaths: [relative]\n").unwrap();
        assert_eq!(c.validate().unwrap_err(), "serverset SD config paths must begin with '/': relative");
        let mut c: NerveSdConfig = yaml::from_str("paths: [/a]\n").unwrap();
        assert_eq!(c.validate().unwrap_err(), "nerve SD config must contain at least one Zookeeper server");
    }
}
