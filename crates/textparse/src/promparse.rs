//! The Prometheus text format, 0.0.4 and 1.0.0 (quoted UTF-8 names), after
//! Prometheus's `promlex.l` and `promparse.go`: the same tokens, the same
//! leniencies (spaces anywhere between tokens, trailing commas) and the same
//! error messages.

use std::borrow::Cow;

use model::{Exemplar, Labels, MetricType};

use crate::common::{
    NumError, ParseError, SeriesOffsets, Tok, is_l_char, is_l_start, is_m_char, is_m_start, normal_nan, parse_go_float, parse_go_int, quote, scan_quoted,
    unescape,
};
use crate::{Entry, Parser};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Init,
    Meta1,
    Meta2,
    Labels,
    LValue,
    Value,
    Timestamp,
}

/// Pull parser for the Prometheus text format over a borrowed body.
#[derive(Debug)]
pub struct PromParser<'a> {
    b: &'a [u8],
    /// Current position. The input is read as if it ended with one more
    /// `\n` (Prometheus appends one), so a missing final newline is fine.
    i: usize,
    /// Start of the current token.
    tok_start: usize,
    state: State,
    /// Start of the current line (for "while parsing" in errors).
    start: usize,
    series: SeriesOffsets,
    done: bool,
}

impl<'a> PromParser<'a> {
    pub fn new(b: &'a [u8]) -> Self {
        PromParser { b, i: 0, tok_start: 0, state: State::Init, start: 0, series: SeriesOffsets::default(), done: false }
    }

    fn at(&self, i: usize) -> Option<u8> {
        match i.cmp(&self.b.len()) {
            std::cmp::Ordering::Less => Some(self.b[i]),
            std::cmp::Ordering::Equal => Some(b'\n'),
            std::cmp::Ordering::Greater => None,
        }
    }

    /// Bytes `[s, e)` of the input with its virtual final newline.
    fn slice(&self, s: usize, e: usize) -> Cow<'a, [u8]> {
        let n = self.b.len();
        let e = e.min(n + 1);
        let s = s.min(e);
        if e <= n {
            Cow::Borrowed(&self.b[s..e])
        } else {
            let mut v = self.b[s.min(n)..].to_vec();
            v.push(b'\n');
            Cow::Owned(v)
        }
    }

    fn buf(&self) -> &'a [u8] {
        let n = self.b.len();
        &self.b[self.tok_start.min(n)..self.i.min(n)]
    }

    fn lex(&mut self) -> Tok {
        let Some(c) = self.at(self.i) else { return Tok::Eof };
        self.tok_start = self.i;
        if (c == b' ' || c == b'\t') && self.state != State::Meta2 {
            while matches!(self.at(self.i), Some(b' ' | b'\t')) {
                self.i += 1;
            }
            return Tok::Whitespace;
        }
        match self.state {
            State::Init => match c {
                // Prometheus's lexer stops at a NUL at the start of a line.
                0 => Tok::Eof,
                b'\n' => {
                    self.i += 1;
                    Tok::Linebreak
                }
                b'#' => {
                    self.i += 1;
                    if !matches!(self.at(self.i), Some(b' ' | b'\t')) {
                        return self.consume_comment();
                    }
                    while matches!(self.at(self.i), Some(b' ' | b'\t')) {
                        self.i += 1;
                    }
                    for (word, tok) in [(&b"HELP"[..], Tok::Help), (&b"TYPE"[..], Tok::Type)] {
                        let end = self.i + word.len();
                        if self.b.get(self.i..end) == Some(word) && matches!(self.at(end), Some(b' ' | b'\t')) {
                            self.i = end;
                            while matches!(self.at(self.i), Some(b' ' | b'\t')) {
                                self.i += 1;
                            }
                            self.state = State::Meta1;
                            return tok;
                        }
                    }
                    self.consume_comment()
                }
                b'{' => {
                    self.i += 1;
                    self.state = State::Labels;
                    Tok::BraceOpen
                }
                c if is_m_start(c) => {
                    self.scan_while(is_m_char);
                    self.state = State::Value;
                    Tok::MName
                }
                _ => Tok::Invalid,
            },
            State::Meta1 => match c {
                b'"' => self.quoted(true, State::Meta2, Tok::MName),
                c if is_m_start(c) => {
                    self.scan_while(is_m_char);
                    self.state = State::Meta2;
                    Tok::MName
                }
                _ => Tok::Invalid,
            },
            State::Meta2 => {
                while self.at(self.i).is_some_and(|c| c != b'\n') {
                    self.i += 1;
                }
                self.state = State::Init;
                Tok::Text
            }
            State::Labels => match c {
                b'"' => self.quoted(true, State::Labels, Tok::QString),
                b'}' => {
                    self.i += 1;
                    self.state = State::Value;
                    Tok::BraceClose
                }
                b'=' => {
                    self.i += 1;
                    self.state = State::LValue;
                    Tok::Equal
                }
                b',' => {
                    self.i += 1;
                    Tok::Comma
                }
                c if is_l_start(c) => {
                    self.scan_while(is_l_char);
                    Tok::LName
                }
                _ => Tok::Invalid,
            },
            State::LValue => match c {
                b'"' => self.quoted(false, State::Labels, Tok::LValue),
                _ => Tok::Invalid,
            },
            State::Value => match c {
                b'{' => {
                    self.i += 1;
                    self.state = State::Labels;
                    Tok::BraceOpen
                }
                b'\n' => Tok::Invalid,
                _ => {
                    self.scan_while(|c| !matches!(c, b'{' | b' ' | b'\t' | b'\n'));
                    self.state = State::Timestamp;
                    Tok::Value
                }
            },
            State::Timestamp => match c {
                b'\n' => {
                    self.i += 1;
                    self.state = State::Init;
                    Tok::Linebreak
                }
                c if c.is_ascii_digit() => {
                    self.scan_while(|c| c.is_ascii_digit());
                    Tok::Timestamp
                }
                _ => Tok::Invalid,
            },
        }
    }

    fn scan_while(&mut self, f: impl Fn(u8) -> bool) {
        while self.at(self.i).is_some_and(&f) {
            self.i += 1;
        }
    }

    fn quoted(&mut self, newline_ok: bool, next: State, tok: Tok) -> Tok {
        match scan_quoted(|i| self.at(i), self.i, newline_ok) {
            Ok(end) => {
                self.i = end;
                self.state = next;
                tok
            }
            Err(at) => {
                self.i = at;
                Tok::Invalid
            }
        }
    }

    fn consume_comment(&mut self) -> Tok {
        while self.at(self.i).is_some_and(|c| c != b'\n') {
            self.i += 1;
        }
        self.state = State::Init;
        Tok::Comment
    }

    fn next_token(&mut self) -> Tok {
        loop {
            let t = self.lex();
            if t != Tok::Whitespace {
                return t;
            }
        }
    }

    fn err(&self, msg: String) -> ParseError {
        ParseError::new(self.b, self.tok_start, msg)
    }

    fn parse_error(&self, exp: &str, got: Tok) -> ParseError {
        let e = self.i + 1;
        self.err(format!(
            "{exp}, got {} ({}) while parsing: {}",
            quote(&self.slice(self.tok_start, e)),
            quote(got.as_str().as_bytes()),
            quote(&self.slice(self.start, e))
        ))
    }

    fn utf8(&self, s: usize, e: usize, what: &str) -> Result<&'a str, ParseError> {
        let n = self.b.len();
        let bytes = &self.b[s.min(n)..e.min(n)];
        std::str::from_utf8(bytes).map_err(|_| self.err(format!("invalid UTF-8 {what}: {}", quote(bytes))))
    }

    /// Advances to the next entry; `Ok(None)` at the end of the input.
    // Not `Iterator::next`: an error ends the input, and entries borrow the
    // body, which `Result<Option<_>>` says more plainly than an iterator of
    // results would.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<Entry<'a>>, ParseError> {
        if self.done {
            return Ok(None);
        }
        let r = self.advance();
        if !matches!(r, Ok(Some(_))) {
            self.done = true;
        }
        r
    }

    fn advance(&mut self) -> Result<Option<Entry<'a>>, ParseError> {
        loop {
            self.start = self.i;
            self.series.clear();
            let t = self.next_token();
            match t {
                Tok::Eof => return Ok(None),
                Tok::Linebreak => continue,
                Tok::Help | Tok::Type => return self.parse_meta(t).map(Some),
                Tok::Comment => {
                    let text = self.buf();
                    let t2 = self.next_token();
                    if t2 != Tok::Linebreak {
                        return Err(self.parse_error("linebreak expected after comment", t2));
                    }
                    return Ok(Some(Entry::Comment { text }));
                }
                Tok::BraceOpen => {
                    let raw_start = self.tok_start;
                    self.parse_lvals()?;
                    let raw = &self.b[raw_start..self.i.min(self.b.len())];
                    let t2 = self.next_token();
                    return self.parse_metric_suffix(raw, t2).map(Some);
                }
                Tok::MName => {
                    let raw_start = self.tok_start;
                    self.series.name = Some((self.tok_start, self.i));
                    let mut raw_end = self.i;
                    let mut t2 = self.next_token();
                    if t2 == Tok::BraceOpen {
                        self.parse_lvals()?;
                        raw_end = self.i;
                        t2 = self.next_token();
                    }
                    let raw = &self.b[raw_start..raw_end.min(self.b.len())];
                    return self.parse_metric_suffix(raw, t2).map(Some);
                }
                _ => return Err(self.parse_error("expected a valid start token", t)),
            }
        }
    }

    fn parse_meta(&mut self, t: Tok) -> Result<Entry<'a>, ParseError> {
        let t2 = self.next_token();
        if t2 != Tok::MName {
            return Err(self.parse_error(&format!("expected metric name after {}", t.as_str()), t2));
        }
        let (mut ms, mut me) = (self.tok_start, self.i);
        if self.b.get(ms) == Some(&b'"') {
            ms += 1;
            me -= 1;
        }
        let metric = self.utf8(ms, me, "metric name")?;
        let t3 = self.next_token();
        if t3 != Tok::Text {
            return Err(self.err(format!("expected text in {}, got {}", t.as_str(), t3.as_str())));
        }
        let buf = self.buf();
        let text = if buf.len() > 1 { &buf[1..] } else { &[][..] };
        let entry = if t == Tok::Type {
            let kind = match text {
                b"counter" => MetricType::Counter,
                b"gauge" => MetricType::Gauge,
                b"histogram" => MetricType::Histogram,
                b"summary" => MetricType::Summary,
                b"untyped" => MetricType::Unknown,
                _ => return Err(self.err(format!("invalid metric type {}", quote(text)))),
            };
            Entry::Type { metric, kind }
        } else {
            let Ok(s) = std::str::from_utf8(text) else {
                return Err(self.err(format!("help text {} is not a valid utf8 string", quote(text))));
            };
            Entry::Help { metric, text: unescape(s, false) }
        };
        let t4 = self.next_token();
        if t4 != Tok::Linebreak {
            return Err(self.parse_error("linebreak expected after metadata", t4));
        }
        Ok(entry)
    }

    fn parse_lvals(&mut self) -> Result<(), ParseError> {
        let mut t = self.next_token();
        loop {
            let (ts, ti) = (self.tok_start, self.i);
            let quoted = match t {
                Tok::BraceClose => break,
                Tok::LName => false,
                Tok::QString => true,
                _ => return Err(self.parse_error("expected label name", t)),
            };
            t = self.next_token();
            if quoted && (t == Tok::Comma || t == Tok::BraceClose) {
                if self.series.name.is_some() {
                    return Err(self.err(format!("metric name already set while parsing: {}", quote(&self.slice(self.start, self.i)))));
                }
                self.utf8(ts + 1, ti - 1, "metric name")?;
                self.series.name = Some((ts + 1, ti - 1));
                if t == Tok::BraceClose {
                    break;
                }
                t = self.next_token();
                continue;
            }
            let (ns, ne) = if quoted { (ts + 1, ti - 1) } else { (ts, ti) };
            if t != Tok::Equal {
                return Err(self.parse_error("expected equal", t));
            }
            if quoted {
                self.utf8(ns, ne, "label name")?;
            }
            let t2 = self.next_token();
            if t2 != Tok::LValue {
                return Err(self.parse_error("expected label value", t2));
            }
            let (vs, ve) = (self.tok_start, self.i);
            if std::str::from_utf8(&self.b[vs..ve]).is_err() {
                return Err(self.err(format!("invalid UTF-8 label value: {}", quote(&self.b[vs..ve]))));
            }
            self.series.labels.push((ns, ne, vs + 1, ve - 1));
            // Trailing commas are allowed, and so (unlike OpenMetrics) are
            // missing ones between labels, as in Prometheus.
            t = self.next_token();
            if t == Tok::Comma {
                t = self.next_token();
            }
        }
        if let Some(dup) = self.series.duplicate(self.b) {
            return Err(self.err(format!("label name {} is not unique while parsing: {}", quote(dup), quote(&self.slice(self.start, self.i)))));
        }
        Ok(())
    }

    fn parse_metric_suffix(&mut self, raw: &'a [u8], t: Tok) -> Result<Entry<'a>, ParseError> {
        if self.series.name.is_none() {
            return Err(self.err(format!("metric name not set while parsing: {}", quote(&self.slice(self.start, self.i)))));
        }
        if t != Tok::Value {
            return Err(self.parse_error("expected value after metric", t));
        }
        let value = parse_go_float(self.buf()).map_err(|e| self.num_err(&e, "ParseFloat"))?;
        let value = normal_nan(value);
        let timestamp = match self.next_token() {
            Tok::Linebreak => None,
            Tok::Timestamp => {
                let ts = parse_go_int(self.buf()).map_err(|e| self.num_err(&e, "ParseInt"))?;
                let t2 = self.next_token();
                if t2 != Tok::Linebreak {
                    return Err(self.parse_error("expected next entry after timestamp", t2));
                }
                Some(ts)
            }
            t => return Err(self.parse_error("expected timestamp or new record", t)),
        };
        Ok(Entry::Series { raw, value, timestamp })
    }

    fn num_err(&self, e: &NumError, func: &str) -> ParseError {
        self.err(format!("{} while parsing: {}", e.describe(func, self.buf()), quote(&self.slice(self.start, self.i))))
    }

    /// Labels of the last series returned, built on demand.
    pub fn labels(&self) -> Labels {
        self.series.build(self.b)
    }
}

impl<'a> Parser<'a> for PromParser<'a> {
    fn next(&mut self) -> Result<Option<Entry<'a>>, ParseError> {
        PromParser::next(self)
    }

    fn labels(&self) -> Labels {
        PromParser::labels(self)
    }

    fn exemplar(&self) -> Option<Exemplar> {
        None
    }
}
