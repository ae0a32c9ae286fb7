//! `ovhcloud_sd_configs`: OVHcloud VPS or dedicated servers.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::duration::Duration;
use crate::http::Secret;

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename = "ovhcloud.plain", deny_unknown_fields, default)]
pub struct OvhcloudSdConfig {
    /// An API name known to go-ovh (`ovh-eu`, `ovh-ca`, ...) or a URL.
    pub endpoint: String,
    pub application_key: String,
    pub application_secret: Secret,
    pub consumer_key: Secret,
    pub refresh_interval: Duration,
    /// `vps` or `dedicated_server`.
    pub service: String,
}

impl Default for OvhcloudSdConfig {
    fn default() -> Self {
        OvhcloudSdConfig {
            endpoint: "ovh-eu".into(),
            application_key: String::new(),
            application_secret: Secret::default(),
            consumer_key: Secret::default(),
            refresh_interval: Duration::from_secs(60),
            service: String::new(),
        }
    }
}

impl OvhcloudSdConfig {
    pub fn validate(&mut self) -> Result<(), String> {
        if self.endpoint.is_empty() {
            return Err("endpoint can not be empty".into());
        }
        if self.application_key.is_empty() {
            return Err("application key can not be empty".into());
        }
        if self.application_secret.is_empty() {
            return Err("application secret can not be empty".into());
        }
        if self.consumer_key.is_empty() {
            return Err("consumer key can not be empty".into());
        }
        match self.service.as_str() {
            "dedicated_server" | "vps" => Ok(()),
            other => Err(format!("unknown service: {other}")),
        }
    }

    pub fn set_directory(&mut self, _dir: &Path) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml;

    #[test]
    fn credentials_then_service() {
        let base = "application_key: k\napplication_secret: s\nconsumer_key: c\n";
        let mut c: OvhcloudSdConfig = yaml::from_str(&format!("{base}service: fakeservice\n")).unwrap();
        assert_eq!(c.validate().unwrap_err(), "unknown service: fakeservice");
        let mut c: OvhcloudSdConfig = yaml::from_str("application_key: k\nconsumer_key: c\nservice: vps\n").unwrap();
        assert_eq!(c.validate().unwrap_err(), "application secret can not be empty");
        let mut c: OvhcloudSdConfig = yaml::from_str(&format!("{base}service: vps\n")).unwrap();
        assert!(c.validate().is_ok());
    }
}
