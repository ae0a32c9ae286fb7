//! Compiling Prometheus regular expressions with the `regex` crate.
//!
//! Prometheus uses Go's RE2, fully anchored, and since 3.0 lets `.` match a
//! newline. The `regex` crate speaks nearly the same syntax, but its `\d`,
//! `\w`, `\s` and `\b` are Unicode-aware where Go's are ASCII-only, so those
//! escapes are rewritten before compiling.

use regex::Regex;

/// A bad regular expression, worded as Go words it so users recognise it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("error parsing regexp: {reason}: `{pattern}`")]
pub struct RegexError {
    pub pattern: String,
    pub reason: String,
}

/// Compiles `pattern` anchored at both ends (`^(?s:pattern)$`).
pub fn compile_anchored(pattern: &str) -> Result<Regex, RegexError> {
    let translated = translate_go_syntax(pattern);
    Regex::new(&format!("^(?s:{translated})$")).map_err(|e| RegexError { pattern: pattern.to_owned(), reason: describe(&e) })
}

/// Compiles `pattern` unanchored, as Go's `regexp.Compile` does.
pub fn compile_unanchored(pattern: &str) -> Result<Regex, RegexError> {
    Regex::new(&translate_go_syntax(pattern)).map_err(|e| RegexError { pattern: pattern.to_owned(), reason: describe(&e) })
}

fn describe(e: &regex::Error) -> String {
    match e {
        regex::Error::Syntax(s) => {
            // The crate's message is a multi-line diagram; its last line is the
            // reason ("error: unclosed character class").
            let last = s.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or(s);
            last.trim().trim_start_matches("error: ").to_owned()
        }
        regex::Error::CompiledTooBig(_) => "expression too large".to_owned(),
        other => other.to_string(),
    }
}

/// Rewrites Go's ASCII-only Perl classes into explicit ASCII classes.
fn translate_go_syntax(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut chars = pattern.chars();
    let mut in_class = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('d') => out.push_str(if in_class { "0-9" } else { "[0-9]" }),
                Some('D') => out.push_str("[^0-9]"),
                Some('w') => out.push_str(if in_class { "0-9A-Za-z_" } else { "[0-9A-Za-z_]" }),
                Some('W') => out.push_str("[^0-9A-Za-z_]"),
                Some('s') => out.push_str(if in_class { "\\t\\n\\x0C\\r " } else { "[\\t\\n\\x0C\\r ]" }),
                Some('S') => out.push_str("[^\\t\\n\\x0C\\r ]"),
                Some('b') if !in_class => out.push_str("(?-u:\\b)"),
                Some('B') if !in_class => out.push_str("(?-u:\\B)"),
                Some(other) => {
                    out.push('\\');
                    out.push(other);
                }
                None => out.push('\\'),
            },
            '[' if !in_class => {
                in_class = true;
                out.push('[');
                // A `]` or `^]` right after the opening bracket is literal.
                let rest = chars.as_str();
                if let Some(r) = rest.strip_prefix("^]") {
                    out.push_str("^\\]");
                    chars = r.chars();
                } else if let Some(r) = rest.strip_prefix(']') {
                    out.push_str("\\]");
                    chars = r.chars();
                } else if let Some(r) = rest.strip_prefix('^') {
                    out.push('^');
                    chars = r.chars();
                }
            }
            '[' if in_class => {
                // POSIX classes such as [:alpha:] nest inside a class.
                let rest = chars.as_str();
                if rest.starts_with(':') {
                    if let Some(end) = rest.find(":]") {
                        out.push('[');
                        out.push_str(&rest[..end + 2]);
                        chars = rest[end + 2..].chars();
                        continue;
                    }
                }
                out.push_str("\\[");
            }
            ']' if in_class => {
                in_class = false;
                out.push(']');
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchored_and_dot_matches_newline() {
        let re = compile_anchored("a.c").unwrap();
        assert!(re.is_match("abc"));
        assert!(re.is_match("a\nc"));
        assert!(!re.is_match("xabc"));
        let alt = compile_anchored("a|b").unwrap();
        assert!(alt.is_match("a") && alt.is_match("b") && !alt.is_match("ab"));
    }

    #[test]
    fn perl_classes_are_ascii_only() {
        let re = compile_anchored(r"\d+").unwrap();
        assert!(re.is_match("123"));
        assert!(!re.is_match("١٢٣"), "Arabic-Indic digits are not \\d in Go");
        let w = compile_anchored(r"[\w.]+").unwrap();
        assert!(w.is_match("a_b.c"));
        assert!(!w.is_match("ä"));
        assert!(compile_anchored(r"[^\d]").unwrap().is_match("x"));
        assert!(compile_anchored(r"[]a]").unwrap().is_match("]"));
        assert!(compile_anchored(r"[[:alpha:]]+").unwrap().is_match("abc"));
    }

    #[test]
    fn errors_name_the_pattern() {
        let e = compile_anchored("(a").unwrap_err();
        assert!(e.to_string().starts_with("error parsing regexp: "), "{e}");
        assert!(e.to_string().contains("`(a`"), "{e}");
    }
}
