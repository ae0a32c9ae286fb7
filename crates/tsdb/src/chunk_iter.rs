//! The sample iterator over one series' chunks that the head and blocks
//! share: chunks are walked in time order and only the current one is
//! decoded; whole chunks ending before a seek target are skipped without
//! decoding; samples are clipped to the reader's range and deleted
//! intervals are stepped over.

use storage::{SampleIterator, StorageError, ValueType};

use crate::chunkenc::XorIterator;

/// One chunk: its last sample's time and its XOR bytes.
pub(crate) type ChunkView<'a> = (i64, &'a [u8]);

pub(crate) struct ChunkSeqIterator<'a> {
    chunks: Vec<ChunkView<'a>>,
    idx: usize,
    cur: Option<XorIterator<'a>>,
    deleted: &'a [(i64, i64)],
    mint: i64,
    maxt: i64,
    at: (i64, f64),
    err: Option<StorageError>,
}

impl<'a> ChunkSeqIterator<'a> {
    /// `chunks` in time order; samples outside `[mint, maxt]` or inside
    /// one of the sorted `deleted` intervals are not returned.
    pub(crate) fn new(chunks: Vec<ChunkView<'a>>, deleted: &'a [(i64, i64)], mint: i64, maxt: i64) -> Self {
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
                    while self.chunks.get(self.idx).is_some_and(|c| c.0 < target) {
                        self.idx += 1;
                    }
                    let Some(&(_, bytes)) = self.chunks.get(self.idx) else { return ValueType::None };
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

impl SampleIterator for ChunkSeqIterator<'_> {
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
