//! Amazon Web Services: `ec2_sd_configs`, `lightsail_sd_configs`,
//! `ecs_sd_configs`, `msk_sd_configs`, `rds_sd_configs`,
//! `elasticache_sd_configs`, and the unified `aws_sd_configs` that selects
//! one of them with `role`.
//!
//! Prometheus resolves a missing region (from the environment or the
//! instance metadata service) only when discovery starts, so none of these
//! require a region when the config is loaded.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::duration::Duration;
use crate::http::{HttpClientConfig, Secret};

fn is_zero(n: &i64) -> bool {
    *n == 0
}

/// An EC2 `DescribeInstances` filter.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(rename = "aws.EC2Filter", deny_unknown_fields, default)]
pub struct Ec2Filter {
    pub name: String,
    pub values: Vec<String>,
}

/// A filter of the unified and RDS configs.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(rename = "aws.Filter", deny_unknown_fields, default)]
pub struct AwsFilter {
    pub name: String,
    pub values: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename = "aws.plain", deny_unknown_fields, default)]
pub struct Ec2SdConfig {
    pub endpoint: String,
    pub region: String,
    pub access_key: String,
    pub secret_key: Secret,
    pub profile: String,
    pub role_arn: String,
    pub external_id: String,
    pub refresh_interval: Duration,
    pub port: i64,
    pub filters: Vec<Ec2Filter>,
    #[serde(rename = "$inline")]
    pub http_client_config: HttpClientConfig,
}

impl Default for Ec2SdConfig {
    fn default() -> Self {
        Ec2SdConfig {
            endpoint: String::new(),
            region: String::new(),
            access_key: String::new(),
            secret_key: Secret::default(),
            profile: String::new(),
            role_arn: String::new(),
            external_id: String::new(),
            refresh_interval: Duration::from_secs(60),
            port: 80,
            filters: Vec::new(),
            http_client_config: HttpClientConfig::default(),
        }
    }
}

impl Ec2SdConfig {
    pub fn validate(&mut self) -> Result<(), String> {
        if self.filters.iter().any(|f| f.values.is_empty()) {
            return Err("EC2 SD configuration filter values cannot be empty".into());
        }
        self.http_client_config.validate()
    }

    pub fn set_directory(&mut self, dir: &Path) {
        self.http_client_config.set_directory(dir);
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename = "aws.plain", deny_unknown_fields, default)]
pub struct LightsailSdConfig {
    pub endpoint: String,
    pub region: String,
    pub access_key: String,
    pub secret_key: Secret,
    pub profile: String,
    pub role_arn: String,
    pub external_id: String,
    pub refresh_interval: Duration,
    pub port: i64,
    #[serde(rename = "$inline")]
    pub http_client_config: HttpClientConfig,
}

impl Default for LightsailSdConfig {
    fn default() -> Self {
        LightsailSdConfig {
            endpoint: String::new(),
            region: String::new(),
            access_key: String::new(),
            secret_key: Secret::default(),
            profile: String::new(),
            role_arn: String::new(),
            external_id: String::new(),
            refresh_interval: Duration::from_secs(60),
            port: 80,
            http_client_config: HttpClientConfig::default(),
        }
    }
}

impl LightsailSdConfig {
    pub fn validate(&mut self) -> Result<(), String> {
        self.http_client_config.validate()
    }

    pub fn set_directory(&mut self, dir: &Path) {
        self.http_client_config.set_directory(dir);
    }
}

/// The services that discover clusters (ECS, MSK, ElastiCache) share one
/// shape; only their names and defaults differ.
macro_rules! cluster_config {
    ($(#[$meta:meta])* $name:ident, concurrency: $concurrency:expr) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
        #[serde(rename = "aws.plain", deny_unknown_fields, default)]
        pub struct $name {
            pub region: String,
            pub endpoint: String,
            pub access_key: String,
            pub secret_key: Secret,
            pub profile: String,
            pub role_arn: String,
            pub external_id: String,
            pub clusters: Vec<String>,
            pub port: i64,
            pub refresh_interval: Duration,
            /// How many API requests may run at once.
            pub request_concurrency: i64,
            #[serde(rename = "$inline")]
            pub http_client_config: HttpClientConfig,
        }

        impl Default for $name {
            fn default() -> Self {
                $name {
                    region: String::new(),
                    endpoint: String::new(),
                    access_key: String::new(),
                    secret_key: Secret::default(),
                    profile: String::new(),
                    role_arn: String::new(),
                    external_id: String::new(),
                    clusters: Vec::new(),
                    port: 80,
                    refresh_interval: Duration::from_secs(60),
                    request_concurrency: $concurrency,
                    http_client_config: HttpClientConfig::default(),
                }
            }
        }

        impl $name {
            pub fn validate(&mut self) -> Result<(), String> {
                self.http_client_config.validate()
            }

            pub fn set_directory(&mut self, dir: &Path) {
                self.http_client_config.set_directory(dir);
            }
        }
    };
}

cluster_config!(
    /// ECS tasks; the default concurrency follows ECS's sustained API rate.
    EcsSdConfig,
    concurrency: 20
);
cluster_config!(
    /// MSK (managed Kafka) brokers and controllers.
    MskSdConfig,
    concurrency: 10
);
cluster_config!(
    /// ElastiCache cache nodes.
    ElasticacheSdConfig,
    concurrency: 10
);

/// RDS instances of DB clusters.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename = "aws.plain", deny_unknown_fields, default)]
pub struct RdsSdConfig {
    pub region: String,
    pub endpoint: String,
    pub access_key: String,
    pub secret_key: Secret,
    pub profile: String,
    pub role_arn: String,
    pub external_id: String,
    pub clusters: Vec<String>,
    pub filters: Vec<AwsFilter>,
    pub port: i64,
    pub refresh_interval: Duration,
    pub request_concurrency: i64,
    #[serde(rename = "$inline")]
    pub http_client_config: HttpClientConfig,
}

impl Default for RdsSdConfig {
    fn default() -> Self {
        RdsSdConfig {
            region: String::new(),
            endpoint: String::new(),
            access_key: String::new(),
            secret_key: Secret::default(),
            profile: String::new(),
            role_arn: String::new(),
            external_id: String::new(),
            clusters: Vec::new(),
            filters: Vec::new(),
            port: 80,
            refresh_interval: Duration::from_secs(60),
            request_concurrency: 10,
            http_client_config: HttpClientConfig::default(),
        }
    }
}

impl RdsSdConfig {
    pub fn validate(&mut self) -> Result<(), String> {
        self.http_client_config.validate()
    }

    pub fn set_directory(&mut self, dir: &Path) {
        self.http_client_config.set_directory(dir);
    }
}

string_enum!(
    /// The AWS service `aws_sd_configs` discovers.
    AwsRole,
    "unknown AWS SD role {}",
    {
        Ec2 => "ec2",
        Ecs => "ecs",
        Elasticache => "elasticache",
        Lightsail => "lightsail",
        Msk => "msk",
        Rds => "rds",
    }
);

/// `aws_sd_configs`: one service picked by `role`. A port left unset (zero)
/// takes the chosen service's default, see [`AwsSdConfig::effective_port`].
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename = "aws.plain", deny_unknown_fields, default)]
pub struct AwsSdConfig {
    pub role: Option<AwsRole>,
    pub region: String,
    pub endpoint: String,
    pub access_key: String,
    pub secret_key: Secret,
    pub profile: String,
    pub role_arn: String,
    pub external_id: String,
    pub refresh_interval: Duration,
    #[serde(skip_serializing_if = "is_zero")]
    pub port: i64,
    #[serde(rename = "$inline")]
    pub http_client_config: HttpClientConfig,
    /// For the ec2 and rds roles.
    pub filters: Vec<AwsFilter>,
    /// For the ecs, msk, rds and elasticache roles.
    pub clusters: Vec<String>,
}

impl Default for AwsSdConfig {
    fn default() -> Self {
        AwsSdConfig {
            role: None,
            region: String::new(),
            endpoint: String::new(),
            access_key: String::new(),
            secret_key: Secret::default(),
            profile: String::new(),
            role_arn: String::new(),
            external_id: String::new(),
            refresh_interval: Duration::from_secs(60),
            port: 0,
            http_client_config: HttpClientConfig::default(),
            filters: Vec::new(),
            clusters: Vec::new(),
        }
    }
}

impl AwsSdConfig {
    /// Prometheus only checks the role here: the HTTP client settings are
    /// handed to the chosen service unchecked.
    pub fn validate(&mut self) -> Result<(), String> {
        if self.role.is_none() {
            return Err(format!("unknown AWS SD role {}", super::quote("")));
        }
        Ok(())
    }

    pub fn set_directory(&mut self, dir: &Path) {
        self.http_client_config.set_directory(dir);
    }

    /// The port to scrape: the configured one, else the services' default.
    pub fn effective_port(&self) -> i64 {
        if self.port != 0 { self.port } else { 80 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml;

    #[test]
    fn ec2_defaults_and_filters() {
        let c: Ec2SdConfig = yaml::from_str("region: us-east-1\n").unwrap();
        assert_eq!((c.port, c.refresh_interval), (80, Duration::from_secs(60)));
        let mut c: Ec2SdConfig = yaml::from_str("region: us-east-1\nfilters:\n  - name: tag:env\n    values:\n").unwrap();
        assert_eq!(c.validate().unwrap_err(), "EC2 SD configuration filter values cannot be empty");
        let mut c: Ec2SdConfig = yaml::from_str("bearer_token: a\nbearer_token_file: b\n").unwrap();
        assert_eq!(c.validate().unwrap_err(), "at most one of bearer_token & bearer_token_file must be configured");
    }

    #[test]
    fn unified_role_is_required_and_checked() {
        let mut c: AwsSdConfig = yaml::from_str("region: x\n").unwrap();
        assert_eq!(c.validate().unwrap_err(), r#"unknown AWS SD role """#);
        let e = yaml::from_str::<AwsSdConfig>("role: s3\n").unwrap_err();
        assert!(e.to_string().contains(r#"unknown AWS SD role "s3""#), "{e}");
        let mut c: AwsSdConfig = yaml::from_str("role: ecs\nclusters: [a]\n").unwrap();
        assert!(c.validate().is_ok());
        assert_eq!(c.effective_port(), 80);
    }

    #[test]
    fn cluster_services_have_their_own_concurrency() {
        let ecs: EcsSdConfig = yaml::from_str("{}").unwrap();
        let msk: MskSdConfig = yaml::from_str("{}").unwrap();
        assert_eq!((ecs.request_concurrency, msk.request_concurrency), (20, 10));
    }
}
