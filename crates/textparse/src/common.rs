//! Pieces both parsers share: errors, Go-compatible number parsing and
//! unescaping.

use std::borrow::Cow;

use model::quote::go_quote;

/// The canonical NaN Prometheus stores for a NaN sample (`value.NormalNaN`),
/// so that a genuine NaN is never mistaken for a staleness marker.
pub(crate) const NORMAL_NAN_BITS: u64 = 0x7ff8_0000_0000_0001;

/// A parse failure: Prometheus's message, and the 1-based line it is on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{msg} (line {line})")]
pub struct ParseError {
    msg: String,
    line: usize,
}

impl ParseError {
    pub(crate) fn new(b: &[u8], pos: usize, msg: String) -> Self {
        let pos = pos.min(b.len());
        let line = b[..pos].iter().filter(|&&c| c == b'\n').count() + 1;
        ParseError { msg, line }
    }

    /// The message exactly as Prometheus words it.
    pub fn message(&self) -> &str {
        &self.msg
    }

    /// The 1-based line of the input the error is on.
    pub fn line(&self) -> usize {
        self.line
    }
}

/// Lexer tokens, named as Prometheus prints them in errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tok {
    Invalid,
    Eof,
    Linebreak,
    Whitespace,
    Help,
    Type,
    Unit,
    EofWord,
    Text,
    Comment,
    MName,
    QString,
    BraceOpen,
    BraceClose,
    LName,
    LValue,
    Comma,
    Equal,
    Timestamp,
    Value,
}

impl Tok {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Tok::Invalid => "INVALID",
            Tok::Eof => "EOF",
            Tok::Linebreak => "LINEBREAK",
            Tok::Whitespace => "WHITESPACE",
            Tok::Help => "HELP",
            Tok::Type => "TYPE",
            Tok::Unit => "UNIT",
            Tok::EofWord => "EOFWORD",
            Tok::Text => "TEXT",
            Tok::Comment => "COMMENT",
            Tok::MName => "MNAME",
            Tok::QString => "QSTRING",
            Tok::BraceOpen => "BOPEN",
            Tok::BraceClose => "BCLOSE",
            Tok::LName => "LNAME",
            Tok::LValue => "LVALUE",
            Tok::Comma => "COMMA",
            Tok::Equal => "EQUAL",
            Tok::Timestamp => "TIMESTAMP",
            Tok::Value => "VALUE",
        }
    }
}

pub(crate) fn quote(b: &[u8]) -> String {
    go_quote(b)
}

pub(crate) fn is_m_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c == b':'
}

pub(crate) fn is_m_char(c: u8) -> bool {
    is_m_start(c) || c.is_ascii_digit()
}

pub(crate) fn is_l_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_'
}

pub(crate) fn is_l_char(c: u8) -> bool {
    is_l_start(c) || c.is_ascii_digit()
}

/// Scans a quoted string starting at `b[i] == '"'` (`"(\\.|[^\\"])*"`, with
/// raw newlines allowed only when `newline_ok`); returns the index after the
/// closing quote, or where the scan failed (as far as Prometheus's lexer
/// gets before it gives up). `at` yields the byte at an index or `None` past
/// the end.
pub(crate) fn scan_quoted(at: impl Fn(usize) -> Option<u8>, mut i: usize, newline_ok: bool) -> Result<usize, usize> {
    i += 1;
    loop {
        match at(i).ok_or(i)? {
            b'"' => return Ok(i + 1),
            b'\\' => match at(i + 1).ok_or(i + 1)? {
                b'\n' => return Err(i + 1),
                _ => i += 2,
            },
            b'\n' if !newline_ok => return Err(i),
            _ => i += 1,
        }
    }
}

/// Why a number did not parse, worded like Go's `strconv` errors.
#[derive(Debug)]
pub(crate) enum NumError {
    Unsupported,
    Syntax,
    Range,
}

impl NumError {
    pub(crate) fn describe(&self, func: &str, s: &[u8]) -> String {
        match self {
            NumError::Unsupported => "unsupported character in float".to_owned(),
            NumError::Syntax => format!("strconv.{func}: parsing {}: invalid syntax", quote(s)),
            NumError::Range => format!("strconv.{func}: parsing {}: value out of range", quote(s)),
        }
    }
}

/// Parses a float as Prometheus does: Go's `strconv.ParseFloat` minus the
/// post-Go-1.13 forms (hex floats and `_` separators), which Prometheus
/// rejects as "unsupported character in float".
pub(crate) fn parse_go_float(b: &[u8]) -> Result<f64, NumError> {
    if b.iter().any(|&c| matches!(c, b'p' | b'P' | b'_')) {
        return Err(NumError::Unsupported);
    }
    let s = std::str::from_utf8(b).map_err(|_| NumError::Syntax)?;
    let (neg, signed, rest) = match s.as_bytes().first() {
        Some(b'+') => (false, true, &s[1..]),
        Some(b'-') => (true, true, &s[1..]),
        _ => (false, false, s),
    };
    if rest.eq_ignore_ascii_case("inf") || rest.eq_ignore_ascii_case("infinity") {
        return Ok(if neg { f64::NEG_INFINITY } else { f64::INFINITY });
    }
    // Go accepts no sign on NaN.
    if !signed && rest.eq_ignore_ascii_case("nan") {
        return Ok(f64::NAN);
    }
    if !is_go_decimal(rest.as_bytes()) {
        return Err(NumError::Syntax);
    }
    let v: f64 = s.parse().map_err(|_| NumError::Syntax)?;
    if v.is_infinite() {
        return Err(NumError::Range);
    }
    Ok(v)
}

/// `digits [. digits] | . digits`, then an optional `e[+-]digits`.
fn is_go_decimal(b: &[u8]) -> bool {
    let mut i = 0;
    let mut digits = 0;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
        digits += 1;
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
            digits += 1;
        }
    }
    if digits == 0 {
        return false;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    i == b.len()
}

/// Go's `strconv.ParseInt(s, 10, 64)`.
pub(crate) fn parse_go_int(b: &[u8]) -> Result<i64, NumError> {
    let (neg, digits) = match b.first() {
        Some(b'+') => (false, &b[1..]),
        Some(b'-') => (true, &b[1..]),
        _ => (false, b),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(NumError::Syntax);
    }
    let mut v: i64 = 0;
    for &d in digits {
        let d = i64::from(d - b'0');
        v = v.checked_mul(10).and_then(|v| if neg { v.checked_sub(d) } else { v.checked_add(d) }).ok_or(NumError::Range)?;
    }
    Ok(v)
}

/// Canonicalises NaN to Prometheus's normal NaN.
pub(crate) fn normal_nan(v: f64) -> f64 {
    if v.is_nan() { f64::from_bits(NORMAL_NAN_BITS) } else { v }
}

/// Resolves `\\`, `\n` and (when `quote` is set) `\"`, leaving any other
/// backslash as it is, like Go's `strings.Replacer` in Prometheus.
pub(crate) fn unescape(s: &str, quote: bool) -> Cow<'_, str> {
    if !s.contains('\\') {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.peek() {
                Some('\\') => {
                    out.push('\\');
                    chars.next();
                }
                Some('n') => {
                    out.push('\n');
                    chars.next();
                }
                Some('"') if quote => {
                    out.push('"');
                    chars.next();
                }
                _ => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// The label pairs of a series, by byte ranges into the input.
#[derive(Debug, Default, Clone)]
pub(crate) struct SeriesOffsets {
    /// Metric name range; `None` until seen (it may come inside the braces).
    pub(crate) name: Option<(usize, usize)>,
    /// (name start, name end, value start, value end) per label.
    pub(crate) labels: Vec<(usize, usize, usize, usize)>,
}

impl SeriesOffsets {
    pub(crate) fn clear(&mut self) {
        self.name = None;
        self.labels.clear();
    }

    /// The first label name that appears twice (`__name__` counts when the
    /// metric name is set), compared as written.
    pub(crate) fn duplicate<'b>(&self, b: &'b [u8]) -> Option<&'b [u8]> {
        for (i, &(s, e, _, _)) in self.labels.iter().enumerate() {
            let n = &b[s..e];
            if self.name.is_some() && n == b"__name__" {
                return Some(n);
            }
            if self.labels[..i].iter().any(|&(s2, e2, _, _)| &b[s2..e2] == n) {
                return Some(n);
            }
        }
        None
    }

    /// Builds the label set; every range was checked to be UTF-8 while parsing.
    pub(crate) fn build(&self, b: &[u8]) -> model::Labels {
        let text = |s: usize, e: usize| std::str::from_utf8(b.get(s..e).unwrap_or_default()).unwrap_or_default();
        let mut pairs: Vec<(Cow<'_, str>, Cow<'_, str>)> = Vec::with_capacity(self.labels.len() + 1);
        if let Some((s, e)) = self.name {
            pairs.push((Cow::Borrowed(model::labels::METRIC_NAME), unescape(text(s, e), true)));
        }
        for &(ns, ne, vs, ve) in &self.labels {
            pairs.push((unescape(text(ns, ne), true), unescape(text(vs, ve), true)));
        }
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
        model::Labels::from_sorted_pairs(pairs.iter().map(|(n, v)| (n.as_ref(), v.as_ref())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_floats() {
        for (s, v) in [
            ("1", 1.0),
            ("-1.5", -1.5),
            (".5", 0.5),
            ("5.", 5.0),
            ("1e3", 1000.0),
            ("1E-3", 0.001),
            ("+Inf", f64::INFINITY),
            ("-inf", f64::NEG_INFINITY),
            ("Infinity", f64::INFINITY),
            ("1e-400", 0.0),
        ] {
            assert_eq!(parse_go_float(s.as_bytes()).ok(), Some(v), "{s}");
        }
        assert!(parse_go_float(b"NaN").is_ok_and(f64::is_nan));
        assert!(parse_go_float(b"nan").is_ok_and(f64::is_nan));
        for s in ["", ".", "e3", "1e", "+NaN", "-nan", "true", "0x10", "1.2.3", "infi", " 1", "1 "] {
            assert!(matches!(parse_go_float(s.as_bytes()), Err(NumError::Syntax)), "{s}");
        }
        for s in ["0x1p-3", "1_000", "0X1P3"] {
            assert!(matches!(parse_go_float(s.as_bytes()), Err(NumError::Unsupported)), "{s}");
        }
        assert!(matches!(parse_go_float(b"1e400"), Err(NumError::Range)));
    }

    #[test]
    fn go_ints() {
        assert_eq!(parse_go_int(b"-9223372036854775808").ok(), Some(i64::MIN));
        assert_eq!(parse_go_int(b"9223372036854775807").ok(), Some(i64::MAX));
        assert!(matches!(parse_go_int(b"9223372036854775808"), Err(NumError::Range)));
        assert!(matches!(parse_go_int(b"1.5"), Err(NumError::Syntax)));
    }

    #[test]
    fn unescapes_like_go_replacer() {
        assert_eq!(unescape(r#"a\\b\nc\"d\te"#, true), "a\\b\nc\"d\\te");
        assert_eq!(unescape(r#"\"x"#, false), "\\\"x");
        assert_eq!(unescape(r"\\n", true), "\\n");
        assert!(matches!(unescape("plain", true), Cow::Borrowed(_)));
    }
}
