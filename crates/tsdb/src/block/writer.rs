//! Writing a block from series held in memory: samples are cut into XOR
//! chunks as the head cuts them, then chunks, index, tombstones and
//! meta.json go into `<ulid>.tmp-for-creation`, which is fsynced and renamed
//! to `<ulid>` only once complete, so that a crash never leaves a block a
//! reader would open.

use std::fs::File;
use std::io::Write;
use std::path::Path;

use model::Labels;

use super::chunks::ChunkWriter;
use super::index::{ChunkMeta, encode_index};
use super::meta::{BlockCompaction, BlockMeta, BlockStats, META_VERSION};
use super::{BlockError, CHUNKS_DIRNAME, INDEX_FILENAME, META_FILENAME, SEGMENT_MAX_SIZE, TMP_CREATION_SUFFIX, TOMBSTONES_FILENAME, Tombstones, Ulid};
use crate::chunkenc::{Encoding, XorChunk};
use crate::head::{SAMPLES_PER_CHUNK, range_end};

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

/// Cuts samples into XOR chunks as the head does: a new chunk every
/// [`SAMPLES_PER_CHUNK`] samples and whenever a sample crosses the end of
/// the chunk range the open chunk started in.
pub fn cut_chunks(samples: &[(i64, f64)], chunk_range: i64) -> Vec<XorChunk> {
    let mut out: Vec<XorChunk> = Vec::new();
    let mut open: Option<XorChunk> = None;
    for &(t, v) in samples {
        let cut = match &open {
            None => true,
            Some(c) => c.num_samples() >= SAMPLES_PER_CHUNK || c.min_time().is_some_and(|min| t >= range_end(min, chunk_range)),
        };
        if cut {
            out.extend(open.take());
            open = Some(XorChunk::new());
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

    let ulid = opts.ulid.unwrap_or_default();
    let name = ulid.to_string();
    let tmp = parent.join(format!("{name}{TMP_CREATION_SUFFIX}"));
    let dst = parent.join(&name);
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| BlockError::io(&tmp, e))?;
    }
    std::fs::create_dir_all(&tmp).map_err(|e| BlockError::io(&tmp, e))?;
    let result = write_contents(&tmp, &name, &series, opts);
    let meta = match result {
        Ok(m) => m,
        Err(e) => {
            // Best effort: a leftover temporary folder is removed at the
            // next start anyway, and the write error matters more.
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(e);
        }
    };
    sync_dir(&tmp)?;
    std::fs::rename(&tmp, &dst).map_err(|e| BlockError::io(&dst, e))?;
    sync_dir(parent)?;
    Ok(meta)
}

fn write_contents(tmp: &Path, name: &str, series: &[SeriesSamples], opts: &WriteOptions) -> Result<BlockMeta, BlockError> {
    let chunks_dir = tmp.join(CHUNKS_DIRNAME);
    let mut cw = ChunkWriter::new(&chunks_dir, opts.segment_size)?;
    let mut stats = BlockStats::default();
    let mut min_time = i64::MAX;
    let mut max_time = i64::MIN;
    let mut index_series = Vec::with_capacity(series.len());
    for s in series {
        let chunks = cut_chunks(&s.samples, opts.chunk_range);
        let data: Vec<(Encoding, &[u8])> = chunks.iter().map(|c| (Encoding::Xor, c.bytes())).collect();
        let refs = cw.write_series(&data)?;
        let mut metas = Vec::with_capacity(chunks.len());
        for (c, r) in chunks.iter().zip(refs) {
            let (Some(lo), Some(hi)) = (c.min_time(), c.max_time()) else { continue };
            metas.push(ChunkMeta { min_time: lo, max_time: hi, r });
            min_time = min_time.min(lo);
            max_time = max_time.max(hi);
            stats.num_samples += u64::from(c.num_samples());
            stats.num_chunks += 1;
        }
        stats.num_series += 1;
        index_series.push((s.labels.clone(), metas));
    }
    cw.finish()?;
    sync_dir(&chunks_dir)?;

    write_file(&tmp.join(INDEX_FILENAME), &encode_index(&index_series)?)?;
    write_file(&tmp.join(TOMBSTONES_FILENAME), &Tombstones::default().encode())?;
    let meta = BlockMeta {
        ulid: name.to_owned(),
        min_time,
        // Block ranges are half-open: the last sample is inside.
        max_time: max_time.saturating_add(1),
        stats,
        compaction: BlockCompaction { level: 1, sources: vec![name.to_owned()], ..Default::default() },
        version: META_VERSION,
    };
    write_file(&tmp.join(META_FILENAME), &meta.to_json())?;
    Ok(meta)
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), BlockError> {
    let mut f = File::create(path).map_err(|e| BlockError::io(path, e))?;
    f.write_all(bytes).map_err(|e| BlockError::io(path, e))?;
    f.sync_all().map_err(|e| BlockError::io(path, e))
}

fn sync_dir(dir: &Path) -> Result<(), BlockError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| BlockError::io(dir, e))
}
