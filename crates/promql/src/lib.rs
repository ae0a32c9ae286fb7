//! The PromQL engine: parsing and evaluating Prometheus queries. So far it
//! holds the query parser ([`parser`]: lexer, syntax tree, Prometheus's
//! type checks, errors with positions) and [`promqltest`], which reads
//! Prometheus's PromQL test scripts (the `.test` files) into a typed form
//! that a runner will execute once the evaluator exists.
//!
//! This crate must not depend on scraping, config or HTTP; queries will
//! reach data through the `storage` traits only.

pub mod engine;
pub mod parser;
pub mod promqltest;
