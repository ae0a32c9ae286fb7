//! Series descriptions: the metric part (`name{label="value"}`) and the value
//! sequences after it, expanded into one [`Point`] per step, plus the offset
//! sequences of `@st` lines.

use model::Labels;
use model::labels::METRIC_NAME;

use super::Point;
use super::histogram::{self, CombineError, HistogramSpec};
use super::lex::{parse_duration_ms, scan_number, scan_quoted};

/// A guard against a typo like `0+1x100000000000` exhausting memory: no
/// script needs anywhere near this many points from one item.
const MAX_REPEAT: u64 = 10_000_000;

fn is_name_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c == b':'
}

fn is_name_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b':'
}

fn is_label_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_'
}

fn is_label_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// Parses the metric at the start of `s` and returns its label set and the
/// unparsed rest (the value sequence, or `@st ...`).
pub(crate) fn parse_metric(s: &str) -> Result<(Labels, &str), String> {
    let b = s.as_bytes();
    let mut pairs: Vec<(String, String)> = Vec::new();
    let mut name: Option<String> = None;
    let mut pos = 0;
    if b.first().copied().is_some_and(is_name_start) {
        while pos < b.len() && is_name_char(b[pos]) {
            pos += 1;
        }
        name = Some(s[..pos].to_owned());
    }
    // Whitespace may separate a name from its braces, but `{{` starts a
    // histogram value, not labels.
    let after_ws = pos + s[pos..].len() - s[pos..].trim_start().len();
    let braces = s[after_ws..].starts_with('{') && !s[after_ws..].starts_with("{{");
    if braces {
        pos = parse_label_block(s, after_ws + 1, &mut name, &mut pairs)?;
    } else if name.is_none() {
        return Err(format!("expected a metric name or '{{' at {:?}", truncate(s)));
    }
    if let Some(n) = name {
        pairs.push((METRIC_NAME.to_owned(), n));
    }
    let mut names: Vec<&str> = pairs.iter().map(|(n, _)| n.as_str()).collect();
    names.sort_unstable();
    if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
        return Err(format!("label {:?} given twice", w[0]));
    }
    Ok((Labels::from_pairs(pairs), &s[pos..]))
}

/// Parses `label="value", ...}` starting at byte `pos` (just after the `{`)
/// and returns the position after the closing brace. A quoted string not
/// followed by `=` is the metric name.
fn parse_label_block(s: &str, mut pos: usize, name: &mut Option<String>, pairs: &mut Vec<(String, String)>) -> Result<usize, String> {
    let b = s.as_bytes();
    let skip_ws = |mut p: usize| {
        while p < b.len() && (b[p] == b' ' || b[p] == b'\t') {
            p += 1;
        }
        p
    };
    loop {
        pos = skip_ws(pos);
        match b.get(pos) {
            None => return Err("unterminated label set: missing '}'".into()),
            Some(b'}') => return Ok(pos + 1),
            _ => {}
        }
        let label: String;
        match b[pos] {
            b'"' | b'\'' | b'`' => {
                let (text, n) = scan_quoted(&s[pos..])?;
                pos = skip_ws(pos + n);
                if b.get(pos) != Some(&b'=') {
                    if name.is_some() {
                        return Err(format!("metric name given twice (quoted name {text:?})"));
                    }
                    *name = Some(text);
                    pos = after_separator(s, pos)?;
                    continue;
                }
                label = text;
            }
            c if is_label_start(c) => {
                let start = pos;
                while pos < b.len() && is_label_char(b[pos]) {
                    pos += 1;
                }
                label = s[start..pos].to_owned();
                pos = skip_ws(pos);
            }
            _ => return Err(format!("unexpected character in label set at {:?}", truncate(&s[pos..]))),
        }
        if b.get(pos) != Some(&b'=') {
            return Err(format!("expected '=' after label name {label:?}"));
        }
        pos = skip_ws(pos + 1);
        if !matches!(b.get(pos), Some(b'"' | b'\'' | b'`')) {
            return Err(format!("expected a quoted value for label {label:?}"));
        }
        let (value, n) = scan_quoted(&s[pos..])?;
        pairs.push((label, value));
        pos = after_separator(s, pos + n)?;
    }
}

/// After a label or a quoted name: a comma (a trailing one is fine) or the
/// closing brace, which is left for the caller.
fn after_separator(s: &str, pos: usize) -> Result<usize, String> {
    let rest = &s[pos..];
    let trimmed = rest.trim_start();
    let pos = pos + rest.len() - trimmed.len();
    match trimmed.as_bytes().first() {
        Some(b',') => Ok(pos + 1),
        Some(b'}') => Ok(pos),
        None => Err("unterminated label set: missing '}'".into()),
        Some(_) => Err(format!("expected ',' or '}}' in label set at {:?}", truncate(trimmed))),
    }
}

fn truncate(s: &str) -> &str {
    match s.char_indices().nth(40) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

fn parse_repeat(s: &str) -> Result<u64, String> {
    if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
        return Err(format!("invalid repetition count {s:?}"));
    }
    match s.parse::<u64>() {
        Ok(n) if n <= MAX_REPEAT => Ok(n),
        _ => Err(format!("repetition count {s} is too large")),
    }
}

/// Expands a value sequence into one point per step.
pub(crate) fn parse_values(s: &str) -> Result<Vec<Point>, String> {
    let mut out = Vec::new();
    let mut rest = s.trim_start();
    while !rest.is_empty() {
        let consumed = if rest.starts_with("{{") { histogram_item(rest, &mut out)? } else { float_item(rest, &mut out)? };
        let after = &rest[consumed..];
        if !after.is_empty() && !after.starts_with([' ', '\t']) {
            return Err(format!("values must be separated by whitespace at {:?}", truncate(after)));
        }
        rest = after.trim_start();
    }
    Ok(out)
}

fn float_item(s: &str, out: &mut Vec<Point>) -> Result<usize, String> {
    let len = s.find([' ', '\t']).unwrap_or(s.len());
    let item = &s[..len];
    if item == "_" {
        out.push(Point::Missing);
        return Ok(len);
    }
    if let Some(n) = item.strip_prefix("_x") {
        out.extend((0..parse_repeat(n)?).map(|_| Point::Missing));
        return Ok(len);
    }
    if item.eq_ignore_ascii_case("stale") {
        out.push(Point::Stale);
        return Ok(len);
    }
    let (start, n) = scan_number(item).ok_or_else(|| format!("invalid value {item:?}"))?;
    let tail = &item[n..];
    if tail.is_empty() {
        out.push(Point::Float(start));
    } else if let Some(times) = tail.strip_prefix('x') {
        out.extend((0..=parse_repeat(times)?).map(|_| Point::Float(start)));
    } else if let Some(op) = tail.strip_prefix(['+', '-']) {
        let subtract = tail.starts_with('-');
        // The step is unsigned: the sign before it is the operator.
        let (step, m) = match scan_number(op) {
            Some(found) if !op.starts_with(['+', '-']) => found,
            _ => return Err(format!("invalid step in {item:?}")),
        };
        let times = op[m..].strip_prefix('x').ok_or_else(|| format!("expected 'x<count>' after the step in {item:?}"))?;
        let times = parse_repeat(times)?;
        // Repeated addition, not multiplication, so that results carry the
        // same rounding as upstream's expansion.
        let mut v = start;
        out.push(Point::Float(v));
        for _ in 0..times {
            v = if subtract { v - step } else { v + step };
            out.push(Point::Float(v));
        }
    } else {
        return Err(format!("invalid value {item:?}"));
    }
    Ok(len)
}

/// Finds the `{{...}}` at the start of `s`: its inner text and total length.
fn scan_histogram(s: &str) -> Result<(&str, usize), String> {
    let end = s.find("}}").ok_or_else(|| format!("unterminated histogram {:?}", truncate(s)))?;
    Ok((&s[2..end], end + 2))
}

fn histogram_item(s: &str, out: &mut Vec<Point>) -> Result<usize, String> {
    let (inner, mut len) = scan_histogram(s)?;
    let first = histogram::parse_histogram(inner)?;
    let tail = &s[len..];
    if let Some(times) = tail.strip_prefix('x') {
        let n_len = times.find(|c: char| !c.is_ascii_digit()).unwrap_or(times.len());
        let times = parse_repeat(&times[..n_len])?;
        len += 1 + n_len;
        out.extend((0..=times).map(|_| Point::Histogram(Box::new(first.clone()))));
        return Ok(len);
    }
    let subtract = tail.starts_with("-{{");
    if !(tail.starts_with("+{{") || subtract) {
        out.push(Point::Histogram(Box::new(first)));
        return Ok(len);
    }
    let (inner_b, len_b) = scan_histogram(&tail[1..])?;
    let increment = histogram::parse_histogram(inner_b)?;
    len += 1 + len_b;
    let times = s[len..].strip_prefix('x').ok_or("expected 'x<count>' after {{A}}+{{B}}")?;
    let n_len = times.find(|c: char| !c.is_ascii_digit()).unwrap_or(times.len());
    let count = parse_repeat(&times[..n_len])?;
    len += 1 + n_len;

    let mut values: Vec<HistogramSpec> = Vec::new();
    let mut running = first;
    let mut unsupported = None;
    for _ in 0..count {
        match histogram::combine(&running, &increment, subtract) {
            Ok(next) => values.push(std::mem::replace(&mut running, next)),
            Err(CombineError::Invalid(msg)) => return Err(msg),
            Err(CombineError::Unsupported(reason)) => {
                unsupported = Some(reason);
                break;
            }
        }
    }
    match unsupported {
        // Keep the step count right so later values stay at their times.
        Some(reason) => out.extend((0..=count).map(|_| Point::Unsupported { raw: s[..len].to_owned(), reason: reason.clone() })),
        None => {
            values.push(running);
            out.extend(values.into_iter().map(|h| Point::Histogram(Box::new(h))));
        }
    }
    Ok(len)
}

/// Reads an optionally signed duration at the start of `s` (`-30s`, `+1m`,
/// `0`, `-0ms`) and returns it in milliseconds with the bytes it took.
fn scan_offset(s: &str, signed: bool) -> Result<(i64, usize), String> {
    let b = s.as_bytes();
    let mut pos = 0;
    let negative = signed && b.first() == Some(&b'-');
    if signed && matches!(b.first(), Some(b'+' | b'-')) {
        pos = 1;
    }
    let start = pos;
    while pos < b.len() && (b[pos].is_ascii_digit() || b"ywdhms".contains(&b[pos])) {
        pos += 1;
    }
    let ms = parse_duration_ms(&s[start..pos])?;
    Ok((if negative { -ms } else { ms }, pos))
}

/// Expands the items of an `@st` line into one optional offset (in ms,
/// relative to the sample's own timestamp) per position.
pub(crate) fn parse_start_offsets(s: &str) -> Result<Vec<Option<i64>>, String> {
    let mut out = Vec::new();
    for item in s.split_whitespace() {
        if item == "_" {
            out.push(None);
            continue;
        }
        if let Some(n) = item.strip_prefix("_x") {
            out.extend((0..parse_repeat(n)?).map(|_| None));
            continue;
        }
        let bad = |e: String| format!("invalid start-timestamp item {item:?}: {e}");
        let (first, n) = scan_offset(item, true).map_err(bad)?;
        let tail = &item[n..];
        if tail.is_empty() {
            out.push(Some(first));
        } else if let Some(times) = tail.strip_prefix('x') {
            out.extend((0..=parse_repeat(times)?).map(|_| Some(first)));
        } else if let Some(op) = tail.strip_prefix(['+', '-']) {
            let sign = if tail.starts_with('-') { -1 } else { 1 };
            let (step, m) = scan_offset(op, false).map_err(bad)?;
            let times = op[m..].strip_prefix('x').ok_or_else(|| bad("expected 'x<count>' after the step".into()))?;
            let mut v = first;
            out.push(Some(v));
            for _ in 0..parse_repeat(times)? {
                v = v.checked_add(sign * step).ok_or_else(|| bad("offset out of range".into()))?;
                out.push(Some(v));
            }
        } else {
            return Err(bad("unexpected text after the offset".into()));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::promqltest::script::histogram::Buckets;

    fn floats(s: &str) -> Vec<f64> {
        parse_values(s)
            .unwrap()
            .into_iter()
            .map(|p| match p {
                Point::Float(v) => v,
                other => panic!("not a float: {other:?}"),
            })
            .collect()
    }

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        Labels::from_pairs(pairs.iter().copied())
    }

    #[test]
    fn metric_forms() {
        let (l, rest) = parse_metric(r#"http_requests{job="api", instance="0"}  0+10x5"#).unwrap();
        assert_eq!(l, labels(&[("__name__", "http_requests"), ("job", "api"), ("instance", "0")]));
        assert_eq!(rest, "  0+10x5");
        assert_eq!(parse_metric("other_metric 1 2").unwrap(), (labels(&[("__name__", "other_metric")]), " 1 2"));
        assert_eq!(parse_metric(r#"{label="value"} 1"#).unwrap().0, labels(&[("label", "value")]));
        assert_eq!(parse_metric("{} 1").unwrap(), (Labels::empty(), " 1"));
        assert_eq!(parse_metric(r#"{__name__="m", a="b",} 1"#).unwrap().0, labels(&[("__name__", "m"), ("a", "b")]));
        assert_eq!(
            parse_metric(r#"{"name.with.dots", "a.b"="c", label='v'}"#).unwrap().0,
            labels(&[("__name__", "name.with.dots"), ("a.b", "c"), ("label", "v")])
        );
        assert_eq!(parse_metric(r#"{"my.metric"}"#).unwrap().0, labels(&[("__name__", "my.metric")]));
        assert_eq!(parse_metric("ns:sub:metric{a=`x\\y`} 1").unwrap().0, labels(&[("__name__", "ns:sub:metric"), ("a", "x\\y")]));
        assert_eq!(parse_metric(r#"sum{by="offset"} 1"#).unwrap().0, labels(&[("__name__", "sum"), ("by", "offset")]));
        assert_eq!(parse_metric(r#"m {a="b"} 1"#).unwrap(), (labels(&[("__name__", "m"), ("a", "b")]), " 1"));
        assert_eq!(parse_metric(r#"m{a="\"q\"\n\u00e9\x41\101"}"#).unwrap().0, labels(&[("__name__", "m"), ("a", "\"q\"\néAA")]));
        // Label order is irrelevant, and empty values mean no label.
        assert_eq!(parse_metric(r#"{b="2",a="1",c=""}"#).unwrap().0, labels(&[("a", "1"), ("b", "2")]));
        // A histogram right after a bare name is a value, not a label set.
        assert_eq!(parse_metric("m {{}}").unwrap(), (labels(&[("__name__", "m")]), " {{}}"));
        assert_eq!(parse_metric("series@st _ 1").unwrap(), (labels(&[("__name__", "series")]), "@st _ 1"));
    }

    #[test]
    fn metric_errors() {
        for bad in [
            "1 2",
            r#"{a="b" 1"#,
            r#"{a=b} 1"#,
            r#"{a="b" c="d"}"#,
            r#"m{"x"} 1"#,
            r#"{"x", "y"}"#,
            r#"m{__name__="n"}"#,
            r#"{a="1", a="2"}"#,
            r#"{a="\xff"}"#,
            r#"{1a="b"}"#,
            "{",
        ] {
            assert!(parse_metric(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn value_sequences() {
        assert_eq!(floats("1+2x3"), vec![1.0, 3.0, 5.0, 7.0]);
        assert_eq!(floats("1-1x2"), vec![1.0, 0.0, -1.0]);
        assert_eq!(floats("1-1x3"), vec![1.0, 0.0, -1.0, -2.0]);
        assert_eq!(floats("-2+1x3"), vec![-2.0, -1.0, 0.0, 1.0]);
        assert_eq!(floats("1x2"), vec![1.0, 1.0, 1.0]);
        assert_eq!(floats("5x0"), vec![5.0]);
        assert_eq!(floats("5+1x0"), vec![5.0]);
        assert_eq!(floats("1 2\t3"), vec![1.0, 2.0, 3.0]);
        assert_eq!(floats(".5 1e-3 12.34e+6 -2.5 +3"), vec![0.5, 0.001, 12_340_000.0, -2.5, 3.0]);
        assert_eq!(floats("1e1+1e0x2"), vec![10.0, 11.0, 12.0]);
        assert_eq!(floats("Inf -Inf +inf"), vec![f64::INFINITY, f64::NEG_INFINITY, f64::INFINITY]);
        assert_eq!(floats("-Infx1"), vec![f64::NEG_INFINITY; 2]);
        // `0x10` is zero repeated, never hexadecimal.
        assert_eq!(floats("0x10"), vec![0.0; 11]);
        let nan = floats("NaN nan");
        assert!(nan.iter().all(|v| v.is_nan()));
        assert_eq!(floats(""), Vec::<f64>::new());
    }

    #[test]
    fn repeated_addition_is_not_multiplication() {
        let got = floats("0+0.1x10");
        let mut v = 0.0;
        let mut want = vec![v];
        for _ in 0..10 {
            v += 0.1;
            want.push(v);
        }
        assert_eq!(got, want);
        // 0.1 added ten times is not 1.0, which multiplication would give.
        assert_ne!(got[10], 1.0);
    }

    #[test]
    fn missing_and_stale() {
        let p = parse_values("_ _x3 _x0 stale 7").unwrap();
        assert_eq!(p.len(), 6);
        assert!(p[..4].iter().all(|p| matches!(p, Point::Missing)));
        assert!(matches!(p[4], Point::Stale));
        assert!(model::value::is_stale_nan(p[4].float_value().unwrap()));
        assert!(matches!(p[5], Point::Float(7.0)));
    }

    #[test]
    fn value_errors() {
        for bad in
            ["1+", "1+2", "1+2x", "1+-2x3", "1++2x3", "1x", "1xa", "_x", "_1", "a", "1,2", "0x", "1x2x3", "stalex2", "1+2x3foo", "{{}}{{}}", "{{", "{{}}+{{}}"]
        {
            assert!(parse_values(bad).is_err(), "{bad:?}");
        }
        assert!(parse_values("1x99999999999").is_err());
    }

    #[test]
    fn histogram_sequences() {
        let p = parse_values("{{schema:0 sum:1 count:1}}x2 {{}} 3").unwrap();
        assert_eq!(p.len(), 5);
        for h in &p[..3] {
            let Point::Histogram(h) = h else { panic!("{h:?}") };
            assert_eq!((h.schema, h.sum, h.count), (0, 1.0, 1.0));
        }
        assert!(matches!(&p[3], Point::Histogram(h) if **h == HistogramSpec::default()));
        assert!(matches!(p[4], Point::Float(3.0)));

        let p = parse_values("{{sum:2 count:2 buckets:[1]}}+{{sum:3 count:3 buckets:[0 1]}}x2").unwrap();
        let got: Vec<(f64, f64, Buckets)> = p
            .iter()
            .map(|p| match p {
                Point::Histogram(h) => (h.sum, h.count, h.positive.clone()),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (2.0, 2.0, Buckets { offset: 0, counts: vec![1.0] }),
                (5.0, 5.0, Buckets { offset: 0, counts: vec![1.0, 1.0] }),
                (8.0, 8.0, Buckets { offset: 0, counts: vec![1.0, 2.0] }),
            ]
        );

        let p = parse_values("{{sum:10 count:10}}-{{sum:3 count:1}}x1").unwrap();
        assert!(matches!(&p[1], Point::Histogram(h) if h.sum == 7.0 && h.count == 9.0));

        // Different custom bounds would need an intersection: kept raw, with
        // the right number of steps.
        let raw = "{{schema:-53 custom_values:[1] buckets:[1]}}+{{schema:-53 custom_values:[2] buckets:[1]}}x2";
        let p = parse_values(&format!("{raw} 5")).unwrap();
        assert_eq!(p.len(), 4);
        assert!(p[..3].iter().all(|p| matches!(p, Point::Unsupported { raw: r, .. } if r == raw)));
        assert!(matches!(p[3], Point::Float(5.0)));

        // A running histogram finer than the increment is an error.
        assert!(parse_values("{{schema:1}}+{{schema:0}}x1").is_err());
    }

    #[test]
    fn start_offsets() {
        assert_eq!(parse_start_offsets("_ _ -1m -1s").unwrap(), vec![None, None, Some(-60_000), Some(-1_000)]);
        assert_eq!(parse_start_offsets("_x2 0 +1m -0ms 1ms").unwrap(), vec![None, None, Some(0), Some(60_000), Some(0), Some(1)]);
        assert_eq!(parse_start_offsets("-1msx2").unwrap(), vec![Some(-1); 3]);
        assert_eq!(parse_start_offsets("-30s-1mx2").unwrap(), vec![Some(-30_000), Some(-90_000), Some(-150_000)]);
        assert_eq!(parse_start_offsets("0+1mx1").unwrap(), vec![Some(0), Some(60_000)]);
        assert_eq!(parse_start_offsets("-59999msx1").unwrap(), vec![Some(-59_999); 2]);
        for bad in ["1", "-1x", "-1m+x2", "-1m+-1mx2", "1.5s", "-1m-1m", "1m1h"] {
            assert!(parse_start_offsets(bad).is_err(), "{bad:?}");
        }
    }
}
