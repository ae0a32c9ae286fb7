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
pub use parse::{parse, parse_metric_selector};
pub use printer::{MAX_LINE_WIDTH, prettify, prettify_with_width};

/// A Prometheus duration string (`5m`, `1h30m`, `100ms`) in milliseconds.
pub fn parse_duration(s: &str) -> Option<i64> {
    match lex::duration_at(s, 0) {
        Some((ms, len)) if len == s.len() => Some(ms),
        _ => None,
    }
}

/// Where string literals keep bytes that are not UTF-8 (`"\xc5"`): the last
/// 256 code points of plane 16's private-use area, which no label or
/// exposition carries in practice.
const RAW_BYTE_BASE: u32 = 0x10_FF00;

fn raw_byte_char(b: u8) -> char {
    char::from_u32(RAW_BYTE_BASE + u32::from(b)).unwrap_or(char::REPLACEMENT_CHARACTER)
}

/// Whether a string literal held bytes that are not UTF-8, which Prometheus
/// refuses wherever a label name or value is made of it.
pub fn has_raw_bytes(s: &str) -> bool {
    s.chars().any(|c| (c as u32) >= RAW_BYTE_BASE)
}

/// The bytes a string literal stood for, as Go holds them (for messages that
/// quote them the way Prometheus does).
pub fn raw_bytes(s: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut buf = [0; 4];
    for c in s.chars() {
        match (c as u32).checked_sub(RAW_BYTE_BASE) {
            Some(b) => out.push(b as u8),
            None => out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes()),
        }
    }
    out
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
