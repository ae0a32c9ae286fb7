//! Recording and alerting rules. For now this owns the rule-file format
//! (`rulefmt`): parsing and validating rule groups as Prometheus does, for
//! `check config`, `check rules` and, later, the rule manager. It reads
//! nothing but rule files and must not touch storage or the notifier.

pub mod rulefmt;
