//! Metric and label name validation, under the two schemes Prometheus 3.x
//! knows: the legacy character set and full UTF-8.

use std::fmt;
use std::str::FromStr;

/// Which names are valid. Prometheus 3.x defaults to UTF-8; `legacy` restricts
/// names to `[a-zA-Z_][a-zA-Z0-9_]*` (plus `:` in metric names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum ValidationScheme {
    Legacy,
    #[default]
    Utf8,
}

impl ValidationScheme {
    pub fn as_str(self) -> &'static str {
        match self {
            ValidationScheme::Legacy => "legacy",
            ValidationScheme::Utf8 => "utf8",
        }
    }

    pub fn is_valid_label_name(self, name: &str) -> bool {
        match self {
            ValidationScheme::Legacy => is_valid_legacy_label_name(name),
            ValidationScheme::Utf8 => !name.is_empty(),
        }
    }

    pub fn is_valid_metric_name(self, name: &str) -> bool {
        match self {
            ValidationScheme::Legacy => is_valid_legacy_metric_name(name),
            ValidationScheme::Utf8 => !name.is_empty(),
        }
    }
}

impl fmt::Display for ValidationScheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text of an unknown scheme, as Prometheus words the error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unrecognized ValidationScheme: {0:?}")]
pub struct UnknownValidationScheme(pub String);

impl FromStr for ValidationScheme {
    type Err = UnknownValidationScheme;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "legacy" => Ok(ValidationScheme::Legacy),
            "utf8" => Ok(ValidationScheme::Utf8),
            other => Err(UnknownValidationScheme(other.to_owned())),
        }
    }
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`
pub fn is_valid_legacy_label_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    match bytes.next() {
        Some(b) if b.is_ascii_alphabetic() || b == b'_' => {}
        _ => return false,
    }
    bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`
pub fn is_valid_legacy_metric_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    match bytes.next() {
        Some(b) if b.is_ascii_alphabetic() || b == b'_' || b == b':' => {}
        _ => return false,
    }
    bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
}

/// A label value is valid when it is UTF-8, which a `&str` always is; this
/// exists for byte input from decoders.
pub fn is_valid_label_value(value: &[u8]) -> bool {
    std::str::from_utf8(value).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_names() {
        for ok in ["a", "_", "abc_123", "A_b"] {
            assert!(is_valid_legacy_label_name(ok), "{ok}");
        }
        for bad in ["", "1a", "a-b", "a:b", "a.b", "ä"] {
            assert!(!is_valid_legacy_label_name(bad), "{bad}");
        }
        assert!(is_valid_legacy_metric_name("a:b_c"));
        assert!(is_valid_legacy_metric_name(":a"));
        assert!(!is_valid_legacy_metric_name("a.b"));
    }

    #[test]
    fn utf8_scheme_accepts_anything_but_empty() {
        let s = ValidationScheme::Utf8;
        assert!(s.is_valid_label_name("a.b/ä"));
        assert!(!s.is_valid_label_name(""));
        assert_eq!("legacy".parse::<ValidationScheme>(), Ok(ValidationScheme::Legacy));
        assert_eq!("invalid_scheme".parse::<ValidationScheme>().unwrap_err().to_string(), r#"unrecognized ValidationScheme: "invalid_scheme""#);
    }
}
