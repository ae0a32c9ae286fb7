//! OpenMetrics 1.0 text, after Prometheus's `openmetricslex.l` and
//! `openmetricsparse.go`: single spaces only, no free-form comments, float
//! second timestamps, exemplars, and a mandatory `# EOF`.

use std::borrow::Cow;

use model::{Exemplar, Labels, MetricType};

use crate::common::{
    NumError, ParseError, SeriesOffsets, Tok, is_l_char, is_l_start, is_m_char, is_m_start, normal_nan, parse_go_float, quote, scan_quoted, unescape,
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
    Exemplar,
    EValue,
    ETimestamp,
}

/// The exemplar of the current sample, by offsets into the input.
#[derive(Debug, Default, Clone)]
struct ExemplarOffsets {
    present: bool,
    labels: Vec<(usize, usize, usize, usize)>,
    value: f64,
    ts: Option<i64>,
}

/// Pull parser for OpenMetrics 1.0 text over a borrowed body.
#[derive(Debug)]
pub struct OpenMetricsParser<'a> {
    b: &'a [u8],
    i: usize,
    tok_start: usize,
    state: State,
    start: usize,
    series: SeriesOffsets,
    exemplar: ExemplarOffsets,
    done: bool,
}

impl<'a> OpenMetricsParser<'a> {
    pub fn new(b: &'a [u8]) -> Self {
        OpenMetricsParser {
            b,
            i: 0,
            tok_start: 0,
            state: State::Init,
            start: 0,
            series: SeriesOffsets::default(),
            exemplar: ExemplarOffsets::default(),
            done: false,
        }
    }

    fn at(&self, i: usize) -> Option<u8> {
        self.b.get(i).copied()
    }

    fn buf(&self) -> &'a [u8] {
        &self.b[self.tok_start..self.i]
    }

    fn lex(&mut self) -> Tok {
        let Some(c) = self.at(self.i) else { return Tok::Eof };
        self.tok_start = self.i;
        match self.state {
            State::Init => match c {
                b'#' => {
                    self.i += 1;
                    if self.at(self.i) != Some(b' ') {
                        return Tok::Invalid;
                    }
                    self.i += 1;
                    for (word, tok) in [(&b"HELP "[..], Tok::Help), (&b"TYPE "[..], Tok::Type), (&b"UNIT "[..], Tok::Unit)] {
                        if self.b[self.i..].starts_with(word) {
                            self.i += word.len();
                            self.state = State::Meta1;
                            return tok;
                        }
                    }
                    if self.b[self.i..].starts_with(b"EOF") {
                        self.i += 3;
                        if self.at(self.i) == Some(b'\n') {
                            self.i += 1;
                        }
                        return Tok::EofWord;
                    }
                    Tok::Invalid
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
                if c != b' ' {
                    return Tok::Invalid;
                }
                match self.b[self.i..].iter().position(|&c| c == b'\n') {
                    Some(n) => {
                        self.i += n + 1;
                        self.state = State::Init;
                        Tok::Text
                    }
                    None => Tok::Invalid,
                }
            }
            State::Labels | State::Exemplar => {
                let exemplar = self.state == State::Exemplar;
                match c {
                    b'"' => self.quoted(!exemplar, self.state, Tok::QString),
                    b'}' => {
                        self.i += 1;
                        self.state = if exemplar { State::EValue } else { State::Value };
                        Tok::BraceClose
                    }
                    b'=' => {
                        self.i += 1;
                        self.state = if exemplar { State::EValue } else { State::LValue };
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
                }
            }
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
                b' ' => self.spaced_word(State::Timestamp, Tok::Value),
                _ => Tok::Invalid,
            },
            State::Timestamp => match c {
                b'\n' => {
                    self.i += 1;
                    self.state = State::Init;
                    Tok::Linebreak
                }
                b' ' if self.b[self.i..].starts_with(b" # {") => {
                    self.i += 4;
                    self.state = State::Exemplar;
                    Tok::Comment
                }
                b' ' => self.spaced_word(State::Timestamp, Tok::Timestamp),
                _ => Tok::Invalid,
            },
            State::EValue => match c {
                b'"' => self.quoted(false, State::Exemplar, Tok::LValue),
                b' ' => self.spaced_word(State::ETimestamp, Tok::Value),
                _ => Tok::Invalid,
            },
            State::ETimestamp => match c {
                b'\n' => {
                    self.i += 1;
                    self.state = State::Init;
                    Tok::Linebreak
                }
                b' ' => self.spaced_word(State::ETimestamp, Tok::Timestamp),
                _ => Tok::Invalid,
            },
        }
    }

    /// `{S}[^ \n]+`: one space, then a non-empty word.
    fn spaced_word(&mut self, next: State, tok: Tok) -> Tok {
        let mut j = self.i + 1;
        while self.at(j).is_some_and(|c| c != b' ' && c != b'\n') {
            j += 1;
        }
        if j == self.i + 1 {
            self.i += 1;
            return Tok::Invalid;
        }
        self.i = j;
        self.state = next;
        tok
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

    fn err(&self, msg: String) -> ParseError {
        ParseError::new(self.b, self.tok_start, msg)
    }

    fn upto(&self, e: usize) -> &'a [u8] {
        &self.b[self.start.min(self.b.len())..e.min(self.b.len())]
    }

    fn parse_error(&self, exp: &str, got: Tok) -> ParseError {
        let e = (self.i + 1).min(self.b.len());
        let s = self.tok_start.min(e);
        self.err(format!("{exp}, got {} ({}) while parsing: {}", quote(&self.b[s..e]), quote(got.as_str().as_bytes()), quote(self.upto(e))))
    }

    fn utf8(&self, s: usize, e: usize, what: &str) -> Result<&'a str, ParseError> {
        let bytes = &self.b[s..e];
        std::str::from_utf8(bytes).map_err(|_| self.err(format!("invalid UTF-8 {what}: {}", quote(bytes))))
    }

    /// Advances to the next entry; `Ok(None)` after `# EOF`.
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
        self.start = self.i;
        self.series.clear();
        self.exemplar.present = false;
        self.exemplar.labels.clear();
        let t = self.lex();
        match t {
            Tok::EofWord => {
                if self.lex() != Tok::Eof {
                    return Err(self.err("unexpected data after # EOF".to_owned()));
                }
                Ok(None)
            }
            Tok::Eof => Err(self.err("data does not end with # EOF".to_owned())),
            Tok::Help | Tok::Type | Tok::Unit => self.parse_meta(t).map(Some),
            Tok::BraceOpen => {
                let raw_start = self.tok_start;
                self.parse_lvals(false)?;
                let raw = &self.b[raw_start..self.i];
                let t2 = self.lex();
                self.parse_metric_suffix(raw, t2).map(Some)
            }
            Tok::MName => {
                let raw_start = self.tok_start;
                self.series.name = Some((self.tok_start, self.i));
                let mut raw_end = self.i;
                let mut t2 = self.lex();
                if t2 == Tok::BraceOpen {
                    self.parse_lvals(false)?;
                    raw_end = self.i;
                    t2 = self.lex();
                }
                let raw = &self.b[raw_start..raw_end];
                self.parse_metric_suffix(raw, t2).map(Some)
            }
            _ => Err(self.parse_error("expected a valid start token", t)),
        }
    }

    fn parse_meta(&mut self, t: Tok) -> Result<Entry<'a>, ParseError> {
        let t2 = self.lex();
        if t2 != Tok::MName {
            return Err(self.parse_error(&format!("expected metric name after {}", t.as_str()), t2));
        }
        let (mut ms, mut me) = (self.tok_start, self.i);
        if self.b[ms] == b'"' {
            ms += 1;
            me -= 1;
        }
        let metric = self.utf8(ms, me, "metric name")?;
        if self.lex() != Tok::Text {
            return Err(self.err(format!("expected text in {}", t.as_str())));
        }
        let buf = self.buf();
        let text = if buf.len() > 1 { &buf[1..buf.len() - 1] } else { &[][..] };
        match t {
            Tok::Type => {
                let kind = match text {
                    b"counter" => MetricType::Counter,
                    b"gauge" => MetricType::Gauge,
                    b"histogram" => MetricType::Histogram,
                    b"gaugehistogram" => MetricType::GaugeHistogram,
                    b"summary" => MetricType::Summary,
                    b"info" => MetricType::Info,
                    b"stateset" => MetricType::StateSet,
                    b"unknown" => MetricType::Unknown,
                    _ => return Err(self.err(format!("invalid metric type {}", quote(text)))),
                };
                Ok(Entry::Type { metric, kind })
            }
            Tok::Help => {
                let Ok(s) = std::str::from_utf8(text) else {
                    return Err(self.err(format!("help text {} is not a valid utf8 string", quote(text))));
                };
                Ok(Entry::Help { metric, text: unescape(s, true) })
            }
            _ => {
                let unit = std::str::from_utf8(text).map_err(|_| self.err(format!("invalid UTF-8 unit: {}", quote(text))))?;
                if !unit.is_empty() {
                    let ok = metric.len() > unit.len() && metric.ends_with(unit) && metric.as_bytes()[metric.len() - unit.len() - 1] == b'_';
                    if !ok {
                        return Err(self.err(format!("unit {} not a suffix of metric {}", quote(text), quote(metric.as_bytes()))));
                    }
                }
                Ok(Entry::Unit { metric, unit })
            }
        }
    }

    /// Parses a label set after its `{`, into the series or the exemplar.
    fn parse_lvals(&mut self, exemplar: bool) -> Result<(), ParseError> {
        let mut t = self.lex();
        loop {
            let (ts, ti) = (self.tok_start, self.i);
            let quoted = match t {
                Tok::BraceClose => break,
                Tok::LName => false,
                Tok::QString => true,
                _ => return Err(self.parse_error("expected label name", t)),
            };
            t = self.lex();
            if t == Tok::Comma || t == Tok::BraceClose {
                if exemplar || !quoted {
                    return Err(self.parse_error("expected label name", t));
                }
                if self.series.name.is_some() {
                    return Err(self.err(format!("metric name already set while parsing: {}", quote(self.upto(self.i)))));
                }
                self.utf8(ts + 1, ti - 1, "metric name")?;
                self.series.name = Some((ts + 1, ti - 1));
                if t == Tok::BraceClose {
                    break;
                }
                t = self.lex();
                continue;
            }
            let (ns, ne) = if quoted { (ts + 1, ti - 1) } else { (ts, ti) };
            if t != Tok::Equal {
                return Err(self.parse_error("expected equal", t));
            }
            if quoted {
                self.utf8(ns, ne, "label name")?;
            }
            let t2 = self.lex();
            if t2 != Tok::LValue {
                return Err(self.parse_error("expected label value", t2));
            }
            let (vs, ve) = (self.tok_start, self.i);
            if std::str::from_utf8(&self.b[vs..ve]).is_err() {
                return Err(self.err(format!("invalid UTF-8 label value: {}", quote(&self.b[vs..ve]))));
            }
            let offsets = (ns, ne, vs + 1, ve - 1);
            if exemplar {
                self.exemplar.labels.push(offsets);
            } else {
                self.series.labels.push(offsets);
            }
            t = self.lex();
            if t == Tok::Comma {
                t = self.lex();
            } else if t != Tok::BraceClose {
                return Err(self.parse_error("expected comma or brace close", t));
            }
        }
        if !exemplar {
            if let Some(dup) = self.series.duplicate(self.b) {
                return Err(self.err(format!("label name {} is not unique while parsing: {}", quote(dup), quote(self.upto(self.i)))));
            }
        }
        Ok(())
    }

    fn float_value(&self, t: Tok, after: &str) -> Result<f64, ParseError> {
        if t != Tok::Value {
            return Err(self.parse_error(&format!("expected value after {after}"), t));
        }
        let v = parse_go_float(&self.buf()[1..]).map_err(|e| self.num_err(&e))?;
        Ok(normal_nan(v))
    }

    fn num_err(&self, e: &NumError) -> ParseError {
        self.err(format!("{} while parsing: {}", e.describe("ParseFloat", &self.buf()[1..]), quote(self.upto(self.i))))
    }

    /// A timestamp in float seconds, as integer milliseconds.
    fn timestamp(&self, what: &str) -> Result<i64, ParseError> {
        let ts = parse_go_float(&self.buf()[1..]).map_err(|e| self.num_err(&e))?;
        if !ts.is_finite() {
            return Err(self.err(format!("invalid {what} {}", go_float_f(ts))));
        }
        Ok((ts * 1000.0) as i64)
    }

    fn parse_metric_suffix(&mut self, raw: &'a [u8], t: Tok) -> Result<Entry<'a>, ParseError> {
        if self.series.name.is_none() {
            return Err(self.err(format!("metric name not set while parsing: {}", quote(self.upto(self.i)))));
        }
        let value = self.float_value(t, "metric")?;
        let mut timestamp = None;
        match self.lex() {
            Tok::Eof => return Err(self.err("data does not end with # EOF".to_owned())),
            Tok::Linebreak => {}
            Tok::Comment => self.parse_exemplar()?,
            Tok::Timestamp => {
                timestamp = Some(self.timestamp("timestamp")?);
                match self.lex() {
                    Tok::Linebreak => {}
                    Tok::Comment => self.parse_exemplar()?,
                    Tok::Eof => return Err(self.err("data does not end with # EOF".to_owned())),
                    t3 => return Err(self.parse_error("expected next entry after timestamp", t3)),
                }
            }
            t2 => return Err(self.parse_error("expected timestamp or new record", t2)),
        }
        Ok(Entry::Series { raw, value, timestamp })
    }

    fn parse_exemplar(&mut self) -> Result<(), ParseError> {
        self.parse_lvals(true)?;
        let t = self.lex();
        self.exemplar.value = self.float_value(t, "exemplar labels")?;
        self.exemplar.ts = None;
        match self.lex() {
            Tok::Eof => return Err(self.err("data does not end with # EOF".to_owned())),
            Tok::Linebreak => {}
            Tok::Timestamp => {
                self.exemplar.ts = Some(self.timestamp("exemplar timestamp")?);
                let t3 = self.lex();
                if t3 == Tok::Eof {
                    return Err(self.err("data does not end with # EOF".to_owned()));
                }
                if t3 != Tok::Linebreak {
                    return Err(self.parse_error("expected next entry after exemplar timestamp", t3));
                }
            }
            t2 => return Err(self.parse_error("expected timestamp or comment", t2)),
        }
        self.exemplar.present = true;
        Ok(())
    }

    /// Labels of the last series returned, built on demand.
    pub fn labels(&self) -> Labels {
        self.series.build(self.b)
    }

    /// The exemplar of the last series returned, if it had one.
    pub fn exemplar(&self) -> Option<Exemplar> {
        if !self.exemplar.present {
            return None;
        }
        let offsets = SeriesOffsets { name: None, labels: self.exemplar.labels.clone() };
        Some(Exemplar { labels: offsets.build(self.b), value: self.exemplar.value, ts: self.exemplar.ts.unwrap_or(0), has_ts: self.exemplar.ts.is_some() })
    }
}

/// Go's `%f` for the non-finite values it is used on here.
fn go_float_f(v: f64) -> Cow<'static, str> {
    if v.is_nan() {
        Cow::Borrowed("NaN")
    } else if v == f64::INFINITY {
        Cow::Borrowed("+Inf")
    } else if v == f64::NEG_INFINITY {
        Cow::Borrowed("-Inf")
    } else {
        Cow::Owned(format!("{v:.6}"))
    }
}

impl<'a> Parser<'a> for OpenMetricsParser<'a> {
    fn next(&mut self) -> Result<Option<Entry<'a>>, ParseError> {
        OpenMetricsParser::next(self)
    }

    fn labels(&self) -> Labels {
        OpenMetricsParser::labels(self)
    }

    fn exemplar(&self) -> Option<Exemplar> {
        OpenMetricsParser::exemplar(self)
    }
}
