//! Service discovery: the target group every provider produces and the
//! scrape manager consumes (the discovery manager and the providers other
//! than `static_configs` arrive with the discovery issue).
//!
//! This crate owns how targets are found and labelled with `__meta_*`. It
//! must not know how targets are scraped: it hands out target groups and
//! nothing else.

pub mod targetgroup;

pub use targetgroup::Group;
