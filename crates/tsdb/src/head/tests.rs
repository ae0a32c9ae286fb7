use std::sync::Arc;

use model::{Labels, MatchType, Matcher};
use storage::{Appendable, ExemplarQueryable, LabelHints, Queryable, SeriesRef, StorageError, ValueType};

use super::*;

fn mem_head() -> Arc<Head> {
    Head::open(HeadOptions::default(), HeadMetrics::new(None)).unwrap()
}

fn wal_head(dir: &Path) -> Arc<Head> {
    wal_head_with_exemplars(dir, 0)
}

fn wal_head_with_exemplars(dir: &Path, max_exemplars: i64) -> Arc<Head> {
    let opts = HeadOptions {
        wal_dir: Some(dir.join("wal")),
        wal_segment_size: 64 * 1024,
        chunks_dir: Some(dir.join("chunks_head")),
        chunk_file_size: 4096,
        max_exemplars,
        ..HeadOptions::default()
    };
    Head::open(opts, HeadMetrics::new(None)).unwrap()
}

fn lbls(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied())
}

/// Every series matching `matchers` with its samples in `[mint, maxt]`.
fn read(head: &Arc<Head>, mint: i64, maxt: i64, matchers: &[Matcher]) -> Vec<(String, Vec<(i64, f64)>)> {
    let q = HeadStorage(head.clone()).querier(mint, maxt).unwrap();
    let all = storage::read_all(q.select(true, None, matchers).as_mut()).unwrap();
    all.into_iter().map(|(l, s)| (l.to_string(), s)).collect()
}

fn name_is(n: &str) -> Matcher {
    Matcher::equal("__name__", n)
}

#[test]
fn commit_makes_a_batch_visible_at_once() {
    let head = mem_head();
    let store = HeadStorage(head.clone());
    let mut app = store.appender();
    let r = app.append(SeriesRef::UNKNOWN, &lbls(&[("__name__", "up"), ("job", "a")]), 1000, 1.0).unwrap();
    app.append(r, &Labels::empty(), 2000, 2.0).unwrap();
    assert!(read(&head, 0, 10_000, &[name_is("up")]).is_empty(), "nothing visible before commit");
    app.commit().unwrap();
    assert_eq!(read(&head, 0, 10_000, &[name_is("up")]), vec![(r#"{__name__="up", job="a"}"#.to_owned(), vec![(1000, 1.0), (2000, 2.0)])]);
    assert_eq!(head.metrics.samples_appended.get(), 2);
}

#[test]
fn rollback_discards_the_batch() {
    let head = mem_head();
    let mut app = HeadStorage(head.clone()).appender();
    app.append(SeriesRef::UNKNOWN, &lbls(&[("__name__", "x")]), 1000, 1.0).unwrap();
    app.rollback().unwrap();
    app.commit().unwrap();
    assert!(read(&head, 0, 10_000, &[name_is("x")]).is_empty());
}

#[test]
fn order_duplicates_and_bounds() {
    let head = mem_head();
    let l = lbls(&[("__name__", "x")]);
    let mut app = HeadStorage(head.clone()).appender();
    app.append(SeriesRef::UNKNOWN, &l, 1000, 1.0).unwrap();
    assert!(matches!(app.append(SeriesRef::UNKNOWN, &l, 999, 1.0), Err(StorageError::OutOfOrderSample)), "checked against the batch");
    app.commit().unwrap();
    assert!(matches!(app.append(SeriesRef::UNKNOWN, &l, 999, 1.0), Err(StorageError::OutOfOrderSample)), "checked against the head");
    assert!(matches!(app.append(SeriesRef::UNKNOWN, &l, 1000, 2.0), Err(StorageError::DuplicateSampleForTimestamp)));
    app.append(SeriesRef::UNKNOWN, &l, 1000, 1.0).expect("same timestamp, same value is a no-op");
    app.commit().unwrap();
    assert_eq!(read(&head, 0, 10_000, &[name_is("x")])[0].1, vec![(1000, 1.0)]);
    assert_eq!(head.metrics.out_of_order_samples.get(), 2);
    head.truncate(5000);
    assert!(matches!(app.append(SeriesRef::UNKNOWN, &l, 4000, 1.0), Err(StorageError::OutOfBounds)));
}

#[test]
fn querier_clips_to_range_and_seeks() {
    let head = mem_head();
    let mut app = HeadStorage(head.clone()).appender();
    let l = lbls(&[("__name__", "x")]);
    for i in 0..500 {
        app.append(SeriesRef::UNKNOWN, &l, i * 1000, i as f64).unwrap();
    }
    app.commit().unwrap();
    let got = read(&head, 100_000, 130_000, &[name_is("x")]);
    assert_eq!(got[0].1.len(), 31);
    assert_eq!(got[0].1[0], (100_000, 100.0));
    let q = HeadStorage(head.clone()).querier(0, i64::MAX).unwrap();
    let mut set = q.select(false, None, &[name_is("x")]);
    let s = set.next().unwrap();
    let mut it = s.iterator();
    assert_eq!(it.seek(250_500), ValueType::Float);
    assert_eq!(it.at(), (251_000, 251.0));
    assert_eq!(it.seek(10), ValueType::Float, "seek never moves back");
    assert_eq!(it.at().0, 251_000);
    assert_eq!(it.seek(1_000_000), ValueType::None);
}

#[test]
fn label_names_and_values() {
    let head = mem_head();
    let mut app = HeadStorage(head.clone()).appender();
    app.append(SeriesRef::UNKNOWN, &lbls(&[("__name__", "a"), ("job", "x")]), 1, 1.0).unwrap();
    app.append(SeriesRef::UNKNOWN, &lbls(&[("__name__", "b"), ("job", "y"), ("zone", "eu")]), 1, 1.0).unwrap();
    app.commit().unwrap();
    let q = HeadStorage(head.clone()).querier(0, 10).unwrap();
    let h = LabelHints::default();
    assert_eq!(q.label_names(&h, &[]).unwrap().0, vec!["__name__", "job", "zone"]);
    assert_eq!(q.label_values("job", &h, &[]).unwrap().0, vec!["x", "y"]);
    assert_eq!(q.label_values("job", &h, &[name_is("b")]).unwrap().0, vec!["y"]);
    assert_eq!(q.label_names(&h, &[name_is("a")]).unwrap().0, vec!["__name__", "job"]);
    assert_eq!(q.label_values("job", &LabelHints { limit: 1 }, &[]).unwrap().0, vec!["x"]);
    let re = Matcher::new(MatchType::Regexp, "job", "x|y").unwrap();
    assert_eq!(read(&head, 0, 10, &[re]).len(), 2);
}

#[test]
fn concurrent_appends_and_queries() {
    let head = mem_head();
    let threads: Vec<_> = (0..8)
        .map(|w| {
            let head = head.clone();
            std::thread::spawn(move || {
                let mut app = HeadStorage(head.clone()).appender();
                let mut refs = vec![SeriesRef::UNKNOWN; 50];
                for step in 0..100i64 {
                    for (i, r) in refs.iter_mut().enumerate() {
                        let l = Labels::from_pairs([("__name__", "m".to_owned()), ("worker", w.to_string()), ("i", i.to_string())]);
                        *r = app.append(*r, &l, step * 1000, step as f64).unwrap();
                    }
                    app.commit().unwrap();
                    if step % 10 == 0 {
                        let _ = read(&head, 0, i64::MAX, &[name_is("m")]);
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(head.num_series(), 400);
    let all = read(&head, 0, i64::MAX, &[name_is("m")]);
    assert_eq!(all.len(), 400);
    assert!(all.iter().all(|(_, s)| s.len() == 100));
}

#[test]
fn wal_replay_restores_series_and_samples() {
    let dir = tempfile::tempdir().unwrap();
    let before = {
        let head = wal_head(dir.path());
        let mut app = HeadStorage(head.clone()).appender();
        for i in 0..300 {
            for s in 0..20 {
                let l = Labels::from_pairs([("__name__", "m".to_owned()), ("s", s.to_string())]);
                app.append(SeriesRef::UNKNOWN, &l, i * 15_000, (i * s) as f64).unwrap();
            }
            app.commit().unwrap();
        }
        // Uncommitted work must not come back.
        app.append(SeriesRef::UNKNOWN, &lbls(&[("__name__", "lost")]), 4_500_000, 1.0).unwrap();
        let before = read(&head, i64::MIN, i64::MAX, &[name_is("m")]);
        head.close().unwrap();
        before
    };
    let head = wal_head(dir.path());
    assert_eq!(read(&head, i64::MIN, i64::MAX, &[name_is("m")]), before);
    assert!(read(&head, i64::MIN, i64::MAX, &[name_is("lost")]).is_empty());
    // New series get fresh references after replay.
    let mut app = HeadStorage(head.clone()).appender();
    let r = app.append(SeriesRef::UNKNOWN, &lbls(&[("__name__", "new")]), 4_500_000, 1.0).unwrap();
    assert!(r.0 > 20);
    app.commit().unwrap();
}

#[test]
fn torn_wal_tail_is_repaired_and_the_prefix_kept() {
    let dir = tempfile::tempdir().unwrap();
    {
        let head = wal_head(dir.path());
        let mut app = HeadStorage(head.clone()).appender();
        for i in 0..200 {
            app.append(SeriesRef::UNKNOWN, &lbls(&[("__name__", "m")]), i * 1000, i as f64).unwrap();
            app.commit().unwrap();
        }
        head.close().unwrap();
    }
    // Cut the last segment in the middle of a record.
    let wal_dir = dir.path().join("wal");
    let (_, last) = wal::segments(&wal_dir).unwrap().unwrap();
    let seg = wal_dir.join(format!("{last:08}"));
    // Closing pads the last page with zeros; cut inside the last record.
    let bytes = std::fs::read(&seg).unwrap();
    let end = bytes.iter().rposition(|b| *b != 0).unwrap() as u64;
    let f = std::fs::OpenOptions::new().write(true).open(&seg).unwrap();
    f.set_len(end - 2).unwrap();
    drop(f);
    let head = wal_head(dir.path());
    assert_eq!(head.metrics.wal_corruptions.get(), 1);
    let got = read(&head, i64::MIN, i64::MAX, &[name_is("m")]);
    let samples = &got[0].1;
    assert!(samples.len() >= 190 && samples.len() < 200, "kept {} samples", samples.len());
    assert!(samples.iter().enumerate().all(|(i, (t, _))| *t == i as i64 * 1000), "an intact prefix");
    // Appends go on after the repair, and survive another restart.
    let mut app = HeadStorage(head.clone()).appender();
    app.append(SeriesRef::UNKNOWN, &lbls(&[("__name__", "m")]), 1_000_000, 1.0).unwrap();
    app.commit().unwrap();
    head.close().unwrap();
    drop(app);
    let head = wal_head(dir.path());
    assert_eq!(read(&head, i64::MIN, i64::MAX, &[name_is("m")])[0].1.last(), Some(&(1_000_000, 1.0)));
}

#[test]
fn truncate_drops_old_chunks_and_empty_series() {
    let head = mem_head();
    let mut app = HeadStorage(head.clone()).appender();
    app.append(SeriesRef::UNKNOWN, &lbls(&[("__name__", "old")]), 1000, 1.0).unwrap();
    for i in 0..300 {
        app.append(SeriesRef::UNKNOWN, &lbls(&[("__name__", "new")]), i * 1000, 1.0).unwrap();
    }
    app.commit().unwrap();
    head.truncate(200_000);
    assert_eq!(head.num_series(), 1);
    assert!(read(&head, 0, i64::MAX, &[name_is("old")]).is_empty());
    assert_eq!(head.metrics.series_removed.get(), 1);
    // 1 s apart in a 2 h range, Prometheus's estimate ends the first
    // chunk after 117 samples.
    assert_eq!(head.min_time(), 117_000, "the chunk holding 200 s starts at 117 s");
}

#[test]
fn truncation_checkpoints_the_wal_and_replay_agrees() {
    let dir = tempfile::tempdir().unwrap();
    let head = wal_head(dir.path());
    let mut app = HeadStorage(head.clone()).appender();
    for i in 0..4000 {
        for s in 0..5 {
            let l = Labels::from_pairs([("__name__", "m".to_owned()), ("s", s.to_string())]);
            app.append(SeriesRef::UNKNOWN, &l, i * 1000, i as f64).unwrap();
        }
        if i == 10 {
            app.append(SeriesRef::UNKNOWN, &lbls(&[("__name__", "gone")]), i * 1000, 1.0).unwrap();
        }
        app.commit().unwrap();
    }
    let (first_before, _) = wal::segments(&dir.path().join("wal")).unwrap().unwrap();
    head.truncate(2_000_000);
    let before = read(&head, i64::MIN, i64::MAX, &[name_is("m")]);
    assert!(before[0].1[0].0 <= 2_000_000);
    assert!(wal::last_checkpoint(&dir.path().join("wal")).unwrap().is_some(), "a checkpoint was written");
    let (first_after, _) = wal::segments(&dir.path().join("wal")).unwrap().unwrap();
    assert!(first_after > first_before, "old segments were deleted");
    head.close().unwrap();
    drop(app);
    let head = wal_head(dir.path());
    let after = read(&head, i64::MIN, i64::MAX, &[name_is("m")]);
    // Replay may bring back samples before mint from segments kept whole;
    // everything at or after it must be identical.
    let clip = |v: &Vec<(String, Vec<(i64, f64)>)>| {
        v.iter().map(|(l, s)| (l.clone(), s.iter().copied().filter(|(t, _)| *t >= 2_000_000).collect::<Vec<_>>())).collect::<Vec<_>>()
    };
    assert_eq!(clip(&after), clip(&before));
    assert!(read(&head, i64::MIN, i64::MAX, &[name_is("gone")]).is_empty(), "a series dropped by truncation does not come back");
}

#[test]
fn full_chunks_live_in_chunk_files_and_come_back_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let before = {
        let head = wal_head(dir.path());
        let mut app = HeadStorage(head.clone()).appender();
        for i in 0..1000 {
            for s in 0..10 {
                let l = Labels::from_pairs([("__name__", "m".to_owned()), ("s", s.to_string())]);
                app.append(SeriesRef::UNKNOWN, &l, i * 15_000, (i * s) as f64).unwrap();
            }
            app.commit().unwrap();
        }
        // Full chunks are on disk, not on the heap.
        let s = head.series_by_ref(1).unwrap();
        let data = s.lock();
        assert!(data.num_chunks() >= 8);
        drop(data);
        let files = std::fs::read_dir(dir.path().join("chunks_head")).unwrap().count();
        assert!(files >= 2, "chunks spread over {files} files");
        let before = read(&head, i64::MIN, i64::MAX, &[name_is("m")]);
        assert_eq!(before[0].1.len(), 1000);
        head.close().unwrap();
        before
    };
    let head = wal_head(dir.path());
    assert_eq!(read(&head, i64::MIN, i64::MAX, &[name_is("m")]), before, "chunk files plus WAL give back every sample once");
    // The series goes on from where it was.
    let mut app = HeadStorage(head.clone()).appender();
    let l = Labels::from_pairs([("__name__", "m"), ("s", "0")]);
    assert!(matches!(app.append(SeriesRef::UNKNOWN, &l, 999 * 15_000, 0.0), Ok(_) | Err(StorageError::OutOfOrderSample)));
    app.append(SeriesRef::UNKNOWN, &l, 1000 * 15_000, 1.0).unwrap();
    app.commit().unwrap();
    assert_eq!(read(&head, i64::MIN, i64::MAX, &[name_is("m"), Matcher::equal("s", "0")])[0].1.len(), 1001);
    // Truncation removes old chunk files.
    let files_before = std::fs::read_dir(dir.path().join("chunks_head")).unwrap().count();
    head.truncate(900 * 15_000);
    let files_after = std::fs::read_dir(dir.path().join("chunks_head")).unwrap().count();
    assert!(files_after < files_before, "{files_before} -> {files_after} chunk files");
    assert!(read(&head, i64::MIN, i64::MAX, &[name_is("m")])[0].1.iter().all(|(t, _)| *t >= 780 * 15_000));
}

#[test]
fn exemplars_and_metadata_reach_the_wal() {
    let dir = tempfile::tempdir().unwrap();
    let head = wal_head_with_exemplars(dir.path(), 10);
    let mut app = HeadStorage(head.clone()).appender();
    let l = lbls(&[("__name__", "requests_total")]);
    let r = app.append(SeriesRef::UNKNOWN, &l, 1000, 1.0).unwrap();
    let ex = model::Exemplar { labels: lbls(&[("trace_id", "abc")]), value: 1.0, ts: 1000, has_ts: true };
    app.append_exemplar(r, &l, &ex).unwrap();
    let md = model::Metadata { metric_type: model::MetricType::Counter, unit: String::new(), help: "Requests.".into() };
    app.update_metadata(r, &l, &md).unwrap();
    app.commit().unwrap();
    head.close().unwrap();
    let mut reader = wal::Reader::new(&[wal::SegmentRange::all(&dir.path().join("wal"))]).unwrap();
    let mut kinds = Vec::new();
    let (mut exemplars, mut metadata) = (Vec::new(), Vec::new());
    while let Some(rec) = reader.next_record().unwrap() {
        let kind = record::RecordType::of(rec);
        match kind {
            record::RecordType::Exemplars => record::decode_exemplars(rec, &mut exemplars).unwrap(),
            record::RecordType::Metadata => record::decode_metadata(rec, &mut metadata).unwrap(),
            _ => {}
        }
        kinds.push(kind);
    }
    assert_eq!(kinds, [record::RecordType::Series, record::RecordType::Samples, record::RecordType::Exemplars, record::RecordType::Metadata]);
    assert_eq!(exemplars[0].labels, lbls(&[("trace_id", "abc")]));
    assert_eq!(metadata[0].help, "Requests.");
}

fn trace(id: &str, value: f64, ts: i64) -> model::Exemplar {
    model::Exemplar { labels: lbls(&[("trace_id", id)]), value, ts, has_ts: true }
}

/// Every exemplar of series named `name`, as (trace id, timestamp).
fn exemplars_of(head: &Arc<Head>, name: &str) -> Vec<(String, i64)> {
    let q = HeadStorage(head.clone()).exemplar_querier().unwrap();
    let got = q.select(i64::MIN, i64::MAX, &[vec![name_is(name)]]).unwrap();
    got.into_iter().flat_map(|s| s.exemplars).map(|e| (e.labels.get("trace_id").to_owned(), e.ts)).collect()
}

#[test]
fn exemplars_are_visible_on_commit_and_dropped_on_rollback() {
    let head = Head::open(HeadOptions { max_exemplars: 10, ..HeadOptions::default() }, HeadMetrics::new(None)).unwrap();
    let l = lbls(&[("__name__", "requests_total"), ("job", "a")]);
    let mut app = HeadStorage(head.clone()).appender();
    let r = app.append(SeriesRef::UNKNOWN, &l, 1000, 1.0).unwrap();
    assert_eq!(app.append_exemplar(r, &l, &trace("a", 1.0, 1000)).unwrap(), r);
    app.append_exemplar(SeriesRef::UNKNOWN, &l, &trace("b", 2.0, 1500)).unwrap();
    assert!(exemplars_of(&head, "requests_total").is_empty(), "nothing visible before commit");
    app.commit().unwrap();
    assert_eq!(exemplars_of(&head, "requests_total"), [("a".to_owned(), 1000), ("b".to_owned(), 1500)]);
    let got = HeadStorage(head.clone()).exemplar_querier().unwrap().select(0, 5000, &[vec![name_is("requests_total")]]).unwrap();
    assert_eq!(got[0].labels, l, "the series' labels come with its exemplars");
    assert_eq!(head.metrics.exemplars.appended.get(), 2);

    app.append_exemplar(r, &l, &trace("c", 1.0, 2000)).unwrap();
    app.rollback().unwrap();
    app.commit().unwrap();
    assert_eq!(exemplars_of(&head, "requests_total").len(), 2, "rolled back");
}

#[test]
fn the_appender_checks_exemplars_as_prometheus_does() {
    let head = Head::open(HeadOptions { max_exemplars: 10, ..HeadOptions::default() }, HeadMetrics::new(None)).unwrap();
    let l = lbls(&[("__name__", "x")]);
    let mut app = HeadStorage(head.clone()).appender();
    app.append_exemplar(SeriesRef::UNKNOWN, &l, &trace("a", 1.0, 1000)).unwrap();
    app.commit().unwrap();
    assert!(matches!(app.append_exemplar(SeriesRef::UNKNOWN, &l, &trace("b", 1.0, 999)), Err(StorageError::OutOfOrderExemplar)));
    app.append_exemplar(SeriesRef::UNKNOWN, &l, &trace("a", 1.0, 1000)).expect("a duplicate is no error");
    let long = "x".repeat(200);
    assert!(matches!(app.append_exemplar(SeriesRef::UNKNOWN, &l, &trace(&long, 1.0, 2000)), Err(StorageError::ExemplarLabelLength)));
    // Within a batch each is checked against the ring only; the commit
    // keeps what is in order and drops the rest.
    app.append_exemplar(SeriesRef::UNKNOWN, &l, &trace("c", 1.0, 3000)).unwrap();
    app.append_exemplar(SeriesRef::UNKNOWN, &l, &trace("d", 1.0, 2500)).unwrap();
    app.commit().unwrap();
    assert_eq!(exemplars_of(&head, "x"), [("a".to_owned(), 1000), ("c".to_owned(), 3000)]);
    assert_eq!(head.metrics.exemplars.out_of_order.get(), 1, "only the one dropped at commit");

    // Storage off: accepted, kept nowhere, logged nowhere.
    let dir = tempfile::tempdir().unwrap();
    let off = wal_head(dir.path());
    let mut app = HeadStorage(off.clone()).appender();
    assert_eq!(app.append_exemplar(SeriesRef(7), &l, &trace("a", 1.0, 1000)).unwrap(), SeriesRef(7));
    app.append(SeriesRef::UNKNOWN, &l, 1000, 1.0).unwrap();
    app.commit().unwrap();
    assert!(exemplars_of(&off, "x").is_empty());
    off.close().unwrap();
    let mut reader = wal::Reader::new(&[wal::SegmentRange::all(&dir.path().join("wal"))]).unwrap();
    while let Some(rec) = reader.next_record().unwrap() {
        assert_ne!(record::RecordType::of(rec), record::RecordType::Exemplars);
    }
}

#[test]
fn wal_replay_restores_exemplars() {
    let dir = tempfile::tempdir().unwrap();
    let head = wal_head_with_exemplars(dir.path(), 3);
    let mut app = HeadStorage(head.clone()).appender();
    let (a, b) = (lbls(&[("__name__", "a")]), lbls(&[("__name__", "b")]));
    for (i, t) in [1000, 2000, 3000].into_iter().enumerate() {
        app.append(SeriesRef::UNKNOWN, &a, t, 1.0).unwrap();
        app.append_exemplar(SeriesRef::UNKNOWN, &a, &trace(&format!("a{i}"), 1.0, t)).unwrap();
        app.commit().unwrap();
    }
    app.append(SeriesRef::UNKNOWN, &b, 4000, 1.0).unwrap();
    app.append_exemplar(SeriesRef::UNKNOWN, &b, &trace("b0", 1.0, 4000)).unwrap();
    app.commit().unwrap();
    let before = (exemplars_of(&head, "a"), exemplars_of(&head, "b"));
    assert_eq!(before.0, [("a1".to_owned(), 2000), ("a2".to_owned(), 3000)], "the ring holds three");
    head.close().unwrap();
    drop(head);

    let head = wal_head_with_exemplars(dir.path(), 3);
    assert_eq!((exemplars_of(&head, "a"), exemplars_of(&head, "b")), before, "replay refills the ring in log order");
    assert_eq!(head.metrics.exemplars.series_in_storage.get(), 2);
    // What was replayed orders what comes next.
    let mut app = HeadStorage(head.clone()).appender();
    assert!(matches!(app.append_exemplar(SeriesRef::UNKNOWN, &b, &trace("old", 1.0, 3999)), Err(StorageError::OutOfOrderExemplar)));
    drop(app);
    head.close().unwrap();
    drop(head);

    let off = wal_head(dir.path());
    assert!(exemplars_of(&off, "a").is_empty(), "storage off: the log's exemplars are skipped");
}

#[test]
fn exemplar_ring_resizes_on_reload() {
    let head = Head::open(HeadOptions { max_exemplars: 4, ..HeadOptions::default() }, HeadMetrics::new(None)).unwrap();
    let l = lbls(&[("__name__", "x")]);
    let mut app = HeadStorage(head.clone()).appender();
    for t in 1..=4 {
        app.append_exemplar(SeriesRef::UNKNOWN, &l, &trace(&t.to_string(), 1.0, t)).unwrap();
        app.commit().unwrap();
    }
    head.set_max_exemplars(2);
    assert_eq!(exemplars_of(&head, "x"), [("3".to_owned(), 3), ("4".to_owned(), 4)]);
    assert_eq!(head.metrics.exemplars.max_exemplars.get(), 2);
    head.set_max_exemplars(0);
    assert!(!head.exemplars().enabled() && exemplars_of(&head, "x").is_empty());
}
