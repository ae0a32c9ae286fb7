//! The small lexical pieces the script language shares between commands:
//! durations, quoted strings and number literals. Errors are plain strings;
//! the caller knows the line and wraps them.

/// Milliseconds per duration unit, largest first: a duration must use them in
/// this order, each at most once.
const UNITS: [(&str, i64); 7] =
    [("y", 365 * 24 * 3_600_000), ("w", 7 * 24 * 3_600_000), ("d", 24 * 3_600_000), ("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1)];

/// Parses a Prometheus duration (`1h30m`, `10s53ms`, `0`) into milliseconds.
pub(crate) fn parse_duration_ms(s: &str) -> Result<i64, String> {
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err("empty duration string".into());
    }
    let bad = || format!("not a valid duration string: {s:?}");
    let b = s.as_bytes();
    let mut pos = 0;
    // Index into UNITS of the next unit allowed, so that units only go down.
    let mut next_unit = 0;
    let mut total: i64 = 0;
    while pos < b.len() {
        let start = pos;
        while pos < b.len() && b[pos].is_ascii_digit() {
            pos += 1;
        }
        if pos == start {
            return Err(bad());
        }
        let n: i64 = s[start..pos].parse().map_err(|_| bad())?;
        let unit_start = pos;
        while pos < b.len() && b[pos].is_ascii_alphabetic() {
            pos += 1;
        }
        let unit = &s[unit_start..pos];
        let idx = UNITS.iter().position(|(u, _)| *u == unit).ok_or_else(bad)?;
        if idx < next_unit {
            return Err(bad());
        }
        next_unit = idx + 1;
        total = n.checked_mul(UNITS[idx].1).and_then(|v| total.checked_add(v)).ok_or_else(|| format!("duration out of range: {s:?}"))?;
    }
    Ok(total)
}

/// Reads a quoted string at the start of `s` (which must begin with `"`, `'`
/// or a backtick) and returns its value and the number of bytes it took.
///
/// Double and single quotes take Go's escapes; backticks take none. The value
/// must be UTF-8, because label sets hold text: `\xff` alone is rejected.
pub(crate) fn scan_quoted(s: &str) -> Result<(String, usize), String> {
    let quote = s.chars().next().ok_or("expected a quoted string")?;
    if quote == '`' {
        let end = s[1..].find('`').ok_or("unterminated raw string")?;
        return Ok((s[1..1 + end].to_owned(), end + 2));
    }
    if quote != '"' && quote != '\'' {
        return Err(format!("expected a quoted string, found {:?}", quote));
    }
    let mut out: Vec<u8> = Vec::new();
    let mut chars = s.char_indices().skip(1);
    while let Some((i, c)) = chars.next() {
        if c == quote {
            let value = String::from_utf8(out).map_err(|_| "quoted string is not valid UTF-8 after unescaping".to_owned())?;
            return Ok((value, i + 1));
        }
        if c != '\\' {
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            continue;
        }
        let (_, e) = chars.next().ok_or("unterminated escape sequence")?;
        let simple = match e {
            'a' => Some(0x07),
            'b' => Some(0x08),
            'f' => Some(0x0c),
            'n' => Some(b'\n'),
            'r' => Some(b'\r'),
            't' => Some(b'\t'),
            'v' => Some(0x0b),
            '\\' => Some(b'\\'),
            c if c == quote => Some(c as u8),
            _ => None,
        };
        if let Some(byte) = simple {
            out.push(byte);
            continue;
        }
        // Numeric escapes: a fixed number of digits in a fixed base.
        let (digits, radix, is_byte) = match e {
            'x' => (2, 16, true),
            'u' => (4, 16, false),
            'U' => (8, 16, false),
            '0'..='7' => (2, 8, true),
            other => return Err(format!("unknown escape sequence \\{other}")),
        };
        let mut v: u32 = if radix == 8 { e.to_digit(8).unwrap_or(0) } else { 0 };
        for _ in 0..digits {
            let (_, d) = chars.next().ok_or("unterminated escape sequence")?;
            let d = d.to_digit(radix).ok_or_else(|| format!("invalid character {d:?} in escape sequence"))?;
            v = v * radix + d;
        }
        if is_byte {
            let byte = u8::try_from(v).map_err(|_| format!("octal escape value {v} > 255"))?;
            out.push(byte);
        } else {
            let c = char::from_u32(v).ok_or_else(|| format!("escape sequence is an invalid Unicode code point: {v:#x}"))?;
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        }
    }
    Err("unterminated quoted string".into())
}

/// Reads a number at the start of `s` in the notation of value sequences:
/// an optionally signed decimal with optional fraction and exponent, or
/// `Inf`/`NaN` in any case. Returns the value and the bytes it took, or `None`
/// when `s` does not start with a number.
///
/// Hexadecimal is deliberately absent: in `0x10` the `x` is the repeat marker.
pub(crate) fn scan_number(s: &str) -> Option<(f64, usize)> {
    let b = s.as_bytes();
    let mut pos = 0;
    let negative = b.first() == Some(&b'-');
    if matches!(b.first(), Some(b'+' | b'-')) {
        pos = 1;
    }
    let word = s.get(pos..pos + 3).map(str::to_ascii_lowercase);
    match word.as_deref() {
        Some("inf") => return Some((if negative { f64::NEG_INFINITY } else { f64::INFINITY }, pos + 3)),
        Some("nan") => return Some((f64::NAN, pos + 3)),
        _ => {}
    }
    let mut mantissa_digits = 0;
    while pos < b.len() && b[pos].is_ascii_digit() {
        pos += 1;
        mantissa_digits += 1;
    }
    if pos < b.len() && b[pos] == b'.' {
        pos += 1;
        while pos < b.len() && b[pos].is_ascii_digit() {
            pos += 1;
            mantissa_digits += 1;
        }
    }
    if mantissa_digits == 0 {
        return None;
    }
    // An exponent only counts when digits follow it; otherwise the `e` is
    // left for the caller to reject.
    if pos < b.len() && (b[pos] == b'e' || b[pos] == b'E') {
        let mut p = pos + 1;
        if p < b.len() && (b[p] == b'+' || b[p] == b'-') {
            p += 1;
        }
        let digits_start = p;
        while p < b.len() && b[p].is_ascii_digit() {
            p += 1;
        }
        if p > digits_start {
            pos = p;
        }
    }
    s[..pos].parse::<f64>().ok().map(|v| (v, pos))
}

/// Parses all of `s` as a number of the value-sequence notation.
pub(crate) fn parse_number(s: &str) -> Option<f64> {
    match scan_number(s) {
        Some((v, n)) if n == s.len() => Some(v),
        _ => None,
    }
}

/// Parses a whole expectation line as a scalar, the way the upstream harness
/// tries it first: a float (including `Inf`/`Infinity`/`NaN`) or, failing
/// that, an integer with a base prefix (`0x10`, `0o17`, `0b101`).
pub(crate) fn parse_scalar_literal(s: &str) -> Option<f64> {
    if let Some(v) = parse_number(s) {
        return Some(v);
    }
    let (negative, rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let lower = rest.to_ascii_lowercase();
    if lower == "infinity" {
        return Some(if negative { f64::NEG_INFINITY } else { f64::INFINITY });
    }
    let (radix, digits) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d)
    } else {
        return None;
    };
    // Go allows single `_` separators after the prefix and between digits.
    if digits.is_empty() || digits.ends_with('_') || digits.contains("__") {
        return None;
    }
    let clean: String = digits.chars().filter(|&c| c != '_').collect();
    let v = i64::from_str_radix(&clean, radix).ok()?;
    Some(if negative { -(v as f64) } else { v as f64 })
}

/// Splits off the first whitespace-delimited word; the rest has its leading
/// whitespace removed.
pub(crate) fn split_word(s: &str) -> (&str, &str) {
    let s = s.trim_start();
    match s.find(char::is_whitespace) {
        Some(i) => (&s[..i], s[i..].trim_start()),
        None => (s, ""),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ms("0"), Ok(0));
        assert_eq!(parse_duration_ms("1m"), Ok(60_000));
        assert_eq!(parse_duration_ms("5m30s"), Ok(330_000));
        assert_eq!(parse_duration_ms("1h"), Ok(3_600_000));
        assert_eq!(parse_duration_ms("10s"), Ok(10_000));
        assert_eq!(parse_duration_ms("1d"), Ok(86_400_000));
        assert_eq!(parse_duration_ms("10s53ms"), Ok(10_053));
        assert_eq!(parse_duration_ms("1y1w"), Ok(372 * 86_400_000));
        assert_eq!(parse_duration_ms("0ms"), Ok(0));
        assert_eq!(parse_duration_ms("1h30m"), Ok(5_400_000));
        for bad in ["", "1", "1.5m", "-1m", "30s1m", "1m1m", "1x", "m", "1mss", " 1m"] {
            assert!(parse_duration_ms(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn quoted_strings() {
        assert_eq!(scan_quoted(r#""a\"b" rest"#), Ok(("a\"b".to_owned(), 6)));
        assert_eq!(scan_quoted(r#""\\\n\t\a""#).unwrap().0, "\\\n\t\u{7}");
        assert_eq!(scan_quoted(r#""\x41\u00e9\U0001F600\101""#).unwrap().0, "Aé😀A");
        assert_eq!(scan_quoted(r"'it\'s'").unwrap().0, "it's");
        assert_eq!(scan_quoted(r#"'say "hi"'"#).unwrap().0, "say \"hi\"");
        assert_eq!(scan_quoted(r"`a\nb`").unwrap(), (r"a\nb".to_owned(), 6));
        // \xc3\xa9 is é in UTF-8, so byte escapes can build text.
        assert_eq!(scan_quoted(r#""\xc3\xa9""#).unwrap().0, "é");
        assert!(scan_quoted(r#""\xff""#).is_err());
        assert!(scan_quoted(r#""\q""#).is_err());
        assert!(scan_quoted(r#""\'""#).is_err());
        assert!(scan_quoted(r#""\777""#).is_err());
        assert!(scan_quoted(r#""\ud800""#).is_err());
        assert!(scan_quoted(r#""open"#).is_err());
        assert!(scan_quoted("`open").is_err());
    }

    #[test]
    fn numbers() {
        assert_eq!(scan_number("1+2x3"), Some((1.0, 1)));
        assert_eq!(scan_number("-2.5e-3x1"), Some((-0.0025, 7)));
        assert_eq!(scan_number(".5"), Some((0.5, 2)));
        assert_eq!(scan_number("12.34e+6"), Some((12_340_000.0, 8)));
        assert_eq!(scan_number("+Inf"), Some((f64::INFINITY, 4)));
        assert_eq!(scan_number("-inf"), Some((f64::NEG_INFINITY, 4)));
        assert!(scan_number("NaN").unwrap().0.is_nan());
        assert_eq!(scan_number("1ex2"), Some((1.0, 1)));
        assert_eq!(scan_number("0x10"), Some((0.0, 1)));
        assert_eq!(scan_number("x"), None);
        assert_eq!(scan_number("-"), None);
        assert_eq!(scan_number("."), None);
        assert_eq!(parse_number("1.78264E+219"), Some(1.78264e219));
        assert_eq!(parse_number("1e"), None);
    }

    #[test]
    fn scalar_literals() {
        assert_eq!(parse_scalar_literal("3"), Some(3.0));
        assert_eq!(parse_scalar_literal("-0.5"), Some(-0.5));
        assert_eq!(parse_scalar_literal("+Inf"), Some(f64::INFINITY));
        assert_eq!(parse_scalar_literal("-Infinity"), Some(f64::NEG_INFINITY));
        assert!(parse_scalar_literal("NaN").unwrap().is_nan());
        assert_eq!(parse_scalar_literal("1e3"), Some(1000.0));
        assert_eq!(parse_scalar_literal("0x10"), Some(16.0));
        assert_eq!(parse_scalar_literal("-0x10"), Some(-16.0));
        assert_eq!(parse_scalar_literal("0o17"), Some(15.0));
        assert_eq!(parse_scalar_literal("0b101"), Some(5.0));
        assert_eq!(parse_scalar_literal("0x1_0"), Some(16.0));
        for not in ["{} 1", "metric 1", "1 2", "0x", "0xg", "x", "Inf 1", ""] {
            assert_eq!(parse_scalar_literal(not), None, "{not:?}");
        }
    }

    #[test]
    fn words() {
        assert_eq!(split_word("  eval  instant at 5m"), ("eval", "instant at 5m"));
        assert_eq!(split_word("clear"), ("clear", ""));
        assert_eq!(split_word(""), ("", ""));
    }
}
