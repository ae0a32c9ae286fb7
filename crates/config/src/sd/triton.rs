//! `triton_sd_configs`: containers or compute nodes of a Joyent Triton
//! account, from its Container Monitor discovery endpoint.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::duration::Duration;
use crate::http::TlsConfig;

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename = "triton.plain", deny_unknown_fields, default)]
pub struct TritonSdConfig {
    pub account: String,
    /// `container` or `cn` (compute node).
    pub role: String,
    pub dns_suffix: String,
    pub endpoint: String,
    /// Container role only; empty means every container of the account.
    pub groups: Vec<String>,
    pub port: i64,
    pub refresh_interval: Duration,
    pub tls_config: TlsConfig,
    pub version: i64,
}

impl Default for TritonSdConfig {
    fn default() -> Self {
        TritonSdConfig {
            account: String::new(),
            role: "container".into(),
            dns_suffix: String::new(),
            endpoint: String::new(),
            groups: Vec::new(),
            port: 9163,
            refresh_interval: Duration::from_secs(60),
            tls_config: TlsConfig::default(),
            version: 1,
        }
    }
}

impl TritonSdConfig {
    pub fn validate(&mut self) -> Result<(), String> {
        if self.role != "container" && self.role != "cn" {
            return Err("triton SD configuration requires role to be 'container' or 'cn'".into());
        }
        if self.account.is_empty() {
            return Err("triton SD configuration requires an account".into());
        }
        if self.dns_suffix.is_empty() {
            return Err("triton SD configuration requires a dns_suffix".into());
        }
        if self.endpoint.is_empty() {
            return Err("triton SD configuration requires an endpoint".into());
        }
        if self.refresh_interval.is_zero() {
            return Err("triton SD configuration requires RefreshInterval to be a positive integer".into());
        }
        Ok(())
    }

    pub fn set_directory(&mut self, dir: &Path) {
        self.tls_config.set_directory(dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml;

    #[test]
    fn required_fields() {
        let mut c: TritonSdConfig = yaml::from_str("account: a\ndns_suffix: d\nendpoint: e\n").unwrap();
        assert!(c.validate().is_ok());
        assert_eq!((c.port, c.version, c.role.as_str()), (9163, 1, "container"));
        let mut c: TritonSdConfig = yaml::from_str("account: a\nrole: vm\n").unwrap();
        assert_eq!(c.validate().unwrap_err(), "triton SD configuration requires role to be 'container' or 'cn'");
        let mut c: TritonSdConfig = yaml::from_str("account: a\n").unwrap();
        assert_eq!(c.validate().unwrap_err(), "triton SD configuration requires a dns_suffix");
    }
}
