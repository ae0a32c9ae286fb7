//! `oci_sd_configs`: Oracle Cloud Infrastructure compute instances.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::duration::Duration;
use crate::http::{HttpClientConfig, Secret};

const API_KEY: &str = "api_key";
const INSTANCE_PRINCIPAL: &str = "instance_principal";

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename = "oci.plain", deny_unknown_fields, default)]
pub struct OciSdConfig {
    /// `api_key` (a user's signing key) or `instance_principal` (the
    /// identity of the instance Prometheus runs on).
    pub auth: String,
    pub region: String,
    pub tenancy: String,
    pub user: String,
    pub fingerprint: String,
    pub key_file: String,
    pub key_passphrase: Secret,
    pub key_passphrase_file: String,
    /// Compartment OCIDs; empty means every compartment of the tenancy.
    pub compartments: Vec<String>,
    pub port: i64,
    pub refresh_interval: Duration,
    #[serde(rename = "$inline")]
    pub http_client_config: HttpClientConfig,
}

impl Default for OciSdConfig {
    fn default() -> Self {
        OciSdConfig {
            auth: API_KEY.into(),
            region: String::new(),
            tenancy: String::new(),
            user: String::new(),
            fingerprint: String::new(),
            key_file: String::new(),
            key_passphrase: Secret::default(),
            key_passphrase_file: String::new(),
            compartments: Vec::new(),
            port: 80,
            refresh_interval: Duration::from_secs(60),
            http_client_config: HttpClientConfig::default(),
        }
    }
}

impl OciSdConfig {
    pub fn validate(&mut self) -> Result<(), String> {
        if self.region.is_empty() {
            return Err("oci_sd: configuration requires a region".into());
        }
        let key_fields = [
            ("tenancy", !self.tenancy.is_empty()),
            ("user", !self.user.is_empty()),
            ("fingerprint", !self.fingerprint.is_empty()),
            ("key_file", !self.key_file.is_empty()),
            ("key_passphrase", !self.key_passphrase.is_empty()),
            ("key_passphrase_file", !self.key_passphrase_file.is_empty()),
        ];
        match self.auth.as_str() {
            API_KEY => {
                if let Some((name, _)) = key_fields[..4].iter().find(|(_, set)| !set) {
                    return Err(format!("oci_sd: auth {} requires {name}", super::quote(API_KEY)));
                }
                if !self.key_passphrase.is_empty() && !self.key_passphrase_file.is_empty() {
                    return Err("oci_sd: at most one of key_passphrase and key_passphrase_file must be configured".into());
                }
            }
            // The instance's own certificate authenticates it; user keys
            // would be silently ignored.
            INSTANCE_PRINCIPAL => {
                if let Some((name, _)) = key_fields.iter().find(|(_, set)| *set) {
                    return Err(format!("oci_sd: auth {} must not have {name}", super::quote(INSTANCE_PRINCIPAL)));
                }
            }
            other => {
                return Err(format!(
                    "oci_sd: unknown auth method {}, expected {} or {}",
                    super::quote(other),
                    super::quote(API_KEY),
                    super::quote(INSTANCE_PRINCIPAL)
                ));
            }
        }
        if let Some(i) = self.compartments.iter().position(String::is_empty) {
            return Err(format!("oci_sd: compartments[{i}] must not be empty"));
        }
        if self.refresh_interval.is_zero() {
            return Err("oci_sd: refresh_interval must be positive".into());
        }
        self.http_client_config.validate()
    }

    pub fn set_directory(&mut self, dir: &Path) {
        self.http_client_config.set_directory(dir);
        crate::join_dir(dir, &mut self.key_file);
        crate::join_dir(dir, &mut self.key_passphrase_file);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml;

    fn check(text: &str) -> Result<(), String> {
        let mut c: OciSdConfig = yaml::from_str(text).map_err(|e| e.to_string())?;
        c.validate()
    }

    #[test]
    fn auth_methods() {
        let api_key = "region: r\ntenancy: t\nuser: u\nfingerprint: f\nkey_file: k\n";
        assert!(check(api_key).is_ok());
        assert!(check(&api_key.replace("user: u\n", "")).unwrap_err().contains("requires user"));
        assert_eq!(
            check("auth: invalid\nregion: us-ashburn-1\n").unwrap_err(),
            r#"oci_sd: unknown auth method "invalid", expected "api_key" or "instance_principal""#
        );
        assert!(check("auth: instance_principal\nregion: r\n").is_ok());
        assert!(check("auth: instance_principal\nregion: r\ntenancy: t\n").unwrap_err().contains("must not have tenancy"));
        assert!(check(&format!("{api_key}compartments: [a, '']\n")).unwrap_err().contains("compartments[1] must not be empty"));
    }
}
