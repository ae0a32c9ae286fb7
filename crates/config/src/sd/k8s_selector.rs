//! Syntax checks of Kubernetes field and label selectors, which Prometheus
//! runs (through client-go) when it loads `kubernetes_sd_configs[].selectors`.
//! Only validity matters here: the API server does the selecting.

/// Checks a field selector such as `metadata.name=x,status.phase!=Running`.
pub(crate) fn check_field_selector(selector: &str) -> Result<(), String> {
    let mut terms = split_terms(selector);
    // client-go sorts the terms first, so the first bad one in that order is
    // the one reported.
    terms.sort_unstable();
    for term in terms.into_iter().filter(|t| !t.is_empty()) {
        match split_term(term) {
            Some(value) => unescape_field_value(value)?,
            None => return Err(format!("invalid selector: '{selector}'; can't understand '{term}'")),
        }
    }
    Ok(())
}

/// Splits on commas that a backslash does not escape.
fn split_terms(selector: &str) -> Vec<&str> {
    if selector.is_empty() {
        return Vec::new();
    }
    let mut terms = Vec::new();
    let mut start = 0;
    let mut escaped = false;
    for (i, c) in selector.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == ',' {
            terms.push(&selector[start..i]);
            start = i + 1;
        }
    }
    terms.push(&selector[start..]);
    terms
}

/// The value after the first operator (`!=`, `==` or `=`, tried at each
/// position in that order).
fn split_term(term: &str) -> Option<&str> {
    term.char_indices().find_map(|(i, _)| ["!=", "==", "="].iter().find(|op| term[i..].starts_with(**op)).map(|op| &term[i + op.len()..]))
}

fn unescape_field_value(value: &str) -> Result<(), String> {
    let mut escaped = false;
    for c in value.chars() {
        if escaped {
            if !matches!(c, '\\' | ',' | '=') {
                return Err(format!("invalid field selector: invalid escape sequence: \\{c}"));
            }
            escaped = false;
            continue;
        }
        match c {
            '\\' => escaped = true,
            // Go formats the rune with %v, which prints its code point.
            ',' | '=' => return Err(format!("invalid field selector: unescaped character in value: {}", c as u32)),
            _ => {}
        }
    }
    if escaped {
        return Err("invalid field selector: invalid escape sequence: \\".into());
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    End,
    Error,
    ClosedPar,
    Comma,
    DoesNotExist,
    DoubleEquals,
    Equals,
    GreaterThan,
    Identifier,
    In,
    LessThan,
    NotEquals,
    NotIn,
    OpenPar,
}

fn symbol_token(s: &str) -> Option<Token> {
    Some(match s {
        ")" => Token::ClosedPar,
        "," => Token::Comma,
        "!" => Token::DoesNotExist,
        "==" => Token::DoubleEquals,
        "=" => Token::Equals,
        ">" => Token::GreaterThan,
        "<" => Token::LessThan,
        "!=" => Token::NotEquals,
        "(" => Token::OpenPar,
        _ => return None,
    })
}

fn is_special(b: u8) -> bool {
    matches!(b, b'=' | b'!' | b'(' | b')' | b',' | b'>' | b'<')
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn lex(input: &str) -> Vec<(Token, String)> {
    let bytes = input.as_bytes();
    let mut items = Vec::new();
    let mut pos = 0;
    loop {
        while pos < bytes.len() && is_space(bytes[pos]) {
            pos += 1;
        }
        if pos >= bytes.len() {
            items.push((Token::End, String::new()));
            return items;
        }
        if is_special(bytes[pos]) {
            // The longest run of symbols that still forms a token.
            let mut end = pos;
            let mut best = None;
            while end < bytes.len() && is_special(bytes[end]) {
                end += 1;
                match symbol_token(&input[pos..end]) {
                    Some(t) => best = Some((t, end)),
                    None if best.is_some() => break,
                    None => {}
                }
            }
            match best {
                Some((t, stop)) => {
                    items.push((t, input[pos..stop].to_owned()));
                    pos = stop;
                }
                None => {
                    items.push((Token::Error, format!("error expected: keyword found '{}'", &input[pos..end])));
                    pos = end;
                }
            }
        } else {
            let start = pos;
            while pos < bytes.len() && !is_space(bytes[pos]) && !is_special(bytes[pos]) {
                pos += 1;
            }
            let word = &input[start..pos];
            let token = match word {
                "in" => Token::In,
                "notin" => Token::NotIn,
                _ => Token::Identifier,
            };
            items.push((token, word.to_owned()));
        }
    }
}

/// Whether `in`/`notin` are keywords (operator position) or plain words.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Context {
    KeyAndOperator,
    Values,
}

struct Parser {
    items: Vec<(Token, String)>,
    pos: usize,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Exists,
    DoesNotExist,
    Exact,
    Set,
    Compare,
}

impl Parser {
    fn peek(&self, ctx: Context) -> (Token, String) {
        let (t, lit) = self.items.get(self.pos).cloned().unwrap_or((Token::End, String::new()));
        (Self::in_context(t, ctx), lit)
    }

    fn next(&mut self, ctx: Context) -> (Token, String) {
        let item = self.peek(ctx);
        self.pos += 1;
        item
    }

    fn in_context(t: Token, ctx: Context) -> Token {
        match t {
            Token::In | Token::NotIn if ctx == Context::Values => Token::Identifier,
            t => t,
        }
    }

    fn parse(&mut self) -> Result<(), String> {
        loop {
            let (t, lit) = self.peek(Context::Values);
            match t {
                Token::Identifier | Token::DoesNotExist => {
                    self.requirement().map_err(|e| format!("unable to parse requirement: {e}"))?;
                    let (t, lit) = self.next(Context::Values);
                    match t {
                        Token::End => return Ok(()),
                        Token::Comma => {
                            let (t2, lit2) = self.peek(Context::Values);
                            if t2 != Token::Identifier && t2 != Token::DoesNotExist {
                                return Err(format!("found '{lit2}', expected: identifier after ','"));
                            }
                        }
                        _ => return Err(format!("found '{lit}', expected: ',' or 'end of string'")),
                    }
                }
                Token::End => return Ok(()),
                _ => return Err(format!("found '{lit}', expected: !, identifier, or 'end of string'")),
            }
        }
    }

    fn requirement(&mut self) -> Result<(), String> {
        let mut op = None;
        let (mut t, mut key) = self.next(Context::Values);
        if t == Token::DoesNotExist {
            op = Some(Op::DoesNotExist);
            (t, key) = self.next(Context::Values);
        }
        if t != Token::Identifier {
            return Err(format!("found '{key}', expected: identifier"));
        }
        check_key(&key)?;
        // `!key` never takes an operator: whatever follows it is left for
        // the caller, which expects a comma or the end.
        let (next, _) = self.peek(Context::Values);
        if op.is_some() || next == Token::End || next == Token::Comma {
            return check_values(&key, op.unwrap_or(Op::Exists), &[]);
        }
        let (t, lit) = self.next(Context::KeyAndOperator);
        let op = match t {
            Token::In | Token::NotIn => Op::Set,
            Token::Equals | Token::DoubleEquals | Token::NotEquals => Op::Exact,
            Token::GreaterThan | Token::LessThan => Op::Compare,
            _ => return Err(operator_error(&lit)),
        };
        let values = if op == Op::Set { self.set_values()? } else { self.exact_value()? };
        check_values(&key, op, &values)
    }

    fn set_values(&mut self) -> Result<Vec<String>, String> {
        let (t, lit) = self.next(Context::Values);
        if t != Token::OpenPar {
            return Err(format!("found '{lit}' expected: '('"));
        }
        let (t, lit) = self.peek(Context::Values);
        match t {
            Token::Identifier | Token::Comma => {
                let values = self.identifiers()?;
                let (t, _) = self.next(Context::Values);
                if t != Token::ClosedPar {
                    return Err(format!("found '{lit}', expected: ')'"));
                }
                Ok(values)
            }
            Token::ClosedPar => {
                self.next(Context::Values);
                Ok(vec![String::new()])
            }
            _ => Err(format!("found '{lit}', expected: ',', ')' or identifier")),
        }
    }

    fn identifiers(&mut self) -> Result<Vec<String>, String> {
        let mut values: Vec<String> = Vec::new();
        loop {
            let (t, lit) = self.next(Context::Values);
            match t {
                Token::Identifier => {
                    values.push(lit);
                    let (t2, lit2) = self.peek(Context::Values);
                    match t2 {
                        Token::Comma => continue,
                        Token::ClosedPar => return Ok(values),
                        _ => return Err(format!("found '{lit2}', expected: ',' or ')'")),
                    }
                }
                Token::Comma => {
                    if values.is_empty() {
                        values.push(String::new());
                    }
                    let (t2, _) = self.peek(Context::Values);
                    if t2 == Token::ClosedPar {
                        values.push(String::new());
                        return Ok(values);
                    }
                    if t2 == Token::Comma {
                        self.next(Context::Values);
                        values.push(String::new());
                    }
                }
                _ => return Err(format!("found '{lit}', expected: ',', or identifier")),
            }
        }
    }

    fn exact_value(&mut self) -> Result<Vec<String>, String> {
        let (t, _) = self.peek(Context::Values);
        if t == Token::End || t == Token::Comma {
            return Ok(vec![String::new()]);
        }
        let (t, lit) = self.next(Context::Values);
        if t == Token::Identifier {
            return Ok(vec![lit]);
        }
        Err(format!("found '{lit}', expected: identifier"))
    }
}

fn operator_error(lit: &str) -> String {
    format!("found '{lit}', expected: in, notin, =, ==, !=, gt, lt")
}

const NAME_FORMAT: &str = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";

/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`
fn is_name(s: &str) -> bool {
    let b = s.as_bytes();
    match (b.first(), b.last()) {
        (Some(f), Some(l)) => {
            f.is_ascii_alphanumeric() && l.is_ascii_alphanumeric() && b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        }
        _ => false,
    }
}

/// A lowercase RFC 1123 subdomain of at most 253 characters.
fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= 253
        && s.split('.').all(|label| {
            let b = label.as_bytes();
            !b.is_empty()
                && b[0].is_ascii_alphanumeric()
                && b[b.len() - 1].is_ascii_alphanumeric()
                && b.iter().all(|c| c.is_ascii_digit() || c.is_ascii_lowercase() || *c == b'-')
        })
}

fn name_regex_error(what: &str) -> String {
    format!(
        "{what}must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character \
         (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '{NAME_FORMAT}')"
    )
}

fn check_key(key: &str) -> Result<(), String> {
    let parts: Vec<&str> = key.split('/').collect();
    let mut errs = Vec::new();
    let name = match parts.as_slice() {
        [name] => *name,
        [prefix, name] => {
            if prefix.is_empty() {
                errs.push("prefix part must be non-empty".to_owned());
            } else if !is_dns_subdomain(prefix) {
                errs.push("prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character".to_owned());
            }
            *name
        }
        _ => {
            errs.push(format!("a qualified name {} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')", name_regex_error("")));
            ""
        }
    };
    if parts.len() <= 2 {
        if name.is_empty() {
            errs.push("name part must be non-empty".into());
        } else if name.len() > 63 {
            errs.push("name part must be no more than 63 characters".into());
        }
        if !is_name(name) {
            errs.push(name_regex_error("name part "));
        }
    }
    if errs.is_empty() {
        return Ok(());
    }
    Err(format!("key: Invalid value: {}: {}", super::quote(key), errs.join("; ")))
}

fn check_values(key: &str, op: Op, values: &[String]) -> Result<(), String> {
    if op == Op::Compare {
        for (i, v) in values.iter().enumerate() {
            if v.parse::<i64>().is_err() {
                return Err(format!("values[{i}]: Invalid value: {}: for 'Gt', 'Lt' operators, the value must be an integer", super::quote(v)));
            }
        }
    }
    for (i, v) in values.iter().enumerate() {
        let why = if v.len() > 63 {
            Some("must be no more than 63 characters".to_owned())
        } else if !v.is_empty() && !is_name(v) {
            Some(format!(
                "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character \
                 (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '({NAME_FORMAT})?')"
            ))
        } else {
            None
        };
        if let Some(why) = why {
            return Err(format!("values[{i}][{key}]: Invalid value: {}: {why}", super::quote(v)));
        }
    }
    Ok(())
}

/// Checks a label selector such as `app=web,tier in (a, b),!canary`.
pub(crate) fn check_label_selector(selector: &str) -> Result<(), String> {
    Parser { items: lex(selector), pos: 0 }.parse()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_selectors() {
        for ok in ["", "metadata.status=Running", "a==b,c!=d", "spec.nodeName=", r"a=x\,y"] {
            assert!(check_field_selector(ok).is_ok(), "{ok}");
        }
        assert_eq!(
            check_field_selector("metadata.status-Running").unwrap_err(),
            "invalid selector: 'metadata.status-Running'; can't understand 'metadata.status-Running'"
        );
        assert_eq!(check_field_selector("a=b=c").unwrap_err(), "invalid field selector: unescaped character in value: 61");
        assert_eq!(check_field_selector(r"a=b\x").unwrap_err(), r"invalid field selector: invalid escape sequence: \x");
    }

    #[test]
    fn label_selectors() {
        for ok in ["", "foo=bar", "foo in (bar,baz)", "foo notin (a), !b, c", "x==y,z!=", "a>1", "example.com/app=x", "in=in"] {
            assert!(check_label_selector(ok).is_ok(), "{ok}");
        }
        assert!(check_label_selector("foo in bar").unwrap_err().contains("expected: '('"));
        assert_eq!(check_label_selector("foo bar").unwrap_err(), "unable to parse requirement: found 'bar', expected: in, notin, =, ==, !=, gt, lt");
        assert_eq!(check_label_selector("a=b c").unwrap_err(), "found 'c', expected: ',' or 'end of string'");
        assert_eq!(check_label_selector("a=b,").unwrap_err(), "found '', expected: identifier after ','");
        assert_eq!(check_label_selector("!a=b").unwrap_err(), "found '=', expected: ',' or 'end of string'");
        assert!(check_label_selector("a>x").unwrap_err().contains("the value must be an integer"));
        assert!(check_label_selector("-a=b").unwrap_err().starts_with("unable to parse requirement: key: Invalid value: \"-a\""));
        assert!(check_label_selector("a=-b").unwrap_err().contains("values[0][a]: Invalid value: \"-b\""));
    }
}
