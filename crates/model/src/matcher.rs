//! Label matchers (`name="v"`, `!=`, `=~`, `!~`), as PromQL selectors and the
//! storage querier use them.

use std::fmt;

use regex::Regex;

use crate::regex::{RegexError, compile_anchored};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatchType {
    Equal,
    NotEqual,
    Regexp,
    NotRegexp,
}

impl MatchType {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchType::Equal => "=",
            MatchType::NotEqual => "!=",
            MatchType::Regexp => "=~",
            MatchType::NotRegexp => "!~",
        }
    }
}

/// One label matcher. Regex matchers are compiled once, anchored.
#[derive(Debug, Clone)]
pub struct Matcher {
    pub kind: MatchType,
    pub name: String,
    pub value: String,
    re: Option<Regex>,
}

impl Matcher {
    pub fn new(kind: MatchType, name: impl Into<String>, value: impl Into<String>) -> Result<Self, RegexError> {
        let value = value.into();
        let re = match kind {
            MatchType::Regexp | MatchType::NotRegexp => Some(compile_anchored(&value)?),
            MatchType::Equal | MatchType::NotEqual => None,
        };
        Ok(Matcher { kind, name: name.into(), value, re })
    }

    /// An equality matcher, which cannot fail.
    pub fn equal(name: impl Into<String>, value: impl Into<String>) -> Self {
        Matcher { kind: MatchType::Equal, name: name.into(), value: value.into(), re: None }
    }

    /// Whether a label value (`""` for an absent label) matches.
    pub fn matches(&self, v: &str) -> bool {
        match (self.kind, &self.re) {
            (MatchType::Equal, _) => v == self.value,
            (MatchType::NotEqual, _) => v != self.value,
            (MatchType::Regexp, Some(re)) => re.is_match(v),
            (MatchType::NotRegexp, Some(re)) => !re.is_match(v),
            // Regex kinds are always built with a compiled regex.
            (MatchType::Regexp | MatchType::NotRegexp, None) => false,
        }
    }

    /// Whether the matcher selects series that lack the label, the case that
    /// forces a storage to consider every series.
    pub fn matches_empty(&self) -> bool {
        self.matches("")
    }
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind && self.name == other.name && self.value == other.value
    }
}
impl Eq for Matcher {}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if crate::names::is_valid_legacy_label_name(&self.name) {
            f.write_str(&self.name)?;
        } else {
            f.write_str(&crate::quote::go_quote(self.name.as_bytes()))?;
        }
        write!(f, "{}{}", self.kind.as_str(), crate::quote::go_quote(self.value.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matching() {
        let m = Matcher::new(MatchType::Regexp, "job", "api|web").unwrap();
        assert!(m.matches("api") && !m.matches("apix") && !m.matches_empty());
        let n = Matcher::new(MatchType::NotRegexp, "job", "api.*").unwrap();
        assert!(n.matches("") && !n.matches("api-1"));
        let e = Matcher::equal("job", "");
        assert!(e.matches_empty());
        assert_eq!(Matcher::new(MatchType::NotEqual, "a.b", "x").unwrap().to_string(), r#""a.b"!="x""#);
    }
}
