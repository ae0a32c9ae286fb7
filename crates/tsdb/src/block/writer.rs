//! Writing a block from series held in memory: samples are cut into XOR
//! chunks as the head cuts them, then chunks, index, tombstones and
//! meta.json go into `<ulid>.tmp-for-creation`, which is fsynced and renamed
//! to `<ulid>` only once complete, so that a crash never leaves a block a
//! reader would open.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use model::Labels;

use super::chunks::ChunkWriter;
use super::index::{ChunkMeta, encode_index};
use super::meta::{BlockCompaction, BlockMeta, BlockStats, META_VERSION};
use super::{BlockError, CHUNKS_DIRNAME, INDEX_FILENAME, META_FILENAME, SEGMENT_MAX_SIZE, TMP_CREATION_SUFFIX, TOMBSTONES_FILENAME, Tombstones, Ulid};
use crate::chunkenc::{Encoding, XorChunk};
use crate::head::ChunkCutter;

/// One series to write: its labels and float samples in time order.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesSamples {
    pub labels: Labels,
    pub samples: Vec<(i64, f64)>,
}

#[derive(Debug, Clone)]
pub struct WriteOptions {
    /// Chunks never span a multiple of this (the head's chunk range, which
    /// is the block range, 2 h by default).
    pub chunk_range: i64,
    pub segment_size: u64,
    /// The block's name; a new ULID when unset.
    pub ulid: Option<Ulid>,
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions { chunk_range: 2 * 3600 * 1000, segment_size: SEGMENT_MAX_SIZE, ulid: None }
    }
}

/// Cuts samples into XOR chunks where the head (and Prometheus's) cuts
/// them: see [`ChunkCutter`].
pub fn cut_chunks(samples: &[(i64, f64)], chunk_range: i64) -> Vec<XorChunk> {
    let mut out: Vec<XorChunk> = Vec::new();
    let mut open: Option<XorChunk> = None;
    let mut cutter = ChunkCutter::new(0, chunk_range);
    for &(t, v) in samples {
        let cut = match &open {
            None => true,
            Some(c) => cutter.cut_before(c, t),
        };
        if cut {
            out.extend(open.take());
            open = Some(XorChunk::new());
            cutter = ChunkCutter::new(t, chunk_range);
        }
        if let Some(c) = open.as_mut() {
            c.append(t, v);
        }
    }
    out.extend(open);
    out
}

/// Writes `series` as a new level-1 block in `parent` with default options.
pub fn write_block(parent: &Path, series: Vec<SeriesSamples>) -> Result<BlockMeta, BlockError> {
    write_block_with(parent, series, &WriteOptions::default())
}

/// Writes `series` (in any order; samples of each in strictly increasing
/// time) as a new level-1 block in `parent` and returns its meta. Series
/// without samples are left out; if none has any, nothing is written.
pub fn write_block_with(parent: &Path, mut series: Vec<SeriesSamples>, opts: &WriteOptions) -> Result<BlockMeta, BlockError> {
    series.retain(|s| !s.samples.is_empty());
    if series.is_empty() {
        return Err(BlockError::Empty);
    }
    series.sort_by(|a, b| a.labels.cmp(&b.labels));
    for s in &series {
        if let Some(w) = s.samples.windows(2).find(|w| w[0].0 >= w[1].0) {
            return Err(BlockError::Input(format!("samples of {} not in increasing time order at {}", s.labels, w[1].0)));
        }
    }
    let mut w = BlockWriter::create(parent, opts.ulid.unwrap_or_default(), opts.segment_size)?;
    for s in &series {
        let chunks = cut_chunks(&s.samples, opts.chunk_range);
        let parts: Vec<ChunkPart<'_>> = chunks.iter().filter_map(ChunkPart::of_xor).collect();
        w.add_series(s.labels.clone(), &parts)?;
    }
    w.finish(None, None)
}

/// One chunk handed to [`BlockWriter::add_series`]: its time range (both
/// ends inclusive) and its XOR bytes, which go into the block as they are.
#[derive(Debug, Clone, Copy)]
pub struct ChunkPart<'a> {
    pub min_time: i64,
    pub max_time: i64,
    pub bytes: &'a [u8],
}

impl<'a> ChunkPart<'a> {
    pub fn of_xor(c: &'a XorChunk) -> Option<ChunkPart<'a>> {
        Some(ChunkPart { min_time: c.min_time()?, max_time: c.max_time()?, bytes: c.bytes() })
    }

    /// Samples in the chunk: an XOR chunk starts with their count.
    fn num_samples(&self) -> u64 {
        match self.bytes {
            [a, b, ..] => u64::from(u16::from_be_bytes([*a, *b])),
            _ => 0,
        }
    }
}

/// A block being written, series by series in label order, chunks streamed
/// to disk as they come; only the index (labels and chunk references) is
/// held until [`BlockWriter::finish`]. Dropped unfinished, it removes its
/// temporary folder.
#[derive(Debug)]
pub struct BlockWriter {
    parent: PathBuf,
    tmp: PathBuf,
    name: String,
    cw: Option<ChunkWriter>,
    index_series: Vec<(Labels, Vec<ChunkMeta>)>,
    stats: BlockStats,
    min_time: i64,
    max_time: i64,
    done: bool,
}

impl BlockWriter {
    /// Starts `<parent>/<ulid>.tmp-for-creation`.
    pub fn create(parent: &Path, ulid: Ulid, segment_size: u64) -> Result<BlockWriter, BlockError> {
        let name = ulid.to_string();
        let tmp = parent.join(format!("{name}{TMP_CREATION_SUFFIX}"));
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).map_err(|e| BlockError::io(&tmp, e))?;
        }
        std::fs::create_dir_all(&tmp).map_err(|e| BlockError::io(&tmp, e))?;
        let mut w = BlockWriter {
            parent: parent.to_owned(),
            tmp,
            name,
            cw: None,
            index_series: Vec::new(),
            stats: BlockStats::default(),
            min_time: i64::MAX,
            max_time: i64::MIN,
            done: false,
        };
        w.cw = Some(ChunkWriter::new(&w.tmp.join(CHUNKS_DIRNAME), segment_size)?);
        Ok(w)
    }

    /// Adds a series after every series added so far (labels strictly
    /// increasing), with its chunks in time order, not overlapping. A series
    /// without chunks is left out.
    pub fn add_series(&mut self, labels: Labels, chunks: &[ChunkPart<'_>]) -> Result<(), BlockError> {
        if chunks.is_empty() {
            return Ok(());
        }
        if let Some((last, _)) = self.index_series.last() {
            if *last >= labels {
                return Err(BlockError::Input(format!("series not sorted or duplicated: {last} before {labels}")));
            }
        }
        let Some(cw) = self.cw.as_mut() else { return Err(BlockError::Input("block writer already finished".into())) };
        let data: Vec<(Encoding, &[u8])> = chunks.iter().map(|c| (Encoding::Xor, c.bytes)).collect();
        let refs = cw.write_series(&data)?;
        let mut metas = Vec::with_capacity(chunks.len());
        for (c, r) in chunks.iter().zip(refs) {
            metas.push(ChunkMeta { min_time: c.min_time, max_time: c.max_time, r });
            self.min_time = self.min_time.min(c.min_time);
            self.max_time = self.max_time.max(c.max_time);
            self.stats.num_samples += c.num_samples();
            self.stats.num_chunks += 1;
        }
        self.stats.num_series += 1;
        self.index_series.push((labels, metas));
        Ok(())
    }

    /// Series added so far.
    pub fn num_series(&self) -> u64 {
        self.stats.num_series
    }

    /// Writes index, tombstones and meta.json, then renames the folder into
    /// place. `range` overrides the block's `[minTime, maxTime)` (a head
    /// block covers its whole range, not just its samples); `compaction`
    /// defaults to level 1 with the block as its own source. Nothing is
    /// written without samples.
    pub fn finish(mut self, range: Option<(i64, i64)>, compaction: Option<BlockCompaction>) -> Result<BlockMeta, BlockError> {
        if self.stats.num_samples == 0 {
            return Err(BlockError::Empty);
        }
        let meta = self.write_rest(range, compaction)?;
        let dst = self.parent.join(&self.name);
        std::fs::rename(&self.tmp, &dst).map_err(|e| BlockError::io(&dst, e))?;
        self.done = true;
        sync_dir(&self.parent)?;
        Ok(meta)
    }

    fn write_rest(&mut self, range: Option<(i64, i64)>, compaction: Option<BlockCompaction>) -> Result<BlockMeta, BlockError> {
        if let Some(cw) = self.cw.take() {
            cw.finish()?;
        }
        sync_dir(&self.tmp.join(CHUNKS_DIRNAME))?;
        write_file(&self.tmp.join(INDEX_FILENAME), &encode_index(&self.index_series)?)?;
        write_file(&self.tmp.join(TOMBSTONES_FILENAME), &Tombstones::default().encode())?;
        // Block ranges are half-open: the last sample is inside.
        let (min_time, max_time) = range.unwrap_or((self.min_time, self.max_time.saturating_add(1)));
        let meta = BlockMeta {
            ulid: self.name.clone(),
            min_time,
            max_time,
            stats: self.stats.clone(),
            compaction: compaction.unwrap_or_else(|| BlockCompaction { level: 1, sources: vec![self.name.clone()], ..Default::default() }),
            version: META_VERSION,
        };
        write_file(&self.tmp.join(META_FILENAME), &meta.to_json())?;
        sync_dir(&self.tmp)?;
        Ok(meta)
    }
}

impl Drop for BlockWriter {
    fn drop(&mut self) {
        if !self.done {
            // Best effort: a leftover temporary folder is removed at the
            // next start anyway.
            let _ = std::fs::remove_dir_all(&self.tmp);
        }
    }
}

pub(crate) fn write_file(path: &Path, bytes: &[u8]) -> Result<(), BlockError> {
    let mut f = File::create(path).map_err(|e| BlockError::io(path, e))?;
    f.write_all(bytes).map_err(|e| BlockError::io(path, e))?;
    f.sync_all().map_err(|e| BlockError::io(path, e))
}

pub(crate) fn sync_dir(dir: &Path) -> Result<(), BlockError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| BlockError::io(dir, e))
}
