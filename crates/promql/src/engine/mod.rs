//! The PromQL evaluator: instant and range queries over any
//! `storage::Queryable`, with Prometheus 3.x semantics.

mod value;

pub use value::{QueryResult, Sample, Series, Value};

use crate::parser::ParseError;

/// Engine settings, from the server's `--query.*` flags.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// `--query.lookback-delta`: how far back an instant selector looks.
    pub lookback_delta_ms: i64,
    /// `--query.max-samples`.
    pub max_samples: usize,
    /// Prometheus's `promql-delayed-name-removal` feature: `__name__` is
    /// dropped at the end of evaluation instead of by each function or
    /// operator. The upstream test scripts assume it.
    pub delayed_name_removal: bool,
    /// `promql-experimental-functions`.
    pub experimental_functions: bool,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions { lookback_delta_ms: 5 * 60 * 1000, max_samples: 50_000_000, delayed_name_removal: false, experimental_functions: false }
    }
}

/// Why a query failed, in Prometheus's words.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum QueryError {
    /// The query does not parse or type-check (`bad_data`).
    #[error("{0}")]
    Parse(#[from] ParseError),
    /// Evaluation failed (`execution`), e.g. many-to-many matching.
    #[error("{0}")]
    Execution(String),
    #[error("query processing would load too many samples into memory in query execution")]
    TooManySamples,
    /// Reading from storage failed.
    #[error("{0}")]
    Storage(String),
}

/// Evaluates queries. Cheap to share; holds no per-query state.
#[derive(Debug, Clone, Default)]
pub struct Engine {
    pub opts: EngineOptions,
}

impl Engine {
    pub fn new(opts: EngineOptions) -> Engine {
        Engine { opts }
    }

    /// Evaluates `query` at `t` (ms since the epoch).
    pub fn instant(&self, q: &dyn storage::Queryable, query: &str, t: i64) -> Result<QueryResult, QueryError> {
        let _ = (q, query, t);
        Err(QueryError::Execution("the PromQL evaluator is not built yet".into()))
    }

    /// Evaluates `query` at every `step` from `start` to `end` (ms); the
    /// value is always a matrix, as in Prometheus's range API.
    pub fn range(&self, q: &dyn storage::Queryable, query: &str, start: i64, end: i64, step: i64) -> Result<QueryResult, QueryError> {
        let _ = (q, query, start, end, step);
        Err(QueryError::Execution("the PromQL evaluator is not built yet".into()))
    }
}
