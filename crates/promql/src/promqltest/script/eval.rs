//! `eval` commands: the header line in all its spellings and the block of
//! expectation and result lines after it.

use super::lex::{parse_duration_ms, parse_scalar_literal, scan_quoted, split_word};
use super::series::{parse_metric, parse_values};
use super::{AnnotationExpectation, Eval, EvalKind, Expectations, ExpectedResult, ExpectedSeries, MessageMatch, RangeWindow, ScriptError};

/// The legacy `eval_*` spellings, each standing for an `expect` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Legacy {
    None,
    Fail,
    Warn,
    Info,
    Ordered,
}

/// Parses an eval whose command word (lowercased) is `word`, with the rest of
/// its line and the block lines after it (up to the next blank or comment).
/// Returns the eval and how many block lines it used: a scalar line or a
/// legacy `expected_fail_*` line ends the block early.
pub(super) fn parse_eval(word: &str, rest: &str, line_no: usize, block: &[&str]) -> Result<(Eval, usize), ScriptError> {
    let err = |m: String| ScriptError::new(line_no, m);
    let legacy = match word {
        "eval" => Legacy::None,
        "eval_fail" => Legacy::Fail,
        "eval_warn" => Legacy::Warn,
        "eval_info" => Legacy::Info,
        "eval_ordered" => Legacy::Ordered,
        _ => return Err(err(format!("invalid eval command {word:?}"))),
    };
    let (kind, expr) = parse_header(rest).map_err(err)?;
    if legacy == Legacy::Ordered && matches!(kind, EvalKind::Range { .. }) {
        return Err(err("eval_ordered is only valid for instant queries".into()));
    }
    let mut expect = Expectations::default();
    match legacy {
        Legacy::None => {}
        Legacy::Fail => expect.fail = Some(MessageMatch::Any),
        Legacy::Warn => expect.warnings = AnnotationExpectation::Required(vec![MessageMatch::Any]),
        Legacy::Info => expect.infos = AnnotationExpectation::Required(vec![MessageMatch::Any]),
        Legacy::Ordered => expect.ordered = true,
    }

    let mut builder = Block { kind, legacy, expect, explicit_fail: false, series: Vec::new(), scalar: None, string: None };
    let mut used = 0;
    for (k, text) in block.iter().enumerate() {
        used = k + 1;
        let n = line_no + 1 + k;
        if builder.line(text, n).map_err(|m| ScriptError::new(n, m))? == Flow::EndBlock {
            break;
        }
    }
    let Block { expect, series, scalar, string, .. } = builder;

    if expect.range_vector.is_none() && matches!(kind, EvalKind::Instant { .. }) {
        if let Some(s) = series.iter().find(|s| s.values.len() > 1) {
            return Err(ScriptError::new(s.line, "an instant eval expects at most one value per series (without `expect range vector`)"));
        }
    }
    let result = match (series.is_empty(), scalar, string) {
        (true, None, None) => ExpectedResult::Empty,
        (false, None, None) => ExpectedResult::Series(series),
        (true, Some(v), None) => ExpectedResult::Scalar(v),
        (true, None, Some(s)) => ExpectedResult::String(s),
        _ => return Err(err("an eval can expect only one of series, a scalar or a string".into())),
    };
    Ok((Eval { kind, expr: expr.to_owned(), expect, result }, used))
}

/// `instant at <time> <query>` or `range from <start> to <end> step <step> <query>`.
fn parse_header(rest: &str) -> Result<(EvalKind, &str), String> {
    let (form, rest) = split_word(rest);
    let (kind, expr) = match form {
        "instant" => {
            let rest = keyword(rest, "at").map_err(|_| "eval instant needs `at <time>`".to_owned())?;
            let (time, expr) = split_word(rest);
            (EvalKind::Instant { at_ms: time_arg(time, "eval time")? }, expr)
        }
        "range" => {
            let (window, expr) = parse_window(rest)?;
            (EvalKind::Range { start_ms: window.start_ms, end_ms: window.end_ms, step_ms: window.step_ms }, expr)
        }
        other => return Err(format!("expected `instant` or `range` after eval, found {other:?}")),
    };
    if expr.is_empty() {
        return Err("eval without a query".into());
    }
    Ok((kind, expr))
}

/// `from <start> to <end> step <step>`, returning the rest of the line.
///
/// Upstream splits the range header with a greedy regular expression; taking
/// one word per value gives the same split for every query that does not
/// itself contain ` to ` or ` step `, and the intended one for those that do.
fn parse_window(rest: &str) -> Result<(RangeWindow, &str), String> {
    let rest = keyword(rest, "from")?;
    let (start, rest) = split_word(rest);
    let rest = keyword(rest, "to")?;
    let (end, rest) = split_word(rest);
    let rest = keyword(rest, "step")?;
    let (step, rest) = split_word(rest);
    let window = RangeWindow { start_ms: time_arg(start, "start")?, end_ms: time_arg(end, "end")?, step_ms: time_arg(step, "step")? };
    if window.end_ms < window.start_ms {
        return Err(format!("range end {end} is before its start {start}"));
    }
    Ok((window, rest))
}

fn keyword<'a>(s: &'a str, kw: &str) -> Result<&'a str, String> {
    match split_word(s) {
        (w, rest) if w == kw => Ok(rest),
        (w, _) => Err(format!("expected `{kw}`, found {w:?}")),
    }
}

fn time_arg(s: &str, what: &str) -> Result<i64, String> {
    if s.is_empty() {
        return Err(format!("missing {what}"));
    }
    parse_duration_ms(s).map_err(|e| format!("invalid {what}: {e}"))
}

#[derive(Debug, PartialEq, Eq)]
enum Flow {
    Continue,
    EndBlock,
}

/// What an eval block has said so far.
struct Block {
    kind: EvalKind,
    legacy: Legacy,
    expect: Expectations,
    explicit_fail: bool,
    series: Vec<ExpectedSeries>,
    scalar: Option<f64>,
    string: Option<String>,
}

impl Block {
    /// One block line, in the README's order of recognition.
    fn line(&mut self, text: &str, line: usize) -> Result<Flow, String> {
        let (first, tail) = split_word(text);
        match first {
            "expected_fail_message" | "expected_fail_regexp" => {
                if self.legacy != Legacy::Fail {
                    return Err(format!("{first} is only valid after eval_fail"));
                }
                if tail.is_empty() {
                    return Err(format!("{first} needs a text"));
                }
                let m = if first == "expected_fail_message" { MessageMatch::Exact(tail.to_owned()) } else { MessageMatch::Regex(tail.to_owned()) };
                self.set_fail(m)?;
                Ok(Flow::EndBlock)
            }
            "expect" => {
                self.expect_line(tail)?;
                Ok(Flow::Continue)
            }
            _ => {
                if let Some(v) = parse_scalar_literal(text) {
                    self.scalar = Some(v);
                    return Ok(Flow::EndBlock);
                }
                let (labels, values) = parse_metric(text)?;
                let values = parse_values(values)?;
                if values.is_empty() {
                    return Err("series line without values".into());
                }
                self.series.push(ExpectedSeries { line, labels, values });
                Ok(Flow::Continue)
            }
        }
    }

    fn set_fail(&mut self, m: MessageMatch) -> Result<(), String> {
        if self.explicit_fail {
            return Err("at most one `expect fail` is allowed".into());
        }
        self.explicit_fail = true;
        // An explicit message refines what `eval_fail` alone said.
        self.expect.fail = Some(m);
        Ok(())
    }

    fn expect_line(&mut self, tail: &str) -> Result<(), String> {
        let instant = matches!(self.kind, EvalKind::Instant { .. });
        let (what, rest) = split_word(tail);
        match what {
            "range" => {
                let rest = keyword(rest, "vector")?;
                let (window, extra) = parse_window(rest)?;
                if !extra.is_empty() {
                    return Err(format!("unexpected text after `expect range vector`: {extra:?}"));
                }
                if !instant {
                    return Err("`expect range vector` is only valid for instant queries".into());
                }
                if self.expect.range_vector.replace(window).is_some() {
                    return Err("`expect range vector` given twice".into());
                }
            }
            "string" => {
                if !instant {
                    return Err("`expect string` is only valid for instant queries".into());
                }
                if !(rest.starts_with('"') || rest.starts_with('`')) {
                    return Err(format!("`expect string` needs a double-quoted or backquoted string, found {rest:?}"));
                }
                let (value, used) = scan_quoted(rest)?;
                if used != rest.len() {
                    return Err(format!("unexpected text after the expected string: {:?}", &rest[used..]));
                }
                if self.string.replace(value).is_some() {
                    return Err("`expect string` given twice".into());
                }
            }
            "fail" | "warn" | "info" | "no_warn" | "no_info" | "ordered" => {
                let m = message_match(rest)?;
                if !matches!(m, MessageMatch::Any) && !matches!(what, "fail" | "warn" | "info") {
                    return Err(format!("`expect {what}` takes no msg: or regex:"));
                }
                match what {
                    "fail" => self.set_fail(m)?,
                    "warn" => require(&mut self.expect.warnings, m, "warn")?,
                    "info" => require(&mut self.expect.infos, m, "info")?,
                    "no_warn" => forbid(&mut self.expect.warnings, "warn")?,
                    "no_info" => forbid(&mut self.expect.infos, "info")?,
                    _ => self.expect.ordered = true,
                }
            }
            other => return Err(format!("unknown expectation `expect {other}`")),
        }
        Ok(())
    }
}

/// The optional `msg: <text>` or `regex: <re>` after an expectation type.
fn message_match(rest: &str) -> Result<MessageMatch, String> {
    if rest.is_empty() {
        return Ok(MessageMatch::Any);
    }
    let (text, exact) = if let Some(t) = rest.strip_prefix("msg:") {
        (t.trim(), true)
    } else if let Some(t) = rest.strip_prefix("regex:") {
        (t.trim(), false)
    } else {
        return Err(format!("expected `msg:` or `regex:`, found {rest:?}"));
    };
    if text.is_empty() {
        return Err("empty message after msg: or regex:".into());
    }
    Ok(if exact { MessageMatch::Exact(text.to_owned()) } else { MessageMatch::Regex(text.to_owned()) })
}

fn require(a: &mut AnnotationExpectation, m: MessageMatch, kind: &str) -> Result<(), String> {
    match a {
        AnnotationExpectation::Forbidden => Err(format!("`expect {kind}` contradicts `expect no_{kind}`")),
        AnnotationExpectation::Required(list) => {
            list.push(m);
            Ok(())
        }
        AnnotationExpectation::Unchecked => {
            *a = AnnotationExpectation::Required(vec![m]);
            Ok(())
        }
    }
}

fn forbid(a: &mut AnnotationExpectation, kind: &str) -> Result<(), String> {
    if matches!(a, AnnotationExpectation::Required(_)) {
        return Err(format!("`expect no_{kind}` contradicts `expect {kind}`"));
    }
    *a = AnnotationExpectation::Forbidden;
    Ok(())
}
