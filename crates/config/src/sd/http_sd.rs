//! `http_sd_configs`: target groups fetched from an HTTP endpoint.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::go_url;
use crate::duration::Duration;
use crate::http::HttpClientConfig;

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename = "http.plain", deny_unknown_fields, default)]
pub struct HttpSdConfig {
    #[serde(rename = "$inline")]
    pub http_client_config: HttpClientConfig,
    pub refresh_interval: Duration,
    pub url: String,
}

impl Default for HttpSdConfig {
    fn default() -> Self {
        HttpSdConfig { http_client_config: HttpClientConfig::default(), refresh_interval: Duration::from_secs(60), url: String::new() }
    }
}

/// The URL rules shared by the HTTP and PuppetDB discoveries.
pub(super) fn check_http_url(url: &str) -> Result<(), String> {
    if url.is_empty() {
        return Err("URL is missing".into());
    }
    let parsed = go_url::parse(url)?;
    if parsed.scheme != "http" && parsed.scheme != "https" {
        return Err("URL scheme must be 'http' or 'https'".into());
    }
    if parsed.host.is_empty() {
        return Err("host is missing in URL".into());
    }
    Ok(())
}

impl HttpSdConfig {
    pub fn validate(&mut self) -> Result<(), String> {
        check_http_url(&self.url)?;
        self.http_client_config.validate()
    }

    pub fn set_directory(&mut self, dir: &Path) {
        self.http_client_config.set_directory(dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_rules() {
        assert_eq!(check_http_url("").unwrap_err(), "URL is missing");
        assert_eq!(check_http_url("invalid").unwrap_err(), "URL scheme must be 'http' or 'https'");
        assert_eq!(check_http_url("ftp://example.com").unwrap_err(), "URL scheme must be 'http' or 'https'");
        assert_eq!(check_http_url("http://").unwrap_err(), "host is missing in URL");
        assert!(check_http_url("https://example.com/sd").is_ok());
    }
}
