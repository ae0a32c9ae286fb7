//! The parser for PromQL test scripts (`.test` files): turns a script into a
//! [`Script`] of commands with their line numbers, with every value sequence
//! already expanded into one [`Point`] per step.
//!
//! This module owns the script grammar as `shared/conformance/README.md`
//! ("The PromQL test-script language") describes it, including the checks the
//! README places at parse time (the whole file is invalid if one fails). It
//! must not touch storage or evaluate anything: PromQL expressions stay
//! strings, `load_with_nhcb`'s conversion and all result comparison belong to
//! the runner, and checks the README places at evaluation time (a histogram
//! that cannot be stored, a series line longer than a range query's steps)
//! are left to it too.

mod eval;
mod histogram;
mod lex;
mod series;

use model::{Labels, Timestamp};

pub use histogram::{Buckets, CUSTOM_BUCKETS_SCHEMA, CounterResetHint, EXPONENTIAL_SCHEMAS, HistogramSpec};

/// A parsed script: its commands in file order.
#[derive(Debug, Clone, PartialEq)]
pub struct Script {
    pub commands: Vec<ScriptCommand>,
}

/// One command and the 1-based line it starts on.
#[derive(Debug, Clone, PartialEq)]
pub struct ScriptCommand {
    pub line: usize,
    pub command: Command,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// `clear`: drop all stored data.
    Clear,
    /// `load <interval>` or `load_with_nhcb <interval>`.
    Load(Load),
    /// Any `eval` form, legacy spellings included.
    Eval(Eval),
}

/// A `load` block.
#[derive(Debug, Clone, PartialEq)]
pub struct Load {
    /// Value k of every series is stored at `k * interval_ms`.
    pub interval_ms: i64,
    /// `load_with_nhcb`: the runner must also turn classic histogram series
    /// (`_bucket`/`_count`/`_sum`) into native histograms with custom buckets.
    pub with_nhcb: bool,
    /// One entry per distinct series. When a block defines a series twice the
    /// later definition has replaced the earlier one here, as the README asks.
    pub series: Vec<LoadSeries>,
}

/// One series of a `load` block.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadSeries {
    /// The line of the sample values (not of an `@st` line before it).
    pub line: usize,
    pub labels: Labels,
    /// One point per step, `_` included as [`Point::Missing`].
    pub values: Vec<Point>,
    /// From an `@st` line: per position, the start timestamp's offset in ms
    /// from the sample's own timestamp (ST = T + offset), `None` for `_`.
    /// Exactly as long as `values`.
    pub start_offsets: Option<Vec<Option<i64>>>,
}

impl LoadSeries {
    /// The points with their timestamps (`k * interval_ms`), omitted values
    /// left out but still advancing time.
    pub fn samples(&self, interval_ms: i64) -> impl Iterator<Item = (Timestamp, &Point)> {
        self.values.iter().enumerate().filter(|(_, p)| !matches!(p, Point::Missing)).map(move |(k, p)| (k as i64 * interval_ms, p))
    }
}

/// One expanded value of a sequence.
#[derive(Debug, Clone, PartialEq)]
pub enum Point {
    Float(f64),
    /// `stale`: the staleness marker, stored as [`model::value::stale_nan`].
    /// Kept apart from floats so that it cannot be mistaken for a NaN.
    Stale,
    /// `_`: no sample (in `load`) or no point expected (in results).
    Missing,
    Histogram(Box<HistogramSpec>),
    /// A `{{A}}+{{B}}xN` sequence whose arithmetic this parser does not
    /// implement (differing custom bounds, a populated bucket straddling a
    /// widened zero threshold). `raw` is the whole item as written; it is
    /// repeated once per step it stands for, so later values keep their times.
    Unsupported {
        raw: String,
        reason: String,
    },
}

impl Point {
    /// The float to store or compare: the value itself, or the stale-marker
    /// NaN. `None` for anything else.
    pub fn float_value(&self) -> Option<f64> {
        match self {
            Point::Float(v) => Some(*v),
            Point::Stale => Some(model::value::stale_nan()),
            _ => None,
        }
    }
}

/// An `eval` command.
#[derive(Debug, Clone, PartialEq)]
pub struct Eval {
    pub kind: EvalKind,
    /// The PromQL query, unparsed.
    pub expr: String,
    pub expect: Expectations,
    pub result: ExpectedResult,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvalKind {
    /// `eval instant at <time>`.
    Instant { at_ms: Timestamp },
    /// `eval range from <start> to <end> step <step>`; `end >= start`.
    Range { start_ms: Timestamp, end_ms: Timestamp, step_ms: i64 },
}

/// The `expect ...` lines and what legacy spellings imply.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Expectations {
    /// `expect fail [msg:|regex:]`, `eval_fail`, `expected_fail_message`,
    /// `expected_fail_regexp`. `None`: the query must succeed.
    pub fail: Option<MessageMatch>,
    pub warnings: AnnotationExpectation,
    pub infos: AnnotationExpectation,
    /// `expect ordered` or `eval_ordered`.
    pub ordered: bool,
    /// `expect range vector from .. to .. step ..`: an instant query returning
    /// a range vector, evaluated at `end_ms`.
    pub range_vector: Option<RangeWindow>,
}

/// How an error or annotation text must match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageMatch {
    /// Any text (a bare `expect fail`/`expect warn`, or a legacy `eval_*`).
    Any,
    /// `msg:`: the whole text, exactly.
    Exact(String),
    /// `regex:`: a Go RE2 regex, unanchored; compiled by the runner.
    Regex(String),
}

/// What an eval expects of one kind of annotation (warnings or infos).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum AnnotationExpectation {
    /// No `expect` line of this kind: annotations are ignored.
    #[default]
    Unchecked,
    /// `no_warn` / `no_info`: there must be none.
    Forbidden,
    /// At least one; each line must match some annotation and each annotation
    /// must match some line.
    Required(Vec<MessageMatch>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RangeWindow {
    pub start_ms: Timestamp,
    pub end_ms: Timestamp,
    pub step_ms: i64,
}

/// The result lines of an eval.
#[derive(Debug, Clone, PartialEq)]
pub enum ExpectedResult {
    /// No result lines: an empty vector (instant) or matrix (range).
    Empty,
    /// A bare number line.
    Scalar(f64),
    /// `expect string "..."`.
    String(String),
    /// Series lines, in file order (which matters with `ordered`).
    Series(Vec<ExpectedSeries>),
}

/// One expected series: for a range query (or `expect range vector`) value k
/// belongs to `start + k * step`; for an instant query there is at most one.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpectedSeries {
    pub line: usize,
    pub labels: Labels,
    pub values: Vec<Point>,
}

/// Why a script could not be parsed; any such error makes the whole file
/// invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ScriptError {
    /// 1-based.
    pub line: usize,
    pub message: String,
}

impl ScriptError {
    fn new(line: usize, message: impl Into<String>) -> Self {
        ScriptError { line, message: message.into() }
    }
}

/// A blank line or a comment ends a block.
fn is_blank(line: &str) -> bool {
    line.is_empty() || line.starts_with('#')
}

/// Parses a whole script.
pub fn parse(text: &str) -> Result<Script, ScriptError> {
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    let mut commands = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if is_blank(line) {
            i += 1;
            continue;
        }
        let line_no = i + 1;
        let (word, rest) = lex::split_word(line);
        let word = word.to_ascii_lowercase();
        let block_end = || lines[i + 1..].iter().position(|l| is_blank(l)).map_or(lines.len(), |p| i + 1 + p);
        let command = if word == "clear" {
            if !rest.is_empty() {
                return Err(ScriptError::new(line_no, format!("unexpected text after clear: {rest:?}")));
            }
            i += 1;
            Command::Clear
        } else if word.starts_with("load") {
            let end = block_end();
            let load = parse_load(&word, rest, line_no, &lines[i + 1..end])?;
            i = end;
            Command::Load(load)
        } else if word.starts_with("eval") {
            let (eval, used) = eval::parse_eval(&word, rest, line_no, &lines[i + 1..block_end()])?;
            i += 1 + used;
            Command::Eval(eval)
        } else {
            return Err(ScriptError::new(line_no, format!("invalid command {:?}", lex::split_word(line).0)));
        };
        commands.push(ScriptCommand { line: line_no, command });
    }
    Ok(Script { commands })
}

fn parse_load(word: &str, rest: &str, line_no: usize, block: &[&str]) -> Result<Load, ScriptError> {
    let with_nhcb = match word {
        "load" => false,
        "load_with_nhcb" => true,
        _ => return Err(ScriptError::new(line_no, format!("invalid load command {word:?}"))),
    };
    let (interval, extra) = lex::split_word(rest);
    if interval.is_empty() || !extra.is_empty() {
        return Err(ScriptError::new(line_no, format!("expected `{word} <interval>`")));
    }
    let interval_ms = lex::parse_duration_ms(interval).map_err(|e| ScriptError::new(line_no, format!("invalid load interval: {e}")))?;
    let mut series: Vec<LoadSeries> = Vec::new();
    // An `@st` line waiting for its sample line: (line, labels, offsets).
    let mut pending: Option<(usize, Labels, Vec<Option<i64>>)> = None;
    for (k, text) in block.iter().enumerate() {
        let n = line_no + 1 + k;
        let err = |m: String| ScriptError::new(n, m);
        let (labels, values_text) = series::parse_metric(text).map_err(err)?;
        if let Some(st_text) = values_text.strip_prefix("@st") {
            if !st_text.is_empty() && !st_text.starts_with([' ', '\t']) {
                return Err(err(format!("invalid text after metric: {values_text:?}")));
            }
            if let Some((st_line, ..)) = pending {
                return Err(err(format!("start-timestamp line {st_line} must be followed by its sample line, not another @st line")));
            }
            pending = Some((n, labels, series::parse_start_offsets(st_text).map_err(err)?));
            continue;
        }
        let values = series::parse_values(values_text).map_err(err)?;
        let start_offsets = match pending.take() {
            None => None,
            Some((st_line, st_labels, offsets)) => {
                if st_labels != labels {
                    return Err(err(format!("start-timestamp line {st_line} is for {st_labels}, but the next line is {labels}")));
                }
                if offsets.len() != values.len() {
                    return Err(err(format!("start-timestamp line {st_line} has {} positions but the series has {}", offsets.len(), values.len())));
                }
                Some(offsets)
            }
        };
        let entry = LoadSeries { line: n, labels, values, start_offsets };
        match series.iter_mut().find(|s| s.labels == entry.labels) {
            Some(existing) => *existing = entry,
            None => series.push(entry),
        }
    }
    if let Some((st_line, ..)) = pending {
        return Err(ScriptError::new(st_line, "start-timestamp line without a sample line after it"));
    }
    Ok(Load { interval_ms, with_nhcb, series })
}

#[cfg(test)]
mod tests;
