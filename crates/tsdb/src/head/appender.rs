//! The head's appender: a batch that reaches the write-ahead log and then
//! the series all at once on commit.

use std::collections::HashMap;
use std::sync::Arc;

use model::{Exemplar, Labels, Metadata};
use storage::{Appender, SeriesRef, StorageError};

use super::series::{Check, MemSeries, check_after};
use super::{FastHash, Head};
use crate::record::{self, RefExemplar, RefMetadata, RefSample, RefSeries};

/// A batch of appends to the head. Series are created as soon as they are
/// first seen (so that their references are stable for the caller's cache);
/// their samples become durable and visible only on commit.
pub struct HeadAppender {
    head: Arc<Head>,
    new_series: Vec<RefSeries>,
    samples: Vec<(Arc<MemSeries>, i64, f64)>,
    /// The newest sample pending per series in this batch, so that a batch
    /// is checked for order against itself as well as against the head.
    pending: HashMap<u64, (i64, Option<u64>), FastHash>,
    /// Checked against the ring when appended, added to it on commit.
    exemplars: Vec<(Arc<MemSeries>, Exemplar)>,
    metadata: Vec<RefMetadata>,
    buf: Vec<u8>,
    series_buf: Vec<u8>,
    extra_buf: Vec<u8>,
}

impl std::fmt::Debug for HeadAppender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeadAppender").field("samples", &self.samples.len()).field("new_series", &self.new_series.len()).finish()
    }
}

impl HeadAppender {
    pub fn new(head: Arc<Head>) -> Self {
        head.metrics.active_appenders.inc();
        HeadAppender {
            head,
            new_series: Vec::new(),
            samples: Vec::new(),
            pending: HashMap::default(),
            exemplars: Vec::new(),
            metadata: Vec::new(),
            buf: Vec::new(),
            series_buf: Vec::new(),
            extra_buf: Vec::new(),
        }
    }

    fn series(&mut self, hint: SeriesRef, labels: &Labels) -> Result<Arc<MemSeries>, StorageError> {
        if hint != SeriesRef::UNKNOWN {
            if let Some(s) = self.head.series_by_ref(hint.0) {
                return Ok(s);
            }
        }
        if labels.is_empty() {
            return Err(StorageError::InvalidSample("empty labelset".into()));
        }
        let (s, created) = self.head.get_or_create(labels);
        if created {
            self.new_series.push(RefSeries { r: s.r, labels: s.labels.clone() });
        }
        Ok(s)
    }

    fn clear(&mut self) {
        self.new_series.clear();
        self.samples.clear();
        self.pending.clear();
        self.exemplars.clear();
        self.metadata.clear();
    }
}

impl Appender for HeadAppender {
    fn append(&mut self, hint: SeriesRef, labels: &Labels, t: i64, v: f64) -> Result<SeriesRef, StorageError> {
        if t < self.head.appendable_min_valid_time() {
            self.head.metrics.out_of_bound_samples.inc();
            return Err(StorageError::OutOfBounds);
        }
        let s = self.series(hint, labels)?;
        let last = match self.pending.get(&s.r) {
            Some(p) => Some(*p),
            None => s.lock().last(),
        };
        match check_after(last, t, v) {
            Check::Ok => {}
            Check::Duplicate => return Ok(SeriesRef(s.r)),
            Check::OutOfOrder => {
                self.head.metrics.out_of_order_samples.inc();
                return Err(StorageError::OutOfOrderSample);
            }
            Check::DuplicateTimestamp => {
                self.head.metrics.duplicate_samples.inc();
                return Err(StorageError::DuplicateSampleForTimestamp);
            }
        }
        self.pending.insert(s.r, (t, Some(v.to_bits())));
        let r = s.r;
        self.samples.push((s, t, v));
        Ok(SeriesRef(r))
    }

    fn append_exemplar(&mut self, hint: SeriesRef, labels: &Labels, exemplar: &Exemplar) -> Result<SeriesRef, StorageError> {
        // With exemplar storage off, exemplars are neither kept nor logged,
        // and that is no error for the caller (as in Prometheus).
        if !self.head.exemplars().enabled() {
            return Ok(hint);
        }
        let s = self.series(hint, labels)?;
        // Checked against what the ring holds now, not against this batch:
        // the commit checks again, in batch order, and drops what fails.
        match self.head.exemplars().validate(&s.labels, exemplar) {
            Ok(()) => {}
            Err(StorageError::DuplicateExemplar | StorageError::ExemplarsDisabled) => return Ok(SeriesRef(s.r)),
            Err(e) => return Err(e),
        }
        let r = s.r;
        self.exemplars.push((s, exemplar.clone()));
        Ok(SeriesRef(r))
    }

    fn update_metadata(&mut self, hint: SeriesRef, labels: &Labels, metadata: &Metadata) -> Result<SeriesRef, StorageError> {
        let s = self.series(hint, labels)?;
        self.metadata.push(RefMetadata {
            r: s.r,
            kind: record::metric_type_to_u8(metadata.metric_type),
            unit: metadata.unit.clone(),
            help: metadata.help.clone(),
        });
        Ok(SeriesRef(s.r))
    }

    fn commit(&mut self) -> Result<(), StorageError> {
        if self.samples.is_empty() && self.new_series.is_empty() && self.exemplars.is_empty() && self.metadata.is_empty() {
            return Ok(());
        }
        self.buf.clear();
        self.series_buf.clear();
        if !self.new_series.is_empty() {
            record::encode_series(&self.new_series, &mut self.series_buf);
        }
        if !self.samples.is_empty() {
            let refs: Vec<RefSample> = self.samples.iter().map(|(s, t, v)| RefSample { r: s.r, t: *t, v: *v }).collect();
            record::encode_samples(&refs, &mut self.buf);
        }
        // Exemplars and metadata share one buffer: their records follow
        // each other in it and are split by length below.
        self.extra_buf.clear();
        if !self.exemplars.is_empty() {
            let refs: Vec<RefExemplar> = self.exemplars.iter().map(|(s, e)| RefExemplar { r: s.r, t: e.ts, v: e.value, labels: e.labels.clone() }).collect();
            record::encode_exemplars(&refs, &mut self.extra_buf);
        }
        let exemplars_len = self.extra_buf.len();
        if !self.metadata.is_empty() {
            record::encode_metadata(&self.metadata, &mut self.extra_buf);
        }
        let mut records: Vec<&[u8]> = Vec::with_capacity(4);
        if !self.series_buf.is_empty() {
            records.push(&self.series_buf);
        }
        if !self.buf.is_empty() {
            records.push(&self.buf);
        }
        let (exemplar_rec, metadata_rec) = self.extra_buf.split_at(exemplars_len);
        if !exemplar_rec.is_empty() {
            records.push(exemplar_rec);
        }
        if !metadata_rec.is_empty() {
            records.push(metadata_rec);
        }
        if let Err(e) = self.head.log(&records) {
            self.clear();
            return Err(e);
        }
        let mut appended = 0u64;
        let (mut mint, mut maxt) = (i64::MAX, i64::MIN);
        for (s, t, v) in &self.samples {
            if self.head.append_committed(s, *t, *v) {
                appended += 1;
                mint = mint.min(*t);
                maxt = maxt.max(*t);
            } else {
                // Another appender wrote a newer sample to the series
                // between our check and our commit.
                self.head.metrics.out_of_order_samples.inc();
            }
        }
        self.head.extend_time_range(mint, maxt);
        self.head.metrics.samples_appended.inc_by(appended);
        self.head.notify_if_compactable();
        for (s, e) in self.exemplars.drain(..) {
            // Best effort, as in Prometheus: an exemplar that another batch
            // made out of order since it was checked is dropped (and
            // counted by the ring); anything else is only logged.
            match self.head.exemplars().add(&s.labels, e) {
                Ok(()) | Err(StorageError::OutOfOrderExemplar) => {}
                Err(err) => tracing::debug!(component = "tsdb", err = %err, "Unknown error while adding exemplar"),
            }
        }
        self.clear();
        Ok(())
    }

    fn rollback(&mut self) -> Result<(), StorageError> {
        // Series created by this batch stay (empty); truncation collects
        // them, as in Prometheus. Its exemplars never reach the ring.
        self.clear();
        Ok(())
    }
}

impl Drop for HeadAppender {
    fn drop(&mut self) {
        self.head.metrics.active_appenders.dec();
    }
}
