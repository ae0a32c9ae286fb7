//! Reading the head: series selection through the label index, and sample
//! iterators that decode chunks lazily, one at a time.

use std::sync::Arc;

use model::{Labels, Matcher};
use storage::{LabelHints, Querier, SampleIterator, SelectHints, Series, SeriesSet, StorageError, Warnings};

use super::Head;
use super::series::ChunkRef;
use crate::chunk_iter::{ChunkSeqIterator, ChunkView};
use crate::label_sets::{names_of, sorted_unique, values_of};

/// A view of the head over `[mint, maxt]`.
#[derive(Debug)]
pub struct HeadQuerier {
    head: Arc<Head>,
    mint: i64,
    maxt: i64,
}

impl HeadQuerier {
    pub fn new(head: Arc<Head>, mint: i64, maxt: i64) -> Self {
        HeadQuerier { head, mint, maxt }
    }

    /// Series references matching `matchers` that hold samples in range.
    fn matching(&self, matchers: &[Matcher]) -> Vec<u64> {
        self.head.postings().select(matchers)
    }
}

/// One selected series: its labels and a snapshot of its chunks in range.
pub(crate) struct HeadSeries {
    pub(crate) labels: Labels,
    chunks: Vec<ChunkRef>,
    mint: i64,
    maxt: i64,
    /// The newest sample, read with the chunks under the series' lock.
    last: Option<(i64, f64)>,
    deleted: Vec<(i64, i64)>,
}

impl ChunkView for ChunkRef {
    fn max_time(&self) -> i64 {
        self.max_time
    }
    fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

impl Series for HeadSeries {
    fn labels(&self) -> &Labels {
        &self.labels
    }

    fn iterator(&self) -> Box<dyn SampleIterator + '_> {
        Box::new(ChunkSeqIterator::new(&self.chunks, &self.deleted, self.mint, self.maxt))
    }

    fn latest(&self) -> Option<(i64, f64)> {
        // With deletions, iterating finds the newest sample left.
        if !self.deleted.is_empty() {
            return None;
        }
        self.last.filter(|(t, _)| (self.mint..=self.maxt).contains(t))
    }
}

struct HeadSeriesSet {
    series: std::vec::IntoIter<HeadSeries>,
}

impl SeriesSet for HeadSeriesSet {
    fn next(&mut self) -> Option<Box<dyn Series + '_>> {
        self.series.next().map(|s| Box::new(s) as Box<dyn Series>)
    }

    fn err(&self) -> Option<&StorageError> {
        None
    }

    fn warnings(&self) -> Warnings {
        Vec::new()
    }
}

impl Querier for HeadQuerier {
    fn select(&self, sorted: bool, hints: Option<&SelectHints>, matchers: &[Matcher]) -> Box<dyn SeriesSet + '_> {
        let out = self.select_series(sorted, hints, matchers);
        Box::new(HeadSeriesSet { series: out.into_iter() })
    }

    fn label_values(&self, name: &str, hints: &LabelHints, matchers: &[Matcher]) -> Result<(Vec<String>, Warnings), StorageError> {
        let values = if matchers.is_empty() { self.head.postings().label_values(name) } else { values_of(&self.series_labels(matchers), name) };
        Ok((sorted_unique(values, hints.limit), Vec::new()))
    }

    fn label_names(&self, hints: &LabelHints, matchers: &[Matcher]) -> Result<(Vec<String>, Warnings), StorageError> {
        let names = if matchers.is_empty() { self.head.postings().label_names() } else { names_of(&self.series_labels(matchers)) };
        Ok((sorted_unique(names, hints.limit), Vec::new()))
    }
}

impl HeadQuerier {
    /// The matching series with samples in range, each with a snapshot of
    /// its chunks.
    pub(crate) fn select_series(&self, sorted: bool, hints: Option<&SelectHints>, matchers: &[Matcher]) -> Vec<HeadSeries> {
        let (mint, maxt) = match hints {
            Some(h) => (h.start.max(self.mint), h.end.min(self.maxt)),
            None => (self.mint, self.maxt),
        };
        let refs = self.matching(matchers);
        let mut out = Vec::with_capacity(refs.len());
        for r in refs {
            let Some(s) = self.head.series_by_ref(r) else { continue };
            let (chunks, last) = {
                let data = s.lock();
                let last = match data.last() {
                    Some((t, Some(bits))) => Some((t, f64::from_bits(bits))),
                    _ => None,
                };
                (data.chunks(mint, maxt, self.head.disk()), last)
            };
            if chunks.is_empty() {
                continue;
            }
            out.push(HeadSeries { labels: s.labels.clone(), chunks, mint, maxt, last, deleted: self.head.deleted(r) });
        }
        if sorted {
            out.sort_by(|a, b| a.labels.cmp(&b.labels));
        }
        out
    }

    /// Labels of matching series with samples in the querier's range.
    fn series_labels(&self, matchers: &[Matcher]) -> Vec<Labels> {
        self.matching(matchers)
            .into_iter()
            .filter_map(|r| self.head.series_by_ref(r))
            .filter(|s| s.lock().has_samples_in(self.mint, self.maxt))
            .map(|s| s.labels.clone())
            .collect()
    }
}
