//! Reading a block through `storage::Querier`: matchers become postings
//! (unions of value lists, intersected, with series lacking a label
//! selected by matchers that accept the empty value), series are decoded
//! one at a time, and samples come from the XOR decoder chunk by chunk,
//! clipped to the query range and to the block's tombstones.

use std::sync::Arc;

use model::{Labels, MatchType, Matcher};
use storage::{LabelHints, Querier, SampleIterator, SelectHints, Series, SeriesSet, StorageError, ValueType, Warnings};

use super::{Block, BlockError};
use crate::chunkenc::{Encoding, XorIterator};
use crate::head::{difference_sorted, intersect_sorted};

/// A view of one block over `[mint, maxt]` (inclusive).
#[derive(Debug, Clone)]
pub struct BlockQuerier {
    block: Arc<Block>,
    mint: i64,
    maxt: i64,
}

fn storage_err(e: BlockError) -> StorageError {
    StorageError::Other(e.to_string())
}

impl BlockQuerier {
    pub fn new(block: Arc<Block>, mint: i64, maxt: i64) -> Self {
        BlockQuerier { block, mint, maxt }
    }

    pub fn mint(&self) -> i64 {
        self.mint
    }

    pub fn maxt(&self) -> i64 {
        self.maxt
    }

    /// Sorted ids of the series matching all `matchers`; none for no
    /// matchers, as the head answers.
    pub fn postings_for_matchers(&self, matchers: &[Matcher]) -> Result<Vec<u32>, BlockError> {
        if matchers.is_empty() {
            return Ok(Vec::new());
        }
        let index = self.block.index();
        let mut intersect: Vec<Vec<u64>> = Vec::new();
        let mut subtract: Vec<Vec<u64>> = Vec::new();
        if matchers.iter().all(Matcher::matches_empty) {
            intersect.push(widen(index.all_postings()?));
        }
        for m in matchers {
            if m.matches_empty() {
                subtract.push(self.union_of(m, false)?);
            } else if m.kind == MatchType::Equal {
                intersect.push(widen(index.postings(&m.name, &m.value)?));
            } else {
                intersect.push(self.union_of(m, true)?);
            }
        }
        intersect.sort_by_key(Vec::len);
        let mut lists = intersect.into_iter();
        let Some(first) = lists.next() else { return Ok(Vec::new()) };
        let mut result = lists.fold(first, |acc, p| intersect_sorted(&acc, &p));
        for s in subtract {
            result = difference_sorted(&result, &s);
        }
        // Ids came from u32 lists.
        Ok(result.into_iter().map(|x| x as u32).collect())
    }

    /// Union of the postings of the values of `m.name` that `m` matches
    /// (`want`) or rejects (`!want`).
    fn union_of(&self, m: &Matcher, want: bool) -> Result<Vec<u64>, BlockError> {
        let index = self.block.index();
        let mut out = Vec::new();
        for (v, off) in index.value_offsets(&m.name) {
            if m.matches(v) == want {
                out.extend(index.postings_at(*off)?.into_iter().map(u64::from));
            }
        }
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }

    /// Labels of matching series with chunks in the querier's range.
    fn series_labels(&self, matchers: &[Matcher]) -> Result<Vec<Labels>, BlockError> {
        let mut out = Vec::new();
        for id in self.postings_for_matchers(matchers)? {
            let (labels, chunks) = self.block.index().series(id)?;
            if chunks.iter().any(|c| c.max_time >= self.mint && c.min_time <= self.maxt) {
                out.push(labels);
            }
        }
        Ok(out)
    }
}

impl BlockQuerier {
    /// Series `id` with its chunks in `[mint, maxt]`, or `None` if it has
    /// none.
    pub(crate) fn load_series(&self, id: u32, mint: i64, maxt: i64) -> Result<Option<BlockSeries<'_>>, BlockError> {
        let block = &self.block;
        let (labels, metas) = block.index().series(id)?;
        let mut chunks = Vec::new();
        let mut max_time = i64::MIN;
        for c in metas.iter().filter(|c| c.max_time >= mint && c.min_time <= maxt) {
            let (enc, data) = block.chunks().chunk(c.r)?;
            if enc != Encoding::Xor {
                return Err(BlockError::Input(format!("series {labels}: {enc} chunks are not supported yet")));
            }
            chunks.push(data);
            max_time = max_time.max(c.max_time);
        }
        if chunks.is_empty() {
            return Ok(None);
        }
        let deleted = block.tombstones().intervals(u64::from(id));
        Ok(Some(BlockSeries { labels, max_time, chunks, deleted, mint, maxt }))
    }
}

fn widen(p: Vec<u32>) -> Vec<u64> {
    p.into_iter().map(u64::from).collect()
}

pub(crate) struct BlockSeries<'a> {
    pub(crate) labels: Labels,
    /// The newest chunk's end, so that a merge knows without decoding
    /// whether the head's last sample is the series' last.
    pub(crate) max_time: i64,
    chunks: Vec<&'a [u8]>,
    deleted: &'a [(i64, i64)],
    mint: i64,
    maxt: i64,
}

impl Series for BlockSeries<'_> {
    fn labels(&self) -> &Labels {
        &self.labels
    }

    fn iterator(&self) -> Box<dyn SampleIterator + '_> {
        Box::new(BlockIterator { chunks: &self.chunks, idx: 0, cur: None, deleted: self.deleted, mint: self.mint, maxt: self.maxt, at: (0, 0.0), err: None })
    }
}

/// Walks a series' chunks in order, decoding only the current one.
struct BlockIterator<'a> {
    chunks: &'a [&'a [u8]],
    idx: usize,
    cur: Option<XorIterator<'a>>,
    deleted: &'a [(i64, i64)],
    mint: i64,
    maxt: i64,
    at: (i64, f64),
    err: Option<StorageError>,
}

impl BlockIterator<'_> {
    fn advance(&mut self, seek_to: Option<i64>) -> ValueType {
        let target = seek_to.unwrap_or(i64::MIN).max(self.mint);
        let mut seeking = seek_to.is_some();
        loop {
            let step = match self.cur.as_mut() {
                Some(it) if seeking => it.seek(target),
                Some(it) => it.next(),
                None => {
                    let Some(bytes) = self.chunks.get(self.idx) else { return ValueType::None };
                    self.idx += 1;
                    self.cur.insert(XorIterator::new(bytes)).seek(target)
                }
            };
            if step != ValueType::Float {
                if let Some(e) = self.cur.as_ref().and_then(|it| it.chunk_err()) {
                    self.err = Some(StorageError::Other(format!("decoding chunk: {e}")));
                    self.idx = self.chunks.len();
                    self.cur = None;
                    return ValueType::None;
                }
                self.cur = None;
                continue;
            }
            let Some(it) = &self.cur else { continue };
            let (t, v) = it.at();
            if t > self.maxt {
                self.cur = None;
                self.idx = self.chunks.len();
                return ValueType::None;
            }
            if self.deleted.iter().any(|&(lo, hi)| t >= lo && t <= hi) {
                // Deleted: step on as if the sample were not there.
                seeking = false;
                continue;
            }
            self.at = (t, v);
            return ValueType::Float;
        }
    }
}

impl SampleIterator for BlockIterator<'_> {
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
        self.err.as_ref()
    }
}

struct BlockSeriesSet<'a> {
    q: &'a BlockQuerier,
    ids: std::vec::IntoIter<u32>,
    mint: i64,
    maxt: i64,
    err: Option<StorageError>,
}

impl SeriesSet for BlockSeriesSet<'_> {
    fn next(&mut self) -> Option<Box<dyn Series + '_>> {
        if self.err.is_some() {
            return None;
        }
        for id in self.ids.by_ref() {
            match self.q.load_series(id, self.mint, self.maxt) {
                Ok(Some(s)) => return Some(Box::new(s)),
                Ok(None) => continue,
                Err(e) => {
                    self.err = Some(storage_err(e));
                    return None;
                }
            }
        }
        None
    }

    fn err(&self) -> Option<&StorageError> {
        self.err.as_ref()
    }

    fn warnings(&self) -> Warnings {
        Vec::new()
    }
}

impl Querier for BlockQuerier {
    /// Series come in id order, which is label order: `sorted` is free.
    fn select(&self, _sorted: bool, hints: Option<&SelectHints>, matchers: &[Matcher]) -> Box<dyn SeriesSet + '_> {
        let (mint, maxt) = match hints {
            Some(h) => (h.start.max(self.mint), h.end.min(self.maxt)),
            None => (self.mint, self.maxt),
        };
        let (ids, err) = match self.postings_for_matchers(matchers) {
            Ok(ids) => (ids, None),
            Err(e) => (Vec::new(), Some(storage_err(e))),
        };
        Box::new(BlockSeriesSet { q: self, ids: ids.into_iter(), mint, maxt, err })
    }

    fn label_values(&self, name: &str, hints: &LabelHints, matchers: &[Matcher]) -> Result<(Vec<String>, Warnings), StorageError> {
        let mut values: Vec<String> = if matchers.is_empty() {
            self.block.index().label_values(name).into_iter().map(str::to_owned).collect()
        } else {
            let mut v: Vec<String> =
                self.series_labels(matchers).map_err(storage_err)?.iter().map(|l| l.get(name).to_owned()).filter(|v| !v.is_empty()).collect();
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
        let mut names: Vec<String> = if matchers.is_empty() {
            self.block.index().label_names().into_iter().map(str::to_owned).collect()
        } else {
            let mut n: Vec<String> =
                self.series_labels(matchers).map_err(storage_err)?.iter().flat_map(|l| l.iter().map(|l| l.name.to_owned()).collect::<Vec<_>>()).collect();
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
