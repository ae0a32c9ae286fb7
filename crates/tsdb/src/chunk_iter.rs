//! The sample iterator over one series' chunks that the head and blocks
//! share: chunks are walked in time order and only the current one is
//! decoded; whole chunks ending before a seek target are skipped without
//! decoding; samples are clipped to the reader's range and deleted
//! intervals are stepped over.

use storage::{SampleIterator, StorageError, ValueType};

use crate::chunkenc::XorIterator;

/// A chunk as the iterator reads it: its last sample's time and its XOR
/// bytes. The head's and the blocks' chunk lists are read in place.
pub(crate) trait ChunkView {
    fn max_time(&self) -> i64;
    fn bytes(&self) -> &[u8];
}

/// A block's chunk: its end and bytes in the mapped segment.
impl ChunkView for (i64, &[u8]) {
    fn max_time(&self) -> i64 {
        self.0
    }
    fn bytes(&self) -> &[u8] {
        self.1
    }
}

pub(crate) struct ChunkSeqIterator<'a, C> {
    chunks: &'a [C],
    idx: usize,
    cur: Option<XorIterator<'a>>,
    deleted: &'a [(i64, i64)],
    mint: i64,
    maxt: i64,
    at: (i64, f64),
    err: Option<StorageError>,
}

impl<'a, C: ChunkView> ChunkSeqIterator<'a, C> {
    /// `chunks` in time order; samples outside `[mint, maxt]` or inside
    /// one of the sorted `deleted` intervals are not returned.
    pub(crate) fn new(chunks: &'a [C], deleted: &'a [(i64, i64)], mint: i64, maxt: i64) -> Self {
        ChunkSeqIterator { chunks, idx: 0, cur: None, deleted, mint, maxt, at: (0, 0.0), err: None }
    }

    fn is_deleted(&self, t: i64) -> bool {
        self.deleted.iter().any(|&(lo, hi)| t >= lo && t <= hi)
    }

    fn advance(&mut self, mut seek_to: Option<i64>) -> ValueType {
        loop {
            let step = match self.cur.as_mut() {
                Some(it) => match seek_to {
                    Some(t) => it.seek(t),
                    None => it.next(),
                },
                None => {
                    // Skip whole chunks that end before the target.
                    let target = seek_to.unwrap_or(self.mint).max(self.mint);
                    while self.chunks.get(self.idx).is_some_and(|c| c.max_time() < target) {
                        self.idx += 1;
                    }
                    let Some(c) = self.chunks.get(self.idx) else { return ValueType::None };
                    self.idx += 1;
                    self.cur.insert(XorIterator::new(c.bytes())).seek(target)
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
            if !self.deleted.is_empty() && self.is_deleted(t) {
                // Step on as if the sample were not there.
                seek_to = None;
                continue;
            }
            self.at = (t, v);
            return ValueType::Float;
        }
    }
}

impl<C: ChunkView + Sync> SampleIterator for ChunkSeqIterator<'_, C> {
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
