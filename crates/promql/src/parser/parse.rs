//! Precedence climbing over the tokens, following Prometheus's grammar:
//! `or` < `and`/`unless` < comparisons < `+ -` < `* / % atan2` < `^`
//! (right-associative), unary minus binding like `*`, and the postfix
//! range, subquery, `offset` and `@` modifiers.

use model::{MatchType, Matcher};

use super::ParseError;
use super::ast::*;
use super::functions;
use super::lex::{Tok, Token, lex};

/// Parses and type-checks a query.
pub fn parse(input: &str) -> Result<Expr, ParseError> {
    parse_whole(input, false)
}

/// The whole input as one expression; `metric_selector` relaxes the
/// selector rules as Prometheus's `ParseMetricSelector` does.
fn parse_whole(input: &str, metric_selector: bool) -> Result<Expr, ParseError> {
    let tokens = lex(input)?;
    let mut p = Parser { input, tokens, i: 0, metric_selector };
    if p.peek() == &Tok::Eof {
        return Err(p.err_at(0, "no expression found in input".into()));
    }
    let e = p.expr(0)?;
    if p.peek() != &Tok::Eof {
        let t = p.tokens[p.i].clone();
        return Err(p.err_at(t.start, format!("unexpected {}", t.tok.describe())));
    }
    Ok(e)
}

/// Parses a bare series selector as Prometheus's `ParseMetricSelector`
/// does for promtool and the remote-read paths: unlike a query, the
/// selector may consist only of matchers that accept the empty value
/// (promtool's default `{__name__=~'(?s:.*)'}`).
pub fn parse_metric_selector(input: &str) -> Result<Vec<Matcher>, ParseError> {
    let e = parse_whole(input, true)?;
    match e {
        Expr::Vector(vs) => Ok(vs.matchers),
        _ => Err(ParseError::at(input, 0, "expected a series selector".into())),
    }
}

struct Parser<'a> {
    input: &'a str,
    tokens: Vec<Token>,
    i: usize,
    /// Parsing for [`parse_metric_selector`]: matchers may all match "".
    metric_selector: bool,
}

/// Unary minus binds like multiplication: only `^` binds tighter.
const UNARY_OPERAND_PREC: u8 = 6;

impl Parser<'_> {
    fn peek(&self) -> &Tok {
        &self.tokens[self.i].tok
    }

    fn peek_at(&self, k: usize) -> &Tok {
        let j = (self.i + k).min(self.tokens.len() - 1);
        &self.tokens[j].tok
    }

    fn pos(&self) -> usize {
        self.tokens[self.i].start
    }

    fn prev_end(&self) -> usize {
        if self.i == 0 { 0 } else { self.tokens[self.i - 1].end }
    }

    fn next(&mut self) -> Token {
        let t = self.tokens[self.i].clone();
        if self.i < self.tokens.len() - 1 {
            self.i += 1;
        }
        t
    }

    fn err_at(&self, offset: usize, msg: String) -> ParseError {
        ParseError::at(self.input, offset, msg)
    }

    fn unexpected(&self, context: &str) -> ParseError {
        let t = &self.tokens[self.i];
        let what = t.tok.describe();
        if context.is_empty() { self.err_at(t.start, format!("unexpected {what}")) } else { self.err_at(t.start, format!("unexpected {what} in {context}")) }
    }

    fn expect(&mut self, tok: Tok, context: &str) -> Result<Token, ParseError> {
        if *self.peek() == tok {
            Ok(self.next())
        } else if tok == Tok::RParen && *self.peek() == Tok::Eof && context != "grouping opts" {
            Err(self.err_at(self.pos(), "unclosed left parenthesis".into()))
        } else {
            let t = &self.tokens[self.i];
            Err(self.err_at(t.start, format!("unexpected {} in {context}, expected {}", t.tok.describe(), tok.describe())))
        }
    }

    fn is_keyword(&self, kw: &str) -> bool {
        matches!(self.peek(), Tok::Ident(s) if s.eq_ignore_ascii_case(kw))
    }

    fn binop(&self) -> Option<BinOp> {
        Some(match self.peek() {
            Tok::Add => BinOp::Add,
            Tok::Sub => BinOp::Sub,
            Tok::Mul => BinOp::Mul,
            Tok::Div => BinOp::Div,
            Tok::Mod => BinOp::Mod,
            Tok::Pow => BinOp::Pow,
            Tok::Eqlc => BinOp::Eql,
            Tok::Neq => BinOp::Neq,
            Tok::Gtr => BinOp::Gtr,
            Tok::Lss => BinOp::Lss,
            Tok::Gte => BinOp::Gte,
            Tok::Lte => BinOp::Lte,
            Tok::Ident(s) => match s.to_ascii_lowercase().as_str() {
                "and" => BinOp::And,
                "or" => BinOp::Or,
                "unless" => BinOp::Unless,
                "atan2" => BinOp::Atan2,
                _ => return None,
            },
            _ => return None,
        })
    }

    fn expr(&mut self, min_prec: u8) -> Result<Expr, ParseError> {
        let mut lhs = self.unary()?;
        while let Some(op) = self.binop() {
            let prec = op.precedence();
            if prec < min_prec {
                break;
            }
            let op_pos = self.pos();
            self.next();
            let return_bool = if self.is_keyword("bool") {
                self.next();
                true
            } else {
                false
            };
            let matching = self.vector_matching(op)?;
            // `^` is right-associative, everything else left.
            let rhs = self.expr(if op == BinOp::Pow { prec } else { prec + 1 })?;
            lhs = self.binary(op, op_pos, lhs, rhs, return_bool, matching)?;
        }
        Ok(lhs)
    }

    fn vector_matching(&mut self, op: BinOp) -> Result<Option<VectorMatching>, ParseError> {
        let mut m: Option<VectorMatching> = None;
        if self.is_keyword("on") || self.is_keyword("ignoring") {
            let on = self.is_keyword("on");
            self.next();
            let labels = self.label_list("grouping opts")?;
            m = Some(VectorMatching { card: Cardinality::OneToOne, on, labels, include: Vec::new() });
        }
        if self.is_keyword("group_left") || self.is_keyword("group_right") {
            let pos = self.pos();
            let card = if self.is_keyword("group_left") { Cardinality::ManyToOne } else { Cardinality::OneToMany };
            self.next();
            if op.is_set() {
                return Err(self.err_at(pos, format!("no grouping allowed for {:?} operation", op.as_str())));
            }
            let include = if *self.peek() == Tok::LParen { self.label_list("grouping opts")? } else { Vec::new() };
            let mm = m.get_or_insert(VectorMatching { card, on: false, labels: Vec::new(), include: Vec::new() });
            mm.card = card;
            for l in &include {
                if mm.on && mm.labels.contains(l) {
                    return Err(self.err_at(pos, format!("label {l:?} must not occur in ON and GROUP clause at once")));
                }
            }
            mm.include = include;
        }
        Ok(m)
    }

    /// `(a, b, "c.d")`: label names for grouping and matching.
    fn label_list(&mut self, context: &str) -> Result<Vec<String>, ParseError> {
        self.expect(Tok::LParen, context)?;
        let mut out = Vec::new();
        loop {
            match self.peek().clone() {
                Tok::RParen => {
                    self.next();
                    return Ok(out);
                }
                Tok::Ident(s) | Tok::Str(s) => {
                    self.next();
                    out.push(s);
                }
                _ => return Err(self.unexpected(context)),
            }
            match self.peek() {
                Tok::Comma => {
                    self.next();
                }
                Tok::RParen => {}
                _ => return Err(self.unexpected(context)),
            }
        }
    }

    fn binary(&self, op: BinOp, op_pos: usize, lhs: Expr, rhs: Expr, return_bool: bool, matching: Option<VectorMatching>) -> Result<Expr, ParseError> {
        let span = Span { start: lhs.span().start, end: rhs.span().end };
        let (lt, rt) = (lhs.value_type(), rhs.value_type());
        for t in [lt, rt] {
            if t != ValueType::Scalar && t != ValueType::Vector {
                return Err(self.err_at(span.start, "binary expression must contain only scalar and instant vector types".into()));
            }
        }
        if return_bool && !op.is_comparison() {
            return Err(self.err_at(op_pos, "bool modifier can only be used on comparison operators".into()));
        }
        let both_vectors = lt == ValueType::Vector && rt == ValueType::Vector;
        if op.is_comparison() && lt == ValueType::Scalar && rt == ValueType::Scalar && !return_bool {
            return Err(self.err_at(span.start, "comparisons between scalars must use BOOL modifier".into()));
        }
        if op.is_set() && !both_vectors {
            return Err(self.err_at(span.start, format!("set operator {:?} not allowed in binary scalar expression", op.as_str())));
        }
        if matching.is_some() && !both_vectors {
            return Err(self.err_at(span.start, "vector matching only allowed between instant vectors".into()));
        }
        let matching = if both_vectors {
            let mut m = matching.unwrap_or(VectorMatching { card: Cardinality::OneToOne, on: false, labels: Vec::new(), include: Vec::new() });
            if op.is_set() {
                m.card = Cardinality::ManyToMany;
            }
            Some(m)
        } else {
            None
        };
        Ok(Expr::Binary { op, lhs: Box::new(lhs), rhs: Box::new(rhs), return_bool, matching, span })
    }

    fn unary(&mut self) -> Result<Expr, ParseError> {
        let (neg, start) = match self.peek() {
            Tok::Sub => (true, self.pos()),
            Tok::Add => (false, self.pos()),
            _ => return self.postfix_expr(),
        };
        self.next();
        let operand = self.expr(UNARY_OPERAND_PREC)?;
        let t = operand.value_type();
        if t != ValueType::Scalar && t != ValueType::Vector {
            return Err(self.err_at(start, format!("unary expression only allowed on expressions of type scalar or instant vector, got {:?}", t.as_str())));
        }
        let span = Span { start, end: operand.span().end };
        Ok(match operand {
            Expr::Number { value, duration, .. } => Expr::Number { value: if neg { -value } else { value }, duration, span },
            e => Expr::Unary { negative: neg, expr: Box::new(e), span },
        })
    }

    /// A primary expression and its postfix modifiers.
    fn postfix_expr(&mut self) -> Result<Expr, ParseError> {
        let mut e = self.primary()?;
        loop {
            match self.peek() {
                Tok::LBracket => e = self.range_or_subquery(e)?,
                Tok::At => e = self.at_modifier(e)?,
                Tok::Ident(s) if s.eq_ignore_ascii_case("offset") => e = self.offset_modifier(e)?,
                _ => return Ok(e),
            }
        }
    }

    fn primary(&mut self) -> Result<Expr, ParseError> {
        let t = self.tokens[self.i].clone();
        let span = Span { start: t.start, end: t.end };
        match t.tok {
            Tok::Number(value) => {
                self.next();
                Ok(Expr::Number { value, duration: false, span })
            }
            Tok::Duration(ms) => {
                // A duration where a number belongs is its seconds (3.x).
                self.next();
                Ok(Expr::Number { value: ms as f64 / 1000.0, duration: true, span })
            }
            Tok::Str(value) => {
                self.next();
                Ok(Expr::String { value, span })
            }
            Tok::LParen => {
                self.next();
                let inner = self.expr(0)?;
                let end = self.expect(Tok::RParen, "paren expression")?.end;
                Ok(Expr::Paren { expr: Box::new(inner), span: Span { start: t.start, end } })
            }
            Tok::LBrace => self.vector_selector(None, t.start),
            Tok::MetricIdent(name) => {
                self.next();
                self.vector_selector(Some(name), t.start)
            }
            Tok::Ident(name) => {
                let followed_by_paren = *self.peek_at(1) == Tok::LParen;
                if let Some(op) = AggOp::from_name(&name) {
                    let next = self.peek_at(1);
                    let modifier_next = matches!(next, Tok::Ident(s) if s.eq_ignore_ascii_case("by") || s.eq_ignore_ascii_case("without"));
                    if followed_by_paren || modifier_next {
                        self.next();
                        return self.aggregation(op, t.start);
                    }
                }
                if followed_by_paren {
                    self.next();
                    return self.call(&name, t.start);
                }
                if is_reserved(&name) {
                    return Err(self.unexpected(""));
                }
                self.next();
                self.vector_selector(Some(name), t.start)
            }
            Tok::Eof => Err(self.err_at(t.start, "unexpected end of input".into())),
            _ => Err(self.unexpected("")),
        }
    }

    /// `(expr, expr, ...)`: the arguments and the end of the `)`.
    fn arguments(&mut self, context: &str) -> Result<(Vec<Expr>, usize), ParseError> {
        self.expect(Tok::LParen, context)?;
        let mut args = Vec::new();
        if *self.peek() != Tok::RParen {
            loop {
                args.push(self.expr(0)?);
                match self.peek() {
                    Tok::Comma => {
                        self.next();
                    }
                    Tok::RParen => break,
                    Tok::Eof => return Err(self.err_at(self.pos(), "unclosed left parenthesis".into())),
                    _ => return Err(self.unexpected(context)),
                }
            }
        }
        let end = self.expect(Tok::RParen, context)?.end;
        Ok((args, end))
    }

    fn call(&mut self, name: &str, start: usize) -> Result<Expr, ParseError> {
        let Some(func) = functions::lookup(name) else {
            return Err(self.err_at(start, format!("unknown function with name {name:?}")));
        };
        let (args, end) = self.arguments("function call")?;
        let n = args.len() as i32;
        let declared = func.arg_types.len() as i32;
        let quoted = format!("{:?}", func.name);
        match func.variadic {
            0 if n != declared => return Err(self.err_at(start, format!("expected {declared} argument(s) in call to {quoted}, got {n}"))),
            v if v > 0 && n < declared - v => {
                return Err(self.err_at(start, format!("expected at least {} argument(s) in call to {quoted}, got {n}", declared - v)));
            }
            v if v > 0 && n > declared => return Err(self.err_at(start, format!("expected at most {declared} argument(s) in call to {quoted}, got {n}"))),
            v if v < 0 && n < declared - 1 => {
                return Err(self.err_at(start, format!("expected at least {} argument(s) in call to {quoted}, got {n}", declared - 1)));
            }
            _ => {}
        }
        for (k, a) in args.iter().enumerate() {
            let want = func.arg_types[k.min(func.arg_types.len().saturating_sub(1))];
            let got = a.value_type();
            if got != want {
                return Err(self.err_at(a.span().start, format!("expected type {} in call to function {quoted}, got {}", want.as_str(), got.as_str())));
            }
        }
        Ok(Expr::Call { func, args, span: Span { start, end } })
    }

    fn aggregation(&mut self, op: AggOp, start: usize) -> Result<Expr, ParseError> {
        let mut grouping = Vec::new();
        let mut without = false;
        let mut modifiers = false;
        if self.is_keyword("by") || self.is_keyword("without") {
            without = self.is_keyword("without");
            self.next();
            grouping = self.label_list("grouping opts")?;
            modifiers = true;
        }
        let (mut args, mut end) = self.arguments("aggregation")?;
        if !modifiers && (self.is_keyword("by") || self.is_keyword("without")) {
            without = self.is_keyword("without");
            self.next();
            grouping = self.label_list("grouping opts")?;
            end = self.prev_end();
        }
        let expected = if op.param_type().is_some() { 2 } else { 1 };
        if args.len() != expected {
            return Err(self.err_at(start, format!("wrong number of arguments for aggregate expression provided, expected {expected}, got {}", args.len())));
        }
        let expr = args.pop().ok_or_else(|| self.err_at(start, "no arguments for aggregate expression provided".into()))?;
        let param = args.pop();
        let t = expr.value_type();
        if t != ValueType::Vector {
            return Err(self.err_at(expr.span().start, format!("expected type instant vector in aggregation expression, got {}", t.as_str())));
        }
        if let (Some(p), Some(want)) = (&param, op.param_type()) {
            let got = p.value_type();
            if got != want {
                return Err(self.err_at(p.span().start, format!("expected type {} in aggregation parameter, got {}", want.as_str(), got.as_str())));
            }
        }
        Ok(Expr::Aggregate { op, expr: Box::new(expr), param: param.map(Box::new), grouping, without, span: Span { start, end } })
    }

    /// `name{matchers}`, `{matchers}` or `name`; a quoted first element in
    /// the braces is the metric name (UTF-8 names, 3.x).
    fn vector_selector(&mut self, mut name: Option<String>, start: usize) -> Result<Expr, ParseError> {
        let written_outside = name.is_some();
        let mut matchers = Vec::new();
        let mut end = self.prev_end();
        if *self.peek() == Tok::LBrace {
            self.next();
            loop {
                let t = self.tokens[self.i].clone();
                match t.tok {
                    Tok::RBrace => {
                        self.next();
                        break;
                    }
                    Tok::Str(s) if matches!(self.peek_at(1), Tok::Comma | Tok::RBrace) => {
                        self.next();
                        if let Some(prev) = &name {
                            return Err(self.err_at(t.start, format!("metric name must not be set twice: {prev:?} or {s:?}")));
                        }
                        name = Some(s);
                    }
                    Tok::Ident(l) | Tok::Str(l) => {
                        self.next();
                        let kind = match self.peek() {
                            Tok::Assign => MatchType::Equal,
                            Tok::Neq => MatchType::NotEqual,
                            Tok::EqlRegex => MatchType::Regexp,
                            Tok::NeqRegex => MatchType::NotRegexp,
                            _ => return Err(self.unexpected("label matching, expected \"=\", \"!=\", \"=~\" or \"!~\"")),
                        };
                        self.next();
                        let vt = self.tokens[self.i].clone();
                        let Tok::Str(v) = vt.tok else { return Err(self.unexpected("label matching, expected string")) };
                        self.next();
                        let m = Matcher::new(kind, l, v).map_err(|e| self.err_at(vt.start, e.to_string()))?;
                        matchers.push(m);
                    }
                    _ => return Err(self.unexpected("label matching")),
                }
                match self.peek() {
                    Tok::Comma => {
                        self.next();
                    }
                    Tok::RBrace => {}
                    _ => return Err(self.unexpected("label matching, expected \",\" or \"}\"")),
                }
            }
            end = self.prev_end();
        }
        if let Some(n) = &name {
            if let Some(m) = matchers.iter().find(|m| m.name == model::labels::METRIC_NAME) {
                return Err(self.err_at(start, format!("metric name must not be set twice: {n:?} or {:?}", m.value)));
            }
            matchers.insert(0, Matcher::equal(model::labels::METRIC_NAME, n.clone()));
        }
        if !self.metric_selector && !matchers.iter().any(|m| !m.matches("")) {
            return Err(self.err_at(start, "vector selector must contain at least one non-empty matcher".into()));
        }
        let name = name.filter(|_| written_outside);
        Ok(Expr::Vector(VectorSelector { name, matchers, offset: 0, at: None, span: Span { start, end } }))
    }

    /// A duration in a range, subquery step or offset: a duration literal
    /// or a number of seconds.
    fn duration(&mut self, context: &str) -> Result<i64, ParseError> {
        match self.peek().clone() {
            Tok::Duration(ms) => {
                self.next();
                Ok(ms)
            }
            Tok::Number(s) if s.is_finite() => {
                self.next();
                Ok((s * 1000.0).round() as i64)
            }
            _ => Err(self.unexpected(context)),
        }
    }

    fn range_or_subquery(&mut self, e: Expr) -> Result<Expr, ParseError> {
        let open = self.next().start;
        let range = self.duration("range, expected duration")?;
        if *self.peek() == Tok::Colon {
            self.next();
            let step = if *self.peek() == Tok::RBracket { None } else { Some(self.duration("subquery, expected duration")?) };
            let end = self.expect(Tok::RBracket, "subquery selector")?.end;
            let t = e.value_type();
            if t != ValueType::Vector {
                return Err(self.err_at(e.span().start, format!("subquery is only allowed on instant vector, got {} instead", t.as_str())));
            }
            let span = Span { start: e.span().start, end };
            return Ok(Expr::Subquery { expr: Box::new(e), range, step, offset: 0, at: None, span });
        }
        let end = self.expect(Tok::RBracket, "range selector")?.end;
        match e {
            Expr::Vector(vs) if vs.offset == 0 && vs.at.is_none() => {
                let span = Span { start: vs.span.start, end };
                Ok(Expr::Matrix { vs, range, span })
            }
            Expr::Vector(_) => Err(self.err_at(open, "no offset or @ modifiers allowed before range".into())),
            _ => Err(self.err_at(open, "ranges only allowed for vector selectors".into())),
        }
    }

    fn offset_modifier(&mut self, mut e: Expr) -> Result<Expr, ParseError> {
        let pos = self.next().start;
        let sign = match self.peek() {
            Tok::Sub => {
                self.next();
                -1
            }
            Tok::Add => {
                self.next();
                1
            }
            _ => 1,
        };
        let d = sign * self.duration("offset, expected duration")?;
        let end = self.prev_end();
        let slot = match &mut e {
            Expr::Vector(vs) => Some((&mut vs.offset, &mut vs.span)),
            Expr::Matrix { vs, span, .. } => Some((&mut vs.offset, span)),
            Expr::Subquery { offset, span, .. } => Some((offset, span)),
            _ => None,
        };
        let Some((offset, span)) = slot else {
            return Err(self.err_at(pos, "offset modifier must be preceded by an instant vector selector or range vector selector or a subquery".into()));
        };
        if *offset != 0 {
            return Err(self.err_at(pos, "offset may not be set multiple times".into()));
        }
        *offset = d;
        span.end = end;
        Ok(e)
    }

    fn at_modifier(&mut self, mut e: Expr) -> Result<Expr, ParseError> {
        let pos = self.next().start;
        let at = match self.peek().clone() {
            Tok::Ident(s) if (s == "start" || s == "end") && *self.peek_at(1) == Tok::LParen => {
                self.next();
                self.next();
                self.expect(Tok::RParen, "@ modifier")?;
                if s == "start" { At::Start } else { At::End }
            }
            _ => {
                let sign = match self.peek() {
                    Tok::Sub => {
                        self.next();
                        -1.0
                    }
                    Tok::Add => {
                        self.next();
                        1.0
                    }
                    _ => 1.0,
                };
                let v = match self.peek().clone() {
                    Tok::Number(v) => v,
                    Tok::Duration(ms) => ms as f64 / 1000.0,
                    _ => return Err(self.unexpected("@ modifier")),
                };
                self.next();
                let secs = sign * v;
                if !secs.is_finite() {
                    return Err(self.err_at(pos, format!("timestamp out of bounds for @ modifier: {secs}")));
                }
                At::Time((secs * 1000.0).round() as i64)
            }
        };
        let end = self.prev_end();
        let slot = match &mut e {
            Expr::Vector(vs) => Some((&mut vs.at, &mut vs.span)),
            Expr::Matrix { vs, span, .. } => Some((&mut vs.at, span)),
            Expr::Subquery { at, span, .. } => Some((at, span)),
            _ => None,
        };
        let Some((slot, span)) = slot else {
            return Err(self.err_at(pos, "@ modifier must be preceded by an instant vector selector or range vector selector or a subquery".into()));
        };
        if slot.is_some() {
            return Err(self.err_at(pos, "@ <timestamp> may not be set multiple times".into()));
        }
        *slot = Some(at);
        span.end = end;
        Ok(e)
    }
}

/// Words that are never a metric name outside braces.
fn is_reserved(word: &str) -> bool {
    ["and", "or", "unless", "atan2", "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset"]
        .iter()
        .any(|k| word.eq_ignore_ascii_case(k))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_of_a_query() {
        let e = parse(r#"sum by (job) (rate(a{x="1"}[5m])) / on(job) b + scalar(c offset 1m) > on(job) max_over_time(d[10m:1m])"#).unwrap();
        let names: Vec<Vec<String>> =
            e.selectors().iter().map(|vs| vs.matchers.iter().map(|m| format!("{}{}{}", m.name, m.kind.as_str(), m.value)).collect()).collect();
        assert_eq!(names, [vec!["__name__=a", "x=1"], vec!["__name__=b"], vec!["__name__=c"], vec!["__name__=d"]]);
        assert!(parse("1 + 2").unwrap().selectors().is_empty());
        assert!(parse(r#"quantile(0.9, {job="a"})"#).unwrap().selectors().len() == 1);
    }

    /// A compact rendering of the tree, to check shape and precedence.
    fn show(e: &Expr) -> String {
        match e {
            Expr::Number { value, .. } => format!("{value}"),
            Expr::String { value, .. } => format!("{value:?}"),
            Expr::Vector(vs) => {
                let mut s = vs.matchers.iter().map(|m| format!("{}{}{:?}", m.name, m.kind.as_str(), m.value)).collect::<Vec<_>>().join(",");
                s = format!("{{{s}}}");
                if vs.offset != 0 {
                    s.push_str(&format!(" offset {}ms", vs.offset));
                }
                if let Some(at) = vs.at {
                    s.push_str(&format!(" @{at:?}"));
                }
                s
            }
            Expr::Matrix { vs, range, .. } => format!("{}[{range}ms]", show(&Expr::Vector(vs.clone()))),
            Expr::Subquery { expr, range, step, offset, .. } => format!("{}[{range}:{step:?}] off {offset}", show(expr)),
            Expr::Unary { negative, expr, .. } => format!("({}{})", if *negative { '-' } else { '+' }, show(expr)),
            Expr::Paren { expr, .. } => format!("({})", show(expr)),
            Expr::Binary { op, lhs, rhs, return_bool, matching, .. } => {
                let m = matching.as_ref().map(|m| format!(" {:?}{}{:?}{:?}", m.card, if m.on { "on" } else { "ign" }, m.labels, m.include)).unwrap_or_default();
                format!("({} {}{}{m} {})", show(lhs), op.as_str(), if *return_bool { " bool" } else { "" }, show(rhs))
            }
            Expr::Call { func, args, .. } => format!("{}({})", func.name, args.iter().map(show).collect::<Vec<_>>().join(", ")),
            Expr::Aggregate { op, expr, param, grouping, without, .. } => format!(
                "{}{}{:?}({}{})",
                op.as_str(),
                if *without { " without" } else { " by" },
                grouping,
                param.as_ref().map(|p| format!("{}, ", show(p))).unwrap_or_default(),
                show(expr)
            ),
        }
    }

    fn ok(q: &str) -> String {
        show(&parse(q).unwrap_or_else(|e| panic!("{q}: {e}")))
    }

    fn err(q: &str) -> String {
        parse(q).map(|e| show(&e)).expect_err(q).to_string()
    }

    #[test]
    fn precedence_and_associativity() {
        assert_eq!(ok("1 + 2 * 3"), "(1 + (2 * 3))");
        assert_eq!(ok("2 ^ 3 ^ 2"), "(2 ^ (3 ^ 2))");
        assert_eq!(ok("1 - 2 - 3"), "((1 - 2) - 3)");
        assert_eq!(ok("-1 ^ 2"), "(-(1 ^ 2))", "unary minus binds looser than ^");
        assert_eq!(ok("-2 * 3"), "(-2 * 3)", "a negated literal is a literal");
        assert_eq!(
            ok("a or b and c unless d"),
            r#"({__name__="a"} or ManyToManyign[][] (({__name__="b"} and ManyToManyign[][] {__name__="c"}) unless ManyToManyign[][] {__name__="d"}))"#
        );
        assert_eq!(ok("a > bool 1 + 2"), r#"({__name__="a"} > bool (1 + 2))"#);
        assert_eq!(ok("1 atan2 2 ^ 3"), "(1 atan2 (2 ^ 3))");
    }

    #[test]
    fn selectors_and_modifiers() {
        assert_eq!(ok(r#"http_requests{job="api", path=~"/v1/.*"}"#), r#"{__name__="http_requests",job="api",path=~"/v1/.*"}"#);
        assert_eq!(ok(r#"{"my.metric", "a.b"="c"}"#), r#"{__name__="my.metric",a.b="c"}"#);
        assert_eq!(ok("x offset 5m @ 100"), r#"{__name__="x"} offset 300000ms @Time(100000)"#);
        assert_eq!(ok("x @ start() offset -1m"), r#"{__name__="x"} offset -60000ms @Start"#);
        assert_eq!(ok("rate(x[5m])"), r#"rate({__name__="x"}[300000ms])"#);
        assert_eq!(ok("rate(x[300])"), r#"rate({__name__="x"}[300000ms])"#, "a number of seconds is a duration (3.x)");
        assert_eq!(ok("max_over_time(rate(x[1m])[5m:30s] offset 1m)"), r#"max_over_time(rate({__name__="x"}[60000ms])[300000:Some(30000)] off 60000)"#);
        assert_eq!(ok("x[5m:]"), r#"{__name__="x"}[300000:None] off 0"#);
        assert_eq!(ok("foo:bar:rate5m"), r#"{__name__="foo:bar:rate5m"}"#);
    }

    #[test]
    fn aggregations_and_matching() {
        assert_eq!(ok("sum by (job) (rate(x[5m]))"), r#"sum by["job"](rate({__name__="x"}[300000ms]))"#);
        assert_eq!(ok("sum(x) without (instance)"), r#"sum without["instance"]({__name__="x"})"#);
        assert_eq!(ok("topk(3, x)"), r#"topk by[](3, {__name__="x"})"#);
        assert_eq!(ok(r#"count_values("v", x)"#), r#"count_values by[]("v", {__name__="x"})"#);
        assert_eq!(ok("SUM(x)"), r#"sum by[]({__name__="x"})"#, "keywords are case-insensitive");
        assert_eq!(ok("a * on(job) group_left(team) b"), r#"({__name__="a"} * ManyToOneon["job"]["team"] {__name__="b"})"#);
        assert_eq!(ok("a and ignoring(x) b"), r#"({__name__="a"} and ManyToManyign["x"][] {__name__="b"})"#);
        assert_eq!(ok("a / b"), r#"({__name__="a"} / OneToOneign[][] {__name__="b"})"#);
    }

    #[test]
    fn type_errors_have_prometheus_messages_and_positions() {
        assert_eq!(err("rate(x)"), r#"1:6: parse error: expected type range vector in call to function "rate", got instant vector"#);
        assert_eq!(err("rate(x[5m], 1)"), r#"1:1: parse error: expected 1 argument(s) in call to "rate", got 2"#);
        assert_eq!(err("1 > 2"), "1:1: parse error: comparisons between scalars must use BOOL modifier");
        assert_eq!(err("1 and x"), r#"1:1: parse error: set operator "and" not allowed in binary scalar expression"#);
        assert_eq!(err("x + bool y"), "1:3: parse error: bool modifier can only be used on comparison operators");
        assert_eq!(err("sum(x[5m])"), "1:5: parse error: expected type instant vector in aggregation expression, got range vector");
        assert_eq!(err("x[5m][1m:]"), "1:1: parse error: subquery is only allowed on instant vector, got range vector instead");
        assert_eq!(err("(x)[5m]"), "1:4: parse error: ranges only allowed for vector selectors");
        assert_eq!(err(r#"{job=~".*"}"#), "1:1: parse error: vector selector must contain at least one non-empty matcher");
        assert_eq!(parse_metric_selector("{__name__=~'(?s:.*)'}").map(|m| m.len()), Ok(1));
        assert!(parse_metric_selector("sum(x)").is_err());
        assert_eq!(err(r#"foo{__name__="bar"}"#), r#"1:1: parse error: metric name must not be set twice: "foo" or "bar""#);
        assert_eq!(err("x offset 1m offset 2m"), "1:13: parse error: offset may not be set multiple times");
        assert_eq!(
            err("1 offset 1m"),
            "1:3: parse error: offset modifier must be preceded by an instant vector selector or range vector selector or a subquery"
        );
        assert_eq!(err("nope(x)"), r#"1:1: parse error: unknown function with name "nope""#);
        assert_eq!(err(""), "1:1: parse error: no expression found in input");
        assert_eq!(err("x +"), "1:4: parse error: unexpected end of input");
        assert_eq!(err("sum(up"), "1:7: parse error: unclosed left parenthesis");
        assert_eq!(err("(1 + 2"), "1:7: parse error: unclosed left parenthesis");
        assert_eq!(err("sum(x) by (a"), r#"1:13: parse error: unexpected end of input in grouping opts"#);
        assert_eq!(err("x\n  + )"), r#"2:5: parse error: unexpected ")""#);
        assert_eq!(err("-x[5m]"), r#"1:1: parse error: unary expression only allowed on expressions of type scalar or instant vector, got "range vector""#);
    }
}
