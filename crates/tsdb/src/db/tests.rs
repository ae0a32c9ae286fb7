use model::{Labels, Matcher};
use storage::{Appendable, LabelHints, Querier, Queryable, SeriesRef};

use super::*;
use crate::block::{SeriesSamples, WriteOptions, write_block_with};

const RANGE: i64 = 100_000;

fn opts(retention: i64, max_bytes: u64, max_block: i64) -> DbOptions {
    DbOptions { retention_duration: retention, max_bytes, min_block_duration: RANGE, max_block_duration: max_block, ..DbOptions::default() }
}

fn open(dir: &Path, o: DbOptions) -> Db {
    Db::open(dir, o, HeadMetrics::new(None), DbMetrics::new(None)).unwrap()
}

fn lbls(name: &str, i: usize) -> Labels {
    Labels::from_pairs([("__name__", name), ("i", &i.to_string())])
}

/// Appends `series` series, one sample each every `step` ms in
/// `[from, to)`, in batches of one timestamp, as scrapes do.
fn fill(db: &Db, series: usize, from: i64, to: i64, step: i64) {
    let mut app = db.appender();
    let mut t = from;
    while t < to {
        for i in 0..series {
            app.append(SeriesRef::UNKNOWN, &lbls("m", i), t, (t / step) as f64 + i as f64).unwrap();
        }
        app.commit().unwrap();
        t += step;
    }
}

fn read(db: &Db, mint: i64, maxt: i64, m: &[Matcher]) -> Vec<(String, Vec<(i64, f64)>)> {
    let q = db.querier(mint, maxt).unwrap();
    let all = storage::read_all(q.select(true, None, m).as_mut()).unwrap();
    all.into_iter().map(|(l, s)| (l.to_string(), s)).collect()
}

fn all_m() -> Vec<Matcher> {
    vec![Matcher::equal("__name__", "m")]
}

fn expected(series: usize, from: i64, to: i64, step: i64) -> Vec<(String, Vec<(i64, f64)>)> {
    let mut out: Vec<_> = (0..series)
        .map(|i| {
            let samples = (0..).map(|k| from + k * step).take_while(|t| *t < to).map(|t| (t, (t / step) as f64 + i as f64)).collect();
            (lbls("m", i).to_string(), samples)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[test]
fn a_second_open_of_the_folder_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path(), opts(0, 0, RANGE));
    let err = Db::open(dir.path(), opts(0, 0, RANGE), HeadMetrics::new(None), DbMetrics::new(None)).unwrap_err();
    assert!(matches!(err, DbError::Locked { .. }), "{err}");
    drop(db);
    open(dir.path(), opts(0, 0, RANGE));
}

#[test]
fn leftover_temporary_block_folders_are_removed_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let half = dir.path().join(format!("01H0000000000000000000000A{TMP_CREATION_SUFFIX}"));
    std::fs::create_dir_all(half.join("chunks")).unwrap();
    let deleting = dir.path().join(format!("01H0000000000000000000000B{TMP_DELETION_SUFFIX}"));
    std::fs::create_dir_all(&deleting).unwrap();
    let _db = open(dir.path(), opts(0, 0, RANGE));
    assert!(!half.exists() && !deleting.exists());
}

#[test]
fn the_head_is_cut_into_blocks_and_reads_stay_whole() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path(), opts(0, 0, RANGE));
    // 3.5 ranges of data: two ranges go to blocks (the head keeps more
    // than one and a half).
    fill(&db, 20, 0, 350_000, 1000);
    assert!(db.head().compactable());
    db.compact().unwrap();
    let blocks = db.blocks();
    let ranges: Vec<(i64, i64)> = blocks.iter().map(|b| (b.meta().min_time, b.meta().max_time)).collect();
    assert_eq!(ranges, vec![(0, 100_000), (100_000, 200_000)]);
    assert_eq!(blocks[0].meta().stats.num_samples, 20 * 100);
    assert_eq!(blocks[0].meta().stats.num_series, 20);
    assert!(db.head().min_time() >= 200_000, "head truncated to {}", db.head().min_time());
    assert!(!db.head().compactable());
    assert_eq!(read(&db, 0, 400_000, &all_m()), expected(20, 0, 350_000, 1000));
    // Reads inside one block, across a boundary, and across block and head.
    assert_eq!(read(&db, 50_000, 149_000, &all_m()), expected(20, 50_000, 150_000, 1000));
    assert_eq!(read(&db, 150_000, 260_000, &all_m()), expected(20, 150_000, 261_000, 1000));
    let names = db.querier(0, 400_000).unwrap().label_values("i", &LabelHints::default(), &[]).unwrap().0;
    assert_eq!(names.len(), 20);
    // Old samples are now out of bounds.
    let mut app = db.appender();
    assert!(app.append(SeriesRef::UNKNOWN, &lbls("m", 0), 150_000, 1.0).is_err());
    drop(app);

    // After a restart the blocks and the replayed head agree, with no
    // sample twice.
    db.close().unwrap();
    drop(db);
    let db = open(dir.path(), opts(0, 0, RANGE));
    assert_eq!(db.blocks().len(), 2);
    assert_eq!(read(&db, 0, 400_000, &all_m()), expected(20, 0, 350_000, 1000));
}

#[test]
fn blocks_are_merged_level_by_level() {
    let dir = tempfile::tempdir().unwrap();
    // Ranges 100 s, 300 s, 900 s.
    let db = open(dir.path(), opts(0, 0, 900_000));
    fill(&db, 5, 0, 1_000_000, 5000);
    db.compact().unwrap();
    let metas: Vec<BlockMeta> = db.blocks().iter().map(|b| b.meta().clone()).collect();
    let summary: Vec<(i64, i64, u32)> = metas.iter().map(|m| (m.min_time, m.max_time, m.compaction.level)).collect();
    // The head keeps [900 s, 1000 s). The newest block (800–900 s) is
    // never chosen, so 600–900 s cannot fill its 300 s window yet, nor
    // 0–900 s its 900 s one: 0–600 s make two level-2 blocks.
    assert_eq!(summary, vec![(0, 300_000, 2), (300_000, 600_000, 2), (600_000, 700_000, 1), (700_000, 800_000, 1), (800_000, 900_000, 1)]);
    assert_eq!(metas[0].compaction.sources.len(), 3);
    assert_eq!(metas[0].compaction.parents.len(), 3);
    assert_eq!(read(&db, 0, 1_000_000, &all_m()), expected(5, 0, 1_000_000, 5000));
    // Only the blocks and the head's files are in the folder.
    let mut names: Vec<String> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    assert_eq!(
        names,
        ["chunks_head", "lock", "wal"]
            .into_iter()
            .map(String::from)
            .chain(metas.iter().map(|m| m.ulid.clone()))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect::<Vec<_>>()
    );
}

#[test]
fn overlapping_blocks_are_merged_and_deduplicated() {
    let dir = tempfile::tempdir().unwrap();
    let mk = |from: i64, to: i64, off: f64| {
        let samples: Vec<(i64, f64)> = (from..to).step_by(1000).map(|t| (t, t as f64 + off)).collect();
        let w = WriteOptions { chunk_range: RANGE, ..WriteOptions::default() };
        write_block_with(dir.path(), vec![SeriesSamples { labels: lbls("m", 0), samples }], &w).unwrap();
    };
    mk(0, 60_000, 0.0);
    mk(30_000, 90_000, 0.5);
    let db = open(dir.path(), opts(0, 0, RANGE * 9));
    // Before compaction, reads merge the overlap: the older block's value
    // wins where both have a sample.
    let before = read(&db, 0, 100_000, &all_m());
    assert_eq!(before[0].1.len(), 90);
    assert_eq!(before[0].1[40], (40_000, 40_000.0));
    assert_eq!(before[0].1[70], (70_000, 70_000.5));
    db.compact().unwrap();
    assert_eq!(db.blocks().len(), 1);
    assert_eq!(db.blocks()[0].meta().compaction.level, 2);
    assert_eq!(read(&db, 0, 100_000, &all_m()), before);
}

#[test]
fn time_retention_deletes_the_oldest_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path(), opts(150_000, 0, RANGE));
    fill(&db, 3, 0, 550_000, 1000);
    db.compact().unwrap();
    // Blocks end at 100, 200, 300, 400 s: those ending more than 150 s
    // before the newest go.
    let ends: Vec<i64> = db.blocks().iter().map(|b| b.meta().max_time).collect();
    assert_eq!(ends, vec![300_000, 400_000]);
    assert!(db.metrics().time_retentions.get() >= 1);
    assert_eq!(read(&db, 0, 1_000_000, &all_m()), expected(3, 200_000, 550_000, 1000));
}

#[test]
fn size_retention_keeps_within_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = open(dir.path(), opts(0, 0, RANGE));
        fill(&db, 50, 0, 550_000, 1000);
        db.compact().unwrap();
        assert_eq!(db.blocks().len(), 4);
    }
    let sizes: Vec<u64> = block::block_dirs(dir.path()).unwrap().iter().map(|d| Block::open(d).unwrap().size()).collect();
    let head_size = crate::head::dir_size(&dir.path().join("wal")) + crate::head::dir_size(&dir.path().join("chunks_head"));
    // Room for the head's files and the two newest blocks only.
    let limit = head_size + sizes[2] + sizes[3] + sizes[1] / 2;
    let db = open(dir.path(), opts(0, limit, RANGE));
    db.reload().unwrap();
    assert_eq!(db.blocks().len(), 2);
    assert_eq!(db.metrics().size_retentions.get(), 1);
}

#[test]
fn parents_left_by_an_interrupted_compaction_are_deleted_at_start() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = open(dir.path(), opts(0, 0, 900_000));
        fill(&db, 2, 0, 600_000, 5000);
        db.compact().unwrap();
    }
    let blocks = block::block_dirs(dir.path()).unwrap();
    let child = blocks.iter().map(|d| Block::open(d).unwrap()).find(|b| b.meta().compaction.level == 2).unwrap();
    // Put a parent back, as if deletion had not happened.
    let parent = &child.meta().compaction.parents[0];
    let samples: Vec<(i64, f64)> = (parent.min_time..parent.max_time).step_by(5000).map(|t| (t, 0.0)).collect();
    let w = WriteOptions { ulid: crate::block::Ulid::parse(&parent.ulid), ..WriteOptions::default() };
    write_block_with(dir.path(), vec![SeriesSamples { labels: lbls("m", 0), samples }], &w).unwrap();
    let db = open(dir.path(), opts(0, 0, 900_000));
    assert!(db.blocks().iter().all(|b| b.meta().ulid != parent.ulid));
    assert!(!dir.path().join(&parent.ulid).exists());
}

#[test]
fn plan_follows_prometheus_rules() {
    let meta = |min: i64, max: i64| BlockMeta {
        ulid: format!("{min}-{max}"),
        min_time: min,
        max_time: max,
        stats: Default::default(),
        compaction: Default::default(),
        version: 1,
    };
    let ranges = exponential_block_ranges(20, 1000);
    assert_eq!(ranges, vec![20, 60, 180, 540]);
    // Nothing to do with one block, nor with the newest alone in range.
    assert!(plan(&[meta(0, 20)], &ranges).is_empty());
    assert!(plan(&[meta(0, 20), meta(20, 40)], &ranges).is_empty());
    // A full 60 window (the newest block outside it) is chosen.
    assert_eq!(plan(&[meta(0, 20), meta(20, 40), meta(40, 60), meta(60, 80)], &ranges), vec![0, 1, 2]);
    // Blocks before the newest are chosen even with gaps.
    assert_eq!(plan(&[meta(0, 20), meta(40, 60), meta(120, 140)], &ranges), vec![0, 1]);
    // Overlaps come first, wherever they are.
    assert_eq!(plan(&[meta(0, 20), meta(20, 40), meta(100, 120), meta(110, 130)], &ranges), vec![2, 3]);
}

#[test]
fn deletion_hides_samples_in_blocks_and_head_and_survives_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path(), opts(0, 0, RANGE));
    fill(&db, 4, 0, 350_000, 1000);
    db.compact().unwrap();
    assert_eq!(db.blocks().len(), 2);
    // Series 1 loses [50 s, 250 s]: parts of both blocks and of the head.
    let m = vec![Matcher::equal("__name__", "m"), Matcher::equal("i", "1")];
    db.delete(50_000, 250_000, &m).unwrap();
    let gone = |from: i64, to: i64| {
        let mut e = expected(4, from, to, 1000);
        let s1 = lbls("m", 1).to_string();
        for (l, samples) in &mut e {
            if *l == s1 {
                samples.retain(|(t, _)| !(50_000..=250_000).contains(t));
            }
        }
        e
    };
    assert_eq!(read(&db, 0, 400_000, &all_m()), gone(0, 350_000));
    assert_eq!(db.blocks()[0].num_tombstones(), 1);
    // Clean rewrites the blocks without the deleted data, same level.
    db.clean_tombstones().unwrap();
    assert!(db.blocks().iter().all(|b| b.tombstones().is_empty() && b.meta().compaction.level == 1));
    assert_eq!(db.blocks()[0].meta().stats.num_samples, 4 * 100 - 50);
    assert_eq!(read(&db, 0, 400_000, &all_m()), gone(0, 350_000));
    // The head's deletion is in its WAL.
    db.close().unwrap();
    drop(db);
    let db = open(dir.path(), opts(0, 0, RANGE));
    assert_eq!(read(&db, 0, 400_000, &all_m()), gone(0, 350_000));
    // And compaction of the head leaves the deleted samples out.
    fill(&db, 4, 350_000, 450_000, 1000);
    db.compact().unwrap();
    assert_eq!(read(&db, 0, 500_000, &all_m()), gone(0, 450_000));
    let third = db.blocks().iter().find(|b| b.meta().min_time == 200_000).map(|b| b.meta().stats.num_samples);
    assert_eq!(third, Some(4 * 100 - 51));
}

#[test]
fn snapshots_are_named_as_prometheus_names_them() {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_512_940_344);
    assert_eq!(snapshot_name(t, 0x2be6_50b6_d019_eb54), "20171210T211224Z-2be650b6d019eb54");
    assert_eq!(snapshot_name(t, u64::MAX), "20171210T211224Z-7fffffffffffffff", "63 bits, as Go's rand.Int63");
}

#[test]
fn a_snapshot_links_the_blocks_and_writes_the_head() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path(), opts(0, 0, RANGE));
    fill(&db, 3, 0, 250_000, 1000);
    db.compact().unwrap();
    let name = db.snapshot(true).unwrap();
    assert!(name.len() == 16 + 1 + 16 && name.as_bytes()[8] == b'T', "{name}");
    let snap = dir.path().join("snapshots").join(&name);
    let blocks: Vec<Arc<Block>> = block::block_dirs(&snap).unwrap().iter().map(|d| Arc::new(Block::open(d).unwrap())).collect();
    assert_eq!(blocks.len(), 2, "one block and the head");
    let q = DbQuerier::open(&blocks, &Head::open(HeadOptions::default(), HeadMetrics::new(None)).unwrap(), 0, 300_000);
    let all = storage::read_all(q.select(true, None, &all_m()).as_mut()).unwrap();
    let all: Vec<(String, Vec<(i64, f64)>)> = all.into_iter().map(|(l, s)| (l.to_string(), s)).collect();
    assert_eq!(all, expected(3, 0, 250_000, 1000));
    let without = db.snapshot(false).unwrap();
    assert_eq!(block::block_dirs(&dir.path().join("snapshots").join(without)).unwrap().len(), 1);
}

#[test]
fn series_that_stopped_are_collected_once_their_range_is_in_a_block() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path(), opts(0, 0, RANGE));
    // Series 0..10 stop at 90 s; series 10..12 go on.
    let mut app = db.appender();
    let mut t = 0;
    while t < 350_000 {
        let from = if t < 90_000 { 0 } else { 10 };
        for i in from..12 {
            app.append(SeriesRef::UNKNOWN, &lbls("m", i), t, 1.0).unwrap();
        }
        app.commit().unwrap();
        t += 1000;
    }
    assert_eq!(db.head().num_series(), 12);
    db.compact().unwrap();
    assert_eq!(db.head().num_series(), 2, "the stopped series are gone from the head");
    // Their data is in the first block and still read.
    assert_eq!(read(&db, 0, 400_000, &all_m()).len(), 12);
    // And the head's label index forgot them.
    let head_q = crate::head::HeadQuerier::new(db.head().clone(), 0, 400_000);
    assert_eq!(head_q.label_values("i", &LabelHints::default(), &[]).unwrap().0, ["10", "11"]);
}

#[test]
fn retention_is_applied_at_open_and_on_every_run_not_only_after_a_write() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = open(dir.path(), opts(0, 0, RANGE));
        fill(&db, 2, 0, 550_000, 1000);
        db.compact().unwrap();
        assert_eq!(db.blocks().len(), 4);
    }
    // Reopened with a retention the blocks exceed: opening applies it.
    let db = open(dir.path(), opts(150_000, 0, RANGE));
    assert_eq!(db.blocks().len(), 2);
    // A new block alone, with nothing to compact: the next run applies it.
    let w = WriteOptions { chunk_range: RANGE, ..WriteOptions::default() };
    let samples: Vec<(i64, f64)> = (1_000_000..1_010_000).step_by(1000).map(|t| (t, 1.0)).collect();
    write_block_with(dir.path(), vec![SeriesSamples { labels: lbls("n", 0), samples }], &w).unwrap();
    assert!(!db.head().compactable());
    db.compact().unwrap();
    let ends: Vec<i64> = db.blocks().iter().map(|b| b.meta().max_time).collect();
    assert_eq!(ends, [1_009_001]);
}
