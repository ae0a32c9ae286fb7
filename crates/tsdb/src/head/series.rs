//! One series in the head: its labels, its full chunks and its open chunk.

use std::ops::Deref;
use std::sync::Arc;

use model::Labels;

use crate::chunkenc::{Encoding, XorChunk};
use crate::chunks_head::{ChunkDiskMapper, ChunkDiskRef, MappedChunk};

/// The number of samples Prometheus aims for in a chunk.
pub const SAMPLES_PER_CHUNK: u16 = 120;

/// Where Prometheus ends chunks, so that ours have the same boundaries
/// (and blocks the same bytes). A chunk ends at the end of the chunk range
/// it started in; once it holds a quarter of [`SAMPLES_PER_CHUNK`], the
/// rest of that range is split evenly among as many chunks as the sample
/// rate so far would fill, so a range holds equal chunks instead of full
/// ones and a runt. A chunk twice the aim is cut regardless: the rate went
/// up.
#[derive(Debug, Clone, Copy, Default)]
pub struct ChunkCutter {
    /// The open chunk ends before the first sample at or after this.
    next_at: i64,
}

impl ChunkCutter {
    /// For a chunk starting at `t`.
    pub fn new(t: i64, chunk_range: i64) -> ChunkCutter {
        ChunkCutter { next_at: range_end(t, chunk_range) }
    }

    /// Whether `t` starts a new chunk after `open`; updates the estimate
    /// when `open` reaches a quarter of the aim.
    pub fn cut_before(&mut self, open: &XorChunk, t: i64) -> bool {
        let n = open.num_samples();
        if n == SAMPLES_PER_CHUNK / 4 {
            if let (Some(start), Some(cur)) = (open.min_time(), open.max_time()) {
                self.next_at = even_chunk_end(start, cur, self.next_at);
            }
        }
        t >= self.next_at || n >= SAMPLES_PER_CHUNK * 2
    }
}

/// The end of a chunk that started at `start` and a quarter-filled by
/// `cur`, so that the chunks left before `max` are equal.
fn even_chunk_end(start: i64, cur: i64, max: i64) -> i64 {
    let quarter = (cur - start).saturating_add(1).saturating_mul(4);
    let n = (max - start) / quarter.max(1);
    if n <= 1 { max } else { start + (max - start) / n }
}

/// A chunk that takes no more samples: written to the head chunk files and
/// read back through their memory mapping, or, without chunk files (or if
/// writing one failed), kept on the heap, compact and shared with readers.
#[derive(Debug, Clone)]
pub struct FullChunk {
    pub min_time: i64,
    pub max_time: i64,
    pub data: FullData,
}

#[derive(Debug, Clone)]
pub enum FullData {
    Heap(Arc<[u8]>),
    Disk(ChunkDiskRef),
}

/// Chunk bytes as a reader gets them.
#[derive(Debug, Clone)]
pub enum ChunkBytes {
    Heap(Arc<[u8]>),
    Mapped(MappedChunk),
}

impl Deref for ChunkBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            ChunkBytes::Heap(b) => b,
            ChunkBytes::Mapped(m) => m,
        }
    }
}

/// What the head knows of a series, behind the series' own lock. The open
/// chunk's encoder already holds the first and last samples, so nothing
/// here repeats them: a million series make every word count.
#[derive(Debug, Default)]
pub struct SeriesData {
    full: Vec<FullChunk>,
    open: Option<XorChunk>,
    /// Where the open chunk ends (meaningless without one).
    cutter: ChunkCutter,
}

/// The outcome of checking a sample against what the series holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    Ok,
    /// Same timestamp and same value bits: accepted and ignored.
    Duplicate,
    OutOfOrder,
    DuplicateTimestamp,
}

/// The last sample of a series: its time, and its value bits when known
/// (a series whose newest data is a chunk on disk knows only the time).
pub type Last = Option<(i64, Option<u64>)>;

/// Decides whether `(t, v)` may follow a series whose last sample is `last`.
pub fn check_after(last: Last, t: i64, v: f64) -> Check {
    match last {
        None => Check::Ok,
        Some((lt, _)) if t > lt => Check::Ok,
        Some((lt, _)) if t < lt => Check::OutOfOrder,
        // As Prometheus: at the time of a chunk on disk, nothing goes in.
        Some((_, None)) => Check::OutOfOrder,
        // Compare bits so that NaN equals NaN and a stale marker differs
        // from a plain NaN, as Prometheus does.
        Some((_, Some(lv))) if lv == v.to_bits() => Check::Duplicate,
        Some(_) => Check::DuplicateTimestamp,
    }
}

/// A chunk snapshot for a reader: full chunks are shared or mapped, the
/// open one is copied (it is at most a few hundred bytes).
#[derive(Debug, Clone)]
pub struct ChunkRef {
    pub min_time: i64,
    pub max_time: i64,
    pub bytes: ChunkBytes,
}

impl SeriesData {
    /// The last committed sample.
    pub fn last(&self) -> Last {
        match &self.open {
            Some(o) => o.last().map(|(t, v)| (t, Some(v))),
            None => self.full.last().map(|c| (c.max_time, None)),
        }
    }

    /// Gives the series chunks found in the head chunk files at start-up.
    pub fn attach_disk_chunks(&mut self, chunks: impl IntoIterator<Item = (i64, i64, ChunkDiskRef)>) {
        self.full.extend(chunks.into_iter().map(|(min_time, max_time, r)| FullChunk { min_time, max_time, data: FullData::Disk(r) }));
        self.full.sort_by_key(|c| c.min_time);
    }

    pub fn check(&self, t: i64, v: f64) -> Check {
        check_after(self.last(), t, v)
    }

    /// Appends a checked sample. Returns whether a new chunk was started.
    /// Chunks are cut where [`ChunkCutter`] says, as Prometheus cuts them;
    /// the cut chunk goes to `disk` (as series `r`) when there is one.
    pub fn append(&mut self, t: i64, v: f64, chunk_range: i64, disk: Option<(&ChunkDiskMapper, u64)>) -> bool {
        if self.check(t, v) != Check::Ok {
            return false;
        }
        let cut = match &self.open {
            None => true,
            Some(o) => self.cutter.cut_before(o, t),
        };
        if cut {
            if let Some(o) = self.open.take() {
                if let (Some(min_time), Some(max_time)) = (o.min_time(), o.max_time()) {
                    let data = match disk.map(|(d, r)| d.write_chunk(r, min_time, max_time, Encoding::Xor, o.bytes())) {
                        Some(Ok(r)) => FullData::Disk(r),
                        Some(Err(e)) => {
                            tracing::error!(component = "tsdb", err = %e, "Writing a head chunk to disk failed; keeping it in memory");
                            FullData::Heap(Arc::from(o.bytes()))
                        }
                        None => FullData::Heap(Arc::from(o.bytes())),
                    };
                    self.full.push(FullChunk { min_time, max_time, data });
                }
            }
            self.open = Some(XorChunk::new());
            self.cutter = ChunkCutter::new(t, chunk_range);
        }
        if let Some(o) = &mut self.open {
            o.append(t, v);
        }
        cut
    }

    /// Chunks overlapping `[mint, maxt]`, oldest first. A chunk on disk
    /// that cannot be read is left out and logged.
    pub fn chunks(&self, mint: i64, maxt: i64, disk: Option<&ChunkDiskMapper>) -> Vec<ChunkRef> {
        let mut out: Vec<ChunkRef> = self
            .full
            .iter()
            .filter(|c| c.max_time >= mint && c.min_time <= maxt)
            .filter_map(|c| {
                let bytes = match &c.data {
                    FullData::Heap(b) => ChunkBytes::Heap(b.clone()),
                    FullData::Disk(r) => match disk.map(|d| d.chunk(*r)) {
                        Some(Ok(m)) => ChunkBytes::Mapped(m),
                        Some(Err(e)) => {
                            tracing::error!(component = "tsdb", err = %e, "Reading a head chunk failed");
                            return None;
                        }
                        None => return None,
                    },
                };
                Some(ChunkRef { min_time: c.min_time, max_time: c.max_time, bytes })
            })
            .collect();
        if let Some(o) = &self.open {
            if let (Some(min_time), Some(max_time)) = (o.min_time(), o.max_time()) {
                if max_time >= mint && min_time <= maxt {
                    out.push(ChunkRef { min_time, max_time, bytes: ChunkBytes::Heap(Arc::from(o.bytes())) });
                }
            }
        }
        out
    }

    /// Whether any chunk overlaps `[mint, maxt]`, without reading a chunk.
    pub fn has_samples_in(&self, mint: i64, maxt: i64) -> bool {
        let overlaps = |min: i64, max: i64| max >= mint && min <= maxt;
        self.full.iter().any(|c| overlaps(c.min_time, c.max_time))
            || self.open.as_ref().is_some_and(|o| matches!((o.min_time(), o.max_time()), (Some(a), Some(b)) if overlaps(a, b)))
    }

    /// Drops chunks that end before `mint`; returns how many went.
    pub fn truncate_before(&mut self, mint: i64) -> usize {
        let before = self.full.len();
        self.full.retain(|c| c.max_time >= mint);
        let mut removed = before - self.full.len();
        if self.open.as_ref().is_some_and(|o| o.max_time().is_none_or(|t| t < mint)) {
            self.open = None;
            removed += 1;
        }
        removed
    }

    /// Whether the series holds no sample at all.
    pub fn is_empty(&self) -> bool {
        self.full.is_empty() && self.open.is_none()
    }

    pub fn num_chunks(&self) -> usize {
        self.full.len() + usize::from(self.open.is_some())
    }

    pub fn min_time(&self) -> Option<i64> {
        self.full.first().map(|c| c.min_time).or_else(|| self.open.as_ref().and_then(XorChunk::min_time))
    }
}

/// The end (exclusive) of the chunk range that `t` falls in; ranges are
/// aligned to multiples of `range` from the epoch, as Prometheus aligns them.
pub fn range_end(t: i64, range: i64) -> i64 {
    if range <= 0 {
        return i64::MAX;
    }
    (t.div_euclid(range) + 1).saturating_mul(range)
}

/// A series in the head.
#[derive(Debug)]
pub struct MemSeries {
    pub r: u64,
    pub labels: Labels,
    pub data: std::sync::Mutex<SeriesData>,
}

impl MemSeries {
    pub fn new(r: u64, labels: Labels) -> Self {
        MemSeries { r, labels, data: std::sync::Mutex::new(SeriesData::default()) }
    }

    /// The series' data. A poisoned lock means a panic mid-append; the data
    /// is still consistent chunk-wise, so reading on is the better choice.
    pub fn lock(&self) -> std::sync::MutexGuard<'_, SeriesData> {
        self.data.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partial_range_is_split_into_equal_chunks_as_prometheus_splits_it() {
        // 401 samples at 15 s from a range's middle to its end: three
        // chunks of about 134, not three of 120 and one of 41.
        let range = 2 * 3600 * 1000;
        let start = range - 401 * 15_000;
        let mut s = SeriesData::default();
        for i in 0..401 {
            s.append(start + i * 15_000, i as f64, range, None);
        }
        let sizes: Vec<i64> = s.chunks(i64::MIN, i64::MAX, None).iter().map(|c| (c.max_time - c.min_time) / 15_000 + 1).collect();
        assert_eq!(sizes, [134, 134, 133]);
        // A rate that jumps after the estimate: cut at twice the aim.
        let mut s = SeriesData::default();
        for i in 0..30 {
            s.append(i * 60_000, 0.0, range, None);
        }
        for i in 0..300 {
            s.append(30 * 60_000 + i, 0.0, range, None);
        }
        assert_eq!(s.chunks(i64::MIN, i64::MAX, None)[0].bytes[..2], 240u16.to_be_bytes());
    }

    #[test]
    fn cuts_at_120_samples_and_range_boundaries() {
        let mut s = SeriesData::default();
        let range = 2 * 3600 * 1000;
        for i in 0..250 {
            s.append(i * 15_000, i as f64, range, None);
        }
        // 250 samples at 15 s span 62 min: cut by count only.
        assert_eq!(s.num_chunks(), 3);
        let mut s = SeriesData::default();
        s.append(range - 1000, 1.0, range, None);
        s.append(range, 2.0, range, None);
        assert_eq!(s.num_chunks(), 2, "a sample on the next range starts a chunk");
    }

    #[test]
    fn out_of_order_and_duplicates() {
        let mut s = SeriesData::default();
        assert!(s.append(1000, 1.0, 7_200_000, None));
        assert_eq!(s.check(1000, 1.0), Check::Duplicate);
        assert_eq!(s.check(1000, 2.0), Check::DuplicateTimestamp);
        assert_eq!(s.check(999, 2.0), Check::OutOfOrder);
        assert_eq!(s.check(1001, 2.0), Check::Ok);
        assert_eq!(check_after(Some((5, Some(f64::NAN.to_bits()))), 5, f64::NAN), Check::Duplicate);
        assert_eq!(check_after(Some((5, None)), 5, 1.0), Check::OutOfOrder, "the time of a chunk on disk");
        assert_eq!(check_after(Some((5, Some(f64::NAN.to_bits()))), 5, model::value::stale_nan()), Check::DuplicateTimestamp);
    }

    #[test]
    fn chunk_selection_and_truncation() {
        let mut s = SeriesData::default();
        for i in 0..300 {
            s.append(i * 1000, i as f64, i64::MAX, None);
        }
        // 1 s apart, the estimate at 30 samples ends chunks after 117.
        assert_eq!(s.chunks(0, 1000, None).len(), 1);
        assert_eq!(s.chunks(0, 299_000, None).len(), 3);
        assert_eq!(s.chunks(250_000, 260_000, None).len(), 1);
        assert_eq!(s.truncate_before(130_000), 1);
        assert_eq!(s.min_time(), Some(117_000));
    }

    #[test]
    fn range_alignment() {
        assert_eq!(range_end(0, 100), 100);
        assert_eq!(range_end(99, 100), 100);
        assert_eq!(range_end(100, 100), 200);
        assert_eq!(range_end(-1, 100), 0);
    }
}
