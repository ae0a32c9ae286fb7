//! `puppetdb_sd_configs`: resources returned by a PuppetDB PQL query.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::http_sd::check_http_url;
use crate::duration::Duration;
use crate::http::HttpClientConfig;

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename = "puppetdb.plain", deny_unknown_fields, default)]
pub struct PuppetDbSdConfig {
    #[serde(rename = "$inline")]
    pub http_client_config: HttpClientConfig,
    pub refresh_interval: Duration,
    pub url: String,
    pub query: String,
    /// Exposes resource parameters as meta labels (they may hold secrets).
    pub include_parameters: bool,
    pub port: i64,
}

impl Default for PuppetDbSdConfig {
    fn default() -> Self {
        PuppetDbSdConfig {
            http_client_config: HttpClientConfig::default(),
            refresh_interval: Duration::from_secs(60),
            url: String::new(),
            query: String::new(),
            include_parameters: false,
            port: 80,
        }
    }
}

impl PuppetDbSdConfig {
    pub fn validate(&mut self) -> Result<(), String> {
        check_http_url(&self.url)?;
        if self.query.is_empty() {
            return Err("query missing".into());
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

    fn check(text: &str) -> Result<(), String> {
        let mut c: PuppetDbSdConfig = yaml::from_str(text).map_err(|e| e.to_string())?;
        c.validate()
    }

    #[test]
    fn url_then_query() {
        let q = "query: 'resources { type = \"Package\" }'\n";
        assert_eq!(check(q).unwrap_err(), "URL is missing");
        assert_eq!(check(&format!("url: http://\n{q}")).unwrap_err(), "host is missing in URL");
        assert_eq!(check(&format!("url: ftp://puppet\n{q}")).unwrap_err(), "URL scheme must be 'http' or 'https'");
        assert_eq!(check("url: http://puppetserver/\n").unwrap_err(), "query missing");
        assert_eq!(
            check(&format!("url: http://puppet\n{q}bearer_token: a\nbearer_token_file: b\n")).unwrap_err(),
            "at most one of bearer_token & bearer_token_file must be configured"
        );
    }
}
