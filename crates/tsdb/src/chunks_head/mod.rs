//! Memory-mapped head chunks (`<data>/chunks_head/`), byte for byte as
//! Prometheus's `tsdb/chunks/head_chunks.go`, so that either server reads
//! the other's files.
//!
//! The head writes each chunk it has finished to these files and keeps only
//! a [`ChunkDiskRef`] to it; queries read the chunk back through a read-only
//! memory mapping. On start-up [`ChunkDiskMapper::iterate_all_chunks`] tells
//! the head which full chunks every series already has, so that only the WAL
//! samples after them need replaying.
//!
//! Layout (`tsdb/docs/format/head_chunks.md`): files named `%06d` from
//! `000001`, each at most [`DEFAULT_MAX_FILE_SIZE`]; an 8-byte header (magic
//! `0x0130BC91` big-endian, version 1, three zero bytes); then records of
//! series ref, mint and maxt (8 bytes big-endian each), the encoding byte,
//! the data length as a uvarint, the data, and a big-endian CRC32-Castagnoli
//! over everything before it. A chunk's reference is the file's index in
//! the upper 32 bits and the record's offset in the lower 32.
//!
//! Unlike Prometheus, chunks are not buffered in user space: each is one
//! `write` straight to the file, so it is readable through the mapping the
//! moment `write_chunk` returns and no side buffer has to be consulted.
//!
//! This module owns the files of that directory and nothing else: which
//! series a chunk belongs to, and when chunks may go, is the head's business.

mod format;
mod mmap;

#[cfg(test)]
mod interop_tests;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::ops::{Deref, Range};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

pub use format::{FILE_HEADER_SIZE, MAGIC, MAX_CHUNK_META_SIZE, MIN_CHUNK_DATA_LEN, OUT_OF_ORDER_MASK};

use crate::chunkenc::{ChunkError, Encoding};
use format::{Parsed, Record};
use mmap::MappedFile;

/// Prometheus's largest head chunk file (`MaxHeadChunkFileSize`), 128 MiB.
pub const DEFAULT_MAX_FILE_SIZE: usize = 128 * 1024 * 1024;

/// Where a chunk lives: head chunk file index in the upper 32 bits, byte
/// offset of its record in the lower 32 (Prometheus's `ChunkDiskMapperRef`).
pub type ChunkDiskRef = u64;

/// Packs a file index and a record offset into a [`ChunkDiskRef`].
pub fn chunk_disk_ref(file_index: u32, offset: u32) -> ChunkDiskRef {
    (u64::from(file_index) << 32) | u64::from(offset)
}

/// Splits a [`ChunkDiskRef`] into file index and record offset.
pub fn unpack_chunk_disk_ref(r: ChunkDiskRef) -> (u32, u32) {
    ((r >> 32) as u32, r as u32)
}

/// The file name of head chunk file `index` in `dir` (`%06d`).
pub fn chunk_file_name(dir: &Path, index: u32) -> PathBuf {
    dir.join(format!("{index:06}"))
}

/// What went wrong with the head chunk files. Texts follow Prometheus's
/// where it has them.
#[derive(Debug, thiserror::Error)]
pub enum ChunksHeadError {
    #[error("ChunkDiskMapper closed")]
    Closed,
    #[error("{op} {path}: {source}", path = .path.display())]
    Io { op: &'static str, path: PathBuf, source: io::Error },
    #[error("{}: invalid head chunk file header: invalid size", .file.display())]
    InvalidHeader { file: PathBuf },
    #[error("{}: invalid magic number {magic:x}", .file.display())]
    InvalidMagic { file: PathBuf, magic: u32 },
    #[error("{}: invalid chunk format version {version}", .file.display())]
    InvalidVersion { file: PathBuf, version: u8 },
    #[error("found unsequential head chunk files {} (index: {prev_index}) and {} (index: {next_index})", .prev.display(), .next.display())]
    Unsequential { prev: PathBuf, prev_index: u32, next: PathBuf, next_index: u32 },
    /// A file name that is a number too large for a [`ChunkDiskRef`].
    #[error("head chunk file {} has an index above {}", .file.display(), u32::MAX)]
    IndexTooLarge { file: PathBuf },
    /// A file too large for its offsets to fit a [`ChunkDiskRef`].
    #[error("head chunk file {} is {size} bytes, more than a chunk reference can address", .file.display())]
    FileTooLarge { file: PathBuf, size: u64 },
    /// Bad bytes where a chunk record should be: in a file that is not the
    /// last at start-up, or behind a reference.
    #[error("corruption in head chunk file {}: {reason} (at offset {offset})", .file.display())]
    Corruption { file: PathBuf, offset: u64, reason: String },
    /// A reference that points at no file or outside its written part.
    #[error("invalid head chunk reference {file_index}:{offset}: {reason}")]
    InvalidRef { file_index: u32, offset: u32, reason: String },
    #[error("invalid head chunk file size {0}: must be between {min} and {max}", min = MIN_MAX_FILE_SIZE, max = u32::MAX)]
    InvalidMaxFileSize(usize),
    #[error("chunk of {len} bytes does not fit a head chunk file of at most {max_file_size} bytes")]
    ChunkTooLarge { len: usize, max_file_size: usize },
    #[error("chunk of {len} bytes is shorter than the {min} bytes a head chunk must have", min = MIN_CHUNK_DATA_LEN)]
    ChunkTooSmall { len: usize },
    /// Series ref 0 with mint and maxt 0 reads as the end of a file, and
    /// Prometheus numbers series from 1.
    #[error("series ref 0 cannot be written to a head chunk file")]
    ZeroSeriesRef,
    #[error("head chunk file index exceeds {}", u32::MAX)]
    OutOfFileIndices,
}

/// The header plus the smallest record we write.
const MIN_MAX_FILE_SIZE: usize = FILE_HEADER_SIZE + MAX_CHUNK_META_SIZE + MIN_CHUNK_DATA_LEN;

fn io_err(op: &'static str, path: &Path) -> impl FnOnce(io::Error) -> ChunksHeadError + use<> {
    let path = path.to_path_buf();
    move |source| ChunksHeadError::Io { op, path, source }
}

/// What [`ChunkDiskMapper::iterate_all_chunks`] reports of each chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkInfo {
    pub series_ref: u64,
    pub chunk_ref: ChunkDiskRef,
    pub mint: i64,
    pub maxt: i64,
    /// From the chunk's 2-byte header.
    pub num_samples: u16,
    /// The encoding byte as stored, out-of-order bit included.
    pub raw_encoding: u8,
}

impl ChunkInfo {
    /// The chunk encoding, without the out-of-order bit.
    pub fn encoding(&self) -> Result<Encoding, ChunkError> {
        Encoding::from_u8(self.raw_encoding & !OUT_OF_ORDER_MASK)
    }

    /// Whether Prometheus's head wrote this as an out-of-order chunk.
    pub fn is_out_of_order(&self) -> bool {
        self.raw_encoding & OUT_OF_ORDER_MASK != 0
    }
}

/// A chunk read through the mapping: derefs to the chunk's data bytes
/// (sample-count header included, what [`crate::chunkenc::XorIterator::new`]
/// takes). Cloning is a reference count; it keeps the file's mapping alive,
/// even after the file was deleted by [`ChunkDiskMapper::truncate`] or the
/// mapper closed.
#[derive(Debug, Clone)]
pub struct MappedChunk {
    file: Arc<MappedFile>,
    data: Range<usize>,
    series_ref: u64,
    mint: i64,
    maxt: i64,
    raw_encoding: u8,
}

impl MappedChunk {
    pub fn data(&self) -> &[u8] {
        // In range: checked against the published prefix when the handle was
        // made, and that prefix only grows.
        &self.file.published()[self.data.clone()]
    }

    /// The chunk encoding, without the out-of-order bit.
    pub fn encoding(&self) -> Result<Encoding, ChunkError> {
        Encoding::from_u8(self.raw_encoding & !OUT_OF_ORDER_MASK)
    }

    pub fn raw_encoding(&self) -> u8 {
        self.raw_encoding
    }

    pub fn num_samples(&self) -> u16 {
        format::num_samples(self.data())
    }

    pub fn series_ref(&self) -> u64 {
        self.series_ref
    }

    pub fn min_time(&self) -> i64 {
        self.mint
    }

    pub fn max_time(&self) -> i64 {
        self.maxt
    }
}

impl Deref for MappedChunk {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        self.data()
    }
}

impl AsRef<[u8]> for MappedChunk {
    fn as_ref(&self) -> &[u8] {
        self.data()
    }
}

/// The file being appended to.
#[derive(Debug)]
struct Current {
    file: File,
    mapped: Arc<MappedFile>,
    /// Bytes written and published.
    offset: usize,
}

struct Writer {
    /// `None` until the first chunk after start-up or after the current
    /// file was finished: files are cut lazily, as Prometheus does, so that
    /// no empty file is left behind.
    current: Option<Current>,
    next_index: u64,
    buf: Vec<u8>,
    closed: bool,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the scratch buffer: it holds a whole chunk.
        f.debug_struct("Writer").field("current", &self.current).field("next_index", &self.next_index).field("closed", &self.closed).finish()
    }
}

/// Writes chunks to the head chunk files and reads them back through
/// read-only memory mappings (Prometheus's `ChunkDiskMapper`).
///
/// Locking: the write path (writing, cutting, truncating, closing) is
/// serialised by one mutex; readers take a read lock on the file table only
/// long enough to clone one file's `Arc`. Lock order: writer, then table.
#[derive(Debug)]
pub struct ChunkDiskMapper {
    dir: PathBuf,
    max_file_size: usize,
    writer: Mutex<Writer>,
    files: RwLock<BTreeMap<u32, Arc<MappedFile>>>,
    closed: AtomicBool,
}

/// What opening found in one existing file.
struct Scanned {
    valid_end: usize,
    maxt: i64,
    /// Where the first bad record starts and why it is bad.
    bad: Option<(usize, String)>,
}

impl ChunkDiskMapper {
    /// Opens (creating if needed) the head chunk directory `dir`.
    ///
    /// Every existing file is checked: its header, then every record's
    /// bounds and checksum. A torn or damaged tail of the last file (a crash
    /// mid-write) is cut off at the end of its last good record; bad data in
    /// any other file is a [`ChunksHeadError::Corruption`] naming the file
    /// and offset, because a gap there would hide chunks the head relies on.
    /// Writing then continues in a new file after the last one, as in
    /// Prometheus. `max_file_size` is [`DEFAULT_MAX_FILE_SIZE`] outside tests.
    pub fn open(dir: &Path, max_file_size: usize) -> Result<Self, ChunksHeadError> {
        if !(MIN_MAX_FILE_SIZE..=u32::MAX as usize).contains(&max_file_size) {
            return Err(ChunksHeadError::InvalidMaxFileSize(max_file_size));
        }
        fs::create_dir_all(dir).map_err(io_err("create dir", dir))?;
        let mut files = list_chunk_files(dir)?;
        if let Some((_, last)) = files.last() {
            if remove_if_headerless(last)? {
                files.pop();
            }
        }
        for w in files.windows(2) {
            let ((prev_index, prev), (next_index, next)) = (&w[0], &w[1]);
            if *next_index != prev_index + 1 {
                return Err(ChunksHeadError::Unsequential { prev: prev.clone(), prev_index: *prev_index, next: next.clone(), next_index: *next_index });
            }
        }

        let mut table = BTreeMap::new();
        let n = files.len();
        for (i, (index, path)) in files.iter().enumerate() {
            let is_last = i + 1 == n;
            let (mapped, scanned) = open_and_scan(*index, path)?;
            let mapped = match scanned.bad {
                None => mapped,
                Some((offset, reason)) if !is_last => {
                    return Err(ChunksHeadError::Corruption { file: path.clone(), offset: offset as u64, reason });
                }
                Some((offset, reason)) => {
                    tracing::warn!(file = %path.display(), offset, err = %reason, "Truncating torn head chunk file to its last valid chunk");
                    // Unmap before cutting the file: nothing may map bytes
                    // that are about to disappear.
                    drop(mapped);
                    let f = OpenOptions::new().write(true).open(path).map_err(io_err("open for repair", path))?;
                    f.set_len(scanned.valid_end as u64).map_err(io_err("truncate", path))?;
                    f.sync_all().map_err(io_err("sync", path))?;
                    drop(f);
                    let (mapped, rescanned) = open_and_scan(*index, path)?;
                    if let Some((offset, reason)) = rescanned.bad {
                        return Err(ChunksHeadError::Corruption { file: path.clone(), offset: offset as u64, reason });
                    }
                    mapped
                }
            };
            table.insert(*index, Arc::new(mapped));
        }

        let next_index = files.last().map_or(1, |(i, _)| u64::from(*i) + 1);
        Ok(ChunkDiskMapper {
            dir: dir.to_path_buf(),
            max_file_size,
            writer: Mutex::new(Writer { current: None, next_index, buf: Vec::new(), closed: false }),
            files: RwLock::new(table),
            closed: AtomicBool::new(false),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Appends a chunk and returns its reference. The chunk is readable
    /// through [`Self::chunk`] as soon as this returns; it is durable after
    /// the next [`Self::sync`] (or when its file is finished: a new file
    /// being cut, [`Self::truncate`], [`Self::close`]).
    ///
    /// `data` is the encoded chunk, its 2-byte sample count first.
    pub fn write_chunk(&self, series_ref: u64, mint: i64, maxt: i64, encoding: Encoding, data: &[u8]) -> Result<ChunkDiskRef, ChunksHeadError> {
        if series_ref == 0 {
            return Err(ChunksHeadError::ZeroSeriesRef);
        }
        if data.len() < MIN_CHUNK_DATA_LEN {
            return Err(ChunksHeadError::ChunkTooSmall { len: data.len() });
        }
        let len = format::record_len(data.len());
        if FILE_HEADER_SIZE + len > self.max_file_size {
            return Err(ChunksHeadError::ChunkTooLarge { len: data.len(), max_file_size: self.max_file_size });
        }
        let mut w = self.lock_writer();
        if w.closed {
            return Err(ChunksHeadError::Closed);
        }
        let fits = w.current.as_ref().is_some_and(|c| c.offset + len <= self.max_file_size);
        if !fits {
            self.finish_current(&mut w)?;
            self.cut(&mut w)?;
        }
        let Writer { current, buf, .. } = &mut *w;
        let Some(cur) = current.as_mut() else {
            // `cut` either set a current file or returned an error.
            return Err(ChunksHeadError::Closed);
        };
        buf.clear();
        format::encode_record(buf, series_ref, mint, maxt, encoding as u8, data);
        debug_assert_eq!(buf.len(), len);
        if let Err(e) = cur.file.write_all(buf) {
            let path = cur.mapped.path().to_path_buf();
            // Take a partial write back so the next record starts where the
            // published bytes end; failing that, leave this file for a new
            // one, whose start is known.
            let rolled_back = cur.file.set_len(cur.offset as u64).is_ok() && cur.file.seek(SeekFrom::Start(cur.offset as u64)).is_ok();
            if !rolled_back {
                tracing::error!(file = %path.display(), "Could not roll back a failed head chunk write; its file keeps a torn record");
                *current = None;
            }
            return Err(ChunksHeadError::Io { op: "write chunk to", path, source: e });
        }
        let r = chunk_disk_ref(cur.mapped.seq(), cur.offset as u32);
        cur.offset += len;
        cur.mapped.raise_maxt(maxt);
        cur.mapped.publish(cur.offset);
        Ok(r)
    }

    /// The chunk at `r`, checksum verified. Any reference, even one this
    /// mapper never handed out, gives a chunk or an error, never a panic.
    pub fn chunk(&self, r: ChunkDiskRef) -> Result<MappedChunk, ChunksHeadError> {
        let (file_index, offset) = unpack_chunk_disk_ref(r);
        let file = {
            let files = self.read_files();
            if self.closed.load(Ordering::Acquire) {
                return Err(ChunksHeadError::Closed);
            }
            match files.get(&file_index) {
                Some(f) => Arc::clone(f),
                None => {
                    return Err(ChunksHeadError::InvalidRef {
                        file_index,
                        offset,
                        reason: format!("head chunk file index {file_index} does not exist on disk"),
                    });
                }
            }
        };
        let bytes = file.published();
        let off = offset as usize;
        if off < FILE_HEADER_SIZE || off >= bytes.len() {
            return Err(ChunksHeadError::InvalidRef {
                file_index,
                offset,
                reason: format!("offset outside the chunks of {} ({} bytes written)", file.path().display(), bytes.len()),
            });
        }
        match format::parse_at(bytes, off) {
            Parsed::Record(rec) => {
                Ok(MappedChunk { data: rec.data, series_ref: rec.series_ref, mint: rec.mint, maxt: rec.maxt, raw_encoding: rec.encoding, file })
            }
            Parsed::End => Err(ChunksHeadError::InvalidRef { file_index, offset, reason: "no chunk at this offset".to_owned() }),
            Parsed::Invalid(reason) => Err(ChunksHeadError::Corruption { file: file.path().to_path_buf(), offset: u64::from(offset), reason }),
        }
    }

    /// Calls `f` for every chunk, in file and then offset order, which for
    /// each series is the order the head wrote them. Stops at the first
    /// error `f` returns. Chunks written while this runs may or may not be
    /// seen; `f` may itself read chunks.
    pub fn iterate_all_chunks<E>(&self, mut f: impl FnMut(ChunkInfo) -> Result<(), E>) -> Result<(), E>
    where
        E: From<ChunksHeadError>,
    {
        let files: Vec<Arc<MappedFile>> = {
            let files = self.read_files();
            if self.closed.load(Ordering::Acquire) {
                return Err(ChunksHeadError::Closed.into());
            }
            files.values().cloned().collect()
        };
        for file in files {
            let bytes = file.published();
            let mut off = FILE_HEADER_SIZE;
            loop {
                match format::parse_at(bytes, off) {
                    Parsed::Record(rec) => {
                        let data = &bytes[rec.data.clone()];
                        f(ChunkInfo {
                            series_ref: rec.series_ref,
                            chunk_ref: chunk_disk_ref(file.seq(), off as u32),
                            mint: rec.mint,
                            maxt: rec.maxt,
                            num_samples: format::num_samples(data),
                            raw_encoding: rec.encoding,
                        })?;
                        off = rec.end;
                    }
                    Parsed::End => break,
                    Parsed::Invalid(reason) => {
                        return Err(ChunksHeadError::Corruption { file: file.path().to_path_buf(), offset: off as u64, reason }.into());
                    }
                }
            }
        }
        Ok(())
    }

    /// Deletes the oldest files whose chunks all end before `mint`, stopping
    /// at the first file that has a newer chunk so that the remaining files
    /// stay sequential (Prometheus refuses gaps). The file being written is
    /// first finished if it holds any chunk, as Prometheus cuts a new file
    /// on every truncation: so it can go now if it is entirely old, and
    /// otherwise at a later truncation rather than when it fills up.
    ///
    /// Handles from [`Self::chunk`] into deleted files stay readable;
    /// references into them no longer resolve.
    pub fn truncate(&self, mint: i64) -> Result<(), ChunksHeadError> {
        let mut w = self.lock_writer();
        if w.closed {
            return Err(ChunksHeadError::Closed);
        }
        if w.current.as_ref().is_some_and(|c| c.offset > FILE_HEADER_SIZE) {
            self.finish_current(&mut w)?;
        }
        let current = w.current.as_ref().map(|c| c.mapped.seq());
        let removed: Vec<Arc<MappedFile>> = {
            let mut files = self.write_files();
            let doomed: Vec<u32> = files.iter().take_while(|(i, f)| Some(**i) != current && f.maxt() < mint).map(|(i, _)| *i).collect();
            doomed.iter().filter_map(|i| files.remove(i)).collect()
        };
        // Oldest first, and under the writer lock so that two truncations
        // cannot interleave: a crash or failure midway leaves a sequential
        // set behind, which start-up requires.
        for f in &removed {
            fs::remove_file(f.path()).map_err(io_err("remove", f.path()))?;
        }
        Ok(())
    }

    /// Makes every chunk written so far durable (fsyncs the current file;
    /// finished files were synced when they were finished).
    pub fn sync(&self) -> Result<(), ChunksHeadError> {
        let w = self.lock_writer();
        if w.closed {
            return Err(ChunksHeadError::Closed);
        }
        if let Some(cur) = &w.current {
            cur.file.sync_all().map_err(io_err("sync", cur.mapped.path()))?;
        }
        Ok(())
    }

    /// Syncs and closes the current file. Afterwards every call fails with
    /// [`ChunksHeadError::Closed`]; handles already returned stay readable.
    pub fn close(&self) -> Result<(), ChunksHeadError> {
        let mut w = self.lock_writer();
        if w.closed {
            return Ok(());
        }
        w.closed = true;
        self.closed.store(true, Ordering::Release);
        let res = self.finish_current(&mut w);
        self.write_files().clear();
        res
    }

    /// Syncs and closes the current file, if any; it stays mapped for reads.
    fn finish_current(&self, w: &mut Writer) -> Result<(), ChunksHeadError> {
        if let Some(cur) = w.current.take() {
            cur.file.sync_all().map_err(io_err("sync", cur.mapped.path()))?;
        }
        Ok(())
    }

    /// Starts the next file: written under a temporary name, header synced,
    /// then renamed, so a crash never leaves a numbered file without a
    /// header (Prometheus's `cutSegmentFile`, without its preallocation).
    fn cut(&self, w: &mut Writer) -> Result<(), ChunksHeadError> {
        let index = u32::try_from(w.next_index).map_err(|_| ChunksHeadError::OutOfFileIndices)?;
        let path = chunk_file_name(&self.dir, index);
        let tmp = path.with_extension("tmp");
        let mut file = OpenOptions::new().read(true).write(true).create(true).truncate(true).open(&tmp).map_err(io_err("create", &tmp))?;
        file.write_all(&format::file_header()).map_err(io_err("write header to", &tmp))?;
        file.sync_all().map_err(io_err("sync", &tmp))?;
        fs::rename(&tmp, &path).map_err(io_err("rename", &tmp))?;
        sync_dir(&self.dir)?;
        w.next_index += 1;
        let mapped = MappedFile::map(index, &path, &file, self.max_file_size, FILE_HEADER_SIZE, i64::MIN).map_err(io_err("mmap", &path))?;
        let mapped = Arc::new(mapped);
        self.write_files().insert(index, Arc::clone(&mapped));
        w.current = Some(Current { file, mapped, offset: FILE_HEADER_SIZE });
        Ok(())
    }

    // A panic elsewhere while holding a lock leaves the guarded state
    // consistent (every mutation is a single insert/remove/assignment), so
    // poisoning is ignored rather than spread.
    fn lock_writer(&self) -> MutexGuard<'_, Writer> {
        self.writer.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn read_files(&self) -> RwLockReadGuard<'_, BTreeMap<u32, Arc<MappedFile>>> {
        self.files.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write_files(&self) -> RwLockWriteGuard<'_, BTreeMap<u32, Arc<MappedFile>>> {
        self.files.write().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The numbered files of `dir`, by index. Other names (temporary files,
/// anything else) are ignored, as Prometheus does.
fn list_chunk_files(dir: &Path) -> Result<Vec<(u32, PathBuf)>, ChunksHeadError> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_err("read dir", dir))? {
        let entry = entry.map_err(io_err("read dir", dir))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let path = entry.path();
        let index = name.parse::<u64>().ok().and_then(|i| u32::try_from(i).ok()).ok_or_else(|| ChunksHeadError::IndexTooLarge { file: path.clone() })?;
        out.push((index, path));
    }
    out.sort_unstable_by_key(|(i, _)| *i);
    Ok(out)
}

/// Deletes the last file if it cannot even hold a header or its magic is
/// zero: a crash right after it was created (Prometheus's
/// `repairLastChunkFile`; it keeps a file of 4 to 7 bytes with a valid magic
/// and then fails on it, we drop that too since it holds no chunk).
fn remove_if_headerless(path: &Path) -> Result<bool, ChunksHeadError> {
    let mut bytes = Vec::with_capacity(FILE_HEADER_SIZE);
    let f = File::open(path).map_err(io_err("open", path))?;
    io::Read::read_to_end(&mut io::Read::take(f, FILE_HEADER_SIZE as u64), &mut bytes).map_err(io_err("read", path))?;
    if bytes.len() < FILE_HEADER_SIZE || bytes[..4] == [0, 0, 0, 0] {
        tracing::warn!(file = %path.display(), "Deleting empty head chunk file left by a crash");
        fs::remove_file(path).map_err(io_err("remove", path))?;
        return Ok(true);
    }
    Ok(false)
}

/// Maps an existing file at its size, checks its header and walks its
/// records.
fn open_and_scan(index: u32, path: &Path) -> Result<(MappedFile, Scanned), ChunksHeadError> {
    let file = File::open(path).map_err(io_err("open", path))?;
    let size = file.metadata().map_err(io_err("stat", path))?.len();
    if size < FILE_HEADER_SIZE as u64 {
        return Err(ChunksHeadError::InvalidHeader { file: path.to_path_buf() });
    }
    // Offsets must fit the lower half of a reference.
    if size > u64::from(u32::MAX) {
        return Err(ChunksHeadError::FileTooLarge { file: path.to_path_buf(), size });
    }
    let size = size as usize;
    let mapped = MappedFile::map(index, path, &file, size, size, i64::MIN).map_err(io_err("mmap", path))?;
    let bytes = mapped.published();
    let magic = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    if magic != MAGIC {
        return Err(ChunksHeadError::InvalidMagic { file: path.to_path_buf(), magic });
    }
    if bytes[4] != format::FORMAT_V1 {
        return Err(ChunksHeadError::InvalidVersion { file: path.to_path_buf(), version: bytes[4] });
    }
    let scanned = scan(bytes);
    // Only the good prefix is ever read.
    mapped.publish(scanned.valid_end);
    mapped.raise_maxt(scanned.maxt);
    Ok((mapped, scanned))
}

fn scan(bytes: &[u8]) -> Scanned {
    let mut off = FILE_HEADER_SIZE;
    let mut maxt = i64::MIN;
    loop {
        match format::parse_at(bytes, off) {
            Parsed::Record(Record { maxt: t, end, .. }) => {
                maxt = maxt.max(t);
                off = end;
            }
            Parsed::End => {
                // Zeros to the end are preallocation; zeros followed by
                // anything else are damage (Prometheus stops at the zeros
                // alone; checking the rest costs one pass over the tail).
                let bad = bytes[off.min(bytes.len())..].iter().any(|&b| b != 0).then(|| (off, "non-zero bytes after the end-of-data marker".to_owned()));
                return Scanned { valid_end: off.min(bytes.len()), maxt, bad };
            }
            Parsed::Invalid(reason) => return Scanned { valid_end: off, maxt, bad: Some((off, reason)) },
        }
    }
}

fn sync_dir(dir: &Path) -> Result<(), ChunksHeadError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io_err("sync dir", dir))
}
