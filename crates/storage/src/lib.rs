//! The seams between the components that write and read samples and the
//! storage that keeps them.
//!
//! Scrape loops, rule groups and the remote-write receiver write through an
//! [`Appender`]; PromQL, the HTTP API and federation read through a
//! [`Querier`], and `/api/v1/query_exemplars` through an [`ExemplarQuerier`].
//! This crate owns those traits and the error kinds they share.
//! It holds no data itself: `tsdb` implements the traits, and nothing else in
//! the server may.

use model::{Exemplar, Labels, Matcher, Metadata, Timestamp};

/// A storage's stable handle on a series, returned by appends so that the
/// caller (a scrape loop's cache) can skip the label lookup next time.
/// `SeriesRef(0)` means "unknown": the storage must look the labels up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct SeriesRef(pub u64);

impl SeriesRef {
    pub const UNKNOWN: SeriesRef = SeriesRef(0);
}

/// Why a sample, a batch or a query was refused, in Prometheus's words: the
/// scrape and API layers match on the kind and count or report it.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("out of order sample")]
    OutOfOrderSample,
    #[error("out of bounds")]
    OutOfBounds,
    #[error("duplicate sample for timestamp")]
    DuplicateSampleForTimestamp,
    #[error("out of order exemplar")]
    OutOfOrderExemplar,
    #[error("duplicate exemplar")]
    DuplicateExemplar,
    #[error("label length for exemplar exceeds maximum of {} UTF-8 characters", model::EXEMPLAR_MAX_LABEL_SET_LENGTH)]
    ExemplarLabelLength,
    /// Exemplar storage is off (no `--enable-feature=exemplar-storage`, or
    /// `max_exemplars` of 0); appenders treat it as a no-op.
    #[error("exemplar storage is disabled or max exemplars is less than or equal to 0")]
    ExemplarsDisabled,
    #[error("invalid exemplar: {0}")]
    InvalidExemplar(String),
    #[error("invalid sample: {0}")]
    InvalidSample(String),
    #[error("storage is closed")]
    Closed,
    #[error("query was cancelled")]
    Cancelled,
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Other(String),
}

/// A batch of writes. Appends are buffered; [`Appender::commit`] makes the
/// whole batch durable (write-ahead log first) and then visible to queries,
/// atomically; [`Appender::rollback`] drops it. After either, the appender is
/// empty and may be reused for the next batch, which lets a scrape loop keep
/// its buffers. Dropping an appender with pending writes rolls them back.
pub trait Appender: Send {
    /// Appends one float sample. `hint` is the reference returned for the same
    /// series earlier ([`SeriesRef::UNKNOWN`] when there is none); the storage
    /// may trust it instead of hashing `labels`. Returns the series' reference.
    fn append(&mut self, hint: SeriesRef, labels: &Labels, t: Timestamp, v: f64) -> Result<SeriesRef, StorageError>;

    /// Attaches an exemplar to the series.
    fn append_exemplar(&mut self, hint: SeriesRef, labels: &Labels, exemplar: &Exemplar) -> Result<SeriesRef, StorageError>;

    /// Records the series' metadata (type, unit, help) as of this batch.
    fn update_metadata(&mut self, hint: SeriesRef, labels: &Labels, metadata: &Metadata) -> Result<SeriesRef, StorageError>;

    /// Writes the batch to the log and makes it visible, all or nothing.
    fn commit(&mut self) -> Result<(), StorageError>;

    /// Discards the batch.
    fn rollback(&mut self) -> Result<(), StorageError>;
}

/// Something that hands out appenders: the storage as the writers see it.
pub trait Appendable: Send + Sync {
    fn appender(&self) -> Box<dyn Appender>;
}

/// What a query expects to read, so that a storage may skip work.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SelectHints {
    /// Inclusive time range the caller will read.
    pub start: Timestamp,
    pub end: Timestamp,
    /// Evaluation step of a range query, in milliseconds; 0 for instant ones.
    pub step: i64,
    /// The function around the selector (`rate`, `series` for metadata-only
    /// reads) so that a storage may return labels without samples.
    pub func: Option<String>,
    /// Range of a range selector, in milliseconds.
    pub range: i64,
}

/// A bound on results for the label APIs' `limit`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LabelHints {
    /// Zero means no limit.
    pub limit: usize,
}

/// Non-fatal problems met while reading, returned beside the data and shown
/// to API clients as `warnings`.
pub type Warnings = Vec<String>;

/// What a sample iterator is positioned on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    /// Exhausted (or failed: check [`SampleIterator::err`]).
    None,
    Float,
}

/// A cursor over one series' samples in time order, decoding lazily.
pub trait SampleIterator: Send {
    /// Advances to the next sample.
    fn next(&mut self) -> ValueType;
    /// Advances to the first sample at or after `t`; never moves backwards:
    /// if the current sample is already at or after `t`, it stays.
    fn seek(&mut self, t: Timestamp) -> ValueType;
    /// The current sample. Only valid after `next` or `seek` returned `Float`.
    fn at(&self) -> (Timestamp, f64);
    /// Why iteration stopped early, if it did.
    fn err(&self) -> Option<&StorageError>;
}

/// One series: its labels and a way to read its samples.
pub trait Series: Send {
    fn labels(&self) -> &Labels;
    fn iterator(&self) -> Box<dyn SampleIterator + '_>;

    /// The series' newest sample in the selected range, when it is known
    /// without decoding anything (the head keeps it); `None` means "iterate
    /// to find out". Instant queries at the present ask only for this.
    fn latest(&self) -> Option<(i64, f64)> {
        None
    }
}

/// The result of a select: series, sorted by labels when asked.
pub trait SeriesSet: Send {
    fn next(&mut self) -> Option<Box<dyn Series + '_>>;
    fn err(&self) -> Option<&StorageError>;
    fn warnings(&self) -> Warnings;
}

/// A read view over a fixed time range `[mint, maxt]`.
pub trait Querier: Send + Sync {
    /// Series matching all `matchers` (at least one must select something
    /// other than the empty value), sorted by labels when `sorted` is set.
    fn select(&self, sorted: bool, hints: Option<&SelectHints>, matchers: &[Matcher]) -> Box<dyn SeriesSet + '_>;

    /// Values of label `name` among series matching `matchers` (all series
    /// when empty), sorted.
    fn label_values(&self, name: &str, hints: &LabelHints, matchers: &[Matcher]) -> Result<(Vec<String>, Warnings), StorageError>;

    /// Names of labels among series matching `matchers`, sorted.
    fn label_names(&self, hints: &LabelHints, matchers: &[Matcher]) -> Result<(Vec<String>, Warnings), StorageError>;
}

/// A storage as readers see it.
pub trait Queryable: Send + Sync {
    fn querier(&self, mint: Timestamp, maxt: Timestamp) -> Result<Box<dyn Querier>, StorageError>;
}

/// One series' exemplars, as `/api/v1/query_exemplars` lists them.
#[derive(Debug, Clone, PartialEq)]
pub struct ExemplarSeries {
    pub labels: Labels,
    /// Oldest first.
    pub exemplars: Vec<Exemplar>,
}

/// A read view over stored exemplars.
pub trait ExemplarQuerier: Send + Sync {
    /// The exemplars in `[start, end]` of every series that matches all the
    /// matchers of at least one of `matcher_sets` (each set is one selector
    /// of a query: the sets are ORed), sorted by series labels. No sets
    /// select nothing.
    fn select(&self, start: Timestamp, end: Timestamp, matcher_sets: &[Vec<Matcher>]) -> Result<Vec<ExemplarSeries>, StorageError>;
}

/// A storage's exemplars as readers see them.
pub trait ExemplarQueryable: Send + Sync {
    fn exemplar_querier(&self) -> Result<Box<dyn ExemplarQuerier>, StorageError>;
}

/// A series' labels and samples, as [`read_all`] gives them.
pub type SeriesSamples = (Labels, Vec<(Timestamp, f64)>);

/// Every series of `set` with all its samples, in the set's order; the
/// first error of an iterator or of the set ends it. For tools and tests
/// that want whole series, not a streaming read.
pub fn read_all(set: &mut dyn SeriesSet) -> Result<Vec<SeriesSamples>, StorageError> {
    let mut out = Vec::new();
    while let Some(s) = set.next() {
        let mut it = s.iterator();
        let mut samples = Vec::new();
        while it.next() == ValueType::Float {
            samples.push(it.at());
        }
        if let Some(e) = it.err() {
            return Err(StorageError::Other(format!("reading {}: {e}", s.labels())));
        }
        out.push((s.labels().clone(), samples));
    }
    match set.err() {
        Some(e) => Err(StorageError::Other(e.to_string())),
        None => Ok(out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The server holds storages and appenders behind trait objects; this
    // fails to compile if a trait stops being object safe.
    #[test]
    fn traits_are_object_safe() {
        fn _takes(_: &dyn Appendable, _: &dyn Queryable, _: Option<Box<dyn Appender>>, _: &dyn ExemplarQueryable) {}
        assert_eq!(SeriesRef::default(), SeriesRef::UNKNOWN);
        assert_eq!(StorageError::OutOfOrderSample.to_string(), "out of order sample");
        assert_eq!(StorageError::ExemplarLabelLength.to_string(), "label length for exemplar exceeds maximum of 128 UTF-8 characters");
    }
}
