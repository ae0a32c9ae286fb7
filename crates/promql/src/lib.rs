//! The PromQL engine: parsing and evaluating Prometheus queries (this issue's
//! first piece: the test-script parser).
//!
//! So far the crate holds only [`promqltest`], which reads Prometheus's
//! PromQL test scripts (the `.test` files) into a typed form that a runner
//! can later execute against storage. There is no PromQL expression parser
//! or evaluator yet: the expressions in those scripts are kept as text.
//!
//! This crate must not depend on storage, scraping, config or HTTP; queries
//! will reach data through the `storage` traits once the engine exists.

pub mod promqltest;
