//! `dns_sd_configs`: targets from SRV, A, AAAA, MX or NS records.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::duration::Duration;

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename = "dns.plain", deny_unknown_fields, default)]
pub struct DnsSdConfig {
    pub names: Vec<String>,
    pub refresh_interval: Duration,
    /// The record type, matched case-insensitively and kept as written.
    #[serde(rename = "type")]
    pub kind: String,
    /// Ignored for SRV records, which carry their own ports.
    pub port: i64,
}

impl Default for DnsSdConfig {
    fn default() -> Self {
        DnsSdConfig { names: Vec::new(), refresh_interval: Duration::from_secs(30), kind: "SRV".into(), port: 0 }
    }
}

impl DnsSdConfig {
    pub fn validate(&mut self) -> Result<(), String> {
        if self.names.is_empty() {
            return Err("DNS-SD config must contain at least one SRV record name".into());
        }
        match self.record_type().as_str() {
            "SRV" => Ok(()),
            "A" | "AAAA" | "MX" | "NS" if self.port == 0 => Err("a port is required in DNS-SD configs for all record types except SRV".into()),
            "A" | "AAAA" | "MX" | "NS" => Ok(()),
            _ => Err(format!("invalid DNS-SD records type {}", self.kind)),
        }
    }

    pub fn set_directory(&mut self, _dir: &Path) {}

    /// The record type to query, upper-cased.
    pub fn record_type(&self) -> String {
        self.kind.to_ascii_uppercase()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml;

    fn check(text: &str) -> Result<DnsSdConfig, String> {
        let mut c: DnsSdConfig = yaml::from_str(text).map_err(|e| e.to_string())?;
        c.validate().map(|()| c)
    }

    #[test]
    fn defaults_to_srv_every_30s() {
        let c = check("names: [a.example]\n").unwrap();
        assert_eq!((c.kind.as_str(), c.refresh_interval, c.port), ("SRV", Duration::from_secs(30), 0));
        assert_eq!(check("names: []\n").unwrap_err(), "DNS-SD config must contain at least one SRV record name");
    }

    #[test]
    fn other_types_need_a_port() {
        assert_eq!(check("names: [a]\ntype: a\n").unwrap_err(), "a port is required in DNS-SD configs for all record types except SRV");
        let c = check("names: [a]\ntype: aaaa\nport: 9100\n").unwrap();
        assert_eq!(c.record_type(), "AAAA");
        assert!(check("names: [a]\ntype: mx\nport: 25\n").is_ok());
        assert_eq!(check("names: [a]\ntype: TXT\n").unwrap_err(), "invalid DNS-SD records type TXT");
    }
}
