//! Support for Prometheus's PromQL test scripts (`promql/promqltest` upstream):
//! the scripts' language is described in `shared/conformance/README.md`,
//! section "The PromQL test-script language".
//!
//! [`script`] parses a script; [`run`] loads its data into a storage the
//! caller provides, runs its queries through an engine and judges the
//! results.

pub mod run;
pub mod script;
