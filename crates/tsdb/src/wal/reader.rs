//! Reading WAL records back in order across segments, for replay and
//! checkpoints, stopping with a [`CorruptionError`] at a torn or damaged
//! tail.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use super::{
    CorruptionError, CorruptionReason, Fragment, PAGE_SIZE, RECORD_HEADER_SIZE, SNAPPY_MASK, TYPE_MASK, WalError, ZSTD_MASK, io_err, list_segments,
    segment_name,
};

/// Segments `first..=last` of the WAL (or checkpoint) in `dir`; `None`
/// leaves that end open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentRange {
    pub dir: PathBuf,
    pub first: Option<usize>,
    pub last: Option<usize>,
}

impl SegmentRange {
    /// Every segment in `dir`.
    pub fn all(dir: &Path) -> Self {
        SegmentRange { dir: dir.to_path_buf(), first: None, last: None }
    }
}

#[derive(Debug)]
struct SegmentFile {
    dir: PathBuf,
    index: usize,
    path: PathBuf,
}

/// Reads records in order from a sequence of segments.
///
/// Unlike Prometheus's reader, a record must end in the segment it started
/// in (the writer guarantees it); a segment ending inside a record is
/// reported as torn there, so that a repair cuts exactly at it.
pub struct Reader {
    segs: Vec<SegmentFile>,
    // Position in `segs` and the open file, if any.
    cur: usize,
    file: Option<BufReader<File>>,
    // Bytes of the current segment consumed.
    off: usize,
    rec: Vec<u8>,
    compressed: Vec<u8>,
    buf: Box<[u8]>,
    snappy: snap::raw::Decoder,
    last_compressed: bool,
    done: bool,
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader").field("segments", &self.segs).field("cur", &self.cur).field("offset", &self.off).field("done", &self.done).finish()
    }
}

/// Reads until `buf` is full or the file ends; returns the bytes read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

fn corruption(seg: &SegmentFile, offset: usize, reason: CorruptionReason) -> WalError {
    WalError::Corruption(CorruptionError { dir: seg.dir.clone(), segment: seg.index, offset, reason })
}

impl Reader {
    /// A reader over the given ranges, in order (a checkpoint, then the WAL
    /// segments after it, for replay).
    pub fn new(ranges: &[SegmentRange]) -> Result<Reader, WalError> {
        let mut segs = Vec::new();
        for r in ranges {
            for index in list_segments(&r.dir)? {
                if r.first.is_some_and(|f| index < f) {
                    continue;
                }
                if r.last.is_some_and(|l| index > l) {
                    break;
                }
                segs.push(SegmentFile { dir: r.dir.clone(), index, path: segment_name(&r.dir, index) });
            }
        }
        Ok(Reader::from_segments(segs))
    }

    /// A reader over one file standing for segment `index` of `dir` (repair
    /// reads the renamed corrupt segment).
    pub(super) fn from_file(dir: &Path, index: usize, path: PathBuf) -> Reader {
        Reader::from_segments(vec![SegmentFile { dir: dir.to_path_buf(), index, path }])
    }

    fn from_segments(segs: Vec<SegmentFile>) -> Reader {
        Reader {
            segs,
            cur: 0,
            file: None,
            off: 0,
            rec: Vec::new(),
            compressed: Vec::new(),
            buf: vec![0u8; PAGE_SIZE].into_boxed_slice(),
            snappy: snap::raw::Decoder::new(),
            last_compressed: false,
            done: false,
        }
    }

    /// The index of the segment being read, `None` once past the last.
    pub fn segment(&self) -> Option<usize> {
        self.segs.get(self.cur).map(|s| s.index)
    }

    /// Bytes of the current segment consumed so far; after a record, where
    /// it ends.
    pub fn offset(&self) -> usize {
        self.off
    }

    /// Whether the last record returned was stored snappy-compressed.
    pub fn last_record_compressed(&self) -> bool {
        self.last_compressed
    }

    /// The next record, `None` at the end. After an error (or the end) it
    /// returns `None`.
    pub fn next_record(&mut self) -> Result<Option<&[u8]>, WalError> {
        if self.done {
            return Ok(None);
        }
        match self.read_record() {
            Ok(true) => Ok(Some(&self.rec)),
            Ok(false) => {
                self.done = true;
                Ok(None)
            }
            Err(e) => {
                self.done = true;
                self.file = None;
                Err(e)
            }
        }
    }

    fn read_record(&mut self) -> Result<bool, WalError> {
        self.rec.clear();
        self.compressed.clear();
        // Fragments of the current record read so far.
        let mut frags = 0usize;
        loop {
            if self.file.is_none() {
                let Some(seg) = self.segs.get(self.cur) else { return Ok(false) };
                let f = File::open(&seg.path).map_err(io_err("open segment", &seg.path))?;
                self.file = Some(BufReader::with_capacity(16 * PAGE_SIZE, f));
                self.off = 0;
            }
            let seg = &self.segs[self.cur];
            let Some(file) = self.file.as_mut() else { continue };
            let read_err = io_err("read segment", &seg.path);

            let mut hdr = [0u8; RECORD_HEADER_SIZE];
            let n = read_full(file, &mut hdr[..1]).map_err(read_err)?;
            if n == 0 {
                if frags > 0 {
                    return Err(corruption(seg, self.off, CorruptionReason::LastRecordTorn));
                }
                self.file = None;
                self.cur += 1;
                continue;
            }
            self.off += 1;
            let typ = hdr[0] & TYPE_MASK;

            if typ == Fragment::PageTerm as u8 {
                // The rest of the page must be zeros; checking is pedantic
                // but catches damage early.
                let k = PAGE_SIZE - self.off % PAGE_SIZE;
                if k == PAGE_SIZE {
                    continue;
                }
                let n = read_full(file, &mut self.buf[..k]).map_err(io_err("read segment", &seg.path))?;
                self.off += n;
                if self.buf[..n].iter().any(|&b| b != 0) {
                    return Err(corruption(seg, self.off, CorruptionReason::UnexpectedNonZeroPadding));
                }
                // A segment may end inside padding (a partial page written
                // before a crash); zeros lost there hold no data.
                continue;
            }

            let n = read_full(file, &mut hdr[1..]).map_err(io_err("read segment", &seg.path))?;
            self.off += n;
            if n < RECORD_HEADER_SIZE - 1 {
                return Err(corruption(seg, self.off, CorruptionReason::TruncatedHeader));
            }
            let len = usize::from(u16::from_be_bytes([hdr[1], hdr[2]]));
            let want = u32::from_be_bytes([hdr[3], hdr[4], hdr[5], hdr[6]]);
            if len > PAGE_SIZE - RECORD_HEADER_SIZE {
                return Err(corruption(seg, self.off, CorruptionReason::InvalidRecordSize(len)));
            }
            let n = read_full(file, &mut self.buf[..len]).map_err(io_err("read segment", &seg.path))?;
            self.off += n;
            if n < len {
                return Err(corruption(seg, self.off, CorruptionReason::TruncatedData { expected: len, got: n }));
            }
            let data = &self.buf[..len];
            let got = crc32c::crc32c(data);
            if got != want {
                return Err(corruption(seg, self.off, CorruptionReason::Checksum { got, want }));
            }

            let snappy = hdr[0] & SNAPPY_MASK != 0;
            if !snappy && hdr[0] & ZSTD_MASK != 0 {
                return Err(WalError::UnsupportedCompression { dir: seg.dir.clone(), segment: seg.index, offset: self.off });
            }
            if snappy {
                self.compressed.extend_from_slice(data);
            } else {
                self.rec.extend_from_slice(data);
            }

            let unexpected = match typ {
                t if t == Fragment::Full as u8 => (frags != 0).then_some("unexpected full record"),
                t if t == Fragment::First as u8 => (frags != 0).then_some("unexpected first record, dropping buffer"),
                t if t == Fragment::Middle as u8 => (frags == 0).then_some("unexpected middle record, dropping buffer"),
                t if t == Fragment::Last as u8 => (frags == 0).then_some("unexpected last record, dropping buffer"),
                t => return Err(corruption(seg, self.off, CorruptionReason::InvalidFragmentType(t))),
            };
            if let Some(what) = unexpected {
                return Err(corruption(seg, self.off, CorruptionReason::UnexpectedFragment(what)));
            }

            if typ == Fragment::Full as u8 || typ == Fragment::Last as u8 {
                self.last_compressed = snappy;
                if snappy && !self.compressed.is_empty() {
                    let decoded = snap::raw::decompress_len(&self.compressed)
                        .and_then(|n| {
                            self.rec.resize(n, 0);
                            self.snappy.decompress(&self.compressed, &mut self.rec)
                        })
                        .map(|n| self.rec.truncate(n));
                    if let Err(e) = decoded {
                        return Err(corruption(seg, self.off, CorruptionReason::Snappy(e.to_string())));
                    }
                }
                return Ok(true);
            }
            frags += 1;
        }
    }
}
