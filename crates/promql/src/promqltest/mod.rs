//! Support for Prometheus's PromQL test scripts (`promql/promqltest` upstream):
//! the scripts' language is described in `shared/conformance/README.md`,
//! section "The PromQL test-script language".
//!
//! Only [`script`], the parser, exists so far. Loading data into storage,
//! running queries and comparing results belong to a runner that will live
//! beside it once the engine can evaluate queries.

pub mod script;
