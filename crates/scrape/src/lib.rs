//! The scrape engine: turning discovered target groups into targets with
//! Prometheus's labels, one loop per target that scrapes it on schedule, and
//! the pools and manager that keep those loops in step with the config and
//! with discovery.
//!
//! This crate owns what a target is and how it is scraped. It writes only
//! through the `storage` appender and must not know how samples are stored;
//! discovery hands it target groups and knows nothing of scraping.

pub mod cache;
pub mod fetch;
pub mod manager;
pub mod metrics;
pub mod pool;
pub mod scrape_loop;
pub mod target;

pub use cache::ScrapeCache;
pub use manager::Manager;
pub use metrics::ScrapeMetrics;
pub use pool::{PoolEnv, ScrapePool};
pub use scrape_loop::{AppendOptions, AppendStats, Appending, Limits, ScrapeError, Scraper};
pub use target::{Health, Target, TargetState};
