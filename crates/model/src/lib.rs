//! The data model every Narthex component shares: label sets, metric and label
//! name validation, samples, exemplars, metadata and label matchers.
//!
//! This crate owns the representation of a series' identity ([`Labels`]) and
//! the rules for what names are valid. It knows nothing of storage, config or
//! the network, and must not grow dependencies on any other Narthex crate.

pub mod labels;
pub mod matcher;
pub mod names;
pub mod quote;
pub mod regex;
pub mod time;
pub mod value;

pub use labels::{Label, Labels, LabelsBuilder};
pub use matcher::{MatchType, Matcher};
pub use names::ValidationScheme;
pub use value::{EXEMPLAR_MAX_LABEL_SET_LENGTH, Exemplar, Metadata, MetricType, Sample, Timestamp};
