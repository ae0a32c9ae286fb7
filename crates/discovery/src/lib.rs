//! Service discovery: the target group every provider produces, the
//! providers (`static_configs`, `file_sd_configs`, `http_sd_configs`,
//! `dns_sd_configs`, `consul_sd_configs`, `kubernetes_sd_configs`) and
//! the discovery manager that runs them and hands the scrape manager one
//! batched view of every job's groups.
//!
//! This crate owns how targets are found and labelled with `__meta_*`. It
//! must not know how targets are scraped: it hands out target groups and
//! nothing else.

mod consul;
mod dns;
mod file;
mod http;
mod kubernetes;
pub mod manager;
pub mod metrics;
pub mod provider;
pub mod targetgroup;

pub use consul::ConsulError;
pub use dns::DnsError;
pub use file::FileError;
pub use http::HttpSdError;
pub use manager::{Manager, Options, TargetSets, Updates};
pub use metrics::SdMetrics;
pub use targetgroup::Group;
