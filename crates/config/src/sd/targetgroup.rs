//! The target group: the element of `static_configs`, and the unit every
//! discovery mechanism produces (`file_sd` and `http_sd` read lists of them).

use std::collections::BTreeMap;
use std::fmt;

use model::names::{ValidationScheme, is_valid_label_value};
use model::quote::go_quote;
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};

/// Targets sharing a set of labels.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct TargetGroup {
    /// Each target's `__address__`.
    pub targets: Vec<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Identifies the group within its discovery mechanism (for static
    /// configs, the group's index in the job).
    #[serde(skip)]
    pub source: String,
}

impl TargetGroup {
    /// Prometheus's check of a static target: a `/` means a URL was pasted
    /// where a `host:port` belongs.
    pub fn check_target_address(target: &str) -> Result<(), String> {
        if target.contains('/') {
            return Err(format!("{} is not a valid hostname", go_quote(target.as_bytes())));
        }
        Ok(())
    }
}

/// Go prints the anonymous struct Prometheus decodes a group into as its type
/// name in unknown-field errors.
#[derive(Default, Deserialize)]
#[serde(rename = r#"struct { Targets []string "yaml:\"targets\""; Labels model.LabelSet "yaml:\"labels\"" }"#, deny_unknown_fields, default)]
struct RawGroup {
    targets: Vec<String>,
    labels: BTreeMap<LabelName, LabelValue>,
}

impl<'de> Deserialize<'de> for TargetGroup {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = RawGroup::deserialize(d)?;
        Ok(TargetGroup { targets: raw.targets, labels: raw.labels.into_iter().map(|(k, v)| (k.0, v.0)).collect(), source: String::new() })
    }
}

/// A label name checked as it is decoded. Names may arrive as raw bytes
/// (a `!!binary` key), which is how invalid UTF-8 reaches a config.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct LabelName(String);

/// A label value checked as it is decoded, like [`LabelName`].
struct LabelValue(String);

enum Checked {
    Name,
    Value,
}

impl Checked {
    fn check<E: de::Error>(&self, bytes: Vec<u8>) -> Result<String, E> {
        let (valid, what) = match self {
            Checked::Name => {
                let ok = std::str::from_utf8(&bytes).is_ok_and(|s| ValidationScheme::Utf8.is_valid_label_name(s));
                (ok, "name")
            }
            Checked::Value => (is_valid_label_value(&bytes), "value"),
        };
        if !valid {
            return Err(E::custom(format!("{} is not a valid label {what}", go_quote(&bytes))));
        }
        String::from_utf8(bytes).map_err(|e| E::custom(format!("{} is not a valid label {what}", go_quote(e.as_bytes()))))
    }
}

impl<'de> Visitor<'de> for Checked {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a label string")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        self.check(v.as_bytes().to_vec())
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<String, E> {
        self.check(v.into_bytes())
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<String, E> {
        self.check(v.to_vec())
    }

    fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<String, E> {
        self.check(v)
    }
}

impl<'de> Deserialize<'de> for LabelName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_string(Checked::Name).map(LabelName)
    }
}

impl<'de> Deserialize<'de> for LabelValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_string(Checked::Value).map(LabelValue)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml;

    #[test]
    fn decodes_targets_and_labels() {
        let tg: TargetGroup = yaml::from_str("targets: ['a:1', 9090]\nlabels:\n  x: y\n").unwrap();
        assert_eq!(tg.targets, vec!["a:1", "9090"]);
        assert_eq!(tg.labels.get("x").map(String::as_str), Some("y"));
        let empty: TargetGroup = yaml::from_str("{}").unwrap();
        assert_eq!(empty, TargetGroup::default());
    }

    #[test]
    fn rejects_bad_labels_and_unknown_keys() {
        let e = yaml::from_str::<TargetGroup>("targets: [a]\nlabels:\n  valid_label: foo\n  !!binary \"/w==\": bar\n").unwrap_err();
        assert!(e.to_string().contains(r#""\xff" is not a valid label name"#), "{e}");
        let e = yaml::from_str::<TargetGroup>("labels:\n  name: !!binary \"/w==\"\n").unwrap_err();
        assert!(e.to_string().contains(r#""\xff" is not a valid label value"#), "{e}");
        let e = yaml::from_str::<TargetGroup>("labels:\n  '': x\n").unwrap_err();
        assert!(e.to_string().contains(r#""" is not a valid label name"#), "{e}");
        let e = yaml::from_str::<TargetGroup>("targets: [a]\ntarget: b\n").unwrap_err();
        assert!(e.to_string().contains("field target not found in type struct { Targets []string"), "{e}");
        let tg: TargetGroup = yaml::from_str("labels:\n  'a.b/ä': v\n").unwrap();
        assert_eq!(tg.labels.len(), 1);
    }

    #[test]
    fn urls_are_not_hostnames() {
        assert_eq!(TargetGroup::check_target_address("http://bad").unwrap_err(), r#""http://bad" is not a valid hostname"#);
        assert!(TargetGroup::check_target_address("localhost:9090").is_ok());
    }
}
