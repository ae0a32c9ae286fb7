//! Relabeling: the `relabel_configs` schema (shared by target, metric, alert,
//! Alertmanager and remote-write relabeling), its validation rules, and its
//! application to label sets.
//!
//! This crate owns what each action means. It does not know where the label
//! sets come from (scrape, discovery, rules) and must not depend on `config`;
//! `config` embeds [`RelabelConfig`] and calls [`RelabelConfig::validate`].

use std::fmt;

use model::{LabelsBuilder, ValidationScheme};
use regex::Regex;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A relabeling action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Action {
    #[default]
    Replace,
    Keep,
    Drop,
    KeepEqual,
    DropEqual,
    HashMod,
    LabelMap,
    LabelDrop,
    LabelKeep,
    Lowercase,
    Uppercase,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Replace => "replace",
            Action::Keep => "keep",
            Action::Drop => "drop",
            Action::KeepEqual => "keepequal",
            Action::DropEqual => "dropequal",
            Action::HashMod => "hashmod",
            Action::LabelMap => "labelmap",
            Action::LabelDrop => "labeldrop",
            Action::LabelKeep => "labelkeep",
            Action::Lowercase => "lowercase",
            Action::Uppercase => "uppercase",
        }
    }

    fn parse(s: &str) -> Option<Action> {
        Some(match s.to_ascii_lowercase().as_str() {
            "replace" => Action::Replace,
            "keep" => Action::Keep,
            "drop" => Action::Drop,
            "keepequal" => Action::KeepEqual,
            "dropequal" => Action::DropEqual,
            "hashmod" => Action::HashMod,
            "labelmap" => Action::LabelMap,
            "labeldrop" => Action::LabelDrop,
            "labelkeep" => Action::LabelKeep,
            "lowercase" => Action::Lowercase,
            "uppercase" => Action::Uppercase,
            _ => return None,
        })
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A relabeling regex: fully anchored, `.` matching newlines, Go's syntax.
/// Shown as written.
#[derive(Clone)]
pub struct RelabelRegex {
    source: String,
    re: Regex,
}

impl RelabelRegex {
    pub fn new(source: &str) -> Result<Self, model::regex::RegexError> {
        Ok(RelabelRegex { source: source.to_owned(), re: model::regex::compile_anchored(source)? })
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }

    pub fn regex(&self) -> &Regex {
        &self.re
    }
}

impl Default for RelabelRegex {
    fn default() -> Self {
        // The default pattern always compiles; build it without a fallible path.
        RelabelRegex { source: DEFAULT_REGEX.to_owned(), re: default_regex() }
    }
}

const DEFAULT_REGEX: &str = "(.*)";

fn default_regex() -> Regex {
    static RE: std::sync::OnceLock<Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| match model::regex::compile_anchored(DEFAULT_REGEX) {
        Ok(r) => r,
        Err(e) => unreachable!("the default relabel regex is valid: {e}"),
    })
    .clone()
}

impl PartialEq for RelabelRegex {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl fmt::Debug for RelabelRegex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.source)
    }
}

impl Serialize for RelabelRegex {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.source)
    }
}

impl<'de> Deserialize<'de> for RelabelRegex {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // A null `regex:` is the empty pattern, as in Prometheus.
        let s = Option::<String>::deserialize(d)?.unwrap_or_default();
        RelabelRegex::new(&s).map_err(serde::de::Error::custom)
    }
}

fn deserialize_action<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Action>, D::Error> {
    // `action: null` and `action: ""` are kept as "no action" so that
    // validation can say "relabel action cannot be empty".
    let s = Option::<String>::deserialize(d)?.unwrap_or_default();
    if s.is_empty() {
        return Ok(None);
    }
    Action::parse(&s).map(Some).ok_or_else(|| serde::de::Error::custom(format!("unknown relabel action {s:?}")))
}

fn serialize_action<S: Serializer>(a: &Option<Action>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(a.map_or("", Action::as_str))
}

fn default_action() -> Option<Action> {
    Some(Action::Replace)
}

const DEFAULT_SEPARATOR: &str = ";";
const DEFAULT_REPLACEMENT: &str = "$1";

/// One relabeling step.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename = "relabel.plain", deny_unknown_fields, default)]
pub struct RelabelConfig {
    /// `None` until set, so that "unset" and the default differ for the
    /// `labelkeep`/`labeldrop` "no other fields" rule.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_labels: Option<Vec<String>>,
    pub separator: String,
    pub regex: RelabelRegex,
    #[serde(skip_serializing_if = "is_zero")]
    pub modulus: u64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub target_label: String,
    pub replacement: String,
    #[serde(deserialize_with = "deserialize_action", serialize_with = "serialize_action")]
    pub action: Option<Action>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Default for RelabelConfig {
    fn default() -> Self {
        RelabelConfig {
            source_labels: None,
            separator: DEFAULT_SEPARATOR.to_owned(),
            regex: RelabelRegex::default(),
            modulus: 0,
            target_label: String::new(),
            replacement: DEFAULT_REPLACEMENT.to_owned(),
            action: default_action(),
        }
    }
}

/// Prometheus's shape of a legacy label name with `$1`/`${1}` references.
fn legacy_template() -> &'static Regex {
    static RE: std::sync::OnceLock<Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| match Regex::new(r"^(?:(?:[a-zA-Z_]|\$(?:\{[a-zA-Z0-9_]+\}|[a-zA-Z0-9_]+))+[a-zA-Z0-9_]*)+$") {
        Ok(r) => r,
        Err(e) => unreachable!("the template pattern is valid: {e}"),
    })
}

/// Whether `s` contains a `$1`/`${name}` reference, which makes a target
/// label a template rather than a name.
fn has_template_var(s: &str) -> bool {
    let b = s.as_bytes();
    b.iter().enumerate().any(|(i, c)| *c == b'$' && b.get(i + 1).is_some_and(|n| n.is_ascii_alphanumeric() || *n == b'_' || *n == b'{'))
}

impl RelabelConfig {
    /// Prometheus's rules for which fields each action needs and allows.
    pub fn validate(&self, scheme: ValidationScheme) -> Result<(), String> {
        let Some(action) = self.action else {
            return Err("relabel action cannot be empty".into());
        };
        use Action::*;
        if action == HashMod && self.modulus == 0 {
            return Err("relabel configuration for hashmod requires non-zero modulus".into());
        }
        if matches!(action, Replace | HashMod | Lowercase | Uppercase | KeepEqual | DropEqual) && self.target_label.is_empty() {
            return Err(format!("relabel configuration for {action} action requires 'target_label' value"));
        }
        let valid_name = |n: &str| scheme.is_valid_label_name(n);
        // A template target label is checked for its shape only: in the
        // legacy scheme, `${1}` is no label name, but what it expands to may be.
        let valid_template = |n: &str| if scheme == ValidationScheme::Legacy { legacy_template().is_match(n) } else { valid_name(n) };
        if action == Replace {
            let ok = if has_template_var(&self.target_label) { valid_template(&self.target_label) } else { valid_name(&self.target_label) };
            if !ok {
                return Err(format!("{:?} is invalid 'target_label' for {action} action", self.target_label));
            }
        }
        if matches!(action, Lowercase | Uppercase | KeepEqual | DropEqual | HashMod) && !valid_name(&self.target_label) {
            return Err(format!("{:?} is invalid 'target_label' for {action} action", self.target_label));
        }
        if matches!(action, Lowercase | Uppercase | KeepEqual | DropEqual) && self.replacement != DEFAULT_REPLACEMENT {
            return Err(format!("'replacement' can not be set for {action} action"));
        }
        if action == LabelMap && !valid_template(&self.replacement) {
            return Err(format!("{:?} is invalid 'replacement' for {action} action", self.replacement));
        }
        if matches!(action, KeepEqual | DropEqual)
            && (self.regex.as_str() != DEFAULT_REGEX || self.modulus != 0 || self.separator != DEFAULT_SEPARATOR || self.replacement != DEFAULT_REPLACEMENT)
        {
            return Err(format!("{action} action requires only 'source_labels' and `target_label`, and no other fields"));
        }
        if matches!(action, LabelDrop | LabelKeep)
            && (self.source_labels.is_some()
                || !self.target_label.is_empty()
                || self.modulus != 0
                || self.separator != DEFAULT_SEPARATOR
                || self.replacement != DEFAULT_REPLACEMENT)
        {
            return Err(format!("{action} action requires only 'regex', and no other fields"));
        }
        for l in self.source_labels.iter().flatten() {
            if !valid_name(l) {
                return Err(format!("{l:?} is not a valid label name"));
            }
        }
        Ok(())
    }

    fn action(&self) -> Action {
        self.action.unwrap_or_default()
    }
}

/// Applies `configs` in order to the labels in `lb`. Returns false when a
/// step drops the label set (then `lb` is left in an unspecified state).
pub fn process(lb: &mut LabelsBuilder, configs: &[RelabelConfig]) -> bool {
    configs.iter().all(|c| apply(lb, c))
}

fn source_value(lb: &LabelsBuilder, c: &RelabelConfig) -> String {
    let mut v = String::new();
    for (i, name) in c.source_labels.iter().flatten().enumerate() {
        if i > 0 {
            v.push_str(&c.separator);
        }
        v.push_str(lb.get(name));
    }
    v
}

fn apply(lb: &mut LabelsBuilder, c: &RelabelConfig) -> bool {
    let re = c.regex.regex();
    match c.action() {
        Action::Drop => !re.is_match(&source_value(lb, c)),
        Action::Keep => re.is_match(&source_value(lb, c)),
        Action::DropEqual => source_value(lb, c) != lb.get(&c.target_label),
        Action::KeepEqual => source_value(lb, c) == lb.get(&c.target_label),
        Action::Replace => {
            let value = source_value(lb, c);
            let Some(caps) = re.captures(&value) else { return true };
            let target = model::regex::expand(&c.target_label, &caps, re);
            if !model::names::ValidationScheme::Utf8.is_valid_label_name(&target) {
                return true;
            }
            let res = model::regex::expand(&c.replacement, &caps, re);
            if res.is_empty() {
                lb.del(&target);
            } else {
                lb.set(&target, &res);
            }
            true
        }
        Action::Lowercase => {
            let v = map_chars(&source_value(lb, c), true);
            lb.set(&c.target_label, &v);
            true
        }
        Action::Uppercase => {
            let v = map_chars(&source_value(lb, c), false);
            lb.set(&c.target_label, &v);
            true
        }
        Action::HashMod => {
            let v = source_value(lb, c);
            let digest = md5_prefix_u64(v.as_bytes());
            lb.set(&c.target_label, &(digest % c.modulus.max(1)).to_string());
            true
        }
        Action::LabelMap => {
            let renames: Vec<(String, String)> =
                lb.iter().filter_map(|l| re.captures(l.name).map(|caps| (model::regex::expand(&c.replacement, &caps, re), l.value.to_owned()))).collect();
            for (n, v) in renames {
                lb.set(&n, &v);
            }
            true
        }
        Action::LabelDrop => {
            lb.retain(|n, _| !re.is_match(n));
            true
        }
        Action::LabelKeep => {
            lb.retain(|n, _| re.is_match(n));
            true
        }
    }
}

/// Go's `strings.ToLower`/`ToUpper` map one character to one character; the
/// full Unicode mappings Rust's `str` methods use would change some values
/// (`ß` to `SS`), and so the series identity.
fn map_chars(s: &str, lower: bool) -> String {
    s.chars()
        .map(|c| {
            if lower {
                c.to_lowercase().next().unwrap_or(c)
            } else {
                let mut up = c.to_uppercase();
                match (up.next(), up.next()) {
                    (Some(u), None) => u,
                    _ => c,
                }
            }
        })
        .collect()
}

/// The hashmod hash: the last 8 bytes of the MD5 digest, big-endian, as
/// Prometheus computes it (so that sharding agrees across servers).
fn md5_prefix_u64(data: &[u8]) -> u64 {
    let d = md5::compute(data);
    let mut b = [0u8; 8];
    b.copy_from_slice(&d.0[8..16]);
    u64::from_be_bytes(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::Labels;

    fn cfg(f: impl FnOnce(&mut RelabelConfig)) -> RelabelConfig {
        let mut c = RelabelConfig::default();
        f(&mut c);
        c
    }

    fn run(labels: &[(&str, &str)], configs: &[RelabelConfig]) -> Option<Labels> {
        let mut lb = Labels::from_pairs(labels.iter().copied()).builder();
        process(&mut lb, configs).then(|| lb.build())
    }

    #[test]
    fn replace_with_groups() {
        let c = cfg(|c| {
            c.source_labels = Some(vec!["a".into(), "b".into()]);
            c.regex = RelabelRegex::new("(.*);(.*)").unwrap();
            c.target_label = "c".into();
            c.replacement = "${2}-$1".into();
        });
        assert_eq!(run(&[("a", "x"), ("b", "y")], &[c]).unwrap().get("c"), "y-x");
    }

    #[test]
    fn replace_with_empty_result_deletes() {
        let c = cfg(|c| {
            c.source_labels = Some(vec!["missing".into()]);
            c.target_label = "a".into();
        });
        assert_eq!(run(&[("a", "x")], &[c]).unwrap().get("a"), "");
    }

    #[test]
    fn keep_drop_and_equal() {
        let keep = cfg(|c| {
            c.action = Some(Action::Keep);
            c.source_labels = Some(vec!["job".into()]);
            c.regex = RelabelRegex::new("api").unwrap();
        });
        assert!(run(&[("job", "api")], std::slice::from_ref(&keep)).is_some());
        assert!(run(&[("job", "apix")], &[keep]).is_none(), "anchored");
        let keepeq = cfg(|c| {
            c.action = Some(Action::KeepEqual);
            c.source_labels = Some(vec!["a".into()]);
            c.target_label = "b".into();
        });
        assert!(run(&[("a", "1"), ("b", "1")], std::slice::from_ref(&keepeq)).is_some());
        assert!(run(&[("a", "1"), ("b", "2")], &[keepeq]).is_none());
    }

    #[test]
    fn labelmap_labeldrop_case() {
        let map = cfg(|c| {
            c.action = Some(Action::LabelMap);
            c.regex = RelabelRegex::new("__meta_(.+)").unwrap();
        });
        let drop = cfg(|c| {
            c.action = Some(Action::LabelDrop);
            c.regex = RelabelRegex::new("__meta_.*").unwrap();
        });
        let upper = cfg(|c| {
            c.action = Some(Action::Uppercase);
            c.source_labels = Some(vec!["zone".into()]);
            c.target_label = "zone".into();
        });
        let out = run(&[("__meta_zone", "eu"), ("x", "1")], &[map, drop, upper]).unwrap();
        assert_eq!(out.to_string(), r#"{x="1", zone="EU"}"#);
    }

    #[test]
    fn templates_expand_like_go() {
        let re = RelabelRegex::new("(?P<first>a)(b)").unwrap();
        let caps = re.regex().captures("ab").unwrap();
        let e = |t: &str| model::regex::expand(t, &caps, re.regex());
        assert_eq!(e("$1-${2}-$first"), "a-b-a");
        assert_eq!(e("$01"), "", "no leading zeros: a name that does not exist");
        assert_eq!(e("${+1}"), "${+1}");
        assert_eq!(e("$$1"), "$1");
        assert_eq!(e("$1x"), "", "the longest name wins");
        assert_eq!(e("x$"), "x$");
        assert_eq!(map_chars("straße", false), "STRAßE");
        assert_eq!(map_chars("ΣΑΣ", true), "σασ");
        assert!(legacy_template().is_match("${1}"));
        assert!(legacy_template().is_match("foo_$1"));
        assert!(!legacy_template().is_match("9${1}"));
        assert!(!legacy_template().is_match("${}"));
    }

    #[test]
    fn hashmod_is_stable() {
        let c = cfg(|c| {
            c.action = Some(Action::HashMod);
            c.source_labels = Some(vec!["a".into()]);
            c.target_label = "h".into();
            c.modulus = 1000;
        });
        let h = run(&[("a", "foo")], &[c]).unwrap().get("h").parse::<u64>().unwrap();
        assert!(h < 1000);
    }

    #[test]
    fn validation_messages() {
        let s = ValidationScheme::Utf8;
        assert_eq!(cfg(|c| c.action = None).validate(s).unwrap_err(), "relabel action cannot be empty");
        assert_eq!(cfg(|c| c.action = Some(Action::HashMod)).validate(s).unwrap_err(), "relabel configuration for hashmod requires non-zero modulus");
        assert_eq!(cfg(|_| {}).validate(s).unwrap_err(), "relabel configuration for replace action requires 'target_label' value");
        let lk = cfg(|c| {
            c.action = Some(Action::LabelKeep);
            c.separator = ",".into();
        });
        assert_eq!(lk.validate(s).unwrap_err(), "labelkeep action requires only 'regex', and no other fields");
        let lc = cfg(|c| {
            c.action = Some(Action::Lowercase);
            c.target_label = "x".into();
            c.replacement = "bar".into();
        });
        assert_eq!(lc.validate(s).unwrap_err(), "'replacement' can not be set for lowercase action");
        let ok = cfg(|c| c.target_label = "${1}".into());
        ok.validate(ValidationScheme::Legacy).unwrap();
    }
}
