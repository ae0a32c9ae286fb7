//! Compaction: the head's oldest range written as a level-1 block, and
//! blocks merged into longer ones.
//!
//! Chunks go into the new block as they are whenever they can: the head's
//! chunks never cross a range boundary, and blocks that do not overlap
//! hold chunks that do not either. Only overlapping data (a backfill over
//! existing blocks) and deleted ranges are decoded and encoded again.

use std::path::Path;
use std::sync::Arc;

use model::Labels;

use crate::block::{Block, BlockCompaction, BlockDesc, BlockError, BlockMeta, BlockWriter, ChunkPart, SEGMENT_MAX_SIZE, Tombstones, Ulid, cut_chunks};
use crate::chunkenc::{Encoding, XorIterator};
use crate::head::Head;
use storage::{SampleIterator, ValueType};

/// Block ranges from `min` growing threefold, up to `max`, as Prometheus
/// derives them from its block duration flags.
pub fn exponential_block_ranges(min: i64, max: i64) -> Vec<i64> {
    let mut out = Vec::new();
    let mut r = min.max(1);
    for _ in 0..10 {
        if r > max {
            break;
        }
        out.push(r);
        r = r.saturating_mul(3);
    }
    if out.is_empty() {
        out.push(min.max(1));
    }
    out
}

/// Chooses blocks to merge next, as indices into `metas`, or none.
///
/// Overlapping blocks come first. Otherwise the newest block is left alone
/// (it was just cut from the head, and leaving it lets users back up new
/// blocks one by one), and blocks are grouped by aligned windows of each
/// larger range: a group of two or more is chosen once it fills its window
/// or lies wholly before the newest block. Last, a long block with more
/// than 5 % of its series carrying tombstones is rewritten alone.
pub fn plan(metas: &[BlockMeta], ranges: &[i64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..metas.len()).collect();
    order.sort_by_key(|&i| metas[i].min_time);
    let overlapping = overlapping_run(metas, &order);
    if !overlapping.is_empty() {
        return overlapping;
    }
    let Some((_, older)) = order.split_last() else { return Vec::new() };
    if let Some(group) = select_by_range(metas, older, ranges) {
        return group;
    }
    if let Some(&mid) = ranges.get(ranges.len() / 2) {
        for &i in older.iter().rev() {
            let m = &metas[i];
            if m.max_time - m.min_time < mid {
                break;
            }
            if m.stats.num_tombstones as f64 / (m.stats.num_series + 1) as f64 > 0.05 {
                return vec![i];
            }
        }
    }
    Vec::new()
}

/// The first run of blocks (in `order`, by minimum time) whose ranges
/// overlap one another.
fn overlapping_run(metas: &[BlockMeta], order: &[usize]) -> Vec<usize> {
    let mut out = Vec::new();
    let Some(&first) = order.first() else { return out };
    let mut reach = metas[first].max_time;
    for w in order.windows(2) {
        let (prev, cur) = (w[0], w[1]);
        if metas[cur].min_time < reach {
            if out.is_empty() {
                out.push(prev);
            }
            out.push(cur);
        } else if !out.is_empty() {
            break;
        }
        reach = reach.max(metas[cur].max_time);
    }
    out
}

fn select_by_range(metas: &[BlockMeta], blocks: &[usize], ranges: &[i64]) -> Option<Vec<usize>> {
    let newest_min = blocks.last().map(|&i| metas[i].min_time)?;
    for &r in ranges.iter().skip(1) {
        for group in split_by_range(metas, blocks, r) {
            if group.iter().any(|&i| metas[i].compaction.failed) {
                continue;
            }
            let (Some(&a), Some(&b)) = (group.first(), group.last()) else { continue };
            let (mint, maxt) = (metas[a].min_time, metas[b].max_time);
            if group.len() > 1 && (maxt - mint == r || maxt <= newest_min) {
                return Some(group);
            }
        }
    }
    None
}

/// Groups consecutive blocks lying wholly inside one aligned window of
/// `r`; a block wider than its window is in no group.
fn split_by_range(metas: &[BlockMeta], blocks: &[usize], r: i64) -> Vec<Vec<usize>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < blocks.len() {
        let m = &metas[blocks[i]];
        let t0 = m.min_time.div_euclid(r) * r;
        if m.max_time > t0 + r {
            i += 1;
            continue;
        }
        let mut group = Vec::new();
        while i < blocks.len() && metas[blocks[i]].max_time <= t0 + r {
            group.push(blocks[i]);
            i += 1;
        }
        out.push(group);
    }
    out
}

/// Writes the head's samples in `[mint, maxt)` as a level-1 block with
/// that range; `None` when the range holds no sample.
pub(crate) fn write_head_block(dir: &Path, head: &Head, mint: i64, maxt: i64) -> Result<Option<BlockMeta>, BlockError> {
    let mut w = BlockWriter::create(dir, Ulid::new(), SEGMENT_MAX_SIZE)?;
    let disk = head.disk();
    for s in head.series_sorted() {
        let chunks = s.lock().chunks(mint, maxt - 1, disk);
        if chunks.is_empty() {
            continue;
        }
        let deleted = head.deleted(s.r);
        if deleted.is_empty() && chunks.iter().all(|c| c.min_time >= mint && c.max_time < maxt) {
            let parts: Vec<ChunkPart<'_>> = chunks.iter().map(|c| ChunkPart { min_time: c.min_time, max_time: c.max_time, bytes: &c.bytes[..] }).collect();
            w.add_series(s.labels.clone(), &parts)?;
        } else {
            // Deletions, or a chunk reaching past the range (a head whose
            // chunk range changed): only the samples left go in.
            let mut samples = Vec::new();
            for c in &chunks {
                decode_into(&c.bytes, mint, maxt - 1, &deleted, &mut samples)?;
            }
            add_encoded(&mut w, s.labels.clone(), samples, head.chunk_range())?;
        }
    }
    match w.finish(Some((mint, maxt)), None) {
        Ok(meta) => Ok(Some(meta)),
        Err(BlockError::Empty) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Merges `parents` into one block one level above the highest of them;
/// `None` when deletions left nothing.
pub(crate) fn merge_blocks(dir: &Path, parents: &[Arc<Block>], chunk_range: i64) -> Result<Option<BlockMeta>, BlockError> {
    write_merged(dir, parents, chunk_range, None)
}

/// Writes `block` again without what its tombstones delete, keeping its
/// level and sources; `None` when nothing is left.
pub(crate) fn rewrite_block(dir: &Path, block: &Arc<Block>, chunk_range: i64) -> Result<Option<BlockMeta>, BlockError> {
    let m = block.meta();
    let compaction = BlockCompaction {
        level: m.compaction.level,
        sources: m.compaction.sources.clone(),
        parents: vec![BlockDesc { ulid: m.ulid.clone(), min_time: m.min_time, max_time: m.max_time }],
        ..Default::default()
    };
    write_merged(dir, std::slice::from_ref(block), chunk_range, Some(compaction))
}

fn write_merged(dir: &Path, parents: &[Arc<Block>], chunk_range: i64, compaction: Option<BlockCompaction>) -> Result<Option<BlockMeta>, BlockError> {
    let mut w = BlockWriter::create(dir, Ulid::new(), SEGMENT_MAX_SIZE)?;
    // Deletions as of now, applied as the series are written.
    let stones: Vec<Arc<Tombstones>> = parents.iter().map(|b| b.tombstones()).collect();
    // Each parent's series come in label order; merge them by label.
    let mut cursors: Vec<Cursor> = Vec::with_capacity(parents.len());
    for b in parents {
        let mut ids = b.index().all_postings()?.into_iter();
        let first = next_series(b, &mut ids)?;
        cursors.push((ids, first));
    }
    while let Some(labels) = cursors.iter().filter_map(|c| c.1.as_ref().map(|(_, l)| l)).min().cloned() {
        // (parent, series id) of every parent holding the series.
        let mut holders = Vec::new();
        for (p, (ids, cur)) in cursors.iter_mut().enumerate() {
            if let Some((id, l)) = cur {
                if *l == labels {
                    holders.push((p, *id));
                    *cur = next_series(&parents[p], ids)?;
                }
            }
        }
        merge_series(&mut w, parents, &stones, &holders, labels, chunk_range)?;
    }
    let mint = parents.iter().map(|b| b.meta().min_time).min().unwrap_or(0);
    let maxt = parents.iter().map(|b| b.meta().max_time).max().unwrap_or(0);
    let mut sources: Vec<String> = parents.iter().flat_map(|b| b.meta().compaction.sources.iter().cloned()).collect();
    sources.sort();
    sources.dedup();
    let compaction = compaction.unwrap_or_else(|| BlockCompaction {
        level: parents.iter().map(|b| b.meta().compaction.level).max().unwrap_or(0) + 1,
        sources,
        parents: parents.iter().map(|b| BlockDesc { ulid: b.meta().ulid.clone(), min_time: b.meta().min_time, max_time: b.meta().max_time }).collect(),
        ..Default::default()
    });
    match w.finish(Some((mint, maxt)), Some(compaction)) {
        Ok(meta) => Ok(Some(meta)),
        Err(BlockError::Empty) => Ok(None),
        Err(e) => Err(e),
    }
}

/// A parent's remaining series ids and its current series.
type Cursor = (std::vec::IntoIter<u32>, Option<(u32, Labels)>);

fn next_series(b: &Block, ids: &mut std::vec::IntoIter<u32>) -> Result<Option<(u32, Labels)>, BlockError> {
    match ids.next() {
        Some(id) => Ok(Some((id, b.index().series(id)?.0))),
        None => Ok(None),
    }
}

/// Writes one series from the parents that hold it: its chunks copied when
/// they neither overlap nor carry deletions, else its samples merged
/// (first parent wins on equal timestamps) and encoded again.
fn merge_series(
    w: &mut BlockWriter,
    parents: &[Arc<Block>],
    stones: &[Arc<Tombstones>],
    holders: &[(usize, u32)],
    labels: Labels,
    chunk_range: i64,
) -> Result<(), BlockError> {
    let mut chunks: Vec<(ChunkPart<'_>, &[(i64, i64)])> = Vec::new();
    for &(p, id) in holders {
        let b = &parents[p];
        let deleted = stones[p].intervals(u64::from(id));
        for c in b.index().series(id)?.1 {
            let (enc, bytes) = b.chunks().chunk(c.r)?;
            if enc != Encoding::Xor {
                return Err(BlockError::Input(format!("series {labels}: {enc} chunks are not supported yet")));
            }
            chunks.push((ChunkPart { min_time: c.min_time, max_time: c.max_time, bytes }, deleted));
        }
    }
    chunks.sort_by_key(|(c, _)| c.min_time);
    let overlaps = chunks.windows(2).any(|w| w[1].0.min_time <= w[0].0.max_time);
    let touched = chunks.iter().any(|(c, del)| del.iter().any(|&(lo, hi)| lo <= c.max_time && hi >= c.min_time));
    if !overlaps && !touched {
        let parts: Vec<ChunkPart<'_>> = chunks.into_iter().map(|(c, _)| c).collect();
        return w.add_series(labels, &parts);
    }
    let mut samples = Vec::new();
    for (c, del) in &chunks {
        decode_into(c.bytes, i64::MIN, i64::MAX, del, &mut samples)?;
    }
    // Stable: on equal timestamps the earlier chunk's sample comes first
    // and is the one kept.
    samples.sort_by_key(|s| s.0);
    samples.dedup_by_key(|s| s.0);
    add_encoded(w, labels, samples, chunk_range)
}

fn add_encoded(w: &mut BlockWriter, labels: Labels, samples: Vec<(i64, f64)>, chunk_range: i64) -> Result<(), BlockError> {
    let encoded = cut_chunks(&samples, chunk_range);
    let parts: Vec<ChunkPart<'_>> = encoded.iter().filter_map(ChunkPart::of_xor).collect();
    w.add_series(labels, &parts)
}

/// Appends the samples of an XOR chunk in `[mint, maxt]` and outside the
/// `deleted` intervals.
fn decode_into(bytes: &[u8], mint: i64, maxt: i64, deleted: &[(i64, i64)], out: &mut Vec<(i64, f64)>) -> Result<(), BlockError> {
    let mut it = XorIterator::new(bytes);
    while it.next() == ValueType::Float {
        let (t, v) = it.at();
        if t >= mint && t <= maxt && !deleted.iter().any(|&(lo, hi)| t >= lo && t <= hi) {
            out.push((t, v));
        }
    }
    match it.chunk_err() {
        Some(e) => Err(BlockError::Input(format!("decoding chunk: {e}"))),
        None => Ok(()),
    }
}
