//! `kill -9` at a random moment loses nothing that was committed, and
//! brings back nothing that was not.
//!
//! The parent test runs this same test binary as a child (the ignored
//! `crash_child` test, selected by name), which appends from several threads
//! and prints each batch it has committed. The parent kills it with SIGKILL
//! at a random moment, reopens the head from the WAL and checks every
//! acknowledged batch is there, whole, and no later batch but the one that
//! may have been mid-commit.

// Test helpers outside #[test] functions may unwrap too.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use model::{Labels, Matcher};
use storage::{Appendable, Queryable, SeriesRef, ValueType};
use tsdb::head::{Head, HeadMetrics, HeadOptions, HeadStorage};

const THREADS: usize = 4;
const SERIES_PER_THREAD: usize = 25;

fn open(dir: &Path) -> Arc<Head> {
    let opts = HeadOptions {
        wal_dir: Some(dir.join("wal")),
        wal_segment_size: 256 * 1024,
        chunks_dir: Some(dir.join("chunks_head")),
        chunk_file_size: 16 * 1024,
        ..HeadOptions::default()
    };
    Head::open(opts, HeadMetrics::new(None)).expect("head opens after a crash")
}

fn series_labels(thread: usize, i: usize) -> Labels {
    Labels::from_pairs([("__name__", "crash".to_owned()), ("thread", thread.to_string()), ("i", i.to_string())])
}

/// The child: append batches until killed, acknowledging each commit.
#[test]
#[ignore = "child process of crash_recovery, which runs it"]
fn crash_child() {
    let dir = std::env::var("NARTHEX_CRASH_DIR").expect("run by crash_recovery");
    let head = open(Path::new(&dir));
    let out = Arc::new(Mutex::new(std::io::stdout()));
    let threads: Vec<_> = (0..THREADS)
        .map(|th| {
            let head = head.clone();
            let out = out.clone();
            std::thread::spawn(move || {
                // Carry on after the batches an earlier run left behind.
                let start = batches(&head, th)[0].last().map_or(0, |b| b + 1);
                let mut app = HeadStorage(head).appender();
                let mut refs = [SeriesRef::UNKNOWN; SERIES_PER_THREAD];
                for batch in start.. {
                    for (i, r) in refs.iter_mut().enumerate() {
                        *r = app.append(*r, &series_labels(th, i), batch * 1000, batch as f64).expect("append");
                    }
                    app.commit().expect("commit");
                    let mut o = out.lock().unwrap_or_else(|p| p.into_inner());
                    writeln!(o, "{th} {batch}").expect("stdout");
                    o.flush().expect("flush");
                }
            })
        })
        .collect();
    for t in threads {
        let _ = t.join();
    }
}

/// Batches present for each series of `thread`, from the replayed head.
fn batches(head: &Arc<Head>, thread: usize) -> Vec<Vec<i64>> {
    let q = HeadStorage(head.clone()).querier(i64::MIN, i64::MAX).unwrap();
    let mut out = vec![Vec::new(); SERIES_PER_THREAD];
    let mut set = q.select(false, None, &[Matcher::equal("__name__", "crash"), Matcher::equal("thread", thread.to_string())]);
    while let Some(s) = set.next() {
        let i: usize = s.labels().get("i").parse().unwrap();
        let mut it = s.iterator();
        while it.next() == ValueType::Float {
            out[i].push(it.at().0 / 1000);
        }
    }
    out
}

/// A random source seeded from the clock: each run kills at new moments.
fn clock_rand() -> impl FnMut() -> u64 {
    let mut seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1;
    move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    }
}

/// Runs the child test `name` on `dir`, SIGKILLs it after `after`, and
/// returns the `(thread, batch)` pairs it acknowledged.
fn run_and_kill(name: &str, dir: &Path, after: Duration) -> Vec<(usize, i64)> {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--ignored", "--nocapture", "--test-threads=1"])
        .env("NARTHEX_CRASH_DIR", dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut seen = Vec::new();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let mut parts = line.split_whitespace();
            if let (Some(Ok(th)), Some(Ok(b))) = (parts.next().map(str::parse::<usize>), parts.next().map(str::parse::<i64>)) {
                seen.push((th, b));
            }
        }
        seen
    });
    std::thread::sleep(after);
    child.kill().unwrap();
    child.wait().unwrap();
    reader.join().unwrap()
}

#[test]
fn crash_recovery() {
    let mut rand = clock_rand();
    let mut total_acked = 0;
    for round in 0..20 {
        let dir = tempfile::tempdir().unwrap();
        // Some rounds start from a WAL that earlier crashes left behind.
        let restarts = 1 + round % 3;
        let mut acked = [-1i64; THREADS];
        for _ in 0..restarts {
            for (th, b) in run_and_kill("crash_child", dir.path(), Duration::from_millis(100 + rand() % 400)) {
                acked[th] = acked[th].max(b);
            }
        }
        total_acked += acked.iter().filter(|a| **a >= 0).count();
        let head = open(dir.path());
        for (th, &ack) in acked.iter().enumerate() {
            let per_series = batches(&head, th);
            let first = &per_series[0];
            assert!(per_series.iter().all(|b| b == first), "round {round}, thread {th}: a batch is in some series and not others");
            // A restarted child carries on from the last batch it finds,
            // so the series hold 0..=k without gaps.
            let k = first.len() as i64 - 1;
            assert!(first.iter().enumerate().all(|(i, b)| *b == i as i64), "round {round}, thread {th}: not a prefix: {first:?}");
            assert!(k >= ack, "round {round}, thread {th}: acknowledged batch {ack} lost (have up to {k})");
            assert!(k <= ack + restarts as i64, "round {round}, thread {th}: batch {k} was never committed (acked {ack})");
        }
        head.close().unwrap();
    }
    // The child must have got far enough to commit in most rounds, or the
    // test proved nothing.
    assert!(total_acked > 40, "only {total_acked} thread-rounds committed anything");
}

/// A data folder whose head is cut into 20 s blocks, merged up to 60 s.
fn open_db(dir: &Path) -> tsdb::db::Db {
    let opts = tsdb::db::DbOptions {
        retention_duration: 0,
        min_block_duration: 20_000,
        max_block_duration: 60_000,
        head: HeadOptions { wal_segment_size: 256 * 1024, chunk_file_size: 16 * 1024, ..HeadOptions::default() },
        ..tsdb::db::DbOptions::default()
    };
    tsdb::db::Db::open(dir, opts, HeadMetrics::new(None), tsdb::db::DbMetrics::new(None)).expect("the database opens after a crash")
}

/// Batches present for each series, through blocks and head.
fn db_batches(db: &tsdb::db::Db) -> Vec<Vec<i64>> {
    let q = db.querier(i64::MIN, i64::MAX).unwrap();
    let mut out = vec![Vec::new(); SERIES_PER_THREAD];
    let all = storage::read_all(q.select(true, None, &[Matcher::equal("__name__", "crash")]).as_mut()).unwrap();
    for (labels, samples) in all {
        let i: usize = labels.get("i").parse().unwrap();
        out[i] = samples.into_iter().map(|(t, _)| t / 1000).collect();
    }
    out
}

/// The child of `crash_recovery_with_compaction`: one appender (a batch
/// is one second of data) and compaction running beside it all the time,
/// so that kills land in block writes, head truncation and checkpoints.
#[test]
#[ignore = "child process of crash_recovery_with_compaction, which runs it"]
fn crash_child_db() {
    let dir = std::env::var("NARTHEX_CRASH_DIR").expect("run by crash_recovery_with_compaction");
    let db = Arc::new(open_db(Path::new(&dir)));
    let compactor = {
        let db = db.clone();
        std::thread::spawn(move || {
            loop {
                db.compact().expect("compaction");
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    let start = db_batches(&db)[0].last().map_or(0, |b| b + 1);
    let mut app = db.appender();
    let mut refs = [SeriesRef::UNKNOWN; SERIES_PER_THREAD];
    let mut out = std::io::stdout();
    for batch in start.. {
        for (i, r) in refs.iter_mut().enumerate() {
            *r = app.append(*r, &series_labels(0, i), batch * 1000, batch as f64).expect("append");
        }
        app.commit().expect("commit");
        writeln!(out, "0 {batch}").expect("stdout");
        out.flush().expect("flush");
    }
    let _ = compactor.join();
}

#[test]
fn crash_recovery_with_compaction() {
    let mut rand = clock_rand();
    let mut blocks_seen = 0;
    for round in 0..10 {
        let dir = tempfile::tempdir().unwrap();
        let restarts = 1 + round % 3;
        let mut acked = -1i64;
        for _ in 0..restarts {
            for (_, b) in run_and_kill("crash_child_db", dir.path(), Duration::from_millis(200 + rand() % 600)) {
                acked = acked.max(b);
            }
        }
        let db = open_db(dir.path());
        blocks_seen += db.blocks().len();
        let per_series = db_batches(&db);
        let first = &per_series[0];
        assert!(per_series.iter().all(|b| b == first), "round {round}: a batch is in some series and not others");
        let k = first.len() as i64 - 1;
        assert!(first.iter().enumerate().all(|(i, b)| *b == i as i64), "round {round}: not a prefix (a sample lost or twice): {first:?}");
        assert!(k >= acked, "round {round}: acknowledged batch {acked} lost (have up to {k})");
        assert!(k <= acked + restarts as i64, "round {round}: batch {k} was never committed (acked {acked})");
        // No half-written block survives a restart.
        let leftovers = std::fs::read_dir(dir.path()).unwrap().filter_map(Result::ok).filter(|e| e.file_name().to_string_lossy().contains(".tmp")).count();
        assert_eq!(leftovers, 0, "round {round}: temporary folders left after reopening");
        db.close().unwrap();
    }
    // Kills must have found blocks being written and merged, or the test
    // proved little.
    assert!(blocks_seen > 10, "only {blocks_seen} blocks over all rounds");
}
