//! A query back to text, as Prometheus writes it: the canonical one-line
//! form (`Display`, Prometheus's `Expr.String()`) and the line-splitting
//! layout behind `/api/v1/format_query` ([`prettify`], Prometheus's
//! `parser.Prettify`).
//!
//! Both follow Prometheus's output to the character, quirks included,
//! because clients (Grafana's query editor, promtool users diffing rule
//! files) compare it with what Prometheus gives them.

use std::fmt::{self, Display, Formatter};

use model::labels::METRIC_NAME;
use model::names::is_valid_legacy_label_name;
use model::quote::go_quote;
use model::{MatchType, Matcher};

use super::ast::{AggOp, At, BinOp, Cardinality, Expr, VectorMatching, VectorSelector};

/// The longest one-line form a node keeps before [`prettify`] splits it
/// (Prometheus's `maxCharactersPerLine`).
pub const MAX_LINE_WIDTH: usize = 100;

const INDENT: &str = "  ";

impl Display for Expr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Number { value, duration, .. } => write_number(f, *value, *duration),
            Expr::String { value, .. } => f.write_str(&go_quote(&super::raw_bytes(value))),
            Expr::Vector(vs) => {
                write_selector(f, vs)?;
                write_modifiers(f, vs.at, vs.offset)
            }
            Expr::Matrix { vs, range, .. } => {
                write_selector(f, vs)?;
                write!(f, "[{}]", Duration(*range))?;
                write_modifiers(f, vs.at, vs.offset)
            }
            Expr::Subquery { expr, range, step, offset, at, .. } => {
                write!(f, "{expr}{}", SubquerySuffix { range: *range, step: *step, at: *at, offset: *offset })
            }
            Expr::Unary { negative, expr, .. } => write!(f, "{}{expr}", if *negative { '-' } else { '+' }),
            Expr::Paren { expr, .. } => write!(f, "({expr})"),
            Expr::Binary { op, lhs, rhs, return_bool, matching, .. } => {
                write!(f, "{lhs} {} {rhs}", Operator { op: *op, return_bool: *return_bool, matching: matching.as_ref() })
            }
            Expr::Call { func, args, .. } => {
                write!(f, "{}(", func.name)?;
                for (i, a) in args.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{a}")?;
                }
                f.write_str(")")
            }
            Expr::Aggregate { op, expr, param, grouping, without, .. } => {
                write!(f, "{}(", AggregationHead { op: *op, grouping, without: *without })?;
                if let Some(p) = param {
                    write!(f, "{p}, ")?;
                }
                write!(f, "{expr})")
            }
        }
    }
}

/// A number as Go's `strconv.FormatFloat(v, 'f', -1, 64)` writes it, or,
/// when it was written as a duration, as that duration.
fn write_number(f: &mut Formatter<'_>, value: f64, duration: bool) -> fmt::Result {
    if !duration {
        return f.write_str(&crate::engine::format_value(value));
    }
    // Prometheus goes through whole nanoseconds and then whole
    // milliseconds, truncating both times; doing the same keeps the odd
    // sub-millisecond float from printing differently.
    let ms = |secs: f64| ((secs * 1e9) as i64) / 1_000_000;
    if value < 0.0 { write!(f, "-{}", Duration(ms(-value))) } else { write!(f, "{}", Duration(ms(value))) }
}

/// `name{a="b",c=~"d"}`: the name outside the braces when it was written
/// there, the other matchers sorted by their text, as Prometheus does.
fn write_selector(f: &mut Formatter<'_>, vs: &VectorSelector) -> fmt::Result {
    let is_name = |m: &Matcher| m.name == METRIC_NAME && m.kind == MatchType::Equal && !m.value.is_empty() && vs.name.as_deref() == Some(m.value.as_str());
    let mut matchers: Vec<String> = vs.matchers.iter().filter(|m| !is_name(m)).map(Matcher::to_string).collect();
    matchers.sort_unstable();
    if let Some(name) = &vs.name {
        f.write_str(name)?;
    }
    if !matchers.is_empty() {
        write!(f, "{{{}}}", matchers.join(","))?;
    }
    Ok(())
}

/// ` @ <time>` then ` offset <duration>`, the order Prometheus prints them
/// in whatever order they were written.
fn write_modifiers(f: &mut Formatter<'_>, at: Option<At>, offset: i64) -> fmt::Result {
    match at {
        Some(At::Time(ms)) => {
            let sign = if ms < 0 { "-" } else { "" };
            let abs = ms.unsigned_abs();
            write!(f, " @ {sign}{}.{:03}", abs / 1000, abs % 1000)?;
        }
        Some(At::Start) => f.write_str(" @ start()")?,
        Some(At::End) => f.write_str(" @ end()")?,
        None => {}
    }
    match offset {
        0 => Ok(()),
        o if o > 0 => write!(f, " offset {}", Duration(o)),
        o => write!(f, " offset -{}", Duration(o.saturating_neg())),
    }
}

/// `[range:step] @ <time> offset <duration>` after a subquery's expression.
struct SubquerySuffix {
    range: i64,
    step: Option<i64>,
    at: Option<At>,
    offset: i64,
}

impl Display for SubquerySuffix {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "[{}:", Duration(self.range))?;
        // A zero step means the default evaluation interval, as no step does.
        if let Some(step) = self.step.filter(|s| *s != 0) {
            write!(f, "{}", Duration(step))?;
        }
        f.write_str("]")?;
        write_modifiers(f, self.at, self.offset)
    }
}

/// A binary operator with its `bool` and vector-matching clauses:
/// `+ on (a) group_left (b)`. `ignoring ()` alone is left out, being the
/// default; once a `group_*` is there the matching clause is always shown.
struct Operator<'a> {
    op: BinOp,
    return_bool: bool,
    matching: Option<&'a VectorMatching>,
}

impl Display for Operator<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(self.op.as_str())?;
        if self.return_bool {
            f.write_str(" bool")?;
        }
        let Some(m) = self.matching else { return Ok(()) };
        let grouped = matches!(m.card, Cardinality::ManyToOne | Cardinality::OneToMany);
        if m.on || grouped || !m.labels.is_empty() {
            write!(f, " {} ({})", if m.on { "on" } else { "ignoring" }, LabelList(&m.labels))?;
        }
        if grouped {
            let side = if m.card == Cardinality::ManyToOne { "left" } else { "right" };
            write!(f, " group_{side} ({})", LabelList(&m.include))?;
        }
        Ok(())
    }
}

/// `sum`, `sum by (a) ` or `sum without () `: an aggregation up to its
/// opening parenthesis. An empty `by ()` is dropped, an empty
/// `without ()` is not (it removes the metric name).
struct AggregationHead<'a> {
    op: AggOp,
    grouping: &'a [String],
    without: bool,
}

impl Display for AggregationHead<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(self.op.as_str())?;
        if self.without {
            write!(f, " without ({}) ", LabelList(self.grouping))
        } else if !self.grouping.is_empty() {
            write!(f, " by ({}) ", LabelList(self.grouping))
        } else {
            Ok(())
        }
    }
}

/// `a, b, "c.d"`: label names, quoted when they are not legacy names.
struct LabelList<'a>(&'a [String]);

impl Display for LabelList<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        for (i, l) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            if is_valid_legacy_label_name(l) {
                f.write_str(l)?;
            } else {
                f.write_str(&go_quote(l.as_bytes()))?;
            }
        }
        Ok(())
    }
}

/// Milliseconds as Prometheus writes a duration: largest units first
/// (`1h30m`, `1d2h`, `1s500ms`), years and weeks only when they divide
/// it exactly (`90d`, not `12w6d`), `0s` for nothing.
struct Duration(i64);

impl Display for Duration {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        const DAY: u64 = 24 * 60 * 60 * 1000;
        const UNITS: [(&str, u64, bool); 7] = [
            ("y", 365 * DAY, true),
            ("w", 7 * DAY, true),
            ("d", DAY, false),
            ("h", 60 * 60 * 1000, false),
            ("m", 60 * 1000, false),
            ("s", 1000, false),
            ("ms", 1, false),
        ];
        if self.0 == 0 {
            return f.write_str("0s");
        }
        if self.0 < 0 {
            f.write_str("-")?;
        }
        let mut rest = self.0.unsigned_abs();
        for (unit, size, whole_only) in UNITS {
            if whole_only && rest % size != 0 {
                continue;
            }
            let n = rest / size;
            if n > 0 {
                write!(f, "{n}{unit}")?;
                rest -= n * size;
            }
        }
        Ok(())
    }
}

/// Prometheus's layout of a query over several lines: a node whose one-line
/// form is longer than [`MAX_LINE_WIDTH`] bytes is split, its children on
/// their own lines one indent (two spaces) deeper; a node that fits stays
/// on one line.
pub fn prettify(expr: &Expr) -> String {
    prettify_with_width(expr, MAX_LINE_WIDTH)
}

/// [`prettify`] with another line width (Prometheus's own tests use 10 to
/// exercise the splitting on short queries).
pub fn prettify_with_width(expr: &Expr, width: usize) -> String {
    pretty(expr, 0, width)
}

/// One node laid out at `level`, starting with its own indentation (the
/// caller has already begun a new line).
fn pretty(e: &Expr, level: usize, width: usize) -> String {
    let pad = INDENT.repeat(level);
    if let Expr::Unary { negative, expr, .. } = e {
        // The operand decides its own layout at the same depth; the sign is
        // then put in front of its first line.
        let operand = pretty(expr, level, width);
        return format!("{pad}{}{}", if *negative { '-' } else { '+' }, operand.trim());
    }
    let flat = e.to_string();
    if flat.len() <= width {
        // Prometheus does not indent a subquery that fits on its line, even
        // under a split parent; matched so the output is the same.
        return if matches!(e, Expr::Subquery { .. }) { flat } else { format!("{pad}{flat}") };
    }
    match e {
        Expr::Subquery { expr, range, step, offset, at, .. } => {
            format!("{}{}", pretty(expr, level, width), SubquerySuffix { range: *range, step: *step, at: *at, offset: *offset })
        }
        Expr::Paren { expr, .. } => format!("{pad}(\n{}\n{pad})", pretty(expr, level + 1, width)),
        Expr::Binary { op, lhs, rhs, return_bool, matching, .. } => {
            let op = Operator { op: *op, return_bool: *return_bool, matching: matching.as_ref() };
            format!("{}\n{pad}{op}\n{}", pretty(lhs, level + 1, width), pretty(rhs, level + 1, width))
        }
        Expr::Call { func, args, .. } => {
            let args: Vec<String> = args.iter().map(|a| pretty(a, level + 1, width)).collect();
            format!("{pad}{}(\n{}\n{pad})", func.name, args.join(",\n"))
        }
        Expr::Aggregate { op, expr, param, grouping, without, .. } => {
            let head = AggregationHead { op: *op, grouping, without: *without };
            let param = param.as_ref().map(|p| format!("{},\n", pretty(p, level + 1, width))).unwrap_or_default();
            format!("{pad}{head}(\n{param}{}\n{pad})", pretty(expr, level + 1, width))
        }
        // Selectors and literals are never split, however long.
        Expr::Number { .. } | Expr::String { .. } | Expr::Vector(_) | Expr::Matrix { .. } | Expr::Unary { .. } => format!("{pad}{flat}"),
    }
}

#[cfg(test)]
mod tests {
    use super::Duration;

    #[test]
    fn durations_as_prometheus_writes_them() {
        let cases = [
            (0, "0s"),
            (1, "1ms"),
            (1500, "1s500ms"),
            (300_000, "5m"),
            (5_400_000, "1h30m"),
            (86_400_000, "1d"),
            (93_600_000, "1d2h"),
            (604_800_000, "1w"),
            (1_209_600_000, "2w"),
            (7_776_000_000, "90d"),
            (31_536_000_000, "1y"),
            (31_622_400_000, "366d"),
            (-60_000, "-1m"),
        ];
        for (ms, want) in cases {
            assert_eq!(Duration(ms).to_string(), want, "{ms}ms");
        }
    }
}
