//! The rule-file format: `groups` of recording and alerting rules, decoded
//! strictly (an unknown field is an error, as with Prometheus's
//! `KnownFields`) and validated with Prometheus's checks and messages.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use config::Duration;
use model::ValidationScheme;
use serde::Deserialize;

/// A rule file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename = "rulefmt.RuleGroups", deny_unknown_fields)]
pub struct RuleGroups {
    #[serde(default)]
    pub groups: Vec<RuleGroup>,
}

/// A group of rules evaluated together, in order, at one interval.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename = "rulefmt.RuleGroup", deny_unknown_fields, default)]
pub struct RuleGroup {
    pub name: String,
    /// The global evaluation interval when absent.
    pub interval: Option<Duration>,
    /// How far back from the evaluation time queries look (3.x).
    pub query_offset: Option<Duration>,
    /// The most series a rule may produce (alerts, for alerting rules); 0
    /// is no limit.
    pub limit: i64,
    /// Added to every rule's labels (3.x).
    pub labels: BTreeMap<String, String>,
    pub rules: Vec<Rule>,
}

/// A recording rule (`record`) or an alerting rule (`alert`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename = "rulefmt.RuleNode", deny_unknown_fields, default)]
pub struct Rule {
    pub record: String,
    pub alert: String,
    pub expr: String,
    #[serde(rename = "for")]
    pub for_: Duration,
    pub keep_firing_for: Duration,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
}

impl Rule {
    /// The rule's name: the alert's, or the recorded metric's.
    pub fn name(&self) -> &str {
        if self.alert.is_empty() { &self.record } else { &self.alert }
    }
}

/// Why a rule file was refused: each problem, worded as Prometheus words
/// it, the first one being what Prometheus reports first.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .0.join("\n"))]
pub struct Errors(pub Vec<String>);

/// Reads and validates a rule file.
pub fn parse_file(path: &Path, scheme: ValidationScheme) -> Result<RuleGroups, Errors> {
    let text = std::fs::read_to_string(path).map_err(|e| Errors(vec![format!("{}: {e}", path.display())]))?;
    parse(&text, scheme)
}

/// Decodes and validates the text of a rule file.
pub fn parse(text: &str, scheme: ValidationScheme) -> Result<RuleGroups, Errors> {
    // An empty file (or only comments) is a file without groups.
    if text.lines().all(|l| l.trim().is_empty() || l.trim_start().starts_with('#')) {
        return Ok(RuleGroups::default());
    }
    let groups: RuleGroups = config::yaml::from_str(text).map_err(|e| Errors(vec![e.to_string()]))?;
    let errs = groups.validate(scheme);
    if errs.is_empty() { Ok(groups) } else { Err(Errors(errs)) }
}

impl RuleGroups {
    /// Every problem of every group and rule.
    pub fn validate(&self, scheme: ValidationScheme) -> Vec<String> {
        let mut errs = Vec::new();
        let mut seen = HashSet::new();
        for g in &self.groups {
            if g.name.is_empty() {
                errs.push("Groupname must not be empty".to_owned());
            }
            if !seen.insert(g.name.as_str()) {
                errs.push(format!("groupname: {:?} is repeated in the same file", g.name));
            }
            for k in g.labels.keys() {
                if !scheme.is_valid_label_name(k) || k == "__name__" {
                    errs.push(format!("group {:?}: invalid label name: {k}", g.name));
                }
            }
            for (i, r) in g.rules.iter().enumerate() {
                for e in r.validate(scheme) {
                    errs.push(format!("group {:?}, rule {}, {:?}: {e}", g.name, i + 1, r.name()));
                }
            }
        }
        errs
    }
}

impl RuleGroups {
    /// Rules repeated in the file (same name, same labels, in any group),
    /// each such name and labels once and in order, as promtool's
    /// duplicate-rules lint finds them.
    pub fn duplicates(&self) -> Vec<(&str, BTreeMap<String, String>)> {
        // A rule's labels are its group's with its own over them.
        let mut all: Vec<(&str, BTreeMap<String, String>)> = self
            .groups
            .iter()
            .flat_map(|g| g.rules.iter().map(move |r| (r.name(), g.labels.iter().chain(&r.labels).map(|(k, v)| (k.clone(), v.clone())).collect())))
            .collect();
        all.sort();
        let mut out: Vec<(&str, BTreeMap<String, String>)> = Vec::new();
        for pair in all.windows(2) {
            if pair[0] == pair[1] && out.last() != Some(&pair[1]) {
                out.push(pair[1].clone());
            }
        }
        out
    }
}

impl Rule {
    /// The rule's problems, in Prometheus's order.
    pub fn validate(&self, scheme: ValidationScheme) -> Vec<String> {
        let mut errs = Vec::new();
        if !self.record.is_empty() && !self.alert.is_empty() {
            errs.push("only one of 'record' and 'alert' must be set".to_owned());
        }
        if self.record.is_empty() && self.alert.is_empty() {
            errs.push("one of 'record' or 'alert' must be set".to_owned());
        }
        if self.expr.is_empty() {
            errs.push("field 'expr' must be set in rule".to_owned());
        } else if let Err(e) = promql::parser::parse(&self.expr) {
            errs.push(format!("could not parse expression: {e}"));
        }
        if !self.record.is_empty() {
            if !self.annotations.is_empty() {
                errs.push("invalid field 'annotations' in recording rule".to_owned());
            }
            if self.for_ != Duration::default() {
                errs.push("invalid field 'for' in recording rule".to_owned());
            }
            if self.keep_firing_for != Duration::default() {
                errs.push("invalid field 'keep_firing_for' in recording rule".to_owned());
            }
            if !scheme.is_valid_metric_name(&self.record) {
                errs.push(format!("invalid recording rule name: {}", self.record));
            }
            // A valid UTF-8 name, but most likely a selector put in the
            // wrong field.
            if self.record.contains(['{', '}']) {
                errs.push(format!("braces present in the recording rule name; should it be in expr?: {}", self.record));
            }
        }
        for k in self.labels.keys() {
            if !scheme.is_valid_label_name(k) || k == "__name__" {
                errs.push(format!("invalid label name: {k}"));
            }
        }
        for k in self.annotations.keys() {
            if !scheme.is_valid_label_name(k) {
                errs.push(format!("invalid annotation name: {k}"));
            }
        }
        errs
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn groups_rules_and_their_fields() {
        let g = parse(
            "groups:\n- name: g\n  interval: 30s\n  limit: 10\n  labels: {team: a}\n  rules:\n  - record: job:up:sum\n    expr: sum by (job) (up)\n  - alert: Down\n    expr: up == 0\n    for: 5m\n    keep_firing_for: 1m\n    labels: {severity: page}\n    annotations: {summary: '{{ $labels.instance }} is down'}\n",
            ValidationScheme::Utf8,
        )
        .unwrap();
        let group = &g.groups[0];
        assert_eq!((group.name.as_str(), group.interval.unwrap().to_string(), group.limit), ("g", "30s".to_owned(), 10));
        assert_eq!(group.rules[0].name(), "job:up:sum");
        assert_eq!(group.rules[1].for_.to_string(), "5m");
        assert_eq!(parse("# nothing yet\n", ValidationScheme::Utf8).unwrap().groups.len(), 0);
        // An empty label value is valid (it removes the label).
        assert!(parse("groups:\n- name: g\n  labels: {team: ''}\n  rules: []\n", ValidationScheme::Utf8).is_ok());
    }

    #[test]
    fn duplicates_count_group_labels() {
        let g = parse(
            "groups:\n- name: a\n  labels: {team: x}\n  rules: [{record: r, expr: up}]\n- name: b\n  rules: [{record: r, expr: up, labels: {team: x}}, {record: r, expr: up}]\n",
            ValidationScheme::Utf8,
        )
        .unwrap();
        let d = g.duplicates();
        assert_eq!(d.len(), 1);
        assert_eq!((d[0].0, d[0].1.get("team").map(String::as_str)), ("r", Some("x")));
    }

    #[test]
    fn every_problem_is_reported_with_its_group_and_rule() {
        let e = parse("groups:\n- name: g\n  rules:\n  - record: 'a{b=\"c\"}'\n    expr: 'sum('\n    for: 1m\n", ValidationScheme::Utf8).unwrap_err();
        assert_eq!(e.0.len(), 3, "{e}");
        assert!(e.0[0].starts_with(r#"group "g", rule 1, "a{b=\"c\"}": could not parse expression: "#), "{e}");
        assert_eq!(e.0[1], r#"group "g", rule 1, "a{b=\"c\"}": invalid field 'for' in recording rule"#);
        assert!(e.0[2].ends_with(r#"braces present in the recording rule name; should it be in expr?: a{b="c"}"#), "{e}");
        let e = parse("groups:\n- name: g\n  rules:\n  - record: 'a-b'\n    expr: '1'\n", ValidationScheme::Legacy).unwrap_err();
        assert_eq!(e.0, [r#"group "g", rule 1, "a-b": invalid recording rule name: a-b"#]);
    }
}
