//! The PromQL lexer: turns a query into tokens with their byte offsets.
//! Keywords are matched case-insensitively, as Prometheus does; function
//! and metric names are not keywords.

use super::ParseError;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    Ident(String),
    /// A metric name containing `:` (never a label name).
    MetricIdent(String),
    Number(f64),
    /// A duration literal, in milliseconds (`5m`, `1h30m`, `100ms`).
    Duration(i64),
    Str(String),
    LBrace,
    RBrace,
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    Colon,
    At,
    // Matching and comparison.
    Assign,
    Neq,
    EqlRegex,
    NeqRegex,
    Eqlc,
    Lss,
    Lte,
    Gtr,
    Gte,
    // Arithmetic.
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    Eof,
}

impl Tok {
    /// How Prometheus names a token in "unexpected ..." errors.
    pub(crate) fn describe(&self) -> String {
        match self {
            Tok::Ident(s) | Tok::MetricIdent(s) => format!("identifier {s:?}"),
            Tok::Number(n) => format!("number {n}"),
            Tok::Duration(_) => "duration".into(),
            Tok::Str(s) => format!("string {s:?}"),
            Tok::LBrace => "\"{\"".into(),
            Tok::RBrace => "\"}\"".into(),
            Tok::LParen => "\"(\"".into(),
            Tok::RParen => "\")\"".into(),
            Tok::LBracket => "\"[\"".into(),
            Tok::RBracket => "\"]\"".into(),
            Tok::Comma => "\",\"".into(),
            Tok::Colon => "\":\"".into(),
            Tok::At => "\"@\"".into(),
            Tok::Assign => "\"=\"".into(),
            Tok::Neq => "\"!=\"".into(),
            Tok::EqlRegex => "\"=~\"".into(),
            Tok::NeqRegex => "\"!~\"".into(),
            Tok::Eqlc => "\"==\"".into(),
            Tok::Lss => "\"<\"".into(),
            Tok::Lte => "\"<=\"".into(),
            Tok::Gtr => "\">\"".into(),
            Tok::Gte => "\">=\"".into(),
            Tok::Add => "\"+\"".into(),
            Tok::Sub => "\"-\"".into(),
            Tok::Mul => "\"*\"".into(),
            Tok::Div => "\"/\"".into(),
            Tok::Mod => "\"%\"".into(),
            Tok::Pow => "\"^\"".into(),
            Tok::Eof => "end of input".into(),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub tok: Tok,
    pub start: usize,
    pub end: usize,
}

const UNITS: [(&str, i64); 8] =
    [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000), ("w", 604_800_000), ("y", 31_536_000_000), ("", 0)];

pub(crate) fn lex(input: &str) -> Result<Vec<Token>, ParseError> {
    let b = input.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let start = i;
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if c == b'#' {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        let two = |s: &[u8]| b[i..].starts_with(s);
        let (tok, len) = if two(b"!=") {
            (Tok::Neq, 2)
        } else if two(b"=~") {
            (Tok::EqlRegex, 2)
        } else if two(b"!~") {
            (Tok::NeqRegex, 2)
        } else if two(b"==") {
            (Tok::Eqlc, 2)
        } else if two(b"<=") {
            (Tok::Lte, 2)
        } else if two(b">=") {
            (Tok::Gte, 2)
        } else {
            match c {
                b'{' => (Tok::LBrace, 1),
                b'}' => (Tok::RBrace, 1),
                b'(' => (Tok::LParen, 1),
                b')' => (Tok::RParen, 1),
                b'[' => (Tok::LBracket, 1),
                b']' => (Tok::RBracket, 1),
                b',' => (Tok::Comma, 1),
                b'@' => (Tok::At, 1),
                b'=' => (Tok::Assign, 1),
                b'<' => (Tok::Lss, 1),
                b'>' => (Tok::Gtr, 1),
                b'+' => (Tok::Add, 1),
                b'-' => (Tok::Sub, 1),
                b'*' => (Tok::Mul, 1),
                b'/' => (Tok::Div, 1),
                b'%' => (Tok::Mod, 1),
                b'^' => (Tok::Pow, 1),
                b':' if !b.get(i + 1).is_some_and(|c| is_ident_start(*c)) => (Tok::Colon, 1),
                b'"' | b'\'' | b'`' => {
                    let (s, n) = lex_string(input, i)?;
                    (Tok::Str(s), n)
                }
                b'0'..=b'9' | b'.' => lex_number(input, i)?,
                c if is_ident_start(c) || c == b':' => {
                    let mut j = i;
                    while j < b.len() && (is_ident_char(b[j]) || b[j] == b':') {
                        j += 1;
                    }
                    let word = &input[i..j];
                    let tok = if word.eq_ignore_ascii_case("inf") {
                        Tok::Number(f64::INFINITY)
                    } else if word.eq_ignore_ascii_case("nan") {
                        Tok::Number(f64::NAN)
                    } else if word.contains(':') {
                        Tok::MetricIdent(word.to_owned())
                    } else {
                        Tok::Ident(word.to_owned())
                    };
                    (tok, j - i)
                }
                _ => {
                    let ch = input[i..].chars().next().unwrap_or('?');
                    return Err(ParseError::at(input, i, format!("unexpected character: {ch:?}")));
                }
            }
        };
        i += len;
        out.push(Token { tok, start, end: i });
    }
    out.push(Token { tok: Tok::Eof, start: b.len(), end: b.len() });
    Ok(out)
}

fn is_ident_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_'
}

fn is_ident_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// A number or a duration. Durations are digits followed by units, one or
/// more (`1h30m`); a number may be decimal, hexadecimal or scientific.
fn lex_number(input: &str, start: usize) -> Result<(Tok, usize), ParseError> {
    let b = input.as_bytes();
    let mut i = start;
    if b[i..].starts_with(b"0x") || b[i..].starts_with(b"0X") {
        i += 2;
        while i < b.len() && (b[i].is_ascii_hexdigit() || b[i] == b'_') {
            i += 1;
        }
        let digits: String = input[start + 2..i].chars().filter(|c| *c != '_').collect();
        let v = u64::from_str_radix(&digits, 16).map_err(|_| ParseError::at(input, start, format!("bad number or duration syntax: {:?}", &input[start..i])))?;
        return Ok((Tok::Number(v as f64), i - start));
    }
    // Try a duration first: digits then a unit, repeated.
    if let Some((ms, len)) = duration_at(input, start) {
        return Ok((Tok::Duration(ms), len));
    }
    while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
        i += 1;
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        let mut j = i + 1;
        if j < b.len() && (b[j] == b'+' || b[j] == b'-') {
            j += 1;
        }
        if j < b.len() && b[j].is_ascii_digit() {
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            i = j;
        }
    }
    let text: String = input[start..i].chars().filter(|c| *c != '_').collect();
    if i < b.len() && (is_ident_char(b[i]) || b[i] == b'.') {
        let mut j = i;
        while j < b.len() && (is_ident_char(b[j]) || b[j] == b'.') {
            j += 1;
        }
        return Err(ParseError::at(input, start, format!("bad number or duration syntax: {:?}", &input[start..j])));
    }
    let v: f64 = text.parse().map_err(|_| ParseError::at(input, start, format!("bad number or duration syntax: {:?}", &input[start..i])))?;
    Ok((Tok::Number(v), i - start))
}

/// A duration at `start` (`1h30m`, `5m`, `100ms`), in milliseconds.
pub(crate) fn duration_at(input: &str, start: usize) -> Option<(i64, usize)> {
    let b = input.as_bytes();
    let mut i = start;
    let mut total: i64 = 0;
    let mut units = 0;
    loop {
        let ds = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if ds == i {
            break;
        }
        let n: i64 = input[ds..i].parse().ok()?;
        let (unit, mult) = UNITS.iter().find(|(u, _)| !u.is_empty() && b[i..].starts_with(u.as_bytes()))?;
        // `m` must not be the start of `ms`; the table lists `ms` first.
        i += unit.len();
        total = total.checked_add(n.checked_mul(*mult)?)?;
        units += 1;
    }
    if units == 0 || b.get(i).is_some_and(|c| is_ident_char(*c) || *c == b'.') {
        return None;
    }
    Some((total, i - start))
}

/// A quoted string with Go's escapes (double or single quotes) or raw
/// (backquotes). Returns the value and the bytes consumed.
fn lex_string(input: &str, start: usize) -> Result<(String, usize), ParseError> {
    let b = input.as_bytes();
    let q = b[start];
    let mut i = start + 1;
    let mut out: Vec<u8> = Vec::new();
    loop {
        let Some(&c) = b.get(i) else { return Err(ParseError::at(input, start, "unterminated quoted string".into())) };
        i += 1;
        if c == q {
            break;
        }
        if q == b'`' || c != b'\\' {
            if c == b'\n' && q != b'`' {
                return Err(ParseError::at(input, start, "unterminated quoted string".into()));
            }
            out.push(c);
            continue;
        }
        let Some(&e) = b.get(i) else { return Err(ParseError::at(input, start, "unterminated quoted string".into())) };
        i += 1;
        match e {
            b'a' => out.push(7),
            b'b' => out.push(8),
            b'f' => out.push(12),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'v' => out.push(11),
            b'\\' => out.push(b'\\'),
            b'\'' | b'"' if e == q => out.push(e),
            b'0'..=b'7' => {
                let digits = input.get(i - 1..i + 2).ok_or_else(|| ParseError::at(input, i - 2, "invalid escape sequence".into()))?;
                let v = u8::from_str_radix(digits, 8).map_err(|_| ParseError::at(input, i - 2, format!("invalid escape sequence \\{digits}")))?;
                out.push(v);
                i += 2;
            }
            b'x' | b'u' | b'U' => {
                let n = match e {
                    b'x' => 2,
                    b'u' => 4,
                    _ => 8,
                };
                let hex = input.get(i..i + n).ok_or_else(|| ParseError::at(input, i - 2, "invalid escape sequence".into()))?;
                let v = u32::from_str_radix(hex, 16).map_err(|_| ParseError::at(input, i - 2, "invalid escape sequence".into()))?;
                i += n;
                if e == b'x' {
                    out.push(v as u8);
                } else {
                    let ch = char::from_u32(v).ok_or_else(|| ParseError::at(input, i - n - 2, "invalid escape sequence".into()))?;
                    let mut buf = [0; 4];
                    out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                }
            }
            _ => return Err(ParseError::at(input, i - 2, format!("unknown escape sequence {:?}", e as char))),
        }
    }
    // Go strings are bytes, so Prometheus accepts `"\xff"` and fails later
    // where the value must be UTF-8 (a label name, say), quoting the byte in
    // its message. Each invalid byte is kept as a private-use character that
    // `super::raw_bytes` turns back into the byte.
    let mut s = String::with_capacity(out.len());
    for chunk in out.utf8_chunks() {
        s.push_str(chunk.valid());
        s.extend(chunk.invalid().iter().map(|&b| super::raw_byte_char(b)));
    }
    Ok((s, i - start))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        lex(s).unwrap().into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn tokens() {
        assert_eq!(
            toks(r#"rate(http_requests_total{job=~"a.*"}[5m]) > 0x1F"#),
            vec![
                Tok::Ident("rate".into()),
                Tok::LParen,
                Tok::Ident("http_requests_total".into()),
                Tok::LBrace,
                Tok::Ident("job".into()),
                Tok::EqlRegex,
                Tok::Str("a.*".into()),
                Tok::RBrace,
                Tok::LBracket,
                Tok::Duration(300_000),
                Tok::RBracket,
                Tok::RParen,
                Tok::Gtr,
                Tok::Number(31.0),
                Tok::Eof
            ]
        );
        assert_eq!(
            toks("1h30m 100ms 1.5e3 .5 Inf"),
            vec![Tok::Duration(5_400_000), Tok::Duration(100), Tok::Number(1500.0), Tok::Number(0.5), Tok::Number(f64::INFINITY), Tok::Eof]
        );
        assert_eq!(
            toks("a:b:c [5m:1m]"),
            vec![Tok::MetricIdent("a:b:c".into()), Tok::LBracket, Tok::Duration(300_000), Tok::Colon, Tok::Duration(60_000), Tok::RBracket, Tok::Eof]
        );
        assert_eq!(toks(r#"'a\'b' "\u00e9\x41\101" `raw\n`"#), vec![Tok::Str("a'b".into()), Tok::Str("éAA".into()), Tok::Str("raw\\n".into()), Tok::Eof]);
        assert!(lex("\"open").is_err());
        assert!(lex("1.5.3").is_err());
    }
}
