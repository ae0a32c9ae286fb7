//! Reading a block through `storage::Querier`: matchers become postings
//! (unions of value lists, intersected, with series lacking a label
//! selected by matchers that accept the empty value), series are decoded
//! one at a time, and samples come from the XOR decoder chunk by chunk,
//! clipped to the query range and to the block's tombstones.

use std::sync::Arc;

use model::{Labels, MatchType, Matcher};
use storage::{LabelHints, Querier, SampleIterator, SelectHints, Series, SeriesSet, StorageError, Warnings};

use super::{Block, BlockError};
use crate::chunk_iter::ChunkSeqIterator;
use crate::chunkenc::Encoding;
use crate::head::{difference_sorted, intersect_sorted};
use crate::label_sets::{names_of, sorted_unique, values_of};

/// A view of one block over `[mint, maxt]` (inclusive).
#[derive(Debug, Clone)]
pub struct BlockQuerier {
    block: Arc<Block>,
    /// The deletions as of the querier's creation, honoured throughout.
    tombstones: Arc<super::Tombstones>,
    mint: i64,
    maxt: i64,
}

fn storage_err(e: BlockError) -> StorageError {
    StorageError::Other(e.to_string())
}

impl BlockQuerier {
    pub fn new(block: Arc<Block>, mint: i64, maxt: i64) -> Self {
        let tombstones = block.tombstones();
        BlockQuerier { block, tombstones, mint, maxt }
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
            chunks.push((c.max_time, data));
            max_time = max_time.max(c.max_time);
        }
        if chunks.is_empty() {
            return Ok(None);
        }
        let deleted = self.tombstones.intervals(u64::from(id));
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
    /// Each chunk's end and bytes.
    chunks: Vec<(i64, &'a [u8])>,
    deleted: &'a [(i64, i64)],
    mint: i64,
    maxt: i64,
}

impl Series for BlockSeries<'_> {
    fn labels(&self) -> &Labels {
        &self.labels
    }

    fn iterator(&self) -> Box<dyn SampleIterator + '_> {
        Box::new(ChunkSeqIterator::new(&self.chunks, self.deleted, self.mint, self.maxt))
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
        let values = if matchers.is_empty() {
            self.block.index().label_values(name).into_iter().map(str::to_owned).collect()
        } else {
            values_of(&self.series_labels(matchers).map_err(storage_err)?, name)
        };
        Ok((sorted_unique(values, hints.limit), Vec::new()))
    }

    fn label_names(&self, hints: &LabelHints, matchers: &[Matcher]) -> Result<(Vec<String>, Warnings), StorageError> {
        let names = if matchers.is_empty() {
            self.block.index().label_names().into_iter().map(str::to_owned).collect()
        } else {
            names_of(&self.series_labels(matchers).map_err(storage_err)?)
        };
        Ok((sorted_unique(names, hints.limit), Vec::new()))
    }
}
