//! `remote_write` and `remote_read`: sending samples to, and reading them
//! from, other systems.

use std::collections::BTreeMap;
use std::path::Path;

use model::ValidationScheme;
use relabel::RelabelConfig;
use serde::{Deserialize, Serialize};

use crate::duration::Duration;
use crate::http::{HttpClientConfig, Secret};
use crate::non_null;

/// Headers a remote client sets itself; a config may not override them.
const RESERVED_HEADERS: &[&str] = &[
    "host",
    "content-encoding",
    "content-length",
    "content-type",
    "user-agent",
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "www-authenticate",
    "accept-encoding",
    "x-prometheus-remote-write-version",
    "x-prometheus-remote-read-version",
    "x-amz-date",
    "x-amz-security-token",
    "x-amz-content-sha256",
];

pub(crate) fn reserved_header(name: &str) -> Option<String> {
    RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()).then(|| format!("{name} is a reserved header. It must not be changed"))
}

fn validate_headers(headers: &BTreeMap<String, String>) -> Result<(), String> {
    for name in headers.keys() {
        if name.eq_ignore_ascii_case("authorization") {
            return Err("authorization header must be changed via the basic_auth, authorization, oauth2, sigv4, azuread or google_iam parameter".into());
        }
        if let Some(e) = reserved_header(name) {
            return Err(e);
        }
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename = "config.plain", deny_unknown_fields, default)]
pub struct QueueConfig {
    pub capacity: i64,
    pub max_shards: i64,
    pub min_shards: i64,
    pub max_samples_per_send: i64,
    pub batch_send_deadline: Duration,
    pub min_backoff: Duration,
    pub max_backoff: Duration,
    #[serde(rename = "retry_on_http_429", skip_serializing_if = "std::ops::Not::not")]
    pub retry_on_rate_limit: bool,
    #[serde(skip_serializing_if = "Duration::is_zero")]
    pub sample_age_limit: Duration,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            capacity: 10_000,
            max_shards: 50,
            min_shards: 1,
            max_samples_per_send: 2000,
            batch_send_deadline: Duration::from_secs(5),
            min_backoff: Duration::from_millis(30),
            max_backoff: Duration::from_secs(5),
            retry_on_rate_limit: false,
            sample_age_limit: Duration::ZERO,
        }
    }
}

impl QueueConfig {
    fn validate(&self) -> Result<(), String> {
        let positive = [
            ("max_samples_per_send", self.max_samples_per_send),
            ("max_shards", self.max_shards),
            ("min_shards", self.min_shards),
            ("capacity", self.capacity),
        ];
        for (name, v) in positive {
            if v <= 0 {
                return Err(format!("remote write queue {name} must be positive"));
            }
        }
        if self.min_shards > self.max_shards {
            return Err("remote write queue min_shards must not be greater than max_shards".into());
        }
        if self.max_backoff < self.min_backoff {
            return Err("remote write queue max_backoff must not be less than min_backoff".into());
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename = "config.plain", deny_unknown_fields, default)]
pub struct MetadataConfig {
    pub send: bool,
    pub send_interval: Duration,
    pub max_samples_per_send: i64,
}

impl Default for MetadataConfig {
    fn default() -> Self {
        MetadataConfig { send: true, send_interval: Duration::from_secs(60), max_samples_per_send: 2000 }
    }
}

/// AWS Signature V4 request signing.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(rename = "sigv4.plain", deny_unknown_fields, default)]
pub struct SigV4Config {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub region: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub access_key: String,
    #[serde(skip_serializing_if = "Secret::is_empty")]
    pub secret_key: Secret,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub profile: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub role_arn: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub external_id: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub use_fips_sts_endpoint: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub service_name: String,
}

impl SigV4Config {
    fn validate(&self) -> Result<(), String> {
        if self.access_key.is_empty() != self.secret_key.is_empty() {
            return Err("must provide a AWS SigV4 Access key and Secret Key if credentials are specified in the SigV4 config".into());
        }
        Ok(())
    }
}

/// Azure AD authentication for remote write.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(rename = "azuread.plain", deny_unknown_fields, default)]
pub struct AzureAdConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub managed_identity: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oauth: Option<BTreeMap<String, Secret>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sdk: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workload_identity: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub cloud: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub scope: String,
}

/// Google IAM authentication for remote write.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(rename = "googleiam.plain", deny_unknown_fields, default)]
pub struct GoogleIamConfig {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub credentials_file: String,
}

/// Which remote-write protobuf message to send.
pub const PROTOBUF_MESSAGES: [&str; 2] = ["prometheus.WriteRequest", "io.prometheus.write.v2.Request"];

non_null!(write_relabel_rules, RelabelConfig, "empty or null relabeling rule in remote write config");

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename = "config.plain", deny_unknown_fields, default)]
pub struct RemoteWriteConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<crate::http::Url>,
    pub remote_timeout: Duration,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    #[serde(deserialize_with = "write_relabel_rules", skip_serializing_if = "Vec::is_empty")]
    pub write_relabel_configs: Vec<RelabelConfig>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub send_exemplars: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub send_native_histograms: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub round_robin_dns: bool,
    pub protobuf_message: String,
    #[serde(rename = "$inline")]
    pub http_client_config: HttpClientConfig,
    pub queue_config: QueueConfig,
    pub metadata_config: MetadataConfig,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sigv4: Option<SigV4Config>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub azuread: Option<AzureAdConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub google_iam: Option<GoogleIamConfig>,
}

impl Default for RemoteWriteConfig {
    fn default() -> Self {
        RemoteWriteConfig {
            url: None,
            remote_timeout: Duration::from_secs(30),
            headers: BTreeMap::new(),
            write_relabel_configs: Vec::new(),
            name: String::new(),
            send_exemplars: false,
            send_native_histograms: false,
            round_robin_dns: false,
            protobuf_message: PROTOBUF_MESSAGES[0].into(),
            // Remote write speaks HTTP/1.1 by default, unlike other clients.
            http_client_config: HttpClientConfig { enable_http2: false, ..HttpClientConfig::default() },
            queue_config: QueueConfig::default(),
            metadata_config: MetadataConfig::default(),
            sigv4: None,
            azuread: None,
            google_iam: None,
        }
    }
}

impl RemoteWriteConfig {
    pub(crate) fn validate(&mut self, scheme: ValidationScheme) -> Result<(), String> {
        if self.url.is_none() {
            return Err("url for remote_write is empty".into());
        }
        validate_headers(&self.headers)?;
        if !PROTOBUF_MESSAGES.contains(&self.protobuf_message.as_str()) {
            return Err(format!(
                "invalid protobuf_message value: unknown type for remote write protobuf message {}, supported: {}",
                self.protobuf_message,
                PROTOBUF_MESSAGES.join(", ")
            ));
        }
        self.http_client_config.validate()?;
        if let Some(s) = &self.sigv4 {
            s.validate()?;
        }
        let h = &self.http_client_config;
        let configured: Vec<&str> = [
            (h.basic_auth.is_some(), "basic_auth"),
            (h.authorization.is_some(), "authorization"),
            (h.oauth2.is_some(), "oauth2"),
            (self.sigv4.is_some(), "sigv4"),
            (self.azuread.is_some(), "azuread"),
            (self.google_iam.is_some(), "google_iam"),
        ]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
        .collect();
        if configured.len() > 1 {
            return Err(format!(
                "at most one of basic_auth, authorization, oauth2, sigv4, azuread or google_iam must be configured. Currently configured: [{}]",
                configured.join(" ")
            ));
        }
        self.queue_config.validate()?;
        for rc in &self.write_relabel_configs {
            rc.validate(scheme)?;
        }
        Ok(())
    }

    pub(crate) fn set_directory(&mut self, dir: &Path) {
        self.http_client_config.set_directory(dir);
        if let Some(g) = &mut self.google_iam {
            crate::join_dir(dir, &mut g.credentials_file);
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename = "config.plain", deny_unknown_fields, default)]
pub struct RemoteReadConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<crate::http::Url>,
    pub remote_timeout: Duration,
    pub chunked_read_limit: u64,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub read_recent: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(rename = "$inline")]
    pub http_client_config: HttpClientConfig,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub required_matchers: BTreeMap<String, String>,
    pub filter_external_labels: bool,
}

impl Default for RemoteReadConfig {
    fn default() -> Self {
        RemoteReadConfig {
            url: None,
            remote_timeout: Duration::from_secs(60),
            chunked_read_limit: 50_000_000,
            headers: BTreeMap::new(),
            read_recent: false,
            name: String::new(),
            http_client_config: HttpClientConfig::default(),
            required_matchers: BTreeMap::new(),
            filter_external_labels: true,
        }
    }
}

impl RemoteReadConfig {
    pub(crate) fn validate(&mut self) -> Result<(), String> {
        if self.url.is_none() {
            return Err("url for remote_read is empty".into());
        }
        validate_headers(&self.headers)?;
        self.http_client_config.validate()
    }

    pub(crate) fn set_directory(&mut self, dir: &Path) {
        self.http_client_config.set_directory(dir);
    }
}
