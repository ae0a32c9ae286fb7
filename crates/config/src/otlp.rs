//! `otlp`: how OTLP metrics received over HTTP become Prometheus series.

use model::ValidationScheme;
use serde::{Deserialize, Serialize};

/// Translation strategies Prometheus knows.
pub const TRANSLATION_STRATEGIES: [&str; 4] =
    ["UnderscoreEscapingWithSuffixes", "UnderscoreEscapingWithoutSuffixes", "NoUTF8EscapingWithSuffixes", "NoTranslation"];

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename = "config.plain", deny_unknown_fields, default)]
pub struct OtlpConfig {
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub promote_all_resource_attributes: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub promote_resource_attributes: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ignore_resource_attributes: Vec<String>,
    pub translation_strategy: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub keep_identifying_resource_attributes: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub convert_histograms_to_nhcb: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub promote_scope_metadata: bool,
    pub label_name_underscore_sanitization: bool,
    pub label_name_preserve_multiple_underscores: bool,
}

impl Default for OtlpConfig {
    fn default() -> Self {
        OtlpConfig {
            promote_all_resource_attributes: false,
            promote_resource_attributes: Vec::new(),
            ignore_resource_attributes: Vec::new(),
            translation_strategy: TRANSLATION_STRATEGIES[0].into(),
            keep_identifying_resource_attributes: false,
            convert_histograms_to_nhcb: false,
            promote_scope_metadata: false,
            label_name_underscore_sanitization: true,
            label_name_preserve_multiple_underscores: true,
        }
    }
}

/// Trims attribute names in place and reports empty and repeated ones,
/// every problem on its own line.
fn sanitize(attrs: &mut [String], adjective: &str) -> Result<(), String> {
    let mut seen = std::collections::HashSet::new();
    let mut errs = Vec::new();
    for a in attrs.iter_mut() {
        let t = a.trim().to_owned();
        if t.is_empty() {
            errs.push(format!("empty {adjective} OTel resource attribute"));
            continue;
        }
        if !seen.insert(t.clone()) {
            errs.push(format!("duplicated {adjective} OTel resource attribute {t:?}"));
            continue;
        }
        *a = t;
    }
    if errs.is_empty() { Ok(()) } else { Err(errs.join("\n")) }
}

impl OtlpConfig {
    pub(crate) fn validate(&mut self, scheme: ValidationScheme) -> Result<(), String> {
        if self.promote_all_resource_attributes {
            if !self.promote_resource_attributes.is_empty() {
                return Err("'promote_all_resource_attributes' and 'promote_resource_attributes' cannot be configured simultaneously".into());
            }
            sanitize(&mut self.ignore_resource_attributes, "ignored").map_err(|e| format!("invalid 'ignore_resource_attributes': {e}"))?;
        } else {
            if !self.ignore_resource_attributes.is_empty() {
                return Err("'ignore_resource_attributes' cannot be configured unless 'promote_all_resource_attributes' is true".into());
            }
            sanitize(&mut self.promote_resource_attributes, "promoted").map_err(|e| format!("invalid 'promote_resource_attributes': {e}"))?;
        }
        match self.translation_strategy.as_str() {
            "" | "UnderscoreEscapingWithSuffixes" | "UnderscoreEscapingWithoutSuffixes" => Ok(()),
            s @ ("NoTranslation" | "NoUTF8EscapingWithSuffixes") if scheme == ValidationScheme::Legacy => {
                Err(format!("OTLP translation strategy {s:?} is not allowed when UTF8 is disabled"))
            }
            "NoTranslation" | "NoUTF8EscapingWithSuffixes" => Ok(()),
            s => Err(format!("unsupported OTLP translation strategy {s:?}")),
        }
    }
}
