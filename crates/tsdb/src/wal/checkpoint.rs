//! WAL checkpoints, as Prometheus's: when the head drops old data, the
//! segments it no longer needs are condensed into `checkpoint.N` (a WAL
//! directory of its own) holding only what the head still needs, so the
//! segments can be deleted and replay stays short.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use super::{Reader, SegmentRange, Wal, WalError, WalOptions, io_err, sync_dir};
use crate::record::{self, RecordType};

const CHECKPOINT_PREFIX: &str = "checkpoint.";
const TMP_SUFFIX: &str = ".tmp";

/// Records flushed to the checkpoint in batches of about this many bytes.
const FLUSH_BYTES: usize = 1024 * 1024;

/// What a checkpoint kept and dropped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CheckpointStats {
    pub dropped_series: usize,
    pub dropped_samples: usize,
    pub dropped_tombstones: usize,
    pub dropped_exemplars: usize,
    pub dropped_metadata: usize,
    /// Processed, dropped ones included.
    pub total_series: usize,
    pub total_samples: usize,
    pub total_tombstones: usize,
    pub total_exemplars: usize,
    pub total_metadata: usize,
}

/// The directory of checkpoint `index` in the WAL directory `dir`.
pub fn checkpoint_dir(dir: &Path, index: usize) -> PathBuf {
    dir.join(format!("{CHECKPOINT_PREFIX}{index:08}"))
}

/// Checkpoints in `dir`, sorted by index.
fn list_checkpoints(dir: &Path) -> Result<Vec<(String, usize)>, WalError> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_err("read dir", dir))? {
        let entry = entry.map_err(io_err("read dir", dir))?;
        let Ok(name) = entry.file_name().into_string() else { continue };
        let Some(num) = name.strip_prefix(CHECKPOINT_PREFIX) else { continue };
        if !entry.file_type().map_err(io_err("stat", &entry.path()))?.is_dir() {
            return Err(WalError::CheckpointNotDir(name));
        }
        // `checkpoint.N.tmp` and other leftovers do not parse.
        if !num.is_empty() && num.bytes().all(|b| b.is_ascii_digit()) {
            if let Ok(i) = num.parse::<usize>() {
                out.push((name, i));
            }
        }
    }
    out.sort_unstable_by_key(|&(_, i)| i);
    Ok(out)
}

/// The newest checkpoint in `dir`: its directory and index.
pub fn last_checkpoint(dir: &Path) -> Result<Option<(PathBuf, usize)>, WalError> {
    Ok(list_checkpoints(dir)?.pop().map(|(name, i)| (dir.join(name), i)))
}

/// Deletes the checkpoints in `dir` below `max_index`.
pub fn delete_checkpoints(dir: &Path, max_index: usize) -> Result<(), WalError> {
    for (name, i) in list_checkpoints(dir)? {
        if i >= max_index {
            break;
        }
        let path = dir.join(name);
        fs::remove_dir_all(&path).map_err(io_err("remove checkpoint", &path))?;
    }
    Ok(())
}

/// Removes unfinished checkpoints a crash left behind.
fn delete_temp_checkpoints(dir: &Path) -> Result<(), WalError> {
    for entry in fs::read_dir(dir).map_err(io_err("read dir", dir))? {
        let entry = entry.map_err(io_err("read dir", dir))?;
        let Ok(name) = entry.file_name().into_string() else { continue };
        if name.starts_with(CHECKPOINT_PREFIX) && name.ends_with(TMP_SUFFIX) {
            let path = entry.path();
            tracing::info!(dir = %path.display(), "Found and deleted tmp checkpoint dir");
            fs::remove_dir_all(&path).map_err(io_err("remove previous temporary checkpoint dir", &path))?;
        }
    }
    Ok(())
}

/// Writes `checkpoint.<to>` from WAL segments `from..=to` of `dir` and the
/// previous checkpoint, keeping (as Prometheus's `Checkpoint`):
/// - series records of series for which `keep(ref)` holds;
/// - samples and exemplars at or after `mint` (of any series, as
///   Prometheus does);
/// - tombstones with an interval ending at or after `mint`;
/// - the latest metadata of each kept series, in one record at the end.
///
/// Unknown record types (from newer versions) and native-histogram records
/// are dropped: this server does not decode histograms yet, and its head
/// ignores them on replay too.
///
/// The checkpoint is written to `checkpoint.<to>.tmp`, fsynced and renamed,
/// then older checkpoints are deleted. Segments are not: the caller
/// truncates the WAL once the checkpoint is in place. `compress` is the
/// WAL's compression setting. Corruption in the input is an error, not
/// repaired: the head would not know which series were lost.
pub fn checkpoint(dir: &Path, from: usize, to: usize, keep: impl Fn(u64) -> bool, mint: i64, compress: bool) -> Result<CheckpointStats, WalError> {
    tracing::info!(from_segment = from, to_segment = to, mint, "Creating checkpoint");
    let mut stats = CheckpointStats::default();

    let mut ranges = Vec::new();
    let mut from = from;
    if let Some((cp_dir, idx)) = last_checkpoint(dir)? {
        let expected = idx + 1;
        if from > expected {
            return Err(WalError::CheckpointGap { expected, requested: from });
        }
        // Segments below the checkpoint should not exist; ignore them.
        from = expected;
        ranges.push(SegmentRange::all(&cp_dir));
    }
    ranges.push(SegmentRange { dir: dir.to_path_buf(), first: Some(from), last: Some(to) });
    let mut reader = Reader::new(&ranges)?;

    delete_temp_checkpoints(dir)?;
    let cp_dir = checkpoint_dir(dir, to);
    let tmp_dir = PathBuf::from(format!("{}{TMP_SUFFIX}", cp_dir.display()));
    fs::create_dir_all(&tmp_dir).map_err(io_err("create checkpoint dir", &tmp_dir))?;

    let res = write_checkpoint(&mut reader, &tmp_dir, &keep, mint, compress, &mut stats);
    if let Err(e) = res {
        // Leave no half-written checkpoint behind.
        let _ = fs::remove_dir_all(&tmp_dir);
        return Err(e);
    }

    sync_dir(&tmp_dir)?;
    if cp_dir.exists() {
        fs::remove_dir_all(&cp_dir).map_err(io_err("remove checkpoint", &cp_dir))?;
    }
    fs::rename(&tmp_dir, &cp_dir).map_err(io_err("rename checkpoint directory", &tmp_dir))?;
    sync_dir(dir)?;

    delete_checkpoints(dir, to)?;
    Ok(stats)
}

fn write_checkpoint(
    reader: &mut Reader,
    tmp_dir: &Path,
    keep: &impl Fn(u64) -> bool,
    mint: i64,
    compress: bool,
    stats: &mut CheckpointStats,
) -> Result<(), WalError> {
    let mut cp = Wal::open(tmp_dir, WalOptions { compress, ..WalOptions::default() })?;

    let mut series = Vec::new();
    let mut samples = Vec::new();
    let mut stones = Vec::new();
    let mut exemplars = Vec::new();
    let mut metadata = Vec::new();
    let mut latest_metadata: HashMap<u64, record::RefMetadata> = HashMap::new();
    // Encoded records, batched: `buf` holds them back to back, `ends` where
    // each ends.
    let mut buf: Vec<u8> = Vec::new();
    let mut ends: Vec<usize> = Vec::new();

    let flush = |cp: &mut Wal, buf: &mut Vec<u8>, ends: &mut Vec<usize>| -> Result<(), WalError> {
        let mut recs = Vec::with_capacity(ends.len());
        let mut start = 0;
        for &end in ends.iter() {
            recs.push(&buf[start..end]);
            start = end;
        }
        if !recs.is_empty() {
            cp.log(&recs)?;
        }
        buf.clear();
        ends.clear();
        Ok(())
    };

    let decode_err = |context: &'static str| move |source: record::RecordError| WalError::Record { context, source };

    while let Some(rec) = reader.next_record()? {
        let start = buf.len();
        match RecordType::of(rec) {
            RecordType::Series => {
                series.clear();
                record::decode_series(rec, &mut series).map_err(decode_err("decode series"))?;
                let total = series.len();
                series.retain(|s| keep(s.r));
                if !series.is_empty() {
                    record::encode_series(&series, &mut buf);
                }
                stats.total_series += total;
                stats.dropped_series += total - series.len();
            }
            RecordType::Samples | RecordType::SamplesV2 => {
                samples.clear();
                record::decode_samples(rec, &mut samples).map_err(decode_err("decode samples"))?;
                let total = samples.len();
                samples.retain(|s| s.t >= mint);
                if !samples.is_empty() {
                    record::encode_samples(&samples, &mut buf);
                }
                stats.total_samples += total;
                stats.dropped_samples += total - samples.len();
            }
            RecordType::Tombstones => {
                stones.clear();
                record::decode_tombstones(rec, &mut stones).map_err(decode_err("decode deletes"))?;
                let total = stones.len();
                stones.retain(|s| s.intervals.iter().any(|&(_, maxt)| maxt >= mint));
                if !stones.is_empty() {
                    record::encode_tombstones(&stones, &mut buf);
                }
                stats.total_tombstones += total;
                stats.dropped_tombstones += total - stones.len();
            }
            RecordType::Exemplars => {
                exemplars.clear();
                record::decode_exemplars(rec, &mut exemplars).map_err(decode_err("decode exemplars"))?;
                let total = exemplars.len();
                exemplars.retain(|e| e.t >= mint);
                if !exemplars.is_empty() {
                    record::encode_exemplars(&exemplars, &mut buf);
                }
                stats.total_exemplars += total;
                stats.dropped_exemplars += total - exemplars.len();
            }
            RecordType::Metadata => {
                metadata.clear();
                record::decode_metadata(rec, &mut metadata).map_err(decode_err("decode metadata"))?;
                // Only the latest metadata of each kept series survives; it
                // is written once, at the end. As in Prometheus, an entry
                // counts as dropped unless it is the first for its series.
                let total = metadata.len();
                let mut new_series = 0;
                for m in metadata.drain(..) {
                    if keep(m.r) && latest_metadata.insert(m.r, m).is_none() {
                        new_series += 1;
                    }
                }
                stats.total_metadata += total;
                stats.dropped_metadata += total - new_series;
            }
            _ => continue,
        }
        if buf.len() == start {
            continue; // Everything in it was dropped.
        }
        ends.push(buf.len());
        if buf.len() > FLUSH_BYTES {
            flush(&mut cp, &mut buf, &mut ends)?;
        }
    }
    flush(&mut cp, &mut buf, &mut ends)?;

    if !latest_metadata.is_empty() {
        // Sorted so that the same input always gives the same checkpoint.
        let mut all: Vec<record::RefMetadata> = latest_metadata.into_values().collect();
        all.sort_unstable_by_key(|m| m.r);
        record::encode_metadata(&all, &mut buf);
        cp.log(&[&buf])?;
    }
    cp.close()
}
