//! The target group: targets sharing a set of labels, as one provider saw
//! them at one moment. A provider sends a group again, under the same
//! `source`, whenever it changes; an empty group under a known source means
//! its targets are gone.

use std::collections::BTreeMap;

use config::ScrapeConfig;
use config::sd::TargetGroup;
use model::Labels;
use model::names::ValidationScheme;
use serde::Deserialize;

/// Each target is a label set of its own (at least `__address__`); the
/// group's labels apply to every target that does not set them itself.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Group {
    pub targets: Vec<Labels>,
    pub labels: Labels,
    /// Unique within the provider that produced the group.
    pub source: String,
}

impl Group {
    /// A `static_configs` entry as a group; `index` is its place in the
    /// job's list, which Prometheus uses as the source.
    pub fn from_static(tg: &TargetGroup, index: usize) -> Group {
        Group {
            targets: tg.targets.iter().map(|t| Labels::from_pairs([("__address__", t.as_str())])).collect(),
            labels: Labels::from_pairs(tg.labels.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
            source: index.to_string(),
        }
    }

    /// A group read by a provider (a file or an HTTP answer), with the
    /// provider's `__meta_*` label added to the group's labels.
    pub fn from_discovered(tg: TargetGroup, source: String, meta: (&str, &str)) -> Group {
        let mut labels = tg.labels;
        labels.insert(meta.0.to_owned(), meta.1.to_owned());
        Group {
            targets: tg.targets.iter().map(|t| Labels::from_pairs([("__address__", t.as_str())])).collect(),
            labels: Labels::from_pairs(labels.iter()),
            source,
        }
    }

    /// The update that tells the manager a source has no targets any more.
    pub fn empty(source: String) -> Group {
        Group { source, ..Group::default() }
    }
}

/// Go's `net.JoinHostPort`: a host with a colon (an IPv6 address) is
/// bracketed, so that the port stays unambiguous.
pub(crate) fn join_host_port(host: &str, port: impl std::fmt::Display) -> String {
    if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") }
}

/// Prometheus's `strutil.SanitizeLabelName`, for keys that providers turn
/// into `__meta_*` label names: every character outside `[a-zA-Z0-9_]`
/// becomes one `_` (a multi-byte character too, as Go's regexp works on
/// runes).
pub(crate) fn sanitize_label_name(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect()
}

/// Why a list of target groups (a file's or an HTTP answer's) was refused.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("{0}")]
    Json(#[from] serde_json::Error),
    #[error("{0}")]
    Yaml(#[from] config::yaml::Error),
    /// A `null` element of the list, which Prometheus refuses as a whole.
    #[error("nil target group item found")]
    NilGroup,
    #[error("{} is not a valid label name", model::quote::go_quote(.0.as_bytes()))]
    LabelName(String),
}

/// A group as JSON carries it. Unlike YAML (decoded strictly, as in
/// Prometheus), unknown keys are ignored, as Go's JSON decoder does.
#[derive(Deserialize)]
struct JsonGroup {
    #[serde(default)]
    targets: Option<Vec<String>>,
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
}

/// Decodes the JSON list of target groups that file and HTTP discovery
/// read (sources are left for the caller to set).
pub fn decode_json(bytes: &[u8]) -> Result<Vec<TargetGroup>, DecodeError> {
    let raw: Vec<Option<JsonGroup>> = serde_json::from_slice(bytes)?;
    raw.into_iter()
        .map(|g| {
            let g = g.ok_or(DecodeError::NilGroup)?;
            let labels = g.labels.unwrap_or_default();
            if let Some(bad) = labels.keys().find(|k| !ValidationScheme::Utf8.is_valid_label_name(k)) {
                return Err(DecodeError::LabelName(bad.clone()));
            }
            Ok(TargetGroup { targets: g.targets.unwrap_or_default(), labels, source: String::new() })
        })
        .collect()
}

/// Decodes a YAML list of target groups, strictly (unknown keys are errors).
/// An empty document is an empty list, as for Go's YAML decoder.
pub fn decode_yaml(text: &str) -> Result<Vec<TargetGroup>, DecodeError> {
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    let raw: Option<Vec<Option<TargetGroup>>> = config::yaml::from_str(text)?;
    raw.unwrap_or_default().into_iter().map(|g| g.ok_or(DecodeError::NilGroup)).collect()
}

/// The groups of a job's `static_configs`. Every other provider is run by
/// the discovery manager.
pub fn static_groups(cfg: &ScrapeConfig) -> Vec<Group> {
    cfg.service_discovery.static_configs.iter().flatten().enumerate().map(|(i, tg)| Group::from_static(tg, i)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_configs_become_groups_with_index_sources() {
        let text = "scrape_configs:\n- job_name: j\n  static_configs:\n  - targets: [a:1, b:2]\n    labels: {env: prod}\n  - targets: [c:3]\n";
        let cfg = config::Config::load(text).unwrap();
        let groups = static_groups(&cfg.scrape_configs[0]);
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].targets[1].to_string(), r#"{__address__="b:2"}"#);
        assert_eq!(groups[0].labels.to_string(), r#"{env="prod"}"#);
        assert_eq!((groups[0].source.as_str(), groups[1].source.as_str()), ("0", "1"));
    }

    #[test]
    fn json_lists_ignore_unknown_keys_and_refuse_nulls_and_bad_names() {
        let tgs = decode_json(br#"[{"targets": ["a:1"], "labels": {"x": "y"}, "extra": 1}, {"targets": null}]"#).unwrap();
        assert_eq!(tgs.len(), 2);
        assert_eq!(tgs[0].labels.get("x").map(String::as_str), Some("y"));
        assert!(tgs[1].targets.is_empty());
        assert_eq!(decode_json(b"[null]").unwrap_err().to_string(), "nil target group item found");
        assert_eq!(decode_json(br#"[{"labels": {"": "v"}}]"#).unwrap_err().to_string(), r#""" is not a valid label name"#);
        assert!(decode_json(b"{").is_err());
        assert!(decode_json(br#"[{"targets": [1]}]"#).is_err());
    }

    #[test]
    fn yaml_lists_are_strict() {
        let tgs = decode_yaml("- targets: ['a:1']\n  labels: {x: y}\n").unwrap();
        assert_eq!(tgs[0].targets, vec!["a:1"]);
        assert!(decode_yaml("").unwrap().is_empty());
        assert!(decode_yaml("- targets: [a]\n  target: b\n").is_err());
        assert_eq!(decode_yaml("- ~\n").unwrap_err().to_string(), "nil target group item found");
    }

    #[test]
    fn host_ports_and_sanitized_names_as_go_makes_them() {
        assert_eq!(join_host_port("a.example", 80), "a.example:80");
        assert_eq!(join_host_port("::1", "9100"), "[::1]:9100");
        assert_eq!(sanitize_label_name("rack-id.v2"), "rack_id_v2");
        assert_eq!(sanitize_label_name("zoné"), "zon_");
        assert_eq!(sanitize_label_name("9ok_"), "9ok_");
    }

    #[test]
    fn discovered_groups_carry_the_meta_label() {
        let tg = TargetGroup { targets: vec!["a:1".into()], labels: [("x".to_owned(), "y".to_owned())].into(), source: String::new() };
        let g = Group::from_discovered(tg, "f.json:0".into(), ("__meta_filepath", "f.json"));
        assert_eq!(g.labels.to_string(), r#"{__meta_filepath="f.json", x="y"}"#);
        assert_eq!(g.source, "f.json:0");
    }
}
