//! A label-matcher list such as `{job="node",instance=~"web-.*"}`, as the
//! targets metadata API takes in `match_target`. (Series selectors with a
//! metric name belong to the PromQL parser.)

use model::{MatchType, Matcher};

/// Parses `{a="x", b!~"y"}`; names may be quoted, values use Go's string
/// literal syntax (double quotes, single quotes or backquotes).
pub(crate) fn parse_matchers(input: &str) -> Result<Vec<Matcher>, String> {
    let mut p = P { s: input.as_bytes(), i: 0 };
    p.ws();
    p.expect(b'{')?;
    let mut out = Vec::new();
    loop {
        p.ws();
        if p.eat(b'}') {
            break;
        }
        let name = if p.peek() == Some(b'"') || p.peek() == Some(b'\'') || p.peek() == Some(b'`') { p.string()? } else { p.ident()? };
        p.ws();
        let op = if p.eat_str("=~") {
            MatchType::Regexp
        } else if p.eat_str("!~") {
            MatchType::NotRegexp
        } else if p.eat_str("!=") {
            MatchType::NotEqual
        } else if p.eat(b'=') {
            MatchType::Equal
        } else {
            return Err(p.err("expected a label matching operator"));
        };
        p.ws();
        let value = p.string()?;
        out.push(Matcher::new(op, name, value).map_err(|e| e.to_string())?);
        p.ws();
        if p.eat(b'}') {
            break;
        }
        p.expect(b',')?;
    }
    p.ws();
    if p.i != p.s.len() {
        return Err(p.err("unexpected characters after the selector"));
    }
    Ok(out)
}

struct P<'a> {
    s: &'a [u8],
    i: usize,
}

impl P<'_> {
    fn err(&self, what: &str) -> String {
        format!("1:{}: parse error: {what}", self.i + 1)
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn ws(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_whitespace()) {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            return true;
        }
        false
    }

    fn eat_str(&mut self, t: &str) -> bool {
        if self.s[self.i..].starts_with(t.as_bytes()) {
            self.i += t.len();
            return true;
        }
        false
    }

    fn expect(&mut self, c: u8) -> Result<(), String> {
        if self.eat(c) { Ok(()) } else { Err(self.err(&format!("expected {:?}", c as char))) }
    }

    fn ident(&mut self) -> Result<String, String> {
        let start = self.i;
        while self.peek().is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_') {
            self.i += 1;
        }
        if start == self.i || self.s[start].is_ascii_digit() {
            return Err(self.err("expected a label name"));
        }
        Ok(String::from_utf8_lossy(&self.s[start..self.i]).into_owned())
    }

    fn string(&mut self) -> Result<String, String> {
        let Some(q) = self.peek().filter(|c| matches!(c, b'"' | b'\'' | b'`')) else {
            return Err(self.err("expected a quoted string"));
        };
        self.i += 1;
        let mut out = Vec::new();
        loop {
            let Some(c) = self.peek() else { return Err(self.err("unterminated quoted string")) };
            self.i += 1;
            if c == q {
                break;
            }
            if c != b'\\' || q == b'`' {
                out.push(c);
                continue;
            }
            let Some(e) = self.peek() else { return Err(self.err("unterminated quoted string")) };
            self.i += 1;
            match e {
                b'n' => out.push(b'\n'),
                b't' => out.push(b'\t'),
                b'r' => out.push(b'\r'),
                b'a' => out.push(7),
                b'b' => out.push(8),
                b'f' => out.push(12),
                b'v' => out.push(11),
                b'\\' | b'"' | b'\'' => out.push(e),
                b'x' | b'u' | b'U' => {
                    let n = match e {
                        b'x' => 2,
                        b'u' => 4,
                        _ => 8,
                    };
                    let hex = self.s.get(self.i..self.i + n).ok_or_else(|| self.err("invalid escape"))?;
                    let v =
                        u32::from_str_radix(std::str::from_utf8(hex).map_err(|_| self.err("invalid escape"))?, 16).map_err(|_| self.err("invalid escape"))?;
                    self.i += n;
                    if e == b'x' {
                        out.push(v as u8);
                    } else {
                        let ch = char::from_u32(v).ok_or_else(|| self.err("invalid escape"))?;
                        out.extend_from_slice(ch.to_string().as_bytes());
                    }
                }
                _ => return Err(self.err("unknown escape sequence")),
            }
        }
        String::from_utf8(out).map_err(|_| self.err("invalid UTF-8 in string"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matcher_lists() {
        let ms = parse_matchers(r#"{job="node", instance=~"web-\\d+",  "odd name"!='x'}"#).unwrap();
        assert_eq!(ms.len(), 3);
        assert!(ms[0].matches("node") && !ms[0].matches("nodes"));
        assert!(ms[1].matches("web-12") && !ms[1].matches("web-x"));
        assert_eq!(ms[2].name, "odd name");
        assert!(parse_matchers("{}").unwrap().is_empty());
        assert!(parse_matchers(r#"{job="a",}"#).is_ok());
        assert!(parse_matchers(r#"{job="a""#).is_err());
        assert!(parse_matchers(r#"job="a""#).is_err());
        assert!(parse_matchers(r#"{job~"a"}"#).is_err());
    }
}
