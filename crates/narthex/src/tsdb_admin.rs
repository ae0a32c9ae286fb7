//! The TSDB behind the web layer's status and admin endpoints
//! (`web::TsdbAdmin`): the head's statistics, and snapshots into
//! `<data>/snapshots/<name>` as Prometheus takes them (persisted blocks
//! hard-linked, the head written as one more block).
//!
//! Deleting series needs tombstones, which the head does not keep yet: the
//! call fails and says so rather than pretending. Cleaning tombstones has
//! nothing to do until something writes them, unless a block copied in
//! from Prometheus carries some, which is refused the same way.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use model::{MatchType, Matcher};
use storage::{Queryable, ValueType};
use tsdb::block::{Block, SeriesSamples, Ulid, WriteOptions, block_dirs, write_block_with};
use tsdb::head::{Head, HeadStorage};
use web::{HeadStats, Stat, TsdbAdmin, TsdbAdminError, TsdbStatus};

/// Where snapshots go, inside the data folder (Prometheus's name).
const SNAPSHOTS_DIR: &str = "snapshots";

type HeadSource = dyn Fn() -> Option<Arc<Head>> + Send + Sync;

pub struct HeadAdmin {
    /// The head once open; `None` while the WAL replays.
    head: Box<HeadSource>,
    data_dir: PathBuf,
}

impl std::fmt::Debug for HeadAdmin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeadAdmin").field("data_dir", &self.data_dir).finish_non_exhaustive()
    }
}

impl HeadAdmin {
    /// `head` answers the open head (e.g. `ReadyStorage::head`), so that
    /// the admin API can be built before storage opens.
    pub fn new(head: impl Fn() -> Option<Arc<Head>> + Send + Sync + 'static, data_dir: PathBuf) -> HeadAdmin {
        HeadAdmin { head: Box::new(head), data_dir }
    }

    fn head(&self) -> Result<Arc<Head>, TsdbAdminError> {
        (self.head)().ok_or(TsdbAdminError::NotReady)
    }
}

fn failed(e: impl std::fmt::Display) -> TsdbAdminError {
    TsdbAdminError::Failed(e.to_string())
}

impl TsdbAdmin for HeadAdmin {
    fn status(&self, limit: usize) -> Result<TsdbStatus, TsdbAdminError> {
        let s = self.head()?.stats(limit);
        let stats = |v: Vec<(String, u64)>| v.into_iter().map(|(name, value)| Stat { name, value }).collect();
        Ok(TsdbStatus {
            head_stats: HeadStats {
                num_series: s.num_series,
                num_label_pairs: s.num_label_pairs,
                chunk_count: s.chunk_count,
                min_time: s.min_time,
                max_time: s.max_time,
            },
            series_count_by_metric_name: stats(s.series_count_by_metric_name),
            label_value_count_by_label_name: stats(s.label_value_count_by_label_name),
            memory_in_bytes_by_label_name: stats(s.memory_in_bytes_by_label_name),
            series_count_by_label_value_pair: stats(s.series_count_by_label_value_pair),
        })
    }

    fn delete_series(&self, _matcher_sets: &[Vec<Matcher>], _start: i64, _end: i64) -> Result<(), TsdbAdminError> {
        self.head()?;
        Err(failed("deleting series is not supported yet: the head keeps no tombstones"))
    }

    fn clean_tombstones(&self) -> Result<(), TsdbAdminError> {
        self.head()?;
        for dir in block_dirs(&self.data_dir).map_err(failed)? {
            let block = Block::open(&dir).map_err(failed)?;
            if !block.tombstones().is_empty() {
                return Err(failed(format!("cleaning tombstones is not supported yet: block {} has some", block.meta().ulid)));
            }
        }
        Ok(())
    }

    fn snapshot(&self, skip_head: bool) -> Result<String, TsdbAdminError> {
        let head = self.head()?;
        let name = snapshot_name(std::time::SystemTime::now(), Ulid::new().0 as u64);
        let dir = self.data_dir.join(SNAPSHOTS_DIR).join(&name);
        std::fs::create_dir_all(&dir).map_err(|e| failed(format!("create snapshot directory: {e}")))?;
        for block in block_dirs(&self.data_dir).map_err(|e| failed(format!("create snapshot: {e}")))? {
            link_block(&block, &dir).map_err(|e| failed(format!("create snapshot: error snapshotting block: {}: {e}", block.display())))?;
        }
        if !skip_head {
            write_head_block(&head, &dir).map_err(|e| failed(format!("create snapshot: snapshot head block: {e}")))?;
        }
        Ok(name)
    }
}

/// Prometheus's snapshot name: the UTC time to the second and 63 random
/// bits in hex (`20171210T211224Z-2be650b6d019eb54`).
fn snapshot_name(now: std::time::SystemTime, random: u64) -> String {
    let secs = now.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
    let (y, mo, d) = model::time::civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    format!("{y:04}{mo:02}{d:02}T{:02}{:02}{:02}Z-{:016x}", rem / 3600, rem / 60 % 60, rem % 60, random & (i64::MAX as u64))
}

/// Hard-links a block's files into `<dir>/<its name>`, as Prometheus does:
/// a snapshot costs no copy, and blocks are never modified in place.
fn link_block(block: &Path, dir: &Path) -> std::io::Result<()> {
    let name = block.file_name().ok_or_else(|| std::io::Error::other("block path without a name"))?;
    let dst = dir.join(name);
    std::fs::create_dir_all(dst.join(tsdb::block::CHUNKS_DIRNAME))?;
    for f in [tsdb::block::META_FILENAME, tsdb::block::INDEX_FILENAME, tsdb::block::TOMBSTONES_FILENAME] {
        let src = block.join(f);
        // Very old blocks may lack tombstones; readers take none then.
        if f == tsdb::block::TOMBSTONES_FILENAME && !src.exists() {
            continue;
        }
        std::fs::hard_link(&src, dst.join(f))?;
    }
    for entry in std::fs::read_dir(block.join(tsdb::block::CHUNKS_DIRNAME))? {
        let entry = entry?;
        std::fs::hard_link(entry.path(), dst.join(tsdb::block::CHUNKS_DIRNAME).join(entry.file_name()))?;
    }
    Ok(())
}

/// Writes every sample of the head as one block in `dir`; an empty head
/// writes none, as Prometheus's compactor. The samples are gathered in
/// memory first, because the block writer takes whole series.
fn write_head_block(head: &Arc<Head>, dir: &Path) -> Result<(), String> {
    let (mint, maxt) = (head.min_time(), head.max_time());
    if mint > maxt {
        return Ok(());
    }
    let q = HeadStorage(head.clone()).querier(mint, maxt).map_err(|e| e.to_string())?;
    // Matches every series: the empty name is no label's.
    let all = Matcher::new(MatchType::Regexp, "", ".*").map_err(|e| e.to_string())?;
    let mut set = q.select(false, None, std::slice::from_ref(&all));
    let mut series = Vec::new();
    while let Some(s) = set.next() {
        let mut samples = Vec::new();
        let mut it = s.iterator();
        while it.next() == ValueType::Float {
            samples.push(it.at());
        }
        if let Some(e) = it.err() {
            return Err(e.to_string());
        }
        series.push(SeriesSamples { labels: s.labels().clone(), samples });
    }
    if let Some(e) = set.err() {
        return Err(e.to_string());
    }
    match write_block_with(dir, series, &WriteOptions::default()) {
        Ok(_) | Err(tsdb::block::BlockError::Empty) => Ok(()),
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use model::Labels;
    use storage::{Appendable, SeriesRef};
    use tsdb::head::{HeadMetrics, HeadOptions};

    use super::*;

    fn head_with(samples: &[(&str, i64, f64)]) -> Arc<Head> {
        let head = Head::open(HeadOptions::default(), HeadMetrics::new(None)).unwrap();
        let mut app = HeadStorage(head.clone()).appender();
        for (name, t, v) in samples {
            app.append(SeriesRef::UNKNOWN, &Labels::from_pairs([("__name__", *name), ("job", "j")]), *t, *v).unwrap();
        }
        app.commit().unwrap();
        head
    }

    #[test]
    fn names_as_prometheus() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_512_940_344);
        assert_eq!(snapshot_name(t, 0x2be6_50b6_d019_eb54), "20171210T211224Z-2be650b6d019eb54");
        assert_eq!(snapshot_name(t, u64::MAX), "20171210T211224Z-7fffffffffffffff", "63 bits, as Go's rand.Int63");
    }

    #[test]
    fn not_ready_until_the_head_opens() {
        let a = HeadAdmin::new(|| None, PathBuf::from("/nonexistent"));
        assert!(matches!(a.status(10), Err(TsdbAdminError::NotReady)));
        assert!(matches!(a.snapshot(false), Err(TsdbAdminError::NotReady)));
        assert!(matches!(a.clean_tombstones(), Err(TsdbAdminError::NotReady)));
    }

    #[test]
    fn status_converts_the_head_stats() {
        let head = head_with(&[("up", 1000, 1.0), ("up", 2000, 1.0), ("down", 1500, 0.0)]);
        let a = HeadAdmin::new(move || Some(head.clone()), PathBuf::new());
        let s = a.status(1).unwrap();
        assert_eq!(s.head_stats, HeadStats { num_series: 2, num_label_pairs: 3, chunk_count: 2, min_time: 1000, max_time: 2000 });
        assert_eq!(s.series_count_by_metric_name, [Stat { name: "down".into(), value: 1 }]);
        assert_eq!(s.series_count_by_label_value_pair, [Stat { name: "job=j".into(), value: 2 }]);
    }

    #[test]
    fn snapshot_links_blocks_and_writes_the_head() {
        let data = tempfile::tempdir().unwrap();
        let old = write_block_with(
            data.path(),
            vec![SeriesSamples { labels: Labels::from_pairs([("__name__", "old")]), samples: vec![(10, 1.0)] }],
            &WriteOptions::default(),
        )
        .unwrap();
        let head = head_with(&[("up", 1000, 1.0), ("up", 2000, 2.0)]);
        let h = head.clone();
        let a = HeadAdmin::new(move || Some(h.clone()), data.path().to_owned());

        let name = a.snapshot(false).unwrap();
        let dir = data.path().join("snapshots").join(&name);
        let mut blocks = block_dirs(&dir).unwrap();
        assert_eq!(blocks.len(), 2);
        blocks.retain(|b| b.file_name().is_some_and(|n| n != old.ulid.as_str()));
        let written = Block::open(&blocks[0]).unwrap();
        assert_eq!((written.meta().min_time, written.meta().max_time, written.meta().stats.num_samples), (1000, 2001, 2));
        let linked = dir.join(&old.ulid).join("index");
        assert_eq!(std::fs::read(&linked).unwrap(), std::fs::read(data.path().join(&old.ulid).join("index")).unwrap());

        let name = a.snapshot(true).unwrap();
        let only_blocks = block_dirs(&data.path().join("snapshots").join(name)).unwrap();
        assert_eq!(only_blocks.len(), 1, "skip_head leaves the head out");

        let empty = Head::open(HeadOptions::default(), HeadMetrics::new(None)).unwrap();
        let a = HeadAdmin::new(move || Some(empty.clone()), data.path().join("other"));
        let name = a.snapshot(false).unwrap();
        assert!(block_dirs(&data.path().join("other/snapshots").join(name)).unwrap().is_empty(), "an empty head writes no block");
    }

    #[test]
    fn delete_is_refused_and_clean_has_nothing_to_do() {
        let data = tempfile::tempdir().unwrap();
        let head = head_with(&[("up", 1000, 1.0)]);
        let a = HeadAdmin::new(move || Some(head.clone()), data.path().to_owned());
        assert!(matches!(a.delete_series(&[vec![]], 0, 1), Err(TsdbAdminError::Failed(m)) if m.contains("not supported")));
        assert!(a.clean_tombstones().is_ok());
    }
}
