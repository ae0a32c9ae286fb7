//! Query results: what the engine returns and the HTTP API renders.

use model::Labels;

/// One sample of an instant vector: the series' labels and its value at
/// the evaluation time `t` (milliseconds).
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub metric: Labels,
    pub t: i64,
    pub v: f64,
}

/// One series of a range vector (or of a range query's result).
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub metric: Labels,
    /// `(t ms, v)`, oldest first.
    pub points: Vec<(i64, f64)>,
}

/// The value of an expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Scalar { t: i64, v: f64 },
    String { t: i64, v: String },
    Vector(Vec<Sample>),
    Matrix(Vec<Series>),
}

impl Value {
    /// Prometheus's `resultType` name.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Scalar { .. } => "scalar",
            Value::String { .. } => "string",
            Value::Vector(_) => "vector",
            Value::Matrix(_) => "matrix",
        }
    }
}

/// A query's outcome: its value and the annotations Prometheus attaches
/// (warnings and infos, e.g. "metric might not be a counter").
#[derive(Debug, Clone, PartialEq)]
pub struct QueryResult {
    pub value: Value,
    pub warnings: Vec<String>,
    pub infos: Vec<String>,
    pub stats: QueryStats,
}

/// What a query cost, for the API's `stats` parameter (Prometheus's
/// `samples` and engine timings).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct QueryStats {
    /// Samples read from storage over all steps (`totalQueryableSamples`).
    pub total_samples: u64,
    /// The most samples one step read (`peakSamples`; Prometheus counts
    /// what it holds in memory at once, which this approximates).
    pub peak_samples: u64,
    /// `(t ms, samples)` for each step (`totalQueryableSamplesPerStep`).
    pub per_step: Vec<(i64, u64)>,
    /// Parsing and checking the query.
    pub prepare: std::time::Duration,
    /// Evaluating it.
    pub inner_eval: std::time::Duration,
    /// Sorting the result.
    pub result_sort: std::time::Duration,
    /// Waiting for a free query slot (`--query.max-concurrency`), filled in
    /// by whoever queued the query.
    pub queue: std::time::Duration,
}
