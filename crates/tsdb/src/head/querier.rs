//! Reading the head: series selection through the label index, and sample
//! iterators that decode chunks lazily, one at a time.

use std::sync::Arc;

use model::{Labels, Matcher};
use storage::{LabelHints, Querier, SampleIterator, SelectHints, Series, SeriesSet, StorageError, ValueType, Warnings};

use super::Head;
use super::series::ChunkRef;
use crate::chunkenc::XorIterator;

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
}

impl Series for HeadSeries {
    fn labels(&self) -> &Labels {
        &self.labels
    }

    fn iterator(&self) -> Box<dyn SampleIterator + '_> {
        Box::new(ChunksIterator { chunks: &self.chunks, idx: 0, cur: None, mint: self.mint, maxt: self.maxt, at: (0, 0.0) })
    }

    fn latest(&self) -> Option<(i64, f64)> {
        self.last.filter(|(t, _)| (self.mint..=self.maxt).contains(t))
    }
}

/// Walks chunks in order, decoding only the one it is in, and clips the
/// samples to the querier's range.
struct ChunksIterator<'a> {
    chunks: &'a [ChunkRef],
    idx: usize,
    cur: Option<XorIterator<'a>>,
    mint: i64,
    maxt: i64,
    at: (i64, f64),
}

impl ChunksIterator<'_> {
    fn advance(&mut self, seek_to: Option<i64>) -> ValueType {
        loop {
            if self.cur.is_none() {
                // Skip whole chunks that end before the target.
                let target = seek_to.unwrap_or(self.mint).max(self.mint);
                while self.idx < self.chunks.len() && self.chunks[self.idx].max_time < target {
                    self.idx += 1;
                }
                let Some(c) = self.chunks.get(self.idx) else { return ValueType::None };
                self.idx += 1;
                let mut it = XorIterator::new(&c.bytes[..]);
                if it.seek(target) == ValueType::None {
                    continue;
                }
                self.cur = Some(it);
            } else {
                let it = self.cur.as_mut().map(|it| match seek_to {
                    Some(t) => it.seek(t),
                    None => it.next(),
                });
                if it != Some(ValueType::Float) {
                    self.cur = None;
                    continue;
                }
            }
            let Some(it) = &self.cur else { continue };
            let (t, v) = it.at();
            if t > self.maxt {
                self.cur = None;
                self.idx = self.chunks.len();
                return ValueType::None;
            }
            self.at = (t, v);
            return ValueType::Float;
        }
    }
}

impl SampleIterator for ChunksIterator<'_> {
    fn next(&mut self) -> ValueType {
        self.advance(None)
    }

    fn seek(&mut self, t: i64) -> ValueType {
        if self.cur.is_some() && self.at.0 >= t {
            return ValueType::Float;
        }
        self.advance(Some(t))
    }

    fn at(&self) -> (i64, f64) {
        self.at
    }

    fn err(&self) -> Option<&StorageError> {
        None
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
        let mut values = if matchers.is_empty() {
            self.head.postings().label_values(name)
        } else {
            let mut v: Vec<String> = self.series_labels(matchers).iter().map(|l| l.get(name).to_owned()).filter(|v| !v.is_empty()).collect();
            v.sort_unstable();
            v.dedup();
            v
        };
        if hints.limit > 0 {
            values.truncate(hints.limit);
        }
        Ok((values, Vec::new()))
    }

    fn label_names(&self, hints: &LabelHints, matchers: &[Matcher]) -> Result<(Vec<String>, Warnings), StorageError> {
        let mut names = if matchers.is_empty() {
            self.head.postings().label_names()
        } else {
            let mut n: Vec<String> = self.series_labels(matchers).iter().flat_map(|l| l.iter().map(|l| l.name.to_owned()).collect::<Vec<_>>()).collect();
            n.sort_unstable();
            n.dedup();
            n
        };
        if hints.limit > 0 {
            names.truncate(hints.limit);
        }
        Ok((names, Vec::new()))
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
            out.push(HeadSeries { labels: s.labels.clone(), chunks, mint, maxt, last });
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
