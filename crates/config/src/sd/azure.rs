//! `azure_sd_configs`: virtual machines and scale sets of a subscription.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::duration::Duration;
use crate::http::{HttpClientConfig, Secret};

const OAUTH: &str = "OAuth";
const MANAGED_IDENTITY: &str = "ManagedIdentity";
const SDK: &str = "SDK";
const WORKLOAD_IDENTITY: &str = "WorkloadIdentity";

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename = "azure.plain", deny_unknown_fields, default)]
pub struct AzureSdConfig {
    pub environment: String,
    pub port: i64,
    pub subscription_id: String,
    pub tenant_id: String,
    pub client_id: String,
    pub client_secret: Secret,
    pub refresh_interval: Duration,
    pub authentication_method: String,
    pub resource_group: String,
    #[serde(rename = "$inline")]
    pub http_client_config: HttpClientConfig,
}

impl Default for AzureSdConfig {
    fn default() -> Self {
        AzureSdConfig {
            environment: "AzurePublicCloud".into(),
            port: 80,
            subscription_id: String::new(),
            tenant_id: String::new(),
            client_id: String::new(),
            client_secret: Secret::default(),
            refresh_interval: Duration::from_secs(300),
            authentication_method: OAUTH.into(),
            resource_group: String::new(),
            http_client_config: HttpClientConfig::default(),
        }
    }
}

fn required(value: &str, name: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err(format!("azure SD configuration requires a {name}"));
    }
    Ok(())
}

impl AzureSdConfig {
    pub fn validate(&mut self) -> Result<(), String> {
        required(&self.subscription_id, "subscription_id")?;
        // Only a client secret login needs these; the other methods take
        // them from the environment.
        if self.authentication_method == OAUTH {
            required(&self.tenant_id, "tenant_id")?;
            required(&self.client_id, "client_id")?;
            required(self.client_secret.expose(), "client_secret")?;
        }
        if ![OAUTH, MANAGED_IDENTITY, SDK, WORKLOAD_IDENTITY].contains(&self.authentication_method.as_str()) {
            return Err(format!(
                "unknown authentication_type {}. Supported types are {}, {}, {} or {}",
                super::quote(&self.authentication_method),
                super::quote(OAUTH),
                super::quote(MANAGED_IDENTITY),
                super::quote(SDK),
                super::quote(WORKLOAD_IDENTITY),
            ));
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

    fn check(text: &str) -> Result<AzureSdConfig, String> {
        let mut c: AzureSdConfig = yaml::from_str(text).map_err(|e| e.to_string())?;
        c.validate().map(|()| c)
    }

    #[test]
    fn oauth_needs_its_credentials() {
        let base = "subscription_id: s\ntenant_id: t\nclient_id: c\nclient_secret: x\n";
        let c = check(base).unwrap();
        assert_eq!((c.port, c.environment.as_str()), (80, "AzurePublicCloud"));
        assert_eq!(check("tenant_id: t\n").unwrap_err(), "azure SD configuration requires a subscription_id");
        assert_eq!(check(&base.replace("client_id: c", "client_id:")).unwrap_err(), "azure SD configuration requires a client_id");
        assert!(check("subscription_id: s\nauthentication_method: ManagedIdentity\n").is_ok());
        assert_eq!(
            check("subscription_id: s\nauthentication_method: invalid\n").unwrap_err(),
            r#"unknown authentication_type "invalid". Supported types are "OAuth", "ManagedIdentity", "SDK" or "WorkloadIdentity""#
        );
    }
}
