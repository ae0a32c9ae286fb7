//! `gce_sd_configs`: Google Compute Engine instances of one project and zone.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::duration::Duration;

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename = "gce.plain", deny_unknown_fields, default)]
pub struct GceSdConfig {
    pub project: String,
    pub zone: String,
    /// A Compute API `instances.list` filter expression.
    pub filter: String,
    pub refresh_interval: Duration,
    pub port: i64,
    pub tag_separator: String,
}

impl Default for GceSdConfig {
    fn default() -> Self {
        GceSdConfig {
            project: String::new(),
            zone: String::new(),
            filter: String::new(),
            refresh_interval: Duration::from_secs(60),
            port: 80,
            tag_separator: ",".into(),
        }
    }
}

impl GceSdConfig {
    pub fn validate(&mut self) -> Result<(), String> {
        if self.project.is_empty() {
            return Err("GCE SD configuration requires a project".into());
        }
        if self.zone.is_empty() {
            return Err("GCE SD configuration requires a zone".into());
        }
        Ok(())
    }

    pub fn set_directory(&mut self, _dir: &Path) {}
}
