//! `tracing`: where the server sends its own OpenTelemetry traces.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::duration::Duration;
use crate::http::TlsConfig;

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename = "config.plain", deny_unknown_fields, default)]
pub struct TracingConfig {
    pub client_type: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub endpoint: String,
    #[serde(skip_serializing_if = "is_zero")]
    pub sampling_fraction: f64,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub insecure: bool,
    pub tls_config: TlsConfig,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub compression: String,
    #[serde(skip_serializing_if = "Duration::is_zero")]
    pub timeout: Duration,
}

fn is_zero(f: &f64) -> bool {
    *f == 0.0
}

impl Default for TracingConfig {
    fn default() -> Self {
        TracingConfig {
            client_type: "grpc".into(),
            endpoint: String::new(),
            sampling_fraction: 0.0,
            insecure: false,
            tls_config: TlsConfig::default(),
            headers: BTreeMap::new(),
            compression: String::new(),
            timeout: Duration::ZERO,
        }
    }
}

impl TracingConfig {
    pub(crate) fn validate(&self) -> Result<(), String> {
        if self.client_type != "http" && self.client_type != "grpc" {
            return Err(format!("expected tracing client type to be to be http or grpc, but got {}", self.client_type));
        }
        for name in self.headers.keys() {
            if name.eq_ignore_ascii_case("authorization") {
                return Err("custom authorization header configuration is not yet supported".into());
            }
            if let Some(e) = crate::remote::reserved_header(name) {
                return Err(e);
            }
        }
        if self.endpoint.is_empty() {
            return Err("tracing endpoint must be set".into());
        }
        if !self.compression.is_empty() && self.compression != "gzip" {
            return Err(format!("invalid compression type {} provided, valid options: gzip", self.compression));
        }
        Ok(())
    }

    pub(crate) fn set_directory(&mut self, dir: &Path) {
        self.tls_config.set_directory(dir);
    }
}
