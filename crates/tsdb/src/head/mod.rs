//! The head block: the most recent samples, in memory, indexed by label and
//! made durable by the write-ahead log.
//!
//! Series live in sharded maps (by reference, and by label hash for lookups
//! on append), each behind its own lock, so that thousands of scrape loops
//! append at once without a global lock. The label index is a separate
//! structure updated only when a series is created or removed.

mod appender;
mod metrics;
mod postings;
mod querier;
mod refs;
mod series;
pub mod stats;

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use model::{Exemplar, Labels, Matcher};
use storage::{Appendable, Appender, ExemplarQuerier, ExemplarQueryable, ExemplarSeries, Querier, Queryable, StorageError};

pub use appender::HeadAppender;
pub use metrics::HeadMetrics;
pub use postings::{MemPostings, difference_sorted, intersect_sorted};
pub use querier::HeadQuerier;
pub(crate) use querier::HeadSeries;
pub use series::{ChunkCutter, FullChunk, MemSeries, SAMPLES_PER_CHUNK, range_end};

use crate::chunks_head::{self, ChunkDiskMapper};
use crate::exemplar::CircularExemplarStorage;
use crate::record::{self, RefExemplar, RefSample, RefSeries};
use crate::wal::{self, Wal, WalOptions};

const SHARDS: usize = 256;

/// Settings of the head.
#[derive(Debug, Clone)]
pub struct HeadOptions {
    /// Width of a chunk range (and of a block), 2 h by default.
    pub chunk_range: i64,
    /// Where the write-ahead log lives (`<data>/wal`); `None` keeps the head
    /// in memory only (tests, agent experiments).
    pub wal_dir: Option<PathBuf>,
    pub wal_segment_size: usize,
    pub wal_compression: bool,
    /// Where full chunks go (`<data>/chunks_head`); `None` keeps them on the
    /// heap.
    pub chunks_dir: Option<PathBuf>,
    pub chunk_file_size: usize,
    /// Size of the exemplar ring; zero (the default, as without
    /// `--enable-feature=exemplar-storage`) keeps no exemplars and logs
    /// none.
    pub max_exemplars: i64,
    /// Samples before this are out of bounds, on append and in replay:
    /// the blocks already hold them (the last block's end).
    pub min_valid_time: i64,
    /// Replay the WAL and write nothing: no repair of a damaged tail (the
    /// replay stops there), no head chunk files, no log to append to. For
    /// tools reading a folder a server may own (`narthex tsdb dump`).
    pub read_only: bool,
}

impl Default for HeadOptions {
    fn default() -> Self {
        HeadOptions {
            chunk_range: 2 * 3600 * 1000,
            wal_dir: None,
            wal_segment_size: wal::DEFAULT_SEGMENT_SIZE,
            wal_compression: true,
            chunks_dir: None,
            chunk_file_size: chunks_head::DEFAULT_MAX_FILE_SIZE,
            max_exemplars: 0,
            min_valid_time: i64::MIN,
            read_only: false,
        }
    }
}

impl HeadOptions {
    /// An in-memory head as Prometheus's test storage sets it up for the
    /// PromQL test scripts: a 24 h chunk range, so that a script may load
    /// a series a day long and then another from time zero without going
    /// out of bounds.
    pub fn test_storage() -> HeadOptions {
        HeadOptions { chunk_range: 24 * 3600 * 1000, ..HeadOptions::default() }
    }
}

/// A hasher for keys that are already hashes or sequential references:
/// one multiply spreads them over every bit. (Keys alone would not do: the
/// shard is chosen from the low bits, so all keys of a shard share them,
/// and the table's buckets are chosen from the low bits too.)
pub(crate) type FastHash = BuildHasherDefault<MixHasher>;

#[derive(Default)]
pub(crate) struct MixHasher(u64);

impl Hasher for MixHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only u64 keys (already hashes or references) are ever written.
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.0 = self.0.rotate_left(5) ^ u64::from_le_bytes(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        // Fibonacci hashing; the high bits are the well-mixed ones, so fold
        // them down for the table's bucket choice.
        let m = n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        self.0 = m ^ (m >> 32);
    }
}

fn label_hash(l: &Labels) -> u64 {
    xxhash_rust::xxh3::xxh3_64(l.as_bytes())
}

/// One shard of the series maps. Label-hash collisions are rare, so the
/// hash map holds the first series of a hash directly and the others live
/// in a side table, instead of a one-element vector per series.
#[derive(Default)]
struct Shard {
    by_hash: HashMap<u64, Arc<MemSeries>, FastHash>,
    collisions: HashMap<u64, Vec<Arc<MemSeries>>, FastHash>,
}

impl Shard {
    fn find(&self, hash: u64, labels: &Labels) -> Option<&Arc<MemSeries>> {
        match self.by_hash.get(&hash) {
            Some(s) if s.labels == *labels => Some(s),
            Some(_) => self.collisions.get(&hash)?.iter().find(|s| s.labels == *labels),
            None => None,
        }
    }

    fn add(&mut self, hash: u64, s: Arc<MemSeries>) {
        match self.by_hash.entry(hash) {
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(s);
            }
            std::collections::hash_map::Entry::Occupied(_) => self.collisions.entry(hash).or_default().push(s),
        }
    }

    fn remove(&mut self, hash: u64, labels: &Labels) {
        if self.by_hash.get(&hash).is_some_and(|s| s.labels == *labels) {
            self.by_hash.remove(&hash);
            // Promote a colliding series, if any, to the main table.
            if let Some(list) = self.collisions.get_mut(&hash) {
                if let Some(s) = list.pop() {
                    self.by_hash.insert(hash, s);
                }
                if list.is_empty() {
                    self.collisions.remove(&hash);
                }
            }
        } else if let Some(list) = self.collisions.get_mut(&hash) {
            list.retain(|s| s.labels != *labels);
            if list.is_empty() {
                self.collisions.remove(&hash);
            }
        }
    }
}

/// Deleted intervals (sorted, disjoint) by series reference.
type Deletions = HashMap<u64, Vec<(i64, i64)>, FastHash>;

/// The in-memory head block.
pub struct Head {
    opts: HeadOptions,
    shards: Vec<RwLock<Shard>>,
    refs: refs::RefTable,
    postings: RwLock<MemPostings>,
    next_ref: AtomicU64,
    min_time: AtomicI64,
    max_time: AtomicI64,
    /// Samples before this are out of bounds (the head was truncated there).
    min_valid_time: AtomicI64,
    /// Deleted intervals by series reference, logged in the WAL; readers
    /// and compaction skip the samples inside.
    tombstones: RwLock<Deletions>,
    has_tombstones: std::sync::atomic::AtomicBool,
    /// Called on commit while the head is [`Head::compactable`], so that
    /// the database compacts without waiting for its next periodic check.
    compactable_hook: std::sync::OnceLock<Box<dyn Fn() + Send + Sync>>,
    wal: Option<Mutex<Wal>>,
    disk: Option<ChunkDiskMapper>,
    exemplars: CircularExemplarStorage,
    pub(crate) metrics: HeadMetrics,
}

impl std::fmt::Debug for Head {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Head").field("series", &self.num_series()).field("min_time", &self.min_time()).field("max_time", &self.max_time()).finish()
    }
}

/// Errors opening the head.
#[derive(Debug, thiserror::Error)]
pub enum HeadError {
    #[error("write-ahead log: {0}")]
    Wal(#[from] wal::WalError),
    #[error("head chunks: {0}")]
    Chunks(#[from] chunks_head::ChunksHeadError),
    #[error("decoding WAL record in segment {segment}: {source}")]
    Record {
        segment: usize,
        #[source]
        source: record::RecordError,
    },
}

impl Head {
    /// Opens the head, replaying the write-ahead log (checkpoint, then
    /// segments) when there is one. A corrupt tail is repaired: everything
    /// before the damage is kept, the rest dropped and counted.
    /// `metrics` come from [`HeadMetrics::new`], registered or not.
    /// WAL corruptions found (and repaired) since the head was opened.
    pub fn wal_corruptions(&self) -> u64 {
        self.metrics.wal_corruptions.get()
    }

    pub fn open(opts: HeadOptions, metrics: HeadMetrics) -> Result<Arc<Head>, HeadError> {
        let mut head = Head {
            shards: (0..SHARDS).map(|_| RwLock::new(Shard::default())).collect(),
            refs: refs::RefTable::default(),
            postings: RwLock::new(MemPostings::default()),
            next_ref: AtomicU64::new(1),
            min_time: AtomicI64::new(i64::MAX),
            max_time: AtomicI64::new(i64::MIN),
            min_valid_time: AtomicI64::new(opts.min_valid_time),
            tombstones: RwLock::new(HashMap::default()),
            has_tombstones: std::sync::atomic::AtomicBool::new(false),
            compactable_hook: std::sync::OnceLock::new(),
            wal: None,
            disk: None,
            exemplars: CircularExemplarStorage::new(opts.max_exemplars, metrics.exemplars.clone()),
            metrics,
            opts,
        };
        // Full chunks on disk first: replay attaches them to their series
        // and then skips the WAL samples they already hold.
        let mut on_disk: HashMap<u64, Vec<(i64, i64, chunks_head::ChunkDiskRef)>> = HashMap::new();
        if let Some(dir) = head.opts.chunks_dir.clone().filter(|_| !head.opts.read_only) {
            let disk = ChunkDiskMapper::open(&dir, head.opts.chunk_file_size)?;
            disk.iterate_all_chunks(|c| {
                // Chunks the blocks already hold are dropped with the
                // files' next truncation.
                if !c.is_out_of_order() && c.maxt >= head.opts.min_valid_time && matches!(c.encoding(), Ok(crate::chunkenc::Encoding::Xor)) {
                    on_disk.entry(c.series_ref).or_default().push((c.mint, c.maxt, c.chunk_ref));
                }
                Ok::<(), chunks_head::ChunksHeadError>(())
            })?;
            head.disk = Some(disk);
        }
        if let Some(dir) = head.opts.wal_dir.clone() {
            head.replay(&dir, &mut on_disk)?;
            if head.opts.read_only {
                return Ok(Arc::new(head));
            }
            let w = Wal::open(&dir, WalOptions { segment_size: head.opts.wal_segment_size, compress: head.opts.wal_compression })?;
            head.metrics.wal_segment_current.set(w.current_segment() as i64);
            head.wal = Some(Mutex::new(w));
        }
        Ok(Arc::new(head))
    }

    fn replay(&self, dir: &Path, on_disk: &mut HashMap<u64, Vec<(i64, i64, chunks_head::ChunkDiskRef)>>) -> Result<(), HeadError> {
        if !dir.exists() {
            return Ok(());
        }
        let start = std::time::Instant::now();
        let mut ranges = Vec::new();
        let mut first_segment = None;
        if let Some((cp_dir, idx)) = wal::last_checkpoint(dir)? {
            ranges.push(wal::SegmentRange::all(&cp_dir));
            first_segment = Some(idx + 1);
        }
        let last_segment = wal::segments(dir)?.map(|(_, l)| l);
        ranges.push(wal::SegmentRange { dir: dir.to_path_buf(), first: first_segment, last: None });
        // Series references in the log map to the series created for them;
        // samples for unknown references are skipped (their series record
        // was dropped with a checkpoint).
        // One thread reads and decodes; appends go to workers, each owning
        // the series whose reference falls to it, so that a series' samples
        // stay in order and no two workers touch the same series.
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 8);
        let result = std::thread::scope(|scope| {
            let mut senders = Vec::with_capacity(workers);
            let mut handles = Vec::with_capacity(workers);
            for _ in 0..workers {
                let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<RefSample>>(8);
                senders.push(tx);
                handles.push(scope.spawn(move || self.replay_worker(rx)));
            }
            let decoded = self.replay_decode(&ranges, on_disk, last_segment, &senders);
            drop(senders);
            let (mut mint, mut maxt) = (i64::MAX, i64::MIN);
            for h in handles {
                if let Ok((a, b)) = h.join() {
                    mint = mint.min(a);
                    maxt = maxt.max(b);
                }
            }
            self.extend_time_range(mint, maxt);
            decoded
        });
        result?;
        tracing::info!(component = "tsdb", duration = ?start.elapsed(), series = self.num_series(), "WAL replay completed");
        Ok(())
    }

    /// Reads the log, creating series as their records come and handing
    /// samples to the workers in batches.
    fn replay_decode(
        &self,
        ranges: &[wal::SegmentRange],
        on_disk: &mut HashMap<u64, Vec<(i64, i64, chunks_head::ChunkDiskRef)>>,
        last_segment: Option<usize>,
        senders: &[std::sync::mpsc::SyncSender<Vec<RefSample>>],
    ) -> Result<(), HeadError> {
        const BATCH: usize = 4096;
        let mut series: Vec<RefSeries> = Vec::new();
        let mut samples: Vec<RefSample> = Vec::new();
        let mut exemplars: Vec<RefExemplar> = Vec::new();
        let mut unknown_exemplar_refs = 0usize;
        let mut pending: Vec<Vec<RefSample>> = (0..senders.len()).map(|_| Vec::with_capacity(BATCH)).collect();
        let mut reader = wal::Reader::new(ranges)?;
        let mut seen_segment = None;
        let mut rec = Vec::new();
        let send = |w: usize, batch: Vec<RefSample>| {
            // A worker only stops when its channel closes, so sending
            // cannot fail while the senders live.
            let _ = senders[w].send(batch);
        };
        loop {
            match reader.next_record() {
                Ok(Some(r)) => {
                    rec.clear();
                    rec.extend_from_slice(r);
                }
                Ok(None) => break,
                Err(wal::WalError::Corruption(c)) if self.opts.read_only => {
                    tracing::warn!(component = "tsdb", segment = c.segment, offset = c.offset, err = %c, "WAL read error; reading stops there (read-only)");
                    break;
                }
                Err(wal::WalError::Corruption(c)) => {
                    self.metrics.wal_corruptions.inc();
                    tracing::warn!(component = "tsdb", segment = c.segment, offset = c.offset, err = %c, "Encountered WAL read error, attempting repair");
                    wal::repair(&c.dir, &c)?;
                    break;
                }
                Err(e) => return Err(e.into()),
            }
            let rec = rec.as_slice();
            let seg = reader.segment().unwrap_or(0);
            match record::RecordType::of(rec) {
                record::RecordType::Series => {
                    series.clear();
                    record::decode_series(rec, &mut series).map_err(|source| HeadError::Record { segment: seg, source })?;
                    for s in series.drain(..) {
                        let r = s.r;
                        self.create_with_ref(r, s.labels);
                        if let (Some(chunks), Some(ms)) = (on_disk.remove(&r), self.series_by_ref(r)) {
                            let (mint, maxt) = chunks.iter().fold((i64::MAX, i64::MIN), |(a, b), c| (a.min(c.0), b.max(c.1)));
                            self.metrics.chunks.inc_by(chunks.len() as i64);
                            ms.lock().attach_disk_chunks(chunks);
                            self.extend_time_range(mint, maxt);
                        }
                    }
                }
                record::RecordType::Samples | record::RecordType::SamplesV2 => {
                    samples.clear();
                    record::decode_samples(rec, &mut samples).map_err(|source| HeadError::Record { segment: seg, source })?;
                    for s in &samples {
                        let w = (s.r as usize) % senders.len();
                        pending[w].push(*s);
                        if pending[w].len() >= BATCH {
                            send(w, std::mem::replace(&mut pending[w], Vec::with_capacity(BATCH)));
                        }
                    }
                }
                // Exemplars go straight into the ring, on this thread:
                // they are few, and their series exist by now (a series
                // record precedes every record that refers to it).
                record::RecordType::Exemplars if self.exemplars.enabled() => {
                    exemplars.clear();
                    record::decode_exemplars(rec, &mut exemplars).map_err(|source| HeadError::Record { segment: seg, source })?;
                    for e in exemplars.drain(..) {
                        let Some(s) = self.series_by_ref(e.r) else {
                            unknown_exemplar_refs += 1;
                            continue;
                        };
                        // The log does not say whether the exposition had a
                        // timestamp; Prometheus replays them as if not.
                        let ex = Exemplar { labels: e.labels, value: e.v, ts: e.t, has_ts: false };
                        if let Err(err @ StorageError::OutOfOrderExemplar) = self.exemplars.add(&s.labels, ex) {
                            tracing::warn!(component = "tsdb", err = %err, "Unexpected error when replaying WAL on exemplar record");
                        }
                    }
                }
                record::RecordType::Tombstones => {
                    let mut stones = Vec::new();
                    record::decode_tombstones(rec, &mut stones).map_err(|source| HeadError::Record { segment: seg, source })?;
                    for st in stones {
                        for (lo, hi) in st.intervals {
                            self.add_tombstone(st.r, lo, hi);
                        }
                    }
                }
                // Metadata is not kept in the head yet, nor exemplars when
                // their storage is off; replay skips them.
                _ => {}
            }
            if seen_segment != Some(seg) {
                if let Some(prev) = seen_segment {
                    tracing::info!(component = "tsdb", segment = prev, maxSegment = last_segment.unwrap_or(prev), "WAL segment loaded");
                }
                seen_segment = Some(seg);
            }
        }
        for (w, batch) in pending.into_iter().enumerate() {
            if !batch.is_empty() {
                send(w, batch);
            }
        }
        if let Some(seg) = seen_segment {
            tracing::info!(component = "tsdb", segment = seg, maxSegment = last_segment.unwrap_or(seg), "WAL segment loaded");
        }
        if unknown_exemplar_refs > 0 {
            tracing::warn!(component = "tsdb", exemplars = unknown_exemplar_refs, "Unknown series references for exemplars during WAL replay");
        }
        Ok(())
    }

    /// Appends replayed samples; returns the time range it appended.
    fn replay_worker(&self, rx: std::sync::mpsc::Receiver<Vec<RefSample>>) -> (i64, i64) {
        let mut cache: HashMap<u64, Option<Arc<MemSeries>>, FastHash> = HashMap::default();
        let (mut mint, mut maxt) = (i64::MAX, i64::MIN);
        for batch in rx {
            for s in batch {
                let series = cache.entry(s.r).or_insert_with(|| self.series_by_ref(s.r));
                // Samples of series the log never declared are dropped, and
                // so are those the blocks hold already.
                let Some(ms) = series else { continue };
                if s.t < self.opts.min_valid_time {
                    continue;
                }
                if self.append_committed(ms, s.t, s.v) {
                    mint = mint.min(s.t);
                    maxt = maxt.max(s.t);
                }
            }
        }
        (mint, maxt)
    }

    fn shard(&self, key: u64) -> &RwLock<Shard> {
        &self.shards[(key as usize) % SHARDS]
    }

    pub fn series_by_ref(&self, r: u64) -> Option<Arc<MemSeries>> {
        self.refs.get(r)
    }

    fn series_by_labels(&self, hash: u64, labels: &Labels) -> Option<Arc<MemSeries>> {
        let shard = self.shard(hash).read().unwrap_or_else(|p| p.into_inner());
        shard.find(hash, labels).cloned()
    }

    /// The series with these labels, created if new. Returns whether it was
    /// created, so that the appender logs a series record for it.
    pub(crate) fn get_or_create(&self, labels: &Labels) -> (Arc<MemSeries>, bool) {
        let hash = label_hash(labels);
        if let Some(s) = self.series_by_labels(hash, labels) {
            return (s, false);
        }
        let r = self.next_ref.fetch_add(1, Ordering::Relaxed);
        self.insert(hash, r, labels.clone())
    }

    fn create_with_ref(&self, r: u64, labels: Labels) {
        self.next_ref.fetch_max(r + 1, Ordering::Relaxed);
        let hash = label_hash(&labels);
        if self.series_by_labels(hash, &labels).is_none() {
            self.insert(hash, r, labels);
        }
    }

    fn insert(&self, hash: u64, r: u64, labels: Labels) -> (Arc<MemSeries>, bool) {
        let series = {
            let mut shard = self.shard(hash).write().unwrap_or_else(|p| p.into_inner());
            // Another appender may have created it since we looked.
            if let Some(s) = shard.find(hash, &labels) {
                return (s.clone(), false);
            }
            let s = Arc::new(MemSeries::new(r, labels));
            shard.add(hash, s.clone());
            s
        };
        self.refs.insert(r, series.clone());
        self.postings.write().unwrap_or_else(|p| p.into_inner()).add(r, &series.labels);
        self.metrics.series.inc();
        self.metrics.series_created.inc();
        (series, true)
    }

    /// Appends a sample that has been logged (or is being replayed).
    /// The head's time bounds are not touched here but once per batch, in
    /// [`Head::extend_time_range`]: head-wide atomics written for every
    /// sample would be cache lines every core fights over.
    pub(crate) fn append_committed(&self, s: &MemSeries, t: i64, v: f64) -> bool {
        let cut = {
            let mut data = s.lock();
            if data.check(t, v) != series::Check::Ok {
                return false;
            }
            data.append(t, v, self.opts.chunk_range, self.disk.as_ref().map(|d| (d, s.r)))
        };
        if cut {
            self.metrics.chunks.inc();
            self.metrics.chunks_created.inc();
        }
        true
    }

    /// Widens the head's time range to cover `[mint, maxt]`.
    pub(crate) fn extend_time_range(&self, mint: i64, maxt: i64) {
        if mint < self.min_time() {
            self.min_time.fetch_min(mint, Ordering::Relaxed);
            self.metrics.min_time.set(self.min_time());
        }
        if maxt > self.max_time() {
            self.max_time.fetch_max(maxt, Ordering::Relaxed);
            self.metrics.max_time.set(self.max_time());
        }
    }

    pub(crate) fn log(&self, records: &[&[u8]]) -> Result<(), StorageError> {
        let Some(w) = &self.wal else { return Ok(()) };
        let mut w = w.lock().unwrap_or_else(|p| p.into_inner());
        w.log(records).map_err(|e| StorageError::Other(format!("write to WAL: {e}")))?;
        self.metrics.wal_segment_current.set(w.current_segment() as i64);
        Ok(())
    }

    pub(crate) fn min_valid_time(&self) -> i64 {
        self.min_valid_time.load(Ordering::Relaxed)
    }

    /// The oldest time an append may have, as Prometheus bounds it with
    /// out-of-order ingestion off: not before what the blocks hold, nor
    /// more than half a chunk range behind the newest sample, so that the
    /// range the next compaction writes never changes under it.
    pub(crate) fn appendable_min_valid_time(&self) -> i64 {
        let max = self.max_time();
        let lag = if max == i64::MIN { i64::MIN } else { max.saturating_sub(self.opts.chunk_range / 2) };
        self.min_valid_time().max(lag)
    }

    /// Whether the head spans more than one and a half chunk ranges, so
    /// that its oldest range can go into a block.
    pub fn compactable(&self) -> bool {
        let (min, max) = (self.min_time(), self.max_time());
        min != i64::MAX && max != i64::MIN && max.saturating_sub(min) > self.opts.chunk_range / 2 * 3
    }

    /// Sets the function called on commit while the head is compactable;
    /// only the first call takes effect.
    pub fn set_compactable_hook(&self, f: Box<dyn Fn() + Send + Sync>) {
        let _ = self.compactable_hook.set(f);
    }

    pub(crate) fn notify_if_compactable(&self) {
        if let Some(f) = self.compactable_hook.get() {
            if self.compactable() {
                f();
            }
        }
    }

    pub fn chunk_range(&self) -> i64 {
        self.opts.chunk_range
    }

    /// Every series, in label order (for writing a block).
    pub fn series_sorted(&self) -> Vec<Arc<MemSeries>> {
        let mut all = Vec::with_capacity(self.num_series());
        self.refs.for_each(|s| all.push(s.clone()));
        all.sort_by(|a, b| a.labels.cmp(&b.labels));
        all
    }

    /// Bytes the head keeps on disk (WAL and head chunk files), which size
    /// retention counts with the blocks.
    pub fn disk_size(&self) -> u64 {
        [&self.opts.wal_dir, &self.opts.chunks_dir].into_iter().flatten().map(|d| dir_size(d)).sum()
    }

    pub fn num_series(&self) -> usize {
        self.refs.len()
    }

    /// Smallest sample timestamp, `i64::MAX` when empty.
    pub fn min_time(&self) -> i64 {
        self.min_time.load(Ordering::Relaxed)
    }

    /// Largest sample timestamp, `i64::MIN` when empty.
    pub fn max_time(&self) -> i64 {
        self.max_time.load(Ordering::Relaxed)
    }

    /// The exemplar ring.
    pub fn exemplars(&self) -> &CircularExemplarStorage {
        &self.exemplars
    }

    /// Resizes the exemplar ring to a reloaded config's `max_exemplars`,
    /// keeping the newest exemplars that fit (Prometheus's
    /// `Head.ApplyConfig`).
    pub fn set_max_exemplars(&self, max_exemplars: i64) {
        let from = self.exemplars.max_exemplars();
        let to = usize::try_from(max_exemplars).unwrap_or(0);
        if from == to {
            return;
        }
        let migrated = self.exemplars.resize(max_exemplars);
        tracing::info!(component = "tsdb", from, to, migrated, "Exemplar storage resized");
    }

    pub(crate) fn disk(&self) -> Option<&ChunkDiskMapper> {
        self.disk.as_ref()
    }

    pub(crate) fn postings(&self) -> std::sync::RwLockReadGuard<'_, MemPostings> {
        self.postings.read().unwrap_or_else(|p| p.into_inner())
    }

    fn add_tombstone(&self, r: u64, mint: i64, maxt: i64) {
        let mut t = self.tombstones.write().unwrap_or_else(|p| p.into_inner());
        crate::block::add_interval(t.entry(r).or_default(), mint, maxt);
        self.has_tombstones.store(true, Ordering::Relaxed);
    }

    /// Deleted intervals of series `r`, sorted; none is the common case
    /// and costs one atomic load.
    pub(crate) fn deleted(&self, r: u64) -> Vec<(i64, i64)> {
        if !self.has_tombstones.load(Ordering::Relaxed) {
            return Vec::new();
        }
        self.tombstones.read().unwrap_or_else(|p| p.into_inner()).get(&r).cloned().unwrap_or_default()
    }

    /// Marks `[mint, maxt]` of every series matching `matchers` deleted,
    /// clamped to the samples each holds, logging the deletion first so
    /// that it survives a restart.
    pub fn delete(&self, mint: i64, maxt: i64, matchers: &[Matcher]) -> Result<(), StorageError> {
        let mut stones = Vec::new();
        let refs = self.postings().select(matchers);
        for r in refs {
            let Some(s) = self.series_by_ref(r) else { continue };
            let data = s.lock();
            let (Some(first), Some((last, _))) = (data.min_time(), data.last()) else { continue };
            if data.has_samples_in(mint, maxt) {
                stones.push(record::Stone { r, intervals: vec![(mint.max(first), maxt.min(last))] });
            }
        }
        if stones.is_empty() {
            return Ok(());
        }
        let mut buf = Vec::new();
        record::encode_tombstones(&stones, &mut buf);
        self.log(&[&buf])?;
        for st in stones {
            for (lo, hi) in st.intervals {
                self.add_tombstone(st.r, lo, hi);
            }
        }
        Ok(())
    }

    /// Drops every chunk that ends before `mint` and every series left
    /// empty, and refuses samples older than `mint` from now on. Called once
    /// the data before `mint` is safely in a block.
    pub fn truncate(&self, mint: i64) {
        let start = std::time::Instant::now();
        self.min_valid_time.fetch_max(mint, Ordering::Relaxed);
        let mut gone: Vec<(u64, Labels, u64)> = Vec::new();
        let mut chunks_removed = 0;
        self.refs.for_each(|s| {
            let mut data = s.lock();
            chunks_removed += data.truncate_before(mint);
            if data.is_empty() {
                gone.push((s.r, s.labels.clone(), label_hash(&s.labels)));
            }
        });
        for (r, labels, hash) in &gone {
            self.refs.remove(*r);
            self.shard(*hash).write().unwrap_or_else(|p| p.into_inner()).remove(*hash, labels);
        }
        let mut refs: Vec<u64> = gone.iter().map(|g| g.0).collect();
        refs.sort_unstable();
        let by_ref: HashMap<u64, Labels> = gone.into_iter().map(|(r, l, _)| (r, l)).collect();
        if self.has_tombstones.load(Ordering::Relaxed) {
            // Deletions of data now in blocks, or of series now gone, are
            // done with.
            let mut t = self.tombstones.write().unwrap_or_else(|p| p.into_inner());
            t.retain(|r, iv| {
                iv.retain(|&(_, hi)| hi >= mint);
                !iv.is_empty() && !by_ref.contains_key(r)
            });
        }
        self.postings.write().unwrap_or_else(|p| p.into_inner()).delete(&refs, |r| by_ref.get(&r).cloned());
        let mut new_min: Option<i64> = None;
        self.refs.for_each(|s| {
            if let Some(t) = s.lock().min_time() {
                new_min = Some(new_min.map_or(t, |m| m.min(t)));
            }
        });
        self.min_time.store(new_min.unwrap_or(i64::MAX), Ordering::Relaxed);
        if let Some(t) = new_min {
            self.metrics.min_time.set(t);
        }
        self.metrics.series.dec_by(refs.len() as i64);
        self.metrics.series_removed.inc_by(refs.len() as u64);
        self.metrics.chunks.dec_by(chunks_removed as i64);
        self.metrics.chunks_removed.inc_by(chunks_removed as u64);
        self.metrics.gc_duration.observe(start.elapsed().as_secs_f64());
        if let Some(d) = &self.disk {
            if let Err(e) = d.truncate(mint) {
                tracing::error!(component = "tsdb", err = %e, "Failed to delete old head chunk files");
            }
        }
        if let Err(e) = self.truncate_wal(mint) {
            // The head is consistent either way; the log is just longer.
            tracing::error!(component = "tsdb", err = %e, "Failed to truncate the WAL");
        }
    }

    /// Replaces the older two thirds of the closed WAL segments with a
    /// checkpoint holding only what the head still needs (its series, and
    /// samples at or after `mint`), as Prometheus does after truncating.
    fn truncate_wal(&self, mint: i64) -> Result<(), wal::WalError> {
        let (Some(w), Some(dir)) = (&self.wal, &self.opts.wal_dir) else { return Ok(()) };
        let Some((first, last)) = wal::segments(dir)? else { return Ok(()) };
        // The last segment is being written: never checkpoint it.
        let Some(last) = last.checked_sub(1) else { return Ok(()) };
        if last <= first {
            return Ok(());
        }
        let last = first + (last - first) * 2 / 3;
        wal::checkpoint(dir, first, last, |r| self.series_by_ref(r).is_some(), mint, self.opts.wal_compression)?;
        w.lock().unwrap_or_else(|p| p.into_inner()).truncate(last + 1)?;
        wal::delete_checkpoints(dir, last)?;
        Ok(())
    }

    /// Flushes and closes the write-ahead log.
    pub fn close(&self) -> Result<(), HeadError> {
        if let Some(d) = &self.disk {
            d.close()?;
        }
        if let Some(w) = &self.wal {
            w.lock().unwrap_or_else(|p| p.into_inner()).close()?;
        }
        Ok(())
    }
}

/// Bytes of the files under `dir`, recursively; what cannot be read counts
/// nothing.
pub(crate) fn dir_size(dir: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(dir) else { return 0 };
    rd.flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// The head as the rest of the server sees it.
#[derive(Debug, Clone)]
pub struct HeadStorage(pub Arc<Head>);

impl Appendable for HeadStorage {
    fn appender(&self) -> Box<dyn Appender> {
        Box::new(HeadAppender::new(self.0.clone()))
    }
}

impl Queryable for HeadStorage {
    fn querier(&self, mint: i64, maxt: i64) -> Result<Box<dyn Querier>, StorageError> {
        Ok(Box::new(HeadQuerier::new(self.0.clone(), mint, maxt)))
    }
}

impl ExemplarQueryable for HeadStorage {
    fn exemplar_querier(&self) -> Result<Box<dyn ExemplarQuerier>, StorageError> {
        Ok(Box::new(self.clone()))
    }
}

/// Reads the exemplar ring as it is at each select; exemplars have no
/// snapshot to pin, as in Prometheus.
impl ExemplarQuerier for HeadStorage {
    fn select(&self, start: i64, end: i64, matcher_sets: &[Vec<Matcher>]) -> Result<Vec<ExemplarSeries>, StorageError> {
        Ok(self.0.exemplars.select(start, end, matcher_sets))
    }
}

#[cfg(test)]
mod tests;
