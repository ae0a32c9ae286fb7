//! Exposition-format parsing: the Prometheus text format (0.0.4, and 1.0.0
//! with quoted UTF-8 names) and OpenMetrics 1.0 text, plus choosing between
//! them from a scrape's `Content-Type` and building the `Accept` header.
//!
//! The parsers are pull parsers over the scraped body: they borrow from it
//! and hand out each series' raw bytes (the scrape cache's key) without
//! building labels; [`Parser::labels`] does that only when asked, so a
//! repeated series costs no label parsing.
//!
//! This crate owns the grammar and its error messages (kept in Prometheus's
//! wording). It must not touch storage, HTTP or relabeling: it turns bytes
//! into entries and nothing else.

mod common;
pub mod content_type;
mod openmetrics;
mod promparse;

use std::borrow::Cow;

pub use common::ParseError;
pub use content_type::{AnyParser, ContentTypeError, EscapingScheme, ScrapeProtocol, Selected, accept_header, parser_for};
pub use model::{Exemplar, Labels, MetricType};
pub use openmetrics::OpenMetricsParser;
pub use promparse::PromParser;

/// One entry of an exposition, borrowed from the body.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry<'a> {
    /// `# HELP name text`; the text has its escapes resolved.
    Help { metric: &'a str, text: Cow<'a, str> },
    /// `# TYPE name kind`.
    Type { metric: &'a str, kind: MetricType },
    /// `# UNIT name unit` (OpenMetrics only).
    Unit { metric: &'a str, unit: &'a str },
    /// Any other `#` line (text format only), `#` included.
    Comment { text: &'a [u8] },
    /// A sample. `raw` runs from the start of the metric name (or the `{`)
    /// to the end of the label set: equal series have equal `raw` bytes
    /// within one target's exposition, which is what the scrape cache keys on.
    Series { raw: &'a [u8], value: f64, timestamp: Option<i64> },
}

/// What every exposition parser offers, so the scrape loop can hold either.
pub trait Parser<'a> {
    /// The next entry, `Ok(None)` at the end of the input.
    fn next(&mut self) -> Result<Option<Entry<'a>>, ParseError>;
    /// The labels of the series last returned, `__name__` included, values
    /// unescaped. Only meaningful right after a [`Entry::Series`].
    fn labels(&self) -> Labels;
    /// The exemplar attached to the series last returned, if any.
    fn exemplar(&self) -> Option<Exemplar>;
}
