//! Reading blocks and the head as one: each overlapping block and the head
//! select their series in label order, and a merge joins series with equal
//! labels into one whose samples are the union of its parts', a timestamp
//! present in several parts counted once.
//!
//! A query that touches only the head (the common case: recent data) gets
//! the head's querier itself, with nothing in between.

use std::sync::Arc;

use model::{Labels, Matcher};
use storage::{LabelHints, Querier, SampleIterator, SelectHints, Series, SeriesSet, StorageError, ValueType, Warnings};

use crate::block::{Block, BlockQuerier, BlockSeries};
use crate::head::{Head, HeadQuerier, HeadSeries};
use crate::label_sets::sorted_unique;

/// Blocks overlapping a query's range, and the head.
#[derive(Debug)]
pub struct DbQuerier {
    blocks: Vec<BlockQuerier>,
    head: HeadQuerier,
}

impl DbQuerier {
    /// A querier over `[mint, maxt]` of `blocks` and `head`; just the
    /// head's when no block overlaps the range.
    pub fn open(blocks: &[Arc<Block>], head: &Arc<Head>, mint: i64, maxt: i64) -> Box<dyn Querier> {
        let head_q = HeadQuerier::new(head.clone(), mint, maxt);
        // Block ranges are half-open.
        let blocks: Vec<BlockQuerier> =
            blocks.iter().filter(|b| b.meta().min_time <= maxt && b.meta().max_time > mint).map(|b| BlockQuerier::new(b.clone(), mint, maxt)).collect();
        if blocks.is_empty() {
            return Box::new(head_q);
        }
        Box::new(DbQuerier { blocks, head: head_q })
    }
}

/// A block's selected series, read one ahead.
struct BlockCursor<'a> {
    q: &'a BlockQuerier,
    ids: std::vec::IntoIter<u32>,
    cur: Option<BlockSeries<'a>>,
    mint: i64,
    maxt: i64,
}

impl<'a> BlockCursor<'a> {
    fn advance(&mut self) -> Result<(), StorageError> {
        self.cur = None;
        for id in self.ids.by_ref() {
            if let Some(s) = self.q.load_series(id, self.mint, self.maxt).map_err(|e| StorageError::Other(e.to_string()))? {
                self.cur = Some(s);
                break;
            }
        }
        Ok(())
    }
}

enum Part<'a> {
    Block(BlockSeries<'a>),
    Head(HeadSeries),
}

impl Part<'_> {
    fn series(&self) -> &dyn Series {
        match self {
            Part::Block(s) => s,
            Part::Head(s) => s,
        }
    }
}

struct MergedSet<'a> {
    blocks: Vec<BlockCursor<'a>>,
    head: std::iter::Peekable<std::vec::IntoIter<HeadSeries>>,
    err: Option<StorageError>,
}

impl<'a> MergedSet<'a> {
    fn next_merged(&mut self) -> Result<Option<MergedSeries<'a>>, StorageError> {
        let mut min: Option<&Labels> = self.head.peek().map(|s| &s.labels);
        for c in &self.blocks {
            if let Some(s) = &c.cur {
                if min.is_none_or(|m| s.labels < *m) {
                    min = Some(&s.labels);
                }
            }
        }
        let Some(labels) = min.cloned() else { return Ok(None) };
        let mut parts = Vec::new();
        // Blocks first, oldest first: on equal timestamps the oldest
        // data wins, as it was written first.
        for c in &mut self.blocks {
            if c.cur.as_ref().is_some_and(|s| s.labels == labels) {
                if let Some(s) = c.cur.take() {
                    parts.push(Part::Block(s));
                }
                c.advance()?;
            }
        }
        if self.head.peek().is_some_and(|s| s.labels == labels) {
            if let Some(s) = self.head.next() {
                parts.push(Part::Head(s));
            }
        }
        Ok(Some(MergedSeries { labels, parts }))
    }
}

impl SeriesSet for MergedSet<'_> {
    fn next(&mut self) -> Option<Box<dyn Series + '_>> {
        if self.err.is_some() {
            return None;
        }
        match self.next_merged() {
            Ok(Some(mut m)) if m.parts.len() == 1 => match m.parts.pop() {
                Some(Part::Block(s)) => Some(Box::new(s)),
                Some(Part::Head(s)) => Some(Box::new(s)),
                None => None,
            },
            Ok(Some(m)) => Some(Box::new(m)),
            Ok(None) => None,
            Err(e) => {
                self.err = Some(e);
                None
            }
        }
    }

    fn err(&self) -> Option<&StorageError> {
        self.err.as_ref()
    }

    fn warnings(&self) -> Warnings {
        Vec::new()
    }
}

struct MergedSeries<'a> {
    labels: Labels,
    parts: Vec<Part<'a>>,
}

impl Series for MergedSeries<'_> {
    fn labels(&self) -> &Labels {
        &self.labels
    }

    fn iterator(&self) -> Box<dyn SampleIterator + '_> {
        let its = self.parts.iter().map(|p| p.series().iterator()).collect();
        Box::new(MergeIterator { cur: vec![None; self.parts.len()], its, started: false, at: (0, 0.0) })
    }

    /// The head's newest sample, when no block holds a later one.
    fn latest(&self) -> Option<(i64, f64)> {
        let Some(Part::Head(h)) = self.parts.last() else { return None };
        let (t, v) = h.latest()?;
        let blocks_end = self.parts.iter().filter_map(|p| if let Part::Block(b) = p { Some(b.max_time) } else { None }).max();
        blocks_end.is_none_or(|e| e <= t).then_some((t, v))
    }
}

/// Samples of several iterators in time order, each timestamp once (the
/// first iterator's value wins).
struct MergeIterator<'a> {
    its: Vec<Box<dyn SampleIterator + 'a>>,
    /// Each iterator's current sample; `None` once it is exhausted.
    cur: Vec<Option<(i64, f64)>>,
    started: bool,
    at: (i64, f64),
}

impl MergeIterator<'_> {
    fn pick(&mut self) -> ValueType {
        match self.cur.iter().flatten().min_by_key(|(t, _)| *t) {
            Some(&s) => {
                self.at = s;
                ValueType::Float
            }
            None => ValueType::None,
        }
    }

    fn pos(it: &dyn SampleIterator, vt: ValueType) -> Option<(i64, f64)> {
        (vt == ValueType::Float).then(|| it.at())
    }
}

impl SampleIterator for MergeIterator<'_> {
    fn next(&mut self) -> ValueType {
        if !self.started {
            self.started = true;
            for (it, cur) in self.its.iter_mut().zip(&mut self.cur) {
                let vt = it.next();
                *cur = Self::pos(it.as_ref(), vt);
            }
        } else {
            let t = self.at.0;
            for (it, cur) in self.its.iter_mut().zip(&mut self.cur) {
                if cur.is_some_and(|(ct, _)| ct == t) {
                    let vt = it.next();
                    *cur = Self::pos(it.as_ref(), vt);
                }
            }
        }
        self.pick()
    }

    fn seek(&mut self, t: i64) -> ValueType {
        if self.started && self.cur.iter().any(Option::is_some) && self.at.0 >= t {
            return ValueType::Float;
        }
        let first = !self.started;
        self.started = true;
        for (it, cur) in self.its.iter_mut().zip(&mut self.cur) {
            if first || cur.is_some_and(|(ct, _)| ct < t) {
                let vt = it.seek(t);
                *cur = Self::pos(it.as_ref(), vt);
            }
        }
        self.pick()
    }

    fn at(&self) -> (i64, f64) {
        self.at
    }

    fn err(&self) -> Option<&StorageError> {
        self.its.iter().find_map(|it| it.err())
    }
}

impl Querier for DbQuerier {
    /// Always sorted: the merge needs its inputs sorted anyway.
    fn select(&self, _sorted: bool, hints: Option<&SelectHints>, matchers: &[Matcher]) -> Box<dyn SeriesSet + '_> {
        let (mint, maxt) = match hints {
            Some(h) => (h.start, h.end),
            None => (i64::MIN, i64::MAX),
        };
        let mut err = None;
        let mut blocks = Vec::with_capacity(self.blocks.len());
        for q in &self.blocks {
            let (qmint, qmaxt) = (mint.max(q.mint()), maxt.min(q.maxt()));
            let ids = match q.postings_for_matchers(matchers) {
                Ok(ids) => ids,
                Err(e) => {
                    err = Some(StorageError::Other(e.to_string()));
                    Vec::new()
                }
            };
            let mut c = BlockCursor { q, ids: ids.into_iter(), cur: None, mint: qmint, maxt: qmaxt };
            if let Err(e) = c.advance() {
                err = Some(e);
            }
            blocks.push(c);
        }
        let head = self.head.select_series(true, hints, matchers).into_iter().peekable();
        Box::new(MergedSet { blocks, head, err })
    }

    fn label_values(&self, name: &str, hints: &LabelHints, matchers: &[Matcher]) -> Result<(Vec<String>, Warnings), StorageError> {
        let unlimited = LabelHints { limit: 0 };
        let (mut out, mut warnings) = self.head.label_values(name, &unlimited, matchers)?;
        for q in &self.blocks {
            let (v, w) = q.label_values(name, &unlimited, matchers)?;
            out.extend(v);
            warnings.extend(w);
        }
        Ok((sorted_unique(out, hints.limit), warnings))
    }

    fn label_names(&self, hints: &LabelHints, matchers: &[Matcher]) -> Result<(Vec<String>, Warnings), StorageError> {
        let unlimited = LabelHints { limit: 0 };
        let (mut out, mut warnings) = self.head.label_names(&unlimited, matchers)?;
        for q in &self.blocks {
            let (v, w) = q.label_names(&unlimited, matchers)?;
            out.extend(v);
            warnings.extend(w);
        }
        Ok((sorted_unique(out, hints.limit), warnings))
    }
}
