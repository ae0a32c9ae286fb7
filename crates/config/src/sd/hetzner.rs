//! `hetzner_sd_configs`: Hetzner Cloud (hcloud) and Robot servers.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::duration::Duration;
use crate::http::HttpClientConfig;

string_enum!(
    /// Which Hetzner API to ask.
    HetznerRole,
    "unknown role {}",
    {
        Robot => "robot",
        Hcloud => "hcloud",
    }
);

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename = "hetzner.plain", deny_unknown_fields, default)]
pub struct HetznerSdConfig {
    #[serde(rename = "$inline")]
    pub http_client_config: HttpClientConfig,
    pub port: i64,
    pub role: Option<HetznerRole>,
    pub refresh_interval: Duration,
    /// hcloud only.
    pub label_selector: String,
}

impl Default for HetznerSdConfig {
    fn default() -> Self {
        HetznerSdConfig {
            http_client_config: HttpClientConfig::default(),
            port: 80,
            role: None,
            refresh_interval: Duration::from_secs(60),
            label_selector: String::new(),
        }
    }
}

impl HetznerSdConfig {
    pub fn validate(&mut self) -> Result<(), String> {
        if self.role.is_none() {
            return Err("role missing (one of: robot, hcloud)".into());
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
    fn role_is_required_and_checked() {
        let e = yaml::from_str::<HetznerSdConfig>("role: invalid\n").unwrap_err();
        assert!(e.to_string().contains(r#"unknown role "invalid""#), "{e}");
        let mut c: HetznerSdConfig = yaml::from_str("port: 9100\n").unwrap();
        assert_eq!(c.validate().unwrap_err(), "role missing (one of: robot, hcloud)");
        let mut c: HetznerSdConfig = yaml::from_str("role: robot\nbasic_auth: {username: a, password: b}\n").unwrap();
        assert!(c.validate().is_ok());
    }
}
