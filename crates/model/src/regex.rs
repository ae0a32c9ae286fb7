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

/// Rewrites Go (RE2) syntax where the `regex` crate reads it differently:
/// Go's ASCII-only Perl classes, escapes Go treats as literals (`\<`),
/// octal escapes, `\Q...\E`, class characters the crate treats as set
/// operators (`&&`, `--`, `~~`), and a `{` that starts no repetition.
fn translate_go_syntax(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut chars = pattern.chars().peekable();
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
                // Go reads these as the plain characters.
                Some(p @ ('<' | '>')) => out.push(p),
                Some('Q') if !in_class => {
                    let mut lit = String::new();
                    while let Some(c) = chars.next() {
                        if c == '\\' && chars.peek() == Some(&'E') {
                            chars.next();
                            break;
                        }
                        lit.push(c);
                    }
                    out.push_str(&regex::escape(&lit));
                }
                Some(d @ '0'..='7') => {
                    // Octal: `\0`, `\0NN` or `\NNN`; a lone `\1`-`\7` is a
                    // backreference, which Go refuses too: keep it so it fails.
                    let mut digits = String::from(d);
                    while digits.len() < 3 && chars.peek().is_some_and(|c| ('0'..='7').contains(c)) {
                        digits.extend(chars.next());
                    }
                    match u32::from_str_radix(&digits, 8) {
                        Ok(n) if d == '0' || digits.len() > 1 => out.push_str(&format!("\\x{{{n:x}}}")),
                        _ => {
                            out.push('\\');
                            out.push_str(&digits);
                        }
                    }
                }
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
                if chars.peek() == Some(&'^') {
                    chars.next();
                    out.push('^');
                }
                if chars.peek() == Some(&']') {
                    chars.next();
                    out.push_str("\\]");
                }
            }
            '[' if in_class => {
                // POSIX classes such as [:alpha:] nest inside a class.
                let rest: String = chars.clone().collect();
                if rest.starts_with(':') {
                    if let Some(end) = rest.find(":]") {
                        out.push('[');
                        out.push_str(&rest[..end + 2]);
                        for _ in 0..rest[..end + 2].chars().count() {
                            chars.next();
                        }
                        continue;
                    }
                }
                out.push_str("\\[");
            }
            ']' if in_class => {
                in_class = false;
                out.push(']');
            }
            // Set operators of the regex crate are plain characters in Go.
            '&' | '~' if in_class => {
                out.push('\\');
                out.push(c);
            }
            '-' if in_class && chars.peek() == Some(&'-') => out.push_str("\\-"),
            '{' if !in_class && !starts_repeat(chars.clone()) => out.push_str("\\{"),
            c => out.push(c),
        }
    }
    out
}

/// Whether the text after a `{` forms a repetition (`{n}`, `{n,}`,
/// `{n,m}`); otherwise Go takes the brace literally.
fn starts_repeat(mut rest: impl Iterator<Item = char>) -> bool {
    let mut digits = 0;
    let mut comma = false;
    for c in rest.by_ref() {
        match c {
            '0'..='9' => digits += 1,
            ',' if !comma && digits > 0 => {
                comma = true;
            }
            '}' => return digits > 0,
            _ => return false,
        }
    }
    false
}

/// Go's `Regexp.Expand`: `$name` takes the longest run of letters, digits
/// and `_`; `${name}` is braced; an all-digit name without a leading zero
/// is a group number, anything else a group name; unknown groups expand to
/// nothing; `$$` is a `$`; a `$` that starts no valid reference stays.
pub fn expand(template: &str, caps: &regex::Captures<'_>, re: &Regex) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        rest = &rest[i + 1..];
        if let Some(r) = rest.strip_prefix('$') {
            out.push('$');
            rest = r;
            continue;
        }
        let is_name = |c: char| c.is_alphanumeric() || c == '_';
        let (name, consumed) = if let Some(inner) = rest.strip_prefix('{') {
            match inner.find('}') {
                Some(end) if end > 0 && inner[..end].chars().all(is_name) => (&inner[..end], end + 2),
                _ => ("", 0),
            }
        } else {
            let n: usize = rest.chars().take_while(|c| is_name(*c)).map(char::len_utf8).sum();
            (&rest[..n], n)
        };
        if consumed == 0 || name.is_empty() {
            out.push('$');
            continue;
        }
        rest = &rest[consumed..];
        let number = (name.bytes().all(|b| b.is_ascii_digit()) && !(name.starts_with('0') && name.len() > 1)).then(|| name.parse::<usize>().ok()).flatten();
        let group = match number {
            Some(n) => caps.get(n),
            None => re.capture_names().position(|n| n == Some(name)).and_then(|i| caps.get(i)),
        };
        if let Some(m) = group {
            out.push_str(m.as_str());
        }
    }
    out.push_str(rest);
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
    fn go_literals_stay_literal() {
        assert!(compile_anchored(r"\<none\>").unwrap().is_match("<none>"));
        assert!(compile_anchored(r"[\<\>]").unwrap().is_match(">"));
        assert!(compile_anchored("[a&&b]").unwrap().is_match("&"));
        assert!(compile_anchored("[a--b]").unwrap().is_match("-"));
        assert!(compile_anchored("foo{bar}").unwrap().is_match("foo{bar}"));
        assert!(compile_anchored("a{2}").unwrap().is_match("aa"));
        assert!(compile_anchored("x{,3}").unwrap().is_match("x{,3}"));
        assert!(compile_anchored(r"\Qa.b\E").unwrap().is_match("a.b"));
        assert!(!compile_anchored(r"\Qa.b\E").unwrap().is_match("axb"));
        assert!(compile_anchored(r"\101").unwrap().is_match("A"));
    }

    #[test]
    fn errors_name_the_pattern() {
        let e = compile_anchored("(a").unwrap_err();
        assert!(e.to_string().starts_with("error parsing regexp: "), "{e}");
        assert!(e.to_string().contains("`(a`"), "{e}");
    }
}
