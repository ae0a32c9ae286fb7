//! The database: a data folder holding persistent blocks beside the head
//! and its write-ahead log, laid out as Prometheus lays it out (`lock`,
//! `wal/`, `chunks_head/`, one folder per block), so that either server
//! opens what the other wrote.
//!
//! [`Db`] owns the life of blocks: the head's oldest range is written as a
//! block once the head spans one and a half ranges, blocks are merged into
//! larger ones level by level, and retention deletes the oldest. Readers get
//! the blocks and the head merged into one [`storage::Querier`].

mod compact;
mod metrics;
mod querier;

#[cfg(test)]
mod tests;

use std::collections::HashSet;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use model::Matcher;
use storage::{Appendable, Appender, ExemplarQuerier, ExemplarQueryable, Querier, Queryable, StorageError};

pub use compact::{exponential_block_ranges, plan};
pub use metrics::DbMetrics;
pub use querier::DbQuerier;

use crate::block::{self, Block, BlockError, BlockMeta, TMP_CREATION_SUFFIX, Ulid};
use crate::head::{Head, HeadError, HeadMetrics, HeadOptions, HeadStorage};

/// Name of the lock file in the data folder, as Prometheus names it.
pub const LOCK_FILENAME: &str = "lock";
/// Suffix of a block folder being deleted.
pub const TMP_DELETION_SUFFIX: &str = ".tmp-for-deletion";
const DAY_MS: i64 = 24 * 3600 * 1000;

/// Settings of the database, as Prometheus's storage flags give them.
#[derive(Debug, Clone)]
pub struct DbOptions {
    /// Blocks whose end is this far behind the newest block's end are
    /// deleted; zero keeps them.
    pub retention_duration: i64,
    /// Oldest blocks are deleted while blocks, WAL and head chunks together
    /// take more bytes than this; zero sets no limit.
    pub max_bytes: u64,
    /// The head's chunk range and the range of a level-1 block.
    pub min_block_duration: i64,
    /// Compaction never makes a block longer than this.
    pub max_block_duration: i64,
    /// Head settings; the WAL and chunk folders and the chunk range are
    /// set from the data folder and `min_block_duration`.
    pub head: HeadOptions,
    /// Do not take the lock file (`--storage.tsdb.no-lockfile`).
    pub no_lockfile: bool,
}

impl Default for DbOptions {
    fn default() -> Self {
        DbOptions {
            retention_duration: 15 * DAY_MS,
            max_bytes: 0,
            min_block_duration: 2 * 3600 * 1000,
            max_block_duration: 15 * DAY_MS / 10,
            head: HeadOptions::default(),
            no_lockfile: false,
        }
    }
}

impl DbOptions {
    /// The maximum block duration Prometheus derives when the flag is not
    /// given: a tenth of the time retention, at most 31 days.
    pub fn default_max_block_duration(retention_duration: i64) -> i64 {
        let cap = 31 * DAY_MS;
        if retention_duration != 0 && retention_duration / 10 < cap { retention_duration / 10 } else { cap }
    }
}

/// Why the database could not open or a maintenance step failed.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("lock DB directory: resource temporarily unavailable (another server holds {})", path.display())]
    Locked { path: PathBuf },
    #[error("{0}")]
    Block(#[from] BlockError),
    #[error("{0}")]
    Head(#[from] HeadError),
    #[error("{0}")]
    Storage(String),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> DbError + '_ {
    move |source| DbError::Io { path: path.to_owned(), source }
}

/// What one [`Db::compact`] did with the head, for benchmarks: blocks
/// written, the time writing them (what Prometheus's "write block" log
/// line times) and the time truncating the head and its WAL after.
#[derive(Debug, Clone, Copy, Default)]
pub struct CompactionStats {
    pub head_blocks: usize,
    pub head_write: std::time::Duration,
    pub head_truncate: std::time::Duration,
}

/// An open data folder.
pub struct Db {
    dir: PathBuf,
    opts: DbOptions,
    /// Block ranges compaction builds, smallest (the head's) first.
    ranges: Vec<i64>,
    head: Arc<Head>,
    /// Open blocks, oldest (by minimum time) first. Readers clone the list
    /// and keep their blocks mapped for as long as they read.
    blocks: RwLock<Arc<Vec<Arc<Block>>>>,
    /// One compaction (or deletion, or snapshot) at a time.
    compaction: Mutex<()>,
    /// Held open, and locked, for as long as the database is.
    _lock: Option<File>,
    metrics: DbMetrics,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db").field("dir", &self.dir).field("blocks", &self.blocks().len()).field("head", &self.head).finish()
    }
}

impl Db {
    /// Opens (creating if need be) the data folder `dir`: takes the lock,
    /// removes what an interrupted write or deletion left, opens the
    /// blocks, then the head, replaying its log from where the blocks end.
    pub fn open(dir: &Path, mut opts: DbOptions, head_metrics: HeadMetrics, metrics: DbMetrics) -> Result<Db, DbError> {
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        let lock = if opts.no_lockfile { None } else { Some(take_lock(dir)?) };
        remove_tmp_dirs(dir)?;
        if opts.max_block_duration < opts.min_block_duration {
            opts.max_block_duration = opts.min_block_duration;
        }
        let ranges = exponential_block_ranges(opts.min_block_duration, opts.max_block_duration);

        let mut blocks = Vec::new();
        for d in block::block_dirs(dir)? {
            blocks.push(Arc::new(Block::open(&d)?));
        }
        // A compaction that wrote its block but was stopped before deleting
        // the parents leaves both: the parents go now.
        let parents: HashSet<String> = blocks.iter().flat_map(|b| b.meta().compaction.parents.iter().map(|p| p.ulid.clone())).collect();
        let (gone, kept): (Vec<_>, Vec<_>) = blocks.into_iter().partition(|b| parents.contains(&b.meta().ulid));
        for b in gone {
            delete_block_dir(b.dir())?;
        }
        let mut blocks = kept;
        blocks.sort_by_key(|b| b.meta().min_time);

        opts.head.chunk_range = opts.min_block_duration;
        opts.head.wal_dir = Some(dir.join("wal"));
        opts.head.chunks_dir = Some(dir.join("chunks_head"));
        if let Some(last) = blocks.iter().map(|b| b.meta().max_time).max() {
            opts.head.min_valid_time = opts.head.min_valid_time.max(last);
        }
        let head = Head::open(opts.head.clone(), head_metrics)?;
        metrics.retention_limit_bytes.set(i64::try_from(opts.max_bytes).unwrap_or(i64::MAX));
        let db = Db { dir: dir.to_owned(), opts, ranges, head, blocks: RwLock::new(Arc::new(blocks)), compaction: Mutex::new(()), _lock: lock, metrics };
        // Retention as of now, as Prometheus's open applies it.
        db.reload()?;
        Ok(db)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn head(&self) -> &Arc<Head> {
        &self.head
    }

    pub fn metrics(&self) -> &DbMetrics {
        &self.metrics
    }

    /// The open blocks, oldest first.
    pub fn blocks(&self) -> Arc<Vec<Arc<Block>>> {
        self.blocks.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Writes the head's oldest ranges into blocks while it spans more
    /// than one and a half ranges, truncating the head and its log behind
    /// them, then compacts blocks and applies retention. Blocking: run it
    /// off the async workers; the server runs it every minute and whenever
    /// the head becomes compactable.
    pub fn compact(&self) -> Result<CompactionStats, DbError> {
        let _guard = self.compaction.lock().unwrap_or_else(|p| p.into_inner());
        self.metrics.compactions_triggered.inc();
        let range = self.head.chunk_range();
        let mut stats = CompactionStats::default();
        while self.head.compactable() {
            let mint = self.head.min_time();
            // Half-open, aligned as the head aligns its chunks.
            let maxt = crate::head::range_end(mint, range);
            self.compact_head(mint, maxt, &mut stats)?;
        }
        self.compact_blocks()?;
        // Retention is applied on every run, as Prometheus's minutely
        // reload applies it, not only when a block was written.
        self.reload()?;
        Ok(stats)
    }

    /// Writes `[mint, maxt)` of the head as a block, makes it visible, then
    /// drops that range from the head and its log.
    fn compact_head(&self, mint: i64, maxt: i64, stats: &mut CompactionStats) -> Result<(), DbError> {
        let start = std::time::Instant::now();
        let written = compact::write_head_block(&self.dir, &self.head, mint, maxt);
        stats.head_write += start.elapsed();
        match written {
            Ok(Some(meta)) => {
                stats.head_blocks += 1;
                self.metrics.compactions.inc();
                self.metrics.compaction_duration.observe(start.elapsed().as_secs_f64());
                tracing::info!(component = "tsdb", ulid = %meta.ulid, mint, maxt, duration = ?start.elapsed(), "write block");
            }
            // A range without samples makes no block, as in Prometheus.
            Ok(None) => {}
            Err(e) => {
                self.metrics.compactions_failed.inc();
                return Err(e.into());
            }
        }
        self.reload()?;
        self.metrics.head_truncations.inc();
        let t = std::time::Instant::now();
        self.head.truncate(maxt);
        stats.head_truncate += t.elapsed();
        tracing::info!(component = "tsdb", duration = ?t.elapsed(), "Head GC completed");
        Ok(())
    }

    /// Merges blocks as the planner says until it has nothing more to do.
    fn compact_blocks(&self) -> Result<(), DbError> {
        loop {
            let blocks = self.blocks();
            let metas: Vec<BlockMeta> = blocks
                .iter()
                .map(|b| {
                    let mut m = b.meta().clone();
                    m.stats.num_tombstones = b.num_tombstones();
                    m
                })
                .collect();
            let chosen = plan(&metas, &self.ranges);
            if chosen.is_empty() {
                return Ok(());
            }
            let parents: Vec<Arc<Block>> = chosen.iter().map(|&i| blocks[i].clone()).collect();
            let start = std::time::Instant::now();
            match compact::merge_blocks(&self.dir, &parents, self.head.chunk_range()) {
                Ok(meta) => {
                    self.metrics.compactions.inc();
                    self.metrics.compaction_duration.observe(start.elapsed().as_secs_f64());
                    let sources: Vec<&str> = parents.iter().map(|b| b.meta().ulid.as_str()).collect();
                    tracing::info!(component = "tsdb", ulid = meta.as_ref().map(|m| m.ulid.as_str()).unwrap_or("(empty)"), ?sources, duration = ?start.elapsed(), "compact blocks");
                }
                Err(e) => {
                    self.metrics.compactions_failed.inc();
                    return Err(e.into());
                }
            }
            // The parents are deleted now; the new block names them, so
            // a crash before this point deletes them at the next start.
            for p in &parents {
                delete_block_dir(p.dir())?;
            }
            self.reload()?;
        }
    }

    /// Re-reads the block folders: opens new blocks, forgets deleted ones,
    /// and deletes what retention or a finished compaction made obsolete.
    pub fn reload(&self) -> Result<(), DbError> {
        self.metrics.reloads.inc();
        let result = self.reload_inner();
        if result.is_err() {
            self.metrics.reloads_failed.inc();
        }
        result
    }

    fn reload_inner(&self) -> Result<(), DbError> {
        let old = self.blocks();
        let mut blocks = Vec::new();
        for d in block::block_dirs(&self.dir)? {
            let name = d.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
            match old.iter().find(|b| b.meta().ulid == name) {
                Some(b) => blocks.push(b.clone()),
                None => blocks.push(Arc::new(Block::open(&d)?)),
            }
        }
        blocks.sort_by_key(|b| b.meta().min_time);
        let deletable = self.deletable(&blocks);
        if !deletable.is_empty() {
            blocks.retain(|b| !deletable.contains(&b.meta().ulid));
            *self.blocks.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(blocks);
            for name in &deletable {
                delete_block_dir(&self.dir.join(name))?;
            }
        } else {
            *self.blocks.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(blocks);
        }
        self.update_block_metrics();
        Ok(())
    }

    /// Blocks to delete: parents of other blocks, then those beyond time
    /// retention, then the oldest beyond size retention.
    fn deletable(&self, blocks: &[Arc<Block>]) -> HashSet<String> {
        let mut out: HashSet<String> = blocks.iter().flat_map(|b| b.meta().compaction.parents.iter().map(|p| p.ulid.clone())).collect();
        // Newest first, as retention walks them.
        let live: Vec<&Arc<Block>> = blocks.iter().rev().filter(|b| !out.contains(&b.meta().ulid)).collect();
        let mut expired = HashSet::new();
        if self.opts.retention_duration > 0 {
            if let Some(newest) = live.first().map(|b| b.meta().max_time) {
                if let Some(i) = live.iter().position(|b| newest - b.meta().max_time > self.opts.retention_duration) {
                    expired.extend(live[i..].iter().map(|b| b.meta().ulid.clone()));
                    self.metrics.time_retentions.inc();
                }
            }
        }
        if self.opts.max_bytes > 0 {
            // The head's files count first: they cannot be deleted.
            let mut size = self.head.disk_size();
            for (i, b) in live.iter().enumerate() {
                size += b.size();
                if size > self.opts.max_bytes {
                    let before = expired.len();
                    expired.extend(live[i..].iter().map(|b| b.meta().ulid.clone()));
                    if expired.len() > before {
                        self.metrics.size_retentions.inc();
                    }
                    break;
                }
            }
        }
        out.extend(expired);
        out
    }

    fn update_block_metrics(&self) {
        let blocks = self.blocks();
        self.metrics.blocks_loaded.set(blocks.len() as i64);
        self.metrics.blocks_bytes.set(blocks.iter().map(|b| i64::try_from(b.size()).unwrap_or(i64::MAX)).sum());
        let lowest = blocks.first().map(|b| b.meta().min_time).unwrap_or_else(|| self.head.min_time());
        if lowest != i64::MAX {
            self.metrics.lowest_timestamp.set(lowest);
            self.metrics.lowest_timestamp_seconds.set(lowest / 1000);
        }
    }

    /// Deletes `[mint, maxt]` of every series matching `matchers`, in the
    /// blocks (tombstones files) and the head (its WAL): reads stop seeing
    /// the samples at once; compaction or [`Db::clean_tombstones`] removes
    /// them from disk.
    pub fn delete(&self, mint: i64, maxt: i64, matchers: &[Matcher]) -> Result<(), DbError> {
        let _guard = self.compaction.lock().unwrap_or_else(|p| p.into_inner());
        for b in self.blocks().iter() {
            if b.meta().min_time <= maxt && b.meta().max_time > mint {
                b.delete(mint, maxt, matchers)?;
            }
        }
        self.head.delete(mint, maxt, matchers).map_err(|e| DbError::Storage(e.to_string()))?;
        self.update_block_metrics();
        Ok(())
    }

    /// Rewrites every block that has deletions without the deleted data,
    /// replacing the old block.
    pub fn clean_tombstones(&self) -> Result<(), DbError> {
        let _guard = self.compaction.lock().unwrap_or_else(|p| p.into_inner());
        for b in self.blocks().iter() {
            if b.tombstones().is_empty() {
                continue;
            }
            let meta = compact::rewrite_block(&self.dir, b, self.head.chunk_range())?;
            tracing::info!(component = "tsdb", old = %b.meta().ulid, new = meta.as_ref().map(|m| m.ulid.as_str()).unwrap_or("(empty)"), "Cleaned tombstones");
            delete_block_dir(b.dir())?;
        }
        self.reload()
    }

    /// Hard-links every block into `<dir>/snapshots/<time>-<random>`, and
    /// with `with_head` writes the head there as one more block; returns
    /// the snapshot's folder name.
    pub fn snapshot(&self, with_head: bool) -> Result<String, DbError> {
        let _guard = self.compaction.lock().unwrap_or_else(|p| p.into_inner());
        let name = snapshot_name(std::time::SystemTime::now(), Ulid::new().0 as u64);
        let dst = self.dir.join("snapshots").join(&name);
        std::fs::create_dir_all(&dst).map_err(io_err(&dst))?;
        for b in self.blocks().iter() {
            link_tree(b.dir(), &dst.join(&b.meta().ulid))?;
        }
        if with_head {
            let (mint, maxt) = (self.head.min_time(), self.head.max_time());
            if mint <= maxt {
                compact::write_head_block(&dst, &self.head, mint, maxt.saturating_add(1))?;
            }
        }
        Ok(name)
    }

    /// Flushes and closes the head; the lock goes with the value.
    pub fn close(&self) -> Result<(), DbError> {
        let _guard = self.compaction.lock().unwrap_or_else(|p| p.into_inner());
        Ok(self.head.close()?)
    }
}

/// Takes an exclusive lock on `<dir>/lock`, so that no second server, of
/// ours or Prometheus, opens the folder while we have it.
fn take_lock(dir: &Path) -> Result<File, DbError> {
    let path = dir.join(LOCK_FILENAME);
    let f = File::options().create(true).truncate(false).read(true).write(true).open(&path).map_err(io_err(&path))?;
    // flock, as Prometheus locks: a Prometheus on the same folder is
    // refused too.
    match rustix::fs::flock(&f, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(f),
        Err(rustix::io::Errno::WOULDBLOCK) => Err(DbError::Locked { path }),
        Err(e) => Err(DbError::Io { path, source: e.into() }),
    }
}

/// Prometheus's snapshot name: the UTC time to the second and 63 random
/// bits in hex (`20171210T211224Z-2be650b6d019eb54`).
pub fn snapshot_name(now: std::time::SystemTime, random: u64) -> String {
    let secs = now.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0));
    let (y, mo, d) = model::time::civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    format!("{y:04}{mo:02}{d:02}T{:02}{:02}{:02}Z-{:016x}", rem / 3600, rem / 60 % 60, rem % 60, random & (i64::MAX as u64))
}

/// Recreates `src` at `dst` with hard links to its files.
fn link_tree(src: &Path, dst: &Path) -> Result<(), DbError> {
    std::fs::create_dir_all(dst).map_err(io_err(dst))?;
    for e in std::fs::read_dir(src).map_err(io_err(src))? {
        let e = e.map_err(io_err(src))?;
        let to = dst.join(e.file_name());
        if e.file_type().map_err(io_err(&e.path()))?.is_dir() {
            link_tree(&e.path(), &to)?;
        } else {
            std::fs::hard_link(e.path(), &to).map_err(io_err(&to))?;
        }
    }
    Ok(())
}

/// Removes blocks half written or half deleted by a stopped server.
fn remove_tmp_dirs(dir: &Path) -> Result<(), DbError> {
    let rd = std::fs::read_dir(dir).map_err(io_err(dir))?;
    for entry in rd.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if (name.ends_with(TMP_CREATION_SUFFIX) || name.ends_with(TMP_DELETION_SUFFIX)) && entry.path().is_dir() {
            tracing::info!(component = "tsdb", dir = %entry.path().display(), "Found and deleted tmp block dir");
            std::fs::remove_dir_all(entry.path()).map_err(io_err(&entry.path()))?;
        }
    }
    Ok(())
}

/// Deletes a block folder: renamed first, so that a crash midway leaves a
/// folder the next start removes instead of a block missing files.
fn delete_block_dir(dir: &Path) -> Result<(), DbError> {
    if !dir.exists() {
        return Ok(());
    }
    let mut tmp = dir.as_os_str().to_owned();
    tmp.push(TMP_DELETION_SUFFIX);
    let tmp = PathBuf::from(tmp);
    std::fs::rename(dir, &tmp).map_err(io_err(dir))?;
    std::fs::remove_dir_all(&tmp).map_err(io_err(&tmp))
}

impl Appendable for Db {
    fn appender(&self) -> Box<dyn Appender> {
        HeadStorage(self.head.clone()).appender()
    }
}

impl Queryable for Db {
    fn querier(&self, mint: i64, maxt: i64) -> Result<Box<dyn Querier>, StorageError> {
        Ok(DbQuerier::open(&self.blocks(), &self.head, mint, maxt))
    }
}

impl ExemplarQueryable for Db {
    fn exemplar_querier(&self) -> Result<Box<dyn ExemplarQuerier>, StorageError> {
        HeadStorage(self.head.clone()).exemplar_querier()
    }
}
