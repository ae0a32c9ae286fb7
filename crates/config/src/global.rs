//! The `global` section: defaults every job and rule group inherits.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use model::ValidationScheme;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::duration::Duration;
use crate::join_dir;
use crate::scrape::{ScrapeProtocol, validate_protocols};
use crate::units::ByteSize;

/// How metric names that are not legacy-valid are asked to be escaped when
/// scraping (`metric_name_escaping_scheme`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
pub enum EscapingScheme {
    #[serde(rename = "allow-utf-8")]
    AllowUtf8,
    #[serde(rename = "underscores")]
    Underscores,
    #[serde(rename = "dots")]
    Dots,
    #[serde(rename = "values")]
    Values,
}

impl fmt::Display for EscapingScheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EscapingScheme::AllowUtf8 => "allow-utf-8",
            EscapingScheme::Underscores => "underscores",
            EscapingScheme::Dots => "dots",
            EscapingScheme::Values => "values",
        })
    }
}

pub(crate) fn deserialize_scheme<'de, D: Deserializer<'de>>(d: D) -> Result<Option<ValidationScheme>, D::Error> {
    let s = Option::<String>::deserialize(d)?.unwrap_or_default();
    if s.is_empty() {
        return Ok(None);
    }
    s.parse().map(Some).map_err(serde::de::Error::custom)
}

/// An empty escaping scheme means "derive it from the validation scheme".
pub(crate) fn deserialize_escaping<'de, D: Deserializer<'de>>(d: D) -> Result<Option<EscapingScheme>, D::Error> {
    let s = Option::<String>::deserialize(d)?.unwrap_or_default();
    match s.as_str() {
        "" => Ok(None),
        "allow-utf-8" => Ok(Some(EscapingScheme::AllowUtf8)),
        "underscores" => Ok(Some(EscapingScheme::Underscores)),
        "dots" => Ok(Some(EscapingScheme::Dots)),
        "values" => Ok(Some(EscapingScheme::Values)),
        other => Err(serde::de::Error::custom(format!(
            "unknown name escaping method specified, must be one of 'allow-utf-8', 'underscores', 'dots', or 'values', got {other:?}"
        ))),
    }
}

pub(crate) fn serialize_scheme<S: Serializer>(v: &Option<ValidationScheme>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(v.map_or("", |v| v.as_str()))
}

/// Label names and values as written; non-UTF-8 input (from a `!!binary`
/// tag) is refused with Go's quoting so the message matches Prometheus's.
pub(crate) mod label_map {
    use std::collections::BTreeMap;
    use std::fmt;

    use serde::Deserializer;
    use serde::de::{self, MapAccess, Visitor};

    pub(crate) struct Text(pub String);

    fn utf8<E: de::Error>(bytes: Vec<u8>, what: &str) -> Result<String, E> {
        String::from_utf8(bytes).map_err(|e| E::custom(format!("{} is not a valid label {what}", model::quote::go_quote(e.as_bytes()))))
    }

    struct TextVisitor(&'static str);

    impl<'de> Visitor<'de> for TextVisitor {
        type Value = Text;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "a label {}", self.0)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Text, E> {
            Ok(Text(v.to_owned()))
        }
        fn visit_string<E: de::Error>(self, v: String) -> Result<Text, E> {
            Ok(Text(v))
        }
        fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Text, E> {
            utf8(v.to_vec(), self.0).map(Text)
        }
        fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Text, E> {
            utf8(v, self.0).map(Text)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Text, E> {
            Ok(Text(String::new()))
        }
    }

    struct Name;
    struct Value;

    impl<'de> de::DeserializeSeed<'de> for Name {
        type Value = Text;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Text, D::Error> {
            d.deserialize_string(TextVisitor("name"))
        }
    }

    impl<'de> de::DeserializeSeed<'de> for Value {
        type Value = Text;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Text, D::Error> {
            d.deserialize_string(TextVisitor("value"))
        }
    }

    struct MapVisitor;

    impl<'de> Visitor<'de> for MapVisitor {
        type Value = BTreeMap<String, String>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a map of labels")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = BTreeMap::new();
            while let Some(k) = map.next_key_seed(Name)? {
                let v = map.next_value_seed(Value)?;
                out.insert(k.0, v.0);
            }
            Ok(out)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(BTreeMap::new())
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
        d.deserialize_map(MapVisitor)
    }
}

/// Checks label names against `scheme`, as Prometheus does for external
/// labels and target group labels.
pub fn validate_label_names<'a>(labels: impl IntoIterator<Item = (&'a String, &'a String)>, scheme: ValidationScheme) -> Result<(), String> {
    for (name, _) in labels {
        if !scheme.is_valid_label_name(name) {
            return Err(format!("{} is not a valid label name", model::quote::go_quote(name.as_bytes())));
        }
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(rename = "config.plain", deny_unknown_fields, default)]
pub struct GlobalConfig {
    pub scrape_interval: Duration,
    pub scrape_timeout: Duration,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scrape_protocols: Option<Vec<ScrapeProtocol>>,
    pub evaluation_interval: Duration,
    #[serde(skip_serializing_if = "Duration::is_zero")]
    pub rule_query_offset: Duration,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub query_log_file: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub scrape_failure_log_file: String,
    #[serde(deserialize_with = "label_map::deserialize", skip_serializing_if = "BTreeMap::is_empty")]
    pub external_labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "is_zero_size")]
    pub body_size_limit: ByteSize,
    #[serde(skip_serializing_if = "is_zero")]
    pub sample_limit: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub target_limit: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub label_limit: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub label_name_length_limit: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub label_value_length_limit: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub keep_dropped_targets: u64,
    #[serde(deserialize_with = "deserialize_scheme", serialize_with = "serialize_scheme")]
    pub metric_name_validation_scheme: Option<ValidationScheme>,
    #[serde(deserialize_with = "deserialize_escaping", skip_serializing_if = "Option::is_none")]
    pub metric_name_escaping_scheme: Option<EscapingScheme>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scrape_native_histograms: Option<bool>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub convert_classic_histograms_to_nhcb: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub always_scrape_classic_histograms: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub extra_scrape_metrics: bool,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn is_zero_size(n: &ByteSize) -> bool {
    n.0 == 0
}

pub const DEFAULT_SCRAPE_INTERVAL: Duration = Duration::from_secs(60);
pub const DEFAULT_SCRAPE_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_EVALUATION_INTERVAL: Duration = Duration::from_secs(60);

impl GlobalConfig {
    /// Prometheus's defaults for a config without a `global` section.
    pub fn defaults() -> Self {
        let mut g = GlobalConfig::default();
        // Filling an empty section cannot fail.
        let _ = g.apply_defaults();
        g
    }

    /// The effective name validation scheme.
    pub fn validation_scheme(&self) -> ValidationScheme {
        self.metric_name_validation_scheme.unwrap_or_default()
    }

    /// Fills the defaults Prometheus derives from other fields and checks
    /// the section.
    pub(crate) fn apply_defaults(&mut self) -> Result<(), String> {
        let scheme = self.validation_scheme();
        validate_label_names(&self.external_labels, scheme)?;
        if self.scrape_interval.is_zero() {
            self.scrape_interval = DEFAULT_SCRAPE_INTERVAL;
        }
        if self.scrape_timeout > self.scrape_interval {
            return Err("global scrape timeout greater than scrape interval".into());
        }
        if self.scrape_timeout.is_zero() {
            self.scrape_timeout = DEFAULT_SCRAPE_TIMEOUT.min(self.scrape_interval);
        }
        if self.evaluation_interval.is_zero() {
            self.evaluation_interval = DEFAULT_EVALUATION_INTERVAL;
        }
        if self.scrape_native_histograms.is_none() {
            self.scrape_native_histograms = Some(false);
        }
        if let Some(p) = &self.scrape_protocols {
            validate_protocols(p).map_err(|e| format!("{e} for global config"))?;
        }
        Ok(())
    }

    /// Expands `$VAR` and `${VAR}` in external label values from the
    /// environment (`$$` is a literal `$`), as Prometheus does at load time.
    pub(crate) fn expand_external_labels(&mut self, getenv: &dyn Fn(&str) -> Option<String>) {
        for v in self.external_labels.values_mut() {
            *v = expand_env(v, getenv);
        }
    }

    pub(crate) fn set_directory(&mut self, dir: &Path) {
        join_dir(dir, &mut self.query_log_file);
        join_dir(dir, &mut self.scrape_failure_log_file);
    }
}

/// Shell-style expansion with Go's `os.Expand` rules.
pub(crate) fn expand_env(s: &str, getenv: &dyn Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let (name, consumed) = if let Some(inner) = after.strip_prefix('{') {
            match inner.find('}') {
                Some(end) => (&inner[..end], end + 2),
                // Bad syntax: Go drops the `${` and carries on.
                None => ("", 1),
            }
        } else if after.starts_with(|c: char| "*#$@!?-".contains(c) || c.is_ascii_digit()) {
            (&after[..1], 1)
        } else {
            let n = after.bytes().take_while(|b| b.is_ascii_alphanumeric() || *b == b'_').count();
            (&after[..n], n)
        };
        if name == "$" {
            out.push('$');
        } else if !name.is_empty() {
            out.push_str(&getenv(name).unwrap_or_default());
        } else if consumed == 0 {
            // A `$` that starts no name stays, as in Go's os.Expand.
            out.push('$');
        }
        rest = &after[consumed..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_expansion_follows_go() {
        let env = |k: &str| (k == "TEST").then(|| "x".to_owned());
        assert_eq!(expand_env("${TEST}", &env), "x");
        assert_eq!(expand_env("foo${TEST}bar", &env), "fooxbar");
        assert_eq!(expand_env("foo$${TEST}", &env), "foo${TEST}");
        assert_eq!(expand_env("foo$$bar", &env), "foo$bar");
        assert_eq!(expand_env("$TEST-$NOPE.", &env), "x-.");
        assert_eq!(expand_env("5$", &env), "5$");
        assert_eq!(expand_env("a$.b", &env), "a$.b");
    }

    #[test]
    fn defaults() {
        let g = GlobalConfig::defaults();
        assert_eq!(g.scrape_interval, Duration::from_secs(60));
        assert_eq!(g.scrape_timeout, Duration::from_secs(10));
        assert_eq!(g.evaluation_interval, Duration::from_secs(60));
        let mut short = GlobalConfig { scrape_interval: Duration::from_secs(5), ..Default::default() };
        short.apply_defaults().unwrap();
        assert_eq!(short.scrape_timeout, Duration::from_secs(5));
    }
}
