//! The `prometheus.yml` schema: decoding, Prometheus's defaults, validation,
//! path resolution and display.
//!
//! This crate owns what a configuration *says*. It performs no I/O beyond
//! reading the config file and the files it includes (`scrape_config_files`),
//! and it must not start anything: the components that act on a config
//! (scrape, discovery, notifier, rules, remote) live in their own crates and
//! take the typed sections from here.
//!
//! Loading follows Prometheus: a strict decode (unknown fields are errors
//! with their line), defaults and inheritance from `global`, every validation
//! rule with Prometheus's wording, then relative paths made absolute against
//! the config file's folder.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub mod alerting;
pub mod duration;
pub mod global;
pub mod http;
pub mod otlp;
pub mod remote;
pub mod scrape;
pub mod sd;
pub mod storage;
pub mod trace;
pub mod units;
pub mod yaml;

pub use alerting::{AlertingConfig, AlertmanagerConfig};
pub use duration::Duration;
pub use global::GlobalConfig;
pub use http::{HttpClientConfig, Secret, TlsConfig, Url};
pub use remote::{RemoteReadConfig, RemoteWriteConfig};
pub use scrape::{ScrapeConfig, ScrapeProtocol};
pub use storage::StorageConfig;
pub use trace::TracingConfig;

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// The file was read but its content is invalid.
    #[error("parsing YAML file {path}: {msg}")]
    Parse { path: String, msg: String },
    /// Content given as text (not a file) is invalid.
    #[error("{0}")]
    Invalid(String),
    /// A rule the whole file breaks (agent mode, included files).
    #[error("{0}")]
    File(String),
}

/// Makes a relative, non-empty `path` absolute against `dir`; Prometheus
/// resolves every file a config names this way.
pub fn join_dir(dir: &Path, path: &mut String) {
    if path.is_empty() || Path::new(path.as_str()).is_absolute() {
        return;
    }
    *path = dir.join(path.as_str()).to_string_lossy().into_owned();
}

/// Declares a serde `deserialize_with` function for a list whose null entries
/// are refused with Prometheus's message for that list.
#[macro_export]
#[doc(hidden)]
macro_rules! non_null {
    ($fn:ident, $ty:ty, $msg:literal) => {
        fn $fn<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<$ty>, D::Error> {
            let items: Option<Vec<Option<$ty>>> = serde::Deserialize::deserialize(d)?;
            items.unwrap_or_default().into_iter().map(|i| i.ok_or_else(|| <D::Error as serde::de::Error>::custom($msg))).collect()
        }
    };
}

non_null!(scrape_sections, ScrapeConfig, "empty or null scrape config section");
non_null!(remote_write_sections, RemoteWriteConfig, "empty or null remote write config section");
non_null!(remote_read_sections, RemoteReadConfig, "empty or null remote read config section");

/// `runtime`: process tuning. Go's garbage collector setting is accepted
/// for compatibility; it has no meaning here.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(rename = "config.plain", deny_unknown_fields, default)]
pub struct RuntimeConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gogc: Option<i64>,
}

/// A loaded, validated configuration.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(rename = "config.plain", deny_unknown_fields, default)]
pub struct Config {
    pub global: GlobalConfig,
    #[serde(skip_serializing_if = "is_default_runtime")]
    pub runtime: RuntimeConfig,
    #[serde(skip_serializing_if = "AlertingConfig::is_empty")]
    pub alerting: AlertingConfig,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rule_files: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub scrape_config_files: Vec<String>,
    #[serde(deserialize_with = "scrape_sections", skip_serializing_if = "Vec::is_empty")]
    pub scrape_configs: Vec<ScrapeConfig>,
    #[serde(skip_serializing_if = "is_default_storage")]
    pub storage: StorageConfig,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tracing: Option<TracingConfig>,
    #[serde(deserialize_with = "remote_write_sections", skip_serializing_if = "Vec::is_empty")]
    pub remote_write: Vec<RemoteWriteConfig>,
    #[serde(deserialize_with = "remote_read_sections", skip_serializing_if = "Vec::is_empty")]
    pub remote_read: Vec<RemoteReadConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub otlp: Option<otlp::OtlpConfig>,
    /// Jobs read from `scrape_config_files`, validated against `global`.
    #[serde(skip)]
    pub included_scrape_configs: Vec<ScrapeConfig>,
}

fn is_default_runtime(r: &RuntimeConfig) -> bool {
    *r == RuntimeConfig::default()
}

fn is_default_storage(s: &StorageConfig) -> bool {
    *s == StorageConfig::default()
}

/// The paths `rule_files` and `scrape_config_files` may hold: globs only in
/// the last path element (`^[^*]*(\*[^/]*)?$`).
fn valid_file_pattern(p: &str) -> bool {
    match p.find('*') {
        None => true,
        Some(i) => !p[i + 1..].contains(['*', '/']),
    }
}

/// How the loaded config will be used; agent mode forbids some sections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    #[default]
    Server,
    Agent,
}

impl Config {
    /// Decodes and validates config text, without resolving paths or
    /// reading included files (Prometheus's `config.Load`).
    pub fn load(text: &str) -> Result<Config, ConfigError> {
        Self::load_with_env(text, &|k| std::env::var(k).ok())
    }

    /// [`Config::load`] with an explicit environment, for tests.
    pub fn load_with_env(text: &str, getenv: &dyn Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let mut cfg: Config = yaml::from_str(text).map_err(|e| ConfigError::Invalid(e.to_string()))?;
        cfg.validate().map_err(ConfigError::Invalid)?;
        cfg.global.expand_external_labels(getenv);
        Ok(cfg)
    }

    fn validate(&mut self) -> Result<(), String> {
        self.global.apply_defaults()?;
        let scheme = self.global.validation_scheme();
        if let Some(f) = self.rule_files.iter().find(|f| !valid_file_pattern(f)) {
            return Err(format!("invalid rule file path {f:?}"));
        }
        if let Some(f) = self.scrape_config_files.iter().find(|f| !valid_file_pattern(f)) {
            return Err(format!("invalid scrape config file path {f:?}"));
        }
        let mut jobs = std::collections::HashSet::new();
        for sc in &mut self.scrape_configs {
            sc.validate_own()?;
            sc.apply_global(&self.global)?;
            if !jobs.insert(sc.job_name.clone()) {
                return Err(format!("found multiple scrape configs with job name {:?}", sc.job_name));
            }
        }
        self.alerting.validate(scheme)?;
        let mut names = std::collections::HashSet::new();
        for rw in &mut self.remote_write {
            if !rw.name.is_empty() && !names.insert(rw.name.clone()) {
                return Err(format!("found multiple remote write configs with job name {:?}", rw.name));
            }
            rw.validate(scheme)?;
        }
        let mut names = std::collections::HashSet::new();
        for rr in &mut self.remote_read {
            if !rr.name.is_empty() && !names.insert(rr.name.clone()) {
                return Err(format!("found multiple remote read configs with job name {:?}", rr.name));
            }
            rr.validate()?;
        }
        self.storage.validate()?;
        if let Some(t) = &self.tracing {
            t.validate()?;
        }
        self.otlp.get_or_insert_with(otlp::OtlpConfig::default).validate(scheme)?;
        Ok(())
    }

    /// Loads a config file the way the server and `check config` do:
    /// decode and validate, apply the agent-mode rules, resolve relative
    /// paths against the file's folder, then read and validate the jobs of
    /// `scrape_config_files`.
    pub fn load_file(path: &Path, mode: Mode) -> Result<Config, ConfigError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: shown.clone(), source })?;
        let mut cfg = Config::load(&text).map_err(|e| ConfigError::Parse { path: shown.clone(), msg: e.to_string() })?;
        if mode == Mode::Agent {
            if !cfg.alerting.alertmanagers.is_empty() || !cfg.alerting.alert_relabel_configs.is_empty() {
                return Err(ConfigError::File("field alerting is not allowed in agent mode".into()));
            }
            if !cfg.rule_files.is_empty() {
                return Err(ConfigError::File("field rule_files is not allowed in agent mode".into()));
            }
            if !cfg.remote_read.is_empty() {
                return Err(ConfigError::File("field remote_read is not allowed in agent mode".into()));
            }
        }
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        cfg.set_directory(&dir);
        cfg.included_scrape_configs = cfg.read_scrape_config_files()?;
        Ok(cfg)
    }

    fn set_directory(&mut self, dir: &Path) {
        self.global.set_directory(dir);
        self.alerting.set_directory(dir);
        if let Some(t) = &mut self.tracing {
            t.set_directory(dir);
        }
        for f in self.rule_files.iter_mut().chain(&mut self.scrape_config_files) {
            join_dir(dir, f);
        }
        for sc in &mut self.scrape_configs {
            sc.set_directory(dir);
        }
        for rw in &mut self.remote_write {
            rw.set_directory(dir);
        }
        for rr in &mut self.remote_read {
            rr.set_directory(dir);
        }
    }

    fn read_scrape_config_files(&self) -> Result<Vec<ScrapeConfig>, ConfigError> {
        #[derive(Deserialize)]
        #[serde(rename = "config.ScrapeConfigs", deny_unknown_fields, default)]
        #[derive(Default)]
        struct Included {
            #[serde(deserialize_with = "scrape_sections")]
            scrape_configs: Vec<ScrapeConfig>,
        }
        let mut seen: std::collections::HashMap<String, String> =
            self.scrape_configs.iter().map(|sc| (sc.job_name.clone(), "main config file".to_owned())).collect();
        let mut out = Vec::new();
        for pattern in &self.scrape_config_files {
            let paths = glob::glob(pattern).map_err(|e| ConfigError::File(format!("error retrieving scrape config files for {pattern:?}: {e}")))?;
            for path in paths.filter_map(Result::ok) {
                let abs = absolute(&path);
                let file_err = |msg: String| ConfigError::File(format!("{:?}: {msg}", abs.display().to_string()));
                let text = std::fs::read_to_string(&path).map_err(|e| file_err(e.to_string()))?;
                let inc: Included = yaml::from_str(&text).map_err(|e| file_err(e.to_string()))?;
                let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
                for mut sc in inc.scrape_configs {
                    sc.validate_own().map_err(&file_err)?;
                    sc.apply_global(&self.global).map_err(&file_err)?;
                    if let Some(first) = seen.get(&sc.job_name) {
                        return Err(file_err(format!("found multiple scrape configs with job name {:?}, first found in {first}", sc.job_name)));
                    }
                    seen.insert(sc.job_name.clone(), format!("{:?}", abs.display().to_string()));
                    sc.set_directory(&dir);
                    out.push(sc);
                }
            }
        }
        Ok(out)
    }

    /// Every scrape job: the main file's, then the included files'.
    pub fn all_scrape_configs(&self) -> impl Iterator<Item = &ScrapeConfig> {
        self.scrape_configs.iter().chain(&self.included_scrape_configs)
    }

    /// The config as YAML, secrets replaced by `<secret>`, for display.
    pub fn to_yaml(&self) -> String {
        yaml::to_string(self).unwrap_or_else(|e| format!("<error creating config string: {e}>"))
    }

    /// Files the config names that must exist for it to work (credentials,
    /// certificates, rule files matched by their globs): `check config`
    /// reports the missing ones unless asked to check syntax only.
    pub fn referenced_files(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut http = |what: &str, h: &HttpClientConfig| {
            for f in h.files() {
                out.push((what.to_owned(), f.to_owned()));
            }
        };
        for sc in self.all_scrape_configs() {
            http(&format!("scrape config {:?}", sc.job_name), &sc.http_client_config);
        }
        for am in &self.alerting.alertmanagers {
            http("alertmanager config", &am.http_client_config);
        }
        for rw in &self.remote_write {
            http("remote write config", &rw.http_client_config);
        }
        for rr in &self.remote_read {
            http("remote read config", &rr.http_client_config);
        }
        out
    }
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_config_gets_prometheus_defaults() {
        let c = Config::load("").unwrap();
        assert_eq!(c.global.scrape_interval, Duration::from_secs(60));
        assert_eq!(c.global.scrape_timeout, Duration::from_secs(10));
        let c = Config::load("global:\n").unwrap();
        assert_eq!(c.global.evaluation_interval, Duration::from_secs(60));
    }

    #[test]
    fn jobs_inherit_globals() {
        let c =
            Config::load("global: {scrape_interval: 5s, sample_limit: 10}\nscrape_configs:\n- job_name: a\n  static_configs: [{targets: ['x:1']}]\n").unwrap();
        let sc = &c.scrape_configs[0];
        assert_eq!(sc.scrape_interval, Duration::from_secs(5));
        assert_eq!(sc.scrape_timeout, Duration::from_secs(5));
        assert_eq!(sc.sample_limit, 10);
        assert_eq!(sc.metrics_path, "/metrics");
        assert_eq!(sc.scrape_protocols.as_deref(), Some(&ScrapeProtocol::defaults()[..]));
        assert!(sc.honor_timestamps && sc.enable_compression);
    }

    #[test]
    fn unknown_fields_report_line_and_path() {
        let e = Config::load("scrape_configs:\n- job_name: a\n  consult_sd_configs: []\n").unwrap_err().to_string();
        assert!(e.contains("line 3"), "{e}");
        assert!(e.contains("field consult_sd_configs not found in type config.ScrapeConfig"), "{e}");
        assert!(e.contains("scrape_configs[0].consult_sd_configs"), "{e}");
    }

    #[test]
    fn external_labels_expand_environment() {
        let env = |k: &str| (k == "TEST").then(|| "v".to_owned());
        let c = Config::load_with_env("global:\n  external_labels:\n    a: ${TEST}\n    b: x$$y\n", &env).unwrap();
        assert_eq!(c.global.external_labels["a"], "v");
        assert_eq!(c.global.external_labels["b"], "x$y");
    }

    #[test]
    fn file_patterns() {
        assert!(valid_file_pattern("rules/*.yml"));
        assert!(valid_file_pattern("a\\b.rules"));
        assert!(!valid_file_pattern("my/*/rule"));
        assert!(!valid_file_pattern("a/**"));
    }

    #[test]
    fn display_hides_secrets_and_round_trips() {
        let text = "scrape_configs:\n- job_name: a\n  basic_auth: {username: u, password: hunter2}\n";
        let c = Config::load(text).unwrap();
        let shown = c.to_yaml();
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("<secret>"), "{shown}");
        let back = Config::load(&shown).unwrap();
        assert_eq!(back.scrape_configs[0].job_name, "a");
        assert_eq!(back.scrape_configs[0].scrape_interval, c.scrape_configs[0].scrape_interval);
    }
}
