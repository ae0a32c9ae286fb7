//! The write-ahead log, on disk exactly as Prometheus's `tsdb/wlog`, so that
//! either server can replay the other's WAL.
//!
//! A WAL is a directory of segment files named by index (`00000000`,
//! `00000001`, ...), each at most [`DEFAULT_SEGMENT_SIZE`] by default and
//! written in [`PAGE_SIZE`] pages. A record is split into fragments that
//! never cross a segment; each fragment has a 7-byte header: a type byte
//! (full, first, middle, last in the low three bits; snappy and zstd flags
//! above them), a big-endian `u16` length and a big-endian CRC32-Castagnoli
//! of the fragment's data. A page whose remainder cannot hold a header is
//! zero-padded. Records may be snappy-compressed (block format) as a whole.
//!
//! This module owns the files of a WAL directory: writing ([`Wal`]),
//! reading ([`Reader`]), repair after a torn write ([`repair`]) and
//! checkpoints ([`checkpoint`]). What records mean is `record`'s business.

mod checkpoint;
mod reader;

pub use checkpoint::{CheckpointStats, checkpoint, checkpoint_dir, delete_checkpoints, last_checkpoint};
pub use reader::{Reader, SegmentRange};

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

use crate::record::RecordError;

/// Default largest size of a segment: Prometheus's 128 MiB.
pub const DEFAULT_SEGMENT_SIZE: usize = 128 * 1024 * 1024;
/// Segments are written in pages of this size.
pub const PAGE_SIZE: usize = 32 * 1024;
/// Type byte, length and CRC of each fragment.
pub const RECORD_HEADER_SIZE: usize = 7;

// Type byte: [3 bits unused][1 bit zstd][1 bit snappy][3 bits fragment type].
const SNAPPY_MASK: u8 = 1 << 3;
const ZSTD_MASK: u8 = 1 << 4;
const TYPE_MASK: u8 = SNAPPY_MASK - 1;

/// Fragment types in the low bits of the type byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Fragment {
    /// The rest of the page is zero padding.
    PageTerm = 0,
    Full = 1,
    First = 2,
    Middle = 3,
    Last = 4,
}

/// How a WAL is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalOptions {
    /// Largest size of a segment; a multiple of [`PAGE_SIZE`]. A record that
    /// does not fit in what is left starts a new segment; one larger than a
    /// whole segment makes that segment larger.
    pub segment_size: usize,
    /// Snappy-compress records that get smaller by it, as Prometheus's
    /// `--storage.tsdb.wal-compression` (on by default there, and here).
    pub compress: bool,
}

impl Default for WalOptions {
    fn default() -> Self {
        WalOptions { segment_size: DEFAULT_SEGMENT_SIZE, compress: true }
    }
}

/// What went wrong with a WAL. Texts follow Prometheus's where it has them.
#[derive(Debug, thiserror::Error)]
pub enum WalError {
    #[error("invalid segment size")]
    InvalidSegmentSize,
    #[error("segments are not sequential")]
    NotSequential,
    #[error("wlog is closed")]
    Closed,
    #[error("{op} {path}: {source}", path = .path.display())]
    Io { op: &'static str, path: PathBuf, source: io::Error },
    #[error(transparent)]
    Corruption(#[from] CorruptionError),
    /// Prometheus may write zstd-compressed records; we cannot read them yet.
    /// Not a corruption: repairing would throw good data away.
    #[error("segment {segment} at {offset} in {dir}: zstd-compressed WAL records are not supported", dir = .dir.display())]
    UnsupportedCompression { dir: PathBuf, segment: usize, offset: usize },
    #[error("checkpoint {0} is not a directory")]
    CheckpointNotDir(String),
    #[error("unexpected gap to last checkpoint. expected:{expected}, requested:{requested}")]
    CheckpointGap { expected: usize, requested: usize },
    #[error("{context}: {source}")]
    Record { context: &'static str, source: RecordError },
}

fn io_err(op: &'static str, path: &Path) -> impl FnOnce(io::Error) -> WalError + use<> {
    let path = path.to_path_buf();
    move |source| WalError::Io { op, path, source }
}

/// Where and why reading stopped on bad data: a torn write at the tail
/// after a crash, or damage. [`repair`] keeps what lies before it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("corruption in segment {} at {offset}: {reason}", segment_name(dir, *segment).display())]
pub struct CorruptionError {
    pub dir: PathBuf,
    pub segment: usize,
    /// Bytes of the segment consumed when the problem was found; every
    /// record that ends before it is intact.
    pub offset: usize,
    pub reason: CorruptionReason,
}

/// The kinds of bad data a reader finds, in Prometheus's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorruptionReason {
    /// The segment ends inside a record (a first or middle fragment without
    /// its last).
    LastRecordTorn,
    UnexpectedNonZeroPadding,
    TruncatedHeader,
    /// The segment ends inside a fragment's data.
    TruncatedData {
        expected: usize,
        got: usize,
    },
    InvalidRecordSize(usize),
    Checksum {
        got: u32,
        want: u32,
    },
    /// A fragment type that cannot follow what came before.
    UnexpectedFragment(&'static str),
    InvalidFragmentType(u8),
    Snappy(String),
}

impl fmt::Display for CorruptionReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CorruptionReason::LastRecordTorn => f.write_str("last record is torn"),
            CorruptionReason::UnexpectedNonZeroPadding => f.write_str("unexpected non-zero byte in padded page"),
            CorruptionReason::TruncatedHeader => f.write_str("read remaining header: unexpected EOF"),
            CorruptionReason::TruncatedData { expected, got } => write!(f, "invalid size: expected {expected}, got {got}"),
            CorruptionReason::InvalidRecordSize(n) => write!(f, "invalid record size {n}"),
            CorruptionReason::Checksum { got, want } => write!(f, "unexpected checksum {got:x}, expected {want:x}"),
            CorruptionReason::UnexpectedFragment(what) => f.write_str(what),
            CorruptionReason::InvalidFragmentType(t) => write!(f, "unexpected record type {t}"),
            CorruptionReason::Snappy(e) => write!(f, "snappy: {e}"),
        }
    }
}

/// The file name of segment `index` in `dir` (`%08d`).
pub fn segment_name(dir: &Path, index: usize) -> PathBuf {
    dir.join(format!("{index:08}"))
}

/// Segment files in `dir`, sorted by index, checked to be consecutive.
fn list_segments(dir: &Path) -> Result<Vec<usize>, WalError> {
    let mut indexes = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_err("read dir", dir))? {
        let entry = entry.map_err(io_err("read dir", dir))?;
        let name = entry.file_name();
        // Only plain numbers are segments; `checkpoint.N`, `N.repair` and
        // the like are not.
        let Some(name) = name.to_str() else { continue };
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        if let Ok(i) = name.parse::<usize>() {
            indexes.push(i);
        }
    }
    indexes.sort_unstable();
    if indexes.windows(2).any(|w| w[0] + 1 != w[1]) {
        return Err(WalError::NotSequential);
    }
    Ok(indexes)
}

/// The first and last segment index in `dir`, `None` when there is none.
pub fn segments(dir: &Path) -> Result<Option<(usize, usize)>, WalError> {
    let s = list_segments(dir)?;
    Ok(s.first().copied().zip(s.last().copied()))
}

/// The page being filled. Whole pages are written to the file as they fill;
/// a partial page is written (but kept) at the end of each `log` call.
struct Page {
    buf: Box<[u8]>,
    // Bytes of `buf` in use, and how many of them are already in the file.
    alloc: usize,
    flushed: usize,
}

impl Page {
    fn new() -> Self {
        Page { buf: vec![0u8; PAGE_SIZE].into_boxed_slice(), alloc: 0, flushed: 0 }
    }

    fn remaining(&self) -> usize {
        PAGE_SIZE - self.alloc
    }

    /// No room for another fragment header.
    fn full(&self) -> bool {
        self.remaining() < RECORD_HEADER_SIZE
    }

    fn reset(&mut self) {
        self.buf.fill(0);
        self.alloc = 0;
        self.flushed = 0;
    }
}

/// Counters behind Prometheus's `prometheus_tsdb_wal_*` metrics, for the
/// owner of the WAL to export.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct WalCounters {
    pub page_flushes: u64,
    pub completed_pages: u64,
    pub writes_failed: u64,
    pub truncations: u64,
    pub truncations_failed: u64,
    pub record_part_writes: u64,
    pub record_parts_bytes_written: u64,
    /// Bytes saved by snappy (`record_bytes_saved_total{compression="snappy"}`).
    pub record_bytes_saved: u64,
    pub fsyncs: u64,
    pub fsync_seconds_sum: f64,
}

/// A WAL open for appending.
///
/// Not synchronised: the owner (the head) serialises `log` calls, as
/// Prometheus's WL does with its mutex.
pub struct Wal {
    dir: PathBuf,
    opts: WalOptions,
    segment: File,
    segment_index: usize,
    // Whole pages already in the active segment.
    done_pages: usize,
    page: Page,
    snappy: snap::raw::Encoder,
    compressed: Vec<u8>,
    // The previous segment's fsync runs off the write path, as Prometheus
    // does it in its actor goroutine.
    pending_sync: Option<JoinHandle<()>>,
    closed: bool,
    counters: WalCounters,
}

impl fmt::Debug for Wal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wal")
            .field("dir", &self.dir)
            .field("opts", &self.opts)
            .field("segment", &self.segment_index)
            .field("done_pages", &self.done_pages)
            .field("page_alloc", &self.page.alloc)
            .field("closed", &self.closed)
            .finish()
    }
}

impl Wal {
    /// Opens the WAL in `dir`, creating the directory if needed, and starts
    /// a new segment after the last existing one (existing segments are
    /// never appended to, so a torn tail stays where a reader can find it).
    pub fn open(dir: &Path, opts: WalOptions) -> Result<Wal, WalError> {
        if opts.segment_size == 0 || opts.segment_size % PAGE_SIZE != 0 {
            return Err(WalError::InvalidSegmentSize);
        }
        fs::create_dir_all(dir).map_err(io_err("create dir", dir))?;
        let index = match segments(dir)? {
            Some((_, last)) => last + 1,
            None => 0,
        };
        Wal::create_at(dir, opts, index)
    }

    /// A writer whose active segment is `index`, created if missing.
    fn create_at(dir: &Path, opts: WalOptions, index: usize) -> Result<Wal, WalError> {
        let (segment, done_pages) = create_segment(dir, index)?;
        Ok(Wal {
            dir: dir.to_path_buf(),
            opts,
            segment,
            segment_index: index,
            done_pages,
            page: Page::new(),
            snappy: snap::raw::Encoder::new(),
            compressed: Vec::new(),
            pending_sync: None,
            closed: false,
            counters: WalCounters::default(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn options(&self) -> WalOptions {
        self.opts
    }

    /// The index of the segment being written
    /// (`prometheus_tsdb_wal_segment_current`).
    pub fn current_segment(&self) -> usize {
        self.segment_index
    }

    pub fn counters(&self) -> WalCounters {
        self.counters
    }

    /// Bytes of every file under the WAL directory, checkpoints included
    /// (`prometheus_tsdb_wal_storage_size_bytes`).
    pub fn size(&self) -> Result<u64, WalError> {
        dir_size(&self.dir)
    }

    /// Appends records. When it returns, every record is in the file (in
    /// the OS's cache, not yet fsynced), so a killed process loses none.
    pub fn log(&mut self, records: &[&[u8]]) -> Result<(), WalError> {
        if self.closed {
            return Err(WalError::Closed);
        }
        let compress = self.opts.compress;
        for (i, rec) in records.iter().enumerate() {
            if let Err(e) = self.log_one(rec, i + 1 == records.len(), compress) {
                self.counters.writes_failed += 1;
                return Err(e);
            }
        }
        Ok(())
    }

    fn log_one(&mut self, rec: &[u8], last_of_batch: bool, compress: bool) -> Result<(), WalError> {
        // A failed flush can leave the page full.
        if self.page.full() {
            self.flush_page(true)?;
        }

        let mut snappy = false;
        if compress {
            self.compressed.resize(snap::raw::max_compress_len(rec.len()), 0);
            match self.snappy.compress(rec, &mut self.compressed) {
                // Small records can grow; then they are stored as they are.
                Ok(n) if n < rec.len() => {
                    self.compressed.truncate(n);
                    self.counters.record_bytes_saved += (rec.len() - n) as u64;
                    snappy = true;
                }
                // Compression is an optimisation: on failure store the record
                // uncompressed rather than fail the write.
                _ => {}
            }
        }
        let compressed = std::mem::take(&mut self.compressed);
        let res = self.write_fragments(if snappy { &compressed } else { rec }, snappy, last_of_batch);
        self.compressed = compressed;
        res
    }

    fn write_fragments(&mut self, enc: &[u8], snappy: bool, last_of_batch: bool) -> Result<(), WalError> {
        // Records never cross segments, so that a whole segment can be
        // deleted safely and a torn write damages only the last one.
        let pages_left = self.opts.segment_size as i64 / PAGE_SIZE as i64 - self.done_pages as i64 - 1;
        let left = (self.page.remaining() - RECORD_HEADER_SIZE) as i64 + (PAGE_SIZE - RECORD_HEADER_SIZE) as i64 * pages_left;
        if enc.len() as i64 > left {
            self.next_segment()?;
        }

        let mut rest = enc;
        let mut first = true;
        // At least one pass, so that an empty record is written too.
        while first || !rest.is_empty() {
            let room = PAGE_SIZE - self.page.alloc - RECORD_HEADER_SIZE;
            let (part, tail) = rest.split_at(rest.len().min(room));
            let typ = match (first, tail.is_empty()) {
                (true, true) => Fragment::Full,
                (false, true) => Fragment::Last,
                (true, false) => Fragment::First,
                (false, false) => Fragment::Middle,
            };
            let mut type_byte = typ as u8;
            if snappy {
                type_byte |= SNAPPY_MASK;
            }
            let at = self.page.alloc;
            let buf = &mut self.page.buf[at..at + RECORD_HEADER_SIZE + part.len()];
            buf[0] = type_byte;
            // `part` is at most a page, so its length fits in 16 bits.
            buf[1..3].copy_from_slice(&(part.len() as u16).to_be_bytes());
            buf[3..7].copy_from_slice(&crc32c::crc32c(part).to_be_bytes());
            buf[RECORD_HEADER_SIZE..].copy_from_slice(part);
            self.page.alloc += RECORD_HEADER_SIZE + part.len();
            self.counters.record_part_writes += 1;
            self.counters.record_parts_bytes_written += (RECORD_HEADER_SIZE + part.len()) as u64;

            if self.page.full() {
                self.flush_page(true)?;
            }
            rest = tail;
            first = false;
        }

        if last_of_batch && self.page.alloc > 0 {
            self.flush_page(false)?;
        }
        Ok(())
    }

    /// Writes the page's unwritten bytes. A page that is full, or `clear`,
    /// is padded with zeros to its end and a new page begins.
    fn flush_page(&mut self, clear: bool) -> Result<(), WalError> {
        self.counters.page_flushes += 1;
        let clear = clear || self.page.full();
        if clear {
            self.page.alloc = PAGE_SIZE;
        }
        while self.page.flushed < self.page.alloc {
            match self.segment.write(&self.page.buf[self.page.flushed..self.page.alloc]) {
                Ok(0) => {
                    let path = segment_name(&self.dir, self.segment_index);
                    return Err(io_err("write", &path)(io::ErrorKind::WriteZero.into()));
                }
                // Track partial writes so that a retry does not repeat bytes.
                Ok(n) => self.page.flushed += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(io_err("write", &segment_name(&self.dir, self.segment_index))(e)),
            }
        }
        if clear {
            self.page.reset();
            self.done_pages += 1;
            self.counters.completed_pages += 1;
        }
        Ok(())
    }

    /// Closes the active segment (its fsync runs in the background) and
    /// starts the next one; returns the new index.
    pub fn next_segment(&mut self) -> Result<usize, WalError> {
        if self.closed {
            return Err(WalError::Closed);
        }
        if self.page.alloc > 0 {
            self.flush_page(true)?;
        }
        let (next, done_pages) = create_segment(&self.dir, self.segment_index + 1)?;
        let prev = std::mem::replace(&mut self.segment, next);
        let prev_index = self.segment_index;
        self.segment_index += 1;
        self.done_pages = done_pages;

        self.wait_pending_sync();
        let path = segment_name(&self.dir, prev_index);
        self.counters.fsyncs += 1;
        self.pending_sync = Some(std::thread::spawn(move || {
            if let Err(err) = prev.sync_all() {
                tracing::error!(segment = %path.display(), %err, "sync previous segment");
            }
        }));
        Ok(self.segment_index)
    }

    fn wait_pending_sync(&mut self) {
        if let Some(h) = self.pending_sync.take() {
            if h.join().is_err() {
                tracing::error!("WAL segment sync thread panicked");
            }
        }
    }

    /// Fsyncs the active segment.
    pub fn sync(&mut self) -> Result<(), WalError> {
        let start = std::time::Instant::now();
        let res = self.segment.sync_all().map_err(io_err("sync", &segment_name(&self.dir, self.segment_index)));
        self.counters.fsyncs += 1;
        self.counters.fsync_seconds_sum += start.elapsed().as_secs_f64();
        res
    }

    /// Pads and writes the last page, fsyncs, and closes. Further calls
    /// return [`WalError::Closed`].
    pub fn close(&mut self) -> Result<(), WalError> {
        if self.closed {
            return Err(WalError::Closed);
        }
        // An empty page is not written: it would mark the segment's last page
        // as done for a writer that reopened it.
        if self.page.alloc > 0 {
            self.flush_page(true)?;
        }
        self.wait_pending_sync();
        self.closed = true;
        self.sync()
    }

    /// Deletes the segments below `index` (they are in a checkpoint now).
    pub fn truncate(&mut self, index: usize) -> Result<(), WalError> {
        self.counters.truncations += 1;
        let res = truncate_segments(&self.dir, index);
        if res.is_err() {
            self.counters.truncations_failed += 1;
        }
        res
    }

    /// Repairs the WAL after `err` was met reading it (see [`repair`]) and
    /// continues writing in a new segment right after the repaired one, as
    /// Prometheus's `WL.Repair`.
    pub fn repair(&mut self, err: &CorruptionError) -> Result<(), WalError> {
        if self.closed {
            return Err(WalError::Closed);
        }
        self.wait_pending_sync();
        repair(&self.dir, err)?;
        let (segment, done_pages) = create_segment(&self.dir, err.segment + 1)?;
        // The old active segment was after the corruption and is deleted; its
        // handle is dropped here.
        self.segment = segment;
        self.segment_index = err.segment + 1;
        self.done_pages = done_pages;
        self.page.reset();
        Ok(())
    }
}

impl Drop for Wal {
    fn drop(&mut self) {
        // Everything logged is already written; only the background fsync of
        // a previous segment may still run.
        self.wait_pending_sync();
    }
}

/// Creates (or opens for appending) segment `index`; returns it and the
/// number of whole pages it holds.
fn create_segment(dir: &Path, index: usize) -> Result<(File, usize), WalError> {
    let path = segment_name(dir, index);
    let f = OpenOptions::new().create(true).append(true).open(&path).map_err(io_err("create segment", &path))?;
    let len = f.metadata().map_err(io_err("stat", &path))?.len();
    Ok((f, (len / PAGE_SIZE as u64) as usize))
}

fn truncate_segments(dir: &Path, below: usize) -> Result<(), WalError> {
    for i in list_segments(dir)? {
        if i >= below {
            break;
        }
        let path = segment_name(dir, i);
        fs::remove_file(&path).map_err(io_err("remove segment", &path))?;
    }
    Ok(())
}

fn dir_size(dir: &Path) -> Result<u64, WalError> {
    let mut total = 0;
    for entry in fs::read_dir(dir).map_err(io_err("read dir", dir))? {
        let entry = entry.map_err(io_err("read dir", dir))?;
        let meta = entry.metadata().map_err(io_err("stat", &entry.path()))?;
        total += if meta.is_dir() { dir_size(&entry.path())? } else { meta.len() };
    }
    Ok(total)
}

fn sync_dir(dir: &Path) -> Result<(), WalError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io_err("sync dir", dir))
}

/// Repairs the WAL in `dir` after `err` was met reading it, as Prometheus's
/// `Repair`: every segment after the corrupt one is deleted, and the corrupt
/// one is rewritten with only the records that end before the corruption.
/// Records keep their compression, so the rewritten segment is the intact
/// prefix byte for byte, zero-padded to its page. A later [`Wal::open`]
/// starts a new segment after it.
pub fn repair(dir: &Path, err: &CorruptionError) -> Result<(), WalError> {
    tracing::warn!(segment = err.segment, offset = err.offset, "Starting corruption repair");
    tracing::warn!(segment = err.segment, "Deleting all segments newer than corrupted segment");
    for i in list_segments(dir)? {
        if i > err.segment {
            let path = segment_name(dir, i);
            fs::remove_file(&path).map_err(io_err("delete segment", &path))?;
        }
    }

    tracing::warn!(segment = err.segment, "Rewrite corrupted segment");
    let path = segment_name(dir, err.segment);
    let tmp = path.with_extension("repair");
    fs::rename(&path, &tmp).map_err(io_err("rename segment", &path))?;
    let len = fs::metadata(&tmp).map_err(io_err("stat", &tmp))?.len() as usize;
    // A segment big enough for everything the corrupt one held, so that the
    // rewrite never spills into another segment.
    let segment_size = DEFAULT_SEGMENT_SIZE.max(len.div_ceil(PAGE_SIZE) * PAGE_SIZE);
    let mut w = Wal::create_at(dir, WalOptions { segment_size, compress: false }, err.segment)?;

    let mut r = Reader::from_file(dir, err.segment, tmp.clone());
    // Reading stops at the corruption itself (or an earlier one).
    while let Ok(Some(rec)) = r.next_record() {
        let rec = rec.to_vec();
        // Keep only records that end before the corruption was found.
        if r.offset() >= err.offset {
            break;
        }
        w.log_one(&rec, true, r.last_record_compressed())?;
    }
    w.close()?;
    drop(r);
    fs::remove_file(&tmp).map_err(io_err("delete corrupted segment", &tmp))?;
    sync_dir(dir)
}

#[cfg(test)]
mod interop_tests;
#[cfg(test)]
mod tests;
