//! The HTTP client configuration shared by scrape configs, service discovery,
//! remote write/read and Alertmanager clients (Prometheus's `common/config`):
//! authentication, TLS, proxies and extra headers, plus the `Secret` and `Url`
//! value types.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::join_dir;

/// A string that is never shown: it prints and serializes as `<secret>`.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    /// The secret itself, for the code that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() { "\"\"" } else { "<secret>" })
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0.is_empty() { s.serialize_str("") } else { s.serialize_str("<secret>") }
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

/// A URL as written in the config. Go's parser accepts scheme-less text
/// (`localhost:1234/x`), leaving its checks to each user of the URL, so this
/// keeps the text and parses it when it has a scheme.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Url {
    raw: String,
    parsed: Option<url::Url>,
}

impl Url {
    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.chars().any(|c| c.is_ascii_control()) {
            return Err(format!("parse {raw:?}: net/url: invalid control character in URL"));
        }
        match url::Url::parse(raw) {
            Ok(u) => Ok(Url { raw: raw.to_owned(), parsed: Some(u) }),
            Err(url::ParseError::RelativeUrlWithoutBase) => Ok(Url { raw: raw.to_owned(), parsed: None }),
            Err(e) => Err(format!("parse {raw:?}: {e}")),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.raw
    }

    pub fn parsed(&self) -> Option<&url::Url> {
        self.parsed.as_ref()
    }

    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// `""` when the text has no scheme.
    pub fn scheme(&self) -> &str {
        self.parsed.as_ref().map_or("", |u| u.scheme())
    }

    /// `""` when the text has no host.
    pub fn host(&self) -> &str {
        self.parsed.as_ref().and_then(|u| u.host_str()).unwrap_or("")
    }

    /// The URL with any password replaced, as Prometheus shows it.
    pub fn redacted(&self) -> String {
        match &self.parsed {
            Some(u) if u.password().is_some() => {
                let mut u = u.clone();
                // Setting a password only fails for URLs that cannot have one,
                // and this one already does.
                let _ = u.set_password(Some("xxxxx"));
                u.to_string()
            }
            _ => self.raw.clone(),
        }
    }
}

impl fmt::Debug for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.redacted())
    }
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl Serialize for Url {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.redacted())
    }
}

impl<'de> Deserialize<'de> for Url {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Url::parse(&s).map_err(serde::de::Error::custom)
    }
}

fn at_most_one(values: &[bool]) -> bool {
    values.iter().filter(|v| **v).count() <= 1
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(rename = "config.plain", deny_unknown_fields, default)]
pub struct BasicAuth {
    pub username: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub username_file: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub username_ref: String,
    #[serde(skip_serializing_if = "Secret::is_empty")]
    pub password: Secret,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub password_file: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub password_ref: String,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(rename = "config.plain", deny_unknown_fields, default)]
pub struct Authorization {
    #[serde(rename = "type", skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(skip_serializing_if = "Secret::is_empty")]
    pub credentials: Secret,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub credentials_file: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub credentials_ref: String,
}

/// TLS protocol versions as Prometheus names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
pub enum TlsVersion {
    #[serde(rename = "TLS10")]
    Tls10,
    #[serde(rename = "TLS11")]
    Tls11,
    #[serde(rename = "TLS12")]
    Tls12,
    #[serde(rename = "TLS13")]
    Tls13,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(rename = "config.plain", deny_unknown_fields, default)]
pub struct TlsConfig {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub ca: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub cert: String,
    #[serde(skip_serializing_if = "Secret::is_empty")]
    pub key: Secret,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub ca_file: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub cert_file: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub key_file: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub ca_ref: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub cert_ref: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub key_ref: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub server_name: String,
    pub insecure_skip_verify: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_version: Option<TlsVersion>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_version: Option<TlsVersion>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub next_protos: Vec<String>,
}

impl TlsConfig {
    pub fn validate(&self) -> Result<(), String> {
        if !at_most_one(&[!self.ca.is_empty(), !self.ca_file.is_empty(), !self.ca_ref.is_empty()]) {
            return Err("at most one of ca, ca_file & ca_ref must be configured".into());
        }
        if !at_most_one(&[!self.cert.is_empty(), !self.cert_file.is_empty(), !self.cert_ref.is_empty()]) {
            return Err("at most one of cert, cert_file & cert_ref must be configured".into());
        }
        if !at_most_one(&[!self.key.is_empty(), !self.key_file.is_empty(), !self.key_ref.is_empty()]) {
            return Err("at most one of key and key_file must be configured".into());
        }
        match (self.using_client_cert(), self.using_client_key()) {
            (true, false) => Err("exactly one of key or key_file must be configured when a client certificate is configured".into()),
            (false, true) => Err("exactly one of cert or cert_file must be configured when a client key is configured".into()),
            _ => match (self.min_version, self.max_version) {
                (Some(min), Some(max)) if max < min => {
                    Err("tls_config.max_version must be greater than or equal to tls_config.min_version if both are specified".into())
                }
                _ => Ok(()),
            },
        }
    }

    pub fn using_client_cert(&self) -> bool {
        !self.cert.is_empty() || !self.cert_file.is_empty() || !self.cert_ref.is_empty()
    }

    pub fn using_client_key(&self) -> bool {
        !self.key.is_empty() || !self.key_file.is_empty() || !self.key_ref.is_empty()
    }

    /// The files this config reads, for checks that they exist.
    pub fn files(&self) -> Vec<&str> {
        [&self.ca_file, &self.cert_file, &self.key_file].into_iter().filter(|f| !f.is_empty()).map(String::as_str).collect()
    }

    pub fn set_directory(&mut self, dir: &Path) {
        join_dir(dir, &mut self.ca_file);
        join_dir(dir, &mut self.cert_file);
        join_dir(dir, &mut self.key_file);
    }
}

/// How to reach targets through a proxy (inlined into the client config).
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(rename = "config.plain", deny_unknown_fields, default)]
pub struct ProxyConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy_url: Option<Url>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub no_proxy: String,
    pub proxy_from_environment: bool,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub proxy_connect_header: BTreeMap<String, Vec<Secret>>,
}

impl ProxyConfig {
    fn has_url(&self) -> bool {
        self.proxy_url.as_ref().is_some_and(|u| !u.is_empty())
    }

    pub fn validate(&self) -> Result<(), String> {
        if !self.proxy_connect_header.is_empty() && !self.proxy_from_environment && !self.has_url() {
            return Err("if proxy_connect_header is configured, proxy_url or proxy_from_environment must also be configured".into());
        }
        if self.proxy_from_environment && self.has_url() {
            return Err("if proxy_from_environment is configured, proxy_url must not be configured".into());
        }
        if self.proxy_from_environment && !self.no_proxy.is_empty() {
            return Err("if proxy_from_environment is configured, no_proxy must not be configured".into());
        }
        if self.proxy_url.is_none() && !self.no_proxy.is_empty() {
            return Err("if no_proxy is configured, proxy_url must also be configured".into());
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(rename = "config.plain", deny_unknown_fields, default)]
pub struct OAuth2 {
    pub client_id: String,
    #[serde(skip_serializing_if = "Secret::is_empty")]
    pub client_secret: Secret,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub client_secret_file: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub client_secret_ref: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    pub token_url: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub endpoint_params: BTreeMap<String, String>,
    pub tls_config: TlsConfig,
    #[serde(rename = "$inline")]
    pub proxy: ProxyConfig,
}

/// One extra request header: literal values, secret values, or files whose
/// content is read at request time.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(rename = "config.plain", deny_unknown_fields, default)]
pub struct Header {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<Secret>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<String>,
}

/// Headers that the client sets itself and a config may not override
/// (canonical form, compared case-insensitively).
const RESERVED_HEADERS: &[&str] = &[
    "Authorization",
    "Host",
    "Content-Encoding",
    "Content-Length",
    "Content-Type",
    "User-Agent",
    "Connection",
    "Keep-Alive",
    "Proxy-Authenticate",
    "Proxy-Authorization",
    "Www-Authenticate",
    "Accept-Encoding",
    "X-Prometheus-Remote-Write-Version",
    "X-Prometheus-Remote-Read-Version",
    "X-Prometheus-Scrape-Timeout-Seconds",
    "X-Amz-Date",
    "X-Amz-Security-Token",
    "X-Amz-Content-Sha256",
];

/// The HTTP client used to reach targets, discovery APIs and remote ends.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename = "config.plain", deny_unknown_fields, default)]
pub struct HttpClientConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub basic_auth: Option<BasicAuth>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorization: Option<Authorization>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oauth2: Option<OAuth2>,
    #[serde(skip_serializing_if = "Secret::is_empty")]
    pub bearer_token: Secret,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub bearer_token_file: String,
    pub tls_config: TlsConfig,
    pub follow_redirects: bool,
    pub enable_http2: bool,
    #[serde(rename = "$inline")]
    pub proxy: ProxyConfig,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub http_headers: BTreeMap<String, Header>,
}

impl Default for HttpClientConfig {
    fn default() -> Self {
        HttpClientConfig {
            basic_auth: None,
            authorization: None,
            oauth2: None,
            bearer_token: Secret::default(),
            bearer_token_file: String::new(),
            tls_config: TlsConfig::default(),
            follow_redirects: true,
            enable_http2: true,
            proxy: ProxyConfig::default(),
            http_headers: BTreeMap::new(),
        }
    }
}

impl HttpClientConfig {
    /// Checks the combination rules and normalises the deprecated
    /// `bearer_token(_file)` into `authorization`, as Prometheus does.
    pub fn validate(&mut self) -> Result<(), String> {
        let bearer = !self.bearer_token.is_empty() || !self.bearer_token_file.is_empty();
        if !self.bearer_token.is_empty() && !self.bearer_token_file.is_empty() {
            return Err("at most one of bearer_token & bearer_token_file must be configured".into());
        }
        if (self.basic_auth.is_some() || self.oauth2.is_some()) && bearer {
            return Err("at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured".into());
        }
        if let Some(b) = &self.basic_auth {
            if !at_most_one(&[!b.username.is_empty(), !b.username_file.is_empty(), !b.username_ref.is_empty()]) {
                return Err("at most one of basic_auth username, username_file & username_ref must be configured".into());
            }
            if !at_most_one(&[!b.password.is_empty(), !b.password_file.is_empty(), !b.password_ref.is_empty()]) {
                return Err("at most one of basic_auth password, password_file & password_ref must be configured".into());
            }
        }
        if let Some(a) = &mut self.authorization {
            if bearer {
                return Err("authorization is not compatible with bearer_token & bearer_token_file".into());
            }
            if !at_most_one(&[!a.credentials.is_empty(), !a.credentials_file.is_empty(), !a.credentials_ref.is_empty()]) {
                return Err("at most one of authorization credentials & credentials_file must be configured".into());
            }
            a.kind = a.kind.trim().to_owned();
            if a.kind.is_empty() {
                a.kind = "Bearer".into();
            }
            if a.kind.eq_ignore_ascii_case("basic") {
                return Err(r#"authorization type cannot be set to "basic", use "basic_auth" instead"#.into());
            }
            if self.basic_auth.is_some() || self.oauth2.is_some() {
                return Err("at most one of basic_auth, oauth2 & authorization must be configured".into());
            }
        } else if !self.bearer_token.is_empty() {
            self.authorization = Some(Authorization { kind: "Bearer".into(), credentials: std::mem::take(&mut self.bearer_token), ..Default::default() });
        } else if !self.bearer_token_file.is_empty() {
            self.authorization =
                Some(Authorization { kind: "Bearer".into(), credentials_file: std::mem::take(&mut self.bearer_token_file), ..Default::default() });
        }
        if let Some(o) = &self.oauth2 {
            if self.basic_auth.is_some() {
                return Err("at most one of basic_auth, oauth2 & authorization must be configured".into());
            }
            if o.client_id.is_empty() {
                return Err("oauth2 client_id must be configured".into());
            }
            if o.token_url.is_empty() {
                return Err("oauth2 token_url must be configured".into());
            }
            if !at_most_one(&[!o.client_secret.is_empty(), !o.client_secret_file.is_empty(), !o.client_secret_ref.is_empty()]) {
                return Err("at most one of oauth2 client_secret, client_secret_file & client_secret_ref must be configured".into());
            }
            o.tls_config.validate()?;
            o.proxy.validate()?;
        }
        self.tls_config.validate()?;
        self.proxy.validate()?;
        for name in self.http_headers.keys() {
            if RESERVED_HEADERS.iter().any(|r| r.eq_ignore_ascii_case(name)) {
                return Err(format!("setting header {name:?} is not allowed"));
            }
        }
        Ok(())
    }

    /// Makes every relative file path absolute against `dir`, the folder of
    /// the config file, so that the server's working directory is irrelevant.
    pub fn set_directory(&mut self, dir: &Path) {
        self.tls_config.set_directory(dir);
        if let Some(b) = &mut self.basic_auth {
            join_dir(dir, &mut b.username_file);
            join_dir(dir, &mut b.password_file);
        }
        if let Some(a) = &mut self.authorization {
            join_dir(dir, &mut a.credentials_file);
        }
        if let Some(o) = &mut self.oauth2 {
            join_dir(dir, &mut o.client_secret_file);
            o.tls_config.set_directory(dir);
        }
        for h in self.http_headers.values_mut() {
            for f in &mut h.files {
                join_dir(dir, f);
            }
        }
        join_dir(dir, &mut self.bearer_token_file);
    }

    /// Every file the client reads (credentials, certificates), for
    /// `check config`, which reports those that do not exist.
    pub fn files(&self) -> Vec<&str> {
        let mut out = self.tls_config.files();
        if let Some(b) = &self.basic_auth {
            out.extend([b.username_file.as_str(), b.password_file.as_str()].into_iter().filter(|f| !f.is_empty()));
        }
        if let Some(a) = &self.authorization {
            if !a.credentials_file.is_empty() {
                out.push(&a.credentials_file);
            }
        }
        if let Some(o) = &self.oauth2 {
            if !o.client_secret_file.is_empty() {
                out.push(&o.client_secret_file);
            }
            out.extend(o.tls_config.files());
        }
        if !self.bearer_token_file.is_empty() {
            out.push(&self.bearer_token_file);
        }
        for h in self.http_headers.values() {
            out.extend(h.files.iter().map(String::as_str));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml;

    #[test]
    fn defaults_and_bearer_normalisation() {
        let mut c: HttpClientConfig = yaml::from_str("bearer_token: abc\n").unwrap();
        assert!(c.follow_redirects && c.enable_http2);
        c.validate().unwrap();
        let a = c.authorization.unwrap();
        assert_eq!((a.kind.as_str(), a.credentials.expose()), ("Bearer", "abc"));
        assert!(c.bearer_token.is_empty());
    }

    #[test]
    fn combination_rules() {
        let cases = [
            ("bearer_token: a\nbearer_token_file: b\n", "at most one of bearer_token & bearer_token_file must be configured"),
            ("basic_auth: {username: u}\nbearer_token: a\n", "at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured"),
            ("basic_auth: {username: u}\nauthorization: {credentials: x}\n", "at most one of basic_auth, oauth2 & authorization must be configured"),
            ("authorization: {type: Basic}\n", r#"authorization type cannot be set to "basic", use "basic_auth" instead"#),
            ("oauth2: {token_url: x}\n", "oauth2 client_id must be configured"),
            ("no_proxy: x\n", "if no_proxy is configured, proxy_url must also be configured"),
            ("tls_config: {key_file: k}\n", "exactly one of cert or cert_file must be configured when a client key is configured"),
            ("http_headers: {user-agent: {values: [x]}}\n", r#"setting header "user-agent" is not allowed"#),
        ];
        for (text, want) in cases {
            let mut c: HttpClientConfig = yaml::from_str(text).unwrap();
            assert_eq!(c.validate().unwrap_err(), want, "{text}");
        }
    }

    #[test]
    fn secrets_never_print() {
        let c: HttpClientConfig = yaml::from_str("basic_auth: {username: u, password: hunter2}\n").unwrap();
        let shown = yaml::to_string(&c).unwrap();
        assert!(shown.contains("password: <secret>"), "{shown}");
        assert!(!shown.contains("hunter2"));
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    #[test]
    fn proxy_url_is_inline_and_redacted() {
        let mut c: HttpClientConfig = yaml::from_str("proxy_url: http://u:p@proxy:3128\n").unwrap();
        c.validate().unwrap();
        assert_eq!(c.proxy.proxy_url.as_ref().unwrap().host(), "proxy");
        assert!(yaml::to_string(&c).unwrap().contains("proxy_url: http://u:xxxxx@proxy:3128/"));
    }
}
