//! The scrape engine: turning discovered target groups into targets with
//! Prometheus's labels, and (as it lands) the pools and loops that scrape
//! them and append what they find.
//!
//! This crate owns what a target is and how it is scraped. It writes only
//! through the `storage` appender and must not know how samples are stored;
//! discovery hands it target groups and knows nothing of scraping.

pub mod target;
