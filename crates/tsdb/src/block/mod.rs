//! Persistent blocks in Prometheus's on-disk format (`tsdb/docs/format`):
//! a ULID-named folder holding `meta.json`, `chunks/NNNNNN` segment files,
//! an `index` (format v2) and `tombstones`.
//!
//! The format is Prometheus's byte for byte, so that a data folder moves
//! between Prometheus and narthex in both directions and tools such as
//! `promtool`, Thanos or Mimir read our blocks as they are. [`write_block`]
//! writes a block atomically; [`Block::open`] maps one and checks its
//! checksums, and [`BlockQuerier`] reads it through `storage::Querier`.

mod analyze;
mod chunks;
mod index;
mod meta;
mod mmap;
mod querier;
mod tombstones;
mod ulid;
mod writer;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use model::Matcher;

pub use analyze::{BlockAnalysis, Ranked, analyze_block};
pub use chunks::{ChunkReader, SEGMENT_MAX_SIZE};
pub use index::{ChunkMeta, IndexReader};
pub use meta::{BlockCompaction, BlockDesc, BlockMeta, BlockStats};
pub use querier::BlockQuerier;
pub(crate) use querier::BlockSeries;
pub use tombstones::{Tombstones, add_interval};
pub use ulid::Ulid;
pub use writer::{BlockWriter, ChunkPart, SeriesSamples, WriteOptions, cut_chunks, write_block, write_block_with};

use crate::encoding::DecodeError;

/// Names inside a block folder, as Prometheus spells them.
pub const META_FILENAME: &str = "meta.json";
pub const INDEX_FILENAME: &str = "index";
pub const CHUNKS_DIRNAME: &str = "chunks";
pub const TOMBSTONES_FILENAME: &str = "tombstones";
/// Suffix of a block being written; Prometheus removes such folders at start,
/// and so must we: they are never complete.
pub const TMP_CREATION_SUFFIX: &str = ".tmp-for-creation";

/// Why a block could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum BlockError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{}: invalid meta.json: {source}", path.display())]
    Meta { path: PathBuf, source: serde_json::Error },
    #[error("{}: unsupported meta.json version {version}", path.display())]
    MetaVersion { path: PathBuf, version: u32 },
    #[error("{}: invalid magic number {found:#010x}, want {want:#010x}", path.display())]
    Magic { path: PathBuf, found: u32, want: u32 },
    #[error("{}: unsupported format version {version}", path.display())]
    Version { path: PathBuf, version: u8 },
    #[error("{}: checksum mismatch in {what} at offset {offset}", path.display())]
    Checksum { path: PathBuf, what: &'static str, offset: u64 },
    #[error("{}: corrupt {what} at offset {offset}: {detail}", path.display())]
    Corrupt { path: PathBuf, what: &'static str, offset: u64, detail: String },
    /// Writing: the input breaks an invariant of the format.
    #[error("invalid input for a block: {0}")]
    Input(String),
    /// Writing: no series holds a sample; Prometheus writes no block then.
    #[error("no samples to write")]
    Empty,
}

impl BlockError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        BlockError::Io { path: path.to_owned(), source }
    }

    pub(crate) fn decode(path: &Path, what: &'static str, offset: u64, e: DecodeError) -> Self {
        BlockError::Corrupt { path: path.to_owned(), what, offset, detail: e.to_string() }
    }
}

/// An open block: its meta, index and chunks mapped read-only.
#[derive(Debug)]
pub struct Block {
    dir: PathBuf,
    meta: BlockMeta,
    index: IndexReader,
    chunks: ChunkReader,
    /// Replaced whole on deletion; readers keep the version they started
    /// with.
    tombstones: RwLock<Arc<Tombstones>>,
    /// `meta.json`'s count, which deletions change.
    num_tombstones: AtomicU64,
    size: AtomicU64,
}

impl Block {
    /// Opens the block in `dir`, checking magic numbers, versions and the
    /// checksums of every section that is read up front (TOC, symbols,
    /// postings offsets, tombstones); series, postings lists and chunks are
    /// checked as they are read.
    pub fn open(dir: &Path) -> Result<Block, BlockError> {
        let meta = BlockMeta::read(dir)?;
        let index = IndexReader::open(&dir.join(INDEX_FILENAME))?;
        let chunks = ChunkReader::open(&dir.join(CHUNKS_DIRNAME))?;
        let tombstones = Tombstones::read(&dir.join(TOMBSTONES_FILENAME))?;
        let meta_size = file_size(&dir.join(META_FILENAME))?;
        // As Prometheus's `Block.Size`: every file of the block counts.
        let size = index.size() + chunks.size() + tombstones.size() + meta_size;
        let num_tombstones = AtomicU64::new(meta.stats.num_tombstones);
        Ok(Block { dir: dir.to_owned(), meta, index, chunks, tombstones: RwLock::new(Arc::new(tombstones)), num_tombstones, size: AtomicU64::new(size) })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn meta(&self) -> &BlockMeta {
        &self.meta
    }

    pub fn index(&self) -> &IndexReader {
        &self.index
    }

    pub fn chunks(&self) -> &ChunkReader {
        &self.chunks
    }

    /// The deleted intervals as of now.
    pub fn tombstones(&self) -> Arc<Tombstones> {
        self.tombstones.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Deleted intervals, as `meta.json` counts them now.
    pub fn num_tombstones(&self) -> u64 {
        self.num_tombstones.load(Ordering::Relaxed)
    }

    /// Bytes on disk, as `promtool tsdb list` shows them.
    pub fn size(&self) -> u64 {
        self.size.load(Ordering::Relaxed)
    }

    /// Marks `[mint, maxt]` of every series matching `matchers` deleted,
    /// clamped to the series' own samples, and rewrites `tombstones` and
    /// `meta.json`, each atomically. Returns whether anything was added.
    pub fn delete(self: &Arc<Self>, mint: i64, maxt: i64, matchers: &[Matcher]) -> Result<bool, BlockError> {
        let q = BlockQuerier::new(self.clone(), mint, maxt);
        let mut stones = (*self.tombstones()).clone();
        let before = stones.clone();
        for id in q.postings_for_matchers(matchers)? {
            let (_, chunks) = self.index.series(id)?;
            let (Some(first), Some(last)) = (chunks.first(), chunks.last()) else { continue };
            if chunks.iter().any(|c| c.max_time >= mint && c.min_time <= maxt) {
                stones.add(u64::from(id), mint.max(first.min_time), maxt.min(last.max_time));
            }
        }
        if stones == before {
            return Ok(false);
        }
        let old_size = before.size();
        let new_size = stones.write(&self.dir.join(TOMBSTONES_FILENAME))?;
        stones.set_size(new_size);
        let mut meta = self.meta.clone();
        meta.stats.num_tombstones = stones.len() as u64;
        let meta_path = self.dir.join(META_FILENAME);
        let mut tmp = meta_path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        writer::write_file(&tmp, &meta.to_json())?;
        std::fs::rename(&tmp, &meta_path).map_err(|e| BlockError::io(&meta_path, e))?;
        self.num_tombstones.store(meta.stats.num_tombstones, Ordering::Relaxed);
        // Deletions run one at a time (the database's lock), so a plain
        // store cannot lose another's update.
        self.size.store((self.size() + new_size).saturating_sub(old_size), Ordering::Relaxed);
        *self.tombstones.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(stones);
        Ok(true)
    }
}

pub(crate) fn file_size(path: &Path) -> Result<u64, BlockError> {
    std::fs::metadata(path).map(|m| m.len()).map_err(|e| BlockError::io(path, e))
}

/// Folders in `dir` that look like complete blocks (a ULID name and a
/// `meta.json`), in name order; temporary and unrelated folders are skipped.
pub fn block_dirs(dir: &Path) -> Result<Vec<PathBuf>, BlockError> {
    let rd = std::fs::read_dir(dir).map_err(|e| BlockError::io(dir, e))?;
    let mut out = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|e| BlockError::io(dir, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if Ulid::parse(name).is_none() {
            continue;
        }
        let path = entry.path();
        if path.join(META_FILENAME).is_file() {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}
