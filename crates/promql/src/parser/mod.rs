//! The PromQL parser: lexer, syntax tree and the type checks Prometheus
//! makes before evaluating anything, with errors that carry a
//! `line:column` position as Prometheus's do.
//!
//! Written here rather than taken from the `promql-parser` crate, whose
//! errors carry no position and use their own wording; see
//! `docs/adr/0002-promql-parser.md` for the measurement.

pub mod ast;
pub mod functions;
mod lex;
mod parse;
mod printer;

pub use ast::{AggOp, At, BinOp, Cardinality, Expr, Span, ValueType, VectorMatching, VectorSelector};
pub use parse::parse;
pub use printer::{MAX_LINE_WIDTH, prettify, prettify_with_width};

/// A Prometheus duration string (`5m`, `1h30m`, `100ms`) in milliseconds.
pub fn parse_duration(s: &str) -> Option<i64> {
    match lex::duration_at(s, 0) {
        Some((ms, len)) if len == s.len() => Some(ms),
        _ => None,
    }
}

/// A query that does not parse or does not type-check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{line}:{col}: parse error: {msg}")]
pub struct ParseError {
    pub msg: String,
    /// 1-based line and column (in characters) of the offending input.
    pub line: usize,
    pub col: usize,
}

impl ParseError {
    pub(crate) fn at(input: &str, offset: usize, msg: String) -> Self {
        let offset = offset.min(input.len());
        let before = input.get(..offset).unwrap_or(input);
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        ParseError { msg, line, col }
    }
}
