//! Blocks move between narthex and Debian's promtool 2.42 in both
//! directions: `promtool tsdb list/dump` read blocks that
//! `narthex tsdb create-blocks-from openmetrics` wrote, `narthex tsdb
//! list/dump` read blocks promtool wrote, and every listing and dump agrees.
//! Blocks a running Prometheus compacted from its head are read alike too.
//! Ignored in a plain `cargo test`; `scripts/interop.sh` runs them.
#![allow(clippy::unwrap_used)] // a failed setup step should just fail the test

mod common;

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// An OpenMetrics backfill input: series with many labels, more than 120
/// samples each, spanning three 2 h windows, with values that exercise
/// `%g` (large, small, negative, NaN, infinities).
fn backfill_input() -> String {
    let mut s = String::from("# HELP http_requests_total Requests.\n# TYPE http_requests_total counter\n");
    let start = 1_700_000_000i64; // not aligned to 2 h
    for i in 0..500i64 {
        for series in 0..12i64 {
            let t = start + i * 30 + series;
            let ms = if series % 3 == 0 { ".125" } else { "" };
            let v = match (i + series) % 9 {
                0 => "NaN".to_owned(),
                1 if series == 5 => "+Inf".to_owned(),
                2 => format!("{}", (i * 1000 + series) as f64 * 1e7),
                3 => format!("{}", (i + 1) as f64 * 1.5e-6),
                4 => format!("-{}", i as f64 / 7.0),
                _ => format!("{}", i * 10 + series),
            };
            let _ = writeln!(
                s,
                "http_requests_total{{code=\"{}\",handler=\"/api/v{}\",instance=\"host-{}:9100\",job=\"node\",method=\"GET\",path=\"a\\\\b\\\"c\",region=\"eu-{}\"}} {v} {t}{ms}",
                200 + series % 4 * 100,
                series % 3,
                series,
                series % 2
            );
        }
    }
    s.push_str("# EOF\n");
    s
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run command (promtool is in Debian's prometheus package)");
    assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8 output")
}

fn narthex(args: &[&str], dir: &Path) -> String {
    run(Command::new(env!("CARGO_BIN_EXE_narthex")).args(args).arg(dir))
}

fn promtool(args: &[&str], dir: &Path) -> String {
    // promtool opens the folder as a database and wants a WAL folder; it
    // may also leave a `chunks_head/` behind, which no block reader minds.
    std::fs::create_dir_all(dir.join("wal")).unwrap();
    run(Command::new("promtool").args(args).arg(dir))
}

const DUMPS: &[&[&str]] = &[
    &["tsdb", "dump"],
    &["tsdb", "dump", "--min-time=1700003000000", "--max-time=1700009000000"],
    &["tsdb", "dump", "--match=http_requests_total{code=~\"[24]00\",region!=\"eu-1\"}"],
];

#[test]
#[ignore = "needs Debian's promtool; run by scripts/interop.sh"]
fn promtool_reads_blocks_narthex_backfilled() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in.om");
    std::fs::write(&input, backfill_input()).unwrap();
    let ours = tmp.path().join("ours");
    let theirs = tmp.path().join("theirs");
    let created = run(Command::new(env!("CARGO_BIN_EXE_narthex")).args(["tsdb", "create-blocks-from", "openmetrics"]).arg(&input).arg(&ours));
    run(Command::new("promtool").args(["tsdb", "create-blocks-from", "openmetrics", "-q"]).arg(&input).arg(&theirs));
    let blocks = std::fs::read_dir(&ours).unwrap().count();
    assert_eq!(blocks, 3, "three 2 h windows:\n{created}");
    assert_eq!(created.lines().count(), 4, "header and one line per block:\n{created}");
    let all = narthex(&["tsdb", "dump"], &ours);
    for needle in [" NaN ", " +Inf ", "e+", "e-06 ", "\\\"c\""] {
        assert!(all.contains(needle), "the dump exercises {needle:?}");
    }

    for args in DUMPS {
        let our_dump = narthex(args, &ours);
        assert!(our_dump.lines().count() > 100, "{args:?}: {our_dump}");
        assert_eq!(promtool(args, &ours), our_dump, "{args:?}: promtool's dump of our blocks");
        // Same samples as promtool's own backfill of the same input.
        assert_eq!(promtool(args, &theirs), our_dump, "{args:?}: promtool's dump of its blocks");
    }
    for args in [&["tsdb", "list"][..], &["tsdb", "list", "-r"]] {
        assert_eq!(promtool(args, &ours), narthex(args, &ours), "{args:?}");
    }
}

#[test]
#[ignore = "needs Debian's promtool; run by scripts/interop.sh"]
fn narthex_reads_blocks_promtool_backfilled() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in.om");
    std::fs::write(&input, backfill_input()).unwrap();
    let theirs = tmp.path().join("theirs");
    run(Command::new("promtool").args(["tsdb", "create-blocks-from", "openmetrics", "-q"]).arg(&input).arg(&theirs));
    for args in DUMPS {
        let our_dump = narthex(args, &theirs);
        assert!(!our_dump.is_empty(), "{args:?}");
        assert_eq!(our_dump, promtool(args, &theirs), "{args:?}");
    }
    for args in [&["tsdb", "list"][..], &["tsdb", "list", "-r"]] {
        assert_eq!(narthex(args, &theirs), promtool(args, &theirs), "{args:?}");
    }
}

#[test]
#[ignore = "needs Debian's promtool; run by scripts/interop.sh"]
fn bad_backfill_input_is_refused_like_promtool() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("bad.om");
    std::fs::write(&input, "a 1 1\nb 2 2\nc{ 3 3\n# EOF\n").unwrap();
    let out = tmp.path().join("out");
    let ours = Command::new(env!("CARGO_BIN_EXE_narthex")).args(["tsdb", "create-blocks-from", "openmetrics"]).arg(&input).arg(&out).output().unwrap();
    let theirs = Command::new("promtool").args(["tsdb", "create-blocks-from", "openmetrics"]).arg(&input).arg(tmp.path().join("theirs")).output().unwrap();
    assert!(!ours.status.success() && !theirs.status.success());
    let msg = String::from_utf8_lossy(&ours.stderr);
    assert!(msg.contains("(line 3)"), "{msg}");
    assert!(!out.exists() || std::fs::read_dir(&out).unwrap().count() == 0, "nothing written");
}

#[test]
#[ignore = "needs Debian's prometheus; run by scripts/interop.sh"]
fn narthex_reads_blocks_prometheus_compacted_from_its_head() {
    let tmp = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let cfg = tmp.path().join("prometheus.yml");
    std::fs::write(
        &cfg,
        format!("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: self\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n"),
    )
    .unwrap();
    let data = tmp.path().join("data");
    // The hidden block-duration flags make the head compact every few
    // seconds instead of every two hours.
    let prom = common::Killed(
        Command::new("prometheus")
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!("--storage.tsdb.path={}", data.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .args(["--storage.tsdb.min-block-duration=5s", "--storage.tsdb.max-block-duration=5s"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start Debian's prometheus"),
    );
    let deadline = Instant::now() + Duration::from_secs(120);
    // Complete blocks only: a folder being written has a longer name.
    let is_block = |e: &std::fs::DirEntry| e.file_name().len() == 26 && e.path().join("meta.json").exists();
    let blocks = || std::fs::read_dir(&data).map(|d| d.filter_map(Result::ok).filter(is_block).count()).unwrap_or(0);
    while blocks() < 3 {
        assert!(Instant::now() < deadline, "Prometheus wrote no blocks in time");
        std::thread::sleep(Duration::from_millis(500));
    }
    drop(prom);
    // Only the blocks: the head's WAL is not dumped by narthex yet.
    let copy = tmp.path().join("copy");
    std::fs::create_dir_all(&copy).unwrap();
    for e in std::fs::read_dir(&data).unwrap().filter_map(Result::ok) {
        if is_block(&e) {
            let dst = copy.join(e.file_name());
            std::fs::create_dir_all(dst.join("chunks")).unwrap();
            for f in ["index", "meta.json", "tombstones"] {
                std::fs::copy(e.path().join(f), dst.join(f)).unwrap();
            }
            for c in std::fs::read_dir(e.path().join("chunks")).unwrap().filter_map(Result::ok) {
                std::fs::copy(c.path(), dst.join("chunks").join(c.file_name())).unwrap();
            }
        }
    }
    for args in [&["tsdb", "list"][..], &["tsdb", "dump"], &["tsdb", "dump", "--match=up"]] {
        let ours = narthex(args, &copy);
        assert!(ours.lines().count() > 3, "{args:?}: {ours}");
        assert_eq!(ours, promtool(args, &copy), "{args:?}");
    }
}
