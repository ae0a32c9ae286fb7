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
}
