//! `scaleway_sd_configs`: Scaleway instances or bare metal servers.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::duration::Duration;
use crate::http::{HttpClientConfig, Secret};

string_enum!(
    /// Which Scaleway product to list.
    ScalewayRole,
    "unknown role {}",
    {
        Instance => "instance",
        Baremetal => "baremetal",
    }
);

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename = "scaleway.plain", deny_unknown_fields, default)]
pub struct ScalewaySdConfig {
    pub project_id: String,
    pub api_url: String,
    pub zone: String,
    pub access_key: String,
    pub secret_key: Secret,
    pub secret_key_file: String,
    pub name_filter: String,
    pub tags_filter: Vec<String>,
    #[serde(rename = "$inline")]
    pub http_client_config: HttpClientConfig,
    pub refresh_interval: Duration,
    pub port: i64,
    pub role: Option<ScalewayRole>,
}

impl Default for ScalewaySdConfig {
    fn default() -> Self {
        ScalewaySdConfig {
            project_id: String::new(),
            api_url: "https://api.scaleway.com".into(),
            zone: "fr-par-1".into(),
            access_key: String::new(),
            secret_key: Secret::default(),
            secret_key_file: String::new(),
            name_filter: String::new(),
            tags_filter: Vec::new(),
            http_client_config: HttpClientConfig::default(),
            refresh_interval: Duration::from_secs(60),
            port: 80,
            role: None,
        }
    }
}

/// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` in hexadecimal.
fn is_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5 && groups.iter().zip([8, 4, 4, 4, 12]).all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

impl ScalewaySdConfig {
    pub fn validate(&mut self) -> Result<(), String> {
        if self.role.is_none() {
            return Err("role missing (one of: instance, baremetal)".into());
        }
        if self.project_id.is_empty() {
            return Err("project_id is mandatory".into());
        }
        if self.secret_key.is_empty() && self.secret_key_file.is_empty() {
            return Err("one of secret_key & secret_key_file must be configured".into());
        }
        if !self.secret_key.is_empty() && !self.secret_key_file.is_empty() {
            return Err("at most one of secret_key & secret_key_file must be configured".into());
        }
        if self.access_key.is_empty() {
            return Err("access_key is mandatory".into());
        }
        // Prometheus builds the Scaleway client here, whose option checks
        // reject malformed identifiers before any request. The secret's
        // format is left unchecked so that a displayed config, where it reads
        // `<secret>`, still loads.
        let access = self.access_key.as_bytes();
        if !(access.len() == 20 && access.starts_with(b"SCW") && access[3..].iter().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())) {
            return Err(format!("scaleway-sdk-go: invalid access key format '{}', expected SCWXXXXXXXXXXXXXXXXX format", self.access_key));
        }
        if !is_uuid(&self.project_id) {
            return Err(format!("scaleway-sdk-go: invalid project ID format '{}', expected a UUID: xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", self.project_id));
        }
        self.http_client_config.validate()
    }

    pub fn set_directory(&mut self, dir: &Path) {
        self.http_client_config.set_directory(dir);
        crate::join_dir(dir, &mut self.secret_key_file);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml;

    const BASE: &str = "role: instance\nproject_id: 11111111-1111-1111-1111-111111111112\naccess_key: SCWXXXXXXXXXXXXXXXXX\n";

    fn check(text: &str) -> Result<(), String> {
        let mut c: ScalewaySdConfig = yaml::from_str(text).map_err(|e| e.to_string())?;
        c.validate()
    }

    #[test]
    fn secrets_and_role() {
        assert!(check(&format!("{BASE}secret_key: 11111111-1111-1111-1111-111111111111\n")).is_ok());
        assert!(check(&format!("{BASE}secret_key_file: bar\n")).is_ok());
        assert_eq!(check(BASE).unwrap_err(), "one of secret_key & secret_key_file must be configured");
        assert_eq!(
            check(&format!("{BASE}secret_key_file: bar\nsecret_key: 11111111-1111-1111-1111-111111111112\n")).unwrap_err(),
            "at most one of secret_key & secret_key_file must be configured"
        );
        assert!(check("role: invalid\n").unwrap_err().contains(r#"unknown role "invalid""#));
        let bad_key = format!("{}secret_key_file: bar\n", BASE.replace("SCWX", "XXXX"));
        assert!(check(&bad_key).unwrap_err().contains("invalid access key format"));
    }
}
